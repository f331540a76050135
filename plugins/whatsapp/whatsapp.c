/*
 * whatsapp.c - the `whatsapp` channel plugin (kind chat): one WhatsApp
 * Cloud API-shaped template message per send, POSTed through host->http
 * to {base_url}/{phone_number_id}/messages with a bearer token.  Built
 * into cadenza through the same descriptor an external plugin exports;
 * it includes only cadenza-plugin.h, so its buffer, JSON writer and
 * strict JSON reader are its own (the reader is the vicidial plugin's,
 * with dotted paths: plugins share no code but the header).
 * plugins/whatsapp/README.md is the operator's page.
 *
 * One send:  send ─► POST ─2xx with messages[0].id─► OK
 *                          └─ otherwise ─► wa_classify() ─► RETRY | FAILED |
 *                                                           INVALID_ADDRESS
 *
 * The request: {"messaging_product":"whatsapp","recipient_type":"individual",
 *   "to":"<E.164 digits>","type":"template","biz_opaque_callback_data":"<key>",
 *   "template":{"name":..,"language":{"code":..},"components":[{"type":"body",
 *   "parameters":[{"type":"text","text":..},..]}]}}
 *
 * Invariants:
 *  1. Every send the host starts is completed exactly once, or send
 *     returns < 0 and never completes it.
 *  2. No pointer into a job outlives wa_send(): the request body is built
 *     in send and handed to the host, which copies it.
 *  3. The token never appears in a log line or a result's error text.
 *  4. A configuration error (template, token, permissions) is logged once
 *     per instance and code, not once per send.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cadenza-plugin.h"

#define WA_JSON_DEPTH 32
#define WA_INPUT_MAX 1024  /* longest body parameter taken from the inputs */
#define WA_ERR_MAX 200
#define WA_ID_MAX 128
#define WA_PARAMS_MAX 16

static const struct cz_setting wa_settings[] = {
    { "base_url", CZ_SETTING_STRING, "https://graph.facebook.com/v21.0", 0, 0, NULL, false,
      "the Graph API root, version included" },
    { "phone_number_id", CZ_SETTING_STRING, NULL, 0, 0, NULL, true,
      "the sending business phone number's id" },
    { "token", CZ_SETTING_SECRET, NULL, 0, 0, NULL, true, "access token (Bearer)" },
    { "template", CZ_SETTING_STRING, NULL, 0, 0, NULL, false,
      "template name for every send (else the job's, through template_map)" },
    { "template_map", CZ_SETTING_STRING, NULL, 0, 0, NULL, false,
      "job template to WhatsApp template: 'early-sms=payment_reminder,late=final_notice'" },
    { "default_language", CZ_SETTING_STRING, "en", 0, 0, NULL, false,
      "language code when the job has no locale" },
    { "language_map", CZ_SETTING_STRING, NULL, 0, 0, NULL, false,
      "locale to WhatsApp language code: 'es=es_ES,en=en_US' (else es-MX becomes es_MX)" },
    { "body_params", CZ_SETTING_STRING, NULL, 0, 0, NULL, false,
      "input names for the body's {{1}}, {{2}}...: 'name,amount,due_date' "
      "(self_service_url: the job's link)" },
    { "timeout_ms", CZ_SETTING_INT, "10000", 100, 120000, NULL, false, "the whole HTTP exchange" },
    { "max_inflight", CZ_SETTING_INT, "256", 1, 100000, NULL, false,
      "requests at once; more sends are retried after a second" },
    { "text_templates", CZ_SETTING_STRING, "opt-out-confirmation", 0, 0, NULL, false,
      "job templates sent as a text message (cadenza's rendered text), not as an approved "
      "template: only replies inside the 24-hour window a debtor's message opens" },
    { "verify_token", CZ_SETTING_SECRET, NULL, 0, 0, NULL, false,
      "the webhook's verify token (cadenza serve answers Meta's hub.challenge with it)" },
    { "app_secret", CZ_SETTING_SECRET, NULL, 0, 0, NULL, false,
      "the app secret that signs webhooks (X-Hub-Signature-256), checked by cadenza serve" },
    { 0 },
};

/* ---- a growable byte buffer ---------------------------------------------- */

struct buf {
    char *buf;
    size_t len, cap;
};

static int buf_add(struct buf *b, const void *p, size_t n)
{
    if (n >= SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
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

/* Append s as a JSON string literal: '"', '\\' and control characters escaped. */
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

/* ---- a strict, bounded JSON reader --------------------------------------- */

struct jr {
    const char *p, *end;
};

static void jr_ws(struct jr *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jr_hex4(const char *p, unsigned *ret)
{
    unsigned v = 0;
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

static int jr_put(char *out, size_t max, size_t *n, char c)
{
    if (out) {
        if (*n + 1 >= max)
            return -E2BIG;
        out[*n] = c;
    }
    (*n)++;
    return 0;
}

/* A string at j->p, decoded into out (NUL-terminated) unless out is NULL. */
static int jr_string(struct jr *j, char *out, size_t max)
{
    size_t n = 0;
    int r = 0;
    if (j->p >= j->end || *j->p != '"')
        return -EINVAL;
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20)
            return -EINVAL;
        if (c != '\\') {
            r = jr_put(out, max, &n, (char)c);
            j->p++;
        } else {
            if (j->end - j->p < 2)
                return -EINVAL;
            char e = j->p[1];
            j->p += 2;
            const char *esc = e ? strchr("\"\\/bfnrt", e) : NULL;
            if (esc) {
                static const char val[] = "\"\\/\b\f\n\r\t";
                r = jr_put(out, max, &n, val[esc - "\"\\/bfnrt"]);
            } else if (e == 'u') {
                unsigned cp, lo;
                if (j->end - j->p < 4 || jr_hex4(j->p, &cp) < 0)
                    return -EINVAL;
                j->p += 4;
                if (cp >= 0xd800 && cp < 0xdc00) {
                    if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
                        jr_hex4(j->p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                        return -EINVAL;
                    j->p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp < 0xe000)
                    return -EINVAL;
                char u[4];
                int k;
                if (cp < 0x80) {
                    u[0] = (char)cp;
                    k = 1;
                } else if (cp < 0x800) {
                    u[0] = (char)(0xc0 | cp >> 6);
                    u[1] = (char)(0x80 | (cp & 0x3f));
                    k = 2;
                } else if (cp < 0x10000) {
                    u[0] = (char)(0xe0 | cp >> 12);
                    u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
                    u[2] = (char)(0x80 | (cp & 0x3f));
                    k = 3;
                } else {
                    u[0] = (char)(0xf0 | cp >> 18);
                    u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
                    u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
                    u[3] = (char)(0x80 | (cp & 0x3f));
                    k = 4;
                }
                for (int i = 0; i < k && r >= 0; i++)
                    r = jr_put(out, max, &n, u[i]);
            } else
                return -EINVAL;
        }
        if (r < 0)
            return r;
    }
    if (j->p >= j->end)
        return -EINVAL;
    j->p++;
    if (out)
        out[n] = 0;
    return 0;
}

static int jr_number(struct jr *j)
{
    const char *p = j->p;
    if (p < j->end && *p == '-')
        p++;
    if (p >= j->end || *p < '0' || *p > '9')
        return -EINVAL;
    if (*p == '0')
        p++;
    else
        while (p < j->end && *p >= '0' && *p <= '9')
            p++;
    if (p < j->end && *p == '.') {
        p++;
        if (p >= j->end || *p < '0' || *p > '9')
            return -EINVAL;
        while (p < j->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < j->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < j->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= j->end || *p < '0' || *p > '9')
            return -EINVAL;
        while (p < j->end && *p >= '0' && *p <= '9')
            p++;
    }
    j->p = p;
    return 0;
}

static int jr_skip(struct jr *j, int depth)
{
    if (depth > WA_JSON_DEPTH)
        return -EINVAL;
    jr_ws(j);
    if (j->p >= j->end)
        return -EINVAL;
    char c = *j->p;
    if (c == '"')
        return jr_string(j, NULL, 0);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        jr_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 0;
        }
        for (;;) {
            int r;
            if (c == '{') {
                jr_ws(j);
                if ((r = jr_string(j, NULL, 0)) < 0)
                    return r;
                jr_ws(j);
                if (j->p >= j->end || *j->p != ':')
                    return -EINVAL;
                j->p++;
            }
            if ((r = jr_skip(j, depth + 1)) < 0)
                return r;
            jr_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == close) {
                j->p++;
                return 0;
            }
            return -EINVAL;
        }
    }
    static const char *const lit[] = { "true", "false", "null" };
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(lit[i]);
        if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lit[i], n) == 0) {
            j->p += n;
            return 0;
        }
    }
    return jr_number(j);
}

/*
 * The value at a dotted path ("error.code", "messages.0.id": a segment of
 * digits indexes an array) of the JSON text json[0..len), as text in
 * out[0..max): a string decoded, a number or literal as written (null as
 * "").  1 found, 0 absent (or an object/array there), -EINVAL when the
 * whole text is not valid JSON, -E2BIG when the value does not fit.
 * Does not block, allocates nothing.
 */
static int json_path(const char *json, size_t len, const char *path, char *out, size_t max)
{
    struct jr j = { json, json + len };
    int r = jr_skip(&j, 0);
    if (r < 0)
        return r;
    jr_ws(&j);
    if (j.p != j.end)
        return -EINVAL;
    j.p = json;
    /* the text is valid from here on: only the path can fail to match */
    while (*path) {
        const char *dot = strchr(path, '.');
        size_t sl = dot ? (size_t)(dot - path) : strlen(path);
        jr_ws(&j);
        if (*j.p == '{') {
            j.p++;
            bool found = false;
            jr_ws(&j);
            while (*j.p != '}') {
                const char *ks = j.p;
                char k[64];
                jr_ws(&j);
                ks = j.p;
                r = jr_string(&j, k, sizeof(k));
                if (r == -E2BIG) {
                    j.p = ks;
                    (void)jr_string(&j, NULL, 0);
                    k[0] = 0;
                }
                jr_ws(&j);
                j.p++; /* ':' */
                if (strlen(k) == sl && memcmp(k, path, sl) == 0) {
                    found = true;
                    break;
                }
                (void)jr_skip(&j, 1);
                jr_ws(&j);
                if (*j.p == ',')
                    j.p++;
                jr_ws(&j);
            }
            if (!found)
                return 0;
        } else if (*j.p == '[') {
            size_t idx = 0;
            if (sl == 0 || sl > 6)
                return 0;
            for (size_t i = 0; i < sl; i++) {
                if (path[i] < '0' || path[i] > '9')
                    return 0;
                idx = idx * 10 + (size_t)(path[i] - '0');
            }
            j.p++;
            jr_ws(&j);
            if (*j.p == ']')
                return 0;
            for (; idx > 0; idx--) {
                (void)jr_skip(&j, 1);
                jr_ws(&j);
                if (*j.p != ',')
                    return 0;
                j.p++;
            }
        } else
            return 0;
        path += sl + (dot ? 1 : 0);
        if (!dot)
            break;
    }
    jr_ws(&j);
    if (*j.p == '"')
        return jr_string(&j, out, max) < 0 ? -E2BIG : 1;
    if (*j.p == '{' || *j.p == '[')
        return 0;
    const char *v = j.p;
    (void)jr_skip(&j, 1);
    size_t n = (size_t)(j.p - v);
    if (n == 4 && memcmp(v, "null", 4) == 0)
        n = 0;
    if (n + 1 > max)
        return -E2BIG;
    memcpy(out, v, n);
    out[n] = 0;
    return 1;
}

/* ---- mappings and the request (pure) -------------------------------------- */

/*
 * Look key up in a "a=b,c=d" map: the value into out[0..max).  1 found,
 * 0 not (or too long).  Spaces around items are ignored.
 */
static int map_get(const char *map, const char *key, char *out, size_t max)
{
    size_t kl = strlen(key);
    for (const char *p = map; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = strchr(p, ',');
        if (!e)
            e = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq) {
            const char *ke = eq;
            while (ke > p && ke[-1] == ' ')
                ke--;
            if ((size_t)(ke - p) == kl && memcmp(p, key, kl) == 0) {
                const char *v = eq + 1, *ve = e;
                while (v < ve && *v == ' ')
                    v++;
                while (ve > v && ve[-1] == ' ')
                    ve--;
                if ((size_t)(ve - v) + 1 > max || ve == v)
                    return 0;
                memcpy(out, v, (size_t)(ve - v));
                out[ve - v] = 0;
                return 1;
            }
        }
        p = e;
    }
    return 0;
}

/*
 * The WhatsApp language code for a locale: language_map's entry for the
 * locale, else for its language ("es" of "es-MX"), else the locale with
 * '-' as '_' ("es-MX" -> "es_MX").  out holds 32 bytes.  0, or -EINVAL for
 * a locale that is not letters, digits and '-'/'_' of at most 31 bytes.
 */
static int wa_language(const char *map, const char *locale, char *out)
{
    size_t n = strlen(locale);
    if (n == 0 || n > 31)
        return -EINVAL;
    for (const char *p = locale; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return -EINVAL;
    if (map_get(map, locale, out, 32) > 0)
        return 0;
    char lang[32];
    size_t ll = strcspn(locale, "-_");
    memcpy(lang, locale, ll);
    lang[ll] = 0;
    if (ll < n && map_get(map, lang, out, 32) > 0)
        return 0;
    for (size_t i = 0; i <= n; i++)
        out[i] = locale[i] == '-' ? '_' : locale[i];
    return 0;
}

struct wa_msg {
    const char *to;            /* E.164 with or without '+' */
    const char *template_name;
    const char *language;
    const char *const *params; /* body parameters, in order */
    size_t nparams;
    const char *callback_data; /* biz_opaque_callback_data, or NULL */
};

/* The request body of a template message into b: 0 or -ENOMEM. */
static int wa_body(const struct wa_msg *m, struct buf *b)
{
    const char *to = m->to[0] == '+' ? m->to + 1 : m->to;
    int r = buf_adds(b, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
                        "\"to\":");
    if (r >= 0)
        r = buf_add_json_str(b, to);
    if (r >= 0)
        r = buf_adds(b, ",\"type\":\"template\"");
    if (r >= 0 && m->callback_data) {
        r = buf_adds(b, ",\"biz_opaque_callback_data\":");
        if (r >= 0)
            r = buf_add_json_str(b, m->callback_data);
    }
    if (r >= 0)
        r = buf_adds(b, ",\"template\":{\"name\":");
    if (r >= 0)
        r = buf_add_json_str(b, m->template_name);
    if (r >= 0)
        r = buf_adds(b, ",\"language\":{\"code\":");
    if (r >= 0)
        r = buf_add_json_str(b, m->language);
    if (r >= 0)
        r = buf_adds(b, "}");
    if (r >= 0 && m->nparams) {
        r = buf_adds(b, ",\"components\":[{\"type\":\"body\",\"parameters\":[");
        for (size_t i = 0; i < m->nparams && r >= 0; i++) {
            r = buf_adds(b, i ? ",{\"type\":\"text\",\"text\":" : "{\"type\":\"text\",\"text\":");
            if (r >= 0)
                r = buf_add_json_str(b, m->params[i]);
            if (r >= 0)
                r = buf_adds(b, "}");
        }
        if (r >= 0)
            r = buf_adds(b, "]}]");
    }
    if (r >= 0)
        r = buf_adds(b, "}}");
    return r;
}

/*
 * The request body of a text message into b (a reply inside the 24-hour
 * window: the opt-out confirmation): 0 or -ENOMEM.
 */
static int wa_text_body(const char *to, const char *text, const char *callback_data,
                        struct buf *b)
{
    int r = buf_adds(b, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
                        "\"to\":");
    if (r >= 0)
        r = buf_add_json_str(b, to[0] == '+' ? to + 1 : to);
    if (r >= 0)
        r = buf_adds(b, ",\"type\":\"text\"");
    if (r >= 0 && callback_data) {
        r = buf_adds(b, ",\"biz_opaque_callback_data\":");
        if (r >= 0)
            r = buf_add_json_str(b, callback_data);
    }
    if (r >= 0)
        r = buf_adds(b, ",\"text\":{\"body\":");
    if (r >= 0)
        r = buf_add_json_str(b, text);
    if (r >= 0)
        r = buf_adds(b, "}}");
    return r;
}

/* Is name one of the comma-separated names of list? */
static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t k = strcspn(p, ", ");
        if (k == n && memcmp(p, name, n) == 0)
            return true;
        p += k;
    }
    return false;
}

enum wa_class {
    WA_OK = 0,
    WA_RETRY,
    WA_UNDELIVERABLE, /* 131026: not a WhatsApp user, or cannot receive */
    WA_CONFIG,        /* template, token or permission: fix the configuration */
    WA_FAILED,
};

/*
 * Classify an answer of the messages endpoint: HTTP status and body.
 * On WA_OK the message id goes to id[WA_ID_MAX]; otherwise err[WA_ERR_MAX]
 * says what happened ("131026 Message Undeliverable").  *ret_code is the
 * Graph error code (0 when none).  Pure.
 */
static enum wa_class wa_classify(int status, const char *body, size_t len, char *id, char *err,
                                 long *ret_code)
{
    char code_s[24] = "", msg[WA_ERR_MAX] = "";
    long code = 0;
    *ret_code = 0;
    err[0] = 0;
    if (body && len && json_path(body, len, "error.code", code_s, sizeof(code_s)) > 0) {
        char *e;
        code = strtol(code_s, &e, 10);
        if (*e)
            code = 0;
        if (json_path(body, len, "error.message", msg, sizeof(msg)) == -E2BIG)
            snprintf(msg, sizeof(msg), "(message too long)");
    }
    *ret_code = code;
    if (status >= 200 && status < 300 && !code) {
        if (body && json_path(body, len, "messages.0.id", id, WA_ID_MAX) > 0 && *id)
            return WA_OK;
        snprintf(err, WA_ERR_MAX, "whatsapp: http %d without messages[0].id", status);
        return WA_RETRY;
    }
    /* the provider's words, cut at a character boundary to fit */
    size_t ml = strlen(msg);
    if (ml > 150) {
        ml = 150;
        while (ml && ((unsigned char)msg[ml] & 0xc0) == 0x80)
            ml--;
        msg[ml] = 0;
    }
    if (code)
        snprintf(err, WA_ERR_MAX, "whatsapp: error %ld: %.150s", code, msg);
    else
        snprintf(err, WA_ERR_MAX, "whatsapp: http status %d", status);
    switch (code) {
    case 130429: /* throughput reached */
    case 131048: /* spam rate limit */
    case 131056: /* pair rate limit */
    case 131000: /* something went wrong */
    case 133004: /* server temporarily unavailable */
    case 1:      /* API unknown */
    case 2:      /* API service */
    case 4:      /* API too many calls */
    case 80007:  /* WABA rate limit */
        return WA_RETRY;
    case 131026:
        return WA_UNDELIVERABLE;
    case 0:
        break;
    default:
        if ((code >= 132000 && code < 133000) || code == 190 || code == 3 || code == 10 ||
            (code >= 200 && code < 300) || code == 131031 || code == 131005)
            return WA_CONFIG;
        return status == 429 || status >= 500 ? WA_RETRY : WA_FAILED;
    }
    if (status == 429 || status >= 500)
        return WA_RETRY;
    if (status == 401 || status == 403)
        return WA_CONFIG;
    return WA_FAILED;
}

/* ---- the channel ------------------------------------------------------------ */

struct wa_chan {
    struct cz_instance *inst;
    const struct cz_host *host;
    char *url;                   /* {base_url}/{phone_number_id}/messages */
    char *auth;                  /* "Bearer TOKEN" */
    const char *template_name, *template_map, *default_language, *language_map;
    const char *text_templates;  /* "a,b": sent as text messages */
    char *params[WA_PARAMS_MAX]; /* body_params, split */
    size_t nparams;
    int64_t timeout_ms, max_inflight, inflight;
    long logged_codes[8];        /* configuration errors logged (invariant 4) */
    size_t nlogged;
};

struct wa_call {
    struct wa_chan *c;
    struct cz_send *send;
    int64_t attempt_id;
};

static void wa_on_reply(void *userdata, const struct cz_http_response *res)
{
    struct wa_call *k = userdata;
    struct wa_chan *c = k->c;
    char id[WA_ID_MAX] = "", err[WA_ERR_MAX + 64];
    struct cz_result out = { 0 };
    c->inflight--;
    if (res->error || res->status == 0) {
        snprintf(err, sizeof(err), "whatsapp: %s",
                 res->error_text ? res->error_text : "no response");
        out = (struct cz_result){ .status = CZ_SEND_RETRY, .error = err };
    } else {
        long code;
        enum wa_class cl = wa_classify(res->status, res->body, res->body_len, id, err, &code);
        switch (cl) {
        case WA_OK:
            out = (struct cz_result){ .status = CZ_SEND_OK, .provider_id = id };
            break;
        case WA_RETRY:
            out = (struct cz_result){ .status = CZ_SEND_RETRY, .error = err,
                                      .retry_after_ms = res->retry_after_ms };
            break;
        case WA_UNDELIVERABLE:
            out = (struct cz_result){ .status = CZ_SEND_INVALID_ADDRESS, .error = err };
            break;
        case WA_CONFIG: {
            bool seen = false;
            for (size_t i = 0; i < c->nlogged; i++)
                seen |= c->logged_codes[i] == code;
            if (!seen) {
                c->host->log(c->inst, CZ_LOG_ERROR, "configuration error: %s (http %d); "
                             "sends fail until it is fixed", err, res->status);
                if (c->nlogged < sizeof(c->logged_codes) / sizeof(c->logged_codes[0]))
                    c->logged_codes[c->nlogged++] = code;
            }
            out = (struct cz_result){ .status = CZ_SEND_FAILED, .error = err };
            break;
        }
        case WA_FAILED:
            out = (struct cz_result){ .status = CZ_SEND_FAILED, .error = err };
            break;
        }
    }
    c->host->complete(k->send, &out);
    free(k);
}

static void wa_free(struct wa_chan *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nparams; i++)
        free(c->params[i]);
    free(c->url);
    free(c->auth);
    free(c);
}

static int wa_init(struct cz_instance *inst, const struct cz_host *host, void **ret)
{
    if (host->abi_minor < 1 || !host->http) {
        host->log(inst, CZ_LOG_ERROR, "needs a host of plugin ABI 1.1 (host->http)");
        return -ENOTSUP;
    }
    struct wa_chan *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->inst = inst;
    c->host = host;
    const char *base = host->setting_str(inst, "base_url");
    const char *pnid = host->setting_str(inst, "phone_number_id");
    const char *token = host->setting_str(inst, "token");
    c->template_name = host->setting_str(inst, "template");
    c->template_map = host->setting_str(inst, "template_map");
    c->default_language = host->setting_str(inst, "default_language");
    c->language_map = host->setting_str(inst, "language_map");
    c->text_templates = host->setting_str(inst, "text_templates");
    c->timeout_ms = host->setting_int(inst, "timeout_ms");
    c->max_inflight = host->setting_int(inst, "max_inflight");
    const char *why = NULL;
    char lang[32];
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
        why = "base_url must start with http:// or https://";
    else if (!*pnid || strpbrk(pnid, "/?#& "))
        why = "phone_number_id must be a plain id";
    else if (!*token || strpbrk(token, "\r\n"))
        why = "token must be one line";
    else if (wa_language(c->language_map, c->default_language, lang) < 0)
        why = "default_language must be a language code such as 'en' or 'es_ES'";
    if (why) {
        host->log(inst, CZ_LOG_ERROR, "%s", why);
        wa_free(c);
        return -EINVAL;
    }
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    if (asprintf(&c->url, "%.*s/%s/messages", (int)bl, base, pnid) < 0)
        c->url = NULL;
    if (asprintf(&c->auth, "Bearer %s", token) < 0)
        c->auth = NULL;
    const char *bp = host->setting_str(inst, "body_params");
    for (const char *p = bp; p && *p && c->url && c->auth;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (!n)
            break;
        if (c->nparams == WA_PARAMS_MAX) {
            host->log(inst, CZ_LOG_ERROR, "body_params: at most %d names", WA_PARAMS_MAX);
            wa_free(c);
            return -EINVAL;
        }
        c->params[c->nparams] = strndup(p, n);
        if (!c->params[c->nparams++]) {
            wa_free(c);
            return -ENOMEM;
        }
        p += n;
    }
    if (!c->url || !c->auth) {
        wa_free(c);
        return -ENOMEM;
    }
    *ret = c;
    return 0;
}

static void wa_fail(struct wa_chan *c, struct cz_send *send, enum cz_send_status st,
                    const char *err)
{
    c->host->complete(send, &(struct cz_result){ .status = st, .error = err });
}

/*
 * The request body of a template message for job into body: 0; -ENOENT
 * with the reason in errbuf (the send fails for good); -ENOMEM.
 */
static int wa_template_body(struct wa_chan *c, const struct cz_job *job, const char *to,
                            struct buf *body, char errbuf[WA_ERR_MAX])
{
    /* the template */
    char tname[512];
    const char *tn = c->template_name;
    if (job->template_name && map_get(c->template_map, job->template_name, tname,
                                      sizeof(tname)) > 0)
        tn = tname;
    else if (!tn)
        tn = job->template_name;
    if (!tn || !*tn) {
        snprintf(errbuf, WA_ERR_MAX,
                 "whatsapp: no template name (set 'template' or give the job one)");
        return -ENOENT;
    }
    /* the language: the job's locale (older hosts put it in the inputs), else the default */
    const char *in = job->inputs_json ? job->inputs_json : "{}";
    size_t inlen = strlen(in);
    char loc[64], lang[32];
    const char *locale = c->default_language;
    if (job->locale && *job->locale)
        locale = job->locale;
    else if (json_path(in, inlen, "locale", loc, sizeof(loc)) > 0 && *loc)
        locale = loc;
    if (wa_language(c->language_map, locale, lang) < 0 &&
        wa_language(c->language_map, c->default_language, lang) < 0) {
        snprintf(errbuf, WA_ERR_MAX, "whatsapp: no usable language code");
        return -ENOENT;
    }
    /* the body parameters, in order */
    char *vals[WA_PARAMS_MAX] = { 0 };
    const char *pv[WA_PARAMS_MAX];
    int r = 0;
    for (size_t i = 0; i < c->nparams && r >= 0; i++) {
        if (strcmp(c->params[i], "self_service_url") == 0) {
            if (!job->self_service_url) {
                snprintf(errbuf, WA_ERR_MAX, "whatsapp: no self-service link for '%s'",
                         c->params[i]);
                r = -ENOENT;
                break;
            }
            pv[i] = job->self_service_url;
            continue;
        }
        vals[i] = malloc(WA_INPUT_MAX);
        if (!vals[i]) {
            r = -ENOMEM;
            break;
        }
        int g = json_path(in, inlen, c->params[i], vals[i], WA_INPUT_MAX);
        if (g <= 0 || !*vals[i]) {
            snprintf(errbuf, WA_ERR_MAX, "whatsapp: the job has no input '%s'%s",
                     c->params[i], g == -E2BIG ? " short enough" : "");
            r = -ENOENT;
            break;
        }
        pv[i] = vals[i];
    }
    if (r >= 0) {
        struct wa_msg m = { .to = to, .template_name = tn, .language = lang, .params = pv,
                            .nparams = c->nparams, .callback_data = job->idempotency_key };
        r = wa_body(&m, body);
    }
    for (size_t i = 0; i < c->nparams; i++)
        free(vals[i]);
    return r;
}

static int wa_send(void *state, const struct cz_job *job, struct cz_send *send)
{
    struct wa_chan *c = state;
    char errbuf[WA_ERR_MAX];
    if (c->inflight >= c->max_inflight) {
        c->host->complete(send, &(struct cz_result){
            .status = CZ_SEND_RETRY, .error = "whatsapp: max_inflight requests running",
            .retry_after_ms = 1000 });
        return 0;
    }
    /* the number: E.164, digits after '+' */
    const char *to = job->address;
    size_t digits = 0;
    for (const char *p = to + (to[0] == '+'); *p; p++, digits++)
        if (*p < '0' || *p > '9') {
            digits = 0;
            break;
        }
    if (to[0] != '+' || digits < 6 || digits > 15) {
        wa_fail(c, send, CZ_SEND_INVALID_ADDRESS, "whatsapp: not an E.164 number");
        return 0;
    }
    struct buf body = { 0 };
    int r;
    if (job->template_name && in_list(c->text_templates, job->template_name)) {
        /* a reply in the 24-hour window: cadenza's own words */
        if (!job->text || !*job->text) {
            snprintf(errbuf, sizeof(errbuf), "whatsapp: no rendered text for a text message");
            r = -ENOENT;
        } else
            r = wa_text_body(to, job->text, job->idempotency_key, &body);
    } else
        r = wa_template_body(c, job, to, &body, errbuf);
    if (r == -ENOENT) {
        free(body.buf);
        wa_fail(c, send, CZ_SEND_FAILED, errbuf);
        return 0;
    }
    struct wa_call *k = r >= 0 ? calloc(1, sizeof(*k)) : NULL;
    if (!k) {
        free(body.buf);
        return -ENOMEM;
    }
    k->c = c;
    k->send = send;
    k->attempt_id = job->attempt_id;
    struct cz_header h[] = { { "Authorization", c->auth },
                             { "Content-Type", "application/json" } };
    struct cz_http_request req = {
        .method = "POST", .url = c->url, .headers = h, .nheaders = 2,
        .body = body.buf, .body_len = body.len, .timeout_ms = c->timeout_ms,
        .connect_timeout_ms = c->timeout_ms < 5000 ? c->timeout_ms : 5000,
    };
    r = c->host->http(c->inst, &req, wa_on_reply, k);
    free(body.buf);
    if (r < 0) {
        free(k);
        return r;
    }
    c->inflight++;
    return 0;
}

static void wa_shutdown(void *state)
{
    wa_free(state);
}

const struct cz_channel_plugin cz_channel_plugin = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = 1,
    .name = "whatsapp",
    .description = "WhatsApp Cloud API template messages",
    .kinds = CZ_KIND_BIT(CZ_KIND_CHAT),
    .settings = wa_settings,
    .init = wa_init,
    .send = wa_send,
    .shutdown = wa_shutdown,
};
