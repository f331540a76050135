/*
 * rowreader.c - debtor rows from CSV or JSON Lines (see rowreader.h).
 *
 * Owns the csv_reader doing the buffered input (also for JSONL: it splits
 * lines), the column map built from the CSV header, and one scratch
 * buffer that JSONL values are copied into.  It checks the shape of the
 * input (columns, keys, value types), never the values themselves.
 *
 * Invariants:
 *  1. A header problem is reported once, by row_reader_new, and no row is
 *     ever returned from such an input.
 *  2. Every returned field is NUL-terminated and trimmed of spaces/tabs.
 *  3. Each CSV column maps to a distinct debtor column; `id` is mapped.
 *  4. row_reader_raw always describes the row just returned or rejected.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "csv.h"
#include "rowreader.h"
#include "util.h"

struct row_reader {
    enum row_format fmt;
    struct csv_reader *csv;
    size_t ncols;
    int colmap[CSV_MAX_FIELDS_DEFAULT];
    const char *colnames[CSV_MAX_FIELDS_DEFAULT];
    char *header;
    size_t header_len;
    struct sbuf scratch;
};

static const char *const format_names[_ROW_FORMAT_MAX] = {
    [ROW_FORMAT_AUTO] = "auto",
    [ROW_FORMAT_CSV] = "csv",
    [ROW_FORMAT_JSONL] = "jsonl",
};

const char *row_format_to_string(enum row_format f)
{
    return f >= 0 && f < _ROW_FORMAT_MAX ? format_names[f] : NULL;
}

enum row_format row_format_from_string(const char *s)
{
    for (int i = 0; s && i < _ROW_FORMAT_MAX; i++)
        if (strcasecmp(s, format_names[i]) == 0)
            return (enum row_format)i;
    return _ROW_FORMAT_INVALID;
}

static bool has_suffix_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

enum row_format row_format_from_name(const char *name)
{
    if (!name || streq(name, "-"))
        return ROW_FORMAT_AUTO;
    if (has_suffix_ci(name, ".jsonl") || has_suffix_ci(name, ".ndjson") ||
        has_suffix_ci(name, ".json"))
        return ROW_FORMAT_JSONL;
    if (has_suffix_ci(name, ".csv"))
        return ROW_FORMAT_CSV;
    return ROW_FORMAT_AUTO;
}

void row_reader_free(struct row_reader *r)
{
    if (!r)
        return;
    csv_reader_free(r->csv);
    free(r->header);
    sbuf_release(&r->scratch);
    free(r);
}

enum row_format row_reader_format(struct row_reader *r) { return r->fmt; }

void row_reader_raw(struct row_reader *r, const char **ret_p, size_t *ret_len)
{
    csv_reader_raw(r->csv, ret_p, ret_len);
}

void row_reader_header(struct row_reader *r, const char **ret_p, size_t *ret_len)
{
    *ret_p = r->header ? r->header : "";
    *ret_len = r->header ? r->header_len : 0;
}

void row_reader_set_chunk(struct row_reader *r, size_t n) { csv_reader_set_chunk(r->csv, n); }

/* Append "; " and a formatted message to err (truncating safely). */
_printf_(3, 4) static void err_add(char *err, size_t errlen, const char *fmt, ...)
{
    if (!errlen)
        return;
    size_t used = strnlen(err, errlen);
    if (used && used + 2 < errlen) {
        memcpy(err + used, "; ", 3);
        used += 2;
    }
    if (used + 1 >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + used, errlen - used, fmt, ap);
    va_end(ap);
}

/* Lower-cased copy of a name, cut to fit, for messages and suggestions. */
static void name_copy(char *dst, size_t dlen, const char *s, size_t n)
{
    if (n >= dlen)
        n = dlen - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)s[i]);
    dst[n] = 0;
}

static void unknown_name(char *err, size_t errlen, const char *what, const char *s, size_t n)
{
    char name[65];
    name_copy(name, sizeof(name), s, n);
    const char *near = closest_word(name, (const char *const *)debtor_col_names, _DCOL_MAX);
    if (near)
        err_add(err, errlen, "unknown %s '%s' (did you mean '%s'?)", what, name, near);
    else
        err_add(err, errlen, "unknown %s '%s'", what, name);
}

static int read_header(struct row_reader *r, char *err, size_t errlen)
{
    const struct csv_field *f;
    size_t nf;
    long line;
    char why[256] = "";
    int k = csv_reader_next(r->csv, &f, &nf, &line, why, sizeof(why));
    if (k == 0) {
        snprintf(err, errlen, "no header row (the input is empty)");
        return -EINVAL;
    }
    if (k == -EINVAL) {
        snprintf(err, errlen, "header (line %ld): %s", line, why);
        return -EINVAL;
    }
    if (k < 0) {
        snprintf(err, errlen, "%s", strerror(-k));
        return k;
    }
    const char *raw;
    size_t rawlen;
    csv_reader_raw(r->csv, &raw, &rawlen);
    if (!(r->header = malloc(rawlen + 1)))
        return -ENOMEM;
    memcpy(r->header, raw, rawlen);
    r->header[rawlen] = 0;
    r->header_len = rawlen;

    err[0] = 0;
    bool seen[_DCOL_MAX] = { false };
    for (size_t i = 0; i < nf; i++) {
        int c = (int)debtor_col_from_name(f[i].p, f[i].len);
        if (c < 0) {
            if (f[i].len == 0)
                err_add(err, errlen, "column %zu has no name", i + 1);
            else
                unknown_name(err, errlen, "column", f[i].p, f[i].len);
            continue;
        }
        if (seen[c]) {
            err_add(err, errlen, "column '%s' appears twice", debtor_col_names[c]);
            continue;
        }
        seen[c] = true;
        r->colmap[i] = c;
        r->colnames[i] = debtor_col_names[c];
    }
    if (!seen[DCOL_ID] && !*err)
        err_add(err, errlen, "required column 'id' is missing");
    if (*err) {
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "header: %s", err);
        snprintf(err, errlen, "%s", tmp);
        return -EINVAL;
    }
    r->ncols = nf;
    csv_reader_set_expected_fields(r->csv, nf);
    csv_reader_set_field_names(r->csv, r->colnames, nf);
    return 0;
}

int row_reader_new(int fd, const char *name, enum row_format fmt, struct row_reader **ret,
                   char *err, size_t errlen)
{
    int k;
    struct row_reader *r = calloc(1, sizeof(*r));
    if (!r || csv_reader_new(fd, &r->csv) < 0) {
        row_reader_free(r);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    csv_reader_set_trim(r->csv, true);
    csv_reader_set_limits(r->csv, 0, CSV_MAX_FIELDS_DEFAULT, 0);

    if (fmt == ROW_FORMAT_AUTO)
        fmt = row_format_from_name(name);
    if (fmt == ROW_FORMAT_AUTO) {
        const char *p;
        size_t n, i = 0;
        if ((k = csv_reader_peek(r->csv, &p, &n)) < 0) {
            snprintf(err, errlen, "%s", strerror(-k));
            row_reader_free(r);
            return k;
        }
        while (i < n && strchr(" \t\r\n", p[i]) && p[i])
            i++;
        fmt = i < n && p[i] == '{' ? ROW_FORMAT_JSONL : ROW_FORMAT_CSV;
    }
    if (fmt != ROW_FORMAT_CSV && fmt != ROW_FORMAT_JSONL) {
        snprintf(err, errlen, "unknown input format %d", (int)fmt);
        row_reader_free(r);
        return -EINVAL;
    }
    r->fmt = fmt;
    if (fmt == ROW_FORMAT_CSV && (k = read_header(r, err, errlen)) < 0) {
        row_reader_free(r);
        return k;
    }
    *ret = r;
    return 0;
}

static int next_csv(struct row_reader *r, struct raw_row *ret, char *err, size_t errlen)
{
    const struct csv_field *f;
    size_t nf;
    long line = 0;
    int k = csv_reader_next(r->csv, &f, &nf, &line, err, errlen);
    if (k <= 0) {
        ret->line = line;
        return k;
    }
    memset(ret, 0, sizeof(*ret));
    ret->line = line;
    for (size_t i = 0; i < nf && i < r->ncols; i++) {
        ret->f[r->colmap[i]] = f[i].p;
        ret->flen[r->colmap[i]] = f[i].len;
    }
    return 1;
}

/* Shortest text that reads back as the same double. */
static void real_text(double v, char *buf, size_t len)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static int add_value(struct row_reader *r, const char *key, json_t *v, char *err, size_t errlen)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return sbuf_add(&r->scratch, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return sbuf_adds(&r->scratch, num);
    case JSON_REAL:
        real_text(json_real_value(v), num, sizeof(num));
        return sbuf_adds(&r->scratch, num);
    case JSON_TRUE:
        return sbuf_adds(&r->scratch, "true");
    case JSON_FALSE:
        return sbuf_adds(&r->scratch, "false");
    case JSON_ARRAY: {
        /* tags/flags as a list: joined with ';' */
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) {
                err_add(err, errlen, "%s: a list may only hold strings", key);
                return 1;
            }
            if (i > 0 && sbuf_addc(&r->scratch, ';') < 0)
                return -ENOMEM;
            if (sbuf_add(&r->scratch, json_string_value(e), json_string_length(e)) < 0)
                return -ENOMEM;
        }
        return 0;
    }
    default:
        err_add(err, errlen, "%s: expected a string, number, boolean or null", key);
        return 1;
    }
}

static const char *json_type_name(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    default:
        return "an object";
    }
}

static int next_jsonl(struct row_reader *r, struct raw_row *ret, char *err, size_t errlen)
{
    const char *p;
    size_t n;
    long line = 0;
    int k = csv_reader_next_line(r->csv, &p, &n, &line, err, errlen);
    ret->line = line;
    if (k <= 0)
        return k;

    json_error_t je;
    json_t *o = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(err, errlen, "invalid JSON at column %d: %s", je.column, je.text);
        return -EINVAL;
    }
    if (!json_is_object(o)) {
        snprintf(err, errlen, "expected a JSON object, got %s", json_type_name(o));
        json_decref(o);
        return -EINVAL;
    }

    size_t off[_DCOL_MAX], len[_DCOL_MAX];
    bool have[_DCOL_MAX] = { false };
    const char *key;
    json_t *v;
    err[0] = 0;
    sbuf_reset(&r->scratch);
    k = 0;
    json_object_foreach(o, key, v) {
        int c = (int)debtor_col_from_name(key, strlen(key));
        if (c < 0) {
            unknown_name(err, errlen, "key", key, strlen(key));
            continue;
        }
        if (have[c]) {
            err_add(err, errlen, "%s: given twice", debtor_col_names[c]);
            continue;
        }
        if (json_is_null(v))
            continue;
        off[c] = r->scratch.len;
        int a = add_value(r, debtor_col_names[c], v, err, errlen);
        if (a < 0) {
            k = a;
            break;
        }
        if (a > 0)
            continue;
        len[c] = r->scratch.len - off[c];
        if (sbuf_addc(&r->scratch, 0) < 0) {
            k = -ENOMEM;
            break;
        }
        have[c] = true;
    }
    json_decref(o);
    if (k < 0) {
        snprintf(err, errlen, "out of memory");
        return k;
    }
    if (*err)
        return -EINVAL;

    memset(ret, 0, sizeof(*ret));
    ret->line = line;
    for (int c = 0; c < _DCOL_MAX; c++) {
        if (!have[c])
            continue;
        char *s = r->scratch.buf + off[c];
        size_t l = len[c];
        if (memchr(s, 0, l)) {
            err_add(err, errlen, "%s: NUL byte", debtor_col_names[c]);
            continue;
        }
        while (l && (*s == ' ' || *s == '\t'))
            s++, l--;
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
            s[--l] = 0;
        ret->f[c] = s;
        ret->flen[c] = l;
    }
    return *err ? -EINVAL : 1;
}

int row_reader_next(struct row_reader *r, struct raw_row *ret, char *err, size_t errlen)
{
    if (errlen)
        err[0] = 0;
    int k = r->fmt == ROW_FORMAT_JSONL ? next_jsonl(r, ret, err, errlen)
                                       : next_csv(r, ret, err, errlen);
    if (k < 0 && k != -EINVAL && errlen && !err[0])
        snprintf(err, errlen, "%s", strerror(-k));
    return k;
}
