#!/bin/sh
# A killed import leaves the store consistent: whole batches only, and a
# re-run completes the job without duplicates.
. "$(dirname "$0")/lib.sh"

rows=300000
[ -n "${CADENZA_WRAP:-}" ] && rows=20000
batch=1000
cz sample --debtors "$rows" --seed 7 --invalid-rate 0 --as-of 2026-11-28 >"$T/big.csv" ||
    fail "sample"

# started directly (not through the cz function) so that $! is cadenza itself
${CADENZA_WRAP:-} "$CADENZA" import debtors --batch "$batch" --quiet "$T/big.csv" \
    >/dev/null 2>"$T/import.err" &
pid=$!
# wait until some batches are in, then kill it hard
i=0
n=0
while [ $i -lt 400 ]; do
    n=$(sql "SELECT count(*) FROM debtors" 2>/dev/null || echo 0)
    [ "${n:-0}" -gt 0 ] && break
    sleep 0.05
    i=$((i + 1))
done
kill -9 "$pid" 2>/dev/null
wait "$pid"
status=$?
n=$(sql "SELECT count(*) FROM debtors")
echo "killed with status $status after $n rows"
if [ "$status" -ne 137 ]; then
    echo "note: the import finished before it could be killed" >&2
fi
[ "$(sql 'PRAGMA integrity_check')" = ok ] && pass "integrity after kill" || fail "integrity"
[ $((n % batch)) -eq 0 ] && pass "whole batches only ($n rows)" || fail "partial batch: $n rows"
[ "$(sql 'PRAGMA foreign_key_check' | wc -l)" -eq 0 ] && pass "foreign keys" || fail "fk"

# the re-run finishes the job
expect_exit 0 "re-run after the crash" -- cz import debtors --quiet "$T/big.csv"
[ "$(sql 'SELECT count(*) FROM debtors')" -eq "$rows" ] && pass "all rows in" ||
    fail "expected $rows rows, got $(sql 'SELECT count(*) FROM debtors')"
expect_grep "$((rows - n)) inserted, 0 updated, $n unchanged, 0 rejected" "$T/out" \
    "re-run inserts only what was missing"
[ "$(sql "SELECT count(*) FROM imports WHERE status = 'running'")" -le 1 ] &&
    pass "the killed import stays recorded as unfinished" || fail "imports table"
finish
