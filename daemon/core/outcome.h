/*
 * outcome.h - contact outcomes: one table row per code holds everything
 * the project decides about it (its name, the strategy reaction it
 * triggers, on which channel kinds it is a reach, and whether it stops
 * the debtor's queued jobs, with the reason).  The planner, the store's
 * SQL, the outcome import and the webhooks all read this table.  Pure.
 */
#ifndef CADENZA_OUTCOME_H
#define CADENZA_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Codes (DB column outcomes.code, `import outcomes`): append-only. */
enum outcome_code {
    OUTCOME_DELIVERED = 0,      /* accepted by the handset/mailbox; not yet engaged */
    OUTCOME_BOUNCED = 1,        /* permanent delivery failure */
    OUTCOME_OPENED = 2,         /* opened / read */
    OUTCOME_CLICKED = 3,        /* followed the self-service link */
    OUTCOME_REPLIED = 4,        /* answered the message or the bot */
    OUTCOME_NO_ANSWER = 5,      /* call not answered, voicemail, busy */
    OUTCOME_THIRD_PARTY = 6,    /* call answered by someone else */
    OUTCOME_RIGHT_PARTY = 7,    /* conversation with the debtor */
    OUTCOME_PROMISE_TO_PAY = 8, /* with promise_date */
    OUTCOME_PAID = 9,           /* with amount */
    OUTCOME_OPT_OUT = 10,
    OUTCOME_WRONG_NUMBER = 11,
    OUTCOME_DISPUTE = 12,
    OUTCOME_REFUSED = 13,       /* refused to pay */
    OUTCOME_FAILED = 14,        /* transient/provider failure: not an attempt outcome */
    OUTCOME_PLAN_AGREED = 15,   /* a payment plan: promise_date = first instalment, amount =
                                   the total; its schedule is in payment_plans (self-service) */
    OUTCOME_DUE_DATE_MOVED = 16, /* the due date moved (to payday): promise_date = the new one */
    OUTCOME_PREFERENCES = 17,   /* the debtor stated contact preferences (debtor_prefs) */
    _OUTCOME_MAX,
    _OUTCOME_INVALID = -22,
};

struct outcome_info {
    const char *name;     /* as written in files, APIs and reports */
    int reaction;         /* enum strategy_outcome it triggers, or -1 */
    uint8_t reach;        /* bit (1 << chan_kind) per kind where it is a reach */
    const char *stop;     /* it stops the debtor's queued jobs: the reason; else NULL */
};

/* The row of a code; NULL for a code outside the table. */
const struct outcome_info *outcome_info(enum outcome_code c);

const char *outcome_code_to_string(enum outcome_code c);
enum outcome_code outcome_code_from_string(const char *s);
/*
 * Does this outcome on a channel kind count as a reach (the model's
 * success): engaged for digital channels, a right-party conversation for
 * calls, delivery for letters.
 */
bool outcome_is_reach(enum chan_kind k, enum outcome_code c);
/* The strategy reaction an outcome triggers, or -1 (none). */
int outcome_reaction(enum outcome_code c);
/* The reason its stop marker gives ("paid"), or NULL when it stops nothing. */
const char *outcome_stop_reason(enum outcome_code c);

/*
 * The named fields of an outcome record, as `import outcomes` and the
 * outcome API read them; ingest.h turns a record into a stored outcome.
 */
enum ingest_field {
    INGEST_DEBTOR_ID,
    INGEST_CHANNEL,
    INGEST_ATTEMPTED_AT,
    INGEST_OUTCOME,
    INGEST_AMOUNT,
    INGEST_PROMISE_DATE,
    INGEST_ATTEMPT_ID,
    INGEST_IDEMPOTENCY_KEY,
    _INGEST_MAX,
};
extern const char *const ingest_field_names[_INGEST_MAX];
/* The field a (column) name stands for, case-insensitive, blanks trimmed; -1: none. */
int ingest_field_find(const char *s, size_t n);

/* A record: each field's text (not NUL-terminated; NULL or empty: absent). */
struct ingest_row {
    const char *f[_INGEST_MAX];
    size_t flen[_INGEST_MAX];
};

#endif
