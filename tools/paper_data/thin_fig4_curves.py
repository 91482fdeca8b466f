#!/usr/bin/env python3
"""The authors' Fig. 4 training curves for seed 1 at d = 1 and 2, thinned to log-spaced iterations, so that our
runs can be plotted over them without the 2-4 MB raw files.

    git clone https://github.com/bakhromtjk/mgd_scaling /tmp/mgd_scaling   # commit 804bfd7, the data
    python tools/paper_data/thin_fig4_curves.py /tmp/mgd_scaling

Reads ``Fig4_raw_data/FMNIST_NoOpt_{WP,NP,BP}_d{1,2}_nclass10_seed1.csv`` (columns iteration, C_train, C_test,
train_error, test_error) and writes ``tools/paper_data/fig4_seed1_curves.csv``: per curve the first logged
row at or after each of 40 log-spaced iterations per decade, the last row, and the row where the test
accuracy first reaches 20/40/60/80% (so the thinned curve keeps the milestones exactly).
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

METHODS = {"WP": "weight", "NP": "node", "BP": "backprop"}
WIDTHS = (1, 2)
PER_DECADE = 40
OUT = Path(__file__).with_name("fig4_seed1_curves.csv")


def thin(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    iterations = [float(r["iteration"]) for r in rows]
    accuracy = [1.0 - float(r["test_error"]) for r in rows]
    keep = {0, len(rows) - 1}
    target, at = 1.0, 0
    while at < len(rows):
        while at < len(rows) and iterations[at] < target:
            at += 1
        if at < len(rows):
            keep.add(at)
        target *= 10 ** (1 / PER_DECADE)
    for level in (0.2, 0.4, 0.6, 0.8):
        first = next((i for i, a in enumerate(accuracy) if a >= level), None)
        if first is not None:
            keep.add(first)
    return [rows[i] for i in sorted(keep)]


def main() -> int:
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "Fig4_raw_data").is_dir():
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(sys.argv[1]) / "Fig4_raw_data"
    out_rows = []
    for code, method in METHODS.items():
        for d in WIDTHS:
            path = folder / f"FMNIST_NoOpt_{code}_d{d}_nclass10_seed1.csv"
            if not path.is_file():
                print(f"{path}: missing (a clone of the data commit 804bfd7 has it)", file=sys.stderr)
                return 2
            with path.open(newline="") as f:
                rows = list(csv.DictReader(f))
            for r in thin(rows):
                out_rows.append({"method": method, "d": d, "seed": 1, "iteration": int(float(r["iteration"])),
                                 "test_accuracy": round(1.0 - float(r["test_error"]), 4),
                                 "train_accuracy": round(1.0 - float(r["train_error"]), 4),
                                 "test_cost": r["C_test"], "train_cost": r["C_train"]})
            print(f"{path.name}: {len(rows)} rows, last iteration {rows[-1]['iteration']}", file=sys.stderr)
    tmp = OUT.with_name(OUT.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(out_rows[0]))
        writer.writeheader()
        writer.writerows(out_rows)
    os.replace(tmp, OUT)  # whole or not at all
    print(f"wrote {OUT} ({len(out_rows)} rows)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
