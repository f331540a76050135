/*
 * scheduler.h - the daemon's scheduler: the daily campaign run at a
 * configured local time (and on demand), the re-plan of a debtor at once
 * after news (an outcome stored, a worker's result, a promise broken),
 * and the timer that finds broken promises.
 *
 * Planning never happens on the event loop: a run has a thread of its
 * own and re-plans one long-lived thread, each with its own store and
 * Redis connections; the loop arms timers and learns what the threads
 * did through an eventfd.  Both plan with run.h and campaign.h, the code
 * `cadenza run` uses, so a debtor is planned the same way whoever asks.
 */
#ifndef CADENZA_SCHEDULER_H
#define CADENZA_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct config;
struct event_base;
struct sched;
struct strategy_set;

/* Why a debtor is re-planned (metric label; append-only). */
enum sched_trigger {
    SCHED_OUTCOME, /* an outcome with a strategy reaction was stored (API, webhooks) */
    SCHED_RESULT,  /* a worker's result settled an attempt as an invalid address / opt-out */
    SCHED_PROMISE, /* a pause for a promise ended: the promise is kept or broken */
    _SCHED_TRIGGER_MAX,
};

struct sched_opts {
    const char *store_path;
    const char *redis_url, *prefix;
    int64_t redis_timeout_ms;
};

/* Start the re-plan thread (it connects on its own).  0 or -errno. */
int sched_new(struct event_base *base, const struct sched_opts *o, struct sched **ret);
/*
 * Stop: cancel a run under way (it records "stopped"), end the re-plan
 * thread, join both, release every configuration.  May block until the
 * threads reach their next check (a debtor, a page of jobs).  NULL is fine.
 */
void sched_free(struct sched *s);

/*
 * On the loop: plan with this configuration (serve.* keys, channels) and
 * strategy set from now on.  The scheduler holds them until it calls
 * release(ud), on the loop, once no thread plans with them any more.
 * The first call starts the timers: the daily run (and a catch-up run of
 * today's date when its time has passed and the date has no finished
 * run) and the broken-promise timer.
 */
void sched_set_config(struct sched *s, const struct config *cfg, const struct strategy_set *set,
                      void (*release)(void *ud), void *ud);

/*
 * On the loop: start the run of `date` (days since epoch; 0: today in
 * serve.time_zone) now, in its thread; why names the trigger in the log.
 * 0, -EBUSY (a run is under way; *ret_date is its date), -ESHUTDOWN
 * (stopping), -EAGAIN (no configuration yet), -errno.
 */
int sched_run_now(struct sched *s, int32_t date, const char *why, int32_t *ret_date);

/*
 * Any thread: re-plan these debtors (internal ids) soon, batched with
 * others.  at[i] (at NULL: now) is when the news happened: news dated up
 * to 5 minutes ahead of the clock waits until then (the planner acts on
 * outcomes at or before its `now`).
 */
void sched_replan(struct sched *s, const int64_t *debtor_ids, const int64_t *at, size_t n,
                  enum sched_trigger why);
/* Any thread: re-plan the debtor of this attempt soon (SCHED_RESULT). */
void sched_replan_attempt(struct sched *s, int64_t attempt_id);

/* On the loop, at SIGTERM: cancel a run under way, stop the timers, take no more re-plans. */
void sched_stop(struct sched *s);

/* The scheduler's metric families (docs/daemon.md), into b.  0 or -ENOMEM. */
int sched_metrics(struct sched *s, struct sbuf *b);

#endif
