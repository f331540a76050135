#!/bin/sh
# Bad input never loses good data, no path is clobbered, no command hangs
# (one section per defect it guards against; each failed before its fix).
. "$SRCDIR/tests/integration/lib.sh"

# seconds since the epoch with a fraction, for time bounds
now_s() { /usr/bin/python3 -c 'import time; print("%.3f" % time.time())'; }
# took START LIMIT DESC: elapsed since START below LIMIT seconds (not under valgrind)
took() {
    el=$(/usr/bin/python3 -c "import time; print('%.1f' % (time.time() - $1))")
    if [ -n "${CADENZA_WRAP:-}" ]; then pass "$3 (${el} s, not timed under valgrind)"; return; fi
    if /usr/bin/python3 -c "import sys; sys.exit(0 if $el < $2 else 1)"; then
        pass "$3 (${el} s)"
    else
        fail "$3: took ${el} s, limit $2 s"
    fi
}

CFG="$T/cadenza.yaml"
# with_config DEFAULTS-BODY [STRATEGY-DIR]: the repository's configuration
# (channels, profiles, ...) with another defaults: block
with_config() {
    /usr/bin/python3 - "$SRCDIR/config/cadenza.yaml" "$CFG" "$1" "${2:-$SRCDIR/strategies}" <<'EOP'
import re, sys, os
src, dst, defaults, strategies = sys.argv[1:5]
text = open(src).read()
cfg = os.path.dirname(src)
text = re.sub(r"(?m)^defaults:.*\n(  .*\n)+", "defaults:\n" + defaults + "\n", text)
text = text.replace("strategies: ../strategies", "strategies: " + strategies)
for k in ("templates", "profiles", "holidays"):
    text = text.replace("  %s: %s\n" % (k, k), "  %s: %s/%s\n" % (k, cfg, k))
open(dst, "w").write(text)
EOP
    export CADENZA_CONFIG="$CFG"
}

# --- 1. optional columns: defaults, or a per-row rejection -----------------
with_config "  currency: EUR"
printf 'id,email\nA,a@x.example\n' >"$T/min.csv"
expect_exit 1 "minimal row without a country default: rejected, not aborted" -- \
    cz import debtors "$T/min.csv"
expect_grep "min.csv:2: error: country: missing; add the column, an international phone number, or defaults.country" \
    "$T/err" "the row's line and how to fix it"
expect_grep "^A,a@x.example,\"country: missing" "$T/min.csv.rejects" "the row in the rejects file"

with_config "  country: GB
  currency: GBP"
expect_exit 0 "minimal row with defaults.country: imported" -- cz import debtors "$T/min.csv"
[ "$(sql "SELECT country, time_zone, currency FROM debtors WHERE external_id = 'A'")" = \
    "GB|Europe/London|GBP" ] && pass "country from the default, its only zone, default currency" ||
    fail "defaults not applied: $(sql "SELECT country, time_zone, currency FROM debtors")"

# the phone number's region wins over the default country; a country of
# several zones needs the column or a default zone that is one of them
printf 'id,phone\nJ,+1 876 555 0123\nU,+1 212 555 0123\nE,+34 612 345 678\n' >"$T/ph.csv"
with_config "  country: GB
  time_zone: America/New_York"
expect_exit 1 "international numbers: country from the number" -- cz import debtors "$T/ph.csv"
[ "$(sql "SELECT external_id || ':' || country || ':' || time_zone FROM debtors WHERE external_id IN ('J', 'U') ORDER BY 1")" = \
    "J:JM:America/Jamaica
U:US:America/New_York" ] && pass "JM (one zone), US (the default zone is a US zone)" ||
    fail "phone regions: $(sql "SELECT external_id, country, time_zone FROM debtors")"
expect_grep "ph.csv:4: error: time_zone: missing, and ES has 3 zones (Europe/Madrid, Africa/Ceuta, ...); add the column, or set defaults.time_zone to one of them" \
    "$T/err" "ES needs a zone: never a guessed one"

# 10,000 rows, one bad at line 5,002: 9,999 stored
rm -f "$CADENZA_STORE"
with_config "  currency: EUR"
/usr/bin/python3 - "$T/big.csv" <<'EOP'
import sys
with open(sys.argv[1], "w") as f:
    f.write("id,email,country,time_zone\n")
    for i in range(2, 10002):
        if i == 5002:
            f.write("B%d,b%d@x.example,,\n" % (i, i))
        else:
            f.write("B%d,b%d@x.example,ES,Europe/Madrid\n" % (i, i))
EOP
expect_exit 1 "10,000 rows with one incomplete" -- cz import debtors --batch 3000 "$T/big.csv"
expect_grep "big.csv:5002: error: country: missing" "$T/err" "line 5,002 named"
[ "$(sql "SELECT count(*) FROM debtors")" = 9999 ] && pass "9,999 good rows stored" ||
    fail "stored $(sql "SELECT count(*) FROM debtors") rows, expected 9999"

# --- 2. --rejects never replaces what is not a regular file -----------------
printf 'id,email,country,time_zone\nR1,bad,ES,Europe/Madrid\nR2,r2@x.example,ES,Europe/Madrid\n' \
    >"$T/rj.csv"
mkfifo "$T/fifo"
cat "$T/fifo" >"$T/fifo.out" &
catpid=$!
expect_exit 1 "rejects to a FIFO" -- cz import debtors --rejects "$T/fifo" "$T/rj.csv"
wait $catpid
[ -p "$T/fifo" ] && pass "the FIFO is still a FIFO" || fail "the FIFO was replaced"
expect_grep "^R1,bad," "$T/fifo.out" "the rejects went through the FIFO"
expect_exit 1 "rejects to /dev/null" -- cz import debtors --rejects /dev/null "$T/rj.csv"
[ -c /dev/null ] && pass "/dev/null is still a device" || fail "/dev/null was replaced"
: >"$T/target.csv"
ln -s "$T/target.csv" "$T/link.csv"
expect_exit 1 "rejects through a symlink" -- cz import debtors --rejects "$T/link.csv" "$T/rj.csv"
[ -L "$T/link.csv" ] && pass "the symlink is still a symlink" || fail "the symlink was replaced"
expect_grep "^R1,bad," "$T/target.csv" "the rejects are in the link's target"
cp "$T/rj.csv" "$T/rj.copy"
expect_exit 2 "rejects path = the input: refused" -- cz import debtors --rejects "$T/rj.csv" "$T/rj.csv"
expect_grep "is the input file" "$T/err" "says why"
cmp -s "$T/rj.csv" "$T/rj.copy" && pass "the input is untouched" || fail "the input changed"
printf 'debtor_id,channel,attempted_at,outcome\n' >"$T/oc.csv"
expect_exit 2 "outcomes: rejects path = the input: refused" -- \
    cz import outcomes --rejects "$T/oc.csv" "$T/oc.csv"

# --- 3b. a FIFO as a configuration or strategy file never blocks ------------
mkfifo "$T/strategy.yaml"
start=$(now_s)
expect_exit 1 "validate a FIFO strategy file" -- czt validate "$T/strategy.yaml"
took "$start" 10 "validate returned at once"
expect_grep "strategy.yaml:.*not a regular file" "$T/err" "says it is not a regular file"
mkdir "$T/strats"
cp "$SRCDIR/strategies/early.yaml" "$T/strats/"
mkfifo "$T/strats/x.yaml"
with_config "  currency: EUR" "$T/strats"
cp "$CFG" "$T/fifo-dir.yaml"
with_config "  currency: EUR"
start=$(now_s)
expect_exit 1 "plan with a FIFO in the strategy folder" -- \
    czt --config "$T/fifo-dir.yaml" plan --date 2026-12-07
took "$start" 10 "plan returned at once"
expect_grep "x.yaml.*not a regular file" "$T/err" "names the FIFO"
expect_exit 3 "a FIFO as --config" -- czt --config "$T/strategy.yaml" validate
expect_grep "not a regular file" "$T/err" "says so"

# --- 4. a newer or foreign database is refused on every path ----------------
with_config "  currency: EUR"
cp "$CADENZA_STORE" "$T/new.db"
sqlite3 "$T/new.db" "PRAGMA user_version = 99"
for verb in status "plan --date 2026-12-07" "explain B2 --date 2026-12-07" \
    "import debtors $T/rj.csv"; do
    # shellcheck disable=SC2086
    cz --store "$T/new.db" $verb >"$T/out" 2>"$T/err"
    rc=$?
    if [ $rc -ne 0 ] && grep -q "schema version 99 is newer" "$T/err"; then
        pass "newer store refused by '${verb%% *}'"
    else
        fail "'$verb' on a newer store: exit $rc"; sed 's/^/    /' "$T/err" >&2
    fi
done
sqlite3 "$T/other.db" "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'x')"
cp "$T/other.db" "$T/other.copy"
expect_exit 3 "another application's database: import refused" -- \
    cz --store "$T/other.db" import debtors "$T/rj.csv"
expect_grep "not a cadenza store: the database already holds other tables ('users')" "$T/err" \
    "says whose it is not"
[ "$(sqlite3 "$T/other.db" "SELECT count(*) FROM sqlite_schema")" = 1 ] &&
    pass "no table added to it" || fail "tables were added to another application's database"

# --- 5. silent exits ----------------------------------------------------------
for opt in "--batch 0" "--jobs 0" "--batch -1" "--jobs 9"; do
    # shellcheck disable=SC2086
    expect_exit 2 "import debtors $opt" -- cz import debtors $opt "$T/rj.csv"
    expect_grep "invalid value '.*' for --[a-z]*: expected a whole number from 1 to" "$T/err" \
        "$opt: the valid range"
done
cz status >&- 2>"$T/err"
rc=$?
[ $rc -eq 3 ] && pass "status with stdout closed: exit 3" || fail "status with stdout closed: exit $rc"
expect_grep "cannot write standard output" "$T/err" "says so"
if [ -w /dev/full ]; then
    cz status >/dev/full 2>"$T/err"
    rc=$?
    [ $rc -eq 3 ] && pass "status to a full disk: exit 3" || fail "status to /dev/full: exit $rc"
fi

# --- 6. a record too long to copy says so in the rejects file ---------------
/usr/bin/python3 - "$T/huge.csv" <<'EOP'
import sys
with open(sys.argv[1], "w") as f:
    f.write("id,email,country,time_zone,name\n")
    f.write("H1,h1@x.example,ES,Europe/Madrid,ok\n")
    f.write('H2,h2@x.example,ES,Europe/Madrid,"' + "x" * (80 << 20) + '"\n')
    f.write("H3,h3@x.example,ES,Europe/Madrid,ok\n")
EOP
expect_exit 1 "an 80 MiB record" -- cz import debtors "$T/huge.csv"
expect_grep "huge.csv:3: error: name: longer than 1048576 bytes (too long to copy into the rejects file)" \
    "$T/err" "reported at its line, saying it is not copied"
expect_grep "too long to copy into the rejects file" "$T/huge.csv.rejects" \
    "the rejects file says the record was not copied"
[ "$(sql "SELECT count(*) FROM debtors WHERE external_id IN ('H1', 'H3')")" = 2 ] &&
    pass "the rows around it are stored" || fail "rows around the long record lost"
rm -f "$T/huge.csv" "$T/huge.csv.rejects"

finish
