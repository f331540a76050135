/*
 * template.c - message templates per channel and locale: load and check
 * the files, pick the version for a locale, lint each use against the
 * jurisdiction profiles' rules, format money and dates, count SMS
 * segments, and render (docs/templates.md).
 *
 * Owns: the template_set (every file's parts) and the template_rules of
 * the profiles.  Never: prints, logs or reads the clock (now is an
 * argument); reads files in template_set_load() only.
 *
 * File format (one file per template and locale, NAME[.LOCALE].txt):
 *
 *     Subject: Your payment of {{amount}}     <- optional header block,
 *     Kind: message | voicemail                  ends at the first blank line
 *
 *     plain-text body
 *     --- html ---                            <- optional: the rest is HTML
 *     <p>HTML body</p>
 *
 * Invariants:
 *  1. Every file in a set parsed clean: valid UTF-8, known headers, a
 *     non-empty body, only the placeholders of enum template_var; a file
 *     with an error is reported and left out, its name remembered as
 *     broken so that no use of it is reported a second time.
 *  2. template_set_find() walks one fixed chain: the locale, its language,
 *     the neutral file, the default locale, its language.
 *  3. A file's own lints (voicemail content) are reported once per file
 *     and profile, however many strategies use it.
 *  4. Rendering is pure and total: a NULL value renders empty; HTML values
 *     are escaped; nothing but {{known}} placeholders is ever replaced.
 */
#include "template.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "debtor.h"
#include "job.h"
#include "link.h"
#include "tz.h"

static const char *const var_names[_TPL_VAR_MAX] = {
    [TPL_NAME] = "name",
    [TPL_AMOUNT] = "amount",
    [TPL_CURRENCY] = "currency",
    [TPL_DUE_DATE] = "due_date",
    [TPL_DAYS_PAST_DUE] = "days_past_due",
    [TPL_PAY_LINK] = "pay_link",
    [TPL_PLAN_LINK] = "plan_link",
    [TPL_RESCHEDULE_LINK] = "reschedule_link",
    [TPL_OPT_OUT_LINK] = "opt_out_link",
    [TPL_CREDITOR] = "creditor",
    [TPL_AGENT_PHONE] = "agent_phone",
    [TPL_AGENT_NAME] = "agent_name",
    [TPL_BUSINESS_NAME] = "business_name",
};

/*
 * The longest plausible value of each variable, for SMS segment counts
 * (docs/templates.md); links are measured from the configured base URL.
 */
static const unsigned plausible_len[_TPL_VAR_MAX] = {
    [TPL_NAME] = 30,        [TPL_AMOUNT] = 16,       [TPL_CURRENCY] = 3,
    [TPL_DUE_DATE] = 10,    [TPL_DAYS_PAST_DUE] = 4, [TPL_CREDITOR] = 30,
    [TPL_AGENT_PHONE] = 16, [TPL_AGENT_NAME] = 20,   [TPL_BUSINESS_NAME] = 30,
};
#define PLAUSIBLE_DEBTOR_ID 20
#define PLAUSIBLE_ATTEMPT_BYTES 6 /* LEB128 of an id below 2^42 */
#define PLAUSIBLE_EXPIRY_BYTES 5

static const char *const kind_names[_TEMPLATE_KIND_MAX] = {
    [TEMPLATE_MESSAGE] = "message",
    [TEMPLATE_VOICEMAIL] = "voicemail",
};

static const char *const header_names[] = { "Subject", "Kind" };

#define HTML_SEPARATOR "--- html ---"

const char *template_var_to_string(enum template_var v)
{
    return (unsigned)v < _TPL_VAR_MAX ? var_names[v] : NULL;
}

enum template_var template_var_from_string(const char *s, size_t n)
{
    for (int i = 0; i < _TPL_VAR_MAX; i++)
        if (strlen(var_names[i]) == n && memcmp(var_names[i], s, n) == 0)
            return (enum template_var)i;
    return _TPL_VAR_INVALID;
}

/* ---- the set --------------------------------------------------------- */

struct checked {
    const struct template *t;
    const struct template_rules *r;
};

struct template_set {
    struct template *v;
    size_t n;
    char **names;      /* distinct good names */
    size_t nnames;
    char **broken;     /* names with a file that failed to parse */
    size_t nbroken;
    char *default_locale;
    struct checked *checked; /* invariant 3 */
    size_t nchecked;
};

static void template_release(struct template *t)
{
    free(t->name);
    free(t->locale);
    free(t->file);
    free(t->subject);
    free(t->text);
    free(t->html);
}

struct template_set *template_set_new(const char *default_locale)
{
    struct template_set *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->default_locale = strdup(isempty(default_locale) ? "en" : default_locale);
    if (!s->default_locale) {
        free(s);
        return NULL;
    }
    return s;
}

void template_set_free(struct template_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        template_release(&s->v[i]);
    free(s->v);
    strv_free(s->names, s->nnames);
    strv_free(s->broken, s->nbroken);
    free(s->checked);
    free(s->default_locale);
    free(s);
}

static bool in_strv(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (streq(v[i], s))
            return true;
    return false;
}

static int strv_add_unique(char ***v, size_t *n, const char *s)
{
    if (in_strv(*v, *n, s))
        return 0;
    char **nv = reallocarray(*v, *n + 1, sizeof(char *));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return -ENOMEM;
    (*n)++;
    return 0;
}

size_t template_set_count(const struct template_set *s)
{
    return s ? s->nnames : 0;
}

bool template_set_has(const struct template_set *s, const char *name)
{
    return s && in_strv(s->names, s->nnames, name);
}

bool template_set_broken(const struct template_set *s, const char *name)
{
    return s && in_strv(s->broken, s->nbroken, name);
}

const char *const *template_set_names(const struct template_set *s, size_t *ret_n)
{
    *ret_n = s ? s->nnames : 0;
    return s ? (const char *const *)s->names : NULL;
}

/* ---- locales --------------------------------------------------------- */

/* "es_es" -> "es-ES"; false when it is not language[-REGION]. */
static bool locale_norm(const char *in, char out[TEMPLATE_LOCALE_MAX])
{
    size_t n = in ? strlen(in) : 0, i = 0;
    if (n == 0 || n >= TEMPLATE_LOCALE_MAX)
        return false;
    for (; i < n && i < 3 && ((in[i] | 0x20) >= 'a' && (in[i] | 0x20) <= 'z'); i++)
        out[i] = (char)(in[i] | 0x20);
    if (i < 2)
        return false;
    if (i == n) {
        out[i] = 0;
        return true;
    }
    if ((in[i] != '-' && in[i] != '_') || n - i - 1 < 2)
        return false;
    out[i] = '-';
    for (size_t j = i + 1; j < n; j++) {
        char c = in[j];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
        out[j] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
    }
    out[n] = 0;
    return true;
}

static const struct template *lookup(const struct template_set *s, const char *name,
                                     const char *locale)
{
    for (size_t i = 0; i < s->n; i++)
        if (streq(s->v[i].name, name) && streq_ptr(s->v[i].locale, locale))
            return &s->v[i];
    return NULL;
}

const struct template *template_set_find(const struct template_set *s, const char *name,
                                         const char *locale, bool *ret_exact)
{
    char loc[TEMPLATE_LOCALE_MAX], lang[TEMPLATE_LOCALE_MAX];
    const struct template *t = NULL;
    bool exact = false;

    if (!s || !name)
        return NULL;
    /* invariant 2 */
    if (locale_norm(locale, loc)) {
        memcpy(lang, loc, sizeof(lang));
        lang[strcspn(lang, "-")] = 0;
        t = lookup(s, name, loc);
        if (!t && strchr(loc, '-'))
            t = lookup(s, name, lang);
        exact = t != NULL;
    }
    if (!t)
        t = lookup(s, name, NULL);
    if (!t && locale_norm(s->default_locale, loc)) {
        memcpy(lang, loc, sizeof(lang));
        lang[strcspn(lang, "-")] = 0;
        t = lookup(s, name, loc);
        if (!t && strchr(loc, '-'))
            t = lookup(s, name, lang);
    }
    if (ret_exact)
        *ret_exact = exact;
    return t;
}

/* ---- parsing a file -------------------------------------------------- */

typedef void (*placeholder_fn)(void *ud, enum template_var v, int line, int col);

/*
 * Scan text for placeholders; report problems with positions from
 * line0/col 1; call fn for every known one.  -EINVAL when one was bad.
 */
static int scan_placeholders(const char *file, const char *s, size_t len, int line0,
                             uint32_t *vars, struct diags *d, placeholder_fn fn, void *ud)
{
    int line = line0, col = 1;
    bool bad = false;
    for (size_t i = 0; i < len;) {
        if (s[i] == '\n') {
            line++;
            col = 1;
            i++;
            continue;
        }
        if (!(s[i] == '{' && i + 1 < len && s[i + 1] == '{')) {
            /* Count columns in characters, not bytes. */
            if (((unsigned char)s[i] & 0xc0) != 0x80)
                col++;
            i++;
            continue;
        }
        size_t j = i + 2;
        while (j < len && s[j] == ' ')
            j++;
        size_t a = j;
        while (j < len && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
                           (s[j] >= '0' && s[j] <= '9') || s[j] == '_'))
            j++;
        size_t b = j;
        while (j < len && s[j] == ' ')
            j++;
        if (j + 1 >= len || s[j] != '}' || s[j + 1] != '}' || a == b) {
            size_t e = i + 2;
            while (e < len && s[e] != '\n' && !(s[e] == '}' && e + 1 < len && s[e + 1] == '}'))
                e++;
            if (d && e < len && s[e] == '}')
                diag_error(d, file, line, col, "malformed placeholder '%.*s'",
                           (int)(e + 2 - i > 60 ? 60 : e + 2 - i), s + i);
            else if (d)
                diag_error(d, file, line, col, "unterminated placeholder '{{'");
            bad = true;
            i += 2;
            col += 2;
            continue;
        }
        enum template_var v = template_var_from_string(s + a, b - a);
        if (v < 0) {
            char word[64];
            size_t k = b - a < sizeof(word) - 1 ? b - a : sizeof(word) - 1;
            memcpy(word, s + a, k);
            word[k] = 0;
            const char *near = closest_word(word, var_names, _TPL_VAR_MAX);
            if (d && near)
                diag_error(d, file, line, col, "unknown placeholder '%s'; did you mean '%s'?",
                           word, near);
            else if (d)
                diag_error(d, file, line, col, "unknown placeholder '%s'", word);
            bad = true;
        } else {
            if (vars)
                *vars |= 1u << v;
            if (fn)
                fn(ud, v, line, col);
        }
        col += (int)(j + 2 - i);
        i = j + 2;
    }
    return bad ? -EINVAL : 0;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
            return false;
    return true;
}

/* Does the line at p (length n, no '\n') start with a known "Header:"? */
static int header_of(const char *p, size_t n)
{
    for (size_t h = 0; h < ELEMENTSOF(header_names); h++) {
        size_t k = strlen(header_names[h]);
        if (n > k && memcmp(p, header_names[h], k) == 0 && p[k] == ':')
            return (int)h;
    }
    return -1;
}

/* Split NAME[.LOCALE] (the file name without ".txt"). */
static int split_name(const char *base, char **ret_name, char **ret_locale)
{
    const char *dot = strrchr(base, '.');
    char loc[TEMPLATE_LOCALE_MAX];
    *ret_locale = NULL;
    if (dot && dot != base && locale_norm(dot + 1, loc) && streq(loc, dot + 1)) {
        *ret_name = strndup(base, (size_t)(dot - base));
        *ret_locale = strdup(loc);
        if (!*ret_name || !*ret_locale)
            return -ENOMEM;
        return 0;
    }
    *ret_name = strdup(base);
    return *ret_name ? 0 : -ENOMEM;
}

static bool valid_name(const char *s)
{
    if (isempty(s) || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

static int parse_file(const char *name, const char *file, const char *buf, size_t len,
                      struct template *t, struct diags *d)
{
    bool bad = false;
    const char *p = buf, *end = buf + len;
    int line = 1;

    if (!utf8_valid(buf, len) || memchr(buf, 0, len)) {
        diag_error(d, file, 1, 1, "template '%s' is not valid UTF-8 text", name);
        return -EINVAL;
    }
    /* the header block: only when the first line is a known header */
    if (header_of(p, (size_t)((memchr(p, '\n', len) ? (const char *)memchr(p, '\n', len) : end) - p)) >= 0) {
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t ll = (size_t)((nl ? nl : end) - p);
            if (ll > 0 && p[ll - 1] == '\r')
                ll--;
            if (ll == 0) { /* the blank line ends the headers */
                p = nl ? nl + 1 : end;
                line++;
                break;
            }
            int h = header_of(p, ll);
            const char *colon = memchr(p, ':', ll);
            if (h < 0) {
                char word[32];
                size_t k = colon ? (size_t)(colon - p) : ll;
                snprintf(word, sizeof(word), "%.*s", (int)(k < 31 ? k : 31), p);
                const char *near = closest_word(word, header_names, ELEMENTSOF(header_names));
                if (near)
                    diag_error(d, file, line, 1, "unknown header '%s'; did you mean '%s'? "
                               "(a blank line must end the headers)", word, near);
                else
                    diag_error(d, file, line, 1, "unknown header '%s' (Subject or Kind; a "
                               "blank line must end the headers)", word);
                bad = true;
            } else {
                const char *v = colon + 1, *ve = p + ll;
                while (v < ve && *v == ' ')
                    v++;
                while (ve > v && ve[-1] == ' ')
                    ve--;
                if (h == 0) {
                    if (ve == v) {
                        diag_error(d, file, line, 1, "empty 'Subject:' line in template '%s'",
                                   name);
                        bad = true;
                    }
                    free(t->subject);
                    if (!(t->subject = strndup(v, (size_t)(ve - v))))
                        return -ENOMEM;
                    t->subject_line = line;
                    if (scan_placeholders(file, p, ll, line, &t->vars, d, NULL, NULL) < 0)
                        bad = true;
                } else {
                    size_t k = 0;
                    for (; k < _TEMPLATE_KIND_MAX; k++)
                        if (strlen(kind_names[k]) == (size_t)(ve - v) &&
                            memcmp(kind_names[k], v, (size_t)(ve - v)) == 0)
                            break;
                    if (k == _TEMPLATE_KIND_MAX) {
                        diag_error(d, file, line, (int)(v - p) + 1,
                                   "unknown template kind '%.*s' (message or voicemail)",
                                   (int)(ve - v), v);
                        bad = true;
                    } else
                        t->kind = (enum template_kind)k;
                }
            }
            p = nl ? nl + 1 : end;
            line++;
        }
    }
    /* the body, and an HTML part after the separator line */
    const char *body = p, *html = NULL, *body_end = end;
    int html_line = 0;
    for (const char *q = body; q < end;) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        size_t ll = (size_t)((nl ? nl : end) - q);
        if (ll > 0 && q[ll - 1] == '\r')
            ll--;
        if (ll == strlen(HTML_SEPARATOR) && memcmp(q, HTML_SEPARATOR, ll) == 0) {
            body_end = q;
            html = nl ? nl + 1 : end;
            html_line = line + 1;
            break;
        }
        q = nl ? nl + 1 : end;
        line++;
    }
    /* the body's first line (line has been advanced through the body) */
    int body_line = 1;
    for (const char *q = buf; q < body; q++)
        body_line += *q == '\n';
    if (blank(body, (size_t)(body_end - body))) {
        diag_error(d, file, 1, 1, "template '%s' has an empty body", name);
        bad = true;
    }
    if (scan_placeholders(file, body, (size_t)(body_end - body), body_line, &t->vars, d, NULL,
                          NULL) < 0)
        bad = true;
    if (html) {
        if (blank(html, (size_t)(end - html))) {
            diag_error(d, file, html_line - 1, 1, "empty HTML part in template '%s'", name);
            bad = true;
        }
        if (scan_placeholders(file, html, (size_t)(end - html), html_line, &t->vars, d, NULL,
                              NULL) < 0)
            bad = true;
        if (!(t->html = strndup(html, (size_t)(end - html))))
            return -ENOMEM;
        t->html_line = html_line;
    }
    /*
     * The text ends with its last line's characters: the file's final line
     * break (or the one before the separator) is not part of the message,
     * where it would cost an SMS character, or a segment in UCS-2.
     */
    size_t tl = (size_t)(body_end - body);
    while (tl > 0 && (body[tl - 1] == '\n' || body[tl - 1] == '\r'))
        tl--;
    if (!(t->text = strndup(body, tl)))
        return -ENOMEM;
    t->text_line = body_line;
    return bad ? -EINVAL : 0;
}

int template_set_add(struct template_set *s, const char *file, const char *buf, size_t len,
                     struct diags *d)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    size_t bl = strlen(base);
    _cleanup_free_ char *stem = strndup(base, bl > 4 && streq(base + bl - 4, ".txt") ? bl - 4 : bl);
    struct template t = { 0 };
    int r;

    if (!stem)
        return -ENOMEM;
    if ((r = split_name(stem, &t.name, &t.locale)) < 0)
        goto fail;
    if (!valid_name(t.name)) {
        diag_error(d, file, 0, 0,
                   "invalid template name '%s': use letters, digits, '-', '_' or '.'", stem);
        r = -EINVAL;
        goto fail;
    }
    if (!(t.file = strdup(file))) {
        r = -ENOMEM;
        goto fail;
    }
    r = parse_file(t.name, file, buf, len, &t, d);
    if (r < 0)
        goto fail;
    struct template *nv = reallocarray(s->v, s->n + 1, sizeof(*nv));
    if (!nv) {
        r = -ENOMEM;
        goto fail;
    }
    s->v = nv;
    if ((r = strv_add_unique(&s->names, &s->nnames, t.name)) < 0)
        goto fail;
    s->v[s->n++] = t;
    return 0;
fail:
    if (r == -EINVAL && t.name && strv_add_unique(&s->broken, &s->nbroken, t.name) < 0)
        r = -ENOMEM;
    template_release(&t);
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.txt files of dir, sorted, as full paths. */
static int list_txt(const char *dir, char ***ret, size_t *ret_n)
{
    DIR *dp = opendir(dir);
    char **v = NULL;
    size_t n = 0;
    struct dirent *de;
    int r = 0;
    if (!dp)
        return -errno;
    while ((de = readdir(dp))) {
        size_t k = strlen(de->d_name);
        if (de->d_name[0] == '.' || k <= 4 || !streq(de->d_name + k - 4, ".txt"))
            continue;
        char **nv = reallocarray(v, n + 1, sizeof(*v));
        if (!nv) {
            r = -ENOMEM;
            break;
        }
        v = nv;
        if (!(v[n] = strdupf("%s/%s", dir, de->d_name))) {
            r = -ENOMEM;
            break;
        }
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

static int read_small_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
    int fd = open_regular(path); /* a FIFO would block: refused instead */
    if (fd < 0)
        return fd;
    FILE *f = fdopen(fd, "re");
    if (!f) {
        close(fd);
        return -errno;
    }
    struct sbuf b = SBUF_INIT;
    b.max = max + 1;
    char tmp[4096];
    size_t k;
    int r = 0;
    while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if ((r = sbuf_add(&b, tmp, k)) < 0)
            break;
    if (r == 0 && ferror(f))
        r = -EIO;
    fclose(f);
    if (r < 0) {
        sbuf_release(&b);
        return r;
    }
    sbuf_cstr(&b);
    *ret = b.buf ? b.buf : strdup("");
    *ret_len = b.len;
    return *ret ? 0 : -ENOMEM;
}

int template_set_load(const char *dir, const char *default_locale, struct template_set **ret,
                      struct diags *d)
{
    struct template_set *s = template_set_new(default_locale);
    char **files = NULL;
    size_t nf = 0;
    bool bad = false;
    int r;

    if (!s)
        return -ENOMEM;
    r = list_txt(dir, &files, &nf);
    if (r < 0) {
        if (r == -ENOMEM) {
            template_set_free(s);
            return r;
        }
        diag_error(d, dir, 0, 0, "cannot read template directory: %s", file_strerror(r));
        *ret = s;
        return -EINVAL;
    }
    r = 0;
    for (size_t i = 0; i < nf && r != -ENOMEM; i++) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        r = read_small_file(files[i], TEMPLATE_MAX_SIZE, &buf, &len);
        if (r == -E2BIG)
            diag_error(d, files[i], 0, 0, "template is larger than %d bytes", TEMPLATE_MAX_SIZE);
        else if (r < 0 && r != -ENOMEM)
            diag_error(d, files[i], 0, 0, "cannot read template: %s", file_strerror(r));
        else if (r == 0)
            r = template_set_add(s, files[i], buf, len, d);
        if (r < 0 && r != -ENOMEM)
            bad = true;
    }
    strv_free(files, nf);
    if (r == -ENOMEM) {
        template_set_free(s);
        return r;
    }
    *ret = s;
    return bad ? -EINVAL : 0;
}

/* ---- profile rules --------------------------------------------------- */

static const char *const rules_keys[] = { "locales", "required", "sms_max_segments",
                                          "voicemail", NULL };
static const char *const voicemail_keys[] = { "variables", "debt_words", NULL };

void template_rules_free(struct template_rules *r)
{
    if (!r)
        return;
    strv_free(r->locales, r->nlocales);
    strv_free(r->debt_words, r->ndebt_words);
    free(r);
}

/* A list of variable names into a bit mask. */
static uint32_t var_list(const struct ynode *n, const char *what, struct diags *d)
{
    uint32_t m = 0;
    if (ynode_expect(n, YNODE_SEQ, what, d) < 0)
        return 0;
    for (size_t i = 0; i < n->n; i++) {
        const char *s;
        if (ynode_str(n->items[i], what, &s, d) < 0)
            continue;
        enum template_var v = template_var_from_string(s, strlen(s));
        if (v < 0) {
            const char *near = closest_word(s, var_names, _TPL_VAR_MAX);
            const struct ynode *it = n->items[i];
            if (near)
                diag_error(d, it->file, it->line, it->col,
                           "unknown template variable '%s'; did you mean '%s'?", s, near);
            else
                diag_error(d, it->file, it->line, it->col, "unknown template variable '%s'", s);
            continue;
        }
        m |= 1u << v;
    }
    return m;
}

static int str_list(const struct ynode *n, const char *what, bool locale, char ***v, size_t *nv,
                    struct diags *d)
{
    if (ynode_expect(n, YNODE_SEQ, what, d) < 0)
        return 0;
    for (size_t i = 0; i < n->n; i++) {
        const char *s;
        const struct ynode *it = n->items[i];
        if (ynode_str(it, what, &s, d) < 0)
            continue;
        if (locale && !config_locale_valid(s)) {
            diag_error(d, it->file, it->line, it->col,
                       "invalid locale '%s' (expected a language like 'es' or 'en-GB')", s);
            continue;
        }
        if (!locale && (!*s || strlen(s) > 64)) {
            diag_error(d, it->file, it->line, it->col, "invalid word '%s' in '%s'", s, what);
            continue;
        }
        if (strv_add_unique(v, nv, s) < 0)
            return -ENOMEM;
    }
    return 0;
}

int template_rules_load(const struct ynode *n, struct template_rules **ret, struct diags *d)
{
    size_t errors0 = d->nerrors;
    struct template_rules *r = calloc(1, sizeof(*r));
    const struct ynode *v, *m;
    int64_t iv;
    if (!r)
        return -ENOMEM;
    if (ynode_expect(n, YNODE_MAP, "templates", d) < 0)
        goto out;
    ynode_check_keys(n, rules_keys, "'templates'", d);
    if ((v = ynode_get(n, "locales")) && str_list(v, "locales", true, &r->locales, &r->nlocales,
                                                  d) < 0)
        goto oom;
    if ((v = ynode_get(n, "sms_max_segments")) &&
        ynode_int(v, "sms_max_segments", 1, 10, &iv, d) == 0)
        r->sms_max_segments = (int)iv;
    if ((m = ynode_get(n, "required")) && ynode_expect(m, YNODE_MAP, "required", d) == 0) {
        for (size_t i = 0; i < m->n; i++) {
            const struct ynode *k = m->keys[i];
            enum chan_kind ck = chan_kind_from_string(k->str);
            if (ck < 0) {
                diag_error(d, k->file, k->line, k->col,
                           "unknown channel kind '%s' (email, sms, chat, call or letter)", k->str);
                continue;
            }
            r->required[ck] = var_list(m->items[i], k->str, d);
        }
    }
    if ((m = ynode_get(n, "voicemail")) && ynode_expect(m, YNODE_MAP, "voicemail", d) == 0) {
        ynode_check_keys(m, voicemail_keys, "'voicemail'", d);
        r->voicemail = true;
        if ((v = ynode_get(m, "variables")))
            r->voicemail_vars = var_list(v, "variables", d);
        else
            diag_error(d, m->file, m->line, m->col, "'voicemail' has no 'variables'");
        if ((v = ynode_get(m, "debt_words")) &&
            str_list(v, "debt_words", false, &r->debt_words, &r->ndebt_words, d) < 0)
            goto oom;
    }
out:
    if (d->nerrors > errors0) {
        template_rules_free(r);
        return -EINVAL;
    }
    *ret = r;
    return 0;
oom:
    template_rules_free(r);
    return -ENOMEM;
}

/* ---- SMS segments ---------------------------------------------------- */

/* GSM 03.38 default alphabet beyond ASCII, and the extension table. */
static const char gsm_basic_utf8[] = "£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà";
static const char gsm_ext_ascii[] = "^{}\\[~]|\f";

/* 1 (basic), 2 (extension) or 0 (not GSM-7) for the code point at s (n bytes). */
static int gsm_units(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    if (n == 1) {
        if (c == '`' || (c < 0x20 && c != '\n' && c != '\r' && c != '\f') || c == 0x7f)
            return 0;
        return strchr(gsm_ext_ascii, c) ? 2 : 1;
    }
    if (n == 3 && memcmp(s, "€", 3) == 0)
        return 2;
    for (const char *p = gsm_basic_utf8; *p;) {
        size_t k = utf8_seq((const unsigned char *)p, (const unsigned char *)p + 4);
        if (k == n && memcmp(p, s, n) == 0)
            return 1;
        p += k ? k : 1;
    }
    return 0;
}

void template_sms_count(const char *s, size_t n, struct sms_count *ret)
{
    size_t gsm = 0, utf16 = 0;
    bool ucs2 = false;
    for (size_t i = 0; i < n;) {
        size_t k = (unsigned char)s[i] < 0x80 ? 1
                   : utf8_seq((const unsigned char *)s + i, (const unsigned char *)s + n);
        if (k == 0)
            k = 1; /* not UTF-8: counted as one unit, and not GSM */
        int g = gsm_units(s + i, k);
        if (g == 0)
            ucs2 = true;
        gsm += (size_t)g;
        utf16 += k == 4 ? 2 : 1;
        i += k;
    }
    ret->ucs2 = ucs2;
    ret->units = ucs2 ? utf16 : gsm;
    size_t single = ucs2 ? 70 : 160, part = ucs2 ? 67 : 153;
    ret->segments = ret->units <= single ? 1 : (int)((ret->units + part - 1) / part);
}

/* ---- money and dates ------------------------------------------------- */

struct locale_fmt {
    const char *lang;
    char group, decimal;
    bool symbol_first;   /* "$1,234.56" vs "1.234,56 €" */
    enum { DATE_DMY_SLASH, DATE_MDY_SLASH, DATE_DMY_DOT, DATE_YMD } date;
};

static const struct locale_fmt locale_fmts[] = {
    { "en", ',', '.', true, DATE_DMY_SLASH }, /* en-US: month first, below */
    { "es", '.', ',', false, DATE_DMY_SLASH },
    { "ca", '.', ',', false, DATE_DMY_SLASH },
    { "pt", '.', ',', false, DATE_DMY_SLASH },
    { "it", '.', ',', false, DATE_DMY_SLASH },
    { "fr", ' ', ',', false, DATE_DMY_SLASH },
    { "de", '.', ',', false, DATE_DMY_DOT },
    { "nl", '.', ',', false, DATE_DMY_SLASH },
};

static const struct locale_fmt *fmt_for(const char *locale, bool *ret_us)
{
    char loc[TEMPLATE_LOCALE_MAX];
    *ret_us = false;
    if (!locale_norm(locale, loc))
        return &locale_fmts[0];
    *ret_us = streq(loc, "en-US");
    loc[strcspn(loc, "-")] = 0;
    for (size_t i = 0; i < ELEMENTSOF(locale_fmts); i++)
        if (streq(locale_fmts[i].lang, loc))
            return &locale_fmts[i];
    return &locale_fmts[0];
}

static const struct {
    const char *code, *first, *after; /* symbol before the amount (en), after it (es) */
} currency_symbols[] = {
    { "EUR", "€", "€" }, { "USD", "$", "US$" }, { "GBP", "£", "£" }, { "MXN", "MX$", "MXN" },
};

int template_format_amount(int64_t minor, const char *currency, const char *locale, char *buf,
                           size_t len)
{
    bool us;
    const struct locale_fmt *f = fmt_for(locale, &us);
    int exp = currency_exponent(currency);
    char digits[32], grouped[48];
    const char *sym = NULL;

    if (exp < 0)
        exp = 2;
    if (exp > 4)
        exp = 4;
    for (size_t i = 0; currency && i < ELEMENTSOF(currency_symbols); i++)
        if (streq(currency_symbols[i].code, currency))
            sym = f->symbol_first ? currency_symbols[i].first : currency_symbols[i].after;
    uint64_t u = minor < 0 ? -(uint64_t)minor : (uint64_t)minor, pow = 1;
    for (int i = 0; i < exp; i++)
        pow *= 10;
    uint64_t whole = u / pow, frac = u % pow;
    int nd = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)whole);
    size_t o = 0;
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0) {
            if (f->group == ' ') { /* French: a narrow no-break space */
                memcpy(grouped + o, "\u202f", 3);
                o += 3;
            } else
                grouped[o++] = f->group;
        }
        grouped[o++] = digits[i];
    }
    if (exp > 0) {
        grouped[o++] = f->decimal;
        o += (size_t)snprintf(grouped + o, sizeof(grouped) - o, "%0*llu", exp,
                              (unsigned long long)frac);
    }
    grouped[o] = 0;
    const char *sign = minor < 0 ? "-" : "";
    int r;
    if (f->symbol_first)
        r = sym ? snprintf(buf, len, "%s%s%s", sign, sym, grouped)
                : snprintf(buf, len, "%s%s %s", sign, currency ? currency : "", grouped);
    else
        r = snprintf(buf, len, "%s%s %s", sign, grouped, sym ? sym : currency ? currency : "");
    return r < 0 || (size_t)r >= len ? -ENOBUFS : 0;
}

int template_format_date(int32_t day, const char *locale, char *buf, size_t len)
{
    bool us;
    const struct locale_fmt *f = fmt_for(locale, &us);
    int y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    int r;
    if (us)
        r = snprintf(buf, len, "%02u/%02u/%04d", m, d, y);
    else if (f->date == DATE_DMY_DOT)
        r = snprintf(buf, len, "%02u.%02u.%04d", d, m, y);
    else
        r = snprintf(buf, len, "%02u/%02u/%04d", d, m, y);
    return r < 0 || (size_t)r >= len ? -ENOBUFS : 0;
}

/* ---- rendering ------------------------------------------------------- */

void template_parts_release(struct template_parts *p)
{
    free(p->subject);
    free(p->text);
    free(p->html);
    *p = (struct template_parts){ 0 };
}

enum esc { ESC_NONE, ESC_HTML, ESC_LINE };

static int add_value(struct sbuf *b, const char *v, enum esc e)
{
    int r = 0;
    if (!v)
        return 0;
    if (e == ESC_NONE)
        return sbuf_adds(b, v);
    for (const char *p = v; *p && r >= 0; p++) {
        if (e == ESC_HTML && *p == '&')
            r = sbuf_adds(b, "&amp;");
        else if (e == ESC_HTML && *p == '<')
            r = sbuf_adds(b, "&lt;");
        else if (e == ESC_HTML && *p == '>')
            r = sbuf_adds(b, "&gt;");
        else if (e == ESC_HTML && *p == '"')
            r = sbuf_adds(b, "&quot;");
        else if (e == ESC_HTML && *p == '\'')
            r = sbuf_adds(b, "&#39;");
        else if (e == ESC_LINE && (*p == '\n' || *p == '\r'))
            r = sbuf_addc(b, ' ');
        else
            r = sbuf_addc(b, *p);
    }
    return r;
}

/* Replace the {{placeholders}} of a parsed (so well-formed) text. */
static int render_text(const char *text, const struct template_vars *vars, enum esc e,
                       char **ret)
{
    struct sbuf b = SBUF_INIT;
    const char *s = text;
    int r = 0;
    while (r >= 0 && *s) {
        const char *p = strstr(s, "{{");
        if (!p) {
            r = sbuf_adds(&b, s);
            break;
        }
        if ((r = sbuf_add(&b, s, (size_t)(p - s))) < 0)
            break;
        const char *a = p + 2, *end = strstr(a, "}}");
        if (!end) { /* cannot happen after parse_file(); keep the text as is */
            r = sbuf_adds(&b, p);
            break;
        }
        while (*a == ' ')
            a++;
        const char *z = end;
        while (z > a && z[-1] == ' ')
            z--;
        enum template_var v = template_var_from_string(a, (size_t)(z - a));
        if (v >= 0)
            r = add_value(&b, vars->v[v], e);
        else
            r = sbuf_add(&b, p, (size_t)(end + 2 - p));
        s = end + 2;
    }
    if (r >= 0 && !sbuf_cstr(&b))
        r = -ENOMEM;
    if (r < 0) {
        sbuf_release(&b);
        return -ENOMEM;
    }
    *ret = b.buf ? b.buf : strdup("");
    return *ret ? 0 : -ENOMEM;
}

int template_render(const struct template *t, const struct template_vars *vars,
                    struct template_parts *ret)
{
    struct template_parts p = { 0 };
    static const struct template_vars none = { { NULL } };
    if (!vars)
        vars = &none;
    if ((t->subject && render_text(t->subject, vars, ESC_LINE, &p.subject) < 0) ||
        render_text(t->text, vars, ESC_NONE, &p.text) < 0 ||
        (t->html && render_text(t->html, vars, ESC_HTML, &p.html) < 0)) {
        template_parts_release(&p);
        return -ENOMEM;
    }
    *ret = p;
    return 0;
}

/* "125.50" in a currency of exp digits -> 12550; -EINVAL. */
static int parse_minor(const char *s, int exp, int64_t *ret)
{
    bool neg = *s == '-';
    const char *p = s + neg, *dot = strchr(p, '.');
    size_t wl = dot ? (size_t)(dot - p) : strlen(p), fl = dot ? strlen(dot + 1) : 0;
    int64_t whole, frac = 0;
    if (wl == 0 || wl > 15 || strspn(p, "0123456789") != wl || parse_int64(p, wl, &whole) < 0)
        return -EINVAL;
    if (dot && (fl == 0 || (int)fl > exp || strspn(dot + 1, "0123456789") != fl ||
                parse_int64(dot + 1, fl, &frac) < 0))
        return -EINVAL;
    for (int i = (int)fl; i < exp; i++)
        frac *= 10;
    int64_t pow = 1;
    for (int i = 0; i < exp; i++)
        pow *= 10;
    *ret = (whole * pow + frac) * (neg ? -1 : 1);
    return 0;
}

static const char *json_str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The inputs a job's message is made from (the members of job->inputs_json). */
enum { IN_LOCALE, IN_NAME, IN_CURRENCY, IN_AMOUNT, IN_DUE_DATE, IN_CREDITOR, IN_AGENT_PHONE,
       IN_AGENT_NAME, IN_BUSINESS_NAME, _IN_MAX };
static const char *const input_names[_IN_MAX] = {
    [IN_LOCALE] = "locale", [IN_NAME] = "name", [IN_CURRENCY] = "currency",
    [IN_AMOUNT] = "amount", [IN_DUE_DATE] = "due_date", [IN_CREDITOR] = "creditor",
    [IN_AGENT_PHONE] = "agent_phone", [IN_AGENT_NAME] = "agent_name",
    [IN_BUSINESS_NAME] = "business_name",
};

int template_render_job(const struct template_set *s, const struct job *job,
                        const struct template_ctx *ctx, struct template_parts *ret,
                        const struct template **ret_tpl)
{
    static const struct { enum template_var v; enum link_action a; } link_vars[] = {
        { TPL_PAY_LINK, LINK_PAY },
        { TPL_PLAN_LINK, LINK_PLAN },
        { TPL_RESCHEDULE_LINK, LINK_PREFERENCES },
        { TPL_OPT_OUT_LINK, LINK_OPT_OUT },
    };
    struct template_vars vars = { { NULL } };
    struct sbuf links[ELEMENTSOF(link_vars)] = { SBUF_INIT, SBUF_INIT, SBUF_INIT, SBUF_INIT };
    char amount[64], due[32], dpd[16];
    const char *in[_IN_MAX] = { NULL };
    char small[2048], *mem = NULL; /* the decoded inputs */
    int r = 0;

    if (!job->template_name)
        return -ENOENT;
    if (job->inputs_json) {
        /* no JSON library per send: job.c's reader checks and picks the members */
        size_t len = job->inputs_json_len;
        if (len >= sizeof(small) && !(mem = malloc(len + 1)))
            return -ENOMEM;
        r = job_inputs_strings(job->inputs_json, len, input_names, _IN_MAX, in,
                               mem ? mem : small);
        if (r < 0) {
            free(mem);
            return r;
        }
    } else if (job->inputs) {
        for (int i = 0; i < _IN_MAX; i++)
            in[i] = json_str(job->inputs, input_names[i]);
    }
    /* jobs queued before the locale had its own member carry it in the inputs */
    const char *locale = job->locale ? job->locale : in[IN_LOCALE];
    const struct template *t = template_set_find(s, job->template_name, locale, NULL);
    if (!t) {
        free(mem);
        return -ENOENT;
    }
    if (!locale)
        locale = s->default_locale;

    vars.v[TPL_NAME] = in[IN_NAME];
    const char *cur = in[IN_CURRENCY];
    if (!cur)
        cur = ctx->default_currency;
    vars.v[TPL_CURRENCY] = cur;
    const char *am = in[IN_AMOUNT];
    int64_t minor;
    if (am) {
        int exp = currency_exponent(cur);
        if (parse_minor(am, exp < 0 ? 2 : exp > 4 ? 4 : exp, &minor) < 0 ||
            template_format_amount(minor, cur, locale, amount, sizeof(amount)) < 0) {
            r = -EINVAL;
            goto out;
        }
        vars.v[TPL_AMOUNT] = amount;
    }
    const char *dd = in[IN_DUE_DATE];
    int32_t due_day;
    if (dd) {
        if (parse_date(dd, strlen(dd), &due_day) < 0 ||
            template_format_date(due_day, locale, due, sizeof(due)) < 0) {
            r = -EINVAL;
            goto out;
        }
        vars.v[TPL_DUE_DATE] = due;
        /* days past due on the debtor's calendar */
        int32_t today = (int32_t)(ctx->now >= 0 ? ctx->now / 86400 : (ctx->now - 86399) / 86400);
        const struct tz *z;
        if (ctx->tz && job->time_zone && tz_cache_get(ctx->tz, job->time_zone, &z) == 0) {
            struct tz_local lt;
            tz_to_local(z, ctx->now, &lt);
            today = lt.days;
        }
        snprintf(dpd, sizeof(dpd), "%d", (int)(today - due_day));
        vars.v[TPL_DAYS_PAST_DUE] = dpd;
    }
    vars.v[TPL_CREDITOR] = in[IN_CREDITOR] ? in[IN_CREDITOR] : ctx->creditor;
    vars.v[TPL_AGENT_PHONE] = in[IN_AGENT_PHONE] ? in[IN_AGENT_PHONE] : ctx->agent_phone;
    vars.v[TPL_AGENT_NAME] = in[IN_AGENT_NAME] ? in[IN_AGENT_NAME] : ctx->agent_name;
    vars.v[TPL_BUSINESS_NAME] = in[IN_BUSINESS_NAME] ? in[IN_BUSINESS_NAME] : ctx->business_name;

    /* one signed link per link variable the template uses (keeps jobs small) */
    for (size_t i = 0; i < ELEMENTSOF(link_vars); i++) {
        if (!(t->vars & (1u << link_vars[i].v)) || !ctx->links)
            continue;
        r = link_url(ctx->links, job->attempt_id, job->debtor_id, link_vars[i].a, ctx->now,
                     &links[i]);
        if (r < 0)
            goto out;
        vars.v[link_vars[i].v] = sbuf_cstr(&links[i]);
    }
    r = template_render(t, &vars, ret);
    if (r == 0 && ret_tpl)
        *ret_tpl = t;
out:
    for (size_t i = 0; i < ELEMENTSOF(link_vars); i++)
        sbuf_release(&links[i]);
    free(mem);
    return r;
}

/* ---- checking a use -------------------------------------------------- */

static bool mark_checked(struct template_set *s, const struct template *t,
                         const struct template_rules *r)
{
    for (size_t i = 0; i < s->nchecked; i++)
        if (s->checked[i].t == t && s->checked[i].r == r)
            return true;
    struct checked *nv = reallocarray(s->checked, s->nchecked + 1, sizeof(*nv));
    if (nv) {
        s->checked = nv;
        nv[s->nchecked++] = (struct checked){ t, r };
    }
    return false;
}

static const char *base_of(const char *path)
{
    const char *sl = strrchr(path, '/');
    return sl ? sl + 1 : path;
}

struct vm_ctx {
    const struct template *t;
    const struct profile *p;
    uint32_t allowed;
    struct diags *d;
    bool bad;
};

static void voicemail_var(void *ud, enum template_var v, int line, int col)
{
    struct vm_ctx *c = ud;
    if (c->allowed & (1u << v))
        return;
    diag_error(c->d, c->t->file, line, col,
               "voicemail template '%s' uses '{{%s}}': profile '%s' allows only a limited-"
               "content message (Reg F 1006.2(j))", c->t->name, var_names[v], c->p->name);
    c->bad = true;
}

static bool word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80;
}

/* Report debt words in text (outside placeholders) at their positions. */
static void debt_words(struct vm_ctx *c, const char *text, int line0,
                       const struct template_rules *r)
{
    int line = line0, col = 1;
    for (size_t i = 0; text[i];) {
        if (text[i] == '\n') {
            line++, col = 1, i++;
            continue;
        }
        if (text[i] == '{' && text[i + 1] == '{') {
            const char *e = strstr(text + i, "}}");
            size_t k = e ? (size_t)(e + 2 - (text + i)) : 2;
            col += (int)k;
            i += k;
            continue;
        }
        if (word_char((unsigned char)text[i]) && (i == 0 || !word_char((unsigned char)text[i - 1]))) {
            for (size_t w = 0; w < r->ndebt_words; w++) {
                size_t n = strlen(r->debt_words[w]);
                if (strncasecmp(text + i, r->debt_words[w], n) == 0 &&
                    !word_char((unsigned char)text[i + n])) {
                    diag_error(c->d, c->t->file, line, col,
                               "voicemail template '%s' says '%.*s': profile '%s' forbids words "
                               "that reveal a debt in a limited-content message", c->t->name,
                               (int)n, text + i, c->p->name);
                    c->bad = true;
                    break;
                }
            }
        }
        if (((unsigned char)text[i] & 0xc0) != 0x80)
            col++;
        i++;
    }
}

/* The longest plausible rendering of t's text, for SMS counts. */
static int plausible_text(const struct template *t, const struct link_conf *links, char **ret)
{
    static char filler[256];
    if (!filler[0])
        memset(filler, 'x', sizeof(filler) - 1);
    size_t base = links && links->base_url ? strlen(links->base_url) : strlen("https://pay.example.com");
    size_t payload = 1 + PLAUSIBLE_ATTEMPT_BYTES + PLAUSIBLE_EXPIRY_BYTES + PLAUSIBLE_DEBTOR_ID;
    size_t kid = links && links->nkeys ? 0 : LINK_KEY_ID_MAX;
    for (size_t i = 0; links && i < links->nkeys; i++)
        if (strlen(links->keys[i].id) > kid)
            kid = strlen(links->keys[i].id);
    size_t link_len = base + strlen("/s/v1.") + kid + 1 + (payload * 4 + 2) / 3 + 1 + 43;
    struct template_vars v;
    for (int i = 0; i < _TPL_VAR_MAX; i++) {
        size_t n = plausible_len[i] ? plausible_len[i] : link_len;
        if (n > sizeof(filler) - 1)
            n = sizeof(filler) - 1;
        v.v[i] = filler + (sizeof(filler) - 1 - n);
    }
    return render_text(t->text, &v, ESC_NONE, ret);
}

int template_check_use(const struct template_set *cs, const char *name,
                       const struct channel_conf *ch, const struct profile *const *profiles,
                       size_t np, const struct link_conf *links, const struct ynode *at,
                       struct diags *d)
{
    struct template_set *s = (struct template_set *)cs; /* the memo of invariant 3 */
    size_t errors0 = d->nerrors;
    const char *f = at->file;
    char label[160];

    if (!template_set_find(s, name, NULL, NULL)) {
        diag_error(d, f, at->line, at->col,
                   "template '%s' has no version for the default locale '%s' (%s.txt or "
                   "%s.%s.txt)", name, s->default_locale, name, name, s->default_locale);
    }
    uint32_t required_somewhere = 0;
    int max_seg = 0;
    const struct profile *max_seg_p = NULL;
    for (size_t j = 0; j < np; j++) {
        const struct template_rules *r = profiles[j]->template_rules;
        if (!r)
            continue;
        required_somewhere |= r->required[ch->kind];
        if (r->sms_max_segments && (!max_seg || r->sms_max_segments < max_seg)) {
            max_seg = r->sms_max_segments;
            max_seg_p = profiles[j];
        }
    }
    /* the variants of the template, for problems shared by all of them */
    size_t nvar = 0, nosubj = 0, missing_in[_TPL_VAR_MAX] = { 0 };
    const struct template *first_t = NULL;
    uint32_t required_all = 0;
    for (size_t j = 0; j < np; j++)
        if (profiles[j]->template_rules)
            required_all |= profiles[j]->template_rules->required[ch->kind];
    for (size_t i = 0; i < s->n; i++) {
        const struct template *t = &s->v[i];
        if (!streq(t->name, name))
            continue;
        if (!first_t)
            first_t = t;
        nvar++;
        nosubj += !t->subject;
        for (int v = 0; v < _TPL_VAR_MAX; v++)
            missing_in[v] += (required_all & ~t->vars & (1u << v)) != 0;
    }
    for (size_t i = 0; i < s->n; i++) {
        const struct template *t = &s->v[i];
        if (!streq(t->name, name))
            continue;
        bool first = t == first_t;
        if (t->locale)
            snprintf(label, sizeof(label), "template '%s' (%s)", name, base_of(t->file));
        else
            snprintf(label, sizeof(label), "template '%s'", name);
        /* a problem every version has is told once, without a file name */
        char all[96];
        snprintf(all, sizeof(all), "template '%s'", name);
        if (ch->kind == CHAN_EMAIL && !t->subject && (nosubj < nvar || first))
            diag_error(d, f, at->line, at->col,
                       "%s has no 'Subject:' line, needed on email channel '%s'",
                       nosubj < nvar ? label : all, ch->name);
        if (t->kind == TEMPLATE_VOICEMAIL && ch->kind != CHAN_CALL)
            diag_error(d, f, at->line, at->col,
                       "voicemail %s is used on %s channel '%s'; voicemails go on call "
                       "channels", label, chan_kind_to_string(ch->kind), ch->name);
        /* the old rule, where no profile states one: every e-mail and SMS has an opt-out */
        if ((ch->kind == CHAN_EMAIL || ch->kind == CHAN_SMS) &&
            !(required_somewhere & (1u << TPL_OPT_OUT_LINK)) &&
            !(t->vars & (1u << TPL_OPT_OUT_LINK)))
            diag_warning(d, f, at->line, at->col,
                         "%s used on channel '%s' has no '{{opt_out_link}}'", label, ch->name);
        for (int v = 0; v < _TPL_VAR_MAX; v++) {
            if (!(required_all & ~t->vars & (1u << v)) || (missing_in[v] == nvar && !first))
                continue;
            char who[160] = "";
            size_t nwho = 0;
            for (size_t j = 0; j < np; j++) {
                const struct template_rules *r = profiles[j]->template_rules;
                if (r && (r->required[ch->kind] & (1u << v))) {
                    size_t k = strlen(who);
                    snprintf(who + k, sizeof(who) - k, "%s'%s'", nwho ? ", " : "",
                             profiles[j]->name);
                    nwho++;
                }
            }
            diag_error(d, f, at->line, at->col,
                       "%s used on channel '%s' does not use '{{%s}}', which profile%s %s "
                       "require%s in every %s", missing_in[v] == nvar ? all : label, ch->name,
                       var_names[v], nwho > 1 ? "s" : "", who, nwho > 1 ? "" : "s",
                       chan_kind_to_string(ch->kind));
        }
        for (size_t j = 0; j < np; j++) {
            const struct profile *p = profiles[j];
            const struct template_rules *r = p->template_rules;
            if (!r)
                continue;
            if (t->kind == TEMPLATE_VOICEMAIL && r->voicemail && !mark_checked(s, t, r)) {
                struct vm_ctx c = { t, p, r->voicemail_vars, d, false };
                if (t->subject)
                    scan_placeholders(t->file, t->subject, strlen(t->subject), t->subject_line,
                                      NULL, NULL, voicemail_var, &c);
                scan_placeholders(t->file, t->text, strlen(t->text), t->text_line, NULL, NULL,
                                  voicemail_var, &c);
                debt_words(&c, t->text, t->text_line, r);
            }
        }
        if (ch->kind == CHAN_SMS && max_seg) {
            _cleanup_free_ char *txt = NULL;
            struct sms_count sc;
            if (plausible_text(t, links, &txt) < 0)
                return -ENOMEM;
            template_sms_count(txt, strlen(txt), &sc);
            if (sc.segments > max_seg)
                diag_error(d, f, at->line, at->col,
                           "%s needs %d SMS segments (%s, %zu characters with the longest "
                           "plausible values), more than the %d profile '%s' allows", label,
                           sc.segments, sc.ucs2 ? "UCS-2" : "GSM-7", sc.units, max_seg,
                           max_seg_p->name);
        }
    }
    /* missing locales: a warning per locale, naming the file used instead */
    char **seen = NULL;
    size_t nseen = 0;
    for (size_t j = 0; j < np; j++) {
        const struct template_rules *r = profiles[j]->template_rules;
        for (size_t k = 0; r && k < r->nlocales; k++) {
            bool exact;
            if (in_strv(seen, nseen, r->locales[k]))
                continue;
            if (strv_add_unique(&seen, &nseen, r->locales[k]) < 0) {
                strv_free(seen, nseen);
                return -ENOMEM;
            }
            const struct template *t = template_set_find(s, name, r->locales[k], &exact);
            /* a neutral NAME.txt is the author's choice for every language */
            if (!exact && t && t->locale)
                diag_warning(d, f, at->line, at->col,
                             "template '%s' has no '%s' version (profile '%s'); debtors writing "
                             "in '%s' get %s", name, r->locales[k], profiles[j]->name,
                             r->locales[k], base_of(t->file));
        }
    }
    strv_free(seen, nseen);
    return d->nerrors > errors0 ? -EINVAL : 0;
}
