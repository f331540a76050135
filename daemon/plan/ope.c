/*
 * ope.c - off-policy estimators (see ope.h; docs/planner.md,
 * "Off-policy evaluation").
 *
 * Owns nothing.  Never: allocates, does I/O, or uses an observation
 * without a positive logging probability.
 *
 *   w_i    = pi_i / mu_i
 *   SNIPS  = sum w_i r_i / sum w_i
 *            se^2 = sum w_i^2 (r_i - SNIPS)^2 / (sum w_i)^2   (delta method)
 *   DR     = mean of t_i = v_i + w_i (r_i - q_i)
 *            se^2 = sample variance of t / n
 *   ESS    = (sum w_i)^2 / sum w_i^2
 *
 * Invariants:
 *  1. Every interval holds its estimate; se >= 0.
 *  2. With pi_i = mu_i for every i (the logging policy evaluated on its
 *     own logs) SNIPS is the logged mean and ESS is n.
 */
#include <errno.h>
#include <math.h>

#include "ope.h"

int ope_estimate(const struct ope_obs *v, size_t n, struct ope_estimate *ret)
{
    struct ope_estimate e = { 0 };
    double sw = 0, sw2 = 0, swr = 0, sr = 0, sr2 = 0, st = 0, sv = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(v[i].mu > 0))
            continue;
        double w = v[i].pi / v[i].mu;
        double t = v[i].v + w * (v[i].r - v[i].q);
        e.n++;
        sw += w;
        sw2 += w * w;
        swr += w * v[i].r;
        sr += v[i].r;
        sr2 += v[i].r * v[i].r;
        st += t;
        sv += v[i].v;
        if (w > e.w_max)
            e.w_max = w;
    }
    if (!e.n)
        return -EINVAL;
    double m = (double)e.n;
    e.logged = sr / m;
    double lvar = e.n > 1 ? (sr2 - m * e.logged * e.logged) / (m - 1) : 0;
    double lse = sqrt(lvar > 0 ? lvar / m : 0);
    e.logged_lo = e.logged - OPE_Z95 * lse;
    e.logged_hi = e.logged + OPE_Z95 * lse;
    e.w_mean = sw / m;
    e.ess = sw2 > 0 ? sw * sw / sw2 : 0;
    e.dr = sw > 0 ? sv / m + (st - sv) / sw : sv / m; /* self-normalised correction */
    e.dm = sv / m;
    /* second pass: residuals around the estimates */
    double snum = 0, dvar = 0;
    e.snips = sw > 0 ? swr / sw : 0;
    for (size_t i = 0; i < n; i++) {
        if (!(v[i].mu > 0))
            continue;
        double w = v[i].pi / v[i].mu;
        double t = v[i].v - e.dm + w * (v[i].r - v[i].q - (e.dr - e.dm)) / e.w_mean;
        snum += w * w * (v[i].r - e.snips) * (v[i].r - e.snips);
        dvar += t * t;
    }
    e.snips_se = sw > 0 ? sqrt(snum) / sw : 0;
    e.dr_se = e.n > 1 ? sqrt(dvar / (m - 1) / m) : 0;
    e.snips_lo = e.snips - OPE_Z95 * e.snips_se;
    e.snips_hi = e.snips + OPE_Z95 * e.snips_se;
    e.dr_lo = e.dr - OPE_Z95 * e.dr_se;
    e.dr_hi = e.dr + OPE_Z95 * e.dr_se;
    *ret = e;
    return 0;
}
