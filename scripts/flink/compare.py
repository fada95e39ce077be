"""Compares a query's result from Spate (`--output`) with Flink's (run_query.py) as
multisets of rows: both CSV files are parsed, each field normalised (an integer as an
integer; a decimal number rounded to 3 places, as the reference's DECIMAL(23, 3); any
other text as is; an empty field as null), and the rows compared regardless of order.

    python compare.py SPATE_CSV FLINK_CSV [SAMPLE]

Prints one line `equal N rows` or `differs ...` with up to SAMPLE (default 5) rows only
in each side; exits 0 when equal, 1 when not.
"""

import csv
import re
import sys
from collections import Counter
from decimal import Decimal

INT = re.compile(r"^-?\d+$")
DEC = re.compile(r"^-?\d+\.\d*$")


def norm(field):
    if INT.match(field):
        return str(int(field))
    if DEC.match(field):
        return str(Decimal(field).quantize(Decimal("0.001")))
    return field


def rows(path):
    with open(path, newline="") as f:
        return Counter(tuple(norm(x) for x in r) for r in csv.reader(f))


def main():
    spate, flink = rows(sys.argv[1]), rows(sys.argv[2])
    sample = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    only_spate, only_flink = spate - flink, flink - spate
    ns, nf = sum(spate.values()), sum(flink.values())
    if not only_spate and not only_flink:
        print(f"equal {ns} rows")
        return 0
    print(
        f"differs: spate {ns} rows, flink {nf} rows; "
        f"{sum(only_spate.values())} only in spate, {sum(only_flink.values())} only in flink"
    )
    for side, extra in (("spate", only_spate), ("flink", only_flink)):
        for r in sorted(extra)[:sample]:
            print(f"  only {side}: {','.join(x[:60] for x in r)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
