/*
 * email.c - the `email` channel plugin: one RFC 5322 message per send,
 * delivered over SMTP through the host's libcurl multi handle
 * (host->smtp, plugin ABI 1.1), so the worker never blocks on a mail
 * server and connections are the host's to reuse.  Built into cadenza
 * through the same descriptor as an external plugin; it includes nothing
 * of the daemon and no libcurl.  The message itself is message.c's.
 *
 * Settings: email_settings[] below (plugins/email/README.md has the table).
 *
 * Owns: its state, the parsed From/Reply-To, and one struct email_send per
 * send not yet completed (the built message, copied out of the job).
 * Must never: keep a pointer into a job, block, open a socket of its own,
 * render a message itself (the host renders templates; a job without
 * rendered text is failed), or complete a send twice.
 *
 * A send's life:
 *
 *     email_send ──bad address, no text, too large──► complete(FAILED | INVALID_ADDRESS)
 *        │ message built
 *        ├── inflight < max_inflight, none waiting ──► RUNNING (host->smtp)
 *        ├── queue not full ──► QUEUED ──email_pump (a slot freed)──► RUNNING
 *        └── queue full ──► complete(RETRY "too many messages waiting for SMTP")
 *     RUNNING ──email_smtp_done──► complete(em_classify())
 *     RUNNING, QUEUED ──email_shutdown──► freed, never completed (the host
 *                                         cancels running transactions)
 *     host->smtp() < 0: from email_send, return it (no completion);
 *                       from email_pump, complete(RETRY)
 *
 * Invariants:
 *  1. At most max_inflight SMTP transactions per instance; at most
 *     EMAIL_QUEUE_MAX built messages of EMAIL_QUEUE_BYTES in all wait
 *     behind them (the worker's --concurrency is the usual bound: the
 *     queue's only has to stop a runaway, since an answer of "retry"
 *     costs the job one of its tries).
 *  2. Every send is completed exactly once, or email_send returns < 0 and
 *     never completes it; a queued send is started in arrival order.
 *  3. Before a completion the plugin's own state is consistent (the host
 *     may call send() from inside complete()), and it is the last thing a
 *     callback does with that send.
 *  4. An authentication refusal (and a TLS set-up failure) is logged once
 *     as an error until a send is accepted again; each send still gets its
 *     own completion.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cadenza-plugin.h"
#include "message.h"

#define EMAIL_MSG_MAX (4u << 20)     /* the largest message we build */
#define EMAIL_QUEUE_MAX 8192          /* invariant 1 */
#define EMAIL_QUEUE_BYTES (64u << 20)
#define EMAIL_ADDR_MAX 256
#define EMAIL_NAME_MAX 256

static const struct cz_setting email_settings[] = {
    { .key = "url", .type = CZ_SETTING_STRING, .required = true,
      .doc = "SMTP server: smtp://host[:port] (STARTTLS) or smtps://host[:port]" },
    { .key = "tls", .type = CZ_SETTING_ENUM, .default_value = "required",
      .choices = "required|optional|none",
      .doc = "STARTTLS on smtp://: required, used when offered, or none (loopback only)" },
    { .key = "username", .type = CZ_SETTING_STRING, .doc = "SMTP AUTH user name" },
    { .key = "password", .type = CZ_SETTING_SECRET, .doc = "SMTP AUTH password" },
    { .key = "from", .type = CZ_SETTING_STRING, .required = true,
      .doc = "sender: addr or \"Display Name <addr>\" (also the envelope sender)" },
    { .key = "reply_to", .type = CZ_SETTING_STRING,
      .doc = "Reply-To: addr or \"Display Name <addr>\"" },
    { .key = "unsubscribe_mailto", .type = CZ_SETTING_STRING,
      .doc = "address added to List-Unsubscribe as a mailto: link" },
    { .key = "message_id_domain", .type = CZ_SETTING_STRING,
      .doc = "right-hand side of Message-ID (default: the From address's domain)" },
    { .key = "timeout_ms", .type = CZ_SETTING_INT, .default_value = "30000", .min = 1000,
      .max = 600000, .doc = "limit for one whole SMTP transaction" },
    { .key = "max_inflight", .type = CZ_SETTING_INT, .default_value = "8", .min = 1,
      .max = 1000, .doc = "SMTP transactions at once per channel; more wait in order" },
    { 0 }
};

struct email_send;

struct email_chan {
    struct cz_instance *inst;
    const struct cz_host *host;
    char *url, *username, *password, *unsub_mailto, *msgid_domain;
    enum cz_tls tls;
    char from_display[EMAIL_NAME_MAX], from_addr[EMAIL_ADDR_MAX];
    char reply_display[EMAIL_NAME_MAX], reply_addr[EMAIL_ADDR_MAX];
    bool has_reply_to;
    int64_t timeout_ms;
    unsigned max_inflight, inflight, queued;
    size_t queued_bytes;
    struct email_send *head, *tail; /* waiting for a slot, oldest first */
    struct email_send *running;     /* handed to host->smtp, callback not yet called */
    uint64_t seq;                   /* Message-ID uniqueness within a millisecond */
    bool auth_logged;               /* invariant 4 */
    bool tls_logged;                /* the same for a TLS failure */
};

struct email_send {
    struct email_chan *e;
    struct cz_send *send;
    struct email_send *next;        /* in the queue, or in running */
    struct email_send *prev;        /* in running */
    struct em_buf msg;
    int64_t attempt_id;
    char rcpt[EMAIL_ADDR_MAX];
    char msgid[EMAIL_ADDR_MAX + 64];
};

static void email_complete(struct cz_send *send, const struct cz_host *host,
                           enum cz_send_status status, const char *provider_id, const char *error)
{
    host->complete(send, &(struct cz_result){ .status = status, .provider_id = provider_id,
                                              .error = error });
}

static void email_send_free(struct email_send *s)
{
    if (!s)
        return;
    em_buf_release(&s->msg);
    free(s);
}

/* ---- the SMTP transaction ---- */

static void email_pump(struct email_chan *e);

/* host->smtp's callback: classify, start the next waiting send, complete (invariant 3). */
static void email_smtp_done(void *userdata, const struct cz_smtp_response *res)
{
    struct email_send *s = userdata;
    struct email_chan *e = s->e;
    const struct cz_host *host = e->host;
    struct em_verdict v = em_classify(res->code, res->error, res->error_text);
    char err[512] = "";

    if (v.status != CZ_SEND_OK) {
        const char *words = res->error_text && *res->error_text ? res->error_text
                            : res->error ? strerror(-res->error) : "no reason given";
        /* a code below 400 is only the last positive reply before a failure */
        if (res->code >= 400)
            snprintf(err, sizeof(err), "%sSMTP %d: %s",
                     v.auth ? "authentication refused: " : "", res->code, words);
        else
            snprintf(err, sizeof(err), "%s%s", v.auth ? "authentication refused: " : "", words);
    }
    if (v.auth && !e->auth_logged) {
        host->log(e->inst, CZ_LOG_ERROR,
                  "the SMTP server refused the credentials of user '%s' (%s); check "
                  "username and password: every send fails until they are fixed",
                  e->username ? e->username : "", err);
        e->auth_logged = true;
    } else if (res->error == -EPROTO && res->code < 400 && !e->tls_logged) {
        /* TLS could not be set up (no STARTTLS offered, a bad certificate): retried,
         * but it is usually the configuration, so say so once */
        host->log(e->inst, CZ_LOG_ERROR,
                  "cannot set up TLS with '%s' (%s); check 'url' and 'tls': sends are retried",
                  e->url, err);
        e->tls_logged = true;
    } else if (v.status == CZ_SEND_OK) {
        e->auth_logged = false;
        e->tls_logged = false;
    }
    if (s->prev)
        s->prev->next = s->next;
    else
        e->running = s->next;
    if (s->next)
        s->next->prev = s->prev;
    e->inflight--;
    email_pump(e);
    email_complete(s->send, host, v.status, v.status == CZ_SEND_OK ? s->msgid : NULL,
                   v.status == CZ_SEND_OK ? NULL : err);
    email_send_free(s);
}

/* Hand s to the host; 0 or the host's -errno (s untouched then). */
static int email_start(struct email_chan *e, struct email_send *s)
{
    const char *rcpt[1] = { s->rcpt };
    struct cz_smtp_request req = {
        .url = e->url,
        .tls = e->tls,
        .username = e->username,
        .password = e->password,
        .mail_from = e->from_addr,
        .rcpt = rcpt,
        .nrcpt = 1,
        .message = s->msg.buf,
        .message_len = s->msg.len,
        .timeout_ms = e->timeout_ms,
    };
    int r = e->host->smtp(e->inst, &req, email_smtp_done, s);
    if (r >= 0) {
        e->inflight++;
        s->prev = NULL;
        s->next = e->running;
        if (s->next)
            s->next->prev = s;
        e->running = s;
    }
    return r;
}

/* Start waiting sends while there are free slots (invariants 1 and 2). */
static void email_pump(struct email_chan *e)
{
    while (e->head && e->inflight < e->max_inflight) {
        struct email_send *s = e->head;
        e->head = s->next;
        if (!e->head)
            e->tail = NULL;
        e->queued--;
        e->queued_bytes -= s->msg.len;
        s->next = NULL;
        int r = email_start(e, s);
        if (r < 0) {
            char err[128];
            snprintf(err, sizeof(err), "cannot start the SMTP transaction: %s", strerror(-r));
            email_complete(s->send, e->host, CZ_SEND_RETRY, NULL, err);
            email_send_free(s);
        }
    }
}

/* ---- send ---- */

static int email_send(void *state, const struct cz_job *job, struct cz_send *send)
{
    struct email_chan *e = state;
    const struct cz_host *host = e->host;

    if (!job->address) {
        email_complete(send, host, CZ_SEND_FAILED, NULL, "job without an address");
        return 0;
    }
    int r = em_addr_check(job->address);
    if (r == -EILSEQ) {
        /* it may well exist: only our SMTP path cannot carry it */
        email_complete(send, host, CZ_SEND_FAILED, NULL,
                       "address with non-ASCII characters (SMTPUTF8 is not supported)");
        return 0;
    }
    if (r < 0) {
        email_complete(send, host, CZ_SEND_INVALID_ADDRESS, NULL, "malformed e-mail address");
        return 0;
    }
    if (!job->text || !job->subject) {
        email_complete(send, host, CZ_SEND_FAILED, NULL,
                       !job->text ? "no rendered message" : "no rendered subject");
        return 0;
    }

    struct email_send *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->e = e;
    s->send = send;
    s->attempt_id = job->attempt_id;
    s->msg.max = EMAIL_MSG_MAX;
    snprintf(s->rcpt, sizeof(s->rcpt), "%s", job->address);
    int64_t now = host->wall_ms();
    r = em_format_message_id(s->msgid, sizeof(s->msgid), job->attempt_id, job->tries, now,
                             e->seq++, e->msgid_domain);
    char boundary[EMAIL_ADDR_MAX + 64] = "=_";
    if (r >= 0) {
        /* the Message-ID's local part is unique: reuse it, without '<' and '@...' */
        size_t n = strcspn(s->msgid + 1, "@");
        snprintf(boundary + 2, sizeof(boundary) - 2, "%.*s", (int)n, s->msgid + 1);
    }
    const char *unsub = job->self_service_url;
    if (unsub && !em_unsubscribe_url_ok(unsub)) {
        host->log(e->inst, CZ_LOG_DEBUG,
                  "attempt %lld: the self-service link is not an https URL, no "
                  "List-Unsubscribe link", (long long)job->attempt_id);
        unsub = NULL;
    }
    struct em_message m = {
        .from_display = e->from_display,
        .from_addr = e->from_addr,
        .reply_to_display = e->has_reply_to ? e->reply_display : NULL,
        .reply_to_addr = e->has_reply_to ? e->reply_addr : NULL,
        .to = job->address,
        .subject = job->subject,
        .text = job->text,
        .html = job->html,
        .unsubscribe_url = unsub,
        .unsubscribe_mailto = e->unsub_mailto,
        .idempotency_key = job->idempotency_key,
        .attempt_id = job->attempt_id,
        .date_ms = now,
        .message_id = s->msgid,
        .boundary = boundary,
    };
    if (r >= 0)
        r = em_message_build(&s->msg, &m);
    if (r == -E2BIG) {
        email_send_free(s);
        email_complete(send, host, CZ_SEND_FAILED, NULL, "message too large (over 4 MiB)");
        return 0;
    }
    if (r < 0) {
        email_send_free(s);
        return r;
    }
    if (job->redelivered)
        host->log(e->inst, CZ_LOG_DEBUG,
                  "attempt %lld was redelivered: it may have been sent already (same "
                  "X-Cadenza-Idempotency-Key)", (long long)job->attempt_id);

    if (e->inflight < e->max_inflight && !e->head) {
        r = email_start(e, s);
        if (r < 0)
            email_send_free(s);
        return r; /* < 0: could not start, no completion (rule 3) */
    }
    if (e->queued >= EMAIL_QUEUE_MAX || e->queued_bytes + s->msg.len > EMAIL_QUEUE_BYTES) {
        email_send_free(s);
        email_complete(send, host, CZ_SEND_RETRY, NULL, "too many messages waiting for SMTP");
        return 0;
    }
    if (e->tail)
        e->tail->next = s;
    else
        e->head = s;
    e->tail = s;
    e->queued++;
    e->queued_bytes += s->msg.len;
    return 0;
}

/* ---- init and shutdown ---- */

static void email_free(struct email_chan *e)
{
    if (!e)
        return;
    /* a worker stopped with sends in flight: the host cancels their
     * transactions without callbacks after this, and nobody completes them */
    struct email_send *lists[2] = { e->head, e->running };
    for (int i = 0; i < 2; i++)
        while (lists[i]) {
            struct email_send *s = lists[i];
            lists[i] = s->next;
            email_send_free(s);
        }
    free(e->url);
    free(e->username);
    if (e->password) {
        /* do not leave the secret in freed memory */
        volatile char *p = e->password;
        while (*p)
            *p++ = 0;
        free(e->password);
    }
    free(e->unsub_mailto);
    free(e->msgid_domain);
    free(e);
}

/* *ret = a copy of the setting, or NULL when it has no value; -ENOMEM. */
static int email_setting_dup(struct email_chan *e, const char *key, char **ret)
{
    const char *v = e->host->setting_str(e->inst, key);
    *ret = NULL;
    if (!v || !*v)
        return 0;
    return (*ret = strdup(v)) ? 0 : -ENOMEM;
}

/* Settings that passed the config map but do not make sense: log each, -EINVAL. */
static int email_check(struct email_chan *e, const char *from, const char *reply_to)
{
    const struct cz_host *host = e->host;
    struct cz_instance *inst = e->inst;
    int r = 0;
    bool smtps = strncmp(e->url, "smtps://", 8) == 0;
    if (!smtps && strncmp(e->url, "smtp://", 7) != 0) {
        host->log(inst, CZ_LOG_ERROR, "'url' must start with smtp:// or smtps://, got '%s'",
                  e->url);
        r = -EINVAL;
    }
    if (smtps && e->tls == CZ_TLS_NONE) {
        host->log(inst, CZ_LOG_ERROR, "'tls: none' contradicts an smtps:// url");
        r = -EINVAL;
    }
    if (em_mailbox_parse(from, e->from_display, sizeof(e->from_display), e->from_addr,
                         sizeof(e->from_addr)) < 0) {
        host->log(inst, CZ_LOG_ERROR,
                  "'from' must be an address or \"Display Name <address>\", got '%s'", from);
        r = -EINVAL;
    }
    if (reply_to && *reply_to) {
        if (em_mailbox_parse(reply_to, e->reply_display, sizeof(e->reply_display),
                             e->reply_addr, sizeof(e->reply_addr)) < 0) {
            host->log(inst, CZ_LOG_ERROR,
                      "'reply_to' must be an address or \"Display Name <address>\", got '%s'",
                      reply_to);
            r = -EINVAL;
        } else {
            e->has_reply_to = true;
        }
    }
    if (e->unsub_mailto && em_addr_check(e->unsub_mailto) < 0) {
        host->log(inst, CZ_LOG_ERROR, "'unsubscribe_mailto' must be an address, got '%s'",
                  e->unsub_mailto);
        r = -EINVAL;
    }
    if (!!e->username != !!e->password) {
        host->log(inst, CZ_LOG_ERROR, "'username' and 'password' go together");
        r = -EINVAL;
    }
    if (e->msgid_domain) {
        for (const char *p = e->msgid_domain; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '.')) {
                host->log(inst, CZ_LOG_ERROR,
                          "'message_id_domain' must be a domain name, got '%s'",
                          e->msgid_domain);
                r = -EINVAL;
                break;
            }
    }
    return r;
}

static int email_init(struct cz_instance *inst, const struct cz_host *host, void **ret_state)
{
    if (host->abi_minor < 1 || !host->smtp) {
        host->log(inst, CZ_LOG_ERROR,
                  "this cadenza has plugin ABI %u.%u without SMTP; the email channel needs 1.1",
                  host->abi_major, host->abi_minor);
        return -ENOTSUP;
    }
    struct email_chan *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->inst = inst;
    e->host = host;
    int r;
    if ((r = email_setting_dup(e, "url", &e->url)) < 0 ||
        (r = email_setting_dup(e, "username", &e->username)) < 0 ||
        (r = email_setting_dup(e, "password", &e->password)) < 0 ||
        (r = email_setting_dup(e, "unsubscribe_mailto", &e->unsub_mailto)) < 0 ||
        (r = email_setting_dup(e, "message_id_domain", &e->msgid_domain)) < 0)
        goto fail;
    if (!e->url) {
        host->log(inst, CZ_LOG_ERROR, "'url' is empty");
        r = -EINVAL;
        goto fail;
    }
    const char *tls = host->setting_str(inst, "tls");
    e->tls = !tls || strcmp(tls, "required") == 0 ? CZ_TLS_REQUIRED
             : strcmp(tls, "optional") == 0      ? CZ_TLS_OPTIONAL
                                                 : CZ_TLS_NONE;
    e->timeout_ms = host->setting_int(inst, "timeout_ms");
    e->max_inflight = (unsigned)host->setting_int(inst, "max_inflight");
    if (e->max_inflight < 1)
        e->max_inflight = 1;
    const char *from = host->setting_str(inst, "from");
    if ((r = email_check(e, from ? from : "", host->setting_str(inst, "reply_to"))) < 0)
        goto fail;
    if (!e->msgid_domain) {
        const char *d = strrchr(e->from_addr, '@') + 1;
        if (!(e->msgid_domain = strdup(d))) {
            r = -ENOMEM;
            goto fail;
        }
    }
    *ret_state = e;
    return 0;

fail:
    if (r == -ENOMEM)
        host->log(inst, CZ_LOG_ERROR, "cannot set up the email channel: %s", strerror(-r));
    email_free(e);
    return r;
}

static void email_shutdown(void *state)
{
    email_free(state);
}

const struct cz_channel_plugin cz_channel_plugin = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = CZ_PLUGIN_ABI_MINOR,
    .name = "email",
    .description = "e-mail over SMTP (STARTTLS or SMTPS, AUTH) through the host's libcurl",
    .kinds = CZ_KIND_BIT(CZ_KIND_EMAIL),
    .settings = email_settings,
    .init = email_init,
    .send = email_send,
    .shutdown = email_shutdown,
};
