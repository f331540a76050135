/*
 * strategy.h - contact strategies: the YAML language operations teams
 * write (docs/strategies.md), loaded and validated into plain structs the
 * planner walks without further checks.
 *
 * Everything a loaded set exposes is resolved: channels are indexes into
 * config->channels, tiers are indexes into their variant's ladder, windows
 * are struct day_ranges[7] (Monday = 0), durations are ints in minutes or
 * days, templates are names checked against strategy_set.templates.  Strings are
 * borrowed from the YAML documents the set keeps alive, so they live as
 * long as the set does.
 */
#ifndef CADENZA_STRATEGY_H
#define CADENZA_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "diag.h"
#include "template.h"
#include "util.h"
#include "ynode.h"

struct debtor_rec;

#define TIER_CHANNELS_MAX 16
#define TIER_CAPS_MAX 8
#define TIER_EXITS_MAX 8
#define STRATEGY_TIERS_MAX 32
#define STRATEGY_VARIANTS_MAX 16
#define STRATEGY_DPD_MIN (-3650) /* bounds of the dpd axis: "no limit" */
#define STRATEGY_DPD_MAX 36500

/* Special tier indexes in tier_exit.to and strategy_reaction.to. */
#define TIER_NEXT (-1)       /* the next tier of the ladder */
#define TIER_NO_CONTACT (-2) /* the variant's no-contact track */

/* How a tier picks among its channels. */
enum tier_choose {
    TIER_CHOOSE_ORDER, /* first channel in the list whose rules allow a contact */
    TIER_CHOOSE_MODEL, /* the model picks among the allowed channels (EV ranked) */
    _TIER_CHOOSE_MAX,
};

/* One channel a tier may use. */
struct tier_channel {
    int channel;          /* index into config->channels */
    const char *template_name;
    double value;         /* value of a right-party contact here (currency units) */
    int min_gap_minutes;  /* between two attempts on this channel (0: only the tier's gap) */
    int max_attempts;     /* on this channel while in the tier (0: unlimited) */
    int line, col;
};

/* A rolling cap: at most max attempts in any `days` consecutive days. */
struct tier_cap {
    int channel;          /* index into config->channels, or -1 */
    int kind;             /* enum chan_kind, or -1; both -1: every channel */
    int max;
    int days;
};

/*
 * What the agent may offer a debtor in a tier (docs/strategies.md,
 * "offers"); the agent brief lists them.  Zero: nothing is offered.
 */
#define OFFERS_PLAN_MAX 60
#define OFFERS_PROMISE_DAYS_MAX 90
#define OFFERS_MIN_INSTALMENT_MAX 1000000
struct tier_offers {
    int plan_max_instalments; /* a payment plan of 2..this many instalments; 0: none */
    bool move_due_date;       /* move the due date to the debtor's payday */
    bool fee_waiver;          /* waive late fees and charges */
    int promise_max_days;     /* self-service: a promise at most this many days ahead; 0: none */
    int plan_min_instalment;  /* self-service: no instalment below this (currency units) */
};

/* What makes a debtor leave a tier. */
enum tier_trigger {
    TIER_ON_ATTEMPTS,       /* n attempts in the tier without any contact */
    TIER_ON_DAYS,           /* n days spent in the tier */
    TIER_ON_BROKEN_PROMISE, /* a promise to pay made in this tier was broken */
    TIER_ON_DPD,            /* days past due reached n */
    _TIER_TRIGGER_MAX,
};

struct tier_exit {
    enum tier_trigger trigger;
    int n;                /* attempts, days or dpd; 0 for a broken promise */
    int to;               /* tier index, TIER_NO_CONTACT (resolved: never TIER_NEXT) */
    int line, col;
};

struct tier {
    const char *name;
    const char *file;
    int line, col;
    int index;                    /* position in the ladder; -1 for the no-contact track */
    enum tier_choose choose;
    struct tier_channel ch[TIER_CHANNELS_MAX];
    size_t nch;
    struct day_ranges windows[7]; /* debtor's local time, Monday = 0 */
    int min_gap_minutes;          /* between any two attempts in the tier */
    int max_attempts;             /* in the tier, all channels (0: unlimited) */
    struct tier_cap caps[TIER_CAPS_MAX];
    size_t ncaps;
    bool asks_payment;            /* time contacts to the debtor's payday */
    int entry_dpd;                /* start here when dpd >= entry_dpd (INT32_MIN: never) */
    struct tier_exit exits[TIER_EXITS_MAX];
    size_t nexits;
    struct tier_offers offers;    /* the strategy's `offers`, then the tier's own */
};

/* Outcomes a strategy reacts to. */
enum strategy_outcome {
    STRATEGY_OUTCOME_PROMISE_TO_PAY,
    STRATEGY_OUTCOME_PAID,
    STRATEGY_OUTCOME_DISPUTE,
    STRATEGY_OUTCOME_OPT_OUT,
    STRATEGY_OUTCOME_WRONG_NUMBER,
    STRATEGY_OUTCOME_BOUNCED,
    STRATEGY_OUTCOME_REFUSED,
    _STRATEGY_OUTCOME_MAX,
    _STRATEGY_OUTCOME_INVALID = -22,
};

enum strategy_action {
    STRATEGY_ACTION_CONTINUE,           /* nothing changes */
    STRATEGY_ACTION_PAUSE,              /* no contact until the promise date + grace_days */
    STRATEGY_ACTION_STOP,               /* the debtor leaves the strategy */
    STRATEGY_ACTION_HOLD,               /* no contact until the hold is lifted */
    STRATEGY_ACTION_SUPPRESS_CHANNEL,   /* never use this address on this channel again */
    STRATEGY_ACTION_SUPPRESS_ALL,       /* no electronic contact on any channel */
    STRATEGY_ACTION_INVALIDATE_ADDRESS, /* the address is wrong: drop it, flag it */
    STRATEGY_ACTION_ESCALATE,           /* go to tier `to` */
    _STRATEGY_ACTION_MAX,
    _STRATEGY_ACTION_INVALID = -22,
};

struct strategy_reaction {
    enum strategy_action action;
    int grace_days; /* PAUSE */
    int to;         /* ESCALATE: tier index, TIER_NEXT or TIER_NO_CONTACT */
};

/* The no-contact track: slow rotation through channels, address investigation. */
struct no_contact_track {
    bool enabled;
    int after_attempts;       /* attempts on any channel without a contact */
    int rotate_days;          /* use the next channel of the list every this many days */
    bool investigate_address; /* flag the debtor's addresses for investigation */
    struct tier tier;         /* channels, windows, cadence of the track */
};

/* Tunables a variant may override. */
struct strategy_params {
    double exploration;   /* share of model choices spent exploring, 0..1 */
    int payday_lead_days; /* payment asks go out this many days before payday .. payday */
};

/* Champion, challenger(s): each a complete, resolved plan. */
struct variant {
    const char *name;
    int line, col;
    int weight;                 /* percent; the weights of a strategy add up to 100 */
    struct tier *tiers;         /* owned */
    size_t ntiers;
    struct no_contact_track no_contact;
    struct strategy_reaction on[_STRATEGY_OUTCOME_MAX];
    struct strategy_params params;
};

struct strategy_match {
    int dpd_min, dpd_max;        /* inclusive; negative: before the due date */
    double balance_min, balance_max; /* inclusive, major units; max < 0: no limit */
    const char **segments;       /* any of (empty: all) */
    size_t nsegments;
    const char **tags;           /* debtor has any of (empty: all) */
    size_t ntags;
    const char **countries;      /* ISO 3166-1 alpha-2, upper case (empty: all) */
    size_t ncountries;
    const char **risk_bands;     /* any of (empty: all) */
    size_t nrisk_bands;
    uint32_t flags_required;     /* DEBTOR_* bits the debtor must all have */
    uint32_t flags_any;          /* at least one of these (0: no condition) */
    uint32_t flags_excluded;     /* none of these */
};

struct strategy {
    const char *name;
    const char *description;     /* or NULL */
    const char *file;
    int line, col;
    int priority;                /* higher wins */
    struct strategy_match match;
    struct variant *variants;    /* owned; at least one ("default", weight 100) */
    size_t nvariants;
};

struct strategy_set {
    struct strategy *v;
    size_t n;
    struct template_set *templates; /* template.h; NULL when none were loaded */
    size_t ntiers;           /* tier definitions loaded (for reports) */
    struct ydoc **docs;      /* strings in v borrow from these */
    size_t ndocs;
};

/*
 * Load strategies from files and/or directories (every *.yaml and *.yml in
 * a directory, in name order).  NULL/0 paths: cfg->strategy_dir.  Templates
 * come from cfg->template_dir (NULL: template references are not checked).
 * Every problem goes to d; returns -EINVAL when d holds errors (then *ret
 * is not set), -ENOMEM on OOM, -errno when a path cannot be read (also
 * reported in d).  The caller frees *ret with strategy_set_free().
 */
int strategy_set_load(const struct config *cfg, const char *const *paths, size_t npaths,
                      struct strategy_set **ret, struct diags *d);
/* The same for one in-memory document named name (used by tests and the fuzzer). */
int strategy_set_load_buffer(const struct config *cfg, const char *name, const char *buf,
                             size_t len, struct strategy_set **ret, struct diags *d);
void strategy_set_free(struct strategy_set *s);

/*
 * The strategy for a debtor at dpd days past due: the highest priority
 * match (load order breaks ties; validation forbids overlapping ties).
 * NULL when none matches.
 */
const struct strategy *strategy_set_match(const struct strategy_set *s,
                                          const struct debtor_rec *d, int dpd);
bool strategy_matches(const struct strategy *st, const struct debtor_rec *d, int dpd);
/* Deterministic variant for a debtor: bucket = key % 100 walks the weights. */
const struct variant *strategy_pick_variant(const struct strategy *st, uint64_t key);
/* The tier a debtor entering the variant at dpd starts in (highest entry_dpd <= dpd). */
int variant_start_tier(const struct variant *v, int dpd);
const struct tier *variant_tier(const struct variant *v, const char *name);

const char *strategy_outcome_to_string(enum strategy_outcome o);
enum strategy_outcome strategy_outcome_from_string(const char *s);
const char *strategy_action_to_string(enum strategy_action a);
enum strategy_action strategy_action_from_string(const char *s);
const char *tier_trigger_to_string(enum tier_trigger t);

#endif
