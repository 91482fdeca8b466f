"""Turning a gradient estimate into weight changes: SGD, momentum and Adam (paper Eq. 13-14), by the compiled
step every engine path uses (:mod:`neurosim.kernels.optimizers`), array by array.

The learning rate can be held at zero for the first updates (the paper does so for 1000 iterations to
avoid instabilities while Adam's moment estimates settle).
"""

from __future__ import annotations

import numpy as np

from neurosim.chip.periphery import layer_views
from neurosim.kernels import optimizers as kernel
from neurosim.spec.workload import MGDSpec

Params = list[tuple[np.ndarray, np.ndarray]]


class Optimizer:
    """The optimizer's state (momentum ``m``, Adam's ``v``): one flat float32 array each, in network order, and
    every layer's (weights, bias) a view of it, as :class:`neurosim.chip.periphery.Accumulators` keeps S; so a
    step over the whole network is one compiled call (eighteen of them at the paper CNN's nine layers took a
    tenth of an iteration at d = 1)."""

    def __init__(self, spec: MGDSpec, shapes: Params, hold_updates: int = 0) -> None:
        self.spec = spec
        self.hold_updates = hold_updates
        self.code = kernel.OPTIMIZERS[spec.optimizer]
        self.step_count = 0
        self.shapes = [(w.shape, b.shape) for w, b in shapes]
        size = sum(w.size + b.size for w, b in shapes)
        stateful = self.code != kernel.OPT_SGD
        self.m_flat = np.zeros(size, np.float32) if stateful else None
        self.v_flat = np.zeros(size, np.float32) if self.code == kernel.OPT_ADAM else None
        self.m = None if self.m_flat is None else self.split(self.m_flat)
        self.v = None if self.v_flat is None else self.split(self.v_flat)
        self.constants = tuple(np.float32(x) for x in (spec.momentum, spec.beta1, spec.beta2, spec.epsilon))

    def split(self, flat: np.ndarray) -> Params:
        """Every layer's (weights, bias) as views of a flat array in network order."""
        return layer_views(flat, self.shapes)

    def step_flat(self, g: np.ndarray) -> None:
        """The gradient estimate of every parameter, flat in network order (float32), becomes in place the
        change to write."""
        self.step_count += 1
        lr = np.float32(0.0 if self.step_count <= self.hold_updates else self.spec.learning_rate)
        kernel.step(self.code, g, self.m_flat, self.v_flat, lr, np.float32(1.0), *self.constants)

    def deltas(self, grads: Params) -> Params:
        """The change to write for each parameter array, given the gradient estimate (a new array each)."""
        g = np.concatenate([np.asarray(a, dtype=np.float32).ravel() for pair in grads for a in pair])
        self.step_flat(g)
        return self.split(g)
