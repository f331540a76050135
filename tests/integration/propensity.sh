#!/bin/sh
# Payment propensity end to end: a portfolio whose payment probability
# per risk band is known, payments imported as outcomes, then
# `report calibration` (predicted against observed per decile), `run`
# (the propensity stored), `status` and `explain` showing it.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

today=$(date -u +%Y-%m-%d)
AT=$(date -u -d "$today - 40 days" +%Y-%m-%d)    # predictions made here
cz sample --debtors 4000 --seed 5 --invalid-rate 0 --as-of "$today" >"$T/d.csv"
expect_exit 0 "import debtors" -- cz import debtors --quiet "$T/d.csv"
# Sampled debtors join the store now: pretend they were imported long ago.
sqlite3 "$CADENZA_STORE" "UPDATE debtors SET created_at = 0" || fail "backdate"

# Each debtor pays in each 30-day window with its band's probability:
# the training window [AT-30, AT) and the evaluated one [AT, AT+30).
$PY - "$T/d.csv" "$AT" >"$T/o.csv" <<'PY'
import csv, datetime, random, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
at = datetime.datetime.strptime(sys.argv[2], "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
p = {"A": 0.45, "B": 0.30, "C": 0.20, "D": 0.10, "E": 0.05, "": 0.15}
rnd = random.Random(11)
print("debtor_id,channel,attempted_at,outcome,amount")
for r in rows:
    for start in (at - datetime.timedelta(days=30), at):
        if rnd.random() < p[r["risk_band"]]:
            t = start + datetime.timedelta(seconds=rnd.randrange(30 * 86400 - 3600))
            print("%s,,%s,paid,10.00" % (r["id"], t.strftime("%Y-%m-%dT%H:%M:%SZ")))
PY
expect_exit 0 "import payments" -- cz import outcomes --quiet "$T/o.csv"

expect_exit 0 "report calibration" -- cz report calibration --date "$AT" --format json
cp "$T/out" "$T/cal.json"
$PY - "$T/cal.json" <<'PY' && pass "calibrated per decile, discriminating" || fail "calibration"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["debtors"] == 4000 and c["train_examples"] == 4000, c
assert c["window_complete"], c
bins = c["deciles"]
assert len(bins) == 10
for b in bins:
    assert b["debtors"] >= 300, b
    assert abs(b["predicted"] - b["observed"]) < 0.06, b
assert bins[9]["observed"] - bins[0]["observed"] > 0.2, bins
assert c["ece"] < 0.03, c["ece"]
assert c["brier"] < c["brier_base"], c
PY
expect_exit 0 "report calibration text" -- cz report calibration --date "$AT"
expect_grep "^decile" "$T/out" "decile table"
expect_grep "Brier score" "$T/out" "scores"
expect_exit 2 "unknown report" -- cz report nonsense

# the planner uses it: stored at the run, shown by status and explain
i=1
while :; do   # the next Tuesday, Wednesday or Thursday: every profile allows contacts
    D=$(date -u -d "$today + $i days" +%Y-%m-%d)
    case $(date -u -d "$D" +%u) in 2|3|4) break ;; esac
    i=$((i + 1))
done
expect_exit 0 "run" -- cz run --date "$D" --now "${D}T00:00:00Z" --no-enqueue
[ "$(sqlite3 "$CADENZA_STORE" "SELECT count(*) FROM contact_state WHERE p_pay > 0")" -gt 100 ] &&
    pass "propensity stored on the contact state" || fail "contact_state.p_pay"
[ "$(sqlite3 "$CADENZA_STORE" "SELECT count(*) FROM attempts WHERE p_pay > 0")" -gt 100 ] &&
    pass "propensity stored on the attempts" || fail "attempts.p_pay"
# band A pays more than band E, as the truth says
$PY - "$CADENZA_STORE" <<'PY' && pass "propensity ordered by risk band" || fail "band order"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
q = "SELECT avg(c.p_pay) FROM contact_state c JOIN debtors d ON d.id = c.debtor_id WHERE risk_band = ?"
a, e = db.execute(q, ("A",)).fetchone()[0], db.execute(q, ("E",)).fetchone()[0]
assert a > 2 * e, (a, e)
PY
expect_exit 0 "status" -- cz status
expect_grep "^Payment propensity: [0-9]* debtors" "$T/out" "status summary"
expect_grep "^Payment propensity (within 30 days" "$T/out" "status bands"
expect_exit 0 "status json" -- cz status --format json
$PY - "$T/out" <<'PY' && pass "status json propensity" || fail "status json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["payment_propensity"]["debtors"] > 100, d["payment_propensity"]
assert sum(d["by_payment_propensity"].values()) == d["payment_propensity"]["debtors"]
PY
# every attempt of the run logged the probability the planner chose it with
[ "$(sqlite3 "$CADENZA_STORE" "SELECT count(*) FROM attempts WHERE p_choice IS NULL OR p_choice <= 0 OR p_choice > 1")" -eq 0 ] &&
    pass "choice probabilities logged" || fail "attempts.p_choice"
# report --evaluate: usage errors, and decisions without outcomes are not evaluated
expect_exit 2 "evaluate without dates" -- cz report --evaluate "$SRCDIR/strategies"
expect_exit 2 "evaluate with dates reversed" -- cz report --evaluate "$SRCDIR/strategies" \
    --from "$D" --to "$AT"
expect_exit 1 "evaluate without outcomes" -- cz report --evaluate "$SRCDIR/strategies" \
    --from "$today" --to "$D"
expect_grep "has a logged choice probability and an outcome" "$T/err" "says why"
id=$(sqlite3 "$CADENZA_STORE" "SELECT external_id FROM debtors d JOIN attempts a ON a.debtor_id = d.id WHERE risk_band = 'A' LIMIT 1")
expect_exit 0 "explain" -- cz explain "$id" --date "$D" --now "${D}T00:00:00Z"
expect_grep "^payment propensity: 0\.[0-9]* within 30 days (portfolio .*risk band 'A' x" "$T/out" \
    "explain shows the propensity and its levels"
finish
