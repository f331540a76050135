/*
 * plugin.h - finding channel plugins and checking their settings.
 *
 * A plugin is a struct cz_channel_plugin (plugins/cadenza-plugin.h): built
 * into cadenza (`log`) or a shared object <dir>/<name>.so, where dir is the
 * configuration's paths.plugins.  Both are checked the same way: ABI major
 * equal to the host's and minor not newer, the name equal to the file's,
 * the callbacks and the config map well formed.
 */
#ifndef CADENZA_PLUGIN_H_HOST
#define CADENZA_PLUGIN_H_HOST

#include <stdbool.h>
#include <stdint.h>

#include "cadenza-plugin.h"

struct diags;
struct ynode;

struct plugin_set;

/*
 * The plugins known to a configuration: the built-in ones, and those in
 * dir (may be NULL: built-in only), opened on first use.
 */
int plugin_set_new(const char *dir, struct plugin_set **ret);
void plugin_set_free(struct plugin_set *set);

/*
 * The plugin called name: 0 and *ret (owned by the set), -ENOENT when
 * there is none, -EINVAL when <dir>/<name>.so exists but is refused
 * (reterr says why in one line: "plugin '/x/sms.so' was built for ABI 2.0;
 * this cadenza has 1.0").
 */
int plugin_set_get(struct plugin_set *set, const char *name,
                   const struct cz_channel_plugin **ret, char *reterr, size_t errlen);

/*
 * Every plugin available: the built-in ones and every *.so in the
 * directory, refused ones included (desc NULL, error set), in name order.
 * Calls fn once each; stops when fn returns < 0.
 */
typedef int (*plugin_list_fn)(void *userdata, const char *name, const char *path,
                              const struct cz_channel_plugin *desc, const char *error);
int plugin_set_list(struct plugin_set *set, plugin_list_fn fn, void *userdata);

/* The names of the plugins plugin_set_list() would show, for did-you-mean. */
size_t plugin_set_names(struct plugin_set *set, const char **ret, size_t max);

/* ---- settings: a config map applied to a `settings:` node ---- */

struct plugin_value {
    const struct cz_setting *def; /* the map's entry */
    bool set;                     /* given in the file (else the default, if any) */
    bool present;                 /* given or defaulted: the getters have a value */
    char *text;                   /* as text (PATH: resolved) */
    int64_t i;
    double num;
    bool b;
};

struct plugin_settings {
    struct plugin_value *v;
    size_t n;
};

/*
 * Check settings (a map, or NULL/null for none) against p's config map:
 * unknown keys (with did-you-mean), wrong types, values out of bounds or
 * not among the choices, missing required keys; each a diagnostic at its
 * file:line:col.  where names the channel for messages ("channel 'sms'"),
 * at says where a missing key is reported (the channel's node).  PATH
 * values are resolved against config_dir.  0 and *ret (free with
 * plugin_settings_free()), -EINVAL with diagnostics, -ENOMEM.
 */
int plugin_settings_parse(const struct cz_channel_plugin *p, const struct ynode *settings,
                          const struct ynode *at, const char *where, const char *config_dir,
                          struct plugin_settings **ret, struct diags *d);
void plugin_settings_free(struct plugin_settings *s);
const struct plugin_value *plugin_settings_get(const struct plugin_settings *s,
                                               const char *key);

const char *cz_kind_to_string(enum cz_kind k);
const char *cz_setting_type_to_string(enum cz_setting_type t);

#endif
