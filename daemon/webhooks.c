/*
 * webhooks.c - the providers' callbacks (webhooks.h): Kannel delivery
 * reports, SMS status callbacks and VICIdial dispositions.  Each checks
 * the channel's shared token (and the provider's signature where it
 * signs), maps the provider's news to an outcome code and hands one
 * record to the store writer (serve-internal.h), which stores it once per
 * attempt and event however often the provider repeats it.
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

#include "http.h"
#include "outcome.h"
#include "plugin.h"
#include "serve-internal.h"
#include "store.h"

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
 * sorted by name)).  The URL is the one the plugin gave the provider:
 * status_url with attempt and token appended.
 */
static bool form_signature_ok(const struct channel_conf *cc, const char *att, const char *token,
                              struct evkeyvalq *form, const char *sig)
{
    const char *secret = setting(cc, "password"), *su = setting(cc, "status_url");
    if (!secret || !su || !sig)
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
    int r = sbuf_addf(&m, "%s%cattempt=%s&token=%s", su, strchr(su, '?') ? '&' : '?', att, token);
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
        if (!form_signature_ok(cc, att, evhttp_find_header(&q, "token"), &form,
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

int webhooks_routes(struct serve *sv, struct http_server *http)
{
    if (http_route(http, "kannel", HTTP_GET, "/webhooks/kannel", false, route_kannel, sv) < 0 ||
        http_route(http, "sms-status", HTTP_POST, "/webhooks/sms-status", false,
                   route_sms_status, sv) < 0 ||
        http_route(http, "vicidial", HTTP_GET, "/webhooks/vicidial", false, route_vicidial,
                   sv) < 0)
        return -ENOMEM;
    return 0;
}
