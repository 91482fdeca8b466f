"""The periphery's arithmetic, compiled once for both engine paths: the cost circuit (noise, ADC range and
resolution) and the per-synapse accumulators (leak, saturation, resolution).

:class:`~neurosim.chip.periphery.CostCircuit` and :class:`~neurosim.chip.periphery.Accumulators` call these
array by array; the compiled chip-mode cycle (:mod:`neurosim.kernels.chipmode`) inlines the same functions
for every measurement and every synapse. Cost noise is counter-based (:mod:`neurosim.kernels.rng`): the n-th
measurement of a run draws element n of the cost-noise stream, so a resumed run draws what an uninterrupted
one does, with no generator state to save.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from neurosim.kernels.rng import normal_at
from neurosim.kernels.vecmath import maximum, minimum

_JIT = {"nogil": True, "cache": True}
_INLINE = {**_JIT, "inline": "always"}
_ROUND_MAGIC = 6755399441055744.0  # 1.5·2^52: x + it − it rounds x to an integer, ties to even (|x| < 2^51)


@nb.njit(**_INLINE)
def round_half_even(x: float) -> float:
    """numpy's round (to the nearest integer, ties to even), without a branch."""
    rounded = (x + _ROUND_MAGIC) - _ROUND_MAGIC
    return x if abs(x) >= 2.0 ** 51 else rounded


@nb.njit(**_INLINE)
def measure_cost(cost: float, noise: float, bits: int, full_scale: float, noise_base: np.uint64,
                 counter: int) -> float:
    """The cost as the cost circuit reports it: plus noise of std ``noise`` (measurement number ``counter``'s
    draw), then, with an ADC (``bits`` > 0), clipped to [0, full_scale] and rounded to one of its 2^bits
    levels (LSB = full_scale / (2^bits − 1)); float64 throughout."""
    if noise > 0:
        cost += noise * normal_at(noise_base, np.uint64(counter))
    if bits <= 0:
        return cost
    lsb = full_scale / (2.0 ** bits - 1.0)
    return round_half_even(min(max(cost, 0.0), full_scale) / lsb) * lsb


@nb.njit(**_JIT)
def measure_costs(costs: np.ndarray, noise: float, bits: int, full_scale: float, noise_base: np.uint64,
                  first_counter: int, out: np.ndarray) -> None:
    """Measurements ``first_counter``, +1, ... of each cost of a batch, in order."""
    for k in range(costs.size):
        out[k] = measure_cost(costs[k], noise, bits, full_scale, noise_base, first_counter + k)


@nb.njit(**_INLINE)
def limit(a: np.float32, full_scale: np.float32, lsb: np.float32) -> np.float32:
    """An accumulator's value after saturation at ±full_scale (inf: none) and rounding to its resolution
    (lsb 0: exact), in float32."""
    a = minimum(maximum(a, -full_scale), full_scale)  # selects: numba's min and max are calls
    if lsb > 0:
        a = np.float32(round_half_even(a / lsb)) * lsb
    return a


@nb.njit(**_JIT)
def accumulate(acc: np.ndarray, inc: np.ndarray, scale: np.float32, leak: np.float32, full_scale: np.float32,
               lsb: np.float32) -> None:
    """S ← limit(leak·S + scale·inc) for every accumulator of a flat range (float32): ``leak`` the factor
    e^(−dt/τ) of the time since the last addition (1: no leak)."""
    if acc.size != inc.size:
        raise ValueError("accumulate: the arrays differ in size")
    for k in range(acc.size):
        acc[k] = limit(acc[k] * leak + scale * inc[k], full_scale, lsb)
