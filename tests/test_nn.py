"""Network structure (the paper's Table 1) and backprop gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import im2col_numpy

from neurosim.kernels import activations
from neurosim.nn import compute, losses
from neurosim.nn.shapes import Conv3x3Shape, DenseShape, NetworkShape, mlp, paper_cnn


@pytest.mark.parametrize("d", [1, 2, 8, 48, 64])
def test_paper_cnn_counts(d: int) -> None:
    net = paper_cnn(d, (28, 28, 1), 10, "relu", "identity")
    assert net.parameters == 439 * d * d + 71 * d + 10
    assert net.nodes == 2752 * d + 10


def test_paper_cnn_table1_rows_at_d48() -> None:
    net = paper_cnn(48, (28, 28, 1), 10, "relu", "identity")
    assert [layer.parameters for layer in net.layers] == [480, 20784, 41568, 83040, 166080, 331968, 331968,
                                                          37056, 1930]
    assert [layer.nodes for layer in net.layers] == [37632, 37632, 18816, 18816, 9408, 9408, 192, 192, 10]


def directional_check(net: NetworkShape, loss: str, seed: int = 0, batch: int = 3) -> None:
    """For each layer: <backprop gradient, v> equals the central difference of C along a random v."""
    rng = np.random.default_rng(seed)
    weights = compute.init_weights(net, rng)
    weights = [(w, rng.uniform(-0.1, 0.1, b.shape).astype(np.float32)) for w, b in weights]
    x = rng.standard_normal((batch, *net.input_shape)).astype(np.float32)
    y = rng.integers(0, net.n_outputs, batch)
    trace = compute.Trace()
    out = compute.forward(net, weights, x, trace=trace)
    grads = compute.backward(net, weights, trace, losses.cost_gradient(loss, out, y))
    eps = 1e-3
    for index, (w, b) in enumerate(weights):
        vw = rng.standard_normal(w.shape).astype(np.float32)
        vb = rng.standard_normal(b.shape).astype(np.float32)
        norm = np.float32(np.sqrt((vw.astype(np.float64) ** 2).sum() + (vb.astype(np.float64) ** 2).sum()))
        vw, vb = vw / norm, vb / norm  # a unit step direction: small per element, large enough in C

        def cost_at(sign: float) -> float:
            moved = list(weights)
            moved[index] = (w + np.float32(sign * eps) * vw, b + np.float32(sign * eps) * vb)
            return losses.cost(loss, compute.forward(net, moved, x), y)

        numeric = (cost_at(1.0) - cost_at(-1.0)) / (2 * eps)
        analytic = float((grads[index][0].astype(np.float64) * vw).sum() + (grads[index][1] * vb).sum())
        assert analytic == pytest.approx(numeric, rel=2e-2, abs=2e-4), f"layer {net.layers[index].name}"


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "identity", "relu"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_mlp_gradient(activation: str, loss: str) -> None:
    directional_check(mlp((10,), (7, 5), 4, activation, "identity"), loss)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "identity"])
@pytest.mark.parametrize("pool", [False, True])
def test_conv_pool_flatten_dense_gradient(activation: str, pool: bool) -> None:
    """conv -> activation -> (max-pool) -> conv -> flatten -> dense, each layer's gradient checked.

    Small on purpose: through all nine layers of the paper CNN the float32 cost differences of a finite
    difference drown in rounding, while each layer type is covered here."""
    h = 6
    h2 = h // 2 if pool else h
    net = NetworkShape((h, h, 2), (
        Conv3x3Shape("conv1", (h, h, 2), (h, h, 3), activation, pool),
        Conv3x3Shape("conv2", (h2, h2, 3), (h2, h2, 2), activation),
        DenseShape("dense1", (h2 * h2 * 2,), (3,), "identity"),
    ))
    directional_check(net, "cross_entropy", seed=3)


def test_a_node_perturbation_is_added_in_float32() -> None:
    """θ given in float64 is added to the float32 pre-activations as float32: the same output."""
    net = paper_cnn(1, (28, 28, 1), 3, "relu", "identity")
    rng = np.random.default_rng(5)
    weights = compute.init_weights(net, rng)
    x = rng.random((4, 28, 28, 1)).astype(np.float32)
    node_theta = [np.float32(0.01) * np.sign(rng.standard_normal((4, *layer.out_shape)), dtype=np.float32)
                  for layer in net.layers]
    single = compute.forward(net, weights, x, node_theta=node_theta)
    double = compute.forward(net, weights, x, node_theta=[t.astype(np.float64) for t in node_theta])
    assert double.dtype == np.float32
    np.testing.assert_array_equal(double, single)


def test_node_perturbation_local_product_is_the_weight_gradient() -> None:
    """Eq. 6b: dC/dW = (dC/dθ_node) x the layer input; the local product with the pre-activation error."""
    net = mlp((6,), (5,), 3, "tanh", "identity")
    rng = np.random.default_rng(2)
    weights = compute.init_weights(net, rng)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    y = rng.integers(0, 3, 4)
    trace = compute.Trace()
    out = compute.forward(net, weights, x, trace=trace)
    grads = compute.backward(net, weights, trace, losses.cost_gradient("cross_entropy", out, y))
    # error at the output pre-activation (identity output) is dC/d(out)
    g_out = losses.cost_gradient("cross_entropy", out, y)
    dw, db = compute.local_product(net.layers[-1], trace.inputs[-1], g_out)
    np.testing.assert_allclose(dw, grads[-1][0], rtol=1e-6)
    np.testing.assert_allclose(db, grads[-1][1], rtol=1e-6)


@pytest.mark.parametrize("layer", [
    DenseShape("dense", (12,), (5,), "tanh"),
    Conv3x3Shape("planar", (6, 7, 2), (6, 7, 3), "tanh"),      # few channels: the planar local product
    Conv3x3Shape("unrolled", (5, 4, 8), (5, 4, 16), "tanh"),   # im2col
], ids=lambda layer: layer.name)
def test_a_shared_error_local_product_is_the_sum_of_the_samples_products(layer: DenseShape | Conv3x3Shape) -> None:
    """Paper-mode node perturbation with one perturbation s for the batch: Σ_b c_b·(x_b ⊗ s) summed as
    (Σ_b c_b·x_b) ⊗ s equals the batch's local product with the error c_b·s, sample by sample (float64)."""
    if isinstance(layer, Conv3x3Shape):
        assert compute.direct_convolution(layer) == (layer.name == "planar")
    rng = np.random.default_rng(4)
    batch = 7
    x = rng.standard_normal((batch, *layer.in_shape)).astype(np.float32)
    s = np.where(rng.random((1, *layer.out_shape)) < 0.5, -1.0, 1.0).astype(np.float32)
    c = rng.standard_normal(batch).astype(np.float32)
    dw, db = compute.shared_error_local_product(layer, x, c, s)
    error = (c.reshape((batch,) + (1,) * (s.ndim - 1)) * s).astype(np.float64)  # (B, *out_shape)
    rows = im2col_numpy(x.astype(np.float64)) if isinstance(layer, Conv3x3Shape) else x.astype(np.float64)
    errors = error.reshape(rows.shape[0], layer.fan_out)
    np.testing.assert_allclose(dw, rows.T @ errors, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, errors.sum(axis=0), rtol=1e-4, atol=1e-4)


def test_initialisation_schemes() -> None:
    """auto: He/LeCun weights, zero biases; auto_bias: the same weights, biases within ±1/sqrt(fan_in);
    pytorch: everything within ±1/sqrt(fan_in)."""
    net = paper_cnn(4, (28, 28, 1), 10, "relu", "identity")
    auto = compute.init_weights(net, np.random.default_rng(3), "auto")
    biased = compute.init_weights(net, np.random.default_rng(3), "auto_bias")
    torch_like = compute.init_weights(net, np.random.default_rng(3), "pytorch")
    for layer, (w, b), (wb, bb), (wt, bt) in zip(net.layers, auto, biased, torch_like):
        np.testing.assert_array_equal(w, wb)
        assert not b.any() and bb.all()
        bound = 1 / np.sqrt(layer.fan_in)
        assert np.abs(bb).max() <= bound and np.abs(wt).max() <= bound and np.abs(bt).max() <= bound
        he = np.sqrt((6.0 if layer.activation == "relu" else 3.0) / layer.fan_in)
        assert np.abs(w).max() <= he and (w.size < 100 or np.abs(w).max() > 0.9 * he)


def test_a_relu_kink_at_zero_is_what_perturbation_sees_as_slope_one_half() -> None:
    """Why auto_bias exists: at z = 0 exactly, ±δ gives (relu(δ) - relu(-δ)) / 2δ = 1/2, backprop's 0."""
    delta = np.float32(1e-3)
    z = np.zeros(4, dtype=np.float32)
    slope = (compute.activate("relu", z + delta) - compute.activate("relu", z - delta)) / (2 * delta)
    np.testing.assert_allclose(slope, 0.5)
    through = np.full(4, np.nan, np.float32)
    activations.backpropagate(activations.ACT_CODES["relu"], np.ones(4, np.float32), z, compute.activate("relu", z),
                              through)
    assert not through.any()


def test_one_sample_cross_entropy_is_exactly_the_batch_formula() -> None:
    """The single-sample shortcut of losses.cost gives the very float of the batch formula."""
    rng = np.random.default_rng(3)
    for _ in range(2000):
        out = (rng.standard_normal((1, 10)) * rng.uniform(0.1, 30)).astype(np.float32)
        label = np.array([rng.integers(10)])
        assert losses.cost("cross_entropy", out, label) == float(losses.per_sample_cost("cross_entropy", out, label)[0])
    batch = rng.standard_normal((5, 10)).astype(np.float32)
    labels = rng.integers(10, size=5)
    assert losses.cost("cross_entropy", batch, labels) == float(losses.per_sample_cost("cross_entropy", batch, labels).mean())


def test_held_pool_winners_from_another_batch_or_a_partial_pass_are_refused() -> None:
    """``pool_from`` must be a whole pass of the same samples: the selecting kernel does not check its
    indices, so held winners of another batch size read past their array (NaN or garbage, no error)."""
    net = paper_cnn(1, (8, 8, 1), 3, "relu", "identity")
    weights = compute.init_weights(net, np.random.default_rng(0), "glorot")
    rng = np.random.default_rng(1)
    one, four = rng.random((1, 8, 8, 1), dtype=np.float32), rng.random((4, 8, 8, 1), dtype=np.float32)
    trace = compute.Trace()
    compute.forward(net, weights, one, trace=trace)
    with pytest.raises(ValueError, match="same samples"):
        compute.forward(net, weights, four, pool_from=trace)
    partial = compute.Trace(trace.pre[2:], trace.post[2:], trace.argmax[2:], trace.output, trace.inputs[2:])
    with pytest.raises(ValueError, match="whole pass"):
        compute.forward(net, weights, one, pool_from=partial)
    held = compute.forward(net, weights, one, pool_from=trace)  # the same samples: the same output
    assert np.array_equal(held, trace.output)


def test_a_pass_without_a_trace_gives_the_traced_floats() -> None:
    """Untraced passes unroll a convolution a few images at a time (compute.images_per_product), traced
    ones whole: the outputs are the same to the bit, so a perturbed pass differs from its baseline by the
    perturbation only. Paper CNN d = 8 at the paper's batch of 100."""
    net = paper_cnn(8, (28, 28, 1), 10, "tanh", "identity")
    assert any(compute.images_per_product(layer, 100) < 100 for layer in net.layers if layer.kind == "conv3x3")
    rng = np.random.default_rng(7)
    weights = compute.init_weights(net, rng, "glorot")
    x = rng.random((100, 28, 28, 1)).astype(np.float32)
    traced = compute.forward(net, weights, x, trace=compute.Trace())
    np.testing.assert_array_equal(compute.forward(net, weights, x), traced)


@pytest.mark.parametrize("kind", sorted(activations.ACT_CODES))
def test_backprop_through_an_activation_is_numpys_product_to_the_bit(kind: str) -> None:
    """activations.backpropagate gives g · f'(z) with f' rounded in float32 first, as numpy's g * f'(z, h)
    does: relu' = [z > 0], tanh' = 1 - h², sigmoid' = h(1 - h), identity' = 1."""
    rng = np.random.default_rng(5)
    z = rng.standard_normal(1001).astype(np.float32)
    z[::7] = 0.0  # relu's kink
    g = rng.standard_normal(1001).astype(np.float32)
    h = compute.activate(kind, z)
    one = np.float32(1.0)
    derivative = {"relu": (z > 0).astype(np.float32), "tanh": one - h * h, "sigmoid": h * (one - h),
                  "identity": np.ones_like(z)}[kind]
    out = np.full_like(z, np.nan)
    activations.backpropagate(activations.ACT_CODES[kind], g, z, h, out)
    np.testing.assert_array_equal(out, g * derivative)
