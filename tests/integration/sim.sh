#!/bin/sh
# The simulation in short (docs/simulation.md): a few hundred debtors for
# six days in a base world (none) and the hardest one (both), driving the
# real binary through bench/cadenza-sim.  Asserts direction only, never
# figures: no rule broken, the learned planner better than random and
# than the fixed cadence in the second half, and closer to the
# country-aware ceiling in the second half than in the first (the ceiling,
# not the raw rate: day 6 is a Saturday, when every policy reaches fewer).
. "$(dirname "$0")/lib.sh"

SIM=${BUILDDIR:?BUILDDIR must point at the build tree}/bench/cadenza-sim
[ -x "$SIM" ] || { fail "no simulator at $SIM"; finish; }

for s in none both; do
    w=$T/$s
    mkdir -p "$w/strategies"
    sed -e "s|^  strategies:.*|  strategies: $w/strategies|" \
        -e "s|^  profiles:.*|  profiles: $SRCDIR/bench/sim/profiles|" \
        -e "s|\.\./\.\./config|$SRCDIR/config|" \
        "$SRCDIR/bench/sim/cadenza.yaml" >"$w/cadenza.yaml"
    cp "$SRCDIR/bench/sim/strategies/sim.yaml" "$w/strategies/"
    expect_exit 0 "$s: simulated 6 days" -- timeout 250 "$SIM" --cadenza "$CADENZA" \
        --config "$w/cadenza.yaml" --work "$w" --het "$s" --debtors 500 --days 6 \
        --window 3 --bayes off
    cp "$T/out" "$w/report.txt"
    cp "$T/err" "$w/progress.log"
    expect_grep "rule checks on the learned planner's attempts: 0 outside 08:00-21:00 local or off the planned day, 0 second contact on a day, 0 call in a right-party cool-down, 0 over capacity, 0 other" \
        "$w/report.txt" "$s: no rule broken"
    # days.tsv: day date attempts, then p_ and reach_ per policy (learned oracle segment
    # fixed random bayes country), email sms call violations run_s import_s
    awk -F'\t' -v s="$s" 'NR > 1 {
            n++; h = $1 <= 3 ? 1 : 2
            att[h] += $3; l[h] += $4; f[h] += $10; r[h] += $12; c[h] += $16; v += $21
        }
        END {
            bad = 0
            if (n != 6) { print s ": " n " days in days.tsv"; bad = 1 }
            if (v != 0) { print s ": " v " violations"; bad = 1 }
            if (!(att[2] > 0 && l[2] > r[2] * 1.05)) { print s ": learned " l[2] " not above random " r[2]; bad = 1 }
            if (!(l[2] > f[2])) { print s ": learned " l[2] " not above fixed " f[2]; bad = 1 }
            if (!(c[1] > 0 && c[2] > 0 && l[2] / c[2] > l[1] / c[1])) {
                print s ": learned / country " l[1] / c[1] " then " l[2] / c[2] ": no better"; bad = 1
            }
            exit bad
        }' "$w/days.tsv" >"$T/dir" 2>&1
    if [ $? -eq 0 ]; then
        pass "$s: learned above random and fixed, and nearer the ceiling in days 4-6 than in days 1-3"
    else
        fail "$s: direction: $(cat "$T/dir")"
    fi
    # off-policy evaluation on the logged decisions of days 4-6: the greedy
    # challenger's truth, from the population's hidden probabilities, inside
    # both 95 % intervals (bench/ope.sh runs many seeds)
    sed "s/^    priority: 100$/&\n    params: { exploration: 0 }/" \
        "$SRCDIR/bench/sim/strategies/sim.yaml" >"$w/greedy.yaml"
    expect_exit 0 "$s: report --evaluate" -- "$CADENZA" --config "$w/cadenza.yaml" \
        --store "$w/store.db" report --evaluate "$w/greedy.yaml" --from 2026-09-10 \
        --to 2026-09-12 --decisions "$w/greedy.tsv" --format json
    cp "$T/out" "$w/greedy.json"
    sum=$("$SIM" --het "$s" --seed 1 --debtors 500 --ope-truth "$w/greedy.tsv" | awk '{ print $2 }')
    /usr/bin/python3 - "$w/greedy.json" "$sum" <<'PY' >"$T/ope" 2>&1 &&
import json, sys
d = json.load(open(sys.argv[1]))
truth = float(sys.argv[2]) / d["used"]
assert d["used"] == 1500 and d["no_probability"] == 0, d
assert d["snips"]["lo"] <= truth <= d["snips"]["hi"], (truth, d["snips"])
assert d["dr"]["lo"] <= truth <= d["dr"]["hi"], (truth, d["dr"])
assert 0 < d["ess"] <= d["used"], d["ess"]
PY
        pass "$s: the off-policy intervals cover the challenger's truth" ||
        fail "$s: off-policy evaluation: $(cat "$T/ope")"
done
finish
