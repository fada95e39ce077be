"""Runs one reference Nexmark query in Flink (PyFlink Table API, streaming mode) on the CSV
files of `spate-bench nexmark generate`, and writes its final result table as CSV.

    python run_query.py DIR QUERY_SQL OUT_CSV

The result is collected as a changelog (+I/-U/+U/-D rows) and folded: +I and +U add a
row, -U and -D take one away; what is left when the bounded input ends is the final
table (for an append-only result, every row). By default Table.to_pandas() does the
folding on the Java side (fast); FLINK_COLLECT=rows folds here, row by row (slow, about
a thousand rows a second, but independent of to_pandas). Rows are written without header, in the
query's column order, timestamps as epoch milliseconds, nulls as empty fields, decimals
as written by Python's `str` (the comparison normalises numbers).
"""

import calendar
import csv
import datetime
import decimal
import os
import sys
import time
from collections import Counter

from pyflink.common import RowKind
from pyflink.table import EnvironmentSettings, TableEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


def cell(v):
    if v is None:
        return ""
    if hasattr(v, "value") and hasattr(v, "tz_localize"):  # pandas.Timestamp, naive UTC
        return str(v.value // 1_000_000)
    if isinstance(v, datetime.datetime):
        # A TIMESTAMP(3) in UTC wall time (the session's time zone is UTC).
        return str(calendar.timegm(v.timetuple()) * 1000 + v.microsecond // 1000)
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, float):
        if v != v:  # NaN: a null in a numeric pandas column
            return ""
        if v.is_integer():
            return str(int(v))
    return str(v)


def main():
    src, query_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("table.local-time-zone", "UTC")
    conf.set("parallelism.default", os.environ.get("FLINK_PARALLELISM", "1"))
    with open(os.path.join(HERE, "ddl.sql")) as f:
        ddl = f.read().replace("${DIR}", os.path.abspath(src))
    for stmt in strip_comments(ddl).split(";"):
        if stmt.strip():
            env.execute_sql(stmt)
    with open(query_file) as f:
        sql = strip_comments(f.read()).strip().rstrip(";")
    started = time.time()
    if os.environ.get("FLINK_COLLECT") == "rows":
        table, changes = fold_rows(env, sql)
    else:
        table, changes = fold_pandas(env, sql)
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        for row in sorted(table.elements()):
            w.writerow(row)
    print(
        f"flink: {changes} changelog rows -> {sum(table.values())} final rows "
        f"in {time.time() - started:.1f} s",
        file=sys.stderr,
    )


def fold_rows(env, sql):
    """The final table from the changelog, row by row (one Py4J call per row: slow)."""
    table = Counter()
    changes = 0
    with env.execute_sql(sql).collect() as rows:
        for r in rows:
            changes += 1
            key = tuple(cell(v) for v in r)
            if r.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                table[key] += 1
            else:
                table[key] -= 1
                if table[key] == 0:
                    del table[key]
    negative = [k for k, n in table.items() if n < 0]
    if negative:
        sys.exit(f"changelog retracts rows it never inserted, e.g. {negative[0]}")
    return table, changes


def fold_pandas(env, sql):
    """The final table through Table.to_pandas(): Flink collects the changelog on the Java
    side, applies its retractions there (-U/-D remove a row +I/+U added) and sends the
    remaining rows over in Arrow batches: fast."""
    df = env.sql_query(sql).to_pandas()
    table = Counter(tuple(cell(v) for v in r) for r in df.itertuples(index=False, name=None))
    return table, "(folded in Flink)"


def strip_comments(text):
    return "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("--"))


if __name__ == "__main__":
    main()
