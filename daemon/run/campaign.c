/*
 * campaign.c - plan one day for the portfolio (see campaign.h).
 *
 * Owns: the per-run model built from segment statistics, the compact
 * per-debtor results kept between planning and the capacity step, and
 * the write-back of a persisted plan.  Must never: plan a debtor twice
 * in a run, keep a pointer into a store row past its callback, or write
 * anything when opts->persist is false (plan and explain are dry runs).
 *
 * Pipeline:
 *   segment stats -> model (built-in priors, segments, finish)
 *   N threads, each its own read connection over an id range:
 *       store_plan_scan -> planner_plan -> item (+ kept candidates,
 *       interned next state and transitions when persisting)
 *   planner_assign over every item's candidates (capacity)
 *   one pass in id order: [persist: attempt, state, transitions] -> cb
 *
 * Invariants:
 *  1. Items are visited in internal id order (ranges are ascending and
 *     each scan is ordered), so output and writes are deterministic.
 *  2. Nothing borrowed from a store row outlives the scan callback:
 *     strings that must survive are interned into the worker's arena.
 *  3. Only candidates up to the first one on a channel without hourly
 *     capacity are kept (it can never be refused), at most KEEP_MAX:
 *     memory stays O(debtors) with a small constant.
 *  4. A persisted attempt is keyed "YYYY-MM-DD:<external id>:<n>"; a key
 *     that exists is never written again and adds nothing to the counters.
 *  5. A persisted run writes every planner effect it applied (suppress a
 *     channel, opt-out, invalid address -> suppressions rows for the
 *     debtor's current addresses; no-contact track -> investigate_since),
 *     in the same transaction as the state whose applied_until moved past
 *     the outcome: a later run never loses an effect it will not re-apply.
 */
#include "campaign.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "model.h"
#include "propensity.h"
#include "tz.h"

#define KEEP_MAX 4
#define NOSTR UINT32_MAX
#define PERSIST_BATCH 5000

int64_t campaign_default_now(int32_t date, int64_t clock)
{
    int64_t start = (int64_t)date * 86400 - CAMPAIGN_EARLIEST_OFFSET;
    return clock > start ? clock : start;
}

int campaign_hour_of_week(const struct tz *z, int64_t t)
{
    struct tz_local l;
    tz_to_local(z, t, &l);
    return l.weekday * 24 + l.sec_of_day / 3600;
}

static int digits(const char *s, size_t n, int *ret)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

int campaign_parse_time(const char *s, size_t n, int64_t *ret)
{
    int y, mo, d, h, mi, sec;
    int32_t days;
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        s[13] != ':' || s[16] != ':')
        return -EINVAL;
    if (digits(s, 4, &y) < 0 || digits(s + 5, 2, &mo) < 0 || digits(s + 8, 2, &d) < 0 ||
        digits(s + 11, 2, &h) < 0 || digits(s + 14, 2, &mi) < 0 || digits(s + 17, 2, &sec) < 0)
        return -EINVAL;
    if (parse_date(s, 10, &days) < 0 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    size_t i = 19;
    if (i < n && s[i] == '.') {
        i++;
        size_t f = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f)
            return -EINVAL;
    }
    int off = 0;
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z'))
        off = 0;
    else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) < 0 || digits(s + i + 4, 2, &om) < 0 || oh > 23 ||
            om > 59)
            return -EINVAL;
        off = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
    } else
        return -EINVAL;
    if (sec == 60)
        sec = 59; /* a leap second reads as the second before it */
    *ret = (int64_t)days * 86400 + h * 3600 + mi * 60 + sec - off;
    return 0;
}

void campaign_format_utc(int64_t t, char *buf, size_t len)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t sod = t - days * 86400;
    char d[11];
    format_date((int32_t)days, d);
    snprintf(buf, len, "%sT%02d:%02d:%02dZ", d, (int)(sod / 3600), (int)(sod / 60 % 60),
             (int)(sod % 60));
}

/* ---- do-not-contact text (the normalised form debtor.c stores) ---- */

static const char *const wd_names[7] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };

static int wd_parse(const char *s, size_t n)
{
    for (int i = 0; i < 7; i++)
        if (n == 3 && strncasecmp(s, wd_names[i], 3) == 0)
            return i;
    return -1;
}

static int hhmm(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' || s[3] < '0' ||
        s[3] > '9' || s[4] < '0' || s[4] > '9')
        return -1;
    int v = ((s[0] - '0') * 10 + s[1] - '0') * 60 + (s[3] - '0') * 10 + s[4] - '0';
    return v <= 1440 ? v : -1;
}

int campaign_parse_dnc(const char *s, struct debtor_rec *rec)
{
    rec->ndnc = 0;
    while (s && *s) {
        while (*s == ' ' || *s == ';')
            s++;
        if (!*s)
            break;
        const char *end = strchr(s, ';');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        while (len && s[len - 1] == ' ')
            len--;
        /* "[days ]HH:MM-HH:MM" */
        if (len < 11 || s[len - 6] != '-' || rec->ndnc == DNC_MAX)
            return -EINVAL;
        int a = hhmm(s + len - 11), b = hhmm(s + len - 5);
        if (a < 0 || b < 0 || b <= a)
            return -EINVAL;
        uint8_t mask = 0;
        const char *p = s, *pe = s + len - 11;
        while (pe > p && pe[-1] == ' ')
            pe--;
        if (pe == p)
            mask = 0x7f;
        while (p < pe) {
            const char *comma = memchr(p, ',', (size_t)(pe - p));
            const char *ie = comma ? comma : pe;
            int d0 = wd_parse(p, 3), d1 = d0;
            if (ie - p == 7 && p[3] == '-')
                d1 = wd_parse(p + 4, 3);
            else if (ie - p != 3)
                return -EINVAL;
            if (d0 < 0 || d1 < 0)
                return -EINVAL;
            for (int d = d0;; d = (d + 1) % 7) {
                mask |= (uint8_t)(1u << d);
                if (d == d1)
                    break;
            }
            p = comma ? comma + 1 : pe;
        }
        rec->dnc[rec->ndnc++] = (struct dnc_range){ mask, (int16_t)a, (int16_t)b };
        s = end ? end + 1 : s + len;
    }
    return 0;
}

/* ---- addresses and payday ---- */

const char *campaign_kind_address(const struct debtor_rec *d, int kind)
{
    const char *a = NULL;
    switch (kind) {
    case CHAN_EMAIL:
        a = d->email;
        break;
    case CHAN_SMS:
    case CHAN_CALL:
        a = d->phone[0] ? d->phone : NULL;
        break;
    case CHAN_CHAT:
        a = d->chat_handle;
        break;
    default:
        break;
    }
    return a && *a ? a : NULL;
}


/* ---- the run's model ---- */

struct segstat {
    uint32_t name; /* offset in names */
    int kind, how;
    int64_t attempts, reaches;
};

struct segments {
    struct sbuf names;      /* NUL-separated, sorted (the scan is ordered) */
    uint32_t *idx;          /* offsets of distinct names, sorted */
    size_t n, cap;
    struct segstat *v;
    size_t nv, capv;
};

static int seg_cb(void *ctx, const char *segment, int kind, int how, int64_t a, int64_t r)
{
    struct segments *sg = ctx;
    if (!sg->n || strcmp(sg->names.buf + sg->idx[sg->n - 1], segment) != 0) {
        if (sg->n == sg->cap) {
            size_t nc = sg->cap ? sg->cap * 2 : 16;
            uint32_t *p = realloc(sg->idx, nc * sizeof(*p));
            if (!p)
                return -ENOMEM;
            sg->idx = p;
            sg->cap = nc;
        }
        sg->idx[sg->n++] = (uint32_t)sg->names.len;
        if (sbuf_add(&sg->names, segment, strlen(segment) + 1) < 0)
            return -ENOMEM;
    }
    if (sg->nv == sg->capv) {
        size_t nc = sg->capv ? sg->capv * 2 : 256;
        struct segstat *p = realloc(sg->v, nc * sizeof(*p));
        if (!p)
            return -ENOMEM;
        sg->v = p;
        sg->capv = nc;
    }
    sg->v[sg->nv++] = (struct segstat){ (uint32_t)(sg->n - 1), kind, how, a, r };
    return 0;
}

static int seg_find(const struct segments *sg, const char *name)
{
    size_t lo = 0, hi = sg->n;
    if (!name)
        name = "";
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(sg->names.buf + sg->idx[mid], name);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void segments_release(struct segments *sg)
{
    sbuf_release(&sg->names);
    free(sg->idx);
    free(sg->v);
    memset(sg, 0, sizeof(*sg));
}

/*
 * Empirical Bayes pre-pass: the cells of a sample of debtors (at most
 * EB_SAMPLE, in EB_SLICES id ranges spread over the portfolio) set the
 * debtor layer's prior strengths per segment (model_eb_add()).  History
 * and attempts are not read (since = the end of time).
 */
#define EB_SAMPLE 20000
#define EB_SLICES 8

struct eb_ctx {
    struct model *m;              /* NULL: the propensity only */
    const struct segments *sg;
    struct propensity *prop;
    int64_t t0, now;              /* propensity: features at t0, payments in [t0, now) */
};

static int seg_find(const struct segments *sg, const char *name);

static int eb_row(void *ctx, const struct store_plan_row *row)
{
    struct eb_ctx *e = ctx;
    int r;
    if (e->prop && row->created_at <= e->t0) {
        struct propensity_features f;
        int64_t day = e->t0 >= 0 ? e->t0 / 86400 : -((-e->t0 + 86399) / 86400);
        propensity_features_at(&row->rec, row->outcomes, row->noutcomes, e->t0, (int32_t)day,
                               &f);
        bool paid = propensity_paid_between(row->outcomes, row->noutcomes, e->t0, e->now);
        if ((r = propensity_add(e->prop, &f, paid)) < 0)
            return r;
    }
    int seg = e->m ? seg_find(e->sg, row->rec.segment) : -1;
    if (seg < 0 || !row->ncells)
        return 0;
    struct model_covariates cov;
    planner_model_covariates(&row->rec, &cov);
    r = model_eb_add_levels(e->m, seg, &cov, row->cells, row->ncells);
    return r == -ENOMEM ? r : 0;
}

/*
 * The pre-pass over the sample: the model's empirical-Bayes sample and
 * levels (m non-NULL), and the payment propensity's training examples:
 * each sampled debtor's features PROPENSITY_DAYS days before now, paid or
 * not since (payments and promises only, no attempts read).
 */
static int eb_sample(struct store *s, const struct segments *sg, struct model *m,
                     struct propensity *prop, int64_t now)
{
    int64_t maxid = 0;
    int r = store_debtor_max_id(s, &maxid);
    if (r < 0)
        return r;
    int64_t t0 = now - (int64_t)PROPENSITY_DAYS * 86400;
    struct eb_ctx e = { m, sg, prop, t0, now };
    struct store_plan_opts so = {
        .since = t0 - (int64_t)PROPENSITY_HISTORY_DAYS * 86400,
        .no_attempts = true,
        .payments_only = true,
    };
    int slices = maxid > EB_SAMPLE ? EB_SLICES : 1;
    for (int i = 0; maxid > 0 && i < slices; i++) {
        so.id_min = slices == 1 ? 1 : maxid / slices * i + 1;
        so.id_max = slices == 1 ? maxid : so.id_min + EB_SAMPLE / slices - 1;
        int64_t n = store_plan_scan(s, &so, eb_row, &e);
        if (n < 0)
            return (int)n;
    }
    if (m)
        model_eb_finish(m);
    return propensity_finish(prop);
}

/*
 * The run's model and payment propensity (*ret_prop NULL when no sampled
 * debtor paid in the training window: nothing to order by).
 */
static int build_model(struct store *s, struct segments *sg, int64_t now, struct model **ret,
                       struct propensity **ret_prop)
{
    struct model *m = NULL;
    struct propensity *prop = NULL;
    int r = store_segment_stats(s, seg_cb, sg);
    if (r < 0)
        return r;
    if ((r = propensity_new(&prop)) < 0)
        return r;
    if ((r = model_new(NULL, sg->n, &m)) < 0) {
        propensity_free(prop);
        return r;
    }
    for (size_t i = 0; i < sg->nv; i++) {
        const struct segstat *x = &sg->v[i];
        if (x->kind < 0 || x->kind >= _CHAN_KIND_MAX || x->how < 0 || x->how >= MODEL_HOURS ||
            x->attempts < 0 || x->reaches < 0)
            continue;
        int64_t re = x->reaches > x->attempts ? x->attempts : x->reaches;
        if ((r = model_segment_add(m, (int)x->name, (enum chan_kind)x->kind, x->how,
                                   (uint64_t)x->attempts, (uint64_t)re)) < 0) {
            model_free(m);
            propensity_free(prop);
            return r;
        }
    }
    model_finish(m);
    if ((r = eb_sample(s, sg, m, prop, now)) < 0) {
        model_free(m);
        propensity_free(prop);
        return r;
    }
    int64_t ex, paid;
    propensity_counts(prop, &ex, &paid);
    if (!paid) {
        propensity_free(prop);
        prop = NULL;
    }
    *ret = m;
    *ret_prop = prop;
    return 0;
}

struct campaign_model {
    struct segments sg;
    struct model *m;
    struct propensity *prop;
};

int campaign_model_new(struct store *s, int64_t now, struct campaign_model **ret)
{
    struct campaign_model *cm = calloc(1, sizeof(*cm));
    if (!cm)
        return -ENOMEM;
    cm->sg.names = (struct sbuf)SBUF_INIT;
    int r = build_model(s, &cm->sg, now, &cm->m, &cm->prop);
    if (r < 0) {
        segments_release(&cm->sg);
        free(cm);
        return r;
    }
    *ret = cm;
    return 0;
}

void campaign_model_free(struct campaign_model *cm)
{
    if (!cm)
        return;
    model_free(cm->m);
    propensity_free(cm->prop);
    segments_release(&cm->sg);
    free(cm);
}

/* ---- per-debtor results ---- */

struct ptrans {
    int64_t at;
    uint32_t from, to, reason;
};

/* The next state, with strings interned (invariant 2). */
struct pstate {
    int64_t tier_entered_at, paused_until, applied_until;
    int32_t in_tier, since_contact, total;
    uint32_t strategy, variant, tier, hold;
    uint32_t trans, ntrans;
    uint32_t eff, neff;           /* effects in the worker's effs */
    bool no_contact_track, stopped, write;
};

/* A planner effect to persist, with the address it names (interned). */
struct peffect {
    uint8_t what, kind;           /* enum planner_effect_kind, enum chan_kind */
    uint32_t addr;                /* NOSTR: none (investigate) */
};

struct item {
    int64_t id;
    uint32_t ext;                 /* interned external id */
    uint32_t cand;                /* first kept candidate in the worker's cands */
    const struct tz *tz;
    const struct strategy *strategy;
    const struct variant *variant;
    const struct tier *tier;
    int32_t dpd;
    uint8_t status;
    uint8_t ncand;
    uint8_t today;                /* attempts already on the plan day */
    float weight;                 /* capacity order (planner_result.weight) */
    float p_pay;                  /* payment propensity, -1: none */
};

struct worker {
    const struct config *cfg;
    const struct strategy_set *set;
    const struct campaign_opts *o;
    const struct segments *sg;
    struct planner_ctx pctx;
    const struct tz *utc;
    struct tz_cache *tzc;
    struct store *store;          /* borrowed or owned (own) */
    bool own;
    int64_t lo, hi;
    const char *const *channels;
    struct item *items;
    size_t nitems, citems;
    struct planner_cand *cands;
    size_t ncands, ccands;
    struct pstate *states;        /* persist: parallel to items */
    size_t cstates;
    struct ptrans *trans;
    size_t ntrans, ctrans;
    struct peffect *effs;
    size_t neffs, ceffs;
    struct sbuf str;
    struct planner_result res;
    /* explain */
    struct planner_trace *trace;
    struct sbuf *out;
    int r;
    char err[256];
    double cpu;                   /* CPU seconds of the scan and planning */
};

static uint32_t intern(struct sbuf *b, const char *s)
{
    if (!s)
        return NOSTR;
    uint32_t off = (uint32_t)b->len;
    if (sbuf_add(b, s, strlen(s) + 1) < 0)
        return NOSTR - 1; /* checked by the caller through b->len */
    return off;
}

static const char *str_at(const struct worker *w, uint32_t off)
{
    return off >= NOSTR - 1 ? NULL : w->str.buf + off;
}

static int grow_arr(void **v, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 1024;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*v, nc * sz);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = nc;
    return 0;
}

/* Fill the planner's inputs from a store row (borrowed for the call). */
static int prepare(struct worker *w, const struct store_plan_row *row, struct debtor_rec *rec,
                   struct planner_debtor *d, struct planner_history *h)
{
    *rec = row->rec;
    if (rec->do_not_contact && campaign_parse_dnc(rec->do_not_contact, rec) < 0)
        rec->ndnc = 0;
    const struct tz *z = NULL;
    if (!rec->time_zone || tz_cache_get(w->tzc, rec->time_zone, &z) < 0)
        z = w->utc;
    memset(d, 0, sizeof(*d));
    d->id = row->id;
    d->rec = rec;
    d->tz = z;
    d->segment = seg_find(w->sg, rec->segment);
    d->addresses = planner_addresses(rec);
    d->suppressed = row->suppressed;
    d->invalid = row->invalid;
    d->cells = row->cells;
    d->ncells = row->ncells;
    h->attempts = row->attempts;
    h->nattempts = row->nattempts;
    h->outcomes = row->outcomes;
    h->noutcomes = row->noutcomes;
    h->plan = row->plan;
    /* what the debtor stated on the self-service page: a due date moved
     * to payday stands while the imported one is the one it moved */
    d->prefs = row->prefs;
    if (row->prefs && row->prefs->due_to && rec->due_date == row->prefs->due_from)
        rec->due_date = row->prefs->due_to;
    if (!rec->payday)
        d->payday_inferred = (int8_t)planner_infer_payday(row->outcomes, row->noutcomes, z,
                                                           w->o->now);
    return 0;
}

static int keep_result(struct worker *w, const struct store_plan_row *row,
                       const struct planner_debtor *d, const struct planner_result *res)
{
    if (grow_arr((void **)&w->items, &w->citems, w->nitems + 1, sizeof(*w->items)) < 0)
        return -ENOMEM;
    struct item *it = &w->items[w->nitems];
    memset(it, 0, sizeof(*it));
    it->id = row->id;
    it->ext = intern(&w->str, row->rec.external_id ? row->rec.external_id : "");
    it->tz = d->tz;
    it->strategy = res->strategy;
    it->variant = res->variant;
    it->tier = res->status == PLAN_STOPPED ? NULL : res->tier;
    it->dpd = res->dpd;
    it->status = (uint8_t)res->status;
    it->weight = (float)res->weight;
    it->p_pay = (float)res->p_pay;
    it->cand = (uint32_t)w->ncands;
    for (size_t i = 0; i < row->nattempts; i++) {
        struct tz_local l;
        tz_to_local(d->tz, row->attempts[i].at, &l);
        if (l.days == w->o->date && it->today < UINT8_MAX)
            it->today++;
    }
    size_t keep = 0;
    while (keep < res->ncand && keep < KEEP_MAX) {
        const struct planner_cand *c = &res->cand[keep++];
        if (c->channel >= 0 && (size_t)c->channel < w->cfg->nchannels &&
            w->cfg->channels[c->channel].hourly_capacity <= 0)
            break; /* invariant 3 */
    }
    if (grow_arr((void **)&w->cands, &w->ccands, w->ncands + keep, sizeof(*w->cands)) < 0)
        return -ENOMEM;
    if (keep)
        memcpy(w->cands + w->ncands, res->cand, keep * sizeof(*res->cand));
    w->ncands += keep;
    it->ncand = (uint8_t)keep;

    if (w->o->persist &&
        grow_arr((void **)&w->states, &w->cstates, w->nitems + 1, sizeof(*w->states)) < 0)
        return -ENOMEM;
    w->nitems++;
    return 0;
}

static int persist_keep(struct worker *w, const struct store_plan_row *row,
                        const struct planner_result *res)
{
    struct pstate *p = &w->states[w->nitems - 1];
    const struct planner_state *n = &res->next;
    memset(p, 0, sizeof(*p));
    p->write = row->has_state || n->strategy;
    p->strategy = intern(&w->str, n->strategy ? n->strategy : row->state.strategy);
    p->variant = intern(&w->str, n->strategy ? n->variant : row->state.variant);
    p->tier = intern(&w->str, n->tier);
    p->hold = intern(&w->str, n->hold_reason);
    p->tier_entered_at = n->tier_entered_at;
    p->paused_until = n->paused_until;
    p->applied_until = n->applied_until;
    p->in_tier = n->attempts_in_tier;
    p->since_contact = n->attempts_since_contact;
    p->total = n->attempts_total;
    p->no_contact_track = n->no_contact_track;
    p->stopped = n->stopped;
    p->trans = (uint32_t)w->ntrans;
    p->ntrans = (uint32_t)res->ntrans;
    if (grow_arr((void **)&w->trans, &w->ctrans, w->ntrans + res->ntrans, sizeof(*w->trans)) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < res->ntrans; i++) {
        const struct planner_transition *t = &res->trans[i];
        w->trans[w->ntrans++] = (struct ptrans){
            .at = t->at,
            .from = intern(&w->str, t->from_tier),
            .to = intern(&w->str, t->to_tier),
            .reason = intern(&w->str, t->reason),
        };
    }
    /* effects: one row per (kind, address) to suppress (invariant 5) */
    p->eff = (uint32_t)w->neffs;
    for (size_t i = 0; i < res->neffects; i++) {
        const struct planner_effect *e = &res->effects[i];
        uint8_t kinds = 0;
        switch (e->what) {
        case PLAN_EFFECT_SUPPRESS_CHANNEL:
            kinds = (uint8_t)(1u << e->kind);
            break;
        case PLAN_EFFECT_SUPPRESS_ALL:
            kinds = CAMPAIGN_PERSON_KINDS;
            break;
        case PLAN_EFFECT_INVALIDATE_ADDRESS:
            kinds = (uint8_t)(1u << e->kind);
            if (e->kind == CHAN_SMS || e->kind == CHAN_CALL)
                kinds |= (1u << CHAN_SMS) | (1u << CHAN_CALL); /* one phone number */
            break;
        default:
            break;
        }
        if (grow_arr((void **)&w->effs, &w->ceffs, w->neffs + _CHAN_KIND_MAX + 1,
                     sizeof(*w->effs)) < 0)
            return -ENOMEM;
        if (e->what == PLAN_EFFECT_INVESTIGATE)
            w->effs[w->neffs++] = (struct peffect){ e->what, _CHAN_KIND_MAX, NOSTR };
        for (int k = 0; k < _CHAN_KIND_MAX; k++) {
            const char *addr = campaign_kind_address(&row->rec, k);
            if ((kinds & (1u << k)) && addr)
                w->effs[w->neffs++] = (struct peffect){ e->what, (uint8_t)k,
                                                        intern(&w->str, addr) };
        }
    }
    p->neff = (uint32_t)(w->neffs - p->eff);
    return 0;
}

static int plan_row(void *ctx, const struct store_plan_row *row)
{
    struct worker *w = ctx;
    struct debtor_rec rec;
    struct planner_debtor d;
    struct planner_history h;
    size_t len0 = w->str.len;
    if (w->o->cancel && atomic_load_explicit(w->o->cancel, memory_order_relaxed))
        return -ECANCELED;
    prepare(w, row, &rec, &d, &h);
    int r = planner_plan(&w->pctx, &d, &row->state, &h, w->o->now, w->o->date, &w->res,
                         w->trace);
    if (r < 0)
        return 0; /* unusable row (no set/zone): skipped */
    if ((r = keep_result(w, row, &d, &w->res)) < 0)
        return r;
    if (w->o->persist && (r = persist_keep(w, row, &w->res)) < 0)
        return r;
    if (w->str.len == len0 && row->rec.external_id)
        return -ENOMEM;
    return 0;
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct store_plan_opts so = {
        .since = ((int64_t)w->o->date - PLANNER_HISTORY_DAYS - 1) * 86400,
        .now = w->o->now,
        .id_min = w->lo,
        .id_max = w->hi,
        .external_id = w->o->external_id,
        .channels = w->channels,
        .nchannels = w->cfg->nchannels,
        .skip_idle_outcomes = true,
    };
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    int64_t n = 0;
    if (w->o->ids) {
        /* a few debtors (a re-plan): one indexed scan each, in id order (invariant 1) */
        for (size_t i = 0; i < w->o->nids && n >= 0; i++) {
            so.id_min = so.id_max = w->o->ids[i];
            n = so.id_min > 0 ? store_plan_scan(w->store, &so, plan_row, w) : 0;
        }
    } else
        n = store_plan_scan(w->store, &so, plan_row, w);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    w->cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    w->r = n < 0 ? (int)n : 0;
    if (n < 0)
        snprintf(w->err, sizeof(w->err), "%s", store_errmsg(w->store));
    return NULL;
}

static void worker_release(struct worker *w)
{
    if (w->own)
        store_free(w->store);
    tz_cache_free(w->tzc);
    free(w->items);
    free(w->cands);
    free(w->states);
    free(w->trans);
    free(w->effs);
    sbuf_release(&w->str);
}

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Write one debtor's plan; fills the key and attempt id of dec. */
static int persist_one(struct store *s, const struct campaign_opts *o, const struct worker *w,
                       const struct item *it, struct campaign_decision *dec, char *key,
                       size_t keylen, struct campaign_stats *st)
{
    const struct pstate *p = &w->states[it - w->items];
    struct planner_state ns = {
        .strategy = str_at(w, p->strategy),
        .variant = str_at(w, p->variant),
        .tier = str_at(w, p->tier),
        .tier_entered_at = p->tier_entered_at,
        .attempts_in_tier = p->in_tier,
        .attempts_since_contact = p->since_contact,
        .attempts_total = p->total,
        .paused_until = p->paused_until,
        .hold_reason = str_at(w, p->hold),
        .no_contact_track = p->no_contact_track,
        .stopped = p->stopped,
        .applied_until = p->applied_until,
    };
    int64_t last = 0;
    int r;
    for (uint32_t i = 0; i < p->ntrans; i++) {
        const struct ptrans *t = &w->trans[p->trans + i];
        if ((r = store_transition_add(s, it->id, ns.strategy, str_at(w, t->from),
                                      str_at(w, t->to), t->at, str_at(w, t->reason))) < 0)
            return r;
        st->transitions_written++;
    }
    if (dec->cand) {
        char day[11];
        format_date(o->date, day);
        snprintf(key, keylen, "%s:%s:%d", day, dec->external_id, it->today + 1);
        struct store_attempt_new a = {
            .debtor_id = it->id,
            .run_id = o->run_id,
            .key = key,
            .strategy = it->strategy ? it->strategy->name : NULL,
            .variant = it->variant ? it->variant->name : NULL,
            .tier = dec->tier,
            .channel = dec->channel,
            .template_name = dec->template_name,
            .kind = dec->cand->kind,
            .scheduled_at = dec->cand->at,
            .not_after = dec->cand->until,
            .created_at = o->now,
            .p_pay = it->p_pay,
            .p_choice = dec->cand->p_choice,
        };
        if ((r = store_attempt_add(s, &a, &dec->attempt_id)) < 0)
            return r;
        dec->idempotency_key = key;
        if (dec->attempt_id) {
            st->attempts_written++;
            ns.attempts_in_tier++;
            ns.attempts_since_contact++;
            ns.attempts_total++;
            last = dec->cand->at;
        } else
            st->attempts_existing++;
    }
    if (p->write) {
        if ((r = store_state_put_pay(s, it->id, &ns, last, o->now, it->p_pay)) < 0)
            return r;
        st->states_written++;
    }
    for (uint32_t i = 0; i < p->neff; i++) {
        const struct peffect *e = &w->effs[p->eff + i];
        static const char *const why[] = {
            [PLAN_EFFECT_SUPPRESS_CHANNEL] = "suppress channel",
            [PLAN_EFFECT_SUPPRESS_ALL] = "opt-out",
            [PLAN_EFFECT_INVALIDATE_ADDRESS] = "invalid address",
            [PLAN_EFFECT_INVESTIGATE] = "investigate",
        };
        int added = 0;
        if (e->what == PLAN_EFFECT_INVESTIGATE) {
            if ((r = store_investigate_set(s, it->id, o->now)) < 0)
                return r;
            st->effects_written++;
        } else if (e->what < ELEMENTSOF(why) && str_at(w, e->addr)) {
            if ((r = store_suppression_add(s, it->id, e->kind, str_at(w, e->addr), why[e->what],
                                           o->now, &added)) < 0)
                return r;
            st->effects_written += added;
        }
    }
    return 0;
}

/* Contacts planned by an earlier run of the day, for the capacity step. */
struct taken_list {
    const struct config *cfg;
    struct planner_taken *v;
    size_t n, cap;
};

static int taken_add(void *ctx, const char *channel, int64_t at)
{
    struct taken_list *tl = ctx;
    const struct channel_conf *cc = channel ? config_channel(tl->cfg, channel) : NULL;
    if (!cc || cc->hourly_capacity <= 0)
        return 0;
    if (tl->n == tl->cap) {
        size_t cap = tl->cap ? tl->cap * 2 : 256;
        struct planner_taken *v = realloc(tl->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        tl->v = v;
        tl->cap = cap;
    }
    tl->v[tl->n++] = (struct planner_taken){ at, (int16_t)(cc - tl->cfg->channels) };
    return 0;
}

int campaign_plan_day(struct store *s, const struct config *cfg, const struct strategy_set *set,
                      const struct campaign_opts *o,
                      int (*cb)(void *ctx, const struct campaign_decision *d), void *ctx,
                      struct campaign_stats *ret)
{
    struct campaign_model own = { .sg = { .names = SBUF_INIT } };
    const struct campaign_model *cm = o->model ? o->model : &own;
    struct tz *utc = NULL;
    struct worker wk[8];
    const char **channels = NULL;
    struct planner_slate *slates = NULL;
    int32_t *choice = NULL;
    struct campaign_stats st = { 0 };
    struct timespec t0;
    int nw = o->external_id || o->ids ? 1
             : o->threads > 0         ? (o->threads > 8 ? 8 : o->threads)
                                      : 2;
    int r;

    memset(wk, 0, sizeof(wk));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!o->model && (r = build_model(s, &own.sg, o->now, &own.m, &own.prop)) < 0)
        goto out;
    if ((r = tz_load("UTC", &utc)) < 0)
        goto out;
    if (!(channels = calloc(cfg->nchannels + 1, sizeof(*channels)))) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < cfg->nchannels; i++)
        channels[i] = cfg->channels[i].name;

    int64_t maxid = 0;
    if (nw > 1 && (r = store_debtor_max_id(s, &maxid)) < 0)
        goto out;
    if (maxid < 1000 * nw)
        nw = 1;
    for (int i = 0; i < nw; i++) {
        struct worker *w = &wk[i];
        w->cfg = cfg;
        w->set = set;
        w->o = o;
        w->sg = &cm->sg;
        w->pctx = (struct planner_ctx){ .cfg = cfg, .set = set, .model = cm->m,
                                        .prop = cm->prop, .prop_all = o->persist,
                                        .seed = o->seed, .redraws = o->redraws };
        w->utc = utc;
        w->channels = channels;
        w->str = (struct sbuf)SBUF_INIT;
        if (!(w->tzc = tz_cache_new())) {
            r = -ENOMEM;
            goto out;
        }
        w->lo = nw == 1 ? 0 : maxid * i / nw + 1;
        w->hi = nw == 1 ? 0 : i == nw - 1 ? INT64_MAX : maxid * (i + 1) / nw;
        if (i == 0) {
            w->store = s;
        } else {
            char err[256];
            if ((r = store_open(store_path(s), STORE_READONLY, &w->store, err, sizeof(err))) <
                0)
                goto out;
            w->own = true;
        }
    }
    if (nw == 1) {
        worker_run(&wk[0]);
    } else {
        pthread_t th[8];
        int started = 0;
        for (int i = 1; i < nw; i++) {
            if (pthread_create(&th[i], NULL, worker_run, &wk[i]) != 0)
                break;
            started = i;
        }
        worker_run(&wk[0]);
        for (int i = 1; i <= started; i++)
            pthread_join(th[i], NULL);
        if (started != nw - 1) {
            r = -EAGAIN;
            goto out;
        }
    }
    for (int i = 0; i < nw; i++)
        if (wk[i].r < 0) {
            r = wk[i].r;
            goto out;
        }
    st.read_plan_seconds = since(&t0);
    st.threads = nw;
    for (int i = 0; i < nw; i++)
        st.read_plan_cpu_seconds += wk[i].cpu;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    /* capacity over every debtor's kept candidates */
    size_t total = 0;
    for (int i = 0; i < nw; i++)
        total += wk[i].nitems;
    st.debtors = (int64_t)total;
    bool capped = false;
    for (size_t c = 0; c < cfg->nchannels; c++)
        capped |= cfg->channels[c].hourly_capacity > 0;
    if (!(choice = malloc((total + 1) * sizeof(*choice)))) {
        r = -ENOMEM;
        goto out;
    }
    if (capped) {
        if (!(slates = malloc((total + 1) * sizeof(*slates)))) {
            r = -ENOMEM;
            goto out;
        }
        size_t k = 0;
        for (int i = 0; i < nw; i++)
            for (size_t j = 0; j < wk[i].nitems; j++, k++)
                slates[k] = (struct planner_slate){ wk[i].cands + wk[i].items[j].cand,
                                                    wk[i].items[j].ncand,
                                                    wk[i].items[j].weight };
        struct taken_list tl = { .cfg = cfg };
        int64_t day0 = (int64_t)o->date * 86400;
        if (!o->taken_given &&
            (r = store_attempts_scheduled(s, day0 - CAMPAIGN_EARLIEST_OFFSET,
                                          day0 + 86400 + CAMPAIGN_EARLIEST_OFFSET, taken_add,
                                          &tl)) < 0) {
            free(tl.v);
            goto out;
        }
        int64_t a = o->taken_given
                        ? planner_assign_with(cfg, slates, total, o->taken, o->ntaken, choice)
                        : planner_assign_with(cfg, slates, total, tl.v, tl.n, choice);
        free(tl.v);
        if (a < 0) {
            r = (int)a;
            goto out;
        }
    } else {
        size_t k = 0;
        for (int i = 0; i < nw; i++)
            for (size_t j = 0; j < wk[i].nitems; j++, k++)
                choice[k] = wk[i].items[j].ncand ? 0 : -1;
    }
    st.assign_seconds = since(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);

    /* one pass in id order (invariant 1): persist, then report */
    size_t k = 0, inbatch = 0;
    for (int i = 0; i < nw; i++) {
        const struct worker *w = &wk[i];
        for (size_t j = 0; j < w->nitems; j++, k++) {
            const struct item *it = &w->items[j];
            struct campaign_decision dec = {
                .debtor_id = it->id,
                .external_id = str_at(w, it->ext),
                .time_zone = tz_name(it->tz),
                .tz = it->tz,
                .strategy = it->strategy,
                .variant = it->variant,
                .tier = it->tier ? it->tier->name : NULL,
                .dpd = it->dpd,
                .status = (enum planner_reason)it->status,
                .choice = choice[k],
                .ncand = it->ncand,
            };
            if (choice[k] >= 0) {
                dec.cand = &w->cands[it->cand + (uint32_t)choice[k]];
                dec.status = PLAN_OK;
                if (dec.cand->channel >= 0 && (size_t)dec.cand->channel < cfg->nchannels)
                    dec.channel = cfg->channels[dec.cand->channel].name;
                if (it->tier && dec.cand->tchan >= 0 && (size_t)dec.cand->tchan < it->tier->nch)
                    dec.template_name = it->tier->ch[dec.cand->tchan].template_name;
                st.planned++;
            } else {
                if (it->ncand)
                    dec.status = PLAN_CAPACITY;
                st.by_reason[dec.status]++;
            }
            char key[160];
            if (o->cancel && atomic_load_explicit(o->cancel, memory_order_relaxed)) {
                if (inbatch && (r = store_commit(s)) < 0)
                    goto out;
                r = -ECANCELED;
                goto out;
            }
            if (o->persist) {
                if (inbatch == 0 && (r = store_begin(s)) < 0)
                    goto out;
                if ((r = persist_one(s, o, w, it, &dec, key, sizeof(key), &st)) < 0) {
                    store_rollback(s);
                    goto out;
                }
                if (++inbatch == PERSIST_BATCH) {
                    if ((r = store_commit(s)) < 0)
                        goto out;
                    inbatch = 0;
                }
            }
            if (cb && (dec.cand || o->all) && (r = cb(ctx, &dec)) < 0) {
                if (inbatch)
                    store_rollback(s);
                goto out;
            }
        }
    }
    if (o->persist && inbatch && (r = store_commit(s)) < 0)
        goto out;
    st.write_seconds = since(&t0);
    r = 0;
    if (ret)
        *ret = st;
out:
    for (int i = 0; i < nw; i++)
        worker_release(&wk[i]);
    free(choice);
    free(slates);
    free(channels);
    tz_free(utc);
    model_free(own.m);
    propensity_free(own.prop);
    segments_release(&own.sg);
    return r;
}

/* ---- explain ---- */

static void fmt_utc(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fmt_local(const struct tz *z, int64_t t, char *buf, size_t len)
{
    struct tz_local l;
    tz_to_local(z, t, &l);
    char d[11];
    format_date(l.days, d);
    snprintf(buf, len, "%s %s %02d:%02d %s", wd_names[l.weekday], d, l.sec_of_day / 3600,
             l.sec_of_day / 60 % 60, l.abbr ? l.abbr : "");
}

/*
 * Which layer of the model decided between the chosen slot (a) and the
 * best kept one on another channel or hour (b): the layer whose own
 * factor favours a over b the most (segment mean, each level, the
 * debtor's factors).  Writes "" when there is no model or no runner-up.
 */
static void explain_decider(const struct model_debtor *md, const struct planner_cand *a,
                            const struct planner_cand *b, char *buf, size_t len)
{
    const struct model *m = md->m;
    struct model_estimate ea, eb;
    model_estimate(md, a->kind, a->how, &ea);
    model_estimate(md, b->kind, b->how, &eb);
    double best = log(ea.seg_mean / eb.seg_mean);
    snprintf(buf, len, "the segment's rates (x%.2f)", ea.seg_mean / eb.seg_mean);
    for (int j = 0; j < md->nlev; j++) {
        double fa = model_debtor_level_factor(md, j, a->kind, a->how);
        double fb = model_debtor_level_factor(md, j, b->kind, b->how);
        if (log(fa / fb) > best) {
            best = log(fa / fb);
            char lab[96];
            model_level_label(m, md->lev_id[j], lab, sizeof(lab));
            snprintf(buf, len, "level %s (x%.2f)", lab, fa / fb);
        }
    }
    double da = ea.mean / ea.lev_mean, db = eb.mean / eb.lev_mean;
    if (log(da / db) > best)
        snprintf(buf, len, "the debtor's own history (x%.2f)", da / db);
}

/* The payment propensity and the levels behind it, for explain. */
static void explain_propensity(const struct propensity *prop, const struct debtor_rec *rec,
                               const struct store_plan_row *row, const struct campaign_opts *o,
                               struct sbuf *b)
{
    if (!prop) {
        sbuf_adds(b, "payment propensity: none (no payment in the training window)\n");
        return;
    }
    struct propensity_features f;
    struct propensity_pred pr;
    propensity_features_at(rec, row->outcomes, row->noutcomes, o->now, o->date, &f);
    propensity_predict(prop, &f, &pr);
    sbuf_addf(b, "payment propensity: %.3f within %d days (portfolio %.3f", pr.p,
              PROPENSITY_DAYS, pr.base);
    for (int j = 0; j < pr.nlev; j++) {
        char lab[96];
        propensity_level_label(prop, pr.lev_id[j], lab, sizeof(lab));
        sbuf_addf(b, ", %s x%.2f", lab, pr.factor[j]);
    }
    sbuf_adds(b, "); orders debtors by propensity x balance x contact value when capacity "
                 "binds\n");
}

/* What the debtor stated on the self-service page, as the planner uses it. */
static void explain_prefs(const struct store_plan_row *row, struct sbuf *b)
{
    const struct prefs *p = row->prefs;
    if (!p || prefs_empty(p))
        return;
    sbuf_adds(b, "stated preferences (self-service):\n");
    if (p->nforbid) {
        sbuf_adds(b, "  not to be contacted (hard rule): ");
        prefs_ranges_format(p->forbid, p->nforbid, true, b);
        sbuf_adds(b, "\n");
    }
    if (p->human == 1)
        sbuf_adds(b, "  rather talk to a person (hard rule): no bot; no e-mail or sms when a "
                     "call is possible\n");
    if (p->channel >= 0)
        sbuf_addf(b, "  preferred channel (prior): %s\n",
                  chan_kind_to_string((enum chan_kind)p->channel));
    if (p->nprefer) {
        sbuf_adds(b, "  preferred hours (prior): ");
        prefs_ranges_format(p->prefer, p->nprefer, false, b);
        sbuf_adds(b, "\n");
    }
    if (p->language[0])
        sbuf_addf(b, "  language: %s\n", p->language);
    if (p->due_to) {
        char f[11], t[11];
        format_date(p->due_from, f);
        format_date(p->due_to, t);
        sbuf_addf(b, "  due date moved from %s to %s%s\n", f, t,
                  row->rec.due_date == p->due_from ? "" : " (superseded by a newer import)");
    }
}

static int explain_row(void *ctx, const struct store_plan_row *row)
{
    struct worker *w = ctx;
    struct debtor_rec rec;
    struct planner_debtor d;
    struct planner_history h;
    struct sbuf *b = w->out;
    const struct config *cfg = w->cfg;
    prepare(w, row, &rec, &d, &h);
    struct planner_result *res = &w->res;
    int r = planner_plan(&w->pctx, &d, &row->state, &h, w->o->now, w->o->date, res, w->trace);
    if (r < 0)
        return r;
    const struct planner_trace *t = w->trace;
    struct model_debtor md;
    const struct model *model = w->pctx.model;
    if (model) {
        struct model_covariates cov;
        struct model_levels lv;
        planner_model_covariates(&rec, &cov);
        model_levels_find(model, &cov, &lv);
        model_debtor_prepare_levels(model, d.segment, &lv, row->cells, row->ncells, &md);
    }
    char day[11], nowbuf[32];
    format_date(w->o->date, day);
    fmt_utc(w->o->now, nowbuf, sizeof(nowbuf));
    sbuf_addf(b, "debtor %s (internal id %lld), %s, time zone %s\n",
              rec.external_id ? rec.external_id : "", (long long)row->id,
              rec.country ? rec.country : "no country", tz_name(d.tz));
    sbuf_addf(b, "plan for %s (local day), now %s, dpd %d, segment '%s'\n", day, nowbuf,
              res->dpd, rec.segment ? rec.segment : "");
    sbuf_addf(b, "history: %zu attempts, %zu outcomes in the last %d days, %zu slot cells\n",
              row->nattempts, row->noutcomes, PLANNER_HISTORY_DAYS, row->ncells);
    if (model) {
        sbuf_addf(b, "model levels below the segment (hour kernel %d):",
                  model_segment_kernel(model, d.segment));
        if (!md.nlev)
            sbuf_adds(b, " none");
        for (int j = 0; j < md.nlev; j++) {
            char lab[96];
            double st, att;
            model_level_label(model, md.lev_id[j], lab, sizeof(lab));
            model_level_info(model, md.lev_id[j], &st, &att);
            sbuf_addf(b, "%s %s (strength %.0f, %.0f sampled attempts)", j ? "," : "", lab, st,
                      att);
        }
        sbuf_adds(b, "\n");
    }
    explain_propensity(w->pctx.prop, &rec, row, w->o, b);
    if (row->has_state)
        sbuf_addf(b, "stored state: strategy '%s', variant '%s', tier '%s'%s%s\n",
                  row->state.strategy ? row->state.strategy : "",
                  row->state.variant ? row->state.variant : "",
                  row->state.tier ? row->state.tier : "", row->state.stopped ? ", stopped" : "",
                  row->state.hold_reason ? ", held" : "");
    else
        sbuf_adds(b, "stored state: none (never planned)\n");
    sbuf_addf(b, "\nstrategy: %s\n  why: %s\n", res->strategy ? res->strategy->name : "(none)",
              t->strategy_why);
    if (res->variant)
        sbuf_addf(b, "variant: %s\n  why: %s\n", res->variant->name, t->variant_why);
    sbuf_addf(b, "tier: %s\n", res->tier && res->status != PLAN_STOPPED ? res->tier->name
                                                                          : "(none)");
    if (t->tier_why[0])
        sbuf_addf(b, "  why: %s\n", t->tier_why);
    for (size_t i = 0; i < res->ntrans; i++)
        sbuf_addf(b, "  transition: %s -> %s: %s\n",
                  res->trans[i].from_tier ? res->trans[i].from_tier : "(none)",
                  res->trans[i].to_tier ? res->trans[i].to_tier : "(none)",
                  res->trans[i].reason);
    if (res->next.paused_until)  {
        char pb[32];
        fmt_utc(res->next.paused_until, pb, sizeof(pb));
        sbuf_addf(b, "  paused until %s\n", pb);
    }
    if (res->next.hold_reason)
        sbuf_addf(b, "  held: %s\n", res->next.hold_reason);
    if (t->plan_why[0])
        sbuf_addf(b, "  %s\n", t->plan_why);
    explain_prefs(row, b);

    sbuf_addf(b, "\ncandidates (%zu", t->n);
    if (t->dropped)
        sbuf_addf(b, ", %zu more not shown", t->dropped);
    sbuf_adds(b, "):\n");
    if (!t->n)
        sbuf_addf(b, "  none: %s\n", planner_reason_to_string(res->status));
    for (size_t i = 0; i < t->n; i++) {
        const struct planner_trace_entry *e = &t->e[i];
        const char *ch = e->c.channel >= 0 && (size_t)e->c.channel < cfg->nchannels
                             ? cfg->channels[e->c.channel].name : "?";
        char lt[64];
        if (e->c.at)
            fmt_local(d.tz, e->c.at, lt, sizeof(lt));
        else
            snprintf(lt, sizeof(lt), "-");
        sbuf_addf(b, "  %-8s %-26s ", ch, lt);
        if (e->scored)
            sbuf_addf(b, "p=%.3f value=%.2f ev=%.3f score=%.3f  ", e->c.p_reach, e->c.value,
                      e->c.ev, e->c.score);
        if (e->scored && model) {
            struct model_estimate est;
            model_estimate(&md, e->c.kind, e->c.how, &est);
            sbuf_addf(b, "(segment %.3f sd %.0f%%, levels %.3f, debtor %.3f)  ", est.seg_mean,
                      100 * sqrt(est.pop_rv), est.lev_mean, est.mean);
        }
        if (e->boost)
            sbuf_addf(b, "stated preference: %s%s%s  ",
                      e->boost & PLANNER_BOOST_CHANNEL ? "channel" : "",
                      e->boost == (PLANNER_BOOST_CHANNEL | PLANNER_BOOST_HOURS) ? ", " : "",
                      e->boost & PLANNER_BOOST_HOURS ? "hours" : "");
        if (e->reason == PLAN_OK)
            sbuf_adds(b, "kept\n");
        else
            sbuf_addf(b, "rejected: %s\n", planner_reason_to_string(e->reason));
    }
    sbuf_adds(b, "\ndecision: ");
    if (res->ncand) {
        const struct planner_cand *c = &res->cand[0];
        char ub[32], lt[64];
        fmt_utc(c->at, ub, sizeof(ub));
        fmt_local(d.tz, c->at, lt, sizeof(lt));
        const char *tpl = res->tier && c->tchan >= 0 && (size_t)c->tchan < res->tier->nch
                              ? res->tier->ch[c->tchan].template_name : NULL;
        sbuf_addf(b, "%s at %s (local %s), template %s, p_reach %.3f, expected value %.3f\n",
                  cfg->channels[c->channel].name, ub, lt, tpl ? tpl : "-", c->p_reach, c->ev);
        if (res->ncand > 1)
            sbuf_addf(b, "  %zu alternatives kept for the capacity step (plan applies "
                         "capacity across all debtors)\n", res->ncand - 1);
        const struct planner_cand *rb = NULL;
        for (size_t i = 1; i < res->ncand && !rb; i++)
            if (res->cand[i].kind != c->kind || res->cand[i].how != c->how)
                rb = &res->cand[i];
        if (model && rb) {
            char why[160];
            explain_decider(&md, c, rb, why, sizeof(why));
            sbuf_addf(b, "  decided against %s at local hour %d by %s\n",
                      cfg->channels[rb->channel].name, rb->how % 24, why);
        }
    } else
        sbuf_addf(b, "no contact: %s\n", planner_reason_to_string(res->status));
    return b->len ? 0 : -ENOMEM;
}

int campaign_explain(struct store *s, const struct config *cfg, const struct strategy_set *set,
                     const struct campaign_opts *o, struct sbuf *out)
{
    struct segments sg = { .names = SBUF_INIT };
    struct model *m = NULL;
    struct propensity *prop = NULL;
    struct tz *utc = NULL;
    struct worker w = { .cfg = cfg, .set = set, .o = o, .sg = &sg, .store = s, .out = out };
    const char **channels = NULL;
    int r;

    if (!o->external_id)
        return -EINVAL;
    if ((r = build_model(s, &sg, o->now, &m, &prop)) < 0)
        goto out;
    if ((r = tz_load("UTC", &utc)) < 0)
        goto out;
    w.utc = utc;
    w.pctx = (struct planner_ctx){ .cfg = cfg, .set = set, .model = m, .prop = prop,
                                   .seed = o->seed };
    if (!(w.tzc = tz_cache_new()) || !(w.trace = malloc(sizeof(*w.trace))) ||
        !(channels = calloc(cfg->nchannels + 1, sizeof(*channels)))) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < cfg->nchannels; i++)
        channels[i] = cfg->channels[i].name;
    struct store_plan_opts so = {
        .since = ((int64_t)o->date - PLANNER_HISTORY_DAYS - 1) * 86400,
        .now = o->now,
        .external_id = o->external_id,
        .channels = channels,
        .nchannels = cfg->nchannels,
    };
    int64_t n = store_plan_scan(s, &so, explain_row, &w);
    r = n < 0 ? (int)n : 0;
out:
    free(w.trace);
    free(channels);
    tz_cache_free(w.tzc);
    tz_free(utc);
    model_free(m);
    propensity_free(prop);
    segments_release(&sg);
    return r;
}

/* ---- calibration of the payment propensity ---- */

struct calib_ctx {
    const struct propensity *prop;
    int64_t at;
    int32_t day;
    struct calib_pt {
        float p;
        uint8_t y;
    } *v;
    size_t n, cap;
};

static int calib_row(void *ctx, const struct store_plan_row *row)
{
    struct calib_ctx *c = ctx;
    if (row->created_at > c->at)
        return 0;
    if (grow_arr((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v)) < 0)
        return -ENOMEM;
    struct propensity_features f;
    struct propensity_pred pr;
    propensity_features_at(&row->rec, row->outcomes, row->noutcomes, c->at, c->day, &f);
    propensity_predict(c->prop, &f, &pr);
    bool paid = propensity_paid_between(row->outcomes, row->noutcomes, c->at,
                                        c->at + (int64_t)PROPENSITY_DAYS * 86400);
    c->v[c->n++] = (struct calib_pt){ (float)pr.p, paid };
    return 0;
}

static int calib_cmp(const void *a, const void *b)
{
    float x = ((const struct calib_pt *)a)->p, y = ((const struct calib_pt *)b)->p;
    return x < y ? -1 : x > y;
}

int campaign_calibration(struct store *s, int32_t date, struct campaign_calibration *ret)
{
    struct propensity *prop = NULL;
    struct calib_ctx c = { .at = (int64_t)date * 86400, .day = date };
    struct campaign_calibration cr = { .date = date };
    int r = propensity_new(&prop);
    if (r < 0)
        return r;
    if ((r = eb_sample(s, NULL, NULL, prop, c.at)) < 0)
        goto out;
    propensity_counts(prop, &cr.train_examples, &cr.train_paid);
    c.prop = prop;
    struct store_plan_opts so = {
        .since = c.at - (int64_t)PROPENSITY_HISTORY_DAYS * 86400,
        .no_attempts = true,
        .payments_only = true,
    };
    int64_t n = store_plan_scan(s, &so, calib_row, &c);
    if (n < 0) {
        r = (int)n;
        goto out;
    }
    qsort(c.v, c.n, sizeof(*c.v), calib_cmp);
    double base = propensity_base(prop);
    cr.debtors = (int64_t)c.n;
    for (size_t i = 0; i < c.n; i++) {
        double p = c.v[i].p, y = c.v[i].y;
        struct campaign_calib_bin *b = &cr.bin[i * CAMPAIGN_CALIB_BINS / c.n];
        if (!b->n || p < b->pmin)
            b->pmin = p;
        if (!b->n || p > b->pmax)
            b->pmax = p;
        b->n++;
        b->paid += c.v[i].y;
        b->predicted += p;
        cr.paid += c.v[i].y;
        cr.predicted += p;
        cr.brier += (p - y) * (p - y);
        cr.brier_base += (base - y) * (base - y);
        cr.log_loss -= y ? log(p) : log(1 - p);
    }
    for (int k = 0; k < CAMPAIGN_CALIB_BINS; k++) {
        struct campaign_calib_bin *b = &cr.bin[k];
        if (!b->n)
            continue;
        b->predicted /= (double)b->n;
        cr.ece += (double)b->n * fabs(b->predicted - (double)b->paid / (double)b->n);
    }
    if (c.n) {
        cr.predicted /= (double)c.n;
        cr.brier /= (double)c.n;
        cr.brier_base /= (double)c.n;
        cr.log_loss /= (double)c.n;
        cr.ece /= (double)c.n;
    }
    *ret = cr;
    r = 0;
out:
    free(c.v);
    propensity_free(prop);
    return r;
}
