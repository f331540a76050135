/*
 * propensity.c - payment propensity (see propensity.h; the math is in
 * docs/planner.md, "Payment propensity").
 *
 * Owns: the level table (column, value) and, until propensity_finish(),
 * the training examples.  Never: does I/O, reads the clock, or allocates
 * in propensity_predict() (threads share a finished model).
 *
 * Model: p = clamp(base x prod_v F_v), base the portfolio's payment rate,
 * F_v one factor per value of each column (segment, country, zone,
 * region, risk band, age band, employment type, dpd band, history state,
 * tags), crossed and backfitted in turn on what the other columns leave:
 *     F_v = (c_T + O_v) / (c_T + E_v)
 * O_v the payments of the examples with value v, E_v the payments their
 * base and other factors expect, c_T the column's strength: an
 * empirical-Bayes moment estimate, c_T = 1 / tau^2 with
 *     tau^2 = sum_v ((O_v - E_v)^2 - V_v) / sum_v E_v^2
 * (V_v the binomial variance the examples alone would give), so a column
 * whose values do not differ gets factors of 1 and a thin value stays near
 * its parent (the portfolio).
 *
 * Invariants:
 *  1. Every probability handed out is in [PROP_P_MIN, PROP_P_MAX].
 *  2. Without examples (or before propensity_finish()) every debtor gets
 *     the prior rate PROP_PRIOR_RATE; a value never seen gets factor 1.
 *  3. Factors are in [PROP_F_MIN, PROP_F_MAX], strengths in
 *     [PROP_STRENGTH_MIN, PROP_STRENGTH_MAX].
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "propensity.h"
#include "tz.h"
#include "util.h"

#define PROP_P_MIN 0.001
#define PROP_P_MAX 0.99
#define PROP_PRIOR_RATE 0.1
#define PROP_PRIOR_N 10.0 /* pseudo-examples behind the prior rate */
#define PROP_F_MIN 0.02
#define PROP_F_MAX 50.0
#define PROP_STRENGTH_MIN 0.5
#define PROP_STRENGTH_MAX 1e5
#define PROP_ROUNDS 4
#define PROP_LV_MAX 4096
#define PROP_LV_HASH 8192
#define PROP_NAME_MAX 64
#define PROP_KEPT_GRACE (3 * 86400)

struct prop_val {
    uint8_t type;
    char name[PROP_NAME_MAX];
    double examples, paid;
};

struct prop_ex {
    int32_t lev[PROPENSITY_LEVELS_MAX];
    uint8_t n;
    uint8_t y;
};

struct propensity {
    struct prop_val *lv;
    size_t nlv;
    int32_t hash[PROP_LV_HASH]; /* index + 1, 0 empty */
    double *f;                  /* [nlv] after finish */
    double strength[_PROP_LEVEL_TYPE_MAX];
    double base;
    bool finished;
    int64_t nex, npaid;
    struct prop_ex *ex;
    size_t cex;
};

static const char *const type_name[_PROP_LEVEL_TYPE_MAX] = {
    [PROP_LEVEL_SEGMENT] = "segment",     [PROP_LEVEL_COUNTRY] = "country",
    [PROP_LEVEL_TZ] = "time zone",        [PROP_LEVEL_REGION] = "region",
    [PROP_LEVEL_RISK] = "risk band",      [PROP_LEVEL_AGE] = "age band",
    [PROP_LEVEL_EMPLOYMENT] = "employment type", [PROP_LEVEL_DPD] = "dpd",
    [PROP_LEVEL_HISTORY] = "history",     [PROP_LEVEL_TAG] = "tag",
};

static const char *const hist_name[_PROP_HIST_MAX] = {
    [PROP_HIST_NONE] = "none",
    [PROP_HIST_PAID] = "paid",
    [PROP_HIST_PROMISE_KEPT] = "promise kept",
    [PROP_HIST_PROMISE_OPEN] = "promise open",
    [PROP_HIST_PROMISE_BROKEN] = "promise broken",
};

const char *propensity_history_to_string(enum propensity_history h)
{
    return (unsigned)h < _PROP_HIST_MAX ? hist_name[h] : NULL;
}

static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* ---- features ---- */

void propensity_features_at(const struct debtor_rec *rec, const struct planner_outcome *o,
                            size_t n, int64_t at, int32_t day, struct propensity_features *ret)
{
    int64_t from = at - (int64_t)PROPENSITY_HISTORY_DAYS * 86400;
    int64_t last_paid = INT64_MIN, last_promise = INT64_MIN;
    int32_t promise_day = 0;
    for (size_t i = 0; i < n; i++) {
        if (o[i].at >= at || o[i].at < from)
            continue;
        if (o[i].code == OUTCOME_PAID && o[i].at > last_paid)
            last_paid = o[i].at;
        else if (o[i].code == OUTCOME_PROMISE_TO_PAY && o[i].at > last_promise) {
            last_promise = o[i].at;
            promise_day = o[i].promise_day;
        }
    }
    uint8_t h = PROP_HIST_NONE;
    if (last_promise != INT64_MIN) {
        int64_t due = promise_day ? (int64_t)promise_day * 86400 + 86400 : last_promise;
        if (last_paid > last_promise && last_paid <= due + PROP_KEPT_GRACE)
            h = PROP_HIST_PROMISE_KEPT;
        else if (last_paid > last_promise)
            h = PROP_HIST_PAID;
        else if (promise_day && promise_day >= day)
            h = PROP_HIST_PROMISE_OPEN;
        else
            h = PROP_HIST_PROMISE_BROKEN;
    } else if (last_paid != INT64_MIN) {
        h = PROP_HIST_PAID;
    }
    *ret = (struct propensity_features){
        .rec = rec,
        .dpd = rec->due_date > 0 ? day - rec->due_date : INT32_MIN,
        .history = h,
    };
}

bool propensity_paid_between(const struct planner_outcome *o, size_t n, int64_t from,
                             int64_t to)
{
    for (size_t i = 0; i < n; i++)
        if (o[i].code == OUTCOME_PAID && o[i].at >= from && o[i].at < to)
            return true;
    return false;
}

static const char *dpd_band(int32_t dpd)
{
    if (dpd == INT32_MIN)
        return NULL;
    return dpd < 0 ? "pre-due" : dpd <= 30 ? "0-30" : dpd <= 60 ? "31-60" : dpd <= 90 ? "61-90"
         : dpd <= 180 ? "91-180" : "181+";
}

/* ---- levels ---- */

static uint32_t hashfn(int type, const char *s, size_t n)
{
    uint32_t h = 2166136261u ^ (uint32_t)type;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* Index of (type, value), -1 when absent; with add, insert it (-1: table full). */
static int32_t lv_find(const struct propensity *p, struct propensity *pw, int type,
                       const char *s, size_t n)
{
    if (!n || n >= PROP_NAME_MAX || !p->lv)
        return -1;
    uint32_t h = hashfn(type, s, n) % PROP_LV_HASH;
    for (int probe = 0; probe < PROP_LV_HASH; probe++, h = (h + 1) % PROP_LV_HASH) {
        int32_t i = p->hash[h] - 1;
        if (i < 0) {
            if (!pw || p->nlv >= PROP_LV_MAX)
                return -1;
            struct prop_val *v = &pw->lv[pw->nlv];
            memset(v, 0, sizeof(*v));
            v->type = (uint8_t)type;
            memcpy(v->name, s, n);
            pw->hash[h] = (int32_t)++pw->nlv;
            return (int32_t)(pw->nlv - 1);
        }
        const struct prop_val *v = &p->lv[i];
        if (v->type == type && strlen(v->name) == n && !memcmp(v->name, s, n))
            return i;
    }
    return -1;
}

/* The features' level values (pw non-NULL: interning new ones). */
static int levels_of(const struct propensity *p, struct propensity *pw,
                     const struct propensity_features *f, int32_t *ids)
{
    const struct debtor_rec *r = f->rec;
    int n = 0;
    char region[PROP_NAME_MAX];
    const char *one[PROP_LEVEL_TAG] = {
        [PROP_LEVEL_SEGMENT] = r->segment,
        [PROP_LEVEL_COUNTRY] = r->country,
        [PROP_LEVEL_TZ] = r->time_zone,
        [PROP_LEVEL_RISK] = r->risk_band,
        [PROP_LEVEL_AGE] = r->age_band,
        [PROP_LEVEL_EMPLOYMENT] = r->employment_type,
        [PROP_LEVEL_DPD] = dpd_band(f->dpd),
        [PROP_LEVEL_HISTORY] = f->history < _PROP_HIST_MAX ? hist_name[f->history] : NULL,
    };
    if (r->region && r->region[0]) {
        int k = snprintf(region, sizeof(region), "%s/%s", r->country ? r->country : "",
                         r->region);
        if (k > 0 && (size_t)k < sizeof(region))
            one[PROP_LEVEL_REGION] = region;
    }
    for (int t = 0; t < PROP_LEVEL_TAG; t++) {
        if (!one[t] || !one[t][0])
            continue;
        int32_t id = lv_find(p, pw, t, one[t], strlen(one[t]));
        if (id >= 0)
            ids[n++] = id;
    }
    const char *s = r->tags;
    for (int k = 0; s && *s && k < PROPENSITY_TAGS_MAX;) {
        while (*s == ';' || *s == ',' || *s == ' ')
            s++;
        const char *e = s;
        while (*e && *e != ';' && *e != ',')
            e++;
        size_t len = (size_t)(e - s);
        while (len && s[len - 1] == ' ')
            len--;
        if (len) {
            int32_t id = lv_find(p, pw, PROP_LEVEL_TAG, s, len);
            if (id >= 0)
                ids[n++] = id;
            k++;
        }
        s = e;
    }
    return n;
}

/* ---- life cycle ---- */

int propensity_new(struct propensity **ret)
{
    struct propensity *p = calloc(1, sizeof(*p));
    if (!p || !(p->lv = calloc(PROP_LV_MAX, sizeof(*p->lv)))) {
        free(p);
        return -ENOMEM;
    }
    p->base = PROP_PRIOR_RATE;
    *ret = p;
    return 0;
}

void propensity_free(struct propensity *p)
{
    if (!p)
        return;
    free(p->lv);
    free(p->f);
    free(p->ex);
    free(p);
}

int propensity_add(struct propensity *p, const struct propensity_features *f, bool paid)
{
    if (p->finished || !f || !f->rec)
        return -EINVAL;
    if ((size_t)p->nex == p->cex) {
        size_t nc = p->cex ? 2 * p->cex : 4096;
        struct prop_ex *x = realloc(p->ex, nc * sizeof(*x));
        if (!x)
            return -ENOMEM;
        p->ex = x;
        p->cex = nc;
    }
    struct prop_ex *x = &p->ex[p->nex++];
    x->n = (uint8_t)levels_of(p, p, f, x->lev);
    x->y = paid;
    p->npaid += paid;
    for (int j = 0; j < x->n; j++) {
        p->lv[x->lev[j]].examples++;
        p->lv[x->lev[j]].paid += paid;
    }
    return 0;
}

/* Keeps invariant 3. */
int propensity_finish(struct propensity *p)
{
    if (p->finished)
        return 0;
    size_t nv = p->nlv;
    p->base = (p->npaid + PROP_PRIOR_RATE * PROP_PRIOR_N) / ((double)p->nex + PROP_PRIOR_N);
    double *f = malloc((nv ? nv : 1) * sizeof(double));
    double *E = calloc(nv ? nv : 1, sizeof(double)), *V = calloc(nv ? nv : 1, sizeof(double));
    if (!f || !E || !V) {
        free(f);
        free(E);
        free(V);
        return -ENOMEM;
    }
    for (size_t v = 0; v < nv; v++)
        f[v] = 1;
    for (int round = 0; round < PROP_ROUNDS; round++)
        for (int T = 0; T < _PROP_LEVEL_TYPE_MAX; T++) {
            bool any = false;
            for (size_t v = 0; v < nv; v++)
                if (p->lv[v].type == T) {
                    E[v] = V[v] = 0;
                    any = true;
                }
            if (!any)
                continue;
            for (int64_t i = 0; i < p->nex; i++) {
                /* every level but v itself: a debtor's other tags count as others */
                const struct prop_ex *x = &p->ex[i];
                double all = p->base;
                bool has = false;
                for (int j = 0; j < x->n; j++) {
                    all *= f[x->lev[j]];
                    has |= p->lv[x->lev[j]].type == T;
                }
                if (!has)
                    continue;
                for (int j = 0; j < x->n; j++) {
                    int32_t v = x->lev[j];
                    if (p->lv[v].type != T)
                        continue;
                    double mu = clampd(all / f[v], PROP_P_MIN, PROP_P_MAX);
                    E[v] += mu;
                    V[v] += mu * (1 - mu);
                }
            }
            double num = 0, den = 0;
            for (size_t v = 0; v < nv; v++)
                if (p->lv[v].type == T && E[v] > 0) {
                    double d = p->lv[v].paid - E[v];
                    num += d * d - V[v];
                    den += E[v] * E[v];
                }
            double tau2 = den > 0 ? num / den : 0;
            double c = tau2 > 1 / PROP_STRENGTH_MAX
                           ? clampd(1 / tau2, PROP_STRENGTH_MIN, PROP_STRENGTH_MAX)
                           : PROP_STRENGTH_MAX;
            p->strength[T] = c;
            for (size_t v = 0; v < nv; v++)
                if (p->lv[v].type == T)
                    f[v] = clampd((c + p->lv[v].paid) / (c + E[v]), PROP_F_MIN, PROP_F_MAX);
        }
    free(E);
    free(V);
    free(p->ex);
    p->ex = NULL;
    p->cex = 0;
    p->f = f;
    p->finished = true;
    return 0;
}

double propensity_base(const struct propensity *p)
{
    return p->base;
}

void propensity_counts(const struct propensity *p, int64_t *ret_examples, int64_t *ret_paid)
{
    *ret_examples = p->nex;
    *ret_paid = p->npaid;
}

void propensity_predict(const struct propensity *p, const struct propensity_features *f,
                        struct propensity_pred *ret)
{
    ret->base = p->base;
    ret->nlev = 0;
    double mu = p->base;
    if (p->finished && p->f) {
        int32_t ids[PROPENSITY_LEVELS_MAX];
        int n = levels_of(p, NULL, f, ids);
        for (int j = 0; j < n; j++) {
            ret->lev_id[j] = ids[j];
            ret->factor[j] = p->f[ids[j]];
            mu *= p->f[ids[j]];
        }
        ret->nlev = n;
    }
    ret->p = clampd(mu, PROP_P_MIN, PROP_P_MAX);
}

void propensity_level_label(const struct propensity *p, int32_t id, char *buf, size_t len)
{
    if (id < 0 || (size_t)id >= p->nlv) {
        if (len)
            buf[0] = 0;
        return;
    }
    snprintf(buf, len, "%s '%s'", type_name[p->lv[id].type], p->lv[id].name);
}

double propensity_level_strength(const struct propensity *p, enum propensity_level_type t)
{
    return (unsigned)t < _PROP_LEVEL_TYPE_MAX ? p->strength[t] : 0;
}
