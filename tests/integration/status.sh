#!/bin/sh
# cadenza status: text and JSON summaries of a real store.
. "$(dirname "$0")/lib.sh"

expect_exit 1 "import fixture" -- cz import debtors --quiet "$SRCDIR/tests/data/import/debtors.csv" \
    --rejects "$T/rej.csv"
expect_exit 0 "status" -- cz status --date 2026-11-28
expect_grep "Debtors:  4 as of 2026-11-28" "$T/out" "debtor count"
expect_grep "Last import: .*debtors.csv" "$T/out" "last import"
expect_grep "^  US  *2 " "$T/out" "by country"
expect_grep "^  pre-due  *1 " "$T/out" "pre-due bucket"
expect_grep "^  1-30  *2 " "$T/out" "1-30 bucket"
expect_grep "^  91-180  *1 " "$T/out" "91-180 bucket"
expect_grep "Last run:    none" "$T/out" "no run yet"
expect_exit 0 "status json" -- cz status --format json --date 2026-11-28
/usr/bin/python3 - "$T/out" <<'PY' && pass "json shape" || fail "json shape"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["debtors"] == 4, d
assert d["by_country"] == {"US": 2, "ES": 1, "GB": 1}, d["by_country"]
assert d["by_dpd"]["pre-due"] == 1 and d["by_dpd"]["1-30"] == 2, d["by_dpd"]
assert d["by_channel"]["email"] == 3, d["by_channel"]
assert d["last_import"]["inserted"] == 4 and d["last_import"]["rejected"] == 8
assert d["last_run"] is None
assert d["store_bytes"] > 0
assert d["without_profile"] == 0
PY
# a debtor in a country no jurisdiction profile covers is called out
echo '{"id": "MX1", "time_zone": "America/Mexico_City", "country": "MX", "email": "m@example.mx", "balance": "10.00", "currency": "MXN", "due_date": "2026-11-01"}' >"$T/mx.jsonl"
expect_exit 0 "import a Mexican debtor" -- cz import debtors --quiet "$T/mx.jsonl"
expect_exit 0 "status" -- cz status --date 2026-11-28
expect_grep "No jurisdiction profile (never contacted): MX 1$" "$T/out" "unprofiled countries shown"
finish
