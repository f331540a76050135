/*
 * enqueue-bench.c - time the enqueue path of `cadenza run`: jobs built
 * the way dispatch.c builds them from planned attempts, handed to
 * queue_enqueue_batch() one page (1000 jobs, dispatch.c's page size) at
 * a time.  Used by bench/enqueue.sh.
 *
 *   enqueue-bench --redis URL [--jobs N] [--page N] [--prefix P] [--first ID]
 *   enqueue-bench --payload      print one job's payload (for the
 *                                per-job comparison) and exit
 *
 * Prints one line: "jobs N added A seconds S (enqueue calls E) jobs/s R",
 * where S is the wall time of the whole loop (building the pages
 * included) and E the time spent inside queue_enqueue_batch().
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

#include "job.h"
#include "queue.h"
#include "util.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fill j like dispatch.c's add_row() fills a job from an attempt row. */
static int make_job(struct job *j, int64_t id, int64_t now)
{
    char buf[64];
    memset(j, 0, sizeof(*j));
    j->attempt_id = id;
    j->tier = -1;
    j->attempt = 1 + (int)(id % 4);
    j->not_before = now - 60;
    j->not_after = now + 8 * 3600;
    j->windows[0] = (struct job_window){ j->not_before, j->not_after };
    j->nwindows = 1;
    snprintf(buf, sizeof(buf), "run-20261130-%" PRId64, id);
    j->idempotency_key = strdup(buf);
    snprintf(buf, sizeof(buf), "D%08" PRId64, id / 3);
    j->debtor_id = strdup(buf);
    j->channel = strdup("email");
    j->channel_kind = strdup("email");
    snprintf(buf, sizeof(buf), "debtor%" PRId64 "@example.com", id / 3);
    j->address = strdup(buf);
    j->template_name = strdup("reminder-soft");
    j->time_zone = strdup("Europe/Madrid");
    j->strategy = strdup("standard");
    j->inputs = json_object();
    if (!j->idempotency_key || !j->debtor_id || !j->channel || !j->channel_kind ||
        !j->address || !j->template_name || !j->time_zone || !j->strategy || !j->inputs)
        return -ENOMEM;
    snprintf(buf, sizeof(buf), "Debtor %" PRId64, id / 3);
    json_object_set_new(j->inputs, "name", json_string(buf));
    json_object_set_new(j->inputs, "locale", json_string("es-ES"));
    snprintf(buf, sizeof(buf), "%" PRId64 ".%02d", 100 + id % 5000, (int)(id % 100));
    json_object_set_new(j->inputs, "amount", json_string(buf));
    json_object_set_new(j->inputs, "currency", json_string("EUR"));
    json_object_set_new(j->inputs, "due_date", json_string("2026-11-15"));
    json_object_set_new(j->inputs, "tier", json_string("early"));
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "redis", required_argument, NULL, 'r' },
        { "jobs", required_argument, NULL, 'n' },
        { "page", required_argument, NULL, 'p' },
        { "prefix", required_argument, NULL, 'P' },
        { "first", required_argument, NULL, 'f' },
        { "payload", no_argument, NULL, 'y' },
        {},
    };
    const char *url = NULL, *prefix = NULL;
    long n = 1000000, page = 1000, first = 1;
    bool payload = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r': url = optarg; break;
        case 'n': n = strtol(optarg, NULL, 10); break;
        case 'p': page = strtol(optarg, NULL, 10); break;
        case 'P': prefix = optarg; break;
        case 'f': first = strtol(optarg, NULL, 10); break;
        case 'y': payload = true; break;
        default:
            fprintf(stderr, "usage: enqueue-bench --redis URL [--jobs N] [--page N]\n");
            return 2;
        }
    }
    int64_t now = (int64_t)time(NULL);
    if (payload) {
        struct job j;
        struct sbuf b = SBUF_INIT;
        if (make_job(&j, 123456789, now) < 0 || job_to_json(&j, &b) < 0)
            return 1;
        printf("%s\n", b.buf);
        job_release(&j);
        sbuf_release(&b);
        return 0;
    }
    if (!url || n <= 0 || page <= 0) {
        fprintf(stderr, "enqueue-bench: --redis URL and positive --jobs/--page needed\n");
        return 2;
    }
    struct queue *q = NULL;
    int r = queue_connect(url, prefix, &q);
    if (r < 0) {
        fprintf(stderr, "enqueue-bench: cannot connect to '%s': %s\n", url, strerror(-r));
        return 1;
    }
    struct job *jobs = calloc((size_t)page, sizeof(*jobs));
    if (!jobs)
        return 1;
    double t0 = now_s(), in_enqueue = 0;
    size_t total_added = 0;
    for (long done = 0; done < n;) {
        size_t k = (size_t)(n - done < page ? n - done : page);
        for (size_t i = 0; i < k; i++)
            if (make_job(&jobs[i], first + done + (long)i, now) < 0) {
                fprintf(stderr, "enqueue-bench: out of memory\n");
                return 1;
            }
        size_t added = 0;
        double e0 = now_s();
        r = queue_enqueue_batch(q, jobs, k, &added);
        in_enqueue += now_s() - e0;
        for (size_t i = 0; i < k; i++)
            job_release(&jobs[i]);
        if (r < 0) {
            fprintf(stderr, "enqueue-bench: enqueue failed: %s (%s)\n", strerror(-r),
                    queue_errstr(q));
            return 1;
        }
        total_added += added;
        done += (long)k;
    }
    double t = now_s() - t0;
    printf("jobs %ld added %zu seconds %.3f (enqueue calls %.3f) jobs/s %.0f\n", n, total_added,
           t, in_enqueue, (double)n / t);
    free(jobs);
    queue_free(q);
    return total_added == (size_t)n ? 0 : 1;
}
