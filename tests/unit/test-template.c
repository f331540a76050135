/*
 * test-template.c - templates per locale: file format, locale fallback,
 * money and date formats, SMS segment counts with known answers,
 * rendering (HTML escaping), and rendering a job as the worker will,
 * with signed links that verify.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "link.h"
#include "template.h"
#include "testlib.h"
#include "tz.h"

static struct template_set *set_of(const char *const *files, size_t n, struct diags *d)
{
    struct template_set *s = template_set_new("en");
    CHECK(s != NULL);
    for (size_t i = 0; i < n; i += 2)
        CHECK_INT(template_set_add(s, files[i], files[i + 1], strlen(files[i + 1]), d), 0);
    return s;
}

static void test_format(void)
{
    struct diags d = DIAGS_INIT;
    const char *files[] = {
        "t/mail.en.txt",
        "Subject: Hi {{name}}\nKind: message\n\nText {{amount}}\n--- html ---\n<p>{{name}}</p>\n",
        "t/vm.txt", "Kind: voicemail\n\nCall {{agent_phone}}\n",
        "t/plain.es-MX.txt", "Note: not a header\n{{name}}",
    };
    struct template_set *s = set_of(files, ELEMENTSOF(files), &d);
    CHECK_INT(d.n, 0);
    CHECK_INT(template_set_count(s), 3);
    const struct template *t = template_set_find(s, "mail", "en", NULL);
    CHECK(t != NULL);
    if (t) {
        CHECK_STR(t->locale, "en");
        CHECK_STR(t->subject, "Hi {{name}}");
        CHECK_STR(t->text, "Text {{amount}}");
        CHECK_STR(t->html, "<p>{{name}}</p>\n");
        CHECK_INT(t->kind, TEMPLATE_MESSAGE);
        CHECK_INT(t->text_line, 4);
        CHECK_INT(t->html_line, 6);
        CHECK_INT(t->vars, (1u << TPL_NAME) | (1u << TPL_AMOUNT));
    }
    t = template_set_find(s, "vm", NULL, NULL);
    CHECK(t && t->kind == TEMPLATE_VOICEMAIL && !t->subject && !t->locale);
    t = template_set_find(s, "plain", "es_mx", NULL);
    CHECK(t && !t->subject);
    if (t)
        CHECK_STR(t->text, "Note: not a header\n{{name}}");
    template_set_free(s);

    /* Errors at file:line:col; the file is left out and remembered as broken. */
    s = template_set_new("en");
    const char *bad = "Subject: x\nKnd: voicemail\n\n{{amuont}} ok\n";
    CHECK_INT(template_set_add(s, "t/bad.es.txt", bad, strlen(bad), &d), -EINVAL);
    CHECK_INT(d.nerrors, 2);
    if (d.n == 2) {
        CHECK_INT(d.v[0].line, 2);
        CHECK_STR(d.v[0].msg, "unknown header 'Knd'; did you mean 'Kind'? (a blank line must "
                              "end the headers)");
        CHECK_INT(d.v[1].line, 4);
        CHECK_INT(d.v[1].col, 1);
        CHECK_STR(d.v[1].msg, "unknown placeholder 'amuont'; did you mean 'amount'?");
    }
    CHECK(!template_set_has(s, "bad"));
    CHECK(template_set_broken(s, "bad"));
    template_set_free(s);
    diags_release(&d);
}

static void test_fallback(void)
{
    struct diags d = DIAGS_INIT;
    const char *files[] = {
        "t/a.es.txt", "es",       "t/a.es-MX.txt", "es-MX", "t/a.txt", "neutral",
        "t/a.en.txt", "en",       "t/b.en.txt", "b-en",     "t/b.es.txt", "b-es",
        "t/c.en-GB.txt", "c-en-GB",
    };
    struct template_set *s = set_of(files, ELEMENTSOF(files), &d);
    bool exact;
    const struct template *t;
    CHECK_STR(template_set_find(s, "a", "es-MX", &exact)->text, "es-MX");
    CHECK(exact);
    CHECK_STR(template_set_find(s, "a", "es-ES", &exact)->text, "es"); /* the language */
    CHECK(exact);
    CHECK_STR(template_set_find(s, "a", "fr", &exact)->text, "neutral"); /* then NAME.txt */
    CHECK(!exact);
    CHECK_STR(template_set_find(s, "a", NULL, NULL)->text, "neutral");
    CHECK_STR(template_set_find(s, "b", "fr-FR", &exact)->text, "b-en"); /* default locale */
    CHECK(!exact);
    CHECK_STR(template_set_find(s, "b", "ES", NULL)->text, "b-es");
    CHECK(template_set_find(s, "c", "fr", NULL) == NULL); /* en-GB is not 'en' */
    t = template_set_find(s, "c", "en-GB", &exact);
    CHECK(t && exact);
    CHECK(template_set_find(s, "nope", "en", NULL) == NULL);
    template_set_free(s);
    diags_release(&d);
}

static void test_money_dates(void)
{
    char b[64];
    const struct {
        int64_t minor;
        const char *cur, *loc, *want;
    } m[] = {
        { 123456, "EUR", "es", "1.234,56 €" },       { 123456, "USD", "en-US", "$1,234.56" },
        { 123456, "GBP", "en-GB", "£1,234.56" },     { 123456, "EUR", "en", "€1,234.56" },
        { 123456, "USD", "es-US", "1.234,56 US$" },  { 5, "EUR", "es-ES", "0,05 €" },
        { 100000000, "EUR", "es", "1.000.000,00 €" }, { -2550, "GBP", "en", "-£25.50" },
        { 1234, "JPY", "en", "JPY 1,234" },           { 123456, "EUR", "de", "1.234,56 €" },
        { 99, "EUR", NULL, "€0.99" },                 { 123456, "EUR", "xx", "€1,234.56" },
    };
    for (size_t i = 0; i < ELEMENTSOF(m); i++) {
        CHECK_INT(template_format_amount(m[i].minor, m[i].cur, m[i].loc, b, sizeof(b)), 0);
        CHECK_STR(b, m[i].want);
    }
    CHECK_INT(template_format_amount(123456, "EUR", "es", b, 5), -ENOBUFS);
    int32_t day = days_from_civil(2026, 12, 31), day2 = days_from_civil(2027, 3, 5);
    CHECK_INT(template_format_date(day, "es", b, sizeof(b)), 0);
    CHECK_STR(b, "31/12/2026");
    CHECK_INT(template_format_date(day, "en-US", b, sizeof(b)), 0);
    CHECK_STR(b, "12/31/2026");
    CHECK_INT(template_format_date(day2, "en-GB", b, sizeof(b)), 0);
    CHECK_STR(b, "05/03/2027");
    CHECK_INT(template_format_date(day2, "de-DE", b, sizeof(b)), 0);
    CHECK_STR(b, "05.03.2027");
}

static void sms(const char *s, bool ucs2, size_t units, int segments)
{
    struct sms_count c;
    template_sms_count(s, strlen(s), &c);
    CHECK_INT(c.ucs2, ucs2);
    CHECK_INT(c.units, units);
    CHECK_INT(c.segments, segments);
    if (c.ucs2 != ucs2 || c.units != units || c.segments != segments)
        fprintf(stderr, "    for '%.40s...'\n", s);
}

static char *rep(const char *unit, size_t n)
{
    size_t k = strlen(unit);
    char *s = malloc(k * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * k, unit, k);
    s[k * n] = 0;
    return s;
}

static void test_segments(void)
{
    const struct {
        const char *unit;
        size_t n;
        bool ucs2;
        size_t units;
        int segments;
    } v[] = {
        { "a", 160, false, 160, 1 }, { "a", 161, false, 161, 2 }, { "a", 306, false, 306, 2 },
        { "a", 307, false, 307, 3 }, { "ñ", 160, false, 160, 1 }, /* ñ is in GSM-7 */
        { "€", 80, false, 160, 1 },  /* the extension table: two septets */
        { "[", 81, false, 162, 2 },  { "á", 70, true, 70, 1 },    /* á is not */
        { "á", 71, true, 71, 2 },    { "á", 134, true, 134, 2 },  { "á", 135, true, 135, 3 },
        { "😀", 35, true, 70, 1 },   /* outside the BMP: a surrogate pair */
        { "`", 1, true, 1, 1 },
    };
    for (size_t i = 0; i < ELEMENTSOF(v); i++) {
        char *s = rep(v[i].unit, v[i].n);
        sms(s, v[i].ucs2, v[i].units, v[i].segments);
        free(s);
    }
    sms("", false, 0, 1);
    sms("Pague o cambie la fecha: ¿sí?", true, 29, 1);
    sms("Pague o cambie la fecha: ¿ya?", false, 29, 1);
}

static void test_render(void)
{
    struct diags d = DIAGS_INIT;
    const char *files[] = {
        "t/m.txt",
        "Subject: For {{ name }}\n\nHi {{name}}, {{amount}} {{nope_not_a_var}\n--- html ---\n"
        "<a href=\"{{pay_link}}\">{{name}}</a>",
    };
    /* a malformed placeholder is an error: the file is refused */
    struct template_set *s = template_set_new("en");
    CHECK_INT(template_set_add(s, files[0], files[1], strlen(files[1]), &d), -EINVAL);
    template_set_free(s);
    diags_release(&d);

    const char *good[] = {
        "t/m.txt",
        "Subject: For {{ name }}\n\nHi {{name}}, {{amount}} {{due_date}}\n--- html ---\n"
        "<a href=\"{{pay_link}}\">{{name}}</a>",
    };
    s = set_of(good, 2, &d);
    const struct template *t = template_set_find(s, "m", NULL, NULL);
    struct template_vars v = { { NULL } };
    v.v[TPL_NAME] = "Ana <b>&\"\nx";
    v.v[TPL_AMOUNT] = "1.234,56 €";
    v.v[TPL_PAY_LINK] = "https://p.example/s/v1.k.a.b?x=1&y=2";
    struct template_parts p;
    CHECK_INT(template_render(t, &v, &p), 0);
    CHECK_STR(p.subject, "For Ana <b>&\" x"); /* no line break in a subject */
    CHECK_STR(p.text, "Hi Ana <b>&\"\nx, 1.234,56 € "); /* NULL renders empty */
    CHECK_STR(p.html, "<a href=\"https://p.example/s/v1.k.a.b?x=1&amp;y=2\">Ana &lt;b&gt;&amp;"
                      "&quot;\nx</a>");
    template_parts_release(&p);
    template_set_free(s);
    diags_release(&d);
}

/* What the worker does: a job's inputs, a locale, signed links, days past due. */
static void test_render_job(void)
{
    struct diags d = DIAGS_INIT;
    const char *files[] = {
        "t/early-sms.es.txt",
        "{{creditor}}: {{name}}, {{amount}} vencia el {{due_date}} ({{days_past_due}} dias). "
        "{{pay_link}}",
        "t/early-sms.en.txt", "{{name}}, {{amount}} was due on {{due_date}}. {{opt_out_link}}",
    };
    struct template_set *s = set_of(files, ELEMENTSOF(files), &d);
    struct link_conf *lc = link_conf_new();
    CHECK_INT(link_conf_add_key(lc, "k1", "0123456789abcdef0123456789abcdef", 32), 0);
    CHECK_INT(link_conf_set_base_url(lc, "https://pay.example.com"), 0);
    const char *in = "{\"name\":\"Lucía\",\"locale\":\"es-ES\",\"amount\":\"1234.5\","
                     "\"currency\":\"EUR\",\"due_date\":\"2026-12-01\",\"tier\":\"t\"}";
    struct job j = { .attempt_id = 77, .debtor_id = "D9", .template_name = "early-sms",
                     .inputs_json = (char *)in, .inputs_json_len = strlen(in),
                     .time_zone = "Europe/Madrid" };
    /* 2026-12-11 23:30 UTC: already the 12th in Madrid */
    struct template_ctx ctx = { .links = lc, .now = 1797031800, .default_currency = "EUR",
                                .creditor = "Banco Ejemplo" };
    struct tz_cache *tzc = tz_cache_new();
    ctx.tz = tzc;
    struct template_parts p;
    const struct template *used = NULL;
    CHECK_INT(template_render_job(s, &j, &ctx, &p, &used), 0);
    CHECK(used && streq(used->locale, "es"));
    const char *want = "Banco Ejemplo: Lucía, 1.234,50 € vencia el 01/12/2026 (11 dias). "
                       "https://pay.example.com/s/";
    CHECK(p.text && strncmp(p.text, want, strlen(want)) == 0);
    if (p.text && strncmp(p.text, want, strlen(want)) != 0)
        fprintf(stderr, "    got '%s'\n", p.text);
    if (p.text && strlen(p.text) > strlen(want)) {
        const char *tok = p.text + strlen(want);
        struct link_claims cl;
        CHECK_INT(link_verify(lc, tok, strlen(tok), ctx.now, &cl), 0);
        CHECK_INT(cl.action, LINK_PAY);
        CHECK_INT(cl.attempt_id, 77);
        CHECK_STR(cl.debtor_id, "D9");
        CHECK_INT(cl.expires, ctx.now + 30 * 86400);
    }
    template_parts_release(&p);
    /* in UTC it is still the 11th: 10 days */
    ctx.tz = NULL;
    CHECK_INT(template_render_job(s, &j, &ctx, &p, NULL), 0);
    CHECK(p.text && strstr(p.text, "(10 dias)"));
    template_parts_release(&p);

    /* another locale falls back to the default 'en'; US formats need en-US */
    const char *in2 = "{\"name\":\"Bo\",\"locale\":\"en-US\",\"amount\":\"10\",\"currency\":"
                      "\"USD\",\"due_date\":\"2026-12-01\"}";
    j.inputs_json = (char *)in2;
    j.inputs_json_len = strlen(in2);
    CHECK_INT(template_render_job(s, &j, &ctx, &p, &used), 0);
    CHECK(p.text && strncmp(p.text, "Bo, $10.00 was due on 12/01/2026. https://pay.example.com/s/"
                            "v1.k1.", 66) == 0);
    template_parts_release(&p);

    /* bad inputs and unknown templates */
    j.inputs_json = (char *)"{\"amount\":\"12,50\"}";
    j.inputs_json_len = strlen(j.inputs_json);
    CHECK_INT(template_render_job(s, &j, &ctx, &p, NULL), -EINVAL);
    j.inputs_json = (char *)"[1]";
    j.inputs_json_len = 3;
    CHECK_INT(template_render_job(s, &j, &ctx, &p, NULL), -EINVAL);
    j.inputs_json = (char *)in2;
    j.inputs_json_len = strlen(in2);
    j.template_name = "nope";
    CHECK_INT(template_render_job(s, &j, &ctx, &p, NULL), -ENOENT);

    tz_cache_free(tzc);
    link_conf_free(lc);
    template_set_free(s);
    diags_release(&d);
}

TEST_MAIN({ "format", test_format }, { "fallback", test_fallback },
          { "money-dates", test_money_dates }, { "segments", test_segments },
          { "render", test_render }, { "render-job", test_render_job })
