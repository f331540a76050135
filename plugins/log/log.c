/*
 * log.c - the `log` channel plugin: appends one JSON line per send to a
 * file instead of contacting anyone.  The shipped configuration uses it for
 * every channel until real plugins are configured, and the tests read its
 * file to see what was sent.  Built into cadenza through the same
 * descriptor as an external plugin (cadenza-plugin.h); it includes nothing
 * of the daemon, so its buffer, JSON string writer and hash are its own.
 *
 * Settings (the config map log_settings[]; the host rejects unknown keys):
 *   path:          file to append to (relative: against the config file's
 *                  directory); default cadenza-sends.log in the working dir
 *   fail_first:    test knob: answer CZ_SEND_RETRY while a job has had
 *                  fewer failed tries than this
 *   fail_match:    test knob: addresses containing this fail permanently
 *   invalid_match: test knob: addresses containing this are invalid
 *   send_delay_ms: test knob: answer every send this long after it was
 *                  made (written then), on a host timer: a slow provider
 *   send_block_ms: test knob: block the worker this long in every send:
 *                  a stalled process
 *
 * One line per send, fields in this order (tests parse it; keep it):
 *   {"sent_at":"YYYY-MM-DDTHH:MM:SS.mmmZ","attempt_id":N,
 *    "idempotency_key":"..","channel":"..","kind":"..","debtor_id":"..",
 *    "address":"..","template":"..","inputs":{..},"tries":N,"pid":N}
 * ("template" and "inputs" only when the job has them.)
 *
 * Owns its state, the file descriptor, the write buffer and the copies of
 * delayed jobs.  Never keeps a pointer into a job, never opens a socket,
 * never completes a send twice.
 *
 * Writes are buffered and written with whole lines per write(2) on an
 * O_APPEND descriptor, so several workers can share one file; the host
 * calls flush() before it acks.
 *
 * Invariants:
 *  1. Every CZ_SEND_OK line is in the file (written, not just buffered)
 *     before flush() returns 0.
 *  2. Like a provider that accepts idempotency keys, a redelivered job
 *     whose key is already in a whole record of the file is answered
 *     CZ_SEND_OK without a second line (this closes the window between
 *     write and ack).  A record torn by a killed writer does not count,
 *     and neither hides the records written after it on the same line.
 *  3. Every send the host starts is completed exactly once through
 *     host->complete(), or send returns < 0 and never completes it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memrchr */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "cadenza-plugin.h"

#define LOG_PATH_DEFAULT "cadenza-sends.log"
#define LOG_BUF_FLUSH (64 * 1024)       /* write out once this much is buffered */
#define LOG_BUF_MAX (64 * 1024 * 1024)  /* refuse sends past this while writes fail */
#define LOG_SCAN_CHUNK (1 << 20)

static const struct cz_setting log_settings[] = {
    { .key = "path", .type = CZ_SETTING_PATH, .default_value = LOG_PATH_DEFAULT,
      .doc = "file to append one JSON line per send to" },
    { .key = "fail_first", .type = CZ_SETTING_INT, .default_value = "0", .min = 0,
      .max = 1000, .doc = "test knob: retry while a job has had fewer failed tries than this" },
    { .key = "fail_match", .type = CZ_SETTING_STRING,
      .doc = "test knob: addresses containing this fail permanently" },
    { .key = "invalid_match", .type = CZ_SETTING_STRING,
      .doc = "test knob: addresses containing this are answered as invalid" },
    { .key = "send_delay_ms", .type = CZ_SETTING_INT, .default_value = "0", .min = 0,
      .max = 600000, .doc = "test knob: answer every send this long after it was made" },
    { .key = "send_block_ms", .type = CZ_SETTING_INT, .default_value = "0", .min = 0,
      .max = 600000, .doc = "test knob: block the process this long in every send" },
    { 0 }
};

/* ---- a growable byte buffer ---------------------------------------------- */

/* Always NUL-terminated once it holds something; max caps it (0: none). */
struct buf {
    char *buf;
    size_t len, cap, max;
};

/* Room for extra more bytes and a NUL: -E2BIG past max, -ENOMEM. */
static int buf_reserve(struct buf *b, size_t extra)
{
    if (b->max && (extra > b->max || b->len > b->max - extra))
        return -E2BIG;
    if (extra < b->cap && b->len < b->cap - extra)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - 1 < b->len + extra) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->buf, cap);
    if (!p)
        return -ENOMEM;
    b->buf = p;
    b->cap = cap;
    return 0;
}

static int buf_add(struct buf *b, const void *p, size_t n)
{
    int r = buf_reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = 0;
    return 0;
}

/* Append a literal (a string constant: its length is known at compile time). */
#define ADD_LIT(b, lit) buf_add((b), (lit), sizeof(lit) - 1)

static void buf_release(struct buf *b)
{
    free(b->buf);
    *b = (struct buf){ .max = b->max };
}

/*
 * Append s[0..n) as a JSON string literal, quotes included, byte for byte
 * what the daemon writes (sbuf_add_json_str, job_json_str): '"', '\\' and
 * control characters escaped (\n \r \t by name, the rest as \u00XX with
 * lowercase hex), everything else, UTF-8 and DEL included, as is.
 */
static int buf_add_json_str(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    size_t len = n + 2;
    for (const unsigned char *q = p; q < e; q++)
        if (*q < 0x20)
            len += *q == '\n' || *q == '\r' || *q == '\t' ? 1 : 5;
        else if (*q == '"' || *q == '\\')
            len++;
    int r = buf_reserve(b, len);
    if (r < 0)
        return r;
    char *o = b->buf + b->len;
    *o++ = '"';
    for (;;) {
        const unsigned char *q = p;
        while (q < e && *q >= 0x20 && *q != '"' && *q != '\\')
            q++;
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        if (q == e)
            break;
        unsigned char c = *q;
        p = q + 1;
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
    }
    *o++ = '"';
    b->len += len;
    b->buf[b->len] = 0;
    return 0;
}

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

static int buf_add_i64(struct buf *b, int64_t v)
{
    char d[24], *p = fmt_i64(d + sizeof(d), v);
    return buf_add(b, p, (size_t)(d + sizeof(d) - p));
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

/* ---- the key set ----------------------------------------------------------- */

/*
 * 64-bit FNV-1a, then the murmur3 finaliser so that the low bits the
 * table indexes with depend on every byte.  Only compared within this
 * process: it need not match the daemon's hash64().
 */
static uint64_t key_hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ 0x6c6f67; /* "log" */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

struct keyset {
    uint64_t *v; /* open addressing, 0 = empty (a hash of 0 is stored as 1) */
    size_t n, cap;
};

/* 1: added, 0: was there, -ENOMEM. */
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

/* ---- the channel state ----------------------------------------------------- */

struct log_delayed;

struct log_chan {
    struct cz_instance *inst;
    const struct cz_host *host;
    char *path;
    int fd;
    struct buf buf;          /* lines not yet written */
    int64_t fail_first;
    char *fail_match;        /* NULL: not set */
    char *invalid_match;
    struct keyset seen;      /* keys found in the file so far (lazy) */
    off_t scanned;           /* bytes of the file scanned into seen */
    int64_t ts_sec;          /* second that ts was formatted for */
    bool ts_valid;
    char ts[80];             /* "YYYY-MM-DDTHH:MM:SS." of ts_sec */
    size_t ts_len;
    struct buf chan_json;    /* the constant middle of a line: ,"channel":"NAME" */
    char pid_tail[48];       /* the constant end of a line: pid, "}" and newline */
    size_t pid_tail_len;
    int64_t send_delay_ms;   /* test knobs: see log_send() */
    int64_t send_block_ms;
    struct log_delayed *delayed; /* sends waiting for their timer */
};

/* The kind's part of a line, and the key that follows it. */
#define LIT(s) { s, sizeof(s) - 1 }
static const struct {
    const char *s;
    size_t n;
} kind_json[CZ_KIND_MAX_] = {
    [CZ_KIND_EMAIL] = LIT(",\"kind\":\"email\",\"debtor_id\":"),
    [CZ_KIND_SMS] = LIT(",\"kind\":\"sms\",\"debtor_id\":"),
    [CZ_KIND_CHAT] = LIT(",\"kind\":\"chat\",\"debtor_id\":"),
    [CZ_KIND_CALL] = LIT(",\"kind\":\"call\",\"debtor_id\":"),
    [CZ_KIND_LETTER] = LIT(",\"kind\":\"letter\",\"debtor_id\":"),
};

static void log_complete(struct cz_send *send, const struct cz_host *host,
                         enum cz_send_status status, const char *provider_id,
                         const char *error)
{
    host->complete(send, &(struct cz_result){ .status = status, .provider_id = provider_id,
                                              .error = error });
}

/* ---- the file -------------------------------------------------------------- */

static const char key_tag[] = "\"idempotency_key\":\"";
static const char rec_tag[] = "{\"sent_at\":\"";

/*
 * The next record start in [p, end): {"sent_at":"<time>","attempt_id":N,
 * "idempotency_key":" as log_send_now() writes it (a message input holding
 * a "sent_at" key is not mistaken for one).
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

/* A record is whole when it ends with its "pid":N} tail (log_send_now). */
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

/*
 * Write the whole buffer (keeps invariant 1).  0, or -errno with what was
 * not written kept for the next call.  Blocks on the file only.
 */
static int log_write_out(struct log_chan *l)
{
    size_t off = 0;
    while (off < l->buf.len) {
        ssize_t w = write(l->fd, l->buf.buf + off, l->buf.len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int r = -errno;
            memmove(l->buf.buf, l->buf.buf + off, l->buf.len - off);
            l->buf.len -= off;
            l->buf.buf[l->buf.len] = 0;
            return r;
        }
        off += (size_t)w;
    }
    l->buf.len = 0;
    if (l->buf.buf)
        l->buf.buf[0] = 0;
    return 0;
}

/* Add the key of every whole record on the line [p, nl) (invariant 2). */
static int log_scan_line(struct log_chan *l, char *p, char *nl)
{
    /* a writer killed in the middle of a record leaves it unterminated and
     * the next one continues the same line; a torn record does not count */
    for (char *q = p; q < nl;) {
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
                if (e < rend) {
                    int r = keyset_add(&l->seen, key_hash(ks, (size_t)(e - ks)));
                    if (r < 0)
                        return r;
                }
            }
        }
        q = rend;
    }
    return 0;
}

/* Read the file from where the last scan stopped; add every key seen.  Blocks on the file. */
static int log_scan(struct log_chan *l)
{
    int fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *chunk = malloc(LOG_SCAN_CHUNK);
    struct buf carry = { 0 };
    int r = 0;
    if (!chunk) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n = pread(fd, chunk, LOG_SCAN_CHUNK, l->scanned + (off_t)carry.len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        if (n == 0)
            break;
        if ((r = buf_add(&carry, chunk, (size_t)n)) < 0)
            break;
        /* whole lines only: a line being written is finished later */
        char *end = memrchr(carry.buf, '\n', carry.len);
        if (!end)
            continue;
        size_t used = (size_t)(end - carry.buf) + 1;
        for (char *p = carry.buf; r >= 0 && p < carry.buf + used;) {
            char *nl = memchr(p, '\n', (size_t)(carry.buf + used - p));
            r = log_scan_line(l, p, nl);
            p = nl + 1;
        }
        if (r < 0)
            break;
        l->scanned += (off_t)used;
        memmove(carry.buf, carry.buf + used, carry.len - used);
        carry.len -= used;
    }
    free(chunk);
    buf_release(&carry);
    close(fd);
    return r < 0 ? r : 0;
}

/* ---- the plugin callbacks ---------------------------------------------- */

/* A copy of the job fields log_send_now() reads, for a delayed send. */
struct log_delayed {
    struct log_delayed *prev, *next; /* in log_chan.delayed */
    struct log_chan *l;
    struct cz_send *send;
    struct cz_timer *timer;
    struct cz_job job; /* strings point into mem */
    char mem[];
};

/* Frees the state; copes with a half-built one.  Writes nothing. */
static void log_free(struct log_chan *l)
{
    if (!l)
        return;
    while (l->delayed) {
        /* shutdown comes after the last completion: none should be left */
        struct log_delayed *x = l->delayed;
        l->delayed = x->next;
        l->host->timer_cancel(x->timer);
        free(x);
    }
    if (l->fd >= 0)
        close(l->fd);
    buf_release(&l->buf);
    buf_release(&l->chan_json);
    free(l->seen.v);
    free(l->path);
    free(l->fail_match);
    free(l->invalid_match);
    free(l);
}

/* A copy of a string setting that was given, in *ret; NULL when it was not. */
static int log_setting_dup(struct log_chan *l, const char *key, char **ret)
{
    const char *s = l->host->setting_set(l->inst, key) ? l->host->setting_str(l->inst, key)
                                                        : NULL;
    *ret = NULL;
    if (s && !(*ret = strdup(s)))
        return -ENOMEM;
    return 0;
}

static int log_init(struct cz_instance *inst, const struct cz_host *host, void **ret_state)
{
    struct log_chan *l = calloc(1, sizeof(*l));
    const char *name = host->instance_name(inst);
    const char *path = LOG_PATH_DEFAULT;
    int r = -ENOMEM;

    /* a given path comes back resolved against the config file's directory;
     * the default stays relative to the working directory, as it always was */
    if (host->setting_set(inst, "path") && host->setting_str(inst, "path"))
        path = host->setting_str(inst, "path");
    if (!l)
        goto oom;
    l->inst = inst;
    l->host = host;
    l->fd = -1;
    l->buf.max = LOG_BUF_MAX;
    l->pid_tail_len = (size_t)snprintf(l->pid_tail, sizeof(l->pid_tail), ",\"pid\":%d}\n",
                                       (int)getpid());
    if (!name)
        name = "";
    if ((r = ADD_LIT(&l->chan_json, ",\"channel\":")) < 0 ||
        (r = buf_add_json_str(&l->chan_json, name, strlen(name))) < 0)
        goto oom;
    l->fail_first = host->setting_int(inst, "fail_first");
    l->send_delay_ms = host->setting_int(inst, "send_delay_ms");
    l->send_block_ms = host->setting_int(inst, "send_block_ms");
    if ((r = log_setting_dup(l, "fail_match", &l->fail_match)) < 0 ||
        (r = log_setting_dup(l, "invalid_match", &l->invalid_match)) < 0)
        goto oom;
    if (!(l->path = strdup(path))) {
        r = -ENOMEM;
        goto oom;
    }
    l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (l->fd < 0) {
        r = -errno;
        host->log(inst, CZ_LOG_ERROR, "cannot open log file '%s': %s", l->path, strerror(-r));
        log_free(l);
        return r;
    }
    *ret_state = l;
    return 0;

oom:
    host->log(inst, CZ_LOG_ERROR, "cannot set up log file '%s': %s", path, strerror(-r));
    log_free(l);
    return r;
}

/*
 * Answer one send now: a test knob's answer, or the line appended to the
 * buffer (written out once LOG_BUF_FLUSH is buffered) and CZ_SEND_OK.
 * 0 once send is completed; < 0, without completing it, when the file
 * could not be scanned or written or the buffer is full.  Blocks on the
 * file only.
 */
static int log_send_now(struct log_chan *l, const struct cz_job *job, struct cz_send *send)
{
    const struct cz_host *host = l->host;
    char pid[32];
    int r;

    if (!job->idempotency_key || !job->debtor_id || !job->address ||
        (unsigned)job->kind >= CZ_KIND_MAX_) {
        log_complete(send, host, CZ_SEND_FAILED, NULL,
                     "job without idempotency_key, debtor_id, address or kind");
        return 0;
    }
    if (l->invalid_match && strstr(job->address, l->invalid_match)) {
        log_complete(send, host, CZ_SEND_INVALID_ADDRESS, NULL,
                     "address rejected (invalid_match)");
        return 0;
    }
    if (l->fail_match && strstr(job->address, l->fail_match)) {
        log_complete(send, host, CZ_SEND_FAILED, NULL, "send rejected (fail_match)");
        return 0;
    }
    if (job->tries < l->fail_first) {
        log_complete(send, host, CZ_SEND_RETRY, NULL, "transient failure (fail_first)");
        return 0;
    }
    fmt_pid(pid, job->attempt_id);
    if (job->redelivered) {
        /* invariant 2: the previous holder may have written it already */
        if ((r = log_write_out(l)) < 0 || (r = log_scan(l)) < 0)
            return r;
    }
    int64_t now = host->wall_ms();
    int64_t sec = now / 1000 - (now % 1000 < 0), ms = now - sec * 1000;
    if (!l->ts_valid || sec != l->ts_sec) {
        /* one gmtime per second, not per send */
        struct tm tm;
        time_t t = (time_t)sec;
        gmtime_r(&t, &tm);
        snprintf(l->ts, sizeof(l->ts), "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        l->ts_len = strlen(l->ts);
        l->ts_sec = sec;
        l->ts_valid = true;
    }

    /* the line, built in place: no printf, no intermediate strings */
    size_t start = l->buf.len;
    char msz[4] = { (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10),
                    'Z' };
    r = ADD_LIT(&l->buf, "{\"sent_at\":\"");
    if (r >= 0)
        r = buf_add(&l->buf, l->ts, l->ts_len);
    if (r >= 0)
        r = buf_add(&l->buf, msz, sizeof(msz));
    if (r >= 0)
        r = ADD_LIT(&l->buf, "\",\"attempt_id\":");
    if (r >= 0)
        r = buf_add_i64(&l->buf, job->attempt_id);
    if (r >= 0)
        r = ADD_LIT(&l->buf, ",");
    size_t key_at = l->buf.len + sizeof(key_tag) - 1; /* the key as the file holds it */
    if (r >= 0)
        r = buf_add(&l->buf, key_tag, sizeof(key_tag) - 2);
    if (r >= 0)
        r = buf_add_json_str(&l->buf, job->idempotency_key, strlen(job->idempotency_key));
    uint64_t h = 0;
    if (r >= 0 && job->redelivered) {
        h = key_hash(l->buf.buf + key_at, l->buf.len - key_at - 1);
        if (keyset_has(&l->seen, h)) {
            l->buf.len = start;
            l->buf.buf[start] = 0;
            log_complete(send, host, CZ_SEND_OK, pid, NULL);
            return 0;
        }
    }
    if (r >= 0)
        r = buf_add(&l->buf, l->chan_json.buf, l->chan_json.len);
    if (r >= 0)
        r = buf_add(&l->buf, kind_json[job->kind].s, kind_json[job->kind].n);
    if (r >= 0)
        r = buf_add_json_str(&l->buf, job->debtor_id, strlen(job->debtor_id));
    if (r >= 0)
        r = ADD_LIT(&l->buf, ",\"address\":");
    if (r >= 0)
        r = buf_add_json_str(&l->buf, job->address, strlen(job->address));
    if (r >= 0 && job->template_name) {
        r = ADD_LIT(&l->buf, ",\"template\":");
        if (r >= 0)
            r = buf_add_json_str(&l->buf, job->template_name, strlen(job->template_name));
    }
    if (r >= 0 && job->inputs_json) {
        r = ADD_LIT(&l->buf, ",\"inputs\":");
        if (r >= 0)
            r = buf_add(&l->buf, job->inputs_json, strlen(job->inputs_json));
    }
    if (r >= 0)
        r = ADD_LIT(&l->buf, ",\"tries\":");
    if (r >= 0)
        r = buf_add_i64(&l->buf, job->tries);
    if (r >= 0)
        r = buf_add(&l->buf, l->pid_tail, l->pid_tail_len);
    if (r < 0) {
        l->buf.len = start;
        if (l->buf.buf)
            l->buf.buf[start] = 0;
        return r;
    }
    if (job->redelivered)
        (void)keyset_add(&l->seen, h);
    if (l->buf.len >= LOG_BUF_FLUSH && (r = log_write_out(l)) < 0)
        return r;
    log_complete(send, host, CZ_SEND_OK, pid, NULL);
    return 0;
}

/* ---- send_delay_ms: answer later, on a host timer -------------------------- */

/* Copy s to *o, moving *o past it; NULL stays NULL. */
static const char *copy_str(char **o, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = memcpy(*o, s, n);
    *o += n;
    return p;
}

/* A copy of the fields of job that log_send_now() reads; NULL on OOM. */
static struct log_delayed *log_delayed_new(const struct cz_job *job)
{
    const char *s[] = { job->idempotency_key, job->debtor_id, job->address,
                        job->template_name, job->inputs_json };
    size_t mem = 0;
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        if (s[i])
            mem += strlen(s[i]) + 1;
    struct log_delayed *x = calloc(1, sizeof(*x) + mem);
    if (!x)
        return NULL;
    char *o = x->mem;
    x->job = (struct cz_job){
        .attempt_id = job->attempt_id,
        .kind = job->kind,
        .not_after = job->not_after,
        .tries = job->tries,
        .redelivered = job->redelivered,
    };
    x->job.idempotency_key = copy_str(&o, job->idempotency_key);
    x->job.debtor_id = copy_str(&o, job->debtor_id);
    x->job.address = copy_str(&o, job->address);
    x->job.template_name = copy_str(&o, job->template_name);
    x->job.inputs_json = copy_str(&o, job->inputs_json);
    return x;
}

static void log_delayed_unlink(struct log_chan *l, struct log_delayed *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        l->delayed = x->next;
    if (x->next)
        x->next->prev = x->prev;
}

static void log_delayed_fire(void *userdata)
{
    struct log_delayed *x = userdata;
    struct log_chan *l = x->l;
    log_delayed_unlink(l, x);
    int r = log_send_now(l, &x->job, x->send);
    if (r < 0)
        log_complete(x->send, l->host, CZ_SEND_RETRY, NULL, strerror(-r));
    free(x);
}

/*
 * Start a send (rule 2).  With the test knobs: send_block_ms stalls the
 * whole process first (it blocks on purpose, tests/integration/
 * queue-stall.sh); send_delay_ms copies the job and answers it when a host
 * timer fires, like a slow provider (at once when the host has no timer
 * for it).  0, or < 0 without a completion.
 */
static int log_send(void *state, const struct cz_job *job, struct cz_send *send)
{
    struct log_chan *l = state;
    if (l->send_block_ms > 0) {
        struct timespec ts = { .tv_sec = (time_t)(l->send_block_ms / 1000),
                               .tv_nsec = (long)(l->send_block_ms % 1000) * 1000000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    if (l->send_delay_ms <= 0)
        return log_send_now(l, job, send);
    struct log_delayed *x = log_delayed_new(job);
    if (!x)
        return -ENOMEM;
    x->l = l;
    x->send = send;
    /* the host fires timers from its loop, never inside timer_add() */
    x->timer = l->host->timer_add(l->inst, l->send_delay_ms, log_delayed_fire, x);
    if (!x->timer) {
        /* no loop to wait on (or no memory for a timer): answer now, as
         * chan-log.c did without an event base; the delay is only a knob */
        free(x);
        return log_send_now(l, job, send);
    }
    x->next = l->delayed;
    if (x->next)
        x->next->prev = x;
    l->delayed = x;
    return 0;
}

/* Invariant 1: everything buffered is written, or -errno (kept for the next call). */
static int log_flush(void *state)
{
    return log_write_out(state);
}

static void log_shutdown(void *state)
{
    struct log_chan *l = state;
    if (!l)
        return;
    (void)log_write_out(l);
    log_free(l);
}

const struct cz_channel_plugin cz_channel_plugin = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = CZ_PLUGIN_ABI_MINOR,
    .name = "log",
    .description = "appends one JSON line per send to a file (tests, dry runs)",
    .kinds = CZ_KIND_BIT(CZ_KIND_EMAIL) | CZ_KIND_BIT(CZ_KIND_SMS) | CZ_KIND_BIT(CZ_KIND_CHAT) |
             CZ_KIND_BIT(CZ_KIND_CALL) | CZ_KIND_BIT(CZ_KIND_LETTER),
    .settings = log_settings,
    .init = log_init,
    .send = log_send,
    .flush = log_flush,
    .shutdown = log_shutdown,
};
