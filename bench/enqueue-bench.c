/*
 * enqueue-bench.c - time the enqueue path of `cadenza run`: the same
 * engine (dispatch_enqueue_rows(): pages of 1000 attempt rows turned into
 * jobs by dispatch_job_from_row(), streamed to Redis one page ahead)
 * fed attempt rows like those store_run_attempts() returns.  Used by
 * bench/enqueue.sh, bench/queue-cpu.sh, bench/dispatch.sh and bench/sms.sh.
 *
 *   enqueue-bench --redis URL [--jobs N] [--prefix P] [--first ID]
 *                 [--channel NAME --kind email|sms --template NAME]
 *   enqueue-bench --payload      print one job's payload (for the
 *                                per-job comparison) and exit
 *
 * Prints one line: "jobs N added A seconds S jobs/s R", where S is the
 * wall time of dispatch_enqueue_rows(), the engine of `cadenza run`'s
 * enqueue phase, fed made-up attempt rows: job building, serialisation
 * and Redis included, SQLite (reading the rows, marking them queued)
 * not.  By default the jobs are e-mails to the channel `email` with the
 * template `reminder-soft`; --kind sms gives SMS jobs (E.164 Spanish
 * mobile numbers) for bench/sms.sh.  Dates are relative to now (due in
 * ten days, legal from a minute ago for eight hours), so they never age.
 *
 * Invariants:
 *  1. Every job is valid (job_validate()) and unique by attempt id, so
 *     every one is added on an empty queue; the tool fails otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "dispatch.h"
#include "job.h"
#include "queue.h"
#include "util.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The rows store_run_attempts() would hand dispatch.c, made up: a page
 * of attempt ids after after_id, each formatted into one reused buffer
 * (dispatch.c copies what it keeps).
 */
struct source {
    int64_t first, last, now;
    const char *channel, *template_name;
    int kind;
    struct row_buf {
        char key[48], debtor[24], address[48], name[32];
    } rb;
};

static void make_row(struct source *src, int64_t id, struct store_dispatch_row *row)
{
    struct row_buf *rb = &src->rb;
    snprintf(rb->key, sizeof(rb->key), "run-20261130-%" PRId64, id);
    snprintf(rb->debtor, sizeof(rb->debtor), "D%08" PRId64, id / 3);
    if (src->kind == CHAN_SMS)
        snprintf(rb->address, sizeof(rb->address), "+346%08" PRId64, id / 3 % 100000000);
    else
        snprintf(rb->address, sizeof(rb->address), "debtor%" PRId64 "@example.com", id / 3);
    snprintf(rb->name, sizeof(rb->name), "Debtor %" PRId64, id / 3);
    *row = (struct store_dispatch_row){
        .attempt_id = id,
        .idempotency_key = rb->key,
        .debtor_id = rb->debtor,
        .channel = src->channel,
        .template_name = src->template_name,
        .kind = src->kind,
        .scheduled_at = src->now - 60,
        .not_after = src->now + 8 * 3600,
        .strategy = "standard",
        .tier = "early",
        .time_zone = "Europe/Madrid",
        .address = rb->address,
        .name = rb->name,
        .locale = "es-ES",
        .currency = "EUR",
        .balance_minor = (100 + id % 5000) * 100 + id % 100,
        .due_date = (int32_t)(src->now / 86400 + 10),
        .attempt_number = 1 + (int)(id % 4),
    };
}

static int fetch(void *ud, int64_t after_id, int limit,
                 int (*cb)(void *ctx, const struct store_dispatch_row *r), void *ctx, char *err,
                 size_t errlen)
{
    struct source *src = ud;
    int64_t id = after_id < src->first ? src->first : after_id + 1;
    int n = 0;
    for (; n < limit && id <= src->last; n++, id++) {
        struct store_dispatch_row row;
        make_row(src, id, &row);
        int r = cb(ctx, &row);
        if (r < 0)
            return r;
    }
    return n;
}

static int commit(void *ud, const struct dispatch_committed *c, char *err, size_t errlen)
{
    return 0; /* `cadenza run` marks the page queued in SQLite here */
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "redis", required_argument, NULL, 'r' },
        { "jobs", required_argument, NULL, 'n' },
        { "prefix", required_argument, NULL, 'P' },
        { "first", required_argument, NULL, 'f' },
        { "payload", no_argument, NULL, 'y' },
        { "channel", required_argument, NULL, 'c' },
        { "kind", required_argument, NULL, 'k' },
        { "template", required_argument, NULL, 't' },
        {},
    };
    const char *url = NULL, *prefix = NULL, *channel = "email", *tpl = "early-email"; /* a shipped template: workers render it */
    int kind = CHAN_EMAIL;
    long n = 1000000, first = 1;
    bool payload = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r': url = optarg; break;
        case 'n': n = strtol(optarg, NULL, 10); break;
        case 'P': prefix = optarg; break;
        case 'f': first = strtol(optarg, NULL, 10); break;
        case 'y': payload = true; break;
        case 'c': channel = optarg; break;
        case 't': tpl = optarg; break;
        case 'k':
            kind = chan_kind_from_string(optarg);
            if (kind != CHAN_EMAIL && kind != CHAN_SMS) {
                fprintf(stderr, "enqueue-bench: --kind is email or sms\n");
                return 2;
            }
            break;
        default:
            fprintf(stderr, "usage: enqueue-bench --redis URL [--jobs N] [--first ID]\n");
            return 2;
        }
    }
    struct source src = { .first = first, .last = first + n - 1, .now = (int64_t)time(NULL),
                          .channel = channel, .template_name = tpl, .kind = kind };
    if (payload) {
        struct store_dispatch_row row;
        struct job j;
        struct sbuf b = SBUF_INIT, scratch = SBUF_INIT;
        make_row(&src, 123456789, &row);
        if (dispatch_job_from_row(&row, &scratch, &j) < 0 || job_to_json(&j, &b) < 0)
            return 1;
        printf("%s\n", b.buf);
        job_release(&j);
        sbuf_release(&b);
        sbuf_release(&scratch);
        return 0;
    }
    if (!url || n <= 0 || first <= 0) {
        fprintf(stderr, "enqueue-bench: --redis URL and positive --jobs/--first needed\n");
        return 2;
    }
    struct queue *q = NULL;
    int r = queue_connect(url, prefix, 0, &q, NULL, 0);
    if (r < 0) {
        fprintf(stderr, "enqueue-bench: cannot connect to '%s': %s\n", url, strerror(-r));
        return 1;
    }
    static const struct dispatch_source_ops ops = { fetch, commit };
    struct dispatch_enqueue_stats st;
    char err[512];
    double t0 = now_s();
    r = dispatch_enqueue_rows(q, &ops, &src, &st, err, sizeof(err));
    double t = now_s() - t0;
    queue_free(q);
    if (r < 0) {
        fprintf(stderr, "enqueue-bench: %s\n", err);
        return 1;
    }
    printf("jobs %ld added %" PRId64 " seconds %.3f jobs/s %.0f\n", n, st.added, t,
           (double)n / t);
    return st.added == n ? 0 : 1;
}
