/* test-debtor.c - column names, row hashing and per-row validation. */
#include <errno.h>
#include <stdio.h>

#include "debtor.h"
#include "phone.h"
#include "testlib.h"
#include "util.h"

/* A row from "col=value" strings; values point into the literals. */
static struct raw_row mkrow(const char *const *kv)
{
    struct raw_row row;
    memset(&row, 0, sizeof(row));
    row.line = 7;
    for (; *kv; kv++) {
        const char *eq = strchr(*kv, '=');
        int c = (int)debtor_col_from_name(*kv, (size_t)(eq - *kv));
        if (c < 0)
            abort();
        row.f[c] = eq + 1;
        row.flen[c] = strlen(eq + 1);
    }
    return row;
}

#define BASE "id=D-1", "email=ann@example.com"

/* Validate and return the error text ("" when valid). */
static const char *check_row(const char *const *kv, struct debtor_rec *rec)
{
    static char err[1024];
    struct raw_row row = mkrow(kv);
    int k = debtor_validate(&row, NULL, rec, err, sizeof(err));
    if (k == 0 && err[0])
        return "(returned 0 with a message)";
    if (k < 0 && !err[0])
        return "(returned an error without a message)";
    return err;
}

#define ROW(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define OK(rec, ...) CHECK_STR(check_row(ROW(__VA_ARGS__), rec), "")
#define BAD(msg, ...)                                    \
    do {                                                 \
        struct debtor_rec _r;                            \
        CHECK_STR(check_row(ROW(__VA_ARGS__), &_r), msg); \
    } while (0)

static void test_columns(void)
{
    CHECK_INT(debtor_col_from_name("id", 2), DCOL_ID);
    CHECK_INT(debtor_col_from_name(" Time_Zone ", 11), DCOL_TIME_ZONE);
    CHECK_INT(debtor_col_from_name("prefers_human", 13), DCOL_PREFERS_HUMAN);
    CHECK_INT(debtor_col_from_name("phones", 6), -1);
    CHECK_INT(debtor_col_from_name("", 0), -1);
    CHECK(debtor_col_from_name("nope", 4) < 0);
    for (int i = 0; i < _DCOL_MAX; i++) {
        CHECK(debtor_col_names[i] != NULL);
        CHECK_INT(debtor_col_from_name(debtor_col_names[i], strlen(debtor_col_names[i])), i);
    }
    CHECK_STR(phone_type_to_string(PHONE_FIXED_OR_MOBILE), "fixed_or_mobile");
}

static void test_minimal(void)
{
    struct debtor_rec rec;
    OK(&rec, "id= D-1 ", "chat_handle=@ann");
    CHECK_STR(rec.external_id, "D-1 "); /* trimmed start; readers trim the end */
    CHECK_STR(rec.chat_handle, "@ann");
    CHECK(rec.email == NULL && rec.phone[0] == 0 && rec.phone_type == PHONE_NONE);
    CHECK_INT(rec.payday, 0);
    CHECK_INT(rec.preferred_channel, -1);
    CHECK_INT(rec.prefers_human, -1);
    CHECK_INT(rec.consent[CHAN_SMS], CONSENT_UNKNOWN);
    CHECK(rec.do_not_contact == NULL);
    CHECK(rec.age_band == NULL && rec.employment_type == NULL);
    BAD("age_band: '123456789012345678901234567890123' is longer than 32 bytes", BASE,
        "age_band=123456789012345678901234567890123");
}

static void test_full(void)
{
    struct debtor_rec rec;
    OK(&rec, "id=D-000123", "name=Ana Núñez", "locale=es-ES", "time_zone=Europe/Madrid",
       "country=es", "region=Madrid", "email=ana.nunez+x@correo.example.es",
       "phone=612 345 678", "chat_handle=ana", "balance=1234.5", "currency=eur",
       "due_date=2024-02-29", "payday=last", "risk_band=c", "segment=retail",
       "tags=vip; 2024", "flags=Hardship; vulnerable", "consent_email=yes", "consent_sms=N",
       "consent_chat=true", "consent_call=0", "do_not_contact=Mon-Fri 09:00-17:00; Sat 00:00-12:00",
       "preferred_channel=SMS", "prefers_human=yes", "age_band=35-44",
       "employment_type=self-employed");
    CHECK_STR(rec.external_id, "D-000123");
    CHECK_STR(rec.age_band, "35-44");
    CHECK_STR(rec.employment_type, "self-employed");
    CHECK_STR(rec.country, "ES");
    CHECK_STR(rec.currency, "EUR");
    CHECK_STR(rec.phone, "+34612345678");
    CHECK_INT(rec.phone_type, PHONE_MOBILE);
    CHECK_INT(rec.balance_minor, 123450);
    CHECK_INT(rec.due_date, days_from_civil(2024, 2, 29));
    CHECK_INT(rec.payday, -1);
    CHECK_STR(rec.risk_band, "C");
    CHECK_INT(rec.flags, DEBTOR_HARDSHIP | DEBTOR_VULNERABLE);
    CHECK_INT(rec.consent[CHAN_EMAIL], CONSENT_YES);
    CHECK_INT(rec.consent[CHAN_SMS], CONSENT_NO);
    CHECK_INT(rec.consent[CHAN_CHAT], CONSENT_YES);
    CHECK_INT(rec.consent[CHAN_CALL], CONSENT_NO);
    CHECK_INT(rec.preferred_channel, CHAN_SMS);
    CHECK_INT(rec.prefers_human, 1);
    CHECK_INT(rec.ndnc, 2);
    CHECK_INT(rec.dnc[0].weekday_mask, 0x1f);
    CHECK_INT(rec.dnc[0].start, 9 * 60);
    CHECK_INT(rec.dnc[0].end, 17 * 60);
    CHECK_INT(rec.dnc[1].weekday_mask, 0x20);
    CHECK_INT(rec.dnc[1].end, 12 * 60);
    CHECK_STR(rec.do_not_contact, "Mon-Fri 09:00-17:00; Sat 00:00-12:00");
    CHECK_STR(rec.time_zone, "Europe/Madrid");
}

static void test_id(void)
{
    BAD("id: missing", "email=a@b.es");
    BAD("id: missing", "id=  ", "email=a@b.es");
    BAD("id: '0123456789012345678901234567890123456789...' is longer than 64 bytes",
        "id=0123456789012345678901234567890123456789012345678901234567890123456789",
        "email=a@b.es");
    BAD("id: 'a?b' contains a control character", "id=a\x01" "b", "email=a@b.es");
    struct debtor_rec rec;
    OK(&rec, "id=0123456789012345678901234567890123456789012345678901234567890123",
       "email=a@b.es");
}

static void test_contact(void)
{
    BAD("contact: no email, phone or chat_handle", "id=1");
    BAD("contact: no email, phone or chat_handle", "id=1", "name=Bob");
    /* a bad address still counts as given: only its own error */
    BAD("email: 'bob@' is not a valid address", "id=1", "email=bob@");
}

static void test_email(void)
{
    struct debtor_rec rec;
    static const char *const good[] = { "a@b.es", "first.last+tag@sub.example.co.uk",
                                        "o'neil@example.ie", "x_y@xn--bcher-kva.example" };
    static const char *const bad[] = { "bob@", "@b.es", "a b@c.es", "a@b@c.es", "a@b",
                                       "a..b@c.es", ".a@b.es", "a@-b.es", "a@b.es.",
                                       "a@b..es", "a@b.1", "a@b_c.es" };
    for (size_t i = 0; i < ELEMENTSOF(good); i++) {
        char kv[100];
        snprintf(kv, sizeof(kv), "email=%s", good[i]);
        CHECK_STR(check_row(ROW("id=1", kv), &rec), "");
        CHECK_STR(rec.email, good[i]);
    }
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        char kv[100], want[200];
        snprintf(kv, sizeof(kv), "email=%s", bad[i]);
        snprintf(want, sizeof(want), "email: '%s' is not a valid address", bad[i]);
        CHECK_STR(check_row(ROW("id=1", kv), &rec), want);
    }
}

static void test_time_zone(void)
{
    struct debtor_rec rec;
    for (int pass = 0; pass < 2; pass++) { /* the second pass hits the cache */
        OK(&rec, BASE, "time_zone=America/New_York");
        CHECK_STR(rec.time_zone, "America/New_York");
        BAD("time_zone: unknown time zone 'Europe/Madird'", BASE, "time_zone=Europe/Madird");
    }
    BAD("time_zone: unknown time zone '../../etc/passwd'", BASE, "time_zone=../../etc/passwd");
    BAD("time_zone: unknown time zone 'Europe'", BASE, "time_zone=Europe");       /* a dir */
    BAD("time_zone: unknown time zone 'zone.tab'", BASE, "time_zone=zone.tab");   /* not TZif */
    BAD("time_zone: unknown time zone '/etc/localtime'", BASE, "time_zone=/etc/localtime");
    OK(&rec, BASE, "time_zone=UTC");
}

static void test_country(void)
{
    struct debtor_rec rec;
    OK(&rec, BASE, "country=gb");
    CHECK_STR(rec.country, "GB");
    BAD("country: 'UK' is not an ISO 3166-1 alpha-2 code", BASE, "country=UK");
    BAD("country: 'ESP' is not an ISO 3166-1 alpha-2 code", BASE, "country=ESP");
    /* every code of the tz database's ISO 3166 table is known */
    FILE *f = fopen("/usr/share/zoneinfo/iso3166.tab", "r");
    if (!f)
        return;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || strlen(line) < 3)
            continue;
        char kv[16];
        snprintf(kv, sizeof(kv), "country=%.2s", line);
        CHECK_STR(check_row(ROW(BASE, kv), &rec), "");
        n++;
    }
    fclose(f);
    CHECK(n >= 245);
}

static void test_phone(void)
{
    struct debtor_rec rec;
    /* US: fixed or mobile, national and international input */
    OK(&rec, BASE, "country=US", "phone=(201) 555-0123");
    CHECK_STR(rec.phone, "+12015550123");
    CHECK_INT(rec.phone_type, PHONE_FIXED_OR_MOBILE);
    OK(&rec, BASE, "country=US", "phone=+1 201 555 0123");
    CHECK_STR(rec.phone, "+12015550123");
    OK(&rec, BASE, "country=US", "phone=+12015550123");
    CHECK_STR(rec.phone, "+12015550123");
    CHECK_INT(rec.phone_type, PHONE_FIXED_OR_MOBILE);
    /* ES: mobile vs landline */
    OK(&rec, BASE, "country=ES", "phone=+34612345678");
    CHECK_INT(rec.phone_type, PHONE_MOBILE);
    OK(&rec, BASE, "country=ES", "phone=912 345 678");
    CHECK_STR(rec.phone, "+34912345678");
    CHECK_INT(rec.phone_type, PHONE_FIXED_LINE);
    /* GB: national format with trunk 0, mobile and landline */
    OK(&rec, BASE, "country=GB", "phone=07911 123456");
    CHECK_STR(rec.phone, "+447911123456");
    CHECK_INT(rec.phone_type, PHONE_MOBILE);
    OK(&rec, BASE, "country=GB", "phone=020 7946 0123");
    CHECK_STR(rec.phone, "+442079460123");
    CHECK_INT(rec.phone_type, PHONE_FIXED_LINE);
    /* a foreign number in international form is fine */
    OK(&rec, BASE, "country=ES", "phone=+442079460123");
    CHECK_STR(rec.phone, "+442079460123");
    /* Italian leading zero survives the fast path */
    OK(&rec, BASE, "country=IT", "phone=+390612345678");
    CHECK_STR(rec.phone, "+390612345678");
    CHECK_INT(rec.phone_type, PHONE_FIXED_LINE);
    /* toll free is "other" */
    OK(&rec, BASE, "country=US", "phone=+18005550199");
    CHECK_INT(rec.phone_type, PHONE_OTHER);

    BAD("phone: '+1555' is not a valid number for US", "id=1", "country=US", "phone=+1555");
    BAD("phone: '12345' is not a valid number for ES", "id=1", "country=ES", "phone=12345");
    BAD("phone: '612345678' has no country code and the row no country", "id=1",
        "phone=612345678");
    BAD("phone: '+999123456789' is not a valid number", "id=1", "phone=+999123456789");
    BAD("phone: 'call me' is not a valid number for GB", "id=1", "country=GB",
        "phone=call me");
    BAD("phone: '+34612345678999999999' is not a valid number for ES", "id=1", "country=ES",
        "phone=+34612345678999999999");
}

/* The E.164 fast path agrees with libphonenumber's own parser. */
static void test_phone_fast_path(void)
{
    static const char *const nums[] = {
        "+34612345678", "+34912345678", "+3461234567", "+442079460123", "+447911123456",
        "+447700900123", "+12015550123", "+15145550123", "+1201555012", "+390612345678",
        "+39312345678", "+4930123456", "+4915112345678", "+33612345678", "+80012345678",
        "+861012345678", "+5511912345678", "+2348031234567", "+999123456789", "+3400000000",
        "+10", "+35312345678",
    };
    phone_init();
    for (size_t i = 0; i < ELEMENTSOF(nums); i++) {
        char spaced[40], a[20] = "", b[20] = "";
        int ta = -1, tb = -1;
        /* "+CC NNN" forces the generic parser: a space after the first digit */
        snprintf(spaced, sizeof(spaced), "%.2s %s", nums[i], nums[i] + 2);
        int ka = phone_check(nums[i], strlen(nums[i]), "ES", a, &ta);
        int kb = phone_check(spaced, strlen(spaced), "ES", b, &tb);
        if (ka != kb || strcmp(a, b) != 0 || ta != tb)
            fprintf(stderr, "fast path differs on %s: %d %s %d vs %d %s %d\n", nums[i], ka, a,
                    ta, kb, b, tb);
        CHECK_INT(ka, kb);
        CHECK_STR(a, b);
        CHECK_INT(ta, tb);
    }
}

static void test_balance(void)
{
    struct debtor_rec rec;
    OK(&rec, BASE, "balance=12.34", "currency=EUR");
    CHECK_INT(rec.balance_minor, 1234);
    OK(&rec, BASE, "balance=12", "currency=EUR");
    CHECK_INT(rec.balance_minor, 1200);
    OK(&rec, BASE, "balance=12.500", "currency=EUR"); /* trailing zeros are fine */
    CHECK_INT(rec.balance_minor, 1250);
    OK(&rec, BASE, "balance=1500", "currency=JPY");
    CHECK_INT(rec.balance_minor, 1500);
    OK(&rec, BASE, "balance=1.234", "currency=KWD");
    CHECK_INT(rec.balance_minor, 1234);
    OK(&rec, BASE, "balance=0.5", "currency=BHD");
    CHECK_INT(rec.balance_minor, 500);
    OK(&rec, BASE, "balance=0", "currency=USD");
    OK(&rec, BASE, "currency=usd");
    CHECK_STR(rec.currency, "USD");
    BAD("balance: '12.345' has more decimals than EUR allows", BASE, "balance=12.345",
        "currency=EUR");
    BAD("balance: '1500.5' has more decimals than JPY allows", BASE, "balance=1500.5",
        "currency=JPY");
    BAD("balance: '-5.00' is negative", BASE, "balance=-5.00", "currency=EUR");
    BAD("balance: '1,234.56' is not a decimal number like 1234.56", BASE, "balance=1,234.56",
        "currency=EUR");
    BAD("balance: '12.' is not a decimal number like 1234.56", BASE, "balance=12.",
        "currency=EUR");
    BAD("balance: '.5' is not a decimal number like 1234.56", BASE, "balance=.5",
        "currency=EUR");
    BAD("balance: '99999999999999999999999' is too large", BASE,
        "balance=99999999999999999999999", "currency=EUR");
    BAD("currency: missing (a balance needs one)", BASE, "balance=10");
    BAD("currency: 'EURO' is not an ISO 4217 code", BASE, "currency=EURO");
    BAD("currency: 'XYZ' is not an ISO 4217 code", BASE, "currency=XYZ");
}

static void test_dates_and_enums(void)
{
    struct debtor_rec rec;
    BAD("due_date: '2023-02-29' is not a date (YYYY-MM-DD)", BASE, "due_date=2023-02-29");
    BAD("due_date: '01/02/2024' is not a date (YYYY-MM-DD)", BASE, "due_date=01/02/2024");
    OK(&rec, BASE, "payday=31");
    CHECK_INT(rec.payday, 31);
    OK(&rec, BASE, "payday=1");
    CHECK_INT(rec.payday, 1);
    BAD("payday: '32' is not a day of the month (1-31) or 'last'", BASE, "payday=32");
    BAD("payday: '0' is not a day of the month (1-31) or 'last'", BASE, "payday=0");
    BAD("risk_band: 'F' is not one of A, B, C, D, E", BASE, "risk_band=F");
    OK(&rec, BASE, "risk_band=e");
    CHECK_STR(rec.risk_band, "E");
    BAD("flags: unknown flag 'hardshp' (did you mean 'hardship'?)", BASE,
        "flags=dispute;hardshp");
    BAD("flags: unknown flag 'xyzzy'", BASE, "flags=xyzzy");
    OK(&rec, BASE, "flags=cease;;deceased; bankrupt ;dispute");
    CHECK_INT(rec.flags, DEBTOR_CEASE | DEBTOR_DECEASED | DEBTOR_BANKRUPT | DEBTOR_DISPUTE);
    BAD("consent_email: 'maybe' is not yes or no", BASE, "consent_email=maybe");
    OK(&rec, BASE, "consent_call=Y", "consent_chat=FALSE", "consent_sms=1");
    CHECK_INT(rec.consent[CHAN_CALL], CONSENT_YES);
    CHECK_INT(rec.consent[CHAN_CHAT], CONSENT_NO);
    CHECK_INT(rec.consent[CHAN_SMS], CONSENT_YES);
    BAD("preferred_channel: 'fax' is not one of email, sms, chat, call", BASE,
        "preferred_channel=fax");
    OK(&rec, BASE, "preferred_channel=call");
    CHECK_INT(rec.preferred_channel, CHAN_CALL);
    BAD("prefers_human: 'sometimes' is not yes or no", BASE, "prefers_human=sometimes");
    OK(&rec, BASE, "prefers_human=no");
    CHECK_INT(rec.prefers_human, 0);
    BAD("locale: 'spanish' is not a language tag like 'es-ES'", BASE, "locale=spanish");
    OK(&rec, BASE, "locale=en_GB");
    OK(&rec, BASE, "locale=es-419");
}

static void test_dnc(void)
{
    struct debtor_rec rec;
    OK(&rec, BASE, "do_not_contact=sat,SUN 00:00-24:00");
    CHECK_STR(rec.do_not_contact, "Sat-Sun 00:00-24:00");
    CHECK_INT(rec.dnc[0].weekday_mask, 0x60);
    OK(&rec, BASE, "do_not_contact=12:00-13:00");
    CHECK_STR(rec.do_not_contact, "Mon-Sun 12:00-13:00");
    OK(&rec, BASE, "do_not_contact=Fri-Mon 10:00-11:00; Wed 08:00-09:30");
    CHECK_STR(rec.do_not_contact, "Mon,Fri-Sun 10:00-11:00; Wed 08:00-09:30");
    /* past midnight: continues on the next day */
    OK(&rec, BASE, "do_not_contact=Fri 22:00-07:00");
    CHECK_INT(rec.ndnc, 2);
    CHECK_STR(rec.do_not_contact, "Fri 22:00-24:00; Sat 00:00-07:00");
    OK(&rec, BASE, "do_not_contact=Sunday 20:00-21:00");
    CHECK_INT(rec.dnc[0].weekday_mask, 0x40);
    BAD("do_not_contact: 'Mon-Fri 9-17' has no time range like 09:00-17:00", BASE,
        "do_not_contact=Mon-Fri 9-17");
    BAD("do_not_contact: 'Mnday 09:00-10:00' has an unknown day (use Mon..Sun)", BASE,
        "do_not_contact=Mnday 09:00-10:00");
    BAD("do_not_contact: 'Mon 09:00-09:00' has an empty time range", BASE,
        "do_not_contact=Mon 09:00-09:00");
    BAD("do_not_contact: 'Mon 09:00-25:00' has no time range like 09:00-17:00", BASE,
        "do_not_contact=Mon 09:00-25:00");
    BAD("do_not_contact: '00:00-01:00;01:00-02:00;02:00-03:00;03:0...' has more than 8 "
        "ranges",
        BASE, "do_not_contact=00:00-01:00;01:00-02:00;02:00-03:00;03:00-04:00;04:00-05:00;"
              "05:00-06:00;06:00-07:00;07:00-08:00;08:00-09:00");
}

static void test_many_errors(void)
{
    /* every problem reported, in column order, joined by "; " */
    BAD("id: missing; time_zone: unknown time zone 'Mars/Olympus'; "
        "email: 'x' is not a valid address; risk_band: 'Z' is not one of A, B, C, D, E",
        "time_zone=Mars/Olympus", "email=x", "risk_band=Z");
    /* long values are cut on a character boundary */
    BAD("name: 'éééééééééééééééééééé...' contains a control character",
        "id=1", "email=a@b.es", "name=éééééééééééééééééééééééééééééé\x01");
    /* a small buffer is never overrun and stays terminated */
    struct raw_row row = mkrow(ROW("time_zone=Mars/Olympus", "email=x"));
    struct debtor_rec rec;
    char small[16];
    memset(small, 'Z', sizeof(small));
    CHECK_INT(debtor_validate(&row, NULL, &rec, small, 10), -EINVAL);
    CHECK_STR(small, "id: missi");
    CHECK(small[10] == 'Z');
}

static void test_hash(void)
{
    struct raw_row a = mkrow(ROW("id=1", "name=ab", "region=c"));
    struct raw_row b = mkrow(ROW("id=1", "name=a", "region=bc"));
    struct raw_row c = mkrow(ROW("id=1", "name= ab ", "region=c", "segment="));
    struct raw_row d = mkrow(ROW("id=1", "region=ab", "name=c"));
    uint64_t ha = raw_row_hash(&a);
    CHECK(ha != raw_row_hash(&b)); /* moving text between fields */
    CHECK(ha == raw_row_hash(&c)); /* spaces and empty columns do not count */
    CHECK(ha != raw_row_hash(&d)); /* the same texts in other columns */
    /* stable across runs and hosts: a pinned value */
    CHECK(ha == raw_row_hash(&a));
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)ha);
    CHECK_STR(hex, "be6081c4e7dfe1ea");
    /* validate stores it */
    struct debtor_rec rec;
    struct raw_row e = mkrow(ROW(BASE));
    CHECK_INT(debtor_validate(&e, NULL, &rec, (char[64]){ 0 }, 64), 0);
    CHECK(rec.row_hash == raw_row_hash(&e));
}

TEST_MAIN({ "columns", test_columns }, { "minimal", test_minimal }, { "full", test_full },
          { "id", test_id }, { "contact", test_contact }, { "email", test_email },
          { "time_zone", test_time_zone }, { "country", test_country }, { "phone", test_phone },
          { "phone_fast_path", test_phone_fast_path }, { "balance", test_balance },
          { "dates_and_enums", test_dates_and_enums }, { "dnc", test_dnc },
          { "many_errors", test_many_errors }, { "hash", test_hash })
