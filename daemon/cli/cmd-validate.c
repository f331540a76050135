/*
 * cmd-validate.c - `cadenza validate [PATH...]`: check the configuration,
 * the jurisdiction profiles, the strategies and the message templates
 * before they go live, and report every problem at once.
 *
 * Invariants:
 *  1. Every diagnostic goes to stderr, sorted by file, line and column,
 *     GCC style, followed by one summary line ("3 errors, 1 warning").
 *  2. stdout gets exactly one line, and only on success:
 *     "ok: N strategies, N tiers, N templates".
 *  3. Exit 0 when there is no error (warnings allowed), 1 when there is
 *     one, 2 on a bad command line, 3 when something could not be done
 *     at all (out of memory, unreadable configuration file).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "diag.h"
#include "inbound.h"
#include "log.h"
#include "strategy.h"

static void validate_usage(FILE *f)
{
    fprintf(f, "usage: cadenza validate [PATH...]\n"
               "\n"
               "Check the configuration, the jurisdiction profiles, the strategies and the\n"
               "message templates, and report every problem as file:line:column: message.\n"
               "PATH is a strategy file or a directory of *.yaml files (default: the\n"
               "configuration's strategy directory).  See docs/strategies.md.\n"
               "\n"
               "Options:\n"
               "  -h, --help   this help\n"
               "\n"
               "Exit status: 0 valid (warnings allowed), 1 errors found, 2 usage,\n"
               "3 runtime failure.\n");
}

static void print_summary(const struct diags *d)
{
    if (d->nerrors + d->nwarnings == 0)
        return;
    fprintf(stderr, "%zu error%s, %zu warning%s\n", d->nerrors, d->nerrors == 1 ? "" : "s",
            d->nwarnings, d->nwarnings == 1 ? "" : "s");
}

int cmd_validate(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        {},
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            validate_usage(stdout);
            return EXIT_OK;
        default:
            if (optopt)
                log_error("validate: unknown option '-%c'; see 'cadenza validate --help'",
                          optopt);
            else
                log_error("validate: unknown option '%s'; see 'cadenza validate --help'",
                          argv[optind - 1]);
            return EXIT_USAGE;
        }
    }

    struct diags d = DIAGS_INIT;
    struct config_overrides ov = { ctx->store_path, ctx->redis_url };
    struct config *cfg = NULL;
    struct strategy_set *set = NULL;
    int ret = EXIT_OK;

    int r = config_load(ctx->config_path, &ov, &cfg, &d);
    if (r < 0 && r != -EINVAL) {
        diags_sort(&d);
        diags_print(&d, stderr);
        log_error_errno(r, "cannot load configuration: %m");
        ret = EXIT_RUNTIME;
        goto out;
    }
    if (r == 0) {
        /* Strategies are checked against this configuration's channels and profiles. */
        const char *const *paths = (const char *const *)(argv + optind);
        r = strategy_set_load(cfg, paths, (size_t)(argc - optind), &set, &d);
        if (r < 0 && r != -EINVAL) {
            diags_sort(&d);
            diags_print(&d, stderr);
            log_error_errno(r, "cannot load strategies: %m");
            ret = EXIT_RUNTIME;
            goto out;
        }
        if (set)
            inbound_check_templates(cfg, set->templates, cfg->template_dir, &d);
    }
    diags_sort(&d);
    diags_print(&d, stderr);
    print_summary(&d);
    if (d.nerrors > 0 || !set) {
        ret = EXIT_DATA;
        goto out;
    }
    printf("ok: %zu strateg%s, %zu tier%s, %zu template%s\n", set->n, set->n == 1 ? "y" : "ies",
           set->ntiers, set->ntiers == 1 ? "" : "s", template_set_count(set->templates),
           template_set_count(set->templates) == 1 ? "" : "s");
out:
    strategy_set_free(set);
    config_free(cfg);
    diags_release(&d);
    return ret;
}
