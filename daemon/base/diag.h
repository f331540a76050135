/*
 * diag.h - diagnostics for mistakes in user input (YAML, CSV, JSON).
 *
 * Loaders never print: they append `struct diag` entries and carry on, so
 * that a user sees every problem at once.  The edge (a CLI verb) prints
 * them GCC style: `file:line:col: error: message`.  line/col are 1-based;
 * 0 means "not known" and is left out when printing.
 */
#ifndef CADENZA_DIAG_H
#define CADENZA_DIAG_H

#include <stdio.h>

#include "util.h"

enum diag_severity {
    DIAG_ERROR,
    DIAG_WARNING,
    DIAG_NOTE,
    _DIAG_SEVERITY_MAX,
};

struct diag {
    char *file;
    int line, col;
    enum diag_severity severity;
    char *msg;
};

struct diags {
    struct diag *v;
    size_t n, cap;
    size_t nerrors, nwarnings;
    size_t max; /* stop recording after this many (0 = 1000) */
    bool truncated;
};

#define DIAGS_INIT { NULL, 0, 0, 0, 0, 0, false }

void diags_release(struct diags *d);
/* Returns -ENOMEM only; a full list silently counts. */
int diags_add(struct diags *d, enum diag_severity sev, const char *file, int line, int col,
              const char *fmt, ...) _printf_(6, 7);
int diags_vadd(struct diags *d, enum diag_severity sev, const char *file, int line, int col,
               const char *fmt, va_list ap);
#define diag_error(d, file, line, col, ...) diags_add(d, DIAG_ERROR, file, line, col, __VA_ARGS__)
#define diag_warning(d, file, line, col, ...) \
    diags_add(d, DIAG_WARNING, file, line, col, __VA_ARGS__)
#define diag_note(d, file, line, col, ...) diags_add(d, DIAG_NOTE, file, line, col, __VA_ARGS__)
/* Sort by file, line, column (stable). */
void diags_sort(struct diags *d);
void diags_print(const struct diags *d, FILE *f);
const char *diag_severity_to_string(enum diag_severity s);

#endif
