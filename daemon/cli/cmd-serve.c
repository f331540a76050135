/*
 * cmd-serve.c - `cadenza serve`: the daemon (serve.c).
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "log.h"
#include "serve.h"

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza serve [--listen HOST:PORT]\n"
            "\n"
            "Run the daemon: one event loop with the HTTP server (health, readiness,\n"
            "metrics) and an in-process worker for every configured channel.  Speaks\n"
            "the service manager's notify protocol (Type=notify, WatchdogSec=).\n"
            "SIGHUP: reload the configuration, strategies and templates; when they have\n"
            "errors the running ones stay.  SIGTERM: stop leasing, finish the jobs in\n"
            "flight, exit 0.\n"
            "\n"
            "Options:\n"
            "  -l, --listen HOST:PORT   listen here instead of http.listen (port 0: any)\n"
            "  -h, --help               this help\n");
}

static int load_config(const void *ctx, struct config **ret)
{
    return cli_load_config(ctx, ret);
}

int cmd_serve(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    struct serve_opts o = { .load_config = load_config, .load_arg = ctx };
    int c;
    while ((c = getopt_long(argc, argv, "l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            o.listen = optarg;
            break;
        case 'h':
            serve_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        log_error("unexpected argument '%s'; see 'cadenza serve --help'", argv[optind]);
        return EXIT_USAGE;
    }
    return serve_run(&o);
}
