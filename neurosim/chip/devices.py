"""Weights on non-volatile devices: pulse responses, noise, variation, wear and failure, as whole arrays.

A device state p in [0, 1] is its conductance as a fraction of its range. A weight is held by one device
(offset mapping: w = w_mid + (p - 1/2)·range·gain) or by a differential pair (w = w_max·(p+·gain+ − p−·gain−),
where an increase potentiates G+ and a decrease potentiates G−, as in PCM pair synapses).

The write controller programs open loop: it turns a requested weight change into a whole number of nominal
steps (the remainder stays in a per-device residual, or is rounded stochastically) and sends that many
pulses; what the device does with them follows its pulse-response model, its own (fixed) step size and
range, and cycle-to-cycle noise. An analog device (``levels: null``) takes any change in one pulse.
Each pulse counts against the device's endurance; a device past its limit fails and stays failed.
"""

from __future__ import annotations

import numpy as np

from neurosim.kernels.updates import write_analog
from neurosim.spec.chip import WeightsSpec


def exp_curve(pulses: np.ndarray, a: float, p_max: float) -> np.ndarray:
    """NeuroSim's potentiation curve p(P) = (1 − e^(−P/A)) / (1 − e^(−Pmax/A)); A = inf is linear."""
    if not np.isfinite(a):
        return pulses / p_max
    return -np.expm1(-pulses / a) / -np.expm1(-p_max / a)


def exp_curve_inverse(p: np.ndarray, a: float, p_max: float) -> np.ndarray:
    if not np.isfinite(a):
        return p * p_max
    return -a * np.log1p(p * np.expm1(-p_max / a))


class DeviceArray:
    """The devices of one weight array (a layer's weight matrix or its bias row)."""

    def __init__(self, spec: WeightsSpec, initial: np.ndarray, variation: np.random.Generator,
                 noise: np.random.Generator) -> None:
        self.spec = spec
        device = spec.device
        self.noise = noise
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
        self._program(initial.astype(np.float64))
        self.value = self._weights()
        # the ideal case (analog, one device, no variation or noise) needs no device state at all
        self.fast = (self.step_p is None and not self.pair and device.write_noise == 0
                     and device.range_variation == 0)
        self.writes_bound = 0  # an upper bound of writes.max(), so wear-out is checked only when it can happen
        self.first_limit = float(self.endurance.min())

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
        spec = self.spec
        if self.pair:
            self.state[0] = np.maximum(w, 0.0) / spec.w_max / self.gain[0]
            self.state[1] = np.maximum(-w, 0.0) / spec.w_max / self.gain[1]
        else:
            mid = 0.5 * (spec.w_max + spec.w_min)
            self.state[0] = 0.5 + (w - mid) / (self.range * self.gain[0])
        np.clip(self.state, 0.0, 1.0, out=self.state)
        if self.step_p is not None:
            self.state = np.round(self.state / self.step_p) * self.step_p

    def _weights(self) -> np.ndarray:
        spec = self.spec
        g = self.state * self.gain
        if self.pair:
            w = spec.w_max * (g[0] - g[1])
        else:
            w = 0.5 * (spec.w_max + spec.w_min) + (self.state[0] - 0.5) * self.range * self.gain[0]
        return w.astype(np.float32)

    def pulses_for(self, delta: np.ndarray) -> np.ndarray:
        """Signed whole pulses the controller sends for a requested weight change (updates the residual)."""
        if self.step_w is None:
            return np.sign(delta).astype(np.int64)
        wanted = self.residual + delta.astype(np.float64) / self.step_w
        if self.spec.write.rounding == "stochastic":
            low = np.floor(wanted)
            pulses = low + (self.noise.random(wanted.shape) < (wanted - low))
            self.residual[:] = 0.0
        else:
            nearest = np.round(wanted)  # a request of k steps that rounding put a hair below k is k steps
            pulses = np.where(np.abs(wanted - nearest) < 1e-6, nearest, np.trunc(wanted))
            self.residual = wanted - pulses
        return pulses.astype(np.int64)

    def write(self, delta: np.ndarray) -> np.ndarray:
        """Apply a requested change; return the pulses sent to each weight (>= 0, per weight)."""
        if self.fast:
            return self._write_ideal(delta)
        pulses = self.pulses_for(delta)
        count = np.abs(pulses)
        if self.pair:
            target = np.stack([pulses > 0, pulses < 0])   # which device of the pair is potentiated
            dev_pulses = np.where(target, count, 0)
            direction = np.ones_like(dev_pulses)
        else:
            dev_pulses = count[None]
            direction = np.sign(pulses)[None]
        # a device takes pulses until its limit; the one that reaches it is its last to land
        landing = np.minimum(dev_pulses, np.maximum(np.ceil(self.endurance) - self.writes, 0)).astype(np.int64)
        self.writes += dev_pulses
        live = (landing > 0) & ~self.failed
        if np.any(live):
            new = self._respond(delta * (landing.max(axis=0) / np.maximum(count, 1)), landing, direction)
            self.state = np.where(live, new, self.state)
        most = int(dev_pulses.max(initial=0))
        if self.pair and self.spec.refresh_threshold is not None:
            extra = self._refresh()
            count = count + extra
            most += int(extra.max(initial=0))
        self._check_wear(most)
        self.value = self._weights()
        return count

    def _write_ideal(self, delta: np.ndarray) -> np.ndarray:
        """Analog single devices without noise or variation: the weight is the state, one pulse per change."""
        pulses = np.empty(self.shape, dtype=np.int64)
        new = np.empty(self.shape, dtype=np.float32)  # a new array: earlier reads keep the old weights
        if delta.shape != self.shape:  # a step broadcast over the array, as numpy's old + delta did
            delta = np.broadcast_to(delta, self.shape)
        delta = np.ascontiguousarray(delta)
        any_failed = write_analog(self.value.reshape(-1), delta.reshape(-1), self.spec.w_min,
                                  self.spec.w_max, self.failed[0].reshape(-1), new.reshape(-1), pulses.reshape(-1),
                                  self.writes[0].reshape(-1))
        self.value = new
        self._state_stale = True
        if self._check_wear(1) or any_failed:
            self.value = self._weights()
        return pulses

    def _check_wear(self, most_pulses: int) -> bool:
        """Fail the devices past their endurance, looking only once one may be; whether any device failed now."""
        self.writes_bound += most_pulses
        if self.writes_bound < self.first_limit:
            return False
        self.writes_bound = int(self.writes.max())
        newly = ~self.failed & (self.writes >= self.endurance)
        if np.any(newly):
            self._fail(newly)
            return True
        return False

    def _refresh(self) -> np.ndarray:
        """Reset pairs whose devices ran up to the threshold and reprogram the weight onto one device:
        a reset pulse for each device and the programming pulses of the one that carries the weight."""
        # due: a device ran up to the threshold while its partner also holds conductance (range wasted on
        # cancellation); after a refresh the partner is empty, so a large weight alone never re-triggers it
        due = ((self.state.max(axis=0) >= self.spec.refresh_threshold) & (self.state.min(axis=0) > 0)
               & ~self.failed.any(axis=0))
        if not np.any(due):
            return np.zeros(self.shape, dtype=np.int64)
        w = self._weights().astype(np.float64)
        before = self.state.copy()
        self._program(w)
        self.state = np.where(due, self.state, before)
        # programming pulses per device: whole steps, or one analog pulse for a device that holds anything
        programming = (np.round(self.state / self.step_p) if self.step_p else (self.state > 0)).astype(np.int64)
        per_device = np.where(due, 1 + programming, 0)        # a reset, then the programming pulses
        self.writes += per_device
        extra = per_device.sum(axis=0)
        return extra

    def _respond(self, delta: np.ndarray, n: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Device states after n pulses in ``direction`` (+1 potentiate, −1 depress)."""
        device = self.spec.device
        p = self.state
        if self.step_p is None:  # analog: the requested change, scaled by this device's own range
            share = np.abs(delta.astype(np.float64)) / (self.spec.w_max if self.pair else self.range)
            change = np.broadcast_to(share, p.shape) / self.gain * direction
            new = p + change
            if device.write_noise > 0:
                new = new + device.write_noise * self.noise.standard_normal(p.shape)
            return np.clip(new, 0.0, 1.0)
        up = direction > 0
        effective = n * self.step_scale * np.where(up, 1.0 + device.asymmetry, 1.0 - device.asymmetry)
        if device.model == "linear":
            new = p + direction * effective * self.step_p
        elif device.model == "soft_bounds":
            shrink = (1.0 - 2.0 * self.step_p) ** effective   # step = nominal at mid-range
            new = np.where(up, 1.0 - (1.0 - p) * shrink, p * shrink)
        else:
            p_max = float(self.levels - 1)
            a_up = p_max / device.nonlinearity_up if device.nonlinearity_up != 0 else np.inf
            a_dn = p_max / device.nonlinearity_down if device.nonlinearity_down != 0 else np.inf
            pot = exp_curve(np.minimum(exp_curve_inverse(p, a_up, p_max) + effective, p_max), a_up, p_max)
            dep = 1.0 - exp_curve(np.minimum(exp_curve_inverse(1.0 - p, a_dn, p_max) + effective, p_max),
                                  a_dn, p_max)
            new = np.where(up, pot, dep)
        if device.write_noise > 0:
            new = new + device.write_noise * self.step_p * np.sqrt(n) * self.noise.standard_normal(p.shape)
        return np.clip(new, 0.0, 1.0)

    def _fail(self, newly: np.ndarray) -> None:
        mode = self.spec.device.failure_mode
        if mode == "low":
            self.state = np.where(newly, 0.0, self.state)
        elif mode == "high":
            self.state = np.where(newly, 1.0, self.state)
        self.failed |= newly

    def checkpoint(self) -> dict:
        return {"state": self.state.copy(), "value": self.value.copy(), "residual": self.residual.copy(),
                "writes": self.writes.copy(), "failed": self.failed.copy(), "writes_bound": self.writes_bound,
                "gain": self.gain, "step_scale": self.step_scale, "endurance": self.endurance}

    def restore(self, saved: dict) -> None:
        """Back to a checkpoint, in place (the arrays may be views shared with compiled kernels)."""
        self._state = saved["state"].copy()
        self._state_stale = False
        np.copyto(self.value, saved["value"])
        np.copyto(self.writes, saved["writes"])
        self.residual = saved["residual"].copy()
        np.copyto(self.failed, saved["failed"].astype(bool))
        self.writes_bound = int(saved["writes_bound"])
        self.gain, self.step_scale, self.endurance = saved["gain"], saved["step_scale"], saved["endurance"]
        self.first_limit = float(self.endurance.min())

    def read(self, rng: np.random.Generator) -> np.ndarray:
        """The weights as one inference reads them (read noise, if any, is fresh at every read)."""
        sigma = self.spec.device.read_noise
        if sigma <= 0:
            return self.value
        return (self.value + np.float32(sigma * self.range) * rng.standard_normal(self.shape,
                                                                                 dtype=np.float32))
