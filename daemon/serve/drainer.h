/*
 * drainer.h - the daemon's results drain: a thread with a Redis and a
 * store connection of its own that moves the workers' results into the
 * store (dispatch_drain(): read, commit, acknowledge) every interval, so
 * the loop never waits on SQLite or a blocking Redis call.
 */
#ifndef CADENZA_DRAINER_H
#define CADENZA_DRAINER_H

#include <stdint.h>

#include "metrics.h"
#include "store.h"

struct drainer;

struct drainer_opts {
    const char *store_path;
    const char *redis_url, *prefix;
    int64_t redis_timeout_ms;
    int64_t interval_ms;  /* between passes (0: 200) */
    /*
     * In the drain thread, once a page is committed: a result settled an
     * attempt as invalid_address or opted_out (news for a re-plan).
     */
    void (*on_news)(void *ud, int64_t attempt_id, enum attempt_status st);
    void *ud;
};

struct drainer_stats {
    uint64_t passes, results, applied, foreign, errors;
    int64_t last_ok;          /* Unix ms of the last pass that succeeded (0: none yet) */
    struct histogram latency; /* passes that moved results: read + commit + acknowledge */
};

/* Start the thread (it connects on its own, retrying).  0 or -errno. */
int drainer_start(const struct drainer_opts *o, struct drainer **ret);
/* One last pass, then join and free.  NULL is fine. */
void drainer_stop(struct drainer *d);
void drainer_stats_get(struct drainer *d, struct drainer_stats *ret);

#endif
