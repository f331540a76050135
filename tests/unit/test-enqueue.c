/*
 * test-enqueue.c - the enqueue path of `cadenza run` against a real
 * redis-server started here on a free loopback port (skipped, exit 77,
 * when redis-server is not installed): several batches in flight
 * (queue_enqueue_send / queue_enqueue_wait), a connection lost between
 * them, foreign data failing a batch, and the page engine
 * dispatch_enqueue_rows() recording each page only once Redis has it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "dispatch.h"
#include "job.h"
#include "queue.h"
#include "testlib.h"
#include "testredis.h"
#include "util.h"

static struct queue *start(void)
{
    return test_queue("e:");
}

static void redis_cli(const char *args)
{
    test_rcli(args, NULL, 0);
}

static long redis_int(const char *args)
{
    return (long)test_rcli_int(args);
}

/* A row as store_run_attempts() would give it; strings in buf. */
struct rowbuf {
    char key[32], debtor[16];
};

static void make_row(int64_t id, struct rowbuf *b, struct store_dispatch_row *row)
{
    snprintf(b->key, sizeof(b->key), "d:%" PRId64, id);
    snprintf(b->debtor, sizeof(b->debtor), "D%" PRId64, id % 97);
    *row = (struct store_dispatch_row){
        .attempt_id = id,
        .idempotency_key = b->key,
        .debtor_id = b->debtor,
        .channel = id % 3 ? "email" : "sms",
        .kind = id % 3 ? CHAN_EMAIL : CHAN_SMS,
        .scheduled_at = 1700000000,
        .not_after = 1700003600,
        .time_zone = "Europe/Madrid",
        .address = id % 50 == 7 ? NULL : "someone@example.com", /* some cannot become jobs */
        .name = "Zoë \"Q\"",
        .currency = "EUR",
        .balance_minor = -5,
        .due_date = INT32_MIN,
        .attempt_number = 1,
    };
}

static void make_jobs(struct job *jobs, int64_t first, size_t n)
{
    struct sbuf scratch = SBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        struct rowbuf b;
        struct store_dispatch_row row;
        make_row(first + (int64_t)i, &b, &row);
        row.address = "someone@example.com";
        CHECK_INT(dispatch_job_from_row(&row, &scratch, &jobs[i]), 0);
    }
    sbuf_release(&scratch);
}

static void release_jobs(struct job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        job_release(&jobs[i]);
}

/* The job dispatch.c builds reads back the same, inputs as JSON text. */
static void test_job_from_row(void)
{
    struct job j, k;
    struct sbuf b = SBUF_INIT;
    char err[256];
    make_jobs(&j, 10, 1);
    CHECK(j.mem != NULL);
    CHECK(j.inputs == NULL);
    CHECK_STR(j.inputs_json, "{\"name\":\"Zoë \\\"Q\\\"\",\"amount\":\"-0.05\","
                             "\"currency\":\"EUR\"}");
    CHECK(j.locale == NULL); /* the row has none */
    CHECK_INT(job_to_json(&j, &b), 0);
    CHECK_INT(job_parse(b.buf, b.len, 0, &k, err, sizeof(err)), 0);
    CHECK_STR(k.idempotency_key, "d:10");
    CHECK_STR(k.channel, "email");
    CHECK_STR(k.inputs_json, j.inputs_json);
    CHECK_INT(k.windows[0].end, 1700003600);
    job_release(&k);
    job_release(&j);
    sbuf_release(&b);
}

/* Batches in flight are answered in order, each with its own count. */
static void test_batches_in_flight(void)
{
    struct queue *q = start();
    static struct job jobs[3000];
    size_t added = 99;
    redis_cli("FLUSHALL");
    make_jobs(jobs, 1, 3000);
    CHECK_INT(queue_enqueue_send(q, jobs, 250), 0);
    CHECK_INT(queue_enqueue_send(q, jobs + 250, 2000), 0);
    CHECK_INT(queue_enqueue_send(q, jobs + 100, 300), 0); /* 150 of them are new */
    /* nothing else may use the connection meanwhile */
    CHECK_INT(queue_enqueue_batch(q, jobs, 1, &added), -EBUSY);
    CHECK_INT(queue_enqueue_wait(q, &added), 0);
    CHECK_INT(added, 250);
    CHECK_INT(queue_enqueue_wait(q, &added), 0);
    CHECK_INT(added, 2000);
    CHECK_INT(queue_enqueue_wait(q, &added), 0);
    CHECK_INT(added, 0); /* sent after the other two: all there already */
    CHECK_INT(queue_enqueue_wait(q, &added), 0); /* none left */
    CHECK_INT(added, 0);
    CHECK_INT(redis_int("HLEN e:jobs"), 2250);
    /* a dropped connection between send and wait: the calls go again */
    CHECK_INT(queue_enqueue_send(q, jobs + 2250, 750), 0);
    redis_cli("CLIENT KILL TYPE normal");
    CHECK_INT(queue_enqueue_wait(q, &added), 0);
    CHECK(added <= 750);
    CHECK_INT(redis_int("HLEN e:jobs"), 3000);
    CHECK_INT(redis_int("ZCARD e:sched:email") + redis_int("ZCARD e:sched:sms"), 3000);
    /* the connection is usable for everything else afterwards */
    CHECK_INT(queue_enqueue_batch(q, jobs, 3000, &added), 0);
    CHECK_INT(added, 0);
    CHECK_INT(queue_set_stop(q, "D1", "paid", 0), 0);
    release_jobs(jobs, 3000);
    queue_free(q);
}

/* A batch that fails drops the batches behind it; the queue goes on. */
static void test_failed_batch(void)
{
    struct queue *q = start();
    static struct job jobs[400];
    size_t added = 0;
    redis_cli("FLUSHALL");
    redis_cli("SET e:jobs foreign");
    make_jobs(jobs, 1, 400);
    CHECK_INT(queue_enqueue_send(q, jobs, 200), 0);
    CHECK_INT(queue_enqueue_send(q, jobs + 200, 200), 0);
    CHECK_INT(queue_enqueue_wait(q, &added), -EBADMSG);
    CHECK(strstr(queue_errstr(q), "foreign data") != NULL);
    CHECK_INT(queue_enqueue_wait(q, &added), 0); /* dropped: nothing left to wait for */
    CHECK_INT(added, 0);
    redis_cli("DEL e:jobs");
    CHECK_INT(queue_enqueue_send(q, jobs, 400), 0);
    CHECK_INT(queue_enqueue_wait(q, &added), 0);
    CHECK_INT(added, 400);
    /* an invalid job fails the send before anything goes out */
    jobs[5].address = NULL; /* the string stays in the job's block */
    CHECK_INT(queue_enqueue_send(q, jobs, 10), -EINVAL);
    CHECK(strstr(queue_errstr(q), "'address' is missing") != NULL);
    release_jobs(jobs, 400);
    queue_free(q);
}

/* The page engine: pages in order, each recorded after it is in Redis. */
struct src {
    int64_t last;
    long pages, jobs, skipped;
    bool in_redis; /* every committed id was in Redis when committed */
    bool in_order;
    int64_t last_committed;
    int fail_at_page; /* commit fails at this page (0: never) */
};

static int fetch(void *ud, int64_t after_id, int limit,
                 int (*cb)(void *ctx, const struct store_dispatch_row *r), void *ctx, char *err,
                 size_t errlen)
{
    struct src *s = ud;
    int n = 0;
    for (int64_t id = after_id + 1; n < limit && id <= s->last; id++, n++) {
        struct rowbuf b;
        struct store_dispatch_row row;
        make_row(id, &b, &row);
        int r = cb(ctx, &row);
        if (r < 0)
            return r;
    }
    return n;
}

static int commit(void *ud, const struct dispatch_committed *c, char *err, size_t errlen)
{
    struct src *s = ud;
    s->pages++;
    if (s->fail_at_page && s->pages == s->fail_at_page) {
        snprintf(err, errlen, "store says no");
        return -EIO;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (c->ids[i] <= s->last_committed)
            s->in_order = false;
        s->last_committed = c->ids[i];
    }
    if (c->n) {
        char args[64];
        snprintf(args, sizeof(args), "HEXISTS e:jobs %" PRId64, c->ids[c->n - 1]);
        if (redis_int(args) != 1)
            s->in_redis = false;
    }
    for (size_t i = 0; i < c->nskipped; i++)
        if (c->skipped_ids[i] % 50 != 7 || !strstr(c->skipped_why[i], "no address"))
            s->in_order = false;
    s->jobs += (long)c->n;
    s->skipped += (long)c->nskipped;
    return 0;
}

static void test_rows(void)
{
    static const struct dispatch_source_ops ops = { fetch, commit };
    struct queue *q = start();
    struct dispatch_enqueue_stats st;
    char err[256] = "";
    redis_cli("FLUSHALL");
    struct src s = { .last = 2500, .in_redis = true, .in_order = true };
    CHECK_INT(dispatch_enqueue_rows(q, &ops, &s, &st, err, sizeof(err)), 0);
    CHECK_INT(s.pages, 3);
    CHECK(s.in_redis);
    CHECK(s.in_order);
    CHECK_INT(s.skipped, 50); /* ids 7, 57, ... */
    CHECK_INT(s.jobs, 2450);
    CHECK_INT(st.jobs, 2450);
    CHECK_INT(st.added, 2450);
    CHECK_INT(st.skipped, 50);
    CHECK_INT(redis_int("HLEN e:jobs"), 2450);
    /* again: nothing new, same pages */
    struct src s2 = { .last = 2500, .in_redis = true, .in_order = true };
    CHECK_INT(dispatch_enqueue_rows(q, &ops, &s2, &st, err, sizeof(err)), 0);
    CHECK_INT(st.added, 0);
    CHECK_INT(st.jobs, 2450);
    /* a page Redis refuses is never recorded, nor any page after it */
    redis_cli("FLUSHALL");
    redis_cli("SET e:jobs foreign");
    struct src s4 = { .last = 2500, .in_redis = true, .in_order = true };
    CHECK_INT(dispatch_enqueue_rows(q, &ops, &s4, &st, err, sizeof(err)), -EBADMSG);
    CHECK(strstr(err, "cannot enqueue jobs: key 'e:jobs' holds a string") != NULL);
    CHECK_INT(s4.pages, 0);
    CHECK_INT(st.jobs, 0);
    redis_cli("DEL e:jobs");
    /* a commit that fails stops the run with its message; the queue stays usable */
    struct src s3 = { .last = 4500, .in_redis = true, .in_order = true, .fail_at_page = 2 };
    CHECK_INT(dispatch_enqueue_rows(q, &ops, &s3, &st, err, sizeof(err)), -EIO);
    CHECK_STR(err, "store says no");
    CHECK_INT(st.jobs, 980); /* only the first page counted (20 of its rows skipped) */
    size_t added = 0;
    static struct job jobs[10];
    make_jobs(jobs, 9000, 10);
    CHECK_INT(queue_enqueue_batch(q, jobs, 10, &added), 0);
    CHECK_INT(added, 10);
    release_jobs(jobs, 10);
    queue_free(q);
}

TEST_MAIN(
    { "job_from_row", test_job_from_row },
    { "batches_in_flight", test_batches_in_flight },
    { "failed_batch", test_failed_batch },
    { "rows", test_rows },
)
