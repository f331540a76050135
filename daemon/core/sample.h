/*
 * sample.h - a synthetic debtor portfolio for demos, tests and benchmarks
 * (`cadenza sample`).  Pure: no I/O, no clock; row i depends only on
 * (seed, as_of, invalid_rate, i), so any row can be regenerated alone and
 * the output is the same on every run.
 *
 * Phone numbers are random numbers in real, valid ranges and e-mail
 * addresses use reserved ".example" domains: never point a real channel
 * provider at a sample portfolio.
 */
#ifndef CADENZA_SAMPLE_H
#define CADENZA_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct sample_opts {
    uint64_t seed;
    double invalid_rate; /* 0..1: share of deliberately invalid rows */
    int32_t as_of;       /* days since epoch: due dates give DPD -10..180 from it */
};

/* Kinds of deliberately invalid rows (which field is broken). */
enum sample_invalid {
    SAMPLE_VALID = 0,
    SAMPLE_BAD_PHONE,
    SAMPLE_BAD_EMAIL,
    SAMPLE_BAD_TIME_ZONE,
    SAMPLE_BAD_BALANCE,
    SAMPLE_BAD_DUE_DATE,
    SAMPLE_MISSING_ID,
    _SAMPLE_INVALID_MAX,
};

/* Largest number of rows whose ids are guaranteed unique (2^40). */
#define SAMPLE_MAX_ROWS (UINT64_C(1) << 40)

/* Append the CSV header line (debtor_col_names in enum debtor_col order). */
int sample_header(struct sbuf *b);

/*
 * Append data row i (0-based, < SAMPLE_MAX_ROWS) as one CSV line, quoted
 * where needed.  Returns the row's enum sample_invalid (>= 0), or -ENOMEM /
 * -E2BIG from the buffer.  Allocation only when b must grow.
 */
int sample_row(const struct sample_opts *o, uint64_t i, struct sbuf *b);

/* The id of row i ("D" + 13 digits): a keyed permutation of i, so unique. */
void sample_id(const struct sample_opts *o, uint64_t i, char buf[static 16]);

#endif
