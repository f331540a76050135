/*
 * test-ratelimit.c - bounded token buckets (ratelimit.c): a minute's
 * worth passes, the next waits and is told how long, the bucket refills
 * at the rate, keys are apart, 0 is no limit, and a table flooded with
 * strangers stays within its memory and never blocks a new key.
 */
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"
#include "testlib.h"

static void test_limit(void)
{
    struct ratelimit *rl = ratelimit_new(64, 42);
    CHECK(rl != NULL);
    if (!rl)
        return;
    int64_t t = 1000000;
    int wait = 0;
    for (int i = 0; i < 30; i++)
        CHECK(ratelimit_take(rl, "token-a", 7, 30, t, &wait));
    CHECK(!ratelimit_take(rl, "token-a", 7, 30, t, &wait));
    CHECK_INT(wait, 2); /* one token per 2 s at 30 a minute */
    CHECK(ratelimit_take(rl, "token-b", 7, 30, t, &wait)); /* another key */
    CHECK(!ratelimit_take(rl, "token-a", 7, 30, t + 1000, &wait));
    CHECK(ratelimit_take(rl, "token-a", 7, 30, t + 2000, &wait));
    CHECK(!ratelimit_take(rl, "token-a", 7, 30, t + 2000, &wait));
    /* a minute later: a full bucket again, no more */
    int ok = 0;
    for (int i = 0; i < 100; i++)
        ok += ratelimit_take(rl, "token-a", 7, 30, t + 62000, NULL);
    CHECK_INT(ok, 30);
    for (int i = 0; i < 1000; i++)
        CHECK(ratelimit_take(rl, "x", 1, 0, t, NULL)); /* 0: no limit */
    ratelimit_free(rl);
}

static void test_bounded(void)
{
    struct ratelimit *rl = ratelimit_new(64, 7);
    int64_t t = 5000;
    char k[32];
    /* exhaust one key, then flood the table with strangers */
    for (int i = 0; i < 5; i++)
        ratelimit_take(rl, "victim", 6, 5, t, NULL);
    CHECK(!ratelimit_take(rl, "victim", 6, 5, t, NULL));
    int refused = 0;
    for (int i = 0; i < 100000; i++) {
        snprintf(k, sizeof(k), "stranger-%d", i);
        refused += !ratelimit_take(rl, k, strlen(k), 5, t + i, NULL);
    }
    CHECK_INT(refused, 0); /* a new key is never blocked by the others */
    ratelimit_free(rl);
    ratelimit_free(NULL);
}

TEST_MAIN({ "limit", test_limit }, { "bounded", test_bounded })
