/*
 * main.c - `cadenza <verb>`: global options, then one dispatch table.
 *
 * Global options come before the verb (git style):
 *   cadenza [--config PATH] [--store PATH] [--redis URL] [-v] <verb> [args]
 * Each verb parses its own options and owns its usage text.
 *
 * Exit codes (cli.h, append-only): 0 ok, 1 data/validation errors,
 * 2 usage, 3 runtime failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cadenza-config.h"
#include "campaign.h"
#include "cli.h"
#include "config.h"
#include "diag.h"
#include "log.h"
#include "util.h"

struct verb {
    const char *name;
    int (*fn)(int argc, char **argv, const struct cli_ctx *ctx);
    const char *summary;
};

static int cmd_help(int argc, char **argv, const struct cli_ctx *ctx);
static int cmd_version(int argc, char **argv, const struct cli_ctx *ctx);

static const struct verb verbs[] = {
    { "validate", cmd_validate, "check config, strategies and templates" },
    { "import", cmd_import, "import debtors (CSV or JSON Lines) into the store" },
    { "status", cmd_status, "summarise the portfolio and the store" },
    { "sample", cmd_sample, "write a synthetic portfolio as CSV to stdout" },
    { "serve", cmd_serve, "run the daemon: HTTP server and in-process worker" },
    { "worker", cmd_worker, "dispatch queued jobs from Redis to their channels" },
    { "plugins", cmd_plugins, "list channel plugins, or one plugin's settings" },
    { "queue", cmd_queue, "inspect the Redis queue: stats, dead letters" },
    { "plan", cmd_plan, "plan a day without changing anything (dry run)" },
    { "explain", cmd_explain, "show how the planner decides for one debtor" },
    { "brief", cmd_brief, "print the agent brief of one debtor" },
    { "run", cmd_run, "the daily campaign run: plan the day and enqueue its jobs" },
    { "report", cmd_report, "check what the planner learned: calibration, off-policy estimates" },
    { "link", cmd_link, "make or verify a signed self-service link" },
    { "help", cmd_help, "show help for cadenza or a verb" },
    { "version", cmd_version, "print the version" },
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza [--config PATH] [--store PATH] [--redis URL] [-v] <command> [args]\n"
            "\n"
            "Outbound contact-strategy orchestrator for collections.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
        fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
    fprintf(f,
            "\n"
            "Global options:\n"
            "  -c, --config PATH  configuration file (env CADENZA_CONFIG; default\n"
            "                     ./config/cadenza.yaml, then /etc/cadenza/cadenza.yaml)\n"
            "  -s, --store PATH   SQLite store (env CADENZA_STORE; overrides the file)\n"
            "  -r, --redis URL    Redis URL (env CADENZA_REDIS; overrides the file)\n"
            "  -v, --verbose      more log output (repeat for debug)\n"
            "      --version      print the version and exit\n"
            "  -h, --help         this help\n"
            "\n"
            "Run 'cadenza <command> --help' for a command's options.\n"
            "Exit status: 0 ok, 1 validation or data errors, 2 usage, 3 runtime failure.\n");
}

static const struct verb *find_verb(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
        if (streq(verbs[i].name, name))
            return &verbs[i];
    return NULL;
}

static int unknown_verb(const char *name)
{
    const char *names[ELEMENTSOF(verbs)];
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
        names[i] = verbs[i].name;
    const char *s = closest_word(name, names, ELEMENTSOF(verbs));
    if (s)
        log_error("unknown command '%s'; did you mean '%s'?", name, s);
    else
        log_error("unknown command '%s'; see 'cadenza help'", name);
    return EXIT_USAGE;
}

static int cmd_help(int argc, char **argv, const struct cli_ctx *ctx)
{
    if (argc < 2) {
        usage(stdout);
        return EXIT_OK;
    }
    const struct verb *v = find_verb(argv[1]);
    if (!v)
        return unknown_verb(argv[1]);
    char *args[] = { (char *)v->name, (char *)"--help", NULL };
    return v->fn(2, args, ctx);
}

static int cmd_version(int argc, char **argv, const struct cli_ctx *ctx)
{
    printf("cadenza %s\n", CADENZA_VERSION);
    return EXIT_OK;
}

int cli_load_config(const struct cli_ctx *ctx, struct config **ret)
{
    struct diags d = DIAGS_INIT;
    struct config_overrides ov = { ctx->store_path, ctx->redis_url };
    struct config *c = NULL;
    int r = config_load(ctx->config_path, &ov, &c, &d);
    bool told = d.nerrors > 0;
    diags_sort(&d);
    diags_print(&d, stderr);
    diags_release(&d);
    if (r == -EINVAL)
        return EXIT_DATA;
    if (r < 0) {
        if (!told)
            log_error_errno(r, "cannot load configuration: %m");
        return EXIT_RUNTIME;
    }
    *ret = c;
    return EXIT_OK;
}

void cli_note_day_passed(const struct campaign_opts *o, const struct campaign_stats *st)
{
    if (st->planned > 0 || st->by_reason[PLAN_PAST] == 0)
        return;
    char day[11], now[32];
    format_date(o->date, day);
    struct tm tm;
    gmtime_r(&(time_t){ (time_t)o->now }, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    log_warning("nothing planned: every slot of %s has already passed (now is %s, %" PRId64
                " debtors had only past slots); plan a later --date, or give --now to replay "
                "the day", day, now, st->by_reason[PLAN_PAST]);
}

int cli_parse_long(const char *opt, const char *s, long min, long max, long *ret)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max) {
        log_error("invalid value '%s' for %s: expected a whole number from %ld to %ld", s, opt,
                  min, max);
        return EXIT_USAGE;
    }
    *ret = v;
    return EXIT_OK;
}

int cli_parse_number(const char *opt, const char *s, double min, double max, double *ret)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max) {
        log_error("invalid value '%s' for %s: expected a number from %g to %g", s, opt, min,
                  max);
        return EXIT_USAGE;
    }
    *ret = v;
    return EXIT_OK;
}

int cli_plan_options(const char *date, const char *now, const char *seed,
                     struct campaign_opts *o)
{
    if (!date) {
        log_error("missing --date YYYY-MM-DD");
        return EXIT_USAGE;
    }
    if (streq(date, "today") || streq(date, "tomorrow")) {
        /* the server's own calendar day (TZ of the service), for timers */
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        o->date = days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                  (unsigned)tm.tm_mday) +
                  streq(date, "tomorrow");
    } else if (parse_date(date, strlen(date), &o->date) < 0) {
        log_error("invalid date '%s': expected YYYY-MM-DD, 'today' or 'tomorrow'", date);
        return EXIT_USAGE;
    }
    if (now) {
        if (campaign_parse_time(now, strlen(now), &o->now) < 0) {
            log_error("invalid time '%s': expected RFC 3339 (2026-03-10T08:00:00Z)", now);
            return EXIT_USAGE;
        }
    } else
        o->now = campaign_default_now(o->date, (int64_t)time(NULL));
    o->seed = (uint64_t)(int64_t)o->date;
    if (seed) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(seed, &end, 10);
        if (errno || *end || end == seed || *seed == '-') {
            log_error("invalid seed '%s': expected a number", seed);
            return EXIT_USAGE;
        }
        o->seed = v;
    }
    return EXIT_OK;
}

/*
 * Where the rejects go (invariant: nothing but a regular file is ever
 * replaced).  A new path or a regular file gets a temporary file renamed
 * over it at the end; a symlink is followed to its target first; a device
 * or a pipe is written directly and never renamed over or removed; the
 * input itself is refused.
 */
int cli_rejects_open(struct cli_rejects *r, const char *path, const char *input, bool is_stdin)
{
    *r = (struct cli_rejects){ 0 };
    if (!path && is_stdin)
        return EXIT_OK;
    r->path = path ? strdup(path) : strdupf("%s.rejects", input);
    if (!r->path)
        goto oom;

    struct stat st, in;
    if (stat(r->path, &st) == 0) {
        if (!is_stdin && stat(input, &in) == 0 && in.st_dev == st.st_dev &&
            in.st_ino == st.st_ino) {
            log_error("rejects file '%s' is the input file; choose another --rejects path",
                      r->path);
            return EXIT_USAGE;
        }
        if (S_ISDIR(st.st_mode)) {
            log_error("rejects file '%s' is a directory", r->path);
            return EXIT_USAGE;
        }
        if (!S_ISREG(st.st_mode)) {
            /* a device or a pipe: write to it as it is */
            int fd = open(r->path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
            if (fd < 0 || !(r->f = fdopen(fd, "w"))) {
                log_error_errno(-errno, "cannot write rejects file '%s': %m", r->path);
                if (fd >= 0)
                    close(fd);
                return EXIT_RUNTIME;
            }
            r->direct = true;
            return EXIT_OK;
        }
        /* a regular file, maybe behind a symlink: replace the file, keep the link */
        char *real = realpath(r->path, NULL);
        if (!real)
            goto oom;
        free(r->path);
        r->path = real;
    } else if (errno != ENOENT) {
        log_error_errno(-errno, "cannot write rejects file '%s': %m", r->path);
        return EXIT_RUNTIME;
    }
    if (!(r->tmp = strdupf("%s.tmp", r->path)))
        goto oom;
    int fd = open(r->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0 || !(r->f = fdopen(fd, "w"))) {
        log_error_errno(-errno, "cannot write rejects file '%s': %m", r->tmp);
        if (fd >= 0)
            close(fd);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
oom:
    log_error("out of memory");
    return EXIT_RUNTIME;
}

int cli_rejects_close(struct cli_rejects *r, bool ok, bool keep)
{
    int ret = 0;
    if (r->f) {
        keep = keep && ok;
        if (r->direct) {
            if (fclose(r->f) != 0) {
                log_error_errno(-errno, "cannot write rejects file '%s': %m", r->path);
                ret = -EIO;
            }
        } else if (fclose(r->f) != 0 && keep) {
            log_error_errno(-errno, "cannot write rejects file '%s': %m", r->tmp);
            ret = -EIO;
        } else if (keep && rename(r->tmp, r->path) < 0) {
            log_error_errno(-errno, "cannot rename '%s': %m", r->tmp);
            ret = -EIO;
        } else if (!keep) {
            unlink(r->tmp);
            if (ok)
                unlink(r->path); /* no stale rejects from an earlier run */
        }
    }
    free(r->path);
    free(r->tmp);
    *r = (struct cli_rejects){ 0 };
    return ret;
}

/*
 * Results go to stdout: a write that failed (a full disk, a closed
 * descriptor) must not pass for success.  Like coreutils, only a close
 * of an unused, already closed stdout is not an error.
 */
static int close_stdout(void)
{
    bool pending = __fpending(stdout) > 0;
    bool failed_before = ferror(stdout);
    errno = 0;
    bool failed_close = fclose(stdout) != 0;
    if (failed_before || (failed_close && (pending || errno != EBADF))) {
        int e = errno ? errno : EIO;
        log_error_errno(-e, "cannot write standard output: %m");
        return -e;
    }
    return 0;
}

static int dispatch(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "store", required_argument, NULL, 's' },
        { "redis", required_argument, NULL, 'r' },
        { "verbose", no_argument, NULL, 'v' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    struct cli_ctx ctx = { 0 };
    int c;

    /* '+': stop at the first non-option, the verb. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+c:s:r:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            ctx.config_path = optarg;
            break;
        case 's':
            ctx.store_path = optarg;
            break;
        case 'r':
            ctx.redis_url = optarg;
            break;
        case 'v':
            ctx.verbose++;
            break;
        case 'V':
            return cmd_version(0, NULL, &ctx);
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            if (optopt)
                log_error("unknown or incomplete option '-%c'; see 'cadenza --help'", optopt);
            else
                log_error("unknown option '%s'; see 'cadenza --help'", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    log_set_level(ctx.verbose >= 2 ? LOG_DEBUG : ctx.verbose ? LOG_INFO : LOG_NOTICE);
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    int first = optind;
    const struct verb *v = find_verb(argv[first]);
    if (!v)
        return unknown_verb(argv[first]);
    /* Each verb runs getopt again over its own argv; 0 resets glibc's state. */
    optind = 0;
    opterr = 1;
    return v->fn(argc - first, argv + first, &ctx);
}

int main(int argc, char **argv)
{
    int ex = dispatch(argc, argv);
    if (close_stdout() < 0 && ex == EXIT_OK)
        ex = EXIT_RUNTIME;
    return ex;
}
