/*
 * cmd-run.c - `cadenza run --date D`: the daily campaign run.
 *
 *   drain results -> plan the day and persist attempts -> enqueue jobs
 *
 * Every step is idempotent, so running a date twice, or again after a
 * crash half-way, sends nothing twice: attempts are keyed by date and
 * debtor, the queue ignores an attempt id it has seen, and results are
 * applied once.  Exit 0 only when every planned job is safely in Redis.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign.h"
#include "cli.h"
#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "queue.h"
#include "run.h"
#include "store.h"
#include "strategy.h"

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza run --date YYYY-MM-DD [options]\n"
            "\n"
            "The daily campaign run: drain workers' results into the store, plan the\n"
            "day (attempts are written to the store), then enqueue one self-contained\n"
            "job per attempt into Redis.  Safe to repeat: nothing is planned or queued\n"
            "twice for the same date.\n"
            "\n"
            "Options:\n"
            "  -d, --date DATE      the local date to plan (required): YYYY-MM-DD,\n"
            "                       'today' or 'tomorrow' (the server's calendar)\n"
            "  -S, --seed S         exploration seed (default: the date)\n"
            "  -n, --now TIME       plan no slot before TIME (RFC 3339; default: now,\n"
            "                       or the start of the date if that is later)\n"
            "      --no-enqueue     plan and record the attempts, leave them unqueued\n"
            "                       (an external dialer, a simulation)\n"
            "      --redraws K      at most K re-draws estimate the probability with which\n"
            "                       each contact was chosen, stored for off-policy\n"
            "                       evaluation (default 1000; 0: none)\n"
            "  -h, --help           this help\n"
            "\n"
            "Exit status: 0 every planned job is in Redis (or recorded, --no-enqueue),\n"
            "1 strategy or config errors, 2 usage, 3 store or Redis failure.\n");
}

struct summary {
    int64_t planned;
    int64_t by_kind[_CHAN_KIND_MAX];
    int64_t by_hour[24];
    struct {
        const char *strategy, *tier; /* borrowed from the strategy set */
        int64_t n;
    } tiers[64];
    size_t ntiers;
    int64_t other_tiers;
};

static int on_decision(void *ctx, const struct campaign_decision *d)
{
    struct summary *s = ctx;
    if (!d->cand || !d->attempt_id)
        return 0;
    s->planned++;
    if (d->cand->kind < _CHAN_KIND_MAX)
        s->by_kind[d->cand->kind]++;
    int h = d->cand->local_min / 60;
    if (h >= 0 && h < 24)
        s->by_hour[h]++;
    const char *sn = d->strategy ? d->strategy->name : "-";
    const char *tn = d->tier ? d->tier : "-";
    for (size_t i = 0; i < s->ntiers; i++)
        if (streq(s->tiers[i].strategy, sn) && streq(s->tiers[i].tier, tn)) {
            s->tiers[i].n++;
            return 0;
        }
    if (s->ntiers < ELEMENTSOF(s->tiers)) {
        /* tier names borrow from the set, which outlives the summary */
        s->tiers[s->ntiers].strategy = sn;
        s->tiers[s->ntiers].tier = d->tier ? d->tier : "-";
        s->tiers[s->ntiers++].n = 1;
    } else
        s->other_tiers++;
    return 0;
}

static void print_summary(const struct summary *s, const char *date, bool rerun,
                          const struct campaign_stats *cs, const struct dispatch_drain_stats *ds,
                          const struct dispatch_enqueue_stats *es, bool enqueue)
{
    printf("run %s%s: %" PRId64 " debtors, %" PRId64 " new attempts planned",
           date, rerun ? " (re-run)" : "", cs->debtors, s->planned);
    if (cs->attempts_existing)
        printf(", %" PRId64 " already planned", cs->attempts_existing);
    printf("\n");
    if (ds)
        printf("results drained: %" PRId64 " (%" PRId64 " applied)\n", ds->results, ds->applied);
    if (enqueue)
        printf("jobs enqueued: %" PRId64 " (%" PRId64 " new in Redis, %" PRId64
               " not sendable)\n",
               es->jobs, es->added, es->skipped);
    else
        printf("jobs not enqueued (--no-enqueue)\n");
    if (!s->planned)
        return;
    printf("\nBy tier:\n");
    for (size_t i = 0; i < s->ntiers; i++) {
        char name[128];
        snprintf(name, sizeof(name), "%s/%s", s->tiers[i].strategy, s->tiers[i].tier);
        printf("  %-36s %8" PRId64 "\n", name, s->tiers[i].n);
    }
    if (s->other_tiers)
        printf("  %-36s %8" PRId64 "\n", "(other tiers)", s->other_tiers);
    printf("\nBy channel:\n");
    for (int k = 0; k < _CHAN_KIND_MAX; k++)
        if (s->by_kind[k])
            printf("  %-36s %8" PRId64 "\n", chan_kind_to_string(k), s->by_kind[k]);
    printf("\nBy local hour:\n");
    for (int h = 0; h < 24; h++)
        if (s->by_hour[h])
            printf("  %02d:00-%02d:59%26s %8" PRId64 "\n", h, h, "", s->by_hour[h]);
}

static void notify(void *userdata, const char *msg)
{
    log_warning("%s", msg);
}

int cmd_run(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "date", required_argument, NULL, 'd' },
        { "seed", required_argument, NULL, 'S' },
        { "now", required_argument, NULL, 'n' },
        { "no-enqueue", no_argument, NULL, 'E' },
        { "redraws", required_argument, NULL, 'K' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const char *date_s = NULL, *seed_s = NULL, *now_s = NULL;
    bool enqueue = true;
    long redraws = CAMPAIGN_REDRAWS;
    int c;
    while ((c = getopt_long(argc, argv, "d:S:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            date_s = optarg;
            break;
        case 'S':
            seed_s = optarg;
            break;
        case 'n':
            now_s = optarg;
            break;
        case 'E':
            enqueue = false;
            break;
        case 'K':
            if (cli_parse_long("--redraws", optarg, 0, 100000, &redraws) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 'h':
            run_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        log_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    struct campaign_opts o = { .persist = true, .redraws = (int)redraws };
    int ex = cli_plan_options(date_s, now_s, seed_s, &o);
    if (ex != EXIT_OK)
        return ex;
    char date_buf[11];
    format_date(o.date, date_buf);
    date_s = date_buf;

    struct config *cfg = NULL;
    struct strategy_set *set = NULL;
    struct store *s = NULL;
    struct queue *q = NULL;
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
        log_error("strategies have errors: run 'cadenza validate'");
        ret = r == -EINVAL || nerr ? EXIT_DATA : EXIT_RUNTIME;
        goto out;
    }
    char err[512];
    ret = EXIT_RUNTIME;
    if ((r = store_open(cfg->store_path, 0, &s, err, sizeof(err))) < 0) {
        log_error("cannot open store '%s': %s", cfg->store_path, err);
        goto out;
    }

    struct dispatch_drain_stats ds = { 0 };
    if (enqueue) {
        if ((r = queue_connect(cfg->redis_url, cfg->redis_prefix, cfg->redis_timeout_ms, &q,
                               err, sizeof(err))) < 0) {
            log_error("cannot reach redis '%s': %s", cfg->redis_url, err);
            goto out;
        }
        queue_set_notify(q, notify, NULL);
        if ((r = dispatch_drain(s, q, &ds, err, sizeof(err))) < 0) {
            log_error("%s", err);
            goto out;
        }
    }

    struct summary *sum = calloc(1, sizeof(*sum));
    if (!sum) {
        log_error("out of memory");
        goto out;
    }
    struct run_opts ro = { .plan = o, .enqueue = enqueue, .decision = on_decision, .ctx = sum };
    struct run_result rr;
    if ((r = run_day(s, q, cfg, set, &ro, &rr, err, sizeof(err))) < 0) {
        log_error("%s", err);
        if (streq(rr.status, "incomplete"))
            log_error("the run is incomplete: run it again to enqueue the rest");
        free(sum);
        goto out;
    }
    const struct campaign_stats cs = rr.plan;
    const struct dispatch_enqueue_stats es = rr.enq;
    bool rerun = rr.rerun;
    print_summary(sum, date_s, rerun, &cs, enqueue ? &ds : NULL, &es, enqueue);
    cli_note_day_passed(&o, &cs);
    free(sum);
    ret = EXIT_OK;
out:
    queue_free(q);
    store_free(s);
    strategy_set_free(set);
    config_free(cfg);
    return ret;
}
