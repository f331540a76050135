#!/bin/sh
# Generated hostile input: truncated quotes, NUL bytes, 1 MB fields,
# invalid UTF-8, garbage.  No crash, no hang, nothing stored from a bad
# row, every good row stored.
. "$(dirname "$0")/lib.sh"

cz sample --debtors 40 --seed 3 --invalid-rate 0 --as-of 2026-11-28 >"$T/good.csv" ||
    fail "sample"
/usr/bin/python3 - "$T" <<'PY'
import csv, io, os, sys
T = sys.argv[1]
rows = list(csv.reader(open(f"{T}/good.csv", newline="", encoding="utf-8")))
hdr, body = rows[0], rows[1:]
def line(r):
    s = io.StringIO(); csv.writer(s, lineterminator="\r\n").writerow(r); return s.getvalue().encode()
out = bytearray(line(hdr))
bad_ids = []
for i, r in enumerate(body):
    out += line(r)
    bid = f"BAD{i:03d}"
    b = list(r); b[0] = bid
    kind = i % 6
    if kind == 0:   # NUL byte inside a field
        enc = line(b).replace(b",", b",\x00", 1)
    elif kind == 1: # invalid UTF-8 in the name
        enc = line(b).replace(b",", b",\xff\xfe", 1)
    elif kind == 2: # a 1 MB field
        b[1] = "x" * (1 << 20) + "y"; enc = line(b)
    elif kind == 3: # too few fields
        enc = line(b[:5])
    elif kind == 4: # stray quote in an unquoted field
        b[1] = 'Ann "the' ; enc = line(b).replace(b'"Ann ""the"', b'Ann "the')
    else:           # too many fields
        enc = line(b + ["extra"])
    out += enc
    bad_ids.append(bid)
# a truncated quoted field at the very end swallows the rest
out += b'BADEND,"unterminated name\r\nmore text without a closing quote\r\n'
open(f"{T}/bad.csv", "wb").write(bytes(out))
open(f"{T}/badids", "w").write("\n".join(bad_ids + ["BADEND"]))
open(f"{T}/garbage.csv", "wb").write(os.urandom(200000))
PY

expect_exit 1 "import of hostile CSV reports rejects" -- \
    czt import debtors --quiet --max-errors 1000 "$T/bad.csv"
[ "$(sql 'SELECT count(*) FROM debtors')" -eq 40 ] && pass "every good row stored" ||
    fail "good rows: $(sql 'SELECT count(*) FROM debtors')"
[ "$(sql "SELECT count(*) FROM debtors WHERE external_id LIKE 'BAD%'")" -eq 0 ] &&
    pass "nothing stored from a bad row" || fail "a bad row was stored"
nrej=$(grep -c ': error: ' "$T/err")
[ "$nrej" -eq 41 ] && pass "41 bad rows reported" || fail "$nrej bad rows reported, expected 41"
expect_grep "bad.csv:[0-9]*: error: " "$T/err" "reports name the file and line"
[ -s "$T/bad.csv.rejects" ] && pass "rejects file written" || fail "no rejects file"
[ "$(sql 'PRAGMA integrity_check')" = ok ] && pass "integrity" || fail "integrity"

# random bytes: rejected as a whole (bad header) or row by row, never a crash
czt import debtors --quiet "$T/garbage.csv" >/dev/null 2>"$T/gerr"
st=$?
[ "$st" -le 2 ] && pass "random bytes do not crash (exit $st)" || fail "random bytes: exit $st"
[ "$(sql 'SELECT count(*) FROM debtors')" -eq 40 ] && pass "store untouched by garbage" ||
    fail "garbage changed the store"
finish
