"""Weights on non-volatile devices: pulse responses, noise, variation, wear and failure, as whole arrays.

A device state p in [0, 1] is its conductance as a fraction of its range. A weight is held by one device
(offset mapping: w = w_mid + (p - 1/2)·range·gain) or by a differential pair (w = w_max·(p+·gain+ − p−·gain−),
where an increase potentiates G+ and a decrease potentiates G−, as in PCM pair synapses).

The write controller programs open loop: it turns a requested weight change into a whole number of nominal
steps (the remainder stays in a per-device residual, or is rounded stochastically) and sends that many
pulses; what the device does with them follows its pulse-response model, its own (fixed) step size and
range, and cycle-to-cycle noise. An analog device (``levels: null``) takes any change in one pulse.
Each pulse counts against the device's endurance; a device past its limit fails and stays failed.

All of it is :mod:`neurosim.kernels.devices`, the one compiled implementation the chip-mode kernels use
too; this class holds one array's state and calls it. Its plain-numpy twin lives in the tests.
"""

from __future__ import annotations

import numpy as np

from neurosim.kernels import devices as kernel
from neurosim.spec.chip import WeightsSpec


class DeviceArray:
    """The devices of one weight array (a layer's weight matrix or its bias row), the chip's weights
    ``offset`` to ``offset + size``: write noise and stochastic rounding are drawn from (``write_key``, the
    array's write number, device index), read noise from (``read_key``, the chip's read number, weight
    index)."""

    def __init__(self, spec: WeightsSpec, initial: np.ndarray, variation: np.random.Generator,
                 write_key: int = 0, read_key: int = 0, offset: int = 0) -> None:
        self.spec = spec
        device = spec.device
        self.write_key, self.read_key, self.offset = np.uint64(write_key), np.uint64(read_key), offset
        self.dc, self.di = kernel.constants(spec)
        self.shape = initial.shape
        self.pair = spec.encoding == "pair"
        n_dev = 2 if self.pair else 1
        dev_shape = (n_dev, *self.shape)
        self.levels = device.levels
        self.step_p = None if device.levels is None else 1.0 / (device.levels - 1)
        self.range = spec.w_max - spec.w_min
        # weight change of one nominal device step
        self.step_w = None if self.step_p is None else self.step_p * (spec.w_max if self.pair else self.range)
        # fixed per chip instance: device-to-device variation, endurance limits
        self.gain = self._spread(variation, device.range_variation, dev_shape)
        self.step_scale = self._spread(variation, device.step_variation, dev_shape)
        if device.endurance_spread > 0:
            self.endurance = device.endurance_cycles * np.exp(
                variation.standard_normal(dev_shape) * device.endurance_spread)
        else:
            self.endurance = np.full(dev_shape, device.endurance_cycles)
        self._state = np.zeros(dev_shape, dtype=np.float64)
        self._state_stale = False
        self.residual = np.zeros(self.shape, dtype=np.float64)
        self.writes = np.zeros(dev_shape, dtype=np.int64)
        self.failed = np.zeros(dev_shape, dtype=bool)
        self.updates = 0  # writes so far: the counter of this array's write-noise and rounding draws
        self._scratch = kernel.scratch(int(np.prod(self.shape)))  # the write kernel's working arrays
        self._program(initial.astype(np.float64))
        self.value = self._weights()
        # the ideal case (analog, one device, no variation or noise) needs no device state at all
        self.fast = bool(self.di[kernel.I_IDEAL])
        self._ideal_constants = (np.float32(spec.w_min), np.float32(spec.w_max), self.di[kernel.I_FAIL])

    @property
    def state(self) -> np.ndarray:
        """Normalised device states p in [0, 1], shape (devices per weight, *weight shape)."""
        if self._state_stale:  # the ideal path keeps only the weights; derive the states when asked
            mid = 0.5 * (self.spec.w_max + self.spec.w_min)
            self._state[0] = 0.5 + (self.value.astype(np.float64) - mid) / self.range
            self._state_stale = False
        return self._state

    @state.setter
    def state(self, value: np.ndarray) -> None:
        self._state = value
        self._state_stale = False

    @staticmethod
    def _spread(rng: np.random.Generator, sigma: float, shape: tuple[int, ...]) -> np.ndarray:
        if sigma <= 0:
            return np.ones(shape)
        return np.maximum(1.0 + sigma * rng.standard_normal(shape), 0.0)

    def _program(self, w: np.ndarray) -> None:
        """Initial (factory) programming to the nearest level; not counted as wear."""
        kernel.program(self.dc, self.di, np.ascontiguousarray(w, dtype=np.float64).reshape(-1), self._flat("state"),
                       self._flat("gain"))

    def _flat(self, name: str) -> np.ndarray:
        """One of the per-device arrays as (devices per weight, weights): a view, for the kernel."""
        array = self.state if name == "state" else getattr(self, name)
        flat = array.reshape(array.shape[0], -1)
        if not np.may_share_memory(flat, array):  # a copy would take the kernel's writes away
            raise RuntimeError(f"DeviceArray.{name}: not a view of the array")
        return flat

    def _weights(self) -> np.ndarray:
        value = np.empty(self.shape, dtype=np.float32)
        kernel.weights(self.dc, self.di, self._flat("state"), self._flat("gain"), value.reshape(-1))
        return value

    def write(self, delta: np.ndarray) -> np.ndarray:
        """Apply a requested change; return the pulses sent to each weight (>= 0, per weight). The weights
        are a new array: earlier reads keep the old ones."""
        return self.write_counted(delta)[0]

    def write_counted(self, delta: np.ndarray, per_weight: bool = True) -> tuple[np.ndarray | None, int, int]:
        """:meth:`write`, also returning the pulses in all and the most any weight took, as the kernel counts
        them (the chip's ledger needs those, not another sweep over the pulses). ``per_weight=False``: no
        array of each weight's pulses (None) where the ideal devices' write need not make one (a chip whose
        devices are all written at once needs only the most)."""
        if delta.shape != self.shape:  # a step broadcast over the array, as numpy's old + delta did
            delta = np.broadcast_to(delta, self.shape)
        delta = np.array(delta, dtype=np.float32, order="C")  # a copy: the ideal write consumes it
        new = self.value.copy()
        if self.fast:
            pulses = np.not_equal(delta, 0).astype(np.int64) if per_weight else None
            total = kernel.write_ideal(new.reshape(-1), delta.reshape(-1), self.writes.reshape(-1),
                                       self.endurance.reshape(-1), self.failed.reshape(-1), *self._ideal_constants)
            most = 1 if total else 0  # one pulse per changed weight
            self._state_stale = True
        else:
            pulses = np.empty(self.shape, dtype=np.int64)
            total, most = kernel.write(self.dc, self.di, self.write_key, self.updates, self.offset,
                                       delta.reshape(-1), self._flat("state"), self._flat("gain"),
                                       self._flat("step_scale"), self._flat("endurance"), self._flat("writes"),
                                       self._flat("failed"), self.residual.reshape(-1), new.reshape(-1),
                                       pulses.reshape(-1), *self._scratch)
        self.updates += 1
        self.value = new
        return pulses, int(total), int(most)

    def checkpoint(self) -> dict:
        return {"state": self.state.copy(), "value": self.value.copy(), "residual": self.residual.copy(),
                "writes": self.writes.copy(), "failed": self.failed.copy(), "updates": self.updates,
                "gain": self.gain, "step_scale": self.step_scale, "endurance": self.endurance}

    def restore(self, saved: dict) -> None:
        """Back to a checkpoint, in place (the arrays may be views shared with compiled kernels)."""
        np.copyto(self._state, saved["state"])
        self._state_stale = False
        for name in ("value", "writes", "residual", "gain", "step_scale", "endurance"):
            np.copyto(getattr(self, name), saved[name])
        np.copyto(self.failed, saved["failed"].astype(bool))
        self.updates = int(saved.get("updates", 0))

    def read(self, counter: int) -> np.ndarray:
        """The weights as inference number ``counter`` reads them (read noise, if any, is fresh at every
        read: a new array)."""
        sigma = self.dc[kernel.D_READ_SIGMA_W]
        if sigma <= 0:
            return self.value
        out = np.empty(self.shape, dtype=np.float32)
        kernel.read(self.value.reshape(-1), self.read_key, counter, self.offset, np.float32(sigma),
                    out.reshape(-1))
        return out
