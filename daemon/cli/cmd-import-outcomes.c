/*
 * cmd-import-outcomes.c - `cadenza import outcomes FILE|-`: past contact
 * outcomes (CSV or JSON Lines) into the store, with the slot statistics
 * the model learns from updated incrementally as each row is stored.
 *
 * Good rows wait in a window of up to WINDOW_ROWS rows, which is sorted
 * by (debtor, time, line) and stored in transactions of --batch rows: the
 * store then walks its debtor-ordered indexes and statistics in order and
 * sums each debtor's statistics once per batch (docs/import.md, "Outcome
 * import speed").
 *
 * Invariants:
 *  1. Every row gets a dedupe key derived from its normalised values, so
 *     importing the same rows again adds nothing (and counts nothing).
 *  2. A bad row is reported (line, field, reason), written to the rejects
 *     file, and never half-stored; good rows are committed in batches,
 *     one transaction each.
 *  3. Hours of the week are the debtor's local time (its stored zone).
 *  4. The rows of one debtor are stored in (time, line) order, so the
 *     first outcome of an attempt (the one that counts) is the earliest.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "campaign.h"
#include "cli.h"
#include "config.h"
#include "csv.h"
#include "ingest.h"
#include "debtor.h"
#include "log.h"
#include "planner.h"
#include "queue.h"
#include "rowreader.h"
#include "store.h"
#include "tz.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza import outcomes FILE|- [options]\n"
            "\n"
            "Load past contact outcomes (CSV with a header row, or JSON Lines) so the\n"
            "model learns from them; the slot statistics are updated as rows are\n"
            "stored.  Re-importing the same rows adds nothing.\n"
            "\n"
            "Options:\n"
            "  -f, --format FMT     csv, jsonl or auto (default: auto)\n"
            "  -R, --rejects PATH   where to write rejected rows (default: FILE.rejects;\n"
            "                       none for standard input)\n"
            "  -b, --batch N        rows per transaction (default 20000)\n"
            "  -e, --max-errors N   report at most N bad rows on stderr (default 50)\n"
            "      --no-stop        do not set stop markers in Redis (see below)\n"
            "  -h, --help           this help\n"
            "\n"
            "A promise, payment, opt-out, wrong number or dispute from the last 72 hours\n"
            "also sets the debtor's stop marker in Redis, so workers cancel jobs that\n"
            "were queued before the news (a warning says so when Redis is unreachable).\n"
            "\n"
            "Columns and outcome codes: docs/import.md.  Exit status: 0 every row\n"
            "imported, 1 some rows rejected, 2 usage, 3 runtime failure.\n");
}

/* Rows sorted and stored together; the batch splits them into transactions. */
#define WINDOW_ROWS 262144
/* The import connection's page cache, MiB (the default is 32 for bulk work). */
#define IMPORT_CACHE_MIB 96
/* Write-ahead log pages between checkpoints (256 MiB): each one syncs the disk. */
#define IMPORT_WAL_PAGES 65536

/* A validated row waiting in the window. */
struct wrow {
    struct store_outcome o;
    long line;
    uint64_t h2;    /* the second half of the pre-schema-7 key */
    size_t akey;    /* offset of the attempt key in the arena, SIZE_MAX: none */
    size_t stop_id; /* offset of the debtor's external id in the arena when the row
                       brings news that stops queued jobs, SIZE_MAX: none */
};


struct octx {
    const char *name;
    const struct config *cfg;
    struct store *s;
    struct ingest_ctx *ingest; /* checks and prepares each row */
    FILE *rejects;
    bool jsonl;
    long max_errors, reported;
    int64_t now;
    char source[300];
    struct import_counts counts;
    struct sbuf scratch;
    int64_t legacy_until; /* rows up to this time may be stored with their old key */
    bool reading;      /* a read transaction is open for the lookups */
    /* the window: rows, their strings, the debtors' segments */
    struct wrow *win;
    size_t nwin, cwin, window;
    long batch;
    struct sbuf arena;
    /* debtors with news that must stop queued jobs: "id\0reason\0" pairs */
    struct sbuf stops;
    size_t nstops;
};

/*
 * Outcomes that must cancel jobs already in Redis for the debtor (those
 * with a stop reason in the outcome table): the planner honours them at
 * the next run, the stop marker closes the gap until then (docs/queue.md,
 * "Stop markers").  It lasts longer than any job planned before it can wait.
 */
#define STOP_MARKER_SECONDS INGEST_STOP_SECONDS

/* Validate one row into the window; problems go to e (the row is then not kept). */
static int import_row(struct octx *x, const struct ingest_row *row, long line, struct sbuf *e)
{
    struct ingest_prepared p;
    int r = ingest_prepare(x->ingest, row, &p, e);
    if (r < 0 || e->len)
        return r;
    if (x->nwin == x->cwin) {
        size_t nc = x->cwin ? x->cwin * 2 : 1024;
        if (nc > x->window)
            nc = x->window;
        struct wrow *v = realloc(x->win, nc * sizeof(*v));
        if (!v)
            return -ENOMEM;
        x->win = v;
        x->cwin = nc;
    }
    struct wrow *w = &x->win[x->nwin];
    *w = (struct wrow){ .o = p.o, .line = line, .h2 = p.h2, .akey = SIZE_MAX,
                        .stop_id = SIZE_MAX };
    if (p.attempt_key[0]) {
        w->akey = x->arena.len;
        if (sbuf_add(&x->arena, p.attempt_key, strlen(p.attempt_key) + 1) < 0)
            return -ENOMEM;
    }
    if (p.stops) {
        w->stop_id = x->arena.len;
        if (sbuf_add(&x->arena, row->f[INGEST_DEBTOR_ID], row->flen[INGEST_DEBTOR_ID]) < 0 ||
            sbuf_addc(&x->arena, 0) < 0)
            return -ENOMEM;
    }
    x->nwin++;
    return 0;
}

_printf_(2, 3) static void add_err(struct sbuf *e, const char *fmt, ...)
{
    if (e->len)
        sbuf_adds(e, "; ");
    va_list ap;
    va_start(ap, fmt);
    sbuf_vaddf(e, fmt, ap);
    va_end(ap);
}





/* v as 16 lower-case hex digits at p; returns the end. */
static char *put_hex64(char *p, uint64_t v)
{
    for (int i = 15; i >= 0; i--)
        *p++ = "0123456789abcdef"[(v >> (4 * i)) & 15];
    return p;
}




static int wrow_cmp(const void *a, const void *b)
{
    const struct wrow *x = *(const struct wrow *const *)a, *y = *(const struct wrow *const *)b;
    if (x->o.debtor_id != y->o.debtor_id)
        return x->o.debtor_id < y->o.debtor_id ? -1 : 1;
    if (x->o.at != y->o.at)
        return x->o.at < y->o.at ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * Store the window: sorted (invariant 4), in transactions of x->batch
 * rows.  On failure the open transaction is rolled back by the caller.
 */
static int flush_window(struct octx *x)
{
    size_t n = x->nwin, nb = (size_t)x->batch < n ? (size_t)x->batch : n;
    struct wrow **v = malloc((n ? n : 1) * sizeof(*v));
    struct store_outcome *b = malloc((nb ? nb : 1) * sizeof(*b));
    char(*lk)[48] = malloc((nb ? nb : 1) * sizeof(*lk));
    uint8_t *added = malloc(nb ? nb : 1);
    int r = 0;
    if (!v || !b || !lk || !added) {
        r = -ENOMEM;
        goto out;
    }
    if (x->reading) {
        x->reading = false;
        if ((r = store_commit(x->s)) < 0)
            goto out;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = &x->win[i];
    qsort(v, n, sizeof(*v), wrow_cmp);
    for (size_t i = 0; i < n; i += nb) {
        size_t m = n - i < nb ? n - i : nb;
        for (size_t k = 0; k < m; k++) {
            const struct wrow *w = v[i + k];
            b[k] = w->o;
            b[k].attempt_key = w->akey == SIZE_MAX ? NULL : x->arena.buf + w->akey;
            if (w->o.at <= x->legacy_until) {
                char *q = lk[k];
                memcpy(q, "import:", 7);
                q = put_hex64(put_hex64(q + 7, w->o.dedupe_hash), w->h2);
                *q = 0;
                b[k].legacy_key = lk[k];
            }
        }
        if ((r = store_begin(x->s)) < 0 || (r = store_outcomes_add(x->s, b, m, added)) < 0 ||
            (r = store_commit(x->s)) < 0)
            goto out;
        for (size_t k = 0; k < m; k++) {
            const struct wrow *w = v[i + k];
            if (!added[k]) {
                x->counts.unchanged++;
                continue;
            }
            x->counts.inserted++;
            if (w->stop_id != SIZE_MAX) {
                const char *id = x->arena.buf + w->stop_id, *why = outcome_stop_reason((enum outcome_code)w->o.code);
                if (sbuf_add(&x->stops, id, strlen(id) + 1) < 0 ||
                    sbuf_add(&x->stops, why, strlen(why) + 1) < 0) {
                    r = -ENOMEM;
                    goto out;
                }
                x->nstops++;
            }
        }
    }
    x->nwin = 0;
    sbuf_reset(&x->arena);
out:
    free(v);
    free(b);
    free(lk);
    free(added);
    return r;
}

/* Tell workers: set a stop marker for every debtor with fresh news. */
static int set_stop_markers(struct octx *x)
{
    struct queue *q = NULL;
    char err[512];
    int r = queue_connect(x->cfg->redis_url, x->cfg->redis_prefix, x->cfg->redis_timeout_ms, &q,
                          err, sizeof(err));
    if (r < 0) {
        log_warning("cannot reach redis '%s' to stop queued jobs of %zu debtors: %s; "
                    "set them with 'cadenza queue stop DEBTOR'",
                    x->cfg->redis_url, x->nstops, err);
        return r;
    }
    queue_set_retry(q, 5000);
    const char *p = x->stops.buf, *end = x->stops.buf + x->stops.len;
    size_t n = 0;
    while (p < end) {
        const char *id = p, *why = p + strlen(p) + 1;
        p = why + strlen(why) + 1;
        if ((r = queue_set_stop(q, id, why, x->now + STOP_MARKER_SECONDS)) < 0) {
            log_warning("cannot set the stop marker of '%s': %s", id, queue_errstr(q));
            break;
        }
        n++;
    }
    if (r >= 0)
        printf("stop markers set for %zu debtors with news\n", n);
    queue_free(q);
    return r;
}

static void reject(struct octx *x, long line, const char *why)
{
    x->counts.rejected++;
    if (x->reported < x->max_errors) {
        fprintf(stderr, "%s:%ld: error: %s\n", x->name, line, why);
        x->reported++;
    } else if (x->reported == x->max_errors) {
        fprintf(stderr, "%s: note: further rejected rows are not shown here\n", x->name);
        x->reported++;
    }
}

static void reject_raw(struct octx *x, struct csv_reader *csv, long line, const char *why)
{
    if (!x->rejects)
        return;
    const char *p;
    size_t n;
    csv_reader_raw(csv, &p, &n);
    if (x->jsonl) {
        json_t *o = json_pack("{s:I,s:s,s:s%}", "line", (json_int_t)line, "error", why,
                              "input", p, n);
        if (o) {
            char *s = json_dumps(o, JSON_COMPACT);
            if (s)
                fprintf(x->rejects, "%s\n", s);
            free(s);
            json_decref(o);
        }
        return;
    }
    fwrite(p, 1, n, x->rejects);
    fputc(',', x->rejects);
    fputc('"', x->rejects);
    for (const char *c = why; *c; c++) {
        if (*c == '"')
            fputc('"', x->rejects);
        fputc(*c, x->rejects);
    }
    fputs("\"\n", x->rejects);
}

/* One JSON line into row (values copied into x->scratch).  Problems to e. */
static int json_row(struct octx *x, const char *p, size_t n, struct ingest_row *row, struct sbuf *e)
{
    json_error_t je;
    json_t *o = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
    memset(row, 0, sizeof(*row));
    if (!o) {
        add_err(e, "invalid JSON at column %d: %s", je.column, je.text);
        return 0;
    }
    if (!json_is_object(o)) {
        add_err(e, "expected a JSON object");
        json_decref(o);
        return 0;
    }
    size_t off[_INGEST_MAX], len[_INGEST_MAX];
    bool have[_INGEST_MAX] = { false };
    const char *key;
    json_t *v;
    sbuf_reset(&x->scratch);
    json_object_foreach(o, key, v) {
        int c = ingest_field_find(key, strlen(key));
        if (c < 0) {
            const char *near = closest_word(key, ingest_field_names, _INGEST_MAX);
            if (near)
                add_err(e, "unknown key '%s' (did you mean '%s'?)", key, near);
            else
                add_err(e, "unknown key '%s'", key);
            continue;
        }
        if (json_is_null(v))
            continue;
        off[c] = x->scratch.len;
        if (json_is_string(v))
            sbuf_add(&x->scratch, json_string_value(v), json_string_length(v));
        else if (json_is_integer(v))
            sbuf_addf(&x->scratch, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
            sbuf_addf(&x->scratch, "%.2f", json_real_value(v));
        else {
            add_err(e, "%s: expected a string or a number", ingest_field_names[c]);
            continue;
        }
        len[c] = x->scratch.len - off[c];
        if (sbuf_addc(&x->scratch, 0) < 0) {
            json_decref(o);
            return -ENOMEM;
        }
        have[c] = true;
    }
    json_decref(o);
    for (int c = 0; c < _INGEST_MAX; c++)
        if (have[c]) {
            row->f[c] = x->scratch.buf + off[c];
            row->flen[c] = len[c];
            if (strlen(row->f[c]) != len[c])
                add_err(e, "%s: NUL byte", ingest_field_names[c]);
        }
    return 0;
}

static int run(struct octx *x, int fd, int format)
{
    struct csv_reader *csv = NULL;
    struct sbuf e = SBUF_INIT;
    int colmap[CSV_MAX_FIELDS_DEFAULT];
    size_t ncols = 0;
    char err[512];
    int r = csv_reader_new(fd, &csv);
    if (r < 0)
        return r;
    csv_reader_set_trim(csv, true);
    if (format == ROW_FORMAT_AUTO) {
        const char *p;
        size_t n, i = 0;
        if ((r = csv_reader_peek(csv, &p, &n)) < 0)
            goto out;
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
            i++;
        format = i < n && p[i] == '{' ? ROW_FORMAT_JSONL : ROW_FORMAT_CSV;
    }
    x->jsonl = format == ROW_FORMAT_JSONL;
    if (!x->jsonl) {
        const struct csv_field *f;
        long line;
        int k = csv_reader_next(csv, &f, &ncols, &line, err, sizeof(err));
        if (k <= 0) {
            log_error("%s: %s", x->name, k == 0 ? "no header row (the input is empty)" : err);
            r = -EINVAL;
            goto out;
        }
        bool seen[_INGEST_MAX] = { false };
        for (size_t i = 0; i < ncols; i++) {
            int c = ingest_field_find(f[i].p, f[i].len);
            if (c < 0) {
                const char *near = closest_word(f[i].p, ingest_field_names, _INGEST_MAX);
                add_err(&e, near ? "unknown column '%s' (did you mean '%s'?)"
                                 : "unknown column '%s'%s",
                        f[i].p, near ? near : "");
                continue;
            }
            if (seen[c])
                add_err(&e, "column '%s' appears twice", ingest_field_names[c]);
            seen[c] = true;
            colmap[i] = c;
        }
        for (int c = INGEST_DEBTOR_ID; c <= INGEST_OUTCOME; c++)
            if (!seen[c])
                add_err(&e, "required column '%s' is missing", ingest_field_names[c]);
        if (e.len) {
            log_error("%s: header: %s", x->name, e.buf);
            r = -EINVAL;
            goto out;
        }
        csv_reader_set_expected_fields(csv, ncols);
        if (x->rejects) {
            const char *p;
            size_t n;
            csv_reader_raw(csv, &p, &n);
            fwrite(p, 1, n, x->rejects);
            fputs(",_error\n", x->rejects);
        }
    }
    for (;;) {
        struct ingest_row row;
        long line = 0;
        int k;
        sbuf_reset(&e);
        if (x->jsonl) {
            const char *p;
            size_t n;
            k = csv_reader_next_line(csv, &p, &n, &line, err, sizeof(err));
            if (k > 0 && (r = json_row(x, p, n, &row, &e)) < 0)
                goto out;
        } else {
            const struct csv_field *f;
            size_t nf;
            k = csv_reader_next(csv, &f, &nf, &line, err, sizeof(err));
            if (k > 0) {
                memset(&row, 0, sizeof(row));
                for (size_t i = 0; i < nf && i < ncols; i++) {
                    row.f[colmap[i]] = f[i].p;
                    row.flen[colmap[i]] = f[i].len;
                }
            }
        }
        if (k == 0)
            break;
        x->counts.read++;
        if (k == -EINVAL) {
            reject(x, line, err);
            reject_raw(x, csv, line, err);
            continue;
        }
        if (k < 0) {
            log_error("%s: %s", x->name, err);
            r = k;
            goto out;
        }
        if (!e.len && !x->reading) {
            if ((r = store_begin_read(x->s)) < 0)
                goto store_fail;
            x->reading = true;
        }
        if (!e.len && (r = import_row(x, &row, line, &e)) < 0)
            goto store_fail;
        if (e.len) {
            reject(x, line, e.buf);
            reject_raw(x, csv, line, e.buf);
        } else if (x->nwin == x->window && (r = flush_window(x)) < 0)
            goto store_fail;
    }
    if (x->nwin && (r = flush_window(x)) < 0)
        goto store_fail;
    if (x->reading) {
        x->reading = false;
        if ((r = store_commit(x->s)) < 0)
            goto store_fail;
    }
    r = 0;
    goto out;
store_fail:
    log_error("cannot write to store '%s': %s", store_path(x->s), store_errmsg(x->s));
    store_rollback(x->s);
out:
    sbuf_release(&e);
    csv_reader_free(csv);
    return r;
}

int cmd_import_outcomes(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "rejects", required_argument, NULL, 'R' },
        { "batch", required_argument, NULL, 'b' },
        { "max-errors", required_argument, NULL, 'e' },
        { "quiet", no_argument, NULL, 'q' },
        { "no-stop", no_argument, NULL, 'N' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    int format = ROW_FORMAT_AUTO, c;
    bool no_stop = false;
    long batch = 20000, max_errors = 50;
    const char *rejects_path = NULL;
    while ((c = getopt_long(argc, argv, "f:R:b:e:qh", opts, NULL)) != -1) {
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
            if (cli_parse_long("--batch", optarg, 1, 100000000, &batch) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 'e':
            if (cli_parse_long("--max-errors", optarg, 0, 100000000, &max_errors) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 'q':
            break;
        case 'N':
            no_stop = true;
            break;
        case 'h':
            usage(stdout);
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
    if (format == ROW_FORMAT_AUTO)
        format = row_format_from_name(input);

    struct config *cfg = NULL;
    int ret = cli_load_config(ctx, &cfg);
    if (ret != EXIT_OK)
        return ret;
    struct octx x = { .name = is_stdin ? "<stdin>" : input, .cfg = cfg,
                      .max_errors = max_errors, .scratch = SBUF_INIT,
                      .arena = SBUF_INIT, .batch = batch,
                      .window = batch > WINDOW_ROWS ? (size_t)batch : WINDOW_ROWS };
    struct cli_rejects rej = { 0 };
    int64_t import_id = 0;
    int fd = is_stdin ? STDIN_FILENO : open(input, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error_errno(-errno, "cannot open '%s': %m", input);
        config_free(cfg);
        return EXIT_RUNTIME;
    }
    /* before the store: a refused rejects path changes nothing */
    if ((ret = cli_rejects_open(&rej, rejects_path, input, is_stdin)) != EXIT_OK) {
        cli_rejects_close(&rej, false, false);
        if (!is_stdin)
            close(fd);
        config_free(cfg);
        return ret;
    }
    char err[512];
    int r = store_open(cfg->store_path, STORE_BULK, &x.s, err, sizeof(err));
    if (r < 0) {
        log_error("cannot open store '%s': %s", cfg->store_path, err);
        goto out;
    }
    if ((r = store_outcome_legacy_until(x.s, &x.legacy_until)) < 0) {
        log_error("cannot read store '%s': %s", cfg->store_path, store_errmsg(x.s));
        goto out;
    }
    if (store_set_cache_mib(x.s, IMPORT_CACHE_MIB) < 0 ||
        store_set_wal_autocheckpoint(x.s, IMPORT_WAL_PAGES) < 0)
        log_warning("cannot tune the store connection: %s", store_errmsg(x.s));
    x.rejects = rej.f;
    x.now = (int64_t)time(NULL);
    snprintf(x.source, sizeof(x.source), "import:%s", x.name);
    if ((r = ingest_ctx_new(cfg, x.s, x.now, x.source, &x.ingest)) < 0)
        goto out;
    if ((r = store_import_start(x.s, x.source, x.now, &import_id)) < 0) {
        log_error("cannot write to store '%s': %s", cfg->store_path, store_errmsg(x.s));
        goto out;
    }
    r = run(&x, fd, format);
    /* what was committed is on disk when the import says so */
    if (store_checkpoint(x.s) < 0)
        log_warning("cannot checkpoint the store: %s", store_errmsg(x.s));
    if (store_import_finish(x.s, import_id, &x.counts, (int64_t)time(NULL),
                            r == 0 ? "done" : r == -EINVAL ? "rejected" : "failed") < 0)
        log_warning("cannot record the import in the store: %s", store_errmsg(x.s));
    if (r == 0) {
        printf("%s: %lld rows read: %lld added, %lld already stored, %lld rejected\n", x.name,
               (long long)x.counts.read, (long long)x.counts.inserted,
               (long long)x.counts.unchanged, (long long)x.counts.rejected);
        if (x.counts.rejected && rej.path)
            printf("rejected rows written to %s\n", rej.path);
        if (x.nstops && !no_stop)
            set_stop_markers(&x);
    }
out:
    if (cli_rejects_close(&rej, r == 0, x.counts.rejected > 0) < 0)
        r = -EIO;
    ingest_ctx_free(x.ingest);
    free(x.win);
    sbuf_release(&x.arena);
    sbuf_release(&x.scratch);
    sbuf_release(&x.stops);
    store_free(x.s);
    if (!is_stdin)
        close(fd);
    config_free(cfg);
    if (r == -EINVAL)
        return EXIT_DATA;
    if (r < 0)
        return EXIT_RUNTIME;
    return x.counts.rejected ? EXIT_DATA : EXIT_OK;
}
