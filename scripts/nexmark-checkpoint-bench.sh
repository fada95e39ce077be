#!/usr/bin/env bash
# Throughput of Nexmark queries with and without checkpoints (results/nexmark-checkpoints.md):
# for each query and shard count, REPEAT rounds of one run per mode, alternating
# (none, --checkpoint-interval-ms 1000, the same with --sink-dir), each run a fresh
# `spate-bench nexmark --query Q --repeat 1` on fresh folders. Every run is appended as a
# JSON line to RUNS (default results/nexmark-checkpoints.jsonl): medians are computed from it.
#
#   scripts/nexmark-checkpoint-bench.sh [EVENTS] [REPEAT] [QUERIES] [SHARDS]
#   e.g. scripts/nexmark-checkpoint-bench.sh 30000000 3 "q5 q7 q8" "1 2"
#
# Builds into cargo's target directory (set CARGO_TARGET_DIR to use another).
set -euo pipefail
cd "$(dirname "$0")/.."

events=${1:-30000000}
repeat=${2:-3}
queries=${3:-"q5 q7 q8"}
shard_counts=${4:-"1 2"}
runs=${RUNS:-results/nexmark-checkpoints.jsonl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo build --locked --quiet --release -p spate-bench
bin=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/spate-bench
for q in $queries; do
    for shards in $shard_counts; do
        for round in $(seq "$repeat"); do
            for mode in none chk chk-sink; do
                rm -rf "$tmp/chk" "$tmp/sink"
                extra=()
                case $mode in
                    chk) extra=(--checkpoint-dir "$tmp/chk" --checkpoint-interval-ms 1000) ;;
                    chk-sink) extra=(--checkpoint-dir "$tmp/chk" --checkpoint-interval-ms 1000
                                     --sink-dir "$tmp/sink") ;;
                esac
                echo "$q shards=$shards round=$round mode=$mode load=$(cut -d' ' -f1 /proc/loadavg)"
                "$bin" nexmark --query "$q" --events "$events" --shards "$shards" --repeat 1 \
                    --runs-file "$runs" "${extra[@]}" | grep -E '^ +1 '
            done
        done
    done
done
