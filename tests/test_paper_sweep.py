"""Paper mode's sweep (every perturbed pass of an iteration, stacked layer by layer) against the passes made
one at a time by compute.forward from the baseline's layer inputs: the same floats, where this machine's
BLAS gives an output the same sums in a wider product."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.kernels import mac
from neurosim.nn import compute
from neurosim.nn.shapes import Conv3x3Shape, NetworkShape, mlp, paper_cnn


def blas_sums_ignore_width(net: NetworkShape, batch: int) -> bool:
    """Whether every convolution the sweep widens (the baseline's crossbar and the weight-perturbed one side by
    side, in one unrolled product: compute._widened) gets from this machine's BLAS the floats of its own
    narrow product. OpenBLAS's SkylakeX kernels do (measured at the paper CNN's shapes); its Haswell kernels,
    on a machine without AVX-512, round the wide product otherwise. Where they do not, the sweep is still
    the passes one at a time within float32 rounding."""
    rng = np.random.default_rng(0)
    for layer in net.layers:
        if not isinstance(layer, Conv3x3Shape) or compute.direct_convolution(layer) or not compute._widened(layer, batch):
            continue
        images = compute.images_per_product(layer, batch)
        cols = rng.random((images * layer.positions, layer.fan_in)).astype(np.float32)
        weight = rng.standard_normal((layer.fan_in, 2 * layer.fan_out)).astype(np.float32)
        narrow = np.empty((cols.shape[0], layer.fan_out), dtype=np.float32)
        wide = np.empty((cols.shape[0], 2 * layer.fan_out), dtype=np.float32)
        zero = np.zeros(2 * layer.fan_out, dtype=np.float32)
        mac.conv3x3_from_cols(cols, np.ascontiguousarray(weight[:, :layer.fan_out]), zero[:layer.fan_out], narrow)
        mac.conv3x3_from_cols(cols, weight, zero, wide)
        if not np.array_equal(narrow, wide[:, :layer.fan_out]):
            return False
    return True


def one_at_a_time(net, weights, x, weight_theta, node_theta, pools_held):
    """The baseline, then each layer's perturbed pass by itself: compute.forward of the layers from the
    perturbed one up, on the baseline's input to it, with the baseline's max-pool winners above."""
    trace = compute.Trace()
    outs = [compute.forward(net, weights, x, trace=trace)]
    for index, layer in enumerate(net.layers):
        above = NetworkShape(layer.in_shape, net.layers[index:])
        moved = list(weights[index:])
        theta = None
        if weight_theta is not None:
            (w, b), (tw, tb) = weights[index], weight_theta[index]
            moved[0] = (w + tw, b + tb)
        else:
            theta = [node_theta[index]] + [None] * (len(above.layers) - 1)
        held = compute.Trace(argmax=trace.argmax[index:]) if pools_held else None
        outs.append(compute.forward(above, moved, trace.inputs[index], node_theta=theta, pool_from=held))
    return np.stack(outs), trace


@pytest.mark.parametrize("d", [1, 2, 4, 8])
@pytest.mark.parametrize("kind", ["weight", "node", "node_shared"])
def test_sweep_is_the_passes_one_at_a_time(d: int, kind: str) -> None:
    rng = np.random.default_rng(d)
    net = paper_cnn(d, (28, 28, 1), 10, "tanh", "identity")
    weights = compute.init_weights(net, rng, "glorot")
    batch = 100  # the paper's: every product of at least 2·10^6 MACs (compute.images_per_product)
    x = rng.random((batch, 28, 28, 1)).astype(np.float32)
    x[:, :4] = 0.0  # a blank band, so max-pool windows tie, as on Fashion-MNIST's background
    amp = np.float32(0.01)
    weight_theta = node_theta = None
    if kind == "weight":
        weight_theta = [(amp * rng.choice([-1, 1], (l.fan_in, l.fan_out)).astype(np.float32),
                         amp * rng.choice([-1, 1], l.fan_out).astype(np.float32)) for l in net.layers]
    else:
        rows = 1 if kind == "node_shared" else batch
        node_theta = [amp * rng.choice([-1, 1], (rows, *l.out_shape)).astype(np.float32) for l in net.layers]
    exact = kind != "weight" or blas_sums_ignore_width(net, batch)
    same = np.testing.assert_array_equal if exact else \
        (lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6))
    for held in (True, False):
        expected, trace = one_at_a_time(net, weights, x, weight_theta, node_theta, held)
        swept = compute.perturbed_sweep(net, weights, x, weight_theta=weight_theta, node_theta=node_theta,
                                        pools_held=held)
        same(swept.outputs, expected.astype(np.float32))
        for mine, theirs in zip(swept.inputs, trace.inputs):
            same(mine, theirs)


def test_sweep_of_an_mlp() -> None:
    rng = np.random.default_rng(5)
    net = mlp((49,), (16,), 4, "relu", "identity")
    weights = compute.init_weights(net, rng)
    x = rng.random((64, 49)).astype(np.float32)
    theta = [(np.float32(0.01) * rng.choice([-1, 1], (l.fan_in, l.fan_out)).astype(np.float32),
              np.float32(0.01) * rng.choice([-1, 1], l.fan_out).astype(np.float32)) for l in net.layers]
    expected, _ = one_at_a_time(net, weights, x, theta, None, True)
    np.testing.assert_array_equal(compute.perturbed_sweep(net, weights, x, weight_theta=theta).outputs, expected)


@pytest.mark.parametrize("batch, images", [(7, 3), (5, 2), (3, 5), (4, 4)])
@pytest.mark.parametrize("pooled", [True, False])
def test_the_planar_pair_of_a_sweep_gives_each_pass_its_own_floats(batch: int, images: int, pooled: bool) -> None:
    """The baseline and the weight-perturbed pass convolved side by side in one planar call (the last chunk of
    images shorter than the others where ``images`` does not divide the batch): every output and every
    max-pool winner is the one the two passes made alone give."""
    from neurosim.kernels import sweep

    rng = np.random.default_rng(batch * 10 + images)
    a = rng.standard_normal((2 * batch, 6, 6, 2)).astype(np.float32)  # the baseline's input, one pass below
    weight = rng.standard_normal((18, 2)).astype(np.float32)
    bias = rng.standard_normal(2).astype(np.float32)
    own_weight = weight + np.float32(0.01) * rng.choice([-1, 1], weight.shape).astype(np.float32)
    own_bias = bias + np.float32(0.01) * rng.choice([-1, 1], bias.shape).astype(np.float32)
    shape = (3, 3, 2) if pooled else (6, 6, 2)
    theta = np.empty((1, 6, 6, 2), np.float32)
    results = []
    for pair_weight, pair_bias in ((np.hstack((weight, own_weight)), np.concatenate((bias, own_bias))),
                                   (np.empty((0, 0), np.float32), np.empty(0, np.float32))):
        out = np.full((3 * batch, *shape), np.nan, np.float32)
        winners = np.zeros((batch, *shape), np.int8)
        sweep.conv_layer(a, weight, bias, own_weight, own_bias, pair_weight, pair_bias, theta, True, images, batch,
                         2, pooled, True, out, winners)
        results.append((out, winners))
    (paired, paired_winners), (alone, alone_winners) = results
    assert not np.isnan(paired).any()
    np.testing.assert_array_equal(paired, alone)
    np.testing.assert_array_equal(paired_winners, alone_winners)
