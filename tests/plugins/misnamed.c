/* misnamed.c - built as misnamed.so but calling itself "other": refused. */
#include "cadenza-plugin.h"

static int init(struct cz_instance *inst, const struct cz_host *host, void **ret)
{
    return -1;
}

static int send(void *state, const struct cz_job *job, struct cz_send *s)
{
    return -1;
}

const struct cz_channel_plugin cz_channel_plugin = {
    .abi_major = CZ_PLUGIN_ABI_MAJOR,
    .abi_minor = CZ_PLUGIN_ABI_MINOR,
    .name = "other",
    .kinds = CZ_KIND_BIT(CZ_KIND_SMS),
    .init = init,
    .send = send,
};
