/*
 * planner.h - the one planner function: debtor + contact state + recent
 * history + rules + a point in time -> the day's contact decision, and
 * the global capacity step over every debtor's ranked candidates.
 *
 * Pure: no I/O, no clock (`now` is an argument), no allocation on the
 * per-debtor path, reentrant (a finished model, a config and a strategy
 * set are shared read-only between threads).  docs/planner.md documents
 * the pipeline, every rule and its rejection reason.
 *
 * Typical caller (the daily run, `plan`, `explain`, a re-plan):
 *   for each debtor: load rec, state, history, counts from the store ->
 *       fill planner_debtor/state/history -> planner_plan() -> keep
 *       ret.cand[0..ncand) (compact) and ret.next (the new state)
 *   planner_assign() over all kept candidates -> write decisions,
 *   transitions (ret.trans) and effects (ret.effects) to the store.
 */
#ifndef CADENZA_PLANNER_H
#define CADENZA_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "debtor.h"
#include "model.h"
#include "outcome.h"
#include "prefs.h"
#include "strategy.h"
#include "tz.h"

/* ---- inputs ---- */

/*
 * The debtor.  rec is borrowed (the strategy match, flags, consent,
 * phone type, do-not-contact ranges, payday, due date come from it).
 */
struct planner_debtor {
    int64_t id;                       /* internal id (seeds the sampler) */
    const struct debtor_rec *rec;
    const struct tz *tz;              /* the debtor's zone (required) */
    const struct tz *tz2;             /* a second candidate zone, or NULL: slots must
                                         be legal in both */
    const struct profile *profile;    /* NULL: by rec->country, else no profile */
    const struct calendar *calendar;  /* NULL: the profile's calendar */
    int segment;                      /* model segment index, -1: none */
    uint8_t addresses;                /* bit per chan_kind: an address exists */
    uint8_t suppressed;               /* bit per chan_kind: suppressed (opt-out, ...) */
    uint8_t invalid;                  /* bit per chan_kind: of those, suppressed because the
                                         address does not work (hard bounce, wrong number,
                                         invalid address): its attempts reached nobody */
    int8_t payday_inferred;           /* from payment history: 1..31, -1 last, 0 none */
    const struct model_cell *cells;   /* own slot counts (sparse), borrowed */
    size_t ncells;
    const struct prefs *prefs;        /* what the debtor stated (self-service), or NULL:
                                         forbidden times and "rather a person" are hard
                                         rules, the preferred channel and hours priors;
                                         a moved due date is the caller's to apply to rec */
};
/* The model's covariates of a debtor (its level values below the segment; strings borrowed). */
void planner_model_covariates(const struct debtor_rec *rec, struct model_covariates *ret);
/* Channel kinds with an address in rec (email, phone for sms/call, chat handle; letter always). */
uint8_t planner_addresses(const struct debtor_rec *rec);

/* Contact state as stored (contact_state).  Zeroed: a debtor never planned. */
struct planner_state {
    const char *strategy, *variant, *tier; /* names; NULL: none yet */
    int64_t tier_entered_at;          /* UTC */
    int attempts_in_tier;
    int attempts_since_contact;
    int attempts_total;
    int64_t paused_until;             /* UTC; 0 none */
    const char *hold_reason;          /* non-NULL: held */
    bool no_contact_track;
    bool stopped;                     /* left the strategy (paid, no match, ...) */
    int64_t applied_until;            /* outcomes at or before this were applied */
};

struct planner_attempt {
    int64_t at;      /* UTC, scheduled or sent (pending ones count) */
    int16_t channel; /* index into config->channels, -1 unknown */
    uint8_t kind;    /* enum chan_kind */
};

struct planner_outcome {
    int64_t at;          /* UTC */
    uint8_t kind;        /* enum chan_kind of the attempt, or _CHAN_KIND_MAX: none */
    uint8_t code;        /* enum outcome_code */
    int32_t promise_day; /* PROMISE_TO_PAY: local day, else 0 */
};

/*
 * Recent history, any order.  Must cover at least the longest rolling
 * cap (7 days for the usual profiles), the call cool-down and the time
 * since the current tier was entered (per-channel attempt maxima), and
 * the latest promise; PLANNER_HISTORY_DAYS is a safe default.
 */
#define PLANNER_HISTORY_DAYS 45
/*
 * A payment plan the debtor agreed to (the latest; self-service): each
 * instalment is a promise.  The debtor is paused until the instalment
 * the plan waits for is due plus the promise grace; one not paid by then
 * is a broken promise.  Payments while it runs do not stop the strategy
 * until they cover the plan.
 */
struct planner_plan {
    int64_t agreed_at;                 /* UTC */
    int64_t paid_minor;                /* `paid` amounts since agreed_at (up to now) */
    const struct plan_instalment *inst; /* by due date */
    size_t n;
};

struct planner_history {
    const struct planner_attempt *attempts;
    size_t nattempts;
    const struct planner_outcome *outcomes;
    size_t noutcomes;
    const struct planner_plan *plan;  /* NULL: none */
};

struct propensity;

/* Shared, read-only for the whole run. */
struct planner_ctx {
    const struct config *cfg;
    const struct strategy_set *set;
    const struct model *model;
    const struct propensity *prop; /* payment propensity (propensity.h), NULL: none */
    bool prop_all;           /* predict it for every debtor a strategy matches (a persisted
                                run stores it), not only where it orders debtors: a first
                                candidate on a channel with hourly capacity */
    uint64_t seed;           /* run seed: same seed, same inputs -> same plan */
    int max_per_day;         /* contacts per debtor per local day (0: 1) */
    int shortlist;           /* candidates sampled exactly (0: 4) */
    int redraws;             /* at most this many re-draws estimate cand[0].p_choice (0: none) */
    double payday_boost;     /* value multiplier on payday days (0: 1.3) */
    double prefers_human_bot;   /* value multiplier of bots for prefers_human (0: 0.5) */
    double prefers_human_call;  /* ... of calls (0: 1.2) */
    double preferred_channel;   /* ... of the debtor's preferred channel kind (0: 1.2) */
    double stated_channel;      /* ... of the channel the debtor stated (self-service; 0: 1.5) */
    double stated_hours;        /* ... of a slot in the hours the debtor stated (0: 1.5) */
};

/* ---- outputs ---- */

/* Why a candidate (or the whole day) was rejected.  Strings are docs/planner.md's. */
enum planner_reason {
    PLAN_OK,
    PLAN_NO_STRATEGY,     /* "no strategy matches" */
    PLAN_STOPPED,         /* "stopped" */
    PLAN_HELD,            /* "held" */
    PLAN_PAUSED,          /* "paused" */
    PLAN_NO_PROFILE,      /* "no jurisdiction profile" */
    PLAN_DAY_CLOSED,      /* "no legal hours on this weekday" */
    PLAN_HOLIDAY,         /* "holiday" */
    PLAN_WINDOW_CLOSED,   /* "strategy window closed" */
    PLAN_DAILY_LIMIT,     /* "daily limit" */
    PLAN_NO_ADDRESS,      /* "no address" */
    PLAN_SUPPRESSED,      /* "suppressed" */
    PLAN_CONSENT_REFUSED, /* "consent refused" */
    PLAN_NO_CONSENT,      /* "consent required" */
    PLAN_NOT_MOBILE,      /* "not a mobile number" */
    PLAN_VULNERABLE,      /* "vulnerable: human only" */
    PLAN_CHANNEL_MAX,     /* "channel attempts exhausted in tier" */
    PLAN_TIER_MAX,        /* "tier attempts exhausted" */
    PLAN_TIER_CAP,        /* "tier rolling cap" */
    PLAN_CALL_CAP,        /* "call cap" (profile: 7 in 7) */
    PLAN_CALL_COOLDOWN,   /* "call cool-down after conversation" */
    PLAN_WEEKLY_CAP,      /* "weekly cap" */
    PLAN_ROTATION,        /* "not this rotation's channel" (no-contact track) */
    PLAN_NOT_FIRST,       /* "earlier channel available" (choose: order) */
    PLAN_LEGAL_HOURS,     /* "outside legal hours" */
    PLAN_DNC,             /* "debtor's do-not-contact time" */
    PLAN_TZ2,             /* "outside legal hours in second zone" */
    PLAN_GAP_TIER,        /* "tier minimum gap" */
    PLAN_GAP_CHANNEL,     /* "channel minimum gap" */
    PLAN_PAST,            /* "slot already past" */
    PLAN_DST_GAP,         /* "skipped by DST change" */
    PLAN_CAPACITY,        /* "over capacity" (planner_assign) */
    PLAN_RANK,            /* "ranked below the kept candidates" (trace only) */
    PLAN_STATED_TIME,     /* "debtor's stated do-not-contact time" (self-service) */
    PLAN_HUMAN_ONLY,      /* "debtor asked for a person" (no bot; no automated message when
                             a call is possible) */
    _PLAN_REASON_MAX,
};
const char *planner_reason_to_string(enum planner_reason r);

#define PLANNER_CAND_MAX 8
/* A planned (allowed) contact: channel x slot. */
struct planner_cand {
    int64_t at;              /* UTC start of the slot (RFC 3339 when written) */
    int64_t until;           /* UTC end of the slot: the latest legal send time */
    int16_t channel;         /* index into config->channels */
    int16_t tchan;           /* index into the tier's channel list */
    uint8_t kind;
    uint8_t how;             /* local hour of week */
    int16_t local_min;       /* local minutes after midnight of `at` */
    float p_reach;           /* posterior mean */
    float p_sample;          /* the Thompson draw (== p_reach when greedy) */
    float value;             /* value after payday/preference multipliers */
    float ev;                /* expected value p_reach*value - cost */
    float score;             /* what candidates are ranked by (sampled EV) */
    float p_choice;          /* cand[0]: P(the policy ranks it first) as 1 / the re-draws
                                until it won again (ctx->redraws; -1: not estimated) */
};

enum planner_effect_kind {
    PLAN_EFFECT_SUPPRESS_CHANNEL,   /* suppress kind's address */
    PLAN_EFFECT_SUPPRESS_ALL,
    PLAN_EFFECT_INVALIDATE_ADDRESS, /* kind's address is wrong */
    PLAN_EFFECT_INVESTIGATE,        /* no-contact track: investigate addresses */
};
struct planner_effect {
    uint8_t what; /* enum planner_effect_kind */
    uint8_t kind; /* enum chan_kind */
};

#define PLANNER_TRANS_MAX 8
struct planner_transition {
    const char *from_tier, *to_tier; /* NULL: none (entering / leaving) */
    int64_t at;                      /* = now */
    char reason[96];
};

#define PLANNER_EFFECTS_MAX 8
struct planner_result {
    enum planner_reason status;       /* PLAN_OK: ncand > 0; else why nothing is planned */
    const struct strategy *strategy;  /* NULL: none matches */
    const struct variant *variant;
    const struct tier *tier;          /* NULL when stopped/none */
    int tier_index;                   /* -1 no-contact track */
    int dpd;
    double p_pay;                     /* P(pays within 30 days) (ctx->prop; -1: none) */
    double weight;                    /* capacity order: p_pay x balance (0: none, = 1) */
    struct planner_state next;        /* state to store (names borrow from the set) */
    struct planner_transition trans[PLANNER_TRANS_MAX];
    size_t ntrans;
    struct planner_effect effects[PLANNER_EFFECTS_MAX];
    size_t neffects;
    struct planner_cand cand[PLANNER_CAND_MAX]; /* best first */
    size_t ncand;
};

/* explain: every candidate considered, with its verdict. */
#define PLANNER_TRACE_MAX 1024
/* Stated preferences that raised a scored candidate's value (planner_trace_entry.boost). */
#define PLANNER_BOOST_CHANNEL 1u /* the channel the debtor prefers */
#define PLANNER_BOOST_HOURS 2u   /* an hour the debtor prefers */
struct planner_trace_entry {
    struct planner_cand c;    /* at/channel/kind always set; estimates when scored */
    uint8_t reason;           /* enum planner_reason; PLAN_OK: kept */
    bool scored;
    uint8_t boost;            /* PLANNER_BOOST_* when scored */
};
struct planner_trace {
    char strategy_why[160];   /* "priority 100, matched dpd 12, country US" */
    char variant_why[96];
    char tier_why[160];
    char plan_why[160];       /* the payment plan's state, "" without one */
    struct planner_trace_entry e[PLANNER_TRACE_MAX];
    size_t n;
    size_t dropped;           /* entries beyond PLANNER_TRACE_MAX */
};

/*
 * Plan one debtor for local day plan_day (days since epoch in the
 * debtor's zone) at instant now (UTC; slots before now are not planned).
 * Fills *ret (always, also when nothing is planned: see ret->status) and,
 * when trace is non-NULL, every candidate with its verdict.  Returns 0,
 * or -EINVAL for unusable input (no rec, no tz, no set).  Never blocks,
 * never allocates.
 */
int planner_plan(const struct planner_ctx *ctx, const struct planner_debtor *d,
                 const struct planner_state *st, const struct planner_history *h, int64_t now,
                 int32_t plan_day, struct planner_result *ret, struct planner_trace *trace);

/* ---- capacity ---- */

/* One debtor's ranked candidates as kept by the caller (best first). */
struct planner_slate {
    const struct planner_cand *cand;
    size_t ncand;
    float weight; /* the debtor's planner_result.weight: keys are score x weight (0: 1) */
};

/*
 * Assign at most config->channels[c].hourly_capacity contacts per channel
 * per UTC hour (0 = unlimited): debtors are served in order of their
 * current candidate's score times the slate's weight (the expected
 * recovered amount per contact when the payment propensity is known); a
 * debtor whose candidate is full moves to its next best one.  ret_choice[i] is the chosen index into
 * slates[i].cand, or -1 (every candidate full, or none).  Deterministic
 * (ties: lower slate index first).  Returns the number assigned, or
 * -ENOMEM.  Allocates O(n) temporary memory.
 */
int64_t planner_assign(const struct config *cfg, const struct planner_slate *slates, size_t n,
                       int32_t *ret_choice);

/* A contact planned before (an earlier run of the day): it uses capacity. */
struct planner_taken {
    int64_t at;      /* UTC start of its slot */
    int16_t channel; /* index into config->channels */
};
/* planner_assign() with capacity already used by the taken contacts. */
int64_t planner_assign_with(const struct config *cfg, const struct planner_slate *slates,
                            size_t n, const struct planner_taken *taken, size_t ntaken,
                            int32_t *ret_choice);

/*
 * Payday inferred from payment history (docs/planner.md, "payday"): two
 * `paid` outcomes at or before now, in different months, whose local
 * days of month (zone z) are at most PLANNER_PAYDAY_SPREAD apart -> the
 * earlier day of month of the most recent such pair; both on their
 * month's last day -> -1 (last day).  0: none.  At most
 * PLANNER_PAYDAY_MAX payments are looked at.
 */
#define PLANNER_PAYDAY_SPREAD 3
#define PLANNER_PAYDAY_MAX 16
int planner_infer_payday(const struct planner_outcome *o, size_t n, const struct tz *z,
                         int64_t now);

#endif
