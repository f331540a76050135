/*
 * store-dispatch.c - the store's side of dispatch: campaign runs, the
 * attempts a run hands to the queue, and the results workers send back.
 *
 * Owns: the SQL for runs and attempt statuses.  Must never: move an
 * attempt out of a final status, or count a result twice.
 *
 * Attempt status machine (codes in docs/schema.md, append-only):
 *
 *   PLANNED(0) --store_attempts_mark_queued--> QUEUED(1)
 *   PLANNED|QUEUED|DEAD --store_result_ingest--> SENT(2) | FAILED(3) |
 *                                  CANCELLED(4) | INVALID_ADDRESS(5) | DEAD(6)
 *   QUEUED --"retry" result--> QUEUED (tries and error recorded)
 *
 * Invariants:
 *  1. SENT, FAILED, CANCELLED and INVALID_ADDRESS are final: ingesting any
 *     result again, or a late one, changes nothing (idempotent drain).
 *  2. DEAD is final unless an operator retries the dead letter: a later
 *     terminal result for it is applied.
 *  3. An invalid-address result suppresses that address on that channel
 *     kind, in the same transaction as the status change.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store-internal.h"
#include "store.h"

enum {
    DSTMT_RUN_FIND,
    DSTMT_RUN_INSERT,
    DSTMT_RUN_UPDATE,
    DSTMT_MARK_QUEUED,
    DSTMT_RESULT,
    DSTMT_RETRY,
    DSTMT_SUPPRESS,
    _DSTMT_MAX,
};

static const char *const dstmt_sql[_DSTMT_MAX] = {
    [DSTMT_RUN_FIND] = "SELECT id, status FROM runs WHERE run_date = ?1 ORDER BY id DESC LIMIT 1",
    [DSTMT_RUN_INSERT] = "INSERT INTO runs(run_date, started_at, status) VALUES(?1, ?2, 'running')",
    [DSTMT_RUN_UPDATE] = "UPDATE runs SET status = ?2, finished_at = ?3, planned = ?4,"
                         " enqueued = ?5 WHERE id = ?1",
    [DSTMT_MARK_QUEUED] = "UPDATE attempts SET status = 1 WHERE id = ?1 AND status = 0",
    [DSTMT_RESULT] = "UPDATE attempts SET status = ?2, provider_id = coalesce(?3, provider_id),"
                     " error = ?4, tries = max(tries, ?5), result_at = ?6,"
                     " sent_at = CASE WHEN ?2 = 2 THEN ?6 ELSE sent_at END"
                     " WHERE id = ?1 AND status IN (0, 1, 6)",
    [DSTMT_RETRY] = "UPDATE attempts SET error = ?2, tries = max(tries, ?3)"
                    " WHERE id = ?1 AND status IN (0, 1)",
    [DSTMT_SUPPRESS] =
        "INSERT OR IGNORE INTO suppressions(debtor_id, channel_kind, address, reason,"
        " created_at)"
        " SELECT a.debtor_id, a.channel_kind, CASE a.channel_kind WHEN 0 THEN d.email"
        "  WHEN 1 THEN d.phone WHEN 3 THEN d.phone WHEN 2 THEN d.chat_handle END,"
        "  CASE ?3 WHEN 7 THEN 'opted out (provider)' ELSE 'invalid address' END, ?2"
        " FROM attempts a JOIN debtors d ON d.id = a.debtor_id"
        " WHERE a.id = ?1 AND (CASE a.channel_kind WHEN 0 THEN d.email"
        "  WHEN 1 THEN d.phone WHEN 3 THEN d.phone WHEN 2 THEN d.chat_handle END)"
        "  IS NOT NULL",
};

_Static_assert(_DSTMT_MAX <= STORE_DISPATCH_STMT_MAX, "raise STORE_DISPATCH_STMT_MAX");

static int dstmt(struct store *s, int id, sqlite3_stmt **ret)
{
    sqlite3_stmt **v = store_dispatch_stmts(s);
    *ret = NULL;
    if (!v[id]) {
        int rc = sqlite3_prepare_v3(store_db(s), dstmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &v[id], NULL);
        if (rc != SQLITE_OK)
            return store_fail(s, rc);
    }
    sqlite3_reset(v[id]);
    sqlite3_clear_bindings(v[id]);
    *ret = v[id];
    return 0;
}

static int step(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_fail(s, rc);
    sqlite3_reset(st);
    return r;
}

static const char *const attempt_status_names[_ATTEMPT_STATUS_MAX] = {
    [ATTEMPT_PLANNED] = "planned",
    [ATTEMPT_QUEUED] = "queued",
    [ATTEMPT_SENT] = "sent",
    [ATTEMPT_FAILED] = "failed",
    [ATTEMPT_CANCELLED] = "cancelled",
    [ATTEMPT_INVALID_ADDRESS] = "invalid_address",
    [ATTEMPT_DEAD] = "dead",
    [ATTEMPT_OPTED_OUT] = "opted_out",
};

const char *attempt_status_to_string(enum attempt_status st)
{
    return st >= 0 && st < _ATTEMPT_STATUS_MAX ? attempt_status_names[st] : NULL;
}

enum attempt_status attempt_status_from_string(const char *s)
{
    for (int i = 0; i < _ATTEMPT_STATUS_MAX; i++)
        if (s && strcmp(s, attempt_status_names[i]) == 0)
            return (enum attempt_status)i;
    return _ATTEMPT_STATUS_INVALID;
}

int store_run_begin(struct store *s, int32_t date, int64_t now, int64_t *ret_id, bool *ret_rerun)
{
    sqlite3_stmt *st;
    int r = dstmt(s, DSTMT_RUN_FIND, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int(st, 1, date);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_id = sqlite3_column_int64(st, 0);
        *ret_rerun = true;
        sqlite3_reset(st);
        if ((r = dstmt(s, DSTMT_RUN_UPDATE, &st)) < 0)
            return r;
        /* keep the counts until the re-run finishes: only the status changes */
        sqlite3_stmt *q;
        rc = sqlite3_prepare_v2(store_db(s),
                                "UPDATE runs SET status = 'running', finished_at = NULL"
                                " WHERE id = ?1",
                                -1, &q, NULL);
        if (rc != SQLITE_OK)
            return store_fail(s, rc);
        sqlite3_bind_int64(q, 1, *ret_id);
        rc = sqlite3_step(q);
        r = rc == SQLITE_DONE ? 0 : store_fail(s, rc);
        sqlite3_finalize(q);
        return r;
    }
    r = rc == SQLITE_DONE ? 0 : store_fail(s, rc);
    sqlite3_reset(st);
    if (r < 0)
        return r;
    if ((r = dstmt(s, DSTMT_RUN_INSERT, &st)) < 0)
        return r;
    sqlite3_bind_int(st, 1, date);
    sqlite3_bind_int64(st, 2, now);
    if ((r = step(s, st)) < 0)
        return r;
    *ret_id = sqlite3_last_insert_rowid(store_db(s));
    *ret_rerun = false;
    return 0;
}

int store_run_finish(struct store *s, int64_t run_id, const char *status, int64_t planned,
                     int64_t enqueued, int64_t now)
{
    sqlite3_stmt *st;
    int r = dstmt(s, DSTMT_RUN_UPDATE, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, planned);
    sqlite3_bind_int64(st, 5, enqueued);
    return step(s, st);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int store_run_attempts(struct store *s, int64_t run_id, enum attempt_status status,
                       int64_t after_id, int limit,
                       int (*cb)(void *ctx, const struct store_dispatch_row *row), void *ctx)
{
    static const char sql[] =
        "SELECT a.id, a.idempotency_key, d.external_id, a.channel, a.channel_kind,"
        " a.template, a.scheduled_at, coalesce(a.not_after, 0), a.strategy, a.tier,"
        /* letters: cadenza holds no postal address; the print shop looks
         * the debtor up by its id (docs/queue.md) */
        " d.time_zone, CASE a.channel_kind WHEN 0 THEN d.email WHEN 1 THEN d.phone"
        "  WHEN 3 THEN d.phone WHEN 2 THEN d.chat_handle WHEN 4 THEN d.external_id END,"
        /* the language and due date the debtor stated on the self-service page */
        " d.name, coalesce(pr.language, d.locale), d.balance_minor, d.currency,"
        " CASE WHEN pr.due_to IS NOT NULL AND pr.due_from = d.due_date THEN pr.due_to"
        "  ELSE d.due_date END,"
        " (SELECT count(*) FROM attempts p WHERE p.debtor_id = a.debtor_id AND p.id <= a.id)"
        " FROM attempts a JOIN debtors d ON d.id = a.debtor_id"
        " LEFT JOIN debtor_prefs pr ON pr.debtor_id = d.id"
        " WHERE a.run_id IS ?1 AND a.status = ?2 AND a.id > ?3 ORDER BY a.id LIMIT ?4";
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    if (run_id) /* 0: attempts of no run (re-plans), run_id IS NULL */
        sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int(st, 2, status);
    sqlite3_bind_int64(st, 3, after_id);
    sqlite3_bind_int(st, 4, limit);
    int r = 0, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        struct store_dispatch_row row = {
            .attempt_id = sqlite3_column_int64(st, 0),
            .idempotency_key = col_text(st, 1),
            .debtor_id = col_text(st, 2),
            .channel = col_text(st, 3),
            .kind = sqlite3_column_int(st, 4),
            .template_name = col_text(st, 5),
            .scheduled_at = sqlite3_column_int64(st, 6),
            .not_after = sqlite3_column_int64(st, 7),
            .strategy = col_text(st, 8),
            .tier = col_text(st, 9),
            .time_zone = col_text(st, 10),
            .address = col_text(st, 11),
            .name = col_text(st, 12),
            .locale = col_text(st, 13),
            .balance_minor = sqlite3_column_int64(st, 14),
            .currency = col_text(st, 15),
            .due_date = sqlite3_column_type(st, 16) == SQLITE_NULL
                            ? INT32_MIN
                            : sqlite3_column_int(st, 16),
            .attempt_number = sqlite3_column_int(st, 17),
        };
        if ((r = cb(ctx, &row)) < 0)
            break;
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = store_fail(s, rc);
    sqlite3_finalize(st);
    return r < 0 ? r : n;
}

int store_attempts_mark_queued(struct store *s, const int64_t *ids, size_t n)
{
    sqlite3_stmt *st;
    int r = dstmt(s, DSTMT_MARK_QUEUED, &st);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        if ((r = step(s, st)) < 0)
            return r;
    }
    return 0;
}

int store_result_ingest(struct store *s, const struct store_result *res, int *ret_applied)
{
    sqlite3_stmt *st;
    int r;
    *ret_applied = 0;
    if (res->retry) {
        if ((r = dstmt(s, DSTMT_RETRY, &st)) < 0)
            return r;
        sqlite3_bind_int64(st, 1, res->attempt_id);
        if (res->info)
            sqlite3_bind_text(st, 2, res->info, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, res->tries);
        if ((r = step(s, st)) < 0)
            return r;
        *ret_applied = sqlite3_changes(store_db(s)) > 0;
        return 0;
    }
    if (res->status <= ATTEMPT_QUEUED || res->status >= _ATTEMPT_STATUS_MAX)
        return -EINVAL;
    if ((r = dstmt(s, DSTMT_RESULT, &st)) < 0)
        return r;
    sqlite3_bind_int64(st, 1, res->attempt_id);
    sqlite3_bind_int(st, 2, res->status);
    if (res->status == ATTEMPT_SENT && res->info)
        sqlite3_bind_text(st, 3, res->info, -1, SQLITE_STATIC);
    if (res->status != ATTEMPT_SENT && res->info)
        sqlite3_bind_text(st, 4, res->info, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, res->tries);
    sqlite3_bind_int64(st, 6, res->at);
    if ((r = step(s, st)) < 0)
        return r;
    *ret_applied = sqlite3_changes(store_db(s)) > 0;
    if (*ret_applied &&
        (res->status == ATTEMPT_INVALID_ADDRESS || res->status == ATTEMPT_OPTED_OUT)) {
        /* the planner stops using that address on this channel kind */
        if ((r = dstmt(s, DSTMT_SUPPRESS, &st)) < 0)
            return r;
        sqlite3_bind_int64(st, 1, res->attempt_id);
        sqlite3_bind_int64(st, 2, res->at);
        sqlite3_bind_int(st, 3, res->status);
        if ((r = step(s, st)) < 0)
            return r;
    }
    return 0;
}

int store_attempt_counts(struct store *s, int64_t run_id, int64_t ret[_ATTEMPT_STATUS_MAX])
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(store_db(s),
                                "SELECT status, count(*) FROM attempts"
                                " WHERE ?1 = 0 OR run_id = ?1 GROUP BY status",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    sqlite3_bind_int64(st, 1, run_id);
    memset(ret, 0, sizeof(int64_t) * _ATTEMPT_STATUS_MAX);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int k = sqlite3_column_int(st, 0);
        if (k >= 0 && k < _ATTEMPT_STATUS_MAX)
            ret[k] = sqlite3_column_int64(st, 1);
    }
    int r = rc == SQLITE_DONE ? 0 : store_fail(s, rc);
    sqlite3_finalize(st);
    return r;
}

int store_attempts_scheduled(struct store *s, int64_t from, int64_t to,
                             int (*cb)(void *ctx, const char *channel, int64_t at), void *ctx)
{
    /* every attempt that still holds its slot: not cancelled, failed or bad */
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(store_db(s),
                                "SELECT channel, scheduled_at FROM attempts"
                                " WHERE scheduled_at >= ?1 AND scheduled_at < ?2"
                                " AND status IN (0, 1, 2, 6)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc);
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    int r = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((r = cb(ctx, col_text(st, 0), sqlite3_column_int64(st, 1))) < 0)
            break;
    if (r >= 0 && rc != SQLITE_DONE)
        r = store_fail(s, rc);
    sqlite3_finalize(st);
    return r < 0 ? r : 0;
}
