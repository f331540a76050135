/*
 * test-config.c - cadenza.yaml, profiles and calendars: the shipped files
 * load cleanly, precedence and path resolution, defaults, every
 * validation error with its exact position (fixtures in
 * tests/data/config/), holiday lookups and day_ranges parsing.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cadenza-config.h"
#include "config.h"
#include "plugin.h"
#include "testlib.h"

static char root[PATH_MAX];

static void init(void)
{
    const char *r = getenv("CADENZA_SOURCE_ROOT");
    char *abs = realpath(r ? r : CADENZA_SOURCE_ROOT, NULL);
    snprintf(root, sizeof(root), "%s", abs ? abs : CADENZA_SOURCE_ROOT);
    free(abs);
    unsetenv("CADENZA_CONFIG");
    unsetenv("CADENZA_STORE");
    unsetenv("CADENZA_REDIS");
}

/* A path under the source tree; static buffer ring. */
static const char *src(const char *rel)
{
    static char bufs[4][PATH_MAX];
    static int i;
    char *b = bufs[i++ % 4];
    if (!root[0])
        init();
    snprintf(b, PATH_MAX, "%.2000s/%.2000s", root, rel);
    return b;
}

static struct config *load_ok(const char *path, const struct config_overrides *ov)
{
    struct diags d = DIAGS_INIT;
    struct config *c = NULL;
    int r = config_load(path, ov, &c, &d);
    CHECK_INT(r, 0);
    CHECK_INT(d.n, 0);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "  unexpected: %s:%d:%d: %s\n", d.v[i].file ? d.v[i].file : "",
                d.v[i].line, d.v[i].col, d.v[i].msg);
    diags_release(&d);
    return c;
}

struct want {
    const char *file; /* relative to the source root, NULL: no file */
    int line, col;
    const char *msg;
};

/* Load expecting -EINVAL and exactly the diagnostics in w (any order). */
static void load_bad(const char *path, const struct want *w, size_t n)
{
    struct diags d = DIAGS_INIT;
    struct config *c = NULL;
    int r = config_load(path, NULL, &c, &d);
    CHECK_INT(r, -EINVAL);
    CHECK(c == NULL);
    diags_sort(&d);
    CHECK_INT(d.n, n);
    bool used[64] = { false };
    for (size_t i = 0; i < n; i++) {
        const char *f = w[i].file ? src(w[i].file) : NULL;
        bool found = false;
        for (size_t j = 0; j < d.n && j < 64 && !found; j++) {
            if (used[j] || !streq_ptr(d.v[j].file, f) || d.v[j].line != w[i].line ||
                d.v[j].col != w[i].col || !streq(d.v[j].msg, w[i].msg))
                continue;
            used[j] = found = true;
        }
        if (!found) {
            fprintf(stderr, "  missing: %s:%d:%d: %s\n", w[i].file ? w[i].file : "",
                    w[i].line, w[i].col, w[i].msg);
            test_failures++;
        }
    }
    for (size_t j = 0; j < d.n && j < 64; j++)
        if (!used[j])
            fprintf(stderr, "  extra: %s:%d:%d: %s\n", d.v[j].file ? d.v[j].file : "",
                    d.v[j].line, d.v[j].col, d.v[j].msg);
    diags_release(&d);
    config_free(c);
}

static int32_t day(const char *s)
{
    int32_t v = 0;
    CHECK_INT(parse_date(s, strlen(s), &v), 0);
    return v;
}

static const char *hours(const struct profile *p, int wd)
{
    static char buf[8][128];
    static int i;
    char *b = buf[i++ % 8];
    day_ranges_format(&p->legal[wd], b, 128);
    return b;
}

/* ---- the shipped configuration ------------------------------------- */

static void test_shipped(void)
{
    struct config *c = load_ok(src("config/cadenza.yaml"), NULL);
    if (!c)
        return;
    CHECK_STR(c->file, src("config/cadenza.yaml"));
    CHECK_STR(c->dir, src("config"));
    CHECK_STR(c->store_path, "cadenza.db");
    CHECK_STR(c->redis_url, "redis://127.0.0.1:6379");
    CHECK_STR(c->redis_prefix, "cz:");
    CHECK_STR(c->http_listen, "127.0.0.1:8470");
    CHECK_STR(c->default_time_zone, "UTC");
    CHECK_STR(c->default_currency, "EUR");
    CHECK_STR(c->business[CONFIG_CREDITOR], "Acme Finance");
    CHECK_STR(c->business[CONFIG_AGENT_PHONE], "+1 555 0100");
    CHECK(!c->business[CONFIG_AGENT_NAME]);
    CHECK_STR(c->strategy_dir, src("config/../strategies"));
    CHECK_STR(c->template_dir, src("config/templates"));
    CHECK_STR(c->profile_dir, src("config/profiles"));
    CHECK_STR(c->holiday_dir, src("config/holidays"));

    CHECK_INT(c->nchannels, 5);
    static const struct {
        const char *name;
        enum chan_kind kind;
    } chans[] = {
        { "email", CHAN_EMAIL }, { "sms", CHAN_SMS }, { "bot", CHAN_CHAT },
        { "dialer", CHAN_CALL }, { "letter", CHAN_LETTER },
    };
    for (size_t i = 0; i < ELEMENTSOF(chans); i++) {
        const struct channel_conf *ch = config_channel(c, chans[i].name);
        CHECK(ch != NULL);
        if (ch) {
            CHECK_INT(ch->kind, chans[i].kind);
            CHECK_STR(ch->plugin, "log");
            CHECK(ch->settings && ch->settings->type == YNODE_MAP);
        }
    }
    const struct channel_conf *dialer = config_channel(c, "dialer");
    if (dialer) {
        CHECK_INT(dialer->hourly_capacity, 400);
        CHECK(dialer->cost == 0.60);
    }
    CHECK(config_channel(c, "fax") == NULL);

    /* Profiles: the compliance table of DESIGN.md. */
    CHECK_INT(c->nprofiles, 3);
    const struct profile *us = config_profile(c, "us-regf");
    const struct profile *es = config_profile(c, "es");
    const struct profile *uk = config_profile(c, "uk-fca");
    CHECK(us && es && uk);
    if (!us || !es || !uk)
        goto out;
    CHECK(config_profile_for_country(c, "US") == us);
    CHECK(config_profile_for_country(c, "ES") == es);
    CHECK(config_profile_for_country(c, "GB") == uk);
    CHECK(config_profile_for_country(c, "FR") == NULL);
    for (int d = 0; d < 7; d++)
        CHECK_STR(hours(us, d), "08:00-21:00");
    CHECK_INT(us->legal[0].r[0].start, 8 * 60);
    CHECK_INT(us->legal[0].r[0].end, 21 * 60);
    CHECK_INT(us->call_cap, 7);
    CHECK_INT(us->call_cap_days, 7);
    CHECK_INT(us->call_cooldown_days, 7);
    CHECK(us->consent_required[CHAN_SMS]);
    CHECK(!us->consent_required[CHAN_EMAIL]);
    CHECK(!us->no_contact_on_holidays);
    CHECK_STR(us->holidays, "us");
    for (int d = 0; d < 5; d++)
        CHECK_STR(hours(es, d), "09:00-21:00");
    CHECK_INT(es->legal[5].n, 0);
    CHECK_INT(es->legal[6].n, 0);
    CHECK(es->no_contact_on_holidays);
    CHECK_STR(es->holidays, "es");
    for (int d = 0; d < 6; d++)
        CHECK_STR(hours(uk, d), "08:00-21:00");
    CHECK_STR(hours(uk, 6), "closed");
    CHECK(uk->no_contact_on_holidays);
    CHECK(uk->vulnerable_human_only);
    CHECK(!es->vulnerable_human_only);

    /* Calendars. */
    CHECK_INT(c->ncalendars, 3);
    const struct calendar *cus = config_calendar(c, "us");
    const struct calendar *ces = config_calendar(c, "es");
    const struct calendar *cuk = config_calendar(c, "uk");
    CHECK(cus && ces && cuk);
    if (!cus || !ces || !cuk)
        goto out;
    CHECK_STR(cuk->country, "GB");
    for (size_t i = 1; i < ces->n; i++)
        CHECK(ces->v[i - 1].day <= ces->v[i].day);
    /* US: observed dates. */
    CHECK(calendar_holiday(cus, day("2026-07-03"), NULL) != NULL);
    CHECK(calendar_holiday(cus, day("2027-07-05"), NULL) != NULL);
    CHECK(calendar_holiday(cus, day("2027-12-24"), NULL) != NULL);
    CHECK(calendar_holiday(cus, day("2026-11-26"), NULL) != NULL);
    CHECK(calendar_holiday(cus, day("2026-01-19"), "US-CA") != NULL);
    CHECK(calendar_holiday(cus, day("2026-07-06"), NULL) == NULL);
    /* Spain: national for everyone, regional only for the region. */
    const struct holiday *h = calendar_holiday(ces, day("2026-04-03"), "ES-CT");
    CHECK(h && streq(h->name, "Viernes Santo"));
    CHECK(calendar_holiday(ces, day("2026-04-03"), NULL) != NULL);
    CHECK(calendar_holiday(ces, day("2027-03-26"), "ES-MD") != NULL);
    h = calendar_holiday(ces, day("2026-05-02"), "ES-MD");
    CHECK(h && streq(h->name, "Fiesta de la Comunidad de Madrid"));
    CHECK(calendar_holiday(ces, day("2026-05-02"), "ES-CT") == NULL);
    CHECK(calendar_holiday(ces, day("2026-05-02"), NULL) == NULL);
    CHECK(calendar_holiday(ces, day("2026-09-11"), "ES-CT") != NULL);
    CHECK(calendar_holiday(ces, day("2026-12-26"), "ES-CT") != NULL);
    CHECK(calendar_holiday(ces, day("2026-12-26"), "ES-MD") == NULL);
    CHECK(calendar_holiday(ces, day("2026-04-02"), "ES-MD") != NULL); /* Holy Thursday */
    CHECK(calendar_holiday(ces, day("2026-04-02"), "ES-CT") == NULL);
    /* UK: Easter 2026 = 5 April, 2027 = 28 March; substitute days. */
    CHECK(calendar_holiday(cuk, day("2026-04-03"), NULL) != NULL);
    CHECK(calendar_holiday(cuk, day("2026-04-06"), "GB-ENG") != NULL);
    CHECK(calendar_holiday(cuk, day("2026-04-06"), "GB-SCT") == NULL);
    CHECK(calendar_holiday(cuk, day("2027-03-26"), NULL) != NULL);
    CHECK(calendar_holiday(cuk, day("2027-03-29"), "GB-WLS") != NULL);
    CHECK(calendar_holiday(cuk, day("2026-12-28"), NULL) != NULL);
    CHECK(calendar_holiday(cuk, day("2027-12-27"), NULL) != NULL);
    CHECK(calendar_holiday(cuk, day("2027-12-28"), NULL) != NULL);
    CHECK(calendar_holiday(cuk, day("2026-08-03"), "GB-SCT") != NULL);
    CHECK(calendar_holiday(cuk, day("2026-08-03"), "GB-ENG") == NULL);
    CHECK(calendar_holiday(cuk, day("2026-08-31"), "GB-ENG") != NULL);
    CHECK(calendar_holiday(cuk, day("2026-07-13"), "GB-NIR") != NULL);
    CHECK(calendar_holiday(cuk, day("2026-11-30"), "GB-SCT") != NULL);
    /* Every UK entry that is a bank holiday proper falls on a weekday. */
    for (size_t i = 0; i < cuk->n; i++)
        if (strstr(cuk->v[i].name, "substitute"))
            CHECK(weekday_from_days(cuk->v[i].day) < 5);
out:
    config_free(c);
}

/* ---- precedence, paths, defaults ----------------------------------- */

static void test_precedence(void)
{
    const char *good = src("tests/data/config/good/cadenza.yaml");
    struct config *c = load_ok(good, NULL);
    if (c) {
        CHECK_STR(c->store_path, src("tests/data/config/good/state/test.db"));
        CHECK_STR(c->redis_url, "unix:///run/redis/redis.sock");
    }
    config_free(c);

    setenv("CADENZA_STORE", "env.db", 1);
    setenv("CADENZA_REDIS", "redis://10.0.0.1:7000/2", 1);
    c = load_ok(good, NULL);
    if (c) {
        CHECK_STR(c->store_path, "env.db"); /* as given: not resolved */
        CHECK_STR(c->redis_url, "redis://10.0.0.1:7000/2");
    }
    config_free(c);

    struct config_overrides ov = { "/tmp/flag.db", "redis://flag:1" };
    c = load_ok(good, &ov);
    if (c) {
        CHECK_STR(c->store_path, "/tmp/flag.db");
        CHECK_STR(c->redis_url, "redis://flag:1");
    }
    config_free(c);

    /* one flag only: the other comes from the environment */
    struct config_overrides ov2 = { "flag.db", NULL };
    c = load_ok(good, &ov2);
    if (c) {
        CHECK_STR(c->store_path, "flag.db");
        CHECK_STR(c->redis_url, "redis://10.0.0.1:7000/2");
    }
    config_free(c);

    /* An empty variable counts as unset. */
    setenv("CADENZA_STORE", "", 1);
    unsetenv("CADENZA_REDIS");
    c = load_ok(good, NULL);
    if (c)
        CHECK_STR(c->store_path, src("tests/data/config/good/state/test.db"));
    config_free(c);
    unsetenv("CADENZA_STORE");

    /* A bad redis url from the environment has no position. */
    setenv("CADENZA_REDIS", "localhost:6379", 1);
    static const struct want w[] = {
        { NULL, 0, 0,
          "invalid redis url 'localhost:6379' (expected redis://host:port[/db] or "
          "unix:///path)" },
    };
    load_bad(good, w, 1);
    unsetenv("CADENZA_REDIS");

    /* CADENZA_CONFIG names the file when no path is given. */
    setenv("CADENZA_CONFIG", good, 1);
    c = load_ok(NULL, NULL);
    if (c) {
        CHECK_STR(c->file, good);
        CHECK_STR(c->default_time_zone, "Europe/Madrid");
    }
    config_free(c);
    /* ... but an explicit path wins. */
    c = load_ok(src("config/cadenza.yaml"), NULL);
    if (c)
        CHECK_STR(c->default_time_zone, "UTC");
    config_free(c);
    unsetenv("CADENZA_CONFIG");
}

static void test_redis_urls(void)
{
    static const char *const ok[] = {
        "redis://127.0.0.1:6379", "redis://localhost", "redis://cache.example.com:6380/15",
        "redis://[::1]:6379/0", "unix:///run/redis.sock",
    };
    static const char *const bad[] = {
        "redis://", "redis://:6379", "redis://h:0", "redis://h:65536", "redis://h:63x",
        "redis://h:6379/", "redis://h:6379/x", "unix://relative.sock", "unix://",
        "http://h:1", "redis://h h:1", "redis://[::1",
    };
    const char *good = src("tests/data/config/good/cadenza.yaml");
    for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
        setenv("CADENZA_REDIS", ok[i], 1);
        struct config *c = load_ok(good, NULL);
        if (!c)
            fprintf(stderr, "  rejected '%s'\n", ok[i]);
        config_free(c);
    }
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct diags d = DIAGS_INIT;
        struct config *c = NULL;
        setenv("CADENZA_REDIS", bad[i], 1);
        CHECK_INT(config_load(good, NULL, &c, &d), -EINVAL);
        CHECK_INT(d.n, 1);
        if (c)
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
        config_free(c);
        diags_release(&d);
    }
    unsetenv("CADENZA_REDIS");
}

static void test_relative_paths(void)
{
    struct config *c = load_ok(src("tests/data/config/good/cadenza.yaml"), NULL);
    if (!c)
        return;
    CHECK_STR(c->dir, src("tests/data/config/good"));
    CHECK_STR(c->strategy_dir, src("tests/data/config/good/../strategies-x"));
    CHECK_STR(c->template_dir, src("tests/data/config/good/tpl"));
    CHECK_STR(c->profile_dir, src("tests/data/config/good/profiles"));
    CHECK_STR(c->holiday_dir, src("tests/data/config/good/holidays"));
    CHECK_STR(c->http_listen, "[::1]:9000");
    CHECK_STR(c->redis_prefix, "t:");
    CHECK_STR(c->default_currency, "GBP");
    config_free(c);

    /* A relative config path: the directory is made absolute. */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    CHECK_INT(chdir(src("tests/data")), 0);
    c = load_ok("config/good/cadenza.yaml", NULL);
    if (c) {
        CHECK_STR(c->file, "config/good/cadenza.yaml");
        CHECK_STR(c->store_path, src("tests/data/config/good/state/test.db"));
    }
    config_free(c);
    CHECK_INT(chdir(cwd), 0);
}

static void test_defaults(void)
{
    char cwd[PATH_MAX], tmp[] = "/tmp/test-config-XXXXXX";
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    CHECK(mkdtemp(tmp) != NULL);
    CHECK_INT(chdir(tmp), 0);

    struct stat st;
    if (stat("/etc/cadenza/cadenza.yaml", &st) == 0) {
        fprintf(stderr, "  /etc/cadenza/cadenza.yaml exists: skipping the no-file case\n");
    } else {
        struct config *c = load_ok(NULL, NULL);
        if (c) {
            CHECK(c->file == NULL);
            CHECK_STR(c->store_path, "cadenza.db");
            CHECK_STR(c->redis_url, "redis://127.0.0.1:6379");
            CHECK_STR(c->redis_prefix, "cz:");
            CHECK_STR(c->http_listen, "127.0.0.1:8470");
            CHECK_STR(c->default_time_zone, "UTC");
            CHECK_STR(c->default_currency, "EUR");
            CHECK_INT(c->nchannels, 0);
            /* the data directory: installed, else the source tree */
            if (stat(CADENZA_DATADIR, &st) == 0) {
                CHECK_STR(c->profile_dir, CADENZA_DATADIR "/config/profiles");
            } else {
                CHECK_STR(c->profile_dir, CADENZA_SOURCE_ROOT "/config/profiles");
                CHECK_STR(c->holiday_dir, CADENZA_SOURCE_ROOT "/config/holidays");
                CHECK_STR(c->strategy_dir, CADENZA_SOURCE_ROOT "/strategies");
                CHECK_INT(c->nprofiles, 3);
                CHECK(config_profile(c, "es") != NULL);
            }
        }
        config_free(c);
    }

    /* ./config/cadenza.yaml is picked up when present; an empty file
     * means all defaults, and paths not set keep the data directory. */
    CHECK_INT(mkdir("config", 0700), 0);
    FILE *f = fopen("config/cadenza.yaml", "w");
    CHECK(f != NULL);
    if (f) {
        fputs("# nothing\n", f);
        fclose(f);
    }
    struct config *c = load_ok(NULL, NULL);
    if (c) {
        CHECK_STR(c->file, "config/cadenza.yaml");
        CHECK_STR(c->store_path, "cadenza.db");
        CHECK(c->nprofiles >= 3);
    }
    config_free(c);

    /* A missing named file is an errno, with a diagnostic naming the file. */
    struct diags d = DIAGS_INIT;
    c = NULL;
    CHECK_INT(config_load("nope.yaml", NULL, &c, &d), -ENOENT);
    CHECK(c == NULL);
    CHECK_INT(d.n, 1);
    diags_release(&d);
    d = (struct diags)DIAGS_INIT;

    /* A FIFO is refused at once, not waited on (it would block open()). */
    unlink("fifo.yaml");
    CHECK_INT(mkfifo("fifo.yaml", 0600), 0);
    CHECK_INT(config_load("fifo.yaml", NULL, &c, &d), -ESPIPE);
    CHECK(c == NULL);
    CHECK_INT(d.n, 1);
    if (d.n == 1)
        CHECK_STR(d.v[0].msg, "cannot read configuration file: not a regular file");
    unlink("fifo.yaml");
    diags_release(&d);
    d = (struct diags)DIAGS_INIT;

    /* A missing profile directory is reported. */
    f = fopen("config/cadenza.yaml", "w");
    if (f) {
        fputs("paths:\n  profiles: missing\n", f);
        fclose(f);
    }
    CHECK_INT(config_load(NULL, NULL, &c, &d), -EINVAL);
    CHECK_INT(d.n, 1);
    if (d.n == 1) {
        char want[PATH_MAX + 128];
        char *dir = realpath("config", NULL);
        snprintf(want, sizeof(want),
                 "cannot read profile directory '%s/missing': No such file or directory", dir);
        free(dir);
        CHECK_STR(d.v[0].msg, want);
        CHECK_STR(d.v[0].file, "config/cadenza.yaml");
    }
    diags_release(&d);

    unlink("config/cadenza.yaml");
    rmdir("config");
    CHECK_INT(chdir(cwd), 0);
    rmdir(tmp);
}

/* ---- validation errors --------------------------------------------- */

#define BM "tests/data/config/bad-main.yaml"

static void test_errors_main(void)
{
    static const struct want w[] = {
        { BM, 3, 8, "invalid redis url 'http://localhost:6379' (expected "
                    "redis://host:port[/db] or unix:///path)" },
        { BM, 4, 3, "unknown key 'prefx' in 'redis'; did you mean 'prefix'?" },
        { BM, 6, 11, "invalid listen address 'localhost' (expected host:port)" },
        { BM, 8, 14, "unknown time zone 'Europe/Atlantis'" },
        { BM, 9, 13, "invalid currency 'euro' (expected an ISO 4217 code like 'EUR')" },
        { BM, 15, 13, "unknown plugin 'logg' for channel 'sms'; did you mean 'log'?" },
        { BM, 16, 11, "unknown channel kind 'text' (email, sms, chat, call or letter)" },
        { BM, 17, 11, "'cost' must be a number, got 'cheap'" },
        { BM, 18, 22, "'hourly_capacity' must be between 0 and 10000000, got -1" },
        { BM, 22, 15, "'settings' must be a mapping, not a sequence" },
        { BM, 23, 3, "invalid channel name 'Bad.Name' (use a-z, 0-9, '-' and '_')" },
        { BM, 23, 3, "channel 'Bad.Name' has no 'plugin'" },
        { BM, 23, 3, "channel 'Bad.Name' has no 'kind'" },
        { BM, 25, 1, "unknown key 'chanels' in configuration; did you mean 'channels'?" },
    };
    load_bad(src(BM), w, ELEMENTSOF(w));

    static const struct want dup[] = {
        { "tests/data/config/dup-channel.yaml", 8, 3,
          "duplicate key 'sms' (first defined at line 2)" },
    };
    load_bad(src("tests/data/config/dup-channel.yaml"), dup, 1);

    /* the plugin's config map, applied at load (validate) time */
#define BS "tests/data/config/bad-settings.yaml"
    static const struct want set[] = {
        { BS, 6, 7, "unknown key 'pth' in settings of channel 'email' (plugin 'log'); "
                    "did you mean 'path'?" },
        { BS, 7, 19, "'fail_first' must be an integer, got 'many'" },
        { BS, 8, 22, "'send_delay_ms' must be between 0 and 600000, got -5" },
        { BS, 9, 19, "'fail_match' must be a string, not a sequence" },
    };
    load_bad(src(BS), set, ELEMENTSOF(set));

    static const struct want tz1[] = {
        { "tests/data/config/bad-tz.yaml", 2, 14, "unknown time zone '../../etc/passwd'" },
    };
    load_bad(src("tests/data/config/bad-tz.yaml"), tz1, 1);
    static const struct want tz2[] = {
        { "tests/data/config/abs-tz.yaml", 2, 14, "unknown time zone '/etc/localtime'" },
    };
    load_bad(src("tests/data/config/abs-tz.yaml"), tz2, 1);
    static const struct want tz3[] = {
        { "tests/data/config/dir-tz.yaml", 2, 14, "unknown time zone 'Europe'" },
    };
    load_bad(src("tests/data/config/dir-tz.yaml"), tz3, 1);
    static const struct want tz4[] = {
        { "tests/data/config/dot-tz.yaml", 2, 14, "unknown time zone './UTC'" },
    };
    load_bad(src("tests/data/config/dot-tz.yaml"), tz4, 1);
    static const struct want biz[] = {
        { "tests/data/config/bad-business.yaml", 2, 13,
          "'creditor' must be 1 to 30 characters (it has 39)" },
        { "tests/data/config/bad-business.yaml", 3, 16,
          "'agent_phone' must be 1 to 16 characters (it has 0)" },
        { "tests/data/config/bad-business.yaml", 4, 3,
          "unknown key 'agent_nme' in 'business'; did you mean 'agent_name'?" },
    };
    load_bad(src("tests/data/config/bad-business.yaml"), biz, ELEMENTSOF(biz));
}

#define BH "tests/data/config/bad-data/holidays/xx.yaml"
#define BA "tests/data/config/bad-data/profiles/a.yaml"
#define BB "tests/data/config/bad-data/profiles/b.yaml"

static void test_errors_data(void)
{
    char missing_cal[PATH_MAX + 128];
    snprintf(missing_cal, sizeof(missing_cal),
             "profile 'a' names holiday calendar 'nope', which does not exist in '%s'",
             src("tests/data/config/bad-data/holidays"));
    const struct want w[] = {
        { BH, 1, 11, "calendar name 'yy' does not match its file name 'xx.yaml'" },
        { BH, 4, 13, "invalid date '2026-02-30' (expected YYYY-MM-DD)" },
        { BH, 5, 51, "invalid region 'ES-MD' (expected an ISO 3166-2 code of XX, like "
                     "'XX-XX')" },
        { BH, 6, 5, "holiday has no 'name'" },
        { BH, 7, 36, "unknown key 'region' in holiday; did you mean 'regions'?" },
        { BA, 4, 3, "no hours for 'sun' in profile 'a' (write 'sun: closed' for no contact)" },
        { BA, 5, 8, "invalid time range '9-5', expected HH:MM-HH:MM" },
        { BA, 6, 3, "unknown key 'sunday' in 'hours'" },
        { BA, 7, 11, missing_cal },
        { BA, 9, 10, "'calls' needs both 'max' and 'days'" },
        { BA, 10, 25, "unknown channel kind 'fax' (email, sms, chat, call or letter)" },
        { BB, 1, 13, "invalid country 'xx' (expected ISO 3166-1 alpha-2, like 'ES')" },
        { BB, 1, 17, "country 'XX' is already covered by profile 'a'" },
        { BB, 1, 25, "country 'QQ' is listed twice" },
    };
    load_bad(src("tests/data/config/bad-data/cadenza.yaml"), w, ELEMENTSOF(w));
}

/* ---- the good fixture: profile details and lookups ------------------ */

static void test_good_fixture(void)
{
    struct config *c = load_ok(src("tests/data/config/good/cadenza.yaml"), NULL);
    if (!c)
        return;
    const struct channel_conf *ch = config_channel(c, "sms-a");
    CHECK(ch != NULL);
    if (ch) {
        CHECK_STR(ch->plugin, "log");
        CHECK(ch->desc != NULL && streq(ch->desc->name, "log"));
        CHECK_INT(ch->kind, CHAN_SMS);
        CHECK(ch->cost == 0.05);
        CHECK_INT(ch->hourly_capacity, 100);
        CHECK(ch->rate_limit == 2.5);
        CHECK_INT(ch->line, 17);
        CHECK_INT(ch->col, 3);
        CHECK(ch->settings != NULL);
        /* checked against the plugin's config map; a relative path is resolved */
        const struct plugin_value *v = plugin_settings_get(ch->values, "path");
        CHECK(v && v->set && v->text && strstr(v->text, "tests/data/config/good/sent.log"));
        v = plugin_settings_get(ch->values, "fail_first");
        CHECK(v && v->set && v->i == 2);
        v = plugin_settings_get(ch->values, "send_delay_ms");
        CHECK(v && !v->set && v->present && v->i == 0); /* the map's default */
    }
    ch = config_channel(c, "calls");
    CHECK(ch && ch->kind == CHAN_CALL && ch->settings == NULL && ch->cost == 0);

    const struct profile *p = config_profile(c, "zz");
    CHECK(p != NULL);
    if (p) {
        CHECK(config_profile_for_country(c, "ZY") == p);
        CHECK(config_profile_for_country(c, "zz") == p);
        CHECK_INT(p->ncountries, 2);
        /* weekdays override daily, a named day overrides both */
        CHECK_STR(hours(p, 0), "09:00-13:00, 16:00-20:00");
        CHECK_STR(hours(p, 3), "09:00-13:00, 16:00-20:00");
        CHECK_STR(hours(p, 4), "09:00-24:00");
        CHECK_INT(p->legal[4].r[0].end, 1440);
        CHECK_STR(hours(p, 5), "10:00-12:00");
        CHECK_STR(hours(p, 6), "closed");
        CHECK(p->no_contact_on_holidays);
        CHECK_INT(p->call_cap, 3);
        CHECK_INT(p->call_cap_days, 5);
        CHECK_INT(p->call_cooldown_days, 2);
        CHECK_INT(p->weekly_cap, 6);
        CHECK(p->consent_required[CHAN_CALL] && p->consent_required[CHAN_LETTER]);
        CHECK(!p->consent_required[CHAN_SMS]);
        CHECK(p->vulnerable_human_only);
        CHECK_STR(p->file, src("tests/data/config/good/profiles/zz.yaml"));
    }

    const struct calendar *cal = config_calendar(c, "zz");
    CHECK(cal != NULL);
    if (cal) {
        CHECK_INT(cal->n, 4);
        /* sorted by day, national before regional on one day */
        CHECK_STR(cal->v[0].name, "New Year");
        CHECK_STR(cal->v[1].name, "National June");
        CHECK_STR(cal->v[2].name, "Regional A");
        const struct holiday *h = calendar_holiday(cal, day("2026-06-01"), "ZZ-A");
        CHECK(h && streq(h->name, "National June"));
        CHECK(calendar_holiday(cal, day("2026-07-01"), "ZZ-C") != NULL);
        CHECK(calendar_holiday(cal, day("2026-07-01"), "zz-b") != NULL);
        CHECK(calendar_holiday(cal, day("2026-07-01"), "ZZ-A") == NULL);
        CHECK(calendar_holiday(cal, day("2026-07-01"), NULL) == NULL);
        CHECK(calendar_holiday(cal, day("2026-01-01"), NULL) != NULL);
        CHECK(calendar_holiday(cal, day("2025-12-31"), NULL) == NULL);
        CHECK(calendar_holiday(cal, day("2026-01-02"), NULL) == NULL);
        CHECK(calendar_holiday(cal, day("2030-01-01"), NULL) == NULL);
    }
    CHECK(config_calendar(c, "us") == NULL);
    config_free(c);
}

/* ---- day ranges ------------------------------------------------------ */

static void check_ranges(const char *in, const char *want_fmt)
{
    struct day_ranges dr;
    char err[160] = "", buf[160];
    int r = day_ranges_parse(in, &dr, err, sizeof(err));
    CHECK_INT(r, 0);
    if (r < 0) {
        fprintf(stderr, "  '%s': %s\n", in, err);
        return;
    }
    day_ranges_format(&dr, buf, sizeof(buf));
    CHECK_STR(buf, want_fmt);
}

static void check_ranges_bad(const char *in, const char *want_err)
{
    struct day_ranges dr = { .n = 99 };
    char err[160] = "";
    CHECK_INT(day_ranges_parse(in, &dr, err, sizeof(err)), -EINVAL);
    CHECK_INT(dr.n, 99); /* untouched on error */
    CHECK_STR(err, want_err);
}

static void test_day_ranges(void)
{
    check_ranges("09:00-13:00, 16:00-20:00", "09:00-13:00, 16:00-20:00");
    check_ranges("16:00-20:00,09:00-13:00", "09:00-13:00, 16:00-20:00");
    check_ranges("  08:00-21:00  ", "08:00-21:00");
    check_ranges("00:00-24:00", "00:00-24:00");
    check_ranges("20:00-24:00", "20:00-24:00");
    check_ranges("09:00-12:00, 12:00-14:00", "09:00-12:00, 12:00-14:00"); /* touching */
    check_ranges("closed", "closed");

    struct day_ranges dr;
    char err[160];
    CHECK_INT(day_ranges_parse("09:00-13:00, 16:00-20:30", &dr, err, sizeof(err)), 0);
    CHECK_INT(dr.n, 2);
    CHECK_INT(dr.r[0].start, 540);
    CHECK_INT(dr.r[0].end, 780);
    CHECK_INT(dr.r[1].start, 960);
    CHECK_INT(dr.r[1].end, 1230);
    CHECK_INT(day_ranges_parse("closed", &dr, err, sizeof(err)), 0);
    CHECK_INT(dr.n, 0);

    check_ranges_bad("", "empty time ranges (write 'closed' for no contact)");
    check_ranges_bad("   ", "empty time ranges (write 'closed' for no contact)");
    check_ranges_bad("09:00-13:00,", "empty time range in '09:00-13:00,'");
    check_ranges_bad("13:00-09:00", "time range '13:00-09:00' ends before it starts");
    check_ranges_bad("09:00-09:00", "time range '09:00-09:00' is empty");
    check_ranges_bad("09:00-13:00, 12:00-14:00",
                     "time ranges '09:00-13:00' and '12:00-14:00' overlap");
    check_ranges_bad("12:00-14:00, 09:00-18:00",
                     "time ranges '09:00-18:00' and '12:00-14:00' overlap");
    check_ranges_bad("25:00-26:00", "time out of range in '25:00-26:00' (00:00 to 24:00)");
    check_ranges_bad("09:00-25:00", "time out of range in '09:00-25:00' (00:00 to 24:00)");
    check_ranges_bad("24:00-24:00", "time out of range in '24:00-24:00' (00:00 to 24:00)");
    check_ranges_bad("09:60-10:00", "time out of range in '09:60-10:00' (00:00 to 24:00)");
    check_ranges_bad("09:00-24:30", "time out of range in '09:00-24:30' (00:00 to 24:00)");
    check_ranges_bad("9-5", "invalid time range '9-5', expected HH:MM-HH:MM");
    check_ranges_bad("9:00-17:00", "invalid time range '9:00-17:00', expected HH:MM-HH:MM");
    check_ranges_bad("09:00", "invalid time range '09:00', expected HH:MM-HH:MM");
    check_ranges_bad("09:00 - 17:00",
                     "invalid time range '09:00 - 17:00', expected HH:MM-HH:MM");
    check_ranges_bad("closed, 09:00-10:00",
                     "invalid time range 'closed', expected HH:MM-HH:MM");
    check_ranges_bad("01:00-02:00,02:00-03:00,03:00-04:00,04:00-05:00,05:00-06:00,"
                     "06:00-07:00,07:00-08:00,08:00-09:00,09:00-10:00",
                     "more than 8 time ranges");

    /* Format into a short buffer truncates safely. */
    char small[8];
    CHECK_INT(day_ranges_parse("09:00-13:00, 16:00-20:00", &dr, err, sizeof(err)), 0);
    day_ranges_format(&dr, small, sizeof(small));
    CHECK_STR(small, "09:00-1");
}

static void test_chan_kind(void)
{
    static const char *const names[] = { "email", "sms", "chat", "call", "letter" };
    for (int k = 0; k < _CHAN_KIND_MAX; k++) {
        CHECK_STR(chan_kind_to_string((enum chan_kind)k), names[k]);
        CHECK_INT(chan_kind_from_string(names[k]), k);
    }
    /* codes are stored in the database: pinned */
    CHECK_INT(CHAN_EMAIL, 0);
    CHECK_INT(CHAN_LETTER, 4);
    CHECK(chan_kind_to_string(_CHAN_KIND_MAX) == NULL);
    CHECK(chan_kind_to_string(_CHAN_KIND_INVALID) == NULL);
    CHECK_INT(chan_kind_from_string("SMS"), _CHAN_KIND_INVALID);
    CHECK_INT(chan_kind_from_string(""), _CHAN_KIND_INVALID);
    CHECK_INT(chan_kind_from_string(NULL), _CHAN_KIND_INVALID);
}

/* The `serve:` section: the daemon's scheduler (docs/configuration.md). */
static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_serve(void)
{
    char tmp[] = "/tmp/test-config-serve-XXXXXX", p[64];
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(p, sizeof(p), "%s/c.yaml", tmp);
    write_text(p, "defaults: { time_zone: Europe/Madrid }\n");
    struct config *c = load_ok(p, NULL);
    if (c) {
        CHECK_INT(c->serve_daily_run, -1); /* none: the daemon makes no daily run itself */
        CHECK(c->serve_time_zone == NULL);
        CHECK(c->serve_replan);
        CHECK_INT(c->serve_promise_check_ms, 300000);
    }
    config_free(c);
    write_text(p, "serve:\n  daily_run: \"06:30\"\n  time_zone: America/New_York\n"
                  "  replan: false\n  promise_check: 1.5\n");
    c = load_ok(p, NULL);
    if (c) {
        CHECK_INT(c->serve_daily_run, 6 * 3600 + 30 * 60);
        CHECK_STR(c->serve_time_zone, "America/New_York");
        CHECK(!c->serve_replan);
        CHECK_INT(c->serve_promise_check_ms, 1500);
    }
    config_free(c);
    write_text(p, "serve: { daily_run: \"23:59:59\" }\n");
    c = load_ok(p, NULL);
    if (c)
        CHECK_INT(c->serve_daily_run, 86399);
    config_free(c);
    write_text(p, "serve:\n  daily_run: \"6:00\"\n  time_zone: Mars/Olympus\n"
                  "  replan: maybe\n  promise_check: 0\n  dayly_run: x\n");
    const struct want w[] = {
        { NULL, 2, 14, "invalid time '6:00' for 'daily_run' (expected HH:MM or HH:MM:SS, "
                       "local time of serve.time_zone)" },
        { NULL, 3, 14, "unknown time zone 'Mars/Olympus'" },
        { NULL, 4, 11, "'replan' must be a boolean, got 'maybe'" },
        { NULL, 5, 18, "'promise_check' must be between 0.1 and 86400, got 0" },
        { NULL, 6, 3, "unknown key 'dayly_run' in 'serve'; did you mean 'daily_run'?" },
    };
    struct diags d = DIAGS_INIT;
    c = NULL;
    CHECK_INT(config_load(p, NULL, &c, &d), -EINVAL);
    diags_sort(&d);
    CHECK_INT(d.n, ELEMENTSOF(w));
    for (size_t i = 0; i < d.n && i < ELEMENTSOF(w); i++) {
        CHECK_INT(d.v[i].line, w[i].line);
        CHECK_INT(d.v[i].col, w[i].col);
        CHECK_STR(d.v[i].msg, w[i].msg);
    }
    diags_release(&d);
    config_free(c);
    unlink(p);
    rmdir(tmp);
}

static void run_init(void) { init(); }

TEST_MAIN({ "init", run_init }, { "shipped", test_shipped }, { "precedence", test_precedence },
          { "redis_urls", test_redis_urls }, { "relative_paths", test_relative_paths },
          { "defaults", test_defaults }, { "errors_main", test_errors_main },
          { "errors_data", test_errors_data }, { "good_fixture", test_good_fixture },
          { "day_ranges", test_day_ranges }, { "chan_kind", test_chan_kind },
          { "serve", test_serve })
