#!/bin/sh
# Dispatch benchmark: jobs/s through `cadenza worker` to the built-in
# `log` channel, with one and with two workers, against BullMQ 6 (no-op
# processor, concurrency 100) on the same Redis in the same run.
#
#   bench/dispatch.sh [RUNS] [JOBS]       (defaults: 5 runs, 100000 jobs)
#
# Each run, on an emptied private redis-server (free loopback port):
#   1. JOBS jobs due now are enqueued (bench/enqueue-bench, not timed);
#      then `cadenza worker --once` is timed from start to exit, i.e.
#      until every job is sent, written to the log file and settled;
#   2. the same with two `cadenza worker --once` processes at once;
#   3. BullMQ: JOBS jobs added (addBulk, not timed), then one Worker with
#      a no-op processor and concurrency 100 is timed until the last job
#      completed (removeOnComplete, the cheapest setting for it).
# Prints the medians and the ratio.  BullMQ comes from npm, installed
# once into $BULLMQ_DIR (default ${TMPDIR:-/tmp}/cz-bench-bullmq, outside
# the repository); NO_BULLMQ=1 skips it.  Uses a release build in
# build-release/ (made if missing; BUILD=dir picks another).
set -eu
cd "$(dirname "$0")/.."
runs=${1:-5}
jobs=${2:-100000}
build=${BUILD:-build-release}
if [ ! -d "$build" ]; then
    meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" bench/enqueue-bench daemon/cadenza >/dev/null
case $build in /*) ;; *) build=$PWD/$build ;; esac
bench=$build/bench/enqueue-bench
cz=$build/daemon/cadenza
T=$(mktemp -d "${TMPDIR:-/tmp}/cz-disp.XXXXXX")
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
now() { date +%s.%N; }

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

bull=
if [ "${NO_BULLMQ:-0}" != 1 ]; then
    bdir=${BULLMQ_DIR:-${TMPDIR:-/tmp}/cz-bench-bullmq}
    if [ ! -d "$bdir/node_modules/bullmq" ]; then
        mkdir -p "$bdir"
        (cd "$bdir" && [ -f package.json ] || echo '{"private":true}' >"$bdir/package.json")
        if ! (cd "$bdir" && npm install --no-audit --no-fund bullmq@6 ioredis >"$T/npm.log" 2>&1)
        then
            echo "npm install bullmq@6 ioredis failed (see below); BullMQ skipped" >&2
            tail -n 5 "$T/npm.log" >&2
            bdir=
        fi
    fi
    if [ -n "$bdir" ]; then
        bull=$bdir/bull-bench.js
        cat >"$bull" <<'EOJ'
// BullMQ side of bench/dispatch.sh: add N jobs, then time one worker
// (no-op processor, concurrency 100) until all N completed.
const { Queue, Worker } = require('bullmq');
const port = Number(process.argv[2]), n = Number(process.argv[3]);
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
(async () => {
    const q = new Queue('bench', { connection });
    const data = { attempt_id: 1, idempotency_key: 'k', address: 'debtor@example.com' };
    for (let i = 0; i < n; i += 1000) {
        const b = [];
        for (let k = i; k < Math.min(n, i + 1000); k++)
            b.push({ name: 'send', data: { ...data, attempt_id: k },
                     opts: { removeOnComplete: true } });
        await q.addBulk(b);
    }
    let done = 0;
    const t0 = process.hrtime.bigint();
    await new Promise((resolve) => {
        const w = new Worker('bench', async () => {}, { connection, concurrency: 100 });
        w.on('completed', () => {
            if (++done === n) {
                const s = Number(process.hrtime.bigint() - t0) / 1e9;
                console.log(`bullmq ${n} jobs ${s.toFixed(3)} s ${(n / s).toFixed(0)} jobs/s`);
                w.close().then(resolve);
            }
        });
    });
    await q.close();
})().catch((e) => { console.error(e); process.exit(1); });
EOJ
        export NODE_PATH="$bdir/node_modules"
    fi
fi

echo "redis-server $(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/') on port $port;" \
     "$jobs jobs per run, $runs runs"
: >"$T/w1"; : >"$T/w2"; : >"$T/bq"
k=0
while [ "$k" -lt "$runs" ]; do
    for w in 1 2; do
        rcli FLUSHALL >/dev/null
        rm -f "$T/sends.log"
        "$bench" --redis "redis://127.0.0.1:$port" --jobs "$jobs" >/dev/null
        t0=$(now)
        pids=
        j=0
        while [ "$j" -lt "$w" ]; do
            "$cz" worker --once 2>"$T/werr$j" &
            pids="$pids $!"
            j=$((j + 1))
        done
        for p in $pids; do wait "$p"; done
        t1=$(now)
        sent=$(wc -l <"$T/sends.log")
        [ "$sent" -eq "$jobs" ] || { echo "worker sent $sent of $jobs" >&2; cat "$T/werr0" >&2; exit 1; }
        [ "$(rcli XLEN cz:results)" -eq "$jobs" ] || { echo "results missing" >&2; exit 1; }
        awk -v n="$jobs" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", n / (b - a) }' >>"$T/w$w"
    done
    bq=
    if [ -n "$bull" ]; then
        rcli FLUSHALL >/dev/null
        out=$(node "$bull" "$port" "$jobs")
        bq=$(echo "$out" | awk '{ print $(NF - 1) }')
        echo "$bq" >>"$T/bq"
    fi
    echo "  run $((k + 1)): 1 worker $(tail -n 1 "$T/w1") jobs/s, 2 workers" \
         "$(tail -n 1 "$T/w2") jobs/s${bq:+, bullmq $bq jobs/s}"
    k=$((k + 1))
done
m1=$(median <"$T/w1")
m2=$(median <"$T/w2")
if [ -s "$T/bq" ]; then
    mb=$(median <"$T/bq")
    awk -v a="$m1" -v b="$m2" -v c="$mb" 'BEGIN {
        printf "median: cadenza 1 worker %.0f jobs/s, 2 workers %.0f jobs/s; bullmq 6 (concurrency 100) %.0f jobs/s; ratio %.2f (1 worker) %.2f (2 workers)\n", a, b, c, a / c, b / c
    }'
else
    echo "median: cadenza 1 worker $m1 jobs/s, 2 workers $m2 jobs/s (bullmq not run)"
fi
