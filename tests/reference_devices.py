"""The plain-numpy twin of neurosim.kernels.devices, for tests: the same device physics on whole arrays, with
the counter-based draws computed in numpy. The compiled kernel must match it (states to float64 rounding
where transcendental functions differ, pulses, wear and failures exactly)."""

from __future__ import annotations

import numpy as np

from neurosim.spec.chip import WeightsSpec

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def stream_base(key: int, counter: int) -> np.uint64:
    with np.errstate(over="ignore"):
        return mix64(np.uint64(key) ^ (np.uint64(counter) * _GOLDEN))


def unit(h: np.ndarray) -> np.ndarray:
    return (np.asarray(h, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def uniform(base: np.uint64, index: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return unit(mix64(base + np.asarray(index, dtype=np.uint64) * _GOLDEN))


def _next(h: int) -> np.uint64:
    with np.errstate(over="ignore"):
        return mix64(np.uint64(h) + _GOLDEN)


def _rejected(h: np.uint64, i: int, u: float) -> float:
    """The ziggurat's wedge and tail, one draw at a time, as the kernel does it."""
    from neurosim.kernels.rng import ZIG_R, ZIG_RATIO, ZIG_STRIPS, ZIG_X
    while True:
        if i == 0:
            while True:
                h = _next(h)
                x = np.log(1.0 - unit(h)) / ZIG_R
                h = _next(h)
                y = np.log(1.0 - unit(h))
                if -2.0 * y >= x * x:
                    return float(x - ZIG_R if u < 0 else ZIG_R - x)
        x = u * ZIG_X[i]
        f0 = np.exp(-0.5 * (ZIG_X[i] * ZIG_X[i] - x * x))
        f1 = np.exp(-0.5 * (ZIG_X[i + 1] * ZIG_X[i + 1] - x * x))
        h = _next(h)
        if f1 + unit(h) * (f0 - f1) < 1.0:
            return float(x)
        h = _next(h)
        i = int(h & np.uint64(ZIG_STRIPS - 1))
        u = 2.0 * float(unit(h)) - 1.0
        if abs(u) < ZIG_RATIO[i]:
            return float(u * ZIG_X[i])


def normal(base: np.uint64, index: np.ndarray) -> np.ndarray:
    """Standard normal draws by the kernel's ziggurat: the strips in numpy, the rare rest one by one."""
    from neurosim.kernels.rng import ZIG_RATIO, ZIG_STRIPS, ZIG_X
    with np.errstate(over="ignore"):
        h = mix64(base + np.asarray(index, dtype=np.uint64) * _GOLDEN)
    strip = (h & np.uint64(ZIG_STRIPS - 1)).astype(np.int64)
    u = 2.0 * unit(h) - 1.0
    out = u * ZIG_X[strip]
    for at in zip(*np.nonzero(np.abs(u) >= ZIG_RATIO[strip])):
        out[at] = _rejected(h[at], int(strip[at]), float(u[at]))
    return out


def exp_curve(pulses: np.ndarray, a: float, p_max: float) -> np.ndarray:
    """NeuroSim's potentiation curve p(P) = (1 − e^(−P/A)) / (1 − e^(−Pmax/A)); A = inf is linear."""
    if not np.isfinite(a):
        return pulses / p_max
    return -np.expm1(-pulses / a) / -np.expm1(-p_max / a)


def exp_curve_inverse(p: np.ndarray, a: float, p_max: float) -> np.ndarray:
    if not np.isfinite(a):
        return p * p_max
    return -a * np.log1p(p * np.expm1(-p_max / a))


class ReferenceDevices:
    """One weight array's devices, state copied from a DeviceArray, written by whole-array numpy."""

    def __init__(self, spec: WeightsSpec, state: np.ndarray, gain: np.ndarray, step_scale: np.ndarray,
                 endurance: np.ndarray, write_key: int, offset: int = 0) -> None:
        self.spec = spec
        self.state = state.astype(np.float64).copy()
        self.gain, self.step_scale, self.endurance = gain.copy(), step_scale.copy(), endurance.copy()
        self.shape = state.shape[1:]
        self.pair = spec.encoding == "pair"
        device = spec.device
        self.step_p = None if device.levels is None else 1.0 / (device.levels - 1)
        self.range = spec.w_max - spec.w_min
        self.step_w = None if self.step_p is None else self.step_p * (spec.w_max if self.pair else self.range)
        self.residual = np.zeros(self.shape)
        self.writes = np.zeros(state.shape, dtype=np.int64)
        self.failed = np.zeros(state.shape, dtype=bool)
        self.key, self.offset, self.updates = write_key, offset, 0
        index = offset + np.arange(int(np.prod(self.shape)), dtype=np.uint64).reshape(self.shape)
        self.index = index
        self.value = self.weights()

    def weights(self) -> np.ndarray:
        spec = self.spec
        g = self.state * self.gain
        if self.pair:
            w = spec.w_max * (g[0] - g[1])
        else:
            w = 0.5 * (spec.w_max + spec.w_min) + (self.state[0] - 0.5) * self.range * self.gain[0]
        return w.astype(np.float32)

    def pulses_for(self, delta: np.ndarray) -> np.ndarray:
        if self.step_w is None:
            return np.sign(delta).astype(np.int64)
        steps = delta.astype(np.float64) * (1.0 / self.step_w)  # the kernel multiplies by steps per weight unit
        whole = np.round(steps)
        steps = np.where(np.abs(steps - whole) <= np.abs(steps) * 2.0 ** -23, whole, steps)
        wanted = self.residual + steps
        if self.spec.write.rounding == "stochastic":
            low = np.floor(wanted)
            base = stream_base(self.key, 2 * self.updates + 1)
            pulses = low + (uniform(base, self.index) < (wanted - low))
            self.residual[:] = 0.0
        else:
            nearest = np.round(wanted)
            pulses = np.where(np.abs(wanted - nearest) < 1e-6, nearest, np.trunc(wanted))
            self.residual = wanted - pulses
        return pulses.astype(np.int64)

    def write(self, delta: np.ndarray) -> np.ndarray:
        delta = np.broadcast_to(np.asarray(delta, np.float32), self.shape)
        pulses = self.pulses_for(delta)
        count = np.abs(pulses)
        if self.pair:
            target = np.stack([pulses > 0, pulses < 0])
            dev_pulses = np.where(target, count, 0)
            direction = np.ones_like(dev_pulses)
        else:
            dev_pulses = count[None]
            direction = np.sign(pulses)[None]
        landing = np.minimum(dev_pulses, np.maximum(np.ceil(self.endurance) - self.writes, 0)).astype(np.int64)
        self.writes += dev_pulses
        live = (landing > 0) & ~self.failed
        n_dev = 2 if self.pair else 1
        z = normal(stream_base(self.key, 2 * self.updates),
                   np.uint64(2) * self.index[None] + np.arange(n_dev, dtype=np.uint64).reshape((n_dev,) + (1,) * len(self.shape)))
        if np.any(live):
            new = self.respond(delta * (landing.max(axis=0) / np.maximum(count, 1)), landing, direction, z)
            self.state = np.where(live, new, self.state)
        if self.pair and self.spec.refresh_threshold is not None:
            count = count + self.refresh()
        newly = ~self.failed & (self.writes >= self.endurance)
        mode = self.spec.device.failure_mode
        if mode == "low":
            self.state = np.where(newly, 0.0, self.state)
        elif mode == "high":
            self.state = np.where(newly, 1.0, self.state)
        self.failed |= newly
        self.value = self.weights()
        self.updates += 1
        return count

    def program(self, w: np.ndarray) -> np.ndarray:
        spec = self.spec
        state = np.stack([np.maximum(w, 0.0) / spec.w_max / self.gain[0],
                          np.maximum(-w, 0.0) / spec.w_max / self.gain[1]])
        state = np.clip(state, 0.0, 1.0)
        if self.step_p is not None:
            state = np.round(state / self.step_p) * self.step_p
        return state

    def refresh(self) -> np.ndarray:
        due = ((self.state.max(axis=0) >= self.spec.refresh_threshold) & (self.state.min(axis=0) > 0)
               & ~self.failed.any(axis=0))
        if not np.any(due):
            return np.zeros(self.shape, dtype=np.int64)
        programmed = self.program(self.weights().astype(np.float64))
        self.state = np.where(due, programmed, self.state)
        programming = (np.round(self.state / self.step_p) if self.step_p else (self.state > 0)).astype(np.int64)
        per_device = np.where(due, 1 + programming, 0)
        self.writes += per_device
        return per_device.sum(axis=0)

    def respond(self, delta: np.ndarray, n: np.ndarray, direction: np.ndarray, z: np.ndarray) -> np.ndarray:
        device = self.spec.device
        p = self.state
        sigma = device.write_noise
        mult = device.write_noise_model == "multiplicative"
        if self.step_p is None:
            share = np.abs(delta.astype(np.float64)) / (self.spec.w_max if self.pair else self.range)
            change = np.broadcast_to(share, p.shape) / self.gain * direction
            new = p + change
            if sigma > 0:
                new = new + (sigma * np.abs(change) if mult else sigma) * z
            return np.clip(new, 0.0, 1.0)
        up = direction > 0
        own = self.step_scale * np.where(up, 1.0 + device.asymmetry, 1.0 - device.asymmetry)
        effective = n * own
        if device.model == "linear":
            new = p + direction * effective * self.step_p
        elif device.model == "soft_bounds":
            shrink = (1.0 - 2.0 * self.step_p) ** effective
            new = np.where(up, 1.0 - (1.0 - p) * shrink, p * shrink)
        else:
            p_max = float(device.levels - 1)
            a_up = p_max / device.nonlinearity_up if device.nonlinearity_up != 0 else np.inf
            a_dn = p_max / device.nonlinearity_down if device.nonlinearity_down != 0 else np.inf
            pot = exp_curve(np.minimum(exp_curve_inverse(p, a_up, p_max) + effective, p_max), a_up, p_max)
            dep = 1.0 - exp_curve(np.minimum(exp_curve_inverse(1.0 - p, a_dn, p_max) + effective, p_max),
                                  a_dn, p_max)
            new = np.where(up, pot, dep)
        if sigma > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                if mult:
                    new = new + sigma * np.abs(new - p) / np.sqrt(n) * z
                else:
                    new = new + sigma * self.step_p * own * np.sqrt(n) * z
        return np.clip(new, 0.0, 1.0)
