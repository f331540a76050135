#!/bin/sh
# E-mail throughput: one worker sends JOBS rendered e-mails through the
# `email` plugin to aiosmtpd on loopback (writing a Maildir).  Prints
# sends/s and the CPU seconds per 1,000 sends of the worker and of the SMTP
# server, and their ratio: the target is a worker that costs at most 20%
# of what the server does (the server, not cadenza, is the bottleneck).
#
#   bench/email.sh [JOBS] [MAX_INFLIGHT]     (defaults: 2000 jobs, 8)
#
# Worker CPU is its task clock (perf stat); server CPU the difference of
# utime + stime in /proc/PID/stat around the run.  The wall time runs from
# the worker's start to the last message in the Maildir.  BUILD=dir picks
# the build (default build-release/, made if missing).
set -eu
cd "$(dirname "$0")/.."
jobs=${1:-2000}
inflight=${2:-8}
build=${BUILD:-build-release}
if [ ! -d "$build" ]; then
    meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" daemon/cadenza >/dev/null
case $build in /*) ;; *) build=$PWD/$build ;; esac
cz=$build/daemon/cadenza
T=$(mktemp -d "${TMPDIR:-/tmp}/cz-email.XXXXXX")
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
rport=$(free_port)
sport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" \
    --loglevel warning >"$T/redis.log" 2>&1 &
rpid=$!
mkdir -p "$T/md/new" "$T/md/cur" "$T/md/tmp" "$T/templates" "$T/strategies"
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$sport" -c aiosmtpd.handlers.Mailbox "$T/md" \
    2>"$T/smtpd.err" &
spid=$!
trap 'kill $rpid $spid 2>/dev/null; wait $rpid $spid 2>/dev/null; rm -rf "$T"' EXIT INT TERM
i=0
while ! redis-cli -p "$rport" PING >/dev/null 2>&1 ||
    ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $sport), 1)" \
        2>/dev/null; do
    i=$((i + 1)); [ $i -gt 200 ] && { echo "redis or aiosmtpd did not start" >&2; exit 1; }
    sleep 0.05
done

cat >"$T/templates/notice-email.txt" <<'EOT'
Subject: {{name}}, su pago de {{amount}} está pendiente

Hola {{name}}:

Su saldo de {{amount}} venció el {{due_date}}. Puede pagarlo aquí:
{{pay_link}}

Para dejar de recibir estos correos: {{opt_out_link}}
--- html ---
<p>Hola {{name}}:</p>
<p>Su saldo de <b>{{amount}}</b> venció el {{due_date}}.</p>
<p><a href="{{pay_link}}">Pagar</a> · <a href="{{opt_out_link}}">Darse de baja</a></p>
EOT
head -c 32 /dev/urandom | base64 >"$T/link.key"
chmod 600 "$T/link.key"
cat >"$T/cadenza.yaml" <<EOC
redis: { url: "redis://127.0.0.1:$rport", prefix: "cz:" }
paths: { strategies: strategies, templates: templates,
         profiles: $PWD/config/profiles, holidays: $PWD/config/holidays }
links:
  base_url: https://pay.example.com
  keys: { k1: { secret_file: link.key } }
channels:
  email:
    plugin: email
    kind: email
    settings: { url: "smtp://127.0.0.1:$sport", tls: none, max_inflight: $inflight,
                from: "Cobros Acme <cobros@acme.example>",
                unsubscribe_mailto: baja@acme.example }
EOC
export CADENZA_CONFIG="$T/cadenza.yaml"
/usr/bin/python3 - "$jobs" >"$T/jobs.jsonl" <<'EOP'
import json, sys, time
now = int(time.time())
for i in range(1, int(sys.argv[1]) + 1):
    print(json.dumps({
        "attempt_id": i, "idempotency_key": "ik-%d" % i, "debtor_id": "D%d" % i,
        "channel": "email", "channel_kind": "email", "address": "debtor%d@example.com" % i,
        "template": "notice-email", "time_zone": "Europe/Madrid",
        "inputs": {"name": "Débora %d" % i, "amount": "1234.56", "currency": "EUR",
                   "due_date": "2026-11-30", "locale": "es-ES"},
        "not_before": now - 1, "not_after": now + 7200,
        "windows": [[now - 60, now + 7200]], "attempt": 1, "tier": 1}))
EOP
"$cz" queue enqueue "$T/jobs.jsonl" >/dev/null

# server CPU seconds so far
scpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$spid/stat"
}
s0=$(scpu)
t0=$(date +%s.%N)
perf stat -x, -e task-clock -o "$T/perf" "$cz" worker --channels email --until-idle 0.5 \
    2>"$T/worker.err" &
wpid=$!
while [ "$(ls "$T/md/new" | wc -l)" -lt "$jobs" ]; do
    kill -0 $wpid 2>/dev/null || break
    sleep 0.02
done
t1=$(date +%s.%N)
wait $wpid || { cat "$T/worker.err" >&2; exit 1; }
s1=$(scpu)
got=$(ls "$T/md/new" | wc -l)
[ "$got" -eq "$jobs" ] || { echo "only $got of $jobs messages arrived" >&2; exit 1; }
wcpu=$(awk -F, '/task-clock/ { printf "%.3f\n", $1 / 1000 }' "$T/perf")
awk -v n="$jobs" -v t0="$t0" -v t1="$t1" -v w="$wcpu" -v s0="$s0" -v s1="$s1" \
    -v k="$inflight" 'BEGIN {
    wall = t1 - t0; s = s1 - s0
    printf "email to aiosmtpd: %d sends, max_inflight %d, %.2f s: %.0f sends/s\n", n, k, wall, n / wall
    printf "CPU s per 1000 sends: worker %.3f (whole run), aiosmtpd %.3f; worker/server %.1f%%\n",
        w * 1000 / n, s * 1000 / n, (s > 0 ? 100 * w / s : 0)
}'
