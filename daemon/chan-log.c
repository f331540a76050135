/*
 * chan-log.c - the built-in `log` channel: appends one JSON line per send
 * to a file instead of contacting anyone.  The shipped configuration uses
 * it for every channel until real plugins are configured, and the tests
 * read its file to see what was sent.
 *
 * Settings (unknown keys are errors):
 *   path:          file to append to (relative: against the config file's
 *                  directory); default cadenza-sends.log in the working dir
 *   fail_first:    test knob: answer CZ_SEND_RETRY while a job has had
 *                  fewer failed tries than this
 *   fail_match:    test knob: addresses containing this fail permanently
 *   invalid_match: test knob: addresses containing this are invalid
 *   send_delay_ms: test knob: answer every send this long after it was
 *                  made (written then), without blocking: a slow provider
 *   send_block_ms: test knob: block the worker this long in every send:
 *                  a stalled process
 *
 * Writes are buffered and written with whole lines per write(2) on an
 * O_APPEND descriptor, so several workers can share one file; flush()
 * runs before the worker acks.
 *
 * Invariants:
 *  1. Every CZ_SEND_OK line is in the file (written, not just buffered)
 *     before flush() returns 0.
 *  2. Like a provider that accepts idempotency keys, a redelivered job
 *     whose key is already in a whole record of the file is answered
 *     CZ_SEND_OK without a second line (this closes the window between
 *     write and ack).  A record torn by a killed writer does not count,
 *     and neither hides the records written after it on the same line.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "util.h"

#define LOG_BUF_FLUSH (64 * 1024)

struct keyset {
    uint64_t *v; /* open addressing, 0 = empty */
    size_t n, cap;
};

struct chan_log {
    char *path;
    int fd;
    struct sbuf buf;
    int64_t fail_first;
    char *fail_match;
    char *invalid_match;
    struct keyset seen;  /* keys found in the file so far (lazy) */
    off_t scanned;       /* bytes of the file scanned into seen */
    uint64_t seq;
    time_t ts_sec;       /* second that ts was formatted for */
    char ts[80];         /* "YYYY-MM-DDTHH:MM:SS." of ts_sec */
    size_t ts_len;
    struct sbuf chan_json; /* the constant middle of a line: channel, kind, "debtor_id": */
    char pid_tail[48];   /* the constant end of a line: pid, "}" and newline */
    size_t pid_tail_len;
    int pid;
    int64_t send_delay_ms; /* test knobs: see log_delay() */
    int64_t send_block_ms;
};

/* Append a literal (a string constant: its length is known at compile time). */
#define ADD_LIT(b, lit) sbuf_add((b), (lit), sizeof(lit) - 1)

/* Decimal digits of v at the end of buf[24]; returns where they start. */
static char *fmt_i64(char *end, int64_t v)
{
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    char *p = end;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10));
    if (v < 0)
        *--p = '-';
    return p;
}

static int add_i64(struct sbuf *b, int64_t v)
{
    char buf[24], *p = fmt_i64(buf + sizeof(buf), v);
    return sbuf_add(b, p, (size_t)(buf + sizeof(buf) - p));
}

/* The provider id of a send: "log-<attempt id>", into buf[32]. */
static void fmt_pid(char *buf, int64_t id)
{
    char d[24], *p = fmt_i64(d + sizeof(d), id);
    size_t n = (size_t)(d + sizeof(d) - p);
    memcpy(buf, "log-", 4);
    memcpy(buf + 4, p, n);
    buf[4 + n] = 0;
}

static int dump_to_sbuf(const char *p, size_t n, void *data)
{
    return sbuf_add(data, p, n) < 0 ? -1 : 0;
}

static int keyset_add(struct keyset *s, uint64_t h)
{
    if (!h)
        h = 1;
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *v = calloc(cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i]) {
                size_t k = s->v[i] & (cap - 1);
                while (v[k])
                    k = (k + 1) & (cap - 1);
                v[k] = s->v[i];
            }
        free(s->v);
        s->v = v;
        s->cap = cap;
    }
    size_t k = h & (s->cap - 1);
    while (s->v[k]) {
        if (s->v[k] == h)
            return 0;
        k = (k + 1) & (s->cap - 1);
    }
    s->v[k] = h;
    s->n++;
    return 1;
}

static bool keyset_has(const struct keyset *s, uint64_t h)
{
    if (!h)
        h = 1;
    if (!s->cap)
        return false;
    for (size_t k = h & (s->cap - 1); s->v[k]; k = (k + 1) & (s->cap - 1))
        if (s->v[k] == h)
            return true;
    return false;
}

static const char key_tag[] = "\"idempotency_key\":\"";
static const char rec_tag[] = "{\"sent_at\":\"";

/*
 * The next record start in [p, end): {"sent_at":"<time>","attempt_id":N,
 * "idempotency_key":" as log_send() writes it (a message input holding a
 * "sent_at" key is not mistaken for one).
 */
static char *record_find(char *p, char *end)
{
    static const char aid[] = "\",\"attempt_id\":";
    for (char *rec; (rec = memmem(p, (size_t)(end - p), rec_tag, sizeof(rec_tag) - 1));
         p = rec + 1) {
        char *t = rec + sizeof(rec_tag) - 1;
        char *q = memchr(t, '"', (size_t)(end - t));
        if (!q || q - t > 40 || (size_t)(end - q) < sizeof(aid) - 1 ||
            memcmp(q, aid, sizeof(aid) - 1) != 0)
            continue;
        q += sizeof(aid) - 1;
        char *d = q;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
        if (q > d && (size_t)(end - q) > sizeof(key_tag) - 1 && *q == ',' &&
            memcmp(q + 1, key_tag, sizeof(key_tag) - 1) == 0)
            return rec;
    }
    return NULL;
}

/* A record is whole when it ends with its "pid":N} tail (log_send). */
static bool record_whole(const char *rec, const char *end)
{
    static const char tail[] = ",\"pid\":";
    const char *p = end;
    if (p - rec < 2 || p[-1] != '}')
        return false;
    p--;
    const char *digits = p;
    while (p > rec && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (p == digits || (size_t)(p - rec) < sizeof(tail) - 1)
        return false;
    return memcmp(p - (sizeof(tail) - 1), tail, sizeof(tail) - 1) == 0;
}

/* Hash of the key as written (JSON-escaped, without quotes). */
static uint64_t key_hash(const char *p, size_t n)
{
    return hash64(p, n, 0x6c6f67);
}

static int log_write_out(struct chan_log *l)
{
    size_t off = 0;
    while (off < l->buf.len) {
        ssize_t w = write(l->fd, l->buf.buf + off, l->buf.len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int r = -errno;
            /* keep what was not written for the next flush */
            memmove(l->buf.buf, l->buf.buf + off, l->buf.len - off);
            l->buf.len -= off;
            return r;
        }
        off += (size_t)w;
    }
    sbuf_reset(&l->buf);
    return 0;
}

/* Read the file from where the last scan stopped; add every key seen. */
static int log_scan(struct chan_log *l)
{
    int fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *chunk = malloc(1 << 20);
    struct sbuf carry = SBUF_INIT;
    int r = 0;
    if (!chunk) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n = pread(fd, chunk, 1 << 20, l->scanned + (off_t)carry.len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        if (n == 0)
            break;
        if ((r = sbuf_add(&carry, chunk, (size_t)n)) < 0)
            break;
        /* whole lines only: a line being written is finished later */
        char *end = memrchr(carry.buf, '\n', carry.len);
        if (!end)
            continue;
        size_t used = (size_t)(end - carry.buf) + 1;
        for (char *p = carry.buf; p < carry.buf + used;) {
            char *nl = memchr(p, '\n', (size_t)(carry.buf + used - p));
            /* every whole record on the line: a writer killed in the
             * middle of a record leaves it unterminated and the next one
             * continues the same line; a torn record does not count */
            for (char *q = p; r >= 0 && q < nl;) {
                char *rec = record_find(q, nl);
                if (!rec)
                    break;
                char *next = record_find(rec + 1, nl);
                char *rend = next ? next : nl;
                if (record_whole(rec, rend)) {
                    char *t = memmem(rec, (size_t)(rend - rec), key_tag, sizeof(key_tag) - 1);
                    if (t) {
                        char *ks = t + sizeof(key_tag) - 1, *e = ks;
                        while (e < rend && *e != '"')
                            e += *e == '\\' ? 2 : 1;
                        if (e < rend)
                            r = keyset_add(&l->seen, key_hash(ks, (size_t)(e - ks)));
                    }
                }
                q = rend;
            }
            if (r < 0)
                break;
            p = nl + 1;
        }
        if (r < 0)
            break;
        l->scanned += (off_t)used;
        memmove(carry.buf, carry.buf + used, carry.len - used);
        carry.len -= used;
    }
    free(chunk);
    sbuf_release(&carry);
    close(fd);
    return r < 0 ? r : 0;
}

static int log_init(struct channel *ch, const struct ynode *settings, struct diags *d)
{
    static const char *const keys[] = { "path", "fail_first", "fail_match", "invalid_match",
                                        "send_delay_ms", "send_block_ms", NULL };
    struct chan_log *l = calloc(1, sizeof(*l));
    const char *path = "cadenza-sends.log";
    const struct ynode *v;
    int r = 0;
    if (!l)
        return -ENOMEM;
    l->fd = -1;
    l->ts_sec = -1;
    l->pid = (int)getpid();
    l->buf.max = 64 * 1024 * 1024;
    l->pid_tail_len = (size_t)snprintf(l->pid_tail, sizeof(l->pid_tail), ",\"pid\":%d}\n",
                                       l->pid);
    if (ADD_LIT(&l->chan_json, ",\"channel\":") < 0 ||
        sbuf_add_json_str(&l->chan_json, ch->name, strlen(ch->name)) < 0 ||
        sbuf_addf(&l->chan_json, ",\"kind\":\"%s\",\"debtor_id\":",
                  chan_kind_to_string(ch->kind)) < 0)
        r = -ENOMEM;
    if (settings && settings->type == YNODE_MAP) {
        _cleanup_free_ char *where = strdupf("settings of channel '%s'", ch->name);
        if (ynode_check_keys(settings, keys, where ? where : "settings", d) > 0)
            r = -EINVAL;
        if ((v = ynode_get(settings, "path")) && ynode_str(v, "path", &path, d) < 0)
            r = -EINVAL;
        if ((v = ynode_get(settings, "fail_first")) &&
            ynode_int(v, "fail_first", 0, 1000, &l->fail_first, d) < 0)
            r = -EINVAL;
        if ((v = ynode_get(settings, "send_delay_ms")) &&
            ynode_int(v, "send_delay_ms", 0, 600000, &l->send_delay_ms, d) < 0)
            r = -EINVAL;
        if ((v = ynode_get(settings, "send_block_ms")) &&
            ynode_int(v, "send_block_ms", 0, 600000, &l->send_block_ms, d) < 0)
            r = -EINVAL;
        const char *s;
        if ((v = ynode_get(settings, "fail_match"))) {
            if (ynode_str(v, "fail_match", &s, d) < 0)
                r = -EINVAL;
            else
                l->fail_match = strdup(s);
        }
        if ((v = ynode_get(settings, "invalid_match"))) {
            if (ynode_str(v, "invalid_match", &s, d) < 0)
                r = -EINVAL;
            else
                l->invalid_match = strdup(s);
        }
    }
    if (r >= 0) {
        if (path[0] != '/' && ch->config_dir && settings && ynode_get(settings, "path"))
            l->path = strdupf("%s/%s", ch->config_dir, path);
        else
            l->path = strdup(path);
        if (!l->path)
            r = -ENOMEM;
    }
    if (r >= 0) {
        l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (l->fd < 0)
            r = -errno;
    }
    if (r < 0) {
        if (l->fd >= 0)
            close(l->fd);
        sbuf_release(&l->chan_json);
        free(l->path);
        free(l->fail_match);
        free(l->invalid_match);
        free(l);
        return r;
    }
    ch->priv = l;
    return 0;
}

static int log_send_now(struct channel *ch, const struct job *job,
                        const struct chan_send_info *info, chan_done_fn done, void *userdata)
{
    struct chan_log *l = ch->priv;
    char pid[32];
    int r;

    if (l->invalid_match && strstr(job->address, l->invalid_match)) {
        done(userdata, &(struct chan_result){ CZ_SEND_INVALID_ADDRESS, NULL,
                                              "address rejected (invalid_match)" });
        return 0;
    }
    if (l->fail_match && strstr(job->address, l->fail_match)) {
        done(userdata, &(struct chan_result){ CZ_SEND_FAILED, NULL,
                                              "send rejected (fail_match)" });
        return 0;
    }
    if (info && info->tries < l->fail_first) {
        done(userdata, &(struct chan_result){ CZ_SEND_RETRY, NULL,
                                              "transient failure (fail_first)" });
        return 0;
    }
    fmt_pid(pid, job->attempt_id);
    if (info && info->redelivered) {
        /* invariant 2: the previous holder may have written it already */
        if ((r = log_write_out(l)) < 0 || (r = log_scan(l)) < 0)
            return r;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec != l->ts_sec) {
        /* one gmtime per second, not per send */
        struct tm tm;
        time_t t = tv.tv_sec;
        gmtime_r(&t, &tm);
        snprintf(l->ts, sizeof(l->ts), "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        l->ts_len = strlen(l->ts);
        l->ts_sec = tv.tv_sec;
    }

    /* the line, built in place: no printf, no intermediate strings */
    size_t start = l->buf.len;
    int ms = (int)(tv.tv_usec / 1000);
    char msz[4] = { (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10),
                    'Z' };
    r = ADD_LIT(&l->buf, "{\"sent_at\":\"");
    if (r >= 0)
        r = sbuf_add(&l->buf, l->ts, l->ts_len);
    if (r >= 0)
        r = sbuf_add(&l->buf, msz, sizeof(msz));
    if (r >= 0)
        r = ADD_LIT(&l->buf, "\",\"attempt_id\":");
    if (r >= 0)
        r = add_i64(&l->buf, job->attempt_id);
    if (r >= 0)
        r = sbuf_addc(&l->buf, ',');
    size_t key_at = l->buf.len + sizeof(key_tag) - 1; /* the key as the file holds it */
    if (r >= 0)
        r = sbuf_add(&l->buf, key_tag, sizeof(key_tag) - 2);
    if (r >= 0)
        r = job_json_str(&l->buf, job->idempotency_key, strlen(job->idempotency_key));
    uint64_t h = 0;
    if (r >= 0 && info && info->redelivered) {
        h = key_hash(l->buf.buf + key_at, l->buf.len - key_at - 1);
        if (keyset_has(&l->seen, h)) {
            l->buf.len = start;
            done(userdata, &(struct chan_result){ CZ_SEND_OK, pid, NULL });
            return 0;
        }
    }
    if (r >= 0)
        r = sbuf_add(&l->buf, l->chan_json.buf, l->chan_json.len);
    if (r >= 0)
        r = job_json_str(&l->buf, job->debtor_id, strlen(job->debtor_id));
    if (r >= 0)
        r = ADD_LIT(&l->buf, ",\"address\":");
    if (r >= 0)
        r = job_json_str(&l->buf, job->address, strlen(job->address));
    if (r >= 0 && job->template_name) {
        r = ADD_LIT(&l->buf, ",\"template\":");
        if (r >= 0)
            r = job_json_str(&l->buf, job->template_name, strlen(job->template_name));
    }
    if (r >= 0 && (job->inputs_json || job->inputs)) {
        r = ADD_LIT(&l->buf, ",\"inputs\":");
        if (r >= 0 && job->inputs_json)
            r = sbuf_add(&l->buf, job->inputs_json, job->inputs_json_len);
        else if (r >= 0 && json_dump_callback(job->inputs, dump_to_sbuf, &l->buf,
                                              JSON_COMPACT | JSON_ENSURE_ASCII) < 0)
            r = -ENOMEM;
    }
    if (r >= 0)
        r = ADD_LIT(&l->buf, ",\"tries\":");
    if (r >= 0)
        r = add_i64(&l->buf, info ? info->tries : 0);
    if (r >= 0)
        r = sbuf_add(&l->buf, l->pid_tail, l->pid_tail_len);
    if (r < 0) {
        l->buf.len = start;
        return r;
    }
    if (info && info->redelivered)
        (void)keyset_add(&l->seen, h);
    if (l->buf.len >= LOG_BUF_FLUSH && (r = log_write_out(l)) < 0)
        return r;
    done(userdata, &(struct chan_result){ CZ_SEND_OK, pid, NULL });
    return 0;
}

/*
 * Test knobs for the queue's lease fencing (tests/integration/queue-stall.sh):
 * send_block_ms stalls the whole worker in every send; send_delay_ms
 * makes the send in the background (the job stays valid until its
 * completion, channel.h) and answers it later, like a slow provider.
 */
struct log_delayed {
    struct channel *ch;
    const struct job *job;
    struct chan_send_info info;
    chan_done_fn done;
    void *userdata;
    struct event *ev;
};

static void log_delayed_fire(evutil_socket_t fd, short what, void *arg)
{
    struct log_delayed *x = arg;
    int r = log_send_now(x->ch, x->job, &x->info, x->done, x->userdata);
    if (r < 0)
        x->done(x->userdata, &(struct chan_result){ CZ_SEND_RETRY, NULL, strerror(-r) });
    event_free(x->ev);
    free(x);
}

static int log_delay(struct channel *ch, const struct job *job, const struct chan_send_info *info,
                     chan_done_fn done, void *userdata)
{
    struct chan_log *l = ch->priv;
    if (l->send_block_ms > 0)
        usleep((useconds_t)(l->send_block_ms * 1000));
    if (l->send_delay_ms <= 0 || !ch->base)
        return log_send_now(ch, job, info, done, userdata);
    struct log_delayed *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    *x = (struct log_delayed){ ch, job, { 0, false }, done, userdata, NULL };
    if (info)
        x->info = *info;
    x->ev = evtimer_new(ch->base, log_delayed_fire, x);
    struct timeval tv = { (time_t)(l->send_delay_ms / 1000),
                          (suseconds_t)(l->send_delay_ms % 1000) * 1000 };
    if (!x->ev || evtimer_add(x->ev, &tv) < 0) {
        if (x->ev)
            event_free(x->ev);
        free(x);
        return -ENOMEM;
    }
    return 0;
}

static int log_send(struct channel *ch, const struct job *job, const struct chan_send_info *info,
                    chan_done_fn done, void *userdata)
{
    struct chan_log *l = ch->priv;
    if (l->send_delay_ms > 0 || l->send_block_ms > 0)
        return log_delay(ch, job, info, done, userdata);
    return log_send_now(ch, job, info, done, userdata);
}

static int log_flush(struct channel *ch)
{
    return log_write_out(ch->priv);
}

static void log_shutdown(struct channel *ch)
{
    struct chan_log *l = ch->priv;
    if (!l)
        return;
    (void)log_write_out(l);
    if (l->fd >= 0)
        close(l->fd);
    sbuf_release(&l->buf);
    sbuf_release(&l->chan_json);
    free(l->seen.v);
    free(l->path);
    free(l->fail_match);
    free(l->invalid_match);
    free(l);
    ch->priv = NULL;
}

const struct channel_ops chan_log_ops = {
    .plugin = "log",
    .init = log_init,
    .send = log_send,
    .flush = log_flush,
    .shutdown = log_shutdown,
};
