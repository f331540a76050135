/*
 * channel.h - channel instances: the host side of the plugin ABI
 * (plugins/cadenza-plugin.h).  The worker creates one instance per
 * configured channel and sends jobs through it; the plugin behind it was
 * found and its settings checked when the configuration was loaded
 * (plugin.c), so creating an instance only runs the plugin's init.
 *
 *   channel_new   init with the checked settings; the plugin logs why it refused
 *   channel_send  never blocks; exactly one completion through done, possibly
 *                 before channel_send returns; done's arguments are borrowed
 *   channel_flush every completed send durable before the worker acks it
 *   channel_free  after the last completion: shutdown, then pending timers go
 */
#ifndef CADENZA_CHANNEL_H
#define CADENZA_CHANNEL_H

#include <stdbool.h>

#include "cadenza-plugin.h"
#include "config.h"
#include "job.h"

struct event_base;
struct curlm;

struct chan_result {
    enum cz_send_status status;
    const char *provider_id; /* CZ_SEND_OK: the provider's id, may be NULL */
    const char *error;       /* otherwise: what went wrong */
    int64_t retry_after_ms;  /* CZ_SEND_RETRY: the provider's wish, 0: none */
};

/* What the worker tells the channel about one send, besides the job. */
struct chan_send_info {
    int tries;          /* failed tries before this one */
    bool redelivered;   /* a previous lease expired: it may have been sent */
    /* the message rendered from the job's template, or NULL (the job view's parts) */
    const char *subject, *text, *html;
    const char *self_service_url; /* the debtor's signed link, or NULL */
};

typedef void (*chan_done_fn)(void *userdata, const struct chan_result *res);

struct channel;

/*
 * Create the instance configured as conf (conf->desc and conf->values are
 * set by a successful config_load()).  base is the loop for the plugin's
 * timers, curlm the multi handle for its HTTP and SMTP requests (NULL:
 * host->http and host->smtp answer -ENOTSUP).  -EINVAL when the plugin's
 * init refused (it logged why), -ENOMEM.
 */
int channel_new(const struct channel_conf *conf, struct event_base *base, struct curlm *curlm,
                struct channel **ret);
/* Shut down and free; NULL is a no-op.  Pending sends must have completed. */
void channel_free(struct channel *ch);

int channel_send(struct channel *ch, const struct job *job, const struct chan_send_info *info,
                 chan_done_fn done, void *userdata);
int channel_flush(struct channel *ch);

/*
 * Mask e-mail addresses (a***@example.com) and phone numbers
 * (+34*****678) in s, in place: what plugin log lines go through.
 */
void channel_mask_pii(char *s);

/* "sent", "retry", "failed", "invalid_address", "opted_out" (results stream names). */
const char *cz_send_status_to_string(enum cz_send_status s);

#endif
