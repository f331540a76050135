/*
 * serve.h - `cadenza serve`: the daemon.  One event loop (loop.c) with
 * the HTTP server (http.c), the libcurl multi handle the channels share
 * (curlm.c) and an in-process worker (worker.c), supervised by the
 * service manager (ready, reloading, stopping, watchdog).
 */
#ifndef CADENZA_SERVE_H
#define CADENZA_SERVE_H

struct config;

struct serve_opts {
    /* how to (re)load the configuration: an EXIT_* code, errors printed */
    int (*load_config)(const void *arg, struct config **ret);
    const void *load_arg;
    const char *listen;        /* overrides http.listen, or NULL */
};

/* Run until SIGTERM/SIGINT.  An EXIT_* code. */
int serve_run(const struct serve_opts *o);

/* ---- for the daemon's other routes (selfservice.c) ---- */

#include <stddef.h>
#include <stdint.h>

struct serve;
struct config;
struct strategy_set;
struct store;
struct api_record;
struct writer_ctx;
struct evhttp_request;

/* The configuration and strategies in force (they change with a reload: do not keep them). */
const struct config *serve_config(struct serve *sv, const struct strategy_set **ret_set);
/* The loop's store connection (reads; the store writer does the writes). */
struct store *serve_store(struct serve *sv);

/*
 * Outcome records another route stores through the outcome API's path:
 * checked by ingest, stored by the store writer in its group commit, the
 * stop markers of the news that stops queued jobs set after the commit.
 */
struct serve_outcomes {
    const char *source;          /* outcomes.source; dedupe keys are "<source>:<event id>" */
    struct api_record *records;  /* borrowed until done */
    size_t n;
    /* In the writer thread, before the records are checked (fill fields in from the store). */
    int (*before)(struct writer_ctx *c, void *arg);
    /* ... after they were stored, in the same part of the group: added[i] says which were
     * new (the others were duplicates).  < 0 undoes the request. */
    int (*after)(struct writer_ctx *c, void *arg, const uint8_t *added);
    /* On the loop once the group committed: r as writer_done_fn's (-EINVAL: a record was
     * refused, err says why), req NULL when the client went away.  Replies to req. */
    void (*done)(void *arg, struct evhttp_request *req, int r, const char *err, size_t stored,
                 size_t duplicates);
    void *arg;
};
/* 0: done will be called; < 0 (shutting down, OOM): it will not, the caller replies. */
int serve_outcomes_submit(struct serve *sv, struct evhttp_request *req,
                          const struct serve_outcomes *o);

#endif
