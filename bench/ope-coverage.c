/*
 * ope-coverage.c - does the 95 % interval of the off-policy estimators
 * (daemon/plan/ope.c) cover the truth?  Simulated decision logs whose truth is
 * known (bench/ope-sim.h), many seeds; prints per estimator the share of
 * seeds whose interval covers the truth, the mean bias, the mean interval
 * width and the mean effective sample size.
 *
 *   ope-coverage [--seeds S] [--contexts N] [--actions K] [--redraws R]
 *                [--target greedy|revalued|wider|other-model|all]
 *
 * Defaults: 500 seeds, 20,000 contexts, 6 actions, at most 1000 re-draws
 * (the planner's), every target (bench/ope-sim.h).  Exit 0 when both
 * estimators cover the truth in at least 90 % of seeds for every target
 * but the other-model stress case (printed, not judged).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/ope-sim.h"

/* One target over every seed; returns the lower of the two coverages. */
static double run_target(int seeds, const struct ope_sim_opts *o)
{
    int cov_s = 0, cov_d = 0, cov_l = 0;
    double bias_s = 0, bias_d = 0, width_s = 0, width_d = 0, ess = 0, logged = 0, truth_m = 0;
    for (int i = 0; i < seeds; i++) {
        struct ope_estimate e;
        double truth;
        if (ope_sim_run((uint64_t)i + 1, o, &e, &truth) < 0) {
            fprintf(stderr, "ope-coverage: out of memory\n");
            exit(3);
        }
        cov_s += e.snips_lo <= truth && truth <= e.snips_hi;
        cov_d += e.dr_lo <= truth && truth <= e.dr_hi;
        cov_l += e.logged_lo <= truth && truth <= e.logged_hi;
        bias_s += e.snips - truth;
        bias_d += e.dr - truth;
        width_s += e.snips_hi - e.snips_lo;
        width_d += e.dr_hi - e.dr_lo;
        ess += e.ess;
        logged += e.logged;
        truth_m += truth;
    }
    double S = seeds;
    printf("target %s: truth (mean) %.4f, logging policy's own reward %.4f, effective sample "
           "size %.0f (%.1f %%)\n", ope_sim_target_names[o->target], truth_m / S, logged / S,
           ess / S, 100 * ess / S / o->contexts);
    printf("  %-6s %9s %11s %11s\n", "", "coverage", "mean bias", "mean width");
    printf("  %-6s %8.1f%% %+11.5f %11.5f\n", "SNIPS", 100 * cov_s / S, bias_s / S,
           width_s / S);
    printf("  %-6s %8.1f%% %+11.5f %11.5f\n", "DR", 100 * cov_d / S, bias_d / S, width_d / S);
    printf("  (the logging policy's own mean covers the target's truth in %.1f %%)\n",
           100 * cov_l / S);
    return (cov_s < cov_d ? cov_s : cov_d) / S;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "seeds", required_argument, NULL, 's' },
        { "contexts", required_argument, NULL, 'n' },
        { "actions", required_argument, NULL, 'k' },
        { "redraws", required_argument, NULL, 'r' },
        { "target", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    struct ope_sim_opts o = { .contexts = 20000, .actions = 6, .redraws = 1000 };
    int seeds = 500, c, only = -1;
    while ((c = getopt_long(argc, argv, "s:n:k:r:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': seeds = atoi(optarg); break;
        case 'n': o.contexts = atoi(optarg); break;
        case 'k': o.actions = atoi(optarg); break;
        case 'r': o.redraws = atoi(optarg); break;
        case 't':
            only = -2;
            for (int t = 0; t < _OPE_SIM_TARGET_MAX; t++)
                if (!strcmp(optarg, ope_sim_target_names[t]))
                    only = t;
            if (!strcmp(optarg, "all"))
                only = -1;
            if (only == -2) {
                fprintf(stderr, "ope-coverage: unknown target '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            printf("usage: ope-coverage [--seeds S] [--contexts N] [--actions K] "
                   "[--redraws R] [--target greedy|revalued|wider|other-model|all]\n");
            return 0;
        default:
            return 2;
        }
    }
    if (seeds < 1 || o.contexts < 10 || o.actions < 2 || o.actions > OPE_SIM_ACTIONS_MAX ||
        o.redraws < 1) {
        fprintf(stderr, "ope-coverage: bad options\n");
        return 2;
    }
    printf("%d seeds x %d contexts, %d actions, logging probabilities from at most %d "
           "re-draws\n", seeds, o.contexts, o.actions, o.redraws);
    bool ok = true;
    for (int t = 0; t < _OPE_SIM_TARGET_MAX; t++) {
        if (only >= 0 && t != only)
            continue;
        o.target = (enum ope_sim_target)t;
        double cov = run_target(seeds, &o);
        if (t != OPE_SIM_OTHER && cov < 0.9)
            ok = false;
    }
    return ok ? 0 : 1;
}
