/*
 * test-api.c - the outcome API's signature check and body parsing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "diag.h"
#include "testlib.h"
#include "ynode.h"

static struct api_conf *conf(void)
{
    static const char yaml[] = "keys:\n  a: { secret_env: T_API_A }\n  b: { secret_env: T_API_B }\n";
    setenv("T_API_A", "0123456789abcdef0123456789abcdef", 1);
    setenv("T_API_B", "ffffffffffffffffffffffffffffffffffff", 1);
    struct ydoc *doc = NULL;
    struct diags d = DIAGS_INIT;
    struct api_conf *c = NULL;
    CHECK_INT(ydoc_parse("api.yaml", yaml, sizeof(yaml) - 1, &doc, &d), 0);
    CHECK_INT(api_conf_load(doc->root, NULL, &c, &d), 0);
    ydoc_free(doc);
    diags_release(&d);
    return c;
}

static void test_verify(void)
{
    struct api_conf *c = conf();
    const char *why;
    const char body[] = "{\"event_id\":\"e\"}";
    struct sbuf h = SBUF_INIT;
    CHECK_INT(api_sign(c, 1, body, sizeof(body) - 1, 1000000, &h), 0);
    CHECK_INT(api_verify(c, h.buf, body, sizeof(body) - 1, 1000000, &why), 0);
    CHECK_INT(api_verify(c, h.buf, body, sizeof(body) - 1, 1000299, &why), 0);
    CHECK_INT(api_verify(c, h.buf, body, sizeof(body) - 1, 1000301, &why), -EACCES);
    CHECK(strstr(why, "too far") != NULL);
    CHECK_INT(api_verify(c, h.buf, "{}", 2, 1000000, &why), -EACCES); /* another body */
    CHECK_STR(why, "no signature matches");
    /* a second v1 with the right value still verifies; truncation does not */
    struct sbuf two = SBUF_INIT;
    sbuf_addf(&two, "t=1000000,v1=%064d,%s", 0, strchr(h.buf, ',') + 1);
    CHECK_INT(api_verify(c, two.buf, body, sizeof(body) - 1, 1000000, &why), 0);
    h.buf[h.len - 1] = 0;
    CHECK_INT(api_verify(c, h.buf, body, sizeof(body) - 1, 1000000, &why), -EACCES);
    CHECK_INT(api_verify(c, NULL, body, sizeof(body) - 1, 1000000, &why), -EACCES);
    CHECK_INT(api_verify(c, "t=x1,v1=00", body, sizeof(body) - 1, 1000000, &why), -EACCES);
    sbuf_release(&h);
    sbuf_release(&two);
    api_conf_free(c);
}

static void test_parse(void)
{
    struct api_conf *c = conf();
    struct api_batch b;
    struct sbuf e = SBUF_INIT;
    const char one[] = "{\"event_id\":\"e1\",\"debtor_id\":\"D1\",\"outcome\":\"paid\","
                       "\"amount\":12.5,\"attempted_at\":\"2026-12-05T10:00:00Z\"}";
    CHECK_INT(api_parse_outcomes(c, one, sizeof(one) - 1, &b, &e), 0);
    CHECK_INT(b.n, 1);
    CHECK_STR(b.v[0].event_id, "e1");
    CHECK_INT(b.v[0].row.flen[INGEST_AMOUNT], 4); /* "12.5" */
    api_batch_release(&b);
    const char bad[] = "[{\"debtor_id\":\"D1\"},{\"event_id\":\"\",\"outcom\":\"x\"},3]";
    CHECK_INT(api_parse_outcomes(c, bad, sizeof(bad) - 1, &b, &e), -EINVAL);
    CHECK_STR(e.buf, "outcomes[0].event_id: missing (the idempotency key of the outcome); "
                     "outcomes[1].event_id: expected a string of 1 to 200 bytes; "
                     "outcomes[1]: unknown field 'outcom' (did you mean 'outcome'?); "
                     "outcomes[2]: expected an object");
    sbuf_reset(&e);
    CHECK_INT(api_parse_outcomes(c, "[", 1, &b, &e), -EBADMSG);
    sbuf_reset(&e);
    CHECK_INT(api_parse_outcomes(c, "[]", 2, &b, &e), -EINVAL);
    sbuf_release(&e);
    api_conf_free(c);
}

/* The operations endpoints' bearer token: alone in the section, compared whole. */
static void test_bearer(void)
{
    static const char yaml[] = "bearer_token_env: T_API_BEARER\n";
    setenv("T_API_BEARER", "ops-0123456789abcdef", 1);
    struct ydoc *doc = NULL;
    struct diags d = DIAGS_INIT;
    struct api_conf *c = NULL;
    CHECK_INT(ydoc_parse("api.yaml", yaml, sizeof(yaml) - 1, &doc, &d), 0);
    CHECK_INT(api_conf_load(doc->root, NULL, &c, &d), 0);
    ydoc_free(doc);
    CHECK_INT(d.n, 0);
    if (!c)
        return;
    CHECK_INT(c->nkeys, 0); /* no outcome API: the route answers 404 */
    CHECK(api_bearer_ok(c, "Bearer ops-0123456789abcdef"));
    CHECK(api_bearer_ok(c, "bearer   ops-0123456789abcdef "));
    CHECK(!api_bearer_ok(c, "Bearer ops-0123456789abcdeF"));
    CHECK(!api_bearer_ok(c, "Bearer ops-0123456789abcde"));
    CHECK(!api_bearer_ok(c, "Bearer ops-0123456789abcdef0"));
    CHECK(!api_bearer_ok(c, "Basic ops-0123456789abcdef"));
    CHECK(!api_bearer_ok(c, "Bearer "));
    CHECK(!api_bearer_ok(c, NULL));
    api_conf_free(c);
    struct api_conf *k = conf(); /* keys only: no bearer token */
    CHECK(!api_bearer_ok(k, "Bearer ops-0123456789abcdef"));
    api_conf_free(k);

    /* too short, both sources, neither keys nor a token */
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        { "bearer_token_env: T_API_SHORT\n",
          "the secret of the api bearer token is 5 bytes; 16 to 1024 are needed" },
        { "bearer_token_env: T_API_BEARER\nbearer_token_file: /nonexistent\n",
          "the api bearer token needs exactly one of 'bearer_token_file' and "
          "'bearer_token_env'" },
        { "max_skew: 10\n",
          "api: 'keys' is required (at least one key) unless the section only sets a bearer "
          "token" },
        { "bearer_token_env: T_API_SPACE\n",
          "the api bearer token must be printable ASCII without spaces" },
    };
    setenv("T_API_SHORT", "short", 1);
    setenv("T_API_SPACE", "ops 0123456789abcdef", 1);
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct diags e = DIAGS_INIT;
        doc = NULL;
        c = NULL;
        CHECK_INT(ydoc_parse("api.yaml", bad[i].yaml, strlen(bad[i].yaml), &doc, &e), 0);
        CHECK_INT(api_conf_load(doc->root, NULL, &c, &e), -EINVAL);
        CHECK(c == NULL);
        CHECK_INT(e.n, 1);
        if (e.n)
            CHECK_STR(e.v[0].msg, bad[i].msg);
        ydoc_free(doc);
        diags_release(&e);
    }
    diags_release(&d);
}

TEST_MAIN({ "verify", test_verify }, { "parse", test_parse }, { "bearer", test_bearer })
