/*
 * message.c - the pure parts of the e-mail channel (message.h): the
 * RFC 5322 message of one send, its header encodings and the meaning of
 * an SMTP answer.
 *
 * Owns nothing but the buffers its callers hand it.  Must never read the
 * clock, the locale or the environment, nor do I/O: everything it writes
 * is a function of its arguments, so tests/unit/test-email.c can compare
 * whole messages byte for byte.
 *
 * Invariants (tests cite them):
 *  1. Every line written ends with CRLF, and no line is longer than 998
 *     characters; header lines holding encoded-words are at most EM_FOLD.
 *  2. No header value can end a header early: CR, LF and other control
 *     characters from a job never reach the message as such.
 *  3. An encoded-word never splits a UTF-8 sequence.
 *  4. A quoted-printable line is at most 76 characters, its soft break
 *     included; "=" is always encoded, so a boundary starting with "=_"
 *     never occurs inside a part.
 *  5. Names of days and months are C-locale English whatever the
 *     process's locale (RFC 5322 section 3.3).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "message.h"

/* ---- the buffer ---- */

static int buf_reserve(struct em_buf *b, size_t extra)
{
    if (b->max && (extra > b->max || b->len > b->max - extra))
        return -E2BIG;
    if (extra < b->cap && b->len < b->cap - extra)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - 1 < b->len + extra) {
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

int em_buf_add(struct em_buf *b, const void *p, size_t n)
{
    int r = buf_reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = 0;
    return 0;
}

int em_buf_adds(struct em_buf *b, const char *s)
{
    return em_buf_add(b, s, strlen(s));
}

void em_buf_release(struct em_buf *b)
{
    free(b->buf);
    *b = (struct em_buf){ .max = b->max };
}

static int buf_addc(struct em_buf *b, char c)
{
    return em_buf_add(b, &c, 1);
}

static const char hex_upper[] = "0123456789ABCDEF";

/* ---- RFC 2047 encoded-words ---- */

/* Bytes a Q encoded-word may carry as themselves in any context (RFC 2047 5(3)). */
static bool q_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

/* Length of the UTF-8 character at s[0..n): a malformed byte counts alone (invariant 3). */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : s[0] >= 0xe0 && s[0] < 0xf0 ? 3
                 : s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : 1;
    if (len > n)
        return 1;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 1;
    return len;
}

static size_t q_len(const unsigned char *s, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += q_plain(s[i]) || s[i] == ' ' ? 1 : 3;
    return len;
}

static int add_b64(struct em_buf *b, const unsigned char *s, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char o[4] = { a[v >> 18], a[(v >> 12) & 63], i + 1 < n ? a[(v >> 6) & 63] : '=',
                      i + 2 < n ? a[v & 63] : '=' };
        int r = em_buf_add(b, o, 4);
        if (r < 0)
            return r;
    }
    return 0;
}

static int add_q(struct em_buf *b, const unsigned char *s, size_t n)
{
    int r = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        if (q_plain(s[i]))
            r = buf_addc(b, (char)s[i]);
        else if (s[i] == ' ')
            r = buf_addc(b, '_');
        else {
            char o[3] = { '=', hex_upper[s[i] >> 4], hex_upper[s[i] & 15] };
            r = em_buf_add(b, o, 3);
        }
    }
    return r;
}

#define EW_OVERHEAD 12 /* "=?UTF-8?B?" and "?=" */

/*
 * Append s[0..n) as encoded-words starting at column *col: each word is
 * as long as fits the rest of a line of EM_FOLD, the next one goes on a
 * folded line (CRLF SP).  Whitespace between encoded-words is not part
 * of the text, so spaces travel inside the words.
 */
static int add_encoded_words(struct em_buf *b, size_t *col, const unsigned char *s, size_t n)
{
    bool use_q = q_len(s, n) <= (n + 2) / 3 * 4;
    size_t i = 0;
    int r = 0;
    while (i < n && r >= 0) {
        size_t room = EM_FOLD > *col + EW_OVERHEAD ? EM_FOLD - *col - EW_OVERHEAD : 0;
        /* take whole characters while their encoding fits the room */
        size_t j = i;
        while (j < n) {
            size_t cl = utf8_char_len(s + j, n - j);
            size_t enc = use_q ? q_len(s + i, j + cl - i) : (j + cl - i + 2) / 3 * 4;
            if (enc > room)
                break;
            j += cl;
        }
        if (j == i) {
            if (*col > 1) {
                /* not even one character fits here: fold and try again */
                r = em_buf_add(b, "\r\n ", 3);
                *col = 1;
                continue;
            }
            j = i + utf8_char_len(s + i, n - i); /* cannot happen with EM_FOLD 76 */
        }
        r = em_buf_adds(b, use_q ? "=?UTF-8?Q?" : "=?UTF-8?B?");
        if (r >= 0)
            r = use_q ? add_q(b, s + i, j - i) : add_b64(b, s + i, j - i);
        if (r >= 0)
            r = em_buf_add(b, "?=", 2);
        *col += EW_OVERHEAD + (use_q ? q_len(s + i, j - i) : (j - i + 2) / 3 * 4);
        i = j;
        if (i < n && r >= 0) {
            r = em_buf_add(b, "\r\n ", 3);
            *col = 1;
        }
    }
    return r;
}

/* A copy of s with control characters as spaces (invariant 2); NULL on OOM. */
static char *sanitize(const char *s)
{
    char *c = strdup(s);
    if (!c)
        return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return c;
}

/* The longest ASCII word we fold around instead of encoding it. */
#define WORD_MAX 900

static bool needs_encoding(const char *s)
{
    /* a run of spaces and the word after it stay on one line: keep it short */
    size_t run = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80 || (p[0] == '=' && p[1] == '?'))
            return true;
        run = *p == ' ' && p > (const unsigned char *)s && p[-1] != ' ' ? 1 : run + 1;
        if (run > WORD_MAX)
            return true;
    }
    return false;
}

/*
 * Append ASCII s folded at its spaces from column *col: a run of spaces
 * before a word that would pass EM_FOLD becomes CRLF and that run.
 */
static int add_folded_ascii(struct em_buf *b, size_t *col, const char *s)
{
    int r = 0;
    const char *p = s;
    while (*p && r >= 0) {
        const char *sp = p;
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        size_t nsp = (size_t)(w - sp), nw = (size_t)(p - w);
        if (nsp && *col + nsp + nw > EM_FOLD && *col > 1) {
            r = em_buf_add(b, "\r\n", 2);
            *col = 0;
        }
        if (r >= 0)
            r = em_buf_add(b, sp, nsp + nw);
        *col += nsp + nw;
    }
    return r;
}

int em_add_unstructured(struct em_buf *b, const char *name, const char *value)
{
    char *v = sanitize(value);
    if (!v)
        return -ENOMEM;
    size_t col = strlen(name) + 2;
    int r = em_buf_adds(b, name);
    if (r >= 0)
        r = em_buf_add(b, ": ", 2);
    if (r >= 0) {
        if (needs_encoding(v))
            r = add_encoded_words(b, &col, (const unsigned char *)v, strlen(v));
        else
            r = add_folded_ascii(b, &col, v);
    }
    if (r >= 0)
        r = em_buf_add(b, "\r\n", 2);
    free(v);
    return r;
}

int em_add_mailbox(struct em_buf *b, const char *name, const char *display, const char *addr)
{
    int r = em_buf_adds(b, name);
    if (r >= 0)
        r = em_buf_add(b, ": ", 2);
    size_t col = strlen(name) + 2;
    if (r >= 0 && display && *display) {
        char *v = sanitize(display);
        if (!v)
            return -ENOMEM;
        bool ascii = true;
        for (const unsigned char *p = (const unsigned char *)v; *p; p++)
            ascii &= *p < 0x80;
        if (!ascii || strlen(v) > WORD_MAX) {
            r = add_encoded_words(b, &col, (const unsigned char *)v, strlen(v));
        } else {
            /* a quoted-string: '"' and '\' escaped */
            r = buf_addc(b, '"');
            for (const char *p = v; *p && r >= 0; p++) {
                if (*p == '"' || *p == '\\')
                    r = buf_addc(b, '\\');
                if (r >= 0)
                    r = buf_addc(b, *p);
                col += 1 + (*p == '"' || *p == '\\');
            }
            if (r >= 0)
                r = buf_addc(b, '"');
            col += 2;
        }
        free(v);
        if (r >= 0 && col + 3 + strlen(addr) > EM_FOLD) {
            r = em_buf_add(b, "\r\n", 2);
            col = 0;
        }
        if (r >= 0)
            r = em_buf_add(b, " <", 2);
        if (r >= 0)
            r = em_buf_adds(b, addr);
        if (r >= 0)
            r = buf_addc(b, '>');
    } else if (r >= 0) {
        r = em_buf_adds(b, addr);
    }
    if (r >= 0)
        r = em_buf_add(b, "\r\n", 2);
    return r;
}

/* ---- quoted-printable ---- */

#define QP_LINE 76

int em_add_qp(struct em_buf *b, const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t col = 0;
    int r = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        unsigned char c = s[i];
        if (c == '\n' || (c == '\r' && i + 1 < n && s[i + 1] == '\n')) {
            if (c == '\r')
                i++;
            r = em_buf_add(b, "\r\n", 2);
            col = 0;
            continue;
        }
        /* the last byte of a line: a space or tab there must be encoded */
        bool at_eol = i + 1 == n || s[i + 1] == '\n' ||
                      (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n');
        char o[3];
        size_t len;
        if ((c == ' ' || c == '\t') && !at_eol) {
            o[0] = (char)c;
            len = 1;
        } else if (c >= 33 && c <= 126 && c != '=') {
            o[0] = (char)c;
            len = 1;
        } else {
            o[0] = '=';
            o[1] = hex_upper[c >> 4];
            o[2] = hex_upper[c & 15];
            len = 3;
        }
        /* invariant 4: room for this and, unless the line ends here, a soft break */
        if (col + len > QP_LINE - (at_eol ? 0 : 1)) {
            r = em_buf_add(b, "=\r\n", 3);
            col = 0;
        }
        if (r >= 0)
            r = em_buf_add(b, o, len);
        col += len;
    }
    return r;
}

/* ---- Date, Message-ID ---- */

void em_format_date(int64_t unix_ms, char out[32])
{
    /* invariant 5: our own tables, never strftime's %a and %b */
    static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    int64_t sec = unix_ms / 1000 - (unix_ms % 1000 < 0);
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof(tm));
    /* every field bounded, so the 31 characters always fit */
    snprintf(out, 32, "%.3s, %02u %.3s %04u %02u:%02u:%02u +0000", days[(unsigned)tm.tm_wday % 7u],
             (unsigned)tm.tm_mday % 100u, months[(unsigned)tm.tm_mon % 12u],
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)tm.tm_hour % 100u,
             (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
}

static char *fmt_base36(char *end, uint64_t v)
{
    static const char d[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    char *p = end;
    *--p = 0;
    do
        *--p = d[v % 36];
    while ((v /= 36));
    return p;
}

int em_format_message_id(char *out, size_t size, int64_t attempt_id, int tries,
                         int64_t wall_ms, uint64_t seq, const char *domain)
{
    char a[16], s[16];
    const char *ms36 = fmt_base36(a + sizeof(a), (uint64_t)wall_ms);
    const char *seq36 = fmt_base36(s + sizeof(s), seq);
    int n = snprintf(out, size, "<cz.%lld.%d.%s.%s@%s>", (long long)attempt_id, tries, ms36,
                     seq36, domain);
    return n < 0 || (size_t)n >= size ? -E2BIG : 0;
}

/* ---- addresses ---- */

static bool is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

int em_addr_check(const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t n = strlen(addr);
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        if (*p >= 0x80)
            return -EILSEQ;
    if (!at || at == addr || n > 254 || at - addr > 64 || !at[1])
        return -EINVAL;
    /* local part: a dot-atom, no leading, trailing or double dots */
    for (const char *p = addr; p < at; p++)
        if (!(is_atext((unsigned char)*p) ||
              (*p == '.' && p > addr && p + 1 < at && p[1] != '.')))
            return -EINVAL;
    const char *d = at + 1;
    if (*d == '[') {
        size_t dl = strlen(d);
        if (dl < 3 || d[dl - 1] != ']')
            return -EINVAL;
        for (const char *p = d + 1; p < d + dl - 1; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == '.' || *p == ':' || *p == 'v' ||
                  *p == 'V'))
                return -EINVAL;
        return 0;
    }
    for (const char *p = d; *p; p++) {
        bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9');
        if (alnum)
            continue;
        if (*p == '-' && p > d && p[1] && p[1] != '.' && p[-1] != '.')
            continue;
        if (*p == '.' && p > d && p[1] && p[1] != '.')
            continue;
        return -EINVAL;
    }
    return 0;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int em_mailbox_parse(const char *s, char *display, size_t dsize, char *addr, size_t asize)
{
    const char *lt = strchr(s, '<');
    const char *a = s, *ae;
    size_t dl = 0;
    char tmp[512];
    if (lt) {
        const char *gt = strchr(lt, '>');
        if (!gt || *skip_ws(gt + 1))
            return -EINVAL;
        a = lt + 1;
        ae = gt;
        /* the display name: trimmed, outer quotes taken off and \x unescaped */
        const char *ds = skip_ws(s), *de = lt;
        while (de > ds && (de[-1] == ' ' || de[-1] == '\t'))
            de--;
        if (de - ds >= 2 && *ds == '"' && de[-1] == '"') {
            ds++;
            de--;
        }
        for (const char *p = ds; p < de; p++) {
            if (*p == '\\' && p + 1 < de)
                p++;
            else if (*p == '"' || (unsigned char)*p < 0x20)
                return -EINVAL;
            if (dl + 1 >= sizeof(tmp))
                return -EINVAL;
            tmp[dl++] = *p;
        }
    } else {
        a = skip_ws(s);
        ae = a + strlen(a);
        while (ae > a && (ae[-1] == ' ' || ae[-1] == '\t'))
            ae--;
    }
    size_t al = (size_t)(ae - a);
    if (al == 0 || al >= asize || dl >= dsize)
        return -EINVAL;
    memcpy(addr, a, al);
    addr[al] = 0;
    if (em_addr_check(addr) < 0)
        return -EINVAL;
    memcpy(display, tmp, dl);
    display[dl] = 0;
    return 0;
}

bool em_unsubscribe_url_ok(const char *url)
{
    if (strncmp(url, "https://", 8) != 0 || strlen(url) > 900 || !url[8])
        return false;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '<' || *p == '>' || *p == '"')
            return false;
    return true;
}

/* ---- the message ---- */

static int add_header(struct em_buf *b, const char *name, const char *value)
{
    int r = em_buf_adds(b, name);
    if (r >= 0)
        r = em_buf_add(b, ": ", 2);
    if (r >= 0)
        r = em_buf_adds(b, value);
    if (r >= 0)
        r = em_buf_add(b, "\r\n", 2);
    return r;
}

static int add_part_headers(struct em_buf *b, const char *type)
{
    int r = em_buf_adds(b, "Content-Type: ");
    if (r >= 0)
        r = em_buf_adds(b, type);
    if (r >= 0)
        r = em_buf_adds(b, "; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    return r;
}

int em_message_build(struct em_buf *b, const struct em_message *m)
{
    char date[32], num[24];
    em_format_date(m->date_ms, date);
    snprintf(num, sizeof(num), "%lld", (long long)m->attempt_id);

    int r = add_header(b, "Date", date);
    if (r >= 0)
        r = em_add_mailbox(b, "From", m->from_display, m->from_addr);
    if (r >= 0)
        r = add_header(b, "To", m->to);
    if (r >= 0 && m->reply_to_addr)
        r = em_add_mailbox(b, "Reply-To", m->reply_to_display, m->reply_to_addr);
    if (r >= 0 && m->subject)
        r = em_add_unstructured(b, "Subject", m->subject);
    if (r >= 0)
        r = add_header(b, "Message-ID", m->message_id);
    if (r >= 0)
        r = add_header(b, "MIME-Version", "1.0");
    if (r >= 0 && (m->unsubscribe_url || m->unsubscribe_mailto)) {
        /* RFC 2369; one entry per line so a long link stays under 998 */
        r = em_buf_adds(b, "List-Unsubscribe: ");
        if (r >= 0 && m->unsubscribe_url) {
            r = buf_addc(b, '<');
            if (r >= 0)
                r = em_buf_adds(b, m->unsubscribe_url);
            if (r >= 0)
                r = em_buf_adds(b, m->unsubscribe_mailto ? ">,\r\n " : ">");
        }
        if (r >= 0 && m->unsubscribe_mailto) {
            r = em_buf_adds(b, "<mailto:");
            if (r >= 0)
                r = em_buf_adds(b, m->unsubscribe_mailto);
            if (r >= 0)
                r = em_buf_adds(b, "?subject=unsubscribe>");
        }
        if (r >= 0)
            r = em_buf_add(b, "\r\n", 2);
        /* RFC 8058: one-click only with an https link to POST to */
        if (r >= 0 && m->unsubscribe_url)
            r = add_header(b, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
    }
    if (r >= 0 && m->idempotency_key)
        r = em_add_unstructured(b, "X-Cadenza-Idempotency-Key", m->idempotency_key);
    if (r >= 0)
        r = add_header(b, "X-Cadenza-Attempt", num);
    if (r < 0)
        return r;

    size_t tn = strlen(m->text);
    if (!m->html) {
        r = add_part_headers(b, "text/plain");
        if (r >= 0)
            r = em_add_qp(b, m->text, tn);
        /* the message ends with a line end (SMTP DATA needs one before its ".") */
        if (r >= 0 && b->len >= 2 && memcmp(b->buf + b->len - 2, "\r\n", 2) != 0)
            r = em_buf_add(b, "\r\n", 2);
        return r;
    }
    r = em_buf_adds(b, "Content-Type: multipart/alternative; boundary=\"");
    if (r >= 0)
        r = em_buf_adds(b, m->boundary);
    if (r >= 0)
        r = em_buf_adds(b, "\"\r\n\r\nThis is a multi-part message in MIME format.\r\n");
    /* RFC 2046 5.1.4: the last alternative is the preferred one: html after text */
    const char *types[2] = { "text/plain", "text/html" };
    const char *bodies[2] = { m->text, m->html };
    for (int i = 0; i < 2 && r >= 0; i++) {
        r = em_buf_add(b, "\r\n--", 4);
        if (r >= 0)
            r = em_buf_adds(b, m->boundary);
        if (r >= 0)
            r = em_buf_add(b, "\r\n", 2);
        if (r >= 0)
            r = add_part_headers(b, types[i]);
        if (r >= 0)
            r = em_add_qp(b, bodies[i], strlen(bodies[i]));
    }
    if (r >= 0)
        r = em_buf_add(b, "\r\n--", 4);
    if (r >= 0)
        r = em_buf_adds(b, m->boundary);
    if (r >= 0)
        r = em_buf_add(b, "--\r\n", 4);
    return r;
}

/* ---- what an SMTP answer means ---- */

/*
 * The classification table, first match wins (docs: plugins/email/README.md):
 *
 *   error 0                               sent
 *   530, 534, 535, or -EACCES without 4xx failed, and the credentials are wrong
 *   4xx                                   retry (greylisting, 421 shutting down, 451, 452)
 *   550, 551, 553 with enhanced 5.7.x     failed (a policy refusal, not the address)
 *   550, 551, 553                         invalid address
 *   other 5xx                             failed
 *   no reply, -ETIMEDOUT, -ECONNREFUSED,
 *   -ECONNRESET and every other error     retry
 */
struct em_verdict em_classify(int code, int error, const char *text)
{
    if (error == 0)
        return (struct em_verdict){ CZ_SEND_OK, false };
    bool temp = code >= 400 && code < 500;
    if (code == 530 || code == 534 || code == 535 || (error == -EACCES && !temp))
        return (struct em_verdict){ CZ_SEND_FAILED, true };
    if (temp)
        return (struct em_verdict){ CZ_SEND_RETRY, false };
    if (code == 550 || code == 551 || code == 553) {
        /* "550 5.7.1 message refused as spam" is about the message, not the mailbox */
        const char *e = text ? strstr(text, "5.7.") : NULL;
        if (e && (e == text || e[-1] == ' '))
            return (struct em_verdict){ CZ_SEND_FAILED, false };
        return (struct em_verdict){ CZ_SEND_INVALID_ADDRESS, false };
    }
    if (code >= 500 && code < 600)
        return (struct em_verdict){ CZ_SEND_FAILED, false };
    return (struct em_verdict){ CZ_SEND_RETRY, false };
}
