/*
 * test-link.c - signed self-service links: HMAC-SHA256 against RFC 4231,
 * base64url against RFC 4648, a token computed independently (Python's
 * hmac and base64 modules, see the comment at known_token), and every
 * kind of bad token: tampered, truncated, expired, wrong version,
 * unknown key, another secret.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "link.h"
#include "testlib.h"
#include "ynode.h"

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* RFC 4231 section 4: test cases 1 to 7 for HMAC-SHA-256. */
static void test_rfc4231(void)
{
    unsigned char k3[20], d3[50], k4[25], d4[50], k6[131], out[32];
    char h[65];
    memset(k3, 0xaa, sizeof(k3));
    memset(d3, 0xdd, sizeof(d3));
    for (int i = 0; i < 25; i++)
        k4[i] = (unsigned char)(i + 1);
    memset(d4, 0xcd, sizeof(d4));
    memset(k6, 0xaa, sizeof(k6));
    const struct {
        const void *key;
        size_t keylen;
        const void *data;
        size_t datalen;
        const char *want; /* case 5: the first 128 bits only */
    } v[] = {
        { "\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b", 20,
          "Hi There", 8,
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
        { "Jefe", 4, "what do ya want for nothing?", 28,
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
        { k3, sizeof(k3), d3, sizeof(d3),
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
        { k4, sizeof(k4), d4, sizeof(d4),
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
        { "\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c", 20,
          "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b" },
        { k6, sizeof(k6), "Test Using Larger Than Block-Size Key - Hash Key First", 54,
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
        { k6, sizeof(k6),
          "This is a test using a larger than block-size key and a larger than block-size "
          "data. The key needs to be hashed before being used by the HMAC algorithm.",
          152, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
    };
    for (size_t i = 0; i < ELEMENTSOF(v); i++) {
        CHECK_INT(link_hmac_sha256(v[i].key, v[i].keylen, v[i].data, v[i].datalen, out), 0);
        hex(out, strlen(v[i].want) / 2, h);
        CHECK_STR(h, v[i].want);
    }
}

/* RFC 4648 section 10 vectors, in the URL alphabet without padding. */
static void test_base64url(void)
{
    const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    const char *want[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
    char enc[16];
    unsigned char dec[16];
    size_t n;
    for (size_t i = 0; i < ELEMENTSOF(in); i++) {
        CHECK_INT(link_b64_encode(in[i], strlen(in[i]), enc), strlen(want[i]));
        CHECK_STR(enc, want[i]);
        CHECK_INT(link_b64_decode(want[i], strlen(want[i]), dec, sizeof(dec), &n), 0);
        CHECK_INT(n, strlen(in[i]));
        CHECK(memcmp(dec, in[i], n) == 0);
    }
    /* the URL alphabet: 0xfb 0xff -> "-_8" */
    CHECK_INT(link_b64_encode("\xfb\xff", 2, enc), 3);
    CHECK_STR(enc, "-_8");
    /* strict: padding, the standard alphabet, a lone character, stray bits, no room */
    CHECK_INT(link_b64_decode("Zg==", 4, dec, sizeof(dec), &n), -EBADMSG);
    CHECK_INT(link_b64_decode("+/8", 3, dec, sizeof(dec), &n), -EBADMSG);
    CHECK_INT(link_b64_decode("Zm9vY", 5, dec, sizeof(dec), &n), -EBADMSG);
    CHECK_INT(link_b64_decode("Zh", 2, dec, sizeof(dec), &n), -EBADMSG);
    CHECK_INT(link_b64_decode("Zm9vYmFy", 8, dec, 5, &n), -EBADMSG);
}

static const char secret1[] = "0123456789abcdef0123456789abcdef";
static const char secret2[] = "another secret of at least 32 bytes!!";

static struct link_conf *conf_with(const char *id, const char *secret)
{
    struct link_conf *c = link_conf_new();
    CHECK(c != NULL);
    CHECK_INT(link_conf_add_key(c, id, secret, strlen(secret)), 0);
    return c;
}

/*
 * The same token computed outside this code base:
 *   python3: key=b'0123456789abcdef0123456789abcdef'
 *   p = bytes([1]) + leb128(123456789) + leb128(1798761600) + b'D0912179615862'
 *   m = 'v1.k2026.' + b64url(p); m + '.' + b64url(hmac.new(key, m, sha256).digest())
 */
static void test_known_token(void)
{
    const char *want = "v1.k2026.AZWa7zqA2dvZBkQwOTEyMTc5NjE1ODYy."
                       "lPaR5fb0KHDmRXzIRktAXbeS7YSKKgTCCrha4_tffqw";
    struct link_conf *c = conf_with("k2026", secret1);
    char tok[LINK_TOKEN_MAX];
    struct link_claims cl;
    CHECK_INT(link_make(c, NULL, 123456789, "D0912179615862", LINK_PLAN, 1798761600, tok,
                        sizeof(tok)), 0);
    CHECK_STR(tok, want);
    CHECK_INT(link_verify(c, want, strlen(want), 1798761599, &cl), 0);
    CHECK_STR(cl.key_id, "k2026");
    CHECK_INT(cl.action, LINK_PLAN);
    CHECK_INT(cl.attempt_id, 123456789);
    CHECK_STR(cl.debtor_id, "D0912179615862");
    CHECK_INT(cl.expires, 1798761600);
    /* too small a buffer */
    CHECK_INT(link_make(c, NULL, 123456789, "D0912179615862", LINK_PLAN, 1798761600, tok, 20),
              -ENOBUFS);
    link_conf_free(c);
}

static void test_round_trip(void)
{
    struct link_conf *c = conf_with("k1", secret1);
    char tok[LINK_TOKEN_MAX];
    struct link_claims cl;
    char longid[LINK_DEBTOR_MAX + 2];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[LINK_DEBTOR_MAX] = 0;
    const int64_t ids[] = { 1, 127, 128, 16383, 16384, INT64_MAX };
    for (int a = 0; a < _LINK_ACTION_MAX; a++)
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
            const char *debtor = i % 3 == 0 ? NULL : i % 3 == 1 ? "Dñ-7" : longid;
            int64_t exp = i == 5 ? INT64_MAX : 1800000000 + (int64_t)i;
            CHECK_INT(link_make(c, "k1", ids[i], debtor, (enum link_action)a, exp, tok,
                                sizeof(tok)), 0);
            CHECK(strlen(tok) < LINK_TOKEN_MAX);
            CHECK_INT(link_verify(c, tok, strlen(tok), 1700000000, &cl), 0);
            CHECK_INT(cl.action, a);
            CHECK_INT(cl.attempt_id, ids[i]);
            CHECK_INT(cl.expires, exp);
            CHECK_STR(cl.debtor_id, debtor ? debtor : "");
        }
    /* bad arguments */
    longid[LINK_DEBTOR_MAX] = 'x';
    longid[LINK_DEBTOR_MAX + 1] = 0;
    CHECK_INT(link_make(c, NULL, 1, longid, LINK_PAY, 10, tok, sizeof(tok)), -EINVAL);
    CHECK_INT(link_make(c, NULL, 1, "a\nb", LINK_PAY, 10, tok, sizeof(tok)), -EINVAL);
    CHECK_INT(link_make(c, NULL, 0, NULL, LINK_PAY, 10, tok, sizeof(tok)), -EINVAL);
    CHECK_INT(link_make(c, NULL, 1, NULL, _LINK_ACTION_MAX, 10, tok, sizeof(tok)), -EINVAL);
    CHECK_INT(link_make(c, "nope", 1, NULL, LINK_PAY, 10, tok, sizeof(tok)), -ENOKEY);
    link_conf_free(c);
}

/* Change each character of the token to another of the alphabet: never valid. */
static void test_tampered(void)
{
    struct link_conf *c = conf_with("k1", secret1);
    char tok[LINK_TOKEN_MAX], t2[LINK_TOKEN_MAX];
    struct link_claims cl;
    CHECK_INT(link_make(c, NULL, 4242, "D1", LINK_PAY, 2000000000, tok, sizeof(tok)), 0);
    size_t n = strlen(tok);
    const char *sig = strrchr(tok, '.') + 1;
    int sig_rejected = 0, payload_rejected = 0;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] == '.')
            continue;
        memcpy(t2, tok, n + 1);
        t2[i] = tok[i] == 'A' ? 'B' : 'A';
        int r = link_verify(c, t2, n, 1900000000, &cl);
        CHECK(r < 0);
        if (r >= 0)
            fprintf(stderr, "    accepted with character %zu changed: %s\n", i, t2);
        CHECK(r == -EKEYREJECTED || r == -EBADMSG || r == -ENOKEY ||
              r == -EPROTONOSUPPORT);
        if (tok + i >= sig && r == -EKEYREJECTED)
            sig_rejected++;
        if (tok + i < sig && tok + i > strchr(tok + 3, '.') && r == -EKEYREJECTED)
            payload_rejected++;
    }
    CHECK(sig_rejected >= 40);   /* the last character may only break its padding bits */
    CHECK(payload_rejected >= 5);
    /* the key id changed to one that exists with another secret */
    struct link_conf *other = conf_with("k1", secret2);
    CHECK_INT(link_verify(other, tok, n, 1900000000, &cl), -EKEYREJECTED);
    link_conf_free(other);
    /* extra characters or an extra part */
    memcpy(t2, tok, n + 1);
    strcat(t2, "A");
    CHECK_INT(link_verify(c, t2, n + 1, 1900000000, &cl), -EBADMSG);
    memcpy(t2, tok, n + 1);
    strcat(t2, ".x");
    CHECK_INT(link_verify(c, t2, n + 2, 1900000000, &cl), -EBADMSG);
    link_conf_free(c);
}

static void test_truncated(void)
{
    struct link_conf *c = conf_with("k1", secret1);
    char tok[LINK_TOKEN_MAX];
    struct link_claims cl;
    CHECK_INT(link_make(c, NULL, 77, "D77", LINK_OPT_OUT, 2000000000, tok, sizeof(tok)), 0);
    size_t n = strlen(tok);
    for (size_t k = 0; k < n; k++) {
        int r = link_verify(c, tok, k, 1900000000, &cl);
        CHECK(r == -EBADMSG);
        if (r != -EBADMSG)
            fprintf(stderr, "    prefix of %zu: %d\n", k, r);
    }
    CHECK_INT(link_verify(c, NULL, 0, 0, &cl), -EBADMSG);
    CHECK_INT(link_verify(c, "", 0, 0, &cl), -EBADMSG);
    /* far too long: rejected on length alone */
    char big[600];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    memcpy(big, "v1.k1.", 6);
    CHECK_INT(link_verify(c, big, strlen(big), 0, &cl), -EBADMSG);
    link_conf_free(c);
}

static void test_expired(void)
{
    struct link_conf *c = conf_with("k1", secret1);
    char tok[LINK_TOKEN_MAX];
    struct link_claims cl = { 0 };
    CHECK_INT(link_make(c, NULL, 9, NULL, LINK_PROMISE, 1800000000, tok, sizeof(tok)), 0);
    CHECK_INT(link_verify(c, tok, strlen(tok), 1799999999, &cl), 0);
    memset(&cl, 0, sizeof(cl));
    CHECK_INT(link_verify(c, tok, strlen(tok), 1800000000, &cl), -EKEYEXPIRED);
    CHECK_INT(cl.attempt_id, 9); /* the claims of an expired link are still told */
    CHECK_INT(link_verify(c, tok, strlen(tok), 1900000000, &cl), -EKEYEXPIRED);
    /* link_url: base URL, "/s/", a token with the action's TTL */
    struct sbuf b = SBUF_INIT;
    CHECK_INT(link_url(c, 9, "D9", LINK_PAY, 1700000000, &b), -ENOENT);
    CHECK_INT(link_conf_set_base_url(c, "https://pay.example.com/x/"), 0);
    CHECK_INT(link_conf_set_base_url(c, "http://pay.example.com"), -EINVAL);
    CHECK_INT(link_conf_set_base_url(c, "https://pay.example.com/?a=b"), -EINVAL);
    c->ttl[LINK_PAY] = 3600;
    CHECK_INT(link_url(c, 9, "D9", LINK_PAY, 1700000000, &b), 0);
    sbuf_cstr(&b);
    CHECK(strncmp(b.buf, "https://pay.example.com/x/s/v1.k1.", 34) == 0);
    const char *t = b.buf + strlen("https://pay.example.com/x/s/");
    CHECK_INT(link_verify(c, t, strlen(t), 1700003599, &cl), 0);
    CHECK_INT(cl.expires, 1700003600);
    CHECK_INT(link_verify(c, t, strlen(t), 1700003600, &cl), -EKEYEXPIRED);
    sbuf_release(&b);
    link_conf_free(c);
}

static void test_version(void)
{
    struct link_conf *c = conf_with("k1", secret1);
    char tok[LINK_TOKEN_MAX];
    struct link_claims cl;
    CHECK_INT(link_make(c, NULL, 5, NULL, LINK_PAY, 2000000000, tok, sizeof(tok)), 0);
    size_t n = strlen(tok);
    tok[1] = '2';
    CHECK_INT(link_verify(c, tok, n, 0, &cl), -EPROTONOSUPPORT);
    tok[0] = 'x';
    tok[1] = '1';
    CHECK_INT(link_verify(c, tok, n, 0, &cl), -EBADMSG);
    tok[0] = 'V';
    CHECK_INT(link_verify(c, tok, n, 0, &cl), -EBADMSG);
    CHECK_STR(link_strerror(-EPROTONOSUPPORT), "unsupported token version");
    CHECK_STR(link_strerror(-EBADMSG), "malformed token");
    link_conf_free(c);
}

/* Rotation: k2 signs new links, k1's still verify; a set without k1 does not know it. */
static void test_unknown_key_and_rotation(void)
{
    struct link_conf *old = conf_with("k1", secret1);
    struct link_conf *both = conf_with("k1", secret1);
    struct link_conf *only2 = conf_with("k2", secret2);
    char t1[LINK_TOKEN_MAX], t2[LINK_TOKEN_MAX];
    struct link_claims cl;
    CHECK_INT(link_conf_add_key(both, "k2", secret2, strlen(secret2)), 0);
    CHECK_INT(link_conf_add_key(both, "k2", secret2, strlen(secret2)), -EEXIST);
    CHECK_INT(link_conf_add_key(both, "k.3", secret2, strlen(secret2)), -EINVAL);
    CHECK_INT(link_conf_add_key(both, "k3", "short", 5), -EINVAL);
    free(both->current_key);
    both->current_key = strdup("k2");
    CHECK_INT(link_make(old, NULL, 1, NULL, LINK_PAY, 2000000000, t1, sizeof(t1)), 0);
    CHECK_INT(link_make(both, NULL, 2, NULL, LINK_PAY, 2000000000, t2, sizeof(t2)), 0);
    CHECK(strncmp(t2, "v1.k2.", 6) == 0);
    CHECK_INT(link_verify(both, t1, strlen(t1), 0, &cl), 0);
    CHECK_INT(cl.attempt_id, 1);
    CHECK_INT(link_verify(both, t2, strlen(t2), 0, &cl), 0);
    CHECK_INT(link_verify(only2, t1, strlen(t1), 0, &cl), -ENOKEY);
    CHECK_INT(link_verify(old, t2, strlen(t2), 0, &cl), -ENOKEY);
    CHECK_STR(link_strerror(-ENOKEY), "unknown key");
    link_conf_free(old);
    link_conf_free(both);
    link_conf_free(only2);
}

static void test_durations(void)
{
    int64_t v;
    CHECK_INT(link_parse_duration("3600", &v), 0);
    CHECK_INT(v, 3600);
    CHECK_INT(link_parse_duration("90m", &v), 0);
    CHECK_INT(v, 5400);
    CHECK_INT(link_parse_duration("12h", &v), 0);
    CHECK_INT(v, 43200);
    CHECK_INT(link_parse_duration("30d", &v), 0);
    CHECK_INT(v, 2592000);
    CHECK_INT(link_parse_duration("d", &v), -EINVAL);
    CHECK_INT(link_parse_duration("-5s", &v), -EINVAL);
    CHECK_INT(link_parse_duration("1w", &v), -EINVAL);
    CHECK_INT(link_parse_duration("99999d", &v), -ERANGE);
}

/* Diagnostics of the links: section, at file:line:col. */
static void test_config(void)
{
    char dir[] = "/tmp/test-link.XXXXXX", path[64], msgs[2048] = "";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/k1.key", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "%s\n", secret1);
    fclose(f);
    CHECK_INT(chmod(path, 0640), 0);
    setenv("TEST_LINK_K2", secret2, 1);
    unsetenv("TEST_LINK_NOPE");

    const char *good = "links:\n"
                       "  base_url: https://pay.example.com\n"
                       "  current_key: k2\n"
                       "  keys:\n"
                       "    k1: { secret_file: k1.key }\n"
                       "    k2: { secret_env: TEST_LINK_K2 }\n"
                       "  ttl: { pay: 7d, opt_out: 400d }\n";
    struct diags d = DIAGS_INIT;
    struct ydoc *doc = NULL;
    struct link_conf *c = NULL;
    CHECK_INT(ydoc_parse("good.yaml", good, strlen(good), &doc, &d), 0);
    CHECK_INT(link_conf_load(ynode_get(doc->root, "links"), dir, &c, &d), 0);
    CHECK_INT(d.nwarnings, 1); /* group-readable key file */
    CHECK_INT(d.nerrors, 0);
    if (c) {
        CHECK_INT(c->nkeys, 2);
        CHECK_STR(c->current_key, "k2");
        CHECK_INT(c->ttl[LINK_PAY], 7 * 86400);
        CHECK_INT(c->ttl[LINK_PLAN], 30 * 86400);
        CHECK_INT(c->keys[0].secret_len, strlen(secret1)); /* the newline is dropped */
        CHECK(memcmp(c->keys[0].secret, secret1, strlen(secret1)) == 0);
        CHECK_STR(c->base_url, "https://pay.example.com");
    }
    link_conf_free(c);
    ydoc_free(doc);
    diags_release(&d);

    const char *bad = "links:\n"
                      "  base_url: ftp://x\n"
                      "  keys:\n"
                      "    k1: { secret: hunter2 }\n"
                      "    k2: { secret_env: TEST_LINK_NOPE }\n"
                      "    k3: { secret_file: missing.key }\n"
                      "    k.4: { secret_env: TEST_LINK_K2 }\n"
                      "  ttl: { pai: 7d, plan: 5s }\n";
    d = (struct diags)DIAGS_INIT;
    doc = NULL;
    c = NULL;
    CHECK_INT(ydoc_parse("bad.yaml", bad, strlen(bad), &doc, &d), 0);
    CHECK_INT(link_conf_load(ynode_get(doc->root, "links"), dir, &c, &d), -EINVAL);
    CHECK(c == NULL);
    diags_sort(&d);
    for (size_t i = 0; i < d.n; i++) {
        size_t k = strlen(msgs);
        snprintf(msgs + k, sizeof(msgs) - k, "%d:%d: %s\n", d.v[i].line, d.v[i].col, d.v[i].msg);
    }
    CHECK_STR(msgs,
              "2:3: 'links' has 4 keys but no 'current_key' to sign new links with\n"
              "2:13: invalid base_url 'ftp://x' (expected https://host[:port][/path], no "
              "query)\n"
              "4:19: inline secret for link key 'k1': configuration files get copied and "
              "committed; use 'secret_file' or 'secret_env'\n"
              "5:23: environment variable 'TEST_LINK_NOPE' for link key 'k2' is not set\n"
              "6:24: cannot read secret file 'missing.key' of link key 'k3': No such file or "
              "directory\n"
              "7:5: invalid link key id 'k.4' (1 to 16 letters, digits, '-' or '_')\n"
              "8:10: unknown link action 'pai' in 'ttl'; did you mean 'pay'?\n"
              "8:25: invalid ttl '5s' for 'plan' (a duration from 60s to 1830d, like '30d' or "
              "'12h')\n");
    ydoc_free(doc);
    diags_release(&d);
    unlink(path);
    rmdir(dir);
}

TEST_MAIN({ "rfc4231", test_rfc4231 }, { "base64url", test_base64url },
          { "known-token", test_known_token }, { "round-trip", test_round_trip },
          { "tampered", test_tampered }, { "truncated", test_truncated },
          { "expired", test_expired }, { "version", test_version },
          { "unknown-key-rotation", test_unknown_key_and_rotation },
          { "durations", test_durations }, { "config", test_config })
