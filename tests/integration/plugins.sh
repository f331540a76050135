#!/bin/sh
# Channel plugins loaded from paths.plugins: `cadenza plugins` lists them
# (and the refused ones with their reason), `validate` applies each
# plugin's config map at file:line:col and refuses an ABI or name mismatch
# in one line, and a worker sends through a dlopen'ed plugin with a real
# Redis: asynchronous completions on host timers, retries with the
# provider's Retry-After, and the opted-out answer.
. "$SRCDIR/tests/integration/lib.sh"
: "${TEST_PLUGIN_DIR:?TEST_PLUGIN_DIR must point at the built test plugins}"

CFG="$T/cadenza.yaml"
# config CHANNELS-YAML: a configuration with paths.plugins and these channels
config() {
    cat >"$CFG" <<EOC
redis:
  url: redis://127.0.0.1:${RPORT:-6379}
  timeout: 2
paths:
  plugins: $TEST_PLUGIN_DIR
  strategies: $T/no-strategies
  profiles: $SRCDIR/config/profiles
  holidays: $SRCDIR/config/holidays
  templates: $SRCDIR/config/templates
channels:
$1
${LINKS:-}
EOC
    export CADENZA_CONFIG="$CFG"
}
mkdir -p "$T/no-strategies"

# --- listing ------------------------------------------------------------
config "  email: { plugin: log, kind: email }"
expect_exit 1 "plugins lists, and says some were refused" -- cz plugins
expect_grep "^log .*built in" "$T/out" "the built-in log plugin"
expect_grep "^fake .*email,sms,chat .*$TEST_PLUGIN_DIR/fake.so" "$T/out" "fake.so from paths.plugins"
expect_grep "^future .*was built for plugin ABI 2.0; this cadenza has 1\.[0-9]*: rebuild the plugin against it" \
    "$T/out" "future.so refused with the reason"
expect_grep "^misnamed .*calls itself 'other', not 'misnamed'" "$T/out" "misnamed.so refused"
expect_exit 0 "plugins fake: its settings" -- cz plugins fake
expect_grep "path .*path, required .*file that records every send" "$T/out" "a required setting"
expect_grep "answer .*choice sent|retry|failed|invalid_address|opted_out, default sent" "$T/out" \
    "a choice with its default"
expect_grep "delay_ms .*integer 0..60000, default 0" "$T/out" "bounds"
expect_exit 2 "plugins fak: did you mean" -- cz plugins fak
expect_grep "no plugin 'fak'; did you mean 'fake'?" "$T/err" "suggests fake"

# --- validate: config maps and refusals ------------------------------------
config "  sms:
    plugin: future
    kind: sms
  email:
    plugin: fake
    kind: email
    settings:
      pth: x
      answer: sen
      delay_ms: 99999999
      ratio: lots
  bot:
    plugin: fake
    kind: call
    settings: { path: b.log }"
expect_exit 1 "validate: every plugin problem at once" -- cz validate
expect_grep "cadenza.yaml:12:13: error: plugin '$TEST_PLUGIN_DIR/future.so' was built for plugin ABI 2.0; this cadenza has 1\.[0-9]*: rebuild the plugin against it" \
    "$T/err" "ABI mismatch: one clear line"
expect_grep "cadenza.yaml:18:7: error: unknown key 'pth' in settings of channel 'email' (plugin 'fake'); did you mean 'path'?" \
    "$T/err" "unknown key with did-you-mean"
expect_grep "cadenza.yaml:19:15: error: 'answer' must be one of sent,retry,failed,invalid_address,opted_out, got 'sen'; did you mean 'sent'?" \
    "$T/err" "a choice"
expect_grep "cadenza.yaml:20:17: error: 'delay_ms' must be between 0 and 60000, got 99999999" \
    "$T/err" "out of range"
expect_grep "cadenza.yaml:21:14: error: 'ratio' must be a number, got 'lots'" "$T/err" "wrong type"
expect_grep "cadenza.yaml:18:7: error: channel 'email': plugin 'fake' needs setting 'path' (file that records every send)" \
    "$T/err" "a missing required setting"
expect_grep "cadenza.yaml:24:11: error: plugin 'fake' cannot serve kind 'call'" "$T/err" \
    "a kind the plugin does not serve"

# --- sending through a dlopen'ed plugin -------------------------------------
. "$SRCDIR/tests/integration/queue-redis.sh"
start_redis
head -c 48 /dev/urandom | base64 >"$T/link.key"
chmod 600 "$T/link.key"
LINKS="links:
  base_url: https://pay.example.com
  keys: { k1: { secret_file: $T/link.key } }"
config "  email:
    plugin: fake
    kind: email
    settings: { path: $T/fake.log, delay_ms: 20, verbose: true }
  sms:
    plugin: fake
    kind: sms
    settings: { path: $T/fake-sms.log, answer: retry, retry_after_ms: 3000000 }"
make_jobs 50 1 email >"$T/e.jsonl"
make_jobs 5 100 sms >"$T/s.jsonl"
expect_exit 0 "enqueue" -- cz queue enqueue "$T/e.jsonl"
expect_exit 0 "enqueue sms" -- cz queue enqueue "$T/s.jsonl"
# in the background: the retried jobs keep an idle worker from exiting
czbg -v worker --retry-base 100 2>"$T/w.err" &
wpid=$!
i=0
while [ $i -lt 200 ]; do
    [ "$(cat "$T/fake.log" 2>/dev/null | wc -l)" -ge 50 ] &&
        [ "$(cat "$T/fake-sms.log" 2>/dev/null | wc -l)" -ge 5 ] && break
    sleep 0.1; i=$((i + 1))
done
sleep 2 # ten times the 100 ms backoff: without Retry-After they would be tried again
[ "$(wc -l <"$T/fake.log")" -eq 50 ] && pass "50 e-mail sends recorded once each" ||
    fail "fake.log has $(wc -l <"$T/fake.log") lines, expected 50"
expect_grep "^1 ik-1 0 debtor1@example.com 0 subject=\[Your .*payment of €120.50 is due on 01/12/2026\] text=[1-9][0-9]* link=https://pay.example.com/s/v1\.k1\." \
    "$T/fake.log" "the plugin gets the rendered template and a signed link"
tok=$(sed -n 's|^1 .* link=https://pay.example.com/s/||p' "$T/fake.log")
expect_exit 0 "the link verifies" -- cz link verify "$tok"
expect_grep "unsubscribe" "$T/out" "an e-mail carries the one-click unsubscribe link"
[ "$(wc -l <"$T/fake-sms.log")" -eq 5 ] && pass "5 sms sends, not tried again within 2 s" ||
    fail "sms tries: $(wc -l <"$T/fake-sms.log"), expected 5 (Retry-After ignored?)"
cz queue stats --format json >"$T/stats.json" 2>/dev/null
/usr/bin/python3 - "$T/stats.json" <<'EOP' && pass "the 5 wait as retrying, not due" || fail "queue stats: $(cat "$T/stats.json")"
import json, sys
st = json.load(open(sys.argv[1]))
sms = {c["channel"]: c for c in st["channels"]}["sms"]
assert sms["retrying"] == 5 and sms["due"] == 0 and sms["ready"] == 0, sms
EOP
kill -TERM $wpid
wait $wpid
rc=$?
[ $rc -eq 0 ] && pass "worker stops on SIGTERM" || fail "worker exit $rc"
expect_grep "\[channel:fake:email\] sending attempt 1 to d\*\**@example.com" "$T/w.err" \
    "plugin log lines carry plugin and instance, the address masked"
if grep -q "debtor1@example.com" "$T/w.err"; then fail "an address was logged unmasked"; else pass "no address logged in clear"; fi

# --- HTTP through the host's curl multi handle on the worker's loop ----------
HPORT=$(free_port)
/usr/bin/python3 - "$HPORT" "$T/http.log" <<'EOP' &
import http.server, json, sys, time, threading
port, log = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n))
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (body["attempt"], self.headers.get("Idempotency-Key"), body["to"]))
        a = body["attempt"]
        if a % 10 == 1:   # 201, 211, ...: rate limited, come back in an hour
            self.send_response(429); self.send_header("Retry-After", "3600")
            self.send_header("Content-Length", "0"); self.end_headers()
        elif a % 10 == 2: # an unknown number
            self.send_response(400); self.send_header("Content-Length", "0"); self.end_headers()
        else:
            out = ("msg-%d" % a).encode()
            self.send_response(200); self.send_header("Content-Length", str(len(out)))
            self.end_headers(); self.wfile.write(out)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
threading.Timer(60, srv.shutdown).start()  # bounded
srv.serve_forever()
EOP
HPID=$!
trap 'kill $HPID 2>/dev/null; stop_redis; rm -rf "$T"' EXIT INT TERM
i=0
while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $HPORT), 1)" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "http server did not start" >&2; exit 1; }
    sleep 0.05
done
rcli FLUSHALL >/dev/null
config "  email:
    plugin: fake
    kind: email
    settings: { path: $T/fake-http.log, url: 'http://127.0.0.1:$HPORT/send' }"
make_jobs 30 200 email >"$T/h.jsonl"
expect_exit 0 "enqueue 30 jobs for the http fake" -- cz queue enqueue "$T/h.jsonl"
czbg worker --retry-base 100 2>"$T/wh.err" &
wpid=$!
i=0
while [ $i -lt 200 ] && [ "$(cat "$T/http.log" 2>/dev/null | wc -l)" -lt 30 ]; do
    sleep 0.1; i=$((i + 1))
done
sleep 1
[ "$(wc -l <"$T/http.log")" -eq 30 ] && pass "30 POSTs through host->http, none twice" ||
    fail "the server got $(wc -l <"$T/http.log") requests, expected 30"
[ "$(cut -d' ' -f2 "$T/http.log" | sort -u | wc -l)" -eq 30 ] &&
    pass "each with its idempotency key header" || fail "idempotency keys missing"
cz queue stats --format json >"$T/hstats.json" 2>/dev/null
/usr/bin/python3 - "$T/hstats.json" <<'EOP' && pass "429s wait for their Retry-After; 400s are final" || fail "http classification: $(cat "$T/hstats.json")"
import json, sys
st = json.load(open(sys.argv[1]))
em = {c["channel"]: c for c in st["channels"]}["email"]
assert em["retrying"] == 3 and em["due"] == 0 and em["ready"] == 0 and em["leased"] == 0, em
EOP
kill -TERM $wpid
wait $wpid
[ $? -eq 0 ] && pass "worker stops" || fail "worker exit"

# --- failover: a breaker opens after 3 transient failures, probes, switches back ----
FPORT=$(free_port)
/usr/bin/python3 - "$FPORT" "$T/primary.log" <<'EOP' &
import http.server, json, sys, threading
port, log = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        a = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))["attempt"]
        code = 503 if a < 400 else 200   # down for wave 1 (ids 300..), back for wave 2 (400..)
        with open(log, "a") as f:
            f.write("%d %d\n" % (a, code))
        self.send_response(code); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
threading.Timer(60, srv.shutdown).start()
srv.serve_forever()
EOP
FPID=$!
trap 'kill $HPID $FPID 2>/dev/null; stop_redis; rm -rf "$T"' EXIT INT TERM
i=0
while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $FPORT), 1)" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "http server did not start" >&2; exit 1; }
    sleep 0.05
done
rcli FLUSHALL >/dev/null
config "  sms:
    plugin: fake
    kind: sms
    fallback: sms-backup
    breaker: { failures: 3, cooldown: 1 }
    settings: { path: $T/primary-sends.log, url: 'http://127.0.0.1:$FPORT/' }
  sms-backup:
    plugin: fake
    kind: sms
    settings: { path: $T/backup-sends.log }"
expect_exit 0 "validate a channel with a fallback" -- cz validate
make_jobs 40 300 sms >"$T/f.jsonl"
expect_exit 0 "enqueue 40 sms" -- cz queue enqueue "$T/f.jsonl"
czbg -v worker --channels sms --batch 4 --retry-base 50 2>"$T/wf.err" &
wpid=$!
# wave 1 opens the breaker and drains through the fallback; wave 2, after the
# cooldown, brings the half-open probe (the primary is back for ids >= 400);
# wave 3 then goes to the primary
drained() { # wait until the sms queue is empty
    i=0
    while [ $i -lt 150 ]; do
        cz queue stats --format json >"$T/fstats.json" 2>/dev/null
        /usr/bin/python3 - "$T/fstats.json" <<'EOP' && return 0
import json, sys
st = json.load(open(sys.argv[1]))
c = {c["channel"]: c for c in st["channels"]}.get("sms", {})
sys.exit(0 if all(c.get(k, 0) == 0 for k in ("ready", "retrying", "leased", "due")) else 1)
EOP
        sleep 0.2; i=$((i + 1))
    done
    return 1
}
i=0
while [ $i -lt 200 ] && ! grep -q "circuit open" "$T/wf.err" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
drained
sleep 1.2
make_jobs 20 400 sms >"$T/f2.jsonl"
cz queue enqueue "$T/f2.jsonl" >/dev/null 2>&1
drained
i=0
while [ $i -lt 100 ] && ! grep -q "switching back" "$T/wf.err" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
make_jobs 20 500 sms >"$T/f3.jsonl"
cz queue enqueue "$T/f3.jsonl" >/dev/null 2>&1
drained
kill -TERM $wpid; wait $wpid
expect_grep "\[channel:sms\] circuit open after 3 transient failures in a row: sending through 'sms-backup' for 1.0 s" \
    "$T/wf.err" "the breaker opens after 3 transient failures"
expect_grep "\[channel:sms\] probe answered: circuit closed, switching back from 'sms-backup'" \
    "$T/wf.err" "a half-open probe switches back"
b=$(wc -l <"$T/backup-sends.log")
ok=$(grep -c " 200" "$T/primary.log")
[ "$b" -ge 40 ] && [ $((b + ok)) -eq 80 ] &&
    pass "wave 1 through the fallback, each of the 80 jobs sent once ($b fallback, $ok primary)" ||
    fail "the fallback sent $b and the primary $ok jobs; expected 40+ and 80 in all"
ok3=$(grep -c "^5[0-9][0-9] 200" "$T/primary.log")
[ "$ok3" -eq 20 ] && pass "after the probe, wave 3 went to the primary (20)" ||
    fail "wave 3 on the primary: $ok3"
[ "$(grep -c " 503" "$T/primary.log")" -ge 3 ] && pass "the primary failed at least 3 times first" ||
    fail "primary failures: $(grep -c " 503" "$T/primary.log")"
cz queue stats --format json >"$T/fstats.json" 2>/dev/null
/usr/bin/python3 - "$T/fstats.json" <<'EOP' && pass "every job sent, none left" || fail "left: $(cat "$T/fstats.json")"
import json, sys
st = json.load(open(sys.argv[1]))
c = {c["channel"]: c for c in st["channels"]}.get("sms", {})
assert all(c.get(k, 0) == 0 for k in ("ready", "retrying", "leased", "due")), c
EOP

finish
