/*
 * webhook-bot.c - the `webhook-bot` channel plugin (kind chat): hands
 * each attempt to an in-house bot as one signed JSON POST, through
 * host->http.  The bot authenticates us by an HMAC-SHA256 over
 * timestamp "." body with a shared secret; SHA-256 (FIPS 180-4) and HMAC
 * (RFC 2104) are implemented here because a plugin includes only
 * cadenza-plugin.h (tests/unit/test-webhook-bot.c checks them against
 * FIPS and RFC 4231 vectors).  plugins/webhook-bot/README.md is the bot
 * author's contract.
 *
 * One send:  send ─► POST ─► wb_classify(status) ─► OK | RETRY | FAILED |
 *                                                   INVALID_ADDRESS | OPTED_OUT
 *
 * Invariants:
 *  1. Every send the host starts is completed exactly once, or send
 *     returns < 0 and never completes it.
 *  2. The signature covers exactly the bytes sent: the timestamp header's
 *     value, ".", and the body, signed after the body is complete.
 *  3. The secret never appears in a log line, a header or an error text.
 *  4. Authentication refusals (401, 403) are logged once per instance.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cadenza-plugin.h"

#define WB_ID_MAX 128

static const struct cz_setting wb_settings[] = {
    { "url", CZ_SETTING_STRING, NULL, 0, 0, NULL, true, "the bot's endpoint (http:// or https://)" },
    { "secret", CZ_SETTING_SECRET, NULL, 0, 0, NULL, true,
      "shared HMAC-SHA256 key (at least 16 bytes)" },
    { "signature_header", CZ_SETTING_STRING, "X-Cadenza-Signature", 0, 0, NULL, false,
      "header carrying sha256=<hex HMAC of timestamp.body>" },
    { "timestamp_header", CZ_SETTING_STRING, "X-Cadenza-Timestamp", 0, 0, NULL, false,
      "header carrying the signing time, Unix seconds" },
    { "timeout_ms", CZ_SETTING_INT, "10000", 100, 120000, NULL, false, "the whole HTTP exchange" },
    { "max_inflight", CZ_SETTING_INT, "256", 1, 100000, NULL, false,
      "requests at once; more sends are retried after a second" },
    { 0 },
};

/* ---- SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) ------------------------ */

struct sha256 {
    uint32_t h[8];
    uint64_t len;       /* bytes hashed */
    unsigned char blk[64];
    size_t n;           /* bytes in blk */
};

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5],
             g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha256_k[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
    s->h[5] += f;
    s->h[6] += g;
    s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(s->h, iv, sizeof(iv));
    s->len = 0;
    s->n = 0;
}

static void sha256_update(struct sha256 *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->len += len;
    if (s->n) {
        size_t k = 64 - s->n < len ? 64 - s->n : len;
        memcpy(s->blk + s->n, p, k);
        s->n += k;
        p += k;
        len -= k;
        if (s->n < 64)
            return;
        sha256_block(s, s->blk);
        s->n = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        sha256_block(s, p);
    memcpy(s->blk, p, len);
    s->n = len;
}

static void sha256_final(struct sha256 *s, unsigned char out[32])
{
    uint64_t bits = s->len * 8;
    s->blk[s->n++] = 0x80;
    if (s->n > 56) {
        memset(s->blk + s->n, 0, 64 - s->n);
        sha256_block(s, s->blk);
        s->n = 0;
    }
    memset(s->blk + s->n, 0, 56 - s->n);
    for (int i = 0; i < 8; i++)
        s->blk[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_block(s, s->blk);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(s->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)s->h[i];
    }
}

/*
 * HMAC-SHA256 of the concatenation of parts (RFC 2104): key longer than
 * the block is hashed first.  out receives 32 bytes.  Pure.
 */
static void hmac_sha256(const void *key, size_t keylen, const void *const *parts,
                        const size_t *lens, size_t nparts, unsigned char out[32])
{
    unsigned char k[64] = { 0 }, pad[64], inner[32];
    struct sha256 s;
    if (keylen > 64) {
        sha256_init(&s);
        sha256_update(&s, key, keylen);
        sha256_final(&s, k);
    } else if (keylen)
        memcpy(k, key, keylen);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    sha256_init(&s);
    sha256_update(&s, pad, 64);
    for (size_t i = 0; i < nparts; i++)
        sha256_update(&s, parts[i], lens[i]);
    sha256_final(&s, inner);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    sha256_init(&s);
    sha256_update(&s, pad, 64);
    sha256_update(&s, inner, 32);
    sha256_final(&s, out);
}

/*
 * The signature header's value for a timestamp and body:
 * "sha256=" and the lowercase hex HMAC of timestamp "." body (invariant 2),
 * into out[7 + 64 + 1].
 */
static void wb_sign(const char *secret, const char *ts, const char *body, size_t body_len,
                    char *out)
{
    static const char hex[] = "0123456789abcdef";
    const void *parts[] = { ts, ".", body };
    const size_t lens[] = { strlen(ts), 1, body_len };
    unsigned char mac[32];
    hmac_sha256(secret, strlen(secret), parts, lens, 3, mac);
    memcpy(out, "sha256=", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[mac[i] >> 4];
        out[8 + 2 * i] = hex[mac[i] & 15];
    }
    out[71] = 0;
}

/* ---- the body ---------------------------------------------------------------- */

struct buf {
    char *buf;
    size_t len, cap;
};

static int buf_add(struct buf *b, const void *p, size_t n)
{
    if (n >= SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->buf, cap);
        if (!q)
            return -ENOMEM;
        b->buf = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = 0;
    return 0;
}

static int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

static int buf_add_json_str(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int r = buf_add(b, "\"", 1);
    for (; *s && r >= 0; s++) {
        unsigned char c = (unsigned char)*s;
        char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
        if (c == '"' || c == '\\') {
            e[1] = (char)c;
            r = buf_add(b, e, 2);
        } else if (c == '\n')
            r = buf_add(b, "\\n", 2);
        else if (c < 0x20)
            r = buf_add(b, e, 6);
        else
            r = buf_add(b, s, 1);
    }
    if (r >= 0)
        r = buf_add(b, "\"", 1);
    return r;
}

/* ,"key":"value" when value is not NULL */
static int add_str(struct buf *b, const char *key, const char *value)
{
    if (!value)
        return 0;
    int r = buf_adds(b, ",\"");
    if (r >= 0)
        r = buf_adds(b, key);
    if (r >= 0)
        r = buf_adds(b, "\":");
    if (r >= 0)
        r = buf_add_json_str(b, value);
    return r;
}

static int add_int(struct buf *b, const char *key, long long v)
{
    char t[64];
    snprintf(t, sizeof(t), ",\"%s\":%lld", key, v);
    return buf_adds(b, t);
}

static const char *const kind_names[CZ_KIND_MAX_] = { "email", "sms", "chat", "call", "letter" };

/*
 * The JSON body for a job: attempt_id, idempotency_key, debtor_id,
 * channel, kind, address, locale, time_zone, not_after, tries,
 * redelivered, template, text, self_service_url (the absent ones left
 * out) and inputs (the job's inputs JSON object as the host gave it).
 * 0 or -ENOMEM.
 */
static int wb_body(const struct cz_job *job, struct buf *b)
{
    int r = buf_adds(b, "{\"attempt_id\":");
    char t[32];
    snprintf(t, sizeof(t), "%lld", (long long)job->attempt_id);
    if (r >= 0)
        r = buf_adds(b, t);
    if (r >= 0)
        r = add_str(b, "idempotency_key", job->idempotency_key);
    if (r >= 0)
        r = add_str(b, "debtor_id", job->debtor_id);
    if (r >= 0)
        r = add_str(b, "channel", job->instance);
    if (r >= 0)
        r = add_str(b, "kind", (unsigned)job->kind < CZ_KIND_MAX_ ? kind_names[job->kind] : NULL);
    if (r >= 0)
        r = add_str(b, "address", job->address);
    if (r >= 0)
        r = add_str(b, "locale", job->locale);
    if (r >= 0)
        r = add_str(b, "time_zone", job->time_zone);
    if (r >= 0)
        r = add_int(b, "not_after", job->not_after);
    if (r >= 0)
        r = add_int(b, "tries", job->tries);
    if (r >= 0)
        r = buf_adds(b, job->redelivered ? ",\"redelivered\":true" : ",\"redelivered\":false");
    if (r >= 0)
        r = add_str(b, "template", job->template_name);
    if (r >= 0)
        r = add_str(b, "text", job->text);
    if (r >= 0)
        r = add_str(b, "self_service_url", job->self_service_url);
    if (r >= 0)
        r = buf_adds(b, ",\"inputs\":");
    if (r >= 0)
        r = buf_adds(b, job->inputs_json && *job->inputs_json ? job->inputs_json : "{}");
    if (r >= 0)
        r = buf_adds(b, "}");
    return r;
}

/*
 * The result of a bot's HTTP status (README.md's contract): 2xx and 409
 * (already had it) sent, 410 opted out, 422 invalid address, 429, 408
 * and 5xx retry, the rest failed.  Pure.
 */
static enum cz_send_status wb_classify(int status)
{
    if ((status >= 200 && status < 300) || status == 409)
        return CZ_SEND_OK;
    if (status == 410)
        return CZ_SEND_OPTED_OUT;
    if (status == 422)
        return CZ_SEND_INVALID_ADDRESS;
    if (status == 429 || status == 408 || status >= 500 || status == 0)
        return CZ_SEND_RETRY;
    return CZ_SEND_FAILED;
}

/* ---- the channel ------------------------------------------------------------ */

struct wb_chan {
    struct cz_instance *inst;
    const struct cz_host *host;
    const char *url, *secret, *sig_header, *ts_header;
    int64_t timeout_ms, max_inflight, inflight;
    bool auth_logged;
};

struct wb_call {
    struct wb_chan *c;
    struct cz_send *send;
};

static void wb_on_reply(void *userdata, const struct cz_http_response *res)
{
    struct wb_call *k = userdata;
    struct wb_chan *c = k->c;
    char err[200], id[WB_ID_MAX] = "";
    c->inflight--;
    enum cz_send_status st = res->error ? CZ_SEND_RETRY : wb_classify(res->status);
    if (res->error)
        snprintf(err, sizeof(err), "webhook-bot: %s",
                 res->error_text ? res->error_text : "no response");
    else
        snprintf(err, sizeof(err), "webhook-bot: http status %d", res->status);
    if (st == CZ_SEND_OK)
        for (size_t i = 0; i < res->nheaders; i++)
            if (strcasecmp(res->headers[i].name, "X-Message-Id") == 0) {
                snprintf(id, sizeof(id), "%s", res->headers[i].value);
                break;
            }
    if (!res->error && (res->status == 401 || res->status == 403)) {
        if (!c->auth_logged)
            c->host->log(c->inst, CZ_LOG_ERROR, "the bot refuses our signature (http %d): "
                         "check 'secret' on both sides", res->status);
        c->auth_logged = true;
    }
    struct cz_result out = {
        .status = st,
        .provider_id = st == CZ_SEND_OK && *id ? id : NULL,
        .error = st == CZ_SEND_OK ? NULL : err,
        .retry_after_ms = st == CZ_SEND_RETRY ? res->retry_after_ms : 0,
    };
    c->host->complete(k->send, &out);
    free(k);
}

static bool header_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-'))
            return false;
    return true;
}

static int wb_init(struct cz_instance *inst, const struct cz_host *host, void **ret)
{
    if (host->abi_minor < 1 || !host->http) {
        host->log(inst, CZ_LOG_ERROR, "needs a host of plugin ABI 1.1 (host->http)");
        return -ENOTSUP;
    }
    struct wb_chan *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->inst = inst;
    c->host = host;
    c->url = host->setting_str(inst, "url");
    c->secret = host->setting_str(inst, "secret");
    c->sig_header = host->setting_str(inst, "signature_header");
    c->ts_header = host->setting_str(inst, "timestamp_header");
    c->timeout_ms = host->setting_int(inst, "timeout_ms");
    c->max_inflight = host->setting_int(inst, "max_inflight");
    const char *why = NULL;
    if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
        why = "url must start with http:// or https://";
    else if (strlen(c->secret) < 16)
        why = "secret must be at least 16 bytes";
    else if (!header_name_ok(c->sig_header) || !header_name_ok(c->ts_header))
        why = "header names must be letters, digits and '-'";
    if (why) {
        host->log(inst, CZ_LOG_ERROR, "%s", why);
        free(c);
        return -EINVAL;
    }
    *ret = c;
    return 0;
}

static int wb_send(void *state, const struct cz_job *job, struct cz_send *send)
{
    struct wb_chan *c = state;
    if (c->inflight >= c->max_inflight) {
        c->host->complete(send, &(struct cz_result){
            .status = CZ_SEND_RETRY, .error = "webhook-bot: max_inflight requests running",
            .retry_after_ms = 1000 });
        return 0;
    }
    struct buf body = { 0 };
    int r = wb_body(job, &body);
    if (r < 0) {
        free(body.buf);
        return r;
    }
    char ts[24], sig[72];
    snprintf(ts, sizeof(ts), "%lld", (long long)(c->host->wall_ms() / 1000));
    wb_sign(c->secret, ts, body.buf, body.len, sig);
    struct wb_call *k = calloc(1, sizeof(*k));
    if (!k) {
        free(body.buf);
        return -ENOMEM;
    }
    k->c = c;
    k->send = send;
    struct cz_header h[] = {
        { "Content-Type", "application/json" },
        { c->ts_header, ts },
        { c->sig_header, sig },
        { "Idempotency-Key", job->idempotency_key },
    };
    struct cz_http_request req = {
        .method = "POST", .url = c->url, .headers = h, .nheaders = 4,
        .body = body.buf, .body_len = body.len, .timeout_ms = c->timeout_ms,
        .connect_timeout_ms = c->timeout_ms < 5000 ? c->timeout_ms : 5000,
    };
    r = c->host->http(c->inst, &req, wb_on_reply, k);
    free(body.buf);
    if (r < 0) {
        free(k);
        return r;
    }
    c->inflight++;
    return 0;
}

static void wb_shutdown(void *state)
{
    free(state);
}

const struct cz_channel_plugin cz_channel_plugin = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = 1,
    .name = "webhook-bot",
    .description = "a signed JSON webhook (HMAC-SHA256) for in-house bots",
    .kinds = CZ_KIND_BIT(CZ_KIND_CHAT),
    .settings = wb_settings,
    .init = wb_init,
    .send = wb_send,
    .shutdown = wb_shutdown,
};
