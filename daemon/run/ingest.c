/*
 * ingest.c - one outcome record, from its fields to what the store keeps
 * (ingest.h).  Shared by `import outcomes` and the daemon's outcome API,
 * so both check, key and count an outcome the same way.
 *
 * Invariants:
 *  1. Every record gets a dedupe key derived from its normalised values,
 *     so the same record again adds nothing (and counts nothing).
 *  2. Hours of the week are the debtor's local time (its stored zone).
 *  3. A record is either prepared whole or refused with every problem
 *     named by field; nothing is half-prepared.
 */
#include "ingest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "campaign.h"
#include "debtor.h"
#include "outcome.h"
#include "tz.h"

/* The last debtor looked up (files often hold a debtor's rows together). */
struct debtor_memo {
    bool valid;
    char external_id[160];
    struct store_debtor_ref ref;
    const struct tz *z;
    const char *segment; /* interned */
};


struct ingest_ctx {
    const struct config *cfg;
    struct store *s;
    struct tz_cache *tzc;
    int64_t now;
    const char *source;
    char **segments;
    size_t nsegments;
    struct debtor_memo memo;
};

int ingest_ctx_new(const struct config *cfg, struct store *s, int64_t now, const char *source,
                   struct ingest_ctx **ret)
{
    struct ingest_ctx *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->cfg = cfg;
    x->s = s;
    x->now = now;
    x->source = source;
    if (!(x->tzc = tz_cache_new())) {
        free(x);
        return -ENOMEM;
    }
    *ret = x;
    return 0;
}

void ingest_ctx_free(struct ingest_ctx *x)
{
    if (!x)
        return;
    strv_free(x->segments, x->nsegments);
    tz_cache_free(x->tzc);
    free(x);
}

void ingest_ctx_forget(struct ingest_ctx *x)
{
    x->memo.valid = false;
}

void ingest_ctx_set_now(struct ingest_ctx *x, int64_t now)
{
    x->now = now;
}

_printf_(2, 3) static void add_err(struct sbuf *e, const char *fmt, ...)
{
    if (e->len)
        sbuf_adds(e, "; ");
    va_list ap;
    va_start(ap, fmt);
    sbuf_vaddf(e, fmt, ap);
    va_end(ap);
}

/* A value for messages: cut to 40 bytes. */
static const char *quoted(char buf[64], const char *s, size_t n)
{
    if (n > 40)
        snprintf(buf, 64, "%.40s...", s);
    else
        snprintf(buf, 64, "%.*s", (int)n, s);
    return buf;
}

static bool present(const struct ingest_row *r, int c)
{
    return r->f[c] && r->flen[c] > 0;
}

/*
 * A decimal amount in major units -> minor units of a currency with `exp`
 * minor digits (EUR 2, JPY 0, KWD 3): at most exp significant decimals
 * (further zeros are fine, as for balances).
 */
static int parse_amount_minor(const char *s, size_t n, int exp, int64_t *ret)
{
    int64_t v = 0;
    size_t i = 0;
    int dec = -1;
    if (!n)
        return -EINVAL;
    for (; i < n; i++) {
        if (s[i] == '.' && dec < 0) {
            dec = 0;
            continue;
        }
        if (s[i] < '0' || s[i] > '9' || v > INT64_MAX / 10000)
            return -EINVAL;
        if (dec >= 0 && ++dec > exp) {
            if (s[i] != '0')
                return -EINVAL;
            continue; /* extra trailing zeros are fine: "1200.00" yen */
        }
        v = v * 10 + (s[i] - '0');
    }
    if (dec == 0)
        return -EINVAL; /* "12." */
    for (int k = dec < 0 ? 0 : dec; k < exp; k++)
        v *= 10; /* dec > exp (trailing zeros): nothing to scale */
    *ret = v;
    return 0;
}

/* v in decimal at p; returns the end. */
static char *put_dec(char *p, long long v)
{
    char t[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        t[n++] = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *p++ = '-';
    while (n)
        *p++ = t[--n];
    return p;
}

/* The debtor's segment as a string that lives as long as the context. */
static const char *intern_segment(struct ingest_ctx *x, const char *seg)
{
    for (size_t i = 0; i < x->nsegments; i++)
        if (streq(x->segments[i], seg))
            return x->segments[i];
    char **v = realloc(x->segments, (x->nsegments + 1) * sizeof(*v));
    if (!v)
        return NULL;
    x->segments = v;
    if (!(v[x->nsegments] = strdup(seg)))
        return NULL;
    return v[x->nsegments++];
}

/* Look a debtor up (the last one is remembered): 0, -ENOENT or -errno. */
static int find_debtor(struct ingest_ctx *x, const char *id, size_t len, struct debtor_memo **ret)
{
    struct debtor_memo *m = &x->memo;
    *ret = m;
    if (m->valid && len < sizeof(m->external_id) && memcmp(m->external_id, id, len) == 0 &&
        m->external_id[len] == 0)
        return 0;
    m->valid = false;
    int r = store_debtor_find(x->s, id, &m->ref);
    if (r < 0)
        return r;
    if (tz_cache_get(x->tzc, m->ref.time_zone, &m->z) < 0 &&
        tz_cache_get(x->tzc, "UTC", &m->z) < 0)
        m->z = NULL;
    if (!(m->segment = intern_segment(x, m->ref.segment)))
        return -ENOMEM;
    if (len < sizeof(m->external_id)) {
        memcpy(m->external_id, id, len);
        m->external_id[len] = 0;
        m->valid = true;
    }
    return 0;
}

int ingest_prepare(struct ingest_ctx *x, const struct ingest_row *row, struct ingest_prepared *ret,
                   struct sbuf *e)
{
    char b[64];
    struct debtor_memo *dm = NULL;
    struct store_debtor_ref ref = { 0 };
    struct store_outcome o = { .kind = -1, .created_at = x->now, .source = x->source };
    const struct tz *z = NULL;
    int r;
    bool have_debtor = false;

    if (!present(row, INGEST_DEBTOR_ID))
        add_err(e, "debtor_id: missing");
    else if ((r = find_debtor(x, row->f[INGEST_DEBTOR_ID], row->flen[INGEST_DEBTOR_ID], &dm)) ==
             -ENOENT)
        add_err(e, "debtor_id: unknown debtor '%s'",
                quoted(b, row->f[INGEST_DEBTOR_ID], row->flen[INGEST_DEBTOR_ID]));
    else if (r < 0)
        return r;
    else {
        have_debtor = true;
        ref = dm->ref;
        o.debtor_id = ref.id;
        z = dm->z;
        o.segment = dm->segment;
    }

    if (present(row, INGEST_CHANNEL)) {
        const char *ch = row->f[INGEST_CHANNEL];
        const struct channel_conf *cc = config_channel(x->cfg, ch);
        int k = cc ? (int)cc->kind : (int)chan_kind_from_string(ch);
        if (k < 0) {
            add_err(e, "channel: unknown channel '%s' (a kind: email, sms, chat, call, letter; "
                       "or a configured channel name)",
                    quoted(b, ch, row->flen[INGEST_CHANNEL]));
        } else
            o.kind = k;
    }

    if (!present(row, INGEST_ATTEMPTED_AT))
        add_err(e, "attempted_at: missing");
    else if (campaign_parse_time(row->f[INGEST_ATTEMPTED_AT], row->flen[INGEST_ATTEMPTED_AT], &o.at) <
             0)
        add_err(e, "attempted_at: '%s' is not an RFC 3339 time (2026-03-10T09:30:00Z)",
                quoted(b, row->f[INGEST_ATTEMPTED_AT], row->flen[INGEST_ATTEMPTED_AT]));
    else if (o.at > x->now + 86400)
        add_err(e, "attempted_at: '%s' is in the future",
                quoted(b, row->f[INGEST_ATTEMPTED_AT], row->flen[INGEST_ATTEMPTED_AT]));

    int code = -1;
    if (!present(row, INGEST_OUTCOME))
        add_err(e, "outcome: missing");
    else if ((code = (int)outcome_code_from_string(row->f[INGEST_OUTCOME])) < 0) {
        const char *names[_OUTCOME_MAX];
        for (int i = 0; i < _OUTCOME_MAX; i++)
            names[i] = outcome_code_to_string((enum outcome_code)i);
        const char *near = closest_word(row->f[INGEST_OUTCOME], names, _OUTCOME_MAX);
        if (near)
            add_err(e, "outcome: unknown outcome '%s' (did you mean '%s'?)",
                    quoted(b, row->f[INGEST_OUTCOME], row->flen[INGEST_OUTCOME]), near);
        else
            add_err(e, "outcome: unknown outcome '%s'",
                    quoted(b, row->f[INGEST_OUTCOME], row->flen[INGEST_OUTCOME]));
    }
    o.code = code;

    if (present(row, INGEST_AMOUNT)) {
        /* the debtor's currency decides the decimals (2 when unknown) */
        int exp = currency_exponent(ref.currency[0] ? ref.currency : NULL);
        if (exp < 0)
            exp = 2;
        if (parse_amount_minor(row->f[INGEST_AMOUNT], row->flen[INGEST_AMOUNT], exp,
                               &o.amount_minor) < 0)
            add_err(e, "amount: '%s' is not an amount (major units, at most %d decimal%s%s%s)",
                    quoted(b, row->f[INGEST_AMOUNT], row->flen[INGEST_AMOUNT]), exp,
                    exp == 1 ? "" : "s", ref.currency[0] ? " for " : "", ref.currency);
        else
            o.has_amount = true;
    }
    if (present(row, INGEST_PROMISE_DATE) &&
        parse_date(row->f[INGEST_PROMISE_DATE], row->flen[INGEST_PROMISE_DATE], &o.promise_date) < 0)
        add_err(e, "promise_date: '%s' is not a date (YYYY-MM-DD)",
                quoted(b, row->f[INGEST_PROMISE_DATE], row->flen[INGEST_PROMISE_DATE]));

    char akey[200] = "";
    if (present(row, INGEST_IDEMPOTENCY_KEY)) {
        int64_t aid, adebtor;
        r = store_attempt_find(x->s, row->f[INGEST_IDEMPOTENCY_KEY], &aid, &adebtor);
        if (r == -ENOENT)
            add_err(e, "idempotency_key: no attempt '%s'",
                    quoted(b, row->f[INGEST_IDEMPOTENCY_KEY], row->flen[INGEST_IDEMPOTENCY_KEY]));
        else if (r < 0)
            return r;
        else if (have_debtor && adebtor != ref.id)
            add_err(e, "idempotency_key: attempt '%s' belongs to another debtor",
                    quoted(b, row->f[INGEST_IDEMPOTENCY_KEY], row->flen[INGEST_IDEMPOTENCY_KEY]));
        else {
            o.attempt_id = aid;
            snprintf(akey, sizeof(akey), "k:%.190s", row->f[INGEST_IDEMPOTENCY_KEY]);
        }
    } else if (present(row, INGEST_ATTEMPT_ID))
        snprintf(akey, sizeof(akey), "a:%.190s", row->f[INGEST_ATTEMPT_ID]);
    if (e->len)
        return 0;

    /*
     * invariant 1: the key is a hash of the normalised row (the store adds
     * the day and the debtor); before schema 7 it was "import:" and both
     * hashes in hex, which the store still looks up for older rows
     */
    char hb[8 * 24 + sizeof(akey)], *p = hb;
    p = put_dec(p, o.debtor_id);
    *p++ = '|';
    p = put_dec(p, o.kind);
    *p++ = '|';
    p = put_dec(p, o.at);
    *p++ = '|';
    p = put_dec(p, o.code);
    *p++ = '|';
    p = put_dec(p, o.has_amount ? o.amount_minor : -1);
    *p++ = '|';
    p = put_dec(p, o.promise_date);
    *p++ = '|';
    p = put_dec(p, o.has_amount);
    *p++ = '|';
    size_t al = strlen(akey);
    memcpy(p, akey, al);
    p += al;
    size_t hl = (size_t)(p - hb);
    o.dedupe_hash = hash64(hb, hl, 0x6f7574636f6d65ULL);
    o.counts = o.kind >= 0 && o.code != OUTCOME_FAILED;
    o.reach = o.kind >= 0 && outcome_is_reach((enum chan_kind)o.kind, (enum outcome_code)o.code);
    o.how = z ? campaign_hour_of_week(z, o.at) : 0;

    *ret = (struct ingest_prepared){ .o = o, .h2 = hash64(hb, hl, 0x9e3779b97f4a7c15ULL) };
    memcpy(ret->attempt_key, akey, sizeof(akey));
    /* recent news only: a history import must not stop today's jobs */
    ret->stops = outcome_stop_reason((enum outcome_code)o.code) &&
                 o.at >= x->now - INGEST_STOP_SECONDS;
    return 0;
}
