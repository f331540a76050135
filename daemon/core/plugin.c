/*
 * plugin.c - the channel plugin loader and the config map checker (see
 * plugin.h and docs/plugins.md).
 *
 * Owns: the plugin set (descriptors, the dlopen handles of the shared
 * objects it opened) and parsed settings.  Must never: call a plugin's
 * callbacks (channel.c does), or keep a refused shared object loaded.
 *
 * Invariants:
 *  1. A descriptor handed out passed plugin_check(): ABI major equal to
 *     the host's, minor not newer, name equal to the file name, init and
 *     send set, every kind bit known, a config map with unique keys of
 *     known types and sane bounds and choices.
 *  2. A shared object is opened at most once per set and closed only by
 *     plugin_set_free(), after every instance made from it is gone.
 *  3. plugin_settings_parse() reports every problem of a settings node,
 *     not just the first, and returns values only when there is none.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diag.h"
#include "plugin.h"
#include "util.h"
#include "ynode.h"

/* Built into cadenza: plugins/<name>/<name>.c compiled with its symbol renamed. */
extern const struct cz_channel_plugin cz_plugin_builtin_log, cz_plugin_builtin_email,
    cz_plugin_builtin_kannel, cz_plugin_builtin_http_sms, cz_plugin_builtin_vicidial,
    cz_plugin_builtin_whatsapp, cz_plugin_builtin_webhook_bot;
static const struct cz_channel_plugin *const builtin[] = {
    &cz_plugin_builtin_log,
    &cz_plugin_builtin_email,
    &cz_plugin_builtin_kannel,
    &cz_plugin_builtin_http_sms,
    &cz_plugin_builtin_vicidial,
    &cz_plugin_builtin_whatsapp,
    &cz_plugin_builtin_webhook_bot,
};

struct plugin {
    char *name;
    char *path; /* NULL: built in */
    void *dl;
    const struct cz_channel_plugin *desc; /* NULL: refused (error says why) */
    char *error;
};

struct plugin_set {
    char *dir;
    struct plugin *v;
    size_t n;
};

static const char *const kind_names[CZ_KIND_MAX_] = {
    [CZ_KIND_EMAIL] = "email", [CZ_KIND_SMS] = "sms", [CZ_KIND_CHAT] = "chat",
    [CZ_KIND_CALL] = "call",   [CZ_KIND_LETTER] = "letter",
};

const char *cz_kind_to_string(enum cz_kind k)
{
    return (unsigned)k < CZ_KIND_MAX_ ? kind_names[k] : NULL;
}

static const char *const type_names[] = {
    [CZ_SETTING_STRING] = "string", [CZ_SETTING_INT] = "integer",
    [CZ_SETTING_NUMBER] = "number", [CZ_SETTING_BOOL] = "boolean",
    [CZ_SETTING_PATH] = "path",     [CZ_SETTING_SECRET] = "secret",
    [CZ_SETTING_ENUM] = "choice",
};

const char *cz_setting_type_to_string(enum cz_setting_type t)
{
    return t >= CZ_SETTING_STRING && t <= CZ_SETTING_ENUM ? type_names[t] : NULL;
}

/* Is word one of the '|'-separated choices? */
static bool in_choices(const char *choices, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, word, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* Invariant 1.  NULL when the descriptor is fine, else why (static text or buf). */
static const char *plugin_check(const struct cz_channel_plugin *p, const char *name, char *buf,
                                size_t len)
{
    if (p->abi_major != CZ_PLUGIN_ABI_MAJOR || p->abi_minor > CZ_PLUGIN_ABI_MINOR) {
        snprintf(buf, len, "was built for plugin ABI %u.%u; this cadenza has %u.%u%s",
                 p->abi_major, p->abi_minor, CZ_PLUGIN_ABI_MAJOR, CZ_PLUGIN_ABI_MINOR,
                 p->abi_major == CZ_PLUGIN_ABI_MAJOR ? ": upgrade cadenza"
                                                     : ": rebuild the plugin against it");
        return buf;
    }
    if (!p->name || !streq(p->name, name)) {
        snprintf(buf, len, "calls itself '%s', not '%s' as its file name says",
                 p->name ? p->name : "(null)", name);
        return buf;
    }
    if (!p->init || !p->send)
        return "has no init or send callback";
    if (!p->kinds || (p->kinds >> CZ_KIND_MAX_))
        return "declares no channel kind, or an unknown one";
    for (const struct cz_setting *s = p->settings; s && s->key; s++) {
        if (!cz_setting_type_to_string(s->type)) {
            snprintf(buf, len, "has setting '%s' of unknown type %d", s->key, (int)s->type);
            return buf;
        }
        if (s->type == CZ_SETTING_ENUM && (!s->choices || !*s->choices)) {
            snprintf(buf, len, "has choice setting '%s' without choices", s->key);
            return buf;
        }
        if (s->min > s->max) {
            snprintf(buf, len, "has setting '%s' with min above max", s->key);
            return buf;
        }
        for (const struct cz_setting *t = p->settings; t < s; t++)
            if (streq(t->key, s->key)) {
                snprintf(buf, len, "has setting '%s' twice", s->key);
                return buf;
            }
    }
    return NULL;
}

int plugin_set_new(const char *dir, struct plugin_set **ret)
{
    struct plugin_set *set = calloc(1, sizeof(*set));
    if (!set)
        return -ENOMEM;
    if (dir && !(set->dir = strdup(dir))) {
        free(set);
        return -ENOMEM;
    }
    *ret = set;
    return 0;
}

void plugin_set_free(struct plugin_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++) {
        if (set->v[i].dl)
            dlclose(set->v[i].dl);
        free(set->v[i].name);
        free(set->v[i].path);
        free(set->v[i].error);
    }
    free(set->v);
    free(set->dir);
    free(set);
}

static bool valid_plugin_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
            return false;
    return true;
}

/* Open <dir>/<name>.so into a new entry of the set (refused ones too). */
static int open_shared(struct plugin_set *set, const char *name, struct plugin **ret)
{
    struct plugin *nv = realloc(set->v, (set->n + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    set->v = nv;
    struct plugin *p = &set->v[set->n];
    *p = (struct plugin){ 0 };
    p->name = strdup(name);
    p->path = strdupf("%s/%s.so", set->dir, name);
    if (!p->name || !p->path) {
        free(p->name);
        free(p->path);
        return -ENOMEM;
    }
    set->n++;
    *ret = p;
    char buf[300];
    const char *why = NULL;
    struct stat st;
    if (stat(p->path, &st) < 0 || !S_ISREG(st.st_mode))
        why = "is not a regular file";
    else if (!(p->dl = dlopen(p->path, RTLD_NOW | RTLD_LOCAL))) {
        snprintf(buf, sizeof(buf), "cannot be loaded: %s", dlerror());
        why = buf;
    } else {
        const struct cz_channel_plugin *desc = dlsym(p->dl, CZ_PLUGIN_SYMBOL);
        if (!desc)
            why = "exports no '" CZ_PLUGIN_SYMBOL "' descriptor";
        else if (!(why = plugin_check(desc, name, buf, sizeof(buf))))
            p->desc = desc;
    }
    if (why) {
        if (p->dl)
            dlclose(p->dl);
        p->dl = NULL;
        p->error = strdupf("plugin '%s' %s", p->path, why);
        if (!p->error)
            return -ENOMEM;
    }
    return 0;
}

static struct plugin *find_opened(struct plugin_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (streq(set->v[i].name, name))
            return &set->v[i];
    return NULL;
}

int plugin_set_get(struct plugin_set *set, const char *name,
                   const struct cz_channel_plugin **ret, char *reterr, size_t errlen)
{
    for (size_t i = 0; i < ELEMENTSOF(builtin); i++)
        if (streq(builtin[i]->name, name)) {
            *ret = builtin[i];
            return 0;
        }
    if (!set->dir || !valid_plugin_name(name))
        return -ENOENT;
    struct plugin *p = find_opened(set, name);
    if (!p) {
        _cleanup_free_ char *path = strdupf("%s/%s.so", set->dir, name);
        struct stat st;
        if (!path)
            return -ENOMEM;
        if (lstat(path, &st) < 0)
            return -ENOENT;
        int r = open_shared(set, name, &p);
        if (r < 0)
            return r;
    }
    if (!p->desc) {
        snprintf(reterr, errlen, "%s", p->error);
        return -EINVAL;
    }
    *ret = p->desc;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of the *.so files in the directory, sorted; caller frees. */
static int dir_names(const char *dir, char ***ret, size_t *ret_n)
{
    *ret = NULL;
    *ret_n = 0;
    if (!dir)
        return 0;
    DIR *dp = opendir(dir);
    if (!dp)
        return errno == ENOENT ? 0 : -errno;
    char **v = NULL;
    size_t n = 0;
    struct dirent *de;
    int r = 0;
    while ((de = readdir(dp))) {
        size_t len = strlen(de->d_name);
        if (len <= 3 || strcmp(de->d_name + len - 3, ".so") != 0)
            continue;
        char **nv = realloc(v, (n + 1) * sizeof(*v));
        if (!nv || !(nv[n] = strndup(de->d_name, len - 3))) {
            if (nv)
                v = nv;
            r = -ENOMEM;
            break;
        }
        v = nv;
        if (!valid_plugin_name(v[n]))
            free(v[n]);
        else
            n++;
    }
    closedir(dp);
    if (r < 0) {
        strv_free(v, n);
        return r;
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_str);
    *ret = v;
    *ret_n = n;
    return 0;
}

int plugin_set_list(struct plugin_set *set, plugin_list_fn fn, void *userdata)
{
    int r = 0;
    for (size_t i = 0; i < ELEMENTSOF(builtin) && r >= 0; i++)
        r = fn(userdata, builtin[i]->name, NULL, builtin[i], NULL);
    char **names;
    size_t n;
    if (r >= 0 && (r = dir_names(set->dir, &names, &n)) >= 0) {
        for (size_t i = 0; i < n && r >= 0; i++) {
            bool shadowed = false;
            for (size_t k = 0; k < ELEMENTSOF(builtin); k++)
                shadowed |= streq(builtin[k]->name, names[i]);
            if (shadowed)
                continue; /* a built-in wins: plugin_set_get() never opens it */
            struct plugin *p = find_opened(set, names[i]);
            if (!p && (r = open_shared(set, names[i], &p)) < 0)
                break;
            r = fn(userdata, p->name, p->path, p->desc, p->error);
        }
        strv_free(names, n);
    }
    return r < 0 ? r : 0;
}

size_t plugin_set_names(struct plugin_set *set, const char **ret, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < ELEMENTSOF(builtin) && n < max; i++)
        ret[n++] = builtin[i]->name;
    char **names;
    size_t k;
    if (dir_names(set->dir, &names, &k) < 0)
        return n;
    /* keep the names alive in the set: open entries hold them */
    for (size_t i = 0; i < k && n < max; i++) {
        struct plugin *p = find_opened(set, names[i]);
        if (p || open_shared(set, names[i], &p) == 0)
            ret[n++] = p->name;
    }
    strv_free(names, k);
    return n;
}

/* ---- settings ---- */

void plugin_settings_free(struct plugin_settings *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].text);
    free(s->v);
    free(s);
}

const struct plugin_value *plugin_settings_get(const struct plugin_settings *s, const char *key)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (streq(s->v[i].def->key, key))
            return &s->v[i];
    return NULL;
}

/* Fill v from text (a default, or a given string value).  0 or -EINVAL. */
static int value_from_text(struct plugin_value *v, const char *text)
{
    const struct cz_setting *d = v->def;
    char *end;
    switch (d->type) {
    case CZ_SETTING_INT: {
        errno = 0;
        long long x = strtoll(text, &end, 10);
        if (errno || *end || end == text)
            return -EINVAL;
        v->i = x;
        v->num = (double)x;
        break;
    }
    case CZ_SETTING_NUMBER:
        errno = 0;
        v->num = strtod(text, &end);
        if (errno || *end || end == text || !isfinite(v->num))
            return -EINVAL;
        v->i = (int64_t)v->num;
        break;
    case CZ_SETTING_BOOL:
        if (streq(text, "true"))
            v->b = true;
        else if (streq(text, "false"))
            v->b = false;
        else
            return -EINVAL;
        break;
    default:
        break;
    }
    v->present = true;
    return 0;
}

/* The choices as a NULL-terminated list in buf (for did-you-mean). */
static size_t split_choices(const char *choices, char *buf, size_t len, const char **out,
                            size_t max)
{
    snprintf(buf, len, "%s", choices);
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(buf, "|", &save); t && n + 1 < max;
         t = strtok_r(NULL, "|", &save))
        out[n++] = t;
    out[n] = NULL;
    return n;
}

#define SECRET_MAX 8192 /* bytes: API tokens, passwords, PEM-free keys */

/*
 * A secret setting: `{ file: PATH }` (relative to the configuration's
 * directory; one trailing newline dropped) or `{ env: NAME }`.  Written
 * inline it still works, with a warning: configuration files get copied
 * into tickets, backups and repositories.
 */
static int parse_secret(struct plugin_value *v, const struct ynode *node,
                        const char *config_dir, struct diags *d)
{
    static const char *const keys[] = { "file", "env", NULL };
    const char *key = v->def->key, *s;
    if (node->type == YNODE_SCALAR) {
        if (ynode_str(node, key, &s, d) < 0)
            return -EINVAL;
        diag_warning(d, node->file, node->line, node->col,
                     "'%s' is written inline: keep it out of the configuration with "
                     "'%s: { file: PATH }' or '%s: { env: NAME }'", key, key, key);
        return (v->text = strdup(s)) ? 0 : -ENOMEM;
    }
    if (ynode_expect(node, YNODE_MAP, key, d) < 0)
        return -EINVAL;
    _cleanup_free_ char *in = strdupf("secret '%s'", key);
    if (ynode_check_keys(node, keys, in ? in : key, d) > 0)
        return -EINVAL;
    const struct ynode *f = ynode_get(node, "file"), *e = ynode_get(node, "env");
    if (!f == !e) {
        diag_error(d, node->file, node->line, node->col,
                   "'%s' needs exactly one of 'file' and 'env'", key);
        return -EINVAL;
    }
    if (e) {
        if (ynode_str(e, "env", &s, d) < 0)
            return -EINVAL;
        const char *val = getenv(s);
        if (isempty(val)) {
            diag_error(d, e->file, e->line, e->col,
                       "environment variable '%s' for '%s' is not set", s, key);
            return -EINVAL;
        }
        return (v->text = strdup(val)) ? 0 : -ENOMEM;
    }
    if (ynode_str(f, "file", &s, d) < 0)
        return -EINVAL;
    _cleanup_free_ char *path = s[0] == '/' || !config_dir ? strdup(s)
                                                           : strdupf("%s/%s", config_dir, s);
    unsigned char *buf = malloc(SECRET_MAX + 1);
    size_t len = 0;
    bool loose = false;
    int r = path && buf ? read_secret_file(path, buf, SECRET_MAX, &len, &loose) : -ENOMEM;
    if (r == 0 && (memchr(buf, 0, len) || len == 0))
        r = len ? -EILSEQ : -ENODATA;
    if (r == 0 && (v->text = malloc(len + 1))) {
        memcpy(v->text, buf, len);
        v->text[len] = 0;
    } else if (r == 0)
        r = -ENOMEM;
    if (buf)
        explicit_bzero(buf, SECRET_MAX + 1);
    free(buf);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        diag_error(d, f->file, f->line, f->col, "cannot read '%s' from '%s': %s", key, s,
                   r == -E2BIG    ? "larger than 8 KiB"
                   : r == -EILSEQ ? "it holds a NUL byte"
                   : r == -ENODATA ? "the file is empty"
                                  : file_strerror(r == -EINVAL ? -ESPIPE : r));
        return -EINVAL;
    }
    if (loose)
        diag_warning(d, f->file, f->line, f->col,
                     "'%s' comes from '%s', which other users can read (chmod 600)", key, s);
    return 0;
}

static int parse_one(struct plugin_value *v, const struct ynode *node, const char *config_dir,
                     struct diags *d)
{
    const struct cz_setting *s = v->def;
    bool bounded = s->min != 0 || s->max != 0;
    int r = 0;
    const char *str;
    switch (s->type) {
    case CZ_SETTING_INT: {
        int64_t x;
        r = ynode_int(node, s->key, bounded ? (int64_t)s->min : INT64_MIN,
                      bounded ? (int64_t)s->max : INT64_MAX, &x, d);
        if (r == 0) {
            v->i = x;
            v->num = (double)x;
            v->text = strdupf("%lld", (long long)x);
        }
        break;
    }
    case CZ_SETTING_NUMBER: {
        double x;
        r = ynode_double(node, s->key, bounded ? s->min : -HUGE_VAL, bounded ? s->max : HUGE_VAL,
                         &x, d);
        if (r == 0) {
            v->num = x;
            v->i = (int64_t)x;
            v->text = strdupf("%.17g", x);
        }
        break;
    }
    case CZ_SETTING_BOOL:
        r = ynode_bool(node, s->key, &v->b, d);
        if (r == 0)
            v->text = strdup(v->b ? "true" : "false");
        break;
    case CZ_SETTING_ENUM:
        r = ynode_str(node, s->key, &str, d);
        if (r == 0 && !in_choices(s->choices, str)) {
            char buf[512];
            const char *words[33];
            size_t n = split_choices(s->choices, buf, sizeof(buf), words, ELEMENTSOF(words));
            const char *near = closest_word(str, words, n);
            _cleanup_free_ char *list = strdup(s->choices);
            for (char *c = list; c && *c; c++)
                if (*c == '|')
                    *c = ',';
            if (near)
                diag_error(d, node->file, node->line, node->col,
                           "'%s' must be one of %s, got '%s'; did you mean '%s'?", s->key,
                           list ? list : s->choices, str, near);
            else
                diag_error(d, node->file, node->line, node->col,
                           "'%s' must be one of %s, got '%s'", s->key,
                           list ? list : s->choices, str);
            return -EINVAL;
        }
        if (r == 0)
            v->text = strdup(str);
        break;
    case CZ_SETTING_PATH:
        r = ynode_str(node, s->key, &str, d);
        if (r == 0)
            v->text = str[0] == '/' || !config_dir ? strdup(str)
                                                   : strdupf("%s/%s", config_dir, str);
        break;
    case CZ_SETTING_SECRET:
        r = parse_secret(v, node, config_dir, d);
        if (r == -ENOMEM)
            return r;
        break;
    default: /* STRING */
        r = ynode_str(node, s->key, &str, d);
        if (r == 0)
            v->text = strdup(str);
        break;
    }
    if (r < 0)
        return -EINVAL;
    if (!v->text)
        return -ENOMEM;
    v->set = v->present = true;
    return 0;
}

int plugin_settings_parse(const struct cz_channel_plugin *p, const struct ynode *settings,
                          const struct ynode *at, const char *where, const char *config_dir,
                          struct plugin_settings **ret, struct diags *d)
{
    size_t n = 0;
    for (const struct cz_setting *s = p->settings; s && s->key; s++)
        n++;
    struct plugin_settings *out = calloc(1, sizeof(*out));
    if (!out || !(out->v = calloc(n ? n : 1, sizeof(*out->v)))) {
        free(out);
        return -ENOMEM;
    }
    out->n = n;
    bool bad = false;
    if (settings && settings->type != YNODE_NULL) {
        _cleanup_free_ char *what = strdupf("settings of %s", where);
        if (ynode_expect(settings, YNODE_MAP, what ? what : "settings", d) < 0) {
            plugin_settings_free(out);
            return -EINVAL;
        }
        const char *keys[n + 1];
        for (size_t i = 0; i < n; i++)
            keys[i] = p->settings[i].key;
        keys[n] = NULL;
        _cleanup_free_ char *in = strdupf("settings of %s (plugin '%s')", where, p->name);
        if (ynode_check_keys(settings, keys, in ? in : "settings", d) > 0)
            bad = true;
    } else
        settings = NULL;
    for (size_t i = 0; i < n; i++) {
        struct plugin_value *v = &out->v[i];
        v->def = &p->settings[i];
        const struct ynode *node = settings ? ynode_get(settings, v->def->key) : NULL;
        if (node && node->type != YNODE_NULL) {
            int r = parse_one(v, node, config_dir, d);
            if (r == -ENOMEM) {
                plugin_settings_free(out);
                return r;
            }
            bad |= r < 0;
        } else if (v->def->required) {
            const struct ynode *pos = settings ? settings : at;
            diag_error(d, pos ? pos->file : NULL, pos ? pos->line : 0, pos ? pos->col : 0,
                       "%s: plugin '%s' needs setting '%s' (%s)", where, p->name, v->def->key,
                       v->def->doc ? v->def->doc : cz_setting_type_to_string(v->def->type));
            bad = true;
        } else if (v->def->default_value) {
            if (!(v->text = strdup(v->def->default_value))) {
                plugin_settings_free(out);
                return -ENOMEM;
            }
            if (value_from_text(v, v->text) < 0) {
                /* a plugin bug: report it where the user can see it */
                diag_error(d, at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0,
                           "plugin '%s' has an invalid default '%s' for '%s'", p->name,
                           v->def->default_value, v->def->key);
                bad = true;
            }
        }
    }
    if (bad) {
        plugin_settings_free(out);
        return -EINVAL;
    }
    *ret = out;
    return 0;
}
