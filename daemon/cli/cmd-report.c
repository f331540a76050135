/*
 * cmd-report.c - `cadenza report`: what the contacts achieved, and checks
 * of what the planner learned, from the store's own history.  Read only.
 *
 *   report --from D --to D  the contact report: attempts and outcomes per
 *                        strategy, variant, tier and channel, champion
 *                        against challenger (report.h, docs/report.md)
 *   report calibration   the payment propensity, predicted against observed
 *                        per decile (docs/planner.md, "Payment propensity")
 *   report --evaluate F  what strategy file F would have achieved on the
 *                        logged decisions, off-policy (evaluate.h)
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "campaign.h"
#include "cli.h"
#include "config.h"
#include "debtor.h"
#include "diag.h"
#include "evaluate.h"
#include "log.h"
#include "propensity.h"
#include "report-render.h"
#include "report.h"
#include "store.h"
#include "strategy.h"
#include "tz.h"
#include "util.h"

static void report_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza report --from YYYY-MM-DD --to YYYY-MM-DD\n"
            "                      [--format table|json|csv|html] [--output FILE]\n"
            "       cadenza report calibration [--date YYYY-MM-DD] [--format text|json]\n"
            "       cadenza report --evaluate STRATEGY-FILE --from YYYY-MM-DD --to YYYY-MM-DD\n"
            "                      [--samples N] [--seed S] [--format text|json]\n"
            "\n"
            "The contact report: the attempts made on the days FROM to TO (UTC) and\n"
            "what came of them, per strategy, variant, tier and channel: attempts,\n"
            "delivered, contact, right-party contact, promise and kept-promise rates,\n"
            "amount recovered, cost, cost per unit recovered, opt-outs; the funnel per\n"
            "tier, contact rate by the debtor's local hour, and each challenger\n"
            "variant against its champion with 95 %% intervals (or \"not enough data\n"
            "yet\").  Every definition: docs/report.md.\n"
            "\n"
            "calibration: fit the payment propensity as the planner would have at the\n"
            "start of DATE (default: 30 days ago), predict it for every debtor imported\n"
            "by then and compare with who paid in the 30 days from DATE: per decile of\n"
            "the prediction, debtors, mean prediction, observed rate; Brier score, log\n"
            "loss and the expected calibration error.\n"
            "\n"
            "--evaluate: what the strategies in STRATEGY-FILE would have achieved on the\n"
            "contacts planned (by `cadenza run`) from FROM to TO, estimated from their\n"
            "logged choice probabilities and outcomes: the reach rate per decision by\n"
            "self-normalised importance sampling and doubly robust, with 95 %% intervals\n"
            "and the effective sample size, next to what the logged policy achieved.\n"
            "The candidate plans each decision again, with the reach model as it stood\n"
            "at the start of FROM, N times (--samples, default 32) to know how often\n"
            "it would take the logged slot.\n"
            "\n"
            "Options:\n"
            "      --from DATE    first day of the report, or of the decisions evaluated (UTC)\n"
            "      --to DATE      last day (inclusive)\n"
            "  -f, --format FMT   the contact report: table (default), json, csv or html;\n"
            "                     calibration and --evaluate: text (default) or json\n"
            "  -o, --output FILE  the contact report: write FILE (whole or not at all)\n"
            "      --currency C   the contact report's currency (default: defaults.currency)\n"
            "      --now TIME     the contact report: RFC 3339 instant promises are due by\n"
            "                     (default: now)\n"
            "  -d, --date DATE    calibration: the day predictions are made (00:00 UTC)\n"
            "  -e, --evaluate F   the candidate strategy file (or directory)\n"
            "  -n, --samples N    the candidate's plans per decision (default 32)\n"
            "  -S, --seed S       the candidate's sampling seed (default 1)\n"
            "      --decisions F  write the candidate's choices per decision to F (tab-\n"
            "                     separated: debtor, plan date, channel kind, local hour\n"
            "                     of the week, share of its plans), to check it elsewhere\n"
            "  -h, --help         this help\n");
}

static void print_calibration_text(const struct campaign_calibration *c, bool partial)
{
    char d[11], e[11];
    format_date(c->date, d);
    format_date(c->date + PROPENSITY_DAYS, e);
    printf("Payment propensity calibration: predicted at %s, payments %s .. %s%s\n", d, d, e,
           partial ? " (window not over yet: observed rates are low)" : "");
    printf("Trained on %lld sampled debtors (%lld paid in the %d days before %s)\n",
           (long long)c->train_examples, (long long)c->train_paid, PROPENSITY_DAYS, d);
    printf("Evaluated on %lld debtors, %lld paid: observed %.4f, predicted %.4f\n",
           (long long)c->debtors, (long long)c->paid,
           c->debtors ? (double)c->paid / (double)c->debtors : 0, c->predicted);
    printf("\n%-7s %9s %9s %9s %9s %17s\n", "decile", "debtors", "predicted", "observed",
           "diff", "prediction range");
    for (int k = 0; k < CAMPAIGN_CALIB_BINS; k++) {
        const struct campaign_calib_bin *b = &c->bin[k];
        if (!b->n)
            continue;
        double obs = (double)b->paid / (double)b->n;
        printf("%-7d %9lld %9.4f %9.4f %+9.4f %8.4f-%-8.4f\n", k + 1, (long long)b->n,
               b->predicted, obs, obs - b->predicted, b->pmin, b->pmax);
    }
    printf("\nBrier score %.5f (the training rate for everyone: %.5f), log loss %.5f, "
           "expected calibration error %.4f\n",
           c->brier, c->brier_base, c->log_loss, c->ece);
}

static int print_calibration_json(const struct campaign_calibration *c, bool partial)
{
    char d[11];
    format_date(c->date, d);
    json_t *o = json_object(), *bins = json_array();
    json_object_set_new(o, "date", json_string(d));
    json_object_set_new(o, "days", json_integer(PROPENSITY_DAYS));
    json_object_set_new(o, "window_complete", json_boolean(!partial));
    json_object_set_new(o, "train_examples", json_integer(c->train_examples));
    json_object_set_new(o, "train_paid", json_integer(c->train_paid));
    json_object_set_new(o, "debtors", json_integer(c->debtors));
    json_object_set_new(o, "paid", json_integer(c->paid));
    json_object_set_new(o, "predicted", json_real(c->predicted));
    json_object_set_new(o, "brier", json_real(c->brier));
    json_object_set_new(o, "brier_base", json_real(c->brier_base));
    json_object_set_new(o, "log_loss", json_real(c->log_loss));
    json_object_set_new(o, "ece", json_real(c->ece));
    for (int k = 0; k < CAMPAIGN_CALIB_BINS; k++) {
        const struct campaign_calib_bin *b = &c->bin[k];
        json_t *x = json_object();
        json_object_set_new(x, "decile", json_integer(k + 1));
        json_object_set_new(x, "debtors", json_integer(b->n));
        json_object_set_new(x, "paid", json_integer(b->paid));
        json_object_set_new(x, "predicted", json_real(b->predicted));
        json_object_set_new(x, "observed", json_real(b->n ? (double)b->paid / (double)b->n
                                                          : 0));
        json_object_set_new(x, "min", json_real(b->pmin));
        json_object_set_new(x, "max", json_real(b->pmax));
        json_array_append_new(bins, x);
    }
    json_object_set_new(o, "deciles", bins);
    int r = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    putchar('\n');
    return r < 0 ? -EIO : 0;
}

static int open_store(const struct cli_ctx *ctx, struct config **ret_cfg, struct store **ret)
{
    int r = cli_load_config(ctx, ret_cfg);
    if (r != EXIT_OK)
        return r;
    char err[256];
    r = store_open((*ret_cfg)->store_path, STORE_READONLY, ret, err, sizeof(err));
    if (r < 0) {
        log_error("cannot open store '%s': %s", (*ret_cfg)->store_path, err);
        config_free(*ret_cfg);
        *ret_cfg = NULL;
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

static int report_calibration(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "date", required_argument, NULL, 'd' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    int32_t today = (int32_t)(time(NULL) / 86400), date = today - PROPENSITY_DAYS;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (parse_date(optarg, strlen(optarg), &date) < 0) {
                log_error("invalid date '%s': expected YYYY-MM-DD", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'f':
            if (streq(optarg, "json"))
                json = true;
            else if (!streq(optarg, "text")) {
                log_error("unknown format '%s': expected text or json", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            report_usage(stdout);
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
    struct store *s = NULL;
    int r = open_store(ctx, &cfg, &s);
    if (r != EXIT_OK)
        return r;
    struct campaign_calibration cal;
    r = campaign_calibration(s, date, &cal);
    if (r < 0) {
        log_error("cannot compute the calibration from '%s': %s", cfg->store_path,
                  store_errmsg(s));
        store_free(s);
        config_free(cfg);
        return EXIT_RUNTIME;
    }
    bool partial = date + PROPENSITY_DAYS > today;
    if (json)
        r = print_calibration_json(&cal, partial);
    else
        print_calibration_text(&cal, partial);
    store_free(s);
    config_free(cfg);
    return r < 0 ? EXIT_RUNTIME : EXIT_OK;
}

static void print_evaluate_text(const struct evaluate_result *x, const char *file,
                                const char *from, const char *to)
{
    const struct ope_estimate *e = &x->e;
    printf("Off-policy evaluation of '%s' on the decisions of %s .. %s\n", file, from, to);
    printf("Decisions: %lld logged, %zu used; skipped: %lld without a choice probability, "
           "%lld without an outcome, %lld of unknown debtors\n",
           (long long)x->decisions, e->n, (long long)x->no_probability,
           (long long)x->unobserved, (long long)x->unknown_debtor);
    printf("The candidate plans a contact for %.1f %% of them and takes the logged slot "
           "with probability %.3f on average\n", 100 * x->target_contacts, x->target_same);
    printf("\nReach rate per decision:\n");
    printf("  %-26s %8.4f   95%% interval %.4f .. %.4f\n", "logged policy", e->logged,
           e->logged_lo, e->logged_hi);
    printf("  %-26s %8.4f   95%% interval %.4f .. %.4f\n", "candidate, SNIPS", e->snips,
           e->snips_lo, e->snips_hi);
    printf("  %-26s %8.4f   95%% interval %.4f .. %.4f\n", "candidate, doubly robust", e->dr,
           e->dr_lo, e->dr_hi);
    printf("  %-26s %8.4f   (the frozen model's own prediction)\n", "candidate, model only",
           e->dm);
    printf("\nEffective sample size %.0f of %zu (%.1f %%); weights: mean %.3f, max %.1f\n",
           e->ess, e->n, e->n ? 100 * e->ess / (double)e->n : 0, e->w_mean, e->w_max);
    if (e->w_mean < 0.95)
        printf("The mean weight estimates the share of the candidate's choices the logged "
               "policy could have made\n(%.0f %%): the self-normalised estimate assumes the "
               "rest fare like these, the doubly robust one\npredicts them with the model; "
               "prefer the doubly robust one\n", 100 * e->w_mean);
    if (e->ess < 0.01 * (double)e->n)
        printf("warning: the candidate rarely does what the logged policy did: the "
               "estimates rest on few decisions\n");
}

static int print_evaluate_json(const struct evaluate_result *x, const char *file,
                               const char *from, const char *to)
{
    const struct ope_estimate *e = &x->e;
    json_t *o = json_object();
    json_object_set_new(o, "strategies", json_string(file));
    json_object_set_new(o, "from", json_string(from));
    json_object_set_new(o, "to", json_string(to));
    json_object_set_new(o, "decisions", json_integer(x->decisions));
    json_object_set_new(o, "used", json_integer((json_int_t)e->n));
    json_object_set_new(o, "no_probability", json_integer(x->no_probability));
    json_object_set_new(o, "unobserved", json_integer(x->unobserved));
    json_object_set_new(o, "unknown_debtor", json_integer(x->unknown_debtor));
    json_object_set_new(o, "target_contacts", json_real(x->target_contacts));
    json_object_set_new(o, "target_same", json_real(x->target_same));
    json_object_set_new(o, "logged", json_pack("{s:f,s:f,s:f}", "value", e->logged, "lo",
                                               e->logged_lo, "hi", e->logged_hi));
    json_object_set_new(o, "snips", json_pack("{s:f,s:f,s:f,s:f}", "value", e->snips, "se",
                                              e->snips_se, "lo", e->snips_lo, "hi",
                                              e->snips_hi));
    json_object_set_new(o, "dr", json_pack("{s:f,s:f,s:f,s:f}", "value", e->dr, "se", e->dr_se,
                                           "lo", e->dr_lo, "hi", e->dr_hi));
    json_object_set_new(o, "model_only", json_real(e->dm));
    json_object_set_new(o, "ess", json_real(e->ess));
    json_object_set_new(o, "weight_mean", json_real(e->w_mean));
    json_object_set_new(o, "weight_max", json_real(e->w_max));
    int r = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    putchar('\n');
    return r < 0 ? -EIO : 0;
}

static int report_evaluate(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "evaluate", required_argument, NULL, 'e' },
        { "from", required_argument, NULL, 'F' },
        { "to", required_argument, NULL, 'T' },
        { "samples", required_argument, NULL, 'n' },
        { "seed", required_argument, NULL, 'S' },
        { "format", required_argument, NULL, 'f' },
        { "decisions", required_argument, NULL, 'D' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const char *file = NULL, *from_s = NULL, *to_s = NULL, *dec_path = NULL;
    struct evaluate_opts eo = { .samples = 32, .seed = 1 };
    long v;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "e:n:S:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            file = optarg;
            break;
        case 'F':
            from_s = optarg;
            break;
        case 'T':
            to_s = optarg;
            break;
        case 'D':
            dec_path = optarg;
            break;
        case 'n':
            if (cli_parse_long("--samples", optarg, 1, 10000, &v) != EXIT_OK)
                return EXIT_USAGE;
            eo.samples = (int)v;
            break;
        case 'S':
            if (cli_parse_long("--seed", optarg, 0, LONG_MAX, &v) != EXIT_OK)
                return EXIT_USAGE;
            eo.seed = (uint64_t)v;
            break;
        case 'f':
            if (streq(optarg, "json"))
                json = true;
            else if (!streq(optarg, "text")) {
                log_error("unknown format '%s': expected text or json", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            report_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        log_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!file || !from_s || !to_s) {
        log_error("--evaluate needs a strategy file, --from and --to");
        return EXIT_USAGE;
    }
    if (parse_date(from_s, strlen(from_s), &eo.from) < 0 ||
        parse_date(to_s, strlen(to_s), &eo.to) < 0 || eo.to < eo.from) {
        log_error("invalid dates '%s' .. '%s': expected YYYY-MM-DD, from not after to", from_s,
                  to_s);
        return EXIT_USAGE;
    }
    struct config *cfg = NULL;
    struct store *s = NULL;
    int r = open_store(ctx, &cfg, &s);
    if (r != EXIT_OK)
        return r;
    struct strategy_set *set = NULL;
    struct diags d = DIAGS_INIT;
    r = strategy_set_load(cfg, &file, 1, &set, &d);
    diags_sort(&d);
    diags_print(&d, stderr);
    size_t nerr = d.nerrors;
    diags_release(&d);
    int ex = EXIT_OK;
    if (r < 0 || nerr) {
        log_error("cannot load the candidate strategies '%s'", file);
        ex = r == -EINVAL || nerr ? EXIT_DATA : EXIT_RUNTIME;
        goto out;
    }
    struct evaluate_result res;
    if (dec_path && !(eo.decisions = fopen(dec_path, "w"))) {
        log_error("cannot write '%s': %m", dec_path);
        ex = EXIT_RUNTIME;
        goto out;
    }
    r = evaluate_run(s, cfg, set, &eo, &res);
    if (eo.decisions && fclose(eo.decisions) != 0 && r >= 0) {
        log_error("cannot write '%s': %m", dec_path);
        r = -EIO;
    }
    if (r == -ENOENT) {
        log_error("no decision of %s .. %s has a logged choice probability and an outcome "
                  "(decisions are logged by 'cadenza run', outcomes imported)", from_s, to_s);
        ex = EXIT_DATA;
        goto out;
    }
    if (r < 0) {
        log_error("cannot evaluate on '%s': %s", cfg->store_path,
                  r == -ENOMEM ? "out of memory" : r == -EIO ? "write error" : store_errmsg(s));
        ex = EXIT_RUNTIME;
        goto out;
    }
    if (json)
        ex = print_evaluate_json(&res, file, from_s, to_s) < 0 ? EXIT_RUNTIME : EXIT_OK;
    else
        print_evaluate_text(&res, file, from_s, to_s);
out:
    strategy_set_free(set);
    store_free(s);
    config_free(cfg);
    return ex;
}

/* ---- the contact report ---- */

struct contact_ctx {
    struct report *rep;
    struct tz_cache *zones;
    const char *currency;
};

/* Each debtor from the store: local hours and currency, then counted. */
static int contact_debtor(void *ctx, struct report_debtor *d, const char *time_zone,
                          const char *currency)
{
    struct contact_ctx *c = ctx;
    const struct tz *z = NULL;
    if (tz_cache_get(c->zones, time_zone, &z) < 0)
        z = NULL;
    for (size_t i = 0; i < d->nattempts; i++) {
        struct report_attempt *a = &d->attempts[i];
        if (z) {
            struct tz_local l;
            tz_to_local(z, a->at, &l);
            a->local_day = l.days;
            a->local_hour = l.sec_of_day / 3600;
        }
    }
    d->in_currency = strcasecmp(currency, c->currency) == 0;
    return report_add_debtor(c->rep, d);
}

/* Parse --from/--to into [from, to) in seconds; logs; EXIT_OK or EXIT_USAGE. */
static int parse_range(const char *from_s, const char *to_s, int32_t *ret_from, int32_t *ret_to)
{
    if (!from_s || !to_s) {
        log_error("the contact report needs --from and --to (YYYY-MM-DD, inclusive)");
        return EXIT_USAGE;
    }
    if (parse_date(from_s, strlen(from_s), ret_from) < 0) {
        log_error("invalid date '%s' for --from: expected YYYY-MM-DD (a real calendar date)",
                  from_s);
        return EXIT_USAGE;
    }
    if (parse_date(to_s, strlen(to_s), ret_to) < 0) {
        log_error("invalid date '%s' for --to: expected YYYY-MM-DD (a real calendar date)",
                  to_s);
        return EXIT_USAGE;
    }
    if (*ret_to < *ret_from) {
        log_error("--to '%s' is before --from '%s'", to_s, from_s);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Write the report to path (through a temporary file renamed into place) or stdout. */
static int write_report(const struct report *rep, enum report_format fmt, const char *path)
{
    if (!path) {
        int r = report_render(rep, fmt, stdout);
        if (r < 0)
            log_error("cannot write the report: %s", r == -ENOMEM ? "out of memory"
                                                                  : "write error");
        return r < 0 ? EXIT_RUNTIME : EXIT_OK;
    }
    _cleanup_free_ char *tmp = strdupf("%s.tmp.%ld", path, (long)getpid());
    if (!tmp) {
        log_error("out of memory");
        return EXIT_RUNTIME;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        log_error("cannot write '%s': %m", tmp);
        return EXIT_RUNTIME;
    }
    int r = report_render(rep, fmt, f);
    if (fclose(f) != 0 && r >= 0)
        r = -EIO;
    if (r >= 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        errno = r == -EIO ? EIO : -r;
        log_error("cannot write '%s': %m", path);
        unlink(tmp);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

static int report_contacts(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "from", required_argument, NULL, 'F' },
        { "to", required_argument, NULL, 'T' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'o' },
        { "currency", required_argument, NULL, 'C' },
        { "now", required_argument, NULL, 'N' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const char *from_s = NULL, *to_s = NULL, *out = NULL, *cur = NULL;
    enum report_format fmt = REPORT_FORMAT_TABLE;
    int64_t now = (int64_t)time(NULL);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'F':
            from_s = optarg;
            break;
        case 'T':
            to_s = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'C':
            cur = optarg;
            break;
        case 'N':
            if (campaign_parse_time(optarg, strlen(optarg), &now) < 0) {
                log_error("invalid time '%s' for --now: expected RFC 3339 "
                          "(2026-03-10T08:00:00Z)", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'f':
            if ((int)(fmt = report_format_from_string(optarg)) < 0) {
                log_error("unknown format '%s': expected table, json, csv or html", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            report_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        log_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    int32_t from, to;
    int ex = parse_range(from_s, to_s, &from, &to);
    if (ex != EXIT_OK)
        return ex;
    if (cur && currency_exponent(cur) < 0) {
        log_error("unknown currency '%s' for --currency: expected an ISO 4217 code (EUR)", cur);
        return EXIT_USAGE;
    }

    struct config *cfg = NULL;
    struct store *s = NULL;
    if ((ex = open_store(ctx, &cfg, &s)) != EXIT_OK)
        return ex;
    struct strategy_set *set = NULL;
    struct report_cost *costs = NULL;
    struct report *rep = NULL;
    struct contact_ctx cc = { 0 };
    struct diags d = DIAGS_INIT;
    /* tier order, champions and grace days; the report stands without them */
    if (strategy_set_load(cfg, NULL, 0, &set, &d) < 0 || d.nerrors) {
        log_warning("the configured strategies do not load ('cadenza validate' says why): "
                    "tiers are ordered by name, champions found by name");
        strategy_set_free(set);
        set = NULL;
    }
    diags_release(&d);
    if (!cur)
        cur = cfg->default_currency ? cfg->default_currency : "EUR";
    if (!(costs = calloc(cfg->nchannels + 1, sizeof(*costs)))) {
        ex = EXIT_RUNTIME;
        log_error("out of memory");
        goto out;
    }
    for (size_t i = 0; i < cfg->nchannels; i++)
        costs[i] = (struct report_cost){ cfg->channels[i].name, cfg->channels[i].cost };
    int e = currency_exponent(cur);
    struct report_opts ro = {
        .from = from,
        .to = to,
        .now = now,
        .currency = cur,
        .currency_exp = e < 0 ? 2 : e,
        .costs = costs,
        .ncosts = cfg->nchannels,
        .strategies = set,
    };
    if (!(rep = report_new(&ro)) || !(cc.zones = tz_cache_new())) {
        ex = EXIT_RUNTIME;
        log_error("out of memory");
        goto out;
    }
    cc.rep = rep;
    cc.currency = cur;
    /* local days: the UTC days around them, the report keeps the right attempts */
    int64_t a = (int64_t)from * 86400 - REPORT_DAY_MARGIN;
    int64_t b = ((int64_t)to + 1) * 86400 + REPORT_DAY_MARGIN;
    int r = store_report_debtors(s, a - (int64_t)REPORT_ATTRIBUTION_DAYS * 86400, a, b,
                                 contact_debtor, &cc);
    if (r >= 0)
        r = report_finish(rep);
    if (r < 0) {
        log_error("cannot make the report from '%s': %s", cfg->store_path,
                  r == -ENOMEM ? "out of memory" : store_errmsg(s));
        ex = EXIT_RUNTIME;
        goto out;
    }
    if (!rep->total.planned) {
        log_error("no attempts from %s to %s in '%s': nothing to report (attempts are "
                  "recorded by 'cadenza run')", from_s, to_s, cfg->store_path);
        ex = EXIT_DATA;
        goto out;
    }
    ex = write_report(rep, fmt, out);
out:
    tz_cache_free(cc.zones);
    report_free(rep);
    free(costs);
    strategy_set_free(set);
    store_free(s);
    config_free(cfg);
    return ex;
}

/* Is this command line the off-policy evaluation (it names --evaluate)? */
static bool wants_evaluate(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (streq(a, "--"))
            break;
        if (strncmp(a, "--evaluate", 10) == 0 || (a[0] == '-' && a[1] == 'e'))
            return true;
    }
    return false;
}

int cmd_report(int argc, char **argv, const struct cli_ctx *ctx)
{
    if (argc < 2) {
        log_error("missing report: --from D --to D, 'calibration' or --evaluate STRATEGY-FILE");
        return EXIT_USAGE;
    }
    if (streq(argv[1], "-h") || streq(argv[1], "--help")) {
        report_usage(stdout);
        return EXIT_OK;
    }
    if (streq(argv[1], "calibration"))
        return report_calibration(argc - 1, argv + 1, ctx);
    if (argv[1][0] == '-')
        return wants_evaluate(argc, argv) ? report_evaluate(argc, argv, ctx)
                                          : report_contacts(argc, argv, ctx);
    log_error("unknown report '%s': expected --from D --to D, 'calibration' or --evaluate",
              argv[1]);
    return EXIT_USAGE;
}
