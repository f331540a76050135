/*
 * run.h - the daily campaign run of one date, the same whoever starts it
 * (`cadenza run` from a timer, the daemon's scheduler at its configured
 * time or on demand): record the run, plan the day and persist the
 * attempts (campaign.h), enqueue one job per attempt (dispatch.h),
 * record how it ended.
 *
 * Idempotent: a date run twice, or again after a crash or a stop half
 * way, plans nothing twice (attempts are keyed by date, debtor and
 * number) and queues nothing twice (the queue skips an attempt id it
 * has; the attempts marked queued are not read again).
 */
#ifndef CADENZA_RUN_H
#define CADENZA_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "campaign.h"
#include "dispatch.h"

struct run_opts {
    struct campaign_opts plan;      /* date, now, seed, redraws, threads, cancel (persist and
                                       run_id are set by run_day) */
    bool enqueue;                   /* enqueue the planned attempts (q must be connected) */
    /* each persisted decision, as campaign_plan_day() passes it (NULL: none) */
    int (*decision)(void *ctx, const struct campaign_decision *d);
    void *ctx;
    const struct dispatch_enqueue_hooks *hooks; /* labels, cancel (plan.cancel too), or NULL */
};

struct run_result {
    int64_t run_id;
    bool rerun;                     /* the date had a run already */
    const char *status;             /* as recorded: "done", "failed", "incomplete", "stopped" */
    struct campaign_stats plan;
    struct dispatch_enqueue_stats enq;
    int64_t planned, enqueued;      /* the whole run's attempts as recorded in runs */
};

/*
 * Run o->plan.date.  0 when every planned attempt is in Redis (or
 * recorded, without enqueue); else -errno with a message in err and the
 * status recorded in ret->status ("stopped" after o->plan.cancel,
 * -ECANCELED; "incomplete": planned, not all queued, run it again).
 * Blocks (minutes for millions of debtors); run it off any event loop.
 */
int run_day(struct store *s, struct queue *q, const struct config *cfg,
            const struct strategy_set *set, struct run_opts *o, struct run_result *ret,
            char *err, size_t errlen);

#endif
