/*
 * serve.c - `cadenza serve` (serve.h): puts the loop, the HTTP server,
 * the shared libcurl multi handle, the store and an in-process worker
 * together.
 *
 *   start ─► load config + strategies + templates ─► open store ─► HTTP
 *         ─► worker ─► READY=1
 *   SIGHUP ─► RELOADING=1 ─► load and validate the new set
 *            ├─ errors: logged at file:line:col, the running set stays ─► READY=1
 *            └─ valid: the worker stops (finishes its jobs in flight), a
 *               new one starts on the new set, the old set is freed ─► READY=1
 *   SIGTERM ─► STOPPING=1 ─► the worker stops ─► the loop exits
 *
 * The worker calls back when it has finished; the swap (or the exit)
 * happens in a callback of its own (event_base_once), never inside the
 * worker's.
 *
 * The workers' results (this one's and other hosts') move from Redis into
 * the store continuously: the drainer thread (drainer.c), with
 * connections of its own; it makes one last pass after the worker stopped.
 *
 * Routes: GET /healthz (the loop runs), GET /readyz (Redis answered the
 * worker's handshake and the store answers a query), GET /metrics
 * (Prometheus text), POST /v1/outcomes, /s/<token>; the providers'
 * callbacks are in webhooks.c.
 */
#include "serve.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "curlm.h"
#include "diag.h"
#include "drainer.h"
#include "http.h"
#include "inbound.h"
#include "ingest.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "outcome.h"
#include "scheduler.h"
#include "serve-internal.h"
#include "selfservice.h"
#include "store.h"
#include "strategy.h"
#include "timeline.h"
#include "tz.h"
#include "webhooks.h"
#include "worker.h"
#include "writer.h"


static void set_free(struct serve_set *s)
{
    if (!s || --s->refs > 0)
        return;
    strategy_set_free(s->strategies);
    config_free(s->cfg);
    free(s);
}

void serve_set_unref(struct serve_set *s)
{
    set_free(s);
}

/* Load and check everything the configuration names.  NULL on any error (printed). */
static struct serve_set *set_load(const struct serve_opts *o)
{
    struct serve_set *s = calloc(1, sizeof(*s));
    if (!s) {
        log_error("out of memory");
        return NULL;
    }
    s->refs = 1;
    if (o->load_config(o->load_arg, &s->cfg) != EXIT_OK) {
        free(s);
        return NULL;
    }
    struct diags d = DIAGS_INIT;
    int r = strategy_set_load(s->cfg, NULL, 0, &s->strategies, &d);
    if (r >= 0)
        inbound_check_templates(s->cfg, s->strategies->templates, s->cfg->template_dir, &d);
    diags_sort(&d);
    diags_print(&d, stderr);
    diags_release(&d);
    if (r < 0) {
        if (r == -ENOMEM)
            log_error("out of memory loading the strategies");
        set_free(s);
        return NULL;
    }
    worker_opts_init(&s->wopts);
    if (worker_opts_set_config(&s->wopts, s->cfg) < 0) {
        set_free(s);
        return NULL;
    }
    return s;
}

static void on_worker_finished(void *arg, int status);

/* The scheduler is done with a set (on the loop). */
static void set_release(void *ud)
{
    set_free(ud);
}

/* Let the scheduler plan with the set in force (it holds a reference). */
static void sched_use_set(struct serve *sv)
{
    sv->set->refs++;
    sched_set_config(sv->sched, sv->set->cfg, sv->set->strategies, set_release, sv->set);
}

static int start_worker(struct serve *sv)
{
    struct worker_opts *wo = &sv->set->wopts;
    wo->curlm = sv->curlm;
    wo->on_finished = on_worker_finished;
    wo->arg = sv;
    int r = worker_new(loop_base(sv->loop), wo, &sv->worker);
    if (r < 0)
        sv->worker = NULL;
    return r;
}

/* After the worker finished (from a callback of our own): swap sets, or exit. */
static void after_worker(evutil_socket_t fd, short what, void *arg)
{
    struct serve *sv = arg;
    (void)fd;
    (void)what;
    worker_free(sv->worker);
    sv->worker = NULL;
    if (sv->stopping || !sv->next) {
        loop_exit(sv->loop);
        return;
    }
    struct serve_set *old = sv->set;
    sv->set = sv->next;
    sv->next = NULL;
    if (start_worker(sv) < 0) {
        /* the new set validated but its channels did not start: go back */
        log_error("the reloaded configuration's channels did not start; keeping the previous one");
        set_free(sv->set);
        sv->set = old;
        sv->reloads_failed++;
        if (start_worker(sv) < 0) {
            log_error("cannot restart the previous channels either; exiting");
            sv->exit_code = EXIT_RUNTIME;
            loop_exit(sv->loop);
            return;
        }
    } else {
        set_free(old);
        sched_use_set(sv);
        sv->reloads_ok++;
        log_notice("reloaded: %zu channel(s), %zu strateg%s", sv->set->cfg->nchannels,
                   sv->set->strategies->n, sv->set->strategies->n == 1 ? "y" : "ies");
    }
    loop_notify(sv->loop, "READY=1\nSTATUS=serving %zu channel(s)", sv->set->cfg->nchannels);
}

static void on_worker_finished(void *arg, int status)
{
    struct serve *sv = arg;
    if (status < 0 && !sv->stopping && !sv->next) {
        log_error("the worker stopped: %s", strerror(-status));
        sv->exit_code = EXIT_RUNTIME;
        sv->stopping = true;
    }
    if (event_base_once(loop_base(sv->loop), -1, EV_TIMEOUT, after_worker, sv, NULL) < 0) {
        log_error("cannot schedule the worker's clean-up; exiting");
        loop_exit(sv->loop);
    }
}

static void on_stop(void *ud)
{
    struct serve *sv = ud;
    sv->stopping = true;
    loop_notify(sv->loop, "STOPPING=1");
    sched_stop(sv->sched); /* a run under way stops at its next debtor or page */
    if (sv->worker)
        worker_stop(sv->worker); /* on_worker_finished() exits the loop */
    else if (!sv->next)
        loop_exit(sv->loop);
}

/* SIGUSR1: today's campaign run, now. */
static void on_user1(void *ud)
{
    struct serve *sv = ud;
    int32_t date = 0;
    char day[11];
    int r = sched_run_now(sv->sched, 0, "SIGUSR1", &date);
    if (r == -EBUSY) {
        format_date(date, day);
        log_notice("SIGUSR1: the campaign run of %s is under way; not starting another", day);
    } else if (r < 0 && r != -ESHUTDOWN)
        log_error_errno(r, "SIGUSR1: cannot start a campaign run: %m");
}

static void on_reload(void *ud)
{
    struct serve *sv = ud;
    if (sv->stopping)
        return;
    if (sv->next) {
        log_notice("SIGHUP: a reload is already under way");
        return;
    }
    loop_notify(sv->loop, "RELOADING=1");
    log_notice("SIGHUP: reloading the configuration, strategies and templates");
    struct serve_set *n = set_load(sv->o);
    if (!n) {
        sv->reloads_failed++;
        log_error("reload failed (see above): the running configuration stays");
        loop_notify(sv->loop, "READY=1\nSTATUS=reload failed; serving the previous "
                              "configuration");
        return;
    }
    if (!streq_ptr(n->cfg->http_listen, sv->set->cfg->http_listen) && !sv->o->listen)
        log_warning("http.listen changed to '%s': the server keeps '%s' until a restart",
                    n->cfg->http_listen, sv->set->cfg->http_listen);
    sv->next = n;
    worker_stop(sv->worker); /* after_worker() starts the new one */
}

/* ---- routes ----------------------------------------------------------- */

static void route_healthz(struct evhttp_request *req, const char *path, void *ud)
{
    (void)path;
    (void)ud;
    http_reply(req, 200, "application/json", "{\"status\":\"ok\"}\n", 16);
}

static void route_readyz(struct evhttp_request *req, const char *path, void *ud)
{
    struct serve *sv = ud;
    (void)path;
    int64_t id;
    bool redis = sv->worker && worker_connected(sv->worker);
    bool store = store_debtor_max_id(sv->store, &id) == 0;
    bool ready = redis && store && !sv->stopping;
    char body[160];
    int n = snprintf(body, sizeof(body),
                     "{\"status\":\"%s\",\"redis\":%s,\"store\":%s,\"stopping\":%s}\n",
                     ready ? "ready" : "not ready", redis ? "true" : "false",
                     store ? "true" : "false", sv->stopping ? "true" : "false");
    http_reply(req, ready ? 200 : 503, "application/json", body, (size_t)n);
}

/* The worker's per-channel figures, one row each: name, type, help. */
static const struct {
    const char *name, *type, *help;
} worker_families[] = {
    { "cadenza_sent_total", "counter", "Jobs a channel's provider accepted" },
    { "cadenza_failed_total", "counter",
      "Jobs that failed for good (incl. invalid address, opt-out)" },
    { "cadenza_retried_total", "counter", "Transient failures scheduled for a retry" },
    { "cadenza_dead_total", "counter", "Jobs given up (dead letters)" },
    { "cadenza_cancelled_total", "counter", "Jobs cancelled before sending (stopped, expired)" },
    { "cadenza_fallback_total", "counter", "Jobs sent through the channel's fallback" },
    { "cadenza_breaker_opened_total", "counter", "Times the channel's circuit breaker opened" },
    { "cadenza_jobs_in_flight", "gauge", "Jobs leased by the worker and not settled yet" },
    { "cadenza_breaker_open", "gauge", "1 while the channel's jobs go through its fallback" },
};

static double worker_figure(const struct worker_channel_stats *st, size_t k)
{
    const double v[] = { (double)st->sent,         (double)st->failed,
                         (double)st->retried,      (double)st->dead,
                         (double)st->cancelled,    (double)st->via_fallback,
                         (double)st->breaker_opened, st->inflight,
                         st->breaker_open };
    _Static_assert(ELEMENTSOF(v) == ELEMENTSOF(worker_families), "one figure per family");
    return v[k];
}

static int worker_metrics(const struct worker *w, struct sbuf *b)
{
    size_t n = w ? worker_channel_count(w) : 0;
    int r = 0;
    for (size_t k = 0; k < ELEMENTSOF(worker_families) && r >= 0; k++) {
        r = prom_family(b, worker_families[k].name, worker_families[k].type,
                        worker_families[k].help);
        for (size_t i = 0; i < n && r >= 0; i++) {
            struct worker_channel_stats st;
            worker_channel_stats(w, i, &st);
            struct prom_label l[] = { { "channel", st.name }, { "kind", st.kind } };
            r = prom_sample(b, worker_families[k].name, l, 2, worker_figure(&st, k));
        }
    }
    if (r >= 0)
        r = prom_family(b, "cadenza_redis_connected", "gauge",
                        "1 while the worker's Redis connection is up");
    if (r >= 0)
        r = prom_sample(b, "cadenza_redis_connected", NULL, 0, w && worker_connected(w));
    return r;
}

static int api_metrics(struct serve *sv, struct sbuf *b);

static int drain_metrics(struct drainer *d, struct sbuf *b)
{
    struct drainer_stats st;
    drainer_stats_get(d, &st);
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        { "cadenza_drain_results_total", "Results moved from Redis into the store",
          offsetof(struct drainer_stats, results) },
        { "cadenza_drain_applied_total", "Of those, results that changed an attempt",
          offsetof(struct drainer_stats, applied) },
        { "cadenza_drain_foreign_total", "Results that named no known attempt or did not parse",
          offsetof(struct drainer_stats, foreign) },
        { "cadenza_drain_errors_total", "Drain passes that failed (retried at the next one)",
          offsetof(struct drainer_stats, errors) },
    };
    int r = 0;
    for (size_t k = 0; k < ELEMENTSOF(counters) && r >= 0; k++) {
        uint64_t v;
        memcpy(&v, (const char *)&st + counters[k].off, sizeof(v));
        r = prom_family(b, counters[k].name, "counter", counters[k].help);
        if (r >= 0)
            r = prom_sample(b, counters[k].name, NULL, 0, (double)v);
    }
    if (r >= 0)
        r = prom_family(b, "cadenza_drain_last_success_timestamp_seconds", "gauge",
                        "When a drain pass last succeeded, Unix seconds (0: never)");
    if (r >= 0)
        r = prom_sample(b, "cadenza_drain_last_success_timestamp_seconds", NULL, 0,
                        (double)st.last_ok / 1000.0);
    if (r >= 0)
        r = prom_family(b, "cadenza_drain_duration_seconds", "histogram",
                        "Drain passes that moved results: read, SQLite commit, acknowledge");
    if (r >= 0)
        r = prom_histogram(b, "cadenza_drain_duration_seconds", NULL, 0, st.latency.bounds,
                           st.latency.buckets, st.latency.n, st.latency.count, st.latency.sum);
    return r;
}

static void route_metrics(struct evhttp_request *req, const char *path, void *ud)
{
    struct serve *sv = ud;
    (void)path;
    struct sbuf b = SBUF_INIT;
    struct loop_lag lag;
    loop_lag_get(sv->loop, &lag);
    int r = prom_family(&b, "cadenza_start_time_seconds", "gauge",
                        "When the daemon started, Unix seconds");
    if (r >= 0)
        r = prom_sample(&b, "cadenza_start_time_seconds", NULL, 0, (double)sv->started);
    if (r >= 0)
        r = prom_family(&b, "cadenza_reloads_total", "counter",
                        "SIGHUP reloads, by result (failed: the previous configuration stayed)");
    if (r >= 0) {
        struct prom_label l = { "result", "ok" };
        r = prom_sample(&b, "cadenza_reloads_total", &l, 1, (double)sv->reloads_ok);
    }
    if (r >= 0) {
        struct prom_label l = { "result", "failed" };
        r = prom_sample(&b, "cadenza_reloads_total", &l, 1, (double)sv->reloads_failed);
    }
    if (r >= 0)
        r = prom_family(&b, "cadenza_loop_lag_seconds", "histogram",
                        "How late the event loop's 50 ms probe timer fired");
    if (r >= 0)
        r = prom_histogram(&b, "cadenza_loop_lag_seconds", NULL, 0, loop_lag_bounds,
                           lag.buckets, LOOP_LAG_BUCKETS, lag.count, lag.sum);
    if (r >= 0)
        r = prom_family(&b, "cadenza_loop_lag_max_seconds", "gauge",
                        "The longest the loop's probe timer was late since the start");
    if (r >= 0)
        r = prom_sample(&b, "cadenza_loop_lag_max_seconds", NULL, 0, lag.max);
    if (r >= 0)
        r = worker_metrics(sv->worker, &b);
    if (r >= 0)
        r = drain_metrics(sv->drainer, &b);
    if (r >= 0)
        r = api_metrics(sv, &b);
    if (r >= 0)
        r = sched_metrics(sv->sched, &b);
    if (r >= 0)
        r = webhooks_metrics(sv, &b);
    if (r >= 0)
        r = http_metrics(sv->http, &b);
    if (r >= 0)
        r = selfservice_metrics(sv->ss, &b);
    if (r < 0)
        http_reply_error(req, 500, "out of memory");
    else
        http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.buf, b.len);
    sbuf_release(&b);
}

/* ---- POST /v1/outcomes (docs/api.md) ----------------------------------- */

void api_req_free(struct api_req *a)
{
    for (size_t i = 0; a->dedupe && i < a->batch.n; i++)
        free(a->dedupe[i]);
    free(a->dedupe);
    if (a->batch.v == &a->one || a->hooked)
        a->batch.v = NULL; /* ours or the caller's, not parsed */
    api_batch_release(&a->batch);
    sbuf_release(&a->err);
    serve_set_unref(a->set);
    free(a);
}

enum { API_200, API_400, API_401, API_422, API_503, API_OTHER };

static void api_reply(struct serve *sv, struct evhttp_request *req, int code, const char *body)
{
    int k = code == 200 ? API_200 : code == 400 ? API_400 : code == 401 ? API_401
          : code == 413 || code == 422 ? API_422 : code == 503 ? API_503 : API_OTHER;
    sv->api_requests[k]++;
    http_reply(req, code, "application/json", body, strlen(body));
}

static void api_error(struct serve *sv, struct evhttp_request *req, int code, const char *msg)
{
    struct sbuf b = SBUF_INIT;
    if (sbuf_adds(&b, "{\"error\":") >= 0 && sbuf_add_json_str(&b, msg, strlen(msg)) >= 0 &&
        sbuf_adds(&b, "}\n") >= 0)
        api_reply(sv, req, code, b.buf);
    else
        api_reply(sv, req, 500, "{}\n");
    sbuf_release(&b);
}

/* The client went away before the answer: forget its request. */
static void api_conn_closed(struct evhttp_connection *conn, void *arg)
{
    struct api_req *a = arg;
    (void)conn;
    a->req = NULL;
}

/* In the writer thread: check and store every record, or none. */
int api_req_store(struct writer_ctx *c, void *arg)
{
    struct api_req *a = arg;
    struct ingest_ctx *x = NULL;
    struct ingest_prepared *p = calloc(a->batch.n, sizeof(*p));
    struct store_outcome *o = calloc(a->batch.n, sizeof(*o));
    uint8_t *added = calloc(a->batch.n, 1);
    a->dedupe = calloc(a->batch.n, sizeof(*a->dedupe));
    struct sbuf e = SBUF_INIT;
    int r = -ENOMEM;
    if (!p || !o || !added || !a->dedupe ||
        ingest_ctx_new(a->set->cfg, c->store, c->now, a->source, &x) < 0)
        goto out;
    if (a->hooked && a->hooks.before && (r = a->hooks.before(c, a->hooks.arg)) < 0)
        goto out;
    for (size_t i = 0; i < a->batch.n; i++) {
        sbuf_reset(&e);
        if ((r = ingest_prepare(x, &a->batch.v[i].row, &p[i], &e)) < 0)
            goto out;
        if (e.len) {
            sbuf_addf(&a->err, "%soutcomes[%zu] (event '%s'): %s", a->err.len ? "; " : "", i,
                      a->batch.v[i].event_id, e.buf);
            continue;
        }
        if (!(a->dedupe[i] = strdupf("%s:%s", a->source, a->batch.v[i].event_id))) {
            r = -ENOMEM;
            goto out;
        }
        o[i] = p[i].o;
        o[i].attempt_key = p[i].attempt_key[0] ? p[i].attempt_key : NULL;
        if (a->dlr_attempt > 0)
            o[i].attempt_id = a->dlr_attempt; /* looked up by dlr_store() */
        o[i].dedupe_key = a->dedupe[i];
    }
    if (a->err.len) {
        r = -EINVAL; /* nothing of the request is stored */
        goto out;
    }
    if ((r = store_outcomes_add(c->store, o, a->batch.n, added)) < 0)
        goto out;
    for (size_t i = 0; i < a->batch.n; i++) {
        if (!added[i]) {
            a->duplicates++;
            continue;
        }
        a->stored++;
        const struct ingest_row *row = &a->batch.v[i].row;
        /* news the strategy reacts to: re-plan the debtor once the group committed */
        if (outcome_reaction((enum outcome_code)p[i].o.code) >= 0 &&
            p[i].o.at >= c->now - INGEST_STOP_SECONDS &&
            (r = writer_replan(c, p[i].o.debtor_id, p[i].o.at)) < 0)
            goto out;
        if (p[i].stops) {
            char id[256];
            snprintf(id, sizeof(id), "%.*s", (int)row->flen[INGEST_DEBTOR_ID],
                     row->f[INGEST_DEBTOR_ID]);
            if ((r = writer_stop_marker(c, id,
                                        outcome_stop_reason((enum outcome_code)p[i].o.code),
                                        c->now + INGEST_STOP_SECONDS)) < 0)
                goto out;
        }
    }
    r = a->hooked && a->hooks.after ? a->hooks.after(c, a->hooks.arg, added) : 0;
out:
    ingest_ctx_free(x);
    sbuf_release(&e);
    free(p);
    free(o);
    free(added);
    return r;
}

/* On the loop, after the group committed. */
static void api_done(void *arg, int r)
{
    struct api_req *a = arg;
    struct serve *sv = a->sv;
    if (a->hooked) {
        if (a->req)
            evhttp_connection_set_closecb(evhttp_request_get_connection(a->req), NULL, NULL);
        a->hooks.done(a->hooks.arg, a->req, r, a->err.buf, a->stored, a->duplicates);
        api_req_free(a);
        return;
    }
    if (a->req) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(a->req), NULL, NULL);
        if (r == 0) {
            char body[96];
            snprintf(body, sizeof(body), "{\"stored\":%zu,\"duplicates\":%zu}\n", a->stored,
                     a->duplicates);
            api_reply(sv, a->req, 200, body);
        } else if (r == -EINVAL)
            api_error(sv, a->req, 422, a->err.buf ? a->err.buf : "invalid outcomes");
        else
            api_error(sv, a->req, 503, "the store cannot take outcomes now; retry later");
    }
    api_req_free(a);
}

/* A request for the store writer, holding a reference to the set in force. */
struct api_req *api_req_new(struct serve *sv, struct evhttp_request *req, const char *source)
{
    struct api_req *a = calloc(1, sizeof(*a));
    if (!a) {
        api_error(sv, req, 503, "out of memory");
        return NULL;
    }
    a->sv = sv;
    a->req = req;
    a->source = source;
    a->set = sv->set;
    sv->set->refs++;
    return a;
}

/*
 * Make a's only record: event id strings[0], outcome, attempted now (the
 * caller fills the other fields).
 */
struct ingest_row *api_req_one(struct api_req *a, const char *outcome)
{
    struct tm tm;
    gmtime_r(&(time_t){ time(NULL) }, &tm);
    strftime(a->strings[1], sizeof(a->strings[1]), "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct ingest_row *row = &a->one.row;
    a->one.event_id = a->strings[0];
    row->f[INGEST_OUTCOME] = outcome;
    row->flen[INGEST_OUTCOME] = strlen(outcome);
    row->f[INGEST_ATTEMPTED_AT] = a->strings[1];
    row->flen[INGEST_ATTEMPTED_AT] = strlen(a->strings[1]);
    a->batch.v = &a->one;
    a->batch.n = 1;
    return row;
}

/* Hand a to the store writer; api_done() answers once its group committed. */
void api_req_submit(struct api_req *a, writer_fn fn)
{
    if (writer_submit(a->sv->writer, fn, api_done, a) < 0) {
        api_error(a->sv, a->req, 503, "shutting down");
        api_req_free(a);
        return;
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(a->req), api_conn_closed, a);
}

const struct config *serve_config(struct serve *sv, const struct strategy_set **ret_set)
{
    if (ret_set)
        *ret_set = sv->set->strategies;
    return sv->set->cfg;
}

struct store *serve_store(struct serve *sv)
{
    return sv->store;
}

int serve_outcomes_submit(struct serve *sv, struct evhttp_request *req,
                          const struct serve_outcomes *o)
{
    struct api_req *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->sv = sv;
    a->req = req;
    a->source = o->source;
    a->set = sv->set;
    sv->set->refs++;
    a->hooks = *o;
    a->hooked = true;
    a->batch.v = o->records;
    a->batch.n = o->n;
    int r = writer_submit(sv->writer, api_req_store, api_done, a);
    if (r < 0) {
        api_req_free(a);
        return r;
    }
    if (req)
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), api_conn_closed, a);
    return 0;
}

static void route_outcomes(struct evhttp_request *req, const char *path, void *ud)
{
    struct serve *sv = ud;
    const struct api_conf *ac = sv->set->cfg->api;
    (void)path;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    const char *sig = evhttp_find_header(evhttp_request_get_input_headers(req),
                                         API_SIGNATURE_HEADER);
    const char *why = NULL;
    if (!ac || !ac->nkeys) {
        api_error(sv, req, 404, "the outcome API is not configured (api.keys)");
        return;
    }
    if (api_verify(ac, sig, body, len, (int64_t)time(NULL), &why) < 0) {
        api_error(sv, req, 401, why ? why : "signature check failed");
        return;
    }
    struct api_req *a = api_req_new(sv, req, "api");
    if (!a)
        return;
    struct sbuf e = SBUF_INIT;
    int r = api_parse_outcomes(ac, body, len, &a->batch, &e);
    if (r < 0) {
        api_error(sv, req, r == -EBADMSG ? 400 : r == -EINVAL ? 422 : 503,
                  e.buf ? e.buf : "out of memory");
        sbuf_release(&e);
        api_req_free(a);
        return;
    }
    sbuf_release(&e);
    api_req_submit(a, api_req_store);
}

/*
 * <base_url>/s/<token> with an unsubscribe token (the e-mail's
 * List-Unsubscribe link): POST "List-Unsubscribe=One-Click" (RFC 8058)
 * opts the debtor out of e-mail, once however often it is posted, and
 * answers 200 without a redirect; GET shows a page with that button and
 * changes nothing.  Other actions belong to the self-service page.
 */
static void route_link(struct evhttp_request *req, const char *path, void *ud)
{
    struct serve *sv = ud;
    const struct config *cfg = sv->set->cfg;
    const char *token = path + strlen("/s/");
    struct link_claims cl;
    int64_t now = (int64_t)time(NULL);
    if (!cfg->links) {
        http_reply_error(req, 404, "self-service links are not configured");
        return;
    }
    int r = link_verify(cfg->links, token, strlen(token), now, &cl);
    if (r < 0 || cl.action != LINK_UNSUBSCRIBE || !cl.debtor_id[0]) {
        /* every other link (and every link that does not verify) is the page's */
        selfservice_route(sv->ss, req, token);
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        static const char page[] =
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width\">"
            "<title>Unsubscribe</title><main><h1>Stop these e-mails?</h1>"
            "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
            "value=\"One-Click\"><button>Unsubscribe</button></form></main></html>\n";
        http_reply(req, 200, "text/html; charset=utf-8", page, sizeof(page) - 1);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (!memmem(body, len, "List-Unsubscribe=One-Click", 26)) {
        http_reply_error(req, 400, "expected the form field List-Unsubscribe=One-Click");
        return;
    }
    struct api_req *a = api_req_new(sv, req, "unsubscribe");
    if (!a)
        return;
    /* one opt-out per attempt's link */
    snprintf(a->strings[0], sizeof(a->strings[0]), "%" PRId64, cl.attempt_id);
    struct ingest_row *row = api_req_one(a, "opt_out");
    snprintf(a->debtor, sizeof(a->debtor), "%s", cl.debtor_id); /* cl is on this stack */
    row->f[INGEST_DEBTOR_ID] = a->debtor;
    row->flen[INGEST_DEBTOR_ID] = strlen(a->debtor);
    row->f[INGEST_CHANNEL] = "email";
    row->flen[INGEST_CHANNEL] = 5;
    api_req_submit(a, api_req_store);
}


static int api_metrics(struct serve *sv, struct sbuf *b)
{
    static const char *const codes[] = { "200", "400", "401", "422", "503", "other" };
    struct writer_stats st;
    writer_stats_get(sv->writer, &st);
    int r = prom_family(b, "cadenza_api_outcome_requests_total", "counter",
                        "Outcome requests by answer: the API, and callbacks once stored (422 includes 413)");
    for (size_t i = 0; i < ELEMENTSOF(codes) && r >= 0; i++) {
        struct prom_label l = { "code", codes[i] };
        r = prom_sample(b, "cadenza_api_outcome_requests_total", &l, 1,
                        (double)sv->api_requests[i]);
    }
    if (r >= 0)
        r = prom_family(b, "cadenza_store_commit_seconds", "histogram",
                        "Group commits of the store writer: begin, the requests, commit");
    if (r >= 0)
        r = prom_histogram(b, "cadenza_store_commit_seconds", NULL, 0, st.commit.bounds,
                           st.commit.buckets, st.commit.n, st.commit.count, st.commit.sum);
    if (r >= 0)
        r = prom_family(b, "cadenza_stop_markers_total", "counter",
                        "Stop markers set for news that arrived through the API, by result");
    if (r >= 0) {
        struct prom_label l = { "result", "set" };
        r = prom_sample(b, "cadenza_stop_markers_total", &l, 1, (double)st.stops_set);
    }
    if (r >= 0) {
        struct prom_label l = { "result", "failed" };
        r = prom_sample(b, "cadenza_stop_markers_total", &l, 1, (double)st.stops_failed);
    }
    return r;
}

/* ---- the operations endpoints: bearer token (api.bearer_token_*) ------- */

/* Is the request allowed?  Answers 404 (no token configured) or 401 itself when not. */
static bool bearer_ok(struct serve *sv, struct evhttp_request *req)
{
    const struct api_conf *ac = sv->set->cfg->api;
    if (!ac || !ac->has_bearer) {
        http_reply_error(req, 404, "not configured (api.bearer_token_file or bearer_token_env)");
        return false;
    }
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!api_bearer_ok(ac, h)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"cadenza\"");
        http_reply_error(req, 401, h ? "the bearer token does not match"
                                     : "no bearer token (Authorization: Bearer <token>)");
        return false;
    }
    return true;
}

/*
 * POST /v1/runs [{"date": "YYYY-MM-DD"}]: the campaign run of a date
 * (default: today in serve.time_zone), started now in the scheduler's
 * thread.  202 when it started, 409 while a run is under way.
 */
static void route_runs(struct evhttp_request *req, const char *path, void *ud)
{
    struct serve *sv = ud;
    (void)path;
    if (!bearer_ok(sv, req))
        return;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    int32_t date = 0;
    if (len) {
        json_error_t je;
        json_t *j = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &je);
        json_t *d = json_is_object(j) ? json_object_get(j, "date") : NULL;
        const char *ds = json_string_value(d);
        bool bad = true;
        if (!j)
            http_reply_error(req, 400, "invalid JSON at line %d, column %d: %s", je.line,
                             je.column, je.text);
        else if (!json_is_object(j) || json_object_size(j) > (d ? 1u : 0u))
            http_reply_error(req, 422, "expected an object with at most a 'date'");
        else if (d && (!ds || parse_date(ds, strlen(ds), &date) < 0))
            http_reply_error(req, 422, "date: expected YYYY-MM-DD");
        else
            bad = false;
        json_decref(j);
        if (bad)
            return;
    }
    int32_t got = 0;
    char day[11], body[96];
    int r = sched_run_now(sv->sched, date, "on demand", &got);
    format_date(got, day);
    if (r == 0) {
        int n = snprintf(body, sizeof(body), "{\"run\":\"started\",\"date\":\"%s\"}\n", day);
        http_reply(req, 202, "application/json", body, (size_t)n);
    } else if (r == -EBUSY) {
        int n = snprintf(body, sizeof(body),
                         "{\"error\":\"a run is under way\",\"date\":\"%s\"}\n", day);
        http_reply(req, 409, "application/json", body, (size_t)n);
    } else
        http_reply_error(req, 503, r == -ESHUTDOWN ? "stopping" : "cannot start a run now");
}

/*
 * GET /v1/debtors/{id}[?limit=N]: the debtor's timeline (timeline.h).
 * Read on the loop's own store connection: a handful of indexed reads
 * with a LIMIT in one WAL snapshot, which never waits for a writer
 * (docs/decisions.md).
 */
static void route_debtor(struct evhttp_request *req, const char *path, void *ud)
{
    struct serve *sv = ud;
    if (!bearer_ok(sv, req))
        return;
    const char *raw = path + strlen("/v1/debtors/");
    size_t n = 0;
    char *id = *raw && !strchr(raw, '/') ? evhttp_uridecode(raw, 0, &n) : NULL;
    long limit = TIMELINE_LIMIT_DEFAULT;
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (qs && evhttp_parse_query_str(qs, &q) == 0) {
        const char *l = evhttp_find_header(&q, "limit");
        char *end = NULL;
        if (l) {
            limit = strtol(l, &end, 10);
            if (!*l || *end || limit < 1 || limit > TIMELINE_LIMIT_MAX)
                limit = -1;
        }
    }
    evhttp_clear_headers(&q);
    if (!id || !n || n > 160 || strlen(id) != n) {
        http_reply_error(req, 400, "expected /v1/debtors/<debtor id>");
        free(id);
        return;
    }
    if (limit < 0) {
        http_reply_error(req, 400, "limit: expected 1 to %d", TIMELINE_LIMIT_MAX);
        free(id);
        return;
    }
    struct sbuf b = SBUF_INIT;
    int r = timeline_json(sv->store, sv->zones, id, (int)limit, &b);
    if (r == 0)
        http_reply(req, 200, "application/json", b.buf, b.len);
    else if (r == -ENOENT)
        http_reply_error(req, 404, "no debtor with that id");
    else
        http_reply_error(req, 503, "the store cannot answer now: %s",
                         r == -ENOMEM ? "out of memory" : store_errmsg(sv->store));
    sbuf_release(&b);
    free(id);
}

/* ---- news for the scheduler, from the writer and drain threads --------- */

static void writer_replan_cb(void *ud, const int64_t *ids, const int64_t *at, size_t n)
{
    sched_replan(ud, ids, at, n, SCHED_OUTCOME);
}

static void drain_news_cb(void *ud, int64_t attempt_id, enum attempt_status st)
{
    (void)st;
    sched_replan_attempt(ud, attempt_id);
}

/* ---- putting it together --------------------------------------------- */

static const struct loop_ops serve_loop_ops = { on_stop, on_reload, on_user1 };

int serve_run(const struct serve_opts *o)
{
    struct serve sv = { .o = o, .exit_code = EXIT_OK, .started = (int64_t)time(NULL) };
    int ex = EXIT_RUNTIME, r;

    if (!(sv.set = set_load(o)))
        return EXIT_DATA;
    const struct config *cfg = sv.set->cfg;
    const char *listen = o->listen ? o->listen : cfg->http_listen;
    char err[512];
    if (isempty(cfg->store_path)) {
        log_error("no store configured (store, --store or CADENZA_STORE)");
        ex = EXIT_USAGE;
        goto out;
    }
    if ((r = store_open(cfg->store_path, 0, &sv.store, err, sizeof(err))) < 0) {
        log_error("cannot open the store '%s': %s", cfg->store_path, err);
        goto out;
    }
    if ((r = loop_new(&serve_loop_ops, &sv, &sv.loop)) < 0 ||
        (r = curlm_new(loop_base(sv.loop), &sv.curlm)) < 0) {
        log_error_errno(r, "cannot set up the event loop: %m");
        goto out;
    }
    struct http_opts ho = { .listen = listen };
    if ((r = http_new(loop_base(sv.loop), &ho, &sv.http)) < 0) {
        if (r == -EINVAL)
            log_error("invalid listen address '%s' (expected HOST:PORT or [V6]:PORT)",
                      listen ? listen : "");
        else
            log_error_errno(r, "cannot listen on '%s': %m", listen);
        ex = r == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
        goto out;
    }
    if (http_route(sv.http, "healthz", HTTP_GET | HTTP_HEAD, "/healthz", false, route_healthz,
                   &sv) < 0 ||
        http_route(sv.http, "readyz", HTTP_GET | HTTP_HEAD, "/readyz", false, route_readyz,
                   &sv) < 0 ||
        http_route(sv.http, "metrics", HTTP_GET, "/metrics", false, route_metrics, &sv) < 0 ||
        http_route(sv.http, "outcomes", HTTP_POST, "/v1/outcomes", false, route_outcomes,
                   &sv) < 0 ||
        http_route(sv.http, "link", HTTP_GET | HTTP_HEAD | HTTP_POST, "/s/", true, route_link,
                   &sv) < 0 ||
        http_route(sv.http, "runs", HTTP_POST, "/v1/runs", false, route_runs, &sv) < 0 ||
        http_route(sv.http, "debtors", HTTP_GET, "/v1/debtors/", true, route_debtor, &sv) < 0 ||
        webhooks_routes(&sv, sv.http) < 0 || !(sv.zones = tz_cache_new())) {
        log_error("out of memory");
        goto out;
    }
    struct sched_opts sco = {
        .store_path = cfg->store_path,
        .redis_url = sv.set->wopts.redis_url,
        .prefix = sv.set->wopts.prefix,
        .redis_timeout_ms = sv.set->wopts.redis_timeout_ms,
    };
    if ((r = sched_new(loop_base(sv.loop), &sco, &sv.sched)) < 0) {
        log_error_errno(r, "cannot start the scheduler: %m");
        goto out;
    }
    struct drainer_opts dop = {
        .store_path = cfg->store_path,
        .redis_url = sv.set->wopts.redis_url,
        .prefix = sv.set->wopts.prefix,
        .redis_timeout_ms = sv.set->wopts.redis_timeout_ms,
        .on_news = drain_news_cb,
        .ud = sv.sched,
    };
    if ((r = drainer_start(&dop, &sv.drainer)) < 0) {
        log_error_errno(r, "cannot start the results drain: %m");
        goto out;
    }
    struct writer_opts wro = {
        .store_path = cfg->store_path,
        .redis_url = sv.set->wopts.redis_url,
        .prefix = sv.set->wopts.prefix,
        .redis_timeout_ms = sv.set->wopts.redis_timeout_ms,
        .on_replan = writer_replan_cb,
        .ud = sv.sched,
    };
    if ((r = writer_new(loop_base(sv.loop), &wro, &sv.writer)) < 0) {
        log_error_errno(r, "cannot start the store writer: %m");
        goto out;
    }
    if ((r = selfservice_new(&sv, &sv.ss)) < 0 ||
        http_route(sv.http, "payment", HTTP_POST, "/webhooks/payment", false,
                   selfservice_route_payment, sv.ss) < 0) {
        log_error("out of memory");
        goto out;
    }
    if ((r = start_worker(&sv)) < 0) {
        ex = r == -EINVAL ? EXIT_DATA : EXIT_RUNTIME;
        goto out;
    }
    sched_use_set(&sv); /* timers start: the daily run, the broken-promise check */
    log_info("serving %zu channel(s), listening on %s (port %u), pid %d", cfg->nchannels,
             listen, http_port(sv.http), (int)getpid());
    loop_notify(sv.loop, "READY=1\nSTATUS=serving %zu channel(s)", cfg->nchannels);
    if (loop_run(sv.loop) < 0) {
        log_error("the event loop failed");
        goto out;
    }
    ex = sv.exit_code;
out:
    http_free(sv.http);       /* no new request from here on */
    sv.http = NULL;
    writer_free(sv.writer);   /* answers (or drops) the requests in flight */
    selfservice_free(sv.ss);  /* after the writer: its requests hold the page's state */
    worker_free(sv.worker);
    drainer_stop(sv.drainer); /* after the worker: its last results go in too */
    sched_free(sv.sched);     /* after the writer and the drain, which tell it news */
    tz_cache_free(sv.zones);
    http_free(sv.http);
    curlm_free(sv.curlm); /* after the worker: its channels cancel their requests first */
    loop_free(sv.loop);
    store_free(sv.store);
    set_free(sv.next);
    set_free(sv.set);
    return ex;
}
