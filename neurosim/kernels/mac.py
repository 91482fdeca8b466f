"""Crossbar multiply-accumulate kernels (float32, NHWC activations).

A layer's weights are stored as the crossbar sees them: a matrix of shape (fan_in, fan_out), rows are
inputs (word lines) and columns are outputs (bit lines). A dense layer is one MAC of the input rows with
the crossbar; a 3x3 same-padded convolution is the same MAC applied to every image position, which we
lay out as im2col rows (ky, kx, c_in) so the work is one BLAS matrix product.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from neurosim.kernels.activations import through

_JIT = {"nogil": True, "cache": True, "fastmath": False, "error_model": "numpy"}  # no zero-division tests


@nb.njit(**_JIT)
def dense_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, block: int, out: np.ndarray) -> None:
    """out[b, o] = sum_i x[b, i] * weight[i, o] + bias[o], one product per ``block`` rows: BLAS rounds a
    row's sums otherwise in products of other sizes (its small-matrix kernels), so a stack of paper mode's
    passes, each a block of the batch, gives every pass the floats of its own product."""
    for first in range(0, x.shape[0], block):
        last = min(first + block, x.shape[0])
        np.dot(x[first:last], weight, out[first:last])
    for b in range(out.shape[0]):
        for o in range(out.shape[1]):
            out[b, o] += bias[o]


@nb.njit(**_JIT)
def im2col3x3(x: np.ndarray, cols: np.ndarray) -> None:
    """Unroll 3x3 same-padded patches of x (B, H, W, C) into cols (B*H*W, 9*C), ordered (ky, kx, c).

    In NHWC the three kx taps of one kernel row are 3*C contiguous inputs, so, from a zero-padded copy of
    x, each row of ``cols`` is three contiguous copies with no border cases; unsigned offsets spare every
    load a negative-index test, so the copies vectorise (3-10x faster than per-element border logic).
    """
    n_batch, height, width, channels = x.shape
    pw = width + 2
    xp = np.zeros((n_batch, height + 2, pw, channels), dtype=np.float32)
    xp[:, 1:height + 1, 1:width + 1, :] = x
    flat = xp.ravel()
    out = cols.ravel()
    span = np.uint64(3 * channels)
    fan_in = np.uint64(9 * channels)
    row = np.uint64(0)
    for b in range(n_batch):
        for y in range(height):
            for xx in range(width):
                dst = row * fan_in
                for ky in range(3):
                    src = np.uint64(((b * (height + 2) + y + ky) * pw + xx) * channels)
                    at = dst + np.uint64(ky) * span
                    for k in range(span):
                        out[at + k] = flat[src + k]
                row += np.uint64(1)


@nb.njit(**_JIT)
def col2im3x3(dcols: np.ndarray, dx: np.ndarray) -> None:
    """Adjoint of im2col3x3: scatter-add dcols (B*H*W, 9*C) back into dx (B, H, W, C).

    Into a zero-padded copy, so each row adds three contiguous spans with no border cases (the padding's
    sums are dropped); every element receives its terms in the same order as an element-wise scatter
    (row by row), so the floats are the same.
    """
    n_batch, height, width, channels = dx.shape
    pw = width + 2
    dxp = np.zeros((n_batch, height + 2, pw, channels), dtype=np.float32)
    flat = dxp.ravel()
    src = dcols.ravel()
    span = np.uint64(3 * channels)
    fan_in = np.uint64(9 * channels)
    row = np.uint64(0)
    for b in range(n_batch):
        for y in range(height):
            for xx in range(width):
                at = row * fan_in
                for ky in range(3):
                    dst = np.uint64(((b * (height + 2) + y + ky) * pw + xx) * channels)
                    first = at + np.uint64(ky) * span
                    for k in range(span):
                        flat[dst + k] += src[first + k]
                row += np.uint64(1)
    dx[:] = dxp[:, 1:height + 1, 1:width + 1, :]


@nb.njit(**_JIT)
def conv3x3_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, images: int, block: int,
                    out: np.ndarray) -> None:
    """3x3 same-padded convolution: x (B,H,W,Ci), weight (9*Ci, Co) -> out (B,H,W,Co), by im2col and one
    product per ``images`` images at a time, so the unrolled rows (nine copies of the input) stay in cache
    between being written and being read, instead of going out to memory and back. No product straddles a
    ``block`` of images (see :func:`dense_forward`: each block rounds as if convolved alone).

    ``weight`` (9*Ci, m*Co) and ``bias`` (m*Co) may hold m crossbars side by side, convolved in one product
    (one unrolling, a wider product), crossbar j's outputs into out[j*B:(j+1)*B], out (m*B,H,W,Co)."""
    n_batch, height, width, channels = x.shape
    positions = height * width
    n_out = out.shape[3]
    crossbars = weight.shape[1] // n_out
    cols, sums = conv3x3_buffers(x, weight.shape[1], crossbars, images)
    flat = out.reshape((crossbars, n_batch * positions, n_out))
    for start in range(0, n_batch, block):
        end = min(start + block, n_batch)
        for first in range(start, end, images):
            count = min(images, end - first)
            conv3x3_chunk(x[first:first + count], weight, bias, cols, sums, flat, first * positions)


@nb.njit(**_JIT)
def conv3x3_buffers(x: np.ndarray, columns: int, crossbars: int, images: int) -> tuple[np.ndarray, np.ndarray]:
    """Working arrays of :func:`conv3x3_chunk` for up to ``images`` images of x: the unrolled rows, and
    the sums of a product of ``crossbars`` > 1 crossbars side by side, ``columns`` wide (none for one)."""
    n_batch, height, width, channels = x.shape
    rows = min(images, n_batch) * height * width
    cols = np.empty((rows, 9 * channels), dtype=np.float32)
    return cols, np.empty((rows if crossbars > 1 else 0, columns), dtype=np.float32)


@nb.njit(**_JIT)
def conv3x3_chunk(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, cols: np.ndarray, sums: np.ndarray,
                  out: np.ndarray, row0: int) -> None:
    """One product of :func:`conv3x3_forward`: x (n,H,W,Ci) unrolled into ``cols``, times the m crossbars
    side by side in ``weight``, into rows row0.. of out (m, rows, Co) (m > 1: through ``sums``)."""
    n, height, width, channels = x.shape
    rows = n * height * width
    n_out = out.shape[2]
    crossbars = out.shape[0]
    part = cols[:rows]
    im2col3x3(x, part)
    if crossbars == 1:
        conv3x3_from_cols(part, weight, bias, out[0][row0:row0 + rows])
        return
    wide = sums[:rows]
    np.dot(part, weight, wide)
    for j in range(crossbars):
        dst = out[j][row0:row0 + rows]
        for r in range(rows):
            for o in range(n_out):
                dst[r, o] = wide[r, j * n_out + o] + bias[j * n_out + o]


@nb.njit(**_JIT)
def conv3x3_from_cols(cols: np.ndarray, weight: np.ndarray, bias: np.ndarray, out: np.ndarray) -> None:
    """The MAC half of the convolution, for callers that reuse an unrolled input."""
    flat = out.reshape(cols.shape[0], weight.shape[1])
    np.dot(cols, weight, flat)
    for r in range(flat.shape[0]):
        for o in range(flat.shape[1]):
            flat[r, o] += bias[o]


@nb.njit(**_JIT)
def conv3x3_planar(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, out: np.ndarray) -> None:
    """The same convolution without unrolling: for few channels, writing nine copies of the input (im2col)
    costs more than the MACs themselves. A group of images at a time, each input channel is zero-padded
    into planes of (H+2)x(W+2) stacked one under the other, and each output channel summed over the
    whole stack (the rows that straddle two images, and two columns per row, discarded), so every three
    taps of an output channel are one contiguous sweep over the group: a third of the stores of a sweep
    per tap, 1.15-1.3x faster (nine per sweep were no faster); four output channels at a time (then two)
    share the sweep's loads (:func:`_sweep_four`; docs/performance.md, ninth session). Unsigned offsets spare its loads a
    negative-index test, so it vectorises. A group holds about 1024 padded positions (its sweeps in L1):
    on 7x7 images a sweep of one image was too short to run at speed. Each output is the bias plus the rounded
    products in tap order (ky, kx, c), a tap in the padding adding 0: the rounding of the element-wise
    direct convolution this replaced (3.7-8.7x slower on the paper CNN's few-channel layers at batch
    100), whatever the grouping."""
    if not out.flags.c_contiguous:  # ravel would copy, and the results would go to the copy
        raise ValueError("mac.conv3x3_planar: out must be C-contiguous")
    _planar_into(x, weight, bias, out.ravel(), weight.shape[1], out.size)


@nb.njit(**_JIT)
def conv3x3_planar_crossbars(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, out: np.ndarray) -> None:
    """:func:`conv3x3_planar` of k crossbars side by side in ``weight`` (9·Ci, k·n) on the same images, crossbar
    j's outputs into ``out[j]`` (out: (k, at least B, H, W, n)): each input plane is laid out once for all k,
    and each output summed as alone, so every crossbar's floats are the ones its own call gives. Paper mode's
    weight perturbation convolves the baseline and the pass perturbed at this layer, the same input, so."""
    if out.shape[0] * out.shape[4] != weight.shape[1] or out.shape[1] < x.shape[0]:
        raise ValueError("mac.conv3x3_planar_crossbars: out must be (k, B, H, W, n) for k·n weight columns")
    if not out.flags.c_contiguous:  # ravel would copy, and the results would go to the copy
        raise ValueError("mac.conv3x3_planar_crossbars: out must be C-contiguous")
    _planar_into(x, weight, bias, out.ravel(), out.shape[4], out[0].size)


@nb.njit(**_JIT)
def _planar_into(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, of: np.ndarray, n_each: int,
                 crossbar_out: int) -> None:
    """The planar convolution into the flat NHWC ``of``: output o of crossbar o // ``n_each`` (its channel
    o % n_each), the crossbars ``crossbar_out`` floats apart."""
    n_batch, height, width, channels = x.shape
    n_out = weight.shape[1]
    pw = width + 2
    ph = height + 2
    group = max(1, min(n_batch, 1024 // (ph * pw)))
    plane = group * ph * pw + 2         # +2: the last row's right taps stay inside
    xp = np.zeros(channels * plane, dtype=np.float32)
    acc = np.empty(n_out * (group * ph * pw), dtype=np.float32)
    stride = np.uint64(group * ph * pw)  # between output channels in acc
    xf = x.ravel()
    uw, uo = np.uint64(width), np.uint64(n_each)
    image_out = np.uint64(height * width * n_each)
    between = np.uint64(crossbar_out)
    for first in range(0, n_batch, group):
        count = min(group, n_batch - first)
        span = np.uint64((count * ph - 2) * pw)  # from the first image's first output row to the last's last
        _to_planes(xf, first, count, height, width, channels, xp, plane, 1)
        for o in range(n_out):
            dst = np.uint64(o) * stride
            for p in range(span):
                acc[dst + p] = bias[o]
        for tap in range(0, 9 * channels, 3):  # three taps (in order) per sweep: a third of the stores
            s0, s1, s2 = _tap_offset(tap, channels, plane, pw), _tap_offset(tap + 1, channels, plane, pw), \
                _tap_offset(tap + 2, channels, plane, pw)
            x0, x1, x2 = xp[s0:s0 + span], xp[s1:s1 + span], xp[s2:s2 + span]
            o = 0
            while o + 4 <= n_out:  # four outputs per sweep, then two: each input loaded once for them
                _sweep_four(acc, o, stride, span, x0, x1, x2, weight, tap)
                o += 4
            if o + 2 <= n_out:
                _sweep_two(acc, o, stride, span, x0, x1, x2, weight, tap)
                o += 2
            if o < n_out:
                w0, w1, w2 = weight[tap, o], weight[tap + 1, o], weight[tap + 2, o]
                dst = np.uint64(o) * stride
                for p in range(span):
                    acc[dst + p] = ((acc[dst + p] + xp[s0 + p] * w0) + xp[s1 + p] * w1) + xp[s2 + p] * w2
        for i in range(count):
            base = np.uint64(first + i) * image_out
            for o in range(n_out):
                at = np.uint64(o // n_each) * between + base + np.uint64(o % n_each)
                for y in range(height):
                    row = np.uint64(o) * stride + np.uint64((i * ph + y) * pw)
                    dst = at + np.uint64(y) * uw * uo
                    for xx in range(uw):
                        of[dst + xx * uo] = acc[row + xx]


@nb.njit(**_JIT)
def _sweep_four(acc: np.ndarray, o: int, stride: np.uint64, span: np.uint64, x0: np.ndarray, x1: np.ndarray,
                x2: np.ndarray, weight: np.ndarray, tap: int) -> None:
    """Three taps of :func:`conv3x3_planar` into outputs o..o+3, each input loaded once for the four, each
    output summed as alone (its own order: the same floats). Each output's row a slice of its own: in one
    array, indexed, the compiler could not tell the rows apart and did not vectorise the sweep."""
    first = np.uint64(o) * stride
    a, b = acc[first:first + span], acc[first + stride:first + stride + span]
    c, e = acc[first + 2 * stride:first + 2 * stride + span], acc[first + 3 * stride:first + 3 * stride + span]
    a0, a1, a2 = weight[tap, o], weight[tap + 1, o], weight[tap + 2, o]
    b0, b1, b2 = weight[tap, o + 1], weight[tap + 1, o + 1], weight[tap + 2, o + 1]
    c0, c1, c2 = weight[tap, o + 2], weight[tap + 1, o + 2], weight[tap + 2, o + 2]
    e0, e1, e2 = weight[tap, o + 3], weight[tap + 1, o + 3], weight[tap + 2, o + 3]
    for p in range(span):
        u0, u1, u2 = x0[p], x1[p], x2[p]
        a[p] = ((a[p] + u0 * a0) + u1 * a1) + u2 * a2
        b[p] = ((b[p] + u0 * b0) + u1 * b1) + u2 * b2
        c[p] = ((c[p] + u0 * c0) + u1 * c1) + u2 * c2
        e[p] = ((e[p] + u0 * e0) + u1 * e1) + u2 * e2


@nb.njit(**_JIT)
def _sweep_two(acc: np.ndarray, o: int, stride: np.uint64, span: np.uint64, x0: np.ndarray, x1: np.ndarray,
               x2: np.ndarray, weight: np.ndarray, tap: int) -> None:
    """:func:`_sweep_four` for two outputs."""
    first = np.uint64(o) * stride
    a, b = acc[first:first + span], acc[first + stride:first + stride + span]
    a0, a1, a2 = weight[tap, o], weight[tap + 1, o], weight[tap + 2, o]
    b0, b1, b2 = weight[tap, o + 1], weight[tap + 1, o + 1], weight[tap + 2, o + 1]
    for p in range(span):
        u0, u1, u2 = x0[p], x1[p], x2[p]
        a[p] = ((a[p] + u0 * a0) + u1 * a1) + u2 * a2
        b[p] = ((b[p] + u0 * b0) + u1 * b1) + u2 * b2


@nb.njit(**_JIT)
def _to_planes(src: np.ndarray, first: int, count: int, height: int, width: int, channels: int, dst: np.ndarray,
               plane: int, pad: int) -> None:
    """Images first..first+count-1 of the flat NHWC ``src`` into the planar kernels' layout: channel c's plane
    at c·``plane`` in ``dst``, the images stacked in it at (H+2)x(W+2) positions each, pixel (y, x) of image i
    at ((i·(H+2) + y + pad)·(W+2) + x + pad). ``pad`` 1 centres an input in its zero border (``dst`` zeroed
    beforehand); 0 puts errors at their output positions."""
    pw, ph = width + 2, height + 2
    uw, uc = np.uint64(width), np.uint64(channels)
    image = np.uint64(height * width * channels)
    for i in range(count):
        base = np.uint64(first + i) * image
        for c in range(channels):
            for y in range(height):
                row = np.uint64(c * plane + (i * ph + y + pad) * pw + pad)
                at = base + np.uint64(y) * uw * uc + np.uint64(c)
                for xx in range(uw):
                    dst[row + xx] = src[at + xx * uc]


@nb.njit(**_JIT)
def _tap_offset(tap: int, channels: int, plane: int, pw: int) -> np.uint64:
    """Where tap ``tap`` (im2col order: ky, kx, c) of the padded planes starts, unsigned (no wraparound
    test in the sweeps)."""
    ky, rest = tap // (3 * channels), tap % (3 * channels)
    kx, c = rest // channels, rest % channels
    return np.uint64(c * plane + ky * pw + kx)


@nb.njit(**_JIT)
def weight_gradient(inputs: np.ndarray, grad_out: np.ndarray, dweight: np.ndarray, dbias: np.ndarray) -> None:
    """Local product of a layer's inputs with the error at its outputs, summed over rows.

    inputs (R, fan_in) are the dense inputs or the im2col rows; grad_out (R, fan_out). This is both the
    backprop weight gradient and node perturbation's synapse-local update.
    """
    np.dot(inputs.T, grad_out, dweight)
    bias_gradient(grad_out, dbias)


@nb.njit(**_JIT)
def bias_gradient(grad_out: np.ndarray, dbias: np.ndarray) -> None:
    """dbias[o] = Σ_r grad_out[r, o], in float64. With fewer than 16 outputs, each column in eight
    interleaved sums (rows r, r + 8, ...; added pairwise at the end): one running sum a column was a chain
    of dependent additions, a few cycles a row, which on the few-channel convolutions' tens of thousands of
    rows cost as much as their local product (docs/performance.md, ninth session). With 16 or more, rows
    outer, so the sweep reads the errors once, in memory order."""
    rows, n_out = grad_out.shape
    if n_out >= 16:
        sums = np.zeros(n_out, dtype=np.float64)
        for r in range(rows):
            for o in range(n_out):
                sums[o] += grad_out[r, o]
        for o in range(n_out):
            dbias[o] = sums[o]
        return
    full = rows - rows % 8
    for o in range(n_out):
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        for r in range(0, full, 8):
            a0 += grad_out[r, o]
            a1 += grad_out[r + 1, o]
            a2 += grad_out[r + 2, o]
            a3 += grad_out[r + 3, o]
            a4 += grad_out[r + 4, o]
            a5 += grad_out[r + 5, o]
            a6 += grad_out[r + 6, o]
            a7 += grad_out[r + 7, o]
        for r in range(full, rows):
            a0 += grad_out[r, o]
        dbias[o] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@nb.njit(**_JIT)
def conv3x3_local_product(x: np.ndarray, grad_out: np.ndarray, direct: bool, cols: np.ndarray, dweight: np.ndarray,
                          dbias: np.ndarray) -> None:
    """A convolution's local product from its input images x (B,H,W,Ci) and the error at its outputs grad_out
    (B,H,W,Co), the one choice of how for backprop's weight gradient, paper mode's node update
    (:func:`neurosim.nn.compute.local_product`) and chip mode's (:mod:`neurosim.kernels.chipmode`): on padded
    planes where ``direct`` (the few-channel layers, :func:`neurosim.nn.compute.direct_convolution`), else
    unrolled into ``cols`` (:func:`conv3x3_weight_gradient`)."""
    if direct:
        conv3x3_planar_weight_gradient(x, grad_out, dweight, dbias)
    else:
        conv3x3_weight_gradient(x, grad_out, cols, dweight, dbias)


@nb.njit(**_JIT)
def conv3x3_weight_gradient(x: np.ndarray, grad_out: np.ndarray, cols: np.ndarray, dweight: np.ndarray,
                            dbias: np.ndarray) -> None:
    """A convolution's local product by im2col: as many images at a time as ``cols`` (images·H·W, 9·Ci) holds
    rows, one product each, added up. The unrolled rows stay in cache; one product of the whole batch's rows
    (22 MB at d = 8's conv2) was memory-bound, at 5 GMAC/s. The products' sum rounds otherwise than one
    product over all rows (the last bits)."""
    n_batch, height, width, channels = x.shape
    positions = height * width
    n_out = dweight.shape[1]
    images = cols.shape[0] // positions
    if images < 1 or cols.shape[1] != 9 * channels:
        raise ValueError("mac.conv3x3_weight_gradient: cols must hold the unrolled rows of at least one image")
    g = grad_out.reshape(n_batch * positions, n_out)
    part = np.empty_like(dweight)
    for first in range(0, n_batch, images):
        count = min(images, n_batch - first)
        rows = cols[:count * positions]
        im2col3x3(x[first:first + count], rows)
        errors = g[first * positions:(first + count) * positions]
        if first == 0:
            np.dot(rows.T, errors, dweight)
        else:
            np.dot(rows.T, errors, part)
            dweight += part
    bias_gradient(g, dbias)


@nb.njit(**_JIT)
def conv3x3_input_gradient(grad_pre: np.ndarray, weight: np.ndarray, images: int, dx: np.ndarray) -> None:
    """Error at a convolution's inputs dx (B,H,W,Ci) from the error at its pre-activations (B,H,W,Co):
    ``images`` images at a time, the product with the crossbar's transpose into unrolled rows, scattered
    back (:func:`col2im3x3`), so the rows stay in cache. Each input's sum is the one the whole batch's
    product and scatter make (images do not mix)."""
    n_batch, height, width, channels = dx.shape
    positions = height * width
    n_out = weight.shape[1]
    g = grad_pre.reshape(n_batch * positions, n_out)
    wt = np.ascontiguousarray(weight.T)
    drows = np.empty((min(images, n_batch) * positions, 9 * channels), dtype=np.float32)
    for first in range(0, n_batch, images):
        count = min(images, n_batch - first)
        part = drows[:count * positions]
        np.dot(g[first * positions:(first + count) * positions], wt, part)
        col2im3x3(part, dx[first:first + count])


_BLOCK = 1024  # positions per block of the planar local product: its planes' slices stay in L1


@nb.njit(**_JIT)
def conv3x3_planar_weight_gradient(x: np.ndarray, grad_out: np.ndarray, dweight: np.ndarray,
                                   dbias: np.ndarray) -> None:
    """A few-channel convolution's local product without unrolling (the layers of
    :func:`conv3x3_planar`): dweight[tap, o] = Σ over positions of the tap's shifted input times the error.
    x's channels and the error's are laid out as zero-padded planes of the whole batch, (H+2)x(W+2) each
    image, stacked, so that each tap's sum is a dot product of two contiguous streams; block by block, three
    taps share each load of the error. Faster than im2col + product on the paper CNN's few-channel layers
    at batch 100 (`tools/bench.py --only-kernels`'s ``local_product_speedup``). Each block's dot products
    sum in float32 in the vectorised order the compiler picks (fixed for a compiled kernel, so runs repeat
    bit for bit; another CPU's vector width may change the last bits, as BLAS's may), the blocks in float64."""
    n_batch, height, width, channels = x.shape
    n_out = dweight.shape[1]
    if not dweight.flags.c_contiguous:  # ravel would copy, and the results would go to the copy
        raise ValueError("mac.conv3x3_planar_weight_gradient: dweight must be C-contiguous")
    pw, ph = width + 2, height + 2
    span = n_batch * ph * pw
    plane = span + 2 * pw + 2  # the last taps' shifted streams stay inside the plane
    xp = np.zeros(channels * plane, dtype=np.float32)
    gp = np.zeros(n_out * span, dtype=np.float32)
    _to_planes(x.ravel(), 0, n_batch, height, width, channels, xp, plane, 1)
    _to_planes(grad_out.ravel(), 0, n_batch, height, width, n_out, gp, span, 0)  # unshifted: the output positions
    taps = 9 * channels
    sums = np.zeros(taps * n_out, dtype=np.float64)
    for j0 in range(0, span, _BLOCK):
        n = np.uint64(min(_BLOCK, span - j0))
        at = np.uint64(j0)
        for o in range(n_out):
            g0 = np.uint64(o * span) + at
            for tap in range(0, taps, 3):
                t0, t1, t2 = _three_dots(xp, _tap_offset(tap, channels, plane, pw) + at,
                                         _tap_offset(tap + 1, channels, plane, pw) + at,
                                         _tap_offset(tap + 2, channels, plane, pw) + at, gp, g0, n)
                sums[tap * n_out + o] += t0
                sums[(tap + 1) * n_out + o] += t1
                sums[(tap + 2) * n_out + o] += t2
    flat = dweight.ravel()
    for k in range(taps * n_out):
        flat[k] = sums[k]
    bias_gradient(grad_out.reshape(n_batch * height * width, n_out), dbias)


@nb.njit(nogil=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def _three_dots(xp: np.ndarray, s0: np.uint64, s1: np.uint64, s2: np.uint64, gp: np.ndarray, g0: np.uint64,
                n: np.uint64) -> tuple[np.float32, np.float32, np.float32]:
    """Three dot products of n, xp from s0, s1 and s2 with gp from g0: reassociated, so they vectorise."""
    t0 = np.float32(0.0)
    t1 = np.float32(0.0)
    t2 = np.float32(0.0)
    for j in range(n):
        g = gp[g0 + j]
        t0 += xp[s0 + j] * g
        t1 += xp[s1 + j] * g
        t2 += xp[s2 + j] * g
    return t0, t1, t2


@nb.njit(**_JIT)
def conv3x3_planar_input_gradient(grad_pre: np.ndarray, weight: np.ndarray, dx: np.ndarray) -> None:
    """Error at a few-channel convolution's inputs: the adjoint of a same-padded 3x3 convolution is the
    same convolution of the error with the kernel turned half a turn and its channels swapped, so
    :func:`conv3x3_planar` makes it, faster than the product and col2im scatter on the paper CNN's
    few-channel layers at batch 100 (`tools/bench.py --only-kernels`'s ``input_error_speedup``)."""
    channels = dx.shape[3]
    n_out = weight.shape[1]
    turned = np.empty((9 * n_out, channels), dtype=np.float32)
    for ky in range(3):
        for kx in range(3):
            for c in range(channels):
                for o in range(n_out):
                    turned[((2 - ky) * 3 + 2 - kx) * n_out + o, c] = weight[(ky * 3 + kx) * channels + c, o]
    conv3x3_planar(grad_pre, turned, np.zeros(channels, dtype=np.float32), dx)


@nb.njit(**_JIT)
def maxpool2_forward(x: np.ndarray, out: np.ndarray, argmax: np.ndarray) -> None:
    """2x2 max-pool, stride 2, floor for odd sizes: x (B,H,W,C) -> out (B,H//2,W//2,C).

    argmax stores the winning offset 0..3 (dy*2+dx); ties go to the first in scan order. Flat offsets,
    one loop over an output row's (x, channel) pairs (see :func:`_window_columns`)."""
    n_batch, out_h, out_w, channels = out.shape
    row = x.shape[2] * channels
    x_size = x.shape[1] * row
    pairs = out_w * channels
    columns = _window_columns(out_w, channels)
    xf, of, af = x.ravel(), out.ravel(), argmax.ravel()
    for b in range(n_batch):
        for y in range(out_h):
            top = b * x_size + 2 * y * row
            j0 = (b * out_h + y) * pairs
            for j in range(pairs):
                at = top + columns[j]
                best = xf[at]
                where = 0
                v = xf[at + channels]
                if v > best:
                    best = v
                    where = 1
                v = xf[at + row]
                if v > best:
                    best = v
                    where = 2
                v = xf[at + row + channels]
                if v > best:
                    best = v
                    where = 3
                of[j0 + j] = best
                af[j0 + j] = where


@nb.njit(**_JIT)
def _window_columns(out_w: int, channels: int) -> np.ndarray:
    """Offset of each (x, channel) pair's window in an input row: 2·x·C + c. One loop over an output row's
    pairs, these offsets looked up, replaces the loops over x and c: with one channel the inner loop had
    one pass, and loop overhead was most of the pooling's 3-5 ns an output."""
    columns = np.empty(out_w * channels, dtype=np.int64)
    for xx in range(out_w):
        for c in range(channels):
            columns[xx * channels + c] = 2 * xx * channels + c
    return columns


@nb.njit(**_JIT)
def maxpool2_select(x: np.ndarray, argmax: np.ndarray, out: np.ndarray) -> None:
    """2x2 max-pool with the winners given: out takes, in each window, the input at ``argmax`` (as
    :func:`maxpool2_forward` records it), whatever the values are now. ``argmax`` may hold the winners of
    B samples for x's blocks of B (paper mode's perturbed passes, stacked, keep the baseline's)."""
    n_batch, out_h, out_w, channels = out.shape
    n_held = argmax.shape[0]
    row = x.shape[2] * channels
    x_size = x.shape[1] * row
    pairs = out_w * channels
    columns = _window_columns(out_w, channels)
    xf, of, af = x.ravel(), out.ravel(), argmax.ravel()
    for b in range(n_batch):
        held = b % n_held
        for y in range(out_h):
            top = b * x_size + 2 * y * row
            j0 = (b * out_h + y) * pairs
            k0 = (held * out_h + y) * pairs
            for j in range(pairs):
                w = af[k0 + j]
                of[j0 + j] = xf[top + columns[j] + (w >> 1) * row + (w & 1) * channels]


@nb.njit(**_JIT)
def maxpool2_backward(code: int, grad_out: np.ndarray, argmax: np.ndarray, z: np.ndarray, h: np.ndarray,
                      grad_in: np.ndarray) -> None:
    """Backprop through an activation (``code``, of :mod:`neurosim.kernels.activations`) and the 2x2 max-pool
    after it: each pooled error goes back to the input that won the max, times the activation's derivative
    there (z, h: the pre-activations and activations before the pool); every other input gets 0. The floats
    of routing the errors back and then :func:`activations.backpropagate` over the whole layer, with the
    derivative made only where an error arrives."""
    grad_in[:] = 0.0
    n_batch, out_h, out_w, channels = grad_out.shape
    for b in range(n_batch):
        for y in range(out_h):
            for xx in range(out_w):
                for c in range(channels):
                    k = argmax[b, y, xx, c]
                    yi, xi = 2 * y + k // 2, 2 * xx + k % 2
                    grad_in[b, yi, xi, c] = through(code, grad_out[b, y, xx, c], z[b, yi, xi, c], h[b, yi, xi, c])
