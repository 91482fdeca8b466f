"""Weights on non-volatile devices: the conductance grid, writes as pulses, and wear per device.

A weight value maps linearly onto the device's conductance range [w_min, w_max]. An analog device
(``levels: null``) takes any value and one programming pulse per changed weight; a device with finite
levels moves in whole steps, the part of an update smaller than a step stays in a per-device residual
until it adds up to a step.
"""

from __future__ import annotations

import numpy as np

from neurosim.spec.chip import WeightsSpec


class DeviceArray:
    """One crossbar array of weight devices (a layer's weights or its bias row)."""

    def __init__(self, spec: WeightsSpec, initial: np.ndarray) -> None:
        self.spec = spec
        levels = spec.device.levels
        self.step = None if levels is None else np.float32((spec.w_max - spec.w_min) / (levels - 1))
        self.value = self.quantize(np.clip(initial, spec.w_min, spec.w_max)).astype(np.float32)
        self.residual = np.zeros_like(self.value) if self.step is not None else None
        self.writes = np.zeros(self.value.shape, dtype=np.int64)

    def quantize(self, w: np.ndarray) -> np.ndarray:
        if self.step is None:
            return w
        lo = np.float32(self.spec.w_min)
        return lo + np.round((w - lo) / self.step) * self.step

    def write(self, delta: np.ndarray) -> int:
        """Apply a requested change; return the pulses it took (also counted per device)."""
        spec = self.spec
        if self.step is None:
            pulses = (delta != 0).astype(np.int64)
            np.clip(self.value + delta, spec.w_min, spec.w_max, out=self.value)
        else:
            wanted = self.residual + delta
            steps = np.trunc(wanted / self.step)
            target = np.clip(self.value + steps * self.step, spec.w_min, spec.w_max)
            taken = np.round((target - self.value) / self.step)
            self.residual = (wanted - steps * self.step).astype(np.float32)
            self.value = self.quantize(target).astype(np.float32)
            pulses = np.abs(taken).astype(np.int64)
        self.writes += pulses
        return int(pulses.sum())
