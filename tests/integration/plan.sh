#!/bin/sh
# cadenza import outcomes, plan and explain: outcome rows in with exact
# per-row errors and idempotent re-import, slot statistics updated
# incrementally, plan output fields, plan is read-only, --debtor, explain.
. "$(dirname "$0")/lib.sh"

DATE=2026-12-01
NOW=2026-11-30T10:00:00Z
cp "$SRCDIR/tests/data/import/debtors.csv" "$T/debtors.csv"
cz import debtors --quiet "$T/debtors.csv" >/dev/null 2>&1

# ---- import outcomes: errors with line, field and reason ----
cat >"$T/outcomes.csv" <<'CSV'
debtor_id,channel,attempted_at,outcome,amount,promise_date,attempt_id
D001,sms,2026-11-20T23:05:00Z,delivered,,,A1
D001,sms,2026-11-20T23:10:00Z,replied,,,A1
D001,email,2026-11-21T14:00:00-05:00,opened,,,
D002,dialer,2026-11-22T10:00:00+01:00,no_answer,,,
D999,sms,2026-11-20T23:05:00Z,delivered,,,
D001,fax,2026-11-20T23:05:00Z,delivred,,,
D001,sms,yesterday,paid,12.345,2026-02-30,
D011,email,2026-11-24T16:30:00Z,clicked,,,
CSV
expect_exit 1 "import outcomes with bad rows exits 1" -- cz import outcomes "$T/outcomes.csv"
expect_grep "8 rows read: 5 added, 0 already stored, 3 rejected" "$T/out" "outcomes summary"
expect_grep "outcomes.csv:6: error: debtor_id: unknown debtor 'D999'" "$T/err" "unknown debtor"
expect_grep "outcomes.csv:7: error: channel: unknown channel 'fax' .*; outcome: unknown outcome 'delivred' (did you mean 'delivered'?)" \
    "$T/err" "unknown channel and outcome on one line"
expect_grep "outcomes.csv:8: error: attempted_at: 'yesterday' is not an RFC 3339 time" "$T/err" \
    "bad time"
expect_grep "amount: '12.345' is not an amount" "$T/err" "bad amount"
expect_grep "promise_date: '2026-02-30' is not a date" "$T/err" "bad promise date"
r="$T/outcomes.csv.rejects"
head -n 1 "$r" | grep -q '^debtor_id,channel,.*,attempt_id,_error$' && pass "rejects header" ||
    fail "rejects header"
[ "$(grep -c '^D999,\|^D001,fax\|^D001,sms,yesterday' "$r")" -eq 3 ] && pass "3 rejected rows" ||
    fail "rejected rows"
[ "$(sql 'SELECT count(*) FROM outcomes')" -eq 5 ] && pass "5 outcomes stored" || fail "outcomes"

# slot statistics: attempt A1 counts once (delivered then replied), reached
[ "$(sql "SELECT attempts || '/' || reaches FROM debtor_slot_stats WHERE channel_kind = 1")" = \
    "1/1" ] && pass "one attempt per attempt_id" || fail "attempt grouping"
# 2026-11-20 is a Friday: 23:05Z is 18:05 in New York -> hour of week 4*24+18
[ "$(sql "SELECT hour_of_week FROM debtor_slot_stats WHERE channel_kind = 1")" -eq 114 ] &&
    pass "local hour of week" || fail "hour of week"
[ "$(sql "SELECT sum(attempts) || '/' || sum(reaches) FROM segment_slot_stats")" = "4/3" ] &&
    pass "segment stats" || fail "segment stats"

# idempotent re-import
before=$(sql "SELECT group_concat(attempts || reaches) FROM debtor_slot_stats")
expect_exit 1 "re-import outcomes" -- cz import outcomes "$T/outcomes.csv"
expect_grep "8 rows read: 0 added, 5 already stored, 3 rejected" "$T/out" "re-import adds nothing"
[ "$(sql "SELECT group_concat(attempts || reaches) FROM debtor_slot_stats")" = "$before" ] &&
    [ "$(sql 'SELECT count(*) FROM outcomes')" -eq 5 ] && pass "stats unchanged" ||
    fail "re-import changed stats"

# incremental: two imports give the same counts as one combined import
grep -v 'D999\|fax\|yesterday' "$T/outcomes.csv" >"$T/good.csv"
head -n 3 "$T/good.csv" >"$T/part1.csv"
{ head -n 1 "$T/good.csv"; tail -n +4 "$T/good.csv"; } >"$T/part2.csv"
stats() { sql "SELECT group_concat(x, ' ') FROM (SELECT debtor_id || ':' || channel_kind || ':' ||
    hour_of_week || ':' || attempts || ':' || reaches AS x FROM debtor_slot_stats
    UNION ALL SELECT segment || ':' || channel_kind || ':' || hour_of_week || ':' || attempts ||
    ':' || reaches FROM segment_slot_stats ORDER BY 1)"; }
combined=$(stats)
mv "$CADENZA_STORE" "$T/first.db"
rm -f "$T/first.db-wal" "$T/first.db-shm"
cz import debtors --quiet "$T/debtors.csv" >/dev/null 2>&1
expect_exit 0 "import part 1" -- cz import outcomes "$T/part1.csv"
expect_exit 0 "import part 2" -- cz import outcomes "$T/part2.csv"
[ "$(stats)" = "$combined" ] && pass "two imports = one combined" ||
    fail "incremental stats differ: '$(stats)' vs '$combined'"

# JSON Lines from stdin, with a bad key
printf '%s\n' '{"debtor_id": "D011", "channel": "email", "attempted_at": "2026-11-25T17:00:00Z", "outcome": "promise_to_pay", "promise_date": "2026-12-10"}' \
    '{"debtor_id": "D003", "chanel": "call", "attempted_at": "2026-11-23T18:00:00Z", "outcome": "paid"}' \
    >"$T/o.jsonl"
expect_exit 1 "jsonl outcomes from stdin" -- sh -c "cz() { \${CADENZA_WRAP:-} \"\$CADENZA\" \"\$@\"; }; cz import outcomes - < '$T/o.jsonl'"
expect_grep "<stdin>:2: error: unknown key 'chanel' (did you mean 'channel'?)" "$T/err" \
    "jsonl unknown key"
expect_grep "2 rows read: 1 added" "$T/out" "jsonl row added"

# a bad header stops everything
printf 'debtor,channel,attempted_at\nD001,sms,2026-11-20T23:05:00Z\n' >"$T/bad.csv"
expect_exit 1 "bad header" -- cz import outcomes "$T/bad.csv"
expect_grep "header: unknown column 'debtor'.*required column 'debtor_id' is missing" "$T/err" \
    "header errors"

# ---- plan ----
dump() { sqlite3 "$CADENZA_STORE" .dump | md5sum; }
sum0=$(dump)
expect_exit 0 "plan jsonl" -- cz plan --date $DATE --now $NOW --format jsonl
[ "$(wc -l <"$T/out")" -eq 2 ] && pass "two debtors planned (D003 refused calls, D011 paused)" || fail "plan rows: $(cat "$T/out")"
for f in debtor_id strategy variant tier channel template scheduled_at local_time time_zone \
         p_reach expected_value reason; do
    grep -q "\"$f\":" "$T/out" || fail "jsonl field $f missing"
done
pass "jsonl fields present"
expect_grep '"debtor_id":"D002","strategy":"hardship","variant":"default","tier":"support","channel":"email"' \
    "$T/out" "D002 planned by email in hardship/support"
expect_grep '"scheduled_at":"2026-12-01T13:00:00Z".*"local_time":"2026-12-01T14:00:00+01:00","time_zone":"Europe/Madrid"' \
    "$T/out" "UTC and local times (D002's do-not-contact ends at 14:00)"
jq_ok=1
if command -v python3 >/dev/null; then
    python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/out" ||
        jq_ok=0
fi
[ $jq_ok -eq 1 ] && pass "jsonl parses" || fail "jsonl does not parse"

expect_exit 0 "plan csv --all" -- cz plan --date $DATE --now $NOW --format csv --all
expect_grep "^debtor_id,strategy,variant,tier,channel,channel_kind,template,scheduled_at,until,local_time,time_zone,dpd,p_reach,expected_value,score,reason$" \
    "$T/out" "csv header"
[ "$(wc -l <"$T/out")" -eq 5 ] && pass "csv: header + 4 debtors" || fail "csv rows"
expect_grep "^D011,early-us-uk,[a-z]*,soft-digital,,,,,,,America/Phoenix,11,,,,paused$" "$T/out" \
    "D011 paused by its promise to pay"
expect_grep "^D003,late,default,calls,,,,,,,Europe/London,122,,,,consent refused$" "$T/out" \
    "D003 refused calls"

expect_exit 0 "plan table" -- cz plan --date $DATE --now $NOW
expect_grep "contacts by tier and channel" "$T/out" "table: tier x channel"
expect_grep "contacts by local hour" "$T/out" "table: per hour"
expect_grep "^  paused  *1$" "$T/out" "table: reasons (paused)"
expect_grep "^  consent refused  *1$" "$T/out" "table: reasons (consent)"

expect_exit 0 "plan --debtor" -- cz plan --date $DATE --now $NOW --format jsonl --debtor D002
[ "$(wc -l <"$T/out")" -eq 1 ] && grep -q '"debtor_id":"D002"' "$T/out" && pass "one debtor" ||
    fail "--debtor filter"
expect_exit 1 "plan unknown debtor" -- cz plan --date $DATE --debtor NOPE
expect_grep "no debtor with id 'NOPE'" "$T/err" "unknown debtor message"
expect_exit 2 "plan without --date" -- cz plan
expect_exit 2 "plan bad date" -- cz plan --date 2026-02-30

# same seed, same plan; the plan is reproducible
cz plan --date $DATE --now $NOW --format jsonl --seed 7 >"$T/a" 2>/dev/null
cz plan --date $DATE --now $NOW --format jsonl --seed 7 >"$T/b" 2>/dev/null
cmp -s "$T/a" "$T/b" && pass "reproducible with a seed" || fail "plan not reproducible"

# ---- explain ----
expect_exit 0 "explain D001" -- cz explain D001 --date $DATE --now $NOW
expect_grep "^strategy: early-us-uk$" "$T/out" "explain: strategy"
expect_grep "why: 'early-us-uk' (priority 100)" "$T/out" "explain: why the strategy"
expect_grep "^variant: " "$T/out" "explain: variant"
expect_grep "^tier: soft-digital$" "$T/out" "explain: tier"
expect_grep "transition: (none) -> soft-digital: entered strategy 'early-us-uk'" "$T/out" \
    "explain: transition"
expect_grep "p=0\.[0-9]* value=.* score=.*kept" "$T/out" "explain: scored candidates"
expect_grep "rejected: ranked below the kept candidates" "$T/out" "explain: ranked out"
expect_grep "^decision: " "$T/out" "explain: decision"
# D002 asked not to be contacted Mon-Fri 09:00-14:00
expect_exit 0 "explain D002" -- cz explain D002 --date $DATE --now $NOW
expect_grep "rejected: debtor's do-not-contact time" "$T/out" "explain: do-not-contact rule"
expect_exit 0 "explain D003" -- cz explain D003 --date $DATE --now $NOW
expect_grep "dialer .* rejected: consent refused" "$T/out" "explain: consent rule per candidate"
expect_exit 0 "explain D011" -- cz explain D011 --date $DATE --now $NOW
expect_grep "paused until 2026-12-14T07:00:00Z" "$T/out" "explain: paused until promise + 3 grace days"
expect_grep "decision: no contact: paused" "$T/out" "explain: paused debtor"
expect_exit 1 "explain unknown debtor" -- cz explain NOPE --date $DATE

[ "$(dump)" = "$sum0" ] && pass "plan and explain left the store unchanged" ||
    fail "plan or explain changed the store"

# ---- amounts use the debtor's currency's decimals (JPY 0, KWD 3) ----
{ head -n 1 "$T/debtors.csv"
  tail=",,,,,,yes,,,,,,"
  echo "J001,Taro Yamada,ja-JP,Asia/Tokyo,JP,,taro@example.jp,,,120000,JPY,2026-11-10$tail"
  echo "K001,Ali Saleh,ar-KW,Asia/Kuwait,KW,,ali@example.kw,,,120.500,KWD,2026-11-10$tail"
} >"$T/cur.csv"
cz import debtors --quiet "$T/cur.csv" >/dev/null 2>&1
cat >"$T/amounts.csv" <<'CSV'
debtor_id,channel,attempted_at,outcome,amount
J001,email,2026-11-20T01:00:00Z,paid,1200
J001,email,2026-11-21T01:00:00Z,paid,1200.5
K001,email,2026-11-20T08:00:00Z,paid,1.234
K001,email,2026-11-21T08:00:00Z,paid,1.2345
D001,email,2026-11-22T15:00:00Z,paid,12.3
J001,email,2026-11-23T01:00:00Z,paid,300.00
CSV
expect_exit 1 "import amounts per currency" -- cz import outcomes "$T/amounts.csv"
expect_grep "amounts.csv:3: error: amount: .1200.5. is not .*at most 0 decimals for JPY)" \
    "$T/err" "JPY has no decimals"
expect_grep "amounts.csv:5: error: amount: .1.2345. is not .*at most 3 decimals for KWD)" \
    "$T/err" "KWD has 3 decimals"
[ "$(sql "SELECT group_concat(amount_minor, ' ') FROM (SELECT amount_minor FROM outcomes
    WHERE code = 9 AND amount_minor IS NOT NULL ORDER BY occurred_at)")" = \
    "1200 1234 1230 300" ] &&
    pass "amounts in minor units of each currency" ||
    fail "amounts: $(sql "SELECT group_concat(amount_minor, ' ') FROM outcomes WHERE code = 9")"

# ---- a day whose slots have all passed says so ----
expect_exit 0 "plan a day that is over" -- cz plan --date "$DATE" --now 2026-12-02T12:00:00Z
expect_grep "nothing planned: every slot of $DATE has already passed (now is 2026-12-02T12:00:00Z" \
    "$T/err" "a day that is over is named in one line"
expect_exit 0 "plan the same day before its slots" -- cz plan --date "$DATE" --now "$NOW"
grep -q "already passed" "$T/err" && fail "the note appeared for a day with slots left" ||
    pass "no note while slots are left"
finish
