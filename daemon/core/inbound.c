/*
 * inbound.c - messages debtors send us (inbound.h): the `inbound:`
 * section, the stop-word rule and the sender's number.  Pure; what the
 * store writer does with a message is in inbound-store.c.
 *
 * Invariants:
 *  1. Words are compared folded on both sides (inbound_fold()), so the
 *     configuration's spelling and the message's case, spaces and dashes
 *     never decide a match.
 */
#include "inbound.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "template.h"
#include "ynode.h"

/* The built-in lists: the words the FCC lists (47 CFR 64.1200(a)(10)) and Spanish ones. */
static const char *const default_en[] = { "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END",
                                          "QUIT", "REVOKE", "OPT OUT", NULL };
static const char *const default_es[] = { "BAJA", "PARAR", NULL };
static const struct {
    const char *locale;
    const char *const *words;
} defaults[] = { { "en", default_en }, { "es", default_es } };

/* ---- folding and the rule ------------------------------------------------ */

int inbound_fold(const char *s, size_t n, char *out, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '-' || c == '_')
            continue;
        if (c == 0xc2 && i + 1 < n && p[i + 1] == 0xa0) { /* no-break space */
            i++;
            continue;
        }
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (k + 2 >= max)
            return -E2BIG;
        out[k++] = (char)c;
        /* Latin-1 capitals (U+00C0..U+00DE but for the sign U+00D7) */
        if (c == 0xc3 && i + 1 < n) {
            unsigned char d = p[++i];
            if (d >= 0x80 && d <= 0x9e && d != 0x97)
                d = (unsigned char)(d + 0x20);
            out[k++] = (char)d;
        }
    }
    out[k] = 0;
    return (int)k;
}

/* Bytes trimmed at the ends of a message: blanks and the punctuation around a word. */
static size_t trim_len(const unsigned char *p, size_t n, bool front)
{
    static const char punct[] = " \t\r\n.,!?;:\"'()*";
    if (!n)
        return 0;
    if (front) {
        if (memchr(punct, p[0], sizeof(punct) - 1))
            return 1;
        /* U+00A0 no-break space, U+00A1 ¡, U+00BF ¿ */
        if (n >= 2 && p[0] == 0xc2 && (p[1] == 0xa0 || p[1] == 0xa1 || p[1] == 0xbf))
            return 2;
        return 0;
    }
    if (memchr(punct, p[n - 1], sizeof(punct) - 1))
        return 1;
    if (n >= 2 && p[n - 2] == 0xc2 && p[n - 1] == 0xa0)
        return 2;
    return 0;
}

static bool is_word(const struct inbound_conf *c, const char *folded)
{
    for (size_t i = 0; i < c->nlists; i++)
        for (size_t k = 0; k < c->lists[i].n; k++)
            if (strcmp(c->lists[i].folded[k], folded) == 0)
                return true;
    return false;
}

static bool word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c >= 0x80;
}

enum inbound_class inbound_classify(const struct inbound_conf *c, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t t;
    char f[4 * INBOUND_WORD_MAX];
    if (!c || !text)
        return INBOUND_REPLY;
    while ((t = trim_len(p, len, true))) {
        p += t;
        len -= t;
    }
    while ((t = trim_len(p, len, false)))
        len -= t;
    if (!len)
        return INBOUND_REPLY;
    if (inbound_fold((const char *)p, len, f, sizeof(f)) > 0 && is_word(c, f))
        return INBOUND_STOP;
    /* a word, or two adjacent ones ("opt out"), of a longer message */
    size_t prev = 0, prev_len = 0;
    for (size_t i = 0; i < len;) {
        if (!word_byte(p[i])) {
            i++;
            continue;
        }
        size_t s = i;
        while (i < len && word_byte(p[i]))
            i++;
        if (i - s < INBOUND_WORD_MAX &&
            inbound_fold((const char *)p + s, i - s, f, sizeof(f)) > 0 && is_word(c, f))
            return INBOUND_MAYBE_STOP;
        if (prev_len && prev_len + (i - s) < INBOUND_WORD_MAX) {
            char two[2 * INBOUND_WORD_MAX];
            memcpy(two, p + prev, prev_len);
            memcpy(two + prev_len, p + s, i - s);
            if (inbound_fold(two, prev_len + (i - s), f, sizeof(f)) > 0 && is_word(c, f))
                return INBOUND_MAYBE_STOP;
        }
        prev = s;
        prev_len = i - s;
    }
    return INBOUND_REPLY;
}

/* ---- the sender's number ---------------------------------------------------- */

int inbound_sender(const char *s, size_t n, bool international, const char *region,
                   char out[PHONE_E164_MAX])
{
    char b[40];
    size_t k = 0;
    int type;
    for (size_t i = 0; s && i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')')
            continue;
        if (k + 2 >= sizeof(b) || !(c == '+' ? k == 0 : c >= '0' && c <= '9'))
            return -EINVAL;
        b[k++] = c;
    }
    b[k] = 0;
    if (k < 2)
        return -EINVAL;
    if (b[0] == '+')
        return phone_check(b, k, NULL, out, &type);
    if (b[0] == '0' && b[1] == '0') {
        b[1] = '+';
        return phone_check(b + 1, k - 1, NULL, out, &type);
    }
    if (!international && region && *region && phone_check(b, k, region, out, &type) == 0)
        return 0;
    memmove(b + 1, b, k + 1);
    b[0] = '+';
    return phone_check(b, k + 1, NULL, out, &type);
}

/* ---- the configuration ------------------------------------------------------- */

static const char *const inbound_keys[] = { "stop_words", "confirmation_template", NULL };

void inbound_conf_free(struct inbound_conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nlists; i++) {
        strv_free(c->lists[i].words, c->lists[i].n);
        strv_free(c->lists[i].folded, c->lists[i].n);
    }
    free(c->lists);
    free(c->confirmation_template);
    free(c->file);
    free(c);
}

/* The list of a locale, added empty when there is none yet; NULL: out of memory. */
static struct inbound_words *list_of(struct inbound_conf *c, const char *locale)
{
    for (size_t i = 0; i < c->nlists; i++)
        if (strcmp(c->lists[i].locale, locale) == 0)
            return &c->lists[i];
    struct inbound_words *v = realloc(c->lists, (c->nlists + 1) * sizeof(*v));
    if (!v)
        return NULL;
    c->lists = v;
    v = &c->lists[c->nlists++];
    memset(v, 0, sizeof(*v));
    snprintf(v->locale, sizeof(v->locale), "%s", locale);
    return v;
}

static void list_clear(struct inbound_words *l)
{
    strv_free(l->words, l->n);
    strv_free(l->folded, l->n);
    l->words = l->folded = NULL;
    l->n = 0;
}

/* Add a word: 0, -EINVAL (empty once folded, too long), -ENOMEM. */
static int list_add(struct inbound_words *l, const char *w)
{
    char f[4 * INBOUND_WORD_MAX];
    if (strlen(w) > INBOUND_WORD_MAX || inbound_fold(w, strlen(w), f, sizeof(f)) <= 0)
        return -EINVAL;
    char **a = realloc(l->words, (l->n + 1) * sizeof(*a));
    if (!a)
        return -ENOMEM;
    l->words = a;
    char **b = realloc(l->folded, (l->n + 1) * sizeof(*b));
    if (!b)
        return -ENOMEM;
    l->folded = b;
    if (!(a[l->n] = strdup(w)))
        return -ENOMEM;
    if (!(b[l->n] = strdup(f))) {
        free(a[l->n]);
        return -ENOMEM;
    }
    l->n++;
    return 0;
}

static int load_words(struct inbound_conf *c, const struct ynode *sw, struct diags *d)
{
    bool bad = false;
    if (ynode_expect(sw, YNODE_MAP, "inbound.stop_words", d) < 0)
        return -EINVAL;
    for (size_t i = 0; i < sw->n; i++) {
        const struct ynode *k = sw->keys[i], *v = sw->items[i];
        if (!config_locale_valid(k->str)) {
            diag_error(d, k->file, k->line, k->col,
                       "inbound.stop_words: '%s' is not a locale (expected a language like 'es' "
                       "or 'en-GB')", k->str);
            bad = true;
            continue;
        }
        struct inbound_words *l = list_of(c, k->str);
        if (!l)
            return -ENOMEM;
        list_clear(l); /* the configured list replaces the built-in one */
        if (v->type == YNODE_NULL)
            continue;
        if (ynode_expect(v, YNODE_SEQ, "inbound.stop_words", d) < 0) {
            bad = true;
            continue;
        }
        for (size_t j = 0; j < v->n; j++) {
            const struct ynode *w = v->items[j];
            const char *s;
            if (ynode_str(w, "stop word", &s, d) < 0) {
                bad = true;
                continue;
            }
            int r = list_add(l, s);
            if (r == -ENOMEM)
                return r;
            if (r < 0) {
                diag_error(d, w->file, w->line, w->col,
                           "inbound.stop_words.%s: '%s' is not a stop word (1 to %d bytes, "
                           "not only spaces, '-' or '_')", k->str, s, INBOUND_WORD_MAX);
                bad = true;
            }
        }
    }
    return bad ? -EINVAL : 0;
}

int inbound_conf_load(const struct ynode *n, struct inbound_conf **ret, struct diags *d)
{
    struct inbound_conf *c = calloc(1, sizeof(*c));
    int r = -ENOMEM;
    if (!c)
        return -ENOMEM;
    for (size_t i = 0; i < ELEMENTSOF(defaults); i++) {
        struct inbound_words *l = list_of(c, defaults[i].locale);
        if (!l)
            goto fail;
        for (const char *const *w = defaults[i].words; *w; w++)
            if ((r = list_add(l, *w)) < 0)
                goto fail;
    }
    if (!(c->confirmation_template = strdup(INBOUND_DEFAULT_TEMPLATE))) {
        r = -ENOMEM;
        goto fail;
    }
    r = 0;
    if (n && n->type != YNODE_NULL) {
        if (ynode_expect(n, YNODE_MAP, "inbound", d) < 0) {
            r = -EINVAL;
            goto fail;
        }
        bool bad = ynode_check_keys(n, inbound_keys, "inbound", d) > 0;
        const struct ynode *v;
        if ((v = ynode_get(n, "stop_words")) && v->type != YNODE_NULL &&
            (r = load_words(c, v, d)) < 0) {
            if (r == -ENOMEM)
                goto fail;
            bad = true;
        }
        if ((v = ynode_get(n, "confirmation_template"))) {
            const char *s;
            free(c->confirmation_template);
            c->confirmation_template = NULL;
            c->line = v->line;
            c->col = v->col;
            if (v->file && !(c->file = strdup(v->file))) {
                r = -ENOMEM;
                goto fail;
            }
            if (v->type == YNODE_NULL || (v->type == YNODE_SCALAR && !*v->str))
                ; /* no confirmation */
            else if (ynode_str(v, "confirmation_template", &s, d) < 0)
                bad = true;
            else if (strlen(s) > 100 || strpbrk(s, "/ \t\r\n"))
                bad = true, diag_error(d, v->file, v->line, v->col,
                                       "inbound.confirmation_template: '%s' is not a template "
                                       "name", s);
            else if (!(c->confirmation_template = strdup(s))) {
                r = -ENOMEM;
                goto fail;
            }
        }
        r = bad ? -EINVAL : 0;
    }
    if (r < 0)
        goto fail;
    *ret = c;
    return 0;
fail:
    inbound_conf_free(c);
    return r;
}

void inbound_check_templates(const struct config *cfg, const struct template_set *ts,
                             const char *dir, struct diags *d)
{
    const struct inbound_conf *in = cfg->inbound;
    bool texts = false;
    for (size_t i = 0; i < cfg->nchannels; i++)
        texts |= cfg->channels[i].kind == CHAN_SMS || cfg->channels[i].kind == CHAN_CHAT;
    if (texts && in && in->confirmation_template && ts &&
        !template_set_find(ts, in->confirmation_template, NULL, NULL))
        diag_warning(d, in->file ? in->file : cfg->file, in->line, in->col,
                     "no template '%s' in '%s' (inbound.confirmation_template): the "
                     "confirmation of a STOP would fail; add it, or set the key to null",
                     in->confirmation_template, dir ? dir : "");
}
