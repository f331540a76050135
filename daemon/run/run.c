/*
 * run.c - the daily campaign run of one date (run.h).
 *
 *   store_run_begin ─► campaign_plan_day (persist) ─► dispatch_enqueue_run
 *                   ─► store_run_finish(done | failed | incomplete | stopped)
 *
 * Owns nothing beyond the call.  Must never: mark the run done before
 * every planned attempt of it is queued, or leave it "running" when it
 * returns (a failure records failed, incomplete or stopped).
 */
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Every attempt of the run (planned, and of those the ones that went past the queue). */
static void run_counts(const int64_t c[_ATTEMPT_STATUS_MAX], int64_t *planned,
                       int64_t *enqueued)
{
    *planned = 0;
    for (int i = 0; i < _ATTEMPT_STATUS_MAX; i++)
        *planned += c[i];
    *enqueued = *planned - c[ATTEMPT_PLANNED];
}

int run_day(struct store *s, struct queue *q, const struct config *cfg,
            const struct strategy_set *set, struct run_opts *o, struct run_result *ret,
            char *err, size_t errlen)
{
    struct run_result rr = { .status = "failed" };
    int r;

    err[0] = 0;
    if ((r = store_run_begin(s, o->plan.date, (int64_t)time(NULL), &rr.run_id, &rr.rerun)) <
        0) {
        snprintf(err, errlen, "cannot record the run: %s", store_errmsg(s));
        *ret = rr;
        return r;
    }
    o->plan.persist = true;
    o->plan.run_id = rr.run_id;
    if ((r = campaign_plan_day(s, cfg, set, &o->plan, o->decision, o->ctx, &rr.plan)) < 0) {
        rr.status = r == -ECANCELED ? "stopped" : "failed";
        if (r == -ECANCELED)
            snprintf(err, errlen, "stopped while planning");
        else
            snprintf(err, errlen, "planning failed: %s",
                     r == -ENOMEM ? "out of memory" : store_errmsg(s));
        store_run_finish(s, rr.run_id, rr.status, rr.plan.planned, 0, (int64_t)time(NULL));
        *ret = rr;
        return r;
    }
    if (o->enqueue &&
        (r = dispatch_enqueue_run_hooked(s, q, rr.run_id, set, o->hooks, &rr.enq, err,
                                         errlen)) < 0) {
        /* a stop asked for while Redis failed is a stop all the same */
        bool stop = r == -ECANCELED ||
                    (o->plan.cancel && atomic_load(o->plan.cancel));
        rr.status = stop ? "stopped" : "incomplete";
        if (stop)
            r = -ECANCELED;
        store_run_finish(s, rr.run_id, rr.status, rr.plan.planned, rr.enq.jobs,
                         (int64_t)time(NULL));
        *ret = rr;
        return r;
    }
    int64_t counts[_ATTEMPT_STATUS_MAX];
    if ((r = store_attempt_counts(s, rr.run_id, counts)) < 0) {
        snprintf(err, errlen, "cannot record the run: %s", store_errmsg(s));
        store_run_finish(s, rr.run_id, "failed", rr.plan.planned, rr.enq.jobs,
                         (int64_t)time(NULL));
        *ret = rr;
        return r;
    }
    run_counts(counts, &rr.planned, &rr.enqueued);
    if (!o->enqueue)
        rr.enqueued = 0;
    if ((r = store_run_finish(s, rr.run_id, "done", rr.planned, rr.enqueued,
                              (int64_t)time(NULL))) < 0) {
        snprintf(err, errlen, "cannot record the run: %s", store_errmsg(s));
        *ret = rr;
        return r;
    }
    rr.status = "done";
    *ret = rr;
    return 0;
}
