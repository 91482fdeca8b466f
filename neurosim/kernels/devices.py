"""Weight devices, compiled: a requested weight change becomes pulses, and the pulses move device states by
each device's pulse response, noise, variation, wear and failure; weights read with read noise; the time a
write takes on the crossbar tiles. One implementation for both engine paths: :class:`~neurosim.chip.devices.
DeviceArray` calls it array by array, the compiled chip-mode cycle over the whole chip.

State over a range of n weights with D devices each (D = 2 for a differential pair), arrays of shape (D, n):
``p`` (states in [0, 1]), ``gain`` (the device's range, relative), ``step_scale`` (its step, relative),
``limits`` (endurance, pulses), ``writes`` (pulses so far), ``failed``; per weight ``residual`` (nominal steps
requested but not yet sent) and ``value`` (the weight, float32). The spec's constants travel in ``dc``
(float64) and ``di`` (int64), filled once by :func:`constants`; names map to integer codes in the tables below.

Random draws are counter-based (:mod:`neurosim.kernels.rng`): write noise and stochastic rounding from (write
key, update index, device index), read noise from (read key, read index, weight index), so a resumed run
and the tests' numpy twin draw the same numbers with no generator state.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from neurosim.kernels.rng import normal_at, stream_base, uniform_at

# one table per variant: the spec's name -> the kernel's code
MODEL_LINEAR, MODEL_SOFT_BOUNDS, MODEL_EXPONENTIAL = 0, 1, 2
MODELS = {"linear": MODEL_LINEAR, "soft_bounds": MODEL_SOFT_BOUNDS, "exponential": MODEL_EXPONENTIAL}
ROUND_ACCUMULATE, ROUND_STOCHASTIC = 0, 1
ROUNDINGS = {"accumulate": ROUND_ACCUMULATE, "stochastic": ROUND_STOCHASTIC}
FAIL_STUCK, FAIL_LOW, FAIL_HIGH = 0, 1, 2
FAILURES = {"stuck": FAIL_STUCK, "low": FAIL_LOW, "high": FAIL_HIGH}
NOISE_ADDITIVE, NOISE_MULTIPLICATIVE = 0, 1
NOISE_MODELS = {"additive": NOISE_ADDITIVE, "multiplicative": NOISE_MULTIPLICATIVE}
PARALLEL_ALL, PARALLEL_ROW, PARALLEL_DEVICE = 0, 1, 2
PARALLELISMS = {"all": PARALLEL_ALL, "row": PARALLEL_ROW, "device": PARALLEL_DEVICE}

# float64 constants: nominal step (state units, 0 = analog) and the weight change it makes; the weight range;
# the weight span of one device's state (range, or w_max for a pair); up/down step factors (asymmetry);
# write noise; the exponential curves' A (inf = linear) and normalisers; Pmax = levels - 1; the soft-bounds
# shrink base; the refresh threshold (inf = never); read noise in weight units
(D_STEP_P, D_STEP_W, D_W_MIN, D_W_MAX, D_MID, D_RANGE, D_SPAN, D_UP, D_DOWN, D_NOISE, D_A_UP, D_A_DOWN,
 D_NORM_UP, D_NORM_DOWN, D_P_MAX, D_SHRINK, D_REFRESH, D_READ_SIGMA_W) = range(18)
N_D = 18
# int64 constants
I_PAIR, I_MODEL, I_ROUNDING, I_FAIL, I_NOISE_MODEL, I_IDEAL = range(6)
N_I = 6

# 2^-23: a float32 request is exact to within this share of itself (one unit in its last place, generous)
_F32_RESOLUTION = 2.0 ** -23
_ROUNDING_STREAM = np.uint64(1)  # stochastic rounding and write noise: two sub-streams of one key

_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}


def constants(weights) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 (a WeightsSpec; no import circle)
    """The kernel's constants of a weights spec: (dc, di)."""
    device = weights.device
    pair = weights.encoding == "pair"
    dc = np.zeros(N_D)
    di = np.zeros(N_I, dtype=np.int64)
    span = weights.w_max if pair else weights.w_max - weights.w_min
    if device.levels is not None:
        step_p = 1.0 / (device.levels - 1)
        p_max = float(device.levels - 1)
        dc[D_STEP_P], dc[D_STEP_W], dc[D_P_MAX], dc[D_SHRINK] = step_p, step_p * span, p_max, 1.0 - 2.0 * step_p
        for a, norm, nu in ((D_A_UP, D_NORM_UP, device.nonlinearity_up),
                            (D_A_DOWN, D_NORM_DOWN, device.nonlinearity_down)):
            dc[a] = p_max / nu if nu != 0 else np.inf
            dc[norm] = -math.expm1(-p_max / dc[a]) if nu != 0 else 1.0
    dc[D_W_MIN], dc[D_W_MAX] = weights.w_min, weights.w_max
    dc[D_MID], dc[D_RANGE], dc[D_SPAN] = 0.5 * (weights.w_max + weights.w_min), weights.w_max - weights.w_min, span
    dc[D_UP], dc[D_DOWN] = 1.0 + device.asymmetry, 1.0 - device.asymmetry
    dc[D_NOISE] = device.write_noise
    dc[D_REFRESH] = np.inf if weights.refresh_threshold is None else weights.refresh_threshold
    dc[D_READ_SIGMA_W] = device.read_noise * (weights.w_max - weights.w_min)
    di[I_PAIR] = pair
    di[I_MODEL] = MODELS[device.model]
    di[I_ROUNDING] = ROUNDINGS[weights.write.rounding]
    di[I_FAIL] = FAILURES[device.failure_mode]
    di[I_NOISE_MODEL] = NOISE_MODELS[device.write_noise_model]
    # analog single devices without noise or variation: the weight is the state, one pulse per change
    di[I_IDEAL] = (device.levels is None and not pair and device.write_noise == 0 and device.range_variation == 0)
    return dc, di


@nb.njit(**_JIT)
def _round_half_even(x: float) -> float:
    """numpy's round: to the nearest integer, ties to even."""
    r = math.floor(x)
    f = x - r
    if f > 0.5 or (f == 0.5 and r % 2.0 != 0.0):
        r += 1.0
    return r


@nb.njit(**_JIT)
def requested_pulses(dc: np.ndarray, di: np.ndarray, base_round: np.uint64, index: np.uint64, d: np.float32,
                     residual: np.ndarray, k: int) -> int:
    """Signed whole pulses the controller sends for weight k's requested change ``d`` (updates its residual).

    The request is taken in nominal steps in float64 and, when it is a whole number of steps to within its own
    float32 resolution, made exactly that number: a run of one-step requests then leaves no residual at all
    (one step in float32 is a hair off one step, and that hair used to add up until a pulse was lost)."""
    step_w = dc[D_STEP_W]
    if step_w == 0.0:  # analog: any change in one pulse
        return 1 if d > 0 else (-1 if d < 0 else 0)
    steps = float(d) / step_w
    whole = _round_half_even(steps)
    if abs(steps - whole) <= abs(steps) * _F32_RESOLUTION:
        steps = whole
    wanted = residual[k] + steps
    if di[I_ROUNDING] == ROUND_STOCHASTIC:
        low = math.floor(wanted)
        pulses = low + (1.0 if uniform_at(base_round, index) < wanted - low else 0.0)
        residual[k] = 0.0
    else:
        nearest = _round_half_even(wanted)  # a sum of k steps that rounding put a hair below k is k steps
        pulses = nearest if abs(wanted - nearest) < 1e-6 else float(math.trunc(wanted))
        residual[k] = wanted - pulses
    return int(pulses)


@nb.njit(**_JIT)
def _curve(pulses: float, a: float, norm: float, p_max: float) -> float:
    """NeuroSim's potentiation curve p(P) = (1 − e^(−P/A)) / (1 − e^(−Pmax/A)); A = inf is linear."""
    if math.isinf(a):
        return pulses / p_max
    return -math.expm1(-pulses / a) / norm


@nb.njit(**_JIT)
def _curve_inverse(p: float, a: float, p_max: float) -> float:
    if math.isinf(a):
        return p * p_max
    return -a * math.log1p(p * math.expm1(-p_max / a))


@nb.njit(**_JIT)
def respond(dc: np.ndarray, di: np.ndarray, p: float, change_w: float, n: int, direction: int, gain: float,
            step_scale: float, z: float) -> float:
    """A device's state after n pulses in ``direction`` (+1 potentiate, −1 depress), ``z`` its standard normal
    write-noise draw. An analog device takes the requested weight change ``change_w`` in one pulse, scaled by
    its own range. Write noise is additive (NeuroSim: std noise · the device's own step · sqrt(n); analog:
    noise · the state range) or multiplicative (aihwkit's mult_noise: std noise · the actual change / sqrt(n),
    each of the n pulses off by noise times its own step)."""
    sigma = dc[D_NOISE]
    if dc[D_STEP_P] == 0.0:
        change = abs(change_w) / dc[D_SPAN] / gain * direction
        new = p + change
        if sigma > 0:
            new += (sigma * abs(change) if di[I_NOISE_MODEL] == NOISE_MULTIPLICATIVE else sigma) * z
        return min(max(new, 0.0), 1.0)
    up = direction > 0
    own = step_scale * (dc[D_UP] if up else dc[D_DOWN])   # this device's step, in nominal steps
    effective = n * own
    model = di[I_MODEL]
    if model == MODEL_LINEAR:
        new = p + direction * effective * dc[D_STEP_P]
    elif model == MODEL_SOFT_BOUNDS:
        shrink = dc[D_SHRINK] ** effective   # the step is nominal at mid-range
        new = 1.0 - (1.0 - p) * shrink if up else p * shrink
    else:
        p_max = dc[D_P_MAX]
        if up:
            a = dc[D_A_UP]
            new = _curve(min(_curve_inverse(p, a, p_max) + effective, p_max), a, dc[D_NORM_UP], p_max)
        else:
            a = dc[D_A_DOWN]
            new = 1.0 - _curve(min(_curve_inverse(1.0 - p, a, p_max) + effective, p_max), a, dc[D_NORM_DOWN],
                               p_max)
    if sigma > 0:
        if di[I_NOISE_MODEL] == NOISE_MULTIPLICATIVE:
            new += sigma * abs(new - p) / math.sqrt(n) * z
        else:
            new += sigma * dc[D_STEP_P] * own * math.sqrt(n) * z
    return min(max(new, 0.0), 1.0)


@nb.njit(**_JIT)
def _weight(dc: np.ndarray, di: np.ndarray, p: np.ndarray, gain: np.ndarray, k: int) -> np.float32:
    if di[I_PAIR] == 1:
        return np.float32(dc[D_W_MAX] * (p[0, k] * gain[0, k] - p[1, k] * gain[1, k]))
    return np.float32(dc[D_MID] + (p[0, k] - 0.5) * dc[D_RANGE] * gain[0, k])


@nb.njit(**_JIT)
def _program(dc: np.ndarray, w: float, gain: float, sign: float) -> float:
    """A device's state programmed to hold its side (sign +1: G+, −1: G−) of a pair's weight w, on a level."""
    q = min(max(max(sign * w, 0.0) / dc[D_W_MAX] / gain, 0.0), 1.0)
    if dc[D_STEP_P] > 0:
        q = _round_half_even(q / dc[D_STEP_P]) * dc[D_STEP_P]
    return q


@nb.njit(**_JIT)
def _refresh(dc: np.ndarray, di: np.ndarray, p: np.ndarray, gain: np.ndarray, writes: np.ndarray,
             failed: np.ndarray, k: int) -> int:
    """Reset pair k if one device ran up to the threshold while its partner also holds conductance (range
    wasted on cancellation), and reprogram the weight onto one device: a reset pulse for each device and
    the programming pulses (whole steps, or one analog pulse for a device that holds anything). Returns the
    pulses it took (0: not due). After a refresh the partner is empty, so a large weight never re-triggers."""
    p0, p1 = p[0, k], p[1, k]
    if not (max(p0, p1) >= dc[D_REFRESH] and min(p0, p1) > 0 and not failed[0, k] and not failed[1, k]):
        return 0
    w = float(_weight(dc, di, p, gain, k))
    extra = 0
    for j in range(2):
        q = _program(dc, w, gain[j, k], 1.0 if j == 0 else -1.0)
        p[j, k] = q
        if dc[D_STEP_P] > 0:
            programming = int(_round_half_even(q / dc[D_STEP_P]))
        else:
            programming = 1 if q > 0 else 0
        writes[j, k] += 1 + programming
        extra += 1 + programming
    return extra


@nb.njit(**_JIT)
def _landing(n: int, limit: float, written: int) -> int:
    """Of n pulses, how many land before the device reaches its endurance limit (the one that reaches it
    is its last to land)."""
    room = math.ceil(limit) - float(written)
    if room >= n:
        return n
    return max(int(room), 0)


@nb.njit(**_JIT)
def write(dc: np.ndarray, di: np.ndarray, key: np.uint64, counter: int, offset: int, delta: np.ndarray,
          p: np.ndarray, gain: np.ndarray, step_scale: np.ndarray, limits: np.ndarray, writes: np.ndarray,
          failed: np.ndarray, residual: np.ndarray, value: np.ndarray, pulses_out: np.ndarray) -> tuple:
    """Write the requested changes ``delta`` (one per weight, float32) into a range of devices whose first
    weight is the chip's weight ``offset``, as the chip's write number ``counter``: pulses, responses, noise,
    refresh, wear and failure. ``value`` gets the new weights of the weights that changed; ``pulses_out`` the
    pulses each weight took (>= 0). Returns (pulses in all, the most any weight took)."""
    n = delta.size
    if (value.size != n or residual.size != n or pulses_out.size != n or p.shape[1] != n
            or writes.shape[1] != n or failed.shape[1] != n or limits.shape[1] != n or gain.shape[1] != n
            or step_scale.shape[1] != n):
        raise ValueError("devices.write: the arrays differ in size")
    pair = di[I_PAIR] == 1
    n_dev = 2 if pair else 1
    base_noise = stream_base(key, np.uint64(2 * counter))
    base_round = stream_base(key, np.uint64(2 * counter) + _ROUNDING_STREAM)
    total = 0
    most = 0
    for k in range(n):
        g = np.uint64(offset + k)
        pulses = requested_pulses(dc, di, base_round, g, delta[k], residual, k)
        count = abs(pulses)
        changed = False
        if count > 0:
            # which device takes the pulses, in which direction: a pair potentiates G+ to increase and G− to
            # decrease; a single device moves both ways
            j = 1 if (pair and pulses < 0) else 0
            direction = 1 if (pair or pulses > 0) else -1
            landed = _landing(count, limits[j, k], writes[j, k])
            writes[j, k] += count
            if landed > 0 and not failed[j, k]:
                z = normal_at(base_noise, np.uint64(2) * g + np.uint64(j)) if dc[D_NOISE] > 0 else 0.0
                change_w = float(delta[k]) * (landed / count)
                p[j, k] = respond(dc, di, p[j, k], change_w, landed, direction, gain[j, k], step_scale[j, k], z)
            changed = True
        if pair and dc[D_REFRESH] <= 1.0:
            extra = _refresh(dc, di, p, gain, writes, failed, k)
            if extra > 0:
                count += extra
                changed = True
        if changed:
            for j in range(n_dev):  # wear-out: a device past its limit fails, at its value or a bound
                if not failed[j, k] and writes[j, k] >= limits[j, k]:
                    failed[j, k] = True
                    if di[I_FAIL] == FAIL_LOW:
                        p[j, k] = 0.0
                    elif di[I_FAIL] == FAIL_HIGH:
                        p[j, k] = 1.0
            value[k] = _weight(dc, di, p, gain, k)
        pulses_out[k] = count
        total += count
        most = max(most, count)
    return total, most


@nb.njit(**_JIT)
def read(value: np.ndarray, key: np.uint64, counter: int, offset: int, sigma_w: np.float32,
         out: np.ndarray) -> None:
    """The weights as one inference reads them: out = value + sigma_w·z, z the normal draw of (read key, read
    number ``counter``, weight offset + k), fresh at every read; float32 arithmetic."""
    if out.size != value.size:
        raise ValueError("devices.read: the arrays differ in size")
    base = stream_base(key, np.uint64(counter))
    for k in range(value.size):
        out[k] = value[k] + sigma_w * np.float32(normal_at(base, np.uint64(offset + k)))


# ---- ideal devices (analog, single, no noise or variation): the weight is the state -------------------------

@nb.njit(**_JIT)
def endurance_headroom(writes: np.ndarray, limits: np.ndarray, failed: np.ndarray) -> float:
    """Pulses every device can still take before one of them may fail (-inf once one has failed): while it
    exceeds 1, an update of ideal devices cannot wear any device out, and needs no endurance checks."""
    headroom = np.inf
    for k in range(writes.size):
        if failed[k]:
            return -np.inf
        headroom = min(headroom, limits[k] - writes[k])
    return headroom


@nb.njit(**_JIT)
def write_ideal_far_from_endurance(params: np.ndarray, acc: np.ndarray, writes: np.ndarray, lr: np.float32,
                                   scale: np.float32, w_min: np.float32, w_max: np.float32) -> int:
    """The step -lr·(acc·scale) written into ideal devices as one pulse per changed device, no device
    failing: branch-free, so it vectorizes (the same arithmetic as :func:`write_ideal`). SGD passes its
    learning rate and G's scale, so its step is made as it is written, one sweep of the arrays less; a step
    already in ``acc`` passes lr = -1 and scale = 1, which leave it exactly as it is. ``acc`` is zeroed."""
    pulses = 0
    for k in range(params.size):
        delta = -lr * (acc[k] * scale)
        acc[k] = np.float32(0.0)
        moved = delta != 0
        w = params[k]
        params[k] = min(max(w + delta, w_min), w_max) if moved else w
        writes[k] += moved
        pulses += moved
    return pulses


@nb.njit(**_JIT)
def write_ideal(params: np.ndarray, acc: np.ndarray, writes: np.ndarray, limits: np.ndarray,
                failed: np.ndarray, w_min: np.float32, w_max: np.float32, fail_mode: int) -> int:
    """The step in ``acc`` written into ideal devices, device by device (``acc`` is zeroed): one pulse per
    changed weight, new = clip(old + step); a device whose pulses reach its endurance limit fails (stuck, or
    at the low or high weight), and a failed one is still pulsed (and worn) but no longer moves."""
    n = params.size
    if acc.size != n or writes.size != n or limits.size != n or failed.size != n:
        raise ValueError("devices.write_ideal: the arrays differ in size")
    pulses = 0
    for k in range(n):
        delta = acc[k]
        acc[k] = 0.0
        if delta == 0:
            continue
        writes[k] += 1
        pulses += 1
        if failed[k]:
            continue
        params[k] = min(max(params[k] + delta, w_min), w_max)
        if writes[k] >= limits[k]:
            failed[k] = True
            if fail_mode == FAIL_LOW:
                params[k] = w_min
            elif fail_mode == FAIL_HIGH:
                params[k] = w_max
    return pulses


# ---- write timing ------------------------------------------------------------------------------------------

@nb.njit(**_JIT)
def pulse_slots(pulses: np.ndarray, rows: int, cols: int, tile_rows: int, tile_cols: int, mode: int) -> int:
    """Pulse durations the slowest tile needs to write one layer's pulses (``pulses`` flat, row-major
    rows x cols: the weight rows, then the bias row), given the write parallelism: all devices at once
    (the most any device takes), a row at a time (the rows' most, summed), or a device at a time (all)."""
    if pulses.size != rows * cols:
        raise ValueError("devices.pulse_slots: pulses is not rows x cols")
    slowest = 0
    for r0 in range(0, rows, tile_rows):
        for c0 in range(0, cols, tile_cols):
            slots = 0
            for r in range(r0, min(r0 + tile_rows, rows)):
                line = pulses[r * cols + c0:r * cols + min(c0 + tile_cols, cols)]
                if mode == PARALLEL_ALL:
                    slots = max(slots, line.max())
                elif mode == PARALLEL_ROW:
                    slots += line.max()
                else:
                    slots += line.sum()
            slowest = max(slowest, slots)
    return slowest


@nb.njit(**_JIT)
def write_stall_s(write_time_s: float, update_period_s: float, keep_perturbing: bool) -> float:
    """How long one update's writing stops the chip: all of it, or (keeping on perturbing while devices are
    written) only what exceeds the update period."""
    if keep_perturbing:
        return max(0.0, write_time_s - update_period_s)
    return write_time_s


@nb.njit(**_JIT)
def weights(dc: np.ndarray, di: np.ndarray, p: np.ndarray, gain: np.ndarray, value: np.ndarray) -> None:
    """The weights the device states hold: w = w_mid + (p − 1/2)·range·gain, or w_max·(p+·gain+ − p−·gain−)."""
    for k in range(value.size):
        value[k] = _weight(dc, di, p, gain, k)
