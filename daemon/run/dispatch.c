/*
 * dispatch.c - enqueue a run's attempts, drain results (see dispatch.h).
 *
 * Owns: two pages of jobs (one being built, one in Redis's hands) or one
 * page of results at a time (bounded memory whatever the run's size).
 * Must never: acknowledge results before the store has committed them,
 * or mark an attempt QUEUED before Redis has its job.
 *
 * Invariants:
 *  1. A page is committed (attempts marked QUEUED) only after
 *     queue_enqueue_wait() returned 0 for it; pages are committed in the
 *     order they were read.
 */
#include "dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brief.h"
#include "config.h"
#include "debtor.h"
#include "job.h"
#include "tz.h"
#include "util.h"

#define PAGE 1000

struct page {
    struct job jobs[PAGE];
    int64_t ids[PAGE];
    int32_t labels[PAGE];
    size_t n;            /* jobs built */
    size_t nids;         /* jobs sent, waiting to be recorded */
    int64_t last_id;
    int64_t skipped_ids[PAGE];
    const char *skipped_why[PAGE];
    size_t nskipped;
    struct sbuf scratch; /* one job's inputs text while it is built */
    int r;
};

/* Release the jobs (not the ids and skipped rows of a page in flight). */
static void page_release(struct page *p)
{
    for (size_t i = 0; i < p->n; i++)
        job_release(&p->jobs[i]);
    p->n = 0;
}

/* minor units as a decimal amount in the currency's digits ("125.50"), no printf */
static size_t format_amount(int64_t minor, const char *currency, char *buf /* [32] */)
{
    int exp = currency_exponent(currency);
    if (exp < 0)
        exp = 2;
    if (exp > 4)
        exp = 4;
    uint64_t u = minor < 0 ? -(uint64_t)minor : (uint64_t)minor;
    char d[32], *p = d + sizeof(d);
    for (int i = 0; i < exp; i++) {
        *--p = (char)('0' + u % 10);
        u /= 10;
    }
    if (exp > 0)
        *--p = '.';
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10));
    if (minor < 0)
        *--p = '-';
    size_t n = (size_t)(d + sizeof(d) - p);
    memcpy(buf, p, n);
    buf[n] = 0;
    return n;
}

/* ,"key":"value" or ,"key":null; a value that is not UTF-8 is left out */
static int add_input(struct sbuf *b, const char *key, const char *v)
{
    if (v && !utf8_valid(v, strlen(v)))
        return 0;
    int r = sbuf_adds(b, key);
    if (r >= 0)
        r = v ? job_json_str(b, v, strlen(v)) : sbuf_add(b, "null", 4);
    return r;
}

int dispatch_job_from_row(const struct store_dispatch_row *row, struct sbuf *scratch,
                          struct job *ret)
{
    struct job j = {
        .attempt_id = row->attempt_id,
        .tier = -1,
        .attempt = row->attempt_number,
        .not_before = row->scheduled_at,
        .not_after = row->not_after,
        .nwindows = 1,
        /* borrowed until job_pack() copies them */
        .idempotency_key = (char *)row->idempotency_key,
        .debtor_id = (char *)row->debtor_id,
        .channel = (char *)row->channel,
        .channel_kind = (char *)chan_kind_to_string((enum chan_kind)row->kind),
        .address = (char *)row->address,
        .template_name = (char *)row->template_name,
        .time_zone = (char *)row->time_zone,
        .strategy = (char *)row->strategy,
        .locale = (char *)row->locale,
    };
    j.windows[0] = (struct job_window){ row->scheduled_at, row->not_after };
    /*
     * The message inputs a template may use (docs/strategies.md), written
     * as JSON text straight away: the worker reads them back as text too.
     */
    char amount[32], due[11];
    format_amount(row->balance_minor, row->currency, amount);
    sbuf_reset(scratch);
    int r = sbuf_addc(scratch, '{');
    if (r >= 0)
        r = add_input(scratch, "\"name\":", row->name);
    if (r >= 0)
        r = add_input(scratch, scratch->len > 1 ? ",\"amount\":" : "\"amount\":", amount);
    if (r >= 0)
        r = add_input(scratch, ",\"currency\":", row->currency);
    if (r >= 0 && row->due_date != INT32_MIN) {
        format_date(row->due_date, due);
        r = add_input(scratch, ",\"due_date\":", due);
    }
    if (r >= 0 && row->tier)
        r = add_input(scratch, ",\"tier\":", row->tier);
    if (r >= 0 && row->inputs_extra && scratch->len > 1)
        r = sbuf_adds(scratch, row->inputs_extra);
    if (r >= 0)
        r = sbuf_addc(scratch, '}');
    if (r < 0)
        return -ENOMEM;
    j.inputs_json = scratch->buf;
    j.inputs_json_len = scratch->len;
    if (job_pack(&j) < 0)
        return -ENOMEM;
    *ret = j;
    return 0;
}

static int add_row(void *ctx, const struct store_dispatch_row *row)
{
    struct page *p = ctx;
    p->last_id = row->attempt_id;
    if (!row->address || row->not_after <= row->scheduled_at) {
        p->skipped_ids[p->nskipped] = row->attempt_id;
        p->skipped_why[p->nskipped++] = !row->address ? "the debtor has no address for the channel"
                                                      : "no legal send window was recorded";
        return 0;
    }
    int r = dispatch_job_from_row(row, &p->scratch, &p->jobs[p->n]);
    if (r < 0)
        return r;
    p->labels[p->n] = row->label;
    p->ids[p->n++] = row->attempt_id;
    return 0;
}

/* Wait for a sent page (if it had jobs), then let the source record it. */
static int page_settle(struct queue *q, const struct dispatch_source_ops *ops, void *ud,
                       struct page *p, struct dispatch_enqueue_stats *st, char *err,
                       size_t errlen)
{
    size_t added = 0;
    int r;
    if (p->nids && (r = queue_enqueue_wait(q, &added)) < 0) {
        snprintf(err, errlen, "cannot enqueue jobs: %s",
                 queue_errstr(q)[0] ? queue_errstr(q) : strerror(-r));
        return r;
    }
    /* Only now, with the jobs safely in Redis, may the source mark them queued. */
    const struct dispatch_committed c = { p->ids, p->labels, p->nids, p->skipped_ids,
                                          p->skipped_why, p->nskipped };
    if ((r = ops->commit(ud, &c, err, errlen)) < 0)
        return r;
    st->jobs += (int64_t)p->nids;
    st->added += (int64_t)added;
    st->skipped += (int64_t)p->nskipped;
    p->nids = 0;
    p->nskipped = 0;
    return 0;
}

int dispatch_enqueue_rows(struct queue *q, const struct dispatch_source_ops *ops, void *ud,
                          struct dispatch_enqueue_stats *ret, char *err, size_t errlen)
{
    struct dispatch_enqueue_stats st = { 0 };
    struct page *pages = calloc(2, sizeof(*pages)), *inflight = NULL;
    int64_t last_id = 0;
    int r = 0;
    if (!pages) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    /*
     * Two pages: while Redis runs the calls of one, the next is read and
     * built, and the one before is recorded (invariant 1 still holds:
     * a page is recorded only after queue_enqueue_wait() said it is in).
     */
    for (int cur = 0;; cur ^= 1) {
        struct page *p = &pages[cur];
        p->last_id = last_id;
        int n = ops->fetch(ud, last_id, PAGE, add_row, p, err, errlen);
        if (n < 0) {
            r = n;
            if (r == -ENOMEM)
                snprintf(err, errlen, "out of memory");
            break;
        }
        if (n == 0)
            break;
        last_id = p->last_id;
        if (p->n && (r = queue_enqueue_send(q, p->jobs, p->n)) < 0) {
            snprintf(err, errlen, "cannot enqueue jobs: %s",
                     queue_errstr(q)[0] ? queue_errstr(q) : strerror(-r));
            break;
        }
        p->nids = p->n;
        page_release(p); /* the calls hold copies: only the ids are needed now */
        if (inflight && (r = page_settle(q, ops, ud, inflight, &st, err, errlen)) < 0)
            break;
        inflight = p;
    }
    if (r >= 0 && inflight)
        r = page_settle(q, ops, ud, inflight, &st, err, errlen);
    if (r < 0)
        queue_enqueue_drop(q);
    for (int i = 0; i < 2; i++) {
        page_release(&pages[i]);
        sbuf_release(&pages[i].scratch);
    }
    free(pages);
    *ret = st;
    return r < 0 ? r : 0;
}

/* `cadenza run`: the run's planned attempts, from the store and back. */
struct store_source {
    struct store *s;
    int64_t run_id;
    const struct strategy_set *set;
    const struct dispatch_enqueue_hooks *hooks; /* or NULL */
    struct tz_cache *tzc;
    struct sbuf brief;     /* one call's brief members, reused */
    const struct store_dispatch_row *row; /* the attempt being briefed */
    int (*next)(void *ctx, const struct store_dispatch_row *r);
    void *next_ctx;
};

/* The brief of one call attempt's debtor, as of the attempt's slot, into ss->brief. */
static int brief_of(void *ctx, const struct store_brief_row *d)
{
    struct store_source *ss = ctx;
    const struct tz *z;
    int r = tz_cache_get(ss->tzc, d->rec.time_zone ? d->rec.time_zone : "UTC", &z);
    if (r < 0)
        return r == -ENOMEM ? r : -ENOENT; /* a zone that cannot load: no brief */
    struct brief_input in = {
        .debtor_id = d->rec.external_id,
        .name = d->rec.name,
        .locale = d->rec.locale,
        .currency = d->rec.currency,
        .tz = z,
        .balance_minor = d->rec.balance_minor,
        .due_date = d->rec.due_date,
        .payday = d->rec.payday,
        .flags = d->rec.flags,
        .tags = d->rec.tags,
        .outcomes = d->outcomes,
        .noutcomes = d->noutcomes,
        .now = ss->row->scheduled_at,
    };
    struct tz_local l;
    tz_to_local(z, in.now, &l);
    int dpd = in.due_date != INT32_MIN ? l.days - in.due_date : 0;
    brief_strategy(ss->set, &d->rec, dpd, d->strategy, d->variant, d->tier, &in);
    struct brief b;
    if ((r = brief_build(&in, &b)) < 0)
        return -ENOENT;
    sbuf_reset(&ss->brief);
    return brief_job_inputs(&b, &ss->brief);
}

/*
 * Between the store and the page: a call attempt gets its debtor's brief
 * (a debtor or a zone that cannot be read leaves the job without one;
 * the dialer plugins then brief from the plain inputs).
 */
static int brief_row(void *ctx, const struct store_dispatch_row *r)
{
    struct store_source *ss = ctx;
    struct store_dispatch_row with = *r;
    if (ss->hooks && ss->hooks->label)
        with.label = ss->hooks->label(ss->hooks->ctx, r);
    if (r->kind != CHAN_CALL || !r->debtor_id)
        return ss->next(ss->next_ctx, &with);
    ss->row = r;
    int64_t since = r->scheduled_at - (int64_t)BRIEF_HISTORY_DAYS * 86400;
    int e = store_brief_get(ss->s, 0, r->debtor_id, since, brief_of, ss);
    if (e < 0 && e != -ENOENT)
        return e;
    with.inputs_extra = e >= 0 ? ss->brief.buf : NULL;
    return ss->next(ss->next_ctx, &with);
}

static int store_fetch(void *ud, int64_t after_id, int limit,
                       int (*row)(void *ctx, const struct store_dispatch_row *r), void *ctx,
                       char *err, size_t errlen)
{
    struct store_source *ss = ud;
    if (ss->hooks && ss->hooks->cancel &&
        atomic_load_explicit(ss->hooks->cancel, memory_order_relaxed)) {
        snprintf(err, errlen, "stopped");
        return -ECANCELED;
    }
    ss->next = row;
    ss->next_ctx = ctx;
    int n = store_run_attempts(ss->s, ss->run_id, ATTEMPT_PLANNED, after_id, limit, brief_row,
                               ss);
    if (n < 0 && n != -ENOMEM)
        snprintf(err, errlen, "cannot read planned attempts: %s", store_errmsg(ss->s));
    return n;
}

static int store_commit_page(void *ud, const struct dispatch_committed *c, char *err,
                             size_t errlen)
{
    struct store *s = ((struct store_source *)ud)->s;
    const struct dispatch_enqueue_hooks *hk = ((struct store_source *)ud)->hooks;
    int r;
    if (hk && hk->cancel && atomic_load_explicit(hk->cancel, memory_order_relaxed)) {
        /* the page's jobs are in Redis; a later run marks them (the queue skips them) */
        snprintf(err, errlen, "stopped");
        return -ECANCELED;
    }
    if ((r = store_begin(s)) < 0 || (r = store_attempts_mark_queued(s, c->ids, c->n)) < 0)
        goto fail;
    for (size_t i = 0; i < c->nskipped; i++) {
        struct store_result res = {
            .attempt_id = c->skipped_ids[i],
            .status = ATTEMPT_FAILED,
            .info = c->skipped_why[i],
        };
        int applied;
        if ((r = store_result_ingest(s, &res, &applied)) < 0)
            goto fail;
    }
    if ((r = store_commit(s)) < 0)
        goto fail;
    if (hk && hk->committed && c->n)
        hk->committed(hk->ctx, c->labels, c->n);
    return 0;
fail:
    snprintf(err, errlen, "cannot mark attempts queued: %s", store_errmsg(s));
    store_rollback(s);
    return r;
}

int dispatch_enqueue_run(struct store *s, struct queue *q, int64_t run_id,
                         const struct strategy_set *set, struct dispatch_enqueue_stats *ret,
                         char *err, size_t errlen)
{
    return dispatch_enqueue_run_hooked(s, q, run_id, set, NULL, ret, err, errlen);
}

int dispatch_enqueue_run_hooked(struct store *s, struct queue *q, int64_t run_id,
                                const struct strategy_set *set,
                                const struct dispatch_enqueue_hooks *hooks,
                                struct dispatch_enqueue_stats *ret, char *err, size_t errlen)
{
    static const struct dispatch_source_ops ops = { store_fetch, store_commit_page };
    struct store_source ss = { .s = s, .run_id = run_id, .set = set, .hooks = hooks,
                               .brief = SBUF_INIT };
    if (!(ss.tzc = tz_cache_new())) {
        snprintf(err, errlen, "out of memory");
        *ret = (struct dispatch_enqueue_stats){ 0 };
        return -ENOMEM;
    }
    int r = dispatch_enqueue_rows(q, &ops, &ss, ret, err, errlen);
    sbuf_release(&ss.brief);
    tz_cache_free(ss.tzc);
    return r;
}

/* ---- drain ---- */

struct drain_ctx {
    struct store *s;
    struct dispatch_drain_stats st;
    /* the page's results that moved an attempt to a final status, told after the commit */
    int64_t applied_ids[PAGE];
    uint8_t applied_st[PAGE];
    size_t napplied;
};

static int ingest_one(void *userdata, const struct queue_result *qr)
{
    struct drain_ctx *c = userdata;
    c->st.results++;
    if (qr->attempt_id <= 0 || !qr->status) {
        c->st.foreign++;
        return 0;
    }
    struct store_result res = {
        .attempt_id = qr->attempt_id,
        .info = qr->info,
        .tries = qr->tries,
        .at = qr->at_ms / 1000,
    };
    if (strcmp(qr->status, "retry") == 0)
        res.retry = true;
    else {
        res.status = attempt_status_from_string(qr->status);
        if (res.status <= ATTEMPT_QUEUED) {
            c->st.foreign++;
            return 0;
        }
    }
    int applied = 0;
    int r = store_result_ingest(c->s, &res, &applied);
    if (r < 0)
        return r;
    c->st.applied += applied;
    if (applied && !res.retry && c->napplied < PAGE) {
        c->applied_ids[c->napplied] = res.attempt_id;
        c->applied_st[c->napplied++] = (uint8_t)res.status;
    }
    return 0;
}

int dispatch_drain(struct store *s, struct queue *q, struct dispatch_drain_stats *ret, char *err,
                   size_t errlen)
{
    return dispatch_drain_notify(s, q, NULL, NULL, ret, err, errlen);
}

int dispatch_drain_notify(struct store *s, struct queue *q, dispatch_applied_fn applied,
                          void *ctx, struct dispatch_drain_stats *ret, char *err, size_t errlen)
{
    struct drain_ctx *c = calloc(1, sizeof(*c));
    int r;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        *ret = (struct dispatch_drain_stats){ 0 };
        return -ENOMEM;
    }
    c->s = s;
    for (;;) {
        c->napplied = 0;
        if ((r = store_begin(s)) < 0) {
            snprintf(err, errlen, "cannot write to the store: %s", store_errmsg(s));
            break;
        }
        int n = queue_read_results(q, PAGE, ingest_one, c);
        if (n < 0) {
            r = n;
            store_rollback(s);
            if (r == -EIO || r == -ENOMEM || r == -EBUSY)
                snprintf(err, errlen, "cannot record results: %s", store_errmsg(s));
            else
                snprintf(err, errlen, "cannot read results: %s",
                         queue_errstr(q)[0] ? queue_errstr(q) : strerror(-r));
            break;
        }
        if ((r = store_commit(s)) < 0) {
            snprintf(err, errlen, "cannot write to the store: %s", store_errmsg(s));
            store_rollback(s);
            break;
        }
        for (size_t i = 0; applied && i < c->napplied; i++)
            applied(ctx, c->applied_ids[i], (enum attempt_status)c->applied_st[i]);
        /* Committed: now the stream may forget them. */
        if (n > 0 && (r = queue_ack_results(q)) < 0) {
            snprintf(err, errlen, "cannot acknowledge results: %s", queue_errstr(q));
            break;
        }
        if (n < PAGE)
            break;
    }
    *ret = c->st;
    free(c);
    return r < 0 ? r : 0;
}
