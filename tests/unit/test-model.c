/*
 * test-model.c - the reach model: priors, segment pooling, debtor
 * shrinkage, the hour kernel and the seeded samplers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "testlib.h"

#define NEAR(a, b, eps) (fabs((double)(a) - (double)(b)) <= (eps))

static void test_kernel(void)
{
    for (int a = 0; a < MODEL_HOURS; a++) {
        CHECK(model_kernel(a, a) == 1.0);
        for (int b = 0; b < MODEL_HOURS; b++)
            CHECK(model_kernel(a, b) == model_kernel(b, a));
    }
    /* Monday 10:00 pools with Monday 09:00/11:00 and Tuesday 10:00, not Monday 15:00 */
    CHECK(model_kernel(10, 9) > model_kernel(10, 24 + 10));
    CHECK(model_kernel(10, 24 + 10) > 0);
    CHECK(model_kernel(10, 15) == 0);
    /* weekday to weekend pools less than weekday to weekday */
    CHECK(model_kernel(10, 5 * 24 + 10) < model_kernel(10, 2 * 24 + 10));
    /* 23:00 and 00:00 are neighbours on the hour-of-day circle */
    CHECK(model_kernel(23, 24 + 0) > 0);
    CHECK(model_kernel(-1, 3) == 0 && model_kernel(3, 168) == 0);
}

static void test_builtin_prior(void)
{
    for (int k = 0; k < _CHAN_KIND_MAX; k++)
        for (int h = 0; h < MODEL_HOURS; h++) {
            double p = model_builtin_prior(k, h);
            CHECK(p > 0 && p < 1);
        }
    /* calls: after work beats mid-morning on a weekday */
    CHECK(model_builtin_prior(CHAN_CALL, 18) > model_builtin_prior(CHAN_CALL, 10));
}

static void test_no_counts(void)
{
    struct model *m = NULL;
    CHECK_INT(model_new(NULL, 3, &m), 0);
    CHECK_INT(model_set_prior(m, CHAN_SMS, 20, 0.4, 50), 0);
    CHECK(model_set_prior(m, CHAN_SMS, 168, 0.4, 50) < 0);
    CHECK(model_set_prior(m, CHAN_SMS, 20, 1.0, 50) < 0);
    CHECK(model_set_prior(m, CHAN_SMS, 20, 0.4, 0) < 0);
    model_finish(m);
    CHECK(model_set_prior(m, CHAN_SMS, 20, 0.4, 50) < 0); /* frozen */
    double mean, n;
    model_segment_estimate(m, 1, CHAN_SMS, 20, &mean, &n);
    CHECK(NEAR(mean, 0.4, 1e-6)); /* invariant 2: no counts -> prior */
    model_segment_estimate(m, -1, CHAN_EMAIL, 8, &mean, &n);
    CHECK(NEAR(mean, model_builtin_prior(CHAN_EMAIL, 8), 1e-6));
    struct model_debtor md;
    model_debtor_prepare(m, 1, NULL, 0, &md);
    struct model_estimate e;
    model_estimate(&md, CHAN_SMS, 20, &e);
    CHECK(NEAR(e.mean, 0.4, 1e-6)); /* no own counts -> segment mean */
    CHECK(e.n > 0);
    model_free(m);
    model_free(NULL);
}

static void test_segment_pooling(void)
{
    struct model *m = NULL;
    CHECK_INT(model_new(NULL, 2, &m), 0);
    /* segment 0 answers calls on Monday 18:00 half the time, 10000 attempts */
    CHECK_INT(model_segment_add(m, 0, CHAN_CALL, 18, 10000, 5000), 0);
    CHECK(model_segment_add(m, 0, CHAN_CALL, 18, 1, 2) < 0);
    CHECK(model_segment_add(m, 2, CHAN_CALL, 18, 1, 1) < 0);
    model_finish(m);
    double at, nb, far, other, n;
    model_segment_estimate(m, 0, CHAN_CALL, 18, &at, &n);
    model_segment_estimate(m, 0, CHAN_CALL, 19, &nb, &n);     /* Monday 19:00: neighbour */
    model_segment_estimate(m, 0, CHAN_CALL, 24 + 18, &other, &n); /* Tuesday 18:00 */
    model_segment_estimate(m, 0, CHAN_CALL, 10, &far, &n);    /* Monday 10:00: not pooled */
    CHECK(NEAR(at, 0.5, 0.01));
    CHECK(nb > 0.4 && other > 0.4); /* pooling carries the evidence over */
    CHECK(NEAR(far, model_builtin_prior(CHAN_CALL, 10), 1e-6));
    double s1;
    model_segment_estimate(m, 1, CHAN_CALL, 18, &s1, &n);
    CHECK(NEAR(s1, model_builtin_prior(CHAN_CALL, 18), 1e-6)); /* other segment untouched */
    model_free(m);
}

static void test_debtor_shrinkage(void)
{
    struct model *m = NULL;
    CHECK_INT(model_new(NULL, 1, &m), 0);
    for (int h = 0; h < MODEL_HOURS; h++) {
        CHECK_INT(model_segment_add(m, 0, CHAN_SMS, h, 1000, 200), 0);
        CHECK_INT(model_segment_add(m, 0, CHAN_EMAIL, h, 1000, 200), 0);
    }
    model_finish(m);
    double seg, n;
    model_segment_estimate(m, 0, CHAN_SMS, 24 + 19, &seg, &n);
    CHECK(NEAR(seg, 0.2, 0.01));

    /* debtor A answers texts on Monday evenings: 4 of 4 */
    struct model_cell a[] = { { CHAN_SMS, 19, 0, 4, 4 } };
    struct model_debtor md;
    struct model_estimate e_eve, e_morn, e_mail;
    model_debtor_prepare(m, 0, a, 1, &md);
    CHECK(md.factor[CHAN_SMS] > 1.3);
    CHECK(NEAR(md.factor[CHAN_EMAIL], 1.0, 1e-9));
    CHECK(md.hour[19] > 1.1 && md.hour[18] > 1.05 && md.hour[18] < md.hour[19]);
    CHECK(NEAR(md.hour[10], 1.0, 1e-9)); /* no evidence near 10:00 */
    model_estimate(&md, CHAN_SMS, 24 + 19, &e_eve);  /* Tuesday 19:00 */
    model_estimate(&md, CHAN_SMS, 24 + 10, &e_morn); /* Tuesday 10:00 */
    model_estimate(&md, CHAN_EMAIL, 24 + 19, &e_mail);
    CHECK(e_eve.mean > seg * 1.5);  /* the channel factor and the hour pool */
    CHECK(e_eve.mean > e_morn.mean); /* the hour factor, learnt on Monday, holds Tuesday */
    CHECK(e_morn.mean > seg);       /* the channel factor alone still lifts */
    CHECK(e_mail.mean > seg && e_mail.mean < e_eve.mean); /* the hour factor on every channel */
    /* more evidence near 19:00: a smaller relative spread there */
    CHECK((1 - e_eve.mean) / (e_eve.mean * (e_eve.n + 1)) <
          (1 - e_morn.mean) / (e_morn.mean * (e_morn.n + 1)));

    /* debtor B never answers texts: 10 misses */
    struct model_cell b[] = { { CHAN_SMS, 19, 0, 5, 0 }, { CHAN_SMS, 24 + 12, 0, 5, 0 } };
    model_debtor_prepare(m, 0, b, 2, &md);
    struct model_estimate e;
    model_estimate(&md, CHAN_SMS, 2 * 24 + 19, &e);
    CHECK(e.mean < seg * 0.8);
    CHECK(e.mean > 0);
    /* garbage cells are ignored, not trusted */
    struct model_cell bad[] = { { 9, 19, 0, 5, 5 }, { CHAN_SMS, 200, 0, 5, 5 } };
    model_debtor_prepare(m, 0, bad, 2, &md);
    model_estimate(&md, CHAN_SMS, 19, &e);
    model_segment_estimate(m, 0, CHAN_SMS, 19, &seg, &n);
    CHECK(NEAR(e.mean, seg, 1e-9));
    model_free(m);
}

/* A debtor's preferred hour of day shows on every day and channel. */
static void test_hour_of_day(void)
{
    struct model *m = NULL;
    CHECK_INT(model_new(NULL, 1, &m), 0);
    for (int h = 0; h < MODEL_HOURS; h++)
        for (int k = 0; k < _CHAN_KIND_MAX; k++)
            CHECK_INT(model_segment_add(m, 0, k, h, 1000, 200), 0);
    model_finish(m);
    /* reaches at 19:00 on Monday (email) and Wednesday (sms), misses at 10:00 */
    struct model_cell c[] = {
        { CHAN_EMAIL, 19, 0, 3, 3 },
        { CHAN_SMS, 2 * 24 + 19, 0, 3, 2 },
        { CHAN_EMAIL, 10, 0, 3, 0 },
        { CHAN_SMS, 3 * 24 + 10, 0, 3, 0 },
    };
    struct model_debtor md;
    model_debtor_prepare(m, 0, c, 4, &md);
    struct model_estimate e19, e18, e16, e10, sat19;
    model_estimate(&md, CHAN_CALL, 4 * 24 + 19, &e19); /* Friday, a channel never tried */
    model_estimate(&md, CHAN_CALL, 4 * 24 + 18, &e18);
    model_estimate(&md, CHAN_CALL, 4 * 24 + 16, &e16);
    model_estimate(&md, CHAN_CALL, 4 * 24 + 10, &e10);
    model_estimate(&md, CHAN_CALL, 5 * 24 + 19, &sat19);
    CHECK(e19.mean > e18.mean);  /* smoothing: the neighbour gets part of it */
    CHECK(e18.mean > e16.mean);  /* two hours away: nothing */
    CHECK(NEAR(e16.mean / e16.seg_mean, md.factor[CHAN_CALL], 1e-9));
    CHECK(e10.mean < e16.mean);  /* misses at 10:00 lower it */
    CHECK(e19.mean > 0.2 * 1.1 && e10.mean < 0.2);
    CHECK(sat19.mean > e10.mean); /* and on weekends */
    CHECK(md.factor[CHAN_CALL] == 1.0);
    /* the estimate is a product: same hour of day, same channel, two weekdays */
    struct model_estimate mon19;
    model_estimate(&md, CHAN_CALL, 19, &mon19);
    CHECK(NEAR(mon19.mean, e19.mean, 1e-12));
    /* reaches only on weekends lift the weekend factor, not weekdays */
    struct model_cell w[] = {
        { CHAN_SMS, 5 * 24 + 12, 0, 4, 4 },
        { CHAN_SMS, 6 * 24 + 12, 0, 4, 3 },
        { CHAN_SMS, 2 * 24 + 12, 0, 8, 0 },
    };
    model_debtor_prepare(m, 0, w, 3, &md);
    CHECK(md.weekend > 1.3);
    struct model_estimate we, wd;
    model_estimate(&md, CHAN_SMS, 6 * 24 + 14, &we);
    model_estimate(&md, CHAN_SMS, 1 * 24 + 14, &wd);
    CHECK(we.mean > wd.mean * 1.3);
    model_free(m);
}

/* Thompson draws: one joint draw per debtor, centred on the posterior,
 * narrowing with evidence and with the temper. */
static void test_draw(void)
{
    struct model *m = NULL;
    struct model_params mp;
    model_params_default(&mp);
    mp.sample_temper = 1; /* the plain posterior */
    CHECK_INT(model_new(&mp, 1, &m), 0);
    for (int h = 0; h < MODEL_HOURS; h++)
        for (int k = 0; k < _CHAN_KIND_MAX; k++)
            CHECK_INT(model_segment_add(m, 0, k, h, 100000, 20000), 0); /* sure */
    model_finish(m);
    struct model_debtor fresh, old;
    model_debtor_prepare(m, 0, NULL, 0, &fresh);
    struct model_cell c[24];
    for (int h = 0; h < 24; h++)
        c[h] = (struct model_cell){ CHAN_SMS, (uint8_t)(24 + h), 0, 50, 10 };
    model_debtor_prepare(m, 0, c, 24, &old);
    struct model_rng rng;
    struct model_draw d;
    /* reproducible, and one draw per factor: repeated queries agree */
    model_rng_seed(&rng, 99);
    model_draw_init(&d, &fresh, &rng, 1);
    double p1 = model_draw_p(&d, CHAN_SMS, 19), p2 = model_draw_p(&d, CHAN_EMAIL, 19);
    CHECK(model_draw_p(&d, CHAN_SMS, 19) == p1);
    CHECK(model_draw_p(&d, CHAN_SMS, 2 * 24 + 19) == p1); /* shared factors */
    model_rng_seed(&rng, 99);
    model_draw_init(&d, &fresh, &rng, 1);
    CHECK(model_draw_p(&d, CHAN_SMS, 19) == p1);
    CHECK(model_draw_p(&d, CHAN_EMAIL, 19) == p2);
    /* moments over many draws */
    const struct model_debtor *mds[] = { &fresh, &old };
    double sd[2][2];
    for (int i = 0; i < 2; i++)
        for (int t = 0; t < 2; t++) {
            double s = 0, s2 = 0;
            int N = 20000;
            model_rng_seed(&rng, 5 + (uint64_t)i);
            for (int j = 0; j < N; j++) {
                model_draw_init(&d, mds[i], &rng, t ? 10 : 1);
                double p = model_draw_p(&d, CHAN_SMS, 24 + 15);
                CHECK(p > 0 && p < 1);
                s += p;
                s2 += p * p;
            }
            struct model_estimate e;
            model_estimate(mds[i], CHAN_SMS, 24 + 15, &e);
            CHECK(NEAR(s / N, e.mean, 0.01 * e.mean + 0.002));
            sd[i][t] = sqrt(s2 / N - (s / N) * (s / N));
            /* the Beta-equivalent strength describes the same spread */
            if (t == 0)
                CHECK(NEAR(sd[i][t], sqrt(e.mean * (1 - e.mean) / (e.n + 1)), 0.3 * sd[i][t]));
        }
    CHECK(sd[1][0] < sd[0][0] * 0.7); /* evidence narrows exploration */
    CHECK(NEAR(sd[0][1], sd[0][0] / sqrt(10), 0.15 * sd[0][1])); /* temper 10: variance / 10 */
    model_free(m);

    /* a segment without counts: its mean is uncertain and drawn too, untempered */
    CHECK_INT(model_new(NULL, 1, &m), 0);
    model_finish(m);
    model_debtor_prepare(m, 0, NULL, 0, &fresh);
    double s = 0, s2 = 0, mu = model_builtin_prior(CHAN_CALL, 18);
    int N = 20000;
    for (int j = 0; j < N; j++) {
        model_draw_init(&d, &fresh, &rng, 1);
        double p = model_draw_p(&d, CHAN_CALL, 18);
        s += p;
        s2 += p * p;
    }
    double var = s2 / N - (s / N) * (s / N);
    CHECK(NEAR(s / N, mu, 0.05 * mu));
    /* at least the prior's Beta spread (strength 10), though sample_temper is 16 */
    CHECK(var > 0.8 * mu * (1 - mu) / 11);
    model_free(m);
}

/*
 * Empirical Bayes: debtors whose channel factors spread (variance 0.25)
 * and whose hour of day does not matter give a channel strength near 4
 * and a large hour strength; a population without any spread gives large
 * strengths everywhere.  Each debtor: 6 cells (email and sms at three
 * hours of day far apart), 8 attempts each, reaches ~ Binomial(8, 0.2 f).
 */
static void eb_population(struct model *m, int nseg, double chan_sd, double hour_sd,
                          uint64_t seed)
{
    struct model_rng rng;
    model_rng_seed(&rng, seed);
    for (int i = 0; i < 6000; i++) {
        /* Gamma(4, 4) has variance 0.25: the factor a sample of debtors spreads by */
        double f[2], g[3];
        for (int k = 0; k < 2; k++)
            f[k] = chan_sd > 0 ? model_rng_gamma(&rng, 1 / (chan_sd * chan_sd)) *
                                     (chan_sd * chan_sd)
                               : 1;
        for (int h = 0; h < 3; h++)
            g[h] = hour_sd > 0 ? model_rng_gamma(&rng, 1 / (hour_sd * hour_sd)) *
                                     (hour_sd * hour_sd)
                               : 1;
        struct model_cell c[12];
        int n = 0;
        for (int k = 0; k < 2; k++)
            for (int h = 0; h < 3; h++)
                for (int day = 0; day < 2; day++) {
                    double p = 0.2 * f[k] * g[h];
                    uint32_t r = 0;
                    for (int a = 0; a < 4; a++)
                        r += model_rng_uniform(&rng) < p;
                    c[n++] = (struct model_cell){ (uint8_t)(k ? CHAN_SMS : CHAN_EMAIL),
                                                  (uint8_t)(day * 24 + 9 + 4 * h), 0, 4, r };
                }
        CHECK_INT(model_eb_add(m, i % nseg, c, (size_t)n), 0);
    }
}

static struct model *eb_model(int nseg)
{
    struct model *m = NULL;
    CHECK_INT(model_new(NULL, (size_t)nseg, &m), 0);
    for (int s = 0; s < nseg; s++)
        for (int h = 0; h < MODEL_HOURS; h++) {
            CHECK_INT(model_segment_add(m, s, CHAN_EMAIL, h, 100000, 20000), 0);
            CHECK_INT(model_segment_add(m, s, CHAN_SMS, h, 100000, 20000), 0);
        }
    model_finish(m);
    return m;
}

static void test_empirical_bayes(void)
{
    struct model_eb e, def;
    struct model *m = eb_model(2);
    /* before any sample: the defaults of model_params */
    model_eb_get(m, 0, &def);
    struct model_params p;
    model_params_default(&p);
    CHECK(def.channel[CHAN_SMS] == p.channel_strength && def.hour == p.hour_strength);
    CHECK(def.debtors == 0);
    CHECK(model_eb_add(m, 2, NULL, 0) < 0); /* no such segment */
    eb_population(m, 2, 0.5, 0, 11);
    model_eb_finish(m);
    for (int s = -1; s < 2; s++) {
        model_eb_get(m, s, &e);
        CHECK(e.debtors >= 3000);
        CHECK(e.channel[CHAN_EMAIL] > 2.5 && e.channel[CHAN_EMAIL] < 6.5);
        CHECK(e.channel[CHAN_SMS] > 2.5 && e.channel[CHAN_SMS] < 6.5);
        CHECK(e.hour > 30); /* the hour of day does not matter here */
        /* invariant 6 */
        CHECK(e.hour >= 0.5 && e.hour <= 1000 && e.weekend >= 0.5 && e.weekend <= 1000);
        CHECK(e.smooth2 >= 0 && e.smooth2 <= e.smooth1 && e.smooth1 <= 1);
    }
    /* the same sample gives the same estimates */
    struct model *m2 = eb_model(2);
    eb_population(m2, 2, 0.5, 0, 11);
    model_eb_finish(m2);
    for (int s = -1; s < 2; s++) {
        struct model_eb e2;
        model_eb_get(m, s, &e);
        model_eb_get(m2, s, &e2);
        CHECK(memcmp(&e, &e2, sizeof(e)) == 0);
    }
    model_free(m2);
    /* the debtor layer uses them: one reach in 4 on sms moves the factor more than
     * the default strength would */
    struct model_cell c[] = { { CHAN_SMS, 10, 0, 4, 3 } };
    struct model_debtor md;
    struct model_estimate est;
    model_debtor_prepare(m, 0, c, 1, &md);
    model_estimate(&md, CHAN_SMS, 24 + 10, &est);
    /* (c + 3) / (c + 0.8): 1.46 at c = 4, 1.25 at the default 8 */
    CHECK(est.mean / est.seg_mean > 1.35);
    model_free(m);

    /* no spread at all: strong priors, the debtor layer stays near the segment */
    m = eb_model(1);
    eb_population(m, 1, 0, 0, 12);
    model_eb_finish(m);
    model_eb_get(m, 0, &e);
    CHECK(e.channel[CHAN_EMAIL] > 30 && e.channel[CHAN_SMS] > 30 && e.hour > 30);
    model_free(m);

    /* the hour of day spreads (variance 0.25), channels do not */
    m = eb_model(1);
    eb_population(m, 1, 0, 0.5, 13);
    model_eb_finish(m);
    model_eb_get(m, 0, &e);
    CHECK(e.hour > 2.5 && e.hour < 6.5);
    CHECK(e.channel[CHAN_EMAIL] > 20 && e.channel[CHAN_SMS] > 20);
    model_free(m);
}

static void test_rng(void)
{
    struct model_rng a, b;
    model_rng_seed(&a, 42);
    model_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        CHECK(model_rng_next(&a) == model_rng_next(&b));
    /* invariant 3: fixed values on every host */
    model_rng_seed(&a, 1);
    uint64_t first = model_rng_next(&a);
    model_rng_seed(&b, 1);
    CHECK(first == model_rng_next(&b));
    CHECK(model_seed(1, 2, 3) == model_seed(1, 2, 3));
    CHECK(model_seed(1, 2, 3) != model_seed(1, 2, 4));
    CHECK(model_seed(1, 2, 3) != model_seed(1, 3, 3));
    CHECK(model_seed(1, 2, 3) != model_seed(2, 2, 3));

    model_rng_seed(&a, 7);
    double s = 0, s2 = 0;
    int N = 40000;
    for (int i = 0; i < N; i++) {
        double u = model_rng_uniform(&a);
        CHECK(u >= 0 && u < 1);
        s += u;
    }
    CHECK(NEAR(s / N, 0.5, 0.01));
    s = s2 = 0;
    for (int i = 0; i < N; i++) {
        double x = model_rng_normal(&a);
        s += x;
        s2 += x * x;
    }
    CHECK(NEAR(s / N, 0, 0.02));
    CHECK(NEAR(s2 / N, 1, 0.03));
    double shapes[] = { 0.3, 1, 4.5 };
    for (int k = 0; k < 3; k++) {
        s = 0;
        for (int i = 0; i < N; i++)
            s += model_rng_gamma(&a, shapes[k]);
        CHECK(NEAR(s / N, shapes[k], 0.04 * shapes[k] + 0.01));
    }
    double ab[][2] = { { 2, 8 }, { 0.5, 0.5 }, { 30, 10 } };
    for (int k = 0; k < 3; k++) {
        s = s2 = 0;
        for (int i = 0; i < N; i++) {
            double x = model_rng_beta(&a, ab[k][0], ab[k][1]);
            CHECK(x >= 0 && x <= 1);
            s += x;
            s2 += x * x;
        }
        double mu = ab[k][0] / (ab[k][0] + ab[k][1]);
        double var = mu * (1 - mu) / (ab[k][0] + ab[k][1] + 1);
        CHECK(NEAR(s / N, mu, 0.01));
        CHECK(NEAR(s2 / N - (s / N) * (s / N), var, var * 0.1));
    }
}

/* Every kernel candidate is symmetric, 1 on the diagonal; the default is model_kernel(). */
static void test_kernel_candidates(void)
{
    for (int c = 0; c < MODEL_KERNELS; c++)
        for (int a = 0; a < MODEL_HOURS; a += 7) {
            CHECK(model_kernel_k(c, a, a) == 1.0);
            for (int b = 0; b < MODEL_HOURS; b++) {
                CHECK(model_kernel_k(c, a, b) == model_kernel_k(c, b, a));
                if (c == MODEL_KERNEL_DEFAULT)
                    CHECK(model_kernel_k(c, a, b) == model_kernel(a, b));
            }
        }
    /* the sharpest candidate keeps the hour alone within a day */
    CHECK(model_kernel_k(0, 10, 11) == 0 && model_kernel_k(0, 10, 24 + 10) > 0);
    CHECK(model_kernel_k(-1, 1, 1) == 0 && model_kernel_k(MODEL_KERNELS, 1, 1) == 0);
}

/*
 * Held-out likelihood picks the kernel: a segment whose rate has a
 * one-hour peak every day (0.5 at 12:00, 0.1 elsewhere, plenty of data)
 * gets a kernel that does not blur it; a flat segment with few attempts
 * per cell gets one that pools the neighbouring hours.
 */
static void test_kernel_choice(void)
{
    struct model *m = NULL;
    CHECK_INT(model_new(NULL, 2, &m), 0);
    struct model_rng rng;
    model_rng_seed(&rng, 42);
    for (int h = 0; h < MODEL_HOURS; h++) {
        bool peak = h % 24 == 12;
        CHECK_INT(model_segment_add(m, 0, CHAN_SMS, h, 20000, peak ? 10000 : 2000), 0);
        uint64_t r = 0;
        for (int a = 0; a < 20; a++)
            r += model_rng_uniform(&rng) < 0.2;
        CHECK_INT(model_segment_add(m, 1, CHAN_SMS, h, 20, r), 0);
    }
    model_finish(m);
    int k0 = model_segment_kernel(m, 0), k1 = model_segment_kernel(m, 1);
    CHECK(k0 / 2 == 0); /* the hour alone */
    CHECK(k1 / 2 >= 1); /* neighbours pooled */
    double mean, n;
    model_segment_estimate(m, 0, CHAN_SMS, 2 * 24 + 12, &mean, &n);
    CHECK(mean > 0.45);
    model_segment_estimate(m, 0, CHAN_SMS, 2 * 24 + 11, &mean, &n);
    CHECK(mean < 0.13);
    /* with the old fixed kernel the peak would be read as about 0.34 */
    double a = 0, b = 0;
    for (int o = 0; o < MODEL_HOURS; o++) {
        double w = model_kernel(2 * 24 + 12, o);
        a += w * (o % 24 == 12 ? 10000 : 2000);
        b += w * 20000;
    }
    CHECK(a / b < 0.4);
    model_free(m);
}

/*
 * Levels below the segment: the segment's email rate is 0.2; debtors in
 * CA really answer 0.3 and in US 0.1 (factors 1.5 and 0.5) on email, SMS
 * 0.2 everywhere; the risk band has no effect.  The sample recovers the
 * country factors, leaves the risk band near 1 with a high strength, and
 * a country with two attempts stays near its segment.
 */
static void test_levels(void)
{
    struct model *m = NULL;
    CHECK_INT(model_new(NULL, 1, &m), 0);
    for (int h = 0; h < MODEL_HOURS; h++) {
        CHECK_INT(model_segment_add(m, 0, CHAN_EMAIL, h, 100000, 20000), 0);
        CHECK_INT(model_segment_add(m, 0, CHAN_SMS, h, 100000, 20000), 0);
    }
    model_finish(m);
    struct model_rng rng;
    model_rng_seed(&rng, 7);
    for (int i = 0; i < 4000; i++) {
        bool ca = i % 2;
        struct model_covariates cov = { .country = ca ? "CA" : "US",
                                        .risk_band = i % 3 ? "A" : "B",
                                        .tags = i % 4 ? "new, web" : NULL };
        struct model_cell c[20];
        int n = 0;
        for (int a = 0; a < 20; a++) {
            int k = a % 2 ? CHAN_SMS : CHAN_EMAIL;
            int how = (int)(model_rng_uniform(&rng) * 5) * 24 + 9 + (int)(model_rng_uniform(&rng) * 9);
            double p = k == CHAN_SMS ? 0.2 : ca ? 0.3 : 0.1;
            c[n++] = (struct model_cell){ (uint8_t)k, (uint8_t)how, 0, 1,
                                          model_rng_uniform(&rng) < p };
        }
        CHECK_INT(model_eb_add_levels(m, 0, &cov, c, (size_t)n), 0);
    }
    struct model_covariates thin = { .country = "XX" };
    struct model_cell tc[2] = { { CHAN_EMAIL, 10, 0, 1, 1 }, { CHAN_EMAIL, 34, 0, 1, 1 } };
    CHECK_INT(model_eb_add_levels(m, 0, &thin, tc, 2), 0);
    struct model_levels lv;
    struct model_covariates ca = { .country = "CA", .risk_band = "A" };
    model_levels_find(m, &ca, &lv);
    CHECK_INT(lv.n, 0); /* nothing fitted before model_eb_finish() */
    model_eb_finish(m);
    model_levels_find(m, &ca, &lv);
    CHECK_INT(lv.n, 2);
    char label[64];
    model_level_label(m, lv.id[0], label, sizeof(label));
    CHECK_STR(label, "country 'CA'");
    struct model_debtor md;
    struct model_estimate e;
    model_debtor_prepare_levels(m, 0, &lv, NULL, 0, &md);
    model_estimate(&md, CHAN_EMAIL, 2 * 24 + 12, &e);
    CHECK(NEAR(e.seg_mean, 0.2, 0.01));
    CHECK(NEAR(e.mean, 0.3, 0.035));
    CHECK(NEAR(e.lev_mean, e.mean, 1e-9)); /* no own counts: the levels' mean */
    model_estimate(&md, CHAN_SMS, 2 * 24 + 12, &e);
    CHECK(NEAR(e.mean, 0.2, 0.03));
    CHECK(NEAR(model_debtor_level_factor(&md, 1, CHAN_EMAIL, 12), 1, 0.1)); /* risk 'A' */
    double st, att;
    model_level_info(m, lv.id[1], &st, &att);
    CHECK(st > 50); /* the risk band does not matter: strongly shrunk */
    CHECK(att > 1000);
    struct model_covariates us = { .country = "US", .tags = "web" };
    model_levels_find(m, &us, &lv);
    CHECK_INT(lv.n, 2);
    model_debtor_prepare_levels(m, 0, &lv, NULL, 0, &md);
    model_estimate(&md, CHAN_EMAIL, 10, &e);
    CHECK(NEAR(e.mean, 0.1, 0.03));
    model_levels_find(m, &thin, &lv);
    CHECK_INT(lv.n, 1);
    model_debtor_prepare_levels(m, 0, &lv, NULL, 0, &md);
    model_estimate(&md, CHAN_EMAIL, 10, &e);
    CHECK(e.mean < 0.3); /* two reaches in two attempts: far from 1.0, near the segment */
    /* tags as imported, ';'-separated: each its own level */
    struct model_covariates semi = { .country = "US", .tags = "new;web" };
    model_levels_find(m, &semi, &lv);
    CHECK_INT(lv.n, 3);
    /* unknown values find nothing */
    struct model_covariates none = { .country = "FR", .region = "IDF" };
    model_levels_find(m, &none, &lv);
    CHECK_INT(lv.n, 0);
    model_free(m);
}

/*
 * Exploration of the population (model_explore_pop(), model.h): debtors
 * u = 0 ... 1 of one day choose between a slot the segment knows well
 * (sms, p = 0.2, sure) and an email slot at the same hour, and we count
 * how many draw the email slot higher.  Known answers: a slot nobody
 * tried (prior 0.15, strength 10) is explored, by fewer debtors than
 * plain Thompson sampling would send (every debtor at the full
 * posterior); the share falls as its evidence grows; a slot known to be
 * worse (p = 0.1, sure) is explored by nobody.
 */
static double explore_share(double email_att, double email_p, double e, bool plain)
{
    struct model *m = NULL;
    CHECK_INT(model_new(NULL, 1, &m), 0);
    for (int h = 0; h < MODEL_HOURS; h++) {
        CHECK_INT(model_set_prior(m, CHAN_EMAIL, h, 0.15, 10), 0);
        CHECK_INT(model_segment_add(m, 0, CHAN_SMS, h, 200000, 40000), 0);
        CHECK_INT(model_segment_add(m, 0, CHAN_EMAIL, h, (uint64_t)email_att,
                                    (uint64_t)(email_att * email_p + 0.5)),
                  0);
    }
    model_finish(m);
    struct model_debtor md;
    model_debtor_prepare(m, 0, NULL, 0, &md);
    int N = 20000, won = 0;
    struct model_rng rng;
    for (int i = 0; i < N; i++) {
        double u = (i + 0.5) / N;
        model_debtor_explore(&md, plain ? 1 : model_explore_pop(u, e));
        model_rng_seed(&rng, model_seed(7, i, 20000));
        struct model_draw d;
        model_draw_init(&d, &md, &rng, 1);
        double ps = model_draw_p(&d, CHAN_SMS, 24 + 19);
        double pe = model_draw_p(&d, CHAN_EMAIL, 24 + 19);
        won += pe > ps;
    }
    model_free(m);
    return (double)won / N;
}

static void test_explore(void)
{
    /* the view: the full posterior at u = 0, a share e within twice its strength */
    CHECK(model_explore_pop(0, 0.1) == 1);
    CHECK(NEAR(model_explore_pop(0.1, 0.1), 2, 1e-12));
    CHECK(NEAR(model_explore_pop(0.5, 0.1), 6, 1e-12));
    CHECK(model_explore_pop(0.3, 0.1) < model_explore_pop(0.6, 0.1));
    CHECK(model_explore_pop(0.5, 0) >= 1e6); /* no exploration: the mean */

    double untried = explore_share(0, 0, 0.1, false);
    double plain = explore_share(0, 0, 0.1, true);
    /* a slot with no data gets explored (~0.17: Beta(1.5, 8.5) above 0.2 at
     * strengths 10 ... 110) ... */
    CHECK(untried > 0.1 && untried < 0.22);
    /* ... by fewer debtors than plain Thompson sampling sends (~0.27) */
    CHECK(plain > 0.22 && plain < 0.32);
    CHECK(untried < 0.7 * plain);
    /* exploration decays as the slot's evidence grows (p = 0.15 < 0.2) */
    double some = explore_share(30, 0.15, 0.1, false);
    double more = explore_share(300, 0.15, 0.1, false);
    CHECK(some < 0.6 * untried);
    CHECK(more < 0.2 * some);
    /* what is left is the debtor's own channel factors (tempered draws, ~1%),
     * the same as with the population at its mean (no exploration) */
    double floor = explore_share(0, 0, 0, false);
    CHECK(floor < 0.02);
    CHECK(more < 1.5 * floor + 0.002);
    /* a well-known bad slot is not explored at all */
    CHECK(explore_share(20000, 0.1, 0.1, false) == 0);
    CHECK(explore_share(20000, 0.1, 0.1, true) == 0);

    /* the estimate's strength follows the view; pop_rv is the full posterior's */
    struct model *m = NULL;
    CHECK_INT(model_new(NULL, 1, &m), 0);
    CHECK_INT(model_set_prior(m, CHAN_EMAIL, 19, 0.15, 10), 0);
    model_finish(m);
    struct model_debtor md;
    model_debtor_prepare(m, 0, NULL, 0, &md);
    struct model_estimate wide, narrow;
    model_estimate(&md, CHAN_EMAIL, 19, &wide);
    model_debtor_explore(&md, 11);
    model_estimate(&md, CHAN_EMAIL, 19, &narrow);
    CHECK(narrow.n > wide.n);
    CHECK(narrow.mean == wide.mean);
    CHECK(NEAR(wide.pop_rv, 0.85 / (0.15 * 11), 1e-4));
    CHECK(narrow.pop_rv == wide.pop_rv);
    model_debtor_explore(&md, 0.2); /* below 1: the full posterior */
    CHECK(md.pop == 1);
    model_free(m);
}

static void test_bad_params(void)
{
    struct model_params p;
    model_params_default(&p);
    p.weekend_strength = 0;
    struct model *m = NULL;
    CHECK(model_new(&p, 1, &m) < 0);
    CHECK(m == NULL);
    model_params_default(&p);
    p.hour_smooth = 1.5;
    CHECK(model_new(&p, 1, &m) < 0);
    model_params_default(&p);
    p.sample_temper = 0;
    CHECK(model_new(&p, 1, &m) < 0);
    CHECK(m == NULL);
    model_params_default(&p);
    CHECK_INT(model_new(&p, 0, &m), 0);
    model_finish(m);
    model_finish(m);
    CHECK_INT(model_nsegments(m), 0);
    model_free(m);
}

TEST_MAIN({ "kernel", test_kernel }, { "builtin_prior", test_builtin_prior },
          { "no_counts", test_no_counts }, { "segment_pooling", test_segment_pooling },
          { "debtor_shrinkage", test_debtor_shrinkage }, { "hour_of_day", test_hour_of_day },
          { "draw", test_draw }, { "empirical_bayes", test_empirical_bayes },
          { "rng", test_rng }, { "kernel_candidates", test_kernel_candidates },
          { "kernel_choice", test_kernel_choice }, { "levels", test_levels },
          { "explore", test_explore }, { "bad_params", test_bad_params })
