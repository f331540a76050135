/*
 * ratelimit.c - bounded token buckets (ratelimit.h).
 *
 * Owns: one table of slots, allocated once.  Never: allocates after
 * ratelimit_new(), reads the clock.
 *
 * Invariants:
 *  1. A key lives in one of PROBE consecutive slots from its hash; a new
 *     key takes a free one or the least recently used of them.
 *  2. A bucket holds at most per_minute tokens and refills at per_minute
 *     per 60 s: at most per_minute requests pass in any first minute, and
 *     per_minute per minute in the long run.
 */
#include "ratelimit.h"

#include <stdlib.h>

#include "util.h"

#define PROBE 4

struct slot {
    uint64_t key;     /* hash; 0: free */
    int64_t last_ms;  /* last refill */
    double tokens;
};

struct ratelimit {
    struct slot *v;
    size_t mask;
    uint64_t seed;
};

struct ratelimit *ratelimit_new(size_t slots, uint64_t seed)
{
    size_t n = 64;
    while (n < slots && n < ((size_t)1 << 24))
        n <<= 1;
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl || !(rl->v = calloc(n, sizeof(*rl->v)))) {
        free(rl);
        return NULL;
    }
    rl->mask = n - 1;
    rl->seed = seed;
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    free(rl->v);
    free(rl);
}

bool ratelimit_take(struct ratelimit *rl, const void *key, size_t n, int per_minute,
                    int64_t now_ms, int *ret_retry_s)
{
    if (per_minute <= 0)
        return true;
    uint64_t h = hash64(key, n, rl->seed) | 1; /* never 0: 0 marks a free slot */
    struct slot *s = NULL, *victim = NULL;
    for (size_t i = 0; i < PROBE && !s; i++) {
        struct slot *c = &rl->v[(h + i) & rl->mask];
        if (c->key == h)
            s = c;
        else if (!victim || (victim->key && (!c->key || c->last_ms < victim->last_ms)))
            victim = c;
    }
    if (!s) {
        /* invariant 1: a free slot, or the least recently used */
        s = victim;
        s->key = h;
        s->tokens = per_minute;
        s->last_ms = now_ms;
    }
    double cap = per_minute;
    if (now_ms > s->last_ms) {
        s->tokens += (double)(now_ms - s->last_ms) * cap / 60000.0;
        if (s->tokens > cap)
            s->tokens = cap; /* invariant 2 */
        s->last_ms = now_ms;
    }
    if (s->tokens >= 1) {
        s->tokens -= 1;
        return true;
    }
    if (ret_retry_s) {
        int w = (int)((1 - s->tokens) * 60.0 / cap + 0.999);
        *ret_retry_s = w < 1 ? 1 : w;
    }
    return false;
}
