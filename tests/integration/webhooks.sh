#!/bin/sh
# `cadenza serve`'s WhatsApp webhooks and inbound messages end to end, with
# a real redis-server and a loopback provider (python3) that takes the
# channels' sends: Meta's hub.challenge (right and wrong token), signed,
# unsigned and badly signed POSTs, malformed and oversized bodies (refused,
# nothing stored), statuses[] becoming outcomes of the attempts they name
# (once each), messages[] with STOP revoking consent on every automated
# channel of every debtor with that number (suppressions, stop markers, a
# queued job cancelled) with exactly one confirmation however often STOP
# comes, Spanish BAJA through a Kannel MO, a Twilio-style signed STOP, a
# reply that is no STOP, and a number nobody has.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/queue-redis.sh"

start_redis
# another test may have taken the port between free_port and the start
[ "$(rcli INFO server | tr -d '\r' | sed -n 's/^process_id://p')" = "$RPID" ] \
    || { echo "the Redis on port $RPORT is not the one this test started" >&2; exit 1; }
HPORT=$(free_port)
PPORT=$(free_port)
mkdir -p "$T/strategies"
export CZ_SMS_AUTH=twilio-style-auth-token
export CZ_STATUS_TOKEN=st-42
export CZ_DLR_TOKEN=dlr-7f3c9a1e2b
export CZ_KANNEL_PASS=kpass
export CZ_WA_TOKEN=wa-access-token
export CZ_WA_VERIFY=verify-me-1
export CZ_WA_SECRET=app-secret-0123456789abcdef
CFG="$T/cadenza.yaml"
cat >"$CFG" <<EOC
store: $T/cadenza.db
redis:
  url: redis://127.0.0.1:$RPORT
  prefix: "cz:"
  timeout: 2
http:
  listen: 127.0.0.1:$HPORT
paths:
  strategies: $T/strategies
  templates: $SRCDIR/config/templates
defaults:
  country: US
channels:
  sms:
    plugin: log
    kind: sms
    settings: { path: $T/sends.log }
  sms-h:
    plugin: http-sms
    kind: sms
    settings: { url: "http://127.0.0.1:$PPORT/2010-04-01/Accounts/AC1/Messages.json",
                auth: basic, username: AC1, password: { env: CZ_SMS_AUTH },
                body: "To={to}&From={from}&Body={text}", from: "+15005550006",
                id_pointer: /sid,
                status_url: "https://cadenza.example.com/webhooks/sms-status",
                status_token: { env: CZ_STATUS_TOKEN },
                inbound_url: "https://cadenza.example.com/webhooks/sms-inbound" }
  sms-k:
    plugin: kannel
    kind: sms
    settings: { url: "http://127.0.0.1:$PPORT/cgi-bin/sendsms", username: cadenza,
                password: { env: CZ_KANNEL_PASS }, dlr_token: { env: CZ_DLR_TOKEN } }
  wa:
    plugin: whatsapp
    kind: chat
    settings: { base_url: "http://127.0.0.1:$PPORT/v21.0", phone_number_id: "106540352242922",
                token: { env: CZ_WA_TOKEN }, verify_token: { env: CZ_WA_VERIFY },
                app_secret: { env: CZ_WA_SECRET } }
EOC
export CADENZA_CONFIG="$CFG"
export CADENZA_STORE="$T/cadenza.db"
cz validate >"$T/validate.out" 2>&1 || fail "validate: $(cat "$T/validate.out")"

# DW1 and DW1B share a number; DW1's WhatsApp is that number too
cat >"$T/debtors.csv" <<'EOF'
id,name,locale,time_zone,country,email,phone,chat_handle,balance,currency,due_date,consent_sms,consent_chat,consent_call
DW1,Ann Lee,en-US,America/Los_Angeles,US,ann@example.com,+16505551234,+16505551234,120.00,USD,2026-12-01,yes,yes,yes
DW1B,Bob Lee,en-US,America/Los_Angeles,US,,+1 650 555 1234,,80.00,USD,2026-12-01,yes,,yes
DS1,Lucia Gomez,es-ES,Europe/Madrid,ES,,600000101,,300.00,EUR,2026-12-01,yes,,
DT1,Tom Hill,en-US,America/New_York,US,,+12025550111,,50.00,USD,2026-12-01,yes,,
DR1,Rita Ray,en-US,America/Chicago,US,,+13125550122,+13125550122,60.00,USD,2026-12-01,yes,yes,
EOF
cz import debtors "$T/debtors.csv" >/dev/null || fail "import debtors"
[ "$(sql 'PRAGMA user_version')" -ge 10 ] && pass "the store is at schema 10 or later" \
    || fail "schema $(sql 'PRAGMA user_version')"
[ "$(sql "SELECT count(*) FROM sqlite_master WHERE name IN ('attempts_provider', 'debtors_phone', 'debtors_chat_handle')")" -eq 3 ] \
    && pass "... with the provider-id, phone and chat-handle indexes" || fail "indexes missing"

# --- the provider: records every send, answers each plugin's way ---
cat >"$T/provider.py" <<'EOP'
import itertools, json, sys, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, out = int(sys.argv[1]), sys.argv[2]
ids, lock = itertools.count(1), threading.Lock()

def record(obj):
    with lock, open(out, "a") as f:
        f.write(json.dumps(obj) + "\n")

class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self, code, body, ctype="application/json"):
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_GET(self):  # Kannel's sendsms
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        record({"via": "kannel", "to": q.get("to"), "text": q.get("text")})
        self.answer(202, "0: Accepted for delivery", "text/plain")
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        n = next(ids)
        if "/messages" in self.path:  # WhatsApp: a template, or a text inside the 24 hours
            j = json.loads(body)
            if j["type"] == "text":
                record({"via": "whatsapp", "to": j.get("to"), "text": j["text"]["body"],
                        "key": j.get("biz_opaque_callback_data")})
            else:
                record({"via": "whatsapp", "to": j.get("to"), "template": j["template"]["name"]})
            self.answer(200, json.dumps({"messages": [{"id": "wamid.sent%d" % n}]}))
        else:  # the http-sms form profile
            f = dict(urllib.parse.parse_qsl(body))
            record({"via": "http-sms", "to": f.get("To"), "text": f.get("Body")})
            self.answer(201, json.dumps({"sid": "SM%d" % n}))

ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOP
/usr/bin/python3 "$T/provider.py" "$PPORT" "$T/provider.log" &
PROV=$!

url() { echo "http://127.0.0.1:$HPORT$1"; }
wait_for() { # wait_for SECONDS COMMAND...: until it succeeds
    n=$(($1 * 20)); shift
    i=0
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -gt $n ] && return 1
        sleep 0.05
    done
}
outcomes() { sql "SELECT count(*) FROM outcomes"; }
suppressions() { sql "SELECT count(*) FROM suppressions"; }
sent_to() { # sent_to VIA NUMBER: the provider's sends of that plugin to that number
    [ -f "$T/provider.log" ] || { echo 0; return; }
    /usr/bin/python3 - "$T/provider.log" "$1" "$2" <<'EOP'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    n += r["via"] == sys.argv[2] and r["to"] == sys.argv[3]
print(n)
EOP
}

czbg serve 2>"$T/serve.err" &
SPID=$!
wait_for 60 curl -sf --max-time 10 "$(url /readyz)" \
    || fail "serve did not get ready: $(curl -s --max-time 10 "$(url /readyz)") $(tail -5 "$T/serve.err")"

# --- GET: Meta's verification of the callback URL ---
verify() { curl -s -o "$T/body" -w '%{http_code}' "$(url "/webhooks/whatsapp?$1")"; }
[ "$(verify "hub.mode=subscribe&hub.verify_token=$CZ_WA_VERIFY&hub.challenge=1158201444")" = 200 ] \
    && [ "$(cat "$T/body")" = 1158201444 ] && pass "hub.challenge answered with the verify token" \
    || fail "challenge: $(cat "$T/body")"
[ "$(verify "hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444")" = 403 ] \
    && grep -q '"error":"hub.verify_token does not match"' "$T/body" \
    && pass "a wrong verify token: 403" || fail "wrong verify token: $(cat "$T/body")"
[ "$(verify "hub.verify_token=$CZ_WA_VERIFY&hub.challenge=1")" = 400 ] \
    && grep -q "hub.mode must be 'subscribe'" "$T/body" && pass "no hub.mode: 400" \
    || fail "no mode: $(cat "$T/body")"
[ "$(verify "hub.mode=subscribe&hub.verify_token=$CZ_WA_VERIFY&hub.challenge=%3Cscript%3E")" = 400 ] \
    && pass "a challenge that is not a plain token: 400 (never reflected)" \
    || fail "odd challenge: $(cat "$T/body")"

# --- POST: signatures and shapes ---
# wa FILE [SECRET|-]: POST signed with SECRET (default the app secret; '-': unsigned)
wa() {
    if [ "${2:-}" = - ]; then
        set -- "$1"
        curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' \
            --data-binary "@$1" "$(url /webhooks/whatsapp)"
        return
    fi
    sig=$(/usr/bin/python3 -c 'import hashlib, hmac, sys
print("sha256=" + hmac.new(sys.argv[2].encode(), open(sys.argv[1], "rb").read(), hashlib.sha256).hexdigest())' \
        "$1" "${2:-$CZ_WA_SECRET}")
    curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' \
        -H "X-Hub-Signature-256: $sig" --data-binary "@$1" "$(url /webhooks/whatsapp)"
}
# wa_body KIND JSON-ITEMS > file: a Meta-shaped body with statuses or messages
wa_body() {
    cat <<EOJ
{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages",
 "value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
 "$1":[$2]}}]}]}
EOJ
}
# a WhatsApp text from NUMBER with message id ID
wa_text() {
    wa_body messages "{\"from\":\"$1\",\"id\":\"$2\",\"timestamp\":\"$(date +%s)\",\"type\":\"text\",\"text\":{\"body\":\"$3\"}}"
}

# attempts the whatsapp plugin sent (the drain stored their provider ids), one without yet
a1=$(sql "INSERT INTO attempts(debtor_id, idempotency_key, strategy, variant, tier, channel, channel_kind, scheduled_at, created_at, status, provider_id) SELECT id, 'ik-wa-1', 'early', 'a', 'bot', 'wa', 2, 0, 0, 2, 'wamid.A1' FROM debtors WHERE external_id = 'DR1'; SELECT last_insert_rowid();")
a2=$(sql "INSERT INTO attempts(debtor_id, idempotency_key, strategy, variant, tier, channel, channel_kind, scheduled_at, created_at, status) SELECT id, 'ik-wa-2', 'early', 'a', 'bot', 'wa', 2, 0, 0, 1 FROM debtors WHERE external_id = 'DR1'; SELECT last_insert_rowid();")
now=$(date +%s)
wa_body statuses "{\"id\":\"wamid.A1\",\"status\":\"delivered\",\"timestamp\":\"$now\",\"recipient_id\":\"13125550122\"}" >"$T/st1.json"

o0=$(outcomes)
[ "$(wa "$T/st1.json" -)" = 401 ] && grep -q '"error":"X-Hub-Signature-256 is missing' "$T/body" \
    && pass "unsigned POST: 401" || fail "unsigned: $(cat "$T/body")"
[ "$(wa "$T/st1.json" not-the-app-secret)" = 401 ] && grep -q 'X-Hub-Signature-256 does not match' "$T/body" \
    && pass "POST signed with another secret: 401" || fail "bad signature: $(cat "$T/body")"
code=$(curl -s -o "$T/body" -w '%{http_code}' -H 'X-Hub-Signature-256: sha1=abc' \
    --data-binary "@$T/st1.json" "$(url /webhooks/whatsapp)")
[ "$code" = 401 ] && grep -q "is not 'sha256=<64 hex digits>'" "$T/body" \
    && pass "a malformed signature header: 401 naming the form" || fail "malformed: $code $(cat "$T/body")"
printf '{"object":"whatsapp_business_account","entry":[' >"$T/broken.json"
[ "$(wa "$T/broken.json")" = 400 ] && grep -q 'invalid JSON at line 1' "$T/body" \
    && pass "signed broken JSON: 400 naming the place" || fail "broken JSON: $(cat "$T/body")"
wa_body statuses '{"status":"delivered"}' >"$T/shape.json"
[ "$(wa "$T/shape.json")" = 400 ] \
    && grep -q 'entry\[0\].changes\[0\].value.statuses\[0\].id: expected a non-empty string' "$T/body" \
    && pass "a status without an id: 400 naming the field" || fail "shape: $(cat "$T/body")"
/usr/bin/python3 -c 'import json; print(json.dumps({"object": "whatsapp_business_account", "entry": [], "pad": "x" * 600000}))' >"$T/big.json"
[ "$(wa "$T/big.json")" = 413 ] && grep -q '"error":"the body is over 512 KiB"' "$T/body" \
    && pass "an oversized body: 413 as JSON" || fail "oversized: $(cat "$T/body")"
[ "$(outcomes)" -eq "$o0" ] && pass "... and none of those stored anything" || fail "a refused request stored"

# --- statuses[] -> outcomes of the attempts they name ---
[ "$(wa "$T/st1.json")" = 200 ] && grep -q '"statuses_stored":1' "$T/body" \
    && pass "signed status 'delivered': stored" || fail "delivered: $(cat "$T/body")"
[ "$(wa "$T/st1.json")" = 200 ] && grep -q '"statuses_stored":0,"statuses_duplicate":1' "$T/body" \
    && pass "... the same status again: stored once" || fail "delivered again: $(cat "$T/body")"
wa_body statuses "{\"id\":\"wamid.A1\",\"status\":\"sent\",\"timestamp\":\"$now\"},
  {\"id\":\"wamid.A1\",\"status\":\"read\",\"timestamp\":\"$now\"},
  {\"id\":\"wamid.B2\",\"status\":\"failed\",\"timestamp\":\"$now\",\"biz_opaque_callback_data\":\"ik-wa-2\",
   \"errors\":[{\"code\":131026,\"title\":\"Message undeliverable\"}]},
  {\"id\":\"wamid.ELSEWHERE\",\"status\":\"delivered\",\"timestamp\":\"$now\"}" >"$T/st2.json"
[ "$(wa "$T/st2.json")" = 200 ] \
    && grep -q '"statuses_ignored":1,"statuses_stored":2,"statuses_duplicate":0,"statuses_unmatched":1' "$T/body" \
    && pass "sent ignored, read and failed stored, a stranger's message unmatched: 200" \
    || fail "statuses: $(cat "$T/body")"
rows=$(sql "SELECT group_concat(attempt_id || ':' || code || ':' || channel_kind, ',') FROM (SELECT attempt_id, code, channel_kind FROM outcomes WHERE source = 'whatsapp' ORDER BY id)")
[ "$rows" = "$a1:0:2,$a1:2:2,$a2:1:2" ] \
    && pass "... delivered and read (opened) on the attempt by provider id, the failure (131026: bounced) by our key" \
    || fail "status outcomes: '$rows'"

# --- messages[]: STOP revokes consent for every automated channel ---
# a job of DW1's, queued before the STOP, due a little later (more under valgrind,
# where enqueueing and the STOP take seconds)
delay=8; [ -n "${CADENZA_WRAP:-}" ] && delay=45
aq=$(sql "INSERT INTO attempts(debtor_id, idempotency_key, strategy, variant, tier, channel, channel_kind, scheduled_at, created_at, status) SELECT id, 'ik-q-1', 'early', 'a', 'digital', 'sms', 1, 0, 0, 1 FROM debtors WHERE external_id = 'DW1'; SELECT last_insert_rowid();")
due=$(($(date +%s) + delay))
/usr/bin/python3 - "$aq" "$due" >"$T/q.jsonl" <<'EOP'
import json, sys, time
now = int(time.time())
due = int(sys.argv[2])
print(json.dumps({"attempt_id": int(sys.argv[1]), "idempotency_key": "ik-q-1", "debtor_id": "DW1",
                  "channel": "sms", "channel_kind": "sms", "address": "+16505551234",
                  "template": "reminder-sms", "time_zone": "America/Los_Angeles",
                  "not_before": due, "not_after": now + 7200, "tier": 1, "attempt": 1,
                  "inputs": {"name": "Ann Lee", "amount": "120.00", "currency": "USD",
                             "due_date": "2026-12-01"}}))
EOP
cz queue enqueue "$T/q.jsonl" >/dev/null || fail "enqueue the queued job"
wa_text 16505551234 wamid.STOP1 'Stop' >"$T/m1.json"
[ "$(wa "$T/m1.json")" = 200 ] && grep -q '"messages_revoked":1' "$T/body" \
    && grep -q '"confirmations":1' "$T/body" && pass "WhatsApp 'Stop': consent revoked, one confirmation" \
    || fail "STOP: $(cat "$T/body")"
[ "$(date +%s)" -lt "$due" ] || fail "the STOP was answered after the queued job fell due: the test is too slow here"
rows=$(sql "SELECT group_concat(k, ',') FROM (SELECT s.channel_kind || ':' || s.address || ':' || d.external_id AS k FROM suppressions s JOIN debtors d ON d.id = s.debtor_id ORDER BY s.channel_kind, d.external_id)")
[ "$rows" = "1:+16505551234:DW1,2:+16505551234:DW1,3:+16505551234:DW1" ] \
    && pass "... the number suppressed on sms, chat and calls" || fail "suppressions: '$rows'"
rows=$(sql "SELECT group_concat(d.external_id || ':' || o.code || ':' || o.channel_kind, ',') FROM outcomes o JOIN debtors d ON d.id = o.debtor_id WHERE o.source = 'whatsapp' AND o.code = 10")
[ "$rows" = "DW1:10:2,DW1B:10:2" ] && pass "... an opt_out for both debtors with that number" \
    || fail "opt-outs: '$rows'"
[ "$(rcli EXISTS cz:stop:DW1)" = 1 ] && [ "$(rcli EXISTS cz:stop:DW1B)" = 1 ] \
    && pass "... and both debtors' stop markers" || fail "stop markers missing"
wait_for 120 sh -c "[ \"\$(sqlite3 '$T/cadenza.db' 'SELECT status FROM attempts WHERE id = $aq')\" = 4 ]" \
    && [ "$(sql "SELECT error FROM attempts WHERE id = $aq")" = "stopped: opt-out" ] \
    && pass "the queued job was cancelled by the stop marker" \
    || fail "queued job: $(sql "SELECT status, error FROM attempts WHERE id = $aq")"
[ ! -s "$T/sends.log" ] && pass "... and never sent" || fail "the queued job was sent"
one_confirmation() { [ "$(sent_to whatsapp 16505551234)" -ge 1 ]; }
wait_for 60 one_confirmation && pass "the confirmation reached the provider (WhatsApp)" \
    || fail "no confirmation sent: $(tail -3 "$T/serve.err")"
grep -q '"via": "whatsapp", "to": "16505551234", "text": "You are unsubscribed: no more automated texts, chats or calls will come to this number.", "key": "optout:wa:+16505551234:' "$T/provider.log" \
    && pass "... as a text reply with the opt-out-confirmation template's words (en)" \
    || fail "confirmation: $(cat "$T/provider.log")"
# again: a second STOP (another message) and the provider repeating the first
wa_text 16505551234 wamid.STOP2 'STOP' >"$T/m2.json"
[ "$(wa "$T/m2.json")" = 200 ] && grep -q '"messages_revoked_before":1' "$T/body" \
    && grep -q '"confirmations":0' "$T/body" && pass "STOP again: revoked already, no confirmation" \
    || fail "STOP again: $(cat "$T/body")"
[ "$(wa "$T/m1.json")" = 200 ] && grep -q '"messages_duplicate":1' "$T/body" \
    && pass "the first STOP repeated by the provider: a duplicate" || fail "repeat: $(cat "$T/body")"
sleep 1
[ "$(sent_to whatsapp 16505551234)" -eq 1 ] \
    && [ "$(sql "SELECT count(*) FROM attempts WHERE strategy = 'inbound'")" -eq 1 ] \
    && pass "exactly one confirmation for the revocation (one attempt, one send)" \
    || fail "confirmations: $(sent_to whatsapp 16505551234) sent, $(sql "SELECT count(*) FROM attempts WHERE strategy = 'inbound'") attempts"
[ "$(sql "SELECT count(*) FROM outcomes WHERE code = 10 AND source = 'whatsapp'")" -eq 4 ] \
    && pass "... the second STOP recorded as an opt_out too" || fail "opt-outs after the second STOP"

# --- Kannel MO: Spanish BAJA ---
mo() { curl -s -o "$T/body" -w '%{http_code}' -G --data-urlencode "token=$1" \
        --data-urlencode "from=$2" --data-urlencode "text=$3" "$(url /webhooks/kannel-mo)"; }
[ "$(mo "$CZ_DLR_TOKEN" 34600000101 'baja')" = 200 ] && grep -q '"messages_revoked":1' "$T/body" \
    && pass "Kannel MO 'baja' (Spanish): consent revoked" || fail "BAJA: $(cat "$T/body")"
[ "$(sql "SELECT group_concat(channel_kind, ',') FROM (SELECT channel_kind FROM suppressions WHERE address = '+34600000101' ORDER BY channel_kind)")" = "1,3" ] \
    && pass "... the number suppressed on sms and calls (the debtor has no chat)" \
    || fail "BAJA suppressions: $(sql "SELECT channel_kind, address FROM suppressions WHERE address = '+34600000101'")"
wait_for 60 sh -c "grep -q '\"via\": \"kannel\", \"to\": \"+34600000101\", \"text\": \"Baja confirmada' '$T/provider.log'" \
    && pass "... confirmed once through Kannel, in Spanish" || fail "no Kannel confirmation: $(cat "$T/provider.log")"
[ "$(mo wrong 34600000101 baja)" = 401 ] && pass "Kannel MO with a wrong token: 401" || fail "MO token"
[ "$(curl -s -o "$T/body" -w '%{http_code}' "$(url "/webhooks/kannel-mo?token=$CZ_DLR_TOKEN&text=x")")" = 400 ] \
    && grep -q 'from is missing' "$T/body" && pass "Kannel MO without a sender: 400" || fail "MO from"

# --- the http-sms form profile: a Twilio-style signed inbound STOP ---
# inbound FORM [SIGNATURE]: POST signed over inbound_url?token=T the provider's way
inbound() {
    sig=${2:-$(/usr/bin/python3 - "$1" <<'EOP'
import base64, hashlib, hmac, os, sys, urllib.parse
url = "https://cadenza.example.com/webhooks/sms-inbound?token=" + os.environ["CZ_STATUS_TOKEN"]
params = urllib.parse.parse_qsl(sys.argv[1])
msg = url + "".join(k + v for k, v in sorted(params))
print(base64.b64encode(hmac.new(os.environ["CZ_SMS_AUTH"].encode(), msg.encode(), hashlib.sha1).digest()).decode())
EOP
)}
    curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' -H "X-Twilio-Signature: $sig" \
        --data "$1" "$(url "/webhooks/sms-inbound?token=$CZ_STATUS_TOKEN")"
}
f='MessageSid=SM900&From=%2B12025550111&To=%2B15005550006&Body=STOP'
s1=$(suppressions)
[ "$(inbound "$f" AAAAAAAAAAAAAAAAAAAAAAAAAAA=)" = 401 ] && grep -q 'X-Twilio-Signature does not match' "$T/body" \
    && pass "an inbound SMS with a wrong X-Twilio-Signature: 401" || fail "bad sig: $(cat "$T/body")"
code=$(curl -s -o "$T/body" -w '%{http_code}' --data "$f" "$(url "/webhooks/sms-inbound?token=$CZ_STATUS_TOKEN")")
[ "$code" = 401 ] && grep -q 'X-Twilio-Signature is missing' "$T/body" \
    && pass "an unsigned inbound SMS: 401" || fail "unsigned inbound: $code"
[ "$(suppressions)" -eq "$s1" ] && pass "... neither changed anything" || fail "a refused STOP suppressed"
[ "$(inbound "$f")" = 200 ] && grep -qi '^Content-Type: text/xml' "$T/headers" \
    && grep -q '<Response></Response>' "$T/body" && pass "a signed inbound STOP: 200 with an empty TwiML answer" \
    || fail "signed inbound: $(cat "$T/body")"
[ "$(sql "SELECT count(*) FROM suppressions WHERE address = '+12025550111'")" -eq 2 ] \
    && pass "... the number suppressed (sms, calls)" || fail "Twilio STOP suppressions"
wait_for 60 sh -c "grep -q '\"via\": \"http-sms\", \"to\": \"+12025550111\", \"text\": \"You are unsubscribed' '$T/provider.log'" \
    && pass "... confirmed through the same channel" || fail "no http-sms confirmation: $(cat "$T/provider.log")"
[ "$(inbound "$f")" = 200 ] && [ "$(sql "SELECT count(*) FROM attempts WHERE strategy = 'inbound'")" -eq 3 ] \
    && pass "... once (the provider's retry changes nothing)" \
    || fail "inbound attempts: $(sql "SELECT count(*) FROM attempts WHERE strategy = 'inbound'")"
/usr/bin/python3 -c 'print("MessageSid=SM1&From=%2B1&Body=" + "x" * 70000)' >"$T/bigform"
code=$(curl -s -o "$T/body" -w '%{http_code}' --data-binary "@$T/bigform" "$(url "/webhooks/sms-inbound?token=$CZ_STATUS_TOKEN")")
[ "$code" = 413 ] && grep -q '"error":"the body is over 64 KiB"' "$T/body" \
    && pass "an oversized inbound form: 413 as JSON" || fail "big form: $code $(cat "$T/body")"
[ "$(curl -s -o "$T/body" -w '%{http_code}' --data "$f" "$(url /webhooks/sms-inbound?token=nope)")" = 401 ] \
    && grep -q 'unknown token' "$T/body" && pass "an inbound SMS with an unknown token: 401" || fail "inbound token"

# --- a reply that is no STOP, a longer one with a stop word, a stranger ---
s2=$(suppressions)
wa_text 13125550122 wamid.R1 'I will pay on Friday' >"$T/r1.json"
[ "$(wa "$T/r1.json")" = 200 ] && grep -q '"messages_replied":1' "$T/body" \
    && pass "a WhatsApp reply: stored as replied" || fail "reply: $(cat "$T/body")"
[ "$(sql "SELECT o.code || ':' || o.channel_kind FROM outcomes o JOIN debtors d ON d.id = o.debtor_id WHERE d.external_id = 'DR1' AND o.source = 'whatsapp' AND o.code = 4")" = "4:2" ] \
    && pass "... on chat, for the debtor with that number" || fail "reply outcome"
wa_text 13125550122 wamid.R2 'please stop calling me at work' >"$T/r2.json"
[ "$(wa "$T/r2.json")" = 200 ] && grep -q '"messages_replied":1' "$T/body" \
    && pass "'please stop calling me at work': a reply, not a revocation (the rule is the whole message)" \
    || fail "long stop: $(cat "$T/body")"
[ "$(suppressions)" -eq "$s2" ] && [ "$(rcli EXISTS cz:stop:DR1)" = 0 ] \
    && pass "... neither suppressed anything nor stopped jobs" || fail "a reply suppressed"
o1=$(outcomes)
[ "$(mo "$CZ_DLR_TOKEN" +16505550199 STOP)" = 200 ] && grep -q '"messages_unknown_sender":1' "$T/body" \
    && pass "STOP from a number nobody has: 200" || fail "unknown: $(cat "$T/body")"
[ "$(outcomes)" -eq "$o1" ] && [ "$(suppressions)" -eq "$s2" ] \
    && pass "... and nothing changed" || fail "an unknown number changed the store"

# --- counted, and the metrics pass promtool ---
curl -s "$(url /metrics)" >"$T/metrics"
grep -q '^cadenza_inbound_messages_total{result="unknown_sender"} 1$' "$T/metrics" \
    && grep -q '^cadenza_inbound_messages_total{result="revoked"} 3$' "$T/metrics" \
    && grep -q '^cadenza_inbound_messages_total{result="possible_stop"} 1$' "$T/metrics" \
    && grep -q '^cadenza_whatsapp_statuses_total{result="unmatched"} 1$' "$T/metrics" \
    && grep -q '^cadenza_optout_confirmations_total{result="enqueued"} 3$' "$T/metrics" \
    && pass "metrics count revocations, unknown senders, possible stops, unmatched statuses, confirmations" \
    || fail "metrics: $(grep -E 'inbound|whatsapp_statuses|confirmations' "$T/metrics")"
grep -q '^cadenza_webhook_refused_total{code="401"} [1-9]' "$T/metrics" \
    && pass "refused requests are counted" || fail "refused: $(grep refused "$T/metrics")"
if command -v promtool >/dev/null; then
    promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1 && pass "promtool check metrics passes" \
        || fail "promtool: $(cat "$T/promtool")"
fi
grep -q "possible_stop\|stop word in a longer text" "$T/serve.err" \
    && pass "the reply with a stop word in it is logged for a person to read" \
    || fail "no possible-stop log line: $(tail -5 "$T/serve.err")"
grep -q 'Stop\|baja\|pay on Friday\|calling me at work' "$T/serve.err" \
    && fail "a message's text reached the log" || pass "no message text in the log"

kill -TERM $SPID
wait $SPID
rc=$?
[ $rc -eq 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $rc: $(tail -5 "$T/serve.err")"
kill $PROV 2>/dev/null
wait $PROV 2>/dev/null
finish
