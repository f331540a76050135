/*
 * planner.c - the planner: one pure function from debtor + contact state
 * + recent history + rules + now to the day's ranked contact candidates,
 * and the capacity step that assigns them across debtors.
 *
 * Owns nothing long-lived.  Never: does I/O, reads the clock, allocates
 * in planner_plan(), or changes the process's TZ (zones come in as
 * struct tz).  The rules and their reason strings are documented once,
 * in docs/planner.md; the tier state machine is drawn in strategy.c.
 *
 * Pipeline of planner_plan():
 *   resolve strategy + variant -> place in the ladder -> apply new
 *   outcomes (reactions) -> tier exits / dpd entry / no-contact track ->
 *   debtor gates (stopped, held, paused, profile, legal day, holiday,
 *   window, daily limit, tier max) -> channel rules (address,
 *   suppression, consent, mobile, vulnerable, maxima, rolling caps,
 *   cool-down, weekly cap, rotation) -> local hourly slots (window n
 *   legal hours - do-not-contact) -> UTC -> per-slot gaps, pause, now
 *   -> model estimate -> value -> Thompson score -> top PLANNER_CAND_MAX.
 *
 * Invariants:
 *  1. Every candidate in ret->cand satisfies every rule of docs/planner.md
 *     for every instant of [at, until) (tests/unit/test-planner.c checks
 *     this with an independent checker on random inputs).
 *  2. The same inputs and ctx->seed give the same result, bit for bit.
 *  3. planner_assign() never assigns more than hourly_capacity contacts
 *     to one channel in one UTC hour [k*3600, (k+1)*3600) by `at`.
 *  4. A rejection always carries exactly one reason: the first rule that
 *     fails in pipeline order (gaps: the constraint that binds last).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planner.h"
#include "propensity.h"
#include "util.h"

/* ---- tables ---- */


static const char *const reason_names[_PLAN_REASON_MAX] = {
    [PLAN_OK] = "ok",
    [PLAN_NO_STRATEGY] = "no strategy matches",
    [PLAN_STOPPED] = "stopped",
    [PLAN_HELD] = "held",
    [PLAN_PAUSED] = "paused",
    [PLAN_NO_PROFILE] = "no jurisdiction profile",
    [PLAN_DAY_CLOSED] = "no legal hours on this weekday",
    [PLAN_HOLIDAY] = "holiday",
    [PLAN_WINDOW_CLOSED] = "strategy window closed",
    [PLAN_DAILY_LIMIT] = "daily limit",
    [PLAN_NO_ADDRESS] = "no address",
    [PLAN_SUPPRESSED] = "suppressed",
    [PLAN_CONSENT_REFUSED] = "consent refused",
    [PLAN_NO_CONSENT] = "consent required",
    [PLAN_NOT_MOBILE] = "not a mobile number",
    [PLAN_VULNERABLE] = "vulnerable: human only",
    [PLAN_CHANNEL_MAX] = "channel attempts exhausted in tier",
    [PLAN_TIER_MAX] = "tier attempts exhausted",
    [PLAN_TIER_CAP] = "tier rolling cap",
    [PLAN_CALL_CAP] = "call cap",
    [PLAN_CALL_COOLDOWN] = "call cool-down after conversation",
    [PLAN_WEEKLY_CAP] = "weekly cap",
    [PLAN_ROTATION] = "not this rotation's channel",
    [PLAN_NOT_FIRST] = "earlier channel available",
    [PLAN_LEGAL_HOURS] = "outside legal hours",
    [PLAN_DNC] = "debtor's do-not-contact time",
    [PLAN_TZ2] = "outside legal hours in second zone",
    [PLAN_GAP_TIER] = "tier minimum gap",
    [PLAN_GAP_CHANNEL] = "channel minimum gap",
    [PLAN_PAST] = "slot already past",
    [PLAN_DST_GAP] = "skipped by DST change",
    [PLAN_CAPACITY] = "over capacity",
    [PLAN_RANK] = "ranked below the kept candidates",
    [PLAN_STATED_TIME] = "debtor's stated do-not-contact time",
    [PLAN_HUMAN_ONLY] = "debtor asked for a person",
};

const char *planner_reason_to_string(enum planner_reason r)
{
    return (int)r >= 0 && r < _PLAN_REASON_MAX ? reason_names[r] : "?";
}

uint8_t planner_addresses(const struct debtor_rec *rec)
{
    uint8_t m = 1u << CHAN_LETTER;
    if (!isempty(rec->email))
        m |= 1u << CHAN_EMAIL;
    if (rec->phone[0])
        m |= (1u << CHAN_SMS) | (1u << CHAN_CALL);
    if (!isempty(rec->chat_handle))
        m |= 1u << CHAN_CHAT;
    return m;
}

/* Channel kinds a "human only" profile forbids for vulnerable debtors. */
#define AUTOMATED_KINDS ((1u << CHAN_SMS) | (1u << CHAN_CHAT))

/* ---- the working set of one planner_plan() call ---- */

#define ATT_DAYS_CACHE 256
#define CAND_WORK_MAX (TIER_CHANNELS_MAX * 24)

struct work {
    const struct planner_ctx *ctx;
    const struct planner_debtor *d;
    const struct debtor_rec *rec;
    const struct planner_history *h;
    const struct profile *prof;
    struct planner_result *ret;
    struct planner_trace *trace;
    int64_t now;
    int32_t day;
    int wd;
    const struct variant *v;
    int32_t att_day[ATT_DAYS_CACHE];
    uint8_t suppressed;
    uint8_t invalid;      /* kinds whose address this plan found invalid (reactions) */
    bool call_ok;            /* "rather a person": a call channel of the tier is allowed */
    int grace;               /* days after a promise's date before it is broken */
};

static unsigned pref_boost(const struct work *w, const struct planner_cand *c);

static int32_t local_day(const struct tz *z, int64_t utc)
{
    struct tz_local l;
    tz_to_local(z, utc, &l);
    return l.days;
}

static int32_t att_day(struct work *w, size_t i)
{
    if (i < ATT_DAYS_CACHE)
        return w->att_day[i];
    return local_day(w->d->tz, w->h->attempts[i].at);
}

/*
 * An attempt that reached nobody: its channel kind's address has been
 * found not to work (a hard bounce, a wrong number, an invalid address),
 * so it is suppressed as invalid.  Such an attempt does not count
 * against the day's limit or the minimum gaps (nobody was contacted; the
 * caps, which the law may count per try, still count it), so a bounced
 * e-mail can be followed by an SMS the same day.  The address it went to
 * is suppressed, so this never repeats an attempt on it.
 */
static bool att_reached_nobody(const struct work *w, const struct planner_attempt *a)
{
    return a->kind < _CHAN_KIND_MAX && ((w->d->invalid | w->invalid) & (1u << a->kind));
}

static void trace_add(struct work *w, const struct planner_cand *c, enum planner_reason r,
                      bool scored)
{
    struct planner_trace *t = w->trace;
    if (!t)
        return;
    if (t->n >= PLANNER_TRACE_MAX) {
        t->dropped++;
        return;
    }
    t->e[t->n].c = *c;
    t->e[t->n].reason = (uint8_t)r;
    t->e[t->n].scored = scored;
    t->e[t->n].boost = scored ? (uint8_t)pref_boost(w, c) : 0;
    t->n++;
}

static void add_transition(struct work *w, const char *from, const char *to, const char *fmt,
                           ...) _printf_(4, 5);
static void add_transition(struct work *w, const char *from, const char *to, const char *fmt,
                           ...)
{
    struct planner_result *r = w->ret;
    if (r->ntrans >= PLANNER_TRANS_MAX)
        return;
    struct planner_transition *t = &r->trans[r->ntrans++];
    t->from_tier = from;
    t->to_tier = to;
    t->at = w->now;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->reason, sizeof(t->reason), fmt, ap);
    va_end(ap);
}

static void add_effect(struct work *w, enum planner_effect_kind what, int kind)
{
    struct planner_result *r = w->ret;
    for (size_t i = 0; i < r->neffects; i++)
        if (r->effects[i].what == what && r->effects[i].kind == kind)
            return;
    if (r->neffects < PLANNER_EFFECTS_MAX)
        r->effects[r->neffects++] = (struct planner_effect){ (uint8_t)what, (uint8_t)kind };
}

static const char *tier_name(const struct variant *v, int idx)
{
    if (idx == TIER_NO_CONTACT)
        return "no-contact";
    if (idx >= 0 && (size_t)idx < v->ntiers)
        return v->tiers[idx].name;
    return NULL;
}

static const struct tier *tier_at(const struct variant *v, int idx)
{
    if (idx == TIER_NO_CONTACT)
        return v->no_contact.enabled ? &v->no_contact.tier : NULL;
    if (idx >= 0 && (size_t)idx < v->ntiers)
        return &v->tiers[idx];
    return NULL;
}

/* Move to tier `to` now (counters of the tier restart). */
static void enter_tier(struct work *w, int *cur, int to, const char *why)
{
    struct planner_state *n = &w->ret->next;
    const char *from = *cur == INT_MIN ? NULL : tier_name(w->v, *cur);
    *cur = to;
    n->tier = tier_name(w->v, to);
    n->tier_entered_at = w->now;
    n->attempts_in_tier = 0;
    n->no_contact_track = to == TIER_NO_CONTACT;
    add_transition(w, from, n->tier, "%s", why);
    if (to == TIER_NO_CONTACT && w->v->no_contact.investigate_address)
        add_effect(w, PLAN_EFFECT_INVESTIGATE, _CHAN_KIND_MAX);
}

/* The UTC instant local day `day` starts in the debtor's zone. */
static int64_t day_start(const struct tz *z, int32_t day)
{
    int64_t u;
    tz_local_to_utc(z, day, 0, &u);
    return u;
}

/* ---- outcomes ---- */

static int cmp_outcome_ptr(const void *a, const void *b)
{
    const struct planner_outcome *x = *(const struct planner_outcome *const *)a;
    const struct planner_outcome *y = *(const struct planner_outcome *const *)b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->code < y->code ? -1 : x->code > y->code;
}

#define NEW_OUTCOMES_MAX 64

/* The plan was agreed by `at` and its payments up to now do not cover it yet. */
static bool plan_running(const struct work *w, int64_t at)
{
    const struct planner_plan *p = w->h->plan;
    return p && p->n && p->agreed_at <= at && p->agreed_at <= w->now &&
           prefs_plan_next(p->inst, p->n, p->paid_minor) < p->n;
}

/*
 * The plan's instalments as promises: paused until the one it waits for
 * is due plus the grace days; past that, unpaid, it is broken (no pause).
 * Returns true when broken.
 */
static bool plan_apply(struct work *w)
{
    const struct planner_plan *p = w->h->plan;
    if (!p || !p->n || p->agreed_at > w->now)
        return false;
    size_t k = prefs_plan_next(p->inst, p->n, p->paid_minor);
    char d[11];
    if (k == p->n) {
        if (w->trace)
            snprintf(w->trace->plan_why, sizeof(w->trace->plan_why),
                     "payment plan of %zu instalments: paid in full", p->n);
        return false;
    }
    format_date(p->inst[k].day, d);
    bool broken = w->day > p->inst[k].day + w->grace;
    if (w->trace)
        snprintf(w->trace->plan_why, sizeof(w->trace->plan_why),
                 "payment plan: instalment %zu of %zu due %s (grace %d days)%s", k + 1, p->n, d,
                 w->grace, broken ? ": not paid, broken" : ": paused until then");
    if (broken)
        return true;
    int64_t until = day_start(w->d->tz, p->inst[k].day + w->grace + 1);
    if (until > w->ret->next.paused_until)
        w->ret->next.paused_until = until;
    return false;
}

/* Apply reactions to outcomes newer than applied_until (keeps invariant 2: time order). */
static void apply_outcomes(struct work *w, int *cur)
{
    const struct planner_history *h = w->h;
    struct planner_state *n = &w->ret->next;
    const struct planner_outcome *nw[NEW_OUTCOMES_MAX];
    size_t nn = 0;
    for (size_t i = 0; i < h->noutcomes && nn < NEW_OUTCOMES_MAX; i++)
        if (h->outcomes[i].at > n->applied_until && h->outcomes[i].at <= w->now)
            nw[nn++] = &h->outcomes[i];
    qsort(nw, nn, sizeof(nw[0]), cmp_outcome_ptr);
    for (size_t i = 0; i < nn; i++) {
        const struct planner_outcome *o = nw[i];
        n->applied_until = o->at;
        if (o->kind < _CHAN_KIND_MAX && outcome_is_reach(o->kind, o->code))
            n->attempts_since_contact = 0;
        int re = outcome_reaction(o->code);
        if (re < 0 || n->stopped)
            continue;
        const struct strategy_reaction *r = &w->v->on[re];
        const char *on = outcome_code_to_string(o->code);
        switch (r->action) {
        case STRATEGY_ACTION_CONTINUE:
            break;
        case STRATEGY_ACTION_PAUSE: {
            int32_t pd = o->promise_day ? o->promise_day : local_day(w->d->tz, o->at);
            int64_t until = day_start(w->d->tz, pd + r->grace_days + 1);
            if (until > n->paused_until)
                n->paused_until = until;
            break;
        }
        case STRATEGY_ACTION_STOP:
            if (o->code == OUTCOME_PAID && plan_running(w, o->at))
                break; /* an instalment of the plan, not the whole debt */
            n->stopped = true;
            add_transition(w, tier_name(w->v, *cur), NULL, "%s: stop", on);
            break;
        case STRATEGY_ACTION_HOLD:
            n->hold_reason = on;
            break;
        case STRATEGY_ACTION_SUPPRESS_CHANNEL:
            if (o->kind < _CHAN_KIND_MAX) {
                add_effect(w, PLAN_EFFECT_SUPPRESS_CHANNEL, o->kind);
                w->suppressed |= (uint8_t)(1u << o->kind);
            }
            break;
        case STRATEGY_ACTION_SUPPRESS_ALL:
            add_effect(w, PLAN_EFFECT_SUPPRESS_ALL, _CHAN_KIND_MAX);
            w->suppressed |= (1u << CHAN_EMAIL) | (1u << CHAN_SMS) | (1u << CHAN_CHAT) |
                             (1u << CHAN_CALL);
            break;
        case STRATEGY_ACTION_INVALIDATE_ADDRESS:
            if (o->kind < _CHAN_KIND_MAX) {
                add_effect(w, PLAN_EFFECT_INVALIDATE_ADDRESS, o->kind);
                uint8_t k = (uint8_t)(1u << o->kind);
                if (o->kind == CHAN_SMS || o->kind == CHAN_CALL)
                    k |= (1u << CHAN_SMS) | (1u << CHAN_CALL); /* one phone number */
                w->suppressed |= k;
                w->invalid |= k;
            }
            break;
        case STRATEGY_ACTION_ESCALATE: {
            int to = r->to;
            if (to == TIER_NEXT)
                to = *cur >= 0 && (size_t)(*cur + 1) < w->v->ntiers
                         ? *cur + 1
                         : (w->v->no_contact.enabled ? TIER_NO_CONTACT : *cur);
            if (to != *cur && tier_at(w->v, to)) {
                char why[96];
                snprintf(why, sizeof(why), "%s: escalate", on);
                enter_tier(w, cur, to, why);
            }
            break;
        }
        default:
            break;
        }
    }
}

/* The latest promise, and whether it is broken as of the plan day. */
static bool promise_broken(struct work *w, int64_t since)
{
    const struct planner_history *h = w->h;
    const struct planner_outcome *p = NULL;
    const struct planner_plan *pl = h->plan;
    if (pl && pl->n && pl->agreed_at >= since && pl->agreed_at <= w->now) {
        size_t k = prefs_plan_next(pl->inst, pl->n, pl->paid_minor);
        if (k < pl->n && w->day > pl->inst[k].day + w->grace)
            return true;
    }
    for (size_t i = 0; i < h->noutcomes; i++) {
        const struct planner_outcome *o = &h->outcomes[i];
        if (o->code == OUTCOME_PROMISE_TO_PAY && o->promise_day && o->at <= w->now &&
            (!p || o->at > p->at))
            p = o;
    }
    if (!p || p->at < since)
        return false;
    const struct strategy_reaction *r = &w->v->on[STRATEGY_OUTCOME_PROMISE_TO_PAY];
    int grace = r->action == STRATEGY_ACTION_PAUSE ? r->grace_days : 0;
    if (w->day <= p->promise_day + grace)
        return false;
    for (size_t i = 0; i < h->noutcomes; i++)
        if (h->outcomes[i].code == OUTCOME_PAID && h->outcomes[i].at >= p->at &&
            h->outcomes[i].at <= w->now)
            return false;
    return true;
}

/* Exits of the current tier, dpd entries, the no-contact track. */
static void walk_tiers(struct work *w, int *cur)
{
    struct planner_state *n = &w->ret->next;
    const struct variant *v = w->v;
    int dpd = w->ret->dpd;
    for (size_t guard = 0; guard < STRATEGY_TIERS_MAX + 2 && !n->stopped; guard++) {
        const struct tier *t = tier_at(v, *cur);
        if (!t)
            return;
        int32_t entered = local_day(w->d->tz, n->tier_entered_at);
        int days_in = w->day - entered;
        int without = n->attempts_in_tier < n->attempts_since_contact ? n->attempts_in_tier
                                                                      : n->attempts_since_contact;
        char why[96] = "";
        int to = INT_MIN;
        if (*cur == TIER_NO_CONTACT) {
            /* A contact while on the track: back to the ladder. */
            if (n->attempts_since_contact == 0 && n->attempts_in_tier > 0) {
                to = variant_start_tier(v, dpd);
                snprintf(why, sizeof(why), "contact while on the no-contact track");
            }
        } else {
            for (size_t k = 0; k < t->nexits && to == INT_MIN; k++) {
                const struct tier_exit *e = &t->exits[k];
                switch (e->trigger) {
                case TIER_ON_ATTEMPTS:
                    if (without >= e->n) {
                        to = e->to;
                        snprintf(why, sizeof(why), "%d attempts without contact", without);
                    }
                    break;
                case TIER_ON_DAYS:
                    if (days_in >= e->n) {
                        to = e->to;
                        snprintf(why, sizeof(why), "%d days in tier", days_in);
                    }
                    break;
                case TIER_ON_BROKEN_PROMISE:
                    if (promise_broken(w, n->tier_entered_at)) {
                        to = e->to;
                        snprintf(why, sizeof(why), "broken promise");
                    }
                    break;
                case TIER_ON_DPD:
                    if (dpd >= e->n) {
                        to = e->to;
                        snprintf(why, sizeof(why), "dpd %d reached", dpd);
                    }
                    break;
                default:
                    break;
                }
            }
            if (to == INT_MIN) {
                int st = variant_start_tier(v, dpd);
                if (st > *cur && v->tiers[st].entry_dpd != INT32_MIN) {
                    to = st;
                    snprintf(why, sizeof(why), "dpd %d reached enter_at_dpd %d", dpd,
                             v->tiers[st].entry_dpd);
                }
            }
            if (to == INT_MIN && v->no_contact.enabled &&
                n->attempts_since_contact >= v->no_contact.after_attempts) {
                to = TIER_NO_CONTACT;
                snprintf(why, sizeof(why), "%d attempts without contact: no-contact track",
                         n->attempts_since_contact);
            }
        }
        if (to == INT_MIN || to == *cur || !tier_at(v, to))
            return;
        enter_tier(w, cur, to, why);
    }
}

/* ---- interval helpers (minutes of the local day) ---- */

#define RANGES_MAX 32
struct ranges {
    struct time_range r[RANGES_MAX];
    int n;
};

static void ranges_from_day(const struct day_ranges *dr, struct ranges *out)
{
    out->n = 0;
    for (int i = 0; i < dr->n && out->n < RANGES_MAX; i++)
        out->r[out->n++] = dr->r[i];
}

static void ranges_intersect(const struct ranges *a, const struct ranges *b, struct ranges *out)
{
    out->n = 0;
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < b->n; j++) {
            int s = a->r[i].start > b->r[j].start ? a->r[i].start : b->r[j].start;
            int e = a->r[i].end < b->r[j].end ? a->r[i].end : b->r[j].end;
            if (s < e && out->n < RANGES_MAX)
                out->r[out->n++] = (struct time_range){ (int16_t)s, (int16_t)e };
        }
}

/* a minus [s, e) */
static void ranges_cut(struct ranges *a, int s, int e)
{
    struct ranges o = { .n = 0 };
    for (int i = 0; i < a->n; i++) {
        struct time_range x = a->r[i];
        if (e <= x.start || s >= x.end) {
            o.r[o.n++] = x;
            continue;
        }
        if (x.start < s && o.n < RANGES_MAX)
            o.r[o.n++] = (struct time_range){ x.start, (int16_t)s };
        if (e < x.end && o.n < RANGES_MAX)
            o.r[o.n++] = (struct time_range){ (int16_t)e, x.end };
    }
    *a = o;
}

/* The first piece of a inside [hs, he), or false. */
static bool ranges_first_in(const struct ranges *a, int hs, int he, int *ret_s, int *ret_e)
{
    int bs = INT_MAX, be = 0;
    for (int i = 0; i < a->n; i++) {
        int s = a->r[i].start > hs ? a->r[i].start : hs;
        int e = a->r[i].end < he ? a->r[i].end : he;
        if (s < e && s < bs) {
            bs = s;
            be = e;
        }
    }
    if (bs == INT_MAX)
        return false;
    *ret_s = bs;
    *ret_e = be;
    return true;
}

static bool ranges_overlap(const struct ranges *a, int hs, int he)
{
    int s, e;
    return ranges_first_in(a, hs, he, &s, &e);
}

/* ---- counting rules ---- */

/*
 * Would one more matching attempt on the plan day break "at most max in
 * any `days` consecutive local days"?  Checks every window holding the
 * plan day, so pending future attempts count too.
 */
static bool cap_full(struct work *w, int channel, int kind, int max, int days)
{
    if (max <= 0 || days <= 0)
        return false;
    for (int j = 0; j < days; j++) {
        int32_t lo = w->day - days + 1 + j, hi = w->day + j;
        int cnt = 1;
        for (size_t i = 0; i < w->h->nattempts; i++) {
            const struct planner_attempt *a = &w->h->attempts[i];
            if (channel >= 0 && a->channel != channel)
                continue;
            if (kind >= 0 && a->kind != kind)
                continue;
            int32_t ad = att_day(w, i);
            if (ad >= lo && ad <= hi)
                cnt++;
        }
        if (cnt > max)
            return true;
    }
    return false;
}

/* Last local day of a right-party conversation on a call, or INT32_MIN. */
static int32_t last_rpc_day(struct work *w)
{
    int64_t best = INT64_MIN;
    for (size_t i = 0; i < w->h->noutcomes; i++) {
        const struct planner_outcome *o = &w->h->outcomes[i];
        if (o->kind == CHAN_CALL && o->at <= w->now && outcome_is_reach(CHAN_CALL, o->code) &&
            o->at > best)
            best = o->at;
    }
    return best == INT64_MIN ? INT32_MIN : local_day(w->d->tz, best);
}

/* Channel-level rules for tier channel tc of tier t (PLAN_OK: allowed). */
static enum planner_reason channel_rules(struct work *w, const struct tier *t,
                                         const struct tier_channel *tc, int32_t rpc_day)
{
    const struct channel_conf *cc = &w->ctx->cfg->channels[tc->channel];
    int k = cc->kind;
    const struct debtor_rec *rec = w->rec;
    const struct profile *p = w->prof;
    const struct planner_state *n = &w->ret->next;

    if ((unsigned)k >= _CHAN_KIND_MAX || !(w->d->addresses & (1u << k)))
        return PLAN_NO_ADDRESS;
    if ((w->d->suppressed | w->suppressed) & (1u << k))
        return PLAN_SUPPRESSED;
    if (rec->consent[k] == CONSENT_NO)
        return PLAN_CONSENT_REFUSED;
    if (p->consent_required[k] && rec->consent[k] != CONSENT_YES)
        return PLAN_NO_CONSENT;
    if (k == CHAN_SMS && rec->phone_type != PHONE_MOBILE &&
        rec->phone_type != PHONE_FIXED_OR_MOBILE)
        return PLAN_NOT_MOBILE;
    if (p->vulnerable_human_only && (rec->flags & DEBTOR_VULNERABLE) &&
        (AUTOMATED_KINDS & (1u << k)))
        return PLAN_VULNERABLE;
    /* "I'd rather talk to a person": never the bot; no automated message
     * where a person can call instead */
    if (w->d->prefs && w->d->prefs->human == 1 &&
        (k == CHAN_CHAT || ((k == CHAN_EMAIL || k == CHAN_SMS) && w->call_ok)))
        return PLAN_HUMAN_ONLY;
    if (tc->max_attempts > 0) {
        int cnt = 0;
        for (size_t i = 0; i < w->h->nattempts; i++)
            if (w->h->attempts[i].channel == tc->channel &&
                w->h->attempts[i].at >= n->tier_entered_at)
                cnt++;
        if (cnt >= tc->max_attempts)
            return PLAN_CHANNEL_MAX;
    }
    for (size_t c = 0; c < t->ncaps; c++) {
        const struct tier_cap *cap = &t->caps[c];
        if (cap->channel >= 0 && cap->channel != tc->channel)
            continue;
        if (cap->kind >= 0 && cap->kind != k)
            continue;
        if (cap_full(w, cap->channel, cap->kind, cap->max, cap->days))
            return PLAN_TIER_CAP;
    }
    if (k == CHAN_CALL) {
        if (p->call_cap_days > 0 && cap_full(w, -1, CHAN_CALL, p->call_cap, p->call_cap_days))
            return PLAN_CALL_CAP;
        if (p->call_cooldown_days > 0 && rpc_day != INT32_MIN &&
            w->day < rpc_day + p->call_cooldown_days)
            return PLAN_CALL_COOLDOWN;
    }
    if (p->weekly_cap > 0 && cap_full(w, -1, -1, p->weekly_cap, 7))
        return PLAN_WEEKLY_CAP;
    return PLAN_OK;
}

/*
 * Earliest start >= lo and < hi such that every attempt passing the
 * filter is at least gap seconds away; INT64_MAX when none.
 */
static int64_t gap_start(struct work *w, int64_t lo, int64_t hi, int channel, int64_t gap)
{
    if (gap <= 0)
        return lo;
    int64_t t = lo;
    for (bool moved = true; moved && t < hi;) {
        moved = false;
        for (size_t i = 0; i < w->h->nattempts; i++) {
            const struct planner_attempt *a = &w->h->attempts[i];
            if ((channel >= 0 && a->channel != channel) || att_reached_nobody(w, a))
                continue;
            if (t > a->at - gap && t < a->at + gap) {
                t = a->at + gap;
                moved = true;
            }
        }
    }
    return t < hi ? t : INT64_MAX;
}

/* Is the payday window open on the plan day? */
static bool payday_now(struct work *w, int lead)
{
    int pd = w->rec->payday ? w->rec->payday : w->d->payday_inferred;
    if (!pd)
        return false;
    int y;
    unsigned m, dd;
    civil_from_days(w->day, &y, &m, &dd);
    for (int step = 0; step < 2; step++) {
        int dim = days_in_month(y, m);
        int want = pd < 0 || pd > dim ? dim : pd;
        int32_t pday = days_from_civil(y, m, (unsigned)want);
        if (w->day <= pday)
            return w->day >= pday - lead;
        if (++m > 12) {
            m = 1;
            y++;
        }
    }
    return false;
}

/*
 * One local hour's allowed piece, computed once per plan for every
 * channel (for every channel of a kind when the debtor stated times not
 * to be contacted on some kinds only).
 */
struct hour_slot {
    int64_t us, ue;  /* UTC [start, end) of the piece */
    int a;           /* its local start (minutes) */
    uint8_t why;     /* PLAN_OK, or PLAN_DNC/STATED_TIME/LEGAL_HOURS/DST_GAP/TZ2 */
};

/* The stated preferences a candidate matches (PLANNER_BOOST_*). */
static unsigned pref_boost(const struct work *w, const struct planner_cand *c)
{
    const struct prefs *p = w->d->prefs;
    unsigned b = 0;
    if (!p)
        return 0;
    if (p->channel >= 0 && p->channel == c->kind)
        b |= PLANNER_BOOST_CHANNEL;
    if (p->nprefer && prefs_prefers(p, c->how / 24, c->local_min))
        b |= PLANNER_BOOST_HOURS;
    return b;
}

/* ---- ranking ---- */

static int cmp_cand_score(const void *a, const void *b)
{
    const struct planner_cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->tchan - y->tchan;
}

/*
 * The probability with which the policy chose its first candidate, for
 * off-policy evaluation (docs/planner.md, "Logged choice probabilities"):
 * more draws of everything random in the choice — the debtor's position u
 * (its view of the population posterior), its factors and the segment
 * means of the shortlisted slots — each with a generator of its own, the
 * shortlist kept (the candidates outside it score their expected value,
 * so only the best of them can win), until the chosen candidate wins
 * again, at most ctx->redraws times.  The number of draws N is geometric
 * with mean 1 / P(chosen), so N is an unbiased importance weight and
 * p_choice = 1 / N (capped: N = redraws + 1 when it never won).  Returns
 * N.  md->pop is restored.  Never allocates.
 */
static int choice_redraws(const struct planner_ctx *ctx, const struct planner_debtor *d,
                          int32_t plan_day, struct model_debtor *md,
                          const struct planner_cand *cand, size_t nc, size_t sl,
                          const float *nns, double expl)
{
    size_t rest = SIZE_MAX, chosen = 0; /* the best outside the shortlist; the winner */
    for (size_t i = sl; i < nc; i++)
        if (rest == SIZE_MAX || cmp_cand_score(&cand[i], &cand[rest]) < 0)
            rest = i;
    for (size_t i = 1; i < nc; i++)
        if (cmp_cand_score(&cand[i], &cand[chosen]) < 0)
            chosen = i;
    if (!sl)
        return 1; /* greedy: the best expected value always wins */
    double pop0 = md ? md->pop : 1;
    int k;
    for (k = 1; k <= ctx->redraws; k++) {
        struct model_rng rng;
        model_rng_seed(&rng, model_seed(ctx->seed ^ (UINT64_C(0x9e3779b97f4a7c15) *
                                                     (uint64_t)k),
                                        d->id, plan_day));
        struct model_draw dr;
        if (md) {
            md->pop = model_explore_pop(model_rng_uniform(&rng), expl);
            model_draw_init(&dr, md, &rng, 0.1 / expl);
        }
        size_t best = rest;
        float best_s = rest != SIZE_MAX ? cand[rest].score : 0;
        for (size_t i = 0; i < sl && i < PLANNER_CAND_MAX; i++) {
            const struct planner_cand *c = &cand[i];
            double p;
            if (md) {
                p = model_draw_p(&dr, c->kind, c->how);
            } else {
                double kk = nns[i] * (0.1 / expl);
                if (kk < 0.5)
                    kk = 0.5;
                p = model_rng_beta(&rng, c->p_reach * kk, (1 - c->p_reach) * kk);
            }
            float sc = (float)(p * c->value - ctx->cfg->channels[c->channel].cost);
            if (best == SIZE_MAX || sc > best_s ||
                (sc == best_s && (c->at < cand[best].at ||
                                  (c->at == cand[best].at && c->tchan < cand[best].tchan)))) {
                best = i;
                best_s = sc;
            }
        }
        if (best == chosen)
            break;
    }
    if (md)
        md->pop = pop0;
    return k;
}

/* Sort by cmp_cand_score (a total order): insertion sort, n is small. */
static void sort_cands(struct planner_cand *c, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (cmp_cand_score(&c[i - 1], &c[i]) <= 0)
            continue;
        struct planner_cand x = c[i];
        size_t j = i;
        while (j > 0 && cmp_cand_score(&c[j - 1], &x) > 0) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = x;
    }
}

static double pow10i(int e)
{
    double x = 1;
    while (e-- > 0)
        x *= 10;
    return x;
}

/* The payment propensity and the capacity weight (docs/planner.md, "Payment propensity"). */
static void predict_pay(const struct planner_ctx *ctx, const struct planner_debtor *d,
                        const struct planner_history *h, int64_t now, int32_t plan_day,
                        struct planner_result *ret)
{
    struct propensity_features pf;
    struct propensity_pred pp;
    propensity_features_at(d->rec, h->outcomes, h->noutcomes, now, plan_day, &pf);
    propensity_predict(ctx->prop, &pf, &pp);
    ret->p_pay = pp.p;
    int ex = currency_exponent(d->rec->currency);
    double bal = (double)d->rec->balance_minor / pow10i(ex < 0 ? 2 : ex);
    ret->weight = pp.p * (bal > 1 ? bal : 1);
}

static double dflt(double v, double d)
{
    return v > 0 ? v : d;
}

static void describe_strategy(struct work *w, const struct strategy *s, uint64_t key)
{
    struct planner_trace *t = w->trace;
    if (!t)
        return;
    snprintf(t->strategy_why, sizeof(t->strategy_why),
             "'%s' (priority %d): highest priority match for dpd %d, country %s, segment %s",
             s->name, s->priority, w->ret->dpd, w->rec->country ? w->rec->country : "-",
             w->rec->segment ? w->rec->segment : "-");
    snprintf(t->variant_why, sizeof(t->variant_why), "'%s': bucket %d of 100 (weight %d%%)",
             w->ret->variant->name ? w->ret->variant->name : "default", (int)(key % 100),
             w->ret->variant->weight);
}

void planner_model_covariates(const struct debtor_rec *rec, struct model_covariates *ret)
{
    *ret = (struct model_covariates){
        .country = rec->country,
        .time_zone = rec->time_zone,
        .region = rec->region,
        .risk_band = rec->risk_band,
        .tags = rec->tags,
        .age_band = rec->age_band,
        .employment_type = rec->employment_type,
    };
}

int planner_plan(const struct planner_ctx *ctx, const struct planner_debtor *d,
                 const struct planner_state *st, const struct planner_history *h, int64_t now,
                 int32_t plan_day, struct planner_result *ret, struct planner_trace *trace)
{
    static const struct planner_history empty_history;
    static const struct planner_state empty_state;
    if (!ctx || !ctx->cfg || !ctx->set || !d || !d->rec || !d->tz || !ret)
        return -EINVAL;
    if (!h)
        h = &empty_history;
    if (!st)
        st = &empty_state;

    struct work w = {
        .ctx = ctx, .d = d, .rec = d->rec, .h = h, .ret = ret, .trace = trace,
        .now = now, .day = plan_day, .wd = weekday_from_days(plan_day),
    };
    memset(ret, 0, offsetof(struct planner_result, cand));
    ret->ncand = 0;
    ret->next = *st;
    ret->tier_index = -1;
    ret->dpd = plan_day - d->rec->due_date;
    ret->p_pay = -1;
    if (trace) {
        trace->strategy_why[0] = trace->variant_why[0] = trace->tier_why[0] = 0;
        trace->plan_why[0] = 0;
        trace->n = trace->dropped = 0;
    }
    for (size_t i = 0; i < h->nattempts && i < ATT_DAYS_CACHE; i++)
        w.att_day[i] = local_day(d->tz, h->attempts[i].at);

    /* 1. strategy and variant */
    struct planner_state *n = &ret->next;
    const struct strategy *s = strategy_set_match(ctx->set, d->rec, ret->dpd);
    if (!s) {
        if (st->strategy && !st->stopped)
            add_transition(&w, st->tier, NULL, "no strategy matches at dpd %d", ret->dpd);
        n->strategy = n->variant = n->tier = NULL;
        n->stopped = st->strategy != NULL;
        ret->status = PLAN_NO_STRATEGY;
        if (trace)
            snprintf(trace->strategy_why, sizeof(trace->strategy_why),
                     "no strategy matches dpd %d", ret->dpd);
        return 0;
    }
    const char *ext = d->rec->external_id ? d->rec->external_id : "";
    uint64_t key = hash64(ext, strlen(ext), hash64(s->name, strlen(s->name), 0));
    const struct variant *v = strategy_pick_variant(s, key);
    if (!v)
        return -EINVAL;
    w.v = v;
    ret->strategy = s;
    ret->variant = v;
    describe_strategy(&w, s, key);
    if (ctx->prop && ctx->prop_all)
        predict_pay(ctx, d, h, now, plan_day, ret);

    /* 2. place in the ladder */
    int cur = INT_MIN;
    bool same = st->strategy && streq(st->strategy, s->name) &&
                streq_ptr(st->variant, v->name);
    if (same && st->tier) {
        if (streq(st->tier, "no-contact") && v->no_contact.enabled)
            cur = TIER_NO_CONTACT;
        else
            for (size_t i = 0; i < v->ntiers; i++)
                if (streq(v->tiers[i].name, st->tier))
                    cur = (int)i;
    }
    if (cur == INT_MIN) {
        char why[96];
        if (st->strategy && !streq(st->strategy, s->name))
            snprintf(why, sizeof(why), "strategy '%s' -> '%s' at dpd %d", st->strategy,
                     s->name, ret->dpd);
        else if (same || (st->strategy && st->tier))
            snprintf(why, sizeof(why), "tier '%s' not in variant: restart at dpd %d",
                     st->tier ? st->tier : "?", ret->dpd);
        else
            snprintf(why, sizeof(why), "entered strategy '%s' at dpd %d", s->name, ret->dpd);
        n->strategy = s->name;
        n->variant = v->name;
        n->stopped = false;
        n->attempts_in_tier = 0;
        int start = variant_start_tier(v, ret->dpd);
        enter_tier(&w, &cur, start, why);
        if (ret->ntrans)
            ret->trans[ret->ntrans - 1].from_tier = st->tier;
    }
    n->strategy = s->name;
    n->variant = v->name;

    /* 3. reactions (a plan's instalments are promises), 4. exits */
    const struct strategy_reaction *pr = &v->on[STRATEGY_OUTCOME_PROMISE_TO_PAY];
    w.grace = pr->action == STRATEGY_ACTION_PAUSE ? pr->grace_days : 0;
    apply_outcomes(&w, &cur);
    plan_apply(&w);
    walk_tiers(&w, &cur);
    const struct tier *t = n->stopped ? NULL : tier_at(v, cur);
    ret->tier = t;
    ret->tier_index = cur == TIER_NO_CONTACT ? -1 : cur;
    if (trace && t) {
        int32_t entered = local_day(d->tz, n->tier_entered_at);
        char ds[11];
        format_date(entered, ds);
        snprintf(trace->tier_why, sizeof(trace->tier_why),
                 "'%s' since %s (%d days, %d attempts in tier, %d since last contact)",
                 tier_name(v, cur), ds, plan_day - entered, n->attempts_in_tier,
                 n->attempts_since_contact);
    }

    /* 5. debtor gates */
    if (!t) {
        ret->status = PLAN_STOPPED;
        return 0;
    }
    uint32_t hold = d->rec->flags & (DEBTOR_DISPUTE | DEBTOR_CEASE | DEBTOR_BANKRUPT |
                                     DEBTOR_DECEASED);
    if (hold && !n->hold_reason)
        n->hold_reason = (hold & DEBTOR_DISPUTE)    ? "dispute"
                         : (hold & DEBTOR_CEASE)    ? "cease"
                         : (hold & DEBTOR_BANKRUPT) ? "bankrupt"
                                                    : "deceased";
    if (hold || n->hold_reason) {
        ret->status = PLAN_HELD;
        return 0;
    }
    w.prof = d->profile;
    if (!w.prof && d->rec->country)
        w.prof = config_profile_for_country(ctx->cfg, d->rec->country);
    if (!w.prof) {
        ret->status = PLAN_NO_PROFILE;
        return 0;
    }
    int64_t day_end = day_start(d->tz, plan_day + 1);
    if (n->paused_until >= day_end) {
        ret->status = PLAN_PAUSED;
        return 0;
    }
    const struct day_ranges *legal = &w.prof->legal[w.wd];
    if (legal->n == 0) {
        ret->status = PLAN_DAY_CLOSED;
        return 0;
    }
    if (w.prof->no_contact_on_holidays) {
        const struct calendar *cal = d->calendar;
        if (!cal && w.prof->holidays)
            cal = config_calendar(ctx->cfg, w.prof->holidays);
        if (cal && calendar_holiday(cal, plan_day, d->rec->region)) {
            ret->status = PLAN_HOLIDAY;
            return 0;
        }
    }
    if (t->windows[w.wd].n == 0) {
        ret->status = PLAN_WINDOW_CLOSED;
        return 0;
    }
    int today = 0;
    for (size_t i = 0; i < h->nattempts; i++)
        if (att_day(&w, i) == plan_day && !att_reached_nobody(&w, &h->attempts[i]))
            today++;
    if (today >= (ctx->max_per_day > 0 ? ctx->max_per_day : 1)) {
        ret->status = PLAN_DAILY_LIMIT;
        return 0;
    }
    if (t->max_attempts > 0 && n->attempts_in_tier >= t->max_attempts) {
        ret->status = PLAN_TIER_MAX;
        return 0;
    }

    /* 6. allowed local minutes: window n legal - do-not-contact */
    struct ranges win, leg, allowed;
    ranges_from_day(&t->windows[w.wd], &win);
    ranges_from_day(legal, &leg);
    ranges_intersect(&win, &leg, &allowed);
    struct ranges wl = allowed;
    for (int i = 0; i < d->rec->ndnc; i++)
        if (d->rec->dnc[i].weekday_mask & (1u << w.wd))
            ranges_cut(&allowed, d->rec->dnc[i].start, d->rec->dnc[i].end);

    /* 7. candidates */
    struct planner_cand cand[CAND_WORK_MAX];
    size_t nc = 0;
    int32_t rpc_day = last_rpc_day(&w);
    int64_t now_min = now <= 0 ? 0 : ((now + 59) / 60) * 60;
    int64_t tier_gap = (int64_t)t->min_gap_minutes * 60;
    int rot = -1;
    if (cur == TIER_NO_CONTACT && t->nch) {
        int rd = v->no_contact.rotate_days > 0 ? v->no_contact.rotate_days : 1;
        int days_in = plan_day - local_day(d->tz, n->tier_entered_at);
        rot = (days_in / rd) % (int)t->nch;
    }
    int first_ok_tchan = -1;
    enum planner_reason why_none = PLAN_OK;
    const struct prefs *pf = d->prefs;
    if (pf && pf->human == 1)
        for (size_t ci = 0; ci < t->nch && !w.call_ok; ci++) {
            const struct tier_channel *tc = &t->ch[ci];
            w.call_ok = tc->channel >= 0 && (size_t)tc->channel < ctx->cfg->nchannels &&
                        ctx->cfg->channels[tc->channel].kind == CHAN_CALL &&
                        ((int)ci == rot || rot < 0) &&
                        channel_rules(&w, t, tc, rpc_day) == PLAN_OK;
        }
    /*
     * The hours' pieces, computed once per row: row 0 for every channel,
     * or one row per kind when the debtor stated times for some kinds
     * only (then allowed minus those: kallowed).
     */
    bool per_kind = false;
    for (size_t i = 0; pf && i < pf->nforbid; i++)
        if (pf->forbid[i].days & (1u << w.wd))
            per_kind = true;
    struct hour_slot hours[_CHAN_KIND_MAX][24];
    uint32_t hours_done[_CHAN_KIND_MAX] = { 0 };
    struct ranges kallowed[_CHAN_KIND_MAX];
    uint8_t kready = 0;
    uint32_t win_hours = 0; /* local hours the window touches, the same for every channel */
    for (int hr = 0; hr < 24; hr++)
        if (ranges_overlap(&win, hr * 60, hr * 60 + 60))
            win_hours |= 1u << hr;
    for (size_t ci = 0; ci < t->nch; ci++) {
        const struct tier_channel *tc = &t->ch[ci];
        if (tc->channel < 0 || (size_t)tc->channel >= ctx->cfg->nchannels)
            continue;
        const struct channel_conf *cc = &ctx->cfg->channels[tc->channel];
        struct planner_cand base = { .channel = (int16_t)tc->channel, .tchan = (int16_t)ci,
                                     .kind = (uint8_t)cc->kind };
        enum planner_reason cr = (int)ci == rot || rot < 0 ? channel_rules(&w, t, tc, rpc_day)
                                                           : PLAN_ROTATION;
        if (cr == PLAN_OK && first_ok_tchan >= 0 && t->choose == TIER_CHOOSE_ORDER)
            cr = PLAN_NOT_FIRST;
        int64_t ch_gap = (int64_t)(tc->min_gap_minutes > 0 ? tc->min_gap_minutes : 0) * 60;
        bool any = false;
        for (int hr = 0; hr < 24; hr++) {
            int hs = hr * 60, he = hs + 60;
            if (!(win_hours & (1u << hr)))
                continue;
            struct planner_cand c = base;
            c.local_min = (int16_t)hs;
            c.how = (uint8_t)(w.wd * 24 + hr);
            if (cr != PLAN_OK) {
                if (why_none == PLAN_OK)
                    why_none = cr;
                if (trace)
                    tz_local_to_utc(d->tz, plan_day, hs * 60, &c.at);
                trace_add(&w, &c, cr, false);
                continue;
            }
            /* the hour's allowed piece in UTC is the same for every channel (of a kind) */
            int row = per_kind ? c.kind : 0;
            const struct ranges *al = &allowed;
            if (per_kind) {
                if (!(kready & (1u << row))) {
                    kready |= (uint8_t)(1u << row);
                    kallowed[row] = allowed;
                    for (size_t i = 0; i < pf->nforbid; i++)
                        if ((pf->forbid[i].days & (1u << w.wd)) &&
                            (pf->forbid[i].kinds & (1u << row)))
                            ranges_cut(&kallowed[row], pf->forbid[i].start, pf->forbid[i].end);
                }
                al = &kallowed[row];
            }
            struct hour_slot *hsl = &hours[row][hr];
            if (!(hours_done[row] & (1u << hr))) {
                hours_done[row] |= 1u << hr;
                hsl->why = PLAN_OK;
                int a, b;
                if (!ranges_first_in(al, hs, he, &a, &b)) {
                    tz_local_to_utc(d->tz, plan_day, hs * 60, &hsl->us);
                    hsl->a = hs;
                    hsl->why = ranges_overlap(&allowed, hs, he) ? PLAN_STATED_TIME
                               : ranges_overlap(&wl, hs, he)    ? PLAN_DNC
                                                                : PLAN_LEGAL_HOURS;
                } else {
                    hsl->a = a;
                    int64_t us = 0, ue = 0;
                    if (tz_local_range(d->tz, plan_day, a * 60, b * 60, &us, &ue) < 0 ||
                        us >= ue) {
                        hsl->why = PLAN_DST_GAP;
                    } else if (d->tz2) {
                        struct tz_local l2;
                        tz_to_local(d->tz2, us, &l2);
                        const struct day_ranges *lg2 = &w.prof->legal[l2.weekday];
                        int m2 = l2.sec_of_day / 60;
                        hsl->why = PLAN_TZ2;
                        for (int i = 0; i < lg2->n; i++)
                            if (m2 >= lg2->r[i].start && m2 < lg2->r[i].end) {
                                int64_t s2, e2;
                                if (tz_local_range(d->tz2, l2.days, lg2->r[i].start * 60,
                                                   lg2->r[i].end * 60, &s2, &e2) == 0 &&
                                    us >= s2 && us < e2) {
                                    hsl->why = PLAN_OK;
                                    if (e2 < ue)
                                        ue = e2;
                                }
                            }
                    }
                    hsl->us = us;
                    hsl->ue = ue;
                }
            }
            if (hsl->why == PLAN_DNC || hsl->why == PLAN_LEGAL_HOURS ||
                hsl->why == PLAN_STATED_TIME) {
                c.at = hsl->us;
                trace_add(&w, &c, (enum planner_reason)hsl->why, false);
                continue;
            }
            c.local_min = (int16_t)hsl->a;
            c.at = hsl->us;
            if (hsl->why == PLAN_DST_GAP) {
                trace_add(&w, &c, PLAN_DST_GAP, false);
                continue;
            }
            int64_t us = hsl->us, ue = hsl->ue;
            enum planner_reason sr = (enum planner_reason)hsl->why;
            /* Per-slot: now, pause, gaps (the constraint that binds last wins). */
            int64_t lo = us;
            if (sr == PLAN_OK && lo < now_min) {
                lo = now_min;
                if (lo >= ue)
                    sr = PLAN_PAST;
            }
            if (sr == PLAN_OK && lo < n->paused_until) {
                lo = n->paused_until;
                if (lo >= ue)
                    sr = PLAN_PAUSED;
            }
            for (int pass = 0; sr == PLAN_OK && pass < 4; pass++) {
                int64_t x = gap_start(&w, lo, ue, -1, tier_gap);
                if (x == INT64_MAX) {
                    sr = PLAN_GAP_TIER;
                    break;
                }
                int64_t y = gap_start(&w, x, ue, tc->channel, ch_gap);
                if (y == INT64_MAX) {
                    sr = PLAN_GAP_CHANNEL;
                    break;
                }
                if (y == lo)
                    break;
                lo = y;
                if (pass == 3)
                    sr = PLAN_GAP_TIER; /* no fixpoint in a few passes: be safe */
            }
            if (sr != PLAN_OK) {
                if (why_none == PLAN_OK)
                    why_none = sr;
                trace_add(&w, &c, sr, false);
                continue;
            }
            if (lo != us) {
                struct tz_local l;
                tz_to_local(d->tz, lo, &l);
                c.local_min = (int16_t)(l.sec_of_day / 60);
            }
            c.at = lo;
            c.until = ue;
            if (nc < CAND_WORK_MAX)
                cand[nc++] = c;
            any = true;
        }
        if (any && first_ok_tchan < 0)
            first_ok_tchan = (int)ci;
    }
    if (!nc) {
        /* the first rejection in pipeline order */
        ret->status = why_none != PLAN_OK ? why_none : PLAN_WINDOW_CLOSED;
        return 0;
    }

    /* 8. estimates and values */
    struct model_debtor md;
    struct model_rng rng;
    model_rng_seed(&rng, model_seed(ctx->seed, d->id, plan_day));
    if (ctx->model) {
        struct model_covariates cov;
        struct model_levels lv;
        planner_model_covariates(d->rec, &cov);
        model_levels_find(ctx->model, &cov, &lv);
        model_debtor_prepare_levels(ctx->model, d->segment, &lv, d->cells, d->ncells, &md);
        /* the debtor's view of the population posterior: its position u (model.h) */
        if (v->params.exploration > 0)
            model_debtor_explore(&md, model_explore_pop(model_rng_uniform(&rng),
                                                        v->params.exploration));
    }
    double mult_pay = t->asks_payment && payday_now(&w, v->params.payday_lead_days)
                          ? dflt(ctx->payday_boost, 1.3)
                          : 1.0;
    double expl = v->params.exploration;
    for (size_t i = 0; i < nc; i++) {
        struct planner_cand *c = &cand[i];
        const struct tier_channel *tc = &t->ch[c->tchan];
        struct model_estimate est;
        if (ctx->model) {
            model_estimate(&md, c->kind, c->how, &est);
        } else {
            est.mean = model_builtin_prior(c->kind, c->how);
            est.n = 10;
        }
        double val = tc->value * mult_pay;
        int human = pf && pf->human >= 0 ? pf->human : d->rec->prefers_human;
        if (human == 1) {
            if (c->kind == CHAN_CHAT)
                val *= dflt(ctx->prefers_human_bot, 0.5);
            else if (c->kind == CHAN_CALL)
                val *= dflt(ctx->prefers_human_call, 1.2);
        }
        /* a stated preference outweighs the imported one (strong priors) */
        unsigned boost = pref_boost(&w, c);
        if (boost & PLANNER_BOOST_CHANNEL)
            val *= dflt(ctx->stated_channel, 1.5);
        else if ((!pf || pf->channel < 0) && d->rec->preferred_channel == c->kind)
            val *= dflt(ctx->preferred_channel, 1.2);
        if (boost & PLANNER_BOOST_HOURS)
            val *= dflt(ctx->stated_hours, 1.5);
        double cost = ctx->cfg->channels[c->channel].cost;
        c->p_reach = (float)est.mean;
        c->p_sample = (float)est.mean;
        c->value = (float)val;
        c->ev = (float)(est.mean * val - cost);
        c->p_choice = -1;
        /* optimistic key for the shortlist: mean + 2 sd */
        double sd = sqrt(est.mean * (1 - est.mean) / (est.n + 1));
        c->score = expl > 0 ? (float)((est.mean + 2 * sd) * val - cost) : c->ev;
        /* reuse p_sample to carry n until sampling */
        c->p_sample = (float)est.n;
    }
    /* 9. Thompson sampling on the shortlist (choose: order kept one channel above) */
    size_t sl = (size_t)(ctx->shortlist > 0 ? ctx->shortlist : 4);
    if (sl > nc)
        sl = nc;
    sort_cands(cand, nc);
    /* one joint draw of the debtor's factors (model.h), tempered by 0.1/e */
    struct model_draw dr;
    if (ctx->model && expl > 0)
        model_draw_init(&dr, &md, &rng, 0.1 / expl);
    float nns[PLANNER_CAND_MAX];
    for (size_t i = 0; i < nc; i++) {
        struct planner_cand *c = &cand[i];
        double nn = c->p_sample;
        double cost = ctx->cfg->channels[c->channel].cost;
        if (i < PLANNER_CAND_MAX)
            nns[i] = (float)nn;
        c->p_sample = c->p_reach;
        if (expl > 0 && i < sl) {
            if (ctx->model) {
                c->p_sample = (float)model_draw_p(&dr, c->kind, c->how);
            } else {
                double k = nn * (0.1 / expl);
                if (k < 0.5)
                    k = 0.5;
                c->p_sample = (float)model_rng_beta(&rng, c->p_reach * k, (1 - c->p_reach) * k);
            }
            c->score = (float)(c->p_sample * c->value - cost);
        } else {
            c->score = c->ev;
        }
    }
    int draws = ctx->redraws > 0 ? choice_redraws(ctx, d, plan_day, ctx->model ? &md : NULL,
                                                  cand, nc, expl > 0 ? sl : 0, nns, expl)
                                 : 0;
    sort_cands(cand, nc); /* nearly sorted already: insertion sort is O(n) here */
    if (draws)
        cand[0].p_choice = 1.0f / (float)draws;
    ret->ncand = nc < PLANNER_CAND_MAX ? nc : PLANNER_CAND_MAX;
    memcpy(ret->cand, cand, ret->ncand * sizeof(cand[0]));
    /* a dry run needs the propensity where it orders: a first choice with capacity */
    if (ctx->prop && !ctx->prop_all && ctx->cfg->channels[cand[0].channel].hourly_capacity > 0)
        predict_pay(ctx, d, h, now, plan_day, ret);
    for (size_t i = 0; i < nc; i++)
        trace_add(&w, &cand[i], i < ret->ncand ? PLAN_OK : PLAN_RANK, true);
    ret->status = PLAN_OK;
    return 0;
}

/* ---- capacity ---- */

struct heap_item {
    float score;
    uint32_t slate;
    uint32_t pos;
};

static bool heap_before(const struct heap_item *a, const struct heap_item *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return a->slate < b->slate;
}

static void heap_push(struct heap_item *h, size_t *n, struct heap_item x)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_before(&x, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static struct heap_item heap_pop(struct heap_item *h, size_t *n)
{
    struct heap_item top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, b = i;
        const struct heap_item *bv = &x;
        if (l < *n && heap_before(&h[l], bv)) {
            b = l;
            bv = &h[l];
        }
        if (r < *n && heap_before(&h[r], bv))
            b = r;
        if (b == i)
            break;
        h[i] = h[b];
        i = b;
    }
    if (*n)
        h[i] = x;
    return top;
}

/* A candidate's key across debtors: its score times the debtor's weight. */
static float slate_key(const struct planner_slate *sl, size_t pos)
{
    float s = sl->cand[pos].score;
    return sl->weight > 0 ? s * sl->weight : s;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int64_t planner_assign(const struct config *cfg, const struct planner_slate *slates, size_t n,
                       int32_t *ret_choice)
{
    return planner_assign_with(cfg, slates, n, NULL, 0, ret_choice);
}

int64_t planner_assign_with(const struct config *cfg, const struct planner_slate *slates,
                            size_t n, const struct planner_taken *taken, size_t ntaken,
                            int32_t *ret_choice)
{
    int64_t hmin = INT64_MAX, hmax = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        ret_choice[i] = -1;
        for (size_t j = 0; j < slates[i].ncand; j++) {
            int64_t hr = floor_div(slates[i].cand[j].at, 3600);
            if (hr < hmin)
                hmin = hr;
            if (hr > hmax)
                hmax = hr;
        }
    }
    if (hmin > hmax)
        return 0;
    size_t span = (size_t)(hmax - hmin + 1), nch = cfg->nchannels ? cfg->nchannels : 1;
    if (span > 24 * 366)
        return -E2BIG;
    int32_t *used = calloc(span * nch, sizeof(int32_t));
    struct heap_item *heap = malloc((n ? n : 1) * sizeof(*heap));
    if (!used || !heap) {
        free(used);
        free(heap);
        return -ENOMEM;
    }
    /* capacity already spent by contacts planned earlier (a re-run) */
    for (size_t i = 0; i < ntaken; i++) {
        int64_t hr = floor_div(taken[i].at, 3600);
        if (taken[i].channel >= 0 && (size_t)taken[i].channel < cfg->nchannels && hr >= hmin &&
            hr <= hmax)
            used[(size_t)taken[i].channel * span + (size_t)(hr - hmin)]++;
    }
    size_t hn = 0;
    int64_t assigned = 0;
    for (size_t i = 0; i < n; i++) {
        if (!slates[i].ncand)
            continue;
        /* A first candidate on an unlimited channel is taken whenever it is
         * served and takes nothing from anyone: no need to queue it. */
        int ch = slates[i].cand[0].channel;
        if (ch >= 0 && (size_t)ch < cfg->nchannels && cfg->channels[ch].hourly_capacity <= 0) {
            ret_choice[i] = 0;
            assigned++;
            continue;
        }
        heap_push(heap, &hn, (struct heap_item){ slate_key(&slates[i], 0), (uint32_t)i, 0 });
    }
    while (hn) {
        struct heap_item it = heap_pop(heap, &hn);
        const struct planner_cand *c = &slates[it.slate].cand[it.pos];
        bool ok = c->channel >= 0 && (size_t)c->channel < cfg->nchannels;
        if (ok) {
            int cap = cfg->channels[c->channel].hourly_capacity;
            size_t o = (size_t)c->channel * span + (size_t)(floor_div(c->at, 3600) - hmin);
            if (cap <= 0 || used[o] < cap) {
                used[o]++;
                ret_choice[it.slate] = (int32_t)it.pos;
                assigned++;
                continue;
            }
        }
        /*
         * The debtor's next candidate.  Decided now, with the same result
         * as serving it later: one on an unknown channel or a channel-hour
         * already full would be refused whenever served (capacity only
         * fills up), one on an unlimited channel would be taken whenever
         * served and takes no room from anyone.  Only the rest queue.
         */
        const struct planner_slate *sl = &slates[it.slate];
        for (it.pos++; it.pos < sl->ncand; it.pos++) {
            const struct planner_cand *nx = &sl->cand[it.pos];
            if (nx->channel < 0 || (size_t)nx->channel >= cfg->nchannels)
                continue;
            int cap = cfg->channels[nx->channel].hourly_capacity;
            if (cap <= 0) {
                ret_choice[it.slate] = (int32_t)it.pos;
                assigned++;
                break;
            }
            if (used[(size_t)nx->channel * span + (size_t)(floor_div(nx->at, 3600) - hmin)] >= cap)
                continue;
            it.score = slate_key(sl, it.pos);
            heap_push(heap, &hn, it);
            break;
        }
    }
    free(used);
    free(heap);
    return assigned;
}

int planner_infer_payday(const struct planner_outcome *o, size_t n, const struct tz *z,
                         int64_t now)
{
    struct pay {
        int64_t at;
        int month, dom;
        bool last;
    } p[PLANNER_PAYDAY_MAX];
    size_t np = 0;
    for (size_t i = 0; i < n && np < PLANNER_PAYDAY_MAX; i++) {
        if (o[i].code != OUTCOME_PAID || o[i].at > now)
            continue;
        struct tz_local l;
        tz_to_local(z, o[i].at, &l);
        int y;
        unsigned m, d;
        civil_from_days(l.days, &y, &m, &d);
        p[np++] = (struct pay){ o[i].at, y * 12 + (int)m, (int)d,
                                (int)d == days_in_month(y, m) };
    }
    int best = 0;
    int64_t best_at = INT64_MIN;
    for (size_t i = 0; i < np; i++)
        for (size_t j = i + 1; j < np; j++) {
            if (p[i].month == p[j].month)
                continue;
            int diff = p[i].dom - p[j].dom;
            bool ends = p[i].last && p[j].last;
            if (!ends && (diff > PLANNER_PAYDAY_SPREAD || diff < -PLANNER_PAYDAY_SPREAD))
                continue;
            int64_t at = p[i].at > p[j].at ? p[i].at : p[j].at;
            if (at <= best_at)
                continue;
            best_at = at;
            best = ends ? -1 : p[i].dom < p[j].dom ? p[i].dom : p[j].dom;
        }
    return best;
}
