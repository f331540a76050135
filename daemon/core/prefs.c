/*
 * prefs.c - stated contact preferences and payment plan schedules
 * (prefs.h).
 *
 * Owns nothing.  Never: does I/O, reads the clock or allocates.
 *
 * Invariants:
 *  1. A range that parses satisfies 0 <= start < end <= 1440, days != 0,
 *     and (with kinds) kinds != 0: the planner never sees an empty or
 *     inverted range.
 *  2. prefs_ranges_format() writes text prefs_ranges_parse() reads back to
 *     the same ranges (the store keeps the text).
 *  3. A schedule's amounts add up to the total exactly and each is > 0.
 */
#include "prefs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"

static const char *const wd_names[7] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
static const char *const kind_names[] = { "email", "sms", "chat", "call" };

void prefs_init(struct prefs *p)
{
    memset(p, 0, sizeof(*p));
    p->channel = -1;
    p->human = -1;
}

bool prefs_empty(const struct prefs *p)
{
    return p->channel < 0 && p->human < 0 && !p->language[0] && !p->nforbid && !p->nprefer &&
           !p->due_to;
}

static int hhmm(const char *s, size_t n)
{
    if (n != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m))
        return -1;
    return h * 60 + m;
}

static int wd_find(const char *s, size_t n)
{
    for (int i = 0; n == 3 && i < 7; i++)
        if (strncasecmp(s, wd_names[i], 3) == 0)
            return i;
    return -1;
}

/* "daily", "Mon-Fri", "Sat,Sun", "Mon-Wed,Fri" -> a mask; 0 when malformed. */
static uint8_t days_parse(const char *s, size_t n)
{
    if (n == 5 && strncasecmp(s, "daily", 5) == 0)
        return 0x7f;
    uint8_t mask = 0;
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *ie = c ? c : end;
        int d0 = -1, d1 = -1;
        if (ie - p == 3)
            d0 = d1 = wd_find(p, 3);
        else if (ie - p == 7 && p[3] == '-') {
            d0 = wd_find(p, 3);
            d1 = wd_find(p + 4, 3);
        }
        if (d0 < 0 || d1 < 0)
            return 0;
        for (int d = d0;; d = (d + 1) % 7) {
            mask |= (uint8_t)(1u << d);
            if (d == d1)
                break;
        }
        p = c ? c + 1 : end;
    }
    return mask;
}

static uint8_t kinds_parse(const char *s, size_t n)
{
    if (n == 3 && strncasecmp(s, "all", 3) == 0)
        return PREFS_PERSON_KINDS;
    uint8_t mask = 0;
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        size_t len = (size_t)((c ? c : end) - p);
        int k = -1;
        for (size_t i = 0; i < ELEMENTSOF(kind_names); i++)
            if (strlen(kind_names[i]) == len && strncasecmp(p, kind_names[i], len) == 0)
                k = (int)i;
        if (k < 0)
            return 0;
        mask |= (uint8_t)(1u << k);
        p = c ? c + 1 : end;
    }
    return mask;
}

int prefs_range_add(struct prefs_range *v, uint8_t *n, struct prefs_range r)
{
    if (r.start < 0 || r.end > 1440 || r.start >= r.end || !(r.days & 0x7f))
        return -EINVAL; /* invariant 1 */
    if (*n >= PREFS_RANGES_MAX)
        return -E2BIG;
    v[(*n)++] = r;
    return 0;
}

int prefs_ranges_parse(const char *s, bool with_kinds, struct prefs_range *v, uint8_t *ret_n)
{
    struct prefs_range tmp[PREFS_RANGES_MAX];
    uint8_t n = 0;
    while (s && *s) {
        while (*s == ' ' || *s == ';')
            s++;
        if (!*s)
            break;
        const char *end = strchr(s, ';');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        while (len && s[len - 1] == ' ')
            len--;
        /* the words, split on spaces: [KINDS] DAYS HH:MM-HH:MM */
        const char *w[3];
        size_t wl[3], nw = 0;
        for (const char *p = s, *e = s + len; p < e;) {
            while (p < e && *p == ' ')
                p++;
            if (p == e)
                break;
            const char *q = p;
            while (q < e && *q != ' ')
                q++;
            if (nw == 3)
                return -EINVAL;
            w[nw] = p;
            wl[nw++] = (size_t)(q - p);
            p = q;
        }
        if (nw != (with_kinds ? 3u : 2u))
            return -EINVAL;
        size_t k = with_kinds ? 1 : 0;
        struct prefs_range r = { .kinds = with_kinds ? kinds_parse(w[0], wl[0])
                                                     : PREFS_PERSON_KINDS,
                                 .days = days_parse(w[k], wl[k]) };
        const char *t = w[k + 1];
        if (wl[k + 1] != 11 || t[5] != '-' || !r.kinds)
            return -EINVAL;
        int a = hhmm(t, 5), b = hhmm(t + 6, 5);
        if (a < 0 || b < 0 || a == 1440)
            return -EINVAL;
        r.start = (int16_t)a;
        r.end = (int16_t)b;
        int rr = prefs_range_add(tmp, &n, r);
        if (rr < 0)
            return rr;
        s = end ? end + 1 : s + len;
    }
    memcpy(v, tmp, n * sizeof(*tmp));
    *ret_n = n;
    return 0;
}

void prefs_days_format(uint8_t days, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    if ((days & 0x7f) == 0x7f) {
        snprintf(buf, len, "daily");
        return;
    }
    for (int d = 0; d < 7;) {
        if (!(days & (1u << d))) {
            d++;
            continue;
        }
        int e = d;
        while (e + 1 < 7 && (days & (1u << (e + 1))))
            e++;
        int w;
        if (e - d >= 2)
            w = snprintf(buf + o, len - o, "%s%s-%s", o ? "," : "", wd_names[d], wd_names[e]);
        else if (e == d)
            w = snprintf(buf + o, len - o, "%s%s", o ? "," : "", wd_names[d]);
        else
            w = snprintf(buf + o, len - o, "%s%s,%s", o ? "," : "", wd_names[d], wd_names[e]);
        if (w < 0 || (size_t)w >= len - o)
            return;
        o += (size_t)w;
        d = e + 1;
    }
}

int prefs_ranges_format(const struct prefs_range *v, size_t n, bool with_kinds, struct sbuf *out)
{
    int r = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        char days[40];
        prefs_days_format(v[i].days, days, sizeof(days));
        if (i)
            r = sbuf_adds(out, "; ");
        if (r >= 0 && with_kinds) {
            if ((v[i].kinds & PREFS_PERSON_KINDS) == PREFS_PERSON_KINDS)
                r = sbuf_adds(out, "all");
            else {
                bool first = true;
                for (size_t k = 0; k < ELEMENTSOF(kind_names) && r >= 0; k++)
                    if (v[i].kinds & (1u << k)) {
                        r = sbuf_addf(out, "%s%s", first ? "" : ",", kind_names[k]);
                        first = false;
                    }
            }
            if (r >= 0)
                r = sbuf_addc(out, ' ');
        }
        if (r >= 0)
            r = sbuf_addf(out, "%s %02d:%02d-%02d:%02d", days, v[i].start / 60, v[i].start % 60,
                          v[i].end / 60, v[i].end % 60);
    }
    return r < 0 ? r : 0;
}

bool prefs_forbids(const struct prefs *p, int kind, int wd, int minute)
{
    for (size_t i = 0; p && i < p->nforbid; i++) {
        const struct prefs_range *r = &p->forbid[i];
        if ((r->kinds & (1u << kind)) && (r->days & (1u << wd)) && minute >= r->start &&
            minute < r->end)
            return true;
    }
    return false;
}

bool prefs_prefers(const struct prefs *p, int wd, int minute)
{
    for (size_t i = 0; p && i < p->nprefer; i++) {
        const struct prefs_range *r = &p->prefer[i];
        if ((r->days & (1u << wd)) && minute >= r->start && minute < r->end)
            return true;
    }
    return false;
}

/* ---- payment plans ---- */

int prefs_plan_schedule(int64_t total, int n, int32_t first, struct plan_instalment *out)
{
    if (n < 2 || n > PLAN_INSTALMENTS_MAX || total < n)
        return -EINVAL;
    int y;
    unsigned m, d;
    civil_from_days(first, &y, &m, &d);
    int64_t each = total / n, rem = total % n;
    for (int i = 0; i < n; i++) {
        int yy = y + (int)((m - 1 + (unsigned)i) / 12);
        unsigned mm = (m - 1 + (unsigned)i) % 12 + 1;
        int dim = days_in_month(yy, mm);
        out[i].day = days_from_civil(yy, mm, d > (unsigned)dim ? (unsigned)dim : d);
        out[i].amount_minor = each + (i == 0 ? rem : 0); /* invariant 3 */
    }
    return 0;
}

size_t prefs_plan_next(const struct plan_instalment *v, size_t n, int64_t paid)
{
    int64_t due = 0;
    for (size_t i = 0; i < n; i++) {
        due += v[i].amount_minor;
        if (paid < due)
            return i;
    }
    return n;
}
