/*
 * drainer.c - the daemon's results drain thread (drainer.h).
 *
 * The thread owns its connections: a blocking Redis connection
 * (queue.c) and a store connection of its own (SQLite in WAL mode lets
 * the loop's connection read meanwhile).  Each pass drains the results
 * stream to the end; a failed pass is logged once per streak of failures
 * and tried again at the next interval (the stream keeps what was not
 * acknowledged, so nothing is lost).  Stopping runs one last pass.
 */
#include "drainer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch.h"
#include "log.h"
#include "queue.h"
#include "store.h"

static const double drain_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1.0,  5.0,   1e300 };

struct drainer {
    struct drainer_opts o;
    char *store_path, *redis_url, *prefix;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    struct drainer_stats st; /* under mu */
};

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Connect what is missing; false (logged once per streak) when something is not there. */
static bool connect_all(struct drainer *d, struct store **s, struct queue **q, bool *warned)
{
    char err[512];
    int r;
    if (!*s && (r = store_open(d->store_path, 0, s, err, sizeof(err))) < 0) {
        if (!*warned)
            log_error("results drain: cannot open the store '%s': %s", d->store_path, err);
        *warned = true;
        return false;
    }
    if (!*q && (r = queue_connect(d->redis_url, d->prefix, d->o.redis_timeout_ms, q, err,
                                  sizeof(err))) < 0) {
        if (!*warned)
            log_warning("results drain: cannot reach redis '%s': %s; retrying", d->redis_url,
                        err);
        *warned = true;
        return false;
    }
    if (*q)
        queue_set_retry(*q, 0); /* the next pass is the retry */
    return true;
}

/* A settled attempt: tell the re-planner when the result is news to plan around. */
static void on_applied(void *ctx, int64_t attempt_id, enum attempt_status st)
{
    struct drainer *d = ctx;
    if (d->o.on_news && (st == ATTEMPT_INVALID_ADDRESS || st == ATTEMPT_OPTED_OUT))
        d->o.on_news(d->o.ud, attempt_id, st);
}

static void *drain_main(void *arg)
{
    struct drainer *d = arg;
    struct store *s = NULL;
    struct queue *q = NULL;
    bool warned = false, last = false;
    for (;;) {
        if (connect_all(d, &s, &q, &warned)) {
            struct dispatch_drain_stats ds = { 0 };
            char err[512] = "";
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            int r = dispatch_drain_notify(s, q, on_applied, d, &ds, err, sizeof(err));
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
            pthread_mutex_lock(&d->mu);
            d->st.passes++;
            d->st.results += (uint64_t)ds.results;
            d->st.applied += (uint64_t)ds.applied;
            d->st.foreign += (uint64_t)ds.foreign;
            if (r < 0)
                d->st.errors++;
            else
                d->st.last_ok = wall_ms();
            if (ds.results > 0)
                histogram_observe(&d->st.latency, secs);
            pthread_mutex_unlock(&d->mu);
            if (r < 0) {
                if (!warned)
                    log_warning("results drain: %s; retrying", err);
                warned = true;
                /* a broken connection is made anew at the next pass */
                queue_free(q);
                q = NULL;
            } else {
                if (warned)
                    log_notice("results drain: working again");
                warned = false;
            }
        }
        if (last)
            break;
        pthread_mutex_lock(&d->mu);
        if (!d->stop) {
            struct timespec ts;
            deadline_in(&ts, d->o.interval_ms);
            pthread_cond_timedwait(&d->cond, &d->mu, &ts);
        }
        last = d->stop;
        pthread_mutex_unlock(&d->mu);
    }
    queue_free(q);
    store_free(s);
    return NULL;
}

int drainer_start(const struct drainer_opts *o, struct drainer **ret)
{
    struct drainer *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->o = *o;
    if (d->o.interval_ms <= 0)
        d->o.interval_ms = 200;
    d->store_path = strdup(o->store_path);
    d->redis_url = strdup(o->redis_url);
    d->prefix = o->prefix ? strdup(o->prefix) : NULL;
    histogram_init(&d->st.latency, drain_bounds, ELEMENTSOF(drain_bounds));
    pthread_condattr_t ca;
    int r = -ENOMEM;
    if (!d->store_path || !d->redis_url || (o->prefix && !d->prefix))
        goto fail;
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cond, &ca);
    pthread_condattr_destroy(&ca);
    if ((r = pthread_create(&d->thread, NULL, drain_main, d)) != 0) {
        r = -r;
        pthread_cond_destroy(&d->cond);
        pthread_mutex_destroy(&d->mu);
        goto fail;
    }
    *ret = d;
    return 0;
fail:
    free(d->store_path);
    free(d->redis_url);
    free(d->prefix);
    free(d);
    return r;
}

void drainer_stop(struct drainer *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->mu);
    free(d->store_path);
    free(d->redis_url);
    free(d->prefix);
    free(d);
}

void drainer_stats_get(struct drainer *d, struct drainer_stats *ret)
{
    pthread_mutex_lock(&d->mu);
    *ret = d->st;
    pthread_mutex_unlock(&d->mu);
}
