#!/usr/bin/env python3
"""Fig. 5: write endurance against τθ. How many weight updates and device write pulses a training to the
target test accuracy (80% on Fashion-MNIST; 95% on the reduced scale's NIST7x7, whose ceiling is ~99%) needs as the update period τθ grows from 1 to 10^4, with backprop's update count as the
floor; and on a chip of finite endurance, the fraction of it one training consumes and how many trainings
the chip survives.

    python tools/fig5_tau_theta.py           # reduced: NIST7x7 MLP in chip mode on the reference chip, 3 seeds
    python tools/fig5_tau_theta.py --full    # the paper's: CNN d = 24 on Fashion-MNIST, paper mode (days)

A thin caller of ``neurosim study tau-theta`` (``neurosim.studies.tau_theta``): each run stops at the evaluation
that first reaches the target (``train.stop_at_target``), so its ledger and wear are those of one training; the
runs land in runs/fig5/ and a rerun trains only what is missing. Writes docs/results/fig5_tau_theta.csv and fig5.png.
"""

from __future__ import annotations

from pathlib import Path

import _figures as F

from neurosim.studies.milestones import median_or_none
from neurosim.studies.tau_theta import TauThetaStudy, format_table, run_study

TAUS = (1, 10, 100, 1000, 10_000)


def study(full: bool) -> TauThetaStudy:
    """The figure as a ``neurosim study tau-theta`` (with --backprop, the floor)."""
    if full:
        return TauThetaStudy(str(F.REPO / "chips/ideal.yaml"), str(F.REPO / "workloads/fashion-cnn.yaml"),
                             tau_thetas=TAUS, seeds=1, target=0.8, max_iterations=10_000_000, min_updates=0,
                             eval_interval=1000, backprop=True,
                             sets=("network.width=24", "network.init=auto_bias", "train.eval_size=10000"))
    # chip mode: one sample per cycle; the evaluation interval follows τθ (the study's default, max(τθ, 100)) so
    # that a few updates separate two evaluations without evaluating every few cycles at τθ = 1; each τθ gets at
    # least 400 updates. A learning rate 4x the workload's: large enough that one-sample estimates (τθ = 1) are
    # too noisy to use it well, which is the regime the paper's 255k-parameter CNN is in at any rate.
    return TauThetaStudy(str(F.REPO / "chips/reference.yaml"), str(F.REPO / "workloads/nist7x7.yaml"),
                         tau_thetas=TAUS, seeds=3, target=0.95, max_iterations=200_000, min_updates=400,
                         backprop=True, sets=("mgd.learning_rate=0.02",))


def main() -> int:
    args = F.parser(__doc__.splitlines()[0]).parse_args()
    if args.report_only:
        raise SystemExit("fig5: --report-only is not needed: the study reuses every finished run, so a rerun "
                         "only trains what is missing")
    s = study(args.full)
    result = run_study(s, Path(args.runs) / ("fig5-full" if args.full else "fig5"), workers=args.workers,
                       data_dir=args.data_dir)
    rows = [{**r, "updates_to_target": r["weight_updates"] if r["reached_target"] else None,
             "write_pulses_to_target": r["write_pulses_total"] if r["reached_target"] else None,
             "weight_writes_max_per_device": r["write_pulses_max_per_device"],
             "lifetime_trainings_first_failure": r["trainings_to_first_failure"],
             "max_test_accuracy": r["best_test_accuracy"]} for r in result["runs"]]
    columns = ["method", "tau_theta", "seed", "iterations_to_target", "updates_to_target", "write_pulses_to_target",
               "weight_writes_max_per_device", "endurance_used_max", "lifetime_trainings_first_failure",
               "max_test_accuracy", "wall_time_s", "run_file"]
    F.write_csv(rows, columns, Path(args.results) / "fig5_tau_theta.csv")

    paper = {r["tau_theta"]: r for r in F.paper_rows("fig5_tau_theta.csv")}

    def median(entry: dict, key: str) -> float | None:  # over seeds, a run that never got there as "never"
        return median_or_none([r[key] for r in rows if (r["method"], r["tau_theta"]) == (entry["method"],
                                                                                        entry["tau_theta"])])

    table = [{**e, "updates_to_target": median(e, "updates_to_target"),
              "write_pulses_to_target": median(e, "write_pulses_to_target"),
              "weight_writes_max_per_device": e["write_pulses_max_per_device"],
              "lifetime_trainings_first_failure": e["trainings_to_first_failure"],
              "paper_updates_to_80": paper.get(e["tau_theta"], {}).get("weight_updates_to_80")
              if e["method"] == "weight" else None} for e in result["table"]]
    target = f"{result['target_accuracy']:.0%}"
    print(f"\n{format_table(result)}\n")
    print(f"Fig. 5: median over seeds of one training to {target} (paper: to 80%, CNN d = 24, one run per τθ)")
    print(F.markdown(table, ["method", "tau_theta", "seeds", "iterations_to_target", "updates_to_target",
                             "paper_updates_to_80", "write_pulses_to_target", "weight_writes_max_per_device",
                             "endurance_used_max", "lifetime_trainings_first_failure"],
                     ["method", "τθ", "seeds", "iterations", "updates", "paper updates", "write pulses",
                      "max pulses/device", "endurance used", "trainings survived"]))
    print(f"\nanswer: {result['recommendation']['answer']}")
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
    raise SystemExit(F.run_main(main))
