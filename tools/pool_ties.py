#!/usr/bin/env python3
"""How often a max-pool window of the paper's CNN holds equal maxima on Fashion-MNIST (docs/results.md,
Fig. 3). A tie at a positive value is a kink for node perturbation: perturbing one of the tied
pre-activations by +δ moves the pooled output and by −δ does not, so MGD sees a slope of 1/2 where
backprop routes all or nothing through its argmax. Weight perturbation shifts tied values together and
keeps the tie.

    python tools/pool_ties.py [--widths 1 2 4] [--samples 100]
"""

from __future__ import annotations

import argparse

import numpy as np

import _figures as F

from neurosim.nn import compute
from neurosim.simulation import Simulation
from neurosim.spec import load_config


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--init", default="auto_bias")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    for d in args.widths:
        config = load_config(F.REPO / "chips/ideal.yaml", F.REPO / "workloads/fashion-cnn.yaml",
                             [f"network.width={d}", f"network.init={args.init}"])
        sim = Simulation(config, seed=0, data_dir=args.data_dir)
        trace = compute.Trace()
        compute.forward(sim.net, sim.chip.weights(), sim.x_train[:args.samples], trace=trace)
        for index, layer in enumerate(sim.net.layers):
            if not layer.pool:
                continue
            h = trace.post[index]
            b, height, width, channels = h.shape
            windows = (h[:, :height // 2 * 2, :width // 2 * 2, :]
                       .reshape(b, height // 2, 2, width // 2, 2, channels)
                       .transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4))
            top = windows.max(axis=1)
            tied = (windows == top[:, None]).sum(axis=1) > 1
            print(f"d={d} layer {index} ({layer.name}): windows tied at a positive maximum "
                  f"{(tied & (top > 0)).mean():.1%}, at zero {(tied & (top == 0)).mean():.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(F.run_main(main))
