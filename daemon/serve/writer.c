/*
 * writer.c - the daemon's store writer thread (writer.h).
 *
 *   loop: writer_submit() ─► pending ─► thread: BEGIN; per request:
 *         SAVEPOINT, fn, RELEASE (or ROLLBACK TO); COMMIT; stop markers;
 *         jobs ─► done ─► eventfd ─► loop: done callbacks
 *
 * Group commit: every request waiting when the thread wakes goes into one
 * transaction, so a burst of webhook requests costs one commit, not one
 * each.  A request is answered only after its group committed (or with
 * the commit's error), so a 2xx means the outcome is stored.
 *
 * Ownership: a request is the writer's from submit until its done
 * callback runs on the loop.  The done list is handed over under the
 * mutex and the loop is woken through an eventfd (libevent is not told
 * about threads).
 */
#include "writer.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "queue.h"
#include "store.h"

static const double commit_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   1.0,   1e300 };

struct stop_req {
    char *debtor, *reason;
    int64_t until;
    struct stop_req *next;
};

struct job_req {
    struct job j;
    struct job_req *next;
};

struct req {
    writer_fn fn;
    writer_done_fn done;
    void *arg;
    int r;
    struct req *next;
};

struct writer {
    char *store_path, *redis_url, *prefix;
    int64_t redis_timeout_ms;
    void (*on_replan)(void *ud, const int64_t *ids, const int64_t *at, size_t n);
    void *ud;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct req *pending, **pending_tail; /* under mu */
    struct req *done, **done_tail;       /* under mu */
    bool stop;                           /* under mu */
    int efd;
    struct event *ev;
    struct writer_stats st;              /* under mu */
    /* the thread's own */
    struct store *s;
    struct queue *q;
    struct stop_req *stops;
    int64_t *replan, *replan_at;         /* debtors the group's requests asked to re-plan */
    size_t nreplan, creplan;
    struct job_req *jobs;
    bool store_warned, redis_warned;
};

int writer_stop_marker(struct writer_ctx *c, const char *debtor, const char *reason,
                       int64_t until)
{
    struct stop_req *s = calloc(1, sizeof(*s));
    if (!s || !(s->debtor = strdup(debtor)) || !(s->reason = strdup(reason))) {
        if (s)
            free(s->debtor);
        free(s);
        return -ENOMEM;
    }
    s->until = until;
    s->next = c->w->stops;
    c->w->stops = s;
    return 0;
}

int writer_replan(struct writer_ctx *c, int64_t debtor_id, int64_t at)
{
    struct writer *w = c->w;
    if (!w->on_replan)
        return 0;
    if (w->nreplan == w->creplan) {
        size_t n = w->creplan ? 2 * w->creplan : 64;
        int64_t *v = realloc(w->replan, n * sizeof(*v));
        if (!v)
            return -ENOMEM;
        w->replan = v;
        int64_t *a = realloc(w->replan_at, n * sizeof(*a));
        if (!a)
            return -ENOMEM;
        w->replan_at = a;
        w->creplan = n;
    }
    w->replan_at[w->nreplan] = at;
    w->replan[w->nreplan++] = debtor_id;
    return 0;
}

static void stops_free(struct stop_req *s)
{
    while (s) {
        struct stop_req *n = s->next;
        free(s->debtor);
        free(s->reason);
        free(s);
        s = n;
    }
}

int writer_enqueue(struct writer_ctx *c, struct job *j)
{
    struct job_req *q = calloc(1, sizeof(*q));
    if (!q) {
        job_release(j);
        return -ENOMEM;
    }
    q->j = *j;
    memset(j, 0, sizeof(*j));
    q->next = c->w->jobs;
    c->w->jobs = q;
    return 0;
}

static void jobs_free(struct job_req *q)
{
    while (q) {
        struct job_req *n = q->next;
        job_release(&q->j);
        free(q);
        q = n;
    }
}

static void redis_connect(struct writer *w)
{
    char err[512];
    if (!w->q && w->redis_url &&
        queue_connect(w->redis_url, w->prefix, w->redis_timeout_ms, &w->q, err, sizeof(err)) == 0)
        queue_set_retry(w->q, 0);
}

/*
 * The committed group's jobs, in one batch, then their attempts marked
 * queued (outside the group's transaction: a crash in between leaves them
 * planned, which no run picks up again).  Redis unreachable: logged, counted.
 */
static void enqueue_jobs(struct writer *w, uint64_t *ok, uint64_t *failed)
{
    size_t n = 0, k = 0, added = 0;
    for (struct job_req *q = w->jobs; q; q = q->next)
        n++;
    if (!n)
        return;
    struct job *v = calloc(n, sizeof(*v));
    int64_t *ids = calloc(n, sizeof(*ids));
    int r = v && ids ? 0 : -ENOMEM;
    for (struct job_req *q = w->jobs; q && r == 0; q = q->next, k++) {
        v[k] = q->j; /* borrowed: the list still owns them */
        ids[k] = q->j.attempt_id;
    }
    if (r == 0) {
        redis_connect(w);
        r = w->q ? queue_enqueue_batch(w->q, v, n, &added) : -ENOTCONN;
    }
    if (r == 0) {
        *ok += n;
        if (store_attempts_mark_queued(w->s, ids, n) < 0)
            log_warning("cannot mark %zu enqueued attempt(s) queued: %s", n,
                        store_errmsg(w->s));
    } else {
        *failed += n;
        log_warning("cannot enqueue %zu job(s) for attempt %lld...: %s; the attempts stay "
                    "planned", n, (long long)(ids ? ids[0] : 0),
                    r == -ENOMEM ? "out of memory"
                    : w->q      ? queue_errstr(w->q)
                                : "redis unreachable");
        queue_free(w->q); /* made anew next time */
        w->q = NULL;
    }
    free(v);
    free(ids);
    jobs_free(w->jobs);
    w->jobs = NULL;
}

/* The committed group's stop markers (Redis unreachable: logged, counted). */
static void set_stops(struct writer *w, uint64_t *ok, uint64_t *failed)
{
    if (!w->stops)
        return;
    redis_connect(w);
    for (struct stop_req *s = w->stops; s; s = s->next) {
        if (w->q && queue_set_stop(w->q, s->debtor, s->reason, s->until) == 0) {
            (*ok)++;
            w->redis_warned = false;
            continue;
        }
        (*failed)++;
        if (!w->redis_warned)
            log_warning("cannot set the stop marker of '%s' (%s): %s; queued jobs are cancelled "
                        "at the next run instead", s->debtor, s->reason,
                        w->q ? queue_errstr(w->q) : "redis unreachable");
        w->redis_warned = true;
        queue_free(w->q); /* made anew next time */
        w->q = NULL;
    }
    stops_free(w->stops);
    w->stops = NULL;
}

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Run one group: every request in list, one transaction. */
static void run_group(struct writer *w, struct req *list)
{
    char err[512];
    int r = 0;
    size_t n = 0;
    uint64_t ok = 0, failed = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!w->s && (r = store_open(w->store_path, 0, &w->s, err, sizeof(err))) < 0) {
        if (!w->store_warned)
            log_error("cannot open the store '%s': %s", w->store_path, err);
        w->store_warned = true;
    }
    if (w->s && (r = store_begin(w->s)) < 0)
        log_error("cannot write to the store: %s", store_errmsg(w->s));
    if (r >= 0) {
        struct writer_ctx c = { w->s, (int64_t)time(NULL), w };
        for (struct req *q = list; q; q = q->next, n++) {
            struct stop_req *mark = w->stops;
            size_t rmark = w->nreplan;
            struct job_req *jmark = w->jobs;
            if ((q->r = store_part_begin(w->s)) < 0)
                continue;
            q->r = q->fn(&c, q->arg);
            if (q->r < 0) { /* its stop markers, jobs and re-plans go with its writes */
                while (w->stops != mark) {
                    struct stop_req *s = w->stops;
                    w->stops = s->next;
                    s->next = NULL;
                    stops_free(s);
                }
                while (w->jobs != jmark) {
                    struct job_req *j = w->jobs;
                    w->jobs = j->next;
                    j->next = NULL;
                    jobs_free(j);
                }
                w->nreplan = rmark;
            }
            int e = store_part_end(w->s, q->r >= 0);
            if (e < 0 && q->r >= 0)
                q->r = e;
        }
        if ((r = store_commit(w->s)) < 0) {
            log_error("cannot commit to the store: %s", store_errmsg(w->s));
            store_rollback(w->s);
        } else
            w->store_warned = false;
    }
    uint64_t jobs_ok = 0, jobs_failed = 0;
    if (r < 0) {
        for (struct req *q = list; q; q = q->next)
            q->r = r;
        stops_free(w->stops);
        w->stops = NULL;
        jobs_free(w->jobs);
        w->jobs = NULL;
    } else {
        set_stops(w, &ok, &failed);
        enqueue_jobs(w, &jobs_ok, &jobs_failed);
        if (w->nreplan)
            w->on_replan(w->ud, w->replan, w->replan_at, w->nreplan);
    }
    w->nreplan = 0;
    double secs = since(&t0);
    pthread_mutex_lock(&w->mu);
    w->st.requests += n;
    if (r < 0)
        w->st.failed_commits++;
    else {
        w->st.commits++;
        histogram_observe(&w->st.commit, secs);
    }
    w->st.stops_set += ok;
    w->st.stops_failed += failed;
    w->st.jobs_enqueued += jobs_ok;
    w->st.jobs_failed += jobs_failed;
    for (struct req *q = list; q;) {
        struct req *next = q->next;
        q->next = NULL;
        *w->done_tail = q;
        w->done_tail = &q->next;
        q = next;
    }
    pthread_mutex_unlock(&w->mu);
    uint64_t one = 1;
    if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warning("cannot wake the event loop: %s", strerror(errno));
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->pending && !w->stop)
            pthread_cond_wait(&w->cond, &w->mu);
        struct req *list = w->pending;
        w->pending = NULL;
        w->pending_tail = &w->pending;
        bool stop = w->stop;
        pthread_mutex_unlock(&w->mu);
        if (list)
            run_group(w, list);
        else if (stop)
            break;
    }
    queue_free(w->q);
    store_free(w->s);
    free(w->replan);
    free(w->replan_at);
    return NULL;
}

/* On the loop: answer what the thread finished. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct writer *w = arg;
    uint64_t v;
    (void)what;
    while (read(fd, &v, sizeof(v)) > 0)
        ;
    pthread_mutex_lock(&w->mu);
    struct req *list = w->done;
    w->done = NULL;
    w->done_tail = &w->done;
    pthread_mutex_unlock(&w->mu);
    while (list) {
        struct req *next = list->next;
        list->done(list->arg, list->r);
        free(list);
        list = next;
    }
}

int writer_new(struct event_base *base, const struct writer_opts *o, struct writer **ret)
{
    struct writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->efd = -1;
    w->pending_tail = &w->pending;
    w->done_tail = &w->done;
    w->redis_timeout_ms = o->redis_timeout_ms;
    w->on_replan = o->on_replan;
    w->ud = o->ud;
    histogram_init(&w->st.commit, commit_bounds, ELEMENTSOF(commit_bounds));
    int r = -ENOMEM;
    if (!(w->store_path = strdup(o->store_path)) ||
        (o->redis_url && !(w->redis_url = strdup(o->redis_url))) ||
        (o->prefix && !(w->prefix = strdup(o->prefix))))
        goto fail;
    if ((w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        r = -errno;
        goto fail;
    }
    if (!(w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, on_wake, w)) ||
        event_add(w->ev, NULL) < 0)
        goto fail;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    if ((r = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
        r = -r;
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->mu);
        goto fail;
    }
    *ret = w;
    return 0;
fail:
    if (w->ev)
        event_free(w->ev);
    if (w->efd >= 0)
        close(w->efd);
    free(w->store_path);
    free(w->redis_url);
    free(w->prefix);
    free(w);
    return r;
}

int writer_submit(struct writer *w, writer_fn fn, writer_done_fn done, void *arg)
{
    struct req *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->fn = fn;
    q->done = done;
    q->arg = arg;
    pthread_mutex_lock(&w->mu);
    if (w->stop) {
        pthread_mutex_unlock(&w->mu);
        free(q);
        return -ESHUTDOWN;
    }
    *w->pending_tail = q;
    w->pending_tail = &q->next;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void writer_free(struct writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    on_wake(w->efd, EV_READ, w); /* answer what the last groups did */
    event_free(w->ev);
    close(w->efd);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w->store_path);
    free(w->redis_url);
    free(w->prefix);
    free(w);
}

void writer_stats_get(struct writer *w, struct writer_stats *ret)
{
    pthread_mutex_lock(&w->mu);
    *ret = w->st;
    pthread_mutex_unlock(&w->mu);
}
