/*
 * loop.h - the daemon's event loop: owns the event_base, the signals,
 * the service manager's notifications (sd_notify protocol, spoken
 * directly over $NOTIFY_SOCKET) and the watchdog, and measures its own
 * lag.  Components (HTTP server, worker, timers) live on loop_base().
 */
#ifndef CADENZA_LOOP_H
#define CADENZA_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct event_base;
struct loop;

struct loop_ops {
    void (*stop)(void *ud);   /* SIGTERM or SIGINT: begin a clean stop (once) */
    void (*reload)(void *ud); /* SIGHUP */
    void (*user1)(void *ud);  /* SIGUSR1 (NULL: ignored) */
};

/* Lag: how late the loop's 50 ms probe timer fires (a loop that blocks shows it). */
#define LOOP_LAG_BUCKETS 9
extern const double loop_lag_bounds[LOOP_LAG_BUCKETS]; /* seconds, the last is +Inf */
struct loop_lag {
    uint64_t count;
    double sum;                          /* seconds */
    double max;                          /* seconds, since start */
    uint64_t buckets[LOOP_LAG_BUCKETS];  /* cumulative-free: observations per bucket */
};

int loop_new(const struct loop_ops *ops, void *ud, struct loop **ret);
void loop_free(struct loop *l);
struct event_base *loop_base(struct loop *l);

/* Run until loop_exit(); 0 or -errno. */
int loop_run(struct loop *l);
void loop_exit(struct loop *l);

/*
 * Tell the service manager (no-op without $NOTIFY_SOCKET): "READY=1",
 * "RELOADING=1", "STOPPING=1", "STATUS=...".  The watchdog, when
 * $WATCHDOG_USEC asks for one, is pinged from the loop itself at half the
 * interval, so a blocked loop gets the service restarted.  0 or -errno.
 */
int loop_notify(struct loop *l, const char *fmt, ...) _printf_(2, 3);

/* The lag histogram so far. */
void loop_lag_get(const struct loop *l, struct loop_lag *ret);

#endif
