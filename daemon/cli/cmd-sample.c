/*
 * cmd-sample.c - `cadenza sample`: write a synthetic portfolio as CSV to
 * standard output (see sample.h for what is in it).
 *
 * The edge for sample.c: parses options, reads the clock for the default
 * --as-of, and does the buffered writing.  Exit codes (cli.h): 0 ok,
 * 2 usage, 3 runtime failure (cannot write).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "sample.h"
#include "util.h"

#define SAMPLE_FLUSH (1u << 20)

static void sample_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza sample --debtors N [--seed S] [--invalid-rate R] [--as-of DATE]\n"
            "\n"
            "Write a synthetic debtor portfolio as CSV (the columns 'cadenza import\n"
            "debtors' reads) to standard output.  The same seed and as-of date give the\n"
            "same file.  Phone numbers are random numbers in real ranges and e-mail\n"
            "addresses use '.example' domains: never send real messages to them.\n"
            "\n"
            "Options:\n"
            "  -n, --debtors N        number of debtors (rows), required\n"
            "  -s, --seed S           random seed, an unsigned integer (default 1)\n"
            "  -i, --invalid-rate R   share of deliberately invalid rows, 0..1\n"
            "                         (default 0.01)\n"
            "  -a, --as-of DATE       YYYY-MM-DD that due dates are relative to\n"
            "                         (days past due -10..180; default today)\n"
            "  -h, --help             this help\n"
            "\n"
            "Exit status: 0 ok, 2 usage, 3 runtime failure.\n");
}

static int parse_u64(const char *s, uint64_t *ret)
{
    int64_t v;
    if (parse_int64(s, strlen(s), &v) < 0 || v < 0)
        return -EINVAL;
    *ret = (uint64_t)v;
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int32_t today_local(void)
{
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm))
        return (int32_t)(now / 86400);
    return days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
}

int cmd_sample(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "debtors", required_argument, NULL, 'n' },
        { "seed", required_argument, NULL, 's' },
        { "invalid-rate", required_argument, NULL, 'i' },
        { "as-of", required_argument, NULL, 'a' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    struct sample_opts so = { .seed = 1, .invalid_rate = 0.01 };
    struct sbuf b = SBUF_INIT;
    bool have_n = false, have_as_of = false;
    uint64_t n = 0, nbad = 0;
    int c, r;

    while ((c = getopt_long(argc, argv, "n:s:i:a:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (parse_u64(optarg, &n) < 0 || n > SAMPLE_MAX_ROWS) {
                log_error("invalid number of debtors '%s': expected 0..%llu", optarg,
                          (unsigned long long)SAMPLE_MAX_ROWS);
                return EXIT_USAGE;
            }
            have_n = true;
            break;
        case 's':
            if (parse_u64(optarg, &so.seed) < 0) {
                log_error("invalid seed '%s': expected an unsigned integer", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'i':
            if (cli_parse_number("--invalid-rate", optarg, 0, 1, &so.invalid_rate) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 'a':
            if (parse_date(optarg, strlen(optarg), &so.as_of) < 0) {
                log_error("invalid date '%s': expected YYYY-MM-DD", optarg);
                return EXIT_USAGE;
            }
            have_as_of = true;
            break;
        case 'h':
            sample_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        log_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!have_n) {
        log_error("missing --debtors N");
        return EXIT_USAGE;
    }
    if (!have_as_of)
        so.as_of = today_local();

    r = sbuf_reserve(&b, SAMPLE_FLUSH + 4096);
    if (r >= 0)
        r = sample_header(&b);
    for (uint64_t i = 0; r >= 0 && i < n; i++) {
        r = sample_row(&so, i, &b);
        if (r > 0)
            nbad++;
        if (r >= 0 && b.len >= SAMPLE_FLUSH) {
            r = write_all(STDOUT_FILENO, b.buf, b.len);
            sbuf_reset(&b);
        }
    }
    if (r >= 0)
        r = write_all(STDOUT_FILENO, b.buf, b.len);
    sbuf_release(&b);
    if (r < 0) {
        log_error_errno(r, "cannot write the sample: %m");
        return EXIT_RUNTIME;
    }
    if (ctx && ctx->verbose)
        log_info("wrote %llu debtors (%llu deliberately invalid)", (unsigned long long)n,
                 (unsigned long long)nbad);
    return EXIT_OK;
}
