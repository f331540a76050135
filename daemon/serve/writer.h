/*
 * writer.h - the daemon's store writer: a thread with store and Redis
 * connections of its own that runs requests from the loop in group
 * commits (one transaction for every request waiting, each request in a
 * part of its own that can be undone alone), sets the stop markers and
 * enqueues the jobs the committed requests asked for, and then answers
 * each request on the loop.  The loop never waits on SQLite.
 */
#ifndef CADENZA_WRITER_H
#define CADENZA_WRITER_H

#include <stdint.h>

#include "metrics.h"

struct event_base;
struct store;
struct writer;

/* What a request's function gets, in the writer thread. */
struct writer_ctx {
    struct store *store;   /* inside the group's transaction, in the request's part */
    int64_t now;           /* Unix seconds when the group started */
    struct writer *w;
};
/* Ask for the debtor's stop marker once the group is committed. */
int writer_stop_marker(struct writer_ctx *c, const char *debtor_external_id, const char *reason,
                       int64_t until);
/*
 * Ask for the debtor (internal id) to be re-planned once the group is
 * committed (writer_opts.on_replan), for news of time `at`; undone with
 * the request's writes.
 */
int writer_replan(struct writer_ctx *c, int64_t debtor_id, int64_t at);

struct job;
/*
 * Enqueue a job once the group is committed, after the stop markers; its
 * attempt is then marked queued.  Takes the job (packed: job_pack()),
 * on failure too, and zeroes *j.  Redis unreachable: logged, counted, the
 * attempt stays planned.
 */
int writer_enqueue(struct writer_ctx *c, struct job *j);

/* In the writer thread: < 0 undoes the request's writes (the others stay). */
typedef int (*writer_fn)(struct writer_ctx *c, void *arg);
/* On the loop, after the commit: fn's result, or the commit's error. */
typedef void (*writer_done_fn)(void *arg, int r);

struct writer_opts {
    const char *store_path;
    const char *redis_url, *prefix; /* stop markers; NULL url: none */
    int64_t redis_timeout_ms;
    /* in the writer thread, after a commit: the debtors its requests asked to re-plan,
       with the time of the news */
    void (*on_replan)(void *ud, const int64_t *debtor_ids, const int64_t *at, size_t n);
    void *ud;
};

struct writer_stats {
    uint64_t requests, commits, failed_commits, stops_set, stops_failed;
    uint64_t jobs_enqueued, jobs_failed; /* writer_enqueue()'s, after their commit */
    struct histogram commit; /* seconds per group: begin, the requests, commit */
};

int writer_new(struct event_base *base, const struct writer_opts *o, struct writer **ret);
/* Queue a request.  0, or -ENOMEM / -ESHUTDOWN (done is then not called). */
int writer_submit(struct writer *w, writer_fn fn, writer_done_fn done, void *arg);
/* Run what is queued, join the thread, answer every request, free. */
void writer_free(struct writer *w);
void writer_stats_get(struct writer *w, struct writer_stats *ret);

#endif
