#!/bin/sh
# Helpers for the queue tests: a private redis-server, a config pointing
# at it, and job files.  Sourced after lib.sh.

command -v redis-server >/dev/null || { echo "redis-server not installed, skipping"; exit 77; }

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

RPORT=$(free_port)
RDIR="$T/redis"
mkdir -p "$RDIR"
RPID=
# start_redis [extra args]: start (or restart) on the same port
start_redis() {
    redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --dir "$RDIR" \
        --loglevel warning "$@" >"$RDIR/log" 2>&1 &
    RPID=$!
    i=0
    while ! redis-cli -p "$RPORT" PING >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -gt 100 ] && { echo "redis did not start" >&2; exit 1; }
        sleep 0.05
    done
}
stop_redis() {
    [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    RPID=
}
trap 'stop_redis; rm -rf "$T"' EXIT INT TERM

rcli() { redis-cli -p "$RPORT" "$@"; }
# results_stream [--latest]: the workers' results as "ATTEMPT STATUS INFO"
# lines, every entry in order or (--latest) each attempt's last one
results_stream() {
    rcli --json XRANGE cz:results - + | /usr/bin/python3 "$SRCDIR/tests/integration/results.py" "$@"
}

# czbg ARGS... &: like cz, but $! is the cadenza process itself
czbg() { exec ${CADENZA_WRAP:-} "$CADENZA" "$@"; }

# write_config FILE [sms rate limit] [log settings for email] [... for sms]: two log channels
write_config() {
    cat >"$1" <<EOC
redis:
  url: redis://127.0.0.1:$RPORT
  prefix: "cz:"
channels:
  email:
    plugin: log
    kind: email
    settings: { path: $T/sends.log ${3:-} }
  sms:
    plugin: log
    kind: sms
    rate_limit: ${2:-0}
    settings: { path: $T/sends.log ${4:-} }
EOC
}

# make_jobs N FIRST CHANNEL [DELAY_S] [DEBTOR_MOD] > file: JSON lines
make_jobs() {
    /usr/bin/python3 - "$@" <<'EOP'
import json, sys, time
n, first, ch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0
mod = int(sys.argv[5]) if len(sys.argv) > 5 else 1000000
now = int(time.time())
due = int(time.time() + delay + 0.999) if delay else now - 1
for i in range(first, first + n):
    print(json.dumps({
        "attempt_id": i, "idempotency_key": "ik-%d" % i, "debtor_id": "D%d" % (i % mod),
        "channel": ch, "channel_kind": "email" if ch == "email" else "sms",
        "address": "debtor%d@example.com" % i, "template": "reminder-%s" % ("email" if ch == "email" else "sms"),
        "inputs": {"name": "Debtor %d" % i, "amount": "120.50", "currency": "EUR", "due_date": "2026-12-01"},
        "time_zone": "Europe/Madrid", "not_before": due, "not_after": now + 7200,
        "windows": [[now - 60, now + 7200]], "attempt": 1, "tier": 1}))
EOP
}

# count_keys FILE: "key count" per idempotency key sent, from a log file.
# A worker killed in the middle of a write(2) leaves a torn record that
# the next writer's line continues; only whole records count as sends.
count_keys() {
    /usr/bin/python3 - "$1" <<'EOP'
import collections, json, sys
c = collections.Counter()
for line in open(sys.argv[1], encoding='utf-8', errors='replace'):
    parts = line.rstrip('\n').split('{"sent_at"')
    for p in parts[1:]:
        try:
            c[json.loads('{"sent_at"' + p)["idempotency_key"]] += 1
        except ValueError:
            print("torn record skipped: %.80s" % p, file=sys.stderr)
for k, v in c.items():
    print(k, v)
EOP
}
