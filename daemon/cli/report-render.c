/*
 * report-render.c - the contact report on paper: a text table, JSON, CSV
 * and one self-contained HTML page (report-render.h; docs/report.md).
 *
 * Owns nothing past a call.  Never: computes a figure of its own (every
 * number comes from report.h, so the formats cannot disagree), or makes
 * the HTML page load anything (no scripts, no links, no fonts: inline CSS
 * and SVG only).
 *
 * Invariants:
 *  1. Every figure the HTML page shows sits in an element carrying
 *     data-k (the JSON field it is) inside an element carrying data-key
 *     (the JSON row it belongs to), so a reader can check the page
 *     against --format json (tests/integration/report-browser.mjs does).
 *  2. Every text from the store is escaped (HTML) or quoted (CSV).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "report-render.h"
#include "report.h"
#include "util.h"

enum report_format report_format_from_string(const char *s)
{
    static const char *const names[_REPORT_FORMAT_MAX] = {
        [REPORT_FORMAT_TABLE] = "table",
        [REPORT_FORMAT_JSON] = "json",
        [REPORT_FORMAT_CSV] = "csv",
        [REPORT_FORMAT_HTML] = "html",
    };
    for (int i = 0; s && i < _REPORT_FORMAT_MAX; i++)
        if (streq(names[i], s))
            return (enum report_format)i;
    return _REPORT_FORMAT_INVALID;
}

/* ---- shared formatting ---- */

static void fmt_time(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, 32, "%" PRId64, t);
}

static void range_days(const struct report *r, char from[11], char to[11])
{
    format_date(r->o.from, from);
    format_date(r->o.to, to);
}

/* minor units as a decimal in major units, exactly ("12.50") */
static void fmt_money(const struct report *r, int64_t minor, char *buf, size_t len)
{
    int e = r->o.currency_exp < 0 ? 0 : r->o.currency_exp > 4 ? 4 : r->o.currency_exp;
    uint64_t u = minor < 0 ? -(uint64_t)minor : (uint64_t)minor, p = 1;
    for (int i = 0; i < e; i++)
        p *= 10;
    if (e > 0)
        snprintf(buf, len, "%s%" PRIu64 ".%0*" PRIu64, minor < 0 ? "-" : "", u / p, e, u % p);
    else
        snprintf(buf, len, "%s%" PRIu64, minor < 0 ? "-" : "", u);
}

/* a rate as a percentage with one decimal, "-" when undefined */
static void fmt_pct(double x, char *buf, size_t len)
{
    if (isfinite(x))
        snprintf(buf, len, "%.1f%%", 100 * x);
    else
        snprintf(buf, len, "-");
}

static void fmt_num(double x, int decimals, char *buf, size_t len)
{
    if (isfinite(x))
        snprintf(buf, len, "%.*f", decimals, x);
    else
        snprintf(buf, len, "-");
}

static const char *role(bool champion)
{
    return champion ? "champion" : "challenger";
}

static const char *kind_name(int kind)
{
    const char *s = kind >= 0 ? chan_kind_to_string((enum chan_kind)kind) : NULL;
    return s ? s : "unknown";
}

/* A recovery metric is in minor units inside the report: the factor to major units. */
static double metric_scale(const struct report *r, int m)
{
    return m == REPORT_RECOVERY ? 1 / pow(10, r->o.currency_exp) : 1;
}

static double round6(double x)
{
    return isfinite(x) ? round(x * 1e6) / 1e6 : x;
}

/* ---- JSON ---- */

static json_t *jreal(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static void json_counts(json_t *o, const struct report *r, const struct report_counts *c)
{
    json_object_set_new(o, "planned", json_integer(c->planned));
    json_object_set_new(o, "attempts", json_integer(c->attempts));
    json_object_set_new(o, "delivered", json_integer(c->delivered));
    json_object_set_new(o, "contacts", json_integer(c->contacts));
    json_object_set_new(o, "right_party_contacts", json_integer(c->rpc));
    json_object_set_new(o, "promises", json_integer(c->promises));
    json_object_set_new(o, "promises_due", json_integer(c->promises_due));
    json_object_set_new(o, "promises_kept", json_integer(c->kept));
    json_object_set_new(o, "payments", json_integer(c->payments));
    json_object_set_new(o, "recovered", json_real(report_major(r, c->recovered_minor)));
    json_object_set_new(o, "recovered_minor", json_integer(c->recovered_minor));
    json_object_set_new(o, "other_currency_payments", json_integer(c->other_currency));
    json_object_set_new(o, "cost", json_real(round6(c->cost)));
    json_object_set_new(o, "opt_outs", json_integer(c->opt_outs));
    json_object_set_new(o, "delivery_rate", jreal(report_delivery_rate(c)));
    json_object_set_new(o, "contact_rate", jreal(report_contact_rate(c)));
    json_object_set_new(o, "rpc_rate", jreal(report_rpc_rate(c)));
    json_object_set_new(o, "promise_rate", jreal(report_promise_rate(c)));
    json_object_set_new(o, "kept_rate", jreal(report_kept_rate(c)));
    json_object_set_new(o, "cost_per_recovered", jreal(round6(report_cost_per_recovered(r, c))));
}

static json_t *json_report(const struct report *r)
{
    char from[11], to[11], now[32];
    range_days(r, from, to);
    fmt_time(r->o.now, now);
    json_t *o = json_object();
    json_object_set_new(o, "from", json_string(from));
    json_object_set_new(o, "to", json_string(to));
    json_object_set_new(o, "as_of", json_string(now));
    json_object_set_new(o, "currency", json_string(r->o.currency));
    json_object_set_new(o, "attribution_days", json_integer(REPORT_ATTRIBUTION_DAYS));

    json_t *t = json_object();
    json_object_set_new(t, "debtors", json_integer(r->debtors));
    json_counts(t, r, &r->total);
    json_object_set_new(o, "total", t);

    json_t *rows = json_array();
    for (size_t i = 0; i < r->nrows; i++) {
        const struct report_row *w = &r->rows[i];
        json_t *x = json_object();
        json_object_set_new(x, "strategy", json_string(w->strategy));
        json_object_set_new(x, "variant", json_string(w->variant));
        json_object_set_new(x, "role", json_string(role(w->champion)));
        json_object_set_new(x, "tier", json_string(w->tier));
        json_object_set_new(x, "channel", json_string(w->channel));
        json_object_set_new(x, "channel_kind", json_string(kind_name(w->kind)));
        json_counts(x, r, &w->c);
        json_array_append_new(rows, x);
    }
    json_object_set_new(o, "rows", rows);

    json_t *arms = json_array();
    for (size_t i = 0; i < r->narms; i++) {
        const struct report_arm *a = &r->arms[i];
        json_t *x = json_object();
        json_object_set_new(x, "strategy", json_string(a->strategy));
        json_object_set_new(x, "variant", json_string(a->variant));
        json_object_set_new(x, "role", json_string(role(a->champion)));
        json_object_set_new(x, "debtors", json_integer(a->debtors));
        json_counts(x, r, &a->c);
        json_object_set_new(x, "recovery_per_debtor",
                            jreal(report_sums_value(&a->s[REPORT_RECOVERY]) *
                                  metric_scale(r, REPORT_RECOVERY)));
        json_array_append_new(arms, x);
    }
    json_object_set_new(o, "variants", arms);

    json_t *fun = json_array();
    for (size_t i = 0; i < r->ntiers; i++) {
        const struct report_tier *w = &r->tiers[i];
        json_t *x = json_object();
        json_object_set_new(x, "strategy", json_string(w->strategy));
        json_object_set_new(x, "tier", json_string(w->tier));
        json_counts(x, r, &w->c);
        json_array_append_new(fun, x);
    }
    json_object_set_new(o, "funnel", fun);

    json_t *hours = json_array();
    for (size_t i = 0; i < r->nhours; i++) {
        const struct report_hours *h = &r->hours[i];
        json_t *x = json_object(), *a = json_array(), *c = json_array(), *q = json_array();
        for (int k = 0; k < 24; k++) {
            json_array_append_new(a, json_integer(h->attempts[k]));
            json_array_append_new(c, json_integer(h->contacts[k]));
            json_array_append_new(q, jreal(report_rate(h->contacts[k], h->attempts[k])));
        }
        json_object_set_new(x, "channel", json_string(h->channel));
        json_object_set_new(x, "channel_kind", json_string(kind_name(h->kind)));
        json_object_set_new(x, "attempts", a);
        json_object_set_new(x, "contacts", c);
        json_object_set_new(x, "contact_rate", q);
        json_array_append_new(hours, x);
    }
    json_object_set_new(o, "hours", hours);

    json_t *cmp = json_array();
    for (size_t i = 0; i < r->ncmp; i++) {
        const struct report_comparison *c = &r->cmp[i];
        json_t *x = json_object(), *ms = json_array();
        json_object_set_new(x, "strategy", json_string(c->strategy));
        json_object_set_new(x, "champion", json_string(c->champion));
        json_object_set_new(x, "challenger", json_string(c->challenger));
        for (int m = 0; m < _REPORT_METRIC_MAX; m++) {
            const struct report_diff *d = &c->d[m];
            double f = metric_scale(r, m);
            json_t *y = json_object();
            json_object_set_new(y, "metric", json_string(report_metric_name(m)));
            json_object_set_new(y, "champion", jreal(d->champion * f));
            json_object_set_new(y, "challenger", jreal(d->challenger * f));
            json_object_set_new(y, "difference", jreal(d->diff * f));
            json_object_set_new(y, "lo", jreal(d->lo * f));
            json_object_set_new(y, "hi", jreal(d->hi * f));
            json_object_set_new(y, "margin", jreal(d->margin * f));
            json_object_set_new(y, "debtors_champion", json_integer(d->n_champion));
            json_object_set_new(y, "debtors_challenger", json_integer(d->n_challenger));
            json_object_set_new(y, "denominator_champion", json_real(d->den_champion));
            json_object_set_new(y, "denominator_challenger", json_real(d->den_challenger));
            json_object_set_new(y, "verdict", json_string(report_verdict_to_string(d->verdict)));
            json_array_append_new(ms, y);
        }
        json_object_set_new(x, "metrics", ms);
        json_array_append_new(cmp, x);
    }
    json_object_set_new(o, "comparisons", cmp);

    json_t *notes = json_object(), *nc = json_array();
    json_object_set_new(notes, "unknown_zone_attempts", json_integer(r->unknown_zone));
    json_object_set_new(notes, "unattributed_payments", json_integer(r->unattributed_payments));
    for (size_t i = 0; i < r->nno_cost; i++)
        json_array_append_new(nc, json_string(r->no_cost[i]));
    json_object_set_new(notes, "channels_without_cost", nc);
    json_object_set_new(o, "notes", notes);
    return o;
}

static int render_json(const struct report *r, FILE *f)
{
    json_t *o = json_report(r);
    if (!o)
        return -ENOMEM;
    int rc = json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(o);
    if (rc < 0)
        return -EIO;
    fputc('\n', f);
    return 0;
}

/* a comparison figure in the unit it is shown in: points for rates, money for recovery */
static void cmp_value(const struct report *r, int m, double x, bool signed_, char *b, size_t n)
{
    if (!isfinite(x))
        snprintf(b, n, "-");
    else if (m == REPORT_RECOVERY)
        snprintf(b, n, signed_ ? "%+.*f" : "%.*f", r->o.currency_exp,
                 x * metric_scale(r, m));
    else
        snprintf(b, n, signed_ ? "%+.1f" : "%.1f", 100 * x);
}

/* ---- text table ---- */

static void table_counts(const struct report *r, const struct report_counts *c, FILE *f)
{
    char p1[16], p2[16], p3[16], p4[16], p5[16], money[32], cost[32], cpr[32];
    fmt_pct(report_contact_rate(c), p1, sizeof(p1));
    fmt_pct(report_rpc_rate(c), p2, sizeof(p2));
    fmt_pct(report_promise_rate(c), p3, sizeof(p3));
    fmt_pct(report_kept_rate(c), p4, sizeof(p4));
    fmt_pct(report_delivery_rate(c), p5, sizeof(p5));
    fmt_money(r, c->recovered_minor, money, sizeof(money));
    fmt_num(c->cost, 2, cost, sizeof(cost));
    fmt_num(report_cost_per_recovered(r, c), 4, cpr, sizeof(cpr));
    fprintf(f, " %7" PRId64 " %8" PRId64 " %9s %8s %7s %8s %7s %8" PRId64 " %11s %9s %8s %8" PRId64
            "\n", c->planned, c->attempts, p5, p1, p2, p3, p4, c->payments, money, cost, cpr,
            c->opt_outs);
}

static const char table_head[] =
    " planned attempts delivered  contact     rpc  promise    kept payments   recovered"
    "      cost cost/rec opt-outs\n";

static int render_table(const struct report *r, FILE *f)
{
    char from[11], to[11], now[32];
    range_days(r, from, to);
    fmt_time(r->o.now, now);
    fprintf(f, "Contact report %s .. %s: attempts made on these days (the debtor's local "
            "dates), their outcomes up to %s\n", from, to, now);
    fprintf(f, "Amounts in %s; rates: delivered, contact and rpc per attempt, promise per "
            "right-party contact, kept per promise due (docs/report.md)\n\n", r->o.currency);

    size_t ws = 8, wv = 7, wt = 4, wc = 7;
    for (size_t i = 0; i < r->nrows; i++) {
        const struct report_row *w = &r->rows[i];
        ws = strlen(w->strategy) > ws ? strlen(w->strategy) : ws;
        wv = strlen(w->variant) > wv ? strlen(w->variant) : wv;
        wt = strlen(w->tier) > wt ? strlen(w->tier) : wt;
        wc = strlen(w->channel) > wc ? strlen(w->channel) : wc;
    }
    int s = (int)ws, v = (int)wv, t = (int)wt, c = (int)wc;
    fprintf(f, "%-*s %-*s %-10s %-*s %-*s%s", s, "strategy", v, "variant", "role", t, "tier", c,
            "channel", table_head);
    for (size_t i = 0; i < r->nrows; i++) {
        const struct report_row *w = &r->rows[i];
        fprintf(f, "%-*s %-*s %-10s %-*s %-*s", s, w->strategy, v, w->variant, role(w->champion),
                t, w->tier, c, w->channel);
        table_counts(r, &w->c, f);
    }
    fprintf(f, "%-*s %-*s %-10s %-*s %-*s", s, "total", v, "", "", t, "", c, "");
    table_counts(r, &r->total, f);

    fprintf(f, "\nVariants\n%-*s %-*s %-10s %7s %s", s, "strategy", v, "variant", "role",
            "debtors", "recovered/debtor");
    fputs(table_head, f);
    for (size_t i = 0; i < r->narms; i++) {
        const struct report_arm *a = &r->arms[i];
        char rpd[32];
        fmt_num(report_sums_value(&a->s[REPORT_RECOVERY]) * metric_scale(r, REPORT_RECOVERY),
                r->o.currency_exp, rpd, sizeof(rpd));
        fprintf(f, "%-*s %-*s %-10s %7" PRId64 " %16s", s, a->strategy, v, a->variant,
                role(a->champion), a->debtors, rpd);
        table_counts(r, &a->c, f);
    }

    fprintf(f, "\nFunnel per tier\n%-*s %-*s %8s %9s %8s %8s %8s %8s %8s\n", s, "strategy", t,
            "tier", "attempts", "delivered", "contacts", "rpc", "promises", "kept", "payments");
    for (size_t i = 0; i < r->ntiers; i++) {
        const struct report_tier *w = &r->tiers[i];
        fprintf(f, "%-*s %-*s %8" PRId64 " %9" PRId64 " %8" PRId64 " %8" PRId64 " %8" PRId64
                " %8" PRId64 " %8" PRId64 "\n", s, w->strategy, t, w->tier, w->c.attempts,
                w->c.delivered, w->c.contacts, w->c.rpc, w->c.promises, w->c.kept,
                w->c.payments);
    }

    fprintf(f, "\nChampion against challenger (95 %% intervals; the rule is in docs/report.md)\n");
    if (!r->ncmp)
        fprintf(f, "no strategy had two variants with attempts in the range\n");
    for (size_t i = 0; i < r->ncmp; i++) {
        const struct report_comparison *cm = &r->cmp[i];
        fprintf(f, "%s: %s (challenger) against %s (champion)\n", cm->strategy, cm->challenger,
                cm->champion);
        fprintf(f, "  %-24s %10s %10s %10s %23s %15s  %s\n", "metric", "champion", "challenger",
                "difference", "95% interval", "debtors", "verdict");
        for (int m = 0; m < _REPORT_METRIC_MAX; m++) {
            const struct report_diff *d = &cm->d[m];
            char a[32], b[32], x[40], lo[32], hi[32], iv[80], n[40];
            const char *unit = m == REPORT_RECOVERY ? "" : "%", *pts = m == REPORT_RECOVERY
                                                                  ? "" : " pts";
            cmp_value(r, m, d->champion, false, a, sizeof(a));
            cmp_value(r, m, d->challenger, false, b, sizeof(b));
            cmp_value(r, m, d->diff, true, x, sizeof(x));
            cmp_value(r, m, d->lo, true, lo, sizeof(lo));
            cmp_value(r, m, d->hi, true, hi, sizeof(hi));
            if (isfinite(d->champion))
                strcat(a, unit);
            if (isfinite(d->challenger))
                strcat(b, unit);
            if (isfinite(d->diff))
                strcat(x, pts);
            if (isfinite(d->hi))
                strcat(hi, pts);
            snprintf(iv, sizeof(iv), "%s .. %s", lo, hi);
            snprintf(n, sizeof(n), "%" PRId64 " / %" PRId64, d->n_champion, d->n_challenger);
            fprintf(f, "  %-24s %10s %10s %10s %23s %15s  %s\n", report_metric_label(m), a, b, x,
                    iv, n, report_verdict_to_string(d->verdict));
        }
    }

    fprintf(f, "\nContact rate by the debtor's local hour (attempts made)\n%-5s", "hour");
    for (size_t i = 0; i < r->nhours; i++)
        fprintf(f, " %16s", r->hours[i].channel);
    fputc('\n', f);
    for (int k = 0; k < 24; k++) {
        bool any = false;
        for (size_t i = 0; i < r->nhours && !any; i++)
            any = r->hours[i].attempts[k] > 0;
        if (!any)
            continue;
        fprintf(f, "%02d:00", k);
        for (size_t i = 0; i < r->nhours; i++) {
            char p[16], cell[40];
            fmt_pct(report_rate(r->hours[i].contacts[k], r->hours[i].attempts[k]), p,
                    sizeof(p));
            snprintf(cell, sizeof(cell), "%s of %" PRId64, p, r->hours[i].attempts[k]);
            fprintf(f, " %16s", r->hours[i].attempts[k] ? cell : "-");
        }
        fputc('\n', f);
    }

    if (r->unknown_zone || r->unattributed_payments || r->nno_cost || r->total.other_currency)
        fputc('\n', f);
    if (r->unknown_zone)
        fprintf(f, "note: %" PRId64 " attempts of debtors in an unknown time zone are not in the "
                "hours\n", r->unknown_zone);
    if (r->unattributed_payments)
        fprintf(f, "note: %" PRId64 " payments came more than %d days after the debtor's last "
                "attempt (or before any) and are in no row\n", r->unattributed_payments,
                REPORT_ATTRIBUTION_DAYS);
    if (r->total.other_currency)
        fprintf(f, "note: %" PRId64 " payments in currencies other than %s are counted but not "
                "in the amounts\n", r->total.other_currency, r->o.currency);
    for (size_t i = 0; i < r->nno_cost; i++)
        fprintf(f, "note: channel '%s' has no cost in the configuration: its cost counts as 0\n",
                r->no_cost[i]);
    return 0;
}

/* ---- CSV ---- */

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_rate(FILE *f, double x)
{
    if (isfinite(x))
        fprintf(f, ",%.6f", x);
    else
        fputs(",", f);
}

static int render_csv(const struct report *r, FILE *f)
{
    fputs("strategy,variant,role,tier,channel,channel_kind,planned,attempts,delivered,contacts,"
          "right_party_contacts,promises,promises_due,promises_kept,payments,recovered,cost,"
          "opt_outs,delivery_rate,contact_rate,rpc_rate,promise_rate,kept_rate,"
          "cost_per_recovered\r\n", f);
    for (size_t i = 0; i < r->nrows; i++) {
        const struct report_row *w = &r->rows[i];
        const struct report_counts *c = &w->c;
        char money[32];
        fmt_money(r, c->recovered_minor, money, sizeof(money));
        csv_field(f, w->strategy);
        fputc(',', f);
        csv_field(f, w->variant);
        fprintf(f, ",%s,", role(w->champion));
        csv_field(f, w->tier);
        fputc(',', f);
        csv_field(f, w->channel);
        fprintf(f, ",%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,%.6f,%" PRId64, kind_name(w->kind),
                c->planned, c->attempts, c->delivered, c->contacts, c->rpc, c->promises,
                c->promises_due, c->kept, c->payments, money, c->cost, c->opt_outs);
        csv_rate(f, report_delivery_rate(c));
        csv_rate(f, report_contact_rate(c));
        csv_rate(f, report_rpc_rate(c));
        csv_rate(f, report_promise_rate(c));
        csv_rate(f, report_kept_rate(c));
        csv_rate(f, report_cost_per_recovered(r, c));
        fputs("\r\n", f);
    }
    return 0;
}

/* ---- HTML ---- */

static void h(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Colours that stay apart for the common colour-blindness types, with a
 * dash pattern each as well. */
static const char *const palette[] = { "#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                       "#e69f00", "#56b4e9", "#000000", "#999999" };
static const char *const dashes[] = { "", "6 3", "2 3", "8 3 2 3", "", "6 3", "2 3", "8 3 2 3" };
#define NCOLOURS (sizeof(palette) / sizeof(palette[0]))

static const char css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "margin:0 auto;max-width:1400px;padding:1rem 1.5rem;color:#1a1a1a;background:#fff;"
    "line-height:1.4}"
    "h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.25rem;margin:2rem 0 .5rem;"
    "border-bottom:1px solid #ccc;padding-bottom:.2rem}h3{font-size:1.05rem;margin:1rem 0 .3rem}"
    "table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}"
    "caption{text-align:left;font-weight:600;padding:.3rem 0;caption-side:top}"
    "th,td{border:1px solid #d0d0d0;padding:.2rem .45rem}th{background:#f2f2f2;text-align:left}"
    "td{white-space:nowrap}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "tr.total td{font-weight:600;background:#fafafa}"
    ".wrap{overflow-x:auto}"
    "dl.kpi{display:grid;grid-template-columns:repeat(auto-fill,minmax(10rem,1fr));gap:.5rem;"
    "margin:.5rem 0}dl.kpi div{border:1px solid #d0d0d0;border-radius:4px;padding:.4rem .6rem}"
    "dl.kpi dt{font-size:.8rem;color:#444}dl.kpi dd{margin:0;font-size:1.3rem;font-weight:600;"
    "font-variant-numeric:tabular-nums}"
    "figure{margin:.5rem 0 1rem}figcaption{font-size:.85rem;color:#444}"
    "svg{max-width:100%;height:auto;font-family:inherit}svg text{fill:#1a1a1a}"
    ".axis{stroke:#444;stroke-width:1}.grid{stroke:#e0e0e0;stroke-width:1}"
    ".verdict-better{color:#006400}.verdict-worse{color:#a00000}"
    "p.note{font-size:.85rem;color:#444}";

static void html_money_cell(FILE *f, const struct report *r, const char *k, int64_t minor)
{
    char b[32];
    fmt_money(r, minor, b, sizeof(b));
    fprintf(f, "<td class=\"n\" data-k=\"%s\">%s</td>", k, b);
}

static void html_int_cell(FILE *f, const char *k, int64_t v)
{
    fprintf(f, "<td class=\"n\" data-k=\"%s\">%" PRId64 "</td>", k, v);
}

static void html_pct_cell(FILE *f, const char *k, double x)
{
    char b[16];
    fmt_pct(x, b, sizeof(b));
    fprintf(f, "<td class=\"n\" data-k=\"%s\">%s</td>", k, b);
}

static void html_num_cell(FILE *f, const char *k, double x, int decimals)
{
    char b[32];
    fmt_num(x, decimals, b, sizeof(b));
    fprintf(f, "<td class=\"n\" data-k=\"%s\">%s</td>", k, b);
}

static const char counts_head[] =
    "<th scope=\"col\">planned</th><th scope=\"col\">attempts</th>"
    "<th scope=\"col\">delivered</th><th scope=\"col\">contact rate</th>"
    "<th scope=\"col\">right-party contact rate</th><th scope=\"col\">promise rate</th>"
    "<th scope=\"col\">kept-promise rate</th><th scope=\"col\">payments</th>"
    "<th scope=\"col\">recovered</th><th scope=\"col\">cost</th>"
    "<th scope=\"col\">cost per unit recovered</th><th scope=\"col\">opt-outs</th>";

static void html_counts(FILE *f, const struct report *r, const struct report_counts *c)
{
    html_int_cell(f, "planned", c->planned);
    html_int_cell(f, "attempts", c->attempts);
    html_int_cell(f, "delivered", c->delivered);
    html_pct_cell(f, "contact_rate", report_contact_rate(c));
    html_pct_cell(f, "rpc_rate", report_rpc_rate(c));
    html_pct_cell(f, "promise_rate", report_promise_rate(c));
    html_pct_cell(f, "kept_rate", report_kept_rate(c));
    html_int_cell(f, "payments", c->payments);
    html_money_cell(f, r, "recovered", c->recovered_minor);
    html_num_cell(f, "cost", c->cost, 2);
    html_num_cell(f, "cost_per_recovered", report_cost_per_recovered(r, c), 4);
    html_int_cell(f, "opt_outs", c->opt_outs);
}

static void html_kpi(FILE *f, const char *k, const char *label, const char *value)
{
    fprintf(f, "<div><dt>%s</dt><dd data-k=\"%s\">%s</dd></div>", label, k, value);
}

static void html_summary(FILE *f, const struct report *r)
{
    const struct report_counts *c = &r->total;
    char b[64];
    fputs("<section aria-labelledby=\"h-summary\"><h2 id=\"h-summary\">Summary</h2>"
          "<dl class=\"kpi\" data-key=\"total\">", f);
    snprintf(b, sizeof(b), "%" PRId64, r->debtors);
    html_kpi(f, "debtors", "debtors contacted", b);
    snprintf(b, sizeof(b), "%" PRId64, c->attempts);
    html_kpi(f, "attempts", "attempts made", b);
    fmt_pct(report_contact_rate(c), b, sizeof(b));
    html_kpi(f, "contact_rate", "contact rate", b);
    fmt_pct(report_rpc_rate(c), b, sizeof(b));
    html_kpi(f, "rpc_rate", "right-party contact rate", b);
    fmt_pct(report_promise_rate(c), b, sizeof(b));
    html_kpi(f, "promise_rate", "promise rate", b);
    fmt_pct(report_kept_rate(c), b, sizeof(b));
    html_kpi(f, "kept_rate", "kept-promise rate", b);
    fmt_money(r, c->recovered_minor, b, sizeof(b));
    html_kpi(f, "recovered", "recovered", b);
    fmt_num(c->cost, 2, b, sizeof(b));
    html_kpi(f, "cost", "cost", b);
    fmt_num(report_cost_per_recovered(r, c), 4, b, sizeof(b));
    html_kpi(f, "cost_per_recovered", "cost per unit recovered", b);
    snprintf(b, sizeof(b), "%" PRId64, c->opt_outs);
    html_kpi(f, "opt_outs", "opt-outs", b);
    fputs("</dl></section>\n", f);
}

/* A y value to pixels: 0 at the bottom of the plot. */
static double ypx(double v, double vmax, double top, double height)
{
    return top + height - (vmax > 0 ? v / vmax : 0) * height;
}

static void html_hours(FILE *f, const struct report *r)
{
    const double W = 760, H = 320, L = 56, R = 150, T = 20, B = 48;
    const double pw = W - L - R, ph = H - T - B;
    double vmax = 0;
    for (size_t i = 0; i < r->nhours; i++)
        for (int k = 0; k < 24; k++) {
            double q = report_rate(r->hours[i].contacts[k], r->hours[i].attempts[k]);
            if (isfinite(q) && q > vmax)
                vmax = q;
        }
    vmax = vmax > 0 ? ceil(vmax * 10 - 1e-9) / 10 : 0.1;
    int64_t nmax = 1;
    for (size_t i = 0; i < r->nhours; i++)
        for (int k = 0; k < 24; k++)
            nmax = r->hours[i].attempts[k] > nmax ? r->hours[i].attempts[k] : nmax;
    if (vmax > 1)
        vmax = 1;

    fputs("<section aria-labelledby=\"h-hours\"><h2 id=\"h-hours\">Contact rate by local hour "
          "and channel</h2>\n<figure>", f);
    fprintf(f, "<svg data-chart=\"hours\" role=\"img\" aria-labelledby=\"hours-t hours-d\" "
            "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\">", W, H, W, H);
    fputs("<title id=\"hours-t\">Contact rate by the debtor's local hour, one line per "
          "channel</title><desc id=\"hours-d\">Share of the attempts made in each local hour "
          "that reached a person; hours without attempts have no point. The same figures are "
          "in the table below the chart.</desc>", f);
    for (int g = 0; g <= 4; g++) {
        double v = vmax * g / 4, y = ypx(v, vmax, T, ph);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", L, y,
                L + pw, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.0f%%"
                "</text>", L - 6, y + 4, 100 * v);
    }
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", L,
            T + ph, L + pw, T + ph);
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", L, T, L,
            T + ph);
    for (int k = 0; k < 24; k += 2) {
        double x = L + k * pw / 23;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%02d"
                "</text>", x, T + ph + 16, k);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">local hour"
            " of the debtor</text>", L + pw / 2, H - 8);
    fprintf(f, "<text transform=\"translate(14 %.1f) rotate(-90)\" font-size=\"12\" "
            "text-anchor=\"middle\">contact rate</text>", T + ph / 2);
    for (size_t i = 0; i < r->nhours; i++) {
        const struct report_hours *hr = &r->hours[i];
        const char *col = palette[i % NCOLOURS], *dash = dashes[i % NCOLOURS];
        fprintf(f, "<g data-channel=\"");
        h(f, hr->channel);
        fprintf(f, "\"><polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s%s%s points=\"",
                col, *dash ? " stroke-dasharray=\"" : "", dash, *dash ? "\"" : "");
        for (int k = 0; k < 24; k++)
            if (hr->attempts[k])
                fprintf(f, "%.1f,%.1f ", L + k * pw / 23,
                        ypx(report_rate(hr->contacts[k], hr->attempts[k]), vmax, T, ph));
        fputs("\"/>", f);
        for (int k = 0; k < 24; k++) {
            if (!hr->attempts[k])
                continue;
            double q = report_rate(hr->contacts[k], hr->attempts[k]);
            /* the area grows with the attempts behind the point */
            double rad = 2 + 5 * sqrt((double)hr->attempts[k] / (double)nmax);
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" "
                    "fill-opacity=\"0.85\"><title>", L + k * pw / 23, ypx(q, vmax, T, ph), rad,
                    col);
            h(f, hr->channel);
            fprintf(f, ", %02d:00: %.1f%% of %" PRId64 " attempts</title></circle>", k, 100 * q,
                    hr->attempts[k]);
        }
        double ly = T + 10 + 20 * (double)i;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\"%s%s%s/>", L + pw + 16, ly, L + pw + 44, ly, col,
                *dash ? " stroke-dasharray=\"" : "", dash, *dash ? "\"" : "");
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">", L + pw + 50, ly + 4);
        h(f, hr->channel);
        fputs("</text></g>", f);
    }
    fputs("</svg><figcaption>Contact rate (contacts per attempt made) by the hour of the "
          "attempt in the debtor's own time zone; a point's size grows with its attempts."
          "</figcaption></figure>\n", f);

    fputs("<div class=\"wrap\" tabindex=\"0\" role=\"region\" "
          "aria-label=\"contact rate by hour, table\"><table><caption>Contact rate by local "
          "hour and channel "
          "(contacts / attempts)</caption><thead><tr><th scope=\"col\">hour</th>", f);
    for (size_t i = 0; i < r->nhours; i++) {
        fputs("<th scope=\"col\">", f);
        h(f, r->hours[i].channel);
        fputs("</th>", f);
    }
    fputs("</tr></thead><tbody>", f);
    for (int k = 0; k < 24; k++) {
        bool any = false;
        for (size_t i = 0; i < r->nhours && !any; i++)
            any = r->hours[i].attempts[k] > 0;
        if (!any)
            continue;
        fprintf(f, "<tr><th scope=\"row\">%02d:00</th>", k);
        for (size_t i = 0; i < r->nhours; i++) {
            const struct report_hours *hr = &r->hours[i];
            char p[16];
            fmt_pct(report_rate(hr->contacts[k], hr->attempts[k]), p, sizeof(p));
            if (!hr->attempts[k]) {
                fputs("<td class=\"n\">-</td>", f);
                continue;
            }
            fprintf(f, "<td class=\"n\" data-key=\"hours|");
            h(f, hr->channel);
            fprintf(f, "|%d\"><span data-k=\"contact_rate\">%s</span> of <span "
                    "data-k=\"attempts\">%" PRId64 "</span></td>", k, p, hr->attempts[k]);
        }
        fputs("</tr>", f);
    }
    fputs("</tbody></table></div></section>\n", f);
}

static void html_funnel(FILE *f, const struct report *r)
{
    static const char *const stage[] = { "attempts", "delivered", "contacts",
                                         "promises", "kept", "paid" };
    const int nst = 6;
    const double W = 760, L = 150, BW = 460, BH = 15, GAP = 4, HEAD = 26;
    double H = 10 + r->ntiers * (HEAD + nst * (BH + GAP) + 10);
    fputs("<section aria-labelledby=\"h-funnel\"><h2 id=\"h-funnel\">Funnel per tier</h2>\n"
          "<figure>", f);
    fprintf(f, "<svg data-chart=\"funnel\" role=\"img\" aria-labelledby=\"funnel-t funnel-d\" "
            "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\">", W, H, W, H);
    fputs("<title id=\"funnel-t\">Funnel per tier: attempts, delivered, contacts, promises, "
          "kept promises, payments</title><desc id=\"funnel-d\">One group of bars per strategy "
          "and tier; each bar's length is its share of the tier's attempts made. The figures "
          "are in the table below.</desc>", f);
    double y = 10;
    for (size_t i = 0; i < r->ntiers; i++) {
        const struct report_tier *t = &r->tiers[i];
        const struct report_counts *c = &t->c;
        const int64_t v[] = { c->attempts, c->delivered, c->contacts,
                              c->promises, c->kept, c->payments };
        fprintf(f, "<g><text x=\"0\" y=\"%.1f\" font-size=\"13\" font-weight=\"600\">", y + 16);
        h(f, t->strategy);
        fputs(" / ", f);
        h(f, t->tier);
        fputs("</text>", f);
        y += HEAD;
        for (int k = 0; k < nst; k++) {
            double w = c->attempts ? BW * (double)v[k] / (double)c->attempts : 0;
            if (w > BW)
                w = BW; /* payments may outnumber attempts */
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%s"
                    "</text>", L - 8, y + BH - 3, stage[k]);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                    "fill=\"%s\"><title>%s: %" PRId64 "</title></rect>", L, y, w > 0 ? w : 0.5,
                    BH, palette[k % NCOLOURS], stage[k], v[k]);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%" PRId64 "</text>",
                    L + (w > 0 ? w : 0.5) + 6, y + BH - 3, v[k]);
            y += BH + GAP;
        }
        y += 10;
        fputs("</g>", f);
    }
    fputs("</svg><figcaption>From attempts made to payments, per tier (every variant and "
          "channel of the tier together).</figcaption></figure>\n", f);

    fputs("<div class=\"wrap\" tabindex=\"0\" role=\"region\" aria-label=\"funnel, table\">"
          "<table><caption>Funnel per tier</caption><thead><tr>"
          "<th scope=\"col\">strategy</th><th scope=\"col\">tier</th>"
          "<th scope=\"col\">attempts</th><th scope=\"col\">delivered</th>"
          "<th scope=\"col\">contacts</th><th scope=\"col\">right-party contacts</th>"
          "<th scope=\"col\">promises</th><th scope=\"col\">kept</th>"
          "<th scope=\"col\">payments</th></tr></thead><tbody>", f);
    for (size_t i = 0; i < r->ntiers; i++) {
        const struct report_tier *t = &r->tiers[i];
        fputs("<tr data-key=\"funnel|", f);
        h(f, t->strategy);
        fputc('|', f);
        h(f, t->tier);
        fputs("\"><td>", f);
        h(f, t->strategy);
        fputs("</td><td>", f);
        h(f, t->tier);
        fputs("</td>", f);
        html_int_cell(f, "attempts", t->c.attempts);
        html_int_cell(f, "delivered", t->c.delivered);
        html_int_cell(f, "contacts", t->c.contacts);
        html_int_cell(f, "right_party_contacts", t->c.rpc);
        html_int_cell(f, "promises", t->c.promises);
        html_int_cell(f, "promises_kept", t->c.kept);
        html_int_cell(f, "payments", t->c.payments);
        fputs("</tr>", f);
    }
    fputs("</tbody></table></div></section>\n", f);
}

static void html_comparisons(FILE *f, const struct report *r)
{
    fputs("<section aria-labelledby=\"h-cmp\"><h2 id=\"h-cmp\">Champion against challenger"
          "</h2>\n", f);
    fprintf(f, "<p class=\"note\">Differences are challenger minus champion with their 95 %% "
            "interval; rates in percentage points, recovery in %s per debtor. A difference is "
            "called when each side has at least %d debtors and %d units of the rate's "
            "denominator and the interval excludes 0 (better or worse) or lies inside the "
            "margin (no material difference: %.0f points, or %.0f %% of the champion's "
            "recovery); otherwise: not enough data yet.</p>\n", r->o.currency,
            REPORT_MIN_DEBTORS, REPORT_MIN_DEBTORS, 100 * REPORT_RATE_MARGIN,
            100 * REPORT_RECOVERY_MARGIN);
    if (!r->ncmp)
        fputs("<p>No strategy had two variants with attempts in the range.</p>\n", f);
    for (size_t i = 0; i < r->ncmp; i++) {
        const struct report_comparison *c = &r->cmp[i];
        const double W = 900, L = 190, PW = 330, RH = 44, T = 26;
        double H = T + _REPORT_METRIC_MAX * RH + 10;
        fputs("<h3>", f);
        h(f, c->strategy);
        fputs(": ", f);
        h(f, c->challenger);
        fputs(" against ", f);
        h(f, c->champion);
        fputs("</h3>\n<figure>", f);
        fprintf(f, "<svg data-chart=\"comparison\" role=\"img\" aria-labelledby=\"cmp%zu-t "
                "cmp%zu-d\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\">"
                "<title id=\"cmp%zu-t\">", i, i, W, H, W, H, i);
        h(f, c->challenger);
        fputs(" minus ", f);
        h(f, c->champion);
        fprintf(f, " in strategy ");
        h(f, c->strategy);
        fprintf(f, ", with 95 %% intervals</title><desc id=\"cmp%zu-d\">One row per metric, "
                "each on its own scale centred on no difference; the shaded band is the "
                "margin within which a difference does not matter.</desc>", i);
        fprintf(f, "<text x=\"%.1f\" y=\"16\" font-size=\"12\" text-anchor=\"middle\">"
                "challenger lower &#8592; 0 &#8594; challenger higher</text>", L + PW / 2);
        for (int m = 0; m < _REPORT_METRIC_MAX; m++) {
            const struct report_diff *d = &c->d[m];
            double y = T + m * RH + RH / 2, x0 = L + PW / 2;
            double ext = 0;
            const double vals[] = { d->lo, d->hi, d->diff, d->margin };
            for (size_t k = 0; k < 4; k++)
                if (isfinite(vals[k]) && fabs(vals[k]) > ext)
                    ext = fabs(vals[k]);
            ext = ext > 0 ? ext * 1.15 : 1;
            double sx = (PW / 2) / ext;
            fprintf(f, "<g data-metric=\"%s\">", report_metric_name(m));
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%s"
                    "</text>", L - 10, y + 4, report_metric_label(m));
            fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                    L, y, L + PW, y);
            if (isfinite(d->margin) && d->margin > 0)
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" "
                        "fill=\"#e8e8e8\"/>", x0 - d->margin * sx, y - 8, 2 * d->margin * sx);
            fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                    x0, y - 14, x0, y + 14);
            char dv[32], lo[32], hi[32];
            cmp_value(r, m, d->diff, true, dv, sizeof(dv));
            cmp_value(r, m, d->lo, true, lo, sizeof(lo));
            cmp_value(r, m, d->hi, true, hi, sizeof(hi));
            if (isfinite(d->lo) && isfinite(d->hi)) {
                double a = x0 + d->lo * sx, b = x0 + d->hi * sx;
                fprintf(f, "<path d=\"M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f\" "
                        "stroke=\"#0072b2\" stroke-width=\"2\" fill=\"none\"><title>95%% "
                        "interval %s .. %s</title></path>", a, y, b, a, y - 6, y + 6, b, y - 6,
                        y + 6, lo, hi);
            }
            if (isfinite(d->diff))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#d55e00\"><title>"
                        "difference %s</title></circle>", x0 + d->diff * sx, y, dv);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s%s", L + PW + 12,
                    y + 4, dv, isfinite(d->diff) && m != REPORT_RECOVERY ? " pts" : "");
            if (isfinite(d->lo) && isfinite(d->hi))
                fprintf(f, " (%s .. %s)", lo, hi);
            fprintf(f, ": %s</text>", report_verdict_to_string(d->verdict));
            fputs("</g>", f);
        }
        fputs("</svg></figure>\n", f);

        fputs("<div class=\"wrap\" tabindex=\"0\" role=\"region\" "
              "aria-label=\"comparison, table\"><table><caption>", f);
        h(f, c->strategy);
        fputs(": ", f);
        h(f, c->challenger);
        fputs(" (challenger) against ", f);
        h(f, c->champion);
        fputs(" (champion)</caption><thead><tr><th scope=\"col\">metric</th>"
              "<th scope=\"col\">champion</th><th scope=\"col\">challenger</th>"
              "<th scope=\"col\">difference</th><th scope=\"col\">95 % interval from</th>"
              "<th scope=\"col\">to</th><th scope=\"col\">debtors (champion)</th>"
              "<th scope=\"col\">debtors (challenger)</th><th scope=\"col\">verdict</th>"
              "</tr></thead><tbody>", f);
        for (int m = 0; m < _REPORT_METRIC_MAX; m++) {
            const struct report_diff *d = &c->d[m];
            char a[32], b[32], dv[32], lo[32], hi[32];
            cmp_value(r, m, d->champion, false, a, sizeof(a));
            cmp_value(r, m, d->challenger, false, b, sizeof(b));
            cmp_value(r, m, d->diff, true, dv, sizeof(dv));
            cmp_value(r, m, d->lo, true, lo, sizeof(lo));
            cmp_value(r, m, d->hi, true, hi, sizeof(hi));
            const char *unit = m == REPORT_RECOVERY ? "" : "%", *punit = m == REPORT_RECOVERY
                                                                     ? "" : " pts";
            fputs("<tr data-key=\"cmp|", f);
            h(f, c->strategy);
            fputc('|', f);
            h(f, c->challenger);
            fprintf(f, "|%s\"><th scope=\"row\">%s</th>", report_metric_name(m),
                    report_metric_label(m));
            fprintf(f, "<td class=\"n\"><span data-k=\"champion\">%s</span>%s</td>", a,
                    isfinite(d->champion) ? unit : "");
            fprintf(f, "<td class=\"n\"><span data-k=\"challenger\">%s</span>%s</td>", b,
                    isfinite(d->challenger) ? unit : "");
            fprintf(f, "<td class=\"n\"><span data-k=\"difference\">%s</span>%s</td>", dv,
                    isfinite(d->diff) ? punit : "");
            fprintf(f, "<td class=\"n\"><span data-k=\"lo\">%s</span></td>", lo);
            fprintf(f, "<td class=\"n\"><span data-k=\"hi\">%s</span></td>", hi);
            html_int_cell(f, "debtors_champion", d->n_champion);
            html_int_cell(f, "debtors_challenger", d->n_challenger);
            fprintf(f, "<td data-k=\"verdict\" class=\"%s\">%s</td></tr>",
                    d->verdict == REPORT_BETTER  ? "verdict-better"
                    : d->verdict == REPORT_WORSE ? "verdict-worse"
                                                 : "",
                    report_verdict_to_string(d->verdict));
        }
        fputs("</tbody></table></div>\n", f);
    }
    fputs("</section>\n", f);
}

static void html_rows(FILE *f, const struct report *r)
{
    fputs("<section aria-labelledby=\"h-rows\"><h2 id=\"h-rows\">By strategy, variant, tier "
          "and channel</h2>\n<div class=\"wrap\" tabindex=\"0\" role=\"region\" "
          "aria-label=\"attempts and outcomes, table\"><table><caption>Attempts made in the range "
          "and what came of them</caption><thead><tr><th scope=\"col\">strategy</th>"
          "<th scope=\"col\">variant</th><th scope=\"col\">role</th><th scope=\"col\">tier</th>"
          "<th scope=\"col\">channel</th>", f);
    fputs(counts_head, f);
    fputs("</tr></thead><tbody>", f);
    for (size_t i = 0; i < r->nrows; i++) {
        const struct report_row *w = &r->rows[i];
        const char *cells[] = { w->strategy, w->variant, role(w->champion), w->tier,
                                w->channel };
        fputs("<tr data-key=\"row|", f);
        for (int k = 0; k < 5; k++) {
            if (k == 2)
                continue;
            h(f, cells[k]);
            fputs(k < 4 ? "|" : "", f);
        }
        fputs("\">", f);
        for (int k = 0; k < 5; k++) {
            fputs("<td>", f);
            h(f, cells[k]);
            fputs("</td>", f);
        }
        html_counts(f, r, &w->c);
        fputs("</tr>", f);
    }
    fputs("<tr class=\"total\" data-key=\"total\"><td colspan=\"5\">total</td>", f);
    html_counts(f, r, &r->total);
    fputs("</tr></tbody></table></div></section>\n", f);

    fputs("<section aria-labelledby=\"h-variants\"><h2 id=\"h-variants\">Variants</h2>\n"
          "<div class=\"wrap\" tabindex=\"0\" role=\"region\" aria-label=\"variants, table\">"
          "<table><caption>Each variant of each strategy, every tier and "
          "channel together</caption><thead><tr><th scope=\"col\">strategy</th>"
          "<th scope=\"col\">variant</th><th scope=\"col\">role</th>"
          "<th scope=\"col\">debtors</th><th scope=\"col\">recovered per debtor</th>", f);
    fputs(counts_head, f);
    fputs("</tr></thead><tbody>", f);
    for (size_t i = 0; i < r->narms; i++) {
        const struct report_arm *a = &r->arms[i];
        fputs("<tr data-key=\"variant|", f);
        h(f, a->strategy);
        fputc('|', f);
        h(f, a->variant);
        fputs("\"><td>", f);
        h(f, a->strategy);
        fputs("</td><td>", f);
        h(f, a->variant);
        fprintf(f, "</td><td>%s</td>", role(a->champion));
        html_int_cell(f, "debtors", a->debtors);
        html_num_cell(f, "recovery_per_debtor",
                      report_sums_value(&a->s[REPORT_RECOVERY]) *
                          metric_scale(r, REPORT_RECOVERY),
                      r->o.currency_exp);
        html_counts(f, r, &a->c);
        fputs("</tr>", f);
    }
    fputs("</tbody></table></div></section>\n", f);
}

static void html_notes(FILE *f, const struct report *r)
{
    fputs("<section aria-labelledby=\"h-def\"><h2 id=\"h-def\">How the figures are made</h2>\n"
          "<ul>", f);
    fprintf(f, "<li>An <strong>attempt</strong> is one cadenza planned for a day of the range "
            "(the date, in the debtor's time zone, it was sent, else planned for) that was sent, "
            "answered by the provider, or has an outcome; <strong>planned</strong> counts every "
            "attempt recorded.</li>"
            "<li>Outcomes count for the attempt they name; one that names none goes to the "
            "debtor's latest attempt (of its channel kind, when it has one) at most %d days "
            "before it.</li>"
            "<li><strong>Delivered</strong>: an outcome showing the message or call reached "
            "someone. <strong>Contact</strong>: a person engaged (opened, clicked, replied, "
            "answered). <strong>Right-party contact</strong>: the debtor themselves "
            "(clicked, replied, right party, promise, payment, dispute, refusal). Rates are "
            "per attempt.</li>"
            "<li><strong>Promise rate</strong>: promises per right-party contact. "
            "<strong>Kept-promise rate</strong>: promises paid by the promise date plus the "
            "strategy's grace days, per promise whose deadline has passed.</li>"
            "<li><strong>Recovered</strong>: payments (in %s) attributed to the attempts; "
            "<strong>cost</strong>: attempts times the channel's configured cost per attempt; "
            "cost per unit recovered is cost divided by recovered.</li></ul>\n",
            REPORT_ATTRIBUTION_DAYS, r->o.currency);
    if (r->unknown_zone)
        fprintf(f, "<p class=\"note\">%" PRId64 " attempts of debtors in an unknown time zone are "
                "not in the hours chart.</p>\n", r->unknown_zone);
    if (r->unattributed_payments)
        fprintf(f, "<p class=\"note\">%" PRId64 " payments came more than %d days after the "
                "debtor's last attempt and are in no row.</p>\n", r->unattributed_payments,
                REPORT_ATTRIBUTION_DAYS);
    if (r->total.other_currency)
        fprintf(f, "<p class=\"note\">%" PRId64 " payments in currencies other than %s are "
                "counted but not in the amounts.</p>\n", r->total.other_currency,
                r->o.currency);
    for (size_t i = 0; i < r->nno_cost; i++) {
        fputs("<p class=\"note\">Channel '", f);
        h(f, r->no_cost[i]);
        fputs("' has no cost in the configuration: its cost counts as 0.</p>\n", f);
    }
    fputs("</section>\n", f);
}

static int render_html(const struct report *r, FILE *f)
{
    char from[11], to[11], now[32];
    range_days(r, from, to);
    fmt_time(r->o.now, now);
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>cadenza contact report %s to %s</title>\n<style>%s</style>\n</head>\n"
            "<body>\n<header><h1>Contact report</h1><p>Attempts made from <time "
            "datetime=\"%s\">%s</time> to <time datetime=\"%s\">%s</time> (the debtors' local "
            "dates) and their outcomes up to <time datetime=\"%s\">%s</time>; amounts in %s."
            "</p></header>\n<main>\n", from, to, css, from, from, to, to, now, now, r->o.currency);
    html_summary(f, r);
    html_hours(f, r);
    html_funnel(f, r);
    html_comparisons(f, r);
    html_rows(f, r);
    html_notes(f, r);
    fputs("</main>\n<footer><p class=\"note\">Made by cadenza report.</p></footer>\n"
          "</body>\n</html>\n", f);
    return 0;
}

int report_render(const struct report *r, enum report_format fmt, FILE *f)
{
    int rc;
    switch (fmt) {
    case REPORT_FORMAT_TABLE: rc = render_table(r, f); break;
    case REPORT_FORMAT_JSON: rc = render_json(r, f); break;
    case REPORT_FORMAT_CSV: rc = render_csv(r, f); break;
    case REPORT_FORMAT_HTML: rc = render_html(r, f); break;
    default: return -EINVAL;
    }
    if (rc < 0)
        return rc;
    return fflush(f) != 0 || ferror(f) ? -EIO : 0;
}
