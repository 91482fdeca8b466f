"""The costs the chip's cost circuit computes, compiled once for every path: softmax cross-entropy and the
squared error, of one sample (compiled chip mode, every cycle) or of each sample of a batch (paper mode,
evaluation: :mod:`neurosim.nn.losses` calls :func:`per_sample_costs`).

In float64 from the float32 outputs, so that the small cost differences of MGD (ΔC of order δ·|∇C|) are
not lost to rounding. Label smoothing α turns the one-hot target into (1 − α)·one-hot + α/classes (Flux's
``label_smoothing``, as the authors' code applies it). The squared error of a sample is averaged over the
classes (LOSS_MSE) or summed (LOSS_MSE_SUM: the authors' ``f_mse``).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

LOSS_CE, LOSS_MSE, LOSS_MSE_SUM = 0, 1, 2
LOSSES = {("cross_entropy", "mean"): LOSS_CE, ("mse", "mean"): LOSS_MSE, ("mse", "sum"): LOSS_MSE_SUM}

_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}


@nb.njit(**_JIT, inline="always")
def cost(loss: int, out: np.ndarray, label: int, smoothing: float) -> float:
    """ρ of one sample (``out`` its outputs, 1-d): log Z − (1 − α)·z_label − (α/K)·Σ z for cross-entropy,
    with z the outputs less their largest; Σ (z − t)² over the classes, or its mean."""
    n = out.size
    if loss == LOSS_CE:
        top = -np.inf
        for k in range(n):
            top = max(top, float(out[k]))
        total = 0.0
        for k in range(n):
            total += math.exp(float(out[k]) - top)
        if smoothing == 0.0:
            return math.log(total) - (float(out[label]) - top)
        shifted = 0.0
        for k in range(n):
            shifted += float(out[k]) - top
        return math.log(total) - (1.0 - smoothing) * (float(out[label]) - top) - smoothing / n * shifted
    total = 0.0
    for k in range(n):
        t = smoothing / n + (1.0 - smoothing if k == label else 0.0)
        total += (float(out[k]) - t) ** 2
    return total if loss == LOSS_MSE_SUM else total / n


@nb.njit(**_JIT)
def per_sample_costs(loss: int, out: np.ndarray, labels: np.ndarray, smoothing: float, rho: np.ndarray) -> None:
    """rho[b] = :func:`cost` of row b of ``out`` (a batch's outputs, float32)."""
    if out.shape[0] != labels.size or rho.size != labels.size:
        raise ValueError("costs.per_sample_costs: outputs, labels and costs differ in length")
    for b in range(out.shape[0]):
        rho[b] = cost(loss, out[b], labels[b], smoothing)
