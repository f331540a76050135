/*
 * inbound-store.h - what the store writer does with a message a debtor
 * sent (inbound.h classified it), and with an outcome a provider reports
 * (docs/daemon.md, "Inbound messages and STOP words").  Runs in the store
 * writer's thread only.
 */
#ifndef CADENZA_INBOUND_STORE_H
#define CADENZA_INBOUND_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "inbound.h"
#include "ingest.h"
#include "util.h"
#include "writer.h"

/* One message, for the store writer; every pointer borrowed for the call. */
struct inbound_msg {
    const char *source;              /* outcomes.source: "whatsapp", "sms-inbound", "kannel-mo" */
    const char *event_id;            /* the provider's message id: one outcome per message and
                                        debtor however often it is delivered */
    const struct channel_conf *channel; /* the channel it came in on */
    const char *sender;              /* E.164 */
    enum inbound_class cls;
    int64_t at;                      /* when it was sent (Unix seconds) */
};

enum inbound_result {
    INBOUND_UNKNOWN_SENDER,          /* no debtor has that number: nothing changed */
    INBOUND_DUPLICATE,               /* this message was stored before */
    INBOUND_REPLIED,                 /* a `replied` outcome per debtor */
    INBOUND_REVOKED,                 /* a stop word: consent revoked now */
    INBOUND_REVOKED_BEFORE,          /* a stop word from a number already revoked */
    _INBOUND_RESULT_MAX,
};
extern const char *const inbound_result_names[_INBOUND_RESULT_MAX];

struct inbound_done {
    enum inbound_result result;
    size_t debtors;                  /* matched */
    size_t stored;                   /* outcomes stored */
    size_t suppressed;               /* suppressions added */
    bool confirmation;               /* a confirmation job goes out after the commit */
};

/*
 * In the store writer: the debtors the sender's number reaches get an
 * `opt_out` (a stop word) or `replied` outcome on the channel, once per
 * message; a stop word suppresses the number on sms, call and chat (and
 * each debtor's phone and chat handle) and sets their stop markers; a
 * revocation that is new (the channel's kind had not suppressed the
 * number yet) gets exactly one confirmation: an attempt of strategy
 * `inbound` and its job, enqueued after the commit.  < 0 on a store or
 * memory error (the writer undoes the request), with the reason in e.
 */
int inbound_store(struct writer_ctx *c, const struct config *cfg, const struct inbound_msg *m,
                  struct inbound_done *ret, struct sbuf *e);

/* One outcome a provider reports, for inbound_outcome(); borrowed. */
struct inbound_outcome {
    const char *debtor_id;           /* external id */
    const char *channel;             /* a channel name */
    const char *outcome;             /* an outcome code name */
    int64_t at;
    int64_t attempt_id;              /* 0: none */
    const char *dedupe_key;          /* unique per event */
};
/*
 * In the store writer: check and store one outcome through ingest (x's
 * source), and ask for the debtor's stop marker when it calls for one.
 * *ret_added 1 stored, 0 stored before.  -EINVAL with the problem in e.
 */
int inbound_outcome(struct writer_ctx *c, struct ingest_ctx *x, const struct inbound_outcome *o,
                    int *ret_added, struct sbuf *e);

#endif
