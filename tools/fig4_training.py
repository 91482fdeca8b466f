#!/usr/bin/env python3
"""Fig. 4: training scaling. Iterations to 20/40/60/80% test accuracy and the best accuracy, for weight
perturbation, node perturbation and backprop on the paper's CNN (paper mode: mini-batch 100, layers one
after another, Γ, τθ = 1), over the width d (Fig. 4b) and the number of classes (Fig. 4c).

    python tools/fig4_training.py            # reduced: d = 1, 2; 30,000 iterations; 1 seed; 1000 test samples
    python tools/fig4_training.py --full     # the paper: d = 1..64, 10 seeds, up to 1e7 iterations (weeks)

Writes docs/results/fig4_training.csv, fig4_classes.csv, fig4.png and prints the tables beside the
authors' medians (tools/paper_data/fig4_medians.csv, fig4c_medians.csv).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import _figures as F

from neurosim.studies.milestones import median_or_none

CHIP = "chips/ideal.yaml"
WORKLOAD = "workloads/fashion-cnn.yaml"
# learning rates: the paper keeps weight and node perturbation "approximately equivalent" through the Γ
# normalisation (Sec. 3, App. A), but Γ uses K = nodes for node perturbation, which makes its steps smaller
# in the convolutions (nodes >> weights) and larger in the dense layers; backprop has no Γ
# node perturbation at 0.3 collapsed to chance after 5000 iterations at d = 1 (and 1.0 and 3.0 never left it)
LEARNING_RATE = {"weight": 0.3, "node": 0.1, "backprop": 0.1}
COMMON = ["network.init=auto_bias",        # He weights, random biases: see docs/results.md on initialisation
          "train.eval_interval=1000", "train.target_accuracy=0.8"]
MILESTONES = ["iterations_to_20", "iterations_to_40", "iterations_to_60", "iterations_to_80"]


def scale(full: bool) -> dict:
    if full:
        return {"widths": [1, 2, 4, 8, 16, 32, 48, 64], "seeds": list(range(10)), "iterations": 10_000_000,
                "eval_size": 10_000, "classes_width": 32, "class_counts": [2, 4, 6, 8, 10],
                "class_iterations": 2_000_000}
    return {"widths": [1, 2], "seeds": [0], "iterations": 30_000, "eval_size": 1000,
            "classes_width": 2, "class_counts": [2, 4], "class_iterations": 10_000}


def main() -> int:
    args = F.parser(__doc__.splitlines()[0]).parse_args()
    s = scale(args.full)
    results = Path(args.results)
    rows = []
    for method, lr in LEARNING_RATE.items():
        rows += F.run_grid(f"fig4-{method}", chip=CHIP, workload=WORKLOAD,
                           grid={"network.width": s["widths"]}, seeds=s["seeds"], iterations=s["iterations"],
                           sets=[*COMMON, f"mgd.perturbation={method}", f"mgd.learning_rate={lr}",
                                 f"train.eval_size={s['eval_size']}"], args=args)
        for row in rows:
            row.setdefault("method", method)
    columns = ["method", "network.width", "seed", *MILESTONES, "max_test_accuracy", "final_iteration",
               "wall_time_s", "run_file"]
    F.write_csv(rows, columns, results / "fig4_training.csv")

    paper = {(r["method"], r["d"]): r for r in F.paper_rows("fig4_medians.csv")}
    table = []
    grouped: dict[tuple, list] = defaultdict(list)
    for row in rows:
        grouped[(row["method"], row["network.width"])].append(row)
    for (method, d), group in grouped.items():
        p = paper.get((method, d), {})
        entry = {"method": method, "d": d, "seeds": len(group)}
        for m in MILESTONES:
            entry[m] = median_or_none([r[m] for r in group])
            entry["paper_" + m] = p.get("median_" + m)
        entry["max_acc"] = max(r["max_test_accuracy"] for r in group)
        entry["paper_max_acc"] = p.get("median_max_test_accuracy")
        table.append(entry)
    print("\nFig. 4b: median iterations to test accuracy (ours | paper), best accuracy within the run")
    cols = ["method", "d", "seeds"]
    for m in MILESTONES:
        cols += [m, "paper_" + m]
    cols += ["max_acc", "paper_max_acc"]
    print(F.markdown(table, cols, ["method", "d", "seeds", "20%", "paper", "40%", "paper", "60%", "paper",
                                   "80%", "paper", "max acc", "paper max"]))

    class_rows = F.run_grid("fig4-classes", chip=CHIP, workload=WORKLOAD,
                            grid={"dataset.classes": [list(range(n)) for n in s["class_counts"]]},
                            seeds=s["seeds"], iterations=s["class_iterations"],
                            sets=[*COMMON, f"network.width={s['classes_width']}", "mgd.perturbation=weight",
                                  f"mgd.learning_rate={LEARNING_RATE['weight']}", f"train.eval_size={s['eval_size']}"],
                            args=args)
    for row in class_rows:
        row["classes"] = len(row["dataset.classes"])
    F.write_csv(class_rows, ["classes", "seed", *MILESTONES, "max_test_accuracy", "final_iteration", "run_file"],
                results / "fig4_classes.csv")
    paper_c = {r["n_class"]: r for r in F.paper_rows("fig4c_medians.csv") if r["method"] == "weight"}
    ctable = []
    for row in class_rows:
        p = paper_c.get(row["classes"], {})
        ctable.append({**row, **{"paper_" + m: p.get("median_" + m) for m in MILESTONES}})
    print(f"\nFig. 4c: weight perturbation, d = {s['classes_width']} (paper: d = 32), iterations to accuracy")
    ccols = ["classes"]
    for m in MILESTONES:
        ccols += [m, "paper_" + m]
    print(F.markdown(ctable, ccols + ["max_test_accuracy"], ["classes", "20%", "paper", "40%", "paper", "60%",
                                                             "paper", "80%", "paper", "max acc"]))
    plot(rows, paper, results / "fig4.png")
    return 0


def plot(rows: list[dict], paper: dict, path: Path) -> None:
    from neurosim.io.runfile import read_curves
    plt = F.pyplot()
    fig, (ax_curve, ax_bar) = plt.subplots(1, 2, figsize=(11, 4))
    colors = {"weight": "tab:red", "node": "tab:green", "backprop": "black"}
    widths = sorted({r["network.width"] for r in rows})
    styles = dict(zip(widths, ["-", "--", ":", "-."] * 4))
    for row in rows:
        if row["seed"] != rows[0]["seed"]:
            continue
        curves = read_curves(row["run_path"])
        ax_curve.plot(curves["iteration"], 1 - curves["test_accuracy"], styles[row["network.width"]],
                      color=colors[row["method"]], label=f"{row['method']} d={row['network.width']}")
    ax_curve.set(xscale="log", xlabel="iteration", ylabel="test error", title="ours: test error vs iteration")
    ax_curve.legend(fontsize=7)
    for i, method in enumerate(colors):
        for j, d in enumerate(widths):
            p = paper.get((method, d), {})
            ours = [r for r in rows if r["method"] == method and r["network.width"] == d]
            for k, m in enumerate(MILESTONES):
                x = k + 0.12 * (i * len(widths) + j) - 0.3
                if p.get("median_" + m):
                    ax_bar.scatter(x, p["median_" + m], marker="o", facecolors="none", edgecolors=colors[method])
                value = median_or_none([r[m] for r in ours]) if ours else None
                if value:
                    ax_bar.scatter(x, value, marker="x", color=colors[method])
    ax_bar.set(yscale="log", xticks=range(len(MILESTONES)), xticklabels=["20%", "40%", "60%", "80%"],
               ylabel="iterations", title="iterations to accuracy: ours (x) vs paper (o)")
    F.save(fig, path)


if __name__ == "__main__":
    raise SystemExit(F.run_main(main))
