#!/bin/sh
# Fault test, end to end through the store: `cadenza run` plans about
# 10,000 attempts and enqueues them while redis-server (appendonly) is
# killed and restarted under it; then workers dispatch them to the log
# channel while random workers are killed with SIGKILL 20 times and Redis
# is killed and restarted once more; finally `cadenza queue drain` brings
# the results home.  Checks: every attempt of the run is `sent` in the
# store exactly once, every idempotency key is in the log file exactly
# once, and the store and the log agree.
. "$SRCDIR/tests/integration/lib.sh"
# Lease expiry, rate limits and kill timing are the subject here; under
# valgrind (the vg setup) every step is ~50x slower and those timings stop
# meaning anything.  The queue code still runs under valgrind in
# test-queue, test-queue-fence, queue-stall.sh and run.sh.
if [ -n "${CADENZA_WRAP:-}" ]; then echo "timing test: skipped under valgrind"; exit 77; fi
. "$SRCDIR/tests/integration/queue-redis.sh"
FTLIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
[ -n "$FTLIB" ] || { echo "libfaketime not installed, skipping"; exit 77; }

# appendfsync always: with everysec, Redis may acknowledge writes it has not
# written out while an fsync lags (a busy disk), and a SIGKILL forgets them
# (docs/queue.md, "Redis restarts"); the test is about cadenza, not that.
start_redis --appendonly yes --appendfsync always
D=2026-12-07   # a Monday
# One strategy, one slot: every GB debtor gets one e-mail in the 09:00-10:00
# (London) window, so the whole run is sendable at one faked time.
mkdir -p "$T/strategies"
cat >"$T/strategies/fault.yaml" <<'EOS'
strategies:
  - name: fault
    description: "fault test: one e-mail per GB debtor, 09:00-10:00"
    match:
      countries: [GB]
    windows:
      mon-sat: "09:00-10:00"
      sun: closed
    tiers:
      - name: only
        channels:
          - { channel: email, template: reminder-email, value: 10 }
EOS
cat >"$T/cadenza.yaml" <<EOC
redis:
  url: redis://127.0.0.1:$RPORT
paths:
  strategies: $T/strategies
  templates: $SRCDIR/config/templates
  profiles: $SRCDIR/config/profiles
  holidays: $SRCDIR/config/holidays
channels:
  email:
    plugin: log
    kind: email
    rate_limit: 2500          # about 4 s of sending: the kills land mid-stream
    settings: { path: $T/sends.log }
EOC
export CADENZA_CONFIG="$T/cadenza.yaml"

cz sample --debtors 70000 --seed 5 --as-of $D >"$T/d.csv"
cz import debtors --quiet "$T/d.csv" >/dev/null 2>&1
expect_exit 0 "plan the day" -- cz run --date $D --now ${D}T00:00:00Z --no-enqueue
total=$(sql "SELECT count(*) FROM attempts")
[ "$total" -ge 9000 ] && pass "$total attempts planned" || fail "only $total attempts planned"

# --- Redis killed and restarted while `run` enqueues ------------------------
cz run --date $D --now ${D}T00:00:00Z >"$T/run.out" 2>"$T/run.err" &
rpid=$!
i=0
while [ "$(rcli HLEN cz:jobs)" -eq 0 ] && [ $i -lt 3000 ]; do i=$((i + 1)); done
at=$(rcli HLEN cz:jobs)
kill -9 "$RPID"; wait "$RPID" 2>/dev/null
echo "redis killed with $at of $total jobs enqueued"
sleep 0.5
start_redis --appendonly yes --appendfsync always
wait $rpid; rc=$?
[ $rc -eq 0 ] && pass "run exits 0 across the Redis restart" ||
    { fail "run exit $rc"; head -20 "$T/run.err" >&2; }
if [ "$at" -lt "$total" ]; then
    expect_grep "lost connection to redis" "$T/run.err" "run logs the lost connection"
    expect_grep "reconnected to redis" "$T/run.err" "run logs the reconnect"
else
    echo "note: the enqueue finished before Redis was killed"
fi
[ "$(rcli HLEN cz:jobs)" -eq "$total" ] && pass "every job in Redis once ($total)" ||
    fail "jobs in Redis: $(rcli HLEN cz:jobs) of $total"
[ "$(sql 'SELECT count(*) FROM attempts WHERE status = 1')" -eq "$total" ] &&
    pass "every attempt marked queued" ||
    fail "attempt statuses: $(sql 'SELECT status, count(*) FROM attempts GROUP BY 1' | tr '\n' ' ')"

# --- 20 SIGKILLed workers and one more Redis restart during dispatch ---------
# Workers run with their clock at 09:00:30 London time on the run's date
# (libfaketime preloaded; the monotonic clock stays real).
W="worker --channels email --visibility-timeout 0.6 --batch 64"
fake() {
    LD_PRELOAD="$FTLIB" FAKETIME="@$D 09:00:30" FAKETIME_DONT_FAKE_MONOTONIC=1 TZ=UTC \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        exec "$CADENZA" "$@"
}
pids=""
for i in 1 2 3; do fake $W 2>>"$T/werr" & pids="$pids $!"; done
kills=0
while [ $kills -lt 20 ]; do
    sleep 0.12
    set -- $pids
    k=$(( $(od -An -N2 -tu2 /dev/urandom) % $# + 1 ))
    victim=$(eval echo \${$k})
    kill -9 "$victim" 2>/dev/null; wait "$victim" 2>/dev/null
    kills=$((kills + 1))
    pids=$(echo $pids | tr ' ' '\n' | grep -vx "$victim" | tr '\n' ' ')
    fake $W 2>>"$T/werr" & pids="$pids $!"
    if [ $kills -eq 10 ]; then
        sent=$(wc -l <"$T/sends.log")
        kill -9 "$RPID"; wait "$RPID" 2>/dev/null
        sleep 0.3
        start_redis --appendonly yes --appendfsync always
        echo "redis killed and restarted after $sent sends"
    fi
done
pass "killed 20 workers and restarted Redis"
# let a last worker finish what is left, then stop the others cleanly
(fake $W --until-idle 1.5) 2>>"$T/werr"
for p in $pids; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done

expect_exit 0 "drain the results" -- cz queue drain
expect_exit 0 "drain again" -- cz queue drain
expect_grep "drained 0 results" "$T/out" "every result reached the store"

# --- every attempt of the run sent exactly once ----------------------------
sent=$(sql "SELECT count(*) FROM attempts WHERE status = 2")
[ "$sent" -eq "$total" ] && pass "all $total attempts sent in the store" ||
    fail "sent in the store: $sent of $total; $(sql 'SELECT status, count(*) FROM attempts GROUP BY 1' | tr '\n' ' ')"
count_keys "$T/sends.log" | sort >"$T/keys"
n=$(wc -l <"$T/keys"); dup=$(awk '$2 != 1' "$T/keys" | wc -l)
[ "$n" -eq "$total" ] && pass "$total distinct keys in the log" || fail "$n distinct keys in the log"
[ "$dup" -eq 0 ] && pass "no attempt sent twice" ||
    { fail "$dup attempts sent more than once"; awk '$2 != 1' "$T/keys" | head >&2; }
sql "SELECT idempotency_key FROM attempts WHERE status = 2" | sort >"$T/store-keys"
awk '{ print $1 }' "$T/keys" | cmp -s - "$T/store-keys" && pass "the log and the store agree" ||
    fail "the log and the store disagree"
[ "$(sql "SELECT count(*) FROM attempts WHERE status = 2 AND provider_id = 'log-' || id")" -eq "$total" ] &&
    pass "every provider id recorded" || fail "provider ids"
[ "$(rcli HLEN cz:jobs)" -eq 0 ] && pass "no payload left" || fail "payloads left: $(rcli HLEN cz:jobs)"
finish
