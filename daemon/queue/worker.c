/*
 * worker.c - the dispatcher: a component on its caller's libevent loop
 * with one non-blocking Redis connection (queue.c) and one pump per
 * channel; `cadenza worker` runs one on a loop of its own.
 *
 * Nothing polls: the worker acts on its Redis replies and its channels'
 * completions, and each of those ends by asking for one service pass
 * (kick()).  The pass (on_wake()) renews, retries, leases and checks
 * the stop and idle conditions, then arms one timer at the earliest
 * deadline left: a lease due (pacing, rate limit, an idle queue polled
 * with a growing interval), a lease to renew, a settle to retry, the
 * idle or stop timeout.  Callbacks never call it directly, so it never
 * runs inside another callback.
 *
 * Per batch (all through queue.c):
 *   LEASE ──► parse payloads ──► CHECK (done markers, stop markers)
 *     ──► time re-check ──► fence ──► channel send ──► flush ──► FINISH
 *                            └─ lease close to lapsing: RENEW first
 * Several batches per channel are in flight at once (up to concurrency
 * jobs); outcomes collect in a buffer settled by one FINISH call.
 * A batch that is still unsettled when half its visibility timeout has
 * passed (a slow channel, a stalled process) renews its leases in one
 * fenced RENEW; a fast batch never does.
 *
 * Owns the channel instances and the outcome buffers.  Never opens the
 * store.  Logs (it is an edge): connection trouble and per-job problems.
 *
 * Invariants:
 *  1. A job is sent only after its check found no done marker and no
 *     stop marker (a notice, job.h, is sent despite one), and the time
 *     re-check said JOB_SEND_NOW.
 *  2. FINISH for a send is issued only after channel_flush() returned 0
 *     (the send is durable before the ack).
 *  3. An outcome stays buffered until FINISH succeeded; a lost
 *     connection re-sends it after reconnecting (FINISH is idempotent).
 *  4. Malformed payloads, missing payloads and jobs of another channel
 *     become dead letters with the reason; nothing from Redis can crash
 *     the loop.
 *  5. On SIGTERM no new lease is taken; the loop exits when every
 *     leased job is settled.
 *  7. Failover: a channel with a fallback counts transient failures in a
 *     row; at breaker_failures its breaker opens and its jobs go through
 *     the fallback's instance for breaker_cooldown_ms, then one job probes
 *     the channel (half open): a probe that is not a transient failure
 *     closes the breaker, a transient one opens it again.
 *
 *        CLOSED ──N transient failures──► OPEN ──cooldown──► PROBING
 *          ▲                               ▲                    │
 *          └────────── probe answered ─────┼────────────────────┘
 *                                          └── probe failed ────┘
 *  6. Fencing: a job is handed to the channel only while its batch's
 *     leases have more than the margin left by the monotonic clock,
 *     counted from before the LEASE/RENEW request was written (so
 *     never later than Redis's own expiry); past that, only after a
 *     RENEW confirmed them.  A job whose lease a RENEW found gone is
 *     never sent and gets no outcome.  FINISH carries the batch's
 *     current token and is not issued while a RENEW is in flight.
 */
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "channel.h"
#include "config.h"
#include "curlm.h"
#include "job.h"
#include "log.h"
#include "link.h"
#include "queue.h"
#include "template.h"
#include "tz.h"
#include "worker.h"

struct outcome {
    char *id;
    enum queue_action action;
    char *status;
    char *info;
    int64_t due_ms;
};

struct obuf {
    struct outcome *v;
    size_t n, cap;
};

struct worker;
struct wbatch;

struct wchan {
    struct worker *w;
    const struct channel_conf *conf;
    struct channel *ch;
    int inflight;          /* leased and not yet settled */
    int leasing;           /* lease calls in flight */
    int reserved;          /* jobs those calls asked for */
    bool idle;             /* the last lease found no work anywhere */
    int64_t next_lease_ms;    /* wall clock: no lease before this */
    int64_t poll_ms;          /* the interval an empty queue is polled at (grows) */
    int64_t retry_at;         /* monotonic ms: settle the retry list then */
    struct wbatch *retry;  /* batches whose flush or FINISH must be retried */
    int finishing;         /* FINISH calls in flight */
    uint64_t sent, failed, retried, dead, cancelled;
    /* failover (invariant 7): the fallback instance and this channel's breaker */
    struct channel *fb;       /* the fallback's instance, or NULL */
    struct channel *fb_own;   /* ... when this worker does not serve the fallback itself */
    enum { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_PROBING } breaker;
    int consecutive;          /* transient failures in a row through this channel */
    int64_t open_until;       /* monotonic ms */
    bool probing;             /* the half-open probe is in flight */
    uint64_t via_fallback, breaker_opened;
};

struct wjob {
    char *id;
    struct job job;
    int tries;
    bool redelivered;
    bool done;             /* re-check: the attempt has a done marker */
    char *stop;            /* re-check: the debtor's stop reason, or NULL */
    bool lost;             /* a renew found its lease gone: not ours to send */
    bool in_renew;         /* named in the RENEW in flight */
};

struct send_ctx {
    struct wbatch *b;
    size_t i;
    bool via_fallback; /* sent through the fallback's instance */
    bool probe;        /* the half-open probe of the breaker */
};

/*
 * A leased batch, from LEASE to its FINISH.  Every leased job ends as
 * exactly one outcome in out, or is lost (its lease lapsed before it was
 * sent, or OOM): then it is left to whoever holds its lease now.
 *
 * Fencing: the batch holds its leases with token, valid until about
 * issued + visibility timeout (monotonic clock; issued is taken before
 * the LEASE or RENEW request is written, so Redis's expiry is never
 * earlier).  Past renew_at (= that minus the margin) no job of the batch
 * is handed to the channel until a RENEW confirmed the leases, and the
 * tick renews every active batch whose renew_at passed (invariant 6).
 */
struct wbatch {
    struct wchan *wc;
    struct wjob *jobs;     /* parsed ones only */
    struct send_ctx *sc;   /* one per job, for asynchronous channels */
    size_t n;
    size_t pos;            /* jobs[0..pos) are decided (outcome, sent, or lost) */
    size_t unsettled;      /* leased jobs without an outcome yet */
    size_t sending;        /* handed to the channel, not answered yet */
    struct obuf out;
    size_t npre;           /* out.v[0..npre): dead letters found while parsing */
    bool flushed;          /* channel_flush() done for its sends */
    int64_t token;         /* fencing token of the leases (lease score) */
    int64_t renew_at;      /* monotonic ms: renew before sending past this */
    int64_t renew_issued;  /* monotonic ms when the RENEW in flight was written */
    bool renewing;         /* a RENEW is in flight */
    bool paused;           /* batch_run() stopped for a renew; resumed later */
    bool running;          /* inside batch_run() */
    bool checked;          /* the re-check answers are in (done, stop) */
    bool renew_warned;     /* a failed RENEW was logged */
    bool active;           /* in w->active (leases to keep until FINISH is issued) */
    bool in_retry;         /* in wc->retry */
    struct wbatch *next;   /* in wc->retry */
    struct wbatch *aprev, *anext; /* in w->active */
};

struct worker {
    const struct worker_opts *o;
    struct event_base *base;
    struct curlm *curlm;   /* the channels' HTTP and SMTP requests */
    struct template_set *templates; /* rendered at send time (jobs stay small) */
    struct tz_cache *tzc;
    struct queue_async *qa;
    struct wchan *chans;
    size_t nchans;
    struct curlm *own_curlm; /* when the caller gave none */
    struct event *wake;    /* the service pass: kicked, or at the next deadline */
    bool stopping;
    bool finished;         /* on_finished was called (or the worker is being freed) */
    int64_t stop_deadline; /* monotonic ms: exit by then, settled or not */
    int64_t down_since;    /* monotonic ms: redis unreachable since (0: connected) */
    int64_t idle_since;
    bool was_connected;
    unsigned failed_attempts;
    struct wbatch *active; /* batches holding leases, until FINISH is issued */
    int renewing;          /* RENEW calls in flight */
    int64_t fence_next;    /* earliest renew_at of an active batch not renewing */
    int64_t renew_retry_at; /* monotonic ms: a failed RENEW is tried again then */
    int64_t margin_ms;     /* stop sending this long before a lease may lapse */
};

#define LEASE_DEPTH 3        /* lease calls in flight per channel */
#define RENEW_RETRY_MS 50    /* a RENEW that failed is issued again after this */
#define SETTLE_RETRY_MS 100  /* a flush or FINISH that failed is tried again after this */
#define POLL_MIN_MS 20       /* an empty queue is polled after this... */
#define POLL_MAX_MS 250      /* ...doubling up to this while it stays empty */

/* Ask for one service pass in this loop iteration (however many ask). */
static void kick(struct worker *w)
{
    if (!w->finished)
        event_active(w->wake, EV_TIMEOUT, 1);
}



static void obuf_release(struct obuf *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].id);
        free(b->v[i].status);
        free(b->v[i].info);
    }
    free(b->v);
    memset(b, 0, sizeof(*b));
}

/* ---- fencing: the active list ---------------------------------------- */

static void fence_add(struct worker *w, struct wbatch *b)
{
    b->active = true;
    b->aprev = NULL;
    b->anext = w->active;
    if (w->active)
        w->active->aprev = b;
    w->active = b;
    if (b->renew_at < w->fence_next)
        w->fence_next = b->renew_at;
}

static void fence_remove(struct worker *w, struct wbatch *b)
{
    if (!b->active)
        return;
    if (b->aprev)
        b->aprev->anext = b->anext;
    else
        w->active = b->anext;
    if (b->anext)
        b->anext->aprev = b->aprev;
    b->active = false;
    b->aprev = b->anext = NULL;
    /* fence_next may now be early: the next fence_scan() recomputes it */
}

static void batch_free(struct wbatch *b)
{
    if (!b)
        return;
    if (b->wc) {
        fence_remove(b->wc->w, b);
        kick(b->wc->w);
    }
    for (size_t i = 0; i < b->n; i++) {
        free(b->jobs[i].id);
        free(b->jobs[i].stop);
        job_release(&b->jobs[i].job);
    }
    free(b->jobs);
    free(b->sc);
    obuf_release(&b->out);
    free(b);
}

static void batch_settle(struct wbatch *b);
static void batch_run(struct wbatch *b);

/* Buffer one outcome.  On OOM the job stays leased and comes back. */
static void add_outcome(struct wbatch *b, const char *id, enum queue_action a,
                        const char *status, const char *info, int64_t due_ms)
{
    struct wchan *wc = b->wc;
    struct obuf *o = &b->out;
    b->unsettled--;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        struct outcome *v = realloc(o->v, cap * sizeof(*v));
        if (!v) {
            log_error("[channel:%s] out of memory settling job '%s', it will be redelivered",
                      wc->conf->name, id);
            wc->inflight--;
            return;
        }
        o->v = v;
        o->cap = cap;
    }
    struct outcome *x = &o->v[o->n];
    x->id = strdup(id);
    x->status = strdup_or_null(status);
    x->info = strdup_or_null(info);
    if (!x->id || (status && !x->status) || (info && !x->info)) {
        free(x->id);
        free(x->status);
        free(x->info);
        wc->inflight--;
        return;
    }
    x->action = a;
    x->due_ms = due_ms;
    o->n++;
}

/* A job given up without an outcome: its lease (if still ours) lapses. */
static void job_lose(struct wbatch *b, struct wjob *j)
{
    j->lost = true;
    b->unsettled--;
    b->wc->inflight--;
}

/*
 * Settle when every job is decided and answered, no RENEW is in flight
 * (FINISH needs its token) and the batch is not waiting in wc->retry.
 */
static void batch_progress(struct wbatch *b)
{
    if (b->running || b->renewing || b->paused || b->in_retry || b->pos < b->n ||
        b->sending > 0)
        return;
    batch_settle(b);
}

static void on_renew(void *userdata, int err, int64_t token, const bool *held);

/* Issue a RENEW for every lease the batch still counts on.  0 or -errno. */
static int batch_renew(struct wbatch *b)
{
    struct wchan *wc = b->wc;
    struct worker *w = wc->w;
    size_t n = 0;
    if (!queue_async_connected(w->qa))
        return -ENOTCONN;
    const char **ids = calloc(b->npre + b->n + 1, sizeof(*ids));
    if (!ids)
        return -ENOMEM;
    for (size_t i = 0; i < b->npre; i++)
        ids[n++] = b->out.v[i].id;
    for (size_t i = 0; i < b->n; i++) {
        b->jobs[i].in_renew = !b->jobs[i].lost;
        if (b->jobs[i].in_renew)
            ids[n++] = b->jobs[i].id;
    }
    int r = -EINVAL;
    if (n > 0) {
        struct queue_renew_args a = {
            .channel = wc->conf->name,
            .token = b->token,
            .visibility_ms = w->o->visibility_ms,
            .now_ms = wall_ms(),
            .redis_clock = true,
        };
        b->renew_issued = mono_ms();
        r = queue_async_renew(w->qa, &a, ids, n, on_renew, b);
    }
    free(ids);
    if (r < 0)
        return r;
    b->renewing = true;
    w->renewing++;
    return 0;
}

/*
 * Renew every active batch whose renew_at passed (a failure, e.g. while
 * disconnected, is retried by the next scan) and recompute fence_next.
 */
static void fence_scan(struct worker *w, int64_t now)
{
    int64_t next = INT64_MAX;
    for (struct wbatch *b = w->active; b; b = b->anext) {
        if (b->renewing)
            continue;
        if (b->renew_at <= now) {
            if (batch_renew(b) == 0)
                continue;
            w->renew_retry_at = now + RENEW_RETRY_MS;
        }
        if (b->renew_at < next)
            next = b->renew_at;
    }
    w->fence_next = next;
}

/* After the last RENEW came back: batches that paused for it go on. */
static void resume_paused(struct worker *w)
{
    if (w->renewing > 0)
        return;
    struct wbatch *b = w->active;
    while (b) {
        struct wbatch *nb = b->anext; /* b may settle and leave the list */
        if (b->paused && !b->renewing) {
            b->paused = false;
            batch_run(b);
        }
        b = nb;
    }
}

static void on_renew(void *userdata, int err, int64_t token, const bool *held)
{
    struct wbatch *b = userdata;
    struct wchan *wc = b->wc;
    struct worker *w = wc->w;
    b->renewing = false;
    w->renewing--;
    if (err == -ECANCELED)
        return; /* shutting down */
    kick(w);
    if (err < 0) {
        /* still unconfirmed: renew_at stays past, a later pass asks again */
        if (err != -ECONNRESET && !b->renew_warned)
            log_warning("[channel:%s] cannot renew %zu leases: %s", wc->conf->name, b->n,
                        strerror(-err));
        b->renew_warned = true;
        w->fence_next = 0;
        w->renew_retry_at = mono_ms() + RENEW_RETRY_MS;
        if (!b->paused)
            batch_progress(b);
        resume_paused(w);
        return;
    }
    size_t k = b->npre, lost = 0, lost_sent = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct wjob *j = &b->jobs[i];
        if (!j->in_renew)
            continue;
        j->in_renew = false;
        if (!held[k++] && !j->lost) {
            if (i >= b->pos)
                job_lose(b, j);
            else
                lost_sent++;
            lost++;
        }
    }
    if (lost > lost_sent)
        log_warning("[channel:%s] %zu leases lapsed before their jobs were sent (worker too "
                    "slow for --visibility-timeout); left to their new holder",
                    wc->conf->name, lost - lost_sent);
    if (lost_sent)
        log_warning("[channel:%s] %zu jobs already handed to the channel lost their lease "
                    "(the worker stalled); a channel without idempotency keys may send them "
                    "twice", wc->conf->name, lost_sent);
    b->token = token;
    b->renew_at = b->renew_issued + w->o->visibility_ms - w->margin_ms;
    if (b->active && b->renew_at < w->fence_next)
        w->fence_next = b->renew_at;
    b->paused = false;
    batch_run(b); /* goes on, or settles (nothing when the re-check is not in yet) */
    resume_paused(w);
}

static int64_t backoff_ms(const struct worker_opts *o, int tries)
{
    int64_t d = o->retry_base_ms;
    for (int i = 0; i < tries && d < o->retry_max_ms; i++)
        d *= 2;
    if (d > o->retry_max_ms)
        d = o->retry_max_ms;
    /* equal jitter: half fixed, half random */
    return d / 2 + (int64_t)(random() % (d / 2 + 1));
}

/*
 * The message of a job, rendered from its template in the debtor's locale
 * with fresh signed links (template.c, link.c), and the debtor's
 * self-service link (the one-click unsubscribe URL on e-mail).  A job
 * without a template renders nothing: its channel sends what it needs.
 */
static int render(struct wchan *wc, const struct job *job, int64_t now,
                  struct template_parts *parts, char *url, size_t urllen)
{
    const struct config *cfg = wc->w->o->config;
    url[0] = 0;
    if (cfg->links) {
        struct sbuf b = SBUF_INIT;
        enum link_action a = wc->conf->kind == CHAN_EMAIL ? LINK_UNSUBSCRIBE : LINK_PREFERENCES;
        if (link_url(cfg->links, job->attempt_id, job->debtor_id, a, now, &b) == 0 && b.buf)
            snprintf(url, urllen, "%s", b.buf);
        sbuf_release(&b);
    }
    if (!job->template_name || !wc->w->templates)
        return 0;
    struct template_ctx ctx = {
        .links = cfg->links,
        .now = now,
        .tz = wc->w->tzc,
        .default_currency = cfg->default_currency,
        .creditor = cfg->business[CONFIG_CREDITOR],
        .agent_phone = cfg->business[CONFIG_AGENT_PHONE],
        .agent_name = cfg->business[CONFIG_AGENT_NAME],
        .business_name = cfg->business[CONFIG_BUSINESS_NAME],
    };
    return template_render_job(wc->w->templates, job, &ctx, parts, NULL);
}

/* Which instance sends the next job of wc (invariant 7); sets the ctx's flags. */
static struct channel *pick_instance(struct wchan *wc, struct send_ctx *sc, int64_t mono)
{
    sc->via_fallback = sc->probe = false;
    if (!wc->fb || wc->breaker == BREAKER_CLOSED)
        return wc->ch;
    if (wc->breaker == BREAKER_OPEN && mono >= wc->open_until && !wc->probing) {
        wc->breaker = BREAKER_PROBING;
        wc->probing = sc->probe = true;
        log_info("[channel:%s] circuit half open: probing with one job", wc->conf->name);
        return wc->ch;
    }
    sc->via_fallback = true;
    wc->via_fallback++;
    return wc->fb;
}

static void breaker_update(struct wchan *wc, const struct send_ctx *sc, bool transient)
{
    if (!wc->fb || sc->via_fallback)
        return;
    int64_t mono = mono_ms();
    const struct channel_conf *cc = wc->conf;
    if (sc->probe) {
        wc->probing = false;
        if (transient) {
            wc->breaker = BREAKER_OPEN;
            wc->open_until = mono + cc->breaker_cooldown_ms;
            log_warning("[channel:%s] probe failed: circuit open again, sending through '%s' "
                        "for %.1f s", cc->name, cc->fallback, cc->breaker_cooldown_ms / 1000.0);
        } else {
            wc->breaker = BREAKER_CLOSED;
            wc->consecutive = 0;
            log_notice("[channel:%s] probe answered: circuit closed, switching back from '%s'",
                       cc->name, cc->fallback);
        }
        return;
    }
    if (!transient) {
        wc->consecutive = 0;
        return;
    }
    if (++wc->consecutive >= cc->breaker_failures && wc->breaker == BREAKER_CLOSED) {
        wc->breaker = BREAKER_OPEN;
        wc->open_until = mono + cc->breaker_cooldown_ms;
        wc->breaker_opened++;
        log_warning("[channel:%s] circuit open after %d transient failures in a row: sending "
                    "through '%s' for %.1f s", cc->name, wc->consecutive, cc->fallback,
                    cc->breaker_cooldown_ms / 1000.0);
    }
}

static void on_sent(void *userdata, const struct chan_result *res)
{
    struct send_ctx *sc = userdata;
    struct wbatch *b = sc->b;
    struct wchan *wc = b->wc;
    const struct wjob *j = &b->jobs[sc->i];
    const struct worker_opts *o = wc->w->o;
    breaker_update(wc, sc, res->status == CZ_SEND_RETRY);
    switch (res->status) {
    case CZ_SEND_OK:
        wc->sent++;
        add_outcome(b, j->id, QUEUE_DONE, "sent", res->provider_id, 0);
        break;
    case CZ_SEND_RETRY:
        if (j->tries + 1 >= o->max_tries) {
            char msg[512];
            snprintf(msg, sizeof(msg), "gave up after %d tries: %s", j->tries + 1,
                     res->error ? res->error : "transient failure");
            wc->dead++;
            add_outcome(b, j->id, QUEUE_DEAD, NULL, msg, 0);
        } else {
            wc->retried++;
            /* the provider's Retry-After wins over our backoff when it is longer */
            int64_t wait = backoff_ms(o, j->tries);
            if (res->retry_after_ms > wait)
                wait = res->retry_after_ms;
            add_outcome(b, j->id, QUEUE_RETRY, "retry", res->error, wall_ms() + wait);
        }
        break;
    case CZ_SEND_FAILED:
    case CZ_SEND_INVALID_ADDRESS:
    case CZ_SEND_OPTED_OUT:
    default:
        wc->failed++;
        add_outcome(b, j->id, QUEUE_DONE, cz_send_status_to_string(res->status), res->error,
                    0);
        break;
    }
    b->sending--;
    batch_progress(b);
}

/*
 * May the batch hand a job to the channel now?  Only while its leases
 * have more than the margin left (invariant 6).  When a batch is due,
 * renew it (and every other due one) and stop.  While any RENEW is in
 * flight every batch stops too: a channel that blocks would keep the
 * loop from writing it to Redis in time.  Stopped batches go on when
 * the last RENEW is back (resume_paused()).  The common case costs a
 * clock read and two compares.
 */
static bool fence_ok(struct wbatch *b)
{
    struct worker *w = b->wc->w;
    if (w->renewing > 0) {
        b->paused = true;
        return false;
    }
    int64_t now = mono_ms();
    if (now < w->fence_next)
        return true;
    fence_scan(w, now);
    if (b->renewing)
        return false;
    if (now >= b->renew_at || w->renewing > 0) {
        b->paused = true; /* resumed by the RENEW replies or a service pass */
        return false;
    }
    return true;
}

/*
 * Decide the batch's jobs from b->pos on: skip, cancel, reschedule or
 * send (invariant 1); stops when the fence says to wait for a renew.
 */
static void batch_run(struct wbatch *b)
{
    struct wchan *wc = b->wc;
    if (b->running || b->renewing || !b->checked)
        return;
    b->running = true;
    int64_t now = wall_ms();
    while (b->pos < b->n) {
        struct wjob *j = &b->jobs[b->pos];
        int64_t next = 0;
        char msg[300];
        if (j->lost) {
            b->pos++;
            continue;
        }
        if (j->done) {
            b->pos++;
            add_outcome(b, j->id, QUEUE_SKIP, NULL, NULL, 0);
            continue;
        }
        if (j->stop && !j->job.notice) { /* a notice goes out because of a stop */
            snprintf(msg, sizeof(msg), "stopped: %s", j->stop);
            b->pos++;
            wc->cancelled++;
            add_outcome(b, j->id, QUEUE_CANCEL, "cancelled", msg, 0);
            continue;
        }
        switch (job_check_time(&j->job, now / 1000, &next)) {
        case JOB_EXPIRED:
            b->pos++;
            wc->cancelled++;
            add_outcome(b, j->id, QUEUE_CANCEL, "cancelled",
                        "expired: no allowed send time left", 0);
            continue;
        case JOB_WAIT:
            b->pos++;
            add_outcome(b, j->id, QUEUE_RESCHEDULE, NULL, NULL, next * 1000);
            continue;
        case JOB_SEND_NOW:
            break;
        }
        if (!fence_ok(b))
            break;
        size_t i = b->pos++;
        struct send_ctx *sc = &b->sc[i];
        struct chan_send_info info = { j->tries, j->redelivered };
        sc->b = b;
        sc->i = i;
        b->sending++;
        struct template_parts parts = { 0 };
        char url[1024];
        int r = render(wc, &j->job, now / 1000, &parts, url, sizeof(url));
        if (r < 0) {
            /* a template that cannot be rendered will not render on a retry either */
            snprintf(msg, sizeof(msg), "cannot render template '%s': %s",
                     j->job.template_name ? j->job.template_name : "", strerror(-r));
            on_sent(sc, &(struct chan_result){ CZ_SEND_FAILED, NULL, msg, 0 });
            continue;
        }
        info.subject = parts.subject;
        info.text = parts.text;
        info.html = parts.html;
        info.self_service_url = url[0] ? url : NULL;
        r = channel_send(pick_instance(wc, sc, mono_ms()), &j->job, &info, on_sent, sc);
        template_parts_release(&parts);
        if (r < 0) {
            snprintf(msg, sizeof(msg), "channel error: %s", strerror(-r));
            on_sent(sc, &(struct chan_result){ CZ_SEND_RETRY, NULL, msg, 0 });
        }
    }
    b->running = false;
    batch_progress(b);
}

static void on_check(void *userdata, int err, const bool *done, const char *const *stop)
{
    struct wbatch *b = userdata;
    struct wchan *wc = b->wc;
    if (err < 0) {
        /* leases stay in Redis and expire: the jobs come back */
        log_warning("[channel:%s] cannot re-check %zu jobs (%s), they will be redelivered",
                    wc->conf->name, b->n, strerror(-err));
        for (size_t i = 0; i < b->n; i++)
            if (!b->jobs[i].lost)
                job_lose(b, &b->jobs[i]);
        b->pos = b->n;
        b->checked = true;
        batch_progress(b); /* the dead letters found while parsing, if any */
        return;
    }
    b->checked = true;
    for (size_t i = 0; i < b->n; i++) {
        struct wjob *j = &b->jobs[i];
        j->done = done[i];
        if (stop[i] && !(j->stop = strdup(stop[i])))
            job_lose(b, j); /* OOM: comes back after its lease */
    }
    batch_run(b);
}

static void pump(struct wchan *wc);

struct lease_ctx {
    struct wchan *wc;
    int max;
    int64_t issued; /* monotonic ms, before the request was written */
};

static void on_lease(void *userdata, int err, const struct queue_lease_reply *r)
{
    struct lease_ctx *lc = userdata;
    struct wchan *wc = lc->wc;
    struct worker *w = wc->w;
    int64_t now = wall_ms();
    int64_t issued = lc->issued;
    wc->leasing--;
    wc->reserved -= lc->max;
    free(lc);
    if (err == -ECANCELED)
        return; /* shutting down */
    kick(w);
    if (err < 0) {
        if (err != -ECONNRESET)
            log_warning("[channel:%s] lease failed: %s", wc->conf->name, strerror(-err));
        wc->next_lease_ms = now + 200;
        return;
    }
    wc->idle = r->n == 0 && r->ready_left == 0 && r->leased_total == 0 && r->retrying == 0;
    if (r->n == 0) {
        /* nothing ready: poll again, less often the longer it stays so */
        wc->poll_ms = wc->poll_ms ? wc->poll_ms * 2 : POLL_MIN_MS;
        if (wc->poll_ms > POLL_MAX_MS)
            wc->poll_ms = POLL_MAX_MS;
        wc->next_lease_ms = now + (r->wait_ms > 0 ? r->wait_ms : wc->poll_ms);
        return;
    }
    wc->poll_ms = 0;
    if (r->wait_ms > 0)
        wc->next_lease_ms = now + r->wait_ms;
    else if (r->ready_left == 0)
        wc->next_lease_ms = now + 5; /* drained: do not spin on empty leases */
    wc->inflight += (int)r->n;
    struct wbatch *b = calloc(1, sizeof(*b));
    if (b) {
        b->jobs = calloc(r->n, sizeof(*b->jobs));
        b->sc = calloc(r->n, sizeof(*b->sc));
    }
    if (!b || !b->jobs || !b->sc) {
        batch_free(b);
        log_error("[channel:%s] out of memory, %zu jobs will be redelivered", wc->conf->name,
                  r->n);
        wc->inflight -= (int)r->n;
        return;
    }
    b->wc = wc;
    b->unsettled = r->n;
    b->token = r->token;
    b->renew_at = issued + w->o->visibility_ms - w->margin_ms;
    bool checked = true;
    for (size_t i = 0; i < r->n; i++) {
        const struct queue_leased *l = &r->jobs[i];
        char err_msg[300], msg[400];
        struct wjob *j = &b->jobs[b->n];
        if (!l->payload && l->done) {
            /* settled by an earlier holder, which dropped the payload */
            add_outcome(b, l->id, QUEUE_SKIP, NULL, NULL, 0);
            continue;
        }
        if (!l->payload) {
            snprintf(msg, sizeof(msg), "no payload for job '%.64s'", l->id);
            log_warning("[channel:%s] %s, dead-lettered", wc->conf->name, msg);
            wc->dead++;
            add_outcome(b, l->id, QUEUE_DEAD, NULL, msg, 0);
            continue;
        }
        if (job_parse(l->payload, l->payload_len, 0, &j->job, err_msg, sizeof(err_msg)) < 0) {
            snprintf(msg, sizeof(msg), "malformed job payload: %s", err_msg);
            log_warning("[channel:%s] job '%.64s': %s, dead-lettered", wc->conf->name, l->id,
                        msg);
            wc->dead++;
            add_outcome(b, l->id, QUEUE_DEAD, NULL, msg, 0);
            continue;
        }
        if (!streq(j->job.channel, wc->conf->name)) {
            snprintf(msg, sizeof(msg), "job for channel '%.64s' found in the queue of '%s'",
                     j->job.channel, wc->conf->name);
            job_release(&j->job);
            wc->dead++;
            add_outcome(b, l->id, QUEUE_DEAD, NULL, msg, 0);
            continue;
        }
        j->id = strdup(l->id);
        if (!j->id) {
            job_release(&j->job);
            wc->inflight--;
            b->unsettled--;
            continue;
        }
        j->tries = l->tries;
        j->redelivered = l->redelivered;
        /* the re-check that came with the lease counts only for this debtor */
        if (l->checked_debtor && streq(l->checked_debtor, j->job.debtor_id)) {
            j->done = l->done;
            if (l->stop && !(j->stop = strdup(l->stop))) {
                free(j->id);
                job_release(&j->job);
                wc->inflight--;
                b->unsettled--;
                continue;
            }
        } else
            checked = false;
        b->n++;
    }
    b->npre = b->out.n; /* only parse-time outcomes so far */
    fence_add(w, b);
    if (b->n == 0 || checked) {
        b->checked = true;
        batch_run(b);
    } else {
        const char **ids = calloc(b->n, sizeof(*ids));
        const char **debtors = calloc(b->n, sizeof(*debtors));
        int rr = ids && debtors ? 0 : -ENOMEM;
        for (size_t i = 0; rr == 0 && i < b->n; i++) {
            ids[i] = b->jobs[i].id;
            debtors[i] = b->jobs[i].job.debtor_id;
        }
        if (rr == 0)
            rr = queue_async_check(w->qa, ids, debtors, b->n, on_check, b);
        free(ids);
        free(debtors);
        if (rr < 0)
            on_check(b, rr, NULL, NULL);
    }
    pump(wc);
}

static void pump(struct wchan *wc)
{
    struct worker *w = wc->w;
    const struct worker_opts *o = w->o;
    while (!w->stopping && wc->leasing < LEASE_DEPTH && queue_async_connected(w->qa)) {
        int room = o->concurrency - wc->inflight - wc->reserved;
        int64_t now = wall_ms();
        if (room <= 0 || now < wc->next_lease_ms)
            return;
        /* a rate-limited channel leases one call at a time (tokens are shared),
         * and so does one whose queue was empty at the last look */
        if ((wc->conf->rate_limit > 0 || wc->poll_ms > 0) && wc->leasing > 0)
            return;
        struct lease_ctx *lc = malloc(sizeof(*lc));
        if (!lc) {
            wc->next_lease_ms = now + 200;
            return;
        }
        lc->wc = wc;
        lc->max = room < o->batch ? room : o->batch;
        lc->issued = mono_ms();
        struct queue_lease_args a = {
            .channel = wc->conf->name,
            .max = lc->max,
            .now_ms = now,
            .visibility_ms = o->visibility_ms,
            .rate = wc->conf->rate_limit,
            .burst = wc->conf->rate_limit > 1 ? wc->conf->rate_limit : 1,
            .redis_clock = true,
        };
        if (queue_async_lease(w->qa, &a, on_lease, lc) < 0) {
            free(lc);
            wc->next_lease_ms = now + 200;
            return;
        }
        wc->leasing++;
        wc->reserved += lc->max;
    }
}

static void retry_later(struct wbatch *b)
{
    struct wchan *wc = b->wc;
    if (!wc->retry)
        wc->retry_at = mono_ms() + SETTLE_RETRY_MS;
    b->in_retry = true;
    b->next = wc->retry;
    wc->retry = b;
    kick(wc->w);
}

static void on_finished(void *userdata, int err)
{
    struct wbatch *b = userdata;
    struct wchan *wc = b->wc;
    wc->finishing--;
    if (err < 0) {
        /* invariant 3: keep the outcomes and settle them again later */
        if (err != -ECONNRESET && err != -ECANCELED)
            log_warning("[channel:%s] settling %zu jobs failed: %s, retrying",
                        wc->conf->name, b->out.n, strerror(-err));
        if (err == -ECANCELED) {
            batch_free(b); /* shutting down: the leases expire */
            return;
        }
        retry_later(b);
        return;
    }
    wc->inflight -= (int)b->out.n;
    batch_free(b);
    pump(wc);
}

/*
 * Every job of the batch has its outcome: make the sends durable
 * (invariant 2), then settle them in one FINISH fenced by the batch's
 * token.  On failure the batch waits in wc->retry for a later pass.
 */
static void batch_settle(struct wbatch *b)
{
    struct wchan *wc = b->wc;
    struct worker *w = wc->w;
    if (b->renewing) {
        retry_later(b); /* FINISH needs the token the RENEW brings */
        return;
    }
    if (!b->flushed) {
        int r = channel_flush(wc->ch);
        if (r < 0) {
            log_error_errno(r, "[channel:%s] cannot write sends: %m; retrying", wc->conf->name);
            retry_later(b);
            return;
        }
        b->flushed = true;
    }
    if (b->out.n == 0) {
        batch_free(b);
        pump(wc);
        return;
    }
    struct queue_outcome *o = calloc(b->out.n, sizeof(*o));
    int r = -ENOMEM;
    if (o) {
        for (size_t i = 0; i < b->out.n; i++) {
            const struct outcome *x = &b->out.v[i];
            o[i] = (struct queue_outcome){ x->id, x->action, x->status, x->info, x->due_ms };
        }
        r = queue_async_finish_fenced(w->qa, wc->conf->name, wall_ms(), b->token, o, b->out.n,
                                      on_finished, b);
        free(o);
    }
    if (r < 0) {
        retry_later(b);
        return;
    }
    fence_remove(w, b);
    wc->finishing++;
}

/* From a service pass and on reconnect: settle what failed before. */
static void flush_now(struct wchan *wc)
{
    if (!queue_async_connected(wc->w->qa))
        return;
    struct wbatch *list = wc->retry;
    wc->retry = NULL;
    while (list) {
        struct wbatch *b = list;
        list = b->next;
        b->next = NULL;
        b->in_retry = false;
        batch_settle(b);
    }
}

/* leases: count lease calls in flight too (before exiting: they may bring jobs) */
static bool all_settled(const struct worker *w, bool leases)
{
    for (size_t i = 0; i < w->nchans; i++) {
        const struct wchan *wc = &w->chans[i];
        if (wc->inflight > 0 || wc->retry ||
            wc->finishing || (leases && wc->leasing))
            return false;
    }
    return true;
}

static void log_totals(const struct worker *w)
{
    for (size_t i = 0; i < w->nchans; i++) {
        const struct wchan *wc = &w->chans[i];
        log_info("[channel:%s] sent %" PRIu64 ", failed %" PRIu64 ", retried %" PRIu64
                 ", dead %" PRIu64 ", cancelled %" PRIu64 ", through the fallback %" PRIu64
                 ", circuit opened %" PRIu64 " times",
                 wc->conf->name, wc->sent, wc->failed, wc->retried, wc->dead, wc->cancelled,
                 wc->via_fallback, wc->breaker_opened);
    }
}

static size_t count_unsettled(const struct worker *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nchans; i++)
        n += (size_t)w->chans[i].inflight;
    return n;
}

/*
 * Stopping (invariant 5) is bounded whatever Redis does: past the stop
 * timeout, or once Redis has been unreachable for its own timeout (nothing
 * could settle then), the worker exits with jobs unsettled.  Their leases
 * lapse and they are redelivered, flagged, like a crashed worker's.
 */
static bool stop_overdue(struct worker *w, int64_t mono)
{
    const char *why = NULL;
    if (mono >= w->stop_deadline)
        why = "the stop timeout passed";
    else if (w->down_since && mono - w->down_since >= w->o->redis_timeout_ms)
        why = "redis is unreachable";
    if (!why)
        return false;
    log_warning("exiting with %zu job(s) not settled (%s); they are redelivered when their "
                "leases lapse", count_unsettled(w), why);
    return true;
}

static void start_stopping(struct worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    w->stop_deadline = mono_ms() + w->o->stop_timeout_ms;
    kick(w);
}

/* Tell the owner, once; no lease is taken after this. */
static void finish(struct worker *w, int status)
{
    if (w->finished)
        return;
    w->stopping = true;
    w->finished = true;
    evtimer_del(w->wake);
    log_totals(w);
    if (w->o->on_finished)
        w->o->on_finished(w->o->arg, status);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* May pump() lease for wc once its next_lease_ms has come? */
static bool lease_wanted(const struct wchan *wc)
{
    const struct worker *w = wc->w;
    return !w->stopping && queue_async_connected(w->qa) && wc->leasing < LEASE_DEPTH &&
           w->o->concurrency - wc->inflight - wc->reserved > 0 &&
           !((wc->conf->rate_limit > 0 || wc->poll_ms > 0) && wc->leasing > 0);
}

/*
 * Arm the timer at the earliest deadline left (monotonic ms; the lease
 * and idle deadlines are kept by the wall clock, as Redis's scores are).
 * No deadline: the next reply or completion kicks the worker.
 */
static void schedule(struct worker *w, int64_t now, int64_t mono)
{
    const struct worker_opts *o = w->o;
    int64_t at = INT64_MAX;
    if (w->fence_next != INT64_MAX)
        at = w->fence_next > w->renew_retry_at ? w->fence_next : w->renew_retry_at;
    for (size_t i = 0; i < w->nchans; i++) {
        const struct wchan *wc = &w->chans[i];
        if (wc->retry)
            at = min64(at, wc->retry_at);
        if (lease_wanted(wc))
            at = min64(at, mono + (wc->next_lease_ms - now));
    }
    if (w->stopping) {
        at = min64(at, w->stop_deadline);
        if (w->down_since)
            at = min64(at, w->down_since + o->redis_timeout_ms);
    } else if (o->until_idle_s >= 0) {
        if (w->down_since)
            at = min64(at, w->down_since + QUEUE_RETRY_MS + 1);
        if (w->idle_since)
            at = min64(at, mono + (w->idle_since + (int64_t)(o->until_idle_s * 1000) - now));
    }
    if (at == INT64_MAX) {
        evtimer_del(w->wake);
        return;
    }
    int64_t d = at > mono ? at - mono : 0;
    struct timeval tv = { (time_t)(d / 1000), (suseconds_t)(d % 1000 * 1000) };
    evtimer_add(w->wake, &tv);
}

/* The service pass: kicked by replies and completions, or at a deadline. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    const struct worker_opts *o = w->o;
    (void)fd;
    (void)what;
    if (w->finished)
        return;
    int64_t now = wall_ms();
    int64_t mono = mono_ms();
    bool idle = true;
    /* renew batches close to lapsing (invariant 6), then go on with paused ones */
    if (mono >= w->fence_next && mono >= w->renew_retry_at)
        fence_scan(w, mono);
    resume_paused(w);
    for (size_t i = 0; i < w->nchans; i++) {
        struct wchan *wc = &w->chans[i];
        if (wc->retry && mono >= wc->retry_at)
            flush_now(wc);
        pump(wc);
        if (!wc->idle)
            idle = false;
    }
    if (!all_settled(w, false))
        idle = false;
    if (w->stopping) {
        if (all_settled(w, true) || stop_overdue(w, mono)) {
            finish(w, 0);
            return;
        }
    } else if (o->until_idle_s >= 0 && w->down_since && mono - w->down_since > QUEUE_RETRY_MS) {
        log_error("cannot reach redis '%s' for %d s, giving up", o->redis_url,
                  QUEUE_RETRY_MS / 1000);
        finish(w, -ENOTCONN);
        return;
    } else if (o->until_idle_s >= 0) {
        if (!idle || !queue_async_connected(w->qa))
            w->idle_since = 0;
        else if (!w->idle_since)
            w->idle_since = now;
        if (w->idle_since && now - w->idle_since >= (int64_t)(o->until_idle_s * 1000)) {
            log_info("no work left for %.1f s, exiting", o->until_idle_s);
            start_stopping(w); /* finishes once the lease calls in flight are back */
            if (all_settled(w, true)) {
                finish(w, 0);
                return;
            }
        }
    }
    schedule(w, now, mono);
}

static void on_connected(void *userdata)
{
    struct worker *w = userdata;
    w->failed_attempts = 0;
    w->down_since = 0;
    if (w->was_connected)
        log_notice("reconnected to redis");
    else
        log_info("connected to redis '%s'", w->o->redis_url);
    w->was_connected = true;
    for (size_t i = 0; i < w->nchans; i++) {
        w->chans[i].next_lease_ms = 0;
        w->chans[i].poll_ms = 0;
        flush_now(&w->chans[i]);
        pump(&w->chans[i]);
    }
    kick(w);
}

static void on_disconnected(void *userdata, const char *why, int64_t delay_ms)
{
    struct worker *w = userdata;
    if (!w->down_since)
        w->down_since = mono_ms();
    if (!w->was_connected && w->o->until_idle_s >= 0) {
        /* one pass (--once, --until-idle) cannot start: fail like `run` does */
        log_error("cannot reach redis '%s': %s", w->o->redis_url, why);
        finish(w, -ENOTCONN);
        return;
    }
    /* one warning per outage, then a reminder every 20 attempts */
    if (w->failed_attempts++ % 20 == 0)
        log_warning("%s redis '%s' (%s), reconnecting in %" PRId64 " ms",
                    w->failed_attempts > 1 ? "still cannot reach" : "lost connection to",
                    w->o->redis_url, why, delay_ms);
    else
        log_debug("cannot reach redis (%s), retrying in %" PRId64 " ms", why, delay_ms);
    kick(w);
}

/* Start the worker's channels (and their fallbacks') and its templates. */
static int start_channels(struct worker *w)
{
    const struct worker_opts *o = w->o;
    size_t want = o->channels ? o->nchannels : o->config->nchannels;
    w->chans = calloc(want ? want : 1, sizeof(*w->chans));
    if (!w->chans)
        return -ENOMEM;
    for (size_t i = 0; i < want; i++) {
        const struct channel_conf *cc = o->channels ? config_channel(o->config, o->channels[i])
                                                    : &o->config->channels[i];
        if (!cc) {
            log_error("unknown channel '%s'", o->channels[i]);
            return -EINVAL;
        }
        struct wchan *wc = &w->chans[w->nchans];
        wc->w = w;
        wc->conf = cc;
        int r = channel_new(cc, w->base, w->curlm, &wc->ch);
        if (r < 0) {
            if (r == -EINVAL)
                log_error("channel '%s': plugin '%s' did not start (see above)", cc->name,
                          cc->plugin);
            else
                log_error_errno(r, "cannot start channel '%s': %m", cc->name);
            return -EINVAL;
        }
        w->nchans++;
    }
    /* failover: each fallback's instance, shared when this worker serves it too */
    for (size_t i = 0; i < w->nchans; i++) {
        struct wchan *wc = &w->chans[i];
        if (!wc->conf->fallback)
            continue;
        for (size_t k = 0; k < w->nchans && !wc->fb; k++)
            if (streq(w->chans[k].conf->name, wc->conf->fallback))
                wc->fb = w->chans[k].ch;
        if (!wc->fb) {
            const struct channel_conf *fc = config_channel(o->config, wc->conf->fallback);
            if (!fc || channel_new(fc, w->base, w->curlm, &wc->fb_own) < 0) {
                log_error("channel '%s': cannot start its fallback '%s'", wc->conf->name,
                          wc->conf->fallback);
                return -EINVAL;
            }
            wc->fb = wc->fb_own;
        }
    }
    if (o->config->template_dir) {
        struct diags d = DIAGS_INIT;
        int r = template_set_load(o->config->template_dir, o->config->default_locale,
                                  &w->templates, &d);
        diags_print(&d, stderr);
        diags_release(&d);
        if (r < 0) {
            log_error("cannot load the message templates from '%s'%s",
                      o->config->template_dir, r == -EINVAL ? "" : ": out of memory");
            return -EINVAL;
        }
    }
    if (w->nchans == 0) {
        log_error("no channels to serve");
        return -EINVAL;
    }
    return 0;
}

void worker_opts_init(struct worker_opts *o)
{
    *o = (struct worker_opts){
        .concurrency = 512,
        .batch = 256,
        .visibility_ms = 60000,
        .max_tries = 5,
        .retry_base_ms = 1000,
        .retry_max_ms = 3600000,
        .until_idle_s = -1,
        .stop_timeout_ms = 10000,
    };
}

int worker_opts_set_config(struct worker_opts *o, const struct config *cfg)
{
    o->config = cfg;
    o->redis_url = cfg->redis_url;
    o->prefix = cfg->redis_prefix;
    o->redis_timeout_ms = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms
                                                    : QUEUE_DEFAULT_TIMEOUT_MS;
    if (isempty(o->redis_url)) {
        log_error("no redis url configured (redis.url, --redis or CADENZA_REDIS)");
        return -EINVAL;
    }
    return 0;
}

size_t worker_channel_count(const struct worker *w)
{
    return w->nchans;
}

void worker_channel_stats(const struct worker *w, size_t i, struct worker_channel_stats *ret)
{
    const struct wchan *wc = &w->chans[i];
    *ret = (struct worker_channel_stats){
        .name = wc->conf->name,
        .kind = chan_kind_to_string(wc->conf->kind),
        .sent = wc->sent,
        .failed = wc->failed,
        .retried = wc->retried,
        .dead = wc->dead,
        .cancelled = wc->cancelled,
        .via_fallback = wc->via_fallback,
        .breaker_opened = wc->breaker_opened,
        .inflight = wc->inflight,
        .breaker_open = wc->breaker != BREAKER_CLOSED,
    };
}

bool worker_connected(const struct worker *w)
{
    return queue_async_connected(w->qa);
}

int worker_new(struct event_base *base, const struct worker_opts *o, struct worker **ret)
{
    static const struct queue_async_ops ops = { on_connected, on_disconnected };
    struct worker *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->o = o;
    w->base = base;
    w->fence_next = INT64_MAX;
    /* half the visibility timeout by default; never so close to it that
     * every batch would renew before its first send */
    w->margin_ms = o->lease_margin_ms > 0 ? o->lease_margin_ms : o->visibility_ms / 2;
    if (w->margin_ms > o->visibility_ms * 3 / 4)
        w->margin_ms = o->visibility_ms * 3 / 4;
    int r = -ENOMEM;
    w->curlm = o->curlm;
    if (!w->curlm) {
        if (curlm_new(base, &w->own_curlm) < 0)
            goto fail;
        w->curlm = w->own_curlm;
    }
    if (!(w->tzc = tz_cache_new()) || !(w->wake = evtimer_new(base, on_wake, w)))
        goto fail;
    r = start_channels(w);
    if (r < 0)
        goto fail;
    r = queue_async_new(base, o->redis_url, o->prefix, o->redis_timeout_ms, &ops, w, &w->qa);
    if (r < 0) {
        log_error_errno(r, "invalid redis url '%s': %m", o->redis_url);
        goto fail;
    }
    kick(w);
    *ret = w;
    return 0;
fail:
    worker_free(w);
    return r;
}

void worker_stop(struct worker *w)
{
    if (w)
        start_stopping(w);
}

void worker_free(struct worker *w)
{
    if (!w)
        return;
    w->finished = true; /* no pass from here on */
    /* the calls in flight come back -ECANCELED; a batch whose FINISH was
     * in flight is freed by it */
    queue_async_free(w->qa);
    for (size_t i = 0; i < w->nchans; i++) {
        while (w->chans[i].retry) {
            struct wbatch *b = w->chans[i].retry;
            w->chans[i].retry = b->next;
            batch_free(b);
        }
        channel_free(w->chans[i].ch); /* cancels its sends without completing them */
        channel_free(w->chans[i].fb_own);
    }
    while (w->active) /* leased and not settled: redelivered after their leases */
        batch_free(w->active);
    curlm_free(w->own_curlm); /* after the channels: they cancel their requests first */
    template_set_free(w->templates);
    tz_cache_free(w->tzc);
    free(w->chans);
    if (w->wake)
        event_free(w->wake);
    free(w);
}

/* ---- `cadenza worker`: one worker on a loop of its own ----------------- */

struct run_ctx {
    struct event_base *base;
    struct worker *w;
    int status;
};

static void run_finished(void *arg, int status)
{
    struct run_ctx *rc = arg;
    rc->status = status;
    event_base_loopexit(rc->base, NULL);
}

static void run_signal(evutil_socket_t sig, short what, void *arg)
{
    struct run_ctx *rc = arg;
    (void)what;
    if (!rc->w->stopping)
        log_notice("received %s, finishing the jobs in flight",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
    worker_stop(rc->w);
}

int worker_run(const struct worker_opts *o)
{
    struct worker_opts opts = *o;
    struct run_ctx rc = { 0 };
    struct event *sigterm = NULL, *sigint = NULL;
    int r = -ENOMEM;

    srandom((unsigned)(wall_ms() ^ (getpid() << 16)));
    rc.base = event_base_new();
    if (!rc.base)
        return -ENOMEM;
    opts.on_finished = run_finished;
    opts.arg = &rc;
    r = worker_new(rc.base, &opts, &rc.w);
    if (r < 0)
        goto out;
    sigterm = evsignal_new(rc.base, SIGTERM, run_signal, &rc);
    sigint = evsignal_new(rc.base, SIGINT, run_signal, &rc);
    if (!sigterm || !sigint) {
        r = -ENOMEM;
        goto out;
    }
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_info("worker %d serving %zu channel(s)", (int)getpid(), rc.w->nchans);
    event_base_dispatch(rc.base);
    r = rc.status;
out:
    worker_free(rc.w);
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    event_base_free(rc.base);
    return r;
}
