/* Unit tests for store.c against a real SQLite file in a temp directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

TEST_MAIN({ "open_migrate", test_open_migrate },
          { "not_a_store", test_not_a_store }, { "upsert", test_upsert },
          { "imports", test_imports }, { "plan_scan", test_plan_scan },
          { "outcomes_incremental", test_outcomes_incremental })
