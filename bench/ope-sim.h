/*
 * ope-sim.h - simulated decision logs whose truth is known, for the
 * off-policy estimators (daemon/plan/ope.c): used by bench/ope-coverage.c (the
 * long form, many seeds) and tests/unit/test-ope.c (a short form).
 *
 * One seed: `contexts` debtor-days, each with `actions` allowed slots.
 * Truth: p(i, a) = sigmoid(l(s_i, a) + d(i, a)), l a segment's logit per
 * slot (4 segments, N(-1.6, 0.5^2)), d the debtor's own (N(0, 0.4^2)).
 * The logging policy is the planner's kind: Thompson sampling on a
 * model that knows each segment's logits with an error (N(0, 0.25^2)),
 * each slot's posterior Beta(q n, (1 - q) n) with n from 20 to 300
 * pseudo-attempts; it logs the probability of its choice estimated the
 * way the planner does, 1 / the re-draws until the choice wins again (at
 * most `redraws`).
 * Targets (the truth is the target's expected reward on the same
 * contexts, from p):
 *   OPE_SIM_GREEDY     a challenger without exploration: greedy on the model
 *   OPE_SIM_REVALUED   a challenger strategy valuing slot 0 1.5 times more
 *   OPE_SIM_WIDER      Thompson sampling at a quarter of the strengths
 *                      (explores more; probabilities from 64 re-draws)
 *   OPE_SIM_OTHER      a different model (other errors), greedy: a stress
 *                      case, its choices are often slots the logging
 *                      policy almost never takes
 */
enum ope_sim_target { OPE_SIM_GREEDY, OPE_SIM_REVALUED, OPE_SIM_WIDER, OPE_SIM_OTHER,
                      _OPE_SIM_TARGET_MAX };
static const char *const ope_sim_target_names[_OPE_SIM_TARGET_MAX] = {
    "greedy", "revalued", "wider", "other-model",
};
#ifndef CADENZA_OPE_SIM_H
#define CADENZA_OPE_SIM_H

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "model.h"
#include "ope.h"

#define OPE_SIM_ACTIONS_MAX 16
#define OPE_SIM_SEGMENTS 4

struct ope_sim_opts {
    int contexts;
    int actions;
    int redraws;       /* the logging policy's cap (planner: 1000) */
    enum ope_sim_target target;
};

static double ope_sim_sigmoid(double x)
{
    return 1 / (1 + exp(-x));
}

/* One Thompson choice among k slots with means q and strengths n. */
static int ope_sim_thompson(struct model_rng *r, const double *q, const double *n, int k)
{
    int best = 0;
    double bv = -1;
    for (int a = 0; a < k; a++) {
        double x = model_rng_beta(r, q[a] * n[a], (1 - q[a]) * n[a]);
        if (x > bv) {
            bv = x;
            best = a;
        }
    }
    return best;
}

/*
 * Run one seed: fills *ret (the estimates) and *ret_truth (the target's
 * expected reward on these contexts).  Returns 0 or -ENOMEM.
 */
static int ope_sim_run(uint64_t seed, const struct ope_sim_opts *o, struct ope_estimate *ret,
                       double *ret_truth)
{
    int k = o->actions > OPE_SIM_ACTIONS_MAX ? OPE_SIM_ACTIONS_MAX : o->actions;
    struct model_rng r;
    model_rng_seed(&r, seed * UINT64_C(0x9e3779b97f4a7c15) + 17);
    double lseg[OPE_SIM_SEGMENTS][OPE_SIM_ACTIONS_MAX], mlog[OPE_SIM_SEGMENTS][OPE_SIM_ACTIONS_MAX];
    double mtgt[OPE_SIM_SEGMENTS][OPE_SIM_ACTIONS_MAX];
    for (int s = 0; s < OPE_SIM_SEGMENTS; s++)
        for (int a = 0; a < k; a++) {
            lseg[s][a] = -1.6 + 0.5 * model_rng_normal(&r);
            mlog[s][a] = lseg[s][a] + 0.25 * model_rng_normal(&r);
            mtgt[s][a] = lseg[s][a] + 0.25 * model_rng_normal(&r);
        }
    struct ope_obs *obs = malloc((size_t)o->contexts * sizeof(*obs));
    if (!obs)
        return -ENOMEM;
    double truth = 0;
    for (int i = 0; i < o->contexts; i++) {
        int s = (int)(model_rng_uniform(&r) * OPE_SIM_SEGMENTS);
        double p[OPE_SIM_ACTIONS_MAX], q[OPE_SIM_ACTIONS_MAX], n[OPE_SIM_ACTIONS_MAX];
        double qt[OPE_SIM_ACTIONS_MAX], pit[OPE_SIM_ACTIONS_MAX];
        for (int a = 0; a < k; a++) {
            p[a] = ope_sim_sigmoid(lseg[s][a] + 0.4 * model_rng_normal(&r));
            q[a] = ope_sim_sigmoid(mlog[s][a]);
            qt[a] = ope_sim_sigmoid(mtgt[s][a]);
            n[a] = 20 + 280 * model_rng_uniform(&r);
            pit[a] = 0;
        }
        /* the logging policy: its choice, then the planner's estimate: 1 / the
         * re-draws until it wins again (at most `redraws`) */
        int al = ope_sim_thompson(&r, q, n, k), draws = 1;
        while (draws <= o->redraws && ope_sim_thompson(&r, q, n, k) != al)
            draws++;
        double mu = 1.0 / draws;
        double reward = model_rng_uniform(&r) < p[al];
        /* the target's probabilities */
        if (o->target == OPE_SIM_WIDER) {
            double nw[OPE_SIM_ACTIONS_MAX];
            for (int a = 0; a < k; a++)
                nw[a] = n[a] / 4;
            for (int j = 0; j < 64; j++)
                pit[ope_sim_thompson(&r, q, nw, k)] += 1.0 / 64;
        } else {
            const double *m = o->target == OPE_SIM_OTHER ? qt : q;
            int best = 0;
            for (int a = 1; a < k; a++) {
                double x = m[a], y = m[best];
                if (o->target == OPE_SIM_REVALUED) {
                    x *= a == 0 ? 1.5 : 1;
                    y *= best == 0 ? 1.5 : 1;
                }
                if (x > y)
                    best = a;
            }
            pit[best] = 1;
        }
        double v = 0, t = 0;
        for (int a = 0; a < k; a++) {
            v += pit[a] * q[a]; /* the reward model: the logging policy's means */
            t += pit[a] * p[a];
        }
        truth += t;
        obs[i] = (struct ope_obs){ .mu = mu, .pi = pit[al], .r = reward, .q = q[al], .v = v };
    }
    int rc = ope_estimate(obs, (size_t)o->contexts, ret);
    free(obs);
    *ret_truth = truth / o->contexts;
    return rc;
}

#endif
