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
from collections import namedtuple

import numba as nb
import numpy as np

from neurosim.kernels.device_models import DeviceModel, Exponential, Linear, SoftBounds
from neurosim.kernels.periphery import round_half_even
from neurosim.kernels.rng import _GOLDEN, mix64, normal_rest, normal_strip, stream_base, uniform_at
from neurosim.kernels.vecmath import expm1, maximum, minimum, sqrt, trailing_zeros

# the pulse-response models are classes (neurosim.kernels.device_models); their codes, for the kernel
MODEL_LINEAR, MODEL_SOFT_BOUNDS, MODEL_EXPONENTIAL = Linear.code, SoftBounds.code, Exponential.code
MODEL_ANALOG = -1  # any model without levels: the kernel's own case, not a spec name
MODELS = {name: model.code for name, model in DeviceModel.by_name.items()}
# one table per other variant: the spec's name -> the kernel's code
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
_CURVE_SLOTS = {"A_UP": D_A_UP, "A_DOWN": D_A_DOWN, "E_UP": D_E_UP, "E_DOWN": D_E_DOWN}  # a model's constants
# int64 constants
I_PAIR, I_MODEL, I_ROUNDING, I_FAIL, I_NOISE_MODEL, I_IDEAL = range(6)
N_I = 6

# 2^-23: a float32 request is exact to within this share of itself (one unit in its last place, generous)
_F32_RESOLUTION = 2.0 ** -23
# a sum of steps below this takes no pulse (:func:`_whole_pulses` rounds only within 1e-6 of a whole step)
_NEARLY_ONE = 1.0 - 2e-6
_BLOCK = 128  # weights per block of the write's sweeps: a block that takes no pulse is skipped
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
        dc[D_A_UP] = dc[D_A_DOWN] = np.inf  # the straight line, unless the model says otherwise
        for slot, value in DeviceModel.by_name[device.model].curve_constants(device, p_max).items():
            dc[_CURVE_SLOTS[slot]] = value
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
def _steps(d: np.float32, steps_per_w: float) -> float:
    """A requested change in nominal steps, in float64; a whole number of steps to within the request's own
    float32 resolution is made exactly that number. (One step in float32 is a hair off one step; kept, that
    hair added up in the residual until a pulse was lost: the 44th one-step write of a 51-level device.)"""
    steps = float(d) * steps_per_w
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
                     residual: np.ndarray, requests: np.ndarray, pulses_out: np.ndarray, rare: np.ndarray,
                     block_requests: np.ndarray) -> int:
    """The signed whole pulses the controller sends for each requested change (``requests``, float64, set in
    the blocks that take a pulse), the rest kept in ``residual`` (accumulate) or rounded stochastically;
    analog devices (step_w = 0) take any change in one pulse. In the same sweep: ``pulses_out`` and the
    marks ``rare`` cleared, and how many weights of each block of :data:`_BLOCK` take a pulse counted in
    ``block_requests`` (an integer sum vectorizes; a boolean "any"
    of the requests, a scan of its own, took 0.31 µs for 868 weights). Returns how many blocks take a pulse.
    One branch-free loop per case, so the common one vectorizes."""
    n = delta.size
    # a product, not a quotient: over 868 weights the division took 0.52 µs a sweep, the product 0.44
    steps_per_w = 1.0 / step_w if step_w > 0 else 0.0
    pulsed = 0
    for b in range(block_requests.size):
        start = b * _BLOCK
        count = 0
        if step_w == 0.0:
            for i in range(min(_BLOCK, n - start)):
                k = np.uint64(start + i)
                pulses = (1.0 if delta[k] > 0 else 0.0) - (1.0 if delta[k] < 0 else 0.0)
                requests[k] = pulses
                pulses_out[k] = 0
                rare[k] = False
                count += pulses != 0.0
        elif stochastic:
            for i in range(min(_BLOCK, n - start)):
                k = np.uint64(start + i)
                wanted = residual[k] + _steps(delta[k], steps_per_w)
                low = math.floor(wanted)
                pulses = low + (1.0 if uniform_at(base_round, np.uint64(offset) + k) < wanted - low else 0.0)
                requests[k] = pulses
                residual[k] = 0.0
                pulses_out[k] = 0
                rare[k] = False
                count += pulses != 0.0
        else:
            # first the sums alone, kept as the residuals: a block in which no request reaches half a step and
            # no sum comes near a whole one takes no pulse, and the rounding below would leave its sums as they
            # are (its requests are not set: no sweep reads a block that takes no pulse)
            near = 0
            for i in range(min(_BLOCK, n - start)):
                k = np.uint64(start + i)
                steps = float(delta[k]) * steps_per_w
                before = residual[k]
                wanted = before + steps
                requests[k] = before
                residual[k] = wanted
                pulses_out[k] = 0
                rare[k] = False
                near += (abs(steps) >= 0.5) | (abs(wanted) >= _NEARLY_ONE)
            if near > 0:
                for i in range(min(_BLOCK, n - start)):
                    k = np.uint64(start + i)
                    wanted = requests[k] + _steps(delta[k], steps_per_w)
                    pulses = _whole_pulses(wanted)
                    residual[k] = wanted - pulses
                    requests[k] = pulses
                    count += pulses != 0.0
        block_requests[b] = count
        pulsed += count > 0
    return pulsed


@nb.njit(**_INLINE)
def _saturating(q: float, effective: float, inv_a: float, inv_e: float, p_max: float) -> float:
    """NeuroSim's curve p(P) = (1 − e^(−P/A)) / (1 − e^(−Pmax/A)) moved on by ``effective`` pulses from the
    state q, capped at the top: p(p⁻¹(q) + n) in closed form, q + (1/E + q)·expm1(−n/A) with
    E = expm1(−Pmax/A), one transcendental function instead of three (1/A = 0: the straight line)."""
    if inv_a == 0.0:
        return minimum(q * p_max + effective, p_max) / p_max
    return minimum(q + (inv_e + q) * expm1(-effective * inv_a), 1.0)


@nb.njit(**_INLINE)
def respond(p: float, change_w: float, n: float, up: bool, gain: float, own: float, step_p: float, span: float,
            model: int, log_shrink: float, inv_a: float, inv_e: float, p_max: float, sigma: float,
            multiplicative: bool, z: float) -> float:
    """A device's state after n pulses up (potentiate) or down, ``own`` its step in nominal steps (step
    variation, asymmetry), ``z`` its standard normal write-noise draw (0 without noise); the curves' constants
    as products (log of the soft-bounds shrink factor, 1/A and 1/E of the exponential one: no pow and no
    division). An analog device (``model`` = MODEL_ANALOG) takes the requested weight change ``change_w`` in
    one pulse, scaled by its own range. Write noise is additive (NeuroSim: std sigma·own step·sqrt(n);
    analog: sigma·the state range) or multiplicative (aihwkit's mult_noise: std sigma·|actual change|/sqrt(n),
    each of the n pulses off by sigma times its own step). Selects, not branches, on anything that varies
    from weight to weight, so that the write's loop over the weights vectorizes; ``model`` is a constant of
    each of its copies (:func:`_write_rows`)."""
    if model == MODEL_ANALOG:
        change = abs(change_w) / span / gain * (1.0 if up else -1.0)
        spread = sigma * abs(change) if multiplicative else sigma
        return minimum(maximum(p + change + spread * z, 0.0), 1.0)
    effective = n * own
    # q is the state seen from the bound the device moves away from, so depression is potentiation mirrored
    q = p if up else 1.0 - p
    if model == MODEL_LINEAR:
        new = p + (1.0 if up else -1.0) * effective * step_p
    elif model == MODEL_SOFT_BOUNDS:
        rest = (1.0 - p if up else p) * (1.0 + expm1(effective * log_shrink))  # left to the bound
        new = 1.0 - rest if up else rest
    else:
        moved = _saturating(q, effective, inv_a, inv_e, p_max)
        new = moved if up else 1.0 - moved
    if multiplicative:
        new += sigma * abs(new - p) / sqrt(float(n)) * z
    else:
        new += sigma * step_p * own * sqrt(float(n)) * z
    return minimum(maximum(new, 0.0), 1.0)


@nb.njit(**_INLINE)
def _program(w: float, gain: float, sign: float, w_max: float, step_p: float) -> tuple:
    """(state, programming pulses) of a device programmed to hold its side (sign +1: G+, −1: G−) of a pair's
    weight w, on a level: whole steps, or one analog pulse for a device that holds anything."""
    q = min(max(max(sign * w, 0.0) / w_max / gain, 0.0), 1.0)
    return _on_level(q, step_p)


@nb.njit(**_INLINE)
def _on_level(q: float, step_p: float) -> tuple:
    """(the state q on its nearest level, the steps up to it); an analog state as it is, in one pulse."""
    if step_p > 0:
        steps = round_half_even(q / step_p)
        return steps * step_p, int(steps)
    return q, (1 if q > 0 else 0)


@nb.njit(**_JIT)
def program(dc: np.ndarray, di: np.ndarray, w: np.ndarray, p: np.ndarray, gain: np.ndarray) -> None:
    """The factory programming of the weights w (float64) into device states p, on the nearest level (not
    counted as wear): a pair's G+ holds a positive weight and its G− a negative one, as a refresh
    reprograms them; a single device the weight's place in its range."""
    step_p = dc[D_STEP_P]
    for k in range(w.size):
        if di[I_PAIR] == 1:
            for j in range(2):
                p[j, k] = _program(w[k], gain[j, k], 1.0 if j == 0 else -1.0, dc[D_W_MAX], step_p)[0]
        else:
            q = min(max(0.5 + (w[k] - dc[D_MID]) / (dc[D_RANGE] * gain[0, k]), 0.0), 1.0)
            p[0, k] = _on_level(q, step_p)[0]


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
          failed: np.ndarray, residual: np.ndarray, value: np.ndarray, pulses_out: np.ndarray, requests: np.ndarray,
          rare: np.ndarray, block_requests: np.ndarray) -> tuple:
    """Write the requested changes ``delta`` (one per weight, float32) into a range of devices whose first
    weight is the chip's weight ``offset``, as the chip's write number ``counter``: pulses, responses, noise,
    refresh (a pair whose device ran up to the threshold while its partner also holds conductance is reset
    and its weight reprogrammed onto one device), wear and failure. ``value`` gets the new weights;
    ``pulses_out`` the pulses each weight took (>= 0). ``requests``, ``rare`` and ``block_requests`` are its
    working arrays (:func:`scratch`), the caller's: allocated here, they cost a tenth of a write that pulses
    nothing, and their reference counts more. Returns (pulses in all, the most any weight took).

    Sweeps over whole arrays: the requests; each row of devices (a pair's G+ takes the increases, its G− the
    decreases) in one vectorized loop that writes every weight but the few it marks; those, one by one (a
    write-noise draw off the ziggurat's fast path, a device reaching its endurance limit); the pairs due for
    a refresh; the weights from the states."""
    n = delta.size
    _require_sizes(value.size == n and residual.size == n and pulses_out.size == n and p.shape[1] == n
                   and writes.shape[1] == n and failed.shape[1] == n and limits.shape[1] == n
                   and gain.shape[1] == n and step_scale.shape[1] == n and requests.size == n and rare.size == n
                   and block_requests.size == (n + _BLOCK - 1) // _BLOCK)
    pair = di[I_PAIR] == 1
    model = di[I_MODEL] if dc[D_STEP_P] > 0 else MODEL_ANALOG
    shrink = dc[D_SHRINK]
    base_round = stream_base(key, np.uint64(2 * counter) + _ROUNDING_STREAM)
    if requested_pulses(delta, dc[D_STEP_W], di[I_ROUNDING] == ROUND_STOCHASTIC, base_round, offset, residual,
                        requests, pulses_out, rare, block_requests) == 0:
        return 0, 0  # no pulse: the requests went into the residuals (most writes of a chip far from a step)
    c = _Curves(math.log(shrink) if shrink > 0 else np.nan, 1.0 / dc[D_A_UP], 1.0 / dc[D_A_DOWN],
                1.0 / dc[D_E_UP] if dc[D_E_UP] != 0 else 0.0, 1.0 / dc[D_E_DOWN] if dc[D_E_DOWN] != 0 else 0.0,
                stream_base(key, np.uint64(2 * counter)), offset)
    left = _write_rows(model, pair, dc, di, c, requests, block_requests, delta, p, gain, step_scale, limits,
                       writes, failed, pulses_out, rare, value)
    if left:
        _finish(model, dc, di, c, requests, delta, p, gain, step_scale, limits, writes, failed, pulses_out, rare,
                value)
    total = 0
    most = 0
    for b in range(block_requests.size):  # a weight outside the pulsed blocks took none
        if block_requests[b] == 0:
            continue
        for i in range(min(_BLOCK, n - b * _BLOCK)):
            k = np.uint64(b * _BLOCK + i)
            total += pulses_out[k]
            most = maximum(pulses_out[k], most)
    return total, most


def scratch(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The working arrays of a write of n weights (:func:`write`): the requests, the marks, the blocks' counts."""
    return np.zeros(n), np.zeros(n, dtype=np.bool_), np.zeros((n + _BLOCK - 1) // _BLOCK, dtype=np.int64)


# the constants of one write, derived from dc once: the curves', and where its write-noise draws come from
_Curves = namedtuple("_Curves", ["log_shrink", "inv_a_up", "inv_a_down", "inv_e_up", "inv_e_down",
                                 "noise_base", "offset"])


@nb.njit(**_JIT)
def _write_rows(model: int, pair: bool, dc: np.ndarray, di: np.ndarray, c: tuple, requests: np.ndarray,
                block_requests: np.ndarray, delta: np.ndarray, p: np.ndarray, gain: np.ndarray,
                step_scale: np.ndarray, limits: np.ndarray,
                writes: np.ndarray, failed: np.ndarray, pulses_out: np.ndarray, rare: np.ndarray,
                value: np.ndarray) -> int:
    """Block by block of weights that take any pulse (the rest are skipped: a sparse write costs little):
    :func:`_write_row` for each row of devices, in one copy per model (a constant there, so its choices fold
    away); the pairs now due for a refresh marked; the block's weights from its states. Returns how many
    weights it marked. Its own compiled function: inlined into :func:`write`, the rows' loops stayed
    scalar."""
    left = 0
    n = requests.size
    refresh = pair and dc[D_REFRESH] <= 1.0
    for b in range(block_requests.size):
        if block_requests[b] == 0:
            continue
        start = b * _BLOCK
        stop = min(start + _BLOCK, n)
        for row in range(2 if pair else 1):
            if model == MODEL_ANALOG:
                left += _write_row(MODEL_ANALOG, row, pair, start, stop, dc, di, c, requests, delta, p, gain,
                                   step_scale, limits, writes, failed, pulses_out, rare)
            elif model == MODEL_LINEAR:
                left += _write_row(MODEL_LINEAR, row, pair, start, stop, dc, di, c, requests, delta, p, gain,
                                   step_scale, limits, writes, failed, pulses_out, rare)
            elif model == MODEL_SOFT_BOUNDS:
                left += _write_row(MODEL_SOFT_BOUNDS, row, pair, start, stop, dc, di, c, requests, delta, p, gain,
                                   step_scale, limits, writes, failed, pulses_out, rare)
            else:
                left += _write_row(MODEL_EXPONENTIAL, row, pair, start, stop, dc, di, c, requests, delta, p, gain,
                                   step_scale, limits, writes, failed, pulses_out, rare)
        if refresh:
            left += _mark_refresh(start, stop, dc[D_REFRESH], p, failed, pulses_out, rare)
        _weights_of(start, stop, pair, dc, p, gain, value)
    return left


@nb.njit(**_INLINE)
def _refresh_due(k: int, threshold: float, p: np.ndarray, failed: np.ndarray) -> bool:
    """A pair whose device ran up to the threshold while its partner also holds conductance, both alive."""
    p0, p1 = p[0, k], p[1, k]
    return maximum(p0, p1) >= threshold and minimum(p0, p1) > 0 and not failed[0, k] and not failed[1, k]


@nb.njit(**_INLINE)
def _mark_refresh(start: int, stop: int, threshold: float, p: np.ndarray, failed: np.ndarray,
                  pulses_out: np.ndarray, rare: np.ndarray) -> int:
    """Marks each pair of weights [start, stop) pulsed in this write whose device ran up to the threshold while
    its partner also holds conductance (its refresh is :func:`_finish`'s); returns how many it marked."""
    marked = 0
    for i in range(stop - start):
        k = np.uint64(start + i)
        due = pulses_out[k] > 0 and _refresh_due(k, threshold, p, failed)
        marked += due and not rare[k]
        rare[k] |= due
    return marked


@nb.njit(**_INLINE)
def _weights_of(start: int, stop: int, pair: bool, dc: np.ndarray, p: np.ndarray, gain: np.ndarray,
                value: np.ndarray) -> None:
    """The weights [start, stop) the device states hold: w = w_mid + (p − 1/2)·range·gain, or
    w_max·(p+·gain+ − p−·gain−)."""
    w_max, mid, w_range = dc[D_W_MAX], dc[D_MID], dc[D_RANGE]
    for i in range(stop - start):
        k = np.uint64(start + i)
        if pair:
            value[k] = np.float32(w_max * (p[0, k] * gain[0, k] - p[1, k] * gain[1, k]))
        else:
            value[k] = np.float32(mid + (p[0, k] - 0.5) * w_range * gain[0, k])


@nb.njit(**_INLINE)
def _noise_hash(c: tuple, k: int, row: int) -> np.uint64:
    """The hash of weight k's write-noise draw on its device ``row``: draw 2·(offset + k) + row of the write's
    noise stream."""
    return mix64(c.noise_base + (np.uint64(2 * (c.offset + k)) + np.uint64(row)) * _GOLDEN)


@nb.njit(**_INLINE)
def _write_row(model: int, row: int, pair: bool, start: int, stop: int, dc: np.ndarray, di: np.ndarray,
               c: tuple, requests: np.ndarray, delta: np.ndarray, p: np.ndarray, gain: np.ndarray, step_scale: np.ndarray, limits: np.ndarray,
               writes: np.ndarray, failed: np.ndarray, pulses_out: np.ndarray, rare: np.ndarray) -> int:
    """One row's weights [start, stop) written in one branch-free loop (``p`` to ``failed`` the whole 2-d arrays,
    indexed by ``row``: a view of a row per block cost two atomic reference counts per array): a
    device whose pulses all land without wearing it out moves, a failed one only wears (it is pulsed but no longer moves),
    and one that needs more (its noise draw off the fast path, its endurance limit reached) is left as it
    was and marked in ``rare``. Returns how many it marked."""
    step_p, span, sigma, p_max = dc[D_STEP_P], dc[D_SPAN], dc[D_NOISE], dc[D_P_MAX]
    factor_up, factor_down = dc[D_UP], dc[D_DOWN]
    multiplicative = di[I_NOISE_MODEL] == NOISE_MULTIPLICATIVE
    noisy = sigma > 0
    side = 1.0 if row == 0 else -1.0   # a pair's G+ takes the increases, its G− the decreases
    marked = 0
    for i in range(stop - start):
        # an unsigned index: numba then drops its wraparound of negative indices, which kept this loop scalar
        k = np.uint64(start + i)
        pulses = requests[k]
        count = maximum(side * pulses, 0.0) if pair else abs(pulses)
        up = pair or pulses > 0
        state, written, limit, dead = p[row, k], writes[row, k], limits[row, k], failed[row, k]
        z, stands = normal_strip(_noise_hash(c, start + i, row))
        moves = count > 0 and not dead and float(written) + count < limit and (stands or not noisy)
        wears = count > 0 and dead
        own = step_scale[row, k] * (factor_up if up else factor_down)
        new = respond(state, float(delta[k]), count, up, gain[row, k], own, step_p, span, model, c.log_shrink,
                      c.inv_a_up if up else c.inv_a_down, c.inv_e_up if up else c.inv_e_down, p_max, sigma,
                      multiplicative, z if noisy else 0.0)
        taken = np.int64(count) if (moves or wears) else np.int64(0)
        p[row, k] = new if moves else state
        writes[row, k] = written + taken
        pulses_out[k] += taken
        mark = count > 0 and not moves and not wears
        rare[k] |= mark
        marked += mark
    return marked


@nb.njit(**_JIT)
def _finish(model: int, dc: np.ndarray, di: np.ndarray, c: tuple, requests: np.ndarray, delta: np.ndarray,
            p: np.ndarray, gain: np.ndarray, step_scale: np.ndarray, limits: np.ndarray, writes: np.ndarray,
            failed: np.ndarray, pulses_out: np.ndarray, rare: np.ndarray, value: np.ndarray) -> None:
    """The marked weights, one by one: the write the rows' sweep did not make; a pair's refresh, if due; the
    wear-out; the weight. Over a list of them (a conditional body in a scan of every weight was made a
    masked vector loop that did the work for all of them, and a call per weight costs its arrays' reference
    counts)."""
    chosen = np.empty(requests.size, dtype=np.int64)
    pair = di[I_PAIR] == 1
    threshold = dc[D_REFRESH]
    for t in range(_choose(rare, chosen)):
        k = chosen[t]
        if pulses_out[k] == 0:
            _write_one(k, model, dc, di, c, requests, delta, p, gain, step_scale, limits, writes, failed,
                       pulses_out)
        if pair and threshold <= 1.0 and _refresh_due(k, threshold, p, failed):
            _refresh(k, dc, p, gain, writes, pulses_out)
        _wear_out(k, p, writes, limits, failed, di[I_FAIL])  # after the refresh that may have taken it there
        _weights_of(k, k + 1, pair, dc, p, gain, value)


@nb.njit(**_INLINE)
def _choose(flags: np.ndarray, chosen: np.ndarray) -> int:
    """The indices of the set flags, in order, into ``chosen`` (branch-free); returns how many."""
    m = 0
    for k in range(flags.size):
        chosen[m] = k
        m += flags[k] != 0
    return m


@nb.njit(**_INLINE)
def _refresh(k: int, dc: np.ndarray, p: np.ndarray, gain: np.ndarray, writes: np.ndarray,
             pulses_out: np.ndarray) -> None:
    """A pair's refresh: a reset pulse for each device, then its weight reprogrammed onto one of them."""
    w_max, step_p = dc[D_W_MAX], dc[D_STEP_P]
    w = float(np.float32(w_max * (p[0, k] * gain[0, k] - p[1, k] * gain[1, k])))
    for jj in range(2):
        p[jj, k], programming = _program(w, gain[jj, k], 1.0 if jj == 0 else -1.0, w_max, step_p)
        writes[jj, k] += 1 + programming
        pulses_out[k] += 1 + programming


@nb.njit(**_INLINE)
def _wear_out(k: int, p: np.ndarray, writes: np.ndarray, limits: np.ndarray, failed: np.ndarray,
              fail_mode: int) -> None:
    """A device of weight k past its limit fails, at its value or a bound."""
    for jj in range(p.shape[0]):
        if not failed[jj, k] and writes[jj, k] >= limits[jj, k]:
            failed[jj, k] = True
            if fail_mode == FAIL_LOW:
                p[jj, k] = 0.0
            elif fail_mode == FAIL_HIGH:
                p[jj, k] = 1.0


@nb.njit(**_INLINE)
def _write_one(k: int, model: int, dc: np.ndarray, di: np.ndarray, c: tuple, requests: np.ndarray,
               delta: np.ndarray, p: np.ndarray, gain: np.ndarray, step_scale: np.ndarray, limits: np.ndarray,
               writes: np.ndarray, failed: np.ndarray, pulses_out: np.ndarray) -> None:
    """Weight k's write that :func:`_write_row` left, branch by branch: the pulses that land before its device
    reaches the endurance limit, its response with the full ziggurat's draw (wear-out follows the refresh)."""
    pair = di[I_PAIR] == 1
    pulses = int(requests[k])
    count = abs(pulses)
    j = 1 if (pair and pulses < 0) else 0
    up = pair or pulses > 0
    landed = _landing(count, limits[j, k], writes[j, k])
    writes[j, k] += count
    if landed > 0 and not failed[j, k]:
        h = _noise_hash(c, k, j)
        z, stands = normal_strip(h)
        z = (z if stands else normal_rest(h)) if dc[D_NOISE] > 0 else 0.0
        own = step_scale[j, k] * (dc[D_UP] if up else dc[D_DOWN])
        p[j, k] = respond(p[j, k], float(delta[k]) * (landed / count), landed, up, gain[j, k], own, dc[D_STEP_P],
                          dc[D_SPAN], model, c.log_shrink, c.inv_a_up if up else c.inv_a_down,
                          c.inv_e_up if up else c.inv_e_down, dc[D_P_MAX], dc[D_NOISE],
                          di[I_NOISE_MODEL] == NOISE_MULTIPLICATIVE, z)
    pulses_out[k] = count


@nb.njit(**_JIT)
def read(value: np.ndarray, key: np.uint64, counter: int, offset: int, sigma_w: np.float32,
         out: np.ndarray) -> None:
    """The weights as one inference reads them: out = value + sigma_w·z, z the normal draw of (read key, read
    number ``counter``, weight offset + k), fresh at every read; float32 arithmetic. The ziggurat's fast paths
    in one vectorized sweep per 64 weights, which also makes a mask of the draws that do not stand (2.7%);
    then those, by the mask's set bits (a second scan of every weight cost as much as the sweep)."""
    if out.size != value.size:
        raise ValueError("devices.read: the arrays differ in size")
    base = stream_base(key, np.uint64(counter))
    n = value.size
    for first in range(0, n, 64):
        pending = np.uint64(0)  # bit j: the draw of weight first + j did not stand
        for j in range(min(64, n - first)):
            k = np.uint64(first + j)
            draw, stands = normal_strip(mix64(base + np.uint64(offset + first + j) * _GOLDEN))
            out[k] = value[k] + sigma_w * np.float32(draw)
            pending |= np.uint64(not stands) << np.uint64(j)
        while pending:
            k = first + trailing_zeros(pending)
            pending &= pending - np.uint64(1)
            draw = normal_rest(mix64(base + np.uint64(offset + k) * _GOLDEN))
            out[k] = value[k] + sigma_w * np.float32(draw)


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
    failing: branch-free, so it vectorizes (the clip by vecmath's selects: numba's min and max are calls,
    which kept the loop scalar on AVX2), with the arithmetic of :func:`write_ideal`. SGD passes its learning
    rate and G's scale, so its step is made as it is written, one sweep of the arrays less; a step already
    in ``acc`` passes lr = -1 and scale = 1, which leave it exactly as it is. ``acc`` is zeroed."""
    pulses = 0
    for k in range(params.size):
        delta = -lr * (acc[k] * scale)
        acc[k] = np.float32(0.0)
        moved = delta != 0
        w = params[k]
        params[k] = minimum(maximum(w + delta, w_min), w_max) if moved else w
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
        params[k] = minimum(maximum(params[k] + delta, w_min), w_max)
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
    """The weights the device states hold (the write's own arithmetic, :func:`_weights_of`)."""
    _weights_of(0, value.size, di[I_PAIR] == 1, dc, p, gain, value)
