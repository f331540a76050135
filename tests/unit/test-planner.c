/* test-planner.c - being written */
#include "planner.h"
#include "testlib.h"
static void test_reasons(void) { CHECK_STR(planner_reason_to_string(PLAN_HOLIDAY), "holiday"); }
TEST_MAIN({ "reasons", test_reasons })
