/*
 * timeline.c - a debtor's timeline as JSON (timeline.h).
 *
 * Owns: nothing past the call.  Must never: write to the store, or put a
 * full address or name in an answer (addresses and names are masked: an
 * operator sees which channel and which address it was, not the address).
 *
 * The "rule that allowed" an attempt is what the planner logged with it:
 * the strategy and variant that matched, the tier that listed the channel
 * (with its template), the slot [scheduled_at, not_after) in the debtor's
 * zone, which the planner only offers inside the tier's window and the
 * jurisdiction's legal hours after the caps, gaps and the day's limit
 * passed (docs/planner.md), the choice probability when it was logged,
 * and whether a daily run or a re-plan made it.  `cadenza explain` with
 * the attempt's date replays the whole decision.
 */
#include "timeline.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "campaign.h"
#include "channel.h"
#include "config.h"
#include "debtor.h"
#include "outcome.h"
#include "store.h"
#include "tz.h"

int timeline_mask_name(const char *s, struct sbuf *out)
{
    bool start = true;
    int r = 0;
    for (; s && *s && r >= 0; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ' ' || c == '-' || c == '\'') {
            r = sbuf_addc(out, (char)c);
            start = true;
        } else if (start) {
            /* the whole first character, also when it takes several bytes */
            r = sbuf_addc(out, (char)c);
            while (r >= 0 && (s[1] & 0xc0) == 0x80)
                r = sbuf_addc(out, *++s);
            if (r >= 0)
                r = sbuf_adds(out, "***");
            start = false;
        }
    }
    return r < 0 ? -ENOMEM : 0;
}

int timeline_mask_address(int kind, const char *s, struct sbuf *out)
{
    if (!s)
        return 0;
    if (kind == CHAN_LETTER) /* letters name the debtor's id, not an address */
        return sbuf_adds(out, s) < 0 ? -ENOMEM : 0;
    size_t at = out->len;
    if (kind == CHAN_CHAT) {
        int r = sbuf_add(out, s, 1);
        return r < 0 || sbuf_adds(out, "***") < 0 ? -ENOMEM : 0;
    }
    if (sbuf_adds(out, s) < 0)
        return -ENOMEM;
    channel_mask_pii(out->buf + at);
    return 0;
}

struct tl {
    json_t *root, *attempts, *outcomes, *transitions, *suppressions;
    const struct tz *z;
    struct tz_cache *zones;
    char external_id[161];
    int r;
};

static json_t *utc(int64_t t)
{
    if (!t)
        return json_null();
    char b[32];
    campaign_format_utc(t, b, sizeof(b));
    return json_string(b);
}

static json_t *local(const struct tz *z, int64_t t)
{
    if (!t || !z)
        return json_null();
    char b[40];
    tz_format_local(z, t, b, sizeof(b));
    return json_string(b);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *masked(int kind, const char *s)
{
    if (!s || !*s)
        return json_null();
    struct sbuf b = SBUF_INIT;
    json_t *j = timeline_mask_address(kind, s, &b) < 0 ? NULL : json_stringn(b.buf, b.len);
    sbuf_release(&b);
    return j;
}

/* An amount in minor units as a decimal string in the currency's digits. */
static json_t *amount(int64_t minor, const char *currency)
{
    int e = currency_exponent(currency);
    if (e < 0 || e > 4)
        e = e < 0 ? 2 : 4;
    int64_t p = 1;
    for (int i = 0; i < e; i++)
        p *= 10;
    uint64_t u = minor < 0 ? -(uint64_t)minor : (uint64_t)minor;
    char b[64];
    if (e)
        snprintf(b, sizeof(b), "%s%llu.%0*llu", minor < 0 ? "-" : "",
                 (unsigned long long)(u / (uint64_t)p), e, (unsigned long long)(u % (uint64_t)p));
    else
        snprintf(b, sizeof(b), "%s%llu", minor < 0 ? "-" : "", (unsigned long long)u);
    return json_string(b);
}

static json_t *date_or_null(int32_t d)
{
    if (!d || d == INT32_MIN)
        return json_null();
    char b[11];
    format_date(d, b);
    return json_string(b);
}

static const char *kind_name(int k)
{
    return k >= 0 && k < _CHAN_KIND_MAX ? chan_kind_to_string((enum chan_kind)k) : NULL;
}

static int set(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0 ? 0 : -ENOMEM;
}

static int on_debtor(void *ctx, int64_t id, const struct debtor_rec *rec, bool has_state,
                     const struct planner_state *st)
{
    struct tl *t = ctx;
    (void)id;
    const struct tz *z = NULL;
    if (rec->time_zone && tz_cache_get(t->zones, rec->time_zone, &z) == 0)
        t->z = z;
    snprintf(t->external_id, sizeof(t->external_id), "%s", rec->external_id);
    json_t *d = json_object(), *flags = json_array();
    if (!d || !flags || json_object_set_new(t->root, "debtor", d) < 0) {
        json_decref(flags);
        return -ENOMEM;
    }
    d = json_object_get(t->root, "debtor");
    static const char *const fl[] = { "hardship", "dispute", "cease", "deceased", "bankrupt",
                                      "vulnerable" };
    for (size_t i = 0; i < ELEMENTSOF(fl); i++)
        if (rec->flags & (1u << i))
            json_array_append_new(flags, json_string(fl[i]));
    if (set(d, "flags", flags) < 0)
        return -ENOMEM;
    struct sbuf nm = SBUF_INIT;
    int r = rec->name ? timeline_mask_name(rec->name, &nm) : 0;
    if (r < 0 || set(d, "id", json_string(rec->external_id)) < 0 ||
        set(d, "name", rec->name ? json_stringn(nm.buf ? nm.buf : "", nm.len) : json_null()) < 0 ||
        set(d, "country", str_or_null(rec->country)) < 0 ||
        set(d, "region", str_or_null(rec->region)) < 0 ||
        set(d, "time_zone", str_or_null(rec->time_zone)) < 0 ||
        set(d, "locale", str_or_null(rec->locale)) < 0 ||
        set(d, "email", masked(CHAN_EMAIL, rec->email)) < 0 ||
        set(d, "phone", masked(CHAN_SMS, rec->phone[0] ? rec->phone : NULL)) < 0 ||
        set(d, "chat_handle", masked(CHAN_CHAT, rec->chat_handle)) < 0 ||
        set(d, "balance", amount(rec->balance_minor, rec->currency)) < 0 ||
        set(d, "currency", str_or_null(rec->currency)) < 0 ||
        set(d, "due_date", date_or_null(rec->due_date)) < 0 ||
        set(d, "segment", str_or_null(rec->segment)) < 0) {
        sbuf_release(&nm);
        return -ENOMEM;
    }
    sbuf_release(&nm);
    json_t *s = has_state ? json_object() : json_null();
    if (!s || json_object_set_new(t->root, "state", s) < 0)
        return -ENOMEM;
    if (has_state &&
        (set(s, "strategy", str_or_null(st->strategy)) < 0 ||
         set(s, "variant", str_or_null(st->variant)) < 0 ||
         set(s, "tier", str_or_null(st->stopped ? NULL : st->tier)) < 0 ||
         set(s, "tier_entered_at", utc(st->tier_entered_at)) < 0 ||
         set(s, "attempts_in_tier", json_integer(st->attempts_in_tier)) < 0 ||
         set(s, "attempts_since_contact", json_integer(st->attempts_since_contact)) < 0 ||
         set(s, "attempts_total", json_integer(st->attempts_total)) < 0 ||
         set(s, "paused_until", utc(st->paused_until)) < 0 ||
         set(s, "hold_reason", str_or_null(st->hold_reason)) < 0 ||
         set(s, "no_contact_track", json_boolean(st->no_contact_track)) < 0 ||
         set(s, "stopped", json_boolean(st->stopped)) < 0 ||
         set(s, "outcomes_applied_until", utc(st->applied_until)) < 0))
        return -ENOMEM;
    return 0;
}

static int on_attempt(void *ctx, const struct store_tl_attempt *a)
{
    struct tl *t = ctx;
    json_t *o = json_object(), *why = json_object();
    if (!o || !why || json_array_append_new(t->attempts, o) < 0) {
        json_decref(why);
        return -ENOMEM;
    }
    char from[40] = "", until[40] = "", day[11] = "", rule[512];
    struct tz_local l;
    if (t->z) {
        tz_to_local(t->z, a->scheduled_at, &l);
        format_date(l.days, day);
        snprintf(from, sizeof(from), "%02d:%02d", l.sec_of_day / 3600, l.sec_of_day / 60 % 60);
        if (a->not_after) {
            tz_to_local(t->z, a->not_after, &l);
            snprintf(until, sizeof(until), "%02d:%02d", l.sec_of_day / 3600,
                     l.sec_of_day / 60 % 60);
        }
    }
    snprintf(rule, sizeof(rule),
             "strategy '%s' (variant '%s'), tier '%s' lists channel '%s'%s%s%s; the slot "
             "%s%s%s %s was inside the tier's window and the legal hours, and no cap, gap or "
             "daily limit refused it",
             a->strategy ? a->strategy : "", a->variant ? a->variant : "", a->tier ? a->tier : "",
             a->channel ? a->channel : "", a->template_name ? " (template '" : "",
             a->template_name ? a->template_name : "", a->template_name ? "')" : "", from,
             until[0] ? "-" : "", until, t->z ? tz_name(t->z) : "");
    char planned_by[64], explain[256];
    if (a->run_id) {
        char rd[11];
        format_date(a->run_date, rd);
        snprintf(planned_by, sizeof(planned_by), "daily run of %s", rd);
    } else
        snprintf(planned_by, sizeof(planned_by), "re-plan after news");
    snprintf(explain, sizeof(explain), "cadenza explain %s --date %s", t->external_id,
             day[0] ? day : "?");
    struct sbuf err = SBUF_INIT;
    if (a->error && sbuf_adds(&err, a->error) >= 0)
        channel_mask_pii(err.buf);
    int r = 0;
    if (set(o, "id", json_integer(a->id)) < 0 || set(o, "key", str_or_null(a->key)) < 0 ||
        set(o, "status", str_or_null(attempt_status_to_string(a->status))) < 0 ||
        set(o, "channel", str_or_null(a->channel)) < 0 ||
        set(o, "kind", str_or_null(kind_name(a->kind))) < 0 ||
        set(o, "scheduled_at", utc(a->scheduled_at)) < 0 ||
        set(o, "scheduled_local", local(t->z, a->scheduled_at)) < 0 ||
        set(o, "not_after", utc(a->not_after)) < 0 ||
        set(o, "created_at", utc(a->created_at)) < 0 ||
        set(o, "sent_at", utc(a->sent_at)) < 0 || set(o, "result_at", utc(a->result_at)) < 0 ||
        set(o, "tries", json_integer(a->tries)) < 0 ||
        set(o, "error", a->error ? json_stringn(err.buf ? err.buf : "", err.len)
                                 : json_null()) < 0 ||
        set(o, "planned_by", json_string(planned_by)) < 0 || set(o, "allowed_by", why) < 0 ||
        set(why, "strategy", str_or_null(a->strategy)) < 0 ||
        set(why, "variant", str_or_null(a->variant)) < 0 ||
        set(why, "tier", str_or_null(a->tier)) < 0 ||
        set(why, "channel", str_or_null(a->channel)) < 0 ||
        set(why, "template", str_or_null(a->template_name)) < 0 ||
        set(why, "p_choice", a->p_choice >= 0 ? json_real(a->p_choice) : json_null()) < 0 ||
        set(why, "rule", json_string(rule)) < 0 ||
        set(why, "explain", json_string(explain)) < 0)
        r = -ENOMEM;
    sbuf_release(&err);
    return r;
}

static int on_outcome(void *ctx, const struct store_tl_outcome *x)
{
    struct tl *t = ctx;
    json_t *o = json_object();
    if (!o || json_array_append_new(t->outcomes, o) < 0)
        return -ENOMEM;
    const char *cur = NULL;
    json_t *d = json_object_get(t->root, "debtor");
    if (d)
        cur = json_string_value(json_object_get(d, "currency"));
    const struct outcome_info *oi = outcome_info((enum outcome_code)x->code);
    if (set(o, "at", utc(x->at)) < 0 ||
        set(o, "outcome", str_or_null(outcome_code_to_string((enum outcome_code)x->code))) <
            0 ||
        set(o, "kind", str_or_null(kind_name(x->kind))) < 0 ||
        set(o, "attempt_id", x->attempt_id ? json_integer(x->attempt_id) : json_null()) < 0 ||
        set(o, "amount", x->has_amount ? amount(x->amount_minor, cur) : json_null()) < 0 ||
        set(o, "promise_date", date_or_null(x->promise_date)) < 0 ||
        set(o, "source", str_or_null(x->source)) < 0 ||
        set(o, "stops_jobs", json_boolean(oi && oi->stop)) < 0)
        return -ENOMEM;
    return 0;
}

static int on_transition(void *ctx, const struct store_tl_transition *x)
{
    struct tl *t = ctx;
    json_t *o = json_object();
    if (!o || json_array_append_new(t->transitions, o) < 0)
        return -ENOMEM;
    if (set(o, "at", utc(x->at)) < 0 || set(o, "strategy", str_or_null(x->strategy)) < 0 ||
        set(o, "from", str_or_null(x->from_tier)) < 0 ||
        set(o, "to", str_or_null(x->to_tier)) < 0 ||
        set(o, "reason", str_or_null(x->reason)) < 0)
        return -ENOMEM;
    return 0;
}

static int on_suppression(void *ctx, const struct store_tl_suppression *x)
{
    struct tl *t = ctx;
    json_t *o = json_object();
    if (!o || json_array_append_new(t->suppressions, o) < 0)
        return -ENOMEM;
    if (set(o, "kind", str_or_null(kind_name(x->kind))) < 0 ||
        set(o, "address", masked(x->kind, x->address)) < 0 ||
        set(o, "reason", str_or_null(x->reason)) < 0 || set(o, "at", utc(x->created_at)) < 0 ||
        set(o, "expires_at", utc(x->expires_at)) < 0)
        return -ENOMEM;
    return 0;
}

int timeline_json(struct store *s, struct tz_cache *zones, const char *external_id, int limit,
                  struct sbuf *out)
{
    static const struct store_timeline_ops ops = { on_debtor, on_attempt, on_outcome,
                                                   on_transition, on_suppression };
    struct tl t = { .zones = zones };
    t.root = json_object();
    t.attempts = json_array();
    t.outcomes = json_array();
    t.transitions = json_array();
    t.suppressions = json_array();
    int r = -ENOMEM;
    if (!t.root || !t.attempts || !t.outcomes || !t.transitions || !t.suppressions) {
        json_decref(t.attempts);
        json_decref(t.outcomes);
        json_decref(t.transitions);
        json_decref(t.suppressions);
        goto out;
    }
    /* the lists go in after the debtor and its state, in this order */
    r = store_timeline_get(s, external_id, limit, &ops, &t);
    if (r < 0) {
        json_decref(t.attempts);
        json_decref(t.outcomes);
        json_decref(t.transitions);
        json_decref(t.suppressions);
        goto out;
    }
    if (json_object_set_new(t.root, "attempts", t.attempts) < 0 ||
        json_object_set_new(t.root, "outcomes", t.outcomes) < 0 ||
        json_object_set_new(t.root, "transitions", t.transitions) < 0 ||
        json_object_set_new(t.root, "suppressions", t.suppressions) < 0 ||
        json_object_set_new(t.root, "limit", json_integer(limit)) < 0) {
        r = -ENOMEM;
        goto out;
    }
    char *txt = json_dumps(t.root, JSON_PRESERVE_ORDER | JSON_COMPACT);
    r = txt && sbuf_adds(out, txt) >= 0 && sbuf_addc(out, '\n') >= 0 ? 0 : -ENOMEM;
    free(txt);
out:
    json_decref(t.root);
    return r;
}
