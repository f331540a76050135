/*
 * inbound.h - messages debtors send us (an SMS reply, a Kannel MO, a
 * WhatsApp message): the `inbound:` section of the configuration (the
 * stop words per locale, the confirmation template), the stop-word rule,
 * the sender's number, and what the store writer does with one message
 * (docs/daemon.md, "Inbound messages and STOP words").  Pure (any
 * thread); what the store writer does with a message is inbound-store.h.
 */
#ifndef CADENZA_INBOUND_H
#define CADENZA_INBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "phone.h"
#include "util.h"

struct diags;
struct ynode;

#define INBOUND_WORD_MAX 64          /* bytes of one stop word */
#define INBOUND_CONFIRM_SECONDS 300  /* the confirmation goes out within this, or never */
#define INBOUND_DEFAULT_TEMPLATE "opt-out-confirmation"

struct inbound_conf {
    struct inbound_words {
        char locale[16];
        char **words;                /* as written in the configuration */
        char **folded;               /* the same, folded (inbound_fold()) */
        size_t n;
    } *lists;
    size_t nlists;
    char *confirmation_template;     /* NULL: no confirmation message */
    char *file;                      /* where confirmation_template was set (NULL: default) */
    int line, col;
};

/*
 * The `inbound:` node, or n NULL for the defaults (the built-in lists of
 * `en` and `es`, template "opt-out-confirmation").  Problems go to d at
 * file:line:col; -EINVAL, -ENOMEM.
 */
int inbound_conf_load(const struct ynode *n, struct inbound_conf **ret, struct diags *d);
void inbound_conf_free(struct inbound_conf *c);

enum inbound_class {
    INBOUND_REPLY,          /* any other message */
    INBOUND_MAYBE_STOP,     /* a longer message with a stop word in it: stored as a reply,
                               counted apart for people to read */
    INBOUND_STOP,           /* the whole message is a stop word: consent revoked */
};

/*
 * Fold text for comparison into out[0..max): ASCII and Latin-1 letters
 * lower-cased, spaces, tabs, line breaks, '-' and '_' dropped.  Returns
 * the length, or -E2BIG when it does not fit.
 */
int inbound_fold(const char *s, size_t n, char *out, size_t max);
/*
 * The rule (docs/daemon.md): the message, with blanks and the
 * punctuation . , ! ? ; : " ' ( ) * trimmed at both ends and folded,
 * equals a stop word of any locale -> INBOUND_STOP; else a word (or two
 * adjacent words) of it, folded, equals one -> INBOUND_MAYBE_STOP; else
 * INBOUND_REPLY.  Pure.
 */
enum inbound_class inbound_classify(const struct inbound_conf *c, const char *text, size_t len);

/*
 * A sender's number in E.164 into out: "+34600000100" as it is;
 * "0034..." as "+34..."; other digits as an international number when
 * `international` (WhatsApp's wa_id), else first as a national number of
 * `region` (ISO 3166 alpha-2, may be NULL), then as an international one.
 * -EINVAL when it is no valid number.  Pure.
 */
int inbound_sender(const char *s, size_t n, bool international, const char *region,
                   char out[PHONE_E164_MAX]);

struct template_set;
/*
 * Warn (into d, at the key's place) when channels of kind sms or chat
 * exist and the confirmation template is not in ts: a STOP's confirmation
 * would fail to render.  For `validate` and `serve`'s (re)load.
 */
void inbound_check_templates(const struct config *cfg, const struct template_set *ts,
                             const char *dir, struct diags *d);

#endif
