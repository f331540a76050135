/*
 * job.h - the self-contained dispatch job: everything a worker needs to
 * send one planned attempt without the store (address, message inputs,
 * time zone, the windows it may be sent in).  Serialised as one compact
 * JSON object, the payload stored in Redis by queue.c.
 *
 * Times are Unix seconds, UTC.  windows are [start, end) intervals in
 * which a send is legal (quiet hours already applied by the planner, in
 * the debtor's zone); none means "any time before not_after".
 */
#ifndef CADENZA_JOB_H
#define CADENZA_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define JOB_WINDOWS_MAX 32
#define JOB_PAYLOAD_MAX (64 * 1024) /* a payload larger than this is malformed */

struct job_window {
    int64_t start, end; /* [start, end), Unix seconds */
};

struct job {
    int64_t attempt_id;       /* > 0, the store's attempt row id */
    char *idempotency_key;    /* passed to the channel / provider */
    char *debtor_id;          /* external debtor id (stop markers are keyed by it) */
    char *channel;            /* channel instance name from the config */
    char *channel_kind;       /* "email", "sms", ... (chan_kind_to_string) */
    char *address;            /* email address, E.164 phone number, handle */
    char *template_name;      /* message template, may be NULL */
    json_t *inputs;           /* object: name, amount, currency, due_date, pay_link...;
                                 may be NULL (then {}) */
    /*
     * The same inputs as compact JSON object text (NUL-terminated, no
     * whitespace outside strings), or NULL.  When set it wins over
     * inputs in job_to_json() and in the channels (no JSON library on
     * the hot paths): producers may set only this one; job_parse()
     * sets it whenever the payload has inputs.
     */
    char *inputs_json;
    size_t inputs_json_len;
    char *time_zone;          /* IANA zone of the debtor */
    char *locale;             /* the debtor's locale ("es-ES"), may be NULL */
    char *strategy;           /* may be NULL */
    int tier;                 /* lifecycle tier, -1 when unknown */
    int attempt;              /* attempt number in the debtor's cadence */
    int64_t not_before;       /* due time: the job becomes ready then */
    int64_t not_after;        /* latest legal send time */
    struct job_window windows[JOB_WINDOWS_MAX];
    size_t nwindows;
    /*
     * A notice the debtor asked for (the one confirmation of an opt-out,
     * docs/daemon.md): the debtor's stop marker does not cancel it, it is
     * sent because of one.  Written as "notice":1, only when set.
     */
    bool notice;
    /*
     * Private to job.c: a parsed job keeps all its strings (and
     * inputs_json) in this one block, freed by job_release().  Never
     * replace a string of a parsed job in place.
     */
    void *mem;
};

/* Release the strings and inputs of a job (not the struct); zeroes it. */
void job_release(struct job *j);

/*
 * Make j own its strings in one block: every string field and
 * inputs_json (inputs_json_len bytes) point at borrowed text on entry
 * and at j->mem on return.  For producers that build many jobs (one
 * allocation per job instead of one per string).  -ENOMEM (then the
 * string fields are NULL, j can be released).
 */
int job_pack(struct job *j);

/* Check the fields a worker relies on; -EINVAL with a message in err. */
int job_validate(const struct job *j, char *err, size_t errlen);

/* Append the job's JSON payload to b.  -ENOMEM, -E2BIG (sbuf max). */
int job_to_json(const struct job *j, struct sbuf *b);

/*
 * Append s[0..n) as a JSON string literal, quotes included: the bytes
 * sbuf_add_json_str() writes, copied in runs (for the hot paths).
 */
int job_json_str(struct sbuf *b, const char *s, size_t n);

/*
 * Parse a payload into *ret (caller-owned storage, released with
 * job_release()).  Any valid JSON object is read (escapes, any key
 * order, whitespace); unknown keys are ignored (newer producers);
 * duplicate keys, missing or mistyped required keys, bad JSON (the
 * rules of RFC 8259, plus: no "\u0000", integers within int64, nesting
 * at most JOB_DEPTH_MAX) or an invalid job give -EINVAL and a message in
 * err.  *ret is written only on success.
 *
 * job_parse() does not use a JSON library: the inputs come back as
 * inputs_json only (inputs stays NULL) unless flags has
 * JOB_PARSE_INPUTS_OBJECT, which also builds the json_t.
 * job_from_json() is job_parse() with JOB_PARSE_INPUTS_OBJECT.
 */
#define JOB_DEPTH_MAX 64
enum { JOB_PARSE_INPUTS_OBJECT = 1 << 0 };
int job_parse(const char *buf, size_t len, unsigned flags, struct job *ret, char *err,
              size_t errlen);
int job_from_json(const char *buf, size_t len, struct job *ret, char *err, size_t errlen);

/*
 * The string members of a job's inputs text (inputs_json[0..len)) without
 * a JSON library: ret[i] is the decoded value of the member names[i], or
 * NULL when it is absent or not a string.  The whole text is checked with
 * job_parse()'s rules (RFC 8259, no "\u0000", integers within int64,
 * nesting at most JOB_DEPTH_MAX, no duplicate keys).  The values are
 * decoded into buf, which must hold len + 1 bytes (decoding never
 * grows a string); ret points into it.  -EINVAL when the text is not
 * such a JSON object, -ENOMEM.
 */
int job_inputs_strings(const char *inputs_json, size_t len, const char *const *names, size_t n,
                       const char **ret, char *buf);

/*
 * The re-check a worker makes just before sending, at time now:
 *   JOB_SEND_NOW        inside a window and not after not_after
 *   JOB_WAIT            too early: *ret_next is the next legal start
 *   JOB_EXPIRED         past not_after, or no window left before it
 */
enum job_timing { JOB_SEND_NOW, JOB_WAIT, JOB_EXPIRED };
enum job_timing job_check_time(const struct job *j, int64_t now, int64_t *ret_next);

#endif
