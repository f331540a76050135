/*
 * store-brief.c - the store's side of the agent brief: one debtor, its
 * contact state and its recent outcomes, read for brief.c to build the
 * brief from (the daily run for each dialer job, `cadenza brief`).
 *
 * Owns: the brief's SQL and its prepared statements.  Must never: write,
 * or keep a row past the callback.
 *
 * Invariants:
 *  1. At most BRIEF_OUTCOMES_MAX outcomes reach the callback, the newest
 *     (outcomes_plan, debtor_id then occurred_at, serves the scan).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "store.h"

enum { BSTMT_BY_ID, BSTMT_BY_EXT, BSTMT_STATE, BSTMT_OUTCOMES, _BSTMT_MAX };

static const char *const bstmt_sql[_BSTMT_MAX] = {
    [BSTMT_BY_ID] = "SELECT " STORE_DEBTOR_COLUMNS " FROM debtors WHERE id = ?1",
    [BSTMT_BY_EXT] = "SELECT " STORE_DEBTOR_COLUMNS " FROM debtors WHERE external_id = ?1",
    [BSTMT_STATE] = "SELECT strategy, variant, tier FROM contact_state WHERE debtor_id = ?1",
    [BSTMT_OUTCOMES] = "SELECT occurred_at, channel_kind, code, promise_date, amount_minor"
                       " FROM outcomes WHERE debtor_id = ?1 AND occurred_at >= ?2"
                       " ORDER BY occurred_at DESC LIMIT ?3",
};

_Static_assert(_BSTMT_MAX <= STORE_BRIEF_STMT_MAX, "raise STORE_BRIEF_STMT_MAX");

static int bstmt(struct store *s, int id, sqlite3_stmt **ret)
{
    sqlite3_stmt **v = store_brief_stmts(s);
    if (!v[id]) {
        int rc = sqlite3_prepare_v3(store_db(s), bstmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &v[id], NULL);
        if (rc != SQLITE_OK)
            return store_fail(s, rc);
    }
    sqlite3_reset(v[id]);
    sqlite3_clear_bindings(v[id]);
    *ret = v[id];
    return 0;
}

static const char *text_or_null(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t && *t ? t : NULL;
}

int store_brief_get(struct store *s, int64_t id, const char *external_id, int64_t since,
                    int (*cb)(void *ctx, const struct store_brief_row *row), void *ctx)
{
    sqlite3_stmt *d = NULL, *st = NULL, *o = NULL;
    struct brief_outcome *v = NULL;
    struct store_brief_row row = { 0 };
    int r, rc;

    if ((r = bstmt(s, id > 0 ? BSTMT_BY_ID : BSTMT_BY_EXT, &d)) < 0)
        return r;
    if (id > 0)
        sqlite3_bind_int64(d, 1, id);
    else
        sqlite3_bind_text(d, 1, external_id ? external_id : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(d);
    if (rc != SQLITE_ROW) {
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
        goto out;
    }
    row.id = store_read_debtor(d, &row.rec);
    /* a missing due date or payday reads as store_plan_row's do */
    if (sqlite3_column_type(d, 13) == SQLITE_NULL)
        row.rec.due_date = INT32_MIN;

    if ((r = bstmt(s, BSTMT_STATE, &st)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, row.id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        row.strategy = text_or_null(st, 0);
        row.variant = text_or_null(st, 1);
        row.tier = text_or_null(st, 2);
    } else if (rc != SQLITE_DONE) {
        r = store_fail(s, rc);
        goto out;
    }

    if ((r = bstmt(s, BSTMT_OUTCOMES, &o)) < 0)
        goto out;
    if (!(v = malloc(BRIEF_OUTCOMES_MAX * sizeof(*v)))) {
        r = -ENOMEM;
        goto out;
    }
    sqlite3_bind_int64(o, 1, row.id);
    sqlite3_bind_int64(o, 2, since);
    sqlite3_bind_int(o, 3, BRIEF_OUTCOMES_MAX);
    while ((rc = sqlite3_step(o)) == SQLITE_ROW && row.noutcomes < BRIEF_OUTCOMES_MAX) {
        struct brief_outcome *x = &v[row.noutcomes++];
        x->at = sqlite3_column_int64(o, 0);
        x->kind = sqlite3_column_type(o, 1) == SQLITE_NULL ? -1 : sqlite3_column_int(o, 1);
        x->code = sqlite3_column_int(o, 2);
        x->promise_date = sqlite3_column_int(o, 3);
        x->has_amount = sqlite3_column_type(o, 4) != SQLITE_NULL;
        x->amount_minor = sqlite3_column_int64(o, 4);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = store_fail(s, rc);
        goto out;
    }
    row.outcomes = v;
    r = cb(ctx, &row);
out:
    /* the debtor's strings were borrowed by cb: reset only now */
    if (o)
        sqlite3_reset(o);
    if (st)
        sqlite3_reset(st);
    sqlite3_reset(d);
    free(v);
    return r;
}
