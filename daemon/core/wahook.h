/*
 * wahook.h - WhatsApp Cloud API webhooks (Meta's format): the signature
 * (X-Hub-Signature-256), the body (entry[].changes[].value with
 * statuses[] and messages[]) and what a status means as an outcome.
 * No I/O: webhooks.c reads the request and stores what this returns.
 */
#ifndef CADENZA_WAHOOK_H
#define CADENZA_WAHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define WAHOOK_SIGNATURE_HEADER "X-Hub-Signature-256"
#define WAHOOK_BODY_MAX (512 * 1024) /* larger bodies get 413 */
#define WAHOOK_EVENTS_MAX 1000       /* statuses plus messages per request */

/* The news about a message we sent. */
struct wahook_status {
    const char *id;              /* the message id (wamid...) */
    const char *status;          /* sent, delivered, read, failed, ... */
    const char *callback;        /* biz_opaque_callback_data (our idempotency key), or NULL */
    const char *phone_number_id; /* the business number it went from (metadata), or NULL */
    long error_code;             /* errors[0].code, 0 when none */
    int64_t at;                  /* timestamp (Unix seconds), 0 when absent */
};

/* A message a WhatsApp user sent to the business. */
struct wahook_message {
    const char *id;              /* wamid... */
    const char *from;            /* the sender's number: digits, no '+' */
    const char *type;            /* text, button, interactive, image, ... */
    const char *text;            /* text.body, button.text or the reply's title; NULL: none */
    const char *phone_number_id; /* the business number it came to, or NULL */
    int64_t at;
};

struct wahook {
    struct wahook_status *statuses;
    size_t nstatuses;
    struct wahook_message *messages;
    size_t nmessages;
    size_t ignored;              /* changes of other fields, messages of type system */
    void *json;                  /* keeps the strings alive */
};

/*
 * Parse a body.  Each problem names its place
 * ("entry[0].changes[1].value.statuses[2].id: expected a string");
 * -EBADMSG (not JSON), -EINVAL (not this shape), -E2BIG (more than
 * WAHOOK_EVENTS_MAX events), -ENOMEM.  *ret is written on success.
 */
int wahook_parse(const char *body, size_t len, struct wahook *ret, struct sbuf *e);
void wahook_release(struct wahook *w);

/*
 * Does header ("sha256=<64 hex digits>") carry the HMAC-SHA256 of
 * body[0..len) with secret?  Constant time in the digest.  Returns 1 yes,
 * 0 no, -EINVAL when the header is not of that form.
 */
int wahook_signature_check(const char *secret, const char *header, const void *body,
                           size_t len);

/*
 * The outcome a status means (docs/daemon.md), or NULL for news that is
 * none (sent, and statuses this build does not know): delivered ->
 * delivered, read -> opened, failed -> bounced (131026: not a WhatsApp
 * user or cannot receive), opt_out (131050: the user stopped the
 * business's marketing messages) or failed.
 */
const char *wahook_status_outcome(const char *status, long error_code);

#endif
