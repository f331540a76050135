/*
 * store.h - the embedded SQLite store: the only module that speaks SQL.
 *
 * One `struct store` is one connection; it is not shared between threads
 * (open one per thread).  Every function returns >= 0 or -errno; SQLite
 * failures map to -EIO (-EBUSY when the database stayed locked past the
 * busy timeout) and the message is kept for store_errmsg().
 */
#ifndef CADENZA_STORE_H
#define CADENZA_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "brief.h"
#include "debtor.h"
#include "planner.h"
#include "prefs.h"

struct store;

/* Schema version this build migrates to (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 11

enum store_open_flags {
    STORE_READONLY = 1 << 0, /* never create or migrate */
    STORE_BULK = 1 << 1,     /* bulk load: larger cache, synchronous=OFF inside batches */
};

/*
 * Open (creating and migrating when needed).  -ENOENT: read-only and
 * missing.  On failure a message goes to reterr (may be NULL).
 */
int store_open(const char *path, unsigned flags, struct store **ret, char *reterr,
               size_t errlen);
/*
 * Tests only: store_open() that migrates no further than schema `version`
 * (to build a store as an older cadenza left it).
 */
int store_open_version(const char *path, int version, struct store **ret, char *reterr,
                       size_t errlen);
void store_free(struct store *s);
const char *store_errmsg(const struct store *s);
const char *store_path(const struct store *s);

int store_begin(struct store *s);
/* A read transaction: many lookups see one snapshot and pay for it once. */
int store_begin_read(struct store *s);
int store_commit(struct store *s);
/*
 * A part of the open transaction that can be undone alone (a savepoint):
 * store_part_end(s, false) undoes what was written since
 * store_part_begin(), true keeps it; either way the part is closed.
 * Lets a group commit refuse one request and keep the others.
 */
int store_part_begin(struct store *s);
int store_part_end(struct store *s, bool keep);
int store_rollback(struct store *s);

/* ---- imports ---- */

struct import_counts {
    int64_t read, inserted, updated, unchanged, rejected;
};

/* Record the start of an import; *ret_id names it for store_import_finish. */
int store_import_start(struct store *s, const char *source, int64_t now, int64_t *ret_id);
int store_import_finish(struct store *s, int64_t id, const struct import_counts *c,
                        int64_t now, const char *status);

/*
 * Walk every debtor's external id and stored row hash, for the importer to
 * skip unchanged rows.  cb returns < 0 to stop (that value is returned).
 */
int store_debtor_hashes(struct store *s,
                        int (*cb)(void *ctx, const char *id, size_t len, uint64_t row_hash),
                        void *ctx);

/*
 * Insert or update one debtor by external id.  An update keeps the
 * debtor's internal id, so its history (attempts, outcomes, state) stays.
 * A row whose hash equals the stored one is left alone.  Sets *ret_changed
 * to 1 when the row was written (inserted or updated), 0 when unchanged.
 * -EINVAL when the row breaks a constraint of the schema (store_errmsg()
 * says which); the transaction is then still open and usable.
 */
int store_debtor_upsert(struct store *s, const struct debtor_rec *d, int64_t now,
                        int *ret_changed);

/* ---- status ---- */

struct store_count {
    char *label;
    int64_t n;
};

struct store_group {
    const char *name; /* "country", "dpd", ... (static) */
    struct store_count *v;
    size_t n;
};

enum {
    STATUS_BY_COUNTRY,
    STATUS_BY_DPD,
    STATUS_BY_STRATEGY,
    STATUS_BY_TIER,
    STATUS_BY_CHANNEL, /* reachable channels: a debtor counts once per channel */
    STATUS_BY_FLAG,
    STATUS_BY_ATTEMPT, /* attempts of the last run, by status */
    STATUS_BY_PROPENSITY, /* debtors by payment propensity band (latest persisted run) */
    _STATUS_GROUP_MAX,
};

struct store_status {
    int64_t debtors;
    int64_t attempts, outcomes, suppressions;
    struct store_group groups[_STATUS_GROUP_MAX];
    /* last import */
    bool has_import;
    char *import_source, *import_status;
    int64_t import_started, import_finished;
    struct import_counts import;
    /* last campaign run */
    bool has_run;
    int32_t run_date;
    char *run_status;
    int64_t run_started, run_finished, run_planned;
    int64_t file_size; /* main file + WAL, bytes */
    /* payment propensity at the latest persisted run (contact_state.p_pay) */
    int64_t pay_debtors;     /* debtors with one */
    double pay_expected;     /* sum of p: debtors expected to pay within 30 days */
    double pay_amount_minor; /* sum of p x balance (minor units, currencies mixed) */
    int schema_version;
};

/* Summarise the store as of the given day (days since epoch, for DPD). */
int store_status_get(struct store *s, int32_t today, struct store_status *ret);
void store_status_release(struct store_status *st);

/* ---- planning: the bulk reader (issue 4) ---- */

/*
 * One debtor as the planner needs it.  Everything is borrowed for the
 * duration of the callback only (strings point into SQLite's row buffers).
 * rec.dnc is NOT parsed: rec.do_not_contact holds the stored (normalised)
 * text and rec.ndnc is 0.  A missing due date reads as 0, a missing payday
 * as 0, preferred_channel/prefers_human as -1 when unknown.
 */
struct store_plan_row {
    int64_t id;                       /* internal id */
    int64_t created_at;               /* when the debtor was first imported (UTC) */
    struct debtor_rec rec;
    bool has_state;                   /* a contact_state row exists */
    struct planner_state state;       /* zeroed when !has_state */
    const struct planner_attempt *attempts; /* scheduled_at >= since; channel resolved */
    size_t nattempts;
    const struct planner_outcome *outcomes; /* occurred_at >= since (skip_idle_outcomes:
                                               only those the planner acts on) */
    size_t noutcomes;
    const struct model_cell *cells;   /* every slot statistics cell (debtor_cells) */
    size_t ncells;
    uint8_t suppressed;               /* bit per chan_kind: the current address is suppressed */
    uint8_t invalid;                  /* ... of those, as an invalid address (reason
                                         'invalid address': bounce, wrong number) */
    const struct prefs *prefs;        /* what the debtor stated (debtor_prefs), or NULL */
    const struct planner_plan *plan;  /* the active payment plan, or NULL */
};

struct store_plan_opts {
    int64_t since;                    /* history window start (UTC) */
    int64_t now;                      /* suppressions expiring before this are ignored */
    int64_t id_min, id_max;           /* internal id range (0, 0: every debtor) */
    const char *external_id;          /* only this debtor (overrides the range), or NULL */
    const char *const *channels;      /* channel instance names: attempt.channel -> index */
    size_t nchannels;
    bool no_attempts;                 /* read no attempts (nattempts 0) */
    bool payments_only;               /* outcomes: only paid and promise_to_pay */
    bool skip_idle_outcomes;          /* only outcomes the planner acts on (a reaction, or
                                         a reach on their kind): not delivered, no_answer,
                                         third_party, failed...; explain keeps them all */
};

/*
 * Stream every debtor (in internal id order) with its state, recent
 * history, slot counts and suppressions: six ordered scans merged by
 * debtor id, never one query per debtor (covering indexes, one packed
 * cells row per debtor: docs/plan.md, "How it reads the store").  cb returns < 0 to stop (that
 * value is returned).  Returns the number of debtors visited, or -errno;
 * -ENOENT when opts->external_id names no debtor.  Blocks on disk reads.
 */
int64_t store_plan_scan(struct store *s, const struct store_plan_opts *o,
                        int (*cb)(void *ctx, const struct store_plan_row *row), void *ctx);

/* Highest internal debtor id (0 when empty), to split a scan into ranges. */
int store_debtor_max_id(struct store *s, int64_t *ret);

/*
 * Walk segment_slot_stats: (segment, kind, hour of week, attempts, reaches).
 * segment "" is the debtors without a segment.  cb < 0 stops.
 */
int store_segment_stats(struct store *s,
                        int (*cb)(void *ctx, const char *segment, int kind, int how,
                                  int64_t attempts, int64_t reaches),
                        void *ctx);

/* ---- off-policy evaluation (cadenza report --evaluate) ---- */

/* An outcome that entered the slot statistics; borrowed for the callback. */
struct store_stat_outcome {
    int64_t debtor_id;
    const char *segment;     /* "" none */
    const char *time_zone;
    int kind;                /* enum chan_kind */
    int64_t at;              /* occurred_at */
    bool attempt;            /* it added an attempt (outcomes.counted) */
    bool reach;              /* it added a reach (the first reach of its attempt) */
};
/*
 * Every outcome at or after `since` that added to the slot statistics, in
 * debtor id order: what to take away from the statistics to see them as
 * they stood at `since`.  cb < 0 stops (returned).
 */
int store_stat_outcomes_since(struct store *s, int64_t since,
                              int (*cb)(void *ctx, const struct store_stat_outcome *o),
                              void *ctx);

/* A decision as logged: an attempt with what came of it; borrowed for the callback. */
struct store_logged_decision {
    int64_t attempt_id, debtor_id;
    const char *key;         /* idempotency key, "YYYY-MM-DD:<debtor>:<n>" */
    int kind;                /* enum chan_kind */
    int64_t scheduled_at, created_at;
    double p_choice;         /* the logged choice probability, < 0: none */
    bool observed;           /* an outcome that counts as an attempt came back */
    bool reached;            /* one of its outcomes was a reach */
};
/*
 * The attempts created in [from, to), in debtor id order, with whether an
 * outcome came back and whether it was a reach.  cb < 0 stops (returned).
 */
int store_logged_decisions(struct store *s, int64_t from, int64_t to,
                           int (*cb)(void *ctx, const struct store_logged_decision *d),
                           void *ctx);

/* ---- planning: writing results ---- */

/*
 * Insert or replace a debtor's contact_state from a planner state (NULL
 * names are stored as "").  last_attempt_at 0 keeps the stored value.
 */
int store_state_put(struct store *s, int64_t debtor_id, const struct planner_state *st,
                    int64_t last_attempt_at, int64_t now);
/* The same, with the debtor's payment propensity (contact_state.p_pay; < 0: kept). */
int store_state_put_pay(struct store *s, int64_t debtor_id, const struct planner_state *st,
                        int64_t last_attempt_at, int64_t now, double p_pay);

/* Append one state_transitions row (from/to NULL: none; to NULL is stored as ""). */
int store_transition_add(struct store *s, int64_t debtor_id, const char *strategy,
                         const char *from_tier, const char *to_tier, int64_t at,
                         const char *reason);

struct store_attempt_new {
    int64_t debtor_id;
    int64_t run_id;          /* 0: none */
    const char *key;         /* idempotency key, unique */
    const char *strategy, *variant, *tier, *channel, *template_name;
    int kind;                /* enum chan_kind */
    int64_t scheduled_at;
    int64_t not_after;       /* latest legal send time (UTC); 0: unknown */
    int64_t created_at;
    double p_pay;            /* the debtor's payment propensity (<= 0: none) */
    double p_choice;         /* P(the policy chose this contact) (< 0: not estimated) */
};
/*
 * Insert a planned attempt unless its idempotency key exists.  *ret_id is
 * the new row's id, or 0 when the key was already there (nothing written).
 */
int store_attempt_add(struct store *s, const struct store_attempt_new *a, int64_t *ret_id);

/*
 * Suppress a debtor's address on a channel kind (opt-out, wrong number,
 * bounce...): a suppressions row, unless (kind, address) is already
 * suppressed (*ret_added 0; ret_added may be NULL).  Later plans skip the
 * kind while the debtor's current address on it is the suppressed one.
 */
int store_suppression_add(struct store *s, int64_t debtor_id, int kind, const char *address,
                          const char *reason, int64_t now, int *ret_added);
/*
 * Record that a debtor's addresses are to be investigated (the no-contact
 * track asked for it): contact_state.investigate_since, kept when set.
 */
int store_investigate_set(struct store *s, int64_t debtor_id, int64_t at);

/* ---- outcomes and incremental statistics ---- */

/* What an outcome importer needs about a debtor. */
struct store_debtor_ref {
    int64_t id;
    char time_zone[129];
    char segment[101];       /* "" when none */
    char currency[4];        /* ISO 4217 code, "" when none */
};
/* Find a debtor by external id; -ENOENT when unknown. */
int store_debtor_find(struct store *s, const char *external_id, struct store_debtor_ref *ret);
/* An attempt by id: its debtor and channel.  -ENOENT when unknown. */
struct store_attempt_ref {
    int64_t id, debtor_id;
    char debtor_external_id[161];
    char channel[65];
    int kind;                /* enum chan_kind */
};
int store_attempt_get(struct store *s, int64_t id, struct store_attempt_ref *ret);
/* Find an attempt by idempotency key; -ENOENT when unknown. */
int store_attempt_find(struct store *s, const char *key, int64_t *ret_id,
                       int64_t *ret_debtor_id);

struct store_outcome {
    int64_t debtor_id;
    int64_t attempt_id;      /* attempts.id, 0: none */
    const char *attempt_key; /* groups outcomes of one attempt (NULL: the row alone) */
    int kind;                /* enum chan_kind, -1: none */
    int code;                /* enum outcome_code */
    int64_t at;              /* occurred_at, UTC */
    bool has_amount;
    int64_t amount_minor;
    int32_t promise_date;    /* days since epoch, 0: none */
    const char *source;      /* "import:<file>", "webhook", ... */
    const char *dedupe_key;  /* unique; NULL: the key is built from dedupe_hash */
    uint64_t dedupe_hash;    /* with dedupe_key NULL: a hash of the normalised row; the
                                stored key is (day of `at`, debtor, hash), so a day's rows
                                sit together at the end of the key index */
    const char *legacy_key;  /* with dedupe_key NULL: the key the row had before schema 7,
                                also looked up for rows no newer than the outcomes stored
                                then (docs/schema.md, version 7), or NULL */
    bool counts;             /* an attempt for the statistics (kind >= 0, not a failure) */
    bool reach;              /* outcome_is_reach(kind, code) */
    int how;                 /* local hour of week of `at` in the debtor's zone */
    const char *segment;     /* the debtor's segment ("" none) */
    int64_t created_at;
};
/*
 * Store one outcome unless its dedupe key exists (*ret_added 0), and
 * update the debtor's cells (debtor_cells, seen as the view
 * debtor_slot_stats) and segment_slot_stats incrementally: an
 * outcome that counts adds one attempt unless an earlier counted outcome
 * has the same (debtor, attempt_key), and one reach if it is a reach and
 * no earlier one of that attempt was.  Never recomputes from scratch.
 */
int store_outcome_add(struct store *s, const struct store_outcome *o, int *ret_added);
/*
 * store_outcome_add() for n outcomes, with the same result as adding them
 * one by one in array order (call it inside a transaction).  Sort them by
 * debtor first: the statistics are then summed per debtor in memory and
 * written once per touched cell, and the indexes are walked in order.
 * ret_added[i] (ret_added may be NULL) is 1 when v[i] was stored.
 */
int store_outcomes_add(struct store *s, const struct store_outcome *v, size_t n,
                       uint8_t *ret_added);
/*
 * The newest time up to which store_outcome.legacy_key is looked up
 * (INT64_MIN: never), so a caller builds legacy keys only when needed.
 */
int store_outcome_legacy_until(struct store *s, int64_t *ret);
/*
 * Set this connection's page cache to `mib` MiB (a bulk import's larger
 * cache; the memory is only used as pages are read).
 */
int store_set_cache_mib(struct store *s, int mib);
/*
 * Let this connection's commits grow the write-ahead log to `pages` pages
 * before they copy it into the database (SQLite's default is 1000): a bulk
 * import then syncs the disk a few times instead of at every batch.
 */
int store_set_wal_autocheckpoint(struct store *s, int pages);
/* Copy the write-ahead log into the database and sync it (as far as no reader is behind). */
int store_checkpoint(struct store *s);

/* ---- dispatch: runs, attempts for the queue, results (store-dispatch.c) ---- */

/* Attempt statuses (attempts.status), append-only; see docs/schema.md. */
enum attempt_status {
    ATTEMPT_PLANNED = 0,
    ATTEMPT_QUEUED = 1,
    ATTEMPT_SENT = 2,
    ATTEMPT_FAILED = 3,
    ATTEMPT_CANCELLED = 4,
    ATTEMPT_INVALID_ADDRESS = 5,
    ATTEMPT_DEAD = 6,
    ATTEMPT_OPTED_OUT = 7, /* the provider said the recipient opted out */
    _ATTEMPT_STATUS_MAX,
    _ATTEMPT_STATUS_INVALID = -22,
};
const char *attempt_status_to_string(enum attempt_status st);
enum attempt_status attempt_status_from_string(const char *s);

/*
 * Start the run of a date: the existing run of that date when there is
 * one (*ret_rerun true: a re-run after a crash or on purpose), else a new
 * one.
 */
int store_run_begin(struct store *s, int32_t date, int64_t now, int64_t *ret_id,
                    bool *ret_rerun);
int store_run_finish(struct store *s, int64_t run_id, const char *status, int64_t planned,
                     int64_t enqueued, int64_t now);

/* An attempt with what a job needs about its debtor; borrowed for the callback. */
struct store_dispatch_row {
    int64_t attempt_id;
    const char *idempotency_key, *debtor_id, *channel, *template_name;
    int kind;
    int64_t scheduled_at, not_after; /* not_after 0: unknown */
    const char *strategy, *tier, *time_zone;
    const char *address;             /* NULL: the debtor has none for this kind */
    const char *name, *locale, *currency;
    int64_t balance_minor;
    int32_t due_date;                /* INT32_MIN: none */
    int attempt_number;              /* the debtor's n-th attempt */
    /*
     * More members for the job's inputs, each written ',"key":value'
     * (the agent brief of a call, docs/brief.md), or NULL.  Never set
     * by the store: dispatch.c adds it on its way to the queue.
     */
    const char *inputs_extra;
    int32_t label;                   /* dispatch.c's too: the caller's label of the row's job
                                        (metrics), 0 from the store */
};
/*
 * A page of a run's attempts in one status: ids above after_id, in id
 * order, at most limit (run_id 0: the attempts of no run, which re-plans
 * make).  Returns the number of rows passed to cb.
 */
int store_run_attempts(struct store *s, int64_t run_id, enum attempt_status status,
                       int64_t after_id, int limit,
                       int (*cb)(void *ctx, const struct store_dispatch_row *row), void *ctx);
/* PLANNED -> QUEUED for these attempts (others are left alone). */
int store_attempts_mark_queued(struct store *s, const int64_t *ids, size_t n);

/* A worker's result as the store records it. */
struct store_result {
    int64_t attempt_id;
    enum attempt_status status; /* final status, unless retry */
    bool retry;                 /* a transient failure: only tries/error are kept */
    const char *info;           /* provider id (sent) or error text, may be NULL */
    int tries;
    int64_t at;                 /* Unix seconds */
};
/*
 * Apply one result; idempotent (a final status never changes again).
 * *ret_applied is 1 when the attempt changed.  An invalid-address result
 * also suppresses the address on that channel kind.
 */
int store_result_ingest(struct store *s, const struct store_result *res, int *ret_applied);
/*
 * Attempts that hold a slot (planned, queued, sent or dead-lettered)
 * with scheduled_at in [from, to): they count against hourly capacity.
 */
int store_attempts_scheduled(struct store *s, int64_t from, int64_t to,
                             int (*cb)(void *ctx, const char *channel, int64_t at), void *ctx);
/* Attempts by status, of one run (run_id 0: all). */
int store_attempt_counts(struct store *s, int64_t run_id, int64_t ret[_ATTEMPT_STATUS_MAX]);

/* ---- the daemon's scheduler and timeline (store-sched.c) ---- */

/*
 * The latest run of a date: its id and status ("running", "done",
 * "failed", "incomplete", "stopped"; up to len - 1 bytes).  -ENOENT: none.
 */
int store_run_find(struct store *s, int32_t date, int64_t *ret_id, char *status, size_t len);
/* The latest run started (highest id): its date and status.  -ENOENT: none. */
int store_run_last(struct store *s, int32_t *ret_date, char *status, size_t len);
/*
 * Debtors whose pause ends in (from, to] (a promise's date plus its grace
 * passed: docs/planner.md, broken_promise), not stopped: their internal
 * id and time zone, borrowed for cb.  cb < 0 stops (returned).  One range
 * read of the partial index contact_state_paused.
 */
int store_pauses_ending(struct store *s, int64_t from, int64_t to,
                        int (*cb)(void *ctx, int64_t debtor_id, const char *time_zone),
                        void *ctx);
/* A debtor's time zone by internal id (up to len - 1 bytes).  -ENOENT: no such debtor. */
int store_debtor_zone(struct store *s, int64_t id, char *buf, size_t len);

/* One row of a debtor's timeline, borrowed for the callback; newest first per table. */
struct store_tl_attempt {
    int64_t id, run_id;              /* run_id 0: planned by a re-plan, not a daily run */
    int32_t run_date;                /* the run's date (0: none) */
    const char *key, *strategy, *variant, *tier, *channel, *template_name;
    int kind, status, tries;
    int64_t scheduled_at, not_after, created_at, sent_at, result_at; /* 0: none */
    const char *provider_id, *error; /* NULL: none */
    double p_choice, p_pay;          /* < 0: none */
};
struct store_tl_outcome {
    int64_t id, at, attempt_id;      /* attempt_id 0: none */
    int kind, code;                  /* kind -1: none */
    bool has_amount;
    int64_t amount_minor;
    int32_t promise_date;            /* 0: none */
    const char *source;
};
struct store_tl_transition {
    int64_t at;
    const char *strategy, *from_tier, *to_tier, *reason; /* from NULL: entering */
};
struct store_tl_suppression {
    int kind;
    const char *address, *reason;
    int64_t created_at, expires_at;  /* expires_at 0: never */
};
struct store_timeline_ops {
    /* first: the debtor, its state (has_state false: never planned) */
    int (*debtor)(void *ctx, int64_t id, const struct debtor_rec *rec, bool has_state,
                  const struct planner_state *st);
    int (*attempt)(void *ctx, const struct store_tl_attempt *a);
    int (*outcome)(void *ctx, const struct store_tl_outcome *o);
    int (*transition)(void *ctx, const struct store_tl_transition *t);
    int (*suppression)(void *ctx, const struct store_tl_suppression *s);
};
/*
 * A debtor's timeline by external id, in one read transaction: the
 * debtor and its contact state, then its newest `limit` attempts,
 * outcomes and tier transitions (each newest first) and its
 * suppressions.  Indexed reads only (attempts_plan, outcomes_plan,
 * state_transitions_debtor, suppressions_debtor): O(limit), whatever the
 * portfolio's size.  A callback < 0 stops (returned).  -ENOENT: no such
 * debtor.
 */
int store_timeline_get(struct store *s, const char *external_id, int limit,
                       const struct store_timeline_ops *ops, void *ctx);
/* ---- provider callbacks and inbound messages (store-inbound.c) ---- */

/* The attempt a provider's message id names (attempts.provider_id): -ENOENT when none. */
int store_attempt_by_provider_id(struct store *s, const char *provider_id,
                                 struct store_attempt_ref *ret);

#define STORE_CONTACTS_MAX 64
/* A debtor an address reaches; borrowed for the callback (NULL: empty). */
struct store_contact {
    int64_t id;
    const char *external_id, *locale, *time_zone, *name;
    const char *phone, *chat_handle;
};
/*
 * Every debtor whose phone or chat handle is `address` (as stored: E.164
 * for phones), at most STORE_CONTACTS_MAX, in internal id order.  cb < 0
 * stops (returned).  Returns the number of debtors passed to cb.
 */
int store_debtors_by_address(struct store *s, const char *address,
                             int (*cb)(void *ctx, const struct store_contact *c), void *ctx);

/* ---- the agent brief (store-brief.c) ---- */

/* A debtor with what its brief is made of; borrowed for the callback. */
struct store_brief_row {
    int64_t id;                        /* internal id */
    struct debtor_rec rec;             /* as store_plan_row.rec (do_not_contact not parsed) */
    const char *strategy, *variant, *tier; /* contact_state, NULL when never planned */
    const struct brief_outcome *outcomes;  /* occurred_at >= since, newest first, at most
                                              BRIEF_OUTCOMES_MAX */
    size_t noutcomes;
};
/*
 * Read one debtor, by internal id (id > 0) or else by external id, with
 * its contact state and outcomes since `since`, and pass it to cb.
 * Returns cb's value, -ENOENT when there is no such debtor, or -errno.
 * A few indexed lookups; safe to call while another statement of the
 * store (a store_run_attempts page) is being stepped.
 */
int store_brief_get(struct store *s, int64_t id, const char *external_id, int64_t since,
                    int (*cb)(void *ctx, const struct store_brief_row *row), void *ctx);

/* ---- the contact report (store-report.c) ---- */

/* One debtor's attempts and outcomes, as the report (report.h) reads them. */
struct report_attempt {
    int64_t id;
    const char *strategy, *variant, *tier, *channel; /* borrowed for report_add_debtor() */
    int kind;        /* enum chan_kind, -1 unknown */
    int status;      /* enum attempt_status */
    int64_t at;      /* sent_at, else scheduled_at (UTC seconds) */
    int32_t local_day; /* `at`'s date in the debtor's zone (days; UTC when unknown) */
    int local_hour;  /* 0..23: `at` in the debtor's zone; -1: unknown zone */
};

struct report_outcome {
    int64_t attempt_id;  /* the attempt it belongs to; 0: it came on its own */
    int kind;            /* channel kind, -1: none */
    int code;            /* enum outcome_code */
    int64_t at;
    int64_t amount_minor;
    int32_t promise_date;
    bool has_amount, has_promise;
};

struct report_debtor {
    int64_t id;
    bool in_currency;                /* the debtor's currency is the report's */
    struct report_attempt *attempts; /* in any order: report_add_debtor() sorts them */
    size_t nattempts;
    struct report_outcome *outcomes; /* in any order */
    size_t noutcomes;
};

/*
 * Every debtor with an attempt whose time (sent_at, else scheduled_at) is
 * in [from, to), in debtor id order: its attempts from `since` on and its
 * outcomes from `from` on, in d (the arrays and strings are
 * borrowed for the callback, which may reorder and change them: attempts'
 * local_day is their UTC day, local_hour -1 and in_currency false, for cb
 * to correct), with its time zone and currency.  One read transaction; two statements stepped side
 * by side.  cb < 0 stops (returned).  -ENOMEM, or -errno from the store.
 */
int store_report_debtors(struct store *s, int64_t since, int64_t from, int64_t to,
                         int (*cb)(void *ctx, struct report_debtor *d, const char *time_zone,
                                   const char *currency),
                         void *ctx);
/* ---- the self-service page (store-selfservice.c, docs/selfservice.md) ---- */

/* An outcome a self-service link stored (found by its dedupe key). */
struct store_ss_done {
    int code;                /* enum outcome_code, -1: none */
    int32_t date;            /* promise_date, 0: none */
    int64_t amount_minor;
    int64_t at;              /* occurred_at */
};

/* A debtor as the page shows it; borrowed for the callback. */
struct store_ss_view {
    int64_t id;                          /* internal id */
    struct debtor_rec rec;               /* as store_brief_row.rec (due_date INT32_MIN: none) */
    const char *strategy, *variant, *tier; /* contact_state, NULL when never planned */
    int64_t paused_until;                /* contact_state, 0: none */
    const char *hold_reason;
    bool stopped;
    bool has_prefs;
    struct prefs prefs;                  /* stated so far (prefs_init() when none) */
    struct plan_instalment plan[PLAN_INSTALMENTS_MAX]; /* the active plan, by date */
    size_t plan_n;                       /* 0: no active plan */
    int64_t plan_agreed_at, plan_attempt, plan_paid; /* paid: payments since agreed_at */
    struct store_ss_done commit;         /* this link's promise / plan / due date move */
    struct store_ss_done dispute;        /* this link's dispute */
    uint8_t opted_out;                   /* kinds the debtor opted out of (any source) */
    const struct brief_outcome *outcomes; /* since `since`, newest first */
    size_t noutcomes;
};
/*
 * Read the debtor external_id with what the self-service link of
 * attempt_id did already (its outcomes are stored under the dedupe keys
 * "selfservice:<attempt>:commit" and ":dispute") and pass it to cb.
 * Returns cb's value, -ENOENT (no such debtor) or -errno.  A few indexed
 * lookups.
 */
int store_ss_view_get(struct store *s, const char *external_id, int64_t attempt_id,
                      int64_t since, int (*cb)(void *ctx, const struct store_ss_view *v),
                      void *ctx);
/* The language to write to a debtor in (stated, else imported): "" when none, -ENOENT. */
int store_ss_locale(struct store *s, const char *external_id, char *buf, size_t len);

/* Replace a debtor's stated preferences (debtor_prefs). */
int store_prefs_put(struct store *s, int64_t debtor_id, const struct prefs *p, int64_t now);
/*
 * Record a payment plan agreed at agreed_at with its instalments; the
 * debtor's earlier plans are retired (one plan is active at a time).
 */
int store_plan_put(struct store *s, int64_t debtor_id, int64_t attempt_id, int64_t agreed_at,
                   const char *currency, const struct plan_instalment *v, size_t n, int64_t now);
/* Log a self-service action ("promise", "plan", "dispute", ...) with its detail (JSON). */
int store_ss_action_add(struct store *s, int64_t debtor_id, int64_t attempt_id,
                        const char *action, const char *detail, int64_t now);

#endif
