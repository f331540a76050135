/*
 * test-dialer.c - the pure parts of the vicidial plugin, compiled into
 * this test from plugins/vicidial/vicidial.c: the vendor_lead_code, the
 * national number, the JSON reader, the agent brief and its cut at a
 * UTF-8 boundary, the names, the URL encoding and every kind of text
 * reply of add_lead and update_lead (the examples of VICIdial's
 * NON-AGENT_API document, and bodies that are not the API's).
 */
#include "../../plugins/vicidial/vicidial.c"

#include "testlib.h"

static void test_vlc(void)
{
    char v[VD_VLC_MAX + 1];
    vd_vlc(1, v);
    CHECK_STR(v, "CZ1");
    vd_vlc(36, v);
    CHECK_STR(v, "CZ10");
    vd_vlc(123456789, v);
    CHECK_STR(v, "CZ21I3V9");
    vd_vlc(INT64_MAX, v);
    CHECK_STR(v, "CZ1Y2P0IJ32E8E7");
    CHECK(strlen(v) <= VD_VLC_MAX);
    vd_vlc(0, v);
    CHECK_STR(v, "CZ0");
}

static void test_national(void)
{
    char n[17];
    CHECK_INT(vd_national("+34612345678", "34", n), 0);
    CHECK_STR(n, "612345678");
    CHECK_INT(vd_national("+17275551111", "1", n), 0);
    CHECK_STR(n, "7275551111");
    CHECK_INT(vd_national("+447700900123", "34", n), -EXDEV);
    CHECK_INT(vd_national("612345678", "34", n), -EINVAL);
    CHECK_INT(vd_national("+34 612 345", "34", n), -EINVAL);
    CHECK_INT(vd_national("+3412345", "34", n), -EINVAL);              /* 5 digits */
    CHECK_INT(vd_national("+3412345678901234567", "34", n), -EINVAL);  /* 17 digits */
    CHECK_INT(vd_national("d@example.com", "34", n), -EINVAL);
}

static void test_json(void)
{
    char v[32];
    const char *j = "{\"a\":{\"name\":\"no\",\"x\":[1,{\"y\":null}]},\"name\":\"Jos\\u00e9 \\\"P\\\"\","
                    " \"n\": -12.5e2, \"t\": true, \"z\": null, \"emoji\": \"\\ud83d\\ude00\"}";
    CHECK_INT(json_get(j, "name", v, sizeof(v)), 1);
    CHECK_STR(v, "Jos\xc3\xa9 \"P\"");
    CHECK_INT(json_get(j, "n", v, sizeof(v)), 1);
    CHECK_STR(v, "-12.5e2");
    CHECK_INT(json_get(j, "t", v, sizeof(v)), 1);
    CHECK_STR(v, "true");
    CHECK_INT(json_get(j, "z", v, sizeof(v)), 1);
    CHECK_STR(v, "");
    CHECK_INT(json_get(j, "emoji", v, sizeof(v)), 1);
    CHECK_STR(v, "\xf0\x9f\x98\x80");
    CHECK_INT(json_get(j, "a", v, sizeof(v)), 0);    /* an object is not text */
    CHECK_INT(json_get(j, "x", v, sizeof(v)), 0);    /* nested keys are not top level */
    CHECK_INT(json_get(j, "missing", v, sizeof(v)), 0);
    CHECK_INT(json_get("{}", "a", v, sizeof(v)), 0);
    /* a key longer than the reader's key buffer is skipped, not misread */
    CHECK_INT(json_get("{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1,"
                       "\"b\":\"2\"}", "b", v, sizeof(v)), 1);
    CHECK_STR(v, "2");
    /* too long for the caller's buffer */
    CHECK_INT(json_get("{\"a\":\"0123456789012345678901234567890123456789\"}", "a", v,
                       sizeof(v)), -E2BIG);
    /* strict: every malformed text is refused, whatever key is asked */
    static const char *const bad[] = {
        "", "{", "{\"a\":1", "{\"a\":1,}", "{\"a\" 1}", "{'a':1}", "{\"a\":01}",
        "{\"a\":\"x\ny\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
        "{\"a\":tru}", "{\"a\":1} x", "[1]", "{\"a\":[1,]}", "{\"a\":-}", "{\"a\":1.}",
        "{\"a\":\"\\u12g4\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = json_get(bad[i], "a", v, sizeof(v));
        if (r != -EINVAL)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_INT(r, -EINVAL);
    }
    /* nesting is bounded */
    char deep[200];
    size_t n = 0;
    deep[n++] = '{';
    memcpy(deep + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < 40; i++)
        deep[n++] = '[';
    for (int i = 0; i < 40; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = 0;
    CHECK_INT(json_get(deep, "a", v, sizeof(v)), -EINVAL);
}

static void test_utf8_cut(void)
{
    /* "añ€😀": a(1) ñ(2) €(3) 😀(4) */
    const char *s = "a\xc3\xb1\xe2\x82\xac\xf0\x9f\x98\x80";
    CHECK_INT(utf8_cut(s, 10, 10), 10);
    CHECK_INT(utf8_cut(s, 10, 9), 6);
    CHECK_INT(utf8_cut(s, 10, 7), 6);
    CHECK_INT(utf8_cut(s, 10, 6), 6);
    CHECK_INT(utf8_cut(s, 10, 5), 3);
    CHECK_INT(utf8_cut(s, 10, 2), 1);
    CHECK_INT(utf8_cut(s, 10, 1), 1);
    CHECK_INT(utf8_cut(s, 10, 0), 0);
}

/* 2026-12-05 as days since the epoch */
#define TODAY 20792

static void test_brief(void)
{
    char out[VD_COMMENTS_MAX + 1];
    CHECK_INT(vd_brief("{\"name\":\"Ana Garc\\u00eda\",\"amount\":\"1234.56\","
                       "\"currency\":\"EUR\",\"due_date\":\"2026-11-20\",\"tier\":\"late\"}",
                       "es-ES", TODAY, out), 0);
    CHECK_STR(out, "Ana Garc\xc3\xad" "a (es-ES) | owes 1234.56 EUR | 15 dpd, due 2026-11-20 | "
                   "tier late");
    /* an input days_past_due wins; extras in order; quotes and & dropped */
    CHECK_INT(vd_brief("{\"name\":\"O'Brien & Co \\\"x\\\"\",\"days_past_due\":3,"
                       "\"due_date\":\"2026-12-02\",\"offers\":\"plan 6\",\"payday\":\"25\","
                       "\"flags\":\"hardship\",\"promises\":\"1 kept, 1 broken\"}", NULL, TODAY, out), 0);
    CHECK_STR(out, "OBrien  Co x | 3 dpd, due 2026-12-02 | promises 1 kept, 1 broken | payday 25 | "
                   "flags hardship | offers plan 6");
    /* before the due date: negative; a malformed date is shown as given */
    CHECK_INT(vd_brief("{\"due_date\":\"2026-12-10\"}", NULL, TODAY, out), 0);
    CHECK_STR(out, "-5 dpd, due 2026-12-10");
    CHECK_INT(vd_brief("{\"due_date\":\"10/12/2026\"}", NULL, TODAY, out), 0);
    CHECK_STR(out, "due 10/12/2026");
    CHECK_INT(vd_brief("{}", NULL, TODAY, out), 0);
    CHECK_STR(out, "");
    CHECK_INT(vd_brief(NULL, NULL, TODAY, out), 0);
    CHECK_STR(out, "");
    CHECK_INT(vd_brief("not json", NULL, TODAY, out), 0);
    CHECK_STR(out, "");
    /* cut at 255 bytes, never inside a character: a name of 2-byte letters
     * puts the boundary at an odd offset (the name starts at 0) */
    char in[1200];
    size_t n = (size_t)snprintf(in, sizeof(in), "{\"name\":\"");
    for (int i = 0; i < 200; i++) {
        memcpy(in + n, "\xc3\xa9", 2);
        n += 2;
    }
    snprintf(in + n, sizeof(in) - n, "\",\"tier\":\"late\"}");
    CHECK_INT(vd_brief(in, NULL, TODAY, out), 0);
    CHECK_INT(strlen(out), 254);
    for (size_t i = 0; i < strlen(out); i += 2)
        CHECK(memcmp(out + i, "\xc3\xa9", 2) == 0);
    /* an ASCII brief is cut at exactly 255 */
    n = (size_t)snprintf(in, sizeof(in), "{\"name\":\"");
    memset(in + n, 'x', 300);
    n += 300;
    snprintf(in + n, sizeof(in) - n, "\"}");
    CHECK_INT(vd_brief(in, NULL, TODAY, out), 0);
    CHECK_INT(strlen(out), 255);
}

/* The daily run's brief: its compact line in comments, its fields as custom fields. */
static void test_brief_fields(void)
{
    char out[VD_COMMENTS_MAX + 1];
    static const char in[] =
        "{\"name\":\"Ana\",\"amount\":\"1.00\",\"tier\":\"late\","
        "\"brief\":{\"debtor\":\"D1\"},"
        "\"brief_fields\":{\"debtor\":\"D1\",\"name\":\"Ana O'Brien \\\"A\\\"\","
        "\"dpd\":\"15\",\"flags\":\"\",\"nested\":{\"x\":\"y\"},\"n\":3,"
        "\"script\":\"Slow down & check understanding\\nthen offer\","
        "\"offers\":\"payment plan of up to 6 instalments (from 205.76 EUR each)\"},"
        "\"brief_text\":\"Ana (es-ES) | owes 1234.56 EUR | DO NOT COLLECT (dispute)\"}";
    CHECK_INT(vd_brief(in, NULL, TODAY, out), 0);
    CHECK_STR(out, "Ana (es-ES) | owes 1234.56 EUR | DO NOT COLLECT (dispute)");

    struct buf b = { 0 };
    int dropped = -1;
    CHECK_INT(buf_adds(&b, "http://h/api.php?function=add_lead"), 0);
    CHECK_INT(vd_add_fields(&b, in, "cz_", 20, &dropped), 0);
    CHECK_STR(b.buf, "http://h/api.php?function=add_lead&custom_fields=Y&cz_debtor=D1"
                     "&cz_name=Ana+OBrien+A&cz_dpd=15&cz_script=Slow+down++check+und"
                     "&cz_offers=payment+plan+of+up+t");
    CHECK_INT(dropped, 0);
    free(b.buf);
    /* no brief_fields (or inputs that are not JSON): nothing, not even custom_fields=Y */
    b = (struct buf){ 0 };
    CHECK_INT(buf_adds(&b, "http://h/x?a=1"), 0);
    CHECK_INT(vd_add_fields(&b, "{\"name\":\"x\"}", "cz_", 255, &dropped), 0);
    CHECK_INT(vd_add_fields(&b, "not json", "cz_", 255, &dropped), 0);
    CHECK_INT(vd_add_fields(&b, NULL, "cz_", 255, &dropped), 0);
    CHECK_STR(b.buf, "http://h/x?a=1");
    free(b.buf);
    /* a value cut inside a 2-byte letter keeps the letter out; a label too long is skipped */
    b = (struct buf){ 0 };
    CHECK_INT(buf_adds(&b, "u?f=1"), 0);
    CHECK_INT(vd_add_fields(&b, "{\"brief_fields\":{\"name\":\"ab\\u00e9\\u00e9\","
                                "\"a_name_far_too_long_for_a_vicidial_custom_field_label\":\"x\"}}",
                            "cz_", 3, &dropped), 0);
    CHECK_STR(b.buf, "u?f=1&custom_fields=Y&cz_name=ab");
    free(b.buf);
    /* fields that would take the URL past VD_URL_MAX are left out, counted */
    char *big = malloc(12000);
    size_t n = (size_t)snprintf(big, 12000, "{\"brief_fields\":{");
    for (int k = 0; k < 3; k++) {
        n += (size_t)snprintf(big + n, 12000 - n, "%s\"%c\":\"", k ? "," : "", 'a' + k);
        memset(big + n, 'x' + k, 3000);
        n += 3000;
        big[n++] = '"';
    }
    snprintf(big + n, 12000 - n, "}}");
    b = (struct buf){ 0 };
    CHECK_INT(buf_adds(&b, "u?f=1"), 0);
    CHECK_INT(vd_add_fields(&b, big, "cz_", 65535, &dropped), 0);
    CHECK(b.len <= VD_URL_MAX);
    CHECK(strstr(b.buf, "&cz_a=xxx") && strstr(b.buf, "&cz_b=yyy"));
    CHECK(strstr(b.buf, "&cz_c=") == NULL);
    CHECK_INT(dropped, 1);
    free(b.buf);
    free(big);
}

static void test_names(void)
{
    char f[VD_NAME_MAX + 1], l[VD_NAME_MAX + 1];
    vd_names("{\"name\":\"Ana  Garc\\u00eda L\\u00f3pez\"}", f, l);
    CHECK_STR(f, "Ana");
    CHECK_STR(l, "Garc\xc3\xad" "a L\xc3\xb3pez");
    vd_names("{\"name\":\"Cher\"}", f, l);
    CHECK_STR(f, "Cher");
    CHECK_STR(l, "");
    vd_names("{\"first_name\":\"Bob\",\"last_name\":\"Wilson\",\"name\":\"x y\"}", f, l);
    CHECK_STR(f, "Bob");
    CHECK_STR(l, "Wilson");
    vd_names("{}", f, l);
    CHECK_STR(f, "");
    CHECK_STR(l, "");
    /* 16 two-byte letters: cut to 15 of them (30 bytes) */
    vd_names("{\"name\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
             "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9 a\"}", f, l);
    CHECK_INT(strlen(f), 30);
    CHECK_STR(l, "a");
    /* 31 ASCII letters then a 2-byte one at byte 29: cut to 29 */
    vd_names("{\"last_name\":\"x\",\"first_name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\u00e9\"}", f, l);
    CHECK_INT(strlen(f), 29);
}

static void test_url(void)
{
    struct buf b = { 0 };
    CHECK_INT(buf_adds(&b, "http://h/non_agent_api.php"), 0);
    CHECK_INT(url_add_param(&b, "a", "x y&z=1/ñ~"), 0);
    CHECK_INT(url_add_param(&b, "b", ""), 0);
    CHECK_STR(b.buf, "http://h/non_agent_api.php?a=x+y%26z%3D1%2F%C3%B1~&b=");
    free(b.buf);
}

static void check_reply(const char *body, const char *vlc, enum vd_class cls, const char *lead)
{
    struct vd_reply r;
    vd_reply_parse(body, strlen(body), vlc, &r);
    if (r.cls != cls)
        fprintf(stderr, "reply: %s\n", body);
    CHECK_INT(r.cls, cls);
    if (lead)
        CHECK_STR(r.lead_id, lead);
}

static void test_replies(void)
{
    check_reply("SUCCESS: add_lead LEAD HAS BEEN ADDED - 7275551111|6666|999|193715|-4\n"
                "NOTICE: add_lead ADDED TO HOPPER - 7275551111|6666|193715|1677922\n",
                NULL, VD_ADDED, "193715");
    struct vd_reply in_hopper;
    const char *added = "SUCCESS: add_lead LEAD HAS BEEN ADDED - 1|6666|999|5|-4\n"
                        "NOTICE: add_lead ADDED TO HOPPER - 1|6666|5|1677922\n";
    vd_reply_parse(added, strlen(added), NULL, &in_hopper);
    CHECK(!in_hopper.hopper_refused);
    /* notices first, CRLF line ends, leading blank line */
    check_reply("\r\nNOTICE: add_lead NANPA options disabled, NANPA prefix data not loaded - 0|6666\r\n"
                "SUCCESS: add_lead LEAD HAS BEEN ADDED - 7275551111|6666|999|193716|-4\r\n",
                NULL, VD_ADDED, "193716");
    struct vd_reply r;
    const char *two = "SUCCESS: add_lead LEAD HAS BEEN ADDED - 1|6666|999|5|-4\n"
                      "NOTICE: add_lead NOT ADDED TO HOPPER, OUTSIDE OF LOCAL TIME - 1|6666|5|-4|0\n"
                      "NOTICE: add_lead CUSTOM FIELDS NOT ADDED, NO FIELDS DEFINED - 1|1234|101\n";
    vd_reply_parse(two, strlen(two), NULL, &r);
    CHECK_INT(r.notices, 2);
    CHECK(r.hopper_refused);
    CHECK_STR(r.line, "SUCCESS: add_lead LEAD HAS BEEN ADDED - 1|6666|999|5|-4");
    CHECK_STR(r.fields_refused, "NOTICE: add_lead CUSTOM FIELDS NOT ADDED, NO FIELDS DEFINED - "
                                "1|1234|101");
    CHECK_STR(in_hopper.fields_refused, "");
    /* a SUCCESS without a lead id is not one we can use */
    check_reply("SUCCESS: add_lead LEAD HAS BEEN ADDED - 7275551111|6666|999\n", NULL,
                VD_UNRECOGNISED, NULL);
    check_reply("ERROR: add_lead DUPLICATE PHONE NUMBER IN LIST - 7275551111|101|8765444\n",
                NULL, VD_DUPLICATE, "8765444");
    check_reply("ERROR: add_lead DUPLICATE PHONE NUMBER IN CAMPAIGN LISTS - 7275551111|101|8765444|101",
                NULL, VD_DUPLICATE, "8765444");
    check_reply("ERROR: add_lead DUPLICATE TITLE ALT_PHONE IN SYSTEM - 1234|7275551111|101|8765444|101",
                NULL, VD_DUPLICATE, "8765444");
    check_reply("ERROR: add_lead DUPLICATE NAME PHONE IN LIST - Bob|Smith|7275551113|101|8765444|101",
                NULL, VD_DUPLICATE, "8765444");
    check_reply("ERROR: add_lead PHONE NUMBER IN DNC - 7275551212|6666\n", NULL, VD_DNC, NULL);
    check_reply("ERROR: add_lead PHONE NUMBER IN CAMPAIGN DNC - 7275551212|TESTCAMP|6666\n", NULL,
                VD_DNC, NULL);
    check_reply("ERROR: add_lead INVALID PHONE NUMBER LENGTH - 72755|6666 \n", NULL,
                VD_INVALID_PHONE, NULL);
    check_reply("ERROR: add_lead INVALID PHONE NUMBER NANPA AREACODE PREFIX - 7275551212|6666", NULL,
                VD_INVALID_PHONE, NULL);
    check_reply("ERROR: add_lead USER DOES NOT HAVE PERMISSION TO ADD LEADS TO THE SYSTEM - 6666|0 ",
                NULL, VD_AUTH, NULL);
    check_reply("ERROR: auth USER DOES NOT HAVE PERMISSION TO USE THIS FUNCTION - 6666|add_lead",
                NULL, VD_AUTH, NULL);
    check_reply("ERROR: Invalid Username/Password: |6666|BAD|\n", NULL, VD_AUTH, NULL);
    check_reply("ERROR: add_lead NOT AN ALLOWED LIST ID - 7275551212|98762", NULL, VD_AUTH, NULL);
    check_reply("ERROR: NO FUNCTION SPECIFIED\n", NULL, VD_OTHER_ERROR, NULL);
    /* update_lead lookups: ours only when the vendor_lead_code matches */
    check_reply("NOTICE: update_lead LEADS FOUND IN THE SYSTEM: |6666|1010542|CZ1|9998887112|3333444|0\n",
                "CZ1", VD_FOUND, "1010542");
    check_reply("NOTICE: update_lead LEADS FOUND IN THE SYSTEM: |6666|1010542|CZ12|9998887112|3333444|0\n",
                "CZ1", VD_NOT_FOUND, NULL);
    check_reply("NOTICE: update_lead LEADS FOUND IN THE SYSTEM: |6666|1010542|CZ1|9998887112|3333444|0\n",
                NULL, VD_NOT_FOUND, NULL);
    check_reply("NOTICE: update_lead NO MATCHES FOUND IN THE SYSTEM - 6666|4567|897654327|7275551212\n",
                "CZ1", VD_NOT_FOUND, NULL);
    check_reply("ERROR: update_lead NO MATCHES FOUND IN THE SYSTEM - 6666|||\n", "CZ1",
                VD_NOT_FOUND, NULL);
    /* the hopper at window close */
    check_reply("SUCCESS: update_lead LEAD HAS BEEN UPDATED - 6666|193716\n"
                "NOTICE: update_lead REMOVED FROM HOPPER - 7275551111|193715|READY|6666\n",
                NULL, VD_REMOVED, NULL);
    check_reply("NOTICE: update_lead REMOVED FROM HOPPER - 7275551111|193715|READY|6666\n", NULL,
                VD_REMOVED, NULL);
    check_reply("NOTICE: update_lead NOT REMOVED FROM HOPPER, LEAD IS NOT IN THE HOPPER - "
                "7275551111|193715|6666\n", NULL, VD_NOT_IN_HOPPER, NULL);
    check_reply("NOTICE: update_lead NOT REMOVED FROM HOPPER - 7275551111|193715|DNC|6666\n", NULL,
                VD_NOT_IN_HOPPER, NULL);
    check_reply("SUCCESS: update_lead LEAD HAS BEEN UPDATED - 6666|193716\n", NULL, VD_UPDATED,
                NULL);
    /* not the API: a proxy's error page, an empty body, a bare version line */
    check_reply("<html><body>502 Bad Gateway</body></html>", NULL, VD_UNRECOGNISED, NULL);
    check_reply("", NULL, VD_UNRECOGNISED, NULL);
    check_reply("VERSION: 2.4-34|BUILD: 110424-0854|", NULL, VD_UNRECOGNISED, NULL);
    /* a line quoted in an error is cut, at a character boundary */
    char big[600];
    memcpy(big, "ERROR: add_lead ", 16);
    for (int i = 0; i < 200; i++)
        memcpy(big + 16 + 2 * i, "\xc3\xb1", 2);
    big[416] = 0;
    vd_reply_parse(big, strlen(big), NULL, &r);
    CHECK(strlen(r.line) < VD_ERR_MAX);
    CHECK((strlen(r.line) - 16) % 2 == 0);
}

TEST_MAIN({ "vlc", test_vlc }, { "national", test_national }, { "json", test_json },
          { "utf8_cut", test_utf8_cut }, { "brief", test_brief },
          { "brief_fields", test_brief_fields }, { "names", test_names },
          { "url", test_url }, { "replies", test_replies })
