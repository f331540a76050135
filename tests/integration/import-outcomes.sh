#!/bin/sh
# cadenza import outcomes in sorted windows and batches: the statistics do
# not depend on the order of the file or on the batch size, a re-import
# adds nothing, and every committed batch is whole.
. "$(dirname "$0")/lib.sh"

cp "$SRCDIR/tests/data/import/debtors.csv" "$T/debtors.csv"
cz import debtors --quiet "$T/debtors.csv" >/dev/null 2>&1

# an attempt's rows out of time order (the reply first), three debtors
# interleaved, a duplicate row, a row without a channel, a bad row
cat >"$T/o.csv" <<'CSV'
debtor_id,channel,attempted_at,outcome,amount,promise_date,attempt_id
D002,sms,2026-11-20T10:10:00Z,replied,,,S1
D001,email,2026-11-21T14:00:00Z,opened,,,
D002,sms,2026-11-20T09:58:00Z,delivered,,,S1
D003,call,2026-11-22T16:00:00Z,no_answer,,,C1
D001,call,2026-11-22T16:30:00Z,right_party,,,C2
D003,call,2026-11-22T16:05:00Z,right_party,,,C1
D001,email,2026-11-21T14:00:00Z,opened,,,
D002,,2026-11-23T08:00:00Z,paid,12.50,,
D001,sms,2026-11-24T09:00:00Z,clicked,,,S2
D002,sms,2026-11-24T09:00:00Z,delivered,,,
D003,fax,2026-11-24T09:00:00Z,delivered,,,
D003,email,2026-11-24T11:00:00Z,failed,,,
CSV
{ head -n 1 "$T/o.csv"; tail -n +2 "$T/o.csv" | sort -r; } >"$T/rev.csv"

stats() { sql "SELECT group_concat(x, ' ') FROM (SELECT debtor_id || ':' || channel_kind || ':' ||
    hour_of_week || ':' || attempts || ':' || reaches AS x FROM debtor_slot_stats
    UNION ALL SELECT segment || ':' || channel_kind || ':' || hour_of_week || ':' || attempts ||
    ':' || reaches FROM segment_slot_stats ORDER BY 1)"; }

expect_exit 1 "import in batches of 2" -- cz import outcomes --batch 2 "$T/o.csv"
expect_grep "12 rows read: 10 added, 1 already stored, 1 rejected" "$T/out" "summary"
expect_grep "o.csv:12: error: channel: unknown channel 'fax'" "$T/err" "bad row reported"
small=$(stats)
# D002's S1: one attempt at 09:58Z (delivered) and its reach at 10:10Z (the
# reply), though the reply comes first in the file; Madrid is UTC+1, so
# hours 4*24+10 and 4*24+11 on Friday 2026-11-20
[ "$(sql "SELECT group_concat(hour_of_week || '/' || attempts || '/' || reaches, ' ')
    FROM (SELECT * FROM debtor_slot_stats WHERE channel_kind = 1 AND debtor_id =
    (SELECT id FROM debtors WHERE external_id = 'D002')
    AND hour_of_week IN (106, 107) ORDER BY hour_of_week)")" = "106/1/0 107/0/1" ] &&
    pass "an attempt counts at its first row in time" || fail "attempt order: $small"
[ "$(sql 'SELECT count(*) FROM outcomes')" -eq 10 ] && pass "10 outcomes" || fail "outcomes"

expect_exit 1 "re-import" -- cz import outcomes "$T/o.csv"
expect_grep "12 rows read: 0 added, 11 already stored, 1 rejected" "$T/out" \
    "re-import adds nothing"
[ "$(stats)" = "$small" ] && pass "re-import keeps the statistics" ||
    fail "re-import changed stats"

# the same rows in reverse order, in one batch, into a new store
export CADENZA_STORE="$T/b.db"
cz import debtors --quiet "$T/debtors.csv" >/dev/null 2>&1
expect_exit 1 "import reversed" -- cz import outcomes --batch 1000 "$T/rev.csv"
[ "$(stats)" = "$small" ] && pass "file order and batch size change nothing" ||
    fail "stats differ: '$(stats)' vs '$small'"
# new rows are keyed by (day, debtor, hash): a BLOB of 16 bytes
[ "$(sql "SELECT count(*) FROM outcomes WHERE typeof(dedupe_key) = 'blob'
    AND length(dedupe_key) = 16")" -eq 10 ] && pass "clustered dedupe keys" || fail "keys"
[ "$(sql 'PRAGMA user_version')" -ge 7 ] && pass "schema 7 or later" || fail "schema version"

finish
