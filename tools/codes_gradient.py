#!/usr/bin/env python3
"""Perturbation codes in the gradient study: how the accumulated estimate converges on the true gradient
with Bernoulli signs (± antithetic pairs), Walsh codes (code multiplexing), sinusoids (frequency
multiplexing) and one element at a time (time multiplexing), the codes of the original MGD paper.

    python tools/codes_gradient.py           # NIST7x7 MLP (868 weights, 20 nodes), chip mode, 3 seeds
    python tools/codes_gradient.py --full    # also the paper's CNN at d = 1 in paper mode (Fashion-MNIST)

The sample is held fixed, so the deterministic codes, exactly orthogonal over one period (about K steps),
reach the gradient within one period, while random signs approach it as 1/sqrt(1 + K/t).
Writes docs/results/codes_gradient.csv and codes.png.
"""

from __future__ import annotations

from pathlib import Path

import _figures as F

from neurosim.studies.gradient import gradient_study
from neurosim.studies.milestones import crossing_iteration, median_or_none

VARIANTS = [("bernoulli", "unperturbed"), ("bernoulli", "antithetic"), ("walsh", "unperturbed"),
            ("sinusoidal", "unperturbed"), ("one_at_a_time", "unperturbed")]


def cases(full: bool) -> list[dict]:
    small = [{"name": "NIST7x7 chip mode", "workload": "workloads/nist7x7.yaml", "perturbation": p,
              "sets": ["mgd.amplitude=0.001"], "iterations": 4000} for p in ("weight", "node")]
    if not full:
        return small
    return small + [{"name": "CNN d=1 paper mode", "workload": "workloads/fashion-cnn.yaml", "perturbation": p,
                     "sets": ["network.init=auto_bias"], "iterations": 20_000} for p in ("weight", "node")]


def main() -> int:
    args = F.parser(__doc__.splitlines()[0]).parse_args()
    rows, curves = [], {}
    for case in cases(args.full):
        for code, baseline in VARIANTS:
            if baseline == "antithetic" and "paper" in case["name"]:
                continue  # paper mode has one shared baseline, no ± pairs
            sets = [*case["sets"], f"mgd.code={code}", f"mgd.baseline={baseline}"]
            out = gradient_study(str(F.REPO / "chips/ideal.yaml"), str(F.REPO / case["workload"]),
                                 perturbation=case["perturbation"], sets=sets, threshold=0.99, seeds=3,
                                 iterations=case["iterations"], data_dir=args.data_dir, stop_at_threshold=False)
            label = code + (" ±" if baseline == "antithetic" else "")
            first = out["curves"][0]
            curves[(case["name"], case["perturbation"], label)] = (first["iteration"], first["cosine"])
            at = {}
            for t in (0.9, 0.99):
                reached = [crossing_iteration(cv["iteration"], cv["cosine"], t) for cv in out["curves"]]
                at[t] = median_or_none(reached)
            rows.append({"case": case["name"], "perturbation": case["perturbation"], "code": label,
                         "to_0.9": at[0.9], "to_0.99": at[0.99],
                         "final_cosine": min(cv["cosine"][-1] for cv in out["curves"]),
                         "final_norm_ratio": out["curves"][0]["norm_ratio"][-1], "iterations": case["iterations"]})
            print(f"  {case['name']} {case['perturbation']} {label}: {at}", flush=True)
    columns = ["case", "perturbation", "code", "to_0.9", "to_0.99", "final_cosine", "final_norm_ratio", "iterations"]
    F.write_csv(rows, columns, Path(args.results) / "codes_gradient.csv")
    print("\nmedian iterations (3 seeds) until the accumulated estimate reaches cos α = 0.9 and 0.99")
    print(F.markdown(rows, columns, ["case", "perturbation", "code", "to cos 0.9", "to cos 0.99",
                                     "worst final cos", "norm ratio (seed 0)", "iterations run"]))
    plot(curves, Path(args.results) / "codes.png")
    return 0


def plot(curves: dict, path: Path) -> None:
    plt = F.pyplot()
    panels = sorted({(name, p) for name, p, _ in curves})
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (name, p) in zip(axes[0], panels):
        for (n, q, label), (it, cos) in curves.items():
            if (n, q) == (name, p):
                ax.plot(it, cos, label=label)
        ax.set(xscale="log", xlabel="iterations", ylabel="cos α (estimate vs true gradient)",
               title=f"{name}, {p} perturbation", ylim=(0, 1.02))
        ax.legend(fontsize=7)
    F.save(fig, path)


if __name__ == "__main__":
    raise SystemExit(F.run_main(main))
