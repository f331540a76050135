/*
 * channel.h - the channel interface: a small vtable every channel
 * implementation (built-in or, later, a plugin) provides.  The plugin ABI
 * (plugins/cadenza-plugin.h) grows from this shape.
 *
 *   init(settings)  once, with the channel's `settings:` node; unknown
 *                   keys are errors (diags)
 *   send(job, cb)   never blocks; reports exactly one completion through
 *                   cb, possibly before send returns; keeps no pointer to
 *                   its arguments after the completion
 *   flush()         make every completed send durable before the worker
 *                   acks it (buffered writers write here); may be NULL
 *   shutdown()      after the last completion; frees the instance state
 */
#ifndef CADENZA_CHANNEL_H
#define CADENZA_CHANNEL_H

#include <stdbool.h>

#include "config.h"
#include "diag.h"
#include "job.h"

struct event_base;

/* Send results (codes may leave the process: append-only). */
enum cz_send_status {
    CZ_SEND_OK = 0,              /* accepted by the provider */
    CZ_SEND_RETRY = 1,           /* transient: try again later */
    CZ_SEND_FAILED = 2,          /* permanent: do not retry */
    CZ_SEND_INVALID_ADDRESS = 3, /* permanent, and the address is bad */
    _CZ_SEND_STATUS_MAX,
};

struct chan_result {
    enum cz_send_status status;
    const char *provider_id; /* CZ_SEND_OK: the provider's id, may be NULL */
    const char *error;       /* otherwise: what went wrong */
};

/* What the worker tells the channel about one send, besides the job. */
struct chan_send_info {
    int tries;          /* failed tries before this one */
    bool redelivered;   /* a previous lease expired: it may have been sent */
};

typedef void (*chan_done_fn)(void *userdata, const struct chan_result *res);

struct channel;

struct channel_ops {
    const char *plugin; /* "log" */
    int (*init)(struct channel *ch, const struct ynode *settings, struct diags *d);
    int (*send)(struct channel *ch, const struct job *job, const struct chan_send_info *info,
                chan_done_fn done, void *userdata);
    int (*flush)(struct channel *ch);
    void (*shutdown)(struct channel *ch);
};

struct channel {
    const struct channel_ops *ops;
    char *name;              /* instance name: "email" */
    enum chan_kind kind;
    struct event_base *base; /* the worker's loop, for asynchronous channels */
    const char *config_dir;  /* relative paths in settings resolve against it */
    void *priv;              /* the implementation's state */
};

/*
 * Create the channel instance configured as conf (its plugin must be a
 * built-in one for now).  Setting errors go to d (-EINVAL).
 */
int channel_new(const struct channel_conf *conf, const char *config_dir,
                struct event_base *base, struct channel **ret, struct diags *d);
/* Shut down and free; NULL is a no-op. */
void channel_free(struct channel *ch);

static inline int channel_send(struct channel *ch, const struct job *job,
                               const struct chan_send_info *info, chan_done_fn done,
                               void *userdata)
{
    return ch->ops->send(ch, job, info, done, userdata);
}
static inline int channel_flush(struct channel *ch)
{
    return ch->ops->flush ? ch->ops->flush(ch) : 0;
}

const char *cz_send_status_to_string(enum cz_send_status s);

/* Built-in implementations. */
extern const struct channel_ops chan_log_ops;

#endif
