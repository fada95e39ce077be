#!/usr/bin/env bash
# Crash test of exactly-once recovery (issue 5): runs the crash_job example (keyed state,
# event-time timers, generator source, exactly-once file sink, 200 ms checkpoints), kills
# it with SIGKILL at random moments KILLS times (default 20), starts it again with the same
# directories after each kill until it finishes, and compares the published output with a
# failure-free run: it must be identical, no record lost or duplicated.
#
#   scripts/crash-test.sh [KILLS] [RECORDS]
#
# Nexmark mode: the same with a Nexmark query run by the release `spate-bench nexmark`
# (generator source, 200 ms checkpoints, --sink-dir), compared, folded (`nexmark fold`),
# with the sorted `--output` of a failure-free run without checkpoints (q10, whose
# --output is a folder, with the folded output of a failure-free run with checkpoints):
#
#   scripts/crash-test.sh --nexmark QUERY [KILLS] [EVENTS] [SHARDS]
#
# Builds into cargo's target directory (set CARGO_TARGET_DIR to use another).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--nexmark" ]; then
    query=${2:?"--nexmark needs a query: q0 ... q22"}
    kills=${3:-20}
    events=${4:-20000000}
    shards=${5:-2}
    case "$query" in
        q12) echo "q12 counts in processing-time windows: its output differs from run to run" >&2
             exit 2 ;;
    esac
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cargo build --locked --quiet --release -p spate-bench
    bin=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
        | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/spate-bench
    [ -x "$bin" ] || { echo "spate-bench binary not found at $bin" >&2; exit 1; }
    run=("$bin" nexmark --query "$query" --events "$events" --shards "$shards" --repeat 1
         --no-record)
    if [ "$query" = q10 ]; then
        "${run[@]}" --checkpoint-dir "$tmp/ref-chk" --checkpoint-interval-ms 200 \
            --sink-dir "$tmp/ref-sink" >/dev/null
        "$bin" nexmark fold --sink-dir "$tmp/ref-sink" --out "$tmp/want"
    else
        "${run[@]}" --output "$tmp/reference.csv" >/dev/null
        LC_ALL=C sort "$tmp/reference.csv" > "$tmp/want"
    fi
    echo "reference run: $(wc -l < "$tmp/want") rows"
    killed=0
    starts=0
    while :; do
        "${run[@]}" --checkpoint-dir "$tmp/chk" --checkpoint-interval-ms 200 \
            --sink-dir "$tmp/sink" >"$tmp/log" 2>&1 &
        pid=$!
        starts=$((starts + 1))
        if [ "$killed" -lt "$kills" ]; then
            # 100 to 1100 ms after the start: before, during and after checkpoints.
            sleep "$(printf '%d.%03d' $(((100 + RANDOM % 1000) / 1000)) $(((100 + RANDOM % 1000) % 1000)))"
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
        echo "FAIL: $query finished after only $killed of $kills kills: give it more EVENTS" >&2
        exit 1
    fi
    "$bin" nexmark fold --sink-dir "$tmp/sink" > "$tmp/got.unsorted"
    LC_ALL=C sort "$tmp/got.unsorted" > "$tmp/got"
    if ! cmp -s "$tmp/want" "$tmp/got"; then
        echo "FAIL: $query after $killed kills: the folded output differs from the failure-free run" >&2
        diff "$tmp/want" "$tmp/got" | head -20 >&2
        exit 1
    fi
    echo "OK: $query on $shards shards, $events events: $killed SIGKILLs ($starts starts)," \
        "$(wc -l < "$tmp/got") folded rows identical to the failure-free run"
    exit 0
fi

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
