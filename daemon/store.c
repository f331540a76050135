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
 */
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum stmt_id {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_UPSERT_DEBTOR,
    STMT_IMPORT_START,
    STMT_IMPORT_FINISH,
    _STMT_MAX,
};

static const char *const stmt_sql[_STMT_MAX] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_UPSERT_DEBTOR] =
        "INSERT INTO debtors(external_id, name, locale, time_zone, country, region, email,"
        " phone, phone_type, chat_handle, balance_minor, currency, due_date, payday,"
        " risk_band, segment, tags, flags, consent_email, consent_sms, consent_chat,"
        " consent_call, do_not_contact, preferred_channel, prefers_human, row_hash,"
        " created_at, updated_at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?27)"
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
        " updated_at = excluded.updated_at"
        " WHERE debtors.row_hash IS NOT excluded.row_hash",
    [STMT_IMPORT_START] =
        "INSERT INTO imports(source, started_at, status) VALUES(?1, ?2, 'running')",
    [STMT_IMPORT_FINISH] =
        "UPDATE imports SET finished_at = ?2, status = ?3, rows_read = ?4, inserted = ?5,"
        " updated = ?6, unchanged = ?7, rejected = ?8 WHERE id = ?1",
};

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
};

struct store {
    sqlite3 *db;
    char *path;
    char errmsg[256];
    sqlite3_stmt *stmt[_STMT_MAX];
};

static int store_fail(struct store *s, int rc)
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

int store_commit(struct store *s)
{
    return simple(s, STMT_COMMIT);
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

static int migrate(struct store *s)
{
    int v, r;
    if ((r = user_version(s, &v)) < 0)
        return r;
    if (v > (int)ELEMENTSOF(migrations)) {
        snprintf(s->errmsg, sizeof(s->errmsg),
                 "store schema version %d is newer than this cadenza (%zu)", v,
                 ELEMENTSOF(migrations));
        return -EPROTONOSUPPORT;
    }
    for (; v < (int)ELEMENTSOF(migrations); v++) {
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

int store_open(const char *path, unsigned flags, struct store **ret, char *reterr,
               size_t errlen)
{
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
    if ((r = exec(s, "PRAGMA foreign_keys = ON")) < 0)
        goto fail;
    if (!(flags & STORE_READONLY)) {
        if ((r = exec(s, "PRAGMA journal_mode = WAL")) < 0)
            goto fail;
        if ((r = exec(s, "PRAGMA synchronous = NORMAL")) < 0)
            goto fail;
        if ((r = migrate(s)) < 0)
            goto fail;
    } else {
        int v;
        if ((r = user_version(s, &v)) < 0)
            goto fail;
        if (v == 0) {
            snprintf(s->errmsg, sizeof(s->errmsg), "not a cadenza store (schema version 0)");
            r = -ENOENT;
            goto fail;
        }
    }
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

void store_free(struct store *s)
{
    if (!s)
        return;
    for (int i = 0; i < _STMT_MAX; i++)
        sqlite3_finalize(s->stmt[i]);
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
    if ((r = step_done(s, st)) < 0)
        return r;
    *ret_changed = sqlite3_changes(s->db) > 0;
    return 0;
}

/* ---- status ---- */

static const char *const group_names[_STATUS_GROUP_MAX] = {
    [STATUS_BY_COUNTRY] = "country",   [STATUS_BY_DPD] = "dpd",
    [STATUS_BY_STRATEGY] = "strategy", [STATUS_BY_TIER] = "tier",
    [STATUS_BY_CHANNEL] = "channel",   [STATUS_BY_FLAG] = "flag",
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
