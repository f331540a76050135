/*
 * test-queue.c - the job payload and the Redis queue against a real
 * redis-server started here on a free loopback port (skipped, exit 77,
 * when redis-server is not installed).
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
    return test_queue("t:");
}

static void flushall(void)
{
    test_rcli("FLUSHALL", NULL, 0);
}

static void redis_cli(const char *args)
{
    test_rcli(args, NULL, 0);
}

static void make_job(struct job *j, int64_t id, const char *chan, int64_t due)
{
    char buf[64];
    memset(j, 0, sizeof(*j));
    j->attempt_id = id;
    snprintf(buf, sizeof(buf), "ik-%" PRId64, id);
    j->idempotency_key = strdup(buf);
    snprintf(buf, sizeof(buf), "D%" PRId64, id % 7);
    j->debtor_id = strdup(buf);
    j->channel = strdup(chan);
    j->channel_kind = strdup("email");
    j->address = strdup("someone@example.com");
    j->template_name = strdup("reminder");
    j->time_zone = strdup("Europe/Madrid");
    j->inputs = json_pack("{s:s,s:f,s:s}", "name", "Ana \"Q\" Lopez", "amount", 125.5,
                          "currency", "EUR");
    j->tier = 1;
    j->attempt = 2;
    j->not_before = due;
    j->not_after = due + 3600;
    j->windows[0] = (struct job_window){ due - 10, due + 1800 };
    j->nwindows = 1;
}

static void test_job_roundtrip(void)
{
    struct job j, k;
    struct sbuf b = SBUF_INIT;
    char err[256];
    make_job(&j, 42, "email", 1700000000);
    CHECK_INT(job_to_json(&j, &b), 0);
    CHECK_INT(job_from_json(b.buf, b.len, &k, err, sizeof(err)), 0);
    CHECK_INT(k.attempt_id, 42);
    CHECK_STR(k.idempotency_key, "ik-42");
    CHECK_STR(k.debtor_id, "D0");
    CHECK_STR(k.address, "someone@example.com");
    CHECK_STR(k.time_zone, "Europe/Madrid");
    CHECK_INT(k.not_after, 1700003600);
    CHECK_INT(k.nwindows, 1);
    CHECK_INT(k.windows[0].end, 1700001800);
    CHECK_STR(json_string_value(json_object_get(k.inputs, "name")), "Ana \"Q\" Lopez");
    CHECK_INT(k.tier, 1);
    CHECK_INT(k.attempt, 2);
    int64_t next = 0;
    CHECK_INT(job_check_time(&k, 1700000000, &next), JOB_SEND_NOW);
    CHECK_INT(job_check_time(&k, 1700001800, &next), JOB_EXPIRED); /* no window left */
    CHECK_INT(job_check_time(&k, 1699999000, &next), JOB_WAIT);
    CHECK_INT(next, 1700000000 - 10);
    CHECK_INT(job_check_time(&k, 1700003600, &next), JOB_EXPIRED);
    job_release(&k);
    job_release(&j);
    sbuf_release(&b);

    static const char *const bad[] = {
        "", "nope", "[]", "{\"attempt_id\":\"1\"}",
        "{\"attempt_id\":1,\"idempotency_key\":\"k\",\"debtor_id\":\"d\",\"channel\":\"c\"}",
        "{\"attempt_id\":1,\"idempotency_key\":\"k\",\"debtor_id\":\"d\",\"channel\":\"c\","
        "\"address\":\"a\",\"not_after\":5,\"windows\":[[1]]}",
        "{\"attempt_id\":1,\"idempotency_key\":\"k\",\"debtor_id\":\"d\",\"channel\":\"c\","
        "\"address\":\"a\",\"not_after\":5,\"inputs\":[]}",
        "{\"attempt_id\":1,\"attempt_id\":2}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        CHECK_INT(job_from_json(bad[i], strlen(bad[i]), &k, err, sizeof(err)), -EINVAL);
        CHECK(err[0] != 0);
    }
}

static void test_url(void)
{
    struct queue *q = NULL;
    CHECK_INT(queue_connect("http://x", NULL, 0, &q, NULL, 0), -EINVAL);
    CHECK_INT(queue_connect("redis://:99999", NULL, 0, &q, NULL, 0), -EINVAL);
    CHECK_INT(queue_connect("redis://127.0.0.1:abc", NULL, 0, &q, NULL, 0), -EINVAL);
    CHECK_INT(queue_connect("unix://relative", NULL, 0, &q, NULL, 0), -EINVAL);
    CHECK(q == NULL);
}

static void test_enqueue_idempotent(void)
{
    struct queue *q = start();
    flushall();
    enum { N = 1200 };
    struct job *jobs = calloc(N, sizeof(*jobs));
    for (int i = 0; i < N; i++)
        make_job(&jobs[i], i + 1, i % 2 ? "sms" : "email", 1700000000 + i);
    size_t added = 0;
    CHECK_INT(queue_enqueue_batch(q, jobs, N, &added), 0);
    CHECK_INT(added, N);
    CHECK_INT(queue_enqueue_batch(q, jobs, N, &added), 0);
    CHECK_INT(added, 0);
    struct queue_stats st;
    CHECK_INT(queue_stats(q, 1700000000 + 99 * 1000, &st), 0);
    CHECK_INT(st.jobs, N);
    CHECK_INT(st.nchannels, 2);
    if (st.nchannels == 2) {
        CHECK_STR(st.channels[0].channel, "email");
        CHECK_INT(st.channels[0].scheduled, N / 2);
        CHECK_INT(st.channels[0].oldest_due_ms, 1700000000LL * 1000);
        CHECK_INT(st.channels[1].scheduled, N / 2);
    }
    queue_stats_release(&st);
    /* an invalid job fails the whole call before anything is sent */
    free(jobs[0].address);
    jobs[0].address = NULL;
    CHECK_INT(queue_enqueue_batch(q, jobs, N, &added), -EINVAL);
    CHECK(strstr(queue_errstr(q), "address") != NULL);
    for (int i = 0; i < N; i++)
        job_release(&jobs[i]);
    free(jobs);
    queue_free(q);
}

static void test_stop_markers(void)
{
    struct queue *q = start();
    flushall();
    char *reason = NULL;
    CHECK_INT(queue_get_stop(q, "D1", &reason), 0);
    CHECK_INT(queue_set_stop(q, "D1", "paid", 0), 0);
    CHECK_INT(queue_get_stop(q, "D1", &reason), 1);
    CHECK_STR(reason, "paid");
    free(reason);
    CHECK_INT(queue_set_stop(q, "D2", "promise", (int64_t)time(NULL) - 5), 0);
    CHECK_INT(queue_get_stop(q, "D2", NULL), 0); /* already lapsed */
    CHECK_INT(queue_clear_stop(q, "D1"), 0);
    CHECK_INT(queue_get_stop(q, "D1", NULL), 0);
    queue_free(q);
}

/* ---- async helpers: run the loop until the callback fired ---- */

struct waiter {
    struct event_base *base;
    int err;
    bool fired;
    struct queue_leased jobs[64];
    char ids[64][32];
    char payloads[64][1024];
    size_t n;
    int64_t ready_left, leased_total, wait_ms;
    bool done[64];
    char stop[64][32];
    char lstop[64][32];     /* copies of the lease reply's re-check strings */
    char ldebtor[64][32];
};

static void on_conn(void *ud)
{
    struct waiter *w = ud;
    w->fired = true;
    event_base_loopbreak(w->base);
}

static void on_lease(void *ud, int err, const struct queue_lease_reply *r)
{
    struct waiter *w = ud;
    w->fired = true;
    w->err = err;
    w->n = 0;
    if (r) {
        w->ready_left = r->ready_left;
        w->leased_total = r->leased_total;
        w->wait_ms = r->wait_ms;
        for (size_t i = 0; i < r->n && i < 64; i++) {
            w->jobs[i] = r->jobs[i];
            snprintf(w->ids[i], sizeof(w->ids[i]), "%s", r->jobs[i].id);
            w->jobs[i].id = w->ids[i];
            snprintf(w->payloads[i], sizeof(w->payloads[i]), "%s",
                     r->jobs[i].payload ? r->jobs[i].payload : "");
            w->jobs[i].payload = r->jobs[i].payload ? w->payloads[i] : NULL;
            snprintf(w->ldebtor[i], 32, "%s", r->jobs[i].checked_debtor ? r->jobs[i].checked_debtor : "");
            snprintf(w->lstop[i], 32, "%s", r->jobs[i].stop ? r->jobs[i].stop : "");
            w->jobs[i].checked_debtor = r->jobs[i].checked_debtor ? w->ldebtor[i] : NULL;
            w->jobs[i].stop = r->jobs[i].stop ? w->lstop[i] : NULL;
            w->n++;
        }
    }
    event_base_loopbreak(w->base);
}

static void on_check(void *ud, int err, const bool *done, const char *const *stop)
{
    struct waiter *w = ud;
    w->fired = true;
    w->err = err;
    for (size_t i = 0; done && i < w->n; i++) {
        w->done[i] = done[i];
        snprintf(w->stop[i], sizeof(w->stop[i]), "%s", stop[i] ? stop[i] : "");
    }
    event_base_loopbreak(w->base);
}

static void on_done(void *ud, int err)
{
    struct waiter *w = ud;
    w->fired = true;
    w->err = err;
    event_base_loopbreak(w->base);
}

static void wait_fired(struct waiter *w)
{
    w->fired = false;
    while (!w->fired)
        event_base_loop(w->base, EVLOOP_ONCE);
}

static struct queue_async *async_open(struct waiter *w)
{
    static const struct queue_async_ops ops = { .connected = on_conn };
    struct queue_async *qa = NULL;
    w->base = event_base_new();
    CHECK_INT(queue_async_new(w->base, test_redis(), "t:", 0, &ops, w, &qa), 0);
    wait_fired(w);
    CHECK(queue_async_connected(qa));
    return qa;
}

static void lease(struct queue_async *qa, struct waiter *w, const char *ch, int max,
                  int64_t now, int64_t vt, double rate)
{
    struct queue_lease_args a = { ch, max, now, vt, rate, rate > 1 ? rate : 1 };
    w->fired = false;
    CHECK_INT(queue_async_lease(qa, &a, on_lease, w), 0);
    while (!w->fired)
        event_base_loop(w->base, EVLOOP_ONCE);
    CHECK_INT(w->err, 0);
}

static void finish(struct queue_async *qa, struct waiter *w, const char *ch,
                   const struct queue_outcome *o, size_t n, int64_t now)
{
    w->fired = false;
    CHECK_INT(queue_async_finish(qa, ch, now, o, n, on_done, w), 0);
    while (!w->fired)
        event_base_loop(w->base, EVLOOP_ONCE);
    CHECK_INT(w->err, 0);
}

struct collected {
    int n;
    int64_t ids[64];
    char status[64][24];
};

static int collect(void *ud, const struct queue_result *r)
{
    struct collected *c = ud;
    if (c->n < 64) {
        c->ids[c->n] = r->attempt_id;
        snprintf(c->status[c->n], sizeof(c->status[0]), "%s", r->status);
    }
    c->n++;
    return 0;
}

static void test_lease_ack_cycle(void)
{
    struct queue *q = start();
    flushall();
    struct job jobs[10];
    const int64_t t0 = 1700000000;
    for (int i = 0; i < 10; i++)
        make_job(&jobs[i], 100 + i, "email", t0 + (i < 5 ? 0 : 60));
    CHECK_INT(queue_enqueue_batch(q, jobs, 10, NULL), 0);

    struct waiter w = {};
    struct queue_async *qa = async_open(&w);
    /* only the 5 due at t0 are ready at t0 */
    lease(qa, &w, "email", 64, t0 * 1000, 30000, 0);
    CHECK_INT(w.n, 5);
    CHECK_INT(w.leased_total, 5);
    CHECK_INT(w.ready_left, 0);
    CHECK(w.n > 0 && !w.jobs[0].redelivered);
    CHECK(w.n > 0 && w.jobs[0].payload && strstr(w.jobs[0].payload, "\"ik-100\""));
    /* nothing else until the later ones are due */
    struct waiter w2 = w;
    lease(qa, &w2, "email", 64, t0 * 1000 + 20000, 30000, 0);
    CHECK_INT(w2.n, 0);

    /* re-check: stop marker for D1 (attempt 106 % 7 == 1? use 101) */
    CHECK_INT(queue_set_stop(q, "D1", "paid", 0), 0);
    const char *ids[5], *debtors[5] = { "D2", "D1", "D3", "D4", "D5" };
    for (int i = 0; i < 5; i++)
        ids[i] = w.ids[i];
    w.fired = false;
    CHECK_INT(queue_async_check(qa, ids, debtors, 5, on_check, &w), 0);
    while (!w.fired)
        event_base_loop(w.base, EVLOOP_ONCE);
    CHECK_INT(w.err, 0);
    CHECK(!w.done[0]);
    CHECK_STR(w.stop[1], "paid");
    CHECK_STR(w.stop[0], "");

    struct queue_outcome o[5] = {
        { w.ids[0], QUEUE_DONE, "sent", "prov-1", 0 },
        { w.ids[1], QUEUE_DONE, "cancelled", "stopped: paid", 0 },
        { w.ids[2], QUEUE_RETRY, "retry", "timeout", t0 * 1000 + 5000 },
        { w.ids[3], QUEUE_DEAD, NULL, "malformed job payload: test", 0 },
        { w.ids[4], QUEUE_DONE, "failed", "rejected", 0 },
    };
    finish(qa, &w, "email", o, 5, t0 * 1000 + 10);
    /* a second ack of the same sent job appends nothing (done marker NX) */
    finish(qa, &w, "email", o, 1, t0 * 1000 + 11);

    char *st = NULL;
    CHECK_INT(queue_get_done(q, 100, &st), 1);
    CHECK_STR(st, "sent");
    free(st);
    /* enqueue of a done attempt stays a no-op */
    size_t added = 9;
    CHECK_INT(queue_enqueue_batch(q, jobs, 1, &added), 0);
    CHECK_INT(added, 0);

    struct collected c = {};
    CHECK_INT(queue_read_results(q, 100, collect, &c), 5);
    CHECK_INT(c.n, 5);
    CHECK_INT(c.ids[0], 100);
    CHECK_STR(c.status[0], "sent");
    CHECK_STR(c.status[2], "retry");
    CHECK_STR(c.status[3], "dead");
    /* not acked: read again returns the same */
    struct collected c2 = {};
    CHECK_INT(queue_read_results(q, 100, collect, &c2), 5);
    CHECK_INT(queue_ack_results(q), 0);
    struct collected c3 = {};
    CHECK_INT(queue_read_results(q, 100, collect, &c3), 0);

    /* the retry is due at +5 s, with tries = 1 */
    lease(qa, &w, "email", 64, t0 * 1000 + 4000, 30000, 0);
    CHECK_INT(w.n, 0);
    lease(qa, &w, "email", 64, t0 * 1000 + 5000, 30000, 0);
    CHECK_INT(w.n, 1);
    CHECK(w.n == 1 && w.jobs[0].tries == 1 && streq(w.jobs[0].id, "102"));
    /* lease expiry: not acked, comes back redelivered after 30 s */
    lease(qa, &w, "email", 64, t0 * 1000 + 34999, 30000, 0);
    CHECK_INT(w.n, 0);
    lease(qa, &w, "email", 1, t0 * 1000 + 35001, 30000, 0);
    CHECK_INT(w.n, 1);
    CHECK(w.n == 1 && w.jobs[0].redelivered && streq(w.jobs[0].id, "102"));

    /* dead letters: list, retry, purge */
    struct queue_stats s;
    CHECK_INT(queue_stats(q, t0 * 1000, &s), 0);
    CHECK_INT(s.dead, 1);
    queue_stats_release(&s);
    CHECK_INT(queue_dead_list(q, 0, NULL, NULL), 1);
    size_t n = 0;
    CHECK_INT(queue_dead_retry(q, NULL, 0, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(queue_dead_list(q, 0, NULL, NULL), 0);

    for (int i = 0; i < 10; i++)
        job_release(&jobs[i]);
    queue_async_free(qa);
    event_base_free(w.base);
    queue_free(q);
}

static void test_rate_limit(void)
{
    struct queue *q = start();
    flushall();
    struct job jobs[30];
    const int64_t t0 = 1700000000;
    for (int i = 0; i < 30; i++)
        make_job(&jobs[i], 1 + i, "sms", t0);
    CHECK_INT(queue_enqueue_batch(q, jobs, 30, NULL), 0);
    struct waiter w = {};
    struct queue_async *qa = async_open(&w);
    /* 10/s, burst 10: 10 now, none a moment later, 5 after half a second */
    lease(qa, &w, "sms", 64, t0 * 1000, 30000, 10);
    CHECK_INT(w.n, 10);
    lease(qa, &w, "sms", 64, t0 * 1000 + 1, 30000, 10);
    CHECK_INT(w.n, 0);
    CHECK(w.wait_ms > 0 && w.wait_ms <= 100);
    lease(qa, &w, "sms", 64, t0 * 1000 + 501, 30000, 10);
    CHECK_INT(w.n, 5);
    for (int i = 0; i < 30; i++)
        job_release(&jobs[i]);
    queue_async_free(qa);
    event_base_free(w.base);
    queue_free(q);
}

/* The re-check rides along with the lease: done and stop markers. */
static void test_lease_recheck(void)
{
    struct queue *q = start();
    flushall();
    struct job jobs[4];
    const int64_t t0 = 1700000000;
    for (int i = 0; i < 4; i++)
        make_job(&jobs[i], 200 + i, "email", t0);
    CHECK_INT(queue_enqueue_batch(q, jobs, 4, NULL), 0);
    CHECK_INT(queue_set_stop(q, "D5", "paid", 0), 0);  /* 201 % 7 == 5 */
    redis_cli("SET t:done:202 sent");
    struct waiter w = {};
    struct queue_async *qa = async_open(&w);
    lease(qa, &w, "email", 64, t0 * 1000, 30000, 0);
    CHECK_INT(w.n, 4);
    for (size_t i = 0; i < w.n; i++) {
        int64_t id = strtoll(w.ids[i], NULL, 10);
        char d[16];
        snprintf(d, sizeof(d), "D%d", (int)(id % 7));
        CHECK_STR(w.jobs[i].checked_debtor, d);
        CHECK_INT(w.jobs[i].done, id == 202);
        if (id == 201)
            CHECK_STR(w.jobs[i].stop, "paid");
        else
            CHECK(w.jobs[i].stop == NULL);
    }
    for (int i = 0; i < 4; i++)
        job_release(&jobs[i]);
    queue_async_free(qa);
    event_base_free(w.base);
    queue_free(q);
}

static void test_foreign_data(void)
{
    struct queue *q = start();
    flushall();
    /* a ready list that is a string, and a member without a payload */
    redis_cli("SET t:ready:email oops");
    struct waiter w = {};
    struct queue_async *qa = async_open(&w);
    lease(qa, &w, "email", 64, 1700000000000LL, 30000, 0);
    CHECK_INT(w.n, 0);
    struct queue_stats s;
    CHECK_INT(queue_stats(q, 0, &s), 0);
    CHECK_INT(s.dead, 1);
    queue_stats_release(&s);
    redis_cli("RPUSH t:ready:email garbage");
    lease(qa, &w, "email", 64, 1700000000000LL, 30000, 0);
    CHECK_INT(w.n, 1);
    CHECK(w.n == 1 && w.jobs[0].payload == NULL);
    /* purge everything dead: the quarantined key entry goes too */
    size_t n = 0;
    CHECK_INT(queue_dead_purge(q, NULL, 0, &n), 0);
    CHECK_INT(n, 1);
    /* admin commands name the key and its type instead of a raw WRONGTYPE */
    redis_cli("SADD t:channels sms");
    redis_cli("SET t:lease:sms oops");
    CHECK_INT(queue_stats(q, 0, &s), -EBADMSG);
    CHECK(strstr(queue_errstr(q), "key 't:lease:sms' holds a string, expected a zset") != NULL);
    CHECK(strstr(queue_errstr(q), "cadenza queue dead list") != NULL);
    redis_cli("DEL t:lease:sms");
    redis_cli("DEL t:jobs");
    redis_cli("SET t:jobs oops");
    struct job j;
    make_job(&j, 300, "email", 1700000000);
    CHECK_INT(queue_enqueue_batch(q, &j, 1, NULL), -EBADMSG);
    CHECK(strstr(queue_errstr(q), "key 't:jobs' holds a string, expected a hash") != NULL);
    redis_cli("DEL t:jobs");
    redis_cli("SET t:sched:email oops");
    CHECK_INT(queue_enqueue_batch(q, &j, 1, NULL), -EBADMSG);
    CHECK(strstr(queue_errstr(q), "key 't:sched:email' holds a string, expected a zset") != NULL);
    redis_cli("DEL t:sched:email");
    CHECK_INT(queue_stats(q, 0, &s), 0);
    CHECK_INT(s.jobs, 0); /* the failed calls wrote no job */
    queue_stats_release(&s);
    /* a repeated id inside one batch is added once */
    struct job two[2];
    make_job(&two[0], 301, "email", 1700000000);
    make_job(&two[1], 301, "email", 1700000000);
    size_t added = 0;
    CHECK_INT(queue_enqueue_batch(q, two, 2, &added), 0);
    CHECK_INT(added, 1);
    job_release(&two[0]);
    job_release(&two[1]);
    job_release(&j);
    queue_async_free(qa);
    event_base_free(w.base);
    queue_free(q);
}

TEST_MAIN({ "job_roundtrip", test_job_roundtrip }, { "url", test_url },
          { "enqueue_idempotent", test_enqueue_idempotent }, { "stop_markers", test_stop_markers },
          { "lease_ack_cycle", test_lease_ack_cycle }, { "rate_limit", test_rate_limit },
          { "lease_recheck", test_lease_recheck },
          { "foreign_data", test_foreign_data })
