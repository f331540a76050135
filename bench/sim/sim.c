/*
 * sim.c - the simulation benchmark of the planner (docs/simulation.md).
 *
 * A synthetic population (US; the harder worlds rhythms, tastes and both
 * add CA and PR) with a HIDDEN true reach probability
 * p(debtor, channel, local hour of week); the real `cadenza` binary plans
 * every day and learns only from the outcomes this program imports:
 *
 *   generate debtors (observable CSV) -> cadenza import debtors
 *   for each day D:
 *     cadenza run --date D --now <D 06:00 UTC> --no-enqueue
 *     read D's attempts from the store (read-only)  -> check the rules
 *     sample each attempt's outcome from the truth  -> outcomes CSV
 *     comparison policies on the same debtor-days   -> expected and sampled
 *     cadenza import outcomes
 *   report per window of days (learned / oracle / country-aware ceiling /
 *   segment ceiling / fixed / random / bayes, regret), also a TSV per day.  bayes is the bound on
 *   learning: the true model's posterior over the hidden individual effects
 *   from its own outcomes (--bayes off skips its CPU time).
 *
 * Invariants:
 *  1. The planner sees only the debtors CSV (observable columns) and the
 *     imported outcomes; the truth never leaves this process.
 *  2. Every comparison policy contacts exactly the debtors the learned
 *     planner contacted that day (same number of attempts) and chooses
 *     among the slots the strategy and the sim-nanp profile (us-regf's
 *     rules) allow it:
 *     local hours 08..20 on email, sms and call, no call on the 7 local
 *     days starting with its own last right-party call (its own history),
 *     per-(channel, UTC hour) capacities when given.
 *  3. Same parameters and seed -> same population, same outcomes and
 *     policies (the planner is seeded by the date).
 *  4. Each policy samples its own outcomes from its own stream, so the
 *     policies never share luck; bayes learns from its own outcomes only.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define NCH 3      /* simulated channels: email, sms, call */
#define H0 8       /* first allowed local hour */
#define H1 21      /* end of the allowed local hours (exclusive) */
#define NH (H1 - H0)
#define NSLOT (NCH * NH)
#define COOLDOWN_DAYS 7
#define MAX_DAYS 400

enum { POL_LEARNED, POL_ORACLE, POL_SEGMENT, POL_FIXED, POL_RANDOM, POL_BAYES, POL_COUNTRY,
       NPOL };
static const char *const pol_name[NPOL] = { "learned", "oracle", "segment", "fixed", "random",
                                            "bayes", "country" };
/* the first five policies' random streams as before bayes existed (same seed, same run) */
#define NPOL_STREAM 5
static const char *const ch_name[NCH] = { "email", "sms", "call" };

/* ---- random numbers: splitmix64 seeding, xoshiro256** ---- */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed * 0x2545f4914f6cdd1dULL ^ stream * 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

static double rng_unif(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static unsigned rng_below(struct rng *r, unsigned n)
{
    return (unsigned)(rng_unif(r) * n);
}

static double rng_normal(struct rng *r)
{
    double u = rng_unif(r), v = rng_unif(r);
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static size_t rng_pick(struct rng *r, const double *w, size_t n)
{
    double t = 0;
    for (size_t i = 0; i < n; i++)
        t += w[i];
    double x = rng_unif(r) * t;
    for (size_t i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

/*
 * The stream of (policy, debtor, day) under a salt: the first five
 * policies keep the streams they had before bayes was added (so a seed
 * reproduces earlier runs); bayes gets streams of its own.
 */
static void rng_stream(struct rng *r, uint64_t seed, int64_t day, uint32_t i, int pol)
{
    if (pol < NPOL_STREAM)
        rng_seed(r, seed, (uint64_t)day * 1000003ULL * NPOL_STREAM + i * NPOL_STREAM +
                              (uint64_t)pol);
    else
        rng_seed(r, seed ^ (0xba7e5ULL << 20) ^ (uint64_t)pol, (uint64_t)day * 1000003ULL + i);
}

/* ---- the ground truth (docs/simulation.md lists every number) ---- */

static const double base_logit[NCH] = { -2.3, -2.1, -2.0 };

struct zone {
    const char *tz, *region, *area;
    double weight; /* share within its country */
    int country;   /* index into countries[] */
};
/* the first five are the base worlds' zones (all of them US); the harder worlds add more */
static const struct zone zones[] = {
    { "America/New_York", "NY", "212", 0.45, 0 },  { "America/Chicago", "IL", "312", 0.28, 0 },
    { "America/Denver", "CO", "303", 0.07, 0 },    { "America/Phoenix", "AZ", "602", 0.06, 0 },
    { "America/Los_Angeles", "CA", "213", 0.14, 0 },
    { "America/Toronto", "ON", "416", 0.60, 1 },   { "America/Vancouver", "BC", "604", 0.25, 1 },
    { "America/Halifax", "NS", "902", 0.15, 1 },   { "America/Puerto_Rico", "PR", "787", 1.0, 2 },
};
#define NZONE (sizeof(zones) / sizeof(zones[0]))
#define NZONE_BASE 5

/* countries of the harder worlds (the base worlds are all US) */
#define NCTRY 3
static const char *const ctry_code[NCTRY] = { "US", "CA", "PR" };
static const double ctry_weight[NCTRY] = { 0.50, 0.30, 0.20 };

struct segment {
    const char *name;
    double weight;
    double ch[NCH]; /* logit offset per channel */
    double shift;   /* hours added to the channel hour profiles' peaks */
};
static const struct segment segments[] = {
    { "card", 0.35, { 0.30, 0.00, -0.20 }, 0.0 },
    { "telecom", 0.25, { -0.30, 0.40, -0.10 }, 2.0 },
    { "utility", 0.25, { 0.00, -0.20, 0.30 }, -1.0 },
    { "auto", 0.15, { 0.10, 0.10, 0.00 }, 1.0 },
};
#define NSEG (sizeof(segments) / sizeof(segments[0]))

/* risk band A..E: level, and calls gain / email loses with risk */
static const double risk_weight[5] = { 0.15, 0.25, 0.30, 0.20, 0.10 };
static const double risk_level[5] = { 0.40, 0.20, 0.00, -0.20, -0.40 };
static const double risk_email = -0.10, risk_call = 0.10; /* per band from C */

/* heterogeneity scale per setting */
struct het {
    const char *name;
    double scale;
};
enum { W_RHYTHMS = 1, W_TASTES = 2 };
struct het_world {
    const char *name;
    double scale;
    int world; /* W_* bits: the harder worlds */
};
static const struct het_world hets[] = {
    { "none", 0.0, 0 },         { "moderate", 1.0, 0 },       { "strong", 2.0, 0 },
    { "rhythms", 1.0, W_RHYTHMS }, { "tastes", 1.0, W_TASTES }, { "both", 1.0, W_RHYTHMS | W_TASTES },
};
static int g_world; /* W_* bits of the setting */

/*
 * Hidden daily-rhythm types (world "rhythms"): narrow peaks (Gaussian sd
 * RHY_WIDTH hours, about an hour wide at half height), some with two a
 * day, different on weekdays and at weekends; each country mixes them
 * differently.  Logit offset: sum of the day's peaks - RHY_BASE, on every
 * channel (it replaces the individual preferred-hour bump).
 */
#define NRHY 5
#define RHY_WIDTH 0.45
#define RHY_BASE 0.5
struct rhythm {
    const char *name;
    double wd_at[2], wd_amp[2]; /* weekday peaks (amp 0: none) */
    double we_at[2], we_amp[2]; /* weekend peaks */
};
static const struct rhythm rhythms[NRHY] = {
    { "early", { 8.5, 0 }, { 1.6, 0 }, { 10.5, 0 }, { 1.2, 0 } },
    { "lunch", { 12.5, 0 }, { 1.6, 0 }, { 11.5, 0 }, { 0.6, 0 } },
    { "split", { 12.5, 19.5 }, { 1.2, 1.4 }, { 17.5, 0 }, { 1.0, 0 } },
    { "night", { 20.5, 0 }, { 1.8, 0 }, { 20.5, 0 }, { 1.4, 0 } },
    { "shift", { 15.5, 0 }, { 1.5, 0 }, { 9.5, 0 }, { 1.5, 0 } },
};
static const double rhy_mix[NCTRY][NRHY] = {
    { 0.35, 0.15, 0.20, 0.20, 0.10 }, /* US */
    { 0.10, 0.40, 0.10, 0.10, 0.30 }, /* CA */
    { 0.10, 0.10, 0.40, 0.35, 0.05 }, /* PR */
};

/*
 * Heavy-tailed channel tastes (world "tastes"): per debtor and channel
 * TASTE_SCALE x a Student t with TASTE_DF degrees of freedom (clipped at
 * +-TASTE_CLIP), plus a country lean on each channel (observable through
 * the country column); they replace the individual normal affinities.
 */
#define TASTE_DF 2.0
#define TASTE_SCALE 0.35
#define TASTE_CLIP 4.0
static const double ctry_lean[NCTRY][3] = {
    { 0.0, 0.0, 0.0 }, { 0.35, -0.25, -0.1 }, { -0.3, 0.45, 0.0 },
};

/* individual effects at scale 1 */
#define IND_CH_SD 0.50    /* per-channel affinity, N(0, sd) */
#define IND_PREF_BONUS 0.40 /* added to one preferred channel (uniform) */
#define IND_HOUR_AMP 0.80 /* bump at the preferred hour ... */
#define IND_HOUR_WIDTH 1.5 /* ... Gaussian width in hours */
#define IND_HOUR_BASE 0.30 /* subtracted, so the mean effect is ~0 */
#define IND_WEEKEND_SD 0.30 /* weekend affinity */

static double bump(double h, double c, double w)
{
    double d = h - c;
    return exp(-d * d / (2 * w * w));
}

static double rhythm_at(int type, double h, bool weekend)
{
    const struct rhythm *r = &rhythms[type];
    const double *at = weekend ? r->we_at : r->wd_at, *amp = weekend ? r->we_amp : r->wd_amp;
    double x = -RHY_BASE;
    for (int i = 0; i < 2; i++)
        if (amp[i] > 0)
            x += amp[i] * bump(h, at[i], RHY_WIDTH);
    return x;
}

/* Channel hour profile: logit offset at local hour h (slot start, + 0.5 for its middle). */
static double hour_profile(int ch, double h, bool weekend)
{
    switch (ch) {
    case 0: /* email: morning and evening inbox checks, weaker at weekends */
        return 0.6 * bump(h, 9.0, 1.5) + 0.5 * bump(h, 20.0, 1.5) - 0.25 - (weekend ? 0.2 : 0);
    case 1: /* sms: lunch and after work */
        return 0.5 * bump(h, 12.5, 1.2) + 0.6 * bump(h, 18.0, 1.5) - 0.25;
    default: /* call: after work on weekdays, late morning at weekends */
        return weekend ? 0.7 * bump(h, 11.0, 1.5) - 0.3 : 0.8 * bump(h, 19.0, 1.5) - 0.35;
    }
}

struct debtor {
    uint8_t zone, seg, risk, pref;
    uint8_t rhythm; /* world rhythms: hidden daily-rhythm type */
    float ind_ch[NCH]; /* individual channel effect (scaled) */
    float ind_hour_c;  /* preferred hour */
    float ind_we;      /* weekend effect (scaled) */
    /* per policy: first local day (days since epoch) a call is allowed again */
    int32_t call_ok_from[NPOL];
    int32_t last_day; /* learned: last local day with an attempt (one per day check) */
};

static double g_scale; /* heterogeneity scale */

static double logit_segment(const struct debtor *d, int ch, int hour, bool weekend)
{
    const struct segment *s = &segments[d->seg];
    double h = hour + 0.5 - s->shift;
    double x = base_logit[ch] + s->ch[ch] + risk_level[d->risk] + hour_profile(ch, h, weekend);
    if (ch == 0)
        x += risk_email * (d->risk - 2);
    if (ch == 2)
        x += risk_call * (d->risk - 2);
    return x;
}

/* The country's lean on each channel (world tastes): observable, but not by the segment. */
static double logit_country(const struct debtor *d, int ch)
{
    return (g_world & W_TASTES) ? ctry_lean[zones[d->zone].country][ch] : 0;
}

static double logit_individual(const struct debtor *d, int ch, int hour, bool weekend)
{
    if (g_scale == 0)
        return 0;
    double x = d->ind_ch[ch];
    if (g_world & W_RHYTHMS)
        x += rhythm_at(d->rhythm, hour + 0.5, weekend);
    else
        x += g_scale *
             (IND_HOUR_AMP * bump(hour + 0.5, d->ind_hour_c, IND_HOUR_WIDTH) - IND_HOUR_BASE);
    if (weekend)
        x += d->ind_we;
    return x;
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static double p_true(const struct debtor *d, int ch, int hour, bool weekend)
{
    return sigmoid(logit_segment(d, ch, hour, weekend) + logit_country(d, ch) +
                   logit_individual(d, ch, hour, weekend));
}

static double p_segment(const struct debtor *d, int ch, int hour, bool weekend)
{
    return sigmoid(logit_segment(d, ch, hour, weekend));
}

/* ---- the "bayes" comparison policy ----
 *
 * Knows the form of the truth, every population parameter and the
 * debtor's segment-level part, but not its individual effects: it keeps a
 * posterior over them from its own attempts (counts per channel x local
 * hour x weekend) and picks the slot with the highest posterior mean p
 * (or, --bayes thompson, of one posterior draw).  Approximations: the
 * preferred hour h_i on a grid of BH_N half-hour cells (their centres),
 * the channel affinity a_i(c) (the 0.5 N(0,1) part plus the preference
 * bonus) on BA_N points in [-1.75, 1.75] sigma with the two normal priors
 * (preferred or not) discretised on them, b_i on a 5-point Gauss-Hermite
 * rule; pref_i exact (3 values).  Given (h, b) the channels are
 * independent but for pref, so the posterior is summed exactly over the
 * grid.  Recomputed from the counts each day: O(cells x grid).
 */
#define BH_N 26 /* preferred hour grid: 8.25, 8.75, ... 20.75 */
#define BB_N 5  /* weekend affinity quadrature */
#define BA_N 15 /* channel affinity grid */
#define NCELL (NCH * NH * 2)

enum bayes_mode { BAYES_OFF, BAYES_MEAN, BAYES_THOMPSON };
static enum bayes_mode g_bayes = BAYES_MEAN;
static uint16_t (*b_obs)[NCELL][2]; /* per debtor: attempts, reaches per cell */

static const double gh_x[BB_N] = { -2.856970013872806, -1.355626179974266, 0,
                                   1.355626179974266, 2.856970013872806 };
static const double gh_w[BB_N] = { 0.011257411327721, 0.222075922005613, 0.533333333333333,
                                   0.222075922005613, 0.011257411327721 };
static double b_hterm[NH][BH_N];  /* sigma x (0.8 g(H + 0.5; h, 1.5) - 0.3) */
static double b_a[BA_N];          /* sigma x u */
static double b_wa[2][BA_N];      /* prior of a: [0] not preferred, [1] preferred */
static double b_bterm[BB_N];      /* sigma x 0.3 x node */

#define TAB_LO (-20.0)
#define TAB_STEP (1.0 / 64)
#define TAB_N 2561
static float tab_sig[TAB_N], tab_lsig[TAB_N];

static void bayes_init(void)
{
    for (int i = 0; i < TAB_N; i++) {
        double x = TAB_LO + i * TAB_STEP;
        tab_sig[i] = (float)(1 / (1 + exp(-x)));
        tab_lsig[i] = (float)(-log1p(exp(-x)));
    }
    for (int H = 0; H < NH; H++)
        for (int k = 0; k < BH_N; k++)
            b_hterm[H][k] = g_scale * (IND_HOUR_AMP * bump(H0 + H + 0.5, H0 + 0.25 + 0.5 * k,
                                                           IND_HOUR_WIDTH) - IND_HOUR_BASE);
    for (int pref = 0; pref < 2; pref++) {
        double mu = pref ? IND_PREF_BONUS * (NCH - 1) / NCH : -IND_PREF_BONUS / NCH, t = 0;
        for (int j = 0; j < BA_N; j++) {
            double u = -1.75 + 3.5 * j / (BA_N - 1), z = (u - mu) / IND_CH_SD;
            b_a[j] = g_scale * u;
            b_wa[pref][j] = exp(-0.5 * z * z);
            t += b_wa[pref][j];
        }
        for (int j = 0; j < BA_N; j++)
            b_wa[pref][j] /= t;
    }
    for (int q = 0; q < BB_N; q++)
        b_bterm[q] = g_scale * IND_WEEKEND_SD * gh_x[q];
}

/* table lookups with linear interpolation: sigmoid and log sigmoid */
static inline float tab_at(const float *t, float f)
{
    int i = (int)f;
    float w = f - (float)i;
    return t[i] + w * (t[i + 1] - t[i]);
}

static inline float sig_f(float x)
{
    float f = (x - (float)TAB_LO) * (float)(1 / TAB_STEP);
    if (f <= 0)
        return 0;
    if (f >= TAB_N - 1)
        return 1;
    return tab_at(tab_sig, f);
}

static inline float lsig_f(float x)
{
    float f = (x - (float)TAB_LO) * (float)(1 / TAB_STEP);
    if (f <= 0)
        return x;
    if (f >= TAB_N - 1)
        return 0;
    return tab_at(tab_lsig, f);
}

static int cell_of(int ch, int hour, bool we)
{
    return (ch * NH + (hour - H0)) * 2 + we;
}

/*
 * The debtor's key per slot of today (key[ch * NH + hour - H0]): the
 * posterior mean of p, or p under one posterior draw (r) in Thompson mode.
 */
static void bayes_keys(const struct debtor *d, uint32_t i, bool today_we, struct rng *r,
                       double key[NSLOT])
{
    static float F[NCH][BH_N][BB_N][BA_N]; /* log likelihood of the own outcomes */
    static double m[NCH][BH_N][BB_N][2];  /* channel marginal, pref or not */
    static double W[BH_N][BB_N][NCH];     /* posterior of (h, b, pref), unnormalised */
    double S[NCH][NH];
    for (int c = 0; c < NCH; c++)
        for (int H = 0; H < NH; H++)
            S[c][H] = logit_segment(d, c, H0 + H, today_we);
    if (g_scale == 0) {
        for (int c = 0; c < NCH; c++)
            for (int H = 0; H < NH; H++)
                key[c * NH + H] = 1 / (1 + exp(-S[c][H]));
        return;
    }
    memset(F, 0, sizeof(F));
    const uint16_t(*ob)[2] = b_obs[i];
    for (int c = 0; c < NCH; c++)
        for (int H = 0; H < NH; H++)
            for (int we = 0; we < 2; we++) {
                int n = ob[cell_of(c, H0 + H, we)][0], y = ob[cell_of(c, H0 + H, we)][1];
                if (!n)
                    continue;
                double s = logit_segment(d, c, H0 + H, we);
                for (int k = 0; k < BH_N; k++) {
                    double sk = s + b_hterm[H][k];
                    if (!we) {
                        float row[BA_N];
                        for (int j = 0; j < BA_N; j++) {
                            float x = (float)(sk + b_a[j]);
                            row[j] = (float)y * lsig_f(x) + (float)(n - y) * lsig_f(-x);
                        }
                        for (int q = 0; q < BB_N; q++)
                            for (int j = 0; j < BA_N; j++)
                                F[c][k][q][j] += row[j];
                    } else {
                        for (int q = 0; q < BB_N; q++)
                            for (int j = 0; j < BA_N; j++) {
                                float x = (float)(sk + b_bterm[q] + b_a[j]);
                                F[c][k][q][j] +=
                                    (float)y * lsig_f(x) + (float)(n - y) * lsig_f(-x);
                            }
                    }
                }
            }
    /* F -> exp(F - max) per channel; channel marginals given (h, b, pref?) */
    for (int c = 0; c < NCH; c++) {
        float mx = -1e30f;
        for (int k = 0; k < BH_N; k++)
            for (int q = 0; q < BB_N; q++)
                for (int j = 0; j < BA_N; j++)
                    mx = F[c][k][q][j] > mx ? F[c][k][q][j] : mx;
        for (int k = 0; k < BH_N; k++)
            for (int q = 0; q < BB_N; q++) {
                double m0 = 0, m1 = 0;
                for (int j = 0; j < BA_N; j++) {
                    float df = F[c][k][q][j] - mx;
                    double e = df > -40 ? (double)expf(df) : 0;
                    F[c][k][q][j] = (float)e;
                    m0 += b_wa[0][j] * e;
                    m1 += b_wa[1][j] * e;
                }
                m[c][k][q][0] = m0;
                m[c][k][q][1] = m1;
            }
    }
    double Z = 0;
    for (int k = 0; k < BH_N; k++)
        for (int q = 0; q < BB_N; q++)
            for (int p = 0; p < NCH; p++) {
                double w = gh_w[q];
                for (int c = 0; c < NCH; c++)
                    w *= m[c][k][q][c == p];
                W[k][q][p] = w;
                Z += w;
            }
    if (g_bayes == BAYES_THOMPSON) {
        double x = rng_unif(r) * Z;
        int K = BH_N - 1, Q = BB_N - 1, P = NCH - 1;
        for (int k = 0; k < BH_N; k++)
            for (int q = 0; q < BB_N; q++)
                for (int p = 0; p < NCH; p++) {
                    if (x >= 0 && x < W[k][q][p]) {
                        K = k, Q = q, P = p;
                    }
                    x -= W[k][q][p];
                }
        for (int c = 0; c < NCH; c++) {
            int pf = c == P;
            double y = rng_unif(r) * m[c][K][Q][pf];
            int J = BA_N - 1;
            for (int j = 0; j < BA_N; j++) {
                double w = b_wa[pf][j] * F[c][K][Q][j];
                if (y < w) {
                    J = j;
                    break;
                }
                y -= w;
            }
            for (int H = 0; H < NH; H++)
                key[c * NH + H] = 1 / (1 + exp(-(S[c][H] + b_a[J] + b_hterm[H][K] +
                                                  (today_we ? b_bterm[Q] : 0))));
        }
        return;
    }
    /* posterior mean: mass of (h, b, a_c) per channel, then E[sigmoid] */
    for (int c = 0; c < NCH; c++) {
        double V[BH_N][BB_N][BA_N];
        for (int k = 0; k < BH_N; k++)
            for (int q = 0; q < BB_N; q++) {
                double wp = W[k][q][c] / m[c][k][q][1], wn = 0;
                for (int p = 0; p < NCH; p++)
                    if (p != c)
                        wn += W[k][q][p];
                wn /= m[c][k][q][0];
                for (int j = 0; j < BA_N; j++)
                    V[k][q][j] = (wp * b_wa[1][j] + wn * b_wa[0][j]) * F[c][k][q][j] / Z;
            }
        double Vw[BH_N][BA_N] = { { 0 } }; /* weekdays: b summed out */
        if (!today_we)
            for (int k = 0; k < BH_N; k++)
                for (int q = 0; q < BB_N; q++)
                    for (int j = 0; j < BA_N; j++)
                        Vw[k][j] += V[k][q][j];
        for (int H = 0; H < NH; H++) {
            double e = 0;
            for (int k = 0; k < BH_N; k++) {
                double sk = S[c][H] + b_hterm[H][k];
                if (!today_we) {
                    for (int j = 0; j < BA_N; j++)
                        e += Vw[k][j] * sig_f((float)(sk + b_a[j]));
                } else {
                    for (int q = 0; q < BB_N; q++)
                        for (int j = 0; j < BA_N; j++)
                            e += V[k][q][j] * sig_f((float)(sk + b_bterm[q] + b_a[j]));
                }
            }
            key[c * NH + H] = e;
        }
    }
}

/*
 * The country-aware ceiling: per cell (segment x risk band x country x
 * weekend) the mean true p of each slot over the cell's debtors, i.e. the
 * best fixed channel and hour for every cell, knowing the truth.
 */
#define NCCELL ((int)(NSEG * 5 * NCTRY * 2))
static float (*ctry_key)[NSLOT];

static int ccell_of(const struct debtor *d, bool we)
{
    return (((d->seg * 5 + d->risk) * NCTRY) + zones[d->zone].country) * 2 + we;
}

static double p_true(const struct debtor *d, int ch, int hour, bool weekend);

static int country_ceiling_make(const struct debtor *pop, size_t n)
{
    double (*sum)[NSLOT] = calloc(NCCELL, sizeof(*sum));
    double *cnt = calloc(NCCELL, sizeof(double));
    ctry_key = calloc(NCCELL, sizeof(*ctry_key));
    if (!sum || !cnt || !ctry_key) {
        free(sum);
        free(cnt);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        for (int we = 0; we < 2; we++) {
            int c = ccell_of(&pop[i], we);
            cnt[c]++;
            for (int ch = 0; ch < NCH; ch++)
                for (int h = H0; h < H1; h++)
                    sum[c][ch * NH + h - H0] += p_true(&pop[i], ch, h, we);
        }
    for (int c = 0; c < NCCELL; c++)
        for (int k = 0; k < NSLOT; k++)
            ctry_key[c][k] = cnt[c] > 0 ? (float)(sum[c][k] / cnt[c]) : 0;
    free(sum);
    free(cnt);
    return 0;
}

static void population_make(struct debtor *pop, size_t n, uint64_t seed)
{
    double zw[NZONE], sw[NSEG];
    for (size_t i = 0; i < NZONE; i++)
        zw[i] = zones[i].weight;
    for (size_t i = 0; i < NSEG; i++)
        sw[i] = segments[i].weight;
    for (size_t i = 0; i < n; i++) {
        struct rng r;
        rng_seed(&r, seed, 1000 + i);
        struct debtor *d = &pop[i];
        memset(d, 0, sizeof(*d));
        if (g_world) {
            /* the harder worlds: a country, then a zone of it, from a stream of their own */
            struct rng rw;
            rng_seed(&rw, seed ^ 0x3011d5ULL, 1000 + i);
            int c = (int)rng_pick(&rw, ctry_weight, NCTRY);
            double cw[NZONE];
            for (size_t z = 0; z < NZONE; z++)
                cw[z] = zones[z].country == c ? zones[z].weight : 0;
            d->zone = (uint8_t)rng_pick(&rw, cw, NZONE);
            d->rhythm = (uint8_t)rng_pick(&rw, rhy_mix[c], NRHY);
            (void)rng_pick(&r, zw, NZONE_BASE); /* keep the base stream's positions */
        } else
            d->zone = (uint8_t)rng_pick(&r, zw, NZONE_BASE);
        d->seg = (uint8_t)rng_pick(&r, sw, NSEG);
        d->risk = (uint8_t)rng_pick(&r, risk_weight, 5);
        d->pref = (uint8_t)rng_below(&r, NCH);
        for (int c = 0; c < NCH; c++)
            d->ind_ch[c] = (float)(g_scale * (IND_CH_SD * rng_normal(&r) +
                                              (c == d->pref ? IND_PREF_BONUS : 0) -
                                              IND_PREF_BONUS / NCH));
        d->ind_hour_c = (float)(H0 + rng_unif(&r) * NH);
        d->ind_we = (float)(g_scale * IND_WEEKEND_SD * rng_normal(&r));
        if (g_world & W_TASTES) {
            struct rng rt;
            rng_seed(&rt, seed ^ 0x7a57e5ULL, 1000 + i);
            for (int c = 0; c < NCH; c++) {
                double u = rng_unif(&rt);
                double t = rng_normal(&rt) / sqrt(-2 * log(u > 1e-300 ? u : 1e-300) / TASTE_DF);
                t = t > TASTE_CLIP ? TASTE_CLIP : t < -TASTE_CLIP ? -TASTE_CLIP : t;
                d->ind_ch[c] = (float)(TASTE_SCALE * t);
            }
        }
        d->last_day = INT32_MIN;
    }
}

static int debtors_write(const struct debtor *pop, size_t n, uint64_t seed, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f, "id,name,locale,time_zone,country,region,email,phone,balance,currency,"
               "due_date,risk_band,segment,consent_sms\n");
    for (size_t i = 0; i < n; i++) {
        const struct debtor *d = &pop[i];
        struct rng r;
        rng_seed(&r, seed, 9000000000ULL + i);
        unsigned nxx;
        do {
            nxx = 200 + rng_below(&r, 800);
        } while (nxx % 100 == 11 || nxx == 555 || nxx == 950 || nxx == 958 || nxx == 959 ||
                 nxx == 976);
        const struct zone *z = &zones[d->zone];
        fprintf(f, "S%07zu,Sim Debtor %zu,en-%s,%s,%s,%s,s%zu@example.com,+1%s%03u%04u,"
                   "%u.%02u,USD,2026-06-01,%c,%s,yes\n",
                i, i, ctry_code[z->country], z->tz, ctry_code[z->country], z->region, i, z->area,
                nxx,
                rng_below(&r, 10000), 100 + rng_below(&r, 5000), rng_below(&r, 100),
                'A' + d->risk, segments[d->seg].name);
    }
    if (fclose(f) != 0)
        return -errno;
    return 0;
}

/* ---- time: per-zone UTC offsets, looked up from the system's tz database ---- */

static int64_t t_begin;          /* UTC instant the offset table starts at */
static int32_t *offs[NZONE];     /* offset (s) per zone per UTC hour since t_begin */
static size_t noffs;

static int offsets_make(int64_t from, int64_t to)
{
    t_begin = from - from % 3600;
    noffs = (size_t)((to - t_begin) / 3600 + 1);
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    for (size_t z = 0; z < NZONE; z++) {
        offs[z] = calloc(noffs, sizeof(int32_t));
        if (!offs[z])
            return -ENOMEM;
        setenv("TZ", zones[z].tz, 1);
        tzset();
        for (size_t i = 0; i < noffs; i++) {
            time_t t = (time_t)(t_begin + (int64_t)i * 3600);
            struct tm tm;
            localtime_r(&t, &tm);
            offs[z][i] = (int32_t)tm.tm_gmtoff;
        }
    }
    if (old) {
        setenv("TZ", old, 1);
        free(old);
    } else
        unsetenv("TZ");
    tzset();
    return 0;
}

static int32_t offset_at(int zone, int64_t t)
{
    int64_t i = (t - t_begin) / 3600;
    if (i < 0)
        i = 0;
    if ((size_t)i >= noffs)
        i = (int64_t)noffs - 1;
    return offs[zone][i];
}

static int64_t floordiv(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

/* Monday = 0 for a day number (days since 1970-01-01, a Thursday). */
static int weekday_of(int64_t day)
{
    return (int)(((day + 3) % 7 + 7) % 7);
}

/* UTC instant of local day `day` at `hour`:00 in the zone. */
static int64_t local_to_utc(int zone, int64_t day, int hour)
{
    int64_t local = day * 86400 + hour * 3600;
    int64_t t = local - offset_at(zone, local);
    return local - offset_at(zone, t);
}

static int parse_date(const char *s, int64_t *ret_day)
{
    int y, m, d;
    if (sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return -EINVAL;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12 };
    *ret_day = floordiv((int64_t)timegm(&tm), 86400);
    return 0;
}

static void fmt_date(int64_t day, char buf[static 16])
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 16, "%Y-%m-%d", &tm);
}

static void fmt_utc(int64_t t, char buf[static 32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- metrics ---- */

struct daystat {
    int64_t day;
    int64_t n;                  /* attempts (learned = every policy) */
    double sum_p[NPOL];         /* expected reaches */
    int64_t reach[NPOL];        /* sampled reaches */
    int64_t mix[NPOL][NCH];     /* channel mix */
    double sum_best_ch;         /* learned: true p of the best hour on its chosen channel */
    double sum_best_ch_bayes;   /* the same for bayes */
    int64_t viol_hours, viol_daily, viol_cooldown, viol_other, viol_capacity;
    double plan_s, import_s, bayes_s;
};

/* ---- capacity: per (channel, UTC hour since t_begin), 0 = unlimited ---- */

static int64_t cap[NCH];
static int32_t *used[NPOL]; /* [hour index * NCH + ch] */

static bool cap_room(int pol, int ch, int64_t at)
{
    if (!cap[ch])
        return true;
    int64_t i = (at - t_begin) / 3600;
    return used[pol][i * NCH + ch] < cap[ch];
}

static void cap_take(int pol, int ch, int64_t at)
{
    int64_t i = (at - t_begin) / 3600;
    used[pol][i * NCH + ch]++;
}

/* ---- the comparison policies ---- */

struct slot {
    int ch, hour;
    int64_t at;
    double key;
};

static int slot_cmp(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    if (x->hour != y->hour)
        return x->hour - y->hour;
    return x->ch - y->ch;
}

/*
 * Allowed slots of debtor d for policy pol on local day `day`, sorted by
 * the policy's key (best first; bayes: bkey per slot).  Returns the count.
 */
static int slots_allowed(const struct debtor *d, int pol, int64_t day, struct rng *r,
                         const double *bkey, struct slot out[static NSLOT])
{
    bool we = weekday_of(day) >= 5;
    int n = 0;
    for (int ch = 0; ch < NCH; ch++) {
        if (ch == 2 && day < d->call_ok_from[pol])
            continue;
        for (int h = H0; h < H1; h++) {
            struct slot *s = &out[n++];
            s->ch = ch;
            s->hour = h;
            s->at = local_to_utc(d->zone, day, h);
            switch (pol) {
            case POL_ORACLE: s->key = p_true(d, ch, h, we); break;
            case POL_SEGMENT: s->key = p_segment(d, ch, h, we); break;
            case POL_RANDOM: s->key = rng_unif(r); break;
            case POL_BAYES: s->key = bkey[ch * NH + h - H0]; break;
            case POL_COUNTRY: s->key = ctry_key[ccell_of(d, we)][ch * NH + h - H0]; break;
            default: s->key = 0; break;
            }
        }
    }
    qsort(out, (size_t)n, sizeof(out[0]), slot_cmp);
    return n;
}

/* heap of (debtor index, position in its slot list) keyed by the slot's key */
struct hent {
    double key;
    uint32_t i;
    uint8_t pos;
};

static bool hent_less(const struct hent *a, const struct hent *b)
{
    if (a->key != b->key)
        return a->key < b->key;
    return a->i > b->i;
}

static void heap_push(struct hent *h, size_t *n, struct hent e)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hent_less(&h[p], &e))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static struct hent heap_pop(struct hent *h, size_t *n)
{
    struct hent top = h[0], e = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && hent_less(&h[c], &h[c + 1]))
            c++;
        if (!hent_less(&e, &h[c]))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = e;
    return top;
}

struct pick {
    int8_t ch, hour; /* ch -1: none (every allowed slot over capacity) */
    int64_t at;
};

/*
 * Choose a slot for each contacted debtor (idx[0..m)) under policy pol.
 * Argmax policies go through capacity greedily by key, as planner_assign
 * does; fixed takes its channel at its hour (the next hour with room);
 * random takes a uniform slot with room.
 */
static void policy_choose(struct debtor *pop, const uint32_t *idx, size_t m, int pol,
                          int64_t day, uint64_t seed, int fixed_ch, int fixed_hour,
                          struct slot (*sl)[NSLOT], uint8_t *nsl, struct pick *out)
{
    double bkey[NSLOT];
    for (size_t j = 0; j < m; j++) {
        struct rng r;
        rng_stream(&r, seed ^ 0x5eedULL, day, idx[j], pol);
        if (pol == POL_BAYES)
            bayes_keys(&pop[idx[j]], idx[j], weekday_of(day) >= 5, &r, bkey);
        nsl[j] = (uint8_t)slots_allowed(&pop[idx[j]], pol, day, &r, bkey, sl[j]);
        out[j].ch = -1;
    }
    bool capped = cap[0] || cap[1] || cap[2];
    if (pol == POL_FIXED) {
        for (size_t j = 0; j < m; j++) {
            const struct debtor *d = &pop[idx[j]];
            for (int h = fixed_hour; h < H1; h++) {
                int64_t at = local_to_utc(d->zone, day, h);
                if (fixed_ch == 2 && day < d->call_ok_from[pol])
                    break;
                if (!cap_room(pol, fixed_ch, at))
                    continue;
                cap_take(pol, fixed_ch, at);
                out[j] = (struct pick){ (int8_t)fixed_ch, (int8_t)h, at };
                break;
            }
            if (out[j].ch < 0 && nsl[j]) { /* fixed channel not allowed today: first slot */
                for (int k = 0; k < nsl[j]; k++) {
                    struct slot *s = &sl[j][k];
                    if (s->ch == fixed_ch || !cap_room(pol, s->ch, s->at))
                        continue;
                    cap_take(pol, s->ch, s->at);
                    out[j] = (struct pick){ (int8_t)s->ch, (int8_t)s->hour, s->at };
                    break;
                }
            }
        }
        return;
    }
    if (!capped || pol == POL_RANDOM) {
        for (size_t j = 0; j < m; j++)
            for (int k = 0; k < nsl[j]; k++) {
                struct slot *s = &sl[j][k];
                if (!cap_room(pol, s->ch, s->at))
                    continue;
                if (capped)
                    cap_take(pol, s->ch, s->at);
                out[j] = (struct pick){ (int8_t)s->ch, (int8_t)s->hour, s->at };
                break;
            }
        return;
    }
    struct hent *h = malloc(m * sizeof(*h));
    size_t hn = 0;
    if (!h) {
        fprintf(stderr, "out of memory\n");
        exit(3);
    }
    for (size_t j = 0; j < m; j++)
        if (nsl[j])
            heap_push(h, &hn, (struct hent){ sl[j][0].key, (uint32_t)j, 0 });
    while (hn) {
        struct hent e = heap_pop(h, &hn);
        struct slot *s = &sl[e.i][e.pos];
        if (cap_room(pol, s->ch, s->at)) {
            cap_take(pol, s->ch, s->at);
            out[e.i] = (struct pick){ (int8_t)s->ch, (int8_t)s->hour, s->at };
        } else if (e.pos + 1 < nsl[e.i]) {
            e.pos++;
            e.key = sl[e.i][e.pos].key;
            heap_push(h, &hn, e);
        }
    }
    free(h);
}

/* ---- driving cadenza ---- */

struct opts {
    const char *cadenza, *config, *work, *het_name;
    size_t n;
    int days, window;
    int64_t start;
    uint64_t seed;
    int fixed_ch, fixed_hour;
    bool keep_going;
};

static int sh(const char *cmd)
{
    int r = system(cmd);
    if (r == -1)
        return -errno;
    if (!WIFEXITED(r))
        return -EINTR;
    return WEXITSTATUS(r);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* this process's CPU time (the bayes policy's cost, whatever the machine's load) */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct att {
    uint32_t idx;
    int ch;
    int64_t at;
    char key[80];
};

static int attempts_read(const char *db, int64_t day, struct att **ret, size_t *ret_n,
                         int64_t *ret_other)
{
    sqlite3 *s = NULL;
    sqlite3_stmt *st = NULL;
    char d0[16], lo[20], hi[20];
    fmt_date(day, d0);
    snprintf(lo, sizeof lo, "%s:", d0);
    snprintf(hi, sizeof hi, "%s;", d0);
    int r = sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL);
    if (r == SQLITE_OK)
        r = sqlite3_prepare_v2(s,
                               "SELECT d.external_id, a.channel_kind, a.scheduled_at, "
                               "a.idempotency_key FROM attempts a JOIN debtors d "
                               "ON d.id = a.debtor_id WHERE a.idempotency_key >= ?1 "
                               "AND a.idempotency_key < ?2",
                               -1, &st, NULL);
    if (r != SQLITE_OK) {
        fprintf(stderr, "sim: store '%s': %s\n", db, sqlite3_errmsg(s));
        sqlite3_close(s);
        return -EIO;
    }
    sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
    size_t n = 0, alloc = 0;
    struct att *a = NULL;
    int64_t other = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *ext = (const char *)sqlite3_column_text(st, 0);
        int kind = sqlite3_column_int(st, 1);
        int ch = kind == 0 ? 0 : kind == 1 ? 1 : kind == 3 ? 2 : -1; /* enum chan_kind */
        const char *key = (const char *)sqlite3_column_text(st, 3);
        if (ch < 0 || !ext || ext[0] != 'S' || !key || strlen(key) >= sizeof(a->key)) {
            other++;
            continue;
        }
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 4096;
            struct att *na = realloc(a, alloc * sizeof(*a));
            if (!na) {
                free(a);
                sqlite3_finalize(st);
                sqlite3_close(s);
                return -ENOMEM;
            }
            a = na;
        }
        a[n].idx = (uint32_t)strtoul(ext + 1, NULL, 10);
        a[n].ch = ch;
        a[n].at = sqlite3_column_int64(st, 2);
        strcpy(a[n].key, key);
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(s);
    if (r != SQLITE_DONE) {
        free(a);
        return -EIO;
    }
    *ret = a;
    *ret_n = n;
    *ret_other = other;
    return 0;
}

static void report(FILE *f, const struct opts *o, const struct daystat *ds, int ndays)
{
    fprintf(f, "\nsetting %s (scale %.1f), %zu debtors, %d days from day 1 = ",
            o->het_name, g_scale, o->n, ndays);
    char d0[16];
    fmt_date(o->start, d0);
    fprintf(f, "%s, seed %" PRIu64 ", fixed = %s at %02d:00\n", d0, o->seed,
            ch_name[o->fixed_ch], o->fixed_hour);
    fprintf(f, "contact rate = mean true p of the chosen slots (sampled rate in brackets); "
               "country = the best fixed slot per segment x risk band x country (knowing the "
               "truth); regret = expected reaches lost against oracle (O) and country (C)\n");
    if (g_world)
        fprintf(f, "bayes: does not apply (its posterior has the base worlds' form)\n");
    if (g_bayes != BAYES_OFF)
        fprintf(f, "bayes = posterior-%s learner that knows everything but the individual "
                   "effects\n", g_bayes == BAYES_MEAN ? "mean" : "draw (Thompson)");
    /* display order: the country-aware ceiling next to the segment ceiling */
    static const int ord[NPOL] = { POL_LEARNED, POL_ORACLE, POL_COUNTRY, POL_SEGMENT,
                                   POL_FIXED,   POL_RANDOM, POL_BAYES };
    static const char *const rat[NPOL] = { "", "L/orac", "L/ctry", "L/seg", "L/fix", "L/rand",
                                           "L/bayes" };
    bool off = g_bayes == BAYES_OFF; /* bayes columns show "-" */
    fprintf(f, "%-7s %9s", "days", "attempts");
    for (int q = 0; q < NPOL; q++)
        fprintf(f, " %15s", pol_name[ord[q]]);
    for (int q = 1; q < NPOL; q++)
        fprintf(f, " %7s", rat[q]);
    fprintf(f, " %7s %9s %9s  %s\n", "B/orac", "regret/O", "regret/C", "learned mix e/s/c %");
    for (int w0 = 0; w0 < ndays; w0 += o->window) {
        int w1 = w0 + o->window < ndays ? w0 + o->window : ndays;
        double sp[NPOL] = { 0 }, sr[NPOL] = { 0 }, mix[NCH] = { 0 };
        double n = 0;
        for (int i = w0; i < w1; i++) {
            n += (double)ds[i].n;
            for (int p = 0; p < NPOL; p++) {
                sp[p] += ds[i].sum_p[p];
                sr[p] += (double)ds[i].reach[p];
            }
            for (int c = 0; c < NCH; c++)
                mix[c] += (double)ds[i].mix[POL_LEARNED][c];
        }
        if (n == 0)
            n = 1;
        char lab[16];
        snprintf(lab, sizeof lab, "%d-%d", w0 + 1, w1);
        fprintf(f, "%-7s %9.0f", lab, n);
        for (int q = 0; q < NPOL; q++) {
            int p = ord[q];
            if (p == POL_BAYES && off)
                fprintf(f, "  %15s", "-");
            else
                fprintf(f, "  %.4f (%.4f)", sp[p] / n, sr[p] / n);
        }
        for (int q = 1; q < NPOL; q++) {
            int p = ord[q];
            if (p == POL_BAYES && off)
                fprintf(f, " %7s", "-");
            else
                fprintf(f, " %7.3f", sp[p] > 0 ? sp[0] / sp[p] : 0.0);
        }
        if (off)
            fprintf(f, " %7s", "-");
        else
            fprintf(f, " %7.3f", sp[POL_ORACLE] > 0 ? sp[POL_BAYES] / sp[POL_ORACLE] : 0.0);
        /* regret: expected reaches the learned planner lost in the window */
        fprintf(f, " %9.0f %9.0f", sp[POL_ORACLE] - sp[0], sp[POL_COUNTRY] - sp[0]);
        fprintf(f, "  %2.0f/%2.0f/%2.0f\n", 100 * mix[0] / n, 100 * mix[1] / n, 100 * mix[2] / n);
    }
    fprintf(f, "channel mix email/sms/call %%:");
    for (int p = 0; p < NPOL; p++) {
        if (p == POL_BAYES && off)
            continue;
        double mix[NCH] = { 0 }, n = 0;
        for (int i = 0; i < ndays; i++)
            for (int c = 0; c < NCH; c++) {
                mix[c] += (double)ds[i].mix[p][c];
                n += (double)ds[i].mix[p][c];
            }
        if (n == 0)
            n = 1;
        fprintf(f, " %s %.0f/%.0f/%.0f%s", pol_name[p], 100 * mix[0] / n, 100 * mix[1] / n,
                100 * mix[2] / n, p + 1 < NPOL ? "," : "\n");
    }
    /* where the learned planner loses to the oracle, in the third window (or the last) */
    int g0 = 2 * o->window < ndays ? 2 * o->window : (ndays - 1) / o->window * o->window;
    int g1 = g0 + o->window < ndays ? g0 + o->window : ndays;
    double gn = 0, gch = 0, gl = 0, go = 0, gbc = 0, gb = 0;
    for (int i = g0; i < g1; i++) {
        gn += (double)ds[i].n;
        gch += ds[i].sum_best_ch;
        gl += ds[i].sum_p[POL_LEARNED];
        go += ds[i].sum_p[POL_ORACLE];
        gbc += ds[i].sum_best_ch_bayes;
        gb += ds[i].sum_p[POL_BAYES];
    }
    if (gn == 0)
        gn = 1;
    fprintf(f, "learned's gap to the oracle, days %d-%d: %.4f = hour %.4f (best hour on the "
               "chosen channel - chosen) + channel %.4f (oracle - best hour on the chosen "
               "channel)\n",
            g0 + 1, g1, (go - gl) / gn, (gch - gl) / gn, (go - gch) / gn);
    if (g_bayes != BAYES_OFF)
        fprintf(f, "bayes's gap to the oracle, days %d-%d: %.4f = hour %.4f + channel %.4f\n",
                g0 + 1, g1, (go - gb) / gn, (gbc - gb) / gn, (go - gbc) / gn);
    int64_t vh = 0, vd = 0, vc = 0, vo = 0, vcap = 0;
    double tp = 0, ti = 0;
    for (int i = 0; i < ndays; i++) {
        vh += ds[i].viol_hours;
        vd += ds[i].viol_daily;
        vc += ds[i].viol_cooldown;
        vo += ds[i].viol_other;
        vcap += ds[i].viol_capacity;
        tp += ds[i].plan_s;
        ti += ds[i].import_s;
    }
    fprintf(f, "rule checks on the learned planner's attempts: %" PRId64
               " outside 08:00-21:00 local or off the planned day, %" PRId64
               " second contact on a day, %" PRId64 " call in a right-party cool-down, %" PRId64
               " over capacity, %" PRId64 " other (unknown channel or debtor)\n",
            vh, vd, vc, vcap, vo);
    fprintf(f, "time in cadenza: run %.1f s, import outcomes %.1f s\n", tp, ti);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza-sim --cadenza BIN --config CFG --work DIR [options]\n"
            "\n"
            "Simulation benchmark of the planner: see docs/simulation.md.\n"
            "\n"
            "  --debtors N        population size (default 20000)\n"
            "  --days D           simulated days (default 30)\n"
            "  --start DATE       first simulated local day (default 2026-09-07)\n"
            "  --het NAME         none, moderate or strong (default moderate)\n"
            "  --seed S           population and outcome seed (default 1)\n"
            "  --window W         days per report row (default 10)\n"
            "  --fixed CH@HOUR    the fixed cadence (default email@10)\n"
            "  --cap-email N, --cap-sms N, --cap-call N\n"
            "                     hourly capacities (per UTC hour; 0 = unlimited) the\n"
            "                     comparison policies obey: give the config's values\n"
            "  --bayes MODE       the bayes policy: mean (posterior mean, default),\n"
            "                     thompson (one posterior draw) or off (saves its time)\n"
            "  --keep-going       do not stop at the first rule violation\n"
            "  --ope-truth FILE   only print the expected reaches of a candidate's choices\n"
            "                     (cadenza report --evaluate --decisions FILE) in this\n"
            "                     population (--het, --seed, --debtors as the run's)\n");
}

static int het_setup(const char *name)
{
    g_scale = -1;
    for (size_t i = 0; i < sizeof(hets) / sizeof(hets[0]); i++)
        if (!strcmp(name, hets[i].name)) {
            g_scale = hets[i].scale;
            g_world = hets[i].world;
        }
    if (g_scale < 0) {
        char *end;
        g_scale = strtod(name, &end);
        if (*end || g_scale < 0)
            return -1;
    }
    return 0;
}

/*
 * --ope-truth FILE: the expected reaches of a candidate's choices on
 * logged decisions (`cadenza report --evaluate --decisions FILE`: debtor,
 * plan date, channel kind, local hour of the week, share), from this
 * population's true probabilities.  Prints "sum <expected reaches>" and
 * the lines used; the caller divides by the decisions evaluated.
 */
static int ope_truth_main(const struct opts *o, const char *path)
{
    if (het_setup(o->het_name) < 0 || o->n == 0)
        return 2;
    struct debtor *pop = calloc(o->n, sizeof(*pop));
    FILE *f = fopen(path, "r");
    if (!pop || !f) {
        fprintf(stderr, "sim: cannot read '%s'\n", path);
        return 3;
    }
    population_make(pop, o->n, o->seed);
    char id[64], date[16];
    int kind, how;
    double share, sum = 0;
    long lines = 0, skipped = 0;
    while (fscanf(f, "%63s %15s %d %d %lf", id, date, &kind, &how, &share) == 5) {
        size_t i = (size_t)strtoul(id + 1, NULL, 10);
        int ch = kind == 0 ? 0 : kind == 1 ? 1 : kind == 3 ? 2 : -1;
        if (id[0] != 'S' || i >= o->n || ch < 0 || how < 0 || how >= 168) {
            skipped++;
            continue;
        }
        sum += share * p_true(&pop[i], ch, how % 24, how / 24 >= 5);
        lines++;
    }
    fclose(f);
    free(pop);
    printf("sum %.6f lines %ld skipped %ld\n", sum, lines, skipped);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "cadenza", required_argument, NULL, 'b' }, { "config", required_argument, NULL, 'c' },
        { "work", required_argument, NULL, 'w' },    { "debtors", required_argument, NULL, 'n' },
        { "days", required_argument, NULL, 'd' },    { "start", required_argument, NULL, 's' },
        { "het", required_argument, NULL, 'H' },     { "seed", required_argument, NULL, 'S' },
        { "window", required_argument, NULL, 'W' },  { "fixed", required_argument, NULL, 'f' },
        { "cap-email", required_argument, NULL, 1 }, { "cap-sms", required_argument, NULL, 2 },
        { "cap-call", required_argument, NULL, 3 },  { "keep-going", no_argument, NULL, 'k' },
        { "bayes", required_argument, NULL, 'B' },
        { "ope-truth", required_argument, NULL, 'O' },
        { "help", no_argument, NULL, 'h' },          {},
    };
    const char *ope_truth = NULL;
    struct opts o = { .n = 20000, .days = 30, .window = 10, .seed = 1, .het_name = "moderate",
                      .fixed_ch = 0, .fixed_hour = 10 };
    parse_date("2026-09-07", &o.start);
    int c;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 'b': o.cadenza = optarg; break;
        case 'c': o.config = optarg; break;
        case 'w': o.work = optarg; break;
        case 'n': o.n = strtoul(optarg, NULL, 10); break;
        case 'd': o.days = atoi(optarg); break;
        case 's':
            if (parse_date(optarg, &o.start) < 0) {
                fprintf(stderr, "sim: bad --start '%s'\n", optarg);
                return 2;
            }
            break;
        case 'H': o.het_name = optarg; break;
        case 'S': o.seed = strtoull(optarg, NULL, 10); break;
        case 'W': o.window = atoi(optarg); break;
        case 'f': {
            char chn[16];
            int hr;
            if (sscanf(optarg, "%15[a-z]@%d", chn, &hr) != 2 || hr < H0 || hr >= H1) {
                fprintf(stderr, "sim: bad --fixed '%s' (email@10)\n", optarg);
                return 2;
            }
            o.fixed_ch = -1;
            for (int k = 0; k < NCH; k++)
                if (!strcmp(chn, ch_name[k]))
                    o.fixed_ch = k;
            if (o.fixed_ch < 0) {
                fprintf(stderr, "sim: bad --fixed channel '%s'\n", chn);
                return 2;
            }
            o.fixed_hour = hr;
            break;
        }
        case 1: case 2: case 3: cap[c - 1] = strtoll(optarg, NULL, 10); break;
        case 'k': o.keep_going = true; break;
        case 'B':
            if (!strcmp(optarg, "off"))
                g_bayes = BAYES_OFF;
            else if (!strcmp(optarg, "mean"))
                g_bayes = BAYES_MEAN;
            else if (!strcmp(optarg, "thompson"))
                g_bayes = BAYES_THOMPSON;
            else {
                fprintf(stderr, "sim: bad --bayes '%s' (off, mean, thompson)\n", optarg);
                return 2;
            }
            break;
        case 'O': ope_truth = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (ope_truth)
        return ope_truth_main(&o, ope_truth);
    if (!o.cadenza || !o.config || !o.work || o.n == 0 || o.n > 9999999 || o.days < 1 ||
        o.days > MAX_DAYS || o.window < 1) {
        usage(stderr);
        return 2;
    }
    g_scale = -1;
    for (size_t i = 0; i < sizeof(hets) / sizeof(hets[0]); i++)
        if (!strcmp(o.het_name, hets[i].name)) {
            g_scale = hets[i].scale;
            g_world = hets[i].world;
        }
    if (g_world)
        g_bayes = BAYES_OFF; /* its posterior is the base worlds' form of the truth */
    if (g_scale < 0) {
        char *end;
        g_scale = strtod(o.het_name, &end); /* a bare number is a custom scale */
        if (*end || g_scale < 0) {
            fprintf(stderr, "sim: unknown --het '%s' (none, moderate, strong, rhythms, tastes, "
                            "both or a scale)\n",
                    o.het_name);
            return 2;
        }
    }

    if (offsets_make((o.start - 2) * 86400, (o.start + o.days + 2) * 86400) < 0)
        return 3;
    for (int p = 0; p < NPOL; p++) {
        used[p] = calloc(noffs * NCH, sizeof(int32_t));
        if (!used[p])
            return 3;
    }
    struct debtor *pop = calloc(o.n, sizeof(*pop));
    struct daystat *ds = calloc((size_t)o.days, sizeof(*ds));
    uint32_t *idx = malloc(o.n * sizeof(*idx));
    struct slot (*sl)[NSLOT] = malloc(o.n * sizeof(*sl));
    uint8_t *nsl = malloc(o.n);
    struct pick *pk = malloc(o.n * sizeof(*pk));
    char *path = malloc(4096), *cmd = malloc(8192), *db = malloc(4096);
    if (!pop || !ds || !idx || !sl || !nsl || !pk || !path || !cmd || !db)
        return 3;
    population_make(pop, o.n, o.seed);
    if (country_ceiling_make(pop, o.n) < 0)
        return 3;
    if (g_bayes != BAYES_OFF) {
        bayes_init();
        b_obs = calloc(o.n, sizeof(*b_obs));
        if (!b_obs)
            return 3;
    }

    snprintf(db, 4096, "%s/store.db", o.work);
    snprintf(path, 4096, "%s/debtors.csv", o.work);
    if (debtors_write(pop, o.n, o.seed, path) < 0) {
        fprintf(stderr, "sim: cannot write '%s'\n", path);
        return 3;
    }
    snprintf(cmd, 8192,
             "'%s' --config '%s' --store '%s' import debtors --quiet '%s' > '%s/import.log'",
             o.cadenza, o.config, db, path, o.work);
    int r = sh(cmd);
    if (r != 0) {
        fprintf(stderr, "sim: import debtors failed (%d), see %s/import.log\n", r, o.work);
        return 3;
    }

    snprintf(path, 4096, "%s/days.tsv", o.work);
    FILE *tsv = fopen(path, "w");
    if (!tsv)
        return 3;
    fprintf(tsv, "day\tdate\tattempts");
    for (int p = 0; p < NPOL; p++)
        fprintf(tsv, "\tp_%s\treach_%s", pol_name[p], pol_name[p]);
    fprintf(tsv, "\temail\tsms\tcall\tviolations\trun_s\timport_s\n");

    int ndays = 0;
    for (int di = 0; di < o.days; di++) {
        int64_t day = o.start + di;
        bool we = weekday_of(day) >= 5;
        struct daystat *st = &ds[di];
        st->day = day;
        char dstr[16], nowbuf[32];
        fmt_date(day, dstr);
        /*
         * D 06:00 UTC: after every slot of day D-1 (20:00 in Los Angeles is
         * at most D 04:00 UTC), so yesterday's outcomes are known, and
         * before every slot of D (08:00 in New York is D 12:00 UTC or later).
         */
        fmt_utc(day * 86400 + 6 * 3600, nowbuf);

        double t0 = now_s();
        snprintf(cmd, 8192,
                 "'%s' --config '%s' --store '%s' run --date %s --now %s --no-enqueue "
                 ">> '%s/run.log' 2>&1",
                 o.cadenza, o.config, db, dstr, nowbuf, o.work);
        if ((r = sh(cmd)) != 0) {
            fprintf(stderr, "sim: cadenza run failed (%d) on %s, see %s/run.log\n", r, dstr,
                    o.work);
            return 3;
        }
        st->plan_s = now_s() - t0;

        struct att *a = NULL;
        size_t na = 0;
        if (attempts_read(db, day, &a, &na, &st->viol_other) < 0) {
            fprintf(stderr, "sim: cannot read the attempts of %s\n", dstr);
            return 3;
        }

        /* the learned planner's attempts: rules, outcomes */
        snprintf(path, 4096, "%s/outcomes-%s.csv", o.work, dstr);
        FILE *oc = fopen(path, "w");
        if (!oc)
            return 3;
        fprintf(oc, "debtor_id,channel,attempted_at,outcome,idempotency_key\n");
        size_t m = 0;
        for (size_t i = 0; i < na; i++) {
            if (a[i].idx >= o.n) {
                st->viol_other++;
                continue;
            }
            struct debtor *d = &pop[a[i].idx];
            int64_t local = a[i].at + offset_at(d->zone, a[i].at);
            int64_t lday = floordiv(local, 86400);
            int lmin = (int)(local - lday * 86400) / 60;
            int hour = lmin / 60;
            if (lday != day || lmin < H0 * 60 || lmin >= H1 * 60) {
                st->viol_hours++;
                if (hour < H0)
                    hour = H0;
                if (hour >= H1)
                    hour = H1 - 1;
            }
            if (d->last_day == day) {
                st->viol_daily++;
                continue; /* a policy contacts a debtor once a day */
            }
            d->last_day = (int32_t)day;
            if (a[i].ch == 2 && day < d->call_ok_from[POL_LEARNED]) {
                st->viol_cooldown++;
                if (st->viol_cooldown <= 5)
                    fprintf(stderr, "sim: %s: call at %" PRId64 " in the cool-down until %" PRId32
                            "\n", a[i].key, a[i].at, d->call_ok_from[POL_LEARNED]);
            }
            if (cap[a[i].ch]) {
                if (!cap_room(POL_LEARNED, a[i].ch, a[i].at))
                    st->viol_capacity++;
                cap_take(POL_LEARNED, a[i].ch, a[i].at);
            }
            double p = p_true(d, a[i].ch, hour, we);
            double best = 0;
            for (int h = H0; h < H1; h++) {
                double q = p_true(d, a[i].ch, h, we);
                best = q > best ? q : best;
            }
            st->sum_best_ch += best;
            struct rng rr;
            rng_stream(&rr, o.seed ^ 0x0c0ffeeULL, day, a[i].idx, POL_LEARNED);
            bool hit = rng_unif(&rr) < p;
            st->sum_p[POL_LEARNED] += p;
            st->reach[POL_LEARNED] += hit;
            st->mix[POL_LEARNED][a[i].ch]++;
            if (hit && a[i].ch == 2)
                d->call_ok_from[POL_LEARNED] = (int32_t)(day + COOLDOWN_DAYS);
            char at[32];
            fmt_utc(a[i].at, at);
            fprintf(oc, "S%07" PRIu32 ",%s,%s,%s,%s\n", a[i].idx, ch_name[a[i].ch], at,
                    hit ? (a[i].ch == 2 ? "right_party" : "replied")
                        : (a[i].ch == 2 ? "no_answer" : "delivered"),
                    a[i].key);
            idx[m++] = a[i].idx;
        }
        free(a);
        if (fclose(oc) != 0)
            return 3;
        st->n = (int64_t)m;

        /* the comparison policies on the same debtor-days */
        for (int pol = 1; pol < NPOL; pol++) {
            if (pol == POL_BAYES && g_bayes == BAYES_OFF)
                continue;
            double tb = cpu_s();
            policy_choose(pop, idx, m, pol, day, o.seed, o.fixed_ch, o.fixed_hour, sl, nsl, pk);
            if (pol == POL_BAYES)
                st->bayes_s = cpu_s() - tb;
            for (size_t j = 0; j < m; j++) {
                struct debtor *d = &pop[idx[j]];
                if (pk[j].ch < 0)
                    continue; /* nothing allowed: no contact, counts as no reach */
                double p = p_true(d, pk[j].ch, pk[j].hour, we);
                struct rng rr;
                rng_stream(&rr, o.seed ^ 0x0c0ffeeULL, day, idx[j], pol);
                bool hit = rng_unif(&rr) < p;
                st->sum_p[pol] += p;
                st->reach[pol] += hit;
                st->mix[pol][pk[j].ch]++;
                if (hit && pk[j].ch == 2)
                    d->call_ok_from[pol] = (int32_t)(day + COOLDOWN_DAYS);
                if (pol == POL_BAYES) {
                    double best = 0;
                    for (int h = H0; h < H1; h++) {
                        double q = p_true(d, pk[j].ch, h, we);
                        best = q > best ? q : best;
                    }
                    st->sum_best_ch_bayes += best;
                    uint16_t *bc = b_obs[idx[j]][cell_of(pk[j].ch, pk[j].hour, we)];
                    if (bc[0] < UINT16_MAX) {
                        bc[0]++;
                        bc[1] += hit;
                    }
                }
            }
        }

        t0 = now_s();
        snprintf(cmd, 8192,
                 "'%s' --config '%s' --store '%s' import outcomes '%s' > '%s/import.log' 2>&1",
                 o.cadenza, o.config, db, path, o.work);
        if ((r = sh(cmd)) != 0) {
            fprintf(stderr, "sim: import outcomes failed (%d) on %s, see %s/import.log\n", r,
                    dstr, o.work);
            return 3;
        }
        st->import_s = now_s() - t0;
        remove(path);

        int64_t viol = st->viol_hours + st->viol_daily + st->viol_cooldown + st->viol_other +
                       st->viol_capacity;
        fprintf(tsv, "%d\t%s\t%" PRId64, di + 1, dstr, st->n);
        for (int p = 0; p < NPOL; p++)
            fprintf(tsv, "\t%.2f\t%" PRId64, st->sum_p[p], st->reach[p]);
        fprintf(tsv, "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%.2f\t%.2f\n",
                st->mix[0][0], st->mix[0][1], st->mix[0][2], viol, st->plan_s, st->import_s);
        fflush(tsv);
        double nn = st->n ? (double)st->n : 1;
        fprintf(stderr,
                "[%s] day %2d %s: %" PRId64 " attempts, learned %.4f oracle %.4f segment %.4f "
                "fixed %.4f random %.4f bayes %.4f country %.4f (run %.1fs, import %.1fs, "
                "bayes %.1fs cpu)\n",
                o.het_name, di + 1, dstr, st->n, st->sum_p[0] / nn, st->sum_p[1] / nn,
                st->sum_p[2] / nn, st->sum_p[3] / nn, st->sum_p[4] / nn, st->sum_p[5] / nn,
                st->sum_p[POL_COUNTRY] / nn,
                st->plan_s, st->import_s, st->bayes_s);
        ndays = di + 1;
        if (viol && !o.keep_going) {
            fprintf(stderr, "sim: %" PRId64 " rule violations on %s, stopping\n", viol, dstr);
            break;
        }
    }
    fclose(tsv);
    report(stdout, &o, ds, ndays);
    /* freed so that sanitizer builds (the suite's short simulation) stay leak-free */
    for (int p = 0; p < NPOL; p++)
        free(used[p]);
    free(pop);
    free(ds);
    free(idx);
    free(sl);
    free(nsl);
    free(pk);
    free(path);
    free(cmd);
    free(db);
    return 0;
}
