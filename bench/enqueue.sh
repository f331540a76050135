#!/bin/sh
# Enqueue benchmark: jobs/s of `cadenza run`'s enqueue phase
# (dispatch_enqueue_rows(), pages of 1000 jobs) against redis-benchmark
# running the same enqueue script once per job.
#
#   bench/enqueue.sh [RUNS] [JOBS]       (defaults: 5 runs, 1000000 jobs)
#
# Starts a private redis-server on a free loopback port; each run, on an
# emptied Redis:
#   1. redis-benchmark -P 64 -n JOBS -r 2000000000 EVALSHA <enqueue sha> 2 \
#        cz:jobs cz:channels cz:sched: cz:done: __rand_int__ email <due> <payload>
#      (one job per script call, a unique random id per call, the payload
#      of a real job: `enqueue-bench --payload`)
#   2. bench/enqueue-bench --jobs JOBS: the engine of `cadenza run`'s
#      enqueue phase (dispatch_enqueue_rows(): jobs built from attempt rows
#      by dispatch.c, serialised and streamed a page ahead, all inside the
#      timing) fed made-up rows instead of SQLite's
# and prints the medians and their ratio, and the Redis memory a queued job
# costs (used_memory after the cadenza run less an empty Redis's, divided by
# the jobs stored; target <= 1 KB a job).  Uses a release build in
# build-release/ (made if missing; BUILD=dir picks another).
set -eu
cd "$(dirname "$0")/.."
runs=${1:-5}
jobs=${2:-1000000}
build=${BUILD:-build-release}
if [ ! -d "$build" ]; then
    meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" bench/enqueue-bench >/dev/null
case $build in /*) ;; *) build=$PWD/$build ;; esac
bench=$build/bench/enqueue-bench
T=$(mktemp -d "${TMPDIR:-/tmp}/cz-enq.XXXXXX")
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

payload=$("$bench" --payload)
sha=$(rcli SCRIPT LOAD "$(cat daemon/queue/lua/enqueue.lua)")
sha1=$(rcli SCRIPT LOAD "$(cat bench/enqueue-one.lua)")
due=$(($(date +%s) * 1000))
echo "redis-server $(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/') on port $port;" \
     "$jobs jobs per run, payload ${#payload} bytes, $runs runs"
: >"$T/rb"
: >"$T/rb1"
: >"$T/cz"
: >"$T/mem"
k=0
while [ "$k" -lt "$runs" ]; do
    rbm() {
        rcli FLUSHALL >/dev/null
        rcli SCRIPT LOAD "$(cat "$1")" >/dev/null
        redis-benchmark -p "$port" -n "$jobs" -P 64 -r 2000000000 -q \
            EVALSHA "$2" 2 cz:jobs cz:channels cz:sched: cz:done: __rand_int__ email "$due" \
            "$payload" | tr '\r' '\n' | grep 'requests per second' | tail -n 1 |
            sed 's/.*: \([0-9.]*\) requests per second.*/\1/'
    }
    rb=$(rbm daemon/queue/lua/enqueue.lua "$sha")
    added=$(rcli HLEN cz:jobs)
    rb1=$(rbm bench/enqueue-one.lua "$sha1")
    echo "$rb" >>"$T/rb"
    echo "$rb1" >>"$T/rb1"
    rcli FLUSHALL >/dev/null
    empty=$(rcli INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
    out=$("$bench" --redis "redis://127.0.0.1:$port" --jobs "$jobs")
    echo "$out" | awk '{ print $NF }' >>"$T/cz"
    full=$(rcli INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
    stored=$(rcli HLEN cz:jobs)
    [ "$stored" -gt 0 ] || { echo "the cadenza run stored no job" >&2; exit 1; }
    echo "$full $empty $stored" | awk '{ printf "%.1f\n", ($1 - $2) / $3 }' >>"$T/mem"
    echo "  run $((k + 1)): redis-benchmark: enqueue.lua $rb calls/s ($added jobs stored)," \
         "enqueue-one.lua $rb1 calls/s; cadenza: $out"
    k=$((k + 1))
done
echo "  redis memory per queued job: $(median <"$T/mem") bytes (median; used_memory delta / jobs stored, payload ${#payload} bytes)"
m=$(median <"$T/rb")
m1=$(median <"$T/rb1")
czm=$(median <"$T/cz")
awk -v a="$czm" -v b="$m" -v c="$m1" 'BEGIN {
    best = b > c ? b : c
    printf "median: cadenza enqueue %.0f jobs/s; redis-benchmark -P 64, 1 job per EVALSHA: enqueue.lua %.0f, enqueue-one.lua %.0f jobs/s; ratio %.2f (to the faster)\n", a, b, c, a / best
}'
