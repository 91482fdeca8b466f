"""Every compiled kernel against a plain-numpy twin."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import im2col_numpy

from neurosim.api import load
from neurosim.kernels import activations, chipmode, devices, mac, periphery
from neurosim.kernels.rng import fill_signs, fill_stream_counting_flips, signs_reference, stream_base
from neurosim.mgd.perturbations import PerturbationSource
from neurosim.nn.shapes import paper_cnn
from neurosim.simulation import Simulation


def conv3x3_numpy(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Direct same-padded 3x3 convolution in NHWC, weight rows ordered (ky, kx, c_in)."""
    batch, h, w, c_in = x.shape
    kernel = weight.reshape(3, 3, c_in, -1)
    padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((batch, h, w, kernel.shape[-1]))
    for ky in range(3):
        for kx in range(3):
            out += np.einsum("bhwc,co->bhwo", padded[:, ky:ky + h, kx:kx + w, :], kernel[ky, kx])
    return out + bias


def maxpool_numpy(x: np.ndarray) -> np.ndarray:
    b, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    return x[:, : 2 * h2, : 2 * w2, :].reshape(b, h2, 2, w2, 2, c).max(axis=(2, 4))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_dense_forward_matches_numpy(rng: np.random.Generator) -> None:
    x = rng.standard_normal((5, 13)).astype(np.float32)
    w = rng.standard_normal((13, 7)).astype(np.float32)
    b = rng.standard_normal(7).astype(np.float32)
    out = np.empty((5, 7), np.float32)
    mac.dense_forward(x, w, b, x.shape[0], out)
    np.testing.assert_allclose(out, x.astype(np.float64) @ w + b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 5, 6, 1, 3), (1, 7, 7, 3, 2), (3, 4, 4, 4, 5)])
def test_conv3x3_matches_numpy(rng: np.random.Generator, shape: tuple[int, ...]) -> None:
    batch, h, w, c_in, c_out = shape
    x = rng.standard_normal((batch, h, w, c_in)).astype(np.float32)
    weight = rng.standard_normal((9 * c_in, c_out)).astype(np.float32)
    bias = rng.standard_normal(c_out).astype(np.float32)
    out = np.empty((batch, h, w, c_out), np.float32)
    mac.conv3x3_forward(x, weight, bias, batch, batch, out)
    np.testing.assert_allclose(out, conv3x3_numpy(x, weight, bias), rtol=1e-4, atol=1e-4)
    by_image = np.full_like(out, np.nan)  # one image per product: the same rows, every output written
    mac.conv3x3_forward(x, weight, bias, 1, batch, by_image)
    np.testing.assert_allclose(by_image, out, rtol=1e-6, atol=1e-6)
    direct = np.full_like(out, np.nan)  # every output written, none left over
    mac.conv3x3_planar(x, weight, bias, direct)
    np.testing.assert_allclose(direct, conv3x3_numpy(x, weight, bias), rtol=1e-4, atol=1e-4)


def conv3x3_direct_rounding(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The reference twin of conv3x3_planar's rounding: per output the bias, then each tap's float32
    product added in float32, taps in im2col order (ky, kx, c)."""
    batch, h, w, c_in = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    acc = np.broadcast_to(bias, (batch, h, w, weight.shape[1])).astype(np.float32)
    for ky in range(3):
        for kx in range(3):
            for c in range(c_in):
                acc = acc + padded[:, ky:ky + h, kx:kx + w, c:c + 1] * weight[(ky * 3 + kx) * c_in + c]
    return acc


@pytest.mark.parametrize("shape", [(2, 5, 6, 1, 3), (1, 7, 7, 3, 2), (3, 4, 4, 4, 5), (2, 28, 28, 1, 1)])
def test_planar_convolution_rounds_as_the_direct_formula(rng: np.random.Generator, shape: tuple[int, ...]) -> None:
    """The planar kernel's floats are the direct formula's to the bit (so replacing the element-wise kernel
    changed no result)."""
    batch, h, w, c_in, c_out = shape
    x = rng.standard_normal((batch, h, w, c_in)).astype(np.float32)
    weight = rng.standard_normal((9 * c_in, c_out)).astype(np.float32)
    bias = rng.standard_normal(c_out).astype(np.float32)
    out = np.full((batch, h, w, c_out), np.nan, np.float32)
    mac.conv3x3_planar(x, weight, bias, out)
    np.testing.assert_array_equal(out, conv3x3_direct_rounding(x, weight, bias))


@pytest.mark.parametrize("shape", [(2, 5, 6, 1, 1), (3, 7, 7, 3, 2), (3, 4, 4, 4, 4)])
def test_planar_crossbars_side_by_side_give_each_crossbars_own_floats(rng: np.random.Generator,
                                                                      shape: tuple[int, ...]) -> None:
    """Two crossbars in one planar call (paper mode's baseline and weight-perturbed pass): each crossbar's
    outputs are its own call's to the bit, into the first B images of each block of a larger output."""
    batch, h, w, c_in, c_out = shape
    x = rng.standard_normal((batch, h, w, c_in)).astype(np.float32)
    weights = [rng.standard_normal((9 * c_in, c_out)).astype(np.float32) for _ in range(2)]
    biases = [rng.standard_normal(c_out).astype(np.float32) for _ in range(2)]
    out = np.full((2, batch + 1, h, w, c_out), np.nan, np.float32)
    mac.conv3x3_planar_crossbars(x, np.hstack(weights), np.concatenate(biases), out)
    for j in range(2):
        alone = np.empty((batch, h, w, c_out), np.float32)
        mac.conv3x3_planar(x, weights[j], biases[j], alone)
        np.testing.assert_array_equal(out[j, :batch], alone)
        assert np.isnan(out[j, batch:]).all()  # nothing written past the images given


def test_col2im_is_the_adjoint_of_im2col(rng: np.random.Generator) -> None:
    """<im2col(x), c> == <x, col2im(c)> for all x, c: what makes the conv input gradient right."""
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    cols = np.empty((2 * 5 * 4, 27), np.float32)
    mac.im2col3x3(x, cols)
    c = rng.standard_normal(cols.shape).astype(np.float32)
    back = np.empty_like(x)
    mac.col2im3x3(c, back)
    assert np.isclose(float((cols.astype(np.float64) * c).sum()), float((x.astype(np.float64) * back).sum()),
                      rtol=1e-5)


def test_weight_gradient_matches_numpy(rng: np.random.Generator) -> None:
    rows = rng.standard_normal((11, 6)).astype(np.float32)
    g = rng.standard_normal((11, 4)).astype(np.float32)
    dw = np.empty((6, 4), np.float32)
    db = np.empty(4, np.float32)
    mac.weight_gradient(rows, g, dw, db)
    np.testing.assert_allclose(dw, rows.astype(np.float64).T @ g, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db, g.astype(np.float64).sum(axis=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hw", [(4, 6), (7, 7), (5, 3)])
def test_maxpool_matches_numpy_and_routes_gradient(rng: np.random.Generator, hw: tuple[int, int]) -> None:
    x = rng.standard_normal((2, *hw, 3)).astype(np.float32)
    out = np.empty((2, hw[0] // 2, hw[1] // 2, 3), np.float32)
    argmax = np.empty(out.shape, np.int8)
    mac.maxpool2_forward(x, out, argmax)
    np.testing.assert_array_equal(out, maxpool_numpy(x))
    g = rng.standard_normal(out.shape).astype(np.float32)
    grad_in = np.empty_like(x)
    mac.maxpool2_backward(activations.ACT_CODES["identity"], g, argmax, x, x, grad_in)
    # each pooled gradient lands on exactly the input that won; nothing else receives any
    assert np.isclose(grad_in.sum(), g.sum(), rtol=1e-5)
    assert np.count_nonzero(grad_in) == g.size
    np.testing.assert_array_equal(np.sort(x[grad_in != 0]), np.sort(out.ravel()))


@pytest.mark.parametrize("kind", sorted(activations.ACT_CODES))
@pytest.mark.parametrize("hw", [(4, 6), (7, 7), (5, 3)])
def test_backprop_through_pool_and_activation_is_the_two_in_turn(rng: np.random.Generator, hw: tuple[int, int],
                                                                  kind: str) -> None:
    """mac.maxpool2_backward with an activation: the floats of routing the pooled errors to the winners and
    then activations.backpropagate over the whole layer (zeros included), to the bit."""
    z = rng.standard_normal((2, *hw, 3)).astype(np.float32)
    z[0, 0, :, 0] = 0.0  # relu's kink, and ties
    code = activations.ACT_CODES[kind]
    h = np.empty_like(z)
    activations.activate_all(code, z.ravel(), h.ravel())
    out = np.empty((2, hw[0] // 2, hw[1] // 2, 3), np.float32)
    argmax = np.empty(out.shape, np.int8)
    mac.maxpool2_forward(h, out, argmax)
    g = rng.standard_normal(out.shape).astype(np.float32)
    routed = np.zeros_like(z)
    mac.maxpool2_backward(activations.ACT_CODES["identity"], g, argmax, z, z, routed)
    expected = np.empty_like(z)
    activations.backpropagate(code, routed.ravel(), z.ravel(), h.ravel(), expected.ravel())
    fused = np.full_like(z, np.nan)
    mac.maxpool2_backward(code, g, argmax, z, h, fused)
    np.testing.assert_array_equal(fused, expected)


@pytest.mark.parametrize("hw", [(4, 6), (7, 7), (5, 3)])
def test_maxpool_select_passes_on_the_held_winners(rng: np.random.Generator, hw: tuple[int, int]) -> None:
    """The held-winner pool against numpy: each window passes on the input at the recorded argmax, whatever
    the values are now (the same input gives the max-pool itself)."""
    x = rng.standard_normal((2, *hw, 3)).astype(np.float32)
    out = np.empty((2, hw[0] // 2, hw[1] // 2, 3), np.float32)
    argmax = np.empty(out.shape, np.int8)
    mac.maxpool2_forward(x, out, argmax)
    again = np.empty_like(out)
    mac.maxpool2_select(x, argmax, again)
    np.testing.assert_array_equal(again, out)
    moved = rng.standard_normal(x.shape).astype(np.float32)
    mac.maxpool2_select(moved, argmax, again)
    b, h2, w2, c = out.shape
    windows = moved[:, : 2 * h2, : 2 * w2, :].reshape(b, h2, 2, w2, 2, c).transpose(0, 1, 3, 5, 2, 4)
    expected = np.take_along_axis(windows.reshape(b, h2, w2, c, 4), argmax[..., None].astype(np.int64), axis=-1)
    np.testing.assert_array_equal(again, expected[..., 0])


@pytest.mark.parametrize("images", [1, 2, 5])
def test_convolution_gradients_by_chunks_match_numpy(rng: np.random.Generator, images: int) -> None:
    """A convolution's local product and input error, unrolled a few images at a time, against numpy's
    product of the whole batch's patches (and its transpose scattered back)."""
    x = rng.standard_normal((5, 6, 7, 3)).astype(np.float32)
    g = rng.standard_normal((5, 6, 7, 4)).astype(np.float32)
    weight = rng.standard_normal((27, 4)).astype(np.float32)
    rows = im2col_numpy(x.astype(np.float64))
    dw, db = np.full((27, 4), np.nan, np.float32), np.full(4, np.nan, np.float32)
    mac.conv3x3_weight_gradient(x, g, np.empty((images * 6 * 7, 27), np.float32), dw, db)
    np.testing.assert_allclose(dw, rows.T @ g.reshape(-1, 4), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db, g.reshape(-1, 4).astype(np.float64).sum(axis=0), rtol=1e-5, atol=1e-5)
    dx = np.full(x.shape, np.nan, np.float32)
    mac.conv3x3_input_gradient(g, weight, images, dx)
    # <rows·W, g> = <x, dx> for every x: dx is the adjoint of the convolution, applied to g
    drows = g.reshape(-1, 4).astype(np.float64) @ weight.T
    expected = np.zeros((5, 8, 9, 3))
    for k, (ky, kx) in enumerate((ky, kx) for ky in range(3) for kx in range(3)):
        expected[:, ky:ky + 6, kx:kx + 7, :] += drows[:, 3 * k:3 * k + 3].reshape(5, 6, 7, 3)
    np.testing.assert_allclose(dx, expected[:, 1:7, 1:8, :], rtol=1e-5, atol=1e-5)


def _convolution_gradients_numpy(x: np.ndarray, g: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, ...]:
    """A convolution's local product, bias gradient and input error, in float64 from numpy's patches."""
    batch, h, w, c_in = x.shape
    c_out = g.shape[-1]
    rows = im2col_numpy(x.astype(np.float64))
    g2 = g.reshape(-1, c_out).astype(np.float64)
    drows = g2 @ weight.astype(np.float64).T
    scattered = np.zeros((batch, h + 2, w + 2, c_in))
    for k, (ky, kx) in enumerate((ky, kx) for ky in range(3) for kx in range(3)):
        scattered[:, ky:ky + h, kx:kx + w, :] += drows[:, c_in * k:c_in * (k + 1)].reshape(batch, h, w, c_in)
    return rows.T @ g2, g2.sum(axis=0), scattered[:, 1:h + 1, 1:w + 1, :]


@pytest.mark.parametrize("shape", [(1, 28, 28, 1, 1), (3, 7, 7, 2, 4), (5, 6, 9, 4, 4), (2, 5, 3, 3, 2),
                                   (1, 14, 14, 1, 17)])
def test_planar_convolution_gradients_match_numpy(rng: np.random.Generator, shape: tuple[int, ...]) -> None:
    """The planar local product and input error (few-channel layers, no unrolling) against numpy's
    patches, including odd sizes, one image, and more than 16 outputs (the bias sum's other loop)."""
    batch, h, w, c_in, c_out = shape
    x = rng.standard_normal((batch, h, w, c_in)).astype(np.float32)
    g = rng.standard_normal((batch, h, w, c_out)).astype(np.float32)
    weight = rng.standard_normal((9 * c_in, c_out)).astype(np.float32)
    expected_dw, expected_db, expected_dx = _convolution_gradients_numpy(x, g, weight)
    dw, db = np.full((9 * c_in, c_out), np.nan, np.float32), np.full(c_out, np.nan, np.float32)
    mac.conv3x3_planar_weight_gradient(x, g, dw, db)
    np.testing.assert_allclose(dw, expected_dw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db, expected_db, rtol=1e-6, atol=1e-6)
    dx = np.full(x.shape, np.nan, np.float32)
    mac.conv3x3_planar_input_gradient(g, weight, dx)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rows", [1, 7, 8, 9, 1003])
@pytest.mark.parametrize("outputs", [1, 3, 16])
def test_bias_gradient_sums_every_row(rng: np.random.Generator, rows: int, outputs: int) -> None:
    """The interleaved column sums (and the row-outer loop from 16 outputs) add every row once: row counts
    around the interleave of eight."""
    g = rng.standard_normal((rows, outputs)).astype(np.float32)
    db = np.full(outputs, np.nan, np.float32)
    mac.bias_gradient(g, db)
    np.testing.assert_allclose(db, g.astype(np.float64).sum(axis=0), rtol=1e-6, atol=1e-6)


def test_two_crossbars_in_one_product_are_each_convolved(rng: np.random.Generator) -> None:
    """conv3x3_forward with two crossbars side by side: crossbar j's outputs in block j, each the
    convolution numpy makes with that crossbar alone."""
    x = rng.standard_normal((3, 5, 4, 2)).astype(np.float32)
    w = [rng.standard_normal((18, 3)).astype(np.float32) for _ in range(2)]
    b = [rng.standard_normal(3).astype(np.float32) for _ in range(2)]
    out = np.full((6, 5, 4, 3), np.nan, np.float32)
    mac.conv3x3_forward(x, np.hstack(w), np.concatenate(b), 2, 3, out)
    for j in range(2):
        np.testing.assert_allclose(out[3 * j:3 * j + 3], conv3x3_numpy(x, w[j], b[j]), rtol=1e-4, atol=1e-4)


def test_held_winners_apply_to_every_block_of_a_stack(rng: np.random.Generator) -> None:
    """maxpool2_select with the winners of B samples on a stack of blocks of B: each block's sample b
    keeps sample b's winners."""
    x = rng.standard_normal((6, 4, 6, 3)).astype(np.float32)
    argmax = rng.integers(0, 4, (2, 2, 3, 3)).astype(np.int8)
    stacked = np.full((6, 2, 3, 3), np.nan, np.float32)
    mac.maxpool2_select(x, argmax, stacked)
    for block in range(3):
        alone = np.empty((2, 2, 3, 3), np.float32)
        mac.maxpool2_select(x[2 * block:2 * block + 2], argmax, alone)
        np.testing.assert_array_equal(stacked[2 * block:2 * block + 2], alone)


@pytest.mark.parametrize("perturbation", ["weight", "node", "node_shared"])
@pytest.mark.parametrize("pooled", [True, False])
def test_swept_convolution_matches_numpy(rng: np.random.Generator, perturbation: str, pooled: bool) -> None:
    """The compiled convolution of paper mode's sweep (every pass of a layer at once) against numpy: the
    baseline pooled by comparison, this layer's pass (weights moved, or θ on the baseline's sums) and the
    passes below with the baseline's winners held."""
    from neurosim.kernels import activations, sweep
    batch, h, w, c_in, c_out = 3, 6, 4, 2, 3
    a = rng.standard_normal((2 * batch, h, w, c_in)).astype(np.float32)  # the baseline, one pass below
    weight = rng.standard_normal((9 * c_in, c_out)).astype(np.float32)
    bias = rng.standard_normal(c_out).astype(np.float32)
    none, nothing = np.empty((0, 0), np.float32), np.empty(0, np.float32)
    own_w, own_b, theta = none, nothing, np.empty((1, h, w, c_out), np.float32)
    if perturbation == "weight":
        own_w = weight + np.float32(0.1) * rng.choice([-1, 1], weight.shape).astype(np.float32)
        own_b = bias + np.float32(0.1)
    else:
        theta = np.float32(0.1) * rng.choice([-1, 1], (batch if perturbation == "node" else 1, h, w, c_out)
                                             ).astype(np.float32)
    shape = (h // 2, w // 2, c_out) if pooled else (h, w, c_out)
    out = np.full((3 * batch, *shape), np.nan, np.float32)
    winners = np.zeros((batch, *shape), np.int8)
    for direct in (True, False):
        sweep.conv_layer(a, weight, bias, own_w, own_b, none, nothing, theta, direct, 2, batch,
                         activations.ACT_CODES["tanh"], pooled, True, out, winners)
        z_base = conv3x3_numpy(a[:batch], weight, bias)
        z_own = conv3x3_numpy(a[:batch], own_w, own_b) if perturbation == "weight" else z_base + theta
        z_below = conv3x3_numpy(a[batch:], weight, bias)
        if pooled:
            b, h2, w2, c = winners.shape
            windows = np.tanh(z_base).reshape(b, h2, 2, w2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(b, h2, w2, c, 4)
            np.testing.assert_array_equal(winners, windows.argmax(axis=-1))
            pick = lambda z: np.take_along_axis(  # noqa: E731
                z.reshape(b, h2, 2, w2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(b, h2, w2, c, 4),
                winners[..., None].astype(np.int64), axis=-1)[..., 0]
            expected = [windows.max(axis=-1), np.tanh(pick(z_own)), np.tanh(pick(z_below))]
        else:
            expected = [np.tanh(z_base), np.tanh(z_own), np.tanh(z_below)]
        np.testing.assert_allclose(out, np.concatenate(expected), rtol=1e-4, atol=1e-4)


def test_counter_rng_matches_reference_and_is_balanced() -> None:
    out = np.empty(64, np.float32)
    fill_signs(np.uint64(99), np.uint64(5), np.uint64(3), np.float32(0.5), out)
    np.testing.assert_array_equal(out, 0.5 * signs_reference(99, 5, 3, 64))
    big = np.empty(200_000, np.float32)
    fill_signs(np.uint64(7), np.uint64(0), np.uint64(0), np.float32(1.0), big)
    assert set(np.unique(big)) == {-1.0, 1.0}
    assert abs(big.mean()) < 4 / np.sqrt(big.size)          # mean zero within 4 sigma
    assert abs((big[1:] * big[:-1]).mean()) < 4 / np.sqrt(big.size)  # neighbours uncorrelated


def test_counter_rng_differs_by_counter_and_offset() -> None:
    a = signs_reference(1, 0, 0, 256)
    b = signs_reference(1, 1, 0, 256)
    c = signs_reference(1, 0, 1, 256)
    assert (a != b).mean() > 0.3
    np.testing.assert_array_equal(a[1:], c[:-1])  # the offset shifts the same stream


def test_whole_stream_fill_matches_the_reference_and_counts_its_flips() -> None:
    n = 200  # not a multiple of 64: the last hash is used in part
    first, second = np.empty(n, np.float32), np.empty(n, np.float32)
    assert fill_stream_counting_flips(np.uint64(11), np.uint64(4), first, first[:0]) == n  # the first sets all
    np.testing.assert_array_equal(first, signs_reference(11, 4, 0, n))
    flips = fill_stream_counting_flips(np.uint64(11), np.uint64(5), second, first)
    np.testing.assert_array_equal(second, signs_reference(11, 5, 0, n))
    assert flips == np.count_nonzero(first != second) and 0 < flips < n


@pytest.mark.parametrize("code", ["bernoulli", "walsh"])
def test_whole_network_perturbation_equals_the_per_layer_draws(code: str) -> None:
    """Chip mode draws every element at once; the values are the ones paper mode's per-layer draws give."""
    net = paper_cnn(1, (28, 28, 1), 10, "relu", "identity")
    source = PerturbationSource(1234, net, code)
    flat, flips = source.whole_network(3, "weight", None)
    assert flips == flat.size == net.parameters
    for index, (w, b) in enumerate(source.layer_views(flat, "weight")):
        pw, pb = source.weight(3, index)
        np.testing.assert_array_equal(w, pw)
        np.testing.assert_array_equal(b, pb)
    flat, _ = source.whole_network(3, "node", None)
    later, flips = source.whole_network(4, "node", flat)
    assert flips == np.count_nonzero(flat != later)
    for index, s in enumerate(source.layer_views(flat, "node")):
        np.testing.assert_array_equal(s, source.node(3, index, 1))


@pytest.mark.parametrize("code", ["bernoulli", "walsh"])
def test_paper_modes_flat_weight_draw_equals_the_per_layer_draws(code: str) -> None:
    """Paper mode draws every layer's weight perturbation at once (each layer numbered in itself for a
    deterministic code): the values of the per-layer draws, in network order."""
    net = paper_cnn(1, (28, 28, 1), 10, "relu", "identity")
    source = PerturbationSource(99, net, code, per_layer=True)
    flat = source.weight_flat(5)
    assert flat.dtype == np.float32 and flat.size == net.parameters
    for index, (w, b) in enumerate(source.layer_views(flat, "weight")):
        pw, pb = source.weight(5, index)
        np.testing.assert_array_equal(w, pw)
        np.testing.assert_array_equal(b, pb)


def test_accumulate_rounds_as_numpy_does(rng: np.random.Generator) -> None:
    """The accumulators' kernel against its numpy form: leak, then the scaled increment, then saturation and
    resolution, each rounded in float32."""
    y, x = rng.standard_normal(1000).astype(np.float32), rng.standard_normal(1000).astype(np.float32)
    expected = y + np.float32(0.37) * x
    exact = y.copy()
    periphery.accumulate(exact, x, np.float32(0.37), np.float32(1.0), np.float32(np.inf), np.float32(0.0))
    np.testing.assert_array_equal(exact, expected)
    leak, fs, lsb = np.float32(0.97), np.float32(1.5), np.float32(2 ** -6)
    limited = y.copy()
    periphery.accumulate(limited, x, np.float32(0.37), leak, fs, lsb)
    twin = np.clip(y * leak + np.float32(0.37) * x, -fs, fs)
    twin = np.round(twin / lsb) * lsb
    np.testing.assert_array_equal(limited, twin)
    assert np.abs(limited).max() == fs


def test_ideal_device_write_matches_numpy_and_keeps_failed_devices(rng: np.random.Generator) -> None:
    old = rng.uniform(-0.8, 0.8, 500).astype(np.float32)  # weights stay in their range
    delta = np.where(rng.random(500) < 0.3, 0.0, rng.normal(0, 0.5, 500)).astype(np.float32)
    failed = rng.random(500) < 0.1
    writes = np.zeros(500, np.int64)
    new = old.copy()
    step = delta.copy()
    limits = np.full(500, 1e9)
    assert devices.write_ideal(new, step, writes, limits, failed, np.float32(-0.8), np.float32(0.8),
                               devices.FAIL_STUCK) == int((delta != 0).sum())
    assert not step.any()  # the step is consumed
    expected = np.where(failed, old, np.clip(old + delta, np.float32(-0.8), np.float32(0.8)))
    np.testing.assert_array_equal(new, expected)
    np.testing.assert_array_equal(writes, delta != 0)  # a failed device is still pulsed, and worn
    assert (new == np.float32(0.8)).any() and (new == np.float32(-0.8)).any()
    # a device whose pulse reaches its limit fails at once, at the low weight in this mode
    new, step, writes = old.copy(), delta.copy(), np.zeros(500, np.int64)
    worn = np.zeros(500, bool)
    devices.write_ideal(new, step, writes, np.ones(500), worn, np.float32(-0.8), np.float32(0.8), devices.FAIL_LOW)
    np.testing.assert_array_equal(worn, delta != 0)
    np.testing.assert_array_equal(new, np.where(delta != 0, np.float32(-0.8), old))


def test_compiled_updates_refuse_arrays_of_other_sizes() -> None:
    """numba does not check bounds: a short array must be an error, not memory read past its end."""
    y, x = np.zeros(16, np.float32), np.ones(5, np.float32)
    with pytest.raises(ValueError, match="size"):
        periphery.accumulate(y, x, np.float32(1.0), np.float32(1.0), np.float32(np.inf), np.float32(0.0))
    w = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="size"):
        devices.write_ideal(w, np.zeros(3, np.float32), np.zeros(8, np.int64), np.ones(8), np.zeros(8, bool),
                            np.float32(-1.0), np.float32(1.0), 0)
    with pytest.raises(ValueError, match="size"):
        fill_stream_counting_flips(np.uint64(1), np.uint64(2), np.empty(200, np.float32), np.ones(10, np.float32))


def test_the_chip_mode_kernels_tanh_is_float32_tanh_to_a_few_units_in_the_last_place() -> None:
    """The compiled cycle's tanh is a rational approximation (vectorizable; math.tanh is not): against
    float64 tanh within 4e-7 relative everywhere, odd to the bit, saturating to ±1, and exact at 0."""
    from neurosim.kernels.chipmode import ACT_CODES, activate_all
    z = np.linspace(-20, 20, 400_001).astype(np.float32)
    out = np.empty_like(z)
    activate_all(ACT_CODES["tanh"], z, out)
    exact = np.tanh(z.astype(np.float64))
    assert np.max(np.abs(out - exact) / np.maximum(np.abs(exact), 1e-30)) < 4e-7
    assert np.array_equal(out[::-1], -out) and out[z.size // 2] == 0.0
    assert np.all(np.abs(out[np.abs(z) >= 9]) == 1.0)
    tiny = np.array([1e-30, 1e-10, 1e-4], dtype=np.float32)
    activate_all(ACT_CODES["tanh"], tiny, out[:3])
    np.testing.assert_allclose(out[:3], tiny, rtol=4e-7)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_the_optimizer_step_matches_its_numpy_twin_over_a_run(name: str) -> None:
    """kernels.optimizers (every path's step) against the update equations in numpy float32, over 20 steps
    of one array: the same floats."""
    from neurosim.kernels import optimizers

    rng = np.random.default_rng(7)
    lr, scale, mom, b1, b2, eps = (np.float32(x) for x in (0.01, 0.5, 0.9, 0.9, 0.999, 1e-8))
    m = np.zeros(50, np.float32)
    v = np.zeros(50, np.float32)
    m_twin, v_twin = m.copy(), v.copy()
    code = optimizers.OPTIMIZERS[name]
    for _ in range(20):
        s = rng.standard_normal(50).astype(np.float32)
        acc = s.copy()
        optimizers.step(code, acc, None if name == "sgd" else m, v if name == "adam" else None, lr, scale,
                              mom, b1, b2, eps)
        g = s * scale
        if name == "sgd":
            expected = -lr * g
        elif name == "momentum":
            m_twin = m_twin * mom + g
            expected = -lr * m_twin
        else:
            m_twin = m_twin * b1 + (np.float32(1) - b1) * g
            v_twin = v_twin * b2 + (np.float32(1) - b2) * g * g
            expected = -lr * (m_twin / (np.sqrt(v_twin) + eps))
        assert expected.dtype == np.float32 and np.array_equal(acc, expected)


def test_the_kernel_bench_runs_and_its_rule_picks_the_planar_kernel_where_it_says() -> None:
    """`tools/bench.py --only-kernels` (the source of the figures docs/performance.md quotes for the
    convolution kernels) runs and reports, for every convolution of the d = 1 CNN, the three kernel pairs
    and the rule's choice: d = 1's convolutions all go to the planar kernel. A bench measures; nothing here
    asserts a time."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    done = subprocess.run([sys.executable, str(REPO / "tools" / "bench.py"), "--only-kernels", "--widths", "1",
                           "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["conv_kernels_batch100"]
    assert len(rows) == 6 and all(row["direct_chosen"] for row in rows)
    for row in rows:
        for kernel in ("local_product", "input_error"):
            assert row[f"{kernel}_im2col_s"] > 0 and row[f"{kernel}_direct_s"] > 0


def test_planar_kernels_refuse_outputs_they_could_not_write_in_place(rng: np.random.Generator) -> None:
    """A strided output array would be flattened into a copy and left unwritten: refused instead."""
    x = rng.standard_normal((2, 5, 5, 1)).astype(np.float32)
    g = rng.standard_normal((2, 5, 5, 1)).astype(np.float32)
    weight = rng.standard_normal((9, 1)).astype(np.float32)
    wide = np.zeros((9, 3), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        mac.conv3x3_planar_weight_gradient(x, g, wide[:, :1], np.zeros(1, np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        mac.conv3x3_planar(x, weight, np.zeros(1, np.float32), np.zeros((2, 5, 5, 3), np.float32)[..., :1])


def test_planar_local_products_dot_products_do_not_depend_on_alignment(rng: np.random.Generator) -> None:
    """The planar local product's dot products (mac._three_dots) sum in the vector loop's order
    (reassociated): that order must be fixed by the length alone, not by where the streams sit in memory,
    or one config and seed could give two runs that differ in the last bits. The same streams at every
    offset 0..16 (floats) of their buffers, lengths around the vector loop's 64, give the same bits."""
    n = 1024 + 37
    x = rng.standard_normal(n + 8).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    for length in (1, 63, 64, 65, 1000, n):
        results = set()
        for offset in range(17):
            bx = np.empty(x.size + offset, np.float32)
            bg = np.empty(g.size + offset, np.float32)
            bx[offset:], bg[offset:] = x, g
            sums = mac._three_dots(bx, np.uint64(offset), np.uint64(offset + 1), np.uint64(offset + 7), bg,
                                   np.uint64(offset), np.uint64(length))
            results.add(np.array(sums, np.float32).tobytes())
        assert len(results) == 1, length


def test_vector_math_matches_libm(rng: np.random.Generator) -> None:
    """vecmath's expm1 within 3 ulp of numpy's over the range the device curves use (to ±700, where 2^k
    reaches k = ±1010), its sqrt IEEE's own square root bit for bit: their compiled loops vectorize
    where numba's math calls do not, so they replace them in the device write."""
    import numba as nb

    from neurosim.kernels import vecmath

    @nb.njit
    def both(x: np.ndarray, em1: np.ndarray, root: np.ndarray) -> None:
        for k in range(x.size):
            em1[k] = vecmath.expm1(x[k])
            root[k] = vecmath.sqrt(abs(x[k]))

    x = np.concatenate([rng.uniform(-40.0, 40.0, 5000), rng.uniform(-1e-3, 1e-3, 1000),
                        [0.0, -0.0, 700.0, -700.0, 1e-300, 5e-324]])
    em1, root = np.empty_like(x), np.empty_like(x)
    both(x, em1, root)
    ulp = np.spacing(np.abs(np.expm1(x)))
    assert np.all(np.abs(em1 - np.expm1(x)) <= 3 * ulp)
    np.testing.assert_array_equal(root, np.sqrt(np.abs(x)))


def test_borrowed_arrays_are_the_arrays_themselves() -> None:
    """kernels.borrow: a borrowed array and its views write into the caller's array, None stays None, and
    borrowing in a loop neither leaks nor drops a reference to the caller's array."""
    import sys

    import numba as nb

    from neurosim.kernels.borrow import borrowed

    @nb.njit
    def fill(a: np.ndarray, maybe: None, times: int) -> bool:
        for t in range(times):
            b = borrowed(a)
            view = b[1:, ::2]  # a strided view of a borrowed array
            view[:] = t
            b[0, 0] = -1.0
        return borrowed(maybe) is None

    a = np.zeros((3, 4))
    before = sys.getrefcount(a)
    assert fill(a, None, 1000)
    assert sys.getrefcount(a) == before
    expected = np.zeros((3, 4))
    expected[1:, ::2] = 999
    expected[0, 0] = -1.0
    np.testing.assert_array_equal(a, expected)


def test_a_dense_networks_read_noise_at_the_outputs_has_the_spread_of_every_weight_read() -> None:
    """Chip mode takes a dense layer's read noise at its outputs: σ on every weight (and the bias, input 1)
    sums to σ·sqrt(Σx² + 1) on each output. Over 20,000 reads of one input, each output's mean is the
    noiseless one and its standard deviation that spread (within 2%: four standard errors), the outputs
    uncorrelated; the draws of different reads differ."""
    config = load("chips/reference.yaml", "workloads/nist7x7.yaml",
                  ["network.hidden=[]", "chip.weights.device.read_noise=0.01", "train.eval_interval=1000000"])
    sim = Simulation(config, iterations=1)
    fused = sim.procedure
    layout, params = fused.layout, fused.params
    assert fused.readbuf.size == 0  # a dense network reads no weight array
    h = np.zeros_like(fused.h_base)
    h[:49] = np.random.default_rng(0).uniform(-1, 1, 49).astype(np.float32)
    z, scratch, none = np.zeros_like(fused.z_base), np.zeros_like(fused.scratch), fused.signs[:0]
    sigma = 0.01 * 2.0  # read_noise × the weight range
    chipmode.dense_forward(layout, params, none, np.float32(0), h, z, scratch, 0)
    clean = z.copy()
    outs = np.empty((20_000, z.size))
    for read in range(len(outs)):
        base = np.uint64(stream_base(np.uint64(7), np.uint64(read)))
        chipmode.dense_forward(layout, params, none, np.float32(0), h, z, scratch, 0, sigma, base)
        outs[read] = z
    spread = sigma * np.sqrt(float(np.sum(h[:49].astype(np.float64) ** 2)) + 1.0)
    np.testing.assert_allclose(outs.mean(axis=0), clean, atol=4 * spread / np.sqrt(len(outs)))
    np.testing.assert_allclose(outs.std(axis=0), spread, rtol=0.02)
    correlation = np.corrcoef(outs.T)[np.triu_indices(z.size, 1)]
    assert np.all(np.abs(correlation) < 0.05)
    assert not np.array_equal(outs[0], outs[1])
