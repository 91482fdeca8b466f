"""The circuits around the crossbars: the cost ADC and the per-synapse accumulators."""

from __future__ import annotations

import numpy as np

from neurosim.kernels.updates import scaled_add
from neurosim.spec.chip import AccumulatorSpec, CostCircuitSpec


class CostCircuit:
    """Turns the exact cost into what the chip measures: noise, clipping to the ADC range, quantisation."""

    def __init__(self, spec: CostCircuitSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.rng = rng
        self.ideal = spec.bits is None and spec.noise == 0

    def measure(self, cost: float) -> float:
        if self.ideal:
            return cost
        spec = self.spec
        if spec.noise > 0:
            cost += spec.noise * float(self.rng.standard_normal())
        if spec.bits is None:
            return cost
        lsb = spec.full_scale / (2 ** spec.bits - 1)
        return float(np.round(min(max(cost, 0.0), spec.full_scale) / lsb) * lsb)

    def measure_each(self, costs: np.ndarray) -> np.ndarray:
        """Each sample's cost as measured, one after another (float64)."""
        if self.ideal:
            return costs
        return np.array([self.measure(float(c)) for c in costs])


class Accumulators:
    """S = Σ ΔC·(perturbation sign) per synapse (node perturbation: × the synapse input), between updates.

    Optional hardware limits: a leak with time constant ``leak_time``, saturation at ±``full_scale`` and a
    resolution of ``bits`` over that range. Stored in float32, like the rest of the hot path.
    """

    def __init__(self, spec: AccumulatorSpec, shapes: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.spec = spec
        # one flat array, every layer's (weights, bias) a view of it in network order: chip mode adds a
        # whole network's ΔC·s in one pass (add_all)
        self.flat = np.zeros(sum(w.size + b.size for w, b in shapes), np.float32)
        self.values, at = [], 0
        for w, b in shapes:
            self.values.append((self.flat[at:at + w.size].reshape(w.shape), self.flat[at + w.size:at + w.size + b.size]))
            at += w.size + b.size
        self.ideal = spec.full_scale is None and spec.leak_time_s is None
        self.lsb = None if spec.bits is None else spec.full_scale / 2 ** (spec.bits - 1)

    def add_all(self, flat: np.ndarray, scale: float) -> None:
        """Ideal accumulators only: S ← S + scale·s for every synapse of the network at once, ``flat`` in
        network order (each layer's weights, then its bias); the same roundings as :meth:`add` per layer."""
        if not self.ideal:
            raise ValueError("only ideal accumulators add a whole network at once")
        scaled_add(self.flat, np.float32(scale), flat)

    def add(self, index: int, dw: np.ndarray, db: np.ndarray, scale: float, dt_s: float = 0.0) -> None:
        """S ← leak(S) + scale·(dw, db), then saturate and quantise."""
        for acc, inc in zip(self.values[index], (dw, db)):
            if self.spec.leak_time_s is not None and dt_s > 0:
                acc *= np.float32(np.exp(-dt_s / self.spec.leak_time_s))
            acc += np.float32(scale) * inc
            if self.spec.full_scale is not None:
                np.clip(acc, -self.spec.full_scale, self.spec.full_scale, out=acc)
            if self.lsb is not None:
                np.round(acc / np.float32(self.lsb), out=acc)
                acc *= np.float32(self.lsb)

    def take(self, scales: list[float]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Read every accumulator times its scale, and reset it."""
        out = []
        for (w, b), s in zip(self.values, scales):
            out.append((w * np.float32(s), b * np.float32(s)))
            w.fill(0.0)
            b.fill(0.0)
        return out
