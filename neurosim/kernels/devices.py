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

from neurosim.kernels.periphery import round_half_even
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
# write noise; the exponential curves' A (inf = linear) and E = expm1(-Pmax/A); Pmax = levels - 1; the soft-bounds
# shrink base; the refresh threshold (inf = never); read noise in weight units
(D_STEP_P, D_STEP_W, D_W_MIN, D_W_MAX, D_MID, D_RANGE, D_SPAN, D_UP, D_DOWN, D_NOISE, D_A_UP, D_A_DOWN,
 D_E_UP, D_E_DOWN, D_P_MAX, D_SHRINK, D_REFRESH, D_READ_SIGMA_W) = range(18)
N_D = 18
# int64 constants
I_PAIR, I_MODEL, I_ROUNDING, I_FAIL, I_NOISE_MODEL, I_IDEAL = range(6)
N_I = 6

# 2^-23: a float32 request is exact to within this share of itself (one unit in its last place, generous)
_F32_RESOLUTION = 2.0 ** -23
_ROUNDING_STREAM = np.uint64(1)  # stochastic rounding and write noise: two sub-streams of one key

_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}
# the per-weight helpers, inlined (numba IR) into the write loop: small, and called for every weight
_INLINE = {**_JIT, "inline": "always"}


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
        for a, e, nu in ((D_A_UP, D_E_UP, device.nonlinearity_up), (D_A_DOWN, D_E_DOWN, device.nonlinearity_down)):
            dc[a] = p_max / nu if nu != 0 else np.inf
            dc[e] = math.expm1(-p_max / dc[a]) if nu != 0 else 0.0
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


# The per-weight helpers take and return scalars only (an array passed to a compiled call is reference-
# counted at every call) and make their choices without branches: the signs of the requests are random, and
# a mispredicted branch per weight cost more than the arithmetic (20 µs a write of 868 weights).

@nb.njit(**_INLINE)
def _steps(d: np.float32, step_w: float) -> float:
    """A requested change in nominal steps, in float64; a whole number of steps to within the request's own
    float32 resolution is made exactly that number. (One step in float32 is a hair off one step; kept, that
    hair added up in the residual until a pulse was lost: the 44th one-step write of a 51-level device.)"""
    steps = float(d) / step_w
    whole = round_half_even(steps)
    return whole if abs(steps - whole) <= abs(steps) * _F32_RESOLUTION else steps


@nb.njit(**_INLINE)
def _whole_pulses(wanted: float) -> float:
    """Accumulate rounding: the whole steps of ``wanted`` toward zero, but a sum of k steps that rounding put
    a hair below k is k steps."""
    nearest = round_half_even(wanted)
    truncated = math.copysign(math.floor(abs(wanted)), wanted)
    return nearest if abs(wanted - nearest) < 1e-6 else truncated


@nb.njit(**_JIT)
def requested_pulses(delta: np.ndarray, step_w: float, stochastic: bool, base_round: np.uint64, offset: int,
                     residual: np.ndarray, requests: np.ndarray) -> None:
    """The signed whole pulses the controller sends for each requested change (``requests``, float64), the
    rest kept in ``residual`` (accumulate) or rounded stochastically; analog devices (step_w = 0) take any
    change in one pulse. One branch-free loop per case, so the common one vectorizes."""
    n = delta.size
    if step_w == 0.0:
        for k in range(n):
            requests[k] = (1.0 if delta[k] > 0 else 0.0) - (1.0 if delta[k] < 0 else 0.0)
    elif stochastic:
        for k in range(n):
            wanted = residual[k] + _steps(delta[k], step_w)
            low = math.floor(wanted)
            requests[k] = low + (1.0 if uniform_at(base_round, np.uint64(offset + k)) < wanted - low else 0.0)
            residual[k] = 0.0
    else:
        for k in range(n):
            wanted = residual[k] + _steps(delta[k], step_w)
            pulses = _whole_pulses(wanted)
            residual[k] = wanted - pulses
            requests[k] = pulses


@nb.njit(**_INLINE)
def _saturating(q: float, effective: float, inv_a: float, inv_e: float, p_max: float) -> float:
    """NeuroSim's curve p(P) = (1 − e^(−P/A)) / (1 − e^(−Pmax/A)) moved on by ``effective`` pulses from the
    state q, capped at the top: p(p⁻¹(q) + n) in closed form, q + (1/E + q)·expm1(−n/A) with
    E = expm1(−Pmax/A), one transcendental function instead of three (1/A = 0: the straight line)."""
    if inv_a == 0.0:
        return min(q * p_max + effective, p_max) / p_max
    return min(q + (inv_e + q) * math.expm1(-effective * inv_a), 1.0)


@nb.njit(**_INLINE)
def respond(p: float, change_w: float, n: int, up: bool, gain: float, own: float, step_p: float, span: float,
            model: int, log_shrink: float, inv_a: float, inv_e: float, p_max: float, sigma: float,
            multiplicative: bool, z: float) -> float:
    """A device's state after n pulses up (potentiate) or down, ``own`` its step in nominal steps (step
    variation, asymmetry), ``z`` its standard normal write-noise draw; the curves' constants as products
    (log of the soft-bounds shrink factor, 1/A and 1/E of the exponential one: no pow and no division). An analog device (step_p = 0) takes
    the requested weight change ``change_w`` in one pulse, scaled by its own range. Write noise is additive
    (NeuroSim: std sigma·own step·sqrt(n); analog: sigma·the state range) or multiplicative (aihwkit's
    mult_noise: std sigma·|actual change|/sqrt(n), each of the n pulses off by sigma times its own step)."""
    if step_p == 0.0:
        change = abs(change_w) / span / gain * (1.0 if up else -1.0)
        new = p + change
        if sigma > 0:
            new += (sigma * abs(change) if multiplicative else sigma) * z
        return min(max(new, 0.0), 1.0)
    effective = n * own
    # the direction by selects, not branches (it is random from weight to weight): q is the state seen from
    # the bound the device moves away from, so depression is potentiation mirrored
    q = p if up else 1.0 - p
    if model == MODEL_LINEAR:
        new = p + (1.0 if up else -1.0) * effective * step_p
    elif model == MODEL_SOFT_BOUNDS:
        rest = (1.0 - p if up else p) * math.exp(effective * log_shrink)   # left to the bound; nominal mid-range
        new = 1.0 - rest if up else rest
    else:
        moved = _saturating(q, effective, inv_a, inv_e, p_max)
        new = moved if up else 1.0 - moved
    if sigma > 0:
        if multiplicative:
            new += sigma * abs(new - p) / math.sqrt(n) * z
        else:
            new += sigma * step_p * own * math.sqrt(n) * z
    return min(max(new, 0.0), 1.0)


@nb.njit(**_INLINE)
def _program(w: float, gain: float, sign: float, w_max: float, step_p: float) -> tuple:
    """(state, programming pulses) of a device programmed to hold its side (sign +1: G+, −1: G−) of a pair's
    weight w, on a level: whole steps, or one analog pulse for a device that holds anything."""
    q = min(max(max(sign * w, 0.0) / w_max / gain, 0.0), 1.0)
    if step_p > 0:
        steps = round_half_even(q / step_p)
        return steps * step_p, int(steps)
    return q, (1 if q > 0 else 0)


@nb.njit(**_INLINE)
def _landing(n: int, limit: float, written: int) -> int:
    """Of n pulses, how many land before the device reaches its endurance limit (the one that reaches it
    is its last to land)."""
    room = math.ceil(limit) - float(written)
    if room >= n:
        return n
    return max(int(room), 0)


@nb.njit(**_JIT)
def _require_sizes(agree: bool) -> None:
    """numba does not check bounds: arrays of other sizes must be an error. (Raised out here: a raise in the
    write kernel itself made its loop over the weights 2-3 times slower.)"""
    if not agree:
        raise ValueError("devices: the arrays differ in size")


@nb.njit(**_JIT)
def write(dc: np.ndarray, di: np.ndarray, key: np.uint64, counter: int, offset: int, delta: np.ndarray,
          p: np.ndarray, gain: np.ndarray, step_scale: np.ndarray, limits: np.ndarray, writes: np.ndarray,
          failed: np.ndarray, residual: np.ndarray, value: np.ndarray, pulses_out: np.ndarray) -> tuple:
    """Write the requested changes ``delta`` (one per weight, float32) into a range of devices whose first
    weight is the chip's weight ``offset``, as the chip's write number ``counter``: pulses, responses, noise,
    refresh (a pair whose device ran up to the threshold while its partner also holds conductance is reset
    and its weight reprogrammed onto one device), wear and failure. ``value`` gets the new weights of the
    weights that changed; ``pulses_out`` the pulses each weight took (>= 0). Returns (pulses in all, the
    most any weight took)."""
    n = delta.size
    _require_sizes(value.size == n and residual.size == n and pulses_out.size == n and p.shape[1] == n
                   and writes.shape[1] == n and failed.shape[1] == n and limits.shape[1] == n
                   and gain.shape[1] == n and step_scale.shape[1] == n)
    pair = di[I_PAIR] == 1
    n_dev = 2 if pair else 1
    stochastic = di[I_ROUNDING] == ROUND_STOCHASTIC
    multiplicative = di[I_NOISE_MODEL] == NOISE_MULTIPLICATIVE
    model, fail_mode = di[I_MODEL], di[I_FAIL]
    step_p, step_w, span, sigma = dc[D_STEP_P], dc[D_STEP_W], dc[D_SPAN], dc[D_NOISE]
    factor_up, factor_down, shrink, p_max = dc[D_UP], dc[D_DOWN], dc[D_SHRINK], dc[D_P_MAX]
    log_shrink = math.log(shrink) if shrink > 0 else np.nan
    inv_a_up, inv_a_down = 1.0 / dc[D_A_UP], 1.0 / dc[D_A_DOWN]   # 0 for a straight line (A = inf)
    inv_e_up = 1.0 / dc[D_E_UP] if dc[D_E_UP] != 0 else 0.0
    inv_e_down = 1.0 / dc[D_E_DOWN] if dc[D_E_DOWN] != 0 else 0.0
    w_max, mid, w_range, threshold = dc[D_W_MAX], dc[D_MID], dc[D_RANGE], dc[D_REFRESH]
    refresh = pair and threshold <= 1.0
    base_noise = stream_base(key, np.uint64(2 * counter))
    base_round = stream_base(key, np.uint64(2 * counter) + _ROUNDING_STREAM)
    # the requests, branch-free, and the weights that take any pulse (compacted: the rest need nothing more;
    # a state changes only when pulsed, so only these can come due for a refresh or wear out now)
    requests = np.empty(n)
    requested_pulses(delta, step_w, stochastic, base_round, offset, residual, requests)
    pulsed = np.empty(n, dtype=np.int64)
    m = 0
    for k in range(n):
        pulses_out[k] = 0
        pulsed[m] = k
        m += requests[k] != 0.0
    total = 0
    most = 0
    for t in range(m):
        k = pulsed[t]
        g = np.uint64(offset + k)
        pulses = int(requests[k])
        count = abs(pulses)
        # which device takes the pulses, in which direction: a pair potentiates G+ to increase and G− to
        # decrease; a single device moves both ways
        j = 1 if (pair and pulses < 0) else 0
        up = pair or pulses > 0
        landed = _landing(count, limits[j, k], writes[j, k])
        writes[j, k] += count
        if landed > 0 and not failed[j, k]:
            z = normal_at(base_noise, np.uint64(2) * g + np.uint64(j)) if sigma > 0 else 0.0
            own = step_scale[j, k] * (factor_up if up else factor_down)
            p[j, k] = respond(p[j, k], float(delta[k]) * (landed / count), landed, up, gain[j, k], own, step_p,
                              span, model, log_shrink, inv_a_up if up else inv_a_down,
                              inv_e_up if up else inv_e_down, p_max,
                              sigma, multiplicative, z)
        if refresh:
            p0, p1 = p[0, k], p[1, k]
            if max(p0, p1) >= threshold and min(p0, p1) > 0 and not failed[0, k] and not failed[1, k]:
                w = float(np.float32(w_max * (p0 * gain[0, k] - p1 * gain[1, k])))
                for jj in range(2):  # a reset pulse each, then the programming pulses
                    p[jj, k], programming = _program(w, gain[jj, k], 1.0 if jj == 0 else -1.0, w_max, step_p)
                    writes[jj, k] += 1 + programming
                    count += 1 + programming
        for jj in range(n_dev):  # wear-out: a device past its limit fails, at its value or a bound
            if not failed[jj, k] and writes[jj, k] >= limits[jj, k]:
                failed[jj, k] = True
                if fail_mode == FAIL_LOW:
                    p[jj, k] = 0.0
                elif fail_mode == FAIL_HIGH:
                    p[jj, k] = 1.0
        if pair:
            value[k] = np.float32(w_max * (p[0, k] * gain[0, k] - p[1, k] * gain[1, k]))
        else:
            value[k] = np.float32(mid + (p[0, k] - 0.5) * w_range * gain[0, k])
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
    """The weights the device states hold: w = w_mid + (p − 1/2)·range·gain, or w_max·(p+·gain+ − p−·gain−)
    (the same arithmetic as :func:`write`)."""
    for k in range(value.size):
        if di[I_PAIR] == 1:
            value[k] = np.float32(dc[D_W_MAX] * (p[0, k] * gain[0, k] - p[1, k] * gain[1, k]))
        else:
            value[k] = np.float32(dc[D_MID] + (p[0, k] - 0.5) * dc[D_RANGE] * gain[0, k])
