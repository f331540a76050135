/*
 * test-queue-fence.c - lease fencing in the Redis queue: tokens, fenced
 * finish and renew, and the two clocks of the lease script, against a
 * real redis-server started here on a free loopback port (skipped, exit
 * 77, when redis-server is not installed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "queue.h"
#include "testlib.h"
#include "testredis.h"

static struct queue *start(void)
{
    return test_queue("f:");
}

static void rcli(const char *args, char *out, size_t outlen)
{
    test_rcli(args, out, outlen);
}

static int64_t rcli_int(const char *args)
{
    return test_rcli_int(args);
}

static void enqueue(struct queue *q, int64_t first, int n, int64_t due)
{
    for (int i = 0; i < n; i++) {
        struct job j = {};
        char buf[64];
        j.attempt_id = first + i;
        snprintf(buf, sizeof(buf), "ik-%" PRId64, first + i);
        j.idempotency_key = strdup(buf);
        snprintf(buf, sizeof(buf), "D%" PRId64, first + i);
        j.debtor_id = strdup(buf);
        j.channel = strdup("email");
        j.channel_kind = strdup("email");
        j.address = strdup("someone@example.com");
        j.template_name = strdup("reminder");
        j.time_zone = strdup("Europe/Madrid");
        j.inputs = json_pack("{s:s}", "name", "Ana");
        j.tier = 1;
        j.attempt = 1;
        j.not_before = due;
        j.not_after = due + 3600;
        j.windows[0].start = due;
        j.windows[0].end = due + 3600;
        j.nwindows = 1;
        CHECK_INT(queue_enqueue_batch(q, &j, 1, NULL), 0);
        job_release(&j);
    }
}

/* ---- the asynchronous side, one call at a time ---- */

struct w {
    struct event_base *base;
    bool fired;
    int err;
    size_t n;
    char ids[16][32];
    bool redelivered[16];
    int64_t token;
    bool held[16];
};

static void on_conn(void *ud)
{
    struct w *w = ud;
    w->fired = true;
}

static void on_lease(void *ud, int err, const struct queue_lease_reply *r)
{
    struct w *w = ud;
    w->fired = true;
    w->err = err;
    w->n = 0;
    if (!r)
        return;
    w->token = r->token;
    for (size_t i = 0; i < r->n && i < 16; i++) {
        snprintf(w->ids[i], sizeof(w->ids[i]), "%s", r->jobs[i].id);
        w->redelivered[i] = r->jobs[i].redelivered;
        w->n++;
    }
}

static void on_renew(void *ud, int err, int64_t token, const bool *held)
{
    struct w *w = ud;
    w->fired = true;
    w->err = err;
    w->token = token;
    for (size_t i = 0; held && i < w->n; i++)
        w->held[i] = held[i];
}

static void on_done(void *ud, int err)
{
    struct w *w = ud;
    w->fired = true;
    w->err = err;
}

static void run(struct w *w)
{
    while (!w->fired)
        event_base_loop(w->base, EVLOOP_ONCE);
    w->fired = false;
}

static struct queue_async *open_async(struct w *w)
{
    static const struct queue_async_ops ops = { .connected = on_conn };
    struct queue_async *qa = NULL;
    w->base = event_base_new();
    CHECK_INT(queue_async_new(w->base, test_redis(), "f:", 0, &ops, w, &qa), 0);
    run(w);
    return qa;
}

static void close_async(struct queue_async *qa, struct w *w)
{
    queue_async_free(qa);
    event_base_free(w->base);
}

/*
 * Lease up to max at time now (ms).  redis_clock: lease expiry and token
 * on Redis's own clock; otherwise now is the lease clock too.
 */
static void lease(struct queue_async *qa, struct w *w, int max, int64_t now, bool redis_clock,
                  int64_t vt)
{
    struct queue_lease_args a = { .channel = "email", .max = max, .now_ms = now,
                                  .visibility_ms = vt, .burst = 1, .redis_clock = redis_clock };
    CHECK_INT(queue_async_lease(qa, &a, on_lease, w), 0);
    run(w);
    CHECK_INT(w->err, 0);
}

static void renew(struct queue_async *qa, struct w *w, int64_t token, int64_t lnow, int64_t vt)
{
    const char *ids[16];
    for (size_t i = 0; i < w->n; i++)
        ids[i] = w->ids[i];
    struct queue_renew_args a = { "email", token, vt, lnow, false };
    CHECK_INT(queue_async_renew(qa, &a, ids, w->n, on_renew, w), 0);
    run(w);
    CHECK_INT(w->err, 0);
}

static void finish(struct queue_async *qa, struct w *w, int64_t token,
                   const struct queue_outcome *o, size_t n)
{
    CHECK_INT(queue_async_finish_fenced(qa, "email", 1700000000000LL, token, o, n, on_done, w),
              0);
    run(w);
    CHECK_INT(w->err, 0);
}

static int64_t score(const char *id)
{
    char args[128];
    snprintf(args, sizeof(args), "ZSCORE f:lease:email %s", id);
    return rcli_int(args);
}

/*
 * A worker whose leases lapsed and were taken by another: its stale
 * retry, dead letter, reschedule, cancel and skip change nothing; its
 * send's done marker and result are still written, without touching the
 * new holder's lease or the payload.  The new holder settles normally.
 */
static void test_fenced_finish(void)
{
    struct queue *q = start();
    rcli("FLUSHALL", NULL, 0);
    const int64_t t0 = 1700000000;
    enqueue(q, 1, 6, t0);
    struct w a = {}, b = {};
    struct queue_async *qa = open_async(&a), *qb = open_async(&b);
    lease(qa, &a, 16, t0 * 1000, false, 1000);
    CHECK_INT(a.n, 6);
    CHECK_INT(a.token, t0 * 1000 + 1000);
    /* A stalls; its leases lapse; B leases them again (redelivered) */
    lease(qb, &b, 16, t0 * 1000 + 2000, false, 1000);
    CHECK_INT(b.n, 6);
    CHECK(b.n == 6 && b.redelivered[0]);
    CHECK(b.token > a.token);
    /* A wakes up and settles with its old token */
    struct queue_outcome stale[6] = {
        { a.ids[0], QUEUE_RETRY, "retry", "timeout", t0 * 1000 + 5000 },
        { a.ids[1], QUEUE_DEAD, NULL, "gave up", 0 },
        { a.ids[2], QUEUE_RESCHEDULE, NULL, NULL, t0 * 1000 + 9000 },
        { a.ids[3], QUEUE_CANCEL, "cancelled", "stopped: paid", 0 },
        { a.ids[4], QUEUE_SKIP, NULL, NULL, 0 },
        { a.ids[5], QUEUE_DONE, "sent", "prov-A", 0 },
    };
    finish(qa, &a, a.token, stale, 6);
    CHECK_INT(rcli_int("ZCARD f:lease:email"), 6);
    for (int i = 0; i < 6; i++)
        CHECK_INT(score(a.ids[i]), b.token);
    CHECK_INT(rcli_int("ZCARD f:retry:email"), 0);
    CHECK_INT(rcli_int("HLEN f:dead"), 0);
    CHECK_INT(rcli_int("ZCARD f:sched:email"), 0);
    CHECK_INT(rcli_int("HLEN f:tries"), 0);
    CHECK_INT(rcli_int("HLEN f:jobs"), 6);
    CHECK_INT(rcli_int("XLEN f:results"), 1); /* the send, and nothing else */
    char v[64], args[64];
    snprintf(args, sizeof(args), "GET f:done:%s", a.ids[5]);
    rcli(args, v, sizeof(v));
    CHECK_STR(v, "sent");
    snprintf(args, sizeof(args), "EXISTS f:done:%s", a.ids[3]);
    CHECK_INT(rcli_int(args), 0);

    /* the holder settles: its retry and reschedule apply, the sent one is skipped */
    struct queue_outcome fresh[6] = {
        { b.ids[0], QUEUE_RETRY, "retry", "timeout", t0 * 1000 + 5000 },
        { b.ids[1], QUEUE_DONE, "sent", "prov-B", 0 },
        { b.ids[2], QUEUE_RESCHEDULE, NULL, NULL, t0 * 1000 + 9000 },
        { b.ids[3], QUEUE_CANCEL, "cancelled", "stopped: paid", 0 },
        { b.ids[4], QUEUE_DONE, "sent", "prov-B", 0 },
        { b.ids[5], QUEUE_SKIP, NULL, NULL, 0 },
    };
    finish(qb, &b, b.token, fresh, 6);
    CHECK_INT(rcli_int("ZCARD f:lease:email"), 0);
    CHECK_INT(rcli_int("ZCARD f:retry:email"), 1);
    CHECK_INT(rcli_int("ZCARD f:sched:email"), 1);
    CHECK_INT(rcli_int("HLEN f:jobs"), 2); /* the retried and the rescheduled one */
    CHECK_INT(rcli_int("XLEN f:results"), 5);
    snprintf(args, sizeof(args), "GET f:done:%s", b.ids[3]);
    rcli(args, v, sizeof(v));
    CHECK_STR(v, "cancelled");
    /* a late repeat of A's finish (a retry after a lost reply) changes nothing */
    finish(qa, &a, a.token, stale, 6);
    CHECK_INT(rcli_int("XLEN f:results"), 5);
    CHECK_INT(rcli_int("ZCARD f:retry:email"), 1);
    CHECK_INT(rcli_int("HLEN f:jobs"), 2);
    close_async(qa, &a);
    close_async(qb, &b);
    queue_free(q);
}

/* Renew extends only leases still carrying the token; tokens never repeat. */
static void test_renew(void)
{
    struct queue *q = start();
    rcli("FLUSHALL", NULL, 0);
    const int64_t t0 = 1700000000;
    enqueue(q, 100, 3, t0);
    struct w a = {}, b = {};
    struct queue_async *qa = open_async(&a), *qb = open_async(&b);
    lease(qa, &a, 2, t0 * 1000, false, 1000);
    CHECK_INT(a.n, 2);
    int64_t t1 = a.token;
    /* another lease call in the same millisecond gets a different token */
    lease(qb, &b, 1, t0 * 1000, false, 1000);
    CHECK_INT(b.n, 1);
    CHECK(b.token > t1);
    /* renew 500 ms later: both held, expiry moved on, a new token */
    renew(qa, &a, t1, t0 * 1000 + 500, 1000);
    CHECK(a.held[0] && a.held[1]);
    CHECK_INT(a.token, t0 * 1000 + 1500);
    CHECK_INT(score(a.ids[0]), a.token);
    /* the old token no longer holds anything */
    int64_t t2 = a.token;
    renew(qa, &a, t1, t0 * 1000 + 600, 1000);
    CHECK(!a.held[0] && !a.held[1]);
    CHECK_INT(score(a.ids[0]), t2);
    /* the renewed leases did not lapse at the first expiry... */
    struct w c = {};
    struct queue_async *qc = open_async(&c);
    lease(qc, &c, 16, t0 * 1000 + 1200, false, 1000);
    CHECK_INT(c.n, 1); /* only B's, which was not renewed */
    CHECK(c.n == 1 && streq(c.ids[0], b.ids[0]));
    /* ...but do at the renewed one, and then a renew finds them gone */
    lease(qc, &c, 16, t0 * 1000 + 1600, false, 1000);
    CHECK_INT(c.n, 2);
    renew(qa, &a, t2, t0 * 1000 + 1700, 1000);
    CHECK(!a.held[0] && !a.held[1]);
    close_async(qa, &a);
    close_async(qb, &b);
    close_async(qc, &c);
    queue_free(q);
}

/*
 * With Redis's clock, lease expiry follows Redis's time while due times
 * are still compared with the caller's clock (a worker whose clock is
 * faked into the future sends what is due there).
 */
static void test_redis_clock(void)
{
    struct queue *q = start();
    rcli("FLUSHALL", NULL, 0);
    const int64_t t0 = 1700000000; /* long before Redis's own time */
    enqueue(q, 200, 2, t0);
    enqueue(q, 300, 1, t0 + 60);
    struct w a = {};
    struct queue_async *qa = open_async(&a);
    int64_t real = (int64_t)time(NULL) * 1000;
    lease(qa, &a, 16, t0 * 1000, true, 30000);
    CHECK_INT(a.n, 2); /* the one due at t0 + 60 is not due at t0 */
    CHECK(a.token >= real + 30000 - 5000 && a.token <= real + 30000 + 5000);
    /* Redis's clock says the lease is fresh: a caller whose clock is an
     * hour ahead does not reap it */
    struct w b = {};
    struct queue_async *qb = open_async(&b);
    lease(qb, &b, 16, t0 * 1000 + 3600000, true, 30000);
    CHECK_INT(b.n, 1);
    CHECK(b.n == 1 && streq(b.ids[0], "300"));
    CHECK_INT(rcli_int("ZCARD f:lease:email"), 3);
    close_async(qa, &a);
    close_async(qb, &b);
    queue_free(q);
}

TEST_MAIN({ "fenced_finish", test_fenced_finish }, { "renew", test_renew },
          { "redis_clock", test_redis_clock })
