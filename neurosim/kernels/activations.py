"""Activation kernels, float32: the one implementation of each activation, which compiled chip mode and the
batch computations of :mod:`neurosim.nn.compute` (evaluation, paper mode, backprop) all call, so that
training and evaluation see the same activations."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from neurosim.kernels.vecmath import maximum, minimum

ACT_CODES = {"identity": 0, "relu": 1, "tanh": 2, "sigmoid": 3}

_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}  # numpy's: no zero-division test per division
_INLINE = {**_JIT, "inline": "always"}


# tanh in float32 as Eigen computes it (generic_fast_tanh_float): a 13/6 rational function of the input
# clamped to ±7.905 (beyond, tanh is 1 in float32), within 4e-7 of tanh (relative; numpy's np.tanh: 6e-8),
# odd to the bit. Arithmetic only, so a layer's loop vectorizes: 0.35 ns a value where math.tanh took 4-12 ns,
# most of a tanh CNN's cycle at d = 8 (22,000 activations per inference).
_TANH_CLAMP = np.float32(7.90531110763549805)
_TA1, _TA3, _TA5, _TA7 = (np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04),
                          np.float32(1.48572235717979e-05), np.float32(5.12229709037114e-08))
_TA9, _TA11, _TA13 = np.float32(-8.60467152213735e-11), np.float32(2.00018790482477e-13), \
    np.float32(-2.76076847742355e-16)
_TB0, _TB2, _TB4, _TB6 = (np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03),
                          np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06))


@nb.njit(**_INLINE)
def tanh32(v: np.float32) -> np.float32:
    x = minimum(maximum(v, -_TANH_CLAMP), _TANH_CLAMP)  # selects: numba's min and max are calls
    x2 = x * x
    p = x * ((((((x2 * _TA13 + _TA11) * x2 + _TA9) * x2 + _TA7) * x2 + _TA5) * x2 + _TA3) * x2 + _TA1)
    q = ((x2 * _TB6 + _TB4) * x2 + _TB2) * x2 + _TB0
    return p / q


@nb.njit(**_INLINE)
def activate(code: int, v: np.float32) -> np.float32:
    """One activation (the same arithmetic as :func:`activate_all`'s loops)."""
    if code == 1:
        return v if v > 0 else np.float32(0.0)
    if code == 2:
        return tanh32(v)
    if code == 3:
        return np.float32(1.0 / (1.0 + math.exp(-v)))
    return v


@nb.njit(**_JIT)
def activate_all(code: int, src: np.ndarray, dst: np.ndarray) -> None:
    """dst = the activation of src, element by element: one loop per activation, so each vectorizes."""
    n = src.size
    if code == 1:
        for j in range(n):
            v = src[j]
            dst[j] = v if v > 0 else np.float32(0.0)
    elif code == 2:
        for j in range(n):
            dst[j] = tanh32(src[j])
    elif code == 3:
        for j in range(n):
            dst[j] = np.float32(1.0 / (1.0 + math.exp(-src[j])))
    else:
        for j in range(n):
            dst[j] = src[j]


@nb.njit(**_INLINE)
def through(code: int, g: np.float32, z: np.float32, h: np.float32) -> np.float32:
    """g · the activation's derivative at z (h = the activation of z): relu' = [z > 0], tanh' = 1 - h²,
    sigmoid' = h·(1 - h), each rounded in float32 before the product, as numpy's g * f'(z, h) rounds them."""
    if code == 1:
        return g * (np.float32(1.0) if z > 0 else np.float32(0.0))
    if code == 2:
        return g * (np.float32(1.0) - h * h)
    if code == 3:
        return g * (h * (np.float32(1.0) - h))
    return g


@nb.njit(**_JIT)
def backpropagate(code: int, g: np.ndarray, z: np.ndarray, h: np.ndarray, out: np.ndarray) -> None:
    """out = :func:`through` element by element: backprop's step through an activation in one loop, where
    numpy's derivative and product made two or three temporaries a layer (docs/performance.md, ninth
    session). One loop per activation, so each vectorizes."""
    n = g.size
    if code == 1:
        for j in range(n):
            out[j] = through(1, g[j], z[j], h[j])
    elif code == 2:
        for j in range(n):
            out[j] = through(2, g[j], z[j], h[j])
    elif code == 3:
        for j in range(n):
            out[j] = through(3, g[j], z[j], h[j])
    else:
        for j in range(n):
            out[j] = g[j]
