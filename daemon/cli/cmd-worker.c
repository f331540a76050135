/*
 * cmd-worker.c - `cadenza worker`: dispatch jobs from Redis to channels.
 * Reads the configuration for the Redis URL and the channel settings
 * only; never opens the store.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "queue.h"
#include "worker.h"

static void worker_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza worker [--channels A,B] [--concurrency N] [--once | --until-idle S]\n"
            "\n"
            "Lease jobs from Redis, re-check them (allowed window, stop markers, sent\n"
            "markers), send them through their channel and report the results.  Needs\n"
            "only the Redis URL and the channel settings; never opens the store.\n"
            "SIGTERM: stop leasing, finish the jobs in flight (for up to --stop-timeout,\n"
            "and only while Redis answers), exit 0.\n"
            "\n"
            "Options:\n"
            "  -C, --channels LIST       serve only these channels (default: all configured)\n"
            "  -n, --concurrency N       jobs in flight per channel (default 512)\n"
            "  -b, --batch N             jobs per lease call (default 256)\n"
            "      --once                exit as soon as no work is left (exit 3 when Redis\n"
            "                            cannot be reached)\n"
            "      --until-idle S        exit when no work was left for S seconds\n"
            "      --visibility-timeout S  lease length (default 60)\n"
            "      --lease-margin S      stop sending a leased job this long before its lease\n"
            "                            ends, renew first (default: half the lease)\n"
            "      --stop-timeout S      on SIGTERM, exit after S seconds even with jobs in\n"
            "                            flight; they are redelivered (default 10)\n"
            "      --max-tries N         transient failures before the dead letter (default 5)\n"
            "      --retry-base MS       first retry delay, doubled per try (default 1000)\n"
            "      --retry-max MS        longest retry delay (default 3600000)\n"
            "  -h, --help                this help\n");
}

int cmd_worker(int argc, char **argv, const struct cli_ctx *ctx)
{
    enum { OPT_ONCE = 256, OPT_IDLE, OPT_VT, OPT_MARGIN, OPT_TRIES, OPT_RBASE, OPT_RMAX, OPT_STOP };
    static const struct option opts[] = {
        { "channels", required_argument, NULL, 'C' },
        { "concurrency", required_argument, NULL, 'n' },
        { "batch", required_argument, NULL, 'b' },
        { "once", no_argument, NULL, OPT_ONCE },
        { "until-idle", required_argument, NULL, OPT_IDLE },
        { "visibility-timeout", required_argument, NULL, OPT_VT },
        { "lease-margin", required_argument, NULL, OPT_MARGIN },
        { "max-tries", required_argument, NULL, OPT_TRIES },
        { "stop-timeout", required_argument, NULL, OPT_STOP },
        { "retry-base", required_argument, NULL, OPT_RBASE },
        { "retry-max", required_argument, NULL, OPT_RMAX },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    struct worker_opts o;
    worker_opts_init(&o);
    char *list = NULL;
    double v;
    int c;
    while ((c = getopt_long(argc, argv, "C:n:b:h", opts, NULL)) != -1) {
        switch (c) {
        case 'C':
            list = optarg;
            break;
        case 'n':
            if (cli_parse_number("--concurrency", optarg, 1, 100000, &v) != EXIT_OK)
                return EXIT_USAGE;
            o.concurrency = (int)v;
            break;
        case 'b':
            if (cli_parse_number("--batch", optarg, 1, 10000, &v) != EXIT_OK)
                return EXIT_USAGE;
            o.batch = (int)v;
            break;
        case OPT_ONCE:
            o.until_idle_s = 0;
            break;
        case OPT_IDLE:
            if (cli_parse_number("--until-idle", optarg, 0, 86400, &v) != EXIT_OK)
                return EXIT_USAGE;
            o.until_idle_s = v;
            break;
        case OPT_VT:
            if (cli_parse_number("--visibility-timeout", optarg, 0.1, 86400, &v) != EXIT_OK)
                return EXIT_USAGE;
            o.visibility_ms = (int64_t)(v * 1000);
            break;
        case OPT_MARGIN:
            if (cli_parse_number("--lease-margin", optarg, 0.001, 86400, &v) != EXIT_OK)
                return EXIT_USAGE;
            o.lease_margin_ms = (int64_t)(v * 1000);
            break;
        case OPT_STOP:
            if (cli_parse_number("--stop-timeout", optarg, 0, 86400, &v) != EXIT_OK)
                return EXIT_USAGE;
            o.stop_timeout_ms = (int64_t)(v * 1000);
            break;
        case OPT_TRIES:
            if (cli_parse_number("--max-tries", optarg, 1, 1000, &v) != EXIT_OK)
                return EXIT_USAGE;
            o.max_tries = (int)v;
            break;
        case OPT_RBASE:
            if (cli_parse_number("--retry-base", optarg, 1, 86400000, &v) != EXIT_OK)
                return EXIT_USAGE;
            o.retry_base_ms = (int64_t)v;
            break;
        case OPT_RMAX:
            if (cli_parse_number("--retry-max", optarg, 1, 86400000, &v) != EXIT_OK)
                return EXIT_USAGE;
            o.retry_max_ms = (int64_t)v;
            break;
        case 'h':
            worker_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        log_error("unexpected argument '%s'; see 'cadenza worker --help'", argv[optind]);
        return EXIT_USAGE;
    }
    struct config *cfg = NULL;
    int ex = cli_load_config(ctx, &cfg);
    if (ex != EXIT_OK)
        return ex;
    char *names[256];
    size_t n = 0;
    _cleanup_free_ char *copy = NULL;
    if (list) {
        copy = strdup(list);
        if (!copy) {
            config_free(cfg);
            return EXIT_RUNTIME;
        }
        for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < ELEMENTSOF(names);
             t = strtok_r(NULL, ",", &save)) {
            if (!config_channel(cfg, t)) {
                log_error("unknown channel '%s' in --channels", t);
                config_free(cfg);
                return EXIT_USAGE;
            }
            names[n++] = t;
        }
        o.channels = (const char *const *)names;
        o.nchannels = n;
    }
    if (worker_opts_set_config(&o, cfg) < 0) {
        config_free(cfg);
        return EXIT_USAGE;
    }
    int r = worker_run(&o);
    config_free(cfg);
    if (r == -EINVAL)
        return EXIT_DATA;
    return r < 0 ? EXIT_RUNTIME : EXIT_OK;
}
