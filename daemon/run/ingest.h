/*
 * ingest.h - one outcome record, from its named fields (text, as a CSV
 * row, a JSON Lines object or an API request carries them) to the
 * store_outcome the store keeps: the debtor looked up, every field
 * checked with a message naming it, the dedupe key, whether it counts and
 * is a reach, its local hour of week, and whether it stops the debtor's
 * queued jobs.  `import outcomes` and the daemon's outcome API both use
 * it, so a record means the same whichever way it arrives.
 */
#ifndef CADENZA_INGEST_H
#define CADENZA_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "outcome.h"
#include "store.h"
#include "util.h"


/* News older than this stops no queued job (it cannot have been planned around). */
#define INGEST_STOP_SECONDS (72 * 3600)

struct ingest_prepared {
    struct store_outcome o;  /* source and segment live as long as the context */
    char attempt_key[200];   /* "" when the record names no attempt */
    uint64_t h2;             /* the second half of the key rows had before schema 7 */
    bool stops;              /* recent news that stops the debtor's queued jobs
                                (outcome_stop_reason() says why) */
};

struct ingest_ctx;
/* source: what outcomes.source records ("import:<file>", "api"); borrowed. */
int ingest_ctx_new(const struct config *cfg, struct store *s, int64_t now, const char *source,
                   struct ingest_ctx **ret);
void ingest_ctx_free(struct ingest_ctx *x);
/* Forget the debtor remembered from the last record (after a rollback). */
void ingest_ctx_forget(struct ingest_ctx *x);
void ingest_ctx_set_now(struct ingest_ctx *x, int64_t now);

/*
 * Check one record and prepare it.  Problems go to e as
 * "field: reason; field: reason" (then *ret is not set); 0 with e empty
 * means *ret is ready.  -ENOMEM or a store error (-EIO) otherwise.
 */
int ingest_prepare(struct ingest_ctx *x, const struct ingest_row *row, struct ingest_prepared *ret,
                   struct sbuf *e);

#endif
