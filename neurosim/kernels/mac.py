"""Crossbar multiply-accumulate kernels (float32, NHWC activations).

A layer's weights are stored as the crossbar sees them: a matrix of shape (fan_in, fan_out), rows are
inputs (word lines) and columns are outputs (bit lines). A dense layer is one MAC of the input rows with
the crossbar; a 3x3 same-padded convolution is the same MAC applied to every image position, which we
lay out as im2col rows (ky, kx, c_in) so the work is one BLAS matrix product.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_JIT = {"nogil": True, "cache": True, "fastmath": False}


@nb.njit(**_JIT)
def dense_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, out: np.ndarray) -> None:
    """out[b, o] = sum_i x[b, i] * weight[i, o] + bias[o]."""
    np.dot(x, weight, out)
    for b in range(out.shape[0]):
        for o in range(out.shape[1]):
            out[b, o] += bias[o]


@nb.njit(**_JIT)
def im2col3x3(x: np.ndarray, cols: np.ndarray) -> None:
    """Unroll 3x3 same-padded patches of x (B, H, W, C) into cols (B*H*W, 9*C), ordered (ky, kx, c).

    In NHWC the three kx taps of one kernel row are 3*C contiguous inputs, so each row of ``cols`` is
    three contiguous copies (fewer at the borders, where the padding is zero).
    """
    n_batch, height, width, channels = x.shape
    span = 3 * channels
    flat = x.reshape(n_batch, height, width * channels)
    row = 0
    for b in range(n_batch):
        for y in range(height):
            for xx in range(width):
                lo = max(0, 1 - xx) * channels          # first tap inside the image, in elements
                hi = min(3, width + 1 - xx) * channels  # one past the last
                src = (xx - 1) * channels
                for ky in range(3):
                    base = ky * span
                    iy = y + ky - 1
                    if iy < 0 or iy >= height:
                        for k in range(span):
                            cols[row, base + k] = 0.0
                        continue
                    for k in range(lo):
                        cols[row, base + k] = 0.0
                    for k in range(lo, hi):
                        cols[row, base + k] = flat[b, iy, src + k]
                    for k in range(hi, span):
                        cols[row, base + k] = 0.0
                row += 1


@nb.njit(**_JIT)
def col2im3x3(dcols: np.ndarray, dx: np.ndarray) -> None:
    """Adjoint of im2col3x3: scatter-add dcols (B*H*W, 9*C) back into dx (B, H, W, C)."""
    n_batch, height, width, channels = dx.shape
    dx[:] = 0.0
    row = 0
    for b in range(n_batch):
        for y in range(height):
            for xx in range(width):
                col = 0
                for ky in range(3):
                    iy = y + ky - 1
                    for kx in range(3):
                        ix = xx + kx - 1
                        if 0 <= iy < height and 0 <= ix < width:
                            for c in range(channels):
                                dx[b, iy, ix, c] += dcols[row, col + c]
                        col += channels
                row += 1


@nb.njit(**_JIT)
def conv3x3_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, cols: np.ndarray,
                    out: np.ndarray) -> None:
    """3x3 same-padded convolution: x (B,H,W,Ci), weight (9*Ci, Co) -> out (B,H,W,Co); fills cols."""
    im2col3x3(x, cols)
    conv3x3_from_cols(cols, weight, bias, out)


@nb.njit(**_JIT)
def conv3x3_from_cols(cols: np.ndarray, weight: np.ndarray, bias: np.ndarray, out: np.ndarray) -> None:
    """The MAC half of the convolution, for callers that reuse an unrolled input."""
    flat = out.reshape(cols.shape[0], weight.shape[1])
    np.dot(cols, weight, flat)
    for r in range(flat.shape[0]):
        for o in range(flat.shape[1]):
            flat[r, o] += bias[o]


@nb.njit(**_JIT)
def conv3x3_direct(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, out: np.ndarray) -> None:
    """The same convolution without unrolling: for few channels, writing nine copies of the input (im2col)
    costs more than the MACs themselves. Each tap adds a shifted image row times one weight, the inner loop
    running along the row (contiguous when there is one channel, and vectorised)."""
    n_batch, height, width, channels = x.shape
    n_out = weight.shape[1]
    for b in range(n_batch):
        for y in range(height):
            row = out[b, y]
            for xx in range(width):
                for o in range(n_out):
                    row[xx, o] = bias[o]
            for ky in range(3):
                iy = y + ky - 1
                if iy < 0 or iy >= height:
                    continue
                src = x[b, iy]
                for kx in range(3):
                    lo = max(0, 1 - kx)               # first output column whose tap is inside the image
                    hi = min(width, width + 1 - kx)   # one past the last
                    shift = kx - 1
                    base = (ky * 3 + kx) * channels
                    for c in range(channels):
                        for o in range(n_out):
                            w = weight[base + c, o]
                            for xx in range(lo, hi):
                                row[xx, o] += src[xx + shift, c] * w


@nb.njit(**_JIT)
def weight_gradient(inputs: np.ndarray, grad_out: np.ndarray, dweight: np.ndarray, dbias: np.ndarray) -> None:
    """Local product of a layer's inputs with the error at its outputs, summed over rows.

    inputs (R, fan_in) are the dense inputs or the im2col rows; grad_out (R, fan_out). This is both the
    backprop weight gradient and node perturbation's synapse-local update.
    """
    np.dot(inputs.T, grad_out, dweight)
    for o in range(grad_out.shape[1]):
        acc = 0.0
        for r in range(grad_out.shape[0]):
            acc += grad_out[r, o]
        dbias[o] = acc


@nb.njit(**_JIT)
def maxpool2_forward(x: np.ndarray, out: np.ndarray, argmax: np.ndarray) -> None:
    """2x2 max-pool, stride 2, floor for odd sizes: x (B,H,W,C) -> out (B,H//2,W//2,C).

    argmax stores the winning offset 0..3 (dy*2+dx); ties go to the first in scan order.
    """
    n_batch, out_h, out_w, channels = out.shape
    for b in range(n_batch):
        for y in range(out_h):
            for xx in range(out_w):
                for c in range(channels):
                    best = x[b, 2 * y, 2 * xx, c]
                    where = 0
                    for k in range(1, 4):
                        v = x[b, 2 * y + k // 2, 2 * xx + k % 2, c]
                        if v > best:
                            best = v
                            where = k
                    out[b, y, xx, c] = best
                    argmax[b, y, xx, c] = where


@nb.njit(**_JIT)
def maxpool2_select(x: np.ndarray, argmax: np.ndarray, out: np.ndarray) -> None:
    """2x2 max-pool with the winners given: out takes, in each window, the input at ``argmax`` (as
    :func:`maxpool2_forward` records it), whatever the values are now."""
    n_batch, out_h, out_w, channels = out.shape
    for b in range(n_batch):
        for y in range(out_h):
            for xx in range(out_w):
                for c in range(channels):
                    k = argmax[b, y, xx, c]
                    out[b, y, xx, c] = x[b, 2 * y + k // 2, 2 * xx + k % 2, c]


@nb.njit(**_JIT)
def maxpool2_backward(grad_out: np.ndarray, argmax: np.ndarray, grad_in: np.ndarray) -> None:
    """Route each pooled gradient back to the input that won the max."""
    grad_in[:] = 0.0
    n_batch, out_h, out_w, channels = grad_out.shape
    for b in range(n_batch):
        for y in range(out_h):
            for xx in range(out_w):
                for c in range(channels):
                    k = argmax[b, y, xx, c]
                    grad_in[b, 2 * y + k // 2, 2 * xx + k % 2, c] = grad_out[b, y, xx, c]
