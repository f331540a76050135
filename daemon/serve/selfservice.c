/*
 * selfservice.c - the self-service page's routes and actions
 * (selfservice.h, docs/selfservice.md).
 *
 *   GET /s/<token>  ─► limits (address, link) ─► link_verify ─► the store's view
 *       of the debtor ─► offers (strategy tier, brief.c) ─► page.c ─► 200
 *       (first visit of a link: a `clicked` outcome, fire and forget)
 *   POST /s/<token> ─► limits ─► link_verify ─► Origin ─► form token (CSRF)
 *       ─► the view ─► the action's checks ─► outcome records
 *       ─► serve_outcomes_submit (store writer: ingest, store, plan/prefs rows,
 *          stop markers) ─► confirmation page, or "already used"
 *
 * Owns: the rate limit tables, the set of links whose visit is recorded,
 * the requests in flight (each until its done callback), the counters.
 * Never: writes the store itself, blocks the loop (reads are a few indexed
 * lookups on the loop's connection, which WAL never makes wait for the
 * writer), or tells a caller of an invalid link more than "not valid".
 *
 * Invariants:
 *  1. Nothing changes unless the link verifies, the form token is this
 *     link's and fresh, and the action is one the debtor's strategy
 *     offers; every refusal page says "nothing was changed" and is true.
 *  2. A one-shot action (promise, plan, due date move) is stored under
 *     the link's key "selfservice:<attempt>:commit": whatever comes
 *     after it with that link (a replay, a second action, two at once)
 *     is a duplicate for the store and "already used" for the debtor.
 *  3. The rows an action adds besides its outcome (plan, preferences,
 *     the action log) are written in the same part of the same group
 *     commit, and only when its outcome was new.
 */
#include "selfservice.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <time.h>

#include "api.h"
#include "brief.h"
#include "config.h"
#include "http.h"
#include "link.h"
#include "log.h"
#include "metrics.h"
#include "outcome.h"
#include "page.h"
#include "prefs.h"
#include "ratelimit.h"
#include "serve.h"
#include "store.h"
#include "strategy.h"
#include "tz.h"
#include "writer.h"

#define VISITS_MAX 4096          /* links whose visit was recorded, remembered */
#define FORM_BODY_MAX 16384      /* a form is small */
#define DISPUTE_MAX 1000         /* bytes of a dispute's reason */
#define PLAN_FIRST_DAYS 30       /* the first instalment at most this many days ahead */
#define SOURCE "selfservice"

enum ss_result {
    R_PAGE, R_ACTION, R_DUPLICATE, R_INVALID, R_EXPIRED, R_USED, R_FORM, R_LIMITED,
    R_UNAVAILABLE, R_BAD, _R_MAX
};
static const char *const result_names[_R_MAX] = {
    "page", "action", "duplicate", "invalid", "expired", "used", "form_expired",
    "rate_limited", "unavailable", "bad_request",
};

enum ss_action { A_VISIT, A_PROMISE, A_PLAN, A_MOVE, A_DISPUTE, A_OPT_OUT, A_PREFS, A_PAID,
                 _A_MAX };
static const char *const action_names[_A_MAX] = {
    "visit", "promise", "plan", "move", "dispute", "opt_out", "prefs", "paid",
};

struct selfservice {
    struct serve *sv;
    struct ratelimit *by_addr, *by_link;
    struct tz_cache *tzc;
    int64_t visited[VISITS_MAX]; /* attempt ids, direct-mapped */
    uint64_t results[_R_MAX], actions[_A_MAX];
    size_t inflight;
};

/* One action in flight, from the loop to the store writer and back. */
struct ss_req {
    struct selfservice *ss;
    enum ss_action action;
    int64_t debtor_id, attempt_id;
    char debtor[LINK_DEBTOR_MAX + 1];
    char attempt[24];
    char channel[65];            /* the channel of the attempt whose message carried the link */
    bool want_channel;           /* ... goes on the records (not opt-outs: they name theirs) */
    char at[32];                 /* attempted_at: now */
    char event[4][96];
    char date[11], amount[32];
    char kinds[4][8];
    struct api_record rec[4];
    size_t nrec;
    /* what after() writes */
    bool write_prefs, write_plan;
    struct prefs prefs;
    struct plan_instalment plan[PLAN_INSTALMENTS_MAX];
    size_t plan_n;
    char currency[4];
    int64_t agreed_at;
    const char *stop_reason;     /* a stop marker of our own (preferences, a moved due date) */
    int64_t stop_until;
    char *detail;                /* the action log's JSON */
    /* the answer */
    struct page_done done;
    bool one_shot;
    char creditor[121], support[41], back[LINK_TOKEN_MAX + 8];
};

int selfservice_new(struct serve *sv, struct selfservice **ret)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
        seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)sv;
    struct selfservice *ss = calloc(1, sizeof(*ss));
    if (!ss)
        return -ENOMEM;
    ss->sv = sv;
    ss->by_addr = ratelimit_new(16384, seed);
    ss->by_link = ratelimit_new(16384, seed ^ 0x5bd1e9955bd1e995ULL);
    ss->tzc = tz_cache_new();
    if (!ss->by_addr || !ss->by_link || !ss->tzc) {
        selfservice_free(ss);
        return -ENOMEM;
    }
    *ret = ss;
    return 0;
}

void selfservice_free(struct selfservice *ss)
{
    if (!ss)
        return;
    ratelimit_free(ss->by_addr);
    ratelimit_free(ss->by_link);
    tz_cache_free(ss->tzc);
    free(ss);
}

static void req_free(struct ss_req *q)
{
    if (!q)
        return;
    free(q->detail);
    free(q);
}

/* ---- replies ---- */

static void page_headers(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char csp[160];
    snprintf(csp, sizeof(csp),
             "default-src 'none'; style-src '%s'; form-action 'self'; frame-ancestors 'none'; "
             "base-uri 'none'",
             page_css_hash());
    evhttp_add_header(h, "Content-Security-Policy", csp);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
}

static void reply_html(struct evhttp_request *req, int code, struct sbuf *b)
{
    page_headers(req);
    http_reply(req, code, "text/html; charset=utf-8", b->buf, b->len);
}

static const struct page_conf *conf_of(const struct config *cfg)
{
    static struct page_conf dflt = { .per_address = PAGE_CONF_PER_ADDRESS,
                                     .per_token = PAGE_CONF_PER_TOKEN,
                                     .form_ttl = PAGE_CONF_FORM_TTL };
    return cfg->selfservice ? cfg->selfservice : &dflt;
}

static void refuse(struct selfservice *ss, struct evhttp_request *req, enum page_lang l,
                   enum page_refusal why, const char *back)
{
    static const int codes[] = { [PAGE_INVALID] = 404, [PAGE_EXPIRED] = 410, [PAGE_USED] = 409,
                                 [PAGE_FORM_EXPIRED] = 403, [PAGE_TOO_MANY] = 429,
                                 [PAGE_UNAVAILABLE] = 503 };
    static const enum ss_result res[] = { [PAGE_INVALID] = R_INVALID, [PAGE_EXPIRED] = R_EXPIRED,
                                          [PAGE_USED] = R_USED, [PAGE_FORM_EXPIRED] = R_FORM,
                                          [PAGE_TOO_MANY] = R_LIMITED,
                                          [PAGE_UNAVAILABLE] = R_UNAVAILABLE };
    const struct page_conf *pc = conf_of(serve_config(ss->sv, NULL));
    struct sbuf b = SBUF_INIT;
    ss->results[res[why]]++;
    if (page_render_refusal(l, why, pc->creditor, pc->support_phone, back, &b) < 0) {
        http_reply_error(req, 500, "out of memory");
    } else
        reply_html(req, codes[why], &b);
    sbuf_release(&b);
}

/* ---- small helpers ---- */

static void fmt_utc(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Minor units as the major-unit decimal ingest reads ("1234.56" for EUR). */
static void major_units(int64_t minor, const char *currency, char *buf, size_t len)
{
    int exp = currency_exponent(currency);
    if (exp < 0 || exp > 4)
        exp = exp < 0 ? 2 : 4;
    char digits[32];
    int n = snprintf(digits, sizeof(digits), "%0*" PRId64, exp + 1, minor < 0 ? 0 : minor);
    if (n <= 0 || (size_t)n >= sizeof(digits) || (size_t)n + 2 > len) {
        snprintf(buf, len, "0");
        return;
    }
    memcpy(buf, digits, (size_t)(n - exp));
    size_t o = (size_t)(n - exp);
    if (exp)
        buf[o++] = '.';
    memcpy(buf + o, digits + n - exp, (size_t)exp);
    buf[o + (size_t)exp] = 0;
}

static int64_t pow10i(int e)
{
    int64_t p = 1;
    while (e-- > 0)
        p *= 10;
    return p;
}

static const struct tz *debtor_tz(struct selfservice *ss, const char *name)
{
    const struct tz *z = NULL;
    if (!name || tz_cache_get(ss->tzc, name, &z) < 0)
        tz_cache_get(ss->tzc, "UTC", &z);
    return z;
}

static int32_t local_day(const struct tz *z, int64_t t)
{
    struct tz_local l;
    tz_to_local(z, t, &l);
    return l.days;
}

/* The UTC instant a local day ends (its next day starts). */
static int64_t day_end(const struct tz *z, int32_t day)
{
    int64_t u = 0;
    tz_local_to_utc(z, day + 1, 0, &u);
    return u;
}

/* The record i, with the link's debtor, attempt and the time filled in. */
static struct ingest_row *record(struct ss_req *q, const char *event, const char *outcome)
{
    size_t i = q->nrec++;
    struct api_record *r = &q->rec[i];
    memset(r, 0, sizeof(*r));
    snprintf(q->event[i], sizeof(q->event[i]), "%s", event);
    r->event_id = q->event[i];
    struct ingest_row *row = &r->row;
    row->f[INGEST_DEBTOR_ID] = q->debtor;
    row->flen[INGEST_DEBTOR_ID] = strlen(q->debtor);
    row->f[INGEST_OUTCOME] = outcome;
    row->flen[INGEST_OUTCOME] = strlen(outcome);
    row->f[INGEST_ATTEMPTED_AT] = q->at;
    row->flen[INGEST_ATTEMPTED_AT] = strlen(q->at);
    /* the attempt key groups the link's outcomes with its message's ("a:<id>") */
    row->f[INGEST_ATTEMPT_ID] = q->attempt;
    row->flen[INGEST_ATTEMPT_ID] = strlen(q->attempt);
    return row;
}

static void set_field(struct ingest_row *row, enum ingest_field f, const char *v)
{
    row->f[f] = v;
    row->flen[f] = strlen(v);
}

static struct ss_req *req_new(struct selfservice *ss, enum ss_action a, const char *debtor,
                              int64_t attempt, int64_t now)
{
    struct ss_req *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->ss = ss;
    q->action = a;
    q->attempt_id = attempt;
    snprintf(q->debtor, sizeof(q->debtor), "%s", debtor);
    snprintf(q->attempt, sizeof(q->attempt), "%" PRId64, attempt);
    fmt_utc(now, q->at, sizeof(q->at));
    q->want_channel = true;
    return q;
}

/* ---- the writer's side ---- */

/* The channel of the attempt whose message carried the link, when it is this debtor's. */
static int req_before(struct writer_ctx *c, void *arg)
{
    struct ss_req *q = arg;
    struct store_attempt_ref ref;
    if (!q->want_channel || q->attempt_id <= 0)
        return 0;
    int r = store_attempt_get(c->store, q->attempt_id, &ref);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (!streq(ref.debtor_external_id, q->debtor))
        return 0;
    snprintf(q->channel, sizeof(q->channel), "%s", ref.channel);
    for (size_t i = 0; i < q->nrec; i++)
        set_field(&q->rec[i].row, INGEST_CHANNEL, q->channel);
    return 0;
}

/* invariant 3: the rows besides the outcome, only when it was new */
static int req_after(struct writer_ctx *c, void *arg, const uint8_t *added)
{
    struct ss_req *q = arg;
    bool any = false;
    for (size_t i = 0; i < q->nrec; i++)
        any |= added[i] != 0;
    if (!any || q->action == A_VISIT || q->action == A_PAID)
        return 0;
    struct store_debtor_ref ref;
    int r = store_debtor_find(c->store, q->debtor, &ref);
    if (r < 0)
        return r;
    if (q->write_plan && (r = store_plan_put(c->store, ref.id, q->attempt_id, q->agreed_at,
                                             q->currency[0] ? q->currency : NULL, q->plan,
                                             q->plan_n, c->now)) < 0)
        return r;
    if (q->write_prefs && (r = store_prefs_put(c->store, ref.id, &q->prefs, c->now)) < 0)
        return r;
    if ((r = store_ss_action_add(c->store, ref.id, q->attempt_id, action_names[q->action],
                                 q->detail, c->now)) < 0)
        return r;
    if (q->stop_reason && (r = writer_stop_marker(c, q->debtor, q->stop_reason,
                                                  q->stop_until)) < 0)
        return r;
    return 0;
}

/* A visit's record: nobody waits for it. */
static void visit_done(void *arg, struct evhttp_request *req, int r, const char *err,
                       size_t stored, size_t duplicates)
{
    struct ss_req *q = arg;
    (void)req;
    (void)stored;
    (void)duplicates;
    if (r < 0 && r != -EINVAL)
        log_warning("cannot record the self-service visit of attempt %" PRId64 ": %s",
                    q->attempt_id, strerror(-r));
    else if (r == -EINVAL)
        log_debug("self-service visit of attempt %" PRId64 " not recorded: %s", q->attempt_id,
                  err ? err : "refused");
    q->ss->inflight--;
    req_free(q);
}

static void action_done(void *arg, struct evhttp_request *req, int r, const char *err,
                        size_t stored, size_t duplicates)
{
    struct ss_req *q = arg;
    struct selfservice *ss = q->ss;
    ss->inflight--;
    if (!req) {
        req_free(q);
        return;
    }
    if (r < 0) {
        if (r == -EINVAL)
            log_warning("self-service %s of '%s' refused by ingest: %s",
                        action_names[q->action], q->debtor, err ? err : "?");
        refuse(ss, req, q->done.lang, PAGE_UNAVAILABLE, q->back);
        req_free(q);
        return;
    }
    if (!stored && duplicates && q->one_shot) {
        refuse(ss, req, q->done.lang, PAGE_USED, q->back); /* invariant 2 */
        req_free(q);
        return;
    }
    q->done.again = !stored && duplicates;
    if (!q->done.again)
        ss->actions[q->action]++;
    ss->results[q->done.again ? R_DUPLICATE : R_ACTION]++;
    struct sbuf b = SBUF_INIT;
    if (page_render_done(&q->done, &b) < 0)
        http_reply_error(req, 500, "out of memory");
    else
        reply_html(req, 200, &b);
    sbuf_release(&b);
    req_free(q);
}

static int submit(struct selfservice *ss, struct evhttp_request *req, struct ss_req *q,
                  void (*done)(void *, struct evhttp_request *, int, const char *, size_t,
                               size_t))
{
    struct serve_outcomes o = {
        .source = q->action == A_PAID ? "payment" : SOURCE,
        .records = q->rec,
        .n = q->nrec,
        .before = req_before,
        .after = req_after,
        .done = done,
        .arg = q,
    };
    int r = serve_outcomes_submit(ss->sv, req, &o);
    if (r == 0)
        ss->inflight++;
    return r;
}

/* ---- reading the debtor ---- */

/* Everything a request needs, gathered on the loop before the page or the action. */
struct ctx {
    struct selfservice *ss;
    struct evhttp_request *req;
    const char *token;
    const struct link_claims *cl;
    const struct config *cfg;
    const struct strategy_set *set;
    const struct page_conf *pc;
    enum page_lang accept;
    int64_t now;
    bool post;
    struct evkeyvalq *form;      /* POST */
    const uint8_t *nonce;        /* POST: the form token's */
    char back[LINK_TOKEN_MAX + 8];
    char pay_url[LINK_BASE_URL_MAX + LINK_TOKEN_MAX];
};

/* The page's data from the store's view: offers, quiet period, what this link did. */
struct derived {
    struct page_view v;
    const struct tz *tz;
    struct brief br;
    struct brief_input bin;
    int grace;
    int64_t min_minor;
    int plan_max_n;
};

static int derive(struct ctx *x, const struct store_ss_view *sv, struct derived *d)
{
    struct page_view *v = &d->v;
    const struct debtor_rec *rec = &sv->rec;
    if (!(d->tz = debtor_tz(x->ss, rec->time_zone)))
        return -ENOENT; /* not even UTC: the tz database is missing */
    int32_t today = local_day(d->tz, x->now);
    int32_t due = rec->due_date;
    /* a due date the debtor moved stands while the imported one is the one moved */
    if (sv->has_prefs && sv->prefs.due_to && due == sv->prefs.due_from)
        due = sv->prefs.due_to;
    int dpd = due == INT32_MIN ? 0 : today - due;

    memset(&d->bin, 0, sizeof(d->bin));
    d->bin.debtor_id = rec->external_id;
    d->bin.name = rec->name;
    d->bin.locale = rec->locale;
    d->bin.currency = rec->currency;
    d->bin.tz = d->tz;
    d->bin.balance_minor = rec->balance_minor;
    d->bin.due_date = due;
    d->bin.payday = rec->payday;
    d->bin.flags = rec->flags;
    d->bin.tags = rec->tags;
    d->bin.outcomes = sv->outcomes;
    d->bin.noutcomes = sv->noutcomes;
    d->bin.now = x->now;
    brief_strategy(x->set, rec, dpd, sv->strategy, sv->variant, sv->tier, &d->bin);
    memset(&d->br, 0, sizeof(d->br));
    brief_build(&d->bin, &d->br); /* d->tz is set: it cannot fail */
    d->grace = d->bin.promise_grace_days;

    const char *lang = sv->prefs.language[0] ? sv->prefs.language : rec->locale;
    memset(v, 0, sizeof(*v));
    v->lang = page_lang_from_locale(lang, x->accept);
    v->creditor = x->pc->creditor;
    v->support_phone = x->pc->support_phone;
    v->name = d->br.name;
    v->reference = rec->external_id;
    v->email = rec->email;
    v->phone = rec->phone[0] ? rec->phone : NULL;
    v->kinds = (uint8_t)(planner_addresses(rec) & PREFS_PERSON_KINDS);
    v->currency = rec->currency;
    v->balance_minor = rec->balance_minor;
    v->today = today;
    v->due_date = due;
    v->payday = d->br.payday;
    bool held = sv->hold_reason != NULL || d->br.stopped_by != NULL;
    v->disputed = sv->dispute.code >= 0 || (rec->flags & DEBTOR_DISPUTE) ||
                  streq_ptr(sv->hold_reason, "dispute");
    v->collection_stopped = held || sv->stopped || rec->balance_minor <= 0;
    const struct tier_offers *o = &d->bin.offers;
    v->can_promise = o->promise_max_days > 0;
    v->promise_max = today + o->promise_max_days;
    int exp = currency_exponent(rec->currency);
    d->min_minor = (int64_t)o->plan_min_instalment * pow10i(exp < 0 ? 2 : exp);
    int n = o->plan_max_instalments;
    if (d->min_minor > 0 && rec->balance_minor / d->min_minor < n)
        n = (int)(rec->balance_minor / d->min_minor);
    if (rec->balance_minor < n)
        n = (int)rec->balance_minor;
    d->plan_max_n = n;
    v->can_plan = n >= 2;
    v->plan_max_n = n;
    v->plan_min_minor = d->min_minor;
    v->plan_first_max = today + PLAN_FIRST_DAYS;
    /* before the due date only (preventive): a debt overdue has no due date to move */
    v->can_move = o->move_due_date && due != INT32_MIN && due >= today;
    v->pay_url = x->pay_url[0] ? x->pay_url : NULL;
    v->commit_code = sv->commit.code;
    v->commit_date = sv->commit.date;
    v->commit_amount = sv->commit.amount_minor;
    v->opted_out = sv->opted_out;
    v->prefs = &sv->prefs;
    v->plan = sv->plan;
    v->plan_n = sv->plan_n;
    /* the quiet period: the stored pause, a promise or plan not applied by a run yet */
    int32_t quiet = 0;
    if (sv->paused_until > x->now)
        quiet = local_day(d->tz, sv->paused_until - 1) + 1;
    if (sv->commit.code == OUTCOME_PROMISE_TO_PAY && sv->commit.date + d->grace + 1 > quiet)
        quiet = sv->commit.date + d->grace + 1;
    if (sv->plan_n) {
        size_t k = prefs_plan_next(sv->plan, sv->plan_n, sv->plan_paid);
        if (k < sv->plan_n && sv->plan[k].day + d->grace >= today &&
            sv->plan[k].day + d->grace + 1 > quiet)
            quiet = sv->plan[k].day + d->grace + 1;
    }
    v->quiet_until = quiet;
    return 0;
}

/* ---- GET ---- */

static void record_visit(struct selfservice *ss, const struct link_claims *cl, int64_t now)
{
    size_t slot = (size_t)((uint64_t)cl->attempt_id * 0x9e3779b97f4a7c15ULL >> 52) % VISITS_MAX;
    if (ss->visited[slot] == cl->attempt_id)
        return; /* recorded already (the dedupe key would make it a duplicate anyway) */
    struct ss_req *q = req_new(ss, A_VISIT, cl->debtor_id, cl->attempt_id, now);
    if (!q)
        return;
    char ev[64];
    snprintf(ev, sizeof(ev), "%" PRId64 ":visit", cl->attempt_id);
    record(q, ev, "clicked");
    if (submit(ss, NULL, q, visit_done) < 0) {
        req_free(q);
        return;
    }
    ss->visited[slot] = cl->attempt_id;
    ss->actions[A_VISIT]++;
}

static int form_token(struct ctx *x, char *buf, size_t len)
{
    const struct link_key *k = link_conf_key(x->cfg->links, x->cl->key_id);
    uint8_t nonce[PAGE_NONCE_LEN];
    if (!k)
        return -ENOKEY;
    if (getrandom(nonce, sizeof(nonce), GRND_NONBLOCK) != sizeof(nonce))
        return -EIO;
    return page_form_token(k->secret, k->secret_len, x->token, x->now, nonce, buf, len);
}

static int render_main(struct ctx *x, struct derived *d, const char *error, int code)
{
    char ft[PAGE_FORM_TOKEN_MAX];
    struct sbuf b = SBUF_INIT;
    int r = form_token(x, ft, sizeof(ft));
    if (r < 0)
        return r;
    d->v.form_token = ft;
    d->v.error = error;
    if ((r = page_render_main(&d->v, &b)) < 0) {
        sbuf_release(&b);
        return r;
    }
    x->ss->results[error ? R_BAD : R_PAGE]++;
    reply_html(x->req, code, &b);
    sbuf_release(&b);
    return 0;
}

/* ---- POST: the actions ---- */

/* The form's errors, in the debtor's language. */
enum ferr { E_DATE, E_PLAN, E_DISPUTE, E_KINDS, E_RANGE, E_FULL, E_OFFER, E_ACTION, _E_MAX };
static const char *const ferr_text[_E_MAX][_PAGE_LANG_MAX] = {
    [E_DATE] = { "Choose a date from tomorrow to the last day shown.",
                 "Elija una fecha entre mañana y el último día indicado." },
    [E_PLAN] = { "Choose a number of payments and the date of the first one.",
                 "Elija un número de pagos y la fecha del primero." },
    [E_DISPUTE] = { "Please tell us why, in up to 1000 characters.",
                    "Explíquenos por qué, en hasta 1000 caracteres." },
    [E_KINDS] = { "Choose at least one channel.", "Elija al menos un canal." },
    [E_RANGE] = { "The end time must be after the start time.",
                  "La hora final debe ser posterior a la inicial." },
    [E_FULL] = { "You can keep at most 8 times not to be contacted: remove one first.",
                 "Puede mantener como mucho 8 horarios sin contacto: quite uno antes." },
    [E_OFFER] = { "This option is not available for your account.",
                  "Esta opción no está disponible para su cuenta." },
    [E_ACTION] = { "Please choose an option on the page.", "Elija una opción de la página." },
};

static const char *field(struct ctx *x, const char *name)
{
    return evhttp_find_header(x->form, name);
}

static bool parse_day(const char *s, int32_t *ret)
{
    return s && strlen(s) == 10 && parse_date(s, 10, ret) == 0;
}

static int kind_of(const char *s)
{
    static const char *const k[] = { "email", "sms", "chat", "call" };
    for (int i = 0; s && i < 4; i++)
        if (streq(s, k[i]))
            return i;
    return -1;
}

static bool utf8_text_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n)
            return false;
        if (len == 1 && c < 0x20 && c != '\n' && c != '\r' && c != '\t')
            return false;
        for (size_t k = 1; k < len; k++)
            if (((unsigned char)s[i + k] >> 6) != 2)
                return false;
        i += len;
    }
    return true;
}

static uint8_t days_of(const char *s)
{
    static const char *const wd[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
    if (!s || streq(s, "daily"))
        return 0x7f;
    if (streq(s, "weekdays"))
        return 0x1f;
    if (streq(s, "weekends"))
        return 0x60;
    for (int d = 0; d < 7; d++)
        if (streq(s, wd[d]))
            return (uint8_t)(1u << d);
    return 0;
}

/* An hour field 0..24: -1 when absent or empty, -2 when malformed. */
static int hour_of(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    long h = strtol(s, &end, 10);
    return *end || h < 0 || h > 24 ? -2 : (int)h;
}

/* The new preferences from the form, on top of the stated ones. */
static enum ferr prefs_from_form(struct ctx *x, const struct prefs *old, struct prefs *p,
                                 bool *ret_harder)
{
    prefs_init(p);
    p->due_from = old->due_from;
    p->due_to = old->due_to;
    const char *ch = field(x, "channel");
    p->channel = (int8_t)kind_of(ch);
    if (ch && *ch && p->channel < 0)
        return E_ACTION;
    p->human = field(x, "human") ? 1 : old->human == 1 ? 0 : -1;
    const char *lang = field(x, "language");
    if (lang && (streq(lang, "es") || streq(lang, "en")))
        snprintf(p->language, sizeof(p->language), "%s", lang);
    /* the ranges kept: their indexes among the old ones */
    struct evkeyval *e;
    TAILQ_FOREACH(e, x->form, next) {
        if (!streq(e->key, "keep"))
            continue;
        char *end;
        long i = strtol(e->value, &end, 10);
        if (*end || i < 0 || i >= old->nforbid)
            return E_ACTION;
        bool dup = false;
        for (size_t k = 0; k < p->nforbid; k++)
            dup |= memcmp(&p->forbid[k], &old->forbid[i], sizeof(p->forbid[k])) == 0;
        if (!dup)
            prefs_range_add(p->forbid, &p->nforbid, old->forbid[i]);
    }
    bool harder = p->human == 1 && old->human != 1;
    const char *who = field(x, "f_who");
    if (who && *who) {
        uint8_t kinds = streq(who, "all") ? PREFS_PERSON_KINDS
                        : kind_of(who) >= 0 ? (uint8_t)(1u << kind_of(who))
                                            : 0;
        uint8_t days = days_of(field(x, "f_days"));
        int a = hour_of(field(x, "f_from")), b = hour_of(field(x, "f_to"));
        if (!kinds || !days || a < 0 || b < 0 || a > 23)
            return E_ACTION;
        if (b <= a)
            return E_RANGE;
        int r = prefs_range_add(p->forbid, &p->nforbid,
                                (struct prefs_range){ kinds, days, (int16_t)(a * 60),
                                                      (int16_t)(b * 60) });
        if (r == -E2BIG)
            return E_FULL;
        if (r < 0)
            return E_RANGE;
        harder = true;
    }
    int a = hour_of(field(x, "p_from")), b = hour_of(field(x, "p_to"));
    if (a == -2 || b == -2 || (a >= 0) != (b >= 0))
        return a == -2 || b == -2 ? E_ACTION : E_RANGE;
    if (a >= 0) {
        if (b <= a || a > 23)
            return E_RANGE;
        prefs_range_add(p->prefer, &p->nprefer,
                        (struct prefs_range){ PREFS_PERSON_KINDS, 0x7f, (int16_t)(a * 60),
                                              (int16_t)(b * 60) });
    }
    *ret_harder = harder;
    return _E_MAX;
}

/* The first day of the month on payday after `after` (clamped to the month's end). */
static int32_t next_payday(int32_t after, int payday)
{
    int y;
    unsigned m, d;
    civil_from_days(after, &y, &m, &d);
    for (int i = 0; i < 3; i++) {
        int dim = days_in_month(y, m);
        int want = payday < 0 || payday > dim ? dim : payday;
        int32_t day = days_from_civil(y, m, (unsigned)want);
        if (day > after)
            return day;
        if (++m > 12) {
            m = 1;
            y++;
        }
    }
    return 0;
}

static char *json_detail(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

/* Check the action and build its records; _E_MAX when it may go to the store. */
static enum ferr build(struct ctx *x, const struct store_ss_view *sv, struct derived *d,
                       struct ss_req *q)
{
    const struct page_view *v = &d->v;
    const char *act = field(x, "action");
    char ev[96];
    bool offers = !v->collection_stopped && !v->disputed;
    q->done.lang = v->lang;
    snprintf(q->currency, sizeof(q->currency), "%s", sv->rec.currency ? sv->rec.currency : "");
    q->done.currency = q->currency; /* the view's strings go with it */
    if (!act)
        return E_ACTION;
    if (streq(act, "promise")) {
        int32_t day;
        if (!offers || !v->can_promise)
            return E_OFFER;
        if (!parse_day(field(x, "date"), &day) || day <= v->today || day > v->promise_max)
            return E_DATE;
        q->action = A_PROMISE;
        q->one_shot = true;
        format_date(day, q->date);
        major_units(sv->rec.balance_minor, sv->rec.currency, q->amount, sizeof(q->amount));
        snprintf(ev, sizeof(ev), "%s:commit", q->attempt);
        struct ingest_row *row = record(q, ev, "promise_to_pay");
        set_field(row, INGEST_PROMISE_DATE, q->date);
        set_field(row, INGEST_AMOUNT, q->amount);
        q->done.kind = PAGE_DONE_PROMISE;
        q->done.date = day;
        q->done.amount_minor = sv->rec.balance_minor;
        q->done.quiet_until = day + d->grace + 1;
        q->detail = json_detail(json_pack("{s:s,s:I}", "date", q->date, "amount_minor",
                                          (json_int_t)sv->rec.balance_minor));
        return _E_MAX;
    }
    if (streq(act, "plan")) {
        int32_t first;
        char *end = NULL;
        const char *ns = field(x, "n");
        long n = ns ? strtol(ns, &end, 10) : 0;
        if (!offers || !v->can_plan)
            return E_OFFER;
        if (!end || *end || n < 2 || n > d->plan_max_n || !parse_day(field(x, "first"), &first) ||
            first <= v->today || first > v->plan_first_max)
            return E_PLAN;
        if (prefs_plan_schedule(sv->rec.balance_minor, (int)n, first, q->plan) < 0)
            return E_PLAN;
        q->plan_n = (size_t)n;
        for (size_t i = 0; i < q->plan_n; i++)
            if (q->plan[i].amount_minor < d->min_minor)
                return E_PLAN;
        q->action = A_PLAN;
        q->one_shot = true;
        q->write_plan = true;
        q->agreed_at = x->now;
        format_date(first, q->date);
        major_units(sv->rec.balance_minor, sv->rec.currency, q->amount, sizeof(q->amount));
        snprintf(ev, sizeof(ev), "%s:commit", q->attempt);
        struct ingest_row *row = record(q, ev, "plan_agreed");
        set_field(row, INGEST_PROMISE_DATE, q->date);
        set_field(row, INGEST_AMOUNT, q->amount);
        q->done.kind = PAGE_DONE_PLAN;
        q->done.plan = q->plan;
        q->done.plan_n = q->plan_n;
        q->done.quiet_until = first + d->grace + 1;
        json_t *inst = json_array();
        for (size_t i = 0; i < q->plan_n; i++) {
            char day[11];
            format_date(q->plan[i].day, day);
            json_array_append_new(inst, json_pack("{s:s,s:I}", "date", day, "amount_minor",
                                                  (json_int_t)q->plan[i].amount_minor));
        }
        q->detail = json_detail(json_pack("{s:o}", "instalments", inst));
        return _E_MAX;
    }
    if (streq(act, "move")) {
        const char *pd = field(x, "payday");
        char *end = NULL;
        long day = pd && streq(pd, "last") ? -1 : pd ? strtol(pd, &end, 10) : 0;
        if (!offers || !v->can_move)
            return E_OFFER;
        if (!pd || (day != -1 && (!end || *end || day < 1 || day > 31)))
            return E_ACTION;
        int32_t to = next_payday(v->due_date, (int)day);
        if (!to || to - v->due_date > 31)
            return E_ACTION;
        q->action = A_MOVE;
        q->one_shot = true;
        q->write_prefs = true;
        q->prefs = sv->prefs;
        q->prefs.due_from = sv->rec.due_date; /* the imported one */
        q->prefs.due_to = to;
        format_date(to, q->date);
        snprintf(ev, sizeof(ev), "%s:commit", q->attempt);
        struct ingest_row *row = record(q, ev, "due_date_moved");
        set_field(row, INGEST_PROMISE_DATE, q->date);
        /* today's reminders name the old date: cancelled; tomorrow's run plans anew */
        q->stop_reason = "due date moved";
        q->stop_until = day_end(d->tz, v->today);
        q->done.kind = PAGE_DONE_MOVE;
        q->done.date = to;
        char from[11];
        format_date(v->due_date, from);
        q->detail = json_detail(json_pack("{s:s,s:s}", "from", from, "to", q->date));
        return _E_MAX;
    }
    if (streq(act, "dispute")) {
        const char *why = field(x, "reason");
        size_t n = why ? strlen(why) : 0;
        while (n && (why[n - 1] == ' ' || why[n - 1] == '\n' || why[n - 1] == '\r'))
            n--;
        if (v->disputed)
            return E_OFFER;
        if (!n || n > DISPUTE_MAX || !utf8_text_ok(why, n))
            return E_DISPUTE;
        q->action = A_DISPUTE;
        snprintf(ev, sizeof(ev), "%s:dispute", q->attempt);
        record(q, ev, "dispute");
        q->done.kind = PAGE_DONE_DISPUTE;
        q->detail = json_detail(json_pack("{s:s%}", "reason", why, n));
        return _E_MAX;
    }
    if (streq(act, "opt_out")) {
        uint8_t kinds = 0;
        struct evkeyval *e;
        TAILQ_FOREACH(e, x->form, next) {
            int k = streq(e->key, "kind") ? kind_of(e->value) : -1;
            if (streq(e->key, "kind") && (k < 0 || !(v->kinds & (1u << k))))
                return E_ACTION;
            if (k >= 0 && !(v->opted_out & (1u << k)))
                kinds |= (uint8_t)(1u << k);
        }
        if (!kinds)
            return E_KINDS;
        q->action = A_OPT_OUT;
        q->want_channel = false; /* each names its own */
        json_t *list = json_array();
        for (int k = 0; k < 4; k++) {
            if (!(kinds & (1u << k)))
                continue;
            snprintf(q->kinds[q->nrec], sizeof(q->kinds[0]), "%s",
                     chan_kind_to_string((enum chan_kind)k));
            snprintf(ev, sizeof(ev), "%s:opt_out:%s", q->attempt, q->kinds[q->nrec]);
            json_array_append_new(list, json_string(q->kinds[q->nrec]));
            struct ingest_row *row = record(q, ev, "opt_out");
            set_field(row, INGEST_CHANNEL, q->kinds[q->nrec - 1]);
        }
        q->done.kind = PAGE_DONE_OPT_OUT;
        q->done.kinds = kinds;
        q->detail = json_detail(json_pack("{s:o}", "kinds", list));
        return _E_MAX;
    }
    if (streq(act, "prefs")) {
        bool harder = false;
        enum ferr e = prefs_from_form(x, &sv->prefs, &q->prefs, &harder);
        if (e != _E_MAX)
            return e;
        q->action = A_PREFS;
        q->write_prefs = true;
        char nonce[2 * PAGE_NONCE_LEN + 1];
        for (int i = 0; i < PAGE_NONCE_LEN; i++)
            snprintf(nonce + 2 * i, 3, "%02x", x->nonce[i]);
        snprintf(ev, sizeof(ev), "%s:prefs:%s", q->attempt, nonce);
        record(q, ev, "preferences");
        /* new hard rules: today's queued jobs may break them; the next run plans with them */
        if (harder) {
            q->stop_reason = "preferences changed";
            q->stop_until = day_end(d->tz, v->today);
        }
        q->done.kind = PAGE_DONE_PREFS;
        q->done.prefs = &q->prefs;
        struct sbuf f = SBUF_INIT, p = SBUF_INIT;
        prefs_ranges_format(q->prefs.forbid, q->prefs.nforbid, true, &f);
        prefs_ranges_format(q->prefs.prefer, q->prefs.nprefer, false, &p);
        q->detail = json_detail(json_pack("{s:s?,s:i,s:s?,s:s,s:s}", "channel",
                                          q->prefs.channel >= 0
                                              ? chan_kind_to_string(q->prefs.channel)
                                              : NULL,
                                          "human", q->prefs.human,
                                          "language", q->prefs.language[0] ? q->prefs.language
                                                                           : NULL,
                                          "forbidden", sbuf_cstr(&f), "preferred_hours",
                                          sbuf_cstr(&p)));
        sbuf_release(&f);
        sbuf_release(&p);
        return _E_MAX;
    }
    return E_ACTION;
}

/* ---- the request ---- */

static int on_view(void *arg, const struct store_ss_view *sv)
{
    struct ctx *x = arg;
    struct derived d;
    int r = derive(x, sv, &d);
    if (r < 0)
        return -EIO;
    if (!x->post)
        return render_main(x, &d, NULL, 200);
    /* invariant 2: a one-shot action after one: nothing more with this link */
    const char *act = field(x, "action");
    bool one = act && (streq(act, "promise") || streq(act, "plan") || streq(act, "move"));
    if (one && sv->commit.code >= 0) {
        refuse(x->ss, x->req, d.v.lang, PAGE_USED, x->back);
        return 0;
    }
    struct ss_req *q = req_new(x->ss, A_PROMISE, x->cl->debtor_id, x->cl->attempt_id, x->now);
    if (!q)
        return -ENOMEM;
    enum ferr e = build(x, sv, &d, q);
    if (e != _E_MAX) {
        req_free(q);
        return render_main(x, &d, ferr_text[e][d.v.lang], 422);
    }
    /* invariant 3 needs the rows' strings until done: they are q's */
    q->done.creditor = x->pc->creditor ? q->creditor : NULL;
    q->done.support_phone = x->pc->support_phone ? q->support : NULL;
    snprintf(q->creditor, sizeof(q->creditor), "%s", x->pc->creditor ? x->pc->creditor : "");
    snprintf(q->support, sizeof(q->support), "%s",
             x->pc->support_phone ? x->pc->support_phone : "");
    snprintf(q->back, sizeof(q->back), "%s", x->back);
    q->done.back_url = q->back;
    if (submit(x->ss, x->req, q, action_done) < 0) {
        enum page_lang l = d.v.lang;
        req_free(q);
        refuse(x->ss, x->req, l, PAGE_UNAVAILABLE, x->back);
    }
    return 0;
}

/* The origin of base_url: "https://host[:port]". */
static bool same_origin(const char *base, const char *origin)
{
    const char *p = strstr(base, "://");
    if (!p)
        return false;
    size_t n = (size_t)(p + 3 - base) + strcspn(p + 3, "/");
    return strlen(origin) == n && strncmp(base, origin, n) == 0;
}

void selfservice_route(struct selfservice *ss, struct evhttp_request *req, const char *token)
{
    const struct strategy_set *set = NULL;
    const struct config *cfg = serve_config(ss->sv, &set);
    const struct page_conf *pc = conf_of(cfg);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    enum page_lang dflt = page_lang_from_locale(cfg->default_locale, PAGE_EN);
    struct ctx x = {
        .ss = ss, .req = req, .token = token, .cfg = cfg, .set = set, .pc = pc,
        .accept = page_lang_accept(evhttp_find_header(in, "Accept-Language"), dflt),
        .now = (int64_t)time(NULL),
        .post = evhttp_request_get_command(req) == EVHTTP_REQ_POST,
    };
    size_t tlen = strlen(token);
    snprintf(x.back, sizeof(x.back), "/s/%.*s", (int)(tlen < LINK_TOKEN_MAX ? tlen : 0), token);
    const char *back = tlen < LINK_TOKEN_MAX ? x.back : NULL;

    /* limits first: nothing else is done for a client over them */
    char *peer = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer, &port);
    int wait_s = 0;
    int64_t ms = wall_ms();
    if (!ratelimit_take(ss->by_addr, peer ? peer : "", peer ? strlen(peer) : 0, pc->per_address,
                        ms, &wait_s) ||
        !ratelimit_take(ss->by_link, token, tlen < 512 ? tlen : 512, pc->per_token, ms,
                        &wait_s)) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", wait_s);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
        refuse(ss, req, x.accept, PAGE_TOO_MANY, NULL);
        return;
    }
    if (!cfg->links) {
        refuse(ss, req, x.accept, PAGE_INVALID, NULL);
        return;
    }
    struct link_claims cl;
    int r = link_verify(cfg->links, token, tlen, x.now, &cl);
    if (r == -EKEYEXPIRED) {
        /* authentic: the debtor's language is known (the claims are) */
        char loc[16] = "";
        enum page_lang l = x.accept;
        if (cl.debtor_id[0] && store_ss_locale(serve_store(ss->sv), cl.debtor_id, loc,
                                               sizeof(loc)) == 0)
            l = page_lang_from_locale(loc, x.accept);
        refuse(ss, req, l, PAGE_EXPIRED, NULL);
        return;
    }
    if (r < 0 || !cl.debtor_id[0]) {
        /* no detail that helps a forger (invariant 1) */
        refuse(ss, req, x.accept, PAGE_INVALID, NULL);
        return;
    }
    x.cl = &cl;
    if (pc->pay_url) {
        const char *t = strstr(pc->pay_url, "{token}");
        snprintf(x.pay_url, sizeof(x.pay_url), "%.*s%s%s", (int)(t - pc->pay_url), pc->pay_url,
                 token, t + 7);
    }

    struct evkeyvalq form;
    uint8_t nonce[PAGE_NONCE_LEN];
    TAILQ_INIT(&form);
    if (x.post) {
        struct evbuffer *body = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(body);
        char *buf = len <= FORM_BODY_MAX ? malloc(len + 1) : NULL;
        const char *origin = evhttp_find_header(in, "Origin");
        const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
        const struct link_key *k = link_conf_key(cfg->links, cl.key_id);
        bool ok = buf != NULL;
        if (ok) {
            evbuffer_copyout(body, buf, len);
            buf[len] = 0;
            ok = evhttp_parse_query_str(buf, &form) == 0;
        }
        free(buf);
        /* CSRF: a browser that says where the form came from must say here */
        if (ok && origin && !streq(origin, "null") && !same_origin(cfg->links->base_url, origin))
            ok = false;
        if (ok && site && !streq(site, "same-origin") && !streq(site, "none"))
            ok = false;
        if (ok && (!k || page_form_token_check(k->secret, k->secret_len, token,
                                               evhttp_find_header(&form, "csrf"), x.now,
                                               pc->form_ttl, nonce) < 0))
            ok = false;
        if (!ok) {
            /* the link is authentic: answer in the debtor's language */
            char loc[16] = "";
            enum page_lang l = x.accept;
            if (store_ss_locale(serve_store(ss->sv), cl.debtor_id, loc, sizeof(loc)) == 0)
                l = page_lang_from_locale(loc, x.accept);
            evhttp_clear_headers(&form);
            refuse(ss, req, l, PAGE_FORM_EXPIRED, back);
            return;
        }
        x.form = &form;
        x.nonce = nonce;
    }
    r = store_ss_view_get(serve_store(ss->sv), cl.debtor_id, cl.attempt_id,
                          x.now - (int64_t)BRIEF_HISTORY_DAYS * 86400, on_view, &x);
    evhttp_clear_headers(&form);
    if (r == -ENOENT) {
        refuse(ss, req, x.accept, PAGE_INVALID, NULL);
        return;
    }
    if (r < 0) {
        log_warning("self-service page of '%s': %s", cl.debtor_id,
                    r == -ENOMEM ? "out of memory" : store_errmsg(serve_store(ss->sv)));
        refuse(ss, req, x.accept, PAGE_UNAVAILABLE, NULL);
        return;
    }
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET)
        record_visit(ss, &cl, x.now);
}

/* ---- POST /webhooks/payment ---- */

static void paid_done(void *arg, struct evhttp_request *req, int r, const char *err,
                      size_t stored, size_t duplicates)
{
    struct ss_req *q = arg;
    q->ss->inflight--;
    if (req) {
        if (r == 0) {
            char body[96];
            snprintf(body, sizeof(body), "{\"stored\":%zu,\"duplicates\":%zu}\n", stored,
                     duplicates);
            if (stored)
                q->ss->actions[A_PAID]++;
            http_reply(req, 200, "application/json", body, strlen(body));
        } else if (r == -EINVAL)
            http_reply_error(req, 422, "%s", err ? err : "invalid payment");
        else
            http_reply_error(req, 503, "the store cannot take outcomes now; retry later");
    }
    req_free(q);
}

/*
 * {"event_id": "...", "token": "<the link's token>", "amount": "120.50",
 *  "paid_at": "2026-12-01T10:00:00Z"} signed like the outcome API
 * (Cadenza-Signature).  An expired link still names its debtor: a payment
 * started in time may arrive later.
 */
void selfservice_route_payment(struct evhttp_request *req, const char *path, void *ud)
{
    struct selfservice *ss = ud;
    const struct config *cfg = serve_config(ss->sv, NULL);
    (void)path;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    const char *why = NULL;
    int64_t now = (int64_t)time(NULL);
    if (!cfg->api || !cfg->links) {
        http_reply_error(req, 404, "payment notices need the outcome API's keys and links");
        return;
    }
    if (api_verify(cfg->api, evhttp_find_header(evhttp_request_get_input_headers(req),
                                                API_SIGNATURE_HEADER),
                   body, len, now, &why) < 0) {
        http_reply_error(req, 401, "%s", why ? why : "signature check failed");
        return;
    }
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    const char *ev = json_string_value(json_object_get(j, "event_id"));
    const char *tok = json_string_value(json_object_get(j, "token"));
    json_t *am = json_object_get(j, "amount");
    const char *at = json_string_value(json_object_get(j, "paid_at"));
    struct link_claims cl;
    int r = tok ? link_verify(cfg->links, tok, strlen(tok), now, &cl) : -EBADMSG;
    char amount[32];
    if (json_is_string(am))
        snprintf(amount, sizeof(amount), "%s", json_string_value(am));
    else if (json_is_integer(am))
        snprintf(amount, sizeof(amount), "%" JSON_INTEGER_FORMAT, json_integer_value(am));
    else
        amount[0] = 0;
    if (!j)
        http_reply_error(req, 400, "not JSON: %s", je.text);
    else if (!ev || !*ev || strlen(ev) > 80)
        http_reply_error(req, 422, "event_id: expected a string of 1 to 80 bytes");
    else if ((r < 0 && r != -EKEYEXPIRED) || !cl.debtor_id[0])
        http_reply_error(req, 422, "token: not a valid self-service link (%s)",
                         r < 0 ? link_strerror(r) : "names no debtor");
    else if (!amount[0])
        http_reply_error(req, 422, "amount: expected a decimal string (\"120.50\")");
    else {
        struct ss_req *q = req_new(ss, A_PAID, cl.debtor_id, cl.attempt_id, now);
        if (!q) {
            http_reply_error(req, 503, "out of memory");
        } else {
            if (at)
                snprintf(q->at, sizeof(q->at), "%s", at);
            snprintf(q->amount, sizeof(q->amount), "%s", amount);
            struct ingest_row *row = record(q, ev, "paid");
            set_field(row, INGEST_AMOUNT, q->amount);
            q->want_channel = false; /* a payment is no contact on a channel */
            if (submit(ss, req, q, paid_done) < 0) {
                req_free(q);
                http_reply_error(req, 503, "shutting down");
            }
        }
    }
    json_decref(j);
}

/* ---- metrics ---- */

int selfservice_metrics(struct selfservice *ss, struct sbuf *b)
{
    int r = prom_family(b, "cadenza_selfservice_requests_total", "counter",
                        "Self-service page requests by result (page shown, action stored, ...)");
    for (int i = 0; i < _R_MAX && r >= 0; i++) {
        struct prom_label l = { "result", result_names[i] };
        r = prom_sample(b, "cadenza_selfservice_requests_total", &l, 1, (double)ss->results[i]);
    }
    if (r >= 0)
        r = prom_family(b, "cadenza_selfservice_actions_total", "counter",
                        "Self-service actions stored (visit: a link's first view)");
    for (int i = 0; i < _A_MAX && r >= 0; i++) {
        struct prom_label l = { "action", action_names[i] };
        r = prom_sample(b, "cadenza_selfservice_actions_total", &l, 1, (double)ss->actions[i]);
    }
    return r;
}
