#!/bin/sh
# cadenza import debtors: good rows in, bad rows rejected with line and
# reason, idempotent re-import, updates keep history, stdin and JSONL.
. "$(dirname "$0")/lib.sh"

cp "$SRCDIR/tests/data/import/debtors.csv" "$T/debtors.csv"
expect_exit 1 "import with bad rows exits 1" -- cz import debtors --quiet "$T/debtors.csv"
expect_grep "12 rows read: 4 inserted, 0 updated, 0 unchanged, 8 rejected" "$T/out" "summary"
expect_grep "debtors.csv:5: error: phone: '+1123'" "$T/err" "bad phone on line 5"
expect_grep "debtors.csv:6: error: email: 'not-an-email'" "$T/err" "bad email on line 6"
expect_grep "debtors.csv:7: error: time_zone: .*'Europe/Lndon'" "$T/err" "unknown zone on line 7"
expect_grep "debtors.csv:8: error: id: " "$T/err" "missing id on line 8"
expect_grep "debtors.csv:9: error: balance: '12.345'" "$T/err" "bad amount on line 9"
expect_grep "debtors.csv:10: error: due_date: '2026-02-30'" "$T/err" "bad date on line 10"
expect_grep "debtors.csv:11: error: id: 'D002' appears more than once" "$T/err" "duplicate id"
[ "$(sql 'SELECT count(*) FROM debtors')" -eq 4 ] && pass "4 debtors stored" || fail "count"
[ "$(sql "SELECT name FROM debtors WHERE external_id = 'D002'")" = "García, Ana" ] &&
    pass "quoted comma" || fail "quoted comma"
[ "$(sql "SELECT name FROM debtors WHERE external_id = 'D003'")" = 'Olivia "Liv" Jones' ] &&
    pass "escaped quotes" || fail "escaped quotes"
expect_grep "debtors.csv:12: error: name: 'Multi??Line' contains a control character" "$T/err" \
    "a quoted field spanning lines is read whole and judged"
[ "$(sql "SELECT name FROM debtors WHERE external_id = 'D011'")" = "Sam Lee" ] &&
    pass "the row after a multi-line record" || fail "row after multi-line record"
[ "$(sql "SELECT phone || ' ' || phone_type FROM debtors WHERE external_id = 'D002'")" = \
    "+34612345678 1" ] && pass "E.164 and mobile type" || fail "phone type"
[ "$(sql "SELECT balance_minor || currency || due_date || payday FROM debtors WHERE external_id = 'D002'")" = \
    "31050EUR20792-1" ] && pass "money, date, payday" || fail "money/date/payday"
[ "$(sql "SELECT flags FROM debtors WHERE external_id = 'D002'")" = 1 ] && pass "flags" ||
    fail "flags"

# rejects file: the header plus _error, then each bad row verbatim
r="$T/debtors.csv.rejects"
[ -f "$r" ] && pass "rejects file" || fail "no rejects file"
head -n 1 "$r" | grep -q '^id,name,.*,prefers_human,_error' && pass "rejects header" ||
    fail "rejects header"
[ "$(grep -c '^D00[4-9],\|^,No Id\|^D002\|^D010' "$r")" -eq 8 ] && pass "8 rows in rejects" ||
    fail "rejects rows"

# re-import: nothing changes
before=$(sql "SELECT group_concat(id || updated_at || row_hash) FROM debtors")
expect_exit 1 "re-import" -- cz import debtors --quiet "$T/debtors.csv"
expect_grep "0 inserted, 0 updated, 4 unchanged, 8 rejected" "$T/out" "re-import changes nothing"
[ "$(sql "SELECT group_concat(id || updated_at || row_hash) FROM debtors")" = "$before" ] &&
    pass "rows untouched" || fail "re-import touched rows"

# an update keeps the debtor's internal id and history
id=$(sql "SELECT id FROM debtors WHERE external_id = 'D001'")
sql "INSERT INTO attempts(debtor_id, idempotency_key, strategy, variant, tier, channel,
     channel_kind, scheduled_at, created_at) VALUES($id, 'k1', 's', 'v', 't', 'email', 0, 1, 1)"
sed 's/1250.00,USD/1300.00,USD/' "$T/debtors.csv" >"$T/changed.csv"
expect_exit 1 "import a changed row" -- cz import debtors --quiet "$T/changed.csv"
expect_grep "0 inserted, 1 updated, 3 unchanged" "$T/out" "one row updated"
[ "$(sql "SELECT id || ' ' || balance_minor FROM debtors WHERE external_id = 'D001'")" = \
    "$id 130000" ] && pass "same internal id, new balance" || fail "update"
[ "$(sql "SELECT count(*) FROM attempts WHERE debtor_id = $id")" -eq 1 ] &&
    pass "history kept" || fail "history lost"

# JSON Lines from stdin
expect_exit 1 "jsonl from stdin" -- sh -c \
    "cat '$SRCDIR/tests/data/import/debtors.jsonl' | ${CADENZA_WRAP:-} '$CADENZA' import debtors --quiet -"
expect_grep "5 rows read: 2 inserted, 0 updated, 0 unchanged, 3 rejected" "$T/out" "jsonl summary"
expect_grep "<stdin>:3: error: country: 'XX'" "$T/err" "jsonl bad country"
expect_grep "<stdin>:4: error: " "$T/err" "jsonl parse error"
expect_grep "<stdin>:5: error: .*'nmae'" "$T/err" "jsonl unknown key"
[ "$(sql "SELECT balance_minor FROM debtors WHERE external_id = 'J002'")" = 9950 ] &&
    pass "jsonl number balance" || fail "jsonl balance"

# a bad header fails the whole input and stores nothing
printf 'id,nmae,country\nX1,A,US\n' >"$T/badhdr.csv"
expect_exit 1 "bad header" -- cz import debtors --quiet "$T/badhdr.csv"
expect_grep "nmae" "$T/err" "bad header names the column"
[ "$(sql "SELECT count(*) FROM debtors WHERE external_id = 'X1'")" -eq 0 ] &&
    pass "nothing stored from a bad header" || fail "bad header stored rows"
finish
