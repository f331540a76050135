#!/bin/sh
# Simulation benchmark: the real `cadenza` planning every day against a
# synthetic population whose true reach probabilities it never sees
# (ground truth and parameters: docs/simulation.md).
#
#   bench/sim.sh [SETTING...]        (default: none moderate strong)
#
# SETTING is a heterogeneity setting (none, moderate, strong), a harder
# world (rhythms, tastes, both) or a bare scale (1.5).  Environment:
#   DEBTORS=100000 DAYS=60 SEED=1 START=2026-09-07 WINDOW=10
#   FIXED=email@10           the fixed cadence (channel@local hour)
#   CAP_EMAIL CAP_SMS CAP_CALL  hourly capacities (per UTC hour, 0 = unlimited),
#                            written into the config and obeyed by every policy
#   EXPLORATION=e            overrides the strategy's exploration (default 0.1)
#   BAYES=mean               the bayes comparison policy: mean, thompson or off (it
#                            costs ~0.2 ms per debtor-day: off for quick big runs)
#   JOBS=1                   settings run in parallel (2 on this machine at most)
#   BUILD=build-release      build directory (made if missing)
#   CADENZA=path             run this cadenza binary instead of BUILD's (to compare
#                            builds side by side; cadenza-sim still comes from BUILD)
#   OUT=dir                  keep each setting's work directory (store,
#                            days.tsv, report.txt) under dir; default: a
#                            temporary directory, removed at the end
#
# Each setting: bench/sim/cadenza.yaml copied with absolute paths and the
# capacities, bench/sim/strategies copied (with EXPLORATION), then
# cadenza-sim drives `cadenza import debtors`, and per day `cadenza run
# --no-enqueue`, the store's attempts, sampled outcomes and `cadenza import
# outcomes`.  The report (per window of days: expected and sampled contact
# rates of learned / oracle / segment ceiling / fixed / random / bayes, the ratios,
# channel mixes, rule checks, time spent) goes to standard output.
set -eu
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- none moderate strong
build=${BUILD:-build-release}
if [ ! -d "$build" ]; then
    meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" daemon/cadenza bench/cadenza-sim >/dev/null
case $build in /*) ;; *) build=$PWD/$build ;; esac
cz=${CADENZA:-$build/daemon/cadenza}
sim=$build/bench/cadenza-sim
root=$PWD
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    T=$(cd "$OUT" && pwd)
else
    T=$(mktemp -d "${TMPDIR:-/tmp}/cz-sim.XXXXXX")
    trap 'rm -rf "$T"' EXIT
fi

one() {
    s=$1
    w=$T/$s
    rm -rf "$w" "$T/$s.failed"
    mkdir -p "$w/strategies" || return 1
    awk -v root="$root" -v w="$w" -v ce="${CAP_EMAIL:-0}" -v cs="${CAP_SMS:-0}" \
        -v cc="${CAP_CALL:-0}" '
        /^  strategies:/ { print "  strategies: " w "/strategies"; next }
        /^  (templates|holidays):/ { sub(/\.\.\/\.\./, root) }
        /^  profiles:/ { print "  profiles: " root "/bench/sim/profiles"; next }
        /^  email:/ { ch = "email" } /^  sms:/ { ch = "sms" } /^  dialer:/ { ch = "dialer" }
        /^    hourly_capacity:/ {
            v = ch == "email" ? ce : ch == "sms" ? cs : cc
            print "    hourly_capacity: " v; next
        }
        { print }' bench/sim/cadenza.yaml >"$w/cadenza.yaml"
    if [ -n "${EXPLORATION:-}" ]; then
        sed "s/^    priority: 100$/&\n    params: { exploration: $EXPLORATION }/" \
            bench/sim/strategies/sim.yaml >"$w/strategies/sim.yaml"
    else
        cp bench/sim/strategies/sim.yaml "$w/strategies/"
    fi
    "$cz" --config "$w/cadenza.yaml" validate >/dev/null || return 1
    "$sim" --cadenza "$cz" --config "$w/cadenza.yaml" --work "$w" --het "$s" \
        --debtors "${DEBTORS:-100000}" --days "${DAYS:-60}" --seed "${SEED:-1}" \
        --start "${START:-2026-09-07}" --window "${WINDOW:-10}" --fixed "${FIXED:-email@10}" \
        --cap-email "${CAP_EMAIL:-0}" --cap-sms "${CAP_SMS:-0}" --cap-call "${CAP_CALL:-0}" \
        --bayes "${BAYES:-mean}" \
        >"$w/report.txt" 2>"$w/progress.log" || { tail -5 "$w/progress.log" >&2; return 1; }
    rm -f "$w/debtors.csv"
    [ -n "${OUT:-}" ] || rm -f "$w/store.db"
}

echo "cadenza simulation: debtors=${DEBTORS:-100000} days=${DAYS:-60} seed=${SEED:-1}" \
    "start=${START:-2026-09-07} fixed=${FIXED:-email@10}" \
    "caps email/sms/call=${CAP_EMAIL:-0}/${CAP_SMS:-0}/${CAP_CALL:-0}" \
    "exploration=${EXPLORATION:-strategy default} bayes=${BAYES:-mean}"
t0=$(date +%s)
jobs=${JOBS:-1}
fail=0
running=0
for s in "$@"; do
    { one "$s" || touch "$T/$s.failed"; } &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait
for s in "$@"; do
    [ -f "$T/$s/report.txt" ] && cat "$T/$s/report.txt"
    if [ -f "$T/$s.failed" ]; then
        echo "setting $s failed" >&2
        fail=1
    fi
done
echo
echo "total wall time: $(( $(date +%s) - t0 )) s"
exit $fail
