/*
 * ynode.c - build a bounded YAML tree from libyaml's event stream.
 *
 * This is the only file that includes <yaml.h>.  It owns every node of a
 * document (freed by ydoc_free()) and turns libyaml's errors, and the
 * things we refuse, into diagnostics with 1-based positions.  It never
 * prints and never resolves aliases.
 *
 * Invariants:
 *  1. Nesting depth <= YNODE_MAX_DEPTH, nodes <= YNODE_MAX_NODES, scalar
 *     length <= YNODE_MAX_SCALAR; exceeding one stops the parse with one
 *     diagnostic.
 *  2. Anchors and aliases are errors; nothing is ever shared between
 *     nodes, so freeing is a plain tree walk.
 *  3. A document is one YAML document; a second one is an error.  An
 *     empty stream gives a YNODE_NULL root at 1:1.
 *  4. Map keys are scalars (or plain nulls), with str always set; two
 *     equal keys in one map are an error reported at the second one.
 *  5. YNODE_NULL only comes from plain scalars (empty, ~, null, Null,
 *     NULL) or an empty document; a quoted "" is a scalar.
 *  6. The typed readers never accept quoted scalars as numbers or
 *     booleans: "5" is a string.
 *  7. Positions are libyaml marks + 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "ynode.h"
#include "util.h"

#define YNODE_MAX_DEPTH 64
#define YNODE_MAX_NODES 200000
#define YNODE_MAX_SCALAR (1024 * 1024)
#define YDOC_MAX_FILE (16 * 1024 * 1024)

struct builder {
    yaml_parser_t parser;
    struct ydoc *doc;
    struct diags *d;
    const char *buf;
    size_t len;
    size_t nnodes;
    int errors;  /* non-fatal errors (duplicate keys) */
};

static const char *const type_names[_YNODE_TYPE_MAX] = {
    [YNODE_NULL] = "null",
    [YNODE_SCALAR] = "scalar",
    [YNODE_SEQ] = "sequence",
    [YNODE_MAP] = "mapping",
};

const char *ynode_type_to_string(enum ynode_type t)
{
    if ((unsigned)t >= _YNODE_TYPE_MAX)
        return NULL;
    return type_names[t];
}

static void ynode_free(struct ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            ynode_free(n->keys[i]);
        if (n->items)
            ynode_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->str);
    free(n);
}

void ydoc_free(struct ydoc *doc)
{
    if (!doc)
        return;
    ynode_free(doc->root);
    free(doc->file);
    free(doc);
}

/* Turn a byte offset into a 1-based line and column (for reader errors). */
static void offset_to_pos(const char *buf, size_t len, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)buf[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int syntax_error(struct builder *b)
{
    yaml_parser_t *p = &b->parser;
    int line, col;

    if (p->error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    if (p->error == YAML_READER_ERROR) {
        offset_to_pos(b->buf, b->len, p->problem_offset, &line, &col);
    } else {
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->context)
        diag_error(b->d, b->doc->file, line, col, "%s (%s)", problem, p->context);
    else
        diag_error(b->d, b->doc->file, line, col, "%s", problem);
    return -EINVAL;
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->parser, ev))
        return syntax_error(b);
    return 0;
}

static struct ynode *node_new(struct builder *b, enum ynode_type t, const yaml_mark_t *m)
{
    struct ynode *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->type = t;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    n->file = b->doc->file;
    return n;
}

static int limit_error(struct builder *b, const yaml_mark_t *m, const char *what)
{
    diag_error(b->d, b->doc->file, (int)m->line + 1, (int)m->column + 1, "%s", what);
    return -EINVAL;
}

static int alias_error(struct builder *b, const yaml_mark_t *m)
{
    return limit_error(b, m, "anchors and aliases are not supported");
}

static bool is_null_word(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') || (n == 4 && (streq(s, "null") ||
           streq(s, "Null") || streq(s, "NULL")));
}

static int build_scalar(struct builder *b, yaml_event_t *ev, struct ynode **ret)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;

    if (ev->data.scalar.anchor)
        return alias_error(b, &ev->start_mark);
    if (len > YNODE_MAX_SCALAR)
        return limit_error(b, &ev->start_mark, "scalar is longer than 1 MiB");
    if (memchr(v, 0, len))
        return limit_error(b, &ev->start_mark, "NUL character in a scalar");

    bool quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
                  ev->data.scalar.style != YAML_ANY_SCALAR_STYLE;
    const char *tag = (const char *)ev->data.scalar.tag;
    if (tag && streq(tag, YAML_STR_TAG))
        quoted = true; /* "!!str 5" is a string, like "5" */

    enum ynode_type t = !quoted && is_null_word(v, len) ? YNODE_NULL : YNODE_SCALAR;
    struct ynode *n = node_new(b, t, &ev->start_mark);
    if (!n)
        return -ENOMEM;
    n->str = malloc(len + 1);
    if (!n->str) {
        free(n);
        return -ENOMEM;
    }
    memcpy(n->str, v, len);
    n->str[len] = 0;
    n->len = len;
    n->quoted = quoted;
    *ret = n;
    return 0;
}

/* Append to a growable pointer array; cap is in elements. */
static int push(struct ynode ***v, size_t n, size_t *cap, struct ynode *x)
{
    if (n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        struct ynode **nv = reallocarray(*v, nc, sizeof(**v));
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[n] = x;
    return 0;
}

struct keyref {
    const struct ynode *key;
    size_t idx;
};

static int keyref_cmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    int r = strcmp(x->key->str, y->key->str);
    if (r)
        return r;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int keyref_idx_cmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Report every key equal to an earlier one in the same map (invariant 4).
 * Sorting keeps a hostile 100,000-key map from costing n^2.
 */
static int check_duplicates(struct builder *b, const struct ynode *map)
{
    if (map->n < 2)
        return 0;
    struct keyref *v = calloc(map->n, sizeof(*v));
    struct keyref *dups = calloc(map->n, sizeof(*dups));
    size_t ndups = 0;
    if (!v || !dups) {
        free(v);
        free(dups);
        return -ENOMEM;
    }
    for (size_t i = 0; i < map->n; i++)
        v[i] = (struct keyref){ map->keys[i], i };
    qsort(v, map->n, sizeof(*v), keyref_cmp);
    size_t first = 0;
    for (size_t i = 1; i < map->n; i++) {
        if (streq(v[i].key->str, v[first].key->str))
            /* reuse idx order for output; remember the first in .key */
            dups[ndups++] = (struct keyref){ v[first].key, v[i].idx };
        else
            first = i;
    }
    qsort(dups, ndups, sizeof(*dups), keyref_idx_cmp);
    for (size_t i = 0; i < ndups; i++) {
        const struct ynode *k = map->keys[dups[i].idx];
        diag_error(b->d, b->doc->file, k->line, k->col,
                   "duplicate key '%s' (first defined at line %d)", k->str, dups[i].key->line);
        b->errors++;
    }
    free(v);
    free(dups);
    return 0;
}

static int build_node(struct builder *b, yaml_event_t *ev, int depth, struct ynode **ret);

static int build_collection(struct builder *b, yaml_event_t *start, int depth,
                            struct ynode **ret)
{
    bool is_map = start->type == YAML_MAPPING_START_EVENT;
    yaml_event_type_t end = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    const yaml_char_t *anchor = is_map ? start->data.mapping_start.anchor
                                       : start->data.sequence_start.anchor;
    size_t kcap = 0, icap = 0;
    int r;

    if (anchor)
        return alias_error(b, &start->start_mark);
    if (depth >= YNODE_MAX_DEPTH)
        return limit_error(b, &start->start_mark, "nesting deeper than 64 levels");

    struct ynode *n = node_new(b, is_map ? YNODE_MAP : YNODE_SEQ, &start->start_mark);
    if (!n)
        return -ENOMEM;

    for (;;) {
        yaml_event_t ev;
        struct ynode *key = NULL, *item = NULL;

        r = next_event(b, &ev);
        if (r < 0)
            goto fail;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            break;
        }
        if (is_map) {
            if (ev.type != YAML_SCALAR_EVENT) {
                r = ev.type == YAML_ALIAS_EVENT ? alias_error(b, &ev.start_mark)
                    : limit_error(b, &ev.start_mark, "mapping keys must be scalars");
                yaml_event_delete(&ev);
                goto fail;
            }
            r = build_node(b, &ev, depth + 1, &key);
            yaml_event_delete(&ev);
            if (r < 0)
                goto fail;
            r = next_event(b, &ev);
            if (r < 0) {
                ynode_free(key);
                goto fail;
            }
        }
        r = build_node(b, &ev, depth + 1, &item);
        yaml_event_delete(&ev);
        if (r < 0) {
            ynode_free(key);
            goto fail;
        }
        if (is_map) {
            r = push(&n->keys, n->n, &kcap, key);
            if (r < 0) {
                ynode_free(key);
                ynode_free(item);
                goto fail;
            }
        }
        r = push(&n->items, n->n, &icap, item);
        if (r < 0) {
            /* keys[n] holds key but n is not bumped: free it here */
            if (is_map)
                ynode_free(key);
            ynode_free(item);
            goto fail;
        }
        n->n++;
    }
    if (is_map) {
        r = check_duplicates(b, n);
        if (r < 0)
            goto fail;
    }
    *ret = n;
    return 0;
fail:
    ynode_free(n);
    return r;
}

static int build_node(struct builder *b, yaml_event_t *ev, int depth, struct ynode **ret)
{
    if (++b->nnodes > YNODE_MAX_NODES)
        return limit_error(b, &ev->start_mark, "more than 200000 nodes in one document");
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return build_scalar(b, ev, ret);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return build_collection(b, ev, depth, ret);
    case YAML_ALIAS_EVENT:
        return alias_error(b, &ev->start_mark);
    default:
        return limit_error(b, &ev->start_mark, "unexpected YAML event");
    }
}

static int build_stream(struct builder *b)
{
    yaml_event_t ev;
    int r;

    r = next_event(b, &ev); /* STREAM-START */
    if (r < 0)
        return r;
    yaml_event_delete(&ev);

    r = next_event(b, &ev);
    if (r < 0)
        return r;
    if (ev.type == YAML_STREAM_END_EVENT) {
        static const yaml_mark_t origin = { 0, 0, 0 };
        yaml_event_delete(&ev);
        b->doc->root = node_new(b, YNODE_NULL, &origin);
        if (!b->doc->root)
            return -ENOMEM;
        b->doc->root->str = strdup("");
        return b->doc->root->str ? 0 : -ENOMEM;
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */

    r = next_event(b, &ev);
    if (r < 0)
        return r;
    r = build_node(b, &ev, 0, &b->doc->root);
    yaml_event_delete(&ev);
    if (r < 0)
        return r;

    r = next_event(b, &ev); /* DOCUMENT-END */
    if (r < 0)
        return r;
    yaml_event_delete(&ev);

    r = next_event(b, &ev);
    if (r < 0)
        return r;
    if (ev.type != YAML_STREAM_END_EVENT) {
        r = limit_error(b, &ev.start_mark, "only one YAML document per file is supported");
        yaml_event_delete(&ev);
        return r;
    }
    yaml_event_delete(&ev);
    return 0;
}

int ydoc_parse(const char *name, const char *buf, size_t len, struct ydoc **ret,
               struct diags *d)
{
    struct builder b = { .d = d, .buf = buf, .len = len };
    int r;

    b.doc = calloc(1, sizeof(*b.doc));
    if (!b.doc)
        return -ENOMEM;
    b.doc->file = strdup(name ? name : "<input>");
    if (!b.doc->file) {
        free(b.doc);
        return -ENOMEM;
    }
    if (!yaml_parser_initialize(&b.parser)) {
        ydoc_free(b.doc);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&b.parser, YAML_UTF8_ENCODING);
    r = build_stream(&b);
    yaml_parser_delete(&b.parser);
    if (r == 0 && b.errors > 0)
        r = -EINVAL;
    if (r < 0) {
        ydoc_free(b.doc);
        return r;
    }
    *ret = b.doc;
    return 0;
}

int ydoc_load(const char *path, struct ydoc **ret, struct diags *d)
{
    int fd, r;

    fd = open_regular(path);
    if (fd < 0)
        return fd;
    struct sbuf sb = SBUF_INIT;
    sb.max = YDOC_MAX_FILE + 65536 + 1;
    for (;;) {
        r = sbuf_reserve(&sb, 65536);
        if (r < 0)
            break;
        ssize_t k = read(fd, sb.buf + sb.len, sb.cap - sb.len - 1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        if (k == 0)
            break;
        sb.len += (size_t)k;
        if (sb.len > YDOC_MAX_FILE) {
            r = -EFBIG;
            break;
        }
    }
    close(fd);
    if (r < 0) {
        sbuf_release(&sb);
        return r == -E2BIG ? -EFBIG : r;
    }
    r = ydoc_parse(path, sb.buf ? sb.buf : "", sb.len, ret, d);
    sbuf_release(&sb);
    return r;
}

struct ynode *ynode_get(const struct ynode *map, const char *key)
{
    if (!map || map->type != YNODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i]->str && streq(map->keys[i]->str, key))
            return map->items[i];
    return NULL;
}

static const char *article(const char *word)
{
    return strchr("aeiou", word[0]) ? "an" : "a";
}

/* "'what' must be an integer, not a sequence" (or "not null"). */
static int type_error(const struct ynode *n, const char *what, const char *expected,
                      struct diags *d)
{
    const char *got = ynode_type_to_string(n->type);
    if (n->type == YNODE_NULL)
        diag_error(d, n->file, n->line, n->col, "'%s' must be %s %s, not null", what,
                   article(expected), expected);
    else
        diag_error(d, n->file, n->line, n->col, "'%s' must be %s %s, not %s %s", what,
                   article(expected), expected, article(got), got);
    return -EINVAL;
}

/* "'what' must be an integer, got 'abc'" for a scalar that does not parse. */
static int value_error(const struct ynode *n, const char *what, const char *expected,
                       struct diags *d)
{
    diag_error(d, n->file, n->line, n->col, "'%s' must be %s %s, got '%s'%s", what,
               article(expected), expected, n->str, n->quoted ? " (a quoted string)" : "");
    return -EINVAL;
}

int ynode_expect(const struct ynode *n, enum ynode_type t, const char *what, struct diags *d)
{
    if (n->type == t)
        return 0;
    return type_error(n, what, ynode_type_to_string(t), d);
}

static int scalar_or_error(const struct ynode *n, const char *what, const char *expected,
                           struct diags *d)
{
    if (n->type != YNODE_SCALAR)
        return type_error(n, what, expected, d);
    return 0;
}

int ynode_int(const struct ynode *n, const char *what, int64_t min, int64_t max,
              int64_t *ret, struct diags *d)
{
    int r = scalar_or_error(n, what, "integer", d);
    if (r < 0)
        return r;
    if (n->quoted)
        return value_error(n, what, "integer", d);
    const char *s = n->str;
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i == n->len)
        return value_error(n, what, "integer", d);
    for (size_t j = i; j < n->len; j++)
        if (s[j] < '0' || s[j] > '9')
            return value_error(n, what, "integer", d);
    int64_t v;
    r = parse_int64(s, n->len, &v);
    if (r < 0 && r != -ERANGE)
        return value_error(n, what, "integer", d);
    if (r == -ERANGE || v < min || v > max) {
        if (min == INT64_MIN)
            diag_error(d, n->file, n->line, n->col, "'%s' must be at most %" PRId64 ", got %s",
                       what, max, s);
        else if (max == INT64_MAX)
            diag_error(d, n->file, n->line, n->col, "'%s' must be at least %" PRId64 ", got %s",
                       what, min, s);
        else
            diag_error(d, n->file, n->line, n->col,
                       "'%s' must be between %" PRId64 " and %" PRId64 ", got %s", what, min,
                       max, s);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

int ynode_double(const struct ynode *n, const char *what, double min, double max,
                 double *ret, struct diags *d)
{
    int r = scalar_or_error(n, what, "number", d);
    if (r < 0)
        return r;
    if (n->quoted || n->len > 64)
        return value_error(n, what, "number", d);
    /* Decimal notation only: no hex, inf or nan that strtod would take. */
    bool digit = false;
    for (size_t i = 0; i < n->len; i++) {
        char c = n->str[i];
        if (c >= '0' && c <= '9')
            digit = true;
        else if (!strchr("+-.eE", c))
            return value_error(n, what, "number", d);
    }
    if (!digit)
        return value_error(n, what, "number", d);
    char *end;
    errno = 0;
    double v = strtod(n->str, &end);
    if (*end || end == n->str || !isfinite(v))
        return value_error(n, what, "number", d);
    if (v < min || v > max) {
        diag_error(d, n->file, n->line, n->col, "'%s' must be between %g and %g, got %s",
                   what, min, max, n->str);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

int ynode_bool(const struct ynode *n, const char *what, bool *ret, struct diags *d)
{
    static const char *const yes[] = { "true", "yes", "on" };
    static const char *const no[] = { "false", "no", "off" };
    int r = scalar_or_error(n, what, "boolean", d);
    if (r < 0)
        return r;
    if (!n->quoted) {
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
            if (strcasecmp(n->str, yes[i]) == 0) {
                *ret = true;
                return 0;
            }
            if (strcasecmp(n->str, no[i]) == 0) {
                *ret = false;
                return 0;
            }
        }
    }
    return value_error(n, what, "boolean", d);
}

int ynode_str(const struct ynode *n, const char *what, const char **ret, struct diags *d)
{
    int r = scalar_or_error(n, what, "string", d);
    if (r < 0)
        return r;
    *ret = n->str;
    return 0;
}

int ynode_check_keys(const struct ynode *map, const char *const *allowed, const char *where,
                     struct diags *d)
{
    size_t nallowed = 0;
    int unknown = 0;

    if (!map || map->type != YNODE_MAP)
        return 0;
    while (allowed[nallowed])
        nallowed++;
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *k = map->keys[i];
        bool ok = false;
        for (size_t j = 0; j < nallowed && !ok; j++)
            ok = streq(k->str, allowed[j]);
        if (ok)
            continue;
        const char *near = closest_word(k->str, allowed, nallowed);
        if (near)
            diag_error(d, k->file, k->line, k->col,
                       "unknown key '%s' in %s; did you mean '%s'?", k->str, where, near);
        else
            diag_error(d, k->file, k->line, k->col, "unknown key '%s' in %s", k->str, where);
        unknown++;
    }
    return unknown;
}
