/*
 * store-internal.h - what the store's own files share (store.c and
 * store-dispatch.c).  Never included outside store*.c.
 */
#ifndef CADENZA_STORE_INTERNAL_H
#define CADENZA_STORE_INTERNAL_H

#include <sqlite3.h>

struct store;

/* Prepared statements owned by store-dispatch.c, finalized by store_free(). */
#define STORE_DISPATCH_STMT_MAX 8

/* Keep SQLite's message in the store and map rc to -errno. */
int store_fail(struct store *s, int rc);
sqlite3 *store_db(struct store *s);
sqlite3_stmt **store_dispatch_stmts(struct store *s);

#endif
