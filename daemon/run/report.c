/*
 * report.c - the contact report's counting and statistics (report.h;
 * definitions in docs/report.md).
 *
 * Owns: the rows, arms, funnel, hours and comparisons of one report, and
 * the strings they name.  Never: does I/O, reads the clock (`now` is an
 * option), or keeps a pointer into a debtor it was given.
 *
 * A debtor at a time (report_add_debtor):
 *
 *   sort attempts by time, outcomes by time
 *   -> attribute each outcome to one attempt (its attempt id; else the
 *      latest attempt that may have been sent, of its channel kind, at
 *      most REPORT_ATTRIBUTION_DAYS before it)
 *   -> per attempt: the set of outcome codes, its first promise, its payments
 *   -> add the attempts of the days [from, to] to their row, hour, and the debtor's
 *      arm; then the debtor's per-arm totals to the arm's sums
 *
 * Invariants:
 *  1. An outcome counts for at most one attempt, so every figure of the
 *     total is the sum of the rows' (and of the arms', and of the tiers').
 *  2. A row's counts never exceed its attempts made: delivered, contacts,
 *     rpc, promises and opt-outs count attempts, not outcomes; contacts <=
 *     delivered and rpc <= contacts (the code classes nest), promises <= rpc,
 *     kept <= promises_due <= promises.
 *  3. Every interval holds its difference; a verdict other than "not
 *     enough data yet" needs REPORT_MIN_DEBTORS debtors and as many
 *     units of the denominator in each arm.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "outcome.h"
#include "report.h"
#include "store.h"
#include "strategy.h"
#include "util.h"

/*
 * What each outcome code says about its attempt (docs/report.md,
 * "Definitions"): reached someone (delivered), a person engaged (contact),
 * the debtor themselves did (right-party contact).  Each class holds the
 * next (invariant 2).
 */
enum { C_DELIVERED = 1, C_CONTACT = 2, C_RPC = 4 };
#define D C_DELIVERED
#define DC (C_DELIVERED | C_CONTACT)
#define DCR (C_DELIVERED | C_CONTACT | C_RPC)
static const uint8_t code_class[_OUTCOME_MAX] = {
    [OUTCOME_DELIVERED] = D,        [OUTCOME_BOUNCED] = 0,        [OUTCOME_OPENED] = DC,
    [OUTCOME_CLICKED] = DCR,        [OUTCOME_REPLIED] = DCR,      [OUTCOME_NO_ANSWER] = 0,
    [OUTCOME_THIRD_PARTY] = DC,     [OUTCOME_RIGHT_PARTY] = DCR,  [OUTCOME_PROMISE_TO_PAY] = DCR,
    [OUTCOME_PAID] = DCR,           [OUTCOME_OPT_OUT] = DC,       [OUTCOME_WRONG_NUMBER] = DC,
    [OUTCOME_DISPUTE] = DCR,        [OUTCOME_REFUSED] = DCR,      [OUTCOME_FAILED] = 0,
};
#undef D
#undef DC
#undef DCR

static uint8_t mask_class(uint32_t mask)
{
    uint8_t c = 0;
    for (int k = 0; k < _OUTCOME_MAX; k++)
        if (mask & (1u << k))
            c |= code_class[k];
    return c;
}

/* Per attempt of the debtor being counted. */
struct scratch {
    uint32_t mask;          /* 1 << code of every outcome attributed */
    int64_t paid_minor;     /* in the report's currency */
    int32_t payments, other;
    int64_t promise_at;     /* the first promise */
    int32_t promise_date;
    bool has_promise;
    size_t row;             /* in range: its row */
};

/* The debtor's totals in one arm (for the per-debtor statistics). */
struct debtor_arm {
    size_t arm;
    double m, c, rpc, p, y;
};

/* What a row needs while counting: its arm and its channel's hours. */
struct row_ext {
    size_t arm, hours;
};

struct report_priv {
    struct row_ext *rowx;   /* by row index, until report_finish() sorts the rows */
    size_t cap_rowx;
    uint32_t *slot;         /* row index + 1, 0 empty; open addressing */
    size_t nslot;
    size_t cap_rows, cap_arms, cap_hours;
    struct scratch *sc;
    size_t cap_sc;
    size_t *ord;            /* outcomes by time */
    size_t cap_ord;
    struct debtor_arm *da;
    size_t nda, cap_da;
};

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*v, n * size);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = n;
    return 0;
}

struct report *report_new(const struct report_opts *o)
{
    struct report *r = calloc(1, sizeof(*r));
    if (!r || !(r->p = calloc(1, sizeof(*r->p)))) {
        free(r);
        return NULL;
    }
    r->o = *o;
    return r;
}

void report_free(struct report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nrows; i++) {
        free((char *)r->rows[i].strategy);
        free((char *)r->rows[i].variant);
        free((char *)r->rows[i].tier);
        free((char *)r->rows[i].channel);
    }
    for (size_t i = 0; i < r->narms; i++) {
        free((char *)r->arms[i].strategy);
        free((char *)r->arms[i].variant);
    }
    for (size_t i = 0; i < r->nhours; i++)
        free((char *)r->hours[i].channel);
    /* tiers and comparisons borrow the rows' and arms' strings */
    free(r->rows);
    free(r->arms);
    free(r->tiers);
    free(r->hours);
    free(r->cmp);
    strv_free(r->no_cost, r->nno_cost);
    if (r->p) {
        free(r->p->rowx);
        free(r->p->slot);
        free(r->p->sc);
        free(r->p->ord);
        free(r->p->da);
        free(r->p);
    }
    free(r);
}

/* ---- what the configured strategies say ---- */

static const struct strategy *find_strategy(const struct report *r, const char *name)
{
    const struct strategy_set *set = r->o.strategies;
    for (size_t i = 0; set && i < set->n; i++)
        if (streq(set->v[i].name, name))
            return &set->v[i];
    return NULL;
}

static const struct variant *find_variant(const struct strategy *st, const char *name)
{
    for (size_t i = 0; st && i < st->nvariants; i++)
        if (streq(st->variants[i].name, name))
            return &st->variants[i];
    return NULL;
}

/* The ladder position of a tier: its index, the no-contact track after
 * the ladder, unknown tiers last (then by name). */
static int tier_rank(const struct report *r, const char *strategy, const char *variant,
                     const char *tier)
{
    const struct strategy *st = find_strategy(r, strategy);
    const struct variant *v = find_variant(st, variant);
    if (!v && st)
        v = &st->variants[0];
    if (!v)
        return 1 << 20;
    for (size_t i = 0; i < v->ntiers; i++)
        if (streq(v->tiers[i].name, tier))
            return (int)i;
    if (v->no_contact.enabled && v->no_contact.tier.name && streq(v->no_contact.tier.name, tier))
        return 1 << 16;
    return 1 << 20;
}

static int grace_days(const struct report *r, const char *strategy, const char *variant)
{
    const struct variant *v = find_variant(find_strategy(r, strategy), variant);
    if (v && v->on[STRATEGY_OUTCOME_PROMISE_TO_PAY].action == STRATEGY_ACTION_PAUSE)
        return v->on[STRATEGY_OUTCOME_PROMISE_TO_PAY].grace_days;
    return REPORT_GRACE_DAYS;
}

/* ---- rows, arms, hours ---- */

static uint64_t row_hash(const struct report_attempt *a)
{
    uint64_t h = hash64(a->strategy, strlen(a->strategy) + 1, 0x5eed);
    h = hash64(a->variant, strlen(a->variant) + 1, h);
    h = hash64(a->tier, strlen(a->tier) + 1, h);
    h = hash64(a->channel, strlen(a->channel) + 1, h);
    return h ^ (uint64_t)(a->kind + 1);
}

static bool row_is(const struct report_row *w, const struct report_attempt *a)
{
    return w->kind == a->kind && streq(w->channel, a->channel) && streq(w->tier, a->tier) &&
           streq(w->variant, a->variant) && streq(w->strategy, a->strategy);
}

static int rehash(struct report *r, size_t nslot)
{
    uint32_t *v = calloc(nslot, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < r->nrows; i++) {
        struct report_attempt k = {
            .strategy = r->rows[i].strategy, .variant = r->rows[i].variant,
            .tier = r->rows[i].tier, .channel = r->rows[i].channel, .kind = r->rows[i].kind,
        };
        size_t j = row_hash(&k) & (nslot - 1);
        while (v[j])
            j = (j + 1) & (nslot - 1);
        v[j] = (uint32_t)i + 1;
    }
    free(r->p->slot);
    r->p->slot = v;
    r->p->nslot = nslot;
    return 0;
}

static int arm_get(struct report *r, const char *strategy, const char *variant, size_t *ret)
{
    for (size_t i = 0; i < r->narms; i++)
        if (streq(r->arms[i].variant, variant) && streq(r->arms[i].strategy, strategy)) {
            *ret = i;
            return 0;
        }
    if (grow((void **)&r->arms, &r->p->cap_arms, r->narms + 1, sizeof(*r->arms)) < 0)
        return -ENOMEM;
    struct report_arm *x = &r->arms[r->narms];
    *x = (struct report_arm){ .grace_days = grace_days(r, strategy, variant) };
    x->strategy = strdup(strategy);
    x->variant = strdup(variant);
    if (!x->strategy || !x->variant) {
        free((char *)x->strategy);
        free((char *)x->variant);
        return -ENOMEM;
    }
    *ret = r->narms++;
    return 0;
}

static int hours_get(struct report *r, const char *channel, int kind, size_t *ret)
{
    for (size_t i = 0; i < r->nhours; i++)
        if (r->hours[i].kind == kind && streq(r->hours[i].channel, channel)) {
            *ret = i;
            return 0;
        }
    if (grow((void **)&r->hours, &r->p->cap_hours, r->nhours + 1, sizeof(*r->hours)) < 0)
        return -ENOMEM;
    struct report_hours *h = &r->hours[r->nhours];
    *h = (struct report_hours){ .kind = kind };
    if (!(h->channel = strdup(channel)))
        return -ENOMEM;
    *ret = r->nhours++;
    return 0;
}

/* Row of an attempt, created on first sight with its arm and hours. */
static int row_get(struct report *r, const struct report_attempt *a, size_t *ret)
{
    uint64_t h = row_hash(a);
    if (r->p->nslot) {
        for (size_t j = h & (r->p->nslot - 1); r->p->slot[j]; j = (j + 1) & (r->p->nslot - 1))
            if (row_is(&r->rows[r->p->slot[j] - 1], a)) {
                *ret = r->p->slot[j] - 1;
                return 0;
            }
    }
    if (2 * (r->nrows + 1) > r->p->nslot && rehash(r, r->p->nslot ? 2 * r->p->nslot : 64) < 0)
        return -ENOMEM;
    if (grow((void **)&r->rows, &r->p->cap_rows, r->nrows + 1, sizeof(*r->rows)) < 0)
        return -ENOMEM;
    struct report_row *w = &r->rows[r->nrows];
    *w = (struct report_row){ .kind = a->kind };
    w->strategy = strdup(a->strategy);
    w->variant = strdup(a->variant);
    w->tier = strdup(a->tier);
    w->channel = strdup(a->channel);
    if (!w->strategy || !w->variant || !w->tier || !w->channel) {
        free((char *)w->strategy);
        free((char *)w->variant);
        free((char *)w->tier);
        free((char *)w->channel);
        return -ENOMEM;
    }
    w->tier_rank = tier_rank(r, a->strategy, a->variant, a->tier);
    if (grow((void **)&r->p->rowx, &r->p->cap_rowx, r->nrows + 1, sizeof(*r->p->rowx)) < 0 ||
        arm_get(r, a->strategy, a->variant, &r->p->rowx[r->nrows].arm) < 0 ||
        hours_get(r, a->channel, a->kind, &r->p->rowx[r->nrows].hours) < 0) {
        free((char *)w->strategy);
        free((char *)w->variant);
        free((char *)w->tier);
        free((char *)w->channel);
        return -ENOMEM;
    }
    size_t j = h & (r->p->nslot - 1);
    while (r->p->slot[j])
        j = (j + 1) & (r->p->nslot - 1);
    r->p->slot[j] = (uint32_t)r->nrows + 1;
    *ret = r->nrows++;
    return 0;
}

/* ---- one debtor ---- */

static int cmp_attempt(const void *x, const void *y)
{
    const struct report_attempt *a = x, *b = y;
    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int cmp_outcome(const void *x, const void *y, void *ctx)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    const struct report_outcome *v = ctx, *a = &v[i], *b = &v[j];
    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    return i < j ? -1 : i > j; /* ties in the order given */
}

/* May the attempt have been sent (a target for an outcome without an attempt id)? */
static bool maybe_sent(int status)
{
    return status == ATTEMPT_PLANNED || status == ATTEMPT_QUEUED || status == ATTEMPT_SENT;
}

/* Was the attempt made: sent, answered by the provider, or with an outcome? */
static bool made(int status, uint32_t mask)
{
    return mask || status == ATTEMPT_SENT || status == ATTEMPT_FAILED ||
           status == ATTEMPT_INVALID_ADDRESS || status == ATTEMPT_OPTED_OUT;
}

static long attempt_by_id(const struct report_debtor *d, int64_t id)
{
    for (size_t i = 0; i < d->nattempts; i++)
        if (d->attempts[i].id == id)
            return (long)i;
    return -1;
}

static long attribute(const struct report_debtor *d, const struct report_outcome *o)
{
    if (o->attempt_id)
        return attempt_by_id(d, o->attempt_id);
    int64_t oldest = o->at - (int64_t)REPORT_ATTRIBUTION_DAYS * 86400;
    for (size_t i = d->nattempts; i-- > 0;) {
        const struct report_attempt *a = &d->attempts[i];
        if (a->at > o->at)
            continue;
        if (a->at < oldest)
            break;
        if (maybe_sent(a->status) && (o->kind < 0 || a->kind == o->kind))
            return (long)i;
    }
    return -1;
}

static bool in_range(const struct report *r, const struct report_attempt *a)
{
    return a->local_day >= r->o.from && a->local_day <= r->o.to;
}

int report_add_debtor(struct report *r, struct report_debtor *d)
{
    struct report_priv *p = r->p;
    bool any = false;
    for (size_t i = 0; i < d->nattempts && !any; i++)
        any = in_range(r, &d->attempts[i]);
    if (!any)
        return 0;
    qsort(d->attempts, d->nattempts, sizeof(*d->attempts), cmp_attempt);
    if (grow((void **)&p->sc, &p->cap_sc, d->nattempts, sizeof(*p->sc)) < 0 ||
        grow((void **)&p->ord, &p->cap_ord, d->noutcomes, sizeof(*p->ord)) < 0)
        return -ENOMEM;
    memset(p->sc, 0, d->nattempts * sizeof(*p->sc));
    for (size_t i = 0; i < d->noutcomes; i++)
        p->ord[i] = i;
    qsort_r(p->ord, d->noutcomes, sizeof(*p->ord), cmp_outcome, d->outcomes);

    /* attribution (invariant 1) */
    for (size_t k = 0; k < d->noutcomes; k++) {
        const struct report_outcome *o = &d->outcomes[p->ord[k]];
        if (o->code < 0 || o->code >= _OUTCOME_MAX || o->code == OUTCOME_FAILED)
            continue;
        long t = attribute(d, o);
        if (t < 0) {
            if (o->code == OUTCOME_PAID && o->at >= (int64_t)r->o.from * 86400)
                r->unattributed_payments++;
            continue;
        }
        struct scratch *s = &p->sc[t];
        s->mask |= 1u << o->code;
        if (o->code == OUTCOME_PAID) {
            s->payments++;
            if (!d->in_currency)
                s->other++;
            else if (o->has_amount)
                s->paid_minor += o->amount_minor;
        } else if (o->code == OUTCOME_PROMISE_TO_PAY && !s->has_promise) {
            s->has_promise = true;
            s->promise_at = o->at;
            /* without a date: the day it was made (UTC) */
            int64_t day = (o->at - (o->at < 0 ? 86399 : 0)) / 86400;
            s->promise_date = o->has_promise ? o->promise_date : (int32_t)day;
        }
    }

    /* the attempts in range: rows, hours, the debtor's arms */
    p->nda = 0;
    for (size_t i = 0; i < d->nattempts; i++) {
        const struct report_attempt *a = &d->attempts[i];
        struct scratch *s = &p->sc[i];
        if (!in_range(r, a))
            continue;
        size_t ri;
        if (row_get(r, a, &ri) < 0)
            return -ENOMEM;
        size_t arm = p->rowx[ri].arm, hi = p->rowx[ri].hours;
        struct report_row *w = &r->rows[ri];
        w->c.planned++;
        if (!made(a->status, s->mask))
            continue;
        uint8_t cl = mask_class(s->mask);
        bool contact = cl & C_CONTACT, rpc = cl & C_RPC;
        w->c.attempts++;
        w->c.delivered += (cl & C_DELIVERED) != 0;
        w->c.contacts += contact;
        w->c.rpc += rpc;
        w->c.opt_outs += (s->mask & (1u << OUTCOME_OPT_OUT)) || a->status == ATTEMPT_OPTED_OUT;
        w->c.payments += s->payments;
        w->c.other_currency += s->other;
        w->c.recovered_minor += s->paid_minor;
        if (s->has_promise) {
            w->c.promises++;
            int64_t deadline =
                ((int64_t)s->promise_date + r->arms[arm].grace_days + 1) * 86400;
            bool kept = false;
            for (size_t k = 0; k < d->noutcomes && !kept; k++) {
                const struct report_outcome *o = &d->outcomes[p->ord[k]];
                kept = o->code == OUTCOME_PAID && o->at >= s->promise_at && o->at < deadline;
            }
            w->c.kept += kept;
            w->c.promises_due += kept || deadline <= r->o.now;
        }
        if (a->local_hour >= 0 && a->local_hour < 24) {
            r->hours[hi].attempts[a->local_hour]++;
            r->hours[hi].contacts[a->local_hour] += contact;
        } else
            r->unknown_zone++;
        size_t j = 0;
        while (j < p->nda && p->da[j].arm != arm)
            j++;
        if (j == p->nda) {
            if (grow((void **)&p->da, &p->cap_da, p->nda + 1, sizeof(*p->da)) < 0)
                return -ENOMEM;
            p->da[p->nda++] = (struct debtor_arm){ .arm = arm };
        }
        p->da[j].m += 1;
        p->da[j].c += contact;
        p->da[j].rpc += rpc;
        p->da[j].p += s->has_promise;
        p->da[j].y += (double)s->paid_minor;
    }
    if (p->nda)
        r->debtors++;
    for (size_t j = 0; j < p->nda; j++) {
        struct debtor_arm *x = &p->da[j];
        struct report_arm *arm = &r->arms[x->arm];
        const double yv[_REPORT_METRIC_MAX] = { x->c, x->rpc, x->p, x->y };
        const double mv[_REPORT_METRIC_MAX] = { x->m, x->m, x->rpc, 1 };
        arm->debtors++;
        for (int m = 0; m < _REPORT_METRIC_MAX; m++) {
            if (m == REPORT_RECOVERY && !d->in_currency)
                continue;
            struct report_sums *s = &arm->s[m];
            s->n += 1;
            s->y += yv[m];
            s->m += mv[m];
            s->yy += yv[m] * yv[m];
            s->mm += mv[m] * mv[m];
            s->ym += yv[m] * mv[m];
        }
    }
    return 0;
}

/* ---- statistics ---- */

double report_rate(int64_t num, int64_t den)
{
    return den > 0 ? (double)num / (double)den : NAN;
}

double report_sums_value(const struct report_sums *s)
{
    return s->m > 0 ? s->y / s->m : NAN;
}

/*
 * Variance of the ratio estimator sum(y)/sum(m) over n independent
 * debtors (linearisation): n sum (y_i - R m_i)^2 / ((n - 1) sum(m)^2).
 */
static double sums_var(const struct report_sums *s)
{
    if (s->n < 2 || !(s->m > 0))
        return NAN;
    double R = s->y / s->m;
    double ss = s->yy - 2 * R * s->ym + R * R * s->mm;
    if (ss < 0)
        ss = 0; /* rounding */
    return s->n * ss / ((s->n - 1) * s->m * s->m);
}

void report_diff_compute(enum report_metric m, const struct report_sums *a,
                         const struct report_sums *b, struct report_diff *ret)
{
    struct report_diff x = {
        .champion = report_sums_value(a),
        .challenger = report_sums_value(b),
        .n_champion = (int64_t)a->n,
        .n_challenger = (int64_t)b->n,
        .den_champion = a->m,
        .den_challenger = b->m,
    };
    x.diff = x.challenger - x.champion;
    double se = sqrt(sums_var(a) + sums_var(b));
    x.lo = x.diff - REPORT_Z95 * se;
    x.hi = x.diff + REPORT_Z95 * se;
    x.margin = m == REPORT_RECOVERY ? REPORT_RECOVERY_MARGIN * fabs(x.champion)
                                    : REPORT_RATE_MARGIN;
    /* invariant 3 */
    if (a->n < REPORT_MIN_DEBTORS || b->n < REPORT_MIN_DEBTORS || a->m < REPORT_MIN_DEBTORS ||
        b->m < REPORT_MIN_DEBTORS || !isfinite(x.lo) || !isfinite(x.hi))
        x.verdict = REPORT_NOT_ENOUGH;
    else if (x.lo > 0)
        x.verdict = REPORT_BETTER;
    else if (x.hi < 0)
        x.verdict = REPORT_WORSE;
    else if (x.lo >= -x.margin && x.hi <= x.margin)
        x.verdict = REPORT_SAME;
    else
        x.verdict = REPORT_NOT_ENOUGH;
    *ret = x;
}

/* ---- finishing ---- */

static void counts_add(struct report_counts *t, const struct report_counts *c)
{
    t->planned += c->planned;
    t->attempts += c->attempts;
    t->delivered += c->delivered;
    t->contacts += c->contacts;
    t->rpc += c->rpc;
    t->promises += c->promises;
    t->promises_due += c->promises_due;
    t->kept += c->kept;
    t->payments += c->payments;
    t->recovered_minor += c->recovered_minor;
    t->other_currency += c->other_currency;
    t->opt_outs += c->opt_outs;
    t->cost += c->cost;
}

static size_t find_arm(const struct report *r, const char *strategy, const char *variant)
{
    for (size_t i = 0; i < r->narms; i++)
        if (streq(r->arms[i].variant, variant) && streq(r->arms[i].strategy, strategy))
            return i;
    return (size_t)-1;
}

/*
 * The champion of each strategy: the variant named `champion`; else,
 * for a configured strategy, its first variant; else `default`; else the
 * arm with the most debtors (then by name).
 */
static void pick_champions(struct report *r)
{
    for (size_t i = 0; i < r->narms; i++) {
        const char *s = r->arms[i].strategy;
        bool done = false;
        for (size_t j = 0; j < i && !done; j++)
            done = streq(r->arms[j].strategy, s);
        if (done)
            continue;
        size_t best = (size_t)-1;
        const struct strategy *st = find_strategy(r, s);
        const char *want = find_variant(st, "champion") ? "champion"
                           : st                          ? st->variants[0].name
                                                         : NULL;
        for (size_t j = i; j < r->narms; j++) {
            const struct report_arm *a = &r->arms[j];
            if (!streq(a->strategy, s))
                continue;
            if (want) {
                if (streq(a->variant, want))
                    best = j;
                continue;
            }
            if (streq(a->variant, "champion")) {
                best = j;
                break;
            }
            if (best == (size_t)-1 || streq(a->variant, "default") ||
                (!streq(r->arms[best].variant, "default") &&
                 (a->debtors > r->arms[best].debtors ||
                  (a->debtors == r->arms[best].debtors &&
                   strcmp(a->variant, r->arms[best].variant) < 0))))
                best = j;
        }
        if (best == (size_t)-1 && want) {
            /* the configured champion sent nothing in the range: no champion */
            continue;
        }
        if (best != (size_t)-1)
            r->arms[best].champion = true;
    }
}

static int cmp_arm(const void *x, const void *y)
{
    const struct report_arm *a = x, *b = y;
    int c = strcmp(a->strategy, b->strategy);
    if (c)
        return c;
    if (a->champion != b->champion)
        return a->champion ? -1 : 1;
    return strcmp(a->variant, b->variant);
}

static int cmp_row(const void *x, const void *y)
{
    const struct report_row *a = x, *b = y;
    int c = strcmp(a->strategy, b->strategy);
    if (c)
        return c;
    if (a->champion != b->champion)
        return a->champion ? -1 : 1;
    if ((c = strcmp(a->variant, b->variant)))
        return c;
    if (a->tier_rank != b->tier_rank)
        return a->tier_rank < b->tier_rank ? -1 : 1;
    if ((c = strcmp(a->tier, b->tier)))
        return c;
    if ((c = strcmp(a->channel, b->channel)))
        return c;
    return a->kind - b->kind;
}

static int cmp_tier(const void *x, const void *y)
{
    const struct report_tier *a = x, *b = y;
    int c = strcmp(a->strategy, b->strategy);
    if (c)
        return c;
    if (a->tier_rank != b->tier_rank)
        return a->tier_rank < b->tier_rank ? -1 : 1;
    return strcmp(a->tier, b->tier);
}

static int cmp_hours(const void *x, const void *y)
{
    const struct report_hours *a = x, *b = y;
    int c = strcmp(a->channel, b->channel);
    return c ? c : a->kind - b->kind;
}

int report_finish(struct report *r)
{
    /* costs, and the channels without one */
    for (size_t i = 0; i < r->nrows; i++) {
        struct report_row *w = &r->rows[i];
        bool found = false;
        for (size_t k = 0; k < r->o.ncosts && !found; k++)
            if (streq(r->o.costs[k].channel, w->channel)) {
                w->c.cost = (double)w->c.attempts * r->o.costs[k].cost;
                found = true;
            }
        if (found || !w->c.attempts)
            continue;
        bool listed = false;
        for (size_t k = 0; k < r->nno_cost && !listed; k++)
            listed = streq(r->no_cost[k], w->channel);
        if (listed)
            continue;
        char **v = realloc(r->no_cost, (r->nno_cost + 1) * sizeof(*v));
        if (!v)
            return -ENOMEM;
        r->no_cost = v;
        if (!(v[r->nno_cost] = strdup(w->channel)))
            return -ENOMEM;
        r->nno_cost++;
    }

    /* arms: totals, champions; rows sorted */
    r->total = (struct report_counts){ 0 };
    for (size_t i = 0; i < r->narms; i++)
        r->arms[i].c = (struct report_counts){ 0 };
    for (size_t i = 0; i < r->nrows; i++) {
        size_t a = find_arm(r, r->rows[i].strategy, r->rows[i].variant);
        if (a != (size_t)-1)
            counts_add(&r->arms[a].c, &r->rows[i].c);
        counts_add(&r->total, &r->rows[i].c);
    }
    pick_champions(r);
    qsort(r->arms, r->narms, sizeof(*r->arms), cmp_arm);
    for (size_t i = 0; i < r->nrows; i++) {
        size_t a = find_arm(r, r->rows[i].strategy, r->rows[i].variant);
        r->rows[i].champion = a != (size_t)-1 && r->arms[a].champion;
    }
    qsort(r->rows, r->nrows, sizeof(*r->rows), cmp_row);
    free(r->p->slot); /* the index is stale now; nothing more is added */
    r->p->slot = NULL;
    r->p->nslot = 0;
    free(r->p->rowx);
    r->p->rowx = NULL;
    r->p->cap_rowx = 0;

    /* the funnel: per strategy and tier, every variant and channel */
    free(r->tiers);
    r->tiers = NULL;
    r->ntiers = 0;
    size_t cap = 0;
    for (size_t i = 0; i < r->nrows; i++) {
        const struct report_row *w = &r->rows[i];
        size_t k = 0;
        while (k < r->ntiers &&
               !(streq(r->tiers[k].strategy, w->strategy) && streq(r->tiers[k].tier, w->tier)))
            k++;
        if (k == r->ntiers) {
            if (grow((void **)&r->tiers, &cap, r->ntiers + 1, sizeof(*r->tiers)) < 0)
                return -ENOMEM;
            r->tiers[r->ntiers++] = (struct report_tier){
                .strategy = w->strategy, .tier = w->tier, .tier_rank = w->tier_rank,
            };
        }
        /* the champion's ladder decides the place of a tier several variants share */
        if (w->champion || w->tier_rank < r->tiers[k].tier_rank)
            r->tiers[k].tier_rank = w->tier_rank;
        counts_add(&r->tiers[k].c, &w->c);
    }
    qsort(r->tiers, r->ntiers, sizeof(*r->tiers), cmp_tier);
    qsort(r->hours, r->nhours, sizeof(*r->hours), cmp_hours);

    /* each challenger against its champion */
    free(r->cmp);
    r->cmp = NULL;
    r->ncmp = 0;
    for (size_t i = 0; i < r->narms; i++) {
        const struct report_arm *ch = &r->arms[i];
        if (!ch->champion)
            continue;
        for (size_t j = 0; j < r->narms; j++) {
            const struct report_arm *x = &r->arms[j];
            if (x->champion || !streq(x->strategy, ch->strategy))
                continue;
            struct report_comparison *v = realloc(r->cmp, (r->ncmp + 1) * sizeof(*v));
            if (!v)
                return -ENOMEM;
            r->cmp = v;
            struct report_comparison *c = &v[r->ncmp++];
            c->strategy = ch->strategy;
            c->champion = ch->variant;
            c->challenger = x->variant;
            for (int m = 0; m < _REPORT_METRIC_MAX; m++)
                report_diff_compute((enum report_metric)m, &ch->s[m], &x->s[m], &c->d[m]);
        }
    }
    return 0;
}

double report_major(const struct report *r, int64_t minor)
{
    return (double)minor / pow(10, r->o.currency_exp);
}

double report_cost_per_recovered(const struct report *r, const struct report_counts *c)
{
    return c->recovered_minor > 0 ? c->cost / report_major(r, c->recovered_minor) : NAN;
}

static const char *const metric_names[_REPORT_METRIC_MAX][2] = {
    [REPORT_CONTACT_RATE] = { "contact_rate", "contact rate" },
    [REPORT_RPC_RATE] = { "rpc_rate", "right-party contact rate" },
    [REPORT_PROMISE_RATE] = { "promise_rate", "promise rate" },
    [REPORT_RECOVERY] = { "recovery_per_debtor", "recovered per debtor" },
};

const char *report_metric_name(enum report_metric m)
{
    return (unsigned)m < _REPORT_METRIC_MAX ? metric_names[m][0] : NULL;
}

const char *report_metric_label(enum report_metric m)
{
    return (unsigned)m < _REPORT_METRIC_MAX ? metric_names[m][1] : NULL;
}

const char *report_verdict_to_string(enum report_verdict v)
{
    static const char *const names[_REPORT_VERDICT_MAX] = {
        [REPORT_NOT_ENOUGH] = "not enough data yet",
        [REPORT_BETTER] = "challenger better",
        [REPORT_WORSE] = "challenger worse",
        [REPORT_SAME] = "no material difference",
    };
    return (unsigned)v < _REPORT_VERDICT_MAX ? names[v] : NULL;
}
