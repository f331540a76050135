#!/bin/sh
# SMS throughput: one `cadenza worker` sends JOBS rendered SMS through the
# `http-sms` plugin with the shipped form-basic profile
# (plugins/http-sms/profiles/form-basic.yaml: form POST, basic auth, JSON
# reply with the id at /sid) to bench/sink, a C HTTP/1.1 server on loopback
# that answers like that provider (201 and a message resource).  Then wrk
# sends the same request to the same sink with the same number of
# connections.  Prints sends/s, wrk's req/s and their ratio (target:
# >= 20,000 sends/s and >= 0.5 of wrk), medians of RUNS runs.
#
#   RUNS=3 JOBS=200000 CONNS=64 bench/sms.sh
#
# Each run, on an emptied private redis-server (free loopback port):
#   1. JOBS SMS jobs due now are enqueued by bench/enqueue-bench (the
#      engine of `cadenza run`'s enqueue phase; not timed), each rendered
#      by the worker from config/templates/reminder-sms.es.txt with two
#      signed links;
#   2. `cadenza worker --channels sms --until-idle 0.5` (max_inflight
#      CONNS, no rate limit) is timed from its start until the results
#      stream holds JOBS results (every job settled); sends/s = jobs the
#      worker settled as sent / that time.  Its CPU is its task clock over
#      the whole process (perf stat: start-up and the idle half second
#      included);
#   3. wrk -t1 -cCONNS for about as long (at least 3 s) with a Lua script
#      the sink wrote from the first request the worker sent (method, path,
#      headers, body), so both send the same bytes.  One wrk thread: one
#      worker process is one thread too.
# A run fails when no job was sent, when the sink answered fewer requests
# than the worker counted sends (or than wrk counted), or when wrk got
# anything but 201.  BUILD=dir picks the build (default build-release/, a
# release build made if missing); missing wrk or perf are installed
# (scripts/deps.sh, CADENZA_BENCH_PACKAGES).  PROFILE=file records the
# worker of each run with `perf record -g` into file (the last run's stays;
# sampling costs the worker a few percent).
set -eu
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
jobs=${JOBS:-200000}
conns=${CONNS:-64}
build=${BUILD:-build-release}
. scripts/deps.sh
install_missing_packages $CADENZA_BENCH_PACKAGES ||
    { echo "cannot install $CADENZA_BENCH_PACKAGES" >&2; exit 1; }
if [ ! -d "$build" ]; then
    meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" bench/enqueue-bench bench/sink daemon/cadenza >/dev/null
case $build in /*) ;; *) build=$PWD/$build ;; esac
cz=$build/daemon/cadenza
bench=$build/bench/enqueue-bench
sink=$build/bench/sink
T=$(mktemp -d "${TMPDIR:-/tmp}/cz-sms.XXXXXX")
rport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" \
    --loglevel warning >"$T/redis.log" 2>&1 &
rpid=$!
spid=
trap 'kill $rpid $spid 2>/dev/null; wait $rpid $spid 2>/dev/null; rm -rf "$T"' EXIT INT TERM
i=0
while ! redis-cli -p "$rport" PING >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "redis did not start" >&2; exit 1; }
    sleep 0.05
done
rcli() { redis-cli -p "$rport" "$@"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now() { date +%s.%N; }
# CPU seconds (user + system) a process used so far
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$1/stat"; }
redis_cpu() {
    rcli INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.3f\n", s }'
}
# the sink's counts: ask, then wait for the new line
sink_counts() {
    before=$(wc -l <"$T/sink.out")
    kill -USR1 "$spid"
    k=0
    while [ "$(wc -l <"$T/sink.out")" -le "$before" ]; do
        k=$((k + 1)); [ $k -gt 200 ] && { echo "the sink does not answer" >&2; exit 1; }
        sleep 0.01
    done
    tail -n 1 "$T/sink.out"
}

user=AC0123456789
pass=change-me
head -c 32 /dev/urandom | base64 >"$T/link.key"
chmod 600 "$T/link.key"
write_config() {
    # the form-basic profile as shipped, the URL pointing at the sink
    cat >"$T/cadenza.yaml" <<EOC
redis: { url: "redis://127.0.0.1:$rport", prefix: "cz:" }
paths: { templates: $PWD/config/templates, profiles: $PWD/config/profiles,
         holidays: $PWD/config/holidays }
links:
  base_url: https://pay.example.com
  keys: { k1: { secret_file: link.key } }
channels:
  sms:
    plugin: http-sms
    kind: sms
    settings:
      url: http://127.0.0.1:$1/2010-04-01/Accounts/$user/Messages.json
      auth: basic
      username: $user
      password: $pass
      body_format: form
      body: "To={to}&From={from}&Body={text}&StatusCallback={status_url}"
      from: "+15005550006"
      status_url: https://cadenza.example.com/webhooks/sms-status
      status_token: change-me-too
      success: http 2xx
      id_pointer: /sid
      code_pointer: /code
      error_pointer: /message
      rules: "http 429 = retry; code 20429 = retry; code 21211 = invalid_address; code 21610 = opted_out"
      timeout_ms: 10000
      max_inflight: $conns
EOC
}
export CADENZA_CONFIG="$T/cadenza.yaml"

echo "redis-server $(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/'), $(wrk -v 2>&1 |
    head -n 1 | cut -d' ' -f1-2); $jobs jobs per run, $conns connections, $runs runs;" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$T/w"; : >"$T/wrk"; : >"$T/ratio"; : >"$T/wcpu"; : >"$T/wrkcpu"
k=0
while [ "$k" -lt "$runs" ]; do
    rcli FLUSHALL >/dev/null
    # emptied here: the new sink's own redirection may come after the wait below
    rm -f "$T/req.lua" "$T/sink.out"
    : >"$T/sink.out"
    "$sink" --auth "$user:$pass" --lua "$T/req.lua" >"$T/sink.out" 2>"$T/sink.err" &
    spid=$!
    i=0
    while ! grep -q '^port ' "$T/sink.out"; do
        i=$((i + 1)); [ $i -gt 200 ] && { echo "the sink did not start" >&2; exit 1; }
        sleep 0.01
    done
    sport=$(awk '/^port / { print $2 }' "$T/sink.out")
    write_config "$sport"
    "$bench" --redis "redis://127.0.0.1:$rport" --jobs "$jobs" --channel sms --kind sms \
        --template reminder-sms >/dev/null

    # 1. the worker, until every job is settled
    r0=$(redis_cpu); s0=$(cpu "$spid")
    t0=$(now)
    perf stat -x, -e task-clock -o "$T/perf" "$cz" -v worker --channels sms --until-idle 0.5 \
        2>"$T/worker.err" &
    wpid=$!
    ppid=
    if [ -n "${PROFILE:-}" ]; then
        # the worker is perf stat's child
        cpid=
        while kill -0 "$wpid" 2>/dev/null; do
            cpid=$(tr -d " " <"/proc/$wpid/task/$wpid/children" 2>/dev/null || true)
            [ -n "$cpid" ] && [ "$(cat "/proc/$cpid/comm" 2>/dev/null)" = cadenza ] && break
        done
        perf record -q -g -F 1999 -p "$cpid" -o "$PROFILE" 2>/dev/null &
        ppid=$!
    fi
    redis-cli -p "$rport" -r -1 -i 0.01 XLEN cz:results 2>/dev/null | {
        while read -r n; do
            [ "$n" -ge "$jobs" ] && break
            kill -0 $wpid 2>/dev/null || break
        done
        now >"$T/t1"
    }
    t1=$(cat "$T/t1")
    r1=$(redis_cpu); s1=$(cpu "$spid")
    wait $wpid || { echo "the worker failed:" >&2; tail -n 20 "$T/worker.err" >&2; exit 1; }
    [ -z "$ppid" ] || wait "$ppid" || true
    kill -0 "$spid" 2>/dev/null || {
        st=0; wait "$spid" || st=$?
        echo "the sink died during the worker's run (status $st):" >&2; cat "$T/sink.err" >&2
        exit 1
    }
    settled=$(rcli XLEN cz:results)
    sent=$(sed -n 's/.*\[channel:sms\] sent \([0-9]*\),.*/\1/p' "$T/worker.err")
    [ "${sent:-0}" -gt 0 ] || {
        echo "the worker sent nothing:" >&2; tail -n 20 "$T/worker.err" >&2
        "$cz" queue dead list 2>&1 | head -n 5 >&2; cat "$T/sink.err" >&2; exit 1
    }
    [ "$settled" -eq "$jobs" ] || { echo "only $settled of $jobs jobs settled" >&2; exit 1; }
    got=$(sink_counts | awk '{ print $4 }')
    [ "$got" -ge "$sent" ] ||
        { echo "the sink answered $got requests with 201, the worker counted $sent sends" >&2; exit 1; }
    [ -s "$T/req.lua" ] || { echo "the sink wrote no wrk script" >&2; exit 1; }
    wcpu=$(awk -F, '/task-clock/ { printf "%.3f\n", $1 / 1000 }' "$T/perf")

    # 2. wrk, same sink, same connections, about as long
    dur=$(awk -v a="$t0" -v b="$t1" 'BEGIN { d = int(b - a + 0.999); print (d < 3 ? 3 : d) }')
    perf stat -x, -e task-clock -o "$T/perf.wrk" \
        wrk -t1 -c"$conns" -d"${dur}s" -s "$T/req.lua" "http://127.0.0.1:$sport/" >"$T/wrk.out"
    got2=$(sink_counts | awk '{ print $4 }')
    wreq=$(awk '/requests in/ { print $1 }' "$T/wrk.out")
    wrps=$(awk '/^Requests\/sec:/ { print $2 }' "$T/wrk.out")
    if grep -q 'Non-2xx' "$T/wrk.out" || [ -z "$wreq" ] || [ $((got2 - got)) -lt "$wreq" ]; then
        echo "wrk: $wreq requests, the sink answered $((got2 - got)) with 201:" >&2
        cat "$T/wrk.out" >&2
        exit 1
    fi
    wrkcpu=$(awk -F, '/task-clock/ { printf "%.3f\n", $1 / 1000 }' "$T/perf.wrk")
    kill "$spid"; wait "$spid" 2>/dev/null || true; spid=

    awk -v n="$sent" -v a="$t0" -v b="$t1" -v w="$wrps" -v c="$wcpu" -v wc="$wrkcpu" \
        -v wr="$wreq" -v r0="$r0" -v r1="$r1" -v s0="$s0" -v s1="$s1" \
        -v run=$((k + 1)) -v jobs="$jobs" -v T="$T" 'BEGIN {
        x = n / (b - a); r = r1 - r0; s = s1 - s0
        printf "%.0f\n", x >>(T "/w"); printf "%.0f\n", w >>(T "/wrk")
        printf "%.3f\n", x / w >>(T "/ratio"); printf "%.2f\n", c >>(T "/wcpu")
        printf "%.2f\n", wc * 1e6 / wr >>(T "/wrkcpu")
        printf "  run %d: worker %d of %d sent in %.2f s: %.0f sends/s (CPU %.2f s, %.1f us/send;" \
               " redis %.1f us, sink %.1f us a send); wrk %.0f req/s (CPU %.1f us/req); ratio %.2f\n",
            run, n, jobs, b - a, x, c, c * 1e6 / n, r * 1e6 / n, s * 1e6 / n, w,
            wc * 1e6 / wr, x / w
    }'
    k=$((k + 1))
done
echo "median: worker $(median <"$T/w") sends/s (CPU $(median <"$T/wcpu") s for $jobs sends)," \
     "wrk $(median <"$T/wrk") req/s (CPU $(median <"$T/wrkcpu") us/req)," \
     "ratio $(median <"$T/ratio"); load average $(cut -d' ' -f1-3 /proc/loadavg)"
