/*
 * test-api.c - the outcome API's signature check and body parsing.
 */
#include <errno.h>
#include <stdlib.h>

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

TEST_MAIN({ "verify", test_verify }, { "parse", test_parse })
