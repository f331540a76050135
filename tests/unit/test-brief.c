/*
 * test-brief.c - the agent brief (daemon/plan/brief.c) from plain data: the
 * last contacts, promises kept, broken and open, payday (imported,
 * inferred, next), flags and tags to script notes through the table,
 * offers (and none when collection is stopped), the compact line's
 * budget and UTF-8 boundary, the JSON forms (parsed back), and the
 * strategy lookup against the shipped strategies; plus the store's side
 * (store_brief_get) on a real store.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brief.h"
#include "debtor.h"
#include "planner.h"
#include "store.h"
#include "testlib.h"
#include "tz.h"

static struct tz *madrid;

static int64_t at(int y, unsigned m, unsigned d, int h)
{
    /* local time in Madrid (CET, UTC+1 in winter; these tests use winter dates) */
    return (int64_t)days_from_civil(y, m, d) * 86400 + (h - 1) * 3600;
}

static int32_t day(int y, unsigned m, unsigned d)
{
    return days_from_civil(y, m, d);
}

static struct brief_input base(void)
{
    return (struct brief_input){
        .debtor_id = "D42",
        .name = "Ana García",
        .locale = "es-ES",
        .currency = "EUR",
        .tz = madrid,
        .balance_minor = 123456,
        .due_date = day(2026, 11, 20),
        .now = at(2026, 12, 7, 10),
        .promise_grace_days = 3,
    };
}

static void test_contacts_and_promises(void)
{
    struct brief_outcome o[] = {
        { at(2026, 11, 21, 10), CHAN_CALL, OUTCOME_NO_ANSWER, 0, false, 0 },
        { at(2026, 11, 22, 10), CHAN_SMS, OUTCOME_DELIVERED, 0, false, 0 },
        /* a promise for Nov 25, paid Nov 27 (within 3 days' grace): kept */
        { at(2026, 11, 23, 18), CHAN_CALL, OUTCOME_PROMISE_TO_PAY, day(2026, 11, 25), true,
          50000 },
        { at(2026, 11, 27, 9), -1, OUTCOME_PAID, 0, true, 50000 },
        /* a promise for Nov 30, nothing paid by Dec 3: broken */
        { at(2026, 11, 28, 11), CHAN_CALL, OUTCOME_PROMISE_TO_PAY, day(2026, 11, 30), false,
          0 },
        { at(2026, 12, 1, 12), CHAN_EMAIL, OUTCOME_OPENED, 0, false, 0 },
        { at(2026, 12, 2, 12), CHAN_EMAIL, OUTCOME_FAILED, 0, false, 0 }, /* not a contact */
        /* a promise for Dec 9, still open */
        { at(2026, 12, 4, 17), CHAN_CALL, OUTCOME_PROMISE_TO_PAY, day(2026, 12, 9), true,
          20000 },
        { at(2026, 12, 9, 10), CHAN_CALL, OUTCOME_RIGHT_PARTY, 0, false, 0 }, /* future */
    };
    struct brief_input in = base();
    in.outcomes = o;
    in.noutcomes = sizeof(o) / sizeof(o[0]);
    struct brief b;
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK(b.has_dpd);
    CHECK_INT(b.dpd, 17);
    CHECK_INT(b.ncontacts, BRIEF_CONTACTS_MAX);
    CHECK_INT(b.contacts[0].at, at(2026, 12, 4, 17)); /* newest first */
    CHECK_INT(b.contacts[1].code, OUTCOME_OPENED);
    CHECK_INT(b.contacts[4].at, at(2026, 11, 22, 10)); /* the oldest drops out */
    CHECK_INT(b.promises_made, 3);
    CHECK_INT(b.promises_kept, 1);
    CHECK_INT(b.promises_broken, 1);
    CHECK_INT(b.promises_open, 1);
    CHECK(b.has_promise);
    CHECK_INT(b.promise.promise_date, day(2026, 12, 9));
    CHECK_INT(b.promise_state, BRIEF_PROMISE_OPEN);
    CHECK(b.has_payment);
    CHECK_INT(b.payment.amount_minor, 50000);
    /* with no grace the Nov 25 promise is broken (paid two days late) */
    in.promise_grace_days = 0;
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_INT(b.promises_kept, 0);
    CHECK_INT(b.promises_broken, 2);

    struct sbuf t = SBUF_INIT;
    in.promise_grace_days = 3;
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_INT(brief_format_text(&b, &t), 0);
    CHECK(strstr(t.buf, "Agent brief: Ana García (D42), language es-ES, as of 2026-12-07 "
                        "(Europe/Madrid)\n") != NULL);
    CHECK(strstr(t.buf, "  balance       1234.56 EUR, 17 days past due (due 2026-11-20)\n"));
    CHECK(strstr(t.buf, "  last contacts 2026-12-04 17:00 call promise_to_pay\n"
                        "                2026-12-01 12:00 email opened\n"));
    CHECK(strstr(t.buf, "  promises      3 made: 1 kept, 1 broken, 1 open; last 200.00 EUR for "
                        "2026-12-09 (open)\n"));
    CHECK(strstr(t.buf, "  last payment  500.00 EUR on 2026-11-27 09:00\n"));
    CHECK(strstr(t.buf, "  offers        none\n"));
    sbuf_release(&t);
}

static void test_payday(void)
{
    struct brief_input in = base();
    struct brief b;
    in.payday = 25;
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_INT(b.next_payday, day(2026, 12, 25));
    CHECK(!b.payday_inferred);
    in.payday = 5; /* passed this month: next month's */
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_INT(b.next_payday, day(2027, 1, 5));
    in.payday = -1; /* the last day */
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_INT(b.next_payday, day(2026, 12, 31));
    in.payday = 31;
    in.now = at(2027, 2, 10, 12); /* 31 in February is its last day */
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_INT(b.next_payday, day(2027, 2, 28));
    /* none imported: inferred from two payments on the same day of two months */
    struct brief_outcome o[] = {
        { at(2026, 10, 28, 9), -1, OUTCOME_PAID, 0, true, 100 },
        { at(2026, 11, 28, 9), -1, OUTCOME_PAID, 0, true, 100 },
    };
    in = base();
    in.outcomes = o;
    in.noutcomes = 2;
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_INT(b.payday, 28);
    CHECK(b.payday_inferred);
    CHECK_INT(b.next_payday, day(2026, 12, 28));
    in.noutcomes = 1; /* one payment says nothing */
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_INT(b.payday, 0);
    CHECK_INT(b.next_payday, 0);
}

static void test_notes_and_offers(void)
{
    struct brief_input in = base();
    struct brief b;
    in.offers = (struct tier_offers){ .plan_max_instalments = 6, .move_due_date = true,
                                      .fee_waiver = true };
    in.payday = 25;
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_INT(b.noffers, 3);
    CHECK_INT(b.offers[0].kind, BRIEF_OFFER_PLAN);
    CHECK_INT(b.offers[0].min_instalment, 20576); /* 1234.56 / 6, rounded up */
    CHECK_INT(b.offers[1].to_date, day(2026, 12, 25));
    CHECK_INT(b.offers[2].kind, BRIEF_OFFER_FEE_WAIVER);
    in.payday = 0;
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_INT(b.offers[1].to_date, 0);
    struct sbuf t = SBUF_INIT;
    CHECK_INT(brief_format_text(&b, &t), 0);
    CHECK(strstr(t.buf, "  offers        payment plan of up to 6 instalments (from 205.76 EUR "
                        "each)\n                move the due date to payday (ask for it)\n"
                        "                waive late fees\n"));
    sbuf_release(&t);

    /* flags and tags become notes in the table's order */
    in.flags = DEBTOR_HARDSHIP | DEBTOR_VULNERABLE;
    in.tags = "promo; Payment_Plan_Broken ;x";
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_INT(b.nnotes, 3);
    CHECK_STR(b.notes[0]->name, "vulnerable");
    CHECK_STR(b.notes[1]->name, "hardship");
    CHECK_STR(b.notes[2]->tag, "payment_plan_broken");
    CHECK(b.stopped_by == NULL);
    CHECK_INT(b.noffers, 3);
    char c[BRIEF_COMPACT_MAX + 1];
    brief_format_compact(&b, c);
    CHECK(strncmp(c, "Ana García (es-ES) | FLAGS vulnerable, hardship, payment plan broken before"
                     " | owes 1234.56 EUR | 17 dpd, due 2026-11-20 | offer plan up to 6",
                  strlen("Ana García (es-ES) | FLAGS vulnerable, hardship, payment plan broken "
                         "before | owes 1234.56 EUR | 17 dpd, due 2026-11-20 | offer plan up "
                         "to 6")) == 0);
    /* a dispute stops collection: no offers, whatever the strategy allows */
    in.flags |= DEBTOR_DISPUTE;
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK_STR(b.notes[0]->name, "dispute");
    CHECK(b.stopped_by == b.notes[0]);
    CHECK_INT(b.noffers, 0);
    brief_format_compact(&b, c);
    CHECK(strstr(c, " | DO NOT COLLECT (dispute)") != NULL);
    CHECK(strstr(c, "offer") == NULL);
    /* every table row has a name and a note; flags are the import's */
    size_t n = 0;
    for (const struct brief_note *r = brief_notes; r->name; r++, n++)
        CHECK(r->note && *r->note && (r->flag || r->tag));
    CHECK(n >= 6);
}

static bool utf8_ok(const char *s)
{
    return utf8_valid(s, strlen(s));
}

static void test_compact_budget(void)
{
    struct brief_input in = base();
    struct brief b;
    char c[BRIEF_COMPACT_MAX + 1];
    /* a name of 200 two-byte characters: cut at 255 bytes, on a character boundary */
    char name[401];
    for (int i = 0; i < 200; i++)
        memcpy(name + 2 * i, "é", 2);
    name[400] = 0;
    in.name = name;
    in.locale = NULL;
    CHECK_INT(brief_build(&in, &b), 0);
    size_t n = brief_format_compact(&b, c);
    CHECK_INT(n, 254);
    CHECK_INT(strlen(c), n);
    CHECK(utf8_ok(c));
    /* three-byte characters, with a locale: still within the budget and whole */
    char wide[601];
    for (int i = 0; i < 200; i++)
        memcpy(wide + 3 * i, "€", 3);
    wide[600] = 0;
    in.name = wide;
    in.locale = "es-ES";
    CHECK_INT(brief_build(&in, &b), 0);
    n = brief_format_compact(&b, c);
    CHECK(n <= BRIEF_COMPACT_MAX && n >= BRIEF_COMPACT_MAX - 2);
    CHECK(utf8_ok(c));
    /* a long brief drops whole parts, the least important first */
    struct brief_outcome o[] = {
        { at(2026, 12, 1, 10), CHAN_CALL, OUTCOME_PROMISE_TO_PAY, day(2026, 12, 3), false, 0 },
        { at(2026, 12, 5, 10), CHAN_CALL, OUTCOME_NO_ANSWER, 0, false, 0 },
    };
    in = base();
    in.name = "Bartholomew Maximilian Fitzgerald-Montgomery de la Cruz y Santamaría";
    in.flags = DEBTOR_VULNERABLE | DEBTOR_HARDSHIP;
    in.tags = "payment_plan_broken;autopay_failed;self_employed;moved_recently";
    in.offers = (struct tier_offers){ 24, true, true };
    in.payday = 25;
    in.tier = "agent-calls-with-a-rather-long-name";
    in.outcomes = o;
    in.noutcomes = 2;
    CHECK_INT(brief_build(&in, &b), 0);
    n = brief_format_compact(&b, c);
    CHECK(n <= BRIEF_COMPACT_MAX);
    CHECK(utf8_ok(c));
    CHECK(strncmp(c, in.name, strlen(in.name)) == 0); /* who, whole */
    CHECK(strstr(c, "FLAGS vulnerable, hardship") != NULL);
    CHECK(strstr(c, "owes 1234.56 EUR") != NULL);
    CHECK(strstr(c, "tier agent-calls") == NULL); /* the last part did not fit */
    /* without a name: the debtor id */
    in = base();
    in.name = "\xff\xfe not UTF-8";
    CHECK_INT(brief_build(&in, &b), 0);
    CHECK(b.name == NULL);
    brief_format_compact(&b, c);
    CHECK(strncmp(c, "D42 (es-ES) | owes", 18) == 0);
}

static void test_json(void)
{
    struct brief_outcome o[] = {
        { at(2026, 11, 23, 18), CHAN_CALL, OUTCOME_PROMISE_TO_PAY, day(2026, 11, 25), true,
          50000 },
        { at(2026, 11, 27, 9), -1, OUTCOME_PAID, 0, true, 50000 },
    };
    struct brief_input in = base();
    in.name = "Ana \"la\" García\\";
    in.outcomes = o;
    in.noutcomes = 2;
    in.flags = DEBTOR_HARDSHIP;
    in.offers = (struct tier_offers){ .plan_max_instalments = 12, .fee_waiver = true };
    in.strategy = "late";
    in.variant = "default";
    in.tier = "calls";
    struct brief b;
    CHECK_INT(brief_build(&in, &b), 0);
    struct sbuf s = SBUF_INIT;
    CHECK_INT(brief_format_json(&b, true, &s), 0);
    json_error_t e;
    json_t *j = json_loads(s.buf, 0, &e);
    CHECK(j != NULL);
    if (!j)
        fprintf(stderr, "%s\n%s\n", e.text, s.buf);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "Ana \"la\" García\\");
    CHECK_STR(json_string_value(json_object_get(j, "balance")), "1234.56");
    CHECK_INT(json_integer_value(json_object_get(j, "days_past_due")), 17);
    CHECK_STR(json_string_value(json_object_get(j, "tier")), "calls");
    json_t *p = json_object_get(j, "promises");
    CHECK_INT(json_integer_value(json_object_get(p, "kept")), 1);
    CHECK_STR(json_string_value(json_object_get(json_object_get(p, "last"), "state")), "kept");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "last_payment"), "at")),
              "2026-11-27T09:00:00+01:00");
    CHECK(json_is_null(json_object_get(j, "payday")));
    json_t *f = json_array_get(json_object_get(j, "flags"), 0);
    CHECK_STR(json_string_value(json_object_get(f, "flag")), "hardship");
    json_t *of = json_object_get(j, "offers");
    CHECK_INT(json_array_size(of), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(of, 0), "min_instalment")),
              "102.88");
    json_t *fields = json_object_get(j, "fields");
    CHECK_STR(json_string_value(json_object_get(fields, "balance")), "1234.56 EUR");
    CHECK_STR(json_string_value(json_object_get(fields, "flags")), "hardship");
    CHECK_STR(json_string_value(json_object_get(fields, "tier")), "late/calls");
    CHECK(strncmp(json_string_value(json_object_get(fields, "script")), "Financial hardship",
                  18) == 0);
    const char *compact = json_string_value(json_object_get(j, "compact"));
    CHECK(compact && strlen(compact) <= BRIEF_COMPACT_MAX);
    json_decref(j);

    /* what a dialer job's inputs carry: three members, valid JSON inside an object */
    sbuf_reset(&s);
    CHECK_INT(sbuf_adds(&s, "{\"name\":\"x\""), 0);
    CHECK_INT(brief_job_inputs(&b, &s), 0);
    CHECK_INT(sbuf_addc(&s, '}'), 0);
    j = json_loads(s.buf, 0, &e);
    CHECK(j != NULL);
    CHECK(json_is_object(json_object_get(j, "brief")));
    CHECK(json_object_get(json_object_get(j, "brief"), "compact") == NULL);
    CHECK(json_is_object(json_object_get(j, "brief_fields")));
    CHECK(json_is_string(json_object_get(j, "brief_text")));
    json_decref(j);
    sbuf_release(&s);
    struct brief_input bad = base();
    bad.tz = NULL;
    CHECK_INT(brief_build(&bad, &b), -EINVAL);
}

static const char *srcroot(void)
{
    const char *r = getenv("CADENZA_SOURCE_ROOT");
    return r ? r : ".";
}

/* The tier's offers: the contact state's names, else what the planner would pick. */
static void test_strategy(void)
{
    char cfgpath[512];
    snprintf(cfgpath, sizeof(cfgpath), "%s/config/cadenza.yaml", srcroot());
    struct config *cfg = NULL;
    struct diags d = DIAGS_INIT;
    CHECK_INT(config_load(cfgpath, NULL, &cfg, &d), 0);
    struct strategy_set *set = NULL;
    CHECK_INT(strategy_set_load(cfg, NULL, 0, &set, &d), 0);
    diags_print(&d, stderr);
    diags_release(&d);
    if (!set) {
        config_free(cfg);
        return;
    }
    struct debtor_rec r = { .external_id = "D1", .country = "ES", .currency = "EUR",
                            .balance_minor = 10000, .preferred_channel = -1,
                            .prefers_human = -1 };
    struct brief_input in = { 0 };
    brief_strategy(set, &r, 100, "mid", "default", "agent-calls", &in);
    CHECK_STR(in.strategy, "mid");
    CHECK_STR(in.tier, "agent-calls");
    CHECK_INT(in.offers.plan_max_instalments, 6);
    CHECK(in.offers.move_due_date && !in.offers.fee_waiver);
    CHECK_INT(in.promise_grace_days, 3);
    /* a name the set no longer has: the strategy matching at dpd 120, its start tier */
    brief_strategy(set, &r, 120, "gone", "default", "x", &in);
    CHECK_STR(in.strategy, "late");
    CHECK_STR(in.tier, "calls");
    CHECK_INT(in.offers.plan_max_instalments, 12);
    CHECK(in.offers.fee_waiver);
    CHECK_INT(in.promise_grace_days, 5);
    /* hardship matches first */
    r.flags = DEBTOR_HARDSHIP;
    brief_strategy(set, &r, 120, NULL, NULL, NULL, &in);
    CHECK_STR(in.strategy, "hardship");
    CHECK_INT(in.offers.plan_max_instalments, 24);
    /* nothing matches (a dispute is excluded everywhere... or no set) */
    brief_strategy(NULL, &r, 120, "mid", "default", "agent-calls", &in);
    CHECK(in.strategy == NULL && in.offers.plan_max_instalments == 0);
    strategy_set_free(set);
    config_free(cfg);
}

struct got {
    int calls;
    char name[64], strategy[32];
    size_t n;
    int64_t first_at;
    int32_t due;
};

static int got_cb(void *ctx, const struct store_brief_row *row)
{
    struct got *g = ctx;
    g->calls++;
    snprintf(g->name, sizeof(g->name), "%s", row->rec.name ? row->rec.name : "");
    snprintf(g->strategy, sizeof(g->strategy), "%s", row->strategy ? row->strategy : "-");
    g->n = row->noutcomes;
    g->first_at = row->noutcomes ? row->outcomes[0].at : 0;
    g->due = row->rec.due_date;
    return 7;
}

static void test_store(void)
{
    char dir[] = "/tmp/cz-test-brief-XXXXXX", path[128], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/c.db", dir);
    struct store *s = NULL;
    CHECK_INT(store_open(path, 0, &s, err, sizeof(err)), 0);
    if (!s)
        return;
    struct debtor_rec r = { .external_id = "B1", .name = "Bea", .time_zone = "Europe/Madrid",
                            .country = "ES", .currency = "EUR", .balance_minor = 100,
                            .due_date = INT32_MIN, .preferred_channel = -1,
                            .prefers_human = -1, .row_hash = 1 };
    strcpy(r.phone, "+34600000001");
    int ch;
    CHECK_INT(store_debtor_upsert(s, &r, 1, &ch), 0);
    CHECK_INT(store_begin(s), 0);
    for (int i = 0; i < BRIEF_OUTCOMES_MAX + 10; i++) {
        struct store_outcome o = { .debtor_id = 1, .kind = CHAN_CALL, .code = OUTCOME_NO_ANSWER,
                                   .at = 1000000 + i, .source = "test", .segment = "",
                                   .dedupe_hash = (uint64_t)i + 1, .created_at = 1 };
        int added;
        CHECK_INT(store_outcome_add(s, &o, &added), 0);
    }
    CHECK_INT(store_commit(s), 0);
    struct got g = { 0 };
    CHECK_INT(store_brief_get(s, 0, "B1", 0, got_cb, &g), 7);
    CHECK_INT(g.calls, 1);
    CHECK_STR(g.name, "Bea");
    CHECK_STR(g.strategy, "-");
    CHECK_INT(g.n, BRIEF_OUTCOMES_MAX);             /* the newest only */
    CHECK_INT(g.first_at, 1000000 + BRIEF_OUTCOMES_MAX + 9);
    CHECK_INT(g.due, INT32_MIN);                    /* no due date */
    memset(&g, 0, sizeof(g));
    CHECK_INT(store_brief_get(s, 1, NULL, 1000000 + BRIEF_OUTCOMES_MAX + 5, got_cb, &g), 7);
    CHECK_INT(g.n, 5);                              /* since */
    CHECK_INT(store_brief_get(s, 0, "nobody", 0, got_cb, &g), -ENOENT);
    store_free(s);
    unlink(path);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
    rmdir(dir);
}

static void setup(void)
{
    if (!madrid && tz_load("Europe/Madrid", &madrid) < 0) {
        fprintf(stderr, "cannot load Europe/Madrid\n");
        exit(1);
    }
}

static void t_contacts(void) { setup(); test_contacts_and_promises(); }
static void t_payday(void) { setup(); test_payday(); }
static void t_notes(void) { setup(); test_notes_and_offers(); }
static void t_compact(void) { setup(); test_compact_budget(); }
static void t_json(void) { setup(); test_json(); }

TEST_MAIN({ "contacts_and_promises", t_contacts }, { "payday", t_payday },
          { "notes_and_offers", t_notes }, { "compact_budget", t_compact }, { "json", t_json },
          { "strategy", test_strategy }, { "store", test_store })
