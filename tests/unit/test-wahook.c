/*
 * test-wahook.c - WhatsApp webhooks: Meta's body, the X-Hub-Signature-256
 * check and what each status means (wahook.h).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "testlib.h"
#include "wahook.h"

static int parse(const char *body, struct wahook *w, struct sbuf *e)
{
    sbuf_reset(e);
    return wahook_parse(body, strlen(body), w, e);
}

static void test_parse(void)
{
    struct wahook w;
    struct sbuf e = SBUF_INIT;
    static const char body[] =
        "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\",\"changes\":["
        "{\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\","
        "\"metadata\":{\"display_phone_number\":\"15550783881\",\"phone_number_id\":\"106\"},"
        "\"statuses\":[{\"id\":\"wamid.A\",\"status\":\"failed\",\"timestamp\":\"1749416383\","
        "\"biz_opaque_callback_data\":\"ik-1\",\"errors\":[{\"code\":131026,\"title\":\"x\"}]},"
        "{\"id\":\"wamid.B\",\"status\":\"read\"}],"
        "\"contacts\":[{\"profile\":{\"name\":\"S\"},\"wa_id\":\"16505551234\"}],"
        "\"messages\":[{\"from\":\"16505551234\",\"id\":\"wamid.M\",\"timestamp\":\"1749416384\","
        "\"type\":\"text\",\"text\":{\"body\":\"STOP\"}},"
        "{\"from\":\"16505551234\",\"id\":\"wamid.N\",\"type\":\"button\","
        "\"button\":{\"text\":\"Stop promotions\",\"payload\":\"p\"}},"
        "{\"from\":\"16505551234\",\"id\":\"wamid.O\",\"type\":\"interactive\","
        "\"interactive\":{\"type\":\"button_reply\","
        "\"button_reply\":{\"id\":\"b\",\"title\":\"Pay\"}}},"
        "{\"from\":\"16505551234\",\"id\":\"wamid.P\",\"type\":\"image\",\"image\":{\"id\":\"1\"}},"
        "{\"from\":\"16505551234\",\"id\":\"wamid.Q\",\"type\":\"system\",\"system\":{}}]}},"
        "{\"field\":\"account_update\",\"value\":{\"event\":\"x\"}}]}]}";
    CHECK_INT(parse(body, &w, &e), 0);
    CHECK_INT(w.nstatuses, 2);
    CHECK_STR(w.statuses[0].id, "wamid.A");
    CHECK_STR(w.statuses[0].callback, "ik-1");
    CHECK_STR(w.statuses[0].phone_number_id, "106");
    CHECK_INT(w.statuses[0].error_code, 131026);
    CHECK_INT(w.statuses[0].at, 1749416383);
    CHECK_INT(w.statuses[1].at, 0);
    CHECK(w.statuses[1].callback == NULL);
    CHECK_INT(w.nmessages, 4); /* the system message is not one to us */
    CHECK_INT(w.ignored, 2);   /* ... nor the account update */
    CHECK_STR(w.messages[0].text, "STOP");
    CHECK_STR(w.messages[0].from, "16505551234");
    CHECK_INT(w.messages[0].at, 1749416384);
    CHECK_STR(w.messages[1].text, "Stop promotions");
    CHECK_STR(w.messages[2].text, "Pay");
    CHECK(w.messages[3].text == NULL);
    CHECK_STR(w.messages[3].type, "image");
    wahook_release(&w);

    /* refused whole, the first problem named by its place */
    CHECK_INT(parse("{\"object\":", &w, &e), -EBADMSG);
    CHECK(strncmp(e.buf, "invalid JSON at line 1", 22) == 0);
    CHECK_INT(parse("[]", &w, &e), -EINVAL);
    CHECK_STR(e.buf, "expected a JSON object");
    CHECK_INT(parse("{\"object\":\"page\",\"entry\":[]}", &w, &e), -EINVAL);
    CHECK_STR(e.buf, "object: expected \"whatsapp_business_account\"");
    CHECK_INT(parse("{\"object\":\"whatsapp_business_account\"}", &w, &e), -EINVAL);
    CHECK_STR(e.buf, "entry: expected an array");
    CHECK_INT(parse("{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":"
                    "[{\"value\":{\"statuses\":[{\"id\":\"w\",\"status\":\"read\","
                    "\"timestamp\":\"soon\"}]}}]}]}", &w, &e), -EINVAL);
    CHECK_STR(e.buf, "entry[0].changes[0].value.statuses[0].timestamp: expected Unix seconds");
    CHECK_INT(parse("{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":"
                    "[{\"value\":{\"messages\":[{\"id\":\"w\",\"from\":\"1\","
                    "\"type\":\"text\",\"text\":{}}]}}]}]}", &w, &e), -EINVAL);
    CHECK_STR(e.buf,
              "entry[0].changes[0].value.messages[0].text.body: expected a non-empty string");
    CHECK_INT(parse("{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"value\":"
                    "{\"statuses\":{}}}]}]}", &w, &e), -EINVAL);
    CHECK_STR(e.buf, "entry[0].changes[0].value.statuses: expected an array");
    /* a bounded number of events */
    struct sbuf big = SBUF_INIT;
    sbuf_adds(&big, "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"value\":"
                    "{\"statuses\":[");
    for (int i = 0; i <= WAHOOK_EVENTS_MAX; i++)
        sbuf_addf(&big, "%s{\"id\":\"w%d\",\"status\":\"read\"}", i ? "," : "", i);
    sbuf_adds(&big, "]}}]}]}");
    CHECK_INT(parse(big.buf, &w, &e), -E2BIG);
    sbuf_release(&big);
    sbuf_release(&e);
}

static void test_signature(void)
{
    const char body[] = "{\"object\":\"whatsapp_business_account\",\"entry\":[]}";
    unsigned char mac[32];
    unsigned int ml = 0;
    char hdr[8 + 64];
    HMAC(EVP_sha256(), "s3cret", 6, (const unsigned char *)body, sizeof(body) - 1, mac, &ml);
    strcpy(hdr, "sha256=");
    for (int i = 0; i < 32; i++)
        sprintf(hdr + 7 + 2 * i, "%02x", mac[i]);
    CHECK_INT(wahook_signature_check("s3cret", hdr, body, sizeof(body) - 1), 1);
    CHECK_INT(wahook_signature_check("other", hdr, body, sizeof(body) - 1), 0);
    CHECK_INT(wahook_signature_check("s3cret", hdr, body, sizeof(body) - 2), 0);
    for (char *p = hdr + 7; *p; p++) /* the digest in upper case is the same digest */
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    CHECK_INT(wahook_signature_check("s3cret", hdr, body, sizeof(body) - 1), 1);
    hdr[70] = 0;
    CHECK_INT(wahook_signature_check("s3cret", hdr, body, sizeof(body) - 1), -EINVAL);
    CHECK_INT(wahook_signature_check("s3cret", "sha1=abc", body, 3), -EINVAL);
    CHECK_INT(wahook_signature_check("s3cret", NULL, body, 3), -EINVAL);
    char z[72];
    memset(z, 'z', sizeof(z));
    memcpy(z, "sha256=", 7);
    z[71] = 0;
    CHECK_INT(wahook_signature_check("s3cret", z, body, 3), -EINVAL);
}

static void test_outcomes(void)
{
    CHECK(wahook_status_outcome("sent", 0) == NULL);
    CHECK_STR(wahook_status_outcome("delivered", 0), "delivered");
    CHECK_STR(wahook_status_outcome("read", 0), "opened");
    CHECK_STR(wahook_status_outcome("failed", 131026), "bounced");
    CHECK_STR(wahook_status_outcome("failed", 131050), "opt_out");
    CHECK_STR(wahook_status_outcome("failed", 131047), "failed");
    CHECK_STR(wahook_status_outcome("failed", 0), "failed");
    CHECK(wahook_status_outcome("deleted", 0) == NULL);
    CHECK(wahook_status_outcome(NULL, 0) == NULL);
}

TEST_MAIN({ "parse", test_parse }, { "signature", test_signature },
          { "outcomes", test_outcomes })
