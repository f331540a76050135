/*
 * cmd-plan.c - `cadenza plan` (dry run of a day's plan) and `cadenza
 * explain` (one debtor's plan in words).
 *
 * Both open the store read-only: they can never change it.  Output
 * formats are a public interface (docs/planner.md, "plan output").
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "campaign.h"
#include "cli.h"
#include "config.h"
#include "diag.h"
#include "log.h"
#include "store.h"
#include "strategy.h"
#include "tz.h"

enum plan_format { FMT_TABLE, FMT_JSONL, FMT_CSV };

static void plan_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza plan --date YYYY-MM-DD [options]\n"
            "\n"
            "Plan one day for every active debtor, without changing anything (the\n"
            "store is opened read-only), and print the decisions.\n"
            "\n"
            "Options:\n"
            "  -d, --date DATE      the local day to plan (required)\n"
            "  -f, --format FMT     table (default), jsonl or csv\n"
            "  -n, --limit N        print at most N decisions (table: default 20);\n"
            "                       every debtor is still planned and counted\n"
            "  -D, --debtor ID      plan only this debtor (external id)\n"
            "  -a, --all            also print debtors without a contact, with the reason\n"
            "  -S, --seed S         exploration seed (default: the date, so the same\n"
            "                       day plans the same way every time)\n"
            "      --now TIME       RFC 3339 instant slots may not start before (default:\n"
            "                       DATE 00:00 UTC-14:00 (the day's first instant anywhere),\n"
            "                       or the current time when that is later)\n"
            "  -j, --threads N      planning threads (default 2)\n"
            "  -h, --help           this help\n"
            "\n"
            "Output columns: docs/planner.md.  Exit status: 0 ok, 2 usage, 3 failure.\n");
}

static void explain_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza explain DEBTOR --date YYYY-MM-DD [--now TIME] [--seed S]\n"
            "\n"
            "Show in words how the planner decides for one debtor (external id) on a\n"
            "local day: strategy and variant and why, tier and why, every candidate\n"
            "channel and hour with its estimate and score, and the rule that rejected\n"
            "each rejected one.  Read only.\n");
}

struct common {
    const char *date_s, *now_s, *seed_s, *debtor;
    struct campaign_opts o;
    struct config *cfg;
    struct strategy_set *set;
    struct store *store;
};

static int common_setup(struct common *c, const struct cli_ctx *ctx)
{
    int ex = cli_plan_options(c->date_s, c->now_s, c->seed_s, &c->o);
    if (ex != EXIT_OK)
        return ex;
    c->o.external_id = c->debtor;

    int r = cli_load_config(ctx, &c->cfg);
    if (r != EXIT_OK)
        return r;
    struct diags d = DIAGS_INIT;
    r = strategy_set_load(c->cfg, NULL, 0, &c->set, &d);
    diags_sort(&d);
    diags_print(&d, stderr);
    size_t nerr = d.nerrors;
    diags_release(&d);
    if (r < 0 || nerr) {
        if (r < 0 && r != -EINVAL)
            log_error_errno(r, "cannot load strategies: %m");
        else
            log_error("strategies have errors: run 'cadenza validate'");
        return r == -EINVAL || nerr ? EXIT_DATA : EXIT_RUNTIME;
    }
    char err[512];
    r = store_open(c->cfg->store_path, STORE_READONLY, &c->store, err, sizeof(err));
    if (r < 0) {
        log_error("cannot open store '%s': %s", c->cfg->store_path, err);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

static void common_release(struct common *c)
{
    store_free(c->store);
    strategy_set_free(c->set);
    config_free(c->cfg);
}

/* ---- plan output ---- */

#define HOURS 24

struct tier_row {
    const char *strategy, *tier; /* borrowed from the set */
    int64_t n[_CHAN_KIND_MAX + 1];
    int64_t per_channel[64];
};

struct plan_out {
    enum plan_format fmt;
    long limit;
    long printed;
    const struct config *cfg;
    struct sbuf line;
    /* table totals */
    struct tier_row *tiers;
    size_t ntiers;
    int64_t per_hour[HOURS];
    int64_t per_channel[64];
    int r;
};

static const char *const columns[] = {
    "debtor_id", "strategy", "variant", "tier", "channel", "channel_kind", "template",
    "scheduled_at", "until", "local_time", "time_zone", "dpd", "p_reach", "expected_value",
    "score", "reason",
};

static void csv_add(struct sbuf *b, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        sbuf_adds(b, s);
        return;
    }
    sbuf_addc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            sbuf_addc(b, '"');
        sbuf_addc(b, *s);
    }
    sbuf_addc(b, '"');
}

static const char *decision_reason(const struct campaign_decision *d, char *buf, size_t len)
{
    if (!d->cand)
        return planner_reason_to_string(d->status);
    if (d->choice == 0)
        snprintf(buf, len, "best score of %d kept candidate%s", d->ncand,
                 d->ncand == 1 ? "" : "s");
    else
        snprintf(buf, len, "candidate %d: %d better one%s over capacity", d->choice + 1,
                 d->choice, d->choice == 1 ? "" : "s");
    return buf;
}

/* The values of one decision, in `columns` order (NULL: none). */
static void values(const struct campaign_decision *d, char bufs[][64], const char *v[])
{
    const struct planner_cand *c = d->cand;
    v[0] = d->external_id;
    v[1] = d->strategy ? d->strategy->name : NULL;
    v[2] = d->variant ? d->variant->name : NULL;
    v[3] = d->tier;
    v[4] = c ? d->channel : NULL;
    v[5] = c ? chan_kind_to_string((enum chan_kind)c->kind) : NULL;
    v[6] = c ? d->template_name : NULL;
    for (int i = 7; i < 16; i++)
        v[i] = NULL;
    if (c) {
        campaign_format_utc(c->at, bufs[7], 64);
        campaign_format_utc(c->until, bufs[8], 64);
        tz_format_local(d->tz, c->at, bufs[9], 64);
        snprintf(bufs[12], 48, "%.4f", c->p_reach);
        snprintf(bufs[13], 48, "%.4f", c->ev);
        snprintf(bufs[14], 48, "%.4f", c->score);
        v[7] = bufs[7], v[8] = bufs[8], v[9] = bufs[9];
        v[12] = bufs[12], v[13] = bufs[13], v[14] = bufs[14];
    }
    v[10] = d->time_zone;
    if (d->strategy) {
        snprintf(bufs[11], 48, "%d", d->dpd);
        v[11] = bufs[11];
    }
    v[15] = decision_reason(d, bufs[15], 64);
}

/* ---- hand-made JSONL (no printf, no per-character calls: the hot output path) ---- */

static char *put_str(char *p, const char *s)
{
    *p++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 15];
            p += 6;
        } else
            *p++ = (char)c;
    }
    *p++ = '"';
    return p;
}

/* Worst-case bytes put_str() writes for s. */
static size_t str_room(const char *s)
{
    return s ? strlen(s) * 6 + 2 : 4;
}

static char *put_lit(char *p, const char *lit)
{
    size_t n = strlen(lit);
    memcpy(p, lit, n);
    return p + n;
}

static char *put_opt(char *p, const char *s)
{
    return s ? put_str(p, s) : put_lit(p, "null");
}

static char *put_uint(char *p, uint64_t v)
{
    char t[24];
    int n = 0;
    do
        t[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *p++ = t[--n];
    return p;
}

static char *put_int(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_uint(p, (uint64_t)(-(v + 1)) + 1);
    }
    return put_uint(p, (uint64_t)v);
}

static char *put_2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* A number with 4 decimals, as "%.4f" prints it (NaN/inf: null). */
static char *put_fix4(char *p, double x)
{
    if (!(x == x) || x > 1e15 || x < -1e15)
        return put_lit(p, "null");
    int64_t v = llrint(x * 10000.0); /* ties to even, as printf */
    if (v < 0) {
        *p++ = '-';
        v = -v;
    }
    p = put_uint(p, (uint64_t)(v / 10000));
    *p++ = '.';
    int f = (int)(v % 10000);
    p = put_2(p, f / 100);
    return put_2(p, f % 100);
}

/* "2026-03-10T09:30:00" for local days and seconds of day. */
static char *put_datetime(char *p, int32_t days, int32_t sod)
{
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    y = y < 0 ? 0 : y > 9999 ? 9999 : y;
    p = put_2(p, y / 100);
    p = put_2(p, y % 100);
    *p++ = '-';
    p = put_2(p, (int)m);
    *p++ = '-';
    p = put_2(p, (int)d);
    *p++ = 'T';
    p = put_2(p, sod / 3600);
    *p++ = ':';
    p = put_2(p, sod / 60 % 60);
    *p++ = ':';
    return put_2(p, sod % 60);
}

static char *put_utc(char *p, int64_t t)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    p = put_datetime(p, (int32_t)days, (int32_t)(t - days * 86400));
    *p++ = 'Z';
    return p;
}

static char *put_local(char *p, const struct tz *z, int64_t t)
{
    struct tz_local l;
    tz_to_local(z, t, &l);
    p = put_datetime(p, l.days, l.sec_of_day);
    int off = l.offset < 0 ? -l.offset : l.offset;
    *p++ = l.offset < 0 ? '-' : '+';
    p = put_2(p, off / 3600);
    *p++ = ':';
    return put_2(p, off / 60 % 60);
}

/* Flush the output buffer once it holds this much. */
#define OUT_CHUNK (256 * 1024)

static int out_flush(struct plan_out *po)
{
    struct sbuf *b = &po->line;
    if (b->len && fwrite(b->buf, 1, b->len, stdout) != b->len)
        return -EIO;
    sbuf_reset(b);
    return 0;
}

/* One JSONL line: the fields of `columns`, in that order. */
static int print_jsonl(struct plan_out *po, const struct campaign_decision *d)
{
    const struct planner_cand *c = d->cand;
    const char *sn = d->strategy ? d->strategy->name : NULL;
    const char *vn = d->variant ? d->variant->name : NULL;
    char rbuf[64];
    const char *reason = decision_reason(d, rbuf, sizeof(rbuf));
    size_t room = 512 + str_room(d->external_id) + str_room(sn) + str_room(vn) +
                  str_room(d->tier) + str_room(d->channel) + str_room(d->template_name) +
                  str_room(d->time_zone) + str_room(reason);
    struct sbuf *b = &po->line;
    if (sbuf_reserve(b, room) < 0)
        return -ENOMEM;
    char *p0 = b->buf + b->len, *p = p0;
    p = put_lit(p, "{\"debtor_id\":");
    p = put_opt(p, d->external_id);
    p = put_lit(p, ",\"strategy\":");
    p = put_opt(p, sn);
    p = put_lit(p, ",\"variant\":");
    p = put_opt(p, vn);
    p = put_lit(p, ",\"tier\":");
    p = put_opt(p, d->tier);
    p = put_lit(p, ",\"channel\":");
    p = put_opt(p, c ? d->channel : NULL);
    p = put_lit(p, ",\"channel_kind\":");
    p = put_opt(p, c ? chan_kind_to_string((enum chan_kind)c->kind) : NULL);
    p = put_lit(p, ",\"template\":");
    p = put_opt(p, c ? d->template_name : NULL);
    if (c) {
        p = put_lit(p, ",\"scheduled_at\":\"");
        p = put_utc(p, c->at);
        p = put_lit(p, "\",\"until\":\"");
        p = put_utc(p, c->until);
        p = put_lit(p, "\",\"local_time\":\"");
        p = put_local(p, d->tz, c->at);
        *p++ = '"';
    } else
        p = put_lit(p, ",\"scheduled_at\":null,\"until\":null,\"local_time\":null");
    p = put_lit(p, ",\"time_zone\":");
    p = put_opt(p, d->time_zone);
    p = put_lit(p, ",\"dpd\":");
    if (d->strategy)
        p = put_int(p, d->dpd);
    else
        p = put_lit(p, "null");
    if (c) {
        p = put_lit(p, ",\"p_reach\":");
        p = put_fix4(p, c->p_reach);
        p = put_lit(p, ",\"expected_value\":");
        p = put_fix4(p, c->ev);
        p = put_lit(p, ",\"score\":");
        p = put_fix4(p, c->score);
    } else
        p = put_lit(p, ",\"p_reach\":null,\"expected_value\":null,\"score\":null");
    p = put_lit(p, ",\"reason\":");
    p = put_opt(p, reason);
    p = put_lit(p, "}\n");
    b->len += (size_t)(p - p0);
    b->buf[b->len] = 0;
    return b->len >= OUT_CHUNK ? out_flush(po) : 0;
}

static int print_csv(struct plan_out *po, const struct campaign_decision *d)
{
    char bufs[16][64];
    const char *v[16];
    values(d, bufs, v);
    struct sbuf *b = &po->line;
    for (int i = 0; i < 16; i++) {
        if (i)
            sbuf_addc(b, ',');
        csv_add(b, v[i]);
    }
    sbuf_addc(b, '\n');
    return b->len >= OUT_CHUNK ? out_flush(po) : 0;
}

static void print_table_row(const struct campaign_decision *d)
{
    char bufs[16][64];
    const char *v[16];
    values(d, bufs, v);
    char local[16] = "-";
    if (d->cand)
        snprintf(local, sizeof(local), "%02d:%02d", d->cand->local_min / 60,
                 d->cand->local_min % 60);
    printf("%-16s %-12s %-12s %-8s %-20s %5s %-20s %6s %7s  %s\n", v[0] ? v[0] : "",
           v[1] ? v[1] : "-", v[3] ? v[3] : "-", v[4] ? v[4] : "-", v[7] ? v[7] : "-", local,
           v[10] ? v[10] : "-", v[12] ? v[12] : "-", v[13] ? v[13] : "-", v[15]);
}

static int tally(struct plan_out *po, const struct campaign_decision *d)
{
    if (!d->cand)
        return 0;
    const char *sn = d->strategy ? d->strategy->name : "";
    const char *tn = d->tier ? d->tier : "";
    struct tier_row *t = NULL;
    for (size_t i = 0; i < po->ntiers; i++)
        if (streq(po->tiers[i].strategy, sn) && streq(po->tiers[i].tier, tn)) {
            t = &po->tiers[i];
            break;
        }
    if (!t) {
        struct tier_row *v = realloc(po->tiers, (po->ntiers + 1) * sizeof(*v));
        if (!v)
            return -ENOMEM;
        po->tiers = v;
        t = &v[po->ntiers++];
        memset(t, 0, sizeof(*t));
        t->strategy = sn;
        t->tier = tn;
    }
    int ch = d->cand->channel;
    if (ch >= 0 && ch < 64) {
        t->per_channel[ch]++;
        po->per_channel[ch]++;
    }
    int h = d->cand->local_min / 60;
    if (h >= 0 && h < HOURS)
        po->per_hour[h]++;
    return 0;
}

static int on_decision(void *ctx, const struct campaign_decision *d)
{
    struct plan_out *po = ctx;
    int r = 0;
    if (po->fmt == FMT_TABLE && (r = tally(po, d)) < 0)
        return r;
    if (po->limit >= 0 && po->printed >= po->limit)
        return 0;
    po->printed++;
    switch (po->fmt) {
    case FMT_JSONL:
        return print_jsonl(po, d);
    case FMT_CSV:
        return print_csv(po, d);
    case FMT_TABLE:
        if (po->printed == 1)
            printf("%-16s %-12s %-12s %-8s %-20s %5s %-20s %6s %7s  %s\n", "DEBTOR", "STRATEGY",
                   "TIER", "CHANNEL", "SCHEDULED (UTC)", "LOCAL", "TIME ZONE", "P", "EV",
                   "REASON");
        print_table_row(d);
        return 0;
    }
    return 0;
}

static void print_totals(struct plan_out *po, const struct campaign_stats *st, int32_t date)
{
    const struct config *cfg = po->cfg;
    char day[11];
    format_date(date, day);
    if (po->printed)
        printf("\n");
    printf("plan for %s: %lld debtors, %lld contacts planned, %lld without a contact\n", day,
           (long long)st->debtors, (long long)st->planned,
           (long long)(st->debtors - st->planned));
    if (po->ntiers) {
        printf("\ncontacts by tier and channel:\n  %-28s", "strategy/tier");
        for (size_t c = 0; c < cfg->nchannels && c < 64; c++)
            printf(" %8s", cfg->channels[c].name);
        printf(" %8s\n", "total");
        for (size_t i = 0; i < po->ntiers; i++) {
            char name[160];
            snprintf(name, sizeof(name), "%s/%s", po->tiers[i].strategy, po->tiers[i].tier);
            printf("  %-28s", name);
            int64_t sum = 0;
            for (size_t c = 0; c < cfg->nchannels && c < 64; c++) {
                printf(" %8lld", (long long)po->tiers[i].per_channel[c]);
                sum += po->tiers[i].per_channel[c];
            }
            printf(" %8lld\n", (long long)sum);
        }
        printf("  %-28s", "total");
        for (size_t c = 0; c < cfg->nchannels && c < 64; c++)
            printf(" %8lld", (long long)po->per_channel[c]);
        printf(" %8lld\n", (long long)st->planned);

        int64_t maxh = 1;
        for (int h = 0; h < HOURS; h++)
            if (po->per_hour[h] > maxh)
                maxh = po->per_hour[h];
        printf("\ncontacts by local hour (debtor's time zone):\n");
        for (int h = 0; h < HOURS; h++) {
            if (!po->per_hour[h])
                continue;
            int bar = (int)(po->per_hour[h] * 40 / maxh);
            printf("  %02d:00 %8lld %.*s\n", h, (long long)po->per_hour[h], bar > 0 ? bar : 1,
                   "########################################");
        }
    }
    bool any = false;
    for (int i = 0; i < _PLAN_REASON_MAX; i++) {
        if (!st->by_reason[i])
            continue;
        if (!any)
            printf("\nno contact, by reason:\n");
        any = true;
        printf("  %-40s %8lld\n", planner_reason_to_string((enum planner_reason)i),
               (long long)st->by_reason[i]);
    }
}

int cmd_plan(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "date", required_argument, NULL, 'd' },
        { "format", required_argument, NULL, 'f' },
        { "limit", required_argument, NULL, 'n' },
        { "debtor", required_argument, NULL, 'D' },
        { "all", no_argument, NULL, 'a' },
        { "seed", required_argument, NULL, 'S' },
        { "now", required_argument, NULL, 'N' },
        { "threads", required_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    struct common c = { 0 };
    struct plan_out po = { .fmt = FMT_TABLE, .limit = -1, .line = SBUF_INIT };
    int k;
    while ((k = getopt_long(argc, argv, "d:f:n:D:aS:j:h", opts, NULL)) != -1) {
        switch (k) {
        case 'd':
            c.date_s = optarg;
            break;
        case 'f':
            if (streq(optarg, "table"))
                po.fmt = FMT_TABLE;
            else if (streq(optarg, "jsonl"))
                po.fmt = FMT_JSONL;
            else if (streq(optarg, "csv"))
                po.fmt = FMT_CSV;
            else {
                log_error("unknown format '%s': expected table, jsonl or csv", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'n':
            if (cli_parse_long("--limit", optarg, 0, LONG_MAX, &po.limit) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 'D':
            c.debtor = optarg;
            break;
        case 'a':
            c.o.all = true;
            break;
        case 'S':
            c.seed_s = optarg;
            break;
        case 'N':
            c.now_s = optarg;
            break;
        case 'j':
            c.o.threads = atoi(optarg);
            if (c.o.threads < 1 || c.o.threads > 8) {
                log_error("invalid value '%s' for --threads: expected 1 to 8", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            plan_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        log_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (po.fmt == FMT_TABLE && po.limit < 0)
        po.limit = 20;
    int ret = common_setup(&c, ctx);
    if (ret != EXIT_OK)
        goto out;
    po.cfg = c.cfg;
    if (po.fmt == FMT_CSV) {
        for (size_t i = 0; i < ELEMENTSOF(columns); i++)
            printf("%s%s", i ? "," : "", columns[i]);
        printf("\n");
    }
    struct campaign_stats st;
    int r = campaign_plan_day(c.store, c.cfg, c.set, &c.o, on_decision, &po, &st);
    if (r >= 0)
        r = out_flush(&po);
    if (r == -ENOENT && c.debtor) {
        log_error("no debtor with id '%s'", c.debtor);
        ret = EXIT_DATA;
        goto out;
    }
    if (r < 0) {
        if (store_errmsg(c.store)[0])
            log_error("planning failed: %s", store_errmsg(c.store));
        else
            log_error_errno(r, "planning failed: %m");
        ret = EXIT_RUNTIME;
        goto out;
    }
    if (po.fmt == FMT_TABLE)
        print_totals(&po, &st, c.o.date);
    cli_note_day_passed(&c.o, &st);
    if (fflush(stdout) != 0) {
        log_error_errno(-errno, "cannot write output: %m");
        ret = EXIT_RUNTIME;
    }
    if (ctx->verbose)
        log_info("read+plan %.3f s (%d threads, %.3f s CPU), capacity %.3f s, output %.3f s",
                 st.read_plan_seconds, st.threads, st.read_plan_cpu_seconds, st.assign_seconds,
                 st.write_seconds);
out:
    free(po.tiers);
    sbuf_release(&po.line);
    common_release(&c);
    return ret;
}

int cmd_explain(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "date", required_argument, NULL, 'd' },
        { "seed", required_argument, NULL, 'S' },
        { "now", required_argument, NULL, 'N' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    struct common c = { 0 };
    int k;
    while ((k = getopt_long(argc, argv, "d:S:h", opts, NULL)) != -1) {
        switch (k) {
        case 'd':
            c.date_s = optarg;
            break;
        case 'S':
            c.seed_s = optarg;
            break;
        case 'N':
            c.now_s = optarg;
            break;
        case 'h':
            explain_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        log_error(optind >= argc ? "missing debtor id" : "too many arguments: one debtor id");
        return EXIT_USAGE;
    }
    c.debtor = argv[optind];
    struct sbuf out = SBUF_INIT;
    int ret = common_setup(&c, ctx);
    if (ret != EXIT_OK)
        goto out;
    int r = campaign_explain(c.store, c.cfg, c.set, &c.o, &out);
    if (r == -ENOENT) {
        log_error("no debtor with id '%s'", c.debtor);
        ret = EXIT_DATA;
        goto out;
    }
    if (r < 0) {
        log_error_errno(r, "explain failed: %s", store_errmsg(c.store));
        ret = EXIT_RUNTIME;
        goto out;
    }
    fwrite(out.buf, 1, out.len, stdout);
out:
    sbuf_release(&out);
    common_release(&c);
    return ret;
}
