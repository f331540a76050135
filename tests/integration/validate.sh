#!/bin/sh
# validate.sh - `cadenza validate` end to end: the shipped strategies are
# valid, every case of tests/data/invalid/ prints exactly its expected.txt
# (diagnostics and summary on stderr) and exits 1, and the command line
# behaves (help, unknown option, missing path).
#
# Env: CADENZA (binary), SRCDIR (source root), CADENZA_WRAP (optional
# wrapper such as valgrind, put in front of every cadenza run).
set -u

: "${CADENZA:?}" "${SRCDIR:?}"
WRAP=${CADENZA_WRAP:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

bad() {
    echo "FAIL: $*" >&2
    fail=1
}

cz() {
    # shellcheck disable=SC2086
    $WRAP "$CADENZA" "$@"
}

# --help: usage on stdout, exit 0.
cz validate --help >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] || bad "validate --help exited $rc"
grep -q '^usage: cadenza validate' "$TMP/out" || bad "validate --help printed no usage"

# An unknown option is named on stderr, exit 2.
cz validate --bogus >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 2 ] || bad "validate --bogus exited $rc, expected 2"
grep -q "unknown option '--bogus'" "$TMP/err" || bad "validate --bogus: $(cat "$TMP/err")"

# The shipped configuration and strategies: valid, no warning at all.
cz --config "$SRCDIR/config/cadenza.yaml" validate >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] || bad "shipped strategies exited $rc: $(cat "$TMP/err")"
[ -s "$TMP/err" ] && bad "shipped strategies printed diagnostics: $(cat "$TMP/err")"
grep -Eq '^ok: [0-9]+ strategies, [0-9]+ tiers, [0-9]+ templates$' "$TMP/out" ||
    bad "shipped strategies: unexpected output '$(cat "$TMP/out")'"
n=$(sed -n 's/^ok: \([0-9]*\) strategies.*/\1/p' "$TMP/out")
[ "${n:-0}" -ge 5 ] || bad "expected at least 5 shipped strategies, got '$n'"

# The same with the directory and with single files named explicitly.
cz --config "$SRCDIR/config/cadenza.yaml" validate "$SRCDIR/strategies" >"$TMP/out2" 2>&1
rc=$?
[ $rc -eq 0 ] || bad "validate strategies/ exited $rc"
cmp -s "$TMP/out" "$TMP/out2" || bad "validate strategies/ differs from the default"
for f in "$SRCDIR"/strategies/*.yaml; do
    cz --config "$SRCDIR/config/cadenza.yaml" validate "$f" >"$TMP/out" 2>"$TMP/err" ||
        bad "$f alone: $(cat "$TMP/err")"
done

# A path that does not exist is an error in the report, exit 1.
cz --config "$SRCDIR/config/cadenza.yaml" validate "$TMP/nope.yaml" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] || bad "missing path exited $rc, expected 1"
grep -q "nope.yaml: error: cannot read strategies: No such file or directory" "$TMP/err" ||
    bad "missing path: $(cat "$TMP/err")"
[ -s "$TMP/out" ] && bad "missing path printed to stdout"

# Every invalid case: exact diagnostics, exit 1, nothing on stdout.
ncases=0
for dir in "$SRCDIR"/tests/data/invalid/*/; do
    dir=${dir%/}
    name=$(basename "$dir")
    ncases=$((ncases + 1))
    cfg="$SRCDIR/config/cadenza.yaml"
    [ -f "$dir/cadenza.yaml" ] && cfg="$dir/cadenza.yaml"
    files=$(cd "$dir" && ls -- *.yaml | grep -v '^cadenza\.yaml$')
    # shellcheck disable=SC2086
    (cd "$dir" && $WRAP "$CADENZA" --config "$cfg" validate $files) >"$TMP/out" 2>"$TMP/raw"
    rc=$?
    sed "s|$dir/||g" "$TMP/raw" >"$TMP/err"
    [ $rc -eq 1 ] || bad "$name: exit $rc, expected 1"
    [ -s "$TMP/out" ] && bad "$name: printed to stdout: $(cat "$TMP/out")"
    if ! cmp -s "$dir/expected.txt" "$TMP/err"; then
        bad "$name: diagnostics differ (expected, actual):"
        diff "$dir/expected.txt" "$TMP/err" >&2
    fi
done
[ $ncases -ge 15 ] || bad "only $ncases invalid cases found"

[ $fail -eq 0 ] && echo "ok: validate ($ncases invalid cases)"
exit $fail
