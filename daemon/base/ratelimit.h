/*
 * ratelimit.h - bounded in-memory request limits (token buckets), for the
 * self-service page: so many requests per minute per key (a client
 * address, a link), with a minute's worth as the burst.  A fixed table:
 * memory never grows; when it is full the least recently used of a few
 * candidate entries is forgotten (a forgotten key starts with a full
 * bucket, which only ever lets more through, never blocks a stranger).
 * Pure: the time is an argument.  Not thread-safe (the loop's).
 */
#ifndef CADENZA_RATELIMIT_H
#define CADENZA_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* A table of `slots` entries (rounded up to a power of two, at least 64); keys
 * are hashed with seed (draw it at random: nobody can aim collisions).  NULL on OOM. */
struct ratelimit *ratelimit_new(size_t slots, uint64_t seed);
void ratelimit_free(struct ratelimit *rl);

/*
 * Take one request for key[0..n) at now_ms under per_minute (0: no
 * limit).  true: allowed; false: refused, and *ret_retry_s (may be NULL)
 * is the seconds until one more would be (at least 1).
 */
bool ratelimit_take(struct ratelimit *rl, const void *key, size_t n, int per_minute,
                    int64_t now_ms, int *ret_retry_s);

#endif
