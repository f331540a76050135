/*
 * evaluate.h - `cadenza report --evaluate`: what a candidate strategy
 * set would have achieved on the decisions the planner logged, estimated
 * off-policy (ope.h) from the logged choice probabilities and outcomes
 * (docs/planner.md, "Off-policy evaluation").  Read only.
 */
#ifndef CADENZA_EVALUATE_H
#define CADENZA_EVALUATE_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "ope.h"
#include "store.h"
#include "strategy.h"

struct evaluate_opts {
    int32_t from, to;  /* decisions made on these days (UTC), inclusive */
    int samples;       /* target plans per decision, estimating its probabilities (0: 32) */
    uint64_t seed;     /* the target's sampling seed */
    FILE *decisions;   /* non-NULL: one line per used decision and slot the target takes,
                          "<debtor id>\t<plan date>\t<channel kind>\t<local how>\t<share>" */
};

struct evaluate_result {
    struct ope_estimate e;       /* reward: a reach per decision */
    int64_t decisions;           /* logged in the window */
    int64_t no_probability;      /* skipped: no logged choice probability (capacity moved
                                    the debtor, or planned without re-draws) */
    int64_t unobserved;          /* skipped: no outcome came back */
    int64_t unknown_debtor;      /* skipped: the debtor is gone */
    double target_contacts;      /* share of decisions where the target plans a contact */
    double target_same;          /* mean probability the target takes the logged slot */
};

/*
 * Re-plan every logged decision of [from, to] with the target strategy
 * set and the reach model as the store held it at the start of `from`
 * (the window's outcomes taken away), the debtor's history before the
 * decision and no stored contact state (the target places the debtor in
 * its ladder from the dpd), o->samples times with different seeds; then
 * self-normalised IPS and doubly robust estimates (the frozen model as
 * the reward model).  Returns 0, -ENOENT (no usable decision) or -errno
 * (store message in store_errmsg(s)).  Blocks.
 */
int evaluate_run(struct store *s, const struct config *cfg, const struct strategy_set *target,
                 const struct evaluate_opts *o, struct evaluate_result *ret);

#endif
