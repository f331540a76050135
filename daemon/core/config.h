/*
 * config.h - the daemon's configuration: cadenza.yaml plus the
 * jurisdiction profiles and holiday calendars it points at.
 *
 * Precedence for the two most used settings: --store/--redis flag over
 * CADENZA_STORE/CADENZA_REDIS over the file.  Relative paths in the file
 * are resolved against the directory holding the file.
 */
#ifndef CADENZA_CONFIG_H
#define CADENZA_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

struct cz_channel_plugin;
struct plugin_set;
struct plugin_settings;

#include "diag.h"
#include "ynode.h"

struct link_conf;
struct api_conf;
struct inbound_conf;
struct page_conf;
struct template_rules;

/* Channel kinds: codes stored in the database, append-only. */
enum chan_kind {
    CHAN_EMAIL = 0,
    CHAN_SMS = 1,
    CHAN_CHAT = 2,   /* conversational bot */
    CHAN_CALL = 3,   /* dialer / agent call */
    CHAN_LETTER = 4, /* postal / hand-off */
    _CHAN_KIND_MAX,
    _CHAN_KIND_INVALID = -22,
};
const char *chan_kind_to_string(enum chan_kind k);
enum chan_kind chan_kind_from_string(const char *s);

/* A local time range [start, end) in minutes after midnight; end <= 1440. */
struct time_range {
    int16_t start, end;
};

#define DAY_RANGES_MAX 8
/* Ranges of one weekday, sorted and non-overlapping. */
struct day_ranges {
    struct time_range r[DAY_RANGES_MAX];
    uint8_t n;
};

/*
 * Parse "09:00-13:00, 16:00-20:00" (also "24:00" as an end).  On error
 * returns -EINVAL and a message in err (no position: the caller knows it).
 * Empty ranges, end before start and overlaps are errors.
 */
int day_ranges_parse(const char *s, struct day_ranges *ret, char *err, size_t errlen);
/* Format back, "09:00-13:00, 16:00-20:00" ("closed" when empty). */
void day_ranges_format(const struct day_ranges *dr, char *buf, size_t len);

struct channel_conf {
    char *name;        /* instance name strategies refer to: "sms", "sms-backup" */
    char *plugin;      /* plugin that implements it: "log", "smtp", "kannel" */
    enum chan_kind kind;
    double cost;       /* cost per attempt, in the portfolio's currency units */
    int hourly_capacity; /* max attempts per hour (0 = unlimited) */
    double rate_limit;   /* sends per second across all workers (0 = unlimited) */
    const struct ynode *settings; /* plugin settings, borrowed from the doc */
    const struct cz_channel_plugin *desc; /* the plugin, owned by config->plugins */
    struct plugin_settings *values;       /* settings checked against its config map */
    char *fallback;          /* channel to send through while this one's breaker is open */
    int breaker_failures;    /* consecutive transient failures that open the breaker (5) */
    int64_t breaker_cooldown_ms; /* open this long, then one probe (30000) */
    int line, col;
};

/* A jurisdiction profile (config/profiles/NAME.yaml). */
struct profile {
    char *name;
    char *file;
    char **countries;  /* ISO 3166-1 alpha-2, upper case */
    size_t ncountries;
    struct day_ranges legal[7]; /* Monday = 0; n == 0: no contact that day */
    bool no_contact_on_holidays;
    char *holidays;    /* calendar name, or NULL */
    int call_cap;      /* max call attempts ... */
    int call_cap_days; /* ... in this many consecutive days (0 = none) */
    int call_cooldown_days; /* no call this many days after a right-party call (0 = none) */
    int weekly_cap;    /* cross-channel attempts per 7 days (0 = none) */
    bool consent_required[_CHAN_KIND_MAX]; /* channel needs an explicit yes */
    bool vulnerable_human_only; /* vulnerable debtors: no automated channel */
    struct template_rules *template_rules; /* `templates:` lints (template.h), or NULL */
};

struct holiday {
    int32_t day;      /* days since epoch */
    char *name;
    char **regions;   /* NULL: the whole country; else subdivision codes "ES-MD" */
    size_t nregions;
};

struct calendar {
    char *name;       /* "us", "es", "uk" */
    char *country;
    char *file;
    struct holiday *v; /* sorted by day */
    size_t n;
};

/* The `business:` section: who the messages speak for (templates' variables). */
enum config_business {
    CONFIG_CREDITOR,
    CONFIG_BUSINESS_NAME,
    CONFIG_AGENT_NAME,
    CONFIG_AGENT_PHONE,
    _CONFIG_BUSINESS_MAX,
};

struct config {
    char *file;             /* the file loaded, or NULL for built-in defaults */
    char *dir;              /* directory relative paths are resolved against */
    char *store_path;
    char *redis_url;        /* redis://host:port[/db] or unix:///path */
    char *redis_prefix;     /* key prefix, default "cz:" */
    int64_t redis_timeout_ms; /* connect and reply timeout; 0: the queue's default */
    char *http_listen;      /* "127.0.0.1:8470" */
    char *default_time_zone;
    char *strategy_dir;
    char *template_dir;
    char *profile_dir;
    char *holiday_dir;
    char *plugin_dir;       /* extra plugins as <dir>/<name>.so, or NULL */
    char *default_currency; /* ISO 4217 */
    char *default_country;  /* ISO 3166-1 alpha-2, or NULL (no default) */
    char *default_locale;   /* "en", "es", "en-GB": templates fall back to it */
    char *business[_CONFIG_BUSINESS_MAX]; /* the `business:` section; NULL: not set */
    struct link_conf *links; /* the `links:` section (link.h), or NULL when absent */
    struct api_conf *api;    /* the `api:` section (api.h), or NULL: no outcome API */
    /* the `serve:` section: the daemon's scheduler (sched.h) */
    int32_t serve_daily_run; /* the daily run's local time, seconds after midnight; -1: none */
    char *serve_time_zone;   /* ... in this zone (NULL: defaults.time_zone) */
    bool serve_replan;       /* re-plan a debtor at once after news (default true) */
    int64_t serve_promise_check_ms; /* how often to look for promises broken (300 s) */
    struct inbound_conf *inbound; /* the `inbound:` section (inbound.h); the defaults without
                                     one (never NULL once loaded) */
    struct page_conf *selfservice; /* the `selfservice:` section (page.h), or NULL: defaults */

    struct channel_conf *channels;
    size_t nchannels;
    struct plugin_set *plugins; /* built-in and paths.plugins plugins */
    struct profile *profiles;
    size_t nprofiles;
    struct calendar *calendars;
    size_t ncalendars;

    struct ydoc *doc;       /* keeps channel settings alive */
};

struct config_overrides {
    const char *store_path; /* from --store or NULL */
    const char *redis_url;  /* from --redis or NULL */
};

/*
 * Load configuration.  path NULL means: $CADENZA_CONFIG, else
 * ./config/cadenza.yaml if it exists, else /etc/cadenza/cadenza.yaml if
 * it exists, else built-in defaults (the profiles and calendars then come
 * from the installed data directory).  Every problem goes to d; returns
 * -EINVAL when d holds errors, -errno when a file cannot be read.
 */
int config_load(const char *path, const struct config_overrides *ov, struct config **ret,
                struct diags *d);
void config_free(struct config *c);

/* "es", "en", "pt-BR": a lower-case language (2-3 letters), an optional upper-case region. */
bool config_locale_valid(const char *s);

const struct channel_conf *config_channel(const struct config *c, const char *name);
const struct profile *config_profile(const struct config *c, const char *name);
/* The profile covering a country (NULL when none does). */
const struct profile *config_profile_for_country(const struct config *c, const char *cc);
const struct calendar *config_calendar(const struct config *c, const char *name);
/* Is day a holiday in country/region (region may be NULL)? */
const struct holiday *calendar_holiday(const struct calendar *cal, int32_t day,
                                       const char *region);

#endif
