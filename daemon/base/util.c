/*
 * util.c - shared helpers (see util.h).
 *
 * Owns nothing beyond what callers hand it.  Never does I/O, never reads
 * the clock, never aborts on bad input: every parser returns -EINVAL.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *strdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *strdupf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

int sbuf_reserve(struct sbuf *b, size_t extra)
{
    if (b->max && b->len + extra > b->max)
        return -E2BIG;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->buf, cap);
    if (!p)
        return -ENOMEM;
    b->buf = p;
    b->cap = cap;
    return 0;
}

int sbuf_add(struct sbuf *b, const void *p, size_t n)
{
    int r = sbuf_reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = 0;
    return 0;
}

int sbuf_addc(struct sbuf *b, char c)
{
    return sbuf_add(b, &c, 1);
}

int sbuf_adds(struct sbuf *b, const char *s)
{
    return sbuf_add(b, s, strlen(s));
}

int sbuf_vaddf(struct sbuf *b, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        return -EINVAL;
    int r = sbuf_reserve(b, (size_t)n);
    if (r < 0)
        return r;
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = sbuf_vaddf(b, fmt, ap);
    va_end(ap);
    return r;
}

int sbuf_add_json_str(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int r = sbuf_reserve(b, n + 2);
    if (r < 0)
        return r;
    b->buf[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t en = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            en = 2;
        } else if (c == '\n') {
            memcpy(esc, "\\n", 2);
            en = 2;
        } else if (c == '\r') {
            memcpy(esc, "\\r", 2);
            en = 2;
        } else if (c == '\t') {
            memcpy(esc, "\\t", 2);
            en = 2;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            en = 6;
        }
        if (en) {
            if ((r = sbuf_add(b, esc, en)) < 0)
                return r;
        } else if ((r = sbuf_addc(b, (char)c)) < 0)
            return r;
    }
    return sbuf_addc(b, '"');
}

const char *sbuf_cstr(struct sbuf *b)
{
    if (!b->buf && sbuf_reserve(b, 0) < 0)
        return "";
    b->buf[b->len] = 0;
    return b->buf;
}

void sbuf_release(struct sbuf *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

/* Howard Hinnant's days_from_civil. */
int32_t days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int)doe - 719468;
}

void civil_from_days(int32_t z, int *ret_y, unsigned *ret_m, unsigned *ret_d)
{
    z += 719468;
    const int era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int y = (int)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *ret_y = y + (m <= 2);
    *ret_m = m;
    *ret_d = d;
}

int weekday_from_days(int32_t z)
{
    /* 1970-01-01 was a Thursday (3 when Monday is 0). */
    int w = (int)((z + 3) % 7);
    return w < 0 ? w + 7 : w;
}

int days_in_month(int y, unsigned m)
{
    static const unsigned char dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return m >= 1 && m <= 12 ? dm[m - 1] : 0;
}

static int digits(const char *s, size_t n, int *ret)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

int parse_date(const char *s, size_t n, int32_t *ret_days)
{
    int y, m, d;
    if (n != 10 || s[4] != '-' || s[7] != '-')
        return -EINVAL;
    if (digits(s, 4, &y) < 0 || digits(s + 5, 2, &m) < 0 || digits(s + 8, 2, &d) < 0)
        return -EINVAL;
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, (unsigned)m))
        return -EINVAL;
    *ret_days = days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

void format_date(int32_t days, char *buf)
{
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    unsigned yy = y < 0 ? 0 : y > 9999 ? 9999 : (unsigned)y;
    snprintf(buf, 11, "%04u-%02u-%02u", yy, m % 13, d % 32);
}

int parse_int64(const char *s, size_t n, int64_t *ret)
{
    size_t i = 0;
    bool neg = false;
    uint64_t v = 0;
    if (n && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i++;
    }
    if (i == n)
        return -EINVAL;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        if (v > (UINT64_MAX - 9) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + neg)
        return -ERANGE;
    *ret = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* wyhash-style mixing: fast, good avalanche, endian-independent reads. */
static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t hash64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    const uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
    uint64_t h = seed ^ k0 ^ (uint64_t)n;
    while (n >= 8) {
        h = mix(h ^ rd64(p), k1);
        p += 8;
        n -= 8;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t |= (uint64_t)p[i] << (8 * i);
    h = mix(h ^ t, k1 ^ 0x8ebc6af09c88c6e3ull);
    return mix(h, k0);
}

unsigned edit_distance(const char *a, const char *b, unsigned max)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return max + 1;
    unsigned prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (unsigned)i;
        unsigned best = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            unsigned c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c)
                c = prev[j] + 1;
            if (cur[j - 1] + 1 < c)
                c = cur[j - 1] + 1;
            cur[j] = c;
            if (c < best)
                best = c;
        }
        if (best > max)
            return max + 1;
        memcpy(prev, cur, sizeof(unsigned) * (lb + 1));
    }
    return prev[lb] > max ? max + 1 : prev[lb];
}

const char *closest_word(const char *word, const char *const *cands, size_t n)
{
    size_t len = strlen(word);
    unsigned max = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    const char *best = NULL;
    unsigned bestd = max + 1;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        unsigned d = edit_distance(word, cands[i], max);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    return best;
}

size_t utf8_seq(const unsigned char *s, const unsigned char *end)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else
        return 0;
    if ((size_t)(end - s) < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

bool utf8_valid(const char *buf, size_t n)
{
    const unsigned char *s = (const unsigned char *)buf, *end = s + n;
    while (s < end) {
        if (*s < 0x80) {
            s++;
            continue;
        }
        size_t len = utf8_seq(s, end);
        if (!len)
            return false;
        s += len;
    }
    return true;
}

int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lease and timeout deadlines: a clock that neither jumps nor depends on the host's setting. */
int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int open_regular(const char *path)
{
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct stat st;
    int r = fstat(fd, &st) < 0 ? -errno
            : S_ISDIR(st.st_mode) ? -EISDIR
            : !S_ISREG(st.st_mode) ? -ESPIPE
                                   : 0;
    if (r == 0 && fcntl(fd, F_SETFL, 0) < 0)
        r = -errno;
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

const char *file_strerror(int r)
{
    return r == -ESPIPE ? "not a regular file" : strerror(-r);
}

int read_secret_file(const char *path, unsigned char *buf, size_t max, size_t *ret_len,
                     bool *ret_loose)
{
    int fd = open_regular(path); /* never waits on a FIFO */
    if (fd < 0)
        return fd == -ESPIPE ? -EINVAL : fd;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -errno;
    }
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fd, buf + n, max + 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int r = -errno;
            close(fd);
            return r;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n > max)
            break;
    }
    close(fd);
    if (n > max)
        return -E2BIG;
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    *ret_len = n;
    *ret_loose = (st.st_mode & 077) != 0;
    return 0;
}

void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}
