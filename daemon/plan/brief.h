/*
 * brief.h - the agent brief: what the "universal agent", who serves and
 * collects in one call, needs to know about a debtor before answering.
 * Who (name, language), balance, days past due and due date, the last
 * contacts and their outcomes, promises made, kept and broken, the last
 * payment, payday, hardship and vulnerability flags with the script notes
 * they call for, and the offers the debtor's strategy tier allows.
 *
 * Built from plain data (brief_build: no I/O, no clock, no allocation),
 * then written in the forms its readers need:
 *   brief_format_text     several lines, for people (`cadenza brief`)
 *   brief_format_json     one JSON object, for scripts and JSON dialers
 *   brief_format_fields   a flat JSON object of short texts, one per field
 *                         (VICIdial custom fields)
 *   brief_format_compact  one line of at most BRIEF_COMPACT_MAX bytes
 *                         (VICIdial's `comments`), never cut inside a
 *                         UTF-8 character
 *   brief_job_inputs      the three above as members of a job's inputs
 * The store gathers the data (store_brief_get), the daily run puts the
 * brief into dialer jobs (dispatch.c), `cadenza brief` prints it
 * (cmd-brief.c).  docs/brief.md documents every field.
 */
#ifndef CADENZA_BRIEF_H
#define CADENZA_BRIEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strategy.h"
#include "tz.h"
#include "util.h"

#define BRIEF_COMPACT_MAX 255  /* bytes of the compact form */
#define BRIEF_CONTACTS_MAX 5   /* last contacts listed */
#define BRIEF_NOTES_MAX 8      /* flags and tags with a script note */
#define BRIEF_OUTCOMES_MAX 256 /* newest outcomes a caller passes at most */
#define BRIEF_HISTORY_DAYS 365 /* how far back a caller looks for them */

/* One outcome of the debtor's history. */
struct brief_outcome {
    int64_t at;            /* UTC */
    int kind;              /* enum chan_kind of the contact, -1: none (a payment, a promise
                              made elsewhere) */
    int code;              /* enum outcome_code */
    int32_t promise_date;  /* PROMISE_TO_PAY: days since epoch, else 0 */
    bool has_amount;
    int64_t amount_minor;
};

/* Everything the brief is made of; strings borrowed, may be NULL. */
struct brief_input {
    const char *debtor_id;   /* the team's external id */
    const char *name, *locale, *currency;
    const struct tz *tz;     /* the debtor's zone (required) */
    int64_t balance_minor;
    int32_t due_date;        /* days since epoch, INT32_MIN: none */
    int payday;              /* as imported: 1..31, -1 last day of the month, 0 unknown */
    uint32_t flags;          /* DEBTOR_* */
    const char *tags;        /* ';'-separated, or NULL */
    const char *strategy, *variant, *tier; /* the tier the debtor is in, or NULL */
    struct tier_offers offers;             /* what that tier allows (zero: nothing) */
    int promise_grace_days;  /* a promise is broken this many days after its date */
    const struct brief_outcome *outcomes;  /* any order */
    size_t noutcomes;
    int64_t now;             /* the brief is as of this instant (UTC) */
};

enum brief_promise_state { BRIEF_PROMISE_OPEN, BRIEF_PROMISE_KEPT, BRIEF_PROMISE_BROKEN };

/* A flag or tag with the script note it calls for (one row of a static table). */
struct brief_note {
    uint32_t flag;           /* a DEBTOR_* bit, or 0: a tag */
    const char *tag;         /* the tag (flag 0), matched case-insensitively */
    const char *name;        /* as shown */
    bool stops_collection;   /* no payment ask and no offers */
    const char *note;        /* what the agent does */
};

enum brief_offer_kind { BRIEF_OFFER_PLAN, BRIEF_OFFER_MOVE_DUE_DATE, BRIEF_OFFER_FEE_WAIVER };

struct brief_offer {
    enum brief_offer_kind kind;
    int max_instalments;     /* PLAN */
    int64_t min_instalment;  /* PLAN: balance / max_instalments, rounded up (minor units),
                                0 without a balance */
    int32_t to_date;         /* MOVE_DUE_DATE: the next payday, 0 when unknown */
};

/* The brief: borrows in's strings (in must outlive it). */
struct brief {
    const struct brief_input *in;
    const char *name, *locale, *currency; /* in's, or NULL when not valid UTF-8 */
    int32_t today;                        /* local day of in->now */
    bool has_dpd;
    int dpd;                              /* today - due_date */
    struct brief_outcome contacts[BRIEF_CONTACTS_MAX]; /* newest first */
    size_t ncontacts;
    int promises_made, promises_kept, promises_broken, promises_open;
    bool has_promise;                     /* the newest promise: */
    struct brief_outcome promise;
    enum brief_promise_state promise_state;
    bool has_payment;                     /* the newest payment */
    struct brief_outcome payment;
    int payday;                           /* 1..31, -1 last day, 0 unknown */
    bool payday_inferred;                 /* from the payments, not imported */
    int32_t next_payday;                  /* the next payday on or after today, 0: unknown */
    const struct brief_note *notes[BRIEF_NOTES_MAX]; /* in table order */
    size_t nnotes;
    const struct brief_note *stopped_by;  /* the first note that stops collection, or NULL */
    struct brief_offer offers[3];         /* none while collection is stopped */
    size_t noffers;
};

/* Build the brief from in (pure).  0, or -EINVAL when in->tz is NULL. */
int brief_build(const struct brief_input *in, struct brief *ret);

/* Append the forms (each -ENOMEM or -E2BIG from the sbuf). */
int brief_format_text(const struct brief *b, struct sbuf *out);
/* with_forms: add "fields" and "compact" members (what a dialer job carries). */
int brief_format_json(const struct brief *b, bool with_forms, struct sbuf *out);
int brief_format_fields(const struct brief *b, struct sbuf *out);
/* out holds BRIEF_COMPACT_MAX + 1 bytes; returns the length written. */
size_t brief_format_compact(const struct brief *b, char *out);
/*
 * The members a dialer job's inputs carry, each preceded by a comma:
 * ,"brief":{...},"brief_fields":{...},"brief_text":"..."
 */
int brief_job_inputs(const struct brief *b, struct sbuf *out);

/*
 * The tier a debtor is in and what it allows, from its contact state's
 * names when the set still has them, else the strategy that matches the
 * debtor at dpd, the variant the planner would pick and its start tier:
 * sets in->strategy, variant, tier (borrowed from set), offers and
 * promise_grace_days.  Nothing matches: they stay NULL and zero.
 */
struct debtor_rec;
void brief_strategy(const struct strategy_set *set, const struct debtor_rec *rec, int dpd,
                    const char *strategy, const char *variant, const char *tier,
                    struct brief_input *in);

/* The script-note table, for documentation and tests (ends with name NULL). */
extern const struct brief_note brief_notes[];

#endif
