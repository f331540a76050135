/*
 * testlib.h - the unit-test harness: a table of { "name", fn } cases,
 * CHECK macros that report file:line and keep going, and a main() that
 * runs every case (or the ones named on the command line).
 *
 * Usage in tests/unit/test-foo.c:
 *     static void test_bar(void) { CHECK(1 + 1 == 2); }
 *     TEST_MAIN({ "bar", test_bar })
 */
#ifndef CADENZA_TESTLIB_H
#define CADENZA_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
    const char *name;
    void (*fn)(void);
};

extern int test_failures;
int test_failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            test_failures++;                                                         \
        }                                                                            \
    } while (0)

#define CHECK_INT(a, b)                                                                   \
    do {                                                                                  \
        long long _a = (long long)(a), _b = (long long)(b);                               \
        if (_a != _b) {                                                                   \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, \
                    _a, _b);                                                              \
            test_failures++;                                                              \
        }                                                                                 \
    } while (0)

#define CHECK_STR(a, b)                                                                  \
    do {                                                                                 \
        const char *_a = (a), *_b = (b);                                                 \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                                         \
            fprintf(stderr, "%s:%d: %s == \"%s\",\n    expected \"%s\"\n", __FILE__,     \
                    __LINE__, #a, _a ? _a : "(null)", _b ? _b : "(null)");               \
            test_failures++;                                                             \
        }                                                                                \
    } while (0)

#define TEST_MAIN(...)                                                          \
    static const struct test_case test_cases[] = { __VA_ARGS__ };              \
    int main(int argc, char **argv)                                             \
    {                                                                           \
        int ran = 0;                                                            \
        for (size_t i = 0; i < sizeof(test_cases) / sizeof(test_cases[0]); i++) { \
            int want = argc < 2;                                                \
            for (int a = 1; a < argc; a++)                                      \
                if (strcmp(argv[a], test_cases[i].name) == 0)                   \
                    want = 1;                                                   \
            if (!want)                                                          \
                continue;                                                       \
            int before = test_failures;                                         \
            test_cases[i].fn();                                                 \
            printf("%s %s\n", test_failures == before ? "ok" : "FAIL",          \
                   test_cases[i].name);                                         \
            ran++;                                                              \
        }                                                                       \
        if (!ran) {                                                             \
            fprintf(stderr, "no test case matched\n");                          \
            return 2;                                                           \
        }                                                                       \
        return test_failures ? 1 : 0;                                           \
    }

#endif
