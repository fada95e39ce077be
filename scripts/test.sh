#!/usr/bin/env bash
# The test suite: an end-to-end check of the word_count example against coreutils, then
# every unit, integration, example and doc test of the workspace.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# End to end: word_count on the README, 2 shards, against a plain shell count.
cargo run --locked --quiet --example word_count -- --input README.md --shards 2 \
    --output "$tmp/spate.txt" 2>/dev/null
sort "$tmp/spate.txt" > "$tmp/spate.sorted"
tr 'A-Z' 'a-z' < README.md | tr -cs 'a-z0-9_' '\n' | grep -v '^$' | sort | uniq -c \
    | awk '{print $2 "\t" $1}' | sort > "$tmp/plain.sorted"
if ! diff -q "$tmp/spate.sorted" "$tmp/plain.sorted" >/dev/null; then
    echo "word_count differs from the plain count:" >&2
    diff "$tmp/spate.sorted" "$tmp/plain.sorted" | head -20 >&2
    exit 1
fi
echo "word_count end-to-end: $(wc -l < "$tmp/spate.sorted") words match the plain count"

status=0
cargo test --workspace --locked 2>&1 | tee "$tmp/test.log" || status=$?
# One closing line over every suite (cargo prints one `test result` line per binary).
passed=$(grep -E '^test result:' "$tmp/test.log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -E '^test result:' "$tmp/test.log" | awk '{s += $6} END {print s + 0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1 # the build or a test binary failed before reporting
fi
echo "spate: $passed passed, $failed failed"
exit "$status"
