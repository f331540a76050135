/*
 * gen-outcomes.c - benchmark input: K synthetic past outcomes per debtor
 * as CSV for `cadenza import outcomes`, from a debtor CSV (the output of
 * `cadenza sample`) on standard input.
 *
 *   gen-outcomes [--per-debtor K] [--days D] [--date YYYY-MM-DD] [--seed S]
 *                [--attempt-ids] [--order debtor|time]
 *
 * Writes "debtor_id,channel,attempted_at,outcome,amount,promise_date" to
 * standard output: K rows per debtor over the D days before DATE, each
 * row its own attempt.  --attempt-ids adds an attempt_id column, and a
 * digital reach (opened, clicked, replied) is then preceded by a
 * `delivered` row of the same attempt two minutes earlier (one of the K).
 * --order time writes the rows sorted by time, as a dialer's or a
 * provider's export would be, instead of debtor by debtor (it holds the
 * output in memory: meant for a day's file).  Not a simulator (bench/ has none of the planner's
 * knowledge): the codes follow fixed shares per channel so the store
 * holds a realistic mix, including a few payments on a per-debtor day
 * of month (payday inference), promises, opt-outs and wrong numbers.
 *
 * Invariants:
 *  1. The same input, seed and options give the same bytes.
 *  2. Every row is valid input for `cadenza import outcomes`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)((rng() >> 32) * n >> 32);
}

/* Days since 1970-01-01 of a civil date, and back. */
static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (unsigned)(m + (m > 2 ? -3 : 9)) + 2) / 5 + (unsigned)d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static void civil_from_days(long z, int *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = (long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

static const char *const kinds[] = { "email", "sms", "call", "chat" };

/* An outcome code name for a channel kind index (0 email, 1 sms, 2 call, 3 chat). */
static const char *code_for(int k, unsigned u /* 0..9999 */)
{
    if (u < 30)
        return "opt_out";
    if (u < 80)
        return k == 0 ? "bounced" : "wrong_number";
    if (u < 180)
        return "promise_to_pay";
    if (u < 190)
        return "dispute";
    if (k == 2) {
        if (u < 1400)
            return "right_party";
        if (u < 2000)
            return "third_party";
        return "no_answer";
    }
    if (u < 2500)
        return k == 0 ? "opened" : "replied";
    if (u < 3000)
        return "clicked";
    if (u < 3100)
        return "failed";
    return "delivered";
}

/* --order time: every output row, kept until the end. */
struct line {
    long long t;
    size_t seq, off;
};
static struct line *lines;
static size_t nlines, clines;
static char *text;
static size_t ntext, ctext;

static int keep(long long t, const char *s, size_t n)
{
    if (nlines == clines) {
        clines = clines ? clines * 2 : 4096;
        if (!(lines = realloc(lines, clines * sizeof(*lines))))
            return -1;
    }
    while (ntext + n + 1 > ctext) {
        ctext = ctext ? ctext * 2 : 1 << 20;
        if (!(text = realloc(text, ctext)))
            return -1;
    }
    lines[nlines] = (struct line){ .t = t, .seq = nlines, .off = ntext };
    nlines++;
    memcpy(text + ntext, s, n);
    text[ntext + n] = 0;
    ntext += n + 1;
    return 0;
}

static int line_cmp(const void *a, const void *b)
{
    const struct line *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One output row (attempt_id "" when not asked for). */
static int emit(int by_time, int with_ids, const char *id, const char *kind, long day, int hour,
                unsigned min, unsigned sec, const char *code, const char *amount,
                const char *promise, const char *attempt)
{
    int y, m, d;
    char buf[512];
    civil_from_days(day, &y, &m, &d);
    int n = snprintf(buf, sizeof(buf), "%s,%s,%04d-%02d-%02dT%02d:%02u:%02uZ,%s,%s,%s%s%s\n",
                     id, kind, y, m, d, hour % 24, min, sec, code, amount, promise,
                     with_ids ? "," : "", with_ids ? attempt : "");
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -1;
    if (!by_time)
        return fputs(buf, stdout) < 0 ? -1 : 0;
    return keep(day * 86400LL + (hour % 24) * 3600 + min * 60 + sec, buf, (size_t)n);
}

int main(int argc, char **argv)
{
    int per = 10, span = 60, with_ids = 0, by_time = 0;
    long date = days_from_civil(2026, 11, 28);
    rng_state = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int y, m, d;
        if (!strcmp(a, "--attempt-ids")) {
            with_ids = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "gen-outcomes: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--per-debtor"))
            per = atoi(v);
        else if (!strcmp(a, "--days"))
            span = atoi(v);
        else if (!strcmp(a, "--seed"))
            rng_state = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--date") && sscanf(v, "%d-%d-%d", &y, &m, &d) == 3)
            date = days_from_civil(y, m, d);
        else if (!strcmp(a, "--order") && (!strcmp(v, "time") || !strcmp(v, "debtor")))
            by_time = !strcmp(v, "time");
        else {
            fprintf(stderr, "usage: gen-outcomes [--per-debtor K] [--days D] "
                            "[--date YYYY-MM-DD] [--seed S] [--attempt-ids] "
                            "[--order debtor|time] <debtors.csv >outcomes.csv\n");
            return 2;
        }
        i++;
    }
    if (per < 0 || span < 1) {
        fprintf(stderr, "gen-outcomes: bad --per-debtor or --days\n");
        return 2;
    }
    static char in[1 << 16];
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
    fputs(with_ids ? "debtor_id,channel,attempted_at,outcome,amount,promise_date,attempt_id\n"
                   : "debtor_id,channel,attempted_at,outcome,amount,promise_date\n",
          stdout);
    unsigned long long attempts = 0;
    int header = 1;
    while (fgets(in, sizeof(in), stdin)) {
        if (header) {
            header = 0;
            continue;
        }
        char *comma = strchr(in, ',');
        if (!comma || comma == in)
            continue;
        *comma = 0;
        /* Each debtor: a preferred hour and a payday (day of month). */
        int pref = 8 + (int)below(12);
        int payday = 1 + (int)below(28);
        for (int j = 0; j < per; j++) {
            long day = date - 1 - (long)below((unsigned)span);
            int hour = below(3) ? pref + (int)below(3) - 1 : 7 + (int)below(14);
            int k = (int)below(10);
            k = k < 4 ? 0 : k < 7 ? 1 : k < 9 ? 2 : 3;
            unsigned u = below(10000);
            const char *code = code_for(k, u);
            int y, m, d;
            char amount[32] = "", promise[16] = "";
            if (u >= 9900) {
                /* a payment on the debtor's payday this month */
                code = "paid";
                civil_from_days(day, &y, &m, &d);
                day = days_from_civil(y, m, payday);
                if (day >= date)
                    day -= 30;
                snprintf(amount, sizeof(amount), "%u.%02u", 20 + below(400), below(100));
            } else if (!strcmp(code, "promise_to_pay")) {
                civil_from_days(day + 3 + below(10), &y, &m, &d);
                snprintf(promise, sizeof(promise), "%04d-%02d-%02d", y, m, d);
            }
            /* the sample's zones are within UTC-10..+12: a UTC hour near the local one */
            unsigned min = below(60), sec = below(60);
            char att[32];
            /* unique across files: the date names the file's run */
            snprintf(att, sizeof(att), "A%ld-%llu", date, ++attempts);
            int r = 0;
            if (with_ids && k != 2 && j + 1 < per &&
                (!strcmp(code, "opened") || !strcmp(code, "clicked") ||
                 !strcmp(code, "replied"))) {
                r = emit(by_time, with_ids, in, kinds[k], day, hour, min < 2 ? 0 : min - 2, sec,
                         "delivered", "", "", att);
                j++;
            }
            if (r < 0 || emit(by_time, with_ids, in, kinds[k], day, hour, min, sec, code,
                              amount, promise, att) < 0) {
                fprintf(stderr, "gen-outcomes: out of memory\n");
                return 1;
            }
        }
    }
    if (by_time) {
        qsort(lines, nlines, sizeof(*lines), line_cmp);
        for (size_t i = 0; i < nlines; i++)
            fputs(text + lines[i].off, stdout);
        free(lines);
        free(text);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("gen-outcomes: write");
        return 1;
    }
    return 0;
}
