"""The deterministic perturbation codes' values, compiled once for both engine paths (see
:mod:`neurosim.mgd.perturbations` for the codes and their powers): element i at perturbation step t.

Each code fills a contiguous range of element indices [start, start + n) of a code over k elements;
:func:`fill` picks the code by the integer its class in :mod:`neurosim.mgd.perturbations` carries.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

WALSH, SINUSOIDAL, ONE_AT_A_TIME = 1, 2, 3   # 0: Bernoulli, drawn from the RNG instead

_JIT = {"nogil": True, "cache": True}
_SQRT2 = math.sqrt(2.0)


@nb.njit(**_JIT)
def walsh(start: int, step: int, k: int, out: np.ndarray) -> None:
    """c_i(t) = (-1)^popcount((i+1) & (t mod P)), P the power of two above k."""
    period = 1
    while period <= k:
        period <<= 1
    row = step % period
    for j in range(out.size):
        bits = (start + j + 1) & row
        parity = 0
        while bits:
            parity ^= 1
            bits &= bits - 1
        out[j] = np.float32(1.0 - 2.0 * parity)


@nb.njit(**_JIT)
def sinusoidal(start: int, step: int, k: int, out: np.ndarray) -> None:
    """c_i(t) = sqrt(2)·cos(2π(i+1)t/P), P = 2k + 2."""
    period = 2 * k + 2
    t = float(step % period)
    for j in range(out.size):
        out[j] = np.float32(_SQRT2 * math.cos(2.0 * np.pi * float(start + j + 1) * t / period))


@nb.njit(**_JIT)
def one_at_a_time(start: int, step: int, k: int, out: np.ndarray) -> None:
    """c_i(t) = 1 when i = t mod k, else 0."""
    hot = step % k
    for j in range(out.size):
        out[j] = np.float32(1.0 if start + j == hot else 0.0)


@nb.njit(**_JIT)
def fill(code: int, start: int, step: int, k: int, out: np.ndarray) -> None:
    """The values of deterministic code ``code`` (WALSH, SINUSOIDAL, ONE_AT_A_TIME) into ``out``."""
    if code == WALSH:
        walsh(start, step, k, out)
    elif code == SINUSOIDAL:
        sinusoidal(start, step, k, out)
    elif code == ONE_AT_A_TIME:
        one_at_a_time(start, step, k, out)
    else:
        raise ValueError("codes.fill: not a deterministic code")
