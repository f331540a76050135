#!/bin/sh
# The README's quick start (scripts/quickstart), end to end with this
# build's binary and a small portfolio in a private directory: Redis, the
# SMTP mailbox, the loopback SMS provider and `cadenza serve` all start;
# e-mails reach the mailbox, texts reach the provider, its signed delivery
# reports come back through the webhook, the simulated responses through
# the signed outcome API, and the report is written.
. "$SRCDIR/tests/integration/lib.sh"
# The daemon runs on a faked clock for a minute: timing, not memory, is
# the subject; serve.sh covers the daemon under valgrind.
if [ -n "${CADENZA_WRAP:-}" ]; then echo "timing test: skipped under valgrind"; exit 77; fi
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
    { echo "python3-aiosmtpd not installed, skipping"; exit 77; }
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 ||
    { echo "libfaketime not installed, skipping"; exit 77; }

unset CADENZA_STORE CADENZA_CONFIG
# the quick start preloads libfaketime into cadenza: an ASan build must let it
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
R=$T/run
mkdir -p "$R"
if CADENZA="$CADENZA" QUICKSTART_DIR="$R" QUICKSTART_SEND_SECONDS=25 \
        timeout 280 "$SRCDIR/scripts/quickstart" 1500 >"$T/out" 2>"$T/err"; then
    pass "the quick start runs to the end"
else
    fail "the quick start failed: $(tail -5 "$T/err")"; tail -20 "$T/out" >&2
    [ -f "$R/serve.log" ] && tail -20 "$R/serve.log" >&2
fi
mails=$(ls "$R/mail/new" 2>/dev/null | wc -l)
[ "$mails" -gt 0 ] && pass "$mails e-mails in the mailbox" || fail "no e-mail reached the mailbox"
texts=$(wc -l <"$R/sms.log" 2>/dev/null || echo 0)
[ "$texts" -gt 0 ] && pass "$texts texts at the SMS provider" || fail "no text reached the provider"
q() { sqlite3 "$R/cadenza.db" "$1"; }
dlr=$(q "SELECT count(*) FROM outcomes WHERE source = 'status'")
[ "$dlr" -gt 0 ] && [ "$dlr" -le "$texts" ] &&
    pass "$dlr delivery reports stored through the status webhook" ||
    fail "$dlr delivery reports stored for $texts texts"
api=$(q "SELECT count(*) FROM outcomes WHERE source = 'api'")
grep -q "outcomes stored" "$T/out" && [ "$api" -gt 0 ] &&
    pass "$api simulated responses stored through the outcome API" ||
    fail "$api outcomes from the API"
sent=$(q "SELECT count(*) FROM attempts WHERE status = 2")
[ "$sent" -ge $((mails + texts)) ] && pass "the store has every send ($sent)" ||
    fail "the store has $sent sends for $mails e-mails and $texts texts"
grep -q "^Contact report " "$T/out" && pass "the report is printed" || fail "no report printed"
grep -q "<svg" "$R/report.html" 2>/dev/null && pass "the HTML report is written" ||
    fail "no HTML report"
grep -q "run/report.html\|report is" "$T/out" && pass "it says where the report is" ||
    fail "no pointer to the report"
[ -z "$(pgrep -f "$R/" 2>/dev/null)" ] && pass "nothing left running" ||
    { fail "processes left: $(pgrep -af "$R/")"; pkill -f "$R/"; }
[ $failures -eq 0 ]
