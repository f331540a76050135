/*
 * store-selfservice.c - the store's side of the self-service page
 * (docs/selfservice.md): the page's view of one debtor, read with a few
 * indexed lookups, and what its actions write besides their outcomes:
 * stated preferences (debtor_prefs), payment plans with their
 * instalments (payment_plans, plan_instalments) and the action log
 * (selfservice_actions).
 *
 * Owns: this SQL and its prepared statements.  Must never: keep a row
 * past a callback, or write outside the caller's transaction (the store
 * writer's group commit).
 *
 * Invariants:
 *  1. A debtor has at most one active plan (status 0): store_plan_put()
 *     retires the others in the same transaction.
 *  2. Stated preferences are stored in the text forms prefs.h defines,
 *     and read back through prefs_ranges_parse(): what does not parse
 *     reads as not stated, never as a wrong constraint.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outcome.h"
#include "prefs.h"
#include "store-internal.h"
#include "store.h"

enum {
    SS_BY_EXT,
    SS_STATE,
    SS_PREFS,
    SS_PLAN,
    SS_PLAN_INST,
    SS_KEY,
    SS_OPTED,
    SS_OUTCOMES,
    SS_PREFS_PUT,
    SS_PLAN_RETIRE,
    SS_PLAN_ADD,
    SS_INST_ADD,
    SS_ACTION_ADD,
    SS_LOCALE,
    _SS_MAX,
};

static const char *const ss_sql[_SS_MAX] = {
    [SS_BY_EXT] = "SELECT " STORE_DEBTOR_COLUMNS " FROM debtors WHERE external_id = ?1",
    [SS_STATE] = "SELECT strategy, variant, tier, coalesce(paused_until, 0), hold_reason,"
                 " stopped FROM contact_state WHERE debtor_id = ?1",
    [SS_PREFS] = "SELECT " STORE_PREFS_COLUMNS " FROM debtor_prefs WHERE debtor_id = ?1",
    [SS_PLAN] = "SELECT id, agreed_at, total_minor, attempt_id FROM payment_plans"
                " WHERE debtor_id = ?1 AND status = 0",
    [SS_PLAN_INST] = "SELECT due_date, amount_minor FROM plan_instalments WHERE plan_id = ?1"
                     " ORDER BY seq",
    [SS_KEY] = "SELECT code, coalesce(promise_date, 0), coalesce(amount_minor, 0), occurred_at"
               " FROM outcomes WHERE dedupe_key = ?1",
    [SS_OPTED] = "SELECT DISTINCT channel_kind FROM outcomes WHERE debtor_id = ?1 AND code = 10"
                 " AND channel_kind IS NOT NULL",
    [SS_OUTCOMES] = "SELECT occurred_at, channel_kind, code, promise_date, amount_minor"
                    " FROM outcomes WHERE debtor_id = ?1 AND occurred_at >= ?2"
                    " ORDER BY occurred_at DESC LIMIT ?3",
    [SS_PREFS_PUT] =
        "INSERT INTO debtor_prefs(debtor_id, " STORE_PREFS_COLUMNS ", updated_at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(debtor_id) DO UPDATE SET"
        " preferred_channel = excluded.preferred_channel,"
        " prefers_human = excluded.prefers_human, language = excluded.language,"
        " forbidden = excluded.forbidden, preferred_hours = excluded.preferred_hours,"
        " due_from = excluded.due_from, due_to = excluded.due_to,"
        " updated_at = excluded.updated_at",
    [SS_PLAN_RETIRE] = "UPDATE payment_plans SET status = 1 WHERE debtor_id = ?1 AND status = 0",
    [SS_PLAN_ADD] = "INSERT INTO payment_plans(debtor_id, attempt_id, agreed_at, currency,"
                    " total_minor, instalments, status, created_at)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)",
    [SS_INST_ADD] = "INSERT INTO plan_instalments(plan_id, seq, due_date, amount_minor)"
                    " VALUES(?1, ?2, ?3, ?4)",
    [SS_ACTION_ADD] = "INSERT INTO selfservice_actions(debtor_id, attempt_id, action, detail,"
                      " created_at) VALUES(?1, ?2, ?3, ?4, ?5)",
    [SS_LOCALE] = "SELECT d.locale, p.language FROM debtors d"
                  " LEFT JOIN debtor_prefs p ON p.debtor_id = d.id WHERE d.external_id = ?1",
};

_Static_assert(_SS_MAX <= STORE_SELFSERVICE_STMT_MAX, "raise STORE_SELFSERVICE_STMT_MAX");

static int ss_stmt(struct store *s, int id, sqlite3_stmt **ret)
{
    sqlite3_stmt **v = store_selfservice_stmts(s);
    if (!v[id]) {
        int rc = sqlite3_prepare_v3(store_db(s), ss_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &v[id], NULL);
        if (rc != SQLITE_OK)
            return store_fail(s, rc);
    }
    sqlite3_reset(v[id]);
    sqlite3_clear_bindings(v[id]);
    *ret = v[id];
    return 0;
}

static int step_done(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_fail(s, rc);
    sqlite3_reset(st);
    return r;
}

static const char *text_or_null(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t && *t ? t : NULL;
}

void store_read_prefs(sqlite3_stmt *st, int col, struct prefs *p)
{
    prefs_init(p);
    if (sqlite3_column_type(st, col) != SQLITE_NULL) {
        int k = sqlite3_column_int(st, col);
        p->channel = (int8_t)(k >= 0 && k < _CHAN_KIND_MAX ? k : -1);
    }
    if (sqlite3_column_type(st, col + 1) != SQLITE_NULL)
        p->human = sqlite3_column_int(st, col + 1) ? 1 : 0;
    const char *lang = text_or_null(st, col + 2);
    if (lang && strlen(lang) < sizeof(p->language))
        memcpy(p->language, lang, strlen(lang) + 1);
    /* invariant 2 */
    if (prefs_ranges_parse(text_or_null(st, col + 3), true, p->forbid, &p->nforbid) < 0)
        p->nforbid = 0;
    if (prefs_ranges_parse(text_or_null(st, col + 4), false, p->prefer, &p->nprefer) < 0)
        p->nprefer = 0;
    if (sqlite3_column_type(st, col + 5) != SQLITE_NULL &&
        sqlite3_column_type(st, col + 6) != SQLITE_NULL) {
        p->due_from = sqlite3_column_int(st, col + 5);
        p->due_to = sqlite3_column_int(st, col + 6);
    }
}

int store_prefs_put(struct store *s, int64_t debtor_id, const struct prefs *p, int64_t now)
{
    struct sbuf forbid = SBUF_INIT, prefer = SBUF_INIT;
    sqlite3_stmt *st = NULL;
    int r = ss_stmt(s, SS_PREFS_PUT, &st);
    if (r < 0)
        return r;
    if ((r = prefs_ranges_format(p->forbid, p->nforbid, true, &forbid)) < 0 ||
        (r = prefs_ranges_format(p->prefer, p->nprefer, false, &prefer)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, debtor_id);
    if (p->channel >= 0)
        sqlite3_bind_int(st, 2, p->channel);
    if (p->human >= 0)
        sqlite3_bind_int(st, 3, p->human);
    if (p->language[0])
        sqlite3_bind_text(st, 4, p->language, -1, SQLITE_STATIC);
    if (forbid.len)
        sqlite3_bind_text(st, 5, forbid.buf, (int)forbid.len, SQLITE_STATIC);
    if (prefer.len)
        sqlite3_bind_text(st, 6, prefer.buf, (int)prefer.len, SQLITE_STATIC);
    if (p->due_to) {
        sqlite3_bind_int(st, 7, p->due_from);
        sqlite3_bind_int(st, 8, p->due_to);
    }
    sqlite3_bind_int64(st, 9, now);
    r = step_done(s, st);
out:
    sbuf_release(&forbid);
    sbuf_release(&prefer);
    return r;
}

int store_plan_put(struct store *s, int64_t debtor_id, int64_t attempt_id, int64_t agreed_at,
                   const char *currency, const struct plan_instalment *v, size_t n, int64_t now)
{
    sqlite3_stmt *st = NULL;
    int64_t total = 0;
    int r;
    for (size_t i = 0; i < n; i++)
        total += v[i].amount_minor;
    /* invariant 1: the plan agreed last is the one in force */
    if ((r = ss_stmt(s, SS_PLAN_RETIRE, &st)) < 0)
        return r;
    sqlite3_bind_int64(st, 1, debtor_id);
    if ((r = step_done(s, st)) < 0)
        return r;
    if ((r = ss_stmt(s, SS_PLAN_ADD, &st)) < 0)
        return r;
    sqlite3_bind_int64(st, 1, debtor_id);
    if (attempt_id > 0)
        sqlite3_bind_int64(st, 2, attempt_id);
    sqlite3_bind_int64(st, 3, agreed_at);
    if (currency)
        sqlite3_bind_text(st, 4, currency, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, total);
    sqlite3_bind_int64(st, 6, (int64_t)n);
    sqlite3_bind_int64(st, 7, now);
    if ((r = step_done(s, st)) < 0)
        return r;
    int64_t plan_id = sqlite3_last_insert_rowid(store_db(s));
    for (size_t i = 0; i < n; i++) {
        if ((r = ss_stmt(s, SS_INST_ADD, &st)) < 0)
            return r;
        sqlite3_bind_int64(st, 1, plan_id);
        sqlite3_bind_int64(st, 2, (int64_t)i + 1);
        sqlite3_bind_int(st, 3, v[i].day);
        sqlite3_bind_int64(st, 4, v[i].amount_minor);
        if ((r = step_done(s, st)) < 0)
            return r;
    }
    return 0;
}

int store_ss_action_add(struct store *s, int64_t debtor_id, int64_t attempt_id,
                        const char *action, const char *detail, int64_t now)
{
    sqlite3_stmt *st = NULL;
    int r = ss_stmt(s, SS_ACTION_ADD, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, debtor_id);
    if (attempt_id > 0)
        sqlite3_bind_int64(st, 2, attempt_id);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    if (detail)
        sqlite3_bind_text(st, 4, detail, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    return step_done(s, st);
}

int store_ss_locale(struct store *s, const char *external_id, char *buf, size_t len)
{
    sqlite3_stmt *st = NULL;
    int r = ss_stmt(s, SS_LOCALE, &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, external_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *l = text_or_null(st, 1);
        if (!l)
            l = text_or_null(st, 0);
        snprintf(buf, len, "%s", l ? l : "");
        r = 0;
    } else
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
    sqlite3_reset(st);
    return r;
}

/* The outcome stored under a dedupe key: 0 and its fields, -ENOENT, -errno. */
static int by_key(struct store *s, const char *key, struct store_ss_done *ret)
{
    sqlite3_stmt *st = NULL;
    int r = ss_stmt(s, SS_KEY, &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ret->code = sqlite3_column_int(st, 0);
        ret->date = sqlite3_column_int(st, 1);
        ret->amount_minor = sqlite3_column_int64(st, 2);
        ret->at = sqlite3_column_int64(st, 3);
        r = 0;
    } else
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
    sqlite3_reset(st);
    return r;
}

int store_ss_view_get(struct store *s, const char *external_id, int64_t attempt_id,
                      int64_t since, int (*cb)(void *ctx, const struct store_ss_view *v),
                      void *ctx)
{
    sqlite3_stmt *d = NULL, *st = NULL;
    struct store_ss_view *v = calloc(1, sizeof(*v));
    struct brief_outcome *out = NULL;
    int r, rc;
    if (!v)
        return -ENOMEM;
    if ((r = ss_stmt(s, SS_BY_EXT, &d)) < 0)
        goto out;
    sqlite3_bind_text(d, 1, external_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(d);
    if (rc != SQLITE_ROW) {
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
        goto out;
    }
    v->id = store_read_debtor(d, &v->rec);
    if (sqlite3_column_type(d, 13) == SQLITE_NULL)
        v->rec.due_date = INT32_MIN;

    /* the contact state: its strings stay valid until the reset at the end */
    if ((r = ss_stmt(s, SS_STATE, &st)) < 0)
        goto out;
    sqlite3_bind_int64(st, 1, v->id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        v->strategy = text_or_null(st, 0);
        v->variant = text_or_null(st, 1);
        v->tier = text_or_null(st, 2);
        v->paused_until = sqlite3_column_int64(st, 3);
        v->hold_reason = text_or_null(st, 4);
        v->stopped = sqlite3_column_int(st, 5) != 0;
    } else if (rc != SQLITE_DONE) {
        r = store_fail(s, rc);
        goto out;
    }

    sqlite3_stmt *q = NULL;
    prefs_init(&v->prefs);
    if ((r = ss_stmt(s, SS_PREFS, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, v->id);
    if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        store_read_prefs(q, 0, &v->prefs);
        v->has_prefs = true;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = store_fail(s, rc);
        goto out;
    }

    if ((r = ss_stmt(s, SS_PLAN, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, v->id);
    int64_t plan_id = 0;
    if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        plan_id = sqlite3_column_int64(q, 0);
        v->plan_agreed_at = sqlite3_column_int64(q, 1);
        v->plan_attempt = sqlite3_column_int64(q, 3);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = store_fail(s, rc);
        goto out;
    }
    if (plan_id) {
        if ((r = ss_stmt(s, SS_PLAN_INST, &q)) < 0)
            goto out;
        sqlite3_bind_int64(q, 1, plan_id);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW && v->plan_n < PLAN_INSTALMENTS_MAX) {
            v->plan[v->plan_n].day = sqlite3_column_int(q, 0);
            v->plan[v->plan_n++].amount_minor = sqlite3_column_int64(q, 1);
        }
        sqlite3_reset(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            r = store_fail(s, rc);
            goto out;
        }
    }

    /* what this link did already (the keys selfservice.c stores its outcomes under) */
    char key[96];
    v->commit.code = v->dispute.code = -1;
    snprintf(key, sizeof(key), "selfservice:%" PRId64 ":commit", attempt_id);
    if ((r = by_key(s, key, &v->commit)) < 0 && r != -ENOENT)
        goto out;
    if (r == -ENOENT)
        v->commit.code = -1;
    snprintf(key, sizeof(key), "selfservice:%" PRId64 ":dispute", attempt_id);
    if ((r = by_key(s, key, &v->dispute)) < 0 && r != -ENOENT)
        goto out;
    if (r == -ENOENT)
        v->dispute.code = -1;

    if ((r = ss_stmt(s, SS_OPTED, &q)) < 0)
        goto out;
    sqlite3_bind_int64(q, 1, v->id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int k = sqlite3_column_int(q, 0);
        if (k >= 0 && k < _CHAN_KIND_MAX)
            v->opted_out |= (uint8_t)(1u << k);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        r = store_fail(s, rc);
        goto out;
    }

    if ((r = ss_stmt(s, SS_OUTCOMES, &q)) < 0)
        goto out;
    if (!(out = malloc(BRIEF_OUTCOMES_MAX * sizeof(*out)))) {
        r = -ENOMEM;
        goto out;
    }
    sqlite3_bind_int64(q, 1, v->id);
    sqlite3_bind_int64(q, 2, since);
    sqlite3_bind_int(q, 3, BRIEF_OUTCOMES_MAX);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && v->noutcomes < BRIEF_OUTCOMES_MAX) {
        struct brief_outcome *x = &out[v->noutcomes++];
        x->at = sqlite3_column_int64(q, 0);
        x->kind = sqlite3_column_type(q, 1) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 1);
        x->code = sqlite3_column_int(q, 2);
        x->promise_date = sqlite3_column_int(q, 3);
        x->has_amount = sqlite3_column_type(q, 4) != SQLITE_NULL;
        x->amount_minor = sqlite3_column_int64(q, 4);
        if (x->code == OUTCOME_PAID && x->at >= v->plan_agreed_at && plan_id && x->has_amount)
            v->plan_paid += x->amount_minor;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = store_fail(s, rc);
        goto out;
    }
    v->outcomes = out;
    r = cb(ctx, v);
out:
    if (st)
        sqlite3_reset(st);
    if (d)
        sqlite3_reset(d);
    free(out);
    free(v);
    return r;
}
