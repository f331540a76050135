/*
 * cmd-brief.c - `cadenza brief DEBTOR`: the agent brief of one debtor,
 * the same one the daily run puts into that debtor's dialer jobs
 * (brief.h, docs/brief.md).  Opens the store read-only; never changes it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brief.h"
#include "campaign.h"
#include "cli.h"
#include "config.h"
#include "diag.h"
#include "log.h"
#include "store.h"
#include "strategy.h"
#include "tz.h"

static void brief_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza brief DEBTOR [--format text|json] [--now TIME]\n"
            "\n"
            "Print the agent brief of one debtor (external id): who, balance, days\n"
            "past due, the last contacts and their outcomes, promises made, kept and\n"
            "broken, the last payment, payday, flags with their script notes, and the\n"
            "offers the debtor's strategy tier allows.  Dialer jobs carry the same\n"
            "brief.  Read only.\n"
            "\n"
            "Options:\n"
            "  -f, --format FMT     text (default) or json (the brief, its dialer\n"
            "                       fields and its compact line)\n"
            "  -n, --now TIME       the brief as of this RFC 3339 instant (default: now)\n"
            "  -h, --help           this help\n"
            "\n"
            "Fields: docs/brief.md.  Exit status: 0 ok, 1 unknown debtor or strategy\n"
            "errors, 2 usage, 3 store failure.\n");
}

struct brief_ctx {
    const struct strategy_set *set;
    int64_t now;
    bool json;
    struct sbuf *out;
    const char *zone_error; /* the zone that could not be loaded */
};

static int on_debtor(void *ctx, const struct store_brief_row *d)
{
    struct brief_ctx *c = ctx;
    struct tz *z = NULL;
    const char *zone = d->rec.time_zone ? d->rec.time_zone : "UTC";
    int r = tz_load(zone, &z);
    if (r < 0) {
        c->zone_error = zone;
        return r == -ENOMEM ? r : -EINVAL;
    }
    struct brief_input in = {
        .debtor_id = d->rec.external_id,
        .name = d->rec.name,
        .locale = d->rec.locale,
        .currency = d->rec.currency,
        .tz = z,
        .balance_minor = d->rec.balance_minor,
        .due_date = d->rec.due_date,
        .payday = d->rec.payday,
        .flags = d->rec.flags,
        .tags = d->rec.tags,
        .outcomes = d->outcomes,
        .noutcomes = d->noutcomes,
        .now = c->now,
    };
    struct tz_local l;
    tz_to_local(z, c->now, &l);
    int dpd = in.due_date != INT32_MIN ? l.days - in.due_date : 0;
    brief_strategy(c->set, &d->rec, dpd, d->strategy, d->variant, d->tier, &in);
    struct brief b;
    r = brief_build(&in, &b);
    if (r >= 0)
        r = c->json ? brief_format_json(&b, true, c->out) : brief_format_text(&b, c->out);
    if (r >= 0 && c->json)
        r = sbuf_addc(c->out, '\n');
    tz_free(z);
    return r;
}

int cmd_brief(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "now", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const char *format = "text", *now_s = NULL;
    int k;
    while ((k = getopt_long(argc, argv, "f:n:h", opts, NULL)) != -1) {
        switch (k) {
        case 'f':
            format = optarg;
            break;
        case 'n':
            now_s = optarg;
            break;
        case 'h':
            brief_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        log_error(optind >= argc ? "missing debtor id" : "too many arguments: one debtor id");
        return EXIT_USAGE;
    }
    if (!streq(format, "text") && !streq(format, "json")) {
        log_error("invalid format '%s': expected text or json", format);
        return EXIT_USAGE;
    }
    struct brief_ctx c = { .json = streq(format, "json"), .now = (int64_t)time(NULL) };
    if (now_s && campaign_parse_time(now_s, strlen(now_s), &c.now) < 0) {
        log_error("invalid time '%s': expected RFC 3339 (2026-03-10T08:00:00Z)", now_s);
        return EXIT_USAGE;
    }
    const char *debtor = argv[optind];

    struct config *cfg = NULL;
    struct strategy_set *set = NULL;
    struct store *s = NULL;
    struct sbuf out = SBUF_INIT;
    int ret = cli_load_config(ctx, &cfg);
    if (ret != EXIT_OK)
        return ret;
    struct diags d = DIAGS_INIT;
    int r = strategy_set_load(cfg, NULL, 0, &set, &d);
    diags_sort(&d);
    diags_print(&d, stderr);
    size_t nerr = d.nerrors;
    diags_release(&d);
    if (r < 0 || nerr) {
        if (r < 0 && r != -EINVAL)
            log_error_errno(r, "cannot load strategies: %m");
        else
            log_error("strategies have errors: run 'cadenza validate'");
        ret = r == -EINVAL || nerr ? EXIT_DATA : EXIT_RUNTIME;
        goto out;
    }
    char err[512];
    if ((r = store_open(cfg->store_path, STORE_READONLY, &s, err, sizeof(err))) < 0) {
        log_error("cannot open store '%s': %s", cfg->store_path, err);
        ret = EXIT_RUNTIME;
        goto out;
    }
    c.set = set;
    c.out = &out;
    r = store_brief_get(s, 0, debtor, c.now - (int64_t)BRIEF_HISTORY_DAYS * 86400, on_debtor, &c);
    if (r == -ENOENT) {
        log_error("no debtor with id '%s'", debtor);
        ret = EXIT_DATA;
        goto out;
    }
    if (r == -EINVAL && c.zone_error) {
        log_error("debtor '%s': cannot load time zone '%s'", debtor, c.zone_error);
        ret = EXIT_RUNTIME;
        goto out;
    }
    if (r < 0) {
        if (r == -ENOMEM)
            log_error("out of memory");
        else
            log_error("cannot read debtor '%s': %s", debtor, store_errmsg(s));
        ret = EXIT_RUNTIME;
        goto out;
    }
    fwrite(out.buf, 1, out.len, stdout);
    ret = fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
out:
    sbuf_release(&out);
    store_free(s);
    strategy_set_free(set);
    config_free(cfg);
    return ret;
}
