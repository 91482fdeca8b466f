"""Paper mode's sweep, compiled: one convolution for every pass of an iteration, chunk by chunk.

:func:`neurosim.nn.compute.perturbed_sweep` stacks an iteration's passes (the baseline, the pass perturbed
at this layer, the passes perturbed below) and hands each convolution here. A few images at a time, the
kernels of :mod:`neurosim.kernels.mac` compute the pre-activations into a chunk that stays in cache, and
the node perturbation, the activation (:mod:`neurosim.kernels.activations`) and the 2x2 max-pool follow
there, so only the layer's (pooled) output goes out to memory: as separate passes over the whole stack,
the pooling alone read the stack's pre-activations back from memory, 4 ms an iteration at d = 8. Every
value is the one the unfused kernels give (tested against the passes made one at a time).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from neurosim.kernels import mac
from neurosim.kernels.activations import activate_all
from neurosim.kernels.borrow import borrowed

_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}


@nb.njit(**_JIT)
def conv_layer(a: np.ndarray, weight: np.ndarray, bias: np.ndarray, own_weight: np.ndarray,
               own_bias: np.ndarray, pair_weight: np.ndarray, pair_bias: np.ndarray, node_theta: np.ndarray,
               direct: bool, images: int, batch: int, code: int, pooled: bool, held: bool, out: np.ndarray,
               winners: np.ndarray) -> None:
    """One convolution of the sweep. ``a`` (n·B, H, W, Ci): the baseline's input, then the passes
    perturbed below (B = ``batch`` samples each); ``out`` ((n + 1)·B, ...): the baseline's output, this
    layer's perturbed pass, then the others', activated and pooled (the baseline's max-pool winners
    recorded in ``winners`` (B, ...); the others keep them where ``held``, else compare afresh).

    This layer's pass: weight perturbation, the crossbar ``own_weight``/``own_bias`` (W + θ), on the
    baseline's input, in one product with the baseline's where ``pair_weight``/``pair_bias`` hold both
    side by side (else empty); node perturbation (``own_weight`` empty), the baseline's pre-activations
    plus ``node_theta`` (1 or B, H, W, Co). ``direct``: the planar kernel, else im2col products of
    ``images`` images (never straddling a pass); either makes the pair in one call. The arguments are
    borrowed (:mod:`neurosim.kernels.borrow`): the caller holds them, and their views count no references."""
    b = borrowed
    a, weight, bias, own_weight, own_bias = b(a), b(weight), b(bias), b(own_weight), b(own_bias)
    pair_weight, pair_bias, node_theta, out, winners = b(pair_weight), b(pair_bias), b(node_theta), b(out), b(winners)
    n_in = a.shape[0] // batch
    height, width = a.shape[1], a.shape[2]
    n_out = weight.shape[1]
    positions = height * width
    chunk = min(images, batch)
    z_pair = np.empty((2, chunk, height, width, n_out), dtype=np.float32)  # the baseline's, this layer's pass
    pair_rows = z_pair.reshape((2, chunk * positions, n_out))
    post = np.empty((chunk, height, width, n_out) if pooled else (0, 1, 1, 1), dtype=np.float32)
    scratch = np.empty((chunk, *winners.shape[1:]), dtype=np.int8)
    weights_moved = own_weight.size > 0
    paired = pair_weight.size > 0
    # the unrolled products' working arrays (none for the planar kernel, which lays out its own planes)
    cols, sums = mac.conv3x3_buffers(a, 2 * n_out if paired else n_out, 2 if paired else 1, 0 if direct else chunk)
    per_sample = node_theta.shape[0] > 1
    nodes = positions * n_out
    for block in range(n_in):
        for first in range(0, batch, chunk):
            count = min(chunk, batch - first)
            x = a[block * batch + first:block * batch + first + count]
            zb, zo = z_pair[0][:count], z_pair[1][:count]
            if block == 0 and paired and direct:  # both passes into z_pair, one layout of the input planes
                mac.conv3x3_planar_crossbars(x, pair_weight, pair_bias, z_pair)
            elif block == 0 and paired:
                mac.conv3x3_chunk(x, pair_weight, pair_bias, cols, sums, pair_rows, 0)
            else:
                _mac(x, weight, bias, direct, cols, sums, zb)
                if block == 0 and weights_moved:
                    _mac(x, own_weight, own_bias, direct, cols, sums, zo)
            if block == 0 and not weights_moved:  # θ on the baseline's sums, as z += θ: float32
                flat_b, flat_o = zb.ravel(), zo.ravel()
                for i in range(count):
                    theta = node_theta[first + i].ravel() if per_sample else node_theta[0].ravel()
                    for j in range(nodes):
                        flat_o[i * nodes + j] = flat_b[i * nodes + j] + theta[j]
            mine = winners[first:first + count]
            if block == 0:
                _finish(zb, code, pooled, False, mine, out[first:first + count], post)
                _finish(zo, code, pooled, held, mine if held else scratch[:count],
                        out[batch + first:batch + first + count], post)
            else:
                at = (block + 1) * batch + first
                _finish(zb, code, pooled, held, mine if held else scratch[:count], out[at:at + count], post)


@nb.njit(**_JIT)
def _mac(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, direct: bool, cols: np.ndarray, sums: np.ndarray,
         z: np.ndarray) -> None:
    """Pre-activations of a chunk of images, planar or by one im2col product."""
    if direct:
        mac.conv3x3_planar(x, weight, bias, z)
    else:
        mac.conv3x3_chunk(x, weight, bias, cols, sums, z.reshape((1, z.shape[0] * z.shape[1] * z.shape[2],
                                                                  z.shape[3])), 0)


@nb.njit(**_JIT)
def _finish(z: np.ndarray, code: int, pooled: bool, held: bool, winners: np.ndarray, out: np.ndarray,
            post: np.ndarray) -> None:
    """Activation, and the max-pool: with ``held`` winners picked before the activation (it is
    element-wise, so three quarters are not computed), else compared after it and recorded in ``winners``."""
    if not pooled:
        activate_all(code, z.ravel(), out.ravel())
    elif held:
        mac.maxpool2_select(z, winners, out)
        activate_all(code, out.ravel(), out.ravel())
    else:
        h = post[:z.shape[0]]
        activate_all(code, z.ravel(), h.ravel())
        mac.maxpool2_forward(h, out, winners)
