/*
 * api.c - the outcome API's keys, signatures and bodies (api.h).
 */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diag.h"
#include "ynode.h"

static const char *const api_keys[] = { "keys", "max_skew", "max_batch", "bearer_token_file",
                                        "bearer_token_env", NULL };
static const char *const key_keys[] = { "secret_file", "secret_env", NULL };

/*
 * A secret from exactly one of a file (relative to dir) or an environment
 * variable, `what` naming it in messages; min to max bytes into buf
 * (max + 1 bytes).  0, -EINVAL (reported into d), -ENOMEM.
 */
static int read_secret(const struct ynode *at, const struct ynode *f, const struct ynode *e,
                       const char *fkey, const char *ekey, const char *what, const char *dir,
                       size_t min, size_t max, unsigned char *buf, size_t *ret_len,
                       struct diags *d)
{
    const char *s;
    size_t len = 0;
    int r = 0;
    if (!f == !e) {
        diag_error(d, at->file, at->line, at->col, "%s needs exactly one of '%s' and '%s'",
                   what, fkey, ekey);
        return -EINVAL;
    }
    if (f) {
        if (ynode_str(f, fkey, &s, d) < 0)
            return -EINVAL;
        _cleanup_free_ char *path = s[0] == '/' || !dir ? strdup(s) : strdupf("%s/%s", dir, s);
        bool loose = false;
        r = path ? read_secret_file(path, buf, max, &len, &loose) : -ENOMEM;
        if (r == -ENOMEM)
            return r;
        if (r < 0)
            diag_error(d, f->file, f->line, f->col, "cannot read secret file '%s': %s", s,
                       r == -E2BIG ? "larger than 1024 bytes" : file_strerror(r == -EINVAL
                                                                                 ? -ESPIPE : r));
        else if (loose)
            diag_warning(d, f->file, f->line, f->col,
                         "secret file '%s' can be read by other users (chmod 600)", s);
    } else {
        if (ynode_str(e, ekey, &s, d) < 0)
            return -EINVAL;
        const char *v = getenv(s);
        if (isempty(v)) {
            diag_error(d, e->file, e->line, e->col, "environment variable '%s' is not set", s);
            r = -EINVAL;
        } else if ((len = strlen(v)) <= max)
            memcpy(buf, v, len);
    }
    const struct ynode *src = f ? f : e;
    if (r == 0 && (len < min || len > max)) {
        diag_error(d, src->file, src->line, src->col, "the secret of %s is %zu bytes; %zu to %zu "
                   "are needed", what, len, min, max);
        r = -EINVAL;
    }
    if (r < 0) {
        OPENSSL_cleanse(buf, max + 1);
        return -EINVAL;
    }
    *ret_len = len;
    return 0;
}

static int load_key(struct api_conf *c, const struct ynode *k, const struct ynode *n,
                    const char *dir, struct diags *d)
{
    if (c->nkeys == API_KEYS_MAX) {
        diag_error(d, k->file, k->line, k->col, "at most %d api keys", API_KEYS_MAX);
        return -EINVAL;
    }
    if (k->len == 0 || k->len >= sizeof(c->keys[0].id)) {
        diag_error(d, k->file, k->line, k->col, "api key id '%s': 1 to 32 characters", k->str);
        return -EINVAL;
    }
    if (ynode_expect(n, YNODE_MAP, k->str, d) < 0 ||
        ynode_check_keys(n, key_keys, "api key", d) > 0)
        return -EINVAL;
    unsigned char *buf = malloc(API_SECRET_MAX + 1);
    size_t len = 0;
    if (!buf)
        return -ENOMEM;
    _cleanup_free_ char *what = strdupf("api key '%s'", k->str);
    int r = what ? read_secret(n, ynode_get(n, "secret_file"), ynode_get(n, "secret_env"),
                               "secret_file", "secret_env", what, dir, API_SECRET_MIN,
                               API_SECRET_MAX, buf, &len, d)
                 : -ENOMEM;
    if (r < 0) {
        free(buf);
        return r;
    }
    snprintf(c->keys[c->nkeys].id, sizeof(c->keys[0].id), "%s", k->str);
    c->keys[c->nkeys].secret = buf;
    c->keys[c->nkeys].len = len;
    c->nkeys++;
    return 0;
}

/* The bearer token of the operations endpoints: kept as its SHA-256 only. */
static int load_bearer(struct api_conf *c, const struct ynode *n, const char *dir,
                       struct diags *d)
{
    unsigned char buf[API_SECRET_MAX + 1];
    size_t len = 0;
    int r = read_secret(n, ynode_get(n, "bearer_token_file"), ynode_get(n, "bearer_token_env"),
                        "bearer_token_file", "bearer_token_env", "the api bearer token", dir,
                        API_BEARER_MIN, API_SECRET_MAX, buf, &len, d);
    if (r < 0)
        return r;
    for (size_t i = 0; i < len; i++)
        if (buf[i] <= ' ' || buf[i] >= 0x7f) {
            const struct ynode *at = ynode_get(n, "bearer_token_file");
            at = at ? at : ynode_get(n, "bearer_token_env");
            diag_error(d, at->file, at->line, at->col,
                       "the api bearer token must be printable ASCII without spaces");
            OPENSSL_cleanse(buf, sizeof(buf));
            return -EINVAL;
        }
    unsigned int hl = 0;
    r = EVP_Digest(buf, len, c->bearer, &hl, EVP_sha256(), NULL) && hl == 32 ? 0 : -ENOMEM;
    OPENSSL_cleanse(buf, sizeof(buf));
    c->has_bearer = r == 0;
    return r;
}

bool api_bearer_ok(const struct api_conf *c, const char *authorization)
{
    if (!c || !c->has_bearer || !authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *t = authorization + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    unsigned char got[32];
    unsigned int hl = 0;
    /* digests of equal length: the comparison tells nothing about the token's length */
    if (!EVP_Digest(t, n, got, &hl, EVP_sha256(), NULL) || hl != 32)
        return false;
    return CRYPTO_memcmp(got, c->bearer, 32) == 0;
}

int api_conf_load(const struct ynode *n, const char *dir, struct api_conf **ret,
                  struct diags *d)
{
    if (ynode_expect(n, YNODE_MAP, "api", d) < 0)
        return -EINVAL;
    struct api_conf *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->max_skew = 300;
    c->max_batch = 1000;
    bool bad = ynode_check_keys(n, api_keys, "api", d) > 0;
    const struct ynode *v;
    int64_t x;
    if ((v = ynode_get(n, "max_skew"))) {
        if (ynode_int(v, "max_skew", 1, 86400, &x, d) < 0)
            bad = true;
        else
            c->max_skew = x;
    }
    if ((v = ynode_get(n, "max_batch"))) {
        if (ynode_int(v, "max_batch", 1, 100000, &x, d) < 0)
            bad = true;
        else
            c->max_batch = (size_t)x;
    }
    if (ynode_get(n, "bearer_token_file") || ynode_get(n, "bearer_token_env")) {
        int r = load_bearer(c, n, dir, d);
        if (r == -ENOMEM) {
            api_conf_free(c);
            return r;
        }
        bad |= r < 0;
    }
    const struct ynode *keys = ynode_get(n, "keys");
    if (!keys) {
        if (!ynode_get(n, "bearer_token_file") && !ynode_get(n, "bearer_token_env")) {
            diag_error(d, n->file, n->line, n->col,
                       "api: 'keys' is required (at least one key) unless the section only "
                       "sets a bearer token");
            bad = true;
        }
    } else if (ynode_expect(keys, YNODE_MAP, "api.keys", d) < 0)
        bad = true;
    else {
        for (size_t i = 0; i < keys->n; i++) {
            int r = load_key(c, keys->keys[i], keys->items[i], dir, d);
            if (r == -ENOMEM) {
                api_conf_free(c);
                return r;
            }
            bad |= r < 0;
        }
        if (keys->n == 0) {
            diag_error(d, keys->file, keys->line, keys->col, "api.keys: at least one key");
            bad = true;
        }
    }
    if (bad) {
        api_conf_free(c);
        return -EINVAL;
    }
    *ret = c;
    return 0;
}

void api_conf_free(struct api_conf *c)
{
    if (!c)
        return;
    OPENSSL_cleanse(c->bearer, sizeof(c->bearer));
    for (size_t i = 0; i < c->nkeys; i++) {
        OPENSSL_cleanse(c->keys[i].secret, c->keys[i].len);
        free(c->keys[i].secret);
    }
    free(c);
}

static int mac(const struct api_conf *c, size_t k, const char *t, size_t tlen, const void *body,
               size_t len, unsigned char out[32])
{
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *h = m ? EVP_MAC_CTX_new(m) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                            OSSL_PARAM_construct_end() };
    size_t n = 0;
    int ok = h && EVP_MAC_init(h, c->keys[k].secret, c->keys[k].len, params) &&
             EVP_MAC_update(h, (const unsigned char *)t, tlen) &&
             EVP_MAC_update(h, (const unsigned char *)".", 1) &&
             EVP_MAC_update(h, body, len) && EVP_MAC_final(h, out, &n, 32) && n == 32;
    EVP_MAC_CTX_free(h);
    EVP_MAC_free(m);
    return ok ? 0 : -EIO;
}

static int unhex(const char *s, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n / 2; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = s[2 * i + k];
            int d = ch >= '0' && ch <= '9'   ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
            if (d < 0)
                return -EINVAL;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

int api_verify(const struct api_conf *c, const char *header, const void *body, size_t len,
               int64_t now, const char **why)
{
    *why = "no signature (header " API_SIGNATURE_HEADER ": t=<unix time>,v1=<hex>)";
    if (!c || isempty(header))
        return -EACCES;
    const char *t = NULL;
    size_t tlen = 0;
    const char *sig[8];
    size_t nsig = 0;
    for (const char *p = header; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p + strcspn(p, ",");
        if (end - p > 2 && p[0] == 't' && p[1] == '=') {
            t = p + 2;
            tlen = (size_t)(end - t);
        } else if (end - p == 3 + 64 && strncmp(p, "v1=", 3) == 0 && nsig < ELEMENTSOF(sig))
            sig[nsig++] = p + 3;
        p = end;
    }
    if (!t || nsig == 0)
        return -EACCES;
    int64_t ts = 0;
    for (size_t i = 0; i < tlen; i++) {
        if (t[i] < '0' || t[i] > '9' || i >= 12) {
            *why = "the signature's timestamp is not a number of seconds";
            return -EACCES;
        }
        ts = ts * 10 + (t[i] - '0');
    }
    if (ts < now - c->max_skew || ts > now + c->max_skew) {
        *why = "the signature's timestamp is too far from now (clock skew or a replay)";
        return -EACCES;
    }
    bool match = false;
    for (size_t k = 0; k < c->nkeys; k++) {
        unsigned char want[32], got[32];
        if (mac(c, k, t, tlen, body, len, want) < 0)
            return -EIO;
        for (size_t i = 0; i < nsig; i++)
            if (unhex(sig[i], 64, got) == 0 && CRYPTO_memcmp(want, got, 32) == 0)
                match = true;
        OPENSSL_cleanse(want, sizeof(want));
    }
    if (!match) {
        *why = "no signature matches";
        return -EACCES;
    }
    *why = NULL;
    return 0;
}

int api_sign(const struct api_conf *c, size_t k, const void *body, size_t len, int64_t now,
             struct sbuf *ret)
{
    char t[24];
    int tn = snprintf(t, sizeof(t), "%lld", (long long)now);
    unsigned char m[32];
    if (k >= c->nkeys || mac(c, k, t, (size_t)tn, body, len, m) < 0)
        return -EINVAL;
    int r = sbuf_addf(ret, "t=%s,v1=", t);
    for (size_t i = 0; i < 32 && r >= 0; i++)
        r = sbuf_addf(ret, "%02x", m[i]);
    return r;
}

_printf_(2, 3) static void add_err(struct sbuf *e, const char *fmt, ...)
{
    if (e->len)
        sbuf_adds(e, "; ");
    va_list ap;
    va_start(ap, fmt);
    sbuf_vaddf(e, fmt, ap);
    va_end(ap);
}

/* One record's fields from its object; problems into e. */
static void parse_record(json_t *o, size_t idx, struct api_record *rec, struct sbuf *e)
{
    size_t before = e->len;
    if (!json_is_object(o)) {
        add_err(e, "outcomes[%zu]: expected an object", idx);
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (streq(key, "event_id")) {
            if (!json_is_string(v) || json_string_length(v) == 0 ||
                json_string_length(v) > API_EVENT_ID_MAX)
                add_err(e, "outcomes[%zu].event_id: expected a string of 1 to %d bytes", idx,
                        API_EVENT_ID_MAX);
            else
                rec->event_id = json_string_value(v);
            continue;
        }
        int f = ingest_field_find(key, strlen(key));
        if (f < 0 || !streq(key, ingest_field_names[f])) {
            const char *cands[_INGEST_MAX + 1];
            for (int i = 0; i < _INGEST_MAX; i++)
                cands[i] = ingest_field_names[i];
            cands[_INGEST_MAX] = "event_id";
            const char *near = closest_word(key, cands, _INGEST_MAX + 1);
            if (near)
                add_err(e, "outcomes[%zu]: unknown field '%s' (did you mean '%s'?)", idx, key,
                        near);
            else
                add_err(e, "outcomes[%zu]: unknown field '%s'", idx, key);
            continue;
        }
        if (json_is_null(v))
            continue;
        if (json_is_integer(v) || json_is_real(v)) {
            /* numbers keep their JSON text: re-encode into the object as a string */
            char buf[64];
            if (json_is_integer(v))
                snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
            else
                snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
            json_t *s = json_string(buf);
            if (!s || json_object_set_new(o, key, s) < 0) {
                add_err(e, "out of memory");
                return;
            }
            v = json_object_get(o, key);
        }
        if (!json_is_string(v)) {
            add_err(e, "outcomes[%zu].%s: expected a string or a number", idx, key);
            continue;
        }
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            add_err(e, "outcomes[%zu].%s: NUL byte", idx, key);
            continue;
        }
        rec->row.f[f] = json_string_value(v);
        rec->row.flen[f] = json_string_length(v);
    }
    if (e->len == before && !rec->event_id)
        add_err(e, "outcomes[%zu].event_id: missing (the idempotency key of the outcome)", idx);
}

int api_parse_outcomes(const struct api_conf *c, const char *body, size_t len,
                       struct api_batch *ret, struct sbuf *e)
{
    json_error_t je;
    memset(ret, 0, sizeof(*ret));
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        add_err(e, "invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
        return -EBADMSG;
    }
    json_t *list = root;
    if (json_is_object(root) && json_object_get(root, "outcomes"))
        list = json_object_get(root, "outcomes");
    size_t n = json_is_array(list) ? json_array_size(list) : 1;
    if (json_is_object(list) && list != root) {
        add_err(e, "outcomes: expected an array");
        json_decref(root);
        return -EINVAL;
    }
    if (n == 0 || n > (c ? c->max_batch : 1000)) {
        add_err(e, "outcomes: %zu outcomes; 1 to %zu per request", n, c ? c->max_batch : 1000);
        json_decref(root);
        return -EINVAL;
    }
    ret->v = calloc(n, sizeof(*ret->v));
    if (!ret->v) {
        json_decref(root);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        parse_record(json_is_array(list) ? json_array_get(list, i) : list, i, &ret->v[i], e);
    ret->n = n;
    ret->json = root;
    if (e->len) {
        api_batch_release(ret);
        return -EINVAL;
    }
    return 0;
}

void api_batch_release(struct api_batch *b)
{
    free(b->v);
    json_decref(b->json);
    memset(b, 0, sizeof(*b));
}
