#!/bin/sh
# The HTML contact report opened in headless Chromium: the page against
# `report --format json` (report-browser.mjs says what is checked).
# Needs node, Chromium and playwright-core (axe-core too, for the
# accessibility rules), which `scripts/deps.sh`'s install_browser_deps
# installs; skipped (exit 77) without them.  The screenshots stay in
# $BUILDDIR/artefacts/report-browser/.
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/scripts/deps.sh"
PY=/usr/bin/python3
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

skip() {
    echo "SKIP: $1 (scripts/deps.sh: install_browser_deps)"
    exit 77
}
command -v node >/dev/null 2>&1 || skip "node is not installed"
[ -x "$CHROMIUM" ] || skip "no Chromium at $CHROMIUM"
[ -f "$CADENZA_NPM_DIR/node_modules/playwright-core/package.json" ] ||
    skip "playwright-core is not installed in $CADENZA_NPM_DIR"

ART="${BUILDDIR:-$T}/artefacts/report-browser"
mkdir -p "$ART" && rm -f "$ART"/*
echo "artefacts (the report, its JSON, screenshots): $ART"

# a history: a sampled portfolio, one day's run, generated outcomes
today=$(date -u +%Y-%m-%d)
i=20
while :; do   # a Tuesday, Wednesday or Thursday at least 20 days ago
    D=$(date -u -d "$today - $i days" +%Y-%m-%d)
    case $(date -u -d "$D" +%u) in 2|3|4) break ;; esac
    i=$((i + 1))
done
cz sample --debtors 2000 --seed 23 --invalid-rate 0 --as-of "$D" >"$T/d.csv"
expect_exit 0 "import the portfolio" -- cz import debtors --quiet "$T/d.csv"
expect_exit 0 "run $D" -- cz run --date "$D" --now "${D}T00:00:00Z" --no-enqueue
$PY "$SRCDIR/tests/integration/report-outcomes.py" "$CADENZA_STORE" >"$T/o.csv"
expect_exit 0 "import outcomes" -- cz import outcomes --no-stop --quiet "$T/o.csv"
NOW="${today}T00:00:00Z"
expect_exit 0 "report html" -- cz report --from "$D" --to "$D" --currency USD --now "$NOW" \
    --format html --output "$ART/report.html"
expect_exit 0 "report json" -- cz report --from "$D" --to "$D" --currency USD --now "$NOW" \
    --format json --output "$ART/report.json"

if timeout 180 node "$SRCDIR/tests/integration/report-browser.mjs" "$ART/report.html" \
    "$ART/report.json" "$ART" "$CADENZA_NPM_DIR" "$CHROMIUM" >"$T/node.out" 2>&1; then
    pass "the page in Chromium"
else
    fail "the page in Chromium"
fi
cat "$T/node.out"
[ -s "$ART/report.png" ] && pass "screenshot $ART/report.png" || fail "no screenshot"
finish
