#!/usr/bin/env bash
# Checks Spate's Nexmark results against the reference Nexmark SQL run in Apache Flink on
# the same input (issue 6): generates the three CSV files with `spate-bench nexmark
# generate`, runs each query in Spate with `--source DIR --output FILE`, runs the suite's
# SQL (scripts/flink/queries/qN.sql, adapted to three CSV tables as scripts/flink/ddl.sql
# explains) in PyFlink's Table API in streaming mode, and compares the two results as
# multisets of rows (scripts/flink/compare.py; an updating result is compared as its final
# table: Spate's --output file holds it, Flink's changelog is folded to it).
#
# Not part of scripts/test.sh or CI: it needs the network (pip) and a JVM (Java 11/17).
#
#   scripts/flink-reference.sh [q0 q1 ...]      # default: every query with a .sql file
#
# Environment:
#   SPATE_BENCH        spate-bench binary (default: built here, release, into
#                      ${SPATE_FLINK_TARGET:-/work/target-flinkref} or CARGO_TARGET_DIR)
#   SPATE_FLINK_VENV   the Python venv for PyFlink (default ~/.cache/spate-flink-venv;
#                      created, with apache-flink==$FLINK_VERSION, if missing)
#   FLINK_VERSION      PyFlink version (default 1.20.1: bundles Flink 1.20, runs on Java 17)
#   EVENTS, RATE, SEED input size, events per second of event time, seed (default 200000,
#                      1000, 0: 200 s of event time, so windows of 10 s fire many times)
#   SHARDS             Spate shards (default 2)
#   WORK               folder for input and results (default a fresh temporary one)
# Prints one line per query and exits 1 if any query differs or fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FLINK_DIR=$ROOT/scripts/flink
VENV=${SPATE_FLINK_VENV:-$HOME/.cache/spate-flink-venv}
FLINK_VERSION=${FLINK_VERSION:-1.20.1}
EVENTS=${EVENTS:-200000}
RATE=${RATE:-1000}
SEED=${SEED:-0}
SHARDS=${SHARDS:-2}
WORK=${WORK:-$(mktemp -d -t spate-flink-XXXXXX)}

if [ -z "${SPATE_BENCH:-}" ]; then
    TARGET=${CARGO_TARGET_DIR:-${SPATE_FLINK_TARGET:-/work/target-flinkref}}
    (cd "$ROOT" && cargo build --release --locked --target-dir "$TARGET" -p spate-bench)
    SPATE_BENCH=$TARGET/release/spate-bench
fi

if ! java -version >/dev/null 2>&1; then
    echo "flink-reference: no java on PATH (PyFlink needs Java 11 or 17)" >&2
    exit 2
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pyflink' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "apache-flink==$FLINK_VERSION"
fi

if [ $# -gt 0 ]; then
    QUERIES=("$@")
else
    QUERIES=()
    for f in "$FLINK_DIR"/queries/q*.sql; do QUERIES+=("$(basename "$f" .sql)"); done
    mapfile -t QUERIES < <(printf '%s\n' "${QUERIES[@]}" | sort -V)
fi

IN=$WORK/input
mkdir -p "$IN"
echo "input: $EVENTS events at $RATE/s (seed $SEED) in $IN"
"$SPATE_BENCH" nexmark generate --events "$EVENTS" --rate "$RATE" --seed "$SEED" --out "$IN" >/dev/null

failed=0
for q in "${QUERIES[@]}"; do
    sql=$FLINK_DIR/queries/$q.sql
    if [ ! -f "$sql" ]; then
        echo "$q: no reference SQL ($sql)"; failed=1; continue
    fi
    spate_out=$WORK/$q.spate.csv
    flink_out=$WORK/$q.flink.csv
    # q10's --output is the folder of its partitioned files, flattened to rows after.
    spate_target=$spate_out
    [ "$q" = q10 ] && spate_target=$WORK/q10.spate.d
    if ! "$SPATE_BENCH" nexmark --query "$q" --source "$IN" --output "$spate_target" \
        --shards "$SHARDS" --repeat 1 --no-record >"$WORK/$q.spate.log" 2>&1; then
        echo "$q: spate failed (see $WORK/$q.spate.log)"; failed=1; continue
    fi
    if [ "$q" = q10 ]; then
        "$VENV/bin/python" "$FLINK_DIR/q10_rows.py" "$spate_target" "$spate_out" 2>>"$WORK/$q.spate.log"
    fi
    if ! "$VENV/bin/python" "$FLINK_DIR/run_query.py" "$IN" "$sql" "$flink_out" \
        >"$WORK/$q.flink.log" 2>&1; then
        echo "$q: flink failed (see $WORK/$q.flink.log)"; failed=1; continue
    fi
    if result=$("$VENV/bin/python" "$FLINK_DIR/compare.py" "$spate_out" "$flink_out"); then
        echo "$q: $result"
    else
        echo "$q: $result"; failed=1
    fi
done
echo "files: $WORK"
exit $failed
