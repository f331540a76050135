/*
 * model.h - P(reach | channel kind, local hour of the week) for one
 * debtor: a hierarchical Beta-Binomial estimate (global prior -> segment
 * -> debtor) pooled across neighbouring hours and weekdays, and the
 * seeded sampler the planner explores with.  Pure: no I/O, no clock.
 *
 * Hour of week ("how"): 0 = Monday 00:00-01:00 in the debtor's local
 * time ... 167 = Sunday 23:00-24:00, as in the store's slot statistics.
 * A "reach" is delivered+engaged for digital channels and a right-party
 * contact for calls (see outcome_is_reach() in planner.h).
 *
 * Life cycle: model_new() -> model_set_prior()* -> model_segment_add()*
 * -> model_finish() -> model_estimate()/model_debtor_prepare() from any
 * number of threads (a finished model is read only) -> model_free().
 * The math is in docs/planner.md.
 */
#ifndef CADENZA_MODEL_H
#define CADENZA_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define MODEL_HOURS 168

struct model;

/* Tunables; model_params_default() fills the documented defaults. */
struct model_params {
    double prior_strength;   /* pseudo-attempts behind a global prior mean (10) */
    double channel_strength; /* pseudo-reaches behind a debtor's channel factor (8) */
    double hour_strength;    /* pseudo-reaches behind a debtor's hour-of-day factor (10) */
    double hour_smooth;      /* weight of the neighbouring hours of day (0.6) */
    double weekend_strength; /* pseudo-reaches behind a debtor's weekend factor (8) */
    double sample_temper;    /* Thompson draws: shape and rate x this x the caller's temper (16) */
    double segment_cap;      /* cap on a segment posterior's pseudo-attempts (1e6) */
};
void model_params_default(struct model_params *ret);

/* Built-in prior mean for a channel kind at a local hour of week. */
double model_builtin_prior(enum chan_kind k, int how);

/* Pooling weight between two hours of week (1 for the same hour, 0 far away). */
double model_kernel(int how_a, int how_b);

/*
 * The segment layer's hour kernels: MODEL_KERNELS candidates from sharp
 * (the hour alone) to wide, each with less or more weight on the same
 * hours of other days; model_finish() picks one per segment by held-out
 * likelihood (leave each cell out, predict it from its neighbours).
 * Kernel MODEL_KERNEL_DEFAULT is model_kernel().
 */
#define MODEL_KERNELS 8
#define MODEL_KERNEL_DEFAULT 4
double model_kernel_k(int kernel, int how_a, int how_b);
/* The kernel chosen for a segment (segment -1: for the pooled counts of every segment). */
int model_segment_kernel(const struct model *m, int segment);

/* One sparse per-debtor (or per-segment) count. */
struct model_cell {
    uint8_t kind;    /* enum chan_kind */
    uint8_t how;     /* 0..167 */
    uint16_t _pad;
    uint32_t attempts;
    uint32_t reaches; /* <= attempts */
};

/*
 * Covariate levels below the segment (docs/planner.md, "Levels"): each
 * observable column value the empirical-Bayes sample has data for gets a
 * multiplicative factor per channel kind x hour of week on the segment's
 * mean, shrunk towards 1 (the segment) with a strength estimated per
 * column.  Levels are crossed, fitted in turn on what the others leave.
 */
enum model_level_type {
    MODEL_LEVEL_COUNTRY,
    MODEL_LEVEL_TZ,     /* the time zone: the zone group of a debtor */
    MODEL_LEVEL_REGION, /* country/region */
    MODEL_LEVEL_RISK,   /* risk band */
    MODEL_LEVEL_AGE,    /* age band (import column age_band) */
    MODEL_LEVEL_EMPLOYMENT, /* employment type (import column employment_type) */
    MODEL_LEVEL_TAG,    /* each of the first MODEL_TAGS_MAX tags */
    _MODEL_LEVEL_TYPE_MAX,
};
#define MODEL_TAGS_MAX 4
#define MODEL_LEVELS_MAX (MODEL_LEVEL_TAG + MODEL_TAGS_MAX)
/* Borrowed strings, NULL or "" when absent; tags ';'-separated as imported (or ','). */
struct model_covariates {
    const char *country, *time_zone, *region, *risk_band, *tags;
    const char *age_band, *employment_type;
};
/* A debtor's level values (model indexes), found once per debtor. */
struct model_levels {
    int n;
    int32_t id[MODEL_LEVELS_MAX];
};
/* Fill ret with the debtor's fitted level values (none before model_eb_finish()). */
void model_levels_find(const struct model *m, const struct model_covariates *cov,
                       struct model_levels *ret);
/* "country 'CA'" for explain; "" for a bad id. */
void model_level_label(const struct model *m, int32_t id, char *buf, size_t len);
/* A level's prior strength (expected reaches behind its factor) and its sample attempts. */
void model_level_info(const struct model *m, int32_t id, double *ret_strength,
                      double *ret_attempts);

/*
 * A model with nsegments segments (segment indexes 0..nsegments-1; the
 * caller maps segment names to indexes).  The priors start as the
 * built-in shape with p->prior_strength.  p NULL: defaults.
 * Returns 0, -ENOMEM or -EINVAL (negative strengths).
 */
int model_new(const struct model_params *p, size_t nsegments, struct model **ret);
void model_free(struct model *m);
static inline void model_freep(struct model **m) { model_free(*m); }

/* Replace the global prior of (kind, how): mean in (0,1), strength > 0. */
int model_set_prior(struct model *m, enum chan_kind k, int how, double mean, double strength);
/* Add counts to a segment (before model_finish()).  -EINVAL on bad input. */
int model_segment_add(struct model *m, int segment, enum chan_kind k, int how,
                      uint64_t attempts, uint64_t reaches);
/* Pool and freeze the segment layer.  Idempotent. */
void model_finish(struct model *m);
size_t model_nsegments(const struct model *m);

/*
 * Empirical Bayes (after model_finish(), before any debtor is prepared):
 * model_eb_add() or model_eb_add_levels() for a sample of debtors (their
 * segment, covariates and cells: copied), then model_eb_finish() fits the
 * levels below the segment and sets each segment's debtor-layer strengths
 * and hour smoothing from the between-debtor covariances of their
 * residuals (method of moments over pairs of a debtor's cells;
 * docs/planner.md).
 * Without it the model_params strengths apply.  Single-threaded; -EINVAL
 * on a bad segment or an unfinished model.
 */
int model_eb_add(struct model *m, int segment, const struct model_cell *cells, size_t ncells);
/* The same with the debtor's covariates (NULL: none): the sample also fits the levels. */
int model_eb_add_levels(struct model *m, int segment, const struct model_covariates *cov,
                        const struct model_cell *cells, size_t ncells);
void model_eb_finish(struct model *m);
/* A segment's debtor-layer prior (segment -1 or out of range: the pooled or default one). */
struct model_eb {
    double channel[_CHAN_KIND_MAX], hour, weekend; /* strengths (1 / variance) */
    double smooth1, smooth2; /* weight of the hours of day 1 and 2 away */
    double debtors;          /* sampled debtors behind it (0: defaults) */
};
void model_eb_get(const struct model *m, int segment, struct model_eb *ret);

/* Segment posterior mean and pseudo-attempts (segment -1: the global prior). */
void model_segment_estimate(const struct model *m, int segment, enum chan_kind k, int how,
                            double *ret_mean, double *ret_n);

/*
 * Per-debtor summary computed once per plan from its sparse counts
 * (borrowed: cells must stay valid while the summary is used).  No
 * allocation; O(cells + 24) time.  Three multiplicative factors on the
 * segment mean, each a Gamma posterior (shape a, rate b, mean a/b):
 * channel kind, local hour of day (pooled over every day and channel),
 * and weekend.
 */
struct model_debtor {
    const struct model *m;
    int segment;
    int nlev;
    const float *lev[MODEL_LEVELS_MAX]; /* level factors [kind][how] */
    int32_t lev_id[MODEL_LEVELS_MAX];
    double factor[_CHAN_KIND_MAX]; /* channel factor, posterior mean fa/fb */
    double fa[_CHAN_KIND_MAX], fb[_CHAN_KIND_MAX];
    double hour[24]; /* hour-of-day factor, posterior mean ha/hb */
    double ha[24], hb[24];
    double weekend, wa, wb; /* weekend factor (1 on weekdays) */
    double pop; /* this debtor's view of the population posterior (model_debtor_explore()) */
};
void model_debtor_prepare(const struct model *m, int segment, const struct model_cell *cells,
                          size_t ncells, struct model_debtor *ret);
/* The same below the debtor's levels (lv NULL: none). */
void model_debtor_prepare_levels(const struct model *m, int segment,
                                 const struct model_levels *lv, const struct model_cell *cells,
                                 size_t ncells, struct model_debtor *ret);

/*
 * Exploration of the population effects (docs/planner.md, "Exploration").
 * The segment mean of a slot is uncertain while the
 * portfolio has tried it little; every debtor of a day plans at once, so
 * if each drew from the full posterior (plain Thompson sampling) the
 * share of debtors sent to an uncertain slot would be its probability of
 * being the best, all on the same day.  Instead each debtor views the
 * posterior with its strength times pop >= 1: the debtor at position u
 * (uniform in [0, 1), drawn per debtor and day) has pop = 1 + u/e, so a
 * share e of the debtors draws from at least half the full variance and
 * the rest from narrower ones, down to 1/(1 + 1/e) of it.  As the
 * population's evidence grows every view narrows with it: a slot nobody
 * tried is explored by few, a slot known to be bad by nobody.
 * model_explore_pop(u, e) is that pop (e <= 0: no exploration, 1e9).
 */
double model_explore_pop(double u, double e);
void model_debtor_explore(struct model_debtor *md, double pop);

/* Posterior of one (kind, how) for a prepared debtor: mean and strength. */
struct model_estimate {
    double mean;     /* P(reach) */
    double n;        /* Beta-equivalent pseudo-attempts (same relative spread) */
    double seg_mean; /* the segment's mean, for explain */
    double lev_mean; /* the segment's mean times the level factors */
    double pop_rv;   /* relative variance of the segment mean (the full posterior) */
};
void model_estimate(const struct model_debtor *md, enum chan_kind k, int how,
                    struct model_estimate *ret);
/* The factor of the debtor's j-th level at (kind, how); 1 when out of range. */
double model_debtor_level_factor(const struct model_debtor *md, int j, enum chan_kind k,
                                 int how);

struct model_rng;
/*
 * One Thompson draw of a debtor's factors, made lazily: the first
 * model_draw_p() touching a channel kind, an hour of day or the weekend
 * draws that factor from its Gamma posterior tempered by `temper` times
 * the model's sample_temper (shape and rate both multiplied: the same
 * mean, 1/(temper*sample_temper) the variance); later
 * calls reuse it, so every candidate is scored against one joint draw.
 * The segment mean of the slot is drawn too, per call, untempered but
 * at the debtor's view of the population posterior: from
 * Beta(mu*n*pop, (1-mu)*n*pop) while its pooled strength n is below 1e5
 * (a channel or hour the segment has hardly tried).
 * The order of calls decides which random numbers go where: keep it
 * deterministic.
 */
struct model_draw {
    const struct model_debtor *md;
    struct model_rng *rng;
    double temper;
    uint32_t have_f, have_h;
    int have_w;
    double f[_CHAN_KIND_MAX], h[24], w;
};
void model_draw_init(struct model_draw *d, const struct model_debtor *md, struct model_rng *rng,
                     double temper);
double model_draw_p(struct model_draw *d, enum chan_kind k, int how);

/* ---- seeded randomness (xoshiro256**) ---- */

struct model_rng {
    uint64_t s[4];
};
/* Seed from any 64-bit value (expanded with splitmix64). */
void model_rng_seed(struct model_rng *r, uint64_t seed);
/* The run's per-debtor, per-day seed: f(run seed, debtor id, day). */
uint64_t model_seed(uint64_t run_seed, int64_t debtor_id, int32_t day);
uint64_t model_rng_next(struct model_rng *r);
double model_rng_uniform(struct model_rng *r); /* [0, 1) */
double model_rng_normal(struct model_rng *r);
double model_rng_gamma(struct model_rng *r, double shape); /* shape > 0, scale 1 */
double model_rng_beta(struct model_rng *r, double a, double b);

#endif
