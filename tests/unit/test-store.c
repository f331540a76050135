/* Unit tests for store.c against a real SQLite file in a temp directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"
#include "testlib.h"

static char dir[] = "/tmp/cz-test-store-XXXXXX";

static void setup(void);

static char *db_path(const char *name)
{
    static char buf[256];
    if (dir[strlen(dir) - 1] == 'X')
        setup();
    snprintf(buf, sizeof(buf), "%s/%s", dir, name);
    return buf;
}

static struct debtor_rec rec(const char *id, uint64_t hash)
{
    struct debtor_rec d = { 0 };
    d.external_id = id;
    d.name = "Ana Garcia";
    d.time_zone = "Europe/Madrid";
    d.country = "ES";
    d.email = "ana@example.es";
    snprintf(d.phone, sizeof(d.phone), "+34612345678");
    d.phone_type = PHONE_MOBILE;
    d.currency = "EUR";
    d.balance_minor = 12345;
    d.due_date = days_from_civil(2026, 11, 1);
    d.preferred_channel = -1;
    d.prefers_human = -1;
    d.row_hash = hash;
    return d;
}

static void test_open_migrate(void)
{
    struct store *s = NULL;
    char err[256];
    CHECK_INT(store_open(db_path("a.db"), 0, &s, err, sizeof(err)), 0);
    store_free(s);
    /* reopening does not migrate again, read-only open works */
    CHECK_INT(store_open(db_path("a.db"), 0, &s, err, sizeof(err)), 0);
    store_free(s);
    CHECK_INT(store_open(db_path("a.db"), STORE_READONLY, &s, err, sizeof(err)), 0);
    struct store_status st;
    CHECK_INT(store_status_get(s, 20000, &st), 0);
    CHECK_INT(st.schema_version, STORE_SCHEMA_VERSION);
    CHECK_INT(st.debtors, 0);
    store_status_release(&st);
    store_free(s);
    /* read-only open of a missing store fails without creating it */
    CHECK(store_open(db_path("missing.db"), STORE_READONLY, &s, err, sizeof(err)) < 0);
    CHECK(access(db_path("missing.db"), F_OK) < 0);
}

static void test_not_a_store(void)
{
    FILE *f = fopen(db_path("junk.db"), "w");
    fputs("this is not a database, just text that is long enough to have a header....\n"
          "................................................................................\n",
          f);
    fclose(f);
    struct store *s = NULL;
    char err[256] = "";
    int r = store_open(db_path("junk.db"), 0, &s, err, sizeof(err));
    CHECK(r < 0);
    CHECK(s == NULL);
    CHECK(err[0] != 0);
}

static int count_cb(void *ctx, const char *id, size_t len, uint64_t h)
{
    (*(int *)ctx)++;
    return 0;
}

static void test_upsert(void)
{
    struct store *s = NULL;
    char err[256];
    int changed = -1;
    CHECK_INT(store_open(db_path("u.db"), 0, &s, err, sizeof(err)), 0);
    struct debtor_rec a = rec("D1", 111), b = rec("D2", 222);
    CHECK_INT(store_begin(s), 0);
    CHECK_INT(store_debtor_upsert(s, &a, 1000, &changed), 0);
    CHECK_INT(changed, 1);
    CHECK_INT(store_debtor_upsert(s, &b, 1000, &changed), 0);
    CHECK_INT(changed, 1);
    CHECK_INT(store_commit(s), 0);
    /* same hash: unchanged */
    CHECK_INT(store_debtor_upsert(s, &a, 2000, &changed), 0);
    CHECK_INT(changed, 0);
    /* new hash: updated, internal id kept (status still counts 2) */
    a.row_hash = 333;
    a.balance_minor = 99;
    CHECK_INT(store_debtor_upsert(s, &a, 3000, &changed), 0);
    CHECK_INT(changed, 1);
    int n = 0;
    CHECK_INT(store_debtor_hashes(s, count_cb, &n), 0);
    CHECK_INT(n, 2);
    struct store_status st;
    CHECK_INT(store_status_get(s, days_from_civil(2026, 11, 28), &st), 0);
    CHECK_INT(st.debtors, 2);
    CHECK_STR(st.groups[STATUS_BY_COUNTRY].v[0].label, "ES");
    CHECK_INT(st.groups[STATUS_BY_COUNTRY].v[0].n, 2);
    CHECK_STR(st.groups[STATUS_BY_DPD].v[0].label, "1-30");
    CHECK_INT(st.groups[STATUS_BY_CHANNEL].v[0].n, 2); /* email */
    store_status_release(&st);
    /* a rolled-back batch leaves nothing */
    struct debtor_rec c = rec("D3", 444);
    CHECK_INT(store_begin(s), 0);
    CHECK_INT(store_debtor_upsert(s, &c, 4000, &changed), 0);
    CHECK_INT(store_rollback(s), 0);
    n = 0;
    CHECK_INT(store_debtor_hashes(s, count_cb, &n), 0);
    CHECK_INT(n, 2);
    store_free(s);
}

static void test_imports(void)
{
    struct store *s = NULL;
    char err[256];
    int64_t id;
    CHECK_INT(store_open(db_path("i.db"), 0, &s, err, sizeof(err)), 0);
    CHECK_INT(store_import_start(s, "x.csv", 100, &id), 0);
    struct import_counts c = { 10, 7, 1, 1, 1 };
    CHECK_INT(store_import_finish(s, id, &c, 200, "done"), 0);
    struct store_status st;
    CHECK_INT(store_status_get(s, 0, &st), 0);
    CHECK(st.has_import);
    CHECK_STR(st.import_source, "x.csv");
    CHECK_STR(st.import_status, "done");
    CHECK_INT(st.import.inserted, 7);
    CHECK(!st.has_run);
    store_status_release(&st);
    store_free(s);
}

static void cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static void setup(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    atexit(cleanup);
}

TEST_MAIN({ "open_migrate", test_open_migrate },
          { "not_a_store", test_not_a_store }, { "upsert", test_upsert },
          { "imports", test_imports })
