#!/bin/sh
# A dialer reached by a JSON HTTP API: the http-sms engine serving kind
# call with the shipped profile plugins/http-sms/profiles/json-dialer.yaml
# (read from the source tree, so the documented file is the one tested),
# a real Redis and `cadenza worker`, against a loopback server this test
# owns that keeps leads.  Checked: the lead each job becomes (number,
# reference, name, the legal window's start and end, the agent brief as
# its compact line and as the JSON object the job carries, bearer token,
# idempotency key), a job without a brief (nulls), the replies classified
# (sent with the lead id, do-not-call opted out, invalid number, 429 with
# Retry-After, a 503 retried), and the withdrawal when a window closes:
# an undialled lead is DELETEd after not_after, a dialled one answers 409
# and is left alone, and the leads a shutdown leaves behind are counted.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/queue-redis.sh"

HPORT=$(free_port)
cat >"$T/dialer.py" <<'EOP'
import http.server, json, sys, threading, time
port, log = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
leads, seen, next_id = {}, {}, [100]

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, code, obj=None, headers=()):
        body = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def record(self, body):
        with lock, open(log, "a") as f:
            f.write(json.dumps({"t": time.time(), "method": self.command, "path": self.path,
                                "auth": self.headers.get("Authorization"),
                                "idem": self.headers.get("Idempotency-Key"),
                                "ctype": self.headers.get("Content-Type"),
                                "body": body}) + "\n")
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.record(raw)
        if self.headers.get("Authorization") != "Bearer tk-test":
            return self.reply(401, {"error": {"code": "auth", "message": "bad token"}})
        lead = json.loads(raw)
        ph = lead["phone"]
        with lock:
            n = seen.get(ph, 0)
            seen[ph] = n + 1
        if ph.endswith("01"):
            return self.reply(409, {"error": {"code": "dnc", "message": "on the do-not-call list"}})
        if ph.endswith("02"):
            return self.reply(422, {"error": {"code": "invalid_number", "message": "not dialable"}})
        if ph.endswith("03"):
            return self.reply(429, {"error": {"code": "busy"}}, [("Retry-After", "3600")])
        if ph.endswith("04") and n == 0:
            return self.reply(503, {"error": {"code": "down", "message": "try later"}})
        with lock:
            lid = "L-%d" % next_id[0]
            next_id[0] += 1
            leads[lid] = {"state": "queued", "lead": lead}
        self.reply(201, {"lead": {"id": lid, "state": "queued"}})
    def do_GET(self):          # the test dials a lead: /dial/L-n
        lid = self.path.rsplit("/", 1)[-1]
        with lock:
            leads[lid]["state"] = "dialled"
        self.reply(200, {})
    def do_DELETE(self):
        self.record("")
        lid = self.path.rsplit("/", 1)[-1]
        with lock:
            l = leads.get(lid)
            if not l:
                return self.reply(404, {"error": {"code": "unknown"}})
            if l["state"] == "dialled":
                return self.reply(409, {"error": {"code": "dialled"}})
            l["state"] = "withdrawn"
        self.reply(204)
    def log_message(self, *a):
        pass

class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
srv = S(("127.0.0.1", port), H)
threading.Timer(120, srv.shutdown).start()  # bounded
srv.serve_forever()
EOP
/usr/bin/python3 "$T/dialer.py" "$HPORT" "$T/http.log" &
HPID=$!
trap 'kill $HPID 2>/dev/null; stop_redis; rm -rf "$T"' EXIT INT TERM
i=0
while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $HPORT), 1)" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "http server did not start" >&2; exit 1; }
    sleep 0.05
done
start_redis

mkdir -p "$T/no-strategies"
{
    cat <<EOC
redis:
  url: redis://127.0.0.1:$RPORT
paths:
  strategies: $T/no-strategies
  profiles: $SRCDIR/config/profiles
  holidays: $SRCDIR/config/holidays
  templates: $SRCDIR/config/templates
channels:
EOC
    # the shipped profile, pointed at the loopback dialer
    sed -e '/^#/d' -e '/^channels:/d' -e "s#https://dialer.example.com#http://127.0.0.1:$HPORT#" \
        -e "s#token: change-me#token: tk-test#" -e "s#timeout_ms: 10000#timeout_ms: 2000#" \
        "$SRCDIR/plugins/http-sms/profiles/json-dialer.yaml"
} >"$T/cadenza.yaml"
export CADENZA_CONFIG="$T/cadenza.yaml"
export CADENZA_STORE="$T/none/cadenza.db"
expect_exit 0 "the shipped dialer profile validates" -- cz validate
expect_exit 0 "plugins http-sms" -- cz plugins
expect_grep "^http-sms .*call" "$T/out" "http-sms serves the call kind"

# jobs: (attempt, address, seconds to the window's close, with a brief)
WIN=6
LATE_MAX=3
if [ -n "${CADENZA_WRAP:-}" ]; then WIN=25; LATE_MAX=10; fi
export WIN
/usr/bin/python3 - >"$T/jobs.jsonl" <<'EOP'
import json, os, time
now = int(time.time())
win = int(os.environ["WIN"])
brief = {"debtor": "D1", "name": "Ana Garc\u00eda", "balance": "1234.56", "currency": "EUR",
         "days_past_due": 15, "offers": [{"offer": "fee_waiver", "text": "waive late fees"}],
         "flags": [{"flag": "hardship", "note": "Ask about income \"first\""}]}
jobs = [(1, "+34600000100", 7200, True), (2, "+34600000105", 7200, False),
        (3, "+34600000101", 7200, True), (4, "+34600000102", 7200, True),
        (5, "+34600000103", 7200, True), (6, "+34600000104", 7200, True),
        (7, "+34600000107", win, True), (8, "+34600000108", win, True)]
for aid, addr, w, with_brief in jobs:
    inputs = {"name": "Ana Garc\u00eda", "locale": "es-ES", "amount": "1234.56", "currency": "EUR"}
    if with_brief:
        inputs.update({"brief": dict(brief, debtor="D%d" % aid), "brief_fields": {"dpd": "15"},
                       "brief_text": "Ana Garc\u00eda (es-ES) | owes 1234.56 EUR | 15 dpd"})
    print(json.dumps({
        "attempt_id": aid, "idempotency_key": "2026-12-09:D%d:1" % aid, "debtor_id": "D%d" % aid,
        "channel": "dialer", "channel_kind": "call", "address": addr, "inputs": inputs,
        "time_zone": "Europe/Madrid", "not_before": now - 5, "not_after": now + w,
        "windows": [[now - 5, now + w]], "attempt": 1}))
EOP
expect_exit 0 "enqueue 8 call attempts" -- cz queue enqueue "$T/jobs.jsonl"
czbg -v worker --retry-base 200 2>"$T/w.err" &
wpid=$!

results() {
    rcli XRANGE cz:results - + | /usr/bin/python3 -c '
import sys
lines = [l.rstrip("\n") for l in sys.stdin]
res, cur = {}, {}
i = 0
while i < len(lines):
    l = lines[i]
    if l in ("id", "st", "info", "ch", "tries", "at") and i + 1 < len(lines):
        cur[l] = lines[i + 1]; i += 2
        if "id" in cur and "st" in cur and "at" in cur:
            res[cur["id"]] = "%s %s" % (cur["st"], cur.get("info", "")); cur = {}
        continue
    i += 1
for k in sorted(res, key=int):
    print(k, res[k])
'
}
# dial attempt 8's lead while its window is open
i=0
while [ $i -lt 200 ]; do
    lid=$(results | sed -n 's/^8 sent \(L-[0-9]*\)$/\1/p')
    [ -n "$lid" ] && break
    sleep 0.05; i=$((i + 1))
done
[ -n "$lid" ] && pass "attempt 8 sent as lead $lid" || fail "attempt 8 was not sent: $(results)"
curl -s "http://127.0.0.1:$HPORT/dial/${lid:-none}" >/dev/null
# every attempt settled (5 waits for its Retry-After), both short windows closed
i=0
while [ $i -lt 600 ]; do
    n=$(results | grep -vc '^5 ')
    [ "$n" -ge 7 ] && [ "$(grep -c '"DELETE"' "$T/http.log" 2>/dev/null)" -ge 2 ] && break
    sleep 0.1; i=$((i + 1))
done
sleep 0.3
results >"$T/results"
kill -TERM $wpid
wait $wpid
[ $? -eq 0 ] && pass "worker stops on SIGTERM" || fail "worker exit"
NA7=$(/usr/bin/python3 -c 'import json,sys; print([json.loads(l)["not_after"] for l in sys.stdin][6])' <"$T/jobs.jsonl")

/usr/bin/python3 - "$T/results" "$T/http.log" "$T/jobs.jsonl" "$NA7" "$LATE_MAX" <<'EOP' && pass "every lead as the profile says, every reply classified" || fail "see above; results: $(cat "$T/results")"
import json, sys, time
res = dict(l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1]))
reqs = [json.loads(l) for l in open(sys.argv[2])]
jobs = {j["attempt_id"]: j for j in map(json.loads, open(sys.argv[3]))}
na7, late_max = int(sys.argv[4]), float(sys.argv[5])
bad = []
def check(c, what):
    if not c:
        bad.append(what)
def st(a):
    return res.get(str(a), "none").split(" ", 1)[0]
def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
posts = {}
for r in reqs:
    if r["method"] == "POST":
        posts.setdefault(json.loads(r["body"])["reference"], []).append(r)
# 1: the whole lead
p = posts.get("1", [None])[0]
check(p is not None, "a lead for attempt 1")
if p:
    b, j = json.loads(p["body"]), jobs[1]
    check(p["path"] == "/api/v1/campaigns/collect/leads", "path %s" % p["path"])
    check(p["auth"] == "Bearer tk-test", "bearer token")
    check(p["idem"] == "2026-12-09:D1:1", "idempotency key %r" % p["idem"])
    check(p["ctype"] == "application/json", "content type")
    want = {"phone": "+34600000100", "reference": "1", "customer": "D1", "name": "Ana Garc\u00eda",
            "call_from": iso(j["not_before"]), "call_until": iso(j["not_after"]),
            "agent_note": j["inputs"]["brief_text"], "brief": j["inputs"]["brief"]}
    for k, v in want.items():
        check(b.get(k) == v, "attempt 1 %s=%r, expected %r" % (k, b.get(k), v))
    check(set(b) == set(want), "attempt 1 keys %s" % sorted(b))
check(st(1) == "sent" and res["1"].split(" ", 1)[1].startswith("L-"), "attempt 1 sent: %s" % res.get("1"))
# 2: no brief in the job: the members are null
p = posts.get("2", [None])[0]
if p:
    b = json.loads(p["body"])
    check(b["brief"] is None and b["agent_note"] is None and b["name"] == "Ana Garc\u00eda",
          "attempt 2 without a brief: %r" % b)
check(st(2) == "sent", "attempt 2 sent")
check(st(3) == "opted_out" and "code dnc" in res["3"], "attempt 3 DNC: %s" % res.get("3"))
check(st(4) == "invalid_address", "attempt 4 invalid number: %s" % res.get("4"))
check(st(5) in ("none", "retry") and len(posts.get("5", [])) == 1, "attempt 5 waits (429): %s" % res.get("5"))
check(st(6) == "sent" and len(posts.get("6", [])) == 2, "attempt 6 sent after a 503: %s" % res.get("6"))
# 7: its window closed undialled: DELETE after not_after; 8 dialled: 409, left alone
lead = {a: res[str(a)].split(" ", 1)[1] for a in (7, 8) if st(a) == "sent"}
dels = {r["path"].rsplit("/", 1)[-1]: r for r in reqs if r["method"] == "DELETE"}
check(set(dels) == set(lead.values()) and len(dels) == 2, "withdrawals %s for %s" % (sorted(dels), lead))
if 7 in lead and lead[7] in dels:
    d = dels[lead[7]]
    check(d["auth"] == "Bearer tk-test", "the withdrawal is authenticated")
    late = d["t"] - na7
    check(-0.05 < late < late_max, "withdrawal %.2f s after not_after" % late)
for x in bad:
    print("  " + x, file=sys.stderr)
sys.exit(1 if bad else 0)
EOP
expect_grep "\[channel:http-sms:dialer\] lead L-[0-9]* (attempt 7) withdrawn undialled" "$T/w.err" \
    "an undialled lead is withdrawn at window close"
expect_grep "lead L-[0-9]* (attempt 8) not withdrawn at window close (HTTP 409): dialled already" \
    "$T/w.err" "a dialled lead is left alone"
# 1, 2 and 6 were accepted with two hours left: their withdrawal dies with the worker
expect_grep "\[channel:http-sms:dialer\] 3 lead(s) stay with the dialer past shutdown" "$T/w.err" \
    "the leads a shutdown leaves behind are counted"
if grep -q "tk-test" "$T/w.err"; then fail "the token was logged"; else pass "no token logged"; fi
finish
