#!/usr/bin/env bash
# Crash test of exactly-once recovery (issue 5): runs the crash_job example (keyed state,
# event-time timers, generator source, exactly-once file sink, 200 ms checkpoints), kills
# it with SIGKILL at random moments KILLS times (default 20), starts it again with the same
# directories after each kill until it finishes, and compares the published output with a
# failure-free run: it must be identical, no record lost or duplicated.
#
#   scripts/crash-test.sh [KILLS] [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."

kills=${1:-20}
records=${2:-800000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo build --locked --quiet --example crash_job
bin=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/examples/crash_job
[ -x "$bin" ] || { echo "crash_job binary not found at $bin" >&2; exit 1; }
job=("$bin" --records "$records" --shards 2 --interval-ms 200 --slow-every 20)

"${job[@]}" --out "$tmp/reference" >/dev/null
echo "reference run: $(cat "$tmp"/reference/part-* | wc -l) lines"

killed=0
while :; do
    "${job[@]}" --checkpoint-dir "$tmp/chk" --out "$tmp/out" >"$tmp/log" 2>&1 &
    pid=$!
    if [ "$killed" -lt "$kills" ]; then
        # 50 to 650 ms: before, during and after checkpoints.
        sleep "0.$(printf '%03d' $((50 + RANDOM % 600)))" 2>/dev/null || sleep 1
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid"
            wait "$pid" 2>/dev/null || true
            killed=$((killed + 1))
            continue
        fi
    fi
    if wait "$pid"; then
        break
    fi
    echo "the job failed:" >&2
    cat "$tmp/log" >&2
    exit 1
done

if [ "$killed" -lt "$kills" ]; then
    echo "FAIL: the job finished after only $killed of $kills kills: give it more RECORDS" >&2
    exit 1
fi
sort "$tmp"/reference/part-* > "$tmp/want"
sort "$tmp"/out/part-* > "$tmp/got"
if ! cmp -s "$tmp/want" "$tmp/got"; then
    echo "FAIL after $killed kills: published output differs from the failure-free run" >&2
    diff "$tmp/want" "$tmp/got" | head -20 >&2
    exit 1
fi
echo "OK: $killed SIGKILLs, $(wc -l < "$tmp/got") published lines identical to the failure-free run"
