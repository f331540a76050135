/*
 * cmd-link.c - `cadenza link make|verify`: signed self-service links for
 * operators (a link for a debtor on the phone, checking a link a debtor
 * forwarded).  The edge for link.c: parses options, reads the clock for
 * the default --now, prints.
 *
 * Invariants:
 *  1. A secret is never printed, in any output or error.
 *  2. `verify` exits 0 only for a valid token; an expired, tampered,
 *     unknown-key or malformed one exits 1 with the reason on stderr.
 *  3. stdout gets exactly one line on success (the URL or token for
 *     `make`, the claims for `verify`).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "campaign.h"
#include "cli.h"
#include "config.h"
#include "link.h"
#include "log.h"
#include "util.h"

static void link_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza link make --attempt ID [--debtor ID] [--action ACTION] [--ttl DURATION]\n"
            "                         [--key ID] [--now TIME] [--token]\n"
            "       cadenza link verify [--now TIME] TOKEN|URL\n"
            "\n"
            "Make or check a signed self-service link (docs/links.md).  Keys, the base URL\n"
            "and the default lifetimes come from the 'links' section of the configuration.\n"
            "\n"
            "make options:\n"
            "  -a, --attempt ID     attempt id (a positive integer), required\n"
            "  -d, --debtor ID      external debtor id to bind the link to\n"
            "  -A, --action ACTION  pay (default), plan, promise, opt_out, preferences or\n"
            "                       unsubscribe\n"
            "  -t, --ttl DURATION   lifetime instead of the action's default: 3600, 90m, 12h, 30d\n"
            "  -k, --key ID         sign with this key instead of 'current_key'\n"
            "      --token          print the token only, not the URL\n"
            "common options:\n"
            "  -n, --now TIME       RFC 3339 time to use as now (default: the clock)\n"
            "  -h, --help           this help\n"
            "\n"
            "Exit status: 0 ok (verify: the link is valid), 1 invalid link or configuration,\n"
            "2 usage, 3 runtime failure.\n");
}

static int bad_option(int argc, char **argv, const char *sub)
{
    if (optopt)
        log_error("link %s: unknown or incomplete option '-%c'; see 'cadenza link --help'",
                  sub, optopt);
    else
        log_error("link %s: unknown option '%s'; see 'cadenza link --help'", sub,
                  argv[optind - 1]);
    return EXIT_USAGE;
}

static int parse_now(const char *s, int64_t *ret)
{
    if (!s) {
        *ret = (int64_t)time(NULL);
        return EXIT_OK;
    }
    if (campaign_parse_time(s, strlen(s), ret) < 0) {
        log_error("invalid time '%s': expected RFC 3339 (2026-03-10T08:00:00Z)", s);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* The configuration's links, or an exit code. */
static int load_links(const struct cli_ctx *ctx, struct config **ret)
{
    struct config *cfg = NULL;
    int r = cli_load_config(ctx, &cfg);
    if (r != EXIT_OK)
        return r;
    if (!cfg->links) {
        log_error("the configuration%s%s%s has no 'links' section (docs/links.md)",
                  cfg->file ? " '" : "", cfg->file ? cfg->file : "", cfg->file ? "'" : "");
        config_free(cfg);
        return EXIT_DATA;
    }
    *ret = cfg;
    return EXIT_OK;
}

static int link_make_cmd(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "attempt", required_argument, NULL, 'a' },
        { "debtor", required_argument, NULL, 'd' },
        { "action", required_argument, NULL, 'A' },
        { "ttl", required_argument, NULL, 't' },
        { "key", required_argument, NULL, 'k' },
        { "now", required_argument, NULL, 'n' },
        { "token", no_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const char *attempt = NULL, *debtor = NULL, *action = "pay", *ttl = NULL, *key = NULL,
               *now_s = NULL;
    bool token_only = false;
    int c, r;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "+a:d:A:t:k:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': attempt = optarg; break;
        case 'd': debtor = optarg; break;
        case 'A': action = optarg; break;
        case 't': ttl = optarg; break;
        case 'k': key = optarg; break;
        case 'n': now_s = optarg; break;
        case 'T': token_only = true; break;
        case 'h': link_usage(stdout); return EXIT_OK;
        default: return bad_option(argc, argv, "make");
        }
    }
    if (optind < argc) {
        log_error("link make: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    int64_t attempt_id, secs = -1, now;
    if (!attempt) {
        log_error("link make: missing --attempt ID");
        return EXIT_USAGE;
    }
    if (parse_int64(attempt, strlen(attempt), &attempt_id) < 0 || attempt_id <= 0) {
        log_error("link make: invalid attempt id '%s': expected a positive integer", attempt);
        return EXIT_USAGE;
    }
    enum link_action a = link_action_from_string(action);
    if (a < 0) {
        log_error("link make: unknown action '%s' (pay, plan, promise, opt_out, preferences "
                  "or unsubscribe)", action);
        return EXIT_USAGE;
    }
    if (ttl && (link_parse_duration(ttl, &secs) < 0 || secs <= 0)) {
        log_error("link make: invalid ttl '%s': expected a duration like 3600, 90m, 12h or "
                  "30d, at most 1830d", ttl);
        return EXIT_USAGE;
    }
    if (debtor && (strlen(debtor) > LINK_DEBTOR_MAX || !*debtor)) {
        log_error("link make: invalid debtor id '%s': 1 to %d bytes", debtor, LINK_DEBTOR_MAX);
        return EXIT_USAGE;
    }
    if ((r = parse_now(now_s, &now)) != EXIT_OK)
        return r;

    struct config *cfg = NULL;
    if ((r = load_links(ctx, &cfg)) != EXIT_OK)
        return r;
    const struct link_conf *lc = cfg->links;
    char tok[LINK_TOKEN_MAX];
    int64_t expires = now + (secs > 0 ? secs : lc->ttl[a]);
    r = link_make(lc, key, attempt_id, debtor, a, expires, tok, sizeof(tok));
    if (r == -ENOKEY) {
        log_error("link make: no link key '%s' in the configuration", key ? key : "");
        r = EXIT_DATA;
    } else if (r == -EINVAL) {
        log_error("link make: invalid debtor id '%s' (control characters or not UTF-8)",
                  debtor ? debtor : "");
        r = EXIT_USAGE;
    } else if (r < 0) {
        log_error_errno(r, "link make: cannot sign the link: %m");
        r = EXIT_RUNTIME;
    } else {
        if (token_only)
            printf("%s\n", tok);
        else
            printf("%s/s/%s\n", lc->base_url, tok);
        r = fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
    }
    config_free(cfg);
    return r;
}

static int link_verify_cmd(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "now", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const char *now_s = NULL;
    int c, r;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "+n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': now_s = optarg; break;
        case 'h': link_usage(stdout); return EXIT_OK;
        default: return bad_option(argc, argv, "verify");
        }
    }
    if (optind != argc - 1) {
        log_error(optind >= argc ? "link verify: missing TOKEN"
                                 : "link verify: expected one TOKEN, got more");
        return EXIT_USAGE;
    }
    int64_t now;
    if ((r = parse_now(now_s, &now)) != EXIT_OK)
        return r;
    /* A whole URL is accepted: the token is what follows its last '/'. */
    const char *tok = argv[optind], *slash = strrchr(tok, '/');
    if (slash)
        tok = slash + 1;

    struct config *cfg = NULL;
    if ((r = load_links(ctx, &cfg)) != EXIT_OK)
        return r;
    struct link_claims cl;
    char exp[32];
    r = link_verify(cfg->links, tok, strlen(tok), now, &cl);
    if (r == 0 || r == -EKEYEXPIRED)
        campaign_format_utc(cl.expires, exp, sizeof(exp));
    if (r == 0) {
        printf("valid: action %s, attempt %lld, debtor %s, key %s, expires %s\n",
               link_action_to_string(cl.action), (long long)cl.attempt_id,
               cl.debtor_id[0] ? cl.debtor_id : "-", cl.key_id, exp);
        r = fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
    } else if (r == -EKEYEXPIRED) {
        log_error("link verify: expired at %s (action %s, attempt %lld)", exp,
                  link_action_to_string(cl.action), (long long)cl.attempt_id);
        r = EXIT_DATA;
    } else if (r == -EIO || r == -ENOMEM) {
        log_error_errno(r, "link verify: cannot check the signature: %m");
        r = EXIT_RUNTIME;
    } else {
        log_error("link verify: %s", link_strerror(r));
        r = EXIT_DATA;
    }
    config_free(cfg);
    return r;
}

int cmd_link(int argc, char **argv, const struct cli_ctx *ctx)
{
    if (argc < 2) {
        log_error("link: missing subcommand 'make' or 'verify'; see 'cadenza link --help'");
        return EXIT_USAGE;
    }
    if (streq(argv[1], "-h") || streq(argv[1], "--help")) {
        link_usage(stdout);
        return EXIT_OK;
    }
    if (streq(argv[1], "make"))
        return link_make_cmd(argc - 1, argv + 1, ctx);
    if (streq(argv[1], "verify"))
        return link_verify_cmd(argc - 1, argv + 1, ctx);
    log_error("link: unknown subcommand '%s' (make or verify)", argv[1]);
    return EXIT_USAGE;
}
