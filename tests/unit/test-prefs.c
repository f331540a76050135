/*
 * test-prefs.c - stated preferences (prefs.c): the stored text form read
 * and written back (invariant 2), what it refuses, the lookups the
 * planner makes, and payment plan schedules (amounts add up, month ends).
 */
#include <errno.h>
#include <string.h>

#include "prefs.h"
#include "testlib.h"
#include "util.h"

static void test_ranges(void)
{
    struct prefs_range v[PREFS_RANGES_MAX];
    uint8_t n = 0;
    CHECK_INT(prefs_ranges_parse("call Mon-Fri 00:00-18:00; all Sat,Sun 00:00-24:00;"
                                 " sms,email daily 21:00-24:00; chat Fri-Mon 09:30-10:00",
                                 true, v, &n),
              0);
    CHECK_INT(n, 4);
    CHECK(v[0].kinds == 1u << 3 && v[0].days == 0x1f && v[0].start == 0 && v[0].end == 1080);
    CHECK(v[1].kinds == PREFS_PERSON_KINDS && v[1].days == 0x60 && v[1].end == 1440);
    CHECK(v[2].kinds == 0x03 && v[2].days == 0x7f && v[2].start == 1260);
    CHECK(v[3].kinds == 1u << 2 && v[3].days == (0x10 | 0x20 | 0x40 | 0x01));
    struct sbuf b = SBUF_INIT;
    CHECK_INT(prefs_ranges_format(v, n, true, &b), 0);
    CHECK_STR(sbuf_cstr(&b), "call Mon-Fri 00:00-18:00; all Sat,Sun 00:00-24:00; "
                             "email,sms daily 21:00-24:00; chat Mon,Fri-Sun 09:30-10:00");
    /* invariant 2: the text reads back to the same ranges */
    struct prefs_range w[PREFS_RANGES_MAX];
    uint8_t m = 0;
    CHECK_INT(prefs_ranges_parse(sbuf_cstr(&b), true, w, &m), 0);
    CHECK(m == n && memcmp(v, w, n * sizeof(v[0])) == 0);
    sbuf_reset(&b);
    CHECK_INT(prefs_ranges_parse("daily 18:00-21:00", false, v, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(prefs_ranges_format(v, n, false, &b), 0);
    CHECK_STR(sbuf_cstr(&b), "daily 18:00-21:00");
    sbuf_release(&b);
    CHECK_INT(prefs_ranges_parse("", true, v, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(prefs_ranges_parse(NULL, true, v, &n), 0);
    /* refused whole: nothing written (n unchanged) */
    static const char *const bad[] = {
        "call Mon-Fri 18:00-09:00",  /* inverted */
        "call Mon-Fri 09:00-09:00",  /* empty */
        "phone Mon-Fri 09:00-10:00", /* unknown kind */
        "call Mun 09:00-10:00",      /* unknown day */
        "call Mon-Fri 9:00-10:00",   /* HH:MM */
        "call Mon-Fri 09:00-24:30",
        "Mon-Fri 09:00-10:00",       /* kinds missing */
        "call Mon-Fri 09:00-10:00 extra",
        "call Mon- 09:00-10:00",
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        n = 99;
        if (prefs_ranges_parse(bad[i], true, v, &n) != -EINVAL || n != 99) {
            fprintf(stderr, "accepted '%s'\n", bad[i]);
            test_failures++;
        }
    }
    CHECK_INT(prefs_ranges_parse("call Mon 09:00-10:00", false, v, &n), -EINVAL);
    char many[1024] = "";
    for (int i = 0; i < 9; i++)
        strcat(many, "all Mon 09:00-10:00;");
    CHECK_INT(prefs_ranges_parse(many, true, v, &n), -E2BIG);
    char days[32];
    prefs_days_format(0x7f, days, sizeof(days));
    CHECK_STR(days, "daily");
    prefs_days_format(0x15, days, sizeof(days));
    CHECK_STR(days, "Mon,Wed,Fri");
    prefs_days_format(0x03, days, sizeof(days));
    CHECK_STR(days, "Mon,Tue");
}

static void test_lookups(void)
{
    struct prefs p;
    prefs_init(&p);
    CHECK(prefs_empty(&p));
    CHECK_INT(prefs_ranges_parse("call Mon-Fri 00:00-18:00", true, p.forbid, &p.nforbid), 0);
    CHECK(!prefs_empty(&p));
    CHECK(prefs_forbids(&p, 3, 0, 17 * 60 + 59));
    CHECK(!prefs_forbids(&p, 3, 0, 18 * 60));
    CHECK(!prefs_forbids(&p, 1, 0, 10 * 60)); /* sms */
    CHECK(!prefs_forbids(&p, 3, 5, 10 * 60)); /* Saturday */
    CHECK(!prefs_prefers(&p, 0, 19 * 60));
    CHECK_INT(prefs_range_add(p.prefer, &p.nprefer,
                              (struct prefs_range){ PREFS_PERSON_KINDS, 0x7f, 1080, 1260 }),
              0);
    CHECK(prefs_prefers(&p, 6, 19 * 60) && !prefs_prefers(&p, 6, 21 * 60));
    CHECK_INT(prefs_range_add(p.prefer, &p.nprefer,
                              (struct prefs_range){ PREFS_PERSON_KINDS, 0x7f, 600, 600 }),
              -EINVAL);
    CHECK_INT(prefs_range_add(p.prefer, &p.nprefer,
                              (struct prefs_range){ PREFS_PERSON_KINDS, 0, 600, 660 }),
              -EINVAL);
    CHECK(!prefs_forbids(NULL, 3, 0, 0));
}

static void test_schedule(void)
{
    struct plan_instalment v[PLAN_INSTALMENTS_MAX];
    /* the remainder on the first; amounts add up (invariant 3) */
    CHECK_INT(prefs_plan_schedule(10000, 3, days_from_civil(2026, 12, 20), v), 0);
    CHECK(v[0].amount_minor == 3334 && v[1].amount_minor == 3333 && v[2].amount_minor == 3333);
    CHECK(v[0].day == days_from_civil(2026, 12, 20) && v[1].day == days_from_civil(2027, 1, 20) &&
          v[2].day == days_from_civil(2027, 2, 20));
    /* the 31st: the month's last day when shorter (leap year too) */
    CHECK_INT(prefs_plan_schedule(400, 4, days_from_civil(2027, 12, 31), v), 0);
    CHECK(v[1].day == days_from_civil(2028, 1, 31) && v[2].day == days_from_civil(2028, 2, 29) &&
          v[3].day == days_from_civil(2028, 3, 31));
    for (int n = 2; n <= PLAN_INSTALMENTS_MAX; n++) {
        int64_t total = 123457 + n, sum = 0;
        CHECK_INT(prefs_plan_schedule(total, n, 20000, v), 0);
        for (int i = 0; i < n; i++) {
            sum += v[i].amount_minor;
            CHECK(v[i].amount_minor > 0);
            CHECK(i == 0 || v[i].day > v[i - 1].day);
        }
        CHECK(sum == total);
    }
    CHECK_INT(prefs_plan_schedule(10000, 1, 20000, v), -EINVAL);
    CHECK_INT(prefs_plan_schedule(10000, PLAN_INSTALMENTS_MAX + 1, 20000, v), -EINVAL);
    CHECK_INT(prefs_plan_schedule(2, 3, 20000, v), -EINVAL);
    /* the instalment a plan waits for */
    CHECK_INT(prefs_plan_schedule(10000, 3, 20000, v), 0);
    CHECK_INT(prefs_plan_next(v, 3, 0), 0);
    CHECK_INT(prefs_plan_next(v, 3, 3333), 0);
    CHECK_INT(prefs_plan_next(v, 3, 3334), 1);
    CHECK_INT(prefs_plan_next(v, 3, 6667), 2);
    CHECK_INT(prefs_plan_next(v, 3, 10000), 3);
    CHECK_INT(prefs_plan_next(v, 3, 20000), 3);
}

TEST_MAIN({ "ranges", test_ranges }, { "lookups", test_lookups }, { "schedule", test_schedule })
