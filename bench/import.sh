#!/bin/sh
# Import benchmark: cadenza's first load and daily refresh of a generated
# portfolio against sqlite3's own .import of the same CSV into a table of the
# same shape and keys (rowid + UNIQUE external id), in the same run.
#
#   bench/import.sh [ROWS] [RUNS]        (defaults 1000000 and 5)
#
# Prints each run, then medians, ratios (baseline time / cadenza time, so
# > 1 means cadenza is faster) and peak RSS.  Uses a release build in
# build-release/ (made if missing).
set -eu
cd "$(dirname "$0")/.."
rows=${1:-1000000}
runs=${2:-5}
if [ ! -d build-release ]; then
    meson setup build-release --buildtype=release >/dev/null
fi
ninja -C build-release >/dev/null
cz=$PWD/build-release/daemon/cadenza
T=$(mktemp -d "${TMPDIR:-/tmp}/cz-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
export CADENZA_CONFIG="$PWD/config/cadenza.yaml"

echo "generating $rows debtors (random-order ids, 1% invalid rows)"
$cz sample --debtors "$rows" --seed 1 --as-of 2026-11-28 >"$T/d.csv"
# the refresh file: the same rows with 5% of them changed (every 20th balance)
awk -F, 'NR > 1 && NR % 20 == 0 { sub(/,[0-9]+\.[0-9][0-9],/, ",1.23,") } { print }' \
    "$T/d.csv" >"$T/d2.csv"
cols=$(head -n 1 "$T/d.csv" | tr -d '\r' | sed 's/^id,//; s/,/ TEXT, /g; s/$/ TEXT/')
ddl="CREATE TABLE debtors(id TEXT NOT NULL UNIQUE, $cols);"

# timed LABEL CMD...: run once, append "seconds maxrss_kb" to $T/LABEL
timed() {
    label=$1; shift
    /usr/bin/time -f "%e %M" -o "$T/time" "$@" >/dev/null 2>"$T/err" || {
        st=$?; [ "$st" -le 1 ] || { cat "$T/err" >&2; exit 1; }
    }
    cat "$T/time" >>"$T/$label"
}

i=0
while [ "$i" -lt "$runs" ]; do
    rm -f "$T/base.db"*
    sqlite3 "$T/base.db" "PRAGMA journal_mode=WAL;" "$ddl" >/dev/null
    timed baseline sqlite3 "$T/base.db" ".mode csv" ".import --skip 1 $T/d.csv debtors"
    rm -f "$T/cz.db"*
    timed first "$cz" --store "$T/cz.db" import debtors --quiet --max-errors 0 \
        --rejects "$T/rej.csv" "$T/d.csv"
    timed refresh "$cz" --store "$T/cz.db" import debtors --quiet --max-errors 0 \
        --rejects "$T/rej.csv" "$T/d2.csv"
    i=$((i + 1))
done
tail -n 3 "$T/err" >&2 || true

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
report() {
    label=$1
    t=$(cut -d' ' -f1 "$T/$label" | median)
    m=$(cut -d' ' -f2 "$T/$label" | sort -n | tail -n 1)
    echo "$t $m"
}
set -- $(report baseline); bt=$1 bm=$2
set -- $(report first); ft=$1 fm=$2
set -- $(report refresh); rt=$1 rm_=$2
awk -v rows="$rows" -v runs="$runs" -v bt="$bt" -v ft="$ft" -v rt="$rt" \
    -v bm="$bm" -v fm="$fm" -v rm="$rm_" 'BEGIN {
    printf "rows %d, runs %d (medians; peak RSS is the max over runs)\n", rows, runs
    printf "%-28s %8.2f s %10.0f rows/s  peak RSS %6.1f MB\n", "sqlite3 .import (baseline)", bt, rows / bt, bm / 1024
    printf "%-28s %8.2f s %10.0f rows/s  peak RSS %6.1f MB  ratio %.2f\n", "cadenza first load", ft, rows / ft, fm / 1024, bt / ft
    printf "%-28s %8.2f s %10.0f rows/s  peak RSS %6.1f MB  ratio %.2f\n", "cadenza refresh (5% changed)", rt, rows / rt, rm / 1024, bt / rt
}'
