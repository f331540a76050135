/*
 * job.c - the dispatch job payload: JSON in, JSON out, and the time
 * re-check a worker makes just before sending.
 *
 * Owns nothing but the job structs it fills.  Never does I/O, never
 * reads the clock (now is an argument).
 *
 * Invariants:
 *  1. job_to_json() output parses back with job_from_json() into an
 *     equal job (tested round trip).
 *  2. job_from_json() never trusts its input: any payload, however
 *     malformed, gives 0 or -EINVAL, never a crash or a leak.
 *  3. job_check_time() says JOB_SEND_NOW only for now < not_after and,
 *     when windows are given, now inside one of them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "job.h"

void job_release(struct job *j)
{
    if (!j)
        return;
    free(j->idempotency_key);
    free(j->debtor_id);
    free(j->channel);
    free(j->channel_kind);
    free(j->address);
    free(j->template_name);
    free(j->time_zone);
    free(j->strategy);
    json_decref(j->inputs);
    memset(j, 0, sizeof(*j));
}

int job_validate(const struct job *j, char *err, size_t errlen)
{
    const char *what = NULL;
    if (j->attempt_id <= 0)
        what = "'attempt_id' must be a positive integer";
    else if (isempty(j->idempotency_key))
        what = "'idempotency_key' is missing";
    else if (isempty(j->debtor_id))
        what = "'debtor_id' is missing";
    else if (isempty(j->channel))
        what = "'channel' is missing";
    else if (isempty(j->address))
        what = "'address' is missing";
    else if (j->not_after <= 0)
        what = "'not_after' is missing";
    else if (j->not_before > j->not_after)
        what = "'not_before' is after 'not_after'";
    else if (j->nwindows > JOB_WINDOWS_MAX)
        what = "too many windows";
    else if (j->inputs && !json_is_object(j->inputs))
        what = "'inputs' must be an object";
    else
        for (size_t i = 0; i < j->nwindows; i++)
            if (j->windows[i].start >= j->windows[i].end)
                what = "a window ends before it starts";
    if (what) {
        snprintf(err, errlen, "%s", what);
        return -EINVAL;
    }
    return 0;
}

/* Append a literal (a string constant: its length is known at compile time). */
#define ADD_LIT(b, lit) sbuf_add((b), (lit), sizeof(lit) - 1)

static int add_int(struct sbuf *b, int64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10));
    if (v < 0)
        *--p = '-';
    return sbuf_add(b, p, (size_t)(buf + sizeof(buf) - p));
}

/* key is a literal including its quotes, comma and colon: ",\"k\":" */
static int add_str(struct sbuf *b, const char *key, size_t keylen, const char *v)
{
    int r = sbuf_add(b, key, keylen);
    if (r < 0)
        return r;
    if (!v)
        return ADD_LIT(b, "null");
    return sbuf_add_json_str(b, v, strlen(v));
}
#define ADD_STR(b, key, v) add_str((b), ",\"" key "\":", sizeof(key) + 3, (v))

static int dump_to_sbuf(const char *p, size_t n, void *data)
{
    return sbuf_add(data, p, n) < 0 ? -1 : 0;
}

/* Hot path of enqueue: no printf, inputs dumped straight into b. */
int job_to_json(const struct job *j, struct sbuf *b)
{
    size_t start = b->len;
    int r = ADD_LIT(b, "{\"attempt_id\":");
    if (r >= 0)
        r = add_int(b, j->attempt_id);
    if (r >= 0)
        r = ADD_STR(b, "idempotency_key", j->idempotency_key);
    if (r >= 0)
        r = ADD_STR(b, "debtor_id", j->debtor_id);
    if (r >= 0)
        r = ADD_STR(b, "channel", j->channel);
    if (r >= 0)
        r = ADD_STR(b, "channel_kind", j->channel_kind);
    if (r >= 0)
        r = ADD_STR(b, "address", j->address);
    if (r >= 0)
        r = ADD_STR(b, "template", j->template_name);
    if (r >= 0)
        r = ADD_STR(b, "time_zone", j->time_zone);
    if (r >= 0)
        r = ADD_STR(b, "strategy", j->strategy);
    if (r >= 0)
        r = ADD_LIT(b, ",\"tier\":");
    if (r >= 0)
        r = add_int(b, j->tier);
    if (r >= 0)
        r = ADD_LIT(b, ",\"attempt\":");
    if (r >= 0)
        r = add_int(b, j->attempt);
    if (r >= 0)
        r = ADD_LIT(b, ",\"not_before\":");
    if (r >= 0)
        r = add_int(b, j->not_before);
    if (r >= 0)
        r = ADD_LIT(b, ",\"not_after\":");
    if (r >= 0)
        r = add_int(b, j->not_after);
    if (r >= 0)
        r = ADD_LIT(b, ",\"windows\":[");
    for (size_t i = 0; r >= 0 && i < j->nwindows; i++) {
        r = i ? ADD_LIT(b, ",[") : sbuf_addc(b, '[');
        if (r >= 0)
            r = add_int(b, j->windows[i].start);
        if (r >= 0)
            r = sbuf_addc(b, ',');
        if (r >= 0)
            r = add_int(b, j->windows[i].end);
        if (r >= 0)
            r = sbuf_addc(b, ']');
    }
    if (r >= 0)
        r = ADD_LIT(b, "],\"inputs\":");
    if (r >= 0) {
        if (j->inputs) {
            if (json_dump_callback(j->inputs, dump_to_sbuf, b,
                                   JSON_COMPACT | JSON_ENSURE_ASCII) < 0)
                r = b->max && b->len >= b->max ? -E2BIG : -ENOMEM;
        } else
            r = ADD_LIT(b, "{}");
    }
    if (r >= 0)
        r = sbuf_addc(b, '}');
    if (r < 0) {
        b->len = start;
        if (b->buf)
            b->buf[start] = 0;
    }
    return r;
}

/* Copy an optional string member; -EINVAL if present and not a string. */
static int get_str(json_t *o, const char *key, bool required, char **ret, const char **bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required) {
            *bad = key;
            return -EINVAL;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        *bad = key;
        return -EINVAL;
    }
    *ret = strdup(json_string_value(v));
    return *ret ? 0 : -ENOMEM;
}

static int get_int(json_t *o, const char *key, bool required, int64_t min, int64_t max,
                   int64_t *ret, const char **bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required) {
            *bad = key;
            return -EINVAL;
        }
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        *bad = key;
        return -EINVAL;
    }
    *ret = json_integer_value(v);
    return 0;
}

int job_from_json(const char *buf, size_t len, struct job *ret, char *err, size_t errlen)
{
    json_error_t je;
    struct job j = { .tier = -1 };
    const char *bad = NULL;
    int64_t v;
    int r = 0;

    if (len > JOB_PAYLOAD_MAX) {
        snprintf(err, errlen, "payload of %zu bytes is larger than %d", len, JOB_PAYLOAD_MAX);
        return -EINVAL;
    }
    json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(err, errlen, "not JSON: %s at offset %d", je.text, je.position);
        return -EINVAL;
    }
    if (!json_is_object(o)) {
        snprintf(err, errlen, "not a JSON object");
        json_decref(o);
        return -EINVAL;
    }
    const int64_t tmax = INT64_C(1) << 40;
    if (r >= 0)
        r = get_int(o, "attempt_id", true, 1, INT64_MAX, &j.attempt_id, &bad);
    if (r >= 0)
        r = get_str(o, "idempotency_key", true, &j.idempotency_key, &bad);
    if (r >= 0)
        r = get_str(o, "debtor_id", true, &j.debtor_id, &bad);
    if (r >= 0)
        r = get_str(o, "channel", true, &j.channel, &bad);
    if (r >= 0)
        r = get_str(o, "channel_kind", false, &j.channel_kind, &bad);
    if (r >= 0)
        r = get_str(o, "address", true, &j.address, &bad);
    if (r >= 0)
        r = get_str(o, "template", false, &j.template_name, &bad);
    if (r >= 0)
        r = get_str(o, "time_zone", false, &j.time_zone, &bad);
    if (r >= 0)
        r = get_str(o, "strategy", false, &j.strategy, &bad);
    v = -1;
    if (r >= 0 && (r = get_int(o, "tier", false, -1, 100, &v, &bad)) >= 0)
        j.tier = (int)v;
    v = 0;
    if (r >= 0 && (r = get_int(o, "attempt", false, 0, 1000000, &v, &bad)) >= 0)
        j.attempt = (int)v;
    if (r >= 0)
        r = get_int(o, "not_before", false, 0, tmax, &j.not_before, &bad);
    if (r >= 0)
        r = get_int(o, "not_after", true, 1, tmax, &j.not_after, &bad);
    if (r >= 0) {
        json_t *w = json_object_get(o, "windows");
        if (w && !json_is_null(w)) {
            if (!json_is_array(w) || json_array_size(w) > JOB_WINDOWS_MAX) {
                bad = "windows";
                r = -EINVAL;
            }
            for (size_t i = 0; r >= 0 && i < json_array_size(w); i++) {
                json_t *p = json_array_get(w, i);
                json_t *s = json_array_get(p, 0), *e = json_array_get(p, 1);
                if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_integer(s) ||
                    !json_is_integer(e)) {
                    bad = "windows";
                    r = -EINVAL;
                    break;
                }
                j.windows[i].start = json_integer_value(s);
                j.windows[i].end = json_integer_value(e);
                j.nwindows = i + 1;
            }
        }
    }
    if (r >= 0) {
        json_t *in = json_object_get(o, "inputs");
        if (in && !json_is_null(in)) {
            if (!json_is_object(in)) {
                bad = "inputs";
                r = -EINVAL;
            } else
                j.inputs = json_incref(in);
        }
    }
    json_decref(o);
    if (r == -EINVAL) {
        snprintf(err, errlen, "missing or invalid '%s'", bad);
    } else if (r >= 0) {
        r = job_validate(&j, err, errlen);
    } else
        snprintf(err, errlen, "out of memory");
    if (r < 0) {
        job_release(&j);
        return r;
    }
    *ret = j;
    return 0;
}

enum job_timing job_check_time(const struct job *j, int64_t now, int64_t *ret_next)
{
    if (now >= j->not_after)
        return JOB_EXPIRED;
    if (j->nwindows == 0) {
        if (now >= j->not_before)
            return JOB_SEND_NOW;
        *ret_next = j->not_before;
        return JOB_WAIT;
    }
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < j->nwindows; i++) {
        const struct job_window *w = &j->windows[i];
        if (now >= w->start && now < w->end)
            return JOB_SEND_NOW;
        if (w->start > now && w->start < next)
            next = w->start;
    }
    if (next == INT64_MAX || next >= j->not_after)
        return JOB_EXPIRED;
    *ret_next = next;
    return JOB_WAIT;
}
