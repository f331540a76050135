#!/bin/sh
# Planning benchmark: `cadenza plan` over a generated portfolio with a
# history of past outcomes, driving the real binary end to end.
#
#   bench/plan.sh [RUNS] [SIZE...]      (defaults: 5 runs; 100000 1000000)
#
# For each size N: `cadenza sample` N debtors, `cadenza import debtors`
# (backdated 90 days: the portfolio is as old as its history), 10 outcome
# rows per debtor from bench/gen-outcomes (CSV, payments among them: the
# payment propensity is trained and used), `cadenza import outcomes`
# (timed once: rows/s), then RUNS timed runs of
#   cadenza plan --date D --now D T00:00:00Z --format jsonl > /dev/null
# and the median debtors/s and the peak RSS over the runs.  D is the first
# Monday at least two days after today (the history ends yesterday), so a
# run plans a real day whenever it is made; a run that plans no contact at
# all fails.  Uses a release build in build-release/ (made if
# missing; BUILD=dir picks another).  OLD=path: also time that cadenza
# binary on a store it made itself from the same portfolio and outcomes
# (its own `sample`, `import debtors` and `import outcomes`: a store of a
# newer schema is refused by an older binary), its runs interleaved with
# the new one's, and print the ratio of the medians (new speed / old
# speed).  The machine may be shared: medians, not best runs.  KEEP=1
# keeps the stores in $TMPDIR (cz-plan-N.db, cz-plan-N-old.db) and reuses
# them on the next run (with the day they were made for: delete them to
# move on).
set -eu
cd "$(dirname "$0")/.."
runs=${1:-5}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- 100000 1000000
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
# the planned day: the first Monday at least two days ahead; the history ends yesterday
wd=$(date -u +%u)
ahead=$(( (8 - wd) % 7 ))
[ "$ahead" -ge 2 ] || ahead=$((ahead + 7))
date=$(date -u -d "+$ahead days" +%Y-%m-%d)
asof=$(date -u +%Y-%m-%d)   # import refuses outcomes ahead of the clock
now="${date}T00:00:00Z"
old=${OLD:-}
if [ -n "$old" ] && [ ! -x "$old" ]; then
    echo "bench/plan.sh: OLD='$old' is not an executable" >&2
    exit 2
fi
echo "planning $date (now $now, history until $asof)${old:+, against $old}"

median() {
    sort -n | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for n in "$@"; do
    db=$T/cz-$n.db
    odb=$T/cz-$n-old.db
    [ "${KEEP:-0}" = 1 ] && db=$tmp/cz-plan-$n.db && odb=$tmp/cz-plan-$n-old.db
    if [ ! -f "$db" ] || { [ -n "$old" ] && [ ! -f "$odb" ]; }; then
        rm -f "$db" "$db-wal" "$db-shm" "$odb" "$odb-wal" "$odb-shm"
        echo "size $n: generating debtors and $((n * 10)) outcome rows"
        "$cz" sample --debtors "$n" --seed 1 --invalid-rate 0 --as-of "$asof" >"$T/d.csv"
        "$cz" --store "$db" import debtors --quiet "$T/d.csv" >/dev/null
        # the portfolio is as old as its 60 days of history: the payment
        # propensity trains on the debtors imported 30 days before the plan
        sqlite3 "$db" "UPDATE debtors SET created_at = created_at - 90 * 86400"
        s0=$(date +%s.%N)
        "$gen" --per-debtor 10 --days 60 --date "$asof" --seed 1 <"$T/d.csv" >"$T/o.csv"
        s1=$(date +%s.%N)
        rm -f "$T/d.csv"
        rows=$((n * 10))
        /usr/bin/time -f "%e %M" -o "$T/itime" "$cz" --store "$db" import outcomes \
            "$T/o.csv" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
        read -r it im <"$T/itime"
        awk -v n="$rows" -v s0="$s0" -v s1="$s1" -v t="$it" -v m="$im" 'BEGIN {
            g = s1 - s0
            printf "  generate %d outcome rows: %.2f s\n", n, g
            printf "  import outcomes: %.1f s, %.0f rows/s, peak RSS %.1f MB\n", t, n / t, m / 1024
        }'
        if [ -n "$old" ]; then
            # the old binary's own store: its sample of the same seed (the
            # columns it knows), the same outcome rows
            "$old" sample --debtors "$n" --seed 1 --invalid-rate 0 --as-of "$asof" >"$T/d.csv"
            "$old" --store "$odb" import debtors --quiet "$T/d.csv" >/dev/null
            "$old" --store "$odb" import outcomes "$T/o.csv" >/dev/null 2>"$T/err" ||
                { cat "$T/err" >&2; exit 1; }
            rm -f "$T/d.csv"
        fi
        rm -f "$T/o.csv"
    fi
    : >"$T/runs"
    : >"$T/oruns"
    i=0
    while [ "$i" -lt "$runs" ]; do
        /usr/bin/time -f "%e %M" -o "$T/time" "$cz" --store "$db" plan --date "$date" \
            --now "$now" --format jsonl >"$T/plan.jsonl" 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
        cat "$T/time" >>"$T/runs"
        if [ -n "$old" ]; then
            /usr/bin/time -f "%e %M" -o "$T/time" "$old" --store "$odb" plan --date "$date" \
                --now "$now" --format jsonl >"$T/oplan.jsonl" 2>"$T/err" ||
                { cat "$T/err" >&2; exit 1; }
            cat "$T/time" >>"$T/oruns"
        fi
        i=$((i + 1))
    done
    planned=$(wc -l <"$T/plan.jsonl")
    rm -f "$T/plan.jsonl"
    if [ "$planned" -eq 0 ]; then
        echo "bench/plan.sh: size $n: the plan of $date holds no contact: nothing measured" >&2
        exit 1
    fi
    [ "${KEEP:-0}" = 1 ] || rm -f "$db" "$db-wal" "$db-shm" "$odb" "$odb-wal" "$odb-shm"
    t=$(cut -d' ' -f1 "$T/runs" | median)
    m=$(cut -d' ' -f2 "$T/runs" | sort -n | tail -n 1)
    awk -v n="$n" -v t="$t" -v m="$m" -v runs="$runs" -v p="$planned" \
        -v all="$(cut -d' ' -f1 "$T/runs" | tr '\n' ' ')" 'BEGIN {
        printf "  plan %d debtors (%d contacts): median %.2f s = %.0f debtors/s,", n, p, t, n / t
        printf " peak RSS %.1f MB (%d runs: %s)\n", m / 1024, runs, all
    }'
    if [ -n "$old" ]; then
        oplanned=$(wc -l <"$T/oplan.jsonl")
        rm -f "$T/oplan.jsonl"
        ot=$(cut -d' ' -f1 "$T/oruns" | median)
        om=$(cut -d' ' -f2 "$T/oruns" | sort -n | tail -n 1)
        awk -v n="$n" -v t="$ot" -v m="$om" -v runs="$runs" -v p="$oplanned" -v nt="$t" \
            -v all="$(cut -d' ' -f1 "$T/oruns" | tr '\n' ' ')" 'BEGIN {
            printf "  old binary: %d contacts: median %.2f s = %.0f debtors/s,", p, t, n / t
            printf " peak RSS %.1f MB (%d runs: %s)\n", m / 1024, runs, all
            printf "  speed ratio new / old: %.3f\n", t / nt
        }'
    fi
done
