/*
 * config.c - load cadenza.yaml, the jurisdiction profiles and the holiday
 * calendars into one immutable struct config.
 *
 * Owns: every string and array hanging off struct config, and the ydoc of
 * cadenza.yaml (channel settings point into it).  It reads files and the
 * environment (CADENZA_CONFIG, CADENZA_STORE, CADENZA_REDIS, TZDIR) but
 * never prints, never opens the store and never connects anywhere.
 *
 * Invariants:
 *  1. Precedence: --flag over environment over file over built-in default,
 *     for store and redis url; a value from a flag or the environment is
 *     used as given (relative to the working directory).
 *  2. Every relative path written in a config file is resolved against the
 *     directory holding that file (made absolute when the file is loaded).
 *  3. Every problem in any file is reported (file:line:col), loading goes
 *     on after an error, and config_load() fails with -EINVAL if any was.
 *     An unknown key is always an error.
 *  4. Profiles and calendars are loaded in file-name order, so errors and
 *     the arrays are deterministic; a calendar's holidays are sorted by day
 *     (national before regional on the same day).
 *  5. Each country is covered by at most one profile; every calendar a
 *     profile names exists; every weekday of a profile has explicit hours.
 *  6. day_ranges are sorted, non-overlapping, each non-empty, inside
 *     [00:00, 24:00].
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cadenza-config.h"
#include "config.h"
#include "api.h"
#include "inbound.h"
#include "link.h"
#include "page.h"
#include "template.h"
#include "plugin.h"
#include "util.h"

/* ---- enum <-> string ------------------------------------------------ */

static const char *const chan_kind_names[_CHAN_KIND_MAX] = {
    [CHAN_EMAIL] = "email",
    [CHAN_SMS] = "sms",
    [CHAN_CHAT] = "chat",
    [CHAN_CALL] = "call",
    [CHAN_LETTER] = "letter",
};

const char *chan_kind_to_string(enum chan_kind k)
{
    if ((unsigned)k >= _CHAN_KIND_MAX)
        return NULL;
    return chan_kind_names[k];
}

enum chan_kind chan_kind_from_string(const char *s)
{
    if (!s)
        return _CHAN_KIND_INVALID;
    for (int i = 0; i < _CHAN_KIND_MAX; i++)
        if (streq(s, chan_kind_names[i]))
            return (enum chan_kind)i;
    return _CHAN_KIND_INVALID;
}

_Static_assert((int)CHAN_EMAIL == (int)CZ_KIND_EMAIL && (int)CHAN_SMS == (int)CZ_KIND_SMS &&
                   (int)CHAN_CHAT == (int)CZ_KIND_CHAT && (int)CHAN_CALL == (int)CZ_KIND_CALL &&
                   (int)CHAN_LETTER == (int)CZ_KIND_LETTER &&
                   (int)_CHAN_KIND_MAX == (int)CZ_KIND_MAX_,
               "enum chan_kind and the plugin ABI's enum cz_kind are one list");

static const char *const weekday_keys[7] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };

/* ---- day ranges ----------------------------------------------------- */

/* Parse exactly "HH:MM"; 24:00 only when allow_24. */
static int parse_hhmm(const char *s, size_t n, bool allow_24, int *ret)
{
    if (n != 5 || s[2] != ':')
        return -EINVAL;
    for (size_t i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -EINVAL;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
        return -ERANGE;
    *ret = h * 60 + m;
    return 0;
}

static void fmt_hhmm(int v, char buf[static 6])
{
    unsigned h = (unsigned)(v < 0 ? 0 : v > 1440 ? 1440 : v) / 60, m = (unsigned)v % 60;
    buf[0] = (char)('0' + h / 10);
    buf[1] = (char)('0' + h % 10);
    buf[2] = ':';
    buf[3] = (char)('0' + m / 10);
    buf[4] = (char)('0' + m % 10);
    buf[5] = 0;
}

static int range_cmp(const void *a, const void *b)
{
    const struct time_range *x = a, *y = b;
    return x->start - y->start;
}

int day_ranges_parse(const char *s, struct day_ranges *ret, char *err, size_t errlen)
{
    struct day_ranges dr = { .n = 0 };
    const char *p = s;

    while (*p == ' ' || *p == '\t')
        p++;
    if (streq(p, "closed") || (strncmp(p, "closed", 6) == 0 && !p[6 + strspn(p + 6, " \t")])) {
        *ret = dr;
        return 0;
    }
    if (!*p) {
        snprintf(err, errlen, "empty time ranges (write 'closed' for no contact)");
        return -EINVAL;
    }
    for (;;) {
        size_t n = strcspn(p, ",");
        const char *e = p + n;
        /* trim */
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        size_t len = (size_t)(b - a);
        const char *dash = memchr(a, '-', len);
        int start = 0, end = 0, r1 = -EINVAL, r2 = -EINVAL;
        if (len == 0) {
            snprintf(err, errlen, "empty time range in '%s'", s);
            return -EINVAL;
        }
        if (dash) {
            r1 = parse_hhmm(a, (size_t)(dash - a), false, &start);
            r2 = parse_hhmm(dash + 1, (size_t)(b - dash - 1), true, &end);
        }
        if (r1 == -ERANGE || r2 == -ERANGE) {
            snprintf(err, errlen, "time out of range in '%.*s' (00:00 to 24:00)", (int)len, a);
            return -EINVAL;
        }
        if (r1 < 0 || r2 < 0) {
            snprintf(err, errlen, "invalid time range '%.*s', expected HH:MM-HH:MM", (int)len,
                     a);
            return -EINVAL;
        }
        if (end <= start) {
            snprintf(err, errlen, "time range '%.*s' %s", (int)len, a,
                     end == start ? "is empty" : "ends before it starts");
            return -EINVAL;
        }
        if (dr.n >= DAY_RANGES_MAX) {
            snprintf(err, errlen, "more than %d time ranges", DAY_RANGES_MAX);
            return -EINVAL;
        }
        dr.r[dr.n].start = (int16_t)start;
        dr.r[dr.n].end = (int16_t)end;
        dr.n++;
        if (!*e)
            break;
        p = e + 1;
    }
    qsort(dr.r, dr.n, sizeof(dr.r[0]), range_cmp);
    for (unsigned i = 1; i < dr.n; i++) {
        if (dr.r[i].start < dr.r[i - 1].end) {
            char a1[6], a2[6], b1[6], b2[6];
            fmt_hhmm(dr.r[i - 1].start, a1);
            fmt_hhmm(dr.r[i - 1].end, a2);
            fmt_hhmm(dr.r[i].start, b1);
            fmt_hhmm(dr.r[i].end, b2);
            snprintf(err, errlen, "time ranges '%s-%s' and '%s-%s' overlap", a1, a2, b1, b2);
            return -EINVAL;
        }
    }
    *ret = dr;
    return 0;
}

void day_ranges_format(const struct day_ranges *dr, char *buf, size_t len)
{
    struct sbuf b = SBUF_INIT;
    if (len == 0)
        return;
    if (dr->n == 0) {
        snprintf(buf, len, "closed");
        return;
    }
    for (unsigned i = 0; i < dr->n; i++) {
        char s[6], e[6];
        fmt_hhmm(dr->r[i].start, s);
        fmt_hhmm(dr->r[i].end, e);
        if (sbuf_addf(&b, "%s%s-%s", i ? ", " : "", s, e) < 0)
            break;
    }
    snprintf(buf, len, "%s", b.buf ? b.buf : "");
    sbuf_release(&b);
}

/* ---- freeing -------------------------------------------------------- */

static void profile_release(struct profile *p)
{
    free(p->name);
    free(p->file);
    strv_free(p->countries, p->ncountries);
    free(p->holidays);
    template_rules_free(p->template_rules);
}

static void calendar_release(struct calendar *cal)
{
    free(cal->name);
    free(cal->country);
    free(cal->file);
    for (size_t i = 0; i < cal->n; i++) {
        free(cal->v[i].name);
        strv_free(cal->v[i].regions, cal->v[i].nregions);
    }
    free(cal->v);
}

void config_free(struct config *c)
{
    if (!c)
        return;
    free(c->file);
    free(c->dir);
    free(c->store_path);
    free(c->redis_url);
    free(c->redis_prefix);
    free(c->http_listen);
    free(c->serve_time_zone);
    free(c->default_time_zone);
    free(c->strategy_dir);
    free(c->template_dir);
    free(c->profile_dir);
    free(c->holiday_dir);
    free(c->plugin_dir);
    free(c->default_currency);
    for (size_t i = 0; i < _CONFIG_BUSINESS_MAX; i++)
        free(c->business[i]);
    free(c->default_country);
    free(c->default_locale);
    link_conf_free(c->links);
    api_conf_free(c->api);
    inbound_conf_free(c->inbound);
    page_conf_free(c->selfservice);
    for (size_t i = 0; i < c->nchannels; i++) {
        free(c->channels[i].name);
        free(c->channels[i].plugin);
        free(c->channels[i].fallback);
        plugin_settings_free(c->channels[i].values);
    }
    free(c->channels);
    for (size_t i = 0; i < c->nprofiles; i++)
        profile_release(&c->profiles[i]);
    free(c->profiles);
    for (size_t i = 0; i < c->ncalendars; i++)
        calendar_release(&c->calendars[i]);
    free(c->calendars);
    ydoc_free(c->doc);
    plugin_set_free(c->plugins); /* last: instances and values may point into plugins */
    free(c);
}

/* ---- small helpers -------------------------------------------------- */

struct loader {
    struct config *c;
    struct diags *d;
    int oom;
};

static char *xstrdup(struct loader *l, const char *s)
{
    char *r = strdup(s);
    if (!r)
        l->oom = 1;
    return r;
}

/* Replace *dst with a copy of s. */
static void set_str(struct loader *l, char **dst, const char *s)
{
    char *n = xstrdup(l, s);
    if (!n)
        return;
    free(*dst);
    *dst = n;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir + "/" + p, or p when absolute (invariant 2). */
static char *path_resolve(const char *dir, const char *p)
{
    if (p[0] == '/' || !dir)
        return strdup(p);
    return strdupf("%s/%s", dir, p);
}

/* The directory holding path, absolute. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d;
    if (!slash)
        d = strdup(".");
    else if (slash == path)
        d = strdup("/");
    else
        d = strndup(path, (size_t)(slash - path));
    if (!d)
        return NULL;
    char *abs = realpath(d, NULL);
    if (abs) {
        free(d);
        return abs;
    }
    return d;
}

/*
 * Where the shipped data lives: the installed data directory when it
 * exists, else the source tree (uninstalled builds).
 */
static char *data_path(const char *sub_installed, const char *sub_source)
{
    if (is_dir(CADENZA_DATADIR))
        return strdupf("%s/%s", CADENZA_DATADIR, sub_installed);
    return strdupf("%s/%s", CADENZA_SOURCE_ROOT, sub_source);
}

static const char *getenv_nonempty(const char *name)
{
    const char *v = getenv(name);
    return isempty(v) ? NULL : v;
}

static void err_at(struct loader *l, const struct ynode *n, const char *fmt, ...)
    _printf_(3, 4);
static void err_at(struct loader *l, const struct ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (diags_vadd(l->d, DIAG_ERROR, n ? n->file : l->c->file, n ? n->line : 0,
                   n ? n->col : 0, fmt, ap) < 0)
        l->oom = 1;
    va_end(ap);
}

/* Read a string value (when the key is present). */
static int get_str(struct loader *l, const struct ynode *map, const char *key,
                   const char **ret)
{
    const struct ynode *n = ynode_get(map, key);
    if (!n)
        return 0;
    const char *s;
    if (ynode_str(n, key, &s, l->d) < 0)
        return -EINVAL;
    *ret = s;
    return 1;
}

/* A map node, or NULL (absent, or a type error already reported). */
static const struct ynode *get_map(struct loader *l, const struct ynode *map, const char *key,
                                   const char *const *allowed, const char *where)
{
    const struct ynode *n = ynode_get(map, key);
    if (!n)
        return NULL;
    if (ynode_expect(n, YNODE_MAP, key, l->d) < 0)
        return NULL;
    ynode_check_keys(n, allowed, where, l->d);
    return n;
}

static bool valid_name(const char *s)
{
    if (isempty(s) || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_'))
            return false;
    return true;
}

/* ---- value checks --------------------------------------------------- */

static bool parse_port(const char *s, size_t n, bool allow_zero)
{
    int64_t v;
    if (n == 0 || n > 5 || strspn(s, "0123456789") < n)
        return false;
    if (parse_int64(s, n, &v) < 0)
        return false;
    return v <= 65535 && (allow_zero || v > 0);
}

/* host:port with host a name, an IPv4 address or [IPv6]. */
static bool hostport_valid(const char *s, size_t n, bool port_required, bool allow_zero)
{
    const char *end = s + n, *hp;
    size_t hlen;
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb || rb == s + 1)
            return false;
        for (const char *p = s + 1; p < rb; p++)
            if (!strchr("0123456789abcdefABCDEF:.", *p))
                return false;
        hp = rb + 1;
        if (hp == end)
            return !port_required;
        if (*hp != ':')
            return false;
        return parse_port(hp + 1, (size_t)(end - hp - 1), allow_zero);
    }
    const char *colon = memrchr(s, ':', n);
    hlen = colon ? (size_t)(colon - s) : n;
    if (hlen == 0)
        return false;
    for (size_t i = 0; i < hlen; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return false;
    }
    if (!colon)
        return !port_required;
    return parse_port(colon + 1, (size_t)(end - colon - 1), allow_zero);
}

/* redis://host[:port][/db] or unix:///absolute/path */
static bool redis_url_valid(const char *u)
{
    if (strncmp(u, "unix://", 7) == 0)
        return u[7] == '/' && u[8] && !strstr(u, "/../");
    if (strncmp(u, "redis://", 8) != 0)
        return false;
    const char *h = u + 8, *slash = strchr(h, '/');
    size_t hlen = slash ? (size_t)(slash - h) : strlen(h);
    if (!hostport_valid(h, hlen, false, false))
        return false;
    if (slash) {
        const char *db = slash + 1;
        size_t dl = strlen(db);
        int64_t v;
        if (dl == 0 || dl > 4 || strspn(db, "0123456789") != dl ||
            parse_int64(db, dl, &v) < 0)
            return false;
    }
    return true;
}

/* Does the tz database hold this zone (a regular TZif file)? */
static bool time_zone_exists(const char *name)
{
    const char *dir = getenv_nonempty("TZDIR");
    char magic[4];
    bool ok = false;

    /* Same syntax as tz_name_valid(): '/'-separated [A-Za-z0-9_+-]
     * components, so no "..", no absolute path, nothing outside the dir. */
    if (isempty(name) || name[0] == '/' || strstr(name, "..") || strlen(name) > 128)
        return false;
    for (const char *q = name; *q; q++) {
        bool ok_char = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                       (*q >= '0' && *q <= '9') || *q == '_' || *q == '+' || *q == '-';
        if (*q == '/' ? (q[1] == '/' || q[1] == 0) : !ok_char)
            return false;
    }
    _cleanup_free_ char *p = strdupf("%s/%s", dir ? dir : "/usr/share/zoneinfo", name);
    if (!p || !is_file(p))
        return false;
    int fd = open_regular(p);
    if (fd < 0)
        return false;
    ok = read(fd, magic, 4) == 4 && memcmp(magic, "TZif", 4) == 0;
    close(fd);
    return ok;
}

static bool currency_valid(const char *s)
{
    return strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
           s[2] >= 'A' && s[2] <= 'Z';
}

bool config_locale_valid(const char *s)
{
    size_t n = strlen(s), lang = strspn(s, "abcdefghijklmnopqrstuvwxyz");
    if (lang < 2 || lang > 3)
        return false;
    if (n == lang)
        return true;
    return n == lang + 3 && s[lang] == '-' && s[lang + 1] >= 'A' && s[lang + 1] <= 'Z' &&
           s[lang + 2] >= 'A' && s[lang + 2] <= 'Z';
}

static bool country_valid(const char *s)
{
    return strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

/* ISO 3166-2 subdivision of country cc: "ES-MD", "GB-SCT". */
static bool region_valid(const char *s, const char *cc)
{
    size_t n = strlen(s);
    if (n < 4 || n > 6 || strncmp(s, cc, 2) != 0 || s[2] != '-')
        return false;
    for (size_t i = 3; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* ---- cadenza.yaml --------------------------------------------------- */

static const char *const top_keys[] = {
    "store", "redis", "http", "defaults", "business", "paths", "channels", "links", "api",
    "serve", "inbound", "selfservice", NULL,
};
static const char *const redis_keys[] = { "url", "prefix", "timeout", NULL };
static const char *const http_keys[] = { "listen", NULL };
static const char *const serve_keys[] = { "daily_run", "time_zone", "replan", "promise_check",
                                          NULL };

/* "HH:MM" or "HH:MM:SS" (00:00 to 23:59:59) -> seconds after midnight, or -1. */
static int32_t parse_clock(const char *s)
{
    size_t n = strlen(s);
    int v[3] = { 0, 0, 0 };
    if (n != 5 && n != 8)
        return -1;
    for (size_t i = 0, k = 0; i < n; i += 3, k++) {
        if (s[i] < '0' || s[i] > '9' || s[i + 1] < '0' || s[i + 1] > '9' ||
            (i + 2 < n && s[i + 2] != ':'))
            return -1;
        v[k] = (s[i] - '0') * 10 + s[i + 1] - '0';
    }
    if (v[0] > 23 || v[1] > 59 || v[2] > 59)
        return -1;
    return v[0] * 3600 + v[1] * 60 + v[2];
}
static const char *const defaults_keys[] = { "time_zone", "currency", "country", "locale",
                                             NULL };
/* key, longest value (the lengths templates' SMS segment counts assume) */
static const struct {
    const char *key;
    size_t max;
} business_keys[_CONFIG_BUSINESS_MAX] = {
    [CONFIG_CREDITOR] = { "creditor", 30 },
    [CONFIG_BUSINESS_NAME] = { "business_name", 30 },
    [CONFIG_AGENT_NAME] = { "agent_name", 20 },
    [CONFIG_AGENT_PHONE] = { "agent_phone", 16 },
};
static const char *const business_names[] = { "creditor", "business_name", "agent_name",
                                              "agent_phone", NULL };
static const char *const paths_keys[] = {
    "strategies", "templates", "profiles", "holidays", "plugins", NULL,
};
static const char *const channel_keys[] = {
    "plugin", "kind", "cost", "hourly_capacity", "rate_limit", "settings", "fallback",
    "breaker", NULL,
};
static const char *const breaker_keys[] = { "failures", "cooldown", NULL };

/* A path key: resolved against the file's directory. */
static void get_path(struct loader *l, const struct ynode *map, const char *key, char **dst)
{
    const char *s;
    if (get_str(l, map, key, &s) <= 0)
        return;
    if (!*s) {
        err_at(l, ynode_get(map, key), "'%s' must not be empty", key);
        return;
    }
    char *p = path_resolve(l->c->dir, s);
    if (!p) {
        l->oom = 1;
        return;
    }
    free(*dst);
    *dst = p;
}

static void load_channel(struct loader *l, const struct ynode *key, const struct ynode *n,
                         struct channel_conf *ch)
{
    _cleanup_free_ char *where = strdupf("channel '%s'", key->str);
    const char *s;
    int64_t iv;
    double dv;

    ch->line = key->line;
    ch->col = key->col;
    ch->kind = _CHAN_KIND_INVALID;
    ch->name = xstrdup(l, key->str);
    if (!where) {
        l->oom = 1;
        return;
    }
    if (!valid_name(key->str))
        err_at(l, key, "invalid channel name '%s' (use a-z, 0-9, '-' and '_')", key->str);
    if (ynode_expect(n, YNODE_MAP, key->str, l->d) < 0)
        return;
    ynode_check_keys(n, channel_keys, where, l->d);

    if (get_str(l, n, "plugin", &s) > 0) {
        ch->plugin = xstrdup(l, s);
        char why[512];
        int r = l->c->plugins ? plugin_set_get(l->c->plugins, s, &ch->desc, why, sizeof(why))
                              : -ENOMEM;
        if (r == -ENOMEM)
            l->oom = 1;
        else if (r == -EINVAL)
            err_at(l, ynode_get(n, "plugin"), "%s", why);
        else if (r < 0) {
            const char *names[64];
            size_t k = plugin_set_names(l->c->plugins, names, ELEMENTSOF(names));
            const char *near = closest_word(s, names, k);
            if (near)
                err_at(l, ynode_get(n, "plugin"),
                       "unknown plugin '%s' for %s; did you mean '%s'?", s, where, near);
            else
                err_at(l, ynode_get(n, "plugin"), "unknown plugin '%s' for %s%s", s, where,
                       l->c->plugin_dir ? "" : " (paths.plugins is not set)");
        }
    } else if (!ynode_get(n, "plugin")) {
        err_at(l, key, "%s has no 'plugin'", where);
    }

    if (get_str(l, n, "kind", &s) > 0) {
        ch->kind = chan_kind_from_string(s);
        if (ch->kind == _CHAN_KIND_INVALID) {
            const char *near = closest_word(s, chan_kind_names, _CHAN_KIND_MAX);
            if (near)
                err_at(l, ynode_get(n, "kind"),
                       "unknown channel kind '%s'; did you mean '%s'?", s, near);
            else
                err_at(l, ynode_get(n, "kind"),
                       "unknown channel kind '%s' (email, sms, chat, call or letter)", s);
        }
    } else if (!ynode_get(n, "kind")) {
        err_at(l, key, "%s has no 'kind'", where);
    }

    const struct ynode *v;
    if ((v = ynode_get(n, "cost")) && ynode_double(v, "cost", 0, 1e6, &dv, l->d) == 0)
        ch->cost = dv;
    if ((v = ynode_get(n, "hourly_capacity")) &&
        ynode_int(v, "hourly_capacity", 0, 10000000, &iv, l->d) == 0)
        ch->hourly_capacity = (int)iv;
    if ((v = ynode_get(n, "rate_limit")) &&
        ynode_double(v, "rate_limit", 0, 1e6, &dv, l->d) == 0)
        ch->rate_limit = dv;
    if ((v = ynode_get(n, "settings")) && v->type != YNODE_NULL &&
        ynode_expect(v, YNODE_MAP, "settings", l->d) == 0)
        ch->settings = v;
    ch->breaker_failures = 5;
    ch->breaker_cooldown_ms = 30000;
    if (get_str(l, n, "fallback", &s) > 0)
        ch->fallback = xstrdup(l, s); /* checked once every channel is known */
    const struct ynode *b = get_map(l, n, "breaker", breaker_keys, "'breaker'");
    if (b) {
        if ((v = ynode_get(b, "failures")) &&
            ynode_int(v, "failures", 1, 1000, &iv, l->d) == 0)
            ch->breaker_failures = (int)iv;
        if ((v = ynode_get(b, "cooldown")) &&
            ynode_double(v, "cooldown", 0.1, 86400, &dv, l->d) == 0)
            ch->breaker_cooldown_ms = (int64_t)(dv * 1000);
    }
    v = ynode_get(n, "settings");
    bool settings_bad = v && v->type != YNODE_NULL && !ch->settings; /* reported above */
    if (ch->desc && !settings_bad) {
        if (ch->kind >= 0 && !(ch->desc->kinds & CZ_KIND_BIT(ch->kind)))
            err_at(l, ynode_get(n, "kind"), "plugin '%s' cannot serve kind '%s'", ch->plugin,
                   chan_kind_to_string(ch->kind));
        int r = plugin_settings_parse(ch->desc, ch->settings, key, where, l->c->dir, &ch->values,
                                      l->d);
        if (r == -ENOMEM)
            l->oom = 1;
    }
}

static void load_main(struct loader *l, const struct ynode *root)
{
    struct config *c = l->c;
    const struct ynode *m, *v;
    const char *s;

    if (root->type == YNODE_NULL)
        return; /* an empty file: all defaults */
    if (ynode_expect(root, YNODE_MAP, "configuration", l->d) < 0)
        return;
    ynode_check_keys(root, top_keys, "configuration", l->d);

    get_path(l, root, "store", &c->store_path);

    if ((m = get_map(l, root, "redis", redis_keys, "'redis'"))) {
        if (get_str(l, m, "url", &s) > 0) {
            if (redis_url_valid(s))
                set_str(l, &c->redis_url, s);
            else
                err_at(l, ynode_get(m, "url"),
                       "invalid redis url '%s' (expected redis://host:port[/db] or "
                       "unix:///path)", s);
        }
        if (get_str(l, m, "prefix", &s) > 0) {
            if (strlen(s) > 64 || strpbrk(s, " \t\r\n{}"))
                err_at(l, ynode_get(m, "prefix"),
                       "invalid redis prefix '%s' (at most 64 characters, no spaces or "
                       "braces)", s);
            else
                set_str(l, &c->redis_prefix, s);
        }
        double dv;
        const struct ynode *t = ynode_get(m, "timeout");
        if (t && ynode_double(t, "timeout", 0.01, 3600, &dv, l->d) == 0)
            c->redis_timeout_ms = (int64_t)(dv * 1000 + 0.5);
    }
    if ((m = get_map(l, root, "http", http_keys, "'http'"))) {
        if (get_str(l, m, "listen", &s) > 0) {
            if (hostport_valid(s, strlen(s), true, true))
                set_str(l, &c->http_listen, s);
            else
                err_at(l, ynode_get(m, "listen"),
                       "invalid listen address '%s' (expected host:port)", s);
        }
    }
    if ((m = get_map(l, root, "serve", serve_keys, "'serve'"))) {
        if (get_str(l, m, "daily_run", &s) > 0) {
            int32_t t = parse_clock(s);
            if (t < 0)
                err_at(l, ynode_get(m, "daily_run"),
                       "invalid time '%s' for 'daily_run' (expected HH:MM or HH:MM:SS, local "
                       "time of serve.time_zone)", s);
            else
                c->serve_daily_run = t;
        }
        if (get_str(l, m, "time_zone", &s) > 0) {
            if (time_zone_exists(s))
                set_str(l, &c->serve_time_zone, s);
            else
                err_at(l, ynode_get(m, "time_zone"), "unknown time zone '%s'", s);
        }
        if ((v = ynode_get(m, "replan")))
            (void)ynode_bool(v, "replan", &c->serve_replan, l->d);
        double dv;
        if ((v = ynode_get(m, "promise_check")) &&
            ynode_double(v, "promise_check", 0.1, 86400, &dv, l->d) == 0)
            c->serve_promise_check_ms = (int64_t)(dv * 1000 + 0.5);
    }
    if ((m = get_map(l, root, "defaults", defaults_keys, "'defaults'"))) {
        if (get_str(l, m, "time_zone", &s) > 0) {
            if (time_zone_exists(s))
                set_str(l, &c->default_time_zone, s);
            else
                err_at(l, ynode_get(m, "time_zone"), "unknown time zone '%s'", s);
        }
        if (get_str(l, m, "currency", &s) > 0) {
            if (currency_valid(s))
                set_str(l, &c->default_currency, s);
            else
                err_at(l, ynode_get(m, "currency"),
                       "invalid currency '%s' (expected an ISO 4217 code like 'EUR')", s);
        }
        if (get_str(l, m, "country", &s) > 0) {
            if (country_valid(s))
                set_str(l, &c->default_country, s);
            else
                err_at(l, ynode_get(m, "country"),
                       "invalid country '%s' (expected an ISO 3166-1 alpha-2 code like 'ES')",
                       s);
        }
        if (get_str(l, m, "locale", &s) > 0) {
            if (config_locale_valid(s))
                set_str(l, &c->default_locale, s);
            else
                err_at(l, ynode_get(m, "locale"),
                       "invalid locale '%s' (expected a language like 'es' or 'en-GB')", s);
        }
    }
    if ((m = get_map(l, root, "business", business_names, "'business'"))) {
        for (size_t i = 0; i < _CONFIG_BUSINESS_MAX; i++) {
            if (get_str(l, m, business_keys[i].key, &s) <= 0)
                continue;
            size_t n = utf8_chars(s);
            if (n == 0 || n > business_keys[i].max)
                err_at(l, ynode_get(m, business_keys[i].key),
                       "'%s' must be 1 to %zu characters (it has %zu)", business_keys[i].key,
                       business_keys[i].max, n);
            else
                set_str(l, &c->business[i], s);
        }
    }
    if ((m = get_map(l, root, "paths", paths_keys, "'paths'"))) {
        get_path(l, m, "strategies", &c->strategy_dir);
        get_path(l, m, "templates", &c->template_dir);
        get_path(l, m, "profiles", &c->profile_dir);
        get_path(l, m, "holidays", &c->holiday_dir);
        get_path(l, m, "plugins", &c->plugin_dir);
    }
    if (plugin_set_new(c->plugin_dir, &c->plugins) < 0)
        l->oom = 1;

    if ((v = ynode_get(root, "channels")) && v->type != YNODE_NULL &&
        ynode_expect(v, YNODE_MAP, "channels", l->d) == 0 && v->n > 0) {
        c->channels = calloc(v->n, sizeof(*c->channels));
        if (!c->channels) {
            l->oom = 1;
            return;
        }
        /* ynode already rejects two channels with one name (duplicate keys) */
        for (size_t i = 0; i < v->n; i++)
            load_channel(l, v->keys[i], v->items[i], &c->channels[c->nchannels++]);
        /* a fallback is another channel of the same kind, itself without one */
        for (size_t i = 0; i < c->nchannels; i++) {
            struct channel_conf *ch = &c->channels[i];
            if (!ch->fallback)
                continue;
            const struct ynode *at = ynode_get(v->items[i], "fallback");
            const struct channel_conf *fb = config_channel(c, ch->fallback);
            if (!fb) {
                const char *names[256];
                size_t k = 0;
                for (size_t j = 0; j < c->nchannels && k < ELEMENTSOF(names); j++)
                    if (c->channels[j].name)
                        names[k++] = c->channels[j].name;
                const char *near = closest_word(ch->fallback, names, k);
                err_at(l, at, "unknown fallback channel '%s' for channel '%s'%s%s%s",
                       ch->fallback, ch->name, near ? "; did you mean '" : "",
                       near ? near : "", near ? "'?" : "");
            } else if (fb == ch)
                err_at(l, at, "channel '%s' cannot be its own fallback", ch->name);
            else if (fb->kind != ch->kind)
                err_at(l, at, "fallback '%s' of channel '%s' is a %s channel, not %s",
                       fb->name, ch->name, chan_kind_to_string(fb->kind),
                       chan_kind_to_string(ch->kind));
            else if (fb->fallback)
                err_at(l, at, "fallback '%s' of channel '%s' has a fallback itself; chains are "
                              "not followed", fb->name, ch->name);
        }
    }

    /* links: parsed by link.c (secrets, key ids, TTLs); docs/links.md */
    if ((v = ynode_get(root, "links")) && v->type != YNODE_NULL &&
        link_conf_load(v, c->dir, &c->links, l->d) == -ENOMEM)
        l->oom = 1;
    /* api: the outcome API's keys, parsed by api.c; docs/api.md */
    if ((v = ynode_get(root, "api")) && v->type != YNODE_NULL &&
        api_conf_load(v, c->dir, &c->api, l->d) == -ENOMEM)
        l->oom = 1;
    /* inbound: stop words and the opt-out confirmation, parsed by inbound.c */
    if ((v = ynode_get(root, "inbound")) && v->type != YNODE_NULL &&
        inbound_conf_load(v, &c->inbound, l->d) == -ENOMEM)
        l->oom = 1;
    /* selfservice: the page behind the links, parsed by page.c; docs/selfservice.md */
    if ((v = ynode_get(root, "selfservice")) && v->type != YNODE_NULL &&
        page_conf_load(v, &c->selfservice, l->d) == -ENOMEM)
        l->oom = 1;
    /* the page names the creditor and the number the messages name */
    if (!c->selfservice && !(c->selfservice = page_conf_new()))
        l->oom = 1;
    if (c->selfservice &&
        ((c->business[CONFIG_CREDITOR] &&
          !(c->selfservice->creditor = strdup(c->business[CONFIG_CREDITOR]))) ||
         (c->business[CONFIG_AGENT_PHONE] &&
          !(c->selfservice->support_phone = strdup(c->business[CONFIG_AGENT_PHONE])))))
        l->oom = 1;
}

/* ---- directories of YAML files -------------------------------------- */

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The *.yaml names in dir, sorted (invariant 4).  Returns the count or
 * -errno.
 */
static int list_yaml(const char *dir, char ***ret)
{
    DIR *dp = opendir(dir);
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;

    if (!dp)
        return -errno;
    while ((de = readdir(dp))) {
        size_t len = strlen(de->d_name);
        if (len <= 5 || de->d_name[0] == '.' || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **nv = reallocarray(v, nc, sizeof(*v));
            if (!nv)
                goto oom;
            v = nv;
            cap = nc;
        }
        if (!(v[n] = strdup(de->d_name)))
            goto oom;
        n++;
    }
    closedir(dp);
    if (n)
        qsort(v, n, sizeof(*v), strp_cmp);
    *ret = v;
    return (int)n;
oom:
    closedir(dp);
    strv_free(v, n);
    return -ENOMEM;
}

/* Load every YAML file in dir with fn; returns -ENOMEM only. */
static int load_dir(struct loader *l, const char *dir, const char *what,
                    void (*fn)(struct loader *l, const char *name, const struct ynode *root,
                               const char *path))
{
    char **names = NULL;
    int n = list_yaml(dir, &names);
    if (n == -ENOMEM)
        return -ENOMEM;
    if (n < 0) {
        err_at(l, NULL, "cannot read %s directory '%s': %s", what, dir, strerror(-n));
        return 0;
    }
    for (int i = 0; i < n; i++) {
        _cleanup_free_ char *path = strdupf("%s/%s", dir, names[i]);
        struct ydoc *doc = NULL;
        if (!path) {
            l->oom = 1;
            break;
        }
        int r = ydoc_load(path, &doc, l->d);
        if (r == -ENOMEM) {
            l->oom = 1;
            break;
        }
        if (r < 0 && r != -EINVAL)
            err_at(l, NULL, "cannot read %s '%s': %s", what, path, file_strerror(r));
        if (r == 0) {
            names[i][strlen(names[i]) - 5] = 0;
            fn(l, names[i], doc->root, path);
        }
        ydoc_free(doc);
    }
    strv_free(names, (size_t)(n > 0 ? n : 0));
    return l->oom ? -ENOMEM : 0;
}

/* ---- holiday calendars ---------------------------------------------- */

static const char *const calendar_keys[] = { "calendar", "country", "holidays", NULL };
static const char *const holiday_keys[] = { "date", "name", "regions", NULL };

static int holiday_cmp(const void *a, const void *b)
{
    const struct holiday *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    /* national first, so a lookup finds it before regional ones */
    return (x->regions != NULL) - (y->regions != NULL);
}

static void load_holiday(struct loader *l, struct calendar *cal, const struct ynode *n)
{
    struct holiday *h = &cal->v[cal->n];
    const char *s;
    const struct ynode *v;

    if (ynode_expect(n, YNODE_MAP, "holiday", l->d) < 0)
        return;
    ynode_check_keys(n, holiday_keys, "holiday", l->d);
    memset(h, 0, sizeof(*h));
    v = ynode_get(n, "date");
    if (!v) {
        err_at(l, n, "holiday has no 'date'");
        return;
    }
    if (ynode_str(v, "date", &s, l->d) < 0)
        return;
    if (parse_date(s, strlen(s), &h->day) < 0) {
        err_at(l, v, "invalid date '%s' (expected YYYY-MM-DD)", s);
        return;
    }
    if (get_str(l, n, "name", &s) > 0)
        h->name = xstrdup(l, s);
    else if (!ynode_get(n, "name"))
        err_at(l, n, "holiday has no 'name'");
    if (!h->name)
        h->name = xstrdup(l, "");
    if ((v = ynode_get(n, "regions")) && ynode_expect(v, YNODE_SEQ, "regions", l->d) == 0) {
        if (v->n == 0) {
            err_at(l, v, "'regions' is empty (leave it out for a national holiday)");
        } else if (!(h->regions = calloc(v->n, sizeof(char *)))) {
            l->oom = 1;
        } else {
            for (size_t i = 0; i < v->n; i++) {
                if (ynode_str(v->items[i], "region", &s, l->d) < 0)
                    continue;
                if (cal->country && !region_valid(s, cal->country)) {
                    err_at(l, v->items[i],
                           "invalid region '%s' (expected an ISO 3166-2 code of %s, "
                           "like '%s-XX')", s, cal->country, cal->country);
                    continue;
                }
                if ((h->regions[h->nregions] = xstrdup(l, s)))
                    h->nregions++;
            }
        }
    }
    cal->n++;
}

static void load_calendar(struct loader *l, const char *name, const struct ynode *root,
                          const char *path)
{
    struct config *c = l->c;
    const struct ynode *v;
    const char *s;

    if (ynode_expect(root, YNODE_MAP, "calendar", l->d) < 0)
        return;
    ynode_check_keys(root, calendar_keys, "calendar", l->d);
    struct calendar *nv = reallocarray(c->calendars, c->ncalendars + 1, sizeof(*nv));
    if (!nv) {
        l->oom = 1;
        return;
    }
    c->calendars = nv;
    struct calendar *cal = &c->calendars[c->ncalendars++];
    memset(cal, 0, sizeof(*cal));
    cal->name = xstrdup(l, name);
    cal->file = xstrdup(l, path);

    if (get_str(l, root, "calendar", &s) > 0 && !streq(s, name))
        err_at(l, ynode_get(root, "calendar"),
               "calendar name '%s' does not match its file name '%s.yaml'", s, name);
    if (get_str(l, root, "country", &s) > 0) {
        if (country_valid(s))
            cal->country = xstrdup(l, s);
        else
            err_at(l, ynode_get(root, "country"),
                   "invalid country '%s' (expected ISO 3166-1 alpha-2, like 'ES')", s);
    } else if (!ynode_get(root, "country")) {
        err_at(l, root, "calendar '%s' has no 'country'", name);
    }
    v = ynode_get(root, "holidays");
    if (!v) {
        err_at(l, root, "calendar '%s' has no 'holidays'", name);
        return;
    }
    if (v->type == YNODE_NULL || ynode_expect(v, YNODE_SEQ, "holidays", l->d) < 0 || !v->n)
        return;
    cal->v = calloc(v->n, sizeof(*cal->v));
    if (!cal->v) {
        l->oom = 1;
        return;
    }
    for (size_t i = 0; i < v->n; i++)
        load_holiday(l, cal, v->items[i]);
    qsort(cal->v, cal->n, sizeof(*cal->v), holiday_cmp);
}

/* ---- profiles ------------------------------------------------------- */

static const char *const profile_keys[] = {
    "profile", "description", "countries", "hours", "holidays", "no_contact_on_holidays",
    "caps", "consent_required", "vulnerable_human_only", "templates", NULL,
};
static const char *const hours_keys[] = {
    "mon", "tue", "wed", "thu", "fri", "sat", "sun", "daily", "weekdays", "weekend", NULL,
};
static const char *const caps_keys[] = {
    "calls", "call_cooldown_days", "weekly_attempts", NULL,
};
static const char *const calls_keys[] = { "max", "days", NULL };

/* Parse one hours entry into the days [from, to]. */
static void hours_entry(struct loader *l, const struct ynode *hours, const char *key,
                        int from, int to, struct day_ranges *legal, bool *set)
{
    const struct ynode *v = ynode_get(hours, key);
    const char *s;
    char err[160];
    struct day_ranges dr;

    if (!v)
        return;
    /* present counts as set even when wrong: one error, not two */
    for (int d = from; d <= to; d++)
        set[d] = true;
    if (ynode_str(v, key, &s, l->d) < 0)
        return;
    if (day_ranges_parse(s, &dr, err, sizeof(err)) < 0) {
        err_at(l, v, "%s", err);
        return;
    }
    for (int d = from; d <= to; d++)
        legal[d] = dr;
}

static void load_profile(struct loader *l, const char *name, const struct ynode *root,
                         const char *path)
{
    struct config *c = l->c;
    const struct ynode *v, *m;
    const char *s;
    int64_t iv;

    if (ynode_expect(root, YNODE_MAP, "profile", l->d) < 0)
        return;
    ynode_check_keys(root, profile_keys, "profile", l->d);
    struct profile *nv = reallocarray(c->profiles, c->nprofiles + 1, sizeof(*nv));
    if (!nv) {
        l->oom = 1;
        return;
    }
    c->profiles = nv;
    struct profile *p = &c->profiles[c->nprofiles++];
    memset(p, 0, sizeof(*p));
    p->name = xstrdup(l, name);
    p->file = xstrdup(l, path);

    if (get_str(l, root, "profile", &s) > 0 && !streq(s, name))
        err_at(l, ynode_get(root, "profile"),
               "profile name '%s' does not match its file name '%s.yaml'", s, name);
    if ((v = ynode_get(root, "description")))
        (void)ynode_str(v, "description", &s, l->d);

    /* countries (invariant 5: one profile per country) */
    v = ynode_get(root, "countries");
    if (!v) {
        err_at(l, root, "profile '%s' has no 'countries'", name);
    } else if (ynode_expect(v, YNODE_SEQ, "countries", l->d) == 0 && v->n) {
        if (!(p->countries = calloc(v->n, sizeof(char *)))) {
            l->oom = 1;
            return;
        }
        for (size_t i = 0; i < v->n; i++) {
            const struct ynode *it = v->items[i];
            if (ynode_str(it, "country", &s, l->d) < 0)
                continue;
            if (!country_valid(s)) {
                err_at(l, it, "invalid country '%s' (expected ISO 3166-1 alpha-2, like 'ES')",
                       s);
                continue;
            }
            const struct profile *other = config_profile_for_country(c, s);
            if (other == p) {
                err_at(l, it, "country '%s' is listed twice", s);
                continue;
            }
            if (other) {
                err_at(l, it, "country '%s' is already covered by profile '%s'", s,
                       other->name);
                continue;
            }
            if ((p->countries[p->ncountries] = xstrdup(l, s)))
                p->ncountries++;
        }
    }

    /* hours: daily < weekdays/weekend < a named day */
    bool set[7] = { false };
    m = ynode_get(root, "hours");
    if (!m) {
        err_at(l, root, "profile '%s' has no 'hours'", name);
    } else if (ynode_expect(m, YNODE_MAP, "hours", l->d) == 0) {
        ynode_check_keys(m, hours_keys, "'hours'", l->d);
        hours_entry(l, m, "daily", 0, 6, p->legal, set);
        hours_entry(l, m, "weekdays", 0, 4, p->legal, set);
        hours_entry(l, m, "weekend", 5, 6, p->legal, set);
        for (int d = 0; d < 7; d++)
            hours_entry(l, m, weekday_keys[d], d, d, p->legal, set);
        for (int d = 0; d < 7; d++)
            if (!set[d])
                err_at(l, m, "no hours for '%s' in profile '%s' (write '%s: closed' for no "
                       "contact)", weekday_keys[d], name, weekday_keys[d]);
    }

    if (get_str(l, root, "holidays", &s) > 0) {
        p->holidays = xstrdup(l, s);
        if (!config_calendar(c, s))
            err_at(l, ynode_get(root, "holidays"),
                   "profile '%s' names holiday calendar '%s', which does not exist in '%s'",
                   name, s, c->holiday_dir);
    }
    if ((v = ynode_get(root, "no_contact_on_holidays")))
        (void)ynode_bool(v, "no_contact_on_holidays", &p->no_contact_on_holidays, l->d);
    if (p->no_contact_on_holidays && !ynode_get(root, "holidays"))
        err_at(l, v, "'no_contact_on_holidays' needs a 'holidays' calendar");
    if ((v = ynode_get(root, "vulnerable_human_only")))
        (void)ynode_bool(v, "vulnerable_human_only", &p->vulnerable_human_only, l->d);
    /* template lints as data: parsed by template.c (docs/templates.md) */
    if ((v = ynode_get(root, "templates")) && v->type != YNODE_NULL &&
        template_rules_load(v, &p->template_rules, l->d) == -ENOMEM)
        l->oom = 1;

    if ((m = get_map(l, root, "caps", caps_keys, "'caps'"))) {
        const struct ynode *calls = get_map(l, m, "calls", calls_keys, "'calls'");
        if (calls) {
            if (!ynode_get(calls, "max") || !ynode_get(calls, "days"))
                err_at(l, calls, "'calls' needs both 'max' and 'days'");
            if ((v = ynode_get(calls, "max")) && ynode_int(v, "max", 0, 1000, &iv, l->d) == 0)
                p->call_cap = (int)iv;
            if ((v = ynode_get(calls, "days")) && ynode_int(v, "days", 1, 366, &iv, l->d) == 0)
                p->call_cap_days = (int)iv;
        }
        if ((v = ynode_get(m, "call_cooldown_days")) &&
            ynode_int(v, "call_cooldown_days", 0, 366, &iv, l->d) == 0)
            p->call_cooldown_days = (int)iv;
        if ((v = ynode_get(m, "weekly_attempts")) &&
            ynode_int(v, "weekly_attempts", 0, 1000, &iv, l->d) == 0)
            p->weekly_cap = (int)iv;
    }

    if ((v = ynode_get(root, "consent_required")) && v->type != YNODE_NULL &&
        ynode_expect(v, YNODE_SEQ, "consent_required", l->d) == 0) {
        for (size_t i = 0; i < v->n; i++) {
            if (ynode_str(v->items[i], "consent_required", &s, l->d) < 0)
                continue;
            enum chan_kind k = chan_kind_from_string(s);
            if (k == _CHAN_KIND_INVALID)
                err_at(l, v->items[i],
                       "unknown channel kind '%s' (email, sms, chat, call or letter)", s);
            else
                p->consent_required[k] = true;
        }
    }
}

/* ---- the whole load ------------------------------------------------- */

static int set_defaults(struct config *c)
{
    c->store_path = strdup("cadenza.db");
    c->redis_url = strdup("redis://127.0.0.1:6379");
    c->redis_prefix = strdup("cz:");
    c->http_listen = strdup("127.0.0.1:8470");
    c->serve_daily_run = -1;
    c->serve_replan = true;
    c->serve_promise_check_ms = 300000;
    c->default_time_zone = strdup("UTC");
    c->default_currency = strdup("EUR");
    c->default_locale = strdup("en");
    c->strategy_dir = data_path("strategies", "strategies");
    c->template_dir = data_path("config/templates", "config/templates");
    c->profile_dir = data_path("config/profiles", "config/profiles");
    c->holiday_dir = data_path("config/holidays", "config/holidays");
    if (!c->store_path || !c->redis_url || !c->redis_prefix || !c->http_listen ||
        !c->default_time_zone || !c->default_currency || !c->default_locale ||
        !c->strategy_dir ||
        !c->template_dir || !c->profile_dir || !c->holiday_dir)
        return -ENOMEM;
    return 0;
}

/* The file to load (borrowed or static), or NULL for built-in defaults. */
static const char *pick_file(const char *path)
{
    if (path)
        return path;
    const char *env = getenv_nonempty("CADENZA_CONFIG");
    if (env)
        return env;
    if (is_file("config/cadenza.yaml"))
        return "config/cadenza.yaml";
    if (is_file("/etc/cadenza/cadenza.yaml"))
        return "/etc/cadenza/cadenza.yaml";
    return NULL;
}

int config_load(const char *path, const struct config_overrides *ov, struct config **ret,
                struct diags *d)
{
    struct config *c = calloc(1, sizeof(*c));
    struct loader l = { .c = c, .d = d };
    size_t errors0 = d->nerrors;
    const char *file, *env;
    int r;

    if (!c)
        return -ENOMEM;
    r = set_defaults(c);
    if (r < 0)
        goto fail;

    file = pick_file(path);
    if (file) {
        c->file = strdup(file);
        c->dir = dir_of(file);
        if (!c->file || !c->dir) {
            r = -ENOMEM;
            goto fail;
        }
        r = ydoc_load(file, &c->doc, d);
        if (r < 0 && r != -EINVAL) {
            if (r != -ENOMEM)
                diag_error(d, file, 0, 0, "cannot read configuration file: %s",
                           file_strerror(r));
            goto fail;
        }
        if (r == 0)
            load_main(&l, c->doc->root);
    } else {
        c->dir = strdup(".");
        if (!c->dir) {
            r = -ENOMEM;
            goto fail;
        }
    }

    /* invariant 1: flag > environment > file > default */
    if (ov && ov->store_path)
        set_str(&l, &c->store_path, ov->store_path);
    else if ((env = getenv_nonempty("CADENZA_STORE")))
        set_str(&l, &c->store_path, env);
    if (ov && ov->redis_url)
        set_str(&l, &c->redis_url, ov->redis_url);
    else if ((env = getenv_nonempty("CADENZA_REDIS")))
        set_str(&l, &c->redis_url, env);
    if (((ov && ov->redis_url) || getenv_nonempty("CADENZA_REDIS")) &&
        !redis_url_valid(c->redis_url))
        diag_error(d, NULL, 0, 0,
                   "invalid redis url '%s' (expected redis://host:port[/db] or unix:///path)",
                   c->redis_url);

    /* the built-in stop words when the file has no `inbound:` section */
    if (!c->inbound && inbound_conf_load(NULL, &c->inbound, d) == -ENOMEM)
        l.oom = 1;

    /* Calendars first: profiles refer to them. */
    r = load_dir(&l, c->holiday_dir, "holiday calendar", load_calendar);
    if (r < 0)
        goto fail;
    r = load_dir(&l, c->profile_dir, "profile", load_profile);
    if (r < 0)
        goto fail;
    if (l.oom) {
        r = -ENOMEM;
        goto fail;
    }
    if (d->nerrors > errors0) {
        r = -EINVAL;
        goto fail;
    }
    *ret = c;
    return 0;
fail:
    config_free(c);
    return r;
}

/* ---- lookups -------------------------------------------------------- */

const struct channel_conf *config_channel(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->nchannels; i++)
        if (c->channels[i].name && streq(c->channels[i].name, name))
            return &c->channels[i];
    return NULL;
}

const struct profile *config_profile(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->nprofiles; i++)
        if (c->profiles[i].name && streq(c->profiles[i].name, name))
            return &c->profiles[i];
    return NULL;
}

const struct profile *config_profile_for_country(const struct config *c, const char *cc)
{
    for (size_t i = 0; i < c->nprofiles; i++)
        for (size_t j = 0; j < c->profiles[i].ncountries; j++)
            if (strcasecmp(c->profiles[i].countries[j], cc) == 0)
                return &c->profiles[i];
    return NULL;
}

const struct calendar *config_calendar(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->ncalendars; i++)
        if (c->calendars[i].name && streq(c->calendars[i].name, name))
            return &c->calendars[i];
    return NULL;
}

const struct holiday *calendar_holiday(const struct calendar *cal, int32_t day,
                                       const char *region)
{
    size_t lo = 0, hi = cal->n;
    /* first entry with v[i].day >= day */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cal->v[mid].day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < cal->n && cal->v[i].day == day; i++) {
        const struct holiday *h = &cal->v[i];
        if (!h->regions)
            return h;
        if (!region)
            continue;
        for (size_t j = 0; j < h->nregions; j++)
            if (strcasecmp(h->regions[j], region) == 0)
                return h;
    }
    return NULL;
}
