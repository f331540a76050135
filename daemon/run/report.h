/*
 * report.h - the contact report (`cadenza report --from --to`): what the
 * attempts of a date range achieved, per strategy, variant, tier and
 * channel, and each challenger variant against its strategy's champion
 * with a 95 % interval.  Pure: the store hands it one debtor at a time
 * (store_report_debtors()), the caller renders the result
 * (report-render.h).  Every definition is in docs/report.md.
 */
#ifndef CADENZA_REPORT_H
#define CADENZA_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct strategy_set;

/* An outcome without an attempt id goes to the debtor's latest attempt at
 * most this many days before it (docs/report.md, "Attribution"). */
#define REPORT_ATTRIBUTION_DAYS 30
/* A promise is kept when paid by its date plus this many days, unless the
 * strategy's promise_to_pay reaction says otherwise. */
#define REPORT_GRACE_DAYS 2
/* A local day lies within this many seconds of the UTC day of the same date. */
#define REPORT_DAY_MARGIN (15 * 3600)
/* The call rule (docs/report.md, "Champion against challenger"). */
#define REPORT_MIN_DEBTORS 30      /* per arm, and as many units in the denominator */
#define REPORT_RATE_MARGIN 0.02    /* rates: a difference under 2 points does not matter */
#define REPORT_RECOVERY_MARGIN 0.10 /* recovery: under 10 % of the champion's */
#define REPORT_Z95 1.959963984540054

/* ---- input: one debtor's attempts and outcomes (struct report_debtor,
 * in store.h: the store's rows for the report) ---- */

/* ---- options ---- */

struct report_cost {
    const char *channel;
    double cost; /* one attempt, in the report's currency (major units) */
};

struct report_opts {
    int32_t from, to;      /* attempts whose local_day is in [from, to] (days) */
    int64_t now;           /* promises whose deadline passed by now are due */
    const char *currency;  /* ISO 4217; amounts in other currencies are counted apart */
    int currency_exp;      /* its decimals (2 for EUR) */
    const struct report_cost *costs; /* borrowed for the report's life */
    size_t ncosts;
    /* The strategies as configured (borrowed; NULL: none): tier order,
     * champion and promise grace days come from them when they know the
     * names (docs/report.md). */
    const struct strategy_set *strategies;
};

/* ---- output ---- */

/* What a set of attempts achieved (docs/report.md, "Definitions"). */
struct report_counts {
    int64_t planned;       /* attempts recorded, whatever became of them */
    int64_t attempts;      /* made: sent or answered by the provider, or with an outcome */
    int64_t delivered, contacts, rpc, promises;
    int64_t promises_due;  /* promises whose deadline has passed, or kept */
    int64_t kept;
    int64_t payments;      /* paid outcomes attributed, any currency */
    int64_t recovered_minor; /* their amounts in the report's currency */
    int64_t other_currency;  /* payments in another currency (not in recovered_minor) */
    int64_t opt_outs;
    double cost;           /* made attempts x their channel's cost */
};

/* Sufficient statistics of a per-debtor ratio sum(y) / sum(m). */
struct report_sums {
    double n, y, m, yy, mm, ym;
};

enum report_metric {
    REPORT_CONTACT_RATE,  /* contacts / attempts */
    REPORT_RPC_RATE,      /* right-party contacts / attempts */
    REPORT_PROMISE_RATE,  /* promises / right-party contacts */
    REPORT_RECOVERY,      /* recovered per debtor (minor units) */
    _REPORT_METRIC_MAX,
};

enum report_verdict {
    REPORT_NOT_ENOUGH,    /* the interval is too wide to call */
    REPORT_BETTER,        /* the challenger's is higher: the interval is above 0 */
    REPORT_WORSE,         /* lower: the interval is below 0 */
    REPORT_SAME,          /* the interval lies inside +-margin */
    _REPORT_VERDICT_MAX,
};

struct report_row {
    const char *strategy, *variant, *tier, *channel; /* owned by the report */
    int kind;
    int tier_rank;         /* its place in the ladder (unknown tiers last) */
    bool champion;         /* the variant is its strategy's champion */
    struct report_counts c;
};

struct report_arm {        /* a variant of a strategy */
    const char *strategy, *variant;
    bool champion;
    int grace_days;
    int64_t debtors;       /* with at least one attempt made */
    struct report_counts c;
    struct report_sums s[_REPORT_METRIC_MAX];
};

struct report_tier {       /* the funnel of one tier of one strategy, every variant */
    const char *strategy, *tier;
    int tier_rank;
    struct report_counts c;
};

struct report_hours {      /* one channel by the debtor's local hour */
    const char *channel;
    int kind;
    int64_t attempts[24], contacts[24];
};

struct report_diff {
    double champion, challenger; /* the metric in each arm (NAN: no denominator) */
    double diff, lo, hi;         /* challenger - champion, 95 % interval (NAN: n < 2) */
    double margin;               /* what counts as no material difference */
    int64_t n_champion, n_challenger;   /* debtors */
    double den_champion, den_challenger; /* the denominators' totals */
    enum report_verdict verdict;
};

struct report_comparison {
    const char *strategy, *champion, *challenger;
    struct report_diff d[_REPORT_METRIC_MAX];
};

struct report {
    struct report_opts o;
    struct report_row *rows;   /* after report_finish(): sorted (docs/report.md) */
    size_t nrows;
    struct report_arm *arms;
    size_t narms;
    struct report_tier *tiers;
    size_t ntiers;
    struct report_hours *hours;
    size_t nhours;
    struct report_comparison *cmp;
    size_t ncmp;
    struct report_counts total;
    int64_t debtors;             /* with at least one attempt made */
    int64_t unknown_zone;        /* attempts made whose debtor's zone is unknown */
    int64_t unattributed_payments; /* of the report's debtors, from the range on */
    char **no_cost;              /* channels the configuration gives no cost */
    size_t nno_cost;
    /* private */
    struct report_priv *p;
};

/* A new, empty report (options copied, their pointers borrowed); NULL on OOM. */
struct report *report_new(const struct report_opts *o);
void report_free(struct report *r);
static inline void report_freep(struct report **r) { report_free(*r); }
/*
 * Count one debtor: attribute its outcomes to its attempts and add the
 * attempts in the range.  Sorts d's arrays; keeps nothing of d.  A debtor
 * with no attempt in the range adds nothing.  0 or -ENOMEM.
 */
int report_add_debtor(struct report *r, struct report_debtor *d);
/* Costs, sort, funnel and comparisons, once every debtor was added.  0 or -ENOMEM. */
int report_finish(struct report *r);

/* The comparison of one metric between two arms (pure statistics). */
void report_diff_compute(enum report_metric m, const struct report_sums *champion,
                         const struct report_sums *challenger, struct report_diff *ret);
/* sum(y) / sum(m), NAN without a denominator. */
double report_sums_value(const struct report_sums *s);

/* num / den, NAN when den is 0. */
double report_rate(int64_t num, int64_t den);
/* The derived figures of a row (NAN when undefined). */
static inline double report_delivery_rate(const struct report_counts *c)
{ return report_rate(c->delivered, c->attempts); }
static inline double report_contact_rate(const struct report_counts *c)
{ return report_rate(c->contacts, c->attempts); }
static inline double report_rpc_rate(const struct report_counts *c)
{ return report_rate(c->rpc, c->attempts); }
static inline double report_promise_rate(const struct report_counts *c)
{ return report_rate(c->promises, c->rpc); }
static inline double report_kept_rate(const struct report_counts *c)
{ return report_rate(c->kept, c->promises_due); }
/* Cost per unit of currency recovered; NAN when nothing was. */
double report_cost_per_recovered(const struct report *r, const struct report_counts *c);
/* minor units -> major units of the report's currency */
double report_major(const struct report *r, int64_t minor);

const char *report_metric_name(enum report_metric m);  /* "contact_rate" */
const char *report_metric_label(enum report_metric m); /* "contact rate" */
const char *report_verdict_to_string(enum report_verdict v); /* "not enough data yet" */

#endif
