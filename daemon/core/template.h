/*
 * template.h - message templates per channel and locale (docs/templates.md).
 *
 * A template set is every NAME[.LOCALE].txt file of the template
 * directory.  validate loads it once and checks each use a strategy makes
 * of a template against the jurisdiction profiles' rules (required
 * variables, voicemail limits, SMS segments); the worker loads it once
 * and renders each job at send time with template_render_job(), so a
 * queued job carries only the inputs, never the text.
 */
#ifndef CADENZA_TEMPLATE_H
#define CADENZA_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "diag.h"
#include "util.h"
#include "ynode.h"

struct job;
struct link_conf;
struct tz_cache;

/* The variables a template may use ({{name}}).  Bits in template.vars. */
enum template_var {
    TPL_NAME,
    TPL_AMOUNT,          /* formatted per locale and currency: "1.234,56 €", "$1,234.56" */
    TPL_CURRENCY,        /* ISO 4217 code */
    TPL_DUE_DATE,        /* in the locale's format: "31/12/2026", "12/31/2026" */
    TPL_DAYS_PAST_DUE,
    TPL_PAY_LINK,
    TPL_PLAN_LINK,
    TPL_RESCHEDULE_LINK, /* the preferences page (move the due date) */
    TPL_OPT_OUT_LINK,
    TPL_CREDITOR,
    TPL_AGENT_PHONE,
    TPL_AGENT_NAME,      /* a person the debtor can call back (voicemail) */
    TPL_BUSINESS_NAME,   /* a name that does not reveal debt collection (voicemail) */
    _TPL_VAR_MAX,
    _TPL_VAR_INVALID = -22,
};
const char *template_var_to_string(enum template_var v);
enum template_var template_var_from_string(const char *s, size_t n);

/* What a template is for (the `Kind:` header). */
enum template_kind {
    TEMPLATE_MESSAGE = 0,   /* e-mail, SMS, chat, letter, agent script */
    TEMPLATE_VOICEMAIL = 1, /* a limited-content message (Reg F 1006.2(j)) */
    _TEMPLATE_KIND_MAX,
    _TEMPLATE_KIND_INVALID = -22,
};

#define TEMPLATE_MAX_SIZE (64 * 1024)
#define TEMPLATE_LOCALE_MAX 16

/* One file: NAME.txt or NAME.LOCALE.txt. */
struct template {
    char *name;      /* "early-sms" */
    char *locale;    /* "es", "en-GB", or NULL for NAME.txt */
    char *file;      /* path, for diagnostics */
    enum template_kind kind;
    char *subject;   /* NULL when there is no Subject: header */
    char *text;      /* the plain-text body */
    char *html;      /* the HTML part (after a '--- html ---' line), or NULL */
    int subject_line, text_line, html_line; /* 1-based first lines, for diagnostics */
    uint32_t vars;   /* bit per enum template_var used anywhere */
};

struct template_set;

/*
 * Load every *.txt of dir.  default_locale ("en") is the last fallback.
 * Problems go to d with file:line:col; a broken file is left out of the
 * set (and remembered, so a strategy naming it gets no second error).
 * -EINVAL when a file had an error (the set is still returned, with the
 * good files), -ENOMEM; *ret is written unless -ENOMEM.
 */
int template_set_load(const char *dir, const char *default_locale, struct template_set **ret,
                      struct diags *d);
/* Parse one file from memory into the set (tests, fuzzing); errors as above. */
int template_set_add(struct template_set *s, const char *file, const char *buf, size_t len,
                     struct diags *d);
struct template_set *template_set_new(const char *default_locale);
void template_set_free(struct template_set *s);
/* Distinct template names (not files). */
size_t template_set_count(const struct template_set *s);
/* Does any file of this name exist (good or broken)? */
bool template_set_has(const struct template_set *s, const char *name);
bool template_set_broken(const struct template_set *s, const char *name);
/* The names, for did-you-mean (borrowed; n names). */
const char *const *template_set_names(const struct template_set *s, size_t *ret_n);

/*
 * The file to use for name in locale (NULL or "": the default): NAME.es-MX,
 * NAME.es, NAME, NAME.<default>, NAME.<default language>.  NULL when
 * none exists.  *ret_exact (may be NULL) tells whether the locale's own
 * language had a file.
 */
const struct template *template_set_find(const struct template_set *s, const char *name,
                                         const char *locale, bool *ret_exact);

/* Compliance rules of a jurisdiction profile (its `templates:` section). */
struct template_rules {
    uint32_t required[_CHAN_KIND_MAX]; /* variables every template on that kind must use */
    char **locales;                    /* languages debtors there are written in */
    size_t nlocales;
    int sms_max_segments;              /* 0: no limit */
    bool voicemail;                    /* a voicemail section exists */
    uint32_t voicemail_vars;           /* the only variables a voicemail may use */
    char **debt_words;                 /* words a voicemail must not contain */
    size_t ndebt_words;
};
/* Parse a profile's `templates:` mapping; problems go to d; -EINVAL / -ENOMEM. */
int template_rules_load(const struct ynode *n, struct template_rules **ret, struct diags *d);
void template_rules_free(struct template_rules *r);

/*
 * Check one use of template name on channel ch by a strategy that may
 * apply to profiles[0..n): every locale version of the template against
 * every profile's rules (required variables, voicemail content, SMS
 * segments with the longest plausible values), missing locales (a
 * warning naming the fallback), a Subject on e-mail.  at is the strategy
 * node naming the template (diagnostics about the use go there, about
 * the text at the template file).  links (may be NULL) gives the base URL
 * for the length of links.  Returns -EINVAL when it reported an error.
 */
int template_check_use(const struct template_set *s, const char *name,
                       const struct channel_conf *ch, const struct profile *const *profiles,
                       size_t n, const struct link_conf *links, const struct ynode *at,
                       struct diags *d);

/* SMS encoding and segment count of UTF-8 text (GSM 03.38 with its extension table). */
struct sms_count {
    bool ucs2;        /* needs UCS-2: a character outside GSM-7 */
    size_t units;     /* GSM-7 septets (extension characters count 2) or UTF-16 units */
    int segments;     /* 1 for up to 160/70, else ceil(units / 153 or 67) */
};
void template_sms_count(const char *s, size_t n, struct sms_count *ret);

/*
 * Money and dates for a locale ("es", "en-US", NULL = "en"):
 * 123456 EUR -> "1.234,56 €" (es), "€1,234.56" (en); USD -> "$1,234.56";
 * GBP -> "£1,234.56".  minor units in the currency's digits.
 */
int template_format_amount(int64_t minor, const char *currency, const char *locale, char *buf,
                           size_t len);
/* day (days since 1970-01-01) -> "31/12/2026" (es, en-GB), "12/31/2026" (en-US, en). */
int template_format_date(int32_t day, const char *locale, char *buf, size_t len);

/* Values of the variables, formatted (NULL: renders as empty). */
struct template_vars {
    const char *v[_TPL_VAR_MAX];
};

/* A rendered message; every part owned (template_parts_release). */
struct template_parts {
    char *subject; /* NULL when the template has none */
    char *text;
    char *html;    /* NULL when the template has no HTML part */
};
void template_parts_release(struct template_parts *p);

/*
 * Render t with vars: placeholders replaced, values HTML-escaped in the
 * HTML part, line breaks removed from values in the subject.  Pure.
 * -ENOMEM; *ret written only on success.
 */
int template_render(const struct template *t, const struct template_vars *vars,
                    struct template_parts *ret);

/* What the worker knows besides the job. */
struct template_ctx {
    const struct link_conf *links; /* signs pay/plan/opt-out links; NULL: links render empty */
    int64_t now;                   /* send time (links' expiry, days past due) */
    struct tz_cache *tz;           /* days past due in the debtor's zone; NULL: in UTC */
    const char *default_currency;
    /* used when the job's inputs lack them (the channel's or deployment's values) */
    const char *creditor, *agent_phone, *agent_name, *business_name;
};

/*
 * Render a job at send time: pick job->template_name in the locale of the
 * job's inputs (fallbacks as template_set_find), build the variables from
 * the inputs (name, amount, currency, due_date, locale, and creditor,
 * agent_phone, agent_name, business_name when present), days past due
 * from now, and one signed link per link variable the template uses
 * (link.h).  *ret_tpl (may be NULL) gets the file used.  -ENOENT no such
 * template, -EINVAL unreadable inputs, -ENOMEM, or link_url()'s errors.
 */
int template_render_job(const struct template_set *s, const struct job *job,
                        const struct template_ctx *ctx, struct template_parts *ret,
                        const struct template **ret_tpl);

#endif
