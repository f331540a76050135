/*
 * api.h - the outcome API (`POST /v1/outcomes`, docs/api.md): its keys
 * (the `api:` section of the configuration), the request signature and
 * the body, turned into outcome records (ingest.h) plus their event ids.
 * No I/O: the daemon reads the request and stores what this returns.
 */
#ifndef CADENZA_API_H
#define CADENZA_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outcome.h"
#include "util.h"

struct diags;
struct ynode;

#define API_KEYS_MAX 8
#define API_SECRET_MIN 32
#define API_SECRET_MAX 1024
#define API_EVENT_ID_MAX 200
#define API_SIGNATURE_HEADER "Cadenza-Signature"

struct api_conf {
    struct {
        char id[33];
        unsigned char *secret;
        size_t len;
    } keys[API_KEYS_MAX];
    size_t nkeys;
    int64_t max_skew;   /* seconds a signature's timestamp may be off (default 300) */
    size_t max_batch;   /* outcomes per request (default 1000) */
    bool has_bearer;    /* a bearer token guards the operations endpoints */
    unsigned char bearer[32]; /* its SHA-256 (the token itself is not kept) */
};

#define API_BEARER_MIN 16

/*
 * The `api:` node (file:line:col problems into d).  -EINVAL, -ENOMEM.
 * `keys` (the outcome API) may be left out when the section sets only a
 * bearer token (`bearer_token_file` or `bearer_token_env`, 16 to 1024
 * printable bytes) for the operations endpoints (GET /v1/debtors/{id},
 * POST /v1/runs); nkeys is then 0.
 */
int api_conf_load(const struct ynode *n, const char *dir, struct api_conf **ret,
                  struct diags *d);
void api_conf_free(struct api_conf *c);

/*
 * Check "t=<unix seconds>,v1=<hex>[,v1=<hex>...]" against HMAC-SHA256
 * over "<t>.<body>" with every key (constant time, lengths first), and t
 * within max_skew of now.  0, or -EACCES with *why ("no signature",
 * "timestamp too old", "no signature matches").
 */
int api_verify(const struct api_conf *c, const char *header, const void *body, size_t len,
               int64_t now, const char **why);
/*
 * Does an Authorization header ("Bearer <token>") carry the configured
 * bearer token?  Compared as SHA-256 digests in constant time (neither
 * the token nor its length shows in the timing).  false when none is
 * configured.
 */
bool api_bearer_ok(const struct api_conf *c, const char *authorization);
/* The header a client sends (tests, docs): "t=<now>,v1=<hex>" with key k. */
int api_sign(const struct api_conf *c, size_t k, const void *body, size_t len, int64_t now,
             struct sbuf *ret);

/* One outcome of a request. */
struct api_record {
    const char *event_id;
    struct ingest_row row;
};
struct api_batch {
    struct api_record *v;
    size_t n;
    void *json; /* keeps the strings alive */
};
/*
 * The body: one outcome object, an array of them, or {"outcomes": [...]}.
 * Each object has an "event_id" (string, 1-200 bytes: the idempotency key)
 * and the fields of an outcome record (ingest.h: debtor_id, channel,
 * attempted_at, outcome, amount, promise_date, attempt_id,
 * idempotency_key) as strings or numbers.  Problems go to e, each naming
 * the record and the field ("outcomes[2].outcome: expected a string");
 * -EBADMSG (not JSON) or -EINVAL (JSON, but not outcomes) then, -ENOMEM.
 */
int api_parse_outcomes(const struct api_conf *c, const char *body, size_t len,
                       struct api_batch *ret, struct sbuf *e);
void api_batch_release(struct api_batch *b);

#endif
