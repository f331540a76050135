#!/bin/sh
# The self-service page end to end in headless Chromium (Debian's
# chromium, driven by playwright-core from npm; axe-core for the
# accessibility check): cadenza's worker sends an e-mail through a real
# SMTP server on loopback (aiosmtpd, a Maildir); the link in that e-mail
# opens the page, a promise is made in the browser; the SMS queued for the
# debtor is then cancelled by the worker and `explain` shows the pause;
# the same form replayed from another tab gets "already used"; a plan and
# "no calls before 18:00 on weekdays" through the forms (explain keeps the
# next weekday's calls after 18:00); tampered and expired links; screen
# shots in Spanish and English at 390 px and desktop width (the rendered
# text checked in each), axe-core with no serious or critical violation.
# Skipped (77) without node, chromium or playwright-core (installed into
# $CADENZA_NODE_DIR, by default ~/.cache/cadenza-node, when npm can).
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/queue-redis.sh"

CHROMIUM=${CADENZA_CHROMIUM:-/usr/bin/chromium}
NODE_DIR=${CADENZA_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cadenza-node}
command -v node >/dev/null || { echo "node not installed, skipping"; exit 77; }
[ -x "$CHROMIUM" ] || { echo "$CHROMIUM not installed (apt-get install chromium), skipping"; exit 77; }
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || { echo "python3-aiosmtpd not installed, skipping"; exit 77; }
if [ ! -d "$NODE_DIR/node_modules/playwright-core" ] || [ ! -d "$NODE_DIR/node_modules/axe-core" ]; then
    if command -v npm >/dev/null; then
        mkdir -p "$NODE_DIR"
        timeout 300 npm install --prefix "$NODE_DIR" --no-audit --no-fund --silent \
            playwright-core@1.65 axe-core@4 >"$T/npm.log" 2>&1
    fi
    [ -d "$NODE_DIR/node_modules/playwright-core" ] && [ -d "$NODE_DIR/node_modules/axe-core" ] ||
        { echo "playwright-core/axe-core not in $NODE_DIR and npm could not install them, skipping"; exit 77; }
fi
SHOTS=${BUILDDIR:-$T}/selfservice-screenshots
mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png

SPID= MPID=
cleanup() {
    for p in $SPID $MPID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    stop_redis
    rm -rf "$T"
}
trap cleanup EXIT INT TERM

start_redis
MAILDIR="$T/maildir"
mkdir -p "$MAILDIR/new" "$MAILDIR/cur" "$MAILDIR/tmp"
SPORT=$(free_port)
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SPORT" -c aiosmtpd.handlers.Mailbox "$MAILDIR" \
    2>"$T/aiosmtpd.err" &
MPID=$!
HPORT=$(free_port)
cat >"$T/cadenza.yaml" <<EOC
store: $T/cadenza.db
redis: { url: "redis://127.0.0.1:$RPORT", prefix: "cz:", timeout: 2 }
http: { listen: "127.0.0.1:$HPORT" }
paths: { strategies: $SRCDIR/strategies, templates: $SRCDIR/config/templates,
         profiles: $SRCDIR/config/profiles, holidays: $SRCDIR/config/holidays }
links:
  base_url: http://127.0.0.1:$HPORT
  keys: { k1: { secret_env: CZ_LINK_K1 } }
business: { creditor: "Acme Finanzas", agent_phone: "+34 910 000 000" }
selfservice:
  pay_url: "https://pay.acme.example/checkout?ref={token}"
channels:
  email:
    plugin: email
    kind: email
    settings: { url: "smtp://127.0.0.1:$SPORT", tls: none,
                from: "Acme Finanzas <cobros@acme.example>" }
  sms: { plugin: log, kind: sms, settings: { path: $T/sends.log } }
  bot: { plugin: log, kind: chat, settings: { path: $T/sends.log } }
  dialer: { plugin: log, kind: call, settings: { path: $T/sends.log } }
  letter: { plugin: log, kind: letter, settings: { path: $T/sends.log } }
EOC
export CADENZA_CONFIG="$T/cadenza.yaml" CADENZA_STORE="$T/cadenza.db"
export CZ_LINK_K1=link-secret-0123456789abcdef0123456789

/usr/bin/python3 - "$T" <<'EOP'
import datetime, sys
t = sys.argv[1]
d = lambda n: (datetime.date.today() + datetime.timedelta(days=n)).isoformat()
cols = "id,name,locale,time_zone,country,region,email,phone,chat_handle,balance,currency,due_date,payday,risk_band,segment,tags,flags,consent_email,consent_sms,consent_chat,consent_call,do_not_contact,preferred_channel,prefers_human,age_band,employment_type"
rows = [
    ("ES1", "María José Ruiz", "es-ES", "Europe/Madrid", "ES", "ES-MD", "maria.ruiz@example.com", "+34616909649", "992.88", "EUR", d(-40)),
    ("ES2", "Francisco Gómez", "es-ES", "Europe/Madrid", "ES", "ES-MD", "fgomez@example.com", "+34641831715", "600.00", "EUR", d(-45)),
    ("GB1", "Grace Evans", "en-GB", "Europe/London", "GB", "GB-ENG", "grace.evans@example.com", "+447922469958", "5743.47", "GBP", d(-120)),
]
with open(t + "/debtors.csv", "w") as f:
    f.write(cols + "\n")
    for r in rows:
        f.write(",".join(r[:8]) + ",," + ",".join(r[8:]) + ",,,loan,,,yes,yes,,yes,,,,,\n")
EOP
cz import debtors "$T/debtors.csv" >/dev/null || fail "import debtors"

czbg serve 2>"$T/serve.err" &
SPID=$!
wait_for() { # wait_for SECONDS COMMAND...
    n=$(($1 * 20)); shift
    i=0
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -gt $n ] && return 1
        sleep 0.05
    done
}
sql_is() { [ "$(sql "$1")" = "$2" ]; }
wait_for 60 curl -sf "http://127.0.0.1:$HPORT/readyz" || fail "serve is not ready: $(tail -5 "$T/serve.err")"

# --- the e-mail: an attempt as a run records it, sent by the daemon's worker ---
now=$(date +%s)
attempt() { # attempt KEY CHANNEL KIND DUE: a queued attempt of ES1's, its id
    sql "INSERT INTO attempts(debtor_id, idempotency_key, strategy, variant, tier, channel, channel_kind, scheduled_at, created_at, status) SELECT id, '$1', 'mid', 'default', 'bot', '$2', $3, $4, $now, 1 FROM debtors WHERE external_id = 'ES1'; SELECT last_insert_rowid();"
}
EA=$(attempt ik-mail-es1 email 0 "$now")
job() { # job ID KEY CHANNEL KIND ADDRESS TEMPLATE NOT_BEFORE
    printf '{"attempt_id": %s, "idempotency_key": "%s", "debtor_id": "ES1", "channel": "%s", "channel_kind": "%s", "address": "%s", "template": "%s", "inputs": {"name": "María José Ruiz", "amount": "992.88", "currency": "EUR", "due_date": "%s", "creditor": "Acme Finanzas", "agent_phone": "+34 910 000 000"}, "locale": "es-ES", "time_zone": "Europe/Madrid", "not_before": %s, "not_after": %s, "windows": [[%s, %s]], "attempt": 1, "tier": 1}\n' \
        "$1" "$2" "$3" "$4" "$5" "$6" "$(date -d '-40 days' +%F)" "$7" $((now + 7200)) $((now - 60)) $((now + 7200))
}
job "$EA" ik-mail-es1 email email maria.ruiz@example.com early-email $((now - 1)) >"$T/mail.jsonl"
cz queue enqueue "$T/mail.jsonl" >/dev/null || fail "enqueue the e-mail"
wait_for 60 sh -c "ls '$MAILDIR/new' | grep -q ." || fail "no e-mail arrived: $(tail -5 "$T/serve.err")"
MAIL_LINK=$(/usr/bin/python3 - "$MAILDIR/new" <<'EOP'
import email, email.policy, os, re, sys
d = sys.argv[1]
m = email.message_from_bytes(open(os.path.join(d, os.listdir(d)[0]), "rb").read(),
                             policy=email.policy.default)
assert m["X-RcptTo"] == "maria.ruiz@example.com", m["X-RcptTo"]
text = m.get_body(("plain",)).get_content()
print(re.search(r"Pagar ahora:\s+(\S+)", text).group(1))
EOP
)
case $MAIL_LINK in
"http://127.0.0.1:$HPORT/s/v1.k1."*) pass "the e-mail cadenza sent carries the page's link" ;;
*) fail "link in the e-mail: '$MAIL_LINK'" ;;
esac

in_days() { /usr/bin/python3 -c "import datetime; print(datetime.date.today() + datetime.timedelta(days=$1))"; }
PLAN_LINK=$(cz link make --attempt 201 --debtor ES2 --action plan)
PREFS_LINK=$(cz link make --attempt 202 --debtor GB1 --action preferences)
TAMPERED=$(echo "$PLAN_LINK" | sed 's/\.k1\.A/.k1.B/')
[ "$TAMPERED" = "$PLAN_LINK" ] && TAMPERED=$(echo "$PLAN_LINK" | sed 's/\.k1\../.k1.A/')
EXPIRED=$(cz link make --attempt 203 --debtor ES1 --ttl 60 --now "$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%SZ)")
# the debtor's next contact, an SMS, queued to go out after the browser made the promise
now=$(date +%s)
delay=45
[ -n "${CADENZA_WRAP:-}" ] && delay=150 # valgrind: everything is slower
SA=$(attempt ik-sms-es1 sms 1 $((now + delay)))
job "$SA" ik-sms-es1 sms sms +34616909649 early-sms $((now + delay)) >"$T/sms.jsonl"
cz queue enqueue "$T/sms.jsonl" >/dev/null || fail "enqueue the SMS"
cat >"$T/browser.json" <<EOJ
{"chromium": "$CHROMIUM", "shots": "$SHOTS", "mailLink": "$MAIL_LINK", "planLink": "$PLAN_LINK",
 "prefsLink": "$PREFS_LINK", "tampered": "$TAMPERED", "expired": "$EXPIRED",
 "promiseDate": "$(in_days 7)", "planFirst": "$(in_days 10)"}
EOJ
NODE_PATH="$NODE_DIR/node_modules" timeout 240 node "$SRCDIR/tests/integration/selfservice-browser.js" \
    "$T/browser.json" >"$T/browser.out" 2>&1
rc=$?
cat "$T/browser.out"
n=$(grep -c '^FAIL' "$T/browser.out")
failures=$((failures + n))
[ "$rc" -eq 0 ] || [ "$n" -gt 0 ] || fail "the browser script exited $rc"
grep -q '^ok:' "$T/browser.out" || fail "the browser script checked nothing"

# --- what the browser's actions did ---
[ "$(sql "SELECT o.code, o.channel_kind FROM outcomes o WHERE o.attempt_key = 'a:$EA' AND o.code = 3")" = "3|0" ] \
    && pass "the visit is a 'clicked' outcome on the e-mail that carried the link" \
    || fail "visit: $(sql "SELECT code, channel_kind, attempt_key FROM outcomes")"
[ "$(sql "SELECT count(*) FROM outcomes WHERE code = 8 AND source = 'selfservice'")" = 1 ] \
    && pass "one promise stored (the replay stored nothing)" || fail "promises stored"
wait_for $((delay + 120)) sql_is "SELECT status FROM attempts WHERE id = $SA" 4
row=$(sql "SELECT status, coalesce(error, '') FROM attempts WHERE id = $SA")
[ "$row" = "4|stopped: promise to pay" ] \
    && pass "the SMS queued for the debtor was cancelled (stopped: promise to pay)" \
    || fail "the queued SMS: '$row'"
grep -q 'ik-sms-es1' "$T/sends.log" 2>/dev/null && fail "the SMS was sent" || pass "... never sent"
cz explain ES1 --date "$(in_days 1)" >"$T/explain" 2>&1
expect_grep '^  paused until ' "$T/explain" "explain shows the pause"
expect_grep '^decision: no contact: paused' "$T/explain" "... no contact tomorrow"
[ "$(sql "SELECT instalments FROM payment_plans")" = 3 ] && pass "the plan is stored" || fail "plan"
WD=$(/usr/bin/python3 -c '
import datetime
d = datetime.date.today() + datetime.timedelta(days=1)
while d.weekday() > 4: d += datetime.timedelta(days=1)
print(d)')
cz explain GB1 --date "$WD" >"$T/explain" 2>&1
expect_grep 'dialer .* 09:00 .*rejected: debtor.s stated do-not-contact time' "$T/explain" \
    "tomorrow's plan: calls before 18:00 rejected for the stated time"
dec=$(sed -n 's/^decision: dialer at .* (local [A-Za-z]* [0-9-]* \([0-9][0-9]\):.*/\1/p' "$T/explain")
[ -n "$dec" ] && [ "$dec" -ge 18 ] && pass "... the call planned at ${dec}:00" \
    || fail "decision: $(grep '^decision' "$T/explain")"

# --- the screenshots: PNGs of the widths asked for ---
/usr/bin/python3 - "$SHOTS" <<'EOP' && pass "screenshots es/en at 390 px and desktop width in $SHOTS" || fail "screenshots"
import struct, sys, os
want = {"es-390": 390, "es-promise-done-390": 390, "es-desktop": 1280, "en-390": 390,
        "en-desktop": 1280, "en-prefs-done-390": 390, "es-invalid-390": 390}
for name, w in want.items():
    data = open(os.path.join(sys.argv[1], name + ".png"), "rb").read(32)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", name
    width, height = struct.unpack(">II", data[16:24])
    assert width == w and height > 400, (name, width, height)
EOP

kill -TERM $SPID
wait $SPID
rc=$?
SPID=
[ $rc -eq 0 ] && pass "serve exits 0" || fail "serve exit $rc"
finish
