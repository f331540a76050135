/*
 * util.h - small helpers shared by every module: cleanup attributes,
 * a growable byte buffer, civil-date arithmetic and a 64-bit hash.
 *
 * Nothing here does I/O or reads the clock.
 */
#ifndef CADENZA_UTIL_H
#define CADENZA_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The exit codes that leave the process (append-only, documented in README.md). */
enum {
    EXIT_OK = 0,      /* success */
    EXIT_DATA = 1,    /* validation or data errors in the user's input */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_RUNTIME = 3, /* runtime failure: I/O, store, out of memory */
};

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand a pointer out of a _cleanup_ scope. */
#define TAKE_PTR(p) ({ __typeof__(p) _p_ = (p); (p) = NULL; _p_; })

static inline void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ _cleanup_(freep)

static inline bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }
static inline bool streq_ptr(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}
static inline bool isempty(const char *s) { return !s || !*s; }

/*
 * Open a file that must be a regular file (configuration, strategies,
 * templates, zone files) for reading, without blocking on a FIFO or a
 * device: the fd, -ESPIPE when path is not a regular file (-EISDIR for a
 * directory), other -errno.  file_strerror() says which in words.
 */
int open_regular(const char *path);

/*
 * Read a secret (link key, provider password) from a file opened with
 * open_regular(): its bytes into buf (max + 1 bytes of room), one trailing
 * newline dropped.  *ret_loose: the file can be read by group or others.
 * 0, -E2BIG (longer than max), -EINVAL (not a regular file), -errno.
 */
int read_secret_file(const char *path, unsigned char *buf, size_t max, size_t *ret_len,
                     bool *ret_loose);

/* Free n strings of v, then v; NULL is fine. */
void strv_free(char **v, size_t n);
const char *file_strerror(int r);

/* Wall-clock Unix milliseconds, and a monotonic clock for deadlines. */
int64_t wall_ms(void);
int64_t mono_ms(void);

/* strdup that returns NULL for NULL. */
char *strdup_or_null(const char *s);
/* asprintf to a fresh string; NULL on OOM. */
char *strdupf(const char *fmt, ...) _printf_(1, 2);

/*
 * A growable byte buffer, always NUL-terminated when len > 0 or after
 * sbuf_cstr().  max caps its size (0 = unlimited); an append that would
 * pass it fails with -E2BIG and leaves the buffer unchanged.
 */
struct sbuf {
    char *buf;
    size_t len, cap, max;
};
#define SBUF_INIT { NULL, 0, 0, 0 }
int sbuf_reserve(struct sbuf *b, size_t extra);
int sbuf_add(struct sbuf *b, const void *p, size_t n);
int sbuf_addc(struct sbuf *b, char c);
int sbuf_adds(struct sbuf *b, const char *s);
int sbuf_addf(struct sbuf *b, const char *fmt, ...) _printf_(2, 3);
int sbuf_vaddf(struct sbuf *b, const char *fmt, va_list ap);
/* Append s as a JSON string literal (with quotes). */
int sbuf_add_json_str(struct sbuf *b, const char *s, size_t n);
const char *sbuf_cstr(struct sbuf *b);
static inline void sbuf_reset(struct sbuf *b) { b->len = 0; if (b->buf) b->buf[0] = 0; }
void sbuf_release(struct sbuf *b);

/* Civil dates as days since 1970-01-01 (proleptic Gregorian). */
int32_t days_from_civil(int y, unsigned m, unsigned d);
void civil_from_days(int32_t z, int *ret_y, unsigned *ret_m, unsigned *ret_d);
/* 0 = Monday .. 6 = Sunday */
int weekday_from_days(int32_t z);
int days_in_month(int y, unsigned m);
/* Parse exactly "YYYY-MM-DD" (a real calendar date); -EINVAL otherwise. */
int parse_date(const char *s, size_t n, int32_t *ret_days);
/* Format days as "YYYY-MM-DD" into buf[11]. */
void format_date(int32_t days, char *buf /* [11] */);

/* Parse a base-10 integer filling the whole of s[0..n); -EINVAL/-ERANGE. */
int parse_int64(const char *s, size_t n, int64_t *ret);

/* 64-bit non-cryptographic hash (stable across runs and hosts). */
uint64_t hash64(const void *p, size_t n, uint64_t seed);

/* Damerau-free Levenshtein distance, capped at max+1. */
unsigned edit_distance(const char *a, const char *b, unsigned max);
/* The candidate closest to word within a small distance, or NULL. */
const char *closest_word(const char *word, const char *const *cands, size_t n);

/* Does buf[0..n) hold well-formed UTF-8 (no overlongs, no surrogates)? */
bool utf8_valid(const char *buf, size_t n);
/* Characters (code points) of valid UTF-8 s: its bytes but continuation bytes. */
size_t utf8_chars(const char *s);
/* Length of the well-formed UTF-8 sequence at s (lead byte >= 0x80, s < end):
 * 2 to 4, or 0 when it is not one (overlong, surrogate, past U+10FFFF, cut). */
size_t utf8_seq(const unsigned char *s, const unsigned char *end);

#endif
