#!/bin/sh
# Off-policy evaluation: do the 95 % intervals of `cadenza report
# --evaluate` cover the truth?  Two parts:
#
# 1. bench/ope-coverage: the estimators (daemon/plan/ope.c) on simulated logs
#    of a Thompson-sampling logger whose choice probabilities are
#    estimated the planner's way, many seeds (bench/ope-sim.h).
# 2. End to end: per seed, bench/cadenza-sim drives `cadenza run` for
#    DAYS days (the planner logs its choice probabilities), then `cadenza
#    report --evaluate` estimates two candidates on the second half of the
#    days — the sim strategy itself (its model frozen at the window's
#    start) and a greedy challenger (exploration 0) — and cadenza-sim
#    --ope-truth computes what each would truly have reached from the
#    population's hidden probabilities.  Prints per candidate the share of
#    seeds whose interval covers the truth.
#
#   bench/ope.sh                    SEEDS=20 DEBTORS=2000 DAYS=10 HET=moderate
#   OPE_SEEDS=500 OPE_CONTEXTS=20000 (part 1), PART=1|2 (only one part)
#
# Uses build-release/ (BUILD=dir for another).  Exit 1 when a coverage is
# below 90 %: in part 1 of either estimator (its candidates that share the
# logger's support), in part 2 of the doubly robust one (the planner's
# shortlist leaves slots a candidate may take that the logger never could:
# the self-normalised estimate assumes they fare like the rest, its
# coverage is printed; docs/simulation.md).
set -eu
cd "$(dirname "$0")/.."
build=${BUILD:-build-release}
case $build in /*) ;; *) build=$PWD/$build ;; esac
[ -d "$build" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" daemon/cadenza bench/cadenza-sim bench/ope-coverage >/dev/null
cz=$build/daemon/cadenza
sim=$build/bench/cadenza-sim
fail=0
part=${PART:-all}

if [ "$part" != 2 ]; then
    echo "== part 1: the estimators on simulated logs"
    "$build/bench/ope-coverage" --seeds "${OPE_SEEDS:-500}" --contexts "${OPE_CONTEXTS:-20000}" ||
        fail=1
fi
[ "$part" = 1 ] && exit $fail

seeds=${SEEDS:-20}
n=${DEBTORS:-2000}
days=${DAYS:-10}
het=${HET:-moderate}
start=2026-09-07
from=$(date -u -d "$start + $((days / 2)) days" +%Y-%m-%d)
to=$(date -u -d "$start + $((days - 1)) days" +%Y-%m-%d)
T=$(mktemp -d "${TMPDIR:-/tmp}/cz-ope.XXXXXX")
trap 'rm -rf "$T"' EXIT
echo "== part 2: end to end, $seeds seeds of $n debtors x $days days ($het), decisions $from .. $to"
: >"$T/rows"
s=1
while [ "$s" -le "$seeds" ]; do
    w=$T/w$s
    mkdir -p "$w/strategies"
    sed -e "s|^  strategies:.*|  strategies: $w/strategies|" \
        -e "s|^  profiles:.*|  profiles: $PWD/bench/sim/profiles|" \
        -e "s|\.\./\.\./config|$PWD/config|" bench/sim/cadenza.yaml >"$w/cadenza.yaml"
    cp bench/sim/strategies/sim.yaml "$w/strategies/"
    sed "s/^    priority: 100$/&\n    params: { exploration: 0 }/" bench/sim/strategies/sim.yaml \
        >"$w/greedy.yaml"
    "$sim" --cadenza "$cz" --config "$w/cadenza.yaml" --work "$w" --het "$het" --debtors "$n" \
        --days "$days" --seed "$s" --bayes off >/dev/null 2>"$w/progress.log" ||
        { tail -3 "$w/progress.log" >&2; exit 1; }
    for cand in sim greedy; do
        f=$w/strategies/sim.yaml
        [ "$cand" = greedy ] && f=$w/greedy.yaml
        "$cz" --config "$w/cadenza.yaml" --store "$w/store.db" report --evaluate "$f" \
            --from "$from" --to "$to" --decisions "$w/$cand.tsv" --format json >"$w/$cand.json"
        sum=$("$sim" --het "$het" --seed "$s" --debtors "$n" --ope-truth "$w/$cand.tsv" |
            awk '{ print $2 }')
        /usr/bin/python3 - "$w/$cand.json" "$sum" "$cand" "$s" >>"$T/rows" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
truth = float(sys.argv[2]) / d["used"]
print(sys.argv[3], sys.argv[4], "%.5f" % truth, "%.5f" % d["logged"]["value"],
      "%.5f %.5f %.5f" % (d["snips"]["value"], d["snips"]["lo"], d["snips"]["hi"]),
      "%.5f %.5f %.5f" % (d["dr"]["value"], d["dr"]["lo"], d["dr"]["hi"]),
      "%.0f %d" % (d["ess"], d["used"]))
PY
    done
    rm -rf "$w"
    s=$((s + 1))
done
awk '{
        c = $1; n[c]++; t[c] += $3; l[c] += $4; ess[c] += $11; used[c] += $12
        bs[c] += $5 - $3; bd[c] += $8 - $3; ws[c] += $7 - $6; wd[c] += $10 - $9
        cs[c] += ($6 <= $3 && $3 <= $7); cd[c] += ($9 <= $3 && $3 <= $10)
    }
    END {
        printf "%-8s %5s %8s %8s %9s %9s %9s %9s %9s %9s\n", "candidate", "seeds", "truth",
            "logged", "SNIPS cov", "DR cov", "SNIPS bias", "DR bias", "width", "ESS %"
        bad = 0
        for (c in n) {
            printf "%-9s %5d %8.4f %8.4f %8.1f%% %8.1f%% %+9.5f %+9.5f %9.5f %8.1f%%\n", c, n[c],
                t[c] / n[c], l[c] / n[c], 100 * cs[c] / n[c], 100 * cd[c] / n[c], bs[c] / n[c],
                bd[c] / n[c], wd[c] / n[c], 100 * ess[c] / used[c]
            if (cd[c] < 0.9 * n[c]) bad = 1
        }
        exit bad
    }' "$T/rows" || fail=1
exit $fail
