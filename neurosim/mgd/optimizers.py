"""Turning a gradient estimate into weight changes: SGD, momentum and Adam (paper Eq. 13-14), by the compiled
step every engine path uses (:mod:`neurosim.kernels.optimizers`), array by array.

The learning rate can be held at zero for the first updates (the paper does so for 1000 iterations to
avoid instabilities while Adam's moment estimates settle).
"""

from __future__ import annotations

import numpy as np

from neurosim.kernels import optimizers as kernel
from neurosim.spec.workload import MGDSpec

Params = list[tuple[np.ndarray, np.ndarray]]


class Optimizer:
    def __init__(self, spec: MGDSpec, shapes: Params, hold_updates: int = 0) -> None:
        self.spec = spec
        self.hold_updates = hold_updates
        self.code = kernel.OPTIMIZERS[spec.optimizer]
        self.step_count = 0
        stateful = self.code != kernel.OPT_SGD
        self.m = [(np.zeros(w.shape, np.float32), np.zeros(b.shape, np.float32)) for w, b in shapes] if stateful else None
        self.v = ([(np.zeros(w.shape, np.float32), np.zeros(b.shape, np.float32)) for w, b in shapes]
                  if self.code == kernel.OPT_ADAM else None)
        self.constants = tuple(np.float32(x) for x in (spec.momentum, spec.beta1, spec.beta2, spec.epsilon))

    def deltas(self, grads: Params) -> Params:
        """The change to write for each parameter array, given the gradient estimate."""
        self.step_count += 1
        lr = np.float32(0.0 if self.step_count <= self.hold_updates else self.spec.learning_rate)
        out: Params = []
        for i, pair in enumerate(grads):
            layer = []
            for j, g in enumerate(pair):
                delta = np.array(g, dtype=np.float32, order="C")  # a copy: the step is made in it
                m = None if self.m is None else self.m[i][j].reshape(-1)
                v = None if self.v is None else self.v[i][j].reshape(-1)
                kernel.step(self.code, delta.reshape(-1), m, v, lr, np.float32(1.0), *self.constants)
                layer.append(delta)
            out.append((layer[0], layer[1]))
        return out
