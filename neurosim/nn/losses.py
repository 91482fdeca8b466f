"""Costs the chip's cost circuit computes: softmax cross-entropy and mean squared error.

Costs are computed in float64 from the float32 outputs, so that the small cost differences of MGD
(ΔC of order δ·|∇C|) are not lost to rounding.
"""

from __future__ import annotations

import numpy as np


def per_sample_cost(kind: str, output: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """ρ for each sample of a batch (float64)."""
    out = output.astype(np.float64)
    if kind == "cross_entropy":
        shifted = out - out.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(shifted).sum(axis=1))
        return log_z - shifted[np.arange(out.shape[0]), labels]
    target = np.zeros_like(out)
    target[np.arange(out.shape[0]), labels] = 1.0
    return ((out - target) ** 2).mean(axis=1)


def cost(kind: str, output: np.ndarray, labels: np.ndarray) -> float:
    """C: the mean of ρ over the batch. One sample (chip mode, every cycle) takes a shorter way to the same
    number: its ρ is exactly the mean, and numpy's per-call costs were most of a single sample's cost."""
    if output.shape[0] == 1 and kind == "cross_entropy":
        out = output[0].astype(np.float64)
        shifted = out - out.max()
        return float(np.log(np.exp(shifted).sum()) - shifted[labels[0]])
    rho = per_sample_cost(kind, output, labels)
    return float(rho[0]) if rho.size == 1 else float(rho.mean())


def cost_gradient(kind: str, output: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """dC/d(output) for the batch-mean cost (float32)."""
    out = output.astype(np.float64)
    batch = out.shape[0]
    target = np.zeros_like(out)
    target[np.arange(batch), labels] = 1.0
    if kind == "cross_entropy":
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        grad = shifted / shifted.sum(axis=1, keepdims=True) - target
    else:
        grad = 2.0 * (out - target) / out.shape[1]
    return (grad / batch).astype(np.float32)

