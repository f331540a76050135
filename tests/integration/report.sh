#!/bin/sh
# cadenza report --from --to: the contact report on a store built with the
# real binary (import, run, import outcomes).
#
#  1. four hand-made debtors, one attempt each, and a hand-written outcomes
#     file: every figure of the report is known (see the table below);
#  2. a sampled portfolio with generated outcomes: the JSON's rows and the
#     champion/challenger intervals recomputed from the store's tables in
#     Python (docs/report.md's definitions), and JSON, CSV and the text
#     table giving the same figures;
#  3. bad dates, an empty range, --output.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

today=$(date -u +%Y-%m-%d)
NOW="${today}T00:00:00Z"
day() { date -u -d "$1 $2 days" +%Y-%m-%d; }

# ---- 1. the hand-checkable case ----
# Four debtors in Madrid (EUR): early-es (DPD 10, 12), mid (60) and late
# (120).  D is a Tuesday to Thursday at least 20 days ago on which the
# planner gives each of them an attempt (a Spanish holiday would not).
hand_debtors() {
    cat <<EOF
id,name,locale,time_zone,country,region,email,phone,balance,currency,due_date,risk_band,segment,consent_email,consent_sms,consent_chat,consent_call
H1,Ana Uno,es-ES,Europe/Madrid,ES,ES-MD,h1@example.es,+34612345671,300.00,EUR,$(day "$1" -10),B,card,yes,yes,yes,yes
H2,Bea Dos,es-ES,Europe/Madrid,ES,ES-MD,h2@example.es,+34612345672,400.00,EUR,$(day "$1" -12),B,card,yes,yes,yes,yes
H3,Carlos Tres,es-ES,Europe/Madrid,ES,ES-MD,h3@example.es,+34612345673,500.00,EUR,$(day "$1" -60),C,loan,yes,yes,yes,yes
H4,Dora Cuatro,es-ES,Europe/Madrid,ES,ES-MD,h4@example.es,+34612345674,600.00,EUR,$(day "$1" -120),D,loan,yes,yes,yes,yes
EOF
}
i=20
D=
while [ $i -lt 80 ]; do
    c=$(day "$today" -$i)
    i=$((i + 1))
    case $(date -u -d "$c" +%u) in 2|3|4) ;; *) continue ;; esac
    hand_debtors "$c" >"$T/hand.csv"
    cz import debtors --quiet "$T/hand.csv" >/dev/null 2>&1
    n=$(cz plan --date "$c" --now "${c}T00:00:00Z" --format csv 2>/dev/null | tail -n +2 |
        cut -d, -f1 | sort -u | wc -l)
    if [ "$n" -eq 4 ]; then D=$c; break; fi
done
[ -n "$D" ] || { fail "no day in the last 80 on which all four hand debtors get an attempt"; finish; }
expect_exit 0 "run $D" -- cz run --date "$D" --now "${D}T00:00:00Z" --no-enqueue
[ "$(sql "SELECT count(*) FROM attempts WHERE idempotency_key LIKE '$D:H_:1'")" -eq 4 ] &&
    pass "one attempt each" || fail "attempts: $(sql 'SELECT idempotency_key FROM attempts')"

# Hand-written outcomes, all on the attempt of each debtor:
#   H1  delivered, clicked, promise for D+3, paid 50.00 on D+2  (kept)
#   H2  delivered, opt_out
#   H3  bounced
#   H4  right_party, promise for D+1, never paid                (broken)
# so: attempts 4, delivered 3 (not H3), contacts 3 (H1 clicked, H2 opt-out,
# H4), right-party contacts 2 (H1, H4), promises 2, both due, 1 kept,
# 1 payment, 50.00 recovered, 1 opt-out.
D1=$(day "$D" 1); D2=$(day "$D" 2); D3=$(day "$D" 3)
cat >"$T/hand-o.csv" <<EOF
debtor_id,channel,attempted_at,outcome,amount,promise_date,idempotency_key
H1,,${D1}T09:00:00Z,delivered,,,$D:H1:1
H1,,${D1}T09:05:00Z,clicked,,,$D:H1:1
H1,,${D1}T09:10:00Z,promise_to_pay,,$D3,$D:H1:1
H1,,${D2}T10:00:00Z,paid,50.00,,$D:H1:1
H2,,${D1}T09:00:00Z,delivered,,,$D:H2:1
H2,,${D1}T12:00:00Z,opt_out,,,$D:H2:1
H3,,${D1}T09:00:00Z,bounced,,,$D:H3:1
H4,,${D1}T11:00:00Z,right_party,,,$D:H4:1
H4,,${D1}T11:01:00Z,promise_to_pay,,$D1,$D:H4:1
EOF
expect_exit 0 "import the hand outcomes" -- cz import outcomes --no-stop "$T/hand-o.csv"
expect_exit 0 "report json" -- cz report --from "$D" --to "$D" --format json --now "$NOW"
cp "$T/out" "$T/hand.json"
$PY - "$T/hand.json" "$CADENZA_STORE" "$D" <<'PY' && pass "hand-checked figures" || fail "hand-checked figures"
import json, sqlite3, sys, datetime, zoneinfo
r = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
D = sys.argv[3]
assert r["from"] == D and r["to"] == D and r["currency"] == "EUR", r
t = r["total"]
want = dict(planned=4, attempts=4, delivered=3, contacts=3, right_party_contacts=2, promises=2,
            promises_due=2, promises_kept=1, payments=1, recovered_minor=5000, opt_outs=1)
for k, v in want.items():
    assert t[k] == v, (k, t[k], v)
assert t["recovered"] == 50.0
assert abs(t["contact_rate"] - 0.75) < 1e-12 and abs(t["rpc_rate"] - 0.5) < 1e-12
assert abs(t["delivery_rate"] - 0.75) < 1e-12
assert t["promise_rate"] == 1.0 and t["kept_rate"] == 0.5, t
assert t["debtors"] == 4
# per debtor, by hand; the rows add them up along the planner's grouping
per = {"H1": dict(delivered=1, contacts=1, right_party_contacts=1, promises=1, promises_kept=1,
                  payments=1, recovered_minor=5000, opt_outs=0),
       "H2": dict(delivered=1, contacts=1, right_party_contacts=0, promises=0, promises_kept=0,
                  payments=0, recovered_minor=0, opt_outs=1),
       "H3": dict(delivered=0, contacts=0, right_party_contacts=0, promises=0, promises_kept=0,
                  payments=0, recovered_minor=0, opt_outs=0),
       "H4": dict(delivered=1, contacts=1, right_party_contacts=1, promises=1, promises_kept=0,
                  payments=0, recovered_minor=0, opt_outs=0)}
# config/cadenza.yaml's cost per attempt
cost = {"email": 0.002, "sms": 0.04, "bot": 0.01, "dialer": 0.60, "letter": 0.90}
rows = {}
hours = {}
for ext, s, v, tier, ch, at in db.execute(
        "SELECT d.external_id, strategy, variant, tier, channel, scheduled_at FROM attempts a"
        " JOIN debtors d ON d.id = a.debtor_id"):
    x = rows.setdefault((s, v, tier, ch), dict(attempts=0, cost=0.0, **{k: 0 for k in per["H1"]}))
    x["attempts"] += 1
    x["cost"] += cost[ch]
    for k, n in per[ext].items():
        x[k] += n
    h = datetime.datetime.fromtimestamp(at, zoneinfo.ZoneInfo("Europe/Madrid")).hour
    hc = hours.setdefault(ch, [0] * 24)
    hc[h] += 1
got = {(w["strategy"], w["variant"], w["tier"], w["channel"]): w for w in r["rows"]}
assert set(got) == set(rows), (set(got), set(rows))
for key, x in rows.items():
    w = got[key]
    for k, n in x.items():
        assert abs(w[k] - n) < 1e-9, (key, k, w[k], n)
    assert w["role"] == "champion"
    assert w["cost_per_recovered"] is None if w["recovered_minor"] == 0 else \
        abs(w["cost_per_recovered"] - w["cost"] / w["recovered"]) < 1e-6
assert abs(t["cost"] - sum(x["cost"] for x in rows.values())) < 1e-9
assert abs(t["cost_per_recovered"] - t["cost"] / 50.0) < 1e-6
# contact rate by the debtor's local hour (Python's zoneinfo, not cadenza's)
for hr in r["hours"]:
    assert hr["attempts"] == hours[hr["channel"]], (hr, hours)
# the funnel: per strategy and tier, summing to the total
assert sum(f["attempts"] for f in r["funnel"]) == 4
assert sum(f["promises_kept"] for f in r["funnel"]) == 1
# one variant per strategy: nothing to compare
assert r["comparisons"] == [], r["comparisons"]
assert {v["variant"] for v in r["variants"]} == {"default"}
PY
expect_exit 0 "report table" -- cz report --from "$D" --to "$D" --now "$NOW"
expect_grep "^total  *4  *4  *75.0%  *75.0%  *50.0%  *100.0%  *50.0%  *1  *50.00 " "$T/out" \
    "the table's total line"
expect_grep "no strategy had two variants" "$T/out" "no comparison to make"

# ---- 2. a sampled portfolio, generated outcomes, recomputed ----
export CADENZA_STORE="$T/big.db"
cz sample --debtors 2500 --seed 17 --invalid-rate 0 --as-of "$D" >"$T/d.csv"
expect_exit 0 "import the portfolio" -- cz import debtors --quiet "$T/d.csv"
expect_exit 0 "run $D" -- cz run --date "$D" --now "${D}T00:00:00Z" --no-enqueue
# Outcomes for the attempts from a seeded generator: the bot-early
# challenger of early-us-uk reaches people much more often, so the report
# has something to call.
$PY "$SRCDIR/tests/integration/report-outcomes.py" "$CADENZA_STORE" >"$T/o.csv"
expect_exit 0 "import the generated outcomes" -- cz import outcomes --no-stop --quiet "$T/o.csv"
expect_exit 0 "report json (USD)" -- cz report --from "$D" --to "$D" --format json --currency USD \
    --now "$NOW"
cp "$T/out" "$T/big.json"
$PY - "$T/big.json" "$CADENZA_STORE" "$D" <<'PY' && pass "rows and intervals recomputed from the store" || fail "recomputed"
# docs/report.md's definitions, written again: every outcome here names its
# attempt, every attempt is still 'planned' (--no-enqueue), so an attempt is
# made when it has an outcome.
import json, math, sqlite3, sys, datetime, zoneinfo
r = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
D = datetime.date.fromisoformat(sys.argv[3])
NAMES = ["delivered", "bounced", "opened", "clicked", "replied", "no_answer", "third_party",
         "right_party", "promise_to_pay", "paid", "opt_out", "wrong_number", "dispute",
         "refused", "failed"]
DELIVERED = set(NAMES) - {"bounced", "no_answer", "failed"}
CONTACT = DELIVERED - {"delivered"}
RPC = {"clicked", "replied", "right_party", "promise_to_pay", "paid", "dispute", "refused"}
att = {}
for aid, ext, cur, tz, s, v, tier, ch, at in db.execute(
        "SELECT a.id, d.external_id, d.currency, d.time_zone, strategy, variant, tier, channel,"
        " coalesce(sent_at, scheduled_at) FROM attempts a JOIN debtors d ON d.id = a.debtor_id"):
    local = datetime.datetime.fromtimestamp(at, zoneinfo.ZoneInfo(tz))
    if local.date() != D:
        continue
    att[aid] = dict(ext=ext, usd=cur == "USD", key=(s, v, tier, ch), codes=set(), paid=0)
for aid, code, amount in db.execute("SELECT attempt_id, code, amount_minor FROM outcomes"):
    if aid in att and NAMES[code] != "failed":
        att[aid]["codes"].add(NAMES[code])
        if NAMES[code] == "paid" and att[aid]["usd"]:
            att[aid]["paid"] += amount
rows = {}
arms = {}
for a in att.values():
    x = rows.setdefault(a["key"], dict(planned=0, attempts=0, delivered=0, contacts=0,
                                       right_party_contacts=0, promises=0, opt_outs=0,
                                       recovered_minor=0))
    x["planned"] += 1
    c = a["codes"]
    if not c:
        continue
    x["attempts"] += 1
    x["delivered"] += bool(c & DELIVERED)
    x["contacts"] += bool(c & CONTACT)
    x["right_party_contacts"] += bool(c & RPC)
    x["promises"] += "promise_to_pay" in c
    x["opt_outs"] += "opt_out" in c
    x["recovered_minor"] += a["paid"]
    d = arms.setdefault(a["key"][:2], {}).setdefault(a["ext"], [0, 0, 0, 0, 0, a["usd"]])
    d[0] += 1
    d[1] += bool(c & CONTACT)
    d[2] += bool(c & RPC)
    d[3] += "promise_to_pay" in c
    d[4] += a["paid"]
got = {(w["strategy"], w["variant"], w["tier"], w["channel"]): w for w in r["rows"]}
assert set(got) == set(rows), set(got) ^ set(rows)
for k, x in rows.items():
    for f, n in x.items():
        assert got[k][f] == n, (k, f, got[k][f], n)
assert r["total"]["attempts"] == sum(x["attempts"] for x in rows.values())

def ratio(pairs):          # per-debtor (y, m): the estimate and its variance
    n = len(pairs); sy = sum(y for y, m in pairs); sm = sum(m for y, m in pairs)
    if sm == 0:
        return float("nan"), float("nan"), n, sm
    R = sy / sm
    var = float("nan") if n < 2 else \
        n * sum((y - R * m) ** 2 for y, m in pairs) / ((n - 1) * sm * sm)
    return R, var, n, sm

cmp = {(c["strategy"], c["challenger"]): c for c in r["comparisons"]}
assert ("early-us-uk", "bot-early") in cmp, list(cmp)
c = cmp[("early-us-uk", "bot-early")]
assert c["champion"] == "champion"
called = 0
for m in c["metrics"]:
    def pairs(variant):
        ds = arms[("early-us-uk", variant)].values()
        if m["metric"] == "contact_rate": return [(d[1], d[0]) for d in ds]
        if m["metric"] == "rpc_rate": return [(d[2], d[0]) for d in ds]
        if m["metric"] == "promise_rate": return [(d[3], d[2]) for d in ds]
        return [(d[4] / 100, 1) for d in ds if d[5]]          # USD per debtor
    a, va, na, ma = ratio(pairs("champion"))
    b, vb, nb, mb = ratio(pairs("bot-early"))
    diff = b - a
    se = math.sqrt(va + vb)
    lo, hi = diff - 1.959963984540054 * se, diff + 1.959963984540054 * se
    for k, want in (("champion", a), ("challenger", b), ("difference", diff), ("lo", lo), ("hi", hi)):
        assert abs(m[k] - want) < 1e-9, (m["metric"], k, m[k], want)
    assert (m["debtors_champion"], m["debtors_challenger"]) == (na, nb)
    margin = 0.1 * abs(a) if m["metric"] == "recovery_per_debtor" else 0.02
    if min(na, nb, ma, mb) < 30: v = "not enough data yet"
    elif lo > 0: v = "challenger better"
    elif hi < 0: v = "challenger worse"
    elif lo >= -margin and hi <= margin: v = "no material difference"
    else: v = "not enough data yet"
    assert m["verdict"] == v, (m, v)
    called += v != "not enough data yet"
assert c["metrics"][0]["verdict"] == "challenger better", c["metrics"][0]
print("compared %d debtors against %d" % (c["metrics"][0]["debtors_champion"],
                                         c["metrics"][0]["debtors_challenger"]))
PY

# the three formats agree
expect_exit 0 "report csv" -- cz report --from "$D" --to "$D" --format csv --currency USD --now "$NOW"
cp "$T/out" "$T/big.csv"
expect_exit 0 "report table" -- cz report --from "$D" --to "$D" --currency USD --now "$NOW"
cp "$T/out" "$T/big.txt"
$PY - "$T/big.json" "$T/big.csv" "$T/big.txt" <<'PY' && pass "json, csv and table agree" || fail "formats disagree"
import csv, json, sys
r = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
assert len(rows) == len(r["rows"]) > 5
ints = ["planned", "attempts", "delivered", "contacts", "right_party_contacts", "promises",
        "promises_due", "promises_kept", "payments", "opt_outs"]
rates = ["delivery_rate", "contact_rate", "rpc_rate", "promise_rate", "kept_rate"]
for j, c in zip(r["rows"], rows):
    for k in ["strategy", "variant", "role", "tier", "channel", "channel_kind"]:
        assert j[k] == c[k], (k, j, c)
    for k in ints:
        assert j[k] == int(c[k]), (k, j[k], c[k])
    for k in rates + ["cost_per_recovered"]:
        assert (j[k] is None and c[k] == "") or abs(j[k] - float(c[k])) < 1e-6, (k, j[k], c[k])
    assert abs(j["recovered"] - float(c["recovered"])) < 1e-9
    assert abs(j["cost"] - float(c["cost"])) < 1e-6
# the text table: the same row order; counts exact, rates to 0.1 %
lines = open(sys.argv[3]).read().split("\n")
start = next(i for i, l in enumerate(lines) if l.startswith("strategy ")) + 1
pct = lambda x: "-" if x is None else "%.1f%%" % (100 * x)
for j, line in zip(r["rows"], lines[start:]):
    f = line.split()
    assert f[:5] == [j["strategy"], j["variant"], j["role"], j["tier"], j["channel"]], (f, j)
    assert f[5:8] == [str(j["planned"]), str(j["attempts"]), pct(j["delivery_rate"])], (f, j)
    assert f[8:12] == [pct(j["contact_rate"]), pct(j["rpc_rate"]), pct(j["promise_rate"]),
                       pct(j["kept_rate"])], (f, j)
    assert f[12] == str(j["payments"]) and f[13] == "%.2f" % j["recovered"], (f, j)
    assert f[16] == str(j["opt_outs"]), (f, j)
tot = lines[start + len(r["rows"])].split()
assert tot[0] == "total" and tot[1] == str(r["total"]["planned"]) and tot[2] == str(r["total"]["attempts"])
PY
expect_grep "early-us-uk: bot-early (challenger) against champion (champion)" "$T/big.txt" \
    "the comparison in the table"
expect_grep "^  contact rate .* challenger better$" "$T/big.txt" "the call in the table"
# currencies: amounts of EUR debtors by default; the others are counted apart
expect_exit 0 "report json (EUR)" -- cz report --from "$D" --to "$D" --format json --now "$NOW"
$PY - "$T/out" "$T/big.json" <<'PY' && pass "one currency's amounts" || fail "currency"
import json, sys
e, u = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert e["currency"] == "EUR" and u["currency"] == "USD"
assert e["total"]["payments"] == u["total"]["payments"] > 0
assert e["total"]["recovered_minor"] != u["total"]["recovered_minor"]
assert e["total"]["other_currency_payments"] + u["total"]["other_currency_payments"] > 0
PY

# html: one file, no network, the charts and tables there
expect_exit 0 "report html to a file" -- cz report --from "$D" --to "$D" --format html \
    --output "$T/r.html" --currency USD --now "$NOW"
[ ! -s "$T/out" ] && pass "--output leaves stdout empty" || fail "stdout not empty"
for what in '<svg data-chart="hours"' '<svg data-chart="funnel"' '<svg data-chart="comparison"' \
    '<caption>' '<title id="hours-t">'; do
    expect_grep "$what" "$T/r.html" "html has $what"
done
if grep -E -q '<script|<link|src=|https?://' "$T/r.html"; then fail "html loads something"
else pass "html is self-contained"; fi
expect_exit 0 "json to a file" -- cz report --from "$D" --to "$D" --format json -o "$T/r.json" \
    --currency USD --now "$NOW"
cmp -s "$T/r.json" "$T/big.json" && pass "--output writes what stdout gets" || fail "--output"
ls "$T" | grep -q '\.tmp\.' && fail "temporary file left" || pass "no temporary file left"
expect_exit 3 "unwritable --output" -- cz report --from "$D" --to "$D" -o "$T/no/such/dir/r.html"
expect_grep "cannot write" "$T/err" "says it cannot write"

# ---- 3. bad input and an empty range ----
expect_exit 2 "impossible date" -- cz report --from 2026-02-30 --to 2026-03-01
expect_grep "invalid date '2026-02-30' for --from: expected YYYY-MM-DD" "$T/err" "names the date"
expect_exit 2 "not a date" -- cz report --from "$D" --to 17/11/2026
expect_grep "invalid date '17/11/2026' for --to" "$T/err" "names --to"
expect_exit 2 "reversed range" -- cz report --from "$D" --to "$(day "$D" -1)"
expect_grep "is before --from" "$T/err" "says the range is reversed"
expect_exit 2 "missing --to" -- cz report --from "$D"
expect_grep "needs --from and --to" "$T/err" "says what is missing"
expect_exit 2 "unknown format" -- cz report --from "$D" --to "$D" --format xml
expect_grep "unknown format 'xml': expected table, json, csv or html" "$T/err" "names the formats"
expect_exit 2 "unknown currency" -- cz report --from "$D" --to "$D" --currency EURO
expect_exit 2 "bad --now" -- cz report --from "$D" --to "$D" --now yesterday
E1=$(day "$D" 5); E2=$(day "$D" 9)
expect_exit 1 "empty range" -- cz report --from "$E1" --to "$E2"
expect_grep "no attempts from $E1 to $E2 in '.*': nothing to report" "$T/err" "says it is empty"
[ ! -s "$T/out" ] && pass "nothing on stdout for an empty range" || fail "output for an empty range"
# the other reports still answer
expect_exit 2 "evaluate still needs its dates" -- cz report --evaluate "$SRCDIR/strategies"
expect_exit 2 "unknown report" -- cz report nonsense
finish
