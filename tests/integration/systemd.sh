#!/bin/sh
# The shipped systemd units verify cleanly (pointed at the built binary)
# and stay well hardened.
. "$(dirname "$0")/lib.sh"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed, skipping"; exit 77; }

for f in "$SRCDIR"/systemd/*.service "$SRCDIR"/systemd/*.timer; do
    sed "s|/usr/local/bin/cadenza|$CADENZA|" "$f" >"$T/$(basename "$f")"
done
cp "$T/cadenza-worker@.service" "$T/cadenza-worker@1.service"
cd "$T" || exit 1
# plain verify exits 0 on some mistakes: any output at all is a failure
if systemd-analyze verify --recursive-errors=no ./cadenza-campaign.service \
    ./cadenza-campaign.timer ./cadenza-worker@1.service ./cadenza.service >"$T/verify" 2>&1 && [ ! -s "$T/verify" ]; then
    pass "units verify"
else
    fail "systemd-analyze verify"; sed 's/^/    /' "$T/verify" >&2
fi
for u in cadenza-campaign.service cadenza-worker@1.service cadenza.service; do
    score=$(systemd-analyze security --offline=true "./$u" 2>/dev/null |
        sed -n 's/.*exposure level for .*: \([0-9.]*\).*/\1/p')
    awk -v s="${score:-10}" 'BEGIN { exit !(s <= 2.5) }' && pass "$u exposure $score" ||
        fail "$u exposure ${score:-unknown} > 2.5"
done
# the unit's command line is one the binary accepts
expect_exit 0 "serve --help parses" -- cz serve --help
expect_exit 0 "run --date today parses" -- cz run --help
grep -q "today" "$T/out" && pass "run documents --date today" || fail "run --help"
finish
