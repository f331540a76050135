#!/bin/sh
# The email channel end to end: a worker leases jobs from a real Redis,
# the host renders their template, the plugin builds the message and the
# host's libcurl delivers it to a real SMTP server on loopback (aiosmtpd,
# writing a Maildir).  Python's email package parses every message that
# arrives: every header, both parts decoded back to what was rendered,
# and the List-Unsubscribe link, which `cadenza link verify` accepts;
# at most max_inflight connections carry them all.
# A second SMTP server of the test's own answers 421, 451, 550, 553, 554,
# 535 to AUTH, or nothing at all, by recipient; a channel pointed at a
# closed port sees a refused connection; each attempt must be classified
# (retry, invalid_address, failed); a channel requiring STARTTLS from a
# server that does not offer it retries and says so once.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/queue-redis.sh"
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
    { echo "python3-aiosmtpd not installed, skipping"; exit 77; }

SPID= FPID= WPID=
cleanup() {
    for p in $WPID $SPID $FPID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    stop_redis
    rm -rf "$T"
}
trap cleanup EXIT INT TERM

# --- the servers -------------------------------------------------------------
start_redis
MAILDIR="$T/maildir"
mkdir -p "$MAILDIR/new" "$MAILDIR/cur" "$MAILDIR/tmp"
SPORT=$(free_port)
/usr/bin/python3 -m aiosmtpd -n -d -l "127.0.0.1:$SPORT" -c aiosmtpd.handlers.Mailbox "$MAILDIR" \
    2>"$T/aiosmtpd.err" &
SPID=$!

# The failing server: a bounded asyncio loop on a port it binds itself
# (written to a file once listening); what it answers depends on the
# recipient's local part.  Every transaction it sees is logged.
cat >"$T/smtp-fail.py" <<'EOP'
import asyncio, base64, sys
portfile, logfile, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
log = open(logfile, "a", buffering=1)

async def session(reader, writer):
    def say(line):
        writer.write((line + "\r\n").encode())
    say("220 fail.test ESMTP test server")
    rcpt_kind = None
    try:
        while True:
            raw = await reader.readline()
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                say("250-fail.test")
                say("250-AUTH PLAIN LOGIN")
                say("250 8BITMIME")
            elif verb == "AUTH":
                # AUTH PLAIN [initial response]: log the password, refuse it
                parts = line.split()
                cred = parts[2] if len(parts) > 2 else ""
                if not cred and len(parts) > 1 and parts[1].upper() == "PLAIN":
                    say("334 ")
                    await writer.drain()
                    cred = (await reader.readline()).decode("ascii", "replace").strip()
                try:
                    pw = base64.b64decode(cred).split(b"\0")[-1].decode("utf-8", "replace")
                except Exception:
                    pw = "?"
                log.write("auth %s\n" % pw)
                say("535 5.7.8 Authentication credentials invalid")
            elif verb == "MAIL":
                rcpt_kind = None
                say("250 2.1.0 ok")
            elif verb == "RCPT":
                local = line.split("<", 1)[1].split("@", 1)[0] if "<" in line else ""
                kind = local.split("-", 1)[0]
                log.write("rcpt %s\n" % local)
                if kind == "t421":
                    say("421 4.3.2 service shutting down")
                    await writer.drain()
                    break
                elif kind == "t451":
                    say("451 4.7.1 greylisted, try again later")
                elif kind == "t550":
                    say("550 5.1.1 no such user here")
                elif kind == "t553":
                    say("553 5.1.3 mailbox name not allowed")
                elif kind == "tspam":
                    say("550-5.7.1 Message refused as spam by local policy;")
                    say("550 5.7.1 see https://mail.example/policy")
                elif kind == "tslow":
                    await asyncio.sleep(limit)
                    break
                else:
                    rcpt_kind = kind
                    say("250 2.1.5 ok")
            elif verb == "DATA":
                say("354 go ahead")
                await writer.drain()
                while True:
                    l = await reader.readline()
                    if not l or l == b".\r\n":
                        break
                if rcpt_kind == "t554":
                    say("554 5.6.0 message content refused")
                else:
                    say("250 2.0.0 queued")
            elif verb == "QUIT":
                say("221 bye")
                await writer.drain()
                break
            else:
                say("250 ok")
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    writer.close()

async def main():
    server = await asyncio.start_server(session, "127.0.0.1", 0)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    await asyncio.sleep(limit)  # bounded: never outlives the test

asyncio.run(main())
EOP
/usr/bin/python3 "$T/smtp-fail.py" "$T/fail.port" "$T/fail.log" 240 2>"$T/fail.err" &
FPID=$!
# a port with nothing behind it: connection refused
DOWNPORT=$(free_port)

i=0
while ! [ -s "$T/fail.port" ] ||
    ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $SPORT), 1)" \
        2>/dev/null; do
    i=$((i + 1)); [ $i -gt 200 ] && { fail "the SMTP servers did not start"; finish; }
    sleep 0.05
done
FPORT=$(cat "$T/fail.port")

# --- configuration: a template with an HTML part, signed links ----------------
mkdir -p "$T/templates" "$T/no-strategies"
cat >"$T/templates/notice-email.txt" <<'EOT'
Subject: {{name}}, su pago de {{amount}} está pendiente — aviso nº 1 de {{creditor}}

Hola {{name}}:

Su saldo de {{amount}} venció el {{due_date}}. Puede pagarlo aquí:
{{pay_link}}
Una línea con espacio final y un signo = que el quoted-printable codifica 
Una línea muy larga que pasa de setenta y seis caracteres para obligar a un salto suave en el cuerpo del mensaje.

Para dejar de recibir estos correos: {{opt_out_link}}
--- html ---
<p>Hola {{name}}:</p>
<p>Su saldo de <b>{{amount}}</b> venció el {{due_date}}.</p>
<p><a href="{{pay_link}}">Pagar</a> · <a href="{{opt_out_link}}">Darse de baja</a></p>
EOT
head -c 32 /dev/urandom | base64 >"$T/link.key"
chmod 600 "$T/link.key"

CFG="$T/cadenza.yaml"
cat >"$CFG" <<EOC
redis:
  url: redis://127.0.0.1:$RPORT
  prefix: "cz:"
paths:
  strategies: $T/no-strategies
  profiles: $SRCDIR/config/profiles
  holidays: $SRCDIR/config/holidays
  templates: $T/templates
links:
  base_url: https://pay.example.com
  keys:
    k1: { secret_file: $T/link.key }
business:
  creditor: Acme Finanzas
channels:
  email:
    plugin: email
    kind: email
    settings:
      url: smtp://127.0.0.1:$SPORT
      tls: none
      from: "Cobros Acme, S.L. <cobros@acme.example>"
      reply_to: "Atención al cliente <ayuda@acme.example>"
      unsubscribe_mailto: baja@acme.example
      message_id_domain: mail.acme.example
      max_inflight: 4
  email-fail:
    plugin: email
    kind: email
    settings: { url: "smtp://127.0.0.1:$FPORT", tls: none, from: cobros@acme.example,
                timeout_ms: 1500 }
  email-auth:
    plugin: email
    kind: email
    settings: { url: "smtp://127.0.0.1:$FPORT", tls: none, from: cobros@acme.example,
                username: cadenza, password: wrong-password }
  email-auth-env:
    plugin: email
    kind: email
    settings: { url: "smtp://127.0.0.1:$FPORT", tls: none, from: cobros@acme.example,
                username: cadenza, password: { env: CZ_TEST_SMTP_PASSWORD } }
  email-auth-file:
    plugin: email
    kind: email
    settings: { url: "smtp://127.0.0.1:$FPORT", tls: none, from: cobros@acme.example,
                username: cadenza, password: { file: smtp.password } }
  email-down:
    plugin: email
    kind: email
    settings: { url: "smtp://127.0.0.1:$DOWNPORT", tls: none, from: cobros@acme.example }
  email-tls-required:
    plugin: email
    kind: email
    settings: { url: "smtp://127.0.0.1:$FPORT", from: cobros@acme.example }
EOC
export CADENZA_CONFIG="$CFG"
printf 'from-the-file\n' >"$T/smtp.password"
chmod 600 "$T/smtp.password"
export CZ_TEST_SMTP_PASSWORD=from-the-environment

expect_exit 0 "validate accepts the email channels" -- cz validate
expect_grep "'password' is written inline: keep it out of the configuration with" "$T/err" \
    "an inline password gets a warning"
n=$(grep -c "is written inline" "$T/err")
[ "$n" -eq 1 ] && pass "passwords from a file or the environment get none" \
    || fail "$n inline warnings"
env -u CZ_TEST_SMTP_PASSWORD ${CADENZA_WRAP:-} "$CADENZA" validate >"$T/out" 2>"$T/err" \
    && fail "validate accepted an unset password variable" || pass "an unset variable fails validate"
expect_grep "cadenza.yaml:[0-9]*:[0-9]*: error: environment variable 'CZ_TEST_SMTP_PASSWORD' for 'password' is not set" \
    "$T/err" "... naming the variable at file:line:col"
chmod 644 "$T/smtp.password"
expect_exit 0 "a password file others can read still validates" -- cz validate
expect_grep "'password' comes from 'smtp.password', which other users can read (chmod 600)" \
    "$T/err" "... with a warning"
chmod 600 "$T/smtp.password"
expect_exit 0 "plugins email: its settings" -- cz plugins email
expect_grep "password .*secret .*SMTP AUTH password" "$T/out" "the password is a secret"
expect_grep "max_inflight .*integer 1..1000, default 8" "$T/out" "max_inflight with bounds"

# jobs FILE CHANNEL FIRST ADDRESS-PATTERN...: one job per address (%d: attempt id)
jobs() {
    /usr/bin/python3 - "$@" <<'EOP'
import json, sys, time
out, ch, first, addrs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
now = int(time.time())
with open(out, "w") as f:
    for k, a in enumerate(addrs):
        i = first + k
        f.write(json.dumps({
            "attempt_id": i, "idempotency_key": "ik-%d" % i, "debtor_id": "D%d" % i,
            "channel": ch, "channel_kind": "email", "address": a % i if "%d" in a else a,
            "template": "notice-email", "time_zone": "Europe/Madrid",
            "inputs": {"name": "Débora Núñez %d" % i, "amount": "1234.56", "currency": "EUR",
                       "due_date": "2026-11-30"}, "locale": "es-ES",
            "not_before": now - 1, "not_after": now + 7200,
            "windows": [[now - 60, now + 7200]], "attempt": 1, "tier": 1}) + "\n")
EOP
}

# results: "attempt-id status info" per entry of the results stream
results() { results_stream; }

# wait_results N: until N entries are in the results stream (20 s at most)
wait_results() {
    i=0
    while [ "$(rcli XLEN cz:results)" -lt "$1" ] && [ $i -lt 200 ]; do
        sleep 0.1; i=$((i + 1))
    done
}

# --- settings that pass the config map but make no sense: the worker says why ---
cp "$CFG" "$T/good.yaml"
cat >>"$CFG" <<EOC
  email-bad:
    plugin: email
    kind: email
    settings: { url: "http://127.0.0.1:$SPORT", from: "Cobros <nobody>",
                unsubscribe_mailto: "not an address", username: solo }
  email-tls:
    plugin: email
    kind: email
    settings: { url: "smtps://127.0.0.1:$SPORT", tls: none, from: cobros@acme.example }
EOC
expect_exit 1 "a worker refuses to start a badly set email channel" -- \
    cz worker --channels email-bad --once
mv "$T/err" "$T/bad.err"
expect_exit 1 "... and one with smtps:// and tls: none" -- cz worker --channels email-tls --once
cat "$T/err" >>"$T/bad.err"
for m in "\[channel:email:email-bad\] 'url' must start with smtp:// or smtps://, got 'http://" \
    "\[channel:email:email-bad\] 'from' must be an address or \"Display Name <address>\", got 'Cobros <nobody>'" \
    "\[channel:email:email-bad\] 'unsubscribe_mailto' must be an address, got 'not an address'" \
    "\[channel:email:email-bad\] 'username' and 'password' go together" \
    "\[channel:email:email-tls\] 'tls: none' contradicts an smtps:// url"; do
    expect_grep "$m" "$T/bad.err" "init says: $(echo "$m" | sed 's/.*\] //')"
done
cp "$T/good.yaml" "$CFG"

# --- a job the host rendered nothing for: failed, no server contacted ------------
jobs "$T/nt.jsonl" email 900 "debtor%d@example.com"
/usr/bin/python3 - "$T/nt.jsonl" <<'EOP'
import json, sys
j = json.loads(open(sys.argv[1]).read())
del j["template"]
open(sys.argv[1], "w").write(json.dumps(j) + "\n")
EOP
cz queue enqueue "$T/nt.jsonl" >/dev/null || fail "enqueue a job without a template"
cz worker --channels email --until-idle 0.5 2>"$T/w0.err" || fail "worker: $(cat "$T/w0.err")"
results >"$T/r0"
grep -q "^900 failed no rendered message" "$T/r0" && pass "no template, no text: failed 'no rendered message'" ||
    fail "job without a template: $(cat "$T/r0")"
[ -z "$(ls "$MAILDIR/new")" ] && pass "nothing reached the SMTP server" || fail "a message was sent"
rcli DEL cz:results >/dev/null

# --- 1. delivered: 12 messages, four at a time --------------------------------
jobs "$T/ok.jsonl" email 1 "debtor%d@example.com" "debtor%d@example.com" \
    "debtor%d@example.com" "debtor%d@example.com" "debtor%d@example.com" \
    "debtor%d@example.com" "debtor%d@example.com" "debtor%d@example.com" \
    "debtor%d@example.com" "debtor%d@example.com" "debtor%d@example.com" \
    "first.last+%d@example.com"
expect_exit 0 "enqueue 12 e-mails" -- cz queue enqueue "$T/ok.jsonl"
peers0=$(grep -c "Peer:" "$T/aiosmtpd.err")
czbg worker --channels email --until-idle 1 2>"$T/w1.err" &
WPID=$!
wait $WPID
rc=$?
WPID=
[ $rc -eq 0 ] && pass "worker exits when idle" || { fail "worker exit $rc"; cat "$T/w1.err" >&2; }
results >"$T/r1"
n=$(grep -c " sent " "$T/r1")
[ "$n" -eq 12 ] && pass "12 sends answered sent" || { fail "sent results: $n"; cat "$T/r1" "$T/w1.err" >&2; }
n=$(ls "$MAILDIR/new" | wc -l)
[ "$n" -eq 12 ] && pass "12 messages in the Maildir" || fail "$n messages arrived, expected 12"
# aiosmtpd -d logs one "Peer:" per connection: 12 messages over at most
# max_inflight (4) connections means they were reused and never exceeded
n=$(($(grep -c "Peer:" "$T/aiosmtpd.err") - peers0))
[ "$n" -ge 1 ] && [ "$n" -le 4 ] && pass "12 messages over $n connections (max_inflight 4, reused)" ||
    fail "12 messages took $n connections, expected 1 to 4"

# every message, parsed; links checked by `cadenza link verify` below
/usr/bin/python3 - "$MAILDIR/new" "$T/r1" "$T/links" <<'EOP' && pass "every message parses with both parts and every header" || fail "a received message is wrong"
import email, email.policy, email.utils, os, re, sys, datetime
d, resfile, linkfile = sys.argv[1], sys.argv[2], sys.argv[3]
provider = {}
for line in open(resfile):
    a, st, info = (line.rstrip("\n").split(" ", 2) + [""])[:3]
    provider[int(a)] = info
links = open(linkfile, "w")
seen_ids, attempts = set(), set()
bad = 0
def check(cond, what, name):
    global bad
    if not cond:
        print("%s: %s" % (name, what), file=sys.stderr)
        bad += 1
for name in sorted(os.listdir(d)):
    raw = open(os.path.join(d, name), "rb").read()
    m = email.message_from_bytes(raw, policy=email.policy.default)
    a = int(m["X-Cadenza-Attempt"])
    attempts.add(a)
    check(m["X-Cadenza-Idempotency-Key"] == "ik-%d" % a, "idempotency key", name)
    check(m["X-MailFrom"] == "cobros@acme.example", "envelope sender", name)
    want_to = "first.last+%d@example.com" % a if a == 12 else "debtor%d@example.com" % a
    check(m["X-RcptTo"] == want_to and m["To"] == want_to, "recipient %s" % m["To"], name)
    check(m["From"].addresses[0].display_name == "Cobros Acme, S.L." and
          m["From"].addresses[0].addr_spec == "cobros@acme.example", "From %s" % m["From"], name)
    check(m["Reply-To"].addresses[0].display_name == "Atención al cliente" and
          m["Reply-To"].addresses[0].addr_spec == "ayuda@acme.example", "Reply-To", name)
    subj = "Débora Núñez %d, su pago de 1.234,56 € está pendiente — aviso nº 1 de Acme Finanzas" % a
    check(str(m["Subject"]) == subj, "Subject %r" % str(m["Subject"]), name)
    check(b"=?UTF-8?" in raw.split(b"\n\n")[0] or b"=?utf-8?" in raw.split(b"\n\n")[0].lower(),
          "Subject not RFC 2047-encoded", name)
    mid = m["Message-ID"]
    check(re.fullmatch(r"<cz\.%d\.0\.[0-9a-z]+\.[0-9a-z]+@mail\.acme\.example>" % a, mid),
          "Message-ID %s" % mid, name)
    check(mid not in seen_ids, "Message-ID repeated", name)
    seen_ids.add(mid)
    check(provider.get(a) == mid, "provider id %r is not the Message-ID" % provider.get(a), name)
    date = email.utils.parsedate_to_datetime(m["Date"])
    now = datetime.datetime.now(datetime.timezone.utc)
    check(abs((now - date).total_seconds()) < 600, "Date %s" % m["Date"], name)
    check(re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000", m["Date"]), "Date form", name)
    check(m["MIME-Version"] == "1.0", "MIME-Version", name)
    lu = m["List-Unsubscribe"]
    urls = re.findall(r"<([^>]+)>", lu)
    check(len(urls) == 2 and urls[0].startswith("https://pay.example.com/s/v1.k1.") and
          urls[1] == "mailto:baja@acme.example?subject=unsubscribe", "List-Unsubscribe %s" % lu, name)
    if urls:
        links.write("%d %s\n" % (a, urls[0]))
    check(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", "List-Unsubscribe-Post", name)
    check(m.get_content_type() == "multipart/alternative", "type " + m.get_content_type(), name)
    parts = list(m.iter_parts())
    check([p.get_content_type() for p in parts] == ["text/plain", "text/html"], "part order", name)
    for p in parts:
        check(p["Content-Transfer-Encoding"] == "quoted-printable" and
              p.get_content_charset() == "utf-8", "part encoding", name)
    text = parts[0].get_content().replace("\r\n", "\n")
    html = parts[1].get_content().replace("\r\n", "\n")
    check(("Hola Débora Núñez %d:" % a) in text and "1.234,56 €" in text and
          "30/11/2026" in text, "text part %r" % text[:200], name)
    check("signo = que el quoted-printable codifica \n" in text, "trailing space kept", name)
    check("salto suave en el cuerpo del mensaje.\n" in text, "long line rejoined", name)
    pay = re.search(r"https://pay\.example\.com/s/\S+", text)
    check(pay is not None and ('href="%s"' % pay.group(0)) in html, "pay link in both parts", name)
    check("<b>1.234,56 €</b>" in html and "Darse de baja" in html, "html part", name)
    body = raw.split(b"\n\n", 1)[1] if b"\n\n" in raw else raw.split(b"\r\n\r\n", 1)[1]
    check(max(len(l) for l in body.splitlines()) <= 76, "a body line over 76", name)
check(attempts == set(range(1, 13)), "attempts %s" % sorted(attempts), "all")
sys.exit(1 if bad else 0)
EOP
n=0
while read -r a url; do
    if cz link verify "$url" >"$T/v" 2>&1 && grep -q "valid: action unsubscribe, attempt $a, debtor D$a," "$T/v"; then
        n=$((n + 1))
    else
        fail "the List-Unsubscribe link of attempt $a does not verify: $(cat "$T/v")"
    fi
done <"$T/links"
[ "$n" -eq 12 ] && pass "12 List-Unsubscribe links verify: unsubscribe, their attempt and debtor"
if grep -q "debtor[0-9]*@example.com" "$T/w1.err"; then
    fail "an address was logged unmasked"
else
    pass "no address logged in clear"
fi

# --- 2. failures, classified ------------------------------------------------------
rcli DEL cz:results >/dev/null
jobs "$T/f.jsonl" email-fail 101 "t421-%d@example.com" "t451-%d@example.com" \
    "t550-%d@example.com" "t553-%d@example.com" "t554-%d@example.com" "tslow-%d@example.com" \
    "not an address" "ok-%d@example.com" "tspam-%d@example.com"
jobs "$T/a.jsonl" email-auth 201 "x%d@example.com" "y%d@example.com"
jobs "$T/ae.jsonl" email-auth-env 211 "x%d@example.com"
jobs "$T/af.jsonl" email-auth-file 221 "x%d@example.com"
jobs "$T/d.jsonl" email-down 301 "z%d@example.com"
jobs "$T/s.jsonl" email-tls-required 401 "s%d@example.com" "s%d@example.com"
for f in f a ae af d s; do cz queue enqueue "$T/$f.jsonl" >/dev/null || fail "enqueue $f"; done
# retries wait an hour: each job is tried exactly once here
czbg -v worker --channels email-fail,email-auth,email-auth-env,email-auth-file,email-down,email-tls-required \
    --retry-base 3600000 \
    2>"$T/w2.err" &
WPID=$!
wait_results 16
kill -TERM $WPID
wait $WPID
rc=$?
WPID=
[ $rc -eq 0 ] && pass "worker stops on SIGTERM" || fail "worker exit $rc: $(tail -5 "$T/w2.err")"
results >"$T/r2"
# expect ATTEMPT STATUS INFO-PATTERN DESCRIPTION
expect() {
    if grep -q "^$1 $2 .*$3" "$T/r2"; then
        pass "$4"
    else
        fail "$4: attempt $1 wanted '$2 ...$3', got '$(grep "^$1 " "$T/r2")'"
    fi
}
expect 101 retry "SMTP 421" "421 service shutting down: retry"
expect 102 retry "SMTP 451" "451 greylisted: retry"
expect 103 invalid_address "SMTP 550: 5.1.1 no such user here" \
    "550 no such user: invalid address, with the server's words"
expect 104 invalid_address "SMTP 553: 5.1.3 mailbox name not allowed" \
    "553 mailbox name not allowed: invalid address"
expect 105 failed "SMTP 554: 5.6.0 message content refused" "554 after DATA: failed"
expect 109 failed "SMTP 550: 5.7.1 Message refused as spam by local policy; 5.7.1 see https://mail.example/policy" \
    "550 5.7.1 over two lines: about the message, not the mailbox (failed, both lines kept)"
expect 106 retry "" "no answer within timeout_ms: retry"
expect 107 invalid_address "malformed" "a malformed address: invalid without contacting anyone"
expect 108 sent "<cz.108.0.*@acme.example>" "the same server accepts a good recipient"
expect 201 failed "authentication refused" "535 to AUTH: failed"
expect 202 failed "authentication refused" "535 to AUTH again: failed"
expect 211 failed "authentication refused" "a password from the environment is used"
expect 221 failed "authentication refused" "a password from a file is used"
grep -q "^auth wrong-password$" "$T/fail.log" && grep -q "^auth from-the-environment$" "$T/fail.log" \
    && grep -q "^auth from-the-file$" "$T/fail.log" \
    && pass "the server got each password exactly (the file's newline dropped)" \
    || fail "passwords the server got: $(grep '^auth' "$T/fail.log" | sort -u | tr '\n' ' ')"
expect 301 retry "" "connection refused: retry"
expect 401 retry "STARTTLS" "tls: required and no STARTTLS offered: retry"
expect 402 retry "STARTTLS" "... both times"
n=$(grep -c "cannot set up TLS with" "$T/w2.err")
[ "$n" -eq 1 ] && pass "the TLS problem is logged once" || fail "TLS error logged $n times"
if grep -q "rcpt s40" "$T/fail.log"; then fail "a message went out without the required TLS"; else pass "nothing sent in clear when TLS is required"; fi
n=$(grep -c "email:email-auth\] .*refused the credentials" "$T/w2.err")
[ "$n" -eq 1 ] && pass "the credentials problem is logged once" ||
    fail "credentials error logged $n times"
expect_grep "\[channel:email:email-auth\] .*refused the credentials of user 'cadenza'" \
    "$T/w2.err" "the log line names the channel and the user"
if grep -q "wrong-password\|from-the-" "$T/w2.err"; then fail "the password was logged"; else pass "the password is never logged"; fi
if grep -q "rcpt not" "$T/fail.log"; then fail "the malformed address reached the server"; else pass "the malformed address never reached a server"; fi

finish
