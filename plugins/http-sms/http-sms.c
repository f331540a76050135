/*
 * http-sms.c - the `http-sms` channel plugin: sends each SMS to an HTTP
 * provider described by a profile in the channel's settings (method, URL,
 * authentication, a form or JSON body with placeholders, where the reply
 * keeps the message id and the provider's error code, what counts as
 * success and how failures are classified), over the host's non-blocking
 * HTTP (host->http, plugin ABI 1.1).  plugins/http-sms/README.md documents
 * the keys and ships the profiles.
 *
 * The same engine serves the call kind, for dialers with a JSON API: the
 * lead is the job's address, its legal window ({window_start},
 * {window_end}) and the agent brief the daily run put in the inputs
 * ({brief}, {brief_text}, {name}); with `cancel_url` a host timer at the
 * window's end asks the dialer to withdraw the lead (hs_expiry_*), as the
 * vicidial plugin takes its leads out of the hopper.
 *
 * The settings are flat (the config map has scalars only):
 *   url, body, headers   templates: text with {placeholders} (hs_tpl_*)
 *   success, rules       conditions on the HTTP status and the provider
 *                        code (hs_rules_parse):
 *                          success: "http 2xx code 0"
 *                          rules: "http 429 = retry; code 21211 = invalid_address"
 *   id_pointer, code_pointer, error_pointer   RFC 6901 pointers into a JSON
 *                        reply (hs_json_get), or id_regex / code_regex
 *
 * Classification of one reply (hs_classify):
 *   no reply (refused, timeout, reset)            CZ_SEND_RETRY
 *   every condition of `success` holds            CZ_SEND_OK, id from the reply
 *   the first rule whose conditions all hold      its action
 *   no rule: HTTP 408, 429 or 5xx                 CZ_SEND_RETRY
 *            anything else                        CZ_SEND_FAILED
 * A retry carries the reply's Retry-After (host->http parses it).
 *
 * The JSON reader is this file's own (plugins include nothing but the
 * plugin header): strict RFC 8259 (no trailing commas, no comments, valid
 * UTF-8, paired surrogates), recursion bounded by HS_JSON_DEPTH, and it
 * never reads past the length it is given.
 *
 * Owns its state, the compiled templates, rules and regexes, and the
 * requests in flight or waiting.  Never blocks, never keeps a pointer into
 * a job (each request is expanded into one allocation during send), never
 * logs a secret or the text.
 *
 * A request's life (as in kannel.c):
 *
 *     hs_send ──► WAITING (max_inflight out) ──hs_drain──► IN FLIGHT ──hs_done──► freed
 *        └──────────────────────────────────────────────────► IN FLIGHT
 *
 * One lead's withdrawal (cancel_url set, the send accepted before its
 * window closed):
 *
 *     armed ─not_after─► CANCEL ─success─► freed (withdrawn)
 *                          │ other reply ─► freed (dialled already, or gone)
 *                          │ no reply, 408, 429, 5xx ─► retried 10 s later, 3 tries
 *
 * Invariants:
 *  1. Every send that returned 0 is completed exactly once; one that
 *     returned < 0 never is.
 *  2. At most max_inflight requests are in flight; waiting ones start in
 *     the order their sends came.
 *  3. A placeholder's value reaches the request only encoded for where it
 *     stands: percent-encoded in the URL and a form body, a JSON string in
 *     a JSON body, and refused in a header when it holds CR or LF.
 *  4. The JSON reader reads only s[0..n) and recurses at most
 *     HS_JSON_DEPTH levels, whatever the reply holds.
 *  5. {brief} reaches a JSON body only as a value the reader checked (the
 *     inputs' "brief" member), else null; it is never spliced unchecked.
 *  6. Every hs_expiry is on the channel's list until freed; shutdown frees
 *     them all (the host cancels their timers and requests).
 */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cadenza-plugin.h"

#define HS_JSON_DEPTH 64        /* nesting the JSON reader accepts */
#define HS_KEY_MAX 256          /* object keys and pointer tokens compared, bytes */
#define HS_VALUE_MAX 256        /* provider ids and codes kept, bytes */
#define HS_REQ_MAX (256 * 1024) /* an expanded URL or body longer than this is refused */
#define HS_RULES_MAX 64
#define HS_CONDS_MAX 8
#define HS_HEADERS_MAX 16
#define HS_CANCEL_TRIES 3
#define HS_CANCEL_RETRY_MS 10000

static const struct cz_setting hs_settings[] = {
    { .key = "url", .type = CZ_SETTING_STRING, .required = true,
      .doc = "the provider's URL; {placeholders} are percent-encoded" },
    { .key = "method", .type = CZ_SETTING_ENUM, .default_value = "POST",
      .choices = "POST|PUT|GET", .doc = "HTTP method (GET: a form body goes in the query)" },
    { .key = "auth", .type = CZ_SETTING_ENUM, .default_value = "none",
      .choices = "none|basic|bearer|header", .doc = "how to authenticate" },
    { .key = "username", .type = CZ_SETTING_STRING, .doc = "basic auth user" },
    { .key = "password", .type = CZ_SETTING_SECRET, .doc = "basic auth password" },
    { .key = "token", .type = CZ_SETTING_SECRET, .doc = "bearer token, or the auth header's value" },
    { .key = "auth_header", .type = CZ_SETTING_STRING, .default_value = "X-API-Key",
      .doc = "header carrying the token with auth: header" },
    { .key = "headers", .type = CZ_SETTING_STRING,
      .doc = "extra headers, 'Name: value' separated by '|'; {placeholders} allowed" },
    { .key = "body_format", .type = CZ_SETTING_ENUM, .default_value = "form",
      .choices = "form|json", .doc = "application/x-www-form-urlencoded or application/json" },
    { .key = "body", .type = CZ_SETTING_STRING, .required = true,
      .doc = "body template: To={to}&Body={text} or {\"to\":{to},\"text\":{text}}" },
    { .key = "from", .type = CZ_SETTING_STRING, .doc = "sender, the value of {from}" },
    { .key = "status_url", .type = CZ_SETTING_STRING,
      .doc = "delivery webhook for {status_url}; attempt and token are appended" },
    { .key = "status_token", .type = CZ_SETTING_SECRET,
      .doc = "token appended to {status_url} for the webhook to check" },
    { .key = "inbound_url", .type = CZ_SETTING_STRING,
      .doc = "the provider's inbound-message webhook as set there, without '?token=' and "
             "the status_token that follow it (cadenza serve checks X-Twilio-Signature over both)" },
    { .key = "success", .type = CZ_SETTING_STRING, .default_value = "http 2xx",
      .doc = "conditions of an accepted message: http 2xx, code 0" },
    { .key = "rules", .type = CZ_SETTING_STRING,
      .doc = "failure rules: 'http 429 = retry; code 21211 = invalid_address'" },
    { .key = "id_pointer", .type = CZ_SETTING_STRING,
      .doc = "JSON pointer to the message id in the reply (/sid)" },
    { .key = "id_regex", .type = CZ_SETTING_STRING,
      .doc = "extended regex on the reply; group 1 (or the match) is the id" },
    { .key = "code_pointer", .type = CZ_SETTING_STRING,
      .doc = "JSON pointer to the provider's status or error code (/code)" },
    { .key = "code_regex", .type = CZ_SETTING_STRING,
      .doc = "extended regex on the reply; group 1 (or the match) is the code" },
    { .key = "error_pointer", .type = CZ_SETTING_STRING,
      .doc = "JSON pointer to the provider's error text (/message)" },
    { .key = "timeout_ms", .type = CZ_SETTING_INT, .default_value = "10000", .min = 100,
      .max = 600000, .doc = "the whole HTTP exchange" },
    { .key = "max_inflight", .type = CZ_SETTING_INT, .default_value = "64", .min = 1,
      .max = 10000, .doc = "requests at once; more sends wait" },
    { .key = "cancel_url", .type = CZ_SETTING_STRING,
      .doc = "dialers: withdraw an accepted lead here when its window closes ({provider_id})" },
    { .key = "cancel_method", .type = CZ_SETTING_ENUM, .default_value = "DELETE",
      .choices = "DELETE|POST|PUT|GET", .doc = "HTTP method of the withdrawal" },
    { .key = "cancel_body", .type = CZ_SETTING_STRING,
      .doc = "body template of the withdrawal (body_format applies); none by default" },
    { .key = "cancel_success", .type = CZ_SETTING_STRING, .default_value = "http 2xx",
      .doc = "conditions of a withdrawn lead; other replies: dialled already, or gone" },
    { 0 }
};

/* ---- a growable byte buffer ---------------------------------------------- */

/* NUL-terminated once it holds something; max caps it (0: none). */
struct hs_buf {
    char *p;
    size_t len, cap, max;
};

static int hs_buf_add(struct hs_buf *b, const char *s, size_t n)
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
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

static int hs_buf_str(struct hs_buf *b, const char *s)
{
    return hs_buf_add(b, s, strlen(s));
}

static bool hs_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* Append s percent-encoded: unreserved bytes as they are, the rest %XX. */
static int hs_urlencode(struct hs_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char out[256]; /* encoded in chunks: one append per chunk, not per escape */
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (k > sizeof(out) - 3) {
            int r = hs_buf_add(b, out, k);
            if (r < 0)
                return r;
            k = 0;
        }
        if (hs_unreserved(*p)) {
            out[k++] = (char)*p;
        } else {
            out[k++] = '%';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        }
    }
    return k ? hs_buf_add(b, out, k) : 0;
}

/* Append s as a JSON string literal, quotes included (control characters as \u00XX). */
static int hs_json_quote(struct hs_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int r = hs_buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; r >= 0 && *p;) {
        const unsigned char *q = p;
        while (*q >= 0x20 && *q != '"' && *q != '\\')
            q++;
        if ((r = hs_buf_add(b, (const char *)p, (size_t)(q - p))) < 0 || !*q)
            break;
        char e[6] = { '\\', (char)*q, 0 };
        size_t n = 2;
        if (*q == '\n')
            e[1] = 'n';
        else if (*q == '\r')
            e[1] = 'r';
        else if (*q == '\t')
            e[1] = 't';
        else if (*q < 0x20) {
            memcpy(e, "\\u00", 4);
            e[4] = hex[*q >> 4];
            e[5] = hex[*q & 15];
            n = 6;
        }
        r = hs_buf_add(b, e, n);
        p = q + 1;
    }
    return r < 0 ? r : hs_buf_add(b, "\"", 1);
}

/* ---- the JSON reader (invariant 4) ------------------------------------- */

enum hs_jtype { HS_J_NULL = 1, HS_J_BOOL, HS_J_NUMBER, HS_J_STRING, HS_J_ARRAY, HS_J_OBJECT };

/* A value inside a document: its type and its bytes as written. */
struct hs_jval {
    enum hs_jtype type;
    const char *p;
    size_t n;
};

struct hs_jp {
    const char *p, *end;
};

static void hs_jws(struct hs_jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hs_jhex4(const char *p, const char *end, unsigned *ret)
{
    unsigned v = 0;
    if (end - p < 4)
        return -EINVAL;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -EINVAL;
    }
    *ret = v;
    return 0;
}

/*
 * One string at j->p (at its opening quote): checked, and decoded into
 * out[0..outsz) when out is given (NUL-terminated; -E2BIG when it does not
 * fit, -EINVAL for \u0000, which a C string cannot hold).  Moves past it.
 */
static int hs_jstring(struct hs_jp *j, char *out, size_t outsz, size_t *ret_len)
{
    const unsigned char *p = (const unsigned char *)j->p, *end = (const unsigned char *)j->end;
    size_t o = 0;
    bool fits = true;
    if (p >= end || *p != '"')
        return -EINVAL;
    p++;
    for (;;) {
        /* a run of plain ASCII (what replies are made of) in one go */
        const unsigned char *q = p;
        while (q < end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
            q++;
        if (q > p && out && fits) {
            size_t k = (size_t)(q - p);
            if (o + k >= outsz)
                fits = false;
            else
                memcpy(out + o, p, k), o += k;
        }
        p = q;
        if (p >= end)
            return -EINVAL;
        unsigned cp;
        unsigned char c = *p;
        if (c == '"') {
            p++;
            break;
        }
        if (c < 0x20)
            return -EINVAL;
        if (c == '\\') {
            if (end - p < 2)
                return -EINVAL;
            switch (p[1]) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u': {
                if (hs_jhex4((const char *)p + 2, (const char *)end, &cp) < 0)
                    return -EINVAL;
                p += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return -EINVAL; /* a lone low surrogate */
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (end - p < 8 || p[2] != '\\' || p[3] != 'u' ||
                        hs_jhex4((const char *)p + 4, (const char *)end, &lo) < 0 ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return -EINVAL;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
                if (cp == 0 && out)
                    return -EINVAL;
                break;
            }
            default:
                return -EINVAL;
            }
            p += 2;
        } else if (c < 0x80) {
            cp = c;
            p++;
        } else {
            /* raw UTF-8: well formed, shortest form, no surrogates */
            int n;
            if (c >= 0xC2 && c <= 0xDF)
                n = 1, cp = c & 0x1F;
            else if (c >= 0xE0 && c <= 0xEF)
                n = 2, cp = c & 0x0F;
            else if (c >= 0xF0 && c <= 0xF4)
                n = 3, cp = c & 0x07;
            else
                return -EINVAL;
            if (end - p <= n)
                return -EINVAL;
            for (int i = 1; i <= n; i++) {
                if ((p[i] & 0xC0) != 0x80)
                    return -EINVAL;
                cp = cp << 6 | (p[i] & 0x3F);
            }
            if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
                return -EINVAL;
            p += n + 1;
        }
        if (out && fits) {
            char u[4];
            size_t un;
            if (cp < 0x80)
                u[0] = (char)cp, un = 1;
            else if (cp < 0x800)
                u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), un = 2;
            else if (cp < 0x10000)
                u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3F)),
                u[2] = (char)(0x80 | (cp & 0x3F)), un = 3;
            else
                u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3F)),
                u[2] = (char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)),
                un = 4;
            if (o + un >= outsz)
                fits = false;
            else
                memcpy(out + o, u, un), o += un;
        }
    }
    j->p = (const char *)p;
    if (out) {
        if (!outsz)
            return -E2BIG;
        out[o] = 0;
        if (!fits)
            return -E2BIG;
    }
    if (ret_len)
        *ret_len = o;
    return 0;
}

static int hs_jnumber(struct hs_jp *j)
{
    const char *p = j->p, *end = j->end;
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return -EINVAL;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    else
        return -EINVAL;
    if (p < end && *p == '.') {
        const char *d = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return -EINVAL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return -EINVAL;
    }
    j->p = p;
    return 0;
}

static int hs_jlit(struct hs_jp *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return -EINVAL;
    j->p += n;
    return 0;
}

/* Check and skip one value at j->p (whitespace before it skipped); its span in *ret. */
static int hs_jvalue(struct hs_jp *j, int depth, struct hs_jval *ret)
{
    hs_jws(j);
    if (j->p >= j->end)
        return -EINVAL;
    const char *start = j->p;
    enum hs_jtype t;
    int r = 0;
    switch (*j->p) {
    case '{':
    case '[': {
        bool obj = *j->p == '{';
        char close = obj ? '}' : ']';
        if (depth >= HS_JSON_DEPTH)
            return -EINVAL;
        t = obj ? HS_J_OBJECT : HS_J_ARRAY;
        j->p++;
        hs_jws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            break;
        }
        for (;;) {
            if (obj) {
                hs_jws(j);
                if ((r = hs_jstring(j, NULL, 0, NULL)) < 0)
                    return r;
                hs_jws(j);
                if (j->p >= j->end || *j->p != ':')
                    return -EINVAL;
                j->p++;
            }
            if ((r = hs_jvalue(j, depth + 1, NULL)) < 0)
                return r;
            hs_jws(j);
            if (j->p >= j->end)
                return -EINVAL;
            if (*j->p == close) {
                j->p++;
                break;
            }
            if (*j->p != ',')
                return -EINVAL;
            j->p++;
        }
        break;
    }
    case '"':
        t = HS_J_STRING;
        r = hs_jstring(j, NULL, 0, NULL);
        break;
    case 't':
        t = HS_J_BOOL;
        r = hs_jlit(j, "true");
        break;
    case 'f':
        t = HS_J_BOOL;
        r = hs_jlit(j, "false");
        break;
    case 'n':
        t = HS_J_NULL;
        r = hs_jlit(j, "null");
        break;
    default:
        t = HS_J_NUMBER;
        r = hs_jnumber(j);
    }
    if (r < 0)
        return r;
    if (ret)
        *ret = (struct hs_jval){ .type = t, .p = start, .n = (size_t)(j->p - start) };
    return 0;
}

/* 0 when s[0..n) is one JSON value (with whitespace around), else -EINVAL. */
static int hs_json_check(const char *s, size_t n)
{
    struct hs_jp j = { s, s + n };
    int r = hs_jvalue(&j, 0, NULL);
    if (r < 0)
        return r;
    hs_jws(&j);
    return j.p == j.end ? 0 : -EINVAL;
}

/*
 * The next reference token of an RFC 6901 pointer at *ptr (just past a
 * '/'), unescaped (~0 '~', ~1 '/') into tok[HS_KEY_MAX].  -EINVAL for a bad
 * escape or a token too long to match anything.
 */
static int hs_jtoken(const char **ptr, char *tok)
{
    const char *p = *ptr;
    size_t n = 0;
    while (*p && *p != '/') {
        char c = *p++;
        if (c == '~') {
            if (*p != '0' && *p != '1')
                return -EINVAL;
            c = *p++ == '0' ? '~' : '/';
        }
        if (n + 1 >= HS_KEY_MAX)
            return -EINVAL;
        tok[n++] = c;
    }
    tok[n] = 0;
    *ptr = p;
    return 0;
}

/* Whether pointer is an RFC 6901 pointer hs_json_get can follow. */
static bool hs_pointer_ok(const char *pointer)
{
    char tok[HS_KEY_MAX];
    if (*pointer && *pointer != '/')
        return false;
    while (*pointer) {
        pointer++;
        if (hs_jtoken(&pointer, tok) < 0)
            return false;
    }
    return true;
}

/*
 * Find the value pointer names in the JSON document s[0..n), which passed
 * hs_json_check() (the walk relies on it: a reply is checked once, then
 * each pointer only walks it).  0 with *ret, -ENOENT when there is none,
 * -EINVAL for a malformed pointer.  Reads s[0..n) only (invariant 4).
 */
static int hs_json_find(const char *s, size_t n, const char *pointer, struct hs_jval *ret)
{
    char tok[HS_KEY_MAX], key[HS_KEY_MAX];
    int r;
    if (*pointer && *pointer != '/')
        return -EINVAL;
    /* the document is one checked value with whitespace around: its span
     * is known without walking it */
    struct hs_jp j = { s, s + n };
    hs_jws(&j);
    while (j.end > j.p && (j.end[-1] == ' ' || j.end[-1] == '\t' || j.end[-1] == '\n' ||
                           j.end[-1] == '\r'))
        j.end--;
    if (j.p >= j.end)
        return -EINVAL;
    struct hs_jval v = { .type = *j.p == '{'   ? HS_J_OBJECT
                                 : *j.p == '[' ? HS_J_ARRAY
                                 : *j.p == '"' ? HS_J_STRING
                                               : HS_J_NUMBER, /* scalars: the type only
                                                                 matters for containers */
                         .p = j.p, .n = (size_t)(j.end - j.p) };
    if (v.type == HS_J_NUMBER && (*j.p == 't' || *j.p == 'f'))
        v.type = HS_J_BOOL;
    else if (v.type == HS_J_NUMBER && *j.p == 'n')
        v.type = HS_J_NULL;
    while (*pointer) {
        pointer++;
        if ((r = hs_jtoken(&pointer, tok)) < 0)
            return r;
        struct hs_jp in = { v.p + 1, v.p + v.n - 1 };
        bool found = false;
        if (v.type == HS_J_OBJECT) {
            hs_jws(&in);
            while (in.p < in.end) {
                size_t klen;
                struct hs_jp at = in;
                r = hs_jstring(&in, key, sizeof(key), &klen);
                bool match = r == 0 && strlen(key) == klen && strcmp(key, tok) == 0;
                if (r < 0) {
                    /* a key too long (or holding \u0000) is never a token: skip it */
                    in = at;
                    if ((r = hs_jstring(&in, NULL, 0, NULL)) < 0)
                        return r;
                }
                hs_jws(&in);
                in.p++; /* ':' (checked by hs_json_check) */
                if ((r = hs_jvalue(&in, 0, &v)) < 0)
                    return r;
                if (match) {
                    found = true;
                    break;
                }
                hs_jws(&in);
                if (in.p < in.end && *in.p == ',')
                    in.p++;
                hs_jws(&in);
            }
        } else if (v.type == HS_J_ARRAY) {
            /* an index: "0", or digits without a leading zero */
            size_t idx = 0;
            if (!tok[0] || (tok[0] == '0' && tok[1]))
                return -ENOENT;
            for (const char *c = tok; *c; c++) {
                if (*c < '0' || *c > '9' || idx > 100000000)
                    return -ENOENT;
                idx = idx * 10 + (size_t)(*c - '0');
            }
            hs_jws(&in);
            for (size_t i = 0; in.p < in.end; i++) {
                if ((r = hs_jvalue(&in, 0, &v)) < 0)
                    return r;
                if (i == idx) {
                    found = true;
                    break;
                }
                hs_jws(&in);
                if (in.p < in.end && *in.p == ',')
                    in.p++;
            }
        }
        if (!found)
            return -ENOENT;
    }
    *ret = v;
    return 0;
}

/*
 * A scalar as text into out[outsz]: a string decoded, a number, true,
 * false or null as written.  -EINVAL for an object or array, -E2BIG when
 * it does not fit.
 */
static int hs_jval_text(const struct hs_jval *v, char *out, size_t outsz)
{
    if (v->type == HS_J_OBJECT || v->type == HS_J_ARRAY || !outsz)
        return -EINVAL;
    if (v->type == HS_J_STRING) {
        struct hs_jp j = { v->p, v->p + v->n };
        return hs_jstring(&j, out, outsz, NULL);
    }
    if (v->n >= outsz)
        return -E2BIG;
    memcpy(out, v->p, v->n);
    out[v->n] = 0;
    return 0;
}

/* ---- templates (invariant 3) ------------------------------------------- */

enum hs_var {
    HS_V_TO,
    HS_V_TEXT,
    HS_V_FROM,
    HS_V_IDEMPOTENCY_KEY,
    HS_V_ATTEMPT_ID,
    HS_V_DEBTOR_ID,
    HS_V_LOCALE,
    HS_V_STATUS_URL,
    /* from the job's inputs and window (dialers) */
    HS_V_NAME,
    HS_V_BRIEF,         /* JSON: the inputs' brief object as it is (invariant 5) */
    HS_V_BRIEF_TEXT,
    HS_V_WINDOW_START,
    HS_V_WINDOW_END,
    HS_V_PROVIDER_ID,   /* cancel_url and cancel_body only */
    HS_V_MAX_
};
/* The placeholders read from the inputs or the window, computed only when used. */
#define HS_V_INPUT_BITS \
    (1u << HS_V_NAME | 1u << HS_V_BRIEF | 1u << HS_V_BRIEF_TEXT | 1u << HS_V_WINDOW_START | \
     1u << HS_V_WINDOW_END)
/* What a withdrawal may name: it is built from the copies an hs_expiry keeps. */
#define HS_V_CANCEL_BITS \
    (1u << HS_V_TO | 1u << HS_V_FROM | 1u << HS_V_IDEMPOTENCY_KEY | 1u << HS_V_ATTEMPT_ID | \
     1u << HS_V_DEBTOR_ID | 1u << HS_V_PROVIDER_ID)

static const char *const hs_var_names[] = {
    [HS_V_TO] = "to",
    [HS_V_TEXT] = "text",
    [HS_V_FROM] = "from",
    [HS_V_IDEMPOTENCY_KEY] = "idempotency_key",
    [HS_V_ATTEMPT_ID] = "attempt_id",
    [HS_V_DEBTOR_ID] = "debtor_id",
    [HS_V_LOCALE] = "locale",
    [HS_V_STATUS_URL] = "status_url",
    [HS_V_NAME] = "name",
    [HS_V_BRIEF] = "brief",
    [HS_V_BRIEF_TEXT] = "brief_text",
    [HS_V_WINDOW_START] = "window_start",
    [HS_V_WINDOW_END] = "window_end",
    [HS_V_PROVIDER_ID] = "provider_id",
};

enum hs_enc { HS_ENC_URL, HS_ENC_JSON, HS_ENC_HEADER };

/* A template: literal text with placeholders, as segments. */
struct hs_seg {
    int var;       /* an hs_var, or -1: the literal lit[0..n) */
    const char *lit;
    size_t n;
};
struct hs_tpl {
    char *src;     /* the template text the literals point into */
    struct hs_seg *seg;
    size_t nseg;
    unsigned uses; /* bits of the hs_vars it uses */
};

static void hs_tpl_release(struct hs_tpl *t)
{
    free(t->src);
    free(t->seg);
    *t = (struct hs_tpl){ 0 };
}

/*
 * Compile src: "{name}" with a name of [a-z_] is a placeholder and must be
 * one of hs_var_names (else -EINVAL with the name in bad[HS_KEY_MAX]);
 * everything else, other braces included, is literal.
 */
static int hs_tpl_compile(const char *src, struct hs_tpl *ret, char *bad)
{
    struct hs_tpl t = { 0 };
    size_t cap = 0;
    if (!(t.src = strdup(src)))
        return -ENOMEM;
    for (const char *p = t.src, *lit = t.src;;) {
        const char *q = p;
        int var = -1;
        if (*p == '{') {
            q = p + 1;
            while ((*q >= 'a' && *q <= 'z') || *q == '_')
                q++;
            if (*q == '}' && q > p + 1) {
                size_t n = (size_t)(q - p - 1);
                for (int v = 0; v < HS_V_MAX_; v++)
                    if (strlen(hs_var_names[v]) == n && memcmp(hs_var_names[v], p + 1, n) == 0)
                        var = v;
                if (var < 0) {
                    snprintf(bad, HS_KEY_MAX, "%.*s", (int)n, p + 1);
                    hs_tpl_release(&t);
                    return -EINVAL;
                }
            }
        }
        if (var >= 0 || !*p) {
            for (int k = 0; k < 2; k++) {
                struct hs_seg s = k == 0 ? (struct hs_seg){ -1, lit, (size_t)(p - lit) }
                                         : (struct hs_seg){ var, NULL, 0 };
                if ((k == 0 && !s.n) || (k == 1 && var < 0))
                    continue;
                if (t.nseg == cap) {
                    cap = cap ? cap * 2 : 8;
                    struct hs_seg *v = realloc(t.seg, cap * sizeof(*v));
                    if (!v) {
                        hs_tpl_release(&t);
                        return -ENOMEM;
                    }
                    t.seg = v;
                }
                t.seg[t.nseg++] = s;
            }
            if (!*p)
                break;
            t.uses |= 1u << var;
            p = lit = q + 1;
            continue;
        }
        p++;
    }
    *ret = t;
    return 0;
}

/* Append the template with vals[] (NULL: none) encoded as enc says (invariant 3). */
static int hs_tpl_expand(const struct hs_tpl *t, const char *const vals[HS_V_MAX_],
                         enum hs_enc enc, struct hs_buf *b)
{
    int r = 0;
    for (size_t i = 0; i < t->nseg && r >= 0; i++) {
        const struct hs_seg *s = &t->seg[i];
        if (s->var < 0) {
            r = hs_buf_add(b, s->lit, s->n);
            continue;
        }
        const char *v = vals[s->var];
        switch (enc) {
        case HS_ENC_URL:
            r = v ? hs_urlencode(b, v) : 0;
            break;
        case HS_ENC_JSON:
            /* the brief is a checked JSON value already (invariant 5) */
            r = !v ? hs_buf_str(b, "null")
                   : s->var == HS_V_BRIEF ? hs_buf_str(b, v) : hs_json_quote(b, v);
            break;
        case HS_ENC_HEADER:
            if (v && strpbrk(v, "\r\n"))
                return -EINVAL;
            r = v ? hs_buf_str(b, v) : 0;
            break;
        }
    }
    return r;
}

/* ---- success and rules ------------------------------------------------- */

enum hs_action { HS_OK, HS_RETRY, HS_FAILED, HS_INVALID_ADDRESS, HS_OPTED_OUT };

static const struct {
    const char *name;
    enum cz_send_status status;
} hs_actions[] = {
    [HS_OK] = { "ok", CZ_SEND_OK },
    [HS_RETRY] = { "retry", CZ_SEND_RETRY },
    [HS_FAILED] = { "failed", CZ_SEND_FAILED },
    [HS_INVALID_ADDRESS] = { "invalid_address", CZ_SEND_INVALID_ADDRESS },
    [HS_OPTED_OUT] = { "opted_out", CZ_SEND_OPTED_OUT },
};

/* One condition: the HTTP status within [lo, hi], or the provider code equal to code. */
struct hs_cond {
    bool is_code;
    int lo, hi;
    char code[64];
};
struct hs_rule {
    struct hs_cond cond[HS_CONDS_MAX];
    int ncond;
    enum hs_action action;
};
struct hs_rules {
    struct hs_rule v[HS_RULES_MAX];
    int n;
};

static const char *hs_skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    return p;
}

/* A status spec: "429", "5xx", "500-599".  0, or -EINVAL. */
static int hs_status_spec(const char *s, size_t n, int *lo, int *hi)
{
    char t[16];
    if (n == 0 || n >= sizeof(t))
        return -EINVAL;
    memcpy(t, s, n);
    t[n] = 0;
    if (n == 3 && t[0] >= '1' && t[0] <= '5' && t[1] == 'x' && t[2] == 'x') {
        *lo = (t[0] - '0') * 100;
        *hi = *lo + 99;
        return 0;
    }
    int a, b, used = 0;
    if (sscanf(t, "%3d-%3d%n", &a, &b, &used) == 2 && (size_t)used == n) {
    } else if (sscanf(t, "%3d%n", &a, &used) == 1 && (size_t)used == n) {
        b = a;
    } else {
        return -EINVAL;
    }
    if (a < 100 || b > 599 || a > b || t[0] == '+' || t[0] == '-')
        return -EINVAL;
    *lo = a;
    *hi = b;
    return 0;
}

/*
 * Parse conditions "http SPEC" and "code VALUE" from *pp up to a ';', '='
 * or the end into r (at least one).  Errors go to err[errsz] (a phrase).
 */
static int hs_conds_parse(const char **pp, struct hs_rule *r, char *err, size_t errsz)
{
    const char *p = *pp;
    r->ncond = 0;
    for (;;) {
        p = hs_skip_ws(p);
        if (!*p || *p == ';' || *p == '=')
            break;
        const char *w = p;
        while (*p && *p != ' ' && *p != '\t' && *p != ';' && *p != '=')
            p++;
        size_t wn = (size_t)(p - w);
        bool is_http = wn == 4 && memcmp(w, "http", 4) == 0;
        bool is_code = wn == 4 && memcmp(w, "code", 4) == 0;
        for (int k = HS_RETRY; !is_http && !is_code && k <= HS_OPTED_OUT; k++)
            if (strlen(hs_actions[k].name) == wn && memcmp(hs_actions[k].name, w, wn) == 0) {
                snprintf(err, errsz, "expected '=' before the action '%s'", hs_actions[k].name);
                return -EINVAL;
            }
        if (!is_http && !is_code) {
            snprintf(err, errsz, "expected 'http' or 'code', got '%.*s'", (int)(wn > 40 ? 40 : wn),
                     w);
            return -EINVAL;
        }
        p = hs_skip_ws(p);
        const char *v = p;
        while (*p && *p != ' ' && *p != '\t' && *p != ';' && *p != '=')
            p++;
        size_t vn = (size_t)(p - v);
        if (!vn) {
            snprintf(err, errsz, "'%s' needs a value", is_http ? "http" : "code");
            return -EINVAL;
        }
        if (r->ncond == HS_CONDS_MAX) {
            snprintf(err, errsz, "more than %d conditions in one rule", HS_CONDS_MAX);
            return -EINVAL;
        }
        struct hs_cond *c = &r->cond[r->ncond];
        *c = (struct hs_cond){ .is_code = is_code };
        if (is_http && hs_status_spec(v, vn, &c->lo, &c->hi) < 0) {
            snprintf(err, errsz, "bad HTTP status '%.*s' (429, 5xx or 500-503)",
                     (int)(vn > 20 ? 20 : vn), v);
            return -EINVAL;
        }
        if (is_code) {
            if (vn >= sizeof(c->code)) {
                snprintf(err, errsz, "code '%.20s...' too long", v);
                return -EINVAL;
            }
            memcpy(c->code, v, vn);
            c->code[vn] = 0;
        }
        r->ncond++;
    }
    if (!r->ncond) {
        snprintf(err, errsz, "a rule needs a condition ('http 429' or 'code 21211')");
        return -EINVAL;
    }
    *pp = p;
    return 0;
}

/* The success conditions: "http 2xx code 0". */
static int hs_success_parse(const char *s, struct hs_rule *ret, char *err, size_t errsz)
{
    struct hs_rule r = { .action = HS_OK };
    const char *p = s;
    int e = hs_conds_parse(&p, &r, err, errsz);
    if (e < 0)
        return e;
    if (*p) {
        snprintf(err, errsz, "unexpected '%c' (success is only conditions)", *p);
        return -EINVAL;
    }
    *ret = r;
    return 0;
}

/*
 * The rules: "COND... = ACTION; ..." with ACTION one of retry, failed,
 * invalid_address, opted_out.  Empty is no rule.
 */
static int hs_rules_parse(const char *s, struct hs_rules *ret, char *err, size_t errsz)
{
    struct hs_rules rs = { .n = 0 };
    const char *p = s;
    for (;;) {
        int i = rs.n + 1;
        p = hs_skip_ws(p);
        if (!*p)
            break;
        if (*p == ';') {
            p++;
            continue;
        }
        if (rs.n == HS_RULES_MAX) {
            snprintf(err, errsz, "more than %d rules", HS_RULES_MAX);
            return -EINVAL;
        }
        struct hs_rule *r = &rs.v[rs.n];
        char e[160];
        if (hs_conds_parse(&p, r, e, sizeof(e)) < 0) {
            snprintf(err, errsz, "rule %d: %s", i, e);
            return -EINVAL;
        }
        if (*p != '=') {
            snprintf(err, errsz, "rule %d: expected '= ACTION' after the conditions", i);
            return -EINVAL;
        }
        p = hs_skip_ws(p + 1);
        const char *a = p;
        while (*p && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t an = (size_t)(p - a);
        bool ok = false;
        for (int k = HS_RETRY; k <= HS_OPTED_OUT; k++)
            if (strlen(hs_actions[k].name) == an && memcmp(hs_actions[k].name, a, an) == 0) {
                r->action = (enum hs_action)k;
                ok = true;
            }
        if (!ok) {
            snprintf(err, errsz,
                     "rule %d: action must be retry, failed, invalid_address or opted_out, "
                     "got '%.*s'", i, (int)(an > 30 ? 30 : an), a);
            return -EINVAL;
        }
        p = hs_skip_ws(p);
        if (*p && *p != ';') {
            snprintf(err, errsz, "rule %d: expected ';' after the action", i);
            return -EINVAL;
        }
        rs.n++;
    }
    *ret = rs;
    return 0;
}

/* Whether every condition of r holds for HTTP status and code (NULL: none found). */
static bool hs_rule_holds(const struct hs_rule *r, int status, const char *code)
{
    for (int i = 0; i < r->ncond; i++) {
        const struct hs_cond *c = &r->cond[i];
        if (c->is_code ? !code || strcmp(code, c->code) != 0 : status < c->lo || status > c->hi)
            return false;
    }
    return true;
}

/*
 * Classify a reply: HTTP status (0: no reply came) and the provider code
 * (NULL: none).  Pure; see the table atop the file.
 */
static enum cz_send_status hs_classify(const struct hs_rule *success, const struct hs_rules *rules,
                                       int status, const char *code)
{
    if (status == 0)
        return CZ_SEND_RETRY;
    if (hs_rule_holds(success, status, code))
        return CZ_SEND_OK;
    for (int i = 0; i < rules->n; i++)
        if (hs_rule_holds(&rules->v[i], status, code))
            return hs_actions[rules->v[i].action].status;
    if (status == 408 || status == 429 || (status >= 500 && status <= 599))
        return CZ_SEND_RETRY;
    return CZ_SEND_FAILED;
}

/*
 * A value from the reply body by pointer (json_ok: the body passed
 * hs_json_check()) or regex (group 1, else the whole match) into
 * out[outsz].  0, or -ENOENT when there is none.
 */
static int hs_extract(const char *pointer, const regex_t *re, bool json_ok, const char *body,
                      size_t len, char *out, size_t outsz)
{
    if (pointer) {
        struct hs_jval v;
        if (!json_ok || hs_json_find(body, len, pointer, &v) < 0 ||
            hs_jval_text(&v, out, outsz) < 0)
            return -ENOENT;
        return 0;
    }
    if (re) {
        regmatch_t m[2];
        if (regexec(re, body, 2, m, 0) != 0)
            return -ENOENT;
        regmatch_t g = m[1].rm_so >= 0 ? m[1] : m[0];
        size_t n = (size_t)(g.rm_eo - g.rm_so);
        if (n >= outsz)
            return -ENOENT;
        memcpy(out, body + g.rm_so, n);
        out[n] = 0;
        return 0;
    }
    return -ENOENT;
}

/* ---- the channel --------------------------------------------------------- */

struct hs_header_tpl {
    char *name;
    struct hs_tpl value;
};

struct hs_req;
struct hs_expiry;

struct hs_chan {
    struct cz_instance *inst;
    const struct cz_host *host;
    const char *method;
    bool json, query_body; /* JSON body; GET: the body goes in the URL's query */
    struct hs_tpl url, body;
    struct hs_header_tpl headers[HS_HEADERS_MAX];
    size_t nheaders;
    char *auth_name, *auth_value; /* a token header, or NULL */
    char *username, *password;    /* basic auth, or NULL */
    char *from;
    char *status_url;             /* with "?attempt=" or "&attempt=" appended, or NULL */
    char *status_tail;            /* "&token=..." or "" */
    struct hs_rule success;
    struct hs_rules rules;
    char *id_pointer, *code_pointer, *error_pointer;
    regex_t id_re, code_re;
    bool has_id_re, has_code_re;
    bool needs_code;              /* a success or rule condition reads the provider code */
    struct hs_buf sb_url, sb_body, sb_hv, sb_su; /* hs_build()'s scratch, kept between sends */
    int64_t timeout_ms, max_inflight, inflight;
    struct hs_req *flight;
    struct hs_req *wait, *wait_tail;
    /* dialers: placeholders from the inputs and the window, and the withdrawal */
    bool needs_text;              /* a template uses {text} */
    unsigned input_uses;          /* the HS_V_INPUT_BITS the templates use */
    struct hs_buf sb_name, sb_brief, sb_btext; /* their values, kept between sends */
    char win_start[32], win_end[32];
    bool cancel;
    const char *cancel_method;
    bool cancel_query;            /* GET: the cancel body goes in the query */
    struct hs_tpl cancel_url, cancel_body;
    struct hs_rule cancel_success;
    struct hs_expiry *expiries;   /* armed or waiting for their send's reply (invariant 6) */
};

/* One request, expanded into mem. */
struct hs_req {
    struct hs_req *prev, *next;
    struct hs_chan *h;
    struct cz_send *send;
    int64_t attempt_id;
    const char *url, *body;
    size_t body_len;
    struct cz_header hdr[HS_HEADERS_MAX + 2];
    size_t nhdr;
    struct hs_expiry *x;          /* the lead's withdrawal, armed if the send is accepted */
    char mem[];
};

static void hs_complete(struct hs_chan *h, struct cz_send *send, enum cz_send_status st,
                        const char *provider_id, const char *error, int64_t retry_after_ms)
{
    h->host->complete(send, &(struct cz_result){ .status = st, .provider_id = provider_id,
                                                 .error = error,
                                                 .retry_after_ms = retry_after_ms });
}

static void hs_done(void *userdata, const struct cz_http_response *res);
static void hs_expiry_arm(struct hs_expiry *x, const char *provider_id);
static void hs_expiry_free(struct hs_expiry *x);

static int hs_start(struct hs_chan *h, struct hs_req *q)
{
    struct cz_http_request req = {
        .method = h->method,
        .url = q->url,
        .headers = q->hdr,
        .nheaders = q->nhdr,
        .body = q->body,
        .body_len = q->body_len,
        .username = h->username,
        .password = h->password,
        .timeout_ms = h->timeout_ms,
    };
    int r = h->host->http(h->inst, &req, hs_done, q);
    if (r < 0)
        return r;
    q->prev = NULL;
    q->next = h->flight;
    if (q->next)
        q->next->prev = q;
    h->flight = q;
    h->inflight++;
    return 0;
}

static void hs_drain(struct hs_chan *h)
{
    while (h->wait && h->inflight < h->max_inflight) {
        struct hs_req *q = h->wait;
        h->wait = q->next;
        if (!h->wait)
            h->wait_tail = NULL;
        q->next = NULL;
        int r = hs_start(h, q);
        if (r < 0) {
            char msg[96];
            snprintf(msg, sizeof(msg), "cannot start the request: %s", strerror(-r));
            hs_complete(h, q->send, CZ_SEND_RETRY, NULL, msg, 0);
            hs_expiry_free(q->x);
            free(q);
        }
    }
}

static void hs_done(void *userdata, const struct cz_http_response *res)
{
    struct hs_req *q = userdata;
    struct hs_chan *h = q->h;
    char code[HS_VALUE_MAX], id[HS_VALUE_MAX], text[HS_VALUE_MAX], msg[1024];
    const char *body = res->body ? res->body : "";
    size_t len = res->body ? res->body_len : 0;
    int status = res->error ? 0 : res->status;

    if (q->prev)
        q->prev->next = q->next;
    else
        h->flight = q->next;
    if (q->next)
        q->next->prev = q->prev;
    h->inflight--;

    /* the reply is checked once; each pointer then only walks it */
    bool json_ok = status && (h->id_pointer || h->code_pointer || h->error_pointer) &&
                   hs_json_check(body, len) == 0;
    bool has_code = status && (h->needs_code || status < 200 || status > 299) &&
                    hs_extract(h->code_pointer, h->has_code_re ? &h->code_re : NULL, json_ok,
                               body, len, code, sizeof(code)) == 0;
    enum cz_send_status st = hs_classify(&h->success, &h->rules, status, has_code ? code : NULL);
    if (st == CZ_SEND_OK) {
        bool has_id = hs_extract(h->id_pointer, h->has_id_re ? &h->id_re : NULL, json_ok, body,
                                 len, id, sizeof(id)) == 0;
        if (q->x)
            hs_expiry_arm(q->x, has_id ? id : NULL);
        q->x = NULL;
        hs_complete(h, q->send, st, has_id ? id : NULL, NULL, 0);
    } else {
        if (!status)
            snprintf(msg, sizeof(msg), "no reply: %s",
                     res->error_text ? res->error_text
                                     : strerror(res->error ? -res->error : EPROTO));
        else if (h->error_pointer &&
                 hs_extract(h->error_pointer, NULL, json_ok, body, len, text, sizeof(text)) == 0)
            snprintf(msg, sizeof(msg), "HTTP %d%s%s: %s", status, has_code ? " code " : "",
                     has_code ? code : "", text);
        else
            snprintf(msg, sizeof(msg), "HTTP %d%s%s: %.200s", status, has_code ? " code " : "",
                     has_code ? code : "", body);
        for (char *c = msg; *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
        hs_complete(h, q->send, st, NULL, msg, st == CZ_SEND_RETRY ? res->retry_after_ms : 0);
    }
    hs_expiry_free(q->x);
    free(q);
    hs_drain(h);
}

static void hs_free(struct hs_chan *h)
{
    if (!h)
        return;
    while (h->flight) {
        struct hs_req *q = h->flight;
        h->flight = q->next;
        free(q);
    }
    while (h->wait) {
        struct hs_req *q = h->wait;
        h->wait = q->next;
        free(q);
    }
    while (h->expiries)
        hs_expiry_free(h->expiries);
    free(h->sb_url.p);
    free(h->sb_body.p);
    free(h->sb_hv.p);
    free(h->sb_su.p);
    free(h->sb_name.p);
    free(h->sb_brief.p);
    free(h->sb_btext.p);
    hs_tpl_release(&h->cancel_url);
    hs_tpl_release(&h->cancel_body);
    hs_tpl_release(&h->url);
    hs_tpl_release(&h->body);
    for (size_t i = 0; i < h->nheaders; i++) {
        free(h->headers[i].name);
        hs_tpl_release(&h->headers[i].value);
    }
    free(h->auth_name);
    free(h->auth_value);
    free(h->username);
    free(h->password);
    free(h->from);
    free(h->status_url);
    free(h->status_tail);
    free(h->id_pointer);
    free(h->code_pointer);
    free(h->error_pointer);
    if (h->has_id_re)
        regfree(&h->id_re);
    if (h->has_code_re)
        regfree(&h->code_re);
    free(h);
}

static const char *hs_opt(struct hs_chan *h, const char *key)
{
    return h->host->setting_set(h->inst, key) ? h->host->setting_str(h->inst, key) : NULL;
}

/* strdup of an optional setting into *ret (NULL stays NULL). */
static int hs_dup(struct hs_chan *h, const char *key, char **ret)
{
    const char *s = hs_opt(h, key);
    *ret = NULL;
    if (s && !(*ret = strdup(s)))
        return -ENOMEM;
    return 0;
}

/* Parse "Name: value|Name: value" into h->headers. */
static int hs_headers_parse(struct hs_chan *h, const char *s, char *err, size_t errsz)
{
    char bad[HS_KEY_MAX];
    while (*s) {
        const char *e = strchr(s, '|');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        const char *colon = memchr(s, ':', n);
        if (!colon || colon == s) {
            snprintf(err, errsz, "headers: expected 'Name: value', got '%.*s'",
                     (int)(n > 40 ? 40 : n), s);
            return -EINVAL;
        }
        for (const char *c = s; c < colon; c++)
            if (*c <= ' ' || *c >= 0x7f) {
                snprintf(err, errsz, "headers: bad header name '%.*s'", (int)(colon - s), s);
                return -EINVAL;
            }
        if (h->nheaders == HS_HEADERS_MAX) {
            snprintf(err, errsz, "headers: more than %d", HS_HEADERS_MAX);
            return -EINVAL;
        }
        struct hs_header_tpl *t = &h->headers[h->nheaders];
        const char *v = colon + 1;
        while (*v == ' ' && v < s + n)
            v++;
        char *val = strndup(v, (size_t)(s + n - v));
        if (!(t->name = strndup(s, (size_t)(colon - s))) || !val) {
            free(val);
            free(t->name);
            t->name = NULL;
            return -ENOMEM;
        }
        int r = hs_tpl_compile(val, &t->value, bad);
        free(val);
        if (r < 0) {
            if (r == -EINVAL)
                snprintf(err, errsz, "headers: unknown placeholder '{%s}'", bad);
            free(t->name);
            t->name = NULL;
            return r;
        }
        h->nheaders++;
        s += n;
        if (*s == '|')
            s++;
    }
    return 0;
}

/* The values of the placeholders for a job (strings borrowed; buffers from the caller). */
static void hs_values(const struct hs_chan *h, const struct cz_job *job, const char *id,
                      const char *status_url, const char *vals[HS_V_MAX_])
{
    vals[HS_V_TO] = job->address;
    vals[HS_V_TEXT] = job->text;
    vals[HS_V_FROM] = h->from;
    vals[HS_V_IDEMPOTENCY_KEY] = job->idempotency_key;
    vals[HS_V_ATTEMPT_ID] = id;
    vals[HS_V_DEBTOR_ID] = job->debtor_id;
    vals[HS_V_LOCALE] = job->locale;
    vals[HS_V_STATUS_URL] = status_url;
    for (int i = HS_V_NAME; i < HS_V_MAX_; i++)
        vals[i] = NULL; /* hs_input_values() fills those the templates use */
}

/* ---- dialers: the inputs and the window as placeholders ------------------ */

/* t as "2026-12-07T09:00:00Z" into buf[32] (0: empty). */
static void hs_utc(int64_t t, char *buf)
{
    struct tm tm;
    time_t tt = (time_t)t;
    buf[0] = 0;
    if (t > 0 && gmtime_r(&tt, &tm))
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * A string member of the inputs into sb (decoded), or NULL when there is
 * none.  in passed hs_json_check().
 */
static const char *hs_input_text(const char *in, size_t n, const char *pointer, struct hs_buf *sb)
{
    struct hs_jval v;
    if (hs_json_find(in, n, pointer, &v) < 0 || v.type != HS_J_STRING)
        return NULL;
    sb->len = 0;
    /* the decoded text is never longer than the quoted one: make room, then decode */
    if (hs_buf_add(sb, v.p, v.n) < 0 || hs_jval_text(&v, sb->p, v.n + 1) < 0)
        return NULL;
    return sb->p;
}

/* The values of the placeholders the templates take from the inputs and the window. */
static int hs_input_values(struct hs_chan *h, const struct cz_job *job,
                           const char *vals[HS_V_MAX_])
{
    const char *in = job->inputs_json ? job->inputs_json : "{}";
    size_t n = strlen(in);
    bool ok = hs_json_check(in, n) == 0;
    unsigned u = h->input_uses;
    if (ok && u & 1u << HS_V_NAME)
        vals[HS_V_NAME] = hs_input_text(in, n, "/name", &h->sb_name);
    if (ok && u & 1u << HS_V_BRIEF_TEXT)
        vals[HS_V_BRIEF_TEXT] = hs_input_text(in, n, "/brief_text", &h->sb_btext);
    struct hs_jval v;
    if (ok && u & 1u << HS_V_BRIEF && hs_json_find(in, n, "/brief", &v) == 0 &&
        v.type == HS_J_OBJECT) {
        /* a checked JSON value, copied as it is (invariant 5) */
        h->sb_brief.len = 0;
        int r = hs_buf_add(&h->sb_brief, v.p, v.n);
        if (r < 0)
            return r;
        vals[HS_V_BRIEF] = h->sb_brief.p;
    }
    if (u & (1u << HS_V_WINDOW_START | 1u << HS_V_WINDOW_END)) {
        int64_t start = h->host->abi_minor >= 2 ? job->not_before : 0;
        if (start <= 0)
            start = h->host->wall_ms() / 1000; /* an older host: the window starts now */
        hs_utc(start, h->win_start);
        hs_utc(job->not_after, h->win_end);
        vals[HS_V_WINDOW_START] = h->win_start;
        vals[HS_V_WINDOW_END] = h->win_end[0] ? h->win_end : NULL;
    }
    return 0;
}

/* ---- dialers: withdrawing a lead when its window closes ------------------- */

struct hs_expiry {
    struct hs_chan *h;
    struct hs_expiry *prev, *next;
    struct cz_timer *timer;       /* armed: waiting for the window's end */
    bool in_http;                 /* the withdrawal is running */
    int tries;
    int64_t attempt_id, not_after;
    char *to, *idempotency_key, *debtor_id, *provider_id; /* copies (rule 2 of the ABI) */
};

static void hs_expiry_free(struct hs_expiry *x)
{
    if (!x)
        return;
    struct hs_chan *h = x->h;
    if (x->timer)
        h->host->timer_cancel(x->timer);
    if (x->prev)
        x->prev->next = x->next;
    else
        h->expiries = x->next;
    if (x->next)
        x->next->prev = x->prev;
    free(x->to);
    free(x->idempotency_key);
    free(x->debtor_id);
    free(x->provider_id);
    free(x);
}

/* A withdrawal for job, on the channel's list but not armed yet.  0, or -ENOMEM. */
static int hs_expiry_new(struct hs_chan *h, const struct cz_job *job, struct hs_expiry **ret)
{
    struct hs_expiry *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->h = h;
    x->attempt_id = job->attempt_id;
    x->not_after = job->not_after;
    x->next = h->expiries;
    if (x->next)
        x->next->prev = x;
    h->expiries = x;
    if (!(x->to = strdup(job->address)) ||
        (job->idempotency_key && !(x->idempotency_key = strdup(job->idempotency_key))) ||
        (job->debtor_id && !(x->debtor_id = strdup(job->debtor_id)))) {
        hs_expiry_free(x);
        return -ENOMEM;
    }
    *ret = x;
    return 0;
}

static void hs_expiry_fire(void *userdata);

/* The send was accepted: wait for the window's end (without a timer, give up, logged). */
static void hs_expiry_arm(struct hs_expiry *x, const char *provider_id)
{
    struct hs_chan *h = x->h;
    int64_t ms = x->not_after * 1000 - h->host->wall_ms();
    if ((provider_id && !(x->provider_id = strdup(provider_id))) ||
        !(x->timer = h->host->timer_add(h->inst, ms > 0 ? ms : 0, hs_expiry_fire, x))) {
        h->host->log(h->inst, CZ_LOG_WARNING, "attempt %lld: cannot arm its withdrawal at "
                     "window close: out of memory", (long long)x->attempt_id);
        hs_expiry_free(x);
    }
}

static void hs_expiry_reply(void *userdata, const struct cz_http_response *res)
{
    struct hs_expiry *x = userdata;
    struct hs_chan *h = x->h;
    const char *lead = x->provider_id ? x->provider_id : "-";
    int status = res->error ? 0 : res->status;
    x->in_http = false;
    if (!status || status == 408 || status == 429 || status >= 500) {
        if (++x->tries < HS_CANCEL_TRIES &&
            (x->timer = h->host->timer_add(h->inst, HS_CANCEL_RETRY_MS, hs_expiry_fire, x)))
            return;
        h->host->log(h->inst, CZ_LOG_WARNING,
                     "cannot withdraw lead %s (attempt %lld) at window close: %s", lead,
                     (long long)x->attempt_id,
                     status ? "the dialer keeps failing" : res->error_text ? res->error_text
                                                                           : "no reply");
        hs_expiry_free(x);
        return;
    }
    char code[HS_VALUE_MAX];
    const char *body = res->body ? res->body : "";
    size_t len = res->body ? res->body_len : 0;
    bool json_ok = h->code_pointer && hs_json_check(body, len) == 0;
    bool has_code = hs_extract(h->code_pointer, h->has_code_re ? &h->code_re : NULL, json_ok,
                               body, len, code, sizeof(code)) == 0;
    if (hs_rule_holds(&h->cancel_success, status, has_code ? code : NULL))
        h->host->log(h->inst, CZ_LOG_INFO,
                     "lead %s (attempt %lld) withdrawn undialled: its window closed", lead,
                     (long long)x->attempt_id);
    else
        h->host->log(h->inst, CZ_LOG_INFO,
                     "lead %s (attempt %lld) not withdrawn at window close (HTTP %d): dialled "
                     "already, or gone", lead, (long long)x->attempt_id, status);
    hs_expiry_free(x);
}

static void hs_expiry_fire(void *userdata)
{
    struct hs_expiry *x = userdata;
    struct hs_chan *h = x->h;
    struct hs_buf url = { .max = HS_REQ_MAX }, body = { .max = HS_REQ_MAX },
                  hv = { .max = HS_REQ_MAX };
    struct cz_header hdr[HS_HEADERS_MAX + 2];
    size_t nhdr = 0, hoff[HS_HEADERS_MAX];
    char id[24];
    const char *vals[HS_V_MAX_] = { NULL };
    x->timer = NULL;
    snprintf(id, sizeof(id), "%lld", (long long)x->attempt_id);
    vals[HS_V_TO] = x->to;
    vals[HS_V_FROM] = h->from;
    vals[HS_V_IDEMPOTENCY_KEY] = x->idempotency_key;
    vals[HS_V_ATTEMPT_ID] = id;
    vals[HS_V_DEBTOR_ID] = x->debtor_id;
    vals[HS_V_PROVIDER_ID] = x->provider_id;
    int r = hs_tpl_expand(&h->cancel_url, vals, HS_ENC_URL, &url);
    if (r >= 0 && h->cancel_body.src)
        r = hs_tpl_expand(&h->cancel_body, vals, h->json ? HS_ENC_JSON : HS_ENC_URL, &body);
    for (size_t i = 0; r >= 0 && i < h->nheaders; i++) {
        hoff[i] = hv.len;
        if ((r = hs_tpl_expand(&h->headers[i].value, vals, HS_ENC_HEADER, &hv)) >= 0)
            r = hs_buf_add(&hv, "", 1);
    }
    if (r >= 0 && h->cancel_query && body.len) {
        if ((r = hs_buf_str(&url, strchr(url.p ? url.p : "", '?') ? "&" : "?")) >= 0)
            r = hs_buf_add(&url, body.p, body.len);
        body.len = 0;
    }
    if (r >= 0) {
        if (body.len)
            hdr[nhdr++] = (struct cz_header){
                "Content-Type", h->json ? "application/json" : "application/x-www-form-urlencoded"
            };
        for (size_t i = 0; i < h->nheaders; i++)
            hdr[nhdr++] = (struct cz_header){ h->headers[i].name, hv.p + hoff[i] };
        if (h->auth_name)
            hdr[nhdr++] = (struct cz_header){ h->auth_name, h->auth_value };
        struct cz_http_request req = {
            .method = h->cancel_method,
            .url = url.p,
            .headers = hdr,
            .nheaders = nhdr,
            .body = body.len ? body.p : NULL,
            .body_len = body.len,
            .username = h->username,
            .password = h->password,
            .timeout_ms = h->timeout_ms,
        };
        r = h->host->http(h->inst, &req, hs_expiry_reply, x);
    }
    free(url.p);
    free(body.p);
    free(hv.p);
    if (r < 0) {
        h->host->log(h->inst, CZ_LOG_WARNING,
                     "cannot withdraw lead %s (attempt %lld) at window close: %s",
                     x->provider_id ? x->provider_id : "-", (long long)x->attempt_id,
                     strerror(-r));
        hs_expiry_free(x);
        return;
    }
    x->in_http = true;
}

/* Log one problem of the profile; init goes on to find the others. */
static void hs_bad(struct hs_chan *h, int *nbad, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void hs_bad(struct hs_chan *h, int *nbad, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    h->host->log(h->inst, CZ_LOG_ERROR, "bad provider profile: %s", msg);
    (*nbad)++;
}

/*
 * The withdrawal settings (cancel_*): problems are logged and counted in
 * *nbad.  0, or -ENOMEM.
 */
static int hs_cancel_init(struct hs_chan *h, int *nbad)
{
    const char *url = hs_opt(h, "cancel_url"), *body = hs_opt(h, "cancel_body");
    char bad[HS_KEY_MAX], err[160];
    int r;
    if (!url) {
        if (body)
            hs_bad(h, nbad, "'cancel_body' needs 'cancel_url'");
        return 0;
    }
    h->cancel = true;
    const char *m = h->host->setting_str(h->inst, "cancel_method");
    h->cancel_method = strcmp(m, "POST") == 0  ? "POST"
                       : strcmp(m, "PUT") == 0 ? "PUT"
                       : strcmp(m, "GET") == 0 ? "GET" : "DELETE";
    h->cancel_query = strcmp(h->cancel_method, "GET") == 0;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        hs_bad(h, nbad, "'cancel_url' must start with http:// or https://");
    static const char may[] = "may use only {provider_id}, {attempt_id}, {idempotency_key}, "
                              "{debtor_id}, {to} and {from}";
    const char *keys[] = { "cancel_url", "cancel_body" }, *srcs[] = { url, body };
    struct hs_tpl *tpls[] = { &h->cancel_url, &h->cancel_body };
    for (int i = 0; i < 2; i++) {
        if (!srcs[i])
            continue;
        if ((r = hs_tpl_compile(srcs[i], tpls[i], bad)) == -ENOMEM)
            return r;
        if (r < 0)
            hs_bad(h, nbad, "unknown placeholder '{%s}' in '%s'", bad, keys[i]);
        else if (tpls[i]->uses & ~HS_V_CANCEL_BITS)
            hs_bad(h, nbad, "'%s' %s", keys[i], may);
    }
    unsigned uses = h->cancel_url.uses | h->cancel_body.uses;
    if (h->cancel_url.src && !(uses & (1u << HS_V_PROVIDER_ID | 1u << HS_V_ATTEMPT_ID |
                                       1u << HS_V_IDEMPOTENCY_KEY)))
        hs_bad(h, nbad, "'cancel_url' and 'cancel_body' name no lead: use {provider_id}, "
                        "{attempt_id} or {idempotency_key}");
    if (uses & 1u << HS_V_PROVIDER_ID && !h->id_pointer && !h->has_id_re &&
        !hs_opt(h, "id_regex"))
        hs_bad(h, nbad, "{provider_id} needs 'id_pointer' or 'id_regex'");
    if (h->json && h->cancel_body.src && !(h->cancel_body.uses & ~HS_V_CANCEL_BITS)) {
        const char *xs[HS_V_MAX_];
        for (int i = 0; i < HS_V_MAX_; i++)
            xs[i] = "x";
        struct hs_buf b = { 0 };
        r = hs_tpl_expand(&h->cancel_body, xs, HS_ENC_JSON, &b);
        bool ok = r >= 0 && hs_json_check(b.p ? b.p : "", b.len) == 0;
        free(b.p);
        if (r < 0)
            return r;
        if (!ok)
            hs_bad(h, nbad, "'cancel_body' is not JSON once its placeholders are filled");
    }
    if (hs_success_parse(h->host->setting_str(h->inst, "cancel_success"), &h->cancel_success, err,
                         sizeof(err)) < 0)
        hs_bad(h, nbad, "'cancel_success': %s", err);
    return 0;
}

/*
 * Check the profile and compile it.  Every problem is logged (not just the
 * first) and init refuses with -EINVAL; -ENOMEM.
 */
static int hs_init(struct cz_instance *inst, const struct cz_host *host, void **ret_state)
{
    char err[1024], bad[HS_KEY_MAX];
    int r, nbad = 0;

    if (host->abi_minor < 1 || !host->http) {
        host->log(inst, CZ_LOG_ERROR, "this cadenza has no HTTP for plugins (ABI 1.1 needed)");
        return -ENOTSUP;
    }
    struct hs_chan *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->inst = inst;
    h->host = host;
    const char *method = host->setting_str(inst, "method");
    h->method = strcmp(method, "GET") == 0 ? "GET" : strcmp(method, "PUT") == 0 ? "PUT" : "POST";
    h->json = strcmp(host->setting_str(inst, "body_format"), "json") == 0;
    h->query_body = strcmp(h->method, "GET") == 0;
    h->timeout_ms = host->setting_int(inst, "timeout_ms");
    h->max_inflight = host->setting_int(inst, "max_inflight");
    const char *url = host->setting_str(inst, "url");
    const char *auth = host->setting_str(inst, "auth");

    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        hs_bad(h, &nbad, "'url' must start with http:// or https://");
    if (h->json && h->query_body)
        hs_bad(h, &nbad, "method GET takes a form body (the URL's query), not json");
    static const char known[] = "known: to, text, from, idempotency_key, attempt_id, "
                                "debtor_id, locale, status_url, name, brief, brief_text, "
                                "window_start, window_end";
    if ((r = hs_tpl_compile(url, &h->url, bad)) == -EINVAL)
        hs_bad(h, &nbad, "unknown placeholder '{%s}' in 'url' (%s)", bad, known);
    else if (r < 0)
        goto oom;
    if ((r = hs_tpl_compile(host->setting_str(inst, "body"), &h->body, bad)) == -EINVAL)
        hs_bad(h, &nbad, "unknown placeholder '{%s}' in 'body' (%s)", bad, known);
    else if (r < 0)
        goto oom;
    if (h->json && h->body.src) {
        /* every placeholder becomes a JSON string (or null): check the shape with one */
        const char *xs[HS_V_MAX_];
        for (int i = 0; i < HS_V_MAX_; i++)
            xs[i] = "x";
        xs[HS_V_BRIEF] = "{}"; /* spliced as it is: an object */
        struct hs_buf b = { 0 };
        r = hs_tpl_expand(&h->body, xs, HS_ENC_JSON, &b);
        bool ok = r >= 0 && hs_json_check(b.p ? b.p : "", b.len) == 0;
        free(b.p);
        if (r < 0)
            goto oom;
        if (!ok)
            hs_bad(h, &nbad, "'body' is not JSON once its placeholders are filled "
                             "(write them bare: {\"to\":{to}})");
    }
    if (h->body.src && h->url.src && !((h->body.uses | h->url.uses) & 1u << HS_V_TO))
        hs_bad(h, &nbad, "neither 'body' nor 'url' uses {to}");
    if (h->body.src && !(h->body.uses & (1u << HS_V_TEXT | 1u << HS_V_BRIEF |
                                         1u << HS_V_BRIEF_TEXT)))
        hs_bad(h, &nbad, "'body' does not use {text} (a dialer's: {brief} or {brief_text})");
    if (hs_opt(h, "headers") &&
        (r = hs_headers_parse(h, hs_opt(h, "headers"), err, sizeof(err))) < 0) {
        if (r != -EINVAL)
            goto oom;
        hs_bad(h, &nbad, "%s", err);
    }
    if (strcmp(auth, "basic") == 0) {
        if (!hs_opt(h, "username") || !hs_opt(h, "password"))
            hs_bad(h, &nbad, "auth: basic needs 'username' and 'password'");
        else if (hs_dup(h, "username", &h->username) < 0 ||
                 hs_dup(h, "password", &h->password) < 0)
            goto oom;
    } else if (strcmp(auth, "bearer") == 0 || strcmp(auth, "header") == 0) {
        const char *token = hs_opt(h, "token");
        bool bearer = strcmp(auth, "bearer") == 0;
        if (!token || strpbrk(token, "\r\n")) {
            hs_bad(h, &nbad, "auth: %s needs a one-line 'token'", auth);
        } else {
            const char *name = bearer ? "Authorization" : host->setting_str(inst, "auth_header");
            size_t n = strlen(token) + 8;
            h->auth_name = strdup(name);
            h->auth_value = malloc(n);
            if (!h->auth_name || !h->auth_value)
                goto oom;
            snprintf(h->auth_value, n, "%s%s", bearer ? "Bearer " : "", token);
        }
    }
    if (hs_dup(h, "from", &h->from) < 0)
        goto oom;
    const char *su = hs_opt(h, "status_url"), *tok = hs_opt(h, "status_token");
    if (tok)
        for (const char *c = tok; *c; c++)
            if (!hs_unreserved((unsigned char)*c)) {
                hs_bad(h, &nbad, "'status_token' may only hold letters, digits and - . _ ~");
                break;
            }
    if (su) {
        size_t n = strlen(su) + 16;
        if (!(h->status_url = malloc(n)) ||
            !(h->status_tail = malloc(tok ? strlen(tok) + 8 : 1)))
            goto oom;
        snprintf(h->status_url, n, "%s%cattempt=", su, strchr(su, '?') ? '&' : '?');
        if (tok)
            snprintf(h->status_tail, strlen(tok) + 8, "&token=%s", tok);
        else
            h->status_tail[0] = 0;
    } else if ((h->body.uses | h->url.uses) & 1u << HS_V_STATUS_URL) {
        hs_bad(h, &nbad, "{status_url} is used but 'status_url' is not set");
    }
    /* inbound messages are matched by the token and signed with the password */
    if (hs_opt(h, "inbound_url") && (!tok || !hs_opt(h, "password")))
        hs_bad(h, &nbad, "'inbound_url' needs 'status_token' and 'password' (the signature's key)");
    if (hs_success_parse(host->setting_str(inst, "success"), &h->success, bad, sizeof(bad)) < 0)
        hs_bad(h, &nbad, "'success': %s", bad);
    const char *rules = host->setting_str(inst, "rules");
    if (hs_rules_parse(rules ? rules : "", &h->rules, bad, sizeof(bad)) < 0)
        hs_bad(h, &nbad, "'rules': %s", bad);
    static const char *const pointers[] = { "id_pointer", "code_pointer", "error_pointer" };
    char **pdst[] = { &h->id_pointer, &h->code_pointer, &h->error_pointer };
    for (size_t i = 0; i < 3; i++) {
        const char *p = hs_opt(h, pointers[i]);
        if (p && !hs_pointer_ok(p))
            hs_bad(h, &nbad, "'%s' is not a JSON pointer like /messages/0/status: '%s'",
                   pointers[i], p);
        else if (hs_dup(h, pointers[i], pdst[i]) < 0)
            goto oom;
    }
    static const char *const regexes[] = { "id_regex", "code_regex" };
    regex_t *rdst[] = { &h->id_re, &h->code_re };
    bool *rhas[] = { &h->has_id_re, &h->has_code_re };
    for (size_t i = 0; i < 2; i++) {
        const char *re = hs_opt(h, regexes[i]);
        if (!re)
            continue;
        if (hs_opt(h, pointers[i])) {
            hs_bad(h, &nbad, "'%s' and '%s' exclude each other", pointers[i], regexes[i]);
            continue;
        }
        int e = regcomp(rdst[i], re, REG_EXTENDED);
        if (e) {
            char m[128];
            regerror(e, rdst[i], m, sizeof(m));
            hs_bad(h, &nbad, "'%s': %s", regexes[i], m);
            continue;
        }
        *rhas[i] = true;
    }
    unsigned uses = h->url.uses | h->body.uses;
    for (size_t i = 0; i < h->nheaders; i++)
        uses |= h->headers[i].value.uses;
    if (uses & 1u << HS_V_PROVIDER_ID)
        hs_bad(h, &nbad, "{provider_id} is known only to 'cancel_url' and 'cancel_body'");
    h->needs_text = uses & 1u << HS_V_TEXT;
    h->input_uses = uses & HS_V_INPUT_BITS;
    if ((r = hs_cancel_init(h, &nbad)) < 0)
        goto oom;
    if (nbad) {
        hs_free(h);
        return -EINVAL;
    }
    for (int i = 0; i < h->success.ncond; i++)
        h->needs_code |= h->success.cond[i].is_code;
    for (int k = 0; k < h->rules.n; k++)
        for (int i = 0; i < h->rules.v[k].ncond; i++)
            h->needs_code |= h->rules.v[k].cond[i].is_code;
    h->sb_url.max = h->sb_body.max = h->sb_hv.max = h->sb_su.max = HS_REQ_MAX;
    *ret_state = h;
    return 0;

oom:
    host->log(inst, CZ_LOG_ERROR, "cannot set up the channel: out of memory");
    hs_free(h);
    return -ENOMEM;
}

/*
 * Expand the request for one job (in the channel's scratch buffers, then
 * copied into one allocation: one malloc per send).  0 with *ret,
 * -EINVAL (a job without address or text, or a header value with a line
 * break), -E2BIG, -ENOMEM.
 */
static int hs_build(struct hs_chan *h, const struct cz_job *job, struct hs_req **ret)
{
    struct hs_buf *url = &h->sb_url, *body = &h->sb_body, *hv = &h->sb_hv, *su = &h->sb_su;
    char id[24];
    const char *vals[HS_V_MAX_];
    size_t hoff[HS_HEADERS_MAX];
    int r = 0;

    if (!job->address || !*job->address ||
        (!job->text && (h->needs_text || job->kind == CZ_KIND_SMS)))
        return -EINVAL;
    url->len = body->len = hv->len = su->len = 0;
    snprintf(id, sizeof(id), "%lld", (long long)job->attempt_id);
    if (h->status_url && ((r = hs_buf_str(su, h->status_url)) < 0 ||
                          (r = hs_buf_str(su, id)) < 0 ||
                          (r = hs_buf_str(su, h->status_tail)) < 0))
        return r;
    hs_values(h, job, id, h->status_url ? su->p : NULL, vals);
    if (h->input_uses && (r = hs_input_values(h, job, vals)) < 0)
        return r;
    r = hs_tpl_expand(&h->body, vals, h->json ? HS_ENC_JSON : HS_ENC_URL, body);
    if (r >= 0)
        r = hs_tpl_expand(&h->url, vals, HS_ENC_URL, url);
    for (size_t i = 0; r >= 0 && i < h->nheaders; i++) {
        hoff[i] = hv->len;
        if ((r = hs_tpl_expand(&h->headers[i].value, vals, HS_ENC_HEADER, hv)) >= 0)
            r = hs_buf_add(hv, "", 1);
    }
    if (r >= 0 && h->query_body && body->len) {
        /* GET: the form body is the query */
        if ((r = hs_buf_str(url, strchr(url->p ? url->p : "", '?') ? "&" : "?")) >= 0)
            r = hs_buf_add(url, body->p, body->len);
        body->len = 0;
    }
    if (r < 0)
        return r;
    size_t mem = url->len + 1 + body->len + 1 + hv->len;
    struct hs_req *q = calloc(1, sizeof(*q) + mem);
    if (!q)
        return -ENOMEM;
    char *o = q->mem;
    memcpy(o, url->p ? url->p : "", url->len);
    o[url->len] = 0;
    q->url = o;
    o += url->len + 1;
    if (!h->query_body) {
        memcpy(o, body->p ? body->p : "", body->len);
        o[body->len] = 0;
        q->body = o;
        q->body_len = body->len;
        o += body->len + 1;
        q->hdr[q->nhdr++] = (struct cz_header){
            "Content-Type", h->json ? "application/json" : "application/x-www-form-urlencoded"
        };
    }
    if (hv->len)
        memcpy(o, hv->p, hv->len);
    for (size_t i = 0; i < h->nheaders; i++)
        q->hdr[q->nhdr++] = (struct cz_header){ h->headers[i].name, o + hoff[i] };
    if (h->auth_name)
        q->hdr[q->nhdr++] = (struct cz_header){ h->auth_name, h->auth_value };
    q->attempt_id = job->attempt_id;
    *ret = q;
    return 0;
}

static int hs_send(void *state, const struct cz_job *job, struct cz_send *send)
{
    struct hs_chan *h = state;
    struct hs_req *q = NULL;
    int r = hs_build(h, job, &q);
    if (r == -EINVAL || r == -E2BIG) {
        hs_complete(h, send, CZ_SEND_FAILED, NULL,
                    r == -E2BIG            ? "request too large"
                    : !job->text           ? "job without a rendered text"
                    : !job->address        ? "job without an address"
                                           : "a header value would hold a line break",
                    0);
        return 0;
    }
    if (r < 0)
        return r;
    q->h = h;
    q->send = send;
    if (h->cancel && job->not_after > h->host->wall_ms() / 1000 &&
        (r = hs_expiry_new(h, job, &q->x)) < 0) {
        free(q);
        return r;
    }
    if (h->inflight < h->max_inflight && !h->wait) {
        r = hs_start(h, q);
        if (r < 0) {
            hs_expiry_free(q->x);
            free(q);
        }
        return r;
    }
    if (h->wait_tail)
        h->wait_tail->next = q;
    else
        h->wait = q;
    h->wait_tail = q;
    return 0;
}

static void hs_shutdown(void *state)
{
    struct hs_chan *h = state;
    int armed = 0;
    for (struct hs_expiry *x = h ? h->expiries : NULL; x; x = x->next)
        armed += x->timer != NULL || x->in_http;
    if (armed)
        h->host->log(h->inst, CZ_LOG_WARNING,
                     "%d lead(s) stay with the dialer past shutdown: their withdrawal at "
                     "window close is lost (see plugins/http-sms/README.md)", armed);
    hs_free(state);
}

const struct cz_channel_plugin cz_channel_plugin = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = 1,
    .name = "http-sms",
    .description = "SMS (or dialer leads) through an HTTP API described by a profile",
    .kinds = CZ_KIND_BIT(CZ_KIND_SMS) | CZ_KIND_BIT(CZ_KIND_CALL),
    .settings = hs_settings,
    .init = hs_init,
    .send = hs_send,
    .shutdown = hs_shutdown,
};
