#!/bin/sh
# Results-drain benchmark: results/s that `cadenza queue drain` reads from
# the Redis results stream and commits into SQLite, against sqlite3 applying
# the very same attempt updates from a SQL file (one transaction, the same
# UPDATE statement the store uses) on the same store, in the same run.
#
#   bench/drain.sh [RUNS] [DEBTORS]      (defaults: 5 runs, 200000 debtors)
#
# Set-up, once, on a private redis-server (unix socket, no persistence):
# a sample portfolio of DEBTORS (as of yesterday) is imported, `cadenza run`
# plans and enqueues yesterday (about 0.8 jobs per debtor), and one
# `cadenza worker` settles every job but the rate-limited sms ones (the
# shipped configuration allows 20 sms/s): the windows are over, so every result
# is `cancelled` (`expired`), which the store applies exactly like `sent`
# (one UPDATE of the attempt).  The store and Redis's dump are then copied
# aside; each run restores both and times `cadenza queue drain`, then
# times sqlite3 on a fresh copy of the store.  Prints the medians, the
# ratio (baseline time / drain time: > 1 means the drain is faster than
# plain sqlite3) and the drain's peak RSS.  Uses build-release/ (BUILD=dir).
set -eu
cd "$(dirname "$0")/.."
runs=${1:-5}
debtors=${2:-200000}
build=${BUILD:-build-release}
if [ ! -d "$build" ]; then
    meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" daemon/cadenza >/dev/null
case $build in /*) ;; *) build=$PWD/$build ;; esac
cz=$build/daemon/cadenza
root=$PWD
T=$(mktemp -d "${TMPDIR:-/tmp}/cz-drain.XXXXXX")
rpid=
stop_redis() {
    [ -z "$rpid" ] && return 0
    kill "$rpid" 2>/dev/null || true
    wait "$rpid" 2>/dev/null || true
    rpid=
}
trap 'stop_redis; rm -rf "$T"' EXIT INT TERM
start_redis() {
    redis-server --port 0 --unixsocket "$T/r.sock" --unixsocketperm 700 --save '' \
        --appendonly no --dir "$T" --dbfilename dump.rdb --loglevel warning \
        >>"$T/redis.log" 2>&1 &
    rpid=$!
    i=0
    until [ "$(redis-cli -s "$T/r.sock" PING 2>/dev/null)" = PONG ]; do
        i=$((i + 1)); [ $i -lt 200 ] || { echo "redis did not start" >&2; exit 1; }
        sleep 0.05
    done
}
export CADENZA_CONFIG="$root/config/cadenza.yaml"
export CADENZA_STORE="$T/cz.db"
export CADENZA_REDIS="unix://$T/r.sock"
day=$(date -u -d yesterday +%Y-%m-%d)

start_redis
echo "set-up: $debtors sample debtors, run --date $day, one worker settles every job"
"$cz" sample --debtors "$debtors" --seed 1 --as-of "$day" >"$T/d.csv"
"$cz" import debtors --quiet --max-errors 0 --rejects "$T/rej.csv" "$T/d.csv" \
    >/dev/null 2>&1 || [ $? -le 1 ]
"$cz" run --date "$day" --now "${day}T00:00:00Z" >/dev/null
# every channel without a rate limit in the shipped configuration (sms has
# one: its jobs stay queued and out of the measurement)
chans=$(sqlite3 "$T/cz.db" "SELECT DISTINCT channel FROM attempts WHERE channel <> 'sms'" |
    paste -sd, -)
(cd "$T" && "$cz" worker --channels "$chans" --until-idle 1 >/dev/null 2>&1)
n=$(redis-cli -s "$T/r.sock" XLEN cz:results)
queued=$(sqlite3 "$T/cz.db" "SELECT count(*) FROM attempts WHERE status = 1")
redis-cli -s "$T/r.sock" SAVE >/dev/null
stop_redis
cp "$T/dump.rdb" "$T/dump.keep"
cp "$T/cz.db" "$T/store.keep"
rm -f "$T/cz.db-wal" "$T/cz.db-shm"
# the baseline's input: the same updates as SQL, in one transaction
{
    echo "BEGIN;"
    sqlite3 "$T/store.keep" "SELECT id FROM attempts WHERE status = 1 AND channel <> 'sms'" |
        awk -v at="$(date +%s)" -v q="'" '{
            printf "UPDATE attempts SET status = 4, provider_id = coalesce(NULL, provider_id),"
            printf " error = %sexpired%s, tries = max(tries, 0), result_at = %s,", q, q, at
            printf " sent_at = CASE WHEN 4 = 2 THEN %s ELSE sent_at END", at
            printf " WHERE id = %s AND status IN (0, 1, 6);\n", $1
        }'
    echo "COMMIT;"
} >"$T/updates.sql"
echo "$n results in the stream; $runs runs"

: >"$T/drain"; : >"$T/base"
k=0
while [ "$k" -lt "$runs" ]; do
    cp "$T/dump.keep" "$T/dump.rdb"
    cp "$T/store.keep" "$T/cz.db"
    rm -f "$T/cz.db-wal" "$T/cz.db-shm"
    start_redis
    /usr/bin/time -f "%e %M" -o "$T/t" "$cz" queue drain >"$T/out"
    cat "$T/t" >>"$T/drain"
    got=$(sed -n 's/^drained \([0-9]*\) results.*/\1/p' "$T/out")
    [ "$got" = "$n" ] || { echo "drain read $got of $n results" >&2; exit 1; }
    left=$(sqlite3 "$T/cz.db" "SELECT count(*) FROM attempts WHERE status = 1")
    [ "$left" = $((queued - n)) ] || { echo "$left attempts queued after the drain" >&2; exit 1; }
    stop_redis
    cp "$T/store.keep" "$T/cz.db"
    rm -f "$T/cz.db-wal" "$T/cz.db-shm"
    /usr/bin/time -f "%e %M" -o "$T/t" sqlite3 "$T/cz.db" ".read $T/updates.sql"
    cat "$T/t" >>"$T/base"
    echo "run $((k + 1)): drain $(cut -d' ' -f1 "$T/drain" | tail -n 1) s," \
         "sqlite3 $(cut -d' ' -f1 "$T/base" | tail -n 1) s"
    k=$((k + 1))
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
td=$(cut -d' ' -f1 "$T/drain" | median)
tb=$(cut -d' ' -f1 "$T/base" | median)
rss=$(cut -d' ' -f2 "$T/drain" | sort -n | tail -n 1)
awk -v n="$n" -v td="$td" -v tb="$tb" -v rss="$rss" 'BEGIN {
    printf "drain (cadenza queue drain):   %.2f s  %8.0f results/s  peak RSS %.1f MB\n",
        td, n / td, rss / 1024
    printf "baseline (sqlite3, same SQL):  %.2f s  %8.0f results/s\n", tb, n / tb
    printf "ratio (baseline time / drain time): %.2f\n", tb / td
}'
