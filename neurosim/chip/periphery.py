"""The circuits around the crossbars: the cost ADC and the per-synapse accumulators."""

from __future__ import annotations

import math

import numpy as np

from neurosim.kernels.periphery import accumulate, measure_cost, measure_costs
from neurosim.kernels.rng import stream_base
from neurosim.spec.chip import AccumulatorSpec, CostCircuitSpec


def layer_views(flat: np.ndarray,
                shapes: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every layer's (weights, bias) as views of one flat array in network order, a layer's weights and then
    its bias: how the accumulators, the optimizer's moments and the update they make are laid out."""
    out, at = [], 0
    for w_shape, b_shape in shapes:
        w_size, b_size = math.prod(w_shape), math.prod(b_shape)
        out.append((flat[at:at + w_size].reshape(w_shape), flat[at + w_size:at + w_size + b_size]))
        at += w_size + b_size
    return out


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
        self.shapes = [(w.shape, b.shape) for w, b in shapes]
        self.values = layer_views(self.flat, self.shapes)
        self.ideal = spec.ideal
        self._scales: tuple | None = None  # the layers' scales of the last take, and per element
        self._scale_each = np.zeros(0, np.float32)
        self.lsb = None if spec.bits is None else spec.full_scale / 2 ** (spec.bits - 1)
        self.full_scale, self.lsb_f32 = accumulator_limits(spec)

    def add(self, index: int, dw: np.ndarray, db: np.ndarray, scale: float, dt_s: float = 0.0) -> None:
        """S ← leak(S) + scale·(dw, db), then saturate and quantise."""
        for acc, inc in zip(self.values[index], (dw, db)):
            leak = leak_factor(self.spec, dt_s)
            accumulate(acc.reshape(-1), np.ascontiguousarray(inc, dtype=np.float32).reshape(-1), np.float32(scale),
                       leak, self.full_scale, self.lsb_f32)

    def add_flat(self, inc: np.ndarray, dt_s: float = 0.0) -> None:
        """S ← leak(S) + inc for every accumulator of the network at once (``inc`` flat in network order,
        float32): :meth:`add` of every layer with its scale already in ``inc``, in one compiled sweep."""
        accumulate(self.flat, inc, np.float32(1.0), leak_factor(self.spec, dt_s), self.full_scale, self.lsb_f32)

    def take_flat(self, scales: list[float]) -> np.ndarray:
        """Every accumulator times its layer's scale, flat in network order (a new float32 array), and reset:
        two sweeps of the whole network, where one per layer's weights and bias cost 36 numpy calls at the
        paper CNN's nine layers."""
        key = tuple(scales)
        if key != self._scales:  # the per-element scales, made again only when a layer's scale changes
            sizes = [w.size + b.size for w, b in self.values]
            self._scale_each = np.repeat(np.array([np.float32(s) for s in scales], np.float32), sizes)
            self._scales = key
        out = self.flat * self._scale_each
        self.flat.fill(0.0)
        return out

    def take(self, scales: list[float]) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`take_flat`, as every layer's (weights, bias)."""
        return layer_views(self.take_flat(scales), self.shapes)


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
