/*
 * test-report.c - the contact report's counting and statistics
 * (daemon/run/report.c) on hand-made debtors whose every figure is worked out
 * in the comments, the interval against a direct computation, the call
 * rule's four answers, champions and tier order from configured
 * strategies, and the renderers (JSON parses back, CSV and HTML escape).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "diag.h"
#include "outcome.h"
#include "report-render.h"
#include "report.h"
#include "store.h"
#include "strategy.h"
#include "testlib.h"

#define NEAR(a, b, eps) (fabs((double)(a) - (double)(b)) <= (eps))
#define DAY 86400
#define D0 20000 /* 2024-10-04: the first day of the range */

static struct report_opts opts(void)
{
    static const struct report_cost costs[] = { { "email", 0.01 }, { "dialer", 0.5 } };
    return (struct report_opts){
        .from = D0, .to = D0, .now = (int64_t)(D0 + 60) * DAY, .currency = "EUR",
        .currency_exp = 2, .costs = costs, .ncosts = 2,
    };
}

static struct report_attempt att(int64_t id, const char *variant, const char *tier,
                                 const char *channel, int kind, int status, int64_t at)
{
    return (struct report_attempt){
        .id = id, .strategy = "s", .variant = variant, .tier = tier, .channel = channel,
        .kind = kind, .status = status, .at = at, .local_day = (int32_t)(at / DAY),
        .local_hour = (int)(at % DAY / 3600),
    };
}

static struct report_outcome out(int64_t attempt_id, int kind, int code, int64_t at)
{
    return (struct report_outcome){ .attempt_id = attempt_id, .kind = kind, .code = code,
                                    .at = at };
}

static const struct report_row *row(const struct report *r, const char *variant,
                                    const char *tier, const char *channel)
{
    for (size_t i = 0; i < r->nrows; i++)
        if (!strcmp(r->rows[i].variant, variant) && !strcmp(r->rows[i].tier, tier) &&
            !strcmp(r->rows[i].channel, channel))
            return &r->rows[i];
    return NULL;
}

/*
 * One EUR debtor, day D0 (10:00 = t):
 *   1 email sent, outcomes: delivered, opened, clicked (linked)      -> d c r
 *   2 email planned, delivered (linked)                              -> d
 *   3 email failed at the provider, no outcome                       -> made, nothing
 *   4 email dead-lettered, no outcome                                -> not made
 *   5 email cancelled
 *  10 email opted out at the provider (status 7) -> made, opt-out, not delivered
 *     an unlinked email 'opened' after them goes to attempt 2: 10, 5, 4 and 3
 *     were not sent (the latest email that may have been is 2)
 *   6 dialer sent: right_party, promise for D0+3 (linked); an unlinked payment
 *     of 25.00 at D0+2 goes to 6 (the latest attempt of any kind) -> kept
 *   7 dialer sent: promise for D0-2, a date already gone: the payment at D0+2
 *     is too late -> due (now is D0+60), broken
 *   8 dialer sent at D0-5 (out of range): no_answer; not counted
 *   9 dialer sent D0+3 (out of range): an unlinked paid after it goes to it
 */
static void test_hand(void)
{
    struct report_opts o = opts();
    struct report *r = report_new(&o);
    int64_t t = (int64_t)D0 * DAY + 10 * 3600;
    struct report_attempt a[] = {
        att(1, "v", "t1", "email", CHAN_EMAIL, ATTEMPT_SENT, t),
        att(2, "v", "t1", "email", CHAN_EMAIL, ATTEMPT_PLANNED, t + 60),
        att(3, "v", "t1", "email", CHAN_EMAIL, ATTEMPT_FAILED, t + 120),
        att(4, "v", "t1", "email", CHAN_EMAIL, ATTEMPT_DEAD, t + 180),
        att(5, "v", "t1", "email", CHAN_EMAIL, ATTEMPT_CANCELLED, t + 240),
        att(6, "v", "t2", "dialer", CHAN_CALL, ATTEMPT_SENT, t + 3600),
        att(7, "v", "t2", "dialer", CHAN_CALL, ATTEMPT_SENT, t + 3000),
        att(8, "v", "t2", "dialer", CHAN_CALL, ATTEMPT_SENT, t - 5 * DAY),
        att(9, "v", "t2", "dialer", CHAN_CALL, ATTEMPT_SENT, t + 3 * DAY),
        att(10, "v", "t1", "email", CHAN_EMAIL, ATTEMPT_OPTED_OUT, t + 300),
    };
    struct report_outcome v[] = {
        out(1, CHAN_EMAIL, OUTCOME_CLICKED, t + 30),
        out(1, CHAN_EMAIL, OUTCOME_DELIVERED, t + 10),
        out(1, CHAN_EMAIL, OUTCOME_OPENED, t + 20),
        out(2, CHAN_EMAIL, OUTCOME_DELIVERED, t + 70),
        out(0, CHAN_EMAIL, OUTCOME_OPENED, t + 400), /* -> 2: 10 opted out, 5 cancelled */
        out(6, CHAN_CALL, OUTCOME_RIGHT_PARTY, t + 3700),
        out(6, CHAN_CALL, OUTCOME_PROMISE_TO_PAY, t + 3710),
        out(7, CHAN_CALL, OUTCOME_RIGHT_PARTY, t + 3100),
        out(7, CHAN_CALL, OUTCOME_PROMISE_TO_PAY, t + 3110),
        out(8, CHAN_CALL, OUTCOME_NO_ANSWER, t - 5 * DAY + 60),
        out(0, -1, OUTCOME_PAID, t + 2 * DAY),
        out(0, -1, OUTCOME_PAID, t + 3 * DAY + 60),
        out(3, CHAN_EMAIL, OUTCOME_FAILED, t + 130), /* never counts */
    };
    v[6].has_promise = true;
    v[6].promise_date = D0 + 3;
    v[8].has_promise = true;
    v[8].promise_date = D0 - 2;
    v[10].has_amount = true;
    v[10].amount_minor = 2500;
    v[11].has_amount = true;
    v[11].amount_minor = 999;
    struct report_debtor d = { .id = 1, .in_currency = true, .attempts = a,
                               .nattempts = sizeof(a) / sizeof(a[0]), .outcomes = v,
                               .noutcomes = sizeof(v) / sizeof(v[0]) };
    CHECK_INT(report_add_debtor(r, &d), 0);
    CHECK_INT(report_finish(r), 0);
    CHECK_INT(r->nrows, 2);
    const struct report_row *e = row(r, "v", "t1", "email"), *c = row(r, "v", "t2", "dialer");
    CHECK(e && c);
    if (!e || !c)
        goto out;
    CHECK_INT(e->c.planned, 6);
    CHECK_INT(e->c.attempts, 4);  /* 1, 2, 3, 10 */
    CHECK_INT(e->c.delivered, 2); /* 1, 2 */
    CHECK_INT(e->c.contacts, 2);  /* 1 clicked, 2 opened (unlinked) */
    CHECK_INT(e->c.rpc, 1);
    CHECK_INT(e->c.opt_outs, 1);
    CHECK(NEAR(e->c.cost, 4 * 0.01, 1e-12));
    CHECK_INT(c->c.planned, 2);   /* 8 and 9 are outside the day */
    CHECK_INT(c->c.attempts, 2);
    CHECK_INT(c->c.delivered, 2);
    CHECK_INT(c->c.contacts, 2);
    CHECK_INT(c->c.rpc, 2);
    CHECK_INT(c->c.promises, 2);
    CHECK_INT(c->c.promises_due, 2);
    CHECK_INT(c->c.kept, 1);
    CHECK_INT(c->c.payments, 1);  /* the other payment went to attempt 9 */
    CHECK_INT(c->c.recovered_minor, 2500);
    CHECK(NEAR(c->c.cost, 1.0, 1e-12));
    CHECK(NEAR(report_cost_per_recovered(r, &c->c), 1.0 / 25, 1e-12));
    CHECK(NEAR(report_contact_rate(&e->c), 0.5, 1e-12));
    CHECK(NEAR(report_promise_rate(&c->c), 1, 1e-12));
    CHECK(NEAR(report_kept_rate(&c->c), 0.5, 1e-12));
    CHECK(isnan(report_kept_rate(&e->c)));
    CHECK_INT(r->debtors, 1);
    CHECK_INT(r->unattributed_payments, 0);
    /* hours: the emails at 10:00, the calls at 10:50 and 11:00 */
    CHECK_INT(r->nhours, 2);
    CHECK_INT(r->hours[1].attempts[10], 4); /* sorted by channel: dialer, email */
    CHECK_INT(r->hours[1].contacts[10], 2);
    CHECK_INT(r->hours[0].attempts[10] + r->hours[0].attempts[11], 2);
    /* the funnel has both tiers; the total is the sum of the rows (invariant 1) */
    CHECK_INT(r->ntiers, 2);
    CHECK_INT(r->total.attempts, 6);
    CHECK_INT(r->total.recovered_minor, 2500);
    CHECK_INT(r->narms, 1);
    CHECK(r->arms[0].champion); /* the only variant */
    CHECK_INT(r->arms[0].debtors, 1);
    CHECK_INT(r->ncmp, 0);
out:
    report_free(r);
}

/* A promise still running is not due; paid after the deadline is not kept. */
static void test_promise_due(void)
{
    struct report_opts o = opts();
    int64_t t = (int64_t)D0 * DAY + 9 * 3600;
    o.now = t + 4 * DAY; /* the deadline of a promise for D0+3 with 2 grace days: D0+6 */
    struct report *r = report_new(&o);
    struct report_attempt a[] = {
        att(1, "v", "t", "dialer", CHAN_CALL, ATTEMPT_SENT, t),
        att(2, "v", "t", "dialer", CHAN_CALL, ATTEMPT_SENT, t + 60),
    };
    struct report_outcome v[] = {
        out(1, CHAN_CALL, OUTCOME_PROMISE_TO_PAY, t + 10),
        out(2, CHAN_CALL, OUTCOME_PROMISE_TO_PAY, t + 70),
    };
    v[0].has_promise = v[1].has_promise = true;
    v[0].promise_date = D0 + 3;
    v[1].promise_date = D0 - 1; /* deadline D0+2: passed */
    struct report_debtor d = { .id = 1, .in_currency = true, .attempts = a, .nattempts = 2,
                               .outcomes = v, .noutcomes = 2 };
    CHECK_INT(report_add_debtor(r, &d), 0);
    CHECK_INT(report_finish(r), 0);
    CHECK_INT(r->total.promises, 2);
    CHECK_INT(r->total.promises_due, 1);
    CHECK_INT(r->total.kept, 0);
    report_free(r);

    /* paid on the last day of grace: kept; the payment a day later: not */
    for (int late = 0; late < 2; late++) {
        o.now = t + 30 * DAY;
        r = report_new(&o);
        struct report_attempt b[] = { att(1, "v", "t", "dialer", CHAN_CALL, ATTEMPT_SENT, t) };
        struct report_outcome w[] = {
            out(1, CHAN_CALL, OUTCOME_PROMISE_TO_PAY, t + 10),
            out(0, -1, OUTCOME_PAID, (int64_t)(D0 + 5 + late) * DAY + 23 * 3600),
        };
        w[0].has_promise = true;
        w[0].promise_date = D0 + 3;
        struct report_debtor e = { .id = 2, .in_currency = false, .attempts = b,
                                   .nattempts = 1, .outcomes = w, .noutcomes = 2 };
        CHECK_INT(report_add_debtor(r, &e), 0);
        CHECK_INT(report_finish(r), 0);
        CHECK_INT(r->total.kept, !late);
        CHECK_INT(r->total.promises_due, 1);
        /* another currency: counted, not in the amounts */
        CHECK_INT(r->total.payments, 1);
        CHECK_INT(r->total.other_currency, 1);
        CHECK_INT(r->total.recovered_minor, 0);
        CHECK_INT(r->arms[0].s[REPORT_RECOVERY].n, 0);
        report_free(r);
    }
}

/* Outcomes without an attempt id: same kind only, within 30 days, else unattributed. */
static void test_attribution_window(void)
{
    struct report_opts o = opts();
    struct report *r = report_new(&o);
    int64_t t = (int64_t)D0 * DAY + 12 * 3600;
    struct report_attempt a[] = {
        att(1, "v", "t", "email", CHAN_EMAIL, ATTEMPT_SENT, t),
        att(2, "v", "t", "sms", CHAN_SMS, ATTEMPT_SENT, t + 60),
    };
    struct report_outcome v[] = {
        out(0, CHAN_EMAIL, OUTCOME_REPLIED, t + 600),      /* -> 1, not the later sms */
        out(0, CHAN_CALL, OUTCOME_RIGHT_PARTY, t + 600),   /* no call: nowhere */
        out(0, -1, OUTCOME_PAID, t + 31 * DAY),            /* too late: nowhere */
        out(0, CHAN_SMS, OUTCOME_DELIVERED, t + 30),       /* before the sms: nowhere */
    };
    struct report_debtor d = { .id = 1, .in_currency = true, .attempts = a, .nattempts = 2,
                               .outcomes = v, .noutcomes = 4 };
    CHECK_INT(report_add_debtor(r, &d), 0);
    CHECK_INT(report_finish(r), 0);
    const struct report_row *e = row(r, "v", "t", "email"), *s = row(r, "v", "t", "sms");
    CHECK(e && s);
    if (e && s) {
        CHECK_INT(e->c.rpc, 1);
        CHECK_INT(s->c.attempts, 1);
        CHECK_INT(s->c.delivered, 0);
    }
    CHECK_INT(r->total.payments, 0);
    CHECK_INT(r->unattributed_payments, 1);
    /* a debtor without an attempt in the range adds nothing */
    struct report_attempt b[] = { att(3, "v", "t", "email", CHAN_EMAIL, ATTEMPT_SENT, t + DAY) };
    struct report_debtor d2 = { .id = 2, .in_currency = true, .attempts = b, .nattempts = 1 };
    CHECK_INT(report_add_debtor(r, &d2), 0);
    CHECK_INT(r->debtors, 1);
    report_free(r);
}

/* The interval against a direct computation over the debtors. */
static void add_ratio(struct report_sums *s, double y, double m)
{
    s->n += 1;
    s->y += y;
    s->m += m;
    s->yy += y * y;
    s->mm += m * m;
    s->ym += y * m;
}

static double direct_var(const double *y, const double *m, int n)
{
    double sy = 0, sm = 0, ss = 0;
    for (int i = 0; i < n; i++) {
        sy += y[i];
        sm += m[i];
    }
    double R = sy / sm, mbar = sm / n;
    for (int i = 0; i < n; i++)
        ss += (y[i] - R * m[i]) * (y[i] - R * m[i]);
    return ss / ((double)n * (n - 1) * mbar * mbar);
}

static void test_interval(void)
{
    const double ya[] = { 1, 0, 2, 1, 0 }, ma[] = { 2, 1, 3, 1, 2 };
    const double yb[] = { 2, 1, 1, 3 }, mb[] = { 2, 2, 1, 4 };
    struct report_sums a = { 0 }, b = { 0 };
    for (int i = 0; i < 5; i++)
        add_ratio(&a, ya[i], ma[i]);
    for (int i = 0; i < 4; i++)
        add_ratio(&b, yb[i], mb[i]);
    struct report_diff x;
    report_diff_compute(REPORT_CONTACT_RATE, &a, &b, &x);
    double se = sqrt(direct_var(ya, ma, 5) + direct_var(yb, mb, 4));
    CHECK(NEAR(x.champion, 4.0 / 9, 1e-12));
    CHECK(NEAR(x.challenger, 7.0 / 9, 1e-12));
    CHECK(NEAR(x.diff, 3.0 / 9, 1e-12));
    CHECK(NEAR(x.lo, 3.0 / 9 - REPORT_Z95 * se, 1e-12));
    CHECK(NEAR(x.hi, 3.0 / 9 + REPORT_Z95 * se, 1e-12));
    CHECK(x.lo <= x.diff && x.diff <= x.hi); /* invariant 3 */
    CHECK_INT(x.verdict, REPORT_NOT_ENOUGH);  /* 5 and 4 debtors */
    CHECK_INT(x.n_champion, 5);
    CHECK(NEAR(x.den_challenger, 9, 0));

    /* a mean (m = 1 per debtor): the usual s^2 / n per arm */
    struct report_sums c = { 0 }, e = { 0 };
    const double yc[] = { 0, 10, 20 }, ye[] = { 5, 5, 35, 15 };
    for (int i = 0; i < 3; i++)
        add_ratio(&c, yc[i], 1);
    for (int i = 0; i < 4; i++)
        add_ratio(&e, ye[i], 1);
    report_diff_compute(REPORT_RECOVERY, &c, &e, &x);
    double vc = 100.0 / 3, ve = (100 + 100 + 400 + 0) / 3.0 / 4; /* s^2 / n */
    CHECK(NEAR(x.diff, 15 - 10, 1e-9));
    CHECK(NEAR(x.hi - x.diff, REPORT_Z95 * sqrt(vc + ve), 1e-9));
    CHECK(NEAR(x.margin, 1.0, 1e-12)); /* 10 % of the champion's 10 */

    /* one debtor: no interval */
    struct report_sums one = { 0 };
    add_ratio(&one, 1, 1);
    report_diff_compute(REPORT_CONTACT_RATE, &one, &b, &x);
    CHECK(isnan(x.lo) && isnan(x.hi));
    CHECK_INT(x.verdict, REPORT_NOT_ENOUGH);
}

/* The call rule's four answers on arms of 5 attempts per debtor. */
static struct report_sums arm_of(int debtors, int contacted_per_5)
{
    /* every debtor 5 attempts: 3 contacts for k of every 5 debtors, else 1, so
     * the rate varies between debtors and the interval is not degenerate */
    struct report_sums s = { 0 };
    for (int i = 0; i < debtors; i++)
        add_ratio(&s, i % 5 < contacted_per_5 ? 3 : 1, 5);
    return s;
}

static void test_verdicts(void)
{
    struct report_diff x;
    struct report_sums a = arm_of(400, 2), b = arm_of(400, 4), c = arm_of(2000, 2);
    report_diff_compute(REPORT_CONTACT_RATE, &a, &b, &x);
    CHECK_INT(x.verdict, REPORT_BETTER);
    CHECK(x.lo > 0);
    report_diff_compute(REPORT_CONTACT_RATE, &b, &a, &x);
    CHECK_INT(x.verdict, REPORT_WORSE);
    struct report_sums a1 = arm_of(2000, 2);
    report_diff_compute(REPORT_CONTACT_RATE, &a1, &c, &x);
    CHECK(NEAR(x.diff, 0, 1e-12));
    CHECK(x.hi < REPORT_RATE_MARGIN);
    CHECK_INT(x.verdict, REPORT_SAME);
    /* the same difference on 40 debtors a side: too wide to call */
    struct report_sums a2 = arm_of(40, 2), c2 = arm_of(40, 2);
    report_diff_compute(REPORT_CONTACT_RATE, &a2, &c2, &x);
    CHECK(x.hi > REPORT_RATE_MARGIN);
    CHECK_INT(x.verdict, REPORT_NOT_ENOUGH);
    /* 29 debtors: never called, however clear */
    struct report_sums a3 = arm_of(29, 0), b3 = arm_of(400, 5);
    report_diff_compute(REPORT_CONTACT_RATE, &a3, &b3, &x);
    CHECK(x.lo > 0);
    CHECK_INT(x.verdict, REPORT_NOT_ENOUGH);
    CHECK_STR(report_verdict_to_string(REPORT_NOT_ENOUGH), "not enough data yet");
}

/* Champions and tier order: from configured strategies, else by name. */
static struct config *load_config(void)
{
    const char *root = getenv("CADENZA_SOURCE_ROOT");
    char p[4096];
    snprintf(p, sizeof(p), "%s/config/cadenza.yaml", root ? root : ".");
    struct config *cfg = NULL;
    struct diags d = DIAGS_INIT;
    if (config_load(p, NULL, &cfg, &d) < 0) {
        diags_print(&d, stderr);
        exit(2);
    }
    diags_release(&d);
    return cfg;
}

static const char strategy_yaml[] =
    "strategies:\n"
    "  - name: s\n"
    "    match: { dpd: { min: 1, max: 30 } }\n"
    "    windows: { mon-fri: \"10:00-12:00\", sat: closed, sun: closed }\n"
    "    outcomes: { promise_to_pay: { action: pause, grace_days: 5 } }\n"
    "    tiers:\n"
    "      - { name: zeta, channels: [ { channel: email, template: early-email, value: 5 } ],\n"
    "          exit: [ { dpd: 10 } ] }\n"
    "      - { name: alpha, channels: [ { channel: email, template: early-email, value: 5 } ] }\n"
    "    variants:\n"
    "      - { name: old, weight: 60 }\n"
    "      - { name: new, weight: 40 }\n";

static void add_simple(struct report *r, int64_t id, const char *variant, const char *tier,
                       bool contact)
{
    int64_t t = (int64_t)D0 * DAY + 10 * 3600;
    struct report_attempt a[] = { att(id, variant, tier, "email", CHAN_EMAIL, ATTEMPT_SENT, t) };
    struct report_outcome v[] = { out(id, CHAN_EMAIL, OUTCOME_OPENED, t + 60) };
    a[0].strategy = "s";
    struct report_debtor d = { .id = id, .in_currency = true, .attempts = a, .nattempts = 1,
                               .outcomes = v, .noutcomes = contact };
    CHECK_INT(report_add_debtor(r, &d), 0);
}

static void test_champions(void)
{
    struct config *cfg = load_config();
    struct strategy_set *set = NULL;
    struct diags d = DIAGS_INIT;
    int rc = strategy_set_load_buffer(cfg, "t.yaml", strategy_yaml, strlen(strategy_yaml), &set,
                                      &d);
    if (rc < 0)
        diags_print(&d, stderr);
    diags_release(&d);
    CHECK_INT(rc, 0);

    /* configured: the first variant is the champion even with fewer debtors;
     * the ladder orders the tiers (zeta before alpha); grace 5 days */
    struct report_opts o = opts();
    o.strategies = set;
    struct report *r = report_new(&o);
    add_simple(r, 1, "old", "alpha", true);
    for (int i = 2; i < 5; i++)
        add_simple(r, i, "new", i % 2 ? "zeta" : "alpha", false);
    CHECK_INT(report_finish(r), 0);
    CHECK_INT(r->narms, 2);
    CHECK_STR(r->arms[0].variant, "old");
    CHECK(r->arms[0].champion && !r->arms[1].champion);
    CHECK_INT(r->arms[0].grace_days, 5);
    CHECK_STR(r->rows[0].variant, "old"); /* the champion's rows first */
    CHECK_STR(r->rows[1].tier, "zeta");
    CHECK_STR(r->rows[2].tier, "alpha");
    CHECK_INT(r->ncmp, 1);
    CHECK_STR(r->cmp[0].champion, "old");
    CHECK_STR(r->cmp[0].challenger, "new");
    CHECK_INT(r->cmp[0].d[REPORT_CONTACT_RATE].n_challenger, 3);
    CHECK_INT(r->ntiers, 2);
    CHECK_STR(r->tiers[0].tier, "zeta");
    report_free(r);

    /* not configured: `default`, else the most debtors; tiers by name */
    o.strategies = NULL;
    r = report_new(&o);
    add_simple(r, 1, "old", "zeta", true);
    for (int i = 2; i < 5; i++)
        add_simple(r, i, "new", "alpha", false);
    CHECK_INT(report_finish(r), 0);
    CHECK_STR(r->arms[0].variant, "new");
    CHECK(r->arms[0].champion);
    CHECK_INT(r->arms[0].grace_days, REPORT_GRACE_DAYS);
    CHECK_STR(r->tiers[0].tier, "alpha");
    report_free(r);

    strategy_set_free(set);
    config_free(cfg);
}

/* Many random debtors: the totals are the rows' sums and the classes nest. */
static void test_invariants(void)
{
    struct report_opts o = opts();
    o.to = D0 + 2;
    struct report *r = report_new(&o);
    uint64_t x = 88172645463325252ull;
    const char *variants[] = { "a", "b" }, *tiers[] = { "t1", "t2", "t3" };
    const char *chans[] = { "email", "sms", "dialer" };
    const int kinds[] = { CHAN_EMAIL, CHAN_SMS, CHAN_CALL };
    for (int dn = 1; dn <= 300; dn++) {
        struct report_attempt a[6];
        struct report_outcome v[12];
        size_t na = 0, no = 0;
        for (int k = 0; k < 6; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int ch = (int)(x % 3);
            int64_t at = (int64_t)(D0 - 1) * DAY + (int64_t)(x >> 8) % (4 * DAY);
            a[na] = att(dn * 10 + k, variants[dn % 2], tiers[(x >> 4) % 3], chans[ch],
                        kinds[ch], (int)((x >> 20) % _ATTEMPT_STATUS_MAX), at);
            if ((x >> 30) % 2 && no + 2 <= 12) {
                v[no] = out((x >> 31) % 3 ? a[na].id : 0, kinds[ch],
                            (int)((x >> 33) % _OUTCOME_MAX), at + 100);
                v[no].has_promise = v[no].code == OUTCOME_PROMISE_TO_PAY;
                v[no].promise_date = (int32_t)(at / DAY) + 2;
                v[no].has_amount = true;
                v[no].amount_minor = 100;
                no++;
            }
            na++;
        }
        struct report_debtor d = { .id = dn, .in_currency = dn % 3 != 0, .attempts = a,
                                   .nattempts = na, .outcomes = v, .noutcomes = no };
        CHECK_INT(report_add_debtor(r, &d), 0);
    }
    CHECK_INT(report_finish(r), 0);
    struct report_counts sum = { 0 };
    for (size_t i = 0; i < r->nrows; i++) {
        const struct report_counts *c = &r->rows[i].c;
        CHECK(c->attempts <= c->planned);
        CHECK(c->delivered <= c->attempts && c->contacts <= c->delivered);
        CHECK(c->rpc <= c->contacts && c->promises <= c->rpc);
        CHECK(c->kept <= c->promises_due && c->promises_due <= c->promises);
        sum.attempts += c->attempts;
        sum.contacts += c->contacts;
        sum.payments += c->payments;
        sum.recovered_minor += c->recovered_minor;
    }
    CHECK_INT(sum.attempts, r->total.attempts);
    CHECK_INT(sum.contacts, r->total.contacts);
    CHECK_INT(sum.payments, r->total.payments);
    CHECK_INT(sum.recovered_minor, r->total.recovered_minor);
    int64_t arm_attempts = 0, tier_attempts = 0;
    for (size_t i = 0; i < r->narms; i++)
        arm_attempts += r->arms[i].c.attempts;
    for (size_t i = 0; i < r->ntiers; i++)
        tier_attempts += r->tiers[i].c.attempts;
    CHECK_INT(arm_attempts, r->total.attempts);
    CHECK_INT(tier_attempts, r->total.attempts);
    CHECK(r->total.attempts > 100);
    report_free(r);
}

/* JSON parses back with the same figures; CSV quotes; HTML escapes. */
static char *render(const struct report *r, enum report_format fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK_INT(report_render(r, fmt, f), 0);
    fclose(f);
    return buf;
}

static void test_render(void)
{
    struct report_opts o = opts();
    struct report *r = report_new(&o);
    int64_t t = (int64_t)D0 * DAY + 10 * 3600;
    struct report_attempt a[] = {
        att(1, "v,\"x\"", "<b>tier</b>", "email", CHAN_EMAIL, ATTEMPT_SENT, t),
        att(2, "v,\"x\"", "<b>tier</b>", "email", CHAN_EMAIL, ATTEMPT_SENT, t + 60),
    };
    struct report_outcome v[] = { out(1, CHAN_EMAIL, OUTCOME_PAID, t + 60) };
    v[0].has_amount = true;
    v[0].amount_minor = 12345;
    struct report_debtor d = { .id = 1, .in_currency = true, .attempts = a, .nattempts = 2,
                               .outcomes = v, .noutcomes = 1 };
    CHECK_INT(report_add_debtor(r, &d), 0);
    CHECK_INT(report_finish(r), 0);

    char *js = render(r, REPORT_FORMAT_JSON);
    json_error_t err;
    json_t *j = json_loads(js, 0, &err);
    CHECK(j != NULL);
    if (j) {
        json_t *w = json_array_get(json_object_get(j, "rows"), 0);
        CHECK_STR(json_string_value(json_object_get(w, "variant")), "v,\"x\"");
        CHECK_INT(json_integer_value(json_object_get(w, "attempts")), 2);
        CHECK(NEAR(json_real_value(json_object_get(w, "recovered")), 123.45, 1e-9));
        CHECK(NEAR(json_real_value(json_object_get(w, "contact_rate")), 0.5, 1e-12));
        CHECK(json_is_null(json_object_get(w, "kept_rate")));
        CHECK(NEAR(json_real_value(json_object_get(w, "cost_per_recovered")), 0.02 / 123.45,
                   1e-6));
        CHECK_STR(json_string_value(json_object_get(j, "from")), "2024-10-04");
        CHECK_STR(json_string_value(json_object_get(j, "to")), "2024-10-04");
        json_decref(j);
    }
    free(js);

    char *csv = render(r, REPORT_FORMAT_CSV);
    CHECK(strstr(csv, "\r\ns,\"v,\"\"x\"\"\",champion,<b>tier</b>,email,email,2,2,1,1,1,0,0,0,1,"
                      "123.45,0.020000,0,0.500000,0.500000,0.500000,0.000000,,0.000162\r\n") !=
          NULL);
    free(csv);

    char *html = render(r, REPORT_FORMAT_HTML);
    CHECK(strstr(html, "&lt;b&gt;tier&lt;/b&gt;") != NULL);
    CHECK(strstr(html, "<b>tier") == NULL);
    CHECK(strstr(html, "<script") == NULL && strstr(html, "http://") == NULL &&
          strstr(html, "https://") == NULL);
    CHECK(strstr(html, "<td class=\"n\" data-k=\"recovered\">123.45</td>") != NULL);
    free(html);

    char *tab = render(r, REPORT_FORMAT_TABLE);
    CHECK(strstr(tab, "123.45") != NULL);
    free(tab);
    CHECK_INT(report_format_from_string("html"), REPORT_FORMAT_HTML);
    CHECK_INT(report_format_from_string("xml"), _REPORT_FORMAT_INVALID);
    report_free(r);
}

TEST_MAIN({ "hand", test_hand }, { "promise_due", test_promise_due },
          { "attribution_window", test_attribution_window }, { "interval", test_interval },
          { "verdicts", test_verdicts }, { "champions", test_champions },
          { "invariants", test_invariants }, { "render", test_render })
