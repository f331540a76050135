/*
 * webhooks.c - the providers' callbacks (webhooks.h): Kannel delivery
 * reports, SMS status callbacks and VICIdial dispositions; WhatsApp's
 * webhooks (the hub.challenge, statuses[] and messages[]); and the
 * messages debtors send by SMS (an http-sms channel's inbound callback,
 * a Kannel MO).  Each checks the channel's shared token (and the
 * provider's signature where it signs), maps the provider's news to an
 * outcome code and hands it to the store writer (serve-internal.h),
 * which stores it once per attempt and event however often the provider
 * repeats it.  Inbound messages go through inbound.h (STOP words).
 *
 * A request is checked whole on the loop (size, token or signature, shape)
 * and refused with a 4xx naming the problem before anything is stored;
 * what passes is answered only after the writer committed it.
 */
#include "webhooks.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "http.h"
#include "inbound-store.h"
#include "log.h"
#include "metrics.h"
#include "outcome.h"
#include "plugin.h"
#include "serve-internal.h"
#include "store.h"
#include "wahook.h"

/* In the writer thread: the attempt's debtor and channel, then the outcome. */
static int dlr_store(struct writer_ctx *c, void *arg)
{
    struct api_req *a = arg;
    struct store_attempt_ref ref;
    int r = store_attempt_get(c->store, a->dlr_attempt, &ref);
    if (r == -ENOENT) {
        sbuf_addf(&a->err, "no attempt %" PRId64, a->dlr_attempt);
        return -EINVAL;
    }
    if (r < 0)
        return r;
    snprintf(a->debtor, sizeof(a->debtor), "%s", ref.debtor_external_id);
    snprintf(a->channel, sizeof(a->channel), "%s", ref.channel);
    struct ingest_row *row = &a->one.row;
    row->f[INGEST_DEBTOR_ID] = a->debtor;
    row->flen[INGEST_DEBTOR_ID] = strlen(a->debtor);
    row->f[INGEST_CHANNEL] = a->channel;
    row->flen[INGEST_CHANNEL] = strlen(a->channel);
    return api_req_store(c, arg);
}

static void dlr_submit(struct serve *sv, struct evhttp_request *req, const char *source,
                       long long id, const char *event, const char *outcome);

static const char *setting(const struct channel_conf *cc, const char *key)
{
    const struct plugin_value *v = cc->values ? plugin_settings_get(cc->values, key) : NULL;
    return v && v->present ? v->text : NULL;
}

/*
 * The channel of plugin whose secret setting key equals token (compared
 * in constant time), or NULL: how a provider's callback proves it knows
 * the channel's shared token.
 */
static const struct channel_conf *channel_by_token(const struct config *cfg, const char *plugin,
                                                   const char *key, const char *token)
{
    const struct channel_conf *hit = NULL;
    for (size_t i = 0; token && i < cfg->nchannels; i++) {
        const struct channel_conf *cc = &cfg->channels[i];
        const char *t = streq(cc->plugin, plugin) ? setting(cc, key) : NULL;
        if (t && strlen(t) == strlen(token) && CRYPTO_memcmp(t, token, strlen(t)) == 0)
            hit = cc;
    }
    return hit;
}

/*
 * GET /webhooks/kannel?attempt=ID&type=N&token=T: a Kannel delivery
 * report (the kannel plugin's dlr-url).  type 1 (delivered) stores
 * `delivered`, 16 (rejected by the SMSC) `bounced`, 2 (not delivered)
 * `failed`; 4 and 8 (buffered, accepted by the SMSC) store nothing.  One
 * outcome per attempt and type, however often Kannel retries.
 */
static void route_kannel(struct evhttp_request *req, const char *path, void *ud)
{
    struct serve *sv = ud;
    (void)path;
    struct evkeyvalq q;
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (!qs || evhttp_parse_query_str(qs, &q) < 0) {
        http_reply_error(req, 400, "expected attempt, type and token in the query");
        return;
    }
    const char *att = evhttp_find_header(&q, "attempt"), *type = evhttp_find_header(&q, "type");
    const char *token = evhttp_find_header(&q, "token");
    char *end = NULL;
    long long id = att ? strtoll(att, &end, 10) : 0;
    long t = type ? strtol(type, NULL, 10) : -1;
    if (!channel_by_token(sv->set->cfg, "kannel", "dlr_token", token)) {
        evhttp_clear_headers(&q);
        http_reply_error(req, 401, "unknown token");
        return;
    }
    if (id <= 0 || !end || *end || t < 0) {
        evhttp_clear_headers(&q);
        http_reply_error(req, 400, "attempt must be a positive id and type a number");
        return;
    }
    evhttp_clear_headers(&q);
    const char *outcome = t == 1 ? "delivered" : t == 16 ? "bounced" : t == 2 ? "failed" : NULL;
    if (!outcome) {
        http_reply(req, 200, "text/plain", "ok\n", 3); /* buffered or accepted: no news */
        return;
    }
    char event[24];
    snprintf(event, sizeof(event), "%ld", t);
    dlr_submit(sv, req, "dlr", id, event, outcome);
}

/* Queue a delivery report's outcome for an attempt (the debtor is looked up by dlr_store()). */
static void dlr_submit(struct serve *sv, struct evhttp_request *req, const char *source,
                       long long id, const char *event, const char *outcome)
{
    struct api_req *a = api_req_new(sv, req, source);
    if (!a)
        return;
    a->dlr_attempt = id;
    snprintf(a->strings[0], sizeof(a->strings[0]), "%lld:%s", id, event);
    struct ingest_row *row = api_req_one(a, outcome);
    /* the attempt key groups its outcomes: "a:<id>" like an import's attempt_id */
    row->f[INGEST_ATTEMPT_ID] = a->strings[0];
    row->flen[INGEST_ATTEMPT_ID] = strcspn(a->strings[0], ":");
    api_req_submit(a, dlr_store);
}

struct kv {
    const char *k, *v;
};
static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

/*
 * The X-Twilio-Signature scheme: base64(HMAC-SHA1(the channel's password,
 * the URL the provider called + every form parameter's name and value,
 * sorted by name)).  The URL is the one the plugin gave the provider (the
 * status callback's: status_url with attempt and token appended), or the
 * one configured at the provider (inbound messages: inbound_url and the
 * token).
 */
static bool form_signature_ok(const char *secret, const char *url, struct evkeyvalq *form,
                              const char *sig)
{
    if (!secret || !url || !sig)
        return false;
    struct sbuf m = SBUF_INIT;
    struct kv v[128];
    size_t n = 0;
    struct evkeyval *e;
    TAILQ_FOREACH(e, form, next) {
        if (n == ELEMENTSOF(v))
            break;
        v[n++] = (struct kv){ e->key, e->value };
    }
    qsort(v, n, sizeof(v[0]), kv_cmp);
    int r = sbuf_adds(&m, url);
    for (size_t i = 0; i < n && r >= 0; i++)
        r = sbuf_addf(&m, "%s%s", v[i].k, v[i].v);
    unsigned char mac[20];
    unsigned int mlen = 0;
    char want[32];
    bool ok = false;
    if (r >= 0 && HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)m.buf,
                       m.len, mac, &mlen) && mlen == 20) {
        EVP_EncodeBlock((unsigned char *)want, mac, 20); /* 28 characters */
        ok = strlen(sig) == 28 && CRYPTO_memcmp(want, sig, 28) == 0;
    }
    sbuf_release(&m);
    return ok;
}

/* A status callback's outcome: NULL for news that is not an outcome (queued, sent). */
static const char *status_outcome(const char *status, long code)
{
    static const struct {
        const char *status;
        const char *outcome;
    } map[] = {
        { "delivered", "delivered" }, { "undelivered", "failed" }, { "failed", "failed" },
        { "rejected", "failed" },     { "expired", "failed" },
    };
    const char *o = NULL;
    for (size_t i = 0; status && i < ELEMENTSOF(map); i++)
        if (streq(status, map[i].status))
            o = map[i].outcome;
    if (o && streq(o, "failed")) {
        /* the number cannot take messages: the address is bad, not the moment */
        if (code == 30003 || code == 30005 || code == 30006 || code == 21211 || code == 3)
            o = "bounced";
        else if (code == 21610) /* the recipient replied STOP */
            o = "opt_out";
    }
    return o;
}

/*
 * POST /webhooks/sms-status?attempt=ID&token=T: the http-sms channel's
 * status callback ({status_url}).  A form body (MessageStatus, ErrorCode)
 * must carry a valid X-Twilio-Signature; a JSON body ({"status", "err-code"})
 * is checked by the token alone.  Outcomes: delivered; failed, or bounced
 * for a number that cannot take messages, or opt_out for a recipient who
 * unsubscribed; nothing for queued, sent, accepted.
 */
static void route_sms_status(struct evhttp_request *req, const char *path, void *ud)
{
    struct serve *sv = ud;
    (void)path;
    struct evkeyvalq q, form;
    TAILQ_INIT(&form);
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (!qs || evhttp_parse_query_str(qs, &q) < 0) {
        http_reply_error(req, 400, "expected attempt and token in the query");
        return;
    }
    const char *att = evhttp_find_header(&q, "attempt");
    const struct channel_conf *cc = channel_by_token(sv->set->cfg, "http-sms", "status_token",
                                                     evhttp_find_header(&q, "token"));
    char *end = NULL;
    long long id = att ? strtoll(att, &end, 10) : 0;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *body = malloc(len + 1);
    const char *ctype = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    const char *status = NULL, *outcome = NULL;
    long code = 0;
    json_t *j = NULL;
    if (!cc) {
        http_reply_error(req, 401, "unknown token");
        goto out;
    }
    if (id <= 0 || !end || *end) {
        http_reply_error(req, 400, "attempt must be a positive id");
        goto out;
    }
    if (!body) {
        http_reply_error(req, 503, "out of memory");
        goto out;
    }
    evbuffer_copyout(in, body, len);
    body[len] = 0;
    if (ctype && strncmp(ctype, "application/json", 16) == 0) {
        json_error_t je;
        j = json_loadb(body, len, 0, &je);
        json_t *s = json_object_get(j, "status"), *ec = json_object_get(j, "err-code");
        if (!json_is_string(s)) {
            http_reply_error(req, 400, "expected a JSON object with a string 'status'");
            goto out;
        }
        status = json_string_value(s);
        code = json_is_string(ec) ? strtol(json_string_value(ec), NULL, 10)
               : json_is_integer(ec) ? (long)json_integer_value(ec) : 0;
    } else {
        if (evhttp_parse_query_str(body, &form) < 0) {
            http_reply_error(req, 400, "expected a form-encoded body");
            goto out;
        }
        const char *su = setting(cc, "status_url");
        char url[2048];
        snprintf(url, sizeof(url), "%s%cattempt=%s&token=%s", su ? su : "",
                 su && strchr(su, '?') ? '&' : '?', att, evhttp_find_header(&q, "token"));
        if (!su || !form_signature_ok(setting(cc, "password"), url, &form,
                                      evhttp_find_header(evhttp_request_get_input_headers(req),
                                                         "X-Twilio-Signature"))) {
            http_reply_error(req, 401, "X-Twilio-Signature does not match");
            goto out;
        }
        status = evhttp_find_header(&form, "MessageStatus");
        const char *ec = evhttp_find_header(&form, "ErrorCode");
        code = ec ? strtol(ec, NULL, 10) : 0;
        if (!status) {
            http_reply_error(req, 400, "MessageStatus is missing");
            goto out;
        }
    }
    if (!(outcome = status_outcome(status, code))) {
        http_reply(req, 200, "text/plain", "ok\n", 3);
        goto out;
    }
    char event[96];
    snprintf(event, sizeof(event), "%.60s:%ld", status, code);
    dlr_submit(sv, req, "status", id, event, outcome);
out:
    json_decref(j);
    free(body);
    evhttp_clear_headers(&form);
    evhttp_clear_headers(&q);
}

/* The outcome a VICIdial status maps to in a "STATUS=outcome,..." map; NULL: none. */
static const char *dispo_outcome(const char *map, const char *dispo)
{
    size_t n = strlen(dispo);
    for (const char *p = map; p && *p;) {
        const char *end = p + strcspn(p, ","), *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && (size_t)(eq - p) == n && strncmp(p, dispo, n) == 0) {
            for (int c = 0; c < _OUTCOME_MAX; c++) {
                const char *name = outcome_code_to_string((enum outcome_code)c);
                if (strlen(name) == (size_t)(end - eq - 1) && strncmp(eq + 1, name, strlen(name)) == 0)
                    return name;
            }
            return NULL;
        }
        p = *end ? end + 1 : end;
    }
    return NULL;
}

/*
 * GET /webhooks/vicidial?token=T&vendor_lead_code=CZ...&dispo=S: VICIdial's
 * Dispo Call URL (and No Agent Call URL) for leads the vicidial plugin
 * added.  The token is a vicidial channel's dispo_token; the lead's
 * vendor_lead_code names the attempt ("CZ" and its id in base 36); the
 * status maps to an outcome through the channel's dispo_map.  Once per
 * attempt and status.
 */
static void route_vicidial(struct evhttp_request *req, const char *path, void *ud)
{
    struct serve *sv = ud;
    const struct config *cfg = sv->set->cfg;
    (void)path;
    struct evkeyvalq q;
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (!qs || evhttp_parse_query_str(qs, &q) < 0) {
        http_reply_error(req, 400, "expected token, vendor_lead_code and dispo in the query");
        return;
    }
    const char *token = evhttp_find_header(&q, "token");
    const char *vlc = evhttp_find_header(&q, "vendor_lead_code");
    const char *dispo = evhttp_find_header(&q, "dispo");
    const struct channel_conf *cc = channel_by_token(cfg, "vicidial", "dispo_token", token);
    long long id = 0;
    bool ok = vlc && strncmp(vlc, "CZ", 2) == 0 && vlc[2] && strlen(vlc) <= 15;
    for (const char *p = ok ? vlc + 2 : ""; *p && ok; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'A' && *p <= 'Z' ? *p - 'A' + 10 : -1;
        ok = d >= 0 && id <= (INT64_MAX - d) / 36;
        id = id * 36 + d;
    }
    if (!cc)
        http_reply_error(req, 401, "unknown token");
    else if (!ok || id <= 0)
        http_reply_error(req, 400, "vendor_lead_code is not one of cadenza's (CZ and base 36)");
    else if (isempty(dispo))
        http_reply_error(req, 400, "dispo is missing");
    else {
        const char *outcome = dispo_outcome(setting(cc, "dispo_map"), dispo);
        if (!outcome)
            http_reply(req, 200, "text/plain", "ok\n", 3); /* a status the map leaves out */
        else
            dlr_submit(sv, req, "dispo", id, dispo, outcome);
    }
    evhttp_clear_headers(&q);
}

/* ---- WhatsApp and inbound messages ------------------------------------ */

#define INBOUND_BODY_MAX (64 * 1024) /* an SMS provider's inbound form */

enum { ST_IGNORED, ST_STORED, ST_DUPLICATE, ST_UNMATCHED, ST_INVALID, _ST_MAX };
static const char *const status_results[_ST_MAX] = {
    "ignored", "stored", "duplicate", "unmatched", "invalid",
};
_Static_assert(_ST_MAX == ELEMENTSOF(((struct webhooks_stats *)0)->statuses), "one per result");
_Static_assert(_INBOUND_RESULT_MAX + 1 == ELEMENTSOF(((struct webhooks_stats *)0)->inbound),
               "one per result, and the replies with a stop word");

/* One inbound message, checked on the loop. */
struct hook_msg {
    const struct channel_conf *cc;   /* the channel it came in on (in the request's set) */
    char sender[PHONE_E164_MAX];
    bool sender_ok;                  /* a valid number: else nobody we know */
    enum inbound_class cls;
    char *event_id;
    int64_t at;
    struct inbound_done done;        /* the writer's answer */
};

/* A WhatsApp delivery or an inbound message, from the loop to the writer and back. */
struct hook_req {
    struct serve *sv;
    struct evhttp_request *req;      /* NULL once the client went away */
    struct serve_set *set;           /* a reference */
    const char *source;              /* outcomes.source */
    bool twiml;                      /* answer as Twilio expects an inbound callback answered */
    struct wahook wa;                /* statuses (WhatsApp) */
    uint8_t *status_result;
    struct hook_msg *msgs;
    size_t nmsgs;
    struct sbuf err;
};

static void hook_req_free(struct hook_req *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nmsgs; i++)
        free(h->msgs[i].event_id);
    free(h->msgs);
    free(h->status_result);
    wahook_release(&h->wa);
    sbuf_release(&h->err);
    if (h->set)
        serve_set_unref(h->set);
    free(h);
}

static void hook_refuse(struct serve *sv, struct evhttp_request *req, int code, const char *msg)
{
    int k = code == 400 ? 0 : code == 401 ? 1 : code == 403 ? 2 : code == 404 ? 3
          : code == 413 ? 4 : 5;
    sv->hooks.refused[k]++;
    http_reply_error(req, code, "%s", msg);
}

static struct hook_req *hook_req_new(struct serve *sv, struct evhttp_request *req,
                                     const char *source, size_t nmsgs)
{
    struct hook_req *h = calloc(1, sizeof(*h));
    if (!h || (nmsgs && !(h->msgs = calloc(nmsgs, sizeof(*h->msgs))))) {
        free(h);
        http_reply_error(req, 503, "out of memory");
        return NULL;
    }
    h->sv = sv;
    h->req = req;
    h->source = source;
    h->set = sv->set;
    sv->set->refs++;
    return h;
}

/* The writer's answer, for a status: NULL when the status is none of ours. */
static int status_attempt(struct writer_ctx *c, const struct wahook_status *st,
                          struct store_attempt_ref *ref)
{
    int r = store_attempt_by_provider_id(c->store, st->id, ref);
    if (r != -ENOENT || !st->callback)
        return r;
    /* the send's result may not have reached the store yet: our key came back too */
    int64_t id, debtor;
    if ((r = store_attempt_find(c->store, st->callback, &id, &debtor)) < 0)
        return r;
    return store_attempt_get(c->store, id, ref);
}

/* In the writer thread: every status and message of the request, or none. */
static int hook_store(struct writer_ctx *c, void *arg)
{
    struct hook_req *h = arg;
    const struct config *cfg = h->set->cfg;
    struct ingest_ctx *x = NULL;
    int r = 0;
    if (h->wa.nstatuses && (r = ingest_ctx_new(cfg, c->store, c->now, h->source, &x)) < 0)
        return r;
    for (size_t i = 0; i < h->wa.nstatuses; i++) {
        const struct wahook_status *st = &h->wa.statuses[i];
        const char *outcome = wahook_status_outcome(st->status, st->error_code);
        struct store_attempt_ref ref;
        h->status_result[i] = ST_IGNORED;
        if (!outcome)
            continue;
        if ((r = status_attempt(c, st, &ref)) == -ENOENT) {
            h->status_result[i] = ST_UNMATCHED; /* sent by another system on that number */
            r = 0;
            continue;
        }
        if (r < 0)
            goto out;
        char dedupe[400];
        snprintf(dedupe, sizeof(dedupe), "%s:%.300s:%.40s", h->source, st->id, st->status);
        struct inbound_outcome o = {
            .debtor_id = ref.debtor_external_id, .channel = ref.channel, .outcome = outcome,
            .at = st->at > 0 && st->at <= c->now ? st->at : c->now, .attempt_id = ref.id,
            .dedupe_key = dedupe,
        };
        int added = 0;
        size_t e0 = h->err.len;
        r = inbound_outcome(c, x, &o, &added, &h->err);
        if (r == -EINVAL) {
            /* signed by the provider, about an attempt of ours that no longer fits
             * the configuration (its channel was removed): kept out, counted */
            h->status_result[i] = ST_INVALID;
            h->err.len = e0;
            r = 0;
            continue;
        }
        if (r < 0)
            goto out;
        h->status_result[i] = added ? ST_STORED : ST_DUPLICATE;
    }
    for (size_t i = 0; i < h->nmsgs; i++) {
        struct hook_msg *m = &h->msgs[i];
        m->done = (struct inbound_done){ .result = INBOUND_UNKNOWN_SENDER };
        if (!m->sender_ok)
            continue;
        struct inbound_msg im = {
            .source = h->source, .event_id = m->event_id, .channel = m->cc,
            .sender = m->sender, .cls = m->cls,
            .at = m->at > 0 && m->at <= c->now ? m->at : c->now,
        };
        if ((r = inbound_store(c, cfg, &im, &m->done, &h->err)) < 0)
            goto out;
    }
out:
    ingest_ctx_free(x);
    return r;
}

static void hook_conn_closed(struct evhttp_connection *conn, void *arg)
{
    struct hook_req *h = arg;
    (void)conn;
    h->req = NULL;
}

/* On the loop, after the group committed: count, log, answer. */
static void hook_done(void *arg, int r)
{
    struct hook_req *h = arg;
    struct webhooks_stats *hs = &h->sv->hooks;
    size_t st[_ST_MAX] = { 0 }, in[_INBOUND_RESULT_MAX] = { 0 }, confirmations = 0;
    if (r == 0) {
        for (size_t i = 0; i < h->wa.nstatuses; i++) {
            st[h->status_result[i]]++;
            hs->statuses[h->status_result[i]]++;
        }
        for (size_t i = 0; i < h->nmsgs; i++) {
            const struct hook_msg *m = &h->msgs[i];
            in[m->done.result]++;
            hs->inbound[m->done.result]++;
            confirmations += m->done.confirmation;
            if (m->done.result == INBOUND_REVOKED)
                log_info("[inbound:%s] stop word (message '%.64s'): consent revoked for %zu "
                         "debtor(s), %zu suppression(s) added%s", m->cc->name, m->event_id,
                         m->done.debtors, m->done.suppressed,
                         m->done.confirmation ? ", one confirmation queued" : "");
            if (m->cls == INBOUND_MAYBE_STOP && m->done.result == INBOUND_REPLIED) {
                hs->inbound[_INBOUND_RESULT_MAX]++;
                log_notice("[inbound:%s] reply '%.64s' has a stop word in a longer text: stored "
                           "as replied; read it (TCPA: revocation by any reasonable means)",
                           m->cc->name, m->event_id);
            }
        }
    }
    if (h->req) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(h->req), NULL, NULL);
        if (r < 0)
            http_reply_error(h->req, 503, "the store cannot take it now; retry later%s%s",
                             h->err.len ? ": " : "", h->err.len ? h->err.buf : "");
        else if (h->twiml) {
            static const char empty[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                                        "<Response></Response>\n";
            http_reply(h->req, 200, "text/xml", empty, sizeof(empty) - 1);
        } else {
            struct sbuf b = SBUF_INIT;
            int q = sbuf_adds(&b, "{");
            for (size_t k = 0; k < _ST_MAX && q >= 0 && h->wa.nstatuses; k++)
                q = sbuf_addf(&b, "%s\"statuses_%s\":%zu", b.len > 1 ? "," : "",
                              status_results[k], st[k]);
            for (size_t k = 0; k < _INBOUND_RESULT_MAX && q >= 0 && h->nmsgs; k++)
                q = sbuf_addf(&b, "%s\"messages_%s\":%zu", b.len > 1 ? "," : "",
                              inbound_result_names[k], in[k]);
            if (q >= 0 && h->nmsgs)
                q = sbuf_addf(&b, ",\"confirmations\":%zu", confirmations);
            if (q >= 0)
                q = sbuf_adds(&b, "}\n");
            if (q < 0)
                http_reply(h->req, 200, "application/json", "{}\n", 3);
            else
                http_reply(h->req, 200, "application/json", b.buf, b.len);
            sbuf_release(&b);
        }
    }
    hook_req_free(h);
}

static void hook_submit(struct hook_req *h)
{
    if (writer_submit(h->sv->writer, hook_store, hook_done, h) < 0) {
        http_reply_error(h->req, 503, "shutting down");
        hook_req_free(h);
        return;
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(h->req), hook_conn_closed, h);
}

/* hub.challenge: Meta's own are digits; anything beyond a plain token is refused. */
static bool challenge_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 128)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~") == n;
}

static bool any_setting(const struct config *cfg, const char *plugin, const char *key)
{
    for (size_t i = 0; i < cfg->nchannels; i++)
        if (streq(cfg->channels[i].plugin, plugin) && setting(&cfg->channels[i], key))
            return true;
    return false;
}

/*
 * GET /webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C:
 * Meta's check of the callback URL.  The challenge comes back (200,
 * text/plain) when T is a whatsapp channel's verify_token, else 403.
 */
static void whatsapp_verify(struct serve *sv, struct evhttp_request *req)
{
    const struct config *cfg = sv->set->cfg;
    struct evkeyvalq q;
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (!any_setting(cfg, "whatsapp", "verify_token")) {
        hook_refuse(sv, req, 404, "WhatsApp webhooks are not configured (a whatsapp channel's "
                                  "verify_token)");
        return;
    }
    if (!qs || evhttp_parse_query_str(qs, &q) < 0) {
        hook_refuse(sv, req, 400, "expected hub.mode, hub.verify_token and hub.challenge in "
                                  "the query");
        return;
    }
    const char *mode = evhttp_find_header(&q, "hub.mode");
    const char *token = evhttp_find_header(&q, "hub.verify_token");
    const char *challenge = evhttp_find_header(&q, "hub.challenge");
    if (!mode || !streq(mode, "subscribe"))
        hook_refuse(sv, req, 400, "hub.mode must be 'subscribe'");
    else if (!challenge_ok(challenge))
        hook_refuse(sv, req, 400, "hub.challenge must be 1 to 128 letters, digits, '-', '.', "
                                  "'_' or '~'");
    else if (!channel_by_token(cfg, "whatsapp", "verify_token", token))
        hook_refuse(sv, req, 403, "hub.verify_token does not match");
    else
        http_reply(req, 200, "text/plain", challenge, strlen(challenge));
    evhttp_clear_headers(&q);
}

/* The channel a change was addressed to: the signer with its phone_number_id, else the first. */
static const struct channel_conf *wa_channel(const struct channel_conf *const *signers, size_t n,
                                             const char *pnid)
{
    for (size_t i = 0; pnid && i < n; i++) {
        const char *p = setting(signers[i], "phone_number_id");
        if (p && streq(p, pnid))
            return signers[i];
    }
    return signers[0];
}

/*
 * POST /webhooks/whatsapp: statuses[] and messages[] (wahook.h), signed
 * with X-Hub-Signature-256 by the app secret of a whatsapp channel.
 */
static void whatsapp_post(struct serve *sv, struct evhttp_request *req)
{
    const struct config *cfg = sv->set->cfg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *sig = evhttp_find_header(evhttp_request_get_input_headers(req),
                                         WAHOOK_SIGNATURE_HEADER);
    if (!any_setting(cfg, "whatsapp", "app_secret")) {
        hook_refuse(sv, req, 404, "WhatsApp webhooks are not configured (a whatsapp channel's "
                                  "app_secret)");
        return;
    }
    if (len > WAHOOK_BODY_MAX) {
        hook_refuse(sv, req, 413, "the body is over 512 KiB");
        return;
    }
    if (!sig) {
        hook_refuse(sv, req, 401, WAHOOK_SIGNATURE_HEADER " is missing (sha256=<hex HMAC-SHA256 "
                                  "of the body with the app secret>)");
        return;
    }
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    const struct channel_conf **signers = calloc(cfg->nchannels + 1, sizeof(*signers));
    size_t ns = 0;
    if (!signers) {
        http_reply_error(req, 503, "out of memory");
        return;
    }
    for (size_t i = 0; i < cfg->nchannels; i++) {
        const struct channel_conf *cc = &cfg->channels[i];
        const char *secret = streq(cc->plugin, "whatsapp") ? setting(cc, "app_secret") : NULL;
        int ok = secret ? wahook_signature_check(secret, sig, body, len) : 0;
        if (ok < 0) {
            free(signers);
            hook_refuse(sv, req, 401, WAHOOK_SIGNATURE_HEADER " is not 'sha256=<64 hex digits>'");
            return;
        }
        if (ok)
            signers[ns++] = cc;
    }
    if (!ns) {
        free(signers);
        hook_refuse(sv, req, 401, WAHOOK_SIGNATURE_HEADER " does not match");
        return;
    }
    struct wahook wa;
    struct sbuf e = SBUF_INIT;
    int r = wahook_parse(body, len, &wa, &e);
    if (r < 0) {
        if (r == -ENOMEM)
            http_reply_error(req, 503, "out of memory");
        else
            hook_refuse(sv, req, r == -E2BIG ? 413 : 400, e.buf ? e.buf : "invalid body");
        sbuf_release(&e);
        free(signers);
        return;
    }
    sbuf_release(&e);
    struct hook_req *h = hook_req_new(sv, req, "whatsapp", wa.nmessages);
    if (!h) {
        wahook_release(&wa);
        free(signers);
        return;
    }
    h->wa = wa;
    h->nmsgs = wa.nmessages;
    if (wa.nstatuses && !(h->status_result = calloc(wa.nstatuses, 1))) {
        http_reply_error(req, 503, "out of memory");
        hook_req_free(h);
        free(signers);
        return;
    }
    for (size_t i = 0; i < wa.nmessages; i++) {
        const struct wahook_message *wm = &wa.messages[i];
        struct hook_msg *m = &h->msgs[i];
        m->cc = wa_channel(signers, ns, wm->phone_number_id);
        m->sender_ok = inbound_sender(wm->from, strlen(wm->from), true, NULL, m->sender) == 0;
        m->cls = wm->text ? inbound_classify(cfg->inbound, wm->text, strlen(wm->text))
                          : INBOUND_REPLY;
        m->at = wm->at;
        if (!(m->event_id = strdup(wm->id))) {
            http_reply_error(req, 503, "out of memory");
            hook_req_free(h);
            free(signers);
            return;
        }
    }
    free(signers);
    hook_submit(h);
}

static void route_whatsapp(struct evhttp_request *req, const char *path, void *ud)
{
    (void)path;
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET)
        whatsapp_verify(ud, req);
    else
        whatsapp_post(ud, req);
}

/* Submit one inbound SMS (the routes below have checked it). */
static void inbound_submit(struct serve *sv, struct evhttp_request *req, const char *source,
                           const struct channel_conf *cc, const char *from, const char *text,
                           const char *event_id, int64_t at, bool twiml)
{
    const struct config *cfg = sv->set->cfg;
    struct hook_req *h = hook_req_new(sv, req, source, 1);
    if (!h)
        return;
    struct hook_msg *m = &h->msgs[0];
    h->nmsgs = 1;
    h->twiml = twiml;
    m->cc = cc;
    m->sender_ok = inbound_sender(from, strlen(from), false, cfg->default_country,
                                  m->sender) == 0;
    m->cls = inbound_classify(cfg->inbound, text, strlen(text));
    m->at = at;
    if (!(m->event_id = strdup(event_id))) {
        http_reply_error(req, 503, "out of memory");
        hook_req_free(h);
        return;
    }
    hook_submit(h);
}

/*
 * POST /webhooks/sms-inbound?token=T: an http-sms channel's inbound
 * messages (the provider's messaging webhook set to inbound_url with the
 * channel's status_token), a form (From, Body, MessageSid) signed with
 * X-Twilio-Signature over inbound_url?token=T.  Answered with an empty
 * TwiML response: the confirmation of a STOP goes through the queue.
 */
static void route_sms_inbound(struct evhttp_request *req, const char *path, void *ud)
{
    struct serve *sv = ud;
    (void)path;
    struct evkeyvalq q, form;
    TAILQ_INIT(&q);
    TAILQ_INIT(&form);
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (!qs || evhttp_parse_query_str(qs, &q) < 0) {
        hook_refuse(sv, req, 400, "expected the channel's token in the query");
        return;
    }
    const char *token = evhttp_find_header(&q, "token");
    const struct channel_conf *cc = channel_by_token(sv->set->cfg, "http-sms", "status_token",
                                                     token);
    const char *iu = cc ? setting(cc, "inbound_url") : NULL;
    char msg[300], url[2048], *body = NULL;
    if (!cc) {
        hook_refuse(sv, req, 401, "unknown token");
        goto out;
    }
    if (!iu) {
        snprintf(msg, sizeof(msg), "inbound messages are not configured on channel '%s' "
                                   "(inbound_url)", cc->name);
        hook_refuse(sv, req, 404, msg);
        goto out;
    }
    if (cc->kind != CHAN_SMS) {
        snprintf(msg, sizeof(msg), "channel '%s' is not an SMS channel", cc->name);
        hook_refuse(sv, req, 400, msg);
        goto out;
    }
    if (len > INBOUND_BODY_MAX) {
        hook_refuse(sv, req, 413, "the body is over 64 KiB");
        goto out;
    }
    if (!(body = malloc(len + 1))) {
        http_reply_error(req, 503, "out of memory");
        goto out;
    }
    evbuffer_copyout(in, body, len);
    body[len] = 0;
    if (strlen(body) != len || evhttp_parse_query_str(body, &form) < 0) {
        hook_refuse(sv, req, 400, "expected a form-encoded body (From, Body, MessageSid)");
        goto out;
    }
    const char *sig = evhttp_find_header(evhttp_request_get_input_headers(req),
                                         "X-Twilio-Signature");
    snprintf(url, sizeof(url), "%s%ctoken=%s", iu, strchr(iu, '?') ? '&' : '?', token);
    if (!sig) {
        hook_refuse(sv, req, 401, "X-Twilio-Signature is missing");
        goto out;
    }
    if (!form_signature_ok(setting(cc, "password"), url, &form, sig)) {
        hook_refuse(sv, req, 401, "X-Twilio-Signature does not match");
        goto out;
    }
    const char *from = evhttp_find_header(&form, "From");
    const char *text = evhttp_find_header(&form, "Body");
    const char *sid = evhttp_find_header(&form, "MessageSid");
    if (!sid)
        sid = evhttp_find_header(&form, "SmsMessageSid");
    if (isempty(from))
        hook_refuse(sv, req, 400, "From is missing");
    else if (isempty(sid) || strlen(sid) > 200)
        hook_refuse(sv, req, 400, "MessageSid is missing (1 to 200 characters)");
    else
        inbound_submit(sv, req, "sms-inbound", cc, from, text ? text : "", sid,
                       (int64_t)time(NULL), true);
out:
    free(body);
    evhttp_clear_headers(&form);
    evhttp_clear_headers(&q);
}

/*
 * GET /webhooks/kannel-mo?token=T&from=%p&text=%a[&id=%I][&time=%T]: a
 * message to a kannel channel's number (Kannel's sms-service get-url; the
 * token is the channel's dlr_token).  Without Kannel's message id, the
 * sender, the text and the minute (or the given time) name the message.
 */
static void route_kannel_mo(struct evhttp_request *req, const char *path, void *ud)
{
    struct serve *sv = ud;
    (void)path;
    struct evkeyvalq q;
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (!qs || evhttp_parse_query_str(qs, &q) < 0) {
        hook_refuse(sv, req, 400, "expected token, from and text in the query");
        return;
    }
    const char *token = evhttp_find_header(&q, "token");
    const char *from = evhttp_find_header(&q, "from"), *text = evhttp_find_header(&q, "text");
    const char *id = evhttp_find_header(&q, "id"), *tm = evhttp_find_header(&q, "time");
    const struct channel_conf *cc = channel_by_token(sv->set->cfg, "kannel", "dlr_token", token);
    char event[256], *end = NULL;
    long long at = tm && *tm ? strtoll(tm, &end, 10) : 0;
    if (!cc)
        hook_refuse(sv, req, 401, "unknown token");
    else if (cc->kind != CHAN_SMS)
        hook_refuse(sv, req, 400, "the token's channel is not an SMS channel");
    else if (isempty(from))
        hook_refuse(sv, req, 400, "from is missing (Kannel's %p)");
    else if (!text)
        hook_refuse(sv, req, 400, "text is missing (Kannel's %a)");
    else if (tm && *tm && (!end || *end || at < 0))
        hook_refuse(sv, req, 400, "time must be Unix seconds (Kannel's %T)");
    else if (id && (!*id || strlen(id) > 200))
        hook_refuse(sv, req, 400, "id must be 1 to 200 characters (Kannel's %I)");
    else {
        int64_t now = (int64_t)time(NULL);
        if (id)
            snprintf(event, sizeof(event), "id:%s", id);
        else {
            /* the same message again within the minute is Kannel repeating it */
            char k[64];
            snprintf(k, sizeof(k), "|%lld", at ? at : (long long)(now / 60));
            uint64_t hv = hash64(from, strlen(from), 0x6b616e6e656cULL);
            hv = hash64(text, strlen(text), hv);
            hv = hash64(k, strlen(k), hv);
            snprintf(event, sizeof(event), "h:%016llx", (unsigned long long)hv);
        }
        inbound_submit(sv, req, "kannel-mo", cc, from, text, event, at ? at : now, false);
    }
    evhttp_clear_headers(&q);
}

int webhooks_metrics(struct serve *sv, struct sbuf *b)
{
    static const char *const refused_codes[] = { "400", "401", "403", "404", "413", "other" };
    const struct webhooks_stats *hs = &sv->hooks;
    struct writer_stats ws;
    writer_stats_get(sv->writer, &ws);
    int r = prom_family(b, "cadenza_whatsapp_statuses_total", "counter",
                        "WhatsApp statuses by what became of them (unmatched: no attempt of "
                        "ours has that message id)");
    for (size_t i = 0; i < _ST_MAX && r >= 0; i++) {
        struct prom_label l = { "result", status_results[i] };
        r = prom_sample(b, "cadenza_whatsapp_statuses_total", &l, 1, (double)hs->statuses[i]);
    }
    if (r >= 0)
        r = prom_family(b, "cadenza_inbound_messages_total", "counter",
                        "Messages debtors sent (SMS, Kannel MO, WhatsApp) by result "
                        "(possible_stop: a reply with a stop word in a longer text)");
    for (size_t i = 0; i <= _INBOUND_RESULT_MAX && r >= 0; i++) {
        struct prom_label l = { "result", i < _INBOUND_RESULT_MAX ? inbound_result_names[i]
                                                                  : "possible_stop" };
        r = prom_sample(b, "cadenza_inbound_messages_total", &l, 1, (double)hs->inbound[i]);
    }
    if (r >= 0)
        r = prom_family(b, "cadenza_webhook_refused_total", "counter",
                        "WhatsApp and inbound-message requests refused, by answer");
    for (size_t i = 0; i < ELEMENTSOF(refused_codes) && r >= 0; i++) {
        struct prom_label l = { "code", refused_codes[i] };
        r = prom_sample(b, "cadenza_webhook_refused_total", &l, 1, (double)hs->refused[i]);
    }
    if (r >= 0)
        r = prom_family(b, "cadenza_optout_confirmations_total", "counter",
                        "Opt-out confirmation jobs, by result (failed: Redis did not take them)");
    if (r >= 0) {
        struct prom_label l = { "result", "enqueued" };
        r = prom_sample(b, "cadenza_optout_confirmations_total", &l, 1,
                        (double)ws.jobs_enqueued);
    }
    if (r >= 0) {
        struct prom_label l = { "result", "failed" };
        r = prom_sample(b, "cadenza_optout_confirmations_total", &l, 1, (double)ws.jobs_failed);
    }
    return r;
}

int webhooks_routes(struct serve *sv, struct http_server *http)
{
    if (http_route(http, "kannel", HTTP_GET, "/webhooks/kannel", false, route_kannel, sv) < 0 ||
        http_route(http, "sms-status", HTTP_POST, "/webhooks/sms-status", false,
                   route_sms_status, sv) < 0 ||
        http_route(http, "vicidial", HTTP_GET, "/webhooks/vicidial", false, route_vicidial,
                   sv) < 0 ||
        http_route(http, "whatsapp", HTTP_GET | HTTP_POST, "/webhooks/whatsapp", false,
                   route_whatsapp, sv) < 0 ||
        http_route(http, "sms-inbound", HTTP_POST, "/webhooks/sms-inbound", false,
                   route_sms_inbound, sv) < 0 ||
        http_route(http, "kannel-mo", HTTP_GET, "/webhooks/kannel-mo", false, route_kannel_mo,
                   sv) < 0)
        return -ENOMEM;
    return 0;
}
