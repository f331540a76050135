/*
 * store-internal.h - what the store's own files share (store.c,
 * store-dispatch.c, store-brief.c, store-inbound.c).  Never included
 * outside store*.c.
 */
#ifndef CADENZA_STORE_INTERNAL_H
#define CADENZA_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

struct store;
struct debtor_rec;

/* Prepared statements owned by store-dispatch.c, finalized by store_free(). */
#define STORE_DISPATCH_STMT_MAX 8

/* Keep SQLite's message in the store and map rc to -errno. */
int store_fail(struct store *s, int rc);
sqlite3 *store_db(struct store *s);
sqlite3_stmt **store_dispatch_stmts(struct store *s);

/* Prepared statements owned by store-brief.c, finalized by store_free(). */
#define STORE_BRIEF_STMT_MAX 4
sqlite3_stmt **store_brief_stmts(struct store *s);

/* Prepared statements owned by store-inbound.c, finalized by store_free(). */
#define STORE_INBOUND_STMT_MAX 4
sqlite3_stmt **store_inbound_stmts(struct store *s);
/* Prepared statements owned by store-selfservice.c, finalized by store_free(). */
#define STORE_SELFSERVICE_STMT_MAX 16
sqlite3_stmt **store_selfservice_stmts(struct store *s);

/*
 * The debtors columns every reader of a whole debtor selects, in this
 * order (column 0 is the internal id), and the reader of one such row
 * into d (strings borrowed from the statement's row; do_not_contact is
 * not parsed).  Returns the internal id.
 */
#define STORE_DEBTOR_COLUMNS \
    "id, external_id, name, locale, time_zone, country, region, email, phone," \
    " phone_type, chat_handle, balance_minor, currency, due_date, payday, risk_band," \
    " segment, tags, flags, consent_email, consent_sms, consent_chat, consent_call," \
    " do_not_contact, preferred_channel, prefers_human, age_band, employment_type"
int64_t store_read_debtor(sqlite3_stmt *st, struct debtor_rec *d);

/*
 * The debtor_prefs columns every reader selects, in this order, and the
 * reader of them (from column col) into p (store-selfservice.c).  Text
 * that does not parse reads as not stated.
 */
#define STORE_PREFS_COLUMNS \
    "preferred_channel, prefers_human, language, forbidden, preferred_hours, due_from, due_to"
struct prefs;
void store_read_prefs(sqlite3_stmt *st, int col, struct prefs *p);

#endif
