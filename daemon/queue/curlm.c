/*
 * curlm.c - libcurl's multi interface on a libevent loop (see curlm.h).
 *
 * Owns: the multi handle, one event per socket libcurl asked us to watch
 * (or parked, below), the timer libcurl asked for, and one record per
 * transfer (its callback).  Must never: call curl_multi_socket_action()
 * from inside a libcurl callback, or call a transfer's done twice.
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
 *  2. The loop watches every socket libcurl asks it to watch, for what
 *     libcurl asks (CURL_POLL_IN/OUT/INOUT).  A record libcurl may still
 *     name (socketp) is never freed.
 *  3. Parking: an *established* socket keeps its registration when
 *     libcurl stops watching it (CURL_POLL_REMOVE: its connection went
 *     back to the cache), so the next request on that connection costs no
 *     epoll_ctl() to remove and add it again.  Established means: opened
 *     by open_cb() and the connection of a transfer that finished and left
 *     it open (CURLINFO_ACTIVESOCKET); libcurl closes such a socket only
 *     through close_cb(), which unregisters it first, so no registration
 *     outlives its socket.  A parked socket that turns readable (the
 *     server closed the idle connection) is unregistered without telling
 *     libcurl, which finds the connection dead when it looks.  Any other
 *     socket (a connect attempt libcurl may close on its own, the
 *     resolver's) is registered afresh on every change and unregistered on
 *     CURL_POLL_REMOVE, as libcurl's documentation asks.
 */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "curlm.h"

struct xfer {
    CURL *easy;
    curlm_done_fn done;
    void *userdata;
};

struct sock {
    struct curlm *m;
    curl_socket_t fd;
    struct event *ev;  /* NULL until first watched */
    short kind;        /* the events the loop watches it for, 0: not registered */
    bool in_curl;      /* libcurl watches it and may pass this record back */
    bool owned;        /* opened by open_cb(), not closed through close_cb() yet */
    bool established;  /* owned, and a finished transfer left its connection open */
    bool parked;       /* established, registered, libcurl not watching (invariant 3) */
};

struct curlm {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    unsigned running;
    struct sock **byfd; /* the record of each socket we know, by number */
    size_t nbyfd;
};

static void on_socket_event(evutil_socket_t fd, short what, void *arg);

static struct sock *sock_get(struct curlm *m, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < m->nbyfd ? m->byfd[fd] : NULL;
}

static struct sock *sock_new(struct curlm *m, curl_socket_t fd, bool owned)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= m->nbyfd) {
        size_t n = m->nbyfd ? m->nbyfd : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct sock **v = realloc(m->byfd, n * sizeof(*v));
        if (!v)
            return NULL;
        memset(v + m->nbyfd, 0, (n - m->nbyfd) * sizeof(*v));
        m->byfd = v;
        m->nbyfd = n;
    }
    struct sock *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->m = m;
    s->fd = fd;
    s->owned = owned;
    m->byfd[fd] = s;
    return s;
}

static void sock_free(struct sock *s)
{
    if (!s)
        return;
    if (s->ev)
        event_free(s->ev); /* unregisters it */
    if (s->m->byfd[s->fd] == s)
        s->m->byfd[s->fd] = NULL;
    free(s);
}

/* Watch s for kind (0: stop watching); one epoll_ctl() only when it changes. */
static int sock_watch(struct sock *s, short kind)
{
    if (s->kind == kind)
        return 0;
    if (!s->ev && !(s->ev = event_new(s->m->base, s->fd, 0, NULL, NULL)))
        return -1;
    if (s->kind)
        event_del(s->ev);
    s->kind = 0;
    if (!kind)
        return 0;
    event_assign(s->ev, s->m->base, s->fd, kind, on_socket_event, s);
    if (event_add(s->ev, NULL) < 0)
        return -1;
    s->kind = kind;
    return 0;
}

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
        /* the connection it leaves open is established (invariant 3) */
        curl_socket_t fd = CURL_SOCKET_BAD;
        if (res == CURLE_OK && curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK) {
            struct sock *s = sock_get(m, fd);
            if (s && s->owned)
                s->established = true;
        }
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
    if (s->parked) {
        /* an idle connection woke up (closed by the server): stop watching it;
         * libcurl finds it dead when it looks for a connection (invariant 3) */
        sock_watch(s, 0);
        s->parked = false;
        return;
    }
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

/* CURLMOPT_SOCKETFUNCTION (invariants 2 and 3) */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct curlm *m = userp;
    struct sock *s = socketp ? socketp : sock_get(m, fd);
    if (what == CURL_POLL_REMOVE) {
        if (!s)
            return 0;
        s->in_curl = false;
        if (s->established)
            s->parked = s->kind != 0; /* keeps its registration */
        else if (s->owned)
            sock_watch(s, 0); /* the record waits for check_done() or close_cb() */
        else
            sock_free(s);
        return 0;
    }
    short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
                 (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!s && !(s = sock_new(m, fd, false)))
        return -1;
    if (!s->established)
        sock_watch(s, 0); /* registered afresh: the socket behind the number may be new */
    s->parked = false;
    s->in_curl = true;
    if (!socketp)
        curl_multi_assign(m->multi, fd, s);
    return sock_watch(s, kind) < 0 ? -1 : 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: what libcurl would do, plus a record for the socket. */
static curl_socket_t open_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct curlm *m = clientp;
    curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    if (purpose != CURLSOCKTYPE_IPCXN)
        return fd;
    struct sock *s = sock_get(m, fd);
    if (s) {
        /* the number's last socket was closed without close_cb(): a new one now */
        sock_watch(s, 0);
        s->established = s->parked = false;
    } else if (!(s = sock_new(m, fd, true))) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    s->owned = true;
    return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: unregister the socket before its number can be reused. */
static int close_cb(void *clientp, curl_socket_t fd)
{
    struct curlm *m = clientp;
    struct sock *s = sock_get(m, fd);
    if (s) {
        sock_watch(s, 0);
        s->owned = s->established = s->parked = false;
        if (!s->in_curl)
            sock_free(s);
    }
    return close(fd);
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
    /* the transfers' owners cancelled theirs; the multi handle closes its
     * connections (close_cb() frees their records) */
    if (m->multi)
        curl_multi_cleanup(m->multi);
    for (size_t i = 0; i < m->nbyfd; i++)
        sock_free(m->byfd[i]);
    free(m->byfd);
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
    /* the connections it makes are closed through us (invariant 3) */
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_cb);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, m);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, m);
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
