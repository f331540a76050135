#!/bin/sh
# The http-sms plugin end to end: jobs go through a real Redis and
# `cadenza worker` to a loopback HTTP provider this test owns, speaking
# both shipped profiles (plugins/http-sms/profiles/, read from the source
# tree so the documented files are the ones tested).  Covered: the request
# each profile builds (auth, encodings, text with ñ and €, the idempotency
# key and status callback), accepted messages with their provider id,
# connection refused, a timeout, a reply slower than the lease margin (sent
# once), 429 with Retry-After honoured, 5xx, an invalid address and an
# unsubscribed recipient (opted out).
. "$SRCDIR/tests/integration/lib.sh"
# Retry-After and lease timings are measured in real time; valgrind's
# slowdown would measure itself (the plugin runs under valgrind in the
# unit test, test-sms).
if [ -n "${CADENZA_WRAP:-}" ]; then echo "timing test: skipped under valgrind"; exit 77; fi
. "$SRCDIR/tests/integration/queue-redis.sh"
start_redis

PPORT=$(free_port) # the provider
DPORT=$(free_port) # nothing listens here: connection refused
PROV_PID=
stop_provider() { [ -n "$PROV_PID" ] && kill "$PROV_PID" 2>/dev/null && wait "$PROV_PID" 2>/dev/null; PROV_PID=; }
trap 'stop_provider; stop_redis; rm -rf "$T"' EXIT INT TERM

# --- the provider -----------------------------------------------------------
# One JSON line per request in provider.log.  The answer depends on the
# last two digits of the recipient and on how often it was asked before.
cat >"$T/provider.py" <<'EOP'
import base64, json, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, log = int(sys.argv[1]), sys.argv[2]
seen, lock = {}, threading.Lock()

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        form = self.path.endswith("/Messages.json")
        if form:
            f = urllib.parse.parse_qs(raw.decode(), keep_blank_values=True, strict_parsing=True)
            msg = {k: v[0] for k, v in f.items()}
            to, text = msg["To"], msg["Body"]
        else:
            msg = json.loads(raw)
            to, text = msg["to"], msg["text"]
        with lock:
            n = seen.get(to, 0)
            seen[to] = n + 1
            rec = {"t": time.time(), "path": self.path, "to": to, "text": text, "n": n,
                   "msg": msg, "ctype": self.headers.get("Content-Type"),
                   "auth": self.headers.get("Authorization"),
                   "idem": self.headers.get("Idempotency-Key")}
            with open(log, "a") as out:
                out.write(json.dumps(rec) + "\n")
        case = to[-2:]
        if form:
            if case == "02":
                return self.reply(400, {"code": 21211, "status": 400,
                                        "message": "The 'To' number is not a valid phone number."})
            if case == "03":
                return self.reply(400, {"code": 21610, "status": 400,
                                        "message": "Attempt to send to unsubscribed recipient"})
            if case == "04" and n == 0:
                return self.reply(429, {"code": 20429, "status": 429, "message": "Too Many Requests"},
                                  [("Retry-After", "5")])
            if case == "05" and n == 0:
                return self.reply(503, {"code": 20500, "status": 503, "message": "Service Unavailable"})
            if case == "06" and n == 0:
                time.sleep(4.5) # past the channel's timeout_ms
            if case == "07":
                time.sleep(2.5) # past the lease itself (2 s), within timeout_ms
            return self.reply(201, {"sid": "SM%s%d" % (to[1:], n), "status": "queued",
                                    "error_code": None})
        status = {"12": "1" if n == 0 else "0", "13": "6", "14": "3", "15": "7",
                  "16": "5" if n == 0 else "0"}.get(case, "0")
        m = {"to": to.lstrip("+"), "status": status}
        if status == "0":
            m["message-id"] = "0A%s%d" % (to[-4:], n)
        else:
            m["error-text"] = "status %s" % status
        return self.reply(200, {"message-count": "1", "messages": [m]})

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOP
/usr/bin/python3 "$T/provider.py" "$PPORT" "$T/provider.log" 2>"$T/provider.err" &
PROV_PID=$!
i=0
until /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$PPORT),0.2)" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "provider did not start" >&2; exit 1; }
    sleep 0.05
done

# --- configuration: the shipped profiles, pointed at the loopback provider ----
# profile FILE NAME URL-PREFIX: the profile's channel block renamed, its
# provider URL replaced and its timeout shortened for the test
profile() {
    sed -e '/^#/d' -e '/^channels:/d' -e "s/^  sms:/  $2:/" \
        -e "s#https://api.example.com#$3#" -e "s#https://rest.example.com#$3#" \
        -e "s#timeout_ms: 10000#timeout_ms: 3000#" \
        -e "s#https://cadenza.example.com/webhooks/sms-status#http://127.0.0.1:9/status#" \
        "$SRCDIR/plugins/http-sms/profiles/$1"
}
CFG="$T/cadenza.yaml"
{
    cat <<EOC
redis:
  url: redis://127.0.0.1:$RPORT
  prefix: "cz:"
paths:
  strategies: $T/no-strategies
  profiles: $SRCDIR/config/profiles
  holidays: $SRCDIR/config/holidays
  templates: $SRCDIR/config/templates
channels:
EOC
    profile form-basic.yaml sms-form "http://127.0.0.1:$PPORT"
    profile json-status.yaml sms-json "http://127.0.0.1:$PPORT"
    profile form-basic.yaml sms-down "http://127.0.0.1:$DPORT"
} >"$CFG"
mkdir -p "$T/no-strategies"
export CADENZA_CONFIG="$CFG"
export CADENZA_STORE="$T/none/cadenza.db"
expect_exit 0 "the shipped profiles validate" -- cz validate

# jobs CHANNEL SUFFIX... : one SMS job per recipient +3460011XXSS (Spanish
# template and inputs: the text has ñ and €)
jobs() {
    /usr/bin/python3 - "$@" <<'EOP'
import json, sys, time
ch, now = sys.argv[1], int(time.time())
for s in sys.argv[2:]:
    aid = int(s) * 10 + {"sms-form": 1, "sms-json": 2, "sms-down": 3}[ch]
    print(json.dumps({
        "attempt_id": aid, "idempotency_key": "ik-%d" % aid, "debtor_id": "D%d" % aid,
        "channel": ch, "channel_kind": "sms", "address": "+34600110%s" % s,
        "template": "reminder-sms",
        "inputs": {"name": "Peña", "amount": "1234.56", "currency": "EUR",
                   "due_date": "2026-12-31", "creditor": "Acme"}, "locale": "es",
        "time_zone": "Europe/Madrid", "not_before": now - 1, "not_after": now + 7200,
        "windows": [[now - 60, now + 7200]], "attempt": 1, "tier": 1}))
EOP
}

# results: "attempt status info" per result in the stream, oldest first
results() { results_stream; }

# --- one job first: the request the form profile builds --------------------------
jobs sms-form 01 >"$T/first.jsonl"
cz queue enqueue "$T/first.jsonl" >/dev/null
czt worker --until-idle 0.5 2>"$T/first.err" ||
    { fail "first worker run"; tail -5 "$T/first.err" >&2; }
results >"$T/r1"
expect_grep "^11 sent " "$T/r1" "form profile: accepted"
/usr/bin/python3 - "$T/provider.log" <<'EOP' && pass "form profile: the request as the profile says" ||
import base64, json, sys
r = [json.loads(l) for l in open(sys.argv[1])][0]
m = r["msg"]
assert r["path"] == "/2010-04-01/Accounts/AC0123456789/Messages.json", r["path"]
assert r["ctype"] == "application/x-www-form-urlencoded", r["ctype"]
assert r["auth"] == "Basic " + base64.b64encode(b"AC0123456789:change-me").decode(), r["auth"]
assert m["To"] == "+3460011001" and m["From"] == "+15005550006", m
assert m["StatusCallback"] == "http://127.0.0.1:9/status?attempt=11&token=change-me-too", m
t = m["Body"]
assert "Peña" in t and "1.234,56 €" in t and "Acme" in t, t
EOP
    { fail "form profile request"; cat "$T/provider.log" >&2; }

# --- everything else at once -------------------------------------------------
rcli DEL cz:results >/dev/null
: >"$T/provider.log"
{ jobs sms-form 02 03 04 05 06 07; jobs sms-json 11 12 13 14 15 16; jobs sms-down 01; } >"$T/j.jsonl"
expect_exit 0 "enqueue 13 jobs" -- cz queue enqueue "$T/j.jsonl"
# leases of 2 s renewed 1 s before they end: the 3 s reply outlives a lease
czbg -v worker --visibility-timeout 2 --lease-margin 1 --retry-base 200 --max-tries 3 \
    2>"$T/w.err" &
wpid=$!
# wait for every terminal result (sms-down ends as a dead letter after 3 tries)
i=0
while [ $i -lt 300 ]; do
    results >"$T/r"
    [ "$(awk '$2 != "retry"' "$T/r" | wc -l)" -ge 13 ] && break
    kill -0 $wpid 2>/dev/null || break
    sleep 0.1; i=$((i + 1))
done
kill -TERM $wpid; wait $wpid
rc=$?
[ $rc -eq 0 ] && pass "worker stops on SIGTERM" || fail "worker exit $rc"
if grep -q "runtime error\|Sanitizer" "$T/w.err" "$T/first.err"; then
    fail "sanitizer report"; grep -A5 "runtime error\|Sanitizer" "$T/w.err" "$T/first.err" >&2
fi

# check ATTEMPT STATUS INFO-PATTERN DESCRIPTION: the last result of an attempt
check() {
    got=$(awk -v a="$1" '$1 == a' "$T/r" | tail -n 1)
    case "$got" in
    "$1 $2"*) if echo "$got" | grep -q -- "$3"; then pass "$4"; else fail "$4: '$got'"; fi ;;
    *) fail "$4: last result '$got', expected $2" ;;
    esac
}
check 21 invalid_address "HTTP 400 code 21211: The 'To' number is not a valid phone number." \
    "form: 21211 is an invalid address, with the provider's words"
check 31 opted_out "code 21610" "form: 21610 (unsubscribed) is an opt-out"
check 41 sent "" "form: sent after a 429"
check 51 sent "" "form: sent after a 503"
check 61 sent "" "form: sent after a timeout"
check 71 sent "" "form: a reply slower than the lease margin is sent"
check 112 sent "" "json: status 0 is sent"
check 122 sent "" "json: sent after status 1 (throttled)"
check 132 invalid_address "HTTP 200 code 6: status 6" "json: status 6 is an invalid address"
check 142 invalid_address "code 3" "json: status 3 is an invalid address"
check 152 invalid_address "code 7" "json: status 7 is an invalid address"
check 162 sent "" "json: sent after status 5 (internal error)"
check 13 dead "" "refused connections: retried, then a dead letter"
grep "^41 retry" "$T/r" | grep -q "HTTP 429 code 20429: Too Many Requests" &&
    pass "429: a retry with the provider's words" || fail "429 retry: $(grep '^41 ' "$T/r")"
grep "^51 retry" "$T/r" | grep -q "HTTP 503" && pass "503: a retry" || fail "503: $(grep '^51 ' "$T/r")"
grep "^61 retry" "$T/r" | grep -qi "no reply: .*time" && pass "timeout: a retry" ||
    fail "timeout: $(grep '^61 ' "$T/r")"
[ "$(grep -c '^13 retry' "$T/r")" -eq 2 ] && grep "^13 retry" "$T/r" | grep -qi "no reply: .*connect" &&
    pass "connection refused: two retries, then dead" || fail "refused: $(grep '^13 ' "$T/r")"

/usr/bin/python3 - "$T/provider.log" <<'EOP' && pass "provider side: tries, Retry-After, one send per lease" ||
import collections, json, sys
reqs = collections.defaultdict(list)
for l in open(sys.argv[1]):
    r = json.loads(l)
    reqs[r["to"]].append(r)
def n(to): return len(reqs[to])
# one request where one answer settles it, two where the first was transient
for s, want in (("02", 1), ("03", 1), ("04", 2), ("05", 2), ("06", 2), ("07", 1),
                ("11", 1), ("12", 2), ("13", 1), ("14", 1), ("15", 1), ("16", 2)):
    assert n("+34600110" + s) == want, (s, n("+34600110" + s), want)
# Retry-After: 5 on the 429: not asked again sooner, though the backoff is
# 200 ms; the 503 of the same batch, without Retry-After, came back sooner
# (a batch settles when its slowest send does: the 3 s timeout here)
g429 = reqs["+3460011004"][1]["t"] - reqs["+3460011004"][0]["t"]
g503 = reqs["+3460011005"][1]["t"] - reqs["+3460011005"][0]["t"]
assert g429 >= 4.9 and g503 < g429 - 1, (g429, g503)
# the JSON profile: a JSON body with the text intact and the idempotency key header
for s in ("11", "12"):
    r = reqs["+34600110" + s][0]
    assert r["ctype"] == "application/json", r["ctype"]
    assert r["idem"] == "ik-%d" % (int(s) * 10 + 2), r["idem"]
    m = r["msg"]
    assert m["from"] == "ACME" and m["type"] == "unicode", m
    assert m["client-ref"] == str(int(s) * 10 + 2), m
    assert "Peña" in m["text"] and "1.234,56 €" in m["text"], m["text"]
EOP
    { fail "provider side"; cat "$T/provider.log" >&2; }
if grep -q "change-me" "$T/w.err"; then fail "a secret reached the log"; else pass "no secret logged"; fi

finish
