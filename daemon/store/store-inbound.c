/*
 * store-inbound.c - the store's side of the providers' callbacks and of
 * inbound messages: the attempt a provider's message id names, and the
 * debtors a phone number (or chat handle) reaches.
 *
 * Owns: that SQL and its prepared statements.  Must never: write, or keep
 * a row past the callback.
 *
 * Invariants:
 *  1. Each lookup walks an index of schema 10 (attempts_provider,
 *     debtors_phone, debtors_chat_handle): a callback costs a few page
 *     reads however large the store.
 *  2. At most STORE_CONTACTS_MAX debtors reach the callback for one
 *     address, in internal id order, each once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store-internal.h"
#include "store.h"

enum { ISTMT_BY_PROVIDER, ISTMT_BY_ADDRESS, _ISTMT_MAX };

static const char *const istmt_sql[_ISTMT_MAX] = {
    [ISTMT_BY_PROVIDER] =
        "SELECT a.id, a.debtor_id, d.external_id, a.channel, a.channel_kind FROM attempts a"
        " JOIN debtors d ON d.id = a.debtor_id WHERE a.provider_id = ?1"
        " ORDER BY a.id DESC LIMIT 1",
    /* the two indexes, then one row per debtor (a debtor whose phone and
     * chat handle are both the address comes once) */
    [ISTMT_BY_ADDRESS] =
        "SELECT id, external_id, coalesce(locale, ''), time_zone, coalesce(name, ''), phone,"
        " chat_handle FROM debtors WHERE id IN (SELECT id FROM debtors WHERE phone = ?1"
        " UNION SELECT id FROM debtors WHERE chat_handle = ?1) ORDER BY id LIMIT ?2",
};

_Static_assert(_ISTMT_MAX <= STORE_INBOUND_STMT_MAX, "raise STORE_INBOUND_STMT_MAX");

static int istmt(struct store *s, int id, sqlite3_stmt **ret)
{
    sqlite3_stmt **v = store_inbound_stmts(s);
    if (!v[id]) {
        int rc = sqlite3_prepare_v3(store_db(s), istmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &v[id], NULL);
        if (rc != SQLITE_OK)
            return store_fail(s, rc);
    }
    sqlite3_reset(v[id]);
    sqlite3_clear_bindings(v[id]);
    *ret = v[id];
    return 0;
}

int store_attempt_by_provider_id(struct store *s, const char *provider_id,
                                 struct store_attempt_ref *ret)
{
    sqlite3_stmt *st = NULL;
    int r = istmt(s, ISTMT_BY_PROVIDER, &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, provider_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *ext = (const char *)sqlite3_column_text(st, 2);
        const char *ch = (const char *)sqlite3_column_text(st, 3);
        ret->id = sqlite3_column_int64(st, 0);
        ret->debtor_id = sqlite3_column_int64(st, 1);
        snprintf(ret->debtor_external_id, sizeof(ret->debtor_external_id), "%s", ext ? ext : "");
        snprintf(ret->channel, sizeof(ret->channel), "%s", ch ? ch : "");
        ret->kind = sqlite3_column_int(st, 4);
        r = 0;
    } else
        r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
    sqlite3_reset(st);
    return r;
}

static const char *col(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t && *t ? t : NULL;
}

int store_debtors_by_address(struct store *s, const char *address,
                             int (*cb)(void *ctx, const struct store_contact *c), void *ctx)
{
    sqlite3_stmt *st = NULL;
    int r = istmt(s, ISTMT_BY_ADDRESS, &st), rc, n = 0;
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, STORE_CONTACTS_MAX);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_contact c = {
            .id = sqlite3_column_int64(st, 0),
            .external_id = col(st, 1),
            .locale = col(st, 2),
            .time_zone = col(st, 3),
            .name = col(st, 4),
            .phone = col(st, 5),
            .chat_handle = col(st, 6),
        };
        n++;
        if ((r = cb(ctx, &c)) < 0) {
            sqlite3_reset(st);
            return r;
        }
    }
    r = rc == SQLITE_DONE ? n : store_fail(s, rc);
    sqlite3_reset(st);
    return r;
}
