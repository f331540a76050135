/*
 * fake.c - a channel plugin for the tests, built as fake.so against the
 * installed-style header only: it records what it is asked to send (one
 * line per send: attempt id, idempotency key, kind, address, tries) and
 * answers as its settings say, after a delay on a host timer, so the host's
 * asynchronous completion, timers, settings getters and every status are
 * exercised the way a real provider plugin would use them.  With `url`, each
 * send is also POSTed there through host->http (ABI 1.1) and the HTTP
 * answer decides: 2xx sent (the body is the provider id), 429 retry with
 * its Retry-After, other 4xx invalid address, 5xx and errors retry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cadenza-plugin.h"

static const struct cz_setting fake_settings[] = {
    { "path", CZ_SETTING_PATH, NULL, 0, 0, NULL, true, "file that records every send" },
    { "answer", CZ_SETTING_ENUM, "sent", 0, 0, "sent|retry|failed|invalid_address|opted_out",
      false, "what every send is answered" },
    { "delay_ms", CZ_SETTING_INT, "0", 0, 60000, NULL, false,
      "answer this long after the send, on a host timer" },
    { "retry_after_ms", CZ_SETTING_INT, "0", 0, 3600000, NULL, false,
      "the Retry-After given with a retry answer" },
    { "ratio", CZ_SETTING_NUMBER, "1", 0, 1, NULL, false,
      "share of sends answered 'answer' (the rest are sent)" },
    { "verbose", CZ_SETTING_BOOL, "false", 0, 0, NULL, false, "log every send" },
    { "token", CZ_SETTING_SECRET, NULL, 0, 0, NULL, false, "never printed back" },
    { "url", CZ_SETTING_STRING, NULL, 0, 0, NULL, false, "POST every send here (host->http)" },
    { 0 },
};

struct fake {
    struct cz_instance *inst;
    const struct cz_host *host;
    FILE *f;
    enum cz_send_status answer;
    int64_t delay_ms, retry_after_ms;
    double ratio;
    bool verbose;
    const char *url;
    unsigned long n;
};

struct pending {
    struct fake *fk;
    struct cz_send *send;
    enum cz_send_status status;
    char id[64];
};

static int fake_init(struct cz_instance *inst, const struct cz_host *host, void **ret)
{
    static const char *const answers[] = { "sent", "retry", "failed", "invalid_address",
                                           "opted_out" };
    struct fake *fk = calloc(1, sizeof(*fk));
    if (!fk)
        return -ENOMEM;
    fk->inst = inst;
    fk->host = host;
    const char *path = host->setting_str(inst, "path");
    fk->f = fopen(path, "ae");
    if (!fk->f) {
        int r = -errno;
        host->log(inst, CZ_LOG_ERROR, "cannot open '%s': %s", path, strerror(errno));
        free(fk);
        return r;
    }
    const char *a = host->setting_str(inst, "answer");
    for (int i = 0; i < 5; i++)
        if (strcmp(a, answers[i]) == 0)
            fk->answer = (enum cz_send_status)i;
    fk->delay_ms = host->setting_int(inst, "delay_ms");
    fk->retry_after_ms = host->setting_int(inst, "retry_after_ms");
    fk->ratio = host->setting_number(inst, "ratio");
    fk->verbose = host->setting_bool(inst, "verbose");
    fk->url = host->setting_str(inst, "url");
    if (fk->url && host->abi_minor < 1) {
        host->log(inst, CZ_LOG_ERROR, "url needs a host of plugin ABI 1.1");
        fclose(fk->f);
        free(fk);
        return -ENOTSUP;
    }
    if (host->setting_set(inst, "token"))
        host->log(inst, CZ_LOG_INFO, "a token is configured");
    *ret = fk;
    return 0;
}

static void answer(void *userdata)
{
    struct pending *p = userdata;
    struct cz_result res = {
        .status = p->status,
        .provider_id = p->status == CZ_SEND_OK ? p->id : NULL,
        .error = p->status == CZ_SEND_OK ? NULL : "fake provider says no",
        .retry_after_ms = p->status == CZ_SEND_RETRY ? p->fk->retry_after_ms : 0,
    };
    p->fk->host->complete(p->send, &res);
    free(p);
}

static void on_http(void *userdata, const struct cz_http_response *r)
{
    struct pending *p = userdata;
    char err[160];
    struct cz_result res = { 0 };
    if (r->error) {
        snprintf(err, sizeof(err), "http: %s", r->error_text ? r->error_text : "error");
        res.status = CZ_SEND_RETRY;
        res.error = err;
    } else if (r->status >= 200 && r->status < 300) {
        res.status = CZ_SEND_OK;
        snprintf(p->id, sizeof(p->id), "%.*s", (int)(r->body_len < 60 ? r->body_len : 60),
                 r->body);
        res.provider_id = p->id;
    } else {
        snprintf(err, sizeof(err), "http status %d", r->status);
        res.error = err;
        res.status = r->status == 429 || r->status >= 500 ? CZ_SEND_RETRY
                                                          : CZ_SEND_INVALID_ADDRESS;
        res.retry_after_ms = r->retry_after_ms;
    }
    p->fk->host->complete(p->send, &res);
    free(p);
}

static int fake_send(void *state, const struct cz_job *job, struct cz_send *send)
{
    struct fake *fk = state;
    struct pending *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    fk->n++;
    /* the first ratio share of every 100 sends gets the configured answer */
    bool chosen = (double)(fk->n % 100) < fk->ratio * 100.0 || fk->ratio >= 1.0;
    p->fk = fk;
    p->send = send;
    p->status = chosen ? fk->answer : CZ_SEND_OK;
    snprintf(p->id, sizeof(p->id), "fake-%lld-%d", (long long)job->attempt_id, job->tries);
    fprintf(fk->f, "%lld %s %d %s %d%s subject=[%s] text=%zu link=%s\n",
            (long long)job->attempt_id, job->idempotency_key, (int)job->kind, job->address,
            job->tries, job->redelivered ? " redelivered" : "",
            job->subject ? job->subject : "", job->text ? strlen(job->text) : 0,
            job->self_service_url ? job->self_service_url : "-");
    if (fk->verbose)
        fk->host->log(fk->inst, CZ_LOG_INFO, "sending attempt %lld to %s",
                      (long long)job->attempt_id, job->address);
    if (fk->url) {
        char body[512];
        int n = snprintf(body, sizeof(body), "{\"attempt\":%lld,\"key\":\"%s\",\"to\":\"%s\"}",
                         (long long)job->attempt_id, job->idempotency_key, job->address);
        struct cz_header h[] = { { "Content-Type", "application/json" },
                                 { "Idempotency-Key", job->idempotency_key } };
        struct cz_http_request req = {
            .method = "POST", .url = fk->url, .headers = h, .nheaders = 2,
            .body = body, .body_len = (size_t)n, .timeout_ms = 2000,
        };
        int r = fk->host->http(fk->inst, &req, on_http, p);
        if (r < 0)
            free(p);
        return r;
    }
    if (fk->delay_ms > 0 && fk->host->timer_add(fk->inst, fk->delay_ms, answer, p))
        return 0;
    answer(p); /* a synchronous completion is allowed too */
    return 0;
}

static int fake_flush(void *state)
{
    struct fake *fk = state;
    return fflush(fk->f) == 0 ? 0 : -errno;
}

static void fake_shutdown(void *state)
{
    struct fake *fk = state;
    fclose(fk->f);
    free(fk);
}

const struct cz_channel_plugin cz_channel_plugin = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = CZ_PLUGIN_ABI_MINOR,
    .name = "fake",
    .description = "records sends and answers as configured (tests)",
    .kinds = CZ_KIND_BIT(CZ_KIND_EMAIL) | CZ_KIND_BIT(CZ_KIND_SMS) | CZ_KIND_BIT(CZ_KIND_CHAT),
    .settings = fake_settings,
    .init = fake_init,
    .send = fake_send,
    .flush = fake_flush,
    .shutdown = fake_shutdown,
};
