/*
 * cmd-import.c - `cadenza import debtors FILE|-`.
 *
 * The edge around import.c: options, files, the store, the summary line
 * and the exit code (0 all rows good, 1 some rows rejected, 2 usage,
 * 3 runtime failure).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "import.h"
#include "log.h"
#include "rowreader.h"
#include "store.h"

static void import_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza import debtors FILE|- [options]\n"
            "\n"
            "Insert or update debtors by external id from CSV (RFC 4180, header row)\n"
            "or JSON Lines.  Unchanged rows are skipped; bad rows are reported with\n"
            "their line and reason and written to a rejects file; good rows are stored.\n"
            "\n"
            "Options:\n"
            "  -f, --format FMT     csv, jsonl or auto (default: auto, from the name\n"
            "                       or the first byte)\n"
            "  -R, --rejects PATH   where to write rejected rows (default: FILE.rejects;\n"
            "                       none for standard input)\n"
            "  -b, --batch N        rows per transaction (default 3000)\n"
            "  -e, --max-errors N   report at most N bad rows on stderr (default 50)\n"
            "  -j, --jobs N         validator threads (default 2)\n"
            "  -q, --quiet          no progress line\n"
            "  -h, --help           this help\n"
            "\n"
            "Columns and formats: docs/import.md.  Exit status: 0 every row imported,\n"
            "1 some rows rejected (the good ones are stored), 2 usage, 3 runtime failure.\n");
}

static int import_debtors_cmd(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "rejects", required_argument, NULL, 'R' },
        { "batch", required_argument, NULL, 'b' },
        { "max-errors", required_argument, NULL, 'e' },
        { "jobs", required_argument, NULL, 'j' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    int format = ROW_FORMAT_AUTO, c;
    const char *rejects_path = NULL;
    long batch = 3000, max_errors = 50, jobs = 2;
    bool quiet = false;
    struct import_counts counts = { 0 };
    struct cli_rejects rej = { 0 };

    while ((c = getopt_long(argc, argv, "f:R:b:e:j:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if ((format = row_format_from_string(optarg)) < 0) {
                log_error("unknown format '%s': expected csv, jsonl or auto", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'R':
            rejects_path = optarg;
            break;
        case 'b':
            if (cli_parse_long("--batch", optarg, 1, 1000000, &batch) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 'e':
            if (cli_parse_long("--max-errors", optarg, 0, 100000000, &max_errors) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 'j':
            if (cli_parse_long("--jobs", optarg, 1, 8, &jobs) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            import_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        log_error(optind >= argc ? "missing input file (use '-' for standard input)"
                                 : "too many arguments: one input file expected");
        return EXIT_USAGE;
    }
    const char *input = argv[optind];
    bool is_stdin = streq(input, "-");

    struct config *cfg = NULL;
    int r = cli_load_config(ctx, &cfg);
    if (r != EXIT_OK)
        return r;

    int fd = is_stdin ? STDIN_FILENO : open(input, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error_errno(-errno, "cannot open '%s': %m", input);
        config_free(cfg);
        return EXIT_RUNTIME;
    }

    /* before the store: a refused rejects path changes nothing */
    if ((r = cli_rejects_open(&rej, rejects_path, input, is_stdin)) != EXIT_OK) {
        cli_rejects_close(&rej, false, false);
        if (!is_stdin)
            close(fd);
        config_free(cfg);
        return r;
    }
    char err[512];
    struct store *s = NULL;
    r = store_open(cfg->store_path, STORE_BULK, &s, err, sizeof(err));
    if (r < 0) {
        log_error("cannot open store '%s': %s", cfg->store_path, err);
        goto out;
    }


    const char *name = is_stdin ? "<stdin>" : input;
    int64_t now = (int64_t)time(NULL), import_id = 0;
    if ((r = store_import_start(s, name, now, &import_id)) < 0) {
        log_error("cannot write to store '%s': %s", cfg->store_path, store_errmsg(s));
        goto out_rejects;
    }

    struct import_opts o = {
        .name = name,
        .fd = fd,
        .format = format,
        .rejects = rej.f,
        .errors = stderr,
        .max_reported = (size_t)max_errors,
        .batch_rows = (size_t)batch,
        .validators = (int)jobs,
        .progress = !quiet && isatty(STDERR_FILENO),
        .now = now,
        .defaults = { cfg->default_time_zone, cfg->default_currency, cfg->default_country },
    };
    r = import_debtors(s, &o, &counts, err, sizeof(err));
    const char *status = r == 0 ? "done" : r == -EINVAL ? "rejected" : "failed";
    int r2 = store_import_finish(s, import_id, &counts, (int64_t)time(NULL), status);
    if (r == -EINVAL) {
        log_error("%s: %s", name, err);
        goto out_rejects;
    }
    if (r < 0) {
        log_error("import of '%s' failed: %s", name, err);
        goto out_rejects;
    }
    if (r2 < 0)
        log_warning("cannot record the import in the store: %s", store_errmsg(s));

out_rejects:
    if (r == 0) {
        printf("%s: %lld rows read: %lld inserted, %lld updated, %lld unchanged, "
               "%lld rejected\n",
               name, (long long)counts.read, (long long)counts.inserted,
               (long long)counts.updated, (long long)counts.unchanged,
               (long long)counts.rejected);
        if (counts.rejected && rej.path)
            printf("rejected rows written to %s\n", rej.path);
    }
out:
    if (cli_rejects_close(&rej, r == 0, counts.rejected > 0) < 0)
        r = -EIO;
    store_free(s);
    if (!is_stdin)
        close(fd);
    config_free(cfg);
    if (r == -EINVAL)
        return EXIT_DATA;
    if (r < 0)
        return EXIT_RUNTIME;
    return counts.rejected ? EXIT_DATA : EXIT_OK;
}

int cmd_import(int argc, char **argv, const struct cli_ctx *ctx)
{
    if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
        import_usage(stdout);
        return EXIT_OK;
    }
    if (argc < 2) {
        log_error("missing what to import: 'debtors' or 'outcomes'");
        return EXIT_USAGE;
    }
    if (streq(argv[1], "debtors"))
        return import_debtors_cmd(argc - 1, argv + 1, ctx);
    if (streq(argv[1], "outcomes"))
        return cmd_import_outcomes(argc - 1, argv + 1, ctx);
    log_error("unknown import kind '%s': expected 'debtors' or 'outcomes'", argv[1]);
    return EXIT_USAGE;
}
