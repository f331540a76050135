/* Unit tests for store.c against a real SQLite file in a temp directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <unistd.h>

#include "import.h"
#include "store.h"
#include "testlib.h"

static char dir[] = "/tmp/cz-test-store-XXXXXX";
static bool dir_made; /* not "ends in X": mkdtemp may pick an X */

static void setup(void);

static char *db_path(const char *name)
{
    static char buf[256];
    if (!dir_made)
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

/* A newer schema and another application's tables are refused on every open. */
static void test_refuse_foreign(void)
{
    struct store *s = NULL;
    char err[256] = "";
    sqlite3 *db;
    CHECK_INT(sqlite3_open(db_path("other.db"), &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, "CREATE TABLE users(id INTEGER PRIMARY KEY)", NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    CHECK_INT(store_open(db_path("other.db"), 0, &s, err, sizeof(err)), -EEXIST);
    CHECK_STR(err, "not a cadenza store: the database already holds other tables ('users')");
    CHECK_INT(store_open(db_path("other.db"), STORE_READONLY, &s, err, sizeof(err)), -EEXIST);

    CHECK_INT(store_open(db_path("newer.db"), 0, &s, err, sizeof(err)), 0);
    store_free(s);
    CHECK_INT(sqlite3_open(db_path("newer.db"), &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    for (int ro = 0; ro < 2; ro++) {
        s = NULL;
        CHECK_INT(store_open(db_path("newer.db"), ro ? STORE_READONLY : 0, &s, err, sizeof(err)),
                  -EPROTONOSUPPORT);
        CHECK(s == NULL);
        CHECK(strstr(err, "schema version 99 is newer") != NULL);
    }
}

/*
 * A row that passes validation but breaks a constraint of the schema (no
 * currency and no default for it) is rejected alone; the rows around it,
 * in the same batch, are stored.
 */
static void test_import_constraint(void)
{
    struct store *s = NULL;
    char err[256];
    CHECK_INT(store_open(db_path("imp.db"), STORE_BULK, &s, err, sizeof(err)), 0);
    const char *csv = "id,email,country,currency\n"
                      "C1,c1@x.example,GB,GBP\n"
                      "C2,c2@x.example,GB,\n"
                      "C3,c3@x.example,GB,GBP\n";
    int fd = memfd_create("csv", 0);
    CHECK(write(fd, csv, strlen(csv)) == (ssize_t)strlen(csv));
    lseek(fd, 0, SEEK_SET);
    char *buf = NULL;
    size_t len = 0;
    FILE *rej = open_memstream(&buf, &len);
    struct import_opts o = {
        .name = "t.csv", .fd = fd, .rejects = rej, .batch_rows = 100, .now = 1000,
        .defaults = { .time_zone = NULL, .currency = NULL, .country = NULL },
    };
    struct import_counts c;
    CHECK_INT(import_debtors(s, &o, &c, err, sizeof(err)), 0);
    fclose(rej);
    CHECK_INT(c.inserted, 2);
    CHECK_INT(c.rejected, 1);
    CHECK(buf && strstr(buf, "C2,c2@x.example,GB,,\"cannot be stored: NOT NULL constraint "
                             "failed: debtors.currency\"") != NULL);
    free(buf);
    close(fd);
    int n = 0;
    CHECK_INT(store_debtor_hashes(s, count_cb, &n), 0);
    CHECK_INT(n, 2);
    store_free(s);
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
    dir_made = true;
    atexit(cleanup);
}

/* ---- planning reader and writers ---- */

struct scan_seen {
    int n;
    int64_t ids[8];
    size_t natt[8], nout[8], ncells[8];
    bool has_state[8];
    char tier[8][32];
    uint8_t suppressed[8];
    int16_t att_channel[8];
    uint32_t cell_attempts[8];
    char covs[8][48]; /* "age_band/employment_type" */
};

static int scan_cb(void *ctx, const struct store_plan_row *row)
{
    struct scan_seen *x = ctx;
    int i = x->n++;
    x->ids[i] = row->id;
    x->natt[i] = row->nattempts;
    x->nout[i] = row->noutcomes;
    x->ncells[i] = row->ncells;
    x->has_state[i] = row->has_state;
    snprintf(x->tier[i], sizeof(x->tier[i]), "%s", row->state.tier ? row->state.tier : "");
    x->suppressed[i] = row->suppressed;
    x->att_channel[i] = row->nattempts ? row->attempts[0].channel : -2;
    x->cell_attempts[i] = row->ncells ? row->cells[0].attempts : 0;
    snprintf(x->covs[i], sizeof(x->covs[i]), "%s/%s",
             row->rec.age_band ? row->rec.age_band : "-",
             row->rec.employment_type ? row->rec.employment_type : "-");
    CHECK(row->rec.external_id != NULL);
    return 0;
}

static struct store *plan_store(const char *name, int64_t ids[3])
{
    struct store *s = NULL;
    char err[256];
    CHECK_INT(store_open(db_path(name), 0, &s, err, sizeof(err)), 0);
    const char *ext[3] = { "P1", "P2", "P3" };
    for (int i = 0; i < 3; i++) {
        struct debtor_rec d = rec(ext[i], 100 + (uint64_t)i);
        if (i == 1) {
            d.age_band = "25-34";
            d.employment_type = "retired";
        }
        int ch;
        CHECK_INT(store_debtor_upsert(s, &d, 1000, &ch), 0);
        struct store_debtor_ref ref;
        CHECK_INT(store_debtor_find(s, ext[i], &ref), 0);
        CHECK_STR(ref.time_zone, "Europe/Madrid");
        ids[i] = ref.id;
    }
    return s;
}

static void test_plan_scan(void)
{
    int64_t id[3];
    struct store *s = plan_store("scan.db", id);
    struct store_debtor_ref ref;
    CHECK_INT(store_debtor_find(s, "nope", &ref), -ENOENT);

    /* state for P2 only; attempts for P1 (one too old) and P3; a cell for P3 */
    struct planner_state ps = { .strategy = "early", .variant = "a", .tier = "t2",
                                .tier_entered_at = 5, .attempts_total = 3 };
    CHECK_INT(store_state_put(s, id[1], &ps, 0, 10), 0);
    int64_t aid;
    struct store_attempt_new a = { .debtor_id = id[0], .key = "k1", .strategy = "early",
                                   .variant = "a", .tier = "t1", .channel = "sms",
                                   .kind = CHAN_SMS, .scheduled_at = 50000, .created_at = 1 };
    CHECK_INT(store_attempt_add(s, &a, &aid), 0);
    CHECK(aid > 0);
    int64_t again;
    CHECK_INT(store_attempt_add(s, &a, &again), 0);
    CHECK_INT(again, 0); /* the key exists: nothing written */
    a.key = "k0";
    a.scheduled_at = 10;
    CHECK_INT(store_attempt_add(s, &a, &again), 0);
    a.key = "k3";
    a.debtor_id = id[2];
    a.channel = "unknown";
    a.scheduled_at = 60000;
    CHECK_INT(store_attempt_add(s, &a, &again), 0);
    struct store_outcome o = { .debtor_id = id[2], .kind = CHAN_EMAIL, .code = 2, .at = 70000,
                               .dedupe_key = "d1", .counts = true, .reach = true, .how = 5,
                               .segment = "" };
    int added;
    CHECK_INT(store_outcome_add(s, &o, &added), 0);
    CHECK_INT(added, 1);

    const char *chans[] = { "email", "sms" };
    struct store_plan_opts so = { .since = 40000, .now = 100, .channels = chans, .nchannels = 2 };
    struct scan_seen x = { 0 };
    CHECK_INT((int)store_plan_scan(s, &so, scan_cb, &x), 3);
    CHECK_INT(x.n, 3);
    CHECK(x.ids[0] == id[0] && x.ids[1] == id[1] && x.ids[2] == id[2]);
    CHECK_INT((int)x.natt[0], 1); /* k0 is older than since */
    CHECK_INT(x.att_channel[0], 1);
    CHECK_INT((int)x.natt[1], 0);
    CHECK_INT((int)x.natt[2], 1);
    CHECK_INT(x.att_channel[2], -1); /* unknown channel name */
    CHECK(!x.has_state[0] && x.has_state[1] && !x.has_state[2]);
    CHECK_STR(x.tier[1], "t2");
    CHECK_STR(x.covs[0], "-/-");
    CHECK_STR(x.covs[1], "25-34/retired");
    CHECK_INT((int)x.nout[2], 1);
    CHECK_INT((int)x.ncells[2], 1);
    CHECK_INT((int)x.cell_attempts[2], 1);
    CHECK_INT((int)x.ncells[0], 0);

    /* one debtor by external id, and an id range */
    memset(&x, 0, sizeof(x));
    so.external_id = "P3";
    CHECK_INT((int)store_plan_scan(s, &so, scan_cb, &x), 1);
    CHECK(x.ids[0] == id[2]);
    so.external_id = "nope";
    CHECK_INT((int)store_plan_scan(s, &so, scan_cb, &x), -ENOENT);
    so.external_id = NULL;
    so.id_min = id[1];
    so.id_max = id[1];
    memset(&x, 0, sizeof(x));
    CHECK_INT((int)store_plan_scan(s, &so, scan_cb, &x), 1);
    CHECK(x.ids[0] == id[1] && x.has_state[0]);
    int64_t maxid;
    CHECK_INT(store_debtor_max_id(s, &maxid), 0);
    CHECK(maxid == id[2]);

    /* state upsert keeps last_attempt_at when 0 is given; transitions append */
    ps.tier = "t3";
    CHECK_INT(store_state_put(s, id[1], &ps, 777, 11), 0);
    CHECK_INT(store_state_put(s, id[1], &ps, 0, 12), 0);
    CHECK_INT(store_transition_add(s, id[1], "early", "t2", "t3", 12, "3 attempts"), 0);
    CHECK_INT(store_transition_add(s, id[1], "early", NULL, NULL, 13, "stop"), 0);
    store_free(s);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "test \"$(sqlite3 %s 'SELECT last_attempt_at || tier FROM contact_state;"
             " SELECT count(*) FROM state_transitions')\" = \"$(printf '777t3\\n2')\"",
             db_path("scan.db"));
    CHECK_INT(system(cmd), 0);
}

struct seg_sum {
    int64_t attempts, reaches;
    int rows;
};

static int seg_cb(void *ctx, const char *segment, int kind, int how, int64_t a, int64_t r)
{
    struct seg_sum *x = ctx;
    (void)segment, (void)kind, (void)how;
    x->attempts += a;
    x->reaches += r;
    x->rows++;
    return 0;
}

static void test_outcomes_incremental(void)
{
    int64_t id[3];
    struct store *s = plan_store("outcomes.db", id);
    struct store_outcome o = { .debtor_id = id[0], .kind = CHAN_SMS, .code = 0, .at = 1000,
                               .dedupe_key = "x1", .attempt_key = "a:A1", .counts = true,
                               .reach = false, .how = 10, .segment = "retail" };
    int added;
    /* delivered, then replied on the same attempt: 1 attempt, 1 reach */
    CHECK_INT(store_outcome_add(s, &o, &added), 0);
    CHECK_INT(added, 1);
    o.dedupe_key = "x2";
    o.code = 4;
    o.reach = true;
    CHECK_INT(store_outcome_add(s, &o, &added), 0);
    CHECK_INT(added, 1);
    /* the same reply again (same dedupe key): nothing */
    CHECK_INT(store_outcome_add(s, &o, &added), 0);
    CHECK_INT(added, 0);
    /* a second reach on the same attempt does not count again */
    o.dedupe_key = "x3";
    o.code = 3;
    CHECK_INT(store_outcome_add(s, &o, &added), 0);
    /* a new attempt without a key; a failure that does not count */
    o.dedupe_key = "x4";
    o.attempt_key = NULL;
    o.code = 5;
    o.reach = false;
    CHECK_INT(store_outcome_add(s, &o, &added), 0);
    o.dedupe_key = "x5";
    o.counts = false;
    CHECK_INT(store_outcome_add(s, &o, &added), 0);
    CHECK_INT(added, 1);

    struct seg_sum x = { 0 };
    CHECK_INT(store_segment_stats(s, seg_cb, &x), 0);
    CHECK_INT((int)x.attempts, 2);
    CHECK_INT((int)x.reaches, 1);
    CHECK_INT(x.rows, 1);

    const char *chans[] = { "sms" };
    struct store_plan_opts so = { .since = 0, .channels = chans, .nchannels = 1 };
    struct scan_seen y = { 0 };
    CHECK_INT((int)store_plan_scan(s, &so, scan_cb, &y), 3);
    CHECK_INT((int)y.nout[0], 5);
    CHECK_INT((int)y.ncells[0], 1);
    CHECK_INT((int)y.cell_attempts[0], 2);

    int64_t aid, deb;
    CHECK_INT(store_attempt_find(s, "nope", &aid, &deb), -ENOENT);
    store_free(s);
}

/* ---- batches of outcomes, statistics against a recompute, migration 6 -> 7 ---- */

/* Run SQL with the sqlite3 shell; its output (at most n - 1 bytes) into out. */
static void sql_out(const char *db, const char *sql, char *out, size_t n)
{
    char in[300], res[300], cmd[1024];
    snprintf(in, sizeof(in), "%s/q.sql", dir);
    snprintf(res, sizeof(res), "%s/q.out", dir);
    FILE *f = fopen(in, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(sql, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s' < '%s' > '%s'", db, in, res);
    CHECK_INT(system(cmd), 0);
    out[0] = 0;
    f = fopen(res, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    size_t k = fread(out, 1, n - 1, f);
    out[k] = 0;
    fclose(f);
}

/* The tests' hour of week and segment of an outcome, as SQL can recompute them. */
#define TEST_HOW(at) ((int)(((at) / 3600) % 168))
#define TEST_SEGMENT(id) ((id) % 2 ? "odd" : "even")

/*
 * The statistics recomputed from the stored outcomes (id order is
 * insertion order): an attempt at the first counted row of each attempt
 * key (a row without a key is its own attempt), a reach at its first
 * counted reach.  Debtor cells, then segment cells.
 */
static const char recompute_sql[] =
    "CREATE TEMP VIEW r AS SELECT o.debtor_id AS d, o.channel_kind AS k,"
    " (o.occurred_at / 3600) % 168 AS h,"
    " CASE WHEN o.debtor_id % 2 THEN 'odd' ELSE 'even' END AS seg,"
    " (o.attempt_key IS NULL OR NOT EXISTS (SELECT 1 FROM outcomes p"
    "   WHERE p.debtor_id = o.debtor_id AND p.attempt_key = o.attempt_key AND p.counted"
    "   AND p.id < o.id)) AS a,"
    " (o.reach AND (o.attempt_key IS NULL OR NOT EXISTS (SELECT 1 FROM outcomes p"
    "   WHERE p.debtor_id = o.debtor_id AND p.attempt_key = o.attempt_key AND p.counted"
    "   AND p.reach AND p.id < o.id))) AS re"
    " FROM outcomes o WHERE o.counted;\n"
    "SELECT d, k, h, sum(a), sum(re) FROM r GROUP BY 1, 2, 3"
    " HAVING sum(a) + sum(re) > 0 ORDER BY 1, 2, 3;\n"
    "SELECT seg, k, h, sum(a), sum(re) FROM r GROUP BY 1, 2, 3"
    " HAVING sum(a) + sum(re) > 0 ORDER BY 1, 2, 3;\n";
static const char stats_sql[] =
    "SELECT debtor_id, channel_kind, hour_of_week, attempts, reaches FROM debtor_slot_stats"
    " ORDER BY 1, 2, 3;\n"
    "SELECT segment, channel_kind, hour_of_week, attempts, reaches FROM segment_slot_stats"
    " ORDER BY 1, 2, 3;\n";

/* debtor_cells as "debtor|kind|how|attempts|reaches" lines sorted like stats_sql. */
struct cells_dump {
    char *p;
    size_t left;
};

static int cell_cmp(const void *a, const void *b)
{
    const struct model_cell *x = a, *y = b;
    return x->kind != y->kind ? x->kind - y->kind : x->how - y->how;
}

static int cells_cb(void *ctx, const struct store_plan_row *row)
{
    struct cells_dump *c = ctx;
    struct model_cell v[64];
    size_t n = row->ncells < 64 ? row->ncells : 64;
    memcpy(v, row->cells, n * sizeof(*v));
    qsort(v, n, sizeof(*v), cell_cmp);
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(c->p, c->left, "%lld|%d|%d|%u|%u\n", (long long)row->id, v[i].kind,
                         v[i].how, v[i].attempts, v[i].reaches);
        if (k < 0 || (size_t)k >= c->left)
            return -ENOSPC;
        c->p += k;
        c->left -= (size_t)k;
    }
    return 0;
}

/* A test outcome: hashed key from its fields, hour and segment as SQL recomputes them. */
static struct store_outcome test_outcome(int64_t debtor, int kind, int code, int64_t at,
                                         const char *akey)
{
    char h[200];
    snprintf(h, sizeof(h), "%lld|%d|%lld|%d|%s", (long long)debtor, kind, (long long)at, code,
             akey ? akey : "");
    bool reach = kind >= 0 && outcome_is_reach((enum chan_kind)kind, (enum outcome_code)code);
    return (struct store_outcome){
        .debtor_id = debtor, .kind = kind, .code = code, .at = at, .source = "t",
        .dedupe_hash = hash64(h, strlen(h), 1), .attempt_key = akey,
        .counts = kind >= 0 && code != OUTCOME_FAILED, .reach = reach, .how = TEST_HOW(at),
        .segment = TEST_SEGMENT(debtor), .created_at = 1,
    };
}

static uint64_t rng_x = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
    rng_x ^= rng_x << 13;
    rng_x ^= rng_x >> 7;
    rng_x ^= rng_x << 17;
    return (unsigned)(rng_x % n);
}

static void test_outcomes_batch_recompute(void)
{
    int64_t id[3];
    struct store *s = plan_store("batch.db", id);
    static const char *const akeys[] = { NULL, NULL, "a:1", "a:2", "a:3", "k:x" };
    enum { N = 600 };
    static struct store_outcome all[N];
    uint8_t added[N];
    for (int i = 0; i < N; i++) {
        /* a small space of rows, so duplicates within and across batches happen */
        int64_t at = 1794000000 + (int64_t)rnd(40) * 1800;
        all[i] = test_outcome(id[rnd(3)], (int)rnd(6) - 1, (int)rnd(_OUTCOME_MAX), at,
                              akeys[rnd(ELEMENTSOF(akeys))]);
    }
    /* batches of varying size, one unsorted, one a row twice; then all again */
    int64_t stored = 0;
    size_t sizes[] = { 1, 7, 100, 250, 242 };
    size_t off = 0;
    for (size_t b = 0; b < ELEMENTSOF(sizes); b++) {
        CHECK_INT(store_begin(s), 0);
        CHECK_INT(store_outcomes_add(s, all + off, sizes[b], added), 0);
        CHECK_INT(store_commit(s), 0);
        for (size_t i = 0; i < sizes[b]; i++)
            stored += added[i];
        off += sizes[b];
    }
    CHECK_INT((int)off, N);
    CHECK(stored > 100 && stored < N); /* some were duplicates */
    struct store_outcome twice[2] = { all[0], all[0] };
    twice[0].at = twice[1].at = 1794500000; /* a new row, twice in one batch */
    twice[0].how = twice[1].how = TEST_HOW(twice[0].at);
    twice[0].dedupe_hash = twice[1].dedupe_hash = 42;
    CHECK_INT(store_outcomes_add(s, twice, 2, added), 0);
    CHECK(added[0] == 1 && added[1] == 0);
    CHECK_INT(store_outcomes_add(s, all, N, added), 0);
    int again = 0;
    for (int i = 0; i < N; i++)
        again += added[i];
    CHECK_INT(again, 0);

    static char want[65536], got[65536], cells[65536];
    sql_out(db_path("batch.db"), recompute_sql, want, sizeof(want));
    sql_out(db_path("batch.db"), stats_sql, got, sizeof(got));
    CHECK(strlen(want) > 100);
    CHECK_STR(got, want);
    /* debtor_cells holds the same counts (the scan caps reaches at attempts) */
    struct cells_dump cd = { cells, sizeof(cells) };
    const char *chans[] = { "sms" };
    struct store_plan_opts so = { .since = 0, .channels = chans, .nchannels = 1 };
    CHECK_INT((int)store_plan_scan(s, &so, cells_cb, &cd), 3);
    sql_out(db_path("batch.db"), "SELECT debtor_id, channel_kind, hour_of_week, attempts,"
            " min(reaches, attempts) FROM debtor_slot_stats ORDER BY 1, 2, 3;", got,
            sizeof(got));
    CHECK_STR(cells, got);
    store_free(s);
}

static void test_migrate_v6_outcomes(void)
{
    struct store *s = NULL;
    char err[256];
    const char *db = db_path("v6.db");
    CHECK_INT(store_open_version(db, 6, &s, err, sizeof(err)), 0);
    int64_t id[2];
    /* debtors as schema 6 stored them (this build's upsert names later columns) */
    char none[64];
    sql_out(db, "INSERT INTO debtors(external_id, time_zone, country, currency, row_hash,"
            " created_at, updated_at) VALUES('M1', 'Europe/Madrid', 'ES', 'EUR', 7, 1000, 1000),"
            " ('M2', 'Europe/Madrid', 'ES', 'EUR', 8, 1000, 1000);", none, sizeof(none));
    for (int i = 0; i < 2; i++) {
        struct store_debtor_ref ref;
        CHECK_INT(store_debtor_find(s, i ? "M2" : "M1", &ref), 0);
        id[i] = ref.id;
    }
    /* outcomes as schema 6 stored them: text keys "import:<hash><hash>" */
    enum { N = 40 };
    struct store_outcome v[N];
    char keys[N][48];
    static const char *const akeys[] = { NULL, "a:1", "a:2" };
    for (int i = 0; i < N; i++) {
        v[i] = test_outcome(id[i % 2], (int)rnd(5), (int)rnd(_OUTCOME_MAX),
                            1790000000 + (int64_t)rnd(30) * 3600, akeys[rnd(3)]);
        snprintf(keys[i], sizeof(keys[i]), "import:%016llx%016llx",
                 (unsigned long long)v[i].dedupe_hash, (unsigned long long)i);
        v[i].dedupe_key = keys[i];
        int added;
        CHECK_INT(store_outcome_add(s, &v[i], &added), 0);
    }
    store_free(s);
    static char before[16384], after[16384], want[16384];
    sql_out(db, "PRAGMA user_version;", after, sizeof(after));
    CHECK_STR(after, "6\n");
    sql_out(db, stats_sql, before, sizeof(before));
    sql_out(db, recompute_sql, want, sizeof(want));
    CHECK_STR(before, want);

    /* the migration keeps every count and remembers the newest old row */
    CHECK_INT(store_open(db, 0, &s, err, sizeof(err)), 0);
    sql_out(db, stats_sql, after, sizeof(after));
    CHECK_STR(after, before);
    sql_out(db, "PRAGMA user_version; SELECT value = (SELECT max(occurred_at) FROM outcomes)"
            " FROM meta WHERE key = 'outcomes_legacy_until';", after, sizeof(after));
    char want_v[16];
    snprintf(want_v, sizeof(want_v), "%d\n1\n", STORE_SCHEMA_VERSION);
    CHECK_STR(after, want_v);

    /* re-importing the same rows (new keys, old keys given as legacy): nothing */
    uint8_t added[N];
    for (int i = 0; i < N; i++) {
        v[i].dedupe_key = NULL;
        v[i].legacy_key = keys[i];
    }
    CHECK_INT(store_begin(s), 0);
    CHECK_INT(store_outcomes_add(s, v, N, added), 0);
    CHECK_INT(store_commit(s), 0);
    int n = 0;
    for (int i = 0; i < N; i++)
        n += added[i];
    CHECK_INT(n, 0);
    sql_out(db, stats_sql, after, sizeof(after));
    CHECK_STR(after, before);

    /* an old-time row never stored, and a new day's row: stored once each */
    struct store_outcome w[2] = {
        test_outcome(id[0], CHAN_SMS, OUTCOME_REPLIED, 1790000000 + 5, NULL),
        test_outcome(id[1], CHAN_CALL, OUTCOME_RIGHT_PARTY, 1795000000, "a:9"),
    };
    w[0].legacy_key = "import:00000000000000000000000000000000";
    for (int round = 0; round < 2; round++) {
        CHECK_INT(store_outcomes_add(s, w, 2, added), 0);
        CHECK(added[0] == !round && added[1] == !round);
    }
    sql_out(db, stats_sql, after, sizeof(after));
    sql_out(db, recompute_sql, want, sizeof(want));
    CHECK_STR(after, want);
    CHECK(strcmp(after, before) != 0);
    store_free(s);
}

static int contact_cb(void *ctx, const struct store_contact *c)
{
    char *out = ctx;
    snprintf(out + strlen(out), 256 - strlen(out), "%s%s(%s,%s)", *out ? " " : "",
             c->external_id, c->phone ? c->phone : "-", c->chat_handle ? c->chat_handle : "-");
    return 0;
}

/* Schema 9: the attempt a provider's id names, the debtors a number reaches. */
static void test_inbound_lookups(void)
{
    struct store *s = NULL;
    char err[256], got[256] = "";
    int changed;
    /* a store of schema 8 gets the indexes when migrated */
    CHECK_INT(store_open_version(db_path("in.db"), 8, &s, err, sizeof(err)), 0);
    store_free(s);
    CHECK_INT(store_open(db_path("in.db"), 0, &s, err, sizeof(err)), 0);
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(db_path("in.db"), &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name IN"
                                     " ('attempts_provider', 'debtors_phone',"
                                     " 'debtors_chat_handle')", -1, &st, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), 3);
    sqlite3_finalize(st);
    sqlite3_close(db);

    struct debtor_rec a = rec("D1", 1), b = rec("D2", 2), c = rec("D3", 3), d = rec("D4", 4);
    b.chat_handle = "@bee";
    snprintf(c.phone, sizeof(c.phone), "+34600000001");
    c.chat_handle = "+34612345678"; /* WhatsApp on the number D1 and D2 share */
    snprintf(d.phone, sizeof(d.phone), "+34600000002");
    CHECK_INT(store_begin(s), 0);
    CHECK_INT(store_debtor_upsert(s, &a, 1000, &changed), 0);
    CHECK_INT(store_debtor_upsert(s, &b, 1000, &changed), 0);
    CHECK_INT(store_debtor_upsert(s, &c, 1000, &changed), 0);
    CHECK_INT(store_debtor_upsert(s, &d, 1000, &changed), 0);
    CHECK_INT(store_commit(s), 0);
    CHECK_INT(store_debtors_by_address(s, "+34612345678", contact_cb, got), 3);
    CHECK_STR(got, "D1(+34612345678,-) D2(+34612345678,@bee) D3(+34600000001,+34612345678)");
    got[0] = 0;
    CHECK_INT(store_debtors_by_address(s, "@bee", contact_cb, got), 1);
    CHECK_STR(got, "D2(+34612345678,@bee)");
    CHECK_INT(store_debtors_by_address(s, "+34699999999", contact_cb, got), 0);

    /* the provider's id a send's result stored names the attempt */
    struct store_debtor_ref ref;
    CHECK_INT(store_debtor_find(s, "D3", &ref), 0);
    struct store_attempt_new an = { .debtor_id = ref.id, .key = "k-wa", .strategy = "s",
                                    .variant = "a", .tier = "t", .channel = "wa",
                                    .kind = CHAN_CHAT, .scheduled_at = 1000,
                                    .created_at = 1000, .p_choice = -1 };
    int64_t id = 0;
    int applied = 0;
    CHECK_INT(store_attempt_add(s, &an, &id), 0);
    struct store_attempt_ref ar;
    CHECK_INT(store_attempt_by_provider_id(s, "wamid.X", &ar), -ENOENT);
    struct store_result res = { .attempt_id = id, .status = ATTEMPT_SENT, .info = "wamid.X",
                                .at = 1001 };
    CHECK_INT(store_result_ingest(s, &res, &applied), 0);
    CHECK_INT(applied, 1);
    CHECK_INT(store_attempt_by_provider_id(s, "wamid.X", &ar), 0);
    CHECK_INT(ar.id, id);
    CHECK_STR(ar.debtor_external_id, "D3");
    CHECK_STR(ar.channel, "wa");
    CHECK_INT(ar.kind, CHAN_CHAT);
    CHECK_INT(store_attempt_by_provider_id(s, "wamid.Y", &ar), -ENOENT);
    store_free(s);
}

/* ---- the self-service page's rows (store-selfservice.c) ---- */

struct ss_seen {
    int n;
    struct prefs prefs[3];
    bool has_prefs[3];
    size_t plan_n[3];
    int64_t plan_paid[3];
};

static int ss_scan_cb(void *ctx, const struct store_plan_row *row)
{
    struct ss_seen *x = ctx;
    int i = x->n++;
    if (i >= 3)
        return -1;
    x->has_prefs[i] = row->prefs != NULL;
    if (row->prefs)
        x->prefs[i] = *row->prefs;
    x->plan_n[i] = row->plan ? row->plan->n : 0;
    x->plan_paid[i] = row->plan ? row->plan->paid_minor : -1;
    return 0;
}

struct ss_view_seen {
    int calls;
    int commit_code;
    int32_t commit_date;
    size_t plan_n;
    int64_t plan_paid;
    char language[8];
    uint8_t nforbid;
};

static int ss_view_cb(void *ctx, const struct store_ss_view *v)
{
    struct ss_view_seen *x = ctx;
    x->calls++;
    x->commit_code = v->commit.code;
    x->commit_date = v->commit.date;
    x->plan_n = v->plan_n;
    x->plan_paid = v->plan_paid;
    snprintf(x->language, sizeof(x->language), "%s", v->prefs.language);
    x->nforbid = v->prefs.nforbid;
    return 0;
}

struct dispatch_seen {
    char locale[16];
    int32_t due;
    int n;
};

static int dispatch_cb(void *ctx, const struct store_dispatch_row *row)
{
    struct dispatch_seen *x = ctx;
    snprintf(x->locale, sizeof(x->locale), "%s", row->locale ? row->locale : "");
    x->due = row->due_date;
    x->n++;
    return 0;
}

static void test_selfservice_rows(void)
{
    int64_t id[3];
    struct store *s = plan_store("ss.db", id);
    /* P1 states preferences and moves its due date; P2 agrees to two plans */
    struct prefs p;
    prefs_init(&p);
    CHECK_INT(prefs_ranges_parse("call Mon-Fri 00:00-18:00", true, p.forbid, &p.nforbid), 0);
    CHECK_INT(prefs_ranges_parse("daily 18:00-21:00", false, p.prefer, &p.nprefer), 0);
    p.human = 1;
    p.channel = CHAN_SMS;
    snprintf(p.language, sizeof(p.language), "es");
    int32_t due = days_from_civil(2026, 11, 1);
    p.due_from = due;
    p.due_to = due + 20;
    CHECK_INT(store_begin(s), 0);
    CHECK_INT(store_prefs_put(s, id[0], &p, 100), 0);
    struct plan_instalment inst[4];
    CHECK_INT(prefs_plan_schedule(12345, 4, due + 30, inst), 0);
    CHECK_INT(store_plan_put(s, id[1], 7, 1000, "EUR", inst, 4, 1000), 0);
    CHECK_INT(prefs_plan_schedule(12345, 3, due + 35, inst), 0);
    CHECK_INT(store_plan_put(s, id[1], 8, 2000, "EUR", inst, 3, 2000), 0);
    /* a payment before the second plan and one after it */
    struct store_outcome o = { .debtor_id = id[1], .kind = -1, .code = 9, .at = 1500,
                               .has_amount = true, .amount_minor = 500,
                               .dedupe_key = "pay-a", .segment = "" };
    int added;
    CHECK_INT(store_outcome_add(s, &o, &added), 0);
    o.at = 2500;
    o.amount_minor = 4115;
    o.dedupe_key = "pay-b";
    CHECK_INT(store_outcome_add(s, &o, &added), 0);
    /* the link 7's promise, under the page's key */
    o = (struct store_outcome){ .debtor_id = id[0], .kind = 0, .code = 8, .at = 2600,
                                .promise_date = due + 40, .dedupe_key = "selfservice:7:commit",
                                .segment = "" };
    CHECK_INT(store_outcome_add(s, &o, &added), 0);
    CHECK_INT(store_ss_action_add(s, id[0], 7, "promise", "{\"date\":\"x\"}", 2600), 0);
    CHECK_INT(store_commit(s), 0);

    /* the planner's scan: prefs parsed back, the active plan with what was paid since */
    const char *chans[] = { "email", "sms" };
    struct store_plan_opts so = { .since = 0, .now = 3000, .channels = chans, .nchannels = 2 };
    struct ss_seen x = { 0 };
    CHECK_INT((int)store_plan_scan(s, &so, ss_scan_cb, &x), 3);
    CHECK(x.has_prefs[0] && !x.has_prefs[1] && !x.has_prefs[2]);
    CHECK(x.prefs[0].human == 1 && x.prefs[0].channel == CHAN_SMS && x.prefs[0].nforbid == 1 &&
          x.prefs[0].forbid[0].kinds == 1u << CHAN_CALL && x.prefs[0].forbid[0].end == 1080 &&
          x.prefs[0].nprefer == 1 && x.prefs[0].due_to == due + 20);
    CHECK_STR(x.prefs[0].language, "es");
    CHECK_INT((int)x.plan_n[1], 3);      /* the newer plan only */
    CHECK_INT(x.plan_paid[1], 4115);     /* paid since it was agreed */
    CHECK_INT((int)x.plan_n[0], 0);
    so.now = 2400; /* the later payment is in the future */
    memset(&x, 0, sizeof(x));
    CHECK_INT((int)store_plan_scan(s, &so, ss_scan_cb, &x), 3);
    CHECK_INT(x.plan_paid[1], 0);

    /* the page's view */
    struct ss_view_seen v = { 0 };
    CHECK_INT(store_ss_view_get(s, "P1", 7, 0, ss_view_cb, &v), 0);
    CHECK(v.calls == 1 && v.commit_code == 8 && v.commit_date == due + 40 && v.nforbid == 1);
    CHECK_STR(v.language, "es");
    memset(&v, 0, sizeof(v));
    CHECK_INT(store_ss_view_get(s, "P1", 8, 0, ss_view_cb, &v), 0);
    CHECK_INT(v.commit_code, -1); /* another link: nothing done with it */
    CHECK_INT(store_ss_view_get(s, "P2", 8, 0, ss_view_cb, &v), 0);
    CHECK(v.plan_n == 3 && v.plan_paid == 4115);
    CHECK_INT(store_ss_view_get(s, "nobody", 8, 0, ss_view_cb, &v), -ENOENT);
    char loc[16];
    CHECK_INT(store_ss_locale(s, "P1", loc, sizeof(loc)), 0);
    CHECK_STR(loc, "es");
    CHECK_INT(store_ss_locale(s, "nobody", loc, sizeof(loc)), -ENOENT);

    /* a run's jobs: the stated language, the moved due date */
    int64_t run, aid;
    bool rerun;
    CHECK_INT(store_run_begin(s, 20400, 3000, &run, &rerun), 0);
    struct store_attempt_new a = { .debtor_id = id[0], .run_id = run, .key = "k-ss",
                                   .strategy = "early", .variant = "a", .tier = "t1",
                                   .channel = "sms", .kind = CHAN_SMS, .scheduled_at = 5000,
                                   .created_at = 3000 };
    CHECK_INT(store_attempt_add(s, &a, &aid), 0);
    struct dispatch_seen d = { 0 };
    CHECK_INT(store_run_attempts(s, run, ATTEMPT_PLANNED, 0, 10, dispatch_cb, &d), 1);
    CHECK_STR(d.locale, "es");
    CHECK_INT(d.due, due + 20);
    store_free(s);
    /* one active plan per debtor; the log kept */
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "test \"$(sqlite3 %s 'SELECT group_concat(status) FROM payment_plans;"
             " SELECT count(*) FROM plan_instalments; SELECT action FROM selfservice_actions')\""
             " = \"$(printf '1,0\\n7\\npromise')\"",
             db_path("ss.db"));
    CHECK_INT(system(cmd), 0);
}

TEST_MAIN({ "open_migrate", test_open_migrate },
          { "not_a_store", test_not_a_store }, { "refuse_foreign", test_refuse_foreign },
          { "import_constraint", test_import_constraint }, { "upsert", test_upsert },
          { "imports", test_imports }, { "plan_scan", test_plan_scan },
          { "outcomes_incremental", test_outcomes_incremental },
          { "outcomes_batch_recompute", test_outcomes_batch_recompute },
          { "migrate_v6_outcomes", test_migrate_v6_outcomes },
          { "inbound_lookups", test_inbound_lookups },
          { "selfservice_rows", test_selfservice_rows })
