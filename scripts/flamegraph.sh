#!/usr/bin/env bash
# Profiles a Nexmark query with `perf record` and draws a flame graph with inferno.
#
#   scripts/flamegraph.sh q5                      q5, 2 shards, 40 M events -> results/flamegraphs/q5.perf.svg
#   scripts/flamegraph.sh q7 --events 100000000   any further flags go to `spate-bench nexmark`
#   OUT=/tmp/q7.svg scripts/flamegraph.sh q7      another output file
#
# Needs `perf` (with a software clock event: no hardware counters needed) and inferno's
# `inferno-collapse-perf` and `inferno-flamegraph` (`cargo install inferno`). Where either
# is missing or perf may not sample, it says so and falls back to the in-process sampler
# (`spate-bench nexmark --flamegraph`, pprof on SIGPROF), which needs neither.
#
# CARGO_PROFILE_RELEASE_DEBUG=line-tables-only in the environment builds the binary with
# line tables, so that the graph names inlined functions (it rebuilds every dependency
# once); TARGET_DIR picks the target folder (default: cargo's).
set -euo pipefail
cd "$(dirname "$0")/.."

query=${1:-q5}
shift || true
out=${OUT:-results/flamegraphs/$query.perf.svg}
flags=(--shards 2 --events 40000000 --repeat 1 --no-record)
if [[ $# -gt 0 ]]; then
    flags=(--repeat 1 --no-record "$@")
fi
mkdir -p "$(dirname "$out")"

target_args=()
if [[ -n "${TARGET_DIR:-}" ]]; then
    target_args=(--target-dir "$TARGET_DIR")
fi
cargo build --release -p spate-bench "${target_args[@]}"
target_dir=${TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}
bin=$target_dir/release/spate-bench

fallback() {
    echo "flamegraph.sh: $1" >&2
    echo "flamegraph.sh: falling back to the in-process sampler (spate-bench nexmark --flamegraph)" >&2
    svg=${out%.perf.svg}.svg
    exec "$bin" nexmark --query "$query" "${flags[@]}" --flamegraph "$svg"
}

command -v perf >/dev/null || fallback "perf is not installed"
for tool in inferno-collapse-perf inferno-flamegraph; do
    command -v "$tool" >/dev/null || fallback "$tool is not on PATH (cargo install inferno)"
done
data=$(mktemp "${TMPDIR:-/tmp}/spate-perf.XXXXXX")
trap 'rm -f "$data" "$data.old"' EXIT
if ! perf record -e cpu-clock -F 999 -g -o "$data" -- true 2>/dev/null; then
    fallback "perf cannot record here (see /proc/sys/kernel/perf_event_paranoid)"
fi

perf record -e cpu-clock -F 999 -g --call-graph dwarf,8192 -o "$data" -- \
    "$bin" nexmark --query "$query" "${flags[@]}"
perf script -i "$data" 2>/dev/null \
    | inferno-collapse-perf \
    | inferno-flamegraph --title "nexmark $query ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), perf)" \
    > "$out"
echo "flamegraph.sh: wrote $out"
