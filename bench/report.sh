#!/bin/sh
# Contact report benchmark: `cadenza report --from --to --format json` on a
# store of DEBTORS debtors with DAYS daily runs (`cadenza run
# --no-enqueue`) and generated outcomes (tests/integration/report-outcomes.py),
# against a baseline in the same run: the sqlite3 shell reading the same
# rows (the attempts with their debtors' zone and currency, and the
# outcomes, summed so nothing is printed).  docs/report.md quotes it.
#
#   bench/report.sh [RUNS] [DEBTORS] [DAYS]      (defaults: 5; 100000; 3)
#
# Medians of RUNS; wall and CPU (user + system) from /usr/bin/time.  Uses
# the build in build-release/ (made if missing; BUILD=dir picks another).
set -eu
cd "$(dirname "$0")/.."
runs=${1:-5}
debtors=${2:-100000}
days=${3:-3}
build=${BUILD:-build-release}
case $build in /*) ;; *) build=$PWD/$build ;; esac
if [ ! -d "$build" ]; then
    meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" daemon/cadenza >/dev/null
cz=$build/daemon/cadenza
T=$(mktemp -d "${TMPDIR:-/tmp}/cz-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
export CADENZA_CONFIG="$PWD/config/cadenza.yaml"
export CADENZA_STORE="$T/c.db"

median() {
    sort -n | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# timed LABEL CMD...: run once, append "wall cpu maxrss_kb" to $T/LABEL
timed() {
    label=$1
    shift
    /usr/bin/time -f "%e %U %S %M" -o "$T/time" "$@" >"$T/out" 2>"$T/err" || {
        cat "$T/err" >&2
        exit 1
    }
    awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$T/time" >>"$T/$label"
}

from=2026-11-03
to=$(date -u -d "$from + $((days - 1)) days" +%Y-%m-%d)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "store: $debtors debtors, runs $from .. $to"
"$cz" sample --debtors "$debtors" --seed 9 --invalid-rate 0 --as-of 2026-11-01 >"$T/d.csv"
"$cz" import debtors --quiet "$T/d.csv" >/dev/null
d=$from
while :; do
    "$cz" run --date "$d" --now "${d}T00:00:00Z" --no-enqueue >/dev/null
    [ "$d" = "$to" ] && break
    d=$(date -u -d "$d + 1 day" +%Y-%m-%d)
done
/usr/bin/python3 tests/integration/report-outcomes.py "$CADENZA_STORE" >"$T/o.csv"
"$cz" import outcomes --quiet --no-stop "$T/o.csv" >/dev/null
na=$(sqlite3 "$CADENZA_STORE" "SELECT count(*) FROM attempts")
no=$(sqlite3 "$CADENZA_STORE" "SELECT count(*) FROM outcomes")
echo "$na attempts, $no outcomes"

# what the report's two statements read (docs/report.md), without the report
since=$(( $(date -u -d "$from" +%s) - 30 * 86400 - 15 * 3600 ))
start=$(( $(date -u -d "$from" +%s) - 15 * 3600 ))
base="SELECT count(*), sum(length(a.strategy) + length(a.variant) + length(a.tier)
 + length(a.channel) + a.status + coalesce(a.sent_at, a.scheduled_at) % 7
 + length(d.time_zone) + length(d.currency)) FROM attempts a JOIN debtors d ON d.id = a.debtor_id
 WHERE coalesce(a.sent_at, a.scheduled_at) >= $since;
 SELECT count(*), sum(coalesce(attempt_id, 0) % 7 + coalesce(channel_kind, 0) + code + occurred_at % 7
 + coalesce(amount_minor, 0) % 7 + coalesce(promise_date, 0) % 7) FROM outcomes
 WHERE occurred_at >= $start;"
i=0
while [ $i -lt "$runs" ]; do
    timed report "$cz" report --from "$from" --to "$to" --format json -o "$T/r.json"
    timed sqlite3 sqlite3 "$CADENZA_STORE" "$base"
    i=$((i + 1))
done
# a report that counted nothing measured nothing
made=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["total"]["attempts"])' "$T/r.json")
[ "$made" -gt 0 ] || { echo "the report counted no attempt: nothing measured" >&2; exit 1; }
for l in sqlite3 report; do
    t=$(cut -d' ' -f1 "$T/$l" | median)
    c=$(cut -d' ' -f2 "$T/$l" | median)
    m=$(cut -d' ' -f3 "$T/$l" | sort -n | tail -n 1)
    printf "%-8s median %6.2f s wall, %5.2f s CPU, peak RSS %5.1f MB\n" "$l" "$t" "$c" \
        "$(echo "$m" | awk '{ print $1 / 1024 }')"
    eval "t_$l=$t c_$l=$c"
done
awk -v a="$t_report" -v b="$t_sqlite3" -v c="$c_report" -v d="$c_sqlite3" -v n="$made" 'BEGIN {
    printf "report / baseline: %.2f x wall, %.2f x CPU; %d attempts made counted, %.0f per CPU s\n",
        a / b, c / d, n, n / c }'
