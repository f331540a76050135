/*
 * wahook.c - WhatsApp Cloud API webhooks (wahook.h): signature, body,
 * status outcomes.
 *
 * The body, as Meta sends it (only what is read is shown):
 *   {"object": "whatsapp_business_account",
 *    "entry": [{"changes": [{"field": "messages",
 *      "value": {"metadata": {"phone_number_id": "..."},
 *                "statuses": [{"id": "wamid...", "status": "delivered",
 *                              "timestamp": "1749416383",
 *                              "biz_opaque_callback_data": "...",
 *                              "errors": [{"code": 131026}]}],
 *                "messages": [{"from": "16505551234", "id": "wamid...",
 *                              "timestamp": "...", "type": "text",
 *                              "text": {"body": "STOP"}}]}}]}]}
 *
 * Invariants:
 *  1. A body is taken whole or refused whole, the first problem named by
 *     its place; nothing of a refused body reaches the store.
 *  2. Changes of other fields (account updates, template reviews) are
 *     counted as ignored, never refused: Meta would retry them for days.
 */
#include "wahook.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_printf_(2, 3) static int bad(struct sbuf *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sbuf_vaddf(e, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* An optional string member: NULL when absent or null; -EINVAL (named) when not a string. */
static int opt_str(json_t *o, const char *key, const char *where, const char **ret,
                   struct sbuf *e)
{
    json_t *v = json_object_get(o, key);
    *ret = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return bad(e, "%s.%s: expected a string", where, key);
    *ret = json_string_value(v);
    return 0;
}

static int req_str(json_t *o, const char *key, const char *where, const char **ret,
                   struct sbuf *e)
{
    int r = opt_str(o, key, where, ret, e);
    if (r == 0 && (!*ret || !**ret))
        return bad(e, "%s.%s: expected a non-empty string", where, key);
    return r;
}

/* "timestamp": Unix seconds as a string of digits (or a number); 0 when absent. */
static int timestamp(json_t *o, const char *where, int64_t *ret, struct sbuf *e)
{
    json_t *v = json_object_get(o, "timestamp");
    *ret = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ret = json_integer_value(v);
        return 0;
    }
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    int64_t t = 0;
    size_t n = s ? strlen(s) : 0;
    for (size_t i = 0; i < n && n <= 12; i++) {
        if (s[i] < '0' || s[i] > '9') {
            n = 0;
            break;
        }
        t = t * 10 + (s[i] - '0');
    }
    if (!n || n > 12)
        return bad(e, "%s.timestamp: expected Unix seconds", where);
    *ret = t;
    return 0;
}

static json_t *array_or_absent(json_t *o, const char *key, const char *where, struct sbuf *e,
                               int *r)
{
    json_t *v = json_object_get(o, key);
    *r = 0;
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_array(v))
        *r = bad(e, "%s.%s: expected an array", where, key);
    return *r ? NULL : v;
}

static int parse_status(json_t *s, const char *where, const char *pnid, struct wahook_status *st,
                        struct sbuf *e)
{
    int r;
    if (!json_is_object(s))
        return bad(e, "%s: expected an object", where);
    *st = (struct wahook_status){ .phone_number_id = pnid };
    if ((r = req_str(s, "id", where, &st->id, e)) < 0 ||
        (r = req_str(s, "status", where, &st->status, e)) < 0 ||
        (r = opt_str(s, "biz_opaque_callback_data", where, &st->callback, e)) < 0 ||
        (r = timestamp(s, where, &st->at, e)) < 0)
        return r;
    json_t *errs = array_or_absent(s, "errors", where, e, &r);
    if (r < 0)
        return r;
    json_t *e0 = errs ? json_array_get(errs, 0) : NULL, *code;
    if (e0 && json_is_object(e0) && (code = json_object_get(e0, "code"))) {
        if (!json_is_integer(code))
            return bad(e, "%s.errors[0].code: expected an integer", where);
        st->error_code = (long)json_integer_value(code);
    }
    return 0;
}

/* The text of a message: text.body, button.text, interactive.*_reply.title. */
static int message_text(json_t *m, const char *where, const char *type, const char **ret,
                        struct sbuf *e)
{
    char w[256];
    *ret = NULL;
    if (!type)
        return 0;
    if (strcmp(type, "text") == 0) {
        json_t *t = json_object_get(m, "text");
        snprintf(w, sizeof(w), "%s.text", where);
        if (!json_is_object(t))
            return bad(e, "%s: expected an object with a 'body'", w);
        return req_str(t, "body", w, ret, e);
    }
    if (strcmp(type, "button") == 0) {
        json_t *b = json_object_get(m, "button");
        snprintf(w, sizeof(w), "%s.button", where);
        return json_is_object(b) ? opt_str(b, "text", w, ret, e) : 0;
    }
    if (strcmp(type, "interactive") == 0) {
        json_t *i = json_object_get(m, "interactive"), *rep;
        static const char *const kinds[] = { "button_reply", "list_reply" };
        for (size_t k = 0; json_is_object(i) && k < 2; k++)
            if (json_is_object(rep = json_object_get(i, kinds[k]))) {
                snprintf(w, sizeof(w), "%s.interactive.%s", where, kinds[k]);
                return opt_str(rep, "title", w, ret, e);
            }
    }
    return 0;
}

static int parse_message(json_t *m, const char *where, const char *pnid,
                         struct wahook_message *msg, struct sbuf *e)
{
    int r;
    if (!json_is_object(m))
        return bad(e, "%s: expected an object", where);
    *msg = (struct wahook_message){ .phone_number_id = pnid };
    if ((r = req_str(m, "id", where, &msg->id, e)) < 0 ||
        (r = req_str(m, "from", where, &msg->from, e)) < 0 ||
        (r = opt_str(m, "type", where, &msg->type, e)) < 0 ||
        (r = timestamp(m, where, &msg->at, e)) < 0)
        return r;
    return message_text(m, where, msg->type, &msg->text, e);
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 8;
    void *p = realloc(*v, c * size);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = c;
    return 0;
}

int wahook_parse(const char *body, size_t len, struct wahook *ret, struct sbuf *e)
{
    json_error_t je;
    struct wahook w = { 0 };
    size_t cs = 0, cm = 0;
    char where[160];
    int r = 0;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        sbuf_addf(e, "invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
        return -EBADMSG;
    }
    w.json = root;
    json_t *obj = json_object_get(root, "object"), *entry = json_object_get(root, "entry");
    if (!json_is_object(root)) {
        r = bad(e, "expected a JSON object");
        goto fail;
    }
    if (!json_is_string(obj) || strcmp(json_string_value(obj), "whatsapp_business_account")) {
        r = bad(e, "object: expected \"whatsapp_business_account\"");
        goto fail;
    }
    if (!json_is_array(entry)) {
        r = bad(e, "entry: expected an array");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(entry); i++) {
        json_t *en = json_array_get(entry, i), *changes;
        snprintf(where, sizeof(where), "entry[%zu]", i);
        if (!json_is_object(en) || !json_is_array(changes = json_object_get(en, "changes"))) {
            r = bad(e, "%s: expected an object with a 'changes' array", where);
            goto fail;
        }
        for (size_t k = 0; k < json_array_size(changes); k++) {
            json_t *ch = json_array_get(changes, k), *value, *md;
            const char *field = NULL, *pnid = NULL;
            snprintf(where, sizeof(where), "entry[%zu].changes[%zu]", i, k);
            if (!json_is_object(ch)) {
                r = bad(e, "%s: expected an object", where);
                goto fail;
            }
            if ((r = opt_str(ch, "field", where, &field, e)) < 0)
                goto fail;
            if (field && strcmp(field, "messages") != 0) {
                w.ignored++; /* invariant 2 */
                continue;
            }
            if (!json_is_object(value = json_object_get(ch, "value"))) {
                r = bad(e, "%s.value: expected an object", where);
                goto fail;
            }
            snprintf(where, sizeof(where), "entry[%zu].changes[%zu].value", i, k);
            if (json_is_object(md = json_object_get(value, "metadata")) &&
                (r = opt_str(md, "phone_number_id", where, &pnid, e)) < 0)
                goto fail;
            json_t *sts = array_or_absent(value, "statuses", where, e, &r), *msgs;
            if (r < 0)
                goto fail;
            msgs = array_or_absent(value, "messages", where, e, &r);
            if (r < 0)
                goto fail;
            for (size_t j = 0; sts && j < json_array_size(sts); j++) {
                char at[200];
                snprintf(at, sizeof(at), "%s.statuses[%zu]", where, j);
                if (w.nstatuses + w.nmessages >= WAHOOK_EVENTS_MAX) {
                    r = -E2BIG;
                    sbuf_addf(e, "more than %d statuses and messages", WAHOOK_EVENTS_MAX);
                    goto fail;
                }
                if ((r = grow((void **)&w.statuses, &cs, w.nstatuses, sizeof(*w.statuses))) < 0)
                    goto fail;
                if ((r = parse_status(json_array_get(sts, j), at, pnid,
                                      &w.statuses[w.nstatuses], e)) < 0)
                    goto fail;
                w.nstatuses++;
            }
            for (size_t j = 0; msgs && j < json_array_size(msgs); j++) {
                char at[200];
                snprintf(at, sizeof(at), "%s.messages[%zu]", where, j);
                if (w.nstatuses + w.nmessages >= WAHOOK_EVENTS_MAX) {
                    r = -E2BIG;
                    sbuf_addf(e, "more than %d statuses and messages", WAHOOK_EVENTS_MAX);
                    goto fail;
                }
                if ((r = grow((void **)&w.messages, &cm, w.nmessages, sizeof(*w.messages))) < 0)
                    goto fail;
                struct wahook_message *m = &w.messages[w.nmessages];
                if ((r = parse_message(json_array_get(msgs, j), at, pnid, m, e)) < 0)
                    goto fail;
                if (m->type && strcmp(m->type, "system") == 0)
                    w.ignored++; /* "changed their number": not a message to us */
                else
                    w.nmessages++;
            }
        }
    }
    *ret = w;
    return 0;
fail:
    wahook_release(&w);
    return r == -ENOMEM ? r : r == -E2BIG ? r : -EINVAL;
}

void wahook_release(struct wahook *w)
{
    free(w->statuses);
    free(w->messages);
    json_decref(w->json);
    memset(w, 0, sizeof(*w));
}

static int unhex32(const char *s, unsigned char out[32])
{
    for (size_t i = 0; i < 64; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0)
            return -EINVAL;
        if (i % 2)
            out[i / 2] = (unsigned char)(out[i / 2] | v);
        else
            out[i / 2] = (unsigned char)(v << 4);
    }
    return 0;
}

int wahook_signature_check(const char *secret, const char *header, const void *body,
                           size_t len)
{
    unsigned char got[32], want[32];
    unsigned int wl = 0;
    if (!header || strncmp(header, "sha256=", 7) != 0 || strlen(header) != 7 + 64 ||
        unhex32(header + 7, got) < 0)
        return -EINVAL;
    if (!secret || !*secret ||
        !HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, want, &wl) || wl != 32)
        return 0;
    return CRYPTO_memcmp(got, want, 32) == 0;
}

const char *wahook_status_outcome(const char *status, long error_code)
{
    if (!status)
        return NULL;
    if (strcmp(status, "delivered") == 0)
        return "delivered";
    if (strcmp(status, "read") == 0)
        return "opened";
    if (strcmp(status, "failed") == 0) {
        if (error_code == 131026) /* undeliverable: not on WhatsApp, or cannot receive */
            return "bounced";
        if (error_code == 131050) /* the user stopped the business's marketing messages */
            return "opt_out";
        return "failed";
    }
    return NULL; /* sent, deleted, warning, ...: no outcome */
}
