"""Per-synapse updates of whole arrays, outside the MAC: the accumulators' ΔC·s (the devices' writes are
:mod:`neurosim.kernels.devices`).

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
