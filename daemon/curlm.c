/*
 * curlm.c - libcurl's multi interface on a libevent loop (see curlm.h).
 *
 * Owns: the multi handle, one event per socket libcurl asked us to watch,
 * the timer libcurl asked for, and one record per transfer (its callback).
 * Must never: call curl_multi_socket_action() from inside a libcurl
 * callback, or call a transfer's done twice.
 *
 *   curlm_add ──► RUNNING ──(loop: socket or timer event)──► socket_action
 *                    │                                           │
 *                    └── curlm_cancel: removed, no callback      ▼
 *                                                   DONE (multi_info_read)
 *                                                   removed, then done()
 *
 * Invariants:
 *  1. A transfer's done runs exactly once, from check_done(), after the
 *     easy handle left the multi handle (so done may free it or reuse it).
 *  2. Socket events exist exactly for the sockets libcurl is watching:
 *     created on CURL_POLL_IN/OUT/INOUT, freed on CURL_POLL_REMOVE.
 */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

#include "curlm.h"

struct xfer {
    CURL *easy;
    curlm_done_fn done;
    void *userdata;
};

struct sock {
    struct curlm *m;
    curl_socket_t fd;
    struct event *ev;
};

struct curlm {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    unsigned running;
};

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void check_done(struct curlm *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        struct xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(m->multi, easy);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        m->running--;
        if (x) {
            curlm_done_fn done = x->done;
            void *ud = x->userdata;
            free(x);
            done(ud, easy, res); /* invariant 1 */
        }
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct sock *s = arg;
    struct curlm *m = s->m;
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(m->multi, fd, flags, &running);
    check_done(m);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct curlm *m = arg;
    int running;
    curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(m);
}

/* CURLMOPT_SOCKETFUNCTION (invariant 2) */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct curlm *m = userp;
    struct sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            event_free(s->ev);
            free(s);
            curl_multi_assign(m->multi, fd, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
                 (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->m = m;
        s->fd = fd;
        curl_multi_assign(m->multi, fd, s);
    } else if (s->ev) {
        event_free(s->ev);
        s->ev = NULL;
    }
    s->ev = event_new(m->base, fd, kind, on_socket_event, s);
    if (!s->ev || event_add(s->ev, NULL) < 0)
        return -1;
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 removes the timer, 0 means "act now" (from the loop) */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct curlm *m = userp;
    if (timeout_ms < 0) {
        evtimer_del(m->timer);
        return 0;
    }
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    return evtimer_add(m->timer, &tv) < 0 ? -1 : 0;
}

int curlm_new(struct event_base *base, struct curlm **ret)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, global_init);
    struct curlm *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->base = base;
    m->multi = curl_multi_init();
    m->timer = evtimer_new(base, on_timer, m);
    if (!m->multi || !m->timer) {
        curlm_free(m);
        return -ENOMEM;
    }
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    /* reuse connections to a provider; keep enough of them for a busy worker */
    curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, 256L);
    *ret = m;
    return 0;
}

void curlm_cancel(struct curlm *m, CURL *easy)
{
    struct xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (!x)
        return;
    curl_multi_remove_handle(m->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    m->running--;
    free(x);
}

void curlm_free(struct curlm *m)
{
    if (!m)
        return;
    /* the transfers' owners cancelled theirs; the multi handle frees its sockets */
    if (m->multi)
        curl_multi_cleanup(m->multi);
    if (m->timer)
        event_free(m->timer);
    free(m);
}

int curlm_add(struct curlm *m, CURL *easy, curlm_done_fn done, void *userdata)
{
    struct xfer *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->easy = easy;
    x->done = done;
    x->userdata = userdata;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(m->multi, easy) != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(x);
        return -EINVAL;
    }
    m->running++;
    return 0;
}

unsigned curlm_running(const struct curlm *m)
{
    return m ? m->running : 0;
}
