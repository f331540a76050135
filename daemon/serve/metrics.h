/*
 * metrics.h - Prometheus text exposition (format 0.0.4): writers for
 * families, samples and histograms into an sbuf, and a fixed-bucket
 * histogram to observe durations with.  No registry: the /metrics handler
 * asks each component for its figures and writes them in one pass.
 */
#ifndef CADENZA_METRICS_H
#define CADENZA_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct prom_label {
    const char *name, *value;
};

/* "# HELP" and "# TYPE" lines; type is "counter", "gauge" or "histogram". */
int prom_family(struct sbuf *b, const char *name, const char *type, const char *help);
/* name{labels} value; values escaped as the format asks (\\, \", \n). */
int prom_sample(struct sbuf *b, const char *name, const struct prom_label *labels, size_t nlabels,
                double value);

#define HIST_MAX_BUCKETS 16
struct histogram {
    const double *bounds; /* upper bounds in seconds, increasing; the last may be +Inf-like */
    size_t n;
    uint64_t buckets[HIST_MAX_BUCKETS]; /* observations in (bounds[i-1], bounds[i]] */
    uint64_t count;
    double sum;
};
void histogram_init(struct histogram *h, const double *bounds, size_t n);
void histogram_observe(struct histogram *h, double seconds);
/* The _bucket (cumulative, with le="+Inf"), _sum and _count samples. */
int prom_histogram(struct sbuf *b, const char *name, const struct prom_label *labels,
                   size_t nlabels, const double *bounds, const uint64_t *buckets, size_t n,
                   uint64_t count, double sum);
/* The value at quantile q (0..1) by the buckets' upper bounds; 0 when empty. */
double histogram_quantile(const struct histogram *h, double q);

#endif
