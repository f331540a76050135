/*
 * ope.h - off-policy evaluation: what a candidate policy would have
 * achieved, estimated from decisions another policy made and logged with
 * the probability it chose them (docs/planner.md, "Off-policy
 * evaluation").  Pure: no I/O, no allocation.
 *
 * For logged decision i: the logging policy chose action a_i with
 * probability mu_i and got reward r_i; the candidate (target) policy
 * would choose a_i with probability pi_i.  Importance weight w_i =
 * pi_i / mu_i.  The doubly robust estimate also takes a reward model:
 * q_i, its prediction for a_i, and v_i, its prediction for the target's
 * own choice (sum over actions of pi(a) q(a)).
 */
#ifndef CADENZA_OPE_H
#define CADENZA_OPE_H

#include <stddef.h>

struct ope_obs {
    double mu; /* logging probability of the logged action, > 0 */
    double pi; /* target probability of the logged action, in [0, 1] */
    double r;  /* reward of the logged action */
    double q;  /* predicted reward of the logged action */
    double v;  /* predicted reward of the target's choice */
};

struct ope_estimate {
    size_t n;                             /* decisions used (mu > 0) */
    double logged, logged_lo, logged_hi;  /* the logging policy's own mean reward */
    double snips, snips_se, snips_lo, snips_hi; /* self-normalised importance sampling */
    double dr, dr_se, dr_lo, dr_hi;       /* doubly robust */
    double dm;                            /* the reward model alone (mean of v) */
    double ess;                           /* effective sample size (sum w)^2 / sum w^2 */
    double w_mean, w_max;
};

/* Normal quantile of the 95 % intervals. */
#define OPE_Z95 1.959963984540054

/*
 * Estimate from n observations (those with mu <= 0 are skipped).
 * Intervals are estimate +- OPE_Z95 x standard error: the delta method
 * for the self-normalised ratio, the sample standard deviation of the
 * doubly robust terms.  Returns 0, or -EINVAL when no observation is usable.
 */
int ope_estimate(const struct ope_obs *v, size_t n, struct ope_estimate *ret);

#endif
