/*
 * loop.c - the daemon's event loop (loop.h).
 *
 * Notifications follow the service manager's datagram protocol: one
 * AF_UNIX datagram of "KEY=VALUE" lines to the socket named by
 * $NOTIFY_SOCKET (a leading '@' names an abstract socket).  A few lines of
 * code, so the daemon does not link libsystemd for it.
 *
 * The lag probe is a 50 ms persistent timer: each firing records how far
 * past its due time it ran.  Anything that blocks the loop (a slow
 * callback, a synchronous write) shows up as lag, in /metrics.
 */
#include "loop.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define LAG_PROBE_MS 50

const double loop_lag_bounds[LOOP_LAG_BUCKETS] = { 0.001, 0.002, 0.005, 0.01, 0.02,
                                                   0.05,  0.1,   1.0,   1e300 };

struct loop {
    struct event_base *base;
    const struct loop_ops *ops;
    void *ud;
    struct event *sigterm, *sigint, *sighup, *sigusr1, *probe, *watchdog;
    int notify_fd;
    struct sockaddr_un notify_addr;
    socklen_t notify_len;
    int64_t probe_due;  /* monotonic ms */
    struct loop_lag lag;
    bool stopping;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct loop *l = arg;
    (void)what;
    if (sig == SIGHUP) {
        if (l->ops && l->ops->reload)
            l->ops->reload(l->ud);
        return;
    }
    if (sig == SIGUSR1) {
        if (l->ops && l->ops->user1)
            l->ops->user1(l->ud);
        return;
    }
    if (l->stopping) {
        log_notice("received %s again while stopping: still finishing the work in flight",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return;
    }
    l->stopping = true;
    log_notice("received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    if (l->ops && l->ops->stop)
        l->ops->stop(l->ud);
    else
        loop_exit(l);
}

static void on_probe(evutil_socket_t fd, short what, void *arg)
{
    struct loop *l = arg;
    (void)fd;
    (void)what;
    int64_t now = mono_ms();
    double lag = now > l->probe_due ? (double)(now - l->probe_due) / 1000.0 : 0.0;
    l->probe_due = now + LAG_PROBE_MS;
    l->lag.count++;
    l->lag.sum += lag;
    if (lag > l->lag.max)
        l->lag.max = lag;
    size_t i = 0;
    while (i + 1 < LOOP_LAG_BUCKETS && lag > loop_lag_bounds[i])
        i++;
    l->lag.buckets[i]++;
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loop_notify(arg, "WATCHDOG=1");
}

/* $NOTIFY_SOCKET, when set and usable. */
static void notify_open(struct loop *l)
{
    const char *p = getenv("NOTIFY_SOCKET");
    l->notify_fd = -1;
    if (isempty(p))
        return;
    size_t n = strlen(p);
    if ((p[0] != '/' && p[0] != '@') || n >= sizeof(l->notify_addr.sun_path)) {
        log_warning("ignoring NOTIFY_SOCKET='%s': not a unix socket path", p);
        return;
    }
    l->notify_addr.sun_family = AF_UNIX;
    memcpy(l->notify_addr.sun_path, p, n);
    if (p[0] == '@')
        l->notify_addr.sun_path[0] = 0;
    l->notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    l->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

/* $WATCHDOG_USEC (for us when $WATCHDOG_PID is unset or ours): ping at half of it. */
static int watchdog_start(struct loop *l)
{
    const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (isempty(us) || l->notify_fd < 0)
        return 0;
    if (!isempty(pid) && strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(us, &end, 10);
    if (errno || *end || v == 0) {
        log_warning("ignoring WATCHDOG_USEC='%s'", us);
        return 0;
    }
    v /= 2;
    struct timeval tv = { (time_t)(v / 1000000), (suseconds_t)(v % 1000000) };
    l->watchdog = event_new(l->base, -1, EV_PERSIST, on_watchdog, l);
    if (!l->watchdog)
        return -ENOMEM;
    return event_add(l->watchdog, &tv) < 0 ? -EIO : 0;
}

int loop_new(const struct loop_ops *ops, void *ud, struct loop **ret)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->ops = ops;
    l->ud = ud;
    l->notify_fd = -1;
    int r = -ENOMEM;
    l->base = event_base_new();
    if (!l->base)
        goto fail;
    l->sigterm = evsignal_new(l->base, SIGTERM, on_signal, l);
    l->sigint = evsignal_new(l->base, SIGINT, on_signal, l);
    l->sighup = evsignal_new(l->base, SIGHUP, on_signal, l);
    l->sigusr1 = evsignal_new(l->base, SIGUSR1, on_signal, l);
    l->probe = event_new(l->base, -1, EV_PERSIST, on_probe, l);
    if (!l->sigterm || !l->sigint || !l->sighup || !l->sigusr1 || !l->probe)
        goto fail;
    struct timeval tv = { 0, LAG_PROBE_MS * 1000 };
    if (event_add(l->sigterm, NULL) < 0 || event_add(l->sigint, NULL) < 0 ||
        event_add(l->sighup, NULL) < 0 || event_add(l->sigusr1, NULL) < 0 ||
        event_add(l->probe, &tv) < 0) {
        r = -EIO;
        goto fail;
    }
    l->probe_due = mono_ms() + LAG_PROBE_MS;
    signal(SIGPIPE, SIG_IGN);
    notify_open(l);
    if ((r = watchdog_start(l)) < 0)
        goto fail;
    *ret = l;
    return 0;
fail:
    loop_free(l);
    return r;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    struct event *ev[] = { l->sigterm, l->sigint, l->sighup, l->sigusr1, l->probe,
                           l->watchdog };
    for (size_t i = 0; i < ELEMENTSOF(ev); i++)
        if (ev[i])
            event_free(ev[i]);
    if (l->notify_fd >= 0)
        close(l->notify_fd);
    if (l->base)
        event_base_free(l->base);
    free(l);
}

struct event_base *loop_base(struct loop *l)
{
    return l->base;
}

int loop_run(struct loop *l)
{
    return event_base_dispatch(l->base) < 0 ? -EIO : 0;
}

void loop_exit(struct loop *l)
{
    event_base_loopexit(l->base, NULL);
}

int loop_notify(struct loop *l, const char *fmt, ...)
{
    if (!l || l->notify_fd < 0)
        return 0;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return -EINVAL;
    if (sendto(l->notify_fd, msg, (size_t)n, MSG_NOSIGNAL,
               (const struct sockaddr *)&l->notify_addr, l->notify_len) < 0)
        return -errno;
    return 0;
}

void loop_lag_get(const struct loop *l, struct loop_lag *ret)
{
    *ret = l->lag;
}
