/*
 * worker.h - `cadenza worker`: the dispatch loop.  Leases jobs from
 * Redis, re-checks them, sends them through their channel and settles
 * them.  Needs only the Redis URL and the channel settings: a worker
 * never opens the SQLite store.
 */
#ifndef CADENZA_WORKER_H
#define CADENZA_WORKER_H

#include <stdint.h>

struct config;

struct worker_opts {
    const struct config *config;  /* channels (and their settings) */
    const char *redis_url;
    const char *prefix;           /* NULL: "cz:" */
    int64_t redis_timeout_ms;     /* connect and reply timeout (0: the queue's default) */
    int64_t stop_timeout_ms;      /* SIGTERM: exit by then, settled or not (default 10000) */
    const char *const *channels;  /* names to serve; NULL: every configured channel */
    size_t nchannels;
    int concurrency;              /* jobs in flight per channel (default 512) */
    int batch;                    /* jobs per lease call (default 256) */
    int64_t visibility_ms;        /* lease length (default 60000) */
    /*
     * No job is handed to the channel with less than this left on its
     * lease; a batch still unsettled then renews its leases first.
     * 0: half the visibility timeout (capped at three quarters of it).
     * Keep it above the longest a send can take or the process stall.
     */
    int64_t lease_margin_ms;
    int max_tries;                /* failed tries before the dead letter (default 5) */
    int64_t retry_base_ms;        /* first backoff (default 1000), doubled per try */
    int64_t retry_max_ms;         /* backoff cap (default 3600000) */
    double until_idle_s;          /* < 0: run until signalled; >= 0: exit after idle */
};

/*
 * Run until SIGTERM/SIGINT or idle.  0 on a clean exit, -errno otherwise
 * (-ENOTCONN: with until_idle_s >= 0, Redis could not be reached at the
 * start, or not for QUEUE_RETRY_MS later on).
 */
int worker_run(const struct worker_opts *o);

#endif
