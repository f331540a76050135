/*
 * dispatch.h - the store owner's two moves between SQLite and Redis:
 * enqueue a run's planned attempts as self-contained jobs, and drain the
 * workers' results back into the store.  No SQL and no Redis key here:
 * store*.c and queue*.c own those; this file only moves data between them.
 */
#ifndef CADENZA_DISPATCH_H
#define CADENZA_DISPATCH_H

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
 * A crash between the two re-sends the page on the next run, which the
 * queue ignores (idempotent by attempt id).  Attempts that cannot become
 * a job are settled as FAILED with the reason.  err gets a message on
 * failure.
 */
int dispatch_enqueue_run(struct store *s, struct queue *q, int64_t run_id,
                         struct dispatch_enqueue_stats *ret, char *err, size_t errlen);

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

#endif
