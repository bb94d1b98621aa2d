#!/usr/bin/env python3
"""Markdown table of a sweep's summary.csv: mean ± std over seeds, one row per grid point.

    tools/table.py SUMMARY.csv [COLUMN ...] [--keys arch,width] [--digits 3] [--signed]

COLUMNs are summary.csv columns (default: every metric column); --keys are the grid fields
that name a row (default: every column between `id` and `seed`). The std is the sample std
over seeds (n - 1), as in the sweep's figures; a point with one seed shows no ± part.
Only the standard library is used.
"""
import argparse
import csv
import math
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("summary")
    ap.add_argument("columns", nargs="*")
    ap.add_argument("--keys", help="grid fields naming a row, comma separated")
    ap.add_argument("--digits", type=int, default=3)
    ap.add_argument("--signed", action="store_true", help="print + before positive means")
    a = ap.parse_args()
    with open(a.summary, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{a.summary}: no runs")
    header = list(rows[0].keys())
    seed_at = header.index("seed")
    keys = a.keys.split(",") if a.keys else header[1:seed_at]
    columns = a.columns or header[seed_at + 1 :]
    for c in keys + columns:
        if c not in header:
            sys.exit(f"{a.summary}: no column '{c}' (columns: {', '.join(header)})")
    points = {}
    for r in rows:
        points.setdefault(tuple(r[k] for k in keys), []).append(r)

    def cell(values):
        values = [float(v) for v in values if v not in ("", "nan", "NaN")]
        if not values:
            return "n/a"
        mean = sum(values) / len(values)
        sign = "+" if a.signed and mean >= 0 else ""
        text = f"{sign}{mean:.{a.digits}f}".replace("-", "−")
        if len(values) > 1:
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
            text += f" ± {sd:.{a.digits}f}"
        return text

    print("| " + " | ".join(keys + columns + ["seeds"]) + " |")
    print("|" + "---|" * (len(keys) + len(columns) + 1))
    for point, rs in points.items():
        cells = [cell(r[c] for r in rs) for c in columns]
        print("| " + " | ".join(list(point) + cells + [str(len(rs))]) + " |")


if __name__ == "__main__":
    main()
