/* Unit tests for util.c and diag.c. */
#include <errno.h>

#include "diag.h"
#include "testlib.h"
#include "util.h"

static void test_dates(void)
{
    int32_t d;
    CHECK_INT(days_from_civil(1970, 1, 1), 0);
    CHECK_INT(days_from_civil(2026, 11, 28), 20785);
    CHECK_INT(weekday_from_days(days_from_civil(2026, 11, 28)), 5); /* Saturday */
    CHECK_INT(weekday_from_days(days_from_civil(1969, 12, 29)), 0); /* Monday */
    CHECK_INT(parse_date("2024-02-29", 10, &d), 0);
    CHECK_INT(d, days_from_civil(2024, 2, 29));
    CHECK_INT(parse_date("2026-02-29", 10, &d), -EINVAL);
    CHECK_INT(parse_date("2026-13-01", 10, &d), -EINVAL);
    CHECK_INT(parse_date("2026-1-01", 9, &d), -EINVAL);
    CHECK_INT(parse_date("2026/01/01", 10, &d), -EINVAL);
    char buf[11];
    for (int32_t z = -800000; z < 800000; z += 997) {
        int y;
        unsigned m, dd;
        civil_from_days(z, &y, &m, &dd);
        CHECK_INT(days_from_civil(y, m, dd), z);
    }
    format_date(days_from_civil(2027, 3, 28), buf);
    CHECK_STR(buf, "2027-03-28");
}

static void test_int(void)
{
    int64_t v;
    CHECK_INT(parse_int64("-42", 3, &v), 0);
    CHECK_INT(v, -42);
    CHECK_INT(parse_int64("9223372036854775807", 19, &v), 0);
    CHECK_INT(parse_int64("9223372036854775808", 19, &v), -ERANGE);
    CHECK_INT(parse_int64("-9223372036854775808", 20, &v), 0);
    CHECK(v == INT64_MIN);
    CHECK_INT(parse_int64("", 0, &v), -EINVAL);
    CHECK_INT(parse_int64("-", 1, &v), -EINVAL);
    CHECK_INT(parse_int64("1x", 2, &v), -EINVAL);
}

static void test_sbuf(void)
{
    struct sbuf b = SBUF_INIT;
    CHECK_INT(sbuf_addf(&b, "%d-%s", 7, "x"), 0);
    CHECK_STR(sbuf_cstr(&b), "7-x");
    sbuf_reset(&b);
    CHECK_INT(sbuf_add_json_str(&b, "a\"b\\\n\x01", 6), 0);
    CHECK_STR(sbuf_cstr(&b), "\"a\\\"b\\\\\\n\\u0001\"");
    sbuf_release(&b);
    struct sbuf m = SBUF_INIT;
    m.max = 4;
    CHECK_INT(sbuf_adds(&m, "abcd"), 0);
    CHECK_INT(sbuf_adds(&m, "e"), -E2BIG);
    CHECK_STR(sbuf_cstr(&m), "abcd");
    sbuf_release(&m);
}

static void test_words(void)
{
    const char *const cands[] = { "priority", "channels", "windows", "tiers" };
    CHECK_STR(closest_word("priorty", cands, 4), "priority");
    CHECK_STR(closest_word("tier", cands, 4), "tiers");
    CHECK(closest_word("zzzzzz", cands, 4) == NULL);
    CHECK_INT(edit_distance("kitten", "sitting", 5), 3);
}

static void test_utf8(void)
{
    CHECK(utf8_valid("Garc\xc3\xad" "a", 6));
    CHECK(!utf8_valid("\xc3", 1));
    CHECK(!utf8_valid("\xc0\xaf", 2));         /* overlong */
    CHECK(!utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(utf8_valid("\xf0\x9f\x98\x80", 4));
}

static void test_hash(void)
{
    CHECK(hash64("abc", 3, 0) == hash64("abc", 3, 0));
    CHECK(hash64("abc", 3, 0) != hash64("abd", 3, 0));
    CHECK(hash64("abc", 3, 0) != hash64("abc", 3, 1));
    CHECK(hash64("", 0, 0) != hash64("\0", 1, 0));
}

static void test_diags(void)
{
    struct diags d = DIAGS_INIT;
    diag_error(&d, "b.yaml", 3, 1, "second file");
    diag_error(&d, "a.yaml", 9, 2, "late");
    diag_warning(&d, "a.yaml", 2, 5, "early");
    diags_sort(&d);
    CHECK_INT(d.nerrors, 2);
    CHECK_INT(d.nwarnings, 1);
    CHECK_STR(d.v[0].msg, "early");
    CHECK_STR(d.v[1].msg, "late");
    CHECK_STR(d.v[2].file, "b.yaml");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    diags_print(&d, f);
    fclose(f);
    CHECK_STR(out, "a.yaml:2:5: warning: early\na.yaml:9:2: error: late\n"
                   "b.yaml:3:1: error: second file\n");
    free(out);
    diags_release(&d);
}

TEST_MAIN({ "dates", test_dates }, { "int", test_int }, { "sbuf", test_sbuf },
          { "words", test_words }, { "utf8", test_utf8 }, { "hash", test_hash },
          { "diags", test_diags })
