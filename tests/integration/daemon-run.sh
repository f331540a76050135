#!/bin/sh
# The daemon's scheduler end to end, with a real redis-server and the real
# daemon on a faked clock (libfaketime; the event loop's monotonic clock
# stays real): the daily run fires at its configured time; a run on
# demand (POST /v1/runs, SIGUSR1) is never started twice; a bounced
# e-mail (POST /v1/outcomes) re-plans the debtor at once and an SMS is
# enqueued and sent the same day; a promise whose date passed becomes a
# broken promise through the timer and escalates; GET /v1/debtors/{id}
# with and without the bearer token and for an unknown debtor; SIGTERM in
# the middle of a run, then a restart that completes it without a
# duplicate job.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/queue-redis.sh"
# libfaketime preloaded directly (see run.sh); the multi-threaded build:
# the daemon plans and writes in threads of its own.  Its "monotonic fix"
# is turned off: with it, a wait on a condition variable of the monotonic
# clock (the results drain's) returns at once and the thread spins
FTLIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
[ -n "$FTLIB" ] || { echo "libfaketime not installed, skipping"; exit 77; }

start_redis
HPORT=$(free_port)
mkdir -p "$T/strategies"
cat >"$T/strategies/gb.yaml" <<'EOS'
strategies:
  - name: t-gb
    match: { countries: [GB] }
    windows: { mon-sat: "08:00-21:00" }
    params: { exploration: 0 }
    outcomes:
      promise_to_pay: { action: pause, grace_days: 0 }
    tiers:
      - name: digital
        windows: { mon: "10:00-11:00", tue-sat: "08:00-21:00" } # Monday: sent at once
        channels:
          - { channel: email, template: early-email, value: 20 }
          - { channel: sms, template: early-sms, value: 25 }
        cadence: { min_gap_hours: 24 }
        exit:
          - { broken_promise: true }
      - name: bot
        channels:
          - { channel: bot, template: early-bot, value: 30 }
EOS
cat >"$T/cadenza.yaml" <<EOC
store: $T/cadenza.db
redis:
  url: redis://127.0.0.1:$RPORT
  prefix: "cz:"
  timeout: 20
http:
  listen: 127.0.0.1:$HPORT
paths:
  strategies: $T/strategies
  templates: $SRCDIR/config/templates
  profiles: $SRCDIR/config/profiles
  holidays: $SRCDIR/config/holidays
links:
  base_url: http://127.0.0.1:$HPORT
  keys:
    l1: { secret_env: CZ_LINK_K1 }
api:
  keys:
    k1: { secret_env: CZ_API_K1 }
  bearer_token_env: CZ_BEARER
serve:
  daily_run: "10:00:00"
  time_zone: Europe/London
  promise_check: 1
channels:
  email: { plugin: log, kind: email, settings: { path: $T/sends.log } }
  sms:   { plugin: log, kind: sms,   settings: { path: $T/sends.log } }
  bot:   { plugin: log, kind: chat,  settings: { path: $T/sends.log } }
EOC
export CADENZA_CONFIG="$T/cadenza.yaml"
export CZ_API_K1=0123456789abcdef0123456789abcdef-k1
export CZ_LINK_K1=link-secret-0123456789abcdef0123456789
export CZ_BEARER=ops-token-7c1e5a90b2d44f1e
n=30
[ -n "${CADENZA_WRAP:-}" ] && n=12
/usr/bin/python3 - "$n" >"$T/debtors.csv" <<'EOP'
import sys
n = int(sys.argv[1])
print("id,name,locale,time_zone,country,region,email,phone,chat_handle,balance,currency,"
      "due_date,consent_email,consent_sms,consent_chat")
for i in range(n):
    # T000 has no phone: a bounce cannot become an SMS
    phone = "" if i == 0 else "+4479111%05d" % (23456 + i)
    print("T%03d,Dana Quinn %d,en-GB,Europe/London,GB,GB-ENG,dana.quinn%d@mail.example,%s,@dq%d,"
          "120.00,GBP,2026-12-01,yes,yes,yes" % (i, i, i, phone, i))
EOP
cz import debtors "$T/debtors.csv" >/dev/null || fail "import debtors"

url() { echo "http://127.0.0.1:$HPORT$1"; }
get() { curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@"; }
wait_for() { # wait_for SECONDS COMMAND...: until it succeeds
    n_=$(($1 * 20)); shift
    i_=0
    while ! "$@" >/dev/null 2>&1; do
        i_=$((i_ + 1)); [ $i_ -gt $n_ ] && return 1
        sleep 0.05
    done
}
metric() { curl -s "$(url /metrics)" | grep "^$1 " | awk '{print $2}'; }
count_lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
# days since the epoch of a date, as the store keeps run dates
days() { echo $(( $(date -u -d "$1" +%s) / 86400 )); }

# start_daemon "YYYY-MM-DD HH:MM:SS": the daemon with its clock starting there (UTC)
start_daemon() {
    FAKE0=$(date -u -d "$1" +%s)
    REAL0=$(date +%s)
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" TZ=UTC \
        LD_PRELOAD="$FTLIB" FAKETIME="@$1" FAKETIME_DONT_FAKE_MONOTONIC=1 \
        FAKETIME_FORCE_MONOTONIC_FIX=0 czbg serve 2>>"$T/serve.err" &
    SPID=$!
    wait_for 90 curl -sf "$(url /healthz)" || fail "serve did not start: $(tail -5 "$T/serve.err")"
}
stop_daemon() {
    kill -TERM "$SPID"
    wait "$SPID"
    rc=$?
    [ $rc -eq 0 ] || fail "serve exited $rc: $(tail -5 "$T/serve.err")"
}
# the daemon's clock now
fnow() { echo $((FAKE0 + $(date +%s) - REAL0)); }
fiso() { date -u -d "@$(fnow)" +%Y-%m-%dT%H:%M:%SZ; }
# post BODY-FILE: signed with the daemon's clock; status to stdout, body to $T/body
post() {
    sig=$(/usr/bin/python3 - "$1" "$(fnow)" <<'EOP'
import hashlib, hmac, os, sys
body = open(sys.argv[1], "rb").read()
t = sys.argv[2]
key = os.environ["CZ_API_K1"].encode()
print("t=%s,v1=%s" % (t, hmac.new(key, t.encode() + b"." + body, hashlib.sha256).hexdigest()))
EOP
)
    curl -s -o "$T/body" -w '%{http_code}' -H "Cadenza-Signature: $sig" \
        -H 'Content-Type: application/json' --data-binary "@$1" "$(url /v1/outcomes)"
}
auth="Authorization: Bearer $CZ_BEARER"
runs_done() { [ "$(metric 'cadenza_runs_total{result="done"}')" = "$1" ]; }
logged() { grep -q "$1" "$T/serve.err"; }

# ---------------------------------------------------------------------------
# 1. the daily run fires at serve.daily_run (10:00:00 London, = UTC in December)
# ---------------------------------------------------------------------------
D7=$(days 2026-12-07)
start=09:59:52
[ -n "${CADENZA_WRAP:-}" ] && start=09:59:25 # valgrind starts slowly
start_daemon "2026-12-07 $start"
wait_for 20 logged "no campaign run to resume or catch up with at start" \
    && pass "at start: no run to resume, today's run is not due yet" \
    || fail "startup job: $(tail -3 "$T/serve.err")"
[ "$(sql "SELECT count(*) FROM runs")" -eq 0 ] && pass "no run before 10:00" \
    || fail "a run before its time"
next=$(metric cadenza_run_next_timestamp_seconds)
[ "${next%.*}" = "$(date -u -d '2026-12-07 10:00:00' +%s)" ] \
    && pass "the next run is announced for 10:00:00 (metrics)" || fail "next run: '$next'"
wait_for 90 runs_done 1 && pass "the daily run ran at its time" \
    || fail "no daily run: $(tail -5 "$T/serve.err")"
expect_grep "campaign run of 2026-12-07 started (daily)" "$T/serve.err" "... started by the timer"
[ "$(sql "SELECT status FROM runs WHERE run_date = $D7")" = done ] \
    && pass "... recorded done in the store" || fail "runs: $(sql 'SELECT * FROM runs')"
planned=$(sql "SELECT count(*) FROM attempts a JOIN runs r ON r.id = a.run_id WHERE r.run_date = $D7")
[ "$planned" -eq "$n" ] && pass "one contact planned per debtor ($planned)" \
    || fail "$planned attempts for $n debtors"
[ "$(sql "SELECT count(*) FROM attempts WHERE status = 0")" -eq 0 ] \
    && pass "every attempt went to the queue" || fail "attempts left planned"
[ "$(sql "SELECT count(DISTINCT channel) FROM attempts")" -eq 1 ] && \
    [ "$(sql "SELECT channel FROM attempts LIMIT 1")" = email ] \
    && pass "the tier's first channel (e-mail) for everyone" || fail "channels"
get "$(url /metrics)" >/dev/null
grep -q "^cadenza_planned_total{strategy=\"t-gb\",tier=\"digital\",channel=\"email\"} $n\$" "$T/body" \
    && grep -q "^cadenza_enqueued_total{strategy=\"t-gb\",tier=\"digital\",channel=\"email\"} $n\$" "$T/body" \
    && pass "planned and enqueued counted per strategy, tier and channel" \
    || fail "counters: $(grep -E '^cadenza_(planned|enqueued)_total' "$T/body")"
grep -q '^cadenza_run_last_success_timestamp_seconds [1-9]' "$T/body" \
    && grep -q '^cadenza_run_in_progress 0$' "$T/body" \
    && pass "last run time and progress gauges" || fail "run gauges"
if command -v promtool >/dev/null; then
    promtool check metrics <"$T/body" >"$T/promtool" 2>&1 && pass "promtool check metrics passes" \
        || fail "promtool: $(cat "$T/promtool")"
fi
sent_all() { [ "$(count_lines "$T/sends.log")" -ge "$1" ]; }
wait_for 60 sent_all "$n" && pass "the worker sent the $n e-mails" \
    || fail "sent $(count_lines "$T/sends.log") of $n"

# ---------------------------------------------------------------------------
# 2. on demand: POST /v1/runs behind the bearer token, never two at once
# ---------------------------------------------------------------------------
[ "$(get -X POST "$(url /v1/runs)")" = 401 ] && grep -qi '^WWW-Authenticate: Bearer' "$T/headers" \
    && pass "POST /v1/runs without a token: 401" || fail "no token: $(cat "$T/body")"
[ "$(get -X POST -H 'Authorization: Bearer nope-nope-nope-nope' "$(url /v1/runs)")" = 401 ] \
    && pass "... with a wrong token: 401" || fail "wrong token: $(cat "$T/body")"
[ "$(get -X POST -H "$auth" --data '{"date":"12/08"}' "$(url /v1/runs)")" = 422 ] \
    && pass "... with a bad date: 422" || fail "bad date: $(cat "$T/body")"
# hold the store's write lock for a few seconds: the run waits at its start
/usr/bin/python3 - "$T/cadenza.db" "$T/locked" <<'EOP' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(4)
c.execute("COMMIT")
EOP
LPID=$!
wait_for 10 test -f "$T/locked"
[ "$(get -X POST -H "$auth" "$(url /v1/runs)")" = 202 ] && grep -q '"run":"started","date":"2026-12-07"' "$T/body" \
    && pass "POST /v1/runs: 202, today's run started" || fail "on demand: $(cat "$T/body")"
[ "$(get -X POST -H "$auth" "$(url /v1/runs)")" = 409 ] && grep -q '"date":"2026-12-07"' "$T/body" \
    && pass "a second request while it runs: 409 naming the run" || fail "double: $(cat "$T/body")"
kill -USR1 "$SPID"
wait_for 10 logged "SIGUSR1: the campaign run of 2026-12-07 is under way" \
    && pass "SIGUSR1 while it runs: not started again" || fail "SIGUSR1: $(tail -2 "$T/serve.err")"
wait "$LPID"
wait_for 60 runs_done 2 && pass "the run on demand finished" || fail "on demand run did not finish"
sleep 1
[ "$(metric 'cadenza_runs_total{result="done"}')" = 2 ] && \
    [ "$(grep -c 'started (on demand)' "$T/serve.err")" -eq 1 ] \
    && pass "... exactly one run for the three requests" || fail "runs: $(grep 'started (' "$T/serve.err")"
[ "$(sql "SELECT count(*) FROM attempts")" -eq "$planned" ] \
    && pass "... and the re-run of the day planned nothing twice" || fail "attempts after re-run"

# ---------------------------------------------------------------------------
# 3. a bounced e-mail re-plans the debtor: an SMS the same day
# ---------------------------------------------------------------------------
key=$(sql "SELECT a.idempotency_key FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = 'T003'")
key0=$(sql "SELECT a.idempotency_key FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = 'T000'")
cat >"$T/bounce.json" <<EOJ
[{"event_id": "b-1", "debtor_id": "T003", "channel": "email", "attempted_at": "$(fiso)",
  "outcome": "bounced", "idempotency_key": "$key"},
 {"event_id": "b-2", "debtor_id": "T000", "channel": "email", "attempted_at": "$(fiso)",
  "outcome": "bounced", "idempotency_key": "$key0"}]
EOJ
[ "$(post "$T/bounce.json")" = 200 ] && grep -q '"stored":2' "$T/body" \
    && pass "two bounces stored through the API" || fail "bounce: $(cat "$T/body")"
sms_planned() { [ "$(sql "SELECT count(*) FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = 'T003' AND a.channel = 'sms' AND a.status = 2")" -eq 1 ]; }
# the planner's slots start on a whole minute: up to a minute to wait
wait_for 120 sms_planned && pass "T003 re-planned: an SMS planned, enqueued and sent the same day" \
    || fail "no SMS for T003: $(sql "SELECT idempotency_key, channel, status FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = 'T003'")"
[ "$(sql "SELECT a.idempotency_key FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = 'T003' AND a.channel = 'sms'")" = "2026-12-07:T003:2" ] \
    && [ "$(sql "SELECT count(*) FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = 'T003' AND a.run_id IS NULL")" -eq 1 ] \
    && pass "... the day's second attempt, made by a re-plan (no run)" || fail "sms attempt key"
grep -q '"idempotency_key":"2026-12-07:T003:2"' "$T/sends.log" && pass "... the SMS is in the send log" \
    || fail "SMS not sent"
[ "$(sql "SELECT reason FROM suppressions s JOIN debtors d ON d.id = s.debtor_id WHERE d.external_id = 'T003'")" = "invalid address" ] \
    && pass "... the bounced address is suppressed as invalid" || fail "suppression"
replanned() { [ "$(metric 'cadenza_replanned_total{trigger="outcome"}')" -ge 2 ]; }
wait_for 20 replanned && pass "both debtors re-planned (metrics)" || fail "replanned counter"
[ "$(sql "SELECT count(*) FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = 'T000'")" -eq 1 ] \
    && pass "T000 has no phone: its bounce plans nothing more today" || fail "T000 got a new attempt"

# a promise by T005 for today: paused until tomorrow 00:00 (grace 0), re-planned at once
cat >"$T/promise.json" <<EOJ
{"event_id": "p-1", "debtor_id": "T005", "channel": "email", "attempted_at": "$(fiso)",
 "outcome": "promise_to_pay", "promise_date": "2026-12-07"}
EOJ
[ "$(post "$T/promise.json")" = 200 ] && pass "a promise to pay today stored" || fail "promise: $(cat "$T/body")"
paused() { [ "$(sql "SELECT paused_until FROM contact_state c JOIN debtors d ON d.id = c.debtor_id WHERE d.external_id = 'T005'")" = "$(date -u -d '2026-12-08 00:00:00' +%s)" ]; }
wait_for 30 paused && pass "... re-planned: paused until the end of the promised day" \
    || fail "pause: $(sql "SELECT paused_until FROM contact_state c JOIN debtors d ON d.id = c.debtor_id WHERE d.external_id = 'T005'")"

# ---------------------------------------------------------------------------
# 4. GET /v1/debtors/{id}: the timeline, behind the token, PII masked
# ---------------------------------------------------------------------------
[ "$(get "$(url /v1/debtors/T003)")" = 401 ] && pass "timeline without a token: 401" \
    || fail "timeline no token: $(cat "$T/body")"
[ "$(get -H 'Authorization: Bearer wrong-wrong-wrong-wrong' "$(url /v1/debtors/T003)")" = 401 ] \
    && pass "timeline with a wrong token: 401" || fail "timeline wrong token"
[ "$(get -H "$auth" "$(url /v1/debtors/NOBODY)")" = 404 ] && pass "an unknown debtor: 404" \
    || fail "unknown debtor: $(cat "$T/body")"
[ "$(get -H "$auth" "$(url '/v1/debtors/T003?limit=0')")" = 400 ] && pass "limit=0: 400" \
    || fail "limit 0: $(cat "$T/body")"
[ "$(get -H "$auth" "$(url /v1/debtors/T003)")" = 200 ] && pass "the timeline of T003: 200" \
    || fail "timeline: $(cat "$T/body")"
/usr/bin/python3 - "$T/body" <<'EOP' >"$T/tl.check" 2>&1 && pass "the timeline holds the story, masked" || fail "timeline: $(cat "$T/tl.check")"
import json, sys
t = json.load(open(sys.argv[1]))
d = t["debtor"]
assert d["id"] == "T003", d
assert d["email"] != "dana.quinn3@mail.example" and d["email"].endswith("@mail.example") and "*" in d["email"], d["email"]
assert "*" in d["phone"] and d["phone"] != "+447911123459", d["phone"]
assert d["name"] == "D*** Q*** 3***", d["name"]
a = t["attempts"]
assert [x["channel"] for x in a] == ["sms", "email"], a
assert a[0]["planned_by"] == "re-plan after news" and a[0]["status"] == "sent", a[0]
assert a[1]["planned_by"] == "daily run of 2026-12-07", a[1]
w = a[1]["allowed_by"]
assert w["strategy"] == "t-gb" and w["tier"] == "digital" and w["channel"] == "email", w
assert w["template"] == "early-email" and "Europe/London" in w["rule"], w
assert w["explain"] == "cadenza explain T003 --date 2026-12-07", w
o = [x["outcome"] for x in t["outcomes"]]
assert o == ["bounced"], o
tr = t["transitions"]
assert tr and tr[-1]["to"] == "digital" and tr[-1]["from"] is None, tr
s = t["suppressions"]
assert len(s) == 1 and s[0]["kind"] == "email" and s[0]["reason"] == "invalid address" and "*" in s[0]["address"], s
assert t["state"]["tier"] == "digital", t["state"]
EOP
stop_daemon

# ---------------------------------------------------------------------------
# 5. the broken-promise timer: at midnight T005's promise is broken
# ---------------------------------------------------------------------------
start_daemon "2026-12-07 23:59:55"
broken() { [ "$(sql "SELECT count(*) FROM state_transitions t JOIN debtors d ON d.id = t.debtor_id WHERE d.external_id = 'T005' AND t.reason = 'broken promise'")" -eq 1 ]; }
wait_for 90 broken && pass "at midnight the timer found the promise broken" \
    || fail "no broken promise: $(tail -5 "$T/serve.err")"
at=$(sql "SELECT t.at FROM state_transitions t JOIN debtors d ON d.id = t.debtor_id WHERE t.reason = 'broken promise'")
[ "$at" -ge "$(date -u -d '2026-12-08 00:00:00' +%s)" ] && pass "... after the promised day ended" \
    || fail "broken at $at"
bot_planned() { [ "$(sql "SELECT count(*) FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = 'T005' AND a.tier = 'bot' AND a.status = 1")" -eq 1 ]; }
wait_for 30 bot_planned && pass "... escalated to the bot tier: a chat planned for 2026-12-08 and queued" \
    || fail "no bot attempt: $(sql "SELECT idempotency_key, tier, status FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = 'T005'")"
[ "$(sql "SELECT a.idempotency_key FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = 'T005' AND a.tier = 'bot'")" = "2026-12-08:T005:1" ] \
    && pass "... keyed to the new day" || fail "bot attempt key"
[ "$(metric 'cadenza_replanned_total{trigger="promise"}')" -ge 1 ] \
    && pass "re-planned by the promise timer (metrics)" || fail "promise counter"
get -H "$auth" "$(url /v1/debtors/T005)" >/dev/null
grep -q '"from":"digital","to":"bot","reason":"broken promise"' "$T/body" \
    && pass "the timeline shows the tier transition" || fail "T005 timeline: $(cat "$T/body")"

# ---------------------------------------------------------------------------
# 6. SIGTERM in the middle of a run, then a restart completes it
# ---------------------------------------------------------------------------
D8=$(days 2026-12-08)
rcli CLIENT PAUSE 60000 WRITE >/dev/null # jobs cannot go in: the run waits in its enqueue
[ "$(get -X POST -H "$auth" "$(url /v1/runs)")" = 202 ] && grep -q '"date":"2026-12-08"' "$T/body" \
    && pass "today's run (2026-12-08) started" || fail "run 12-08: $(cat "$T/body")"
planned8() { [ "$(sql "SELECT count(*) FROM attempts a JOIN runs r ON r.id = a.run_id WHERE r.run_date = $D8")" -gt 0 ]; }
wait_for 60 planned8 && pass "... its attempts are planned and stored" || fail "nothing planned for 12-08"
sleep 1
kill -TERM "$SPID"
sleep 1
rcli CLIENT UNPAUSE >/dev/null
wait "$SPID"
rc=$?
[ $rc -eq 0 ] && pass "SIGTERM in the middle of the run: exit 0" || fail "exit $rc: $(tail -5 "$T/serve.err")"
[ "$(sql "SELECT status FROM runs WHERE run_date = $D8")" = stopped ] \
    && pass "... the run is recorded stopped" || fail "run status: $(sql "SELECT status FROM runs WHERE run_date = $D8")"
expect_grep "campaign run of 2026-12-08 stopped" "$T/serve.err" "... and logged so"
p8=$(sql "SELECT count(*) FROM attempts a JOIN runs r ON r.id = a.run_id WHERE r.run_date = $D8")
q8=$(sql "SELECT count(*) FROM attempts a JOIN runs r ON r.id = a.run_id WHERE r.run_date = $D8 AND a.status = 0")
[ "$q8" -gt 0 ] && pass "... $q8 of its $p8 attempts not marked queued yet" || fail "nothing left to do ($p8 planned)"
start_daemon "2026-12-08 00:05:00"
done8() { [ "$(sql "SELECT status FROM runs WHERE run_date = $D8")" = done ]; }
wait_for 90 done8 && pass "the restart resumes the stopped run and completes it" \
    || fail "not resumed: $(tail -5 "$T/serve.err")"
expect_grep "campaign run of 2026-12-08 started (resuming the stopped run)" "$T/serve.err" "... saying so"
[ "$(sql "SELECT count(*) FROM attempts a JOIN runs r ON r.id = a.run_id WHERE r.run_date = $D8")" -eq "$p8" ] \
    && pass "... planning nothing twice ($p8 attempts)" || fail "attempts changed on resume"
[ "$(sql "SELECT count(*) FROM attempts WHERE status = 0")" -eq 0 ] \
    && pass "... every attempt queued" || fail "attempts left planned"
[ "$(sql "SELECT count(*) FROM (SELECT debtor_id FROM attempts WHERE idempotency_key LIKE '2026-12-08:%' GROUP BY debtor_id HAVING count(*) > 1)")" -eq 0 ] \
    && pass "... one attempt per debtor on the day" || fail "a debtor twice on 12-08"
ids=$(sql "SELECT id FROM attempts WHERE idempotency_key LIKE '2026-12-08:%'")
jobs=0
for id in $ids; do
    jobs=$((jobs + $(rcli HEXISTS cz:jobs "$id")))
done
sched=$(( $(rcli ZCARD cz:sched:email) + $(rcli ZCARD cz:sched:sms) + $(rcli ZCARD cz:sched:bot) ))
[ "$jobs" -eq "$(echo "$ids" | wc -w)" ] && [ "$sched" -eq "$jobs" ] \
    && pass "one job per attempt in Redis, none twice ($jobs)" \
    || fail "jobs $jobs, scheduled $sched, attempts $(echo "$ids" | wc -w)"
stop_daemon
expect_grep "re-planned" "$T/serve.err" "re-plans are logged"
grep -q "dana.quinn" "$T/serve.err" && fail "an address in the log" || pass "no address in the log"

finish
