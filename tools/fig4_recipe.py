#!/usr/bin/env python3
"""Fig. 4 with the authors' recipe: our long runs (tools/fig4/*.yaml, each trained until 80% is passed)
against the authors' seed-1 curves and their ten-seed ranges.

    python tools/fig4_recipe.py            # tabulate and plot whatever runs/fig4-{method}-d{1,2}/ hold now

Reads every run file in runs/fig4-{weight,node,backprop}-d{1,2}/ and, for more seeds, in the same folders
with -seeds appended, finished or still going (an unfinished one counts as far as its last evaluation), and
writes
docs/results/fig4_recipe.csv (milestones of each run) and docs/results/fig4_recipe.png (our curves over the
authors' seed-1 curves, tools/paper_data/fig4_seed1_curves.csv). Prints the milestones beside the authors'
seed 1 and ten-seed range (tools/paper_data/fig4_training.csv). Runs nothing: the runs are the sweeps and
the resumable trainings named in docs/results.md.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import _figures as F
import numpy as np

from neurosim.studies.milestones import THRESHOLDS, label

METHODS = ("weight", "node", "backprop")
WIDTHS = (1, 2)
LEVELS = [label(t) for t in THRESHOLDS]
COLUMNS = ["method", "d", "seed", "learning_rate", "final_iteration", "complete",
           *[f"iterations_to_{n}" for n in LEVELS], "max_test_accuracy", "run_file"]


def our_runs(runs: Path) -> list[dict]:
    rows = []
    for method in METHODS:
        for d in WIDTHS:
            folders = (runs / f"fig4-{method}-d{d}", runs / f"fig4-{method}-d{d}-seeds")  # seed 1; more seeds
            paths = sorted(p for folder in folders for p in folder.glob("*.h5"))
            for stored, workload, common in F.evaluated_runs(paths):
                rows.append({"method": method, "d": d, "learning_rate": workload["mgd"]["learning_rate"], **common,
                             "curves": stored.curves})
    return rows


def paper_ranges() -> dict[tuple[str, int], dict]:
    """Per (method, d): seed 1's milestones and the ten seeds' range (a seed that never got there: None)."""
    by = defaultdict(list)
    for row in F.paper_rows("fig4_training.csv"):
        if row["n_class"] == 10 and row["d"] in WIDTHS:
            by[row["method"], row["d"]].append(row)
    out = {}
    for key, rows in by.items():
        entry = {"seed1": next((r for r in rows if r["seed"] == 1), None), "seeds": len(rows)}
        for column in [*[f"iterations_to_{n}" for n in LEVELS], "max_test_accuracy"]:
            values = [r[column] for r in rows if r[column] is not None]
            entry[column] = (min(values), max(values)) if values else None
        out[key] = entry
    return out


def table(rows: list[dict], paper: dict) -> str:
    head = ["method", "d", "run", *[f"{n}%" for n in LEVELS], "best accuracy (at iteration)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        state = "finished" if row["complete"] else "still going"
        at = int(row["curves"]["iteration"][int(np.argmax(row["curves"]["test_accuracy"]))])
        lines.append("| " + " | ".join([row["method"], str(row["d"]),
                                        f"ours, seed {row['seed']}, η = {row['learning_rate']:g} ({state} at "
                                        f"{row['final_iteration']:,})",
                                        *[F.fmt(row[f"iterations_to_{n}"]) for n in LEVELS],
                                        f"{row['max_test_accuracy']:.4f} ({at:,})"]) + " |")
        theirs = paper.get((row["method"], row["d"]))
        if theirs and theirs["seed1"]:
            s1 = theirs["seed1"]
            lines.append("| | | paper, seed 1 | " + " | ".join(F.fmt(s1[f"iterations_to_{n}"]) for n in LEVELS)
                         + f" | {s1['max_test_accuracy']:.4f} |")
            ranges = [theirs[f"iterations_to_{n}"] for n in LEVELS]
            lines.append(f"| | | paper, {theirs['seeds']} seeds: range | "
                         + " | ".join("–" if r is None else f"{F.fmt(r[0])}-{F.fmt(r[1])}" for r in ranges)
                         + " | " + "{:.3f}-{:.3f}".format(*theirs["max_test_accuracy"]) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> Path:
    plt = F.pyplot()
    authors = F.paper_rows("fig4_seed1_curves.csv")
    colors = {"weight": "tab:blue", "node": "tab:orange", "backprop": "tab:green"}
    fig, axes = plt.subplots(1, len(WIDTHS), figsize=(11, 4.2), sharey=True)
    for ax, d in zip(axes, WIDTHS):
        for method in METHODS:
            theirs = [r for r in authors if r["method"] == method and r["d"] == d]
            ax.plot([r["iteration"] for r in theirs], [r["test_accuracy"] for r in theirs], "--",
                    color=colors[method], alpha=0.6, lw=1.2, label=f"{method}, paper seed 1")
            for row in rows:
                if row["method"] == method and row["d"] == d:
                    c = row["curves"]
                    ax.plot(c["iteration"], c["test_accuracy"], "-", color=colors[method], lw=1.6,
                            label=f"{method}, ours (seed {row['seed']}, η = {row['learning_rate']:g})")
        for level in THRESHOLDS:
            ax.axhline(level, color="0.85", lw=0.8, zorder=0)
        ax.set_xscale("log")
        ax.set_xlim(1, 1e7)
        ax.set_ylim(0, 0.95)
        ax.set_title(f"d = {d}")
        ax.set_xlabel("iteration")
    axes[0].set_ylabel("test accuracy (whole test set)")
    axes[-1].legend(fontsize=7, loc="upper left")
    fig.suptitle("Fig. 4 with the authors' recipe: ours (solid) over the authors' seed 1 (dashed)", fontsize=10)
    return F.save(fig, path)


def main() -> int:
    return F.tabulate_runs(__doc__.splitlines()[0], our_runs, COLUMNS, "fig4_recipe", plot,
                           lambda rows: table(rows, paper_ranges()),
                           "start the sweeps of tools/fig4/ as docs/results.md says")


if __name__ == "__main__":
    raise SystemExit(F.run_main(main))
