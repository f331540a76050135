/*
 * campaign.h - plan one day for the whole portfolio: the store's bulk
 * reader -> the pure planner -> capacity -> decisions, and optionally
 * the writes that make the plan real (attempts, contact_state,
 * state_transitions).  `cadenza plan` (dry run), `cadenza explain` and
 * the daily `run` share it.
 */
#ifndef CADENZA_CAMPAIGN_H
#define CADENZA_CAMPAIGN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "planner.h"
#include "store.h"
#include "strategy.h"
#include "util.h"

/* Latest UTC offset of any zone (+14:00, Pacific/Kiritimati), seconds. */
#define CAMPAIGN_EARLIEST_OFFSET (14 * 3600)

/*
 * The default `now` for planning local day `date`: the first instant of
 * that day anywhere on Earth (date 00:00 UTC - 14 h), or `clock` when it
 * is later (planning today never plans slots already past).
 */
int64_t campaign_default_now(int32_t date, int64_t clock);

/*
 * The model, payment propensity and segments a plan scores with, built
 * from the store's statistics as of `now` (built-in priors, segment
 * statistics, the empirical-Bayes sample).  A caller that plans often
 * (the daemon's re-plans) builds it once and passes it in
 * campaign_opts.model; read-only while planning, shared by threads.
 * Returns 0 or -errno (store message in store_errmsg(s)).  Blocks.
 */
struct campaign_model;
int campaign_model_new(struct store *s, int64_t now, struct campaign_model **ret);
void campaign_model_free(struct campaign_model *cm);

struct campaign_opts {
    int32_t date;            /* the local day planned, days since epoch */
    int64_t now;             /* UTC lower bound of every slot; outcomes after it are ignored */
    uint64_t seed;           /* exploration seed: same seed, same plan */
    bool persist;            /* write attempts, contact_state, transitions (store read-write) */
    int64_t run_id;          /* attempts.run_id when persisting (0: none) */
    const char *external_id; /* plan only this debtor (NULL: every debtor) */
    bool all;                /* call back also for debtors without a contact today */
    int threads;             /* planning threads (0: 2) */
    int redraws;             /* at most this many re-draws estimate each decision's choice
                                probability (0: none; `run` uses CAMPAIGN_REDRAWS) */
    const int64_t *ids;      /* plan only these debtors: internal ids, ascending (nids of
                                them; ids that name no debtor are skipped), or NULL */
    size_t nids;
    const struct campaign_model *model; /* built beforehand, or NULL: built for the call */
    bool taken_given;        /* capacity already used on the day is `taken` (the caller
                                keeps it), instead of read from the day's attempts */
    const struct planner_taken *taken;
    size_t ntaken;
    const atomic_bool *cancel; /* set: stop at the next debtor (-ECANCELED); what was
                                committed stays (a later plan of the day completes it) */
};
#define CAMPAIGN_REDRAWS 1000

/* One debtor's result for the day, borrowed for the duration of the callback. */
struct campaign_decision {
    int64_t debtor_id;             /* internal id */
    const char *external_id;
    const char *time_zone;
    const struct tz *tz;           /* the zone planned in (the debtor's, else UTC) */
    const struct strategy *strategy; /* NULL: none matches */
    const struct variant *variant;
    const char *tier;              /* NULL when stopped / none */
    int dpd;
    enum planner_reason status;    /* PLAN_OK: cand is the contact; else why none */
    const struct planner_cand *cand; /* chosen candidate (NULL: no contact) */
    int choice;                    /* its rank among the debtor's candidates (0 = best) */
    int ncand;                     /* candidates kept for the capacity step */
    const char *channel;           /* instance name of cand's channel */
    const char *template_name;     /* template of cand's tier channel, or NULL */
    const char *idempotency_key;   /* persist: the attempt's key */
    int64_t attempt_id;            /* persist: new attempts.id, 0 when the key existed */
};

struct campaign_stats {
    int64_t debtors;               /* debtors read */
    int64_t planned;               /* decisions with a contact */
    int64_t by_reason[_PLAN_REASON_MAX]; /* debtors without a contact, by status */
    int64_t attempts_written, attempts_existing, transitions_written, states_written;
    int64_t effects_written;       /* suppressions added + address investigations */
    double read_plan_seconds, assign_seconds, write_seconds;
    double read_plan_cpu_seconds;  /* CPU time of the planning threads, summed */
    int threads;                   /* planning threads used */
};

/*
 * Plan `o->date` for every debtor (or o->external_id).  Builds the model
 * from segment_slot_stats (+ built-in priors), streams debtors from the
 * store, plans each (in o->threads threads), assigns capacity
 * (planner_assign), then calls cb once per debtor with a contact (and,
 * with o->all, per debtor without one), in internal id order.  With
 * o->persist it first writes each debtor's attempt (idempotency key
 * "YYYY-MM-DD:<external id>:<n>", n = the debtor's attempts on that local
 * day + 1, so planning a day twice adds nothing), its contact_state,
 * transitions and effects (suppressions, address investigation), in
 * transactions of a few thousand debtors.  cb < 0 stops
 * (returned).  Returns 0 or -errno (store message in store_errmsg(s));
 * -ENOENT when o->external_id is unknown.  Blocks; allocates O(debtors).
 */
int campaign_plan_day(struct store *s, const struct config *cfg, const struct strategy_set *set,
                      const struct campaign_opts *o,
                      int (*cb)(void *ctx, const struct campaign_decision *d), void *ctx,
                      struct campaign_stats *ret);

/*
 * `cadenza explain`: plan one debtor for o->date with a full trace and
 * append a human-readable report to out: strategy, variant and why,
 * tier and why, transitions, every candidate with its estimate and
 * score or the rule that rejected it, and the decision.  Read only.
 * Returns 0, -ENOENT (unknown debtor) or -errno.
 */
int campaign_explain(struct store *s, const struct config *cfg, const struct strategy_set *set,
                     const struct campaign_opts *o, struct sbuf *out);

/*
 * `cadenza report calibration`: the payment propensity as the planner
 * would have fitted it at the start (00:00 UTC) of `date` (training
 * examples from the sample, PROPENSITY_DAYS days before), predicted for
 * every debtor imported by then and compared with whether the debtor paid
 * in the PROPENSITY_DAYS days from `date`: per decile of the prediction,
 * the debtors, the mean prediction and the observed rate.  Read only.
 * Returns 0 or -errno (store message in store_errmsg(s)).
 */
#define CAMPAIGN_CALIB_BINS 10
struct campaign_calib_bin {
    int64_t n, paid;
    double predicted;        /* mean prediction */
    double pmin, pmax;       /* range of predictions */
};
struct campaign_calibration {
    int32_t date;
    int64_t train_examples, train_paid;
    int64_t debtors, paid;   /* evaluated */
    double predicted;        /* mean prediction */
    double brier, log_loss;  /* mean squared error, mean negative log likelihood */
    double brier_base;       /* the same with every debtor at the training rate */
    double ece;              /* sum over deciles of share x |predicted - observed| */
    struct campaign_calib_bin bin[CAMPAIGN_CALIB_BINS];
};
int campaign_calibration(struct store *s, int32_t date, struct campaign_calibration *ret);

/* Channel kinds a person is reached on (an opt-out suppresses them all). */
#define CAMPAIGN_PERSON_KINDS \
    ((1u << CHAN_EMAIL) | (1u << CHAN_SMS) | (1u << CHAN_CHAT) | (1u << CHAN_CALL))

/* The debtor's address on a channel kind (email, phone, chat handle), or NULL. */
const char *campaign_kind_address(const struct debtor_rec *d, int kind);

/*
 * Parse a stored (normalised) do-not-contact text, "Mon-Fri 09:00-17:00;
 * Sat 00:00-12:00", into rec->dnc.  Returns 0 or -EINVAL.
 */
int campaign_parse_dnc(const char *s, struct debtor_rec *rec);

/*
 * Parse an RFC 3339 date-time, "2026-03-10T09:30:00Z" or with an offset
 * "+01:00" (also a space for 'T', lower-case t/z, fractional seconds,
 * which are dropped).  Returns 0 or -EINVAL.
 */
int campaign_parse_time(const char *s, size_t n, int64_t *ret);
/* Format t as "2026-03-10T09:30:00Z" (buf >= 21); tz_format_local() gives the local form. */
void campaign_format_utc(int64_t t, char *buf, size_t len);

/* Local hour of the week (0 = Monday 00:00) of instant t in zone z. */
int campaign_hour_of_week(const struct tz *z, int64_t t);

#endif
