/*
 * model.c - the reach model: P(reach | channel kind, local hour of week)
 * per debtor, as a hierarchical Beta-Binomial estimate pooled across
 * hours, plus the seeded sampler used for Thompson sampling.
 *
 * Owns: the global priors, the frozen segment layer and the debtor
 * layer's empirical-Bayes prior.  Never: does I/O, reads the clock,
 * allocates once debtors are prepared (only model_eb_add() and
 * model_eb_finish() allocate after model_finish()), or keeps state between
 * calls of model_estimate() (so threads share a finished model).
 *
 * Layers (docs/planner.md has the formulas):
 *   global prior  Beta(mu0*n0, (1-mu0)*n0) per kind x how (built-in shape
 *                 or model_set_prior())
 *   segment       prior + the segment's counts pooled over a kernel of
 *                 neighbouring hours and the same hours on other weekdays,
 *                 the kernel chosen per segment by held-out likelihood
 *   levels        observable columns below the segment (country, zone,
 *                 region, risk band, tags): a shrunk factor per kind x how
 *                 per value, fitted on the empirical-Bayes sample
 *   debtor        segment mean x three Gamma-Poisson factors (own reaches /
 *                 reaches expected, shrunk): channel kind, hour of day
 *                 (every day and channel, smoothed over +-2 hours) and
 *                 weekend, backfitted in turn
 *   EB prior      the factors' strengths and the hour smoothing per segment,
 *                 from the between-debtor covariances of a sample's
 *                 residuals (model_eb_add/model_eb_finish; else defaults)
 *   sampling      one lazy joint draw of those factors per debtor
 *                 (model_draw_p), tempered by sample_temper, and of the
 *                 segment mean at the debtor's view of the population
 *                 posterior (strength x pop, model_debtor_explore())
 *
 * Invariants:
 *  1. Every mean handed out is in [MODEL_P_MIN, MODEL_P_MAX] and every
 *     strength is > 0, so a Beta built from them is proper.
 *  2. A debtor without counts gets exactly its segment's mean; a segment
 *     without counts gets exactly the global prior's mean.
 *  3. The same seed gives the same sequence of draws on every host
 *     (integer PRNG, no libc rand()).
 *  4. model_kernel(a, b) == model_kernel(b, a), and it is 1 for a == b.
 *  5. model_debtor_prepare() and model_draw_p() never allocate; every
 *     Gamma shape and rate is >= its (positive) strength.
 *  6. Empirical-Bayes strengths are in [EB_STRENGTH_MIN, EB_STRENGTH_MAX]
 *     and the smoothing weights satisfy 0 <= s2 <= s1 <= 1; without a
 *     sample the model_params defaults apply unchanged.
 *  7. Level factors are in [LV_F_MIN, LV_F_MAX], level strengths in
 *     [LV_STRENGTH_MIN, LV_STRENGTH_MAX]; a debtor without level values
 *     gets exactly the segment layer (invariant 2 holds below the levels).
 *  8. A debtor's view of the population posterior is pop >= 1 (1, the
 *     full posterior, unless model_debtor_explore() narrowed it): it
 *     changes draws and the estimate's strength, never a mean.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"

#define MODEL_P_MIN 0.0005
#define MODEL_P_MAX 0.995
#define KERNEL_N 35  /* 7 days x 5 hours (distance <= 2) */
#define SEG_SURE 1e5 /* segment pseudo-attempts beyond which it is not sampled */

/*
 * Empirical Bayes unknowns (covariances of a debtor's factors): the common
 * level, the channel per kind, the hour of day at 0/1/2 hours apart and the
 * weekend.  The level is estimated so that it does not inflate the others,
 * and not modelled: it does not change which of a debtor's slots is best.
 */
#define EB_L 0
#define EB_C(k) (1 + (k))
#define EB_H(d) (1 + _CHAN_KIND_MAX + (d))
#define EB_W (4 + _CHAN_KIND_MAX)
#define EB_NP (5 + _CHAN_KIND_MAX)
#define EB_PRIOR_DEBTORS 500.0 /* a segment's estimate leans on the pooled one this much */
#define EB_STRENGTH_MIN 0.5
#define EB_STRENGTH_MAX 1000.0

/* Levels: at most LV_MAX distinct values, a name up to LV_NAME_MAX bytes. */
#define LV_MAX 1024
#define LV_HASH 4096
#define LV_NAME_MAX 64
#define LV_ROUNDS 2
#define LV_F_MIN 0.05
#define LV_F_MAX 20.0
#define LV_STRENGTH_MIN 1.0
#define LV_STRENGTH_MAX 1e5

struct level_val {
    uint8_t type;   /* enum model_level_type */
    char name[LV_NAME_MAX];
    double attempts; /* in the sample */
};

struct eb_debtor {
    int32_t seg;
    int nlev;
    int32_t lev[MODEL_LEVELS_MAX];
    size_t off, n; /* cells in ebc */
};

struct model {
    struct model_params p;
    float prior_mean[_CHAN_KIND_MAX][MODEL_HOURS];
    float prior_n[_CHAN_KIND_MAX][MODEL_HOURS];
    size_t nseg;
    double *seg_att, *seg_reach; /* [nseg][kind][how] raw counts */
    float *seg_mean, *seg_n;     /* [nseg][kind][how] after model_finish() */
    bool finished;
    double *eb_A, *eb_b, *eb_nd; /* [nseg][EB_NP][EB_NP], [nseg][EB_NP], [nseg] moment sums */
    struct model_eb *eb;         /* [nseg + 1]: per segment, then pooled; NULL: defaults */
    uint8_t kidx[MODEL_HOURS][KERNEL_N];
    float kw[MODEL_KERNELS][MODEL_HOURS][KERNEL_N];
    uint8_t *seg_kern;           /* [nseg] kernel chosen by held-out likelihood */
    uint8_t pool_kern;           /* the same for the counts of every segment together */
    /* levels (covariate values below the segment) */
    struct level_val *lv;        /* [nlv] */
    size_t nlv;
    int32_t lv_hash[LV_HASH];    /* index + 1, 0 empty */
    float *lv_f;                 /* [nlv][kind][how] factors after model_eb_finish() */
    double lv_strength[_MODEL_LEVEL_TYPE_MAX];
    /* the empirical-Bayes sample, kept until model_eb_finish() */
    struct eb_debtor *ebd;
    size_t nebd, cebd;
    struct model_cell *ebc;
    size_t nebc, cebc;
};

void model_params_default(struct model_params *ret)
{
    *ret = (struct model_params){
        .prior_strength = 10,
        .channel_strength = 8,
        .hour_strength = 10,
        .hour_smooth = 0.6,
        .weekend_strength = 8,
        .sample_temper = 16,
        .segment_cap = 1e6,
    };
}

static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/*
 * Built-in shape: what the industry reports in broad strokes (email read
 * mornings and evenings, texts at lunch and after work, calls answered
 * after work and on Saturday mornings, letters independent of the hour).
 * Only a starting point: one segment's counts soon outweigh it.
 */
double model_builtin_prior(enum chan_kind k, int how)
{
    if (how < 0 || how >= MODEL_HOURS)
        return 0.1;
    int day = how / 24, h = how % 24;
    bool weekend = day >= 5;
    double p;
    switch (k) {
    case CHAN_EMAIL:
        p = 0.18;
        if (h >= 7 && h < 10)
            p = 0.26;
        else if (h >= 18 && h < 22)
            p = 0.24;
        if (weekend)
            p *= 0.85;
        break;
    case CHAN_SMS:
        p = 0.28;
        if (h >= 12 && h < 14)
            p = 0.36;
        else if (h >= 17 && h < 21)
            p = 0.38;
        if (weekend)
            p *= 0.9;
        break;
    case CHAN_CHAT:
        p = 0.12;
        if (h >= 18 && h < 22)
            p = 0.17;
        break;
    case CHAN_CALL:
        p = 0.08;
        if (h >= 17 && h < 21)
            p = 0.14;
        else if (h >= 12 && h < 14)
            p = 0.10;
        if (weekend)
            p = (day == 5 && h >= 9 && h < 13) ? 0.15 : p * 0.8;
        break;
    case CHAN_LETTER:
        p = 0.5;
        break;
    default:
        p = 0.1;
    }
    if (h < 7 || h >= 22)
        p *= 0.5;
    return p;
}

/*
 * Kernel candidates: four widths over the hours of the same day (the hour
 * alone ... +-2 hours at 0.75 / 0.45) times two weights for the same hours
 * on other days (0.3, 0.7 of the same day's; x 0.4 between a weekday and
 * a weekend day).  Candidate MODEL_KERNEL_DEFAULT (width 2, other days 0.3)
 * is the kernel the model used before the choice existed.
 */
static const double kern_same[4][3] = {
    { 1.0, 0.0, 0.0 }, { 1.0, 0.25, 0.05 }, { 1.0, 0.5, 0.2 }, { 1.0, 0.75, 0.45 },
};
static const double kern_other[2] = { 0.3, 0.7 };

double model_kernel_k(int kernel, int a, int b)
{
    if (kernel < 0 || kernel >= MODEL_KERNELS)
        return 0;
    if (a < 0 || b < 0 || a >= MODEL_HOURS || b >= MODEL_HOURS)
        return 0;
    const double *same = kern_same[kernel / 2];
    int da = a / 24, db = b / 24;
    int dh = abs(a % 24 - b % 24);
    if (dh > 12)
        dh = 24 - dh;
    if (dh > 2)
        return 0;
    if (da == db)
        return same[dh];
    /* Weekdays pool with weekdays, weekends with weekends, mixed less. */
    return kern_other[kernel % 2] * same[dh] * (((da >= 5) == (db >= 5)) ? 1.0 : 0.4);
}

double model_kernel(int a, int b)
{
    return model_kernel_k(MODEL_KERNEL_DEFAULT, a, b);
}

int model_segment_kernel(const struct model *m, int segment)
{
    if (segment >= 0 && (size_t)segment < m->nseg && m->seg_kern)
        return m->seg_kern[segment];
    return m->finished ? m->pool_kern : MODEL_KERNEL_DEFAULT;
}

int model_new(const struct model_params *p, size_t nsegments, struct model **ret)
{
    struct model_params def;
    if (!p) {
        model_params_default(&def);
        p = &def;
    }
    if (!(p->prior_strength > 0) || !(p->channel_strength > 0) || !(p->hour_strength > 0) ||
        !(p->hour_smooth >= 0 && p->hour_smooth <= 1) || !(p->weekend_strength > 0) ||
        !(p->sample_temper > 0) ||
        !(p->segment_cap > 0))
        return -EINVAL;
    struct model *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->p = *p;
    m->nseg = nsegments;
    size_t cells = nsegments * _CHAN_KIND_MAX * MODEL_HOURS;
    if (cells) {
        m->seg_att = calloc(cells, sizeof(double));
        m->seg_reach = calloc(cells, sizeof(double));
        m->seg_mean = calloc(cells, sizeof(float));
        m->seg_n = calloc(cells, sizeof(float));
        if (!m->seg_att || !m->seg_reach || !m->seg_mean || !m->seg_n) {
            model_free(m);
            return -ENOMEM;
        }
    }
    for (int k = 0; k < _CHAN_KIND_MAX; k++)
        for (int h = 0; h < MODEL_HOURS; h++) {
            m->prior_mean[k][h] = (float)model_builtin_prior(k, h);
            m->prior_n[k][h] = (float)p->prior_strength;
        }
    for (int h = 0; h < MODEL_HOURS; h++) {
        int n = 0;
        for (int o = 0; o < MODEL_HOURS; o++) {
            double w = model_kernel(h, o);
            if (w > 0 && n < KERNEL_N) {
                m->kidx[h][n] = (uint8_t)o;
                for (int c = 0; c < MODEL_KERNELS; c++)
                    m->kw[c][h][n] = (float)model_kernel_k(c, h, o);
                n++;
            }
        }
    }
    m->pool_kern = MODEL_KERNEL_DEFAULT;
    if (nsegments) {
        m->seg_kern = malloc(nsegments);
        if (!m->seg_kern) {
            model_free(m);
            return -ENOMEM;
        }
        memset(m->seg_kern, MODEL_KERNEL_DEFAULT, nsegments);
    }
    *ret = m;
    return 0;
}

void model_free(struct model *m)
{
    if (!m)
        return;
    free(m->seg_att);
    free(m->seg_reach);
    free(m->seg_mean);
    free(m->seg_n);
    free(m->eb_A);
    free(m->eb_b);
    free(m->eb_nd);
    free(m->eb);
    free(m->seg_kern);
    free(m->lv);
    free(m->lv_f);
    free(m->ebd);
    free(m->ebc);
    free(m);
}

size_t model_nsegments(const struct model *m)
{
    return m->nseg;
}

int model_set_prior(struct model *m, enum chan_kind k, int how, double mean, double strength)
{
    if ((int)k < 0 || k >= _CHAN_KIND_MAX || how < 0 || how >= MODEL_HOURS ||
        !(mean > 0 && mean < 1) || !(strength > 0) || m->finished)
        return -EINVAL;
    m->prior_mean[k][how] = (float)mean;
    m->prior_n[k][how] = (float)strength;
    return 0;
}

static size_t seg_off(int segment, int k, int how)
{
    return ((size_t)segment * _CHAN_KIND_MAX + (size_t)k) * MODEL_HOURS + (size_t)how;
}

int model_segment_add(struct model *m, int segment, enum chan_kind k, int how,
                      uint64_t attempts, uint64_t reaches)
{
    if (segment < 0 || (size_t)segment >= m->nseg || (int)k < 0 || k >= _CHAN_KIND_MAX ||
        how < 0 || how >= MODEL_HOURS || reaches > attempts || m->finished)
        return -EINVAL;
    size_t o = seg_off(segment, k, how);
    m->seg_att[o] += (double)attempts;
    m->seg_reach[o] += (double)reaches;
    return 0;
}

/*
 * Held-out log likelihood of one set of counts ([kind][how]) under kernel
 * `kern`: every cell with attempts is predicted from the prior and its
 * neighbours alone (leave one cell out) and scored with the binomial log
 * likelihood of its own counts.  A kernel too sharp predicts a cell from
 * little; one too wide blurs a peak into its neighbours.
 */
static double loo_ll(const struct model *m, const double *att, const double *reach, int kern)
{
    double ll = 0;
    for (int k = 0; k < _CHAN_KIND_MAX; k++)
        for (int h = 0; h < MODEL_HOURS; h++) {
            double A = att[k * MODEL_HOURS + h];
            if (!(A > 0))
                continue;
            double R = reach[k * MODEL_HOURS + h];
            double pn = m->prior_n[k][h], a = m->prior_mean[k][h] * pn, n = pn;
            for (int j = 0; j < KERNEL_N; j++) {
                int o = m->kidx[h][j];
                if (o == h)
                    continue;
                a += m->kw[kern][h][j] * reach[k * MODEL_HOURS + o];
                n += m->kw[kern][h][j] * att[k * MODEL_HOURS + o];
            }
            double mu = clampd(a / n, MODEL_P_MIN, MODEL_P_MAX);
            ll += R * log(mu) + (A - R) * log(1 - mu);
        }
    return ll;
}

static int loo_choose(const struct model *m, const double *att, const double *reach)
{
    int best = MODEL_KERNEL_DEFAULT;
    double bl = loo_ll(m, att, reach, best);
    for (int c = 0; c < MODEL_KERNELS; c++) {
        double l = c == MODEL_KERNEL_DEFAULT ? bl : loo_ll(m, att, reach, c);
        if (l > bl + 1e-9) {
            bl = l;
            best = c;
        }
    }
    return best;
}

void model_finish(struct model *m)
{
    if (m->finished)
        return;
    static const size_t per = _CHAN_KIND_MAX * MODEL_HOURS;
    double pa[_CHAN_KIND_MAX * MODEL_HOURS] = { 0 }, pr[_CHAN_KIND_MAX * MODEL_HOURS] = { 0 };
    for (size_t s = 0; s < m->nseg; s++) {
        m->seg_kern[s] = (uint8_t)loo_choose(m, m->seg_att + s * per, m->seg_reach + s * per);
        for (size_t i = 0; i < per; i++) {
            pa[i] += m->seg_att[s * per + i];
            pr[i] += m->seg_reach[s * per + i];
        }
    }
    m->pool_kern = (uint8_t)loo_choose(m, pa, pr);
    for (size_t s = 0; s < m->nseg; s++)
        for (int k = 0; k < _CHAN_KIND_MAX; k++)
            for (int h = 0; h < MODEL_HOURS; h++) {
                double pm = m->prior_mean[k][h], pn = m->prior_n[k][h];
                double a = pm * pn, n = pn;
                const float *kw = m->kw[m->seg_kern[s]][h];
                for (int j = 0; j < KERNEL_N; j++) {
                    size_t o = seg_off((int)s, k, m->kidx[h][j]);
                    a += kw[j] * m->seg_reach[o];
                    n += kw[j] * m->seg_att[o];
                }
                size_t o = seg_off((int)s, k, h);
                m->seg_mean[o] = (float)clampd(a / n, MODEL_P_MIN, MODEL_P_MAX);
                m->seg_n[o] = (float)(n < m->p.segment_cap ? n : m->p.segment_cap);
            }
    m->finished = true;
}

void model_segment_estimate(const struct model *m, int segment, enum chan_kind k, int how,
                            double *ret_mean, double *ret_n)
{
    if ((int)k < 0 || k >= _CHAN_KIND_MAX || how < 0 || how >= MODEL_HOURS) {
        *ret_mean = 0.1;
        *ret_n = 1;
        return;
    }
    if (segment < 0 || (size_t)segment >= m->nseg || !m->finished) {
        *ret_mean = clampd(m->prior_mean[k][how], MODEL_P_MIN, MODEL_P_MAX);
        *ret_n = m->prior_n[k][how];
        return;
    }
    size_t o = seg_off(segment, k, how);
    *ret_mean = m->seg_mean[o];
    *ret_n = m->seg_n[o];
}

static double seg_mean(const struct model *m, int segment, int k, int how)
{
    double mean, n;
    model_segment_estimate(m, segment, k, how, &mean, &n);
    return mean;
}

/* ---- empirical Bayes: the debtor layer's prior from a sample of debtors ---- */

static void eb_default(const struct model *m, struct model_eb *e)
{
    const struct model_params *p = &m->p;
    for (int k = 0; k < _CHAN_KIND_MAX; k++)
        e->channel[k] = p->channel_strength;
    e->hour = p->hour_strength;
    e->weekend = p->weekend_strength;
    e->smooth1 = p->hour_smooth;
    e->smooth2 = 0;
    e->debtors = 0;
}

void model_eb_get(const struct model *m, int segment, struct model_eb *ret)
{
    if (!m->eb) {
        eb_default(m, ret);
        return;
    }
    *ret = m->eb[segment >= 0 && (size_t)segment < m->nseg ? (size_t)segment : m->nseg];
}

/*
 * One debtor's moments.  With X_i = n_i mu_s(i) the reaches its segment
 * expects in cell i and e_i = r_i - X_i, every pair of distinct cells
 * (so no binomial variance term) has E[e_i e_j] = X_i X_j cov(f_i, f_j),
 * and with f = level x channel x hour-of-day x weekend factors
 * cov(f_i, f_j) ~ t_L + [same kind] t_C(kind) + t_H(hours apart, 0..2)
 * + [both weekend] t_W.  Weighted least squares (weight 1 / X_i X_j,
 * the Poisson variance of e_i e_j): A += sum X_i X_j z z', b += sum z e_i e_j.
 */
#define EB_CELLS (_CHAN_KIND_MAX * MODEL_HOURS)

/* ---- levels ---- */

static uint32_t lv_hashfn(int type, const char *str, size_t n)
{
    uint32_t h = 2166136261u ^ (uint32_t)type;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)str[i]) * 16777619u;
    return h;
}

/* Index of (type, value), -1 when absent; with `add`, insert it (-1: table full). */
static int32_t lv_find(const struct model *m, struct model *mw, int type, const char *str,
                       size_t n)
{
    if (!n || n >= LV_NAME_MAX)
        return -1;
    uint32_t h = lv_hashfn(type, str, n) % LV_HASH;
    for (int probe = 0; probe < LV_HASH; probe++, h = (h + 1) % LV_HASH) {
        int32_t i = m->lv_hash[h] - 1;
        if (i < 0) {
            if (!mw || m->nlv >= LV_MAX)
                return -1;
            struct level_val *v = &mw->lv[mw->nlv];
            memset(v, 0, sizeof(*v));
            v->type = (uint8_t)type;
            memcpy(v->name, str, n);
            mw->lv_hash[h] = (int32_t)++mw->nlv;
            return (int32_t)(mw->nlv - 1);
        }
        const struct level_val *v = &m->lv[i];
        if (v->type == type && strlen(v->name) == n && !memcmp(v->name, str, n))
            return i;
    }
    return -1;
}

/* The debtor's level values (mw non-NULL: interning new ones). */
static int levels_of(const struct model *m, struct model *mw, const struct model_covariates *cov,
                     int32_t *ids)
{
    int n = 0;
    if (!cov || !m->lv)
        return 0;
    const char *one[6] = { cov->country, cov->time_zone, NULL, cov->risk_band, cov->age_band,
                           cov->employment_type };
    static const int types[6] = { MODEL_LEVEL_COUNTRY, MODEL_LEVEL_TZ, MODEL_LEVEL_REGION,
                                  MODEL_LEVEL_RISK, MODEL_LEVEL_AGE, MODEL_LEVEL_EMPLOYMENT };
    char region[LV_NAME_MAX];
    if (cov->region && cov->region[0]) {
        int k = snprintf(region, sizeof(region), "%s/%s", cov->country ? cov->country : "",
                         cov->region);
        if (k > 0 && (size_t)k < sizeof(region))
            one[2] = region;
    }
    for (int i = 0; i < 6; i++) {
        if (!one[i] || !one[i][0])
            continue;
        int32_t id = lv_find(m, mw, types[i], one[i], strlen(one[i]));
        if (id >= 0)
            ids[n++] = id;
    }
    const char *t = cov->tags;
    for (int k = 0; t && *t && k < MODEL_TAGS_MAX;) {
        while (*t == ';' || *t == ',' || *t == ' ')
            t++;
        const char *e = t;
        while (*e && *e != ';' && *e != ',')
            e++;
        size_t len = (size_t)(e - t);
        while (len && t[len - 1] == ' ')
            len--;
        if (len) {
            int32_t id = lv_find(m, mw, MODEL_LEVEL_TAG, t, len);
            if (id >= 0)
                ids[n++] = id;
            k++;
        }
        t = e;
    }
    return n;
}

void model_levels_find(const struct model *m, const struct model_covariates *cov,
                       struct model_levels *ret)
{
    ret->n = m->lv_f ? levels_of(m, NULL, cov, ret->id) : 0;
}

static const char *const lv_type_name[_MODEL_LEVEL_TYPE_MAX] = {
    [MODEL_LEVEL_COUNTRY] = "country", [MODEL_LEVEL_TZ] = "time zone",
    [MODEL_LEVEL_REGION] = "region",   [MODEL_LEVEL_RISK] = "risk band",
    [MODEL_LEVEL_AGE] = "age band",    [MODEL_LEVEL_EMPLOYMENT] = "employment type",
    [MODEL_LEVEL_TAG] = "tag",
};

void model_level_label(const struct model *m, int32_t id, char *buf, size_t len)
{
    if (id < 0 || (size_t)id >= m->nlv) {
        if (len)
            buf[0] = 0;
        return;
    }
    snprintf(buf, len, "%s '%s'", lv_type_name[m->lv[id].type], m->lv[id].name);
}

void model_level_info(const struct model *m, int32_t id, double *ret_strength,
                      double *ret_attempts)
{
    bool ok = id >= 0 && (size_t)id < m->nlv;
    *ret_strength = ok ? m->lv_strength[m->lv[id].type] : 0;
    *ret_attempts = ok ? m->lv[id].attempts : 0;
}

static double lv_factor(const float *f, int k, int how)
{
    return f[k * MODEL_HOURS + how];
}

/*
 * Fit every level's factors on the sample: for each level column in turn,
 * expected reaches = attempts x segment mean x the other columns' factors;
 * the column's strength c (expected reaches behind a factor) is a moment
 * estimate of the between-value variance of observed / expected,
 * tau^2 = sum((O - E)^2 - O) / sum(E^2) over raw cells, c = 1 / tau^2;
 * then per value and (kind, how), pooled over the hours with the kernel
 * chosen for the pooled counts, factor = (c + O) / (c + E).  LV_ROUNDS
 * rounds.  A value with little data gets factors near 1: its segment.
 */
static int levels_fit(struct model *m)
{
    static const size_t per = _CHAN_KIND_MAX * MODEL_HOURS;
    size_t nv = m->nlv;
    if (!nv)
        return 0;
    double *O = calloc(nv * per, sizeof(double)), *E = calloc(nv * per, sizeof(double));
    float *F = malloc(nv * per * sizeof(float));
    if (!O || !E || !F) {
        free(O);
        free(E);
        free(F);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nv * per; i++)
        F[i] = 1;
    for (size_t d = 0; d < m->nebd; d++) {
        const struct eb_debtor *x = &m->ebd[d];
        for (size_t i = 0; i < x->n; i++) {
            const struct model_cell *c = &m->ebc[x->off + i];
            size_t o = (size_t)c->kind * MODEL_HOURS + c->how;
            for (int j = 0; j < x->nlev; j++) {
                O[(size_t)x->lev[j] * per + o] += c->reaches;
                m->lv[x->lev[j]].attempts += c->attempts;
            }
        }
    }
    const float *kw = NULL;
    for (int round = 0; round < LV_ROUNDS; round++)
        for (int T = 0; T < _MODEL_LEVEL_TYPE_MAX; T++) {
            bool any = false;
            for (size_t v = 0; v < nv; v++)
                if (m->lv[v].type == T) {
                    memset(E + v * per, 0, per * sizeof(double));
                    any = true;
                }
            if (!any)
                continue;
            for (size_t d = 0; d < m->nebd; d++) {
                const struct eb_debtor *x = &m->ebd[d];
                bool has = false;
                for (int j = 0; j < x->nlev; j++)
                    has |= m->lv[x->lev[j]].type == T;
                if (!has)
                    continue;
                for (size_t i = 0; i < x->n; i++) {
                    const struct model_cell *c = &m->ebc[x->off + i];
                    size_t o = (size_t)c->kind * MODEL_HOURS + c->how;
                    double e = c->attempts * seg_mean(m, x->seg, c->kind, c->how);
                    for (int j = 0; j < x->nlev; j++)
                        if (m->lv[x->lev[j]].type != T)
                            e *= F[(size_t)x->lev[j] * per + o];
                    /* a debtor's other values of the column (its other tags) count too */
                    for (int j = 0; j < x->nlev; j++) {
                        if (m->lv[x->lev[j]].type != T)
                            continue;
                        double ej = e;
                        for (int l = 0; l < x->nlev; l++)
                            if (l != j && m->lv[x->lev[l]].type == T)
                                ej *= F[(size_t)x->lev[l] * per + o];
                        E[(size_t)x->lev[j] * per + o] += ej;
                    }
                }
            }
            double num = 0, den = 0;
            for (size_t v = 0; v < nv; v++)
                if (m->lv[v].type == T)
                    for (size_t i = 0; i < per; i++) {
                        double e = E[v * per + i], ob = O[v * per + i];
                        if (e > 0) {
                            num += (ob - e) * (ob - e) - ob;
                            den += e * e;
                        }
                    }
            double tau2 = den > 0 ? num / den : 0;
            double c = tau2 > 1 / LV_STRENGTH_MAX ? clampd(1 / tau2, LV_STRENGTH_MIN,
                                                            LV_STRENGTH_MAX)
                                                  : LV_STRENGTH_MAX;
            m->lv_strength[T] = c;
            for (size_t v = 0; v < nv; v++) {
                if (m->lv[v].type != T)
                    continue;
                for (int k = 0; k < _CHAN_KIND_MAX; k++)
                    for (int h = 0; h < MODEL_HOURS; h++) {
                        kw = m->kw[m->pool_kern][h];
                        double a = c, b = c;
                        for (int j = 0; j < KERNEL_N; j++) {
                            size_t o = v * per + (size_t)k * MODEL_HOURS + m->kidx[h][j];
                            a += kw[j] * O[o];
                            b += kw[j] * E[o];
                        }
                        F[v * per + (size_t)k * MODEL_HOURS + h] =
                            (float)clampd(a / b, LV_F_MIN, LV_F_MAX);
                    }
            }
        }
    free(O);
    free(E);
    m->lv_f = F;
    return 0;
}

/* ---- the empirical-Bayes sample ---- */

int model_eb_add(struct model *m, int segment, const struct model_cell *cells, size_t ncells)
{
    return model_eb_add_levels(m, segment, NULL, cells, ncells);
}

int model_eb_add_levels(struct model *m, int segment, const struct model_covariates *cov,
                        const struct model_cell *cells, size_t ncells)
{
    if (!m->finished || m->eb || segment < 0 || (size_t)segment >= m->nseg || (ncells && !cells))
        return -EINVAL;
    if (!m->lv && !(m->lv = calloc(LV_MAX, sizeof(*m->lv))))
        return -ENOMEM;
    if (m->nebd == m->cebd) {
        size_t nc = m->cebd ? 2 * m->cebd : 1024;
        struct eb_debtor *p = realloc(m->ebd, nc * sizeof(*p));
        if (!p)
            return -ENOMEM;
        m->ebd = p;
        m->cebd = nc;
    }
    size_t keep = 0;
    for (size_t i = 0; i < ncells; i++)
        keep += cells[i].kind < _CHAN_KIND_MAX && cells[i].how < MODEL_HOURS &&
                cells[i].attempts;
    if (m->nebc + keep > m->cebc) {
        size_t nc = m->cebc ? m->cebc : 16384;
        while (nc < m->nebc + keep)
            nc *= 2;
        struct model_cell *p = realloc(m->ebc, nc * sizeof(*p));
        if (!p)
            return -ENOMEM;
        m->ebc = p;
        m->cebc = nc;
    }
    struct eb_debtor *x = &m->ebd[m->nebd++];
    x->seg = segment;
    x->nlev = levels_of(m, m, cov, x->lev);
    x->off = m->nebc;
    x->n = 0;
    for (size_t i = 0; i < ncells; i++) {
        struct model_cell c = cells[i];
        if (c.kind >= _CHAN_KIND_MAX || c.how >= MODEL_HOURS || !c.attempts)
            continue;
        if (c.reaches > c.attempts)
            c.reaches = c.attempts;
        m->ebc[m->nebc++] = c;
        x->n++;
    }
    return 0;
}

/* The expected rate of a sample debtor's cell: segment mean x its level factors. */
static double eb_base(const struct model *m, const struct eb_debtor *x, int k, int how)
{
    double b = seg_mean(m, x->seg, k, how);
    if (m->lv_f)
        for (int j = 0; j < x->nlev; j++)
            b *= lv_factor(m->lv_f + (size_t)x->lev[j] * _CHAN_KIND_MAX * MODEL_HOURS, k, how);
    return clampd(b, MODEL_P_MIN, MODEL_P_MAX);
}

static void eb_moments(struct model *m, const struct eb_debtor *x)
{
    int segment = x->seg;
    const struct model_cell *cells = m->ebc + x->off;
    size_t ncells = x->n;
    double X[EB_CELLS], e[EB_CELLS];
    uint8_t kd[EB_CELLS], hd[EB_CELLS], we[EB_CELLS];
    size_t n = 0;
    for (size_t i = 0; i < ncells && n < EB_CELLS; i++) {
        const struct model_cell *c = &cells[i];
        double r = c->reaches;
        X[n] = c->attempts * eb_base(m, x, c->kind, c->how);
        e[n] = r - X[n];
        kd[n] = c->kind;
        hd[n] = (uint8_t)(c->how % 24);
        we[n] = c->how >= 5 * 24;
        n++;
    }
    double *A = m->eb_A + (size_t)segment * EB_NP * EB_NP, *b = m->eb_b + (size_t)segment * EB_NP;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            int z[5], nz = 0;
            z[nz++] = EB_L;
            if (kd[i] == kd[j])
                z[nz++] = EB_C(kd[i]);
            int dh = abs(hd[i] - hd[j]);
            if (dh > 12)
                dh = 24 - dh;
            if (dh <= 2)
                z[nz++] = EB_H(dh);
            if (we[i] && we[j])
                z[nz++] = EB_W;
            double w = X[i] * X[j], y = e[i] * e[j];
            for (int a = 0; a < nz; a++) {
                b[z[a]] += y;
                for (int c = 0; c < nz; c++)
                    A[z[a] * EB_NP + z[c]] += w;
            }
        }
    m->eb_nd[segment] += 1;
}

/*
 * Solve (A + diag(ridge)) x = b + ridge * x0 by Gaussian elimination with
 * partial pivoting; an unknown without information keeps x0.
 */
static void eb_solve(const double *A, const double *b, const double *ridge, const double *x0,
                     double *x)
{
    double M[EB_NP][EB_NP + 1];
    bool fixed[EB_NP];
    for (int i = 0; i < EB_NP; i++)
        fixed[i] = !(A[i * EB_NP + i] + ridge[i] > 0);
    for (int i = 0; i < EB_NP; i++) {
        for (int j = 0; j < EB_NP; j++)
            M[i][j] = fixed[i] || fixed[j] ? (i == j) : A[i * EB_NP + j] + (i == j ? ridge[i] : 0);
        M[i][EB_NP] = fixed[i] ? x0[i] : b[i] + ridge[i] * x0[i];
    }
    for (int i = 0; i < EB_NP; i++)
        for (int j = 0; j < EB_NP; j++)
            if (fixed[j] && !fixed[i]) /* move the known column to the right */
                M[i][EB_NP] -= (A[i * EB_NP + j]) * x0[j];
    for (int c = 0; c < EB_NP; c++) {
        int piv = c;
        for (int r = c + 1; r < EB_NP; r++)
            if (fabs(M[r][c]) > fabs(M[piv][c]))
                piv = r;
        if (!(fabs(M[piv][c]) > 1e-300)) {
            x[c] = x0[c];
            continue;
        }
        if (piv != c)
            for (int j = 0; j <= EB_NP; j++) {
                double t = M[c][j];
                M[c][j] = M[piv][j];
                M[piv][j] = t;
            }
        for (int r = 0; r < EB_NP; r++) {
            if (r == c || M[r][c] == 0)
                continue;
            double f = M[r][c] / M[c][c];
            for (int j = c; j <= EB_NP; j++)
                M[r][j] -= f * M[c][j];
        }
    }
    for (int c = 0; c < EB_NP; c++)
        if (fabs(M[c][c]) > 1e-300)
            x[c] = M[c][EB_NP] / M[c][c];
}

static double eb_strength(double var)
{
    return var > 1 / EB_STRENGTH_MAX ? (1 / var > EB_STRENGTH_MIN ? 1 / var : EB_STRENGTH_MIN)
                                     : EB_STRENGTH_MAX;
}

static void eb_from_theta(const double *t, double debtors, struct model_eb *e)
{
    for (int k = 0; k < _CHAN_KIND_MAX; k++)
        e->channel[k] = eb_strength(t[EB_C(k)]);
    e->hour = eb_strength(t[EB_H(0)]);
    e->weekend = eb_strength(t[EB_W]);
    double h0 = t[EB_H(0)];
    e->smooth1 = h0 > 0 ? clampd(t[EB_H(1)] / h0, 0, 1) : 0;
    e->smooth2 = h0 > 0 ? clampd(t[EB_H(2)] / h0, 0, e->smooth1) : 0;
    e->debtors = debtors;
}

void model_eb_finish(struct model *m)
{
    if (!m->nebd || m->eb)
        return;
    if (levels_fit(m) < 0)
        return; /* the defaults stay, without levels */
    m->eb_A = calloc(m->nseg * EB_NP * EB_NP, sizeof(double));
    m->eb_b = calloc(m->nseg * EB_NP, sizeof(double));
    m->eb_nd = calloc(m->nseg, sizeof(double));
    struct model_eb *eb = calloc(m->nseg + 1, sizeof(*eb));
    if (!m->eb_A || !m->eb_b || !m->eb_nd || !eb) {
        free(eb);
        return; /* the defaults stay */
    }
    for (size_t d = 0; d < m->nebd; d++)
        eb_moments(m, &m->ebd[d]);
    free(m->ebd);
    free(m->ebc);
    m->ebd = NULL;
    m->ebc = NULL;
    m->nebd = m->cebd = m->nebc = m->cebc = 0;
    double A[EB_NP * EB_NP] = { 0 }, b[EB_NP] = { 0 }, nd = 0;
    for (size_t s = 0; s < m->nseg; s++) {
        for (int i = 0; i < EB_NP * EB_NP; i++)
            A[i] += m->eb_A[s * EB_NP * EB_NP + (size_t)i];
        for (int i = 0; i < EB_NP; i++)
            b[i] += m->eb_b[s * EB_NP + (size_t)i];
        nd += m->eb_nd[s];
    }
    struct model_eb def;
    eb_default(m, &def);
    double x0[EB_NP], ridge[EB_NP], tg[EB_NP], ts[EB_NP];
    x0[EB_L] = 0;
    for (int k = 0; k < _CHAN_KIND_MAX; k++)
        x0[EB_C(k)] = 1 / def.channel[k];
    x0[EB_H(0)] = 1 / def.hour;
    x0[EB_H(1)] = def.smooth1 / def.hour;
    x0[EB_H(2)] = 0;
    x0[EB_W] = 1 / def.weekend;
    for (int i = 0; i < EB_NP; i++)
        ridge[i] = 1e-9 * A[i * EB_NP + i];
    eb_solve(A, b, ridge, x0, tg);
    eb_from_theta(tg, nd, &eb[m->nseg]);
    for (size_t s = 0; s < m->nseg; s++) {
        for (int i = 0; i < EB_NP; i++)
            ridge[i] = nd > 0 ? A[i * EB_NP + i] * EB_PRIOR_DEBTORS / nd : 0;
        eb_solve(m->eb_A + s * EB_NP * EB_NP, m->eb_b + s * EB_NP, ridge, tg, ts);
        eb_from_theta(ts, m->eb_nd[s], &eb[s]);
    }
    m->eb = eb;
}

/*
 * Backfitting of the four factors: each is a Gamma-Poisson posterior
 * Gamma(c + observed reaches, c + reaches expected from the segment mean
 * times the other factors), refitted FIT_ROUNDS times in turn.  O(cells + 24)
 * per round.
 */
#define FIT_ROUNDS 2

/* The debtor's level-adjusted segment mean: segment x its level factors, clamped. */
static double dbase(const struct model_debtor *md, int k, int how)
{
    double b = seg_mean(md->m, md->segment, k, how);
    for (int j = 0; j < md->nlev; j++)
        b *= lv_factor(md->lev[j], k, how);
    return md->nlev ? clampd(b, MODEL_P_MIN, MODEL_P_MAX) : b;
}

/* Cells whose base model_debtor_prepare_levels() keeps (the rest recompute it). */
#define PREP_CELLS 64

static inline double cell_base(const struct model_debtor *md, const double *cb,
                               const struct model_cell *cells, size_t i)
{
    return i < PREP_CELLS ? cb[i] : dbase(md, cells[i].kind, cells[i].how);
}

double model_debtor_level_factor(const struct model_debtor *md, int j, enum chan_kind k,
                                 int how)
{
    if (j < 0 || j >= md->nlev || (int)k < 0 || k >= _CHAN_KIND_MAX || how < 0 ||
        how >= MODEL_HOURS)
        return 1;
    return lv_factor(md->lev[j], k, how);
}

void model_debtor_prepare(const struct model *m, int segment, const struct model_cell *cells,
                          size_t ncells, struct model_debtor *ret)
{
    model_debtor_prepare_levels(m, segment, NULL, cells, ncells, ret);
}

void model_debtor_prepare_levels(const struct model *m, int segment,
                                 const struct model_levels *lv, const struct model_cell *cells,
                                 size_t ncells, struct model_debtor *ret)
{
    struct model_eb e;
    model_eb_get(m, segment, &e);
    ret->m = m;
    ret->segment = segment;
    ret->nlev = 0;
    ret->pop = 1;
    if (lv && m->lv_f)
        for (int j = 0; j < lv->n && j < MODEL_LEVELS_MAX; j++)
            if (lv->id[j] >= 0 && (size_t)lv->id[j] < m->nlv) {
                ret->lev_id[ret->nlev] = lv->id[j];
                ret->lev[ret->nlev++] =
                    m->lv_f + (size_t)lv->id[j] * _CHAN_KIND_MAX * MODEL_HOURS;
            }
    double hs = e.hour, ws = e.weekend;
    double rk[_CHAN_KIND_MAX] = { 0 }, rh[24] = { 0 }, rw = 0, total = 0;
    /* each cell's base (segment x levels) once, not in every pass of the fit */
    double cb[PREP_CELLS];
    for (int k = 0; k < _CHAN_KIND_MAX; k++) {
        ret->factor[k] = 1;
        ret->fa[k] = ret->fb[k] = e.channel[k];
    }
    for (int h = 0; h < 24; h++) {
        ret->hour[h] = 1;
        ret->ha[h] = ret->hb[h] = hs;
    }
    ret->weekend = 1;
    ret->wa = ret->wb = ws;
    for (size_t i = 0; i < ncells; i++) {
        const struct model_cell *c = &cells[i];
        if (c->kind >= _CHAN_KIND_MAX || c->how >= MODEL_HOURS || !c->attempts)
            continue;
        rk[c->kind] += c->reaches;
        rh[c->how % 24] += c->reaches;
        if (c->how >= 5 * 24)
            rw += c->reaches;
        total += c->attempts;
        if (i < PREP_CELLS)
            cb[i] = dbase(ret, c->kind, c->how);
    }
    if (total == 0)
        return; /* invariant 2 */
    double sw[3] = { 1, e.smooth1, e.smooth2 };
    for (int round = 0; round < FIT_ROUNDS; round++) {
        /* channel factor, given hour and weekend */
        double xk[_CHAN_KIND_MAX] = { 0 };
        for (size_t i = 0; i < ncells; i++) {
            const struct model_cell *c = &cells[i];
            if (c->kind >= _CHAN_KIND_MAX || c->how >= MODEL_HOURS || !c->attempts)
                continue;
            double x = cell_base(ret, cb, cells, i) * ret->hour[c->how % 24];
            if (c->how >= 5 * 24)
                x *= ret->weekend;
            xk[c->kind] += c->attempts * x;
        }
        for (int k = 0; k < _CHAN_KIND_MAX; k++) {
            ret->fa[k] = e.channel[k] + rk[k];
            ret->fb[k] = e.channel[k] + xk[k];
            ret->factor[k] = ret->fa[k] / ret->fb[k];
        }
        /* hour-of-day factor (every day, every channel), then weekend */
        double xh[24] = { 0 }, xw = 0;
        for (size_t i = 0; i < ncells; i++) {
            const struct model_cell *c = &cells[i];
            if (c->kind >= _CHAN_KIND_MAX || c->how >= MODEL_HOURS || !c->attempts)
                continue;
            double x = c->attempts * cell_base(ret, cb, cells, i) * ret->factor[c->kind];
            if (c->how >= 5 * 24) {
                xw += x * ret->hour[c->how % 24];
                x *= ret->weekend;
            }
            xh[c->how % 24] += x;
        }
        for (int h = 0; h < 24; h++) {
            double a = hs, b = hs;
            for (int d = -2; d <= 2; d++) {
                int o = (h + 24 + d) % 24;
                double w = sw[abs(d)];
                a += w * rh[o];
                b += w * xh[o];
            }
            ret->ha[h] = a;
            ret->hb[h] = b;
            ret->hour[h] = a / b;
        }
        ret->wa = ws + rw;
        ret->wb = ws + xw;
        ret->weekend = ret->wa / ret->wb;
    }
}

double model_explore_pop(double u, double e)
{
    if (!(e > 0))
        return 1e9;
    return 1 + (u > 0 ? u : 0) / e;
}

void model_debtor_explore(struct model_debtor *md, double pop)
{
    md->pop = pop >= 1 ? pop : 1;
}

void model_estimate(const struct model_debtor *md, enum chan_kind k, int how,
                    struct model_estimate *ret)
{
    const struct model *m = md->m;
    ret->seg_mean = seg_mean(m, md->segment, k, how);
    double base = dbase(md, k, how);
    ret->lev_mean = base;
    if ((int)k < 0 || k >= _CHAN_KIND_MAX || how < 0 || how >= MODEL_HOURS) {
        ret->mean = base;
        ret->n = 1;
        ret->pop_rv = 0;
        return;
    }
    int h = how % 24;
    bool we = how >= 5 * 24;
    double f = md->factor[k] * md->hour[h] * (we ? md->weekend : 1);
    double mean = clampd(base * f, MODEL_P_MIN, MODEL_P_MAX);
    /* relative variance of a product of independent factors ~ the sum of theirs */
    double sm, sn;
    model_segment_estimate(m, md->segment, k, how, &sm, &sn);
    /* the segment's part at the debtor's view: its strength x pop (model.h) */
    ret->pop_rv = (1 - sm) / (sm * (sn + 1));
    double rv = 1 / md->fa[k] + 1 / md->ha[h] + (we ? 1 / md->wa : 0) +
                (1 - sm) / (sm * (sn * md->pop + 1));
    double n = (1 - mean) / (mean * rv) - 1;
    ret->mean = mean;
    ret->n = n > 1 ? n : 1;
}

void model_draw_init(struct model_draw *d, const struct model_debtor *md, struct model_rng *rng,
                     double temper)
{
    d->md = md;
    d->rng = rng;
    d->temper = (temper > 0 ? temper : 1) * md->m->p.sample_temper;
    d->have_f = d->have_h = 0;
    d->have_w = 0;
}

static double draw_factor(struct model_draw *d, double a, double b)
{
    double t = d->temper;
    return model_rng_gamma(d->rng, a * t) / (b * t);
}

double model_draw_p(struct model_draw *d, enum chan_kind k, int how)
{
    const struct model_debtor *md = d->md;
    double base, sn;
    model_segment_estimate(md->m, md->segment, k, how, &base, &sn);
    if ((int)k < 0 || k >= _CHAN_KIND_MAX || how < 0 || how >= MODEL_HOURS)
        return base;
    /* the segment mean is uncertain only while its pooled counts are few:
     * drawn untempered at the debtor's view of its posterior (what one
     * debtor explores, every debtor learns; model.h) */
    if (sn < SEG_SURE) {
        double n = sn * md->pop;
        base = model_rng_beta(d->rng, base * n, (1 - base) * n);
    }
    for (int j = 0; j < md->nlev; j++)
        base *= lv_factor(md->lev[j], k, how);
    int h = how % 24;
    if (!(d->have_f & (1u << k))) {
        d->f[k] = draw_factor(d, md->fa[k], md->fb[k]);
        d->have_f |= 1u << k;
    }
    if (!(d->have_h & (1u << h))) {
        d->h[h] = draw_factor(d, md->ha[h], md->hb[h]);
        d->have_h |= 1u << h;
    }
    double f = d->f[k] * d->h[h];
    if (how >= 5 * 24) {
        if (!d->have_w) {
            d->w = draw_factor(d, md->wa, md->wb);
            d->have_w = 1;
        }
        f *= d->w;
    }
    return clampd(base * f, MODEL_P_MIN, MODEL_P_MAX);
}

/* ---- randomness ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void model_rng_seed(struct model_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

uint64_t model_seed(uint64_t run_seed, int64_t debtor_id, int32_t day)
{
    uint64_t x = run_seed ^ 0x6a09e667f3bcc909ull;
    uint64_t a = splitmix64(&x) ^ (uint64_t)debtor_id;
    uint64_t b = splitmix64(&a) ^ (uint64_t)(uint32_t)day;
    return splitmix64(&b);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t model_rng_next(struct model_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

double model_rng_uniform(struct model_rng *r)
{
    return (double)(model_rng_next(r) >> 11) * 0x1.0p-53;
}

double model_rng_normal(struct model_rng *r)
{
    /* Marsaglia's polar method; the second value is dropped to stay stateless. */
    for (;;) {
        double u = 2 * model_rng_uniform(r) - 1, v = 2 * model_rng_uniform(r) - 1;
        double s = u * u + v * v;
        if (s > 0 && s < 1)
            return u * sqrt(-2 * log(s) / s);
    }
}

double model_rng_gamma(struct model_rng *r, double shape)
{
    if (shape < 1) {
        /* Boost: G(a) = G(a+1) * U^(1/a). */
        double u = model_rng_uniform(r);
        while (u <= 0)
            u = model_rng_uniform(r);
        return model_rng_gamma(r, shape + 1) * pow(u, 1 / shape);
    }
    /* Marsaglia and Tsang (2000). */
    double d = shape - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = model_rng_normal(r), v = 1 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = model_rng_uniform(r);
        if (u < 1 - 0.0331 * x * x * x * x)
            return d * v;
        if (u > 0 && log(u) < 0.5 * x * x + d * (1 - v + log(v)))
            return d * v;
    }
}

double model_rng_beta(struct model_rng *r, double a, double b)
{
    double x = model_rng_gamma(r, a), y = model_rng_gamma(r, b);
    if (x + y <= 0)
        return a / (a + b);
    return x / (x + y);
}
