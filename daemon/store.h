/*
 * store.h - the embedded SQLite store: the only module that speaks SQL.
 *
 * One `struct store` is one connection; it is not shared between threads
 * (open one per thread).  Every function returns >= 0 or -errno; SQLite
 * failures map to -EIO (-EBUSY when the database stayed locked past the
 * busy timeout) and the message is kept for store_errmsg().
 */
#ifndef CADENZA_STORE_H
#define CADENZA_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "debtor.h"

struct store;

/* Schema version this build migrates to (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 1

enum store_open_flags {
    STORE_READONLY = 1 << 0, /* never create or migrate */
    STORE_BULK = 1 << 1,     /* bulk load: larger cache, synchronous=OFF inside batches */
};

/*
 * Open (creating and migrating when needed).  -ENOENT: read-only and
 * missing.  On failure a message goes to reterr (may be NULL).
 */
int store_open(const char *path, unsigned flags, struct store **ret, char *reterr,
               size_t errlen);
void store_free(struct store *s);
const char *store_errmsg(const struct store *s);
const char *store_path(const struct store *s);

int store_begin(struct store *s);
int store_commit(struct store *s);
int store_rollback(struct store *s);

/* ---- imports ---- */

struct import_counts {
    int64_t read, inserted, updated, unchanged, rejected;
};

/* Record the start of an import; *ret_id names it for store_import_finish. */
int store_import_start(struct store *s, const char *source, int64_t now, int64_t *ret_id);
int store_import_finish(struct store *s, int64_t id, const struct import_counts *c,
                        int64_t now, const char *status);

/*
 * Walk every debtor's external id and stored row hash, for the importer to
 * skip unchanged rows.  cb returns < 0 to stop (that value is returned).
 */
int store_debtor_hashes(struct store *s,
                        int (*cb)(void *ctx, const char *id, size_t len, uint64_t row_hash),
                        void *ctx);

/*
 * Insert or update one debtor by external id.  An update keeps the
 * debtor's internal id, so its history (attempts, outcomes, state) stays.
 * A row whose hash equals the stored one is left alone.  Sets *ret_changed
 * to 1 when the row was written (inserted or updated), 0 when unchanged.
 */
int store_debtor_upsert(struct store *s, const struct debtor_rec *d, int64_t now,
                        int *ret_changed);

/* ---- status ---- */

struct store_count {
    char *label;
    int64_t n;
};

struct store_group {
    const char *name; /* "country", "dpd", ... (static) */
    struct store_count *v;
    size_t n;
};

enum {
    STATUS_BY_COUNTRY,
    STATUS_BY_DPD,
    STATUS_BY_STRATEGY,
    STATUS_BY_TIER,
    STATUS_BY_CHANNEL, /* reachable channels: a debtor counts once per channel */
    STATUS_BY_FLAG,
    _STATUS_GROUP_MAX,
};

struct store_status {
    int64_t debtors;
    int64_t attempts, outcomes, suppressions;
    struct store_group groups[_STATUS_GROUP_MAX];
    /* last import */
    bool has_import;
    char *import_source, *import_status;
    int64_t import_started, import_finished;
    struct import_counts import;
    /* last campaign run */
    bool has_run;
    int32_t run_date;
    char *run_status;
    int64_t run_started, run_finished, run_planned;
    int64_t file_size; /* main file + WAL, bytes */
    int schema_version;
};

/* Summarise the store as of the given day (days since epoch, for DPD). */
int store_status_get(struct store *s, int32_t today, struct store_status *ret);
void store_status_release(struct store_status *st);

#endif
