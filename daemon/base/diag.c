/*
 * diag.c - collection and printing of input diagnostics (see diag.h).
 *
 * Invariants:
 *  1. nerrors/nwarnings count every diagnostic added, recorded or not, so
 *     a truncated list still makes the caller fail.
 *  2. Printing never reorders unless diags_sort() was called.
 */
#include "diag.h"

#include <errno.h>
#include <stdlib.h>

static const char *const severity_names[_DIAG_SEVERITY_MAX] = {
    [DIAG_ERROR] = "error",
    [DIAG_WARNING] = "warning",
    [DIAG_NOTE] = "note",
};

const char *diag_severity_to_string(enum diag_severity s)
{
    return s >= 0 && s < _DIAG_SEVERITY_MAX ? severity_names[s] : "error";
}

void diags_release(struct diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].msg);
    }
    free(d->v);
    *d = (struct diags)DIAGS_INIT;
}

int diags_vadd(struct diags *d, enum diag_severity sev, const char *file, int line, int col,
               const char *fmt, va_list ap)
{
    if (sev == DIAG_ERROR)
        d->nerrors++;
    else if (sev == DIAG_WARNING)
        d->nwarnings++;
    size_t max = d->max ? d->max : 1000;
    if (d->n >= max) {
        d->truncated = true;
        return 0;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct diag *v = realloc(d->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        d->v = v;
        d->cap = cap;
    }
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        return -ENOMEM;
    char *f = strdup_or_null(file);
    if (file && !f) {
        free(msg);
        return -ENOMEM;
    }
    d->v[d->n++] = (struct diag){ f, line, col, sev, msg };
    return 0;
}

int diags_add(struct diags *d, enum diag_severity sev, const char *file, int line, int col,
              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = diags_vadd(d, sev, file, line, col, fmt, ap);
    va_end(ap);
    return r;
}

void diags_sort(struct diags *d)
{
    /* Insertion sort: stable, and the lists are short. */
    if (d->n < 2)
        return;
    struct diag *tmp = malloc(d->n * sizeof(*tmp));
    if (!tmp)
        return;
    memcpy(tmp, d->v, d->n * sizeof(*tmp));
    for (size_t i = 1; i < d->n; i++) {
        struct diag x = tmp[i];
        size_t j = i;
        while (j > 0) {
            struct diag *p = &tmp[j - 1];
            int c = strcmp(p->file ? p->file : "", x.file ? x.file : "");
            if (!c)
                c = p->line != x.line ? (p->line < x.line ? -1 : 1)
                                      : (p->col != x.col ? (p->col < x.col ? -1 : 1) : 0);
            if (c <= 0)
                break;
            tmp[j] = tmp[j - 1];
            j--;
        }
        tmp[j] = x;
    }
    memcpy(d->v, tmp, d->n * sizeof(*tmp));
    free(tmp);
}

void diags_print(const struct diags *d, FILE *f)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct diag *g = &d->v[i];
        if (g->file && g->line > 0 && g->col > 0)
            fprintf(f, "%s:%d:%d: ", g->file, g->line, g->col);
        else if (g->file && g->line > 0)
            fprintf(f, "%s:%d: ", g->file, g->line);
        else if (g->file)
            fprintf(f, "%s: ", g->file);
        fprintf(f, "%s: %s\n", diag_severity_to_string(g->severity), g->msg);
    }
    if (d->truncated)
        fprintf(f, "note: %zu more diagnostics not shown\n",
                d->nerrors + d->nwarnings > d->n ? d->nerrors + d->nwarnings - d->n : 0);
}
