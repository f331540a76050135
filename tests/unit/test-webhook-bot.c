/*
 * test-webhook-bot.c - the pure parts of the webhook-bot plugin, compiled
 * into this test from plugins/webhook-bot/webhook-bot.c: its own SHA-256
 * against the FIPS 180-4 examples (every split of the input into updates
 * too), HMAC-SHA256 against RFC 4231 section 4 (cases 1-4, 6 and 7; case 5
 * is a truncation the plugin does not use), the signature header against
 * a value computed independently (Python: hmac.new(b'0123456789abcdef-
 * secret', b'1767225600.{"attempt_id":1}', hashlib.sha256).hexdigest()),
 * the JSON body and the status classification.
 */
#include "../../plugins/webhook-bot/webhook-bot.c"

#include "testlib.h"

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void sha(const void *p, size_t n, char *out)
{
    struct sha256 s;
    unsigned char d[32];
    sha256_init(&s);
    sha256_update(&s, p, n);
    sha256_final(&s, d);
    hex(d, 32, out);
}

static void test_sha256(void)
{
    char h[65];
    sha("abc", 3, h);
    CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha("", 0, h);
    CHECK_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha(m448, strlen(m448), h);
    CHECK_STR(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    sha(m896, strlen(m896), h);
    CHECK_STR(h, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    /* one million 'a', in uneven updates */
    struct sha256 s;
    unsigned char d[32];
    char a[997];
    memset(a, 'a', sizeof(a));
    sha256_init(&s);
    size_t left = 1000000;
    for (size_t step = 1; left; step = step % 990 + 7) {
        size_t k = step < left ? step : left;
        sha256_update(&s, a, k);
        left -= k;
    }
    sha256_final(&s, d);
    hex(d, 32, h);
    CHECK_STR(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* every split of the 896-bit message gives the same digest */
    char whole[65];
    sha(m896, strlen(m896), whole);
    for (size_t cut = 0; cut <= strlen(m896); cut++) {
        sha256_init(&s);
        sha256_update(&s, m896, cut);
        sha256_update(&s, m896 + cut, strlen(m896) - cut);
        sha256_final(&s, d);
        hex(d, 32, h);
        CHECK_STR(h, whole);
    }
}

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
        const char *mac;
    } v[] = {
        { "\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b", 20,
          "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
        { "Jefe", 4, "what do ya want for nothing?", 28,
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
        { k3, sizeof(k3), d3, sizeof(d3),
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
        { k4, sizeof(k4), d4, sizeof(d4),
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
        { k6, sizeof(k6), "Test Using Larger Than Block-Size Key - Hash Key First", 54,
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
        { k6, sizeof(k6),
          "This is a test using a larger than block-size key and a larger than block-size "
          "data. The key needs to be hashed before being used by the HMAC algorithm.", 152,
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const void *parts[] = { v[i].data };
        const size_t lens[] = { v[i].datalen };
        hmac_sha256(v[i].key, v[i].keylen, parts, lens, 1, out);
        hex(out, 32, h);
        CHECK_STR(h, v[i].mac);
        /* the same data given in two parts */
        const void *two[] = { v[i].data, (const char *)v[i].data + 3 };
        const size_t tl[] = { 3, v[i].datalen - 3 };
        hmac_sha256(v[i].key, v[i].keylen, two, tl, 2, out);
        hex(out, 32, h);
        CHECK_STR(h, v[i].mac);
    }
}

static void test_sign(void)
{
    char sig[72];
    const char *body = "{\"attempt_id\":1}";
    wb_sign("0123456789abcdef-secret", "1767225600", body, strlen(body), sig);
    CHECK_STR(sig, "sha256=44ad93266daedc2d29562f0883d3c7714d01c2708ac186c97202a9496b0555a3");
    /* another timestamp, another signature */
    char sig2[72];
    wb_sign("0123456789abcdef-secret", "1767225601", body, strlen(body), sig2);
    CHECK(strcmp(sig, sig2) != 0);
}

static void test_body(void)
{
    struct cz_job job = {
        .attempt_id = 42, .idempotency_key = "ik-42", .debtor_id = "D\"1", .instance = "bot",
        .kind = CZ_KIND_CHAT, .address = "+34600000100", .locale = "es-ES",
        .time_zone = "Europe/Madrid", .not_after = 1767229200, .template_name = "early-bot",
        .text = "Hola\nJos\xc3\xa9", .inputs_json = "{\"name\":\"Jos\\u00e9\"}", .tries = 2,
        .redelivered = true,
    };
    struct buf b = { 0 };
    CHECK_INT(wb_body(&job, &b), 0);
    CHECK_STR(b.buf, "{\"attempt_id\":42,\"idempotency_key\":\"ik-42\",\"debtor_id\":\"D\\\"1\","
                     "\"channel\":\"bot\",\"kind\":\"chat\",\"address\":\"+34600000100\","
                     "\"locale\":\"es-ES\",\"time_zone\":\"Europe/Madrid\",\"not_after\":1767229200,"
                     "\"tries\":2,\"redelivered\":true,\"template\":\"early-bot\","
                     "\"text\":\"Hola\\nJos\xc3\xa9\",\"inputs\":{\"name\":\"Jos\\u00e9\"}}");
    free(b.buf);
    b = (struct buf){ 0 };
    struct cz_job bare = { .attempt_id = 1, .idempotency_key = "k", .debtor_id = "d",
                           .instance = "i", .kind = CZ_KIND_CHAT, .address = "a" };
    CHECK_INT(wb_body(&bare, &b), 0);
    CHECK_STR(b.buf, "{\"attempt_id\":1,\"idempotency_key\":\"k\",\"debtor_id\":\"d\","
                     "\"channel\":\"i\",\"kind\":\"chat\",\"address\":\"a\",\"not_after\":0,"
                     "\"tries\":0,\"redelivered\":false,\"inputs\":{}}");
    free(b.buf);
}

static void test_classify(void)
{
    CHECK_INT(wb_classify(200), CZ_SEND_OK);
    CHECK_INT(wb_classify(202), CZ_SEND_OK);
    CHECK_INT(wb_classify(409), CZ_SEND_OK);
    CHECK_INT(wb_classify(410), CZ_SEND_OPTED_OUT);
    CHECK_INT(wb_classify(422), CZ_SEND_INVALID_ADDRESS);
    CHECK_INT(wb_classify(429), CZ_SEND_RETRY);
    CHECK_INT(wb_classify(408), CZ_SEND_RETRY);
    CHECK_INT(wb_classify(503), CZ_SEND_RETRY);
    CHECK_INT(wb_classify(401), CZ_SEND_FAILED);
    CHECK_INT(wb_classify(400), CZ_SEND_FAILED);
    CHECK_INT(wb_classify(302), CZ_SEND_FAILED);
}

TEST_MAIN({ "sha256", test_sha256 }, { "rfc4231", test_rfc4231 }, { "sign", test_sign },
          { "body", test_body }, { "classify", test_classify })
