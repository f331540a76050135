/*
 * vicidial.c - the `vicidial` channel plugin (kind call): hands each call
 * attempt to a VICIdial dialer as a lead, through its non-agent API
 * (non_agent_api.php, HTTP GET, text replies), and takes the lead out of
 * the hopper again when the attempt's legal window closes unanswered.
 * The agent brief the daily run puts in a call's inputs (docs/brief.md)
 * goes into `comments` (its compact line) and, with custom_fields, whole
 * into the list's custom fields.
 * Built into cadenza through the same descriptor an external plugin
 * exports; it includes only cadenza-plugin.h, so its buffer, URL encoder
 * and JSON reader are its own.  plugins/vicidial/README.md is the
 * operator's page; this block is the code's contract.
 *
 * One send, drawn (vd_send, vd_on_reply make every transition):
 *
 *     send ─► [LOOKUP] ─found─► OK ─► expiry armed
 *      │         │ no match
 *      ▼         ▼
 *     [ADD] ─SUCCESS─► OK ─► expiry armed
 *      │ DUPLICATE
 *      ▼
 *     [DUPCHECK] ─found─► OK ─► expiry armed │ not found ─► FAILED
 *
 *   LOOKUP is taken first only when the job may have reached VICIdial
 *   already (redelivered, or an earlier try ended without an answer):
 *   update_lead with no_update=Y finds the lead by our vendor_lead_code.
 *   ERROR replies of add_lead: PHONE NUMBER IN (CAMPAIGN) DNC -> OPTED_OUT,
 *   INVALID PHONE NUMBER -> INVALID_ADDRESS, permission and login errors
 *   -> FAILED (logged once per instance), others -> FAILED.  No reply,
 *   HTTP 429 and 5xx, and a 2xx body that is not the API's -> RETRY with
 *   the provider's Retry-After.
 *
 * One expiry (a lead we added whose window has not closed):
 *
 *     armed ─not_after─► REMOVE ─REMOVED FROM HOPPER─► [STATUS] ─► freed
 *                          │ not in hopper / error after 3 tries ─► freed
 *
 *   REMOVE is update_lead remove_from_hopper=Y: a lead still waiting in
 *   the hopper leaves it; one already dialled is not in the hopper and is
 *   left alone, its disposition untouched.  With `expire_status`, a lead
 *   that was removed also gets that status, so the campaign's own hopper
 *   loader does not pick it up again later.
 *
 * Invariants:
 *  1. Every send the host starts is completed exactly once, or send
 *     returns < 0 and never completes it.
 *  2. No pointer into a job outlives vd_send(): what a reply needs is
 *     copied into struct vd_call.
 *  3. vendor_lead_code is a function of the attempt id alone (vd_vlc), so
 *     every try and every worker names the same lead.
 *  4. comments is at most VD_COMMENTS_MAX bytes and never ends inside a
 *     UTF-8 sequence; first and last names at most 30 bytes, likewise.
 *  5. The password never appears in a log line or a result's error text
 *     (errors quote the API's reply, which does not echo it, cut at
 *     VD_ERR_MAX).
 *  6. Every vd_call and vd_expiry is on the instance's lists until freed;
 *     shutdown frees them all (the host cancels their timers and HTTP
 *     requests without callbacks).
 *  7. With custom_fields, each brief field's value is at most
 *     custom_field_max bytes, never cut inside a UTF-8 sequence, and the
 *     fields never take the add_lead URL past VD_URL_MAX.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cadenza-plugin.h"

#define VD_COMMENTS_MAX 255
#define VD_NAME_MAX 30
#define VD_VLC_MAX 20
#define VD_ERR_MAX 160
#define VD_EXPIRY_TRIES 3
#define VD_EXPIRY_RETRY_MS 10000
#define VD_JSON_DEPTH 32
#define VD_INPUT_MAX 512 /* longest input value read from inputs_json */
#define VD_FIELD_MAX 4096 /* longest brief field read from inputs_json */
#define VD_LABEL_MAX 50   /* VICIdial's custom field labels */
#define VD_URL_MAX 8000   /* custom fields stop before an add_lead URL this long */

static const struct cz_setting vd_settings[] = {
    { "url", CZ_SETTING_STRING, NULL, 0, 0, NULL, true,
      "the non-agent API: https://HOST/vicidial/non_agent_api.php" },
    { "user", CZ_SETTING_STRING, NULL, 0, 0, NULL, true, "API user (modify_leads, level 8+)" },
    { "pass", CZ_SETTING_SECRET, NULL, 0, 0, NULL, true, "API user's password" },
    { "source", CZ_SETTING_STRING, "cadenza", 0, 0, NULL, false,
      "what originated the call (at most 20 characters)" },
    { "list_id", CZ_SETTING_STRING, NULL, 0, 0, NULL, true, "list the leads go to (3-12 digits)" },
    { "campaign_id", CZ_SETTING_STRING, NULL, 0, 0, NULL, false,
      "campaign, needed by campaign_dnc_check" },
    { "phone_code", CZ_SETTING_STRING, "1", 0, 0, NULL, false,
      "country calling code of the list; addresses must start with +CODE" },
    { "dnc_check", CZ_SETTING_ENUM, "N", 0, 0, "Y|N|AREACODE", false,
      "check the system DNC list before adding" },
    { "campaign_dnc_check", CZ_SETTING_ENUM, "N", 0, 0, "Y|N|AREACODE", false,
      "check the campaign DNC list before adding" },
    { "duplicate_check", CZ_SETTING_STRING, NULL, 0, 0, NULL, false,
      "VICIdial duplicate_check value (DUPLIST, DUPCAMP...); none by default" },
    { "add_to_hopper", CZ_SETTING_BOOL, "true", 0, 0, NULL, false,
      "put the lead in the hopper at once" },
    { "hopper_local_call_time_check", CZ_SETTING_BOOL, "true", 0, 0, NULL, false,
      "let VICIdial check the lead's local call time before the hopper" },
    { "hopper_priority", CZ_SETTING_INT, "0", -99, 99, NULL, false,
      "hopper priority (higher dials first)" },
    { "hopper_priority_from", CZ_SETTING_ENUM, "setting", 0, 0, "setting|input", false,
      "input: the job's input 'hopper_priority' when it has one, else the setting" },
    { "expire_at_window_close", CZ_SETTING_BOOL, "true", 0, 0, NULL, false,
      "remove the lead from the hopper when the attempt's window closes" },
    { "expire_status", CZ_SETTING_STRING, NULL, 0, 0, NULL, false,
      "status set on a lead removed at window close (1-6 letters), none by default" },
    { "custom_fields", CZ_SETTING_BOOL, "false", 0, 0, NULL, false,
      "send the whole agent brief in custom fields (the list must define them)" },
    { "custom_field_prefix", CZ_SETTING_STRING, "cz_", 0, 0, NULL, false,
      "prefix of the custom field labels: cz_balance, cz_offers, ..." },
    { "custom_field_max", CZ_SETTING_INT, "255", 16, 65535, NULL, false,
      "longest custom field value in bytes (cut at a character boundary)" },
    { "timeout_ms", CZ_SETTING_INT, "10000", 100, 120000, NULL, false,
      "the whole HTTP exchange" },
    { "max_inflight", CZ_SETTING_INT, "64", 1, 10000, NULL, false,
      "requests at once; more sends are retried after a second" },
    /* read by cadenza serve's /webhooks/vicidial, not by the plugin */
    { "dispo_token", CZ_SETTING_SECRET, NULL, 0, 0, NULL, false,
      "token the campaign's Dispo Call URL carries (cadenza serve checks it)" },
    { "dispo_map", CZ_SETTING_STRING,
      "SALE=paid,PTP=promise_to_pay,PP=promise_to_pay,PAID=paid,DNC=opt_out,DNCL=opt_out,"
      "DC=wrong_number,ADC=wrong_number,WN=wrong_number,NI=refused,DEC=refused,"
      "DISP=dispute,CALLBK=right_party,XFER=right_party,A=no_answer,AA=no_answer,"
      "AM=no_answer,AL=no_answer,B=no_answer,AB=no_answer,N=no_answer,NA=no_answer,"
      "DROP=no_answer,TP=third_party",
      0, 0, NULL, false,
      "VICIdial status = outcome code, comma-separated; unmapped statuses store nothing" },
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
        size_t cap = b->cap ? b->cap : 128;
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

/* ---- text helpers (pure) --------------------------------------------------- */

/*
 * The longest prefix of s[0..n) of at most max bytes that does not end
 * inside a UTF-8 sequence (invariant 4).
 */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
        k--;
    return k;
}

/* Append s as a query value: unreserved bytes kept, space as '+', the rest %XX. */
static int url_add_value(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char e[3];
        int r;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            r = buf_add(b, s, 1);
        else if (c == ' ')
            r = buf_add(b, "+", 1);
        else {
            e[0] = '%';
            e[1] = hex[c >> 4];
            e[2] = hex[c & 15];
            r = buf_add(b, e, 3);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

/* Append "&key=value" (or "?key=value" when b holds a URL without a query yet). */
static int url_add_param(struct buf *b, const char *key, const char *value)
{
    int r = buf_adds(b, memchr(b->buf, '?', b->len) ? "&" : "?");
    if (r >= 0)
        r = buf_adds(b, key);
    if (r >= 0)
        r = buf_add(b, "=", 1);
    if (r >= 0)
        r = url_add_value(b, value);
    return r;
}

/*
 * The vendor_lead_code of an attempt (invariant 3): "CZ" and the attempt
 * id in base 36, upper case: at most 15 characters for any positive
 * int64, so it fits VICIdial's 20.  buf holds at least VD_VLC_MAX + 1.
 */
static void vd_vlc(int64_t attempt_id, char *buf)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    char d[16], *p = d + sizeof(d);
    uint64_t u = attempt_id < 0 ? 0 : (uint64_t)attempt_id;
    *--p = 0;
    do
        *--p = digits[u % 36];
    while ((u /= 36));
    buf[0] = 'C';
    buf[1] = 'Z';
    memcpy(buf + 2, p, (size_t)(d + sizeof(d) - p));
}

/*
 * The national number of an E.164 address for phone_code: "+34612345678"
 * with "34" gives "612345678".  0, -EXDEV when the address is in another
 * country code, -EINVAL when it is not +digits or the national part is
 * not 6-16 digits (VICIdial's bounds).  out holds 17 bytes.
 */
static int vd_national(const char *address, const char *phone_code, char *out)
{
    size_t cl = strlen(phone_code);
    if (address[0] != '+')
        return -EINVAL;
    for (const char *p = address + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return -EINVAL;
    if (strncmp(address + 1, phone_code, cl) != 0)
        return -EXDEV;
    const char *nat = address + 1 + cl;
    size_t n = strlen(nat);
    if (n < 6 || n > 16)
        return -EINVAL;
    memcpy(out, nat, n + 1);
    return 0;
}

/* ---- a strict, bounded JSON reader --------------------------------------- */

/*
 * Just enough JSON for message inputs: json_get() validates the whole text
 * (RFC 8259 grammar, nesting at most VD_JSON_DEPTH) and returns the value
 * of one top-level key as text: a string decoded (escapes, \u surrogate
 * pairs to UTF-8), a number or literal as written.  Nothing is allocated.
 */
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

/* Emit one byte into out[0..max) at *n; -E2BIG past max (out NULL: count only). */
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

/* A string at j->p ('"'), decoded into out (NUL-terminated) when out is not NULL. */
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
            const char *esc = strchr("\"\\/bfnrt", e);
            if (e && esc) {
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

/* Skip one value (validating it). */
static int jr_skip(struct jr *j, int depth)
{
    if (depth > VD_JSON_DEPTH)
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
 * The value of top-level key `key` of the object in json, as text in
 * out[0..max): 1 found (null is found as ""), 0 absent or an object or
 * array, -EINVAL when json is not one valid object, -E2BIG when the value
 * does not fit.  Does not block.
 */
static int json_get(const char *json, const char *key, char *out, size_t max)
{
    struct jr j = { json, json + strlen(json) };
    int r = jr_skip(&j, 0);
    if (r < 0)
        return r;
    jr_ws(&j);
    if (j.p != j.end)
        return -EINVAL;
    j.p = json;
    jr_ws(&j);
    if (*j.p != '{')
        return -EINVAL;
    j.p++;
    jr_ws(&j);
    if (*j.p == '}')
        return 0;
    for (;;) {
        char k[64];
        jr_ws(&j);
        const char *ks = j.p;
        r = jr_string(&j, k, sizeof(k));
        bool match = r >= 0 && strcmp(k, key) == 0;
        if (r == -E2BIG) { /* a key longer than ours cannot match */
            j.p = ks;
            r = jr_string(&j, NULL, 0);
            match = false;
        }
        if (r < 0)
            return r;
        jr_ws(&j);
        j.p++; /* ':' (validated above) */
        jr_ws(&j);
        if (match) {
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
        if ((r = jr_skip(&j, 1)) < 0)
            return r;
        jr_ws(&j);
        if (*j.p == '}')
            return 0;
        j.p++; /* ',' */
    }
}

/*
 * Call fn(ctx, name, value) for each member of the object under top-level
 * key `key` whose value is a string (decoded; longer than VD_FIELD_MAX
 * bytes or a name longer than VD_LABEL_MAX: skipped), in order.  0 (also
 * when there is no such object), fn's value when < 0, or -EINVAL when json
 * is not one valid object.  Does not block.
 */
static int json_each_string(const char *json, const char *key,
                            int (*fn)(void *ctx, const char *name, const char *value),
                            void *ctx)
{
    struct jr j = { json, json + strlen(json) };
    int r = jr_skip(&j, 0);
    if (r < 0)
        return r;
    jr_ws(&j);
    if (j.p != j.end)
        return -EINVAL;
    j.p = json;
    jr_ws(&j);
    if (*j.p != '{')
        return -EINVAL;
    j.p++;
    char name[VD_LABEL_MAX + 1], *val = malloc(VD_FIELD_MAX);
    if (!val)
        return -ENOMEM;
    bool inside = false; /* walking the members of key's object */
    for (;;) {
        jr_ws(&j);
        if (*j.p == '}')
            break; /* the end of the document, or of key's object: one is walked */
        const char *ks = j.p;
        r = jr_string(&j, name, sizeof(name));
        bool long_name = r == -E2BIG;
        if (long_name) {
            j.p = ks;
            (void)jr_string(&j, NULL, 0);
        }
        jr_ws(&j);
        j.p++; /* ':' (validated above) */
        jr_ws(&j);
        if (!inside && !long_name && strcmp(name, key) == 0 && *j.p == '{') {
            inside = true;
            j.p++;
            continue;
        }
        if (inside && !long_name && *j.p == '"') {
            const char *vs = j.p;
            if (jr_string(&j, val, VD_FIELD_MAX) == 0) {
                if ((r = fn(ctx, name, val)) < 0)
                    break;
            } else {
                j.p = vs;
                (void)jr_string(&j, NULL, 0);
            }
        } else
            (void)jr_skip(&j, 1);
        r = 0;
        jr_ws(&j);
        if (*j.p == ',')
            j.p++;
    }
    free(val);
    return r < 0 ? r : 0;
}

/* ---- the agent brief (pure) ------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "YYYY-MM-DD" to days since the epoch; -EINVAL otherwise. */
static int parse_date(const char *s, int64_t *ret)
{
    unsigned y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3 || m < 1 ||
        m > 12 || d < 1 || d > 31)
        return -EINVAL;
    *ret = days_from_civil(y, m, d);
    return 0;
}

/* Append a brief field "sep + text", dropping what VICIdial asks to avoid. */
static int brief_add(struct buf *b, const char *text)
{
    int r = 0;
    if (b->len)
        r = buf_adds(b, " | ");
    for (const char *p = text; *p && r >= 0; p++) {
        unsigned char c = (unsigned char)*p;
        /* the API says: no apostrophes, double quotes or ampersands */
        if (c < 0x20 || c == '\'' || c == '"' || c == '&' || c == '\\' || c == 0x7f)
            continue;
        r = buf_add(b, p, 1);
    }
    return r;
}

/*
 * The compact agent brief for VICIdial's comments (invariant 4), from
 * the job's inputs: name (locale), amount currency, days past due (the
 * input when given, else from due_date and today_days, the UTC date of
 * the send) with the due date, tier, then promises, payday, flags and
 * offers when the inputs carry them.  Missing or malformed inputs are
 * left out.  0 or -ENOMEM; out is NUL-terminated, at most
 * VD_COMMENTS_MAX bytes.
 */
static int vd_brief(const char *inputs_json, const char *locale, int64_t today_days, char *out)
{
    struct buf b = { 0 };
    char v[VD_INPUT_MAX], w[VD_INPUT_MAX], f[2 * VD_INPUT_MAX + 64];
    int r = 0;
    const char *in = inputs_json ? inputs_json : "{}";

    /* the daily run's own compact brief (docs/brief.md) when the job has one */
    if (json_get(in, "brief_text", v, sizeof(v)) > 0 && *v) {
        r = brief_add(&b, v);
        goto done;
    }
    if (json_get(in, "name", v, sizeof(v)) > 0 && *v) {
        if (locale && *locale)
            snprintf(f, sizeof(f), "%s (%s)", v, locale);
        else
            snprintf(f, sizeof(f), "%s", v);
        r = brief_add(&b, f);
    }
    if (r >= 0 && json_get(in, "amount", v, sizeof(v)) > 0 && *v) {
        if (json_get(in, "currency", w, sizeof(w)) > 0 && *w)
            snprintf(f, sizeof(f), "owes %s %s", v, w);
        else
            snprintf(f, sizeof(f), "owes %s", v);
        r = brief_add(&b, f);
    }
    char due[VD_INPUT_MAX];
    bool have_due = json_get(in, "due_date", due, sizeof(due)) > 0 && *due;
    int64_t due_days;
    if (r >= 0 && json_get(in, "days_past_due", v, sizeof(v)) > 0 && *v) {
        snprintf(f, sizeof(f), have_due ? "%s dpd, due %s" : "%s dpd", v, due);
        r = brief_add(&b, f);
    } else if (r >= 0 && have_due && parse_date(due, &due_days) == 0) {
        snprintf(f, sizeof(f), "%lld dpd, due %s", (long long)(today_days - due_days), due);
        r = brief_add(&b, f);
    } else if (r >= 0 && have_due) {
        snprintf(f, sizeof(f), "due %s", due);
        r = brief_add(&b, f);
    }
    static const char *const extra[][2] = {
        { "tier", "tier" },   { "promises", "promises" }, { "payday", "payday" },
        { "flags", "flags" }, { "offers", "offers" },
    };
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]) && r >= 0; i++)
        if (json_get(in, extra[i][0], v, sizeof(v)) > 0 && *v) {
            snprintf(f, sizeof(f), "%s %s", extra[i][1], v);
            r = brief_add(&b, f);
        }
done:
    if (r < 0) {
        free(b.buf);
        return r;
    }
    size_t n = b.buf ? utf8_cut(b.buf, b.len, VD_COMMENTS_MAX) : 0;
    if (n)
        memcpy(out, b.buf, n);
    out[n] = 0;
    free(b.buf);
    return 0;
}

/*
 * The whole agent brief as custom fields: each member of the inputs'
 * brief_fields object becomes the parameter PREFIX+name (VICIdial takes a
 * custom field by its label), its text filtered as the comments are and
 * cut to max bytes at a character boundary; empty ones are left out, and
 * so is any field that would take the URL past VD_URL_MAX (Apache refuses
 * request lines longer than about 8 KB).  custom_fields=Y comes first.
 */
struct vd_fields {
    struct buf *b;
    const char *prefix;
    size_t max;
    int added, dropped;
};

static int vd_field_add(void *ctx, const char *name, const char *value)
{
    struct vd_fields *f = ctx;
    char label[VD_LABEL_MAX + 1];
    if ((size_t)snprintf(label, sizeof(label), "%s%s", f->prefix, name) >= sizeof(label))
        return 0;
    for (const char *c = label; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return 0;
    struct buf v = { 0 };
    int r = 0;
    for (const char *p = value; *p && r >= 0; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == '\'' || ch == '"' || ch == '&' || ch == '\\' || ch == 0x7f)
            continue;
        r = buf_add(&v, p, 1);
    }
    if (r >= 0 && v.len) {
        v.len = utf8_cut(v.buf, v.len, f->max);
        v.buf[v.len] = 0;
        size_t mark = f->b->len;
        r = url_add_param(f->b, label, v.buf);
        if (r >= 0 && f->b->len > VD_URL_MAX) {
            f->b->len = mark; /* this one does not fit */
            f->b->buf[mark] = 0;
            f->dropped++;
        } else if (r >= 0)
            f->added++;
    }
    free(v.buf);
    return r;
}

/* Append custom_fields=Y and the brief's fields to the add_lead URL b. */
static int vd_add_fields(struct buf *b, const char *inputs_json, const char *prefix, size_t max,
                         int *ret_dropped)
{
    size_t mark = b->len;
    struct vd_fields f = { b, prefix, max, 0, 0 };
    int r = url_add_param(b, "custom_fields", "Y");
    if (r >= 0)
        r = json_each_string(inputs_json ? inputs_json : "{}", "brief_fields", vd_field_add, &f);
    if (!f.added) { /* no brief: no custom_fields=Y either */
        b->len = mark;
        b->buf[mark] = 0;
    }
    *ret_dropped = f.dropped;
    return r == -EINVAL ? 0 : r;
}

/*
 * First and last name for the lead: the inputs' first_name/last_name when
 * given, else "name" split at its first space.  Each cut to VD_NAME_MAX
 * bytes at a UTF-8 boundary (invariant 4); out buffers hold
 * VD_NAME_MAX + 1.  Empty when there is no name.
 */
static void vd_names(const char *inputs_json, char *first, char *last)
{
    char v[VD_INPUT_MAX], l[VD_INPUT_MAX];
    const char *in = inputs_json ? inputs_json : "{}";
    const char *fs = "", *ls = "";
    size_t fn = 0;
    *first = *last = 0;
    if (json_get(in, "first_name", v, sizeof(v)) > 0) {
        fs = v;
        fn = strlen(v);
        if (json_get(in, "last_name", l, sizeof(l)) > 0)
            ls = l;
    } else if (json_get(in, "name", v, sizeof(v)) > 0) {
        char *sp = strchr(v, ' ');
        fs = v;
        fn = sp ? (size_t)(sp - v) : strlen(v);
        if (sp) {
            while (*sp == ' ')
                sp++;
            ls = sp;
        }
    }
    size_t n = utf8_cut(fs, fn, VD_NAME_MAX);
    memcpy(first, fs, n);
    first[n] = 0;
    n = utf8_cut(ls, strlen(ls), VD_NAME_MAX);
    memcpy(last, ls, n);
    last[n] = 0;
}

/* ---- the API's text replies (pure) --------------------------------------- */

enum vd_kind {
    VD_REPLY_NONE = 0, /* no SUCCESS:, ERROR: or NOTICE: line: not the API */
    VD_REPLY_SUCCESS,
    VD_REPLY_ERROR,
    VD_REPLY_NOTICE,   /* only NOTICE: lines */
};

enum vd_class {
    VD_ADDED = 0,       /* SUCCESS: add_lead LEAD HAS BEEN ADDED */
    VD_FOUND,           /* update_lead LEADS FOUND IN THE SYSTEM (our code) */
    VD_NOT_FOUND,       /* update_lead NO MATCHES FOUND */
    VD_DUPLICATE,       /* ERROR: add_lead DUPLICATE ... */
    VD_DNC,             /* ERROR: ... PHONE NUMBER IN (CAMPAIGN) DNC */
    VD_INVALID_PHONE,   /* ERROR: ... INVALID PHONE NUMBER ... */
    VD_AUTH,            /* login or permission errors */
    VD_REMOVED,         /* NOTICE: update_lead REMOVED FROM HOPPER */
    VD_NOT_IN_HOPPER,   /* NOTICE: update_lead NOT REMOVED FROM HOPPER... */
    VD_UPDATED,         /* SUCCESS: update_lead LEAD HAS BEEN UPDATED */
    VD_OTHER_ERROR,     /* any other ERROR: line */
    VD_UNRECOGNISED,    /* not the API's reply at all */
};

struct vd_reply {
    enum vd_kind kind;
    enum vd_class cls;
    char lead_id[24];     /* VD_ADDED, VD_FOUND, VD_DUPLICATE (the other lead): digits */
    char line[VD_ERR_MAX]; /* the deciding line, for errors and logs */
    int notices;          /* NOTICE: lines seen */
    bool hopper_refused;  /* NOTICE: ... NOT ADDED TO HOPPER (outside local time...) */
    char fields_refused[VD_ERR_MAX]; /* NOTICE: add_lead CUSTOM FIELDS NOT ADDED ..., or "" */
};

/* Field i (0-based) of the '|'-separated data after " - " on line [s, e), into out[24]. */
static bool reply_field(const char *s, const char *e, int i, char *out)
{
    const char *d = NULL;
    for (const char *p = s; p + 3 <= e; p++)
        if (memcmp(p, " - ", 3) == 0) {
            d = p + 3;
            break;
        }
    if (!d)
        return false;
    for (; i > 0; i--) {
        const char *bar = memchr(d, '|', (size_t)(e - d));
        if (!bar)
            return false;
        d = bar + 1;
    }
    const char *fe = memchr(d, '|', (size_t)(e - d));
    if (!fe)
        fe = e;
    while (fe > d && (fe[-1] == ' ' || fe[-1] == '\r'))
        fe--;
    size_t n = (size_t)(fe - d);
    if (n == 0 || n > 20)
        return false;
    for (size_t k = 0; k < n; k++)
        if (d[k] < '0' || d[k] > '9')
            return false;
    memcpy(out, d, n);
    out[n] = 0;
    return true;
}

static bool line_has(const char *s, const char *e, const char *what)
{
    size_t n = strlen(what);
    for (const char *p = s; p + n <= e; p++)
        if (memcmp(p, what, n) == 0)
            return true;
    return false;
}

/*
 * Parse a non-agent API reply (add_lead or update_lead): the first
 * SUCCESS: or ERROR: line decides; NOTICE: lines are counted, and decide
 * the hopper and lookup answers of update_lead.  vlc is our
 * vendor_lead_code, which a LEADS FOUND line must carry to count as ours.
 * Always fills *ret.
 */
static void vd_reply_parse(const char *body, size_t len, const char *vlc, struct vd_reply *ret)
{
    *ret = (struct vd_reply){ .kind = VD_REPLY_NONE, .cls = VD_UNRECOGNISED };
    const char *end = body + len, *decided = NULL, *decided_end = NULL;
    bool found = false, not_found = false, removed = false, not_in = false;
    const char *found_s = NULL, *found_e = NULL;
    for (const char *s = body; s < end;) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        if (!e)
            e = end;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        if (e - s >= 7 && memcmp(s, "NOTICE:", 7) == 0) {
            ret->notices++;
            if (ret->kind == VD_REPLY_NONE)
                ret->kind = VD_REPLY_NOTICE;
            if (line_has(s, e, "LEADS FOUND IN THE SYSTEM")) {
                found = true;
                found_s = s;
                found_e = e;
            } else if (line_has(s, e, "NO MATCHES FOUND"))
                not_found = true;
            else if (line_has(s, e, "NOT REMOVED FROM HOPPER"))
                not_in = true;
            else if (line_has(s, e, "REMOVED FROM HOPPER"))
                removed = true;
            else if (line_has(s, e, "NOT ADDED TO HOPPER"))
                ret->hopper_refused = true;
            else if (line_has(s, e, "CUSTOM FIELDS NOT ADDED")) {
                size_t n = utf8_cut(s, (size_t)(e - s), sizeof(ret->fields_refused) - 1);
                while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
                    n--;
                memcpy(ret->fields_refused, s, n);
                ret->fields_refused[n] = 0;
            }
            if (!decided) {
                decided = s;
                decided_end = e;
            }
        } else if (!decided || ret->kind == VD_REPLY_NOTICE) {
            if (e - s >= 8 && memcmp(s, "SUCCESS:", 8) == 0)
                ret->kind = VD_REPLY_SUCCESS;
            else if (e - s >= 6 && memcmp(s, "ERROR:", 6) == 0)
                ret->kind = VD_REPLY_ERROR;
            if (ret->kind == VD_REPLY_SUCCESS || ret->kind == VD_REPLY_ERROR) {
                decided = s;
                decided_end = e;
            }
        }
        s = e < end ? e + 1 : end;
    }
    if (decided) {
        size_t n = utf8_cut(decided, (size_t)(decided_end - decided), sizeof(ret->line) - 1);
        while (n && (decided[n - 1] == '\r' || decided[n - 1] == ' '))
            n--;
        memcpy(ret->line, decided, n);
        ret->line[n] = 0;
    }
    const char *s = decided, *e = decided_end;
    switch (ret->kind) {
    case VD_REPLY_NONE:
        return;
    case VD_REPLY_SUCCESS:
        if (line_has(s, e, "add_lead") && reply_field(s, e, 3, ret->lead_id))
            ret->cls = VD_ADDED;
        else if (line_has(s, e, "update_lead"))
            ret->cls = VD_UPDATED;
        else
            ret->cls = VD_UNRECOGNISED;
        break;
    case VD_REPLY_ERROR:
        if (line_has(s, e, "IN DNC") || line_has(s, e, "IN CAMPAIGN DNC"))
            ret->cls = VD_DNC;
        else if (line_has(s, e, "INVALID PHONE NUMBER"))
            ret->cls = VD_INVALID_PHONE;
        else if (line_has(s, e, "DUPLICATE")) {
            ret->cls = VD_DUPLICATE;
            /* phone|list|lead_id for PHONE NUMBER duplicates; the others put
             * more fields first: the lead id is the field before the list's */
            if (!reply_field(s, e, line_has(s, e, "PHONE NUMBER IN") ? 2 :
                             line_has(s, e, "TITLE ALT_PHONE") ? 3 : 4, ret->lead_id))
                ret->lead_id[0] = 0;
        } else if (line_has(s, e, "PERMISSION") || line_has(s, e, "Invalid Username") ||
                   line_has(s, e, "ERROR: auth") || line_has(s, e, "NOT AN ALLOWED LIST") ||
                   line_has(s, e, "NOT A DEFINED LIST"))
            ret->cls = VD_AUTH;
        else if (line_has(s, e, "NO MATCHES FOUND"))
            ret->cls = VD_NOT_FOUND;
        else
            ret->cls = VD_OTHER_ERROR;
        break;
    case VD_REPLY_NOTICE:
        ret->cls = VD_UNRECOGNISED;
        break;
    }
    /* update_lead answers in NOTICE: lines alone, or after its SUCCESS: */
    if (ret->kind == VD_REPLY_NOTICE || ret->cls == VD_UPDATED) {
        char vl[24] = "";
        if (found && found_s) {
            /* |user|lead_id|vendor_lead_code|phone|list_id|entry_list_id */
            const char *c = memchr(found_s, ':', (size_t)(found_e - found_s));
            c = c ? memchr(c + 1, ':', (size_t)(found_e - c - 1)) : NULL;
            if (c) {
                /* fields after "SYSTEM:" are '|'-separated, the first empty */
                const char *f[4] = { 0 };
                const char *p = c + 1;
                int k = 0;
                while (p < found_e && k < 4) {
                    const char *bar = memchr(p, '|', (size_t)(found_e - p));
                    if (!bar)
                        break;
                    f[k++] = bar + 1;
                    p = bar + 1;
                }
                if (k >= 3) {
                    const char *le = memchr(f[1], '|', (size_t)(found_e - f[1]));
                    const char *ve = memchr(f[2], '|', (size_t)(found_e - f[2]));
                    if (!ve)
                        ve = found_e;
                    size_t ln = le ? (size_t)(le - f[1]) : 0, vn = (size_t)(ve - f[2]);
                    if (ln > 0 && ln < sizeof(ret->lead_id) && vn < sizeof(vl)) {
                        memcpy(ret->lead_id, f[1], ln);
                        ret->lead_id[ln] = 0;
                        memcpy(vl, f[2], vn);
                        vl[vn] = 0;
                    }
                }
            }
            ret->cls = vlc && *ret->lead_id && strcmp(vl, vlc) == 0 ? VD_FOUND : VD_NOT_FOUND;
        } else if (not_found)
            ret->cls = VD_NOT_FOUND;
        else if (not_in)
            ret->cls = VD_NOT_IN_HOPPER;
        else if (removed)
            ret->cls = VD_REMOVED;
    }
}

/* ---- the channel ------------------------------------------------------------ */

struct vd_call;
struct vd_expiry;

struct vd_chan {
    struct cz_instance *inst;
    const struct cz_host *host;
    const char *url, *user, *pass, *source, *list_id, *campaign_id, *phone_code;
    const char *dnc_check, *campaign_dnc_check, *duplicate_check, *expire_status;
    bool add_to_hopper, local_time_check, expire, priority_from_input;
    int64_t priority, timeout_ms, max_inflight, inflight;
    bool auth_logged;
    bool custom_fields, fields_logged, url_logged; /* the brief in custom fields */
    const char *field_prefix;
    int64_t field_max;
    struct vd_call *calls;
    struct vd_expiry *expiries;
};

enum vd_step { VD_STEP_LOOKUP, VD_STEP_ADD, VD_STEP_DUPCHECK };

/* One send in flight (invariant 2: copies of what the replies need). */
struct vd_call {
    struct vd_chan *c;
    struct cz_send *send;
    struct vd_call *prev, *next;
    enum vd_step step;
    int64_t attempt_id, not_after;
    char vlc[VD_VLC_MAX + 1];
    char *add_url;              /* the add_lead request, built in send */
};

/* One lead to take out of the hopper at not_after. */
struct vd_expiry {
    struct vd_chan *c;
    struct vd_expiry *prev, *next;
    struct cz_timer *timer;
    bool in_http;               /* a request is running (the host owns no timer) */
    bool status_step;           /* the expire_status request */
    int tries;
    int64_t attempt_id;
    char lead_id[24];
};

static void vd_call_free(struct vd_call *k)
{
    struct vd_chan *c = k->c;
    if (k->prev)
        k->prev->next = k->next;
    else
        c->calls = k->next;
    if (k->next)
        k->next->prev = k->prev;
    c->inflight--;
    free(k->add_url);
    free(k);
}

static void vd_expiry_free(struct vd_expiry *x)
{
    struct vd_chan *c = x->c;
    if (x->prev)
        x->prev->next = x->next;
    else
        c->expiries = x->next;
    if (x->next)
        x->next->prev = x->prev;
    free(x);
}

/* The base URL with function, user, pass and source; NULL on OOM. */
static char *vd_url(struct vd_chan *c, const char *function, struct buf *b)
{
    *b = (struct buf){ 0 };
    int r = buf_adds(b, c->url);
    if (r >= 0)
        r = url_add_param(b, "source", c->source);
    if (r >= 0)
        r = url_add_param(b, "user", c->user);
    if (r >= 0)
        r = url_add_param(b, "pass", c->pass);
    if (r >= 0)
        r = url_add_param(b, "function", function);
    if (r < 0) {
        free(b->buf);
        *b = (struct buf){ 0 };
        return NULL;
    }
    return b->buf;
}

static void vd_on_reply(void *userdata, const struct cz_http_response *res);
static void vd_expiry_fire(void *userdata);

static void vd_complete(struct vd_call *k, enum cz_send_status st, const char *provider_id,
                        const char *error, int64_t retry_after_ms)
{
    struct cz_result res = { .status = st, .provider_id = provider_id, .error = error,
                             .retry_after_ms = retry_after_ms };
    k->c->host->complete(k->send, &res);
    vd_call_free(k);
}

static int vd_get(struct vd_chan *c, const char *url, cz_http_fn done, void *userdata)
{
    struct cz_http_request req = {
        .method = "GET", .url = url, .timeout_ms = c->timeout_ms,
        .connect_timeout_ms = c->timeout_ms < 5000 ? c->timeout_ms : 5000,
    };
    return c->host->http(c->inst, &req, done, userdata);
}

/* Start the lookup of our lead by vendor_lead_code (LOOKUP, DUPCHECK). */
static int vd_start_lookup(struct vd_call *k)
{
    struct buf b;
    if (!vd_url(k->c, "update_lead", &b))
        return -ENOMEM;
    int r = url_add_param(&b, "search_method", "VENDOR_LEAD_CODE");
    if (r >= 0)
        r = url_add_param(&b, "search_location", "SYSTEM");
    if (r >= 0)
        r = url_add_param(&b, "vendor_lead_code", k->vlc);
    if (r >= 0)
        r = url_add_param(&b, "no_update", "Y");
    if (r >= 0)
        r = vd_get(k->c, b.buf, vd_on_reply, k);
    free(b.buf);
    return r;
}

/* Arm the expiry of a lead we added (a log line when it cannot be armed). */
static void vd_arm_expiry(struct vd_chan *c, int64_t attempt_id, int64_t not_after,
                          const char *lead_id)
{
    if (!c->expire || not_after <= 0)
        return;
    int64_t ms = not_after * 1000 - c->host->wall_ms();
    if (ms < 0)
        ms = 0;
    struct vd_expiry *x = calloc(1, sizeof(*x));
    if (x) {
        x->c = c;
        x->attempt_id = attempt_id;
        snprintf(x->lead_id, sizeof(x->lead_id), "%s", lead_id);
        x->timer = c->host->timer_add(c->inst, ms, vd_expiry_fire, x);
    }
    if (!x || !x->timer) {
        free(x);
        c->host->log(c->inst, CZ_LOG_WARNING,
                     "cannot arm the window close of lead %s (attempt %lld): out of memory; "
                     "it stays in the hopper, ignoring", lead_id, (long long)attempt_id);
        return;
    }
    x->next = c->expiries;
    if (x->next)
        x->next->prev = x;
    c->expiries = x;
}

static void vd_auth_failed(struct vd_chan *c, const char *line)
{
    if (!c->auth_logged)
        c->host->log(c->inst, CZ_LOG_ERROR,
                     "VICIdial refuses the API user '%s': %s; every send fails until the "
                     "configuration is fixed", c->user, line);
    c->auth_logged = true;
}

static void vd_on_reply(void *userdata, const struct cz_http_response *res)
{
    struct vd_call *k = userdata;
    struct vd_chan *c = k->c;
    char err[VD_ERR_MAX + 64];
    if (res->error || res->status == 0) {
        snprintf(err, sizeof(err), "vicidial: %s",
                 res->error_text ? res->error_text : "no response");
        vd_complete(k, CZ_SEND_RETRY, NULL, err, 0);
        return;
    }
    if (res->status == 429 || res->status >= 500) {
        snprintf(err, sizeof(err), "vicidial: http status %d", res->status);
        vd_complete(k, CZ_SEND_RETRY, NULL, err, res->retry_after_ms);
        return;
    }
    if (res->status == 401 || res->status == 403) {
        snprintf(err, sizeof(err), "vicidial: http status %d", res->status);
        vd_auth_failed(c, err);
        vd_complete(k, CZ_SEND_FAILED, NULL, err, 0);
        return;
    }
    if (res->status < 200 || res->status >= 300) {
        snprintf(err, sizeof(err), "vicidial: http status %d", res->status);
        vd_complete(k, CZ_SEND_FAILED, NULL, err, 0);
        return;
    }
    struct vd_reply rp;
    vd_reply_parse(res->body ? res->body : "", res->body ? res->body_len : 0, k->vlc, &rp);
    if (rp.cls == VD_UNRECOGNISED || rp.kind == VD_REPLY_NONE) {
        snprintf(err, sizeof(err), "vicidial: unrecognised reply '%.60s'", rp.line);
        vd_complete(k, CZ_SEND_RETRY, NULL, err, res->retry_after_ms);
        return;
    }
    snprintf(err, sizeof(err), "vicidial: %s", rp.line);
    if (rp.notices && rp.cls == VD_ADDED)
        c->host->log(c->inst, CZ_LOG_DEBUG, "attempt %lld: %d notice(s) with the new lead",
                     (long long)k->attempt_id, rp.notices);
    if (rp.fields_refused[0] && rp.cls == VD_ADDED && !c->fields_logged) {
        /* the lead is in: only the brief's custom fields are missing */
        c->host->log(c->inst, CZ_LOG_WARNING,
                     "VICIdial stored the lead without the brief's custom fields (%s): define "
                     "the %s* fields on list %s, or set custom_fields: false; logged once",
                     rp.fields_refused, c->field_prefix, c->list_id);
        c->fields_logged = true;
    }
    if (rp.hopper_refused && rp.cls == VD_ADDED && c->add_to_hopper)
        /* the campaign's own loader may dial it later, within its call times */
        c->host->log(c->inst, CZ_LOG_NOTICE,
                     "attempt %lld: lead %s was added but VICIdial kept it out of the hopper "
                     "(local call time?)", (long long)k->attempt_id, rp.lead_id);
    switch (rp.cls) {
    case VD_ADDED:
    case VD_FOUND:
        if (k->step != VD_STEP_ADD)
            c->host->log(c->inst, CZ_LOG_INFO, "attempt %lld is lead %s already (%s)",
                         (long long)k->attempt_id, rp.lead_id, k->vlc);
        vd_arm_expiry(c, k->attempt_id, k->not_after, rp.lead_id);
        vd_complete(k, CZ_SEND_OK, rp.lead_id, NULL, 0);
        return;
    case VD_NOT_FOUND:
        if (k->step == VD_STEP_LOOKUP) {
            k->step = VD_STEP_ADD;
            int r = vd_get(c, k->add_url, vd_on_reply, k);
            if (r < 0)
                vd_complete(k, CZ_SEND_RETRY, NULL, "vicidial: cannot start add_lead", 0);
            return;
        }
        if (k->step == VD_STEP_DUPCHECK) {
            vd_complete(k, CZ_SEND_FAILED, NULL,
                        "vicidial: the number is already loaded as another lead", 0);
            return;
        }
        vd_complete(k, CZ_SEND_FAILED, NULL, err, 0);
        return;
    case VD_DUPLICATE:
        if (k->step == VD_STEP_ADD) {
            k->step = VD_STEP_DUPCHECK;
            if (vd_start_lookup(k) < 0)
                vd_complete(k, CZ_SEND_RETRY, NULL, "vicidial: cannot start the lookup", 0);
            return;
        }
        vd_complete(k, CZ_SEND_FAILED, NULL, err, 0);
        return;
    case VD_DNC:
        vd_complete(k, CZ_SEND_OPTED_OUT, NULL, err, 0);
        return;
    case VD_INVALID_PHONE:
        vd_complete(k, CZ_SEND_INVALID_ADDRESS, NULL, err, 0);
        return;
    case VD_AUTH:
        vd_auth_failed(c, rp.line);
        vd_complete(k, CZ_SEND_FAILED, NULL, err, 0);
        return;
    default:
        vd_complete(k, CZ_SEND_FAILED, NULL, err, 0);
        return;
    }
}

/* ---- window close ------------------------------------------------------------ */

static void vd_expiry_reply(void *userdata, const struct cz_http_response *res)
{
    struct vd_expiry *x = userdata;
    struct vd_chan *c = x->c;
    x->in_http = false;
    bool transient = res->error || res->status == 0 || res->status == 429 || res->status >= 500;
    if (transient) {
        if (++x->tries < VD_EXPIRY_TRIES) {
            x->timer = c->host->timer_add(c->inst, VD_EXPIRY_RETRY_MS, vd_expiry_fire, x);
            if (x->timer)
                return;
        }
        c->host->log(c->inst, CZ_LOG_WARNING,
                     "cannot take lead %s (attempt %lld) out of the hopper at window close: %s",
                     x->lead_id, (long long)x->attempt_id,
                     res->error_text ? res->error_text : "provider error");
        vd_expiry_free(x);
        return;
    }
    struct vd_reply rp;
    vd_reply_parse(res->body ? res->body : "", res->body ? res->body_len : 0, NULL, &rp);
    if (x->status_step) {
        c->host->log(c->inst, rp.cls == VD_UPDATED ? CZ_LOG_INFO : CZ_LOG_WARNING,
                     "lead %s (attempt %lld) set to status '%s' at window close: %s",
                     x->lead_id, (long long)x->attempt_id, c->expire_status, rp.line);
        vd_expiry_free(x);
        return;
    }
    if (rp.cls == VD_REMOVED) {
        c->host->log(c->inst, CZ_LOG_INFO,
                     "lead %s (attempt %lld) left the hopper undialled: its window closed",
                     x->lead_id, (long long)x->attempt_id);
        if (c->expire_status) {
            x->status_step = true;
            x->tries = 0;
            vd_expiry_fire(x);
            return;
        }
    } else if (rp.cls == VD_NOT_IN_HOPPER)
        c->host->log(c->inst, CZ_LOG_DEBUG, "lead %s (attempt %lld) was not in the hopper "
                     "at window close", x->lead_id, (long long)x->attempt_id);
    else {
        if (rp.cls == VD_AUTH)
            vd_auth_failed(c, rp.line);
        c->host->log(c->inst, CZ_LOG_WARNING,
                     "lead %s (attempt %lld): unexpected answer at window close: '%s'",
                     x->lead_id, (long long)x->attempt_id, rp.line);
    }
    vd_expiry_free(x);
}

static void vd_expiry_fire(void *userdata)
{
    struct vd_expiry *x = userdata;
    struct vd_chan *c = x->c;
    struct buf b;
    x->timer = NULL;
    int r = vd_url(c, "update_lead", &b) ? 0 : -ENOMEM;
    if (r >= 0)
        r = url_add_param(&b, "search_method", "LEAD_ID");
    if (r >= 0)
        r = url_add_param(&b, "lead_id", x->lead_id);
    if (r >= 0)
        r = x->status_step ? url_add_param(&b, "status", c->expire_status)
                           : url_add_param(&b, "remove_from_hopper", "Y");
    if (r >= 0)
        r = vd_get(c, b.buf, vd_expiry_reply, x);
    free(b.buf);
    if (r < 0) {
        c->host->log(c->inst, CZ_LOG_WARNING,
                     "cannot take lead %s (attempt %lld) out of the hopper: %s", x->lead_id,
                     (long long)x->attempt_id, strerror(-r));
        vd_expiry_free(x);
        return;
    }
    x->in_http = true;
}

/* ---- init, send, shutdown --------------------------------------------------- */

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static int vd_init(struct cz_instance *inst, const struct cz_host *host, void **ret)
{
    if (host->abi_minor < 1 || !host->http) {
        host->log(inst, CZ_LOG_ERROR, "needs a host of plugin ABI 1.1 (host->http)");
        return -ENOTSUP;
    }
    struct vd_chan *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->inst = inst;
    c->host = host;
    c->url = host->setting_str(inst, "url");
    c->user = host->setting_str(inst, "user");
    c->pass = host->setting_str(inst, "pass");
    c->source = host->setting_str(inst, "source");
    c->list_id = host->setting_str(inst, "list_id");
    c->campaign_id = host->setting_str(inst, "campaign_id");
    c->phone_code = host->setting_str(inst, "phone_code");
    c->dnc_check = host->setting_str(inst, "dnc_check");
    c->campaign_dnc_check = host->setting_str(inst, "campaign_dnc_check");
    c->duplicate_check = host->setting_str(inst, "duplicate_check");
    c->expire_status = host->setting_str(inst, "expire_status");
    c->add_to_hopper = host->setting_bool(inst, "add_to_hopper");
    c->local_time_check = host->setting_bool(inst, "hopper_local_call_time_check");
    c->expire = host->setting_bool(inst, "expire_at_window_close");
    c->priority = host->setting_int(inst, "hopper_priority");
    c->priority_from_input = strcmp(host->setting_str(inst, "hopper_priority_from"), "input") == 0;
    c->timeout_ms = host->setting_int(inst, "timeout_ms");
    c->max_inflight = host->setting_int(inst, "max_inflight");
    c->custom_fields = host->setting_bool(inst, "custom_fields");
    c->field_prefix = host->setting_str(inst, "custom_field_prefix");
    c->field_max = host->setting_int(inst, "custom_field_max");

    const char *why = NULL;
    if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
        why = "url must start with http:// or https://";
    else if (!all_digits(c->list_id, 3, 12))
        why = "list_id must be 3 to 12 digits";
    else if (!all_digits(c->phone_code, 1, 4))
        why = "phone_code must be 1 to 4 digits";
    else if (strlen(c->source) < 1 || strlen(c->source) > 20)
        why = "source must be 1 to 20 characters";
    else if (strcmp(c->campaign_dnc_check, "N") != 0 && !c->campaign_id)
        why = "campaign_dnc_check needs campaign_id";
    else if (c->expire_status && (strlen(c->expire_status) < 1 || strlen(c->expire_status) > 6 ||
                                  strpbrk(c->expire_status, " &'\"%")))
        why = "expire_status must be 1 to 6 characters without spaces or punctuation";
    else if (strlen(c->field_prefix) > 20 ||
             strspn(c->field_prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789_") != strlen(c->field_prefix))
        why = "custom_field_prefix must be at most 20 letters, digits or '_'";
    if (why) {
        host->log(inst, CZ_LOG_ERROR, "%s", why);
        free(c);
        return -EINVAL;
    }
    *ret = c;
    return 0;
}

/* The add_lead request of a job; NULL on OOM, *ret_err when the address is unusable. */
static char *vd_add_url(struct vd_chan *c, const struct cz_job *job, const char *vlc,
                        enum cz_send_status *ret_status, const char **ret_err)
{
    char nat[17];
    int r = vd_national(job->address, c->phone_code, nat);
    if (r == -EXDEV) {
        *ret_status = CZ_SEND_FAILED;
        *ret_err = "vicidial: the number is not in this channel's phone_code";
        return NULL;
    }
    if (r < 0) {
        *ret_status = CZ_SEND_INVALID_ADDRESS;
        *ret_err = "vicidial: not an E.164 number of 6 to 16 national digits";
        return NULL;
    }
    char first[VD_NAME_MAX + 1], last[VD_NAME_MAX + 1], comments[VD_COMMENTS_MAX + 1];
    vd_names(job->inputs_json, first, last);
    if (vd_brief(job->inputs_json, job->locale, c->host->wall_ms() / 86400000, comments) < 0)
        return NULL;
    int64_t prio = c->priority;
    char pv[32];
    if (c->priority_from_input && job->inputs_json &&
        json_get(job->inputs_json, "hopper_priority", pv, sizeof(pv)) > 0 && *pv) {
        char *e;
        double d = strtod(pv, &e);
        if (*e == 0 && e != pv)
            prio = d > 99 ? 99 : d < -99 ? -99 : (int64_t)d;
    }
    char prio_s[8];
    snprintf(prio_s, sizeof(prio_s), "%lld", (long long)prio);

    struct buf b;
    if (!vd_url(c, "add_lead", &b))
        return NULL;
    r = url_add_param(&b, "phone_number", nat);
    if (r >= 0)
        r = url_add_param(&b, "phone_code", c->phone_code);
    if (r >= 0)
        r = url_add_param(&b, "list_id", c->list_id);
    if (r >= 0)
        r = url_add_param(&b, "vendor_lead_code", vlc);
    if (r >= 0)
        r = url_add_param(&b, "dnc_check", c->dnc_check);
    if (r >= 0)
        r = url_add_param(&b, "campaign_dnc_check", c->campaign_dnc_check);
    if (r >= 0 && c->campaign_id)
        r = url_add_param(&b, "campaign_id", c->campaign_id);
    if (r >= 0 && c->duplicate_check)
        r = url_add_param(&b, "duplicate_check", c->duplicate_check);
    if (r >= 0)
        r = url_add_param(&b, "add_to_hopper", c->add_to_hopper ? "Y" : "N");
    if (r >= 0 && c->add_to_hopper)
        r = url_add_param(&b, "hopper_priority", prio_s);
    if (r >= 0 && c->add_to_hopper)
        r = url_add_param(&b, "hopper_local_call_time_check", c->local_time_check ? "Y" : "N");
    if (r >= 0 && *first)
        r = url_add_param(&b, "first_name", first);
    if (r >= 0 && *last)
        r = url_add_param(&b, "last_name", last);
    if (r >= 0 && *comments)
        r = url_add_param(&b, "comments", comments);
    int dropped = 0;
    if (r >= 0 && c->custom_fields)
        r = vd_add_fields(&b, job->inputs_json, c->field_prefix, (size_t)c->field_max, &dropped);
    if (r < 0) {
        free(b.buf);
        return NULL;
    }
    if (dropped && !c->url_logged) {
        c->host->log(c->inst, CZ_LOG_WARNING,
                     "attempt %lld: %d custom field(s) left out to keep the request under %d "
                     "bytes; lower custom_field_max; logged once", (long long)job->attempt_id,
                     dropped, VD_URL_MAX);
        c->url_logged = true;
    }
    return b.buf;
}

static int vd_send(void *state, const struct cz_job *job, struct cz_send *send)
{
    struct vd_chan *c = state;
    if (c->inflight >= c->max_inflight) {
        c->host->complete(send, &(struct cz_result){
            .status = CZ_SEND_RETRY, .error = "vicidial: max_inflight requests running",
            .retry_after_ms = 1000 });
        return 0;
    }
    struct vd_call *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->c = c;
    k->send = send;
    k->attempt_id = job->attempt_id;
    k->not_after = job->not_after;
    vd_vlc(job->attempt_id, k->vlc);
    enum cz_send_status st = CZ_SEND_FAILED;
    const char *err = NULL;
    k->add_url = vd_add_url(c, job, k->vlc, &st, &err);
    if (!k->add_url) {
        free(k);
        if (!err)
            return -ENOMEM;
        c->host->complete(send, &(struct cz_result){ .status = st, .error = err });
        return 0;
    }
    /* link it first: vd_call_free() unlinks */
    k->next = c->calls;
    if (k->next)
        k->next->prev = k;
    c->calls = k;
    c->inflight++;
    int r;
    if (job->redelivered || job->tries > 0) {
        k->step = VD_STEP_LOOKUP;
        r = vd_start_lookup(k);
    } else {
        k->step = VD_STEP_ADD;
        r = vd_get(c, k->add_url, vd_on_reply, k);
    }
    if (r < 0) {
        vd_call_free(k);
        return r;
    }
    return 0;
}

static void vd_shutdown(void *state)
{
    struct vd_chan *c = state;
    if (!c)
        return;
    /* invariant 6: the host cancels the requests and timers without callbacks */
    int pending = 0;
    while (c->expiries) {
        pending++;
        vd_expiry_free(c->expiries);
    }
    if (pending)
        c->host->log(c->inst, CZ_LOG_WARNING,
                     "%d lead(s) stay in the hopper past shutdown: their window-close removal "
                     "is lost (see plugins/vicidial/README.md)", pending);
    while (c->calls)
        vd_call_free(c->calls);
    free(c);
}

const struct cz_channel_plugin cz_channel_plugin = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = 1,
    .name = "vicidial",
    .description = "VICIdial leads through the non-agent API (add_lead, update_lead)",
    .kinds = CZ_KIND_BIT(CZ_KIND_CALL),
    .settings = vd_settings,
    .init = vd_init,
    .send = vd_send,
    .shutdown = vd_shutdown,
};
