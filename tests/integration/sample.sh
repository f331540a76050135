#!/bin/sh
# sample.sh - `cadenza sample`: header, row count, unique ids, determinism,
# DPD spread, invalid-row share and usage errors.
# Uses $CADENZA (the binary) and $CADENZA_WRAP (e.g. valgrind) in front of it.
set -u

: "${CADENZA:?CADENZA must point at the cadenza binary}"
WRAP=${CADENZA_WRAP:-}
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cadenza-sample.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
fail=0

die() {
    echo "FAIL: $*" >&2
    fail=1
}

run() {
    # shellcheck disable=SC2086
    $WRAP "$CADENZA" "$@"
}

N=2000
run sample --debtors $N --seed 42 --as-of 2026-03-01 >"$TMP/a.csv" || die "sample exited $?"
run sample --debtors $N --seed 42 --as-of 2026-03-01 >"$TMP/b.csv" || die "second run exited $?"
run sample --debtors $N --seed 43 --as-of 2026-03-01 >"$TMP/c.csv" || die "third run exited $?"
run sample -n $N -s 42 -a 2026-03-01 -i 0.01 >"$TMP/d.csv" || die "short options exited $?"

cmp -s "$TMP/a.csv" "$TMP/b.csv" || die "same seed gave different output"
cmp -s "$TMP/a.csv" "$TMP/c.csv" && die "different seeds gave the same output"
cmp -s "$TMP/a.csv" "$TMP/d.csv" || die "short options (and the default rate) differ"

# A different as-of date moves the due dates only.
run sample --debtors 50 --seed 42 --as-of 2026-03-02 >"$TMP/e.csv" || die "as-of run exited $?"

$PY - "$TMP/a.csv" "$N" "$TMP/e.csv" <<'EOF' || fail=1
import csv, datetime, sys
path, n, other = sys.argv[1], int(sys.argv[2]), sys.argv[3]
want = ("id,name,locale,time_zone,country,region,email,phone,chat_handle,balance,currency,"
        "due_date,payday,risk_band,segment,tags,flags,consent_email,consent_sms,consent_chat,"
        "consent_call,do_not_contact,preferred_channel,prefers_human,age_band,"
        "employment_type").split(",")
bad = []
with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f, strict=True))
if rows[0] != want:
    bad.append("header is %r" % rows[0])
data = rows[1:]
if len(data) != n:
    bad.append("%d data rows, expected %d" % (len(data), n))
for i, r in enumerate(data):
    if len(r) != len(want):
        bad.append("row %d has %d fields" % (i + 2, len(r)))
        break
ids = [r[0] for r in data if r[0]]
if len(set(ids)) != len(ids):
    bad.append("ids are not unique")
if any(len(x) != 14 or x[0] != "D" or not x[1:].isdigit() for x in ids):
    bad.append("malformed id")
if ids == sorted(ids):
    bad.append("ids are in sorted order, expected a random order")
missing = n - len(ids)
if not (0 <= missing <= n * 0.01):
    bad.append("%d rows without id" % missing)
asof = datetime.date(2026, 3, 1)
dpd = []
for r in data:
    try:
        dpd.append((asof - datetime.date.fromisoformat(r[11])).days)
    except ValueError:
        pass
if len(dpd) < n * 0.97:
    bad.append("only %d parseable due dates" % len(dpd))
if min(dpd) < -10 or max(dpd) > 180:
    bad.append("DPD outside -10..180: %d..%d" % (min(dpd), max(dpd)))
buckets = [sum(lo <= d <= hi for d in dpd) for lo, hi in
           ((-10, -1), (0, 30), (31, 60), (61, 90), (91, 180))]
if min(buckets) < n * 0.05:
    bad.append("DPD not spread: %r" % buckets)
if min(dpd) > -8 or max(dpd) < 170:
    bad.append("DPD range too narrow: %d..%d" % (min(dpd), max(dpd)))
countries = {r[4] for r in data}
if not {"US", "ES", "GB"} <= countries:
    bad.append("countries: %r" % countries)
if not any("," in r[1] for r in data):
    bad.append("no name with a comma: quoting is not exercised")
if not any(r[7] == "" for r in data) or not any(r[6] == "" for r in data):
    bad.append("every debtor has both phone and email")
if any(r[6] == "" and r[7] == "" for r in data):
    bad.append("a debtor with neither phone nor email")
cur = {"US": "USD", "ES": "EUR", "GB": "GBP", "DE": "EUR", "MX": "MXN"}
if any(r[10] != cur[r[4]] for r in data):
    bad.append("currency does not match country")
flagged = sum(1 for r in data if r[16])
if not (n * 0.02 <= flagged <= n * 0.15):
    bad.append("%d flagged debtors" % flagged)
with open(other, newline="", encoding="utf-8") as f:
    e = list(csv.reader(f))[1:]
for r1, r2 in zip(data[:50], e):
    same = [a == b for k, (a, b) in enumerate(zip(r1, r2)) if k != 11]
    if not all(same):
        bad.append("as-of changed more than the due date")
        break
    if r1[11] and r2[11]:
        try:
            d1 = datetime.date.fromisoformat(r1[11])
            d2 = datetime.date.fromisoformat(r2[11])
            if (d2 - d1).days != 1:
                bad.append("due date did not move with as-of")
                break
        except ValueError:
            pass
for b in bad:
    print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF

# Invalid rows at a given rate; none at rate 0.
run sample --debtors 1000 --seed 5 --as-of 2026-03-01 --invalid-rate 0 >"$TMP/v.csv" ||
    die "rate 0 exited $?"
run sample --debtors 1000 --seed 5 --as-of 2026-03-01 --invalid-rate 0.5 >"$TMP/i.csv" ||
    die "rate 0.5 exited $?"
$PY - "$TMP/v.csv" "$TMP/i.csv" <<'EOF' || fail=1
import csv, datetime, re, sys
def load(p):
    with open(p, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))[1:]
zone = re.compile(r"^(America|Europe|Atlantic)/[A-Za-z_]+$")
money = re.compile(r"^[0-9]+\.[0-9]{2}$")
email = re.compile(r"^[a-z0-9._]+@[a-z0-9.-]+\.example$")
def broken(r):
    if not r[0]:
        return True
    if r[7] and not re.fullmatch(r"[+0-9 ()-]+", r[7]):
        return True
    if r[6] and not email.match(r[6]):
        return True
    if not zone.match(r[3]) or not money.match(r[9]):
        return True
    try:
        datetime.date.fromisoformat(r[11])
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", r[11]):
            return True
    except ValueError:
        return True
    return False
v, i = load(sys.argv[1]), load(sys.argv[2])
nv = sum(map(broken, v))
ni = sum(map(broken, i))
ok = nv == 0 and 250 <= ni <= 500
if not ok:
    print("FAIL: broken rows: %d at rate 0, %d at rate 0.5" % (nv, ni), file=sys.stderr)
sys.exit(0 if ok else 1)
EOF

# The importer accepts every row of a sample without deliberate errors, and
# rejects the broken ones (this checks phone ranges against libphonenumber).
run --store "$TMP/store.db" import debtors "$TMP/v.csv" >"$TMP/imp.out" 2>"$TMP/imp.err" ||
    die "import of a clean sample exited $?: $(head -3 "$TMP/imp.err")"
grep -q " 0 rejected" "$TMP/imp.out" || die "clean sample had rejected rows: $(cat "$TMP/imp.out")"
run --store "$TMP/store2.db" import debtors "$TMP/i.csv" >"$TMP/imp2.out" 2>"$TMP/imp2.err"
[ $? -eq 1 ] || die "import of a broken sample did not exit 1"

# Zero rows: just the header.
out=$(run sample --debtors 0 --as-of 2026-03-01) || die "--debtors 0 exited $?"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || die "--debtors 0 printed more than the header"

# Default as-of (today) works.
run sample --debtors 3 >/dev/null || die "default as-of exited $?"

# --help goes to stdout with status 0.
run sample --help >"$TMP/help" 2>/dev/null || die "--help exited $?"
grep -q "usage: cadenza sample" "$TMP/help" || die "--help printed no usage"

# Usage errors exit 2 and name the problem.
expect_usage() {
    run sample "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ $rc -eq 2 ] || die "'sample $*' exited $rc, expected 2"
    [ -s "$TMP/err" ] || die "'sample $*' printed no error"
    [ -s "$TMP/out" ] && die "'sample $*' wrote to stdout"
}
expect_usage
expect_usage --debtors
expect_usage --debtors abc
expect_usage --debtors -5
expect_usage --debtors 10 --seed x
expect_usage --debtors 10 --invalid-rate 2
expect_usage --debtors 10 --invalid-rate nan
expect_usage --debtors 10 --as-of 2026-02-30
expect_usage --debtors 10 --bogus
expect_usage --debtors 10 extra
grep -q "as-of\|date" "$TMP/err" 2>/dev/null || true

if [ $fail -eq 0 ]; then
    echo "sample: all checks passed"
fi
exit $fail
