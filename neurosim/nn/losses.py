"""Costs the chip's cost circuit computes, softmax cross-entropy and the squared error, by their one compiled
implementation (:mod:`neurosim.kernels.costs`, where the formulas are), and the gradient of the batch-mean
cost for backprop. ``reduction`` "mean" averages a sample's squared error over the classes, "sum" sums it
(the authors' ``f_mse``).
"""

from __future__ import annotations

import math

import numpy as np

from neurosim.kernels import costs


def _targets(out: np.ndarray, labels: np.ndarray, smoothing: float) -> np.ndarray:
    target = np.full_like(out, smoothing / out.shape[1])
    target[np.arange(out.shape[0]), labels] += 1.0 - smoothing
    return target


def _check_reduction(kind: str, reduction: str) -> None:
    if reduction not in ("mean", "sum") or (reduction == "sum" and kind != "mse"):
        raise ValueError(f"reduction {reduction!r} for a {kind} cost: expected mean, or sum with mse")


def per_sample_cost(kind: str, output: np.ndarray, labels: np.ndarray, smoothing: float = 0.0,
                    reduction: str = "mean") -> np.ndarray:
    """ρ for each sample of a batch (float64), by the compiled cost every path uses."""
    _check_reduction(kind, reduction)
    rho = np.empty(output.shape[0])
    out = output if output.dtype in (np.float32, np.float64) else output.astype(np.float64)  # as precise as given
    costs.per_sample_costs(costs.LOSSES[kind, reduction], np.ascontiguousarray(out),
                           np.ascontiguousarray(labels, dtype=np.int64), float(smoothing), rho)
    return rho


def cost(kind: str, output: np.ndarray, labels: np.ndarray, smoothing: float = 0.0, reduction: str = "mean") -> float:
    """C: the mean of ρ over the batch."""
    rho = per_sample_cost(kind, output, labels, smoothing, reduction)
    return float(rho[0]) if rho.size == 1 else float(rho.mean())


def cost_gradient(kind: str, output: np.ndarray, labels: np.ndarray, smoothing: float = 0.0,
                  reduction: str = "mean") -> np.ndarray:
    """dC/d(output) for the batch-mean cost (float32)."""
    _check_reduction(kind, reduction)
    out = output.astype(np.float64)
    grad = _GRADIENTS[kind](out, _targets(out, labels, smoothing), reduction)
    return (grad / out.shape[0]).astype(np.float32)


def _softmax_gradient(out: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
    shifted = np.exp(out - out.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True) - target


def _squared_error_gradient(out: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
    return 2.0 * (out - target) / (1 if reduction == "sum" else out.shape[1])


# each cost's gradient of one sample's ρ with respect to the outputs, by the cost's name
_GRADIENTS = {"cross_entropy": _softmax_gradient, "mse": _squared_error_gradient}
# each cost at chance, with every output zero: ln K for cross-entropy; the squared error 1 summed, 1/K averaged
_CHANCE = {"cross_entropy": lambda classes, reduction: math.log(classes),
           "mse": lambda classes, reduction: 1.0 if reduction == "sum" else 1.0 / classes}


def chance_cost(kind: str, classes: int, reduction: str = "mean") -> float:
    """ρ of a network whose outputs are all zero: what a blown-up training's cost is compared with."""
    return _CHANCE[kind](classes, reduction)
