/*
 * metrics.c - Prometheus text exposition (metrics.h).
 */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int prom_family(struct sbuf *b, const char *name, const char *type, const char *help)
{
    return sbuf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int add_escaped(struct sbuf *b, const char *s)
{
    int r = 0;
    for (; s && *s && r >= 0; s++) {
        if (*s == '\\')
            r = sbuf_adds(b, "\\\\");
        else if (*s == '"')
            r = sbuf_adds(b, "\\\"");
        else if (*s == '\n')
            r = sbuf_adds(b, "\\n");
        else
            r = sbuf_addc(b, *s);
    }
    return r;
}

static int add_labels(struct sbuf *b, const struct prom_label *labels, size_t n,
                      const char *le)
{
    if (n == 0 && !le)
        return 0;
    int r = sbuf_addc(b, '{');
    for (size_t i = 0; i < n && r >= 0; i++) {
        r = sbuf_addf(b, "%s%s=\"", i ? "," : "", labels[i].name);
        if (r >= 0)
            r = add_escaped(b, labels[i].value);
        if (r >= 0)
            r = sbuf_addc(b, '"');
    }
    if (r >= 0 && le)
        r = sbuf_addf(b, "%sle=\"%s\"", n ? "," : "", le);
    if (r >= 0)
        r = sbuf_addc(b, '}');
    return r;
}

static int add_value(struct sbuf *b, double v)
{
    if (isnan(v))
        return sbuf_adds(b, " NaN\n");
    if (isinf(v))
        return sbuf_adds(b, v > 0 ? " +Inf\n" : " -Inf\n");
    if (v == (double)(int64_t)v && fabs(v) < 9e15)
        return sbuf_addf(b, " %lld\n", (long long)v);
    return sbuf_addf(b, " %.9g\n", v);
}

int prom_sample(struct sbuf *b, const char *name, const struct prom_label *labels, size_t nlabels,
                double value)
{
    int r = sbuf_adds(b, name);
    if (r >= 0)
        r = add_labels(b, labels, nlabels, NULL);
    if (r >= 0)
        r = add_value(b, value);
    return r;
}

void histogram_init(struct histogram *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->n = n < HIST_MAX_BUCKETS ? n : HIST_MAX_BUCKETS;
}

void histogram_observe(struct histogram *h, double seconds)
{
    size_t i = 0;
    while (i + 1 < h->n && seconds > h->bounds[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum += seconds;
}

int prom_histogram(struct sbuf *b, const char *name, const struct prom_label *labels,
                   size_t nlabels, const double *bounds, const uint64_t *buckets, size_t n,
                   uint64_t count, double sum)
{
    uint64_t cum = 0;
    int r = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        cum += buckets[i];
        bool inf = i + 1 == n || bounds[i] >= 1e300;
        if (inf && i + 1 < n)
            continue; /* only the last bucket is +Inf */
        char le[32];
        if (inf)
            snprintf(le, sizeof(le), "+Inf");
        else
            snprintf(le, sizeof(le), "%g", bounds[i]);
        r = sbuf_addf(b, "%s_bucket", name);
        if (r >= 0)
            r = add_labels(b, labels, nlabels, le);
        if (r >= 0)
            r = add_value(b, (double)(inf ? count : cum));
    }
    if (r >= 0)
        r = sbuf_addf(b, "%s_sum", name);
    if (r >= 0)
        r = add_labels(b, labels, nlabels, NULL);
    if (r >= 0)
        r = add_value(b, sum);
    if (r >= 0)
        r = sbuf_addf(b, "%s_count", name);
    if (r >= 0)
        r = add_labels(b, labels, nlabels, NULL);
    if (r >= 0)
        r = add_value(b, (double)count);
    return r;
}

double histogram_quantile(const struct histogram *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->count), cum = 0;
    for (size_t i = 0; i < h->n; i++) {
        cum += h->buckets[i];
        if (cum >= want && want > 0)
            return h->bounds[i];
    }
    return h->bounds[h->n - 1];
}
