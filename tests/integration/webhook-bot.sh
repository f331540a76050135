#!/bin/sh
# The webhook-bot channel end to end: a worker with a real Redis POSTs
# signed JSON to a loopback bot that checks every signature with Python's
# own hmac module (HMAC-SHA256 over timestamp "." body) and answers by
# the README's contract.  Checks the body and headers that arrived and how
# each answer was classified (the results stream): 2xx sent with the
# X-Message-Id, 409 sent, 410 opted out, 422 invalid address, 429 with
# Retry-After waiting, 503 retried then sent, a wrong secret refused by
# the bot (failed, logged once).
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/queue-redis.sh"

CFG="$T/cadenza.yaml"
mkdir -p "$T/no-strategies"
HPORT=$(free_port)
SECRET="bot-secret-0123456789abcdef"
config() {
    cat >"$CFG" <<EOC
redis:
  url: redis://127.0.0.1:$RPORT
  timeout: 2
paths:
  strategies: $T/no-strategies
  profiles: $SRCDIR/config/profiles
  holidays: $SRCDIR/config/holidays
  templates: $SRCDIR/config/templates
channels:
$1
EOC
    export CADENZA_CONFIG="$CFG"
}

/usr/bin/python3 - "$HPORT" "$T/http.log" "$SECRET" <<'EOP' &
import hashlib, hmac, http.server, json, sys, threading, time
port, log, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
lock = threading.Lock()
seen = {}
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, status, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ts = self.headers.get("X-Cadenza-Timestamp", "")
        want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(want, self.headers.get("X-Cadenza-Signature", "")) and \
            ts.isdigit() and abs(time.time() - int(ts)) < 300
        m = json.loads(body)
        with lock:
            with open(log, "a") as f:
                f.write(json.dumps({"ok": ok, "key": self.headers.get("Idempotency-Key"),
                                    "ctype": self.headers.get("Content-Type"), "body": m}) + "\n")
            first = m["address"] not in seen
            seen[m["address"]] = 1
        if not ok:
            return self.answer(401)
        tail = m["address"][-2:]
        if tail == "01":
            return self.answer(410)
        if tail == "02":
            return self.answer(422)
        if tail == "03":
            return self.answer(429, [("Retry-After", "3600")])
        if tail == "04" and first:
            return self.answer(503)
        if tail == "05":
            return self.answer(409)
        self.answer(202, [("X-Message-Id", "bot-%d" % m["attempt_id"])])
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True
srv = S(("127.0.0.1", port), H)
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
start_redis

config "  bot:
    plugin: webhook-bot
    kind: chat
    settings: { url: 'http://127.0.0.1:$HPORT/hook', secret: '$SECRET' }
  bot2:
    plugin: webhook-bot
    kind: chat
    settings: { url: 'http://127.0.0.1:$HPORT/hook', secret: 'not-the-bot-secret-at-all' }"
expect_exit 0 "plugins webhook-bot: its settings" -- cz plugins webhook-bot
expect_grep "secret .*secret, required" "$T/out" "the secret is a secret"

/usr/bin/python3 - >"$T/jobs.jsonl" <<'EOP'
import json, time
now = int(time.time())
jobs = [(1, "+34600000100", "bot"), (2, "+34600000001", "bot"), (3, "+34600000002", "bot"),
        (4, "+34600000003", "bot"), (5, "+34600000004", "bot"), (6, "+34600000005", "bot"),
        (21, "+34600000200", "bot2"), (22, "+34600000300", "bot2")]
for aid, addr, ch in jobs:
    print(json.dumps({
        "attempt_id": aid, "idempotency_key": "ik-%d" % aid, "debtor_id": "D%d" % aid,
        "channel": ch, "channel_kind": "chat", "address": addr,
        "inputs": {"name": "Jos\u00e9 N\u00fa\u00f1ez", "amount": "10.00", "currency": "EUR"},
        "time_zone": "Europe/Madrid", "not_before": now - 1, "not_after": now + 7200,
        "windows": [[now - 60, now + 7200]], "attempt": 1}))
EOP
expect_exit 0 "enqueue 8 chat attempts" -- cz queue enqueue "$T/jobs.jsonl"
czbg -v worker --retry-base 200 2>"$T/w.err" &
wpid=$!
results() { results_stream --latest; }
i=0
while [ $i -lt 150 ]; do
    results >"$T/results"
    [ "$(grep -vc '^4 ' "$T/results")" -ge 7 ] && ! grep -v '^4 ' "$T/results" | grep -q ' retry' &&
        break
    sleep 0.1; i=$((i + 1))
done
results >"$T/results"
cz queue stats --format json >"$T/stats.json" 2>/dev/null
kill -TERM $wpid
wait $wpid
[ $? -eq 0 ] && pass "worker stops on SIGTERM" || fail "worker exit"

/usr/bin/python3 - "$T/results" "$T/http.log" "$T/stats.json" <<'EOP' && pass "every attempt classified; the bot verified every signature" || fail "see above; results: $(cat "$T/results")"
import json, sys
res = dict(l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1]))
reqs = [json.loads(l) for l in open(sys.argv[2])]
stats = {c["channel"]: c for c in json.load(open(sys.argv[3]))["channels"]}
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
def st(a):
    return res.get(str(a), "none").split(" ", 1)[0]
good = [r for r in reqs if r["body"]["channel"] == "bot"]
check(good and all(r["ok"] for r in good), "every signature of 'bot' verifies")
check(all(not r["ok"] for r in reqs if r["body"]["channel"] == "bot2"), "a wrong secret never verifies")
r1 = [r for r in good if r["body"]["attempt_id"] == 1]
check(len(r1) == 1, "one request for attempt 1")
if r1:
    b = r1[0]["body"]
    check(r1[0]["key"] == "ik-1" and r1[0]["ctype"] == "application/json", "headers: %s" % r1[0])
    check(b["kind"] == "chat" and b["address"] == "+34600000100" and b["debtor_id"] == "D1" and
          b["tries"] == 0 and b["redelivered"] is False, "body: %s" % b)
    check(b["inputs"]["name"] == "Jos\u00e9 N\u00fa\u00f1ez", "inputs as given: %s" % b["inputs"])
check(res.get("1") == "sent bot-1", "2xx sent with X-Message-Id: %s" % res.get("1"))
check(st(2) == "opted_out", "410 opted out: %s" % res.get("2"))
check(st(3) == "invalid_address", "422 invalid: %s" % res.get("3"))
check(len([r for r in good if r["body"]["attempt_id"] == 4]) == 1 and stats["bot"]["retrying"] == 1,
      "429 with Retry-After waits: %s" % stats["bot"])
r5 = [r for r in good if r["body"]["attempt_id"] == 5]
check(st(5) == "sent" and len(r5) == 2 and r5[1]["body"]["tries"] == 1, "503 retried, then sent")
check(st(6) == "sent", "409 already had it: sent")
check(st(21) == "failed" and st(22) == "failed", "a refused signature fails")
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOP
n=$(grep -c "\[channel:webhook-bot:bot2\] the bot refuses our signature" "$T/w.err")
[ "$n" -eq 1 ] && pass "the refusal is logged once" || fail "refusal logged $n times"
if grep -q "$SECRET\|not-the-bot-secret" "$T/w.err"; then fail "a secret was logged"; else pass "no secret logged"; fi
finish
