/* Unit tests for campaign.c: persisted plans are idempotent, dry runs write nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "campaign.h"
#include "testlib.h"
#include "tz.h"

static int count_cb(void *ctx, const struct campaign_decision *d)
{
    int *n = ctx;
    CHECK(d->cand != NULL);
    CHECK(d->channel != NULL);
    (*n)++;
    return 0;
}

static void test_persist_idempotent(void)
{
    char dir[] = "/tmp/cz-test-campaign-XXXXXX", path[128], cfgpath[512], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/c.db", dir);
    snprintf(cfgpath, sizeof(cfgpath), "%s/config/cadenza.yaml",
             getenv("CADENZA_SOURCE_ROOT") ? getenv("CADENZA_SOURCE_ROOT") : ".");
    struct config_overrides ov = { path, NULL };
    struct config *cfg = NULL;
    struct diags d = DIAGS_INIT;
    CHECK_INT(config_load(cfgpath, &ov, &cfg, &d), 0);
    struct strategy_set *set = NULL;
    CHECK_INT(strategy_set_load(cfg, NULL, 0, &set, &d), 0);
    diags_release(&d);
    struct store *s = NULL;
    CHECK_INT(store_open(path, 0, &s, err, sizeof(err)), 0);

    struct debtor_rec r = { 0 };
    r.external_id = "C1";
    r.time_zone = "America/New_York";
    r.country = "US";
    r.email = "c1@example.com";
    r.currency = "USD";
    r.balance_minor = 50000;
    r.due_date = days_from_civil(2026, 11, 10);
    r.preferred_channel = -1;
    r.prefers_human = -1;
    r.row_hash = 1;
    int ch;
    CHECK_INT(store_debtor_upsert(s, &r, 1, &ch), 0);

    int32_t date = days_from_civil(2026, 12, 1);
    struct campaign_opts o = { .date = date, .now = campaign_default_now(date, 0), .seed = 1 };
    struct campaign_stats st;
    int n = 0;
    /* dry run: one decision, nothing written */
    CHECK_INT(campaign_plan_day(s, cfg, set, &o, count_cb, &n, &st), 0);
    CHECK_INT(n, 1);
    CHECK_INT((int)st.attempts_written + (int)st.states_written, 0);
    struct store_status ss;
    CHECK_INT(store_status_get(s, date, &ss), 0);
    CHECK_INT((int)ss.attempts, 0);
    store_status_release(&ss);

    /* persisted: one attempt, state and a transition */
    o.persist = true;
    n = 0;
    CHECK_INT(campaign_plan_day(s, cfg, set, &o, count_cb, &n, &st), 0);
    CHECK_INT(n, 1);
    CHECK_INT((int)st.attempts_written, 1);
    CHECK_INT((int)st.states_written, 1);
    CHECK_INT((int)st.transitions_written, 1);
    /* again: the pending attempt fills the day; nothing new */
    n = 0;
    CHECK_INT(campaign_plan_day(s, cfg, set, &o, count_cb, &n, &st), 0);
    CHECK_INT(n, 0);
    CHECK_INT((int)st.attempts_written, 0);
    CHECK_INT((int)st.by_reason[PLAN_DAILY_LIMIT], 1);
    CHECK_INT(store_status_get(s, date, &ss), 0);
    CHECK_INT((int)ss.attempts, 1);
    store_status_release(&ss);
    int64_t aid, deb;
    CHECK_INT(store_attempt_find(s, "2026-12-01:C1:1", &aid, &deb), 0);

    /* explain reads the stored state back */
    struct sbuf out = SBUF_INIT;
    o.persist = false;
    o.external_id = "C1";
    CHECK_INT(campaign_explain(s, cfg, set, &o, &out), 0);
    CHECK(strstr(sbuf_cstr(&out), "1 attempts in tier") != NULL);
    CHECK(strstr(sbuf_cstr(&out), "no contact: daily limit") != NULL);
    sbuf_release(&out);
    o.external_id = "nope";
    CHECK_INT(campaign_explain(s, cfg, set, &o, &out), -ENOENT);
    sbuf_release(&out);

    store_free(s);
    strategy_set_free(set);
    config_free(cfg);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

/* Does a line of text start with prefix and contain needle? */
static bool line_has(const char *text, const char *prefix, const char *needle)
{
    size_t pl = strlen(prefix);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        if (len >= pl && strncmp(l, prefix, pl) == 0) {
            char buf[512];
            snprintf(buf, sizeof(buf), "%.*s", (int)(len < 511 ? len : 511), l);
            if (strstr(buf, needle))
                return true;
        }
    }
    return false;
}

static int channel_cb(void *ctx, const struct campaign_decision *d)
{
    struct sbuf *b = ctx;
    sbuf_addf(b, "%s;", d->channel ? d->channel : "-");
    return 0;
}

/*
 * Effects of applied outcomes (opt-out, wrong number) are written by a
 * persisted run and honoured by later runs, after applied_until has moved
 * past the outcomes (so the planner no longer re-applies them itself).
 */
static void test_effects_persisted(void)
{
    char dir[] = "/tmp/cz-test-campaign-XXXXXX", path[128], cfgpath[512], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/c.db", dir);
    snprintf(cfgpath, sizeof(cfgpath), "%s/config/cadenza.yaml",
             getenv("CADENZA_SOURCE_ROOT") ? getenv("CADENZA_SOURCE_ROOT") : ".");
    struct config_overrides ov = { path, NULL };
    struct config *cfg = NULL;
    struct diags d = DIAGS_INIT;
    CHECK_INT(config_load(cfgpath, &ov, &cfg, &d), 0);
    struct strategy_set *set = NULL;
    CHECK_INT(strategy_set_load(cfg, NULL, 0, &set, &d), 0);
    diags_release(&d);
    struct store *s = NULL;
    CHECK_INT(store_open(path, 0, &s, err, sizeof(err)), 0);

    struct debtor_rec r = { 0 };
    r.external_id = "E1";
    r.time_zone = "America/New_York";
    r.country = "US";
    r.email = "e1@example.com";
    snprintf(r.phone, sizeof(r.phone), "+12125550100");
    r.phone_type = PHONE_MOBILE;
    r.consent[CHAN_EMAIL] = CONSENT_YES;
    r.consent[CHAN_SMS] = CONSENT_YES;
    r.currency = "USD";
    r.balance_minor = 50000;
    r.due_date = days_from_civil(2026, 11, 20);
    r.preferred_channel = -1;
    r.prefers_human = -1;
    r.row_hash = 1;
    int ch;
    CHECK_INT(store_debtor_upsert(s, &r, 1, &ch), 0);
    struct store_debtor_ref ref;
    CHECK_INT(store_debtor_find(s, "E1", &ref), 0);
    CHECK_STR(ref.currency, "USD");

    int32_t date = days_from_civil(2026, 12, 1);
    int64_t t0 = (int64_t)(date - 2) * 86400 + 15 * 3600;
    struct store_outcome oc = {
        .debtor_id = ref.id, .kind = CHAN_EMAIL, .code = OUTCOME_OPT_OUT, .at = t0,
        .source = "test", .dedupe_key = "k1", .counts = true, .reach = true, .how = 10,
        .segment = "", .created_at = t0,
    };
    int added;
    CHECK_INT(store_outcome_add(s, &oc, &added), 0);
    oc.kind = CHAN_SMS;
    oc.code = OUTCOME_WRONG_NUMBER;
    oc.reach = false;
    oc.dedupe_key = "k2";
    CHECK_INT(store_outcome_add(s, &oc, &added), 0);

    /* dry run: the planner applies the outcomes itself and writes nothing */
    struct campaign_opts o = { .date = date, .now = campaign_default_now(date, 0), .seed = 1 };
    struct campaign_stats st;
    struct sbuf chans = SBUF_INIT;
    CHECK_INT(campaign_plan_day(s, cfg, set, &o, channel_cb, &chans, &st), 0);
    CHECK(strstr(sbuf_cstr(&chans), "email") == NULL);
    CHECK(strstr(sbuf_cstr(&chans), "sms") == NULL);
    CHECK_INT((int)st.effects_written, 0);
    struct store_status ss;
    CHECK_INT(store_status_get(s, date, &ss), 0);
    CHECK_INT((int)ss.suppressions, 0);
    store_status_release(&ss);

    /* persisted: email, and the phone for sms and calls, are suppressed */
    o.persist = true;
    sbuf_reset(&chans);
    CHECK_INT(campaign_plan_day(s, cfg, set, &o, channel_cb, &chans, &st), 0);
    CHECK_INT((int)st.effects_written, 3);
    CHECK(strstr(sbuf_cstr(&chans), "email") == NULL);
    CHECK_INT(store_status_get(s, date, &ss), 0);
    CHECK_INT((int)ss.suppressions, 3);
    store_status_release(&ss);
    /* again: nothing new */
    CHECK_INT(campaign_plan_day(s, cfg, set, &o, NULL, NULL, &st), 0);
    CHECK_INT((int)st.effects_written, 0);

    /* two days later the outcomes are behind applied_until: the stored
     * suppressions keep email and sms out */
    struct campaign_opts o2 = { .date = date + 2, .now = campaign_default_now(date + 2, 0),
                                .seed = 1, .external_id = "E1" };
    struct sbuf out = SBUF_INIT;
    CHECK_INT(campaign_explain(s, cfg, set, &o2, &out), 0);
    CHECK(line_has(sbuf_cstr(&out), "  email", "rejected: suppressed"));
    CHECK(line_has(sbuf_cstr(&out), "  sms", "rejected: suppressed"));
    CHECK(!line_has(sbuf_cstr(&out), "  email", "kept"));
    sbuf_release(&out);
    sbuf_release(&chans);

    store_free(s);
    strategy_set_free(set);
    config_free(cfg);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

struct tier_seen {
    char variant[64], tier[64];
};

static int tier_cb(void *ctx, const struct campaign_decision *d)
{
    struct tier_seen *ts = ctx;
    snprintf(ts->variant, sizeof(ts->variant), "%s", d->variant ? d->variant->name : "");
    snprintf(ts->tier, sizeof(ts->tier), "%s", d->tier ? d->tier : "");
    return 0;
}

/* Entering the no-contact track with investigate_address is persisted once. */
static void test_investigate(void)
{
    char dir[] = "/tmp/cz-test-campaign-XXXXXX", path[128], cfgpath[512], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/c.db", dir);
    snprintf(cfgpath, sizeof(cfgpath), "%s/config/cadenza.yaml",
             getenv("CADENZA_SOURCE_ROOT") ? getenv("CADENZA_SOURCE_ROOT") : ".");
    struct config_overrides ov = { path, NULL };
    struct config *cfg = NULL;
    struct diags d = DIAGS_INIT;
    CHECK_INT(config_load(cfgpath, &ov, &cfg, &d), 0);
    struct strategy_set *set = NULL;
    CHECK_INT(strategy_set_load(cfg, NULL, 0, &set, &d), 0);
    diags_release(&d);
    struct store *s = NULL;
    CHECK_INT(store_open(path, 0, &s, err, sizeof(err)), 0);
    struct debtor_rec r = { 0 };
    r.external_id = "I1";
    r.time_zone = "America/New_York";
    r.country = "US";
    r.email = "i1@example.com";
    r.currency = "USD";
    r.balance_minor = 50000;
    r.due_date = days_from_civil(2026, 11, 20);
    r.preferred_channel = -1;
    r.prefers_human = -1;
    r.row_hash = 1;
    int ch;
    CHECK_INT(store_debtor_upsert(s, &r, 1, &ch), 0);
    struct store_debtor_ref ref;
    CHECK_INT(store_debtor_find(s, "I1", &ref), 0);

    int32_t date = days_from_civil(2026, 12, 1);
    struct campaign_opts o = { .date = date, .now = campaign_default_now(date, 0), .seed = 1,
                               .all = true };
    struct campaign_stats st;
    struct tier_seen ts = { "", "" };
    CHECK_INT(campaign_plan_day(s, cfg, set, &o, tier_cb, &ts, &st), 0);
    CHECK_STR(ts.tier, "soft-digital");
    /* ten attempts without a contact so far */
    struct planner_state ps = {
        .strategy = "early-us-uk", .variant = ts.variant, .tier = "soft-digital",
        .tier_entered_at = (int64_t)(date - 5) * 86400, .attempts_in_tier = 3,
        .attempts_since_contact = 10, .attempts_total = 10,
    };
    CHECK_INT(store_state_put(s, ref.id, &ps, 0, 1), 0);
    CHECK_INT(campaign_plan_day(s, cfg, set, &o, tier_cb, &ts, &st), 0);
    CHECK_STR(ts.tier, "no-contact");
    CHECK_INT((int)st.effects_written, 0); /* dry run */
    o.persist = true;
    CHECK_INT(campaign_plan_day(s, cfg, set, &o, tier_cb, &ts, &st), 0);
    CHECK_STR(ts.tier, "no-contact");
    CHECK_INT((int)st.effects_written, 1);
    CHECK_INT(campaign_plan_day(s, cfg, set, &o, tier_cb, &ts, &st), 0);
    CHECK_INT((int)st.effects_written, 0); /* already on the track */
    store_free(s);
    strategy_set_free(set);
    config_free(cfg);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

static struct planner_outcome paid_at(int y, unsigned m, unsigned d)
{
    return (struct planner_outcome){ .at = (int64_t)days_from_civil(y, m, d) * 86400 +
                                           17 * 3600,
                                     .kind = CHAN_EMAIL, .code = OUTCOME_PAID };
}

static void test_payday(void)
{
    struct tz *z = NULL;
    CHECK_INT(tz_load("America/New_York", &z), 0);
    int64_t now = (int64_t)days_from_civil(2026, 12, 1) * 86400;
    struct planner_outcome o[6];
    /* two months, days 15 and 16 -> 15 */
    o[0] = paid_at(2026, 10, 16);
    o[1] = paid_at(2026, 11, 15);
    o[2] = (struct planner_outcome){ .at = o[0].at + 3600, .code = OUTCOME_OPENED };
    CHECK_INT(planner_infer_payday(o, 3, z, now), 15);
    /* one payment, or two in one month, or days far apart: none */
    CHECK_INT(planner_infer_payday(o, 1, z, now), 0);
    o[1] = paid_at(2026, 10, 28);
    CHECK_INT(planner_infer_payday(o, 2, z, now), 0);
    o[1] = paid_at(2026, 11, 25);
    CHECK_INT(planner_infer_payday(o, 2, z, now), 0);
    /* the latest matching pair wins; a payment after now is ignored */
    o[0] = paid_at(2026, 9, 3);
    o[1] = paid_at(2026, 10, 1);
    o[2] = paid_at(2026, 10, 20);
    o[3] = paid_at(2026, 11, 22);
    CHECK_INT(planner_infer_payday(o, 4, z, now), 20);
    o[4] = paid_at(2026, 12, 2);
    o[5] = paid_at(2026, 12, 3);
    CHECK_INT(planner_infer_payday(o, 6, z, now), 20);
    /* month ends (30 Sep, 31 Oct) -> the last day */
    o[0] = paid_at(2026, 9, 30);
    o[1] = paid_at(2026, 10, 31);
    CHECK_INT(planner_infer_payday(o, 2, z, now), -1);
    /* local days: 03:00Z on 19 Nov is the 18th in New York, 3 days from the 15th */
    o[0] = paid_at(2026, 10, 15);
    o[1] = (struct planner_outcome){ .at = (int64_t)days_from_civil(2026, 11, 19) * 86400 +
                                           3 * 3600, .code = OUTCOME_PAID };
    CHECK_INT(planner_infer_payday(o, 2, z, now), 15);
    tz_free(z);
}

struct cells_seen {
    struct model_cell c[8];
    size_t n;
};

static int cells_cb(void *ctx, const struct store_plan_row *row)
{
    struct cells_seen *cs = ctx;
    cs->n = row->ncells < 8 ? row->ncells : 8;
    memcpy(cs->c, row->cells, cs->n * sizeof(cs->c[0]));
    return 0;
}

static const struct model_cell *cell_find(const struct cells_seen *cs, int kind, int how)
{
    for (size_t i = 0; i < cs->n; i++)
        if (cs->c[i].kind == kind && cs->c[i].how == how)
            return &cs->c[i];
    return NULL;
}

/* The planner's packed per-debtor cells follow store_outcome_add() (store.c invariant 4). */
static void test_cells(void)
{
    char dir[] = "/tmp/cz-test-campaign-XXXXXX", path[128], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/c.db", dir);
    struct store *s = NULL;
    CHECK_INT(store_open(path, 0, &s, err, sizeof(err)), 0);
    struct debtor_rec r = { 0 };
    r.external_id = "K1";
    r.time_zone = "Europe/Madrid";
    r.country = "ES";
    r.currency = "EUR";
    r.preferred_channel = -1;
    r.prefers_human = -1;
    r.row_hash = 1;
    int ch, added;
    CHECK_INT(store_debtor_upsert(s, &r, 1, &ch), 0);
    struct store_debtor_ref ref;
    CHECK_INT(store_debtor_find(s, "K1", &ref), 0);
    struct { int kind, how, reach; const char *key, *dk; } in[] = {
        { CHAN_EMAIL, 10, 1, NULL, "a" },  { CHAN_EMAIL, 10, 0, NULL, "b" },
        { CHAN_SMS, 167, 0, "A1", "c" },   { CHAN_SMS, 167, 1, "A1", "d" },
        { CHAN_SMS, 167, 1, "A1", "e" },   { CHAN_CALL, 0, 0, NULL, "f" },
        { CHAN_CALL, 0, 0, NULL, "f" },
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        struct store_outcome o = {
            .debtor_id = ref.id, .kind = in[i].kind, .code = OUTCOME_DELIVERED, .at = 1000,
            .source = "t", .dedupe_key = in[i].dk, .attempt_key = in[i].key, .counts = true,
            .reach = in[i].reach, .how = in[i].how, .segment = "", .created_at = 1,
        };
        CHECK_INT(store_outcome_add(s, &o, &added), 0);
    }
    struct cells_seen cs = { .n = 0 };
    struct store_plan_opts so = { .external_id = "K1" };
    CHECK(store_plan_scan(s, &so, cells_cb, &cs) == 1);
    CHECK_INT((int)cs.n, 3);
    const struct model_cell *c = cell_find(&cs, CHAN_EMAIL, 10);
    CHECK(c && c->attempts == 2 && c->reaches == 1);
    c = cell_find(&cs, CHAN_SMS, 167);
    CHECK(c && c->attempts == 1 && c->reaches == 1);
    c = cell_find(&cs, CHAN_CALL, 0);
    CHECK(c && c->attempts == 1 && c->reaches == 0);
    store_free(s);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

struct seen_outcomes {
    bool seen[_CHAN_KIND_MAX + 1][_OUTCOME_MAX];
    size_t n;
};

static int outcomes_cb(void *ctx, const struct store_plan_row *row)
{
    struct seen_outcomes *so = ctx;
    so->n = row->noutcomes;
    for (size_t i = 0; i < row->noutcomes; i++)
        if (row->outcomes[i].kind <= _CHAN_KIND_MAX && row->outcomes[i].code < _OUTCOME_MAX)
            so->seen[row->outcomes[i].kind][row->outcomes[i].code] = true;
    return 0;
}

/*
 * The planner's scan leaves out only outcomes the planner ignores: every
 * (kind, code) with a reaction or a reach on its kind comes through
 * (store.c's OUTCOME_ACTIVE agrees with outcome_reaction/outcome_is_reach).
 */
static void test_active_outcomes(void)
{
    char dir[] = "/tmp/cz-test-campaign-XXXXXX", path[128], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/c.db", dir);
    struct store *s = NULL;
    CHECK_INT(store_open(path, 0, &s, err, sizeof(err)), 0);
    struct debtor_rec r = { 0 };
    r.external_id = "A1";
    r.time_zone = "UTC";
    r.country = "GB";
    r.currency = "GBP";
    r.preferred_channel = -1;
    r.prefers_human = -1;
    r.row_hash = 1;
    int ch, added;
    CHECK_INT(store_debtor_upsert(s, &r, 1, &ch), 0);
    struct store_debtor_ref ref;
    CHECK_INT(store_debtor_find(s, "A1", &ref), 0);
    int n = 0;
    for (int k = -1; k < _CHAN_KIND_MAX; k++)
        for (int c = 0; c < _OUTCOME_MAX; c++) {
            char dk[32];
            snprintf(dk, sizeof(dk), "%d:%d", k, c);
            struct store_outcome o = {
                .debtor_id = ref.id, .kind = k, .code = c, .at = 100000 + n++,
                .source = "t", .dedupe_key = dk, .segment = "", .created_at = 1,
            };
            CHECK_INT(store_outcome_add(s, &o, &added), 0);
            CHECK_INT(added, 1);
        }
    for (int pass = 0; pass < 2; pass++) {
        struct seen_outcomes so;
        memset(&so, 0, sizeof(so));
        struct store_plan_opts po = { .external_id = "A1", .skip_idle_outcomes = pass == 1 };
        CHECK(store_plan_scan(s, &po, outcomes_cb, &so) == 1);
        if (pass == 0)
            CHECK_INT((int)so.n, n); /* explain: every outcome */
        int kept = 0;
        for (int k = 0; k <= _CHAN_KIND_MAX; k++)
            for (int c = 0; c < _OUTCOME_MAX; c++) {
                bool needed = outcome_reaction((enum outcome_code)c) >= 0 ||
                              (k < _CHAN_KIND_MAX &&
                               outcome_is_reach((enum chan_kind)k, (enum outcome_code)c));
                if (needed && !so.seen[k][c])
                    fprintf(stderr, "kind %d code %d missing\n", k, c);
                CHECK(!needed || so.seen[k][c]);
                kept += so.seen[k][c];
            }
        if (pass == 1) { /* the usual idle ones are left out */
            CHECK(kept < n);
            CHECK(!so.seen[CHAN_CALL][OUTCOME_NO_ANSWER]);
            CHECK(!so.seen[CHAN_EMAIL][OUTCOME_DELIVERED]);
            CHECK(!so.seen[CHAN_SMS][OUTCOME_FAILED]);
            CHECK(so.seen[CHAN_LETTER][OUTCOME_DELIVERED]);
        }
    }
    store_free(s);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

static void test_parse(void)
{
    int64_t t;
    CHECK_INT(campaign_parse_time("2026-03-10T09:30:00Z", 20, &t), 0);
    CHECK(t == (int64_t)days_from_civil(2026, 3, 10) * 86400 + 9 * 3600 + 1800);
    CHECK_INT(campaign_parse_time("2026-03-10T10:30:00.25+01:00", 28, &t), 0);
    CHECK(t == (int64_t)days_from_civil(2026, 3, 10) * 86400 + 9 * 3600 + 1800);
    CHECK_INT(campaign_parse_time("2026-03-10 09:30:00", 19, &t), -EINVAL);
    CHECK_INT(campaign_parse_time("2026-02-30T09:30:00Z", 20, &t), -EINVAL);
    char buf[32];
    campaign_format_utc(t, buf, sizeof(buf));
    CHECK_STR(buf, "2026-03-10T09:30:00Z");
    CHECK(campaign_default_now(100, 0) == 100 * 86400 - 14 * 3600);
    CHECK(campaign_default_now(100, 100 * 86400) == 100 * 86400);

    struct debtor_rec r = { 0 };
    CHECK_INT(campaign_parse_dnc("Mon-Fri 09:00-17:00; Sat,Sun 00:00-24:00", &r), 0);
    CHECK_INT(r.ndnc, 2);
    CHECK_INT(r.dnc[0].weekday_mask, 0x1f);
    CHECK_INT(r.dnc[0].start, 540);
    CHECK_INT(r.dnc[0].end, 1020);
    CHECK_INT(r.dnc[1].weekday_mask, 0x60);
    CHECK_INT(r.dnc[1].end, 1440);
    CHECK_INT(campaign_parse_dnc("Fri-Mon 22:00-24:00", &r), 0);
    CHECK_INT(r.dnc[0].weekday_mask, 0x71);
    CHECK_INT(campaign_parse_dnc("Xyz 09:00-10:00", &r), -EINVAL);
    CHECK_INT(campaign_parse_dnc("09:00-08:00", &r), -EINVAL);
}

TEST_MAIN({ "persist_idempotent", test_persist_idempotent },
          { "effects_persisted", test_effects_persisted },
          { "investigate", test_investigate }, { "payday", test_payday },
          { "cells", test_cells }, { "active_outcomes", test_active_outcomes },
          { "parse", test_parse })
