/*
 * test-whatsapp.c - the pure parts of the whatsapp plugin, compiled into
 * this test from plugins/whatsapp/whatsapp.c: the JSON path reader, the
 * "a=b" maps, the language code of a locale, the request body (parsed
 * back by the reader itself and compared byte for byte), the text
 * message of a reply, and the
 * classification of Cloud API answers, success and error bodies as the
 * Graph API documents them.
 */
#include "../../plugins/whatsapp/whatsapp.c"

#include "testlib.h"

static int jp(const char *json, const char *path, char *out, size_t max)
{
    return json_path(json, strlen(json), path, out, max);
}

static void test_json_path(void)
{
    char v[64];
    const char *ok = "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"+34600\","
                     "\"wa_id\":\"34600\"}],\"messages\":[{\"id\":\"wamid.HBgL\\u00e9\"},"
                     "{\"id\":\"second\"}]}";
    CHECK_INT(jp(ok, "messages.0.id", v, sizeof(v)), 1);
    CHECK_STR(v, "wamid.HBgL\xc3\xa9");
    CHECK_INT(jp(ok, "messages.1.id", v, sizeof(v)), 1);
    CHECK_STR(v, "second");
    CHECK_INT(jp(ok, "messages.2.id", v, sizeof(v)), 0);
    CHECK_INT(jp(ok, "contacts.0.wa_id", v, sizeof(v)), 1);
    CHECK_STR(v, "34600");
    CHECK_INT(jp(ok, "messages", v, sizeof(v)), 0);       /* an array is not text */
    CHECK_INT(jp(ok, "messages.x", v, sizeof(v)), 0);
    CHECK_INT(jp(ok, "error.code", v, sizeof(v)), 0);
    CHECK_INT(jp("{\"messages\":[]}", "messages.0.id", v, sizeof(v)), 0);
    const char *err = "{\"error\":{\"message\":\"(#131026) Message Undeliverable.\","
                      "\"type\":\"OAuthException\",\"code\":131026,\"error_data\":"
                      "{\"messaging_product\":\"whatsapp\",\"details\":\"x\"},"
                      "\"fbtrace_id\":\"Az8or\"}}";
    CHECK_INT(jp(err, "error.code", v, sizeof(v)), 1);
    CHECK_STR(v, "131026");
    CHECK_INT(jp(err, "error.error_data.details", v, sizeof(v)), 1);
    CHECK_STR(v, "x");
    CHECK_INT(jp(err, "error.message", v, 8), -E2BIG);
    /* strict: not JSON at all, or trailing garbage, or truncated */
    CHECK_INT(jp("<html>", "error.code", v, sizeof(v)), -EINVAL);
    CHECK_INT(jp("{\"error\":{\"code\":1}} x", "error.code", v, sizeof(v)), -EINVAL);
    CHECK_INT(jp("{\"error\":{\"code\":1}", "error.code", v, sizeof(v)), -EINVAL);
    CHECK_INT(jp("", "error.code", v, sizeof(v)), -EINVAL);
    /* the length is the caller's: a NUL-free prefix is read as given */
    CHECK_INT(json_path("{\"a\":1}{", 7, "a", v, sizeof(v)), 1);
}

static void test_maps(void)
{
    char v[32];
    CHECK_INT(map_get("early-sms=payment_reminder, late = final_notice ,x=", "late", v,
                      sizeof(v)), 1);
    CHECK_STR(v, "final_notice");
    CHECK_INT(map_get("early-sms=payment_reminder,late=final_notice", "early-sms", v, sizeof(v)),
              1);
    CHECK_STR(v, "payment_reminder");
    CHECK_INT(map_get("early-sms=payment_reminder", "early", v, sizeof(v)), 0);
    CHECK_INT(map_get("a=b,x=", "x", v, sizeof(v)), 0);
    CHECK_INT(map_get(NULL, "x", v, sizeof(v)), 0);
    CHECK_INT(map_get("a=0123456789", "a", v, 5), 0);
}

static void test_language(void)
{
    char v[32];
    CHECK_INT(wa_language(NULL, "es-MX", v), 0);
    CHECK_STR(v, "es_MX");
    CHECK_INT(wa_language(NULL, "en", v), 0);
    CHECK_STR(v, "en");
    CHECK_INT(wa_language("es=es_ES,en=en_US", "es-MX", v), 0);  /* by the language */
    CHECK_STR(v, "es_ES");
    CHECK_INT(wa_language("es-MX=es_MX,es=es_ES", "es-MX", v), 0); /* the locale first */
    CHECK_STR(v, "es_MX");
    CHECK_INT(wa_language("es=es_ES", "en-GB", v), 0);
    CHECK_STR(v, "en_GB");
    CHECK_INT(wa_language(NULL, "", v), -EINVAL);
    CHECK_INT(wa_language(NULL, "es\"x", v), -EINVAL);
    CHECK_INT(wa_language(NULL, "abcdefghijabcdefghijabcdefghijabc", v), -EINVAL);
}

static void test_body(void)
{
    const char *params[] = { "Jos\xc3\xa9 \"Pepe\"", "1.234,56 \xe2\x82\xac", "a\\b\nc\x01" };
    struct wa_msg m = { .to = "+34600000001", .template_name = "payment_reminder",
                        .language = "es_ES", .params = params, .nparams = 3,
                        .callback_data = "ik-1" };
    struct buf b = { 0 };
    CHECK_INT(wa_body(&m, &b), 0);
    CHECK_STR(b.buf,
              "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
              "\"to\":\"34600000001\",\"type\":\"template\",\"biz_opaque_callback_data\":\"ik-1\","
              "\"template\":{\"name\":\"payment_reminder\",\"language\":{\"code\":\"es_ES\"},"
              "\"components\":[{\"type\":\"body\",\"parameters\":["
              "{\"type\":\"text\",\"text\":\"Jos\xc3\xa9 \\\"Pepe\\\"\"},"
              "{\"type\":\"text\",\"text\":\"1.234,56 \xe2\x82\xac\"},"
              "{\"type\":\"text\",\"text\":\"a\\\\b\\nc\\u0001\"}]}]}}");
    /* and it reads back: the writer and the reader agree */
    char v[64];
    CHECK_INT(json_path(b.buf, b.len, "template.components.0.parameters.2.text", v, sizeof(v)), 1);
    CHECK_STR(v, "a\\b\nc\x01");
    CHECK_INT(json_path(b.buf, b.len, "template.components.0.parameters.0.text", v, sizeof(v)), 1);
    CHECK_STR(v, params[0]);
    free(b.buf);
    /* no parameters: no components */
    b = (struct buf){ 0 };
    m.nparams = 0;
    m.callback_data = NULL;
    CHECK_INT(wa_body(&m, &b), 0);
    CHECK_STR(b.buf, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
                     "\"to\":\"34600000001\",\"type\":\"template\",\"template\":{\"name\":"
                     "\"payment_reminder\",\"language\":{\"code\":\"es_ES\"}}}");
    free(b.buf);
    /* a text message (a reply in the 24-hour window: the opt-out confirmation) */
    b = (struct buf){ 0 };
    CHECK_INT(wa_text_body("+16505551234", "You are \"out\".\nBye", "optout:wa:1", &b), 0);
    CHECK_STR(b.buf, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
                     "\"to\":\"16505551234\",\"type\":\"text\",\"biz_opaque_callback_data\":"
                     "\"optout:wa:1\",\"text\":{\"body\":\"You are \\\"out\\\".\\nBye\"}}");
    CHECK_INT(json_path(b.buf, b.len, "text.body", v, sizeof(v)), 1);
    CHECK_STR(v, "You are \"out\".\nBye");
    free(b.buf);
    CHECK(in_list("a, opt-out-confirmation,b", "opt-out-confirmation"));
    CHECK(in_list("opt-out-confirmation", "opt-out-confirmation"));
    CHECK(!in_list("opt-out-confirmation-2", "opt-out-confirmation"));
    CHECK(!in_list("", "x"));
    CHECK(!in_list(NULL, "x"));
}

static enum wa_class cls(int status, const char *body, char *id, char *err, long *code)
{
    return wa_classify(status, body, body ? strlen(body) : 0, id, err, code);
}

#define ERRBODY(code, msg) \
    "{\"error\":{\"message\":\"" msg "\",\"type\":\"OAuthException\",\"code\":" #code \
    ",\"error_data\":{\"messaging_product\":\"whatsapp\",\"details\":\"d\"},\"fbtrace_id\":\"A\"}}"

static void test_classify(void)
{
    char id[WA_ID_MAX], err[WA_ERR_MAX];
    long code;
    CHECK_INT(cls(200, "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"+1\","
                       "\"wa_id\":\"1\"}],\"messages\":[{\"id\":\"wamid.X1\","
                       "\"message_status\":\"accepted\"}]}", id, err, &code), WA_OK);
    CHECK_STR(id, "wamid.X1");
    /* 2xx without an id: not accepted as sent */
    CHECK_INT(cls(200, "{}", id, err, &code), WA_RETRY);
    CHECK_INT(cls(200, "OK", id, err, &code), WA_RETRY);
    CHECK_INT(cls(400, ERRBODY(130429, "(#130429) Rate limit hit"), id, err, &code), WA_RETRY);
    CHECK_INT(code, 130429);
    CHECK_STR(err, "whatsapp: error 130429: (#130429) Rate limit hit");
    CHECK_INT(cls(429, ERRBODY(130429, "Rate limit hit"), id, err, &code), WA_RETRY);
    CHECK_INT(cls(400, ERRBODY(131048, "Spam rate limit hit"), id, err, &code), WA_RETRY);
    CHECK_INT(cls(400, ERRBODY(131026, "Message Undeliverable"), id, err, &code),
              WA_UNDELIVERABLE);
    CHECK_INT(cls(400, ERRBODY(132000, "Number of parameters does not match"), id, err, &code),
              WA_CONFIG);
    CHECK_INT(cls(404, ERRBODY(132001, "Template name does not exist in the translation"), id,
                  err, &code), WA_CONFIG);
    CHECK_INT(code, 132001);
    CHECK_INT(cls(401, ERRBODY(190, "Access token has expired"), id, err, &code), WA_CONFIG);
    CHECK_INT(cls(500, ERRBODY(131000, "Something went wrong"), id, err, &code), WA_RETRY);
    CHECK_INT(cls(400, ERRBODY(100, "Invalid parameter"), id, err, &code), WA_FAILED);
    /* an error body even with 200 is an error */
    CHECK_INT(cls(200, ERRBODY(131026, "Message Undeliverable"), id, err, &code),
              WA_UNDELIVERABLE);
    /* no JSON: the HTTP status decides */
    CHECK_INT(cls(429, "", id, err, &code), WA_RETRY);
    CHECK_INT(code, 0);
    CHECK_STR(err, "whatsapp: http status 429");
    CHECK_INT(cls(502, "<html>Bad Gateway</html>", id, err, &code), WA_RETRY);
    CHECK_INT(cls(403, NULL, id, err, &code), WA_CONFIG);
    CHECK_INT(cls(400, "nope", id, err, &code), WA_FAILED);
    /* a long message is cut, the code kept */
    char big[1200];
    snprintf(big, sizeof(big), "{\"error\":{\"code\":131026,\"message\":\"%0*d\"}}", 900, 7);
    CHECK_INT(cls(400, big, id, err, &code), WA_UNDELIVERABLE);
    CHECK(strlen(err) < WA_ERR_MAX);
}

TEST_MAIN({ "json_path", test_json_path }, { "maps", test_maps }, { "language", test_language },
          { "body", test_body }, { "classify", test_classify })
