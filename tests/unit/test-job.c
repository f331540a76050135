/*
 * test-job.c - the job payload reader (job_parse / job_from_json): any
 * valid JSON object a producer may send (escapes, Unicode, key order,
 * whitespace, unknown keys) reads the same; anything malformed is
 * refused with a message, never a crash or a leak.  A differential case
 * checks the reader against a JSON library on thousands of mutated
 * payloads.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>

#include "job.h"
#include "testlib.h"
#include "util.h"

#define LEN(s) (sizeof(s) - 1)

static const char base_payload[] =
    "{\"attempt_id\":42,\"idempotency_key\":\"run-1:D7:2\",\"debtor_id\":\"D7\","
    "\"channel\":\"email\",\"channel_kind\":\"email\",\"address\":\"ana@example.com\","
    "\"template\":\"reminder\",\"time_zone\":\"Europe/Madrid\",\"strategy\":\"standard\","
    "\"tier\":1,\"attempt\":2,\"not_before\":1700000000,\"not_after\":1700003600,"
    "\"windows\":[[1699999990,1700001800]],"
    "\"inputs\":{\"name\":\"Ana \\\"Q\\\" L\\u00f3pez\",\"amount\":\"125.50\","
    "\"currency\":\"EUR\"}}";

static int parse(const char *s, size_t n, struct job *j, char *err, size_t errlen)
{
    return job_parse(s, n, 0, j, err, errlen);
}

static void test_roundtrip(void)
{
    struct job j = {}, k, m;
    struct sbuf b = SBUF_INIT;
    char err[256];
    j.attempt_id = 7;
    j.idempotency_key = strdup("k\"\\\n\x01 é");
    j.debtor_id = strdup("D1");
    j.channel = strdup("sms");
    j.channel_kind = strdup("sms");
    j.address = strdup("+34600000000");
    j.time_zone = strdup("Europe/Madrid");
    j.locale = strdup("es-ES");
    j.tier = -1;
    j.not_before = 100;
    j.not_after = 200;
    j.windows[0] = (struct job_window){ 100, 150 };
    j.windows[1] = (struct job_window){ 160, 200 };
    j.nwindows = 2;
    j.inputs_json = strdup("{\"name\":\"Zoë\",\"n\":[1,2.5,null,true]}");
    j.inputs_json_len = strlen(j.inputs_json);
    CHECK_INT(job_to_json(&j, &b), 0);
    CHECK_INT(parse(b.buf, b.len, &k, err, sizeof(err)), 0);
    CHECK_INT(k.attempt_id, 7);
    CHECK_STR(k.idempotency_key, "k\"\\\n\x01 é");
    CHECK_STR(k.channel, "sms");
    CHECK_STR(k.locale, "es-ES");
    CHECK(k.template_name == NULL);
    CHECK(k.strategy == NULL);
    CHECK_INT(k.tier, -1);
    CHECK_INT(k.nwindows, 2);
    CHECK_INT(k.windows[1].start, 160);
    CHECK_STR(k.inputs_json, "{\"name\":\"Zoë\",\"n\":[1,2.5,null,true]}");
    CHECK_INT(k.inputs_json_len, strlen(k.inputs_json));
    CHECK(k.inputs == NULL); /* no JSON library unless asked */
    CHECK(k.mem != NULL);
    /* the object on request, equal to what the text says */
    CHECK_INT(job_from_json(b.buf, b.len, &m, err, sizeof(err)), 0);
    CHECK(json_is_object(m.inputs));
    CHECK_STR(json_string_value(json_object_get(m.inputs, "name")), "Zoë");
    CHECK_INT(json_array_size(json_object_get(m.inputs, "n")), 4);
    /* serialising a parsed job gives the same payload back */
    struct sbuf b2 = SBUF_INIT;
    CHECK_INT(job_to_json(&k, &b2), 0);
    CHECK_STR(b2.buf, b.buf);
    CHECK(!k.notice && !strstr(b.buf, "notice")); /* written only when set */
    job_release(&m);
    job_release(&k);
    CHECK(k.mem == NULL && k.address == NULL);
    /* a notice (an opt-out's confirmation) keeps its mark through the queue */
    j.notice = true;
    sbuf_reset(&b);
    CHECK_INT(job_to_json(&j, &b), 0);
    CHECK(strstr(b.buf, ",\"notice\":1}") != NULL);
    CHECK_INT(parse(b.buf, b.len, &k, err, sizeof(err)), 0);
    CHECK(k.notice);
    job_release(&k);
    job_release(&j);
    sbuf_release(&b);
    sbuf_release(&b2);
    /* 0 is no notice; anything but 0 or 1 is refused */
    static const char base[] = "{\"attempt_id\":1,\"idempotency_key\":\"k\",\"debtor_id\":\"D\","
                               "\"channel\":\"sms\",\"address\":\"+1\",\"not_after\":9,\"notice\":";
    char p[256];
    snprintf(p, sizeof(p), "%s0}", base);
    CHECK_INT(parse(p, strlen(p), &k, err, sizeof(err)), 0);
    CHECK(!k.notice);
    job_release(&k);
    snprintf(p, sizeof(p), "%s2}", base);
    CHECK_INT(parse(p, strlen(p), &k, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "missing or invalid 'notice'");
}

/* Same job whatever the key order, whitespace, escapes or unknown keys. */
static void test_any_shape(void)
{
    static const char *const shapes[] = {
        /* reversed order, pretty-printed, unknown keys of every type */
        "\n{\r\n\t\"inputs\" : { \"amount\" : \"125.50\" ,\n \"currency\":\"EUR\" } ,\n"
        "  \"x-new\" : {\"deep\": [1, {\"a\": [true, false, null]}, -0.5e+3]},\n"
        "  \"windows\" : [ [ 1699999990 , 1700001800 ] ],\n"
        "  \"not_after\" : 1700003600, \"not_before\":1700000000,\"attempt\":2,\"tier\":1,\n"
        "  \"strategy\":\"standard\",\"time_zone\":\"Europe/Madrid\",\"template\":\"reminder\",\n"
        "  \"address\":\"ana@example.com\",\"channel_kind\":\"email\",\"channel\":\"email\",\n"
        "  \"debtor_id\":\"D7\",\"idempotency_key\":\"run-1:D7:2\",\"attempt_id\":42 }  \n",
        /* every string escaped, key names too */
        "{\"\\u0061ttempt_id\":42,\"idempotency_key\":\"run\\u002d1:D7:2\","
        "\"debtor\\u005fid\":\"\\u0044\\u0037\",\"channel\":\"\\u0065mail\","
        "\"address\":\"ana\\u0040example.com\",\"not_after\":1700003600,"
        "\"time_zone\":\"Europe\\/Madrid\",\"inputs\":{\"amount\":\"125.50\","
        "\"currency\":\"EUR\"},\"strategy\":\"standard\",\"template\":\"reminder\","
        "\"not_before\":1700000000,\"tier\":1,\"attempt\":2,\"channel_kind\":\"email\","
        "\"windows\":[[1699999990,1700001800]],\"unknown\":\"\\ud83d\\ude00\"}",
    };
    for (size_t i = 0; i < ELEMENTSOF(shapes); i++) {
        struct job k;
        char err[256] = "";
        int r = parse(shapes[i], strlen(shapes[i]), &k, err, sizeof(err));
        CHECK_INT(r, 0);
        if (r < 0) {
            fprintf(stderr, "shape %zu: %s\n", i, err);
            continue;
        }
        CHECK_INT(k.attempt_id, 42);
        CHECK_STR(k.idempotency_key, "run-1:D7:2");
        CHECK_STR(k.debtor_id, "D7");
        CHECK_STR(k.channel, "email");
        CHECK_STR(k.address, "ana@example.com");
        CHECK_STR(k.time_zone, "Europe/Madrid");
        CHECK_STR(k.template_name, "reminder");
        CHECK_INT(k.tier, 1);
        CHECK_INT(k.attempt, 2);
        CHECK_INT(k.not_before, 1700000000);
        CHECK_INT(k.not_after, 1700003600);
        CHECK_INT(k.nwindows, 1);
        CHECK_INT(k.windows[0].end, 1700001800);
        /* whitespace outside strings is squeezed out of the inputs */
        CHECK_STR(k.inputs_json, "{\"amount\":\"125.50\",\"currency\":\"EUR\"}");
        job_release(&k);
    }
    /* whitespace inside strings of the inputs stays */
    static const char ws[] = "{\"attempt_id\":1,\"idempotency_key\":\"k\",\"debtor_id\":\"d\","
                             "\"channel\":\"c\",\"address\":\"a\",\"not_after\":5,"
                             "\"inputs\": {\"a b\" : \" x\\\" \\n y \" , \"c\":[ 1 , 2 ]}}";
    struct job k;
    char err[256];
    CHECK_INT(parse(ws, LEN(ws), &k, err, sizeof(err)), 0);
    CHECK_STR(k.inputs_json, "{\"a b\":\" x\\\" \\n y \",\"c\":[1,2]}");
    job_release(&k);
}

static void test_escapes(void)
{
    static const char p[] =
        "{\"attempt_id\":1,\"idempotency_key\":\"q\\\"b\\\\s\\/f\\b\\f\\n\\r\\t.\","
        "\"debtor_id\":\"\\u00e9\\u20ac\\ud83d\\ude00\\uD834\\uDD1E\",\"channel\":\"c\","
        "\"address\":\"raw é€😀\",\"not_after\":5,\"template\":null,\"strategy\":null}";
    struct job k;
    char err[256] = "";
    CHECK_INT(parse(p, LEN(p), &k, err, sizeof(err)), 0);
    CHECK_STR(k.idempotency_key, "q\"b\\s/f\b\f\n\r\t.");
    CHECK_STR(k.debtor_id, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf0\x9d\x84\x9e");
    CHECK_STR(k.address, "raw é€😀");
    CHECK(k.template_name == NULL); /* null is as good as absent */
    CHECK(k.strategy == NULL);
    CHECK(k.inputs_json == NULL);
    job_release(&k);
}

/* Malformed payloads: -EINVAL and a message saying what is wrong. */
static void test_malformed(void)
{
#define OK_HEAD "{\"attempt_id\":1,\"idempotency_key\":\"k\",\"debtor_id\":\"d\"," \
                "\"channel\":\"c\",\"address\":\"a\",\"not_after\":5"
    static const struct {
        const char *payload;
        size_t len; /* 0: strlen */
        const char *msg;
    } bad[] = {
        { "", 0, "not JSON" },
        { "nope", 0, "not JSON" },
        { "\"str\"", 0, "not JSON" },
        { "[]", 0, "not a JSON object" },
        { "[1,{\"a\":2}]", 0, "not a JSON object" },
        { "{", 0, "not JSON" },
        { "{\"attempt_id\"", 0, "not JSON" },
        { "{\"attempt_id\":1", 0, "not JSON" },
        { OK_HEAD "} x", 0, "end of input expected" },
        { OK_HEAD "}}", 0, "not JSON" },
        { OK_HEAD ",}", 0, "not JSON" },
        { OK_HEAD ",\"u\"}", 0, "':' expected" },
        { OK_HEAD " \"u\":1}", 0, "',' or '}' expected" },
        { OK_HEAD ",\"u\":[1 2]}", 0, "',' or ']' expected" },
        { OK_HEAD ",\"u\":[1,]}", 0, "not JSON" },
        { OK_HEAD ",\"u\":tru}", 0, "invalid token" },
        { OK_HEAD ",\"u\":nul}", 0, "invalid token" },
        { OK_HEAD ",\"u\":'x'}", 0, "invalid token" },
        { OK_HEAD ",\"u\":01}", 0, "not JSON" },
        { OK_HEAD ",\"u\":1.}", 0, "invalid number" },
        { OK_HEAD ",\"u\":.5}", 0, "invalid token" },
        { OK_HEAD ",\"u\":-}", 0, "invalid number" },
        { OK_HEAD ",\"u\":+1}", 0, "invalid token" },
        { OK_HEAD ",\"u\":1e}", 0, "invalid number" },
        { OK_HEAD ",\"u\":99999999999999999999}", 0, "too big integer" },
        { OK_HEAD ",\"u\":-9223372036854775809}", 0, "too big integer" },
        { OK_HEAD ",\"u\":1e999}", 0, "real number overflow" },
        { OK_HEAD ",\"u\":\"a\\x\"}", 0, "invalid escape" },
        { OK_HEAD ",\"u\":\"\\u12G4\"}", 0, "invalid escape" },
        { OK_HEAD ",\"u\":\"\\u12\"}", 0, "invalid escape" },
        { OK_HEAD ",\"u\":\"\\ud800\"}", 0, "invalid escape" },
        { OK_HEAD ",\"u\":\"\\ud800\\u0041\"}", 0, "invalid escape" },
        { OK_HEAD ",\"u\":\"\\udc00\"}", 0, "invalid escape" },
        { OK_HEAD ",\"u\":\"\\u0000\"}", 0, "\\u0000 is not allowed" },
        { OK_HEAD ",\"u\":\"a\tb\"}", 0, "control character" },
        { OK_HEAD ",\"u\":\"a\nb\"}", 0, "control character" },
        { OK_HEAD ",\"u\":\"\xff\"}", 0, "invalid UTF-8" },
        { OK_HEAD ",\"u\":\"\xc0\xaf\"}", 0, "invalid UTF-8" },
        { OK_HEAD ",\"u\":\"\xed\xa0\x80\"}", 0, "invalid UTF-8" },
        { OK_HEAD ",\"u\":\"\xe2\x82\"}", 0, "invalid UTF-8" },
        { OK_HEAD ",\"u\":\"\xf4\x90\x80\x80\"}", 0, "invalid UTF-8" },
        { OK_HEAD ",\"u\":\"abc", 0, "premature end" },
        { OK_HEAD ",\"u\":\"a\0b\"}", LEN(OK_HEAD ",\"u\":\"a\0b\"}"), "control character" },
        { OK_HEAD "}\0", LEN(OK_HEAD "}\0"), "end of input expected" },
        { "\xef\xbb\xbf" OK_HEAD "}", 0, "not JSON" },
        /* duplicates: known, unknown, spelled differently, nested */
        { OK_HEAD ",\"attempt_id\":2}", 0, "duplicate object key" },
        { OK_HEAD ",\"\\u0061ttempt_id\":1}", 0, "duplicate object key" },
        { OK_HEAD ",\"u\":1,\"u\":1}", 0, "duplicate object key" },
        { OK_HEAD ",\"u\":1,\"\\u0075\":1}", 0, "duplicate object key" },
        { OK_HEAD ",\"inputs\":{\"n\":1,\"m\":{\"x\":1,\"x\":2}}}", 0, "duplicate object key" },
        { OK_HEAD ",\"inputs\":{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,"
          "\"h\":1,\"i\":1,\"j\":1,\"k\":1,\"l\":1,\"m\":1,\"n\":1,\"o\":1,\"p\":1,\"q\":1,"
          "\"r\":1,\"s\":1,\"t\":1,\"a\":2}}", 0, "duplicate object key" },
        /* nested too deep */
        { OK_HEAD ",\"u\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
          "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 0,
          "too deeply nested" },
        /* well-formed JSON, not a job */
        { "{}", 0, "missing or invalid 'attempt_id'" },
        { "{\"attempt_id\":\"1\"}", 0, "missing or invalid 'attempt_id'" },
        { "{\"attempt_id\":1.0}", 0, "missing or invalid 'attempt_id'" },
        { "{\"attempt_id\":0}", 0, "missing or invalid 'attempt_id'" },
        { "{\"attempt_id\":1,\"idempotency_key\":7}", 0, "missing or invalid 'idempotency_key'" },
        { "{\"attempt_id\":1,\"idempotency_key\":\"k\",\"debtor_id\":\"d\",\"channel\":\"c\"}", 0,
          "missing or invalid 'address'" },
        { OK_HEAD ",\"address\":null}", 0, "duplicate object key" },
        { "{\"attempt_id\":1,\"idempotency_key\":\"k\",\"debtor_id\":\"d\",\"channel\":\"c\","
          "\"address\":null,\"not_after\":5}", 0, "missing or invalid 'address'" },
        { OK_HEAD ",\"tier\":101}", 0, "missing or invalid 'tier'" },
        { OK_HEAD ",\"template\":[\"x\"]}", 0, "missing or invalid 'template'" },
        { OK_HEAD ",\"windows\":[[1]]}", 0, "missing or invalid 'windows'" },
        { OK_HEAD ",\"windows\":[[1,2,3]]}", 0, "missing or invalid 'windows'" },
        { OK_HEAD ",\"windows\":[[1,2.5]]}", 0, "missing or invalid 'windows'" },
        { OK_HEAD ",\"windows\":[[\"1\",2]]}", 0, "missing or invalid 'windows'" },
        { OK_HEAD ",\"windows\":[1,2]}", 0, "missing or invalid 'windows'" },
        { OK_HEAD ",\"windows\":{}}", 0, "missing or invalid 'windows'" },
        { OK_HEAD ",\"windows\":[[3,2]]}", 0, "a window ends before it starts" },
        { OK_HEAD ",\"inputs\":[]}", 0, "missing or invalid 'inputs'" },
        { OK_HEAD ",\"inputs\":\"{}\"}", 0, "missing or invalid 'inputs'" },
        { OK_HEAD ",\"not_before\":6}", 0, "'not_before' is after 'not_after'" },
        { "{\"attempt_id\":1,\"idempotency_key\":\"\",\"debtor_id\":\"d\",\"channel\":\"c\","
          "\"address\":\"a\",\"not_after\":5}", 0, "'idempotency_key' is missing" },
    };
#undef OK_HEAD
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct job k = { .attempt_id = 99 };
        char err[256] = "";
        size_t n = bad[i].len ? bad[i].len : strlen(bad[i].payload);
        int r = parse(bad[i].payload, n, &k, err, sizeof(err));
        CHECK_INT(r, -EINVAL);
        CHECK_INT(k.attempt_id, 99); /* *ret untouched */
        if (!strstr(err, bad[i].msg)) {
            fprintf(stderr, "case %zu: error '%s', expected '%s'\n", i, err, bad[i].msg);
            test_failures++;
        }
        /* the library-backed entry point agrees */
        CHECK_INT(job_from_json(bad[i].payload, n, &k, err, sizeof(err)), -EINVAL);
    }
    /* offsets point at the problem */
    struct job k;
    char err[256];
    CHECK_INT(parse("{\"a\":1,}", 8, &k, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "not JSON: string or '}' expected at offset 7");
    /* size limit */
    size_t big = JOB_PAYLOAD_MAX + 1;
    char *p = malloc(big);
    memset(p, ' ', big);
    CHECK_INT(parse(p, big, &k, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "larger than") != NULL);
    free(p);
    /* integer limits that fit */
    static const char lim[] = "{\"attempt_id\":9223372036854775807,\"idempotency_key\":\"k\","
                              "\"debtor_id\":\"d\",\"channel\":\"c\",\"address\":\"a\","
                              "\"not_after\":5,\"u\":-9223372036854775808,\"v\":1e-999}";
    CHECK_INT(parse(lim, LEN(lim), &k, err, sizeof(err)), 0);
    CHECK(k.attempt_id == INT64_MAX);
    job_release(&k);
}

/*
 * The reader as it was: a JSON library reads the payload, then the
 * members are checked one by one.  Used as the reference below.
 */
static int ref_parse(const char *buf, size_t len, struct job *ret)
{
    json_error_t je;
    json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return -EINVAL;
    }
    struct job j = { .tier = -1 };
    static const char *const skeys[] = { "idempotency_key", "debtor_id", "channel",
                                         "channel_kind", "address", "template", "time_zone",
                                         "locale", "strategy" };
    char **sdst[] = { &j.idempotency_key, &j.debtor_id, &j.channel, &j.channel_kind,
                      &j.address, &j.template_name, &j.time_zone, &j.locale, &j.strategy };
    bool sreq[] = { true, true, true, false, true, false, false, false, false };
    int r = 0;
    json_t *v = json_object_get(o, "attempt_id");
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        r = -EINVAL;
    else
        j.attempt_id = json_integer_value(v);
    for (size_t i = 0; r == 0 && i < ELEMENTSOF(skeys); i++) {
        v = json_object_get(o, skeys[i]);
        if (!v || json_is_null(v)) {
            if (sreq[i])
                r = -EINVAL;
        } else if (!json_is_string(v))
            r = -EINVAL;
        else
            *sdst[i] = strdup(json_string_value(v));
    }
    static const char *const ikeys[] = { "tier", "attempt", "not_before", "not_after" };
    static const int64_t lo[] = { -1, 0, 0, 1 }, hi[] = { 100, 1000000, INT64_C(1) << 40,
                                                          INT64_C(1) << 40 };
    int64_t iv[4] = { -1, 0, 0, 0 };
    for (size_t i = 0; r == 0 && i < 4; i++) {
        v = json_object_get(o, ikeys[i]);
        if (!v || json_is_null(v)) {
            if (i == 3)
                r = -EINVAL;
        } else if (!json_is_integer(v) || json_integer_value(v) < lo[i] ||
                   json_integer_value(v) > hi[i])
            r = -EINVAL;
        else
            iv[i] = json_integer_value(v);
    }
    j.tier = (int)iv[0];
    j.attempt = (int)iv[1];
    j.not_before = iv[2];
    j.not_after = iv[3];
    v = json_object_get(o, "windows");
    if (r == 0 && v && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) > JOB_WINDOWS_MAX)
            r = -EINVAL;
        for (size_t i = 0; r == 0 && i < json_array_size(v); i++) {
            json_t *p = json_array_get(v, i);
            json_t *s = json_array_get(p, 0), *e = json_array_get(p, 1);
            if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_integer(s) ||
                !json_is_integer(e))
                r = -EINVAL;
            else {
                j.windows[i] = (struct job_window){ json_integer_value(s),
                                                    json_integer_value(e) };
                j.nwindows = i + 1;
            }
        }
    }
    v = json_object_get(o, "inputs");
    if (r == 0 && v && !json_is_null(v)) {
        if (!json_is_object(v))
            r = -EINVAL;
        else
            j.inputs = json_incref(v);
    }
    json_decref(o);
    char err[256];
    if (r == 0)
        r = job_validate(&j, err, sizeof(err));
    if (r < 0) {
        job_release(&j);
        return r;
    }
    *ret = j;
    return 0;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The two readers agree on a payload: both refuse it, or both read the same job. */
static bool agree(const char *p, size_t n)
{
    struct job a, b;
    char err[256];
    int ra = ref_parse(p, n, &a);
    int rb = job_from_json(p, n, &b, err, sizeof(err));
    if (ra < 0 || rb < 0) {
        if (ra >= 0)
            job_release(&a);
        if (rb >= 0)
            job_release(&b);
        return (ra < 0) == (rb < 0);
    }
    bool same = a.attempt_id == b.attempt_id && same_str(a.idempotency_key, b.idempotency_key) &&
                same_str(a.debtor_id, b.debtor_id) && same_str(a.channel, b.channel) &&
                same_str(a.channel_kind, b.channel_kind) && same_str(a.address, b.address) &&
                same_str(a.template_name, b.template_name) &&
                same_str(a.time_zone, b.time_zone) && same_str(a.strategy, b.strategy) &&
                same_str(a.locale, b.locale) &&
                a.tier == b.tier && a.attempt == b.attempt && a.not_before == b.not_before &&
                a.not_after == b.not_after && a.nwindows == b.nwindows &&
                memcmp(a.windows, b.windows, a.nwindows * sizeof(a.windows[0])) == 0 &&
                ((!a.inputs && !b.inputs) || json_equal(a.inputs, b.inputs));
    /* the text form holds the same value as the object */
    if (same && b.inputs_json) {
        json_t *t = json_loads(b.inputs_json, 0, NULL);
        same = t && json_equal(t, b.inputs);
        json_decref(t);
    }
    job_release(&a);
    job_release(&b);
    return same;
}

/* Mutated payloads: the reader says yes exactly when the JSON library does. */
static void test_differential(void)
{
    static const char alphabet[] = "{}[]\",:\\/u0123456789abcdefABCDEF.eE+- \t\n\rtrunlsx";
    static const char *const high[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff",
                                        "\xc0\xaf", "\xed\xa0\x80", "\x01", "\\u00e9",
                                        "\\ud83d\\ude00", "\\ud83d", "\\u0000", "null",
                                        "1e999", "-0", "123456789012345678901" };
    char buf[2048];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    unsigned mismatches = 0, accepted = 0;
    size_t blen = LEN(base_payload);
    CHECK(agree(base_payload, blen));
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, base_payload, blen);
        size_t n = blen;
        int nmut = 1 + (int)(iter % 3);
        for (int m = 0; m < nmut; m++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t x = seed >> 16;
            size_t at = (size_t)(x % (n + 1));
            x >>= 12;
            switch (x % 4) {
            case 0: /* replace a byte */
                if (at < n)
                    buf[at] = alphabet[(x >> 2) % LEN(alphabet)];
                break;
            case 1: /* insert a byte */
                if (n + 1 < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = alphabet[(x >> 2) % LEN(alphabet)];
                    n++;
                }
                break;
            case 2: /* delete a few bytes */
                if (at < n) {
                    size_t k = 1 + (x >> 2) % 3;
                    if (k > n - at)
                        k = n - at;
                    memmove(buf + at, buf + at + k, n - at - k);
                    n -= k;
                }
                break;
            default: { /* insert a tricky sequence */
                const char *h = high[(x >> 2) % ELEMENTSOF(high)];
                size_t k = strlen(h);
                if (n + k < sizeof(buf)) {
                    memmove(buf + at + k, buf + at, n - at);
                    memcpy(buf + at, h, k);
                    n += k;
                }
                break;
            }
            }
        }
        if (!agree(buf, n)) {
            if (mismatches++ < 5)
                fprintf(stderr, "readers disagree on: %.*s\n", (int)n, buf);
        }
        struct job k;
        char err[256];
        if (job_parse(buf, n, 0, &k, err, sizeof(err)) == 0) {
            accepted++;
            job_release(&k);
        }
    }
    CHECK_INT(mismatches, 0);
    CHECK(accepted > 1000); /* the mutations did not only make garbage */
}

/* The fast string writer writes what the general one does, byte for byte. */
static void test_json_str(void)
{
    static const char tail[] = "plain \"quoted\" \\ é\n";
    char s[256 + sizeof(tail)];
    for (int i = 0; i < 256; i++)
        s[i] = (char)i;
    memcpy(s + 256, tail, sizeof(tail));
    const size_t total = 256 + LEN(tail);
    for (size_t off = 0; off < total; off += 7) {
        struct sbuf a = SBUF_INIT, b = SBUF_INIT;
        size_t n = total - off;
        CHECK_INT(sbuf_add_json_str(&a, s + off, n), 0);
        CHECK_INT(job_json_str(&b, s + off, n), 0);
        CHECK_INT(a.len, b.len);
        CHECK(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0);
        CHECK(b.buf[b.len] == 0);
        sbuf_release(&a);
        sbuf_release(&b);
    }
}

/*
 * job_inputs_strings(): the string members of an inputs text, as a JSON
 * library reads them (escaped keys and values decoded, other types NULL),
 * and the text refused when it is not one valid object.
 */
static void test_inputs_strings(void)
{
    static const char *const names[] = { "name", "amount", "locale", "missing", "n" };
    static const char ok[] =
        " { \"name\" : \"Ana \\\"Q\\\" L\\u00f3pez \\ud83d\\ude00\", \"n\":12,"
        "\"nested\":{\"name\":\"not me\",\"a\":[1,2.5,true,null]},"
        "\"\\u0061mount\":\"125.50\",\"locale\":\"es-ES\"} ";
    const char *v[ELEMENTSOF(names)];
    char buf[sizeof(ok)];
    CHECK_INT(job_inputs_strings(ok, LEN(ok), names, ELEMENTSOF(names), v, buf), 0);
    CHECK_STR(v[0], "Ana \"Q\" L\xc3\xb3pez \xf0\x9f\x98\x80");
    CHECK_STR(v[1], "125.50"); /* an escaped key is the same key */
    CHECK_STR(v[2], "es-ES");
    CHECK(v[3] == NULL);
    CHECK(v[4] == NULL); /* a number is not a string */
    CHECK_INT(job_inputs_strings("{}", 2, names, ELEMENTSOF(names), v, buf), 0);
    CHECK(v[0] == NULL && v[2] == NULL);

    static const char *const bad[] = {
        "", "[]", "\"x\"", "{", "{\"name\":\"a\"", "{\"name\":\"a\"} x", "{\"name\":\"a\",}",
        "{\"name\":\"a\",\"name\":\"b\"}", "{\"x\":{\"k\":1,\"k\":2}}",
        "{\"name\":\"\\u0000\"}", "{\"name\":\"\xff\"}", "{\"name\":\"a\nb\"}",
        "{\"n\":99999999999999999999}", "{\"n\":01}", "{name:1}",
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        char b[64];
        CHECK_INT(job_inputs_strings(bad[i], strlen(bad[i]), names, ELEMENTSOF(names), v, b),
                  -EINVAL);
    }

    /* against jansson: the same members, decoded the same, on mutated texts */
    static const char base[] = "{\"name\":\"D\\u00e9bora\",\"amount\":\"1.5\","
                               "\"locale\":\"es\",\"x\":[{\"y\":\"z\"}],\"n\":-3}";
    uint64_t seed = 7;
    int compared = 0;
    for (int round = 0; round < 5000; round++) {
        char t[sizeof(base)];
        memcpy(t, base, sizeof(base));
        for (int k = 0; k < 1 + round % 3; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(seed >> 33) % LEN(base);
            static const char alphabet[] = "\"{}[]:,\\ 0a-u"; /* and its NUL */
            t[at] = alphabet[(seed >> 20) % sizeof(alphabet)];
        }
        json_error_t je;
        json_t *o = json_loadb(t, LEN(base), JSON_REJECT_DUPLICATES, &je);
        char b[sizeof(base)];
        int r = job_inputs_strings(t, LEN(base), names, ELEMENTSOF(names), v, b);
        if (!json_is_object(o)) {
            CHECK_INT(r, -EINVAL);
        } else {
            CHECK_INT(r, 0);
            for (size_t i = 0; r == 0 && i < ELEMENTSOF(names); i++) {
                json_t *m = json_object_get(o, names[i]);
                if (json_is_string(m))
                    CHECK(v[i] && strcmp(v[i], json_string_value(m)) == 0);
                else
                    CHECK(v[i] == NULL);
            }
            compared++;
        }
        json_decref(o);
    }
    CHECK(compared > 100);
}

TEST_MAIN(
    { "inputs_strings", test_inputs_strings },
    { "roundtrip", test_roundtrip },
    { "json_str", test_json_str },
    { "any_shape", test_any_shape },
    { "escapes", test_escapes },
    { "malformed", test_malformed },
    { "differential", test_differential },
)
