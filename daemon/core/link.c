/*
 * link.c - make and verify signed self-service links (see link.h and
 * docs/links.md for the token format).
 *
 * Owns: the link_conf (base URL, keys by id with their secrets, TTLs).
 * Reads secret files and the environment in link_conf_load() only; never
 * reads the clock, never logs, never prints a secret (diagnostics name the
 * key id and the file or variable, not the bytes).
 *
 * Token v1:
 *
 *     "v1" "." kid "." b64url(payload) "." b64url(HMAC-SHA256(key[kid], "v1.kid.payload"))
 *
 *     payload = action (1 byte, enum link_action)
 *               attempt id (unsigned LEB128, canonical, 1..INT64_MAX)
 *               expiry (unsigned LEB128, canonical, Unix seconds, 1..INT64_MAX)
 *               debtor id (the remaining 0..64 bytes, no control characters)
 *
 * Invariants:
 *  1. link_verify() rejects by length and shape before it decodes, and
 *     looks at the payload only after the signature matched: nothing an
 *     unauthenticated caller sends reaches the payload reader.
 *  2. Signatures are compared with CRYPTO_memcmp() over the full 32 bytes,
 *     after the decoded length was checked to be exactly 32.
 *  3. Every token link_make() writes, link_verify() accepts with the same
 *     key set until its expiry, and only the exact bytes it wrote: base64url
 *     is decoded strictly (no padding, canonical last character), varints
 *     must be minimal, so no two strings carry the same claims.
 *  4. A key is never removed or replaced while the set lives; rotation is
 *     a new key id made current, the old id kept until its links expire.
 *  5. Each key's HMAC state (the SHA-256 states after the key's inner and
 *     outer pad blocks, RFC 2104) is prepared once, when the key is added,
 *     and only ever read afterwards: a signature costs the message's blocks
 *     and the outer block, not a fetch of the algorithms and two pad
 *     blocks, and threads may sign with one key set at once.
 */
#include "link.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIG_LEN 32
#define SIG_B64_LEN 43 /* ceil(32 * 4 / 3) without padding */
#define PAYLOAD_MAX (1 + 10 + 10 + LINK_DEBTOR_MAX)
#define PAYLOAD_B64_MAX ((PAYLOAD_MAX * 4 + 2) / 3)

static const char *const action_names[_LINK_ACTION_MAX] = {
    [LINK_PAY] = "pay",
    [LINK_PLAN] = "plan",
    [LINK_PROMISE] = "promise",
    [LINK_OPT_OUT] = "opt_out",
    [LINK_PREFERENCES] = "preferences",
    [LINK_UNSUBSCRIBE] = "unsubscribe",
};

/* Default lifetimes: payment links a month, opt-outs a year (docs/links.md). */
static const int64_t default_ttl[_LINK_ACTION_MAX] = {
    [LINK_PAY] = 30 * 86400,
    [LINK_PLAN] = 30 * 86400,
    [LINK_PROMISE] = 14 * 86400,
    [LINK_OPT_OUT] = 365 * 86400,
    [LINK_PREFERENCES] = 90 * 86400,
    [LINK_UNSUBSCRIBE] = 365 * 86400,
};

const char *link_action_to_string(enum link_action a)
{
    return (unsigned)a < _LINK_ACTION_MAX ? action_names[a] : NULL;
}

enum link_action link_action_from_string(const char *s)
{
    for (int i = 0; s && i < _LINK_ACTION_MAX; i++)
        if (streq(s, action_names[i]))
            return (enum link_action)i;
    return _LINK_ACTION_INVALID;
}

/* ---- base64url ------------------------------------------------------ */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t link_b64_encode(const void *src, size_t n, char *dst)
{
    const unsigned char *s = src;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        dst[o++] = b64_alphabet[v >> 18];
        dst[o++] = b64_alphabet[(v >> 12) & 63];
        dst[o++] = b64_alphabet[(v >> 6) & 63];
        dst[o++] = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        dst[o++] = b64_alphabet[v >> 18];
        dst[o++] = b64_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        dst[o++] = b64_alphabet[v >> 18];
        dst[o++] = b64_alphabet[(v >> 12) & 63];
        dst[o++] = b64_alphabet[(v >> 6) & 63];
    }
    dst[o] = 0;
    return o;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int link_b64_decode(const char *src, size_t n, void *dst, size_t dstlen, size_t *ret_len)
{
    unsigned char *d = dst;
    size_t out = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (n % 4 == 1 || out > dstlen)
        return -EBADMSG;
    uint32_t acc = 0;
    size_t o = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(src[i]);
        if (v < 0)
            return -EBADMSG;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* invariant 3: the bits left over must be zero (one encoding per value) */
    if (acc != 0)
        return -EBADMSG;
    *ret_len = o;
    return 0;
}

/* ---- HMAC ----------------------------------------------------------- */

#define HMAC_BLOCK 64 /* SHA-256's block size */

/* A key's prepared HMAC-SHA256 state (invariant 5). */
struct hmac_key {
    EVP_MD_CTX *inner, *outer; /* after hashing key ^ ipad, key ^ opad */
};

static void hmac_key_free(struct hmac_key *hk)
{
    if (!hk)
        return;
    EVP_MD_CTX_free(hk->inner);
    EVP_MD_CTX_free(hk->outer);
    free(hk);
}

/* Prepare the HMAC state for key[0..keylen).  NULL on failure (OOM or libcrypto). */
static struct hmac_key *hmac_key_new(const void *key, size_t keylen)
{
    unsigned char k[HMAC_BLOCK] = { 0 }, pad[HMAC_BLOCK];
    unsigned int klen = 0;
    /* digest contexts are initialised (the algorithm looked up) here only;
     * hmac_run() copies them */
    const EVP_MD *sha256_md = EVP_sha256();
    struct hmac_key *hk = calloc(1, sizeof(*hk));
    if (!hk)
        return NULL;
    bool ok = true;
    /* a key longer than a block is hashed first (RFC 2104, section 2) */
    if (keylen > HMAC_BLOCK)
        ok = EVP_Digest(key, keylen, k, &klen, sha256_md, NULL) == 1;
    else
        memcpy(k, key, keylen);
    hk->inner = EVP_MD_CTX_new();
    hk->outer = EVP_MD_CTX_new();
    ok = ok && hk->inner && hk->outer;
    for (int i = 0; ok && i < HMAC_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex(hk->inner, sha256_md, NULL) == 1 &&
         EVP_DigestUpdate(hk->inner, pad, HMAC_BLOCK) == 1;
    for (int i = 0; ok && i < HMAC_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(hk->outer, sha256_md, NULL) == 1 &&
         EVP_DigestUpdate(hk->outer, pad, HMAC_BLOCK) == 1;
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    if (!ok) {
        hmac_key_free(hk);
        return NULL;
    }
    return hk;
}

/* HMAC of msg[0..n) with a prepared key; reads hk only.  0 or -EIO / -ENOMEM. */
static int hmac_run(const struct hmac_key *hk, const void *msg, size_t n, unsigned char out[32])
{
    unsigned char ih[SIG_LEN];
    unsigned int len = 0, olen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return -ENOMEM;
    bool ok = EVP_MD_CTX_copy_ex(c, hk->inner) == 1 && EVP_DigestUpdate(c, msg, n) == 1 &&
              EVP_DigestFinal_ex(c, ih, &len) == 1 && len == SIG_LEN &&
              EVP_MD_CTX_copy_ex(c, hk->outer) == 1 && EVP_DigestUpdate(c, ih, SIG_LEN) == 1 &&
              EVP_DigestFinal_ex(c, out, &olen) == 1 && olen == SIG_LEN;
    EVP_MD_CTX_free(c);
    OPENSSL_cleanse(ih, sizeof(ih));
    return ok ? 0 : -EIO;
}

int link_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
                     unsigned char out[32])
{
    if (keylen > INT32_MAX)
        return -EINVAL;
    struct hmac_key *hk = hmac_key_new(key, keylen);
    if (!hk)
        return -EIO;
    int r = hmac_run(hk, msg, n, out);
    hmac_key_free(hk);
    return r;
}

/* ---- the key set ---------------------------------------------------- */

static bool key_id_valid(const char *s, size_t n)
{
    if (n == 0 || n > LINK_KEY_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

struct link_conf *link_conf_new(void)
{
    struct link_conf *c = calloc(1, sizeof(*c));
    if (c)
        memcpy(c->ttl, default_ttl, sizeof(c->ttl));
    return c;
}

void link_conf_free(struct link_conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nkeys; i++) {
        free(c->keys[i].id);
        hmac_key_free(c->keys[i].hmac);
        if (c->keys[i].secret) {
            OPENSSL_cleanse(c->keys[i].secret, c->keys[i].secret_len);
            free(c->keys[i].secret);
        }
    }
    free(c->keys);
    free(c->base_url);
    free(c->current_key);
    free(c);
}

const struct link_key *link_conf_key(const struct link_conf *c, const char *id)
{
    for (size_t i = 0; c && id && i < c->nkeys; i++)
        if (streq(c->keys[i].id, id))
            return &c->keys[i];
    return NULL;
}

int link_conf_add_key(struct link_conf *c, const char *id, const void *secret, size_t len)
{
    if (!key_id_valid(id, strlen(id)) || len < LINK_SECRET_MIN || len > LINK_SECRET_MAX)
        return -EINVAL;
    if (link_conf_key(c, id))
        return -EEXIST;
    struct link_key *nv = reallocarray(c->keys, c->nkeys + 1, sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    c->keys = nv;
    struct link_key k = { .id = strdup(id), .secret = malloc(len), .secret_len = len,
                          .hmac = hmac_key_new(secret, len) };
    if (!k.id || !k.secret || !k.hmac ||
        (!c->current_key && !(c->current_key = strdup(id)))) {
        free(k.id);
        free(k.secret);
        hmac_key_free(k.hmac);
        return -ENOMEM;
    }
    memcpy(k.secret, secret, len);
    c->keys[c->nkeys++] = k;
    return 0;
}

/* https://host[:port][/path], no query, fragment, spaces or userinfo. */
static bool base_url_valid(const char *u)
{
    size_t n = strlen(u);
    const char *h;
    if (n > LINK_BASE_URL_MAX)
        return false;
    if (strncmp(u, "https://", 8) == 0)
        h = u + 8;
    else if (strncmp(u, "http://localhost", 16) == 0 || strncmp(u, "http://127.0.0.1", 16) == 0)
        h = u + 7; /* plain http only on loopback, for tests */
    else
        return false;
    if (!*h || *h == '/' || *h == ':')
        return false;
    for (const char *p = h; *p; p++)
        if ((unsigned char)*p <= ' ' || *p >= 127 || strchr("?#@\\\"<>{}|^`", *p))
            return false;
    return true;
}

int link_conf_set_base_url(struct link_conf *c, const char *url)
{
    if (!base_url_valid(url))
        return -EINVAL;
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    char *s = strndup(url, n);
    if (!s)
        return -ENOMEM;
    free(c->base_url);
    c->base_url = s;
    return 0;
}

int link_parse_duration(const char *s, int64_t *ret)
{
    size_t n = s ? strlen(s) : 0;
    int64_t mult = 1, v;
    if (n == 0)
        return -EINVAL;
    switch (s[n - 1]) {
    case 's':
        n--;
        break;
    case 'm':
        mult = 60, n--;
        break;
    case 'h':
        mult = 3600, n--;
        break;
    case 'd':
        mult = 86400, n--;
        break;
    default:
        break;
    }
    if (n == 0 || strspn(s, "0123456789") != n || parse_int64(s, n, &v) < 0)
        return -EINVAL;
    if (v > LINK_TTL_MAX / mult)
        return -ERANGE;
    *ret = v * mult;
    return 0;
}

/* ---- loading the links: section ------------------------------------- */

static const char *const links_keys[] = { "base_url", "keys", "current_key", "ttl", NULL };
static const char *const key_keys[] = { "secret_file", "secret_env", "secret", NULL };

static void load_key(const struct ynode *key, const struct ynode *n, const char *dir,
                     struct link_conf *c, struct diags *d, bool *oom)
{
    const char *id = key->str, *s;
    unsigned char *buf = NULL;
    size_t len = 0;
    char where[64];
    const struct ynode *f, *e, *inl;

    snprintf(where, sizeof(where), "link key '%.20s'", id);
    if (!key_id_valid(id, strlen(id))) {
        diag_error(d, key->file, key->line, key->col,
                   "invalid link key id '%s' (1 to %d letters, digits, '-' or '_')", id,
                   LINK_KEY_ID_MAX);
        return;
    }
    if (ynode_expect(n, YNODE_MAP, id, d) < 0)
        return;
    ynode_check_keys(n, key_keys, where, d);
    f = ynode_get(n, "secret_file");
    e = ynode_get(n, "secret_env");
    inl = ynode_get(n, "secret");
    if (inl) {
        diag_error(d, inl->file, inl->line, inl->col,
                   "inline secret for %s: configuration files get copied and committed; "
                   "use 'secret_file' or 'secret_env'", where);
        return;
    }
    if (!f == !e) {
        diag_error(d, n->file, n->line, n->col, "%s needs exactly one of 'secret_file' and "
                   "'secret_env'", where);
        return;
    }
    if (!(buf = malloc(LINK_SECRET_MAX + 1))) {
        *oom = true;
        return;
    }
    if (f && ynode_str(f, "secret_file", &s, d) == 0) {
        _cleanup_free_ char *path = s[0] == '/' || !dir ? strdup(s) : strdupf("%s/%s", dir, s);
        bool loose = false;
        int r = path ? read_secret_file(path, buf, LINK_SECRET_MAX, &len, &loose) : -ENOMEM;
        if (r == -ENOMEM)
            *oom = true;
        else if (r == -E2BIG)
            diag_error(d, f->file, f->line, f->col,
                       "secret file '%s' of %s is larger than %d bytes", s, where,
                       LINK_SECRET_MAX);
        else if (r < 0)
            diag_error(d, f->file, f->line, f->col, "cannot read secret file '%s' of %s: %s",
                       s, where, strerror(-r));
        else {
            if (loose)
                diag_warning(d, f->file, f->line, f->col,
                             "secret file '%s' of %s can be read by other users (chmod 600)",
                             s, where);
            if (len < LINK_SECRET_MIN) {
                diag_error(d, f->file, f->line, f->col,
                           "secret of %s is %zu bytes, at least %d are needed", where, len,
                           LINK_SECRET_MIN);
                len = 0;
            }
        }
        if (r < 0)
            len = 0;
    } else if (e && ynode_str(e, "secret_env", &s, d) == 0) {
        const char *v = getenv(s);
        if (isempty(v)) {
            diag_error(d, e->file, e->line, e->col,
                       "environment variable '%s' for %s is not set", s, where);
        } else if (strlen(v) < LINK_SECRET_MIN || strlen(v) > LINK_SECRET_MAX) {
            diag_error(d, e->file, e->line, e->col,
                       "secret of %s in '%s' is %zu bytes, expected %d to %d", where, s,
                       strlen(v), LINK_SECRET_MIN, LINK_SECRET_MAX);
        } else {
            len = strlen(v);
            memcpy(buf, v, len);
        }
    }
    if (len) {
        int r = link_conf_add_key(c, id, buf, len);
        if (r == -ENOMEM)
            *oom = true;
        else if (r == 0)
            c->keys[c->nkeys - 1].line = key->line, c->keys[c->nkeys - 1].col = key->col;
    }
    OPENSSL_cleanse(buf, LINK_SECRET_MAX + 1);
    free(buf);
}

int link_conf_load(const struct ynode *n, const char *dir, struct link_conf **ret,
                   struct diags *d)
{
    size_t errors0 = d->nerrors;
    struct link_conf *c = link_conf_new();
    const struct ynode *v, *cur;
    const char *s;
    bool oom = false;

    if (!c)
        return -ENOMEM;
    if (ynode_expect(n, YNODE_MAP, "links", d) < 0)
        goto out;
    ynode_check_keys(n, links_keys, "'links'", d);

    if ((v = ynode_get(n, "base_url"))) {
        if (ynode_str(v, "base_url", &s, d) == 0) {
            int r = link_conf_set_base_url(c, s);
            if (r == -ENOMEM)
                oom = true;
            else if (r < 0)
                diag_error(d, v->file, v->line, v->col,
                           "invalid base_url '%s' (expected https://host[:port][/path], no "
                           "query)", s);
        }
    } else {
        diag_error(d, n->file, n->line, n->col, "'links' has no 'base_url'");
    }

    v = ynode_get(n, "keys");
    if (!v) {
        diag_error(d, n->file, n->line, n->col, "'links' has no 'keys'");
    } else if (ynode_expect(v, YNODE_MAP, "keys", d) == 0) {
        if (v->n == 0)
            diag_error(d, v->file, v->line, v->col, "'keys' is empty");
        for (size_t i = 0; i < v->n && !oom; i++)
            load_key(v->keys[i], v->items[i], dir, c, d, &oom);
    }

    /* link_conf_add_key() made the first key current: only an explicit choice counts. */
    free(c->current_key);
    c->current_key = NULL;
    if ((cur = ynode_get(n, "current_key"))) {
        if (ynode_str(cur, "current_key", &s, d) == 0) {
            bool configured = false;
            for (size_t i = 0; v && v->type == YNODE_MAP && i < v->n; i++)
                configured |= streq(v->keys[i]->str, s);
            if (!configured)
                diag_error(d, cur->file, cur->line, cur->col,
                           "current_key '%s' is not one of the 'keys'", s);
            else if (!(c->current_key = strdup(s)))
                oom = true;
        }
    } else if (v && v->type == YNODE_MAP && v->n > 1) {
        diag_error(d, n->file, n->line, n->col,
                   "'links' has %zu keys but no 'current_key' to sign new links with", v->n);
    } else if (c->nkeys == 1 && !(c->current_key = strdup(c->keys[0].id))) {
        oom = true;
    }

    if ((v = ynode_get(n, "ttl")) && ynode_expect(v, YNODE_MAP, "ttl", d) == 0) {
        for (size_t i = 0; i < v->n; i++) {
            const struct ynode *k = v->keys[i], *val = v->items[i];
            enum link_action a = link_action_from_string(k->str);
            int64_t secs;
            if (a < 0) {
                const char *near = closest_word(k->str, action_names, _LINK_ACTION_MAX);
                if (near)
                    diag_error(d, k->file, k->line, k->col,
                               "unknown link action '%s' in 'ttl'; did you mean '%s'?", k->str,
                               near);
                else
                    diag_error(d, k->file, k->line, k->col,
                               "unknown link action '%s' in 'ttl' (pay, plan, promise, "
                               "opt_out, preferences or unsubscribe)", k->str);
                continue;
            }
            if (ynode_str(val, k->str, &s, d) < 0)
                continue;
            int r = link_parse_duration(s, &secs);
            if (r == 0 && secs < 60)
                r = -ERANGE;
            if (r < 0)
                diag_error(d, val->file, val->line, val->col,
                           "invalid ttl '%s' for '%s' (a duration from 60s to 1830d, like "
                           "'30d' or '12h')", s, k->str);
            else
                c->ttl[a] = secs;
        }
    }
out:
    if (oom) {
        link_conf_free(c);
        return -ENOMEM;
    }
    if (d->nerrors > errors0) {
        link_conf_free(c);
        return -EINVAL;
    }
    *ret = c;
    return 0;
}

/* ---- tokens --------------------------------------------------------- */

static size_t put_uvarint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

/* A minimal LEB128 value <= INT64_MAX at p[*pos..n); -EBADMSG otherwise. */
static int get_uvarint(const unsigned char *p, size_t n, size_t *pos, int64_t *ret)
{
    uint64_t v = 0;
    for (unsigned shift = 0, i = 0; i < 10; i++, shift += 7) {
        if (*pos >= n)
            return -EBADMSG;
        unsigned char b = p[(*pos)++];
        if (shift == 63 && b > 0)
            return -EBADMSG; /* would pass INT64_MAX */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return -EBADMSG; /* not minimal */
            *ret = (int64_t)v;
            return 0;
        }
    }
    return -EBADMSG;
}

static bool debtor_id_valid(const unsigned char *s, size_t n)
{
    if (n > LINK_DEBTOR_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return utf8_valid((const char *)s, n);
}

int link_make(const struct link_conf *c, const char *key_id, int64_t attempt_id,
              const char *debtor_id, enum link_action action, int64_t expires, char *buf,
              size_t len)
{
    unsigned char payload[PAYLOAD_MAX], sig[SIG_LEN];
    char tok[LINK_TOKEN_MAX];
    size_t dn = debtor_id ? strlen(debtor_id) : 0, pn = 0, tn;

    if (!c || attempt_id <= 0 || expires <= 0 || (unsigned)action >= _LINK_ACTION_MAX ||
        !debtor_id_valid((const unsigned char *)(debtor_id ? debtor_id : ""), dn))
        return -EINVAL;
    const struct link_key *k = link_conf_key(c, key_id ? key_id : c->current_key);
    if (!k)
        return -ENOKEY;
    payload[pn++] = (unsigned char)action;
    pn += put_uvarint(payload + pn, (uint64_t)attempt_id);
    pn += put_uvarint(payload + pn, (uint64_t)expires);
    if (dn)
        memcpy(payload + pn, debtor_id, dn);
    pn += dn;

    tn = (size_t)snprintf(tok, sizeof(tok), "v1.%s.", k->id);
    tn += link_b64_encode(payload, pn, tok + tn);
    int r = hmac_run(k->hmac, tok, tn, sig);
    if (r < 0)
        return r;
    tok[tn++] = '.';
    tn += link_b64_encode(sig, SIG_LEN, tok + tn);
    if (tn + 1 > len)
        return -ENOBUFS;
    memcpy(buf, tok, tn + 1);
    return 0;
}

int link_url(const struct link_conf *c, int64_t attempt_id, const char *debtor_id,
             enum link_action action, int64_t now, struct sbuf *out)
{
    char tok[LINK_TOKEN_MAX];
    if (!c || !c->base_url)
        return -ENOENT;
    if ((unsigned)action >= _LINK_ACTION_MAX)
        return -EINVAL;
    int r = link_make(c, NULL, attempt_id, debtor_id, action, now + c->ttl[action], tok,
                      sizeof(tok));
    if (r < 0)
        return r;
    if ((r = sbuf_adds(out, c->base_url)) < 0 || (r = sbuf_add(out, "/s/", 3)) < 0 ||
        (r = sbuf_adds(out, tok)) < 0)
        return r;
    return 0;
}

int link_verify(const struct link_conf *c, const char *token, size_t len, int64_t now,
                struct link_claims *ret_claims)
{
    unsigned char payload[PAYLOAD_MAX], sig[SIG_LEN], want[SIG_LEN];
    size_t pn, sn;
    struct link_claims cl = { 0 };

    /* invariant 1: the cheap checks first: total length, then the four parts */
    if (!token || len < 8 || len >= LINK_TOKEN_MAX)
        return -EBADMSG;
    const char *end = token + len;
    const char *d1 = memchr(token, '.', len);
    if (!d1)
        return -EBADMSG;
    if (!(d1 - token == 2 && token[0] == 'v' && token[1] == '1')) {
        /* v2.<...>: a version we do not speak; anything else is junk */
        bool vn = d1 - token >= 2 && d1 - token <= 6 && token[0] == 'v' &&
                  strspn(token + 1, "0123456789") == (size_t)(d1 - token - 1);
        return vn ? -EPROTONOSUPPORT : -EBADMSG;
    }
    const char *kid = d1 + 1, *d2 = memchr(kid, '.', (size_t)(end - kid));
    if (!d2 || !key_id_valid(kid, (size_t)(d2 - kid)))
        return -EBADMSG;
    const char *pl = d2 + 1, *d3 = memchr(pl, '.', (size_t)(end - pl));
    if (!d3 || d3 == pl || (size_t)(d3 - pl) > PAYLOAD_B64_MAX)
        return -EBADMSG;
    const char *sg = d3 + 1;
    if ((size_t)(end - sg) != SIG_B64_LEN)
        return -EBADMSG;
    if (link_b64_decode(sg, SIG_B64_LEN, sig, sizeof(sig), &sn) < 0 || sn != SIG_LEN)
        return -EBADMSG;
    if (link_b64_decode(pl, (size_t)(d3 - pl), payload, sizeof(payload), &pn) < 0)
        return -EBADMSG;

    memcpy(cl.key_id, kid, (size_t)(d2 - kid));
    cl.key_id[d2 - kid] = 0;
    const struct link_key *k = link_conf_key(c, cl.key_id);
    if (!k)
        return -ENOKEY;
    int r = hmac_run(k->hmac, token, (size_t)(d3 - token), want);
    if (r < 0)
        return r;
    /* invariant 2 */
    r = CRYPTO_memcmp(sig, want, SIG_LEN);
    OPENSSL_cleanse(want, sizeof(want));
    if (r != 0)
        return -EKEYREJECTED;

    /* authentic: now the payload (a bug on the signing side is still caught) */
    size_t pos = 0;
    if (pn < 3)
        return -EBADMSG;
    if (payload[pos] >= _LINK_ACTION_MAX)
        return -EBADMSG;
    cl.action = (enum link_action)payload[pos++];
    if (get_uvarint(payload, pn, &pos, &cl.attempt_id) < 0 || cl.attempt_id <= 0 ||
        get_uvarint(payload, pn, &pos, &cl.expires) < 0 || cl.expires <= 0)
        return -EBADMSG;
    if (!debtor_id_valid(payload + pos, pn - pos))
        return -EBADMSG;
    memcpy(cl.debtor_id, payload + pos, pn - pos);
    cl.debtor_id[pn - pos] = 0;
    if (ret_claims)
        *ret_claims = cl;
    return now >= cl.expires ? -EKEYEXPIRED : 0;
}

const char *link_strerror(int r)
{
    switch (r) {
    case 0:
        return "valid";
    case -EBADMSG:
        return "malformed token";
    case -EPROTONOSUPPORT:
        return "unsupported token version";
    case -ENOKEY:
        return "unknown key";
    case -EKEYREJECTED:
        return "bad signature";
    case -EKEYEXPIRED:
        return "expired";
    default:
        return strerror(r < 0 ? -r : r);
    }
}
