/*
 * cmd-queue.c - `cadenza queue`: look at and manage the Redis queue.
 *
 *   queue stats [--format json]      depth per channel, leased, retrying,
 *                                    dead, oldest due, results not drained
 *   queue dead list [--max N] [--payload]
 *   queue dead retry ID...|--all     back to the scheduled set, due now
 *   queue dead purge ID...|--all     delete for good
 *   queue enqueue [FILE]             jobs as JSON lines (one payload each)
 *   queue stop DEBTOR [REASON] [--until UNIX] / queue unstop DEBTOR
 *
 * `queue drain` (results into the store) belongs to the store owner and
 * lives with `run`.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "job.h"
#include "dispatch.h"
#include "log.h"
#include "queue.h"
#include "store.h"

static void queue_usage(FILE *f)
{
    fprintf(f, "usage: cadenza queue stats [--format text|json]\n"
               "       cadenza queue dead list [--max N] [--payload]\n"
               "       cadenza queue dead retry ID...|--all\n"
               "       cadenza queue dead purge ID...|--all\n"
               "       cadenza queue enqueue [FILE]      (job payloads as JSON lines; - = stdin)\n"
               "       cadenza queue stop DEBTOR [REASON] [--until UNIX-SECONDS]\n"
               "       cadenza queue unstop DEBTOR\n"
               "       cadenza queue drain               (workers' results into the store)\n"
               "\n"
               "Inspect and manage the Redis work queue (layout: docs/queue.md).\n");
}

static void on_notify(void *ud, const char *msg)
{
    log_warning("%s", msg);
}

static int open_queue(const struct cli_ctx *ctx, struct config **ret_cfg, struct queue **ret)
{
    int ex = cli_load_config(ctx, ret_cfg);
    if (ex != EXIT_OK)
        return ex;
    const char *url = (*ret_cfg)->redis_url;
    char err[512];
    int r = queue_connect(url, (*ret_cfg)->redis_prefix, (*ret_cfg)->redis_timeout_ms, ret, err,
                          sizeof(err));
    if (r == -EINVAL) {
        log_error("invalid redis url '%s'", url ? url : "");
        return EXIT_USAGE;
    }
    if (r < 0) {
        log_error("cannot reach redis '%s': %s", url, err);
        return EXIT_RUNTIME;
    }
    queue_set_notify(*ret, on_notify, NULL);
    return EXIT_OK;
}

static void fmt_ms(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static int do_stats(struct queue *q, int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if ((streq(argv[i], "--format") || streq(argv[i], "-f")) && i + 1 < argc) {
            i++;
            if (streq(argv[i], "json"))
                json = true;
            else if (!streq(argv[i], "text")) {
                log_error("unknown format '%s' (text or json)", argv[i]);
                return EXIT_USAGE;
            }
        } else {
            log_error("unexpected argument '%s' to 'queue stats'", argv[i]);
            return EXIT_USAGE;
        }
    }
    int64_t now = wall_ms();
    struct queue_stats st;
    int r = queue_stats(q, now, &st);
    if (r < 0) {
        if (r == -EBADMSG)
            log_error("cannot read queue stats: %s", queue_errstr(q));
        else
            log_error_errno(r, "cannot read queue stats: %m (%s)", queue_errstr(q));
        return EXIT_RUNTIME;
    }
    if (json) {
        json_t *o = json_object(), *chans = json_array();
        for (size_t i = 0; i < st.nchannels; i++) {
            const struct queue_channel_stats *c = &st.channels[i];
            json_array_append_new(chans, json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "channel",
                                                   c->channel, "ready", (json_int_t)c->ready,
                                                   "scheduled", (json_int_t)c->scheduled, "due",
                                                   (json_int_t)c->due, "retrying",
                                                   (json_int_t)c->retrying, "leased",
                                                   (json_int_t)c->leased, "oldest_due_ms",
                                                   (json_int_t)c->oldest_due_ms));
        }
        json_object_set_new(o, "channels", chans);
        json_object_set_new(o, "jobs", json_integer(st.jobs));
        json_object_set_new(o, "dead", json_integer(st.dead));
        json_object_set_new(o, "results_pending", json_integer(st.results));
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("\n");
        json_decref(o);
    } else {
        char when[40];
        printf("%-12s %9s %9s %9s %9s %9s  %s\n", "channel", "ready", "scheduled", "due",
               "retrying", "leased", "oldest due");
        for (size_t i = 0; i < st.nchannels; i++) {
            const struct queue_channel_stats *c = &st.channels[i];
            fmt_ms(c->oldest_due_ms, when, sizeof(when));
            printf("%-12s %9" PRId64 " %9" PRId64 " %9" PRId64 " %9" PRId64 " %9" PRId64
                   "  %s\n",
                   c->channel, c->ready, c->scheduled, c->due, c->retrying, c->leased, when);
        }
        printf("jobs stored: %" PRId64 ", dead letters: %" PRId64
               ", results not drained: %" PRId64 "\n",
               st.jobs, st.dead, st.results);
    }
    queue_stats_release(&st);
    return EXIT_OK;
}

struct dead_print {
    bool payload;
};

static int print_dead(void *ud, const struct queue_dead *d)
{
    struct dead_print *p = ud;
    char when[40];
    fmt_ms(d->at_ms, when, sizeof(when));
    printf("%s\t%s\t%s\ttries=%d\t%s\n", d->id, d->channel ? d->channel : "-", when, d->tries,
           d->error ? d->error : "");
    if (p->payload && d->payload)
        printf("\t%s\n", d->payload);
    return 0;
}

static int do_dead(struct queue *q, int argc, char **argv)
{
    if (argc < 2) {
        log_error("missing 'list', 'retry' or 'purge' after 'queue dead'");
        return EXIT_USAGE;
    }
    const char *op = argv[1];
    if (streq(op, "list")) {
        struct dead_print p = {};
        int64_t max = 0;
        for (int i = 2; i < argc; i++) {
            if (streq(argv[i], "--payload"))
                p.payload = true;
            else if (streq(argv[i], "--max") && i + 1 < argc &&
                     parse_int64(argv[i + 1], strlen(argv[i + 1]), &max) >= 0 && max >= 0)
                i++;
            else {
                log_error("unexpected argument '%s' to 'queue dead list'", argv[i]);
                return EXIT_USAGE;
            }
        }
        int r = queue_dead_list(q, (size_t)max, print_dead, &p);
        if (r < 0) {
            log_error_errno(r, "cannot list dead letters: %m (%s)", queue_errstr(q));
            return EXIT_RUNTIME;
        }
        if (r == 0)
            fprintf(stderr, "no dead letters\n");
        return EXIT_OK;
    }
    if (!streq(op, "retry") && !streq(op, "purge")) {
        log_error("unknown 'queue dead' command '%s' (list, retry or purge)", op);
        return EXIT_USAGE;
    }
    bool all = argc == 3 && streq(argv[2], "--all");
    if (argc < 3 || (!all && argv[2][0] == '-')) {
        log_error("'queue dead %s' needs job ids or --all", op);
        return EXIT_USAGE;
    }
    size_t n = 0;
    const char *const *ids = all ? NULL : (const char *const *)argv + 2;
    size_t nids = all ? 0 : (size_t)(argc - 2);
    int r = streq(op, "retry") ? queue_dead_retry(q, ids, nids, &n)
                               : queue_dead_purge(q, ids, nids, &n);
    if (r < 0) {
        log_error_errno(r, "cannot %s dead letters: %m (%s)", op, queue_errstr(q));
        return EXIT_RUNTIME;
    }
    printf("%s %zu dead letter(s)\n", streq(op, "retry") ? "requeued" : "purged", n);
    return EXIT_OK;
}

static int do_enqueue(struct queue *q, int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "-";
    FILE *f = streq(path, "-") ? stdin : fopen(path, "re");
    if (!f) {
        log_error("cannot open '%s': %s", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    enum { CHUNK = 20000 };
    struct job *jobs = calloc(CHUNK, sizeof(*jobs));
    char *line = NULL;
    size_t cap = 0, n = 0, added_total = 0, total = 0, lineno = 0;
    ssize_t len;
    int ex = EXIT_OK;
    if (!jobs) {
        ex = EXIT_RUNTIME;
        goto out;
    }
    for (;;) {
        len = getline(&line, &cap, f);
        if (len > 0) {
            lineno++;
            char err[256];
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = 0;
            if (len == 0)
                continue;
            if (job_parse(line, (size_t)len, 0, &jobs[n], err, sizeof(err)) < 0) {
                fprintf(stderr, "%s:%zu: error: %s\n", path, lineno, err);
                ex = EXIT_DATA;
                continue;
            }
            n++;
        }
        if (n == CHUNK || (len < 0 && n > 0)) {
            size_t added = 0;
            int r = queue_enqueue_batch(q, jobs, n, &added);
            for (size_t i = 0; i < n; i++)
                job_release(&jobs[i]);
            total += n;
            n = 0;
            if (r < 0) {
                if (r == -EBADMSG)
                    log_error("cannot enqueue: %s", queue_errstr(q));
                else
                    log_error_errno(r, "cannot enqueue: %m (%s)", queue_errstr(q));
                ex = EXIT_RUNTIME;
                goto out;
            }
            added_total += added;
        }
        if (len < 0)
            break;
    }
    printf("enqueued %zu of %zu job(s) (%zu already queued or done)\n", added_total, total,
           total - added_total);
out:
    for (size_t i = 0; i < n; i++)
        job_release(&jobs[i]);
    free(jobs);
    free(line);
    if (f != stdin)
        fclose(f);
    return ex;
}

static int do_stop(struct queue *q, int argc, char **argv, bool stop)
{
    int64_t until = 0;
    const char *debtor = NULL, *reason = NULL;
    for (int i = 1; i < argc; i++) {
        if (stop && streq(argv[i], "--until") && i + 1 < argc) {
            if (parse_int64(argv[i + 1], strlen(argv[i + 1]), &until) < 0 || until < 0) {
                log_error("invalid time '%s' for --until", argv[i + 1]);
                return EXIT_USAGE;
            }
            i++;
        } else if (!debtor)
            debtor = argv[i];
        else if (stop && !reason)
            reason = argv[i];
        else {
            log_error("unexpected argument '%s'", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!debtor) {
        log_error("missing debtor id");
        return EXIT_USAGE;
    }
    int r = stop ? queue_set_stop(q, debtor, reason ? reason : "manual", until)
                 : queue_clear_stop(q, debtor);
    if (r < 0) {
        log_error_errno(r, "cannot update the stop marker of '%s': %m (%s)", debtor,
                        queue_errstr(q));
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* The store owner's half: results from the stream into SQLite. */
static int do_drain(struct queue *q, const struct config *cfg, int argc, char **argv)
{
    if (argc > 1) {
        log_error("unexpected argument '%s'", argv[1]);
        return EXIT_USAGE;
    }
    char err[512];
    struct store *s = NULL;
    if (store_open(cfg->store_path, 0, &s, err, sizeof(err)) < 0) {
        log_error("cannot open store '%s': %s", cfg->store_path, err);
        return EXIT_RUNTIME;
    }
    struct dispatch_drain_stats ds;
    int r = dispatch_drain(s, q, &ds, err, sizeof(err));
    if (r < 0)
        log_error("%s", err);
    else
        printf("drained %" PRId64 " results (%" PRId64 " applied, %" PRId64 " foreign)\n",
               ds.results, ds.applied, ds.foreign);
    store_free(s);
    return r < 0 ? EXIT_RUNTIME : EXIT_OK;
}

int cmd_queue(int argc, char **argv, const struct cli_ctx *ctx)
{
    if (argc < 2) {
        queue_usage(stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (streq(sub, "--help") || streq(sub, "-h") || streq(sub, "help")) {
        queue_usage(stdout);
        return EXIT_OK;
    }
    static const char *const subs[] = { "stats", "dead", "enqueue", "stop", "unstop", "drain" };
    bool known = false;
    for (size_t i = 0; i < ELEMENTSOF(subs); i++)
        known |= streq(sub, subs[i]);
    if (!known) {
        const char *near = closest_word(sub, subs, ELEMENTSOF(subs));
        if (near)
            log_error("unknown 'queue' command '%s'; did you mean '%s'?", sub, near);
        else
            log_error("unknown 'queue' command '%s'; see 'cadenza queue --help'", sub);
        return EXIT_USAGE;
    }
    struct config *cfg = NULL;
    struct queue *q = NULL;
    int ex = open_queue(ctx, &cfg, &q);
    if (ex == EXIT_OK) {
        if (streq(sub, "stats"))
            ex = do_stats(q, argc - 1, argv + 1);
        else if (streq(sub, "dead"))
            ex = do_dead(q, argc - 1, argv + 1);
        else if (streq(sub, "enqueue"))
            ex = do_enqueue(q, argc - 1, argv + 1);
        else if (streq(sub, "drain"))
            ex = do_drain(q, cfg, argc - 1, argv + 1);
        else
            ex = do_stop(q, argc - 1, argv + 1, streq(sub, "stop"));
    }
    queue_free(q);
    config_free(cfg);
    return ex;
}
