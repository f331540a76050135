/*
 * job.c - the dispatch job payload: JSON in, JSON out, and the time
 * re-check a worker makes just before sending.
 *
 * Owns nothing but the job structs it fills.  Never does I/O, never
 * reads the clock (now is an argument).
 *
 * Invariants:
 *  1. job_to_json() output parses back with job_from_json() into an
 *     equal job (tested round trip).
 *  2. job_from_json() never trusts its input: any payload, however
 *     malformed, gives 0 or -EINVAL, never a crash or a leak.
 *  3. job_check_time() says JOB_SEND_NOW only for now < not_after and,
 *     when windows are given, now inside one of them.
 *  4. job_parse() accepts exactly the JSON texts a strict JSON library
 *     accepts as an object (RFC 8259; no duplicate keys, no "\u0000",
 *     integers within int64, reals within double, well-formed UTF-8),
 *     nested at most JOB_DEPTH_MAX deep, and reads the members the same
 *     whatever their order, escapes or surrounding whitespace.
 *  5. A parsed job holds its strings and inputs_json in one block
 *     (j->mem); job_release() frees that block or, for a job built by
 *     a producer, each string.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "job.h"

void job_release(struct job *j)
{
    if (!j)
        return;
    if (j->mem) {
        free(j->mem); /* a parsed job: every string lives in it */
    } else {
        free(j->idempotency_key);
        free(j->debtor_id);
        free(j->channel);
        free(j->channel_kind);
        free(j->address);
        free(j->template_name);
        free(j->time_zone);
        free(j->locale);
        free(j->strategy);
        free(j->inputs_json);
    }
    json_decref(j->inputs);
    memset(j, 0, sizeof(*j));
}

int job_pack(struct job *j)
{
    char **f[] = { &j->idempotency_key, &j->debtor_id, &j->channel, &j->channel_kind,
                   &j->address, &j->template_name, &j->time_zone, &j->locale,
                   &j->strategy };
    size_t len[ELEMENTSOF(f)], need = j->inputs_json ? j->inputs_json_len + 1 : 0;
    for (size_t i = 0; i < ELEMENTSOF(f); i++) {
        len[i] = *f[i] ? strlen(*f[i]) : 0;
        need += *f[i] ? len[i] + 1 : 0;
    }
    char *m = malloc(need ? need : 1), *o = m;
    if (!m) {
        for (size_t i = 0; i < ELEMENTSOF(f); i++)
            *f[i] = NULL;
        j->inputs_json = NULL;
        j->inputs_json_len = 0;
        return -ENOMEM;
    }
    for (size_t i = 0; i < ELEMENTSOF(f); i++)
        if (*f[i]) {
            memcpy(o, *f[i], len[i] + 1);
            *f[i] = o;
            o += len[i] + 1;
        }
    if (j->inputs_json) {
        memcpy(o, j->inputs_json, j->inputs_json_len);
        o[j->inputs_json_len] = 0;
        j->inputs_json = o;
    }
    j->mem = m;
    return 0;
}

int job_validate(const struct job *j, char *err, size_t errlen)
{
    const char *what = NULL;
    if (j->attempt_id <= 0)
        what = "'attempt_id' must be a positive integer";
    else if (isempty(j->idempotency_key))
        what = "'idempotency_key' is missing";
    else if (isempty(j->debtor_id))
        what = "'debtor_id' is missing";
    else if (isempty(j->channel))
        what = "'channel' is missing";
    else if (isempty(j->address))
        what = "'address' is missing";
    else if (j->not_after <= 0)
        what = "'not_after' is missing";
    else if (j->not_before > j->not_after)
        what = "'not_before' is after 'not_after'";
    else if (j->nwindows > JOB_WINDOWS_MAX)
        what = "too many windows";
    else if (j->inputs && !json_is_object(j->inputs))
        what = "'inputs' must be an object";
    else
        for (size_t i = 0; i < j->nwindows; i++)
            if (j->windows[i].start >= j->windows[i].end)
                what = "a window ends before it starts";
    if (what) {
        snprintf(err, errlen, "%s", what);
        return -EINVAL;
    }
    return 0;
}

/* ---- the payload writer ----------------------------------------------------
 *
 * The enqueue hot path: the exact size is computed first, then the
 * payload is written with a plain pointer (no printf, no per-piece calls).
 */

/* Bytes a string takes as a JSON literal, quotes included (see put_str()). */
static size_t str_json_len(const char *s, size_t n)
{
    size_t len = n + 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20)
            len += c == '\n' || c == '\r' || c == '\t' ? 1 : 5;
        else if (c == '"' || c == '\\')
            len++;
    }
    return len;
}

/*
 * Write s as a JSON string literal; the same bytes as sbuf_add_json_str()
 * (", \ and control characters escaped, the rest, UTF-8 included, as is)
 * but copied in runs.
 */
static char *put_str(char *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    *o++ = '"';
    for (;;) {
        const unsigned char *q = p;
        while (q < e && *q >= 0x20 && *q != '"' && *q != '\\')
            q++;
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        if (q == e)
            break;
        unsigned char c = *q;
        p = q + 1;
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
    }
    *o++ = '"';
    return o;
}

int job_json_str(struct sbuf *b, const char *s, size_t n)
{
    size_t len = str_json_len(s, n);
    int r = sbuf_reserve(b, len);
    if (r < 0)
        return r;
    put_str(b->buf + b->len, s, n);
    b->len += len;
    b->buf[b->len] = 0;
    return 0;
}

static char *put_int(char *o, int64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10));
    if (v < 0)
        *--p = '-';
    memcpy(o, p, (size_t)(buf + sizeof(buf) - p));
    return o + (buf + sizeof(buf) - p);
}

#define PUT_LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

static int dump_to_sbuf(const char *p, size_t n, void *data)
{
    return sbuf_add(data, p, n) < 0 ? -1 : 0;
}

int job_to_json(const struct job *j, struct sbuf *b)
{
    /* the string members in payload order, with their keys */
    static const char *const keys[] = { ",\"idempotency_key\":", ",\"debtor_id\":",
                                        ",\"channel\":", ",\"channel_kind\":", ",\"address\":",
                                        ",\"template\":", ",\"time_zone\":", ",\"locale\":",
                                        ",\"strategy\":" };
    const char *v[] = { j->idempotency_key, j->debtor_id, j->channel, j->channel_kind,
                        j->address, j->template_name, j->time_zone, j->locale, j->strategy };
    size_t vn[ELEMENTSOF(v)];
    size_t start = b->len, nw = j->nwindows <= JOB_WINDOWS_MAX ? j->nwindows : JOB_WINDOWS_MAX;
    /* keys and integers (20 digits and a sign at most each) */
    size_t need = 200 + 6 * 21 + nw * 48;
    for (size_t i = 0; i < ELEMENTSOF(v); i++) {
        vn[i] = v[i] ? strlen(v[i]) : 0;
        need += strlen(keys[i]) + (v[i] ? str_json_len(v[i], vn[i]) : 4);
    }
    if (j->inputs_json)
        need += j->inputs_json_len;
    int r = sbuf_reserve(b, need);
    if (r < 0)
        return r;
    char *o = b->buf + b->len;
    o = PUT_LIT(o, "{\"attempt_id\":");
    o = put_int(o, j->attempt_id);
    for (size_t i = 0; i < ELEMENTSOF(v); i++) {
        size_t kl = strlen(keys[i]);
        memcpy(o, keys[i], kl);
        o += kl;
        o = v[i] ? put_str(o, v[i], vn[i]) : PUT_LIT(o, "null");
    }
    o = PUT_LIT(o, ",\"tier\":");
    o = put_int(o, j->tier);
    o = PUT_LIT(o, ",\"attempt\":");
    o = put_int(o, j->attempt);
    o = PUT_LIT(o, ",\"not_before\":");
    o = put_int(o, j->not_before);
    o = PUT_LIT(o, ",\"not_after\":");
    o = put_int(o, j->not_after);
    o = PUT_LIT(o, ",\"windows\":[");
    for (size_t i = 0; i < nw; i++) {
        o = i ? PUT_LIT(o, ",[") : PUT_LIT(o, "[");
        o = put_int(o, j->windows[i].start);
        *o++ = ',';
        o = put_int(o, j->windows[i].end);
        *o++ = ']';
    }
    o = PUT_LIT(o, "],\"inputs\":");
    if (j->inputs_json) {
        memcpy(o, j->inputs_json, j->inputs_json_len);
        o += j->inputs_json_len;
    } else if (!j->inputs)
        o = PUT_LIT(o, "{}");
    b->len = (size_t)(o - b->buf);
    if (!j->inputs_json && j->inputs &&
        json_dump_callback(j->inputs, dump_to_sbuf, b, JSON_COMPACT | JSON_ENSURE_ASCII) < 0)
        r = b->max && b->len >= b->max ? -E2BIG : -ENOMEM;
    if (r >= 0 && j->notice)
        r = sbuf_adds(b, ",\"notice\":1");
    if (r >= 0)
        r = sbuf_addc(b, '}');
    if (r < 0) {
        b->len = start;
        if (b->buf)
            b->buf[start] = 0;
        return r;
    }
    return 0;
}

/* ---- the payload reader ---------------------------------------------------
 *
 * A single pass over the payload, no JSON library and one allocation per
 * job: every JSON value is validated (RFC 8259 plus invariant 4), the
 * known top-level members are recorded as slices of the input, and the
 * strings are decoded at the end straight into one block (job->mem).
 */

struct jstr {
    const char *p; /* after the opening quote */
    size_t n;      /* raw length, escapes not decoded */
    bool esc;      /* holds a backslash */
};

struct reader {
    const char *buf, *p, *end;
    const char *err;     /* the first syntax error, NULL while none */
    size_t err_at;
    bool ws;             /* whitespace skipped since last reset */
    uint64_t *keys;      /* key hashes of the objects being read (duplicates) */
    size_t nkeys, capkeys;
    uint64_t keys0[64];
};

/* byte classes inside a string: 0 plain, 1 quote, 2 backslash, 3 control, 4 non-ASCII */
static const unsigned char str_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

static int rd_fail(struct reader *r, const char *msg)
{
    if (!r->err) {
        r->err = msg;
        r->err_at = (size_t)(r->p - r->buf);
    }
    return -EINVAL;
}

static void rd_ws(struct reader *r)
{
    const char *p = r->p;
    while (p < r->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    if (p != r->p)
        r->ws = true;
    r->p = p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The 4 hex digits at p (checked by the caller to be there); -1 if not hex. */
static int32_t hex4(const char *p)
{
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* A string token at r->p (on its opening quote); r->p ends after it. */
static int rd_string(struct reader *r, struct jstr *ret)
{
    const unsigned char *s = (const unsigned char *)r->p + 1;
    const unsigned char *end = (const unsigned char *)r->end;
    struct jstr t = { (const char *)s, 0, false };
    for (;;) {
        while (s < end && str_class[*s] == 0)
            s++;
        if (s >= end) {
            r->p = (const char *)s;
            return rd_fail(r, "premature end of input in a string");
        }
        switch (str_class[*s]) {
        case 1:
            t.n = (size_t)((const char *)s - t.p);
            r->p = (const char *)s + 1;
            if (ret)
                *ret = t;
            return 0;
        case 2: {
            t.esc = true;
            if (end - s < 2)
                break;
            char c = (char)s[1];
            if (c && strchr("\"\\/bfnrt", c)) {
                s += 2;
                continue;
            }
            if (c != 'u')
                break;
            if (end - s < 6)
                break;
            int32_t u = hex4((const char *)s + 2);
            if (u < 0)
                break;
            if (u == 0) {
                r->p = (const char *)s;
                return rd_fail(r, "\\u0000 is not allowed");
            }
            if (u >= 0xdc00 && u <= 0xdfff)
                break; /* a low surrogate alone */
            if (u >= 0xd800 && u <= 0xdbff) {
                int32_t lo = end - s >= 12 && s[6] == '\\' && s[7] == 'u'
                                 ? hex4((const char *)s + 8) : -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    break;
                s += 12;
                continue;
            }
            s += 6;
            continue;
        }
        case 3:
            r->p = (const char *)s;
            return rd_fail(r, "control character in a string");
        case 4: {
            size_t n = utf8_seq(s, end);
            if (!n) {
                r->p = (const char *)s;
                return rd_fail(r, "invalid UTF-8 in a string");
            }
            s += n;
            continue;
        }
        }
        r->p = (const char *)s;
        return rd_fail(r, "invalid escape in a string");
    }
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * Decode a string checked by rd_string() into o (room for t->n + 1
 * bytes: decoding never grows it); returns the decoded length, NUL added.
 */
static size_t decode_str(const struct jstr *t, char *o)
{
    if (!t->esc) {
        memcpy(o, t->p, t->n);
        o[t->n] = 0;
        return t->n;
    }
    const char *s = t->p, *e = t->p + t->n;
    size_t n = 0;
    while (s < e) {
        const char *bs = memchr(s, '\\', (size_t)(e - s));
        size_t plain = (size_t)((bs ? bs : e) - s);
        memcpy(o + n, s, plain);
        n += plain;
        if (!bs)
            break;
        s = bs + 2;
        switch (bs[1]) {
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            uint32_t cp = (uint32_t)hex4(bs + 2);
            s = bs + 6;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)hex4(bs + 8) - 0xdc00);
                s = bs + 12;
            }
            n += put_utf8(o + n, cp);
            break;
        }
        default: o[n++] = bs[1]; break; /* " \ / */
        }
    }
    o[n] = 0;
    return n;
}

/* Hash of a key's decoded text (keys with escapes are decoded first). */
static int key_hash(const struct jstr *t, uint64_t *ret)
{
    if (!t->esc) {
        *ret = hash64(t->p, t->n, 0x6b6579);
        return 0;
    }
    char small[256], *o = t->n < sizeof(small) ? small : malloc(t->n + 1);
    if (!o)
        return -ENOMEM;
    size_t n = decode_str(t, o);
    *ret = hash64(o, n, 0x6b6579);
    if (o != small)
        free(o);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Remember a key of the object whose keys start at keys[base]; a key
 * seen before in that object is a syntax error (as with JSON libraries
 * that reject duplicates: a payload must mean one thing).  Keys are
 * compared by 64-bit hash of their decoded text.
 */
static int rd_key(struct reader *r, size_t base, const struct jstr *t)
{
    uint64_t h;
    if (key_hash(t, &h) < 0)
        return -ENOMEM;
    size_t have = r->nkeys - base;
    if (have <= 16) {
        for (size_t i = base; i < r->nkeys; i++)
            if (r->keys[i] == h)
                return rd_fail(r, "duplicate object key");
    }
    if (r->nkeys == r->capkeys) {
        size_t cap = r->capkeys * 2;
        uint64_t *k = r->keys == r->keys0 ? malloc(cap * sizeof(*k))
                                          : realloc(r->keys, cap * sizeof(*k));
        if (!k)
            return -ENOMEM;
        if (r->keys == r->keys0)
            memcpy(k, r->keys0, sizeof(r->keys0));
        r->keys = k;
        r->capkeys = cap;
    }
    r->keys[r->nkeys++] = h;
    return 0;
}

/* Objects of more than 17 keys are checked for duplicates when they close. */
static int rd_keys_close(struct reader *r, size_t base)
{
    size_t n = r->nkeys - base;
    if (n > 17) {
        qsort(r->keys + base, n, sizeof(*r->keys), cmp_u64);
        for (size_t i = base + 1; i < r->nkeys; i++)
            if (r->keys[i] == r->keys[i - 1]) {
                r->nkeys = base;
                return rd_fail(r, "duplicate object key");
            }
    }
    r->nkeys = base;
    return 0;
}

/*
 * A number token.  *ret_int says whether it is an integer (no fraction,
 * no exponent); then *ret_v is its value.  Integers beyond int64 and
 * reals beyond double are errors (a reader could not keep them).
 */
static int rd_number(struct reader *r, bool *ret_int, int64_t *ret_v)
{
    const char *s = r->p, *e = r->end, *start = s;
    bool neg = false, isint = true;
    uint64_t v = 0, lim;
    if (s < e && *s == '-') {
        neg = true;
        s++;
    }
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (s >= e || *s < '0' || *s > '9') {
        r->p = s;
        return rd_fail(r, "invalid number");
    }
    if (*s == '0') {
        s++;
    } else {
        bool big = false;
        while (s < e && *s >= '0' && *s <= '9') {
            unsigned d = (unsigned)(*s - '0');
            if (v > (lim - d) / 10)
                big = true;
            else
                v = v * 10 + d;
            s++;
        }
        if (big && (s >= e || (*s != '.' && *s != 'e' && *s != 'E'))) {
            r->p = start;
            return rd_fail(r, "too big integer");
        }
        if (big)
            isint = false;
    }
    if (s < e && *s == '.') {
        isint = false;
        s++;
        if (s >= e || *s < '0' || *s > '9') {
            r->p = s;
            return rd_fail(r, "invalid number");
        }
        while (s < e && *s >= '0' && *s <= '9')
            s++;
    }
    if (s < e && (*s == 'e' || *s == 'E')) {
        isint = false;
        s++;
        if (s < e && (*s == '+' || *s == '-'))
            s++;
        if (s >= e || *s < '0' || *s > '9') {
            r->p = s;
            return rd_fail(r, "invalid number");
        }
        while (s < e && *s >= '0' && *s <= '9')
            s++;
    }
    if (!isint) {
        /* rare in payloads: let strtod say whether it fits a double */
        size_t n = (size_t)(s - start);
        char small[64], *t = n < sizeof(small) ? small : malloc(n + 1);
        if (!t)
            return -ENOMEM;
        memcpy(t, start, n);
        t[n] = 0;
        double d = strtod(t, NULL);
        if (t != small)
            free(t);
        if (d == HUGE_VAL || d == -HUGE_VAL) {
            r->p = start;
            return rd_fail(r, "real number overflow");
        }
    }
    r->p = s;
    *ret_int = isint;
    *ret_v = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int rd_literal(struct reader *r, const char *lit, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return rd_fail(r, "invalid token");
    r->p += n;
    return 0;
}

static int rd_value(struct reader *r, int depth);

static int rd_object(struct reader *r, int depth)
{
    size_t base = r->nkeys;
    int e;
    r->p++;
    rd_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return 0;
    }
    for (;;) {
        struct jstr k;
        if (r->p >= r->end || *r->p != '"')
            return rd_fail(r, "string or '}' expected");
        if ((e = rd_string(r, &k)) < 0 || (e = rd_key(r, base, &k)) < 0)
            return e;
        rd_ws(r);
        if (r->p >= r->end || *r->p != ':')
            return rd_fail(r, "':' expected");
        r->p++;
        rd_ws(r);
        if ((e = rd_value(r, depth + 1)) < 0)
            return e;
        rd_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            rd_ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            return rd_keys_close(r, base);
        }
        return rd_fail(r, "',' or '}' expected");
    }
}

static int rd_array(struct reader *r, int depth)
{
    int e;
    r->p++;
    rd_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return 0;
    }
    for (;;) {
        if ((e = rd_value(r, depth + 1)) < 0)
            return e;
        rd_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            rd_ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return 0;
        }
        return rd_fail(r, "',' or ']' expected");
    }
}

/* Any JSON value at r->p (whitespace before it already skipped). */
static int rd_value(struct reader *r, int depth)
{
    bool isint;
    int64_t v;
    if (depth > JOB_DEPTH_MAX)
        return rd_fail(r, "too deeply nested");
    if (r->p >= r->end)
        return rd_fail(r, "premature end of input");
    switch (*r->p) {
    case '{': return rd_object(r, depth);
    case '[': return rd_array(r, depth);
    case '"': return rd_string(r, NULL);
    case 't': return rd_literal(r, "true", 4);
    case 'f': return rd_literal(r, "false", 5);
    case 'n': return rd_literal(r, "null", 4);
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
            return rd_number(r, &isint, &v);
        return rd_fail(r, "invalid token");
    }
}

static bool at_null(const struct reader *r)
{
    return r->end - r->p >= 4 && memcmp(r->p, "null", 4) == 0;
}

/* The known members, in the order their problems are reported. */
enum field {
    F_ATTEMPT_ID, F_IDEMPOTENCY_KEY, F_DEBTOR_ID, F_CHANNEL, F_CHANNEL_KIND, F_ADDRESS,
    F_TEMPLATE, F_TIME_ZONE, F_LOCALE, F_STRATEGY, F_TIER, F_ATTEMPT, F_NOT_BEFORE, F_NOT_AFTER,
    F_WINDOWS, F_INPUTS, F_NOTICE, _F_MAX,
};
enum ftype { T_STR, T_INT, T_WINDOWS, T_INPUTS };
#define TMAX (INT64_C(1) << 40)
static const struct {
    const char *name;
    unsigned char len;
    enum ftype type;
    bool required;
    int64_t min, max;
} fields[_F_MAX] = {
#define FLD(f, n, t, req, lo, hi) [f] = { n, sizeof(n) - 1, t, req, lo, hi }
    FLD(F_ATTEMPT_ID, "attempt_id", T_INT, true, 1, INT64_MAX),
    FLD(F_IDEMPOTENCY_KEY, "idempotency_key", T_STR, true, 0, 0),
    FLD(F_DEBTOR_ID, "debtor_id", T_STR, true, 0, 0),
    FLD(F_CHANNEL, "channel", T_STR, true, 0, 0),
    FLD(F_CHANNEL_KIND, "channel_kind", T_STR, false, 0, 0),
    FLD(F_ADDRESS, "address", T_STR, true, 0, 0),
    FLD(F_TEMPLATE, "template", T_STR, false, 0, 0),
    FLD(F_TIME_ZONE, "time_zone", T_STR, false, 0, 0),
    FLD(F_LOCALE, "locale", T_STR, false, 0, 0),
    FLD(F_STRATEGY, "strategy", T_STR, false, 0, 0),
    FLD(F_TIER, "tier", T_INT, false, -1, 100),
    FLD(F_ATTEMPT, "attempt", T_INT, false, 0, 1000000),
    FLD(F_NOT_BEFORE, "not_before", T_INT, false, 0, TMAX),
    FLD(F_NOT_AFTER, "not_after", T_INT, true, 1, TMAX),
    FLD(F_WINDOWS, "windows", T_WINDOWS, false, 0, 0),
    FLD(F_INPUTS, "inputs", T_INPUTS, false, 0, 0),
    FLD(F_NOTICE, "notice", T_INT, false, 0, 1),
#undef FLD
};

enum fstate { S_ABSENT, S_OK, S_BAD }; /* null counts as absent */

struct parsed {
    enum fstate st[_F_MAX];
    struct jstr str[_F_MAX];
    int64_t num[_F_MAX];
    const char *val[_F_MAX];     /* windows, inputs: where the value starts */
    size_t vlen[_F_MAX];
    bool inputs_ws;              /* the inputs hold whitespace to squeeze out */
};

/* Which known member a key names (next: the likely one), _F_MAX for none. */
static enum field field_of(const char *k, size_t n, enum field next)
{
    if (next < _F_MAX && fields[next].len == n && memcmp(fields[next].name, k, n) == 0)
        return next;
    for (int f = 0; f < _F_MAX; f++)
        if (fields[f].len == n && memcmp(fields[f].name, k, n) == 0)
            return (enum field)f;
    return _F_MAX;
}

/* The windows value (valid JSON, checked): [[start,end],...] or bad. */
static bool read_windows(const struct reader *outer, const char *p, size_t n, struct job *j)
{
    struct reader r = { .buf = outer->buf, .p = p, .end = p + n };
    size_t k = 0;
    bool isint;
    int64_t v[2];
    r.p++; /* [ */
    rd_ws(&r);
    if (*r.p == ']')
        return true;
    for (;;) {
        if (k == JOB_WINDOWS_MAX || *r.p != '[')
            return false;
        r.p++;
        for (int i = 0; i < 2; i++) {
            rd_ws(&r);
            if (*r.p != '-' && (*r.p < '0' || *r.p > '9'))
                return false;
            if (rd_number(&r, &isint, &v[i]) < 0 || !isint)
                return false;
            rd_ws(&r);
            if (*r.p != (i ? ']' : ','))
                return false;
            r.p++;
        }
        j->windows[k] = (struct job_window){ v[0], v[1] };
        j->nwindows = ++k;
        rd_ws(&r);
        if (*r.p == ']')
            return true;
        r.p++; /* , */
        rd_ws(&r);
    }
}

/* Copy JSON text (valid, checked) without the whitespace outside strings. */
static size_t squeeze(const char *p, size_t n, char *o)
{
    size_t k = 0;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in) {
            o[k++] = c;
            if (c == '\\')
                o[k++] = p[++i];
            else if (c == '"')
                in = false;
        } else if (c == '"') {
            in = true;
            o[k++] = c;
        } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            o[k++] = c;
    }
    o[k] = 0;
    return k;
}

/* The top-level object: every member checked, known ones recorded in pd. */
static int rd_payload(struct reader *r, struct parsed *pd)
{
    enum field next = 0;
    uint32_t seen = 0;
    int e;
    rd_ws(r);
    if (r->p >= r->end || (*r->p != '{' && *r->p != '['))
        return rd_fail(r, "'[' or '{' expected");
    if (*r->p == '[') {
        if ((e = rd_value(r, 1)) < 0)
            return e;
        rd_ws(r);
        if (r->p != r->end)
            return rd_fail(r, "end of input expected");
        return 1; /* valid JSON, not an object */
    }
    r->p++;
    rd_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        goto end;
    }
    for (;;) {
        struct jstr k;
        enum field f = _F_MAX;
        if (r->p >= r->end || *r->p != '"')
            return rd_fail(r, "string or '}' expected");
        const char *kat = r->p;
        if ((e = rd_string(r, &k)) < 0)
            return e;
        if (!k.esc) {
            f = field_of(k.p, k.n, next);
        } else {
            /* a known name decodes from at most 6 bytes per character */
            char small[96];
            if (k.n < sizeof(small)) {
                size_t n = decode_str(&k, small);
                f = field_of(small, n, _F_MAX);
            }
        }
        if (f < _F_MAX) {
            if (seen & (1u << f)) {
                r->p = kat;
                return rd_fail(r, "duplicate object key");
            }
            seen |= 1u << f;
            next = f + 1;
        } else if ((e = rd_key(r, 0, &k)) < 0)
            return e;
        rd_ws(r);
        if (r->p >= r->end || *r->p != ':')
            return rd_fail(r, "':' expected");
        r->p++;
        rd_ws(r);
        const char *v = r->p;
        r->ws = false;
        bool isint;
        int64_t num;
        if (f < _F_MAX && at_null(r)) {
            r->p += 4;
        } else if (f < _F_MAX && fields[f].type == T_STR && r->p < r->end && *r->p == '"') {
            if ((e = rd_string(r, &pd->str[f])) < 0)
                return e;
            pd->st[f] = S_OK;
        } else if (f < _F_MAX && fields[f].type == T_INT && r->p < r->end &&
                   (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))) {
            if ((e = rd_number(r, &isint, &num)) < 0)
                return e;
            pd->st[f] = isint && num >= fields[f].min && num <= fields[f].max ? S_OK : S_BAD;
            pd->num[f] = num;
        } else {
            if ((e = rd_value(r, 1)) < 0)
                return e;
            if (f < _F_MAX) {
                bool ok = (fields[f].type == T_WINDOWS && *v == '[') ||
                          (fields[f].type == T_INPUTS && *v == '{');
                pd->st[f] = ok ? S_OK : S_BAD;
                pd->val[f] = v;
                pd->vlen[f] = (size_t)(r->p - v);
                if (f == F_INPUTS)
                    pd->inputs_ws = r->ws;
            }
        }
        rd_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            rd_ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            if ((e = rd_keys_close(r, 0)) < 0)
                return e;
            break;
        }
        return rd_fail(r, "',' or '}' expected");
    }
end:
    rd_ws(r);
    if (r->p != r->end)
        return rd_fail(r, "end of input expected");
    return 0;
}

int job_parse(const char *buf, size_t len, unsigned flags, struct job *ret, char *err,
              size_t errlen)
{
    struct job j = { .tier = -1 };
    struct parsed pd = {};
    struct reader r = { .buf = buf, .p = buf, .end = buf + len };
    const char *bad = NULL;
    int e;

    if (len > JOB_PAYLOAD_MAX) {
        snprintf(err, errlen, "payload of %zu bytes is larger than %d", len, JOB_PAYLOAD_MAX);
        return -EINVAL;
    }
    r.keys = r.keys0;
    r.capkeys = ELEMENTSOF(r.keys0);
    e = rd_payload(&r, &pd);
    if (r.keys != r.keys0)
        free(r.keys);
    if (e == -ENOMEM) {
        snprintf(err, errlen, "out of memory");
        return e;
    }
    if (e < 0) {
        snprintf(err, errlen, "not JSON: %s at offset %zu", r.err, r.err_at);
        return -EINVAL;
    }
    if (e > 0) {
        snprintf(err, errlen, "not a JSON object");
        return -EINVAL;
    }
    for (int f = 0; f < _F_MAX && !bad; f++) {
        if (pd.st[f] == S_BAD || (pd.st[f] == S_ABSENT && fields[f].required))
            bad = fields[f].name;
        else if (f == F_WINDOWS && pd.st[f] == S_OK &&
                 !read_windows(&r, pd.val[f], pd.vlen[f], &j))
            bad = fields[f].name;
    }
    if (bad) {
        snprintf(err, errlen, "missing or invalid '%s'", bad);
        return -EINVAL;
    }

    /* invariant 5: one block for every string of the job */
    size_t need = pd.st[F_INPUTS] == S_OK ? pd.vlen[F_INPUTS] + 1 : 0;
    for (int f = 0; f < _F_MAX; f++)
        if (fields[f].type == T_STR && pd.st[f] == S_OK)
            need += pd.str[f].n + 1;
    char *m = malloc(need ? need : 1), *o = m;
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    j.mem = m;
    char **dst[_F_MAX] = {
        [F_IDEMPOTENCY_KEY] = &j.idempotency_key, [F_DEBTOR_ID] = &j.debtor_id,
        [F_CHANNEL] = &j.channel, [F_CHANNEL_KIND] = &j.channel_kind,
        [F_ADDRESS] = &j.address, [F_TEMPLATE] = &j.template_name,
        [F_TIME_ZONE] = &j.time_zone, [F_LOCALE] = &j.locale, [F_STRATEGY] = &j.strategy,
    };
    for (int f = 0; f < _F_MAX; f++)
        if (fields[f].type == T_STR && pd.st[f] == S_OK) {
            *dst[f] = o;
            o += decode_str(&pd.str[f], o) + 1;
        }
    j.attempt_id = pd.num[F_ATTEMPT_ID];
    if (pd.st[F_TIER] == S_OK)
        j.tier = (int)pd.num[F_TIER];
    if (pd.st[F_ATTEMPT] == S_OK)
        j.attempt = (int)pd.num[F_ATTEMPT];
    if (pd.st[F_NOT_BEFORE] == S_OK)
        j.not_before = pd.num[F_NOT_BEFORE];
    j.not_after = pd.num[F_NOT_AFTER];
    j.notice = pd.st[F_NOTICE] == S_OK && pd.num[F_NOTICE] == 1;
    if (pd.st[F_INPUTS] == S_OK) {
        j.inputs_json = o;
        if (pd.inputs_ws)
            j.inputs_json_len = squeeze(pd.val[F_INPUTS], pd.vlen[F_INPUTS], o);
        else {
            memcpy(o, pd.val[F_INPUTS], pd.vlen[F_INPUTS]);
            o[pd.vlen[F_INPUTS]] = 0;
            j.inputs_json_len = pd.vlen[F_INPUTS];
        }
        if (flags & JOB_PARSE_INPUTS_OBJECT) {
            json_error_t je;
            j.inputs = json_loadb(j.inputs_json, j.inputs_json_len, JSON_REJECT_DUPLICATES, &je);
            if (!j.inputs) {
                snprintf(err, errlen, "not JSON: %s in 'inputs'", je.text);
                job_release(&j);
                return -EINVAL;
            }
        }
    }
    if ((e = job_validate(&j, err, errlen)) < 0) {
        job_release(&j);
        return e;
    }
    *ret = j;
    return 0;
}

int job_from_json(const char *buf, size_t len, struct job *ret, char *err, size_t errlen)
{
    return job_parse(buf, len, JOB_PARSE_INPUTS_OBJECT, ret, err, errlen);
}

/* The object's members, each checked like rd_object() does; wanted strings recorded. */
static int rd_inputs(struct reader *r, const char *const *names, size_t n, struct jstr *vals,
                     bool *found)
{
    int e;
    rd_ws(r);
    if (r->p >= r->end || *r->p != '{')
        return rd_fail(r, "'{' expected");
    r->p++;
    rd_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        goto end;
    }
    for (;;) {
        struct jstr k;
        if (r->p >= r->end || *r->p != '"')
            return rd_fail(r, "string or '}' expected");
        if ((e = rd_string(r, &k)) < 0 || (e = rd_key(r, 0, &k)) < 0)
            return e;
        /* which wanted name this key is (a key with escapes is decoded first) */
        char small[64];
        const char *kp = k.p;
        size_t kn = k.n;
        if (k.esc) {
            if (k.n < sizeof(small)) {
                kn = decode_str(&k, small);
                kp = small;
            } else
                kn = 0, kp = NULL;
        }
        size_t want = n;
        for (size_t i = 0; kp && i < n; i++)
            if (strlen(names[i]) == kn && memcmp(names[i], kp, kn) == 0) {
                want = i;
                break;
            }
        rd_ws(r);
        if (r->p >= r->end || *r->p != ':')
            return rd_fail(r, "':' expected");
        r->p++;
        rd_ws(r);
        if (want < n && r->p < r->end && *r->p == '"') {
            if ((e = rd_string(r, &vals[want])) < 0)
                return e;
            found[want] = true;
        } else if ((e = rd_value(r, 1)) < 0)
            return e;
        rd_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            rd_ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            if ((e = rd_keys_close(r, 0)) < 0)
                return e;
            break;
        }
        return rd_fail(r, "',' or '}' expected");
    }
end:
    rd_ws(r);
    return r->p == r->end ? 0 : rd_fail(r, "end of input expected");
}

int job_inputs_strings(const char *inputs_json, size_t len, const char *const *names, size_t n,
                       const char **ret, char *buf)
{
    struct jstr vals[32];
    bool found[32] = { false };
    struct reader r = { .buf = inputs_json, .p = inputs_json, .end = inputs_json + len };
    if (n > ELEMENTSOF(vals))
        return -EINVAL;
    r.keys = r.keys0;
    r.capkeys = ELEMENTSOF(r.keys0);
    int e = rd_inputs(&r, names, n, vals, found);
    if (r.keys != r.keys0)
        free(r.keys);
    if (e < 0)
        return e == -ENOMEM ? e : -EINVAL;
    char *o = buf;
    for (size_t i = 0; i < n; i++) {
        ret[i] = NULL;
        if (found[i]) {
            ret[i] = o;
            o += decode_str(&vals[i], o) + 1;
        }
    }
    return 0;
}

enum job_timing job_check_time(const struct job *j, int64_t now, int64_t *ret_next)
{
    if (now >= j->not_after)
        return JOB_EXPIRED;
    if (j->nwindows == 0) {
        if (now >= j->not_before)
            return JOB_SEND_NOW;
        *ret_next = j->not_before;
        return JOB_WAIT;
    }
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < j->nwindows; i++) {
        const struct job_window *w = &j->windows[i];
        if (now >= w->start && now < w->end)
            return JOB_SEND_NOW;
        if (w->start > now && w->start < next)
            next = w->start;
    }
    if (next == INT64_MAX || next >= j->not_after)
        return JOB_EXPIRED;
    *ret_next = next;
    return JOB_WAIT;
}
