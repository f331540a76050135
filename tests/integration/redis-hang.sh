#!/bin/sh
# A Redis that accepts connections and never answers, and one that refuses
# them: every Redis-using command fails within the configured timeout
# (redis.timeout: 1), a worker on SIGTERM exits within it, and
# `worker --once` is one pass (exit 3), never an endless retry.
. "$SRCDIR/tests/integration/lib.sh"

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now_s() { /usr/bin/python3 -c 'import time; print("%.3f" % time.time())'; }
# took START LIMIT DESC: the elapsed time is below LIMIT (not timed under valgrind)
took() {
    el=$(/usr/bin/python3 -c "import time; print('%.1f' % (time.time() - $1))")
    if [ -n "${CADENZA_WRAP:-}" ]; then pass "$3 (${el} s, not timed under valgrind)"; return; fi
    if /usr/bin/python3 -c "import sys; sys.exit(0 if $el < $2 else 1)"; then
        pass "$3 (${el} s)"
    else
        fail "$3: took ${el} s, limit $2 s"
    fi
}

# the silent server: accepts, reads and drops what it gets, never answers
SPORT=$(free_port)
/usr/bin/python3 - "$SPORT" <<'EOP' &
import socket, sys, threading, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
def drain(c):
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
end = time.time() + 240  # bounded: the test never needs longer
s.settimeout(1)
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    threading.Thread(target=drain, args=(c,), daemon=True).start()
EOP
SPID=$!
trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; rm -rf "$T"' EXIT INT TERM
i=0
while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $SPORT), 1)" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "silent server did not start" >&2; exit 1; }
    sleep 0.05
done
# a port nothing listens on: connections are refused
RPORT=$(free_port)

CFG="$T/cadenza.yaml"
write_config() { # URL
    cat >"$CFG" <<EOC
redis:
  url: $1
  timeout: 1
channels:
  email:
    plugin: log
    kind: email
    settings: { path: $T/sends.log }
EOC
    export CADENZA_CONFIG="$CFG"
}

# a store with debtors and strategies, for run and import outcomes
export CADENZA_CONFIG="$SRCDIR/config/cadenza.yaml"
cz sample --debtors 200 --seed 3 --invalid-rate 0 >"$T/d.csv"
cz import debtors "$T/d.csv" >/dev/null 2>&1 || { echo "setup import failed" >&2; exit 1; }
cp "$SRCDIR/config/cadenza.yaml" "$T/full.yaml"
/usr/bin/python3 - "$T/full.yaml" "$SRCDIR" "$SPORT" <<'EOP'
import re, sys
p, src, port = sys.argv[1:4]
t = open(p).read()
t = t.replace("url: redis://127.0.0.1:6379", "url: redis://127.0.0.1:%s" % port, 1)
t = re.sub(r"(?m)^  timeout: 5 ", "  timeout: 1 ", t)
t = t.replace("strategies: ../strategies", "strategies: %s/strategies" % src)
for k in ("templates", "profiles", "holidays"):
    t = t.replace("  %s: %s\n" % (k, k), "  %s: %s/config/%s\n" % (k, src, k))
open(p, "w").write(t)
EOP
D=$(date -u +%F)

# --- the silent server ------------------------------------------------------
export CADENZA_CONFIG="$T/full.yaml"
start=$(now_s)
expect_exit 3 "run against a silent redis" -- czt run --date "$D"
took "$start" 6 "run gave up within the timeout"
expect_grep "no reply within 1 s" "$T/err" "run says why"

start=$(now_s)
expect_exit 3 "queue stats against a silent redis" -- czt queue stats
took "$start" 6 "queue stats gave up within the timeout"
expect_grep "no reply within 1 s" "$T/err" "queue stats says why"

printf 'debtor_id,channel,attempted_at,outcome\n' >"$T/o.csv"
sql "SELECT external_id FROM debtors LIMIT 1" | while read -r id; do
    printf '%s,email,%s,paid\n' "$id" "$(date -u +%FT%TZ)" >>"$T/o.csv"
done
start=$(now_s)
czt import outcomes "$T/o.csv" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -ne 124 ] && pass "import outcomes returned (exit $rc)" || fail "import outcomes hung"
took "$start" 6 "import outcomes did not wait on redis"
expect_grep "no reply within 1 s" "$T/err" "import outcomes says why"

write_config "redis://127.0.0.1:$SPORT"
start=$(now_s)
expect_exit 3 "worker --once against a silent redis" -- czt worker --once
took "$start" 6 "worker --once gave up within the timeout"
expect_grep "no reply within 1 s" "$T/err" "the worker says why"

# a long-running worker: SIGTERM stops it within the timeout, whatever redis does
czbg() { exec ${CADENZA_WRAP:-} "$CADENZA" "$@"; }
czbg worker 2>"$T/w.err" &
wpid=$!
# SIGTERM once the worker has met the silent server (its handler is in place
# by then, however slowly it started: valgrind)
i=0
while [ $i -lt 600 ] && ! grep -q "no reply within 1 s" "$T/w.err" 2>/dev/null; do
    sleep 0.1; i=$((i + 1))
done
start=$(now_s)
kill -TERM $wpid
i=0
while kill -0 $wpid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
if kill -0 $wpid 2>/dev/null; then
    fail "the worker ignored SIGTERM for 30 s"
    kill -KILL $wpid
fi
wait $wpid
rc=$?
took "$start" 3 "SIGTERMed worker exited within the timeout"
[ $rc -eq 0 ] && pass "it exits 0" || fail "SIGTERMed worker: exit $rc"
expect_grep "no reply within 1 s" "$T/w.err" "it logged the silent redis"

# --- a refused connection ---------------------------------------------------
write_config "redis://127.0.0.1:$RPORT"
start=$(now_s)
expect_exit 3 "worker --once with redis refusing connections" -- czt worker --once
took "$start" 6 "worker --once failed at once"
expect_grep "cannot reach redis 'redis://127.0.0.1:$RPORT'" "$T/err" "names the redis"

finish
