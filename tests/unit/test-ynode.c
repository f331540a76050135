/*
 * test-ynode.c - the YAML tree: shapes, positions, limits and the exact
 * diagnostics other modules' tests rely on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testlib.h"
#include "ynode.h"

static struct ydoc *parse(const char *s, struct diags *d)
{
    struct ydoc *doc = NULL;
    int r = ydoc_parse("t.yaml", s, strlen(s), &doc, d);
    if (r < 0)
        return NULL;
    return doc;
}

/* Parse s expecting failure with exactly one diagnostic; check it. */
static void expect_error(const char *s, int line, int col, const char *msg)
{
    struct diags d = DIAGS_INIT;
    struct ydoc *doc = NULL;
    int r = ydoc_parse("t.yaml", s, strlen(s), &doc, &d);
    CHECK_INT(r, -EINVAL);
    CHECK(doc == NULL);
    CHECK_INT(d.n, 1);
    if (d.n >= 1) {
        CHECK_STR(d.v[0].file, "t.yaml");
        CHECK_INT(d.v[0].line, line);
        CHECK_INT(d.v[0].col, col);
        CHECK_STR(d.v[0].msg, msg);
    }
    ydoc_free(doc);
    diags_release(&d);
}

static void test_tree(void)
{
    struct diags d = DIAGS_INIT;
    struct ydoc *doc = parse("a: 1\n"
                             "b:\n"
                             "  - x\n"
                             "  - 'y'\n"
                             "  - {k: v}\n"
                             "c: \"\"\n",
                             &d);
    CHECK(doc != NULL);
    CHECK_INT(d.n, 0);
    if (!doc)
        return;
    struct ynode *root = doc->root;
    CHECK_INT(root->type, YNODE_MAP);
    CHECK_INT(root->n, 3);
    CHECK_INT(root->line, 1);
    CHECK_INT(root->col, 1);
    CHECK_STR(root->file, "t.yaml");
    struct ynode *a = ynode_get(root, "a");
    CHECK(a && a->type == YNODE_SCALAR && !a->quoted);
    CHECK_STR(a->str, "1");
    CHECK_INT(a->line, 1);
    CHECK_INT(a->col, 4);
    CHECK_INT(root->keys[0]->line, 1);
    CHECK_INT(root->keys[0]->col, 1);
    struct ynode *b = ynode_get(root, "b");
    CHECK(b && b->type == YNODE_SEQ && b->n == 3);
    if (b && b->n == 3) {
        CHECK_INT(b->line, 3);
        CHECK_INT(b->col, 3);
        CHECK_STR(b->items[0]->str, "x");
        CHECK_INT(b->items[0]->line, 3);
        CHECK_INT(b->items[0]->col, 5);
        CHECK(b->items[1]->quoted);
        CHECK_STR(b->items[1]->str, "y");
        CHECK_INT(b->items[2]->type, YNODE_MAP);
        CHECK_STR(ynode_get(b->items[2], "k")->str, "v");
        CHECK_INT(b->items[2]->line, 5);
        CHECK_INT(b->items[2]->col, 5);
    }
    struct ynode *c = ynode_get(root, "c");
    CHECK(c && c->type == YNODE_SCALAR && c->quoted && c->len == 0);
    CHECK(ynode_get(root, "zz") == NULL);
    CHECK(ynode_get(b, "x") == NULL); /* not a map */
    ydoc_free(doc);
    diags_release(&d);
}

static void test_nulls(void)
{
    struct diags d = DIAGS_INIT;
    struct ydoc *doc = parse("a: ~\nb: null\nc: Null\nd: NULL\ne:\nf: 'null'\ng: nul\n", &d);
    CHECK(doc != NULL);
    if (!doc)
        return;
    const char *nulls[] = { "a", "b", "c", "d", "e" };
    for (size_t i = 0; i < ELEMENTSOF(nulls); i++) {
        struct ynode *n = ynode_get(doc->root, nulls[i]);
        CHECK(n && n->type == YNODE_NULL);
    }
    CHECK_INT(ynode_get(doc->root, "f")->type, YNODE_SCALAR);
    CHECK_INT(ynode_get(doc->root, "g")->type, YNODE_SCALAR);
    ydoc_free(doc);

    /* An empty document is a null root at 1:1. */
    doc = parse("", &d);
    CHECK(doc && doc->root && doc->root->type == YNODE_NULL);
    if (doc) {
        CHECK_INT(doc->root->line, 1);
        CHECK_INT(doc->root->col, 1);
    }
    ydoc_free(doc);
    doc = parse("# only a comment\n", &d);
    CHECK(doc && doc->root && doc->root->type == YNODE_NULL);
    ydoc_free(doc);
    CHECK_INT(d.n, 0);
    diags_release(&d);
}

static void test_type_names(void)
{
    CHECK_STR(ynode_type_to_string(YNODE_NULL), "null");
    CHECK_STR(ynode_type_to_string(YNODE_SCALAR), "scalar");
    CHECK_STR(ynode_type_to_string(YNODE_SEQ), "sequence");
    CHECK_STR(ynode_type_to_string(YNODE_MAP), "mapping");
    CHECK(ynode_type_to_string(_YNODE_TYPE_MAX) == NULL);
}

static void test_syntax_errors(void)
{
    expect_error("a: b: c\n", 1, 5, "mapping values are not allowed in this context");
    expect_error("a: 1\n b: 2\nc\n", 2, 3, "mapping values are not allowed in this context");
    expect_error("key: [1, 2\nother: 3\n", 2, 6,
                 "did not find expected ',' or ']' (while parsing a flow sequence)");
    expect_error("a:\n  - 1\n  b: 2\n", 3, 3,
                 "did not find expected '-' indicator (while parsing a block collection)");
    expect_error("a: \"unterminated\n", 2, 1,
                 "found unexpected end of stream (while scanning a quoted scalar)");
    expect_error("a: 1\n---\nb: 2\n", 2, 1, "only one YAML document per file is supported");
    expect_error("a: \xff\n", 1, 4, "invalid leading UTF-8 octet");
}

static void test_duplicates(void)
{
    expect_error("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a' (first defined at line 1)");
    expect_error("top:\n  x: 1\n  y: 2\n  x: 3\n", 4, 3,
                 "duplicate key 'x' (first defined at line 2)");
    /* Equal keys in different maps are fine. */
    struct diags d = DIAGS_INIT;
    struct ydoc *doc = parse("a: {x: 1}\nb: {x: 2}\n", &d);
    CHECK(doc != NULL);
    ydoc_free(doc);

    /* All duplicates are reported, in order. */
    struct ydoc *bad = NULL;
    const char *s = "k: 1\nk: 2\nj: 0\nk: 3\nj: 4\n";
    CHECK_INT(ydoc_parse("t.yaml", s, strlen(s), &bad, &d), -EINVAL);
    CHECK_INT(d.n, 3);
    if (d.n == 3) {
        CHECK_INT(d.v[0].line, 2);
        CHECK_STR(d.v[0].msg, "duplicate key 'k' (first defined at line 1)");
        CHECK_INT(d.v[1].line, 4);
        CHECK_STR(d.v[1].msg, "duplicate key 'k' (first defined at line 1)");
        CHECK_INT(d.v[2].line, 5);
        CHECK_STR(d.v[2].msg, "duplicate key 'j' (first defined at line 3)");
    }
    diags_release(&d);
}

static void test_aliases(void)
{
    expect_error("a: &x 1\nb: *x\n", 1, 4, "anchors and aliases are not supported");
    expect_error("a: &m {k: 1}\n", 1, 4, "anchors and aliases are not supported");
    expect_error("a: &s [1]\n", 1, 4, "anchors and aliases are not supported");
    expect_error("a: *x\n", 1, 4, "anchors and aliases are not supported");
    expect_error("base: 1\n<<: *x\n", 2, 5, "anchors and aliases are not supported");
}

static void test_limits(void)
{
    /* 65 nested flow sequences: one too deep. */
    char deep[256];
    size_t i;
    for (i = 0; i < 65; i++)
        deep[i] = '[';
    for (; i < 130; i++)
        deep[i] = ']';
    deep[i] = 0;
    expect_error(deep, 1, 65, "nesting deeper than 64 levels");
    deep[64] = ']';
    deep[129] = 0; /* 64 levels: fine */
    memmove(deep + 64, deep + 65, 65);
    struct diags d = DIAGS_INIT;
    struct ydoc *doc = parse(deep, &d);
    CHECK(doc != NULL);
    CHECK_INT(d.n, 0);
    ydoc_free(doc);

    /* Non-scalar keys. */
    expect_error("? [a]\n: 1\n", 1, 3, "mapping keys must be scalars");

    /* More than 200,000 nodes. */
    struct sbuf b = SBUF_INIT;
    sbuf_adds(&b, "[");
    for (i = 0; i < 200001; i++)
        sbuf_adds(&b, "1,");
    sbuf_adds(&b, "1]");
    struct ydoc *big = NULL;
    CHECK_INT(ydoc_parse("big", b.buf, b.len, &big, &d), -EINVAL);
    CHECK_INT(d.n, 1);
    if (d.n == 1)
        CHECK_STR(d.v[0].msg, "more than 200000 nodes in one document");
    diags_release(&d);
    sbuf_release(&b);

    /* A scalar longer than 1 MiB. */
    char *s = malloc(1024 * 1024 + 16);
    memcpy(s, "a: ", 3);
    memset(s + 3, 'x', 1024 * 1024 + 1);
    s[3 + 1024 * 1024 + 1] = 0;
    expect_error(s, 1, 4, "scalar is longer than 1 MiB");
    free(s);

    /* NUL inside a scalar (escaped). */
    expect_error("a: \"x\\0y\"\n", 1, 4, "NUL character in a scalar");
}

static struct ydoc *values_doc;

static const struct ynode *val(const char *k)
{
    return ynode_get(values_doc->root, k);
}

static void expect_msg(struct diags *d, int line, int col, const char *msg)
{
    CHECK_INT(d->n, 1);
    if (d->n >= 1) {
        CHECK_INT(d->v[0].line, line);
        CHECK_INT(d->v[0].col, col);
        CHECK_STR(d->v[0].msg, msg);
    }
    diags_release(d);
}

static void test_readers(void)
{
    struct diags d = DIAGS_INIT;
    values_doc = parse("i: 42\n"          /* 1 */
                       "neg: -7\n"        /* 2 */
                       "q: \"5\"\n"       /* 3 */
                       "hex: 0x10\n"      /* 4 */
                       "f: 1.5\n"         /* 5 */
                       "big: 5000\n"      /* 6 */
                       "seq: [1]\n"       /* 7 */
                       "map: {a: 1}\n"    /* 8 */
                       "nul: ~\n"         /* 9 */
                       "abc: abc\n"       /* 10 */
                       "t: yes\n"         /* 11 */
                       "o: off\n"         /* 12 */
                       "qt: 'true'\n"     /* 13 */
                       "huge: 99999999999999999999\n" /* 14 */
                       "inf: .inf\n"      /* 15 */
                       "e: 2e3\n"         /* 16 */
                       "plus: +3\n"       /* 17 */
                       "sign: +-\n",      /* 18 */
                       &d);
    CHECK(values_doc != NULL);
    if (!values_doc)
        return;
    int64_t i = 0;
    double x = 0;
    bool b = false;
    const char *s = NULL;

    CHECK_INT(ynode_int(val("i"), "priority", 0, 1000, &i, &d), 0);
    CHECK_INT(i, 42);
    CHECK_INT(ynode_int(val("neg"), "n", -10, 10, &i, &d), 0);
    CHECK_INT(i, -7);
    CHECK_INT(ynode_int(val("plus"), "n", -10, 10, &i, &d), 0);
    CHECK_INT(i, 3);
    CHECK_INT(d.n, 0);

    i = 99;
    CHECK_INT(ynode_int(val("seq"), "priority", 0, 1000, &i, &d), -EINVAL);
    CHECK_INT(i, 99);
    expect_msg(&d, 7, 6, "'priority' must be an integer, not a sequence");
    CHECK_INT(ynode_int(val("map"), "priority", 0, 1000, &i, &d), -EINVAL);
    expect_msg(&d, 8, 6, "'priority' must be an integer, not a mapping");
    CHECK_INT(ynode_int(val("nul"), "priority", 0, 1000, &i, &d), -EINVAL);
    expect_msg(&d, 9, 6, "'priority' must be an integer, not null");
    CHECK_INT(ynode_int(val("abc"), "priority", 0, 1000, &i, &d), -EINVAL);
    expect_msg(&d, 10, 6, "'priority' must be an integer, got 'abc'");
    CHECK_INT(ynode_int(val("q"), "priority", 0, 1000, &i, &d), -EINVAL);
    expect_msg(&d, 3, 4, "'priority' must be an integer, got '5' (a quoted string)");
    CHECK_INT(ynode_int(val("hex"), "priority", 0, 1000, &i, &d), -EINVAL);
    expect_msg(&d, 4, 6, "'priority' must be an integer, got '0x10'");
    CHECK_INT(ynode_int(val("f"), "priority", 0, 1000, &i, &d), -EINVAL);
    expect_msg(&d, 5, 4, "'priority' must be an integer, got '1.5'");
    CHECK_INT(ynode_int(val("sign"), "priority", -5, 5, &i, &d), -EINVAL);
    expect_msg(&d, 18, 7, "'priority' must be an integer, got '+-'");
    CHECK_INT(ynode_int(val("big"), "priority", 0, 1000, &i, &d), -EINVAL);
    expect_msg(&d, 6, 6, "'priority' must be between 0 and 1000, got 5000");
    CHECK_INT(ynode_int(val("neg"), "priority", 0, 1000, &i, &d), -EINVAL);
    expect_msg(&d, 2, 6, "'priority' must be between 0 and 1000, got -7");
    CHECK_INT(ynode_int(val("huge"), "n", 0, INT64_MAX, &i, &d), -EINVAL);
    expect_msg(&d, 14, 7, "'n' must be at least 0, got 99999999999999999999");
    CHECK_INT(ynode_int(val("big"), "n", INT64_MIN, 10, &i, &d), -EINVAL);
    expect_msg(&d, 6, 6, "'n' must be at most 10, got 5000");

    CHECK_INT(ynode_double(val("f"), "cost", 0, 10, &x, &d), 0);
    CHECK(x == 1.5);
    CHECK_INT(ynode_double(val("i"), "cost", 0, 100, &x, &d), 0);
    CHECK(x == 42);
    CHECK_INT(ynode_double(val("e"), "cost", 0, 1e4, &x, &d), 0);
    CHECK(x == 2000);
    CHECK_INT(d.n, 0);
    CHECK_INT(ynode_double(val("inf"), "cost", 0, 10, &x, &d), -EINVAL);
    expect_msg(&d, 15, 6, "'cost' must be a number, got '.inf'");
    CHECK_INT(ynode_double(val("hex"), "cost", 0, 10, &x, &d), -EINVAL);
    expect_msg(&d, 4, 6, "'cost' must be a number, got '0x10'");
    CHECK_INT(ynode_double(val("big"), "cost", 0, 10, &x, &d), -EINVAL);
    expect_msg(&d, 6, 6, "'cost' must be between 0 and 10, got 5000");
    CHECK_INT(ynode_double(val("seq"), "cost", 0, 10, &x, &d), -EINVAL);
    expect_msg(&d, 7, 6, "'cost' must be a number, not a sequence");

    CHECK_INT(ynode_bool(val("t"), "enabled", &b, &d), 0);
    CHECK(b);
    CHECK_INT(ynode_bool(val("o"), "enabled", &b, &d), 0);
    CHECK(!b);
    CHECK_INT(d.n, 0);
    CHECK_INT(ynode_bool(val("qt"), "enabled", &b, &d), -EINVAL);
    expect_msg(&d, 13, 5, "'enabled' must be a boolean, got 'true' (a quoted string)");
    CHECK_INT(ynode_bool(val("i"), "enabled", &b, &d), -EINVAL);
    expect_msg(&d, 1, 4, "'enabled' must be a boolean, got '42'");
    CHECK_INT(ynode_bool(val("map"), "enabled", &b, &d), -EINVAL);
    expect_msg(&d, 8, 6, "'enabled' must be a boolean, not a mapping");

    CHECK_INT(ynode_str(val("q"), "name", &s, &d), 0);
    CHECK_STR(s, "5");
    CHECK_INT(ynode_str(val("i"), "name", &s, &d), 0);
    CHECK_STR(s, "42");
    CHECK_INT(ynode_str(val("nul"), "name", &s, &d), -EINVAL);
    expect_msg(&d, 9, 6, "'name' must be a string, not null");
    CHECK_INT(ynode_str(val("seq"), "name", &s, &d), -EINVAL);
    expect_msg(&d, 7, 6, "'name' must be a string, not a sequence");

    CHECK_INT(ynode_expect(val("map"), YNODE_MAP, "steps", &d), 0);
    CHECK_INT(ynode_expect(val("seq"), YNODE_MAP, "steps", &d), -EINVAL);
    expect_msg(&d, 7, 6, "'steps' must be a mapping, not a sequence");
    CHECK_INT(ynode_expect(val("i"), YNODE_SEQ, "steps", &d), -EINVAL);
    expect_msg(&d, 1, 4, "'steps' must be a sequence, not a scalar");
    CHECK_INT(ynode_expect(val("nul"), YNODE_MAP, "steps", &d), -EINVAL);
    expect_msg(&d, 9, 6, "'steps' must be a mapping, not null");

    ydoc_free(values_doc);
    values_doc = NULL;
    diags_release(&d);
}

static void test_check_keys(void)
{
    static const char *const allowed[] = { "priority", "channel", "when", NULL };
    struct diags d = DIAGS_INIT;
    struct ydoc *doc = parse("priority: 1\npriorty: 2\nzzzzzz: 3\nchannel: x\n", &d);
    CHECK(doc != NULL);
    if (!doc)
        return;
    CHECK_INT(ynode_check_keys(doc->root, allowed, "step 'a'", &d), 2);
    CHECK_INT(d.n, 2);
    if (d.n == 2) {
        CHECK_INT(d.v[0].line, 2);
        CHECK_INT(d.v[0].col, 1);
        CHECK_STR(d.v[0].msg, "unknown key 'priorty' in step 'a'; did you mean 'priority'?");
        CHECK_INT(d.v[1].line, 3);
        CHECK_STR(d.v[1].msg, "unknown key 'zzzzzz' in step 'a'");
    }
    ydoc_free(doc);
    diags_release(&d);
}

static void test_load(void)
{
    struct diags d = DIAGS_INIT;
    struct ydoc *doc = NULL;
    char path[] = "/tmp/test-ynode-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    const char *s = "x: [1, 2\n";
    CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
    close(fd);
    CHECK_INT(ydoc_load(path, &doc, &d), -EINVAL);
    CHECK_INT(d.n, 1);
    if (d.n == 1) {
        CHECK_STR(d.v[0].file, path);
        CHECK_INT(d.v[0].line, 2);
    }
    diags_release(&d);
    unlink(path);
    CHECK_INT(ydoc_load(path, &doc, &d), -ENOENT);
    CHECK_INT(ydoc_load("/tmp", &doc, &d), -EISDIR);
    CHECK_INT(d.n, 0);
}

TEST_MAIN({ "tree", test_tree }, { "nulls", test_nulls }, { "type_names", test_type_names },
          { "syntax_errors", test_syntax_errors }, { "duplicates", test_duplicates },
          { "aliases", test_aliases }, { "limits", test_limits }, { "readers", test_readers },
          { "check_keys", test_check_keys }, { "load", test_load })
