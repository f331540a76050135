/*
 * letter.c - an example out-of-tree channel plugin: postal letters for a
 * print house.  Each send writes one print-ready letter (plain text, A4 or
 * US letter layout: sender block, recipient window, date, reference,
 * body, folded at the paper's measure) into a day folder, and the day's
 * manifest (CSV, one row per letter) lists what the print house must print
 * and post:
 *
 *     <spool>/<YYYY-MM-DD>/<attempt>.txt
 *     <spool>/<YYYY-MM-DD>/manifest.csv
 *         letter_id,file,recipient,address,postal_lines,pages,paper,reference
 *
 * The recipient's postal address is the job's address: lines separated by
 * newlines (the first is the name line when it holds no digits, else the
 * job's `name` input comes first).  It builds against the installed header
 * alone (meson.build beside it) and uses nothing of cadenza's.
 *
 * Invariants:
 *  1. A letter is in the manifest at most once: a redelivered job whose
 *     file already exists is answered sent without a second row.
 *  2. A letter file is complete before its manifest row is written, and
 *     both are on disk (fsync) when flush() returns 0.
 *  3. Exactly one completion per send, before send() returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cadenza-plugin.h>

static const struct cz_setting letter_settings[] = {
    { "spool", CZ_SETTING_PATH, NULL, 0, 0, NULL, true,
      "directory the day folders of letters and manifests go into" },
    { "sender", CZ_SETTING_STRING, NULL, 0, 0, NULL, true,
      "sender block, lines separated by '|' (printed top left, and the return address)" },
    { "paper", CZ_SETTING_ENUM, "a4", 0, 0, "a4|letter", false, "paper size of the print run" },
    { "lines_per_page", CZ_SETTING_INT, "60", 20, 200, NULL, false,
      "printable lines per page, for the page count in the manifest" },
    { 0 },
};

struct letter {
    struct cz_instance *inst;
    const struct cz_host *host;
    char *spool, *sender, *paper;
    int64_t lines_per_page;
    char day[11];         /* the day folder open now */
    int manifest;         /* its manifest, O_APPEND */
    bool dirty;           /* written since the last flush */
};

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

static int letter_init(struct cz_instance *inst, const struct cz_host *host, void **ret)
{
    struct letter *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->inst = inst;
    l->host = host;
    l->manifest = -1;
    l->spool = strdup(host->setting_str(inst, "spool"));
    l->sender = strdup(host->setting_str(inst, "sender"));
    l->paper = strdup(host->setting_str(inst, "paper"));
    l->lines_per_page = host->setting_int(inst, "lines_per_page");
    int r = l->spool && l->sender && l->paper ? mkdir_p(l->spool) : -ENOMEM;
    if (r < 0) {
        host->log(inst, CZ_LOG_ERROR, "cannot use spool '%s': %s",
                  l->spool ? l->spool : "", strerror(-r));
        free(l->spool);
        free(l->sender);
        free(l->paper);
        free(l);
        return r;
    }
    *ret = l;
    return 0;
}

/* Open the manifest of today's folder (UTC day of the send), with its header once. */
static int open_day(struct letter *l, const char *day)
{
    if (l->manifest >= 0 && strcmp(l->day, day) == 0)
        return 0;
    if (l->manifest >= 0) {
        fsync(l->manifest);
        close(l->manifest);
        l->manifest = -1;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", l->spool, day);
    int r = mkdir_p(path);
    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "%s/%s/manifest.csv", l->spool, day);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size == 0) {
        static const char hdr[] =
            "letter_id,file,recipient,address,postal_lines,pages,paper,reference\r\n";
        if (write(fd, hdr, sizeof(hdr) - 1) != (ssize_t)(sizeof(hdr) - 1)) {
            r = -errno;
            close(fd);
            return r ? r : -EIO;
        }
    }
    l->manifest = fd;
    snprintf(l->day, sizeof(l->day), "%s", day);
    return 0;
}

/* A CSV field (RFC 4180): quoted, quotes doubled, newlines kept. */
static void csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* A JSON string input's value from the job's inputs (flat object, simple escapes). */
static void input(const char *json, const char *key, char *buf, size_t len)
{
    buf[0] = 0;
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return;
    p += strlen(pat);
    size_t n = 0;
    for (; *p && *p != '"' && n + 1 < len; p++) {
        if (*p == '\\' && p[1])
            p++;
        buf[n++] = *p;
    }
    buf[n] = 0;
}

/* Write text folded at width columns (bytes; UTF-8 sequences are never split). */
static int put_folded(FILE *f, const char *text, int width)
{
    int lines = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        while (len > (size_t)width) {
            size_t cut = (size_t)width;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0) {
                cut = (size_t)width;
                while (cut > 0 && ((unsigned char)p[cut] & 0xc0) == 0x80)
                    cut--;
            }
            fprintf(f, "%.*s\n", (int)cut, p);
            lines++;
            p += cut;
            len -= cut;
            while (len && *p == ' ') {
                p++;
                len--;
            }
        }
        fprintf(f, "%.*s\n", (int)len, p);
        lines++;
        p += len + (nl ? 1 : 0);
        if (!nl)
            break;
    }
    return lines;
}

static void complete(struct letter *l, struct cz_send *send, enum cz_send_status st,
                     const char *id, const char *err)
{
    struct cz_result res = { .status = st, .provider_id = id, .error = err };
    l->host->complete(send, &res);
}

static int letter_send(void *state, const struct cz_job *job, struct cz_send *send)
{
    struct letter *l = state;
    char err[256], day[11], path[4096], id[64];
    if (!job->address || !*job->address) {
        complete(l, send, CZ_SEND_INVALID_ADDRESS, NULL, "no postal address");
        return 0;
    }
    if (!job->text) {
        complete(l, send, CZ_SEND_FAILED, NULL, "no rendered letter text (no template)");
        return 0;
    }
    time_t now = (time_t)(l->host->wall_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    int r = open_day(l, day);
    if (r < 0) {
        snprintf(err, sizeof(err), "cannot open the manifest of %s: %s", day, strerror(-r));
        complete(l, send, CZ_SEND_RETRY, NULL, err);
        return 0;
    }
    snprintf(id, sizeof(id), "L%lld", (long long)job->attempt_id);
    snprintf(path, sizeof(path), "%s/%s/%s.txt", l->spool, day, id);
    /* invariant 1: a redelivered job whose letter exists is done */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0 && errno == EEXIST) {
        complete(l, send, CZ_SEND_OK, id, NULL);
        return 0;
    }
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        snprintf(err, sizeof(err), "cannot write '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        complete(l, send, CZ_SEND_RETRY, NULL, err);
        return 0;
    }
    int width = strcmp(l->paper, "letter") == 0 ? 78 : 76, lines = 0;
    char name[200];
    input(job->inputs_json, "name", name, sizeof(name));
    /* sender block, then the recipient in the window, the date and the reference */
    for (const char *s = l->sender; *s; s++)
        fputc(*s == '|' ? '\n' : *s, f);
    fputs("\n\n\n", f);
    lines += 6;
    if (name[0] && !strstr(job->address, name)) {
        fprintf(f, "%s\n", name);
        lines++;
    }
    int postal_lines = put_folded(f, job->address, width);
    lines += postal_lines;
    fprintf(f, "\n\n%*s\n\nReference: %s\n\n", width, day, job->idempotency_key);
    lines += 6;
    if (job->subject) {
        fprintf(f, "%s\n\n", job->subject);
        lines += 2;
    }
    lines += put_folded(f, job->text, width);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        snprintf(err, sizeof(err), "cannot write '%s': %s", path, strerror(errno));
        fclose(f);
        unlink(path);
        complete(l, send, CZ_SEND_RETRY, NULL, err);
        return 0;
    }
    fclose(f);
    int64_t pages = (lines + l->lines_per_page - 1) / l->lines_per_page;
    /* invariant 2: the manifest row after the whole letter */
    char *row = NULL;
    size_t rowlen = 0;
    FILE *m = open_memstream(&row, &rowlen);
    if (!m) {
        unlink(path);
        complete(l, send, CZ_SEND_RETRY, NULL, "out of memory");
        return 0;
    }
    fprintf(m, "%s,%s.txt,", id, id);
    csv_field(m, name);
    fputc(',', m);
    csv_field(m, job->address);
    fprintf(m, ",%d,%lld,%s,", postal_lines, (long long)pages, l->paper);
    csv_field(m, job->idempotency_key);
    fputs("\r\n", m);
    fclose(m);
    ssize_t w = row ? write(l->manifest, row, rowlen) : -1;
    free(row);
    if (w != (ssize_t)rowlen) {
        snprintf(err, sizeof(err), "cannot write the manifest: %s", strerror(errno));
        unlink(path);
        complete(l, send, CZ_SEND_RETRY, NULL, err);
        return 0;
    }
    l->dirty = true;
    complete(l, send, CZ_SEND_OK, id, NULL);
    return 0;
}

static int letter_flush(void *state)
{
    struct letter *l = state;
    if (!l->dirty || l->manifest < 0)
        return 0;
    if (fsync(l->manifest) != 0)
        return -errno;
    l->dirty = false;
    return 0;
}

static void letter_shutdown(void *state)
{
    struct letter *l = state;
    letter_flush(l);
    if (l->manifest >= 0)
        close(l->manifest);
    free(l->spool);
    free(l->sender);
    free(l->paper);
    free(l);
}

const struct cz_channel_plugin cz_channel_plugin = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = 0, /* uses nothing of 1.1: runs on every 1.x host */
    .name = "letter",
    .description = "print-ready letters in day folders with a manifest for a print house",
    .kinds = CZ_KIND_BIT(CZ_KIND_LETTER),
    .settings = letter_settings,
    .init = letter_init,
    .send = letter_send,
    .flush = letter_flush,
    .shutdown = letter_shutdown,
};
