/*
 * worker.h - the dispatcher: leases jobs from Redis, re-checks them,
 * sends them through their channel and settles them.  Needs only the
 * Redis URL and the channel settings: a worker never opens the SQLite
 * store.
 *
 * A worker is a component on its caller's event loop (worker_new());
 * `cadenza worker` runs one on a loop of its own (worker_run()).  It
 * wakes on its Redis replies, its channels' completions and one timer
 * armed at the next deadline (a lease due, a lease to renew, a settle
 * to retry, the idle or stop timeout), never on a polling tick.
 */
#ifndef CADENZA_WORKER_H
#define CADENZA_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct curlm;
struct event_base;
struct worker;

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
    double until_idle_s;          /* < 0: run until stopped; >= 0: finish after idle */
    struct curlm *curlm;          /* the loop's HTTP/SMTP client; NULL: the worker's own */
    /*
     * Called once when the worker has finished: stopped and settled (or
     * the stop timeout passed), idle for until_idle_s, or a fatal error
     * (status -errno as worker_run() returns it).  The worker stays
     * allocated until worker_free(); it takes no lease after this.
     */
    void (*on_finished)(void *arg, int status);
    void *arg;
};

/* The defaults of `cadenza worker` (until_idle_s -1: until stopped). */
void worker_opts_init(struct worker_opts *o);
/* Take the channels and the Redis connection from cfg.  -EINVAL: no Redis URL (logged). */
int worker_opts_set_config(struct worker_opts *o, const struct config *cfg);

/*
 * Start serving the configured channels on base: starts the channel
 * instances and the Redis connection (which connects in the background).
 * 0, or -EINVAL (a channel or template set did not start; logged),
 * -ENOMEM.  *o must outlive the worker.
 */
int worker_new(struct event_base *base, const struct worker_opts *o, struct worker **ret);

/*
 * Take no new lease and finish once every leased job is settled, or
 * when the stop timeout passed or Redis stayed unreachable for its
 * timeout (unsettled jobs are redelivered when their leases lapse).
 */
void worker_stop(struct worker *w);

/* Free the worker; jobs not settled yet are redelivered after their leases. */
void worker_free(struct worker *w);

/* Figures for /metrics and readiness. */
struct worker_channel_stats {
    const char *name, *kind;
    uint64_t sent, failed, retried, dead, cancelled, via_fallback, breaker_opened;
    int inflight;          /* leased, not settled */
    bool breaker_open;     /* its jobs go through the fallback now */
};
size_t worker_channel_count(const struct worker *w);
void worker_channel_stats(const struct worker *w, size_t i, struct worker_channel_stats *ret);
/* Connected to Redis (the handshake answered)? */
bool worker_connected(const struct worker *w);

/*
 * `cadenza worker`: one worker on a loop of its own, until SIGTERM or
 * SIGINT (then worker_stop()) or idle.  0 on a clean exit, -errno otherwise
 * (-ENOTCONN: with until_idle_s >= 0, Redis could not be reached at the
 * start, or not for QUEUE_RETRY_MS later on).
 */
int worker_run(const struct worker_opts *o);

#endif
