"""Turning a gradient estimate into weight changes: SGD, momentum and Adam (paper Eq. 13-14).

The learning rate can be held at zero for the first updates (the paper does so for 1000 iterations to
avoid instabilities while Adam's moment estimates settle).
"""

from __future__ import annotations

import numpy as np

from neurosim.spec.workload import MGDSpec

Params = list[tuple[np.ndarray, np.ndarray]]


class Optimizer:
    def __init__(self, spec: MGDSpec, shapes: Params, hold_updates: int = 0) -> None:
        self.spec = spec
        self.hold_updates = hold_updates
        self.kind = spec.optimizer
        self.step_count = 0
        zeros = [(np.zeros_like(w), np.zeros_like(b)) for w, b in shapes]
        self.m = zeros if self.kind in ("momentum", "adam") else None
        self.v = [(np.zeros_like(w), np.zeros_like(b)) for w, b in shapes] if self.kind == "adam" else None

    def deltas(self, grads: Params) -> Params:
        """The change to write for each parameter array, given the gradient estimate."""
        self.step_count += 1
        spec = self.spec
        lr = 0.0 if self.step_count <= self.hold_updates else spec.learning_rate
        out: Params = []
        for i, pair in enumerate(grads):
            layer = []
            for j, g in enumerate(pair):
                if self.kind == "sgd":
                    step = g
                elif self.kind == "momentum":
                    m = self.m[i][j]
                    m *= np.float32(spec.momentum)
                    m += g
                    step = m
                else:
                    m, v = self.m[i][j], self.v[i][j]
                    m *= np.float32(spec.beta1)
                    m += np.float32(1 - spec.beta1) * g
                    v *= np.float32(spec.beta2)
                    v += np.float32(1 - spec.beta2) * g * g
                    step = m / (np.sqrt(v) + np.float32(spec.epsilon))
                layer.append((-np.float32(lr) * step).astype(np.float32))
            out.append((layer[0], layer[1]))
        return out
