#!/bin/sh
# Lease fencing: a worker that is still alive but slower than its
# visibility timeout while it holds leases (a slow provider, or a stalled
# process) must never send a job after its lease lapsed and another
# worker leased it.  Two workers share the queue, one of them slow, with
# a tiny visibility timeout; every attempt must be in the log file exactly
# once and have exactly one terminal result.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/queue-redis.sh"

start_redis --appendonly no
FAST="$T/fast.yaml"
write_config "$FAST" 0
export CADENZA_CONFIG="$FAST"
export CADENZA_STORE="$T/none/cadenza.db"
# the timings below are in real time: under valgrind everything is slower,
# so the visibility timeout grows with it (the slow worker stays slower)
VTMS=500
[ -n "${CADENZA_WRAP:-}" ] && VTMS=3000
VT=$(awk "BEGIN { print $VTMS / 1000 }")

# check_once N FILE WHAT: every key in the log once, one terminal result each
check_once() {
    count_keys "$T/sends.log" >"$T/keys"
    n=$(wc -l <"$T/keys"); dup=$(awk '$2 != 1' "$T/keys" | wc -l)
    [ "$n" -eq "$1" ] && pass "$3: all $1 attempts in the log" || fail "$3: $n distinct keys, expected $1"
    [ "$dup" -eq 0 ] && pass "$3: none sent twice" ||
        { fail "$3: $dup attempts sent twice"; awk '$2 != 1' "$T/keys" | head -5 >&2; }
    rcli XRANGE cz:results - + >"$T/res"
    /usr/bin/python3 - "$T/res" "$1" <<'EOP' && pass "$3: one 'sent' result per attempt" || fail "$3: results"
import collections, sys
lines = open(sys.argv[1]).read().split('\n')
sent = collections.Counter()
for i, l in enumerate(lines):
    if l == 'id' and i + 3 < len(lines) and lines[i + 2] == 'st' and lines[i + 3] == 'sent':
        sent[lines[i + 1]] += 1
bad = [k for k, v in sent.items() if v != 1]
print("%d attempts with a sent result, %d with more than one" % (len(sent), len(bad)))
sys.exit(0 if len(sent) == int(sys.argv[2]) and not bad else 1)
EOP
    [ "$(rcli HLEN cz:jobs)" -eq 0 ] && pass "$3: no payload left" || fail "$3: payloads left"
    [ "$(rcli ZCARD cz:lease:email)" -eq 0 ] && pass "$3: no lease left" || fail "$3: leases left"
}

# run_pair SLOWCFG N WHAT: a slow worker and a fast one on N jobs
run_pair() {
    rcli FLUSHALL >/dev/null
    rm -f "$T/sends.log"
    make_jobs "$2" 1 email >"$T/jobs.jsonl"
    cz queue enqueue "$T/jobs.jsonl" >/dev/null
    CADENZA_CONFIG="$1" czbg worker --visibility-timeout $VT --batch 40 --concurrency 120 \
        --until-idle 1 2>"$T/slow.err" &
    slow=$!
    sleep 0.2
    czbg worker --visibility-timeout $VT --batch 40 --until-idle 1 2>"$T/fast.err" &
    fast=$!
    wait $slow; rs=$?
    wait $fast; rf=$?
    [ $rs -eq 0 ] && [ $rf -eq 0 ] && pass "$3: both workers exited 0" ||
        { fail "$3: worker exits $rs (slow), $rf (fast)"; tail -5 "$T/slow.err" "$T/fast.err" >&2; }
    grep -o '"pid":[0-9]*' "$T/sends.log" | sort | uniq -c | sed "s/^/    $3 sends per worker: /"
    check_once "$2" "$T/sends.log" "$3"
}

# 1. a slow provider: every send answers 1.6 visibility timeouts later; the
#    worker stays responsive and must keep renewing the leases it sends on
SLOW="$T/slow.yaml"
write_config "$SLOW" 0 ", send_delay_ms: $((VTMS * 16 / 10))"
run_pair "$SLOW" 400 "slow provider"

# 2. a stalled process: every send blocks the whole worker, so a batch of
#    40 takes 1.6 visibility timeouts; no timer runs meanwhile, so the
#    worker must notice before each send that its leases are getting old
STALL="$T/stall.yaml"
write_config "$STALL" 0 ", send_block_ms: $((VTMS * 4 / 100))"
run_pair "$STALL" 400 "stalled worker"

finish
