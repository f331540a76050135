#!/bin/sh
# `cadenza serve` end to end with a real redis-server: health, readiness
# (down while Redis is), metrics that promtool accepts, the in-process
# worker sending what is enqueued, 404/405 as JSON, the service manager's
# notifications (READY, RELOADING, STOPPING, WATCHDOG) on a socket the
# test owns, SIGHUP with a broken configuration (the running one stays)
# and with a good one (a new channel is served), SIGTERM (exit 0, no
# lease left).
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/queue-redis.sh"

start_redis
HPORT=$(free_port)
mkdir -p "$T/strategies"
# config [extra channel block]
config() {
    cat <<EOC
store: $T/cadenza.db
redis:
  url: redis://127.0.0.1:$RPORT
  prefix: "cz:"
  timeout: 2
http:
  listen: 127.0.0.1:$HPORT
paths:
  strategies: $T/strategies
links:
  base_url: http://127.0.0.1:$HPORT
  keys:
    l1: { secret_env: CZ_LINK_K1 }
api:
  keys:
    k1: { secret_env: CZ_API_K1 }
    k0: { secret_env: CZ_API_K0 }
channels:
  email:
    plugin: log
    kind: email
    settings: { path: $T/sends.log }
  sms:
    plugin: log
    kind: sms
    settings: { path: $T/sends.log }
  sms-k:
    plugin: kannel
    kind: sms
    settings: { url: "http://127.0.0.1:9/cgi-bin/sendsms", username: cadenza,
                dlr_url: "http://127.0.0.1:$HPORT/webhooks/kannel",
                dlr_token: { env: CZ_DLR_TOKEN } }
  sms-h:
    plugin: http-sms
    kind: sms
    settings: { url: "http://127.0.0.1:9/Messages.json", auth: basic, username: AC1,
                password: { env: CZ_SMS_AUTH }, body: "To={to}&Body={text}",
                status_url: "https://cadenza.example.com/webhooks/sms-status",
                status_token: { env: CZ_STATUS_TOKEN } }
  call:
    plugin: vicidial
    kind: call
    settings: { url: "http://127.0.0.1:9/vicidial/non_agent_api.php", user: api,
                pass: { env: CZ_VD_PASS }, list_id: "101", phone_code: "34",
                dispo_token: { env: CZ_DISPO_TOKEN } }
${1:-}
EOC
}
CFG="$T/cadenza.yaml"
config >"$CFG"
export CADENZA_CONFIG="$CFG"
# the outcome API's secrets: the current one and the one being rotated out
export CZ_API_K1=0123456789abcdef0123456789abcdef-k1
export CZ_API_K0=fedcba9876543210fedcba9876543210-k0
export CZ_LINK_K1=link-secret-0123456789abcdef0123456789
export CZ_DLR_TOKEN=dlr-7f3c9a1e2b
export CZ_SMS_AUTH=twilio-style-auth-token
export CZ_STATUS_TOKEN=st-42
export CZ_VD_PASS=vd-pass
export CZ_DISPO_TOKEN=dispo-9b1
cz sample --debtors 5 --seed 3 >"$T/debtors.csv"
cz import debtors "$T/debtors.csv" >/dev/null || fail "import debtors"
D1=$(sed -n 2p "$T/debtors.csv" | cut -d, -f1)
D2=$(sed -n 3p "$T/debtors.csv" | cut -d, -f1)

# the service manager's side: a datagram socket that records each message
/usr/bin/python3 - "$T/notify.sock" "$T/notify.log" <<'EOP' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        msg = s.recv(4096).decode()
        for line in msg.split("\n"):
            log.write(line + "\n")
EOP
NPID=$!
i=0
while [ ! -S "$T/notify.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done

url() { echo "http://127.0.0.1:$HPORT$1"; }
# get PATH: status code to stdout, body to $T/body, headers to $T/headers
get() {
    curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@"
}
wait_for() { # wait_for SECONDS COMMAND...: until it succeeds
    n=$(($1 * 20)); shift
    i=0
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -gt $n ] && return 1
        sleep 0.05
    done
}
count_lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
sends() { count_lines "$T/sends.log"; }
at_least() { [ "$(count_lines "$1")" -ge "$2" ]; } # at_least FILE N

NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=400000 czbg serve 2>"$T/serve.err" &
SPID=$!
wait_for 60 curl -sf "$(url /healthz)" || fail "serve did not answer /healthz: $(tail -5 "$T/serve.err")"

[ "$(get "$(url /healthz)")" = 200 ] && grep -q '"status":"ok"' "$T/body" \
    && pass "/healthz: 200" || fail "/healthz: $(cat "$T/body")"
wait_for 30 curl -sf "$(url /readyz)" && grep -q '"redis":true,"store":true' "$T/body" 2>/dev/null
[ "$(get "$(url /readyz)")" = 200 ] && pass "/readyz: 200 once Redis answered" \
    || fail "/readyz: $(cat "$T/body")"
[ "$(get "$(url /nope)")" = 404 ] && grep -q '"error":"no such resource"' "$T/body" \
    && pass "unknown path: 404 as JSON" || fail "unknown path: $(cat "$T/body")"
[ "$(get -X POST "$(url /healthz)")" = 405 ] && grep -qi '^Allow: GET, HEAD' "$T/headers" \
    && pass "wrong method: 405 with Allow" || fail "wrong method: $(cat "$T/headers")"
wait_for 10 grep -q '^READY=1$' "$T/notify.log" && pass "READY=1 sent" || fail "no READY=1"

# --- the in-process worker sends what is enqueued ---
make_jobs 20 1 email >"$T/a.jsonl"
cz queue enqueue "$T/a.jsonl" >/dev/null || fail "enqueue"
wait_for 30 at_least "$T/sends.log" 20
[ "$(sends)" -eq 20 ] && pass "20 jobs sent by the daemon's worker" || fail "sent $(sends) of 20"
get "$(url /metrics)" >"$T/code"
[ "$(cat "$T/code")" = 200 ] && grep -q '^Content-Type: text/plain; version=0.0.4' "$T/headers" \
    && pass "/metrics: 200, Prometheus text" || fail "/metrics: $(cat "$T/code")"
grep -q '^cadenza_sent_total{channel="email",kind="email"} 20$' "$T/body" \
    && pass "metrics count the 20 sends" || fail "sent counter: $(grep sent_total "$T/body")"
grep -q '^cadenza_loop_lag_seconds_count [1-9]' "$T/body" && pass "loop lag is measured" \
    || fail "no loop lag samples"
grep -q '^cadenza_http_requests_total{route="healthz"} [1-9]' "$T/body" \
    && pass "HTTP requests are counted per route" || fail "no request counts"
# the drain thread moves the results into the store (these attempts are
# not the store's: nothing changes there) and empties the stream
drained() { curl -s "$(url /metrics)" | grep -q '^cadenza_drain_results_total 20$'; }
wait_for 20 drained && pass "the drain thread moved the 20 results" \
    || fail "drain: $(curl -s "$(url /metrics)" | grep '^cadenza_drain')"
[ "$(rcli XLEN cz:results)" -eq 0 ] && pass "... and acknowledged them (stream empty)" \
    || fail "results left in the stream: $(rcli XLEN cz:results)"
get "$(url /metrics)" >/dev/null
grep -q '^cadenza_drain_applied_total 0$' "$T/body" \
    && pass "... changing no attempt (the store has none of these)" \
    || fail "applied: $(grep drain_applied "$T/body")"
if command -v promtool >/dev/null; then
    promtool check metrics <"$T/body" >"$T/promtool" 2>&1 && pass "promtool check metrics passes" \
        || fail "promtool: $(cat "$T/promtool")"
else
    fail "promtool not installed (Debian package prometheus)"
fi

# --- POST /v1/outcomes: signed, stored before the 2xx, idempotent ---
# post BODY-FILE [KEY-ENV] [TIMESTAMP]: status to stdout, body to $T/body
post() {
    sig=$(/usr/bin/python3 - "$1" "${2:-CZ_API_K1}" "${3:-}" <<'EOP'
import hashlib, hmac, os, sys, time
body = open(sys.argv[1], "rb").read()
t = sys.argv[3] or str(int(time.time()))
key = os.environ[sys.argv[2]].encode()
print("t=%s,v1=%s" % (t, hmac.new(key, t.encode() + b"." + body, hashlib.sha256).hexdigest()))
EOP
)
    curl -s -o "$T/body" -w '%{http_code}' -H "Cadenza-Signature: $sig" \
        -H 'Content-Type: application/json' --data-binary "@$1" "$(url /v1/outcomes)"
}
now_iso=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat >"$T/o1.json" <<EOJ
{"outcomes": [
  {"event_id": "ev-1", "debtor_id": "$D1", "channel": "email", "attempted_at": "$now_iso", "outcome": "opened"},
  {"event_id": "ev-2", "debtor_id": "$D2", "channel": "sms", "attempted_at": "$now_iso", "outcome": "paid", "amount": "12.50"}
]}
EOJ
[ "$(post "$T/o1.json")" = 200 ] && grep -q '"stored":2,"duplicates":0' "$T/body" \
    && pass "API: two signed outcomes stored" || fail "API post: $(cat "$T/body")"
[ "$(rcli EXISTS "cz:stop:$D2")" = 1 ] && pass "API: the payment set the debtor's stop marker" \
    || fail "no stop marker for $D2"
[ "$(rcli EXISTS "cz:stop:$D1")" = 0 ] && pass "API: an open sets none" || fail "stop marker for $D1"
[ "$(post "$T/o1.json")" = 200 ] && grep -q '"stored":0,"duplicates":2' "$T/body" \
    && pass "API: the same events again store nothing (idempotent by event id)" \
    || fail "API replay: $(cat "$T/body")"
[ "$(post "$T/o1.json" CZ_API_K0)" = 200 ] && pass "API: the older key still verifies (rotation)" \
    || fail "API with k0: $(cat "$T/body")"
n=$(sqlite3 "$T/cadenza.db" "SELECT count(*) FROM outcomes WHERE source = 'api'")
[ "$n" -eq 2 ] && pass "API: 2 outcomes in the store" || fail "store has $n api outcomes"
code=$(curl -s -o "$T/body" -w '%{http_code}' --data-binary "@$T/o1.json" "$(url /v1/outcomes)")
[ "$code" = 401 ] && grep -q 'no signature' "$T/body" && pass "API: unsigned: 401" \
    || fail "unsigned: $code $(cat "$T/body")"
export CZ_API_WRONG=not-the-right-secret-not-the-right-secret
[ "$(post "$T/o1.json" CZ_API_WRONG)" = 401 ] && grep -q 'no signature matches' "$T/body" \
    && pass "API: wrong key: 401" || fail "wrong key: $(cat "$T/body")"
[ "$(post "$T/o1.json" CZ_API_K1 $(( $(date +%s) - 600 )))" = 401 ] \
    && grep -q 'too far from now' "$T/body" && pass "API: a 10-minute-old signature (replay): 401" \
    || fail "old signature: $(cat "$T/body")"
printf '{"outcomes": [' >"$T/bad.json"
[ "$(post "$T/bad.json")" = 400 ] && grep -q 'invalid JSON at line 1' "$T/body" \
    && pass "API: broken JSON: 400 naming the place" || fail "broken JSON: $(cat "$T/body")"
cat >"$T/o2.json" <<EOJ
[{"event_id": "ev-3", "debtor_id": "$D1", "channel": "email", "attempted_at": "$now_iso", "outcome": "paid"},
 {"event_id": "ev-4", "debtor_id": "nobody", "channel": "email", "attempted_at": "$now_iso", "outcome": "pai"}]
EOJ
[ "$(post "$T/o2.json")" = 422 ] && grep -q "outcomes\[1\] (event 'ev-4'): debtor_id: unknown debtor 'nobody'; outcome: unknown outcome 'pai' (did you mean 'paid'?)" "$T/body" \
    && pass "API: bad records: 422 naming record and field" || fail "bad records: $(cat "$T/body")"
[ "$(rcli EXISTS "cz:stop:$D1")" = 0 ] && \
    [ "$(sqlite3 "$T/cadenza.db" "SELECT count(*) FROM outcomes WHERE source = 'api'")" -eq 2 ] \
    && pass "API: ... and nothing of that request is stored" || fail "a refused request left data"
echo '{"event_id": "ev-5", "debtor_id": "x", "channel": "email", "atempted_at": "x", "outcome": "paid"}' >"$T/o3.json"
[ "$(post "$T/o3.json")" = 422 ] && grep -q "unknown field 'atempted_at' (did you mean 'attempted_at'?)" "$T/body" \
    && pass "API: unknown field: did you mean" || fail "unknown field: $(cat "$T/body")"
/usr/bin/python3 -c 'print("{\"event_id\": \"" + "x" * 1100000 + "\"}")' >"$T/big.json"
[ "$(post "$T/big.json")" = 413 ] && pass "API: a body over 1 MiB: 413" || fail "big body: $(cat "$T/body")"

# --- RFC 8058 one-click unsubscribe on the e-mail's signed link ---
ulink=$(cz link make --attempt 77 --debtor "$D1" --action unsubscribe)
[ "$(get "$ulink")" = 200 ] && grep -q '<form method="post">' "$T/body" \
    && pass "unsubscribe link: GET shows a page with the button" || fail "GET link: $(cat "$T/body")"
n0=$(sqlite3 "$T/cadenza.db" "SELECT count(*) FROM outcomes WHERE source = 'unsubscribe'")
[ "$n0" -eq 0 ] && pass "... and changes nothing" || fail "a GET unsubscribed"
code=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' -d 'List-Unsubscribe=One-Click' "$ulink")
[ "$code" = 200 ] && ! grep -qi '^Location:' "$T/headers" \
    && pass "one-click POST: 200, no redirect" || fail "one-click POST: $code $(cat "$T/body")"
row=$(sqlite3 "$T/cadenza.db" "SELECT o.code, o.channel_kind FROM outcomes o JOIN debtors d ON d.id = o.debtor_id WHERE o.source = 'unsubscribe' AND d.external_id = '$D1'")
[ "$row" = "10|0" ] && pass "... stored as an e-mail opt-out of that debtor" || fail "stored: '$row'"
curl -s -o "$T/body" -d 'List-Unsubscribe=One-Click' "$ulink" >/dev/null
grep -q '"stored":0,"duplicates":1' "$T/body" && pass "... once, however often it is posted" \
    || fail "second POST: $(cat "$T/body")"
code=$(curl -s -o "$T/body" -w '%{http_code}' -d 'x=1' "$ulink")
[ "$code" = 400 ] && pass "a POST without List-Unsubscribe=One-Click: 400" || fail "POST x=1: $code"
bad=$(echo "$ulink" | sed 's/.$/A/'); [ "$bad" = "$ulink" ] && bad=$(echo "$ulink" | sed 's/.$/B/')
code=$(curl -s -o "$T/body" -w '%{http_code}' -d 'List-Unsubscribe=One-Click' "$bad")
[ "$code" = 404 ] && grep -q '<h1>This link is not valid</h1>' "$T/body" \
    && pass "a tampered link: 404, no detail" || fail "tampered: $code $(cat "$T/body")"

# --- Kannel delivery reports on the kannel channel's dlr-url ---
# an attempt of D2's on the kannel channel (as `run` records them)
aid=$(sqlite3 "$T/cadenza.db" "INSERT INTO attempts(debtor_id, idempotency_key, strategy, variant, tier, channel, channel_kind, scheduled_at, created_at) SELECT id, 'ik-dlr', 'early', 'a', 'digital', 'sms-k', 1, 0, 0 FROM debtors WHERE external_id = '$D2'; SELECT last_insert_rowid();")
dlr() { curl -s -o "$T/body" -w '%{http_code}' "$(url "/webhooks/kannel?attempt=$1&type=$2&token=$3")"; }
[ "$(dlr "$aid" 8 "$CZ_DLR_TOKEN")" = 200 ] && pass "DLR 8 (accepted by the SMSC): 200" \
    || fail "DLR 8: $(cat "$T/body")"
[ "$(dlr "$aid" 1 "$CZ_DLR_TOKEN")" = 200 ] && grep -q '"stored":1' "$T/body" \
    && pass "DLR 1 (delivered): stored" || fail "DLR 1: $(cat "$T/body")"
[ "$(dlr "$aid" 1 "$CZ_DLR_TOKEN")" = 200 ] && grep -q '"duplicates":1' "$T/body" \
    && pass "... once, when Kannel repeats it" || fail "DLR 1 again: $(cat "$T/body")"
row=$(sqlite3 "$T/cadenza.db" "SELECT code, channel_kind, attempt_id FROM outcomes WHERE source = 'dlr'")
[ "$row" = "0|1|$aid" ] && pass "... as delivered, on sms, for the attempt" || fail "stored: '$row'"
[ "$(dlr "$aid" 1 wrong-token)" = 401 ] && pass "DLR with a wrong token: 401" || fail "wrong token"
[ "$(dlr 999999 1 "$CZ_DLR_TOKEN")" = 422 ] && grep -q 'no attempt 999999' "$T/body" \
    && pass "DLR for an unknown attempt: 422" || fail "unknown attempt: $(cat "$T/body")"
[ "$(dlr abc 1 "$CZ_DLR_TOKEN")" = 400 ] && pass "DLR with a malformed attempt: 400" \
    || fail "malformed attempt: $(cat "$T/body")"

# --- SMS status callbacks on the http-sms channel's status_url ---
aid2=$(sqlite3 "$T/cadenza.db" "INSERT INTO attempts(debtor_id, idempotency_key, strategy, variant, tier, channel, channel_kind, scheduled_at, created_at) SELECT id, 'ik-st', 'early', 'a', 'digital', 'sms-h', 1, 0, 0 FROM debtors WHERE external_id = '$D1'; SELECT last_insert_rowid();")
# status FORM [SIGNATURE-OVERRIDE]: a form callback signed the provider's way
status() {
    sig=${2:-$(/usr/bin/python3 - "$aid2" "$1" <<'EOP'
import base64, hashlib, hmac, os, sys, urllib.parse
url = "https://cadenza.example.com/webhooks/sms-status?attempt=%s&token=st-42" % sys.argv[1]
params = urllib.parse.parse_qsl(sys.argv[2])
msg = url + "".join(k + v for k, v in sorted(params))
print(base64.b64encode(hmac.new(os.environ["CZ_SMS_AUTH"].encode(), msg.encode(), hashlib.sha1).digest()).decode())
EOP
)}
    curl -s -o "$T/body" -w '%{http_code}' -H "X-Twilio-Signature: $sig" --data "$1" \
        "$(url "/webhooks/sms-status?attempt=$aid2&token=st-42")"
}
[ "$(status 'MessageSid=SM1&MessageStatus=sent&To=%2B34600')" = 200 ] \
    && pass "status 'sent': 200, nothing stored" || fail "status sent: $(cat "$T/body")"
[ "$(status 'MessageSid=SM1&MessageStatus=delivered&To=%2B34600')" = 200 ] \
    && grep -q '"stored":1' "$T/body" && pass "signed status 'delivered': stored" \
    || fail "status delivered: $(cat "$T/body")"
[ "$(status 'MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30005')" = 200 ] \
    && pass "signed status 'undelivered' 30005: stored" || fail "undelivered: $(cat "$T/body")"
[ "$(status 'MessageSid=SM1&MessageStatus=delivered' 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=')" = 401 ] \
    && pass "a wrong X-Twilio-Signature: 401" || fail "wrong signature: $(cat "$T/body")"
code=$(curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '{"messageId":"m1","status":"failed","err-code":"6"}' \
    "$(url "/webhooks/sms-status?attempt=$aid2&token=st-42")")
[ "$code" = 200 ] && pass "a JSON delivery receipt: stored" || fail "JSON receipt: $code $(cat "$T/body")"
code=$(curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '{"status":"delivered"}' "$(url "/webhooks/sms-status?attempt=$aid2&token=nope")")
[ "$code" = 401 ] && pass "a receipt with an unknown token: 401" || fail "unknown token: $code"
rows=$(sqlite3 "$T/cadenza.db" "SELECT group_concat(code, ',') FROM (SELECT code FROM outcomes WHERE source = 'status' AND attempt_id = $aid2 ORDER BY id)")
[ "$rows" = "0,1,14" ] && pass "... delivered, bounced (unknown destination), failed" \
    || fail "status outcomes: '$rows'"

# --- VICIdial dispositions on the campaign's Dispo Call URL ---
aid3=$(sqlite3 "$T/cadenza.db" "INSERT INTO attempts(debtor_id, idempotency_key, strategy, variant, tier, channel, channel_kind, scheduled_at, created_at) SELECT id, 'ik-vd', 'late', 'a', 'call', 'call', 3, 0, 0 FROM debtors WHERE external_id = '$D1'; SELECT last_insert_rowid();")
vlc=$(/usr/bin/python3 -c 'import sys
n, s = int(sys.argv[1]), ""
while n: n, d = divmod(n, 36); s = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[d] + s
print("CZ" + s)' "$aid3")
dispo() { curl -s -o "$T/body" -w '%{http_code}' "$(url "/webhooks/vicidial?token=$1&vendor_lead_code=$2&dispo=$3&talk_time=95&lead_id=77")"; }
[ "$(dispo "$CZ_DISPO_TOKEN" "$vlc" NA)" = 200 ] && grep -q '"stored":1' "$T/body" \
    && pass "dispo NA: stored (no_answer)" || fail "dispo NA: $(cat "$T/body")"
rcli DEL "cz:stop:$D1" >/dev/null
[ "$(dispo "$CZ_DISPO_TOKEN" "$vlc" SALE)" = 200 ] && grep -q '"stored":1' "$T/body" \
    && pass "dispo SALE: stored (paid)" || fail "dispo SALE: $(cat "$T/body")"
[ "$(rcli EXISTS "cz:stop:$D1")" = 1 ] && pass "... and the debtor's queued jobs stop" \
    || fail "no stop marker after SALE"
[ "$(dispo "$CZ_DISPO_TOKEN" "$vlc" ZZZ)" = 200 ] && ! grep -q stored "$T/body" \
    && pass "an unmapped status stores nothing" || fail "dispo ZZZ: $(cat "$T/body")"
[ "$(dispo wrong "$vlc" SALE)" = 401 ] && pass "dispo with a wrong token: 401" || fail "dispo token"
[ "$(dispo "$CZ_DISPO_TOKEN" 12345 SALE)" = 400 ] && grep -q "not one of cadenza's" "$T/body" \
    && pass "a lead that is not ours: 400" || fail "foreign lead: $(cat "$T/body")"
rows=$(sqlite3 "$T/cadenza.db" "SELECT group_concat(code, ',') FROM (SELECT code FROM outcomes WHERE source = 'dispo' AND attempt_id = $aid3 ORDER BY id)")
[ "$rows" = "5,9" ] && pass "... no_answer then paid, on the call attempt" || fail "dispo outcomes: '$rows'"

# --- readiness follows Redis ---
stop_redis
wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $(url /readyz))\" = 503 ]" \
    && pass "/readyz: 503 while Redis is down" || fail "/readyz stayed ready without Redis"
[ "$(get "$(url /healthz)")" = 200 ] && pass "/healthz still 200 (the process is alive)" \
    || fail "/healthz without Redis"
start_redis
wait_for 40 curl -sf "$(url /readyz)" && pass "/readyz: 200 again after Redis is back" \
    || fail "/readyz not ready after Redis came back: $(tail -3 "$T/serve.err")"

# --- SIGHUP: a broken configuration leaves the running one in place ---
cp "$CFG" "$T/good.yaml"
printf 'channels: [\n' >>"$CFG"
kill -HUP $SPID
wait_for 20 grep -q "reload failed" "$T/serve.err" \
    && pass "a broken reload is refused" || fail "no reload failure logged"
expect_grep "cadenza.yaml:[0-9]*:[0-9]*: error:" "$T/serve.err" "... with the error at file:line:col"
make_jobs 5 100 email >"$T/b.jsonl"
cz --config "$T/good.yaml" queue enqueue "$T/b.jsonl" >/dev/null || fail "enqueue"
wait_for 30 at_least "$T/sends.log" 25
[ "$(sends)" -eq 25 ] && pass "the running configuration keeps sending" || fail "sent $(sends) of 25"

# --- SIGHUP: a good one with a new channel ---
config "  sms2:
    plugin: log
    kind: sms
    settings: { path: $T/sends2.log }" >"$CFG"
kill -HUP $SPID
wait_for 30 grep -q "reloaded: 6 channel(s)" "$T/serve.err" && pass "a valid reload is applied" \
    || fail "reload not applied: $(tail -5 "$T/serve.err")"
make_jobs 4 200 sms2 >"$T/c.jsonl"
cz queue enqueue "$T/c.jsonl" >/dev/null
wait_for 30 at_least "$T/sends2.log" 4
[ "$(count_lines "$T/sends2.log")" -eq 4 ] \
    && pass "the new channel is served" || fail "sms2 sent $(count_lines "$T/sends2.log")"
get "$(url /metrics)" >/dev/null
grep -q '^cadenza_reloads_total{result="ok"} 1$' "$T/body" \
    && grep -q '^cadenza_reloads_total{result="failed"} 1$' "$T/body" \
    && pass "reloads counted: 1 ok, 1 failed" || fail "reload counters: $(grep reloads_total "$T/body")"
grep -q '^RELOADING=1$' "$T/notify.log" && [ "$(grep -c '^READY=1$' "$T/notify.log")" -ge 3 ] \
    && pass "RELOADING=1, then READY=1 after each reload" \
    || fail "notifications: $(sort "$T/notify.log" | uniq -c | tr '\n' ' ')"
grep -q '^WATCHDOG=1$' "$T/notify.log" && pass "the watchdog is pinged" || fail "no WATCHDOG=1"

# --- SIGTERM: finish and exit 0 ---
kill -TERM $SPID
wait $SPID
rc=$?
[ $rc -eq 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $rc: $(tail -5 "$T/serve.err")"
grep -q '^STOPPING=1$' "$T/notify.log" && pass "STOPPING=1 sent" || fail "no STOPPING=1"
[ "$(rcli ZCARD cz:lease:email)" -eq 0 ] && [ "$(rcli ZCARD cz:lease:sms2)" -eq 0 ] \
    && pass "no lease left" || fail "leases left after SIGTERM"
# --- after a SIGKILL, the next start drains what was left ---
czbg serve 2>"$T/serve2.err" &
SPID=$!
wait_for 60 curl -sf "$(url /readyz)" || fail "second start: $(tail -3 "$T/serve2.err")"
kill -KILL $SPID; wait $SPID 2>/dev/null
now_ms=$(($(date +%s) * 1000))
for i in 1 2 3; do
    rcli XADD cz:results '*' id "$i" st sent info "p$i" ch email tries 0 at "$now_ms" >/dev/null
done
czbg serve 2>"$T/serve3.err" &
SPID=$!
drained3() { [ "$(rcli XLEN cz:results)" -eq 0 ]; }
wait_for 60 drained3 && pass "after a SIGKILL, the next start drains the results left in Redis" \
    || fail "results left after restart: $(rcli XLEN cz:results)"
kill -TERM $SPID; wait $SPID
[ $? -eq 0 ] && pass "... and stops cleanly" || fail "third run exit: $(tail -3 "$T/serve3.err")"
kill $NPID 2>/dev/null

finish
