/*
 * test-sms.c - the SMS plugins' pure parts and their send paths against a
 * host double: kannel.c (URL encoding, GSM 03.38 detection, sendsms reply
 * classification, the request it builds, max_inflight).
 *
 * The plugin source is included so their static functions can be
 * called; the host double records requests and completions instead of
 * talking to the network.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/kannel/kannel.c"

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

TEST_MAIN({ "urlencode", test_urlencode }, { "gsm7", test_gsm7 },
          { "kannel_classify", test_kannel_classify }, { "kannel_send", test_kannel_send })
