/*
 * inbound-store.c - what the store writer does with a message a debtor
 * sent (inbound-store.h), and with an outcome a provider reports.
 *
 *   inbound_store():
 *     debtors with that phone or chat handle ─ none ─► UNKNOWN_SENDER
 *       └─► one outcome per debtor (opt_out for STOP, else replied),
 *           keyed by the message id ─ all stored before ─► DUPLICATE
 *             ├─ REPLY, MAYBE_STOP ─► REPLIED
 *             └─ STOP ─► suppress the number (sms, call, chat; each debtor's
 *                phone and chat handle), stop markers
 *                  ├─ the channel's kind had the number suppressed ─► REVOKED_BEFORE
 *                  └─ it had not ─► REVOKED + one confirmation attempt and job
 *
 * Must never: send more than one confirmation per revocation, change
 * anything for a number no debtor has, or log a message's text.
 *
 * Invariants:
 *  1. A revocation is the (channel kind, number) suppression this message
 *     added: it exists once in the store (UNIQUE(channel_kind, address)),
 *     so however often STOP is sent, through whichever provider retry,
 *     one confirmation at most follows it.
 *  2. Everything a message changes is written in the writer's part of
 *     the request: a store error undoes the outcomes, suppressions, stop
 *     markers and the confirmation together.
 */
#include "inbound-store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"
#include "outcome.h"
#include "store.h"

const char *const inbound_result_names[_INBOUND_RESULT_MAX] = {
    [INBOUND_UNKNOWN_SENDER] = "unknown_sender", [INBOUND_DUPLICATE] = "duplicate",
    [INBOUND_REPLIED] = "replied",               [INBOUND_REVOKED] = "revoked",
    [INBOUND_REVOKED_BEFORE] = "revoked_before",
};

int inbound_outcome(struct writer_ctx *c, struct ingest_ctx *x, const struct inbound_outcome *o,
                    int *ret_added, struct sbuf *e)
{
    char at[32], aid[24];
    struct tm tm;
    time_t t = (time_t)o->at;
    gmtime_r(&t, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct ingest_row row = { 0 };
    const char *f[_INGEST_MAX] = {
        [INGEST_DEBTOR_ID] = o->debtor_id, [INGEST_CHANNEL] = o->channel,
        [INGEST_ATTEMPTED_AT] = at,        [INGEST_OUTCOME] = o->outcome,
    };
    if (o->attempt_id > 0) {
        /* the attempt key groups its outcomes: "a:<id>", as the delivery reports' */
        snprintf(aid, sizeof(aid), "%lld", (long long)o->attempt_id);
        f[INGEST_ATTEMPT_ID] = aid;
    }
    for (int i = 0; i < _INGEST_MAX; i++) {
        row.f[i] = f[i];
        row.flen[i] = f[i] ? strlen(f[i]) : 0;
    }
    struct ingest_prepared p;
    size_t e0 = e->len;
    int r = ingest_prepare(x, &row, &p, e);
    if (r < 0)
        return r;
    if (e->len > e0)
        return -EINVAL;
    struct store_outcome so = p.o;
    so.attempt_key = p.attempt_key[0] ? p.attempt_key : NULL;
    if (o->attempt_id > 0)
        so.attempt_id = o->attempt_id;
    so.dedupe_key = o->dedupe_key;
    int added = 0;
    if ((r = store_outcome_add(c->store, &so, &added)) < 0) {
        sbuf_addf(e, "cannot store the outcome: %s", store_errmsg(c->store));
        return r;
    }
    if (added && p.stops &&
        (r = writer_stop_marker(c, o->debtor_id,
                                outcome_stop_reason((enum outcome_code)p.o.code),
                                c->now + INGEST_STOP_SECONDS)) < 0)
        return r;
    *ret_added = added;
    return 0;
}

/* A debtor the sender's number reaches, copied out of the store's row. */
struct contact {
    int64_t id;
    char external_id[161];
    char locale[17];
    char time_zone[129];
    char name[201];
    char phone[PHONE_E164_MAX];
    char chat_handle[201];
};

struct contacts {
    struct contact *v;
    size_t n;
};

static void copy(char *dst, size_t max, const char *s)
{
    snprintf(dst, max, "%s", s ? s : "");
}

static int add_contact(void *ctx, const struct store_contact *sc)
{
    struct contacts *cs = ctx;
    if (cs->n >= STORE_CONTACTS_MAX)
        return 0;
    struct contact *c = &cs->v[cs->n++];
    c->id = sc->id;
    copy(c->external_id, sizeof(c->external_id), sc->external_id);
    copy(c->locale, sizeof(c->locale), sc->locale);
    copy(c->time_zone, sizeof(c->time_zone), sc->time_zone);
    copy(c->name, sizeof(c->name), sc->name);
    copy(c->phone, sizeof(c->phone), sc->phone);
    copy(c->chat_handle, sizeof(c->chat_handle), sc->chat_handle);
    return 0;
}

/* The one confirmation of a new revocation: its attempt now, its job after the commit. */
static int confirm(struct writer_ctx *c, const struct inbound_msg *m, const struct contact *ct,
                   const char *tpl, bool *ret_queued, struct sbuf *e)
{
    const struct channel_conf *cc = m->channel;
    char key[256];
    snprintf(key, sizeof(key), "optout:%.64s:%s:%lld", cc->name, m->sender, (long long)c->now);
    struct store_attempt_new an = {
        .debtor_id = ct->id,
        .key = key,
        .strategy = "inbound",
        .variant = "",
        .tier = "opt-out",
        .channel = cc->name,
        .template_name = tpl,
        .kind = (int)cc->kind,
        .scheduled_at = c->now,
        .not_after = c->now + INBOUND_CONFIRM_SECONDS,
        .created_at = c->now,
        .p_choice = -1,
    };
    int64_t id = 0;
    int r = store_attempt_add(c->store, &an, &id);
    if (r < 0) {
        sbuf_addf(e, "cannot record the confirmation: %s", store_errmsg(c->store));
        return r;
    }
    if (id == 0)
        return 0; /* recorded before (invariant 1 makes this unreachable) */
    struct sbuf in = SBUF_INIT;
    r = sbuf_addc(&in, '{');
    if (r >= 0 && ct->name[0]) {
        r = sbuf_adds(&in, "\"name\":");
        if (r >= 0)
            r = sbuf_add_json_str(&in, ct->name, strlen(ct->name));
    }
    if (r >= 0)
        r = sbuf_addc(&in, '}');
    struct job j = {
        .attempt_id = id,
        .idempotency_key = key,
        .debtor_id = (char *)ct->external_id,
        .channel = cc->name,
        .channel_kind = (char *)chan_kind_to_string(cc->kind),
        .address = (char *)m->sender,
        .template_name = (char *)tpl,
        .time_zone = ct->time_zone[0] ? (char *)ct->time_zone : NULL,
        .locale = ct->locale[0] ? (char *)ct->locale : NULL,
        .strategy = "inbound",
        .tier = -1,
        .not_before = c->now,
        .not_after = c->now + INBOUND_CONFIRM_SECONDS,
        .notice = true,
        .inputs_json = in.buf,
        .inputs_json_len = in.len,
    };
    if (r >= 0)
        r = job_pack(&j);
    sbuf_release(&in);
    if (r < 0)
        return -ENOMEM;
    if ((r = writer_enqueue(c, &j)) < 0)
        return r;
    *ret_queued = true;
    return 0;
}

int inbound_store(struct writer_ctx *c, const struct config *cfg, const struct inbound_msg *m,
                  struct inbound_done *ret, struct sbuf *e)
{
    struct contacts cs = { calloc(STORE_CONTACTS_MAX, sizeof(*cs.v)), 0 };
    struct ingest_ctx *x = NULL;
    struct inbound_done done = { .result = INBOUND_UNKNOWN_SENDER };
    char dedupe[512];
    int r = -ENOMEM;
    if (!cs.v)
        goto out;
    if ((r = store_debtors_by_address(c->store, m->sender, add_contact, &cs)) < 0) {
        sbuf_addf(e, "cannot look the sender up: %s", store_errmsg(c->store));
        goto out;
    }
    r = 0;
    if (!(done.debtors = cs.n))
        goto out; /* nobody we know: nothing changes */
    if ((r = ingest_ctx_new(cfg, c->store, c->now, m->source, &x)) < 0)
        goto out;
    bool stop = m->cls == INBOUND_STOP;
    for (size_t i = 0; i < cs.n; i++) {
        int added = 0;
        snprintf(dedupe, sizeof(dedupe), "%s:%.200s:%s", m->source, m->event_id,
                 cs.v[i].external_id);
        struct inbound_outcome o = {
            .debtor_id = cs.v[i].external_id, .channel = m->channel->name,
            .outcome = stop ? "opt_out" : "replied", .at = m->at, .dedupe_key = dedupe,
        };
        if ((r = inbound_outcome(c, x, &o, &added, e)) < 0)
            goto out;
        done.stored += (size_t)added;
    }
    if (!done.stored) {
        done.result = INBOUND_DUPLICATE; /* a provider's retry: done the first time */
        goto out;
    }
    if (!stop) {
        done.result = INBOUND_REPLIED;
        goto out;
    }
    /* invariant 1: the channel's own (kind, number) first: is the revocation new? */
    char reason[96];
    snprintf(reason, sizeof(reason), "stop word (%.64s)", m->channel->name);
    int fresh = 0, added;
    if ((r = store_suppression_add(c->store, cs.v[0].id, (int)m->channel->kind, m->sender, reason,
                                   c->now, &fresh)) < 0)
        goto store_error;
    done.suppressed += (size_t)fresh;
    for (size_t i = 0; i < cs.n; i++) {
        const struct contact *ct = &cs.v[i];
        static const int phone_kinds[] = { CHAN_SMS, CHAN_CALL };
        for (size_t k = 0; k < ELEMENTSOF(phone_kinds) && ct->phone[0]; k++) {
            if ((r = store_suppression_add(c->store, ct->id, phone_kinds[k], ct->phone, reason,
                                           c->now, &added)) < 0)
                goto store_error;
            done.suppressed += (size_t)added;
        }
        if (ct->chat_handle[0]) {
            if ((r = store_suppression_add(c->store, ct->id, CHAN_CHAT, ct->chat_handle, reason,
                                           c->now, &added)) < 0)
                goto store_error;
            done.suppressed += (size_t)added;
        }
    }
    done.result = fresh ? INBOUND_REVOKED : INBOUND_REVOKED_BEFORE;
    if (fresh && cfg->inbound && cfg->inbound->confirmation_template &&
        (r = confirm(c, m, &cs.v[0], cfg->inbound->confirmation_template, &done.confirmation,
                     e)) < 0)
        goto out;
    r = 0;
    goto out;
store_error:
    sbuf_addf(e, "cannot suppress the number: %s", store_errmsg(c->store));
out:
    ingest_ctx_free(x);
    free(cs.v);
    if (r >= 0)
        *ret = done;
    return r;
}
