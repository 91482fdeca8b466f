"""CPU time per chip-mode cycle on every chip in chips/, through the engine (no evaluations, no start-up):
the figure to compare two versions of the engine by, side by side.

    python tools/bench_chip_cycles.py [--cycles 20000] [--rounds 3] [--workload workloads/nist7x7.yaml]
                                      [--chips reference fefet]
    PYTHONPATH=/path/to/other/checkout python /path/to/other/checkout/tools/bench_chip_cycles.py   # the other

Each round measures every chip once (after a warm-up of 2,000 cycles that compiles or loads the kernels),
so a drift of the shared machine's speed spreads over all of them; it prints the rounds and their medians,
in microseconds of this thread's CPU time per cycle, and each chip's ratio of cycles/s to the reference chip.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import neurosim  # noqa: E402,F401  (first: it pins BLAS to one thread)
from neurosim.api import load  # noqa: E402
from neurosim.simulation import Simulation  # noqa: E402

WARM_UP = 2000


def cpu_us_per_cycle(chip: Path, workload: Path, cycles: int, sets: tuple[str, ...] = (),
                     warm_up: int = WARM_UP) -> float:
    """µs of this thread's CPU per iteration (a cycle in chip mode) over ``cycles``, after ``warm_up``
    iterations that compile or load the kernels, no evaluations; ``sets`` as `train --set` takes them."""
    config = load(str(chip), str(workload), ["train.eval_interval=100000000", *sets])
    sim = Simulation(config, iterations=warm_up + cycles)
    sim.engine.run_until(warm_up)
    start = time.thread_time()
    sim.engine.run_until(warm_up + cycles)
    return (time.thread_time() - start) / cycles * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workload", type=Path, default=REPO / "workloads/nist7x7.yaml")
    parser.add_argument("--chips", nargs="+", metavar="NAME", help="only these chips of chips/ (e.g. reference fefet)")
    args = parser.parse_args()
    chips = sorted((REPO / "chips").glob("*.yaml"))
    if args.chips:
        unknown = sorted(set(args.chips) - {chip.stem for chip in chips})
        if unknown:
            parser.error(f"no chips/{unknown[0]}.yaml")
        chips = [chip for chip in chips if chip.stem in args.chips]
    rounds: dict[str, list[float]] = {chip.stem: [] for chip in chips}
    for r in range(args.rounds):
        for chip in chips:
            rounds[chip.stem].append(cpu_us_per_cycle(chip, args.workload, args.cycles))
        print(f"round {r + 1}: " + " ".join(f"{name}={times[-1]:.2f}" for name, times in rounds.items()),
              flush=True)
    medians = {name: statistics.median(times) for name, times in rounds.items()}
    print("median us/cycle: " + " ".join(f"{name}={t:.2f}" for name, t in medians.items()))
    reference = medians.get("reference")
    if reference:
        print("cycles/s ratio to reference: " + " ".join(f"{name}={reference / t:.3f}" for name, t in medians.items()))


if __name__ == "__main__":
    sys.exit(main())
