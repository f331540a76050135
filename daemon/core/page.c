/*
 * page.c - the self-service page, server-rendered (page.h,
 * docs/selfservice.md).
 *
 * Owns: the `selfservice:` configuration, the page's words (one table,
 * Spanish and English), its stylesheet and the HTML of every page.
 * Never: does I/O, reads the clock, or writes a value it was given into
 * the HTML without escaping it.
 *
 * Invariants:
 *  1. Every string that did not come from this file's tables (names,
 *     addresses, amounts, dates, tokens, messages) reaches the output
 *     through page_escape() (put() escapes every {n} argument; only the
 *     table's own text, which may hold markup, is copied as is).
 *  2. Addresses and references appear masked only: the page shows what a
 *     debtor needs to recognise them, never the whole of them.
 *  3. A form token is valid only for the link it was made for, only for
 *     form_ttl seconds, and its MAC is compared in constant time.
 *  4. The pages work without scripts: plain links, plain form POSTs,
 *     native date inputs; the stylesheet is inline and named by its hash
 *     in the Content-Security-Policy (nothing else may run or load).
 */
#include "page.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "diag.h"
#include "link.h"
#include "template.h"
#include "ynode.h"

/* ---- configuration ---- */

struct page_conf *page_conf_new(void)
{
    struct page_conf *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->per_address = PAGE_CONF_PER_ADDRESS;
    c->per_token = PAGE_CONF_PER_TOKEN;
    c->form_ttl = PAGE_CONF_FORM_TTL;
    return c;
}

void page_conf_free(struct page_conf *c)
{
    if (!c)
        return;
    free(c->creditor);
    free(c->pay_url);
    free(c->support_phone);
    free(c);
}

static int conf_str(const struct ynode *n, const char *key, size_t max, char **ret,
                    struct diags *d, bool *bad)
{
    const struct ynode *v = ynode_get(n, key);
    const char *s;
    if (!v)
        return 0;
    if (ynode_str(v, key, &s, d) < 0) {
        *bad = true;
        return 0;
    }
    if (strlen(s) == 0 || strlen(s) > max) {
        diag_error(d, v->file, v->line, v->col, "'%s' must be 1 to %zu bytes long", key, max);
        *bad = true;
        return 0;
    }
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20) {
            diag_error(d, v->file, v->line, v->col, "'%s' must not hold control characters",
                       key);
            *bad = true;
            return 0;
        }
    return (*ret = strdup(s)) ? 0 : -ENOMEM;
}

int page_conf_load(const struct ynode *n, struct page_conf **ret, struct diags *d)
{
    /* (creditor and support_phone are known only to say where they are set) */
    static const char *const keys[] = { "pay_url", "rate_limit", "form_ttl", "creditor",
                                        "support_phone", NULL };
    static const char *const rate_keys[] = { "per_address", "per_token", NULL };
    if (ynode_expect(n, YNODE_MAP, "selfservice", d) < 0)
        return -EINVAL;
    struct page_conf *c = page_conf_new();
    if (!c)
        return -ENOMEM;
    /* who the page is from and the number it gives are the business: section's,
     * the same the messages name (config.h) */
    static const char *const moved[][2] = { { "creditor", "business.creditor" },
                                            { "support_phone", "business.agent_phone" } };
    bool bad = ynode_check_keys(n, keys, "selfservice", d) > 0;
    for (size_t i = 0; i < ELEMENTSOF(moved); i++) {
        const struct ynode *m = ynode_get(n, moved[i][0]);
        if (m) {
            diag_error(d, m->file, m->line, m->col,
                       "'%s' is set as '%s' (the messages and the page name the same)",
                       moved[i][0], moved[i][1]);
            bad = true;
        }
    }
    if (conf_str(n, "pay_url", LINK_BASE_URL_MAX, &c->pay_url, d, &bad) < 0) {
        page_conf_free(c);
        return -ENOMEM;
    }
    const struct ynode *v = ynode_get(n, "pay_url");
    if (c->pay_url && (strncmp(c->pay_url, "https://", 8) != 0 || !strstr(c->pay_url, "{token}")) &&
        !(strncmp(c->pay_url, "http://127.0.0.1", 16) == 0 && strstr(c->pay_url, "{token}"))) {
        diag_error(d, v->file, v->line, v->col,
                   "'pay_url' must be an https:// URL holding '{token}' (the link's token, "
                   "which the payment webhook sends back), got '%s'", c->pay_url);
        bad = true;
    }
    if ((v = ynode_get(n, "rate_limit"))) {
        if (ynode_expect(v, YNODE_MAP, "selfservice.rate_limit", d) < 0)
            bad = true;
        else {
            bad |= ynode_check_keys(v, rate_keys, "selfservice.rate_limit", d) > 0;
            int64_t x;
            const struct ynode *w;
            if ((w = ynode_get(v, "per_address"))) {
                if (ynode_int(w, "per_address", 0, 1000000, &x, d) < 0)
                    bad = true;
                else
                    c->per_address = (int)x;
            }
            if ((w = ynode_get(v, "per_token"))) {
                if (ynode_int(w, "per_token", 0, 1000000, &x, d) < 0)
                    bad = true;
                else
                    c->per_token = (int)x;
            }
        }
    }
    if ((v = ynode_get(n, "form_ttl"))) {
        const char *s;
        int64_t ttl;
        if (ynode_str(v, "form_ttl", &s, d) < 0)
            bad = true;
        else if (link_parse_duration(s, &ttl) < 0 || ttl < 60 || ttl > 7 * 86400) {
            diag_error(d, v->file, v->line, v->col,
                       "'form_ttl' must be a duration from 60s to 7d (\"2h\"), got '%s'", s);
            bad = true;
        } else
            c->form_ttl = ttl;
    }
    if (bad) {
        page_conf_free(c);
        return -EINVAL;
    }
    *ret = c;
    return 0;
}

/* ---- languages ---- */

const char *page_lang_code(enum page_lang l)
{
    return l == PAGE_ES ? "es" : "en";
}

enum page_lang page_lang_from_locale(const char *locale, enum page_lang dflt)
{
    if (!locale || strlen(locale) < 2 || (locale[2] && locale[2] != '-' && locale[2] != '_'))
        return dflt;
    if (strncasecmp(locale, "es", 2) == 0)
        return PAGE_ES;
    if (strncasecmp(locale, "en", 2) == 0)
        return PAGE_EN;
    return dflt;
}

enum page_lang page_lang_accept(const char *h, enum page_lang dflt)
{
    /* the first language we speak with a non-zero weight, in header order (q ignored
     * otherwise: browsers list them best first) */
    while (h && *h) {
        while (*h == ' ' || *h == ',')
            h++;
        size_t n = strcspn(h, ",;");
        char tag[16];
        if (n && n < sizeof(tag)) {
            memcpy(tag, h, n);
            tag[n] = 0;
            const char *semi = h + n;
            bool zero = *semi == ';' && strncmp(semi, ";q=0", 4) == 0 &&
                        strspn(semi + 4, ".0") == strcspn(semi + 4, ",");
            enum page_lang l = page_lang_from_locale(tag, _PAGE_LANG_MAX);
            if (l != _PAGE_LANG_MAX && !zero)
                return l;
        }
        h += strcspn(h, ",");
    }
    return dflt;
}

/* ---- the words ---- */

enum msg {
    M_TITLE, M_TITLE_PLAIN, M_SKIP, M_HELLO, M_HELLO_PLAIN, M_DEBT_H, M_AMOUNT, M_DUE, M_DPD,
    M_DUE_IN, M_DUE_TODAY, M_REF, M_CONTACT, M_EMAIL, M_PHONE, M_USED_PROMISE, M_USED_PLAN,
    M_USED_MOVE, M_QUIET, M_HELD, M_PLAN_NOW, M_ACT_H, M_PAY_H, M_PAY_BTN, M_PAY_NOTE,
    M_PROMISE_H, M_PROMISE_L, M_PROMISE_HINT, M_PROMISE_BTN, M_PLAN_H, M_PLAN_N, M_PLAN_N_OPT,
    M_PLAN_FIRST, M_PLAN_HINT, M_PLAN_BTN, M_MOVE_H, M_MOVE_L, M_MOVE_LAST, M_MOVE_HINT,
    M_MOVE_BTN, M_DISPUTE_H, M_DISPUTE_L, M_DISPUTE_HINT, M_DISPUTE_BTN, M_OPT_H, M_OPT_LEGEND,
    M_OPT_DONE, M_OPT_BTN, M_K_EMAIL, M_K_SMS, M_K_CHAT, M_K_CALL, M_PREFS_H, M_CHANNEL_LEGEND,
    M_NO_PREF, M_HUMAN, M_LANG, M_FORBID_LEGEND, M_FORBID_NONE, M_KEEP, M_NEW_FORBID, M_WHO,
    M_WHO_NONE, M_WHO_ALL, M_WHO_CALL, M_WHO_SMS, M_WHO_EMAIL, M_DAYS, M_D_WEEKDAYS,
    M_D_WEEKENDS, M_D_DAILY, M_FROM, M_TO, M_PREFER_LEGEND, M_PREFS_BTN, M_SUPPORT,
    M_INVALID_H, M_INVALID_P, M_EXPIRED_H, M_EXPIRED_P, M_USED_H, M_USED_P, M_FORM_H,
    M_FORM_P, M_MANY_H, M_MANY_P, M_UNAVAIL_H, M_UNAVAIL_P, M_BACK, M_THANKS, M_NEXT_H,
    M_DONE_PROMISE, M_DONE_PLAN, M_DONE_MOVE, M_DONE_DISPUTE, M_DONE_OPT, M_DONE_PREFS,
    M_AGAIN, M_ERR_H, M_NEVER, M_ANY_TIME, M_BEFORE, M_AFTER, M_BETWEEN, M_ON_WEEKDAYS,
    M_ON_WEEKENDS, M_ON_DAYS, M_NOT, M_NOT_CONTACT, M_NOT_CALL, M_NOT_SMS, M_NOT_EMAIL,
    M_NOT_CHAT, M_NOT_BY, M_P_HUMAN, M_P_CHANNEL, M_P_HOURS, M_P_LANG, M_LANG_EN, M_LANG_ES,
    M_INSTALMENT, M_PLAN_CAPTION, M_DATE_COL, M_AMOUNT_COL, M_NOTHING_STATED,
    _M_MAX,
};

/*
 * { English, Spanish }.  {1}, {2}, {3} are arguments, escaped when put;
 * the text itself is trusted (it may hold markup).
 */
static const char *const words[_M_MAX][_PAGE_LANG_MAX] = {
    [M_TITLE] = { "{1}: your account", "{1}: su cuenta" },
    [M_TITLE_PLAIN] = { "Your account", "Su cuenta" },
    [M_SKIP] = { "Skip to the main content", "Saltar al contenido principal" },
    [M_HELLO] = { "Hello, {1}", "Hola, {1}" },
    [M_HELLO_PLAIN] = { "Hello", "Hola" },
    [M_DEBT_H] = { "Your balance", "Su deuda" },
    [M_AMOUNT] = { "Amount due", "Importe pendiente" },
    [M_DUE] = { "Due date", "Fecha de vencimiento" },
    [M_DPD] = { "Days overdue", "Días de retraso" },
    [M_DUE_IN] = { "Days until it is due", "Días hasta el vencimiento" },
    [M_DUE_TODAY] = { "Due today", "Vence hoy" },
    [M_REF] = { "Reference", "Referencia" },
    [M_CONTACT] = { "Your contact details on file", "Sus datos de contacto" },
    [M_EMAIL] = { "E-mail", "Correo electrónico" },
    [M_PHONE] = { "Phone", "Teléfono" },
    [M_USED_PROMISE] = { "With this link you promised to pay {1} by {2}.",
                         "Con este enlace se comprometió a pagar {1} antes del {2}." },
    [M_USED_PLAN] = { "With this link you set up a payment plan.",
                      "Con este enlace acordó un plan de pagos." },
    [M_USED_MOVE] = { "With this link you moved your due date to {1}.",
                      "Con este enlace cambió su fecha de vencimiento al {1}." },
    [M_QUIET] = { "We will not contact you before {1}.", "No le contactaremos antes del {1}." },
    [M_HELD] = { "Collection is on hold while your dispute is reviewed.",
                 "El cobro está en pausa mientras revisamos su reclamación." },
    [M_PLAN_NOW] = { "Your payment plan", "Su plan de pagos" },
    [M_ACT_H] = { "What would you like to do?", "¿Qué desea hacer?" },
    [M_PAY_H] = { "Pay now", "Pagar ahora" },
    [M_PAY_BTN] = { "Pay {1} now", "Pagar {1} ahora" },
    [M_PAY_NOTE] = { "You will go to the secure payment page of {1}.",
                     "Irá a la página de pago segura de {1}." },
    [M_PROMISE_H] = { "Promise to pay on a date", "Comprometerse a pagar en una fecha" },
    [M_PROMISE_L] = { "Date you will pay", "Fecha en que pagará" },
    [M_PROMISE_HINT] = { "Any day until {1}.", "Cualquier día hasta el {1}." },
    [M_PROMISE_BTN] = { "Promise to pay", "Confirmar el compromiso de pago" },
    [M_PLAN_H] = { "Pay in instalments", "Pagar a plazos" },
    [M_PLAN_N] = { "Number of monthly payments", "Número de pagos mensuales" },
    [M_PLAN_N_OPT] = { "{1} payments of about {2}", "{1} pagos de unos {2}" },
    [M_PLAN_FIRST] = { "Date of the first payment", "Fecha del primer pago" },
    [M_PLAN_HINT] = { "Until {1}. The others follow every month on the same day.",
                      "Hasta el {1}. Los demás, cada mes el mismo día." },
    [M_PLAN_BTN] = { "Set up the plan", "Acordar el plan" },
    [M_MOVE_H] = { "Move your due date to your payday",
                   "Cambiar el vencimiento a su día de cobro" },
    [M_MOVE_L] = { "Day of the month you get paid", "Día del mes en que cobra" },
    [M_MOVE_LAST] = { "Last day of the month", "Último día del mes" },
    [M_MOVE_HINT] = { "Your new due date will be the first such day after {1}.",
                      "Su nuevo vencimiento será el primer día así después del {1}." },
    [M_MOVE_BTN] = { "Move my due date", "Cambiar mi vencimiento" },
    [M_DISPUTE_H] = { "I do not recognise this debt", "No reconozco esta deuda" },
    [M_DISPUTE_L] = { "Tell us why", "Explíquenos por qué" },
    [M_DISPUTE_HINT] = { "We stop collection until we have reviewed it. Up to 1000 characters.",
                         "Paramos el cobro hasta revisarla. Hasta 1000 caracteres." },
    [M_DISPUTE_BTN] = { "Send my dispute", "Enviar mi reclamación" },
    [M_OPT_H] = { "Stop a channel", "Dejar de recibir por un canal" },
    [M_OPT_LEGEND] = { "Stop contacting me by", "Dejen de contactarme por" },
    [M_OPT_DONE] = { "(already stopped)", "(ya no se usa)" },
    [M_OPT_BTN] = { "Stop these channels", "Dejar de usar estos canales" },
    [M_K_EMAIL] = { "e-mail", "correo electrónico" },
    [M_K_SMS] = { "text message (SMS)", "SMS" },
    [M_K_CHAT] = { "chat assistant", "asistente de chat" },
    [M_K_CALL] = { "phone call", "llamada" },
    [M_PREFS_H] = { "How and when we contact you", "Cómo y cuándo le contactamos" },
    [M_CHANNEL_LEGEND] = { "Preferred channel", "Canal preferido" },
    [M_NO_PREF] = { "No preference", "Sin preferencia" },
    [M_HUMAN] = { "I would rather talk to a person (no automated messages, no chat assistant)",
                  "Prefiero hablar con una persona (sin mensajes automáticos ni asistente de "
                  "chat)" },
    [M_LANG] = { "Language", "Idioma" },
    [M_FORBID_LEGEND] = { "Times you do not want to be contacted",
                          "Horas en que no quiere que le contactemos" },
    [M_FORBID_NONE] = { "None yet.", "Ninguna por ahora." },
    [M_KEEP] = { "Keep", "Mantener" },
    [M_NEW_FORBID] = { "Add a time not to be contacted", "Añadir un horario sin contacto" },
    [M_WHO] = { "Channel", "Canal" },
    [M_WHO_NONE] = { "(do not add)", "(no añadir)" },
    [M_WHO_ALL] = { "all channels", "todos los canales" },
    [M_WHO_CALL] = { "phone calls", "llamadas" },
    [M_WHO_SMS] = { "text messages", "SMS" },
    [M_WHO_EMAIL] = { "e-mails", "correos" },
    [M_DAYS] = { "Days", "Días" },
    [M_D_WEEKDAYS] = { "Monday to Friday", "de lunes a viernes" },
    [M_D_WEEKENDS] = { "Saturday and Sunday", "sábado y domingo" },
    [M_D_DAILY] = { "every day", "todos los días" },
    [M_FROM] = { "From", "Desde" },
    [M_TO] = { "To", "Hasta" },
    [M_PREFER_LEGEND] = { "Best time to reach you", "Mejor hora para contactarle" },
    [M_PREFS_BTN] = { "Save my preferences", "Guardar mis preferencias" },
    [M_SUPPORT] = { "Questions? Call us on {1}.", "¿Dudas? Llámenos al {1}." },
    [M_INVALID_H] = { "This link is not valid", "Este enlace no es válido" },
    [M_INVALID_P] = { "It may be incomplete or out of date. Please use the link in the latest "
                      "message we sent you. Nothing was changed.",
                      "Puede estar incompleto o no estar al día. Use el enlace del último "
                      "mensaje que le enviamos. No se ha cambiado nada." },
    [M_EXPIRED_H] = { "This link has expired", "Este enlace ha caducado" },
    [M_EXPIRED_P] = { "Please use the link in the latest message we sent you. Nothing was "
                      "changed.",
                      "Use el enlace del último mensaje que le enviamos. No se ha cambiado "
                      "nada." },
    [M_USED_H] = { "This link has already been used", "Este enlace ya se ha utilizado" },
    [M_USED_P] = { "You already made an arrangement with it. Nothing was changed.",
                   "Ya hizo un acuerdo con él. No se ha cambiado nada." },
    [M_FORM_H] = { "This form has expired", "Este formulario ha caducado" },
    [M_FORM_P] = { "Nothing was changed. Please open the page again and send the form once "
                   "more.",
                   "No se ha cambiado nada. Abra la página de nuevo y vuelva a enviar el "
                   "formulario." },
    [M_MANY_H] = { "Too many requests", "Demasiadas solicitudes" },
    [M_MANY_P] = { "Please wait a minute and try again. Nothing was changed.",
                   "Espere un minuto y vuelva a intentarlo. No se ha cambiado nada." },
    [M_UNAVAIL_H] = { "We cannot take your request right now",
                      "Ahora no podemos atender su solicitud" },
    [M_UNAVAIL_P] = { "Nothing was changed. Please try again in a few minutes.",
                      "No se ha cambiado nada. Vuelva a intentarlo en unos minutos." },
    [M_BACK] = { "Back to your account", "Volver a su cuenta" },
    [M_THANKS] = { "Thank you", "Gracias" },
    [M_NEXT_H] = { "What happens next", "Qué pasará ahora" },
    [M_DONE_PROMISE] = { "You promised to pay {1} by {2}.",
                         "Se ha comprometido a pagar {1} antes del {2}." },
    [M_DONE_PLAN] = { "Your payment plan is set up.", "Su plan de pagos está acordado." },
    [M_DONE_MOVE] = { "Your new due date is {1}.", "Su nueva fecha de vencimiento es el {1}." },
    [M_DONE_DISPUTE] = { "We have received your dispute. Collection is on hold until we have "
                         "reviewed it, and nobody will ask you to pay meanwhile.",
                         "Hemos recibido su reclamación. El cobro queda en pausa hasta que la "
                         "revisemos, y mientras tanto nadie le pedirá el pago." },
    [M_DONE_OPT] = { "We will no longer contact you by {1}.",
                     "Ya no le contactaremos por {1}." },
    [M_DONE_PREFS] = { "Your preferences are saved.", "Sus preferencias se han guardado." },
    [M_AGAIN] = { "You had sent this already: nothing changed this time.",
                  "Ya lo había enviado: esta vez no se ha cambiado nada." },
    [M_ERR_H] = { "There is a problem", "Hay un problema" },
    [M_NEVER] = { "We will not contact you at any time.", "No le contactaremos nunca." },
    [M_ANY_TIME] = { "", "" },
    [M_BEFORE] = { " before {1}", " antes de las {1}" },
    [M_AFTER] = { " after {1}", " después de las {1}" },
    [M_BETWEEN] = { " between {1} and {2}", " entre las {1} y las {2}" },
    [M_ON_WEEKDAYS] = { " on weekdays", " los días laborables" },
    [M_ON_WEEKENDS] = { " at weekends", " los fines de semana" },
    [M_ON_DAYS] = { " on {1}", " los {1}" },
    [M_NOT] = { "We will not {1}{2}{3}.", "No {1}{2}{3}." },
    [M_NOT_CONTACT] = { "contact you", "le contactaremos" },
    [M_NOT_CALL] = { "call you", "le llamaremos" },
    [M_NOT_SMS] = { "send you text messages", "le enviaremos SMS" },
    [M_NOT_EMAIL] = { "send you e-mails", "le enviaremos correos" },
    [M_NOT_CHAT] = { "write to you through the chat assistant",
                     "le escribiremos por el asistente de chat" },
    [M_NOT_BY] = { "contact you by {1}", "le contactaremos por {1}" },
    [M_P_HUMAN] = { "A person will call you instead of automated messages, and we will not "
                    "use the chat assistant.",
                    "Le llamará una persona en lugar de enviarle mensajes automáticos, y no "
                    "usaremos el asistente de chat." },
    [M_P_CHANNEL] = { "We will contact you preferably by {1}.",
                      "Le contactaremos preferentemente por {1}." },
    [M_P_HOURS] = { "We will try to reach you between {1} and {2}{3}.",
                    "Intentaremos contactarle entre las {1} y las {2}{3}." },
    [M_P_LANG] = { "We will write to you in {1}.", "Le escribiremos en {1}." },
    [M_LANG_EN] = { "English", "inglés" },
    [M_LANG_ES] = { "Spanish", "español" },
    [M_INSTALMENT] = { "Payment {1}", "Pago {1}" },
    [M_PLAN_CAPTION] = { "Your payments", "Sus pagos" },
    [M_DATE_COL] = { "Date", "Fecha" },
    [M_AMOUNT_COL] = { "Amount", "Importe" },
    [M_NOTHING_STATED] = { "You have not stated any preference.",
                           "No ha indicado ninguna preferencia." },
};

static const char *const month_names[_PAGE_LANG_MAX][12] = {
    { "January", "February", "March", "April", "May", "June", "July", "August", "September",
      "October", "November", "December" },
    { "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
      "octubre", "noviembre", "diciembre" },
};
static const char *const day_plural[_PAGE_LANG_MAX][7] = {
    { "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays" },
    { "lunes", "martes", "miércoles", "jueves", "viernes", "sábados", "domingos" },
};
static const char *const day_names[_PAGE_LANG_MAX][7] = {
    { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday" },
    { "lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo" },
};

int page_escape(struct sbuf *b, const char *s, size_t n)
{
    int r = 0;
    size_t run = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            break;
        }
        if (!rep && s[i] != 0) {
            run++;
            continue;
        }
        if (run)
            r = sbuf_add(b, s + i - run, run);
        run = 0;
        if (r >= 0 && rep)
            r = sbuf_adds(b, rep);
    }
    if (r >= 0 && run)
        r = sbuf_add(b, s + n - run, run);
    return r < 0 ? r : 0;
}

static int esc(struct sbuf *b, const char *s)
{
    return s ? page_escape(b, s, strlen(s)) : 0;
}

/* Put message m with up to three arguments, each escaped (invariant 1). */
static int put3(struct sbuf *b, enum page_lang l, enum msg m, const char *a1, const char *a2,
                const char *a3)
{
    const char *t = words[m][l], *args[3] = { a1, a2, a3 };
    int r = 0;
    while (*t && r >= 0) {
        const char *o = strchr(t, '{');
        if (!o || o[1] < '1' || o[1] > '3' || o[2] != '}') {
            size_t n = o ? (size_t)(o - t) + 1 : strlen(t);
            r = sbuf_add(b, t, n);
            t += n;
            continue;
        }
        r = sbuf_add(b, t, (size_t)(o - t));
        if (r >= 0)
            r = esc(b, args[o[1] - '1']);
        t = o + 3;
    }
    return r < 0 ? r : 0;
}

static int put(struct sbuf *b, enum page_lang l, enum msg m)
{
    return put3(b, l, m, NULL, NULL, NULL);
}

static int put1(struct sbuf *b, enum page_lang l, enum msg m, const char *a1)
{
    return put3(b, l, m, a1, NULL, NULL);
}

/* ---- money, dates, masks ---- */

int page_format_amount(enum page_lang l, int64_t minor, const char *currency, char *buf,
                       size_t len)
{
    char tmp[96];
    int r = template_format_amount(minor, currency, page_lang_code(l), tmp, sizeof(tmp));
    if (r < 0)
        return r;
    /* a no-break space keeps "1.234,56 €" on one line */
    size_t o = 0;
    for (const char *p = tmp; *p; p++) {
        if (o + 3 >= len)
            return -ENOBUFS;
        if (*p == ' ') {
            memcpy(buf + o, "\xc2\xa0", 2);
            o += 2;
        } else
            buf[o++] = *p;
    }
    buf[o] = 0;
    return 0;
}

void page_format_date(enum page_lang l, int32_t day, char *buf, size_t len)
{
    int y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    if (l == PAGE_ES)
        snprintf(buf, len, "%u de %s de %d", d, month_names[l][m - 1], y);
    else
        snprintf(buf, len, "%u %s %d", d, month_names[l][m - 1], y);
}

#define BULLETS3 "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2"

void page_mask_email(const char *email, char *buf, size_t len)
{
    const char *at = email ? strrchr(email, '@') : NULL;
    if (!at || at == email || !at[1]) {
        snprintf(buf, len, BULLETS3);
        return;
    }
    /* the first character of the local part (a whole UTF-8 sequence) */
    size_t first = 1;
    while (email + first < at && ((unsigned char)email[first] & 0xc0) == 0x80)
        first++;
    snprintf(buf, len, "%.*s" BULLETS3 "%s", (int)first, email, at);
}

void page_mask_phone(const char *phone, char *buf, size_t len)
{
    char digits[32];
    size_t n = 0;
    for (const char *p = phone; p && *p && n + 1 < sizeof(digits); p++)
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
    if (n < 6) {
        snprintf(buf, len, BULLETS3);
        return;
    }
    snprintf(buf, len, BULLETS3 " " BULLETS3 " %.3s", digits + n - 3);
}

void page_mask_ref(const char *ref, char *buf, size_t len)
{
    size_t n = ref ? strlen(ref) : 0;
    if (n <= 4)
        snprintf(buf, len, BULLETS3 "\xe2\x80\xa2");
    else
        snprintf(buf, len, BULLETS3 "\xe2\x80\xa2%s", ref + n - 4);
}

/* ---- the form token ---- */

#define FORM_MAC_LEN 16
#define FORM_RAW_LEN (8 + PAGE_NONCE_LEN + FORM_MAC_LEN)

static int form_mac(const void *key, size_t keylen, const char *token, const uint8_t *tn,
                    uint8_t out[FORM_MAC_LEN])
{
    struct sbuf m = SBUF_INIT;
    unsigned char full[32];
    int r = sbuf_adds(&m, "cz-form1|");
    if (r >= 0)
        r = sbuf_adds(&m, token);
    if (r >= 0)
        r = sbuf_addc(&m, '|');
    if (r >= 0)
        r = sbuf_add(&m, tn, 8 + PAGE_NONCE_LEN);
    if (r >= 0)
        r = link_hmac_sha256(key, keylen, m.buf, m.len, full);
    sbuf_release(&m);
    if (r < 0)
        return r == -ENOMEM ? r : -EIO;
    memcpy(out, full, FORM_MAC_LEN);
    OPENSSL_cleanse(full, sizeof(full));
    return 0;
}

int page_form_token(const void *key, size_t keylen, const char *token, int64_t now,
                    const uint8_t nonce[PAGE_NONCE_LEN], char *buf, size_t len)
{
    uint8_t raw[FORM_RAW_LEN];
    uint64_t t = (uint64_t)now;
    for (int i = 0; i < 8; i++)
        raw[i] = (uint8_t)(t >> (56 - 8 * i));
    memcpy(raw + 8, nonce, PAGE_NONCE_LEN);
    int r = form_mac(key, keylen, token, raw, raw + 8 + PAGE_NONCE_LEN);
    if (r < 0)
        return r;
    if (len < (FORM_RAW_LEN * 4 + 2) / 3 + 1)
        return -ENOBUFS;
    link_b64_encode(raw, sizeof(raw), buf);
    return 0;
}

int page_form_token_check(const void *key, size_t keylen, const char *token, const char *form,
                          int64_t now, int64_t ttl, uint8_t ret_nonce[PAGE_NONCE_LEN])
{
    uint8_t raw[FORM_RAW_LEN], want[FORM_MAC_LEN];
    size_t n = 0;
    if (!form || strlen(form) != (FORM_RAW_LEN * 4 + 2) / 3 ||
        link_b64_decode(form, strlen(form), raw, sizeof(raw), &n) < 0 || n != FORM_RAW_LEN)
        return -EBADMSG;
    if (form_mac(key, keylen, token, raw, want) < 0)
        return -EBADMSG;
    /* invariant 3: the MAC first, in constant time; the time only once it is ours */
    if (CRYPTO_memcmp(want, raw + 8 + PAGE_NONCE_LEN, FORM_MAC_LEN) != 0)
        return -EBADMSG;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | raw[i];
    if ((int64_t)t > now + 60 || now - (int64_t)t > ttl)
        return -ETIME;
    memcpy(ret_nonce, raw + 8, PAGE_NONCE_LEN);
    return 0;
}

/* ---- the stylesheet ---- */

const char page_css[] =
    "*{box-sizing:border-box}"
    "html{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "font-size:100%;line-height:1.5;color:#1a1a1a;background:#fff}"
    "body{margin:0}"
    ".skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem}"
    ".skip:focus{left:.5rem}"
    "header,main,footer{max-width:42rem;margin:0 auto;padding:0 1rem}"
    "header{border-bottom:1px solid #767676}"
    ".creditor{font-weight:700;font-size:1.125rem;margin:.75rem 0}"
    "h1{font-size:1.5rem;margin:1rem 0 .5rem}"
    "h2{font-size:1.25rem;margin:1.75rem 0 .5rem}"
    "h3{font-size:1.0625rem;margin:0 0 .5rem}"
    "section.act{border:1px solid #767676;border-radius:.5rem;padding:1rem;margin:1rem 0}"
    "dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem;margin:0}"
    "dt{font-weight:600}dd{margin:0}"
    ".amount{font-size:1.375rem;font-weight:700}"
    "label,legend{display:block;font-weight:600;margin:.5rem 0 .25rem}"
    "fieldset{border:0;padding:0;margin:.75rem 0}"
    "input,select,textarea,button{font:inherit;font-size:1rem}"
    "input[type=date],select,textarea{width:100%;min-height:2.75rem;padding:.5rem;"
    "border:1px solid #595959;border-radius:.25rem;background:#fff;color:#1a1a1a}"
    "textarea{min-height:6rem}"
    ".check{display:flex;gap:.5rem;align-items:flex-start;margin:.5rem 0;font-weight:400}"
    ".check input{width:1.5rem;height:1.5rem;margin:0;flex:none}"
    ".hint{color:#4a4a4a;margin:.25rem 0}"
    ".row{display:flex;gap:.75rem;flex-wrap:wrap}.row>div{flex:1 1 10rem}"
    "button,.button{display:inline-block;min-height:2.75rem;padding:.625rem 1.25rem;"
    "margin-top:.75rem;border:0;border-radius:.375rem;background:#0b4f8a;color:#fff;"
    "font-weight:600;text-decoration:none;cursor:pointer}"
    "button:hover,.button:hover{background:#083b68}"
    "a{color:#0b4f8a}"
    ":focus-visible{outline:3px solid #b35900;outline-offset:2px}"
    ".notice{border-left:.375rem solid #0b4f8a;background:#eef4fa;padding:.75rem 1rem;"
    "margin:1rem 0}"
    ".error{border-left:.375rem solid #b00020;background:#fdecee;padding:.75rem 1rem;"
    "margin:1rem 0}"
    "table{border-collapse:collapse;margin:.5rem 0}"
    "th,td{text-align:left;padding:.25rem .75rem .25rem 0;border-bottom:1px solid #d0d0d0}"
    "footer{margin-top:2rem;padding-bottom:2rem;color:#4a4a4a}"
    "@media (min-width:48rem){h1{font-size:1.875rem}}";

const char *page_css_hash(void)
{
    /* computed once, on first use (the loop's thread) */
    static char hash[8 + 64];
    if (!hash[0]) {
        unsigned char d[32];
        unsigned int n = 0;
        char b64[48];
        if (EVP_Digest(page_css, strlen(page_css), d, &n, EVP_sha256(), NULL) != 1 || n != 32)
            return "sha256-";
        EVP_EncodeBlock((unsigned char *)b64, d, 32);
        snprintf(hash, sizeof(hash), "sha256-%s", b64);
    }
    return hash;
}

/* ---- page frame ---- */

static int head(struct sbuf *b, enum page_lang l, const char *creditor)
{
    int r = sbuf_addf(b, "<!doctype html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
                         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                         "<meta name=\"robots\" content=\"noindex\">\n<title>",
                      page_lang_code(l));
    if (r >= 0)
        r = creditor ? put1(b, l, M_TITLE, creditor) : put(b, l, M_TITLE_PLAIN);
    if (r >= 0)
        r = sbuf_addf(b, "</title>\n<style>%s</style>\n</head>\n<body>\n<a class=\"skip\" "
                         "href=\"#main\">", page_css);
    if (r >= 0)
        r = put(b, l, M_SKIP);
    if (r >= 0)
        r = sbuf_adds(b, "</a>\n<header>");
    if (r >= 0 && creditor) {
        r = sbuf_adds(b, "<p class=\"creditor\">");
        if (r >= 0)
            r = esc(b, creditor);
        if (r >= 0)
            r = sbuf_adds(b, "</p>");
    }
    if (r >= 0)
        r = sbuf_adds(b, "</header>\n<main id=\"main\">\n");
    return r;
}

static int foot(struct sbuf *b, enum page_lang l, const char *support_phone)
{
    int r = sbuf_adds(b, "</main>\n<footer>");
    if (r >= 0 && support_phone) {
        r = sbuf_adds(b, "<p>");
        if (r >= 0)
            r = put1(b, l, M_SUPPORT, support_phone);
        if (r >= 0)
            r = sbuf_adds(b, "</p>");
    }
    if (r >= 0)
        r = sbuf_adds(b, "</footer>\n</body>\n</html>\n");
    return r;
}

static int tag_msg(struct sbuf *b, const char *open, enum page_lang l, enum msg m,
                   const char *close)
{
    int r = sbuf_adds(b, open);
    if (r >= 0)
        r = put(b, l, m);
    if (r >= 0)
        r = sbuf_adds(b, close);
    return r;
}

static const enum msg kind_msg[] = { M_K_EMAIL, M_K_SMS, M_K_CHAT, M_K_CALL };

static void iso(int32_t day, char buf[11])
{
    format_date(day, buf);
}

/* A hidden form token and action. */
static int form_open(struct sbuf *b, const char *action, const char *form_token)
{
    int r = sbuf_adds(b, "<form method=\"post\">\n<input type=\"hidden\" name=\"csrf\" value=\"");
    if (r >= 0)
        r = esc(b, form_token);
    if (r >= 0)
        r = sbuf_addf(b, "\">\n<input type=\"hidden\" name=\"action\" value=\"%s\">\n", action);
    return r;
}

static int hour_options(struct sbuf *b, int from, int to, int selected, bool none,
                        enum page_lang l)
{
    int r = 0;
    if (none) {
        r = sbuf_adds(b, "<option value=\"\">");
        if (r >= 0)
            r = put(b, l, M_WHO_NONE);
        if (r >= 0)
            r = sbuf_adds(b, "</option>");
    }
    for (int h = from; h <= to && r >= 0; h++)
        r = sbuf_addf(b, "<option value=\"%d\"%s>%02d:00</option>", h,
                      h == selected ? " selected" : "", h);
    return r;
}

static int days_select(struct sbuf *b, const char *name, const char *id, enum page_lang l)
{
    int r = sbuf_addf(b, "<select id=\"%s\" name=\"%s\">", id, name);
    static const struct {
        const char *v;
        enum msg m;
    } opt[] = { { "weekdays", M_D_WEEKDAYS }, { "weekends", M_D_WEEKENDS },
                { "daily", M_D_DAILY } };
    for (size_t i = 0; i < ELEMENTSOF(opt) && r >= 0; i++) {
        r = sbuf_addf(b, "<option value=\"%s\">", opt[i].v);
        if (r >= 0)
            r = put(b, l, opt[i].m);
        if (r >= 0)
            r = sbuf_adds(b, "</option>");
    }
    static const char *const wd[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
    for (int d = 0; d < 7 && r >= 0; d++)
        r = sbuf_addf(b, "<option value=\"%s\">%s</option>", wd[d], day_names[l][d]);
    if (r >= 0)
        r = sbuf_adds(b, "</select>");
    return r;
}

/* ---- describing stated preferences ---- */

static int days_phrase(struct sbuf *b, enum page_lang l, uint8_t days)
{
    days &= 0x7f;
    if (days == 0x7f)
        return 0;
    if (days == 0x1f)
        return put(b, l, M_ON_WEEKDAYS);
    if (days == 0x60)
        return put(b, l, M_ON_WEEKENDS);
    struct sbuf list = SBUF_INIT;
    int r = 0, n = 0;
    for (int d = 0; d < 7 && r >= 0; d++)
        if (days & (1u << d)) {
            if (n++)
                r = sbuf_adds(&list, ", ");
            if (r >= 0)
                r = sbuf_adds(&list, day_plural[l][d]);
        }
    if (r >= 0)
        r = put1(b, l, M_ON_DAYS, sbuf_cstr(&list));
    sbuf_release(&list);
    return r;
}

static void hm(int minutes, char buf[8])
{
    unsigned m = minutes < 0 ? 0u : (unsigned)minutes % 1441u;
    snprintf(buf, 8, "%02u:%02u", m / 60, m % 60);
}

static int forbid_sentence(struct sbuf *b, enum page_lang l, const struct prefs_range *f)
{
    struct sbuf who = SBUF_INIT, when = SBUF_INIT, days = SBUF_INIT;
    char s[8], e[8];
    int r = 0;
    uint8_t k = f->kinds & PREFS_PERSON_KINDS;
    if (k == PREFS_PERSON_KINDS)
        r = put(&who, l, M_NOT_CONTACT);
    else if (k == 1u << 3)
        r = put(&who, l, M_NOT_CALL);
    else if (k == 1u << 1)
        r = put(&who, l, M_NOT_SMS);
    else if (k == 1u << 0)
        r = put(&who, l, M_NOT_EMAIL);
    else if (k == 1u << 2)
        r = put(&who, l, M_NOT_CHAT);
    else {
        struct sbuf list = SBUF_INIT;
        int n = 0;
        for (int i = 0; i < 4 && r >= 0; i++)
            if (k & (1u << i)) {
                if (n++)
                    r = sbuf_adds(&list, ", ");
                if (r >= 0)
                    r = sbuf_adds(&list, words[kind_msg[i]][l]);
            }
        if (r >= 0)
            r = put1(&who, l, M_NOT_BY, sbuf_cstr(&list));
        sbuf_release(&list);
    }
    hm(f->start, s);
    hm(f->end, e);
    if (r >= 0) {
        if (f->start == 0 && f->end == 1440)
            r = put(&when, l, M_ANY_TIME);
        else if (f->start == 0)
            r = put1(&when, l, M_BEFORE, e);
        else if (f->end == 1440)
            r = put1(&when, l, M_AFTER, s);
        else
            r = put3(&when, l, M_BETWEEN, s, e, NULL);
    }
    if (r >= 0)
        r = days_phrase(&days, l, f->days);
    /* the pieces are HTML already: put them in with sbuf_adds, not put3 */
    if (r >= 0) {
        const char *t = words[M_NOT][l];
        const char *parts[3] = { sbuf_cstr(&who), sbuf_cstr(&when), sbuf_cstr(&days) };
        while (*t && r >= 0) {
            const char *o = strchr(t, '{');
            if (!o) {
                r = sbuf_adds(b, t);
                break;
            }
            r = sbuf_add(b, t, (size_t)(o - t));
            if (r >= 0)
                r = sbuf_adds(b, parts[o[1] - '1']);
            t = o + 3;
        }
    }
    sbuf_release(&who);
    sbuf_release(&when);
    sbuf_release(&days);
    return r;
}

int page_describe_prefs(enum page_lang l, const struct prefs *p, struct sbuf *out)
{
    int r = 0;
    bool any = false;
    for (size_t i = 0; i < p->nforbid && r >= 0; i++) {
        any = true;
        r = sbuf_adds(out, "<li>");
        const struct prefs_range *f = &p->forbid[i];
        if (r >= 0 && f->start == 0 && f->end == 1440 && (f->days & 0x7f) == 0x7f &&
            (f->kinds & PREFS_PERSON_KINDS) == PREFS_PERSON_KINDS)
            r = put(out, l, M_NEVER);
        else if (r >= 0)
            r = forbid_sentence(out, l, f);
        if (r >= 0)
            r = sbuf_adds(out, "</li>");
    }
    if (r >= 0 && p->human == 1) {
        any = true;
        r = tag_msg(out, "<li>", l, M_P_HUMAN, "</li>");
    }
    if (r >= 0 && p->channel >= 0 && p->channel < 4) {
        any = true;
        r = sbuf_adds(out, "<li>");
        if (r >= 0)
            r = put1(out, l, M_P_CHANNEL, words[kind_msg[p->channel]][l]);
        if (r >= 0)
            r = sbuf_adds(out, "</li>");
    }
    for (size_t i = 0; i < p->nprefer && r >= 0; i++) {
        char s[8], e[8];
        struct sbuf days = SBUF_INIT;
        hm(p->prefer[i].start, s);
        hm(p->prefer[i].end, e);
        any = true;
        r = days_phrase(&days, l, p->prefer[i].days);
        if (r >= 0)
            r = sbuf_adds(out, "<li>");
        if (r >= 0) {
            /* days is HTML already: splice it after the escaped times */
            struct sbuf tmp = SBUF_INIT;
            r = put3(&tmp, l, M_P_HOURS, s, e, "\x01");
            const char *t = sbuf_cstr(&tmp), *x = strchr(t, '\x01');
            if (r >= 0 && x) {
                r = sbuf_add(out, t, (size_t)(x - t));
                if (r >= 0)
                    r = sbuf_adds(out, sbuf_cstr(&days));
                if (r >= 0)
                    r = sbuf_adds(out, x + 1);
            }
            sbuf_release(&tmp);
        }
        if (r >= 0)
            r = sbuf_adds(out, "</li>");
        sbuf_release(&days);
    }
    if (r >= 0 && p->language[0]) {
        any = true;
        enum page_lang pl = page_lang_from_locale(p->language, _PAGE_LANG_MAX);
        r = sbuf_adds(out, "<li>");
        if (r >= 0)
            r = put1(out, l, M_P_LANG,
                     pl == PAGE_ES ? words[M_LANG_ES][l] : pl == PAGE_EN ? words[M_LANG_EN][l]
                                                                         : p->language);
        if (r >= 0)
            r = sbuf_adds(out, "</li>");
    }
    if (r >= 0 && !any)
        r = tag_msg(out, "<li>", l, M_NOTHING_STATED, "</li>");
    return r < 0 ? r : 0;
}

/* ---- the main page ---- */

static int plan_table(struct sbuf *b, enum page_lang l, const struct plan_instalment *v,
                      size_t n, const char *currency)
{
    int r = sbuf_adds(b, "<table>\n<caption>");
    if (r >= 0)
        r = put(b, l, M_PLAN_CAPTION);
    if (r >= 0)
        r = tag_msg(b, "</caption>\n<thead><tr><th scope=\"col\">", l, M_DATE_COL,
                    "</th><th scope=\"col\">");
    if (r >= 0)
        r = tag_msg(b, "", l, M_AMOUNT_COL, "</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n && r >= 0; i++) {
        char d[48], a[64];
        page_format_date(l, v[i].day, d, sizeof(d));
        if (page_format_amount(l, v[i].amount_minor, currency, a, sizeof(a)) < 0)
            a[0] = 0;
        r = sbuf_adds(b, "<tr><td>");
        if (r >= 0)
            r = esc(b, d);
        if (r >= 0)
            r = sbuf_adds(b, "</td><td>");
        if (r >= 0)
            r = esc(b, a);
        if (r >= 0)
            r = sbuf_adds(b, "</td></tr>\n");
    }
    if (r >= 0)
        r = sbuf_adds(b, "</tbody>\n</table>\n");
    return r;
}

static int debt_section(struct sbuf *b, const struct page_view *v)
{
    enum page_lang l = v->lang;
    char amount[64], due[48], ref[40], buf[64];
    int r = sbuf_adds(b, "<section aria-labelledby=\"debt-h\">\n<h2 id=\"debt-h\">");
    if (r >= 0)
        r = put(b, l, M_DEBT_H);
    if (r >= 0)
        r = tag_msg(b, "</h2>\n<dl>\n<dt>", l, M_AMOUNT, "</dt><dd class=\"amount\">");
    if (r >= 0 && page_format_amount(l, v->balance_minor, v->currency, amount,
                                     sizeof(amount)) == 0)
        r = esc(b, amount);
    if (r >= 0)
        r = sbuf_adds(b, "</dd>\n");
    if (r >= 0 && v->due_date != INT32_MIN) {
        page_format_date(l, v->due_date, due, sizeof(due));
        r = tag_msg(b, "<dt>", l, M_DUE, "</dt><dd>");
        if (r >= 0)
            r = esc(b, due);
        if (r >= 0)
            r = sbuf_adds(b, "</dd>\n");
        int dpd = v->today - v->due_date;
        if (r >= 0 && dpd > 0) {
            r = tag_msg(b, "<dt>", l, M_DPD, "</dt>");
            if (r >= 0)
                r = sbuf_addf(b, "<dd>%d</dd>\n", dpd);
        } else if (r >= 0 && dpd < 0) {
            r = tag_msg(b, "<dt>", l, M_DUE_IN, "</dt>");
            if (r >= 0)
                r = sbuf_addf(b, "<dd>%d</dd>\n", -dpd);
        } else if (r >= 0)
            r = tag_msg(b, "<dt>", l, M_DUE_TODAY, "</dt><dd>0</dd>\n");
    }
    if (r >= 0 && v->reference) {
        page_mask_ref(v->reference, ref, sizeof(ref));
        r = tag_msg(b, "<dt>", l, M_REF, "</dt><dd>");
        if (r >= 0)
            r = esc(b, ref);
        if (r >= 0)
            r = sbuf_adds(b, "</dd>\n");
    }
    if (r >= 0 && v->email) {
        page_mask_email(v->email, buf, sizeof(buf));
        r = tag_msg(b, "<dt>", l, M_EMAIL, "</dt><dd>");
        if (r >= 0)
            r = esc(b, buf);
        if (r >= 0)
            r = sbuf_adds(b, "</dd>\n");
    }
    if (r >= 0 && v->phone) {
        page_mask_phone(v->phone, buf, sizeof(buf));
        r = tag_msg(b, "<dt>", l, M_PHONE, "</dt><dd>");
        if (r >= 0)
            r = esc(b, buf);
        if (r >= 0)
            r = sbuf_adds(b, "</dd>\n");
    }
    if (r >= 0)
        r = sbuf_adds(b, "</dl>\n</section>\n");
    return r;
}

/* What this link did, a hold, a quiet period, a plan in force. */
static int notices(struct sbuf *b, const struct page_view *v)
{
    enum page_lang l = v->lang;
    char d[48], a[64];
    int r = 0;
    bool open = false;
#define OPEN()                                                                                 \
    do {                                                                                       \
        if (!open && r >= 0)                                                                   \
            r = sbuf_adds(b, "<div class=\"notice\" role=\"status\">\n");                   \
        open = true;                                                                           \
    } while (0)
    if (v->commit_code >= 0) {
        OPEN();
        if (r >= 0)
            r = sbuf_adds(b, "<p>");
        if (r >= 0 && v->commit_code == 8 /* promise_to_pay */) {
            page_format_date(l, v->commit_date, d, sizeof(d));
            if (page_format_amount(l, v->commit_amount, v->currency, a, sizeof(a)) < 0)
                a[0] = 0;
            r = put3(b, l, M_USED_PROMISE, a, d, NULL);
        } else if (r >= 0 && v->commit_code == 16 /* due_date_moved */) {
            page_format_date(l, v->commit_date, d, sizeof(d));
            r = put1(b, l, M_USED_MOVE, d);
        } else if (r >= 0)
            r = put(b, l, M_USED_PLAN);
        if (r >= 0)
            r = sbuf_adds(b, "</p>\n");
    }
    if (v->disputed) {
        OPEN();
        if (r >= 0)
            r = tag_msg(b, "<p>", l, M_HELD, "</p>\n");
    }
    if (v->quiet_until > v->today && !v->disputed) {
        OPEN();
        page_format_date(l, v->quiet_until, d, sizeof(d));
        if (r >= 0)
            r = sbuf_adds(b, "<p>");
        if (r >= 0)
            r = put1(b, l, M_QUIET, d);
        if (r >= 0)
            r = sbuf_adds(b, "</p>\n");
    }
    if (open && r >= 0)
        r = sbuf_adds(b, "</div>\n");
#undef OPEN
    if (r >= 0 && v->plan_n) {
        r = tag_msg(b, "<section aria-labelledby=\"plan-now-h\">\n<h2 id=\"plan-now-h\">", l,
                    M_PLAN_NOW, "</h2>\n");
        if (r >= 0)
            r = plan_table(b, l, v->plan, v->plan_n, v->currency);
        if (r >= 0)
            r = sbuf_adds(b, "</section>\n");
    }
    return r;
}

static int section_open(struct sbuf *b, enum page_lang l, const char *id, enum msg h)
{
    int r = sbuf_addf(b, "<section class=\"act\" aria-labelledby=\"%s-h\">\n<h3 id=\"%s-h\">",
                      id, id);
    if (r >= 0)
        r = put(b, l, h);
    if (r >= 0)
        r = sbuf_adds(b, "</h3>\n");
    return r;
}

static int button(struct sbuf *b, enum page_lang l, enum msg m)
{
    return tag_msg(b, "<button type=\"submit\">", l, m, "</button>\n</form>\n</section>\n");
}

static int promise_form(struct sbuf *b, const struct page_view *v)
{
    enum page_lang l = v->lang;
    char lo[11], hi[11], last[48];
    iso(v->today + 1, lo);
    iso(v->promise_max, hi);
    page_format_date(l, v->promise_max, last, sizeof(last));
    int r = section_open(b, l, "promise", M_PROMISE_H);
    if (r >= 0)
        r = form_open(b, "promise", v->form_token);
    if (r >= 0)
        r = tag_msg(b, "<label for=\"promise-date\">", l, M_PROMISE_L, "</label>\n");
    if (r >= 0)
        r = sbuf_addf(b, "<input type=\"date\" id=\"promise-date\" name=\"date\" min=\"%s\" "
                         "max=\"%s\" required aria-describedby=\"promise-hint\">\n"
                         "<p class=\"hint\" id=\"promise-hint\">",
                      lo, hi);
    if (r >= 0)
        r = put1(b, l, M_PROMISE_HINT, last);
    if (r >= 0)
        r = sbuf_adds(b, "</p>\n");
    if (r >= 0)
        r = button(b, l, M_PROMISE_BTN);
    return r;
}

static int plan_form(struct sbuf *b, const struct page_view *v)
{
    enum page_lang l = v->lang;
    char lo[11], hi[11], last[48];
    iso(v->today + 1, lo);
    iso(v->plan_first_max, hi);
    page_format_date(l, v->plan_first_max, last, sizeof(last));
    int r = section_open(b, l, "plan", M_PLAN_H);
    if (r >= 0)
        r = form_open(b, "plan", v->form_token);
    if (r >= 0)
        r = tag_msg(b, "<label for=\"plan-n\">", l, M_PLAN_N,
                    "</label>\n<select id=\"plan-n\" name=\"n\">");
    for (int n = 2; n <= v->plan_max_n && r >= 0; n++) {
        char num[16], a[64];
        snprintf(num, sizeof(num), "%d", n);
        if (page_format_amount(l, (v->balance_minor + n - 1) / n, v->currency, a, sizeof(a)) < 0)
            a[0] = 0;
        r = sbuf_addf(b, "<option value=\"%d\">", n);
        if (r >= 0)
            r = put3(b, l, M_PLAN_N_OPT, num, a, NULL);
        if (r >= 0)
            r = sbuf_adds(b, "</option>");
    }
    if (r >= 0)
        r = tag_msg(b, "</select>\n<label for=\"plan-first\">", l, M_PLAN_FIRST, "</label>\n");
    if (r >= 0)
        r = sbuf_addf(b, "<input type=\"date\" id=\"plan-first\" name=\"first\" min=\"%s\" "
                         "max=\"%s\" required aria-describedby=\"plan-hint\">\n"
                         "<p class=\"hint\" id=\"plan-hint\">",
                      lo, hi);
    if (r >= 0)
        r = put1(b, l, M_PLAN_HINT, last);
    if (r >= 0)
        r = sbuf_adds(b, "</p>\n");
    if (r >= 0)
        r = button(b, l, M_PLAN_BTN);
    return r;
}

static int move_form(struct sbuf *b, const struct page_view *v)
{
    enum page_lang l = v->lang;
    char due[48];
    page_format_date(l, v->due_date, due, sizeof(due));
    int r = section_open(b, l, "move", M_MOVE_H);
    if (r >= 0)
        r = form_open(b, "move", v->form_token);
    if (r >= 0)
        r = tag_msg(b, "<label for=\"move-day\">", l, M_MOVE_L,
                    "</label>\n<select id=\"move-day\" name=\"payday\" "
                    "aria-describedby=\"move-hint\">");
    for (int d = 1; d <= 31 && r >= 0; d++)
        r = sbuf_addf(b, "<option value=\"%d\"%s>%d</option>", d, v->payday == d ? " selected" : "",
                      d);
    if (r >= 0)
        r = sbuf_addf(b, "<option value=\"last\"%s>", v->payday == -1 ? " selected" : "");
    if (r >= 0)
        r = tag_msg(b, "", l, M_MOVE_LAST, "</option></select>\n<p class=\"hint\" id=\"move-hint\">");
    if (r >= 0)
        r = put1(b, l, M_MOVE_HINT, due);
    if (r >= 0)
        r = sbuf_adds(b, "</p>\n");
    if (r >= 0)
        r = button(b, l, M_MOVE_BTN);
    return r;
}

static int dispute_form(struct sbuf *b, const struct page_view *v)
{
    enum page_lang l = v->lang;
    int r = section_open(b, l, "dispute", M_DISPUTE_H);
    if (r >= 0)
        r = form_open(b, "dispute", v->form_token);
    if (r >= 0)
        r = tag_msg(b, "<label for=\"dispute-reason\">", l, M_DISPUTE_L,
                    "</label>\n<textarea id=\"dispute-reason\" name=\"reason\" maxlength=\"1000\" "
                    "required aria-describedby=\"dispute-hint\"></textarea>\n"
                    "<p class=\"hint\" id=\"dispute-hint\">");
    if (r >= 0)
        r = tag_msg(b, "", l, M_DISPUTE_HINT, "</p>\n");
    if (r >= 0)
        r = button(b, l, M_DISPUTE_BTN);
    return r;
}

static const char *const kind_values[] = { "email", "sms", "chat", "call" };

static int optout_form(struct sbuf *b, const struct page_view *v)
{
    enum page_lang l = v->lang;
    int r = section_open(b, l, "optout", M_OPT_H);
    if (r >= 0)
        r = form_open(b, "opt_out", v->form_token);
    if (r >= 0)
        r = tag_msg(b, "<fieldset>\n<legend>", l, M_OPT_LEGEND, "</legend>\n");
    for (int k = 0; k < 4 && r >= 0; k++) {
        if (!(v->kinds & (1u << k)))
            continue;
        bool done = v->opted_out & (1u << k);
        r = sbuf_addf(b, "<label class=\"check\"><input type=\"checkbox\" name=\"kind\" "
                         "value=\"%s\"%s> ",
                      kind_values[k], done ? " disabled" : "");
        if (r >= 0)
            r = put(b, l, kind_msg[k]);
        if (r >= 0 && done)
            r = tag_msg(b, " ", l, M_OPT_DONE, "");
        if (r >= 0)
            r = sbuf_adds(b, "</label>\n");
    }
    if (r >= 0)
        r = sbuf_adds(b, "</fieldset>\n");
    if (r >= 0)
        r = button(b, l, M_OPT_BTN);
    return r;
}

static int prefs_form(struct sbuf *b, const struct page_view *v)
{
    enum page_lang l = v->lang;
    const struct prefs *p = v->prefs;
    int r = section_open(b, l, "prefs", M_PREFS_H);
    if (r >= 0 && p && !prefs_empty(p)) {
        r = sbuf_adds(b, "<ul>\n");
        if (r >= 0)
            r = page_describe_prefs(l, p, b);
        if (r >= 0)
            r = sbuf_adds(b, "</ul>\n");
    }
    if (r >= 0)
        r = form_open(b, "prefs", v->form_token);
    /* the preferred channel */
    if (r >= 0)
        r = tag_msg(b, "<fieldset>\n<legend>", l, M_CHANNEL_LEGEND, "</legend>\n");
    if (r >= 0)
        r = sbuf_addf(b, "<label class=\"check\"><input type=\"radio\" name=\"channel\" "
                         "value=\"\"%s> ",
                      !p || p->channel < 0 ? " checked" : "");
    if (r >= 0)
        r = tag_msg(b, "", l, M_NO_PREF, "</label>\n");
    for (int k = 0; k < 4 && r >= 0; k++) {
        if (!(v->kinds & (1u << k)))
            continue;
        r = sbuf_addf(b, "<label class=\"check\"><input type=\"radio\" name=\"channel\" "
                         "value=\"%s\"%s> ",
                      kind_values[k], p && p->channel == k ? " checked" : "");
        if (r >= 0)
            r = tag_msg(b, "", l, kind_msg[k], "</label>\n");
    }
    if (r >= 0)
        r = sbuf_adds(b, "</fieldset>\n");
    /* a person */
    if (r >= 0)
        r = sbuf_addf(b, "<label class=\"check\"><input type=\"checkbox\" name=\"human\" "
                         "value=\"1\"%s> ",
                      p && p->human == 1 ? " checked" : "");
    if (r >= 0)
        r = tag_msg(b, "", l, M_HUMAN, "</label>\n");
    /* the language */
    if (r >= 0) {
        enum page_lang cur = p && p->language[0] ? page_lang_from_locale(p->language, l) : l;
        r = tag_msg(b, "<label for=\"prefs-lang\">", l, M_LANG, "</label>\n");
        if (r >= 0)
            r = sbuf_addf(b, "<select id=\"prefs-lang\" name=\"language\">"
                             "<option value=\"es\" lang=\"es\"%s>Español</option>"
                             "<option value=\"en\" lang=\"en\"%s>English</option></select>\n",
                          cur == PAGE_ES ? " selected" : "", cur == PAGE_EN ? " selected" : "");
    }
    /* times not to be contacted: the ones stated (keep or drop), one more */
    if (r >= 0)
        r = tag_msg(b, "<fieldset>\n<legend>", l, M_FORBID_LEGEND, "</legend>\n");
    if (r >= 0 && (!p || !p->nforbid))
        r = tag_msg(b, "<p class=\"hint\">", l, M_FORBID_NONE, "</p>\n");
    for (size_t i = 0; p && i < p->nforbid && r >= 0; i++) {
        r = sbuf_addf(b, "<label class=\"check\"><input type=\"checkbox\" name=\"keep\" "
                         "value=\"%zu\" checked> ",
                      i);
        if (r >= 0)
            r = put(b, l, M_KEEP);
        if (r >= 0)
            r = sbuf_adds(b, ": ");
        if (r >= 0)
            r = forbid_sentence(b, l, &p->forbid[i]);
        if (r >= 0)
            r = sbuf_adds(b, "</label>\n");
    }
    if (r >= 0)
        r = tag_msg(b, "<p><strong>", l, M_NEW_FORBID, "</strong></p>\n<div class=\"row\">\n");
    if (r >= 0)
        r = tag_msg(b, "<div><label for=\"f-who\">", l, M_WHO,
                    "</label>\n<select id=\"f-who\" name=\"f_who\">");
    static const struct {
        const char *v;
        enum msg m;
    } who[] = { { "", M_WHO_NONE },      { "all", M_WHO_ALL },   { "call", M_WHO_CALL },
                { "sms", M_WHO_SMS },    { "email", M_WHO_EMAIL } };
    for (size_t i = 0; i < ELEMENTSOF(who) && r >= 0; i++) {
        r = sbuf_addf(b, "<option value=\"%s\">", who[i].v);
        if (r >= 0)
            r = tag_msg(b, "", l, who[i].m, "</option>");
    }
    if (r >= 0)
        r = tag_msg(b, "</select></div>\n<div><label for=\"f-days\">", l, M_DAYS, "</label>\n");
    if (r >= 0)
        r = days_select(b, "f_days", "f-days", l);
    if (r >= 0)
        r = tag_msg(b, "</div>\n<div><label for=\"f-from\">", l, M_FROM,
                    "</label>\n<select id=\"f-from\" name=\"f_from\">");
    if (r >= 0)
        r = hour_options(b, 0, 23, 0, false, l);
    if (r >= 0)
        r = tag_msg(b, "</select></div>\n<div><label for=\"f-to\">", l, M_TO,
                    "</label>\n<select id=\"f-to\" name=\"f_to\">");
    if (r >= 0)
        r = hour_options(b, 1, 24, 9, false, l);
    if (r >= 0)
        r = sbuf_adds(b, "</select></div>\n</div>\n</fieldset>\n");
    /* the hours they like */
    int ps = p && p->nprefer ? p->prefer[0].start / 60 : -1;
    int pe = p && p->nprefer ? p->prefer[0].end / 60 : -1;
    if (r >= 0)
        r = tag_msg(b, "<fieldset>\n<legend>", l, M_PREFER_LEGEND, "</legend>\n<div class=\"row\">"
                                                                   "<div><label for=\"p-from\">");
    if (r >= 0)
        r = tag_msg(b, "", l, M_FROM, "</label>\n<select id=\"p-from\" name=\"p_from\">");
    if (r >= 0)
        r = hour_options(b, 0, 23, ps, true, l);
    if (r >= 0)
        r = tag_msg(b, "</select></div>\n<div><label for=\"p-to\">", l, M_TO,
                    "</label>\n<select id=\"p-to\" name=\"p_to\">");
    if (r >= 0)
        r = hour_options(b, 1, 24, pe, true, l);
    if (r >= 0)
        r = sbuf_adds(b, "</select></div>\n</div>\n</fieldset>\n");
    if (r >= 0)
        r = button(b, l, M_PREFS_BTN);
    return r;
}

int page_render_main(const struct page_view *v, struct sbuf *out)
{
    enum page_lang l = v->lang;
    int r = head(out, l, v->creditor);
    if (r >= 0) {
        r = sbuf_adds(out, "<h1>");
        if (r >= 0)
            r = v->name ? put1(out, l, M_HELLO, v->name) : put(out, l, M_HELLO_PLAIN);
        if (r >= 0)
            r = sbuf_adds(out, "</h1>\n");
    }
    if (r >= 0 && v->error) {
        r = tag_msg(out, "<div class=\"error\" role=\"alert\">\n<h2>", l, M_ERR_H, "</h2>\n<p>");
        if (r >= 0)
            r = esc(out, v->error);
        if (r >= 0)
            r = sbuf_adds(out, "</p>\n</div>\n");
    }
    if (r >= 0)
        r = debt_section(out, v);
    if (r >= 0)
        r = notices(out, v);
    if (r >= 0)
        r = tag_msg(out, "<section aria-labelledby=\"act-h\">\n<h2 id=\"act-h\">", l, M_ACT_H,
                    "</h2>\n");
    bool offers = !v->collection_stopped && !v->disputed;
    if (r >= 0 && offers && v->pay_url && v->balance_minor > 0) {
        char a[64];
        if (page_format_amount(l, v->balance_minor, v->currency, a, sizeof(a)) < 0)
            a[0] = 0;
        r = section_open(out, l, "pay", M_PAY_H);
        if (r >= 0)
            r = sbuf_adds(out, "<a class=\"button\" href=\"");
        if (r >= 0)
            r = esc(out, v->pay_url);
        if (r >= 0)
            r = sbuf_adds(out, "\" rel=\"noreferrer\">");
        if (r >= 0)
            r = put1(out, l, M_PAY_BTN, a);
        if (r >= 0 && v->creditor) {
            r = sbuf_adds(out, "</a>\n<p class=\"hint\">");
            if (r >= 0)
                r = put1(out, l, M_PAY_NOTE, v->creditor);
            if (r >= 0)
                r = sbuf_adds(out, "</p>\n</section>\n");
        } else if (r >= 0)
            r = sbuf_adds(out, "</a>\n</section>\n");
    }
    bool one_shot = offers && v->commit_code < 0;
    if (r >= 0 && one_shot && v->can_promise)
        r = promise_form(out, v);
    if (r >= 0 && one_shot && v->can_plan)
        r = plan_form(out, v);
    if (r >= 0 && one_shot && v->can_move && v->due_date != INT32_MIN)
        r = move_form(out, v);
    if (r >= 0)
        r = prefs_form(out, v);
    if (r >= 0 && (v->kinds & 0x0f))
        r = optout_form(out, v);
    if (r >= 0 && !v->disputed)
        r = dispute_form(out, v);
    if (r >= 0)
        r = sbuf_adds(out, "</section>\n");
    if (r >= 0)
        r = foot(out, l, v->support_phone);
    return r < 0 ? r : 0;
}

/* ---- after an action ---- */

static int kinds_list(struct sbuf *b, enum page_lang l, uint8_t kinds)
{
    int r = 0, n = 0;
    for (int k = 0; k < 4 && r >= 0; k++)
        if (kinds & (1u << k)) {
            if (n++)
                r = sbuf_adds(b, l == PAGE_ES ? ", " : ", ");
            if (r >= 0)
                r = sbuf_adds(b, words[kind_msg[k]][l]);
        }
    return r;
}

int page_render_done(const struct page_done *d, struct sbuf *out)
{
    enum page_lang l = d->lang;
    char date[48], amount[64];
    int r = head(out, l, d->creditor);
    if (r >= 0)
        r = tag_msg(out, "<h1>", l, M_THANKS, "</h1>\n");
    if (r >= 0 && d->again)
        r = tag_msg(out, "<div class=\"notice\" role=\"status\"><p>", l, M_AGAIN,
                    "</p></div>\n");
    if (r >= 0)
        r = sbuf_adds(out, "<p>");
    switch (d->kind) {
    case PAGE_DONE_PROMISE:
        page_format_date(l, d->date, date, sizeof(date));
        if (page_format_amount(l, d->amount_minor, d->currency, amount, sizeof(amount)) < 0)
            amount[0] = 0;
        if (r >= 0)
            r = put3(out, l, M_DONE_PROMISE, amount, date, NULL);
        break;
    case PAGE_DONE_PLAN:
        if (r >= 0)
            r = put(out, l, M_DONE_PLAN);
        if (r >= 0)
            r = sbuf_adds(out, "</p>\n");
        if (r >= 0)
            r = plan_table(out, l, d->plan, d->plan_n, d->currency);
        break;
    case PAGE_DONE_MOVE:
        page_format_date(l, d->date, date, sizeof(date));
        if (r >= 0)
            r = put1(out, l, M_DONE_MOVE, date);
        break;
    case PAGE_DONE_DISPUTE:
        if (r >= 0)
            r = put(out, l, M_DONE_DISPUTE);
        break;
    case PAGE_DONE_OPT_OUT: {
        struct sbuf k = SBUF_INIT;
        if (r >= 0)
            r = kinds_list(&k, l, d->kinds);
        if (r >= 0)
            r = put1(out, l, M_DONE_OPT, sbuf_cstr(&k));
        sbuf_release(&k);
        break;
    }
    case PAGE_DONE_PREFS:
        if (r >= 0)
            r = put(out, l, M_DONE_PREFS);
        break;
    }
    if (r >= 0 && d->kind != PAGE_DONE_PLAN)
        r = sbuf_adds(out, "</p>\n");
    /* what happens next */
    bool next = d->quiet_until || (d->kind == PAGE_DONE_PREFS && d->prefs);
    if (r >= 0 && next)
        r = tag_msg(out, "<h2>", l, M_NEXT_H, "</h2>\n<ul>\n");
    if (r >= 0 && d->quiet_until) {
        page_format_date(l, d->quiet_until, date, sizeof(date));
        r = sbuf_adds(out, "<li>");
        if (r >= 0)
            r = put1(out, l, M_QUIET, date);
        if (r >= 0)
            r = sbuf_adds(out, "</li>\n");
    }
    if (r >= 0 && d->kind == PAGE_DONE_PREFS && d->prefs)
        r = page_describe_prefs(l, d->prefs, out);
    if (r >= 0 && next)
        r = sbuf_adds(out, "</ul>\n");
    if (r >= 0 && d->back_url) {
        r = sbuf_adds(out, "<p><a href=\"");
        if (r >= 0)
            r = esc(out, d->back_url);
        if (r >= 0)
            r = tag_msg(out, "\">", l, M_BACK, "</a></p>\n");
    }
    if (r >= 0)
        r = foot(out, l, d->support_phone);
    return r < 0 ? r : 0;
}

int page_render_refusal(enum page_lang l, enum page_refusal why, const char *creditor,
                        const char *support_phone, const char *back_url, struct sbuf *out)
{
    static const enum msg text[][2] = {
        [PAGE_INVALID] = { M_INVALID_H, M_INVALID_P },
        [PAGE_EXPIRED] = { M_EXPIRED_H, M_EXPIRED_P },
        [PAGE_USED] = { M_USED_H, M_USED_P },
        [PAGE_FORM_EXPIRED] = { M_FORM_H, M_FORM_P },
        [PAGE_TOO_MANY] = { M_MANY_H, M_MANY_P },
        [PAGE_UNAVAILABLE] = { M_UNAVAIL_H, M_UNAVAIL_P },
    };
    if ((unsigned)why >= ELEMENTSOF(text))
        why = PAGE_INVALID;
    int r = head(out, l, creditor);
    if (r >= 0)
        r = tag_msg(out, "<h1>", l, text[why][0], "</h1>\n");
    if (r >= 0)
        r = tag_msg(out, "<p>", l, text[why][1], "</p>\n");
    if (r >= 0 && back_url) {
        r = sbuf_adds(out, "<p><a href=\"");
        if (r >= 0)
            r = esc(out, back_url);
        if (r >= 0)
            r = tag_msg(out, "\">", l, M_BACK, "</a></p>\n");
    }
    if (r >= 0)
        r = foot(out, l, support_phone);
    return r < 0 ? r : 0;
}
