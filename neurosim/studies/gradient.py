"""Gradient estimation (the paper's Fig. 3): how many iterations until the accumulated MGD estimate points
along the true gradient.

At fixed weights (learning rate 0, no update), every iteration adds one MGD estimate to the accumulators,
and we add backprop's gradient of the very same samples to a running sum. By default the samples are held
fixed too (one mini-batch, or one sample in chip mode), so the sums converge to "the true local gradient"
the paper compares with; ``fresh_batches`` draws new ones every iteration instead. After each iteration we compare
the two sums: the cosine of the angle between them (direction) and the ratio of their norms (amplitude).
The estimate is the unbiased one of Eq. 11 (S_l / (n·σ_l) per layer, without Γ), so both should tend to 1.
Defaults follow the paper's published recipe through the workload: its mode, mini-batch and amplitude.

Node perturbation with a mini-batch holds one perturbation per node over the batch and correlates it with
each sample's own cost change (``mgd.node_batch: shared``): K = nodes, the count the paper's Fig. 3 scales
with. ``independent`` perturbs every sample separately (K = batch x nodes); both are unbiased.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurosim.mgd.perturbations import CODES
from neurosim.mgd.procedures import PaperMode
from neurosim.nn import compute, losses
from neurosim.model import resolve_amplitude, strategy
from neurosim.simulation import Simulation
from neurosim.spec import load_config
from neurosim.spec.loader import RunConfig


@dataclass
class GradientCurve:
    seed: int
    iteration: list[int]
    cosine: list[float]
    norm_ratio: list[float]
    iterations_to_threshold: int | None


def _flat(pairs: list[tuple[np.ndarray, np.ndarray]], scales: list[float]) -> np.ndarray:
    return np.concatenate([np.concatenate([w.ravel(), b.ravel()]) * s for (w, b), s in zip(pairs, scales)])


class _FixedBatch:
    """A sample stream that hands out the same mini-batch every time."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.x, self.y


def study_config(chip: str, workload: str, sets: list[str], perturbation: str | None, iterations: int,
                 fresh_batches: bool = False) -> RunConfig:
    """The workload with the weights frozen and no update in the window (and, in chip mode, the sample held
    for the whole window unless ``fresh_batches``)."""
    extra = ["mgd.learning_rate=0", f"mgd.tau_theta={iterations + 1}", f"train.iterations={iterations}"]
    if not fresh_batches and load_config(chip, workload, sets).workload.mgd.mode == "chip":
        extra.append(f"mgd.tau_x={iterations + 1}")  # paper mode has no sample period to hold
    if perturbation:
        extra.append(f"mgd.perturbation={perturbation}")
    return load_config(chip, workload, [*sets, *extra])


def run_one(config: RunConfig, seed: int, iterations: int, threshold: float, *, data_dir: str | None = None,
            stop_at_threshold: bool = True, fresh_batches: bool = False) -> GradientCurve:
    """One seed: the cosine and norm ratio after every iteration, until the threshold (or ``iterations``)."""
    sim = Simulation(config, seed=seed, iterations=iterations, data_dir=data_dir)
    procedure = sim.procedure
    if isinstance(procedure, PaperMode) and not fresh_batches:
        procedure.stream = _FixedBatch(*procedure.stream.take(config.workload.mgd.batch_size))
    if not strategy(config.workload.mgd).perturbs:
        raise ValueError("the gradient study compares MGD with backprop: choose weight or node perturbation")
    amplitude = resolve_amplitude(config)
    paper = isinstance(procedure, PaperMode)
    net = sim.net
    mgd = config.workload.mgd
    kind = mgd.perturbation
    if paper:
        sizes = [strategy(mgd).elements(layer) for layer in net.layers]
        sigmas = [amplitude / math.sqrt(k) * procedure.source.power(i, kind) for i, k in enumerate(sizes)]
    else:  # chip mode: the whole network at once, the code's power over all of its elements
        sigmas = [amplitude * CODES[mgd.code].power(strategy(mgd).total(net))] * len(net.layers)
    true_sum = np.zeros(net.parameters)
    gradient = np.zeros(net.parameters)
    curve = GradientCurve(seed, [], [], [], None)
    step = procedure.on_iteration if paper else procedure.on_cycle
    done = 0

    def measured(index: int) -> None:
        nonlocal done
        step(index)
        if paper:
            x, y = procedure.last_batch
        else:
            index = int(procedure.label[0])
            x, y = sim.x_train[index:index + 1], sim.dataset.y_train[index:index + 1]
        if fresh_batches or done == 0:  # held samples and frozen weights: the true gradient never changes
            weights = sim.chip.weights()
            trace = compute.Trace()
            out = compute.forward(net, weights, x, trace=trace)
            loss = config.workload.loss
            error = losses.cost_gradient(loss.kind, out, y, loss.label_smoothing, loss.reduction)
            gradient[:] = _flat(compute.backward(net, weights, trace, error), [1.0] * len(net.layers))
        true_sum[:] += gradient
        done += 1
        if paper:
            estimate = _flat(procedure.accumulators.values, [1.0 / s for s in sigmas]) / done
        else:
            estimate = procedure.accumulated() / sigmas[0] / done
        truth = true_sum / done
        norm_t = float(np.linalg.norm(truth))
        norm_e = float(np.linalg.norm(estimate))
        if norm_t == 0:
            cosine = float("nan")
        else:  # an estimate still all zero (one-at-a-time before a non-zero element) points nowhere
            cosine = float(estimate @ truth) / (norm_e * norm_t) if norm_e > 0 else 0.0
        curve.iteration.append(done)
        curve.cosine.append(cosine)
        curve.norm_ratio.append(float(np.linalg.norm(estimate)) / norm_t if norm_t > 0 else float("nan"))
        if curve.iterations_to_threshold is None and cosine >= threshold:
            curve.iterations_to_threshold = done

    if paper:
        procedure.on_iteration = measured  # type: ignore[method-assign]
    else:
        procedure.on_cycle = measured  # type: ignore[method-assign]
    sim.engine = sim.make_engine(coalesce=False)
    while done < iterations and not (stop_at_threshold and curve.iterations_to_threshold is not None):
        sim.engine.run_until(done + 1)
    return curve


def gradient_study(chip: str, workload: str, *, sets: list[str] = (), perturbation: str | None = None,
                   threshold: float = 0.95, seeds: int = 1, iterations: int = 100_000, data_dir: str | None = None,
                   stop_at_threshold: bool = True, fresh_batches: bool = False) -> dict[str, Any]:
    config = study_config(chip, workload, list(sets), perturbation, iterations, fresh_batches)
    curves = [run_one(config, seed, iterations, threshold, data_dir=data_dir, stop_at_threshold=stop_at_threshold,
                      fresh_batches=fresh_batches) for seed in range(seeds)]
    reached = [c.iterations_to_threshold for c in curves]
    finite = [r for r in reached if r is not None]
    return {
        "chip": config.chip.name, "workload": config.workload.name, "mode": config.workload.mgd.mode,
        "perturbation": config.workload.mgd.perturbation, "threshold": threshold, "max_iterations": iterations,
        "batch_size": config.workload.mgd.batch_size if config.workload.mgd.mode == "paper" else 1,
        "fresh_batches": fresh_batches,
        "iterations_to_threshold": reached,
        "median_iterations": float(np.median(finite)) if len(finite) == len(reached) else None,
        "curves": [{"seed": c.seed, "iteration": c.iteration, "cosine": c.cosine, "norm_ratio": c.norm_ratio}
                   for c in curves],
    }
