/*
 * store-sched.c - the store's side of the daemon's scheduler (scheduler.c)
 * and of the debtor timeline (GET /v1/debtors/{id}, timeline.c): runs by
 * date, pauses that end, a debtor's zone, and one debtor's history.
 *
 * Owns: their SQL.  Must never: write, or read more than a bounded,
 * indexed slice per call (the timeline runs on the daemon's event loop).
 *
 * Invariants:
 *  1. Every timeline read is a range of an index on the debtor's id with
 *     a LIMIT: its cost grows with the limit, not with the portfolio.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store-internal.h"
#include "store.h"

/* A statement for one call (these paths are not hot enough to keep them). */
static int prep(struct store *s, const char *sql, sqlite3_stmt **ret)
{
    int rc = sqlite3_prepare_v2(store_db(s), sql, -1, ret, NULL);
    return rc == SQLITE_OK ? 0 : store_fail(s, rc);
}

static const char *text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static const char *text_or_null(sqlite3_stmt *st, int i)
{
    const char *t = text(st, i);
    return t && *t ? t : NULL;
}

int store_run_find(struct store *s, int32_t date, int64_t *ret_id, char *status, size_t len)
{
    sqlite3_stmt *st;
    int r = prep(s, "SELECT id, status FROM runs WHERE run_date = ?1 ORDER BY id DESC LIMIT 1",
                 &st);
    if (r < 0)
        return r;
    sqlite3_bind_int(st, 1, date);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_id = sqlite3_column_int64(st, 0);
        snprintf(status, len, "%s", text(st, 1) ? text(st, 1) : "");
        r = 0;
    } else
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
    sqlite3_finalize(st);
    return r;
}

int store_run_last(struct store *s, int32_t *ret_date, char *status, size_t len)
{
    sqlite3_stmt *st;
    int r = prep(s, "SELECT run_date, status FROM runs ORDER BY id DESC LIMIT 1", &st);
    if (r < 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_date = sqlite3_column_int(st, 0);
        snprintf(status, len, "%s", text(st, 1) ? text(st, 1) : "");
        r = 0;
    } else
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
    sqlite3_finalize(st);
    return r;
}

int store_pauses_ending(struct store *s, int64_t from, int64_t to,
                        int (*cb)(void *ctx, int64_t debtor_id, const char *time_zone),
                        void *ctx)
{
    sqlite3_stmt *st;
    /* "paused_until > 0" lets SQLite use the partial index contact_state_paused */
    int r = prep(s,
                 "SELECT c.debtor_id, d.time_zone FROM contact_state c"
                 " JOIN debtors d ON d.id = c.debtor_id"
                 " WHERE c.paused_until > 0 AND c.paused_until > ?1 AND c.paused_until <= ?2"
                 " AND c.stopped = 0 ORDER BY c.debtor_id",
                 &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((r = cb(ctx, sqlite3_column_int64(st, 0), text(st, 1))) < 0)
            break;
    if (r >= 0 && rc != SQLITE_DONE)
        r = store_fail(s, rc);
    sqlite3_finalize(st);
    return r < 0 ? r : 0;
}

int store_debtor_zone(struct store *s, int64_t id, char *buf, size_t len)
{
    sqlite3_stmt *st;
    int r = prep(s, "SELECT time_zone FROM debtors WHERE id = ?1", &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(buf, len, "%s", text(st, 0) ? text(st, 0) : "");
        r = 0;
    } else
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
    sqlite3_finalize(st);
    return r;
}

/* ---- the timeline ---- */

enum { TL_DEBTOR, TL_STATE, TL_ATTEMPTS, TL_OUTCOMES, TL_TRANSITIONS, TL_SUPPR, _TL_MAX };

static const char *const tl_sql[_TL_MAX] = {
    [TL_DEBTOR] = "SELECT " STORE_DEBTOR_COLUMNS " FROM debtors WHERE external_id = ?1",
    [TL_STATE] = "SELECT strategy, variant, tier, tier_entered_at, attempts_in_tier,"
                 " attempts_since_contact, attempts_total, paused_until, hold_reason,"
                 " no_contact_track, stopped, applied_until"
                 " FROM contact_state WHERE debtor_id = ?1",
    [TL_ATTEMPTS] =
        "SELECT a.id, coalesce(a.run_id, 0), coalesce(r.run_date, 0), a.idempotency_key,"
        " a.strategy, a.variant, a.tier, a.channel, a.template, a.channel_kind, a.status,"
        " a.tries, a.scheduled_at, coalesce(a.not_after, 0), a.created_at,"
        " coalesce(a.sent_at, 0), coalesce(a.result_at, 0), a.provider_id, a.error,"
        " coalesce(a.p_choice, -1), coalesce(a.p_pay, -1)"
        " FROM attempts a LEFT JOIN runs r ON r.id = a.run_id"
        " WHERE a.debtor_id = ?1 ORDER BY a.scheduled_at DESC, a.id DESC LIMIT ?2",
    [TL_OUTCOMES] = "SELECT id, occurred_at, coalesce(attempt_id, 0), coalesce(channel_kind, -1),"
                    " code, amount_minor, coalesce(promise_date, 0), source"
                    " FROM outcomes WHERE debtor_id = ?1"
                    " ORDER BY occurred_at DESC, id DESC LIMIT ?2",
    [TL_TRANSITIONS] = "SELECT at, strategy, from_tier, to_tier, reason FROM state_transitions"
                       " WHERE debtor_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
    [TL_SUPPR] = "SELECT channel_kind, address, reason, created_at, coalesce(expires_at, 0)"
                 " FROM suppressions WHERE debtor_id = ?1 ORDER BY created_at DESC LIMIT ?2",
};

static int tl_rows(struct store *s, sqlite3_stmt *st, int which,
                   const struct store_timeline_ops *ops, void *ctx)
{
    int rc, r = 0;
    while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        switch (which) {
        case TL_ATTEMPTS: {
            struct store_tl_attempt a = {
                .id = sqlite3_column_int64(st, 0),
                .run_id = sqlite3_column_int64(st, 1),
                .run_date = sqlite3_column_int(st, 2),
                .key = text(st, 3),
                .strategy = text(st, 4),
                .variant = text(st, 5),
                .tier = text(st, 6),
                .channel = text(st, 7),
                .template_name = text_or_null(st, 8),
                .kind = sqlite3_column_int(st, 9),
                .status = sqlite3_column_int(st, 10),
                .tries = sqlite3_column_int(st, 11),
                .scheduled_at = sqlite3_column_int64(st, 12),
                .not_after = sqlite3_column_int64(st, 13),
                .created_at = sqlite3_column_int64(st, 14),
                .sent_at = sqlite3_column_int64(st, 15),
                .result_at = sqlite3_column_int64(st, 16),
                .provider_id = text_or_null(st, 17),
                .error = text_or_null(st, 18),
                .p_choice = sqlite3_column_double(st, 19),
                .p_pay = sqlite3_column_double(st, 20),
            };
            r = ops->attempt ? ops->attempt(ctx, &a) : 0;
            break;
        }
        case TL_OUTCOMES: {
            struct store_tl_outcome o = {
                .id = sqlite3_column_int64(st, 0),
                .at = sqlite3_column_int64(st, 1),
                .attempt_id = sqlite3_column_int64(st, 2),
                .kind = sqlite3_column_int(st, 3),
                .code = sqlite3_column_int(st, 4),
                .has_amount = sqlite3_column_type(st, 5) != SQLITE_NULL,
                .amount_minor = sqlite3_column_int64(st, 5),
                .promise_date = sqlite3_column_int(st, 6),
                .source = text_or_null(st, 7),
            };
            r = ops->outcome ? ops->outcome(ctx, &o) : 0;
            break;
        }
        case TL_TRANSITIONS: {
            struct store_tl_transition t = {
                .at = sqlite3_column_int64(st, 0),
                .strategy = text_or_null(st, 1),
                .from_tier = text_or_null(st, 2),
                .to_tier = text_or_null(st, 3),
                .reason = text(st, 4),
            };
            r = ops->transition ? ops->transition(ctx, &t) : 0;
            break;
        }
        case TL_SUPPR: {
            struct store_tl_suppression x = {
                .kind = sqlite3_column_int(st, 0),
                .address = text(st, 1),
                .reason = text_or_null(st, 2),
                .created_at = sqlite3_column_int64(st, 3),
                .expires_at = sqlite3_column_int64(st, 4),
            };
            r = ops->suppression ? ops->suppression(ctx, &x) : 0;
            break;
        }
        default:
            break;
        }
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = store_fail(s, rc);
    return r;
}

int store_timeline_get(struct store *s, const char *external_id, int limit,
                       const struct store_timeline_ops *ops, void *ctx)
{
    sqlite3_stmt *st[_TL_MAX] = { 0 };
    int r, rc;
    bool txn = false;
    for (int i = 0; i < _TL_MAX; i++)
        if ((r = prep(s, tl_sql[i], &st[i])) < 0)
            goto out;
    /* one snapshot: the daily run or the writer may commit between two reads */
    if ((r = store_begin_read(s)) < 0)
        goto out;
    txn = true;
    sqlite3_bind_text(st[TL_DEBTOR], 1, external_id, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st[TL_DEBTOR])) != SQLITE_ROW) {
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
        goto out;
    }
    struct debtor_rec rec;
    int64_t id = store_read_debtor(st[TL_DEBTOR], &rec);
    struct planner_state ps = { 0 };
    sqlite3_bind_int64(st[TL_STATE], 1, id);
    rc = sqlite3_step(st[TL_STATE]);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = store_fail(s, rc);
        goto out;
    }
    bool has_state = rc == SQLITE_ROW;
    if (has_state) {
        sqlite3_stmt *x = st[TL_STATE];
        ps = (struct planner_state){
            .strategy = text_or_null(x, 0),
            .variant = text_or_null(x, 1),
            .tier = text_or_null(x, 2),
            .tier_entered_at = sqlite3_column_int64(x, 3),
            .attempts_in_tier = sqlite3_column_int(x, 4),
            .attempts_since_contact = sqlite3_column_int(x, 5),
            .attempts_total = sqlite3_column_int(x, 6),
            .paused_until = sqlite3_column_int64(x, 7),
            .hold_reason = text_or_null(x, 8),
            .no_contact_track = sqlite3_column_int(x, 9) != 0,
            .stopped = sqlite3_column_int(x, 10) != 0,
            .applied_until = sqlite3_column_int64(x, 11),
        };
    }
    if (ops->debtor && (r = ops->debtor(ctx, id, &rec, has_state, &ps)) < 0)
        goto out;
    for (int i = TL_ATTEMPTS; i < _TL_MAX; i++) {
        sqlite3_bind_int64(st[i], 1, id);
        sqlite3_bind_int(st[i], 2, limit); /* invariant 1 */
        if ((r = tl_rows(s, st[i], i, ops, ctx)) < 0)
            goto out;
    }
    r = 0;
out:
    for (int i = 0; i < _TL_MAX; i++)
        sqlite3_finalize(st[i]);
    if (txn)
        store_commit(s);
    return r;
}
