#!/usr/bin/env python3
"""TID split into its two terms, per grid point of a sweep: a Markdown table.

TID = d_top + d_thr (README, "TID tables"): d_top = top(gen) - top(train), the mean log
neighbour count of the generated set's k most crowded points against the training set's (the
densest samples more crowded: clumps); d_thr = ln X_(k+1)(train) - ln X_(k+1)(gen) (more points
with few neighbours: isolation). For each run's result.json under SWEEP/runs/, and each sampler
and radius, this prints the mean +- std over the seeds of TID, d_top and d_thr, and each seed's
reading (which term carries TID, where TID is above its spread over repeats and not degenerate;
'-' otherwise), as `collapse-explorer` reads it (TidEstimate::driver).

Usage: tools/tid_split_table.py SWEEP_DIR [KEY ...]
  KEY  the grid keys naming a point (default: every key of the sweep's grid)
Standard library only.
"""
import glob
import json
import math
import os
import statistics
import sys


def reading(t, top, thr):
    if t["degenerate"] > 0 or t["mean"] <= t["std"]:
        return "-"
    return "clumps" if top >= thr else "isolation"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sweep = sys.argv[1]
    files = sorted(glob.glob(os.path.join(sweep, "runs", "*", "result.json")))
    if not files:
        sys.exit(f"tid_split_table: no runs/*/result.json under {sweep}")
    rows = {}
    for f in files:
        r = json.load(open(f))
        params = r.get("params", {})
        keys = sys.argv[2:] or sorted(params)
        point = ", ".join(f"{k}={params.get(k)}" for k in keys)
        eps_nn = r.get("config", {}).get("evaluation", {}).get("eps_nn", [])
        for s in r["samplers"]:
            for i, t in enumerate(s["tid"]):
                # The radius as the sweep names it (RunResult::radius_label): `nn<k>` for k times
                # the nearest-neighbour scale, whose ε differs from seed to seed.
                radius = (f"nn{eps_nn[i]:g}" if r.get("eps_nn_scale") is not None and i < len(eps_nn)
                          else t["eps"])
                if t.get("threshold_train") is None or t.get("threshold_generated") is None:
                    sys.exit(f"tid_split_table: {f} has no thresholds (a result from before they were recorded)")
                thr = math.log(t["threshold_train"]) - math.log(t["threshold_generated"])
                top = t["mean"] - thr
                rows.setdefault((point, s["name"], radius), []).append(
                    (t["mean"], top, thr, reading(t, top, thr)))

    def cell(v, i):
        xs = [x[i] for x in v]
        sd = f" ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else ""
        return f"{statistics.mean(xs):+.3f}{sd}"

    print("| point | sampler | ε | TID | d_top | d_thr | reads, per seed |")
    print("|---|---|---|---|---|---|---|")
    for (point, sampler, radius), v in rows.items():
        print(f"| {point} | {sampler} | {radius} | {cell(v, 0)} | {cell(v, 1)} | {cell(v, 2)} | "
              f"{', '.join(x[3] for x in v)} |")


if __name__ == "__main__":
    main()
