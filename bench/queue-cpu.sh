#!/bin/sh
# CPU cost per job of the queue, client and Redis apart: the measure to
# compare builds on a busy machine, where wall-clock rates move with the
# load but CPU time per job hardly does.
#
#   bench/queue-cpu.sh [RUNS] [JOBS]      (defaults: 3 runs, 200000 jobs)
#
# On a private redis-server (free loopback port, no persistence), each
# run on an emptied Redis:
#   1. enqueue: bench/enqueue-bench --jobs JOBS (jobs built like dispatch.c
#      builds them, queue_enqueue_batch() in pages of 1000);
#   2. reference: redis-benchmark -P 64 running bench/enqueue-one.lua once
#      per job (as bench/enqueue.sh does);
#   3. dispatch: JOBS jobs enqueued (not counted), then one
#      `cadenza worker --once` to the `log` channel.
# Client CPU is the process's task clock (user + system, perf stat);
# Redis CPU is the difference of used_cpu_user + used_cpu_sys (INFO cpu)
# around the step.  Prints microseconds of CPU per job for each side and
# the medians over the runs.  BUILD=dir picks the build (default
# build-release/, made if missing).
set -eu
cd "$(dirname "$0")/.."
runs=${1:-3}
jobs=${2:-200000}
build=${BUILD:-build-release}
if [ ! -d "$build" ]; then
    meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" bench/enqueue-bench daemon/cadenza >/dev/null
case $build in /*) ;; *) build=$PWD/$build ;; esac
bench=$build/bench/enqueue-bench
cz=$build/daemon/cadenza
T=$(mktemp -d "${TMPDIR:-/tmp}/cz-cpu.XXXXXX")
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" \
    --loglevel warning >"$T/redis.log" 2>&1 &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null; rm -rf "$T"' EXIT INT TERM
i=0
while ! redis-cli -p "$port" PING >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "redis did not start" >&2; exit 1; }
    sleep 0.05
done
rcli() { redis-cli -p "$port" "$@"; }
median() {
    sort -n | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# Redis CPU seconds so far (user + system)
rcpu() {
    rcli INFO cpu | tr -d '\r' |
        awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.6f\n", s }'
}
# run a command, print its CPU seconds (task clock)
ccpu() {
    perf stat -x, -e task-clock -o "$T/perf" "$@" >/dev/null 2>"$T/err" ||
        { cat "$T/err" >&2; exit 1; }
    awk -F, '/task-clock/ { printf "%.6f\n", $1 / 1000 }' "$T/perf"
}
per_job() { awk -v a="$1" -v b="$2" -v n="$jobs" 'BEGIN { printf "%.2f\n", (b - a) * 1e6 / n }'; }

cat >"$T/cadenza.yaml" <<EOC
redis:
  url: redis://127.0.0.1:$port
  prefix: "cz:"
channels:
  email:
    plugin: log
    kind: email
    settings: { path: $T/sends.log }
EOC
export CADENZA_CONFIG="$T/cadenza.yaml"
payload=$("$bench" --payload)
due=$(($(date +%s) * 1000))

echo "$jobs jobs per step, $runs runs; CPU microseconds per job (client / redis)"
for f in ec er rr dc dr; do : >"$T/$f"; done
k=0
while [ "$k" -lt "$runs" ]; do
    rcli FLUSHALL >/dev/null
    r0=$(rcpu)
    c=$(ccpu "$bench" --redis "redis://127.0.0.1:$port" --jobs "$jobs")
    r1=$(rcpu)
    ec=$(per_job 0 "$c"); er=$(per_job "$r0" "$r1")

    rcli FLUSHALL >/dev/null
    sha1=$(rcli SCRIPT LOAD "$(cat bench/enqueue-one.lua)")
    r0=$(rcpu)
    redis-benchmark -p "$port" -n "$jobs" -P 64 -r 2000000000 -q \
        EVALSHA "$sha1" 2 cz:jobs cz:channels cz:sched: cz:done: __rand_int__ email "$due" \
        "$payload" >/dev/null
    r1=$(rcpu)
    rr=$(per_job "$r0" "$r1")

    rcli FLUSHALL >/dev/null
    rm -f "$T/sends.log"
    "$bench" --redis "redis://127.0.0.1:$port" --jobs "$jobs" >/dev/null
    r0=$(rcpu)
    c=$(ccpu "$cz" worker --once)
    r1=$(rcpu)
    sent=$(wc -l <"$T/sends.log")
    [ "$sent" -eq "$jobs" ] || { echo "worker sent $sent of $jobs" >&2; exit 1; }
    dc=$(per_job 0 "$c"); dr=$(per_job "$r0" "$r1")
    echo "$ec" >>"$T/ec"; echo "$er" >>"$T/er"; echo "$rr" >>"$T/rr"
    echo "$dc" >>"$T/dc"; echo "$dr" >>"$T/dr"
    echo "  run $((k + 1)): enqueue $ec / $er; reference (redis-benchmark," \
         "enqueue-one.lua) - / $rr; dispatch (1 worker) $dc / $dr"
    k=$((k + 1))
done
echo "median: enqueue $(median <"$T/ec") / $(median <"$T/er");" \
     "reference - / $(median <"$T/rr"); dispatch $(median <"$T/dc") / $(median <"$T/dr")" \
     "us of CPU per job (client / redis)"
