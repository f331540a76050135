/*
 * test-sms.c - the SMS plugins' pure parts and their send paths against a
 * host double: kannel.c (URL encoding, GSM 03.38 detection, sendsms reply
 * classification, the request it builds, max_inflight) and http-sms.c (the
 * JSON reader with hostile input, pointers, templates, the success and
 * rule parser, classification, and whole sends with both shipped profiles).
 *
 * The plugin sources are included so their static functions can be
 * called; the host double records requests and completions instead of
 * talking to the network.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* kannel.c keeps its descriptor's name (the built-in copy is renamed) */
#include "../../plugins/kannel/kannel.c"

/*
 * http-sms.c's descriptor would clash with kannel's in this file: rename
 * it, and give the renamed tag the descriptor's layout (the ABI's struct,
 * append-only; checked below).
 */
#define cz_channel_plugin hs_test_descriptor
struct hs_test_descriptor {
    uint16_t abi_major, abi_minor;
    const char *name;
    const char *description;
    uint32_t kinds;
    const struct cz_setting *settings;
    int (*init)(struct cz_instance *inst, const struct cz_host *host, void **ret_state);
    int (*send)(void *state, const struct cz_job *job, struct cz_send *send);
    int (*flush)(void *state);
    void (*shutdown)(void *state);
};
#include "../../plugins/http-sms/http-sms.c"
#undef cz_channel_plugin
_Static_assert(sizeof(struct hs_test_descriptor) == sizeof(struct cz_channel_plugin),
               "the descriptor's layout changed");

#include "testlib.h"

/* ---- the host double ------------------------------------------------------- */

#define FH_MAX 16

struct fh_req {
    char method[8];
    char *url, *body, *headers, *user, *pass;
    int64_t timeout_ms;
    cz_http_fn done;
    void *userdata;
};

static struct {
    const char *const *settings; /* key, value, ..., NULL */
    const struct cz_setting *map;
    char log[1024];
    int nlog;
    int http_error; /* what host->http answers (0: starts) */
    struct fh_req req[FH_MAX];
    int nreq;
    struct cz_result res[FH_MAX];
    char res_id[FH_MAX][128], res_err[FH_MAX][512];
    int nres;
} fh;

static void fh_reset(const struct cz_setting *map, const char *const *settings)
{
    for (int i = 0; i < fh.nreq; i++) {
        free(fh.req[i].url);
        free(fh.req[i].body);
        free(fh.req[i].headers);
        free(fh.req[i].user);
        free(fh.req[i].pass);
    }
    memset(&fh, 0, sizeof(fh));
    fh.map = map;
    fh.settings = settings;
}

static const char *fh_given(const char *key)
{
    for (const char *const *s = fh.settings; s && *s; s += 2)
        if (strcmp(*s, key) == 0)
            return s[1];
    return NULL;
}

static const char *fh_str(struct cz_instance *inst, const char *key)
{
    const char *v = fh_given(key);
    if (v)
        return v;
    for (const struct cz_setting *m = fh.map; m->key; m++)
        if (strcmp(m->key, key) == 0)
            return m->default_value;
    return NULL;
}

static int64_t fh_int(struct cz_instance *inst, const char *key)
{
    const char *v = fh_str(inst, key);
    return v ? strtoll(v, NULL, 10) : 0;
}

static bool fh_set(struct cz_instance *inst, const char *key)
{
    return fh_given(key) != NULL;
}

static void fh_logv(struct cz_instance *inst, enum cz_log_level level, const char *fmt,
                    va_list ap)
{
    vsnprintf(fh.log, sizeof(fh.log), fmt, ap);
    fh.nlog++;
}

static void fh_log(struct cz_instance *inst, enum cz_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fh_logv(inst, level, fmt, ap);
    va_end(ap);
}

static const char *fh_name(struct cz_instance *inst)
{
    return "test";
}

static void fh_complete(struct cz_send *send, const struct cz_result *r)
{
    if (fh.nres == FH_MAX)
        abort();
    int i = fh.nres++;
    fh.res[i] = *r;
    snprintf(fh.res_id[i], sizeof(fh.res_id[i]), "%s", r->provider_id ? r->provider_id : "");
    snprintf(fh.res_err[i], sizeof(fh.res_err[i]), "%s", r->error ? r->error : "");
    fh.res[i].provider_id = r->provider_id ? fh.res_id[i] : NULL;
    fh.res[i].error = r->error ? fh.res_err[i] : NULL;
}

static int fh_http(struct cz_instance *inst, const struct cz_http_request *req, cz_http_fn done,
                   void *userdata)
{
    if (fh.http_error)
        return fh.http_error;
    if (fh.nreq == FH_MAX)
        abort();
    struct fh_req *q = &fh.req[fh.nreq++];
    snprintf(q->method, sizeof(q->method), "%s", req->method);
    q->url = strdup(req->url);
    q->body = req->body ? strndup(req->body, req->body_len) : NULL;
    size_t n = 1;
    for (size_t i = 0; i < req->nheaders; i++)
        n += strlen(req->headers[i].name) + strlen(req->headers[i].value) + 3;
    q->headers = calloc(1, n);
    for (size_t i = 0; i < req->nheaders; i++)
        sprintf(q->headers + strlen(q->headers), "%s: %s\n", req->headers[i].name,
                req->headers[i].value);
    q->user = req->username ? strdup(req->username) : NULL;
    q->pass = req->password ? strdup(req->password) : NULL;
    q->timeout_ms = req->timeout_ms;
    q->done = done;
    q->userdata = userdata;
    return 0;
}

/* Answer request i as the provider would. */
static void fh_answer(int i, int status, const char *body, int64_t retry_after_ms)
{
    struct cz_http_response res = {
        .status = status,
        .body = body,
        .body_len = strlen(body),
        .retry_after_ms = retry_after_ms,
    };
    fh.req[i].done(fh.req[i].userdata, &res);
}

static void fh_fail(int i, int error, const char *text)
{
    struct cz_http_response res = { .error = error, .error_text = text, .body = "" };
    fh.req[i].done(fh.req[i].userdata, &res);
}

static const struct cz_host fh_host = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = 1,
    .log = fh_log,
    .logv = fh_logv,
    .instance_name = fh_name,
    .setting_str = fh_str,
    .setting_int = fh_int,
    .setting_set = fh_set,
    .complete = fh_complete,
    .http = fh_http,
};

#define FH_INST ((struct cz_instance *)&fh)
#define FH_SEND(n) ((struct cz_send *)(uintptr_t)(0x1000 + (n)))

static struct cz_job sms_job(int64_t id, const char *to, const char *text)
{
    return (struct cz_job){ .attempt_id = id, .idempotency_key = "ik-7", .debtor_id = "D7",
                            .instance = "sms", .kind = CZ_KIND_SMS, .address = to,
                            .locale = "es-ES", .text = text, .inputs_json = "{}" };
}

/* ---- kannel ---------------------------------------------------------------- */

static void test_urlencode(void)
{
    struct kn_buf b = { 0 };
    CHECK_INT(kn_urlencode(&b, "+34 600-1_2.3~ñ€&=%?/"), 0);
    CHECK_STR(b.p, "%2B34%20600-1_2.3~%C3%B1%E2%82%AC%26%3D%25%3F%2F");
    free(b.p);
    struct kn_buf c = { .max = 8 };
    CHECK_INT(kn_urlencode(&c, "ñññ"), -E2BIG); /* 18 bytes encoded */
    free(c.p);
    struct hs_buf h = { 0 };
    CHECK_INT(hs_urlencode(&h, "a b+c\n"), 0);
    CHECK_STR(h.p, "a%20b%2Bc%0A");
    free(h.p);
    /* longer than the encoder's chunk, escapes across its edges, and the cap */
    char in[400], want[1200];
    size_t k = 0;
    for (int i = 0; i < 399; i++) {
        in[i] = i % 3 ? 'x' : ' ';
        k += (size_t)snprintf(want + k, sizeof(want) - k, "%s", i % 3 ? "x" : "%20");
    }
    in[399] = 0;
    struct hs_buf l = { 0 };
    CHECK_INT(hs_urlencode(&l, in), 0);
    CHECK_STR(l.p, want);
    CHECK_INT(l.len, k);
    free(l.p);
    struct hs_buf m = { .max = 300 };
    CHECK_INT(hs_urlencode(&m, in), -E2BIG);
    free(m.p);
}

static void test_gsm7(void)
{
    static const struct {
        const char *s;
        bool gsm;
    } cases[] = {
        { "", true },
        { "Hola Peña, 1.234,56 € vence el 31/12", true },
        { "{[~^|\\]}", true },                 /* the extension table */
        { "ΔΦΓΛΩΠΨΣΘΞ ÆæßÉ ¡¿ §¤£¥ èéùìòÇØøÅå ÄÖÑÜäöñüà", true },
        { "tab\tnot in GSM", false },
        { "back`tick", false },
        { "naïve", false },                   /* ï */
        { "ç", false },                       /* only Ç is */
        { "Ελλάδα", false },                  /* Greek capitals that look Latin are not */
        { "ok \xF0\x9F\x91\x8D", false },     /* emoji */
        { "\xC3", false },                    /* truncated */
        { "\xC0\xAF", false },                /* overlong '/' */
        { "\xE0\x80\xAF", false },            /* overlong, 3 bytes */
        { "\xED\xA0\x80", false },            /* a surrogate */
        { "\xF4\x90\x80\x80", false },        /* past U+10FFFF */
        { "\x80", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (kn_is_gsm7(cases[i].s) != cases[i].gsm) {
            fprintf(stderr, "gsm7 case %zu '%s': expected %d\n", i, cases[i].s, cases[i].gsm);
            test_failures++;
        }
}

static void test_kannel_classify(void)
{
    static const struct {
        int status, error;
        const char *body;
        enum cz_send_status want;
        bool queued, auth;
    } cases[] = {
        { 202, 0, "0: Accepted for delivery", CZ_SEND_OK, false, false },
        { 202, 0, "3: Queued for later delivery", CZ_SEND_OK, true, false },
        { 403, 0, "Authorization failed for sendsms", CZ_SEND_FAILED, false, true },
        { 403, 0, "Number(s) has/have been denied by white- and/or black-lists.",
          CZ_SEND_INVALID_ADDRESS, false, false },
        { 400, 0, "Missing receiver number, rejected", CZ_SEND_INVALID_ADDRESS, false, false },
        { 400, 0, "Empty receiver number not allowed, rejected", CZ_SEND_INVALID_ADDRESS,
          false, false },
        { 403, 0, "Not routable. Do not try again.", CZ_SEND_FAILED, false, false },
        { 400, 0, "Charset or body misformed, rejected", CZ_SEND_FAILED, false, false },
        { 404, 0, "Unknown service", CZ_SEND_FAILED, false, false },
        { 503, 0, "Sending failed.", CZ_SEND_RETRY, false, false },
        { 500, 0, "Internal Server Error", CZ_SEND_RETRY, false, false },
        { 0, -ECONNREFUSED, "", CZ_SEND_RETRY, false, false },
        { 0, -ETIMEDOUT, NULL, CZ_SEND_RETRY, false, false },
        { 302, 0, "", CZ_SEND_FAILED, false, false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *b = cases[i].body;
        struct kn_verdict v = kn_classify(cases[i].status, cases[i].error, b, b ? strlen(b) : 0);
        if (v.status != cases[i].want || v.queued != cases[i].queued ||
            v.auth != cases[i].auth) {
            fprintf(stderr, "kannel case %zu (%d %s): got %d/%d/%d\n", i, cases[i].status,
                    b ? b : "", v.status, v.queued, v.auth);
            test_failures++;
        }
    }
}

static void test_kannel_send(void)
{
    static const char *const settings[] = {
        "url", "http://127.0.0.1:13013/cgi-bin/sendsms",
        "username", "cz", "password", "p&ss word", "from", "ACME",
        "dlr_url", "http://127.0.0.1:8080/dlr", "dlr_token", "t0k-en",
        "max_inflight", "2", "timeout_ms", "3000", NULL,
    };
    void *state = NULL;
    fh_reset(kn_settings, settings);
    CHECK_INT(kn_init(FH_INST, &fh_host, &state), 0);
    struct cz_job j = sms_job(41, "+34600111222", "Hola Peña: 10 €");
    CHECK_INT(kn_send(state, &j, FH_SEND(1)), 0);
    CHECK_INT(fh.nreq, 1);
    CHECK_STR(fh.req[0].method, "GET");
    CHECK_STR(fh.req[0].url,
              "http://127.0.0.1:13013/cgi-bin/sendsms?to=%2B34600111222&username=cz"
              "&password=p%26ss%20word&from=ACME&text=Hola%20Pe%C3%B1a%3A%2010%20%E2%82%AC"
              "&charset=UTF-8&dlr-mask=31&dlr-url=http%3A%2F%2F127.0.0.1%3A8080%2Fdlr%3F"
              "attempt%3D41%26type%3D%25d%26token%3Dt0k-en");
    CHECK_INT(fh.req[0].timeout_ms, 3000);
    /* not GSM-7: UCS-2 */
    j = sms_job(42, "+34600111223", "naïve");
    CHECK_INT(kn_send(state, &j, FH_SEND(2)), 0);
    CHECK(strstr(fh.req[1].url, "&text=na%C3%AFve&coding=2&charset=UTF-8&") != NULL);
    /* the third waits for a slot (max_inflight 2) */
    j = sms_job(43, "+34600111224", "x");
    CHECK_INT(kn_send(state, &j, FH_SEND(3)), 0);
    CHECK_INT(fh.nreq, 2);
    fh_answer(0, 202, "0: Accepted for delivery", 0);
    CHECK_INT(fh.nres, 1);
    CHECK_INT(fh.res[0].status, CZ_SEND_OK);
    CHECK(fh.res[0].provider_id == NULL);
    CHECK_INT(fh.nreq, 3); /* started once a slot freed */
    CHECK(strstr(fh.req[2].url, "attempt%3D43") != NULL);
    /* auth failures: logged once until something else comes */
    fh_answer(1, 403, "Authorization failed for sendsms", 0);
    fh_answer(2, 403, "Authorization failed for sendsms", 0);
    CHECK_INT(fh.nres, 3);
    CHECK_INT(fh.res[1].status, CZ_SEND_FAILED);
    CHECK_STR(fh.res[1].error, "sendsms answered 403: Authorization failed for sendsms");
    CHECK_INT(fh.nlog, 1);
    CHECK(strstr(fh.log, "check 'username' and 'password'") != NULL);
    CHECK(strstr(fh.log, "p&ss") == NULL);
    /* retry with the provider's Retry-After; a connection error */
    j = sms_job(44, "+34600111225", "y");
    CHECK_INT(kn_send(state, &j, FH_SEND(4)), 0);
    CHECK_INT(kn_send(state, &j, FH_SEND(5)), 0);
    fh_answer(3, 503, "Sending failed.", 7000);
    fh_fail(4, -ECONNREFUSED, "Couldn't connect to server");
    CHECK_INT(fh.res[3].status, CZ_SEND_RETRY);
    CHECK_INT(fh.res[3].retry_after_ms, 7000);
    CHECK_INT(fh.res[4].status, CZ_SEND_RETRY);
    CHECK_STR(fh.res[4].error, "sendsms: Couldn't connect to server");
    /* a job without text fails at once; a host that cannot start: send fails, no completion */
    j = sms_job(45, "+34600111226", NULL);
    CHECK_INT(kn_send(state, &j, FH_SEND(6)), 0);
    CHECK_INT(fh.res[5].status, CZ_SEND_FAILED);
    CHECK_STR(fh.res[5].error, "job without a rendered text");
    fh.http_error = -ENOMEM;
    j = sms_job(46, "+34600111227", "z");
    CHECK_INT(kn_send(state, &j, FH_SEND(7)), -ENOMEM);
    CHECK_INT(fh.nres, 6);
    kn_shutdown(state);
    fh_reset(kn_settings, NULL);

    /* a URL with a query of its own; no dlr_url: no dlr parameters */
    static const char *const s2[] = { "url", "https://sms.example/send?key=1", NULL };
    fh_reset(kn_settings, s2);
    CHECK_INT(kn_init(FH_INST, &fh_host, &state), 0);
    j = sms_job(47, "+4420", "a b");
    CHECK_INT(kn_send(state, &j, FH_SEND(1)), 0);
    CHECK_STR(fh.req[0].url, "https://sms.example/send?key=1&to=%2B4420&text=a%20b&charset=UTF-8");
    /* shutdown with a request in flight frees it (the host drops its callback) */
    kn_shutdown(state);
    fh_reset(kn_settings, NULL);

    static const char *const s3[] = { "url", "ftp://x", NULL };
    fh_reset(kn_settings, s3);
    CHECK_INT(kn_init(FH_INST, &fh_host, &state), -EINVAL);
    CHECK(strstr(fh.log, "'url' must be an http:// or https:// URL") != NULL);
    static const char *const s4[] = { "url", "http://x/", "dlr_url", "http://d/", "dlr_token",
                                      "a%2", NULL };
    fh_reset(kn_settings, s4);
    CHECK_INT(kn_init(FH_INST, &fh_host, &state), -EINVAL);
    CHECK(strstr(fh.log, "'dlr_token' may only hold") != NULL);
    fh_reset(kn_settings, NULL);
}

/* ---- the JSON reader --------------------------------------------------------- */

/* What the plugin does with a reply: check it once, then follow a pointer. */
static int hs_json_get(const char *s, size_t n, const char *pointer, struct hs_jval *ret)
{
    int r = hs_json_check(s, n);
    return r < 0 ? r : hs_json_find(s, n, pointer, ret);
}

/* hs_json_get on a copy of s without a NUL after it: reads past n show under ASan. */
static int jget(const char *s, const char *ptr, char *out, size_t outsz)
{
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    struct hs_jval v;
    int r = hs_json_get(copy, n, ptr, &v);
    if (r == 0 && out)
        r = v.type == HS_J_OBJECT || v.type == HS_J_ARRAY ? -ENOTSUP /* not a scalar */
                                                           : hs_jval_text(&v, out, outsz);
    free(copy);
    return r;
}

static void test_json_valid(void)
{
    static const char *const good[] = {
        "0", "-0", "1.5e+10", "-12.34E-2", "true", "false", "null", "\"\"", "[]", "{}",
        " { \"a\" : [ 1 , { \"b\" : null } ] } ", "\"\\u00f1\\ud83d\\udc4d\\/\\b\\f\\n\\r\\t\"",
        "\"ñ€\xF0\x9F\x91\x8D\"", "[[[[[[[[[[]]]]]]]]]]",
    };
    static const char *const bad[] = {
        "", " ", "01", "1.", ".5", "-", "1e", "+1", "0x10", "NaN", "Infinity", "tru", "nul",
        "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}", "[1 2]", "1 2", "\"abc",
        "\"a\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"tab\there\"", "\"\xC3\"", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"", "\"\xF5\x80\x80\x80\"",
        "[", "]", "{", "{\"a\":}", "[1]]", "// c\n1", "/* c */1", "\"\\\"", "{\"a\":1}x",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (jget(good[i], "", NULL, 0) != 0) {
            fprintf(stderr, "valid JSON refused: %s\n", good[i]);
            test_failures++;
        }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (jget(bad[i], "", NULL, 0) != -EINVAL) {
            fprintf(stderr, "invalid JSON accepted: %s\n", bad[i]);
            test_failures++;
        }
    /* NUL bytes inside the length are not JSON */
    CHECK_INT(hs_json_check("[1,\0002]", 6), -EINVAL);
    CHECK_INT(hs_json_check("\"a\0b\"", 5), -EINVAL);
}

static void test_json_hostile(void)
{
    /* nesting: 64 levels pass, 65 and a million are refused without recursing that deep */
    char *deep = malloc(2000002);
    for (int levels = 64; levels <= 65; levels++) {
        for (int i = 0; i < levels; i++)
            deep[i] = '[', deep[levels * 2 - 1 - i] = ']';
        deep[levels * 2] = 0;
        CHECK_INT(jget(deep, "", NULL, 0), levels <= HS_JSON_DEPTH ? 0 : -EINVAL);
    }
    memset(deep, '[', 1000000);
    memset(deep + 1000000, ']', 1000000);
    deep[2000000] = 0;
    CHECK_INT(jget(deep, "", NULL, 0), -EINVAL);
    memset(deep, '{', 1000000);
    deep[1000000] = 0;
    CHECK_INT(jget(deep, "", NULL, 0), -EINVAL);
    free(deep);
    /* truncated at every length: never a crash, never a read past the end */
    const char *doc = "{\"messages\":[{\"status\":\"0\",\"message-id\":\"a\\u00f1\"}],\"n\":-1.5e3}";
    size_t n = strlen(doc);
    for (size_t k = 0; k < n; k++) {
        char *p = malloc(k ? k : 1);
        memcpy(p, doc, k);
        struct hs_jval v;
        int r = hs_json_get(p, k, "/messages/0/status", &v);
        if (r != -EINVAL) {
            fprintf(stderr, "truncated at %zu: %d\n", k, r);
            test_failures++;
        }
        free(p);
    }
    /* every single-byte corruption: either refused or still well formed */
    for (size_t k = 0; k < n; k++)
        for (int c = 0; c < 256; c += 7) {
            char *p = malloc(n);
            memcpy(p, doc, n);
            p[k] = (char)c;
            struct hs_jval v;
            char out[64];
            int r = hs_json_get(p, n, "/messages/0/message-id", &v);
            if (r == 0)
                (void)hs_jval_text(&v, out, sizeof(out));
            CHECK(r == 0 || r == -EINVAL || r == -ENOENT);
            free(p);
        }
    /* a huge key is skipped, not copied */
    char *big = malloc(100050);
    strcpy(big, "{\"");
    memset(big + 2, 'k', 100000);
    strcpy(big + 100002, "\":1,\"id\":\"x\"}");
    char out[16];
    CHECK_INT(jget(big, "/id", out, sizeof(out)), 0);
    CHECK_STR(out, "x");
    free(big);
}

static void test_json_pointer(void)
{
    const char *doc =
        "{\"sid\":\"SM123\",\"code\":21211,\"a/b\":1,\"m~n\":2,\"\\u0073ub\":\"esc\","
        "\"messages\":[{\"status\":\"3\",\"error-text\":\"Invalid \\\"to\\\"\"},{\"status\":\"0\"}],"
        "\"dup\":\"first\",\"dup\":\"second\",\"t\":true,\"z\":null,\"o\":{},"
        "\"uni\":\"Pe\\u00f1a \\u20ac \\ud83d\\udc4d\",\"nul\":\"a\\u0000b\",\"\":\"empty\"}";
    char out[64];
    CHECK_INT(jget(doc, "/sid", out, sizeof(out)), 0);
    CHECK_STR(out, "SM123");
    CHECK_INT(jget(doc, "/code", out, sizeof(out)), 0);
    CHECK_STR(out, "21211");
    CHECK_INT(jget(doc, "/a~1b", out, sizeof(out)), 0);
    CHECK_STR(out, "1");
    CHECK_INT(jget(doc, "/m~0n", out, sizeof(out)), 0);
    CHECK_STR(out, "2");
    CHECK_INT(jget(doc, "/sub", out, sizeof(out)), 0);
    CHECK_STR(out, "esc");
    CHECK_INT(jget(doc, "/messages/0/status", out, sizeof(out)), 0);
    CHECK_STR(out, "3");
    CHECK_INT(jget(doc, "/messages/1/status", out, sizeof(out)), 0);
    CHECK_STR(out, "0");
    CHECK_INT(jget(doc, "/messages/0/error-text", out, sizeof(out)), 0);
    CHECK_STR(out, "Invalid \"to\"");
    CHECK_INT(jget(doc, "/dup", out, sizeof(out)), 0);
    CHECK_STR(out, "first");
    CHECK_INT(jget(doc, "/t", out, sizeof(out)), 0);
    CHECK_STR(out, "true");
    CHECK_INT(jget(doc, "/z", out, sizeof(out)), 0);
    CHECK_STR(out, "null");
    CHECK_INT(jget(doc, "/uni", out, sizeof(out)), 0);
    CHECK_STR(out, "Peña € \xF0\x9F\x91\x8D");
    CHECK_INT(jget(doc, "/", out, sizeof(out)), 0);
    CHECK_STR(out, "empty");
    CHECK_INT(jget(doc, "/o", out, sizeof(out)), -ENOTSUP);
    CHECK_INT(jget(doc, "/messages", out, sizeof(out)), -ENOTSUP);
    CHECK_INT(jget(doc, "/nul", out, sizeof(out)), -EINVAL); /* no C string holds it */
    CHECK_INT(jget(doc, "/uni", out, 5), -E2BIG);
    /* not there */
    static const char *const missing[] = {
        "/nope", "/messages/2", "/messages/01", "/messages/-", "/messages/x", "/sid/0",
        "/code/a", "/messages/0/status/x", "/messages/99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
        if (jget(doc, missing[i], out, sizeof(out)) != -ENOENT) {
            fprintf(stderr, "pointer %s found\n", missing[i]);
            test_failures++;
        }
    /* malformed pointers */
    CHECK_INT(jget(doc, "sid", out, sizeof(out)), -EINVAL);
    CHECK_INT(jget(doc, "/a~2b", out, sizeof(out)), -EINVAL);
    CHECK(hs_pointer_ok("/messages/0/status"));
    CHECK(hs_pointer_ok(""));
    CHECK(!hs_pointer_ok("messages"));
    CHECK(!hs_pointer_ok("/a~"));
}

/* ---- templates, rules, classification ------------------------------------------ */

static void test_templates(void)
{
    struct hs_tpl t;
    char bad[HS_KEY_MAX] = "";
    const char *vals[HS_V_MAX_] = { NULL };
    vals[HS_V_TO] = "+34 600";
    vals[HS_V_TEXT] = "Peña \"1\"\n€";
    vals[HS_V_ATTEMPT_ID] = "9";

    CHECK_INT(hs_tpl_compile("To={to}&Body={text}&Id={attempt_id}&F={from}", &t, bad), 0);
    struct hs_buf b = { 0 };
    CHECK_INT(hs_tpl_expand(&t, vals, HS_ENC_URL, &b), 0);
    CHECK_STR(b.p, "To=%2B34%20600&Body=Pe%C3%B1a%20%221%22%0A%E2%82%AC&Id=9&F=");
    CHECK(t.uses == (1u << HS_V_TO | 1u << HS_V_TEXT | 1u << HS_V_ATTEMPT_ID | 1u << HS_V_FROM));
    free(b.p);
    hs_tpl_release(&t);

    CHECK_INT(hs_tpl_compile("{\"to\":{to},\"text\":{text},\"from\":{from},\"o\":{}}", &t, bad), 0);
    b = (struct hs_buf){ 0 };
    CHECK_INT(hs_tpl_expand(&t, vals, HS_ENC_JSON, &b), 0);
    CHECK_STR(b.p, "{\"to\":\"+34 600\",\"text\":\"Peña \\\"1\\\"\\n€\",\"from\":null,\"o\":{}}");
    CHECK_INT(hs_json_check(b.p, b.len), 0);
    free(b.p);
    hs_tpl_release(&t);

    CHECK_INT(hs_tpl_compile("Bearer {text}", &t, bad), 0);
    b = (struct hs_buf){ 0 };
    CHECK_INT(hs_tpl_expand(&t, vals, HS_ENC_HEADER, &b), -EINVAL); /* a line break */
    free(b.p);
    hs_tpl_release(&t);

    CHECK_INT(hs_tpl_compile("a={adress}", &t, bad), -EINVAL);
    CHECK_STR(bad, "adress");
    /* not placeholders: other braces stay literal */
    CHECK_INT(hs_tpl_compile("{Upper} {} {1} {to", &t, bad), 0);
    b = (struct hs_buf){ 0 };
    CHECK_INT(hs_tpl_expand(&t, vals, HS_ENC_URL, &b), 0);
    CHECK_STR(b.p, "{Upper} {} {1} {to");
    CHECK(t.uses == 0);
    free(b.p);
    hs_tpl_release(&t);
}

static void test_rules(void)
{
    struct hs_rules rs;
    struct hs_rule ok;
    char err[256];
    CHECK_INT(hs_rules_parse("http 429 = retry; code 21211=invalid_address;code 21610 = opted_out;"
                             " code 20429 = retry ;http 4xx code 30 = failed; http 500-503 = retry",
                             &rs, err, sizeof(err)),
              0);
    CHECK_INT(rs.n, 6);
    CHECK_INT(rs.v[0].cond[0].lo, 429);
    CHECK_INT(rs.v[0].action, HS_RETRY);
    CHECK_STR(rs.v[1].cond[0].code, "21211");
    CHECK_INT(rs.v[2].action, HS_OPTED_OUT);
    CHECK_INT(rs.v[4].ncond, 2);
    CHECK_INT(rs.v[4].cond[0].lo, 400);
    CHECK_INT(rs.v[4].cond[0].hi, 499);
    CHECK_INT(rs.v[5].cond[0].hi, 503);
    CHECK_INT(hs_rules_parse("", &rs, err, sizeof(err)), 0);
    CHECK_INT(rs.n, 0);
    CHECK_INT(hs_rules_parse(" ; ;", &rs, err, sizeof(err)), 0);

    static const struct {
        const char *rules, *err;
    } bad[] = {
        { "http 429 retry", "rule 1: expected '=' before the action 'retry'" },
        { "http 429", "rule 1: expected '= ACTION' after the conditions" },
        { "http 429 = retry; code 1 = sent", "rule 2: action must be retry, failed, "
                                             "invalid_address or opted_out, got 'sent'" },
        { "= retry", "rule 1: a rule needs a condition ('http 429' or 'code 21211')" },
        { "status 429 = retry", "rule 1: expected 'http' or 'code', got 'status'" },
        { "http 42 = retry", "rule 1: bad HTTP status '42' (429, 5xx or 500-503)" },
        { "http 600 = retry", "rule 1: bad HTTP status '600' (429, 5xx or 500-503)" },
        { "http 503-500 = retry", "rule 1: bad HTTP status '503-500' (429, 5xx or 500-503)" },
        { "http = retry", "rule 1: 'http' needs a value" },
        { "code 1 = retry failed", "rule 1: expected ';' after the action" },
        { "http 6xx = retry", "rule 1: bad HTTP status '6xx' (429, 5xx or 500-503)" },
        { "http -429 = retry", "rule 1: bad HTTP status '-429' (429, 5xx or 500-503)" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        if (hs_rules_parse(bad[i].rules, &rs, err, sizeof(err)) != -EINVAL ||
            strcmp(err, bad[i].err) != 0) {
            fprintf(stderr, "rules '%s': got '%s'\n    expected '%s'\n", bad[i].rules, err,
                    bad[i].err);
            test_failures++;
        }
    }
    CHECK_INT(hs_success_parse("http 200 code 0", &ok, err, sizeof(err)), 0);
    CHECK_INT(ok.ncond, 2);
    CHECK_INT(hs_success_parse("http 2xx = ok", &ok, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "unexpected '=' (success is only conditions)");
    CHECK_INT(hs_success_parse("", &ok, err, sizeof(err)), -EINVAL);
}

static void test_classify(void)
{
    struct hs_rules tw, vg, none = { .n = 0 };
    struct hs_rule tw_ok, vg_ok;
    char err[256];
    CHECK_INT(hs_success_parse("http 2xx", &tw_ok, err, sizeof(err)), 0);
    CHECK_INT(hs_rules_parse("http 429 = retry; code 20429 = retry; code 21211 = invalid_address; "
                             "code 21610 = opted_out", &tw, err, sizeof(err)), 0);
    CHECK_INT(hs_success_parse("http 2xx code 0", &vg_ok, err, sizeof(err)), 0);
    CHECK_INT(hs_rules_parse("code 1 = retry; code 5 = retry; code 3 = invalid_address; "
                             "code 6 = invalid_address; code 7 = invalid_address",
                             &vg, err, sizeof(err)), 0);
    CHECK_INT(hs_classify(&tw_ok, &tw, 201, NULL), CZ_SEND_OK);
    CHECK_INT(hs_classify(&tw_ok, &tw, 400, "21211"), CZ_SEND_INVALID_ADDRESS);
    CHECK_INT(hs_classify(&tw_ok, &tw, 400, "21610"), CZ_SEND_OPTED_OUT);
    CHECK_INT(hs_classify(&tw_ok, &tw, 429, "20429"), CZ_SEND_RETRY);
    CHECK_INT(hs_classify(&tw_ok, &tw, 429, NULL), CZ_SEND_RETRY);
    CHECK_INT(hs_classify(&tw_ok, &tw, 400, "21408"), CZ_SEND_FAILED);
    CHECK_INT(hs_classify(&tw_ok, &tw, 401, "20003"), CZ_SEND_FAILED);
    CHECK_INT(hs_classify(&tw_ok, &tw, 502, NULL), CZ_SEND_RETRY);
    CHECK_INT(hs_classify(&tw_ok, &tw, 0, NULL), CZ_SEND_RETRY);
    CHECK_INT(hs_classify(&vg_ok, &vg, 200, "0"), CZ_SEND_OK);
    CHECK_INT(hs_classify(&vg_ok, &vg, 200, "1"), CZ_SEND_RETRY);
    CHECK_INT(hs_classify(&vg_ok, &vg, 200, "5"), CZ_SEND_RETRY);
    CHECK_INT(hs_classify(&vg_ok, &vg, 200, "3"), CZ_SEND_INVALID_ADDRESS);
    CHECK_INT(hs_classify(&vg_ok, &vg, 200, "6"), CZ_SEND_INVALID_ADDRESS);
    CHECK_INT(hs_classify(&vg_ok, &vg, 200, "7"), CZ_SEND_INVALID_ADDRESS);
    CHECK_INT(hs_classify(&vg_ok, &vg, 200, "4"), CZ_SEND_FAILED);
    CHECK_INT(hs_classify(&vg_ok, &vg, 200, NULL), CZ_SEND_FAILED); /* no code: not success */
    CHECK_INT(hs_classify(&vg_ok, &none, 408, NULL), CZ_SEND_RETRY);
    CHECK_INT(hs_classify(&vg_ok, &none, 404, NULL), CZ_SEND_FAILED);
}

/* ---- whole sends with the two shipped profiles ----------------------------------- */

static void test_http_sms_form(void)
{
    static const char *const settings[] = {
        "url", "https://api.example/2010-04-01/Accounts/AC1/Messages.json",
        "auth", "basic", "username", "AC1", "password", "secret",
        "body", "To={to}&From={from}&Body={text}&StatusCallback={status_url}",
        "from", "+15550001", "status_url", "https://hooks.example/sms",
        "status_token", "tk1", "id_pointer", "/sid", "code_pointer", "/code",
        "error_pointer", "/message",
        "rules", "http 429 = retry; code 20429 = retry; code 21211 = invalid_address; "
                 "code 21610 = opted_out",
        "max_inflight", "1", NULL,
    };
    void *state = NULL;
    fh_reset(hs_settings, settings);
    CHECK_INT(hs_init(FH_INST, &fh_host, &state), 0);
    struct cz_job j = sms_job(71, "+15551234567", "Hola Peña, 10 €");
    CHECK_INT(hs_send(state, &j, FH_SEND(1)), 0);
    CHECK_INT(fh.nreq, 1);
    CHECK_STR(fh.req[0].method, "POST");
    CHECK_STR(fh.req[0].url, "https://api.example/2010-04-01/Accounts/AC1/Messages.json");
    CHECK_STR(fh.req[0].body,
              "To=%2B15551234567&From=%2B15550001&Body=Hola%20Pe%C3%B1a%2C%2010%20%E2%82%AC"
              "&StatusCallback=https%3A%2F%2Fhooks.example%2Fsms%3Fattempt%3D71%26token%3Dtk1");
    CHECK_STR(fh.req[0].headers, "Content-Type: application/x-www-form-urlencoded\n");
    CHECK_STR(fh.req[0].user, "AC1");
    CHECK_STR(fh.req[0].pass, "secret");
    /* max_inflight 1: these wait */
    for (int i = 2; i <= 5; i++) {
        j.attempt_id = 70 + i;
        CHECK_INT(hs_send(state, &j, FH_SEND(i)), 0);
    }
    CHECK_INT(fh.nreq, 1);
    fh_answer(0, 201, "{\"sid\":\"SM0001\",\"status\":\"queued\",\"error_code\":null}", 0);
    CHECK_INT(fh.res[0].status, CZ_SEND_OK);
    CHECK_STR(fh.res[0].provider_id, "SM0001");
    CHECK_INT(fh.nreq, 2);
    CHECK(strstr(fh.req[1].body, "attempt%3D72") != NULL); /* in order */
    fh_answer(1, 400, "{\"code\":21211,\"message\":\"The 'To' number is not valid.\",\"status\":400}",
              0);
    CHECK_INT(fh.res[1].status, CZ_SEND_INVALID_ADDRESS);
    CHECK_STR(fh.res[1].error, "HTTP 400 code 21211: The 'To' number is not valid.");
    fh_answer(2, 400, "{\"code\":21610,\"message\":\"Attempt to send to unsubscribed recipient\"}",
              0);
    CHECK_INT(fh.res[2].status, CZ_SEND_OPTED_OUT);
    fh_answer(3, 429, "{\"code\":20429,\"message\":\"Too Many Requests\"}", 30000);
    CHECK_INT(fh.res[3].status, CZ_SEND_RETRY);
    CHECK_INT(fh.res[3].retry_after_ms, 30000);
    fh_answer(4, 503, "<html>busy</html>", 0);
    CHECK_INT(fh.res[4].status, CZ_SEND_RETRY);
    CHECK_STR(fh.res[4].error, "HTTP 503: <html>busy</html>");
    CHECK_INT(fh.nres, 5);
    /* a 2xx whose body is not JSON: accepted, no id */
    j.attempt_id = 80;
    CHECK_INT(hs_send(state, &j, FH_SEND(6)), 0);
    fh_answer(5, 200, "{\"sid\":", 0);
    CHECK_INT(fh.res[5].status, CZ_SEND_OK);
    CHECK(fh.res[5].provider_id == NULL);
    j.attempt_id = 81;
    CHECK_INT(hs_send(state, &j, FH_SEND(7)), 0);
    fh_fail(6, -ETIMEDOUT, "Operation timed out after 3000 milliseconds");
    CHECK_INT(fh.res[6].status, CZ_SEND_RETRY);
    CHECK_STR(fh.res[6].error, "no reply: Operation timed out after 3000 milliseconds");
    hs_shutdown(state);
    fh_reset(hs_settings, NULL);
}

static void test_http_sms_json(void)
{
    static const char *const settings[] = {
        "url", "https://rest.example/sms/json", "body_format", "json",
        "auth", "header", "auth_header", "X-Key", "token", "k-123",
        "headers", "Idempotency-Key: {idempotency_key}|Accept: application/json",
        "body", "{\"from\":{from},\"to\":{to},\"text\":{text},\"type\":\"unicode\","
                "\"client-ref\":{attempt_id}}",
        "from", "ACME", "success", "http 2xx code 0", "code_pointer", "/messages/0/status",
        "id_pointer", "/messages/0/message-id", "error_pointer", "/messages/0/error-text",
        "rules", "code 1 = retry; code 5 = retry; code 3 = invalid_address; "
                 "code 6 = invalid_address; code 7 = invalid_address",
        NULL,
    };
    void *state = NULL;
    fh_reset(hs_settings, settings);
    CHECK_INT(hs_init(FH_INST, &fh_host, &state), 0);
    struct cz_job j = sms_job(90, "+447700900123", "Pay \"now\"\n€5");
    CHECK_INT(hs_send(state, &j, FH_SEND(1)), 0);
    CHECK_STR(fh.req[0].body, "{\"from\":\"ACME\",\"to\":\"+447700900123\",\"text\":\"Pay "
                              "\\\"now\\\"\\n€5\",\"type\":\"unicode\",\"client-ref\":\"90\"}");
    CHECK_STR(fh.req[0].headers, "Content-Type: application/json\nIdempotency-Key: ik-7\n"
                                 "Accept: application/json\nX-Key: k-123\n");
    CHECK(fh.req[0].user == NULL);
    fh_answer(0, 200, "{\"message-count\":\"1\",\"messages\":[{\"to\":\"447700900123\","
                      "\"message-id\":\"0A000001\",\"status\":\"0\"}]}", 0);
    CHECK_INT(fh.res[0].status, CZ_SEND_OK);
    CHECK_STR(fh.res[0].provider_id, "0A000001");
    static const struct {
        const char *status;
        enum cz_send_status want;
    } st[] = { { "1", CZ_SEND_RETRY }, { "5", CZ_SEND_RETRY }, { "3", CZ_SEND_INVALID_ADDRESS },
               { "6", CZ_SEND_INVALID_ADDRESS }, { "7", CZ_SEND_INVALID_ADDRESS },
               { "4", CZ_SEND_FAILED } };
    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
        char body[160];
        CHECK_INT(hs_send(state, &j, FH_SEND(2 + i)), 0);
        snprintf(body, sizeof(body), "{\"messages\":[{\"status\":\"%s\",\"error-text\":\"e%s\"}]}",
                 st[i].status, st[i].status);
        fh_answer((int)(1 + i), 200, body, 0);
        CHECK_INT(fh.res[1 + i].status, st[i].want);
    }
    CHECK_STR(fh.res[1].error, "HTTP 200 code 1: e1");
    hs_shutdown(state);
    fh_reset(hs_settings, NULL);
}

static void test_http_sms_init_errors(void)
{
    static const struct {
        const char *const settings[12];
        const char *log;
    } cases[] = {
        { { "url", "http://x/", "body", "To={to}&Body={txt}", NULL },
          "unknown placeholder '{txt}'" },
        { { "url", "http://x/", "body", "To={to}", NULL }, "'body' does not use {text}" },
        { { "url", "http://x/", "body", "Body={text}", NULL },
          "neither 'body' nor 'url' uses {to}" },
        { { "url", "http://x/", "body_format", "json", "body", "{\"to\":\"{to}\",\"t\":{text}}",
            NULL },
          "'body' is not JSON once its placeholders are filled" },
        { { "url", "http://x/", "auth", "basic", "body", "t={to}&b={text}", NULL },
          "auth: basic needs 'username' and 'password'" },
        { { "url", "http://x/", "auth", "bearer", "body", "t={to}&b={text}", NULL },
          "auth: bearer needs a one-line 'token'" },
        { { "url", "http://x/", "rules", "http 429 = later", "body", "t={to}&b={text}", NULL },
          "'rules': rule 1: action must be" },
        { { "url", "http://x/", "id_pointer", "sid", "body", "t={to}&b={text}", NULL },
          "'id_pointer' is not a JSON pointer" },
        { { "url", "http://x/", "code_regex", "(", "body", "t={to}&b={text}", NULL },
          "'code_regex': " },
        { { "url", "http://x/", "body", "t={to}&b={text}&s={status_url}", NULL },
          "{status_url} is used but 'status_url' is not set" },
        { { "url", "http://x/", "headers", "NoColon", "body", "t={to}&b={text}", NULL },
          "headers: expected 'Name: value'" },
        { { "url", "http://x/", "method", "GET", "body_format", "json", "body", "{\"t\":{to},"
            "\"b\":{text}}", NULL },
          "method GET takes a form body" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        void *state = NULL;
        fh_reset(hs_settings, cases[i].settings);
        int r = hs_init(FH_INST, &fh_host, &state);
        if (r != -EINVAL || !strstr(fh.log, cases[i].log)) {
            fprintf(stderr, "init case %zu: %d '%s'\n    expected '%s'\n", i, r, fh.log,
                    cases[i].log);
            test_failures++;
        }
    }
    /* every problem of a profile is reported, not just the first */
    static const char *const many[] = {
        "url", "ftp://x/{too}", "body", "Body={text}", "rules", "http 429 retry",
        "success", "code", "id_pointer", "x", NULL,
    };
    void *st = NULL;
    fh_reset(hs_settings, many);
    CHECK_INT(hs_init(FH_INST, &fh_host, &st), -EINVAL);
    CHECK_INT(fh.nlog, 5); /* url scheme, {too}, success, rules, pointer */
    CHECK(strstr(fh.log, "'id_pointer' is not a JSON pointer") != NULL);

    /* GET: the form body is the query; a regex takes the id */
    static const char *const get[] = {
        "url", "http://gw.example/send?user=u", "method", "GET", "body", "to={to}&msg={text}",
        "id_regex", "^OK ([0-9a-f]+)", "success", "http 200", NULL,
    };
    void *state = NULL;
    fh_reset(hs_settings, get);
    CHECK_INT(hs_init(FH_INST, &fh_host, &state), 0);
    struct cz_job j = sms_job(5, "+1", "a&b");
    CHECK_INT(hs_send(state, &j, FH_SEND(1)), 0);
    CHECK_STR(fh.req[0].url, "http://gw.example/send?user=u&to=%2B1&msg=a%26b");
    CHECK(fh.req[0].body == NULL);
    CHECK_STR(fh.req[0].headers, "");
    fh_answer(0, 200, "OK 9f3a\n", 0);
    CHECK_STR(fh.res[0].provider_id, "9f3a");
    j.text = NULL;
    CHECK_INT(hs_send(state, &j, FH_SEND(2)), 0);
    CHECK_INT(fh.res[1].status, CZ_SEND_FAILED);
    CHECK_STR(fh.res[1].error, "job without a rendered text");
    hs_shutdown(state);
    fh_reset(hs_settings, NULL);
}

/* ---- the dialer profile (plugins/http-sms/profiles/json-dialer.yaml) ---------- */

/* A host of ABI 1.2 with timers and a wall clock the test sets. */
static struct {
    cz_timer_fn cb[4];
    void *ud[4];
    int64_t ms[4];
    int n, cancelled;
    int64_t wall;
} ft;

static struct cz_timer *ft_add(struct cz_instance *inst, int64_t ms, cz_timer_fn cb, void *ud)
{
    if (ft.n == 4)
        return NULL;
    ft.cb[ft.n] = cb;
    ft.ud[ft.n] = ud;
    ft.ms[ft.n] = ms;
    return (struct cz_timer *)(uintptr_t)(0x100 + ft.n++);
}

static void ft_cancel(struct cz_timer *t)
{
    ft.cancelled++;
}

static int64_t ft_wall(void)
{
    return ft.wall;
}

static bool fh_bool(struct cz_instance *inst, const char *key)
{
    const char *v = fh_str(inst, key);
    return v && strcmp(v, "true") == 0;
}

static const struct cz_host fh_host12 = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = 2,
    .log = fh_log,
    .logv = fh_logv,
    .instance_name = fh_name,
    .setting_str = fh_str,
    .setting_int = fh_int,
    .setting_bool = fh_bool,
    .setting_set = fh_set,
    .complete = fh_complete,
    .timer_add = ft_add,
    .timer_cancel = ft_cancel,
    .wall_ms = ft_wall,
    .http = fh_http,
};

static const char *const dialer_settings[] = {
    "url", "https://dialer.example/api/v1/campaigns/collect/leads",
    "auth", "bearer", "token", "tk-9", "body_format", "json",
    "headers", "Idempotency-Key: {idempotency_key}",
    "body", "{\"phone\":{to},\"reference\":{attempt_id},\"customer\":{debtor_id},"
            "\"name\":{name},\"call_from\":{window_start},\"call_until\":{window_end},"
            "\"agent_note\":{brief_text},\"brief\":{brief}}",
    "success", "http 2xx", "id_pointer", "/lead/id", "code_pointer", "/error/code",
    "error_pointer", "/error/message",
    "rules", "code dnc = opted_out; code invalid_number = invalid_address; http 429 = retry",
    "cancel_url", "https://dialer.example/api/v1/campaigns/collect/leads/{provider_id}",
    "cancel_method", "DELETE", "cancel_success", "http 2xx", NULL,
};

static void test_http_dialer(void)
{
    void *state = NULL;
    memset(&ft, 0, sizeof(ft));
    ft.wall = 1796634000000; /* 2026-12-07T09:00:00Z */
    fh_reset(hs_settings, dialer_settings);
    CHECK_INT(hs_init(FH_INST, &fh_host12, &state), 0);
    struct cz_job j = {
        .attempt_id = 501, .idempotency_key = "2026-12-07:D7:1", .debtor_id = "D7",
        .instance = "dialer", .kind = CZ_KIND_CALL, .address = "+34600111222",
        .inputs_json = "{\"name\":\"Ana \\\"A\\\" Pe\\u00f1a\",\"amount\":\"10.00\","
                       "\"brief\":{\"debtor\":\"D7\",\"offers\":[{\"offer\":\"fee_waiver\"}]},"
                       "\"brief_fields\":{\"dpd\":\"15\"},\"brief_text\":\"Ana | owes 10.00 EUR\"}",
        .not_before = 1796634000, .not_after = 1796637600,
    };
    CHECK_INT(hs_send(state, &j, FH_SEND(1)), 0); /* a call needs no text */
    CHECK_INT(fh.nreq, 1);
    CHECK_STR(fh.req[0].method, "POST");
    CHECK_STR(fh.req[0].body,
              "{\"phone\":\"+34600111222\",\"reference\":\"501\",\"customer\":\"D7\","
              "\"name\":\"Ana \\\"A\\\" Peña\",\"call_from\":\"2026-12-07T09:00:00Z\","
              "\"call_until\":\"2026-12-07T10:00:00Z\",\"agent_note\":\"Ana | owes 10.00 EUR\","
              "\"brief\":{\"debtor\":\"D7\",\"offers\":[{\"offer\":\"fee_waiver\"}]}}");
    CHECK_STR(fh.req[0].headers, "Content-Type: application/json\n"
                                 "Idempotency-Key: 2026-12-07:D7:1\nAuthorization: Bearer tk-9\n");
    fh_answer(0, 201, "{\"lead\":{\"id\":\"L-77\",\"state\":\"queued\"}}", 0);
    CHECK_INT(fh.res[0].status, CZ_SEND_OK);
    CHECK_STR(fh.res[0].provider_id, "L-77");
    /* the withdrawal waits for the window's end */
    CHECK_INT(ft.n, 1);
    CHECK_INT(ft.ms[0], 3600000);

    /* a lead without a brief: null members; the dialer says do-not-call */
    j.attempt_id = 502;
    j.inputs_json = "{\"amount\":\"10.00\",\"brief\":\"not an object\"}";
    CHECK_INT(hs_send(state, &j, FH_SEND(2)), 0);
    CHECK(strstr(fh.req[1].body, "\"name\":null,") != NULL);
    CHECK(strstr(fh.req[1].body, "\"agent_note\":null,\"brief\":null}") != NULL);
    fh_answer(1, 409, "{\"error\":{\"code\":\"dnc\",\"message\":\"on the do-not-call list\"}}",
              0);
    CHECK_INT(fh.res[1].status, CZ_SEND_OPTED_OUT);
    CHECK_STR(fh.res[1].error, "HTTP 409 code dnc: on the do-not-call list");
    CHECK_INT(ft.n, 1); /* nothing to withdraw */

    /* the window closes: DELETE the lead; 204 withdrawn */
    ft.cb[0](ft.ud[0]);
    CHECK_INT(fh.nreq, 3);
    CHECK_STR(fh.req[2].method, "DELETE");
    CHECK_STR(fh.req[2].url, "https://dialer.example/api/v1/campaigns/collect/leads/L-77");
    CHECK(fh.req[2].body == NULL);
    CHECK(strstr(fh.req[2].headers, "Authorization: Bearer tk-9\n") != NULL);
    fh_answer(2, 204, "", 0);
    CHECK(strstr(fh.log, "lead L-77 (attempt 501) withdrawn undialled") != NULL);

    /* another lead, dialled already when its window closes: 409, left alone */
    j.attempt_id = 503;
    CHECK_INT(hs_send(state, &j, FH_SEND(3)), 0);
    fh_answer(3, 200, "{\"lead\":{\"id\":\"L-78\"}}", 0);
    CHECK_INT(ft.n, 2);
    ft.cb[1](ft.ud[1]);
    fh_answer(4, 503, "busy", 0); /* retried 10 s later */
    CHECK_INT(ft.n, 3);
    CHECK_INT(ft.ms[2], 10000);
    ft.cb[2](ft.ud[2]);
    fh_answer(5, 409, "{\"error\":{\"code\":\"dialled\"}}", 0);
    CHECK(strstr(fh.log, "lead L-78 (attempt 503) not withdrawn at window close (HTTP 409)") !=
          NULL);

    /* a window that closed already arms nothing; one still open at shutdown is counted */
    j.attempt_id = 504;
    j.not_after = 1796633000;
    CHECK_INT(hs_send(state, &j, FH_SEND(4)), 0);
    fh_answer(6, 201, "{\"lead\":{\"id\":\"L-79\"}}", 0);
    CHECK_INT(ft.n, 3);
    j.attempt_id = 505;
    j.not_after = 1796637600;
    CHECK_INT(hs_send(state, &j, FH_SEND(5)), 0);
    fh_answer(7, 201, "{\"lead\":{\"id\":\"L-80\"}}", 0);
    CHECK_INT(ft.n, 4);
    fh.nlog = 0;
    hs_shutdown(state);
    CHECK_INT(fh.nlog, 1);
    CHECK(strstr(fh.log, "1 lead(s) stay with the dialer past shutdown") != NULL);
    fh_reset(hs_settings, NULL);

    /* an older host (ABI 1.1) has no not_before: the window starts now */
    fh_reset(hs_settings, dialer_settings);
    CHECK_INT(hs_init(FH_INST, &fh_host12, &state), 0);
    struct cz_host old = fh_host12;
    old.abi_minor = 1;
    ((struct hs_chan *)state)->host = &old;
    ft.wall = 1796634123000;
    j.attempt_id = 506;
    CHECK_INT(hs_send(state, &j, FH_SEND(6)), 0);
    CHECK(strstr(fh.req[0].body, "\"call_from\":\"2026-12-07T09:02:03Z\"") != NULL);
    fh_fail(0, -ECONNREFUSED, "refused");
    hs_shutdown(state);
    fh_reset(hs_settings, NULL);
}

static void test_http_dialer_init_errors(void)
{
    static const struct {
        const char *const settings[12];
        const char *log;
    } cases[] = {
        { { "url", "http://x/", "body", "t={to}&n={name}", NULL },
          "'body' does not use {text} (a dialer's: {brief} or {brief_text})" },
        { { "url", "http://x/", "body", "t={to}&b={brief}&p={provider_id}", NULL },
          "{provider_id} is known only to 'cancel_url' and 'cancel_body'" },
        { { "url", "http://x/", "body", "t={to}&b={brief}", "cancel_url",
            "http://x/{attempt_id}/{text}", NULL },
          "'cancel_url' may use only {provider_id}" },
        { { "url", "http://x/", "body", "t={to}&b={brief}", "cancel_url", "http://x/l", NULL },
          "'cancel_url' and 'cancel_body' name no lead" },
        { { "url", "http://x/", "body", "t={to}&b={brief}", "cancel_url",
            "http://x/{provider_id}", NULL },
          "{provider_id} needs 'id_pointer' or 'id_regex'" },
        { { "url", "http://x/", "body", "t={to}&b={brief}", "cancel_body", "id={attempt_id}",
            NULL },
          "'cancel_body' needs 'cancel_url'" },
        { { "url", "http://x/", "body_format", "json", "body", "{\"b\":{brief}}", "cancel_url",
            "ftp://x/{attempt_id}", NULL },
          "'cancel_url' must start with http:// or https://" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        void *state = NULL;
        fh_reset(hs_settings, cases[i].settings);
        CHECK_INT(hs_init(FH_INST, &fh_host12, &state), -EINVAL);
        if (!strstr(fh.log, cases[i].log)) {
            fprintf(stderr, "dialer init case %zu: log '%s', expected '%s'\n", i, fh.log,
                    cases[i].log);
            test_failures++;
        }
    }
    fh_reset(hs_settings, NULL);
}

TEST_MAIN({ "urlencode", test_urlencode }, { "gsm7", test_gsm7 },
          { "kannel_classify", test_kannel_classify }, { "kannel_send", test_kannel_send },
          { "json_valid", test_json_valid }, { "json_hostile", test_json_hostile },
          { "json_pointer", test_json_pointer }, { "http_dialer", test_http_dialer },
          { "http_dialer_init_errors", test_http_dialer_init_errors },
          { "templates", test_templates },
          { "rules", test_rules }, { "classify", test_classify },
          { "http_sms_form", test_http_sms_form }, { "http_sms_json", test_http_sms_json },
          { "http_sms_init_errors", test_http_sms_init_errors })
