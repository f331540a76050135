#!/bin/sh
# The self-service page (docs/selfservice.md) over HTTP with a real
# redis-server and the daemon: the page for a signed link in the debtor's
# language with masked details; a promise (stored as an outcome through
# the store writer, its stop marker set, an SMS queued for the debtor
# cancelled by the worker, `explain` showing the pause); the same link
# replayed or used again ("already used", nothing changed); a payment
# plan (its instalments stored, explain pausing until the first); "no
# calls before 18:00 on weekdays" (explain and plan keep calls after 18:00
# on the next weekday); a due date moved to payday; a dispute; an
# opt-out; tampered, unknown-key and expired links; the form token
# (missing, another link's, another origin); validation errors; limits per
# link and per address; the creditor's payment notice; the metrics.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/queue-redis.sh"

start_redis
HPORT=$(free_port)
CFG="$T/cadenza.yaml"
# config PER_ADDRESS
config() {
    cat <<EOC
store: $T/cadenza.db
redis: { url: "redis://127.0.0.1:$RPORT", prefix: "cz:", timeout: 2 }
http: { listen: "127.0.0.1:$HPORT" }
paths: { strategies: $SRCDIR/strategies, templates: $SRCDIR/config/templates,
         profiles: $SRCDIR/config/profiles, holidays: $SRCDIR/config/holidays }
links:
  base_url: http://127.0.0.1:$HPORT
  keys: { k1: { secret_env: CZ_LINK_K1 } }
api:
  keys: { a1: { secret_env: CZ_API_A1 } }
business: { creditor: "Acme Finanzas", agent_phone: "+34 910 000 000" }
selfservice:
  pay_url: "https://pay.acme.example/checkout?ref={token}"
  rate_limit: { per_address: $1, per_token: 12 }
channels:
  email: { plugin: log, kind: email, settings: { path: $T/sends.log } }
  sms: { plugin: log, kind: sms, settings: { path: $T/sends.log } }
  bot: { plugin: log, kind: chat, settings: { path: $T/sends.log } }
  dialer: { plugin: log, kind: call, settings: { path: $T/sends.log } }
  letter: { plugin: log, kind: letter, settings: { path: $T/sends.log } }
EOC
}
config 0 >"$CFG"
export CADENZA_CONFIG="$CFG" CADENZA_STORE="$T/cadenza.db"
export CZ_LINK_K1=link-secret-0123456789abcdef0123456789
export CZ_API_A1=api-secret-0123456789abcdef-0123456789

# debtors whose strategies offer what each case needs (dates relative to today)
/usr/bin/python3 - "$T" <<'EOP'
import datetime, sys
t = sys.argv[1]
today = datetime.date.today()
d = lambda n: (today + datetime.timedelta(days=n)).isoformat()
cols = "id,name,locale,time_zone,country,region,email,phone,chat_handle,balance,currency,due_date,payday,risk_band,segment,tags,flags,consent_email,consent_sms,consent_chat,consent_call,do_not_contact,preferred_channel,prefers_human,age_band,employment_type"
rows = [
    # mid (31-90 dpd): promise, plan
    ("ES1", "María José Ruiz", "es-ES", "Europe/Madrid", "ES", "ES-MD", "maria.ruiz@example.com", "+34616909649", "", "992.88", "EUR", d(-40), "last"),
    ("ES2", "Francisco Gómez", "es-ES", "Europe/Madrid", "ES", "ES-MD", "fgomez@example.com", "+34641831715", "", "600.00", "EUR", d(-45), ""),
    # early-es (1-30): no plan offered; dispute, opt-out
    ("ES3", "Lucía Martín", "es-ES", "Europe/Madrid", "ES", "ES-MD", "lucia.m@example.com", "+34616909648", "", "120.50", "EUR", d(-10), ""),
    # late (91+): calls
    ("GB1", "Grace Evans", "en-GB", "Europe/London", "GB", "GB-ENG", "grace.evans@example.com", "+447922469958", "", "5743.47", "GBP", d(-120), "28"),
    ("GB2", "Harry Smith", "en-GB", "Europe/London", "GB", "GB-ENG", "harry@example.com", "+447922469957", "", "80.00", "GBP", d(-100), ""),
    # preventive (-10..0): move the due date to payday
    ("US1", "Aaliyah Jackson", "en-US", "America/New_York", "US", "US-PA", "aaliyah@example.com", "+12677249096", "", "450.00", "USD", d(5), "15"),
]
with open(t + "/debtors.csv", "w") as f:
    f.write(cols + "\n")
    for r in rows:
        f.write(",".join(r) + ",,loan,,,yes,yes,,yes,,,,,\n")
EOP
cz import debtors "$T/debtors.csv" >/dev/null || fail "import debtors"

czbg serve 2>"$T/serve.err" &
SPID=$!
trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; stop_redis; rm -rf "$T"' EXIT INT TERM
url() { echo "http://127.0.0.1:$HPORT$1"; }
wait_for() { # wait_for SECONDS COMMAND...
    n=$(($1 * 20)); shift
    i=0
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -gt $n ] && return 1
        sleep 0.05
    done
}
wait_for 60 curl -sf "$(url /readyz)" || fail "serve is not ready: $(tail -5 "$T/serve.err")"

# get URL [curl args]: status to stdout, body to $T/body, headers to $T/headers
get() { u=$1; shift; curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@" "$u"; }
csrf() { sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T/body" | head -1; }
# post URL CSRF field=value...: status to stdout, body to $T/body
post() {
    u=$1 c=$2; shift 2
    set -- --data-urlencode "csrf=$c" "$@"
    curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@" "$u"
}
# sql_is QUERY VALUE: for wait_for (the query runs at every try)
sql_is() { [ "$(sql "$1")" = "$2" ]; }
outcomes() { sql "SELECT count(*) FROM outcomes o JOIN debtors d ON d.id = o.debtor_id WHERE d.external_id = '$1' AND o.source = 'selfservice' AND o.code != 3"; }
h1() { sed -n 's:.*<h1>\(.*\)</h1>.*:\1:p' "$T/body"; }
today=$(date +%F)
TOMORROW=$(/usr/bin/python3 -c 'import datetime; print(datetime.date.today() + datetime.timedelta(days=1))')
in_days() { /usr/bin/python3 -c "import datetime; print(datetime.date.today() + datetime.timedelta(days=$1))"; }

# --- the page -----------------------------------------------------------
L1=$(cz link make --attempt 101 --debtor ES1 --action pay)
[ "$(get "$L1")" = 200 ] && pass "GET /s/{token}: 200" || fail "GET page: $(cat "$T/body")"
expect_grep '<html lang="es">' "$T/body" "in the debtor's language (es-ES)"
expect_grep '<h1>Hola, María José Ruiz</h1>' "$T/body" "greets the debtor"
expect_grep '992,88' "$T/body" "the amount in Spanish notation"
expect_grep 'Días de retraso</dt><dd>40</dd>' "$T/body" "days past due"
expect_grep 'm•••@example.com' "$T/body" "the e-mail, masked"
expect_grep '••• ••• 649' "$T/body" "the phone, masked"
if grep -q 'maria.ruiz@example.com\|616909649' "$T/body"; then
    fail "the page shows a whole address"
else pass "no whole address or number on the page"; fi
expect_grep "^Content-Security-Policy: default-src 'none'; style-src 'sha256-" "$T/headers" \
    "a CSP that allows the inline stylesheet only"
expect_grep '^Referrer-Policy: no-referrer' "$T/headers" "no Referer leaks the token"
expect_grep '^Cache-Control: no-store' "$T/headers" "not cached"
expect_grep 'value="promise"' "$T/body" "mid offers a promise"
expect_grep 'value="plan"' "$T/body" "... and a plan"
grep -q 'value="move"' "$T/body" && fail "a move offered when overdue" || pass "no due date move when overdue"
expect_grep 'href="https://pay.acme.example/checkout?ref=v1.k1.' "$T/body" "pay now with the link's token"
wait_for 10 sql_is "SELECT count(*) FROM outcomes WHERE code = 3 AND source = 'selfservice'" 1 \
    && pass "the first visit is a 'clicked' outcome" || fail "no visit recorded"
[ "$(get "$L1" -I)" = 200 ] && pass "HEAD: 200" || fail "HEAD"
get "$L1" >/dev/null
sleep 0.5
[ "$(sql "SELECT count(*) FROM outcomes WHERE code = 3")" = 1 ] && pass "a visit is recorded once" \
    || fail "visits: $(sql "SELECT count(*) FROM outcomes WHERE code = 3")"
[ "$(get "$L1" -H 'Accept-Language: en')" = 200 ] && grep -q '<html lang="es">' "$T/body" \
    && pass "the debtor's locale wins over the browser's" || fail "language"

# --- a promise: stored, the stop marker set, the queued SMS cancelled ---
now=$(date +%s)
# an SMS attempt of the debtor's as a run records it, queued for later today
aid=$(sql "INSERT INTO attempts(debtor_id, idempotency_key, strategy, variant, tier, channel, channel_kind, scheduled_at, created_at, status) SELECT id, 'ik-sms-es1', 'mid', 'default', 'bot', 'sms', 1, $((now + 15)), $now, 1 FROM debtors WHERE external_id = 'ES1'; SELECT last_insert_rowid();")
cat >"$T/sms.jsonl" <<EOJ
{"attempt_id": $aid, "idempotency_key": "ik-sms-es1", "debtor_id": "ES1", "channel": "sms", "channel_kind": "sms", "address": "+34616909649", "template": "early-sms", "inputs": {"name": "María", "amount": "992.88", "currency": "EUR", "due_date": "2026-01-01"}, "locale": "es-ES", "time_zone": "Europe/Madrid", "not_before": $((now + 15)), "not_after": $((now + 7200)), "windows": [[$((now - 60)), $((now + 7200))]], "attempt": 1, "tier": 1}
EOJ
cz queue enqueue "$T/sms.jsonl" >/dev/null || fail "enqueue the SMS"
get "$L1" >/dev/null
C1=$(csrf)
PDATE=$(in_days 7)
[ "$(post "$L1" "$C1" -d action=promise -d "date=$PDATE")" = 200 ] \
    && pass "POST promise: 200" || fail "POST promise: $(h1)"
expect_grep '<h1>Gracias</h1>' "$T/body" "a confirmation page"
expect_grep 'Se ha comprometido a pagar 992,88' "$T/body" "... saying what was promised"
expect_grep 'No le contactaremos antes del' "$T/body" "... and what happens next"
row=$(sql "SELECT o.code, o.promise_date, o.amount_minor, o.source FROM outcomes o JOIN debtors d ON d.id = o.debtor_id WHERE d.external_id = 'ES1' AND o.code = 8")
pd=$(/usr/bin/python3 -c "import datetime; print((datetime.date.fromisoformat('$PDATE') - datetime.date(1970,1,1)).days)")
[ "$row" = "8|$pd|99288|selfservice" ] && pass "stored as promise_to_pay with its date and amount" \
    || fail "stored: '$row'"
[ "$(rcli GET cz:stop:ES1)" != "" ] && pass "the debtor's stop marker is set" || fail "no stop marker"
# the worker's result reaches the store through the drain
wait_for 90 sql_is "SELECT status FROM attempts WHERE id = $aid" 4
row=$(sql "SELECT status, coalesce(error, '') FROM attempts WHERE id = $aid")
[ "$row" = "4|stopped: promise to pay" ] \
    && pass "the SMS queued for the debtor was cancelled by the worker (stopped: promise to pay)" \
    || fail "SMS attempt: '$row'"
if grep -q 'ik-sms-es1' "$T/sends.log" 2>/dev/null; then fail "the SMS was sent"; else
    pass "... and never sent"; fi
cz explain ES1 --date "$TOMORROW" >"$T/explain" 2>&1 || fail "explain: $(cat "$T/explain")"
expect_grep '^  paused until ' "$T/explain" "explain shows the pause"
expect_grep '^decision: no contact: paused' "$T/explain" "... and no contact for it"

# replayed, or used again for another one-shot action: nothing changes
n0=$(outcomes ES1)
[ "$(post "$L1" "$C1" -d action=promise -d "date=$PDATE")" = 409 ] \
    && pass "the same POST again: 409" || fail "replay: $(h1)"
expect_grep '<h1>Este enlace ya se ha utilizado</h1>' "$T/body" "... 'already used', in Spanish"
expect_grep 'No se ha cambiado nada' "$T/body" "... saying nothing changed"
[ "$(post "$L1" "$C1" -d action=plan -d n=2 -d "first=$PDATE")" = 409 ] \
    && pass "another one-shot action with the same link: 409" || fail "second action: $(h1)"
[ "$(outcomes ES1)" = "$n0" ] && pass "... nothing stored" || fail "a replay stored something"
get "$L1" >/dev/null
expect_grep 'Con este enlace se comprometió a pagar' "$T/body" "the page says what the link did"
grep -q 'value="promise"' "$T/body" && fail "one-shot forms still shown" \
    || pass "... and offers no second promise"

# --- a payment plan: instalments stored, the first pauses ---
L2=$(cz link make --attempt 102 --debtor ES2 --action plan)
get "$L2" >/dev/null
FIRST=$(in_days 10)
[ "$(post "$L2" "$(csrf)" -d action=plan -d n=3 -d "first=$FIRST")" = 200 ] \
    && pass "POST plan: 200" || fail "POST plan: $(h1) $(grep -o 'role="alert".*' "$T/body")"
expect_grep '<td>200,00' "$T/body" "the confirmation lists the instalments"
[ "$(sql "SELECT p.instalments, p.total_minor, p.status FROM payment_plans p JOIN debtors d ON d.id = p.debtor_id WHERE d.external_id = 'ES2'")" = "3|60000|0" ] \
    && pass "the plan is stored" || fail "plan: $(sql 'SELECT * FROM payment_plans')"
[ "$(sql "SELECT group_concat(amount_minor) FROM plan_instalments")" = "20000,20000,20000" ] \
    && pass "... with three instalments" || fail "instalments: $(sql 'SELECT * FROM plan_instalments')"
[ "$(sql "SELECT code FROM outcomes o JOIN debtors d ON d.id = o.debtor_id WHERE d.external_id = 'ES2' AND o.code = 15")" = 15 ] \
    && pass "... as a plan_agreed outcome" || fail "no plan_agreed outcome"
cz explain ES2 --date "$TOMORROW" >"$T/explain" 2>&1
expect_grep "payment plan: instalment 1 of 3 due $FIRST" "$T/explain" "explain shows the plan"
expect_grep '^decision: no contact: paused' "$T/explain" "... paused until the first instalment"
[ "$(rcli GET cz:stop:ES2)" != "" ] && pass "the plan set the stop marker" || fail "no stop marker for ES2"

# --- "no calls before 18:00 on weekdays": the next weekday's plan ---
L3=$(cz link make --attempt 103 --debtor GB1 --action preferences)
get "$L3" >/dev/null
expect_grep '<html lang="en">' "$T/body" "an English page for en-GB"
expect_grep '£5,743.47' "$T/body" "pounds in English notation"
[ "$(post "$L3" "$(csrf)" -d action=prefs -d channel= -d language=en -d f_who=call \
    -d f_days=weekdays -d f_from=0 -d f_to=18 -d p_from= -d p_to=)" = 200 ] \
    && pass "POST preferences: 200" || fail "POST prefs: $(h1)"
expect_grep 'We will not call you before 18:00 on weekdays.' "$T/body" "the confirmation says it"
[ "$(sql "SELECT forbidden FROM debtor_prefs p JOIN debtors d ON d.id = p.debtor_id WHERE d.external_id = 'GB1'")" = "call Mon-Fri 00:00-18:00" ] \
    && pass "stored as a hard rule" || fail "prefs: $(sql 'SELECT * FROM debtor_prefs')"
[ "$(rcli GET cz:stop:GB1)" = "preferences changed" ] && pass "today's queued jobs are stopped" \
    || fail "stop marker: '$(rcli GET cz:stop:GB1)'"
WD=$(/usr/bin/python3 -c '
import datetime
d = datetime.date.today() + datetime.timedelta(days=1)
while d.weekday() > 4: d += datetime.timedelta(days=1)
print(d)')
cz explain GB1 --date "$WD" >"$T/explain" 2>&1
expect_grep 'not to be contacted (hard rule): call Mon-Fri 00:00-18:00' "$T/explain" \
    "explain lists the stated rule"
expect_grep 'dialer .* 10:00 .*rejected: debtor.s stated do-not-contact time' "$T/explain" \
    "a 10:00 call is rejected for it"
expect_grep 'dialer .* 1[89]:00 .*kept' "$T/explain" "an evening call is kept"
dec=$(sed -n 's/^decision: dialer at .* (local [A-Za-z]* [0-9-]* \([0-9][0-9]\):.*/\1/p' "$T/explain")
[ -n "$dec" ] && [ "$dec" -ge 18 ] && pass "the day's call is at ${dec}:00 local, after 18:00" \
    || fail "decision: $(grep '^decision' "$T/explain")"
cz plan --date "$WD" --debtor GB1 --format csv >"$T/plan.csv" 2>&1 || fail "plan: $(cat "$T/plan.csv")"
/usr/bin/python3 - "$T/plan.csv" <<'EOP' && pass "plan: the contact is a call after 18:00 London time" || fail "plan: $(cat "$T/plan.csv")"
import csv, sys, datetime, zoneinfo
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 1, rows
r = rows[0]
at = datetime.datetime.fromisoformat(r["scheduled_at"].replace("Z", "+00:00"))
local = at.astimezone(zoneinfo.ZoneInfo("Europe/London"))
assert r["channel"] == "dialer" and local.hour >= 18, (r, local)
EOP

# --- a due date moved to payday (preventive) ---
L4=$(cz link make --attempt 104 --debtor US1 --action preferences)
get "$L4" >/dev/null
expect_grep 'value="move"' "$T/body" "preventive offers the due date move"
[ "$(post "$L4" "$(csrf)" -d action=move -d payday=last)" = 200 ] \
    && pass "POST move: 200" || fail "POST move: $(h1)"
NEWDUE=$(/usr/bin/python3 -c '
import datetime, calendar
due = datetime.date.today() + datetime.timedelta(days=5)
y, m = due.year, due.month
for _ in range(3):
    d = datetime.date(y, m, calendar.monthrange(y, m)[1])
    if d > due: break
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
print(d)')
expect_grep "Your new due date is" "$T/body" "the confirmation names the new due date"
cz explain US1 --date "$TOMORROW" >"$T/explain" 2>&1
expect_grep "due date moved from $(in_days 5) to $NEWDUE" "$T/explain" "explain plans with the moved due date"

# --- dispute and opt-out (early-es: no plan offered) ---
L5=$(cz link make --attempt 105 --debtor ES3 --action opt_out)
get "$L5" >/dev/null
C5=$(csrf)
grep -q 'value="plan"' "$T/body" && fail "early-es offers a plan" || pass "no plan where the strategy offers none"
n0=$(outcomes ES3)
[ "$(post "$L5" "$C5" -d action=plan -d n=2 -d "first=$FIRST")" = 422 ] \
    && grep -q 'Esta opción no está disponible' "$T/body" && pass "a plan POSTed anyway: 422" \
    || fail "plan not offered: $(h1)"
[ "$(post "$L5" "$C5" -d action=promise -d "date=$(in_days 30)")" = 422 ] \
    && grep -q 'role="alert"' "$T/body" && pass "a promise beyond promise_max_days: 422 with an alert" \
    || fail "late promise: $(h1)"
[ "$(outcomes ES3)" = "$n0" ] && pass "... neither stored anything" || fail "a refused action stored"
[ "$(post "$L5" "$C5" -d action=opt_out -d kind=sms)" = 200 ] \
    && grep -q 'Ya no le contactaremos por SMS' "$T/body" && pass "POST opt-out of SMS: 200" \
    || fail "opt-out: $(h1)"
[ "$(sql "SELECT code, channel_kind FROM outcomes o JOIN debtors d ON d.id = o.debtor_id WHERE d.external_id = 'ES3' AND o.code = 10")" = "10|1" ] \
    && pass "stored as an SMS opt-out" || fail "opt-out row"
[ "$(post "$L5" "$C5" --data-urlencode 'reason=No es mía <b>nunca</b> & 100% + más' -d action=dispute)" = 200 ] \
    && pass "POST dispute: 200" || fail "dispute: $(h1)"
[ "$(sql "SELECT detail FROM selfservice_actions WHERE action = 'dispute'")" = '{"reason":"No es mía <b>nunca</b> & 100% + más"}' ] \
    && pass "the reason is kept as written" || fail "dispute detail: $(sql "SELECT detail FROM selfservice_actions")"
[ "$(rcli GET cz:stop:ES3)" = "dispute" ] && pass "the dispute stops queued jobs" || fail "no dispute stop"
get "$L5" >/dev/null
expect_grep 'El cobro está en pausa' "$T/body" "the page says collection is on hold"

# --- links that are not valid: nothing changes, nothing is told ---
n0=$(sql "SELECT count(*) FROM outcomes")
L6=$(cz link make --attempt 106 --debtor GB2)
bad=$(echo "$L6" | sed 's/.$/A/'); [ "$bad" = "$L6" ] && bad=$(echo "$L6" | sed 's/.$/B/')
[ "$(get "$bad" -H 'Accept-Language: es-ES,es;q=0.9')" = 404 ] \
    && grep -q '<h1>Este enlace no es válido</h1>' "$T/body" \
    && pass "a tampered link: 404 in the browser's language" || fail "tampered: $(h1)"
unk=$(echo "$L6" | sed 's/\.k1\./.k9./')
[ "$(get "$unk")" = 404 ] && grep -q '<h1>This link is not valid</h1>' "$T/body" \
    && pass "an unknown key: the same 404" || fail "unknown key: $(h1)"
old=$(cz link make --attempt 107 --debtor ES1 --ttl 60 --now "$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)")
[ "$(get "$old")" = 410 ] && grep -q '<h1>Este enlace ha caducado</h1>' "$T/body" \
    && pass "an expired link: 410 in the debtor's language" || fail "expired: $(h1)"
get "$L6" >/dev/null
C6=$(csrf)
[ "$(post "$L6" "" -d action=dispute -d reason=x)" = 403 ] && pass "no form token: 403" \
    || fail "no csrf: $(h1)"
[ "$(post "$L6" "$C5" -d action=dispute -d reason=x)" = 403 ] \
    && pass "another link's form token: 403" || fail "foreign csrf: $(h1)"
[ "$(post "$L6" "$C6" -H 'Origin: https://evil.example' -d action=dispute -d reason=x)" = 403 ] \
    && pass "a form posted from another site: 403" || fail "origin: $(h1)"
[ "$(post "$L6" "$C6" -H 'Sec-Fetch-Site: cross-site' -d action=dispute -d reason=x)" = 403 ] \
    && grep -q '<h1>This form has expired</h1>' "$T/body" \
    && pass "Sec-Fetch-Site: cross-site: 403" || fail "sec-fetch-site: $(h1)"
[ "$(post "$bad" "$C6" -d action=dispute -d reason=x)" = 404 ] && pass "a POST on a tampered link: 404" \
    || fail "tampered POST: $(h1)"
sleep 0.3
[ "$(sql "SELECT count(*) FROM outcomes")" = "$(( n0 + 1 ))" ] \
    && pass "none of these changed anything (the one new row is GB2's visit)" \
    || fail "outcomes: $n0 -> $(sql "SELECT count(*) FROM outcomes")"

# --- the creditor's payment notice for a link ---
paybody() { printf '{"event_id": "%s", "token": "%s", "amount": "%s"}' "$1" "${L6##*/}" "$2"; }
sign() {
    /usr/bin/python3 -c '
import hashlib, hmac, os, sys, time
t = str(int(time.time())); body = sys.stdin.buffer.read()
print("t=%s,v1=%s" % (t, hmac.new(os.environ["CZ_API_A1"].encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()))'
}
paybody pay-1 80.00 >"$T/pay.json"
code=$(curl -s -o "$T/body" -w '%{http_code}' -H "Cadenza-Signature: $(sign <"$T/pay.json")" \
    --data-binary "@$T/pay.json" "$(url /webhooks/payment)")
[ "$code" = 200 ] && grep -q '"stored":1' "$T/body" && pass "payment notice: stored" \
    || fail "payment: $code $(cat "$T/body")"
[ "$(sql "SELECT code, amount_minor, source FROM outcomes o JOIN debtors d ON d.id = o.debtor_id WHERE d.external_id = 'GB2' AND o.code = 9")" = "9|8000|payment" ] \
    && pass "... as the link's debtor's payment" || fail "paid row"
code=$(curl -s -o "$T/body" -w '%{http_code}' --data-binary "@$T/pay.json" "$(url /webhooks/payment)")
[ "$code" = 401 ] && pass "an unsigned payment notice: 401" || fail "unsigned payment: $code"
printf '{"event_id": "pay-2", "token": "%s", "amount": "1"}' "${bad##*/}" >"$T/pay2.json"
code=$(curl -s -o "$T/body" -w '%{http_code}' -H "Cadenza-Signature: $(sign <"$T/pay2.json")" \
    --data-binary "@$T/pay2.json" "$(url /webhooks/payment)")
[ "$code" = 422 ] && grep -q 'bad signature' "$T/body" && pass "a payment for a tampered link: 422" \
    || fail "tampered payment: $code $(cat "$T/body")"

# --- limits: per link, then per address ---
L7=$(cz link make --attempt 108 --debtor GB2)
codes=""
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do codes="$codes $(get "$L7")"; done
# 12 at once, then one more every 5 s: the last ones of a quick burst are refused
case "$codes" in
" 200 200 200 200 200 200 200 200 200 200 200 200 "*429" 429") pass "12 requests a minute per link, then 429" ;;
*) fail "per-link limit: $codes" ;;
esac
expect_grep '^Retry-After: [0-9]' "$T/headers" "... with Retry-After"
expect_grep '<h1>Too many requests</h1>' "$T/body" "... and a page that says so"
[ "$(get "$L6")" = 200 ] && pass "another link is not limited by it" || fail "other link limited"

curl -s "$(url /metrics)" >"$T/metrics"
expect_grep '^cadenza_selfservice_requests_total{result="page"} [1-9]' "$T/metrics" "metrics: pages"
expect_grep '^cadenza_selfservice_requests_total{result="rate_limited"} [1-9]' "$T/metrics" "metrics: limited"
expect_grep '^cadenza_selfservice_actions_total{action="promise"} 1$' "$T/metrics" "metrics: actions"
if command -v promtool >/dev/null; then
    promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1 && pass "promtool accepts them" \
        || fail "promtool: $(cat "$T/promtool")"
fi

config 5 >"$CFG"
kill -HUP $SPID
wait_for 30 sh -c "curl -s $(url /metrics) | grep -q '^cadenza_reloads_total{result=\"ok\"} 1'" \
    || fail "reload"
L8=$(cz link make --attempt 109 --debtor GB2)
codes=""
for i in 1 2 3 4 5 6 7; do codes="$codes $(get "$L8")"; done
case "$codes" in
" 200 200 200 200 200 "*"429 429") pass "per_address 5 after a reload: the address is limited" ;;
*) fail "per-address limit: $codes" ;;
esac

kill -TERM $SPID
wait $SPID
rc=$?
[ $rc -eq 0 ] && pass "serve exits 0" || fail "serve exit $rc: $(tail -5 "$T/serve.err")"
finish
