/*
 * test-phone.c - phone_check: named cases, and the metadata fast path
 * against libphonenumber's own parser on 200k generated numbers.
 *
 * PHONE_TEST_COUNT overrides the number of generated numbers; under
 * valgrind (CADENZA_WRAP set, the vg setup) the default is 4000.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "debtor.h"
#include "phone.h"
#include "testlib.h"

#define ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* phone_check on a literal; returns its result, fills e164 and type. */
static int check(const char *s, const char *region, char e164[20], int *type)
{
    memset(e164, 0, 20);
    *type = -1;
    return phone_check(s, strlen(s), region, e164, type);
}

#define VALID(s, region, want_e164, want_type)                                           \
    do {                                                                                 \
        char _e[20];                                                                     \
        int _t;                                                                          \
        int _r = check(s, region, _e, &_t);                                              \
        if (_r != 0)                                                                     \
            fprintf(stderr, "%s:%d: '%s' rejected\n", __FILE__, __LINE__, s);            \
        CHECK_INT(_r, 0);                                                                \
        CHECK_STR(_e, want_e164);                                                        \
        CHECK_INT(_t, want_type);                                                        \
        /* and libphonenumber's parser says the same */                                  \
        CHECK_INT(phone_check_reference(s, strlen(s), region, _e, &_t), 0);              \
        CHECK_STR(_e, want_e164);                                                        \
        CHECK_INT(_t, want_type);                                                        \
    } while (0)

#define INVALID(s, region)                                                               \
    do {                                                                                 \
        char _e[20];                                                                     \
        int _t;                                                                          \
        int _r = check(s, region, _e, &_t);                                              \
        if (_r != -EINVAL)                                                               \
            fprintf(stderr, "%s:%d: '%s' accepted as %s\n", __FILE__, __LINE__, s, _e);  \
        CHECK_INT(_r, -EINVAL);                                                          \
        CHECK_INT(_t, -1); /* untouched on failure */                                    \
        CHECK_STR(_e, "");                                                               \
        CHECK_INT(phone_check_reference(s, strlen(s), region, _e, &_t), -EINVAL);        \
    } while (0)

/* Does the fast path answer s itself (rather than leave it to the parser)? */
static int fast_answers(const char *s)
{
    char e[20];
    int t;
    return phone_check_fast(s, strlen(s), e, &t) != -EAGAIN;
}

static void test_named(void)
{
    CHECK_INT(phone_init(), 0);
    CHECK_INT(phone_init(), 0);
    /* US, as `cadenza sample` writes it */
    VALID("+1 407 420 6068", "US", "+14074206068", PHONE_FIXED_OR_MOBILE);
    VALID("+1 (407) 420-6068", NULL, "+14074206068", PHONE_FIXED_OR_MOBILE);
    VALID("+1.407.420.6068", "ES", "+14074206068", PHONE_FIXED_OR_MOBILE);
    VALID("+18005550199", "US", "+18005550199", PHONE_OTHER); /* toll free */
    INVALID("+1 407 420 606", "US");
    INVALID("+1 407 420 60688", "US");
    INVALID("+1 123 420 6068", "US"); /* no area code starts with 1 */
    /* ES: mobile and fixed line */
    VALID("+34612345678", "ES", "+34612345678", PHONE_MOBILE);
    VALID("+34 912 345 678", "ES", "+34912345678", PHONE_FIXED_LINE);
    INVALID("+3461234567", "ES");
    INVALID("+346123456789", "ES");
    /* GB, and a national prefix written after the calling code */
    VALID("+447911123456", "GB", "+447911123456", PHONE_MOBILE);
    VALID("+44 20 7946 0123", "GB", "+442079460123", PHONE_FIXED_LINE);
    VALID("+44 (0)20 7946 0123", "GB", "+442079460123", PHONE_FIXED_LINE);
    CHECK(!fast_answers("+44 (0)20 7946 0123"));
    CHECK(fast_answers("+44 20 7946 0123"));
    /* GB crown dependencies share +44 */
    VALID("+44 1534 456789", "JE", "+441534456789", PHONE_FIXED_LINE);
    VALID("+44 7797 712345", "JE", "+447797712345", PHONE_MOBILE);
    VALID("+44 1481 256789", "GG", "+441481256789", PHONE_FIXED_LINE);
    VALID("+44 1624 756789", "IM", "+441624756789", PHONE_FIXED_LINE);
    /* Caribbean regions share +1 with the US and Canada */
    VALID("+1 242 345 6789", "BS", "+12423456789", PHONE_FIXED_LINE);
    VALID("+1 242 357 1234", "BS", "+12423571234", PHONE_MOBILE);
    VALID("+1 876 523 0123", "JM", "+18765230123", PHONE_FIXED_OR_MOBILE);
    VALID("+1 514 555 0123", "CA", "+15145550123", PHONE_FIXED_OR_MOBILE);
    /* Russia and Kazakhstan share +7 */
    VALID("+7 912 345 6789", "RU", "+79123456789", PHONE_MOBILE);
    VALID("+7 7172 123456", "KZ", "+77172123456", PHONE_FIXED_LINE);
    /* DE: variable lengths */
    VALID("+49 30 123456", "DE", "+4930123456", PHONE_FIXED_LINE);
    VALID("+49 1512 3456789", "DE", "+4915123456789", PHONE_MOBILE);
    /* MX, and its old mobile form "+52 1 ..." that the parser rewrites */
    VALID("+52 55 1234 5678", "MX", "+525512345678", PHONE_FIXED_OR_MOBILE);
    VALID("+52 1 55 1234 5678", "MX", "+525512345678", PHONE_FIXED_OR_MOBILE);
    CHECK(!fast_answers("+52 1 55 1234 5678"));
    /* IT: the leading zero is part of the number */
    VALID("+39 06 1234 5678", "IT", "+390612345678", PHONE_FIXED_LINE);
    VALID("+39 312 345 6789", "IT", "+393123456789", PHONE_MOBILE);
    /* a non-geographic code */
    VALID("+800 1234 5678", NULL, "+80012345678", PHONE_OTHER);
    /* the region does not matter for international input */
    VALID("+442079460123", "ES", "+442079460123", PHONE_FIXED_LINE);
    VALID("+442079460123", "", "+442079460123", PHONE_FIXED_LINE);
    /* national input goes through the parser */
    VALID("612 345 678", "ES", "+34612345678", PHONE_MOBILE);
    VALID("(201) 555-0123", "US", "+12015550123", PHONE_FIXED_OR_MOBILE);
    INVALID("612345678", NULL);
    /* garbage */
    INVALID("", "ES");
    INVALID("+", "ES");
    INVALID("+3", "ES");
    INVALID("+34", "ES");
    INVALID("+346", "ES");
    INVALID("+34 6l2 345 678", "ES");
    INVALID("call me", "GB");
    INVALID("+999123456789", NULL);
    INVALID("+34612345678999999999", "ES");
    INVALID("+3461234567899999999999999", "ES");
    /* the fast path takes the sample's forms */
    CHECK(fast_answers("+34612345678"));
    CHECK(fast_answers("+1 407 420 6068"));
    CHECK(fast_answers("+44 (20) 7946-0123"));
    CHECK(fast_answers("+3461234567"));
}

/* ---- differential test ---------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return (uint32_t)((x >> 11) % n);
}

/* Generated input number i: "+<cc><nsn>" with optional separators. */
static void gen(char (*ex)[PHONE_E164_MAX + 4], size_t nex, char *out, size_t outsz)
{
    const char *e = ex[rnd((uint32_t)nex)];
    const char *sp = strchr(e, ' ');
    char cc[8], nsn[40];
    size_t cclen = (size_t)(sp - (e + 1));
    memcpy(cc, e + 1, cclen);
    cc[cclen] = 0;
    snprintf(nsn, sizeof(nsn), "%s", sp + 1);
    size_t n = strlen(nsn);

    switch (rnd(6)) {
    case 0: /* random digits, 4..15 of them */
    case 1:
        n = 4 + rnd(12);
        for (size_t i = 0; i < n; i++)
            nsn[i] = (char)('0' + rnd(10));
        nsn[n] = 0;
        break;
    case 2: /* the example, 1..3 digits changed */
        for (int k = 1 + (int)rnd(3); k > 0 && n > 0; k--)
            nsn[rnd((uint32_t)n)] = (char)('0' + rnd(10));
        break;
    case 3: /* the example, its tail changed */
        for (size_t i = n / 2 + rnd((uint32_t)(n / 2 + 1)); i < n; i++)
            nsn[i] = (char)('0' + rnd(10));
        break;
    case 4: /* the example, a digit added or dropped */
        if (rnd(2) && n > 0) {
            size_t at = rnd((uint32_t)n);
            memmove(nsn + at, nsn + at + 1, n - at);
            n--;
        } else if (n + 1 < sizeof(nsn)) {
            size_t at = rnd((uint32_t)n + 1);
            memmove(nsn + at + 1, nsn + at, n - at + 1);
            nsn[at] = (char)('0' + rnd(10));
            n++;
        }
        break;
    default: /* the example itself, sometimes after a national prefix */
        if (rnd(4) == 0 && n + 1 < sizeof(nsn)) {
            memmove(nsn + 1, nsn, n + 1);
            nsn[0] = rnd(2) ? '0' : (char)('0' + rnd(10));
            n++;
        }
        break;
    }

    char plain[64];
    snprintf(plain, sizeof(plain), "+%s%s", cc, nsn);
    if (rnd(4) != 0) {
        snprintf(out, outsz, "%s", plain);
        return;
    }
    /* separators between digits, as people write them */
    static const char seps[] = " -.()";
    size_t o = 0;
    for (size_t i = 0; plain[i] && o + 3 < outsz; i++) {
        out[o++] = plain[i];
        if (rnd(4) == 0)
            out[o++] = seps[rnd(sizeof(seps) - 1)];
    }
    out[o] = 0;
}

static long test_count(void)
{
    const char *s = getenv("PHONE_TEST_COUNT");
    if (s && *s)
        return atol(s);
    const char *w = getenv("CADENZA_WRAP");
    return w && *w ? 4000 : 200000;
}

static void test_differential(void)
{
    static char ex[4000][PHONE_E164_MAX + 4];
    size_t nex = phone_examples(ex, ELEMS(ex));
    CHECK(nex > 1000 && nex <= ELEMS(ex)); /* ~250 regions, several types each */
    if (nex == 0 || nex > ELEMS(ex))
        return;

    long count = test_count(), declined = 0, valid = 0, mismatches = 0;
    long types[PHONE_OTHER + 1] = { 0 };
    static const char *const regions[] = { "ES", "US", "GB", NULL, "MX", "FR" };
    for (long i = 0; i < count; i++) {
        char in[80], fe[20] = "", re[20] = "", pe[20] = "";
        int ft = -1, rt = -1, pt = -1;
        if (i < (long)nex)
            snprintf(in, sizeof(in), "%.*s", (int)sizeof(in) - 1, ex[i]); /* each once */
        else
            gen(ex, nex, in, sizeof(in));
        size_t len = strlen(in);
        const char *region = regions[i % ELEMS(regions)];
        int fr = phone_check_fast(in, len, fe, &ft);
        int rr = phone_check_reference(in, len, region, re, &rt);
        int pr = phone_check(in, len, region, pe, &pt);
        bool same = pr == rr && (rr != 0 || (strcmp(pe, re) == 0 && pt == rt));
        if (fr == -EAGAIN)
            declined++;
        else
            same = same && fr == rr && (rr != 0 || (strcmp(fe, re) == 0 && ft == rt));
        if (rr == 0) {
            valid++;
            if (rt >= 0 && rt <= PHONE_OTHER)
                types[rt]++;
        }
        if (!same && mismatches++ < 20)
            fprintf(stderr, "'%s' (%s): fast %d %s %d, check %d %s %d, reference %d %s %d\n",
                    in, region ? region : "-", fr, fe, ft, pr, pe, pt, rr, re, rt);
    }
    printf("# %ld numbers, %ld valid, %ld left to the parser, %ld mismatches\n", count, valid,
           declined, mismatches);
    CHECK_INT(mismatches, 0);
    /* the generator is useful: many valid numbers, of every type */
    CHECK(valid * 5 > count);
    CHECK(declined * 10 < count);
    for (int t = PHONE_MOBILE; t <= PHONE_OTHER; t++)
        CHECK(types[t] > 0);
}

TEST_MAIN({ "named", test_named }, { "differential", test_differential })
