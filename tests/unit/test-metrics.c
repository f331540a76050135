/*
 * test-metrics.c - the Prometheus text writer and the histogram.
 */
#include "metrics.h"
#include "testlib.h"

static void test_sample(void)
{
    struct sbuf b = SBUF_INIT;
    struct prom_label l[] = { { "channel", "e\"m\\a\nil" }, { "kind", "email" } };
    CHECK_INT(prom_family(&b, "x_total", "counter", "Things"), 0);
    CHECK_INT(prom_sample(&b, "x_total", l, 2, 20), 0);
    CHECK_INT(prom_sample(&b, "x_total", NULL, 0, 0.25), 0);
    CHECK_INT(prom_sample(&b, "x_total", NULL, 0, 1e20), 0);
    CHECK_STR(b.buf, "# HELP x_total Things\n# TYPE x_total counter\n"
                     "x_total{channel=\"e\\\"m\\\\a\\nil\",kind=\"email\"} 20\n"
                     "x_total 0.25\n"
                     "x_total 1e+20\n");
    sbuf_release(&b);
}

static const double bounds[] = { 0.001, 0.01, 0.1, 1e300 };

static void test_histogram(void)
{
    struct histogram h;
    histogram_init(&h, bounds, 4);
    CHECK(histogram_quantile(&h, 0.99) == 0);
    histogram_observe(&h, 0.0005);
    histogram_observe(&h, 0.001); /* on the bound: that bucket (le is inclusive) */
    histogram_observe(&h, 0.05);
    histogram_observe(&h, 7);
    CHECK_INT(h.count, 4);
    CHECK_INT(h.buckets[0], 2);
    CHECK_INT(h.buckets[2], 1);
    CHECK_INT(h.buckets[3], 1);
    CHECK(histogram_quantile(&h, 0.5) == 0.001);
    CHECK(histogram_quantile(&h, 0.75) == 0.1);
    struct sbuf b = SBUF_INIT;
    struct prom_label l = { "route", "r" };
    CHECK_INT(prom_histogram(&b, "d_seconds", &l, 1, h.bounds, h.buckets, h.n, h.count, h.sum),
              0);
    CHECK_STR(b.buf, "d_seconds_bucket{route=\"r\",le=\"0.001\"} 2\n"
                     "d_seconds_bucket{route=\"r\",le=\"0.01\"} 2\n"
                     "d_seconds_bucket{route=\"r\",le=\"0.1\"} 3\n"
                     "d_seconds_bucket{route=\"r\",le=\"+Inf\"} 4\n"
                     "d_seconds_sum{route=\"r\"} 7.0515\n"
                     "d_seconds_count{route=\"r\"} 4\n");
    sbuf_release(&b);
}

TEST_MAIN({ "sample", test_sample }, { "histogram", test_histogram })
