#!/bin/sh
# The kannel plugin end to end: jobs go through a real Redis and `cadenza
# worker` to a real Kannel (bearerbox + smsbox) whose SMSC is an HTTP SMSC
# (`smsc = http`, `system-type = generic`) pointed at a loopback server
# this test owns.  The text must arrive intact, ñ and € included, in GSM-7
# and in UCS-2; the SMSC's delivery reports must come back to the dlr-url
# with the attempt id and the token; a bad password fails the attempt and a
# receiver Kannel refuses is an invalid address.
. "$SRCDIR/tests/integration/lib.sh"
if [ -n "${CADENZA_WRAP:-}" ]; then echo "timing test: skipped under valgrind"; exit 77; fi
command -v bearerbox >/dev/null && command -v smsbox >/dev/null ||
    { echo "kannel not installed, skipping"; exit 77; }
. "$SRCDIR/tests/integration/queue-redis.sh"
start_redis

# free ports: bearerbox admin and smsbox ports, the HTTP SMSC's receive port
# (it binds 0.0.0.0), smsbox's sendsms port, our SMSC and our DLR listener
APORT=$(free_port); BPORT=$(free_port); HPORT=$(free_port)
SPORT=$(free_port); FPORT=$(free_port); DPORT=$(free_port)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    stop_redis
    rm -rf "$T"
}
trap cleanup EXIT INT TERM

# wait_port PORT WHAT: until something listens on 127.0.0.1:PORT (10 s at most)
wait_port() {
    i=0
    until /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 200 ] && { echo "$2 did not start" >&2; exit 1; }
        sleep 0.05
    done
}

# --- our SMSC and our delivery-report webhook ---------------------------------
# The SMSC records each message (text decoded with the charset Kannel names),
# answers "OK <id>", and 0.3 s later reports it delivered to Kannel's
# receive port.  The webhook records every dlr-url call.
cat >"$T/peer.py" <<'EOP'
import itertools, json, sys, threading, time, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
fport, dport, hport, out = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
ids, lock = itertools.count(1), threading.Lock()

def record(name, obj):
    with lock, open(out + "/" + name, "a") as f:
        f.write(json.dumps(obj) + "\n")

def deliver(mid, to):
    time.sleep(0.3)
    q = urllib.parse.urlencode({"username": "dlruser", "password": "dlrpass", "dlr-mid": mid,
                                "dlr-mask": "1", "to": to})
    urllib.request.urlopen("http://127.0.0.1:%d/?%s" % (hport, q), timeout=5).read()

class Smsc(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True,
                                  encoding="latin-1")
        raw = q["text"][0].encode("latin-1")
        charset = q["charset"][0] or "UTF-8"
        mid = "m%d" % next(ids)
        # a segment of a long text: its number from the concatenation UDH
        # (IE 00, 8-bit reference, or IE 08, 16-bit); segments may come in any order
        udh = q.get("udh", [""])[0].encode("latin-1")
        seq = 1
        if len(udh) >= 6 and udh[1] == 0x00:
            seq = udh[5]
        elif len(udh) >= 7 and udh[1] == 0x08:
            seq = udh[6]
        record("smsc.log", {"to": q["to"][0], "from": q["from"][0], "coding": q["coding"][0],
                            "charset": charset, "text": raw.decode(charset), "mid": mid,
                            "seq": seq})
        body = ("OK %s" % mid).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        threading.Thread(target=deliver, args=(mid, q["to"][0]), daemon=True).start()

class Dlr(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        record("dlr.log", {"path": u.path, "q": dict(urllib.parse.parse_qsl(u.query))})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

for port, h in ((fport, Smsc), (dport, Dlr)):
    s = ThreadingHTTPServer(("127.0.0.1", port), h)
    s.daemon_threads = True
    threading.Thread(target=s.serve_forever, daemon=True).start()
threading.Event().wait()
EOP
/usr/bin/python3 "$T/peer.py" "$FPORT" "$DPORT" "$HPORT" "$T" 2>"$T/peer.err" &
PIDS="$PIDS $!"
wait_port "$FPORT" "the SMSC"
wait_port "$DPORT" "the DLR listener"

# --- Kannel -----------------------------------------------------------------
cat >"$T/kannel.conf" <<EOK
group = core
admin-port = $APORT
admin-password = adminpass
smsbox-port = $BPORT
box-allow-ip = 127.0.0.1
log-file = "$T/bearerbox.log"
log-level = 1
dlr-storage = internal

group = smsc
smsc = http
smsc-id = loop
system-type = generic
port = $HPORT
connect-allow-ip = 127.0.0.1
smsc-username = dlruser
smsc-password = dlrpass
send-url = "http://127.0.0.1:$FPORT/send?to=%p&from=%P&text=%b&coding=%c&charset=%C&udh=%u"
status-success-regex = "^OK"
generic-foreign-id-regex = "^OK ([a-z0-9]+)"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $BPORT
sendsms-port = $SPORT
log-file = "$T/smsbox.log"
log-level = 1

group = sendsms-user
username = cadenza
password = s3cret
max-messages = 10
concatenation = true
EOK
bearerbox "$T/kannel.conf" >"$T/bearerbox.out" 2>&1 &
PIDS="$PIDS $!"
wait_port "$BPORT" "bearerbox" # smsbox exits when bearerbox is not listening yet
smsbox "$T/kannel.conf" >"$T/smsbox.out" 2>&1 &
PIDS="$PIDS $!"
wait_port "$SPORT" "smsbox"

# --- cadenza ------------------------------------------------------------------
CFG="$T/cadenza.yaml"
cat >"$CFG" <<EOC
redis:
  url: redis://127.0.0.1:$RPORT
  prefix: "cz:"
paths:
  strategies: $T/no-strategies
  profiles: $SRCDIR/config/profiles
  holidays: $SRCDIR/config/holidays
  templates: $SRCDIR/config/templates
channels:
  sms:
    plugin: kannel
    kind: sms
    settings:
      url: http://127.0.0.1:$SPORT/cgi-bin/sendsms
      username: cadenza
      password: s3cret
      from: ACME
      dlr_url: http://127.0.0.1:$DPORT/dlr
      dlr_token: tok-42
  sms-badpw:
    plugin: kannel
    kind: sms
    settings:
      url: http://127.0.0.1:$SPORT/cgi-bin/sendsms
      username: cadenza
      password: wrong
EOC
mkdir -p "$T/no-strategies"
export CADENZA_CONFIG="$CFG"
export CADENZA_STORE="$T/none/cadenza.db"
expect_exit 0 "validate" -- cz validate

# jobs CHANNEL ATTEMPT:ADDRESS:NAME... : Spanish reminders (the amount in €)
jobs() {
    /usr/bin/python3 - "$@" <<'EOP'
import json, sys, time
ch, now = sys.argv[1], int(time.time())
for spec in sys.argv[2:]:
    aid, addr, name = spec.split(":")
    print(json.dumps({
        "attempt_id": int(aid), "idempotency_key": "ik-" + aid, "debtor_id": "D" + aid,
        "channel": ch, "channel_kind": "sms", "address": addr, "template": "reminder-sms",
        "inputs": {"name": name, "amount": "1234.56", "currency": "EUR",
                   "due_date": "2026-12-31", "creditor": "Acme"}, "locale": "es",
        "time_zone": "Europe/Madrid", "not_before": now - 1, "not_after": now + 7200,
        "windows": [[now - 60, now + 7200]], "attempt": 1, "tier": 1}))
EOP
}

# results: "attempt status info" per result in the stream, oldest first
results() { results_stream; }

{
    jobs sms "1:+34600111001:Peña" "2:+34600111002:Şule" "3:+34600111003:Iñaki" "4:abc:Peña"
    jobs sms-badpw "5:+34600111005:Peña" "6:+34600111006:Peña"
} >"$T/jobs.jsonl"
expect_exit 0 "enqueue 6 jobs" -- cz queue enqueue "$T/jobs.jsonl"
czt -v worker --until-idle 1 2>"$T/w.err"
wrc=$?
results >"$T/r"
[ $wrc -eq 0 ] && pass "the worker drains the queue and exits 0" ||
    { fail "worker exit $wrc"; tail -5 "$T/w.err" >&2; }
if grep -q "runtime error\|Sanitizer" "$T/w.err"; then fail "sanitizer report"; grep -A5 "runtime error\|Sanitizer" "$T/w.err" >&2; fi
for a in 1 2 3; do
    grep -q "^$a sent" "$T/r" && pass "attempt $a accepted by Kannel" ||
        fail "attempt $a: $(grep "^$a " "$T/r")"
done
grep -q "^4 invalid_address .*denied by white- and/or black-lists" "$T/r" &&
    pass "a receiver Kannel refuses is an invalid address" || fail "attempt 4: $(grep '^4 ' "$T/r")"
grep -q "^5 failed sendsms answered 403: Authorization failed for sendsms" "$T/r" &&
    grep -q "^6 failed" "$T/r" && pass "a bad password fails the attempts" ||
    fail "attempts 5, 6: $(grep '^[56] ' "$T/r")"
[ "$(grep -c "kannel refused the credentials" "$T/w.err")" -eq 1 ] &&
    pass "the refused credentials are logged once" || fail "credential log lines: $(grep -c "kannel refused" "$T/w.err")"
if grep -q "s3cret\|wrong" "$T/w.err"; then fail "a password reached the log"; else pass "no password logged"; fi

# the SMSC got the three texts intact; the delivery reports came back
i=0
while [ $i -lt 100 ]; do
    [ "$(grep -c '"type": "1"' "$T/dlr.log" 2>/dev/null)" -ge 3 ] && break
    sleep 0.1; i=$((i + 1))
done
/usr/bin/python3 - "$T/smsc.log" "$T/dlr.log" <<'EOP' && pass "texts intact (GSM-7 and UCS-2) and delivery reports at the dlr-url" ||
import json, sys
# a long UCS-2 text reaches the SMSC in segments: join them in their order
msgs, seqs = {}, {}
for m in sorted(map(json.loads, open(sys.argv[1])), key=lambda m: m["seq"]):
    seqs.setdefault(m["to"], []).append(m["seq"])
    if m["to"] in msgs:
        msgs[m["to"]]["text"] += m["text"]
    else:
        msgs[m["to"]] = m
assert seqs["+34600111002"] == [1, 2], seqs
assert set(msgs) == {"+34600111001", "+34600111002", "+34600111003"}, sorted(msgs)
for to, name in (("+34600111001", "Peña"), ("+34600111002", "Şule"), ("+34600111003", "Iñaki")):
    m = msgs[to]
    assert m["from"] == "ACME", m
    assert m["text"].startswith("Acme: hola %s, 1.234,56 € vence el 31/12/2026." % name), m["text"]
# ñ and € are GSM 03.38: 7-bit; Ş is not: UCS-2
assert msgs["+34600111001"]["coding"] == "0" and msgs["+34600111003"]["coding"] == "0", msgs
assert msgs["+34600111002"]["coding"] == "2", msgs["+34600111002"]
dlrs = [json.loads(l) for l in open(sys.argv[2])]
for d in dlrs:
    assert d["path"] == "/dlr" and d["q"].get("token") == "tok-42", d
delivered = sorted(set(d["q"]["attempt"] for d in dlrs if d["q"].get("type") == "1"))
assert delivered == ["1", "2", "3"], dlrs
EOP
    { fail "texts and delivery reports"; cat "$T/smsc.log" "$T/dlr.log" >&2; }

finish
