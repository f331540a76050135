/*
 * csv.h - a streaming RFC 4180 reader over a file descriptor.
 *
 * Reads in large chunks (works on pipes and stdin), hands out one record
 * at a time as (ptr, len) fields that are NUL-terminated and unescaped,
 * and reports a bad record as an error for that record only, then goes
 * on with the next one.  The same buffered input also serves line-based
 * formats (csv_reader_next_line) so one file descriptor can be sniffed
 * (csv_reader_peek) before the format is chosen.
 */
#ifndef CADENZA_CSV_H
#define CADENZA_CSV_H

#include <stdbool.h>
#include <stddef.h>

struct csv_reader;

/* One field: p[len] == 0; p borrows from the reader until the next call. */
struct csv_field {
    const char *p;
    size_t len;
};

#define CSV_CHUNK_DEFAULT (1u << 20)
#define CSV_MAX_FIELD_DEFAULT (1u << 20)
#define CSV_MAX_FIELDS_DEFAULT 1024u
#define CSV_MAX_RECORD_DEFAULT (32u << 20)

/*
 * Create a reader on fd (not owned, never closed by the reader).
 * Returns 0 or -ENOMEM.
 */
int csv_reader_new(int fd, struct csv_reader **ret);
void csv_reader_free(struct csv_reader *r);
static inline void csv_reader_freep(struct csv_reader **r) { csv_reader_free(*r); }

/* Limits; 0 keeps the current value.  Set before the first read. */
void csv_reader_set_limits(struct csv_reader *r, size_t max_field, size_t max_fields,
                           size_t max_record);
/* Test hook: read at most n bytes per read() and re-parse after each one. */
void csv_reader_set_chunk(struct csv_reader *r, size_t n);
/* Records with another field count are errors (0 = any count). */
void csv_reader_set_expected_fields(struct csv_reader *r, size_t n);
/* Name fields in error messages ("email: NUL byte"); names borrowed. */
void csv_reader_set_field_names(struct csv_reader *r, const char *const *names, size_t n);
/* Trim spaces and tabs around every field value (not RFC 4180, but handy). */
void csv_reader_set_trim(struct csv_reader *r, bool trim);

/*
 * Read the next record.  Blank lines are skipped.
 * Returns 1 and the fields (valid until the next call), 0 at end of input,
 * -EINVAL for a bad record (err holds the reason, *ret_line its line; the
 * reader has already moved to the next record, call again), or another
 * -errno when reading failed (fatal).  *ret_line is the 1-based line the
 * record starts on (for an unterminated quote: the line the quote opened).
 * May block in read().
 */
int csv_reader_next(struct csv_reader *r, const struct csv_field **ret_fields, size_t *ret_n,
                    long *ret_line, char *err, size_t errlen);

/*
 * Read the next non-blank physical line (LF or CRLF terminated, the
 * terminator not included, NUL-terminated), for line-based formats.
 * Same return values as csv_reader_next; lines over the record limit or
 * holding a NUL byte are errors.
 */
int csv_reader_next_line(struct csv_reader *r, const char **ret_p, size_t *ret_len,
                         long *ret_line, char *err, size_t errlen);

/*
 * Look at the start of the input without consuming it (a leading UTF-8
 * BOM is skipped): fills until a non-space byte is seen, 4 KiB are
 * buffered or the input ends.  Returns 0 or -errno.
 */
int csv_reader_peek(struct csv_reader *r, const char **ret_p, size_t *ret_len);

/*
 * The exact input bytes of the last record returned or rejected, without
 * its line terminator.  Empty when the record was too large to keep.
 */
void csv_reader_raw(struct csv_reader *r, const char **ret_p, size_t *ret_len);

/* 0-based index of the field the last error is about, or -1. */
long csv_reader_error_field(struct csv_reader *r);

#endif
