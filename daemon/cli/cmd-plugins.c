/*
 * cmd-plugins.c - `cadenza plugins [NAME]`: the channel plugins this
 * configuration can use (built in, and paths.plugins/<name>.so), refused
 * ones with the reason, and one plugin's settings with their docs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "plugin.h"
#include "util.h"

static void plugins_usage(FILE *f)
{
    fprintf(f,
            "usage: cadenza plugins [NAME]\n"
            "\n"
            "List the channel plugins the configuration can use: the built-in ones and\n"
            "every NAME.so in paths.plugins, with the channel kinds each serves.  A\n"
            "plugin cadenza refuses (another ABI, a name that does not match its file)\n"
            "is listed with the reason.  With NAME: that plugin's settings (the keys a\n"
            "channel's 'settings:' may hold), their types, defaults, bounds and docs.\n"
            "\n"
            "Options:\n"
            "  -h, --help   this help\n");
}

static void kinds_text(uint32_t kinds, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (int k = 0; k < CZ_KIND_MAX_; k++)
        if (kinds & CZ_KIND_BIT(k))
            n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "," : "",
                                  cz_kind_to_string((enum cz_kind)k));
}

static int list_one(void *userdata, const char *name, const char *path,
                    const struct cz_channel_plugin *desc, const char *error)
{
    int *refused = userdata;
    char kinds[64];
    if (!desc) {
        (*refused)++;
        printf("%-12s %-28s %s\n", name, "-", error);
        return 0;
    }
    kinds_text(desc->kinds, kinds, sizeof(kinds));
    printf("%-12s %-28s %s%s%s\n", name, kinds, path ? path : "built in",
           desc->description ? ": " : "", desc->description ? desc->description : "");
    return 0;
}

static void show_setting(const struct cz_setting *s)
{
    char about[160];
    size_t n = (size_t)snprintf(about, sizeof(about), "%s", cz_setting_type_to_string(s->type));
    if ((s->type == CZ_SETTING_INT || s->type == CZ_SETTING_NUMBER) && (s->min || s->max))
        n += (size_t)snprintf(about + n, sizeof(about) - n, " %g..%g", s->min, s->max);
    if (s->type == CZ_SETTING_ENUM)
        n += (size_t)snprintf(about + n, sizeof(about) - n, " %s", s->choices);
    if (s->required)
        snprintf(about + n, sizeof(about) - n, ", required");
    else if (s->default_value)
        snprintf(about + n, sizeof(about) - n, ", default %s", s->default_value);
    printf("  %-18s %-34s %s\n", s->key, about, s->doc ? s->doc : "");
}

int cmd_plugins(int argc, char **argv, const struct cli_ctx *ctx)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        {},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            plugins_usage(stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        log_error("too many arguments: at most one plugin name");
        return EXIT_USAGE;
    }
    struct config *cfg = NULL;
    int ex = cli_load_config(ctx, &cfg);
    if (ex != EXIT_OK)
        return ex;
    if (optind == argc) {
        int refused = 0;
        printf("%-12s %-28s %s\n", "PLUGIN", "KINDS", "SOURCE");
        int r = plugin_set_list(cfg->plugins, list_one, &refused);
        if (r < 0)
            log_error_errno(r, "cannot list plugins in '%s': %m", cfg->plugin_dir);
        config_free(cfg);
        return r < 0 ? EXIT_RUNTIME : refused ? EXIT_DATA : EXIT_OK;
    }
    const char *name = argv[optind];
    const struct cz_channel_plugin *p;
    char err[512];
    int r = plugin_set_get(cfg->plugins, name, &p, err, sizeof(err));
    if (r == -EINVAL) {
        log_error("%s", err);
        ex = EXIT_DATA;
    } else if (r < 0) {
        const char *names[64];
        size_t n = plugin_set_names(cfg->plugins, names, ELEMENTSOF(names));
        const char *near = closest_word(name, names, n);
        if (near)
            log_error("no plugin '%s'; did you mean '%s'?", name, near);
        else
            log_error("no plugin '%s'; see 'cadenza plugins'", name);
        ex = EXIT_USAGE;
    } else {
        char kinds[64];
        kinds_text(p->kinds, kinds, sizeof(kinds));
        printf("%s (ABI %u.%u): %s\nkinds: %s\nsettings:\n", p->name, p->abi_major,
               p->abi_minor, p->description ? p->description : "", kinds);
        bool any = false;
        for (const struct cz_setting *s = p->settings; s && s->key; s++) {
            show_setting(s);
            any = true;
        }
        if (!any)
            printf("  (none)\n");
    }
    config_free(cfg);
    return ex;
}
