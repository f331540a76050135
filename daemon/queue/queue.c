/*
 * queue.c - the Redis work queue: key layout, Lua scripts, the blocking
 * connection of the store owner and the non-blocking one of workers.
 *
 * Owns every Redis key name (docs/queue.md lists them) and the only
 * hiredis handles in the program.  Never opens the store, never logs:
 * connection trouble is reported through the notify hook (blocking) or
 * the ops callbacks (non-blocking) and the edge decides what to print.
 *
 * Job life cycle (key that holds the id, script that moves it):
 *
 *   enqueue ──► sched:<ch> ──lease (due)──► ready:<ch> ──lease──► lease:<ch>
 *                   ▲                                   ▲           │
 *                   │ finish S (outside window)         │ lease     │ finish
 *                   │                        retry:<ch>─┘ (reaper:  │
 *                   └──────────────────────────────────── expired → │
 *                                                         redo:<ch>)│
 *      done:<id> + results ◄── finish D (sent/failed/cancelled) ◄───┤
 *      retry:<ch> + results ◄── finish R (transient failure) ◄──────┤
 *      dead + dead:index + results ◄── finish X (malformed, max) ◄──┘
 *
 * Invariants:
 *  1. Enqueue is idempotent: an id already in `jobs` (queued, leased or
 *     dead) or with a done marker is never added again.
 *  2. The done marker of an attempt is written in the same script that
 *     removes its lease and appends its result; workers check it before
 *     sending, so an acked attempt is never sent again.
 *  3. A result is appended once per terminal outcome (SET NX on the
 *     done marker), and removed from the stream only by the store
 *     owner's ack after it committed.
 *  4. A job is leased, never popped: until finish settles it, it sits
 *     in lease:<ch>; when the lease expires the next lease call moves
 *     it to redo:<ch> and it is delivered again, flagged redelivered.
 *  5. Keys of the wrong type never stop a worker: the lease script
 *     renames them aside and records a dead-letter entry.
 *  6. Every blocking operation is idempotent, so retrying it after a
 *     reconnect is safe.
 *  7. Enqueue streams its script calls (each written as soon as it is
 *     built, replies read later), but a batch is reported done only when
 *     every reply of its calls was read and checked: 0 from
 *     queue_enqueue_wait() or queue_enqueue_batch() means every job of
 *     the batch is in Redis.  After a lost connection every call of the
 *     batches in flight is written again, answered or not (enqueue is
 *     idempotent, invariant 1).
 */
#include <errno.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "queue.h"
#include "queue-lua.h"
#include "util.h"

enum script {
    SCRIPT_ENQUEUE, SCRIPT_LEASE, SCRIPT_FINISH, SCRIPT_DEAD, SCRIPT_RENEW,
    _SCRIPT_MAX,
};
static const char *const script_text[_SCRIPT_MAX] = {
    [SCRIPT_ENQUEUE] = queue_lua_enqueue,
    [SCRIPT_LEASE] = queue_lua_lease,
    [SCRIPT_FINISH] = queue_lua_finish,
    [SCRIPT_DEAD] = queue_lua_dead,
    [SCRIPT_RENEW] = queue_lua_renew,
};

#define ENQUEUE_PER_CALL 100  /* jobs per script call */
#define ENQUEUE_PIPELINE 64   /* script calls in flight per round */
#define MOVE_LIMIT "20000"    /* due jobs moved per lease call */
#define LEASE_FIELDS 7        /* reply elements per leased job (lease.lua) */
#define LEASE_HEADER 5        /* reply elements before the first job (lease.lua) */

/* ---- URLs and key names ------------------------------------------------ */

struct redis_addr {
    char *host;  /* NULL for unix */
    int port;
    char *path;  /* unix socket */
    int db;
    char *password;
};

static void redis_addr_release(struct redis_addr *a)
{
    free(a->host);
    free(a->path);
    free(a->password);
    memset(a, 0, sizeof(*a));
}

static int parse_url(const char *url, struct redis_addr *ret)
{
    struct redis_addr a = { .port = 6379 };
    int64_t v;
    if (!url)
        return -EINVAL;
    if (strncmp(url, "unix://", 7) == 0) {
        const char *p = url + 7, *qs = strchr(p, '?');
        if (*p != '/')
            return -EINVAL;
        a.path = qs ? strndup(p, (size_t)(qs - p)) : strdup(p);
        if (!a.path)
            return -ENOMEM;
        if (qs) {
            if (strncmp(qs, "?db=", 4) != 0 || parse_int64(qs + 4, strlen(qs + 4), &v) < 0 ||
                v < 0 || v > 1000) {
                redis_addr_release(&a);
                return -EINVAL;
            }
            a.db = (int)v;
        }
        *ret = a;
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return -EINVAL;
    const char *p = url + 8;
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        a.password = strndup(pw, (size_t)(at - pw));
        if (!a.password)
            return -ENOMEM;
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *hend = colon ? colon : end;
    if (hend == p) {
        redis_addr_release(&a);
        return -EINVAL;
    }
    a.host = strndup(p, (size_t)(hend - p));
    if (!a.host) {
        redis_addr_release(&a);
        return -ENOMEM;
    }
    if (colon) {
        if (parse_int64(colon + 1, (size_t)(end - colon - 1), &v) < 0 || v < 1 || v > 65535) {
            redis_addr_release(&a);
            return -EINVAL;
        }
        a.port = (int)v;
    }
    if (slash && slash[1]) {
        if (parse_int64(slash + 1, strlen(slash + 1), &v) < 0 || v < 0 || v > 1000) {
            redis_addr_release(&a);
            return -EINVAL;
        }
        a.db = (int)v;
    }
    *ret = a;
    return 0;
}

/* The fixed keys, by role; per-channel ones get ":<channel>" appended. */
enum key {
    KEY_JOBS, KEY_TRIES, KEY_CHANNELS, KEY_DEAD, KEY_DEAD_INDEX, KEY_RESULTS,
    KEY_SCHED, KEY_RETRY, KEY_READY, KEY_REDO, KEY_LEASE, KEY_RATE,
    KEY_DONE, KEY_STOP, KEY_FENCE,
    _KEY_MAX,
};
static const char *const key_names[_KEY_MAX] = {
    [KEY_JOBS] = "jobs",
    [KEY_TRIES] = "tries",
    [KEY_CHANNELS] = "channels",
    [KEY_DEAD] = "dead",
    [KEY_DEAD_INDEX] = "dead:index",
    [KEY_RESULTS] = "results",
    [KEY_SCHED] = "sched:",
    [KEY_RETRY] = "retry:",
    [KEY_READY] = "ready:",
    [KEY_REDO] = "redo:",
    [KEY_LEASE] = "lease:",
    [KEY_RATE] = "rate:",
    [KEY_DONE] = "done:",
    [KEY_STOP] = "stop:",
    [KEY_FENCE] = "fence:",
};

/* Build prefix + role name + suffix (suffix may be NULL); NULL on OOM. */
static char *key_of(const char *prefix, enum key k, const char *suffix)
{
    return strdupf("%s%s%s", prefix, key_names[k], suffix ? suffix : "");
}

/*
 * Argument vectors built in one buffer (offsets, so the buffer may
 * grow), turned into argv/len arrays just before sending.
 */
struct args {
    struct sbuf data;
    size_t *off, *len;
    size_t n, cap;
    const char **argv; /* filled by args_vec() */
};

static void args_release(struct args *a)
{
    sbuf_release(&a->data);
    free(a->off);
    free(a->len);
    free(a->argv);
    memset(a, 0, sizeof(*a));
}

static void args_reset(struct args *a)
{
    sbuf_reset(&a->data);
    a->n = 0;
}

static int args_add(struct args *a, const void *p, size_t n)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        size_t *o = realloc(a->off, cap * sizeof(*o));
        if (!o)
            return -ENOMEM;
        a->off = o;
        size_t *l = realloc(a->len, cap * sizeof(*l));
        if (!l)
            return -ENOMEM;
        a->len = l;
        a->cap = cap;
    }
    size_t at = a->data.len;
    int r = sbuf_add(&a->data, p, n);
    if (r < 0)
        return r;
    a->off[a->n] = at;
    a->len[a->n] = n;
    a->n++;
    return 0;
}

static int args_adds(struct args *a, const char *s)
{
    return args_add(a, s, strlen(s));
}

static int args_addf(struct args *a, const char *fmt, ...) _printf_(2, 3);
static int args_addf(struct args *a, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -EINVAL;
    return args_add(a, buf, (size_t)n);
}

static int args_key(struct args *a, const char *prefix, enum key k, const char *suffix)
{
    _cleanup_free_ char *s = key_of(prefix, k, suffix);
    return s ? args_adds(a, s) : -ENOMEM;
}

static int args_vec(struct args *a)
{
    const char **v = realloc(a->argv, (a->n ? a->n : 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    a->argv = v;
    for (size_t i = 0; i < a->n; i++)
        v[i] = a->data.buf + a->off[i];
    return 0;
}


static bool is_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* ---- blocking connection ------------------------------------------------ */

struct queue {
    struct redis_addr addr;
    char *prefix;
    redisContext *c;
    char sha[_SCRIPT_MAX][41];
    char err[512];
    void (*notify)(void *, const char *);
    void *notify_ud;
    int64_t retry_ms;
    int64_t timeout_ms; /* connect and reply timeout */
    char **read_ids;  /* stream ids returned by the last read */
    size_t nread_ids;
    struct enq_state *enq; /* enqueue calls in flight (queue_enqueue_send) */
};

static void enq_free(struct queue *q);

const char *queue_errstr(const struct queue *q)
{
    return q ? q->err : "";
}

void queue_set_notify(struct queue *q, void (*fn)(void *, const char *), void *userdata)
{
    q->notify = fn;
    q->notify_ud = userdata;
}

void queue_set_retry(struct queue *q, int64_t retry_ms)
{
    q->retry_ms = retry_ms;
}

static int reply_error(struct queue *q, redisReply *r)
{
    snprintf(q->err, sizeof(q->err), "%s", r->str ? r->str : "error reply");
    if (strncmp(q->err, "WRONGTYPE", 9) == 0)
        return -EBADMSG;
    return -EPROTO;
}

static struct timeval ms_to_tv(int64_t ms)
{
    return (struct timeval){ (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
}

/*
 * The error of a failed command.  A read that timed out is -ETIMEDOUT: a
 * server that accepts connections but does not answer is not restarting,
 * so that is never retried (q_reconnect).
 */
static int ctx_error(struct queue *q)
{
    if (!q->c)
        return -ENOTCONN;
    if (q->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        snprintf(q->err, sizeof(q->err), "no reply within %.3g s", q->timeout_ms / 1000.0);
        return -ETIMEDOUT;
    }
    snprintf(q->err, sizeof(q->err), "%s", q->c->errstr);
    if (q->c->err == REDIS_ERR_IO && errno)
        return -errno;
    return -ECONNRESET;
}

/* Open the connection, authenticate, select the db, load the scripts. */
static int q_open(struct queue *q)
{
    struct timeval tv = ms_to_tv(q->timeout_ms);
    if (q->c) {
        redisFree(q->c);
        q->c = NULL;
    }
    q->c = q->addr.path ? redisConnectUnixWithTimeout(q->addr.path, tv)
                        : redisConnectWithTimeout(q->addr.host, q->addr.port, tv);
    if (!q->c)
        return -ENOMEM;
    if (q->c->err) {
        int r = q->c->err == REDIS_ERR_IO && errno ? -errno : -ECONNREFUSED;
        if (r == -EINPROGRESS || r == -EAGAIN) {
            r = -ETIMEDOUT;
            snprintf(q->err, sizeof(q->err), "no connection within %.3g s",
                     q->timeout_ms / 1000.0);
        } else
            snprintf(q->err, sizeof(q->err), "%s", q->c->errstr);
        redisFree(q->c);
        q->c = NULL;
        return r;
    }
    redisSetTimeout(q->c, tv);
    redisReply *rep;
    if (q->addr.password) {
        rep = redisCommand(q->c, "AUTH %s", q->addr.password);
        if (!rep)
            return ctx_error(q);
        int bad = rep->type == REDIS_REPLY_ERROR ? reply_error(q, rep) : 0;
        freeReplyObject(rep);
        if (bad)
            return -EACCES;
    }
    if (q->addr.db) {
        rep = redisCommand(q->c, "SELECT %d", q->addr.db);
        if (!rep)
            return ctx_error(q);
        int bad = rep->type == REDIS_REPLY_ERROR ? reply_error(q, rep) : 0;
        freeReplyObject(rep);
        if (bad)
            return bad;
    }
    for (int i = 0; i < _SCRIPT_MAX; i++) {
        rep = redisCommand(q->c, "SCRIPT LOAD %s", script_text[i]);
        if (!rep)
            return ctx_error(q);
        int bad = 0;
        if (rep->type == REDIS_REPLY_STRING && rep->len == 40)
            memcpy(q->sha[i], rep->str, 41);
        else
            bad = rep->type == REDIS_REPLY_ERROR ? reply_error(q, rep) : -EPROTO;
        freeReplyObject(rep);
        if (bad)
            return bad;
    }
    return 0;
}

/*
 * After a connection failure: reconnect with backoff until the retry
 * budget that started at t0 runs out.  0 when connected again.
 */
static int q_reconnect(struct queue *q, int64_t t0, int r)
{
    int64_t delay = 100;
    bool told = false;
    for (;;) {
        if (r == -ETIMEDOUT || wall_ms() - t0 + delay > q->retry_ms)
            return r;
        if (q->notify && !told) {
            char msg[700];
            snprintf(msg, sizeof(msg), "lost connection to redis (%s), reconnecting",
                     q->err[0] ? q->err : "connection closed");
            q->notify(q->notify_ud, msg);
            told = true;
        }
        usleep((useconds_t)delay * 1000);
        delay = delay * 2 > 2000 ? 2000 : delay * 2;
        r = q_open(q);
        if (r >= 0) {
            if (q->notify)
                q->notify(q->notify_ud, "reconnected to redis");
            return 0;
        }
    }
}

/* One command; retried across reconnects.  Caller frees the reply. */
static int q_cmd(struct queue *q, struct args *a, redisReply **ret)
{
    int64_t t0 = wall_ms();
    int r = args_vec(a);
    if (r < 0)
        return r;
    for (;;) {
        redisReply *rep = NULL;
        if (q->c)
            rep = redisCommandArgv(q->c, (int)a->n, a->argv, a->len);
        if (!rep) {
            r = ctx_error(q);
            r = q_reconnect(q, t0, r);
            if (r < 0)
                return r;
            continue;
        }
        if (is_noscript(rep) && a->n > 1) {
            /* flushed behind our back: load again, once */
            freeReplyObject(rep);
            r = q_open(q);
            if (r < 0)
                return r;
            continue;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            r = reply_error(q, rep);
            freeReplyObject(rep);
            return r;
        }
        *ret = rep;
        return 0;
    }
}

/* Start an EVALSHA: the args then get keys and arguments appended. */
static int args_evalsha(struct args *a, const struct queue *q, enum script s, int nkeys)
{
    int r = args_adds(a, "EVALSHA");
    if (r >= 0)
        r = args_adds(a, q->sha[s]);
    if (r >= 0)
        r = args_addf(a, "%d", nkeys);
    return r;
}

int queue_connect(const char *url, const char *prefix, int64_t timeout_ms, struct queue **ret,
                  char *reterr, size_t errlen)
{
    struct queue *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->retry_ms = QUEUE_RETRY_MS;
    q->timeout_ms = timeout_ms > 0 ? timeout_ms : QUEUE_DEFAULT_TIMEOUT_MS;
    /* a write to a connection Redis dropped must fail with EPIPE (and be
     * retried after a reconnect), not kill the process */
    signal(SIGPIPE, SIG_IGN);
    int r = parse_url(url, &q->addr);
    if (r < 0) {
        free(q);
        return r;
    }
    q->prefix = strdup(prefix ? prefix : QUEUE_DEFAULT_PREFIX);
    if (!q->prefix) {
        queue_free(q);
        return -ENOMEM;
    }
    r = q_open(q);
    if (r < 0) {
        if (reterr && errlen)
            snprintf(reterr, errlen, "%s", q->err[0] ? q->err : strerror(-r));
        queue_free(q);
        return r;
    }
    *ret = q;
    return 0;
}

static void free_read_ids(struct queue *q)
{
    for (size_t i = 0; i < q->nread_ids; i++)
        free(q->read_ids[i]);
    free(q->read_ids);
    q->read_ids = NULL;
    q->nread_ids = 0;
}

void queue_free(struct queue *q)
{
    if (!q)
        return;
    if (q->c)
        redisFree(q->c);
    free_read_ids(q);
    enq_free(q);
    redis_addr_release(&q->addr);
    free(q->prefix);
    free(q);
}

/* Append an unsigned decimal without printf. */
static int args_add_u64(struct args *a, uint64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10));
    return args_add(a, p, (size_t)(buf + sizeof(buf) - p));
}

/*
 * A script error "WRONGTYPE key 'K' holds a T, expected a U" becomes
 * the message admin commands print (docs/queue.md, "Foreign data").
 */
static void explain_wrongtype(struct queue *q)
{
    const char *k = strstr(q->err, "key '");
    if (strncmp(q->err, "WRONGTYPE", 9) != 0 || !k)
        return;
    char msg[sizeof(q->err)];
    snprintf(msg, sizeof(msg), "%s: foreign data in the queue; workers move such a key "
             "aside (see 'cadenza queue dead list'), or delete it", k);
    memcpy(q->err, msg, sizeof(q->err));
}

static int simple(struct queue *q, struct args *a, redisReply **ret);

/*
 * A command on key failed with WRONGTYPE: ask Redis what the key holds
 * and say so in q->err.  Returns -EBADMSG.
 */
static int wrongtype_error(struct queue *q, const char *key, const char *want)
{
    struct args a = {};
    redisReply *rep = NULL;
    char type[32] = "value of another type";
    int r = args_adds(&a, "TYPE");
    if (r >= 0)
        r = args_adds(&a, key);
    if (r >= 0 && simple(q, &a, &rep) >= 0) {
        if (rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING)
            snprintf(type, sizeof(type), "%s", rep->str);
        freeReplyObject(rep);
    } else
        args_release(&a);
    snprintf(q->err, sizeof(q->err), "WRONGTYPE key '%s' holds a %s, expected a %s", key, type,
             want);
    explain_wrongtype(q);
    return -EBADMSG;
}

/* ---- enqueue ------------------------------------------------------------ */

/*
 * Enqueue calls written to Redis whose replies are not read yet, oldest
 * first.  A batch is the calls of one queue_enqueue_send(); replies come
 * in order, so queue_enqueue_wait() reads those of the oldest batch.
 */
struct enq_state {
    struct args *calls;  /* [0, n) built; replies pending for [head, n) */
    size_t n, cap, head;
    size_t *bend;        /* per batch in flight: one past its last call */
    size_t nb, capb;
    bool unsent;         /* [head, n) must be written again (connection lost) */
    int64_t added;       /* the oldest batch's jobs added so far */
    int err;             /* the oldest batch's first error reply */
    char *kjobs, *kchans, *psched, *pdone;
};

static void enq_free(struct queue *q)
{
    struct enq_state *e = q->enq;
    if (!e)
        return;
    for (size_t i = 0; i < e->cap; i++)
        args_release(&e->calls[i]);
    free(e->calls);
    free(e->bend);
    free(e->kjobs);
    free(e->kchans);
    free(e->psched);
    free(e->pdone);
    free(e);
    q->enq = NULL;
}

/*
 * Forget every call in flight (after an error the caller gives up on
 * them; they are idempotent, whether they ran does not matter).  The
 * connection goes too: it may still carry their replies.
 */
static void enq_abandon(struct queue *q)
{
    struct enq_state *e = q->enq;
    if (!e || e->n == 0)
        return;
    if (q->c) {
        redisFree(q->c);
        q->c = NULL;
    }
    e->n = e->head = e->nb = 0;
    e->added = 0;
    e->err = 0;
    e->unsent = false;
}

void queue_enqueue_drop(struct queue *q)
{
    enq_abandon(q);
}

/* Write one built call now: Redis runs it while the next one is built. */
static bool enq_write(struct queue *q, struct args *a)
{
    int done = 0;
    if (!q->c)
        return false;
    if (args_vec(a) >= 0 && redisAppendCommandArgv(q->c, (int)a->n, a->argv, a->len) == REDIS_OK)
        while (!done)
            if (redisBufferWrite(q->c, &done) != REDIS_OK)
                break;
    if (done)
        return true;
    snprintf(q->err, sizeof(q->err), "%s", q->c->err ? q->c->errstr : "cannot send");
    redisFree(q->c);
    q->c = NULL;
    return false;
}

/* Append an argument written in place by job_to_json(): no copy of the payload. */
static int args_add_job(struct args *a, const struct job *j)
{
    int r = args_add(a, "", 0);
    if (r < 0)
        return r;
    size_t at = a->data.len;
    r = job_to_json(j, &a->data);
    if (r < 0) {
        a->n--;
        return r;
    }
    a->len[a->n - 1] = a->data.len - at;
    return 0;
}

int queue_enqueue_send(struct queue *q, const struct job *jobs, size_t n)
{
    char err[256];
    int r = 0;
    for (size_t i = 0; i < n; i++)
        if (job_validate(&jobs[i], err, sizeof(err)) < 0) {
            snprintf(q->err, sizeof(q->err), "job %zu (attempt %" PRId64 "): %s", i,
                     jobs[i].attempt_id, err);
            return -EINVAL;
        }
    if (!q->enq) {
        struct enq_state *e = calloc(1, sizeof(*e));
        if (!e)
            return -ENOMEM;
        q->enq = e;
        e->kjobs = key_of(q->prefix, KEY_JOBS, NULL);
        e->kchans = key_of(q->prefix, KEY_CHANNELS, NULL);
        e->psched = key_of(q->prefix, KEY_SCHED, NULL);
        e->pdone = key_of(q->prefix, KEY_DONE, NULL);
        if (!e->kjobs || !e->kchans || !e->psched || !e->pdone) {
            enq_free(q);
            return -ENOMEM;
        }
    }
    struct enq_state *e = q->enq;
    if (n == 0)
        return 0;
    if (e->nb == e->capb) {
        size_t cap = e->capb ? e->capb * 2 : 8;
        size_t *v = realloc(e->bend, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        e->bend = v;
        e->capb = cap;
    }
    for (size_t i = 0; r >= 0 && i < n;) {
        if (e->n == e->cap) {
            size_t cap = e->cap ? e->cap * 2 : 16;
            struct args *v = realloc(e->calls, cap * sizeof(*v));
            if (!v) {
                r = -ENOMEM;
                break;
            }
            memset(v + e->cap, 0, (cap - e->cap) * sizeof(*v));
            e->calls = v;
            e->cap = cap;
        }
        struct args *a = &e->calls[e->n];
        args_reset(a);
        r = args_evalsha(a, q, SCRIPT_ENQUEUE, 2);
        if (r >= 0)
            r = args_adds(a, e->kjobs);
        if (r >= 0)
            r = args_adds(a, e->kchans);
        if (r >= 0)
            r = args_adds(a, e->psched);
        if (r >= 0)
            r = args_adds(a, e->pdone);
        for (size_t k = 0; r >= 0 && k < ENQUEUE_PER_CALL && i < n; k++, i++) {
            const struct job *j = &jobs[i];
            r = args_add_u64(a, (uint64_t)j->attempt_id);
            if (r >= 0)
                r = args_adds(a, j->channel);
            if (r >= 0)
                r = args_add_u64(a, j->not_before > 0 ? (uint64_t)j->not_before * 1000 : 0);
            if (r >= 0)
                r = args_add_job(a, j);
        }
        if (r < 0)
            break;
        e->n++;
        /* invariant 7: Redis runs this call while the next is built */
        if (!e->unsent && !enq_write(q, a))
            e->unsent = true;
    }
    if (r < 0) {
        /* the calls of this batch already out cannot be told apart: drop them all */
        enq_abandon(q);
        return r;
    }
    e->bend[e->nb++] = e->n;
    return 0;
}

int queue_enqueue_wait(struct queue *q, size_t *ret_added)
{
    struct enq_state *e = q->enq;
    int64_t t0 = wall_ms();
    int r = 0;
    if (!e || e->nb == 0) {
        if (ret_added)
            *ret_added = 0;
        return 0;
    }
    size_t end = e->bend[0];
    while (e->head < end) {
        if (e->unsent || !q->c) {
            /*
             * Lost the connection: reconnect and write every call in
             * flight again, the answered ones too: a Redis that crashed
             * may have answered writes its append-only file did not get
             * yet (appendfsync everysec).  Idempotent (invariant 1).
             */
            if (!q->c && (r = q_reconnect(q, t0, -ENOTCONN)) < 0)
                break;
            e->unsent = false;
            e->head = 0;
            e->added = 0;
            e->err = 0;
            for (size_t i = 0; i < e->n; i++)
                if (!enq_write(q, &e->calls[i])) {
                    e->unsent = true;
                    break;
                }
            continue;
        }
        redisReply *rep = NULL;
        if (redisGetReply(q->c, (void **)&rep) != REDIS_OK || !rep) {
            r = ctx_error(q);
            redisFree(q->c);
            q->c = NULL;
            e->unsent = true;
            if ((r = q_reconnect(q, t0, r)) < 0)
                break;
            continue;
        }
        if (is_noscript(rep)) {
            /* the script cache was flushed: load it again, send again from here */
            freeReplyObject(rep);
            e->unsent = true;
            if ((r = q_open(q)) < 0)
                break;
            continue;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            if (!e->err)
                e->err = reply_error(q, rep);
        } else if (rep->type == REDIS_REPLY_INTEGER)
            e->added += rep->integer;
        freeReplyObject(rep);
        e->head++;
    }
    if (r >= 0)
        r = e->err;
    if (r < 0) {
        enq_abandon(q);
        if (r == -EBADMSG)
            explain_wrongtype(q);
        return r;
    }
    if (ret_added)
        *ret_added = (size_t)e->added;
    /* the oldest batch is settled: move the calls of the others to the front */
    for (size_t i = end; i < e->n; i++) {
        struct args t = e->calls[i - end];
        e->calls[i - end] = e->calls[i];
        e->calls[i] = t;
    }
    e->n -= end;
    e->head = 0;
    for (size_t b = 1; b < e->nb; b++)
        e->bend[b - 1] = e->bend[b] - end;
    e->nb--;
    e->added = 0;
    e->err = 0;
    return 0;
}

int queue_enqueue_batch(struct queue *q, const struct job *jobs, size_t n, size_t *ret_added)
{
    const size_t chunk = (size_t)ENQUEUE_PIPELINE * ENQUEUE_PER_CALL;
    size_t total = 0, added;
    int r;
    if (q->enq && q->enq->nb) {
        snprintf(q->err, sizeof(q->err), "enqueue batches still in flight");
        return -EBUSY;
    }
    /* one chunk ahead: Redis runs chunk k while chunk k + 1 is built */
    r = queue_enqueue_send(q, jobs, n < chunk ? n : chunk);
    for (size_t i = chunk; r >= 0 && i < n; i += chunk) {
        r = queue_enqueue_send(q, jobs + i, n - i < chunk ? n - i : chunk);
        if (r >= 0 && (r = queue_enqueue_wait(q, &added)) >= 0)
            total += added;
    }
    if (r >= 0 && (r = queue_enqueue_wait(q, &added)) >= 0)
        total += added;
    if (r < 0) {
        enq_abandon(q);
        return r;
    }
    if (ret_added)
        *ret_added = total;
    return 0;
}

static int simple(struct queue *q, struct args *a, redisReply **ret)
{
    redisReply *rep = NULL;
    int r = q_cmd(q, a, &rep);
    args_release(a);
    if (r < 0)
        return r;
    if (ret)
        *ret = rep;
    else
        freeReplyObject(rep);
    return 0;
}

int queue_set_stop(struct queue *q, const char *debtor_id, const char *reason, int64_t until)
{
    struct args a = {};
    if (isempty(debtor_id))
        return -EINVAL;
    int r = args_adds(&a, "SET");
    if (r >= 0)
        r = args_key(&a, q->prefix, KEY_STOP, debtor_id);
    if (r >= 0)
        r = args_adds(&a, isempty(reason) ? "stop" : reason);
    if (r >= 0 && until > 0) {
        r = args_adds(&a, "EXAT");
        if (r >= 0)
            r = args_addf(&a, "%" PRId64, until);
    }
    if (r < 0) {
        args_release(&a);
        return r;
    }
    return simple(q, &a, NULL);
}

int queue_clear_stop(struct queue *q, const char *debtor_id)
{
    struct args a = {};
    int r = args_adds(&a, "DEL");
    if (r >= 0)
        r = args_key(&a, q->prefix, KEY_STOP, debtor_id);
    if (r < 0) {
        args_release(&a);
        return r;
    }
    return simple(q, &a, NULL);
}

static int get_string(struct queue *q, enum key k, const char *suffix, char **ret)
{
    struct args a = {};
    redisReply *rep = NULL;
    int r = args_adds(&a, "GET");
    if (r >= 0)
        r = args_key(&a, q->prefix, k, suffix);
    if (r < 0) {
        args_release(&a);
        return r;
    }
    r = simple(q, &a, &rep);
    if (r < 0)
        return r;
    r = rep->type == REDIS_REPLY_STRING;
    if (r && ret) {
        *ret = strdup(rep->str);
        if (!*ret)
            r = -ENOMEM;
    }
    freeReplyObject(rep);
    return r;
}

int queue_get_stop(struct queue *q, const char *debtor_id, char **ret_reason)
{
    return get_string(q, KEY_STOP, debtor_id, ret_reason);
}

int queue_get_done(struct queue *q, int64_t attempt_id, char **ret_status)
{
    char id[32];
    snprintf(id, sizeof(id), "%" PRId64, attempt_id);
    return get_string(q, KEY_DONE, id, ret_status);
}

/* ---- results ------------------------------------------------------------ */

static const char *field(const redisReply *kv, const char *name)
{
    if (!kv || kv->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < kv->elements; i += 2)
        if (kv->element[i]->type == REDIS_REPLY_STRING &&
            kv->element[i + 1]->type == REDIS_REPLY_STRING && streq(kv->element[i]->str, name))
            return kv->element[i + 1]->str;
    return NULL;
}

int queue_read_results(struct queue *q, size_t max, queue_result_fn cb, void *userdata)
{
    struct args a = {};
    redisReply *rep = NULL;
    int r = args_adds(&a, "XRANGE");
    if (r >= 0)
        r = args_key(&a, q->prefix, KEY_RESULTS, NULL);
    if (r >= 0)
        r = args_adds(&a, "-");
    if (r >= 0)
        r = args_adds(&a, "+");
    if (r >= 0)
        r = args_adds(&a, "COUNT");
    if (r >= 0)
        r = args_addf(&a, "%zu", max ? max : 1000);
    if (r < 0) {
        args_release(&a);
        return r;
    }
    free_read_ids(q);
    r = simple(q, &a, &rep);
    if (r < 0)
        return r;
    if (rep->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(rep);
        return -EPROTO;
    }
    q->read_ids = calloc(rep->elements ? rep->elements : 1, sizeof(char *));
    if (!q->read_ids) {
        freeReplyObject(rep);
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < rep->elements && r >= 0; i++) {
        redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        q->read_ids[q->nread_ids] = strdup(e->element[0]->str);
        if (!q->read_ids[q->nread_ids]) {
            r = -ENOMEM;
            break;
        }
        q->nread_ids++;
        const char *id = field(e->element[1], "id"), *st = field(e->element[1], "st");
        const char *tries = field(e->element[1], "tries"), *at = field(e->element[1], "at");
        int64_t aid = -1, t = 0, atv = 0;
        if (!id || !st || parse_int64(id, strlen(id), &aid) < 0 || aid <= 0)
            aid = -1;
        if (tries)
            (void)parse_int64(tries, strlen(tries), &t);
        if (at)
            (void)parse_int64(at, strlen(at), &atv);
        struct queue_result res = {
            .stream_id = e->element[0]->str,
            .attempt_id = aid,
            .status = st ? st : "",
            .info = field(e->element[1], "info"),
            .channel = field(e->element[1], "ch"),
            .tries = (int)t,
            .at_ms = atv,
        };
        if (cb)
            r = cb(userdata, &res);
        n++;
    }
    freeReplyObject(rep);
    return r < 0 ? r : (int)n;
}

int queue_ack_results(struct queue *q)
{
    for (size_t start = 0; start < q->nread_ids; start += 1000) {
        struct args a = {};
        int r = args_adds(&a, "XDEL");
        if (r >= 0)
            r = args_key(&a, q->prefix, KEY_RESULTS, NULL);
        for (size_t i = start; r >= 0 && i < q->nread_ids && i < start + 1000; i++)
            r = args_adds(&a, q->read_ids[i]);
        if (r < 0) {
            args_release(&a);
            return r;
        }
        if ((r = simple(q, &a, NULL)) < 0)
            return r;
    }
    free_read_ids(q);
    return 0;
}

/* ---- stats and dead letters ---------------------------------------------- */

static int64_t int_reply(const redisReply *r)
{
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    return -1;
}

void queue_stats_release(struct queue_stats *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nchannels; i++)
        free(s->channels[i].channel);
    free(s->channels);
    memset(s, 0, sizeof(*s));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int queue_stats(struct queue *q, int64_t now, struct queue_stats *ret)
{
    struct queue_stats st = {};
    struct args a = {};
    redisReply *rep = NULL;
    int r = args_adds(&a, "SMEMBERS");
    if (r >= 0)
        r = args_key(&a, q->prefix, KEY_CHANNELS, NULL);
    if (r < 0 || (r = simple(q, &a, &rep)) < 0) {
        args_release(&a);
        if (r == -EBADMSG) {
            _cleanup_free_ char *k = key_of(q->prefix, KEY_CHANNELS, NULL);
            return k ? wrongtype_error(q, k, "set") : -ENOMEM;
        }
        return r;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements) {
        st.channels = calloc(rep->elements, sizeof(*st.channels));
        if (!st.channels)
            r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < rep->elements; i++) {
            if (rep->element[i]->type != REDIS_REPLY_STRING)
                continue;
            char *s = strdup(rep->element[i]->str);
            if (!s)
                r = -ENOMEM;
            else
                st.channels[st.nchannels++].channel = s;
        }
    }
    freeReplyObject(rep);
    if (r < 0) {
        queue_stats_release(&st);
        return r;
    }
    if (st.nchannels > 1)
        qsort(st.channels, st.nchannels, sizeof(st.channels[0]), cmp_str);
    /* 7 commands per channel + 3 globals, pipelined; errors read as -1 */
    size_t ncmd = st.nchannels * 7 + 3, k = 0;
    struct args *calls = calloc(ncmd, sizeof(*calls));
    if (!calls) {
        queue_stats_release(&st);
        return -ENOMEM;
    }
    char nowbuf[32];
    snprintf(nowbuf, sizeof(nowbuf), "%" PRId64, now);
    for (size_t i = 0; r >= 0 && i < st.nchannels; i++) {
        const char *ch = st.channels[i].channel;
        static const struct {
            const char *cmd;
            enum key key;
        } per[] = {
            { "LLEN", KEY_READY }, { "LLEN", KEY_REDO }, { "ZCARD", KEY_SCHED },
            { "ZCOUNT", KEY_SCHED }, { "ZCARD", KEY_RETRY }, { "ZCARD", KEY_LEASE },
            { "ZRANGE", KEY_SCHED },
        };
        for (size_t p = 0; r >= 0 && p < ELEMENTSOF(per); p++) {
            struct args *c = &calls[k++];
            r = args_adds(c, per[p].cmd);
            if (r >= 0)
                r = args_key(c, q->prefix, per[p].key, ch);
            if (r >= 0 && streq(per[p].cmd, "ZCOUNT")) {
                r = args_adds(c, "-inf");
                if (r >= 0)
                    r = args_adds(c, nowbuf);
            }
            if (r >= 0 && streq(per[p].cmd, "ZRANGE")) {
                r = args_adds(c, "0");
                if (r >= 0)
                    r = args_adds(c, "0");
                if (r >= 0)
                    r = args_adds(c, "WITHSCORES");
            }
        }
    }
    static const struct {
        const char *cmd;
        enum key key;
    } glob[] = { { "HLEN", KEY_JOBS }, { "HLEN", KEY_DEAD }, { "XLEN", KEY_RESULTS } };
    for (size_t p = 0; r >= 0 && p < ELEMENTSOF(glob); p++) {
        struct args *c = &calls[k++];
        r = args_adds(c, glob[p].cmd);
        if (r >= 0)
            r = args_key(c, q->prefix, glob[p].key, NULL);
    }
    int64_t t0 = wall_ms();
    size_t bad = SIZE_MAX; /* first command that met a key of the wrong type */
    for (size_t i = 0; r >= 0 && i < ncmd; i++)
        r = args_vec(&calls[i]);
    while (r >= 0) {
        bool lost = !q->c;
        for (size_t i = 0; !lost && i < ncmd; i++)
            if (redisAppendCommandArgv(q->c, (int)calls[i].n, calls[i].argv, calls[i].len) !=
                REDIS_OK)
                r = -ENOMEM;
        for (size_t i = 0; !lost && r >= 0 && i < ncmd; i++) {
            redisReply *x = NULL;
            if (redisGetReply(q->c, (void **)&x) != REDIS_OK || !x) {
                lost = true;
                break;
            }
            if (x->type == REDIS_REPLY_ERROR && strncmp(x->str, "WRONGTYPE", 9) == 0 &&
                bad == SIZE_MAX)
                bad = i;
            if (i < st.nchannels * 7) {
                struct queue_channel_stats *cs = &st.channels[i / 7];
                switch (i % 7) {
                case 0: cs->ready = int_reply(x); break;
                case 1: cs->ready += int_reply(x) > 0 ? int_reply(x) : 0; break;
                case 2: cs->scheduled = int_reply(x); break;
                case 3: cs->due = int_reply(x); break;
                case 4: cs->retrying = int_reply(x); break;
                case 5: cs->leased = int_reply(x); break;
                case 6:
                    if (x->type == REDIS_REPLY_ARRAY && x->elements == 2 &&
                        x->element[1]->type == REDIS_REPLY_STRING)
                        cs->oldest_due_ms = (int64_t)strtod(x->element[1]->str, NULL);
                    break;
                }
            } else {
                size_t g = i - st.nchannels * 7;
                int64_t v = int_reply(x);
                if (g == 0)
                    st.jobs = v;
                else if (g == 1)
                    st.dead = v;
                else
                    st.results = v;
            }
            freeReplyObject(x);
        }
        if (!lost)
            break;
        r = q_reconnect(q, t0, ctx_error(q));
    }
    if (r >= 0 && bad != SIZE_MAX) {
        /* args are not NUL-terminated one by one: copy the two we need */
        _cleanup_free_ char *cmd = strndup(calls[bad].argv[0], calls[bad].len[0]);
        _cleanup_free_ char *key = strndup(calls[bad].argv[1], calls[bad].len[1]);
        r = !cmd || !key ? -ENOMEM
            : wrongtype_error(q, key, streq(cmd, "LLEN") ? "list" : streq(cmd, "HLEN") ? "hash"
                                      : streq(cmd, "XLEN") ? "stream" : "zset");
    }
    for (size_t i = 0; i < ncmd; i++)
        args_release(&calls[i]);
    free(calls);
    if (r < 0) {
        queue_stats_release(&st);
        return r;
    }
    *ret = st;
    return 0;
}

int queue_dead_list(struct queue *q, size_t max, queue_dead_fn cb, void *userdata)
{
    struct args a = {};
    redisReply *ids = NULL, *vals = NULL, *pays = NULL;
    int r = args_adds(&a, "ZRANGE");
    if (r >= 0)
        r = args_key(&a, q->prefix, KEY_DEAD_INDEX, NULL);
    if (r >= 0)
        r = args_adds(&a, "0");
    if (r >= 0)
        r = args_addf(&a, "%zd", max ? (ssize_t)max - 1 : (ssize_t)-1);
    if (r < 0 || (r = simple(q, &a, &ids)) < 0) {
        args_release(&a);
        return r;
    }
    if (ids->type != REDIS_REPLY_ARRAY || ids->elements == 0) {
        freeReplyObject(ids);
        return 0;
    }
    for (int pass = 0; r >= 0 && pass < 2; pass++) {
        struct args b = {};
        r = args_adds(&b, "HMGET");
        if (r >= 0)
            r = args_key(&b, q->prefix, pass ? KEY_JOBS : KEY_DEAD, NULL);
        for (size_t i = 0; r >= 0 && i < ids->elements; i++)
            r = args_add(&b, ids->element[i]->str, ids->element[i]->len);
        if (r < 0 || (r = simple(q, &b, pass ? &pays : &vals)) < 0)
            args_release(&b);
    }
    size_t n = 0;
    for (size_t i = 0; r >= 0 && i < ids->elements; i++) {
        if (vals->type != REDIS_REPLY_ARRAY || pays->type != REDIS_REPLY_ARRAY ||
            i >= vals->elements || i >= pays->elements)
            break;
        const redisReply *v = vals->element[i], *p = pays->element[i];
        json_t *o = v->type == REDIS_REPLY_STRING ? json_loads(v->str, 0, NULL) : NULL;
        json_t *t = json_object_get(o, "tries"), *at = json_object_get(o, "at");
        struct queue_dead d = {
            .id = ids->element[i]->str,
            .channel = json_string_value(json_object_get(o, "channel")),
            .error = json_string_value(json_object_get(o, "error")),
            .at_ms = json_is_number(at) ? (int64_t)json_number_value(at) : 0,
            .tries = json_is_number(t) ? (int)json_number_value(t) : 0,
            .payload = p->type == REDIS_REPLY_STRING ? p->str : NULL,
        };
        if (!d.error)
            d.error = v->type == REDIS_REPLY_STRING ? v->str : "(entry missing)";
        r = cb ? cb(userdata, &d) : 0;
        json_decref(o);
        n++;
    }
    freeReplyObject(ids);
    if (vals)
        freeReplyObject(vals);
    if (pays)
        freeReplyObject(pays);
    return r < 0 ? r : (int)n;
}

static int dead_op(struct queue *q, const char *op, const char *const *ids, size_t n,
                   size_t *ret_count)
{
    struct args a = {};
    redisReply *rep = NULL;
    int r = args_evalsha(&a, q, SCRIPT_DEAD, 4);
    if (r >= 0)
        r = args_key(&a, q->prefix, KEY_DEAD, NULL);
    if (r >= 0)
        r = args_key(&a, q->prefix, KEY_DEAD_INDEX, NULL);
    if (r >= 0)
        r = args_key(&a, q->prefix, KEY_JOBS, NULL);
    if (r >= 0)
        r = args_key(&a, q->prefix, KEY_TRIES, NULL);
    if (r >= 0)
        r = args_adds(&a, op);
    if (r >= 0)
        r = args_addf(&a, "%" PRId64, wall_ms());
    if (r >= 0)
        r = args_key(&a, q->prefix, KEY_SCHED, NULL);
    if (r >= 0)
        r = args_key(&a, q->prefix, KEY_DONE, NULL);
    if (r >= 0)
        r = args_addf(&a, "%d", QUEUE_DONE_TTL_S);
    if (r >= 0)
        r = args_adds(&a, ids && n ? "ids" : "all");
    for (size_t i = 0; r >= 0 && ids && i < n; i++)
        r = args_adds(&a, ids[i]);
    if (r < 0 || (r = simple(q, &a, &rep)) < 0) {
        args_release(&a);
        return r;
    }
    if (ret_count)
        *ret_count = (size_t)(int_reply(rep) > 0 ? int_reply(rep) : 0);
    freeReplyObject(rep);
    return 0;
}

int queue_dead_retry(struct queue *q, const char *const *ids, size_t n, size_t *ret_count)
{
    return dead_op(q, "retry", ids, n, ret_count);
}

int queue_dead_purge(struct queue *q, const char *const *ids, size_t n, size_t *ret_count)
{
    return dead_op(q, "purge", ids, n, ret_count);
}

/* ---- non-blocking connection -------------------------------------------- */

struct queue_async {
    struct event_base *base;
    struct redis_addr addr;
    char *prefix;
    redisAsyncContext *ac;
    bool connected;          /* the socket is connected */
    bool ready;              /* ... and Redis answered the handshake: usable */
    bool freeing;
    char why[160];           /* why the connection is being dropped, or "" */
    struct queue_async_ops ops;
    void *ud;
    struct event *retry_ev;
    struct event *watch_ev; /* the connect and reply timeout (invariant below) */
    int64_t backoff_ms;
    int64_t timeout_ms;
    int64_t connect_started; /* monotonic ms: the connect in progress began */
    int64_t progress_at;     /* monotonic ms: the last reply, or the first send after none */
    size_t pending;          /* requests written and not yet answered */
    bool timed_out;          /* the connection is being dropped for a missed reply */
    char sha[_SCRIPT_MAX][41];
};

/*
 * Timeouts (hiredis 0.14 has none for async contexts): a connect that has
 * not completed after timeout_ms, or a connection with requests pending
 * and no reply for timeout_ms, is dropped; pending callbacks then get
 * -ETIMEDOUT and the queue reconnects as after any other loss.
 */

enum areq_kind { AREQ_LEASE, AREQ_CHECK, AREQ_FINISH, AREQ_RENEW, AREQ_INTERNAL };

/* One request in flight; keeps its args for a NOSCRIPT re-send. */
struct areq {
    struct queue_async *qa;
    enum areq_kind kind;
    enum script script;
    struct args a;
    size_t n;           /* check: number of jobs */
    union {
        queue_lease_fn lease;
        queue_check_fn check;
        queue_done_fn done;
        queue_renew_fn renew;
    } cb;
    void *ud;
};

static void areq_free(struct areq *rq)
{
    if (!rq)
        return;
    args_release(&rq->a);
    free(rq);
}

static void areq_fail(struct areq *rq, int err)
{
    switch (rq->kind) {
    case AREQ_LEASE:
        rq->cb.lease(rq->ud, err, NULL);
        break;
    case AREQ_CHECK:
        rq->cb.check(rq->ud, err, NULL, NULL);
        break;
    case AREQ_FINISH:
        rq->cb.done(rq->ud, err);
        break;
    case AREQ_RENEW:
        rq->cb.renew(rq->ud, err, 0, NULL);
        break;
    case AREQ_INTERNAL:
        break;
    }
}

static void qa_schedule_reconnect(struct queue_async *qa, const char *why);
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

static int areq_send(struct areq *rq)
{
    struct queue_async *qa = rq->qa;
    if (!qa->ac || !qa->connected)
        return -ENOTCONN;
    int r = args_vec(&rq->a);
    if (r < 0)
        return r;
    if (redisAsyncCommandArgv(qa->ac, on_reply, rq, (int)rq->a.n, rq->a.argv, rq->a.len) !=
        REDIS_OK)
        return -ENOTCONN;
    if (qa->pending++ == 0)
        qa->progress_at = mono_ms();
    return 0;
}

static void lease_reply(struct areq *rq, redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < LEASE_HEADER ||
        (rep->elements - LEASE_HEADER) % LEASE_FIELDS) {
        rq->cb.lease(rq->ud, -EPROTO, NULL);
        return;
    }
    size_t n = (rep->elements - LEASE_HEADER) / LEASE_FIELDS;
    struct queue_leased *jobs = calloc(n ? n : 1, sizeof(*jobs));
    if (!jobs) {
        rq->cb.lease(rq->ud, -ENOMEM, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply **e = rep->element + LEASE_HEADER + i * LEASE_FIELDS;
        jobs[i].id = e[0]->type == REDIS_REPLY_STRING ? e[0]->str : "";
        if (e[1]->type == REDIS_REPLY_STRING) {
            jobs[i].payload = e[1]->str;
            jobs[i].payload_len = e[1]->len;
        }
        jobs[i].tries = (int)int_reply(e[2]);
        jobs[i].redelivered = int_reply(e[3]) == 1;
        jobs[i].done = int_reply(e[4]) == 1;
        if (e[5]->type == REDIS_REPLY_STRING) {
            jobs[i].checked_debtor = e[5]->str;
            jobs[i].stop = e[6]->type == REDIS_REPLY_STRING ? e[6]->str : NULL;
        }
    }
    struct queue_lease_reply lr = {
        .ready_left = int_reply(rep->element[0]),
        .leased_total = int_reply(rep->element[1]),
        .retrying = int_reply(rep->element[2]),
        .wait_ms = int_reply(rep->element[3]),
        .token = int_reply(rep->element[4]),
        .jobs = jobs,
        .n = n,
    };
    rq->cb.lease(rq->ud, 0, &lr);
    free(jobs);
}

static void check_reply(struct areq *rq, redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != rq->n * 2) {
        rq->cb.check(rq->ud, -EPROTO, NULL, NULL);
        return;
    }
    bool *done = calloc(rq->n ? rq->n : 1, sizeof(*done));
    const char **stop = calloc(rq->n ? rq->n : 1, sizeof(*stop));
    if (!done || !stop) {
        free(done);
        free(stop);
        rq->cb.check(rq->ud, -ENOMEM, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < rq->n; i++) {
        done[i] = rep->element[i]->type == REDIS_REPLY_STRING;
        redisReply *s = rep->element[rq->n + i];
        stop[i] = s->type == REDIS_REPLY_STRING ? s->str : NULL;
    }
    rq->cb.check(rq->ud, 0, done, stop);
    free(done);
    free(stop);
}

static void renew_reply(struct areq *rq, redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != rq->n + 1) {
        rq->cb.renew(rq->ud, -EPROTO, 0, NULL);
        return;
    }
    bool *held = calloc(rq->n ? rq->n : 1, sizeof(*held));
    if (!held) {
        rq->cb.renew(rq->ud, -ENOMEM, 0, NULL);
        return;
    }
    for (size_t i = 0; i < rq->n; i++)
        held[i] = int_reply(rep->element[i + 1]) == 1;
    rq->cb.renew(rq->ud, 0, int_reply(rep->element[0]), held);
    free(held);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct areq *rq = privdata;
    redisReply *rep = reply;
    struct queue_async *qa = rq->qa;
    if (qa->pending)
        qa->pending--;
    qa->progress_at = mono_ms();
    if (!rep) {
        /* connection gone (or freed): the caller retries after reconnect */
        areq_fail(rq, qa->freeing ? -ECANCELED : qa->timed_out ? -ETIMEDOUT : -ECONNRESET);
        areq_free(rq);
        return;
    }
    if (is_noscript(rep) && rq->a.n > 2) {
        /* script cache flushed: send the body once instead of the hash */
        struct args b = {};
        int r = args_adds(&b, "EVAL");
        if (r >= 0)
            r = args_adds(&b, script_text[rq->script]);
        for (size_t i = 2; r >= 0 && i < rq->a.n; i++)
            r = args_add(&b, rq->a.data.buf + rq->a.off[i], rq->a.len[i]);
        if (r >= 0) {
            args_release(&rq->a);
            rq->a = b;
            if (areq_send(rq) >= 0)
                return;
        } else
            args_release(&b);
        areq_fail(rq, -EPROTO);
        areq_free(rq);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        if (rq->kind == AREQ_INTERNAL && qa->ac && !qa->why[0]) {
            /* AUTH, SELECT or SCRIPT LOAD refused: this connection is no use */
            snprintf(qa->why, sizeof(qa->why), "%s", rep->str);
            redisAsyncDisconnect(qa->ac);
        }
        areq_fail(rq, strncmp(rep->str, "WRONGTYPE", 9) == 0 ? -EBADMSG : -EPROTO);
        areq_free(rq);
        return;
    }
    switch (rq->kind) {
    case AREQ_LEASE:
        lease_reply(rq, rep);
        break;
    case AREQ_CHECK:
        check_reply(rq, rep);
        break;
    case AREQ_FINISH:
        rq->cb.done(rq->ud, 0);
        break;
    case AREQ_RENEW:
        renew_reply(rq, rep);
        break;
    case AREQ_INTERNAL:
        if (rep->type == REDIS_REPLY_STRING && rep->len == 40 && rq->n < _SCRIPT_MAX)
            memcpy(rq->qa->sha[rq->n], rep->str, 41);
        if (rq->n == _SCRIPT_MAX - 1 && !qa->ready) {
            /* the handshake is answered: Redis is there (invariant: ready) */
            qa->ready = true;
            areq_free(rq);
            if (qa->ops.connected)
                qa->ops.connected(qa->ud);
            return;
        }
        break;
    }
    areq_free(rq);
}

static struct areq *areq_new(struct queue_async *qa, enum areq_kind kind)
{
    struct areq *rq = calloc(1, sizeof(*rq));
    if (rq) {
        rq->qa = qa;
        rq->kind = kind;
    }
    return rq;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct queue_async *qa = ac->data;
    if (status != REDIS_OK) {
        char why[300];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        qa->ac = NULL; /* hiredis frees it */
        qa_schedule_reconnect(qa, why);
        return;
    }
    qa->connected = true;
    qa->backoff_ms = 0;
    /* ordered on the connection: everything sent later finds them loaded */
    if (qa->addr.password) {
        struct areq *rq = areq_new(qa, AREQ_INTERNAL);
        if (rq && args_adds(&rq->a, "AUTH") >= 0 &&
            args_adds(&rq->a, qa->addr.password) >= 0) {
            rq->n = _SCRIPT_MAX;
            if (areq_send(rq) < 0)
                areq_free(rq);
        } else
            areq_free(rq);
    }
    if (qa->addr.db) {
        struct areq *rq = areq_new(qa, AREQ_INTERNAL);
        if (rq && args_adds(&rq->a, "SELECT") >= 0 && args_addf(&rq->a, "%d", qa->addr.db) >= 0) {
            rq->n = _SCRIPT_MAX;
            if (areq_send(rq) < 0)
                areq_free(rq);
        } else
            areq_free(rq);
    }
    for (int i = 0; i < _SCRIPT_MAX; i++) {
        struct areq *rq = areq_new(qa, AREQ_INTERNAL);
        if (rq && args_adds(&rq->a, "SCRIPT") >= 0 && args_adds(&rq->a, "LOAD") >= 0 &&
            args_adds(&rq->a, script_text[i]) >= 0) {
            rq->n = (size_t)i;
            if (areq_send(rq) < 0)
                areq_free(rq);
        } else
            areq_free(rq);
    }
    /* ops.connected once the last SCRIPT LOAD is answered (on_reply) */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct queue_async *qa = ac->data;
    qa->ac = NULL; /* hiredis frees it after this returns */
    qa->connected = qa->ready = false;
    qa->pending = 0;
    if (qa->freeing)
        return;
    char why[sizeof(qa->why)];
    if (qa->why[0])
        snprintf(why, sizeof(why), "%s", qa->why);
    else if (qa->timed_out)
        snprintf(why, sizeof(why), "no reply within %.3g s", qa->timeout_ms / 1000.0);
    else
        snprintf(why, sizeof(why), "%s",
                 status == REDIS_OK ? "connection closed"
                                    : (ac->errstr[0] ? ac->errstr : "connection lost"));
    qa->why[0] = 0;
    qa_schedule_reconnect(qa, why);
}

/* The timeouts (see struct queue_async). */
static void on_watch_timer(evutil_socket_t fd, short what, void *arg)
{
    struct queue_async *qa = arg;
    int64_t now = mono_ms();
    if (!qa->ac)
        return;
    if (!qa->connected) {
        if (now - qa->connect_started < qa->timeout_ms)
            return;
        /* never connected: hiredis calls no callback when freeing it */
        redisAsyncContext *ac = qa->ac;
        qa->ac = NULL;
        redisAsyncFree(ac);
        char why[64];
        snprintf(why, sizeof(why), "no connection within %.3g s", qa->timeout_ms / 1000.0);
        qa_schedule_reconnect(qa, why);
        return;
    }
    if (qa->pending && now - qa->progress_at >= qa->timeout_ms) {
        /* pending callbacks get -ETIMEDOUT, then on_disconnect reconnects */
        qa->timed_out = true;
        qa->connected = qa->ready = false;
        redisAsyncFree(qa->ac);
        qa->timed_out = false;
    }
}

static void qa_connect(struct queue_async *qa)
{
    redisAsyncContext *ac = qa->addr.path ? redisAsyncConnectUnix(qa->addr.path)
                                          : redisAsyncConnect(qa->addr.host, qa->addr.port);
    if (!ac) {
        qa_schedule_reconnect(qa, "out of memory");
        return;
    }
    if (ac->err) {
        char why[300];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        redisAsyncFree(ac);
        qa_schedule_reconnect(qa, why);
        return;
    }
    ac->data = qa;
    qa->ac = ac;
    qa->pending = 0;
    qa->connect_started = mono_ms();
    redisLibeventAttach(ac, qa->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    qa_connect(arg);
}

static void qa_schedule_reconnect(struct queue_async *qa, const char *why)
{
    qa->connected = qa->ready = false;
    if (qa->freeing)
        return;
    qa->backoff_ms = qa->backoff_ms ? qa->backoff_ms * 2 : 100;
    if (qa->backoff_ms > 2000)
        qa->backoff_ms = 2000;
    /* jitter: workers that lost Redis together do not come back in step */
    int64_t delay = qa->backoff_ms / 2 + (int64_t)(random() % (qa->backoff_ms / 2 + 1));
    if (qa->ops.disconnected)
        qa->ops.disconnected(qa->ud, why, delay);
    struct timeval tv = { (time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000 };
    evtimer_add(qa->retry_ev, &tv);
}

int queue_async_new(struct event_base *base, const char *url, const char *prefix,
                    int64_t timeout_ms, const struct queue_async_ops *ops, void *userdata,
                    struct queue_async **ret)
{
    struct queue_async *qa = calloc(1, sizeof(*qa));
    if (!qa)
        return -ENOMEM;
    int r = parse_url(url, &qa->addr);
    if (r < 0) {
        free(qa);
        return r;
    }
    qa->base = base;
    qa->ud = userdata;
    if (ops)
        qa->ops = *ops;
    qa->prefix = strdup(prefix ? prefix : QUEUE_DEFAULT_PREFIX);
    qa->timeout_ms = timeout_ms > 0 ? timeout_ms : QUEUE_DEFAULT_TIMEOUT_MS;
    qa->retry_ev = evtimer_new(base, on_retry_timer, qa);
    qa->watch_ev = event_new(base, -1, EV_PERSIST, on_watch_timer, qa);
    if (!qa->prefix || !qa->retry_ev || !qa->watch_ev) {
        queue_async_free(qa);
        return -ENOMEM;
    }
    int64_t period = qa->timeout_ms / 8 > 250 ? 250 : qa->timeout_ms / 8 + 1;
    struct timeval wtv = { (time_t)(period / 1000), (suseconds_t)(period % 1000) * 1000 };
    event_add(qa->watch_ev, &wtv);
    /* hashes are known without asking: SHA1 of the text, computed by Redis
     * on SCRIPT LOAD; until the first reply, EVALSHA falls back to EVAL */
    qa_connect(qa);
    *ret = qa;
    return 0;
}

void queue_async_free(struct queue_async *qa)
{
    if (!qa)
        return;
    qa->freeing = true;
    if (qa->ac)
        redisAsyncFree(qa->ac);
    qa->ac = NULL;
    if (qa->retry_ev)
        event_free(qa->retry_ev);
    if (qa->watch_ev)
        event_free(qa->watch_ev);
    redis_addr_release(&qa->addr);
    free(qa->prefix);
    free(qa);
}

bool queue_async_connected(const struct queue_async *qa)
{
    return qa && qa->ready;
}

/* EVALSHA when the hash is known, else EVAL with the body. */
static int args_eval_async(struct args *a, const struct queue_async *qa, enum script s,
                           int nkeys)
{
    int r;
    if (qa->sha[s][0]) {
        r = args_adds(a, "EVALSHA");
        if (r >= 0)
            r = args_adds(a, qa->sha[s]);
    } else {
        r = args_adds(a, "EVAL");
        if (r >= 0)
            r = args_adds(a, script_text[s]);
    }
    if (r >= 0)
        r = args_addf(a, "%d", nkeys);
    return r;
}

static int areq_go(struct areq *rq, int r)
{
    if (r >= 0)
        r = areq_send(rq);
    if (r < 0)
        areq_free(rq);
    return r;
}

int queue_async_lease(struct queue_async *qa, const struct queue_lease_args *la,
                      queue_lease_fn cb, void *userdata)
{
    static const enum key keys[] = {
        KEY_SCHED, KEY_RETRY, KEY_READY, KEY_REDO, KEY_LEASE, KEY_JOBS, KEY_TRIES, KEY_RATE,
        KEY_DEAD, KEY_DEAD_INDEX, KEY_FENCE,
    };
    if (!qa->ready)
        return -ENOTCONN;
    struct areq *rq = areq_new(qa, AREQ_LEASE);
    if (!rq)
        return -ENOMEM;
    rq->script = SCRIPT_LEASE;
    rq->cb.lease = cb;
    rq->ud = userdata;
    int r = args_eval_async(&rq->a, qa, SCRIPT_LEASE, (int)ELEMENTSOF(keys));
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(keys); i++) {
        bool per_channel = keys[i] != KEY_JOBS && keys[i] != KEY_TRIES && keys[i] != KEY_DEAD &&
                           keys[i] != KEY_DEAD_INDEX;
        r = args_key(&rq->a, qa->prefix, keys[i], per_channel ? la->channel : NULL);
    }
    if (r >= 0)
        r = args_addf(&rq->a, "%" PRId64, la->now_ms);
    if (r >= 0)
        r = args_addf(&rq->a, "%d", la->max > 0 ? la->max : 0);
    if (r >= 0)
        r = args_addf(&rq->a, "%" PRId64, la->visibility_ms);
    if (r >= 0)
        r = args_addf(&rq->a, "%.6g", la->rate > 0 ? la->rate : 0);
    if (r >= 0)
        r = args_addf(&rq->a, "%.6g", la->burst >= 1 ? la->burst : 1);
    if (r >= 0)
        r = args_adds(&rq->a, la->channel);
    if (r >= 0)
        r = args_adds(&rq->a, MOVE_LIMIT);
    if (r >= 0)
        r = args_key(&rq->a, qa->prefix, KEY_DONE, NULL);
    if (r >= 0)
        r = args_key(&rq->a, qa->prefix, KEY_STOP, NULL);
    if (r >= 0)
        r = la->redis_clock ? args_adds(&rq->a, "redis")
                            : args_addf(&rq->a, "%" PRId64, la->now_ms);
    return areq_go(rq, r);
}

int queue_async_check(struct queue_async *qa, const char *const *ids,
                      const char *const *debtors, size_t n, queue_check_fn cb, void *userdata)
{
    if (!qa->ready)
        return -ENOTCONN;
    if (n == 0)
        return -EINVAL;
    struct areq *rq = areq_new(qa, AREQ_CHECK);
    if (!rq)
        return -ENOMEM;
    rq->cb.check = cb;
    rq->ud = userdata;
    rq->n = n;
    int r = args_adds(&rq->a, "MGET");
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = args_key(&rq->a, qa->prefix, KEY_DONE, ids[i]);
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = args_key(&rq->a, qa->prefix, KEY_STOP, debtors[i] ? debtors[i] : "");
    return areq_go(rq, r);
}

static const char action_code[_QUEUE_ACTION_MAX] = {
    [QUEUE_DONE] = 'D', [QUEUE_RETRY] = 'R', [QUEUE_DEAD] = 'X',
    [QUEUE_RESCHEDULE] = 'S', [QUEUE_SKIP] = 'K', [QUEUE_CANCEL] = 'C',
};

int queue_async_finish(struct queue_async *qa, const char *channel, int64_t now,
                       const struct queue_outcome *o, size_t n, queue_done_fn cb, void *userdata)
{
    return queue_async_finish_fenced(qa, channel, now, 0, o, n, cb, userdata);
}

int queue_async_renew(struct queue_async *qa, const struct queue_renew_args *ra,
                      const char *const *ids, size_t n, queue_renew_fn cb, void *userdata)
{
    if (!qa->ready)
        return -ENOTCONN;
    if (n == 0 || ra->token <= 0)
        return -EINVAL;
    struct areq *rq = areq_new(qa, AREQ_RENEW);
    if (!rq)
        return -ENOMEM;
    rq->script = SCRIPT_RENEW;
    rq->cb.renew = cb;
    rq->ud = userdata;
    rq->n = n;
    int r = args_eval_async(&rq->a, qa, SCRIPT_RENEW, 2);
    if (r >= 0)
        r = args_key(&rq->a, qa->prefix, KEY_LEASE, ra->channel);
    if (r >= 0)
        r = args_key(&rq->a, qa->prefix, KEY_FENCE, ra->channel);
    if (r >= 0)
        r = args_addf(&rq->a, "%" PRId64, ra->token);
    if (r >= 0)
        r = args_addf(&rq->a, "%" PRId64, ra->visibility_ms);
    if (r >= 0)
        r = ra->redis_clock ? args_adds(&rq->a, "redis")
                            : args_addf(&rq->a, "%" PRId64, ra->now_ms);
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = args_adds(&rq->a, ids[i]);
    return areq_go(rq, r);
}

int queue_async_finish_fenced(struct queue_async *qa, const char *channel, int64_t now,
                              int64_t token, const struct queue_outcome *o, size_t n,
                              queue_done_fn cb, void *userdata)
{
    static const enum key keys[] = {
        KEY_LEASE, KEY_JOBS, KEY_TRIES, KEY_RETRY, KEY_DEAD, KEY_DEAD_INDEX, KEY_RESULTS,
        KEY_SCHED,
    };
    if (!qa->ready)
        return -ENOTCONN;
    struct areq *rq = areq_new(qa, AREQ_FINISH);
    if (!rq)
        return -ENOMEM;
    rq->script = SCRIPT_FINISH;
    rq->cb.done = cb;
    rq->ud = userdata;
    int r = args_eval_async(&rq->a, qa, SCRIPT_FINISH, (int)ELEMENTSOF(keys));
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(keys); i++) {
        bool per_channel = keys[i] == KEY_LEASE || keys[i] == KEY_RETRY || keys[i] == KEY_SCHED;
        r = args_key(&rq->a, qa->prefix, keys[i], per_channel ? channel : NULL);
    }
    if (r >= 0)
        r = args_addf(&rq->a, "%" PRId64, now);
    if (r >= 0)
        r = args_key(&rq->a, qa->prefix, KEY_DONE, NULL);
    if (r >= 0)
        r = args_addf(&rq->a, "%d", QUEUE_DONE_TTL_S);
    if (r >= 0)
        r = args_adds(&rq->a, channel);
    if (r >= 0)
        r = args_addf(&rq->a, "%" PRId64, token > 0 ? token : 0);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        if (o[i].action < 0 || o[i].action >= _QUEUE_ACTION_MAX) {
            r = -EINVAL;
            break;
        }
        r = args_adds(&rq->a, o[i].id);
        if (r >= 0)
            r = args_add(&rq->a, &action_code[o[i].action], 1);
        if (r >= 0)
            r = args_adds(&rq->a, o[i].status ? o[i].status : "");
        if (r >= 0)
            r = args_addf(&rq->a, "%" PRId64, o[i].due_ms);
        if (r >= 0)
            r = args_adds(&rq->a, o[i].info ? o[i].info : "");
    }
    return areq_go(rq, r);
}
