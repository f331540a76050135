/*
 * fuzz-yaml.c - feeds arbitrary bytes to every YAML-facing loader: the
 * tree builder (ydoc_parse), the configuration loader (config_load, via a
 * memfd because config.h has no from-buffer entry point), the strategy
 * loader (strategy_set_load_buffer, against a fixed in-memory config with
 * the shipped channels and profiles) and, as plain text, the template
 * parser and renderer and day_ranges_parse.  Must never crash, hang or
 * leak.
 *
 * Built with -fsanitize=fuzzer under clang -Dfuzz=true; otherwise linked
 * with replay.c so that every build replays the seed corpus.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "debtor.h"
#include "strategy.h"
#include "ynode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config fuzz_cfg;
static struct channel_conf fuzz_channels[5];
static struct profile fuzz_profiles[3];
static char *us[] = { (char *)"US" }, *es[] = { (char *)"ES" }, *gb[] = { (char *)"GB" };

/* The shipped config/cadenza.yaml and profiles, without touching files. */
static void fuzz_init(void)
{
    static const struct {
        const char *name;
        enum chan_kind kind;
    } chans[5] = {
        { "email", CHAN_EMAIL }, { "sms", CHAN_SMS },       { "bot", CHAN_CHAT },
        { "dialer", CHAN_CALL }, { "letter", CHAN_LETTER },
    };
    for (size_t i = 0; i < 5; i++)
        fuzz_channels[i] = (struct channel_conf){ .name = (char *)chans[i].name,
                                                  .plugin = (char *)"log",
                                                  .kind = chans[i].kind };
    static const char *const hours[3][7] = {
        { "08:00-21:00", "08:00-21:00", "08:00-21:00", "08:00-21:00", "08:00-21:00",
          "08:00-21:00", "08:00-21:00" },
        { "09:00-21:00", "09:00-21:00", "09:00-21:00", "09:00-21:00", "09:00-21:00", "", "" },
        { "08:00-21:00", "08:00-21:00", "08:00-21:00", "08:00-21:00", "08:00-21:00",
          "08:00-21:00", "" },
    };
    static const char *const names[3] = { "us-regf", "es", "uk-fca" };
    char **countries[3] = { us, es, gb };
    for (size_t p = 0; p < 3; p++) {
        struct profile *pr = &fuzz_profiles[p];
        pr->name = (char *)names[p];
        pr->countries = countries[p];
        pr->ncountries = 1;
        for (int w = 0; w < 7; w++) {
            char err[128];
            if (*hours[p][w] && day_ranges_parse(hours[p][w], &pr->legal[w], err, sizeof(err)) < 0)
                abort();
        }
    }
    fuzz_cfg.channels = fuzz_channels;
    fuzz_cfg.nchannels = 5;
    fuzz_cfg.profiles = fuzz_profiles;
    fuzz_cfg.nprofiles = 3;
    fuzz_cfg.template_dir = NULL; /* template names are not resolved */
}

static void fuzz_config(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-config.yaml", MFD_CLOEXEC);
    if (fd < 0)
        return;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct diags d = DIAGS_INIT;
    struct config *c = NULL;
    struct config_overrides ov = { 0 };
    if (config_load(path, &ov, &c, &d) == 0)
        config_free(c);
    diags_release(&d);
    close(fd);
}

static void fuzz_text(const uint8_t *data, size_t size)
{
    struct diags d = DIAGS_INIT;
    struct template_set *ts = template_set_new("en");
    if (ts && template_set_add(ts, "fuzz.es.txt", (const char *)data, size, &d) == 0) {
        struct template_vars v;
        for (int i = 0; i < _TPL_VAR_MAX; i++)
            v.v[i] = "v{{x}}<&>\n";
        const struct template *t = template_set_find(ts, "fuzz", "es-ES", NULL);
        struct template_parts parts;
        if (t && template_render(t, &v, &parts) == 0) {
            struct sms_count sc;
            template_sms_count(parts.text, strlen(parts.text), &sc);
            template_parts_release(&parts);
        }
    }
    template_set_free(ts);
    diags_release(&d);

    if (size < 256) {
        char s[256], err[128];
        memcpy(s, data, size);
        s[size] = 0;
        struct day_ranges dr;
        if (day_ranges_parse(s, &dr, err, sizeof(err)) == 0) {
            char out[256];
            day_ranges_format(&dr, out, sizeof(out));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    if (!inited) {
        fuzz_init();
        inited = 1;
    }
    if (size > (1 << 20))
        return 0;

    struct diags d = DIAGS_INIT;
    struct ydoc *doc = NULL;
    if (ydoc_parse("fuzz.yaml", (const char *)data, size, &doc, &d) == 0)
        ydoc_free(doc);
    diags_release(&d);

    struct strategy_set *s = NULL;
    if (strategy_set_load_buffer(&fuzz_cfg, "fuzz.yaml", (const char *)data, size, &s, &d) == 0) {
        /* Walk what the planner would: every strategy, variant and tier. */
        struct debtor_rec r = { .country = "US", .segment = "retail", .tags = "a;b" };
        for (int dpd = -20; dpd < 200; dpd += 7) {
            const struct strategy *st = strategy_set_match(s, &r, dpd);
            if (!st)
                continue;
            const struct variant *v = strategy_pick_variant(st, (uint64_t)dpd * 7919u);
            int t = variant_start_tier(v, dpd);
            if (t < 0 || (size_t)t >= v->ntiers)
                abort();
            for (size_t i = 0; i < v->tiers[t].nexits; i++)
                if (v->tiers[t].exits[i].to >= (int)v->ntiers ||
                    (v->tiers[t].exits[i].to < 0 &&
                     v->tiers[t].exits[i].to != TIER_NO_CONTACT))
                    abort(); /* invariant 1 of strategy.c */
        }
        strategy_set_free(s);
    }
    diags_release(&d);

    fuzz_config(data, size);
    fuzz_text(data, size);
    return 0;
}
