/*
 * rowreader.h - debtor rows from CSV or JSON Lines, as raw_row values.
 *
 * The header (CSV) or the keys (JSONL) name the columns of debtor.h.  A
 * bad header fails the whole input; a bad row is reported and skipped.
 */
#ifndef CADENZA_ROWREADER_H
#define CADENZA_ROWREADER_H

#include <stddef.h>

#include "debtor.h"

enum row_format {
    ROW_FORMAT_AUTO = 0, /* by file name extension, else by the first byte */
    ROW_FORMAT_CSV = 1,
    ROW_FORMAT_JSONL = 2,
    _ROW_FORMAT_MAX,
    _ROW_FORMAT_INVALID = -22,
};
const char *row_format_to_string(enum row_format f);
enum row_format row_format_from_string(const char *s); /* "csv", "jsonl", "auto" */
/* By file name: .jsonl/.ndjson/.json JSONL, .csv CSV, else (and "-") AUTO. */
enum row_format row_format_from_name(const char *name);

struct row_reader;

/*
 * Open a reader on fd (not owned, never closed).  name is used for the
 * AUTO extension check only (may be NULL or "-").  For CSV the header row
 * is read here: unknown columns (all of them, with a did-you-mean), a
 * repeated column or a missing `id` column give -EINVAL and the reason in
 * err.  Other -errno are read/allocation failures (reason in err too).
 * May block reading the start of the input.
 */
int row_reader_new(int fd, const char *name, enum row_format fmt, struct row_reader **ret,
                   char *err, size_t errlen);
void row_reader_free(struct row_reader *r);
static inline void row_reader_freep(struct row_reader **r) { row_reader_free(*r); }

/* ROW_FORMAT_CSV or ROW_FORMAT_JSONL (AUTO is resolved by _new). */
enum row_format row_reader_format(struct row_reader *r);

/*
 * Next row.  Returns 1 with *ret filled (fields NUL-terminated, trimmed of
 * spaces and tabs, NULL for absent columns; valid until the next call),
 * 0 at end of input, -EINVAL for a bad row (reason in err, ret->line set;
 * call again for the next row), other -errno fatal (reason in err).
 * Does not validate values: that is debtor_validate().  May block.
 */
int row_reader_next(struct row_reader *r, struct raw_row *ret, char *err, size_t errlen);

/*
 * The exact input bytes of the last row returned or rejected (CSV: the
 * record without its line terminator; JSONL: the line).  Borrowed until
 * the next call.  Empty when a bad record was too large to keep.
 */
void row_reader_raw(struct row_reader *r, const char **ret_p, size_t *ret_len);

/* The CSV header line as read (no BOM, no terminator); "" for JSONL. */
void row_reader_header(struct row_reader *r, const char **ret_p, size_t *ret_len);

/* Test hook: read at most n bytes per read() (see csv_reader_set_chunk). */
void row_reader_set_chunk(struct row_reader *r, size_t n);

#endif
