#!/bin/sh
# link.sh - `cadenza link make|verify` end to end: a link made with the
# current key verifies, as a URL or a bare token; expired, tampered,
# wrong-version and unknown-key links are refused with their reason and
# exit 1; a rotated key set still verifies the old links; a broken
# `links:` section is reported at file:line:col by `validate`.
. "$(dirname "$0")/lib.sh"

umask 077
printf '%s\n' 'first-secret-0123456789abcdef-0123456789' >"$T/k1.key"
printf '%s' 'second-secret-0123456789abcdef-012345678' >"$T/k2.key"
paths="paths: { strategies: $SRCDIR/strategies, templates: $SRCDIR/config/templates, profiles: $SRCDIR/config/profiles, holidays: $SRCDIR/config/holidays }"
cat >"$T/one.yaml" <<YAML
$paths
links:
  base_url: https://pay.example.com/
  keys:
    k1: { secret_file: k1.key }
  ttl: { pay: 7d }
YAML
cat >"$T/rotated.yaml" <<YAML
$paths
links:
  base_url: https://pay.example.com
  current_key: k2
  keys:
    k1: { secret_file: k1.key }
    k2: { secret_env: CZ_TEST_LINK_K2 }
YAML
cat >"$T/only2.yaml" <<YAML
$paths
links:
  base_url: https://pay.example.com
  keys:
    k2: { secret_env: CZ_TEST_LINK_K2 }
YAML
CZ_TEST_LINK_K2=$(cat "$T/k2.key")
export CZ_TEST_LINK_K2
NOW=2026-12-01T10:00:00Z

expect_exit 0 "make a pay link" -- cz -c "$T/one.yaml" link make --attempt 42 --debtor D123 --now $NOW
url=$(cat "$T/out")
case $url in
https://pay.example.com/s/v1.k1.*.*) pass "the URL has the base, /s/ and a v1 token of key k1" ;;
*) fail "unexpected URL '$url'" ;;
esac
[ "$(wc -l <"$T/out")" -eq 1 ] || fail "make printed more than one line"

expect_exit 0 "verify the URL before expiry" -- cz -c "$T/one.yaml" link verify --now 2026-12-07T10:00:00Z "$url"
expect_grep '^valid: action pay, attempt 42, debtor D123, key k1, expires 2026-12-08T10:00:00Z$' "$T/out" \
    "the claims, with the 7-day TTL of 'pay'"
token=${url##*/}
expect_exit 0 "verify the bare token" -- cz -c "$T/one.yaml" link verify --now $NOW "$token"

expect_exit 1 "an expired link is refused" -- cz -c "$T/one.yaml" link verify --now 2026-12-08T10:00:00Z "$token"
expect_grep "link verify: expired at 2026-12-08T10:00:00Z (action pay, attempt 42)" "$T/err" "expiry reason"
[ -s "$T/out" ] && fail "an expired link printed on stdout"

# --ttl and --action, --token
expect_exit 0 "make an opt-out token for an hour" -- \
    cz -c "$T/one.yaml" link make --attempt 7 --action opt_out --ttl 1h --token --now $NOW
t7=$(cat "$T/out")
case $t7 in v1.k1.*) pass "--token prints the token only" ;; *) fail "--token printed '$t7'" ;; esac
expect_exit 0 "verify the opt-out token" -- cz -c "$T/one.yaml" link verify --now $NOW "$t7"
expect_grep '^valid: action opt_out, attempt 7, debtor -, key k1, expires 2026-12-01T11:00:00Z$' "$T/out" \
    "opt_out claims without a debtor"

# tampering: the payload of one link with the signature of another
p42=$(echo "$token" | cut -d. -f3)
forged=$(echo "$t7" | awk -F. -v p="$p42" '{ print $1 "." $2 "." p "." $4 }')
expect_exit 1 "a forged payload is refused" -- cz -c "$T/one.yaml" link verify --now $NOW "$forged"
expect_grep "link verify: bad signature" "$T/err" "forgery reason"
expect_exit 1 "a truncated token is refused" -- cz -c "$T/one.yaml" link verify --now $NOW "${token%??????}"
expect_grep "link verify: malformed token" "$T/err" "truncation reason"
v2=$(echo "$token" | sed 's/^v1\./v2./')
expect_exit 1 "another version is refused" -- cz -c "$T/one.yaml" link verify --now $NOW "$v2"
expect_grep "link verify: unsupported token version" "$T/err" "version reason"

# rotation: k2 signs, k1's links stay valid; a set without k1 does not know them
expect_exit 0 "make with the rotated set" -- cz -c "$T/rotated.yaml" link make --attempt 43 --action plan --now $NOW
case $(cat "$T/out") in
https://pay.example.com/s/v1.k2.*) pass "new links are signed with current_key k2" ;;
*) fail "rotated make printed '$(cat "$T/out")'" ;;
esac
new=$(cat "$T/out")
expect_exit 0 "the old k1 link still verifies" -- cz -c "$T/rotated.yaml" link verify --now $NOW "$url"
expect_exit 0 "the new k2 link verifies" -- cz -c "$T/rotated.yaml" link verify --now $NOW "$new"
expect_exit 1 "a k1 link against a set without k1" -- cz -c "$T/only2.yaml" link verify --now $NOW "$url"
expect_grep "link verify: unknown key" "$T/err" "unknown key reason"
expect_exit 0 "sign with an old key on request" -- cz -c "$T/rotated.yaml" link make --attempt 1 --key k1 --token --now $NOW
case $(cat "$T/out") in v1.k1.*) pass "--key k1" ;; *) fail "--key k1 printed '$(cat "$T/out")'" ;; esac

# the command line
expect_exit 2 "make without --attempt" -- cz -c "$T/one.yaml" link make
expect_grep "missing --attempt" "$T/err" "missing --attempt is named"
expect_exit 2 "an unknown action" -- cz -c "$T/one.yaml" link make --attempt 1 --action pya
expect_grep "unknown action 'pya'" "$T/err" "unknown action is named"
expect_exit 2 "a bad attempt id" -- cz -c "$T/one.yaml" link make --attempt -3
expect_exit 2 "a bad ttl" -- cz -c "$T/one.yaml" link make --attempt 1 --ttl 3w
expect_exit 1 "an unknown --key" -- cz -c "$T/one.yaml" link make --attempt 1 --key k9
expect_exit 2 "verify without a token" -- cz -c "$T/one.yaml" link verify
expect_exit 2 "an unknown subcommand" -- cz -c "$T/one.yaml" link mkae
expect_exit 0 "link --help" -- cz link --help
expect_grep "^usage: cadenza link make" "$T/out" "usage on stdout"
expect_exit 1 "a configuration without links" -- cz link make --attempt 1
expect_grep "has no 'links' section" "$T/err" "missing section is named"

# validate reports a broken links section at file:line:col
chmod 644 "$T/k1.key"
cat >"$T/broken.yaml" <<YAML
$paths
links:
  base_url: https://pay.example.com
  current_key: k3
  keys:
    k1: { secret_file: k1.key }
    k2: { secret: "inline-secret-0123456789abcdef-0123" }
YAML
expect_exit 1 "validate a broken links section" -- cz -c "$T/broken.yaml" validate
sed "s|$T/||" "$T/err" >"$T/err2"
cat >"$T/want" <<'TXT'
broken.yaml:4:16: error: current_key 'k3' is not one of the 'keys'
broken.yaml:6:24: warning: secret file 'k1.key' of link key 'k1' can be read by other users (chmod 600)
broken.yaml:7:19: error: inline secret for link key 'k2': configuration files get copied and committed; use 'secret_file' or 'secret_env'
2 errors, 1 warning
TXT
if cmp -s "$T/want" "$T/err2"; then pass "exact validate diagnostics"; else
    fail "validate diagnostics differ:"; diff "$T/want" "$T/err2" >&2; fi
finish
