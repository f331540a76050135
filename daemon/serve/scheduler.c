/*
 * scheduler.c - the daemon's scheduler (scheduler.h).
 *
 *   loop: daily timer ─► sched_run_now ─► run thread: run_day() ─► eventfd ─► loop:
 *         join, log, count, arm the next day (a failed run: again in 5 min)
 *   writer / drainer / promise timer ─► pending debtors ─► re-plan thread:
 *         batch ─► each debtor's local date ─► campaign_plan_day(ids, persist)
 *         ─► enqueue the attempts of no run ─► counters
 *
 * Owns: the run thread (at most one at a time), the re-plan thread, their
 * connections, the configurations they plan with (until released on the
 * loop), the model re-plans score with (built once, again after each run
 * and every hour) and the scheduler's counters.
 * Must never: plan on the loop, start a second run while one is under
 * way, or release a configuration a thread still plans with.
 *
 * Invariants:
 *  1. At most one run thread exists; run_active (loop only) says so from
 *     its creation until the loop joined it.
 *  2. A configuration is released (its release callback, on the loop)
 *     only when it is no longer current and no thread holds it (users 0).
 *  3. A re-plan plans each debtor for its own local date at `now`, with
 *     the daily run's seed for that date: a re-plan never plans a day
 *     differently from the run, only with newer facts.
 *  4. The attempts a re-plan makes belong to no run (run_id NULL) and are
 *     enqueued by the re-plan thread; one left PLANNED by a crash or a
 *     Redis outage is enqueued at the next batch or promise tick.
 *
 * Run state machine (loop side):
 *   IDLE ─sched_run_now─► RUNNING ─thread done─► IDLE (a daily run waiting: RUNNING again)
 */
#include "scheduler.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "campaign.h"
#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "run.h"
#include "store.h"
#include "strategy.h"
#include "tz.h"

#define RETRY_FAILED_RUN_S 300     /* a failed scheduled run is tried again after this */
#define MODEL_MAX_AGE_S 3600       /* re-plans rebuild their model at least this often */
#define PROMISE_LOOKBACK_S 86400   /* at start: pauses that ended while the daemon was down */
#define LABELS_MAX 255             /* (strategy, tier, channel) series; then "other" */
#define TAKEN_DAYS 4               /* days whose used capacity a re-plan remembers */
#define TAKEN_MAX_AGE_S 600        /* ... read again at least this often (other writers) */
#define LABEL_SLOTS 1024

static const double replan_bounds[] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,   1.0,  2.5,   10.0, 1e300 };

static const char *const trigger_names[_SCHED_TRIGGER_MAX] = {
    [SCHED_OUTCOME] = "outcome",
    [SCHED_RESULT] = "result",
    [SCHED_PROMISE] = "promise",
};

static const char *const run_results[] = { "done", "failed", "incomplete", "stopped" };
#define N_RESULTS ELEMENTSOF(run_results)

/* ---- planned / enqueued counters per (strategy, tier, channel) ---- */

struct label {
    char strategy[65], tier[65], channel[65];
    uint64_t planned, enqueued;
};

/* A small table keyed by the three names; index LABELS_MAX is "other". */
struct labels {
    struct label v[LABELS_MAX + 1];
    size_t n;
    int16_t slot[LABEL_SLOTS]; /* index + 1, 0: empty */
};

static void labels_init(struct labels *l)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->v[LABELS_MAX].strategy, 65, "other");
    snprintf(l->v[LABELS_MAX].tier, 65, "other");
    snprintf(l->v[LABELS_MAX].channel, 65, "other");
}

static int32_t labels_find(struct labels *l, const char *s, const char *t, const char *c)
{
    s = s ? s : "";
    t = t ? t : "";
    c = c ? c : "";
    uint64_t h = hash64(s, strlen(s), hash64(t, strlen(t), hash64(c, strlen(c), 7)));
    for (size_t i = 0; i < LABEL_SLOTS; i++) {
        size_t k = (h + i) % LABEL_SLOTS;
        int16_t x = l->slot[k];
        if (!x) {
            if (l->n == LABELS_MAX)
                return LABELS_MAX;
            struct label *b = &l->v[l->n];
            snprintf(b->strategy, sizeof(b->strategy), "%s", s);
            snprintf(b->tier, sizeof(b->tier), "%s", t);
            snprintf(b->channel, sizeof(b->channel), "%s", c);
            l->slot[k] = (int16_t)(++l->n);
            return (int32_t)(l->n - 1);
        }
        const struct label *b = &l->v[x - 1];
        if (streq(b->strategy, s) && streq(b->tier, t) && streq(b->channel, c))
            return x - 1;
    }
    return LABELS_MAX;
}

/* Add a thread's counts into the shared table and zero them. */
static void labels_merge(struct labels *into, struct labels *from)
{
    for (size_t i = 0; i <= LABELS_MAX; i++) {
        struct label *f = &from->v[i];
        if (!f->planned && !f->enqueued)
            continue;
        int32_t k = i == LABELS_MAX ? LABELS_MAX
                                    : labels_find(into, f->strategy, f->tier, f->channel);
        into->v[k].planned += f->planned;
        into->v[k].enqueued += f->enqueued;
        f->planned = f->enqueued = 0;
    }
}

/* A decision that made a new attempt counts as planned. */
static int count_decision(void *ctx, const struct campaign_decision *d)
{
    struct labels *l = ctx;
    if (d->cand && d->attempt_id)
        l->v[labels_find(l, d->strategy ? d->strategy->name : NULL, d->tier, d->channel)]
            .planned++;
    return 0;
}

static int32_t label_row(void *ctx, const struct store_dispatch_row *r)
{
    return labels_find(ctx, r->strategy, r->tier, r->channel);
}

static void count_enqueued(void *ctx, const int32_t *labels, size_t n)
{
    struct labels *l = ctx;
    for (size_t i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] <= LABELS_MAX)
            l->v[labels[i]].enqueued++;
}

/* ---- the scheduler ---- */

/* A debtor to re-plan, or the attempt whose debtor to re-plan. */
struct news {
    int64_t id;
    int64_t not_before;   /* wall seconds: an outcome dated a little ahead waits for it */
    uint8_t why;          /* enum sched_trigger */
    bool attempt;         /* id names an attempt */
};

/* How far ahead of the clock an outcome may be and still wait to be re-planned at its time. */
#define NEWS_AHEAD_MAX_S 300

/* A configuration the threads plan with (invariant 2). */
struct cfgref {
    const struct config *cfg;
    const struct strategy_set *set;
    void (*release)(void *ud);
    void *ud;
    int users;            /* under mu */
    bool retired;         /* under mu: no longer current */
    struct cfgref *next;  /* in the release list */
};

struct run_job {
    int32_t date;         /* 0 at start: the thread decides (startup) */
    bool startup;         /* the first job: resume an interrupted run of today or later, else
                             catch up with today's daily run when its time passed (catchup) */
    bool catchup;
    int32_t today;
    bool scheduled;       /* from the daily timer (or its catch-up): retried after a failure */
    char why[48];
    struct cfgref *ref;
    int64_t started_ms;
    /* the thread's answer */
    int r;
    bool skipped;         /* catch-up: the date's run was done already */
    struct run_result rr;
    char err[512];
};

struct sched {
    struct event_base *base;
    char *store_path, *redis_url, *prefix;
    int64_t redis_timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int efd;
    struct event *wake_ev, *daily_ev, *promise_ev, *retry_ev;

    /* loop only */
    bool started, stopping;
    struct tz *zone;            /* serve.time_zone */
    int32_t daily_sec;          /* serve.daily_run, -1: none */
    int64_t promise_ms;
    int64_t next_daily;         /* UTC of the next daily run, 0: none */
    int64_t last_daily;         /* UTC of the last one started by the timer */
    int32_t next_daily_date;
    int32_t waiting_daily;      /* a daily run due while another ran (0: none) */
    bool run_active;            /* invariant 1 */
    pthread_t run_thread;
    struct run_job run;
    atomic_bool run_cancel;

    /* the re-plan thread */
    pthread_t replan_thread;
    bool replan_started;
    atomic_bool replan_cancel;

    /* under mu */
    struct cfgref *cur, *to_release;
    bool run_finished;          /* the run thread is done: join it */
    bool quit;
    bool replan_on;             /* serve.replan */
    struct news *pend;          /* debtors (or attempts' debtors) to re-plan */
    size_t npend, cpend;
    bool promise_tick;          /* look for pauses that ended */
    bool model_stale;           /* a run changed the statistics: rebuild the re-plan model */
    struct labels counts;
    uint64_t runs[N_RESULTS];
    int64_t last_run_end, last_run_ok, last_run_secs_ms;
    bool run_in_progress;
    uint64_t replanned[_SCHED_TRIGGER_MAX], replan_errors, replan_attempts, replan_enqueued;
    struct histogram replan_secs;
};

static void wake_loop(struct sched *s)
{
    uint64_t one = 1;
    if (write(s->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warning("scheduler: cannot wake the event loop: %s", strerror(errno));
}

/* Take the current configuration (NULL: none yet). */
static struct cfgref *cfg_get(struct sched *s)
{
    pthread_mutex_lock(&s->mu);
    struct cfgref *r = s->cur;
    if (r)
        r->users++;
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Give it back (any thread); a retired one nobody holds goes to the loop (invariant 2). */
static void cfg_put(struct sched *s, struct cfgref *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&s->mu);
    bool done = --r->users == 0 && r->retired;
    if (done) {
        r->next = s->to_release;
        s->to_release = r;
    }
    pthread_mutex_unlock(&s->mu);
    if (done)
        wake_loop(s);
}

/* On the loop: call the release callbacks of what nobody holds any more. */
static void release_pending(struct sched *s)
{
    pthread_mutex_lock(&s->mu);
    struct cfgref *l = s->to_release;
    s->to_release = NULL;
    pthread_mutex_unlock(&s->mu);
    while (l) {
        struct cfgref *n = l->next;
        if (l->release)
            l->release(l->ud);
        free(l);
        l = n;
    }
}

/* ---- the run thread ---- */

static void *run_main(void *arg)
{
    struct sched *s = arg;
    struct run_job *j = &s->run;
    struct store *st = NULL;
    struct queue *q = NULL;
    struct labels *lab = calloc(1, sizeof(*lab));
    char status[32];
    int64_t id;

    j->r = -ENOMEM;
    if (!lab) {
        snprintf(j->err, sizeof(j->err), "out of memory");
        goto out;
    }
    labels_init(lab);
    if ((j->r = store_open(s->store_path, 0, &st, j->err, sizeof(j->err))) < 0)
        goto out;
    if (j->startup) {
        int32_t last = 0;
        char day[11];
        if (store_run_last(st, &last, status, sizeof(status)) == 0 && last >= j->today &&
            (streq(status, "running") || streq(status, "stopped") ||
             streq(status, "incomplete") || streq(status, "failed"))) {
            /* a run a stop, a crash or an outage cut short: the same run completes it */
            j->date = last;
            snprintf(j->why, sizeof(j->why), "resuming the %.16s run", status);
        } else if (j->catchup && (store_run_find(st, j->today, &id, status, sizeof(status)) < 0 ||
                                  !streq(status, "done"))) {
            j->date = j->today;
            snprintf(j->why, sizeof(j->why), "daily, catching up");
        } else {
            j->skipped = true;
            j->r = 0;
            goto out;
        }
        format_date(j->date, day);
        log_notice("campaign run of %s started (%s)", day, j->why);
    }
    if ((j->r = queue_connect(s->redis_url, s->prefix, s->redis_timeout_ms, &q, j->err,
                              sizeof(j->err))) < 0) {
        char e[sizeof(j->err)];
        memcpy(e, j->err, sizeof(e));
        snprintf(j->err, sizeof(j->err), "cannot reach redis '%.200s': %.280s", s->redis_url, e);
        goto out;
    }
    queue_set_retry(q, 0);
    struct dispatch_enqueue_hooks hooks = {
        .cancel = &s->run_cancel, .label = label_row, .committed = count_enqueued, .ctx = lab,
    };
    struct run_opts ro = {
        .plan = {
            .date = j->date,
            .now = campaign_default_now(j->date, (int64_t)time(NULL)),
            .seed = (uint64_t)(int64_t)j->date,
            .redraws = CAMPAIGN_REDRAWS,
            .cancel = &s->run_cancel,
        },
        .enqueue = true,
        .decision = count_decision,
        .ctx = lab,
        .hooks = &hooks,
    };
    j->r = run_day(st, q, j->ref->cfg, j->ref->set, &ro, &j->rr, j->err, sizeof(j->err));
out:
    queue_free(q);
    store_free(st);
    pthread_mutex_lock(&s->mu);
    if (lab)
        labels_merge(&s->counts, lab);
    s->run_finished = true;
    s->model_stale = true;
    pthread_mutex_unlock(&s->mu);
    free(lab);
    wake_loop(s);
    return NULL;
}

static void arm_daily(struct sched *s);

/* date 0: the startup job (run_job.startup), whose catch-up is due when catchup. */
static int start_run(struct sched *s, int32_t date, const char *why, bool scheduled,
                     bool catchup)
{
    struct cfgref *ref = cfg_get(s);
    if (!ref)
        return -EAGAIN;
    memset(&s->run, 0, sizeof(s->run));
    s->run.date = date;
    s->run.startup = date == 0;
    s->run.catchup = catchup;
    s->run.scheduled = scheduled;
    if (s->run.startup) {
        struct tz_local l;
        tz_to_local(s->zone, (int64_t)time(NULL), &l);
        s->run.today = l.days;
    }
    s->run.ref = ref;
    s->run.started_ms = mono_ms();
    snprintf(s->run.why, sizeof(s->run.why), "%s", why);
    atomic_store(&s->run_cancel, false);
    pthread_mutex_lock(&s->mu);
    s->run_finished = false;
    s->run_in_progress = true;
    pthread_mutex_unlock(&s->mu);
    int r = pthread_create(&s->run_thread, NULL, run_main, s);
    if (r != 0) {
        pthread_mutex_lock(&s->mu);
        s->run_in_progress = false;
        pthread_mutex_unlock(&s->mu);
        cfg_put(s, ref);
        return -r;
    }
    s->run_active = true;
    char day[11];
    format_date(date, day);
    if (date)
        log_notice("campaign run of %s started (%s)", day, why);
    return 0;
}

int sched_run_now(struct sched *s, int32_t date, const char *why, int32_t *ret_date)
{
    if (s->stopping)
        return -ESHUTDOWN;
    if (s->run_active) {
        if (ret_date)
            *ret_date = s->run.date;
        return -EBUSY;
    }
    if (!s->zone)
        return -EAGAIN;
    if (date == 0) {
        struct tz_local l;
        tz_to_local(s->zone, (int64_t)time(NULL), &l);
        date = l.days;
    }
    int r = start_run(s, date, why, false, false);
    if (r == 0 && ret_date)
        *ret_date = date;
    return r;
}

/* On the loop: the run thread finished: join it, tell, count, and what next. */
static void run_finished(struct sched *s)
{
    struct run_job *j = &s->run;
    pthread_join(s->run_thread, NULL);
    s->run_active = false;
    char day[11];
    format_date(j->date, day);
    double secs = (double)(mono_ms() - j->started_ms) / 1000.0;
    const char *result = j->skipped ? NULL : j->r == 0 ? "done" : j->rr.status;
    if (!result && !j->skipped)
        result = "failed";
    if (j->skipped)
        log_notice("no campaign run to resume or catch up with at start");
    else if (j->r == 0)
        log_notice("campaign run of %s done in %.1f s: %" PRId64 " debtors, %" PRId64
                   " new attempts (%" PRId64 " already planned), %" PRId64 " jobs enqueued",
                   day, secs, j->rr.plan.debtors, j->rr.plan.attempts_written,
                   j->rr.plan.attempts_existing, j->rr.enq.jobs);
    else if (j->r == -ECANCELED)
        log_notice("campaign run of %s stopped after %.1f s (%" PRId64 " new attempts so far); "
                   "running the date again completes it", day, secs,
                   j->rr.plan.attempts_written);
    else
        log_error("campaign run of %s %s: %s", day, result ? result : "failed", j->err);
    pthread_mutex_lock(&s->mu);
    s->run_in_progress = false;
    if (result)
        for (size_t i = 0; i < N_RESULTS; i++)
            if (streq(run_results[i], result))
                s->runs[i]++;
    if (!j->skipped) {
        s->last_run_end = (int64_t)time(NULL);
        s->last_run_secs_ms = (int64_t)(secs * 1000);
        if (j->r == 0)
            s->last_run_ok = s->last_run_end;
    }
    pthread_mutex_unlock(&s->mu);
    cfg_put(s, j->ref);
    j->ref = NULL;
    if (s->stopping)
        return;
    /* a scheduled run that failed (Redis down, the store busy) is tried again soon */
    if (j->scheduled && j->r < 0 && j->r != -ECANCELED) {
        struct timeval tv = { RETRY_FAILED_RUN_S, 0 };
        s->waiting_daily = j->date;
        event_add(s->retry_ev, &tv);
        log_notice("the daily run of %s is tried again in %d s", day, RETRY_FAILED_RUN_S);
    } else if (s->waiting_daily && !event_pending(s->retry_ev, EV_TIMEOUT, NULL)) {
        int32_t d = s->waiting_daily;
        s->waiting_daily = 0;
        start_run(s, d, "daily", true, false);
    }
}

/* ---- the daily timer ---- */

static void on_daily(evutil_socket_t fd, short what, void *arg)
{
    struct sched *s = arg;
    (void)fd;
    (void)what;
    if (s->stopping || s->daily_sec < 0)
        return;
    int64_t now = wall_ms();
    if (now + 500 < s->next_daily * 1000) { /* the wall clock moved back: not yet */
        arm_daily(s);
        return;
    }
    int32_t date = s->next_daily_date;
    s->last_daily = s->next_daily; /* never this instant again (arm_daily) */
    char day[11];
    format_date(date, day);
    if (s->run_active) {
        log_notice("daily run of %s is due; it starts when the run under way ends", day);
        s->waiting_daily = date;
    } else if (start_run(s, date, "daily", true, false) < 0)
        log_error("cannot start the daily run of %s", day);
    /* the next one: tomorrow (arm_daily looks strictly after now) */
    s->next_daily = 0;
    arm_daily(s);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct sched *s = arg;
    (void)fd;
    (void)what;
    if (s->stopping || !s->waiting_daily || s->run_active)
        return;
    int32_t d = s->waiting_daily;
    s->waiting_daily = 0;
    start_run(s, d, "daily, again", true, false);
}

/* The next daily run strictly after now and after the last one started, or none. */
static void arm_daily(struct sched *s)
{
    event_del(s->daily_ev);
    s->next_daily = 0;
    if (s->stopping || s->daily_sec < 0 || !s->zone)
        return;
    int64_t now = (int64_t)time(NULL);
    if (now < s->last_daily)
        now = s->last_daily; /* a timer that fired early must not fire twice */
    struct tz_local l;
    tz_to_local(s->zone, now, &l);
    int32_t day = l.days;
    int64_t at = 0;
    for (int k = 0; k < 3; k++, day++)
        if (tz_local_to_utc(s->zone, day, s->daily_sec, &at) == 0 && at > now)
            break;
    if (at <= now)
        return;
    s->next_daily = at;
    s->next_daily_date = day;
    int64_t ms = at * 1000 - wall_ms();
    struct timeval tv = { (time_t)(ms > 0 ? ms / 1000 : 0), (suseconds_t)(ms > 0 ? ms % 1000 * 1000 : 0) };
    event_add(s->daily_ev, &tv);
}

/* ---- the re-plan thread ---- */

/*
 * Capacity already used on a day (attempts holding a slot on a channel
 * with hourly_capacity), kept by the re-plan thread so a batch of a few
 * debtors does not read the whole day's attempts: read once per day and
 * configuration, after each run and every TAKEN_MAX_AGE_S, and grown by
 * the re-plans' own attempts.
 */
struct taken_day {
    int32_t date;
    int64_t at;                  /* wall seconds it was read (0: unused) */
    const struct config *cfg;    /* channel indexes are this configuration's */
    struct planner_taken *v;
    size_t n, cap;
};

static int taken_push(struct taken_day *t, int16_t channel, int64_t at)
{
    if (t->n == t->cap) {
        size_t n = t->cap ? 2 * t->cap : 256;
        struct planner_taken *v = realloc(t->v, n * sizeof(*v));
        if (!v)
            return -ENOMEM;
        t->v = v;
        t->cap = n;
    }
    t->v[t->n++] = (struct planner_taken){ at, channel };
    return 0;
}

static int taken_row(void *ctx, const char *channel, int64_t at)
{
    struct taken_day *t = ctx;
    const struct channel_conf *cc = channel ? config_channel(t->cfg, channel) : NULL;
    if (!cc || cc->hourly_capacity <= 0)
        return 0;
    return taken_push(t, (int16_t)(cc - t->cfg->channels), at);
}

/* What a re-plan's decisions feed: the counters and the day's used capacity. */
struct replan_dec {
    struct labels *lab;
    struct taken_day *taken;     /* NULL: no channel has a capacity */
    const struct config *cfg;
    int r;
};

static int replan_decision(void *ctx, const struct campaign_decision *d)
{
    struct replan_dec *x = ctx;
    count_decision(x->lab, d);
    if (x->taken && d->cand && d->attempt_id && d->cand->channel >= 0 &&
        (size_t)d->cand->channel < x->cfg->nchannels &&
        x->cfg->channels[d->cand->channel].hourly_capacity > 0 &&
        taken_push(x->taken, d->cand->channel, d->cand->at) < 0)
        x->r = -ENOMEM; /* the attempt is stored: only the cache is short; it is read anew */
    return 0;
}

struct replan_conn {
    struct taken_day taken[TAKEN_DAYS];
    struct store *st;
    struct queue *q;
    struct campaign_model *model;
    int64_t model_at;            /* wall seconds it was built */
    struct tz_cache *tzc;
    const struct tz *utc;
    bool enqueue_due;            /* attempts of no run may wait for the queue */
    bool warned;
    int64_t promise_from;        /* pauses ending after this were looked at */
    struct labels lab;
};

struct dated {
    int32_t date;
    int64_t id;
};

static int dated_cmp(const void *a, const void *b)
{
    const struct dated *x = a, *y = b;
    if (x->date != y->date)
        return x->date < y->date ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

struct found {
    struct dated *v;
    size_t n, cap;
    struct replan_conn *c;
    int64_t now;
    int r;
};

/* Add a debtor with its local date at f->now (invariant 3). */
static int found_add(struct found *f, int64_t id, const char *zone)
{
    const struct tz *z = NULL;
    if (!zone || tz_cache_get(f->c->tzc, zone, &z) < 0)
        z = f->c->utc;
    if (f->n == f->cap) {
        size_t n = f->cap ? 2 * f->cap : 64;
        struct dated *v = realloc(f->v, n * sizeof(*v));
        if (!v)
            return -ENOMEM;
        f->v = v;
        f->cap = n;
    }
    struct tz_local l;
    tz_to_local(z, f->now, &l);
    f->v[f->n++] = (struct dated){ l.days, id };
    return 0;
}

static int on_pause_end(void *ctx, int64_t id, const char *zone)
{
    return found_add(ctx, id, zone);
}

static bool replan_connect(struct sched *s, struct replan_conn *c)
{
    char err[512];
    if (!c->st && store_open(s->store_path, 0, &c->st, err, sizeof(err)) < 0) {
        if (!c->warned)
            log_error("re-plan: cannot open the store '%s': %s", s->store_path, err);
        c->warned = true;
        return false;
    }
    if (!c->q) {
        if (queue_connect(s->redis_url, s->prefix, s->redis_timeout_ms, &c->q, err,
                          sizeof(err)) < 0) {
            if (!c->warned)
                log_warning("re-plan: cannot reach redis '%s': %s; attempts are enqueued once "
                            "it answers", s->redis_url, err);
            c->warned = true;
            c->q = NULL;
        } else
            queue_set_retry(c->q, 0);
    }
    return true;
}

/*
 * The used capacity of a day for this configuration, to be read when its
 * `at` is 0 (new, stale after a run, too old, another configuration); the
 * oldest entry makes room.  NULL: out of memory.
 */
static struct taken_day *taken_for(struct replan_conn *c, const struct config *cfg,
                                   int32_t date, int64_t now, bool stale)
{
    struct taken_day *t = NULL, *old = &c->taken[0];
    for (int i = 0; i < TAKEN_DAYS; i++) {
        if (c->taken[i].at && c->taken[i].date == date)
            t = &c->taken[i];
        if (c->taken[i].at < old->at)
            old = &c->taken[i];
    }
    if (t && (stale || t->cfg != cfg || now - t->at >= TAKEN_MAX_AGE_S))
        t->at = 0;
    if (!t)
        t = old;
    if (!t->at) {
        t->date = date;
        t->cfg = cfg;
        t->n = 0;
    }
    return t;
}

/*
 * One batch: the debtors asked for (and those of the attempts, and those
 * whose pause ended), each planned for its local date, then every
 * attempt of no run enqueued.  Returns 0 or -errno (logged).
 */
static int replan_batch(struct sched *s, struct replan_conn *c, struct cfgref *ref,
                        const struct news *v, size_t n, bool promise, bool stale,
                        uint64_t counted[])
{
    struct found f = { .c = c, .now = (int64_t)time(NULL) };
    int r = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!replan_connect(s, c))
        return -EIO;
    if (!c->model || stale || f.now - c->model_at >= MODEL_MAX_AGE_S) {
        campaign_model_free(c->model);
        c->model = NULL;
        if ((r = campaign_model_new(c->st, f.now, &c->model)) < 0) {
            log_error("re-plan: cannot build the model: %s",
                      r == -ENOMEM ? "out of memory" : store_errmsg(c->st));
            return r;
        }
        c->model_at = f.now;
    }
    char zone[130];
    for (size_t i = 0; i < n && r >= 0; i++) {
        int64_t id = v[i].id;
        struct store_attempt_ref a;
        if (v[i].attempt) {
            if ((r = store_attempt_get(c->st, id, &a)) == -ENOENT) {
                r = 0;
                continue;
            }
            id = a.debtor_id;
        }
        if (r >= 0 && (r = store_debtor_zone(c->st, id, zone, sizeof(zone))) == -ENOENT) {
            r = 0;
            continue;
        }
        if (r >= 0 && (r = found_add(&f, id, zone)) >= 0)
            counted[v[i].why]++;
    }
    if (promise && r >= 0) {
        size_t before = f.n;
        if ((r = store_pauses_ending(c->st, c->promise_from, f.now, on_pause_end, &f)) >= 0) {
            c->promise_from = f.now;
            counted[SCHED_PROMISE] += f.n - before;
        }
    }
    if (r < 0) {
        log_error("re-plan: cannot read the debtors: %s",
                  r == -ENOMEM ? "out of memory" : store_errmsg(c->st));
        free(f.v);
        return r;
    }
    /* one campaign per local date, each debtor once */
    qsort(f.v, f.n, sizeof(*f.v), dated_cmp);
    int64_t *group = f.n ? malloc(f.n * sizeof(*group)) : NULL;
    int64_t new_attempts = 0;
    bool capped = false;
    for (size_t i = 0; i < ref->cfg->nchannels; i++)
        capped |= ref->cfg->channels[i].hourly_capacity > 0;
    if (f.n && !group)
        r = -ENOMEM;
    for (size_t i = 0; i < f.n && r >= 0;) {
        size_t k = 0, j = i;
        for (; j < f.n && f.v[j].date == f.v[i].date; j++)
            if (!k || group[k - 1] != f.v[j].id)
                group[k++] = f.v[j].id;
        struct taken_day *td = capped ? taken_for(c, ref->cfg, f.v[i].date, f.now, stale) : NULL;
        if (capped && !td) {
            r = -ENOMEM;
            break;
        }
        if (td && !td->at) {
            int64_t day0 = (int64_t)f.v[i].date * 86400;
            td->at = f.now;
            if ((r = store_attempts_scheduled(c->st, day0 - CAMPAIGN_EARLIEST_OFFSET,
                                              day0 + 86400 + CAMPAIGN_EARLIEST_OFFSET,
                                              taken_row, td)) < 0) {
                td->at = 0;
                log_error("re-plan: cannot read the day's capacity: %s",
                          r == -ENOMEM ? "out of memory" : store_errmsg(c->st));
                break;
            }
        }
        struct campaign_opts o = {
            .date = f.v[i].date,
            .now = f.now,
            .seed = (uint64_t)(int64_t)f.v[i].date,
            .persist = true,
            .ids = group,
            .nids = k,
            .model = c->model,
            .redraws = CAMPAIGN_REDRAWS,
            .cancel = &s->replan_cancel,
            .taken_given = true,
            .taken = td ? td->v : NULL,
            .ntaken = td ? td->n : 0,
        };
        struct campaign_stats cs;
        struct replan_dec dec = { &c->lab, td, ref->cfg, 0 };
        r = campaign_plan_day(c->st, ref->cfg, ref->set, &o, replan_decision, &dec, &cs);
        if (td && dec.r < 0)
            td->at = 0;
        if (r < 0)
            log_error("re-plan: planning failed: %s",
                      r == -ENOMEM      ? "out of memory"
                      : r == -ECANCELED ? "stopped"
                                        : store_errmsg(c->st));
        else
            new_attempts += cs.attempts_written;
        i = j;
    }
    free(group);
    free(f.v);
    if (new_attempts)
        c->enqueue_due = true;
    /* invariant 4: the attempts of no run go to the queue */
    struct dispatch_enqueue_stats es = { 0 };
    if (c->enqueue_due && c->q && !atomic_load(&s->replan_cancel)) {
        char err[512];
        struct dispatch_enqueue_hooks hooks = {
            .cancel = &s->replan_cancel, .label = label_row, .committed = count_enqueued,
            .ctx = &c->lab,
        };
        int e = dispatch_enqueue_run_hooked(c->st, c->q, 0, ref->set, &hooks, &es, err,
                                            sizeof(err));
        if (e < 0) {
            if (!c->warned)
                log_warning("re-plan: %s; the attempts wait for the next try", err);
            c->warned = true;
            queue_free(c->q); /* made anew next time */
            c->q = NULL;
            r = r < 0 ? r : e;
        } else {
            c->enqueue_due = false;
            c->warned = false;
        }
    }
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    pthread_mutex_lock(&s->mu);
    labels_merge(&s->counts, &c->lab);
    if (f.n)
        histogram_observe(&s->replan_secs, secs);
    s->replan_attempts += (uint64_t)new_attempts;
    s->replan_enqueued += (uint64_t)es.jobs;
    pthread_mutex_unlock(&s->mu);
    if (f.n || es.jobs)
        log_notice("re-planned %zu debtor(s) in %.3f s: %" PRId64 " new attempt(s), %" PRId64
                 " job(s) enqueued", f.n, secs, new_attempts, es.jobs);
    return r;
}

static void *replan_main(void *arg)
{
    struct sched *s = arg;
    struct replan_conn *c = calloc(1, sizeof(*c));
    struct tz *utc = NULL;
    if (!c || !(c->tzc = tz_cache_new()) || tz_load("UTC", &utc) < 0) {
        log_error("re-plan: out of memory; debtors are re-planned by the next run only");
        goto out;
    }
    c->utc = utc;
    c->promise_from = (int64_t)time(NULL) - PROMISE_LOOKBACK_S;
    labels_init(&c->lab);
    struct news *due = NULL;
    size_t cdue = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        size_t n = 0;
        for (;;) {
            /* the news that is due (an outcome dated ahead waits for its time) */
            int64_t now = (int64_t)time(NULL), next = INT64_MAX;
            n = 0;
            for (size_t i = 0; i < s->npend; i++)
                if (s->pend[i].not_before <= now)
                    n++;
                else if (s->pend[i].not_before < next)
                    next = s->pend[i].not_before;
            if (s->quit || n || s->promise_tick)
                break;
            if (next == INT64_MAX) {
                pthread_cond_wait(&s->cond, &s->mu);
            } else {
                struct timespec ts = { (time_t)next, 0 };
                pthread_cond_timedwait(&s->cond, &s->mu, &ts);
            }
        }
        if (s->quit) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        if (n > cdue) {
            struct news *x = realloc(due, n * sizeof(*x));
            if (!x) {
                pthread_mutex_unlock(&s->mu);
                log_error("re-plan: out of memory; debtors wait for the next run");
                break;
            }
            due = x;
            cdue = n;
        }
        int64_t now = (int64_t)time(NULL);
        size_t k = 0, keep = 0;
        for (size_t i = 0; i < s->npend; i++)
            if (s->pend[i].not_before <= now && k < n)
                due[k++] = s->pend[i];
            else
                s->pend[keep++] = s->pend[i];
        s->npend = keep;
        n = k;
        bool promise = s->promise_tick, stale = s->model_stale;
        s->promise_tick = s->model_stale = false;
        struct cfgref *ref = s->cur;
        if (ref)
            ref->users++;
        pthread_mutex_unlock(&s->mu);
        uint64_t counted[_SCHED_TRIGGER_MAX] = { 0 };
        int r = ref ? replan_batch(s, c, ref, due, n, promise, stale, counted) : 0;
        cfg_put(s, ref);
        pthread_mutex_lock(&s->mu);
        for (int t = 0; t < _SCHED_TRIGGER_MAX; t++)
            s->replanned[t] += counted[t];
        if (r < 0)
            s->replan_errors++;
        if (r < 0 && !s->quit) {
            /* the store or Redis is away: the next news or tick tries again, not at once */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        }
        pthread_mutex_unlock(&s->mu);
    }
    free(due);
out:
    if (c) {
        for (int i = 0; i < TAKEN_DAYS; i++)
            free(c->taken[i].v);
        campaign_model_free(c->model);
        queue_free(c->q);
        store_free(c->st);
        tz_cache_free(c->tzc);
    }
    tz_free(utc);
    free(c);
    return NULL;
}

static int grow_pend(void **v, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*v, n * sz);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = n;
    return 0;
}

static void add_news(struct sched *s, const int64_t *ids, const int64_t *at, size_t n,
                     enum sched_trigger why, bool attempt)
{
    if (!s || !n)
        return;
    int64_t now = (int64_t)time(NULL);
    pthread_mutex_lock(&s->mu);
    if (s->quit || !s->replan_on)
        ;
    else if (grow_pend((void **)&s->pend, &s->cpend, s->npend + n, sizeof(*s->pend)) == 0) {
        for (size_t i = 0; i < n; i++) {
            /*
             * the planner acts on an outcome at or before `now`: one dated a
             * little ahead (a sender's clock) waits until its time; one far
             * ahead is planned now and acted on by a later plan
             */
            int64_t nb = at && at[i] > now && at[i] <= now + NEWS_AHEAD_MAX_S ? at[i] + 1 : 0;
            s->pend[s->npend++] = (struct news){ ids[i], nb, (uint8_t)why, attempt };
        }
        pthread_cond_signal(&s->cond);
    } else
        log_warning("re-plan: out of memory; %zu debtor(s) wait for the next run", n);
    pthread_mutex_unlock(&s->mu);
}

void sched_replan(struct sched *s, const int64_t *ids, const int64_t *at, size_t n,
                  enum sched_trigger why)
{
    add_news(s, ids, at, n, why, false);
}

void sched_replan_attempt(struct sched *s, int64_t attempt_id)
{
    add_news(s, &attempt_id, NULL, 1, SCHED_RESULT, true);
}

/* ---- the loop side ---- */

static void on_promise(evutil_socket_t fd, short what, void *arg)
{
    struct sched *s = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&s->mu);
    s->promise_tick = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct sched *s = arg;
    uint64_t v;
    (void)what;
    while (read(fd, &v, sizeof(v)) > 0)
        ;
    pthread_mutex_lock(&s->mu);
    bool finished = s->run_finished && s->run_active;
    if (finished)
        s->run_finished = false;
    pthread_mutex_unlock(&s->mu);
    if (finished)
        run_finished(s);
    release_pending(s);
}

int sched_new(struct event_base *base, const struct sched_opts *o, struct sched **ret)
{
    struct sched *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->base = base;
    s->efd = -1;
    s->daily_sec = -1;
    s->redis_timeout_ms = o->redis_timeout_ms;
    labels_init(&s->counts);
    histogram_init(&s->replan_secs, replan_bounds, ELEMENTSOF(replan_bounds));
    atomic_init(&s->run_cancel, false);
    atomic_init(&s->replan_cancel, false);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    int r = -ENOMEM;
    if (!(s->store_path = strdup(o->store_path)) ||
        (o->redis_url && !(s->redis_url = strdup(o->redis_url))) ||
        (o->prefix && !(s->prefix = strdup(o->prefix))))
        goto fail;
    if ((s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        r = -errno;
        goto fail;
    }
    if (!(s->wake_ev = event_new(base, s->efd, EV_READ | EV_PERSIST, on_wake, s)) ||
        !(s->daily_ev = evtimer_new(base, on_daily, s)) ||
        !(s->retry_ev = evtimer_new(base, on_retry, s)) ||
        !(s->promise_ev = event_new(base, -1, EV_PERSIST, on_promise, s)) ||
        event_add(s->wake_ev, NULL) < 0)
        goto fail;
    if ((r = pthread_create(&s->replan_thread, NULL, replan_main, s)) != 0) {
        r = -r;
        goto fail;
    }
    s->replan_started = true;
    *ret = s;
    return 0;
fail:
    sched_free(s);
    return r;
}

void sched_set_config(struct sched *s, const struct config *cfg, const struct strategy_set *set,
                      void (*release)(void *ud), void *ud)
{
    struct cfgref *n = calloc(1, sizeof(*n));
    if (!n) {
        log_error("scheduler: out of memory; it keeps the previous configuration");
        if (release)
            release(ud);
        return;
    }
    *n = (struct cfgref){ .cfg = cfg, .set = set, .release = release, .ud = ud };
    /* the daily run's zone and time */
    const char *zn = cfg->serve_time_zone ? cfg->serve_time_zone : cfg->default_time_zone;
    struct tz *z = NULL;
    if (tz_load(zn ? zn : "UTC", &z) < 0 && tz_load("UTC", &z) < 0)
        z = NULL;
    if (z) {
        tz_free(s->zone);
        s->zone = z;
    }
    s->daily_sec = cfg->serve_daily_run;
    pthread_mutex_lock(&s->mu);
    s->replan_on = cfg->serve_replan;
    struct cfgref *old = s->cur;
    s->cur = n;
    if (old) {
        old->retired = true;
        if (old->users == 0) {
            old->next = s->to_release;
            s->to_release = old;
        }
    }
    pthread_mutex_unlock(&s->mu);
    release_pending(s);
    if (s->stopping)
        return;
    if (!cfg->serve_replan)
        log_info("serve.replan is off: news waits for the next run to be planned around");
    /* the broken-promise timer: a re-plan of the debtors whose pause ended */
    s->promise_ms = cfg->serve_promise_check_ms;
    struct timeval tv = { (time_t)(s->promise_ms / 1000),
                          (suseconds_t)(s->promise_ms % 1000 * 1000) };
    event_del(s->promise_ev);
    if (cfg->serve_replan)
        event_add(s->promise_ev, &tv);
    arm_daily(s);
    if (!s->started && s->zone) {
        s->started = true;
        if (cfg->serve_replan)
            on_promise(-1, 0, s); /* pauses that ended while the daemon was down */
        /*
         * The startup job: an interrupted run of today or later is resumed;
         * else today's daily run when its time has passed and the date has
         * none done (a catch-up)
         */
        struct tz_local l;
        tz_to_local(s->zone, (int64_t)time(NULL), &l);
        start_run(s, 0, "startup", s->daily_sec >= 0, s->daily_sec >= 0 &&
                                                       l.sec_of_day >= s->daily_sec);
    }
}

void sched_stop(struct sched *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = true;
    atomic_store(&s->run_cancel, true);
    atomic_store(&s->replan_cancel, true);
    event_del(s->daily_ev);
    event_del(s->retry_ev);
    event_del(s->promise_ev);
    pthread_mutex_lock(&s->mu);
    s->quit = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (s->run_active)
        log_notice("stopping the campaign run under way; running the date again completes it");
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    sched_stop(s);
    if (s->replan_started)
        pthread_join(s->replan_thread, NULL);
    if (s->run_active)
        run_finished(s); /* joins it (cancelled: it stops at its next check) */
    pthread_mutex_lock(&s->mu);
    struct cfgref *cur = s->cur;
    s->cur = NULL;
    if (cur) {
        cur->retired = true;
        cur->next = s->to_release;
        s->to_release = cur;
    }
    pthread_mutex_unlock(&s->mu);
    release_pending(s);
    struct event *ev[] = { s->wake_ev, s->daily_ev, s->retry_ev, s->promise_ev };
    for (size_t i = 0; i < ELEMENTSOF(ev); i++)
        if (ev[i])
            event_free(ev[i]);
    if (s->efd >= 0)
        close(s->efd);
    tz_free(s->zone);
    free(s->pend);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s->store_path);
    free(s->redis_url);
    free(s->prefix);
    free(s);
}

/* ---- metrics ---- */

static int gauge(struct sbuf *b, const char *name, const char *help, double v)
{
    int r = prom_family(b, name, "gauge", help);
    return r < 0 ? r : prom_sample(b, name, NULL, 0, v);
}

int sched_metrics(struct sched *s, struct sbuf *b)
{
    pthread_mutex_lock(&s->mu);
    uint64_t runs[N_RESULTS], replanned[_SCHED_TRIGGER_MAX];
    memcpy(runs, s->runs, sizeof(runs));
    memcpy(replanned, s->replanned, sizeof(replanned));
    int64_t last = s->last_run_end, ok = s->last_run_ok, dur = s->last_run_secs_ms;
    bool active = s->run_in_progress;
    uint64_t errors = s->replan_errors;
    struct histogram h = s->replan_secs;
    struct labels *lab = malloc(sizeof(*lab));
    if (lab)
        *lab = s->counts;
    pthread_mutex_unlock(&s->mu);
    if (!lab)
        return -ENOMEM;
    int r = prom_family(b, "cadenza_runs_total", "counter",
                        "Campaign runs the daemon made, by result (stopped: by SIGTERM)");
    for (size_t i = 0; i < N_RESULTS && r >= 0; i++) {
        struct prom_label l = { "result", run_results[i] };
        r = prom_sample(b, "cadenza_runs_total", &l, 1, (double)runs[i]);
    }
    if (r >= 0)
        r = gauge(b, "cadenza_run_in_progress", "1 while a campaign run is under way",
                  active ? 1 : 0);
    if (r >= 0)
        r = gauge(b, "cadenza_run_last_timestamp_seconds",
                  "When the last campaign run ended, whatever its result (0: none yet)",
                  (double)last);
    if (r >= 0)
        r = gauge(b, "cadenza_run_last_success_timestamp_seconds",
                  "When a campaign run last ended done (0: none yet)", (double)ok);
    if (r >= 0)
        r = gauge(b, "cadenza_run_last_duration_seconds", "How long the last campaign run took",
                  (double)dur / 1000.0);
    if (r >= 0)
        r = gauge(b, "cadenza_run_next_timestamp_seconds",
                  "When the next daily run starts (0: none configured)", (double)s->next_daily);
    static const struct {
        const char *name, *help;
    } fam[2] = {
        { "cadenza_planned_total", "New attempts planned, by the runs and the re-plans" },
        { "cadenza_enqueued_total", "Jobs handed to Redis for planned attempts" },
    };
    for (int k = 0; k < 2 && r >= 0; k++) {
        r = prom_family(b, fam[k].name, "counter", fam[k].help);
        for (size_t i = 0; i <= LABELS_MAX && r >= 0; i++) {
            const struct label *x = &lab->v[i];
            if (i == LABELS_MAX ? !x->planned && !x->enqueued : i >= lab->n)
                continue;
            struct prom_label l[] = {
                { "strategy", x->strategy }, { "tier", x->tier }, { "channel", x->channel }
            };
            r = prom_sample(b, fam[k].name, l, 3, (double)(k ? x->enqueued : x->planned));
        }
    }
    free(lab);
    if (r >= 0)
        r = prom_family(b, "cadenza_replanned_total", "counter",
                        "Debtors re-planned at once after news, by what it was");
    for (int k = 0; k < _SCHED_TRIGGER_MAX && r >= 0; k++) {
        struct prom_label l = { "trigger", trigger_names[k] };
        r = prom_sample(b, "cadenza_replanned_total", &l, 1, (double)replanned[k]);
    }
    if (r >= 0)
        r = prom_family(b, "cadenza_replan_errors_total", "counter",
                        "Re-plan batches that failed (the debtors wait for the next run)");
    if (r >= 0)
        r = prom_sample(b, "cadenza_replan_errors_total", NULL, 0, (double)errors);
    if (r >= 0)
        r = prom_family(b, "cadenza_replan_duration_seconds", "histogram",
                        "Re-plan batches: read, plan, persist, enqueue");
    if (r >= 0)
        r = prom_histogram(b, "cadenza_replan_duration_seconds", NULL, 0, h.bounds, h.buckets,
                           h.n, h.count, h.sum);
    return r;
}
