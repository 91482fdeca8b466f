#!/usr/bin/env python3
"""Fig. 6: optimizers on the MGD estimate. Plain SGD, momentum and Adam fed with G (paper: τθ = 1000), the
learning rate held at zero for the first 1000 iterations; weight updates to the target test
accuracy against the learning rate, and the reduction at each optimizer's best learning rate (paper: Adam
needs 37% fewer updates than SGD to 80% on Fashion-MNIST). The reduced scale's NIST7x7 MLP reaches 80%
within a handful of updates, so its target is 95%, as close to its ceiling (~99%) as 80% is to the CNN's.

    python tools/fig6_optimizers.py          # reduced: NIST7x7 MLP, chip mode, τθ = 10 and 1000, 3 seeds
    python tools/fig6_optimizers.py --full   # the paper's: CNN d = 24 on Fashion-MNIST, paper mode (days)

Writes docs/results/fig6_optimizers.csv and fig6.png.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import _figures as F

from neurosim.studies.milestones import median_or_none

HOLD_ITERATIONS = 1000  # the learning rate is held at zero this long (paper Sec. 5)


def scale(full: bool) -> dict:
    if full:
        return {"chip": "chips/ideal.yaml", "workload": "workloads/fashion-cnn.yaml", "seeds": [0],
                "sets": ["network.width=24", "network.init=auto_bias", "train.eval_size=10000"],
                "iterations": 10_000_000, "target": 0.8,
                "settings": [{"tau": 1000, "eval_interval": 1000,
                              "rates": {"sgd": [0.1, 0.2, 0.3, 0.5, 0.7, 0.9], "momentum": [0.01, 0.03, 0.1, 0.3],
                                        "adam": [0.0005, 0.001, 0.002, 0.003, 0.004]}}]}
    # NIST7x7 has K = 868 weights: at the paper's τθ = 1000 each update's estimate is nearly exact and 95%
    # takes a handful of updates; τθ = 10 puts it in the paper's noise regime instead, K/τθ = 87 (the
    # paper's: 255,000/1000). Both are run.
    return {"chip": "chips/reference.yaml", "workload": "workloads/nist7x7.yaml", "seeds": [0, 1, 2],
            "sets": [], "iterations": 200_000, "target": 0.95,
            "settings": [{"tau": 10, "eval_interval": 50,
                          "rates": {"sgd": [0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
                                    "momentum": [0.001, 0.002, 0.005, 0.01, 0.02, 0.05],
                                    "adam": [0.001, 0.003, 0.01, 0.03, 0.1]}},
                         {"tau": 1000, "eval_interval": 1000,
                          "rates": {"sgd": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
                                    "momentum": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
                                    "adam": [0.0003, 0.001, 0.003, 0.01, 0.03, 0.1]}}]}


def main() -> int:
    args = F.parser(__doc__.splitlines()[0]).parse_args()
    s = scale(args.full)
    target = f"{s['target']:.0%}"
    paper = F.paper_rows("fig6_optimizers.csv")
    paper_best = {}
    for o in ("sgd", "adam"):
        reached = [r for r in paper if r["optimizer"] == o and r["updates_to_80"] is not None]
        paper_best[o] = min(reached, key=lambda r: r["updates_to_80"])
    all_rows, tables = [], {}
    for setting in s["settings"]:
        tau, hold = setting["tau"], HOLD_ITERATIONS // setting["tau"]
        rows = []
        for optimizer, rates in setting["rates"].items():
            name = f"fig6-{optimizer}" + ("" if tau == 10 else f"-tau{tau}")
            found = F.run_grid(name, chip=s["chip"], workload=s["workload"],
                               grid={"mgd.learning_rate": rates}, seeds=s["seeds"], iterations=s["iterations"],
                               sets=[*s["sets"], f"mgd.optimizer={optimizer}", f"mgd.tau_theta={tau}",
                                     f"mgd.lr_hold_updates={hold}", "train.stop_at_target=true",
                                     f"train.eval_interval={setting['eval_interval']}",
                                     f"train.target_accuracy={s['target']}"], args=args, target=s["target"])
            # the updates that moved the weights: those after the hold
            rows += [{**r, "optimizer": optimizer, "tau_theta": tau,
                      "updates_to_target": None if r["updates_to_target"] is None else r["updates_to_target"] - hold}
                     for r in found]
        all_rows += rows
        grouped: dict[tuple, list] = defaultdict(list)
        for r in rows:
            grouped[(r["optimizer"], r["mgd.learning_rate"])].append(r)
        table = [{"optimizer": o, "learning_rate": lr, "seeds": len(g),
                  "updates_to_target": median_or_none([r["updates_to_target"] for r in g]),
                  "reached": sum(r["updates_to_target"] is not None for r in g)}
                 for (o, lr), g in grouped.items()]
        tables[tau] = table
        print(f"\nFig. 6: median weight updates to {target} test accuracy (τθ = {tau}, after the {hold} held "
              "ones) against the learning rate")
        print(F.markdown(table, ["optimizer", "learning_rate", "seeds", "reached", "updates_to_target"],
                         ["optimizer", "learning rate", "seeds", f"seeds reaching {target}", f"updates to {target}"]))
        best = {}
        for o in setting["rates"]:
            reached = [t for t in table if t["optimizer"] == o and t["updates_to_target"] is not None]
            if reached:
                best[o] = min(reached, key=lambda t: t["updates_to_target"])
        print(f"\nbest learning rate per optimizer at τθ = {tau} (ours, to {target} | paper, to 80%, CNN d = 24, "
              "τθ = 1000, one run per rate)")
        for o, t in best.items():
            p = paper_best.get(o)
            theirs = f"{p['updates_to_80']} updates at {p['learning_rate']}" if p else "–"
            print(f"  {o:9s} {F.fmt(t['updates_to_target'])} updates at {t['learning_rate']} | {theirs}")
        if "sgd" in best and "adam" in best:
            ours = 1 - best["adam"]["updates_to_target"] / best["sgd"]["updates_to_target"]
            theirs = 1 - paper_best["adam"]["updates_to_80"] / paper_best["sgd"]["updates_to_80"]
            change = f"{ours:.0%} fewer" if ours >= 0 else f"{-ours:.0%} more"
            print(f"  Adam needs {change} updates than SGD (paper's data: {theirs:.0%} fewer; text: 37%)")
    F.write_csv(all_rows, ["tau_theta", "optimizer", "mgd.learning_rate", "seed", "updates_to_target",
                           "iterations_to_target", "max_test_accuracy", "wall_time_s", "run_file"],
                Path(args.results) / "fig6_optimizers.csv")
    plot(tables, paper, target, Path(args.results) / "fig6.png")
    return 0


def plot(tables: dict[int, list[dict]], paper: list[dict], target: str, path: Path) -> None:
    plt = F.pyplot()
    fig, axes = plt.subplots(1, len(tables) + 1, figsize=(5.5 * (len(tables) + 1), 4))
    colors = {"sgd": "tab:red", "momentum": "tab:orange", "adam": "tab:blue"}
    for ax, (tau, table) in zip(axes, tables.items()):
        for o, color in colors.items():
            pts = sorted((t["learning_rate"], t["updates_to_target"]) for t in table
                         if t["optimizer"] == o and t["updates_to_target"] is not None)
            if pts:
                ax.plot(*zip(*pts), "o-", color=color, label=o)
        ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel=f"weight updates to {target}",
               title=f"ours (τθ={tau})")
        ax.legend()
    ax_p = axes[-1]
    for o, color in colors.items():
        ppts = sorted((r["learning_rate"], r["updates_to_80"]) for r in paper
                      if r["optimizer"] == o and r["updates_to_80"] is not None)
        if ppts:
            ax_p.plot(*zip(*ppts), "o-", color=color, label=o)
    ax_p.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="weight updates to 80%",
             title="paper's data (CNN d=24, τθ=1000)")
    ax_p.legend()
    F.save(fig, path)


if __name__ == "__main__":
    raise SystemExit(F.run_main(main))
