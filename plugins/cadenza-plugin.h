/*
 * cadenza-plugin.h - the channel plugin ABI.  The only header a channel
 * plugin includes; it includes nothing of cadenza and nothing but the C
 * library's <stdint.h>, <stddef.h>, <stdbool.h> and <stdarg.h>.
 *
 * A plugin is a shared object (or a built-in compiled into cadenza, through
 * the same descriptor) that exports one const descriptor named
 * `cz_channel_plugin`:
 *
 *     const struct cz_channel_plugin cz_channel_plugin = {
 *         .abi_major = CZ_PLUGIN_ABI_MAJOR,
 *         .abi_minor = CZ_PLUGIN_ABI_MINOR,
 *         .name      = "letter",          (the file must be letter.so)
 *         .kinds     = CZ_KIND_BIT(CZ_KIND_LETTER),
 *         .settings  = letter_settings,   (the config map, ended by {0})
 *         .init = letter_init, .send = letter_send,
 *         .flush = letter_flush, .shutdown = letter_shutdown,
 *     };
 *
 * Lifecycle of one channel instance (a `channels:` entry naming the plugin):
 *
 *     init ──► send* ──► flush ──► send* ──► ... ──► shutdown
 *
 * Rules (docs/plugins.md explains each with examples):
 *  1. The host checks the settings against the config map before init:
 *     unknown keys, wrong types, values out of bounds and missing required
 *     settings are reported by `cadenza validate` at file:line:col, and
 *     init is never called with them.  init reads values with the host's
 *     setting_* getters.
 *  2. send never blocks and never keeps a pointer into its arguments after
 *     it returns: copy what you need.  It reports exactly one completion
 *     through host->complete(send, result), before or after it returns.
 *     A send that returns < 0 has failed to start: it must not complete
 *     too (the host reports a transient failure for it).
 *  3. Plugins own no threads and no sockets the host does not know about;
 *     they wait with host timers.  They never touch Redis or SQLite and
 *     never decide legal send times: the job carries `not_after`, the host
 *     re-checks it before send.
 *  4. flush makes every completed send durable (a buffered writer writes
 *     here); the host acknowledges jobs only after flush returned 0.
 *  5. Everything the host passes is borrowed for the call; strings are
 *     UTF-8 and NUL-terminated.
 *
 * ABI history: 1.0 the descriptor, job view and host; 1.1 host->http and
 * host->smtp; 1.2 cz_job.not_before (the start of the attempt's window).
 *
 * Versioning: a change that breaks a plugin built against an older header
 * bumps CZ_PLUGIN_ABI_MAJOR (the host refuses other majors).  Fields are
 * only ever appended to struct cz_host and struct cz_job, bumping
 * CZ_PLUGIN_ABI_MINOR: a plugin built for minor M runs on any host of minor
 * >= M, and checks host->abi_minor before using a later member.
 */
#ifndef CADENZA_PLUGIN_H
#define CADENZA_PLUGIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CZ_PLUGIN_ABI_MAJOR 1
#define CZ_PLUGIN_ABI_MINOR 2

/* The symbol the loader looks up in a plugin's shared object. */
#define CZ_PLUGIN_SYMBOL "cz_channel_plugin"

/* Channel kinds (the same names as the configuration's `kind:`). */
enum cz_kind {
    CZ_KIND_EMAIL = 0,
    CZ_KIND_SMS = 1,
    CZ_KIND_CHAT = 2,   /* conversational bot, messaging apps */
    CZ_KIND_CALL = 3,   /* dialer, agent calls */
    CZ_KIND_LETTER = 4, /* postal mail, hand-off files */
    CZ_KIND_MAX_
};
#define CZ_KIND_BIT(k) (1u << (k))

/* ---- the config map -------------------------------------------------------- */

enum cz_setting_type {
    CZ_SETTING_STRING = 1,
    CZ_SETTING_INT,      /* a whole number within [min, max] */
    CZ_SETTING_NUMBER,   /* a decimal number within [min, max] */
    CZ_SETTING_BOOL,     /* true or false */
    CZ_SETTING_PATH,     /* a string; relative paths resolve against the config file */
    CZ_SETTING_SECRET,   /* a string never logged or printed back */
    CZ_SETTING_ENUM,     /* one of the '|'-separated words in `choices` */
};

struct cz_setting {
    const char *key;
    enum cz_setting_type type;
    const char *default_value; /* as text ("25", "true"), NULL: none */
    double min, max;           /* INT and NUMBER bounds (min == max == 0: any) */
    const char *choices;       /* ENUM: "starttls|tls|none" */
    bool required;
    const char *doc;           /* one line, shown by `cadenza plugins NAME` */
};

/* ---- one job, as the plugin sees it ---------------------------------------- */

struct cz_job {
    int64_t attempt_id;
    const char *idempotency_key; /* pass it to providers that accept one */
    const char *debtor_id;       /* the team's external id */
    const char *instance;        /* channel instance name ("sms-backup") */
    enum cz_kind kind;
    const char *address;         /* e-mail address, E.164 number, handle, postal address */
    const char *locale;          /* "es-ES", or NULL */
    const char *time_zone;       /* the debtor's IANA zone */
    int64_t not_after;           /* latest legal send time, Unix seconds (0: none) */
    const char *template_name;   /* NULL when the strategy names none */
    /* the rendered message; NULL where the template has no such part */
    const char *subject;
    const char *text;
    const char *html;
    const char *inputs_json;     /* the message inputs as a JSON object text, "{}" at least */
    const char *self_service_url; /* the debtor's signed link, or NULL */
    int tries;                   /* failed tries before this one */
    bool redelivered;            /* a previous lease lapsed: it may have been sent already */
    /* ---- ABI 1.2 (read only when host->abi_minor >= 2) ---- */
    int64_t not_before;          /* start of the attempt's legal window, Unix seconds (0:
                                    unknown); the host sends at or after it, before not_after */
};

/* ---- results ------------------------------------------------------------ */

/* Codes leave the process (results stream, store): append-only. */
enum cz_send_status {
    CZ_SEND_OK = 0,              /* accepted by the provider */
    CZ_SEND_RETRY = 1,           /* transient: try again later */
    CZ_SEND_FAILED = 2,          /* permanent: do not retry */
    CZ_SEND_INVALID_ADDRESS = 3, /* permanent, and the address is bad: stop using it */
    CZ_SEND_OPTED_OUT = 4,       /* the provider says the recipient opted out */
    CZ_SEND_STATUS_MAX_
};

struct cz_result {
    enum cz_send_status status;
    const char *provider_id;  /* CZ_SEND_OK: the provider's message id, or NULL */
    const char *error;        /* otherwise: what went wrong, for people */
    int64_t retry_after_ms;   /* CZ_SEND_RETRY: the provider's Retry-After (0: the host's backoff) */
};

/* ---- the host ------------------------------------------------------------ */

struct cz_instance; /* one configured channel (host-owned) */
struct cz_send;     /* one send in flight (host-owned, valid until completed) */
struct cz_timer;    /* a host timer */

enum cz_log_level { CZ_LOG_ERROR = 3, CZ_LOG_WARNING = 4, CZ_LOG_NOTICE = 5, CZ_LOG_INFO = 6,
                    CZ_LOG_DEBUG = 7 };

/* Later news about a send that completed (a delivery report, a bounce). */
enum cz_news_kind {
    CZ_NEWS_DELIVERED = 1,
    CZ_NEWS_UNDELIVERABLE = 2, /* bounced, failed at the handset */
    CZ_NEWS_OPTED_OUT = 3,     /* STOP, unsubscribe, complaint */
    CZ_NEWS_REPLIED = 4,
};
struct cz_news {
    enum cz_news_kind kind;
    int64_t attempt_id;        /* the job's, when known (else 0) */
    const char *provider_id;   /* the id given at completion, when attempt_id is 0 */
    int64_t at;                /* Unix seconds; 0: now */
    const char *detail;        /* provider's words, or NULL */
};

typedef void (*cz_timer_fn)(void *userdata);

/* ---- non-blocking HTTP and SMTP through the host (ABI 1.1) --------------- */

struct cz_header {
    const char *name, *value;
};

struct cz_http_request {
    const char *method;               /* "GET", "POST", "PUT", "DELETE" */
    const char *url;                  /* http:// or https:// */
    const struct cz_header *headers;  /* extra request headers */
    size_t nheaders;
    const char *body;                 /* NULL: none */
    size_t body_len;
    const char *username, *password;  /* HTTP basic auth, or NULL */
    int64_t timeout_ms;               /* the whole exchange; 0: 10 s */
    int64_t connect_timeout_ms;       /* 0: 5 s */
};

struct cz_http_response {
    int status;                       /* HTTP status; 0 when no response came */
    int error;                        /* 0, or -errno: -ETIMEDOUT, -ECONNREFUSED, -EPROTO... */
    const char *error_text;           /* with error: libcurl's words */
    const char *body;                 /* NUL-terminated; at most 1 MiB is kept */
    size_t body_len;
    const struct cz_header *headers;  /* response headers, names as sent */
    size_t nheaders;
    int64_t retry_after_ms;           /* a Retry-After header (seconds or a date), else 0 */
};
typedef void (*cz_http_fn)(void *userdata, const struct cz_http_response *res);

enum cz_tls {
    CZ_TLS_REQUIRED = 0, /* smtp:// with STARTTLS, refused without it; or smtps:// */
    CZ_TLS_OPTIONAL = 1, /* STARTTLS when the server offers it */
    CZ_TLS_NONE = 2,     /* plain text (loopback test servers) */
};

struct cz_smtp_request {
    const char *url;                  /* smtp://host[:port] or smtps://host[:port] */
    enum cz_tls tls;
    const char *username, *password;  /* AUTH, or NULL */
    const char *mail_from;            /* envelope sender address */
    const char *const *rcpt;          /* envelope recipients */
    size_t nrcpt;
    const char *message;              /* the whole RFC 5322 message, CRLF line ends */
    size_t message_len;
    int64_t timeout_ms;               /* the whole exchange; 0: 30 s */
};

struct cz_smtp_response {
    int code;                         /* the server's last reply code (250, 451, 550); 0: none */
    int error;                        /* 0 when the message was accepted, else -errno */
    const char *error_text;           /* with error: what failed (libcurl's or the server's words) */
};
typedef void (*cz_smtp_fn)(void *userdata, const struct cz_smtp_response *res);

struct cz_host {
    uint16_t abi_major, abi_minor; /* the host's: check abi_minor before later members */

    /*
     * Log a line as "[channel:PLUGIN:INSTANCE] message".  E-mail addresses
     * and phone numbers in the message are masked (a***@example.com,
     * +34*****678) unless the daemon runs with debug logging of PII.
     */
    void (*log)(struct cz_instance *inst, enum cz_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    void (*logv)(struct cz_instance *inst, enum cz_log_level level, const char *fmt,
                 va_list ap);

    /* The instance's name and its plugin state (what init stored). */
    const char *(*instance_name)(struct cz_instance *inst);

    /*
     * Settings of the instance, checked against the config map (rule 1):
     * the value given, else the map's default.  The getters return the
     * map's type: a string getter on an INT setting returns its text.
     * setting_set() tells whether the key was given at all.
     * PATH settings come back resolved against the configuration file.
     */
    const char *(*setting_str)(struct cz_instance *inst, const char *key);
    int64_t (*setting_int)(struct cz_instance *inst, const char *key);
    double (*setting_number)(struct cz_instance *inst, const char *key);
    bool (*setting_bool)(struct cz_instance *inst, const char *key);
    bool (*setting_set)(struct cz_instance *inst, const char *key);

    /* The one completion of a send (rule 2).  send is invalid afterwards. */
    void (*complete)(struct cz_send *send, const struct cz_result *result);

    /*
     * One-shot timer on the host's loop: cb runs once, after ms, unless
     * cancelled first.  Returns NULL when out of memory.  Pending timers
     * are cancelled by the host after shutdown.
     */
    struct cz_timer *(*timer_add)(struct cz_instance *inst, int64_t ms, cz_timer_fn cb,
                                  void *userdata);
    void (*timer_cancel)(struct cz_timer *t);

    /* Report later news about a completed send (delivery reports, opt-outs). */
    void (*report)(struct cz_instance *inst, const struct cz_news *news);

    /* Monotonic milliseconds and wall-clock Unix milliseconds, as the host sees them. */
    int64_t (*mono_ms)(void);
    int64_t (*wall_ms)(void);

    /* ---- ABI 1.1 ---- */

    /*
     * Start an HTTP request on the host's libcurl multi handle, driven by
     * its event loop (connections are reused).  0: done is called exactly
     * once, later, never inside this call; its response is borrowed for the
     * callback.  < 0 (-ENOMEM, -EINVAL for a bad request): done is never
     * called.  Requests still running at shutdown are cancelled without
     * their callbacks.
     */
    int (*http)(struct cz_instance *inst, const struct cz_http_request *req, cz_http_fn done,
                void *userdata);
    /* The same for one SMTP transaction (MAIL FROM, RCPT TO, DATA). */
    int (*smtp)(struct cz_instance *inst, const struct cz_smtp_request *req, cz_smtp_fn done,
                void *userdata);
};

/* ---- the descriptor ------------------------------------------------------- */

struct cz_channel_plugin {
    uint16_t abi_major, abi_minor; /* CZ_PLUGIN_ABI_MAJOR, CZ_PLUGIN_ABI_MINOR */
    const char *name;              /* must equal the file name without ".so" */
    const char *description;       /* one line */
    uint32_t kinds;                /* CZ_KIND_BIT()s of the kinds it can serve */
    const struct cz_setting *settings; /* the config map, ended by an entry with key NULL */

    /*
     * Create the instance's state from its settings (rule 1): *ret_state
     * is passed back to every other callback.  < 0 (a -errno) refuses to
     * start; log why with host->log first.
     */
    int (*init)(struct cz_instance *inst, const struct cz_host *host, void **ret_state);
    /* Start one send (rule 2).  0, or < 0 when it could not start. */
    int (*send)(void *state, const struct cz_job *job, struct cz_send *send);
    /* Rule 4.  NULL: every completion is durable already. */
    int (*flush)(void *state);
    /* After the last completion; frees the state.  Never called after a failed init. */
    void (*shutdown)(void *state);
};

#ifdef __cplusplus
}
#endif

#endif
