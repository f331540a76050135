/*
 * test-timeline.c - a debtor's timeline (GET /v1/debtors/{id}): personal
 * data masked, the JSON of a debtor with a state, attempts (a run's and a
 * re-plan's), an outcome, a transition and a suppression, newest first
 * and bounded by the limit; an unknown debtor.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "store.h"
#include "testlib.h"
#include "timeline.h"
#include "tz.h"
#include "util.h"

static const char *mask(int kind, const char *s)
{
    static struct sbuf b = SBUF_INIT;
    sbuf_reset(&b);
    CHECK_INT(kind < 0 ? timeline_mask_name(s, &b) : timeline_mask_address(kind, s, &b), 0);
    return b.buf ? b.buf : "";
}

static void test_mask(void)
{
    CHECK_STR(mask(-1, "Dana Quinn"), "D*** Q***");
    CHECK_STR(mask(-1, "Ana-María O'Neil"), "A***-M*** O***'N***");
    CHECK_STR(mask(-1, "Élodie Durand"), "É*** D***"); /* a whole first character */
    CHECK_STR(mask(CHAN_EMAIL, "dana.quinn@mail.example"), "d*********@mail.example");
    CHECK_STR(mask(CHAN_SMS, "+447911123459"), "+447******459");
    CHECK_STR(mask(CHAN_CHAT, "@dq3"), "@***");
    CHECK_STR(mask(CHAN_LETTER, "T003"), "T003");
}

static void test_json(void)
{
    char dir[] = "/tmp/test-timeline-XXXXXX", path[64], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/t.db", dir);
    struct store *s = NULL;
    CHECK_INT(store_open(path, 0, &s, err, sizeof(err)), 0);
    if (!s)
        return;
    struct debtor_rec d = { .external_id = "T1", .name = "Dana Quinn",
                            .time_zone = "Europe/London", .country = "GB",
                            .email = "dana@mail.example", .currency = "GBP",
                            .balance_minor = 12050, .due_date = 20423, .preferred_channel = -1,
                            .prefers_human = -1 };
    snprintf(d.phone, sizeof(d.phone), "+447911123459");
    int changed;
    CHECK_INT(store_begin(s), 0);
    CHECK_INT(store_debtor_upsert(s, &d, 1000, &changed), 0);
    struct store_debtor_ref ref;
    CHECK_INT(store_debtor_find(s, "T1", &ref), 0);
    struct planner_state st = { .strategy = "t-gb", .variant = "default", .tier = "digital",
                                .tier_entered_at = 1796637600 };
    CHECK_INT(store_state_put(s, ref.id, &st, 0, 1796637600), 0);
    CHECK_INT(store_transition_add(s, ref.id, "t-gb", NULL, "digital", 1796637600,
                                   "entered strategy 't-gb' at dpd 6"), 0);
    int64_t run_id, a1, a2;
    bool rerun;
    CHECK_INT(store_run_begin(s, 20794, 1796637600, &run_id, &rerun), 0);
    struct store_attempt_new an = {
        .debtor_id = ref.id, .run_id = run_id, .key = "2026-12-07:T1:1", .strategy = "t-gb",
        .variant = "default", .tier = "digital", .channel = "email",
        .template_name = "early-email", .kind = CHAN_EMAIL, .scheduled_at = 1796637600,
        .not_after = 1796641200, .created_at = 1796637600, .p_choice = 0.5,
    };
    CHECK_INT(store_attempt_add(s, &an, &a1), 0);
    an.run_id = 0; /* a re-plan's */
    an.key = "2026-12-07:T1:2";
    an.channel = "sms";
    an.kind = CHAN_SMS;
    an.scheduled_at += 60;
    CHECK_INT(store_attempt_add(s, &an, &a2), 0);
    struct store_outcome o = { .debtor_id = ref.id, .attempt_id = a1, .kind = CHAN_EMAIL,
                               .code = 1 /* bounced */, .at = 1796637630, .source = "api",
                               .dedupe_key = "api:b-1", .segment = "" };
    int added;
    CHECK_INT(store_outcome_add(s, &o, &added), 0);
    CHECK_INT(store_suppression_add(s, ref.id, CHAN_EMAIL, "dana@mail.example",
                                    "invalid address", 1796637630, &added), 0);
    CHECK_INT(store_commit(s), 0);

    struct tz_cache *zones = tz_cache_new();
    struct sbuf b = SBUF_INIT;
    CHECK_INT(timeline_json(s, zones, "T1", 100, &b), 0);
    json_error_t je;
    json_t *j = json_loads(b.buf ? b.buf : "", 0, &je);
    CHECK(j != NULL);
    json_t *deb = json_object_get(j, "debtor");
    CHECK_STR(json_string_value(json_object_get(deb, "name")), "D*** Q***");
    CHECK_STR(json_string_value(json_object_get(deb, "email")), "d***@mail.example");
    CHECK_STR(json_string_value(json_object_get(deb, "balance")), "120.50");
    CHECK(strstr(b.buf ? b.buf : "", "dana@") == NULL); /* no full address anywhere */
    json_t *att = json_object_get(j, "attempts");
    CHECK_INT(json_array_size(att), 2);
    json_t *x0 = json_array_get(att, 0), *x1 = json_array_get(att, 1);
    CHECK_STR(json_string_value(json_object_get(x0, "channel")), "sms"); /* newest first */
    CHECK_STR(json_string_value(json_object_get(x0, "planned_by")), "re-plan after news");
    CHECK_STR(json_string_value(json_object_get(x1, "planned_by")), "daily run of 2026-12-07");
    json_t *why = json_object_get(x1, "allowed_by");
    CHECK_STR(json_string_value(json_object_get(why, "tier")), "digital");
    CHECK(json_real_value(json_object_get(why, "p_choice")) == 0.5);
    CHECK_STR(json_string_value(json_object_get(why, "rule")),
              "strategy 't-gb' (variant 'default'), tier 'digital' lists channel 'email' "
              "(template 'early-email'); the slot 10:00-11:00 Europe/London was inside the "
              "tier's window and the legal hours, and no cap, gap or daily limit refused it");
    CHECK_STR(json_string_value(json_object_get(x1, "scheduled_local")),
              "2026-12-07T10:00:00+00:00");
    json_t *oc = json_array_get(json_object_get(j, "outcomes"), 0);
    CHECK_STR(json_string_value(json_object_get(oc, "outcome")), "bounced");
    CHECK_INT(json_integer_value(json_object_get(oc, "attempt_id")), a1);
    json_t *tr = json_array_get(json_object_get(j, "transitions"), 0);
    CHECK_STR(json_string_value(json_object_get(tr, "to")), "digital");
    CHECK(json_is_null(json_object_get(tr, "from")));
    json_t *sp = json_array_get(json_object_get(j, "suppressions"), 0);
    CHECK_STR(json_string_value(json_object_get(sp, "address")), "d***@mail.example");
    json_decref(j);

    /* the limit bounds every list */
    sbuf_reset(&b);
    CHECK_INT(timeline_json(s, zones, "T1", 1, &b), 0);
    j = json_loads(b.buf ? b.buf : "", 0, &je);
    CHECK_INT(json_array_size(json_object_get(j, "attempts")), 1);
    json_decref(j);
    /* an unknown debtor */
    sbuf_reset(&b);
    CHECK_INT(timeline_json(s, zones, "NOBODY", 100, &b), -ENOENT);
    sbuf_release(&b);
    tz_cache_free(zones);
    store_free(s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_INT(system(cmd), 0);
}

TEST_MAIN({ "mask", test_mask }, { "json", test_json })
