#!/usr/bin/env python3
"""Fig. 5: write endurance against τθ. How many weight updates and device write pulses a training to the
target test accuracy (80% on Fashion-MNIST; 95% on the reduced scale's NIST7x7, whose ceiling is ~99%) needs as the update period τθ grows from 1 to 10^4, with backprop's update count as the
floor; and on a chip of finite endurance, the fraction of it one training consumes and how many trainings
the chip survives.

    python tools/fig5_tau_theta.py           # reduced: NIST7x7 MLP in chip mode on the reference chip, 3 seeds
    python tools/fig5_tau_theta.py --full    # the paper's: CNN d = 24 on Fashion-MNIST, paper mode (days)

Each run stops at the evaluation that first reaches the target (``train.stop_at_target``), so its ledger and wear
are those of one training. Writes docs/results/fig5_tau_theta.csv and fig5.png.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import _figures as F

from neurosim.studies.milestones import median_or_none

TAUS = [1, 10, 100, 1000, 10_000]


def scale(full: bool) -> dict:
    if full:
        return {"chip": "chips/ideal.yaml", "workload": "workloads/fashion-cnn.yaml", "seeds": [0],
                "sets": ["network.width=24", "network.init=auto_bias", "train.eval_size=10000"],
                "iterations": {tau: 10_000_000 for tau in TAUS}, "eval": {tau: 1000 for tau in TAUS}, "target": 0.8}
    # chip mode: one sample per cycle; the evaluation interval follows τθ so that a few updates separate
    # two evaluations (the milestone's resolution) without evaluating every few cycles at τθ = 1
    return {"chip": "chips/reference.yaml", "workload": "workloads/nist7x7.yaml", "seeds": [0, 1, 2],
            # a learning rate 4x the workload's: large enough that one-sample estimates (τθ = 1) are too noisy
            # to use it well, which is the regime the paper's 255k-parameter CNN is in at any rate
            "sets": ["mgd.learning_rate=0.02"],
            "iterations": {tau: max(200_000, 400 * tau) for tau in TAUS},
            "eval": {tau: max(100, tau) for tau in TAUS}, "target": 0.95}


def main() -> int:
    args = F.parser(__doc__.splitlines()[0]).parse_args()
    s = scale(args.full)
    rows = []
    for tau in TAUS:
        for method in ("weight", "backprop"):  # backprop at the same τθ: the floor (exact gradient, same samples)
            found = F.run_grid(f"fig5-{method}-tau{tau}", chip=s["chip"], workload=s["workload"], grid={},
                               seeds=s["seeds"], iterations=s["iterations"][tau],
                               sets=[*s["sets"], f"mgd.perturbation={method}", f"mgd.tau_theta={tau}",
                                     "train.stop_at_target=true", f"train.target_accuracy={s['target']}",
                                     f"train.eval_interval={s['eval'][tau]}"], args=args, target=s["target"])
            rows += [{**r, "method": method, "tau_theta": tau} for r in found]
    columns = ["method", "tau_theta", "seed", "iterations_to_target", "updates_to_target", "write_pulses_to_target",
               "weight_writes_max_per_device", "endurance_used_max", "lifetime_trainings_first_failure",
               "max_test_accuracy", "wall_time_s", "run_file"]
    F.write_csv(rows, columns, Path(args.results) / "fig5_tau_theta.csv")

    grouped: dict[tuple, list] = defaultdict(list)
    for r in rows:
        grouped[(r["method"], r["tau_theta"])].append(r)
    table = []
    for (method, tau), group in grouped.items():
        table.append({"method": method, "tau_theta": tau, "seeds": len(group),
                      **{k: median_or_none([r[k] for r in group]) for k in
                         ("iterations_to_target", "updates_to_target", "write_pulses_to_target",
                          "weight_writes_max_per_device", "endurance_used_max", "lifetime_trainings_first_failure")}})
    paper = {r["tau_theta"]: r for r in F.paper_rows("fig5_tau_theta.csv")}
    for entry in table:
        p = paper.get(entry["tau_theta"], {}) if entry["method"] == "weight" else {}
        entry["paper_updates_to_80"] = p.get("weight_updates_to_80")
    target = f"{s['target']:.0%}"
    print(f"\nFig. 5: median over seeds of one training to {target} (paper: to 80%, CNN d = 24, one run per τθ)")
    print(F.markdown(table, ["method", "tau_theta", "seeds", "iterations_to_target", "updates_to_target",
                             "paper_updates_to_80", "write_pulses_to_target", "weight_writes_max_per_device",
                             "endurance_used_max", "lifetime_trainings_first_failure"],
                     ["method", "τθ", "seeds", "iterations", "updates", "paper updates", "write pulses",
                      "max pulses/device", "endurance used", "trainings survived"]))
    plot(table, paper, target, Path(args.results) / "fig5.png")
    return 0


def plot(table: list[dict], paper: dict, target: str, path: Path) -> None:
    plt = F.pyplot()
    fig, (ax_u, ax_e) = plt.subplots(1, 2, figsize=(11, 4))
    mgd = [t for t in table if t["method"] == "weight" and t["updates_to_target"]]
    floor = [t for t in table if t["method"] == "backprop" and t["updates_to_target"]]
    ax_u.plot([t["tau_theta"] for t in mgd], [t["updates_to_target"] for t in mgd], "o-", color="tab:red",
              label=f"weight updates to {target} (ours)")
    ax_u.plot([t["tau_theta"] for t in mgd], [t["iterations_to_target"] for t in mgd], "s--", color="tab:blue",
              label=f"iterations to {target} (ours)")
    ax_u.plot([t["tau_theta"] for t in floor], [t["updates_to_target"] for t in floor], "^:", color="black",
              label=f"backprop updates to {target} (ours, the floor)")
    taus = sorted(k for k, v in paper.items() if v.get("weight_updates_to_80"))
    ax_u.plot(taus, [paper[t]["weight_updates_to_80"] for t in taus], "o", mfc="none", color="tab:red",
              label="weight updates to 80% (paper, CNN d=24)")
    ax_u.set(xscale="log", yscale="log", xlabel="τθ", ylabel="count", title="updates and iterations vs τθ")
    ax_u.legend(fontsize=7)
    ax_e.plot([t["tau_theta"] for t in mgd], [t["endurance_used_max"] for t in mgd], "o-", color="tab:purple")
    ax_e.set(xscale="log", yscale="log", xlabel="τθ", ylabel="endurance used by one training (most-worn device)",
             title="wear per training")
    F.save(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())
