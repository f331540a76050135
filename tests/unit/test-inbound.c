/*
 * test-inbound.c - the `inbound:` section, the stop-word rule and the
 * sender's number (inbound.h).  What the store writer does with a message
 * is tested end to end in tests/integration/webhooks.sh.
 */
#include <errno.h>
#include <string.h>

#include "diag.h"
#include "inbound.h"
#include "testlib.h"
#include "ynode.h"

/* Load an `inbound:` node from YAML text; *ret_errors: the diagnostics, joined. */
static int load(const char *yaml, struct inbound_conf **ret, char *errs, size_t max)
{
    struct ydoc *doc = NULL;
    struct diags d = DIAGS_INIT;
    int r = ydoc_parse("c.yaml", yaml, strlen(yaml), &doc, &d);
    CHECK_INT(r, 0);
    r = inbound_conf_load(doc ? ynode_get(doc->root, "inbound") : NULL, ret, &d);
    errs[0] = 0;
    for (size_t i = 0; i < d.n; i++)
        snprintf(errs + strlen(errs), max - strlen(errs), "%s%d:%d: %s", i ? "\n" : "",
                 d.v[i].line, d.v[i].col, d.v[i].msg);
    ydoc_free(doc);
    diags_release(&d);
    return r;
}

static enum inbound_class cls(const struct inbound_conf *c, const char *s)
{
    return inbound_classify(c, s, strlen(s));
}

static void test_rule(void)
{
    struct inbound_conf *c = NULL;
    struct diags d = DIAGS_INIT;
    CHECK_INT(inbound_conf_load(NULL, &c, &d), 0);
    CHECK_STR(c->confirmation_template, "opt-out-confirmation");
    /* the whole message, trimmed and folded */
    static const char *const stops[] = {
        "STOP", "stop", "Stop", " STOP! ", "stop.", "\"Stop\"", "STOP ALL", "stopall",
        "opt out", "Opt-Out.", "OPTOUT", "opt_out", "Unsubscribe", "cancel", "END", "quit",
        "Revoke", "baja", "BAJA", "¡Baja!", "Parar", "¿parar?", "\tstop\r\n",
    };
    for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
        if (cls(c, stops[i]) != INBOUND_STOP) {
            fprintf(stderr, "not a stop: '%s'\n", stops[i]);
            test_failures++;
        }
    /* a stop word in a longer text: a reply, flagged */
    CHECK_INT(cls(c, "stop please"), INBOUND_MAYBE_STOP);
    CHECK_INT(cls(c, "please stop calling me at work"), INBOUND_MAYBE_STOP);
    CHECK_INT(cls(c, "I want to opt out now"), INBOUND_MAYBE_STOP);
    CHECK_INT(cls(c, "I'll pay at the end of the month"), INBOUND_MAYBE_STOP);
    /* no stop word: a reply */
    CHECK_INT(cls(c, "I will pay on Friday"), INBOUND_REPLY);
    CHECK_INT(cls(c, "stopped"), INBOUND_REPLY); /* words, not prefixes */
    CHECK_INT(cls(c, "bajamos"), INBOUND_REPLY);
    CHECK_INT(cls(c, ""), INBOUND_REPLY);
    CHECK_INT(cls(c, "   ...  "), INBOUND_REPLY);
    CHECK_INT(cls(c, "S T O P"), INBOUND_STOP); /* spaces are folded away */
    CHECK_INT(inbound_classify(NULL, "STOP", 4), INBOUND_REPLY);
    /* a long text never overflows the folding buffers */
    char big[5000];
    memset(big, 's', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    CHECK_INT(cls(c, big), INBOUND_REPLY);
    inbound_conf_free(c);
    diags_release(&d);
}

static void test_fold(void)
{
    char out[64];
    CHECK_INT(inbound_fold("Opt-Out", 7, out, sizeof(out)), 6);
    CHECK_STR(out, "optout");
    /* Latin-1 capitals fold: "CANCELACIÓN" */
    CHECK(inbound_fold("CANCELACI\xc3\x93N", 12, out, sizeof(out)) > 0);
    CHECK_STR(out, "cancelaci\xc3\xb3n");
    CHECK_INT(inbound_fold("abcdef", 6, out, 4), -E2BIG);
}

static void test_conf(void)
{
    struct inbound_conf *c = NULL;
    char e[1024];
    /* a locale listed replaces its built-in list; others stay */
    CHECK_INT(load("inbound:\n  stop_words:\n    en: [HALT]\n    fr: [ARRET, \"Arrêt\"]\n"
                   "  confirmation_template: bye\n", &c, e, sizeof(e)), 0);
    CHECK_STR(e, "");
    CHECK_INT(cls(c, "halt"), INBOUND_STOP);
    CHECK_INT(cls(c, "STOP"), INBOUND_REPLY);     /* en replaced */
    CHECK_INT(cls(c, "baja"), INBOUND_STOP);      /* es stays */
    CHECK_INT(cls(c, "arrêt"), INBOUND_STOP);
    CHECK_INT(cls(c, "ARRÊT"), INBOUND_STOP);
    CHECK_STR(c->confirmation_template, "bye");
    inbound_conf_free(c);
    c = NULL;
    /* no confirmation */
    CHECK_INT(load("inbound:\n  confirmation_template: ~\n", &c, e, sizeof(e)), 0);
    CHECK(c && !c->confirmation_template);
    CHECK_INT(cls(c, "STOP"), INBOUND_STOP);
    inbound_conf_free(c);
    c = NULL;
    /* every problem, at its place */
    CHECK_INT(load("inbound:\n  stop_words:\n    english: [STOP]\n    es: [\"--\", BAJA]\n"
                   "    en: STOP\n  confirmation_templat: x\n", &c, e, sizeof(e)), -EINVAL);
    CHECK(c == NULL);
    CHECK_STR(e, "6:3: unknown key 'confirmation_templat' in inbound; did you mean "
                 "'confirmation_template'?\n"
                 "3:5: inbound.stop_words: 'english' is not a locale (expected a language like "
                 "'es' or 'en-GB')\n"
                 "4:10: inbound.stop_words.es: '--' is not a stop word (1 to 64 bytes, not only "
                 "spaces, '-' or '_')\n"
                 "5:9: 'inbound.stop_words' must be a sequence, not a scalar");
}

static void test_sender(void)
{
    char out[PHONE_E164_MAX];
    CHECK_INT(inbound_sender("+34600000101", 12, false, NULL, out), 0);
    CHECK_STR(out, "+34600000101");
    CHECK_INT(inbound_sender("0034 600 000 101", 16, false, NULL, out), 0);
    CHECK_STR(out, "+34600000101");
    /* WhatsApp's wa_id: international digits */
    CHECK_INT(inbound_sender("16505551234", 11, true, NULL, out), 0);
    CHECK_STR(out, "+16505551234");
    /* Kannel's %p: national in the default country first, else international */
    CHECK_INT(inbound_sender("600000101", 9, false, "ES", out), 0);
    CHECK_STR(out, "+34600000101");
    CHECK_INT(inbound_sender("34600000101", 11, false, "US", out), 0);
    CHECK_STR(out, "+34600000101");
    CHECK_INT(inbound_sender("(650) 555-1234", 14, false, "US", out), 0);
    CHECK_STR(out, "+16505551234");
    /* not numbers */
    CHECK_INT(inbound_sender("ACME", 4, false, "US", out), -EINVAL);
    CHECK_INT(inbound_sender("+1", 2, false, NULL, out), -EINVAL);
    CHECK_INT(inbound_sender("", 0, false, NULL, out), -EINVAL);
    CHECK_INT(inbound_sender("12+34", 5, false, NULL, out), -EINVAL);
    CHECK_INT(inbound_sender("123456789012345678901234567890123456789", 39, false, NULL, out),
              -EINVAL);
}

TEST_MAIN({ "rule", test_rule }, { "fold", test_fold }, { "conf", test_conf },
          { "sender", test_sender })
