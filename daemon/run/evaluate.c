/*
 * evaluate.c - off-policy evaluation of a candidate strategy set on the
 * planner's logged decisions (see evaluate.h; docs/planner.md,
 * "Off-policy evaluation").
 *
 * Owns: the frozen reach model (the store's statistics less the
 * window's outcomes), the logged decisions and the window's outcomes
 * while it runs.  Never: writes to the store, or uses a decision without
 * a logged choice probability or an outcome.
 *
 * Pipeline:
 *   logged decisions of the window (attempts, their choice probability,
 *   reached or not)  +  the window's outcomes that entered the statistics
 *   -> segment statistics less those -> model (finish, empirical Bayes on
 *      the decisions' debtors' cells less those)
 *   -> one plan scan: each debtor with decisions, each decision re-planned
 *      with the target set at its own `now`, history before it only,
 *      `samples` seeds -> P(target takes the logged slot), predicted reach
 *   -> ope_estimate()
 *
 * Invariants:
 *  1. Nothing the window's outcomes taught reaches the target's model:
 *     the statistics are taken back to the start of the window.
 *  2. A decision is re-planned with the history before its own `now`
 *     only (attempts scheduled and outcomes occurred before it).
 */
#include "evaluate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "model.h"
#include "planner.h"
#include "tz.h"
#include "util.h"

#define EVAL_EB_SAMPLE 20000
#define EVAL_HIST_MAX 4096

struct wout {
    int64_t debtor;
    int32_t seg;
    uint8_t kind, how, attempt, reach;
};

struct dec {
    int64_t debtor, scheduled_at, created_at;
    int32_t date;
    uint8_t kind;
    bool observed, reached;
    double p;
};

struct segs {
    char **name; /* sorted (the statistics come ordered by segment) */
    size_t n, cap;
    struct segrow {
        uint32_t seg;
        int kind, how;
        int64_t a, r;
    } *v;
    size_t nv, capv;
};

struct eval {
    const struct config *cfg;
    const struct evaluate_opts *o;
    struct tz_cache *tzc;
    const struct tz *utc;
    struct segs sg;
    struct wout *w;
    size_t nw, cw, wi;
    struct dec *d;
    size_t nd, cd, di;
    struct model *m;
    size_t neb;
    struct planner_ctx pctx;
    struct ope_obs *obs;
    size_t nobs;
    struct evaluate_result res;
    struct model_cell cells[_CHAN_KIND_MAX * MODEL_HOURS];
    struct planner_attempt att[EVAL_HIST_MAX];
    struct planner_outcome out[EVAL_HIST_MAX];
    int r;
};

static int grow(void **v, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 256;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*v, nc * sz);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = nc;
    return 0;
}

static int seg_find(const struct segs *sg, const char *name)
{
    size_t lo = 0, hi = sg->n;
    if (!name)
        name = "";
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(sg->name[mid], name);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int seg_cb(void *ctx, const char *segment, int kind, int how, int64_t a, int64_t r)
{
    struct segs *sg = ctx;
    if (!sg->n || strcmp(sg->name[sg->n - 1], segment) != 0) {
        if (grow((void **)&sg->name, &sg->cap, sg->n + 1, sizeof(*sg->name)) < 0 ||
            !(sg->name[sg->n] = strdup(segment)))
            return -ENOMEM;
        sg->n++;
    }
    if (grow((void **)&sg->v, &sg->capv, sg->nv + 1, sizeof(*sg->v)) < 0)
        return -ENOMEM;
    sg->v[sg->nv++] = (struct segrow){ (uint32_t)(sg->n - 1), kind, how, a, r };
    return 0;
}

static int wout_cb(void *ctx, const struct store_stat_outcome *o)
{
    struct eval *e = ctx;
    if (o->kind < 0 || o->kind >= _CHAN_KIND_MAX)
        return 0;
    const struct tz *z = NULL;
    if (!o->time_zone || tz_cache_get(e->tzc, o->time_zone, &z) < 0)
        z = e->utc;
    if (grow((void **)&e->w, &e->cw, e->nw + 1, sizeof(*e->w)) < 0)
        return -ENOMEM;
    e->w[e->nw++] = (struct wout){
        .debtor = o->debtor_id,
        .seg = seg_find(&e->sg, o->segment),
        .kind = (uint8_t)o->kind,
        .how = (uint8_t)campaign_hour_of_week(z, o->at),
        .attempt = o->attempt,
        .reach = o->reach,
    };
    return 0;
}

static int dec_cb(void *ctx, const struct store_logged_decision *d)
{
    struct eval *e = ctx;
    e->res.decisions++;
    if (!(d->p_choice > 0)) {
        e->res.no_probability++;
        return 0;
    }
    if (!d->observed) {
        e->res.unobserved++;
        return 0;
    }
    int32_t date;
    if (!d->key || strlen(d->key) < 10 || parse_date(d->key, 10, &date) < 0)
        date = (int32_t)(d->scheduled_at / 86400);
    if (grow((void **)&e->d, &e->cd, e->nd + 1, sizeof(*e->d)) < 0)
        return -ENOMEM;
    e->d[e->nd++] = (struct dec){
        .debtor = d->debtor_id,
        .scheduled_at = d->scheduled_at,
        .created_at = d->created_at,
        .date = date,
        .kind = (uint8_t)d->kind,
        .observed = d->observed,
        .reached = d->reached,
        .p = d->p_choice,
    };
    return 0;
}

/* The debtor's cells less the window's outcomes (invariant 1), into e->cells. */
static size_t frozen_cells(struct eval *e, const struct store_plan_row *row)
{
    size_t n = 0;
    for (size_t i = 0; i < row->ncells && n < ELEMENTSOF(e->cells); i++)
        e->cells[n++] = row->cells[i];
    while (e->wi < e->nw && e->w[e->wi].debtor < row->id)
        e->wi++;
    for (size_t j = e->wi; j < e->nw && e->w[j].debtor == row->id; j++)
        for (size_t i = 0; i < n; i++)
            if (e->cells[i].kind == e->w[j].kind && e->cells[i].how == e->w[j].how) {
                if (e->w[j].attempt && e->cells[i].attempts)
                    e->cells[i].attempts--;
                if (e->w[j].reach && e->cells[i].reaches)
                    e->cells[i].reaches--;
                if (e->cells[i].reaches > e->cells[i].attempts)
                    e->cells[i].reaches = e->cells[i].attempts;
                break;
            }
    return n;
}

/* Advance to the debtor's decisions; false when it has none. */
static bool has_decisions(struct eval *e, int64_t id)
{
    while (e->di < e->nd && e->d[e->di].debtor < id)
        e->di++;
    return e->di < e->nd && e->d[e->di].debtor == id;
}

static int eb_row(void *ctx, const struct store_plan_row *row)
{
    struct eval *e = ctx;
    if (e->neb >= EVAL_EB_SAMPLE || !has_decisions(e, row->id))
        return 0;
    int seg = seg_find(&e->sg, row->rec.segment);
    size_t n = frozen_cells(e, row);
    if (seg < 0 || !n)
        return 0;
    struct model_covariates cov;
    planner_model_covariates(&row->rec, &cov);
    e->neb++;
    int r = model_eb_add_levels(e->m, seg, &cov, e->cells, n);
    return r == -ENOMEM ? r : 0;
}

static int plan_row(void *ctx, const struct store_plan_row *row)
{
    struct eval *e = ctx;
    if (!has_decisions(e, row->id))
        return 0;
    struct debtor_rec rec = row->rec;
    if (rec.do_not_contact && campaign_parse_dnc(rec.do_not_contact, &rec) < 0)
        rec.ndnc = 0;
    const struct tz *z = NULL;
    if (!rec.time_zone || tz_cache_get(e->tzc, rec.time_zone, &z) < 0)
        z = e->utc;
    struct planner_debtor pd = {
        .id = row->id,
        .rec = &rec,
        .tz = z,
        .segment = seg_find(&e->sg, rec.segment),
        .addresses = planner_addresses(&rec),
        .suppressed = row->suppressed,
        .invalid = row->invalid,
        .cells = e->cells,
        .ncells = frozen_cells(e, row),
    };
    struct model_debtor md;
    struct model_covariates cov;
    struct model_levels lv;
    planner_model_covariates(&rec, &cov);
    model_levels_find(e->m, &cov, &lv);
    model_debtor_prepare_levels(e->m, pd.segment, &lv, pd.cells, pd.ncells, &md);
    int samples = e->o->samples > 0 ? e->o->samples : 32;
    for (size_t k = e->di; k < e->nd && e->d[k].debtor == row->id; k++) {
        const struct dec *dc = &e->d[k];
        /* the history before the decision (invariant 2) */
        struct planner_history h = { e->att, 0, e->out, 0 };
        for (size_t i = 0; i < row->nattempts && h.nattempts < EVAL_HIST_MAX; i++)
            if (row->attempts[i].at < dc->created_at)
                e->att[h.nattempts++] = row->attempts[i];
        for (size_t i = 0; i < row->noutcomes && h.noutcomes < EVAL_HIST_MAX; i++)
            if (row->outcomes[i].at < dc->created_at)
                e->out[h.noutcomes++] = row->outcomes[i];
        int how = campaign_hour_of_week(z, dc->scheduled_at);
        double same = 0, v = 0, contacts = 0;
        uint16_t taken[_CHAN_KIND_MAX * MODEL_HOURS];
        if (e->o->decisions)
            memset(taken, 0, sizeof(taken));
        for (int j = 0; j < samples; j++) {
            struct planner_result res;
            e->pctx.seed = e->o->seed * UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)j;
            if (planner_plan(&e->pctx, &pd, NULL, &h, dc->created_at, dc->date, &res, NULL) <
                    0 ||
                !res.ncand)
                continue;
            contacts++;
            v += res.cand[0].p_reach;
            same += res.cand[0].kind == dc->kind && res.cand[0].how == how;
            taken[res.cand[0].kind * MODEL_HOURS + res.cand[0].how]++;
        }
        if (e->o->decisions) {
            char day[11];
            format_date(dc->date, day);
            for (int x = 0; x < _CHAN_KIND_MAX * MODEL_HOURS; x++)
                if (taken[x])
                    fprintf(e->o->decisions, "%s\t%s\t%d\t%d\t%.6f\n",
                            rec.external_id ? rec.external_id : "", day, x / MODEL_HOURS,
                            x % MODEL_HOURS, (double)taken[x] / samples);
        }
        struct model_estimate est;
        model_estimate(&md, (enum chan_kind)dc->kind, how, &est);
        e->obs[e->nobs++] = (struct ope_obs){
            .mu = dc->p,
            .pi = same / samples,
            .r = dc->reached,
            .q = est.mean,
            .v = v / samples,
        };
        e->res.target_contacts += contacts / samples;
        e->res.target_same += same / samples;
    }
    return 0;
}

static void eval_release(struct eval *e)
{
    for (size_t i = 0; i < e->sg.n; i++)
        free(e->sg.name[i]);
    free(e->sg.name);
    free(e->sg.v);
    free(e->w);
    free(e->d);
    free(e->obs);
    model_free(e->m);
    tz_cache_free(e->tzc);
}

int evaluate_run(struct store *s, const struct config *cfg, const struct strategy_set *target,
                 const struct evaluate_opts *o, struct evaluate_result *ret)
{
    struct eval *e = calloc(1, sizeof(*e));
    struct tz *utc = NULL;
    const char **channels = NULL;
    int r;
    if (!e)
        return -ENOMEM;
    e->cfg = cfg;
    e->o = o;
    int64_t from = (int64_t)o->from * 86400, to = ((int64_t)o->to + 1) * 86400;
    if ((r = tz_load("UTC", &utc)) < 0)
        goto out;
    e->utc = utc;
    if (!(e->tzc = tz_cache_new()) ||
        !(channels = calloc(cfg->nchannels + 1, sizeof(*channels)))) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < cfg->nchannels; i++)
        channels[i] = cfg->channels[i].name;
    if ((r = store_logged_decisions(s, from, to, dec_cb, e)) < 0 ||
        (r = store_segment_stats(s, seg_cb, &e->sg)) < 0 ||
        (r = store_stat_outcomes_since(s, from, wout_cb, e)) < 0)
        goto out;
    if (!e->nd) {
        r = -ENOENT;
        goto out;
    }
    /* the segment statistics as they stood at `from` (invariant 1) */
    size_t per = (size_t)_CHAN_KIND_MAX * MODEL_HOURS;
    int32_t *at = malloc((e->sg.n ? e->sg.n : 1) * per * sizeof(*at));
    if (!at) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t j = 0; j < (e->sg.n ? e->sg.n : 1) * per; j++)
        at[j] = -1;
    for (size_t j = 0; j < e->sg.nv; j++) {
        const struct segrow *x = &e->sg.v[j];
        if (x->kind >= 0 && x->kind < _CHAN_KIND_MAX && x->how >= 0 && x->how < MODEL_HOURS)
            at[x->seg * per + (size_t)x->kind * MODEL_HOURS + (size_t)x->how] = (int32_t)j;
    }
    for (size_t i = 0; i < e->nw; i++) {
        const struct wout *w = &e->w[i];
        int32_t j = w->seg >= 0 ? at[(size_t)w->seg * per + (size_t)w->kind * MODEL_HOURS +
                                     w->how]
                                : -1;
        if (j >= 0) {
            e->sg.v[j].a -= w->attempt;
            e->sg.v[j].r -= w->reach;
        }
    }
    free(at);
    if ((r = model_new(NULL, e->sg.n, &e->m)) < 0)
        goto out;
    for (size_t j = 0; j < e->sg.nv; j++) {
        const struct segrow *x = &e->sg.v[j];
        if (x->kind < 0 || x->kind >= _CHAN_KIND_MAX || x->how < 0 || x->how >= MODEL_HOURS ||
            x->a <= 0)
            continue;
        int64_t re = x->r < 0 ? 0 : x->r > x->a ? x->a : x->r;
        if ((r = model_segment_add(e->m, (int)x->seg, (enum chan_kind)x->kind, x->how,
                                   (uint64_t)x->a, (uint64_t)re)) < 0)
            goto out;
    }
    model_finish(e->m);
    struct store_plan_opts so = { .since = INT64_MAX, .no_attempts = true,
                                  .payments_only = true };
    int64_t n = store_plan_scan(s, &so, eb_row, e);
    if (n < 0) {
        r = (int)n;
        goto out;
    }
    model_eb_finish(e->m);

    if (!(e->obs = malloc(e->nd * sizeof(*e->obs)))) {
        r = -ENOMEM;
        goto out;
    }
    e->pctx = (struct planner_ctx){ .cfg = cfg, .set = target, .model = e->m };
    e->wi = e->di = 0;
    so = (struct store_plan_opts){
        .since = from - ((int64_t)PLANNER_HISTORY_DAYS + 1) * 86400,
        .now = from,
        .channels = channels,
        .nchannels = cfg->nchannels,
        .skip_idle_outcomes = true,
    };
    n = store_plan_scan(s, &so, plan_row, e);
    if (n < 0) {
        r = (int)n;
        goto out;
    }
    e->res.unknown_debtor = (int64_t)(e->nd - e->nobs);
    if (!e->nobs || (r = ope_estimate(e->obs, e->nobs, &e->res.e)) < 0) {
        r = -ENOENT;
        goto out;
    }
    e->res.target_contacts /= (double)e->nobs;
    e->res.target_same /= (double)e->nobs;
    *ret = e->res;
    r = 0;
out:
    free(channels);
    tz_free(utc);
    eval_release(e);
    free(e);
    return r;
}
