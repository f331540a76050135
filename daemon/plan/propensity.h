/*
 * propensity.h - payment propensity: the probability that a debtor pays
 * within PROPENSITY_DAYS days, learned from payments and kept promises
 * with the observable columns as levels (empirical-Bayes shrinkage, the
 * same columns as the reach model's levels: docs/planner.md, "Payment
 * propensity").  Pure: no I/O, no clock.
 *
 * Life cycle: propensity_new() -> propensity_add()* (training examples:
 * a debtor's features at a reference time and whether a payment came in
 * the PROPENSITY_DAYS days after it) -> propensity_finish() ->
 * propensity_predict() from any number of threads -> propensity_free().
 */
#ifndef CADENZA_PROPENSITY_H
#define CADENZA_PROPENSITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "debtor.h"
#include "planner.h"

#define PROPENSITY_DAYS 30
/* How far back a debtor's payments and promises are looked at (the planner's window). */
#define PROPENSITY_HISTORY_DAYS PLANNER_HISTORY_DAYS

/* Columns: every observable one of the reach model's levels, the segment, dpd, history. */
enum propensity_level_type {
    PROP_LEVEL_SEGMENT,
    PROP_LEVEL_COUNTRY,
    PROP_LEVEL_TZ,
    PROP_LEVEL_REGION,
    PROP_LEVEL_RISK,
    PROP_LEVEL_AGE,
    PROP_LEVEL_EMPLOYMENT,
    PROP_LEVEL_DPD,     /* "pre-due", "0-30", "31-60", "61-90", "91-180", "181+" */
    PROP_LEVEL_HISTORY, /* "paid", "promise kept", "promise open", "promise broken", "none" */
    PROP_LEVEL_TAG,     /* each of the first PROPENSITY_TAGS_MAX tags */
    _PROP_LEVEL_TYPE_MAX,
};
#define PROPENSITY_TAGS_MAX 4
#define PROPENSITY_LEVELS_MAX (PROP_LEVEL_TAG + PROPENSITY_TAGS_MAX)

/*
 * What the model knows of a debtor at a reference time `at`: the record's
 * columns, its dpd on the local day of `at` (INT32_MIN: no due date) and
 * the history state from its payments and promises of the
 * PROPENSITY_HISTORY_DAYS days before `at`.  Strings borrow from rec.
 */
enum propensity_history {
    PROP_HIST_NONE,
    PROP_HIST_PAID,           /* paid, without a promise before it */
    PROP_HIST_PROMISE_KEPT,   /* promised, then paid by the promise date + 3 days */
    PROP_HIST_PROMISE_OPEN,   /* a promise whose date has not passed */
    PROP_HIST_PROMISE_BROKEN, /* a promise date passed without a payment */
    _PROP_HIST_MAX,
};
struct propensity_features {
    const struct debtor_rec *rec;
    int32_t dpd;
    uint8_t history; /* enum propensity_history */
};
/*
 * Features of rec at `at` (UTC; `day` its local day) from its outcomes
 * (any order; only paid and promise_to_pay outcomes before `at` and at
 * most PROPENSITY_HISTORY_DAYS old are looked at).
 */
void propensity_features_at(const struct debtor_rec *rec, const struct planner_outcome *o,
                            size_t n, int64_t at, int32_t day, struct propensity_features *ret);
/* Did a payment come in [from, to)? */
bool propensity_paid_between(const struct planner_outcome *o, size_t n, int64_t from,
                             int64_t to);
const char *propensity_history_to_string(enum propensity_history h);

struct propensity;

int propensity_new(struct propensity **ret);
void propensity_free(struct propensity *p);
static inline void propensity_freep(struct propensity **p) { propensity_free(*p); }

/* One training example (copied).  -EINVAL after finish, -ENOMEM. */
int propensity_add(struct propensity *p, const struct propensity_features *f, bool paid);
/* Fit the levels and free the examples.  Idempotent; -ENOMEM. */
int propensity_finish(struct propensity *p);
/* The portfolio's rate (every debtor's prediction before levels). */
double propensity_base(const struct propensity *p);
/* Examples and payments the model was fitted on. */
void propensity_counts(const struct propensity *p, int64_t *ret_examples, int64_t *ret_paid);

/* A prediction, with the levels behind it (for explain). */
struct propensity_pred {
    double p;     /* P(a payment within PROPENSITY_DAYS days) */
    double base;  /* the portfolio's rate */
    int nlev;
    int32_t lev_id[PROPENSITY_LEVELS_MAX];
    double factor[PROPENSITY_LEVELS_MAX];
};
/* Never allocates; a finished model (else p = base = the prior rate, no levels). */
void propensity_predict(const struct propensity *p, const struct propensity_features *f,
                        struct propensity_pred *ret);
/* "risk band 'D'" for explain; "" for a bad id. */
void propensity_level_label(const struct propensity *p, int32_t id, char *buf, size_t len);
/* A column's strength (expected payments behind a factor; 0: the column has no value). */
double propensity_level_strength(const struct propensity *p, enum propensity_level_type t);

#endif
