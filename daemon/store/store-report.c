/*
 * store-report.c - the store's side of the contact report (report.h,
 * docs/report.md): each debtor with attempts in the range, with its
 * attempts and outcomes, one debtor at a time.
 *
 * Owns: the report's SQL.  Must never: write, or hold more than one
 * debtor's rows in memory.
 *
 * Invariants:
 *  1. Both statements walk the debtors in id order (attempts_plan and
 *     outcomes_plan lead with debtor_id), so one pass over each merges
 *     them, inside one read transaction: the attempts and outcomes seen
 *     are of the same instant.
 *  2. A debtor reaches the callback only when one of its attempts is in
 *     [from, to).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "store.h"

static const char attempts_sql[] =
    "SELECT a.debtor_id, a.id, a.strategy, a.variant, a.tier, a.channel, a.channel_kind,"
    " a.status, coalesce(a.sent_at, a.scheduled_at), d.time_zone, d.currency"
    " FROM attempts a JOIN debtors d ON d.id = a.debtor_id"
    " WHERE coalesce(a.sent_at, a.scheduled_at) >= ?1"
    " ORDER BY a.debtor_id";
static const char outcomes_sql[] =
    "SELECT debtor_id, attempt_id, channel_kind, code, occurred_at, amount_minor, promise_date"
    " FROM outcomes WHERE occurred_at >= ?1 ORDER BY debtor_id, occurred_at";

struct scan {
    struct report_attempt *a;
    size_t na, cap_a;
    struct report_outcome *o;
    size_t no, cap_o;
    char *arena;               /* the attempts' strings, as offsets until the debtor is whole */
    size_t alen, cap_arena;
    size_t (*off)[4];
    size_t cap_off;
    char tz[128 + 1], cur[8];
};

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*v, n * size);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = n;
    return 0;
}

static int arena_add(struct scan *x, const unsigned char *t, size_t *ret_off)
{
    const char *s = t ? (const char *)t : "";
    size_t n = strlen(s) + 1;
    if (grow((void **)&x->arena, &x->cap_arena, x->alen + n, 1) < 0)
        return -ENOMEM;
    memcpy(x->arena + x->alen, s, n);
    *ret_off = x->alen;
    x->alen += n;
    return 0;
}

static void copy_text(char *dst, size_t size, const unsigned char *t)
{
    snprintf(dst, size, "%s", t ? (const char *)t : "");
}

int store_report_debtors(struct store *s, int64_t since, int64_t from, int64_t to,
                         int (*cb)(void *ctx, struct report_debtor *d, const char *time_zone,
                                   const char *currency),
                         void *ctx)
{
    sqlite3 *db = store_db(s);
    sqlite3_stmt *at = NULL, *ot = NULL;
    struct scan x = { 0 };
    int r, rc, orc = SQLITE_DONE;
    bool tx = false;

    if ((r = store_begin_read(s)) < 0)
        return r;
    tx = true;
    if ((rc = sqlite3_prepare_v2(db, attempts_sql, -1, &at, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(db, outcomes_sql, -1, &ot, NULL)) != SQLITE_OK) {
        r = store_fail(s, rc);
        goto out;
    }
    sqlite3_bind_int64(at, 1, since);
    sqlite3_bind_int64(ot, 1, from);
    rc = sqlite3_step(at);
    orc = sqlite3_step(ot);
    r = 0;
    while (r >= 0 && rc == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(at, 0);
        bool in_range = false;
        x.na = x.no = x.alen = 0;
        copy_text(x.tz, sizeof(x.tz), sqlite3_column_text(at, 9));
        copy_text(x.cur, sizeof(x.cur), sqlite3_column_text(at, 10));
        for (; rc == SQLITE_ROW && sqlite3_column_int64(at, 0) == id; rc = sqlite3_step(at)) {
            if (grow((void **)&x.a, &x.cap_a, x.na + 1, sizeof(*x.a)) < 0 ||
                grow((void **)&x.off, &x.cap_off, x.na + 1, sizeof(*x.off)) < 0) {
                r = -ENOMEM;
                goto out;
            }
            for (int k = 0; k < 4; k++)
                if (arena_add(&x, sqlite3_column_text(at, 2 + k), &x.off[x.na][k]) < 0) {
                    r = -ENOMEM;
                    goto out;
                }
            struct report_attempt *a = &x.a[x.na++];
            *a = (struct report_attempt){
                .id = sqlite3_column_int64(at, 1),
                .kind = sqlite3_column_type(at, 6) == SQLITE_NULL ? -1
                                                                  : sqlite3_column_int(at, 6),
                .status = sqlite3_column_int(at, 7),
                .at = sqlite3_column_int64(at, 8),
                .local_hour = -1,
            };
            a->local_day = (int32_t)((a->at - (a->at < 0 ? 86399 : 0)) / 86400);
            in_range |= a->at >= from && a->at < to;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            r = store_fail(s, rc);
            goto out;
        }
        /* invariant 1: the outcomes of debtors before this one are skipped */
        while (orc == SQLITE_ROW && sqlite3_column_int64(ot, 0) < id)
            orc = sqlite3_step(ot);
        for (; orc == SQLITE_ROW && sqlite3_column_int64(ot, 0) == id; orc = sqlite3_step(ot)) {
            if (!in_range)
                continue;
            if (grow((void **)&x.o, &x.cap_o, x.no + 1, sizeof(*x.o)) < 0) {
                r = -ENOMEM;
                goto out;
            }
            x.o[x.no++] = (struct report_outcome){
                .attempt_id = sqlite3_column_int64(ot, 1),
                .kind = sqlite3_column_type(ot, 2) == SQLITE_NULL ? -1
                                                                  : sqlite3_column_int(ot, 2),
                .code = sqlite3_column_int(ot, 3),
                .at = sqlite3_column_int64(ot, 4),
                .amount_minor = sqlite3_column_int64(ot, 5),
                .has_amount = sqlite3_column_type(ot, 5) != SQLITE_NULL,
                .promise_date = sqlite3_column_int(ot, 6),
                .has_promise = sqlite3_column_type(ot, 6) != SQLITE_NULL,
            };
        }
        if (orc != SQLITE_ROW && orc != SQLITE_DONE) {
            r = store_fail(s, orc);
            goto out;
        }
        if (!in_range) /* invariant 2 */
            continue;
        for (size_t i = 0; i < x.na; i++) {
            x.a[i].strategy = x.arena + x.off[i][0];
            x.a[i].variant = x.arena + x.off[i][1];
            x.a[i].tier = x.arena + x.off[i][2];
            x.a[i].channel = x.arena + x.off[i][3];
        }
        struct report_debtor d = {
            .id = id, .attempts = x.a, .nattempts = x.na, .outcomes = x.o, .noutcomes = x.no,
        };
        r = cb(ctx, &d, x.tz, x.cur);
    }
    if (r >= 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = store_fail(s, rc);
out:
    sqlite3_finalize(at);
    sqlite3_finalize(ot);
    if (tx) {
        int c = store_commit(s);
        if (r >= 0 && c < 0)
            r = c;
    }
    free(x.a);
    free(x.o);
    free(x.arena);
    free(x.off);
    return r < 0 ? r : 0;
}
