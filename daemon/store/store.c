/*
 * store.c - the embedded SQLite store (see store.h and docs/schema.md).
 *
 * Owns: the connection, its prepared statements, the schema and its
 * migrations.  Must never: be used from two threads at once, keep SQL
 * anywhere else in the tree, or change a stored code's meaning.
 *
 * Invariants:
 *  1. Every connection runs with foreign_keys=ON, journal_mode=WAL and a
 *     busy timeout, so a concurrent reader never sees a torn write and a
 *     writer waits instead of failing at once.
 *  2. Migrations are append-only: migrations[i] moves user_version from i
 *     to i+1 inside one transaction, so a crash leaves version i or i+1.
 *  3. A debtor's internal id never changes once assigned: updates are
 *     UPSERTs on the external id, never DELETE + INSERT, so rows that
 *     reference the debtor (attempts, outcomes, state) are never orphaned.
 *  4. debtor_cells.cells holds a debtor's slot statistics, packed, so the
 *     planner reads one row per debtor instead of one per cell.  Up to
 *     schema 6 a debtor_slot_stats table held the same counts one row per
 *     cell, written in the same statement sequence; from schema 7 it is a
 *     view that unpacks debtor_cells (so they cannot disagree).
 *  5. Every open checks the schema version first (check_version()): a
 *     newer store, or another application's database, is never touched.
 */
#include "store.h"
#include "store-internal.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum stmt_id {
    STMT_BEGIN,
    STMT_BEGIN_READ,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    STMT_UPSERT_DEBTOR,
    STMT_IMPORT_START,
    STMT_IMPORT_FINISH,
    STMT_STATE_PUT,
    STMT_TRANSITION_ADD,
    STMT_ATTEMPT_ADD,
    STMT_DEBTOR_FIND,
    STMT_ATTEMPT_FIND,
    STMT_ATTEMPT_GET,
    STMT_OUTCOME_ADD,
    STMT_OUTCOME_PRIOR,
    STMT_DEBTOR_STAT_ADD,
    STMT_SEGMENT_STAT_ADD,
    STMT_SUPPRESSION_ADD,
    STMT_INVESTIGATE_SET,
    STMT_CELLS_PUT,
    STMT_OUTCOME_LEGACY,
    STMT_META_GET,
    STMT_CELLS_ADD,
    _STMT_MAX,
};

static const char *const stmt_sql[_STMT_MAX] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_BEGIN_READ] = "BEGIN DEFERRED",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT part",
    [STMT_RELEASE] = "RELEASE part",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO part",
    [STMT_UPSERT_DEBTOR] =
        "INSERT INTO debtors(external_id, name, locale, time_zone, country, region, email,"
        " phone, phone_type, chat_handle, balance_minor, currency, due_date, payday,"
        " risk_band, segment, tags, flags, consent_email, consent_sms, consent_chat,"
        " consent_call, do_not_contact, preferred_channel, prefers_human, row_hash,"
        " created_at, updated_at, age_band, employment_type)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?27, ?28, ?29)"
        " ON CONFLICT(external_id) DO UPDATE SET name = excluded.name,"
        " locale = excluded.locale, time_zone = excluded.time_zone,"
        " country = excluded.country, region = excluded.region, email = excluded.email,"
        " phone = excluded.phone, phone_type = excluded.phone_type,"
        " chat_handle = excluded.chat_handle, balance_minor = excluded.balance_minor,"
        " currency = excluded.currency, due_date = excluded.due_date,"
        " payday = excluded.payday, risk_band = excluded.risk_band,"
        " segment = excluded.segment, tags = excluded.tags, flags = excluded.flags,"
        " consent_email = excluded.consent_email, consent_sms = excluded.consent_sms,"
        " consent_chat = excluded.consent_chat, consent_call = excluded.consent_call,"
        " do_not_contact = excluded.do_not_contact,"
        " preferred_channel = excluded.preferred_channel,"
        " prefers_human = excluded.prefers_human, row_hash = excluded.row_hash,"
        " age_band = excluded.age_band, employment_type = excluded.employment_type,"
        " updated_at = excluded.updated_at"
        " WHERE debtors.row_hash IS NOT excluded.row_hash",
    [STMT_IMPORT_START] =
        "INSERT INTO imports(source, started_at, status) VALUES(?1, ?2, 'running')",
    [STMT_IMPORT_FINISH] =
        "UPDATE imports SET finished_at = ?2, status = ?3, rows_read = ?4, inserted = ?5,"
        " updated = ?6, unchanged = ?7, rejected = ?8 WHERE id = ?1",
    [STMT_STATE_PUT] =
        "INSERT INTO contact_state(debtor_id, strategy, variant, tier, tier_entered_at,"
        " attempts_in_tier, attempts_since_contact, attempts_total, last_attempt_at,"
        " paused_until, hold_reason, no_contact_track, stopped, applied_until, updated_at,"
        " p_pay)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
        " ON CONFLICT(debtor_id) DO UPDATE SET strategy = excluded.strategy,"
        " variant = excluded.variant, tier = excluded.tier,"
        " tier_entered_at = excluded.tier_entered_at,"
        " attempts_in_tier = excluded.attempts_in_tier,"
        " attempts_since_contact = excluded.attempts_since_contact,"
        " attempts_total = excluded.attempts_total,"
        " last_attempt_at = coalesce(excluded.last_attempt_at, last_attempt_at),"
        " paused_until = excluded.paused_until, hold_reason = excluded.hold_reason,"
        " no_contact_track = excluded.no_contact_track, stopped = excluded.stopped,"
        " applied_until = excluded.applied_until, updated_at = excluded.updated_at,"
        " p_pay = coalesce(excluded.p_pay, p_pay)",
    [STMT_TRANSITION_ADD] =
        "INSERT INTO state_transitions(debtor_id, at, strategy, from_tier, to_tier, reason)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_ATTEMPT_ADD] =
        "INSERT OR IGNORE INTO attempts(debtor_id, run_id, idempotency_key, strategy, variant,"
        " tier, channel, channel_kind, template, scheduled_at, created_at, not_after, p_pay,"
        " p_choice)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [STMT_DEBTOR_FIND] =
        "SELECT id, time_zone, coalesce(segment, ''), currency FROM debtors"
        " WHERE external_id = ?1",
    [STMT_ATTEMPT_FIND] = "SELECT id, debtor_id FROM attempts WHERE idempotency_key = ?1",
    [STMT_ATTEMPT_GET] =
        "SELECT a.debtor_id, d.external_id, a.channel, a.channel_kind FROM attempts a"
        " JOIN debtors d ON d.id = a.debtor_id WHERE a.id = ?1",
    [STMT_OUTCOME_ADD] =
        "INSERT OR IGNORE INTO outcomes(debtor_id, attempt_id, channel_kind, code,"
        " occurred_at, amount_minor, promise_date, source, dedupe_key, created_at,"
        " attempt_key, counted, reach)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [STMT_OUTCOME_PRIOR] =
        "SELECT count(*), coalesce(max(reach), 0) FROM outcomes"
        " WHERE debtor_id = ?1 AND attempt_key = ?2 AND counted = 1 AND id != ?3",
    [STMT_DEBTOR_STAT_ADD] =
        "INSERT INTO debtor_slot_stats(debtor_id, channel_kind, hour_of_week, attempts, reaches)"
        " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(debtor_id, channel_kind, hour_of_week)"
        " DO UPDATE SET attempts = attempts + excluded.attempts,"
        " reaches = reaches + excluded.reaches",
    [STMT_SEGMENT_STAT_ADD] =
        "INSERT INTO segment_slot_stats(segment, channel_kind, hour_of_week, attempts, reaches)"
        " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(segment, channel_kind, hour_of_week)"
        " DO UPDATE SET attempts = attempts + excluded.attempts,"
        " reaches = reaches + excluded.reaches",
    [STMT_SUPPRESSION_ADD] =
        "INSERT OR IGNORE INTO suppressions(debtor_id, channel_kind, address, reason, created_at)"
        " VALUES(?1, ?2, ?3, ?4, ?5)",
    [STMT_CELLS_PUT] =
        "INSERT INTO debtor_cells(debtor_id, cells) VALUES(?1, ?2)"
        " ON CONFLICT(debtor_id) DO UPDATE SET cells = excluded.cells",
    [STMT_INVESTIGATE_SET] =
        "UPDATE contact_state SET investigate_since = coalesce(investigate_since, ?2)"
        " WHERE debtor_id = ?1",
    [STMT_OUTCOME_LEGACY] = "SELECT 1 FROM outcomes WHERE dedupe_key = ?1",
    [STMT_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [STMT_CELLS_ADD] =
        "INSERT INTO debtor_cells(debtor_id, cells) VALUES(?1, ?2)"
        " ON CONFLICT(debtor_id) DO UPDATE SET cells = cz_cells_add(cells, excluded.cells)",
};

/*
 * An outcome the planner acts on ("active"): one with a strategy reaction
 * (bounced, promise_to_pay, paid, opt_out, wrong_number, dispute,
 * refused) or a reach on its channel kind (right_party; opened, clicked,
 * replied on all but calls; delivered on letters): the reaction and
 * reach columns of the outcome table (outcome.c), as SQL (a superset is safe, a subset
 * is a bug: test-campaign checks every kind and code).  The same text
 * defines the partial index and the scan's condition, so SQLite can use
 * the one for the other.  No IN lists: SQLite evaluates an IN list of
 * more than two constants through a temporary b-tree built anew for each
 * inserted row, which made this condition most of an import's CPU time
 * (OUTCOME_ACTIVE_V6, the same set, is the schema 6 text).
 */
#define OUTCOME_ACTIVE \
    "(code = 1 OR code BETWEEN 7 AND 13 OR code BETWEEN 15 AND 16" \
    " OR (code BETWEEN 2 AND 4 AND (channel_kind BETWEEN 0 AND 2 OR channel_kind = 4))" \
    " OR (code = 0 AND channel_kind = 4))"
/* The same set before plan_agreed and due_date_moved (15, 16), schemas 7 and 8. */
#define OUTCOME_ACTIVE_V7 \
    "(code = 1 OR code BETWEEN 7 AND 13" \
    " OR (code BETWEEN 2 AND 4 AND (channel_kind BETWEEN 0 AND 2 OR channel_kind = 4))" \
    " OR (code = 0 AND channel_kind = 4))"
#define OUTCOME_ACTIVE_V6 \
    "(code IN (1, 8, 9, 10, 11, 12, 13) OR code = 7" \
    " OR (code IN (2, 3, 4) AND channel_kind IN (0, 1, 2, 4))" \
    " OR (code = 0 AND channel_kind = 4))"

/*
 * Byte k/2 of a debtor_cells cell as SQL, in the view debtor_slot_stats:
 * h is the cell's 10 bytes in hex.
 */
#define CELL_BYTE(k) \
    "((instr('0123456789ABCDEF', substr(h, " #k " + 1, 1)) - 1) * 16" \
    " + instr('0123456789ABCDEF', substr(h, " #k " + 2, 1)) - 1)"

/*
 * The schema, one step per schema version (invariant 2).  Times are Unix
 * seconds (UTC), dates are days since 1970-01-01, money is in minor units.
 * Codes (channel kinds, flags, outcome codes, statuses) are documented in
 * docs/schema.md and append-only.
 */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT"
    ") WITHOUT ROWID;"
    "CREATE TABLE debtors ("
    "  id INTEGER PRIMARY KEY,"
    "  external_id TEXT NOT NULL UNIQUE,"
    "  name TEXT, locale TEXT,"
    "  time_zone TEXT NOT NULL,"
    "  country TEXT NOT NULL, region TEXT,"
    "  email TEXT, phone TEXT, phone_type INTEGER NOT NULL DEFAULT 0, chat_handle TEXT,"
    "  balance_minor INTEGER NOT NULL DEFAULT 0, currency TEXT NOT NULL,"
    "  due_date INTEGER, payday INTEGER,"
    "  risk_band TEXT, segment TEXT, tags TEXT,"
    "  flags INTEGER NOT NULL DEFAULT 0,"
    "  consent_email INTEGER NOT NULL DEFAULT 0, consent_sms INTEGER NOT NULL DEFAULT 0,"
    "  consent_chat INTEGER NOT NULL DEFAULT 0, consent_call INTEGER NOT NULL DEFAULT 0,"
    "  do_not_contact TEXT, preferred_channel INTEGER, prefers_human INTEGER,"
    "  row_hash INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE contact_state ("
    "  debtor_id INTEGER PRIMARY KEY REFERENCES debtors(id),"
    "  strategy TEXT NOT NULL, variant TEXT NOT NULL, tier TEXT NOT NULL,"
    "  tier_entered_at INTEGER NOT NULL,"
    "  attempts_in_tier INTEGER NOT NULL DEFAULT 0,"
    "  attempts_since_contact INTEGER NOT NULL DEFAULT 0,"
    "  attempts_total INTEGER NOT NULL DEFAULT 0,"
    "  last_attempt_at INTEGER, last_contact_at INTEGER,"
    "  paused_until INTEGER, hold_reason TEXT,"
    "  no_contact_track INTEGER NOT NULL DEFAULT 0,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE state_transitions ("
    "  id INTEGER PRIMARY KEY,"
    "  debtor_id INTEGER NOT NULL REFERENCES debtors(id),"
    "  at INTEGER NOT NULL,"
    "  strategy TEXT, from_tier TEXT, to_tier TEXT NOT NULL,"
    "  reason TEXT NOT NULL"
    ");"
    "CREATE INDEX state_transitions_debtor ON state_transitions(debtor_id, at);"
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  run_date INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL, finished_at INTEGER,"
    "  status TEXT NOT NULL,"
    "  planned INTEGER NOT NULL DEFAULT 0, enqueued INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE attempts ("
    "  id INTEGER PRIMARY KEY,"
    "  debtor_id INTEGER NOT NULL REFERENCES debtors(id),"
    "  run_id INTEGER REFERENCES runs(id),"
    "  idempotency_key TEXT NOT NULL UNIQUE,"
    "  strategy TEXT NOT NULL, variant TEXT NOT NULL, tier TEXT NOT NULL,"
    "  channel TEXT NOT NULL, channel_kind INTEGER NOT NULL, template TEXT,"
    "  scheduled_at INTEGER NOT NULL,"
    "  status INTEGER NOT NULL DEFAULT 0,"
    "  provider_id TEXT, error TEXT,"
    "  sent_at INTEGER, result_at INTEGER,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX attempts_debtor ON attempts(debtor_id, scheduled_at);"
    "CREATE TABLE outcomes ("
    "  id INTEGER PRIMARY KEY,"
    "  debtor_id INTEGER NOT NULL REFERENCES debtors(id),"
    "  attempt_id INTEGER REFERENCES attempts(id),"
    "  channel_kind INTEGER,"
    "  code INTEGER NOT NULL,"
    "  occurred_at INTEGER NOT NULL,"
    "  amount_minor INTEGER, promise_date INTEGER,"
    "  source TEXT,"
    "  dedupe_key TEXT UNIQUE,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX outcomes_debtor ON outcomes(debtor_id, occurred_at);"
    "CREATE TABLE suppressions ("
    "  id INTEGER PRIMARY KEY,"
    "  debtor_id INTEGER REFERENCES debtors(id),"
    "  channel_kind INTEGER NOT NULL,"
    "  address TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, expires_at INTEGER,"
    "  UNIQUE(channel_kind, address)"
    ");"
    "CREATE TABLE debtor_slot_stats ("
    "  debtor_id INTEGER NOT NULL REFERENCES debtors(id),"
    "  channel_kind INTEGER NOT NULL,"
    "  hour_of_week INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0, reaches INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(debtor_id, channel_kind, hour_of_week)"
    ") WITHOUT ROWID;"
    "CREATE TABLE segment_slot_stats ("
    "  segment TEXT NOT NULL,"
    "  channel_kind INTEGER NOT NULL,"
    "  hour_of_week INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0, reaches INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(segment, channel_kind, hour_of_week)"
    ") WITHOUT ROWID;"
    "CREATE TABLE imports ("
    "  id INTEGER PRIMARY KEY,"
    "  source TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL, finished_at INTEGER,"
    "  status TEXT NOT NULL,"
    "  rows_read INTEGER NOT NULL DEFAULT 0, inserted INTEGER NOT NULL DEFAULT 0,"
    "  updated INTEGER NOT NULL DEFAULT 0, unchanged INTEGER NOT NULL DEFAULT 0,"
    "  rejected INTEGER NOT NULL DEFAULT 0"
    ");",
    /* 1 -> 2: what the planner keeps between runs, and per-attempt outcome grouping */
    "ALTER TABLE contact_state ADD COLUMN stopped INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE contact_state ADD COLUMN applied_until INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN attempt_key TEXT;"
    "ALTER TABLE outcomes ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outcomes ADD COLUMN reach INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX outcomes_attempt_key ON outcomes(debtor_id, attempt_key)"
    " WHERE attempt_key IS NOT NULL;"
    "CREATE INDEX suppressions_debtor ON suppressions(debtor_id);",
    /* 2 -> 3: the latest legal send time travels with the attempt to the
     * job; runs are found by date; attempts waiting for the queue by run */
    "ALTER TABLE attempts ADD COLUMN not_after INTEGER;"
    "ALTER TABLE attempts ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX runs_date ON runs(run_date);"
    "CREATE INDEX attempts_run ON attempts(run_id, status);",
    /* 3 -> 4: covering indexes for the planner's history scans (they
     * replace the (debtor, time) ones, which are their prefixes), and the
     * address investigation a no-contact track asks for */
    "CREATE INDEX outcomes_plan ON outcomes(debtor_id, occurred_at, code, channel_kind,"
    " promise_date);"
    "DROP INDEX outcomes_debtor;"
    "CREATE INDEX attempts_plan ON attempts(debtor_id, scheduled_at, channel_kind, channel);"
    "DROP INDEX attempts_debtor;"
    "ALTER TABLE contact_state ADD COLUMN investigate_since INTEGER;",
    /* 4 -> 5: each debtor's slot statistics packed into one row for the
     * planner's scan (filled from debtor_slot_stats by cells_rebuild()) */
    "CREATE TABLE debtor_cells ("
    "  debtor_id INTEGER PRIMARY KEY REFERENCES debtors(id),"
    "  cells BLOB NOT NULL"
    ");",
    /* 5 -> 6: the outcomes the planner acts on, for its scan (most
     * outcomes, delivered or not answered, change nothing) */
    "CREATE INDEX outcomes_active ON outcomes(debtor_id, occurred_at, code, channel_kind,"
    " promise_date) WHERE " OUTCOME_ACTIVE_V6 ";",
    /* 6 -> 7: outcomes stored from now on without a caller's key are keyed
     * by (day, debtor, hash) (outcome_key()); the rows stored until now keep
     * their key, which is looked up too for rows no newer than the newest
     * of them (meta outcomes_legacy_until) */
    "INSERT INTO meta(key, value) SELECT 'outcomes_legacy_until', m"
    " FROM (SELECT max(occurred_at) AS m FROM outcomes) WHERE m IS NOT NULL;"
    /* ... and the same partial index with a condition cheaper to insert through */
    "DROP INDEX outcomes_active;"
    "CREATE INDEX outcomes_active ON outcomes(debtor_id, occurred_at, code, channel_kind,"
    " promise_date) WHERE " OUTCOME_ACTIVE_V7 ";"
    /* ... and debtor_slot_stats, which only repeated debtor_cells, becomes a view of
     * it (cell_index numbers the cells of a blob, so a query on one debtor reads
     * one debtor_cells row) */
    "DROP TABLE debtor_slot_stats;"
    "CREATE TABLE cell_index(i INTEGER PRIMARY KEY);"
    "INSERT INTO cell_index WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n"
    " WHERE i < 4095) SELECT i FROM n;"
    "CREATE VIEW debtor_slot_stats(debtor_id, channel_kind, hour_of_week, attempts, reaches)"
    " AS SELECT debtor_id, " CELL_BYTE(0) ", " CELL_BYTE(2) ", "
    CELL_BYTE(4) " + 256 * " CELL_BYTE(6) " + 65536 * " CELL_BYTE(8) " + 16777216 * "
    CELL_BYTE(10) ", "
    CELL_BYTE(12) " + 256 * " CELL_BYTE(14) " + 65536 * " CELL_BYTE(16) " + 16777216 * "
    CELL_BYTE(18) " FROM (SELECT c.debtor_id AS debtor_id,"
    " hex(substr(c.cells, x.i * 10 + 1, 10)) AS h FROM debtor_cells c"
    " JOIN cell_index x ON x.i < length(c.cells) / 10);",
    /* 7 -> 8: two more observable columns for the model's levels (issue 14);
     * the payment propensity at decision time and the probability with
     * which the planner chose it on each attempt (off-policy evaluation),
     * the latest propensity on the contact state (for status) */
    "ALTER TABLE debtors ADD COLUMN age_band TEXT;"
    "ALTER TABLE debtors ADD COLUMN employment_type TEXT;"
    "ALTER TABLE attempts ADD COLUMN p_pay REAL;"
    "ALTER TABLE attempts ADD COLUMN p_choice REAL;"
    "ALTER TABLE contact_state ADD COLUMN p_pay REAL;",
    /* 8 -> 9: the daemon's broken-promise timer finds the pauses that end
     * (a promise's date plus grace passed) without reading every state */
    "CREATE INDEX contact_state_paused ON contact_state(paused_until)"
    " WHERE paused_until > 0;",
    /* 9 -> 10: the providers' callbacks and inbound messages (docs/daemon.md):
     * a WhatsApp status names the message by the provider's id, an inbound
     * message its sender by phone number (or chat handle) */
    "CREATE INDEX attempts_provider ON attempts(provider_id) WHERE provider_id IS NOT NULL;"
    "CREATE INDEX debtors_phone ON debtors(phone) WHERE phone IS NOT NULL;"
    "CREATE INDEX debtors_chat_handle ON debtors(chat_handle) WHERE chat_handle IS NOT NULL;",
    /* 10 -> 11: what debtors say on the self-service page (issue 12,
     * docs/selfservice.md): stated contact preferences and a moved due
     * date, payment plans with their instalments, and a log of the page's
     * actions; outcomes_active takes in plan_agreed and due_date_moved */
    "CREATE TABLE debtor_prefs ("
    "  debtor_id INTEGER PRIMARY KEY REFERENCES debtors(id),"
    "  preferred_channel INTEGER, prefers_human INTEGER, language TEXT,"
    "  forbidden TEXT, preferred_hours TEXT,"
    "  due_from INTEGER, due_to INTEGER,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE payment_plans ("
    "  id INTEGER PRIMARY KEY,"
    "  debtor_id INTEGER NOT NULL REFERENCES debtors(id),"
    "  attempt_id INTEGER,"
    "  agreed_at INTEGER NOT NULL,"
    "  currency TEXT, total_minor INTEGER NOT NULL, instalments INTEGER NOT NULL,"
    "  status INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX payment_plans_active ON payment_plans(debtor_id) WHERE status = 0;"
    "CREATE TABLE plan_instalments ("
    "  plan_id INTEGER NOT NULL REFERENCES payment_plans(id),"
    "  seq INTEGER NOT NULL, due_date INTEGER NOT NULL, amount_minor INTEGER NOT NULL,"
    "  PRIMARY KEY(plan_id, seq)"
    ") WITHOUT ROWID;"
    "CREATE TABLE selfservice_actions ("
    "  id INTEGER PRIMARY KEY,"
    "  debtor_id INTEGER NOT NULL REFERENCES debtors(id),"
    "  attempt_id INTEGER, action TEXT NOT NULL, detail TEXT,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX selfservice_actions_debtor ON selfservice_actions(debtor_id, created_at);"
    "DROP INDEX outcomes_active;"
    "CREATE INDEX outcomes_active ON outcomes(debtor_id, occurred_at, code, channel_kind,"
    " promise_date) WHERE " OUTCOME_ACTIVE ";",
};

/* Schema version after which a migration needs C code as well (0: none). */
#define MIGRATION_CELLS 5
/* From this version on debtor_slot_stats is a view (invariant 4). */
#define MIGRATION_STATS_VIEW 7

struct store {
    sqlite3 *db;
    char *path;
    char errmsg[256];
    int version;            /* schema version after opening */
    bool legacy_loaded;     /* legacy_until was read from meta */
    int64_t legacy_until;   /* outcomes_legacy_until, INT64_MIN: none */
    sqlite3_stmt *stmt[_STMT_MAX];
    sqlite3_stmt *dispatch_stmt[STORE_DISPATCH_STMT_MAX]; /* store-dispatch.c's */
    sqlite3_stmt *brief_stmt[STORE_BRIEF_STMT_MAX];       /* store-brief.c's */
    sqlite3_stmt *inbound_stmt[STORE_INBOUND_STMT_MAX];   /* store-inbound.c's */
    sqlite3_stmt *ss_stmt[STORE_SELFSERVICE_STMT_MAX];    /* store-selfservice.c's */
};

int store_fail(struct store *s, int rc)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s", sqlite3_errmsg(s->db));
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return -EBADMSG;
    default:
        return -EIO;
    }
}

const char *store_errmsg(const struct store *s)
{
    return s->errmsg;
}

const char *store_path(const struct store *s)
{
    return s->path;
}

static int query_int(struct store *s, const char *sql, int64_t *ret);

static int exec(struct store *s, const char *sql)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store_fail(s, rc);
}

static int stmt_get(struct store *s, enum stmt_id id, sqlite3_stmt **ret)
{
    if (!s->stmt[id]) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->stmt[id], NULL);
        if (rc != SQLITE_OK)
            return store_fail(s, rc);
    }
    sqlite3_reset(s->stmt[id]);
    sqlite3_clear_bindings(s->stmt[id]);
    *ret = s->stmt[id];
    return 0;
}

/* Run a statement that returns no rows. */
static int step_done(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_fail(s, rc);
    sqlite3_reset(st);
    return r;
}

static int simple(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, id, &st);
    return r < 0 ? r : step_done(s, st);
}

int store_begin(struct store *s)
{
    return simple(s, STMT_BEGIN);
}

int store_begin_read(struct store *s)
{
    return simple(s, STMT_BEGIN_READ);
}

int store_commit(struct store *s)
{
    return simple(s, STMT_COMMIT);
}

int store_part_begin(struct store *s)
{
    return simple(s, STMT_SAVEPOINT);
}

int store_part_end(struct store *s, bool keep)
{
    int r = keep ? 0 : simple(s, STMT_ROLLBACK_TO);
    int q = simple(s, STMT_RELEASE);
    return r < 0 ? r : q;
}

int store_rollback(struct store *s)
{
    if (sqlite3_get_autocommit(s->db))
        return 0;
    return simple(s, STMT_ROLLBACK);
}

static int user_version(struct store *s, int *ret)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        int r = store_fail(s, rc);
        sqlite3_finalize(st);
        return r;
    }
    *ret = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

/* ---- packed slot statistics (debtor_cells.cells) ---- */

/*
 * One cell is CELL_BYTES bytes: channel kind, hour of week, attempts and
 * reaches as 32-bit little-endian unsigned integers.  A debtor's blob
 * holds each (kind, hour) once, in no particular order, and always equals
 * its debtor_slot_stats rows (invariant 4).
 */
#define CELL_BYTES 10
#define CELLS_MAX (_CHAN_KIND_MAX * MODEL_HOURS)

static void le32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t le32_get(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t sat32(int64_t v)
{
    return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static int cells_put(struct store *s, int64_t debtor_id, const uint8_t *blob, size_t n)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_CELLS_PUT, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, debtor_id);
    sqlite3_bind_blob(st, 2, blob, (int)n, SQLITE_STATIC);
    return step_done(s, st);
}

/* What a batch adds to one slot statistics cell. */
struct cell_delta {
    uint8_t kind, how;
    uint32_t attempts, reaches;
};

/*
 * Add the cells of blob d (each (kind, hour) once) to those of blob b, into
 * out (CELLS_MAX cells); returns the cells written.  Cells of b keep their
 * place, new ones follow in d's order; counts saturate at 2^32 - 1.
 */
static size_t cells_merge(const uint8_t *b, size_t nb, const uint8_t *d, size_t nd,
                          uint8_t *out)
{
    int16_t at[CELLS_MAX];
    size_t n = nb < CELLS_MAX ? nb : CELLS_MAX;
    memset(at, 0xff, sizeof(at));
    if (n)
        memcpy(out, b, n * CELL_BYTES);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = out + i * CELL_BYTES;
        if (c[0] < _CHAN_KIND_MAX && c[1] < MODEL_HOURS && at[c[0] * MODEL_HOURS + c[1]] < 0)
            at[c[0] * MODEL_HOURS + c[1]] = (int16_t)i;
    }
    for (size_t k = 0; k < nd; k++) {
        const uint8_t *x = d + k * CELL_BYTES;
        if (x[0] >= _CHAN_KIND_MAX || x[1] >= MODEL_HOURS)
            continue;
        int slot = x[0] * MODEL_HOURS + x[1];
        uint8_t *c;
        if (at[slot] >= 0)
            c = out + at[slot] * CELL_BYTES;
        else {
            if (n == CELLS_MAX)
                continue; /* cannot happen: at most CELLS_MAX distinct valid cells */
            at[slot] = (int16_t)n;
            c = out + n++ * CELL_BYTES;
            c[0] = x[0];
            c[1] = x[1];
            le32_put(c + 2, 0);
            le32_put(c + 6, 0);
        }
        le32_put(c + 2, sat32((int64_t)le32_get(c + 2) + le32_get(x + 2)));
        le32_put(c + 6, sat32((int64_t)le32_get(c + 6) + le32_get(x + 6)));
    }
    return n;
}

/* SQL cz_cells_add(stored, deltas): cells_merge() for the debtor_cells upsert. */
static void sql_cells_add(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    uint8_t out[CELLS_MAX * CELL_BYTES];
    (void)argc;
    const uint8_t *b = sqlite3_value_blob(argv[0]);
    size_t nb = b ? (size_t)sqlite3_value_bytes(argv[0]) / CELL_BYTES : 0;
    const uint8_t *d = sqlite3_value_blob(argv[1]);
    size_t nd = d ? (size_t)sqlite3_value_bytes(argv[1]) / CELL_BYTES : 0;
    size_t n = cells_merge(b, nb, d, nd, out);
    sqlite3_result_blob(ctx, out, (int)(n * CELL_BYTES), SQLITE_TRANSIENT);
}

/*
 * Add deltas (each (kind, how) at most once) to a debtor's blob, creating
 * cells or the row: one upsert, merged by cz_cells_add().
 */
static int cells_add(struct store *s, int64_t debtor_id, const struct cell_delta *d, size_t nd)
{
    uint8_t b[CELLS_MAX * CELL_BYTES];
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_CELLS_ADD, &st);
    if (r < 0)
        return r;
    if (nd > CELLS_MAX)
        return -EINVAL;
    for (size_t k = 0; k < nd; k++) {
        uint8_t *c = b + k * CELL_BYTES;
        c[0] = d[k].kind;
        c[1] = d[k].how;
        le32_put(c + 2, d[k].attempts);
        le32_put(c + 6, d[k].reaches);
    }
    sqlite3_bind_int64(st, 1, debtor_id);
    sqlite3_bind_blob(st, 2, b, (int)(nd * CELL_BYTES), SQLITE_STATIC);
    return step_done(s, st);
}

/* Fill debtor_cells from debtor_slot_stats (migration to MIGRATION_CELLS). */
static int cells_rebuild(struct store *s)
{
    sqlite3_stmt *st = NULL;
    uint8_t b[CELLS_MAX * CELL_BYTES];
    size_t n = 0;
    int64_t cur = 0;
    int r = 0, rc = sqlite3_prepare_v2(s->db,
                                       "SELECT debtor_id, channel_kind, hour_of_week, attempts,"
                                       " reaches FROM debtor_slot_stats ORDER BY debtor_id",
                                       -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        int kind = sqlite3_column_int(st, 1), how = sqlite3_column_int(st, 2);
        if (id != cur && n && (r = cells_put(s, cur, b, n * CELL_BYTES)) < 0)
            break;
        if (id != cur)
            n = 0;
        cur = id;
        if (kind < 0 || kind >= _CHAN_KIND_MAX || how < 0 || how >= MODEL_HOURS ||
            n == CELLS_MAX)
            continue;
        uint8_t *c = b + n++ * CELL_BYTES;
        c[0] = (uint8_t)kind;
        c[1] = (uint8_t)how;
        le32_put(c + 2, sat32(sqlite3_column_int64(st, 3)));
        le32_put(c + 6, sat32(sqlite3_column_int64(st, 4)));
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = store_fail(s, rc);
    if (r >= 0 && n)
        r = cells_put(s, cur, b, n * CELL_BYTES);
    sqlite3_finalize(st);
    return r < 0 ? r : 0;
}

/*
 * Whether this database may be used as a store of schema `target`, on
 * every path that opens one (invariant 5): a newer schema is refused, and
 * so is a database of another application (schema version 0 with tables
 * in it), which a migration would otherwise fill with cadenza's tables.
 * A read-only open (no migration) also refuses an empty file and an older
 * schema.  Writes the reason into s->errmsg.
 */
static int check_version(struct store *s, int v, int target, bool readonly)
{
    if (v > (int)ELEMENTSOF(migrations)) {
        snprintf(s->errmsg, sizeof(s->errmsg),
                 "store schema version %d is newer than this cadenza's (%zu): upgrade cadenza",
                 v, ELEMENTSOF(migrations));
        return -EPROTONOSUPPORT;
    }
    if (v == 0) {
        sqlite3_stmt *st;
        int rc = sqlite3_prepare_v2(s->db, "SELECT name FROM sqlite_schema LIMIT 1", -1, &st,
                                    NULL);
        if (rc != SQLITE_OK)
            return store_fail(s, rc);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            snprintf(s->errmsg, sizeof(s->errmsg),
                     "not a cadenza store: the database already holds other tables ('%s')",
                     (const char *)sqlite3_column_text(st, 0));
        int r = rc == SQLITE_ROW ? -EEXIST : rc == SQLITE_DONE ? 0 : store_fail(s, rc);
        sqlite3_finalize(st);
        if (r < 0)
            return r;
        if (readonly) {
            snprintf(s->errmsg, sizeof(s->errmsg), "not a cadenza store (schema version 0)");
            return -ENOENT;
        }
        return 0;
    }
    if (readonly && v < target) {
        snprintf(s->errmsg, sizeof(s->errmsg),
                 "store schema version %d is older than this cadenza's (%d): run a command "
                 "that writes to it (e.g. 'cadenza import') to migrate it",
                 v, target);
        return -EPROTONOSUPPORT;
    }
    return 0;
}

static int migrate(struct store *s, int target)
{
    int v, r;
    if ((r = user_version(s, &v)) < 0)
        return r;
    if ((r = check_version(s, v, target, false)) < 0)
        return r;
    for (; v < target; v++) {
        char pragma[64];
        if ((r = exec(s, "BEGIN IMMEDIATE")) < 0)
            return r;
        /* Re-read inside the write lock: another process may have migrated. */
        int cur;
        if ((r = user_version(s, &cur)) < 0)
            goto fail;
        if (cur > v) {
            exec(s, "COMMIT");
            v = cur - 1;
            continue;
        }
        if ((r = exec(s, migrations[v])) < 0)
            goto fail;
        if (v + 1 == MIGRATION_CELLS && (r = cells_rebuild(s)) < 0)
            goto fail;
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if ((r = exec(s, pragma)) < 0)
            goto fail;
        if ((r = exec(s, "COMMIT")) < 0)
            goto fail;
    }
    return 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

/*
 * Before SQLite's first use in the process: no memory statistics (they
 * take a global mutex on every allocation, a few per cent of an import).
 */
static void sqlite_configure(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int open_version(const char *path, unsigned flags, int version, struct store **ret,
                        char *reterr, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_configure);
    struct store *s = calloc(1, sizeof(*s));
    int r;
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return -ENOMEM;
    }
    int oflags = SQLITE_OPEN_NOMUTEX |
                 (flags & STORE_READONLY ? SQLITE_OPEN_READONLY
                                         : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        r = s->db ? store_fail(s, rc) : -ENOMEM;
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 10000);
    rc = sqlite3_create_function(s->db, "cz_cells_add", 2,
                                 SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
                                 sql_cells_add, NULL, NULL);
    if (rc != SQLITE_OK) {
        r = store_fail(s, rc);
        goto fail;
    }
    if ((r = exec(s, "PRAGMA foreign_keys = ON")) < 0)
        goto fail;
    if (!(flags & STORE_READONLY)) {
        if ((r = exec(s, "PRAGMA journal_mode = WAL")) < 0)
            goto fail;
        if ((r = exec(s, "PRAGMA synchronous = NORMAL")) < 0)
            goto fail;
        if ((r = migrate(s, version)) < 0)
            goto fail;
    } else {
        int v;
        if ((r = user_version(s, &v)) < 0)
            goto fail;
        if ((r = check_version(s, v, version, true)) < 0)
            goto fail;
    }
    if ((r = user_version(s, &s->version)) < 0)
        goto fail;
    if ((r = exec(s, flags & STORE_BULK ? "PRAGMA cache_size = -32768"
                                        : "PRAGMA cache_size = -16384")) < 0)
        goto fail;
    *ret = s;
    return 0;
fail:
    if (reterr && errlen)
        snprintf(reterr, errlen, "%s", s->errmsg[0] ? s->errmsg : strerror(-r));
    store_free(s);
    return r;
}

int store_open(const char *path, unsigned flags, struct store **ret, char *reterr,
               size_t errlen)
{
    return open_version(path, flags, (int)ELEMENTSOF(migrations), ret, reterr, errlen);
}

int store_open_version(const char *path, int version, struct store **ret, char *reterr,
                       size_t errlen)
{
    if (version < 1 || version > (int)ELEMENTSOF(migrations))
        return -EINVAL;
    return open_version(path, 0, version, ret, reterr, errlen);
}

int store_set_cache_mib(struct store *s, int mib)
{
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = %d", -1024 * (mib < 1 ? 1 : mib));
    return exec(s, pragma);
}

int store_set_wal_autocheckpoint(struct store *s, int pages)
{
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA wal_autocheckpoint = %d", pages);
    return exec(s, pragma);
}

int store_checkpoint(struct store *s)
{
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store_fail(s, rc);
}

void store_free(struct store *s)
{
    if (!s)
        return;
    for (int i = 0; i < _STMT_MAX; i++)
        sqlite3_finalize(s->stmt[i]);
    for (int i = 0; i < STORE_DISPATCH_STMT_MAX; i++)
        sqlite3_finalize(s->dispatch_stmt[i]);
    for (int i = 0; i < STORE_BRIEF_STMT_MAX; i++)
        sqlite3_finalize(s->brief_stmt[i]);
    for (int i = 0; i < STORE_INBOUND_STMT_MAX; i++)
        sqlite3_finalize(s->inbound_stmt[i]);
    for (int i = 0; i < STORE_SELFSERVICE_STMT_MAX; i++)
        sqlite3_finalize(s->ss_stmt[i]);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

int store_import_start(struct store *s, const char *source, int64_t now, int64_t *ret_id)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_IMPORT_START, &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    if ((r = step_done(s, st)) < 0)
        return r;
    *ret_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_import_finish(struct store *s, int64_t id, const struct import_counts *c,
                        int64_t now, const char *status)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_IMPORT_FINISH, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, c->read);
    sqlite3_bind_int64(st, 5, c->inserted);
    sqlite3_bind_int64(st, 6, c->updated);
    sqlite3_bind_int64(st, 7, c->unchanged);
    sqlite3_bind_int64(st, 8, c->rejected);
    return step_done(s, st);
}

int store_debtor_hashes(struct store *s,
                        int (*cb)(void *ctx, const char *id, size_t len, uint64_t row_hash),
                        void *ctx)
{
    sqlite3_stmt *st = NULL;
    int64_t cache;
    int r = query_int(s, "PRAGMA cache_size", &cache);
    if (r < 0)
        return r;
    /* A full scan would fill the page cache with pages nobody reads again
     * (the table can be far larger than the cache): scan with a small one. */
    if ((r = exec(s, "PRAGMA cache_size = -2048")) < 0)
        return r;
    int rc = sqlite3_prepare_v2(s->db, "SELECT external_id, row_hash FROM debtors", -1, &st,
                                NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        r = cb(ctx, id ? id : "", len, (uint64_t)sqlite3_column_int64(st, 1));
        if (r < 0)
            break;
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = store_fail(s, rc);
    sqlite3_finalize(st);
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = %lld", (long long)cache);
    int r2 = exec(s, pragma);
    return r < 0 ? r : r2 < 0 ? r2 : 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (isempty(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

int store_debtor_upsert(struct store *s, const struct debtor_rec *d, int64_t now,
                        int *ret_changed)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_UPSERT_DEBTOR, &st);
    if (r < 0)
        return r;
    bind_text(st, 1, d->external_id);
    bind_text(st, 2, d->name);
    bind_text(st, 3, d->locale);
    bind_text(st, 4, d->time_zone);
    bind_text(st, 5, d->country);
    bind_text(st, 6, d->region);
    bind_text(st, 7, d->email);
    bind_text(st, 8, d->phone);
    sqlite3_bind_int(st, 9, d->phone_type);
    bind_text(st, 10, d->chat_handle);
    sqlite3_bind_int64(st, 11, d->balance_minor);
    bind_text(st, 12, d->currency);
    if (d->due_date != INT32_MIN)
        sqlite3_bind_int(st, 13, d->due_date);
    if (d->payday)
        sqlite3_bind_int(st, 14, d->payday);
    bind_text(st, 15, d->risk_band);
    bind_text(st, 16, d->segment);
    bind_text(st, 17, d->tags);
    sqlite3_bind_int64(st, 18, d->flags);
    sqlite3_bind_int(st, 19, d->consent[CHAN_EMAIL]);
    sqlite3_bind_int(st, 20, d->consent[CHAN_SMS]);
    sqlite3_bind_int(st, 21, d->consent[CHAN_CHAT]);
    sqlite3_bind_int(st, 22, d->consent[CHAN_CALL]);
    bind_text(st, 23, d->do_not_contact);
    if (d->preferred_channel >= 0)
        sqlite3_bind_int(st, 24, d->preferred_channel);
    if (d->prefers_human >= 0)
        sqlite3_bind_int(st, 25, d->prefers_human);
    sqlite3_bind_int64(st, 26, (int64_t)d->row_hash);
    sqlite3_bind_int64(st, 27, now);
    bind_text(st, 28, d->age_band);
    bind_text(st, 29, d->employment_type);
    int rc = sqlite3_step(st);
    r = rc == SQLITE_DONE ? 0 : store_fail(s, rc);
    sqlite3_reset(st);
    if (r < 0)
        return (rc & 0xff) == SQLITE_CONSTRAINT ? -EINVAL : r;
    *ret_changed = sqlite3_changes(s->db) > 0;
    return 0;
}

/* ---- status ---- */

static const char *const group_names[_STATUS_GROUP_MAX] = {
    [STATUS_BY_COUNTRY] = "country",   [STATUS_BY_DPD] = "dpd",
    [STATUS_BY_STRATEGY] = "strategy", [STATUS_BY_TIER] = "tier",
    [STATUS_BY_CHANNEL] = "channel",   [STATUS_BY_FLAG] = "flag",
    [STATUS_BY_ATTEMPT] = "attempt_status", [STATUS_BY_PROPENSITY] = "payment_propensity",
};

/* ?1 is today (days since epoch).  Each query yields (label, count). */
static const char *const group_sql[_STATUS_GROUP_MAX] = {
    [STATUS_BY_COUNTRY] =
        "SELECT country, count(*) FROM debtors GROUP BY country ORDER BY 2 DESC, 1",
    [STATUS_BY_DPD] =
        "SELECT b, n FROM (SELECT CASE"
        "  WHEN due_date IS NULL THEN 'no due date'"
        "  WHEN ?1 - due_date <= 0 THEN 'pre-due'"
        "  WHEN ?1 - due_date <= 30 THEN '1-30'"
        "  WHEN ?1 - due_date <= 60 THEN '31-60'"
        "  WHEN ?1 - due_date <= 90 THEN '61-90'"
        "  WHEN ?1 - due_date <= 180 THEN '91-180'"
        "  ELSE '181+' END AS b,"
        "  CASE WHEN due_date IS NULL THEN 9 WHEN ?1 - due_date <= 0 THEN 0"
        "  WHEN ?1 - due_date <= 30 THEN 1 WHEN ?1 - due_date <= 60 THEN 2"
        "  WHEN ?1 - due_date <= 90 THEN 3 WHEN ?1 - due_date <= 180 THEN 4 ELSE 5 END AS o,"
        "  count(*) AS n FROM debtors GROUP BY b, o) ORDER BY o",
    [STATUS_BY_STRATEGY] =
        "SELECT coalesce(c.strategy, '(not yet planned)'), count(*) FROM debtors d"
        " LEFT JOIN contact_state c ON c.debtor_id = d.id GROUP BY 1 ORDER BY 2 DESC, 1",
    [STATUS_BY_TIER] =
        "SELECT coalesce(c.strategy || '/' || c.tier, '(not yet planned)'), count(*)"
        " FROM debtors d LEFT JOIN contact_state c ON c.debtor_id = d.id"
        " GROUP BY 1 ORDER BY 2 DESC, 1",
    /* phone_type 1 mobile, 3 fixed-or-mobile can take SMS; consent 2 = no */
    [STATUS_BY_CHANNEL] =
        "SELECT 'email', count(*) FROM debtors WHERE email IS NOT NULL AND consent_email != 2"
        " UNION ALL SELECT 'sms', count(*) FROM debtors WHERE phone IS NOT NULL"
        "  AND phone_type IN (1, 3) AND consent_sms != 2"
        " UNION ALL SELECT 'chat', count(*) FROM debtors WHERE chat_handle IS NOT NULL"
        "  AND consent_chat != 2"
        " UNION ALL SELECT 'call', count(*) FROM debtors WHERE phone IS NOT NULL"
        "  AND consent_call != 2"
        " UNION ALL SELECT 'none', count(*) FROM debtors WHERE email IS NULL"
        "  AND phone IS NULL AND chat_handle IS NULL",
    [STATUS_BY_FLAG] =
        "SELECT 'hardship', count(*) FROM debtors WHERE flags & 1"
        " UNION ALL SELECT 'dispute', count(*) FROM debtors WHERE flags & 2"
        " UNION ALL SELECT 'cease', count(*) FROM debtors WHERE flags & 4"
        " UNION ALL SELECT 'deceased', count(*) FROM debtors WHERE flags & 8"
        " UNION ALL SELECT 'bankrupt', count(*) FROM debtors WHERE flags & 16"
        " UNION ALL SELECT 'vulnerable', count(*) FROM debtors WHERE flags & 32",
    /* codes: enum attempt_status (store.h) */
    [STATUS_BY_ATTEMPT] =
        "SELECT CASE status WHEN 0 THEN 'planned' WHEN 1 THEN 'queued' WHEN 2 THEN 'sent'"
        " WHEN 3 THEN 'failed' WHEN 4 THEN 'cancelled' WHEN 5 THEN 'invalid_address'"
        " WHEN 6 THEN 'dead' ELSE 'unknown' END, count(*) FROM attempts"
        " WHERE run_id = (SELECT max(id) FROM runs) GROUP BY status ORDER BY status",
    [STATUS_BY_PROPENSITY] =
        "SELECT b, n FROM (SELECT CASE WHEN p_pay < 0.05 THEN 'under 5%'"
        "  WHEN p_pay < 0.1 THEN '5-10%' WHEN p_pay < 0.2 THEN '10-20%'"
        "  WHEN p_pay < 0.4 THEN '20-40%' ELSE '40% or more' END AS b,"
        "  CASE WHEN p_pay < 0.05 THEN 0 WHEN p_pay < 0.1 THEN 1 WHEN p_pay < 0.2 THEN 2"
        "  WHEN p_pay < 0.4 THEN 3 ELSE 4 END AS o, count(*) AS n"
        "  FROM contact_state WHERE p_pay IS NOT NULL GROUP BY b, o) ORDER BY o",
};

static int query_group(struct store *s, const char *sql, int32_t today, struct store_group *g)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    if (sqlite3_bind_parameter_count(st) >= 1)
        sqlite3_bind_int(st, 1, today);
    int r = 0;
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (g->n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct store_count *v = realloc(g->v, nc * sizeof(*v));
            if (!v) {
                r = -ENOMEM;
                break;
            }
            g->v = v;
            cap = nc;
        }
        const char *label = (const char *)sqlite3_column_text(st, 0);
        g->v[g->n].label = strdup(label ? label : "");
        if (!g->v[g->n].label) {
            r = -ENOMEM;
            break;
        }
        g->v[g->n++].n = sqlite3_column_int64(st, 1);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = store_fail(s, rc);
    sqlite3_finalize(st);
    return r;
}

static int query_int(struct store *s, const char *sql, int64_t *ret)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    rc = sqlite3_step(st);
    *ret = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int r = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_fail(s, rc);
    sqlite3_finalize(st);
    return r;
}

static char *col_strdup(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return strdup(t ? t : "");
}

int store_status_get(struct store *s, int32_t today, struct store_status *ret)
{
    struct store_status st = { 0 };
    sqlite3_stmt *q = NULL;
    int r, rc;

    for (int i = 0; i < _STATUS_GROUP_MAX; i++) {
        st.groups[i].name = group_names[i];
        if ((r = query_group(s, group_sql[i], today, &st.groups[i])) < 0)
            goto fail;
    }
    if ((r = query_int(s, "SELECT count(*) FROM debtors", &st.debtors)) < 0 ||
        (r = query_int(s, "SELECT count(*) FROM attempts", &st.attempts)) < 0 ||
        (r = query_int(s, "SELECT count(*) FROM outcomes", &st.outcomes)) < 0 ||
        (r = query_int(s, "SELECT count(*) FROM suppressions", &st.suppressions)) < 0)
        goto fail;
    if ((r = user_version(s, &st.schema_version)) < 0)
        goto fail;
    rc = sqlite3_prepare_v2(s->db, "SELECT count(*), total(c.p_pay),"
                            " total(c.p_pay * d.balance_minor) FROM contact_state c"
                            " JOIN debtors d ON d.id = c.debtor_id WHERE c.p_pay IS NOT NULL",
                            -1, &q, NULL);
    if (rc != SQLITE_OK) {
        r = store_fail(s, rc);
        goto fail;
    }
    if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        st.pay_debtors = sqlite3_column_int64(q, 0);
        st.pay_expected = sqlite3_column_double(q, 1);
        st.pay_amount_minor = sqlite3_column_double(q, 2);
    }
    sqlite3_finalize(q);
    q = NULL;
    if (rc != SQLITE_ROW) {
        r = store_fail(s, rc);
        goto fail;
    }

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT source, status, started_at, coalesce(finished_at, 0),"
                            " rows_read, inserted, updated, unchanged, rejected"
                            " FROM imports ORDER BY id DESC LIMIT 1",
                            -1, &q, NULL);
    if (rc != SQLITE_OK) {
        r = store_fail(s, rc);
        goto fail;
    }
    if (sqlite3_step(q) == SQLITE_ROW) {
        st.has_import = true;
        st.import_source = col_strdup(q, 0);
        st.import_status = col_strdup(q, 1);
        st.import_started = sqlite3_column_int64(q, 2);
        st.import_finished = sqlite3_column_int64(q, 3);
        st.import.read = sqlite3_column_int64(q, 4);
        st.import.inserted = sqlite3_column_int64(q, 5);
        st.import.updated = sqlite3_column_int64(q, 6);
        st.import.unchanged = sqlite3_column_int64(q, 7);
        st.import.rejected = sqlite3_column_int64(q, 8);
    }
    sqlite3_finalize(q);
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT run_date, status, started_at, coalesce(finished_at, 0),"
                            " planned FROM runs ORDER BY id DESC LIMIT 1",
                            -1, &q, NULL);
    if (rc != SQLITE_OK) {
        r = store_fail(s, rc);
        goto fail;
    }
    if (sqlite3_step(q) == SQLITE_ROW) {
        st.has_run = true;
        st.run_date = sqlite3_column_int(q, 0);
        st.run_status = col_strdup(q, 1);
        st.run_started = sqlite3_column_int64(q, 2);
        st.run_finished = sqlite3_column_int64(q, 3);
        st.run_planned = sqlite3_column_int64(q, 4);
    }
    sqlite3_finalize(q);
    if ((st.has_import && (!st.import_source || !st.import_status)) ||
        (st.has_run && !st.run_status)) {
        r = -ENOMEM;
        goto fail;
    }

    struct stat sb;
    char wal[4096];
    if (stat(s->path, &sb) == 0)
        st.file_size += sb.st_size;
    snprintf(wal, sizeof(wal), "%s-wal", s->path);
    if (stat(wal, &sb) == 0)
        st.file_size += sb.st_size;
    *ret = st;
    return 0;
fail:
    store_status_release(&st);
    return r;
}

void store_status_release(struct store_status *st)
{
    for (int i = 0; i < _STATUS_GROUP_MAX; i++) {
        for (size_t k = 0; k < st->groups[i].n; k++)
            free(st->groups[i].v[k].label);
        free(st->groups[i].v);
    }
    free(st->import_source);
    free(st->import_status);
    free(st->run_status);
    memset(st, 0, sizeof(*st));
}

/* ---- planning: the bulk reader ---- */

/*
 * One ordered scan of the merge: the statement and the debtor id of its
 * current row (INT64_MAX once exhausted).
 */
struct scan_cursor {
    sqlite3_stmt *st;
    int64_t key;
};

static int cursor_step(struct store *s, struct scan_cursor *c)
{
    int rc = sqlite3_step(c->st);
    if (rc == SQLITE_ROW) {
        c->key = sqlite3_column_int64(c->st, 0);
        return 0;
    }
    c->key = INT64_MAX;
    return rc == SQLITE_DONE ? 0 : store_fail(s, rc);
}

static int cursor_open(struct store *s, struct scan_cursor *c, const char *sql, int64_t lo,
                       int64_t hi, int64_t extra)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &c->st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    sqlite3_bind_int64(c->st, 1, lo);
    sqlite3_bind_int64(c->st, 2, hi);
    if (sqlite3_bind_parameter_count(c->st) >= 3)
        sqlite3_bind_int64(c->st, 3, extra);
    return cursor_step(s, c);
}

/* Grow *v (element size sz) to hold at least n + 1 elements. */
static int grow(void **v, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*v, nc * sz);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = nc;
    return 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t && *t ? t : NULL;
}

enum { SCAN_DEBTORS, SCAN_STATE, SCAN_ATTEMPTS, SCAN_OUTCOMES, SCAN_CELLS, SCAN_SUPPR,
       SCAN_PREFS, SCAN_PLANS, _SCAN_MAX };

/* Payments and promises only (the payment propensity), through outcomes_active too. */
static const char scan_pay_outcomes_sql[] =
    "SELECT debtor_id, occurred_at, channel_kind, code, promise_date FROM outcomes"
    " WHERE debtor_id BETWEEN ?1 AND ?2 AND occurred_at >= ?3 AND " OUTCOME_ACTIVE
    " AND code BETWEEN 8 AND 9 ORDER BY debtor_id";

/* The outcome scan without idle outcomes: through the partial index outcomes_active. */
static const char scan_active_outcomes_sql[] =
    "SELECT debtor_id, occurred_at, channel_kind, code, promise_date FROM outcomes"
    " WHERE debtor_id BETWEEN ?1 AND ?2 AND occurred_at >= ?3 AND " OUTCOME_ACTIVE
    " ORDER BY debtor_id";

static const char *const scan_sql[_SCAN_MAX] = {
    [SCAN_DEBTORS] = "SELECT " STORE_DEBTOR_COLUMNS ", created_at"
                     " FROM debtors WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
    [SCAN_STATE] =
        "SELECT debtor_id, strategy, variant, tier, tier_entered_at, attempts_in_tier,"
        " attempts_since_contact, attempts_total, paused_until, hold_reason,"
        " no_contact_track, stopped, applied_until"
        " FROM contact_state WHERE debtor_id BETWEEN ?1 AND ?2 ORDER BY debtor_id",
    [SCAN_ATTEMPTS] =
        "SELECT debtor_id, scheduled_at, channel, channel_kind FROM attempts"
        " WHERE debtor_id BETWEEN ?1 AND ?2 AND scheduled_at >= ?3 ORDER BY debtor_id",
    [SCAN_OUTCOMES] =
        "SELECT debtor_id, occurred_at, channel_kind, code, promise_date FROM outcomes"
        " WHERE debtor_id BETWEEN ?1 AND ?2 AND occurred_at >= ?3 ORDER BY debtor_id",
    [SCAN_CELLS] =
        "SELECT debtor_id, cells FROM debtor_cells"
        " WHERE debtor_id BETWEEN ?1 AND ?2 ORDER BY debtor_id",
    [SCAN_SUPPR] =
        "SELECT debtor_id, channel_kind, address, reason = 'invalid address' FROM suppressions"
        " WHERE debtor_id BETWEEN ?1 AND ?2 AND (expires_at IS NULL OR expires_at > ?3)"
        " ORDER BY debtor_id",
    /* what debtors stated on the self-service page: few rows */
    [SCAN_PREFS] = "SELECT debtor_id, " STORE_PREFS_COLUMNS " FROM debtor_prefs"
                   " WHERE debtor_id BETWEEN ?1 AND ?2 ORDER BY debtor_id",
    /* each active plan's instalments, with what was paid since it was agreed (up to now) */
    [SCAN_PLANS] =
        "SELECT p.debtor_id, p.id, p.agreed_at, (SELECT coalesce(sum(o.amount_minor), 0)"
        " FROM outcomes o WHERE o.debtor_id = p.debtor_id AND o.code = 9"
        " AND o.occurred_at >= p.agreed_at AND o.occurred_at <= ?3), i.due_date, i.amount_minor"
        " FROM payment_plans p JOIN plan_instalments i ON i.plan_id = p.id"
        " WHERE p.status = 0 AND p.debtor_id BETWEEN ?1 AND ?2 ORDER BY p.debtor_id, i.seq",
};

static void read_debtor(sqlite3_stmt *st, struct store_plan_row *row)
{
    row->id = store_read_debtor(st, &row->rec);
    row->created_at = sqlite3_column_int64(st, 28); /* after STORE_DEBTOR_COLUMNS */
}

int64_t store_read_debtor(sqlite3_stmt *st, struct debtor_rec *d)
{
    memset(d, 0, offsetof(struct debtor_rec, dnc_buf));
    d->dnc_buf[0] = 0;
    d->external_id = (const char *)sqlite3_column_text(st, 1);
    d->name = col_text(st, 2);
    d->locale = col_text(st, 3);
    d->time_zone = col_text(st, 4);
    d->country = col_text(st, 5);
    d->region = col_text(st, 6);
    d->email = col_text(st, 7);
    const char *phone = col_text(st, 8);
    if (phone)
        snprintf(d->phone, sizeof(d->phone), "%s", phone);
    d->phone_type = (uint8_t)sqlite3_column_int(st, 9);
    d->chat_handle = col_text(st, 10);
    d->balance_minor = sqlite3_column_int64(st, 11);
    d->currency = col_text(st, 12);
    d->due_date = sqlite3_column_int(st, 13);
    d->payday = (int8_t)sqlite3_column_int(st, 14);
    d->risk_band = col_text(st, 15);
    d->segment = col_text(st, 16);
    d->tags = col_text(st, 17);
    d->flags = (uint32_t)sqlite3_column_int64(st, 18);
    d->consent[CHAN_EMAIL] = (uint8_t)sqlite3_column_int(st, 19);
    d->consent[CHAN_SMS] = (uint8_t)sqlite3_column_int(st, 20);
    d->consent[CHAN_CHAT] = (uint8_t)sqlite3_column_int(st, 21);
    d->consent[CHAN_CALL] = (uint8_t)sqlite3_column_int(st, 22);
    d->do_not_contact = col_text(st, 23);
    d->preferred_channel = sqlite3_column_type(st, 24) == SQLITE_NULL
                               ? -1 : (int8_t)sqlite3_column_int(st, 24);
    d->prefers_human = sqlite3_column_type(st, 25) == SQLITE_NULL
                           ? -1 : (int8_t)sqlite3_column_int(st, 25);
    d->age_band = col_text(st, 26);
    d->employment_type = col_text(st, 27);
    return sqlite3_column_int64(st, 0);
}

static void read_state(sqlite3_stmt *st, struct planner_state *ps)
{
    memset(ps, 0, sizeof(*ps));
    ps->strategy = col_text(st, 1);
    ps->variant = col_text(st, 2);
    ps->tier = col_text(st, 3);
    ps->tier_entered_at = sqlite3_column_int64(st, 4);
    ps->attempts_in_tier = sqlite3_column_int(st, 5);
    ps->attempts_since_contact = sqlite3_column_int(st, 6);
    ps->attempts_total = sqlite3_column_int(st, 7);
    ps->paused_until = sqlite3_column_int64(st, 8);
    ps->hold_reason = col_text(st, 9);
    ps->no_contact_track = sqlite3_column_int(st, 10) != 0;
    ps->stopped = sqlite3_column_int(st, 11) != 0;
    ps->applied_until = sqlite3_column_int64(st, 12);
}

static const char *kind_address(const struct debtor_rec *d, int kind)
{
    switch (kind) {
    case CHAN_EMAIL:
        return d->email;
    case CHAN_SMS:
    case CHAN_CALL:
        return d->phone[0] ? d->phone : NULL;
    case CHAN_CHAT:
        return d->chat_handle;
    default:
        return NULL;
    }
}

int64_t store_plan_scan(struct store *s, const struct store_plan_opts *o,
                        int (*cb)(void *ctx, const struct store_plan_row *row), void *ctx)
{
    struct scan_cursor c[_SCAN_MAX] = { 0 };
    struct planner_attempt *att = NULL;
    struct planner_outcome *out = NULL;
    struct model_cell *cells = NULL;
    size_t catt = 0, cout = 0, ccells = 0;
    struct prefs prefs;
    struct planner_plan plan;
    struct plan_instalment inst[PLAN_INSTALMENTS_MAX];
    int64_t lo = o->id_min, hi = o->id_max ? o->id_max : INT64_MAX, visited = 0;
    int r = 0;

    if (o->external_id) {
        sqlite3_stmt *st = NULL;
        if ((r = stmt_get(s, STMT_DEBTOR_FIND, &st)) < 0)
            return r;
        sqlite3_bind_text(st, 1, o->external_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            lo = hi = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            snprintf(s->errmsg, sizeof(s->errmsg), "no debtor with id '%s'", o->external_id);
            return -ENOENT;
        }
        if (rc != SQLITE_ROW)
            return store_fail(s, rc);
    }
    for (int i = 0; i < _SCAN_MAX; i++) {
        int64_t extra = i == SCAN_SUPPR || i == SCAN_PLANS ? o->now : o->since;
        const char *sql = scan_sql[i];
        if (i == SCAN_OUTCOMES && o->skip_idle_outcomes)
            sql = scan_active_outcomes_sql;
        if (i == SCAN_OUTCOMES && o->payments_only)
            sql = scan_pay_outcomes_sql;
        if (i == SCAN_ATTEMPTS && o->no_attempts)
            extra = INT64_MAX;
        if ((r = cursor_open(s, &c[i], sql, lo, hi, extra)) < 0)
            goto out;
    }

    while (c[SCAN_DEBTORS].key != INT64_MAX) {
        struct store_plan_row row;
        read_debtor(c[SCAN_DEBTORS].st, &row);
        int64_t id = row.id;

        while (c[SCAN_STATE].key < id)
            if ((r = cursor_step(s, &c[SCAN_STATE])) < 0)
                goto out;
        row.has_state = c[SCAN_STATE].key == id;
        if (row.has_state)
            read_state(c[SCAN_STATE].st, &row.state);
        else
            memset(&row.state, 0, sizeof(row.state));

        size_t n = 0;
        for (; c[SCAN_ATTEMPTS].key <= id; r = cursor_step(s, &c[SCAN_ATTEMPTS])) {
            if (r < 0)
                goto out;
            if (c[SCAN_ATTEMPTS].key < id)
                continue;
            if ((r = grow((void **)&att, &catt, n, sizeof(*att))) < 0)
                goto out;
            sqlite3_stmt *st = c[SCAN_ATTEMPTS].st;
            const char *ch = (const char *)sqlite3_column_text(st, 2);
            att[n].at = sqlite3_column_int64(st, 1);
            att[n].channel = -1;
            for (size_t k = 0; ch && k < o->nchannels; k++)
                if (streq(ch, o->channels[k])) {
                    att[n].channel = (int16_t)k;
                    break;
                }
            att[n].kind = (uint8_t)sqlite3_column_int(st, 3);
            n++;
        }
        if (r < 0)
            goto out;
        row.attempts = att;
        row.nattempts = n;

        n = 0;
        for (; c[SCAN_OUTCOMES].key <= id; r = cursor_step(s, &c[SCAN_OUTCOMES])) {
            if (r < 0)
                goto out;
            if (c[SCAN_OUTCOMES].key < id)
                continue;
            if ((r = grow((void **)&out, &cout, n, sizeof(*out))) < 0)
                goto out;
            sqlite3_stmt *st = c[SCAN_OUTCOMES].st;
            out[n].at = sqlite3_column_int64(st, 1);
            out[n].kind = sqlite3_column_type(st, 2) == SQLITE_NULL
                              ? _CHAN_KIND_MAX : (uint8_t)sqlite3_column_int(st, 2);
            out[n].code = (uint8_t)sqlite3_column_int(st, 3);
            out[n].promise_day = sqlite3_column_int(st, 4);
            n++;
        }
        if (r < 0)
            goto out;
        row.outcomes = out;
        row.noutcomes = n;

        n = 0;
        for (; c[SCAN_CELLS].key <= id; r = cursor_step(s, &c[SCAN_CELLS])) {
            if (r < 0)
                goto out;
            if (c[SCAN_CELLS].key < id)
                continue;
            sqlite3_stmt *st = c[SCAN_CELLS].st;
            const uint8_t *p = sqlite3_column_blob(st, 1);
            size_t nb = (size_t)sqlite3_column_bytes(st, 1) / CELL_BYTES;
            for (size_t k = 0; p && k < nb; k++, p += CELL_BYTES) {
                if (p[0] >= _CHAN_KIND_MAX || p[1] >= MODEL_HOURS)
                    continue;
                while (n + 1 > ccells)
                    if ((r = grow((void **)&cells, &ccells, n, sizeof(*cells))) < 0)
                        goto out;
                uint32_t a = le32_get(p + 2), re = le32_get(p + 6);
                cells[n++] = (struct model_cell){
                    .kind = p[0], .how = p[1], .attempts = a, .reaches = re > a ? a : re,
                };
            }
        }
        if (r < 0)
            goto out;
        row.cells = cells;
        row.ncells = n;

        row.suppressed = row.invalid = 0;
        for (; c[SCAN_SUPPR].key <= id; r = cursor_step(s, &c[SCAN_SUPPR])) {
            if (r < 0)
                goto out;
            if (c[SCAN_SUPPR].key < id)
                continue;
            sqlite3_stmt *st = c[SCAN_SUPPR].st;
            int kind = sqlite3_column_int(st, 1);
            const char *addr = (const char *)sqlite3_column_text(st, 2);
            for (int k = 0; k < CHAN_LETTER; k++) {
                const char *mine = kind_address(&row.rec, k);
                /* a phone suppression names the kind it came from (sms or call) */
                if (k == kind && mine && addr && streq(mine, addr)) {
                    row.suppressed |= (uint8_t)(1u << k);
                    if (sqlite3_column_int(st, 3))
                        row.invalid |= (uint8_t)(1u << k);
                }
            }
        }
        if (r < 0)
            goto out;

        row.prefs = NULL;
        for (; c[SCAN_PREFS].key <= id; r = cursor_step(s, &c[SCAN_PREFS])) {
            if (r < 0)
                goto out;
            if (c[SCAN_PREFS].key == id) {
                store_read_prefs(c[SCAN_PREFS].st, 1, &prefs);
                row.prefs = &prefs;
            }
        }
        if (r < 0)
            goto out;

        row.plan = NULL;
        plan.n = 0;
        for (int64_t pid = 0; c[SCAN_PLANS].key <= id; r = cursor_step(s, &c[SCAN_PLANS])) {
            if (r < 0)
                goto out;
            sqlite3_stmt *st = c[SCAN_PLANS].st;
            if (c[SCAN_PLANS].key < id || plan.n == PLAN_INSTALMENTS_MAX)
                continue;
            if (!pid) {
                pid = sqlite3_column_int64(st, 1);
                plan.agreed_at = sqlite3_column_int64(st, 2);
                plan.paid_minor = sqlite3_column_int64(st, 3);
            } else if (pid != sqlite3_column_int64(st, 1))
                continue; /* only one plan is active; the first if a bug left two */
            inst[plan.n].day = sqlite3_column_int(st, 4);
            inst[plan.n++].amount_minor = sqlite3_column_int64(st, 5);
        }
        if (r < 0)
            goto out;
        if (plan.n) {
            plan.inst = inst;
            row.plan = &plan;
        }

        visited++;
        if ((r = cb(ctx, &row)) < 0)
            goto out;
        /* the state row's strings were borrowed by cb: step only now */
        if (row.has_state && (r = cursor_step(s, &c[SCAN_STATE])) < 0)
            goto out;
        if ((r = cursor_step(s, &c[SCAN_DEBTORS])) < 0)
            goto out;
    }
    r = 0;
out:
    for (int i = 0; i < _SCAN_MAX; i++)
        sqlite3_finalize(c[i].st);
    free(att);
    free(out);
    free(cells);
    return r < 0 ? r : visited;
}

int store_debtor_max_id(struct store *s, int64_t *ret)
{
    return query_int(s, "SELECT coalesce(max(id), 0) FROM debtors", ret);
}

int store_segment_stats(struct store *s,
                        int (*cb)(void *ctx, const char *segment, int kind, int how,
                                  int64_t attempts, int64_t reaches),
                        void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT segment, channel_kind, hour_of_week, attempts, reaches"
                                " FROM segment_slot_stats ORDER BY segment",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    int r = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *seg = (const char *)sqlite3_column_text(st, 0);
        r = cb(ctx, seg ? seg : "", sqlite3_column_int(st, 1), sqlite3_column_int(st, 2),
               sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4));
        if (r < 0)
            break;
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = store_fail(s, rc);
    sqlite3_finalize(st);
    return r < 0 ? r : 0;
}

/* ---- planning: writing results ---- */

static void bind_name(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

int store_state_put(struct store *s, int64_t debtor_id, const struct planner_state *ps,
                    int64_t last_attempt_at, int64_t now)
{
    return store_state_put_pay(s, debtor_id, ps, last_attempt_at, now, -1);
}

int store_state_put_pay(struct store *s, int64_t debtor_id, const struct planner_state *ps,
                        int64_t last_attempt_at, int64_t now, double p_pay)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_STATE_PUT, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, debtor_id);
    bind_name(st, 2, ps->strategy);
    bind_name(st, 3, ps->variant);
    bind_name(st, 4, ps->tier);
    sqlite3_bind_int64(st, 5, ps->tier_entered_at);
    sqlite3_bind_int(st, 6, ps->attempts_in_tier);
    sqlite3_bind_int(st, 7, ps->attempts_since_contact);
    sqlite3_bind_int(st, 8, ps->attempts_total);
    if (last_attempt_at)
        sqlite3_bind_int64(st, 9, last_attempt_at);
    if (ps->paused_until)
        sqlite3_bind_int64(st, 10, ps->paused_until);
    bind_text(st, 11, ps->hold_reason);
    sqlite3_bind_int(st, 12, ps->no_contact_track);
    sqlite3_bind_int(st, 13, ps->stopped);
    sqlite3_bind_int64(st, 14, ps->applied_until);
    sqlite3_bind_int64(st, 15, now);
    if (p_pay >= 0)
        sqlite3_bind_double(st, 16, p_pay);
    return step_done(s, st);
}

int store_transition_add(struct store *s, int64_t debtor_id, const char *strategy,
                         const char *from_tier, const char *to_tier, int64_t at,
                         const char *reason)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_TRANSITION_ADD, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, debtor_id);
    sqlite3_bind_int64(st, 2, at);
    bind_text(st, 3, strategy);
    bind_text(st, 4, from_tier);
    bind_name(st, 5, to_tier);
    bind_name(st, 6, reason);
    return step_done(s, st);
}

int store_attempt_add(struct store *s, const struct store_attempt_new *a, int64_t *ret_id)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_ATTEMPT_ADD, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, a->debtor_id);
    if (a->run_id)
        sqlite3_bind_int64(st, 2, a->run_id);
    bind_name(st, 3, a->key);
    bind_name(st, 4, a->strategy);
    bind_name(st, 5, a->variant);
    bind_name(st, 6, a->tier);
    bind_name(st, 7, a->channel);
    sqlite3_bind_int(st, 8, a->kind);
    bind_text(st, 9, a->template_name);
    sqlite3_bind_int64(st, 10, a->scheduled_at);
    sqlite3_bind_int64(st, 11, a->created_at);
    if (a->not_after)
        sqlite3_bind_int64(st, 12, a->not_after);
    if (a->p_pay > 0)
        sqlite3_bind_double(st, 13, a->p_pay);
    if (a->p_choice >= 0)
        sqlite3_bind_double(st, 14, a->p_choice);
    if ((r = step_done(s, st)) < 0)
        return r;
    *ret_id = sqlite3_changes(s->db) > 0 ? sqlite3_last_insert_rowid(s->db) : 0;
    return 0;
}

int store_suppression_add(struct store *s, int64_t debtor_id, int kind, const char *address,
                          const char *reason, int64_t now, int *ret_added)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_SUPPRESSION_ADD, &st);
    if (r < 0)
        return r;
    if (debtor_id)
        sqlite3_bind_int64(st, 1, debtor_id);
    sqlite3_bind_int(st, 2, kind);
    bind_name(st, 3, address);
    bind_name(st, 4, reason);
    sqlite3_bind_int64(st, 5, now);
    if ((r = step_done(s, st)) < 0)
        return r;
    if (ret_added)
        *ret_added = sqlite3_changes(s->db) > 0;
    return 0;
}

int store_investigate_set(struct store *s, int64_t debtor_id, int64_t at)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_INVESTIGATE_SET, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, debtor_id);
    sqlite3_bind_int64(st, 2, at);
    return step_done(s, st);
}

/* ---- outcomes and incremental statistics ---- */

/* A text column into buf (cut to fit; "" for NULL). */
static void col_copy(sqlite3_stmt *st, int i, char *buf, size_t size)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(buf, t, n);
    buf[n] = 0;
}

int store_debtor_find(struct store *s, const char *external_id, struct store_debtor_ref *ret)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_DEBTOR_FIND, &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, external_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ret->id = sqlite3_column_int64(st, 0);
        col_copy(st, 1, ret->time_zone, sizeof(ret->time_zone));
        col_copy(st, 2, ret->segment, sizeof(ret->segment));
        col_copy(st, 3, ret->currency, sizeof(ret->currency));
        r = 0;
    } else
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
    sqlite3_reset(st);
    return r;
}

int store_attempt_find(struct store *s, const char *key, int64_t *ret_id,
                       int64_t *ret_debtor_id)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_ATTEMPT_FIND, &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_id = sqlite3_column_int64(st, 0);
        *ret_debtor_id = sqlite3_column_int64(st, 1);
        r = 0;
    } else
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
    sqlite3_reset(st);
    return r;
}

int store_attempt_get(struct store *s, int64_t id, struct store_attempt_ref *ret)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_ATTEMPT_GET, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *ext = (const char *)sqlite3_column_text(st, 1);
        const char *ch = (const char *)sqlite3_column_text(st, 2);
        ret->id = id;
        ret->debtor_id = sqlite3_column_int64(st, 0);
        snprintf(ret->debtor_external_id, sizeof(ret->debtor_external_id), "%s", ext ? ext : "");
        snprintf(ret->channel, sizeof(ret->channel), "%s", ch ? ch : "");
        ret->kind = sqlite3_column_int(st, 3);
        r = 0;
    } else
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
    sqlite3_reset(st);
    return r;
}

static int stat_add(struct store *s, enum stmt_id id, int64_t debtor_id, const char *segment,
                    int kind, int how, int64_t attempts, int64_t reaches)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, id, &st);
    if (r < 0)
        return r;
    if (segment)
        sqlite3_bind_text(st, 1, segment, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, debtor_id);
    sqlite3_bind_int(st, 2, kind);
    sqlite3_bind_int(st, 3, how);
    sqlite3_bind_int64(st, 4, attempts);
    sqlite3_bind_int64(st, 5, reaches);
    return step_done(s, st);
}

/*
 * The dedupe key of an outcome without a caller's key: 16 bytes, day of
 * `at` (3 bytes, biased), debtor id (low 40 bits) and the row's hash (8),
 * big-endian, stored as a BLOB.  A day's outcomes sort together after
 * every earlier day's, so a daily import appends to the key index instead
 * of writing all over it, and a history sorted by debtor (or by time)
 * appends at one spot per day.  Old text keys sort before every BLOB.
 */
#define OUTCOME_KEY_BYTES 16

static void outcome_key(const struct store_outcome *o, uint8_t k[OUTCOME_KEY_BYTES])
{
    int64_t day = o->at >= 0 ? o->at / 86400 : -((-o->at + 86399) / 86400);
    uint64_t d = (uint64_t)(day + 0x800000);
    if (day < -0x800000)
        d = 0;
    else if (day >= 0x800000)
        d = 0xffffff;
    uint64_t id = (uint64_t)o->debtor_id;
    k[0] = (uint8_t)(d >> 16);
    k[1] = (uint8_t)(d >> 8);
    k[2] = (uint8_t)d;
    for (int i = 0; i < 5; i++)
        k[3 + i] = (uint8_t)(id >> (8 * (4 - i)));
    for (int i = 0; i < 8; i++)
        k[8 + i] = (uint8_t)(o->dedupe_hash >> (8 * (7 - i)));
}

/* meta outcomes_legacy_until (schema 7 migration): INT64_MIN when there is none. */
static int legacy_until(struct store *s, int64_t *ret)
{
    if (!s->legacy_loaded) {
        sqlite3_stmt *st = NULL;
        int r = stmt_get(s, STMT_META_GET, &st);
        if (r < 0)
            return r;
        sqlite3_bind_text(st, 1, "outcomes_legacy_until", -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        s->legacy_until = INT64_MIN;
        if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            s->legacy_until = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return store_fail(s, rc);
        s->legacy_loaded = true;
    }
    *ret = s->legacy_until;
    return 0;
}

int store_outcome_legacy_until(struct store *s, int64_t *ret)
{
    return legacy_until(s, ret);
}

/* Is the pre-schema-7 key of o stored?  1 yes, 0 no. */
static int legacy_stored(struct store *s, const struct store_outcome *o)
{
    int64_t until = INT64_MIN;
    int r = legacy_until(s, &until);
    if (r < 0)
        return r;
    if (until == INT64_MIN || o->at > until)
        return 0;
    sqlite3_stmt *st = NULL;
    if ((r = stmt_get(s, STMT_OUTCOME_LEGACY, &st)) < 0)
        return r;
    sqlite3_bind_text(st, 1, o->legacy_key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : store_fail(s, rc);
}

/*
 * Insert one outcome unless its key is stored.  *ret_new_id is the new
 * row's id, 0 when nothing was written.
 */
static int outcome_insert(struct store *s, const struct store_outcome *o, bool counts,
                          int64_t *ret_new_id)
{
    sqlite3_stmt *st = NULL;
    uint8_t key[OUTCOME_KEY_BYTES];
    int r;
    *ret_new_id = 0;
    if (!o->dedupe_key && !isempty(o->legacy_key) && (r = legacy_stored(s, o)) != 0)
        return r < 0 ? r : 0;
    if ((r = stmt_get(s, STMT_OUTCOME_ADD, &st)) < 0)
        return r;
    sqlite3_bind_int64(st, 1, o->debtor_id);
    if (o->attempt_id)
        sqlite3_bind_int64(st, 2, o->attempt_id);
    if (o->kind >= 0)
        sqlite3_bind_int(st, 3, o->kind);
    sqlite3_bind_int(st, 4, o->code);
    sqlite3_bind_int64(st, 5, o->at);
    if (o->has_amount)
        sqlite3_bind_int64(st, 6, o->amount_minor);
    if (o->promise_date)
        sqlite3_bind_int(st, 7, o->promise_date);
    bind_text(st, 8, o->source);
    if (o->dedupe_key)
        bind_name(st, 9, o->dedupe_key);
    else {
        outcome_key(o, key);
        sqlite3_bind_blob(st, 9, key, sizeof(key), SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 10, o->created_at);
    bind_text(st, 11, o->attempt_key);
    sqlite3_bind_int(st, 12, counts);
    sqlite3_bind_int(st, 13, counts && o->reach);
    if ((r = step_done(s, st)) < 0)
        return r;
    if (sqlite3_changes(s->db) > 0)
        *ret_new_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

/*
 * Does an earlier counted outcome of the same attempt exist (bit 0), and
 * was one of them a reach (bit 1)?
 */
static int outcome_prior(struct store *s, const struct store_outcome *o, int64_t new_id)
{
    sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_OUTCOME_PRIOR, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, o->debtor_id);
    sqlite3_bind_text(st, 2, o->attempt_key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, new_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        r = store_fail(s, rc);
        sqlite3_reset(st);
        return r;
    }
    r = (sqlite3_column_int64(st, 0) > 0) | (sqlite3_column_int(st, 1) ? 2 : 0);
    sqlite3_reset(st);
    return r;
}

/* One debtor's statistics deltas of a batch, in the order first touched. */
struct debtor_acc {
    int64_t debtor_id;
    size_t n;
    int16_t at[CELLS_MAX]; /* slot -> index in d, -1: untouched */
    struct cell_delta d[CELLS_MAX];
};

/* One segment's statistics deltas of a batch. */
struct segment_acc {
    const char *segment;
    size_t n;
    uint16_t touched[CELLS_MAX];
    uint32_t attempts[CELLS_MAX], reaches[CELLS_MAX];
};

static int debtor_acc_flush(struct store *s, struct debtor_acc *a)
{
    int r = 0;
    if (!a->n)
        return 0;
    /* a store still at an older schema (tests build one) has the table */
    for (size_t i = 0; s->version < MIGRATION_STATS_VIEW && i < a->n && r >= 0; i++)
        r = stat_add(s, STMT_DEBTOR_STAT_ADD, a->debtor_id, NULL, a->d[i].kind, a->d[i].how,
                     a->d[i].attempts, a->d[i].reaches);
    if (r >= 0)
        r = cells_add(s, a->debtor_id, a->d, a->n);
    for (size_t i = 0; i < a->n; i++)
        a->at[a->d[i].kind * MODEL_HOURS + a->d[i].how] = -1;
    a->n = 0;
    return r;
}

/* The accumulator of a segment (callers pass the same few strings over and over). */
static struct segment_acc *segment_acc_get(struct segment_acc **v, size_t *n, size_t *cap,
                                           const char *segment)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].segment == segment || streq((*v)[i].segment, segment))
            return &(*v)[i];
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        struct segment_acc *p = realloc(*v, nc * sizeof(*p));
        if (!p)
            return NULL;
        *v = p;
        *cap = nc;
    }
    struct segment_acc *a = &(*v)[(*n)++];
    a->segment = segment;
    a->n = 0;
    memset(a->attempts, 0, sizeof(a->attempts));
    memset(a->reaches, 0, sizeof(a->reaches));
    return a;
}

static int segments_flush(struct store *s, const struct segment_acc *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < v[i].n; k++) {
            int slot = v[i].touched[k];
            int r = stat_add(s, STMT_SEGMENT_STAT_ADD, 0, v[i].segment, slot / MODEL_HOURS,
                             slot % MODEL_HOURS, v[i].attempts[slot], v[i].reaches[slot]);
            if (r < 0)
                return r;
        }
    return 0;
}

int store_outcomes_add(struct store *s, const struct store_outcome *v, size_t n,
                       uint8_t *ret_added)
{
    struct debtor_acc *acc = malloc(sizeof(*acc));
    struct segment_acc *seg = NULL;
    size_t nseg = 0, cseg = 0;
    int r = 0;
    if (!acc) {
        r = -ENOMEM;
        goto out;
    }
    acc->n = 0;
    acc->debtor_id = 0;
    memset(acc->at, 0xff, sizeof(acc->at));
    for (size_t i = 0; i < n; i++) {
        const struct store_outcome *o = &v[i];
        bool counts = o->counts && o->kind >= 0 && o->kind < _CHAN_KIND_MAX && o->how >= 0 &&
                      o->how < MODEL_HOURS;
        int64_t new_id;
        if (ret_added)
            ret_added[i] = 0;
        if ((r = outcome_insert(s, o, counts, &new_id)) < 0)
            goto out;
        if (!new_id)
            continue;
        if (ret_added)
            ret_added[i] = 1;
        int add_attempt = counts, add_reach = counts && o->reach;
        if (counts && !isempty(o->attempt_key)) {
            int prior = outcome_prior(s, o, new_id);
            if (prior < 0) {
                r = prior;
                goto out;
            }
            if (prior & 1)
                add_attempt = 0;
            if (prior & 2)
                add_reach = 0;
        }
        if (!add_attempt && !add_reach)
            continue;
        if (o->debtor_id != acc->debtor_id && (r = debtor_acc_flush(s, acc)) < 0)
            goto out;
        acc->debtor_id = o->debtor_id;
        int slot = o->kind * MODEL_HOURS + o->how;
        if (acc->at[slot] < 0) {
            acc->at[slot] = (int16_t)acc->n;
            acc->d[acc->n++] = (struct cell_delta){ .kind = (uint8_t)o->kind,
                                                    .how = (uint8_t)o->how };
        }
        acc->d[acc->at[slot]].attempts += (uint32_t)add_attempt;
        acc->d[acc->at[slot]].reaches += (uint32_t)add_reach;
        struct segment_acc *sa = segment_acc_get(&seg, &nseg, &cseg,
                                                 o->segment ? o->segment : "");
        if (!sa) {
            r = -ENOMEM;
            goto out;
        }
        if (!sa->attempts[slot] && !sa->reaches[slot])
            sa->touched[sa->n++] = (uint16_t)slot;
        sa->attempts[slot] += (uint32_t)add_attempt;
        sa->reaches[slot] += (uint32_t)add_reach;
    }
    if ((r = debtor_acc_flush(s, acc)) < 0)
        goto out;
    r = segments_flush(s, seg, nseg);
out:
    free(acc);
    free(seg);
    return r < 0 ? r : 0;
}

int store_outcome_add(struct store *s, const struct store_outcome *o, int *ret_added)
{
    uint8_t added = 0;
    int r = store_outcomes_add(s, o, 1, &added);
    *ret_added = added;
    return r;
}

/* ---- for the store's other files (store-internal.h) ---- */

sqlite3 *store_db(struct store *s)
{
    return s->db;
}

sqlite3_stmt **store_dispatch_stmts(struct store *s)
{
    return s->dispatch_stmt;
}

sqlite3_stmt **store_brief_stmts(struct store *s)
{
    return s->brief_stmt;
}

sqlite3_stmt **store_inbound_stmts(struct store *s)
{
    return s->inbound_stmt;
}

sqlite3_stmt **store_selfservice_stmts(struct store *s)
{
    return s->ss_stmt;
}

/* ---- off-policy evaluation ---- */

int store_stat_outcomes_since(struct store *s, int64_t since,
                              int (*cb)(void *ctx, const struct store_stat_outcome *o),
                              void *ctx)
{
    /* a reach adds to the statistics once per attempt: the first of its attempt key */
    static const char sql[] =
        "SELECT o.debtor_id, coalesce(d.segment, ''), d.time_zone, o.channel_kind,"
        " o.occurred_at, o.counted, o.reach AND (o.attempt_key IS NULL OR NOT EXISTS("
        "  SELECT 1 FROM outcomes p WHERE p.debtor_id = o.debtor_id"
        "  AND p.attempt_key = o.attempt_key AND p.reach = 1 AND p.id < o.id))"
        " FROM outcomes o JOIN debtors d ON d.id = o.debtor_id"
        " WHERE o.occurred_at >= ?1 AND (o.counted = 1 OR o.reach = 1)"
        " AND o.channel_kind IS NOT NULL ORDER BY o.debtor_id";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    sqlite3_bind_int64(st, 1, since);
    int r = 0;
    while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_stat_outcome o = {
            .debtor_id = sqlite3_column_int64(st, 0),
            .segment = (const char *)sqlite3_column_text(st, 1),
            .time_zone = (const char *)sqlite3_column_text(st, 2),
            .kind = sqlite3_column_int(st, 3),
            .at = sqlite3_column_int64(st, 4),
            .attempt = sqlite3_column_int(st, 5) != 0,
            .reach = sqlite3_column_int(st, 6) != 0,
        };
        r = cb(ctx, &o);
    }
    if (r >= 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = store_fail(s, rc);
    sqlite3_finalize(st);
    return r < 0 ? r : 0;
}

int store_logged_decisions(struct store *s, int64_t from, int64_t to,
                           int (*cb)(void *ctx, const struct store_logged_decision *d),
                           void *ctx)
{
    static const char sql[] =
        "SELECT a.id, a.debtor_id, a.idempotency_key, a.channel_kind, a.scheduled_at,"
        " a.created_at, coalesce(a.p_choice, -1),"
        " EXISTS(SELECT 1 FROM outcomes o WHERE o.debtor_id = a.debtor_id"
        "  AND o.attempt_id = a.id AND o.counted = 1),"
        " EXISTS(SELECT 1 FROM outcomes o WHERE o.debtor_id = a.debtor_id"
        "  AND o.attempt_id = a.id AND o.reach = 1)"
        " FROM attempts a WHERE a.created_at >= ?1 AND a.created_at < ?2"
        " ORDER BY a.debtor_id, a.id";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    int r = 0;
    while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_logged_decision d = {
            .attempt_id = sqlite3_column_int64(st, 0),
            .debtor_id = sqlite3_column_int64(st, 1),
            .key = (const char *)sqlite3_column_text(st, 2),
            .kind = sqlite3_column_int(st, 3),
            .scheduled_at = sqlite3_column_int64(st, 4),
            .created_at = sqlite3_column_int64(st, 5),
            .p_choice = sqlite3_column_double(st, 6),
            .observed = sqlite3_column_int(st, 7) != 0,
            .reached = sqlite3_column_int(st, 8) != 0,
        };
        r = cb(ctx, &d);
    }
    if (r >= 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = store_fail(s, rc);
    sqlite3_finalize(st);
    return r < 0 ? r : 0;
}

