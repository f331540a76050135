/*
 * tz.h - time zones read from the system tz database (TZif files), without
 * ever touching the process's TZ: UTC <-> local wall time for any zone,
 * DST gaps and folds resolved explicitly, and the UTC interval of a local
 * window ("08:00-21:00 in the debtor's zone on local day D").
 *
 * Times: `utc` is seconds since 1970-01-01T00:00:00Z (no leap seconds).
 * Local days are days since 1970-01-01 in the zone's wall calendar (the
 * numbering of util.h's days_from_civil()); sec_of_day is 0..86399.
 * Offsets are seconds EAST of UTC (Madrid in winter: +3600).
 *
 * A struct tz is immutable once loaded: share it between threads freely.
 * See docs/time.md.
 */
#ifndef CADENZA_TZ_H
#define CADENZA_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;

/* Longest zone name accepted (bytes, without the NUL). */
#define TZ_NAME_MAX 128
/* Largest TZif file read (bytes); real ones are under 4 KiB. */
#define TZ_FILE_MAX (256 * 1024)

/*
 * Syntax check of a zone name only (no file access): 1..TZ_NAME_MAX bytes
 * of [A-Za-z0-9_+-] in '/'-separated non-empty components; no leading or
 * trailing '/', no '.', so nothing can escape the zone directory.
 */
bool tz_name_valid(const char *name);

/*
 * Load zone `name` from $TZDIR (default /usr/share/zoneinfo).  "UTC" and
 * "Etc/UTC" work even without a tz database.  Returns 0 and *ret (free with
 * tz_free()), -ENOENT for an unknown zone (no such file, or a directory),
 * -EINVAL for an invalid name or a file that is not valid TZif (including
 * leap-second "right/" files), -ENOMEM, or another -errno from reading.
 * Blocks on file I/O.
 */
int tz_load(const char *name, struct tz **ret);

/*
 * Parse TZif data (versions 1 to 4) from memory into an unnamed zone
 * (tz_name() is "").  Returns 0 and *ret, -EINVAL on malformed or truncated
 * data (never reads outside buf[0..len)), -ENOMEM.
 */
int tz_parse(const void *buf, size_t len, struct tz **ret);

/* Free a zone; NULL is a no-op. */
void tz_free(struct tz *z);
static inline void tz_freep(struct tz **z) { tz_free(*z); }

/* The name the zone was loaded under (borrowed). */
const char *tz_name(const struct tz *z);

/* Offset from UTC (seconds east) in effect at instant utc. */
int32_t tz_offset_at(const struct tz *z, int64_t utc);

/*
 * The first instant after utc at which the offset or DST flag changes, or
 * INT64_MAX when it never does again.
 */
int64_t tz_next_change(const struct tz *z, int64_t utc);

/* UTC -> local wall time. */
struct tz_local {
    int32_t days;       /* local date: days since 1970-01-01 */
    int32_t sec_of_day; /* 0..86399 */
    int weekday;        /* 0 = Monday .. 6 = Sunday */
    int32_t offset;     /* seconds east of UTC */
    bool dst;
    const char *abbr;   /* "EDT", "+0545"; borrowed from the zone */
};
void tz_to_local(const struct tz *z, int64_t utc, struct tz_local *ret);

/* Results of local -> UTC conversions (>= 0). */
enum {
    TZ_OK = 0,   /* the local time occurs exactly once */
    TZ_GAP = 1,  /* skipped (DST forward): the instant the gap ends was returned */
    TZ_FOLD = 2, /* occurs twice (DST back): see each function for which one */
};

/*
 * Local wall time -> UTC.  `local` is a local timestamp: local days * 86400
 * + seconds of day (any value: 86400 is the next day's midnight).
 * In a gap returns the instant the gap ends (02:30 on a New York
 * spring-forward day -> 03:00 EDT) and TZ_GAP; in a fold returns the earlier
 * instant if !later, else the later one, and TZ_FOLD.  Otherwise TZ_OK.
 */
int tz_resolve(const struct tz *z, int64_t local, bool later, int64_t *ret_utc);

/* tz_resolve() of (days, sec_of_day), taking the EARLIER instant in a fold. */
int tz_local_to_utc(const struct tz *z, int32_t days, int32_t sec_of_day, int64_t *ret_utc);

/*
 * The UTC interval [*ret_start, *ret_end) of local times [a, b) on local day
 * `days` (a, b in seconds of day, 0 <= a <= b <= 86400; b = 86400 means
 * until the next midnight).  Every instant in the interval has a local time
 * in [a, b) on that day: a start inside a gap moves to the end of the gap;
 * a start inside a fold takes the later occurrence, an end inside a fold the
 * earlier one (so the wall clock never runs back out of the window).  The
 * interval may be empty (start == end), e.g. for a window inside a gap.
 * Returns 0, or -EINVAL for a bad window.
 */
int tz_local_range(const struct tz *z, int32_t days, int32_t a, int32_t b,
                   int64_t *ret_start, int64_t *ret_end);

/* Length of local day `days` in seconds: 86400, or 82800 / 90000 on DST days. */
int32_t tz_day_length(const struct tz *z, int32_t days);

/*
 * A cache of loaded zones by name, loading each on first use and also
 * remembering failures (so an unknown zone costs one file lookup).
 * NOT thread safe: use one per thread, or hand out the const struct tz
 * pointers (which are) after loading.  Zones live until tz_cache_free().
 */
struct tz_cache;
struct tz_cache *tz_cache_new(void); /* NULL on OOM */
void tz_cache_free(struct tz_cache *c);
static inline void tz_cache_freep(struct tz_cache **c) { tz_cache_free(*c); }
/* As tz_load(), but the zone is borrowed from the cache. */
int tz_cache_get(struct tz_cache *c, const char *name, const struct tz **ret);

/*
 * The zones the tz database lists for country (ISO 3166 alpha-2, upper
 * case) in $TZDIR/zone.tab: up to max names into ret (static, valid for
 * the life of the process); returns how many there are (may exceed max),
 * 0 for an unknown country or without the file.  Thread-safe.
 */
size_t tz_country_zones(const char *country, const char **ret, size_t max);

/* Format t in zone z as "2026-03-10T09:30:00+01:00" (buf >= 26). */
void tz_format_local(const struct tz *z, int64_t t, char *buf, size_t len);

#endif
