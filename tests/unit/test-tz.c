/*
 * test-tz.c - time zones: DST transition days in several zones, gaps and
 * folds, local windows, far-future dates from the footer rule, hand-written
 * TZif files (slim, v1, odd rules), malformed data, and agreement with
 * glibc's localtime_r over many random instants (TZ is set in this test
 * only, never in tz.c).
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "tz.h"
#include "util.h"

#define H 3600

static int64_t utc_of(int y, unsigned mo, unsigned d, int hh, int mm, int ss)
{
    return (int64_t)days_from_civil(y, mo, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

static struct tz *load(const char *name)
{
    struct tz *z = NULL;
    int r = tz_load(name, &z);
    if (r < 0)
        fprintf(stderr, "cannot load zone '%s': %s\n", name, strerror(-r));
    CHECK_INT(r, 0);
    return z;
}

/* Deterministic PRNG for the random comparisons. */
static uint64_t rng_state = 0x1234567;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void check_range(const struct tz *z, int32_t day, int a, int b, int64_t want_s,
                        int64_t want_e)
{
    int64_t s = -1, e = -1;
    CHECK_INT(tz_local_range(z, day, a, b, &s, &e), 0);
    CHECK_INT(s, want_s);
    CHECK_INT(e, want_e);
}

static void test_name_valid(void)
{
    CHECK(tz_name_valid("UTC"));
    CHECK(tz_name_valid("America/New_York"));
    CHECK(tz_name_valid("America/Argentina/Buenos_Aires"));
    CHECK(tz_name_valid("Etc/GMT+5"));
    CHECK(tz_name_valid("America/Port-au-Prince"));
    CHECK(!tz_name_valid(""));
    CHECK(!tz_name_valid(NULL));
    CHECK(!tz_name_valid("/etc/passwd"));
    CHECK(!tz_name_valid("../etc/passwd"));
    CHECK(!tz_name_valid("America/../../etc"));
    CHECK(!tz_name_valid("America//New_York"));
    CHECK(!tz_name_valid("America/"));
    CHECK(!tz_name_valid("zone.tab"));
    CHECK(!tz_name_valid("Europe/Madrid "));
    CHECK(!tz_name_valid("Europe\\Madrid"));
    char longname[TZ_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    CHECK(!tz_name_valid(longname));
    longname[TZ_NAME_MAX] = 0;
    CHECK(tz_name_valid(longname));
}

static void test_new_york(void)
{
    _cleanup_(tz_freep) struct tz *z = load("America/New_York");
    struct tz_local l;
    int64_t u;
    int32_t spring = days_from_civil(2026, 3, 8), fall = days_from_civil(2026, 11, 1);

    if (!z)
        return;
    CHECK_STR(tz_name(z), "America/New_York");
    /* Spring forward: 02:00 EST -> 03:00 EDT at 07:00 UTC. */
    CHECK_INT(tz_offset_at(z, utc_of(2026, 3, 8, 6, 59, 59)), -5 * H);
    CHECK_INT(tz_offset_at(z, utc_of(2026, 3, 8, 7, 0, 0)), -4 * H);
    CHECK_INT(tz_next_change(z, utc_of(2026, 1, 1, 0, 0, 0)), utc_of(2026, 3, 8, 7, 0, 0));
    CHECK_INT(tz_next_change(z, utc_of(2026, 3, 8, 7, 0, 0)), utc_of(2026, 11, 1, 6, 0, 0));
    tz_to_local(z, utc_of(2026, 3, 8, 7, 0, 0), &l);
    CHECK_INT(l.days, spring);
    CHECK_INT(l.sec_of_day, 3 * H);
    CHECK_INT(l.weekday, 6);
    CHECK_INT(l.offset, -4 * H);
    CHECK(l.dst);
    CHECK_STR(l.abbr, "EDT");
    tz_to_local(z, utc_of(2026, 3, 8, 6, 59, 59), &l);
    CHECK_INT(l.sec_of_day, 2 * H - 1);
    CHECK(!l.dst);
    CHECK_STR(l.abbr, "EST");
    CHECK_INT(tz_day_length(z, spring), 23 * H);
    CHECK_INT(tz_day_length(z, spring - 1), 24 * H);
    CHECK_INT(tz_day_length(z, fall), 25 * H);

    /* 02:30 does not exist: the gap ends at 03:00 EDT = 07:00 UTC. */
    CHECK_INT(tz_local_to_utc(z, spring, 2 * H + 1800, &u), TZ_GAP);
    CHECK_INT(u, utc_of(2026, 3, 8, 7, 0, 0));
    CHECK_INT(tz_local_to_utc(z, spring, 2 * H, &u), TZ_GAP);
    CHECK_INT(u, utc_of(2026, 3, 8, 7, 0, 0));
    CHECK_INT(tz_local_to_utc(z, spring, 2 * H - 1, &u), TZ_OK);
    CHECK_INT(u, utc_of(2026, 3, 8, 6, 59, 59));
    CHECK_INT(tz_local_to_utc(z, spring, 3 * H, &u), TZ_OK);
    CHECK_INT(u, utc_of(2026, 3, 8, 7, 0, 0));
    CHECK_INT(tz_local_to_utc(z, spring, 8 * H, &u), TZ_OK);
    CHECK_INT(u, utc_of(2026, 3, 8, 12, 0, 0));
    /* A window starting inside the skipped hour. */
    check_range(z, spring, 2 * H + 1800, 4 * H, utc_of(2026, 3, 8, 7, 0, 0),
                utc_of(2026, 3, 8, 8, 0, 0));
    /* A window ending inside it, and one wholly inside it (empty). */
    check_range(z, spring, 1 * H, 2 * H + 1800, utc_of(2026, 3, 8, 6, 0, 0),
                utc_of(2026, 3, 8, 7, 0, 0));
    check_range(z, spring, 2 * H + 600, 2 * H + 1200, utc_of(2026, 3, 8, 7, 0, 0),
                utc_of(2026, 3, 8, 7, 0, 0));
    /* The legal window on both DST days and a normal day. */
    check_range(z, spring, 8 * H, 21 * H, utc_of(2026, 3, 8, 12, 0, 0),
                utc_of(2026, 3, 9, 1, 0, 0));
    check_range(z, fall, 8 * H, 21 * H, utc_of(2026, 11, 1, 13, 0, 0),
                utc_of(2026, 11, 2, 2, 0, 0));
    check_range(z, days_from_civil(2026, 7, 1), 8 * H, 21 * H, utc_of(2026, 7, 1, 12, 0, 0),
                utc_of(2026, 7, 2, 1, 0, 0));
    check_range(z, spring, 0, 86400, utc_of(2026, 3, 8, 5, 0, 0), utc_of(2026, 3, 9, 4, 0, 0));

    /* Fall back: 02:00 EDT -> 01:00 EST at 06:00 UTC; 01:30 occurs twice. */
    CHECK_INT(tz_offset_at(z, utc_of(2026, 11, 1, 5, 59, 59)), -4 * H);
    CHECK_INT(tz_offset_at(z, utc_of(2026, 11, 1, 6, 0, 0)), -5 * H);
    CHECK_INT(tz_local_to_utc(z, fall, H + 1800, &u), TZ_FOLD);
    CHECK_INT(u, utc_of(2026, 11, 1, 5, 30, 0));
    CHECK_INT(tz_resolve(z, (int64_t)fall * 86400 + H + 1800, true, &u), TZ_FOLD);
    CHECK_INT(u, utc_of(2026, 11, 1, 6, 30, 0));
    CHECK_INT(tz_local_to_utc(z, fall, H, &u), TZ_FOLD);
    CHECK_INT(u, utc_of(2026, 11, 1, 5, 0, 0));
    CHECK_INT(tz_local_to_utc(z, fall, 2 * H, &u), TZ_OK);
    CHECK_INT(u, utc_of(2026, 11, 1, 7, 0, 0));
    CHECK_INT(tz_local_to_utc(z, fall, H - 1, &u), TZ_OK);
    CHECK_INT(u, utc_of(2026, 11, 1, 4, 59, 59));
    /* A window starting in the fold starts at its second occurrence, so the
     * wall clock never runs back before the window; one ending in the fold
     * ends at its first occurrence. */
    check_range(z, fall, H + 1800, 4 * H, utc_of(2026, 11, 1, 6, 30, 0),
                utc_of(2026, 11, 1, 9, 0, 0));
    check_range(z, fall, 0, H + 1800, utc_of(2026, 11, 1, 4, 0, 0),
                utc_of(2026, 11, 1, 5, 30, 0));
    check_range(z, fall, 1800, 3 * H, utc_of(2026, 11, 1, 4, 30, 0),
                utc_of(2026, 11, 1, 8, 0, 0));

    int64_t s, e;
    CHECK_INT(tz_local_range(z, fall, 5, 4, &s, &e), -EINVAL);
    CHECK_INT(tz_local_range(z, fall, -1, 4, &s, &e), -EINVAL);
    CHECK_INT(tz_local_range(z, fall, 0, 86401, &s, &e), -EINVAL);
}

static void test_europe(void)
{
    _cleanup_(tz_freep) struct tz *m = load("Europe/Madrid");
    _cleanup_(tz_freep) struct tz *l = load("Europe/London");
    _cleanup_(tz_freep) struct tz *c = load("Atlantic/Canary");
    int32_t spring = days_from_civil(2026, 3, 29), fall = days_from_civil(2026, 10, 25);
    int64_t u;

    if (!m || !l || !c)
        return;
    /* Both change at 01:00 UTC on the last Sundays of March and October. */
    CHECK_INT(tz_next_change(m, utc_of(2026, 1, 1, 0, 0, 0)), utc_of(2026, 3, 29, 1, 0, 0));
    CHECK_INT(tz_next_change(l, utc_of(2026, 1, 1, 0, 0, 0)), utc_of(2026, 3, 29, 1, 0, 0));
    CHECK_INT(tz_next_change(c, utc_of(2026, 1, 1, 0, 0, 0)), utc_of(2026, 3, 29, 1, 0, 0));
    CHECK_INT(tz_next_change(m, utc_of(2026, 4, 1, 0, 0, 0)), utc_of(2026, 10, 25, 1, 0, 0));
    CHECK_INT(tz_offset_at(m, utc_of(2026, 2, 1, 0, 0, 0)), H);
    CHECK_INT(tz_offset_at(m, utc_of(2026, 7, 1, 0, 0, 0)), 2 * H);
    CHECK_INT(tz_offset_at(l, utc_of(2026, 2, 1, 0, 0, 0)), 0);
    CHECK_INT(tz_offset_at(l, utc_of(2026, 7, 1, 0, 0, 0)), H);
    CHECK_INT(tz_offset_at(c, utc_of(2026, 7, 1, 0, 0, 0)), H);
    CHECK_INT(tz_day_length(m, spring), 23 * H);
    CHECK_INT(tz_day_length(l, spring), 23 * H);
    CHECK_INT(tz_day_length(m, fall), 25 * H);
    CHECK_INT(tz_day_length(l, fall), 25 * H);
    /* Madrid skips 02:00-03:00, London 01:00-02:00. */
    CHECK_INT(tz_local_to_utc(m, spring, 2 * H + 900, &u), TZ_GAP);
    CHECK_INT(u, utc_of(2026, 3, 29, 1, 0, 0));
    CHECK_INT(tz_local_to_utc(m, spring, H + 900, &u), TZ_OK);
    CHECK_INT(u, utc_of(2026, 3, 29, 0, 15, 0));
    CHECK_INT(tz_local_to_utc(l, spring, H + 900, &u), TZ_GAP);
    CHECK_INT(u, utc_of(2026, 3, 29, 1, 0, 0));
    CHECK_INT(tz_local_to_utc(l, spring, 2 * H, &u), TZ_OK);
    CHECK_INT(u, utc_of(2026, 3, 29, 1, 0, 0));
    /* Madrid repeats 02:00-03:00, London 01:00-02:00. */
    CHECK_INT(tz_local_to_utc(m, fall, 2 * H + 1800, &u), TZ_FOLD);
    CHECK_INT(u, utc_of(2026, 10, 25, 0, 30, 0));
    CHECK_INT(tz_local_to_utc(l, fall, H + 1800, &u), TZ_FOLD);
    CHECK_INT(u, utc_of(2026, 10, 25, 0, 30, 0));
    CHECK_INT(tz_resolve(l, (int64_t)fall * 86400 + H + 1800, true, &u), TZ_FOLD);
    CHECK_INT(u, utc_of(2026, 10, 25, 1, 30, 0));
    /* Spain's 09:00-21:00 call window in Madrid and the Canaries. */
    check_range(m, fall, 9 * H, 21 * H, utc_of(2026, 10, 25, 8, 0, 0),
                utc_of(2026, 10, 25, 20, 0, 0));
    check_range(c, fall, 9 * H, 21 * H, utc_of(2026, 10, 25, 9, 0, 0),
                utc_of(2026, 10, 25, 21, 0, 0));
    check_range(m, spring, 9 * H, 21 * H, utc_of(2026, 3, 29, 7, 0, 0),
                utc_of(2026, 3, 29, 19, 0, 0));
}

static void test_adelaide(void)
{
    _cleanup_(tz_freep) struct tz *z = load("Australia/Adelaide");
    int32_t end = days_from_civil(2026, 4, 5), start = days_from_civil(2026, 10, 4);
    struct tz_local l;
    int64_t u;

    if (!z)
        return;
    CHECK_INT(tz_offset_at(z, utc_of(2026, 1, 15, 0, 0, 0)), 10 * H + 1800);
    CHECK_INT(tz_offset_at(z, utc_of(2026, 6, 15, 0, 0, 0)), 9 * H + 1800);
    /* DST ends 03:00 ACDT -> 02:00 ACST on 2026-04-05 = 16:30 UTC the day before. */
    CHECK_INT(tz_next_change(z, utc_of(2026, 1, 1, 0, 0, 0)), utc_of(2026, 4, 4, 16, 30, 0));
    /* DST starts 02:00 ACST -> 03:00 ACDT on 2026-10-04 = 16:30 UTC the day before. */
    CHECK_INT(tz_next_change(z, utc_of(2026, 5, 1, 0, 0, 0)), utc_of(2026, 10, 3, 16, 30, 0));
    CHECK_INT(tz_day_length(z, end), 25 * H);
    CHECK_INT(tz_day_length(z, start), 23 * H);
    CHECK_INT(tz_local_to_utc(z, end, 2 * H + 1800, &u), TZ_FOLD);
    CHECK_INT(u, utc_of(2026, 4, 4, 16, 0, 0));
    CHECK_INT(tz_local_to_utc(z, start, 2 * H + 1800, &u), TZ_GAP);
    CHECK_INT(u, utc_of(2026, 10, 3, 16, 30, 0));
    check_range(z, start, 8 * H, 21 * H, utc_of(2026, 10, 3, 21, 30, 0),
                utc_of(2026, 10, 4, 10, 30, 0));
    tz_to_local(z, utc_of(2026, 10, 3, 16, 30, 0), &l);
    CHECK_INT(l.days, start);
    CHECK_INT(l.sec_of_day, 3 * H);
    CHECK(l.dst);
    CHECK_INT(l.weekday, 6);
}

static void test_fixed_zones(void)
{
    _cleanup_(tz_freep) struct tz *k = load("Asia/Kathmandu");
    _cleanup_(tz_freep) struct tz *u = load("UTC");
    struct tz_local l;
    int64_t t;

    if (!k || !u)
        return;
    for (int y = 1990; y <= 2400; y += 7) {
        CHECK_INT(tz_offset_at(k, utc_of(y, 3, 1, 0, 0, 0)), 5 * H + 45 * 60);
        CHECK_INT(tz_offset_at(k, utc_of(y, 9, 1, 0, 0, 0)), 5 * H + 45 * 60);
        CHECK_INT(tz_offset_at(u, utc_of(y, 6, 1, 0, 0, 0)), 0);
    }
    CHECK_INT(tz_next_change(k, utc_of(2000, 1, 1, 0, 0, 0)), INT64_MAX);
    CHECK_INT(tz_next_change(u, 0), INT64_MAX);
    tz_to_local(k, utc_of(2026, 3, 8, 20, 0, 0), &l);
    CHECK_INT(l.days, days_from_civil(2026, 3, 9));
    CHECK_INT(l.sec_of_day, 1 * H + 45 * 60);
    CHECK_STR(l.abbr, "+0545");
    CHECK(!l.dst);
    CHECK_INT(tz_day_length(k, days_from_civil(2026, 3, 8)), 86400);
    CHECK_INT(tz_day_length(u, days_from_civil(2026, 3, 8)), 86400);
    check_range(k, days_from_civil(2026, 3, 8), 8 * H, 21 * H, utc_of(2026, 3, 8, 2, 15, 0),
                utc_of(2026, 3, 8, 15, 15, 0));
    CHECK_INT(tz_local_to_utc(u, days_from_civil(2026, 3, 8), 1234, &t), TZ_OK);
    CHECK_INT(t, utc_of(2026, 3, 8, 0, 20, 34));
    /* Before 1970 and far away. */
    tz_to_local(u, -1, &l);
    CHECK_INT(l.days, -1);
    CHECK_INT(l.sec_of_day, 86399);
    CHECK_INT(l.weekday, 2);
    CHECK_INT(tz_offset_at(u, INT64_MAX), 0);
    CHECK_INT(tz_offset_at(u, INT64_MIN), 0);
    CHECK_INT(tz_offset_at(k, INT64_MAX), 5 * H + 45 * 60);
}

static void test_far_future(void)
{
    _cleanup_(tz_freep) struct tz *ny = load("America/New_York");
    _cleanup_(tz_freep) struct tz *ad = load("Australia/Adelaide");
    int64_t u;

    if (!ny || !ad)
        return;
    /* 2040: second Sunday of March is the 11th, first of November the 4th. */
    CHECK_INT(tz_next_change(ny, utc_of(2040, 1, 1, 0, 0, 0)), utc_of(2040, 3, 11, 7, 0, 0));
    CHECK_INT(tz_next_change(ny, utc_of(2040, 3, 12, 0, 0, 0)), utc_of(2040, 11, 4, 6, 0, 0));
    CHECK_INT(tz_day_length(ny, days_from_civil(2040, 3, 11)), 23 * H);
    CHECK_INT(tz_local_to_utc(ny, days_from_civil(2040, 3, 11), 2 * H + 1800, &u), TZ_GAP);
    CHECK_INT(u, utc_of(2040, 3, 11, 7, 0, 0));
    /* Beyond the expanded table (2200): the rule is evaluated directly.
     * 2300-03-01 is a Thursday, so the second Sunday is the 11th. */
    CHECK_INT(tz_next_change(ny, utc_of(2300, 1, 1, 0, 0, 0)), utc_of(2300, 3, 11, 7, 0, 0));
    CHECK_INT(tz_offset_at(ny, utc_of(2300, 7, 1, 0, 0, 0)), -4 * H);
    CHECK_INT(tz_offset_at(ny, utc_of(2300, 12, 1, 0, 0, 0)), -5 * H);
    CHECK_INT(tz_local_to_utc(ny, days_from_civil(2300, 3, 11), 2 * H + 1800, &u), TZ_GAP);
    CHECK_INT(u, utc_of(2300, 3, 11, 7, 0, 0));
    /* The seam between table and rule (2201-03-01 is a Sunday). */
    for (int64_t t = utc_of(2200, 10, 1, 0, 0, 0); t < utc_of(2201, 6, 1, 0, 0, 0); t += 3 * H) {
        int32_t o = tz_offset_at(ny, t);
        CHECK(o == -4 * H || o == -5 * H);
    }
    CHECK_INT(tz_next_change(ny, utc_of(2200, 12, 1, 0, 0, 0)), utc_of(2201, 3, 8, 7, 0, 0));
    /* Southern hemisphere, 2040: DST ends 2040-04-01, starts 2040-10-07. */
    CHECK_INT(tz_next_change(ad, utc_of(2040, 1, 1, 0, 0, 0)), utc_of(2040, 3, 31, 16, 30, 0));
    CHECK_INT(tz_next_change(ad, utc_of(2040, 5, 1, 0, 0, 0)), utc_of(2040, 10, 6, 16, 30, 0));
}

/* Compare one instant with glibc (TZ already set); returns 1 on mismatch. */
static int check_instant(const struct tz *z, const char *name, int64_t t)
{
    struct tm tm;
    struct tz_local l;
    time_t tt = (time_t)t;
    int64_t back;
    int bad = 0, r;

    if (!localtime_r(&tt, &tm))
        return 0;
    tz_to_local(z, t, &l);
    int32_t want_days = days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                        (unsigned)tm.tm_mday);
    int32_t want_sec = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    if (l.offset != tm.tm_gmtoff || l.dst != (tm.tm_isdst > 0) || l.days != want_days ||
        l.sec_of_day != want_sec || l.weekday != (tm.tm_wday + 6) % 7 ||
        strcmp(l.abbr, tm.tm_zone) != 0) {
        fprintf(stderr, "%s at %lld: got off %d dst %d %s, glibc %ld %d %s\n", name,
                (long long)t, l.offset, l.dst, l.abbr, tm.tm_gmtoff, tm.tm_isdst, tm.tm_zone);
        bad = 1;
    }
    /* Round trip: the local time maps back to t (or to an earlier fold instant). */
    r = tz_local_to_utc(z, l.days, l.sec_of_day, &back);
    if (!(r == TZ_OK && back == t) && !(r == TZ_FOLD && back <= t)) {
        fprintf(stderr, "%s at %lld: round trip gave %d %lld\n", name, (long long)t, r,
                (long long)back);
        bad = 1;
    }
    return bad;
}

/* Compare with glibc for one zone: random instants and around every change. */
static int compare_glibc(const char *name, int64_t from, int64_t to, int nrand)
{
    _cleanup_(tz_freep) struct tz *z = load(name);
    int bad = 0, changes = 0;

    if (!z)
        return 1;
    setenv("TZ", name, 1);
    tzset();
    for (int i = 0; i < nrand && bad < 5; i++)
        bad += check_instant(z, name, from + (int64_t)(rng() % (uint64_t)(to - from)));
    for (int64_t t = tz_next_change(z, from); t < to && bad < 5; t = tz_next_change(z, t)) {
        bad += check_instant(z, name, t - 1);
        bad += check_instant(z, name, t);
        changes++;
    }
    return bad;
}

static void test_glibc(void)
{
    static const char *const zones[] = {
        "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
        "America/Los_Angeles", "Europe/Madrid", "Atlantic/Canary", "Europe/London",
        "Australia/Adelaide", "Asia/Kathmandu", "Australia/Lord_Howe", "America/Sao_Paulo",
        "Pacific/Chatham", "Asia/Tehran", "America/Santiago", "Europe/Dublin", "UTC",
        "America/Mexico_City", "Europe/Berlin", "America/St_Johns",
    };
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;

    for (size_t i = 0; i < ELEMENTSOF(zones); i++) {
        CHECK_INT(compare_glibc(zones[i], utc_of(1970, 1, 1, 0, 0, 0),
                                utc_of(2040, 12, 31, 0, 0, 0), 3000), 0);
        CHECK_INT(compare_glibc(zones[i], utc_of(2040, 1, 1, 0, 0, 0),
                                utc_of(2400, 1, 1, 0, 0, 0), 300), 0);
    }
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
}

/* ---- hand-written TZif data ---- */

struct tzif_spec {
    char version; /* 0, '2', '3' */
    int ntimes;
    const int64_t *times;
    const uint8_t *idx;
    int ntypes;
    const int32_t *offs;
    const uint8_t *dsts;
    const uint8_t *abbr_idx;
    const char *chars;
    int charcnt;
    const char *footer; /* v2+ only */
};

static void put32(struct sbuf *b, uint32_t v)
{
    uint8_t p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    sbuf_add(b, p, 4);
}

static void put_header(struct sbuf *b, char version, const struct tzif_spec *s, bool empty)
{
    sbuf_add(b, "TZif", 4);
    sbuf_addc(b, version);
    sbuf_add(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15);
    put32(b, 0);
    put32(b, 0);
    put32(b, 0);
    put32(b, empty ? 0 : (uint32_t)s->ntimes);
    put32(b, empty ? 1 : (uint32_t)s->ntypes);
    put32(b, empty ? 1 : (uint32_t)s->charcnt);
}

static void put_block(struct sbuf *b, const struct tzif_spec *s, int tsize)
{
    for (int i = 0; i < s->ntimes; i++) {
        if (tsize == 8)
            put32(b, (uint32_t)((uint64_t)s->times[i] >> 32));
        put32(b, (uint32_t)s->times[i]);
    }
    for (int i = 0; i < s->ntimes; i++)
        sbuf_addc(b, (char)s->idx[i]);
    for (int i = 0; i < s->ntypes; i++) {
        put32(b, (uint32_t)s->offs[i]);
        sbuf_addc(b, (char)s->dsts[i]);
        sbuf_addc(b, (char)s->abbr_idx[i]);
    }
    sbuf_add(b, s->chars, (size_t)s->charcnt);
}

static void build_tzif(struct sbuf *b, const struct tzif_spec *s)
{
    sbuf_reset(b);
    if (s->version == 0) {
        put_header(b, 0, s, false);
        put_block(b, s, 4);
        return;
    }
    /* A minimal ("slim") v1 block, then the 64-bit data and the footer. */
    put_header(b, s->version, s, true);
    sbuf_add(b, "\0\0\0\0\0\0\0", 7);
    put_header(b, s->version, s, false);
    put_block(b, s, 8);
    sbuf_addf(b, "\n%s\n", s->footer);
}

static struct tz *parse_spec(const struct tzif_spec *s)
{
    struct sbuf b = SBUF_INIT;
    struct tz *z = NULL;
    build_tzif(&b, s);
    CHECK_INT(tz_parse(b.buf, b.len, &z), 0);
    sbuf_release(&b);
    return z;
}

static const int64_t one_time[] = { 0 };
static const uint8_t one_idx[] = { 0 };
static const int32_t xst_offs[] = { 2 * H, 3 * H };
static const uint8_t xst_dsts[] = { 0, 1 };
static const uint8_t xst_abbr[] = { 0, 4 };

static const struct tzif_spec tiny = {
    '2', 1, one_time, one_idx, 2, xst_offs, xst_dsts, xst_abbr, "XST\0XDT\0", 8,
    "XST-2XDT,M3.5.0/2,M10.5.0/3",
};

static void test_tiny_file(void)
{
    char dir[] = "/tmp/test-tz-XXXXXX", path[256];
    struct sbuf b = SBUF_INIT;
    struct tz *z = NULL;
    const char *old = getenv("TZDIR");
    char *saved = old ? strdup(old) : NULL;
    FILE *f;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/Test", dir);
    CHECK_INT(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/Test/Tiny", dir);
    build_tzif(&b, &tiny);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fwrite(b.buf, 1, b.len, f);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/Test/Bad", dir);
    f = fopen(path, "w");
    if (f) {
        fwrite(b.buf, 1, b.len - 3, f);
        fclose(f);
    }
    setenv("TZDIR", dir, 1);
    CHECK_INT(tz_load("Test/Tiny", &z), 0);
    if (z) {
        CHECK_STR(tz_name(z), "Test/Tiny");
        CHECK_INT(tz_offset_at(z, utc_of(2030, 1, 15, 0, 0, 0)), 2 * H);
        CHECK_INT(tz_offset_at(z, utc_of(2030, 7, 15, 0, 0, 0)), 3 * H);
        /* Last Sunday of March 2030 is the 31st: 02:00 XST = 00:00 UTC;
         * last Sunday of October is the 27th: 03:00 XDT = 00:00 UTC. */
        CHECK_INT(tz_next_change(z, utc_of(2030, 1, 1, 0, 0, 0)), utc_of(2030, 3, 31, 0, 0, 0));
        CHECK_INT(tz_next_change(z, utc_of(2030, 4, 1, 0, 0, 0)), utc_of(2030, 10, 27, 0, 0, 0));
        struct tz_local l;
        tz_to_local(z, utc_of(2030, 7, 15, 0, 0, 0), &l);
        CHECK_STR(l.abbr, "XDT");
        tz_free(z);
        z = NULL;
    }
    CHECK_INT(tz_load("Test/Bad", &z), -EINVAL);
    CHECK_INT(tz_load("Test/Missing", &z), -ENOENT);
    CHECK_INT(tz_load("Test", &z), -ENOENT);
    CHECK_INT(tz_load("America/New_York", &z), -ENOENT);
    /* UTC works without any tz database. */
    CHECK_INT(tz_load("UTC", &z), 0);
    if (z) {
        CHECK_INT(tz_offset_at(z, 12345), 0);
        tz_free(z);
        z = NULL;
    }
    if (saved)
        setenv("TZDIR", saved, 1);
    else
        unsetenv("TZDIR");
    free(saved);
    snprintf(path, sizeof(path), "%s/Test/Tiny", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/Test/Bad", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/Test", dir);
    rmdir(path);
    rmdir(dir);
    sbuf_release(&b);
}

static void test_odd_rules(void)
{
    /* Jn and n dates, negative and over-24h times. */
    static const int32_t offs[] = { H, 2 * H };
    static const uint8_t dsts[] = { 0, 1 };
    static const uint8_t ab[] = { 0, 4 };
    struct tzif_spec s = { '3', 1, one_time, one_idx, 2, offs, dsts, ab, "AAA\0BBB\0", 8,
                           "AAA-1BBB,J60/-1,300/26" };
    struct tz *z = parse_spec(&s);

    if (z) {
        /* J60 is March 1 even in leap years, at -1:00 = 23:00 the day before. */
        CHECK_INT(tz_next_change(z, utc_of(2031, 1, 1, 0, 0, 0)), utc_of(2031, 2, 28, 22, 0, 0));
        CHECK_INT(tz_next_change(z, utc_of(2032, 1, 1, 0, 0, 0)), utc_of(2032, 2, 29, 22, 0, 0));
        /* Day 300 (0-based, Feb 29 counted) at 26:00 BBB. */
        CHECK_INT(tz_next_change(z, utc_of(2031, 6, 1, 0, 0, 0)), utc_of(2031, 10, 29, 0, 0, 0));
        CHECK_INT(tz_next_change(z, utc_of(2032, 6, 1, 0, 0, 0)), utc_of(2032, 10, 28, 0, 0, 0));
        /* And past the expanded table. */
        CHECK_INT(tz_next_change(z, utc_of(2301, 1, 1, 0, 0, 0)), utc_of(2301, 2, 28, 22, 0, 0));
        tz_free(z);
    }

    /* Southern hemisphere with <+hh> names and minutes. */
    static const int32_t offs2[] = { 9 * H + 1800, 10 * H + 1800 };
    struct tzif_spec s2 = { '2', 1, one_time, one_idx, 2, offs2, dsts, ab, "AAA\0BBB\0", 8,
                            "<+0930>-9:30<+1030>,M10.1.0,M4.1.0/3" };
    z = parse_spec(&s2);
    if (z) {
        CHECK_INT(tz_next_change(z, utc_of(2026, 1, 1, 0, 0, 0)), utc_of(2026, 4, 4, 16, 30, 0));
        CHECK_INT(tz_next_change(z, utc_of(2026, 5, 1, 0, 0, 0)), utc_of(2026, 10, 3, 16, 30, 0));
        struct tz_local l;
        tz_to_local(z, utc_of(2026, 1, 1, 0, 0, 0), &l);
        CHECK_STR(l.abbr, "+1030");
        tz_free(z);
    }

    /* DST all year ("0/0,J365/25"): never a change, always DST. */
    static const int32_t offs3[] = { -4 * H, -3 * H };
    struct tzif_spec s3 = { '3', 1, one_time, one_idx, 2, offs3, dsts, ab, "AAA\0BBB\0", 8,
                            "AAA4BBB,0/0,J365/25" };
    z = parse_spec(&s3);
    if (z) {
        for (int y = 2020; y < 2400; y += 13) {
            CHECK_INT(tz_offset_at(z, utc_of(y, 1, 1, 2, 0, 0)), -3 * H);
            CHECK_INT(tz_offset_at(z, utc_of(y, 12, 31, 23, 0, 0)), -3 * H);
        }
        CHECK_INT(tz_day_length(z, days_from_civil(2030, 1, 1)), 86400);
        tz_free(z);
    }

    /* No transitions at all: the rule governs every instant. */
    struct tzif_spec s4 = { '2', 0, NULL, NULL, 1, offs, dsts, ab, "AAA\0", 4,
                            "AAA-1BBB,M3.5.0,M10.5.0/3" };
    z = parse_spec(&s4);
    if (z) {
        CHECK_INT(tz_offset_at(z, utc_of(1950, 7, 1, 0, 0, 0)), 2 * H);
        CHECK_INT(tz_offset_at(z, utc_of(2050, 1, 1, 0, 0, 0)), H);
        CHECK_INT(tz_next_change(z, utc_of(2026, 1, 1, 0, 0, 0)), utc_of(2026, 3, 29, 1, 0, 0));
        tz_free(z);
    }

    /* A DST name without a rule means the US default rule. */
    static const int32_t offs5[] = { -5 * H };
    struct tzif_spec s5 = { '2', 0, NULL, NULL, 1, offs5, dsts, ab, "AAA\0", 4, "EST5EDT" };
    z = parse_spec(&s5);
    if (z) {
        CHECK_INT(tz_next_change(z, utc_of(2026, 1, 1, 0, 0, 0)), utc_of(2026, 3, 8, 7, 0, 0));
        tz_free(z);
    }

    /* Version 1 only: 32-bit times, no footer; the last type lasts forever. */
    static const int64_t times6[] = { -100000, 1000000000 };
    static const uint8_t idx6[] = { 1, 0 };
    struct tzif_spec s6 = { 0, 2, times6, idx6, 2, offs, dsts, ab, "AAA\0BBB\0", 8, NULL };
    z = parse_spec(&s6);
    if (z) {
        CHECK_INT(tz_offset_at(z, -100001), H);
        CHECK_INT(tz_offset_at(z, -100000), 2 * H);
        CHECK_INT(tz_offset_at(z, 999999999), 2 * H);
        CHECK_INT(tz_offset_at(z, 1000000000), H);
        CHECK_INT(tz_offset_at(z, utc_of(2300, 7, 1, 0, 0, 0)), H);
        tz_free(z);
    }
}

/* A slim New York file (table ends 2007, DST from the footer) agrees with
 * the system's file everywhere after 2007. */
static void test_slim_matches_system(void)
{
    static const int64_t times[] = { 1194156000 }; /* 2007-11-04 06:00 UTC */
    static const uint8_t idx[] = { 1 };
    static const int32_t offs[] = { -4 * H, -5 * H };
    static const uint8_t dsts[] = { 1, 0 };
    static const uint8_t ab[] = { 0, 4 };
    struct tzif_spec s = { '2', 1, times, idx, 2, offs, dsts, ab, "EDT\0EST\0", 8,
                           "EST5EDT,M3.2.0,M11.1.0" };
    _cleanup_(tz_freep) struct tz *sys = load("America/New_York");
    _cleanup_(tz_freep) struct tz *slim = parse_spec(&s);
    int bad = 0;

    if (!sys || !slim)
        return;
    for (int i = 0; i < 20000 && bad < 5; i++) {
        int64_t t = utc_of(2008, 1, 1, 0, 0, 0) + (int64_t)(rng() % (100ULL * 366 * 86400));
        if (tz_offset_at(sys, t) != tz_offset_at(slim, t)) {
            fprintf(stderr, "slim/system differ at %lld\n", (long long)t);
            bad++;
        }
    }
    CHECK_INT(bad, 0);
    for (int64_t t = utc_of(2008, 1, 1, 0, 0, 0); t < utc_of(2100, 1, 1, 0, 0, 0);) {
        int64_t a = tz_next_change(sys, t), b = tz_next_change(slim, t);
        CHECK_INT(a, b);
        if (a != b)
            break;
        t = a;
    }
}

static void expect_invalid(const void *buf, size_t len, const char *what)
{
    struct tz *z = NULL;
    int r = tz_parse(buf, len, &z);
    if (r != -EINVAL) {
        fprintf(stderr, "expected -EINVAL for %s (len %zu), got %d\n", what, len, r);
        test_failures++;
    }
    tz_free(z);
}

static void test_malformed(void)
{
    struct sbuf b = SBUF_INIT;
    struct tzif_spec s = tiny;
    struct tz *z = NULL;

    /* Every truncation of a valid file is rejected. */
    build_tzif(&b, &tiny);
    for (size_t n = 0; n < b.len; n++)
        expect_invalid(b.buf, n, "truncated tiny file");
    expect_invalid(NULL, 0, "empty");

    FILE *f = fopen("/usr/share/zoneinfo/America/New_York", "rb");
    CHECK(f != NULL);
    if (f) {
        static char sys[TZ_FILE_MAX];
        size_t n = fread(sys, 1, sizeof(sys), f);
        fclose(f);
        CHECK_INT(tz_parse(sys, n, &z), 0);
        tz_free(z);
        z = NULL;
        for (size_t k = 0; k < n; k++)
            expect_invalid(sys, k, "truncated New_York");
    }

    /* Trailing garbage. */
    build_tzif(&b, &tiny);
    sbuf_addc(&b, 'x');
    expect_invalid(b.buf, b.len, "trailing byte");

    /* Header fields. */
    build_tzif(&b, &tiny);
    b.buf[0] = 'X';
    expect_invalid(b.buf, b.len, "bad magic");
    build_tzif(&b, &tiny);
    b.buf[4] = '1';
    expect_invalid(b.buf, b.len, "bad version");
    build_tzif(&b, &tiny);
    memset(b.buf + 44 + 7 + 32, 0xff, 4); /* second header: timecnt */
    expect_invalid(b.buf, b.len, "huge timecnt");
    build_tzif(&b, &tiny);
    b.buf[44 + 7 + 31] = 1; /* leapcnt = 1 */
    expect_invalid(b.buf, b.len, "leap seconds");
    build_tzif(&b, &tiny);
    b.buf[44 + 7 + 23] = 5; /* isutcnt = 5 != typecnt */
    expect_invalid(b.buf, b.len, "isutcnt");

    /* Data: type count, index, order, offsets, designations. */
    s = tiny;
    s.ntypes = 0;
    build_tzif(&b, &s);
    expect_invalid(b.buf, b.len, "no types");
    static const uint8_t bad_idx[] = { 2 };
    s = tiny;
    s.idx = bad_idx;
    build_tzif(&b, &s);
    expect_invalid(b.buf, b.len, "type index");
    static const int64_t times2[] = { 100, 100 };
    static const uint8_t idx2[] = { 0, 1 };
    s = tiny;
    s.ntimes = 2;
    s.times = times2;
    s.idx = idx2;
    build_tzif(&b, &s);
    expect_invalid(b.buf, b.len, "equal times");
    static const int32_t huge_off[] = { 100000, 3 * H };
    s = tiny;
    s.offs = huge_off;
    build_tzif(&b, &s);
    expect_invalid(b.buf, b.len, "offset");
    static const uint8_t bad_dst[] = { 0, 2 };
    s = tiny;
    s.dsts = bad_dst;
    build_tzif(&b, &s);
    expect_invalid(b.buf, b.len, "isdst");
    static const uint8_t bad_ab[] = { 0, 8 };
    s = tiny;
    s.abbr_idx = bad_ab;
    build_tzif(&b, &s);
    expect_invalid(b.buf, b.len, "designation index");
    s = tiny;
    s.chars = "XST\0XDTX";
    build_tzif(&b, &s);
    expect_invalid(b.buf, b.len, "unterminated designation");

    /* Footers. */
    static const char *const bad_footers[] = {
        "EST", "E5", "<EST5", "<ES>5", "EST25", "EST5EDT,M3.2.0", "EST5EDT,M13.1.0,M11.1.0",
        "EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,M0.1.0,M11.1.0",
        "EST5EDT,J0,J365", "EST5EDT,J366,J1", "EST5EDT,366,1", "EST5EDT,M3.2.0/168,M11.1.0",
        "EST5EDT,M3.2.0,M11.1.0x", "EST5EDT,M3.2.0,M11.1.0,", "EST5:60",
        "EST5EDT,M3.2.0/1:2:60,M11.1.0", "EST5EDT4x", "EST+", "EST5EDT,,M11.1.0",
        "EST5EDT,M3..0,M11.1.0", "EST5EDT,M3.2.0/,M11.1.0",
        "ESTTTTTTTTTTTTTTTTTTTTTT5",
    };
    for (size_t i = 0; i < ELEMENTSOF(bad_footers); i++) {
        s = tiny;
        s.footer = bad_footers[i];
        build_tzif(&b, &s);
        expect_invalid(b.buf, b.len, bad_footers[i]);
    }
    static const char *const good_footers[] = {
        "", "UTC0", "<+0545>-5:45", "EST5EDT,M3.2.0,M11.1.0", "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",
        "IST-2IDT,M3.4.4/26,M10.5.0", "XXX-10:30YYY-11,M10.1.0,M4.1.0", "AAA+3", "AAA-14",
        "EST5EDT,M3.2.0/167,M11.1.0/-167",
    };
    for (size_t i = 0; i < ELEMENTSOF(good_footers); i++) {
        s = tiny;
        s.footer = good_footers[i];
        build_tzif(&b, &s);
        z = NULL;
        if (tz_parse(b.buf, b.len, &z) != 0) {
            fprintf(stderr, "footer '%s' rejected\n", good_footers[i]);
            test_failures++;
        }
        tz_free(z);
    }
    /* A footer with a NUL in it. */
    build_tzif(&b, &tiny);
    b.buf[b.len - 3] = 0;
    expect_invalid(b.buf, b.len, "NUL in footer");

    /* Random corruption never crashes; what parses answers queries. */
    build_tzif(&b, &tiny);
    char *copy = malloc(b.len);
    for (int i = 0; i < 20000 && copy; i++) {
        memcpy(copy, b.buf, b.len);
        for (int k = 0; k < 1 + (int)(rng() % 3); k++)
            copy[rng() % b.len] = (char)rng();
        z = NULL;
        int r = tz_parse(copy, b.len - (rng() % 4 == 0 ? rng() % b.len : 0), &z);
        CHECK(r == 0 || r == -EINVAL);
        if (r == 0) {
            int64_t u;
            (void)tz_offset_at(z, (int64_t)rng());
            (void)tz_resolve(z, (int64_t)(rng() % 10000000000ULL), false, &u);
            (void)tz_day_length(z, (int32_t)(rng() % 100000));
            tz_free(z);
        }
    }
    free(copy);
    sbuf_release(&b);
}

static void test_load_errors(void)
{
    struct tz *z = NULL;
    CHECK_INT(tz_load("No/Such_Zone", &z), -ENOENT);
    CHECK_INT(tz_load("America", &z), -ENOENT);
    CHECK_INT(tz_load("America/New_York/x", &z), -ENOENT);
    CHECK_INT(tz_load("../etc/passwd", &z), -EINVAL);
    CHECK_INT(tz_load("/etc/passwd", &z), -EINVAL);
    CHECK_INT(tz_load("zone.tab", &z), -EINVAL);
    CHECK_INT(tz_load("", &z), -EINVAL);
    CHECK(z == NULL);
    /* Symlinked backward-compatible names work. */
    CHECK_INT(tz_load("US/Eastern", &z), 0);
    if (z) {
        CHECK_INT(tz_offset_at(z, utc_of(2026, 7, 1, 0, 0, 0)), -4 * H);
        tz_free(z);
    }
    tz_free(NULL);
}

static void test_cache(void)
{
    _cleanup_(tz_cache_freep) struct tz_cache *c = tz_cache_new();
    const struct tz *a = NULL, *b = NULL;
    static const char *const names[] = {
        "Europe/Madrid", "Europe/London", "America/New_York", "America/Chicago",
        "America/Denver", "America/Los_Angeles", "America/Phoenix", "Atlantic/Canary",
        "Europe/Berlin", "America/Mexico_City", "Asia/Kathmandu", "UTC",
    };

    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_INT(tz_cache_get(c, "Europe/Madrid", &a), 0);
    CHECK_INT(tz_cache_get(c, "Europe/Madrid", &b), 0);
    CHECK(a == b && a != NULL);
    CHECK_INT(tz_cache_get(c, "Mars/Olympus_Mons", &a), -ENOENT);
    CHECK_INT(tz_cache_get(c, "Mars/Olympus_Mons", &a), -ENOENT);
    CHECK_INT(tz_cache_get(c, "../x", &a), -EINVAL);
    /* Grow past the initial capacity; every zone stays where it was. */
    char name[64];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "Nowhere/Z%d", i);
        CHECK_INT(tz_cache_get(c, name, &a), -ENOENT);
    }
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        CHECK_INT(tz_cache_get(c, names[i], &a), 0);
        CHECK_INT(tz_cache_get(c, names[i], &b), 0);
        CHECK(a == b);
        if (a)
            CHECK_STR(tz_name(a), names[i]);
    }
    CHECK_INT(tz_cache_get(c, "Europe/Madrid", &a), 0);
    if (a)
        CHECK_INT(tz_offset_at(a, utc_of(2026, 7, 1, 0, 0, 0)), 2 * H);
    tz_cache_free(NULL);
}

/* Every TZif file in the system database parses (except leap-second ones). */
static int n_files, n_failed;
static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    static char buf[TZ_FILE_MAX];
    struct tz *z = NULL;
    FILE *f;
    size_t n;

    if (type == FTW_D && (strstr(path, "/right") || strstr(path, "/posix")) && ftw->level == 1)
        return FTW_SKIP_SUBTREE;
    if (type != FTW_F)
        return 0;
    f = fopen(path, "rb");
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (n < 4 || memcmp(buf, "TZif", 4) != 0)
        return 0;
    n_files++;
    int r = tz_parse(buf, n, &z);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(-r));
        n_failed++;
    } else {
        int64_t u;
        tz_resolve(z, utc_of(2026, 3, 29, 2, 30, 0), false, &u);
        tz_free(z);
    }
    return 0;
}

static void test_system_database(void)
{
    CHECK_INT(nftw("/usr/share/zoneinfo", visit, 16, FTW_PHYS | FTW_ACTIONRETVAL), 0);
    CHECK(n_files > 300);
    CHECK_INT(n_failed, 0);
}

TEST_MAIN({ "name_valid", test_name_valid }, { "new_york", test_new_york },
          { "europe", test_europe }, { "adelaide", test_adelaide },
          { "fixed_zones", test_fixed_zones }, { "far_future", test_far_future },
          { "glibc", test_glibc }, { "tiny_file", test_tiny_file },
          { "odd_rules", test_odd_rules }, { "slim_matches_system", test_slim_matches_system },
          { "malformed", test_malformed }, { "load_errors", test_load_errors },
          { "cache", test_cache }, { "system_database", test_system_database })
