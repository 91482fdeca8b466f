"""Chip-mode MGD on a fully connected network, compiled: every clock-domain action of one cycle, and a loop
that runs a whole stretch of cycles in one call.

The engine calls :func:`on_sample`, :func:`on_perturb`, :func:`on_cycle` and :func:`on_update` one event at
a time, or :func:`run_stretch`, which calls the very same functions in the same order for every cycle of a
stretch, so the two give bit-identical results (tested). Python then touches each stretch, never each
synapse or each cycle.

All state lives in flat arrays (parameters, accumulators, signs, activations) indexed through ``layout``,
one row per layer: fan_in, fan_out, weight offset, bias offset, node offset, activation input offset,
activation code. Scalars live in ``fs`` (float64) and ``ist`` (int64), see the F_/I_ indices below.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from neurosim.kernels.rng import _GOLDEN, mix64, stream_base

# layout columns
L_FAN_IN, L_FAN_OUT, L_W, L_B, L_NODE, L_IN, L_ACT = range(7)
ACT_CODES = {"identity": 0, "relu": 1, "tanh": 2, "sigmoid": 3}
# float64 scalars
F_C0, F_COST_SUM, F_STALL_S, F_LR, F_SCALE, F_DELTA, F_W_MIN, F_W_MAX, F_MOM, F_B1, F_B2, F_EPS, \
    F_WRITE_TIME_S, F_UPDATE_PERIOD_S = range(14)
N_F = 14
# int64 scalars
I_CYCLE, I_STALE, I_PSTEP, I_SAMPLE_POS, I_COST_COUNT, I_UPDATES, I_HOLD, I_KIND, I_BASELINE, I_LOSS, \
    I_OPT, I_STALL_MODE, I_LAYERS, I_FAIL_MODE = range(14)
N_I = 14
# event counts, in the order of neurosim.chip.ledger.EventCounts (write_stall_s kept in fs)
C_CYCLES, C_INFERENCES, C_MACS, C_TOGGLES, C_COSTS, C_BROADCASTS, C_ACC, C_UPDATES, C_PULSES, C_ROUNDS = range(10)
N_C = 10
KIND_WEIGHT, KIND_NODE = 0, 1
LOSS_CE, LOSS_MSE = 0, 1
OPT_SGD, OPT_MOMENTUM, OPT_ADAM = 0, 1, 2
FAIL_STUCK, FAIL_LOW, FAIL_HIGH = 0, 1, 2

_JIT = {"nogil": True, "cache": True}


@nb.njit(**_JIT)
def activate(code: int, z: np.float32) -> np.float32:
    if code == 1:
        return z if z > 0 else np.float32(0.0)
    if code == 2:
        return np.float32(math.tanh(z))
    if code == 3:
        return np.float32(1.0 / (1.0 + math.exp(-z)))
    return z


@nb.njit(**_JIT)
def forward(layout: np.ndarray, params: np.ndarray, theta: np.ndarray, node_theta: np.ndarray,
            sign: np.float32, h: np.ndarray, z: np.ndarray) -> None:
    """One inference. h holds every layer's input, then the output; z every pre-activation.

    ``theta`` (weight perturbation, parameter-sized) or ``node_theta`` (node-sized) is added times ``sign``;
    an empty array means unperturbed.
    """
    weight_pert = theta.size > 0
    node_pert = node_theta.size > 0
    for layer in range(layout.shape[0]):
        fan_in, fan_out = layout[layer, L_FAN_IN], layout[layer, L_FAN_OUT]
        w0, b0, n0 = layout[layer, L_W], layout[layer, L_B], layout[layer, L_NODE]
        i0 = layout[layer, L_IN]
        o0 = i0 + fan_in  # the next layer's input follows this one's
        for o in range(fan_out):
            acc = params[b0 + o]
            if weight_pert:
                acc += sign * theta[b0 + o]
            z[n0 + o] = acc
        for i in range(fan_in):
            x = h[i0 + i]
            if x == 0:
                continue
            row = w0 + i * fan_out
            if weight_pert:
                for o in range(fan_out):
                    z[n0 + o] += x * (params[row + o] + sign * theta[row + o])
            else:
                for o in range(fan_out):
                    z[n0 + o] += x * params[row + o]
        code = layout[layer, L_ACT]
        for o in range(fan_out):
            v = z[n0 + o]
            if node_pert:
                v += sign * node_theta[n0 + o]
                z[n0 + o] = v
            h[o0 + o] = activate(code, v)


@nb.njit(**_JIT)
def cost(loss: int, out: np.ndarray, label: int) -> float:
    """ρ of one sample, in float64 (see neurosim.nn.losses)."""
    n = out.size
    if loss == LOSS_CE:
        top = -np.inf
        for k in range(n):
            top = max(top, float(out[k]))
        total = 0.0
        for k in range(n):
            total += math.exp(float(out[k]) - top)
        return math.log(total) - (float(out[label]) - top)
    total = 0.0
    for k in range(n):
        t = 1.0 if k == label else 0.0
        total += (float(out[k]) - t) ** 2
    return total / n


@nb.njit(**_JIT)
def _output(layout: np.ndarray, h: np.ndarray) -> np.ndarray:
    last = layout.shape[0] - 1
    start = layout[last, L_IN] + layout[last, L_FAN_IN]
    return h[start:start + layout[last, L_FAN_OUT]]


@nb.njit(**_JIT)
def on_sample(x_train: np.ndarray, order: np.ndarray, ist: np.ndarray, h_base: np.ndarray,
              label: np.ndarray) -> None:
    """A new training sample enters the input layer; the baseline must be measured again."""
    index = order[ist[I_SAMPLE_POS]]
    ist[I_SAMPLE_POS] += 1
    x = x_train[index]
    for i in range(x.size):
        h_base[i] = x[i]
    label[0] = index
    ist[I_STALE] = 1


@nb.njit(**_JIT)
def on_perturb(key: np.uint64, signs: np.ndarray, theta: np.ndarray, fs: np.ndarray, ist: np.ndarray,
               counts: np.ndarray) -> None:
    """New ±δ states on every element (64 signs per hash); only flips are counted (the first sets all)."""
    base = stream_base(key, np.uint64(ist[I_PSTEP]))
    delta = np.float32(fs[F_DELTA])
    flips = 0  # signs start at 0, so the first perturbation counts every element
    n = signs.size
    for block in range((n + 63) >> 6):  # one hash per 64 elements; the inner loop has no branch
        bits = mix64(base + np.uint64(block) * _GOLDEN)
        lo = block << 6
        for j in range(min(64, n - lo)):
            s = np.float32(1.0) - np.float32(2.0) * np.float32((bits >> np.uint64(j)) & np.uint64(1))
            flips += s != signs[lo + j]
            signs[lo + j] = s
            theta[lo + j] = delta * s
    ist[I_PSTEP] += 1
    counts[C_TOGGLES] += flips


@nb.njit(**_JIT)
def on_cycle(layout: np.ndarray, params: np.ndarray, signs: np.ndarray, theta: np.ndarray, acc: np.ndarray,
             h_base: np.ndarray, z_base: np.ndarray, h_pert: np.ndarray, z_pert: np.ndarray,
             y_train: np.ndarray, label: np.ndarray, fs: np.ndarray, ist: np.ndarray, counts: np.ndarray,
             macs_per_inference: int) -> None:
    """Perturbed inference, ΔC on the bus, and every synapse's accumulator integrates ΔC·s."""
    y = y_train[label[0]]
    kind = ist[I_KIND]
    empty = np.empty(0, dtype=np.float32)
    w_theta = theta if kind == KIND_WEIGHT else empty
    n_theta = theta if kind == KIND_NODE else empty
    n_in = layout[0, L_FAN_IN]
    for i in range(n_in):
        h_pert[i] = h_base[i]
    if ist[I_BASELINE] == 1:  # antithetic: C(+θ) and C(−θ); node inputs from the + pass
        forward(layout, params, w_theta, n_theta, np.float32(1.0), h_pert, z_pert)
        plus = cost(ist[I_LOSS], _output(layout, h_pert), y)
        forward(layout, params, w_theta, n_theta, np.float32(-1.0), h_base, z_base)
        minus = cost(ist[I_LOSS], _output(layout, h_base), y)
        for i in range(h_base.size):
            h_base[i] = h_pert[i]
        dc = 0.5 * (plus - minus)
        fs[F_COST_SUM] += 0.5 * (plus + minus)
        inferences = 2
    else:
        inferences = 1
        if ist[I_STALE] == 1:
            forward(layout, params, empty, empty, np.float32(1.0), h_base, z_base)
            fs[F_C0] = cost(ist[I_LOSS], _output(layout, h_base), y)
            ist[I_STALE] = 0
            inferences = 2
        forward(layout, params, w_theta, n_theta, np.float32(1.0), h_pert, z_pert)
        dc = cost(ist[I_LOSS], _output(layout, h_pert), y) - fs[F_C0]
        fs[F_COST_SUM] += fs[F_C0]
    ist[I_COST_COUNT] += 1
    d = np.float32(dc)
    if kind == KIND_WEIGHT:
        for k in range(acc.size):
            acc[k] += d * signs[k]
    else:  # the local product of ΔC·s at each neuron with the layer's (baseline) input
        for layer in range(layout.shape[0]):
            fan_in, fan_out = layout[layer, L_FAN_IN], layout[layer, L_FAN_OUT]
            w0, b0, n0, i0 = layout[layer, L_W], layout[layer, L_B], layout[layer, L_NODE], layout[layer, L_IN]
            for o in range(fan_out):
                acc[b0 + o] += d * signs[n0 + o]
            for i in range(fan_in):
                x = h_base[i0 + i]
                row = w0 + i * fan_out
                for o in range(fan_out):
                    acc[row + o] += d * (signs[n0 + o] * x)
    counts[C_CYCLES] += 1
    counts[C_INFERENCES] += inferences
    counts[C_MACS] += inferences * macs_per_inference
    counts[C_COSTS] += inferences
    counts[C_BROADCASTS] += 1
    counts[C_ACC] += params.size
    ist[I_CYCLE] += 1


@nb.njit(**_JIT)
def on_update(params: np.ndarray, acc: np.ndarray, m: np.ndarray, v: np.ndarray, writes: np.ndarray,
              limits: np.ndarray, failed: np.ndarray, fs: np.ndarray, ist: np.ndarray, counts: np.ndarray) -> None:
    """G = S·scale; the optimizer's step is written into ideal analog devices (one pulse per change); a
    device whose pulses reach its endurance limit fails (stuck, or at the low or high conductance)."""
    ist[I_UPDATES] += 1
    lr = np.float32(0.0) if ist[I_UPDATES] <= ist[I_HOLD] else np.float32(fs[F_LR])
    scale = np.float32(fs[F_SCALE])
    opt = ist[I_OPT]
    fail_mode = ist[I_FAIL_MODE]
    mom, b1, b2, eps = np.float32(fs[F_MOM]), np.float32(fs[F_B1]), np.float32(fs[F_B2]), np.float32(fs[F_EPS])
    w_min, w_max = np.float32(fs[F_W_MIN]), np.float32(fs[F_W_MAX])
    n = params.size
    # the optimizer's step for every weight, one branch-free loop per optimizer (the same operation order as
    # the Python optimizer, so both round alike); the step replaces the accumulator, read and cleared below
    if opt == OPT_SGD:
        for k in range(n):
            acc[k] = -lr * (acc[k] * scale)
    elif opt == OPT_MOMENTUM:
        for k in range(n):
            m[k] = m[k] * mom + acc[k] * scale
            acc[k] = -lr * m[k]
    else:
        for k in range(n):
            g = acc[k] * scale
            m[k] = m[k] * b1 + (np.float32(1.0) - b1) * g
            v[k] = v[k] * b2 + (np.float32(1.0) - b2) * g * g
            acc[k] = -lr * (m[k] / (np.float32(math.sqrt(v[k])) + eps))
    pulses = 0
    for k in range(n):
        delta = acc[k]
        acc[k] = 0.0
        if delta == 0:
            continue
        writes[k] += 1  # the pulse is sent (and worn) even to a failed device, which no longer moves
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
    counts[C_UPDATES] += 1
    counts[C_PULSES] += pulses
    if pulses > 0:
        counts[C_ROUNDS] += 1
        write_time = fs[F_WRITE_TIME_S]
        if ist[I_STALL_MODE] == 1:
            write_time = max(0.0, write_time - fs[F_UPDATE_PERIOD_S])
        fs[F_STALL_S] += write_time
    ist[I_STALE] = 1


@nb.njit(**_JIT)
def run_stretch(n_cycles: int, tau_p: int, tau_x: int, tau_theta: int, key: np.uint64, layout: np.ndarray,
                params: np.ndarray, signs: np.ndarray, theta: np.ndarray, acc: np.ndarray, m: np.ndarray,
                v: np.ndarray, writes: np.ndarray, limits: np.ndarray, failed: np.ndarray, x_train: np.ndarray, y_train: np.ndarray, order: np.ndarray,
                label: np.ndarray, h_base: np.ndarray, z_base: np.ndarray, h_pert: np.ndarray,
                z_pert: np.ndarray, fs: np.ndarray, ist: np.ndarray, counts: np.ndarray,
                macs_per_inference: int) -> None:
    """Cycles [ist[I_CYCLE], +n_cycles): the clock domains in their phase order, cycle by cycle."""
    for _ in range(n_cycles):
        cycle = ist[I_CYCLE]
        if cycle % tau_x == 0:
            on_sample(x_train, order, ist, h_base, label)
        if cycle % tau_p == 0:
            on_perturb(key, signs, theta, fs, ist, counts)
        on_cycle(layout, params, signs, theta, acc, h_base, z_base, h_pert, z_pert, y_train, label, fs, ist,
                 counts, macs_per_inference)
        if (cycle + 1) % tau_theta == 0:
            on_update(params, acc, m, v, writes, limits, failed, fs, ist, counts)
