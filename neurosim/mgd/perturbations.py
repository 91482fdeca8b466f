"""Bernoulli ±δ perturbations drawn from the counter-based RNG, per layer, for weights or nodes."""

from __future__ import annotations

import numpy as np

from neurosim.kernels.rng import fill_signs
from neurosim.nn.shapes import NetworkShape

_NODE_STREAM = 0x5DEECE66D


class PerturbationSource:
    """Perturbation step ``n`` of layer ``l`` is a pure function of (key, n, l): nothing is stored."""

    def __init__(self, key: int, net: NetworkShape) -> None:
        self.key = np.uint64(key)
        self.node_key = np.uint64(key ^ _NODE_STREAM)
        self.net = net
        self.weight_offset = np.cumsum([0] + [layer.parameters for layer in net.layers]).astype(np.uint64)
        self.node_offset = np.cumsum([0] + [layer.nodes for layer in net.layers]).astype(np.uint64)

    def weight(self, step: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Signs ±1 (weights, bias) of layer ``index`` at perturbation ``step``."""
        layer = self.net.layers[index]
        theta_w = np.empty((layer.fan_in, layer.fan_out), dtype=np.float32)
        theta_b = np.empty(layer.fan_out, dtype=np.float32)
        amp = np.float32(1.0)
        offset = self.weight_offset[index]
        fill_signs(self.key, np.uint64(step), offset, amp, theta_w)
        fill_signs(self.key, np.uint64(step), offset + np.uint64(layer.weights), amp, theta_b)
        return theta_w, theta_b

    def node(self, step: int, index: int, batch: int) -> np.ndarray:
        """Signs ±1 on layer ``index``'s pre-activations, independent for every sample of the batch."""
        layer = self.net.layers[index]
        theta = np.empty((batch, *layer.out_shape), dtype=np.float32)
        fill_signs(self.node_key, np.uint64(step), self.node_offset[index] * np.uint64(batch),
                   np.float32(1.0), theta)
        return theta


def gamma_scale(k: int, n_perturbations: int) -> float:
    """Factor applied to the unbiased estimate G under the Γ normalisation (paper App. B, Eq. 21).

    Equivalent to e = ΔC·θ/Γ with Γ = δ²·sqrt(1/K + 1/τθ − 1/(Kτθ)) for per-layer amplitude δ/sqrt(K),
    and the update G_int/τθ: the result is G / sqrt(K·(1 + (K−1)/τθ)).
    """
    return 1.0 / float(np.sqrt(k * (1.0 + (k - 1.0) / n_perturbations)))
