#!/bin/sh
# run-fuzz.sh BINARY SEED... - run a libFuzzer target for a bounded time
# (CADENZA_FUZZ_SECONDS, default 30) on a scratch copy of its seeds, so the
# inputs it discovers never land in the source tree.  A crashing input is
# kept in ./fuzz-artifacts/ (the build directory under meson test).
set -eu
bin=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
find "$@" -type f ! -name '.*' | sort | {
    i=0
    while IFS= read -r f; do
        i=$((i + 1))
        cp "$f" "$work/corpus/seed-$i"
    done
}
rc=0
"$bin" -max_total_time="${CADENZA_FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" || rc=$?
if [ "$(ls -A "$work/artifacts")" ]; then
    mkdir -p fuzz-artifacts
    cp "$work/artifacts"/* fuzz-artifacts/
    echo "crashing inputs kept in $(pwd)/fuzz-artifacts:" >&2
    ls -l fuzz-artifacts >&2
fi
exit $rc
