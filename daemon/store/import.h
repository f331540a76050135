/*
 * import.h - bulk import of debtors into the store.
 *
 * A three-stage pipeline: the calling thread reads and hashes rows, skips
 * the ones whose stored hash is unchanged, and hands the rest on in
 * batches; validator threads check them; one writer thread upserts each
 * batch in one transaction, in input order.
 */
#ifndef CADENZA_IMPORT_H
#define CADENZA_IMPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "store.h"

struct import_opts {
    const char *name;      /* input name for messages: a path or "<stdin>" */
    int fd;                /* input, read to EOF; not closed */
    int format;            /* enum row_format */
    FILE *rejects;         /* bad rows are written here (NULL: nowhere) */
    FILE *errors;          /* bad rows are reported here (NULL: nowhere) */
    size_t max_reported;   /* report at most this many (the rest are counted) */
    size_t batch_rows;     /* rows per transaction (0: 3000) */
    int validators;        /* validator threads (0: 2) */
    bool progress;         /* a progress line on stderr */
    int64_t now;           /* Unix time recorded as created/updated */
    struct debtor_defaults defaults; /* for what rows leave out (config defaults:) */
};

/*
 * Run one import.  Rows that fail validation are counted, reported and
 * written to o->rejects; every good row is stored.  Returns 0 when the
 * input was read to the end (even with rejected rows), -EINVAL when the
 * input cannot be imported at all (bad header: message in reterr), other
 * -errno on runtime failures (message in reterr).  Batches already
 * committed stay committed; the batch in flight is rolled back.
 */
int import_debtors(struct store *s, const struct import_opts *o, struct import_counts *ret,
                   char *reterr, size_t errlen);

#endif
