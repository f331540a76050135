/*
 * tz.c - time zones from TZif files (RFC 8536 / 9636), evaluated by hand.
 *
 * What it is for: the planner must know, for a debtor's zone and a local
 * date, which UTC instants fall inside a local window such as 08:00-21:00,
 * for thousands of zones' worth of debtors at once.  libc can only do that
 * by switching the process-wide TZ, which is neither thread safe nor fast,
 * so this module reads the tz database itself.
 *
 * What it owns: one struct tz per zone: a sorted table of UTC transition
 * instants, each naming a local time type (offset, DST flag, abbreviation),
 * plus the POSIX TZ rule from the file's footer for instants after the
 * table.  At load time the rule is expanded into the table up to
 * TZ_EXPAND_YEAR, so ordinary lookups are one binary search; later instants
 * evaluate the rule directly.
 *
 * What it must never do: set or read TZ, call localtime/mktime, or keep
 * mutable state in a struct tz (zones are shared between threads).
 *
 * Invariants:
 *  1. at[] is strictly increasing; ti[i] < ntypes for every i; type0 < ntypes.
 *  2. The offset in effect at t is: type0 for t < at[0] (or no table); for
 *     rule_from <= t when has_rule, the footer rule; otherwise the type of
 *     the last at[i] <= t.  When has_rule, rule_from == at[n-1] (or
 *     INT64_MIN when the table is empty).
 *  3. Every offset is within (-25h, +26h), so a local time L can only be
 *     reached from UTC instants in (L - 26h, L + 25h).
 *  4. tz_parse() never reads outside its buffer and rejects rather than
 *     guesses: any inconsistent count, index, order or footer is -EINVAL.
 *  5. A struct tz is never modified after tz_parse()/tz_load() returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tz.h"
#include "util.h"

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_ABBR_MAX 16
/* Footer rules are expanded into the table up to the end of this year. */
#define TZ_EXPAND_YEAR 2200
/* Rule evaluation clamps instants to +-TZ_TLIM (about 317,000 years). */
#define TZ_TLIM INT64_C(10000000000000)
#define TZ_OFF_MIN (-89999)
#define TZ_OFF_MAX 93599
#define TZ_FOOTER_MAX 512

struct tz_type {
    int32_t off;
    bool dst;
    char abbr[TZ_ABBR_MAX];
};

/* A POSIX TZ rule date: Jn, n or Mm.w.d, plus the local time of change. */
struct rule_date {
    char kind; /* 'J', 'N' or 'M' */
    int16_t n, m, w, d;
    int32_t time; /* seconds, may be negative or past 24h */
};

struct tz_rule {
    bool has_dst;
    int32_t std_off, dst_off;
    struct rule_date start, end; /* start of DST (in std time), end (in DST) */
    uint16_t std_type, dst_type; /* indexes into types[] */
};

struct tz {
    char *name;
    int64_t *at;
    uint16_t *ti;
    size_t n;
    struct tz_type *types;
    size_t ntypes;
    uint16_t type0;
    bool has_rule;
    struct tz_rule rule;
    int64_t rule_from;
};

/* One run of constant local time type: [start, end). */
struct period {
    int64_t start, end;
    const struct tz_type *type;
};

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t clamp64(int64_t t, int64_t lo, int64_t hi)
{
    return t < lo ? lo : t > hi ? hi : t;
}

bool tz_name_valid(const char *name)
{
    size_t len = 0;
    bool comp_start = true;

    if (!name)
        return false;
    for (const char *p = name; *p; p++, len++) {
        char c = *p;
        if (len >= TZ_NAME_MAX)
            return false;
        if (c == '/') {
            if (comp_start) /* leading '/' or "//" */
                return false;
            comp_start = true;
            continue;
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '+' || c == '-'))
            return false;
        comp_start = false;
    }
    return len > 0 && !comp_start;
}

/* ---- POSIX TZ strings (the TZif footer) ---- */

static bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* std/dst designation: 3+ letters, or <...> of [A-Za-z0-9+-]. */
static int posix_name(const char **s, char out[static TZ_ABBR_MAX])
{
    const char *p = *s, *b, *e;

    if (*p == '<') {
        b = ++p;
        while (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-')
            p++;
        if (*p != '>')
            return -EINVAL;
        e = p++;
    } else {
        b = p;
        while (is_alpha(*p))
            p++;
        e = p;
    }
    if (e - b < 3 || e - b >= TZ_ABBR_MAX)
        return -EINVAL;
    memcpy(out, b, (size_t)(e - b));
    out[e - b] = 0;
    *s = p;
    return 0;
}

static int posix_num(const char **s, int maxdigits, int maxval, int *ret)
{
    const char *p = *s;
    int v = 0, nd = 0;

    while (is_digit(*p) && nd < maxdigits) {
        v = v * 10 + (*p++ - '0');
        nd++;
    }
    if (nd == 0 || is_digit(*p) || v > maxval)
        return -EINVAL;
    *s = p;
    *ret = v;
    return 0;
}

/* [+-]h[h[h]][:mm[:ss]] with hours <= maxh; *ret in seconds, signed as written. */
static int posix_hms(const char **s, int maxh, int32_t *ret)
{
    const char *p = *s;
    int sign = 1, h, m = 0, sec = 0;

    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (posix_num(&p, 3, maxh, &h) < 0)
        return -EINVAL;
    if (*p == ':') {
        p++;
        if (posix_num(&p, 2, 59, &m) < 0)
            return -EINVAL;
        if (*p == ':') {
            p++;
            if (posix_num(&p, 2, 59, &sec) < 0)
                return -EINVAL;
        }
    }
    *s = p;
    *ret = sign * (h * 3600 + m * 60 + sec);
    return 0;
}

static int posix_date(const char **s, struct rule_date *d)
{
    const char *p = *s;
    int v;

    if (*p == 'J') {
        p++;
        if (posix_num(&p, 3, 365, &v) < 0 || v < 1)
            return -EINVAL;
        d->kind = 'J';
        d->n = (int16_t)v;
    } else if (*p == 'M') {
        int m, w, wd;
        p++;
        if (posix_num(&p, 2, 12, &m) < 0 || m < 1 || *p++ != '.' ||
            posix_num(&p, 1, 5, &w) < 0 || w < 1 || *p++ != '.' ||
            posix_num(&p, 1, 6, &wd) < 0)
            return -EINVAL;
        d->kind = 'M';
        d->m = (int16_t)m;
        d->w = (int16_t)w;
        d->d = (int16_t)wd;
    } else {
        if (posix_num(&p, 3, 365, &v) < 0)
            return -EINVAL;
        d->kind = 'N';
        d->n = (int16_t)v;
    }
    d->time = 2 * 3600;
    if (*p == '/') {
        p++;
        if (posix_hms(&p, 167, &d->time) < 0)
            return -EINVAL;
    }
    *s = p;
    return 0;
}

/*
 * Parse a POSIX TZ string such as "EST5EDT,M3.2.0,M11.1.0" or
 * "<+0545>-5:45".  Names go to std/dst (dst[0] == 0 when none).
 */
static int posix_parse(const char *s, struct tz_rule *r, char std[static TZ_ABBR_MAX],
                       char dst[static TZ_ABBR_MAX])
{
    int32_t v;

    *r = (struct tz_rule){ 0 };
    dst[0] = 0;
    if (posix_name(&s, std) < 0 || posix_hms(&s, 24, &v) < 0)
        return -EINVAL;
    r->std_off = -v;
    if (!*s)
        return 0;
    if (posix_name(&s, dst) < 0)
        return -EINVAL;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s && *s != ',') {
        if (posix_hms(&s, 24, &v) < 0)
            return -EINVAL;
        r->dst_off = -v;
    }
    if (!*s) {
        /* No rule given: the traditional US default. */
        r->start = (struct rule_date){ 'M', 0, 3, 2, 0, 7200 };
        r->end = (struct rule_date){ 'M', 0, 11, 1, 0, 7200 };
        return 0;
    }
    if (*s++ != ',' || posix_date(&s, &r->start) < 0 || *s++ != ',' ||
        posix_date(&s, &r->end) < 0 || *s)
        return -EINVAL;
    return 0;
}

/* Local day (days since epoch) of a rule date in year y. */
static int64_t rule_day(const struct rule_date *d, int y)
{
    int32_t jan1 = days_from_civil(y, 1, 1);

    switch (d->kind) {
    case 'J': {
        bool leap = days_in_month(y, 2) == 29;
        return jan1 + d->n - 1 + (leap && d->n >= 60);
    }
    case 'N':
        return jan1 + d->n;
    default: {
        int32_t first = days_from_civil(y, (unsigned)d->m, 1);
        int wd_sun = (weekday_from_days(first) + 1) % 7; /* 0 = Sunday */
        int32_t day = first + (d->d - wd_sun + 7) % 7 + 7 * (d->w - 1);
        int32_t last = first + days_in_month(y, (unsigned)d->m) - 1;
        while (day > last)
            day -= 7;
        return day;
    }
    }
}

struct rule_trans {
    int64_t at;
    bool to_dst;
};

/* The two transitions of year y, in time order. */
static void rule_year(const struct tz_rule *r, int y, struct rule_trans out[2])
{
    int64_t s = rule_day(&r->start, y) * 86400 + r->start.time - r->std_off;
    int64_t e = rule_day(&r->end, y) * 86400 + r->end.time - r->dst_off;

    /* On a tie (DST all year) the end comes first, so DST wins. */
    if (s < e) {
        out[0] = (struct rule_trans){ s, true };
        out[1] = (struct rule_trans){ e, false };
    } else {
        out[0] = (struct rule_trans){ e, false };
        out[1] = (struct rule_trans){ s, true };
    }
}

static int year_of(int64_t t)
{
    int y;
    unsigned m, d;
    civil_from_days((int32_t)floordiv(clamp64(t, -TZ_TLIM, TZ_TLIM), 86400), &y, &m, &d);
    return y;
}

/* The period containing t when the footer rule governs t (t >= rule_from). */
static void rule_period(const struct tz *z, int64_t t, struct period *p)
{
    const struct tz_rule *r = &z->rule;
    struct rule_trans tr[8];
    int64_t tc = clamp64(t, -TZ_TLIM, TZ_TLIM);
    int y, idx = -1;

    if (!r->has_dst) {
        *p = (struct period){ z->rule_from, INT64_MAX, &z->types[r->std_type] };
        return;
    }
    y = year_of(tc + r->std_off);
    for (int i = 0; i < 4; i++)
        rule_year(r, y - 2 + i, tr + 2 * i);
    /* Sanity for pathological rules: keep the list sorted. */
    for (int i = 1; i < 8; i++)
        for (int j = i; j > 0 && tr[j - 1].at > tr[j].at; j--) {
            struct rule_trans x = tr[j];
            tr[j] = tr[j - 1];
            tr[j - 1] = x;
        }
    for (int i = 0; i < 8; i++)
        if (tr[i].at <= tc)
            idx = i;
    if (idx < 0) {
        p->start = INT64_MIN;
        p->end = tr[0].at;
        p->type = &z->types[tr[0].to_dst ? r->std_type : r->dst_type];
    } else {
        p->start = tr[idx].at;
        p->end = idx < 7 ? tr[idx + 1].at : INT64_MAX;
        p->type = &z->types[tr[idx].to_dst ? r->dst_type : r->std_type];
    }
    if (p->start < z->rule_from)
        p->start = z->rule_from;
    if (t > TZ_TLIM)
        p->end = INT64_MAX;
    if (t < -TZ_TLIM)
        p->start = INT64_MIN;
}

/* Keeps invariant 2. */
static void period_at(const struct tz *z, int64_t t, struct period *p)
{
    size_t lo = 0, hi = z->n;

    if (z->has_rule && t >= z->rule_from) {
        rule_period(z, t, p);
        return;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* lo = number of transitions at or before t */
    if (lo == 0) {
        p->start = INT64_MIN;
        p->type = &z->types[z->type0];
    } else {
        p->start = z->at[lo - 1];
        p->type = &z->types[z->ti[lo - 1]];
    }
    p->end = lo < z->n ? z->at[lo] : INT64_MAX;
}

/* ---- TZif parsing ---- */

struct rd {
    const uint8_t *p;
    size_t len, pos;
};

static bool rd_has(const struct rd *r, uint64_t n) { return n <= r->len - r->pos; }

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_hdr {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int tzif_header(struct rd *r, struct tzif_hdr *h)
{
    const uint8_t *p;

    if (!rd_has(r, 44))
        return -EINVAL;
    p = r->p + r->pos;
    if (memcmp(p, "TZif", 4) != 0)
        return -EINVAL;
    h->version = (char)p[4];
    if (h->version != 0 && !(h->version >= '2' && h->version <= '4'))
        return -EINVAL;
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    r->pos += 44;
    return 0;
}

static uint64_t tzif_block_size(const struct tzif_hdr *h, unsigned tsize)
{
    return (uint64_t)h->timecnt * tsize + h->timecnt + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Find or add a type; returns its index or -ENOMEM/-EINVAL. */
static int add_type(struct tz *z, int32_t off, bool dst, const char *abbr)
{
    struct tz_type *nt;

    for (size_t i = 0; i < z->ntypes; i++)
        if (z->types[i].off == off && z->types[i].dst == dst && streq(z->types[i].abbr, abbr))
            return (int)i;
    if (z->ntypes >= UINT16_MAX)
        return -EINVAL;
    nt = realloc(z->types, (z->ntypes + 1) * sizeof(*nt));
    if (!nt)
        return -ENOMEM;
    z->types = nt;
    nt[z->ntypes].off = off;
    nt[z->ntypes].dst = dst;
    snprintf(nt[z->ntypes].abbr, TZ_ABBR_MAX, "%s", abbr);
    return (int)z->ntypes++;
}

static int tzif_block(struct rd *r, const struct tzif_hdr *h, unsigned tsize, struct tz *z)
{
    const uint8_t *p = r->p + r->pos, *times, *idx, *types, *chars;

    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 || h->leapcnt != 0 ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) ||
        (h->isutcnt != 0 && h->isutcnt != h->typecnt) || !rd_has(r, tzif_block_size(h, tsize)))
        return -EINVAL;
    times = p;
    idx = times + (size_t)h->timecnt * tsize;
    types = idx + h->timecnt;
    chars = types + (size_t)h->typecnt * 6;
    for (size_t i = 0; i < h->isstdcnt + h->isutcnt; i++)
        if (chars[h->charcnt + i] > 1)
            return -EINVAL;

    z->types = calloc(h->typecnt, sizeof(*z->types));
    z->at = calloc(h->timecnt ? h->timecnt : 1, sizeof(*z->at));
    z->ti = calloc(h->timecnt ? h->timecnt : 1, sizeof(*z->ti));
    if (!z->types || !z->at || !z->ti)
        return -ENOMEM;
    for (uint32_t i = 0; i < h->typecnt; i++) {
        const uint8_t *t = types + 6 * i;
        int32_t off = (int32_t)be32(t);
        uint8_t ai = t[5];
        size_t alen = 0;

        if (off < TZ_OFF_MIN || off > TZ_OFF_MAX || t[4] > 1 || ai >= h->charcnt)
            return -EINVAL;
        while (ai + alen < h->charcnt && chars[ai + alen])
            alen++;
        if (ai + alen >= h->charcnt) /* designation must be NUL-terminated */
            return -EINVAL;
        z->types[i].off = off;
        z->types[i].dst = t[4];
        snprintf(z->types[i].abbr, TZ_ABBR_MAX, "%.*s", (int)alen, (const char *)chars + ai);
    }
    z->ntypes = h->typecnt;
    for (uint32_t i = 0; i < h->timecnt; i++) {
        int64_t t = tsize == 8 ? be64(times + 8 * (size_t)i)
                               : (int64_t)(int32_t)be32(times + 4 * (size_t)i);
        if (idx[i] >= h->typecnt || (i > 0 && t <= z->at[i - 1]))
            return -EINVAL;
        z->at[i] = t;
        z->ti[i] = idx[i];
    }
    z->n = h->timecnt;
    z->type0 = 0;
    r->pos += tzif_block_size(h, tsize);
    return 0;
}

/* Expand the footer rule into the table up to TZ_EXPAND_YEAR (invariant 2). */
static int expand_rule(struct tz *z)
{
    int64_t *nat;
    uint16_t *nti;
    int y0, cap;

    if (z->n == 0) {
        z->rule_from = INT64_MIN;
        return 0;
    }
    if (z->rule.has_dst) {
        y0 = year_of(z->at[z->n - 1]) - 1;
        /* A table ending before 1900 is left to direct rule evaluation. */
        if (y0 >= 1900 && y0 < TZ_EXPAND_YEAR) {
            cap = 2 * (TZ_EXPAND_YEAR - y0 + 1);
            nat = realloc(z->at, (z->n + (size_t)cap) * sizeof(*nat));
            if (!nat)
                return -ENOMEM;
            z->at = nat;
            nti = realloc(z->ti, (z->n + (size_t)cap) * sizeof(*nti));
            if (!nti)
                return -ENOMEM;
            z->ti = nti;
            for (int y = y0; y <= TZ_EXPAND_YEAR; y++) {
                struct rule_trans tr[2];
                rule_year(&z->rule, y, tr);
                for (int k = 0; k < 2; k++) {
                    uint16_t ti = tr[k].to_dst ? z->rule.dst_type : z->rule.std_type;
                    if (tr[k].at < z->at[z->n - 1])
                        continue;
                    if (tr[k].at == z->at[z->n - 1]) {
                        /* Two changes at once (DST all year): the later one wins. */
                        z->ti[z->n - 1] = ti;
                        continue;
                    }
                    z->at[z->n] = tr[k].at;
                    z->ti[z->n] = ti;
                    z->n++;
                }
            }
        }
    }
    z->rule_from = z->at[z->n - 1];
    return 0;
}

static int tz_new_empty(struct tz **ret)
{
    struct tz *z = calloc(1, sizeof(*z));
    if (!z)
        return -ENOMEM;
    z->name = strdup("");
    if (!z->name) {
        free(z);
        return -ENOMEM;
    }
    *ret = z;
    return 0;
}

/* Keeps invariants 1, 3 and 4. */
int tz_parse(const void *buf, size_t len, struct tz **ret)
{
    struct rd r = { buf, len, 0 };
    struct tzif_hdr h;
    struct tz *z = NULL;
    unsigned tsize = 4;
    int k;

    if (!buf && len)
        return -EINVAL;
    k = tzif_header(&r, &h);
    if (k < 0)
        return k;
    if (h.version != 0) {
        /* Skip the 32-bit block; the 64-bit one follows with its own header. */
        if (!rd_has(&r, tzif_block_size(&h, 4)))
            return -EINVAL;
        r.pos += tzif_block_size(&h, 4);
        k = tzif_header(&r, &h);
        if (k < 0)
            return k;
        tsize = 8;
    }
    k = tz_new_empty(&z);
    if (k < 0)
        return k;
    k = tzif_block(&r, &h, tsize, z);
    if (k < 0)
        goto fail;
    if (h.version != 0) {
        char footer[TZ_FOOTER_MAX], std[TZ_ABBR_MAX], dst[TZ_ABBR_MAX];
        size_t flen = 0;

        k = -EINVAL;
        if (!rd_has(&r, 2) || r.p[r.pos] != '\n')
            goto fail;
        r.pos++;
        while (r.pos < r.len && r.p[r.pos] != '\n') {
            if (r.p[r.pos] == 0 || flen + 1 >= sizeof(footer))
                goto fail;
            footer[flen++] = (char)r.p[r.pos++];
        }
        if (r.pos >= r.len) /* no closing newline: truncated */
            goto fail;
        r.pos++;
        footer[flen] = 0;
        if (flen > 0) {
            if (posix_parse(footer, &z->rule, std, dst) < 0 ||
                z->rule.std_off < TZ_OFF_MIN || z->rule.std_off > TZ_OFF_MAX ||
                z->rule.dst_off < TZ_OFF_MIN || z->rule.dst_off > TZ_OFF_MAX)
                goto fail;
            k = add_type(z, z->rule.std_off, false, std);
            if (k < 0)
                goto fail;
            z->rule.std_type = (uint16_t)k;
            if (z->rule.has_dst) {
                k = add_type(z, z->rule.dst_off, true, dst);
                if (k < 0)
                    goto fail;
                z->rule.dst_type = (uint16_t)k;
            }
            z->has_rule = true;
            k = expand_rule(z);
            if (k < 0)
                goto fail;
        }
    }
    if (r.pos != r.len) {
        k = -EINVAL;
        goto fail;
    }
    *ret = z;
    return 0;
fail:
    tz_free(z);
    return k;
}

void tz_free(struct tz *z)
{
    if (!z)
        return;
    free(z->name);
    free(z->at);
    free(z->ti);
    free(z->types);
    free(z);
}

const char *tz_name(const struct tz *z)
{
    return z->name;
}

static int tz_builtin_utc(const char *name, struct tz **ret)
{
    struct tz *z;
    int k = tz_new_empty(&z);

    if (k < 0)
        return k;
    k = add_type(z, 0, false, "UTC");
    free(z->name);
    z->name = strdup(name);
    if (k < 0 || !z->name) {
        tz_free(z);
        return -ENOMEM;
    }
    *ret = z;
    return 0;
}

int tz_load(const char *name, struct tz **ret)
{
    const char *dir = getenv("TZDIR");
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ uint8_t *buf = NULL;
    struct tz *z;
    struct stat st;
    size_t len = 0;
    int fd, k;

    if (!tz_name_valid(name))
        return -EINVAL;
    if (isempty(dir))
        dir = TZ_DEFAULT_DIR;
    path = strdupf("%s/%s", dir, name);
    if (!path)
        return -ENOMEM;
    fd = open_regular(path);
    if (fd < 0) {
        k = fd == -ENOTDIR || fd == -EISDIR ? -ENOENT : fd == -ESPIPE ? -EINVAL : fd;
        if (k == -ENOENT && (streq(name, "UTC") || streq(name, "Etc/UTC")))
            return tz_builtin_utc(name, ret);
        return k;
    }
    if (fstat(fd, &st) < 0) {
        k = -errno;
        goto out;
    }
    k = S_ISDIR(st.st_mode) ? -ENOENT : !S_ISREG(st.st_mode) ? -EINVAL : 0;
    if (k < 0)
        goto out;
    buf = malloc(TZ_FILE_MAX);
    if (!buf) {
        k = -ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, TZ_FILE_MAX - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            k = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == TZ_FILE_MAX) { /* too big to be a zone */
            k = -EINVAL;
            goto out;
        }
    }
    k = tz_parse(buf, len, &z);
    if (k < 0)
        goto out;
    free(z->name);
    z->name = strdup(name);
    if (!z->name) {
        tz_free(z);
        k = -ENOMEM;
        goto out;
    }
    *ret = z;
out:
    close(fd);
    return k;
}

/* ---- queries ---- */

int32_t tz_offset_at(const struct tz *z, int64_t utc)
{
    struct period p;
    period_at(z, utc, &p);
    return p.type->off;
}

int64_t tz_next_change(const struct tz *z, int64_t utc)
{
    struct period p, q;

    period_at(z, utc, &p);
    for (int i = 0; i < 4096 && p.end != INT64_MAX; i++) {
        period_at(z, p.end, &q);
        if (q.type->off != p.type->off || q.type->dst != p.type->dst)
            return q.start;
        p.end = q.end;
    }
    return INT64_MAX;
}

void tz_to_local(const struct tz *z, int64_t utc, struct tz_local *ret)
{
    struct period p;
    int64_t local;

    period_at(z, utc, &p);
    local = clamp64(utc, -TZ_TLIM, TZ_TLIM) + p.type->off;
    ret->days = (int32_t)floordiv(local, 86400);
    ret->sec_of_day = (int32_t)(local - (int64_t)ret->days * 86400);
    ret->weekday = weekday_from_days(ret->days);
    ret->offset = p.type->off;
    ret->dst = p.type->dst;
    ret->abbr = p.type->abbr;
}

/* Keeps invariant 3: walks the few periods that can reach local time L. */
int tz_resolve(const struct tz *z, int64_t local, bool later, int64_t *ret_utc)
{
    const int64_t W = 26 * 3600;
    int64_t L = clamp64(local, -TZ_TLIM, TZ_TLIM), first = 0, last = 0, gap_end = 0;
    int nvalid = 0;
    bool have_gap = false;
    struct period p;

    period_at(z, L - W, &p);
    for (int guard = 0; guard < 64; guard++) {
        int64_t u = L - p.type->off;

        if (u >= p.start && (p.end == INT64_MAX || u < p.end)) {
            if (nvalid++ == 0)
                first = u;
            last = u;
        } else if (!have_gap && u < p.start) {
            have_gap = true;
            gap_end = p.start;
        }
        if (p.end == INT64_MAX || p.end > L + W)
            break;
        period_at(z, p.end, &p);
    }
    if (nvalid == 1) {
        *ret_utc = first;
        return TZ_OK;
    }
    if (nvalid > 1) {
        *ret_utc = later ? last : first;
        return TZ_FOLD;
    }
    if (have_gap) {
        *ret_utc = gap_end;
        return TZ_GAP;
    }
    /* Unreachable with invariant 3; answer something sane. */
    *ret_utc = L - tz_offset_at(z, L);
    return TZ_OK;
}

int tz_local_to_utc(const struct tz *z, int32_t days, int32_t sec_of_day, int64_t *ret_utc)
{
    return tz_resolve(z, (int64_t)days * 86400 + sec_of_day, false, ret_utc);
}

int tz_local_range(const struct tz *z, int32_t days, int32_t a, int32_t b,
                   int64_t *ret_start, int64_t *ret_end)
{
    int64_t base = (int64_t)days * 86400, s, e;

    if (a < 0 || b > 86400 || a > b)
        return -EINVAL;
    tz_resolve(z, base + a, true, &s);
    tz_resolve(z, base + b, false, &e);
    if (e < s)
        e = s;
    *ret_start = s;
    *ret_end = e;
    return 0;
}

int32_t tz_day_length(const struct tz *z, int32_t days)
{
    int64_t s, e;
    tz_local_to_utc(z, days, 0, &s);
    tz_local_to_utc(z, days, 86400, &e);
    return (int32_t)(e - s);
}

/* ---- cache ---- */

struct tz_cache_entry {
    char *name; /* NULL = empty slot */
    struct tz *z;
    int err;
};

struct tz_cache {
    struct tz_cache_entry *e;
    size_t cap, count;
};

/* Failures are remembered only up to this many entries (bounded memory). */
#define TZ_CACHE_MAX_ERRORS 4096

struct tz_cache *tz_cache_new(void)
{
    struct tz_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->cap = 64;
    c->e = calloc(c->cap, sizeof(*c->e));
    if (!c->e) {
        free(c);
        return NULL;
    }
    return c;
}

void tz_cache_free(struct tz_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++) {
        free(c->e[i].name);
        tz_free(c->e[i].z);
    }
    free(c->e);
    free(c);
}

static struct tz_cache_entry *cache_slot(struct tz_cache_entry *e, size_t cap, const char *name)
{
    size_t i = hash64(name, strlen(name), 0x747a) & (cap - 1);
    while (e[i].name && !streq(e[i].name, name))
        i = (i + 1) & (cap - 1);
    return &e[i];
}

static int cache_grow(struct tz_cache *c)
{
    size_t ncap = c->cap * 2;
    struct tz_cache_entry *ne = calloc(ncap, sizeof(*ne));

    if (!ne)
        return -ENOMEM;
    for (size_t i = 0; i < c->cap; i++)
        if (c->e[i].name)
            *cache_slot(ne, ncap, c->e[i].name) = c->e[i];
    free(c->e);
    c->e = ne;
    c->cap = ncap;
    return 0;
}

int tz_cache_get(struct tz_cache *c, const char *name, const struct tz **ret)
{
    struct tz_cache_entry *s;
    struct tz *z = NULL;
    int k;

    if (!tz_name_valid(name))
        return -EINVAL;
    s = cache_slot(c->e, c->cap, name);
    if (s->name) {
        if (s->err < 0)
            return s->err;
        *ret = s->z;
        return 0;
    }
    k = tz_load(name, &z);
    if (k == -ENOMEM)
        return k;
    if (k < 0 && c->count >= TZ_CACHE_MAX_ERRORS)
        return k;
    if ((c->count + 1) * 10 > c->cap * 7) {
        int g = cache_grow(c);
        if (g < 0) {
            tz_free(z);
            return g;
        }
        s = cache_slot(c->e, c->cap, name);
    }
    s->name = strdup(name);
    if (!s->name) {
        tz_free(z);
        return -ENOMEM;
    }
    s->z = z;
    s->err = k < 0 ? k : 0;
    c->count++;
    if (k < 0)
        return k;
    *ret = z;
    return 0;
}

/* ---- zones by country (zone.tab) ---------------------------------------- */

static struct country_zone {
    char cc[3];
    const char *zone;
} *country_zones;
static size_t ncountry_zones;
static char *zone_tab; /* the file's text; zone names point into it */

/* Once per process: the table lives as long as the process. */
static void zone_tab_load(void)
{
    const char *dir = getenv("TZDIR");
    _cleanup_free_ char *path = strdupf("%s/zone.tab", isempty(dir) ? TZ_DEFAULT_DIR : dir);
    int fd = path ? open_regular(path) : -ENOMEM;
    if (fd < 0)
        return;
    struct sbuf b = SBUF_INIT;
    b.max = 1 << 20;
    char tmp[8192];
    ssize_t k;
    while ((k = read(fd, tmp, sizeof(tmp))) > 0)
        if (sbuf_add(&b, tmp, (size_t)k) < 0)
            break;
    close(fd);
    if (!b.buf) {
        sbuf_release(&b);
        return;
    }
    size_t cap = 0;
    for (size_t i = 0; i < b.len; i++)
        cap += b.buf[i] == '\n';
    country_zones = calloc(cap + 1, sizeof(*country_zones));
    if (!country_zones) {
        sbuf_release(&b);
        return;
    }
    /* "CC<TAB>coordinates<TAB>Zone/Name[<TAB>comment]", '#' comments */
    for (char *line = b.buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (line[0] == '#' || strlen(line) < 4 || line[2] != '\t')
            continue;
        char *coord = line + 3, *zone = strchr(coord, '\t');
        if (!zone)
            continue;
        zone++;
        char *end = strchr(zone, '\t');
        if (end)
            *end = 0;
        if (!tz_name_valid(zone) || ncountry_zones == cap + 1)
            continue;
        struct country_zone *z = &country_zones[ncountry_zones++];
        memcpy(z->cc, line, 2);
        z->zone = zone;
    }
    zone_tab = b.buf; /* kept: the names point into it */
}

size_t tz_country_zones(const char *country, const char **ret, size_t max)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, zone_tab_load);
    size_t n = 0;
    if (isempty(country) || strlen(country) != 2)
        return 0;
    for (size_t i = 0; i < ncountry_zones; i++)
        if (memcmp(country_zones[i].cc, country, 2) == 0) {
            if (n < max)
                ret[n] = country_zones[i].zone;
            n++;
        }
    return n;
}

void tz_format_local(const struct tz *z, int64_t t, char *buf, size_t len)
{
    struct tz_local l;
    tz_to_local(z, t, &l);
    char d[11];
    format_date(l.days, d);
    int off = l.offset < 0 ? -l.offset : l.offset;
    snprintf(buf, len, "%sT%02d:%02d:%02d%c%02d:%02d", d, l.sec_of_day / 3600,
             l.sec_of_day / 60 % 60, l.sec_of_day % 60, l.offset < 0 ? '-' : '+', off / 3600,
             off / 60 % 60);
}
