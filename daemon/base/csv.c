/*
 * csv.c - streaming RFC 4180 reader (see csv.h).
 *
 * Owns one input buffer (grown geometrically, capped by the record limit),
 * one span table and one scratch buffer the returned fields live in.  It
 * never closes the descriptor and never allocates per field.
 *
 * A record is parsed from its first byte every time: when the buffer ends
 * before the record does, more input is read (at least doubling what is
 * buffered, so re-parsing stays linear) and the record is parsed again.
 * The parser never writes into the input bytes, so the raw record text
 * stays available for a rejects file.
 *
 *     parse ──DONE──► fields returned, start = next record
 *       │ └─MORE───► fill() then parse again
 *       └──ERR────► skip() to the next record boundary, -EINVAL returned
 *
 * Invariants:
 *  1. buf[end] is always a NUL sentinel (the scanning loops stop on it).
 *  2. The input bytes [start, end) are never modified by parsing.
 *  3. r->line is the 1-based line of the byte at r->start.
 *  4. After csv_reader_next returns (any value), r->start is at a record
 *     boundary: a bad record never eats the record after it, except an
 *     unterminated quote, which runs to the end of the input.
 *  5. The buffer never holds more than about 2 * max_record + chunk bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "util.h"

struct span {
    size_t off, len; /* relative to the record start; quotes excluded */
    bool dq;         /* holds "" escapes */
};

struct csv_reader {
    int fd;
    char *buf;
    size_t cap, start, end;
    bool eof, started;
    long line;

    size_t chunk;
    bool small;
    size_t max_field, max_fields, max_record, expected;
    bool trim;
    const char *const *names;
    size_t nnames;

    struct span *spans;
    struct csv_field *fields;
    char *scratch;
    size_t scratch_cap;

    /* the record being skipped after an error */
    bool skipping, sk_lines, sk_inq, sk_fstart, sk_keep;
    size_t sk_rel;

    size_t raw_off, raw_len;
    long err_field;
};

enum { P_DONE, P_MORE, P_ERR, P_BLANK, P_EOF };

/* Bytes that end a run inside an unquoted / a quoted field. */
static unsigned char stop_unquoted[256], stop_quoted[256];

static void init_tables(void)
{
    if (stop_unquoted[0])
        return;
    stop_quoted['"'] = stop_quoted['\n'] = 1;
    stop_unquoted['"'] = stop_unquoted['\n'] = stop_unquoted['\r'] = stop_unquoted[','] = 1;
    /* written last: it is the "initialised" mark (races write equal values) */
    stop_quoted[0] = 1;
    stop_unquoted[0] = 1;
}

int csv_reader_new(int fd, struct csv_reader **ret)
{
    init_tables();
    struct csv_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->fd = fd;
    r->line = 1;
    r->chunk = CSV_CHUNK_DEFAULT;
    r->max_field = CSV_MAX_FIELD_DEFAULT;
    r->max_fields = CSV_MAX_FIELDS_DEFAULT;
    r->max_record = CSV_MAX_RECORD_DEFAULT;
    r->err_field = -1;
    *ret = r;
    return 0;
}

void csv_reader_free(struct csv_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r->spans);
    free(r->fields);
    free(r->scratch);
    free(r);
}

void csv_reader_set_limits(struct csv_reader *r, size_t max_field, size_t max_fields,
                           size_t max_record)
{
    if (max_field)
        r->max_field = max_field;
    if (max_fields && !r->spans)
        r->max_fields = max_fields;
    if (max_record)
        r->max_record = max_record;
}

void csv_reader_set_chunk(struct csv_reader *r, size_t n)
{
    r->chunk = n ? n : CSV_CHUNK_DEFAULT;
    r->small = n && n < 4096;
}

void csv_reader_set_expected_fields(struct csv_reader *r, size_t n) { r->expected = n; }
void csv_reader_set_trim(struct csv_reader *r, bool trim) { r->trim = trim; }

void csv_reader_set_field_names(struct csv_reader *r, const char *const *names, size_t n)
{
    r->names = names;
    r->nnames = n;
}

void csv_reader_raw(struct csv_reader *r, const char **ret_p, size_t *ret_len)
{
    *ret_p = r->buf ? r->buf + r->raw_off : "";
    *ret_len = r->buf ? r->raw_len : 0;
}

long csv_reader_error_field(struct csv_reader *r) { return r->err_field; }

/*
 * Move the unread bytes to the front and read more: one read() in small
 * mode, else until the buffered amount at least doubles (and grows by a
 * chunk) or the input ends.  Returns 0 or -errno.  May block.
 */
static int fill(struct csv_reader *r)
{
    size_t have = r->end - r->start;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, have);
        r->raw_off = r->raw_off >= r->start ? r->raw_off - r->start : 0;
        r->start = 0;
        r->end = have;
    }
    size_t target = have + (r->small ? r->chunk : (have > r->chunk ? have : r->chunk));
    if (target + 1 > r->cap) {
        char *nb = realloc(r->buf, target + 1);
        if (!nb)
            return -ENOMEM;
        r->buf = nb;
        r->cap = target + 1;
    }
    while (r->end < target && !r->eof) {
        size_t room = target - r->end;
        ssize_t k = read(r->fd, r->buf + r->end, room);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            r->buf[r->end] = 0;
            return -errno;
        }
        if (k == 0)
            r->eof = true;
        r->end += (size_t)k;
        if (r->small)
            break;
    }
    r->buf[r->end] = 0;
    return 0;
}

static int ensure_started(struct csv_reader *r)
{
    if (r->started)
        return 0;
    while (r->end - r->start < 3 && !r->eof) {
        int k = fill(r);
        if (k < 0)
            return k;
    }
    if (r->end - r->start >= 3 && memcmp(r->buf + r->start, "\xef\xbb\xbf", 3) == 0)
        r->start += 3;
    r->started = true;
    return 0;
}

int csv_reader_peek(struct csv_reader *r, const char **ret_p, size_t *ret_len)
{
    int k = ensure_started(r);
    if (k < 0)
        return k;
    for (;;) {
        size_t i = r->start;
        while (i < r->end && strchr(" \t\r\n", r->buf[i]) && r->buf[i])
            i++;
        if (i < r->end || r->eof || r->end - r->start >= 4096)
            break;
        k = fill(r);
        if (k < 0)
            return k;
    }
    *ret_p = r->buf ? r->buf + r->start : "";
    *ret_len = r->end - r->start;
    return 0;
}

static void field_name(struct csv_reader *r, size_t i, char *buf, size_t len)
{
    if (i < r->nnames && r->names[i])
        snprintf(buf, len, "%s", r->names[i]);
    else
        snprintf(buf, len, "field %zu", i + 1);
}

/*
 * A record too long to keep (about twice the record limit) is skipped
 * without its text: say so, since the rejects file cannot hold it.
 */
static void note_not_kept(char *err, size_t errlen)
{
    size_t n = strnlen(err, errlen);
    if (n < errlen)
        snprintf(err + n, errlen - n, " (too long to copy into the rejects file)");
}

/* Record the state to skip a bad record from: keeps invariant 4. */
static int fail(struct csv_reader *r, size_t pos, bool inq, bool fstart, size_t field)
{
    r->skipping = true;
    r->sk_lines = false;
    r->sk_inq = inq;
    r->sk_fstart = fstart;
    r->sk_keep = true;
    r->sk_rel = pos - r->start;
    r->err_field = (long)field;
    return P_ERR;
}

/* Write "<field name>: <reason>" (or just the reason) into err. */
_printf_(5, 6) static void errf(struct csv_reader *r, size_t field, char *err, size_t errlen,
                                const char *fmt, ...)
{
    char name[80] = "";
    if (field != SIZE_MAX)
        field_name(r, field, name, sizeof(name));
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (errlen)
        snprintf(err, errlen, "%s%s%s", name, *name ? ": " : "", msg);
}

struct pres {
    size_t nf, rec_end, next;
    long nl, err_line;
};

/*
 * Parse the record at r->start.  On P_DONE fills r->spans and res; on
 * P_ERR writes err and sets the skip state.  Never reads past r->end.
 */
static int parse(struct csv_reader *r, struct pres *res, char *err, size_t errlen)
{
    const unsigned char *b = (const unsigned char *)r->buf;
    size_t p = r->start, end = r->end, nf = 0;
    long nl = 0;
    bool eof = r->eof;

    res->err_line = r->line;
    if (p == end)
        return eof ? P_EOF : P_MORE;
    if (b[p] == '\n') {
        res->next = p + 1;
        return P_BLANK;
    }
    if (b[p] == '\r') {
        if (p + 1 == end && !eof)
            return P_MORE;
        if (p + 1 < end && b[p + 1] == '\n') {
            res->next = p + 2;
            return P_BLANK;
        }
    }

    for (;;) {
        size_t fs = p;
        if (p == end && !eof)
            goto more;
        if (nf == r->max_fields) {
            errf(r, SIZE_MAX, err, errlen, "more than %zu fields", r->max_fields);
            res->nl = nl;
            return fail(r, p, false, true, SIZE_MAX);
        }
        if (p < end && b[p] == '"') {
            long qline = r->line + nl;
            size_t ndq = 0;
            p++;
            for (;;) {
                while (!stop_quoted[b[p]])
                    p++;
                if (p == end) {
                    if (p - fs - 1 - ndq > r->max_field) {
                        errf(r, nf, err, errlen, "longer than %zu bytes", r->max_field);
                        res->nl = nl;
                        return fail(r, p, true, false, nf);
                    }
                    if (!eof)
                        goto more;
                    errf(r, nf, err, errlen, "unterminated quoted field");
                    res->err_line = qline;
                    res->nl = nl;
                    return fail(r, p, false, true, nf);
                }
                if (b[p] == '\n') {
                    nl++;
                    p++;
                    continue;
                }
                if (b[p] == 0) {
                    errf(r, nf, err, errlen, "NUL byte");
                    res->nl = nl;
                    return fail(r, p + 1, true, false, nf);
                }
                if (p + 1 == end && !eof)
                    goto more;
                if (p + 1 < end && b[p + 1] == '"') {
                    ndq++;
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            if (p - fs - 2 - ndq > r->max_field) {
                errf(r, nf, err, errlen, "longer than %zu bytes", r->max_field);
                res->nl = nl;
                return fail(r, p, false, false, nf);
            }
            r->spans[nf] = (struct span){ fs + 1 - r->start, p - fs - 2, ndq > 0 };
            if (p == end) {
                if (!eof)
                    goto more;
            } else if (b[p] == '\r') {
                if (p + 1 == end && !eof)
                    goto more;
                if (p + 1 == end || b[p + 1] != '\n')
                    goto after_quote;
            } else if (b[p] != ',' && b[p] != '\n') {
            after_quote:
                if (b[p] >= 0x20 && b[p] < 0x7f)
                    errf(r, nf, err, errlen, "unexpected '%c' after a closing quote", b[p]);
                else
                    errf(r, nf, err, errlen, "unexpected byte 0x%02x after a closing quote",
                         b[p]);
                res->nl = nl;
                return fail(r, p, false, false, nf);
            }
        } else {
            for (;;) {
                while (!stop_unquoted[b[p]])
                    p++;
                if (p < end && b[p] == '\r') {
                    if (p + 1 == end && !eof)
                        break;
                    if (p + 1 < end && b[p + 1] == '\n')
                        break;
                    p++; /* a bare CR is data */
                    continue;
                }
                break;
            }
            if (p - fs > r->max_field) {
                errf(r, nf, err, errlen, "longer than %zu bytes", r->max_field);
                res->nl = nl;
                return fail(r, p, false, false, nf);
            }
            if (p == end || (b[p] == '\r' && p + 1 == end)) {
                if (!eof)
                    goto more;
            } else if (b[p] == '"') {
                errf(r, nf, err, errlen, "stray '\"' in an unquoted field");
                res->nl = nl;
                return fail(r, p + 1, false, false, nf);
            } else if (b[p] == 0) {
                errf(r, nf, err, errlen, "NUL byte");
                res->nl = nl;
                return fail(r, p + 1, false, false, nf);
            }
            r->spans[nf] = (struct span){ fs - r->start, p - fs, false };
        }
        nf++;
        if (p == end) {
            res->rec_end = res->next = p;
            break;
        }
        if (b[p] == ',') {
            p++;
            continue;
        }
        res->rec_end = p;
        res->next = p + (b[p] == '\r' ? 2 : 1);
        nl++;
        break;
    }
    res->nf = nf;
    res->nl = nl;
    return P_DONE;

more:
    if (end - r->start > r->max_record) {
        errf(r, SIZE_MAX, err, errlen, "record longer than %zu bytes", r->max_record);
        res->nl = 0; /* skip() counts the lines again from the record start */
        return fail(r, r->start, false, true, SIZE_MAX);
    }
    return P_MORE;
}

/*
 * Skip the rest of a bad record, quote-aware (a quote at a field start
 * opens a quoted field, "" inside it is an escape).  Keeps the record text
 * for csv_reader_raw while it stays under the record limit.  May block.
 */
static int skip(struct csv_reader *r)
{
    for (;;) {
        const unsigned char *b = (const unsigned char *)r->buf;
        size_t p = r->start + r->sk_rel, end = r->end;
        while (p < end) {
            unsigned char c = b[p];
            if (r->sk_lines) {
                const unsigned char *q = memchr(b + p, '\n', end - p);
                if (!q) {
                    p = end;
                    break;
                }
                p = (size_t)(q - b);
                c = '\n';
            } else if (r->sk_inq) {
                if (c == '"') {
                    if (p + 1 == end && !r->eof)
                        break;
                    if (p + 1 < end && b[p + 1] == '"') {
                        p += 2;
                        continue;
                    }
                    r->sk_inq = false;
                    r->sk_fstart = false;
                } else if (c == '\n')
                    r->line++;
                p++;
                continue;
            } else if (c == '"' && r->sk_fstart) {
                r->sk_inq = true;
                r->sk_fstart = false;
                p++;
                continue;
            }
            if (c == '\n') {
                size_t e = p;
                if (e > r->start && b[e - 1] == '\r')
                    e--;
                if (r->sk_keep) {
                    r->raw_off = r->start;
                    r->raw_len = e - r->start;
                }
                r->line++;
                r->start = p + 1;
                r->skipping = false;
                return 0;
            }
            r->sk_fstart = c == ',';
            p++;
        }
        if (r->eof && p >= end) {
            if (r->sk_keep) {
                r->raw_off = r->start;
                r->raw_len = end - r->start;
            }
            r->start = end;
            r->skipping = false;
            return 0;
        }
        r->sk_rel = p - r->start;
        if (r->sk_rel > r->max_record) {
            /* too big to keep: drop what was scanned */
            r->sk_keep = false;
            r->start = p;
            r->sk_rel = 0;
        }
        int k = fill(r);
        if (k < 0)
            return k;
    }
}

static bool ascii_only(const unsigned char *p, size_t n)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        acc |= v;
    }
    for (; i < n; i++)
        acc |= p[i];
    return !(acc & 0x8080808080808080ull);
}

static int alloc_tables(struct csv_reader *r)
{
    if (r->spans)
        return 0;
    r->spans = calloc(r->max_fields + 1, sizeof(*r->spans));
    r->fields = calloc(r->max_fields + 1, sizeof(*r->fields));
    if (!r->spans || !r->fields)
        return -ENOMEM;
    return 0;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

int csv_reader_next(struct csv_reader *r, const struct csv_field **ret_fields, size_t *ret_n,
                    long *ret_line, char *err, size_t errlen)
{
    int k;
    r->raw_len = 0;
    r->err_field = -1;
    if ((k = ensure_started(r)) < 0 || (k = alloc_tables(r)) < 0)
        return k;
    if (!r->buf && (k = fill(r)) < 0)
        return k;

    for (;;) {
        struct pres res = { 0 };
        int s = parse(r, &res, err, errlen);
        switch (s) {
        case P_EOF:
            return 0;
        case P_MORE:
            if ((k = fill(r)) < 0)
                return k;
            continue;
        case P_BLANK:
            r->line++;
            r->start = res.next;
            continue;
        case P_ERR:
            r->line += res.nl;
            if ((k = skip(r)) < 0)
                return k;
            if (!r->sk_keep)
                note_not_kept(err, errlen);
            *ret_line = res.err_line;
            return -EINVAL;
        default:
            break;
        }

        long line = r->line;
        size_t rs = r->start, rl = res.rec_end - rs;
        r->raw_off = rs;
        r->raw_len = rl;
        r->start = res.next;
        r->line += res.nl;
        *ret_line = line;

        const unsigned char *rec = (const unsigned char *)r->buf + rs;
        if (!ascii_only(rec, rl) && !utf8_valid((const char *)rec, rl)) {
            for (size_t i = 0; i < res.nf; i++)
                if (!utf8_valid((const char *)rec + r->spans[i].off, r->spans[i].len)) {
                    r->err_field = (long)i;
                    errf(r, i, err, errlen, "invalid UTF-8");
                    return -EINVAL;
                }
            errf(r, SIZE_MAX, err, errlen, "invalid UTF-8");
            return -EINVAL;
        }
        if (r->expected && res.nf != r->expected) {
            errf(r, SIZE_MAX, err, errlen, "expected %zu fields, got %zu", r->expected, res.nf);
            return -EINVAL;
        }

        size_t need = rl + res.nf + 1;
        if (need > r->scratch_cap) {
            size_t cap = need < 4096 ? 4096 : need * 2;
            char *ns = realloc(r->scratch, cap);
            if (!ns)
                return -ENOMEM;
            r->scratch = ns;
            r->scratch_cap = cap;
        }
        char *o = r->scratch;
        for (size_t i = 0; i < res.nf; i++) {
            const struct span *sp = &r->spans[i];
            const char *src = (const char *)rec + sp->off;
            char *dst = o;
            if (!sp->dq) {
                memcpy(o, src, sp->len);
                o += sp->len;
            } else {
                for (size_t j = 0; j < sp->len; j++) {
                    *o++ = src[j];
                    if (src[j] == '"')
                        j++;
                }
            }
            size_t fl = (size_t)(o - dst);
            *o++ = 0;
            if (r->trim) {
                while (fl && is_blank(*dst))
                    dst++, fl--;
                while (fl && is_blank(dst[fl - 1]))
                    dst[--fl] = 0;
            }
            r->fields[i] = (struct csv_field){ dst, fl };
        }
        *ret_fields = r->fields;
        *ret_n = res.nf;
        return 1;
    }
}

int csv_reader_next_line(struct csv_reader *r, const char **ret_p, size_t *ret_len,
                         long *ret_line, char *err, size_t errlen)
{
    int k;
    r->raw_len = 0;
    r->err_field = -1;
    if ((k = ensure_started(r)) < 0)
        return k;
    size_t scanned = 0;
    for (;;) {
        char *b = r->buf;
        size_t have = r->end - r->start;
        char *nlp = have > scanned ? memchr(b + r->start + scanned, '\n', have - scanned) : NULL;
        size_t ls = r->start, le, next;
        if (!nlp) {
            if (!r->eof) {
                if (have > r->max_record) {
                    *ret_line = r->line;
                    errf(r, SIZE_MAX, err, errlen, "line longer than %zu bytes", r->max_record);
                    r->skipping = true;
                    r->sk_lines = true;
                    r->sk_keep = false;
                    r->sk_rel = have;
                    r->start = r->end;
                    r->sk_rel = 0;
                    if ((k = skip(r)) < 0)
                        return k;
                    note_not_kept(err, errlen);
                    return -EINVAL;
                }
                scanned = have;
                if ((k = fill(r)) < 0)
                    return k;
                continue;
            }
            if (have == 0)
                return 0;
            le = next = r->end;
        } else {
            le = (size_t)(nlp - b);
            next = le + 1;
        }
        scanned = 0;
        long line = r->line;
        if (nlp)
            r->line++;
        r->start = next;
        if (le > ls && b[le - 1] == '\r')
            le--;
        r->raw_off = ls;
        r->raw_len = le - ls;
        size_t i = ls;
        while (i < le && (is_blank(b[i]) || b[i] == '\r'))
            i++;
        if (i == le)
            continue;
        *ret_line = line;
        if (memchr(b + ls, 0, le - ls)) {
            errf(r, SIZE_MAX, err, errlen, "NUL byte");
            return -EINVAL;
        }
        if (le - ls > r->max_record) {
            errf(r, SIZE_MAX, err, errlen, "line longer than %zu bytes", r->max_record);
            return -EINVAL;
        }
        b[le] = 0; /* the terminator or the sentinel: outside the raw text */
        *ret_p = b + ls;
        *ret_len = le - ls;
        return 1;
    }
}
