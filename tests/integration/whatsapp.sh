#!/bin/sh
# The whatsapp channel end to end: a worker with a real Redis POSTs
# template messages to a loopback server shaped like the WhatsApp Cloud
# API ({phone_number_id}/messages, bearer token, Graph error bodies).
# Checks the requests (path, headers, the whole JSON body: template name
# through template_map, language from the locale, body parameters in
# order, the signed link, the idempotency key as callback data) and how
# each answer was classified (the results stream): sent with
# messages[0].id, 131026 invalid address, 131048 retried then sent, 429
# with Retry-After waiting, 132001 failed and logged once, a reply slower
# than the timeout and a 500 retried, a bad token failed.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/queue-redis.sh"

CFG="$T/cadenza.yaml"
mkdir -p "$T/no-strategies"
HPORT=$(free_port)
head -c 48 /dev/urandom | base64 >"$T/link.key"
chmod 600 "$T/link.key"
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
links:
  base_url: https://pay.example.com
  keys: { k1: { secret_file: $T/link.key } }
channels:
$1
EOC
    export CADENZA_CONFIG="$CFG"
}

# --- the config map -----------------------------------------------------------
config "  bot:
    plugin: whatsapp
    kind: chat
    settings: { phone_number_id: '123', tokn: x }"
expect_exit 1 "validate: the whatsapp config map" -- cz validate
expect_grep "unknown key 'tokn' in settings of channel 'bot' (plugin 'whatsapp'); did you mean 'token'?" \
    "$T/err" "an unknown key with did-you-mean"
expect_grep "plugin 'whatsapp' needs setting 'token'" "$T/err" "the token is required"

# --- the loopback Cloud API -------------------------------------------------------
/usr/bin/python3 - "$HPORT" "$T/http.log" <<'EOP' &
import http.server, json, sys, time, threading
port, log = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
seen = {}
n = [0]
def err(code, msg):
    return {"error": {"message": "(#%d) %s" % (code, msg), "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": msg},
                      "fbtrace_id": "AbCdEf"}}
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, status, obj, headers=()):
        out = json.dumps(obj).encode() if obj is not None else b"oops"
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            with open(log, "a") as f:
                f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                                    "ctype": self.headers.get("Content-Type"),
                                    "body": body.decode()}) + "\n")
            if self.headers.get("Authorization") != "Bearer tok-123":
                return self.answer(401, err(190, "Access token has expired"))
            if self.path != "/v21.0/PNID42/messages":
                return self.answer(404, err(100, "Unknown path"))
            m = json.loads(body)
            to = m["to"]
            first = to not in seen
            seen[to] = seen.get(to, 0) + 1
            n[0] += 1
            k = n[0]
        tail = to[-2:]
        if tail == "01":
            return self.answer(400, err(131026, "Message Undeliverable"))
        if tail == "02" and first:
            return self.answer(400, err(131048, "Spam rate limit hit"))
        if tail == "03":
            return self.answer(429, err(130429, "Rate limit hit"), [("Retry-After", "3600")])
        if tail == "04":
            return self.answer(404, err(132001, "Template name does not exist in the translation"))
        if tail == "05" and first:
            time.sleep(3)     # slower than the channel's timeout
        if tail == "06" and first:
            return self.answer(500, None)
        self.answer(200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                          "messages": [{"id": "wamid.%s.%d" % (to, k)}]})
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True
srv = S(("127.0.0.1", port), H)
threading.Timer(90, srv.shutdown).start()  # bounded
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
    plugin: whatsapp
    kind: chat
    settings:
      base_url: 'http://127.0.0.1:$HPORT/v21.0/'
      phone_number_id: PNID42
      token: tok-123
      template_map: 'early-bot=payment_reminder_v2'
      language_map: 'es=es,en=en_US'
      default_language: en
      body_params: 'name,amount,due_date,self_service_url'
      timeout_ms: 1000
  bot2:
    plugin: whatsapp
    kind: chat
    settings:
      base_url: 'http://127.0.0.1:$HPORT/v21.0'
      phone_number_id: PNID42
      token: wrong
      template: payment_reminder_v2"
expect_exit 0 "plugins whatsapp: its settings" -- cz plugins whatsapp
expect_grep "token .*secret, required" "$T/out" "the token is a secret"

/usr/bin/python3 - >"$T/jobs.jsonl" <<'EOP'
import json, time
now = int(time.time())
# attempt, number, locale, template, channel
jobs = [(1, "+34600000100", "es-ES", "early-bot", "bot"), (2, "+55110000100", "pt-BR", "mid-bot", "bot"),
        (3, "+447700900100", None, "early-bot", "bot"), (4, "+34600000001", "es-ES", "early-bot", "bot"),
        (5, "+34600000002", "es-ES", "early-bot", "bot"), (6, "+34600000003", "es-ES", "early-bot", "bot"),
        (7, "+34600000004", "es-ES", "early-bot", "bot"), (8, "+34600000104", "es-ES", "early-bot", "bot"),
        (9, "+34600000005", "es-ES", "early-bot", "bot"), (10, "+34600000006", "es-ES", "early-bot", "bot"),
        (11, "not-a-number", "es-ES", "early-bot", "bot"),
        (21, "+34600000200", "es-ES", "early-bot", "bot2"), (22, "+34600000300", "es-ES", "early-bot", "bot2")]
for aid, addr, loc, tpl, ch in jobs:
    inputs = {"name": "Jos\u00e9 \"Pepe\" N\u00fa\u00f1ez", "amount": "1234.56", "currency": "EUR",
              "due_date": "2026-11-20"}
    print(json.dumps({
        "attempt_id": aid, "idempotency_key": "ik-%d" % aid, "debtor_id": "D%d" % aid,
        "channel": ch, "channel_kind": "chat", "address": addr, "template": tpl, "inputs": inputs,
        "time_zone": "Europe/Madrid", "locale": loc, "not_before": now - 1,
        "not_after": now + 7200, "windows": [[now - 60, now + 7200]], "attempt": 1}))
EOP
expect_exit 0 "enqueue 13 chat attempts" -- cz queue enqueue "$T/jobs.jsonl"
czbg -v worker --retry-base 200 2>"$T/w.err" &
wpid=$!

results() { results_stream --latest; }
# every attempt settled but 6, which waits for its Retry-After
i=0
while [ $i -lt 150 ]; do
    results >"$T/results"
    [ "$(grep -vc '^6 ' "$T/results")" -ge 12 ] && ! grep -v '^6 ' "$T/results" | grep -q '^[0-9]* retry' &&
        break
    sleep 0.1; i=$((i + 1))
done
results >"$T/results"
cz queue stats --format json >"$T/stats.json" 2>/dev/null
kill -TERM $wpid
wait $wpid
[ $? -eq 0 ] && pass "worker stops on SIGTERM" || fail "worker exit"

/usr/bin/python3 - "$T/results" "$T/http.log" "$T/stats.json" <<'EOP' && pass "every attempt classified, every request as the API wants it" || fail "see above; results: $(cat "$T/results")"
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
def info(a):
    return res.get(str(a), " ").split(" ", 1)[1]
def to(r):
    return json.loads(r["body"])["to"]
def reqs_for(number):
    return [r for r in reqs if to(r) == number.lstrip("+")]

r1 = reqs_for("+34600000100")
check(len(r1) == 1, "one request for attempt 1")
if r1:
    r = r1[0]
    check(r["path"] == "/v21.0/PNID42/messages", "path %s" % r["path"])
    check(r["auth"] == "Bearer tok-123", "bearer token")
    check(r["ctype"] == "application/json", "content type")
    b = json.loads(r["body"])
    check(b["messaging_product"] == "whatsapp" and b["type"] == "template" and
          b["recipient_type"] == "individual", "message shape: %s" % b)
    check(b["to"] == "34600000100", "to without '+': %s" % b["to"])
    check(b["biz_opaque_callback_data"] == "ik-1", "the idempotency key as callback data")
    t = b["template"]
    check(t["name"] == "payment_reminder_v2", "template_map: %s" % t["name"])
    check(t["language"] == {"code": "es"}, "language from the locale: %s" % t["language"])
    p = [x["text"] for x in t["components"][0]["parameters"]]
    check(t["components"][0]["type"] == "body" and len(p) == 4, "four body parameters: %s" % p)
    check(p[:3] == ["Jos\u00e9 \"Pepe\" N\u00fa\u00f1ez", "1234.56", "2026-11-20"], "parameters in order: %s" % p)
    check(p[3].startswith("https://pay.example.com/s/v1.k1."), "the signed link: %s" % p[3])
check(st(1) == "sent" and info(1).startswith("wamid.34600000100."), "attempt 1 sent with the id: %s" % res.get("1"))
r2 = reqs_for("+55110000100")
check(r2 and json.loads(r2[0]["body"])["template"]["name"] == "mid-bot", "an unmapped template keeps its name")
check(r2 and json.loads(r2[0]["body"])["template"]["language"]["code"] == "pt_BR", "pt-BR becomes pt_BR")
r3 = reqs_for("+447700900100")
check(r3 and json.loads(r3[0]["body"])["template"]["language"]["code"] == "en_US", "no locale: the default, mapped")
check(st(2) == "sent" and st(3) == "sent", "attempts 2 and 3 sent")
check(st(4) == "invalid_address" and "131026" in info(4), "131026 undeliverable: %s" % res.get("4"))
check(st(5) == "sent" and len(reqs_for("+34600000002")) == 2, "131048 retried, then sent: %s" % res.get("5"))
check(len(reqs_for("+34600000003")) == 1 and stats["bot"]["retrying"] == 1,
      "429 with Retry-After: tried once, waiting: %s" % stats["bot"])
check(st(7) == "failed" and st(8) == "failed" and "132001" in info(7), "132001 failed: %s" % res.get("7"))
check(st(9) == "sent" and len(reqs_for("+34600000005")) == 2, "a slow reply retried, then sent: %s" % res.get("9"))
check(st(10) == "sent" and len(reqs_for("+34600000006")) == 2, "a 500 retried, then sent: %s" % res.get("10"))
check(st(11) == "invalid_address" and not reqs_for("not-a-number"), "a bad number never sent: %s" % res.get("11"))
check(st(21) == "failed" and "190" in info(21) and st(22) == "failed", "a bad token fails: %s" % res.get("21"))
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOP
n=$(grep -c "configuration error: whatsapp: error 132001" "$T/w.err")
[ "$n" -eq 1 ] && pass "132001 logged once for two sends" || fail "132001 logged $n times"
n=$(grep -c "\[channel:whatsapp:bot2\] configuration error: whatsapp: error 190" "$T/w.err")
[ "$n" -eq 1 ] && pass "the bad token logged once" || fail "error 190 logged $n times"
if grep -q "tok-123" "$T/w.err"; then fail "the token was logged"; else pass "no token logged"; fi
finish
