"""Per-synapse updates of whole arrays, outside the MAC: the accumulators' ΔC·s and the devices' writes.

Each replaces several numpy operations (and their temporaries) by one compiled pass with the same
roundings, on the Python path's once-per-cycle or once-per-update work.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_JIT = {"nogil": True, "cache": True, "fastmath": False}


@nb.njit(**_JIT)
def scaled_add(y: np.ndarray, a: np.float32, x: np.ndarray) -> None:
    """y += a·x on flat float32 arrays, in one pass (numpy's ``y += a * x`` makes a temporary): a
    per-cycle accumulation without an allocation. The same rounding: a·x is rounded, then the sum."""
    if x.size != y.size:
        raise ValueError("scaled_add: y and x differ in size")
    for i in range(y.size):
        y[i] += a * x[i]


@nb.njit(**_JIT)
def write_analog(old: np.ndarray, delta: np.ndarray, w_min: float, w_max: float, failed: np.ndarray,
                 new: np.ndarray, pulses: np.ndarray, writes: np.ndarray) -> bool:
    """One update of ideal analog devices (flat arrays): new = clip(old + delta) in one pulse per changed
    weight, a failed device keeping its weight; ``writes`` counts the pulses. The same roundings as numpy's
    ``np.clip(old + delta, w_min, w_max)``. Returns whether any device had failed."""
    n = old.size
    if delta.size != n or failed.size != n or new.size != n or pulses.size != n or writes.size != n:
        raise ValueError("write_analog: the arrays differ in size")
    any_failed = False
    for k in range(old.size):
        d = delta[k]
        moved = d != 0
        pulses[k] = moved
        writes[k] += moved
        w = old[k]
        if failed[k]:
            any_failed = True
            new[k] = w
        else:
            new[k] = min(max(w + d, w_min), w_max)
    return any_failed
