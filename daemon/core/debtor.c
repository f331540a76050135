/*
 * debtor.c - the documented input columns and the per-row validation that
 * turns a raw row into a debtor record (see debtor.h, docs/import.md).
 *
 * Owns: the column, country, currency and flag tables, and a process-wide
 * cache of time zone names already checked against the tz database.
 * Never: keeps a pointer to a row, writes into a row, or stops at the
 * first problem of a row (every problem is reported, joined by "; ").
 *
 * Invariants:
 *  1. debtor_validate() is safe to call from several threads at once: its
 *     only shared state is the zone cache, guarded by one mutex.
 *  2. Every message is "<column>: <reason>", user values in single quotes,
 *     cut to 40 bytes (on a UTF-8 boundary) followed by "...".
 *  3. Strings in a record point into the row, into the record itself
 *     (dnc_buf) or into the static tables here (country, currency,
 *     risk_band: upper-cased canonical forms).
 *  4. raw_row_hash() depends on column, length and bytes of every
 *     non-empty trimmed field, so it is stable across runs and formats
 *     and moving text between columns changes it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "debtor.h"
#include "phone.h"
#include "tz.h"
#include "util.h"

const char *const debtor_col_names[_DCOL_MAX] = {
    [DCOL_ID] = "id",
    [DCOL_NAME] = "name",
    [DCOL_LOCALE] = "locale",
    [DCOL_TIME_ZONE] = "time_zone",
    [DCOL_COUNTRY] = "country",
    [DCOL_REGION] = "region",
    [DCOL_EMAIL] = "email",
    [DCOL_PHONE] = "phone",
    [DCOL_CHAT_HANDLE] = "chat_handle",
    [DCOL_BALANCE] = "balance",
    [DCOL_CURRENCY] = "currency",
    [DCOL_DUE_DATE] = "due_date",
    [DCOL_PAYDAY] = "payday",
    [DCOL_RISK_BAND] = "risk_band",
    [DCOL_SEGMENT] = "segment",
    [DCOL_TAGS] = "tags",
    [DCOL_FLAGS] = "flags",
    [DCOL_CONSENT_EMAIL] = "consent_email",
    [DCOL_CONSENT_SMS] = "consent_sms",
    [DCOL_CONSENT_CHAT] = "consent_chat",
    [DCOL_CONSENT_CALL] = "consent_call",
    [DCOL_DO_NOT_CONTACT] = "do_not_contact",
    [DCOL_PREFERRED_CHANNEL] = "preferred_channel",
    [DCOL_PREFERS_HUMAN] = "prefers_human",
    [DCOL_AGE_BAND] = "age_band",
    [DCOL_EMPLOYMENT_TYPE] = "employment_type",
};

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void trim(const char **s, size_t *n)
{
    while (*n && is_blank(**s))
        (*s)++, (*n)--;
    while (*n && is_blank((*s)[*n - 1]))
        (*n)--;
}

enum debtor_col debtor_col_from_name(const char *s, size_t n)
{
    if (!s)
        return _DCOL_INVALID;
    trim(&s, &n);
    for (int i = 0; i < _DCOL_MAX; i++)
        if (strlen(debtor_col_names[i]) == n && strncasecmp(debtor_col_names[i], s, n) == 0)
            return (enum debtor_col)i;
    return _DCOL_INVALID;
}

static const char *const phone_type_names[] = {
    [PHONE_NONE] = "none",
    [PHONE_MOBILE] = "mobile",
    [PHONE_FIXED_LINE] = "fixed_line",
    [PHONE_FIXED_OR_MOBILE] = "fixed_or_mobile",
    [PHONE_VOIP] = "voip",
    [PHONE_OTHER] = "other",
};

const char *phone_type_to_string(enum phone_type t)
{
    return (unsigned)t < ELEMENTSOF(phone_type_names) ? phone_type_names[t] : NULL;
}

uint64_t raw_row_hash(const struct raw_row *row)
{
    uint64_t h = 0x63647a2d726f7731ull; /* bump to force a full re-import */
    for (int c = 0; c < _DCOL_MAX; c++) {
        const char *s = row->f[c];
        size_t n = row->flen[c];
        if (!s)
            continue;
        trim(&s, &n);
        if (!n)
            continue;
        h = hash64(s, n, h ^ ((uint64_t)(c + 1) << 56) ^ (uint64_t)n);
    }
    return h;
}

/* ---- tables ---------------------------------------------------------- */

/* ISO 3166-1 alpha-2, sorted (checked against iso3166.tab by the tests). */
static const char countries[][3] = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX",
    "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ",
    "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK",
    "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM",
    "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR",
    "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS",
    "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN",
    "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN",
    "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV",
    "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ",
    "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI",
    "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
    "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC",
    "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV",
    "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR",
    "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
};

/* ISO 4217 currencies in use (funds and metals left out), sorted, with
 * their minor-unit exponent. */
static const struct currency {
    char code[4];
    uint8_t exp;
} currencies[] = {
    { "AED", 2 }, { "AFN", 2 }, { "ALL", 2 }, { "AMD", 2 }, { "ANG", 2 }, { "AOA", 2 },
    { "ARS", 2 }, { "AUD", 2 }, { "AWG", 2 }, { "AZN", 2 }, { "BAM", 2 }, { "BBD", 2 },
    { "BDT", 2 }, { "BGN", 2 }, { "BHD", 3 }, { "BIF", 0 }, { "BMD", 2 }, { "BND", 2 },
    { "BOB", 2 }, { "BRL", 2 }, { "BSD", 2 }, { "BTN", 2 }, { "BWP", 2 }, { "BYN", 2 },
    { "BZD", 2 }, { "CAD", 2 }, { "CDF", 2 }, { "CHF", 2 }, { "CLP", 0 }, { "CNY", 2 },
    { "COP", 2 }, { "CRC", 2 }, { "CUP", 2 }, { "CVE", 2 }, { "CZK", 2 }, { "DJF", 0 },
    { "DKK", 2 }, { "DOP", 2 }, { "DZD", 2 }, { "EGP", 2 }, { "ERN", 2 }, { "ETB", 2 },
    { "EUR", 2 }, { "FJD", 2 }, { "FKP", 2 }, { "GBP", 2 }, { "GEL", 2 }, { "GHS", 2 },
    { "GIP", 2 }, { "GMD", 2 }, { "GNF", 0 }, { "GTQ", 2 }, { "GYD", 2 }, { "HKD", 2 },
    { "HNL", 2 }, { "HTG", 2 }, { "HUF", 2 }, { "IDR", 2 }, { "ILS", 2 }, { "INR", 2 },
    { "IQD", 3 }, { "IRR", 2 }, { "ISK", 0 }, { "JMD", 2 }, { "JOD", 3 }, { "JPY", 0 },
    { "KES", 2 }, { "KGS", 2 }, { "KHR", 2 }, { "KMF", 0 }, { "KPW", 2 }, { "KRW", 0 },
    { "KWD", 3 }, { "KYD", 2 }, { "KZT", 2 }, { "LAK", 2 }, { "LBP", 2 }, { "LKR", 2 },
    { "LRD", 2 }, { "LSL", 2 }, { "LYD", 3 }, { "MAD", 2 }, { "MDL", 2 }, { "MGA", 2 },
    { "MKD", 2 }, { "MMK", 2 }, { "MNT", 2 }, { "MOP", 2 }, { "MRU", 2 }, { "MUR", 2 },
    { "MVR", 2 }, { "MWK", 2 }, { "MXN", 2 }, { "MYR", 2 }, { "MZN", 2 }, { "NAD", 2 },
    { "NGN", 2 }, { "NIO", 2 }, { "NOK", 2 }, { "NPR", 2 }, { "NZD", 2 }, { "OMR", 3 },
    { "PAB", 2 }, { "PEN", 2 }, { "PGK", 2 }, { "PHP", 2 }, { "PKR", 2 }, { "PLN", 2 },
    { "PYG", 0 }, { "QAR", 2 }, { "RON", 2 }, { "RSD", 2 }, { "RUB", 2 }, { "RWF", 0 },
    { "SAR", 2 }, { "SBD", 2 }, { "SCR", 2 }, { "SDG", 2 }, { "SEK", 2 }, { "SGD", 2 },
    { "SHP", 2 }, { "SLE", 2 }, { "SLL", 2 }, { "SOS", 2 }, { "SRD", 2 }, { "SSP", 2 },
    { "STN", 2 }, { "SVC", 2 }, { "SYP", 2 }, { "SZL", 2 }, { "THB", 2 }, { "TJS", 2 },
    { "TMT", 2 }, { "TND", 3 }, { "TOP", 2 }, { "TRY", 2 }, { "TTD", 2 }, { "TWD", 2 },
    { "TZS", 2 }, { "UAH", 2 }, { "UGX", 0 }, { "USD", 2 }, { "UYU", 2 }, { "UZS", 2 },
    { "VED", 2 }, { "VES", 2 }, { "VND", 0 }, { "VUV", 0 }, { "WST", 2 }, { "XAF", 0 },
    { "XCD", 2 }, { "XCG", 2 }, { "XOF", 0 }, { "XPF", 0 }, { "YER", 2 }, { "ZAR", 2 },
    { "ZMW", 2 }, { "ZWG", 2 }, { "ZWL", 2 },
};

static const char *const flag_names[] = {
    "hardship", "dispute", "cease", "deceased", "bankrupt", "vulnerable",
};

static const char *const chan_names[] = { "email", "sms", "chat", "call" };
static const char *const band_names[] = { "A", "B", "C", "D", "E" };

static int cmp_country(const void *a, const void *b) { return memcmp(a, b, 2); }
static int cmp_currency(const void *a, const void *b) { return memcmp(a, b, 3); }

static const char *country_lookup(const char *s, size_t n)
{
    if (n != 2)
        return NULL;
    char k[3] = { (char)toupper((unsigned char)s[0]), (char)toupper((unsigned char)s[1]), 0 };
    return bsearch(k, countries, ELEMENTSOF(countries), sizeof(countries[0]), cmp_country);
}

static const struct currency *currency_lookup(const char *s, size_t n)
{
    if (n != 3)
        return NULL;
    char k[4] = { 0 };
    for (int i = 0; i < 3; i++)
        k[i] = (char)toupper((unsigned char)s[i]);
    return bsearch(k, currencies, ELEMENTSOF(currencies), sizeof(currencies[0]), cmp_currency);
}

int currency_exponent(const char *code)
{
    const struct currency *c = code ? currency_lookup(code, strlen(code)) : NULL;
    return c ? c->exp : -1;
}

/* ---- time zones ------------------------------------------------------ */

#define TZC_SLOTS 2048 /* power of two; only TZC_SLOTS * 3 / 4 are filled */

static struct tzc_slot {
    uint64_t h;
    char name[64];
    int8_t state; /* 0 empty, 1 exists, 2 unknown */
} tzc[TZC_SLOTS];
static size_t tzc_used;
static pthread_mutex_t tzc_lock = PTHREAD_MUTEX_INITIALIZER;

static bool tz_name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= 64 || s[0] == '/' || s[0] == '.' || s[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(isalnum((unsigned char)c) || c == '/' || c == '_' || c == '-' || c == '+' ||
              c == '.'))
            return false;
        if (c == '.' && i + 1 < n && s[i + 1] == '.')
            return false;
        if (c == '/' && (s[i + 1] == '/' || s[i + 1] == '.'))
            return false;
    }
    return true;
}

static bool tz_file_ok(const char *s, size_t n)
{
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%.*s", dir && *dir ? dir : "/usr/share/zoneinfo", (int)n,
             s);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    struct stat st;
    char magic[4];
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read(fd, magic, 4) == 4 &&
              memcmp(magic, "TZif", 4) == 0;
    close(fd);
    return ok;
}

/* Does the zone exist?  Cached, thread-safe (keeps invariant 1). */
static bool tz_exists(const char *s, size_t n)
{
    if (!tz_name_ok(s, n))
        return false;
    uint64_t h = hash64(s, n, 0x747a);
    size_t i = h & (TZC_SLOTS - 1);
    int state = 0;
    pthread_mutex_lock(&tzc_lock);
    for (;; i = (i + 1) & (TZC_SLOTS - 1)) {
        struct tzc_slot *sl = &tzc[i];
        if (!sl->state)
            break;
        if (sl->h == h && strncmp(sl->name, s, n) == 0 && sl->name[n] == 0) {
            state = sl->state;
            break;
        }
    }
    pthread_mutex_unlock(&tzc_lock);
    if (state)
        return state == 1;

    bool ok = tz_file_ok(s, n);
    pthread_mutex_lock(&tzc_lock);
    if (tzc_used < TZC_SLOTS * 3 / 4) {
        for (i = h & (TZC_SLOTS - 1);; i = (i + 1) & (TZC_SLOTS - 1)) {
            struct tzc_slot *sl = &tzc[i];
            if (sl->state && sl->h == h && strncmp(sl->name, s, n) == 0 && sl->name[n] == 0)
                break; /* another thread was first */
            if (!sl->state) {
                sl->h = h;
                memcpy(sl->name, s, n);
                sl->name[n] = 0;
                sl->state = ok ? 1 : 2;
                tzc_used++;
                break;
            }
        }
    }
    pthread_mutex_unlock(&tzc_lock);
    return ok;
}

/* ---- messages -------------------------------------------------------- */

struct vctx {
    char *err;
    size_t errlen, used;
    int nerr;
};

_printf_(2, 3) static void bad(struct vctx *v, const char *fmt, ...)
{
    v->nerr++;
    if (!v->errlen || v->used + 1 >= v->errlen)
        return;
    if (v->used) {
        int k = snprintf(v->err + v->used, v->errlen - v->used, "; ");
        v->used += (size_t)k;
        if (v->used + 1 >= v->errlen) {
            v->used = v->errlen - 1;
            return;
        }
    }
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(v->err + v->used, v->errlen - v->used, fmt, ap);
    va_end(ap);
    if (k > 0)
        v->used += (size_t)k;
    if (v->used >= v->errlen)
        v->used = v->errlen - 1;
}

#define QUOTE_MAX 40

/* A value for a message: at most 40 bytes (whole UTF-8 characters), then
 * "..."; control characters shown as '?'.  buf must hold 48 bytes. */
static const char *q(char buf[48], const char *s, size_t n)
{
    size_t m = n;
    if (m > QUOTE_MAX) {
        m = QUOTE_MAX;
        while (m > 0 && ((unsigned char)s[m] & 0xc0) == 0x80)
            m--;
    }
    for (size_t i = 0; i < m; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (m < n)
        memcpy(buf + m, "...", 4);
    else
        buf[m] = 0;
    return buf;
}

/* ---- field checks ---------------------------------------------------- */

static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

static bool email_ok(const char *s, size_t n)
{
    if (n < 6 || n > 254)
        return false;
    const char *at = memchr(s, '@', n);
    if (!at || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return false;
    size_t ll = (size_t)(at - s);
    if (ll == 0 || ll > 64 || s[0] == '.' || s[ll - 1] == '.')
        return false;
    for (size_t i = 0; i < ll; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' && s[i + 1] == '.')
            return false;
        if (!(isalnum(c) || c >= 0x80 || strchr("!#$%&'*+/=?^_`{|}~.-", c)))
            return false;
    }
    const char *d = at + 1, *end = s + n;
    int labels = 0;
    const char *last = d;
    while (d < end) {
        const char *dot = memchr(d, '.', (size_t)(end - d));
        const char *le = dot ? dot : end;
        size_t len = (size_t)(le - d);
        if (len == 0 || len > 63 || d[0] == '-' || le[-1] == '-')
            return false;
        for (const char *c = d; c < le; c++)
            if (!(isalnum((unsigned char)*c) || *c == '-' || (unsigned char)*c >= 0x80))
                return false;
        labels++;
        last = d;
        if (!dot)
            break;
        d = dot + 1;
        if (d == end)
            return false; /* trailing dot */
    }
    if (labels < 2)
        return false;
    size_t tl = (size_t)(end - last);
    if (tl < 2)
        return false;
    for (const char *c = last; c < end; c++)
        if (!isdigit((unsigned char)*c))
            return true;
    return false; /* all-digit top-level domain */
}

static bool locale_ok(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && isalpha((unsigned char)s[i]))
        i++;
    if (i < 2 || i > 3)
        return false;
    while (i < n) {
        if (s[i] != '-' && s[i] != '_')
            return false;
        size_t j = ++i;
        while (i < n && isalnum((unsigned char)s[i]))
            i++;
        if (i - j < 2 || i - j > 8)
            return false;
    }
    return true;
}

/* yes/no and friends: 1 yes, 0 no, -1 not a boolean. */
static int parse_yesno(const char *s, size_t n)
{
    static const char *const yes[] = { "yes", "y", "true", "1" };
    static const char *const no[] = { "no", "n", "false", "0" };
    for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
        if (strlen(yes[i]) == n && strncasecmp(yes[i], s, n) == 0)
            return 1;
        if (strlen(no[i]) == n && strncasecmp(no[i], s, n) == 0)
            return 0;
    }
    return -1;
}

static int word_index(const char *const *words, size_t nwords, const char *s, size_t n)
{
    for (size_t i = 0; i < nwords; i++)
        if (strlen(words[i]) == n && strncasecmp(words[i], s, n) == 0)
            return (int)i;
    return -1;
}

/*
 * Parse a decimal amount with at most exp decimals into minor units.
 * Returns 0, -EINVAL (not a number), -EDOM (too many decimals), -ERANGE.
 */
static int parse_amount(const char *s, size_t n, int exp, int64_t *ret)
{
    size_t i = 0;
    if (n == 0)
        return -EINVAL;
    if (s[0] == '+')
        i++;
    size_t int_start = i;
    int64_t v = 0;
    while (i < n && isdigit((unsigned char)s[i])) {
        if (v > (INT64_C(1) << 53))
            return -ERANGE;
        v = v * 10 + (s[i++] - '0');
    }
    size_t int_digits = i - int_start;
    size_t frac = 0;
    int64_t fv = 0;
    if (i < n && s[i] == '.') {
        i++;
        size_t fs = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        frac = i - fs;
        if (frac == 0)
            return -EINVAL;
        /* trailing zeros beyond the exponent are harmless: "12.500" EUR */
        size_t sig = frac;
        while (sig > (size_t)exp && s[fs + sig - 1] == '0')
            sig--;
        if (sig > (size_t)exp)
            return -EDOM;
        for (size_t k = 0; k < (size_t)exp; k++)
            fv = fv * 10 + (k < sig ? s[fs + k] - '0' : 0);
    }
    if (i != n || int_digits == 0)
        return -EINVAL;
    for (int k = 0; k < exp; k++) {
        if (v > INT64_MAX / 100)
            return -ERANGE;
        v *= 10;
    }
    v += fv;
    if (v > INT64_C(1000000000000000000))
        return -ERANGE;
    *ret = v;
    return 0;
}

/* ---- do_not_contact -------------------------------------------------- */

static const char *const day_short[7] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
static const char *const day_long[7] = { "monday", "tuesday", "wednesday", "thursday",
                                         "friday", "saturday", "sunday" };

static int day_from(const char *s, size_t n)
{
    for (int d = 0; d < 7; d++)
        if ((n == 3 && strncasecmp(day_short[d], s, 3) == 0) ||
            (n == strlen(day_long[d]) && strncasecmp(day_long[d], s, n) == 0))
            return d;
    return -1;
}

static int parse_hhmm(const char *s, size_t n, int max)
{
    if (n != 5 || s[2] != ':' || !isdigit((unsigned char)s[0]) ||
        !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[3]) ||
        !isdigit((unsigned char)s[4]))
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h * 60 + m > max)
        return -1;
    return h * 60 + m;
}

static uint8_t rotate_days(uint8_t mask) { return (uint8_t)(((mask << 1) | (mask >> 6)) & 0x7f); }

static size_t format_days(uint8_t mask, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int d = 0; d < 7;) {
        if (!(mask & (1u << d))) {
            d++;
            continue;
        }
        int e = d;
        while (e + 1 < 7 && (mask & (1u << (e + 1))))
            e++;
        o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "", day_short[d]);
        if (e > d)
            o += (size_t)snprintf(buf + o, len - o, "-%s", day_short[e]);
        d = e + 1;
    }
    return o;
}

/*
 * "Mon-Fri 09:00-17:00; Sat 00:00-12:00": entries split by ';', each an
 * optional list of days or day ranges (comma-separated; none = every day)
 * and a time range; a range past midnight ("22:00-07:00") continues on the
 * next day.  Fills rec->dnc and the normalised text in rec->dnc_buf.
 * Returns NULL or a reason.
 */
static const char *parse_dnc(const char *s, size_t n, struct debtor_rec *rec)
{
    rec->ndnc = 0;
    const char *end = s + n;
    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *ee = semi ? semi : end;
        const char *e = s;
        size_t el = (size_t)(ee - s);
        trim(&e, &el);
        s = semi ? semi + 1 : end;
        if (!el)
            continue;
        /* the time range is the last word */
        size_t sp = el;
        while (sp > 0 && !is_blank(e[sp - 1]))
            sp--;
        const char *tr = e + sp;
        size_t tl = el - sp;
        const char *dash = memchr(tr, '-', tl);
        int t0 = dash ? parse_hhmm(tr, (size_t)(dash - tr), 23 * 60 + 59) : -1;
        int t1 = dash ? parse_hhmm(dash + 1, tl - (size_t)(dash - tr) - 1, 24 * 60) : -1;
        if (t0 < 0 || t1 < 0)
            return "has no time range like 09:00-17:00";
        if (t0 == t1)
            return "has an empty time range";
        uint8_t mask = 0;
        const char *dp = e;
        size_t dl = sp;
        trim(&dp, &dl);
        if (!dl)
            mask = 0x7f;
        while (dl) {
            const char *comma = memchr(dp, ',', dl);
            size_t il = comma ? (size_t)(comma - dp) : dl;
            const char *it = dp;
            size_t itl = il;
            trim(&it, &itl);
            const char *rd = memchr(it, '-', itl);
            int d0 = day_from(it, rd ? (size_t)(rd - it) : itl);
            int d1 = rd ? day_from(rd + 1, itl - (size_t)(rd - it) - 1) : d0;
            if (d0 < 0 || d1 < 0)
                return "has an unknown day (use Mon..Sun)";
            for (int d = d0;; d = (d + 1) % 7) {
                mask |= (uint8_t)(1u << d);
                if (d == d1)
                    break;
            }
            if (!comma)
                break;
            dl -= il + 1;
            dp = comma + 1;
        }
        struct dnc_range parts[2];
        int np = 0;
        if (t1 > t0)
            parts[np++] = (struct dnc_range){ mask, (int16_t)t0, (int16_t)t1 };
        else {
            parts[np++] = (struct dnc_range){ mask, (int16_t)t0, 1440 };
            if (t1 > 0)
                parts[np++] = (struct dnc_range){ rotate_days(mask), 0, (int16_t)t1 };
        }
        for (int i = 0; i < np; i++) {
            if (rec->ndnc == DNC_MAX)
                return "has more than 8 ranges";
            rec->dnc[rec->ndnc++] = parts[i];
        }
    }
    if (!rec->ndnc)
        return "has no ranges";
    size_t o = 0;
    for (int i = 0; i < rec->ndnc; i++) {
        const struct dnc_range *r = &rec->dnc[i];
        char days[40];
        format_days(r->weekday_mask, days, sizeof(days));
        o += (size_t)snprintf(rec->dnc_buf + o, sizeof(rec->dnc_buf) - o,
                              "%s%s %02d:%02d-%02d:%02d", i ? "; " : "", days, r->start / 60,
                              r->start % 60, r->end / 60, r->end % 60);
        if (o >= sizeof(rec->dnc_buf))
            return "is too long";
    }
    return NULL;
}

/* ---- the row --------------------------------------------------------- */

static bool get(const struct raw_row *row, enum debtor_col c, const char **s, size_t *n)
{
    *s = row->f[c];
    *n = row->flen[c];
    if (!*s) {
        *n = 0;
        return false;
    }
    trim(s, n);
    return *n > 0;
}

static void check_text(struct vctx *v, const struct raw_row *row, enum debtor_col c,
                       size_t max, const char **out)
{
    const char *s;
    size_t n;
    char b[48];
    if (!get(row, c, &s, &n))
        return;
    if (n > max)
        bad(v, "%s: '%s' is longer than %zu bytes", debtor_col_names[c], q(b, s, n), max);
    else if (has_control(s, n))
        bad(v, "%s: '%s' contains a control character", debtor_col_names[c], q(b, s, n));
    *out = s;
}

static void check_consent(struct vctx *v, const struct raw_row *row, enum debtor_col c,
                          uint8_t *out)
{
    const char *s;
    size_t n;
    char b[48];
    *out = CONSENT_UNKNOWN;
    if (!get(row, c, &s, &n))
        return;
    int y = parse_yesno(s, n);
    if (y < 0)
        bad(v, "%s: '%s' is not yes or no", debtor_col_names[c], q(b, s, n));
    else
        *out = y ? CONSENT_YES : CONSENT_NO;
}

/*
 * A missing zone (struct debtor_defaults): the country's only zone, else
 * the default where the country has it.  NULL with the reason in why.
 */
static const char *default_zone(const char *country, const char *def, char *why, size_t len)
{
    const char *zones[64]; /* more than any country has (US: 29) */
    size_t n = tz_country_zones(country, zones, ELEMENTSOF(zones));
    if (n == 1)
        return zones[0];
    for (size_t i = 0; i < n && i < ELEMENTSOF(zones) && def; i++)
        if (streq(zones[i], def))
            return def;
    if (n == 0 && def)
        return def; /* a country the tz database does not list: nothing to check against */
    if (n == 0)
        snprintf(why, len, "time_zone: missing, and no defaults.time_zone");
    else
        snprintf(why, len,
                 "time_zone: missing, and %s has %zu zones (%s, %s%s); add the column, or set "
                 "defaults.time_zone to one of them",
                 country, n, zones[0], zones[1], n > 2 ? ", ..." : "");
    return NULL;
}

int debtor_validate(const struct raw_row *row, const struct debtor_defaults *def,
                    struct debtor_rec *ret, char *err, size_t errlen)
{
    static const struct debtor_defaults none = { 0 };
    struct vctx v = { err, errlen, 0, 0 };
    struct debtor_rec *rec = ret;
    const char *s;
    size_t n;
    char b[48];

    bool complete = def != NULL;
    if (!def)
        def = &none;
    if (errlen)
        err[0] = 0;
    memset(rec, 0, offsetof(struct debtor_rec, dnc_buf));
    rec->dnc_buf[0] = 0;
    rec->preferred_channel = -1;
    rec->prefers_human = -1;
    rec->row_hash = raw_row_hash(row);

    if (!get(row, DCOL_ID, &s, &n))
        bad(&v, "id: missing");
    else if (n > 64)
        bad(&v, "id: '%s' is longer than 64 bytes", q(b, s, n));
    else if (has_control(s, n))
        bad(&v, "id: '%s' contains a control character", q(b, s, n));
    else
        rec->external_id = s;

    check_text(&v, row, DCOL_NAME, 200, &rec->name);

    if (get(row, DCOL_LOCALE, &s, &n)) {
        if (!locale_ok(s, n))
            bad(&v, "locale: '%s' is not a language tag like 'es-ES'", q(b, s, n));
        else
            rec->locale = s;
    }

    bool time_zone_bad = false;
    if (get(row, DCOL_TIME_ZONE, &s, &n)) {
        time_zone_bad = !tz_exists(s, n);
        if (time_zone_bad)
            bad(&v, "time_zone: unknown time zone '%s'", q(b, s, n));
        else
            rec->time_zone = s;
    }

    bool country_bad = false;
    bool country_given = get(row, DCOL_COUNTRY, &s, &n);
    if (country_given) {
        rec->country = country_lookup(s, n);
        if (!rec->country) {
            country_bad = true;
            bad(&v, "country: '%s' is not an ISO 3166-1 alpha-2 code", q(b, s, n));
        }
    } else if (def->country)
        rec->country = country_lookup(def->country, strlen(def->country));

    check_text(&v, row, DCOL_REGION, 100, &rec->region);

    bool contact = false;
    if (get(row, DCOL_EMAIL, &s, &n)) {
        contact = true;
        if (!email_ok(s, n))
            bad(&v, "email: '%s' is not a valid address", q(b, s, n));
        else
            rec->email = s;
    }

    if (get(row, DCOL_PHONE, &s, &n)) {
        contact = true;
        int type = 0;
        char cc[3];
        if (phone_check(s, n, rec->country, rec->phone, &type) == 0) {
            rec->phone_type = (uint8_t)type;
            /* no country column: an international number's region decides */
            if (!country_given && s[0] == '+' && phone_region(rec->phone, cc) == 0 &&
                country_lookup(cc, 2))
                rec->country = country_lookup(cc, 2);
        } else if (rec->country)
            bad(&v, "phone: '%s' is not a valid number for %s", q(b, s, n), rec->country);
        else if (s[0] == '+' || country_bad)
            bad(&v, "phone: '%s' is not a valid number", q(b, s, n));
        else
            bad(&v, "phone: '%s' has no country code and the row no country", q(b, s, n));
    }

    if (get(row, DCOL_CHAT_HANDLE, &s, &n))
        contact = true;
    check_text(&v, row, DCOL_CHAT_HANDLE, 200, &rec->chat_handle);

    if (complete && !rec->country && !country_bad)
        bad(&v, "country: missing; add the column, an international phone number, or "
                "defaults.country");
    if (complete && !rec->time_zone && rec->country && !time_zone_bad) {
        char why[300];
        if (!(rec->time_zone = default_zone(rec->country, def->time_zone, why, sizeof(why))))
            bad(&v, "%s", why);
    }

    const struct currency *cur = NULL;
    bool currency_given = get(row, DCOL_CURRENCY, &s, &n);
    if (currency_given) {
        cur = currency_lookup(s, n);
        if (!cur)
            bad(&v, "currency: '%s' is not an ISO 4217 code", q(b, s, n));
        else
            rec->currency = cur->code;
    } else if (def->currency && (cur = currency_lookup(def->currency, strlen(def->currency)))) {
        currency_given = true;
        rec->currency = cur->code;
    }
    if (get(row, DCOL_BALANCE, &s, &n)) {
        int64_t minor = 0;
        int k = parse_amount(s[0] == '-' ? s + 1 : s, s[0] == '-' ? n - 1 : n,
                             cur ? cur->exp : 3, &minor);
        if (k == -EINVAL)
            bad(&v, "balance: '%s' is not a decimal number like 1234.56", q(b, s, n));
        else if (k == -ERANGE)
            bad(&v, "balance: '%s' is too large", q(b, s, n));
        else if (s[0] == '-' && (minor != 0 || k == -EDOM))
            bad(&v, "balance: '%s' is negative", q(b, s, n));
        else if (k == -EDOM)
            bad(&v, "balance: '%s' has more decimals than %s allows", q(b, s, n),
                cur ? cur->code : "any currency");
        else if (!currency_given)
            bad(&v, "currency: missing (a balance needs one)");
        else
            rec->balance_minor = minor;
    }

    if (get(row, DCOL_DUE_DATE, &s, &n) && parse_date(s, n, &rec->due_date) < 0)
        bad(&v, "due_date: '%s' is not a date (YYYY-MM-DD)", q(b, s, n));

    if (get(row, DCOL_PAYDAY, &s, &n)) {
        int64_t d;
        if (n == 4 && strncasecmp(s, "last", 4) == 0)
            rec->payday = -1;
        else if (parse_int64(s, n, &d) == 0 && d >= 1 && d <= 31)
            rec->payday = (int8_t)d;
        else
            bad(&v, "payday: '%s' is not a day of the month (1-31) or 'last'", q(b, s, n));
    }

    if (get(row, DCOL_RISK_BAND, &s, &n)) {
        int i = word_index(band_names, ELEMENTSOF(band_names), s, n);
        if (i < 0)
            bad(&v, "risk_band: '%s' is not one of A, B, C, D, E", q(b, s, n));
        else
            rec->risk_band = band_names[i];
    }

    check_text(&v, row, DCOL_SEGMENT, 100, &rec->segment);
    check_text(&v, row, DCOL_TAGS, 1000, &rec->tags);
    check_text(&v, row, DCOL_AGE_BAND, 32, &rec->age_band);
    check_text(&v, row, DCOL_EMPLOYMENT_TYPE, 50, &rec->employment_type);

    if (get(row, DCOL_FLAGS, &s, &n)) {
        const char *end = s + n;
        while (s < end) {
            const char *semi = memchr(s, ';', (size_t)(end - s));
            const char *w = s;
            size_t wl = (size_t)((semi ? semi : end) - s);
            trim(&w, &wl);
            s = semi ? semi + 1 : end;
            if (!wl)
                continue;
            int i = word_index(flag_names, ELEMENTSOF(flag_names), w, wl);
            if (i >= 0) {
                rec->flags |= 1u << i;
                continue;
            }
            char lw[65];
            size_t m = wl < 64 ? wl : 64;
            for (size_t k = 0; k < m; k++)
                lw[k] = (char)tolower((unsigned char)w[k]);
            lw[m] = 0;
            const char *near = closest_word(lw, flag_names, ELEMENTSOF(flag_names));
            if (near)
                bad(&v, "flags: unknown flag '%s' (did you mean '%s'?)", q(b, w, wl), near);
            else
                bad(&v, "flags: unknown flag '%s'", q(b, w, wl));
        }
    }

    check_consent(&v, row, DCOL_CONSENT_EMAIL, &rec->consent[CHAN_EMAIL]);
    check_consent(&v, row, DCOL_CONSENT_SMS, &rec->consent[CHAN_SMS]);
    check_consent(&v, row, DCOL_CONSENT_CHAT, &rec->consent[CHAN_CHAT]);
    check_consent(&v, row, DCOL_CONSENT_CALL, &rec->consent[CHAN_CALL]);

    if (get(row, DCOL_DO_NOT_CONTACT, &s, &n)) {
        const char *why = parse_dnc(s, n, rec);
        if (why) {
            bad(&v, "do_not_contact: '%s' %s", q(b, s, n), why);
            rec->ndnc = 0;
        } else
            rec->do_not_contact = rec->dnc_buf;
    }

    if (get(row, DCOL_PREFERRED_CHANNEL, &s, &n)) {
        int i = word_index(chan_names, ELEMENTSOF(chan_names), s, n);
        if (i < 0)
            bad(&v, "preferred_channel: '%s' is not one of email, sms, chat, call",
                q(b, s, n));
        else
            rec->preferred_channel = (int8_t)i; /* same order as enum chan_kind */
    }

    if (get(row, DCOL_PREFERS_HUMAN, &s, &n)) {
        int y = parse_yesno(s, n);
        if (y < 0)
            bad(&v, "prefers_human: '%s' is not yes or no", q(b, s, n));
        else
            rec->prefers_human = (int8_t)y;
    }

    if (!contact)
        bad(&v, "contact: no email, phone or chat_handle");

    return v.nerr ? -EINVAL : 0;
}
