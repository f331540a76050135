/*
 * test-channel.c - the built-in log channel through the channel interface:
 * a send appends one record, a redelivered job whose key is already in a
 * whole record is answered "sent" without a second line, and a record torn
 * by a killed writer neither counts nor hides the record after it.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "plugin.h"
#include "testlib.h"
#include "util.h"
#include "ynode.h"

struct fixture {
    char dir[64];
    char path[128];
    struct ydoc *doc;
    struct plugin_set *plugins;
    struct channel_conf conf;
    struct channel *ch;
};

static int setup(struct fixture *f, const char *initial)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/cz-test-channel.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/sends.log", f->dir);
    FILE *fp = fopen(f->path, "w");
    if (!fp)
        return -1;
    fputs(initial, fp);
    fclose(fp);
    char yaml[256];
    int n = snprintf(yaml, sizeof(yaml), "path: %s\n", f->path);
    struct diags d = { 0 };
    if (ydoc_parse("test", yaml, (size_t)n, &f->doc, &d) < 0)
        return -1;
    f->conf = (struct channel_conf){ .name = "email", .plugin = "log", .kind = CHAN_EMAIL,
                                     .settings = f->doc->root };
    char err[256];
    if (plugin_set_new(NULL, &f->plugins) < 0 ||
        plugin_set_get(f->plugins, "log", &f->conf.desc, err, sizeof(err)) < 0)
        return -1;
    int r = plugin_settings_parse(f->conf.desc, f->doc->root, f->doc->root, "channel 'email'",
                                  NULL, &f->conf.values, &d);
    diags_print(&d, stderr);
    diags_release(&d);
    if (r < 0)
        return r;
    return channel_new(&f->conf, NULL, NULL, &f->ch);
}

static void teardown(struct fixture *f)
{
    channel_free(f->ch);
    plugin_settings_free(f->conf.values);
    plugin_set_free(f->plugins);
    ydoc_free(f->doc);
    unlink(f->path);
    rmdir(f->dir);
}

struct answer {
    int calls;
    enum cz_send_status status;
};

static void on_done(void *ud, const struct chan_result *res)
{
    struct answer *a = ud;
    a->calls++;
    a->status = res->status;
}

/* Send a job with key, id and optional inputs (a JSON object); returns the
 * channel's answer. */
static struct answer send_in(struct fixture *f, int64_t id, const char *key, bool redelivered,
                             const char *inputs)
{
    char payload[768];
    int n = snprintf(payload, sizeof(payload),
                     "{\"attempt_id\":%lld,\"idempotency_key\":\"%s\",\"debtor_id\":\"D%lld\","
                     "\"channel\":\"email\",\"kind\":\"email\",\"address\":\"d@example.com\","
                     "\"time_zone\":\"America/New_York\",\"not_after\":4102444800%s%s}",
                     (long long)id, key, (long long)id, inputs ? ",\"inputs\":" : "",
                     inputs ? inputs : "");
    struct job j;
    char err[256];
    struct answer a = { 0, CZ_SEND_STATUS_MAX_ };
    if (job_parse(payload, (size_t)n, 0, &j, err, sizeof(err)) < 0) {
        fprintf(stderr, "job: %s\n", err);
        test_failures++;
        return a;
    }
    struct chan_send_info info = { .tries = 0, .redelivered = redelivered };
    CHECK(channel_send(f->ch, &j, &info, on_done, &a) == 0);
    CHECK(channel_flush(f->ch) == 0);
    job_release(&j);
    return a;
}

static struct answer send_one(struct fixture *f, int64_t id, const char *key, bool redelivered)
{
    return send_in(f, id, key, redelivered, NULL);
}

static char *slurp(const char *path, size_t *ret_len)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    char *buf = malloc(1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, fp) : 0;
    fclose(fp);
    if (buf)
        buf[n] = 0;
    *ret_len = n;
    return buf;
}

/* Number of whole records in the file carrying key: records start with
 * {"sent_at" (a torn one is followed by the next on the same line) and a
 * whole one ends with its "pid":N} tail. */
static int records_with(const char *path, const char *key)
{
    size_t len;
    _cleanup_free_ char *buf = slurp(path, &len);
    if (!buf)
        return -1;
    char needle[128];
    snprintf(needle, sizeof(needle), "\"idempotency_key\":\"%s\",", key);
    int count = 0;
    char *rec = strstr(buf, "{\"sent_at\"");
    while (rec) {
        char *next = strstr(rec + 1, "{\"sent_at\"");
        char *end = next ? next : buf + len;
        while (end > rec && end[-1] == '\n')
            end--;
        char save = *end;
        *end = 0;
        char *pid = strstr(rec, ",\"pid\":");
        if (strstr(rec, needle) && end[-1] == '}' && pid && strchr(pid, '}') == end - 1)
            count++;
        *end = save;
        rec = next;
    }
    return count;
}

static const char torn_then_whole[] =
    "{\"sent_at\":\"2026-11-28T10:00:00.000Z\",\"attempt_id\":1,\"idempotency_key\":\"k1\","
    "\"channel\":\"email\",\"debtor_id\":\"D1\",\"addr"
    "{\"sent_at\":\"2026-11-28T10:00:01.000Z\",\"attempt_id\":2,\"idempotency_key\":\"k2\","
    "\"channel\":\"email\",\"debtor_id\":\"D2\",\"address\":\"d@example.com\",\"tries\":0,"
    "\"pid\":42}\n";

static void test_send_appends(void)
{
    struct fixture f;
    if (setup(&f, "") < 0) {
        CHECK(!"setup");
        return;
    }
    struct answer a = send_one(&f, 7, "k7", false);
    CHECK_INT(a.calls, 1);
    CHECK_INT(a.status, CZ_SEND_OK);
    CHECK_INT(records_with(f.path, "k7"), 1);
    CHECK_INT(records_with(f.path, "k1"), 0);
    /* not redelivered: the channel does not look, a second line is written */
    a = send_one(&f, 7, "k7", false);
    CHECK_INT(a.status, CZ_SEND_OK);
    CHECK_INT(records_with(f.path, "k7"), 2);
    teardown(&f);
}

static void test_redelivered_after_torn_record(void)
{
    struct fixture f;
    if (setup(&f, torn_then_whole) < 0) {
        CHECK(!"setup");
        return;
    }
    /* k2 is whole, behind a torn record on the same line: already sent */
    struct answer a = send_one(&f, 2, "k2", true);
    CHECK_INT(a.calls, 1);
    CHECK_INT(a.status, CZ_SEND_OK);
    CHECK_INT(records_with(f.path, "k2"), 1);
    size_t len = 0;
    free(slurp(f.path, &len));
    CHECK_INT(len, strlen(torn_then_whole));
    /* k1 was torn: never delivered whole, so it is written */
    a = send_one(&f, 1, "k1", true);
    CHECK_INT(a.status, CZ_SEND_OK);
    CHECK_INT(records_with(f.path, "k1"), 1);
    /* and now it is whole: a second redelivery writes nothing */
    a = send_one(&f, 1, "k1", true);
    CHECK_INT(records_with(f.path, "k1"), 1);
    /* a key nobody wrote is sent */
    a = send_one(&f, 3, "k3", true);
    CHECK_INT(records_with(f.path, "k3"), 1);
    teardown(&f);
}

/* a message input that looks like the start of a record is not one */
static void test_inputs_like_a_record(void)
{
    struct fixture f;
    if (setup(&f, "") < 0) {
        CHECK(!"setup");
        return;
    }
    static const char inputs[] = "{\"note\":{\"sent_at\":\"2026-01-01\",\"x\":1}}";
    struct answer a = send_in(&f, 9, "k9", false, inputs);
    CHECK_INT(a.status, CZ_SEND_OK);
    size_t len0 = 0, len1 = 0;
    free(slurp(f.path, &len0));
    a = send_in(&f, 9, "k9", true, inputs);
    CHECK_INT(a.status, CZ_SEND_OK);
    free(slurp(f.path, &len1));
    CHECK_INT(len1, len0); /* recognised as sent: no second line */
    teardown(&f);
}

TEST_MAIN({ "send_appends", test_send_appends },
          { "inputs_like_a_record", test_inputs_like_a_record },
          { "redelivered_after_torn_record", test_redelivered_after_torn_record })
