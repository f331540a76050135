/*
 * cmd-status.c - `cadenza status`: the portfolio at a glance.
 *
 * Reads the store only (opened read-only: status never creates or
 * migrates a store).  Text for people, --format json for scripts.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "store.h"

static void status_usage(FILE *f)
{
    fprintf(f, "usage: cadenza status [--format text|json] [--date YYYY-MM-DD]\n"
               "\n"
               "Summarise the store: debtors by country, days-past-due bucket, strategy,\n"
               "tier, reachable channel, flag and payment propensity (as of the last run);\n"
               "the last import and the last campaign run; the store's path and size.\n"
               "\n"
               "Options:\n"
               "  -f, --format FMT   text (default) or json\n"
               "  -d, --date DATE    count days past due as of DATE (default: today, UTC)\n"
               "  -h, --help         this help\n");
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
    if (t <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void fmt_size(int64_t n, char *buf, size_t len)
{
    if (n >= 10LL * 1024 * 1024)
        snprintf(buf, len, "%.0f MiB", (double)n / (1024 * 1024));
    else if (n >= 10 * 1024)
        snprintf(buf, len, "%.0f KiB", (double)n / 1024);
    else
        snprintf(buf, len, "%lld bytes", (long long)n);
}

static const char *const group_titles[_STATUS_GROUP_MAX] = {
    [STATUS_BY_COUNTRY] = "By country",
    [STATUS_BY_DPD] = "By days past due",
    [STATUS_BY_STRATEGY] = "By strategy",
    [STATUS_BY_TIER] = "By tier",
    [STATUS_BY_CHANNEL] = "Reachable by channel",
    [STATUS_BY_FLAG] = "Flags",
    [STATUS_BY_ATTEMPT] = "Last run's attempts",
    [STATUS_BY_PROPENSITY] = "Payment propensity (within 30 days, at the last run)",
};

/* Debtors in countries no jurisdiction profile covers: never contacted. */
static int64_t unprofiled(const struct store_status *st, const struct config *cfg,
                          struct sbuf *list)
{
    const struct store_group *g = &st->groups[STATUS_BY_COUNTRY];
    int64_t n = 0;
    for (size_t i = 0; i < g->n; i++)
        if (!config_profile_for_country(cfg, g->v[i].label)) {
            n += g->v[i].n;
            if (list)
                sbuf_addf(list, "%s%s %lld", list->len ? ", " : "", g->v[i].label,
                          (long long)g->v[i].n);
        }
    return n;
}

static void print_text(const struct store_status *st, const struct config *cfg,
                       const char *path, int32_t today)
{
    char a[32], b[32], d[11];
    format_date(today, d);
    fmt_size(st->file_size, a, sizeof(a));
    printf("Store:    %s (%s, schema %d)\n", path, a, st->schema_version);
    printf("Debtors:  %lld as of %s\n", (long long)st->debtors, d);
    printf("History:  %lld attempts, %lld outcomes, %lld suppressions\n",
           (long long)st->attempts, (long long)st->outcomes, (long long)st->suppressions);
    struct sbuf list = SBUF_INIT;
    if (unprofiled(st, cfg, &list))
        printf("No jurisdiction profile (never contacted): %s\n", sbuf_cstr(&list));
    sbuf_release(&list);
    if (st->has_import) {
        fmt_time(st->import_started, a, sizeof(a));
        printf("Last import: %s at %s (%s): %lld read, %lld inserted, %lld updated, "
               "%lld unchanged, %lld rejected\n",
               st->import_source, a, st->import_status, (long long)st->import.read,
               (long long)st->import.inserted, (long long)st->import.updated,
               (long long)st->import.unchanged, (long long)st->import.rejected);
    } else
        printf("Last import: none\n");
    if (st->has_run) {
        format_date(st->run_date, d);
        fmt_time(st->run_finished ? st->run_finished : st->run_started, b, sizeof(b));
        printf("Last run:    %s (%s at %s): %lld contacts planned\n", d, st->run_status, b,
               (long long)st->run_planned);
    } else
        printf("Last run:    none\n");
    if (st->pay_debtors)
        printf("Payment propensity: %lld debtors, %.0f expected to pay within 30 days "
               "(mean %.3f), expected amount %.2f (major units, currencies summed)\n",
               (long long)st->pay_debtors, st->pay_expected,
               st->pay_expected / (double)st->pay_debtors, st->pay_amount_minor / 100);

    for (int g = 0; g < _STATUS_GROUP_MAX; g++) {
        const struct store_group *grp = &st->groups[g];
        bool any = false;
        for (size_t i = 0; i < grp->n; i++)
            any |= grp->v[i].n > 0;
        if (!any)
            continue;
        printf("\n%s:\n", group_titles[g]);
        for (size_t i = 0; i < grp->n; i++) {
            if (grp->v[i].n == 0 && (g == STATUS_BY_FLAG || g == STATUS_BY_CHANNEL))
                continue;
            /* debtor groups are shares of the portfolio, attempts of the run */
            int64_t whole = st->debtors;
            if (g == STATUS_BY_ATTEMPT) {
                whole = 0;
                for (size_t k = 0; k < grp->n; k++)
                    whole += grp->v[k].n;
            }
            double pct = whole ? 100.0 * (double)grp->v[i].n / (double)whole : 0;
            printf("  %-28s %10lld  %5.1f%%\n", grp->v[i].label, (long long)grp->v[i].n, pct);
        }
    }
}

static int print_json(const struct store_status *st, const struct config *cfg,
                      const char *path, int32_t today)
{
    char d[11], t[32];
    format_date(today, d);
    json_t *o = json_object();
    json_object_set_new(o, "store", json_string(path));
    json_object_set_new(o, "store_bytes", json_integer(st->file_size));
    json_object_set_new(o, "schema_version", json_integer(st->schema_version));
    json_object_set_new(o, "as_of", json_string(d));
    json_object_set_new(o, "debtors", json_integer(st->debtors));
    json_object_set_new(o, "attempts", json_integer(st->attempts));
    json_object_set_new(o, "outcomes", json_integer(st->outcomes));
    json_object_set_new(o, "suppressions", json_integer(st->suppressions));
    json_object_set_new(o, "without_profile", json_integer(unprofiled(st, cfg, NULL)));
    json_t *pp = json_object();
    json_object_set_new(pp, "debtors", json_integer(st->pay_debtors));
    json_object_set_new(pp, "expected_payers", json_real(st->pay_expected));
    json_object_set_new(pp, "expected_amount_minor", json_real(st->pay_amount_minor));
    json_object_set_new(o, "payment_propensity", pp);
    for (int g = 0; g < _STATUS_GROUP_MAX; g++) {
        json_t *m = json_object();
        for (size_t i = 0; i < st->groups[g].n; i++)
            json_object_set_new(m, st->groups[g].v[i].label, json_integer(st->groups[g].v[i].n));
        char key[32];
        snprintf(key, sizeof(key), "by_%s", st->groups[g].name);
        json_object_set_new(o, key, m);
    }
    if (st->has_import) {
        json_t *im = json_object();
        json_object_set_new(im, "source", json_string(st->import_source));
        json_object_set_new(im, "status", json_string(st->import_status));
        fmt_time(st->import_started, t, sizeof(t));
        json_object_set_new(im, "started_at", json_string(t));
        fmt_time(st->import_finished, t, sizeof(t));
        json_object_set_new(im, "finished_at", json_string(t));
        json_object_set_new(im, "read", json_integer(st->import.read));
        json_object_set_new(im, "inserted", json_integer(st->import.inserted));
        json_object_set_new(im, "updated", json_integer(st->import.updated));
        json_object_set_new(im, "unchanged", json_integer(st->import.unchanged));
        json_object_set_new(im, "rejected", json_integer(st->import.rejected));
        json_object_set_new(o, "last_import", im);
    } else
        json_object_set_new(o, "last_import", json_null());
    if (st->has_run) {
        json_t *rn = json_object();
        format_date(st->run_date, d);
        json_object_set_new(rn, "date", json_string(d));
        json_object_set_new(rn, "status", json_string(st->run_status));
        fmt_time(st->run_started, t, sizeof(t));
        json_object_set_new(rn, "started_at", json_string(t));
        json_object_set_new(rn, "planned", json_integer(st->run_planned));
        json_object_set_new(o, "last_run", rn);
    } else
        json_object_set_new(o, "last_run", json_null());
    int r = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    putchar('\n');
    return r < 0 ? -EIO : 0;
}

int cmd_status(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "date", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    bool json = false;
    int32_t today = (int32_t)(time(NULL) / 86400);
    int c;
    while ((c = getopt_long(argc, argv, "f:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (streq(optarg, "json"))
                json = true;
            else if (!streq(optarg, "text")) {
                log_error("unknown format '%s': expected text or json", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'd':
            if (parse_date(optarg, strlen(optarg), &today) < 0) {
                log_error("invalid date '%s': expected YYYY-MM-DD", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            status_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        log_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    struct config *cfg = NULL;
    int r = cli_load_config(ctx, &cfg);
    if (r != EXIT_OK)
        return r;
    char err[256];
    struct store *s = NULL;
    r = store_open(cfg->store_path, STORE_READONLY, &s, err, sizeof(err));
    if (r < 0) {
        if (r == -ENOENT)
            log_error("no store at '%s': import debtors first ('cadenza import debtors FILE')",
                      cfg->store_path);
        else
            log_error("cannot open store '%s': %s", cfg->store_path, err);
        config_free(cfg);
        return EXIT_RUNTIME;
    }
    struct store_status st;
    r = store_status_get(s, today, &st);
    if (r < 0) {
        log_error("cannot read store '%s': %s", cfg->store_path, store_errmsg(s));
        store_free(s);
        config_free(cfg);
        return EXIT_RUNTIME;
    }
    if (json)
        r = print_json(&st, cfg, cfg->store_path, today);
    else
        print_text(&st, cfg, cfg->store_path, today);
    store_status_release(&st);
    store_free(s);
    config_free(cfg);
    return r < 0 ? EXIT_RUNTIME : EXIT_OK;
}
