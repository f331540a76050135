/*
 * test-outcome.c - the outcome table: names round-trip, and the reach,
 * reaction and stop columns say what docs/schema.md documents.
 */
#include "outcome.h"
#include "strategy.h"
#include "testlib.h"

static void test_names(void)
{
    for (int c = 0; c < _OUTCOME_MAX; c++) {
        const char *n = outcome_code_to_string((enum outcome_code)c);
        CHECK(n != NULL);
        CHECK_INT(outcome_code_from_string(n), c);
    }
    CHECK_INT(outcome_code_from_string("PAID"), _OUTCOME_INVALID);
    CHECK_INT(outcome_code_from_string(NULL), _OUTCOME_INVALID);
    CHECK(outcome_code_to_string(_OUTCOME_MAX) == NULL);
    CHECK(outcome_info((enum outcome_code)-1) == NULL);
}

/* "E S C L V": the kinds email, sms, chat, call, letter where each code is a reach. */
static void test_reach(void)
{
    static const char *const want[_OUTCOME_MAX] = {
        [OUTCOME_DELIVERED] = "....L",    [OUTCOME_BOUNCED] = ".....",
        [OUTCOME_OPENED] = "ESC.L",       [OUTCOME_CLICKED] = "ESC.L",
        [OUTCOME_REPLIED] = "ESC.L",      [OUTCOME_NO_ANSWER] = ".....",
        [OUTCOME_THIRD_PARTY] = ".....",  [OUTCOME_RIGHT_PARTY] = "ESCVL",
        [OUTCOME_PROMISE_TO_PAY] = "ESCVL", [OUTCOME_PAID] = "ESCVL",
        [OUTCOME_OPT_OUT] = "ESC.L",      [OUTCOME_WRONG_NUMBER] = ".....",
        [OUTCOME_DISPUTE] = "ESCVL",      [OUTCOME_REFUSED] = "ESCVL",
        [OUTCOME_FAILED] = ".....",
        [OUTCOME_PLAN_AGREED] = "ESCVL",  [OUTCOME_DUE_DATE_MOVED] = "ESCVL",
        [OUTCOME_PREFERENCES] = ".....",
    };
    static const enum chan_kind kinds[5] = { CHAN_EMAIL, CHAN_SMS, CHAN_CHAT, CHAN_CALL,
                                             CHAN_LETTER };
    for (int c = 0; c < _OUTCOME_MAX; c++) {
        char got[6] = ".....";
        for (int k = 0; k < 5; k++)
            if (outcome_is_reach(kinds[k], (enum outcome_code)c))
                got[k] = "ESCVL"[k];
        if (strcmp(got, want[c]) != 0) {
            fprintf(stderr, "reach of %s: %s, expected %s\n",
                    outcome_code_to_string((enum outcome_code)c), got, want[c]);
            test_failures++;
        }
    }
}

static void test_reactions_and_stops(void)
{
    CHECK_INT(outcome_reaction(OUTCOME_PAID), STRATEGY_OUTCOME_PAID);
    CHECK_INT(outcome_reaction(OUTCOME_BOUNCED), STRATEGY_OUTCOME_BOUNCED);
    CHECK_INT(outcome_reaction(OUTCOME_OPENED), -1);
    CHECK_STR(outcome_stop_reason(OUTCOME_PAID), "paid");
    CHECK_STR(outcome_stop_reason(OUTCOME_OPT_OUT), "opt-out");
    CHECK(outcome_stop_reason(OUTCOME_REFUSED) == NULL);
    CHECK(outcome_stop_reason(OUTCOME_BOUNCED) == NULL); /* the address, not the debtor */
    /* a plan's instalments are promises: it pauses like one and stops queued jobs */
    CHECK_INT(outcome_reaction(OUTCOME_PLAN_AGREED), STRATEGY_OUTCOME_PROMISE_TO_PAY);
    CHECK_STR(outcome_stop_reason(OUTCOME_PLAN_AGREED), "payment plan");
    CHECK_INT(outcome_reaction(OUTCOME_PREFERENCES), -1);
    CHECK(outcome_stop_reason(OUTCOME_PREFERENCES) == NULL);
    /* whatever stops queued jobs also has a strategy reaction (the planner acts on it) */
    for (int c = 0; c < _OUTCOME_MAX; c++)
        if (outcome_stop_reason((enum outcome_code)c))
            CHECK(outcome_reaction((enum outcome_code)c) >= 0);
}

TEST_MAIN({ "names", test_names }, { "reach", test_reach },
          { "reactions_and_stops", test_reactions_and_stops })
