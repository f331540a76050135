/*
 * channel.c - the plugin host: channel instances, the struct cz_host every
 * plugin gets, the job view, completions and timers (see channel.h and
 * docs/plugins.md).
 *
 * Owns: each instance's plugin state handle, its pending sends and its
 * timers.  Must never: block, call a plugin after its shutdown, or let a
 * plugin's completion reach the worker twice.
 *
 * A send's life (cz_send below):
 *
 *     channel_send ──plugin send() < 0──► done(RETRY "could not start")
 *          │ 0
 *          ▼
 *       PENDING ──host->complete()──► done(result), freed
 *          └─── host->complete() again: logged as a plugin bug, ignored
 *
 * Invariants:
 *  1. done is called exactly once per channel_send that returned 0, and
 *     once for one that returned < 0 (the caller sees one answer either way).
 *  2. Plugin log lines carry "[channel:PLUGIN:INSTANCE]" and have e-mail
 *     addresses and phone numbers masked.
 *  3. A timer fires at most once, never after timer_cancel or after the
 *     instance is freed.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "log.h"
#include "plugin.h"
#include "util.h"

struct cz_timer {
    struct channel *ch;
    struct event *ev;
    cz_timer_fn cb;
    void *userdata;
    struct cz_timer *prev, *next;
};

/* struct cz_instance is the channel itself: plugins only hold pointers to it. */
struct channel {
    const struct cz_channel_plugin *desc;
    const struct channel_conf *conf;
    struct event_base *base;
    void *state;
    bool started;          /* init succeeded: shutdown is owed */
    uint64_t pending;      /* sends not yet completed */
    struct cz_timer *timers;
    struct cz_send *in_send; /* the send whose plugin send() is running */
    char tag[160];         /* "[channel:log:email]" */
};

struct cz_send {
    struct channel *ch;
    chan_done_fn done;
    void *userdata;
    uint64_t magic;
};
#define SEND_MAGIC 0x637a73656e64ull /* "czsend": catches a second completion */

static struct channel *CH(struct cz_instance *inst)
{
    return (struct channel *)inst;
}

static const char *const status_names[CZ_SEND_STATUS_MAX_] = {
    [CZ_SEND_OK] = "sent",
    [CZ_SEND_RETRY] = "retry",
    [CZ_SEND_FAILED] = "failed",
    [CZ_SEND_INVALID_ADDRESS] = "invalid_address",
    [CZ_SEND_OPTED_OUT] = "opted_out",
};

const char *cz_send_status_to_string(enum cz_send_status s)
{
    return (unsigned)s < CZ_SEND_STATUS_MAX_ ? status_names[s] : NULL;
}

/* ---- logging with PII masked (invariant 2) ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_mailchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
           c == '_' || c == '-' || c == '+' || c == '%';
}

/*
 * Mask in place: the local part of an e-mail address but its first
 * character (a***@example.com), and the digits of a phone-like run of 7 or
 * more digits (spaces, dashes allowed) but its first 3 and last 3.
 */
void channel_mask_pii(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '@' && i > 0 && i + 1 < n && is_mailchar(s[i + 1])) {
            size_t b = i;
            while (b > 0 && is_mailchar(s[b - 1]))
                b--;
            for (size_t k = b + 1; k < i; k++)
                s[k] = '*';
        }
    }
    for (size_t i = 0; i < n;) {
        if (!is_digit(s[i])) {
            i++;
            continue;
        }
        size_t e = i, digits = 0;
        while (e < n && (is_digit(s[e]) || ((s[e] == ' ' || s[e] == '-') && e + 1 < n &&
                                            is_digit(s[e + 1])))) {
            digits += is_digit(s[e]);
            e++;
        }
        if (digits >= 7) {
            size_t seen = 0;
            for (size_t k = i; k < e; k++)
                if (is_digit(s[k])) {
                    seen++;
                    if (seen > 3 && seen <= digits - 3)
                        s[k] = '*';
                }
        }
        i = e;
    }
}

static void host_logv(struct cz_instance *inst, enum cz_log_level level, const char *fmt,
                      va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    channel_mask_pii(msg);
    enum log_level l = level <= CZ_LOG_ERROR     ? LOG_ERR
                       : level == CZ_LOG_WARNING ? LOG_WARNING
                       : level == CZ_LOG_NOTICE  ? LOG_NOTICE
                       : level == CZ_LOG_INFO    ? LOG_INFO
                                                 : LOG_DEBUG;
    log_msg(l, "%s %s", CH(inst)->tag, msg);
}

static void host_log(struct cz_instance *inst, enum cz_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    host_logv(inst, level, fmt, ap);
    va_end(ap);
}

static const char *host_instance_name(struct cz_instance *inst)
{
    return CH(inst)->conf->name;
}

/* ---- settings ---- */

static const struct plugin_value *value(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = plugin_settings_get(CH(inst)->conf->values, key);
    return v && v->present ? v : NULL;
}

static const char *host_setting_str(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = value(inst, key);
    return v ? v->text : NULL;
}

static int64_t host_setting_int(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = value(inst, key);
    return v ? v->i : 0;
}

static double host_setting_number(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = value(inst, key);
    return v ? v->num : 0;
}

static bool host_setting_bool(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = value(inst, key);
    return v && v->b;
}

static bool host_setting_set(struct cz_instance *inst, const char *key)
{
    const struct plugin_value *v = plugin_settings_get(CH(inst)->conf->values, key);
    return v && v->set;
}

/* ---- completions ---- */

static void host_complete(struct cz_send *send, const struct cz_result *res)
{
    if (!send || send->magic != SEND_MAGIC) {
        /* a second completion reads freed memory: the plugin must not do it */
        log_error("a channel plugin completed a send twice or completed an unknown send");
        return;
    }
    struct channel *ch = send->ch;
    enum cz_send_status st = res && (unsigned)res->status < CZ_SEND_STATUS_MAX_
                                 ? res->status
                                 : CZ_SEND_FAILED;
    struct chan_result cr = {
        .status = st,
        .provider_id = res ? res->provider_id : NULL,
        .error = res && res->error ? res->error
                 : st == CZ_SEND_OK ? NULL
                                    : "the plugin gave no reason",
        .retry_after_ms = res && res->retry_after_ms > 0 ? res->retry_after_ms : 0,
    };
    if (res && (unsigned)res->status >= CZ_SEND_STATUS_MAX_)
        cr.error = "the plugin answered an unknown status";
    send->magic = 0;
    ch->pending--;
    chan_done_fn done = send->done;
    void *ud = send->userdata;
    if (ch->in_send != send)
        free(send); /* else channel_send() frees it once send() returned */
    done(ud, &cr);
}

/* ---- timers (invariant 3) ---- */

static void timer_unlink(struct cz_timer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        t->ch->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct cz_timer *t = arg;
    cz_timer_fn cb = t->cb;
    void *ud = t->userdata;
    timer_unlink(t);
    event_free(t->ev);
    free(t);
    cb(ud);
}

static struct cz_timer *host_timer_add(struct cz_instance *inst, int64_t ms, cz_timer_fn cb,
                                       void *userdata)
{
    struct channel *ch = CH(inst);
    if (!ch->base || !cb)
        return NULL;
    struct cz_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ch = ch;
    t->cb = cb;
    t->userdata = userdata;
    t->ev = evtimer_new(ch->base, on_timer, t);
    if (!t->ev) {
        free(t);
        return NULL;
    }
    if (ms < 0)
        ms = 0;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(t->ev, &tv);
    t->next = ch->timers;
    if (t->next)
        t->next->prev = t;
    ch->timers = t;
    return t;
}

static void host_timer_cancel(struct cz_timer *t)
{
    if (!t)
        return;
    timer_unlink(t);
    event_free(t->ev);
    free(t);
}

static void host_report(struct cz_instance *inst, const struct cz_news *news)
{
    /*
     * Later news reaches the store through the daemon's ingest path; a
     * stand-alone worker logs it so nothing is silently dropped.
     */
    static const char *const kinds[] = { "", "delivered", "undeliverable", "opted out",
                                         "replied" };
    if (!news)
        return;
    const char *k = news->kind >= 1 && news->kind <= 4 ? kinds[news->kind] : "news";
    host_log(inst, CZ_LOG_INFO, "attempt %lld (provider id %s): %s%s%s",
             (long long)news->attempt_id, news->provider_id ? news->provider_id : "-", k,
             news->detail ? ": " : "", news->detail ? news->detail : "");
}

static int64_t host_mono_ms(void)
{
    return mono_ms();
}

static int64_t host_wall_ms(void)
{
    return wall_ms();
}

static const struct cz_host host = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = CZ_PLUGIN_ABI_MINOR,
    .log = host_log,
    .logv = host_logv,
    .instance_name = host_instance_name,
    .setting_str = host_setting_str,
    .setting_int = host_setting_int,
    .setting_number = host_setting_number,
    .setting_bool = host_setting_bool,
    .setting_set = host_setting_set,
    .complete = host_complete,
    .timer_add = host_timer_add,
    .timer_cancel = host_timer_cancel,
    .report = host_report,
    .mono_ms = host_mono_ms,
    .wall_ms = host_wall_ms,
};

/* ---- instances ---- */

int channel_new(const struct channel_conf *conf, struct event_base *base, struct channel **ret)
{
    if (!conf->desc)
        return -EINVAL; /* config_load() reported it */
    struct channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return -ENOMEM;
    ch->desc = conf->desc;
    ch->conf = conf;
    ch->base = base;
    snprintf(ch->tag, sizeof(ch->tag), "[channel:%s:%s]", conf->desc->name, conf->name);
    int r = ch->desc->init((struct cz_instance *)ch, &host, &ch->state);
    if (r < 0) {
        while (ch->timers)
            host_timer_cancel(ch->timers);
        free(ch);
        return r == -ENOMEM ? r : -EINVAL;
    }
    ch->started = true;
    *ret = ch;
    return 0;
}

void channel_free(struct channel *ch)
{
    if (!ch)
        return;
    if (ch->started && ch->desc->shutdown)
        ch->desc->shutdown(ch->state);
    while (ch->timers)
        host_timer_cancel(ch->timers);
    free(ch);
}

int channel_send(struct channel *ch, const struct job *job, const struct chan_send_info *info,
                 chan_done_fn done, void *userdata)
{
    struct cz_send *send = calloc(1, sizeof(*send));
    if (!send)
        return -ENOMEM;
    send->ch = ch;
    send->done = done;
    send->userdata = userdata;
    send->magic = SEND_MAGIC;
    enum chan_kind kind = chan_kind_from_string(job->channel_kind);
    struct cz_job view = {
        .attempt_id = job->attempt_id,
        .idempotency_key = job->idempotency_key,
        .debtor_id = job->debtor_id,
        .instance = ch->conf->name,
        .kind = kind >= 0 ? (enum cz_kind)kind : (enum cz_kind)ch->conf->kind,
        .address = job->address,
        .time_zone = job->time_zone,
        .not_after = job->not_after,
        .template_name = job->template_name,
        .inputs_json = job->inputs_json ? job->inputs_json : "{}",
        .tries = info ? info->tries : 0,
        .redelivered = info && info->redelivered,
    };
    ch->pending++;
    ch->in_send = send;
    int r = ch->desc->send(ch->state, &view, send);
    ch->in_send = NULL;
    if (send->magic != SEND_MAGIC) {
        /* completed inside send(): done was called (invariant 1) */
        if (r < 0)
            host_log((struct cz_instance *)ch, CZ_LOG_WARNING,
                     "plugin bug: send() failed (%s) after completing the send", strerror(-r));
        free(send);
    } else if (r < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the plugin could not start the send: %s", strerror(-r));
        ch->in_send = send;
        host_complete(send, &(struct cz_result){ CZ_SEND_RETRY, NULL, msg, 0 });
        ch->in_send = NULL;
        free(send);
    }
    return 0;
}

int channel_flush(struct channel *ch)
{
    return ch->desc->flush ? ch->desc->flush(ch->state) : 0;
}
