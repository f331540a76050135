/*
 * brief.c - the agent brief (see brief.h; docs/brief.md is the reader's
 * page).
 *
 * Owns nothing: a struct brief borrows its input's strings.  Must never
 * do I/O, read the clock or allocate in brief_build(): the daily run
 * builds one per dialer job, `cadenza brief` one for a person, and a test
 * any number from literals.
 *
 * Invariants:
 *  1. The compact form is at most BRIEF_COMPACT_MAX bytes and ends on a
 *     UTF-8 character boundary; whole parts are dropped (least important
 *     first) before anything is cut, and only a first part longer than
 *     the whole budget is cut.
 *  2. Every string written comes from valid UTF-8 (input strings that are
 *     not are treated as absent), so every form is valid UTF-8 and the
 *     JSON forms are valid JSON.
 *  3. A debtor whose flags stop collection (dispute, cease, bankrupt,
 *     deceased) gets no offers, whatever the strategy allows.
 *  4. Flags and tags become notes only through brief_notes[] (data, one
 *     row each), in the table's order.
 */
#include "brief.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "debtor.h"
#include "planner.h"

/*
 * Flags and tags that call for a script note, most pressing first.  The
 * flags are the import's (docs/import.md); the tags are the ones teams
 * commonly load (cadenza sample writes them) and are matched exactly.
 */
const struct brief_note brief_notes[] = {
    { DEBTOR_DISPUTE, NULL, "dispute", true,
      "The debt is disputed: do not ask for payment; take the details of the dispute and "
      "say it will be answered in writing" },
    { DEBTOR_CEASE, NULL, "cease", true,
      "A request to stop contact is on file: do not collect; confirm the request is "
      "recorded and end the call" },
    { DEBTOR_BANKRUPT, NULL, "bankrupt", true,
      "Bankruptcy on file: do not collect; refer the caller to the trustee or their "
      "representative" },
    { DEBTOR_DECEASED, NULL, "deceased", true,
      "Recorded as deceased: offer condolences, speak only with the estate's "
      "representative, never ask relatives to pay" },
    { DEBTOR_VULNERABLE, NULL, "vulnerable", false,
      "Vulnerable customer: speak slowly, check understanding, offer a break or a trusted "
      "third party; no payment pressure on this call" },
    { DEBTOR_HARDSHIP, NULL, "hardship", false,
      "Financial hardship: ask about income and essential costs first; agree only what is "
      "affordable; mention free debt advice" },
    { 0, "payment_plan_broken", "payment plan broken before", false,
      "A payment plan broke before: agree smaller instalments and confirm each date" },
    { 0, "autopay_failed", "automatic payment failed", false,
      "The automatic payment failed: check the bank details before taking a promise" },
    { 0, "self_employed", "self-employed", false,
      "Irregular income: ask when money comes in rather than for a payday" },
    { 0, "moved_recently", "moved recently", false,
      "Moved recently: confirm the postal address" },
    { 0, NULL, NULL, false, NULL },
};

static const char *valid(const char *s)
{
    return s && *s && utf8_valid(s, strlen(s)) ? s : NULL;
}

static int32_t local_day(const struct tz *z, int64_t t)
{
    struct tz_local l;
    tz_to_local(z, t, &l);
    return l.days;
}

/* Is the ';'-separated list tags holding tag (exactly, ignoring case)? */
static bool has_tag(const char *tags, const char *tag)
{
    size_t n = strlen(tag);
    for (const char *p = tags; p && *p;) {
        while (*p == ';' || *p == ' ')
            p++;
        const char *e = strchr(p, ';');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        while (k && p[k - 1] == ' ')
            k--;
        if (k == n && strncasecmp(p, tag, n) == 0)
            return true;
        p = e ? e + 1 : p + k;
    }
    return false;
}

/* The next day on or after today that is payday pd (1..31 clamped to the month, -1 last). */
static int32_t next_payday(int32_t today, int pd)
{
    int y;
    unsigned m, d;
    civil_from_days(today, &y, &m, &d);
    for (int k = 0; k < 2; k++) {
        int last = days_in_month(y, m);
        int day = pd < 0 || pd > last ? last : pd;
        int32_t at = days_from_civil(y, m, (unsigned)day);
        if (at >= today)
            return at;
        if (++m > 12) {
            m = 1;
            y++;
        }
    }
    return 0; /* not reached: next month's payday is after today */
}

static int cmp_newest(const void *a, const void *b)
{
    const struct brief_outcome *x = a, *y = b;
    return x->at < y->at ? 1 : x->at > y->at ? -1 : 0;
}

/* Keep o among the BRIEF_CONTACTS_MAX newest contacts, newest first. */
static void contact_add(struct brief *b, const struct brief_outcome *o)
{
    size_t k = b->ncontacts;
    if (k == BRIEF_CONTACTS_MAX) {
        if (cmp_newest(o, &b->contacts[k - 1]) >= 0)
            return; /* not newer than the oldest kept */
        k--;
    } else
        b->ncontacts++;
    while (k > 0 && cmp_newest(o, &b->contacts[k - 1]) < 0) {
        b->contacts[k] = b->contacts[k - 1];
        k--;
    }
    b->contacts[k] = *o;
}

int brief_build(const struct brief_input *in, struct brief *ret)
{
    if (!in->tz)
        return -EINVAL;
    struct brief b = {
        .in = in,
        .name = valid(in->name),
        .locale = valid(in->locale),
        .currency = valid(in->currency),
        .today = local_day(in->tz, in->now),
    };
    if (in->due_date != INT32_MIN) {
        b.has_dpd = true;
        b.dpd = b.today - in->due_date;
    }
    int grace = in->promise_grace_days > 0 ? in->promise_grace_days : 0;
    struct planner_outcome paid[PLANNER_PAYDAY_MAX];
    size_t npaid = 0;
    for (size_t i = 0; i < in->noutcomes; i++) {
        const struct brief_outcome *o = &in->outcomes[i];
        if (o->at > in->now)
            continue;
        if (o->kind >= 0 && o->code != OUTCOME_FAILED)
            contact_add(&b, o);
        if (o->code == OUTCOME_PAID) {
            if (!b.has_payment || o->at > b.payment.at)
                b.payment = *o;
            b.has_payment = true;
            if (npaid < PLANNER_PAYDAY_MAX)
                paid[npaid++] = (struct planner_outcome){ .at = o->at, .code = OUTCOME_PAID };
        }
    }
    /* promises: each kept by a payment after it made by its date + grace, else broken
     * once that day has passed, else open */
    for (size_t i = 0; i < in->noutcomes; i++) {
        const struct brief_outcome *p = &in->outcomes[i];
        if (p->code != OUTCOME_PROMISE_TO_PAY || p->at > in->now)
            continue;
        int32_t by = (p->promise_date ? p->promise_date : local_day(in->tz, p->at)) + grace;
        enum brief_promise_state st = BRIEF_PROMISE_OPEN;
        for (size_t k = 0; k < in->noutcomes && st != BRIEF_PROMISE_KEPT; k++) {
            const struct brief_outcome *o = &in->outcomes[k];
            if (o->code == OUTCOME_PAID && o->at >= p->at && o->at <= in->now &&
                local_day(in->tz, o->at) <= by)
                st = BRIEF_PROMISE_KEPT;
        }
        if (st != BRIEF_PROMISE_KEPT && b.today > by)
            st = BRIEF_PROMISE_BROKEN;
        b.promises_made++;
        b.promises_kept += st == BRIEF_PROMISE_KEPT;
        b.promises_broken += st == BRIEF_PROMISE_BROKEN;
        b.promises_open += st == BRIEF_PROMISE_OPEN;
        if (!b.has_promise || p->at > b.promise.at) {
            b.promise = *p;
            b.promise_state = st;
            b.has_promise = true;
        }
    }
    b.payday = in->payday;
    if (!b.payday && npaid) {
        b.payday = planner_infer_payday(paid, npaid, in->tz, in->now);
        b.payday_inferred = b.payday != 0;
    }
    if (b.payday)
        b.next_payday = next_payday(b.today, b.payday);
    for (const struct brief_note *n = brief_notes; n->name && b.nnotes < BRIEF_NOTES_MAX; n++) {
        if (n->flag ? !(in->flags & n->flag) : !has_tag(in->tags, n->tag))
            continue;
        b.notes[b.nnotes++] = n;
        if (n->stops_collection && !b.stopped_by)
            b.stopped_by = n;
    }
    if (!b.stopped_by) { /* invariant 3 */
        const struct tier_offers *o = &in->offers;
        if (o->plan_max_instalments >= 2) {
            int64_t bal = in->balance_minor > 0 ? in->balance_minor : 0;
            b.offers[b.noffers++] = (struct brief_offer){
                .kind = BRIEF_OFFER_PLAN,
                .max_instalments = o->plan_max_instalments,
                .min_instalment = (bal + o->plan_max_instalments - 1) / o->plan_max_instalments,
            };
        }
        if (o->move_due_date)
            b.offers[b.noffers++] = (struct brief_offer){ .kind = BRIEF_OFFER_MOVE_DUE_DATE,
                                                          .to_date = b.next_payday };
        if (o->fee_waiver)
            b.offers[b.noffers++] = (struct brief_offer){ .kind = BRIEF_OFFER_FEE_WAIVER };
    }
    *ret = b;
    return 0;
}

/* ---- pieces of text shared by the forms ---- */

/* Minor units as a decimal in the currency's digits: "1234.56". */
static void fmt_amount(int64_t minor, const char *currency, char *buf /* [32] */)
{
    int exp = currency ? currency_exponent(currency) : 2;
    if (exp < 0 || exp > 4)
        exp = exp < 0 ? 2 : 4;
    uint64_t u = minor < 0 ? -(uint64_t)minor : (uint64_t)minor;
    char d[32], *p = d + sizeof(d);
    *--p = 0;
    for (int i = 0; i < exp; i++, u /= 10)
        *--p = (char)('0' + u % 10);
    if (exp)
        *--p = '.';
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10));
    if (minor < 0)
        *--p = '-';
    memcpy(buf, p, (size_t)(d + sizeof(d) - p));
}

/* "1234.56 EUR" (the currency only when known). */
static void fmt_money(const struct brief *b, int64_t minor, char *buf /* [40] */)
{
    char a[32];
    fmt_amount(minor, b->currency, a);
    snprintf(buf, 40, "%s%s%s", a, b->currency ? " " : "", b->currency ? b->currency : "");
}

/* The local date and time of t: "2026-11-28 18:05". */
static void fmt_local(const struct brief *b, int64_t t, char *buf /* [20] */)
{
    struct tz_local l;
    tz_to_local(b->in->tz, t, &l);
    char d[11];
    format_date(l.days, d);
    unsigned s = (unsigned)l.sec_of_day % 86400;
    snprintf(buf, 20, "%.10s %02u:%02u", d, s / 3600 % 24, s / 60 % 60);
}

static const char *kind_name(int kind)
{
    const char *s = kind >= 0 && kind < _CHAN_KIND_MAX ? chan_kind_to_string(kind) : NULL;
    return s ? s : "-";
}

static const char *code_name(int code)
{
    const char *s = outcome_code_to_string((enum outcome_code)code);
    return s ? s : "?";
}

static const char *const promise_states[] = { "open", "kept", "broken" };

/* "25th" / "last day of the month" */
static void fmt_payday(int pd, char *buf /* [32] */)
{
    if (pd < 0) {
        snprintf(buf, 32, "last day of the month");
        return;
    }
    const char *suf = (pd % 100 >= 11 && pd % 100 <= 13) ? "th"
                      : pd % 10 == 1 ? "st" : pd % 10 == 2 ? "nd" : pd % 10 == 3 ? "rd" : "th";
    snprintf(buf, 32, "%d%s", pd, suf);
}

/* One offer in words, into buf[160]. */
static void fmt_offer(const struct brief *b, const struct brief_offer *o, char *buf)
{
    char m[40], d[11];
    switch (o->kind) {
    case BRIEF_OFFER_PLAN:
        if (o->min_instalment > 0) {
            fmt_money(b, o->min_instalment, m);
            snprintf(buf, 160, "payment plan of up to %d instalments (from %s each)",
                     o->max_instalments, m);
        } else
            snprintf(buf, 160, "payment plan of up to %d instalments", o->max_instalments);
        break;
    case BRIEF_OFFER_MOVE_DUE_DATE:
        if (o->to_date) {
            format_date(o->to_date, d);
            snprintf(buf, 160, "move the due date to payday (%s)", d);
        } else
            snprintf(buf, 160, "move the due date to payday (ask for it)");
        break;
    case BRIEF_OFFER_FEE_WAIVER:
        snprintf(buf, 160, "waive late fees");
        break;
    }
}

static const char *const offer_codes[] = { "payment_plan", "move_due_date", "fee_waiver" };

/* "3 made: 1 kept, 1 broken, 1 open; last 100.00 EUR for 2026-12-05 (open)" into buf[200] */
static void fmt_promises(const struct brief *b, char *buf)
{
    if (!b->promises_made) {
        snprintf(buf, 200, "none");
        return;
    }
    char m[40] = "", d[11];
    format_date(b->promise.promise_date ? b->promise.promise_date
                                    : local_day(b->in->tz, b->promise.at), d);
    if (b->promise.has_amount) {
        fmt_money(b, b->promise.amount_minor, m);
        strcat(m, " ");
    }
    snprintf(buf, 200, "%d made: %d kept, %d broken, %d open; last %sfor %s (%s)",
             b->promises_made, b->promises_kept, b->promises_broken, b->promises_open, m, d,
             promise_states[b->promise_state]);
}

/* "2026-11-28 18:05 call no_answer" */
static void fmt_contact(const struct brief *b, const struct brief_outcome *o, char *buf /* [64] */)
{
    char t[20];
    fmt_local(b, o->at, t);
    snprintf(buf, 64, "%s %s %s", t, kind_name(o->kind), code_name(o->code));
}

/* ---- text ---- */

/* sbuf_addf() unless an earlier append failed (*r < 0 then stays). */
_printf_(3, 4) static void addf(int *r, struct sbuf *o, const char *fmt, ...)
{
    va_list ap;
    if (*r < 0)
        return;
    va_start(ap, fmt);
    *r = sbuf_vaddf(o, fmt, ap);
    va_end(ap);
}

int brief_format_text(const struct brief *b, struct sbuf *out)
{
    const struct brief_input *in = b->in;
    char m[40], d[11], line[256];
    int r = 0;
    format_date(b->today, d);
    addf(&r, out, "Agent brief: %s (%s), language %s, as of %s (%s)\n",
         b->name ? b->name : "(no name)", valid(in->debtor_id) ? in->debtor_id : "?",
         b->locale ? b->locale : "unknown", d, tz_name(in->tz));
    fmt_money(b, in->balance_minor, m);
    addf(&r, out, "  %-14s%s", "balance", m);
    if (b->has_dpd) {
        format_date(in->due_date, d);
        if (b->dpd >= 0)
            addf(&r, out, ", %d days past due (due %s)\n", b->dpd, d);
        else
            addf(&r, out, ", due in %d days (%s)\n", -b->dpd, d);
    } else
        addf(&r, out, "%s", ", no due date\n");
    if (in->strategy)
        addf(&r, out, "  %-14s%s / %s / %s\n", "strategy", in->strategy,
             in->variant ? in->variant : "-", in->tier ? in->tier : "-");
    else
        addf(&r, out, "  %-14s%s\n", "strategy", "none matches");
    addf(&r, out, "  %-14s", "last contacts");
    if (!b->ncontacts)
        addf(&r, out, "%s", "none\n");
    for (size_t i = 0; i < b->ncontacts; i++) {
        fmt_contact(b, &b->contacts[i], line);
        addf(&r, out, "%*s%s\n", i ? 16 : 0, "", line);
    }
    fmt_promises(b, line);
    addf(&r, out, "  %-14s%s\n", "promises", line);
    if (b->has_payment) {
        char t[20];
        fmt_local(b, b->payment.at, t);
        if (b->payment.has_amount) {
            fmt_money(b, b->payment.amount_minor, m);
            addf(&r, out, "  %-14s%s on %s\n", "last payment", m, t);
        } else
            addf(&r, out, "  %-14s%s\n", "last payment", t);
    } else
        addf(&r, out, "  %-14s%s\n", "last payment", "none");
    if (b->payday) {
        char p[32];
        fmt_payday(b->payday, p);
        format_date(b->next_payday, d);
        addf(&r, out, "  %-14s%s (%s), next %s\n", "payday", p,
             b->payday_inferred ? "from payments" : "imported", d);
    } else
        addf(&r, out, "  %-14s%s\n", "payday", "unknown");
    addf(&r, out, "  %-14s", "flags");
    if (!b->nnotes)
        addf(&r, out, "%s", "none\n");
    for (size_t i = 0; i < b->nnotes; i++)
        addf(&r, out, "%*s%s: %s\n", i ? 16 : 0, "", b->notes[i]->name, b->notes[i]->note);
    addf(&r, out, "  %-14s", "offers");
    if (b->stopped_by)
        addf(&r, out, "none: collection stopped (%s)\n", b->stopped_by->name);
    else if (!b->noffers)
        addf(&r, out, "%s", "none\n");
    for (size_t i = 0; i < b->noffers; i++) {
        fmt_offer(b, &b->offers[i], line);
        addf(&r, out, "%*s%s\n", i ? 16 : 0, "", line);
    }
    char c[BRIEF_COMPACT_MAX + 1];
    brief_format_compact(b, c);
    addf(&r, out, "  %-14s%s\n", "compact", c);
    return r;
}

/* ---- JSON ---- */

static int jstr(struct sbuf *o, const char *key, const char *v)
{
    int r = sbuf_addf(o, "\"%s\":", key);
    if (r >= 0)
        r = v ? sbuf_add_json_str(o, v, strlen(v)) : sbuf_adds(o, "null");
    return r;
}

static int jday(struct sbuf *o, const char *key, int32_t days)
{
    char d[11];
    format_date(days, d);
    return jstr(o, key, d);
}

/* "2026-11-28T18:05:00+01:00" */
static int jtime(const struct brief *b, struct sbuf *o, const char *key, int64_t t)
{
    char buf[32];
    tz_format_local(b->in->tz, t, buf, sizeof(buf));
    return jstr(o, key, buf);
}

static int jmoney(const struct brief *b, struct sbuf *o, const char *key, int64_t minor)
{
    char a[32];
    fmt_amount(minor, b->currency, a);
    return jstr(o, key, a);
}

int brief_format_json(const struct brief *b, bool with_forms, struct sbuf *o)
{
    const struct brief_input *in = b->in;
    char buf[200];
    int r = sbuf_addc(o, '{');
    r = r < 0 ? r : jstr(o, "debtor", valid(in->debtor_id));
    r = r < 0 ? r : sbuf_addc(o, ',');
    r = r < 0 ? r : jstr(o, "name", b->name);
    r = r < 0 ? r : sbuf_addc(o, ',');
    r = r < 0 ? r : jstr(o, "language", b->locale);
    r = r < 0 ? r : sbuf_addc(o, ',');
    r = r < 0 ? r : jday(o, "as_of", b->today);
    r = r < 0 ? r : sbuf_addc(o, ',');
    r = r < 0 ? r : jstr(o, "time_zone", tz_name(in->tz));
    r = r < 0 ? r : sbuf_addc(o, ',');
    r = r < 0 ? r : jmoney(b, o, "balance", in->balance_minor);
    r = r < 0 ? r : sbuf_addc(o, ',');
    r = r < 0 ? r : jstr(o, "currency", b->currency);
    if (r >= 0 && b->has_dpd) {
        r = sbuf_addf(o, ",\"days_past_due\":%d,", b->dpd);
        r = r < 0 ? r : jday(o, "due_date", in->due_date);
    } else if (r >= 0)
        r = sbuf_adds(o, ",\"days_past_due\":null,\"due_date\":null");
    r = r < 0 ? r : sbuf_addc(o, ',');
    r = r < 0 ? r : jstr(o, "strategy", valid(in->strategy));
    r = r < 0 ? r : sbuf_addc(o, ',');
    r = r < 0 ? r : jstr(o, "variant", valid(in->variant));
    r = r < 0 ? r : sbuf_addc(o, ',');
    r = r < 0 ? r : jstr(o, "tier", valid(in->tier));
    r = r < 0 ? r : sbuf_adds(o, ",\"last_contacts\":[");
    for (size_t i = 0; r >= 0 && i < b->ncontacts; i++) {
        const struct brief_outcome *c = &b->contacts[i];
        r = sbuf_adds(o, i ? ",{" : "{");
        r = r < 0 ? r : jtime(b, o, "at", c->at);
        r = r < 0 ? r : sbuf_addc(o, ',');
        r = r < 0 ? r : jstr(o, "channel", kind_name(c->kind));
        r = r < 0 ? r : sbuf_addc(o, ',');
        r = r < 0 ? r : jstr(o, "outcome", code_name(c->code));
        r = r < 0 ? r : sbuf_addc(o, '}');
    }
    r = r < 0 ? r : sbuf_addf(o, "],\"promises\":{\"made\":%d,\"kept\":%d,\"broken\":%d,"
                                 "\"open\":%d,\"last\":",
                              b->promises_made, b->promises_kept, b->promises_broken,
                              b->promises_open);
    if (r >= 0 && b->has_promise) {
        r = sbuf_addc(o, '{');
        r = r < 0 ? r : jtime(b, o, "made_at", b->promise.at);
        r = r < 0 ? r : sbuf_addc(o, ',');
        r = r < 0 ? r : jday(o, "date", b->promise.promise_date
                                            ? b->promise.promise_date
                                            : local_day(in->tz, b->promise.at));
        r = r < 0 ? r : sbuf_addc(o, ',');
        if (r >= 0 && b->promise.has_amount)
            r = jmoney(b, o, "amount", b->promise.amount_minor);
        else if (r >= 0)
            r = sbuf_adds(o, "\"amount\":null");
        r = r < 0 ? r : sbuf_addc(o, ',');
        r = r < 0 ? r : jstr(o, "state", promise_states[b->promise_state]);
        r = r < 0 ? r : sbuf_adds(o, "}}");
    } else if (r >= 0)
        r = sbuf_adds(o, "null}");
    r = r < 0 ? r : sbuf_adds(o, ",\"last_payment\":");
    if (r >= 0 && b->has_payment) {
        r = sbuf_addc(o, '{');
        r = r < 0 ? r : jtime(b, o, "at", b->payment.at);
        r = r < 0 ? r : sbuf_addc(o, ',');
        if (r >= 0 && b->payment.has_amount)
            r = jmoney(b, o, "amount", b->payment.amount_minor);
        else if (r >= 0)
            r = sbuf_adds(o, "\"amount\":null");
        r = r < 0 ? r : sbuf_addc(o, '}');
    } else if (r >= 0)
        r = sbuf_adds(o, "null");
    r = r < 0 ? r : sbuf_adds(o, ",\"payday\":");
    if (r >= 0 && b->payday) {
        r = sbuf_addf(o, "{\"day\":%d,\"source\":\"%s\",", b->payday,
                      b->payday_inferred ? "payments" : "import");
        r = r < 0 ? r : jday(o, "next", b->next_payday);
        r = r < 0 ? r : sbuf_addc(o, '}');
    } else if (r >= 0)
        r = sbuf_adds(o, "null");
    r = r < 0 ? r : sbuf_adds(o, ",\"flags\":[");
    for (size_t i = 0; r >= 0 && i < b->nnotes; i++) {
        r = sbuf_adds(o, i ? ",{" : "{");
        r = r < 0 ? r : jstr(o, "flag", b->notes[i]->flag ? b->notes[i]->name
                                                           : b->notes[i]->tag);
        r = r < 0 ? r : sbuf_addf(o, ",\"stops_collection\":%s,",
                                  b->notes[i]->stops_collection ? "true" : "false");
        r = r < 0 ? r : jstr(o, "note", b->notes[i]->note);
        r = r < 0 ? r : sbuf_addc(o, '}');
    }
    r = r < 0 ? r : sbuf_addf(o, "],\"collection_stopped\":%s,\"offers\":[",
                              b->stopped_by ? "true" : "false");
    for (size_t i = 0; r >= 0 && i < b->noffers; i++) {
        const struct brief_offer *f = &b->offers[i];
        r = sbuf_adds(o, i ? ",{" : "{");
        r = r < 0 ? r : jstr(o, "offer", offer_codes[f->kind]);
        if (r >= 0 && f->kind == BRIEF_OFFER_PLAN) {
            r = sbuf_addf(o, ",\"max_instalments\":%d,", f->max_instalments);
            r = r < 0 ? r : jmoney(b, o, "min_instalment", f->min_instalment);
        } else if (r >= 0 && f->kind == BRIEF_OFFER_MOVE_DUE_DATE) {
            r = sbuf_addc(o, ',');
            if (r >= 0 && f->to_date)
                r = jday(o, "to", f->to_date);
            else if (r >= 0)
                r = sbuf_adds(o, "\"to\":null");
        }
        fmt_offer(b, f, buf);
        r = r < 0 ? r : sbuf_addc(o, ',');
        r = r < 0 ? r : jstr(o, "text", buf);
        r = r < 0 ? r : sbuf_addc(o, '}');
    }
    r = r < 0 ? r : sbuf_addc(o, ']');
    if (r >= 0 && with_forms) {
        char c[BRIEF_COMPACT_MAX + 1];
        brief_format_compact(b, c);
        r = sbuf_adds(o, ",\"fields\":");
        r = r < 0 ? r : brief_format_fields(b, o);
        r = r < 0 ? r : sbuf_addc(o, ',');
        r = r < 0 ? r : jstr(o, "compact", c);
    }
    return r < 0 ? r : sbuf_addc(o, '}');
}

/* ---- fields: one short text per name (VICIdial custom fields) ---- */

/* The fields, in order; docs/brief.md lists them for the dialer's administrator. */
enum {
    F_DEBTOR, F_NAME, F_LANGUAGE, F_BALANCE, F_DPD, F_DUE_DATE, F_TIER, F_CONTACTS,
    F_PROMISES, F_PAYMENT, F_PAYDAY, F_FLAGS, F_SCRIPT, F_OFFERS, F_MAX_
};
static const char *const field_names[F_MAX_] = {
    [F_DEBTOR] = "debtor",       [F_NAME] = "name",          [F_LANGUAGE] = "language",
    [F_BALANCE] = "balance",     [F_DPD] = "dpd",            [F_DUE_DATE] = "due_date",
    [F_TIER] = "tier",           [F_CONTACTS] = "last_contacts",
    [F_PROMISES] = "promises",   [F_PAYMENT] = "last_payment", [F_PAYDAY] = "payday",
    [F_FLAGS] = "flags",         [F_SCRIPT] = "script",      [F_OFFERS] = "offers",
};

/* Field f's text into v (reset first). */
static int field_text(const struct brief *b, int f, struct sbuf *v)
{
    const struct brief_input *in = b->in;
    char buf[200], d[11];
    sbuf_reset(v);
    switch (f) {
    case F_DEBTOR:
        return sbuf_adds(v, valid(in->debtor_id) ? in->debtor_id : "");
    case F_NAME:
        return sbuf_adds(v, b->name ? b->name : "");
    case F_LANGUAGE:
        return sbuf_adds(v, b->locale ? b->locale : "");
    case F_BALANCE:
        fmt_money(b, in->balance_minor, buf);
        return sbuf_adds(v, buf);
    case F_DPD:
        return b->has_dpd ? sbuf_addf(v, "%d", b->dpd) : sbuf_adds(v, "");
    case F_DUE_DATE:
        if (!b->has_dpd)
            return sbuf_adds(v, "");
        format_date(in->due_date, d);
        return sbuf_adds(v, d);
    case F_TIER:
        return valid(in->strategy) ? sbuf_addf(v, "%s/%s", in->strategy,
                                               valid(in->tier) ? in->tier : "-")
                                   : sbuf_adds(v, "");
    case F_CONTACTS:
        for (size_t i = 0; i < b->ncontacts; i++) {
            fmt_contact(b, &b->contacts[i], buf);
            int r = sbuf_addf(v, "%s%s", i ? "; " : "", buf);
            if (r < 0)
                return r;
        }
        return sbuf_adds(v, "");
    case F_PROMISES:
        fmt_promises(b, buf);
        return sbuf_adds(v, buf);
    case F_PAYMENT:
        if (!b->has_payment)
            return sbuf_adds(v, "none");
        format_date(local_day(in->tz, b->payment.at), d);
        if (!b->payment.has_amount)
            return sbuf_adds(v, d);
        fmt_money(b, b->payment.amount_minor, buf);
        return sbuf_addf(v, "%s on %s", buf, d);
    case F_PAYDAY: {
        if (!b->payday)
            return sbuf_adds(v, "unknown");
        char p[32];
        fmt_payday(b->payday, p);
        format_date(b->next_payday, d);
        return sbuf_addf(v, "%s (%s), next %s", p, b->payday_inferred ? "from payments"
                                                                       : "imported", d);
    }
    case F_FLAGS:
        for (size_t i = 0; i < b->nnotes; i++) {
            int r = sbuf_addf(v, "%s%s", i ? ", " : "", b->notes[i]->name);
            if (r < 0)
                return r;
        }
        return sbuf_adds(v, "");
    case F_SCRIPT:
        for (size_t i = 0; i < b->nnotes; i++) {
            int r = sbuf_addf(v, "%s%s", i ? " / " : "", b->notes[i]->note);
            if (r < 0)
                return r;
        }
        return sbuf_adds(v, "");
    case F_OFFERS:
        if (b->stopped_by)
            return sbuf_addf(v, "none: collection stopped (%s)", b->stopped_by->name);
        for (size_t i = 0; i < b->noffers; i++) {
            fmt_offer(b, &b->offers[i], buf);
            int r = sbuf_addf(v, "%s%s", i ? "; " : "", buf);
            if (r < 0)
                return r;
        }
        return sbuf_adds(v, b->noffers ? "" : "none");
    }
    return -EINVAL;
}

int brief_format_fields(const struct brief *b, struct sbuf *o)
{
    struct sbuf v = SBUF_INIT;
    int r = sbuf_addc(o, '{');
    for (int f = 0; r >= 0 && f < F_MAX_; f++) {
        r = field_text(b, f, &v);
        r = r < 0 ? r : sbuf_addf(o, "%s\"%s\":", f ? "," : "", field_names[f]);
        r = r < 0 ? r : sbuf_add_json_str(o, v.buf ? v.buf : "", v.len);
    }
    sbuf_release(&v);
    return r < 0 ? r : sbuf_addc(o, '}');
}

/* ---- compact (invariant 1) ---- */

/* Append part to out (len bytes used) with a separator, when the whole of it fits. */
static bool compact_add(char *out, size_t *len, const char *part)
{
    size_t n = strlen(part), sep = *len ? 3 : 0;
    if (!n || *len + sep + n > BRIEF_COMPACT_MAX)
        return false;
    if (sep)
        memcpy(out + *len, " | ", 3);
    memcpy(out + *len + sep, part, n);
    *len += sep + n;
    out[*len] = 0;
    return true;
}

size_t brief_format_compact(const struct brief *b, char *out)
{
    const struct brief_input *in = b->in;
    char part[512], m[40], d[11];
    size_t len = 0;
    out[0] = 0;

    /* who: the only part that may be cut, when it alone is longer than the budget */
    const char *who = b->name ? b->name : valid(in->debtor_id) ? in->debtor_id : "?";
    if (b->locale)
        snprintf(part, sizeof(part), "%.400s (%.60s)", who, b->locale);
    else
        snprintf(part, sizeof(part), "%.400s", who);
    if (!compact_add(out, &len, part)) {
        size_t n = strlen(part), k = n < BRIEF_COMPACT_MAX ? n : BRIEF_COMPACT_MAX;
        while (k > 0 && k < n && ((unsigned char)part[k] & 0xc0) == 0x80)
            k--; /* never inside a UTF-8 sequence */
        memcpy(out, part, k);
        out[len = k] = 0;
    }
    /* then the rest, most important first; a part that does not fit is left out */
    if (b->nnotes) {
        size_t n = (size_t)snprintf(part, sizeof(part), "FLAGS");
        for (size_t i = 0; i < b->nnotes && n < sizeof(part); i++)
            n += (size_t)snprintf(part + n, sizeof(part) - n, "%s%s", i ? ", " : " ",
                                  b->notes[i]->name);
        compact_add(out, &len, part);
    }
    fmt_money(b, in->balance_minor, m);
    snprintf(part, sizeof(part), "owes %s", m);
    compact_add(out, &len, part);
    if (b->has_dpd) {
        format_date(in->due_date, d);
        if (b->dpd >= 0)
            snprintf(part, sizeof(part), "%d dpd, due %s", b->dpd, d);
        else
            snprintf(part, sizeof(part), "due in %d days, %s", -b->dpd, d);
        compact_add(out, &len, part);
    }
    if (b->stopped_by)
        snprintf(part, sizeof(part), "DO NOT COLLECT (%s)", b->stopped_by->name);
    else if (b->noffers) {
        size_t n = (size_t)snprintf(part, sizeof(part), "offer");
        for (size_t i = 0; i < b->noffers && n < sizeof(part); i++) {
            const struct brief_offer *f = &b->offers[i];
            const char *sep = i ? "," : "";
            if (f->kind == BRIEF_OFFER_PLAN)
                n += (size_t)snprintf(part + n, sizeof(part) - n, "%s plan up to %d", sep,
                                      f->max_instalments);
            else if (f->kind == BRIEF_OFFER_MOVE_DUE_DATE && f->to_date) {
                format_date(f->to_date, d);
                n += (size_t)snprintf(part + n, sizeof(part) - n, "%s due date to %s", sep, d);
            } else if (f->kind == BRIEF_OFFER_MOVE_DUE_DATE)
                n += (size_t)snprintf(part + n, sizeof(part) - n, "%s due date to payday", sep);
            else
                n += (size_t)snprintf(part + n, sizeof(part) - n, "%s fee waiver", sep);
        }
    } else
        part[0] = 0;
    compact_add(out, &len, part);
    if (b->promises_made) {
        format_date(b->promise.promise_date ? b->promise.promise_date
                                        : local_day(in->tz, b->promise.at), d);
        snprintf(part, sizeof(part), "promises %d: %d kept, %d broken; last %s %s",
                 b->promises_made, b->promises_kept, b->promises_broken, d,
                 promise_states[b->promise_state]);
        compact_add(out, &len, part);
    }
    if (b->payday) {
        char p[32];
        fmt_payday(b->payday, p);
        snprintf(part, sizeof(part), "payday %s", p);
        compact_add(out, &len, part);
    }
    if (b->ncontacts) {
        const struct brief_outcome *c = &b->contacts[0];
        format_date(local_day(in->tz, c->at), d);
        snprintf(part, sizeof(part), "last %s %s %s", d, kind_name(c->kind), code_name(c->code));
        compact_add(out, &len, part);
    }
    if (valid(in->tier)) {
        snprintf(part, sizeof(part), "tier %.60s", in->tier);
        compact_add(out, &len, part);
    }
    return len;
}

int brief_job_inputs(const struct brief *b, struct sbuf *out)
{
    char c[BRIEF_COMPACT_MAX + 1];
    size_t n = brief_format_compact(b, c);
    int r = sbuf_adds(out, ",\"brief\":");
    r = r < 0 ? r : brief_format_json(b, false, out);
    r = r < 0 ? r : sbuf_adds(out, ",\"brief_fields\":");
    r = r < 0 ? r : brief_format_fields(b, out);
    r = r < 0 ? r : sbuf_adds(out, ",\"brief_text\":");
    r = r < 0 ? r : sbuf_add_json_str(out, c, n);
    return r;
}

/* ---- the strategy's side ---- */

void brief_strategy(const struct strategy_set *set, const struct debtor_rec *rec, int dpd,
                    const char *strategy, const char *variant, const char *tier,
                    struct brief_input *in)
{
    const struct strategy *st = NULL;
    const struct variant *v = NULL;
    const struct tier *t = NULL;
    in->strategy = in->variant = in->tier = NULL;
    in->offers = (struct tier_offers){ 0 };
    in->promise_grace_days = 0;
    if (!set)
        return;
    for (size_t i = 0; strategy && i < set->n && !st; i++)
        if (streq(set->v[i].name, strategy))
            st = &set->v[i];
    for (size_t i = 0; st && variant && i < st->nvariants && !v; i++)
        if (streq(st->variants[i].name, variant))
            v = &st->variants[i];
    if (v && tier)
        t = streq(tier, "no-contact") && v->no_contact.enabled ? &v->no_contact.tier
                                                                : variant_tier(v, tier);
    if (!t && rec) {
        /* never planned, or the strategy changed since: what the planner would pick */
        st = strategy_set_match(set, rec, dpd);
        if (!st)
            return;
        const char *ext = rec->external_id ? rec->external_id : "";
        v = strategy_pick_variant(st, hash64(ext, strlen(ext), hash64(st->name,
                                                                      strlen(st->name), 0)));
        int k = v ? variant_start_tier(v, dpd) : -1;
        t = v && k >= 0 && (size_t)k < v->ntiers ? &v->tiers[k] : NULL;
    }
    if (!t)
        return;
    in->strategy = st->name;
    in->variant = v->name;
    in->tier = t->name;
    in->offers = t->offers;
    const struct strategy_reaction *p = &v->on[STRATEGY_OUTCOME_PROMISE_TO_PAY];
    in->promise_grace_days = p->action == STRATEGY_ACTION_PAUSE ? p->grace_days : 0;
}
