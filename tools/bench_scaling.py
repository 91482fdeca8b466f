"""Benchmark: how the paper CNN's forward pass and paper-mode MGD iteration grow with network size (issue 5).

    NEUROSIM_DATA=... python tools/bench_scaling.py [--widths 1 2 4 8 16 32 64] [--budget 600] [--json]

For each width d: MACs per sample (``NetworkShape.macs``, bias row included), the forward pass at batch 100
through ``neurosim.nn.compute.forward``, and one paper-mode weight-perturbation iteration through the engine
exactly as ``tools/bench.py``'s ``bench_iteration`` does (chips/ideal.yaml + workloads/fashion-cnn.yaml,
``network.width=d``; fewer iterations for large d). Reports seconds per MAC, both per MAC of one forward pass
of the batch and per MAC the iteration actually does (one baseline plus, for each layer, that layer and all
above it), and the least-squares slope of log(time) against log(MACs): 1 means linear in MACs.
Widths are run in increasing order; a width is skipped when, extrapolated from the last, it would overrun
``--budget`` seconds of wall time.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import numpy as np
from bench import bench_iteration, timeit

from neurosim.nn import compute
from neurosim.nn.shapes import NetworkShape, paper_cnn

BATCH = 100


def paper_iteration_macs(net: NetworkShape) -> int:
    """MACs per sample of one paper-mode iteration with reuse: the baseline, then per layer l layers l.. top."""
    per = [layer.macs for layer in net.layers]
    return sum(per) + sum(sum(per[index:]) for index in range(len(per)))


def slope(xs: list[float], ys: list[float]) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--budget", type=float, default=600.0, help="seconds of wall time for the whole run")
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    report: dict = {"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                                "numpy": np.__version__}, "batch": BATCH, "widths": {}}
    net1 = paper_cnn(1, (28, 28, 1), 10, "relu", "identity")
    t = time.perf_counter()
    compute.forward(net1, compute.init_weights(net1, rng), rng.random((1, 28, 28, 1)).astype(np.float32))
    report["first_call_s (compile or cache load)"] = time.perf_counter() - t
    start = time.perf_counter()
    last: tuple[int, float] | None = None  # (macs, seconds the width took)
    skipped = []
    for d in sorted(args.widths):
        net = paper_cnn(d, (28, 28, 1), 10, "relu", "identity")
        if last is not None:
            guess = last[1] * net.macs / last[0]
            if time.perf_counter() - start + guess > args.budget:
                skipped.append({"width": d, "reason": f"extrapolated {guess:.0f} s would overrun the {args.budget:.0f} s budget"})
                continue
        t_width = time.perf_counter()
        big = net.macs > 2e7
        weights = compute.init_weights(net, rng)
        x = rng.random((BATCH, *net.input_shape)).astype(np.float32)
        forward = timeit(lambda net=net, weights=weights, x=x: compute.forward(net, weights, x), 0.1 if big else 0.3, 2 if big else 3)
        iterations = 1 if net.macs > 5e7 else 3 if big else 10
        it = bench_iteration("workloads/fashion-cnn.yaml", [f"network.width={d}"], iterations,
                             {f"forward_b{BATCH}_s": forward})
        it_macs = paper_iteration_macs(net)
        report["widths"][str(d)] = {
            "macs_per_sample": net.macs, "parameters": net.parameters,
            "forward_b100_s": forward, "forward_ns_per_mac": forward / (BATCH * net.macs) * 1e9,
            "iterations_timed": iterations, "paper_iteration_s": it["iteration_s"],
            "iteration_ns_per_forward_mac": it["iteration_s"] / (BATCH * net.macs) * 1e9,
            "iteration_macs_per_sample": it_macs,
            "iteration_ns_per_iteration_mac": it["iteration_s"] / (BATCH * it_macs) * 1e9,
            "ratio_to_forward": it["ratio_to_forward"], "engine_path": it["engine_path"],
            "width_wall_s": time.perf_counter() - t_width}
        last = (net.macs, time.perf_counter() - t_width)
    rows = report["widths"]
    macs = [r["macs_per_sample"] for r in rows.values()]
    if len(rows) >= 2:
        report["loglog_slope_forward_vs_macs"] = slope(macs, [r["forward_b100_s"] for r in rows.values()])
        report["loglog_slope_iteration_vs_macs"] = slope(macs, [r["paper_iteration_s"] for r in rows.values()])
        big = [r for r in rows.values() if r["macs_per_sample"] >= 1e6]
        if len(big) >= 2:
            report["loglog_slope_iteration_vs_macs_d>=8"] = slope([r["macs_per_sample"] for r in big],
                                                                 [r["paper_iteration_s"] for r in big])
            report["loglog_slope_forward_vs_macs_d>=8"] = slope([r["macs_per_sample"] for r in big],
                                                               [r["forward_b100_s"] for r in big])
    report["skipped"] = skipped
    report["wall_time_s"] = time.perf_counter() - start
    print(json.dumps(report, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
