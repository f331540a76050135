# Shared helpers for the integration tests (POSIX sh).
#
# Every test gets a private temp directory ($T), removed on exit, and runs
# the real binary as `cz ARGS...`, which puts $CADENZA_WRAP (valgrind in the
# vg setup) in front and points cadenza at the repository's configuration
# and a store inside $T.

set -u
: "${CADENZA:?CADENZA must point at the cadenza binary}"
: "${SRCDIR:?SRCDIR must point at the source tree}"
T=$(mktemp -d "${TMPDIR:-/tmp}/cz-test.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
export CADENZA_CONFIG="$SRCDIR/config/cadenza.yaml"
export CADENZA_STORE="$T/cadenza.db"
unset CADENZA_REDIS

failures=0

cz() {
    ${CADENZA_WRAP:-} "$CADENZA" "$@"
}

# cz under a time bound: for inputs that must never hang
czt() {
    timeout 120 ${CADENZA_WRAP:-} "$CADENZA" "$@"
}

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

pass() {
    echo "ok: $*"
}

# expect_exit CODE DESCRIPTION -- CMD...
expect_exit() {
    want=$1; desc=$2; shift 3
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "$desc: exit $got, expected $want"
        sed 's/^/    stderr: /' "$T/err" | head -20 >&2
        return 1
    fi
    pass "$desc"
    return 0
}

# expect_grep PATTERN FILE DESCRIPTION
expect_grep() {
    if grep -q -- "$1" "$2"; then
        pass "$3"
    else
        fail "$3: '$1' not found in $2"
        sed 's/^/    | /' "$2" | head -20 >&2
    fi
}

# sql QUERY: run a query on the test store with the sqlite3 shell
sql() {
    sqlite3 -batch -noheader "$CADENZA_STORE" "$1"
}

finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures check(s) failed" >&2
        exit 1
    fi
    exit 0
}
