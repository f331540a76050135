#!/bin/sh
# Fault test: 10,000 jobs to the log channel while random workers are
# killed with SIGKILL 20 times; every idempotency key must appear exactly
# once in the log channel's file, and every attempt must have a result.
. "$SRCDIR/tests/integration/lib.sh"
# Lease expiry, rate limits and kill timing are the subject here; under
# valgrind (the vg setup) every step is ~50x slower and those timings stop
# meaning anything.  The queue code still runs under valgrind in test-queue
# and in run.sh.
if [ -n "${CADENZA_WRAP:-}" ]; then echo "timing test: skipped under valgrind"; exit 77; fi
. "$SRCDIR/tests/integration/queue-redis.sh"

start_redis --appendonly no
CFG="$T/cadenza.yaml"
write_config "$CFG" 0
# throttle the channel so the kills land mid-stream (~3 s of work)
sed -i 's/^    kind: email$/    kind: email\n    rate_limit: 3500/' "$CFG"
export CADENZA_CONFIG="$CFG"
export CADENZA_STORE="$T/none/cadenza.db"

make_jobs 10000 1 email >"$T/jobs.jsonl"
expect_exit 0 "enqueue 10000" -- cz queue enqueue "$T/jobs.jsonl"

W="czbg worker --channels email --visibility-timeout 0.6 --batch 64"
pids=""
for i in 1 2 3; do $W 2>>"$T/werr" & pids="$pids $!"; done
kills=0
while [ $kills -lt 20 ]; do
    sleep 0.12
    set -- $pids
    n=$#
    k=$(( $(od -An -N2 -tu2 /dev/urandom) % n + 1 ))
    victim=$(eval echo \${$k})
    kill -9 "$victim" 2>/dev/null; wait "$victim" 2>/dev/null
    kills=$((kills + 1))
    pids=$(echo $pids | tr ' ' '\n' | grep -vx "$victim" | tr '\n' ' ')
    $W 2>>"$T/werr" & pids="$pids $!"
done
pass "killed 20 workers"
# let the survivors finish, then stop them cleanly
cz worker --channels email --visibility-timeout 0.6 --batch 64 --until-idle 1.5 2>>"$T/werr"
for p in $pids; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done

count_keys "$T/sends.log" >"$T/keys"
n=$(wc -l <"$T/keys"); dup=$(awk '$2 != 1' "$T/keys" | wc -l)
[ "$n" -eq 10000 ] && pass "all 10000 keys in the log" || fail "$n distinct keys in the log"
[ "$dup" -eq 0 ] && pass "no key sent twice" || { fail "$dup keys sent more than once"; head "$T/keys" >&2; }
res=$(rcli XLEN cz:results)
[ "$res" -eq 10000 ] && pass "10000 results in the stream" || fail "$res results in the stream"
[ "$(rcli HLEN cz:jobs)" -eq 0 ] && pass "no payload left" || fail "payloads left: $(rcli HLEN cz:jobs)"
finish
