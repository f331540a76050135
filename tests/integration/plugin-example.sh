#!/bin/sh
# The out-of-tree example plugin (plugins/examples/letter): cadenza is
# installed into a temporary root, the example is built with its own meson
# project against the installed header through pkg-config, and a real
# worker sends letters through it (a real Redis): one print-ready file per
# letter and a manifest row each, once, even when a job is redelivered.
. "$SRCDIR/tests/integration/lib.sh"
command -v pkg-config >/dev/null || { echo "pkg-config missing, skipping"; exit 77; }
: "${BUILDDIR:?}"

# --- install, then build the example against what was installed ------------
meson install -C "$BUILDDIR" --no-rebuild --quiet --destdir "$T/root" >"$T/install.log" 2>&1 ||
    { cat "$T/install.log" >&2; fail "meson install"; finish; }
pc=$(find "$T/root" -name cadenza-plugin.pc | head -n 1)
hdr=$(find "$T/root" -name cadenza-plugin.h | head -n 1)
[ -n "$pc" ] && pass "cadenza-plugin.pc installed" || fail "no cadenza-plugin.pc installed"
[ -n "$hdr" ] && pass "cadenza-plugin.h installed" || fail "no cadenza-plugin.h installed"
export PKG_CONFIG_PATH="${pc%/*}" PKG_CONFIG_SYSROOT_DIR="$T/root"
expect_grep "plugindir=" "$pc" "the .pc names the plugin directory"
# the header stands alone: nothing of cadenza's includes next to it is needed
cc -fsyntax-only -Wall -Wextra -Werror -std=c11 -x c - -I"${hdr%/*}" <<'EOC' &&
#include <cadenza-plugin.h>
int main(void) { return CZ_PLUGIN_ABI_MAJOR == 1 ? 0 : 1; }
EOC
    pass "cadenza-plugin.h compiles alone as C11" || fail "the installed header does not compile alone"
(cd "$T" && meson setup lb "$SRCDIR/plugins/examples/letter" >"$T/setup.log" 2>&1 &&
    ninja -C lb >>"$T/setup.log" 2>&1) || { cat "$T/setup.log" >&2; fail "building the example"; finish; }
[ -f "$T/lb/letter.so" ] && pass "letter.so built out of tree" || { fail "no letter.so"; finish; }

# --- send letters through it ----------------------------------------------
. "$SRCDIR/tests/integration/queue-redis.sh"
start_redis
cat >"$T/cadenza.yaml" <<EOC
redis: { url: "redis://127.0.0.1:$RPORT" }
paths:
  plugins: $T/lb
  templates: $SRCDIR/config/templates
  profiles: $SRCDIR/config/profiles
  holidays: $SRCDIR/config/holidays
  strategies: $T/no-strategies
channels:
  letter:
    plugin: letter
    kind: letter
    settings:
      spool: spool
      sender: "Acme Credit|1 Main Street|London EC1A 1AA"
EOC
mkdir -p "$T/no-strategies"
export CADENZA_CONFIG="$T/cadenza.yaml"
expect_exit 0 "plugins letter: the example's settings" -- cz plugins letter
expect_grep "spool .*path, required" "$T/out" "its config map"
/usr/bin/python3 - <<'EOP' >"$T/letters.jsonl"
import json, time
now = int(time.time())
for i in range(1, 4):
    print(json.dumps({
        "attempt_id": i, "idempotency_key": "L-%d" % i, "debtor_id": "D%d" % i,
        "channel": "letter", "channel_kind": "letter",
        "address": "Ana Núñez\nCalle Mayor %d\n28013 Madrid\nSpain" % i,
        "template": "late-letter",
        "inputs": {"name": "Ana Núñez", "amount": "1234.56", "currency": "EUR",
                   "due_date": "2026-11-01"}, "locale": "es-ES",
        "time_zone": "Europe/Madrid", "not_before": now - 1, "not_after": now + 7200,
        "windows": [[now - 60, now + 7200]], "attempt": 1, "tier": 4}))
EOP
expect_exit 0 "enqueue 3 letters" -- cz queue enqueue "$T/letters.jsonl"
expect_exit 0 "a worker sends them through letter.so" -- cz worker --until-idle 0.3
day=$(date -u +%F)
for i in 1 2 3; do
    [ -s "$T/spool/$day/L$i.txt" ] && pass "letter $i printed" || fail "no $T/spool/$day/L$i.txt"
done
expect_grep "Calle Mayor 2" "$T/spool/$day/L2.txt" "the postal address in the window"
expect_grep "1.234,56" "$T/spool/$day/L1.txt" "the Spanish template, amount in the locale's format"
[ "$(grep -c '^L[0-9]' "$T/spool/$day/manifest.csv")" -eq 3 ] && pass "3 manifest rows" ||
    fail "manifest: $(cat "$T/spool/$day/manifest.csv")"
# a job sent again (an operator re-enqueue after a lost ack) does not print twice
rcli FLUSHALL >/dev/null
expect_exit 0 "the same jobs again" -- cz queue enqueue "$T/letters.jsonl"
expect_exit 0 "worker" -- cz worker --until-idle 0.3
[ "$(grep -c '^L[0-9]' "$T/spool/$day/manifest.csv")" -eq 3 ] &&
    pass "still 3 rows: a letter already printed is not printed twice" ||
    fail "manifest grew: $(grep -c '^L' "$T/spool/$day/manifest.csv") rows"

finish
