"""The circuits around the crossbars: the cost ADC and the per-synapse accumulators."""

from __future__ import annotations

import numpy as np

from neurosim.kernels.periphery import accumulate, measure_cost, measure_costs
from neurosim.kernels.rng import stream_base
from neurosim.spec.chip import AccumulatorSpec, CostCircuitSpec


class CostCircuit:
    """Turns the exact cost into what the chip measures: noise, clipping to the ADC range, quantisation
    (:func:`neurosim.kernels.periphery.measure_cost`). ``measurements`` counts them: the n-th draws element
    n of the cost-noise stream of ``key``."""

    def __init__(self, spec: CostCircuitSpec, key: np.uint64) -> None:
        self.spec = spec
        self.noise_base = np.uint64(stream_base(np.uint64(key), np.uint64(0)))  # uint64: a Python int would type as int64
        self.ideal = spec.bits is None and spec.noise == 0
        self.bits = 0 if spec.bits is None else int(spec.bits)
        self.measurements = 0

    def measure(self, cost: float) -> float:
        if self.ideal:
            return cost
        self.measurements += 1
        return float(measure_cost(cost, self.spec.noise, self.bits, self.spec.full_scale, self.noise_base,
                                  self.measurements - 1))

    def measure_each(self, costs: np.ndarray) -> np.ndarray:
        """Each sample's cost as measured, one after another (float64)."""
        if self.ideal:
            return costs
        out = np.empty(costs.size)
        measure_costs(np.ascontiguousarray(costs, dtype=np.float64), self.spec.noise, self.bits,
                      self.spec.full_scale, self.noise_base, self.measurements, out)
        self.measurements += costs.size
        return out


class Accumulators:
    """S = Σ ΔC·(perturbation sign) per synapse (node perturbation: × the synapse input), between updates.

    Optional hardware limits: a leak with time constant ``leak_time``, saturation at ±``full_scale`` and a
    resolution of ``bits`` over that range. Stored in float32, like the rest of the hot path.
    """

    def __init__(self, spec: AccumulatorSpec, shapes: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.spec = spec
        # one flat array, every layer's (weights, bias) a view of it in network order
        self.flat = np.zeros(sum(w.size + b.size for w, b in shapes), np.float32)
        self.values, at = [], 0
        for w, b in shapes:
            self.values.append((self.flat[at:at + w.size].reshape(w.shape), self.flat[at + w.size:at + w.size + b.size]))
            at += w.size + b.size
        self.ideal = spec.ideal
        self.lsb = None if spec.bits is None else spec.full_scale / 2 ** (spec.bits - 1)
        self.full_scale, self.lsb_f32 = accumulator_limits(spec)

    def add(self, index: int, dw: np.ndarray, db: np.ndarray, scale: float, dt_s: float = 0.0) -> None:
        """S ← leak(S) + scale·(dw, db), then saturate and quantise."""
        for acc, inc in zip(self.values[index], (dw, db)):
            leak = leak_factor(self.spec, dt_s)
            accumulate(acc.reshape(-1), np.ascontiguousarray(inc, dtype=np.float32).reshape(-1), np.float32(scale),
                       leak, self.full_scale, self.lsb_f32)

    def take(self, scales: list[float]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Read every accumulator times its scale, and reset it."""
        out = []
        for (w, b), s in zip(self.values, scales):
            out.append((w * np.float32(s), b * np.float32(s)))
            w.fill(0.0)
            b.fill(0.0)
        return out


def accumulator_limits(spec: AccumulatorSpec) -> tuple[np.float32, np.float32]:
    """(full scale, LSB) as the accumulation kernels take them, float32: inf (no saturation) and 0 (exact)
    where the spec has none; LSB = full_scale / 2^(bits − 1) (signed)."""
    full_scale = np.float32(np.inf if spec.full_scale is None else spec.full_scale)
    lsb = np.float32(0.0 if spec.bits is None else spec.full_scale / 2 ** (spec.bits - 1))
    return full_scale, lsb


def leak_factor(spec: AccumulatorSpec, dt_s: float) -> np.float32:
    """e^(−dt/τ) in float32: what is left of S after dt_s seconds (1: no leak)."""
    if spec.leak_time_s is None or dt_s <= 0:
        return np.float32(1.0)
    return np.float32(np.exp(-dt_s / spec.leak_time_s))
