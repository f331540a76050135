/*
 * strategy.c - load, resolve and validate contact strategies and message
 * templates (the language is documented once, in docs/strategies.md).
 *
 * Owns: the strategy_set and everything in it (the YAML documents its
 * strings borrow from, the variants, their tier ladders, the templates).
 * Never: prints, logs, reads the clock, or touches libyaml directly (it
 * walks ynode trees).  Every problem in user input becomes a diagnostic
 * and loading carries on, so `cadenza validate` shows all of them.
 *
 * Invariants:
 *  1. A set is handed out only when the diagnostics hold no error; then
 *     every channel index is < config->nchannels, every tier index in a
 *     tier_exit or reaction is inside its variant's ladder (or is
 *     TIER_NO_CONTACT with the track enabled), every tier is reachable,
 *     and the weights of a strategy's variants add up to 100.
 *  2. Every contact window lies inside the legal hours of every profile
 *     the strategy can apply to (its countries' profiles, or all of them).
 *  3. Two strategies of equal priority never match the same debtor.
 *  4. Each diagnostic is reported once: a variant that inherits the
 *     strategy's ladder re-checks it but does not repeat its messages.
 *  5. Every template a tier names exists and passes template_check_use()
 *     for its channel and the profiles the strategy can apply to.
 *
 * The tier state machine a variant describes (planner.c walks it):
 *
 *     start ──► tier[start_tier(dpd)] ──exit rule──► tier[to] ──► ...
 *        any tier ──no contact after N attempts──► NO-CONTACT track
 *        any state ──promise──► PAUSED ──date+grace──► same tier
 *                  ──paid──► STOPPED   ──dispute──► HELD
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "debtor.h"
#include "strategy.h"

static const char *const weekday_names[7] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };

static const char *const outcome_names[_STRATEGY_OUTCOME_MAX] = {
    [STRATEGY_OUTCOME_PROMISE_TO_PAY] = "promise_to_pay",
    [STRATEGY_OUTCOME_PAID] = "paid",
    [STRATEGY_OUTCOME_DISPUTE] = "dispute",
    [STRATEGY_OUTCOME_OPT_OUT] = "opt_out",
    [STRATEGY_OUTCOME_WRONG_NUMBER] = "wrong_number",
    [STRATEGY_OUTCOME_BOUNCED] = "bounced",
    [STRATEGY_OUTCOME_REFUSED] = "refused",
};

static const char *const action_names[_STRATEGY_ACTION_MAX] = {
    [STRATEGY_ACTION_CONTINUE] = "continue",
    [STRATEGY_ACTION_PAUSE] = "pause",
    [STRATEGY_ACTION_STOP] = "stop",
    [STRATEGY_ACTION_HOLD] = "hold",
    [STRATEGY_ACTION_SUPPRESS_CHANNEL] = "suppress_channel",
    [STRATEGY_ACTION_SUPPRESS_ALL] = "suppress_all",
    [STRATEGY_ACTION_INVALIDATE_ADDRESS] = "invalidate_address",
    [STRATEGY_ACTION_ESCALATE] = "escalate",
};

static const char *const trigger_names[_TIER_TRIGGER_MAX] = {
    [TIER_ON_ATTEMPTS] = "attempts_without_contact",
    [TIER_ON_DAYS] = "days_in_tier",
    [TIER_ON_BROKEN_PROMISE] = "broken_promise",
    [TIER_ON_DPD] = "dpd",
};

/*
 * Outcome reactions: the default and the actions a strategy may choose.
 * Compliance outcomes (paid, dispute, opt-out, wrong number) allow only
 * safe actions: a strategy can never keep chasing a disputed debt.
 */
static const struct {
    enum strategy_action def;
    uint32_t allowed; /* bit per enum strategy_action */
} outcome_rules[_STRATEGY_OUTCOME_MAX] = {
    [STRATEGY_OUTCOME_PROMISE_TO_PAY] = { STRATEGY_ACTION_PAUSE, 1u << STRATEGY_ACTION_PAUSE },
    [STRATEGY_OUTCOME_PAID] = { STRATEGY_ACTION_STOP, 1u << STRATEGY_ACTION_STOP },
    [STRATEGY_OUTCOME_DISPUTE] = { STRATEGY_ACTION_HOLD, 1u << STRATEGY_ACTION_HOLD },
    [STRATEGY_OUTCOME_OPT_OUT] = { STRATEGY_ACTION_SUPPRESS_CHANNEL,
                                   1u << STRATEGY_ACTION_SUPPRESS_CHANNEL |
                                           1u << STRATEGY_ACTION_SUPPRESS_ALL },
    [STRATEGY_OUTCOME_WRONG_NUMBER] = { STRATEGY_ACTION_INVALIDATE_ADDRESS,
                                        1u << STRATEGY_ACTION_INVALIDATE_ADDRESS },
    [STRATEGY_OUTCOME_BOUNCED] = { STRATEGY_ACTION_INVALIDATE_ADDRESS,
                                   1u << STRATEGY_ACTION_INVALIDATE_ADDRESS |
                                           1u << STRATEGY_ACTION_CONTINUE },
    [STRATEGY_OUTCOME_REFUSED] = { STRATEGY_ACTION_CONTINUE,
                                   1u << STRATEGY_ACTION_CONTINUE |
                                           1u << STRATEGY_ACTION_ESCALATE },
};

#define DEFAULT_PTP_GRACE_DAYS 2
#define DEFAULT_MIN_GAP_HOURS 24
#define DEFAULT_ROTATE_DAYS 7
#define DEFAULT_EXPLORATION 0.1
#define DEFAULT_PAYDAY_LEAD_DAYS 1

static const struct {
    const char *name;
    uint32_t bit;
} flag_names[] = {
    { "hardship", DEBTOR_HARDSHIP }, { "dispute", DEBTOR_DISPUTE },
    { "cease", DEBTOR_CEASE },       { "deceased", DEBTOR_DECEASED },
    { "bankrupt", DEBTOR_BANKRUPT }, { "vulnerable", DEBTOR_VULNERABLE },
};

const char *strategy_outcome_to_string(enum strategy_outcome o)
{
    return o >= 0 && o < _STRATEGY_OUTCOME_MAX ? outcome_names[o] : NULL;
}

enum strategy_outcome strategy_outcome_from_string(const char *s)
{
    for (int i = 0; i < _STRATEGY_OUTCOME_MAX; i++)
        if (streq(outcome_names[i], s))
            return (enum strategy_outcome)i;
    return _STRATEGY_OUTCOME_INVALID;
}

const char *strategy_action_to_string(enum strategy_action a)
{
    return a >= 0 && a < _STRATEGY_ACTION_MAX ? action_names[a] : NULL;
}

enum strategy_action strategy_action_from_string(const char *s)
{
    for (int i = 0; i < _STRATEGY_ACTION_MAX; i++)
        if (streq(action_names[i], s))
            return (enum strategy_action)i;
    return _STRATEGY_ACTION_INVALID;
}

const char *tier_trigger_to_string(enum tier_trigger t)
{
    return t >= 0 && t < _TIER_TRIGGER_MAX ? trigger_names[t] : NULL;
}

/* ------------------------------------------------------------------ */
/* Diagnostics                                                          */

struct loader {
    const struct config *cfg;
    struct diags *d;
    struct strategy_set *set;
    bool check_templates;
    /* The profiles the strategy being parsed can apply to. */
    const struct profile **profiles;
    size_t nprofiles;
    /* Name nodes of the loaded strategies (parallel to set->v). */
    const struct ynode **name_nodes;
    size_t errors_before; /* d->nerrors when loading started */
    bool oom;
};

/* Add a diagnostic at n unless the very same one is already there (invariant 4). */
static int vreport(struct loader *l, enum diag_severity sev, const char *file, int line,
                   int col, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) {
        l->oom = true;
        return -EINVAL;
    }
    for (size_t i = 0; i < l->d->n; i++) {
        const struct diag *g = &l->d->v[i];
        if (g->severity == sev && g->line == line && g->col == col &&
            streq_ptr(g->file, file) && streq(g->msg, msg)) {
            free(msg);
            return -EINVAL;
        }
    }
    if (diags_add(l->d, sev, file, line, col, "%s", msg) < 0)
        l->oom = true;
    free(msg);
    return -EINVAL;
}

_printf_(3, 4) static int err(struct loader *l, const struct ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(l, DIAG_ERROR, n->file, n->line, n->col, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Run a ynode reader into a private list, then copy with dedupe (invariant 4). */
static int via(struct loader *l, int (*fn)(struct diags *, const void *), const void *arg)
{
    struct diags tmp = DIAGS_INIT;
    int r = fn(&tmp, arg);
    for (size_t i = 0; i < tmp.n; i++) {
        const struct diag *g = &tmp.v[i];
        struct diags *d = l->d;
        bool dup = false;
        for (size_t j = 0; j < d->n && !dup; j++)
            dup = d->v[j].severity == g->severity && d->v[j].line == g->line &&
                  d->v[j].col == g->col && streq_ptr(d->v[j].file, g->file) &&
                  streq(d->v[j].msg, g->msg);
        if (!dup && diags_add(d, g->severity, g->file, g->line, g->col, "%s", g->msg) < 0)
            l->oom = true;
    }
    diags_release(&tmp);
    return r;
}

struct int_req {
    const struct ynode *n;
    const char *what;
    int64_t min, max, *ret;
};
static int int_fn(struct diags *d, const void *a)
{
    const struct int_req *q = a;
    return ynode_int(q->n, q->what, q->min, q->max, q->ret, d);
}

struct dbl_req {
    const struct ynode *n;
    const char *what;
    double min, max, *ret;
};
static int dbl_fn(struct diags *d, const void *a)
{
    const struct dbl_req *q = a;
    return ynode_double(q->n, q->what, q->min, q->max, q->ret, d);
}

struct gen_req {
    const struct ynode *n;
    const char *what;
    bool *bret;
    const char **sret;
    enum ynode_type type;
    const char *const *allowed;
};
static int bool_fn(struct diags *d, const void *a)
{
    const struct gen_req *q = a;
    return ynode_bool(q->n, q->what, q->bret, d);
}
static int str_fn(struct diags *d, const void *a)
{
    const struct gen_req *q = a;
    return ynode_str(q->n, q->what, q->sret, d);
}
static int expect_fn(struct diags *d, const void *a)
{
    const struct gen_req *q = a;
    return ynode_expect(q->n, q->type, q->what, d);
}
static int keys_fn(struct diags *d, const void *a)
{
    const struct gen_req *q = a;
    return ynode_check_keys(q->n, q->allowed, q->what, d);
}

static int get_int(struct loader *l, const struct ynode *n, const char *what, int64_t min,
                   int64_t max, int *ret)
{
    int64_t v;
    struct int_req q = { n, what, min, max, &v };
    int r = via(l, int_fn, &q);
    if (r < 0)
        return r;
    *ret = (int)v;
    return 0;
}

static int get_double(struct loader *l, const struct ynode *n, const char *what, double min,
                      double max, double *ret)
{
    struct dbl_req q = { n, what, min, max, ret };
    return via(l, dbl_fn, &q);
}

static int get_bool(struct loader *l, const struct ynode *n, const char *what, bool *ret)
{
    struct gen_req q = { .n = n, .what = what, .bret = ret };
    return via(l, bool_fn, &q);
}

static int get_str(struct loader *l, const struct ynode *n, const char *what, const char **ret)
{
    struct gen_req q = { .n = n, .what = what, .sret = ret };
    return via(l, str_fn, &q);
}

static int expect(struct loader *l, const struct ynode *n, enum ynode_type t, const char *what)
{
    struct gen_req q = { .n = n, .what = what, .type = t };
    return via(l, expect_fn, &q);
}

static int check_keys(struct loader *l, const struct ynode *map, const char *const *allowed,
                      const char *where)
{
    struct gen_req q = { .n = map, .what = where, .allowed = allowed };
    return via(l, keys_fn, &q);
}

/* Look up a key and report it missing (at the map) when required. */
static const struct ynode *need(struct loader *l, const struct ynode *map, const char *key,
                                const char *where)
{
    const struct ynode *n = ynode_get(map, key);
    if (!n)
        err(l, map, "missing key '%s' in %s", key, where);
    return n;
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

static int get_name(struct loader *l, const struct ynode *n, const char *what, const char **ret)
{
    const char *s;
    int r = get_str(l, n, what, &s);
    if (r < 0)
        return r;
    if (!valid_name(s))
        return err(l, n, "invalid %s '%s': use 1 to 64 letters, digits, '-', '_' or '.'", what, s);
    *ret = s;
    return 0;
}

/* A sequence of strings (a single scalar is accepted as a list of one). */
static int get_str_list(struct loader *l, const struct ynode *n, const char *what,
                        const char ***ret, size_t *ret_n)
{
    if (n->type == YNODE_SCALAR) {
        const char **v = calloc(1, sizeof(*v));
        if (!v) {
            l->oom = true;
            return -ENOMEM;
        }
        v[0] = n->str;
        *ret = v;
        *ret_n = 1;
        return 0;
    }
    int r = expect(l, n, YNODE_SEQ, what);
    if (r < 0)
        return r;
    const char **v = calloc(n->n ? n->n : 1, sizeof(*v));
    if (!v) {
        l->oom = true;
        return -ENOMEM;
    }
    size_t k = 0;
    bool bad = false;
    for (size_t i = 0; i < n->n; i++) {
        const char *s;
        if (get_str(l, n->items[i], what, &s) < 0) {
            bad = true;
            continue;
        }
        v[k++] = s;
    }
    if (bad) {
        free(v);
        return -EINVAL;
    }
    *ret = v;
    *ret_n = k;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Channels, templates, windows                                         */

static int resolve_channel(struct loader *l, const struct ynode *n, int *ret)
{
    const char *name;
    int r = get_str(l, n, "channel", &name);
    if (r < 0)
        return r;
    const struct config *c = l->cfg;
    for (size_t i = 0; i < c->nchannels; i++)
        if (streq(c->channels[i].name, name)) {
            *ret = (int)i;
            return 0;
        }
    const char **cands = calloc(c->nchannels ? c->nchannels : 1, sizeof(*cands));
    const char *near = NULL;
    if (cands) {
        for (size_t i = 0; i < c->nchannels; i++)
            cands[i] = c->channels[i].name;
        near = closest_word(name, cands, c->nchannels);
    }
    if (near)
        err(l, n, "unknown channel '%s'; did you mean '%s'?", name, near);
    else
        err(l, n, "unknown channel '%s'", name);
    free(cands);
    return -EINVAL;
}

struct use_req {
    const struct strategy_set *set;
    const char *name;
    const struct channel_conf *ch;
    const struct profile *const *profiles;
    size_t nprofiles;
    const struct link_conf *links;
    const struct ynode *at;
};
static int use_fn(struct diags *d, const void *a)
{
    const struct use_req *q = a;
    return template_check_use(q->set->templates, q->name, q->ch, q->profiles, q->nprofiles,
                              q->links, q->at, d);
}

/* A tier's template: it exists, and fits its channel and profiles (invariant 5). */
static int resolve_template(struct loader *l, const struct ynode *n, int channel)
{
    const struct template_set *ts = l->set->templates;
    if (!l->check_templates)
        return 0;
    if (!template_set_has(ts, n->str)) {
        if (template_set_broken(ts, n->str))
            return -EINVAL; /* its own problems are reported at the template */
        size_t nn;
        const char *const *names = template_set_names(ts, &nn);
        const char *near = names ? closest_word(n->str, names, nn) : NULL;
        if (near)
            return err(l, n, "unknown template '%s'; did you mean '%s'?", n->str, near);
        return err(l, n, "unknown template '%s'", n->str);
    }
    if (channel < 0)
        return 0;
    const struct use_req q = { l->set, n->str, &l->cfg->channels[channel],
                               (const struct profile *const *)l->profiles, l->nprofiles,
                               l->cfg->links, n };
    int r = via(l, use_fn, &q);
    if (r == -ENOMEM)
        l->oom = true;
    return r < 0 ? -EINVAL : 0;
}

/* "mon", "mon-fri", "sat, sun", "daily" -> bit mask (bit 0 = Monday). */
static int parse_days(struct loader *l, const struct ynode *key, unsigned *ret)
{
    const char *s = key->str;
    unsigned mask = 0;
    char buf[64];

    if (streq(s, "daily")) {
        *ret = 0x7f;
        return 0;
    }
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        if (!*s)
            break;
        size_t k = strcspn(s, ",");
        while (k > 0 && s[k - 1] == ' ')
            k--;
        if (k >= sizeof(buf))
            k = sizeof(buf) - 1;
        memcpy(buf, s, k);
        buf[k] = 0;
        s += k;
        char *dash = strchr(buf, '-');
        char *parts[2] = { buf, dash ? dash + 1 : NULL };
        if (dash)
            *dash = 0;
        int idx[2] = { -1, -1 };
        for (int p = 0; p < (dash ? 2 : 1); p++) {
            for (int w = 0; w < 7; w++)
                if (streq(parts[p], weekday_names[w]))
                    idx[p] = w;
            if (idx[p] < 0) {
                const char *near = closest_word(parts[p], weekday_names, 7);
                if (near)
                    return err(l, key, "unknown day '%s' in 'windows'; did you mean '%s'?",
                               parts[p], near);
                return err(l, key,
                           "unknown day '%s' in 'windows'; use mon..sun, 'mon-fri' or 'daily'",
                           parts[p]);
            }
        }
        if (!dash)
            idx[1] = idx[0];
        if (idx[1] < idx[0])
            return err(l, key, "day range '%s-%s' runs backwards", parts[0], parts[1]);
        for (int w = idx[0]; w <= idx[1]; w++)
            mask |= 1u << w;
    }
    if (!mask)
        return err(l, key, "empty day list in 'windows'");
    *ret = mask;
    return 0;
}

/* Is [start, end) covered by the union of the legal ranges? */
static bool inside(const struct day_ranges *legal, const struct time_range *r)
{
    int pos = r->start;
    while (pos < r->end) {
        bool found = false;
        for (size_t i = 0; i < legal->n; i++)
            if (legal->r[i].start <= pos && pos < legal->r[i].end) {
                pos = legal->r[i].end;
                found = true;
                break;
            }
        if (!found)
            return false;
    }
    return true;
}

/* Invariant 2: one windows entry (a day set and its ranges) against every profile. */
static void check_legal(struct loader *l, const struct ynode *val, unsigned mask,
                        const struct day_ranges *dr)
{
    for (size_t p = 0; p < l->nprofiles; p++) {
        const struct profile *pr = l->profiles[p];
        for (int w = 0; w < 7; w++) {
            if (!(mask & (1u << w)))
                continue;
            bool ok = true;
            for (size_t i = 0; i < dr->n && ok; i++)
                ok = inside(&pr->legal[w], &dr->r[i]);
            if (ok)
                continue;
            char have[160], legal[160];
            day_ranges_format(dr, have, sizeof(have));
            day_ranges_format(&pr->legal[w], legal, sizeof(legal));
            err(l, val, "window '%s' on '%s' is outside the legal hours of profile '%s' (%s: %s)",
                have, weekday_names[w], pr->name, weekday_names[w], legal);
            break;
        }
    }
}

static int parse_windows(struct loader *l, const struct ynode *n, struct day_ranges out[7])
{
    int r = expect(l, n, YNODE_MAP, "windows");
    if (r < 0)
        return r;
    unsigned seen = 0;
    bool bad = false;
    memset(out, 0, 7 * sizeof(out[0]));
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *key = n->keys[i], *val = n->items[i];
        unsigned mask = 0;
        if (parse_days(l, key, &mask) < 0) {
            bad = true;
            continue;
        }
        if (mask & seen) {
            for (int w = 0; w < 7; w++)
                if (mask & seen & (1u << w)) {
                    err(l, key, "day '%s' appears twice in 'windows'", weekday_names[w]);
                    break;
                }
            bad = true;
            continue;
        }
        seen |= mask;
        if (val->type == YNODE_NULL || (val->type == YNODE_SCALAR && val->len == 0)) {
            err(l, val, "empty window for '%s'; write 'closed' for no contact", key->str);
            bad = true;
            continue;
        }
        const char *s;
        if (get_str(l, val, "windows", &s) < 0) {
            bad = true;
            continue;
        }
        struct day_ranges dr = { 0 };
        if (!streq(s, "closed")) {
            char e[160] = "";
            if (day_ranges_parse(s, &dr, e, sizeof(e)) < 0) {
                err(l, val, "malformed window '%s' for '%s': %s", s, key->str, e);
                bad = true;
                continue;
            }
            if (dr.n == 0) {
                err(l, val, "empty window for '%s'; write 'closed' for no contact", key->str);
                bad = true;
                continue;
            }
            check_legal(l, val, mask, &dr);
        }
        for (int w = 0; w < 7; w++)
            if (mask & (1u << w))
                out[w] = dr;
    }
    if (bad)
        return -EINVAL;
    bool any = false;
    for (int w = 0; w < 7; w++)
        any = any || out[w].n > 0;
    if (!any)
        return err(l, n, "windows are closed on every day");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tiers                                                                */

/* Defaults inherited by the tiers of one ladder. */
struct tier_defaults {
    const struct ynode *windows; /* strategy-level windows node, or NULL */
    struct day_ranges w[7];
    bool windows_ok;
    struct tier_offers offers;   /* the strategy's `offers` (zero: none) */
};

/*
 * An `offers` mapping onto o: each key given replaces o's value, the
 * others are kept (a tier's offers refine the strategy's).
 */
static int parse_offers(struct loader *l, const struct ynode *n, struct tier_offers *o,
                        const char *where)
{
    int r = expect(l, n, YNODE_MAP, "offers");
    if (r < 0)
        return r;
    static const char *const keys[] = { "plan_max_instalments", "move_due_date", "fee_waiver",
                                        "promise_max_days", "plan_min_instalment", NULL };
    char in[160];
    snprintf(in, sizeof(in), "offers of %s", where);
    bool bad = check_keys(l, n, keys, in) > 0;
    const struct ynode *x;
    if ((x = ynode_get(n, "plan_max_instalments"))) {
        int v;
        if (get_int(l, x, "plan_max_instalments", 0, OFFERS_PLAN_MAX, &v) < 0)
            bad = true;
        else if (v == 1) {
            err(l, x, "'plan_max_instalments' must be 0 (no plan) or 2 to %d, got 1",
                OFFERS_PLAN_MAX);
            bad = true;
        } else
            o->plan_max_instalments = v;
    }
    if ((x = ynode_get(n, "move_due_date")) &&
        get_bool(l, x, "move_due_date", &o->move_due_date) < 0)
        bad = true;
    if ((x = ynode_get(n, "fee_waiver")) && get_bool(l, x, "fee_waiver", &o->fee_waiver) < 0)
        bad = true;
    if ((x = ynode_get(n, "promise_max_days")) &&
        get_int(l, x, "promise_max_days", 0, OFFERS_PROMISE_DAYS_MAX, &o->promise_max_days) < 0)
        bad = true;
    if ((x = ynode_get(n, "plan_min_instalment")) &&
        get_int(l, x, "plan_min_instalment", 0, OFFERS_MIN_INSTALMENT_MAX,
                &o->plan_min_instalment) < 0)
        bad = true;
    return bad ? -EINVAL : 0;
}

static int parse_tier_channels(struct loader *l, const struct ynode *n, struct tier *t,
                               const char *where)
{
    int r = expect(l, n, YNODE_SEQ, "channels");
    if (r < 0)
        return r;
    if (n->n == 0)
        return err(l, n, "'channels' of %s is empty", where);
    if (n->n > TIER_CHANNELS_MAX)
        return err(l, n, "%s lists %zu channels, at most %d are allowed", where, n->n,
                   TIER_CHANNELS_MAX);
    static const char *const keys[] = { "channel", "template", "value", "min_gap_hours",
                                        "max_attempts", NULL };
    bool bad = false;
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *m = n->items[i];
        struct tier_channel *c = &t->ch[t->nch];
        if (expect(l, m, YNODE_MAP, "channels") < 0) {
            bad = true;
            continue;
        }
        char w[128];
        snprintf(w, sizeof(w), "channel of %s", where);
        if (check_keys(l, m, keys, w) > 0)
            bad = true;
        *c = (struct tier_channel){ .channel = -1, .line = m->line, .col = m->col };
        const struct ynode *x;
        if ((x = need(l, m, "channel", w)) && resolve_channel(l, x, &c->channel) == 0) {
            for (size_t j = 0; j < t->nch; j++)
                if (t->ch[j].channel == c->channel) {
                    err(l, x, "channel '%s' is listed twice in %s", x->str, where);
                    bad = true;
                }
        } else
            bad = true;
        if ((x = need(l, m, "template", w)) && get_name(l, x, "template", &c->template_name) == 0) {
            if (resolve_template(l, x, c->channel) < 0)
                bad = true;
        } else
            bad = true;
        if (!(x = need(l, m, "value", w)) || get_double(l, x, "value", 0, 999999, &c->value) < 0)
            bad = true;
        int h = 0;
        if ((x = ynode_get(m, "min_gap_hours"))) {
            if (get_int(l, x, "min_gap_hours", 0, 24 * 365, &h) < 0)
                bad = true;
            c->min_gap_minutes = h * 60;
        }
        if ((x = ynode_get(m, "max_attempts")) &&
            get_int(l, x, "max_attempts", 0, 1000, &c->max_attempts) < 0)
            bad = true;
        t->nch++;
    }
    return bad ? -EINVAL : 0;
}

static const char *const kind_names_for_caps[] = { "email", "sms", "chat", "call", "letter" };

static int parse_caps(struct loader *l, const struct ynode *n, struct tier *t)
{
    int r = expect(l, n, YNODE_SEQ, "caps");
    if (r < 0)
        return r;
    if (n->n > TIER_CAPS_MAX)
        return err(l, n, "at most %d caps are allowed", TIER_CAPS_MAX);
    static const char *const keys[] = { "channel", "max", "days", NULL };
    bool bad = false;
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *m = n->items[i], *x;
        if (expect(l, m, YNODE_MAP, "caps") < 0) {
            bad = true;
            continue;
        }
        if (check_keys(l, m, keys, "cap") > 0)
            bad = true;
        struct tier_cap *c = &t->caps[t->ncaps++];
        *c = (struct tier_cap){ .channel = -1, .kind = -1 };
        if ((x = ynode_get(m, "channel"))) {
            const char *s;
            if (get_str(l, x, "channel", &s) < 0)
                bad = true;
            else if (streq(s, "any"))
                ;
            else if (config_channel(l->cfg, s))
                c->channel = (int)(config_channel(l->cfg, s) - l->cfg->channels);
            else if (chan_kind_from_string(s) >= 0)
                c->kind = chan_kind_from_string(s);
            else {
                bool kind = false;
                for (size_t k = 0; k < ELEMENTSOF(kind_names_for_caps); k++)
                    if (streq(s, kind_names_for_caps[k]))
                        kind = true;
                if (!kind) {
                    if (resolve_channel(l, x, &c->channel) < 0)
                        bad = true;
                }
            }
        }
        if (!(x = need(l, m, "max", "cap")) || get_int(l, x, "max", 1, 100000, &c->max) < 0)
            bad = true;
        if (!(x = need(l, m, "days", "cap")) || get_int(l, x, "days", 1, 366, &c->days) < 0)
            bad = true;
    }
    return bad ? -EINVAL : 0;
}

static int parse_cadence(struct loader *l, const struct ynode *n, struct tier *t,
                         const char *where)
{
    int r = expect(l, n, YNODE_MAP, "cadence");
    if (r < 0)
        return r;
    static const char *const keys[] = { "min_gap_hours", "max_attempts", "caps", NULL };
    char w[128];
    snprintf(w, sizeof(w), "cadence of %s", where);
    bool bad = check_keys(l, n, keys, w) > 0;
    const struct ynode *x;
    int h;
    if ((x = ynode_get(n, "min_gap_hours"))) {
        if (get_int(l, x, "min_gap_hours", 0, 24 * 365, &h) < 0)
            bad = true;
        else
            t->min_gap_minutes = h * 60;
    }
    if ((x = ynode_get(n, "max_attempts")) &&
        get_int(l, x, "max_attempts", 0, 1000, &t->max_attempts) < 0)
        bad = true;
    if ((x = ynode_get(n, "caps")) && parse_caps(l, x, t) < 0)
        bad = true;
    return bad ? -EINVAL : 0;
}

/* Exit rules keep their unresolved `to` node until the ladder is complete. */
struct exit_names {
    const struct ynode *to[TIER_EXITS_MAX];
    const struct ynode *rule[TIER_EXITS_MAX];
};

static int parse_exits(struct loader *l, const struct ynode *n, struct tier *t,
                       struct exit_names *names)
{
    int r = expect(l, n, YNODE_SEQ, "exit");
    if (r < 0)
        return r;
    if (n->n > TIER_EXITS_MAX)
        return err(l, n, "at most %d exit rules are allowed", TIER_EXITS_MAX);
    static const char *const keys[] = { "attempts_without_contact", "days_in_tier",
                                        "broken_promise", "dpd", "to", NULL };
    bool bad = false;
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *m = n->items[i], *x;
        if (expect(l, m, YNODE_MAP, "exit") < 0) {
            bad = true;
            continue;
        }
        if (check_keys(l, m, keys, "exit rule") > 0)
            bad = true;
        struct tier_exit *e = &t->exits[t->nexits];
        *e = (struct tier_exit){ .to = TIER_NEXT, .line = m->line, .col = m->col };
        int ntrig = 0;
        for (int k = 0; k < _TIER_TRIGGER_MAX; k++) {
            if (!(x = ynode_get(m, trigger_names[k])))
                continue;
            ntrig++;
            e->trigger = (enum tier_trigger)k;
            if (k == TIER_ON_BROKEN_PROMISE) {
                bool b;
                if (get_bool(l, x, trigger_names[k], &b) < 0)
                    bad = true;
                else if (!b) {
                    err(l, x, "'broken_promise' can only be true; leave the rule out instead");
                    bad = true;
                }
            } else if (k == TIER_ON_DPD) {
                if (get_int(l, x, "dpd", STRATEGY_DPD_MIN, STRATEGY_DPD_MAX, &e->n) < 0)
                    bad = true;
            } else if (get_int(l, x, trigger_names[k], 1, 3650, &e->n) < 0)
                bad = true;
        }
        if (ntrig != 1) {
            err(l, m,
                "exit rule needs exactly one of 'attempts_without_contact', 'days_in_tier', "
                "'broken_promise' or 'dpd'");
            bad = true;
        }
        names->to[t->nexits] = NULL;
        names->rule[t->nexits] = m;
        if ((x = ynode_get(m, "to"))) {
            const char *s;
            if (get_str(l, x, "to", &s) < 0)
                bad = true;
            else
                names->to[t->nexits] = x;
        }
        t->nexits++;
    }
    return bad ? -EINVAL : 0;
}

static const char *const tier_keys[] = { "name", "channels", "choose", "windows", "cadence",
                                         "asks_payment", "enter_at_dpd", "exit", "offers",
                                         NULL };

/* Parse the keys a tier and the no-contact track share. */
static int parse_tier_body(struct loader *l, const struct ynode *n, struct tier *t,
                           const struct tier_defaults *def, const char *where)
{
    bool bad = false;
    const struct ynode *x;

    t->min_gap_minutes = DEFAULT_MIN_GAP_HOURS * 60;
    t->entry_dpd = INT32_MIN;
    t->offers = def->offers;
    if (!(x = need(l, n, "channels", where)) || parse_tier_channels(l, x, t, where) < 0)
        bad = true;
    if ((x = ynode_get(n, "windows"))) {
        if (parse_windows(l, x, t->windows) < 0)
            bad = true;
    } else if (def->windows) {
        memcpy(t->windows, def->w, sizeof(t->windows));
        if (!def->windows_ok)
            bad = true;
    } else {
        err(l, n, "%s has no 'windows' and the strategy sets none", where);
        bad = true;
    }
    if ((x = ynode_get(n, "cadence")) && parse_cadence(l, x, t, where) < 0)
        bad = true;
    return bad ? -EINVAL : 0;
}

static int parse_tier(struct loader *l, const struct ynode *n, struct tier *t,
                      const struct tier_defaults *def, struct exit_names *names)
{
    int r = expect(l, n, YNODE_MAP, "tier");
    if (r < 0)
        return r;
    bool bad = false;
    const struct ynode *x;
    char where[128];

    t->file = n->file;
    t->line = n->line;
    t->col = n->col;
    if ((x = need(l, n, "name", "tier")) && get_name(l, x, "tier name", &t->name) == 0) {
        t->line = x->line;
        t->col = x->col;
        if (streq(t->name, "no-contact")) {
            err(l, x, "tier name 'no-contact' is reserved for the no-contact track");
            bad = true;
        }
    } else
        bad = true;
    snprintf(where, sizeof(where), "tier '%s'", t->name ? t->name : "?");
    if (check_keys(l, n, tier_keys, where) > 0)
        bad = true;
    if (parse_tier_body(l, n, t, def, where) < 0)
        bad = true;
    if ((x = ynode_get(n, "choose"))) {
        const char *s;
        if (get_str(l, x, "choose", &s) < 0)
            bad = true;
        else if (streq(s, "order"))
            t->choose = TIER_CHOOSE_ORDER;
        else if (streq(s, "model"))
            t->choose = TIER_CHOOSE_MODEL;
        else {
            err(l, x, "'choose' must be 'order' or 'model', got '%s'", s);
            bad = true;
        }
    }
    if ((x = ynode_get(n, "asks_payment")) && get_bool(l, x, "asks_payment", &t->asks_payment) < 0)
        bad = true;
    if ((x = ynode_get(n, "enter_at_dpd")) &&
        get_int(l, x, "enter_at_dpd", STRATEGY_DPD_MIN, STRATEGY_DPD_MAX, &t->entry_dpd) < 0)
        bad = true;
    if ((x = ynode_get(n, "exit")) && parse_exits(l, x, t, names) < 0)
        bad = true;
    if ((x = ynode_get(n, "offers")) && parse_offers(l, x, &t->offers, where) < 0)
        bad = true;
    return bad ? -EINVAL : 0;
}

/* Tier name -> index in a ladder, or TIER_NO_CONTACT; reports unknown names. */
static int resolve_tier_name(struct loader *l, const struct ynode *n, const struct tier *tiers,
                             size_t ntiers, const char *in, int *ret)
{
    if (streq(n->str, "no-contact")) {
        *ret = TIER_NO_CONTACT;
        return 0;
    }
    const char *cands[STRATEGY_TIERS_MAX + 1];
    for (size_t i = 0; i < ntiers; i++) {
        cands[i] = tiers[i].name;
        if (tiers[i].name && streq(tiers[i].name, n->str)) {
            *ret = (int)i;
            return 0;
        }
    }
    cands[ntiers] = "no-contact";
    const char *near = closest_word(n->str, cands, ntiers + 1);
    if (near)
        return err(l, n, "unknown tier '%s'%s%s; did you mean '%s'?", n->str, in ? " in " : "",
                   in ? in : "", near);
    return err(l, n, "unknown tier '%s'%s%s", n->str, in ? " in " : "", in ? in : "");
}

static int parse_ladder(struct loader *l, const struct ynode *n, const struct tier_defaults *def,
                        struct tier **ret, size_t *ret_n)
{
    int r = expect(l, n, YNODE_SEQ, "tiers");
    if (r < 0)
        return r;
    if (n->n == 0)
        return err(l, n, "'tiers' is empty");
    if (n->n > STRATEGY_TIERS_MAX)
        return err(l, n, "%zu tiers, at most %d are allowed", n->n, STRATEGY_TIERS_MAX);
    struct tier *v = calloc(n->n, sizeof(*v));
    struct exit_names *names = calloc(n->n, sizeof(*names));
    if (!v || !names) {
        free(v);
        free(names);
        l->oom = true;
        return -ENOMEM;
    }
    bool bad = false;
    for (size_t i = 0; i < n->n; i++) {
        v[i].index = (int)i;
        if (parse_tier(l, n->items[i], &v[i], def, &names[i]) < 0)
            bad = true;
        l->set->ntiers++;
        for (size_t j = 0; j < i && v[i].name; j++)
            if (v[j].name && streq(v[j].name, v[i].name)) {
                const struct ynode *x = ynode_get(n->items[i], "name");
                err(l, x, "duplicate tier name '%s' (first defined at line %d)", v[i].name,
                    v[j].line);
                bad = true;
            }
    }
    /* Resolve exits now that every name is known. */
    for (size_t i = 0; i < n->n; i++)
        for (size_t k = 0; k < v[i].nexits; k++) {
            struct tier_exit *e = &v[i].exits[k];
            const struct ynode *to = names[i].to[k];
            if (!to) {
                if (i + 1 < n->n)
                    e->to = (int)i + 1;
                else {
                    err(l, names[i].rule[k], "exit rule of the last tier '%s' needs 'to'",
                        v[i].name ? v[i].name : "?");
                    bad = true;
                }
                continue;
            }
            if (resolve_tier_name(l, to, v, n->n, NULL, &e->to) < 0)
                bad = true;
            else if (e->to == (int)i) {
                err(l, to, "tier '%s' exits to itself", v[i].name);
                bad = true;
            }
        }
    free(names);
    *ret = v;
    *ret_n = n->n;
    return bad ? -EINVAL : 0;
}

/* ------------------------------------------------------------------ */
/* Outcomes, no-contact track, params                                   */

struct outcome_spec {
    struct strategy_reaction on[_STRATEGY_OUTCOME_MAX];
    const struct ynode *to[_STRATEGY_OUTCOME_MAX];
};

static void outcomes_default(struct outcome_spec *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < _STRATEGY_OUTCOME_MAX; i++)
        o->on[i] = (struct strategy_reaction){ .action = outcome_rules[i].def,
                                               .grace_days = DEFAULT_PTP_GRACE_DAYS,
                                               .to = TIER_NEXT };
}

static int parse_outcomes(struct loader *l, const struct ynode *n, struct outcome_spec *o)
{
    int r = expect(l, n, YNODE_MAP, "outcomes");
    if (r < 0)
        return r;
    bool bad = false;
    static const char *const keys[_STRATEGY_OUTCOME_MAX + 1] = {
        "promise_to_pay", "paid", "dispute", "opt_out", "wrong_number", "bounced", "refused",
        NULL,
    };
    check_keys(l, n, keys, "outcomes");
    for (size_t i = 0; i < n->n; i++) {
        enum strategy_outcome oc = strategy_outcome_from_string(n->keys[i]->str);
        if (oc < 0) {
            bad = true;
            continue;
        }
        const struct ynode *v = n->items[i], *an = v, *x;
        struct strategy_reaction *re = &o->on[oc];
        if (v->type == YNODE_MAP) {
            static const char *const okeys[] = { "action", "grace_days", "to", NULL };
            char w[64];
            snprintf(w, sizeof(w), "outcome '%s'", outcome_names[oc]);
            if (check_keys(l, v, okeys, w) > 0)
                bad = true;
            an = need(l, v, "action", w);
        } else if (v->type != YNODE_SCALAR) {
            err(l, v, "'%s' must be an action or a mapping, not %s", outcome_names[oc],
                v->type == YNODE_NULL ? "null" : "a sequence");
            bad = true;
            continue;
        }
        if (!an) {
            bad = true;
            continue;
        }
        const char *s;
        if (get_str(l, an, "action", &s) < 0) {
            bad = true;
            continue;
        }
        enum strategy_action a = strategy_action_from_string(s);
        if (a < 0 || !(outcome_rules[oc].allowed & (1u << a))) {
            char allowed[160] = "";
            for (int k = 0; k < _STRATEGY_ACTION_MAX; k++)
                if (outcome_rules[oc].allowed & (1u << k))
                    snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed),
                             "%s'%s'", allowed[0] ? ", " : "", action_names[k]);
            if (a < 0)
                err(l, an, "unknown action '%s' for outcome '%s' (allowed: %s)", s,
                    outcome_names[oc], allowed);
            else
                err(l, an, "action '%s' is not allowed for outcome '%s' (allowed: %s)", s,
                    outcome_names[oc], allowed);
            bad = true;
            continue;
        }
        re->action = a;
        if (v->type != YNODE_MAP)
            continue;
        if ((x = ynode_get(v, "grace_days"))) {
            if (a != STRATEGY_ACTION_PAUSE) {
                err(l, x, "'grace_days' only applies to action 'pause'");
                bad = true;
            } else if (get_int(l, x, "grace_days", 0, 60, &re->grace_days) < 0)
                bad = true;
        }
        if ((x = ynode_get(v, "to"))) {
            if (a != STRATEGY_ACTION_ESCALATE) {
                err(l, x, "'to' only applies to action 'escalate'");
                bad = true;
            } else if (get_str(l, x, "to", &s) < 0)
                bad = true;
            else
                o->to[oc] = x;
        }
    }
    return bad ? -EINVAL : 0;
}

static int parse_no_contact(struct loader *l, const struct ynode *n, const struct tier_defaults *def,
                            struct no_contact_track *nc)
{
    int r = expect(l, n, YNODE_MAP, "no_contact");
    if (r < 0)
        return r;
    static const char *const keys[] = { "after_attempts", "rotate_days", "investigate_address",
                                        "channels", "windows", NULL };
    bool bad = check_keys(l, n, keys, "no_contact") > 0;
    const struct ynode *x;

    memset(nc, 0, sizeof(*nc));
    nc->enabled = true;
    nc->rotate_days = DEFAULT_ROTATE_DAYS;
    nc->investigate_address = true;
    nc->tier.name = "no-contact";
    nc->tier.index = -1;
    nc->tier.file = n->file;
    nc->tier.line = n->line;
    nc->tier.col = n->col;
    if (!(x = need(l, n, "after_attempts", "no_contact")) ||
        get_int(l, x, "after_attempts", 1, 1000, &nc->after_attempts) < 0)
        bad = true;
    if ((x = ynode_get(n, "rotate_days")) &&
        get_int(l, x, "rotate_days", 1, 365, &nc->rotate_days) < 0)
        bad = true;
    if ((x = ynode_get(n, "investigate_address")) &&
        get_bool(l, x, "investigate_address", &nc->investigate_address) < 0)
        bad = true;
    if (parse_tier_body(l, n, &nc->tier, def, "no_contact") < 0)
        bad = true;
    nc->tier.min_gap_minutes = nc->rotate_days * 24 * 60;
    nc->tier.choose = TIER_CHOOSE_ORDER;
    return bad ? -EINVAL : 0;
}

static int parse_params(struct loader *l, const struct ynode *n, struct strategy_params *p)
{
    int r = expect(l, n, YNODE_MAP, "params");
    if (r < 0)
        return r;
    static const char *const keys[] = { "exploration", "payday_lead_days", NULL };
    bool bad = check_keys(l, n, keys, "params") > 0;
    const struct ynode *x;
    if ((x = ynode_get(n, "exploration")) &&
        get_double(l, x, "exploration", 0, 1, &p->exploration) < 0)
        bad = true;
    if ((x = ynode_get(n, "payday_lead_days")) &&
        get_int(l, x, "payday_lead_days", 0, 15, &p->payday_lead_days) < 0)
        bad = true;
    return bad ? -EINVAL : 0;
}

/* ------------------------------------------------------------------ */
/* Match                                                                */

static int parse_flags(struct loader *l, const struct ynode *n, const char *what, uint32_t *ret)
{
    const char **v = NULL;
    size_t k = 0;
    int r = get_str_list(l, n, what, &v, &k);
    if (r < 0)
        return r;
    uint32_t bits = 0;
    bool bad = false;
    const char *names[ELEMENTSOF(flag_names)];
    for (size_t j = 0; j < ELEMENTSOF(flag_names); j++)
        names[j] = flag_names[j].name;
    for (size_t i = 0; i < k; i++) {
        const struct ynode *item = n->type == YNODE_SEQ ? n->items[i] : n;
        size_t j;
        for (j = 0; j < ELEMENTSOF(flag_names); j++)
            if (streq(v[i], flag_names[j].name))
                break;
        if (j < ELEMENTSOF(flag_names)) {
            bits |= flag_names[j].bit;
            continue;
        }
        const char *near = closest_word(v[i], names, ELEMENTSOF(names));
        if (near)
            err(l, item, "unknown flag '%s'; did you mean '%s'?", v[i], near);
        else
            err(l, item, "unknown flag '%s'", v[i]);
        bad = true;
    }
    free(v);
    *ret = bits;
    return bad ? -EINVAL : 0;
}

static int parse_range_int(struct loader *l, const struct ynode *n, const char *what, int lo,
                           int hi, int *ret_min, int *ret_max)
{
    int r = expect(l, n, YNODE_MAP, what);
    if (r < 0)
        return r;
    static const char *const keys[] = { "min", "max", NULL };
    char w[64];
    snprintf(w, sizeof(w), "'%s'", what);
    bool bad = check_keys(l, n, keys, w) > 0;
    const struct ynode *x;
    if ((x = ynode_get(n, "min")) && get_int(l, x, "min", lo, hi, ret_min) < 0)
        bad = true;
    if ((x = ynode_get(n, "max")) && get_int(l, x, "max", lo, hi, ret_max) < 0)
        bad = true;
    if (!bad && *ret_min > *ret_max)
        return err(l, n, "'%s' min %d is greater than max %d", what, *ret_min, *ret_max);
    return bad ? -EINVAL : 0;
}

static int parse_match(struct loader *l, const struct ynode *n, struct strategy_match *m)
{
    int r = expect(l, n, YNODE_MAP, "match");
    if (r < 0)
        return r;
    static const char *const keys[] = { "dpd", "balance", "segments", "tags", "countries",
                                        "risk_bands", "flags_required", "flags_any",
                                        "flags_excluded", NULL };
    bool bad = check_keys(l, n, keys, "match") > 0;
    const struct ynode *x;

    if ((x = ynode_get(n, "dpd")) &&
        parse_range_int(l, x, "dpd", STRATEGY_DPD_MIN, STRATEGY_DPD_MAX, &m->dpd_min,
                        &m->dpd_max) < 0)
        bad = true;
    if ((x = ynode_get(n, "balance"))) {
        if (expect(l, x, YNODE_MAP, "balance") < 0)
            bad = true;
        else {
            static const char *const bkeys[] = { "min", "max", NULL };
            const struct ynode *y;
            if (check_keys(l, x, bkeys, "'balance'") > 0)
                bad = true;
            bool bbad = false;
            if ((y = ynode_get(x, "min")) && get_double(l, y, "min", 0, 1e15, &m->balance_min) < 0)
                bbad = true;
            if ((y = ynode_get(x, "max")) && get_double(l, y, "max", 0, 1e15, &m->balance_max) < 0)
                bbad = true;
            bad = bad || bbad;
            if (!bbad && m->balance_max >= 0 && m->balance_min > m->balance_max) {
                err(l, x, "'balance' min %g is greater than max %g", m->balance_min,
                    m->balance_max);
                bad = true;
            }
        }
    }
    if ((x = ynode_get(n, "segments")) &&
        get_str_list(l, x, "segments", &m->segments, &m->nsegments) < 0)
        bad = true;
    if ((x = ynode_get(n, "tags")) && get_str_list(l, x, "tags", &m->tags, &m->ntags) < 0)
        bad = true;
    if ((x = ynode_get(n, "risk_bands")) &&
        get_str_list(l, x, "risk_bands", &m->risk_bands, &m->nrisk_bands) < 0)
        bad = true;
    if ((x = ynode_get(n, "countries"))) {
        if (get_str_list(l, x, "countries", &m->countries, &m->ncountries) < 0)
            bad = true;
        else
            for (size_t i = 0; i < m->ncountries; i++) {
                const struct ynode *item = x->type == YNODE_SEQ ? x->items[i] : x;
                char *s = item->str; /* ours: the set owns the document */
                if (strlen(s) != 2 || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z') ||
                    !((s[1] | 0x20) >= 'a' && (s[1] | 0x20) <= 'z')) {
                    err(l, item, "invalid country code '%s': use ISO 3166-1 alpha-2 ('US')", s);
                    bad = true;
                    continue;
                }
                s[0] &= ~0x20;
                s[1] &= ~0x20;
            }
    }
    if ((x = ynode_get(n, "flags_required")) &&
        parse_flags(l, x, "flags_required", &m->flags_required) < 0)
        bad = true;
    if ((x = ynode_get(n, "flags_any")) && parse_flags(l, x, "flags_any", &m->flags_any) < 0)
        bad = true;
    if ((x = ynode_get(n, "flags_excluded")) &&
        parse_flags(l, x, "flags_excluded", &m->flags_excluded) < 0)
        bad = true;
    uint32_t both = m->flags_required & m->flags_excluded;
    if (both)
        for (size_t j = 0; j < ELEMENTSOF(flag_names); j++)
            if (both & flag_names[j].bit) {
                err(l, x, "flag '%s' is both required and excluded", flag_names[j].name);
                bad = true;
                break;
            }
    return bad ? -EINVAL : 0;
}

/* The profiles a strategy applies to (its countries', or every one). */
static int strategy_profiles(struct loader *l, const struct ynode *match,
                             const struct strategy_match *m)
{
    const struct config *c = l->cfg;
    free(l->profiles);
    l->profiles = calloc(c->nprofiles ? c->nprofiles : 1, sizeof(*l->profiles));
    l->nprofiles = 0;
    if (!l->profiles) {
        l->oom = true;
        return -ENOMEM;
    }
    if (m->ncountries == 0) {
        for (size_t i = 0; i < c->nprofiles; i++)
            l->profiles[l->nprofiles++] = &c->profiles[i];
        return 0;
    }
    const struct ynode *cn = ynode_get(match, "countries");
    bool bad = false;
    for (size_t i = 0; i < m->ncountries; i++) {
        if (strlen(m->countries[i]) != 2)
            continue; /* reported by parse_match */
        const struct profile *p = config_profile_for_country(c, m->countries[i]);
        if (!p) {
            if (c->nprofiles > 0) {
                err(l, cn->type == YNODE_SEQ ? cn->items[i] : cn,
                    "no jurisdiction profile covers country '%s'", m->countries[i]);
                bad = true;
            }
            continue;
        }
        bool have = false;
        for (size_t j = 0; j < l->nprofiles; j++)
            have = have || l->profiles[j] == p;
        if (!have)
            l->profiles[l->nprofiles++] = p;
    }
    return bad ? -EINVAL : 0;
}

/* ------------------------------------------------------------------ */
/* Strategies and variants                                              */

static void variant_release(struct variant *v)
{
    free(v->tiers);
}

static void strategy_release(struct strategy *s)
{
    for (size_t i = 0; i < s->nvariants; i++)
        variant_release(&s->variants[i]);
    free(s->variants);
    free(s->match.segments);
    free(s->match.tags);
    free(s->match.countries);
    free(s->match.risk_bands);
}

/* Everything a variant may override, as parsed (NULL/false: inherit). */
struct plan_parts {
    struct tier *tiers;
    size_t ntiers;
    bool tiers_ok;
    const struct ynode *tiers_node;
    struct outcome_spec outcomes;
    const struct ynode *outcomes_node;
    bool outcomes_ok;
    bool mixed; /* own tiers, inherited outcomes */
    struct no_contact_track no_contact;
    bool no_contact_ok;
    const struct ynode *no_contact_node;
    struct strategy_params params;
};

/* Resolve a variant's outcomes, check reachability (invariant 1). */
static int finish_variant(struct loader *l, struct variant *v, const struct plan_parts *p)
{
    bool bad = false;

    v->ntiers = p->ntiers;
    v->tiers = calloc(p->ntiers ? p->ntiers : 1, sizeof(*v->tiers));
    if (!v->tiers) {
        l->oom = true;
        return -ENOMEM;
    }
    if (p->ntiers)
        memcpy(v->tiers, p->tiers, p->ntiers * sizeof(*v->tiers));
    v->no_contact = p->no_contact;
    v->params = p->params;
    /* An inherited outcome naming a tier the variant's own ladder lacks. */
    char in[96] = "";
    if (p->mixed && v->name)
        snprintf(in, sizeof(in), "the tiers of variant '%s'", v->name);
    for (int o = 0; o < _STRATEGY_OUTCOME_MAX; o++) {
        v->on[o] = p->outcomes.on[o];
        const struct ynode *to = p->outcomes.to[o];
        if (to && p->ntiers &&
            resolve_tier_name(l, to, v->tiers, v->ntiers, in[0] ? in : NULL, &v->on[o].to) < 0)
            bad = true;
        if (to && v->on[o].to == TIER_NO_CONTACT && !v->no_contact.enabled) {
            err(l, to, "'to: no-contact' needs a 'no_contact' track");
            bad = true;
        }
    }
    for (size_t i = 0; i < v->ntiers && !v->no_contact.enabled; i++)
        for (size_t k = 0; k < v->tiers[i].nexits; k++)
            if (v->tiers[i].exits[k].to == TIER_NO_CONTACT) {
                const struct ynode *tn = p->tiers_node->items[i];
                const struct ynode *nn = ynode_get(tn, "name");
                err(l, nn ? nn : tn,
                    "tier '%s' exits to 'no-contact' but there is no 'no_contact' track",
                    v->tiers[i].name ? v->tiers[i].name : "?");
                bad = true;
                break;
            }
    if (!p->tiers_ok || !p->outcomes_ok || !p->no_contact_ok || !p->ntiers)
        return -EINVAL;

    /* Reachability: start, entry dpd, exits and escalations, to a fixpoint. */
    bool reach[STRATEGY_TIERS_MAX] = { false };
    reach[0] = true;
    for (size_t i = 0; i < v->ntiers; i++)
        if (v->tiers[i].entry_dpd != INT32_MIN)
            reach[i] = true;
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < v->ntiers; i++) {
            if (!reach[i])
                continue;
            const struct tier *t = &v->tiers[i];
            for (size_t k = 0; k < t->nexits; k++) {
                int to = t->exits[k].to;
                if (to >= 0 && !reach[to])
                    reach[to] = changed = true;
            }
            for (int o = 0; o < _STRATEGY_OUTCOME_MAX; o++) {
                if (v->on[o].action != STRATEGY_ACTION_ESCALATE)
                    continue;
                int to = v->on[o].to == TIER_NEXT ? (int)i + 1 : v->on[o].to;
                if (to >= 0 && to < (int)v->ntiers && !reach[to])
                    reach[to] = changed = true;
            }
        }
    }
    for (size_t i = 0; i < v->ntiers; i++)
        if (!reach[i]) {
            const struct ynode *tn = p->tiers_node->items[i];
            const struct ynode *nn = ynode_get(tn, "name");
            err(l, nn ? nn : tn, "tier '%s' is unreachable: no entry or transition leads to it",
                v->tiers[i].name);
            bad = true;
        }
    return bad ? -EINVAL : 0;
}

static const char *const variant_keys[] = { "name", "weight", "description", "tiers",
                                            "outcomes", "no_contact", "params", NULL };

static int parse_variants(struct loader *l, const struct ynode *n, struct strategy *st,
                          const struct plan_parts *base, const struct tier_defaults *def)
{
    int r = expect(l, n, YNODE_SEQ, "variants");
    if (r < 0)
        return r;
    if (n->n == 0)
        return err(l, n, "'variants' is empty");
    if (n->n > STRATEGY_VARIANTS_MAX)
        return err(l, n, "%zu variants, at most %d are allowed", n->n, STRATEGY_VARIANTS_MAX);
    st->variants = calloc(n->n, sizeof(*st->variants));
    if (!st->variants) {
        l->oom = true;
        return -ENOMEM;
    }
    bool bad = false, weights_ok = true;
    int sum = 0;
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *m = n->items[i], *x;
        struct variant *v = &st->variants[st->nvariants++];
        v->line = m->line;
        v->col = m->col;
        if (expect(l, m, YNODE_MAP, "variant") < 0) {
            bad = true;
            weights_ok = false;
            continue;
        }
        if ((x = need(l, m, "name", "variant")) && get_name(l, x, "variant name", &v->name) == 0) {
            v->line = x->line;
            v->col = x->col;
            for (size_t j = 0; j < i; j++)
                if (st->variants[j].name && streq(st->variants[j].name, v->name)) {
                    err(l, x, "duplicate variant name '%s'", v->name);
                    bad = true;
                }
        } else
            bad = true;
        char where[128];
        snprintf(where, sizeof(where), "variant '%s'", v->name ? v->name : "?");
        if (check_keys(l, m, variant_keys, where) > 0)
            bad = true;
        if ((x = need(l, m, "weight", where)) && get_int(l, x, "weight", 0, 100, &v->weight) == 0)
            sum += v->weight;
        else
            bad = true, weights_ok = false;

        struct plan_parts p = *base;
        p.tiers = NULL;
        bool own_tiers = false;
        if ((x = ynode_get(m, "tiers"))) {
            p.tiers_node = x;
            p.tiers_ok = parse_ladder(l, x, def, &p.tiers, &p.ntiers) == 0;
            own_tiers = true;
        } else {
            p.tiers = base->tiers;
            if (!base->tiers_node) {
                err(l, m, "missing key 'tiers' in %s (the strategy has none to inherit)",
                    where);
                bad = true;
                continue;
            }
        }
        if ((x = ynode_get(m, "outcomes"))) {
            p.outcomes_node = x;
            outcomes_default(&p.outcomes);
            p.outcomes_ok = parse_outcomes(l, x, &p.outcomes) == 0;
        }
        if ((x = ynode_get(m, "no_contact")))
            p.no_contact_ok = parse_no_contact(l, x, def, &p.no_contact) == 0;
        if ((x = ynode_get(m, "params")) && parse_params(l, x, &p.params) < 0)
            bad = true;
        p.mixed = own_tiers && p.outcomes_node == base->outcomes_node;
        if (finish_variant(l, v, &p) < 0)
            bad = true;
        if (own_tiers)
            free(p.tiers);
    }
    if (weights_ok && sum != 100) {
        err(l, n, "variant weights add up to %d, not 100", sum);
        bad = true;
    }
    return bad ? -EINVAL : 0;
}

static const char *const strategy_keys[] = { "name", "description", "priority", "match",
                                             "windows", "params", "outcomes", "no_contact",
                                             "tiers", "variants", "offers", NULL };

static int parse_strategy(struct loader *l, const struct ynode *n, struct strategy *st,
                          const struct ynode **name_node)
{
    int r = expect(l, n, YNODE_MAP, "strategy");
    if (r < 0)
        return r;
    bool bad = false;
    const struct ynode *x;
    char where[128];

    st->file = n->file;
    st->line = n->line;
    st->col = n->col;
    st->match = (struct strategy_match){ .dpd_min = STRATEGY_DPD_MIN,
                                         .dpd_max = STRATEGY_DPD_MAX,
                                         .balance_min = 0,
                                         .balance_max = -1 };
    *name_node = n;
    if ((x = need(l, n, "name", "strategy")) && get_name(l, x, "strategy name", &st->name) == 0) {
        st->line = x->line;
        st->col = x->col;
        *name_node = x;
    } else
        bad = true;
    /* Name the strategy in messages even when its name is invalid. */
    const char *shown = st->name ? st->name : x && x->type == YNODE_SCALAR ? x->str : "?";
    snprintf(where, sizeof(where), "strategy '%.64s'", shown);
    if (check_keys(l, n, strategy_keys, where) > 0)
        bad = true;
    if ((x = ynode_get(n, "description")) && get_str(l, x, "description", &st->description) < 0)
        bad = true;
    if ((x = ynode_get(n, "priority")) && get_int(l, x, "priority", 0, 1000000, &st->priority) < 0)
        bad = true;
    if ((x = ynode_get(n, "match")) && parse_match(l, x, &st->match) < 0)
        bad = true;
    if (strategy_profiles(l, x, &st->match) < 0)
        bad = true;

    struct tier_defaults def = { 0 };
    if ((def.windows = ynode_get(n, "windows")))
        def.windows_ok = parse_windows(l, def.windows, def.w) == 0;
    if ((x = ynode_get(n, "offers")) && parse_offers(l, x, &def.offers, where) < 0)
        bad = true;

    struct plan_parts base = { .tiers_ok = true, .outcomes_ok = true, .no_contact_ok = true };
    base.params = (struct strategy_params){ DEFAULT_EXPLORATION, DEFAULT_PAYDAY_LEAD_DAYS };
    outcomes_default(&base.outcomes);
    if ((x = ynode_get(n, "params")) && parse_params(l, x, &base.params) < 0)
        bad = true;
    if ((x = ynode_get(n, "outcomes"))) {
        base.outcomes_node = x;
        base.outcomes_ok = parse_outcomes(l, x, &base.outcomes) == 0;
    }
    if ((x = ynode_get(n, "no_contact")))
        base.no_contact_ok = parse_no_contact(l, x, &def, &base.no_contact) == 0;
    if ((x = ynode_get(n, "tiers"))) {
        base.tiers_node = x;
        base.tiers_ok = parse_ladder(l, x, &def, &base.tiers, &base.ntiers) == 0;
    }

    const struct ynode *vn = ynode_get(n, "variants");
    if (vn) {
        if (parse_variants(l, vn, st, &base, &def) < 0)
            bad = true;
    } else if (!base.tiers_node) {
        err(l, n, "missing key 'tiers' in %s", where);
        bad = true;
    } else {
        st->variants = calloc(1, sizeof(*st->variants));
        if (!st->variants) {
            l->oom = true;
            bad = true;
        } else {
            struct variant *v = &st->variants[st->nvariants++];
            v->name = "default";
            v->weight = 100;
            v->line = st->line;
            v->col = st->col;
            if (finish_variant(l, v, &base) < 0)
                bad = true;
        }
    }
    free(base.tiers);
    return bad ? -EINVAL : 0;
}

/* ------------------------------------------------------------------ */
/* Cross-strategy checks                                                */

static bool lists_overlap(const char **a, size_t na, const char **b, size_t nb)
{
    if (na == 0 || nb == 0)
        return true;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (streq(a[i], b[j]))
                return true;
    return false;
}

/* Could one debtor satisfy both sets of flag conditions? */
static bool flags_overlap(const struct strategy_match *a, const struct strategy_match *b)
{
    uint32_t req = a->flags_required | b->flags_required;
    uint32_t exc = a->flags_excluded | b->flags_excluded;
    if (req & exc)
        return false;
    if (a->flags_any && !(a->flags_any & ~exc))
        return false;
    if (b->flags_any && !(b->flags_any & ~exc))
        return false;
    return true;
}

static bool matches_overlap(const struct strategy_match *a, const struct strategy_match *b)
{
    if (a->dpd_max < b->dpd_min || b->dpd_max < a->dpd_min)
        return false;
    double amax = a->balance_max < 0 ? 1e300 : a->balance_max;
    double bmax = b->balance_max < 0 ? 1e300 : b->balance_max;
    if (amax < b->balance_min || bmax < a->balance_min)
        return false;
    /* Tags are "any of": two tag lists can always meet in one debtor. */
    return lists_overlap(a->countries, a->ncountries, b->countries, b->ncountries) &&
           lists_overlap(a->segments, a->nsegments, b->segments, b->nsegments) &&
           lists_overlap(a->risk_bands, a->nrisk_bands, b->risk_bands, b->nrisk_bands) &&
           flags_overlap(a, b);
}

static void check_set(struct loader *l, size_t first_new)
{
    struct strategy_set *s = l->set;
    for (size_t j = first_new; j < s->n; j++)
        for (size_t i = 0; i < j; i++) {
            const struct strategy *a = &s->v[i], *b = &s->v[j];
            if (!a->name || !b->name)
                continue;
            if (streq(a->name, b->name)) {
                err(l, l->name_nodes[j], "duplicate strategy name '%s' (first defined at %s:%d:%d)",
                    b->name, a->file, a->line, a->col);
                break;
            }
            if (a->priority == b->priority && matches_overlap(&a->match, &b->match))
                err(l, l->name_nodes[j],
                    "strategy '%s' overlaps strategy '%s' (%s:%d:%d) at equal priority %d; "
                    "change a priority or make the matches disjoint",
                    b->name, a->name, a->file, a->line, a->col, a->priority);
        }
}

/* ------------------------------------------------------------------ */
/* Loading                                                              */

void strategy_set_free(struct strategy_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        strategy_release(&s->v[i]);
    free(s->v);
    template_set_free(s->templates);
    for (size_t i = 0; i < s->ndocs; i++)
        ydoc_free(s->docs[i]);
    free(s->docs);
    free(s);
}

/* Parse one document into the set; the set takes the document. */
static int load_doc(struct loader *l, struct ydoc *doc)
{
    struct strategy_set *s = l->set;
    struct ydoc **docs = realloc(s->docs, (s->ndocs + 1) * sizeof(*docs));
    if (!docs) {
        ydoc_free(doc);
        l->oom = true;
        return -ENOMEM;
    }
    s->docs = docs;
    s->docs[s->ndocs++] = doc;

    const struct ynode *root = doc->root;
    if (root->type != YNODE_MAP)
        return err(l, root, "a strategy file must be a mapping with a 'strategies' list, not %s",
                   root->type == YNODE_NULL ? "an empty document" : "a sequence or scalar");
    static const char *const keys[] = { "strategies", NULL };
    check_keys(l, root, keys, "strategy file");
    const struct ynode *list = need(l, root, "strategies", "strategy file");
    if (!list || expect(l, list, YNODE_SEQ, "strategies") < 0)
        return -EINVAL;
    size_t first = s->n;
    struct strategy *v = realloc(s->v, (s->n + list->n + 1) * sizeof(*v));
    if (!v) {
        l->oom = true;
        return -ENOMEM;
    }
    s->v = v;
    const struct ynode **nn = realloc(l->name_nodes, (s->n + list->n + 1) * sizeof(*nn));
    if (!nn) {
        l->oom = true;
        return -ENOMEM;
    }
    l->name_nodes = nn;
    for (size_t i = 0; i < list->n; i++) {
        struct strategy *st = &s->v[s->n];
        memset(st, 0, sizeof(*st));
        parse_strategy(l, list->items[i], st, &l->name_nodes[s->n]);
        s->n++;
    }
    check_set(l, first);
    return 0;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a > b && streq(s + a - b, suf);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files in dir ending in one of the suffixes, sorted, as full paths. */
static int list_dir(const char *dir, const char *suf1, const char *suf2, char ***ret,
                    size_t *ret_n)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return -errno;
    char **v = NULL;
    size_t n = 0;
    struct dirent *de;
    int r = 0;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.')
            continue;
        if (!has_suffix(de->d_name, suf1) && !(suf2 && has_suffix(de->d_name, suf2)))
            continue;
        char **nv = realloc(v, (n + 1) * sizeof(*v));
        char *p = strdupf("%s/%s", dir, de->d_name);
        if (!nv || !p) {
            free(p);
            if (nv)
                v = nv;
            r = -ENOMEM;
            break;
        }
        v = nv;
        v[n++] = p;
    }
    closedir(dp);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return r;
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_str);
    *ret = v;
    *ret_n = n;
    return 0;
}

static int loader_init(struct loader *l, const struct config *cfg, struct diags *d)
{
    *l = (struct loader){ .cfg = cfg, .d = d, .errors_before = d->nerrors };
    l->set = calloc(1, sizeof(*l->set));
    return l->set ? 0 : -ENOMEM;
}

static int loader_finish(struct loader *l, struct strategy_set **ret, int r)
{
    free(l->profiles);
    free(l->name_nodes);
    if (r >= 0 && l->oom)
        r = -ENOMEM;
    if (r >= 0 && l->d->nerrors > l->errors_before)
        r = -EINVAL;
    if (r < 0) {
        strategy_set_free(l->set);
        return r;
    }
    *ret = l->set;
    return 0;
}

static void load_templates(struct loader *l)
{
    const char *dir = l->cfg->template_dir;
    if (!dir)
        return;
    l->check_templates = true;
    int r = template_set_load(dir, l->cfg->default_locale, &l->set->templates, l->d);
    if (r == -ENOMEM)
        l->oom = true;
}

int strategy_set_load_buffer(const struct config *cfg, const char *name, const char *buf,
                             size_t len, struct strategy_set **ret, struct diags *d)
{
    struct loader l;
    if (loader_init(&l, cfg, d) < 0)
        return -ENOMEM;
    load_templates(&l);
    struct ydoc *doc = NULL;
    int r = ydoc_parse(name, buf, len, &doc, d);
    if (r == 0)
        r = load_doc(&l, doc);
    else if (r == -EINVAL)
        r = 0; /* reported in d; loader_finish turns it into -EINVAL */
    return loader_finish(&l, ret, r);
}

static int load_file(struct loader *l, const char *path)
{
    struct ydoc *doc = NULL;
    size_t before = l->d->nerrors;
    int r = ydoc_load(path, &doc, l->d);
    if (r < 0) {
        if (r == -ENOMEM)
            return r;
        if (l->d->nerrors == before)
            diag_error(l->d, path, 0, 0, "cannot read strategy file: %s", file_strerror(r));
        return 0;
    }
    r = load_doc(l, doc);
    return r == -ENOMEM ? r : 0;
}

int strategy_set_load(const struct config *cfg, const char *const *paths, size_t npaths,
                      struct strategy_set **ret, struct diags *d)
{
    struct loader l;
    const char *def[1];
    if (loader_init(&l, cfg, d) < 0)
        return -ENOMEM;
    if (!paths || npaths == 0) {
        def[0] = cfg->strategy_dir ? cfg->strategy_dir : "strategies";
        paths = def;
        npaths = 1;
    }
    load_templates(&l);
    int r = 0;
    for (size_t i = 0; i < npaths && r >= 0; i++) {
        struct stat st;
        if (stat(paths[i], &st) < 0) {
            diag_error(d, paths[i], 0, 0, "cannot read strategies: %s", strerror(errno));
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            r = load_file(&l, paths[i]);
            continue;
        }
        char **files = NULL;
        size_t n = 0;
        int k = list_dir(paths[i], ".yaml", ".yml", &files, &n);
        if (k < 0) {
            if (k == -ENOMEM)
                r = k;
            else
                diag_error(d, paths[i], 0, 0, "cannot read strategy directory: %s",
                           strerror(-k));
            continue;
        }
        for (size_t j = 0; j < n; j++) {
            if (r >= 0)
                r = load_file(&l, files[j]);
            free(files[j]);
        }
        free(files);
    }
    return loader_finish(&l, ret, r);
}

/* ------------------------------------------------------------------ */
/* Queries for the planner                                              */

static bool in_list(const char *const *v, size_t n, const char *s)
{
    if (n == 0)
        return true;
    if (!s)
        return false;
    for (size_t i = 0; i < n; i++)
        if (streq(v[i], s))
            return true;
    return false;
}

/* Does the ';'-separated tag list hold any of v? */
static bool tags_match(const char *const *v, size_t n, const char *tags)
{
    if (n == 0)
        return true;
    if (!tags)
        return false;
    for (const char *p = tags; *p;) {
        size_t k = strcspn(p, ";");
        for (size_t i = 0; i < n; i++)
            if (strlen(v[i]) == k && memcmp(v[i], p, k) == 0)
                return true;
        p += k;
        if (*p == ';')
            p++;
    }
    return false;
}

bool strategy_matches(const struct strategy *st, const struct debtor_rec *d, int dpd)
{
    const struct strategy_match *m = &st->match;
    if (dpd < m->dpd_min || dpd > m->dpd_max)
        return false;
    /* Balances are compared in major units of the debtor's currency. */
    int exp = currency_exponent(d->currency);
    double bal = (double)d->balance_minor;
    for (int i = 0; i < (exp < 0 ? 2 : exp); i++)
        bal /= 10.0;
    if (bal < m->balance_min || (m->balance_max >= 0 && bal > m->balance_max))
        return false;
    if ((d->flags & m->flags_required) != m->flags_required)
        return false;
    if (m->flags_any && !(d->flags & m->flags_any))
        return false;
    if (d->flags & m->flags_excluded)
        return false;
    return in_list(m->segments, m->nsegments, d->segment) &&
           in_list(m->countries, m->ncountries, d->country) &&
           in_list(m->risk_bands, m->nrisk_bands, d->risk_band) &&
           tags_match(m->tags, m->ntags, d->tags);
}

const struct strategy *strategy_set_match(const struct strategy_set *s,
                                          const struct debtor_rec *d, int dpd)
{
    const struct strategy *best = NULL;
    for (size_t i = 0; i < s->n; i++)
        if ((!best || s->v[i].priority > best->priority) && strategy_matches(&s->v[i], d, dpd))
            best = &s->v[i];
    return best;
}

const struct variant *strategy_pick_variant(const struct strategy *st, uint64_t key)
{
    int bucket = (int)(key % 100), acc = 0;
    for (size_t i = 0; i < st->nvariants; i++) {
        acc += st->variants[i].weight;
        if (bucket < acc)
            return &st->variants[i];
    }
    return st->nvariants ? &st->variants[0] : NULL;
}

int variant_start_tier(const struct variant *v, int dpd)
{
    int best = 0, best_dpd = INT32_MIN;
    for (size_t i = 0; i < v->ntiers; i++) {
        int e = v->tiers[i].entry_dpd;
        if (e != INT32_MIN && e <= dpd && e >= best_dpd) {
            best = (int)i;
            best_dpd = e;
        }
    }
    return best;
}

const struct tier *variant_tier(const struct variant *v, const char *name)
{
    if (streq(name, "no-contact"))
        return v->no_contact.enabled ? &v->no_contact.tier : NULL;
    for (size_t i = 0; i < v->ntiers; i++)
        if (streq(v->tiers[i].name, name))
            return &v->tiers[i];
    return NULL;
}
