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
 *
 * Writes are buffered and written with whole lines per write(2) on an
 * O_APPEND descriptor, so several workers can share one file; flush()
 * runs before the worker acks.
 *
 * Invariants:
 *  1. Every CZ_SEND_OK line is in the file (written, not just buffered)
 *     before flush() returns 0.
 *  2. Like a provider that accepts idempotency keys, a redelivered job
 *     whose key is already in the file is answered CZ_SEND_OK without a
 *     second line (this closes the window between write and ack).
 */
#include <errno.h>
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
    char ts[80];         /* "YYYY-MM-DDTHH:MM:SS" of ts_sec */
    int pid;
};

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
            char *t = memmem(p, (size_t)(nl - p), key_tag, sizeof(key_tag) - 1);
            if (t) {
                char *s = t + sizeof(key_tag) - 1, *e = s;
                while (e < nl && *e != '"')
                    e += *e == '\\' ? 2 : 1;
                if (e < nl && (r = keyset_add(&l->seen, key_hash(s, (size_t)(e - s)))) < 0)
                    break;
            }
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
                                        NULL };
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
    if (settings && settings->type == YNODE_MAP) {
        _cleanup_free_ char *where = strdupf("settings of channel '%s'", ch->name);
        if (ynode_check_keys(settings, keys, where ? where : "settings", d) > 0)
            r = -EINVAL;
        if ((v = ynode_get(settings, "path")) && ynode_str(v, "path", &path, d) < 0)
            r = -EINVAL;
        if ((v = ynode_get(settings, "fail_first")) &&
            ynode_int(v, "fail_first", 0, 1000, &l->fail_first, d) < 0)
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
        free(l->path);
        free(l->fail_match);
        free(l->invalid_match);
        free(l);
        return r;
    }
    ch->priv = l;
    return 0;
}

static int log_send(struct channel *ch, const struct job *job, const struct chan_send_info *info,
                    chan_done_fn done, void *userdata)
{
    struct chan_log *l = ch->priv;
    char pid[64];
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
    snprintf(pid, sizeof(pid), "log-%" PRId64, job->attempt_id);

    /* the key as the file holds it: JSON-escaped, quotes stripped */
    struct sbuf key = SBUF_INIT;
    r = sbuf_add_json_str(&key, job->idempotency_key, strlen(job->idempotency_key));
    if (r < 0) {
        sbuf_release(&key);
        return r;
    }
    uint64_t h = 0;
    if (info && info->redelivered) {
        h = key_hash(key.buf + 1, key.len - 2);
        /* invariant 2: the previous holder may have written it already */
        if ((r = log_write_out(l)) < 0 || (r = log_scan(l)) < 0) {
            sbuf_release(&key);
            return r;
        }
        if (keyset_has(&l->seen, h)) {
            sbuf_release(&key);
            done(userdata, &(struct chan_result){ CZ_SEND_OK, pid, NULL });
            return 0;
        }
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec != l->ts_sec) {
        /* one gmtime per second, not per send */
        struct tm tm;
        time_t t = tv.tv_sec;
        gmtime_r(&t, &tm);
        snprintf(l->ts, sizeof(l->ts), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        l->ts_sec = tv.tv_sec;
    }

    size_t start = l->buf.len;
    r = sbuf_addf(&l->buf, "{\"sent_at\":\"%s.%03dZ\",\"attempt_id\":%" PRId64 ",%s", l->ts,
                  (int)(tv.tv_usec / 1000), job->attempt_id, key_tag);
    /* the key without its opening quote (key_tag ends with one) */
    if (r >= 0)
        r = sbuf_add(&l->buf, key.buf + 1, key.len - 1);
    sbuf_release(&key);
    if (r >= 0)
        r = sbuf_adds(&l->buf, ",\"channel\":");
    if (r >= 0)
        r = sbuf_add_json_str(&l->buf, ch->name, strlen(ch->name));
    if (r >= 0)
        r = sbuf_addf(&l->buf, ",\"kind\":\"%s\",\"debtor_id\":", chan_kind_to_string(ch->kind));
    if (r >= 0)
        r = sbuf_add_json_str(&l->buf, job->debtor_id, strlen(job->debtor_id));
    if (r >= 0)
        r = sbuf_adds(&l->buf, ",\"address\":");
    if (r >= 0)
        r = sbuf_add_json_str(&l->buf, job->address, strlen(job->address));
    if (r >= 0 && job->template_name) {
        r = sbuf_adds(&l->buf, ",\"template\":");
        if (r >= 0)
            r = sbuf_add_json_str(&l->buf, job->template_name, strlen(job->template_name));
    }
    if (r >= 0 && job->inputs) {
        /* dumped straight into the buffer: no intermediate string */
        r = sbuf_adds(&l->buf, ",\"inputs\":");
        if (r >= 0 && json_dump_callback(job->inputs, dump_to_sbuf, &l->buf,
                                         JSON_COMPACT | JSON_ENSURE_ASCII) < 0)
            r = -ENOMEM;
    }
    if (r >= 0)
        r = sbuf_addf(&l->buf, ",\"tries\":%d,\"pid\":%d}\n", info ? info->tries : 0, l->pid);
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
