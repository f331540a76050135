/*
 * queue.h - the Redis work queue (key layout: docs/queue.md).
 *
 * Two faces on one module:
 *  - struct queue: a blocking connection for the store owner (`run`,
 *    `queue drain`, `queue stats|dead`): enqueue, stop markers, results,
 *    stats, dead letters.  Every operation is idempotent, so on a lost
 *    connection it reconnects with backoff (for up to retry_ms) and
 *    repeats the operation.
 *  - struct queue_async: a non-blocking connection on a libevent loop
 *    for workers: lease, re-check, finish.  It reconnects by itself.
 * queue*.c are the only files that include hiredis or name a Redis key.
 *
 * Times are Unix milliseconds unless a name says otherwise.
 */
#ifndef CADENZA_QUEUE_H
#define CADENZA_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct job;
struct event_base;

#define QUEUE_DEFAULT_PREFIX "cz:"
#define QUEUE_DEFAULT_TIMEOUT_MS 5000 /* connect and reply timeout (redis.timeout) */
#define QUEUE_RETRY_MS 30000          /* how long a refused connection is retried */
#define QUEUE_DONE_TTL_S (35 * 86400) /* how long a sent/done marker is kept */

/* ---- blocking connection ------------------------------------------------ */

struct queue;

/*
 * Connect to url (redis://host[:port][/db], unix:///path[?db=N]) and
 * load the scripts.  prefix NULL means "cz:".  timeout_ms bounds the
 * connect and every reply (0: QUEUE_DEFAULT_TIMEOUT_MS); a reply that does
 * not come in time fails the operation with -ETIMEDOUT, never retried.
 * -EINVAL for a bad URL, -errno (e.g. -ECONNREFUSED, -ETIMEDOUT) when
 * Redis cannot be reached, with the reason in reterr (may be NULL).  May
 * block for up to timeout_ms.
 */
int queue_connect(const char *url, const char *prefix, int64_t timeout_ms, struct queue **ret,
                  char *reterr, size_t errlen);
void queue_free(struct queue *q);
/* The last error text from Redis or the connection ("" when none). */
const char *queue_errstr(const struct queue *q);
/*
 * Called (at most once per attempt) when the connection is lost and the
 * queue retries: the edge logs msg.  Default: none.  retry_ms bounds the
 * total time an operation keeps retrying (default 30000; 0 = no retry).
 */
void queue_set_notify(struct queue *q, void (*fn)(void *userdata, const char *msg),
                      void *userdata);
void queue_set_retry(struct queue *q, int64_t retry_ms);

/*
 * Enqueue jobs (validated with job_validate(); an invalid one fails the
 * call with -EINVAL before anything is sent).  Each job is due at its
 * not_before.  Batched (many jobs per script call) and pipelined.
 * Idempotent: an attempt id already queued, dead-lettered or done is
 * skipped.  *ret_added (may be NULL) gets the number actually added.
 * Returns 0 only when every job is in Redis.
 */
int queue_enqueue_batch(struct queue *q, const struct job *jobs, size_t n, size_t *ret_added);

/*
 * The same in two steps, for a producer that overlaps its own work with
 * Redis's: queue_enqueue_send() validates the jobs (-EINVAL), writes
 * their script calls and returns without waiting (the jobs may be
 * released at once); queue_enqueue_wait() reads the replies of the
 * oldest batch sent and not waited for, and returns 0 only when every
 * job of it is in Redis (*ret_added: how many were new).  Several
 * batches may be in flight; until the last is waited for, no other call
 * may use q.  On a failure every batch in flight is dropped: the caller
 * treats them all as not enqueued (enqueuing them again is harmless).
 */
int queue_enqueue_send(struct queue *q, const struct job *jobs, size_t n);
int queue_enqueue_wait(struct queue *q, size_t *ret_added);
/* Give up on every batch in flight (a producer that stops after an error). */
void queue_enqueue_drop(struct queue *q);

/*
 * Per-debtor stop marker: a worker cancels every job of the debtor
 * while it exists.  until: Unix seconds when it lapses, 0 = never.
 */
int queue_set_stop(struct queue *q, const char *debtor_id, const char *reason, int64_t until);
int queue_clear_stop(struct queue *q, const char *debtor_id);
/* 1 and *ret_reason (malloc'd, may be NULL) when set, 0 when not. */
int queue_get_stop(struct queue *q, const char *debtor_id, char **ret_reason);

/* Is the attempt done (sent or otherwise settled)?  1 yes, 0 no; status malloc'd. */
int queue_get_done(struct queue *q, int64_t attempt_id, char **ret_status);

/*
 * Results stream.  A result, borrowed for the callback:
 *   status: sent, failed, invalid_address, cancelled, retry, dead
 *   info: provider id (sent) or error / reason text
 * attempt_id is -1 for an entry that does not parse (foreign data; the
 * store owner skips it, the ack deletes it).
 */
struct queue_result {
    const char *stream_id;
    int64_t attempt_id;
    const char *status;
    const char *info;
    const char *channel;
    int tries;     /* failed tries before this result */
    int64_t at_ms; /* when the worker settled it */
};
typedef int (*queue_result_fn)(void *userdata, const struct queue_result *r);
/*
 * Read up to max results from the start of the stream, oldest first,
 * calling cb for each (a negative return from cb stops and is returned).
 * Returns the number read.  Nothing is removed: after the store has
 * committed them, queue_ack_results() deletes exactly the entries the
 * last read returned.  A crash in between re-delivers them, so ingest
 * must be idempotent (it is keyed by attempt id and status).
 */
int queue_read_results(struct queue *q, size_t max, queue_result_fn cb, void *userdata);
int queue_ack_results(struct queue *q);

struct queue_channel_stats {
    char *channel;
    int64_t ready;      /* waiting for a worker (incl. redeliveries) */
    int64_t scheduled;  /* not due yet (or due, not yet moved) */
    int64_t due;        /* of those, due now */
    int64_t retrying;   /* waiting for a retry */
    int64_t leased;     /* held by workers */
    int64_t oldest_due_ms; /* earliest due time among scheduled, 0 = none */
};
struct queue_stats {
    struct queue_channel_stats *channels;
    size_t nchannels;
    int64_t jobs;       /* payloads stored (queued + leased + dead) */
    int64_t dead;
    int64_t results;    /* results not drained yet */
};
int queue_stats(struct queue *q, int64_t now_ms, struct queue_stats *ret);
void queue_stats_release(struct queue_stats *s);

struct queue_dead {
    const char *id;      /* attempt id, or "key:<name>" for a quarantined key */
    const char *channel;
    const char *error;
    int64_t at_ms;
    int tries;
    const char *payload; /* NULL when none */
};
typedef int (*queue_dead_fn)(void *userdata, const struct queue_dead *d);
/* Oldest first, at most max (0 = all).  Returns the number listed. */
int queue_dead_list(struct queue *q, size_t max, queue_dead_fn cb, void *userdata);
/* ids NULL/n 0: all.  Retry requeues (due now, tries reset); purge deletes. */
int queue_dead_retry(struct queue *q, const char *const *ids, size_t n, size_t *ret_count);
int queue_dead_purge(struct queue *q, const char *const *ids, size_t n, size_t *ret_count);

/* ---- non-blocking connection (workers) ---------------------------------- */

struct queue_async;

struct queue_async_ops {
    void (*connected)(void *userdata);
    /* lost or failed; the queue reconnects by itself after delay_ms */
    void (*disconnected)(void *userdata, const char *why, int64_t delay_ms);
};

/*
 * Connect (in the background) on base.  timeout_ms bounds the connect and
 * the wait for each reply (0: QUEUE_DEFAULT_TIMEOUT_MS): past it the
 * connection is dropped, pending callbacks get -ETIMEDOUT, and the queue
 * reconnects.
 */
int queue_async_new(struct event_base *base, const char *url, const char *prefix,
                    int64_t timeout_ms, const struct queue_async_ops *ops, void *userdata,
                    struct queue_async **ret);
/* Pending callbacks are called with err = -ECANCELED. */
void queue_async_free(struct queue_async *qa);
bool queue_async_connected(const struct queue_async *qa);

struct queue_leased {
    const char *id;       /* member as stored (normally the attempt id) */
    const char *payload;  /* NULL when the payload is missing */
    size_t payload_len;
    int tries;            /* failed tries so far */
    bool redelivered;     /* its previous lease expired: may have been sent */
    /*
     * The re-check, made in the same atomic step as the lease: done =
     * the attempt has a done marker; checked_debtor = the debtor whose
     * stop marker was looked up (NULL: none, the payload did not show
     * it plainly) and stop = its reason or NULL.  A caller that finds
     * another debtor in the parsed payload must use queue_async_check().
     */
    bool done;
    const char *checked_debtor;
    const char *stop;
};
struct queue_lease_reply {
    /*
     * The fencing token of this batch: the lease score every job of it
     * got (its expiry on the lease clock), unique per channel.  Pass it
     * to queue_async_renew() and queue_async_finish_fenced().  0 when
     * nothing was leased.
     */
    int64_t token;
    int64_t ready_left;   /* still ready after this lease */
    int64_t leased_total; /* leases held by every worker, this batch included */
    int64_t retrying;
    int64_t wait_ms;      /* rate limited: next token in wait_ms */
    const struct queue_leased *jobs;
    size_t n;
};
/* reply is borrowed for the call; err < 0 means no reply (then reply is NULL). */
typedef void (*queue_lease_fn)(void *userdata, int err, const struct queue_lease_reply *reply);

struct queue_lease_args {
    const char *channel;
    int max;              /* jobs wanted */
    int64_t now_ms;       /* the caller's clock: due times are compared with it */
    int64_t visibility_ms;
    double rate;          /* jobs/s shared by all workers, 0 = unlimited */
    double burst;         /* bucket size (>= 1) */
    /*
     * The lease clock (lease expiry, fencing token, rate bucket): true =
     * Redis's own (TIME), so workers on hosts with skewed clocks agree;
     * false = now_ms (deterministic tests).
     */
    bool redis_clock;
};
int queue_async_lease(struct queue_async *qa, const struct queue_lease_args *a,
                      queue_lease_fn cb, void *userdata);

/*
 * Re-check before sending: for each i, done[i] = the attempt has a
 * done marker, stop[i] = reason string of the debtor's stop marker or
 * NULL.  Borrowed for the call.
 */
typedef void (*queue_check_fn)(void *userdata, int err, const bool *done,
                               const char *const *stop);
int queue_async_check(struct queue_async *qa, const char *const *ids,
                      const char *const *debtors, size_t n, queue_check_fn cb, void *userdata);

/*
 * With a fencing token, only outcomes of jobs whose lease still carries
 * it are applied, except QUEUE_DONE (a send happened: its done marker and
 * result are written anyway, NX).  Lease, payload and try count are
 * dropped only for held jobs.
 */
enum queue_action {
    QUEUE_DONE,       /* terminal result after a send (status) */
    QUEUE_RETRY,      /* transient failure: retry at due_ms */
    QUEUE_DEAD,       /* dead letter with info as the error */
    QUEUE_RESCHEDULE, /* not a failure: back to scheduled at due_ms */
    QUEUE_SKIP,       /* already done elsewhere: drop silently */
    QUEUE_CANCEL,     /* terminal result without a send (status), only if held */
    _QUEUE_ACTION_MAX,
};
struct queue_outcome {
    const char *id;
    enum queue_action action;
    const char *status;   /* for QUEUE_DONE / QUEUE_RETRY */
    const char *info;     /* provider id or error text, may be NULL */
    int64_t due_ms;
};
typedef void (*queue_done_fn)(void *userdata, int err);
/*
 * Settle a batch of leased jobs of one channel in one atomic step,
 * fenced by the token of its lease (or last renew): see enum
 * queue_action.  Token 0: unfenced (any lease counts as held, and
 * QUEUE_DONE/QUEUE_SKIP drop lease and payload whoever holds them).
 */
int queue_async_finish_fenced(struct queue_async *qa, const char *channel, int64_t now_ms,
                              int64_t token, const struct queue_outcome *o, size_t n,
                              queue_done_fn cb, void *userdata);
/* queue_async_finish_fenced() with token 0. */
int queue_async_finish(struct queue_async *qa, const char *channel, int64_t now_ms,
                       const struct queue_outcome *o, size_t n, queue_done_fn cb,
                       void *userdata);

/*
 * Renew leases still held with token: each id whose lease score equals
 * token gets a new expiry (visibility_ms from now on the lease clock)
 * and the new token; held[i] says which.  The others were lost (lapsed,
 * taken by another worker, or settled): the caller must not send them.
 * One round trip for the batch.
 */
struct queue_renew_args {
    const char *channel;
    int64_t token;
    int64_t visibility_ms;
    int64_t now_ms;       /* the lease clock when !redis_clock */
    bool redis_clock;
};
typedef void (*queue_renew_fn)(void *userdata, int err, int64_t token, const bool *held);
int queue_async_renew(struct queue_async *qa, const struct queue_renew_args *a,
                      const char *const *ids, size_t n, queue_renew_fn cb, void *userdata);

#endif
