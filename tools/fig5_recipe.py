#!/usr/bin/env python3
"""Fig. 5 on the paper's network at a width this machine affords, with the authors' recipe: weight updates to
80% test accuracy against τθ (tools/fig5/weight-d2-adam.yaml, τx = 1000 as in the authors' script, and
weight-d2-adam-taux1.yaml, a new mini-batch every iteration), with backprop's as the floor
(tools/fig5/backprop-d2-adam.yaml and backprop-d2-adam-taux1.yaml, at each τx), beside the authors' d = 24 data.

    python tools/fig5_recipe.py            # tabulate and plot whatever runs/fig5-*/ hold now

Reads every run file in runs/fig5-weight-d2-adam/, runs/fig5-weight-d2-adam-taux1/,
runs/fig5-backprop-d2-adam/ and runs/fig5-backprop-d2-adam-taux1/, finished or still going (an unfinished one counts as far as its last
evaluation), and writes docs/results/fig5_recipe.csv and
docs/results/fig5_recipe.png (updates to 80% against τθ, ours and the authors'). Prints the table beside the
authors' (tools/paper_data/fig5_tau_theta.csv: weight perturbation, d = 24, one run per τθ). Runs nothing:
the runs are the sweeps named above.
"""

from __future__ import annotations

from pathlib import Path

import _figures as F

FOLDERS = (("weight", "fig5-weight-d2-adam"), ("weight", "fig5-weight-d2-adam-taux1"),
           ("backprop", "fig5-backprop-d2-adam"), ("backprop", "fig5-backprop-d2-adam-taux1"))
COLUMNS = ["method", "d", "tau_x", "tau_theta", "seed", "complete", "final_iteration", "iterations_to_80",
           "updates_to_80", "max_test_accuracy", "run_file"]


def our_runs(runs: Path) -> list[dict]:
    rows = []
    for method, folder in FOLDERS:
        for _, workload, common in F.evaluated_runs(sorted((runs / folder).glob("*.h5"))):
            rows.append({"method": method, "d": workload.get("network", {}).get("width"),
                         "tau_x": workload.get("mgd", {}).get("tau_x"),
                         "tau_theta": workload.get("mgd", {}).get("tau_theta"), **common})
    return sorted(rows, key=lambda r: (r["method"] != "weight", r["tau_x"] or 0, r["tau_theta"] or 0))


def table(rows: list[dict], paper: list[dict]) -> str:
    theirs = {r["tau_theta"]: r for r in paper}
    head = ["method", "τx", "τθ", "ours: run", "iterations to 80%", "updates to 80%", "best accuracy",
            "paper (d = 24): iterations to 80%", "updates to 80%", "best accuracy"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        state = "finished" if row["complete"] else "still going"
        p = theirs.get(row["tau_theta"]) if row["method"] == "weight" else None
        lines.append("| " + " | ".join([
            row["method"], str(row["tau_x"]), str(row["tau_theta"]),
            f"d = {row['d']}, {state} at {row['final_iteration']:,}",
            F.fmt(row["iterations_to_80"]), F.fmt(row["updates_to_80"]), f"{row['max_test_accuracy']:.4f}",
            F.fmt(p["iterations_to_80"]) if p else "–", F.fmt(p["weight_updates_to_80"]) if p else "–",
            f"{p['max_test_accuracy']:.4f}" if p else "–"]) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], paper: list[dict], path: Path) -> Path:
    plt = F.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    reached = [r for r in paper if r["weight_updates_to_80"] is not None]
    ax.plot([r["tau_theta"] for r in reached], [r["weight_updates_to_80"] for r in reached], "o--", color="tab:red",
            alpha=0.6, label="weight perturbation, paper (d = 24)")
    for tau_x, style in ((1000, "o-"), (1, "s-")):
        ours = [r for r in rows if r["method"] == "weight" and r["tau_x"] == tau_x and r["updates_to_80"] is not None]
        if ours:
            ax.plot([r["tau_theta"] for r in ours], [r["updates_to_80"] for r in ours], style, color="tab:red",
                    label=f"weight perturbation, ours (d = {ours[0]['d']}, τx = {tau_x})")
    for r in rows:
        if r["method"] == "backprop" and r["updates_to_80"] is not None:
            ax.axhline(r["updates_to_80"], color="tab:green", lw=1.2, label=f"backprop, ours (d = {r['d']})")
    return F.save_updates_plot(fig, ax, "τθ (iterations per weight update)", "Fig. 5 with the authors' recipe (Adam)",
                               path)


def main() -> int:
    paper = F.paper_rows("fig5_tau_theta.csv")
    return F.tabulate_runs(__doc__.splitlines()[0], our_runs, COLUMNS, "fig5_recipe",
                           lambda rows, path: plot(rows, paper, path), lambda rows: table(rows, paper),
                           "start the sweeps of tools/fig5/")


if __name__ == "__main__":
    raise SystemExit(F.run_main(main))
