/*
 * channel.c - the plugin host: channel instances, the struct cz_host every
 * plugin gets, the job view, completions and timers (see channel.h and
 * docs/plugins.md).
 *
 * Owns: each instance's plugin state handle, its pending sends and its
 * timers.  Must never: block, call a plugin after its shutdown, or let a
 * plugin's completion reach the worker twice.
 *
 * A send's life (cz_send below):
 *
 *     channel_send ──plugin send() < 0──► done(RETRY "could not start")
 *          │ 0
 *          ▼
 *       PENDING ──host->complete()──► done(result), freed
 *          └─── host->complete() again: logged as a plugin bug, ignored
 *
 * Invariants:
 *  1. done is called exactly once per channel_send that returned 0, and
 *     once for one that returned < 0 (the caller sees one answer either way).
 *  2. Plugin log lines carry "[channel:PLUGIN:INSTANCE]" and have e-mail
 *     addresses and phone numbers masked.
 *  3. A timer fires at most once, never after timer_cancel or after the
 *     instance is freed.
 *  4. A finished request's record and curl easy handle are kept for the
 *     instance's next request (at most HREQ_SPARE_MAX of them), reset with
 *     curl_easy_reset(): nothing of one request's options, headers or
 *     body reaches the next, while the handle's buffers and the record's
 *     buffers are reused instead of allocated again.
 */
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "channel.h"
#include "curlm.h"
#include "log.h"
#include "plugin.h"
#include "util.h"

struct cz_timer {
    struct channel *ch;
    struct event *ev;
    cz_timer_fn cb;
    void *userdata;
    struct cz_timer *prev, *next;
};

/* struct cz_instance is the channel itself: plugins only hold pointers to it. */
struct hreq;

struct channel {
    const struct cz_channel_plugin *desc;
    const struct channel_conf *conf;
    struct event_base *base;
    struct curlm *curlm;   /* NULL: no HTTP or SMTP (host->http answers -ENOTSUP) */
    struct hreq *requests; /* HTTP and SMTP requests running */
    struct hreq *spare;    /* finished ones kept for reuse (invariant 4) */
    unsigned nspare;
    void *state;
    bool started;          /* init succeeded: shutdown is owed */
    uint64_t pending;      /* sends not yet completed */
    struct cz_timer *timers;
    struct cz_send *in_send; /* the send whose plugin send() is running */
    char tag[160];         /* "[channel:log:email]" */
};

struct cz_send {
    struct channel *ch;
    chan_done_fn done;
    void *userdata;
    uint64_t magic;
};
#define SEND_MAGIC 0x637a73656e64ull /* "czsend": catches a second completion */

static struct channel *CH(struct cz_instance *inst)
{
    return (struct channel *)inst;
}

static const char *const status_names[CZ_SEND_STATUS_MAX_] = {
    [CZ_SEND_OK] = "sent",
    [CZ_SEND_RETRY] = "retry",
    [CZ_SEND_FAILED] = "failed",
    [CZ_SEND_INVALID_ADDRESS] = "invalid_address",
    [CZ_SEND_OPTED_OUT] = "opted_out",
};

const char *cz_send_status_to_string(enum cz_send_status s)
{
    return (unsigned)s < CZ_SEND_STATUS_MAX_ ? status_names[s] : NULL;
}

/* ---- logging with PII masked (invariant 2) ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_mailchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
           c == '_' || c == '-' || c == '+' || c == '%';
}

/*
 * Mask in place: the local part of an e-mail address but its first
 * character (a***@example.com), and the digits of a phone-like run of 7 or
 * more digits (spaces, dashes allowed) but its first 3 and last 3.
 */
void channel_mask_pii(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '@' && i > 0 && i + 1 < n && is_mailchar(s[i + 1])) {
            size_t b = i;
            while (b > 0 && is_mailchar(s[b - 1]))
                b--;
            for (size_t k = b + 1; k < i; k++)
                s[k] = '*';
        }
    }
    for (size_t i = 0; i < n;) {
        if (!is_digit(s[i])) {
            i++;
            continue;
        }
        size_t e = i, digits = 0;
        while (e < n && (is_digit(s[e]) || ((s[e] == ' ' || s[e] == '-') && e + 1 < n &&
                                            is_digit(s[e + 1])))) {
            digits += is_digit(s[e]);
            e++;
        }
        if (digits >= 7) {
            size_t seen = 0;
            for (size_t k = i; k < e; k++)
                if (is_digit(s[k])) {
                    seen++;
                    if (seen > 3 && seen <= digits - 3)
                        s[k] = '*';
                }
        }
        i = e;
    }
}

static void host_logv(struct cz_instance *inst, enum cz_log_level level, const char *fmt,
                      va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    channel_mask_pii(msg);
    enum log_level l = level <= CZ_LOG_ERROR     ? LOG_ERR
                       : level == CZ_LOG_WARNING ? LOG_WARNING
                       : level == CZ_LOG_NOTICE  ? LOG_NOTICE
                       : level == CZ_LOG_INFO    ? LOG_INFO
                                                 : LOG_DEBUG;
    log_msg(l, "%s %s", CH(inst)->tag, msg);
}

static void host_log(struct cz_instance *inst, enum cz_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    host_logv(inst, level, fmt, ap);
    va_end(ap);
}

static const char *host_instance_name(struct cz_instance *inst)
{
    return CH(inst)->conf->name;
}

/* ---- settings ---- */

static const struct plugin_value *value(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = plugin_settings_get(CH(inst)->conf->values, key);
    return v && v->present ? v : NULL;
}

static const char *host_setting_str(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = value(inst, key);
    return v ? v->text : NULL;
}

static int64_t host_setting_int(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = value(inst, key);
    return v ? v->i : 0;
}

static double host_setting_number(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = value(inst, key);
    return v ? v->num : 0;
}

static bool host_setting_bool(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = value(inst, key);
    return v && v->b;
}

static bool host_setting_set(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = plugin_settings_get(CH(inst)->conf->values, key);
    return v && v->set;
}

/* ---- completions ---- */

static void host_complete(struct cz_send *send, const struct cz_result *res)
{
    if (!send || send->magic != SEND_MAGIC) {
        /* a second completion reads freed memory: the plugin must not do it */
        log_error("a channel plugin completed a send twice or completed an unknown send");
        return;
    }
    struct channel *ch = send->ch;
    enum cz_send_status st = res && (unsigned)res->status < CZ_SEND_STATUS_MAX_
                                 ? res->status
                                 : CZ_SEND_FAILED;
    struct chan_result cr = {
        .status = st,
        .provider_id = res ? res->provider_id : NULL,
        .error = res && res->error ? res->error
                 : st == CZ_SEND_OK ? NULL
                                    : "the plugin gave no reason",
        .retry_after_ms = res && res->retry_after_ms > 0 ? res->retry_after_ms : 0,
    };
    if (res && (unsigned)res->status >= CZ_SEND_STATUS_MAX_)
        cr.error = "the plugin answered an unknown status";
    send->magic = 0;
    ch->pending--;
    chan_done_fn done = send->done;
    void *ud = send->userdata;
    if (ch->in_send != send)
        free(send); /* else channel_send() frees it once send() returned */
    done(ud, &cr);
}

/* ---- timers (invariant 3) ---- */

static void timer_unlink(struct cz_timer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        t->ch->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct cz_timer *t = arg;
    cz_timer_fn cb = t->cb;
    void *ud = t->userdata;
    timer_unlink(t);
    event_free(t->ev);
    free(t);
    cb(ud);
}

static struct cz_timer *host_timer_add(struct cz_instance *inst, int64_t ms, cz_timer_fn cb,
                                       void *userdata)
{
    struct channel *ch = CH(inst);
    if (!ch->base || !cb)
        return NULL;
    struct cz_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ch = ch;
    t->cb = cb;
    t->userdata = userdata;
    t->ev = evtimer_new(ch->base, on_timer, t);
    if (!t->ev) {
        free(t);
        return NULL;
    }
    if (ms < 0)
        ms = 0;
    /* from now, not from the loop's cached time: a slow pass would make it fire early */
    event_base_update_cache_time(ch->base);
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(t->ev, &tv);
    t->next = ch->timers;
    if (t->next)
        t->next->prev = t;
    ch->timers = t;
    return t;
}

static void host_timer_cancel(struct cz_timer *t)
{
    if (!t)
        return;
    timer_unlink(t);
    event_free(t->ev);
    free(t);
}

static void host_report(struct cz_instance *inst, const struct cz_news *news)
{
    /*
     * Later news reaches the store through the daemon's ingest path; a
     * stand-alone worker logs it so nothing is silently dropped.
     */
    static const char *const kinds[] = { "", "delivered", "undeliverable", "opted out",
                                         "replied" };
    if (!news)
        return;
    const char *k = news->kind >= 1 && news->kind <= 4 ? kinds[news->kind] : "news";
    host_log(inst, CZ_LOG_INFO, "attempt %lld (provider id %s): %s%s%s",
             (long long)news->attempt_id, news->provider_id ? news->provider_id : "-", k,
             news->detail ? ": " : "", news->detail ? news->detail : "");
}

static int64_t host_mono_ms(void)
{
    return mono_ms();
}

static int64_t host_wall_ms(void)
{
    return wall_ms();
}

/* ---- HTTP and SMTP through the process's curl multi handle (ABI 1.1) ---- */

#define HTTP_BODY_MAX (1u << 20) /* a provider's answer beyond this is cut */
#define HTTP_HEADERS_MAX 64
#define SMTP_REPLY_MAX 320       /* the server's words kept for an error */
#define HTTP_HEADER_BYTES (64u << 10) /* response header names and values kept, at most */
#define HREQ_SPARE_MAX 256            /* finished requests kept per instance (invariant 4) */

struct hreq {
    struct channel *ch;
    CURL *easy;
    bool smtp;
    cz_http_fn http_done;
    cz_smtp_fn smtp_done;
    void *userdata;
    struct curl_slist *list;  /* request headers, or SMTP recipients */
    struct sbuf list_src;     /* HTTP: the header lines list was made of, NUL-separated */
    struct sbuf out;          /* request body / message (a copy) */
    size_t out_off;
    struct sbuf in;           /* response body */
    struct sbuf hmem;         /* response header names and values, NUL-terminated */
    size_t hoff[HTTP_HEADERS_MAX][2]; /* where each name and value starts in hmem */
    struct cz_header hdr[HTTP_HEADERS_MAX]; /* pointers into hmem, set when done */
    size_t nhdr;
    char errbuf[CURL_ERROR_SIZE];
    /* SMTP: the reply being read (its lines' text joined), and the last refusal */
    char reply[SMTP_REPLY_MAX], refusal[SMTP_REPLY_MAX];
    size_t reply_len;
    int reply_code;        /* its code once its last line came; 0 while it is incomplete */
    int refusal_code;      /* the last complete reply of 400 or more */
    struct hreq *prev, *next;
};

static void hreq_unlink(struct hreq *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (r->ch && r->ch->requests == r)
        r->ch->requests = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void hreq_free(struct hreq *r)
{
    if (!r)
        return;
    hreq_unlink(r);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->list);
    sbuf_release(&r->list_src);
    sbuf_release(&r->out);
    sbuf_release(&r->in);
    sbuf_release(&r->hmem);
    free(r);
}

/*
 * A finished request: keep it for the next one (invariant 4), else free
 * it.  The easy handle must have left the multi handle.  Buffers that grew
 * past what a usual request needs are not kept.
 */
static void hreq_recycle(struct hreq *r)
{
    struct channel *ch = r->ch;
    hreq_unlink(r);
    if (!ch || ch->nspare >= HREQ_SPARE_MAX || r->in.cap > 65536 || r->out.cap > 65536 ||
        r->hmem.cap > 65536) {
        hreq_free(r);
        return;
    }
    curl_easy_reset(r->easy);
    if (r->smtp) {
        /* recipients are never reused as request headers */
        curl_slist_free_all(r->list);
        r->list = NULL;
    }
    r->next = ch->spare;
    ch->spare = r;
    ch->nspare++;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct hreq *r = ud;
    size_t len = size * n;
    size_t room = r->in.len < HTTP_BODY_MAX ? HTTP_BODY_MAX - r->in.len : 0;
    if (room && sbuf_add(&r->in, p, len < room ? len : room) < 0)
        return 0; /* out of memory: fail the transfer */
    return len;
}

/*
 * SMTP: libcurl hands each line of the server's replies to the header
 * callback ("550-5.1.1 first line", ..., "550 5.1.1 last line").  Keep the
 * text of the latest refusal (4xx, 5xx): a failure then carries the
 * server's own words ("5.1.1 <x@example.com>: Recipient address
 * rejected"), not just libcurl's "RCPT failed: 550", even after the
 * "221 bye" that follows it.
 */
static size_t on_smtp_line(char *p, size_t size, size_t n, void *ud)
{
    struct hreq *r = ud;
    size_t len = size * n, k = len;
    while (k > 0 && (p[k - 1] == '\r' || p[k - 1] == '\n'))
        k--;
    if (k < 3 || !isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) ||
        !isdigit((unsigned char)p[2]) || (k > 3 && p[3] != ' ' && p[3] != '-'))
        return len;
    if (r->reply_code) { /* the previous reply is complete: this line starts the next */
        r->reply_len = 0;
        r->reply_code = 0;
    }
    const char *t = k > 4 ? p + 4 : p + k;
    size_t tn = (size_t)(p + k - t);
    if (r->reply_len && r->reply_len + 1 < sizeof(r->reply))
        r->reply[r->reply_len++] = ' ';
    for (size_t i = 0; i < tn && r->reply_len + 1 < sizeof(r->reply); i++)
        r->reply[r->reply_len++] = (unsigned char)t[i] < 0x20 ? ' ' : t[i];
    r->reply[r->reply_len] = 0;
    if (k == 3 || p[3] == ' ') {
        r->reply_code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
        if (r->reply_code >= 400) {
            memcpy(r->refusal, r->reply, r->reply_len + 1);
            r->refusal_code = r->reply_code;
        }
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct hreq *r = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after a 100 Continue or a redirect): forget the last one's */
        r->nhdr = 0;
        sbuf_reset(&r->hmem);
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon || r->nhdr == HTTP_HEADERS_MAX)
        return len;
    const char *v = colon + 1, *e = p + len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    size_t nl = (size_t)(colon - p), vl = (size_t)(e - v);
    if (r->hmem.len + nl + vl + 2 > HTTP_HEADER_BYTES)
        return len; /* beyond what any provider sends: not kept */
    size_t off = r->hmem.len;
    if (sbuf_add(&r->hmem, p, nl) < 0 || sbuf_add(&r->hmem, "", 1) < 0 ||
        sbuf_add(&r->hmem, v, vl) < 0 || sbuf_add(&r->hmem, "", 1) < 0)
        return 0; /* out of memory: fail the transfer */
    r->hoff[r->nhdr][0] = off;
    r->hoff[r->nhdr][1] = off + nl + 1;
    r->nhdr++;
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct hreq *r = ud;
    size_t want = size * n, left = r->out.len - r->out_off;
    size_t k = want < left ? want : left;
    memcpy(buf, r->out.buf + r->out_off, k);
    r->out_off += k;
    return k;
}

/* Retry-After: delta seconds, or an HTTP date (RFC 9110 10.2.3). */
static int64_t retry_after_ms(const struct hreq *r)
{
    for (size_t i = 0; i < r->nhdr; i++) {
        if (strcasecmp(r->hdr[i].name, "Retry-After") != 0)
            continue;
        const char *v = r->hdr[i].value;
        char *end;
        long long sec = strtoll(v, &end, 10);
        if (end != v && !*end && sec >= 0)
            return sec > 86400 * 7 ? 86400LL * 7 * 1000 : sec * 1000;
        time_t when = curl_getdate(v, NULL);
        if (when > 0) {
            int64_t d = (int64_t)when * 1000 - wall_ms();
            return d > 0 ? d : 0;
        }
    }
    return 0;
}

static int curl_errno(CURLcode c)
{
    switch (c) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_LOGIN_DENIED:
    case CURLE_AUTH_ERROR:
        return -EACCES;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return -ECONNRESET;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_USE_SSL_FAILED:
    case CURLE_PEER_FAILED_VERIFICATION:
        return -EPROTO;
    default:
        return -EIO;
    }
}

static void on_done(void *ud, CURL *easy, CURLcode res)
{
    struct hreq *r = ud;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(res);
    if (r->smtp) {
        /* a refusal: the server's words; anything else: libcurl's */
        if (res != CURLE_OK && r->refusal_code == code && r->refusal[0])
            why = r->refusal;
        struct cz_smtp_response sr = {
            .code = (int)code,
            .error = curl_errno(res),
            .error_text = res == CURLE_OK ? NULL : why,
        };
        /* a refused recipient or message surfaces as a send error: keep the reply code */
        if (res != CURLE_OK && sr.error == -ECONNRESET && code >= 400)
            sr.error = -EPROTO;
        r->smtp_done(r->userdata, &sr);
    } else {
        sbuf_cstr(&r->in);
        for (size_t i = 0; i < r->nhdr; i++) {
            r->hdr[i].name = r->hmem.buf + r->hoff[i][0];
            r->hdr[i].value = r->hmem.buf + r->hoff[i][1];
        }
        struct cz_http_response hr = {
            .status = res == CURLE_OK ? (int)code : 0,
            .error = curl_errno(res),
            .error_text = res == CURLE_OK ? NULL : why,
            .body = r->in.buf ? r->in.buf : "",
            .body_len = r->in.len,
            .headers = r->hdr,
            .nheaders = r->nhdr,
        };
        hr.retry_after_ms = retry_after_ms(r);
        r->http_done(r->userdata, &hr);
    }
    hreq_recycle(r); /* the easy handle left the multi handle (curlm invariant 1) */
}

/* A request record with a clean easy handle: a spare one (invariant 4) or a new one. */
static struct hreq *hreq_new(struct channel *ch, int64_t timeout_ms, int64_t connect_ms)
{
    struct hreq *r = ch->spare;
    if (r) {
        ch->spare = r->next;
        ch->nspare--;
        r->next = NULL;
        r->smtp = false;
        r->http_done = NULL;
        r->smtp_done = NULL;
        r->userdata = NULL;
        r->out_off = 0;
        r->nhdr = 0;
        sbuf_reset(&r->out);
        sbuf_reset(&r->in);
        sbuf_reset(&r->hmem);
    } else {
        r = calloc(1, sizeof(*r));
        if (!r)
            return NULL;
        r->ch = ch;
        r->in.max = HTTP_BODY_MAX + 1;
        if (!(r->easy = curl_easy_init())) {
            free(r);
            return NULL;
        }
    }
    r->errbuf[0] = 0;
    r->reply_len = 0;
    r->reply_code = r->refusal_code = 0;
    r->reply[0] = r->refusal[0] = 0;
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_ms > 0 ? connect_ms : 5000));
    return r;
}

static int hreq_start(struct hreq *r)
{
    struct channel *ch = r->ch;
    r->next = ch->requests;
    if (r->next)
        r->next->prev = r;
    ch->requests = r;
    int k = curlm_add(ch->curlm, r->easy, on_done, r);
    if (k < 0)
        hreq_recycle(r);
    return k;
}

static bool token_ok(const char *s)
{
    for (; s && *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return s != NULL;
}

/*
 * The request headers as a curl list.  A spare record keeps the list it
 * sent last time with the lines it was made of: the same lines (a
 * provider's fixed headers) reuse it.  0, -EINVAL, -ENOMEM.
 */
static int hreq_headers(struct hreq *r, const struct cz_http_request *req)
{
    struct sbuf *src = &r->list_src;
    size_t old = src->len;
    /* the new lines go after the old ones, then are compared with them */
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct cz_header *h = &req->headers[i];
        if (!h->name || !h->value || !token_ok(h->name) || strpbrk(h->value, "\r\n")) {
            src->len = old;
            return -EINVAL;
        }
        if (sbuf_adds(src, h->name) < 0 || sbuf_add(src, ": ", 2) < 0 ||
            sbuf_adds(src, h->value) < 0 || sbuf_add(src, "", 1) < 0) {
            src->len = old;
            return -ENOMEM;
        }
    }
    size_t n = src->len - old;
    if (r->list && n == old && (n == 0 || memcmp(src->buf, src->buf + old, n) == 0)) {
        src->len = old;
        return 0;
    }
    curl_slist_free_all(r->list);
    r->list = NULL;
    if (n)
        memmove(src->buf, src->buf + old, n);
    src->len = n;
    for (size_t off = 0; off < n; off += strlen(src->buf + off) + 1) {
        struct curl_slist *l = curl_slist_append(r->list, src->buf + off);
        if (!l)
            goto oom;
        r->list = l;
    }
    /* no "Expect: 100-continue" round trip on POST bodies */
    struct curl_slist *l = curl_slist_append(r->list, "Expect:");
    if (!l)
        goto oom;
    r->list = l;
    return 0;
oom:
    curl_slist_free_all(r->list);
    r->list = NULL;
    sbuf_reset(src);
    return -ENOMEM;
}

static int host_http(struct cz_instance *inst, const struct cz_http_request *req, cz_http_fn done,
                     void *userdata)
{
    struct channel *ch = CH(inst);
    if (!ch->curlm)
        return -ENOTSUP;
    if (!req || !done || !req->url || (strncmp(req->url, "http://", 7) != 0 &&
                                       strncmp(req->url, "https://", 8) != 0))
        return -EINVAL;
    const char *method = req->method ? req->method : "GET";
    if (!token_ok(method))
        return -EINVAL;
    struct hreq *r = hreq_new(ch, req->timeout_ms > 0 ? req->timeout_ms : 10000,
                              req->connect_timeout_ms);
    if (!r)
        return -ENOMEM;
    r->http_done = done;
    r->userdata = userdata;
    int k = hreq_headers(r, req);
    if (k == 0 && req->body && sbuf_add(&r->out, req->body, req->body_len) < 0)
        k = -ENOMEM;
    if (k < 0) {
        hreq_recycle(r);
        return k;
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->list);
    if (req->body) {
        /* the copy in r->out lives as long as the transfer */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->out.buf ? r->out.buf : "");
    }
    if (strcmp(method, "GET") == 0 && !req->body)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0 || !req->body)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (req->username) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, req->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, req->password ? req->password : "");
    }
    return hreq_start(r);
}

static int host_smtp(struct cz_instance *inst, const struct cz_smtp_request *req, cz_smtp_fn done,
                     void *userdata)
{
    struct channel *ch = CH(inst);
    if (!ch->curlm)
        return -ENOTSUP;
    if (!req || !done || !req->url || !req->mail_from || !req->nrcpt || !req->message ||
        (strncmp(req->url, "smtp://", 7) != 0 && strncmp(req->url, "smtps://", 8) != 0))
        return -EINVAL;
    struct hreq *r = hreq_new(ch, req->timeout_ms > 0 ? req->timeout_ms : 30000, 0);
    if (!r)
        return -ENOMEM;
    r->smtp = true;
    r->smtp_done = done;
    r->userdata = userdata;
    /* a spare record's header list is not a recipient list */
    curl_slist_free_all(r->list);
    r->list = NULL;
    sbuf_reset(&r->list_src);
    if (sbuf_add(&r->out, req->message, req->message_len) < 0) {
        hreq_recycle(r);
        return -ENOMEM;
    }
    for (size_t i = 0; i < req->nrcpt; i++) {
        struct curl_slist *l = req->rcpt[i] ? curl_slist_append(r->list, req->rcpt[i]) : NULL;
        if (!l) {
            hreq_recycle(r);
            return req->rcpt[i] ? -ENOMEM : -EINVAL;
        }
        r->list = l;
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, req->mail_from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, r->list);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->out.len);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_smtp_line);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_USE_SSL, req->tls == CZ_TLS_REQUIRED   ? (long)CURLUSESSL_ALL
                                          : req->tls == CZ_TLS_OPTIONAL ? (long)CURLUSESSL_TRY
                                                                        : (long)CURLUSESSL_NONE);
    if (req->username) {
        curl_easy_setopt(e, CURLOPT_USERNAME, req->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, req->password ? req->password : "");
    }
    return hreq_start(r);
}

static const struct cz_host host = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = CZ_PLUGIN_ABI_MINOR,
    .log = host_log,
    .logv = host_logv,
    .instance_name = host_instance_name,
    .setting_str = host_setting_str,
    .setting_int = host_setting_int,
    .setting_number = host_setting_number,
    .setting_bool = host_setting_bool,
    .setting_set = host_setting_set,
    .complete = host_complete,
    .timer_add = host_timer_add,
    .timer_cancel = host_timer_cancel,
    .report = host_report,
    .mono_ms = host_mono_ms,
    .wall_ms = host_wall_ms,
    .http = host_http,
    .smtp = host_smtp,
};

/* ---- instances ---- */

static void spare_free(struct channel *ch)
{
    while (ch->spare) {
        struct hreq *r = ch->spare;
        ch->spare = r->next;
        r->next = NULL;
        r->ch = NULL; /* not in ch->requests */
        hreq_free(r);
    }
    ch->nspare = 0;
}

int channel_new(const struct channel_conf *conf, struct event_base *base, struct curlm *curlm,
                struct channel **ret)
{
    if (!conf->desc)
        return -EINVAL; /* config_load() reported it */
    struct channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return -ENOMEM;
    ch->desc = conf->desc;
    ch->conf = conf;
    ch->base = base;
    ch->curlm = curlm;
    snprintf(ch->tag, sizeof(ch->tag), "[channel:%s:%s]", conf->desc->name, conf->name);
    int r = ch->desc->init((struct cz_instance *)ch, &host, &ch->state);
    if (r < 0) {
        while (ch->timers)
            host_timer_cancel(ch->timers);
        while (ch->requests) {
            curlm_cancel(ch->curlm, ch->requests->easy);
            hreq_free(ch->requests);
        }
        spare_free(ch);
        free(ch);
        return r == -ENOMEM ? r : -EINVAL;
    }
    ch->started = true;
    *ret = ch;
    return 0;
}

void channel_free(struct channel *ch)
{
    if (!ch)
        return;
    if (ch->started && ch->desc->shutdown)
        ch->desc->shutdown(ch->state);
    while (ch->timers)
        host_timer_cancel(ch->timers);
    /* requests still running are cancelled without their callbacks */
    while (ch->requests) {
        curlm_cancel(ch->curlm, ch->requests->easy);
        hreq_free(ch->requests);
    }
    spare_free(ch);
    free(ch);
}

int channel_send(struct channel *ch, const struct job *job, const struct chan_send_info *info,
                 chan_done_fn done, void *userdata)
{
    struct cz_send *send = calloc(1, sizeof(*send));
    if (!send)
        return -ENOMEM;
    send->ch = ch;
    send->done = done;
    send->userdata = userdata;
    send->magic = SEND_MAGIC;
    enum chan_kind kind = chan_kind_from_string(job->channel_kind);
    struct cz_job view = {
        .attempt_id = job->attempt_id,
        .idempotency_key = job->idempotency_key,
        .debtor_id = job->debtor_id,
        .instance = ch->conf->name,
        .kind = kind >= 0 ? (enum cz_kind)kind : (enum cz_kind)ch->conf->kind,
        .address = job->address,
        .time_zone = job->time_zone,
        .locale = job->locale,
        .not_after = job->not_after,
        .not_before = job->not_before,
        .template_name = job->template_name,
        .inputs_json = job->inputs_json ? job->inputs_json : "{}",
        .subject = info ? info->subject : NULL,
        .text = info ? info->text : NULL,
        .html = info ? info->html : NULL,
        .self_service_url = info ? info->self_service_url : NULL,
        .tries = info ? info->tries : 0,
        .redelivered = info && info->redelivered,
    };
    ch->pending++;
    ch->in_send = send;
    int r = ch->desc->send(ch->state, &view, send);
    ch->in_send = NULL;
    if (send->magic != SEND_MAGIC) {
        /* completed inside send(): done was called (invariant 1) */
        if (r < 0)
            host_log((struct cz_instance *)ch, CZ_LOG_WARNING,
                     "plugin bug: send() failed (%s) after completing the send", strerror(-r));
        free(send);
    } else if (r < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the plugin could not start the send: %s", strerror(-r));
        ch->in_send = send;
        host_complete(send, &(struct cz_result){ CZ_SEND_RETRY, NULL, msg, 0 });
        ch->in_send = NULL;
        free(send);
    }
    return 0;
}

int channel_flush(struct channel *ch)
{
    return ch->desc->flush ? ch->desc->flush(ch->state) : 0;
}
