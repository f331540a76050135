/*
 * import.c - the debtor import pipeline (see import.h).
 *
 *   reader (caller's thread)      validators (N threads)     writer (1 thread)
 *   parse, hash, skip unchanged -> debtor_validate()      -> BEGIN; upsert...; COMMIT
 *        |  raw batches                 | checked batches        | in input order
 *
 * Owns: the batches in flight and the id -> row-hash map.  Must never:
 * touch the store from any thread but the writer while the pipeline runs,
 * or queue more than QUEUE_DEPTH batches between the stages (memory stays bounded
 * whatever the input size).
 *
 * Invariants:
 *  1. A batch is committed whole or not at all: one transaction each.
 *  2. Batches are written in the order they were read (sequence numbers),
 *     so the last row of a duplicated id can never overtake the first and
 *     rejects appear in input order.
 *  3. An id seen twice in one input is rejected the second time: the map
 *     marks ids seen in this import.
 *  4. A row whose raw hash equals the stored one is counted unchanged and
 *     never validated or written (the daily-refresh fast path).
 *  5. One row never costs another: a row the store's constraints refuse is
 *     rejected with the store's reason, and the rest of its batch is
 *     committed as usual.
 */
#include "import.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "phone.h"
#include "rowreader.h"

#define QUEUE_DEPTH 2

/* ---- id map: hash64(external id) -> stored row hash ---- */

/*
 * Open addressing with linear probing, 16 bytes a slot, load <= 0.8.  Keys are 64-bit hashes of the
 * external id (0 is remapped); a collision between two distinct ids has a
 * probability of about n^2 / 2^65 (3e-8 for a million ids) and would make
 * the second look like a duplicate: documented in docs/import.md.
 */
struct idmap {
    uint64_t *keys;
    uint64_t *vals; /* row hash; top bit: seen in this import */
    size_t cap, n;
};

#define SEEN_BIT (1ull << 63)

static uint64_t id_key(const char *id, size_t len)
{
    uint64_t k = hash64(id, len, 0x6361646e657a61ull);
    return k ? k : 1;
}

/* Home slot: the high half of key * cap spreads keys over any capacity. */
static size_t idmap_home(const struct idmap *m, uint64_t key)
{
    return (size_t)(((__uint128_t)key * m->cap) >> 64);
}

static int idmap_resize(struct idmap *m, size_t cap)
{
    struct idmap nm = { .cap = cap };
    nm.keys = calloc(nm.cap, sizeof(*nm.keys));
    nm.vals = malloc(nm.cap * sizeof(*nm.vals));
    if (!nm.keys || !nm.vals) {
        free(nm.keys);
        free(nm.vals);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = idmap_home(&nm, m->keys[i]);
        while (nm.keys[j])
            j = j + 1 == nm.cap ? 0 : j + 1;
        nm.keys[j] = m->keys[i];
        nm.vals[j] = m->vals[i];
    }
    nm.n = m->n;
    free(m->keys);
    free(m->vals);
    *m = nm;
    return 0;
}

/* Find or insert; *ret_slot points at the value, *ret_new tells which. */
static int idmap_upsert(struct idmap *m, uint64_t key, uint64_t **ret_slot, bool *ret_new)
{
    /* linear probing stays short up to a load of about 0.8 */
    if ((m->n + 1) * 5 > m->cap * 4) {
        int r = idmap_resize(m, m->cap ? m->cap + m->cap / 2 : 1 << 16);
        if (r < 0)
            return r;
    }
    size_t j = idmap_home(m, key);
    while (m->keys[j] && m->keys[j] != key)
        j = j + 1 == m->cap ? 0 : j + 1;
    *ret_new = !m->keys[j];
    if (*ret_new) {
        m->keys[j] = key;
        m->vals[j] = 0;
        m->n++;
    }
    *ret_slot = &m->vals[j];
    return 0;
}

static void idmap_release(struct idmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

static int load_hash(void *ctx, const char *id, size_t len, uint64_t row_hash)
{
    uint64_t *slot;
    bool isnew;
    int r = idmap_upsert(ctx, id_key(id, len), &slot, &isnew);
    if (r < 0)
        return r;
    *slot = row_hash & ~SEEN_BIT;
    return 0;
}

/* ---- batches ---- */

enum row_state {
    ROW_PENDING,  /* to validate */
    ROW_VALID,    /* validated, to write */
    ROW_REJECTED, /* err holds why */
};

struct brow {
    struct raw_row raw;  /* pointers into batch->text */
    struct debtor_rec rec;
    size_t raw_off, raw_len; /* verbatim input, for the rejects file */
    size_t err_off;          /* into batch->errs when rejected */
    uint64_t hash;           /* raw_row_hash() of the row as read */
    bool exists;             /* the id was in the store: an update, not an insert */
    enum row_state state;
};

struct batch {
    uint64_t seq;
    struct brow *rows;
    size_t n, cap;
    struct sbuf text;        /* field copies and raw records: frozen once submitted */
    struct sbuf errs;        /* why rows were rejected */
    struct batch *next;
};

static void batch_free(struct batch *b)
{
    if (!b)
        return;
    free(b->rows);
    sbuf_release(&b->text);
    sbuf_release(&b->errs);
    free(b);
}

static struct batch *batch_new(size_t cap, uint64_t seq)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->rows = malloc(cap * sizeof(*b->rows));
    if (!b->rows) {
        free(b);
        return NULL;
    }
    b->cap = cap;
    b->seq = seq;
    return b;
}

/* Append bytes NUL-terminated; returns the offset or -ENOMEM. */
static ssize_t text_add(struct sbuf *t, const char *p, size_t n)
{
    size_t off = t->len;
    if (sbuf_add(t, p, n) < 0 || sbuf_addc(t, 0) < 0)
        return -ENOMEM;
    return (ssize_t)off;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Copy a row into the batch with every field trimmed and NUL-terminated,
 * so that validators may borrow the copies.  Offsets are fixed up into
 * pointers when the batch is full (the buffer may move while it grows).
 */
static int batch_add(struct batch *b, const struct raw_row *row, uint64_t hash, long line,
                     const char *raw, size_t rawlen, const char *err)
{
    struct brow *br = &b->rows[b->n];
    memset(br, 0, sizeof(*br));
    br->raw.line = line;
    br->hash = hash;
    ssize_t off;
    if (row) {
        for (int i = 0; i < _DCOL_MAX; i++) {
            const char *f = row->f[i];
            size_t n = row->flen[i];
            if (!f) {
                br->raw.f[i] = NULL;
                continue;
            }
            while (n && is_space(*f)) {
                f++;
                n--;
            }
            while (n && is_space(f[n - 1]))
                n--;
            if ((off = text_add(&b->text, f, n)) < 0)
                return -ENOMEM;
            br->raw.f[i] = (const char *)(uintptr_t)(off + 1); /* fixed up later */
            br->raw.flen[i] = n;
        }
    }
    if ((off = text_add(&b->text, raw, rawlen)) < 0)
        return -ENOMEM;
    br->raw_off = (size_t)off;
    br->raw_len = rawlen;
    if (err) {
        if ((off = text_add(&b->errs, err, strlen(err))) < 0)
            return -ENOMEM;
        br->err_off = (size_t)off;
        br->state = ROW_REJECTED;
    } else
        br->state = ROW_PENDING;
    b->n++;
    return 0;
}

static void batch_fixup(struct batch *b)
{
    for (size_t k = 0; k < b->n; k++)
        for (int i = 0; i < _DCOL_MAX; i++)
            if (b->rows[k].raw.f[i])
                b->rows[k].raw.f[i] = b->text.buf + ((uintptr_t)b->rows[k].raw.f[i] - 1);
}

/* ---- batch queues between the stages ---- */

struct bqueue {
    struct batch *head, *tail;
    size_t n;
    bool closed;
    pthread_cond_t cond;
};

struct pipeline {
    pthread_mutex_t lock;
    struct bqueue to_check, to_write;
    pthread_cond_t space; /* a stage has room again */
    int failed;           /* first runtime error, < 0 */
    char err[256];
    /* writer state */
    struct store *store;
    const struct import_opts *o;
    int rejects_format;
    const char *header;
    size_t header_len;
    bool rejects_header_done;
    struct import_counts counts; /* inserted/updated/rejected from the writer */
    size_t reported;
};

static void bq_push(struct pipeline *p, struct bqueue *q, struct batch *b)
{
    b->next = NULL;
    if (q->tail)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    q->n++;
    pthread_cond_broadcast(&q->cond);
}

static struct batch *bq_pop(struct bqueue *q)
{
    struct batch *b = q->head;
    if (!b)
        return NULL;
    q->head = b->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    return b;
}

static void pipeline_fail(struct pipeline *p, int r, const char *fmt, ...) _printf_(3, 4);
static void pipeline_fail(struct pipeline *p, int r, const char *fmt, ...)
{
    pthread_mutex_lock(&p->lock);
    if (!p->failed) {
        va_list ap;
        p->failed = r;
        va_start(ap, fmt);
        vsnprintf(p->err, sizeof(p->err), fmt, ap);
        va_end(ap);
    }
    p->to_check.closed = p->to_write.closed = true;
    pthread_cond_broadcast(&p->to_check.cond);
    pthread_cond_broadcast(&p->to_write.cond);
    pthread_cond_broadcast(&p->space);
    pthread_mutex_unlock(&p->lock);
}

static void *validator_main(void *arg)
{
    struct pipeline *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        struct batch *b;
        while (!(b = bq_pop(&p->to_check)) && !p->to_check.closed)
            pthread_cond_wait(&p->to_check.cond, &p->lock);
        pthread_cond_broadcast(&p->space);
        pthread_mutex_unlock(&p->lock);
        if (!b)
            return NULL;
        char err[512];
        for (size_t i = 0; i < b->n; i++) {
            struct brow *br = &b->rows[i];
            if (br->state != ROW_PENDING)
                continue;
            if (debtor_validate(&br->raw, &p->o->defaults, &br->rec, err, sizeof(err)) < 0) {
                ssize_t off = text_add(&b->errs, err, strlen(err));
                if (off < 0) {
                    pipeline_fail(p, -ENOMEM, "out of memory");
                    batch_free(b);
                    return NULL;
                }
                br->err_off = (size_t)off;
                br->state = ROW_REJECTED;
            } else
                br->state = ROW_VALID;
        }
        pthread_mutex_lock(&p->lock);
        if (p->to_write.closed && p->failed) {
            pthread_mutex_unlock(&p->lock);
            batch_free(b);
            continue;
        }
        bq_push(p, &p->to_write, b);
        pthread_mutex_unlock(&p->lock);
    }
}

static void write_reject(struct pipeline *p, const struct batch *b, const struct brow *br)
{
    const char *err = b->errs.buf + br->err_off;
    const char *raw = b->text.buf + br->raw_off;
    const struct import_opts *o = p->o;
    if (o->errors && p->reported < o->max_reported) {
        fprintf(o->errors, "%s:%ld: error: %s\n", o->name, br->raw.line, err);
        p->reported++;
    } else if (o->errors && p->reported == o->max_reported) {
        fprintf(o->errors, "%s: note: further rejected rows are not shown here%s\n", o->name,
                o->rejects ? "; see the rejects file" : "");
        p->reported++;
    }
    if (!o->rejects)
        return;
    struct sbuf line = SBUF_INIT;
    if (p->rejects_format == ROW_FORMAT_JSONL) {
        sbuf_addf(&line, "{\"line\":%ld,\"error\":", br->raw.line);
        sbuf_add_json_str(&line, err, strlen(err));
        sbuf_adds(&line, ",\"input\":");
        sbuf_add_json_str(&line, raw, br->raw_len);
        sbuf_adds(&line, "}\n");
    } else {
        if (!p->rejects_header_done) {
            sbuf_add(&line, p->header, p->header_len);
            sbuf_adds(&line, ",_error\r\n");
            p->rejects_header_done = true;
        }
        size_t n = br->raw_len;
        while (n && (raw[n - 1] == '\n' || raw[n - 1] == '\r'))
            n--;
        sbuf_add(&line, raw, n);
        sbuf_adds(&line, ",\"");
        for (const char *c = err; *c; c++) {
            if (*c == '"')
                sbuf_addc(&line, '"');
            sbuf_addc(&line, *c);
        }
        sbuf_adds(&line, "\"\r\n");
    }
    fwrite(line.buf, 1, line.len, o->rejects);
    sbuf_release(&line);
}

static int write_batch(struct pipeline *p, struct batch *b)
{
    int r = store_begin(p->store);
    if (r < 0)
        return r;
    int64_t ins = 0, upd = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct brow *br = &b->rows[i];
        if (br->state != ROW_VALID)
            continue;
        int changed;
        br->rec.row_hash = br->hash;
        r = store_debtor_upsert(p->store, &br->rec, p->o->now, &changed);
        if (r == -EINVAL) {
            /* the schema refused this row alone: reject it, keep the batch (invariant 5) */
            char why[300];
            snprintf(why, sizeof(why), "cannot be stored: %s", store_errmsg(p->store));
            ssize_t off = text_add(&b->errs, why, strlen(why));
            if (off < 0) {
                store_rollback(p->store);
                return -ENOMEM;
            }
            br->err_off = (size_t)off;
            br->state = ROW_REJECTED;
            continue;
        }
        if (r < 0) {
            store_rollback(p->store);
            return r;
        }
        ins += changed && !br->exists;
        upd += changed && br->exists;
    }
    if ((r = store_commit(p->store)) < 0) {
        store_rollback(p->store);
        return r;
    }
    /* Only once the batch is durable do its rejects count (invariant 1). */
    for (size_t i = 0; i < b->n; i++)
        if (b->rows[i].state == ROW_REJECTED) {
            write_reject(p, b, &b->rows[i]);
            p->counts.rejected++;
        }
    p->counts.inserted += ins;
    p->counts.updated += upd;
    return 0;
}

static void *writer_main(void *arg)
{
    struct pipeline *p = arg;
    uint64_t want = 0;
    struct batch *held = NULL; /* out-of-order arrivals, sorted by seq */
    for (;;) {
        pthread_mutex_lock(&p->lock);
        struct batch *b;
        for (;;) {
            /* take the next in sequence from held, else from the queue */
            struct batch **pp = &held;
            while (*pp && (*pp)->seq != want)
                pp = &(*pp)->next;
            if (*pp) {
                b = *pp;
                *pp = b->next;
                break;
            }
            b = bq_pop(&p->to_write);
            if (b) {
                if (b->seq == want)
                    break;
                b->next = held;
                held = b;
                continue;
            }
            if (p->to_write.closed)
                break;
            pthread_cond_wait(&p->to_write.cond, &p->lock);
        }
        pthread_cond_broadcast(&p->space);
        bool failed = p->failed != 0;
        pthread_mutex_unlock(&p->lock);
        if (!b || failed) {
            batch_free(b);
            while (held) {
                struct batch *n = held->next;
                batch_free(held);
                held = n;
            }
            return NULL;
        }
        int r = write_batch(p, b);
        batch_free(b);
        if (r < 0) {
            pipeline_fail(p, r, "cannot write to store: %s", store_errmsg(p->store));
            while (held) {
                struct batch *n = held->next;
                batch_free(held);
                held = n;
            }
            return NULL;
        }
        want++;
    }
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Hand a full batch to the validators, waiting while they are behind. */
static int submit(struct pipeline *p, struct batch *b)
{
    batch_fixup(b);
    pthread_mutex_lock(&p->lock);
    while (!p->failed && p->to_check.n + p->to_write.n >= QUEUE_DEPTH)
        pthread_cond_wait(&p->space, &p->lock);
    int r = p->failed;
    if (!r)
        bq_push(p, &p->to_check, b);
    pthread_mutex_unlock(&p->lock);
    if (r)
        batch_free(b);
    return r;
}

int import_debtors(struct store *s, const struct import_opts *o, struct import_counts *ret,
                   char *reterr, size_t errlen)
{
    struct import_counts c = { 0 };
    struct idmap map = { 0 };
    struct row_reader *rr = NULL;
    struct pipeline p = { .store = s, .o = o };
    pthread_t writer, validators[8];
    int nval = o->validators > 0 ? o->validators : 2;
    int started = 0, r;
    bool writer_started = false;
    size_t batch_rows = o->batch_rows ? o->batch_rows : 3000;
    struct batch *b = NULL;
    uint64_t seq = 0;
    char err[512];

    if (nval > (int)ELEMENTSOF(validators))
        nval = ELEMENTSOF(validators);
    phone_init();

    r = row_reader_new(o->fd, o->name, o->format, &rr, err, sizeof(err));
    if (r < 0) {
        snprintf(reterr, errlen, "%s", err);
        return r;
    }
    p.rejects_format = row_reader_format(rr);
    row_reader_header(rr, &p.header, &p.header_len);

    /*
     * Size the map once for what the input can hold (rows of a real
     * portfolio are well over 100 bytes): growing it later means holding
     * the old and the new table at once, the import's largest peak.
     */
    struct stat sb;
    if (fstat(o->fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size / 100 > 1 << 16 &&
        (r = idmap_resize(&map, (size_t)(sb.st_size / 100))) < 0) {
        snprintf(reterr, errlen, "out of memory");
        goto out;
    }
    if ((r = store_debtor_hashes(s, load_hash, &map)) < 0) {
        snprintf(reterr, errlen, "cannot read the store: %s",
                 r == -ENOMEM ? "out of memory" : store_errmsg(s));
        goto out;
    }

    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.to_check.cond, NULL);
    pthread_cond_init(&p.to_write.cond, NULL);
    pthread_cond_init(&p.space, NULL);
    if (pthread_create(&writer, NULL, writer_main, &p) != 0) {
        r = -EAGAIN;
        snprintf(reterr, errlen, "cannot start the writer thread");
        goto out_sync;
    }
    writer_started = true;
    for (; started < nval; started++)
        if (pthread_create(&validators[started], NULL, validator_main, &p) != 0)
            break;
    if (!started) {
        pipeline_fail(&p, -EAGAIN, "cannot start validator threads");
        goto join;
    }

    double t0 = mono_now(), next_progress = t0 + 0.5;
    for (;;) {
        struct raw_row row;
        r = row_reader_next(rr, &row, err, sizeof(err));
        if (r == 0)
            break;
        if (r < 0 && r != -EINVAL) {
            pipeline_fail(&p, r, "cannot read '%s': %s", o->name, err);
            break;
        }
        c.read++;
        const char *raw;
        size_t rawlen;
        row_reader_raw(rr, &raw, &rawlen);
        if (!b && !(b = batch_new(batch_rows, seq++))) {
            pipeline_fail(&p, -ENOMEM, "out of memory");
            break;
        }
        const char *why = r == -EINVAL ? err : NULL;
        char dup[160];
        uint64_t h = 0;
        bool exists = false;
        if (!why) {
            const char *id = row.f[DCOL_ID];
            size_t idlen = row.flen[DCOL_ID];
            while (idlen && id && is_space(*id)) {
                id++;
                idlen--;
            }
            while (idlen && is_space(id[idlen - 1]))
                idlen--;
            h = raw_row_hash(&row);
            if (idlen) {
                uint64_t *slot;
                bool isnew;
                if (idmap_upsert(&map, id_key(id, idlen), &slot, &isnew) < 0) {
                    pipeline_fail(&p, -ENOMEM, "out of memory");
                    break;
                }
                if (!isnew && (*slot & SEEN_BIT)) {
                    snprintf(dup, sizeof(dup), "id: '%.*s' appears more than once in this input",
                             (int)(idlen > 40 ? 40 : idlen), id);
                    why = dup;
                } else if (!isnew && (*slot & ~SEEN_BIT) == (h & ~SEEN_BIT)) {
                    *slot |= SEEN_BIT;
                    c.unchanged++;
                    goto progress;
                } else {
                    exists = !isnew;
                    *slot = h | SEEN_BIT;
                }
            }
        }
        if (batch_add(b, why ? NULL : &row, h, row.line, raw, rawlen, why) < 0) {
            pipeline_fail(&p, -ENOMEM, "out of memory");
            break;
        }
        b->rows[b->n - 1].exists = exists;
        if (b->n == b->cap) {
            if (submit(&p, TAKE_PTR(b)) < 0)
                break;
        }
    progress:
        if (o->progress && (c.read & 1023) == 0) {
            double t = mono_now();
            if (t >= next_progress) {
                fprintf(stderr, "\rimporting %s: %lld rows read (%.0f rows/s)   ", o->name,
                        (long long)c.read, (double)c.read / (t - t0));
                next_progress = t + 0.5;
            }
        }
    }
    if (b && !p.failed)
        submit(&p, TAKE_PTR(b));
    batch_free(b);
    if (o->progress)
        fprintf(stderr, "\r%*s\r", 70, "");

join:
    pthread_mutex_lock(&p.lock);
    p.to_check.closed = true;
    pthread_cond_broadcast(&p.to_check.cond);
    pthread_mutex_unlock(&p.lock);
    for (int i = 0; i < started; i++)
        pthread_join(validators[i], NULL);
    pthread_mutex_lock(&p.lock);
    p.to_write.closed = true;
    pthread_cond_broadcast(&p.to_write.cond);
    pthread_mutex_unlock(&p.lock);
    if (writer_started)
        pthread_join(writer, NULL);
    /* drain what a failure left queued */
    while ((b = bq_pop(&p.to_check)))
        batch_free(b);
    while ((b = bq_pop(&p.to_write)))
        batch_free(b);

    r = p.failed;
    if (r < 0)
        snprintf(reterr, errlen, "%s", p.err);
    c.inserted = p.counts.inserted;
    c.updated = p.counts.updated;
    c.rejected = p.counts.rejected;
    *ret = c;
out_sync:
    pthread_cond_destroy(&p.space);
    pthread_cond_destroy(&p.to_write.cond);
    pthread_cond_destroy(&p.to_check.cond);
    pthread_mutex_destroy(&p.lock);
out:
    idmap_release(&map);
    row_reader_free(rr);
    return r;
}
