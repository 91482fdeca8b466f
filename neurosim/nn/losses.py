"""Costs the chip's cost circuit computes: softmax cross-entropy and mean squared error.

Costs are computed in float64 from the float32 outputs, so that the small cost differences of MGD
(ΔC of order δ·|∇C|) are not lost to rounding. Label smoothing α turns the one-hot target into
(1-α)·one-hot + α/classes (Flux's ``label_smoothing``, as the authors' code applies it). The squared error
of a sample is averaged over the classes (``reduction`` "mean") or summed ("sum": the authors' ``f_mse``).
"""

from __future__ import annotations

import numpy as np


def _targets(out: np.ndarray, labels: np.ndarray, smoothing: float) -> np.ndarray:
    target = np.full_like(out, smoothing / out.shape[1])
    target[np.arange(out.shape[0]), labels] += 1.0 - smoothing
    return target


def _check_reduction(kind: str, reduction: str) -> None:
    if reduction not in ("mean", "sum") or (reduction == "sum" and kind != "mse"):
        raise ValueError(f"reduction {reduction!r} for a {kind} cost: expected mean, or sum with mse")


def per_sample_cost(kind: str, output: np.ndarray, labels: np.ndarray, smoothing: float = 0.0,
                    reduction: str = "mean") -> np.ndarray:
    """ρ for each sample of a batch (float64)."""
    _check_reduction(kind, reduction)
    out = output.astype(np.float64)
    if kind == "cross_entropy":
        shifted = out - out.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(shifted).sum(axis=1))
        at_label = shifted[np.arange(out.shape[0]), labels]
        if smoothing:  # -Σ t·log p = log Z - (1-α)·z_label - (α/K)·Σ z
            return log_z - (1.0 - smoothing) * at_label - smoothing / out.shape[1] * shifted.sum(axis=1)
        return log_z - at_label
    squares = (out - _targets(out, labels, smoothing)) ** 2
    return squares.sum(axis=1) if reduction == "sum" else squares.mean(axis=1)


def cost(kind: str, output: np.ndarray, labels: np.ndarray, smoothing: float = 0.0, reduction: str = "mean") -> float:
    """C: the mean of ρ over the batch. One sample (chip mode, every cycle) takes a shorter way to the same
    number: its ρ is exactly the mean, and numpy's per-call costs were most of a single sample's cost."""
    if output.shape[0] == 1 and kind == "cross_entropy":
        out = output[0].astype(np.float64)
        shifted = out - out.max()
        log_z = np.log(np.exp(shifted).sum())
        if smoothing:  # the same operations as per_sample_cost's, on one row
            return float(log_z - (1.0 - smoothing) * shifted[labels[0]] - smoothing / out.shape[0] * shifted.sum())
        return float(log_z - shifted[labels[0]])
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
