/*
 * dispatch.c - enqueue a run's attempts, drain results (see dispatch.h).
 *
 * Owns: one page of jobs or results at a time (bounded memory whatever
 * the run's size).  Must never: acknowledge results before the store has
 * committed them, or mark an attempt QUEUED before Redis has its job.
 */
#include "dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "debtor.h"
#include "job.h"

#define PAGE 1000

struct page {
    struct job jobs[PAGE];
    int64_t ids[PAGE];
    size_t n;
    int64_t last_id;
    int64_t skipped_ids[PAGE];
    const char *skipped_why[PAGE];
    size_t nskipped;
    int r;
};

static void page_release(struct page *p)
{
    for (size_t i = 0; i < p->n; i++)
        job_release(&p->jobs[i]);
    p->n = 0;
    p->nskipped = 0;
}

static void format_amount(int64_t minor, const char *currency, char *buf, size_t len)
{
    int exp = currency_exponent(currency);
    if (exp < 0)
        exp = 2;
    if (exp == 0) {
        snprintf(buf, len, "%lld", (long long)minor);
        return;
    }
    if (exp > 4)
        exp = 4;
    int64_t div = 1;
    for (int i = 0; i < exp; i++)
        div *= 10;
    char frac[24];
    snprintf(frac, sizeof(frac), "%04lld", (long long)(llabs(minor) % div));
    snprintf(buf, len, "%lld.%s", (long long)(minor / div), frac + 4 - exp);
}

static int dup_into(char **dst, const char *src)
{
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -ENOMEM;
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
    struct job *j = &p->jobs[p->n];
    memset(j, 0, sizeof(*j));
    j->attempt_id = row->attempt_id;
    j->tier = -1;
    j->attempt = row->attempt_number;
    j->not_before = row->scheduled_at;
    j->not_after = row->not_after;
    j->windows[0] = (struct job_window){ row->scheduled_at, row->not_after };
    j->nwindows = 1;
    const char *kind = chan_kind_to_string((enum chan_kind)row->kind);
    if (dup_into(&j->idempotency_key, row->idempotency_key) < 0 ||
        dup_into(&j->debtor_id, row->debtor_id) < 0 || dup_into(&j->channel, row->channel) < 0 ||
        dup_into(&j->channel_kind, kind) < 0 || dup_into(&j->address, row->address) < 0 ||
        dup_into(&j->template_name, row->template_name) < 0 ||
        dup_into(&j->time_zone, row->time_zone) < 0 || dup_into(&j->strategy, row->strategy) < 0)
        goto oom;
    /* The message inputs a template may use (docs/strategies.md). */
    json_t *in = json_object();
    if (!in)
        goto oom;
    j->inputs = in;
    char amount[32], due[11];
    format_amount(row->balance_minor, row->currency, amount, sizeof(amount));
    json_object_set_new(in, "name", row->name ? json_string(row->name) : json_null());
    json_object_set_new(in, "locale", row->locale ? json_string(row->locale) : json_null());
    json_object_set_new(in, "amount", json_string(amount));
    json_object_set_new(in, "currency", row->currency ? json_string(row->currency) : json_null());
    if (row->due_date != INT32_MIN) {
        format_date(row->due_date, due);
        json_object_set_new(in, "due_date", json_string(due));
    }
    if (row->tier)
        json_object_set_new(in, "tier", json_string(row->tier));
    p->ids[p->n++] = row->attempt_id;
    return 0;
oom:
    job_release(j);
    return -ENOMEM;
}

int dispatch_enqueue_run(struct store *s, struct queue *q, int64_t run_id,
                         struct dispatch_enqueue_stats *ret, char *err, size_t errlen)
{
    struct dispatch_enqueue_stats st = { 0 };
    struct page *p = calloc(1, sizeof(*p));
    int r = 0;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (;;) {
        int n = store_run_attempts(s, run_id, ATTEMPT_PLANNED, p->last_id, PAGE, add_row, p);
        if (n < 0) {
            r = n;
            snprintf(err, errlen, "cannot read planned attempts: %s",
                     r == -ENOMEM ? "out of memory" : store_errmsg(s));
            break;
        }
        if (n == 0)
            break;
        size_t added = 0;
        if (p->n && (r = queue_enqueue_batch(q, p->jobs, p->n, &added)) < 0) {
            snprintf(err, errlen, "cannot enqueue jobs: %s",
                     queue_errstr(q)[0] ? queue_errstr(q) : strerror(-r));
            break;
        }
        /* Only now, with the jobs safely in Redis, mark them queued. */
        if ((r = store_begin(s)) < 0 || (r = store_attempts_mark_queued(s, p->ids, p->n)) < 0)
            goto store_fail;
        for (size_t i = 0; i < p->nskipped; i++) {
            struct store_result res = {
                .attempt_id = p->skipped_ids[i],
                .status = ATTEMPT_FAILED,
                .info = p->skipped_why[i],
            };
            int applied;
            if ((r = store_result_ingest(s, &res, &applied)) < 0)
                goto store_fail;
        }
        if ((r = store_commit(s)) < 0)
            goto store_fail;
        st.jobs += (int64_t)p->n;
        st.added += (int64_t)added;
        st.skipped += (int64_t)p->nskipped;
        page_release(p);
        continue;
    store_fail:
        snprintf(err, errlen, "cannot mark attempts queued: %s", store_errmsg(s));
        store_rollback(s);
        break;
    }
    page_release(p);
    free(p);
    *ret = st;
    return r < 0 ? r : 0;
}

/* ---- drain ---- */

struct drain_ctx {
    struct store *s;
    struct dispatch_drain_stats st;
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
    return 0;
}

int dispatch_drain(struct store *s, struct queue *q, struct dispatch_drain_stats *ret, char *err,
                   size_t errlen)
{
    struct drain_ctx c = { .s = s };
    int r;
    for (;;) {
        if ((r = store_begin(s)) < 0) {
            snprintf(err, errlen, "cannot write to the store: %s", store_errmsg(s));
            break;
        }
        int n = queue_read_results(q, PAGE, ingest_one, &c);
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
        /* Committed: now the stream may forget them. */
        if (n > 0 && (r = queue_ack_results(q)) < 0) {
            snprintf(err, errlen, "cannot acknowledge results: %s", queue_errstr(q));
            break;
        }
        if (n < PAGE)
            break;
    }
    *ret = c.st;
    return r < 0 ? r : 0;
}
