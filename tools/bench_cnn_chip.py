"""The paper CNN in chip mode: cycle time as a multiple of the bare batch-1 forward pass, in rounds.

Each round times the bare forward pass (``neurosim.nn.compute.forward``), then 200 chip-mode cycles of
weight and of node perturbation, back to back, and reports the ratios; the summary is their median over the
rounds. The sample and the weights are held 100 cycles (``mgd.tau_x`` = ``mgd.tau_theta`` = 100) unless
``--every-cycle`` asks for a new sample and an update every cycle. ``tools/bench.py`` times the same
configurations once each; this script repeats them so that the shared machine's drift shows.

    NEUROSIM_DATA=../shared/data python tools/bench_cnn_chip.py --widths 1 8 [--rounds 5] [--every-cycle]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import numpy as np  # noqa: E402

from bench import timeit  # noqa: E402
from neurosim.errors import NeurosimError  # noqa: E402
from neurosim.nn import compute  # noqa: E402
from neurosim.simulation import Simulation  # noqa: E402
from neurosim.spec import load_config  # noqa: E402

CYCLES = 200


def chip_mode_simulation(width: int, perturbation: str, held: bool, data_dir: str | None) -> Simulation:
    sets = [f"network.width={width}", "mgd.mode=chip", "mgd.normalize=none", f"mgd.perturbation={perturbation}",
            "train.eval_interval=1000000", "train.eval_size=1"]
    if held:
        sets += ["mgd.tau_x=100", "mgd.tau_theta=100"]
    config = load_config(REPO / "chips/ideal.yaml", REPO / "workloads/fashion-cnn.yaml", sets)
    return Simulation(config, iterations=1_000_000, data_dir=data_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--every-cycle", action="store_true", help="a new sample and an update every cycle")
    parser.add_argument("--data-dir", default=os.environ.get("NEUROSIM_DATA"))
    args = parser.parse_args()
    held = not args.every_cycle
    rng = np.random.default_rng(0)
    print(("sample and weights held 100 cycles" if held else "a new sample and an update every cycle")
          + "; ratio = chip-mode cycle / bare batch-1 forward pass")
    for width in args.widths:
        try:
            sims = {kind: chip_mode_simulation(width, kind, held, args.data_dir) for kind in ("weight", "node")}
        except NeurosimError as error:
            sys.exit(f"bench_cnn_chip: {error}")
        net = sims["weight"].net  # the workload's own network (its activations), at its initial weights
        weights = [(w.copy(), b.copy()) for w, b in sims["weight"].chip.weights()]
        x = rng.random((1, 28, 28, 1)).astype(np.float32)
        done = {kind: 100 for kind in sims}
        for kind, sim in sims.items():
            sim.engine.run_until(done[kind])  # warm up: the first sample's baseline, compilation
        ratios: dict[str, list[float]] = {kind: [] for kind in sims}
        for index in range(args.rounds):
            forward_s = timeit(lambda: compute.forward(net, weights, x))
            for kind, sim in sims.items():
                start = time.perf_counter()
                sim.engine.run_until(done[kind] + CYCLES)
                ratios[kind].append((time.perf_counter() - start) / CYCLES / forward_s)
                done[kind] += CYCLES
            print(f"d={width} round {index}: forward {forward_s * 1e6:.1f} µs, "
                  + ", ".join(f"{kind} {r[-1]:.2f}x" for kind, r in ratios.items()), flush=True)
        print(f"d={width} median over {args.rounds} rounds: "
              + ", ".join(f"{kind} {np.median(r):.2f}x" for kind, r in ratios.items()))


if __name__ == "__main__":
    main()
