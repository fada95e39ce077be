#!/usr/bin/env bash
# Runs the foundation benchmarks and regenerates results/foundation.md.
#
#   scripts/bench.sh            criterion exchange bench + keyed-count and chain on 1 and
#                               all cores, each a median of 3 runs
#   SHARDS="1 2 4" scripts/bench.sh     other shard counts
#   SKIP_CRITERION=1 scripts/bench.sh   only the spate-bench runs
#
# Every run appends its figures and provenance to results/runs.jsonl; the Markdown page is
# rendered from that file by `spate-bench report`, never by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

cores=$(nproc)
SHARDS=${SHARDS:-$(printf '%s\n' 1 "$cores" | sort -nu | tr '\n' ' ')}
mkdir -p results

if [[ -z "${SKIP_CRITERION:-}" ]]; then
    log=target/criterion-exchange.log
    mkdir -p target
    cargo bench -p spate-bench --bench exchange 2>&1 | tee "$log"
    # The benchmark names and their time:/thrpt: lines (criterion prints the name on its own
    # line when it is long, or in front of `time:` otherwise).
    {
        echo "# cargo bench -p spate-bench --bench exchange  ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%M:%SZ), $cores cores)"
        grep -E '^[A-Za-z0-9_]+/[A-Za-z0-9_]+|time:|thrpt:' "$log" \
            | grep -vE '^(Benchmarking|Warming|Collecting|Analyzing|Found)'
    } > results/criterion-exchange.txt
fi

cargo build --release -p spate-bench
for bench in keyed-count chain; do
    for s in $SHARDS; do
        cargo run --release -q -p spate-bench -- "$bench" --shards "$s"
    done
done

cargo run --release -q -p spate-bench -- report \
    --out results/foundation.md --criterion results/criterion-exchange.txt
