/*
 * ynode.h - a small, bounded YAML document tree built with libyaml.
 *
 * The config and strategy loaders walk this tree instead of libyaml's
 * event stream, so every value keeps the 1-based line and column it came
 * from.  Only ynode.c includes <yaml.h>.
 *
 * Limits (input is hostile until validated): nesting depth 64, at most
 * 200,000 nodes per document, scalars of at most 1 MiB.  Anchors and
 * aliases are rejected (no "billion laughs").  A stream with several
 * documents is rejected: one file, one document.
 */
#ifndef CADENZA_YNODE_H
#define CADENZA_YNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

enum ynode_type {
    YNODE_NULL,   /* empty document or a plain null/~/empty scalar */
    YNODE_SCALAR,
    YNODE_SEQ,
    YNODE_MAP,
    _YNODE_TYPE_MAX,
};

struct ynode {
    enum ynode_type type;
    int line, col;       /* 1-based position of the node's start */
    const char *file;    /* borrowed from the document */
    /* YNODE_SCALAR (and YNODE_NULL from a plain empty/"~"/"null"): */
    char *str;           /* NUL-terminated (a NUL inside is rejected) */
    size_t len;
    bool quoted;         /* single/double quoted or block: never null/bool/int */
    /* YNODE_SEQ: items[0..n); YNODE_MAP: keys[i] -> items[i], keys are scalars */
    struct ynode **keys;
    struct ynode **items;
    size_t n;
};

struct ydoc {
    char *file;
    struct ynode *root; /* never NULL after a successful load */
};

/*
 * Parse a whole buffer.  name is used in diagnostics.  On a syntax error
 * appends one diagnostic with libyaml's position (+1) and problem text and
 * returns -EINVAL.  Duplicate keys in one mapping are errors too.
 * The caller frees *ret with ydoc_free().
 */
int ydoc_parse(const char *name, const char *buf, size_t len, struct ydoc **ret,
               struct diags *d);
/* Read and parse a file (at most 16 MiB); -errno when it cannot be read. */
int ydoc_load(const char *path, struct ydoc **ret, struct diags *d);
void ydoc_free(struct ydoc *doc);

const char *ynode_type_to_string(enum ynode_type t); /* "scalar", "sequence", "mapping", "null" */

/* Look a key up in a map; NULL if absent or n is not a map. */
struct ynode *ynode_get(const struct ynode *map, const char *key);

/*
 * Typed scalar readers.  Each returns 0 and writes *ret, or appends a
 * diagnostic at the node's position and returns -EINVAL.  what is the
 * bare key name ("priority"); messages quote it:
 *   "'priority' must be an integer, not a sequence"   (wrong node type)
 *   "'priority' must be an integer, not null"
 *   "'priority' must be an integer, got 'abc'"        (scalar that does not parse)
 *   "'priority' must be between 0 and 1000, got 5000"
 * Quoted scalars are strings: never integers, numbers or booleans.
 */
int ynode_int(const struct ynode *n, const char *what, int64_t min, int64_t max,
              int64_t *ret, struct diags *d);
int ynode_double(const struct ynode *n, const char *what, double min, double max,
                 double *ret, struct diags *d);
int ynode_bool(const struct ynode *n, const char *what, bool *ret, struct diags *d);
/* Any non-null scalar; *ret is borrowed from the tree. */
int ynode_str(const struct ynode *n, const char *what, const char **ret, struct diags *d);
/* Expect a node of a type; emits "'what' must be a <type>, not a <type>". */
int ynode_expect(const struct ynode *n, enum ynode_type t, const char *what, struct diags *d);

/*
 * Check a map's keys against a NULL-terminated list of allowed names.
 * Unknown keys get "unknown key 'x' in <where>" plus "; did you mean 'y'?"
 * when a close one exists.  Returns the number of unknown keys.
 */
int ynode_check_keys(const struct ynode *map, const char *const *allowed, const char *where,
                     struct diags *d);

#endif
