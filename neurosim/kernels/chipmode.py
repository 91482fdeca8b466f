"""Chip-mode MGD compiled, on any network of dense layers and 3x3 convolutions with 2x2 max-pools: every
clock-domain action of one cycle, and a loop that runs a whole stretch of cycles in one call.

The engine calls :func:`on_sample`, :func:`on_perturb`, :func:`on_cycle` and :func:`on_update` one event at
a time, or :func:`run_stretch`, which calls the very same functions in the same order for every cycle of a
stretch, so the two give bit-identical results (tested). Python then touches each stretch, never each
synapse or each cycle.

All state lives in flat arrays (parameters, accumulators, signs, activations) indexed through ``layout``,
one row per layer (the L_ columns below: fan-in and fan-out of its crossbar, its weight, bias, node,
input and max-pool-winner offsets, activation code, and a convolution's image shape). Activations are NHWC,
as in :mod:`neurosim.nn.compute`, whose MAC and pooling kernels (:mod:`neurosim.kernels.mac`) a
convolution calls here for its one image. A network's working arrays (the pre-pool activations, both
passes' max-pool winners, a convolution's unrolled input and local product, the held node sums) come in as
arguments of their own, None where a network has no use for them: a None argument compiles the code that
would use it out (a dense network's kernels carry none of the convolutions'). Scalars live in ``fs`` (float64) and ``ist`` (int64), see the F_/I_ indices below. The weight
devices are the flat state of :mod:`neurosim.kernels.devices` over every parameter, written by its kernels: the
same ones :class:`~neurosim.chip.devices.DeviceArray` calls. Read noise: a network with convolutions reads
every weight by :func:`neurosim.kernels.devices.read`; a dense network takes it at each layer's outputs
(:func:`_read`), the same in distribution.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from neurosim.kernels import codes
from neurosim.kernels import devices as dev
from neurosim.kernels import mac
from neurosim.kernels import optimizers
from neurosim.kernels.activations import ACT_CODES, activate, activate_all, tanh32  # noqa: F401 (re-exported)
from neurosim.kernels.costs import cost
from neurosim.kernels.periphery import limit, measure_cost
from neurosim.kernels.borrow import borrowed
from neurosim.kernels.rng import _GOLDEN, mix64, normal_at, stream_base, unpack_signs

# layout columns
L_FAN_IN, L_FAN_OUT, L_W, L_B, L_NODE, L_IN, L_ACT, L_CONV, L_HEIGHT, L_WIDTH, L_CHANNELS, L_POOL, L_ARG, \
    L_IN_SIZE, L_NODES, L_DIRECT = range(16)
N_L = 16
# float64 scalars
F_C0, F_COST_SUM, F_STALL_S, F_LR, F_SCALE, F_DELTA, F_W_MIN, F_W_MAX, F_MOM, F_B1, F_B2, F_EPS, \
    F_WRITE_TIME_S, F_UPDATE_PERIOD_S, F_HEADROOM, F_SMOOTH, F_COST_NOISE, F_COST_FS, F_ACC_FS, F_ACC_LSB, \
    F_LEAK = range(21)
N_F = 21
# int64 scalars
I_CYCLE, I_STALE, I_PSTEP, I_SAMPLE_POS, I_COST_COUNT, I_UPDATES, I_HOLD, I_KIND, I_BASELINE, I_LOSS, \
    I_OPT, I_STALL_MODE, I_LAYERS, I_FAIL_MODE, I_READS, I_PARALLEL, I_TILE_ROWS, I_TILE_COLS, I_CODE, \
    I_COST_BITS, I_COST_COUNTER, I_ACC_LIMITED, I_HELD, I_DEFER, I_SUMS_HELD = range(25)
N_I = 25
# event counts, in the order of neurosim.chip.ledger.EventCounts (write_stall_s kept in fs)
C_CYCLES, C_INFERENCES, C_MACS, C_TOGGLES, C_COSTS, C_BROADCASTS, C_ACC, C_UPDATES, C_PULSES, C_ROUNDS = range(10)
N_C = 10
KIND_WEIGHT, KIND_NODE = 0, 1

_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}  # numpy's: no zero-division test per division
# Inlined (numba IR) into their callers: the per-cycle actions, so a stretch makes no call per cycle, and the
# helpers of one inference. Not forward itself: inlined at each of its call sites it took the first
# compilation from 14 s to 86 s, for no clear gain in speed.
_INLINE = {**_JIT, "inline": "always"}


@nb.njit(**_INLINE)
def _dense_sums(layout: np.ndarray, layer: int, params: np.ndarray, h: np.ndarray, sums: np.ndarray) -> None:
    """A dense layer's pre-activations before node perturbation: bias + Σ input·weight in order of the inputs.

    Two things make this fast on small layers without changing a single rounding. The sums go to scratch,
    not to ``z``, through slices: the compiler cannot prove that ``z`` does not alias the weights. And one
    sweep over the sums adds eight input rows, in order: a layer as narrow as NIST7x7's (16 outputs) is too
    short a loop to vectorize well, so the cost per row, not per MAC, dominates. Together: 3x faster."""
    fan_in, fan_out = layout[layer, L_FAN_IN], layout[layer, L_FAN_OUT]
    w0, b0, i0 = layout[layer, L_W], layout[layer, L_B], layout[layer, L_IN]
    for o in range(fan_out):
        sums[o] = params[b0 + o]
    i = 0
    f1, f2, f3, f4, f5, f6, f7 = fan_out, 2 * fan_out, 3 * fan_out, 4 * fan_out, 5 * fan_out, 6 * fan_out, \
        7 * fan_out
    while i + 8 <= fan_in:
        x0, x1, x2, x3 = h[i0 + i], h[i0 + i + 1], h[i0 + i + 2], h[i0 + i + 3]
        x4, x5, x6, x7 = h[i0 + i + 4], h[i0 + i + 5], h[i0 + i + 6], h[i0 + i + 7]
        row = w0 + i * fan_out
        for o in range(fan_out):
            w = np.uint64(row + o)  # an unsigned offset, not a view of the rows: a view costs two atomic counts
            v = sums[o] + x0 * params[w]
            v = v + x1 * params[w + np.uint64(f1)]
            v = v + x2 * params[w + np.uint64(f2)]
            v = v + x3 * params[w + np.uint64(f3)]
            v = v + x4 * params[w + np.uint64(f4)]
            v = v + x5 * params[w + np.uint64(f5)]
            v = v + x6 * params[w + np.uint64(f6)]
            sums[o] = v + x7 * params[w + np.uint64(f7)]
        i += 8
    while i < fan_in:
        x = h[i0 + i]
        row = w0 + i * fan_out
        for o in range(fan_out):
            sums[o] += x * params[np.uint64(row + o)]
        i += 1


@nb.njit(**_JIT)
def _conv_mac(layout: np.ndarray, layer: int, params: np.ndarray, h: np.ndarray, z: np.ndarray) -> None:
    """A 3x3 convolution's pre-activations (before node perturbation) into z, by the very kernels
    :func:`neurosim.nn.compute.forward` uses for one image (planar for few channels, else im2col and one
    product): the same floats as the batch computation."""
    fan_in, fan_out = layout[layer, L_FAN_IN], layout[layer, L_FAN_OUT]
    w0, b0, n0, i0 = layout[layer, L_W], layout[layer, L_B], layout[layer, L_NODE], layout[layer, L_IN]
    height, width, channels = layout[layer, L_HEIGHT], layout[layer, L_WIDTH], layout[layer, L_CHANNELS]
    x = h[i0:i0 + height * width * channels].reshape((1, height, width, channels))
    weight = params[w0:w0 + fan_in * fan_out].reshape((fan_in, fan_out))
    bias = params[b0:b0 + fan_out]
    out = z[n0:n0 + height * width * fan_out].reshape((1, height, width, fan_out))
    if layout[layer, L_DIRECT] == 1:
        mac.conv3x3_planar(x, weight, bias, out)
    else:
        mac.conv3x3_forward(x, weight, bias, 1, 1, out)


@nb.njit(**_JIT)
def _layer_mac(layout: np.ndarray, layer: int, params: np.ndarray, h: np.ndarray, z: np.ndarray,
               scratch: np.ndarray) -> np.ndarray:
    """A layer's MAC; returns where its pre-activations are (a dense layer's in scratch, a convolution's in
    its part of z)."""
    if layout[layer, L_CONV] == 1:
        _conv_mac(layout, layer, params, h, z)
        n0 = layout[layer, L_NODE]
        return z[n0:n0 + layout[layer, L_NODES]]
    sums = scratch[:layout[layer, L_FAN_OUT]]
    _dense_sums(layout, layer, params, h, sums)
    return sums


@nb.njit(**_INLINE)
def _finish_dense(layout: np.ndarray, layer: int, node_pattern: np.ndarray, amp: np.float32, sums: np.ndarray,
                  h: np.ndarray, z: np.ndarray, read_sigma: float, read_base: np.uint64) -> None:
    """:func:`_finish_layer` for a dense layer (never pooled) in one loop: on a layer as narrow as NIST7x7's
    the separate loops cost a third of the inference. With ``read_sigma`` > 0 (weight units) the read noise of
    every weight of the layer, taken where it lands: at the outputs. Independent normal noise of σ on each
    weight of a column sums to a normal of σ·sqrt(Σx² + 1) on its output (the bias's input is 1), independent
    from column to column. So output o takes that spread times draw n0 + o of the read's stream (``read_base``),
    added with the node perturbation as one term: v = sum + (noise + θ)."""
    fan_out, n0 = layout[layer, L_FAN_OUT], layout[layer, L_NODE]
    o0 = layout[layer, L_IN] + layout[layer, L_IN_SIZE]
    code = layout[layer, L_ACT]
    node_pert = node_pattern.size > 0
    if read_sigma > 0:
        i0 = layout[layer, L_IN]
        squares = 0.0
        for i in range(layout[layer, L_FAN_IN]):
            x = float(h[i0 + i])
            squares += x * x
        spread = read_sigma * math.sqrt(squares + 1.0)
        for o in range(fan_out):
            extra = np.float32(spread * normal_at(read_base, np.uint64(n0 + o)))
            if node_pert:
                extra += amp * node_pattern[n0 + o]
            v = sums[o] + extra
            z[n0 + o] = v
            h[o0 + o] = activate(code, v)
        return
    for o in range(fan_out):
        v = sums[o]
        if node_pert:
            v += amp * node_pattern[n0 + o]
        z[n0 + o] = v
        h[o0 + o] = activate(code, v)


@nb.njit(**_JIT)
def _finish_layer(layout: np.ndarray, layer: int, node_pattern: np.ndarray, amp: np.float32, pre: np.ndarray,
                  h: np.ndarray, z: np.ndarray, arg: np.ndarray, held: np.ndarray, post: np.ndarray) -> None:
    """Node perturbation θ = ``amp``·pattern (``node_pattern`` empty: none) on the pre-activations ``pre``,
    into z; the activations into h (the next layer's input), through the 2x2 max-pool where the layer has
    one: its winners recorded in ``arg``, or, with ``held`` (an unperturbed pass's winners), those kept."""
    nodes, n0 = layout[layer, L_NODES], layout[layer, L_NODE]
    o0 = layout[layer, L_IN] + layout[layer, L_IN_SIZE]  # the next layer's input follows this one's
    code = layout[layer, L_ACT]
    if node_pattern.size > 0:
        for j in range(nodes):
            z[n0 + j] = pre[j] + amp * node_pattern[n0 + j]
    else:
        for j in range(nodes):
            z[n0 + j] = pre[j]
    mine = z[n0:n0 + nodes]
    if layout[layer, L_POOL] == 0:
        activate_all(code, mine, h[o0:o0 + nodes])
        return
    height, width, channels = layout[layer, L_HEIGHT], layout[layer, L_WIDTH], layout[layer, L_FAN_OUT]
    a0 = layout[layer, L_ARG]
    size = (height // 2) * (width // 2) * channels
    pooled_shape = (1, height // 2, width // 2, channels)
    pooled_out = h[o0:o0 + size]
    if held.size > 0:  # the held winners' pre-activations, then only those activated (it is element-wise)
        mac.maxpool2_select(mine.reshape((1, height, width, channels)), held[a0:a0 + size].reshape(pooled_shape),
                            pooled_out.reshape(pooled_shape))
        activate_all(code, pooled_out, pooled_out)
    else:
        activate_all(code, mine, post[:nodes])
        mac.maxpool2_forward(post[:nodes].reshape((1, height, width, channels)), pooled_out.reshape(pooled_shape),
                             arg[a0:a0 + size].reshape(pooled_shape))


@nb.njit(**_JIT)
def _conv_layer(layout: np.ndarray, layer: int, params: np.ndarray, node_pattern: np.ndarray, amp: np.float32,
                h: np.ndarray, z: np.ndarray, arg: np.ndarray, held: np.ndarray, post: np.ndarray) -> None:
    """A convolution's MAC and finish, not inlined: a dense network's inference carries none of its code."""
    _conv_mac(layout, layer, params, h, z)
    n0 = layout[layer, L_NODE]
    _finish_layer(layout, layer, node_pattern, amp, z[n0:n0 + layout[layer, L_NODES]], h, z, arg, held, post)


@nb.njit(**_JIT)
def forward(layout: np.ndarray, params: np.ndarray, node_pattern: np.ndarray, amp: np.float32, h: np.ndarray,
            z: np.ndarray, arg: np.ndarray, held: np.ndarray, post: np.ndarray, scratch: np.ndarray,
            start: int) -> None:
    """One inference from layer ``start`` on, with the weights ``params`` (under weight perturbation, the
    perturbed ones). h holds every layer's input, then the output; z every pre-activation; ``arg`` the
    max-pool winners. θ = ``amp``·pattern is added to every node (``node_pattern``, node-sized; empty:
    unperturbed); ``amp`` = ±δ. ``held``: the winners an unperturbed pass recorded, kept (empty: compared
    afresh). ``scratch`` holds at least the widest dense fan-out, ``post`` the largest pooled layer."""
    for layer in range(start, layout.shape[0]):
        if layout[layer, L_CONV] == 1:
            _conv_layer(layout, layer, params, node_pattern, amp, h, z, arg, held, post)
        else:
            sums = scratch[:layout[layer, L_FAN_OUT]]
            _dense_sums(layout, layer, params, h, sums)
            _finish_dense(layout, layer, node_pattern, amp, sums, h, z, 0.0, np.uint64(0))


@nb.njit(**_JIT)
def node_forward_twice(layout: np.ndarray, params: np.ndarray, node_pattern: np.ndarray, amp_a: np.float32,
                       h_a: np.ndarray, z_a: np.ndarray, arg_a: np.ndarray, held_a: np.ndarray,
                       amp_b: np.float32, b_perturbed: bool, h_b: np.ndarray, z_b: np.ndarray,
                       arg_b: np.ndarray, post: np.ndarray, scratch: np.ndarray) -> None:
    """Two inferences of the same input (in both h_a and h_b), node-perturbed by amp_a·pattern and amp_b·pattern
    (b maybe unperturbed, and then run first: a may keep its max-pool winners, ``held_a``), with the same
    results as two :func:`forward` calls: the first layer's MAC, most of a small MLP's MACs, is the same for
    both and is made once."""
    none = node_pattern[:0]
    live = arg_b[:0]  # b compares its pools afresh
    pre = _layer_mac(layout, 0, params, h_b, z_b, scratch)
    nodes = layout[0, L_NODES]
    if layout[0, L_CONV] == 1:  # in z_b: a copy for a, before b's θ goes in
        n0 = layout[0, L_NODE]
        for j in range(nodes):
            z_a[n0 + j] = pre[j]
        pre_a = z_a[n0:n0 + nodes]
    else:
        pre_a = pre
    _finish_layer(layout, 0, node_pattern if b_perturbed else none, amp_b, pre, h_b, z_b, arg_b, live, post)
    _finish_layer(layout, 0, node_pattern, amp_a, pre_a, h_a, z_a, arg_a, held_a, post)
    second = np.int64(1)  # not a literal 1: a literal argument would compile forward once more
    forward(layout, params, node_pattern if b_perturbed else none, amp_b, h_b, z_b, arg_b, live, post, scratch,
            second)
    forward(layout, params, node_pattern, amp_a, h_a, z_a, arg_a, held_a, post, scratch, second)


@nb.njit(**_JIT)
def dense_forward(layout: np.ndarray, params: np.ndarray, node_pattern: np.ndarray, amp: np.float32,
                  h: np.ndarray, z: np.ndarray, scratch: np.ndarray, start: int, read_sigma: float = 0.0,
                  read_base: np.uint64 = np.uint64(0)) -> None:
    """:func:`forward` for a network of dense layers only (the same helpers, the same floats), with none of
    the convolutions' arrays to hand on: each array a compiled call receives costs reference counting,
    which on NIST7x7 was a quarter of the cycle. ``read_sigma`` > 0: the read's noise, at the outputs
    (:func:`_finish_dense`)."""
    for layer in range(start, layout.shape[0]):
        sums = scratch[:layout[layer, L_FAN_OUT]]
        _dense_sums(layout, layer, params, h, sums)
        _finish_dense(layout, layer, node_pattern, amp, sums, h, z, read_sigma, read_base)


@nb.njit(**_JIT)
def dense_forward_twice(layout: np.ndarray, params: np.ndarray, node_pattern: np.ndarray, amp_a: np.float32,
                        h_a: np.ndarray, z_a: np.ndarray, amp_b: np.float32, b_perturbed: bool, h_b: np.ndarray,
                        z_b: np.ndarray, scratch: np.ndarray) -> None:
    """:func:`node_forward_twice` for a network of dense layers only."""
    none = node_pattern[:0]
    sums = scratch[:layout[0, L_FAN_OUT]]
    _dense_sums(layout, 0, params, h_b, sums)
    quiet = np.uint64(0)  # no read noise: this pair of inferences shares one reading of the weights
    _finish_dense(layout, 0, node_pattern if b_perturbed else none, amp_b, sums, h_b, z_b, 0.0, quiet)
    _finish_dense(layout, 0, node_pattern, amp_a, sums, h_a, z_a, 0.0, quiet)
    second = np.int64(1)
    dense_forward(layout, params, node_pattern if b_perturbed else none, amp_b, h_b, z_b, scratch, second, 0.0, quiet)
    dense_forward(layout, params, node_pattern, amp_a, h_a, z_a, scratch, second, 0.0, quiet)


@nb.njit(**_JIT)
def _infer(layout: np.ndarray, params: np.ndarray, node_pattern: np.ndarray, amp: np.float32,
           h: np.ndarray, z: np.ndarray, arg: np.ndarray, held: np.ndarray, post: np.ndarray | None,
           scratch: np.ndarray, read: tuple) -> None:
    """One inference: a network with convolutions passes ``post``; a dense one passes None, and then (numba
    drops the branch a None argument decides) none of the convolutions' code is compiled for it. ``read``:
    the read noise a dense network takes at its outputs, (σ, the draws' base) from :func:`_read`."""
    first = np.int64(0)
    if post is None:
        dense_forward(layout, params, node_pattern, amp, h, z, scratch, first, read[0], read[1])
    else:
        forward(layout, params, node_pattern, amp, h, z, arg, held, post, scratch, first)


@nb.njit(**_JIT)
def _infer_twice(layout: np.ndarray, params: np.ndarray, node_pattern: np.ndarray,
                 amp_a: np.float32, h_a: np.ndarray, z_a: np.ndarray, arg_a: np.ndarray, held_a: np.ndarray,
                 amp_b: np.float32, b_perturbed: bool, h_b: np.ndarray, z_b: np.ndarray, arg_b: np.ndarray,
                 post: np.ndarray | None, scratch: np.ndarray) -> None:
    """Two inferences of one input (see :func:`_infer` on ``post``)."""
    if post is None:
        dense_forward_twice(layout, params, node_pattern, amp_a, h_a, z_a, amp_b, b_perturbed, h_b, z_b, scratch)
    else:
        node_forward_twice(layout, params, node_pattern, amp_a, h_a, z_a, arg_a, held_a, amp_b, b_perturbed,
                           h_b, z_b, arg_b, post, scratch)


@nb.njit(**_INLINE)
def _measured(loss: int, out: np.ndarray, label: int, fs: np.ndarray, ist: np.ndarray,
              cost_base: np.uint64) -> float:
    """The cost of one inference as the cost circuit reports it (noise, ADC), the run's next measurement."""
    c = cost(loss, out, label, fs[F_SMOOTH])
    if ist[I_COST_BITS] > 0 or fs[F_COST_NOISE] > 0:
        c = _through_cost_circuit(c, fs, ist, cost_base)
    return c


@nb.njit(**_JIT)
def _through_cost_circuit(c: float, fs: np.ndarray, ist: np.ndarray, cost_base: np.uint64) -> float:
    """Not inlined: the noise draw's code kept out of the cycle loop, which an ideal cost circuit never runs."""
    c = measure_cost(c, fs[F_COST_NOISE], ist[I_COST_BITS], fs[F_COST_FS], cost_base, ist[I_COST_COUNTER])
    ist[I_COST_COUNTER] += 1
    return c


@nb.njit(**_INLINE)
def _output(layout: np.ndarray, h: np.ndarray) -> np.ndarray:
    last = layout.shape[0] - 1
    start = layout[last, L_IN] + layout[last, L_IN_SIZE]
    return h[start:start + layout[last, L_FAN_OUT]]


@nb.njit(**_INLINE)
def on_sample(x_train: np.ndarray, order: np.ndarray, ist: np.ndarray, h_base: np.ndarray,
              label: np.ndarray) -> None:
    """A new training sample enters the input layer; the baseline must be measured again. The node sums held
    for the last sample are folded first, by the caller (:func:`fold_node_sums`; see :func:`run_stretch`)."""
    index = order[ist[I_SAMPLE_POS]]
    ist[I_SAMPLE_POS] += 1
    x = x_train[index]
    for i in range(x.size):
        h_base[i] = x[i]
    label[0] = index
    ist[I_STALE] = 1


@nb.njit(**_INLINE)
def _popcount(x: np.uint64) -> int:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@nb.njit(**_INLINE)
def on_perturb(key: np.uint64, signs: np.ndarray, words: np.ndarray, pattern: np.ndarray | None,
               mismatch: np.ndarray | None, code_buf: np.ndarray | None, fs: np.ndarray, ist: np.ndarray,
               counts: np.ndarray) -> None:
    """New code values on every element: Bernoulli ±1 signs, 64 per hash, or a deterministic code's values
    (:mod:`neurosim.kernels.codes`); θ = ±δ·s is never stored (see :func:`forward`). The hashes are kept in
    ``words``, so the flips (toggles, priced by the ledger) are a popcount of old XOR new; a deterministic
    code counts the values that changed; the first perturbation sets, and counts, every element. With
    amplitude mismatch the perturbation applied is ``pattern`` = s·m (m each element's relative amplitude),
    while the accumulators integrate ΔC·s. Without mismatch ``pattern`` and ``mismatch`` are None, and
    ``code_buf`` is None for the Bernoulli code: unless its caller borrowed them (:mod:`neurosim.kernels.
    borrow`), each array argument of this inlined function costs an atomic increment and decrement per call,
    a None none (and its branch compiles to nothing)."""
    if ist[I_CODE] != 0:
        _code_values(signs, code_buf, ist, counts)
    else:
        _bernoulli_signs(key, signs, words, ist, counts)
    ist[I_PSTEP] += 1
    if mismatch is not None:
        apply_mismatch(signs, mismatch, pattern)


@nb.njit(**_JIT)
def apply_mismatch(signs: np.ndarray, mismatch: np.ndarray | None, pattern: np.ndarray | None) -> None:
    """pattern = s·m (nothing without mismatch: None, and the loop is compiled out)."""
    if mismatch is None or pattern is None:
        return
    for k in range(signs.size):
        pattern[k] = signs[k] * mismatch[k]


@nb.njit(**_JIT)
def _code_values(signs: np.ndarray, code_buf: np.ndarray | None, ist: np.ndarray, counts: np.ndarray) -> None:
    """A deterministic code's values at this step, counting those that changed (not inlined: kept out of the
    cycle loop of the Bernoulli codes, which pass None)."""
    if code_buf is None:
        return
    n = signs.size
    codes.fill(ist[I_CODE], 0, ist[I_PSTEP], n, code_buf)
    changed = 0
    for k in range(n):
        changed += code_buf[k] != signs[k]
        signs[k] = code_buf[k]
    counts[C_TOGGLES] += n if ist[I_PSTEP] == 0 else changed


@nb.njit(**_INLINE)
def _bernoulli_signs(key: np.uint64, signs: np.ndarray, words: np.ndarray, ist: np.ndarray,
                     counts: np.ndarray) -> None:
    base = stream_base(key, np.uint64(ist[I_PSTEP]))
    flips = 0
    n = signs.size
    for block in range(words.size):
        bits = mix64(base + np.uint64(block) * _GOLDEN)
        lo = block << 6
        m = min(64, n - lo)
        changed = bits ^ words[block]
        if m < 64:
            changed &= (np.uint64(1) << np.uint64(m)) - np.uint64(1)
        flips += _popcount(changed)
        words[block] = bits
        unpack_signs(bits, signs, lo, m)
    counts[C_TOGGLES] += n if ist[I_PSTEP] == 0 else flips


@nb.njit(**_INLINE)
def _read(params: np.ndarray, readbuf: np.ndarray, dc: np.ndarray, read_key: np.uint64,
          ist: np.ndarray) -> tuple:
    """(the weights one inference reads, the read noise it takes at a dense layer's outputs: (σ in weight
    units, the base of its draws)). Without read noise, the parameters and none. With it, read number
    ``ist[I_READS]`` (as the chip's own reads are numbered): a network with convolutions (``readbuf`` its
    size) reads every weight with its own draw, as a convolution uses each weight at every position; a
    dense network reads the parameters and takes the noise at its outputs (:func:`_finish_dense`), which
    is the same in distribution and draws one number per output instead of one per weight."""
    sigma = dc[dev.D_READ_SIGMA_W]
    if sigma == 0:
        return params, (0.0, np.uint64(0))
    reads = ist[I_READS]
    ist[I_READS] += 1
    if readbuf.size > 0:
        dev.read(params, read_key, reads, 0, np.float32(sigma), readbuf)
        return readbuf, (0.0, np.uint64(0))
    return params, (sigma, stream_base(read_key, np.uint64(reads)))


@nb.njit(**_INLINE)
def _perturb_weights(read: np.ndarray, signs: np.ndarray, delta: np.float32, perturbed: np.ndarray) -> np.ndarray:
    for k in range(read.size):
        perturbed[k] = read[k] + delta * signs[k]
    return perturbed


@nb.njit(**_INLINE)
def on_cycle(layout: np.ndarray, params: np.ndarray, signs: np.ndarray, acc: np.ndarray,
             h_base: np.ndarray, z_base: np.ndarray, h_pert: np.ndarray, z_pert: np.ndarray,
             y_train: np.ndarray, label: np.ndarray, fs: np.ndarray, ist: np.ndarray, counts: np.ndarray,
             macs_per_inference: int, scratch: np.ndarray, perturbed: np.ndarray, readbuf: np.ndarray,
             dc: np.ndarray, read_key: np.uint64, pattern: np.ndarray, cost_base: np.uint64, post: np.ndarray,
             arg_base: np.ndarray | None, arg_pert: np.ndarray | None, live: np.ndarray | None) -> np.float32:
    """Perturbed inference, ΔC on the bus, and every synapse's accumulator integrates ΔC·s.

    Under weight perturbation the ±θ weights are made once per inference into ``perturbed`` (parameter-sized
    scratch), so the perturbed inference runs at the speed of an unperturbed one. With read noise every
    inference reads the weights afresh, in the order the Python procedure reads them (baseline first, then
    the perturbed; + then −), so the baseline's first-layer sums are never shared. The perturbation applied
    is ``pattern`` (the code values, times each element's amplitude mismatch if any); costs go through the
    cost circuit (:func:`_measured`); the accumulators integrate ΔC·s, with their leak, saturation and
    resolution when the chip has any. A perturbed inference after an unperturbed baseline keeps the
    baseline's max-pool winners (``arg_base``) when the pools are held (``I_HELD``); ``live`` (empty) says
    compare afresh (a dense network passes None for the pools' arrays). Returns ΔC as the accumulators take it: under node perturbation the caller integrates it
    (:func:`node_accumulate`, or :func:`run_stretch` itself), so that the node sums and the local products'
    working arrays are none of this inlined function's arguments."""
    y = y_train[label[0]]
    kind = ist[I_KIND]
    none = signs[:0]  # an empty view (unperturbed), no allocation per cycle
    delta = np.float32(fs[F_DELTA])
    antithetic = ist[I_BASELINE] == 1  # a value, not a literal True/False: one compilation of each inference
    noisy = dc[dev.D_READ_SIGMA_W] > 0
    n_in = layout[0, L_IN_SIZE]
    for i in range(n_in):
        h_pert[i] = h_base[i]
    if antithetic:  # C(+θ) and C(−θ), pools compared afresh; node inputs from the + pass
        if kind == KIND_WEIGHT:
            weights, read = _read(params, readbuf, dc, read_key, ist)
            plus_w = _perturb_weights(weights, pattern, delta, perturbed)
            _infer(layout, plus_w, none, delta, h_pert, z_pert, arg_pert, live, post, scratch, read)
            weights, read = _read(params, readbuf, dc, read_key, ist)
            minus_w = _perturb_weights(weights, pattern, -delta, perturbed)
            _infer(layout, minus_w, none, -delta, h_base, z_base, arg_base, live, post, scratch, read)
        elif noisy:
            weights, read = _read(params, readbuf, dc, read_key, ist)
            _infer(layout, weights, pattern, delta, h_pert, z_pert, arg_pert, live, post, scratch, read)
            weights, read = _read(params, readbuf, dc, read_key, ist)
            _infer(layout, weights, pattern, -delta, h_base, z_base, arg_base, live, post, scratch, read)
        else:
            _infer_twice(layout, params, pattern, delta, h_pert, z_pert, arg_pert, live, -delta, antithetic,
                               h_base, z_base, arg_base, post, scratch)
        plus = _measured(ist[I_LOSS], _output(layout, h_pert), y, fs, ist, cost_base)
        minus = _measured(ist[I_LOSS], _output(layout, h_base), y, fs, ist, cost_base)
        for i in range(h_base.size):
            h_base[i] = h_pert[i]
        dc = 0.5 * (plus - minus)
        fs[F_COST_SUM] += 0.5 * (plus + minus)
        inferences = 2
    else:
        inferences = 1
        held = arg_base if ist[I_HELD] == 1 else live
        if ist[I_STALE] == 1 and kind == KIND_NODE and not noisy:  # the baseline and the perturbed together
            _infer_twice(layout, params, pattern, delta, h_pert, z_pert, arg_pert, held, delta, antithetic,
                               h_base, z_base, arg_base, post, scratch)
        else:
            if ist[I_STALE] == 1:
                weights, read = _read(params, readbuf, dc, read_key, ist)
                _infer(layout, weights, none, delta, h_base, z_base, arg_base, live, post, scratch, read)
            weights, read = _read(params, readbuf, dc, read_key, ist)
            if kind == KIND_WEIGHT:
                plus_w = _perturb_weights(weights, pattern, delta, perturbed)
                _infer(layout, plus_w, none, delta, h_pert, z_pert, arg_pert, held, post, scratch, read)
            else:
                _infer(layout, weights, pattern, delta, h_pert, z_pert, arg_pert, held, post, scratch, read)
        if ist[I_STALE] == 1:
            fs[F_C0] = _measured(ist[I_LOSS], _output(layout, h_base), y, fs, ist, cost_base)
            ist[I_STALE] = 0
            inferences = 2
        dc = _measured(ist[I_LOSS], _output(layout, h_pert), y, fs, ist, cost_base) - fs[F_C0]
        fs[F_COST_SUM] += fs[F_C0]
    ist[I_COST_COUNT] += 1
    d = np.float32(dc)
    limited = ist[I_ACC_LIMITED] == 1
    leak, full_scale, lsb = np.float32(fs[F_LEAK]), np.float32(fs[F_ACC_FS]), np.float32(fs[F_ACC_LSB])
    if kind == KIND_WEIGHT:
        if limited:
            for k in range(acc.size):
                acc[k] = limit(acc[k] * leak + d * signs[k], full_scale, lsb)
        else:
            for k in range(acc.size):
                acc[k] += d * signs[k]
    counts[C_CYCLES] += 1
    counts[C_INFERENCES] += inferences
    counts[C_MACS] += inferences * macs_per_inference
    counts[C_COSTS] += inferences
    counts[C_BROADCASTS] += 1
    counts[C_ACC] += params.size
    ist[I_CYCLE] += 1
    return d


@nb.njit(**_JIT)
def node_accumulate(layout: np.ndarray, acc: np.ndarray, h_base: np.ndarray, signs: np.ndarray, d: np.float32,
                    fs: np.ndarray, ist: np.ndarray, cols: np.ndarray | None, dw: np.ndarray | None,
                    db: np.ndarray | None, sums: np.ndarray) -> None:
    """The end of a node-perturbed :func:`on_cycle` (nothing under weight perturbation): ΔC·s (``d``·``signs``)
    into the held node sums (ideal accumulators are linear: Σ ΔC·s per node now, times the held layer inputs
    once per sample or update, :func:`fold_node_sums`), or else the local product of ΔC·s at each neuron with
    the layer's (baseline) input into the accumulators, with their leak, saturation and resolution.
    :func:`run_stretch` does the same inline."""
    if ist[I_KIND] != KIND_NODE:
        return
    if ist[I_DEFER] == 1:
        for k in range(sums.size):
            sums[k] += d * signs[k]
        ist[I_SUMS_HELD] = 1
        return
    limited = ist[I_ACC_LIMITED] == 1
    leak, full_scale, lsb = np.float32(fs[F_LEAK]), np.float32(fs[F_ACC_FS]), np.float32(fs[F_ACC_LSB])
    _local_products(layout, acc, h_base, signs, d, limited, leak, full_scale, lsb, cols, dw, db, sums)


@nb.njit(**_JIT)
def _local_products(layout: np.ndarray, acc: np.ndarray, h_base: np.ndarray, node_values: np.ndarray,
                    d: np.float32, limited: bool, leak: np.float32, full_scale: np.float32, lsb: np.float32,
                    cols: np.ndarray | None, dw: np.ndarray | None, db: np.ndarray | None,
                    sums: np.ndarray) -> None:
    """acc ← limit(leak·acc + d·(x ⊗ v)) for every layer: x its (baseline) input, v ``node_values`` at its
    nodes (ΔC-signs, or held node sums with d = 1). A dense layer's products one by one; a convolution's
    summed over positions by one product of its unrolled input with v (as :func:`neurosim.nn.compute.
    local_product` makes it), then scaled by d."""
    for layer in range(layout.shape[0]):
        fan_in, fan_out = layout[layer, L_FAN_IN], layout[layer, L_FAN_OUT]
        w0, b0, n0, i0 = layout[layer, L_W], layout[layer, L_B], layout[layer, L_NODE], layout[layer, L_IN]
        if layout[layer, L_CONV] == 1:
            _conv_products(layout, layer, acc, h_base, node_values, d, limited, leak, full_scale, lsb, cols, dw, db)
            continue
        s = node_values[n0:n0 + fan_out]
        bias = acc[b0:b0 + fan_out]
        if limited:
            for o in range(fan_out):
                bias[o] = limit(bias[o] * leak + d * s[o], full_scale, lsb)
            for i in range(fan_in):
                x = h_base[i0 + i]
                row = acc[w0 + i * fan_out:w0 + (i + 1) * fan_out]
                for o in range(fan_out):
                    row[o] = limit(row[o] * leak + d * (s[o] * x), full_scale, lsb)
            continue
        for o in range(fan_out):
            bias[o] += d * s[o]
        for i in range(fan_in):
            x = h_base[i0 + i]
            row = acc[w0 + i * fan_out:w0 + (i + 1) * fan_out]
            for o in range(fan_out):
                row[o] += d * (s[o] * x)


@nb.njit(**_JIT)
def _conv_products(layout: np.ndarray, layer: int, acc: np.ndarray, h_base: np.ndarray, node_values: np.ndarray,
                   d: np.float32, limited: bool, leak: np.float32, full_scale: np.float32, lsb: np.float32,
                   cols: np.ndarray | None, dw: np.ndarray | None, db: np.ndarray | None) -> None:
    """A convolution's local product (see :func:`_local_products`); ``cols`` None for a dense network, whose
    compilation then drops this body (it is never called)."""
    if cols is None or dw is None or db is None:
        return
    fan_in, fan_out = layout[layer, L_FAN_IN], layout[layer, L_FAN_OUT]
    w0, b0, n0, i0 = layout[layer, L_W], layout[layer, L_B], layout[layer, L_NODE], layout[layer, L_IN]
    height, width, channels = layout[layer, L_HEIGHT], layout[layer, L_WIDTH], layout[layer, L_CHANNELS]
    positions = height * width
    image = h_base[i0:i0 + positions * channels].reshape((1, height, width, channels))
    errors = node_values[n0:n0 + positions * fan_out]
    weight_part = dw[:fan_in * fan_out].reshape((fan_in, fan_out))
    mac.conv3x3_local_product(image, errors.reshape((1, height, width, fan_out)), layout[layer, L_DIRECT] == 1,
                              cols[:positions * fan_in].reshape((positions, fan_in)), weight_part, db[:fan_out])
    for k in range(fan_in * fan_out):
        a = acc[w0 + k] * leak + d * dw[k] if limited else acc[w0 + k] + d * dw[k]
        acc[w0 + k] = limit(a, full_scale, lsb) if limited else a
    for o in range(fan_out):
        a = acc[b0 + o] * leak + d * db[o] if limited else acc[b0 + o] + d * db[o]
        acc[b0 + o] = limit(a, full_scale, lsb) if limited else a


@nb.njit(**_JIT)
def fold_node_sums(layout: np.ndarray, acc: np.ndarray, h_base: np.ndarray, ist: np.ndarray,
                   cols: np.ndarray | None, dw: np.ndarray | None, db: np.ndarray | None,
                   sums: np.ndarray) -> None:
    """Into the accumulators: the held node sums times the baseline's layer inputs they belong to. Not
    inlined, and called only when sums are held (``ist[I_SUMS_HELD]``): the working arrays it takes are
    none of the inlined cycle's arguments."""
    if ist[I_SUMS_HELD] == 0:
        return
    one, inf, exact = np.float32(1.0), np.float32(np.inf), np.float32(0.0)
    exact_sums = ist[I_ACC_LIMITED] == 1  # False: sums are held only for ideal accumulators (a value, not a literal)
    _local_products(layout, acc, h_base, sums, one, exact_sums, one, inf, exact, cols, dw, db, sums)
    for k in range(sums.size):
        sums[k] = np.float32(0.0)
    ist[I_SUMS_HELD] = 0


@nb.njit(**_INLINE)
def _optimizer_step(opt: int, acc: np.ndarray, m: np.ndarray | None, v: np.ndarray | None, lr: np.float32,
                    scale: np.float32, fs: np.ndarray) -> None:
    """The optimizer's step for every weight from G = S·scale, held in ``acc`` in place of S
    (:func:`neurosim.kernels.optimizers.step`, with the spec's constants from ``fs``)."""
    optimizers.step(opt, acc, m, v, lr, scale, np.float32(fs[F_MOM]), np.float32(fs[F_B1]), np.float32(fs[F_B2]),
                    np.float32(fs[F_EPS]))


@nb.njit(**_JIT)
def _write_slots(layout: np.ndarray, pulses: np.ndarray, most: int, ist: np.ndarray) -> int:
    """Pulse durations the update's writing takes: the slowest tile of the slowest layer
    (:func:`neurosim.kernels.devices.pulse_slots`, as the Python chip counts them)."""
    mode = ist[I_PARALLEL]
    if mode == dev.PARALLEL_ALL:
        return most
    slowest = 0
    for layer in range(layout.shape[0]):
        fan_in, fan_out, w0 = layout[layer, L_FAN_IN], layout[layer, L_FAN_OUT], layout[layer, L_W]
        rows = fan_in + 1  # the bias row follows the weight rows
        slowest = max(slowest, dev.pulse_slots(pulses[w0:w0 + rows * fan_out], rows, fan_out, ist[I_TILE_ROWS],
                                               ist[I_TILE_COLS], mode))
    return slowest


@nb.njit(**_JIT)
def _write_devices(params: np.ndarray, acc: np.ndarray, m: np.ndarray, v: np.ndarray, writes: np.ndarray,
                   limits: np.ndarray, failed: np.ndarray, p: np.ndarray, gain: np.ndarray, step_scale: np.ndarray,
                   residual: np.ndarray, requests: np.ndarray, rare: np.ndarray, block_requests: np.ndarray,
                   pulse_buf: np.ndarray, dc: np.ndarray, di: np.ndarray,
                   write_key: np.uint64, lr: np.float32, scale: np.float32, fs: np.ndarray, ist: np.ndarray) -> tuple:
    """The optimizer's step written by the device kernel (any device but the ideal one); ``acc`` is zeroed.
    Its own compiled function, not inlined into the stretch loop. Ideal devices (which never come here) pass
    None for the device state ``p``, ``gain``, ``step_scale`` and ``residual`` and the write's working arrays
    (``requests``, ``rare``, ``block_requests``: :func:`neurosim.kernels.devices.scratch`): compiled to nothing."""
    if (p is None or gain is None or step_scale is None or residual is None or requests is None or rare is None
            or block_requests is None):
        return 0, 1
    _optimizer_step(ist[I_OPT], acc, m, v, lr, scale, fs)
    pulses, most = dev.write(dc, di, write_key, ist[I_UPDATES] - 1, 0, acc, p, gain, step_scale, limits, writes,
                             failed, residual, params, pulse_buf, requests, rare, block_requests)
    for k in range(acc.size):
        acc[k] = np.float32(0.0)
    return pulses, most


@nb.njit(**_INLINE)
def on_update(layout: np.ndarray, params: np.ndarray, acc: np.ndarray, m: np.ndarray | None,
              v: np.ndarray | None, writes: np.ndarray, limits: np.ndarray, failed: np.ndarray,
              p: np.ndarray | None, gain: np.ndarray | None, step_scale: np.ndarray | None,
              residual: np.ndarray | None, requests: np.ndarray | None, rare: np.ndarray | None,
              block_requests: np.ndarray | None, pulse_buf: np.ndarray, dc: np.ndarray,
              di: np.ndarray, write_key: np.uint64, fs: np.ndarray, ist: np.ndarray, counts: np.ndarray) -> None:
    """G = S·scale; the optimizer's step is written into the devices by :mod:`neurosim.kernels.devices`.
    Ideal analog devices take it as one pulse per change, with endurance checks only once a device may wear
    out (``fs[F_HEADROOM]``: 0 makes the next update check); any other device through the device kernel.
    Held node sums are folded into the accumulators first, by the caller (:func:`fold_node_sums`). SGD passes
    None for the moments ``m`` and ``v``, ideal devices for the device state (``p`` to ``block_requests``): unless
    its caller borrowed them, each array argument of this inlined function costs an atomic increment and
    decrement per update."""
    ist[I_UPDATES] += 1
    lr = np.float32(0.0) if ist[I_UPDATES] <= ist[I_HOLD] else np.float32(fs[F_LR])
    scale = np.float32(fs[F_SCALE])
    slots_needed = ist[I_PARALLEL] != dev.PARALLEL_ALL and fs[F_WRITE_TIME_S] > 0
    most = 1
    if di[dev.I_IDEAL] == 1:
        w_min, w_max = np.float32(fs[F_W_MIN]), np.float32(fs[F_W_MAX])
        far = fs[F_HEADROOM] > 1.0
        if far and ist[I_OPT] == optimizers.OPT_SGD and not slots_needed:  # the hot path at τθ = 1: SGD's step made as written
            pulses = dev.write_ideal_far_from_endurance(params, acc, writes[0], lr, scale, w_min, w_max)
        else:
            _optimizer_step(ist[I_OPT], acc, m, v, lr, scale, fs)
            if slots_needed:  # one pulse per changed weight
                for k in range(acc.size):
                    pulse_buf[k] = acc[k] != 0
            if far:
                pulses = dev.write_ideal_far_from_endurance(params, acc, writes[0], np.float32(-1.0),
                                                            np.float32(1.0), w_min, w_max)
            else:
                pulses = dev.write_ideal(params, acc, writes[0], limits[0], failed[0], w_min, w_max, di[dev.I_FAIL])
                if fs[F_HEADROOM] != -np.inf:  # once a device has failed, every update checks (no rescan)
                    fs[F_HEADROOM] = dev.endurance_headroom(writes[0], limits[0], failed[0])
        if far:
            fs[F_HEADROOM] -= 1.0  # each device takes at most one pulse per update
    else:
        pulses, most = _write_devices(params, acc, m, v, writes, limits, failed, p, gain, step_scale, residual,
                                      requests, rare, block_requests,
                                      pulse_buf, dc, di, write_key, lr, scale, fs, ist)
    counts[C_UPDATES] += 1
    counts[C_PULSES] += pulses
    if pulses > 0:
        counts[C_ROUNDS] += 1
        slots = _write_slots(layout, pulse_buf, most, ist) if slots_needed else most
        fs[F_STALL_S] += dev.write_stall_s(slots * fs[F_WRITE_TIME_S], fs[F_UPDATE_PERIOD_S], ist[I_STALL_MODE] == 1)
    ist[I_STALE] = 1


@nb.njit(**_JIT)
def run_stretch(n_cycles: int, tau_p: int, tau_x: int, tau_theta: int, key: np.uint64, layout: np.ndarray,
                params: np.ndarray, signs: np.ndarray, words: np.ndarray, acc: np.ndarray, m: np.ndarray | None,
                v: np.ndarray | None, writes: np.ndarray, limits: np.ndarray, failed: np.ndarray,
                p: np.ndarray | None, gain: np.ndarray | None, step_scale: np.ndarray | None,
                residual: np.ndarray | None, requests: np.ndarray | None, rare: np.ndarray | None,
                block_requests: np.ndarray | None, pulse_buf: np.ndarray, readbuf: np.ndarray, dc: np.ndarray,
                di: np.ndarray, write_key: np.uint64, read_key: np.uint64,
                x_train: np.ndarray, y_train: np.ndarray, order: np.ndarray,
                label: np.ndarray, h_base: np.ndarray, z_base: np.ndarray, h_pert: np.ndarray,
                z_pert: np.ndarray, fs: np.ndarray, ist: np.ndarray, counts: np.ndarray,
                macs_per_inference: int, scratch: np.ndarray, perturbed: np.ndarray, pattern: np.ndarray,
                mismatched: np.ndarray | None, mismatch: np.ndarray | None, code_buf: np.ndarray | None,
                cost_base: np.uint64, post: np.ndarray | None, arg_base: np.ndarray | None,
                arg_pert: np.ndarray | None, live: np.ndarray | None, cols: np.ndarray | None,
                dw: np.ndarray | None, db: np.ndarray | None, sums: np.ndarray) -> None:
    """Cycles [ist[I_CYCLE], +n_cycles): the clock domains in their phase order, cycle by cycle, as the
    event-by-event methods call them; the rarer work on more arrays (the fold of held node sums, a node
    perturbation's accumulation) is done from here. ``mismatched`` is ``pattern`` with amplitude mismatch, else None (as are ``mismatch`` and, for the
    Bernoulli code, ``code_buf``). Every array is borrowed (:mod:`neurosim.kernels.borrow`) for the stretch:
    the caller holds them all and none escapes, and so the calls and views of the cycle count no references
    (which had been 55 atomic pairs a NIST7x7 cycle, 44% of its compiled time in a perf profile)."""
    b = borrowed
    layout, params, signs, words, acc, m, v = b(layout), b(params), b(signs), b(words), b(acc), b(m), b(v)
    writes, limits, failed, p, gain, step_scale = b(writes), b(limits), b(failed), b(p), b(gain), b(step_scale)
    residual, pulse_buf, readbuf, dc, di = b(residual), b(pulse_buf), b(readbuf), b(dc), b(di)
    requests, rare, block_requests = b(requests), b(rare), b(block_requests)
    x_train, y_train, order, label = b(x_train), b(y_train), b(order), b(label)
    h_base, z_base, h_pert, z_pert, fs, ist, counts = b(h_base), b(z_base), b(h_pert), b(z_pert), b(fs), b(ist), b(counts)
    scratch, perturbed, pattern, mismatched, mismatch = b(scratch), b(perturbed), b(pattern), b(mismatched), b(mismatch)
    code_buf, post, arg_base, arg_pert, live = b(code_buf), b(post), b(arg_base), b(arg_pert), b(live)
    cols, dw, db, sums = b(cols), b(dw), b(db), b(sums)
    node = ist[I_KIND] == KIND_NODE
    defer = ist[I_DEFER] == 1
    for _ in range(n_cycles):
        cycle = ist[I_CYCLE]
        if cycle % tau_x == 0:
            if ist[I_SUMS_HELD] == 1:
                fold_node_sums(layout, acc, h_base, ist, cols, dw, db, sums)
            on_sample(x_train, order, ist, h_base, label)
        if cycle % tau_p == 0:
            on_perturb(key, signs, words, mismatched, mismatch, code_buf, fs, ist, counts)
        d = on_cycle(layout, params, signs, acc, h_base, z_base, h_pert, z_pert, y_train, label, fs, ist,
                     counts, macs_per_inference, scratch, perturbed, readbuf, dc, read_key, pattern, cost_base,
                     post, arg_base, arg_pert, live)
        if node:  # node_accumulate's work
            if defer:
                for k in range(sums.size):
                    sums[k] += d * signs[k]
                ist[I_SUMS_HELD] = 1
            else:
                node_accumulate(layout, acc, h_base, signs, d, fs, ist, cols, dw, db, sums)
        if (cycle + 1) % tau_theta == 0:
            if ist[I_SUMS_HELD] == 1:
                fold_node_sums(layout, acc, h_base, ist, cols, dw, db, sums)
            on_update(layout, params, acc, m, v, writes, limits, failed, p, gain, step_scale, residual, requests,
                      rare, block_requests, pulse_buf,
                      dc, di, write_key, fs, ist, counts)
