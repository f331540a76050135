/*
 * cmd-report.c - `cadenza report`: checks of what the planner learned,
 * from the store's own history.  Read only.
 *
 *   report calibration   the payment propensity, predicted against observed
 *                        per decile (docs/planner.md, "Payment propensity")
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "campaign.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "propensity.h"
#include "store.h"
#include "util.h"

static void report_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza report calibration [--date YYYY-MM-DD] [--format text|json]\n"
            "\n"
            "calibration: fit the payment propensity as the planner would have at the\n"
            "start of DATE (default: 30 days ago), predict it for every debtor imported\n"
            "by then and compare with who paid in the 30 days from DATE: per decile of\n"
            "the prediction, debtors, mean prediction, observed rate; Brier score, log\n"
            "loss and the expected calibration error.\n"
            "\n"
            "Options:\n"
            "  -d, --date DATE    the day predictions are made (00:00 UTC)\n"
            "  -f, --format FMT   text (default) or json\n"
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

int cmd_report(int argc, char **argv, const struct cli_ctx *ctx)
{
    if (argc < 2) {
        log_error("missing report: 'calibration'");
        return EXIT_USAGE;
    }
    if (streq(argv[1], "-h") || streq(argv[1], "--help")) {
        report_usage(stdout);
        return EXIT_OK;
    }
    if (streq(argv[1], "calibration"))
        return report_calibration(argc - 1, argv + 1, ctx);
    log_error("unknown report '%s': expected 'calibration'", argv[1]);
    return EXIT_USAGE;
}
