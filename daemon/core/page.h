/*
 * page.h - the self-service page, server-rendered (docs/selfservice.md):
 * its configuration section (`selfservice:`), HTML escaping, the page's
 * words in Spanish and English, money and dates per locale, masked
 * addresses and references, the form token that protects its POSTs
 * (CSRF), and the pages themselves, from plain data.
 *
 * Pure: no I/O (the config loader reads nothing but its node), no clock
 * (now is an argument), no allocation but the output buffer.  The routes
 * and the actions are selfservice.c's.
 */
#ifndef CADENZA_PAGE_H
#define CADENZA_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prefs.h"
#include "util.h"

struct diags;
struct ynode;

/* ---- configuration: the `selfservice:` section ---- */

struct page_conf {
    char *creditor;        /* who the page is from: business.creditor; NULL: none shown */
    char *pay_url;         /* the creditor's payment page, "{token}" replaced by the link's
                              token (its payment webhook returns it); NULL: no "pay now" */
    char *support_phone;   /* shown on every page: business.agent_phone; NULL: none */
    int per_address;       /* requests per minute from one client address (0: unlimited) */
    int per_token;         /* requests per minute on one link (0: unlimited) */
    int64_t form_ttl;      /* seconds a form stays valid after the page was shown */
};
#define PAGE_CONF_PER_ADDRESS 120
#define PAGE_CONF_PER_TOKEN 30
#define PAGE_CONF_FORM_TTL (2 * 3600)

/* Defaults (no section); NULL on OOM. */
struct page_conf *page_conf_new(void);
/* The `selfservice:` mapping n (problems at file:line:col into d).  -EINVAL, -ENOMEM. */
int page_conf_load(const struct ynode *n, struct page_conf **ret, struct diags *d);
void page_conf_free(struct page_conf *c);

/* ---- languages ---- */

enum page_lang { PAGE_EN, PAGE_ES, _PAGE_LANG_MAX };
/* "es", "es-MX" -> PAGE_ES; "en-GB" -> PAGE_EN; anything else (or NULL): dflt. */
enum page_lang page_lang_from_locale(const char *locale, enum page_lang dflt);
/* The first language of an Accept-Language header the page speaks, else dflt. */
enum page_lang page_lang_accept(const char *header, enum page_lang dflt);
const char *page_lang_code(enum page_lang l); /* "en", "es" */

/* ---- pieces ---- */

/* Append s[0..n) escaped for HTML text and quoted attributes (& < > " '). */
int page_escape(struct sbuf *b, const char *s, size_t n);
/* "1.234,56 €" (es), "€1,234.56" (en) for minor units of an ISO 4217 currency. */
int page_format_amount(enum page_lang l, int64_t minor, const char *currency, char *buf,
                       size_t len);
/* "20 de diciembre de 2026", "20 December 2026". */
void page_format_date(enum page_lang l, int32_t day, char *buf, size_t len);
/* "d•••@example.com": the first character of the local part, the domain. */
void page_mask_email(const char *email, char *buf, size_t len);
/* "+34 ••• ••• 412": the country code and the last three digits. */
void page_mask_phone(const char *phone, char *buf, size_t len);
/* "••••5862": the last four characters of a reference or account number. */
void page_mask_ref(const char *ref, char *buf, size_t len);

/* ---- the form token (CSRF) ---- */

#define PAGE_FORM_TOKEN_MAX 64
#define PAGE_NONCE_LEN 8
/*
 * A token for the forms of the page of link `token`: base64url of the
 * issue time, a nonce (PAGE_NONCE_LEN random bytes the caller draws) and
 * the first 16 bytes of HMAC-SHA256(key, "cz-form1|" token "|" time nonce).
 * The nonce also names the submission (a replayed form is a duplicate).
 * buf holds PAGE_FORM_TOKEN_MAX.  0, or -EIO.
 */
int page_form_token(const void *key, size_t keylen, const char *token, int64_t now,
                    const uint8_t nonce[PAGE_NONCE_LEN], char *buf, size_t len);
/*
 * Check a form token for link `token` at now: 0 and the nonce; -EBADMSG
 * (not one of ours: malformed or the MAC does not match, compared in
 * constant time), -ETIME (issued more than ttl seconds ago, or in the
 * future).
 */
int page_form_token_check(const void *key, size_t keylen, const char *token, const char *form,
                          int64_t now, int64_t ttl, uint8_t ret_nonce[PAGE_NONCE_LEN]);

/* ---- the pages ---- */

/* What the main page shows and offers; strings borrowed, may be NULL. */
struct page_view {
    enum page_lang lang;
    const char *creditor, *support_phone;
    const char *name;
    const char *reference;        /* the debtor's id: shown masked */
    const char *email, *phone;    /* shown masked */
    uint8_t kinds;                /* bit per chan_kind the debtor can be reached on */
    const char *currency;
    int64_t balance_minor;
    int32_t today;                /* the debtor's local day */
    int32_t due_date;             /* INT32_MIN: none */
    const char *pay_url;          /* NULL: no "pay now" */
    bool collection_stopped;      /* a dispute, cease, bankruptcy...: no offers */
    /* offers (each false: not shown) */
    bool can_promise;
    int32_t promise_max;          /* the last day a promise may name */
    bool can_plan;
    int plan_max_n;               /* 2..: instalments offered */
    int64_t plan_min_minor;       /* the smallest instalment allowed */
    int32_t plan_first_max;       /* the first instalment at the latest */
    bool can_move;
    int payday;                   /* 1..31, -1 last day of the month, 0 unknown */
    /* what happened already */
    int commit_code;              /* this link's promise/plan/move (enum outcome_code), -1 */
    int32_t commit_date;
    int64_t commit_amount;
    bool disputed;                /* through this link, or the debtor is held for a dispute */
    int32_t quiet_until;          /* no contact before this local day (0: none) */
    uint8_t opted_out;            /* kinds */
    const struct prefs *prefs;    /* stated so far */
    const struct plan_instalment *plan; /* the active plan */
    size_t plan_n;
    /* the forms */
    const char *form_token;
    const char *error;            /* a message for the last POST (already in lang), or NULL */
};
int page_render_main(const struct page_view *v, struct sbuf *out);

/* What the confirmation page says happened, and what happens next. */
enum page_done_kind {
    PAGE_DONE_PROMISE,    /* date, amount */
    PAGE_DONE_PLAN,       /* plan, plan_n */
    PAGE_DONE_MOVE,       /* date: the new due date */
    PAGE_DONE_DISPUTE,
    PAGE_DONE_OPT_OUT,    /* kinds */
    PAGE_DONE_PREFS,      /* prefs */
};
struct page_done {
    enum page_lang lang;
    enum page_done_kind kind;
    const char *creditor, *support_phone;
    const char *back_url;         /* the page again ("/s/<token>") */
    int32_t date;
    int64_t amount_minor;
    const char *currency;
    int32_t quiet_until;          /* "we will not contact you before": local day, 0: none */
    const struct plan_instalment *plan;
    size_t plan_n;
    uint8_t kinds;
    const struct prefs *prefs;
    bool again;                   /* the same form came twice: nothing changed this time */
};
int page_render_done(const struct page_done *d, struct sbuf *out);

/* A page that says no. */
enum page_refusal {
    PAGE_INVALID,         /* tampered, unknown key, malformed, unknown debtor: 404 */
    PAGE_EXPIRED,         /* authentic but expired: 410 */
    PAGE_USED,            /* a one-shot action already taken with this link: 409 */
    PAGE_FORM_EXPIRED,    /* the form token is stale or not ours: 403 */
    PAGE_TOO_MANY,        /* rate limited: 429 */
    PAGE_UNAVAILABLE,     /* the store cannot take it now: 503 */
};
int page_render_refusal(enum page_lang l, enum page_refusal why, const char *creditor,
                        const char *support_phone, const char *back_url, struct sbuf *out);

/*
 * "We will not call you before 18:00 on weekdays." and the like, one
 * sentence per stated preference, as HTML (<li> items).
 */
int page_describe_prefs(enum page_lang l, const struct prefs *p, struct sbuf *out);

/* The page's stylesheet (inline; the CSP names its hash) and that hash ("sha256-..."). */
extern const char page_css[];
const char *page_css_hash(void);

#endif
