#!/bin/sh
# cadenza run: plan the day, persist attempts, enqueue jobs; idempotent
# re-runs; a run cut between planning and enqueueing is completed by the
# next one; workers send every job in its window exactly once; results
# drain back into the store; news after planning stops queued jobs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/queue-redis.sh"
# libfaketime preloaded directly, not through the faketime wrapper: a
# killed or valgrind-run process leaves its /dev/shm semaphore behind, and
# the wrapper of a later process with the same pid then fails ("sem_open:
# File exists"), where the library itself carries on
FTLIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
[ -n "$FTLIB" ] || { echo "libfaketime not installed, skipping"; exit 77; }

start_redis
cat >"$T/cadenza.yaml" <<EOC
redis:
  url: redis://127.0.0.1:$RPORT
paths:
  strategies: $SRCDIR/strategies
  templates: $SRCDIR/config/templates
  profiles: $SRCDIR/config/profiles
  holidays: $SRCDIR/config/holidays
channels:
  email:  { plugin: log, kind: email,  settings: { path: $T/sends.log } }
  sms:    { plugin: log, kind: sms,    settings: { path: $T/sends.log } }
  bot:    { plugin: log, kind: chat,   settings: { path: $T/sends.log } }
  dialer: { plugin: log, kind: call,   hourly_capacity: 50, settings: { path: $T/sends.log } }
  letter: { plugin: log, kind: letter, settings: { path: $T/sends.log } }
EOC
export CADENZA_CONFIG="$T/cadenza.yaml"
D=2026-12-07   # a Monday
n=3000
[ -n "${CADENZA_WRAP:-}" ] && n=600  # valgrind: same paths, fewer rows
cz sample --debtors $n --seed 11 --as-of $D >"$T/d.csv"
cz import debtors --quiet "$T/d.csv" >/dev/null 2>&1

expect_exit 0 "run" -- cz run --date $D --now ${D}T00:00:00Z
planned=$(sql "SELECT count(*) FROM attempts")
[ "$planned" -gt $((n / 30)) ] && pass "$planned attempts planned" || fail "only $planned attempts"
expect_grep "$planned new attempts planned" "$T/out" "summary counts the attempts"
expect_grep "jobs enqueued: $planned ($planned new in Redis" "$T/out" "every attempt enqueued"
[ "$(rcli HLEN cz:jobs)" -eq "$planned" ] && pass "one job per attempt in Redis" ||
    fail "jobs in Redis: $(rcli HLEN cz:jobs)"
[ "$(sql 'SELECT count(*) FROM attempts WHERE status = 1')" -eq "$planned" ] &&
    pass "attempts marked queued" || fail "attempt statuses"
[ "$(sql "SELECT count(*) FROM attempts WHERE not_after <= scheduled_at")" -eq 0 ] &&
    pass "every attempt has a legal send window" || fail "attempt windows"

expect_exit 0 "re-run of the same date" -- cz run --date $D --now ${D}T00:00:00Z
expect_grep "(re-run): .* 0 new attempts planned" "$T/out" "re-run plans nothing new"
expect_grep "jobs enqueued: 0 " "$T/out" "re-run enqueues nothing"
[ "$(sql 'SELECT count(*) FROM attempts')" -eq "$planned" ] && pass "no duplicate attempts" ||
    fail "attempts after re-run"

# a run cut after planning (attempts stored, nothing queued) is finished by the next
D2=2026-12-08
expect_exit 0 "planning without enqueueing" -- cz run --date $D2 --now ${D2}T00:00:00Z --no-enqueue
p2=$(sql "SELECT count(*) FROM attempts a JOIN runs r ON r.id = a.run_id WHERE r.run_date = (SELECT max(run_date) FROM runs) AND a.status = 0")
expect_exit 0 "the next run enqueues them" -- cz run --date $D2 --now ${D2}T00:00:00Z
expect_grep "jobs enqueued: $p2 ($p2 new in Redis" "$T/out" "left-over attempts enqueued ($p2)"

# news after planning: a payment stops the debtor's queued job
victim=$(sql "SELECT d.external_id FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE a.status = 1 ORDER BY a.id LIMIT 1")
printf 'debtor_id,channel,attempted_at,outcome,amount\n%s,email,%s,paid,10.00\n' "$victim" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$T/paid.csv"
expect_exit 0 "import a payment" -- cz import outcomes "$T/paid.csv"
expect_grep "stop markers set for 1 debtors" "$T/out" "payment sets a stop marker"

# send everything: one worker pass at each slot start (the clock faked there)
for t in $(sql "SELECT DISTINCT scheduled_at FROM attempts WHERE status = 1 ORDER BY 1"); do
    at=$(date -u -d "@$((t + 30))" '+%Y-%m-%d %H:%M:%S')
    # libfaketime is preloaded: ASan must not insist on coming first
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" TZ=UTC \
        LD_PRELOAD="$FTLIB" FAKETIME="@$at" FAKETIME_DONT_FAKE_MONOTONIC=1 \
        ${CADENZA_WRAP:-} "$CADENZA" worker --once >/dev/null 2>"$T/worker.err" ||
        { fail "worker at $at"; tail -n 20 "$T/worker.err" >&2; }
done
expect_exit 0 "drain results" -- cz queue drain
total=$(sql "SELECT count(*) FROM attempts")
sent=$(sql "SELECT count(*) FROM attempts WHERE status = 2")
cancelled=$(sql "SELECT count(*) FROM attempts WHERE status = 4")
[ "$((sent + cancelled))" -eq "$total" ] && pass "every attempt settled ($sent sent, $cancelled cancelled)" ||
    fail "settled: $sent sent + $cancelled cancelled of $total; $(sql 'SELECT status, count(*) FROM attempts GROUP BY 1' | tr '\n' ' ')"
[ "$cancelled" -ge 1 ] && [ "$(sql "SELECT a.status FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = '$victim'" | sort -u)" = 4 ] &&
    pass "the paid debtor's job was cancelled" || fail "the paid debtor's job was not cancelled"
lines=$(wc -l <"$T/sends.log")
[ "$lines" -eq "$sent" ] && pass "one log line per sent attempt" || fail "$lines lines, $sent sent"
dups=$(grep -o '"idempotency_key":"[^"]*"' "$T/sends.log" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] && pass "no attempt sent twice" || fail "$dups attempts sent twice"
expect_exit 0 "drain again" -- cz queue drain
expect_grep "drained 0 results" "$T/out" "nothing left to drain"
expect_exit 0 "status" -- cz status --date $D2
expect_grep "^  sent " "$T/out" "status shows what was sent"

# Redis unreachable: a clear error, exit 3, nothing half-done
stop_redis
expect_exit 3 "run without Redis" -- cz run --date 2026-12-09 --now 2026-12-09T00:00:00Z
expect_grep "cannot reach redis 'redis://127.0.0.1:$RPORT'" "$T/err" "names the Redis URL"
finish
