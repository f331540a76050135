/*
 * kannel.c - the `kannel` channel plugin: sends each SMS through a Kannel
 * smsbox's `sendsms` HTTP interface (a GET with the message in the query),
 * over the host's non-blocking HTTP (host->http, plugin ABI 1.1), and asks
 * Kannel to report deliveries to our webhook with the attempt id in the URL.
 *
 * Settings (kn_settings[]; the host rejects unknown keys):
 *   url           the sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms
 *   username      sendsms user (Kannel's `sendsms-user` group)
 *   password      its password (never logged)
 *   from          the sender (number or alphanumeric); Kannel's default if unset
 *   dlr_url       base URL of our delivery-report webhook; the plugin appends
 *                 attempt=<id>, type=%d (Kannel fills in the report type) and
 *                 token=<dlr_token> when a token is given
 *   dlr_token     shared secret the webhook checks (unreserved URL characters)
 *   dlr_mask      Kannel's dlr-mask (default 31: every report type)
 *   timeout_ms    the whole HTTP exchange
 *   max_inflight  sendsms requests at once; more sends wait in order
 *
 * The request: username, password, from, to (the E.164 address), text
 * (the rendered UTF-8 text), charset=UTF-8 always (Kannel otherwise reads
 * 7-bit text as another charset and mangles ñ or €), coding=2 when the
 * text has a character outside GSM 03.38 (so Kannel sends UCS-2), dlr-mask
 * and dlr-url.  Every value is percent-encoded (kn_urlencode).
 *
 * Replies (kn_classify; texts from Kannel 1.4's smsbox):
 *   202 "0: Accepted for delivery"          CZ_SEND_OK
 *   202 "3: Queued for later delivery"      CZ_SEND_OK (Kannel retries the SMSC)
 *   403 "Authorization failed for sendsms"  CZ_SEND_FAILED, logged once per run of failures
 *   403 "...denied by white- and/or black-lists"  CZ_SEND_INVALID_ADDRESS
 *   4xx naming the receiver ("Missing receiver number, rejected", "Empty
 *       receiver number not allowed, rejected")     CZ_SEND_INVALID_ADDRESS
 *   other 4xx ("Not routable. Do not try again.", "... misformed, rejected")
 *                                                   CZ_SEND_FAILED
 *   5xx ("Sending failed." 503: bearerbox is away), no reply, timeout,
 *       connection refused                          CZ_SEND_RETRY (with Retry-After)
 * Kannel gives no message id in the reply: deliveries are matched by the
 * attempt id in the dlr-url.
 *
 * Owns its state, the prebuilt query prefix and the requests in flight or
 * waiting.  Never blocks, never keeps a pointer into a job (the URL is
 * built during send), never logs the password or the text.
 *
 * A request's life:
 *
 *     kn_send ──► WAITING (in k->wait, when max_inflight are out)
 *        │            │ kn_drain (a slot freed)
 *        ▼            ▼
 *     IN FLIGHT (host->http started, in k->flight) ──kn_done──► completed, freed
 *        └── host->http < 0: in send, send returns it (no completion);
 *            from the queue, completed CZ_SEND_RETRY
 *
 * Invariants:
 *  1. Every send that returned 0 is completed exactly once (kn_done, or
 *     kn_start failing from the queue); one that returned < 0 never is.
 *  2. At most max_inflight requests are in flight; waiting ones start in
 *     the order their sends came.
 *  3. The request URL holds the text and the address only percent-encoded:
 *     no byte outside the unreserved set is sent as is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cadenza-plugin.h"

#define KN_URL_MAX (64 * 1024) /* a sendsms URL longer than this is refused */

static const struct cz_setting kn_settings[] = {
    { .key = "url", .type = CZ_SETTING_STRING, .required = true,
      .doc = "Kannel's sendsms URL (http://host:13013/cgi-bin/sendsms)" },
    { .key = "username", .type = CZ_SETTING_STRING, .doc = "sendsms user" },
    { .key = "password", .type = CZ_SETTING_SECRET, .doc = "sendsms password" },
    { .key = "from", .type = CZ_SETTING_STRING, .doc = "sender number or name" },
    { .key = "dlr_url", .type = CZ_SETTING_STRING,
      .doc = "delivery-report webhook; attempt, type and token are appended" },
    { .key = "dlr_token", .type = CZ_SETTING_SECRET,
      .doc = "token appended to dlr_url for the webhook to check" },
    { .key = "dlr_mask", .type = CZ_SETTING_INT, .default_value = "31", .min = 0, .max = 255,
      .doc = "Kannel dlr-mask: 1 delivered, 2 failed, 4 buffered, 8 smsc ok, 16 smsc failed" },
    { .key = "timeout_ms", .type = CZ_SETTING_INT, .default_value = "10000", .min = 100,
      .max = 600000, .doc = "the whole sendsms exchange" },
    { .key = "max_inflight", .type = CZ_SETTING_INT, .default_value = "64", .min = 1,
      .max = 10000, .doc = "sendsms requests at once; more sends wait" },
    { 0 }
};

/* ---- a growable byte buffer ---------------------------------------------- */

/* NUL-terminated once it holds something; max caps it (0: none). */
struct kn_buf {
    char *p;
    size_t len, cap, max;
};

static int kn_buf_add(struct kn_buf *b, const char *s, size_t n)
{
    if (b->max && (n > b->max || b->len > b->max - n))
        return -E2BIG;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

static int kn_buf_str(struct kn_buf *b, const char *s)
{
    return kn_buf_add(b, s, strlen(s));
}

/*
 * Append s percent-encoded for a query value: RFC 3986 unreserved bytes
 * (A-Z a-z 0-9 - . _ ~) as they are, every other byte as %XX (so '+' is
 * %2B and a space %20: keeps invariant 3).
 */
static int kn_urlencode(struct kn_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        const unsigned char *q = p;
        while (*q && ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') ||
                      (*q >= '0' && *q <= '9') || *q == '-' || *q == '.' || *q == '_' ||
                      *q == '~'))
            q++;
        int r = kn_buf_add(b, (const char *)p, (size_t)(q - p));
        if (r < 0)
            return r;
        if (!*q)
            break;
        char e[3] = { '%', hex[*q >> 4], hex[*q & 15] };
        if ((r = kn_buf_add(b, e, 3)) < 0)
            return r;
        p = q + 1;
    }
    return 0;
}

/* ---- GSM 03.38 --------------------------------------------------------- */

/* The code points of GSM 03.38's default alphabet and its extension table
 * above ASCII (the ASCII ones are tested by range in kn_gsm7_cp). */
static const unsigned kn_gsm7_high[] = {
    0x00A1, 0x00A3, 0x00A4, 0x00A5, 0x00A7, 0x00BF, 0x00C4, 0x00C5, 0x00C6, 0x00C7,
    0x00C9, 0x00D1, 0x00D6, 0x00D8, 0x00DC, 0x00DF, 0x00E0, 0x00E4, 0x00E5, 0x00E6,
    0x00E8, 0x00E9, 0x00EC, 0x00F1, 0x00F2, 0x00F6, 0x00F8, 0x00F9, 0x00FC, 0x0393,
    0x0394, 0x0398, 0x039B, 0x039E, 0x03A0, 0x03A3, 0x03A6, 0x03A8, 0x03A9, 0x20AC,
};

static bool kn_gsm7_cp(unsigned cp)
{
    if (cp < 0x80)
        /* printable ASCII but the backtick; LF, CR and (extension) form feed */
        return (cp >= 0x20 && cp < 0x7f && cp != 0x60) || cp == '\n' || cp == '\r' ||
               cp == '\f';
    size_t lo = 0, hi = sizeof(kn_gsm7_high) / sizeof(kn_gsm7_high[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (kn_gsm7_high[mid] == cp)
            return true;
        if (kn_gsm7_high[mid] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/*
 * Whether UTF-8 text s can be sent in GSM 03.38's 7-bit alphabet (with its
 * extension table: € [ ] { } ~ ^ \ |).  Malformed UTF-8 is not.
 */
static bool kn_is_gsm7(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned cp;
        int n;
        if (*p < 0x80) {
            cp = *p;
            n = 0;
        } else if ((*p & 0xE0) == 0xC0 && *p >= 0xC2) {
            cp = *p & 0x1F;
            n = 1;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            n = 2;
        } else if ((*p & 0xF8) == 0xF0 && *p <= 0xF4) {
            cp = *p & 0x07;
            n = 3;
        } else {
            return false;
        }
        p++;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (*p & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        if (!kn_gsm7_cp(cp))
            return false;
    }
    return true;
}

/* ---- replies ------------------------------------------------------------- */

struct kn_verdict {
    enum cz_send_status status;
    bool queued; /* OK, but Kannel holds it until an SMSC takes it */
    bool auth;   /* the username or password was refused */
};

/* Whether body[0..len) contains needle, ignoring ASCII case. */
static bool kn_has(const char *body, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (strncasecmp(body + i, needle, n) == 0)
            return true;
    return false;
}

/*
 * Classify a sendsms reply: HTTP status (0: none came), the host's error
 * (-errno, 0: none) and the body.  Pure.
 */
static struct kn_verdict kn_classify(int status, int error, const char *body, size_t len)
{
    if (!body)
        len = 0;
    if (error || status == 0 || status >= 500)
        return (struct kn_verdict){ .status = CZ_SEND_RETRY };
    if (status >= 200 && status < 300) {
        /* "0: Accepted for delivery", "3: Queued for later delivery" */
        while (len && (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n'))
            body++, len--;
        return (struct kn_verdict){ .status = CZ_SEND_OK,
                                    .queued = len >= 2 && body[0] == '3' && body[1] == ':' };
    }
    if (status == 403 && kn_has(body, len, "authorization failed"))
        return (struct kn_verdict){ .status = CZ_SEND_FAILED, .auth = true };
    if (status >= 400 && status < 500 &&
        (kn_has(body, len, "receiver") || kn_has(body, len, "black-list")))
        return (struct kn_verdict){ .status = CZ_SEND_INVALID_ADDRESS };
    return (struct kn_verdict){ .status = CZ_SEND_FAILED };
}

/* ---- the channel --------------------------------------------------------- */

struct kn_req;

struct kn_chan {
    struct cz_instance *inst;
    const struct cz_host *host;
    char *url;          /* the sendsms URL */
    const char *sep;    /* "?" or "&" when the URL has a query already */
    char *query;        /* "&username=..&password=..&from=.." */
    char *dlr;          /* "&dlr-mask=31&dlr-url=<encoded base?attempt=>" or "" */
    char *dlr_tail;     /* "&type=%d&token=.." encoded, appended after the attempt id */
    int64_t timeout_ms;
    int64_t max_inflight;
    int64_t inflight;
    bool auth_logged;   /* the last reply was an authorization failure, logged */
    struct kn_req *flight;             /* in flight, doubly linked */
    struct kn_req *wait, *wait_tail;   /* waiting, in order */
};

struct kn_req {
    struct kn_req *prev, *next;
    struct kn_chan *k;
    struct cz_send *send;
    int64_t attempt_id;
    char url[];
};

static void kn_flight_unlink(struct kn_chan *k, struct kn_req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        k->flight = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
    k->inflight--;
}

static void kn_complete(struct kn_chan *k, struct cz_send *send, enum cz_send_status st,
                        const char *error, int64_t retry_after_ms)
{
    k->host->complete(send, &(struct cz_result){ .status = st, .error = error,
                                                 .retry_after_ms = retry_after_ms });
}

static void kn_done(void *userdata, const struct cz_http_response *res);

/* Start q on the host (keeps invariant 2: the caller checked the slot). */
static int kn_start(struct kn_chan *k, struct kn_req *q)
{
    struct cz_http_request req = {
        .method = "GET",
        .url = q->url,
        .timeout_ms = k->timeout_ms,
    };
    int r = k->host->http(k->inst, &req, kn_done, q);
    if (r < 0)
        return r;
    q->next = k->flight;
    if (q->next)
        q->next->prev = q;
    k->flight = q;
    k->inflight++;
    return 0;
}

/* Start waiting requests while there are free slots (invariants 1, 2). */
static void kn_drain(struct kn_chan *k)
{
    while (k->wait && k->inflight < k->max_inflight) {
        struct kn_req *q = k->wait;
        k->wait = q->next;
        if (!k->wait)
            k->wait_tail = NULL;
        q->next = NULL;
        int r = kn_start(k, q);
        if (r < 0) {
            char msg[96];
            snprintf(msg, sizeof(msg), "cannot start the sendsms request: %s", strerror(-r));
            kn_complete(k, q->send, CZ_SEND_RETRY, msg, 0);
            free(q);
        }
    }
}

static void kn_done(void *userdata, const struct cz_http_response *res)
{
    struct kn_req *q = userdata;
    struct kn_chan *k = q->k;
    struct kn_verdict v = kn_classify(res->status, res->error, res->body, res->body_len);
    char msg[320];

    kn_flight_unlink(k, q);
    if (res->error)
        snprintf(msg, sizeof(msg), "sendsms: %s", res->error_text ? res->error_text
                                                                  : strerror(-res->error));
    else
        /* Kannel's reply is one short line: keep it whole, it says what went wrong */
        snprintf(msg, sizeof(msg), "sendsms answered %d: %.*s", res->status,
                 (int)(res->body_len < 200 ? res->body_len : 200),
                 res->body ? res->body : "");
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    if (v.auth && !k->auth_logged) {
        k->host->log(k->inst, CZ_LOG_ERROR,
                     "kannel refused the credentials (%s): check 'username' and 'password'",
                     msg);
        k->auth_logged = true;
    } else if (!v.auth && res->status) {
        k->auth_logged = false;
    }
    if (v.status == CZ_SEND_OK && v.queued)
        k->host->log(k->inst, CZ_LOG_DEBUG, "attempt %lld queued by kannel for later delivery",
                     (long long)q->attempt_id);
    kn_complete(k, q->send, v.status, v.status == CZ_SEND_OK ? NULL : msg,
                v.status == CZ_SEND_RETRY ? res->retry_after_ms : 0);
    free(q);
    kn_drain(k);
}

static void kn_free(struct kn_chan *k)
{
    if (!k)
        return;
    /* the host cancels requests still running at shutdown, without callbacks */
    while (k->flight) {
        struct kn_req *q = k->flight;
        k->flight = q->next;
        free(q);
    }
    while (k->wait) {
        struct kn_req *q = k->wait;
        k->wait = q->next;
        free(q);
    }
    free(k->url);
    free(k->query);
    free(k->dlr);
    free(k->dlr_tail);
    free(k);
}

/* Append "&name=<value encoded>" when value is set. */
static int kn_param(struct kn_buf *b, const char *name, const char *value)
{
    int r;
    if (!value)
        return 0;
    if ((r = kn_buf_str(b, "&")) < 0 || (r = kn_buf_str(b, name)) < 0 ||
        (r = kn_buf_str(b, "=")) < 0)
        return r;
    return kn_urlencode(b, value);
}

static const char *kn_opt(struct kn_chan *k, const char *key)
{
    return k->host->setting_set(k->inst, key) ? k->host->setting_str(k->inst, key) : NULL;
}

/* Whether s is all RFC 3986 unreserved characters (and not empty). */
static bool kn_unreserved(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' || *s == '_' || *s == '~'))
            return false;
    return true;
}

static int kn_init(struct cz_instance *inst, const struct cz_host *host, void **ret_state)
{
    struct kn_buf q = { 0 }, d = { 0 }, t = { 0 };
    int r = -ENOMEM;

    if (host->abi_minor < 1 || !host->http) {
        host->log(inst, CZ_LOG_ERROR, "this cadenza has no HTTP for plugins (ABI 1.1 needed)");
        return -ENOTSUP;
    }
    struct kn_chan *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->inst = inst;
    k->host = host;
    k->timeout_ms = host->setting_int(inst, "timeout_ms");
    k->max_inflight = host->setting_int(inst, "max_inflight");
    const char *url = host->setting_str(inst, "url");
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        host->log(inst, CZ_LOG_ERROR, "'url' must be an http:// or https:// URL, got '%s'",
                  url ? url : "");
        kn_free(k);
        return -EINVAL;
    }
    const char *token = kn_opt(k, "dlr_token");
    if (token && !kn_unreserved(token)) {
        /* Kannel reads '%' in a dlr-url as its own escapes: keep the token plain */
        host->log(inst, CZ_LOG_ERROR,
                  "'dlr_token' may only hold letters, digits and - . _ ~");
        kn_free(k);
        return -EINVAL;
    }
    if (!(k->url = strdup(url)))
        goto fail;
    k->sep = strchr(url, '?') ? "&" : "?";
    if ((r = kn_param(&q, "username", kn_opt(k, "username"))) < 0 ||
        (r = kn_param(&q, "password", kn_opt(k, "password"))) < 0 ||
        (r = kn_param(&q, "from", kn_opt(k, "from"))) < 0)
        goto fail;
    const char *dlr_url = kn_opt(k, "dlr_url");
    if (dlr_url) {
        char mask[24];
        snprintf(mask, sizeof(mask), "%lld", (long long)host->setting_int(inst, "dlr_mask"));
        if ((r = kn_param(&d, "dlr-mask", mask)) < 0 || (r = kn_buf_str(&d, "&dlr-url=")) < 0)
            goto fail;
        struct kn_buf base = { 0 };
        if ((r = kn_buf_str(&base, dlr_url)) < 0 ||
            (r = kn_buf_str(&base, strchr(dlr_url, '?') ? "&attempt=" : "?attempt=")) < 0 ||
            (r = kn_urlencode(&d, base.p)) < 0) {
            free(base.p);
            goto fail;
        }
        free(base.p);
        /* %d is Kannel's escape for the report type (1 delivered, 2 failed, ...) */
        struct kn_buf tail = { 0 };
        if ((r = kn_buf_str(&tail, "&type=%d")) < 0 ||
            (token && ((r = kn_buf_str(&tail, "&token=")) < 0 ||
                       (r = kn_buf_str(&tail, token)) < 0)) ||
            (r = kn_urlencode(&t, tail.p)) < 0) {
            free(tail.p);
            goto fail;
        }
        free(tail.p);
    }
    if ((r = kn_buf_str(&q, "")) < 0 || (r = kn_buf_str(&d, "")) < 0 ||
        (r = kn_buf_str(&t, "")) < 0)
        goto fail;
    k->query = q.p;
    k->dlr = d.p;
    k->dlr_tail = t.p;
    *ret_state = k;
    return 0;

fail:
    host->log(inst, CZ_LOG_ERROR, "cannot set up the channel: %s", strerror(-r));
    free(q.p);
    free(d.p);
    free(t.p);
    kn_free(k);
    return r;
}

/*
 * Build the sendsms URL for one job into b (keeps invariant 3).  0, or
 * -EINVAL for a job without an address or text, -E2BIG, -ENOMEM.
 */
static int kn_build_url(const struct kn_chan *k, const struct cz_job *job, struct kn_buf *b)
{
    int r;
    char id[24];
    if (!job->address || !*job->address || !job->text)
        return -EINVAL;
    snprintf(id, sizeof(id), "%lld", (long long)job->attempt_id);
    if ((r = kn_buf_str(b, k->url)) < 0 || (r = kn_buf_str(b, k->sep)) < 0 ||
        (r = kn_buf_str(b, "to=")) < 0 || (r = kn_urlencode(b, job->address)) < 0 ||
        (r = kn_buf_str(b, k->query)) < 0 || (r = kn_param(b, "text", job->text)) < 0 ||
        (r = kn_buf_str(b, kn_is_gsm7(job->text) ? "&charset=UTF-8"
                                                 : "&coding=2&charset=UTF-8")) < 0)
        return r;
    if (*k->dlr && ((r = kn_buf_str(b, k->dlr)) < 0 || (r = kn_buf_str(b, id)) < 0 ||
                    (r = kn_buf_str(b, k->dlr_tail)) < 0))
        return r;
    return 0;
}

static int kn_send(void *state, const struct cz_job *job, struct cz_send *send)
{
    struct kn_chan *k = state;
    struct kn_buf b = { .max = KN_URL_MAX };
    int r = kn_build_url(k, job, &b);
    if (r == -EINVAL || r == -E2BIG) {
        free(b.p);
        kn_complete(k, send, CZ_SEND_FAILED,
                    r == -E2BIG ? "text too long for a sendsms URL"
                    : !job->text ? "job without a rendered text"
                                 : "job without an address",
                    0);
        return 0;
    }
    if (r < 0) {
        free(b.p);
        return r;
    }
    struct kn_req *q = malloc(sizeof(*q) + b.len + 1);
    if (!q) {
        free(b.p);
        return -ENOMEM;
    }
    *q = (struct kn_req){ .k = k, .send = send, .attempt_id = job->attempt_id };
    memcpy(q->url, b.p, b.len + 1);
    free(b.p);
    if (k->inflight < k->max_inflight && !k->wait) {
        r = kn_start(k, q);
        if (r < 0)
            free(q);
        return r;
    }
    if (k->wait_tail)
        k->wait_tail->next = q;
    else
        k->wait = q;
    k->wait_tail = q;
    return 0;
}

static void kn_shutdown(void *state)
{
    kn_free(state);
}

const struct cz_channel_plugin cz_channel_plugin = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = 1,
    .name = "kannel",
    .description = "SMS through a Kannel smsbox's sendsms HTTP interface",
    .kinds = CZ_KIND_BIT(CZ_KIND_SMS),
    .settings = kn_settings,
    .init = kn_init,
    .send = kn_send,
    .shutdown = kn_shutdown,
};
