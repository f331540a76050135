#!/bin/sh
# The agent brief end to end: debtors and their outcome history imported
# into a store, the daily run (shipped strategies) plans dialer calls and
# puts each debtor's brief into its call jobs (and into no other job), a
# real Redis carries them, and a worker hands them to a loopback server
# that speaks VICIdial's non-agent API (add_lead, text replies).  Checked:
# what arrived in `comments` (at most 255 bytes, whole UTF-8 characters,
# the compact brief that `cadenza brief` prints for the same instant) and
# in the custom fields (custom_fields=Y and every cz_ field with the whole
# brief), a list without those fields logged once, and `cadenza brief`
# itself: text and JSON, and its errors.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/queue-redis.sh"
FTLIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
[ -n "$FTLIB" ] || { echo "libfaketime not installed, skipping"; exit 77; }

HPORT=$(free_port)
# --- the loopback VICIdial: records every request, adds every lead ------------
/usr/bin/python3 - "$HPORT" "$T/http.log" <<'EOP' &
import http.server, json, sys, threading, urllib.parse
port, log = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
next_id = [5000]

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        raw = dict(p.split("=", 1) for p in u.query.split("&") if "=" in p)
        with lock:
            with open(log, "a") as f:
                f.write(json.dumps({"q": q, "raw_comments": raw.get("comments", "")}) + "\n")
            lid = next_id[0]
            next_id[0] += 1
        ph = q.get("phone_number", "")
        out = "SUCCESS: add_lead LEAD HAS BEEN ADDED - %s|%s|%s|%d|1\n" % (ph, q.get("user"), q.get("list_id"), lid)
        if q.get("custom_fields") == "Y":
            if ph.endswith("02"):
                out += "NOTICE: add_lead CUSTOM FIELDS NOT ADDED, NO CUSTOM FIELDS DEFINED FOR THIS LIST - %s|%d|101\n" % (ph, lid)
            else:
                out += "NOTICE: add_lead CUSTOM FIELDS VALUES ADDED - %s|%d|101\n" % (ph, lid)
        body = out.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass

class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
srv = S(("127.0.0.1", port), H)
threading.Timer(240, srv.shutdown).start()  # bounded
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

cat >"$T/cadenza.yaml" <<EOC
redis:
  url: redis://127.0.0.1:$RPORT
paths:
  strategies: $SRCDIR/strategies
  templates: $SRCDIR/config/templates
  profiles: $SRCDIR/config/profiles
  holidays: $SRCDIR/config/holidays
channels:
  email:  { plugin: log, kind: email,  settings: { path: $T/sends.log } }
  sms:    { plugin: log, kind: sms,    settings: { path: $T/sends.log } }
  bot:    { plugin: log, kind: chat,   settings: { path: $T/sends.log } }
  letter: { plugin: log, kind: letter, settings: { path: $T/sends.log } }
  dialer:
    plugin: vicidial
    kind: call
    settings:
      url: http://127.0.0.1:$HPORT/vicidial/non_agent_api.php
      user: api
      pass: sekret
      list_id: 101
      phone_code: 34
      expire_at_window_close: false
      custom_fields: true
EOC
export CADENZA_CONFIG="$T/cadenza.yaml"

# B1: late (dpd 130), a broken plan before; B2: vulnerable (the hardship
# strategy); B3: reached by e-mail only (its job must carry no brief)
cat >"$T/debtors.csv" <<'EOF'
id,name,locale,time_zone,country,phone,email,balance,currency,due_date,payday,tags,flags,consent_call
B1,Ana García López,es-ES,Europe/Madrid,ES,+34612345601,,1234.56,EUR,2026-08-01,25,payment_plan_broken,,yes
B2,Carmen Ruiz,es-ES,Europe/Madrid,ES,+34612345602,,300.00,EUR,2026-10-15,,,vulnerable,yes
B3,Eva Solo,es-ES,Europe/Madrid,ES,,eva@example.es,80.00,EUR,2026-11-25,,,,
EOF
expect_exit 0 "import debtors" -- cz import debtors "$T/debtors.csv"
# B1's history: a promise kept in June (older than the planner looks), one
# broken in November, calls and an SMS
cat >"$T/outcomes.csv" <<'EOF'
debtor_id,channel,attempted_at,outcome,amount,promise_date,attempt_id
B1,call,2026-06-10T10:00:00+02:00,promise_to_pay,200.00,2026-06-15,h1
B1,,2026-06-14T09:00:00+02:00,paid,200.00,,
B1,call,2026-11-02T17:30:00+01:00,no_answer,,,h2
B1,call,2026-11-10T18:00:00+01:00,promise_to_pay,150.00,2026-11-14,h3
B1,sms,2026-11-25T10:00:00+01:00,delivered,,,h4
EOF
expect_exit 0 "import outcomes" -- cz import outcomes --no-stop "$T/outcomes.csv"

D=2026-12-09 # a Wednesday, no holiday in Spain
expect_exit 0 "the daily run" -- cz run --date $D --now ${D}T00:00:00Z
calls=$(sql "SELECT count(*) FROM attempts WHERE channel = 'dialer'")
[ "$calls" -eq 2 ] && pass "two dialer calls planned" ||
    fail "dialer calls planned: $calls ($(sql "SELECT d.external_id, a.channel FROM attempts a JOIN debtors d ON d.id = a.debtor_id"))"

# the brief travels in call jobs only
for id in $(sql "SELECT a.id FROM attempts a WHERE a.channel = 'dialer'"); do
    rcli HGET cz:jobs "$id" >"$T/job.$id"
    grep -q '"brief":{' "$T/job.$id" && grep -q '"brief_fields":{' "$T/job.$id" &&
        grep -q '"brief_text":"' "$T/job.$id" || fail "call job $id carries no brief: $(cat "$T/job.$id")"
done
for id in $(sql "SELECT a.id FROM attempts a WHERE a.channel <> 'dialer'"); do
    rcli HGET cz:jobs "$id" | grep -q 'brief' && fail "job $id on another channel carries a brief"
done
pass "briefs in call jobs only"

# send each call at its slot (the worker's clock faked there)
for t in $(sql "SELECT DISTINCT scheduled_at FROM attempts WHERE channel = 'dialer' ORDER BY 1"); do
    at=$(date -u -d "@$((t + 30))" '+%Y-%m-%d %H:%M:%S')
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" TZ=UTC \
        LD_PRELOAD="$FTLIB" FAKETIME="@$at" FAKETIME_DONT_FAKE_MONOTONIC=1 \
        ${CADENZA_WRAP:-} "$CADENZA" worker --once --channels dialer >/dev/null 2>>"$T/worker.err" ||
        { fail "worker at $at"; tail -n 20 "$T/worker.err" >&2; }
done
expect_exit 0 "drain results" -- cz queue drain
sent=$(sql "SELECT count(*) FROM attempts WHERE channel = 'dialer' AND status = 2 AND provider_id LIKE '50%'")
[ "$sent" -eq 2 ] && pass "both calls sent as VICIdial leads" ||
    fail "calls sent: $sent ($(sql "SELECT status, error FROM attempts WHERE channel = 'dialer'"))"
n=$(grep -c "CUSTOM FIELDS NOT ADDED" "$T/worker.err")
[ "$n" -eq 1 ] && pass "a list without the brief's fields is logged once" ||
    fail "custom field warnings: $n"
expect_grep "define the cz_\* fields on list 101" "$T/worker.err" "the warning says what to do"

# what `cadenza brief` says for B1 at its call's slot is what VICIdial got
t1=$(sql "SELECT a.scheduled_at FROM attempts a JOIN debtors d ON d.id = a.debtor_id WHERE d.external_id = 'B1' AND a.channel = 'dialer'")
now1=$(date -u -d "@$t1" '+%Y-%m-%dT%H:%M:%SZ')
expect_exit 0 "brief B1 (json)" -- cz brief B1 --format json --now "$now1"
cp "$T/out" "$T/b1.json"
expect_exit 0 "brief B1 (text)" -- cz brief B1 --now "$now1"
cp "$T/out" "$T/b1.txt"

/usr/bin/python3 - "$T/http.log" "$T/b1.json" <<'EOP' && pass "comments and custom fields carry the brief" || fail "see above"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
cli = json.load(open(sys.argv[2]))
bad = []
def check(c, what):
    if not c:
        bad.append(what)
by_phone = {r["q"]["phone_number"]: r for r in reqs if r["q"].get("function") == "add_lead"}
check(set(by_phone) == {"612345601", "612345602"}, "two leads: %s" % sorted(by_phone))
a = by_phone.get("612345601", {"q": {}, "raw_comments": ""})
q = a["q"]
c = q.get("comments", "")
check(0 < len(c.encode()) <= 255, "comments of %d bytes" % len(c.encode()))
check(c == cli["compact"], "comments %r differ from cadenza brief's compact %r" % (c, cli["compact"]))
check(c.startswith("Ana García López (es-ES) | FLAGS payment plan broken before | owes 1234.56 EUR | 130 dpd, due 2026-08-01"),
      "comments: %r" % c)
check("promises 2: 1 kept, 1 broken; last 2026-11-14 broken" in c, "promises in comments: %r" % c)
check(q.get("custom_fields") == "Y", "custom_fields=Y")
f = cli["fields"]
for k, v in f.items():
    if v:
        check(q.get("cz_" + k) == v, "cz_%s=%r, expected %r" % (k, q.get("cz_" + k), v))
check(q.get("cz_balance") == "1234.56 EUR", "cz_balance %r" % q.get("cz_balance"))
check(q.get("cz_promises", "").startswith("2 made: 1 kept, 1 broken, 0 open"), "cz_promises %r" % q.get("cz_promises"))
check("payment plan of up to 12 instalments (from 102.88 EUR each)" in q.get("cz_offers", ""),
      "cz_offers %r" % q.get("cz_offers"))
check("waive late fees" in q.get("cz_offers", ""), "fee waiver offered")
check(q.get("cz_payday") == "25th (imported), next 2026-12-25", "cz_payday %r" % q.get("cz_payday"))
check(q.get("cz_last_contacts", "").startswith("2026-11-25 10:00 sms delivered; 2026-11-10 18:00 call promise_to_pay"),
      "cz_last_contacts %r" % q.get("cz_last_contacts"))
check(q.get("cz_script", "").startswith("A payment plan broke before"), "cz_script %r" % q.get("cz_script"))
check(q.get("cz_tier") == "late/calls", "cz_tier %r" % q.get("cz_tier"))
check(q.get("first_name") == "Ana" and q.get("last_name") == "García López", "names")
b = by_phone.get("612345602", {"q": {}})["q"]
check(b.get("comments", "").startswith("Carmen Ruiz (es-ES) | FLAGS vulnerable | owes 300.00 EUR"),
      "B2 comments %r" % b.get("comments"))
check(b.get("cz_flags") == "vulnerable" and b.get("cz_script", "").startswith("Vulnerable customer"),
      "B2 flags and script: %r %r" % (b.get("cz_flags"), b.get("cz_script")))
check("payment plan of up to 24 instalments" in b.get("cz_offers", ""), "B2 hardship offers")
for r in reqs:
    v = r["q"].get("comments", "")
    check(len(v.encode()) <= 255, "comments over 255 bytes")
    for k, val in r["q"].items():
        check("'" not in val and '"' not in val, "a quote sent in %s" % k)
for x in bad:
    print("  " + x, file=sys.stderr)
sys.exit(1 if bad else 0)
EOP

expect_grep "^Agent brief: Ana García López (B1), language es-ES, as of $D (Europe/Madrid)$" "$T/b1.txt" \
    "brief: who, language, as of"
expect_grep "^  balance       1234.56 EUR, 130 days past due (due 2026-08-01)$" "$T/b1.txt" "brief: balance and dpd"
expect_grep "^  strategy      late / default / calls$" "$T/b1.txt" "brief: the tier the run recorded"
expect_grep "^  promises      2 made: 1 kept, 1 broken, 0 open; last 150.00 EUR for 2026-11-14 (broken)$" \
    "$T/b1.txt" "brief: promises"
expect_grep "^  last payment  200.00 EUR on 2026-06-14 09:00$" "$T/b1.txt" "brief: last payment"
expect_grep "^  flags         payment plan broken before: A payment plan broke before" "$T/b1.txt" \
    "brief: a tag's script note"
expect_grep "^                waive late fees$" "$T/b1.txt" "brief: offers"

expect_exit 1 "brief of an unknown debtor" -- cz brief NOBODY
expect_grep "no debtor with id 'NOBODY'" "$T/err" "unknown debtor named"
[ -s "$T/out" ] && fail "unknown debtor printed to stdout"
expect_exit 2 "brief without a debtor" -- cz brief
expect_grep "missing debtor id" "$T/err" "missing id named"
expect_exit 2 "brief with a bad format" -- cz brief B1 --format xml
expect_grep "invalid format 'xml': expected text or json" "$T/err" "bad format named"
expect_exit 2 "brief with a bad time" -- cz brief B1 --now yesterday
expect_exit 3 "brief without a store" -- cz --store "$T/none/x.db" brief B1
expect_exit 0 "brief --help" -- cz brief --help
expect_grep "usage: cadenza brief DEBTOR" "$T/out" "brief --help prints its usage"
# the store is opened read-only: brief changes nothing
before=$(sqlite3 "$CADENZA_STORE" "SELECT count(*) FROM outcomes" )
cz brief B2 >/dev/null 2>&1
[ "$(sqlite3 "$CADENZA_STORE" "SELECT count(*) FROM outcomes")" -eq "$before" ] && pass "brief is read only" ||
    fail "brief wrote to the store"
if grep -q "sekret" "$T/worker.err"; then fail "the password was logged"; else pass "no password logged"; fi
finish
