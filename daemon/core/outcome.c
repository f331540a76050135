/*
 * outcome.c - the outcome table (outcome.h).
 */
#include "outcome.h"

#include <string.h>
#include <strings.h>

#include "strategy.h"
#include "util.h"

#define K(k) (1u << (k))
#define ALL_BUT_CALLS (K(CHAN_EMAIL) | K(CHAN_SMS) | K(CHAN_CHAT) | K(CHAN_LETTER))
#define EVERY_KIND (ALL_BUT_CALLS | K(CHAN_CALL))

static const struct outcome_info table[_OUTCOME_MAX] = {
    /*                          name            reaction                         reach          stop */
    [OUTCOME_DELIVERED] =      { "delivered",      -1,                              K(CHAN_LETTER), NULL },
    [OUTCOME_BOUNCED] =        { "bounced",        STRATEGY_OUTCOME_BOUNCED,        0,              NULL },
    [OUTCOME_OPENED] =         { "opened",         -1,                              ALL_BUT_CALLS,  NULL },
    [OUTCOME_CLICKED] =        { "clicked",        -1,                              ALL_BUT_CALLS,  NULL },
    [OUTCOME_REPLIED] =        { "replied",        -1,                              ALL_BUT_CALLS,  NULL },
    [OUTCOME_NO_ANSWER] =      { "no_answer",      -1,                              0,              NULL },
    [OUTCOME_THIRD_PARTY] =    { "third_party",    -1,                              0,              NULL },
    [OUTCOME_RIGHT_PARTY] =    { "right_party",    -1,                              EVERY_KIND,     NULL },
    [OUTCOME_PROMISE_TO_PAY] = { "promise_to_pay", STRATEGY_OUTCOME_PROMISE_TO_PAY, EVERY_KIND,     "promise to pay" },
    [OUTCOME_PAID] =           { "paid",           STRATEGY_OUTCOME_PAID,           EVERY_KIND,     "paid" },
    [OUTCOME_OPT_OUT] =        { "opt_out",        STRATEGY_OUTCOME_OPT_OUT,        ALL_BUT_CALLS,  "opt-out" },
    [OUTCOME_WRONG_NUMBER] =   { "wrong_number",   STRATEGY_OUTCOME_WRONG_NUMBER,   0,              "wrong number" },
    [OUTCOME_DISPUTE] =        { "dispute",        STRATEGY_OUTCOME_DISPUTE,        EVERY_KIND,     "dispute" },
    [OUTCOME_REFUSED] =        { "refused",        STRATEGY_OUTCOME_REFUSED,        EVERY_KIND,     NULL },
    [OUTCOME_FAILED] =         { "failed",         -1,                              0,              NULL },
    /* a plan's instalments are promises: the first pauses like one (planner.c) */
    [OUTCOME_PLAN_AGREED] =    { "plan_agreed",    STRATEGY_OUTCOME_PROMISE_TO_PAY, EVERY_KIND,     "payment plan" },
    [OUTCOME_DUE_DATE_MOVED] = { "due_date_moved", -1,                              EVERY_KIND,     NULL },
    [OUTCOME_PREFERENCES] =    { "preferences",    -1,                              0,              NULL },
};

const struct outcome_info *outcome_info(enum outcome_code c)
{
    return (int)c >= 0 && c < _OUTCOME_MAX ? &table[c] : NULL;
}

const char *outcome_code_to_string(enum outcome_code c)
{
    const struct outcome_info *i = outcome_info(c);
    return i ? i->name : NULL;
}

enum outcome_code outcome_code_from_string(const char *s)
{
    for (int i = 0; s && i < _OUTCOME_MAX; i++)
        if (streq(table[i].name, s))
            return (enum outcome_code)i;
    return _OUTCOME_INVALID;
}

bool outcome_is_reach(enum chan_kind k, enum outcome_code c)
{
    const struct outcome_info *i = outcome_info(c);
    return i && (int)k >= 0 && k < 8 && (i->reach & K(k));
}

int outcome_reaction(enum outcome_code c)
{
    const struct outcome_info *i = outcome_info(c);
    return i ? i->reaction : -1;
}

const char *outcome_stop_reason(enum outcome_code c)
{
    const struct outcome_info *i = outcome_info(c);
    return i ? i->stop : NULL;
}

const char *const ingest_field_names[_INGEST_MAX] = {
    [INGEST_DEBTOR_ID] = "debtor_id",       [INGEST_CHANNEL] = "channel",
    [INGEST_ATTEMPTED_AT] = "attempted_at", [INGEST_OUTCOME] = "outcome",
    [INGEST_AMOUNT] = "amount",             [INGEST_PROMISE_DATE] = "promise_date",
    [INGEST_ATTEMPT_ID] = "attempt_id",     [INGEST_IDEMPOTENCY_KEY] = "idempotency_key",
};

int ingest_field_find(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    for (int i = 0; i < _INGEST_MAX; i++)
        if (strlen(ingest_field_names[i]) == n && strncasecmp(ingest_field_names[i], s, n) == 0)
            return i;
    return -1;
}
