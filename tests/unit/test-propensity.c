/*
 * test-propensity.c - payment propensity on synthetic portfolios whose
 * true payment probabilities are known: the estimates, the shrinkage of
 * thin levels, calibration per decile and the history features.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "propensity.h"
#include "testlib.h"

#define NEAR(a, b, eps) (fabs((double)(a) - (double)(b)) <= (eps))

static const char *const bands[] = { "A", "B", "C", "D", "E" };
static const double band_f[] = { 2.0, 1.4, 1.0, 0.7, 0.4 };
static const char *const segs[] = { "card", "auto" };
static const double seg_f[] = { 1.0, 1.5 };
static const char *const jobs[] = { "employed", "retired", "student" }; /* no effect */

struct synth {
    struct debtor_rec rec;
    double p;
};

/* A synthetic debtor: risk band and segment matter, employment does not. */
static void synth(struct model_rng *r, struct synth *s)
{
    memset(s, 0, sizeof(*s));
    int b = (int)(model_rng_uniform(r) * 5), g = model_rng_uniform(r) < 0.6 ? 0 : 1;
    int j = (int)(model_rng_uniform(r) * 3);
    s->rec.risk_band = bands[b];
    s->rec.segment = segs[g];
    s->rec.employment_type = jobs[j];
    s->rec.country = "US";
    s->p = 0.12 * band_f[b] * seg_f[g];
}

static struct propensity *fit(uint64_t seed, int n)
{
    struct propensity *p = NULL;
    CHECK_INT(propensity_new(&p), 0);
    struct model_rng r;
    model_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        struct synth s;
        synth(&r, &s);
        struct propensity_features f = { .rec = &s.rec, .dpd = INT32_MIN };
        CHECK_INT(propensity_add(p, &f, model_rng_uniform(&r) < s.p), 0);
    }
    CHECK_INT(propensity_finish(p), 0);
    return p;
}

static void test_prior(void)
{
    struct propensity *p = NULL;
    CHECK_INT(propensity_new(&p), 0);
    struct debtor_rec rec = { .risk_band = "A" };
    struct propensity_features f = { .rec = &rec, .dpd = 10 };
    struct propensity_pred pr;
    propensity_predict(p, &f, &pr);
    CHECK(NEAR(pr.p, 0.1, 1e-12) && pr.nlev == 0);
    CHECK_INT(propensity_finish(p), 0);
    propensity_predict(p, &f, &pr);
    CHECK(NEAR(pr.p, 0.1, 1e-12) && pr.nlev == 0); /* invariant 2 */
    CHECK_INT(propensity_add(p, &f, true), -EINVAL);
    propensity_free(p);
    propensity_free(NULL);
}

static void test_known_rates(void)
{
    struct propensity *p = fit(1, 60000);
    int64_t ex, paid;
    propensity_counts(p, &ex, &paid);
    CHECK_INT(ex, 60000);
    CHECK(paid > 6000 && paid < 12000);
    double worst = 0;
    for (int b = 0; b < 5; b++)
        for (int g = 0; g < 2; g++)
            for (int j = 0; j < 3; j++) {
                struct debtor_rec rec = { .risk_band = bands[b], .segment = segs[g],
                                          .employment_type = jobs[j], .country = "US" };
                struct propensity_features f = { .rec = &rec, .dpd = INT32_MIN };
                struct propensity_pred pr;
                propensity_predict(p, &f, &pr);
                double truth = 0.12 * band_f[b] * seg_f[g];
                double err = fabs(pr.p - truth);
                if (err > worst)
                    worst = err;
                CHECK(pr.nlev == 5); /* with history 'none' */
            }
    if (worst > 0.025)
        fprintf(stderr, "worst error %.4f\n", worst);
    CHECK(worst <= 0.025);
    /* the column without an effect is shrunk hard, the risk band is not */
    CHECK(propensity_level_strength(p, PROP_LEVEL_EMPLOYMENT) >
          10 * propensity_level_strength(p, PROP_LEVEL_RISK));
    /* a value never seen: factor 1 (its parent) */
    struct debtor_rec rec = { .risk_band = "Z" };
    struct propensity_features f = { .rec = &rec, .dpd = INT32_MIN };
    struct propensity_pred pr;
    propensity_predict(p, &f, &pr);
    CHECK(pr.nlev == 1 && NEAR(pr.p, pr.base * pr.factor[0], 1e-12)); /* history only */
    char lab[64];
    struct debtor_rec ra = { .risk_band = "A" };
    f.rec = &ra;
    propensity_predict(p, &f, &pr);
    CHECK_INT(pr.nlev, 2);
    propensity_level_label(p, pr.lev_id[0], lab, sizeof(lab));
    CHECK_STR(lab, "risk band 'A'");
    propensity_level_label(p, pr.lev_id[1], lab, sizeof(lab));
    CHECK_STR(lab, "history 'none'");
    propensity_free(p);
}

/* Predicted against observed per decile, on debtors the model never saw. */
static void test_calibration(void)
{
    struct propensity *p = fit(2, 40000);
    enum { N = 40000 };
    static double pred[N];
    static unsigned char y[N];
    struct model_rng r;
    model_rng_seed(&r, 99);
    for (int i = 0; i < N; i++) {
        struct synth s;
        synth(&r, &s);
        struct propensity_features f = { .rec = &s.rec, .dpd = INT32_MIN };
        struct propensity_pred pr;
        propensity_predict(p, &f, &pr);
        pred[i] = pr.p;
        y[i] = model_rng_uniform(&r) < s.p;
    }
    /* deciles by predicted value: a counting sort on a fine grid */
    static int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    for (int gap = N / 2; gap > 0; gap /= 2)
        for (int i = gap; i < N; i++)
            for (int j = i; j >= gap && pred[order[j - gap]] > pred[order[j]]; j -= gap) {
                int t = order[j];
                order[j] = order[j - gap];
                order[j - gap] = t;
            }
    for (int d = 0; d < 10; d++) {
        double sp = 0, so = 0;
        int lo = N * d / 10, hi = N * (d + 1) / 10;
        for (int i = lo; i < hi; i++) {
            sp += pred[order[i]];
            so += y[order[i]];
        }
        sp /= hi - lo;
        so /= hi - lo;
        if (!NEAR(sp, so, 0.03))
            fprintf(stderr, "decile %d: predicted %.3f observed %.3f\n", d + 1, sp, so);
        CHECK(NEAR(sp, so, 0.03));
    }
    propensity_free(p);
}

/* A thin value with every example paid is shrunk towards the portfolio. */
static void test_shrinkage(void)
{
    struct propensity *p = NULL;
    CHECK_INT(propensity_new(&p), 0);
    struct model_rng r;
    model_rng_seed(&r, 3);
    struct debtor_rec thin = { .age_band = "18-24" }, thick = { .age_band = "65+" };
    struct debtor_rec mid = { .age_band = "35-44" };
    for (int i = 0; i < 20000; i++) {
        struct propensity_features f = { .rec = i % 2 ? &thick : &mid, .dpd = INT32_MIN };
        double truth = i % 2 ? 0.3 : 0.1;
        CHECK_INT(propensity_add(p, &f, model_rng_uniform(&r) < truth), 0);
    }
    for (int i = 0; i < 3; i++) {
        struct propensity_features f = { .rec = &thin, .dpd = INT32_MIN };
        CHECK_INT(propensity_add(p, &f, true), 0);
    }
    CHECK_INT(propensity_finish(p), 0);
    struct propensity_pred a, b;
    struct propensity_features f = { .rec = &thin, .dpd = INT32_MIN };
    propensity_predict(p, &f, &a);
    f.rec = &thick;
    propensity_predict(p, &f, &b);
    CHECK(NEAR(b.p, 0.3, 0.02));
    CHECK(a.p < 0.5 && a.p > a.base); /* 3 of 3 paid: pulled far below 1 */
    propensity_free(p);
}

static void test_features(void)
{
    struct debtor_rec rec = { .due_date = 20000 };
    int64_t day = 20040, at = (int64_t)day * 86400 + 12 * 3600;
    struct propensity_features f;
    propensity_features_at(&rec, NULL, 0, at, (int32_t)day, &f);
    CHECK_INT(f.dpd, 40);
    CHECK_INT(f.history, PROP_HIST_NONE);
    struct planner_outcome o[3] = {
        { .at = at - 10 * 86400, .code = OUTCOME_PROMISE_TO_PAY, .promise_day = 20035 },
        { .at = at - 6 * 86400, .code = OUTCOME_PAID },
        { .at = at + 86400, .code = OUTCOME_PAID }, /* after `at`: not history */
    };
    propensity_features_at(&rec, o, 3, at, (int32_t)day, &f);
    CHECK_INT(f.history, PROP_HIST_PROMISE_KEPT);
    propensity_features_at(&rec, o, 1, at, (int32_t)day, &f);
    CHECK_INT(f.history, PROP_HIST_PROMISE_BROKEN);
    o[0].promise_day = 20045;
    propensity_features_at(&rec, o, 1, at, (int32_t)day, &f);
    CHECK_INT(f.history, PROP_HIST_PROMISE_OPEN);
    propensity_features_at(&rec, o + 1, 1, at, (int32_t)day, &f);
    CHECK_INT(f.history, PROP_HIST_PAID);
    /* older than the history window: forgotten */
    o[1].at = at - (PROPENSITY_HISTORY_DAYS + 1) * 86400;
    propensity_features_at(&rec, o + 1, 1, at, (int32_t)day, &f);
    CHECK_INT(f.history, PROP_HIST_NONE);
    CHECK(propensity_paid_between(o, 3, at, at + 30 * 86400));
    CHECK(!propensity_paid_between(o, 2, at, at + 30 * 86400));
    struct debtor_rec nodue = { 0 };
    propensity_features_at(&nodue, NULL, 0, at, (int32_t)day, &f);
    CHECK_INT(f.dpd, INT32_MIN);
    CHECK_STR(propensity_history_to_string(PROP_HIST_PROMISE_KEPT), "promise kept");
}

/* dpd bands and tags (';'-separated, as imported) are levels. */
static void test_dpd_and_tags(void)
{
    struct propensity *p = NULL;
    CHECK_INT(propensity_new(&p), 0);
    struct model_rng r;
    model_rng_seed(&r, 4);
    struct debtor_rec a = { .tags = "vip;2024" }, b = { .tags = "2024" };
    for (int i = 0; i < 30000; i++) {
        bool early = i % 2;
        struct propensity_features f = { .rec = i % 3 ? &a : &b, .dpd = early ? 10 : 120 };
        double truth = (early ? 0.25 : 0.05) * (i % 3 ? 1.5 : 1.0);
        CHECK_INT(propensity_add(p, &f, model_rng_uniform(&r) < truth), 0);
    }
    CHECK_INT(propensity_finish(p), 0);
    struct propensity_features f = { .rec = &a, .dpd = 10 };
    struct propensity_pred pr;
    propensity_predict(p, &f, &pr);
    CHECK_INT(pr.nlev, 4); /* dpd '0-30', history 'none', tag 'vip', tag '2024' */
    if (!NEAR(pr.p, 0.375, 0.03))
        fprintf(stderr, "p %.4f\n", pr.p);
    CHECK(NEAR(pr.p, 0.375, 0.03));
    f.rec = &b;
    f.dpd = 120;
    propensity_predict(p, &f, &pr);
    if (!NEAR(pr.p, 0.05, 0.015))
        fprintf(stderr, "p %.4f\n", pr.p);
    CHECK(NEAR(pr.p, 0.05, 0.015));
    propensity_free(p);
}

TEST_MAIN({ "prior", test_prior }, { "known_rates", test_known_rates },
          { "calibration", test_calibration }, { "shrinkage", test_shrinkage },
          { "features", test_features }, { "dpd_and_tags", test_dpd_and_tags })
