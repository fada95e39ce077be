"""Flattens the folder Spate's q10 writes (`DIR/dt=yyyy-MM-dd/hm=HH:mm/part-N.csv`) into
one CSV file of rows `auction,bidder,price,dateTime,extra,dt,hm`, the partition values
taken from the folder names, to compare with the reference's rows.

    python q10_rows.py DIR OUT_CSV
"""

import csv
import os
import sys


def main():
    root, out = sys.argv[1], sys.argv[2]
    rows = 0
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        for dt in sorted(os.listdir(root)):
            if not dt.startswith("dt="):
                continue
            for hm in sorted(os.listdir(os.path.join(root, dt))):
                if not hm.startswith("hm="):
                    continue
                folder = os.path.join(root, dt, hm)
                for part in sorted(os.listdir(folder)):
                    with open(os.path.join(folder, part), newline="") as p:
                        for r in csv.reader(p):
                            w.writerow(r + [dt[3:], hm[3:]])
                            rows += 1
    print(f"q10: {rows} rows from {root}", file=sys.stderr)


if __name__ == "__main__":
    main()
