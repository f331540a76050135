/*
 * dispatch.h - the store owner's two moves between SQLite and Redis:
 * enqueue a run's planned attempts as self-contained jobs, and drain the
 * workers' results back into the store.  No SQL and no Redis key here:
 * store*.c and queue*.c own those; this file only moves data between them.
 */
#ifndef CADENZA_DISPATCH_H
#define CADENZA_DISPATCH_H

#include <stdatomic.h>
#include <stdint.h>

#include "queue.h"
#include "store.h"

struct dispatch_enqueue_stats {
    int64_t jobs;      /* attempts turned into jobs */
    int64_t added;     /* of those, new in Redis (the rest were already there) */
    int64_t skipped;   /* attempts that cannot become a job (no address, no window) */
};

/*
 * Enqueue every PLANNED attempt of a run, in pages: each page goes to
 * Redis in one batched call, then is marked QUEUED in one transaction.
 * A call attempt's job carries the debtor's agent brief in its inputs
 * (brief.h), with the offers of its tier in set (NULL: no offers).
 * A crash between the two re-sends the page on the next run, which the
 * queue ignores (idempotent by attempt id).  Attempts that cannot become
 * a job are settled as FAILED with the reason.  err gets a message on
 * failure.
 */
struct strategy_set;
int dispatch_enqueue_run(struct store *s, struct queue *q, int64_t run_id,
                         const struct strategy_set *set, struct dispatch_enqueue_stats *ret,
                         char *err, size_t errlen);

/* What the daemon adds to an enqueue (dispatch_enqueue_run_hooked()); any may be NULL. */
struct dispatch_enqueue_hooks {
    const atomic_bool *cancel; /* set: stop before the next page (-ECANCELED, "stopped") */
    /* the caller's label (>= 0) of a row's job, handed back once the page is committed */
    int32_t (*label)(void *ctx, const struct store_dispatch_row *r);
    /* a page committed: the labels of its jobs (in Redis and marked queued) */
    void (*committed)(void *ctx, const int32_t *labels, size_t n);
    void *ctx;
};
/* dispatch_enqueue_run() with hooks (run_id 0: the attempts of no run, re-plans). */
int dispatch_enqueue_run_hooked(struct store *s, struct queue *q, int64_t run_id,
                                const struct strategy_set *set,
                                const struct dispatch_enqueue_hooks *hooks,
                                struct dispatch_enqueue_stats *ret, char *err, size_t errlen);

/*
 * The engine behind dispatch_enqueue_run(), for any source of attempt
 * rows (the enqueue benchmark feeds it synthetic ones).  fetch passes
 * up to limit rows with ids above after_id, in id order, to row(ctx, r)
 * and returns how many (0: no more), or -errno with a message in err.
 * commit is called once per page, in order, after the page's jobs are
 * all in Redis: ids became jobs, skipped ones cannot (why[i] says why).
 * While page k is in Redis's hands, page k + 1 is fetched and sent.
 */
struct dispatch_committed {
    const int64_t *ids;
    const int32_t *labels;   /* parallel to ids: each row's label */
    size_t n;
    const int64_t *skipped_ids;
    const char *const *skipped_why;
    size_t nskipped;
};
struct dispatch_source_ops {
    int (*fetch)(void *ud, int64_t after_id, int limit,
                 int (*row)(void *ctx, const struct store_dispatch_row *r), void *ctx,
                 char *err, size_t errlen);
    int (*commit)(void *ud, const struct dispatch_committed *c, char *err, size_t errlen);
};
int dispatch_enqueue_rows(struct queue *q, const struct dispatch_source_ops *ops, void *ud,
                          struct dispatch_enqueue_stats *ret, char *err, size_t errlen);

/*
 * The job of one planned attempt row, as dispatch_enqueue_run() builds
 * it (exported for the enqueue benchmark, so it measures this code).
 * scratch is a caller-owned buffer reused between calls.  *ret owns its
 * strings (one block, job_release()).  -ENOMEM.
 */
struct job;
struct sbuf;
int dispatch_job_from_row(const struct store_dispatch_row *row, struct sbuf *scratch,
                          struct job *ret);

struct dispatch_drain_stats {
    int64_t results;   /* results read from the stream */
    int64_t applied;   /* of those, changed an attempt */
    int64_t foreign;   /* entries that do not parse or name no known attempt */
};

/*
 * Move every result from the stream into the store, in batches: read,
 * commit, then acknowledge.  A crash before the acknowledgement delivers
 * the batch again, which ingest ignores.
 */
int dispatch_drain(struct store *s, struct queue *q, struct dispatch_drain_stats *ret, char *err,
                   size_t errlen);
/*
 * dispatch_drain() that also tells, once each page is committed, which
 * attempts a result moved to a final status (news for a re-plan).
 * applied may be NULL.
 */
typedef void (*dispatch_applied_fn)(void *ctx, int64_t attempt_id, enum attempt_status st);
int dispatch_drain_notify(struct store *s, struct queue *q, dispatch_applied_fn applied,
                          void *ctx, struct dispatch_drain_stats *ret, char *err,
                          size_t errlen);

#endif
