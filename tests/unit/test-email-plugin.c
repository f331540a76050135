/*
 * test-email-plugin.c - the email plugin's asynchronous part (plugins/
 * email/email.c) against a host of the test's own: the test decides when
 * and how each SMTP transaction ends, so the order of waiting sends, the
 * max_inflight bound, a host that cannot start a transaction, errors
 * logged once, the checks before any SMTP, init refusals and a shutdown
 * with sends in flight are all exercised deterministically.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/email/email.c"
#include "testlib.h"

/* ---- the host ---- */

#define MAXREQ 64

static struct {
    const char *keys[16], *vals[16];
    size_t nset;
    uint16_t abi_minor;
    int smtp_fail;               /* host->smtp answers this (< 0) once, then 0 again */
    struct {
        cz_smtp_fn done;
        void *ud;
        char rcpt[128];
        char *message;
        bool finished;
    } req[MAXREQ];
    size_t nreq, outstanding, peak;
    struct {
        intptr_t send;
        enum cz_send_status status;
        char provider_id[128], error[256];
    } res[MAXREQ];
    size_t nres;
    int errors;                  /* error lines logged */
    char last_log[512];
} H;

static void h_reset(void)
{
    for (size_t i = 0; i < H.nreq; i++)
        free(H.req[i].message);
    memset(&H, 0, sizeof(H));
    H.abi_minor = CZ_PLUGIN_ABI_MINOR;
}

static void h_set(const char *k, const char *v)
{
    H.keys[H.nset] = k;
    H.vals[H.nset++] = v;
}

static void h_logv(struct cz_instance *inst, enum cz_log_level l, const char *fmt, va_list ap)
{
    vsnprintf(H.last_log, sizeof(H.last_log), fmt, ap);
    if (l == CZ_LOG_ERROR)
        H.errors++;
}

static void h_log(struct cz_instance *inst, enum cz_log_level l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    h_logv(inst, l, fmt, ap);
    va_end(ap);
}

static const char *h_str(struct cz_instance *inst, const char *key)
{
    for (size_t i = 0; i < H.nset; i++)
        if (strcmp(H.keys[i], key) == 0)
            return H.vals[i];
    for (const struct cz_setting *s = email_settings; s->key; s++)
        if (strcmp(s->key, key) == 0)
            return s->default_value;
    return NULL;
}

static int64_t h_int(struct cz_instance *inst, const char *key)
{
    const char *v = h_str(inst, key);
    return v ? atoll(v) : 0;
}

static void h_complete(struct cz_send *send, const struct cz_result *r)
{
    CHECK(H.nres < MAXREQ);
    H.res[H.nres].send = (intptr_t)send;
    H.res[H.nres].status = r->status;
    snprintf(H.res[H.nres].provider_id, 128, "%s", r->provider_id ? r->provider_id : "");
    snprintf(H.res[H.nres].error, 256, "%s", r->error ? r->error : "");
    H.nres++;
}

static int h_smtp(struct cz_instance *inst, const struct cz_smtp_request *req, cz_smtp_fn done,
                  void *ud)
{
    if (H.smtp_fail) {
        int r = H.smtp_fail;
        H.smtp_fail = 0;
        return r;
    }
    CHECK(H.nreq < MAXREQ && req->nrcpt == 1);
    H.req[H.nreq].done = done;
    H.req[H.nreq].ud = ud;
    snprintf(H.req[H.nreq].rcpt, 128, "%s", req->rcpt[0]);
    H.req[H.nreq].message = strndup(req->message, req->message_len);
    H.nreq++;
    if (++H.outstanding > H.peak)
        H.peak = H.outstanding;
    return 0;
}

static int64_t h_wall(void)
{
    return 1796505600123LL;
}

static struct cz_host host_v;

/* End request i the way the server would: code, error, words. */
static void h_finish(size_t i, int code, int error, const char *text)
{
    CHECK(i < H.nreq && !H.req[i].finished);
    if (i >= H.nreq || H.req[i].finished)
        return;
    H.req[i].finished = true;
    H.outstanding--;
    struct cz_smtp_response r = { code, error, text };
    H.req[i].done(H.req[i].ud, &r);
}

static void *start(void)
{
    host_v = (struct cz_host){
        .abi_major = CZ_PLUGIN_ABI_MAJOR, .abi_minor = H.abi_minor, .log = h_log,
        .logv = h_logv, .setting_str = h_str, .setting_int = h_int, .complete = h_complete,
        .wall_ms = h_wall, .smtp = h_smtp,
    };
    void *st = NULL;
    int r = cz_channel_plugin.init(NULL, &host_v, &st);
    CHECK_INT(r, 0);
    return st;
}

static int send_to(void *st, intptr_t id, const char *addr)
{
    char key[32];
    snprintf(key, sizeof(key), "ik-%ld", (long)id);
    struct cz_job j = {
        .attempt_id = id, .idempotency_key = key, .debtor_id = "D1", .kind = CZ_KIND_EMAIL,
        .address = addr, .subject = "Aviso", .text = "Hola\n", .inputs_json = "{}",
        .self_service_url = "https://pay.example.com/s/v1.k1.abc.def",
    };
    return cz_channel_plugin.send(st, &j, (struct cz_send *)id);
}

static void base_settings(void)
{
    h_set("url", "smtp://127.0.0.1:2525");
    h_set("tls", "none");
    h_set("from", "Cobros <cobros@acme.example>");
}

/* ---- cases ---- */

static void test_order_and_bound(void)
{
    h_reset();
    base_settings();
    h_set("max_inflight", "2");
    void *st = start();
    char a[6][32];
    for (int i = 0; i < 6; i++) {
        snprintf(a[i], sizeof(a[i]), "d%d@example.com", i + 1);
        CHECK_INT(send_to(st, i + 1, a[i]), 0);
    }
    CHECK_INT(H.nreq, 2); /* two running, four waiting */
    CHECK_INT(H.nres, 0);
    /* finish out of order: each freed slot starts the oldest waiting send */
    h_finish(1, 250, 0, NULL);
    CHECK_INT(H.nreq, 3);
    CHECK_STR(H.req[2].rcpt, "d3@example.com");
    CHECK_INT(H.nres, 1);
    CHECK_INT(H.res[0].send, 2);
    CHECK_INT(H.res[0].status, CZ_SEND_OK);
    CHECK_STR(H.res[0].provider_id, "<cz.2.0.mxax1sor.1@acme.example>");
    CHECK(strstr(H.req[1].message, "Message-ID: <cz.2.0.mxax1sor.1@acme.example>\r\n"));
    h_finish(0, 451, -EPROTO, "RCPT failed: 451");
    h_finish(2, 550, -EPROTO, "RCPT failed: 550");
    h_finish(3, 554, -EIO, "Weird server reply");
    h_finish(4, 0, -ETIMEDOUT, "Operation timed out");
    h_finish(5, 250, -ETIMEDOUT, "Operation timed out after 1500 ms");
    CHECK_INT(H.nreq, 6);
    CHECK_INT(H.peak, 2);
    for (int i = 0; i < 6; i++)
        CHECK_STR(H.req[i].rcpt, a[i]);
    CHECK_INT(H.nres, 6);
    CHECK_INT(H.res[1].status, CZ_SEND_RETRY);
    CHECK_STR(H.res[1].error, "SMTP 451: RCPT failed: 451");
    CHECK_INT(H.res[2].status, CZ_SEND_INVALID_ADDRESS);
    CHECK_INT(H.res[3].status, CZ_SEND_FAILED);
    CHECK_INT(H.res[4].status, CZ_SEND_RETRY);
    /* a positive code before a failure is not shown as the reason */
    CHECK_STR(H.res[5].error, "Operation timed out after 1500 ms");
    CHECK_INT(H.errors, 0);
    cz_channel_plugin.shutdown(st);
    h_reset();
}

static void test_logged_once(void)
{
    h_reset();
    base_settings();
    h_set("username", "cadenza");
    h_set("password", "s3cret-value");
    h_set("max_inflight", "4");
    void *st = start();
    for (int i = 1; i <= 4; i++)
        CHECK_INT(send_to(st, i, "x@example.com"), 0);
    h_finish(0, 535, -EACCES, "Login denied");
    h_finish(1, 535, -EACCES, "Login denied");
    CHECK_INT(H.errors, 1);
    CHECK(strstr(H.last_log, "refused the credentials of user 'cadenza'") != NULL);
    CHECK(strstr(H.last_log, "s3cret") == NULL);
    CHECK_INT(H.res[0].status, CZ_SEND_FAILED);
    CHECK_STR(H.res[1].error, "authentication refused: SMTP 535: Login denied");
    h_finish(2, 250, 0, NULL); /* fixed: the next refusal is news again */
    h_finish(3, 535, -EACCES, "Login denied");
    CHECK_INT(H.errors, 2);
    /* TLS: retried, said once */
    for (int i = 5; i <= 7; i++)
        CHECK_INT(send_to(st, i, "x@example.com"), 0);
    h_finish(4, 250, -EPROTO, "STARTTLS not supported.");
    h_finish(5, 0, -EPROTO, "SSL certificate problem");
    CHECK_INT(H.errors, 3);
    CHECK(strstr(H.last_log, "cannot set up TLS with 'smtp://127.0.0.1:2525'") != NULL);
    CHECK_INT(H.res[4].status, CZ_SEND_RETRY);
    CHECK_INT(H.res[5].status, CZ_SEND_RETRY);
    h_finish(6, 250, 0, NULL);
    cz_channel_plugin.shutdown(st);
    h_reset();
}

static void test_host_cannot_start(void)
{
    h_reset();
    base_settings();
    h_set("max_inflight", "1");
    void *st = start();
    /* directly: send returns the error and never completes (rule 3) */
    H.smtp_fail = -ENOMEM;
    CHECK_INT(send_to(st, 1, "a@example.com"), -ENOMEM);
    CHECK_INT(H.nres, 0);
    /* from the queue: the waiting send is answered retry */
    CHECK_INT(send_to(st, 2, "b@example.com"), 0);
    CHECK_INT(send_to(st, 3, "c@example.com"), 0);
    CHECK_INT(send_to(st, 4, "d@example.com"), 0);
    H.smtp_fail = -EINVAL;
    h_finish(0, 250, 0, NULL);
    CHECK_INT(H.nres, 2);
    CHECK_INT(H.res[0].send, 3);
    CHECK_INT(H.res[0].status, CZ_SEND_RETRY);
    CHECK(strstr(H.res[0].error, "cannot start the SMTP transaction") != NULL);
    CHECK_INT(H.res[1].send, 2);
    CHECK_INT(H.nreq, 2);
    CHECK_STR(H.req[1].rcpt, "d@example.com");
    h_finish(1, 250, 0, NULL);
    CHECK_INT(H.nres, 3);
    cz_channel_plugin.shutdown(st);
    h_reset();
}

static void test_before_smtp(void)
{
    h_reset();
    base_settings();
    void *st = start();
    struct cz_job j = { .attempt_id = 9, .idempotency_key = "ik-9", .kind = CZ_KIND_EMAIL,
                        .address = "a@example.com", .subject = "S", .inputs_json = "{}" };
    CHECK_INT(cz_channel_plugin.send(st, &j, (struct cz_send *)1), 0);
    j.text = "T";
    j.subject = NULL;
    CHECK_INT(cz_channel_plugin.send(st, &j, (struct cz_send *)2), 0);
    j.subject = "S";
    j.address = "not an address";
    CHECK_INT(cz_channel_plugin.send(st, &j, (struct cz_send *)3), 0);
    j.address = "müller@example.de";
    CHECK_INT(cz_channel_plugin.send(st, &j, (struct cz_send *)4), 0);
    j.address = NULL;
    CHECK_INT(cz_channel_plugin.send(st, &j, (struct cz_send *)5), 0);
    CHECK_INT(H.nreq, 0);
    CHECK_INT(H.nres, 5);
    CHECK_INT(H.res[0].status, CZ_SEND_FAILED);
    CHECK_STR(H.res[0].error, "no rendered message");
    CHECK_STR(H.res[1].error, "no rendered subject");
    CHECK_INT(H.res[2].status, CZ_SEND_INVALID_ADDRESS);
    CHECK_INT(H.res[3].status, CZ_SEND_FAILED);
    CHECK_INT(H.res[4].status, CZ_SEND_FAILED);
    /* an http link is no one-click link: neither header */
    j.address = "a@example.com";
    j.self_service_url = "http://pay.example.com/s/x";
    j.html = "<p>T</p>";
    CHECK_INT(cz_channel_plugin.send(st, &j, (struct cz_send *)6), 0);
    CHECK_INT(H.nreq, 1);
    CHECK(strstr(H.req[0].message, "List-Unsubscribe") == NULL);
    CHECK(strstr(H.req[0].message, "multipart/alternative") != NULL);
    CHECK(strstr(H.req[0].message, "\r\nMessage-ID: <cz.9.0.mxax1sor.0@acme.example>\r\n"));
    h_finish(0, 250, 0, NULL);
    cz_channel_plugin.shutdown(st);
    h_reset();
}

/* Shut down with sends running and waiting: nothing completes, nothing leaks. */
static void test_shutdown_in_flight(void)
{
    h_reset();
    base_settings();
    h_set("max_inflight", "2");
    void *st = start();
    for (int i = 1; i <= 5; i++)
        CHECK_INT(send_to(st, i, "a@example.com"), 0);
    h_finish(0, 250, 0, NULL);
    CHECK_INT(H.nres, 1);
    cz_channel_plugin.shutdown(st);
    CHECK_INT(H.nres, 1);
    h_reset();
}

static void test_init_refusals(void)
{
    h_reset();
    base_settings();
    H.abi_minor = 0;
    host_v = (struct cz_host){ .abi_major = 1, .abi_minor = 0, .log = h_log, .logv = h_logv,
                               .setting_str = h_str, .setting_int = h_int };
    void *st = NULL;
    CHECK_INT(cz_channel_plugin.init(NULL, &host_v, &st), -ENOTSUP);
    CHECK(strstr(H.last_log, "needs 1.1") != NULL);

    h_reset();
    h_set("url", "http://x.example");
    h_set("tls", "none");
    h_set("from", "nobody");
    h_set("reply_to", "Name <bad>");
    h_set("unsubscribe_mailto", "x y");
    h_set("username", "u");
    h_set("message_id_domain", "a b");
    host_v = (struct cz_host){ .abi_major = 1, .abi_minor = CZ_PLUGIN_ABI_MINOR, .log = h_log,
                               .logv = h_logv, .setting_str = h_str, .setting_int = h_int,
                               .smtp = h_smtp };
    CHECK_INT(cz_channel_plugin.init(NULL, &host_v, &st), -EINVAL);
    CHECK_INT(H.errors, 6); /* every problem, not just the first */

    h_reset();
    h_set("url", "smtps://x.example");
    h_set("tls", "none");
    h_set("from", "a@b.example");
    CHECK_INT(cz_channel_plugin.init(NULL, &host_v, &st), -EINVAL);
    CHECK(strstr(H.last_log, "contradicts") != NULL);
    h_reset();
}

TEST_MAIN({ "order_and_bound", test_order_and_bound }, { "logged_once", test_logged_once },
          { "host_cannot_start", test_host_cannot_start }, { "before_smtp", test_before_smtp },
          { "shutdown_in_flight", test_shutdown_in_flight },
          { "init_refusals", test_init_refusals })
