#!/bin/sh
# Outcome import benchmark: `cadenza import outcomes` driven end to end, in
# the two shapes a team meets (docs/import.md, "Outcome import speed").
#
#   bench/outcomes.sh [RUNS] [ROWS]      (defaults: 3 runs; 10000000 rows)
#
# bulk   RUNS times: ROWS rows of history (bench/gen-outcomes, 10 rows per
#        debtor over 60 days, debtor by debtor) into a store that holds the
#        ROWS/10 debtors and no outcomes yet: median rows/s.
# daily  a store of DAILY_DEBTORS debtors (100000) with DAILY_HISTORY rows
#        of history (5000000) is built once, then RUNS days in a row each
#        import one day's file: one outcome per debtor in time order, with
#        attempt ids (DAILY_ATTEMPT_IDS=0: without), like a provider's
#        export; then the last day's file again (every row already
#        stored).  Median seconds.
# Each import is timed with /usr/bin/time (wall, user + system CPU, peak
# RSS); the machine may be shared, so medians, the CPU time and the load
# average are printed.  Uses a release build in build-release/ (made if
# missing; BUILD=dir picks another).  KEEP=1 keeps the daily store and the
# generated files in $TMPDIR (cz-outcomes-*) for the next run.
set -eu
cd "$(dirname "$0")/.."
runs=${1:-3}
rows=${2:-10000000}
ddebtors=${DAILY_DEBTORS:-100000}
ids=--attempt-ids
[ "${DAILY_ATTEMPT_IDS:-1}" = 0 ] && ids=
dhistory=${DAILY_HISTORY:-5000000}
build=${BUILD:-build-release}
case $build in /*) ;; *) build=$PWD/$build ;; esac
if [ ! -d "$build" ]; then
    meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" daemon/cadenza bench/gen-outcomes >/dev/null
cz=$build/daemon/cadenza
gen=$build/bench/gen-outcomes
tmp=${TMPDIR:-/tmp}
T=$(mktemp -d "$tmp/cz-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
export CADENZA_CONFIG="$PWD/config/cadenza.yaml"
asof=2026-11-28
keep=$T
[ "${KEEP:-0}" = 1 ] && keep=$tmp

median() {
    sort -n | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# timed LABEL CMD...: run once, append "wall user+sys maxrss_kb" to $T/LABEL
timed() {
    label=$1
    shift
    /usr/bin/time -f "%e %U %S %M" -o "$T/time" "$@" >"$T/out" 2>"$T/err" || {
        cat "$T/err" >&2
        exit 1
    }
    awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$T/time" >>"$T/$label"
    awk -v l="$label" '{ printf "  %-8s %7.2f s wall, %6.2f s CPU, peak RSS %5.1f MB: ", l,
        $1, $2 + $3, $4 / 1024 }' "$T/time"
    tail -n 1 "$T/out" | sed "s|^$T/||"
}

# report LABEL ROWS: medians of a label's runs
report() {
    t=$(cut -d' ' -f1 "$T/$1" | median)
    c=$(cut -d' ' -f2 "$T/$1" | median)
    m=$(cut -d' ' -f3 "$T/$1" | sort -n | tail -n 1)
    awk -v l="$1" -v n="$2" -v t="$t" -v c="$c" -v m="$m" 'BEGIN {
        printf "%-8s %9d rows: median %6.2f s wall = %8.0f rows/s (CPU %.2f s = %.0f rows/s),",
            l, n, t, n / t, c, n / c
        printf " peak RSS %.1f MB\n", m / 1024 }'
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- bulk: history into a store with debtors only (ROWS 0: skipped) ----
n=$((rows / 10))
[ "$rows" -gt 0 ] && echo "bulk: $n debtors, $rows outcome rows"
if [ "$rows" -gt 0 ]; then
    "$cz" sample --debtors "$n" --seed 1 --invalid-rate 0 --as-of "$asof" >"$T/d.csv"
    "$cz" --store "$T/debtors.db" import debtors --quiet "$T/d.csv" >/dev/null
    "$gen" --per-debtor 10 --days 60 --date "$asof" --seed 1 <"$T/d.csv" >"$T/bulk.csv"
    rm -f "$T/d.csv"
fi
i=0
while [ "$rows" -gt 0 ] && [ "$i" -lt "$runs" ]; do
    rm -f "$T/bulk.db"*
    cp "$T/debtors.db" "$T/bulk.db"
    timed bulk "$cz" --store "$T/bulk.db" import outcomes --no-stop "$T/bulk.csv"
    i=$((i + 1))
done
rm -f "$T/bulk.db"* "$T/bulk.csv" "$T/debtors.db"

# ---- daily: one day's outcomes into a store with a long history ----
db=$keep/cz-outcomes-daily.db
if [ ! -f "$db" ] || [ ! -f "$keep/cz-outcomes-d.csv" ]; then
    echo "daily: building a store of $ddebtors debtors and $dhistory outcome rows"
    rm -f "$db"*
    "$cz" sample --debtors "$ddebtors" --seed 2 --invalid-rate 0 --as-of "$asof" \
        >"$keep/cz-outcomes-d.csv"
    "$cz" --store "$db" import debtors --quiet "$keep/cz-outcomes-d.csv" >/dev/null
    "$gen" --per-debtor $((dhistory / ddebtors)) --days 60 --date 2026-10-01 --seed 2 \
        --attempt-ids <"$keep/cz-outcomes-d.csv" >"$T/h.csv"
    timed history "$cz" --store "$db" import outcomes --no-stop "$T/h.csv"
    rm -f "$T/h.csv"
fi
# the days after the history (and after what earlier runs of KEEP=1 imported)
start=$(sqlite3 "$db" "SELECT max(occurred_at) / 86400 + 2 FROM outcomes")
i=0
while [ "$i" -lt "$runs" ]; do
    day=$(date -u -d "@$(((start + i) * 86400))" +%Y-%m-%d)
    "$gen" --per-debtor 1 --days 1 --date "$day" --seed $((start + i)) $ids \
        --order time <"$keep/cz-outcomes-d.csv" >"$T/day.csv"
    timed daily "$cz" --store "$db" import outcomes --no-stop "$T/day.csv"
    i=$((i + 1))
done
timed again "$cz" --store "$db" import outcomes --no-stop "$T/day.csv"
drows=$(($(wc -l <"$T/day.csv") - 1))
stored=$(sqlite3 "$db" "SELECT count(*) FROM outcomes")

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -f "$T/bulk" ] && report bulk "$rows"
[ -f "$T/history" ] && report history "$dhistory"
report daily "$drows"
report again "$drows"
echo "(daily: into a store of $ddebtors debtors holding $stored outcomes at the end)"
