/*
 * serve-internal.h - what serve.c and the provider callbacks
 * (webhooks.c) share: the daemon's state, and the requests the store
 * writer runs for the outcome API and the callbacks alike.  Never
 * included outside serve.c and webhooks.c.
 */
#ifndef CADENZA_SERVE_INTERNAL_H
#define CADENZA_SERVE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "config.h"
#include "ingest.h"
#include "util.h"
#include "worker.h"
#include "serve.h"
#include "writer.h"

struct evhttp_request;
struct http_server;

/*
 * The configuration in force and everything loaded from it.  Requests in
 * the writer hold a reference, so a reload never frees a set under them.
 */
struct serve_set {
    int refs;
    struct config *cfg;
    struct strategy_set *strategies;
    struct worker_opts wopts; /* points at cfg */
};

/* What the providers' callbacks count (webhooks.c), on the loop. */
struct webhooks_stats {
    uint64_t statuses[5];        /* WhatsApp statuses: ignored, stored, duplicate,
                                    unmatched, invalid */
    uint64_t inbound[6];         /* inbound messages by enum inbound_result, then
                                    replies with a stop word in them */
    uint64_t refused[6];         /* requests refused: 400, 401, 403, 404, 413, other */
};

struct serve {
    const struct serve_opts *o;
    struct loop *loop;
    struct curlm *curlm;
    struct http_server *http;
    struct store *store;
    struct serve_set *set;      /* in force */
    struct serve_set *next;     /* a reload waiting for the old worker to finish */
    struct worker *worker;
    struct drainer *drainer;    /* results into the store, in a thread of its own */
    struct writer *writer;      /* the outcome API's store writes, in group commits */
    struct sched *sched;        /* daily runs, re-plans, the broken-promise timer */
    struct tz_cache *zones;     /* the timeline's debtor zones */
    struct selfservice *ss;     /* the page behind the links (selfservice.c) */
    uint64_t api_requests[6];   /* by answer: 200, 400, 401, 413/422, 503, other */
    bool stopping;
    int exit_code;
    int64_t started;            /* Unix seconds */
    uint64_t reloads_ok, reloads_failed;
    struct webhooks_stats hooks;
};

/* Drop a reference to a set (freed with the last one). */
void serve_set_unref(struct serve_set *s);

/* One API request, from the loop to the writer and back. */
struct api_req {
    struct serve *sv;
    struct evhttp_request *req;   /* NULL once the client went away */
    struct serve_set *set;        /* a reference */
    const char *source;           /* outcomes.source: "api", "unsubscribe" */
    struct api_batch batch;
    struct api_record one;        /* a request of our own making (unsubscribe) */
    char strings[2][64];          /* ... and its field values */
    int64_t dlr_attempt;          /* a delivery report: the attempt it is about */
    const char *dlr_outcome;      /* ... and the outcome it says */
    char channel[65];
    char debtor[161];             /* the debtor's external id (a link's, an attempt's) */
    char **dedupe;                /* "<source>:<event id>" per record */
    size_t stored, duplicates;
    struct sbuf err;              /* the records' problems */
    struct serve_outcomes hooks;  /* another route's request (serve_outcomes_submit) */
    bool hooked;
};

/*
 * A request for the store writer, holding a reference to the set in
 * force; NULL after answering 503 (out of memory).
 */
struct api_req *api_req_new(struct serve *sv, struct evhttp_request *req, const char *source);
void api_req_free(struct api_req *a);
/*
 * Make a's only record: event id strings[0], outcome, attempted now (the
 * caller fills the other fields).
 */
struct ingest_row *api_req_one(struct api_req *a, const char *outcome);
/* Hand a to the store writer; it answers once its group committed. */
void api_req_submit(struct api_req *a, writer_fn fn);
/* In the writer thread: check and store every record of a, or none. */
int api_req_store(struct writer_ctx *c, void *arg);

#endif
