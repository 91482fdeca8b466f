"""Time each part of one compiled chip-mode cycle on NIST7x7, inside compiled loops (no Python per call).

    python tools/bench_chipmode_parts.py [--chip chips/reram.yaml] [--set KEY=VALUE ...] [--repeats N]

Where `tools/bench.py` times whole cycles, this says where a cycle's time goes: the inferences, the signs,
the +θ weights, the accumulators, the update and the cost. Each part runs 200,000 times in a compiled loop
on the state of a simulation warmed up for 1000 cycles; a part that consumes its input (the update) is fed a
fresh copy each time, and that copy's own cost is timed and subtracted. Medians over ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numba as nb  # noqa: E402
import numpy as np  # noqa: E402

from neurosim.kernels import chipmode as k  # noqa: E402
from neurosim.kernels.costs import LOSS_CE, cost  # noqa: E402
from neurosim.simulation import Simulation  # noqa: E402
from neurosim.spec import load_config  # noqa: E402

LOOPS = 200_000


@nb.njit
def _inference(loops, layout, params, signs, h, z, scratch):
    for _ in range(loops):  # a dense network: no pooling winners, no pre-pool buffer
        k.dense_forward(layout, params, signs[:0], np.float32(0.01), h, z, scratch, 0)


@nb.njit
def _signs(loops, key, signs, words, perturb_args, fs, ist, counts):
    for _ in range(loops):
        k.on_perturb(key, signs, words, perturb_args[0], perturb_args[1], perturb_args[2], fs, ist, counts)


@nb.njit
def _perturbed_weights(loops, params, signs, perturbed):
    delta = np.float32(0.01)
    for _ in range(loops):
        for i in range(params.size):
            perturbed[i] = params[i] + delta * signs[i]


@nb.njit
def _accumulate(loops, acc, signs):
    d = np.float32(1e-3)
    for _ in range(loops):
        for i in range(acc.size):
            acc[i] += d * signs[i]


@nb.njit
def _copy_in(loops, acc, source, params, params0):
    for _ in range(loops):
        acc[:] = source
        params[:] = params0


@nb.njit
def _update(loops, acc, source, params, params0, layout, moments, writes, limits, failed, state, pulse_buf, dc, di,
            write_key, fs, ist, counts):
    for _ in range(loops):
        acc[:] = source
        params[:] = params0
        k.on_update(layout, params, acc, moments[0], moments[1], writes, limits, failed, state[0], state[1],
                    state[2], state[3], state[4], state[5], state[6], pulse_buf, dc, di, write_key, fs, ist, counts)


@nb.njit
def _cost(loops, out):
    total = 0.0
    for i in range(loops):
        total += cost(LOSS_CE, out, i % out.size, 0.0)
    return total


def per_call(fn: Callable, *args) -> float:
    fn(2, *args)  # compile
    start = time.perf_counter()
    fn(LOOPS, *args)
    return (time.perf_counter() - start) / LOOPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chip", type=Path, default=REPO / "chips/ideal.yaml", help="the chip file (default: ideal)")
    parser.add_argument("--set", action="append", default=[], help="a workload or chip key, as for `train`")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = load_config(args.chip, REPO / "workloads/nist7x7.yaml",
                         args.set + ["train.eval_interval=1000", "train.eval_size=1"])
    sim = Simulation(config, iterations=1002)
    if not sim.procedure.engine_path.startswith("compiled"):
        sys.exit(f"this configuration runs {sim.procedure.engine_path}: nothing to time here")
    sim.engine.run_until(1000)
    f = sim.procedure
    source = (np.random.default_rng(0).standard_normal(f.acc.size) * 1e-3).astype(np.float32)
    params0 = f.params.copy()
    weight = f.signs.size == f.params.size
    parts: dict[str, Callable[[], float]] = {
        "inference (unperturbed)": lambda: per_call(_inference, f.layout, f.params, f.signs, f.h_pert, f.z_pert,
                                                    f.scratch),
        f"signs ({f.signs.size})": lambda: per_call(_signs, f.key, f.signs, f.sign_words, f.perturb_args, f.fs,
                                                    f.ist, f.counts),
        "update": lambda: (per_call(_update, f.acc, source, f.params, params0, f.layout, f.moments, f.writes,
                                    f.limits, f.failed, f.device_state, f.pulse_buf, f.dc, f.di, f.write_key, f.fs,
                                    f.ist, f.counts)
                           - per_call(_copy_in, f.acc, source, f.params, params0)),
        "cost (cross-entropy)": lambda: per_call(_cost, f.h_pert[-f.net.n_outputs:].copy()),
    }
    if weight:  # node perturbation's accumulators take a local product instead, not timed here
        parts["accumulators"] = lambda: per_call(_accumulate, f.acc, f.signs)
        parts["+θ weights"] = lambda: per_call(_perturbed_weights, f.params, f.signs, f.perturbed)
    print(f"NIST7x7 chip mode on {args.chip.name}, {config.workload.mgd.perturbation} perturbation, {args.set or 'defaults'}; "
          f"median of {args.repeats} runs of {LOOPS:,} calls each")
    print("| part | µs per call |\n| --- | --- |")
    for name, timing in parts.items():
        print(f"| {name} | {np.median([timing() for _ in range(args.repeats)]) * 1e6:.3f} |")


if __name__ == "__main__":
    main()
