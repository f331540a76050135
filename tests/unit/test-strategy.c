/*
 * test-strategy.c - the strategy loader: the shipped strategies resolve
 * to the structs the planner expects, every tests/data/invalid/ case
 * yields exactly its expected.txt, and matching, variant picking and
 * templates behave.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cadenza-config.h"
#include "config.h"
#include "debtor.h"
#include "strategy.h"
#include "testlib.h"

static char srcroot[PATH_MAX];

static const char *src(const char *rel)
{
    static char buf[PATH_MAX * 2];
    snprintf(buf, sizeof(buf), "%s/%s", srcroot, rel);
    return buf;
}

static struct config *load_config(const char *path)
{
    struct diags d = DIAGS_INIT;
    struct config *c = NULL;
    int r = config_load(path, NULL, &c, &d);
    if (r < 0) {
        diags_print(&d, stderr);
        fprintf(stderr, "config_load(%s): %d\n", path, r);
    }
    diags_release(&d);
    return c;
}

static int chan(const struct config *c, const char *name)
{
    const struct channel_conf *ch = config_channel(c, name);
    return ch ? (int)(ch - c->channels) : -100;
}

static const struct strategy *find(const struct strategy_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (streq(s->v[i].name, name))
            return &s->v[i];
    return NULL;
}

static void test_shipped(void)
{
    struct config *c = load_config(src("config/cadenza.yaml"));
    CHECK(c);
    if (!c)
        return;
    struct diags d = DIAGS_INIT;
    struct strategy_set *s = NULL;
    int r = strategy_set_load(c, NULL, 0, &s, &d);
    diags_print(&d, stderr);
    CHECK_INT(r, 0);
    CHECK_INT(d.nerrors, 0);
    CHECK_INT(d.nwarnings, 0);
    if (!s)
        goto out;
    CHECK(s->n >= 5);
    CHECK(template_set_count(s->templates) >= 10);

    const struct strategy *e = find(s, "early-us-uk");
    CHECK(e);
    if (!e)
        goto out;
    CHECK_INT(e->priority, 100);
    CHECK_INT(e->match.dpd_min, 1);
    CHECK_INT(e->match.dpd_max, 30);
    CHECK_INT(e->match.ncountries, 2);
    CHECK_STR(e->match.countries[0], "US");
    CHECK_STR(e->match.countries[1], "GB");
    CHECK_INT(e->match.flags_excluded, DEBTOR_HARDSHIP | DEBTOR_VULNERABLE);
    CHECK_INT(e->match.flags_required, 0);
    CHECK(e->match.balance_max < 0);
    CHECK_INT(e->nvariants, 2);
    const struct variant *v = &e->variants[0];
    CHECK_STR(v->name, "champion");
    CHECK_INT(v->weight, 80);
    CHECK_INT(e->variants[1].weight, 20);
    CHECK_INT(v->ntiers, 2);
    const struct tier *t = &v->tiers[0];
    CHECK_STR(t->name, "soft-digital");
    CHECK_INT(t->index, 0);
    CHECK_INT(t->choose, TIER_CHOOSE_MODEL);
    CHECK(t->asks_payment);
    CHECK_INT(t->nch, 2);
    CHECK_INT(t->ch[0].channel, chan(c, "email"));
    CHECK_INT(t->ch[1].channel, chan(c, "sms"));
    CHECK_STR(t->ch[0].template_name, "early-email");
    CHECK(template_set_has(s->templates, "early-email"));
    CHECK(t->ch[0].value == 20.0);
    CHECK_INT(t->ch[1].min_gap_minutes, 48 * 60);
    CHECK_INT(t->ch[1].max_attempts, 4);
    CHECK_INT(t->min_gap_minutes, 24 * 60);
    CHECK_INT(t->max_attempts, 8);
    CHECK_INT(t->ncaps, 1);
    CHECK_INT(t->caps[0].channel, chan(c, "sms"));
    CHECK_INT(t->caps[0].max, 3);
    CHECK_INT(t->caps[0].days, 7);
    /* mon-fri "09:00-12:30, 17:00-20:30", sat "10:00-14:00", sun closed */
    for (int w = 0; w < 5; w++) {
        CHECK_INT(t->windows[w].n, 2);
        CHECK_INT(t->windows[w].r[0].start, 9 * 60);
        CHECK_INT(t->windows[w].r[0].end, 12 * 60 + 30);
        CHECK_INT(t->windows[w].r[1].start, 17 * 60);
        CHECK_INT(t->windows[w].r[1].end, 20 * 60 + 30);
    }
    CHECK_INT(t->windows[5].n, 1);
    CHECK_INT(t->windows[5].r[0].start, 600);
    CHECK_INT(t->windows[6].n, 0);
    CHECK_INT(t->nexits, 3);
    CHECK_INT(t->exits[0].trigger, TIER_ON_ATTEMPTS);
    CHECK_INT(t->exits[0].n, 5);
    CHECK_INT(t->exits[0].to, 1);
    CHECK_INT(t->exits[1].trigger, TIER_ON_DAYS);
    CHECK_INT(t->exits[1].n, 14);
    CHECK_INT(t->exits[2].trigger, TIER_ON_BROKEN_PROMISE);
    CHECK_INT(t->exits[2].to, 1);
    CHECK_INT(t->entry_dpd, INT32_MIN);
    CHECK_INT(v->on[STRATEGY_OUTCOME_PROMISE_TO_PAY].action, STRATEGY_ACTION_PAUSE);
    CHECK_INT(v->on[STRATEGY_OUTCOME_PROMISE_TO_PAY].grace_days, 3);
    CHECK_INT(v->on[STRATEGY_OUTCOME_REFUSED].action, STRATEGY_ACTION_ESCALATE);
    CHECK_INT(v->on[STRATEGY_OUTCOME_REFUSED].to, 1);
    CHECK_INT(v->on[STRATEGY_OUTCOME_PAID].action, STRATEGY_ACTION_STOP);
    CHECK_INT(v->on[STRATEGY_OUTCOME_DISPUTE].action, STRATEGY_ACTION_HOLD);
    CHECK_INT(v->on[STRATEGY_OUTCOME_OPT_OUT].action, STRATEGY_ACTION_SUPPRESS_CHANNEL);
    CHECK_INT(v->on[STRATEGY_OUTCOME_WRONG_NUMBER].action, STRATEGY_ACTION_INVALIDATE_ADDRESS);
    CHECK(v->no_contact.enabled);
    CHECK_INT(v->no_contact.after_attempts, 10);
    CHECK_INT(v->no_contact.rotate_days, 7);
    CHECK(v->no_contact.investigate_address);
    CHECK_INT(v->no_contact.tier.min_gap_minutes, 7 * 24 * 60);
    CHECK_INT(v->no_contact.tier.nch, 2);
    CHECK_INT(v->no_contact.tier.index, -1);
    CHECK(v->params.exploration > 0.09 && v->params.exploration < 0.11);
    CHECK(variant_tier(v, "bot") == &v->tiers[1]);
    CHECK(variant_tier(v, "no-contact") == &v->no_contact.tier);
    CHECK(variant_tier(v, "nope") == NULL);

    /* The challenger replaces the ladder and the outcomes, inherits the rest. */
    const struct variant *ch = &e->variants[1];
    CHECK_STR(ch->name, "bot-early");
    CHECK_INT(ch->ntiers, 1);
    CHECK_STR(ch->tiers[0].name, "digital-and-bot");
    CHECK_INT(ch->tiers[0].windows[5].n, 1); /* strategy-level windows */
    CHECK_INT(ch->on[STRATEGY_OUTCOME_REFUSED].action, STRATEGY_ACTION_CONTINUE);
    CHECK(ch->no_contact.enabled);

    /* mid: a kind-wide cap, an entry by dpd and an exit to the no-contact track. */
    const struct strategy *m = find(s, "mid");
    CHECK(m);
    if (m) {
        const struct variant *mv = &m->variants[0];
        CHECK_STR(mv->name, "default");
        CHECK_INT(mv->weight, 100);
        const struct tier *ac = variant_tier(mv, "agent-calls");
        CHECK(ac);
        if (ac) {
            CHECK_INT(ac->entry_dpd, 45);
            CHECK_INT(ac->caps[0].channel, -1);
            CHECK_INT(ac->caps[0].kind, CHAN_CALL);
            CHECK_INT(ac->caps[0].max, 7);
            CHECK_INT(ac->exits[0].to, TIER_NO_CONTACT);
        }
        CHECK_INT(variant_start_tier(mv, 31), 0);
        CHECK_INT(variant_start_tier(mv, 45), 1);
        CHECK_INT(variant_start_tier(mv, 90), 1);
        CHECK_INT(mv->on[STRATEGY_OUTCOME_REFUSED].to, 1);
    }
    const struct strategy *late = find(s, "late");
    if (late) {
        CHECK_INT(late->match.dpd_max, STRATEGY_DPD_MAX);
        CHECK_INT(variant_start_tier(&late->variants[0], 100), 0);
        CHECK_INT(variant_start_tier(&late->variants[0], 400), 2);
    }
    const struct strategy *h = find(s, "hardship");
    CHECK(h);
    if (h) {
        CHECK_INT(h->match.flags_any, DEBTOR_HARDSHIP | DEBTOR_VULNERABLE);
        CHECK_INT(h->variants[0].on[STRATEGY_OUTCOME_OPT_OUT].action,
                  STRATEGY_ACTION_SUPPRESS_ALL);
        CHECK_INT(h->variants[0].on[STRATEGY_OUTCOME_BOUNCED].action, STRATEGY_ACTION_CONTINUE);
        CHECK(h->variants[0].params.exploration == 0);
        /* No bot and no SMS for vulnerable customers. */
        for (size_t i = 0; i < h->variants[0].ntiers; i++)
            for (size_t k = 0; k < h->variants[0].tiers[i].nch; k++) {
                int ci = h->variants[0].tiers[i].ch[k].channel;
                CHECK(c->channels[ci].kind != CHAN_CHAT && c->channels[ci].kind != CHAN_SMS);
            }
    }
out:
    strategy_set_free(s);
    diags_release(&d);
    config_free(c);
}

static void test_match(void)
{
    struct config *c = load_config(src("config/cadenza.yaml"));
    CHECK(c);
    if (!c)
        return;
    struct diags d = DIAGS_INIT;
    struct strategy_set *s = NULL;
    CHECK_INT(strategy_set_load(c, NULL, 0, &s, &d), 0);
    if (!s)
        goto out;
    struct debtor_rec r = { .country = "US", .balance_minor = 50000 };
    const struct strategy *st;
#define MATCH(dpd, want)                                  \
    do {                                                  \
        st = strategy_set_match(s, &r, dpd);              \
        CHECK_STR(st ? st->name : "(none)", want);        \
    } while (0)
    MATCH(-10, "preventive");
    MATCH(-11, "(none)");
    MATCH(0, "preventive");
    MATCH(1, "early-us-uk");
    MATCH(30, "early-us-uk");
    MATCH(31, "mid");
    MATCH(91, "late");
    MATCH(5000, "late");
    r.country = "GB";
    MATCH(12, "early-us-uk");
    r.country = "ES";
    MATCH(12, "early-es");
    r.flags = DEBTOR_VULNERABLE;
    MATCH(12, "hardship");
    MATCH(-5, "hardship");
    r.flags = DEBTOR_VULNERABLE | DEBTOR_DISPUTE;
    MATCH(12, "(none)");
    r.flags = DEBTOR_DISPUTE;
    MATCH(12, "early-es");
#undef MATCH

    /* Variants: deterministic, 80/20 over the buckets. */
    st = find(s, "early-us-uk");
    int champion = 0;
    for (uint64_t k = 0; k < 1000; k++) {
        const struct variant *v = strategy_pick_variant(st, k);
        champion += streq(v->name, "champion");
        CHECK(v == strategy_pick_variant(st, k));
    }
    CHECK_INT(champion, 800);
    CHECK_STR(strategy_pick_variant(st, 79)->name, "champion");
    CHECK_STR(strategy_pick_variant(st, 80)->name, "bot-early");
out:
    strategy_set_free(s);
    diags_release(&d);
    config_free(c);
}

/* Diagnostics and summary, exactly as `cadenza validate` prints them. */
static char *render_diags(struct diags *d, const char *strip)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    diags_sort(d);
    diags_print(d, f);
    if (d->nerrors + d->nwarnings)
        fprintf(f, "%zu error%s, %zu warning%s\n", d->nerrors, d->nerrors == 1 ? "" : "s",
                d->nwarnings, d->nwarnings == 1 ? "" : "s");
    fclose(f);
    /* Remove every occurrence of strip (the case directory prefix). */
    size_t sl = strlen(strip);
    char *o = buf;
    for (char *p = buf; *p;) {
        if (sl && strncmp(p, strip, sl) == 0) {
            p += sl;
            continue;
        }
        *o++ = *p++;
    }
    *o = 0;
    return buf;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int ch;
    while ((ch = fgetc(f)) != EOF)
        fputc(ch, m);
    fclose(f);
    fclose(m);
    return buf;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_case(const char *dir, const char *name)
{
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    CHECK_INT(chdir(dir), 0);
    char *strip = strdupf("%s/", dir);
    char *cfgpath = access("cadenza.yaml", F_OK) == 0 ? strdupf("%s/cadenza.yaml", dir)
                                                       : strdup(src("config/cadenza.yaml"));
    CHECK(strip && cfgpath);

    char *files[16];
    size_t nfiles = 0;
    DIR *dp = opendir(".");
    struct dirent *de;
    while (dp && (de = readdir(dp)) && nfiles < 16) {
        size_t l = strlen(de->d_name);
        if (l > 5 && streq(de->d_name + l - 5, ".yaml") && !streq(de->d_name, "cadenza.yaml"))
            files[nfiles++] = strdup(de->d_name);
    }
    if (dp)
        closedir(dp);
    qsort(files, nfiles, sizeof(files[0]), cmp_names);

    struct diags d = DIAGS_INIT;
    struct config *c = NULL;
    struct strategy_set *s = NULL;
    int r = config_load(cfgpath, NULL, &c, &d);
    CHECK_INT(r, 0);
    if (r == 0) {
        r = strategy_set_load(c, (const char *const *)files, nfiles, &s, &d);
        CHECK_INT(r, -EINVAL);
        CHECK(s == NULL);
    }
    char *got = render_diags(&d, strip);
    char *want = slurp("expected.txt");
    CHECK(want != NULL);
    if (want && !streq(got, want)) {
        fprintf(stderr, "case %s: diagnostics differ\n--- expected\n%s--- got\n%s", name, want,
                got);
        test_failures++;
    }
    free(got);
    free(want);
    free(strip);
    free(cfgpath);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    strategy_set_free(s);
    config_free(c);
    diags_release(&d);
    CHECK_INT(chdir(cwd), 0);
}

static void test_invalid_cases(void)
{
    char *base = strdup(src("tests/data/invalid"));
    DIR *dp = opendir(base);
    CHECK(dp);
    if (!dp) {
        free(base);
        return;
    }
    char *names[128];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dp)) && n < 128)
        if (de->d_name[0] != '.')
            names[n++] = strdup(de->d_name);
    closedir(dp);
    qsort(names, n, sizeof(names[0]), cmp_names);
    CHECK(n >= 15);
    for (size_t i = 0; i < n; i++) {
        char *dir = strdupf("%s/%s", base, names[i]);
        run_case(dir, names[i]);
        free(dir);
        free(names[i]);
    }
    free(base);
}

/* A config in memory: what the fuzzer and these tests use without files. */
static const char *const strategy_ok =
    "strategies:\n"
    "  - name: s\n"
    "    windows: { mon-fri: \"09:00-17:00\" }\n"
    "    tiers:\n"
    "      - name: a\n"
    "        channels: [ { channel: email, template: anything, value: 1 } ]\n"
    "        exit: [ { days_in_tier: 3 } ]\n"
    "      - name: b\n"
    "        channels: [ { channel: sms, template: anything, value: 1 } ]\n";

static void test_buffer(void)
{
    struct config *c = load_config(src("config/cadenza.yaml"));
    CHECK(c);
    if (!c)
        return;
    /* Without a template directory, template names are not resolved. */
    char *tdir = c->template_dir;
    c->template_dir = NULL;
    struct diags d = DIAGS_INIT;
    struct strategy_set *s = NULL;
    CHECK_INT(strategy_set_load_buffer(c, "mem.yaml", strategy_ok, strlen(strategy_ok), &s, &d),
              0);
    diags_print(&d, stderr);
    CHECK(s && s->n == 1);
    if (s) {
        CHECK(s->templates == NULL); /* no template directory: references unchecked */
        CHECK_INT(s->v[0].variants[0].tiers[0].exits[0].to, 1);
        CHECK_STR(s->v[0].file, "mem.yaml");
        CHECK_INT(s->v[0].line, 2);
        CHECK_INT(s->v[0].col, 11);
    }
    strategy_set_free(s);
    s = NULL;
    diags_release(&d);

    /* A syntax error: reported, -EINVAL, nothing handed out. */
    const char *bad = "strategies: [\n";
    CHECK_INT(strategy_set_load_buffer(c, "bad.yaml", bad, strlen(bad), &s, &d), -EINVAL);
    CHECK(s == NULL);
    CHECK_INT(d.nerrors, 1);
    diags_release(&d);

    /* Earlier errors in d (e.g. from the config) do not fail a good load. */
    diag_error(&d, "x", 1, 1, "earlier");
    CHECK_INT(strategy_set_load_buffer(c, "mem.yaml", strategy_ok, strlen(strategy_ok), &s, &d),
              0);
    strategy_set_free(s);
    diags_release(&d);
    c->template_dir = tdir;
    config_free(c);
    strategy_set_free(NULL);
}

static void test_enums(void)
{
    for (int i = 0; i < _STRATEGY_OUTCOME_MAX; i++)
        CHECK_INT(strategy_outcome_from_string(strategy_outcome_to_string(i)), i);
    for (int i = 0; i < _STRATEGY_ACTION_MAX; i++)
        CHECK_INT(strategy_action_from_string(strategy_action_to_string(i)), i);
    CHECK_INT(strategy_outcome_from_string("nope"), _STRATEGY_OUTCOME_INVALID);
    CHECK_STR(tier_trigger_to_string(TIER_ON_DPD), "dpd");
}

static void setup(void)
{
    const char *root = getenv("CADENZA_SOURCE_ROOT");
    snprintf(srcroot, sizeof(srcroot), "%s", root ? root : CADENZA_SOURCE_ROOT);
}

static void t_shipped(void) { setup(); test_shipped(); }
static void t_match(void) { setup(); test_match(); }
static void t_invalid(void) { setup(); test_invalid_cases(); }
static void t_buffer(void) { setup(); test_buffer(); }

/* Balance ranges are in major units of the debtor's own currency. */
static void test_balance_currency(void)
{
    static const char yaml[] =
        "strategies:\n"
        "  - name: mid-balance\n"
        "    match:\n"
        "      balance: { min: 500, max: 5000 }\n"
        "    windows:\n"
        "      mon-fri: \"09:00-20:00\"\n"
        "    tiers:\n"
        "      - name: a\n"
        "        channels: [ { channel: email, template: anything, value: 1 } ]\n";
    setup();
    struct config *c = load_config(src("config/cadenza.yaml"));
    CHECK(c);
    if (!c)
        return;
    char *tdir = c->template_dir;
    c->template_dir = NULL;
    struct diags d = DIAGS_INIT;
    struct strategy_set *s = NULL;
    CHECK_INT(strategy_set_load_buffer(c, "mem.yaml", yaml, strlen(yaml), &s, &d), 0);
    diags_print(&d, stderr);
    if (s) {
        struct debtor_rec r = { .country = "JP", .currency = "JPY", .balance_minor = 1000 };
        CHECK(strategy_matches(&s->v[0], &r, 10));  /* 1000 yen */
        r.currency = "EUR";
        CHECK(!strategy_matches(&s->v[0], &r, 10)); /* 10.00 euro */
        r.balance_minor = 100000;
        CHECK(strategy_matches(&s->v[0], &r, 10));  /* 1000.00 euro */
        r.currency = "KWD";
        CHECK(!strategy_matches(&s->v[0], &r, 10)); /* 100.000 dinar */
    }
    strategy_set_free(s);
    diags_release(&d);
    c->template_dir = tdir;
    config_free(c);
}


/* offers: the strategy's block is every tier's default; a tier's keys refine it. */
static void test_offers(void)
{
    static const char yaml[] =
        "strategies:\n"
        "  - name: late\n"
        "    offers: { plan_max_instalments: 6, fee_waiver: true }\n"
        "    windows:\n"
        "      mon-fri: \"09:00-20:00\"\n"
        "    no_contact:\n"
        "      after_attempts: 3\n"
        "      channels: [ { channel: email, template: anything, value: 1 } ]\n"
        "    tiers:\n"
        "      - name: a\n"
        "        channels: [ { channel: email, template: anything, value: 1 } ]\n"
        "        exit: [ { days_in_tier: 3 } ]\n"
        "      - name: b\n"
        "        channels: [ { channel: dialer, template: anything, value: 1 } ]\n"
        "        offers: { plan_max_instalments: 0, move_due_date: true }\n"
        "    variants:\n"
        "      - { name: champion, weight: 50 }\n"
        "      - name: own\n"
        "        weight: 50\n"
        "        tiers:\n"
        "          - name: c\n"
        "            channels: [ { channel: dialer, template: anything, value: 1 } ]\n"
        "  - name: none\n"
        "    priority: 5\n"
        "    windows:\n"
        "      mon-fri: \"09:00-20:00\"\n"
        "    tiers:\n"
        "      - name: x\n"
        "        channels: [ { channel: email, template: anything, value: 1 } ]\n";
    setup();
    struct config *c = load_config(src("config/cadenza.yaml"));
    CHECK(c);
    if (!c)
        return;
    char *tdir = c->template_dir;
    c->template_dir = NULL;
    struct diags d = DIAGS_INIT;
    struct strategy_set *s = NULL;
    CHECK_INT(strategy_set_load_buffer(c, "mem.yaml", yaml, strlen(yaml), &s, &d), 0);
    diags_print(&d, stderr);
    CHECK(s && s->n == 2);
    if (s && s->n == 2) {
        const struct variant *v = &s->v[0].variants[0];
        const struct tier_offers *a = &v->tiers[0].offers, *b = &v->tiers[1].offers;
        CHECK_INT(a->plan_max_instalments, 6);
        CHECK(a->fee_waiver && !a->move_due_date);
        CHECK_INT(b->plan_max_instalments, 0); /* the tier takes the plan away */
        CHECK(b->fee_waiver && b->move_due_date);
        CHECK_INT(v->no_contact.tier.offers.plan_max_instalments, 6);
        const struct tier_offers *o = &s->v[0].variants[1].tiers[0].offers;
        CHECK_INT(o->plan_max_instalments, 6); /* a variant's own ladder: the strategy's */
        CHECK(o->fee_waiver);
        o = &s->v[1].variants[0].tiers[0].offers;
        CHECK(o->plan_max_instalments == 0 && !o->fee_waiver && !o->move_due_date);
    }
    strategy_set_free(s);
    diags_release(&d);
    c->template_dir = tdir;
    config_free(c);
}

TEST_MAIN({ "offers", test_offers }, { "balance_currency", test_balance_currency }, { "shipped", t_shipped }, { "match", t_match }, { "invalid-cases", t_invalid },
          { "buffer", t_buffer }, { "enums", test_enums })
