#!/usr/bin/env python3
"""Fig. 6 on the paper's network at a width this machine affords, with the authors' recipe: weight updates to
20/40/60/80% test accuracy against the learning rate, vanilla gradient descent against Adam, at τθ = 1000
(tools/fig6/sgd-d2.yaml and adam-d2.yaml), beside the authors' d = 24 data.

    python tools/fig6_recipe.py            # tabulate and plot whatever runs/fig6-*/ hold now

Reads every run file in runs/fig6-sgd-d2/ and runs/fig6-adam-d2/, finished or still going (an unfinished one
counts as far as its last evaluation), and writes docs/results/fig6_recipe.csv and docs/results/fig6_recipe.png
(updates to 80% against η, ours and the authors'). Prints the table beside the authors'
(tools/paper_data/fig6_optimizers.csv: d = 24, one run per optimizer and η). Runs nothing: the runs are the
sweeps named above.
"""

from __future__ import annotations

from pathlib import Path

import _figures as F

FOLDERS = ("fig6-sgd-d2", "fig6-adam-d2")
COLUMNS = ["optimizer", "learning_rate", "d", "tau_x", "tau_theta", "seed", "complete", "final_iteration",
           "updates_to_20", "updates_to_40", "updates_to_60", "updates_to_80", "max_test_accuracy", "run_file"]
MILESTONES = ("20", "40", "60", "80")


def our_runs(runs: Path) -> list[dict]:
    rows = []
    for folder in FOLDERS:
        for _, workload, common in F.evaluated_runs(sorted((runs / folder).glob("*.h5"))):
            mgd = workload.get("mgd", {})
            rows.append({"optimizer": mgd.get("optimizer"), "learning_rate": mgd.get("learning_rate"),
                         "d": workload.get("network", {}).get("width"), "tau_x": mgd.get("tau_x"),
                         "tau_theta": mgd.get("tau_theta"), **common})
    return sorted(rows, key=lambda r: (r["optimizer"], r["learning_rate"]))


def table(rows: list[dict], paper: list[dict]) -> str:
    theirs = {(r["optimizer"], r["learning_rate"]): r for r in paper}
    head = ["optimizer", "η", "ours: run", "updates to 20/40/60/80%", "best accuracy",
            "paper (d = 24): updates to 20/40/60/80%", "best accuracy"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        state = "finished" if row["complete"] else "still going"
        p = theirs.get((row["optimizer"], row["learning_rate"]))
        lines.append("| " + " | ".join([
            row["optimizer"], f"{row['learning_rate']:g}",
            f"d = {row['d']}, τx = {row['tau_x']}, τθ = {row['tau_theta']}, {state} at {row['final_iteration']:,}",
            " / ".join(F.fmt(row[f"updates_to_{m}"]) for m in MILESTONES), f"{row['max_test_accuracy']:.4f}",
            " / ".join(F.fmt(p[f"updates_to_{m}"]) for m in MILESTONES) if p else "–",
            f"{p['max_test_accuracy']:.4f}" if p else "–"]) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], paper: list[dict], path: Path) -> Path:
    plt = F.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for optimizer, color in (("sgd", "tab:blue"), ("adam", "tab:orange")):
        reached = [r for r in paper if r["optimizer"] == optimizer and r["updates_to_80"] is not None]
        ax.plot([r["learning_rate"] for r in reached], [r["updates_to_80"] for r in reached], "o--", color=color,
                alpha=0.5, label=f"{optimizer}, paper (d = 24)")
        ours = [r for r in rows if r["optimizer"] == optimizer and r["updates_to_80"] is not None]
        if ours:
            ax.plot([r["learning_rate"] for r in ours], [r["updates_to_80"] for r in ours], "s-", color=color,
                    label=f"{optimizer}, ours (d = {ours[0]['d']})")
    return F.save_updates_plot(fig, ax, "learning rate η", "Fig. 6 with the authors' recipe (τθ = 1000)", path)


def main() -> int:
    paper = F.paper_rows("fig6_optimizers.csv")
    return F.tabulate_runs(__doc__.splitlines()[0], our_runs, COLUMNS, "fig6_recipe",
                           lambda rows, path: plot(rows, paper, path), lambda rows: table(rows, paper),
                           "start the sweeps of tools/fig6/")


if __name__ == "__main__":
    raise SystemExit(F.run_main(main))
