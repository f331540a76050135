/*
 * sample.c - the synthetic portfolio behind `cadenza sample`.
 *
 * What it is for: a realistic debtor file (several countries, zones,
 * languages, channels, balances, DPD spread, consents, flags and a share of
 * broken rows) to demo, test and benchmark import and planning without
 * real customer data.
 *
 * What it owns: nothing but static tables.  It never does I/O, never reads
 * the clock (as_of is an argument) and never calls rand().
 *
 * Invariants:
 *  1. Row i is a function of (seed, as_of, invalid_rate, i) only: each row
 *     has its own generator seeded from (seed, i).
 *  2. Ids are "D" + 13 digits of a keyed bijection on [0, 2^40), so the ids
 *     of rows 0..n-1 are distinct without a set, and not in row order.
 *  3. Valid rows hold only values the importer accepts: phone numbers in
 *     ranges libphonenumber deems valid for the row's country, zones that
 *     exist, dates that exist, amounts with two decimals.
 *  4. One row is at most SAMPLE_ROW_MAX bytes, and a row allocates only when
 *     the caller's buffer must grow.
 *  5. Invalid rows break exactly one field, chosen among enum sample_invalid.
 */
#include <errno.h>
#include <math.h>

#include "debtor.h"
#include "sample.h"

#define SAMPLE_ROW_MAX 2048

/* ---- random numbers (splitmix64) ---- */

struct rng {
    uint64_t s;
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rng_next(struct rng *r)
{
    return mix64(r->s += UINT64_C(0x9e3779b97f4a7c15));
}

/* Uniform in [0, n) (n small: the modulo bias is negligible). */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* True with probability per-mille pm. */
static bool rng_pm(struct rng *r, uint32_t pm)
{
    return rng_below(r, 1000) < pm;
}

/* Index drawn from integer weights. */
static unsigned rng_weighted(struct rng *r, const uint16_t *w, unsigned n)
{
    uint32_t total = 0, x;
    for (unsigned i = 0; i < n; i++)
        total += w[i];
    x = rng_below(r, total);
    for (unsigned i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

#define PICK(r, arr) ((arr)[rng_below((r), (uint32_t)ELEMENTSOF(arr))])

/* ---- ids: keyed bijection on 40 bits (invariant 2) ---- */

void sample_id(const struct sample_opts *o, uint64_t i, char buf[static 16])
{
    const uint64_t M = (UINT64_C(1) << 40) - 1;
    uint64_t k = mix64(o->seed ^ UINT64_C(0x5eed1d5)), x = i & M;

    for (int round = 0; round < 3; round++) {
        x = (x + (k >> (round * 8))) & M;  /* add: bijective mod 2^40 */
        x = (x * UINT64_C(0x9e3779b1)) & M; /* odd multiplier: bijective */
        x ^= x >> 17;                       /* xorshift: bijective on 40 bits */
    }
    buf[0] = 'D';
    for (int d = 13; d >= 1; d--) {
        buf[d] = (char)('0' + x % 10);
        x /= 10;
    }
    buf[14] = 0;
}

/* ---- static data ---- */

struct region {
    const char *code, *zone;
    const char *const *area; /* landline area codes (national, without trunk 0) */
    unsigned narea;
    uint16_t weight;
};

#define AREAS(...) (const char *const[]){ __VA_ARGS__ }, \
    ELEMENTSOF(((const char *const[]){ __VA_ARGS__ }))

static const struct region us_regions[] = {
    { "US-NY", "America/New_York",
      AREAS("212", "718", "917", "646", "347", "516", "914", "585", "716"), 90 },
    { "US-FL", "America/New_York", AREAS("305", "786", "407", "813", "904", "954"), 70 },
    { "US-GA", "America/New_York", AREAS("404", "678", "770"), 35 },
    { "US-MA", "America/New_York", AREAS("617", "508", "781"), 25 },
    { "US-PA", "America/New_York", AREAS("215", "412", "267", "610"), 35 },
    { "US-IL", "America/Chicago", AREAS("312", "773", "847", "630", "708"), 40 },
    { "US-TX", "America/Chicago", AREAS("214", "713", "512", "210", "817", "832"), 85 },
    { "US-MN", "America/Chicago", AREAS("612", "651", "952"), 15 },
    { "US-CO", "America/Denver", AREAS("303", "720", "719"), 18 },
    { "US-UT", "America/Denver", AREAS("801", "385"), 10 },
    { "US-AZ", "America/Phoenix", AREAS("602", "480", "520", "623"), 22 },
    { "US-CA", "America/Los_Angeles",
      AREAS("213", "310", "415", "408", "510", "619", "714", "818", "916"), 120 },
    { "US-WA", "America/Los_Angeles", AREAS("206", "253", "425", "509"), 22 },
    { "US-NV", "America/Los_Angeles", AREAS("702", "775"), 10 },
};

static const struct region es_regions[] = {
    { "ES-MD", "Europe/Madrid", AREAS("91"), 140 },
    { "ES-CT", "Europe/Madrid", AREAS("93", "972", "973", "977"), 120 },
    { "ES-AN", "Europe/Madrid", AREAS("954", "955", "952", "958", "957"), 130 },
    { "ES-VC", "Europe/Madrid", AREAS("96"), 80 },
    { "ES-PV", "Europe/Madrid", AREAS("94"), 35 },
    { "ES-GA", "Europe/Madrid", AREAS("981", "986", "988"), 40 },
    { "ES-CN", "Atlantic/Canary", AREAS("928", "922"), 35 },
};

static const struct region gb_regions[] = {
    { "GB-ENG", "Europe/London",
      AREAS("207", "208", "203", "161", "121", "113", "117", "151"), 840 },
    { "GB-SCT", "Europe/London", AREAS("141", "131"), 85 },
    { "GB-WLS", "Europe/London", AREAS("2920"), 50 },
    { "GB-NIR", "Europe/London", AREAS("2890"), 30 },
};

static const struct region mx_regions[] = {
    { "MX-CMX", "America/Mexico_City", AREAS("55"), 50 },
    { "MX-JAL", "America/Mexico_City", AREAS("33"), 25 },
    { "MX-NLE", "America/Monterrey", AREAS("81"), 25 },
};

static const struct region de_regions[] = {
    { "DE-BE", "Europe/Berlin", AREAS("30"), 40 },
    { "DE-BY", "Europe/Berlin", AREAS("89"), 35 },
    { "DE-HH", "Europe/Berlin", AREAS("40"), 25 },
};

static const char *const us_first[] = {
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Christopher", "Karen", "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty",
    "Mark", "Sandra", "José", "María", "Luis", "Carmen", "Kevin", "Ashley", "Brian", "Emily",
    "DeShawn", "Aaliyah", "Wei", "Priya", "Tyrone", "Megan",
};
static const char *const us_last[] = {
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Nguyen", "Kim", "O'Brien", "Patel", "Washington", "Chen",
};
static const char *const es_first[] = {
    "Antonio", "María", "Manuel", "Carmen", "José", "Ana", "Francisco", "Laura", "David",
    "Isabel", "Juan", "Lucía", "Javier", "Cristina", "Daniel", "Marta", "Carlos", "Elena",
    "Miguel", "Paula", "Alejandro", "Sara", "Rafael", "Pilar", "Pablo", "Núria", "Jordi",
    "Montserrat", "Iñaki", "Ainhoa", "María José", "Juan Carlos",
};
static const char *const es_last[] = {
    "García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez",
    "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez",
    "Romero", "Alonso", "Gutiérrez", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos",
    "Gil", "Ramírez", "Serrano", "Blanco", "Molina", "Puig", "Ferrer", "Castro", "Ortiz",
    "Etxeberria", "Santana",
};
static const char *const gb_first[] = {
    "Oliver", "Olivia", "George", "Amelia", "Harry", "Isla", "Jack", "Ava", "Jacob", "Emily",
    "Noah", "Sophie", "Charlie", "Grace", "Thomas", "Jessica", "Oscar", "Lily", "William",
    "Ella", "James", "Mia", "Siobhan", "Callum", "Rhys", "Eilidh", "Aoife", "Gareth", "Fiona",
    "Mohammed", "Zoë", "Seán",
};
static const char *const gb_last[] = {
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood",
    "Turner", "Martin", "Cooper", "Hill", "Campbell", "Stewart", "MacDonald", "O'Neill",
    "Murphy", "Khan",
};
static const char *const mx_first[] = {
    "José", "María", "Juan", "Guadalupe", "Luis", "Fernanda", "Jorge", "Alejandra", "Miguel",
    "Daniela", "Carlos", "Sofía", "Ricardo", "Valeria", "Jesús", "Ximena",
};
static const char *const mx_last[] = {
    "Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez",
    "Ramírez", "Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Reyes", "Jiménez",
};
static const char *const de_first[] = {
    "Lukas", "Anna", "Leon", "Lena", "Maximilian", "Sophie", "Paul", "Marie", "Jonas", "Laura",
    "Felix", "Julia", "Jürgen", "Sabine", "Uwe", "Katrin",
};
static const char *const de_last[] = {
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder",
    "Neumann", "Yılmaz",
};

static const char *const us_mail[] = { "gmail.example", "yahoo.example", "outlook.example",
                                       "icloud.example", "aol.example", "comcast.example" };
static const char *const es_mail[] = { "gmail.example", "hotmail.example", "telefonica.example",
                                       "yahoo.example", "outlook.example" };
static const char *const gb_mail[] = { "gmail.example", "btinternet.example", "outlook.example",
                                       "sky.example", "yahoo.example" };
static const char *const mx_mail[] = { "gmail.example", "hotmail.example", "prodigy.example" };
static const char *const de_mail[] = { "gmx.example", "web.example", "t-online.example",
                                       "gmail.example" };

enum phone_plan { PLAN_NANP, PLAN_ES, PLAN_GB, PLAN_MX, PLAN_DE };

struct country {
    const char *code, *currency;
    const char *locales[2];
    uint16_t locale2_pm;   /* share of the second locale, per mille */
    const struct region *regions;
    unsigned nregions;
    const char *const *first, *const *last;
    unsigned nfirst, nlast;
    const char *const *mail;
    unsigned nmail;
    enum phone_plan plan;
    uint16_t mobile_pm;    /* share of mobiles among phones */
    double money_scale;    /* balances relative to USD */
    const char *paydays[4];
    uint16_t weight;
};

#define LIST(a) a, ELEMENTSOF(a)

static const struct country countries[] = {
    { "US", "USD", { "en-US", "es-US" }, 150, LIST(us_regions), us_first, us_last,
      ELEMENTSOF(us_first), ELEMENTSOF(us_last), LIST(us_mail), PLAN_NANP, 800, 1.0,
      { "1", "15", "last", "5" }, 450 },
    { "ES", "EUR", { "es-ES", "ca-ES" }, 80, LIST(es_regions), es_first, es_last,
      ELEMENTSOF(es_first), ELEMENTSOF(es_last), LIST(es_mail), PLAN_ES, 720, 0.85,
      { "last", "1", "25", "28" }, 250 },
    { "GB", "GBP", { "en-GB", "cy-GB" }, 15, LIST(gb_regions), gb_first, gb_last,
      ELEMENTSOF(gb_first), ELEMENTSOF(gb_last), LIST(gb_mail), PLAN_GB, 750, 0.8,
      { "25", "28", "last", "15" }, 200 },
    { "MX", "MXN", { "es-MX", "en-US" }, 20, LIST(mx_regions), mx_first, mx_last,
      ELEMENTSOF(mx_first), ELEMENTSOF(mx_last), LIST(mx_mail), PLAN_MX, 850, 17.0,
      { "15", "last", "1", "30" }, 50 },
    { "DE", "EUR", { "de-DE", "en-GB" }, 30, LIST(de_regions), de_first, de_last,
      ELEMENTSOF(de_first), ELEMENTSOF(de_last), LIST(de_mail), PLAN_DE, 650, 0.9,
      { "last", "1", "15", "28" }, 50 },
};

struct segment {
    const char *name;
    double median; /* balance median in USD */
    uint16_t weight;
};
static const struct segment segments[] = {
    { "card", 1800, 300 }, { "loan", 6500, 200 }, { "telco", 180, 200 },
    { "utility", 250, 150 }, { "bnpl", 120, 150 },
};

static const char *const tags_pool[] = {
    "new_customer", "repeat_late", "autopay_failed", "promo_2026", "high_value",
    "student", "self_employed", "paperless", "moved_recently", "payment_plan_broken",
};

static const char *const nicknames[] = { "Bob", "Liz", "Mike", "Jim", "Kate", "Gus", "Lupe" };

static const char *const dnc_pool[] = {
    "Mon-Fri 09:00-17:00", "Mon-Fri 08:00-16:30", "Mon-Fri 13:00-15:00",
    "Sat 00:00-12:00", "Mon-Fri 09:00-17:00; Sat 08:00-13:00", "Mon-Sun 19:00-21:00",
    "Tue-Thu 10:00-14:00",
};

/* ---- output helpers: write into space reserved up front (invariant 4) ---- */

struct out {
    char *p;
};

static void put(struct out *o, const char *s, size_t n)
{
    memcpy(o->p, s, n);
    o->p += n;
}

static void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }
static void putc_(struct out *o, char c) { *o->p++ = c; }

static void put_uint(struct out *o, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < width);
    while (n)
        *o->p++ = tmp[--n];
}

/* A CSV field: quoted when it holds a comma, quote or line break. */
static void put_field(struct out *o, const char *s, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        put(o, s, n);
        return;
    }
    putc_(o, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            putc_(o, '"');
        putc_(o, s[i]);
    }
    putc_(o, '"');
}

static void put_date(struct out *o, int32_t days)
{
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    put_uint(o, (uint64_t)y, 4);
    putc_(o, '-');
    put_uint(o, m, 2);
    putc_(o, '-');
    put_uint(o, d, 2);
}

/* Lowercase ASCII for e-mail local parts: strips accents, drops the rest. */
static void put_ascii_lower(struct out *o, const char *s)
{
    /* U+00C0..U+00FF folded to ASCII ('\0' = drop). */
    static const char fold[] = "aaaaaaaceeeeiiii" "dnooooo\0ouuuuyts"
                               "aaaaaaaceeeeiiii" "dnooooo\0ouuuuyty";
    const unsigned char *u = (const unsigned char *)s;

    while (*u) {
        if (*u >= 'A' && *u <= 'Z') {
            putc_(o, (char)(*u + 32));
            u++;
        } else if ((*u >= 'a' && *u <= 'z') || (*u >= '0' && *u <= '9')) {
            putc_(o, (char)*u++);
        } else if (*u == 0xc3 && u[1] >= 0x80 && u[1] <= 0xbf) {
            unsigned cp = 0xc0 + (u[1] - 0x80) % 0x40;
            char c = fold[cp - 0xc0];
            if (cp == 0xdf) { /* sharp s */
                put(o, "ss", 2);
            } else if (c) {
                putc_(o, c);
            }
            u += 2;
        } else if (*u == 0xc4 && u[1] == 0xb1) { /* dotless i */
            putc_(o, 'i');
            u += 2;
        } else {
            u++; /* spaces, apostrophes and anything else */
        }
    }
}

/* ---- phone numbers (invariant 3) ---- */

enum { PH_E164, PH_SPACED, PH_NATIONAL };

/* Subscriber digits: random, first digit from `first` (e.g. "23456789"). */
static void gen_digits(struct rng *r, char *buf, unsigned n, const char *first)
{
    for (unsigned i = 0; i < n; i++)
        buf[i] = (char)('0' + rng_below(r, 10));
    if (n && first)
        buf[0] = first[rng_below(r, (uint32_t)strlen(first))];
    buf[n] = 0;
}

/*
 * National significant number for a country; *mobile says which kind.
 * Ranges are the ones libphonenumber's metadata marks valid.
 */
static void gen_nsn(struct rng *r, const struct country *c, const struct region *rg,
                    bool mobile, char nsn[static 16])
{
    char sub[12];

    switch (c->plan) {
    case PLAN_NANP: {
        /* NPA-NXX-XXXX; the exchange avoids N11 and 555 (fictional 555-01xx). */
        const char *npa = rg->area[rng_below(r, rg->narea)];
        unsigned nxx;
        do {
            nxx = 200 + rng_below(r, 800);
        } while (nxx % 100 == 11 || nxx == 555 || nxx == 950 || nxx == 958 || nxx == 959 ||
                 nxx == 976);
        gen_digits(r, sub, 4, NULL);
        char *q = stpcpy(nsn, npa);
        *q++ = (char)('0' + nxx / 100);
        *q++ = (char)('0' + nxx / 10 % 10);
        *q++ = (char)('0' + nxx % 10);
        stpcpy(q, sub);
        return;
    }
    case PLAN_ES:
        if (mobile) {
            bool six = rng_pm(r, 900);
            gen_digits(r, sub, 8, six ? NULL : "1234");
            nsn[0] = six ? '6' : '7';
            stpcpy(nsn + 1, sub);
        } else {
            const char *a = rg->area[rng_below(r, rg->narea)];
            gen_digits(r, sub, (unsigned)(9 - strlen(a)), "2345678");
            stpcpy(stpcpy(nsn, a), sub);
        }
        return;
    case PLAN_GB:
        if (mobile) {
            /* 07[1-5]xx / 077[1-7]x / 078[014-9]x / 079[024-9]x + 6 digits */
            static const char *const pre[] = { "71", "72", "73", "74", "75",
                                               "771", "772", "773", "774", "775",
                                               "780", "781", "784", "785", "786",
                                               "790", "792", "794", "795", "796", "798" };
            const char *p = PICK(r, pre);
            gen_digits(r, sub, (unsigned)(10 - strlen(p)), NULL);
            stpcpy(stpcpy(nsn, p), sub);
        } else {
            const char *a = rg->area[rng_below(r, rg->narea)];
            unsigned n = (unsigned)(10 - strlen(a));
            gen_digits(r, sub, n, "234");
            stpcpy(stpcpy(nsn, a), sub);
        }
        return;
    case PLAN_MX: {
        const char *a = rg->area[rng_below(r, rg->narea)];
        gen_digits(r, sub, 8, "12345678");
        stpcpy(stpcpy(nsn, a), sub);
        return;
    }
    case PLAN_DE:
        if (mobile) {
            static const char *const pre[] = { "151", "152", "160", "170", "171", "172",
                                               "175", "176", "177", "178", "179" };
            const char *p = PICK(r, pre);
            gen_digits(r, sub, p[1] == '5' ? 8 : 7, NULL);
            stpcpy(stpcpy(nsn, p), sub);
        } else {
            const char *a = rg->area[rng_below(r, rg->narea)];
            gen_digits(r, sub, 7, "2345678");
            stpcpy(stpcpy(nsn, a), sub);
        }
        return;
    }
}

static const char *country_cc(enum phone_plan p)
{
    static const char *const cc[] = { "1", "34", "44", "52", "49" };
    return cc[p];
}

/* Write the number in one of the forms people type. */
static void put_phone(struct out *o, struct rng *r, enum phone_plan plan, const char *nsn)
{
    unsigned style = rng_below(r, 100) < 80 ? PH_E164 : rng_below(r, 2) ? PH_SPACED : PH_NATIONAL;
    size_t n = strlen(nsn);

    if (style == PH_NATIONAL && plan == PLAN_MX) /* no trunk prefix any more */
        style = PH_SPACED;
    if (style == PH_E164) {
        putc_(o, '+');
        puts_(o, country_cc(plan));
        put(o, nsn, n);
        return;
    }
    if (style == PH_SPACED) {
        putc_(o, '+');
        puts_(o, country_cc(plan));
        putc_(o, ' ');
        /* Groups of 3, the rest in the last group. */
        for (size_t i = 0; i < n; i++) {
            if (i && i % 3 == 0 && n - i > 1)
                putc_(o, ' ');
            putc_(o, nsn[i]);
        }
        return;
    }
    switch (plan) {
    case PLAN_NANP: /* (212) 736-0192 */
        putc_(o, '(');
        put(o, nsn, 3);
        put(o, ") ", 2);
        put(o, nsn + 3, 3);
        putc_(o, '-');
        put(o, nsn + 6, n - 6);
        return;
    case PLAN_ES: /* 612 34 56 78 */
        put(o, nsn, 3);
        for (size_t i = 3; i < n; i += 2) {
            putc_(o, ' ');
            put(o, nsn + i, n - i < 2 ? n - i : 2);
        }
        return;
    default: /* trunk 0 then the number: 020 7946 0123-ish */
        putc_(o, '0');
        put(o, nsn, 4 < n ? 4 : n);
        if (n > 4) {
            putc_(o, ' ');
            put(o, nsn + 4, n - 4);
        }
        return;
    }
}

/* ---- the row ---- */

static const uint16_t dpd_w[] = { 20, 35, 20, 12, 13 };
static const int16_t dpd_lo[] = { -10, 0, 31, 61, 91 }, dpd_hi[] = { -1, 30, 60, 90, 180 };
static const uint16_t band_w[] = { 150, 250, 300, 200, 100 };

int sample_header(struct sbuf *b)
{
    int r;
    for (size_t i = 0; i < _DCOL_MAX; i++) {
        r = sbuf_adds(b, debtor_col_names[i]);
        if (r >= 0)
            r = sbuf_addc(b, i + 1 < _DCOL_MAX ? ',' : '\n');
        if (r < 0)
            return r;
    }
    return 0;
}

static void put_consent(struct out *o, struct rng *r, bool have, uint32_t yes_pm, uint32_t no_pm)
{
    uint32_t x = rng_below(r, 1000);
    if (!have)
        return;
    if (x < yes_pm)
        put(o, "yes", 3);
    else if (x < yes_pm + no_pm)
        put(o, "no", 2);
}

static void put_invalid_value(struct out *o, struct rng *r, enum sample_invalid kind)
{
    static const char *const phones[] = { "+1 212 123 4567", "+3461234", "+44 7123", "12",
                                          "+34 612 345 678 999", "phone?", "+999 123456789" };
    static const char *const emails[] = { "ana.garcia@@gmail.example", "john smith@mail.example",
                                          "no-at-sign.example", "@outlook.example",
                                          "jane.doe@", "x@y" };
    static const char *const zones[] = { "America/Nowhere", "Europe/Madird", "EST5EDTX",
                                         "Mars/Olympus_Mons", "../etc/passwd", "GMT+25" };
    static const char *const amounts[] = { "12,34.5", "abc", "1.234,56", "12.3.4", "$100",
                                           "1e5", "NaN", "-" };
    static const char *const dates[] = { "2026-02-30", "31/12/2025", "2026-13-01", "tomorrow",
                                         "2026-1-5", "20260105", "2025-00-10" };
    switch (kind) {
    case SAMPLE_BAD_PHONE: puts_(o, PICK(r, phones)); break;
    case SAMPLE_BAD_EMAIL: puts_(o, PICK(r, emails)); break;
    case SAMPLE_BAD_TIME_ZONE: puts_(o, PICK(r, zones)); break;
    case SAMPLE_BAD_BALANCE: {
        const char *a = PICK(r, amounts);
        put_field(o, a, strlen(a));
        break;
    }
    case SAMPLE_BAD_DUE_DATE: puts_(o, PICK(r, dates)); break;
    default: break;
    }
}

/* Keeps invariants 1, 3, 4 and 5. */
int sample_row(const struct sample_opts *opts, uint64_t i, struct sbuf *b)
{
    struct rng rr = { mix64(opts->seed * UINT64_C(0x2545f4914f6cdd1d) + i) ^ i }, *r = &rr;
    const struct country *c;
    const struct region *rg;
    enum sample_invalid bad = SAMPLE_VALID;
    char nsn[16], idbuf[16], name[256];
    const char *first, *last, *last2 = NULL;
    struct out o;
    bool has_phone, has_email, mobile;
    int k;

    uint16_t rw[16];
    for (unsigned j = 0; j < ELEMENTSOF(countries); j++)
        rw[j] = countries[j].weight;
    c = &countries[rng_weighted(r, rw, ELEMENTSOF(countries))];
    for (unsigned j = 0; j < c->nregions; j++)
        rw[j] = c->regions[j].weight;
    rg = &c->regions[rng_weighted(r, rw, c->nregions)];

    if (opts->invalid_rate > 0 && rng_unit(r) < opts->invalid_rate)
        bad = (enum sample_invalid)(1 + rng_below(r, _SAMPLE_INVALID_MAX - 1));

    k = sbuf_reserve(b, SAMPLE_ROW_MAX);
    if (k < 0)
        return k;
    o.p = b->buf + b->len;

    /* id */
    if (bad != SAMPLE_MISSING_ID) {
        sample_id(opts, i, idbuf);
        put(&o, idbuf, 14);
    }
    putc_(&o, ',');

    /* name: "First Last", Spanish two surnames, sometimes "Last, First" */
    first = c->first[rng_below(r, c->nfirst)];
    last = c->last[rng_below(r, c->nlast)];
    if (c->plan == PLAN_ES || (c->plan == PLAN_MX && rng_pm(r, 700)))
        last2 = c->last[rng_below(r, c->nlast)];
    {
        uint32_t form = rng_below(r, 1000);
        char *q = name;
        if (form < 120) { /* "Last Last2, First" */
            q = stpcpy(q, last);
            if (last2)
                q = stpcpy(stpcpy(q, " "), last2);
            q = stpcpy(stpcpy(q, ", "), first);
        } else if (form < 125 && c->plan != PLAN_ES) { /* a nickname in quotes */
            q = stpcpy(stpcpy(q, first), " \"");
            q = stpcpy(stpcpy(q, PICK(r, nicknames)), "\" ");
            q = stpcpy(q, last);
        } else {
            q = stpcpy(stpcpy(stpcpy(q, first), " "), last);
            if (last2)
                q = stpcpy(stpcpy(q, " "), last2);
        }
        put_field(&o, name, (size_t)(q - name));
    }
    putc_(&o, ',');

    /* locale, time_zone, country, region */
    {
        const char *loc = c->locales[0];
        if (rng_pm(r, c->locale2_pm) || (c->plan == PLAN_ES && streq(rg->code, "ES-CT") &&
                                          rng_pm(r, 300)))
            loc = c->locales[1];
        puts_(&o, loc);
        putc_(&o, ',');
    }
    if (bad == SAMPLE_BAD_TIME_ZONE)
        put_invalid_value(&o, r, bad);
    else
        puts_(&o, rg->zone);
    putc_(&o, ',');
    puts_(&o, c->code);
    putc_(&o, ',');
    puts_(&o, rg->code);
    putc_(&o, ',');

    /* email: most debtors; a few have neither email nor phone */
    has_email = rng_pm(r, 850);
    has_phone = rng_pm(r, 920);
    if (!has_email && !has_phone) /* the importer needs one way to reach them */
        has_email = true;
    if (bad == SAMPLE_BAD_EMAIL)
        has_email = true;
    if (bad == SAMPLE_BAD_PHONE)
        has_phone = true;
    if (bad == SAMPLE_BAD_EMAIL) {
        put_invalid_value(&o, r, bad);
    } else if (has_email) {
        uint32_t form = rng_below(r, 4);
        if (form == 0) {
            put_ascii_lower(&o, first);
            putc_(&o, '.');
            put_ascii_lower(&o, last);
        } else if (form == 1) {
            put_ascii_lower(&o, first);
            put_ascii_lower(&o, last);
            put_uint(&o, rng_below(r, 100), 2);
        } else if (form == 2) {
            char ini[2] = { 0, 0 };
            ini[0] = first[0];
            put_ascii_lower(&o, ini);
            putc_(&o, '.');
            put_ascii_lower(&o, last);
            put_uint(&o, 1950 + rng_below(r, 56), 4);
        } else {
            put_ascii_lower(&o, last);
            putc_(&o, '_');
            put_ascii_lower(&o, first);
            put_uint(&o, rng_below(r, 1000), 1);
        }
        putc_(&o, '@');
        puts_(&o, c->mail[rng_below(r, c->nmail)]);
    }
    putc_(&o, ',');

    /* phone: landline or mobile; some US debtors kept an out-of-state number */
    mobile = rng_pm(r, c->mobile_pm);
    if (bad == SAMPLE_BAD_PHONE) {
        put_invalid_value(&o, r, bad);
    } else if (has_phone) {
        const struct region *prg = rg;
        if (c->plan == PLAN_NANP && rng_pm(r, 100))
            prg = &c->regions[rng_below(r, c->nregions)];
        gen_nsn(r, c, prg, mobile, nsn);
        put_phone(&o, r, c->plan, nsn);
    }
    putc_(&o, ',');

    /* chat handle for a third of those with a phone */
    if (has_phone && bad != SAMPLE_BAD_PHONE && rng_pm(r, 330)) {
        putc_(&o, '@');
        put_ascii_lower(&o, first);
        putc_(&o, '_');
        put_ascii_lower(&o, last);
        put_uint(&o, rng_below(r, 100), 1);
    }
    putc_(&o, ',');

    /* balance: log-normal around the segment's median, in the currency */
    const struct segment *seg;
    {
        uint16_t sw[ELEMENTSOF(segments)];
        for (unsigned j = 0; j < ELEMENTSOF(segments); j++)
            sw[j] = segments[j].weight;
        seg = &segments[rng_weighted(r, sw, ELEMENTSOF(segments))];
    }
    if (bad == SAMPLE_BAD_BALANCE) {
        put_invalid_value(&o, r, bad);
    } else {
        double u1 = rng_unit(r), u2 = rng_unit(r);
        double z = sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
        double v = seg->median * c->money_scale * exp(0.9 * z);
        int64_t cents;
        if (v < 5)
            v = 5 + rng_unit(r) * 20;
        if (v > 250000 * c->money_scale)
            v = 250000 * c->money_scale;
        cents = (int64_t)(v * 100.0);
        put_uint(&o, (uint64_t)(cents / 100), 1);
        putc_(&o, '.');
        put_uint(&o, (uint64_t)(cents % 100), 2);
    }
    putc_(&o, ',');
    puts_(&o, c->currency);
    putc_(&o, ',');

    /* due date: DPD -10..180, skewed to early delinquency */
    if (bad == SAMPLE_BAD_DUE_DATE) {
        put_invalid_value(&o, r, bad);
    } else {
        unsigned bucket = rng_weighted(r, dpd_w, ELEMENTSOF(dpd_w));
        uint32_t span = (uint32_t)(dpd_hi[bucket] - dpd_lo[bucket] + 1);
        int dpd = dpd_lo[bucket] + (int)rng_below(r, span);
        put_date(&o, opts->as_of - dpd);
    }
    putc_(&o, ',');

    /* payday for ~60% */
    if (rng_pm(r, 600))
        puts_(&o, c->paydays[rng_weighted(r, (const uint16_t[]){ 40, 30, 20, 10 }, 4)]);
    putc_(&o, ',');

    /* risk band */
    if (!rng_pm(r, 30))
        putc_(&o, (char)('A' + rng_weighted(r, band_w, ELEMENTSOF(band_w))));
    putc_(&o, ',');

    puts_(&o, seg->name);
    putc_(&o, ',');

    /* tags: half have none, some have two */
    {
        uint32_t nt = rng_pm(r, 500) ? 0 : rng_pm(r, 700) ? 1 : 2;
        uint32_t t0 = rng_below(r, ELEMENTSOF(tags_pool));
        for (uint32_t t = 0; t < nt; t++) {
            if (t)
                putc_(&o, ';');
            puts_(&o, tags_pool[(t0 + t * 3) % ELEMENTSOF(tags_pool)]);
        }
    }
    putc_(&o, ',');

    /* flags (a few per cent) */
    {
        static const struct { const char *name; uint16_t pm; } fl[] = {
            { "hardship", 30 }, { "dispute", 20 }, { "cease", 5 }, { "deceased", 1 },
            { "bankrupt", 3 }, { "vulnerable", 20 },
        };
        bool any = false;
        for (unsigned j = 0; j < ELEMENTSOF(fl); j++)
            if (rng_pm(r, fl[j].pm)) {
                if (any)
                    putc_(&o, ';');
                puts_(&o, fl[j].name);
                any = true;
            }
    }
    putc_(&o, ',');

    /* consents: only for channels the debtor has an address for */
    bool ok_phone = has_phone && bad != SAMPLE_BAD_PHONE;
    put_consent(&o, r, has_email, 700, 50);
    putc_(&o, ',');
    put_consent(&o, r, ok_phone, 550, 100);
    putc_(&o, ',');
    put_consent(&o, r, ok_phone, 300, 50);
    putc_(&o, ',');
    put_consent(&o, r, ok_phone, 500, 80);
    putc_(&o, ',');

    /* do-not-contact times for ~6% */
    if (rng_pm(r, 60)) {
        const char *d = PICK(r, dnc_pool);
        put_field(&o, d, strlen(d));
    }
    putc_(&o, ',');

    /* preferred channel for ~60%, among those the debtor can be reached on */
    if (rng_pm(r, 600)) {
        uint32_t x = rng_below(r, 100);
        if (x < 45 && has_email)
            puts_(&o, "email");
        else if (x < 75 && ok_phone)
            puts_(&o, "sms");
        else if (x < 85 && ok_phone)
            puts_(&o, "chat");
        else if (ok_phone)
            puts_(&o, "call");
    }
    putc_(&o, ',');

    /* prefers a human */
    {
        uint32_t x = rng_below(r, 1000);
        if (x < 100)
            puts_(&o, "yes");
        else if (x < 250)
            puts_(&o, "no");
    }
    putc_(&o, ',');

    /*
     * age band and employment type for ~80%, from a stream of their own
     * (the columns came later: every earlier column keeps its values)
     */
    {
        struct rng ar = { mix64((opts->seed ^ UINT64_C(0x61676562616e6431)) * 31 + i) };
        static const char *const ages[] = { "18-24", "25-34", "35-44", "45-54", "55-64", "65+" };
        static const uint16_t age_w[] = { 120, 260, 230, 180, 130, 80 };
        static const char *const jobs[] = { "employed", "self-employed", "unemployed", "retired",
                                            "student" };
        static const uint16_t job_w[] = { 560, 150, 110, 130, 50 };
        if (rng_pm(&ar, 800))
            puts_(&o, ages[rng_weighted(&ar, age_w, ELEMENTSOF(age_w))]);
        putc_(&o, ',');
        if (rng_pm(&ar, 800))
            puts_(&o, jobs[rng_weighted(&ar, job_w, ELEMENTSOF(job_w))]);
    }
    putc_(&o, '\n');

    b->len = (size_t)(o.p - b->buf);
    b->buf[b->len] = 0;
    return bad;
}
