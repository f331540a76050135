/*
 * channel.c - channel instances: find the implementation a channel's
 * `plugin:` names, create and free instances.
 *
 * Invariants:
 *  1. channel_new() either returns a fully initialised channel or
 *     nothing (a failed init is not shut down twice).
 *  2. channel_free() calls shutdown exactly once.
 */
#include <errno.h>

#include "channel.h"
#include "util.h"

static const struct channel_ops *const builtin[] = {
    &chan_log_ops,
};

static const char *const status_names[_CZ_SEND_STATUS_MAX] = {
    [CZ_SEND_OK] = "sent",
    [CZ_SEND_RETRY] = "retry",
    [CZ_SEND_FAILED] = "failed",
    [CZ_SEND_INVALID_ADDRESS] = "invalid_address",
};

const char *cz_send_status_to_string(enum cz_send_status s)
{
    return s < _CZ_SEND_STATUS_MAX ? status_names[s] : NULL;
}

int channel_new(const struct channel_conf *conf, const char *config_dir,
                struct event_base *base, struct channel **ret, struct diags *d)
{
    const struct channel_ops *ops = NULL;
    for (size_t i = 0; i < ELEMENTSOF(builtin); i++)
        if (streq(builtin[i]->plugin, conf->plugin))
            ops = builtin[i];
    if (!ops)
        return -EOPNOTSUPP;
    struct channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return -ENOMEM;
    ch->ops = ops;
    ch->kind = conf->kind;
    ch->base = base;
    ch->config_dir = config_dir;
    ch->name = strdup(conf->name);
    if (!ch->name) {
        free(ch);
        return -ENOMEM;
    }
    int r = ops->init(ch, conf->settings, d);
    if (r < 0) {
        free(ch->name);
        free(ch);
        return r;
    }
    *ret = ch;
    return 0;
}

void channel_free(struct channel *ch)
{
    if (!ch)
        return;
    if (ch->ops->shutdown)
        ch->ops->shutdown(ch);
    free(ch->name);
    free(ch);
}
