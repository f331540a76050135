#!/bin/sh
# The email channel with a real worker, Redis and SMTP servers on
# loopback: its config map through validate and `plugins email`, the
# settings it refuses when the worker starts it (one line each), and a job
# the host rendered nothing for, failed without contacting a server.
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
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SPORT" -c aiosmtpd.handlers.Mailbox "$MAILDIR" \
    2>"$T/aiosmtpd.err" &
SPID=$!

# The failing server: a bounded asyncio loop on a port it binds itself
# (written to a file once listening); what it answers depends on the
# recipient's local part.  Every transaction it sees is logged.
cat >"$T/smtp-fail.py" <<'EOP'
import asyncio, sys
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
                log.write("auth\n")
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
Subject: {{name}}, su pago de {{amount}} está pendiente — aviso nº 1

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
  email-down:
    plugin: email
    kind: email
    settings: { url: "smtp://127.0.0.1:$DOWNPORT", tls: none, from: cobros@acme.example }
EOC
export CADENZA_CONFIG="$CFG"

expect_exit 0 "validate accepts the email channels" -- cz validate
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
                       "due_date": "2026-11-30", "locale": "es-ES"},
            "not_before": now - 1, "not_after": now + 7200,
            "windows": [[now - 60, now + 7200]], "attempt": 1, "tier": 1}) + "\n")
EOP
}

# results: "attempt-id status info" per entry of the results stream
results() {
    rcli XRANGE cz:results - + | /usr/bin/python3 -c '
import re, sys
lines = sys.stdin.read().split("\n")
i, cur = 0, {}
while i < len(lines):
    if re.fullmatch(r"\d+-\d+", lines[i]):
        if cur: print(cur.get("id"), cur.get("st"), cur.get("info", "").replace("\n", " "))
        cur = {}; i += 1; continue
    if i + 1 < len(lines) and lines[i] in ("id", "st", "info", "ch", "tries", "at"):
        cur[lines[i]] = lines[i + 1]; i += 2; continue
    i += 1
if cur: print(cur.get("id"), cur.get("st"), cur.get("info", "").replace("\n", " "))
'
}

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

finish
