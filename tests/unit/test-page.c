/*
 * test-page.c - the self-service page's pure parts (page.c): HTML
 * escaping (nothing given reaches the page raw), money and dates per
 * language, masked addresses and references, Accept-Language, the form
 * token (CSRF: made, checked, tampered, stale, of another link or key),
 * the `selfservice:` section with its diagnostics, and the pages
 * themselves: what they show and offer, in Spanish and English.
 */
#include <errno.h>
#include <string.h>

#include "diag.h"
#include "page.h"
#include "prefs.h"
#include "testlib.h"
#include "util.h"
#include "ynode.h"

static void test_escape(void)
{
    struct sbuf b = SBUF_INIT;
    const char s[] = "<a href=\"x\">Tom & 'Jerry'</a>";
    CHECK_INT(page_escape(&b, s, strlen(s)), 0);
    CHECK_STR(sbuf_cstr(&b), "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
    sbuf_reset(&b);
    CHECK_INT(page_escape(&b, "plain ñandú", strlen("plain ñandú")), 0);
    CHECK_STR(sbuf_cstr(&b), "plain ñandú");
    sbuf_reset(&b);
    CHECK_INT(page_escape(&b, "", 0), 0);
    CHECK_INT(b.len, 0);
    sbuf_release(&b);
}

static void test_money_and_dates(void)
{
    char buf[64];
    CHECK_INT(page_format_amount(PAGE_ES, 123456, "EUR", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "1.234,56\xc2\xa0€"); /* a no-break space before the symbol */
    CHECK_INT(page_format_amount(PAGE_EN, 123456, "EUR", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "€1,234.56");
    CHECK_INT(page_format_amount(PAGE_EN, 574347, "GBP", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "£5,743.47");
    CHECK_INT(page_format_amount(PAGE_ES, 1200, "JPY", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "1.200\xc2\xa0JPY");
    CHECK_INT(page_format_amount(PAGE_EN, 5, "USD", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "$0.05");
    CHECK(page_format_amount(PAGE_EN, 123456, "EUR", buf, 4) == -ENOBUFS);
    int32_t day = days_from_civil(2026, 12, 20);
    page_format_date(PAGE_ES, day, buf, sizeof(buf));
    CHECK_STR(buf, "20 de diciembre de 2026");
    page_format_date(PAGE_EN, day, buf, sizeof(buf));
    CHECK_STR(buf, "20 December 2026");
    page_format_date(PAGE_ES, days_from_civil(2027, 1, 5), buf, sizeof(buf));
    CHECK_STR(buf, "5 de enero de 2027");
}

static void test_masks(void)
{
    char buf[64];
    page_mask_email("maria.ruiz@example.com", buf, sizeof(buf));
    CHECK_STR(buf, "m•••@example.com");
    page_mask_email("ñ@x.es", buf, sizeof(buf));
    CHECK_STR(buf, "ñ•••@x.es");
    page_mask_email("not-an-address", buf, sizeof(buf));
    CHECK_STR(buf, "•••");
    page_mask_email(NULL, buf, sizeof(buf));
    CHECK_STR(buf, "•••");
    page_mask_phone("+34616909649", buf, sizeof(buf));
    CHECK_STR(buf, "••• ••• 649");
    page_mask_phone("+1", buf, sizeof(buf));
    CHECK_STR(buf, "•••");
    page_mask_ref("ES9121000418450200051332", buf, sizeof(buf));
    CHECK_STR(buf, "••••1332");
    page_mask_ref("D12", buf, sizeof(buf));
    CHECK_STR(buf, "••••");
}

static void test_languages(void)
{
    CHECK_INT(page_lang_from_locale("es-ES", PAGE_EN), PAGE_ES);
    CHECK_INT(page_lang_from_locale("es", PAGE_EN), PAGE_ES);
    CHECK_INT(page_lang_from_locale("en-GB", PAGE_ES), PAGE_EN);
    CHECK_INT(page_lang_from_locale("fr-FR", PAGE_ES), PAGE_ES);
    CHECK_INT(page_lang_from_locale("esperanto", PAGE_EN), PAGE_EN);
    CHECK_INT(page_lang_from_locale(NULL, PAGE_ES), PAGE_ES);
    CHECK_INT(page_lang_accept("fr-FR,fr;q=0.9,es;q=0.8,en;q=0.5", PAGE_EN), PAGE_ES);
    CHECK_INT(page_lang_accept("en-US,en;q=0.9", PAGE_ES), PAGE_EN);
    CHECK_INT(page_lang_accept("es;q=0, en", PAGE_ES), PAGE_EN);
    CHECK_INT(page_lang_accept("de, *;q=0.1", PAGE_ES), PAGE_ES);
    CHECK_INT(page_lang_accept(NULL, PAGE_EN), PAGE_EN);
    CHECK_INT(page_lang_accept(",,;;,", PAGE_EN), PAGE_EN);
    CHECK_STR(page_lang_code(PAGE_ES), "es");
}

static const char key[] = "form-key-0123456789abcdef-0123456789";
static const char tok[] = "v1.k1.AAAA.sig";

static void test_form_token(void)
{
    uint8_t nonce[PAGE_NONCE_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 }, got[PAGE_NONCE_LEN];
    char ft[PAGE_FORM_TOKEN_MAX];
    int64_t now = 1796500000;
    CHECK_INT(page_form_token(key, sizeof(key) - 1, tok, now, nonce, ft, sizeof(ft)), 0);
    CHECK_INT(strlen(ft), 43);
    CHECK_INT(page_form_token_check(key, sizeof(key) - 1, tok, ft, now + 10, 7200, got), 0);
    CHECK(memcmp(got, nonce, sizeof(nonce)) == 0);
    /* stale, and from the future */
    CHECK_INT(page_form_token_check(key, sizeof(key) - 1, tok, ft, now + 7201, 7200, got), -ETIME);
    CHECK_INT(page_form_token_check(key, sizeof(key) - 1, tok, ft, now - 61, 7200, got), -ETIME);
    /* another link, another key */
    CHECK_INT(page_form_token_check(key, sizeof(key) - 1, "v1.k1.AAAB.sig", ft, now, 7200, got),
              -EBADMSG);
    CHECK_INT(page_form_token_check("another-key-0123456789abcdef-0123", 33, tok, ft, now, 7200,
                                    got),
              -EBADMSG);
    /* every single character changed */
    for (size_t i = 0; i < strlen(ft); i++) {
        char t[PAGE_FORM_TOKEN_MAX];
        memcpy(t, ft, sizeof(t));
        t[i] = t[i] == 'A' ? 'B' : 'A';
        if (page_form_token_check(key, sizeof(key) - 1, tok, t, now, 7200, got) == 0) {
            fprintf(stderr, "a form token changed at %zu still checks\n", i);
            test_failures++;
        }
    }
    /* an issue time moved by hand: the MAC does not match */
    char t2[PAGE_FORM_TOKEN_MAX];
    CHECK_INT(page_form_token(key, sizeof(key) - 1, tok, now - 100000, nonce, t2, sizeof(t2)), 0);
    memcpy(t2 + 11, ft + 11, strlen(ft) - 11); /* old time, new nonce and MAC */
    CHECK_INT(page_form_token_check(key, sizeof(key) - 1, tok, t2, now, 7200, got), -EBADMSG);
    CHECK_INT(page_form_token_check(key, sizeof(key) - 1, tok, "", now, 7200, got), -EBADMSG);
    CHECK_INT(page_form_token_check(key, sizeof(key) - 1, tok, NULL, now, 7200, got), -EBADMSG);
    CHECK_INT(page_form_token_check(key, sizeof(key) - 1, tok, "!!!", now, 7200, got), -EBADMSG);
    CHECK_INT(page_form_token(key, sizeof(key) - 1, tok, now, nonce, ft, 10), -ENOBUFS);
}

static struct page_conf *load(const char *yaml, struct diags *d)
{
    struct ydoc *doc = NULL;
    struct page_conf *c = NULL;
    if (ydoc_parse("cadenza.yaml", yaml, strlen(yaml), &doc, d) < 0)
        return NULL;
    if (page_conf_load(ynode_get(doc->root, "selfservice"), &c, d) < 0)
        c = NULL;
    ydoc_free(doc);
    return c;
}

static void test_conf(void)
{
    struct diags d = DIAGS_INIT;
    struct page_conf *c = load("selfservice:\n"
                               "  pay_url: \"https://pay.acme.example/p?ref={token}\"\n"
                               "  rate_limit: { per_address: 600, per_token: 0 }\n"
                               "  form_ttl: 30m\n",
                               &d);
    CHECK(c != NULL);
    if (c) {
        CHECK(!c->creditor); /* business.creditor, set by config.c */
        CHECK_STR(c->pay_url, "https://pay.acme.example/p?ref={token}");
        CHECK_INT(c->per_address, 600);
        CHECK_INT(c->per_token, 0);
        CHECK_INT(c->form_ttl, 1800);
    }
    page_conf_free(c);
    diags_release(&d);
    c = page_conf_new();
    CHECK(c && c->per_address == PAGE_CONF_PER_ADDRESS && c->per_token == PAGE_CONF_PER_TOKEN &&
          c->form_ttl == PAGE_CONF_FORM_TTL && !c->pay_url);
    page_conf_free(c);

    d = (struct diags)DIAGS_INIT;
    c = load("selfservice:\n"
             "  pay_url: https://pay.acme.example/checkout\n"
             "  form_ttl: 10s\n"
             "  rate_limit: { per_adress: 5 }\n"
             "  creditorr: x\n"
             "  support_phone: \"+1 555 0100\"\n",
             &d);
    CHECK(c == NULL);
    struct sbuf out = SBUF_INIT;
    FILE *f = open_memstream(&out.buf, &out.len);
    diags_sort(&d);
    diags_print(&d, f);
    fclose(f);
    const char *s = out.buf ? out.buf : "";
    CHECK(strstr(s, "cadenza.yaml:2:12: error: 'pay_url' must be an https:// URL holding "
                    "'{token}'") != NULL);
    CHECK(strstr(s, "cadenza.yaml:3:13: error: 'form_ttl' must be a duration from 60s to 7d") !=
          NULL);
    CHECK(strstr(s, "unknown key 'per_adress'") != NULL);
    CHECK(strstr(s, "unknown key 'creditorr'") != NULL);
    CHECK(strstr(s, "cadenza.yaml:6:18: error: 'support_phone' is set as 'business.agent_phone' "
                    "(the messages and the page name the same)") != NULL);
    if (test_failures)
        fprintf(stderr, "%s", s);
    free(out.buf);
    diags_release(&d);
}

/* a page with everything on it */
static void view_init(struct page_view *v, enum page_lang l, const struct prefs *p)
{
    memset(v, 0, sizeof(*v));
    v->lang = l;
    v->creditor = "Acme <Finance> & Co";
    v->support_phone = "+34 910 000 000";
    v->name = "María \"<script>alert(1)</script>\"";
    v->reference = "ES9121000418450200051332";
    v->email = "maria.ruiz@example.com";
    v->phone = "+34616909649";
    v->kinds = 0x0b; /* email, sms, call */
    v->currency = "EUR";
    v->balance_minor = 99288;
    v->today = days_from_civil(2026, 12, 6);
    v->due_date = days_from_civil(2026, 11, 5);
    v->pay_url = "https://pay.acme.example/p?ref=v1.k1.A&B";
    v->can_promise = true;
    v->promise_max = v->today + 14;
    v->can_plan = true;
    v->plan_max_n = 3;
    v->plan_first_max = v->today + 30;
    v->commit_code = -1;
    v->prefs = p;
    v->form_token = "FORMTOKEN\"x";
}

static void test_main_page(void)
{
    struct prefs p;
    prefs_init(&p);
    struct page_view v;
    struct sbuf b = SBUF_INIT;
    view_init(&v, PAGE_ES, &p);
    CHECK_INT(page_render_main(&v, &b), 0);
    const char *h = sbuf_cstr(&b);
    CHECK(strstr(h, "<html lang=\"es\">") != NULL);
    CHECK(strstr(h, "<title>Acme &lt;Finance&gt; &amp; Co: su cuenta</title>") != NULL);
    CHECK(strstr(h, "Hola, María &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;") != NULL);
    CHECK(strstr(h, "<script") == NULL); /* invariant 1: nothing given reaches it raw */
    CHECK(strstr(h, "992,88\xc2\xa0€") != NULL);
    CHECK(strstr(h, "5 de noviembre de 2026") != NULL);
    CHECK(strstr(h, "<dd>31</dd>") != NULL); /* days overdue */
    /* invariant 2: masked only */
    CHECK(strstr(h, "••••1332") && !strstr(h, "ES9121000418450200051332"));
    CHECK(strstr(h, "m•••@example.com") && !strstr(h, "maria.ruiz@"));
    CHECK(strstr(h, "••• ••• 649") && !strstr(h, "616909649"));
    CHECK(strstr(h, "href=\"https://pay.acme.example/p?ref=v1.k1.A&amp;B\"") != NULL);
    CHECK(strstr(h, "value=\"FORMTOKEN&quot;x\"") != NULL);
    CHECK(strstr(h, "name=\"action\" value=\"promise\"") != NULL);
    CHECK(strstr(h, "min=\"2026-12-07\" max=\"2026-12-20\"") != NULL);
    CHECK(strstr(h, "Cualquier día hasta el 20 de diciembre de 2026.") != NULL);
    CHECK(strstr(h, "<option value=\"3\">3 pagos de unos 330,96\xc2\xa0€</option>") != NULL);
    CHECK(strstr(h, ">4 pagos") == NULL); /* plan_max_n */
    CHECK(strstr(h, "name=\"action\" value=\"move\"") == NULL); /* not offered */
    CHECK(strstr(h, "value=\"chat\"") == NULL);                /* no chat address */
    CHECK(strstr(h, "No reconozco esta deuda") != NULL);
    CHECK(strstr(h, "¿Dudas? Llámenos al +34 910 000 000.") != NULL);
    /* every input has a label: the ids the labels name exist */
    const char *ids[] = { "promise-date", "plan-n", "plan-first", "prefs-lang", "f-who",
                          "f-days", "f-from", "f-to", "p-from", "p-to", "dispute-reason" };
    for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
        char want[64];
        snprintf(want, sizeof(want), "<label for=\"%s\">", ids[i]);
        CHECK(strstr(h, want) != NULL);
        snprintf(want, sizeof(want), "id=\"%s\"", ids[i]);
        CHECK(strstr(h, want) != NULL);
    }

    /* English; a promise made with this link: no more one-shot forms */
    sbuf_reset(&b);
    view_init(&v, PAGE_EN, &p);
    v.commit_code = 8;
    v.commit_date = days_from_civil(2026, 12, 15);
    v.commit_amount = 99288;
    v.quiet_until = days_from_civil(2026, 12, 19);
    CHECK_INT(page_render_main(&v, &b), 0);
    h = sbuf_cstr(&b);
    CHECK(strstr(h, "<html lang=\"en\">") != NULL);
    CHECK(strstr(h, "With this link you promised to pay €992.88 by 15 December 2026.") != NULL);
    CHECK(strstr(h, "We will not contact you before 19 December 2026.") != NULL);
    CHECK(strstr(h, "value=\"promise\"") == NULL && strstr(h, "value=\"plan\"") == NULL);
    CHECK(strstr(h, "value=\"prefs\"") != NULL && strstr(h, "value=\"opt_out\"") != NULL);

    /* collection stopped: no pay button, no offers; disputed: no dispute form */
    sbuf_reset(&b);
    view_init(&v, PAGE_EN, &p);
    v.collection_stopped = v.disputed = true;
    CHECK_INT(page_render_main(&v, &b), 0);
    h = sbuf_cstr(&b);
    CHECK(strstr(h, "pay.acme.example") == NULL && strstr(h, "value=\"promise\"") == NULL);
    CHECK(strstr(h, "value=\"dispute\"") == NULL);
    CHECK(strstr(h, "Collection is on hold while your dispute is reviewed.") != NULL);

    /* an error for the last POST: an alert the screen reader announces */
    sbuf_reset(&b);
    view_init(&v, PAGE_ES, &p);
    v.error = "Elija <una> fecha";
    CHECK_INT(page_render_main(&v, &b), 0);
    CHECK(strstr(sbuf_cstr(&b), "role=\"alert\"") != NULL);
    CHECK(strstr(sbuf_cstr(&b), "Elija &lt;una&gt; fecha") != NULL);
    sbuf_release(&b);
}

static void test_done_pages(void)
{
    struct prefs p;
    prefs_init(&p);
    CHECK_INT(prefs_ranges_parse("call Mon-Fri 00:00-18:00; all Sat,Sun 00:00-24:00; "
                                 "sms,email daily 21:00-24:00; all Wed 12:00-14:00",
                                 true, p.forbid, &p.nforbid),
              0);
    CHECK_INT(prefs_ranges_parse("daily 18:00-21:00", false, p.prefer, &p.nprefer), 0);
    p.human = 1;
    p.channel = 1;
    snprintf(p.language, sizeof(p.language), "es");
    struct page_done d = { .lang = PAGE_EN, .kind = PAGE_DONE_PREFS, .prefs = &p,
                           .back_url = "/s/v1.x" };
    struct sbuf b = SBUF_INIT;
    CHECK_INT(page_render_done(&d, &b), 0);
    const char *h = sbuf_cstr(&b);
    CHECK(strstr(h, "Your preferences are saved.") != NULL);
    CHECK(strstr(h, "<li>We will not call you before 18:00 on weekdays.</li>") != NULL);
    CHECK(strstr(h, "<li>We will not contact you at weekends.</li>") != NULL);
    CHECK(strstr(h, "<li>We will not contact you by e-mail, text message (SMS) after 21:00.</li>") !=
          NULL);
    CHECK(strstr(h, "<li>We will not contact you between 12:00 and 14:00 on Wednesdays.</li>") !=
          NULL);
    CHECK(strstr(h, "A person will call you instead of automated messages") != NULL);
    CHECK(strstr(h, "We will contact you preferably by text message (SMS).") != NULL);
    CHECK(strstr(h, "We will try to reach you between 18:00 and 21:00.") != NULL);
    CHECK(strstr(h, "We will write to you in Spanish.") != NULL);
    CHECK(strstr(h, "href=\"/s/v1.x\"") != NULL);
    sbuf_reset(&b);
    d.lang = PAGE_ES;
    CHECK_INT(page_render_done(&d, &b), 0);
    h = sbuf_cstr(&b);
    CHECK(strstr(h, "<li>No le llamaremos antes de las 18:00 los días laborables.</li>") != NULL);
    CHECK(strstr(h, "<li>No le contactaremos los fines de semana.</li>") != NULL);
    CHECK(strstr(h, "<li>No le contactaremos entre las 12:00 y las 14:00 los miércoles.</li>") !=
          NULL);
    CHECK(strstr(h, "Le escribiremos en español.") != NULL);

    /* a promise: what happens next */
    sbuf_reset(&b);
    d = (struct page_done){ .lang = PAGE_ES, .kind = PAGE_DONE_PROMISE,
                            .date = days_from_civil(2026, 12, 15), .amount_minor = 99288,
                            .currency = "EUR", .quiet_until = days_from_civil(2026, 12, 19) };
    CHECK_INT(page_render_done(&d, &b), 0);
    h = sbuf_cstr(&b);
    CHECK(strstr(h, "Se ha comprometido a pagar 992,88\xc2\xa0€ antes del 15 de diciembre de "
                    "2026.") != NULL);
    CHECK(strstr(h, "No le contactaremos antes del 19 de diciembre de 2026.") != NULL);
    /* a plan: its table */
    sbuf_reset(&b);
    struct plan_instalment inst[3];
    CHECK_INT(prefs_plan_schedule(99288, 3, days_from_civil(2026, 12, 20), inst), 0);
    d = (struct page_done){ .lang = PAGE_EN, .kind = PAGE_DONE_PLAN, .plan = inst, .plan_n = 3,
                            .currency = "EUR", .again = true };
    CHECK_INT(page_render_done(&d, &b), 0);
    h = sbuf_cstr(&b);
    CHECK(strstr(h, "<tr><td>20 February 2027</td><td>€330.96</td></tr>") != NULL);
    CHECK(strstr(h, "You had sent this already: nothing changed this time.") != NULL);
    CHECK(strstr(h, "<p></p>") == NULL);
    /* an opt-out */
    sbuf_reset(&b);
    d = (struct page_done){ .lang = PAGE_EN, .kind = PAGE_DONE_OPT_OUT, .kinds = 0x0a };
    CHECK_INT(page_render_done(&d, &b), 0);
    CHECK(strstr(sbuf_cstr(&b), "We will no longer contact you by text message (SMS), phone "
                                "call.") != NULL);
    sbuf_release(&b);
}

static void test_refusals(void)
{
    static const struct {
        enum page_refusal why;
        enum page_lang l;
        const char *h1;
    } want[] = {
        { PAGE_INVALID, PAGE_EN, "<h1>This link is not valid</h1>" },
        { PAGE_INVALID, PAGE_ES, "<h1>Este enlace no es válido</h1>" },
        { PAGE_EXPIRED, PAGE_ES, "<h1>Este enlace ha caducado</h1>" },
        { PAGE_USED, PAGE_EN, "<h1>This link has already been used</h1>" },
        { PAGE_FORM_EXPIRED, PAGE_ES, "<h1>Este formulario ha caducado</h1>" },
        { PAGE_TOO_MANY, PAGE_EN, "<h1>Too many requests</h1>" },
        { PAGE_UNAVAILABLE, PAGE_ES, "<h1>Ahora no podemos atender su solicitud</h1>" },
    };
    for (size_t i = 0; i < ELEMENTSOF(want); i++) {
        struct sbuf b = SBUF_INIT;
        CHECK_INT(page_render_refusal(want[i].l, want[i].why, "Acme", NULL, NULL, &b), 0);
        CHECK(strstr(sbuf_cstr(&b), want[i].h1) != NULL);
        /* every refusal says nothing changed */
        CHECK(strstr(sbuf_cstr(&b), want[i].l == PAGE_ES ? "No se ha cambiado nada"
                                                          : "Nothing was changed") != NULL);
        sbuf_release(&b);
    }
    const char *hash = page_css_hash();
    CHECK(strncmp(hash, "sha256-", 7) == 0 && strlen(hash) == 7 + 44);
}

TEST_MAIN({ "escape", test_escape }, { "money_and_dates", test_money_and_dates },
          { "masks", test_masks }, { "languages", test_languages },
          { "form_token", test_form_token }, { "conf", test_conf },
          { "main_page", test_main_page }, { "done_pages", test_done_pages },
          { "refusals", test_refusals })
