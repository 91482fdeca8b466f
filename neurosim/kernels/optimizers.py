"""The optimizers' step, compiled once for every engine path: SGD, momentum and Adam (paper Eq. 13-14; Adam
without bias correction, as the authors' script has it). Compiled chip mode inlines :func:`step` over the
whole chip; paper mode and backprop (:class:`neurosim.mgd.optimizers.Optimizer`) call it
array by array. Every constant is a float32 and the arithmetic is float32, in one order for all paths."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

OPT_SGD, OPT_MOMENTUM, OPT_ADAM = 0, 1, 2
OPTIMIZERS = {"sgd": OPT_SGD, "momentum": OPT_MOMENTUM, "adam": OPT_ADAM}  # the spec's name -> the code

_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}


@nb.njit(**_JIT, inline="always")
def step(opt: int, acc: np.ndarray, m: np.ndarray | None, v: np.ndarray | None, lr: np.float32,
         scale: np.float32, momentum: np.float32, beta1: np.float32, beta2: np.float32,
         epsilon: np.float32) -> None:
    """``acc`` holds S, the gradient estimate being G = S·scale; it becomes the change to write:
    SGD −lr·G; momentum m ← momentum·m + G, −lr·m; Adam m ← β1·m + (1 − β1)·G, v ← β2·v + (1 − β2)·G²,
    −lr·m/(√v + ε). One branch-free loop per optimizer. SGD passes None for the moments ``m`` and ``v``."""
    if opt == OPT_SGD:
        for k in range(acc.size):
            acc[k] = -lr * (acc[k] * scale)
    else:
        _stateful(opt, acc, m, v, lr, scale, momentum, beta1, beta2, epsilon)


@nb.njit(**_JIT)
def _stateful(opt: int, acc: np.ndarray, m: np.ndarray | None, v: np.ndarray | None, lr: np.float32,
              scale: np.float32, momentum: np.float32, beta1: np.float32, beta2: np.float32,
              epsilon: np.float32) -> None:
    """:func:`step` of momentum and Adam (not inlined; compiled to nothing for SGD's None moments)."""
    if m is None:
        return
    if opt == OPT_MOMENTUM:
        for k in range(acc.size):
            m[k] = m[k] * momentum + acc[k] * scale
            acc[k] = -lr * m[k]
    elif v is not None:
        for k in range(acc.size):
            g = acc[k] * scale
            m[k] = m[k] * beta1 + (np.float32(1.0) - beta1) * g
            v[k] = v[k] * beta2 + (np.float32(1.0) - beta2) * g * g
            acc[k] = -lr * (m[k] / (np.float32(math.sqrt(v[k])) + epsilon))
