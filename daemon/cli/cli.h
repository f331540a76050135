/*
 * cli.h - what every `cadenza <verb>` implementation gets (the exit codes
 * that leave the process are in util.h).
 */
#ifndef CADENZA_CLI_H
#define CADENZA_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "util.h"

/* Global options, parsed by main.c before the verb. */
struct cli_ctx {
    const char *config_path; /* --config or NULL (then $CADENZA_CONFIG, ...) */
    const char *store_path;  /* --store or NULL (then $CADENZA_STORE, file) */
    const char *redis_url;   /* --redis or NULL (then $CADENZA_REDIS, file) */
    int verbose;
};

struct config;
struct diags;
/*
 * Load the configuration the way every verb does and print diagnostics.
 * Returns an exit code (EXIT_OK on success, *ret set).
 */
int cli_load_config(const struct cli_ctx *ctx, struct config **ret);

/*
 * The rejects file of an import.  A regular file (or a new one) is written
 * under a temporary name, renamed into place only when the import finished
 * with rejected rows, removed otherwise (with any stale one from an earlier
 * run, on success); a symlink is followed to its file.  A device or a pipe
 * is written directly (`--rejects /dev/stderr`).  The input file itself is
 * refused (EXIT_USAGE).
 */
struct cli_rejects {
    char *path, *tmp; /* NULL path: no rejects file (stdin without --rejects) */
    FILE *f;
    bool direct;      /* writing to path itself (a device or a pipe) */
};
/* path: --rejects or NULL (then INPUT.rejects, none for stdin).  Logs; EXIT_*. */
int cli_rejects_open(struct cli_rejects *r, const char *path, const char *input, bool is_stdin);
/* ok: the import ran to the end; keep: it rejected rows.  Logs; 0 or -EIO. */
int cli_rejects_close(struct cli_rejects *r, bool ok, bool keep);

/*
 * A numeric option's value: an integer (cli_parse_long) or a decimal
 * number (cli_parse_number) from min to max.  Logs "invalid value 'X'
 * for --opt: expected ..." naming the range; returns EXIT_OK or
 * EXIT_USAGE.  *ret is written only on success.
 */
int cli_parse_long(const char *opt, const char *s, long min, long max, long *ret);
int cli_parse_number(const char *opt, const char *s, double min, double max, double *ret);

struct campaign_opts;
/*
 * --date (YYYY-MM-DD, or 'today'/'tomorrow' in the server's calendar),
 * --now (RFC 3339; default: now, or the start of the date if later) and
 * --seed (default: the date) for plan, explain and run.  NULL: not given.
 * Logs usage errors; returns EXIT_OK or EXIT_USAGE.
 */
int cli_plan_options(const char *date, const char *now, const char *seed,
                     struct campaign_opts *o);

struct campaign_stats;
/*
 * After `plan` or `run`: when nothing was planned because every slot of
 * the day had passed, say so in one line on stderr (planning a day that
 * is over is almost always a wrong --date, not an empty portfolio).
 */
void cli_note_day_passed(const struct campaign_opts *o, const struct campaign_stats *st);

/* Verbs: each parses its own options from argv (argv[0] is the verb). */
int cmd_validate(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_import(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_status(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_sample(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_worker(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_serve(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_queue(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_plan(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_explain(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_run(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_plugins(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_link(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_brief(int argc, char **argv, const struct cli_ctx *ctx);
int cmd_report(int argc, char **argv, const struct cli_ctx *ctx);
/* `import outcomes` (cmd-import-outcomes.c), dispatched by cmd_import. */
int cmd_import_outcomes(int argc, char **argv, const struct cli_ctx *ctx);

#endif
