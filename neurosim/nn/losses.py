"""Costs the chip's cost circuit computes, softmax cross-entropy and the squared error, by their one compiled
implementation (:mod:`neurosim.kernels.costs`, where the formulas are), and the gradient of the batch-mean
cost for backprop. ``reduction`` "mean" averages a sample's squared error over the classes, "sum" sums it
(the authors' ``f_mse``).
"""

from __future__ import annotations

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
    batch = out.shape[0]
    target = _targets(out, labels, smoothing)
    if kind == "cross_entropy":
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        grad = shifted / shifted.sum(axis=1, keepdims=True) - target
    else:
        grad = 2.0 * (out - target) / (1 if reduction == "sum" else out.shape[1])
    return (grad / batch).astype(np.float32)
