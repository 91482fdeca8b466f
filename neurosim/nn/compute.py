"""Forward and backward passes over a NetworkShape with given crossbar weights.

The chip owns the weights; this module only does the math, each layer one compiled MAC kernel over the
whole batch. A forward pass can record a :class:`Trace` (every layer's input, pre- and post-activations) so
that backprop and node perturbation's local products can reuse the unperturbed work; paper mode's perturbed
passes reuse the baseline's in one sweep over the layers (:func:`perturbed_sweep`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import singledispatch

import numpy as np

from neurosim.kernels import activations, mac
from neurosim.nn.shapes import Conv3x3Shape, DenseShape, LayerShape, NetworkShape

Weights = Sequence[tuple[np.ndarray, np.ndarray]]  # per layer: (weight (fan_in, fan_out), bias (fan_out,))


@dataclass
class Trace:
    """What a forward pass remembers, per layer."""

    pre: list[np.ndarray] = field(default_factory=list)     # pre-activation z, (B, *out_shape)
    post: list[np.ndarray] = field(default_factory=list)    # activation output before pooling
    argmax: list[np.ndarray | None] = field(default_factory=list)
    output: np.ndarray | None = None
    inputs: list[np.ndarray] = field(default_factory=list)  # the activation entering each layer


def activate(kind: str, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A layer's activation of z, float32, into ``out`` (which may be z; default a new array), by the
    kernel compiled chip mode calls too (:mod:`neurosim.kernels.activations`: tanh a rational function
    within 4e-7 of float32 tanh), so that every path of the simulator activates alike."""
    z = np.ascontiguousarray(z, dtype=np.float32)
    out = np.empty_like(z) if out is None else out
    activations.activate_all(activations.ACT_CODES[kind], z.reshape(-1), out.reshape(-1))
    return out


# The math of each layer type, registered by its shape's type (functools.singledispatch): a new layer type is
# a LayerShape subclass and its registrations here.

def _unregistered(layer: LayerShape, what: str) -> NotImplementedError:
    return NotImplementedError(f"{what} is not written for {type(layer).__name__} layers ({layer.name})")


@singledispatch
def crossbar_rows(layer: LayerShape, a: np.ndarray) -> np.ndarray:
    """The rows a layer's crossbar sees for activations ``a``: flattened inputs, or im2col patches."""
    raise _unregistered(layer, "crossbar_rows")


@crossbar_rows.register
def _(layer: DenseShape, a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.reshape(a.shape[0], layer.fan_in))


@crossbar_rows.register
def _(layer: Conv3x3Shape, a: np.ndarray) -> np.ndarray:
    batch = a.shape[0]
    cols = np.empty((batch * layer.positions, layer.fan_in), dtype=np.float32)
    mac.im2col3x3(np.ascontiguousarray(a.reshape((batch, *layer.in_shape))), cols)
    return cols


@singledispatch
def pre_activation(layer: LayerShape, a: np.ndarray, weight: np.ndarray, bias: np.ndarray, z: np.ndarray) -> None:
    """z = the layer's crossbar MAC of the activations ``a`` (a batch), bias included."""
    raise _unregistered(layer, "pre_activation")


@pre_activation.register
def _(layer: DenseShape, a: np.ndarray, weight: np.ndarray, bias: np.ndarray, z: np.ndarray) -> None:
    mac.dense_forward(crossbar_rows(layer, a), weight, bias, a.shape[0], z)


@pre_activation.register
def _(layer: Conv3x3Shape, a: np.ndarray, weight: np.ndarray, bias: np.ndarray, z: np.ndarray) -> None:
    batch = a.shape[0]
    images = np.ascontiguousarray(a.reshape((batch, *layer.in_shape)))
    if direct_convolution(layer):
        mac.conv3x3_planar(images, weight, bias, z)
    else:  # unrolled a few images at a time, kept in cache
        mac.conv3x3_forward(images, weight, bias, images_per_product(layer, batch), batch, z)


def images_per_product(layer: LayerShape, batch: int) -> int:
    """How many images :func:`mac.conv3x3_forward` unrolls per product. With 16 output columns or more, as
    many as fit in cache (:func:`images_in_cache`): there BLAS gives every row the same floats whatever
    the product's height (tested on the paper CNN's layers at every width, 1 image to the whole batch).
    With fewer columns, small products round otherwise (BLAS's kernels for narrow products), so: the
    fewest images that make a product of at least 2·10^6 MACs, split evenly over the batch, where the
    results do not depend on the split (tested to the bit)."""
    if layer.fan_out >= 16:
        return min(batch, images_in_cache(layer))
    images = max(1, -(-2_000_000 // (layer.positions * layer.fan_in * layer.fan_out)))
    chunks = max(1, batch // images)
    return -(-batch // chunks)


def direct_convolution(layer: Conv3x3Shape) -> bool:
    """Convolve without im2col (:func:`mac.conv3x3_planar`)? Measured on the paper CNN's shapes (300 images,
    as paper mode's stacked passes): the planar kernel is 1.4-20x faster than im2col + product on layers
    of at most 8 output channels and at most 16 (input, output) channel pairs; elsewhere it is 0.3-1.3x as
    fast (d = 16's conv1, 1 → 16 channels: 0.6x; d = 4's conv3, 4 → 8: 1.3x alone, but slower in paper
    mode than the product its weight-perturbed pass shares with the baseline). The planar kernel rounds as
    the direct formula (the bias, then each product), im2col + product as BLAS; the layers this rule gave
    to the planar kernel in the seventh session (d = 1 conv5-6, d = 2 conv3-4, d = 8 conv1) changed in
    the last bits."""
    channels = layer.in_shape[-1]
    return layer.fan_out <= 8 and channels * layer.fan_out <= 16


def check_winners(layer: LayerShape, winners: np.ndarray, batch: int) -> None:
    """Held max-pool winners must come from a pass of the same samples: the selecting kernels do not check
    their indices, so another batch's winners would read past the array (garbage, no error)."""
    expected = (batch, *layer.output_shape)
    if winners.shape != expected:
        raise ValueError(f"{layer.name}: held max-pool winners of shape {winners.shape} for a pool output of "
                         f"shape {expected} (pool_from must be a pass of the same samples)")


def finish_layer(layer: LayerShape, z: np.ndarray, trace: Trace | None,
                 winners: np.ndarray | None = None) -> np.ndarray:
    """Activation and pooling after the MAC; records into ``trace``. With ``winners`` (an unperturbed pass's
    argmax) the pool passes those inputs on instead of comparing the current values; unrecorded, it picks
    them before the activation, which is element-wise, so three quarters of it are not computed."""
    if layer.pool and winners is not None:
        check_winners(layer, winners, z.shape[0])
    if layer.pool and winners is not None and trace is None:
        picked = np.empty((z.shape[0], *layer.output_shape), dtype=np.float32)
        mac.maxpool2_select(z, winners, picked)
        return activate(layer.activation, picked)
    h = activate(layer.activation, z)
    argmax = None
    out = h
    if layer.pool:
        batch = h.shape[0]
        out = np.empty((batch, *layer.output_shape), dtype=np.float32)
        if winners is not None:
            argmax = winners
            mac.maxpool2_select(h, winners, out)
        else:
            argmax = np.empty(out.shape, dtype=np.int8)
            mac.maxpool2_forward(h, out, argmax)
    if trace is not None:
        trace.pre.append(z)
        trace.post.append(h)
        trace.argmax.append(argmax)
    return out


def forward(net: NetworkShape, weights: Weights, x: np.ndarray, *,
            node_theta: Sequence[np.ndarray | None] | None = None, trace: Trace | None = None,
            pool_from: Trace | None = None) -> np.ndarray:
    """Run the network on a batch ``x`` (B, *input_shape) and return the output (B, n_outputs).

    ``node_theta[l]`` is added to layer l's pre-activation (node perturbation). Paper mode's perturbed
    passes, which start at their layer from the baseline, are made together by :func:`perturbed_sweep`.

    ``pool_from``: an unperturbed pass of the same samples whose max-pool winners this (perturbed) pass
    keeps. A perturbation is a small-signal probe: held winners give the pool's linear response, which is
    what backprop differentiates. Compared afresh, tied inputs (Fashion-MNIST's constant background ties
    most windows exactly) each see only max(θ) of the window, so node perturbation, which perturbs them
    independently, would credit each with a fraction of its gradient (1/8 each in a four-way tie).
    """
    batch = x.shape[0]
    a = x
    if pool_from is not None and len(pool_from.argmax) != len(net.layers):
        raise ValueError(f"pool_from recorded {len(pool_from.argmax)} of the network's {len(net.layers)} layers "
                         "(it must be a whole pass, from the first layer)")
    for index, layer in enumerate(net.layers):
        weight, bias = weights[index]
        theta = None if node_theta is None else node_theta[index]
        winners = None if pool_from is None else pool_from.argmax[index]
        z = np.empty((batch, *layer.out_shape), dtype=np.float32)
        pre_activation(layer, a, weight, bias, z)
        if theta is not None:
            z += theta  # float32, and θ must fit z's shape
        if trace is not None:
            trace.inputs.append(a)
        a = finish_layer(layer, z, trace, winners)
    out = a.reshape(batch, net.n_outputs)
    if trace is not None:
        trace.output = out
    return out


@dataclass
class Sweep:
    """What :func:`perturbed_sweep` returns: every pass's output and the baseline's layer inputs."""

    outputs: np.ndarray            # (1 + layers, B, n_outputs): the baseline, then the pass with layer l perturbed
    inputs: list[np.ndarray]       # the baseline's activation entering each layer, (B, *in_shape)


def perturbed_sweep(net: NetworkShape, weights: Weights, x: np.ndarray, *,
                    weight_theta: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
                    node_theta: Sequence[np.ndarray] | None = None, pools_held: bool = True) -> Sweep:
    """Paper mode's inferences of one iteration in one sweep over the layers: the baseline of the batch ``x``
    (B, *input_shape) and, for every layer l, the pass with layer l perturbed (its weights by
    ``weight_theta[l]`` = (θw, θb), or its pre-activations by ``node_theta[l]``, (1 or B, *out_shape)).

    Layer k sees the baseline and the passes perturbed below k with the same weights, so they go through
    it as one stacked batch, (k + 1)·B samples in one product instead of k + 1 products of B; the pass
    perturbed at k starts there, from the baseline's input (weights) or pre-activation (nodes). Each
    layer is computed only for the passes that differ from the baseline at its input, each pass with the
    floats :func:`forward` gives it made alone from its layer up (tested), or within float32 rounding of them
    where this machine's BLAS rounds a widened product otherwise (:func:`_widened`). ``pools_held``: the perturbed
    passes keep the baseline's max-pool winners (see :func:`forward`'s ``pool_from``)."""
    if (weight_theta is None) == (node_theta is None):
        raise ValueError("perturbed_sweep perturbs either weights or nodes")
    batch = x.shape[0]
    a = np.ascontiguousarray(x, dtype=np.float32)
    inputs = []
    passes: list[int] = []  # which layer's perturbed pass each block after the baseline is
    for index, layer in enumerate(net.layers):
        weight, bias = weights[index]
        inputs.append(a[:batch])
        blocks = len(passes) + 2  # the baseline, this layer's pass, the passes below
        moved = None
        if weight_theta is not None:
            theta_w, theta_b = weight_theta[index]
            moved = (weight + theta_w, bias + theta_b)
        a = swept_layer(layer, a, weight, bias, batch, blocks, pools_held, moved,
                        None if node_theta is None else node_theta[index])
        passes.insert(0, index)
    swept = a.reshape(len(net.layers) + 1, batch, net.n_outputs)
    outputs = np.empty_like(swept)
    outputs[0] = swept[0]
    outputs[1 + np.array(passes)] = swept[1:]
    return Sweep(outputs, inputs)


@singledispatch
def swept_layer(layer: LayerShape, a: np.ndarray, weight: np.ndarray, bias: np.ndarray, batch: int, blocks: int,
                pools_held: bool, moved: tuple[np.ndarray, np.ndarray] | None,
                node_theta: np.ndarray | None) -> np.ndarray:
    """One layer of :func:`perturbed_sweep`: from the stack ``a`` of the baseline and the passes perturbed below
    (``blocks`` - 1 blocks of ``batch`` samples), the stack of the baseline, this layer's perturbed pass (its
    weights ``moved``, or ``node_theta`` added to its pre-activations) and the passes below, activated and
    pooled."""
    raise _unregistered(layer, "swept_layer")


@swept_layer.register
def _(layer: DenseShape, a: np.ndarray, weight: np.ndarray, bias: np.ndarray, batch: int, blocks: int,
      pools_held: bool, moved: tuple[np.ndarray, np.ndarray] | None, node_theta: np.ndarray | None) -> np.ndarray:
    z = np.empty((blocks * batch, *layer.out_shape), dtype=np.float32)
    _stacked_dense(layer, a[:batch], weight, bias, z[:batch], batch)
    if moved is not None:
        _stacked_dense(layer, a[:batch], moved[0], moved[1], z[batch:2 * batch], batch)
    else:
        np.add(z[:batch], node_theta, out=z[batch:2 * batch])  # as forward's z += θ: float32
    if blocks > 2:
        _stacked_dense(layer, a[batch:], weight, bias, z[2 * batch:], batch)
    return activate(layer.activation, z, out=z)


@swept_layer.register
def _(layer: Conv3x3Shape, a: np.ndarray, weight: np.ndarray, bias: np.ndarray, batch: int, blocks: int,
      pools_held: bool, moved: tuple[np.ndarray, np.ndarray] | None, node_theta: np.ndarray | None) -> np.ndarray:
    """By the compiled :func:`neurosim.kernels.sweep.conv_layer`."""
    from neurosim.kernels import sweep  # compiled on paper mode's first iteration, not on import

    direct = direct_convolution(layer)
    none, nothing = np.empty((0, 0), dtype=np.float32), np.empty(0, dtype=np.float32)
    own_weight, own_bias = moved if moved is not None else (none, nothing)
    pair_weight, pair_bias = none, nothing
    if moved is not None and _widened(layer, batch):
        pair_weight, pair_bias = np.hstack((weight, own_weight)), np.concatenate((bias, own_bias))
    theta = (np.empty((1, *layer.out_shape), dtype=np.float32) if node_theta is None
             else np.ascontiguousarray(node_theta.reshape((-1, *layer.out_shape)), dtype=np.float32))
    # planar: as many images as hold 16,384 pre-activations (64 KB), in cache; else the unrolled products'
    images = max(1, 16384 // layer.nodes) if direct else images_per_product(layer, batch)
    out = np.empty((blocks * batch, *layer.output_shape), dtype=np.float32)
    winners = np.empty((batch, *layer.output_shape), dtype=np.int8)
    sweep.conv_layer(np.ascontiguousarray(a.reshape((-1, *layer.in_shape))), weight, bias, own_weight, own_bias,
                     pair_weight, pair_bias, theta, direct, images, batch, activations.ACT_CODES[layer.activation],
                     layer.pool, pools_held, out, winners)
    return out


def _widened(layer: Conv3x3Shape, batch: int) -> bool:
    """Convolve the baseline and the weight-perturbed pass (the same input) with both crossbars side by side?
    Planar, where a crossbar has one or two outputs (:func:`mac.conv3x3_planar_crossbars`: the input planes
    laid out once, each output summed as alone, so the same floats): the pair fills at most one four-output
    sweep, and d = 1's layers ran 20-30% faster; with four outputs a crossbar the pair's eight sums per position
    were no faster (docs/performance.md, tenth session). Unrolled, where OpenBLAS's SkylakeX kernels give an
    output the same sums whatever the product's shape (:func:`images_per_product`): 16 output columns or more,
    or products of at least 2·10^6 MACs. Measured (d = 8's conv2, one image): 52 GMAC/s where the narrow
    product ran at 33. Its Haswell kernels (machines without AVX-512) round the wide product otherwise, so
    there the pair's floats are within float32 rounding of the passes made alone, not the same (tested)."""
    if direct_convolution(layer):
        return layer.fan_out <= 2
    macs = images_per_product(layer, batch) * layer.positions * layer.fan_in * layer.fan_out
    return layer.fan_out >= 16 or macs >= 2_000_000


def _stacked_dense(layer: LayerShape, a: np.ndarray, weight: np.ndarray, bias: np.ndarray, z: np.ndarray,
                   batch: int) -> None:
    """A dense layer's pre-activations z for a stack of passes a, one product per pass of ``batch`` samples
    (the floats of each pass's own product)."""
    mac.dense_forward(a.reshape(z.shape[0], layer.fan_in), weight, bias, batch, z)


def backward(net: NetworkShape, weights: Weights, trace: Trace, grad_output: np.ndarray,
             ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Backprop through a recorded forward pass: the gradient (dweight, dbias) of every layer."""
    grads: list[tuple[np.ndarray, np.ndarray]] = [None] * len(net.layers)  # type: ignore[list-item]
    batch = grad_output.shape[0]
    g = grad_output.astype(np.float32).reshape((batch, *net.layers[-1].output_shape))
    for index in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[index]
        g = g.reshape((batch, *layer.output_shape))
        code = activations.ACT_CODES[layer.activation]
        gz = np.empty((batch, *layer.out_shape), dtype=np.float32)
        if layer.pool:  # through the pool and the activation in one pass
            mac.maxpool2_backward(code, np.ascontiguousarray(g), trace.argmax[index], trace.pre[index],
                                  trace.post[index], gz)
        else:
            activations.backpropagate(code, np.ascontiguousarray(g).reshape(-1), trace.pre[index].reshape(-1),
                                      trace.post[index].reshape(-1), gz.reshape(-1))
        grads[index] = local_product(layer, trace.inputs[index], gz)
        if index > 0:
            g = input_gradient(layer, weights[index][0], gz, batch)
    return grads


@singledispatch
def local_product(layer: LayerShape, inputs: np.ndarray, grad_pre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dweight, dbias) from a layer's input activations (B, *in_shape) and the error at its
    pre-activations (B, *out_shape): a convolution's by :func:`mac.conv3x3_local_product` (planar for few
    channels, :func:`direct_convolution`; else unrolled a few images at a time, in cache)."""
    raise _unregistered(layer, "local_product")


@local_product.register
def _(layer: DenseShape, inputs: np.ndarray, grad_pre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dweight = np.empty((layer.fan_in, layer.fan_out), dtype=np.float32)
    dbias = np.empty(layer.fan_out, dtype=np.float32)
    g2 = np.ascontiguousarray(grad_pre.reshape(inputs.shape[0], layer.fan_out), dtype=np.float32)
    mac.weight_gradient(crossbar_rows(layer, inputs), g2, dweight, dbias)
    return dweight, dbias


@local_product.register
def _(layer: Conv3x3Shape, inputs: np.ndarray, grad_pre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    batch = inputs.shape[0]
    dweight = np.empty((layer.fan_in, layer.fan_out), dtype=np.float32)
    dbias = np.empty(layer.fan_out, dtype=np.float32)
    g = np.ascontiguousarray(grad_pre.reshape((batch, *layer.out_shape)), dtype=np.float32)
    images = np.ascontiguousarray(inputs.reshape((batch, *layer.in_shape)))
    direct = direct_convolution(layer)
    unrolled = 0 if direct else min(batch, images_in_cache(layer)) * layer.positions
    cols = np.empty((unrolled, layer.fan_in), dtype=np.float32)
    mac.conv3x3_local_product(images, g, direct, cols, dweight, dbias)
    return dweight, dbias


def shared_error_local_product(layer: LayerShape, inputs: np.ndarray, sample_weights: np.ndarray,
                               error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ_b c_b · (the local product of input x_b (B, *in_shape) with an error the batch shares, (1, *out_shape)),
    c = ``sample_weights`` (B,): by linearity, the local product of the one input Σ_b c_b·x_b, its bias part
    times Σ_b c_b. Paper-mode node perturbation with one perturbation for the whole batch is this (c_b: sample
    b's cost change): the batch's local product took as many MACs as a forward pass, this 1/B of them (and
    one pass over the inputs). Sums in another order than the sample-by-sample product: the last bits."""
    batch = inputs.shape[0]
    c = np.ascontiguousarray(sample_weights, dtype=np.float32)
    mixed = np.dot(c, inputs.reshape(batch, -1)).astype(np.float32, copy=False).reshape((1, *inputs.shape[1:]))
    dweight, dbias = local_product(layer, mixed, error)
    return dweight, dbias * np.float32(c.sum(dtype=np.float64))


def images_in_cache(layer: LayerShape) -> int:
    """How many images a convolution's local product, input error or (16 outputs or more) forward product
    unrolls at a time: as many as fit 128 KB of rows (at least one). Measured on the paper CNN at d = 8
    (batch 100): the local products of 1-4 images run at 22-46 GMAC/s, the whole batch's rows at once at
    4-29; beyond ~200 KB of rows each product slows by a third or more."""
    return max(1, 131072 // (4 * layer.positions * layer.fan_in))


@singledispatch
def input_gradient(layer: LayerShape, weight: np.ndarray, grad_pre: np.ndarray, batch: int) -> np.ndarray:
    """Error at a layer's inputs from the error at its pre-activations."""
    raise _unregistered(layer, "input_gradient")


@input_gradient.register
def _(layer: DenseShape, weight: np.ndarray, grad_pre: np.ndarray, batch: int) -> np.ndarray:
    g2 = grad_pre.reshape(-1, layer.fan_out)
    return np.dot(g2, weight.T).astype(np.float32, copy=False).reshape((batch, *layer.in_shape))


@input_gradient.register
def _(layer: Conv3x3Shape, weight: np.ndarray, grad_pre: np.ndarray, batch: int) -> np.ndarray:
    dx = np.empty((batch, *layer.in_shape), dtype=np.float32)
    g = np.ascontiguousarray(grad_pre.reshape((batch, *layer.out_shape)), dtype=np.float32)
    if direct_convolution(layer):
        mac.conv3x3_planar_input_gradient(g, weight, dx)
    else:
        mac.conv3x3_input_gradient(g, weight, images_in_cache(layer), dx)
    return dx


def init_weights(net: NetworkShape, rng: np.random.Generator, scheme: str = "auto") -> list[tuple[np.ndarray, np.ndarray]]:
    """Initial weights and biases, uniform.

    ``auto``: He (bound sqrt(6/fan_in)) before a ReLU, LeCun (sqrt(3/fan_in)) otherwise, so that signals
    neither vanish nor explode through the paper's nine layers; biases zero. ``auto_bias``: the same weights
    with biases uniform in ±1/sqrt(fan_in): with zero biases, a zero input patch (Fashion-MNIST's background)
    puts pre-activations exactly on ReLU's kink, where a ±δ perturbation sees a slope of 1/2 and backprop 0.
    ``pytorch``: PyTorch's default, weight and bias uniform in ±1/sqrt(fan_in) (signals shrink by ~sqrt(1/6)
    per ReLU layer, so deep narrow nets stall). ``glorot``: Flux's glorot_uniform, as the authors' code
    initialises: bound sqrt(6/(fan_in + fan_out)) with both counted over the kernel (9·C_in and 9·C_out for
    a 3x3 convolution); biases zero.
    """
    weights = []
    for layer in net.layers:
        if scheme == "glorot":
            fan_out = layer.fan_out * layer.taps
            bound = np.sqrt(6.0 / (layer.fan_in + fan_out))
            w = rng.uniform(-bound, bound, size=(layer.fan_in, layer.fan_out)).astype(np.float32)
            b = np.zeros(layer.fan_out, dtype=np.float32)
        elif scheme == "pytorch":
            bound = 1.0 / np.sqrt(layer.fan_in)
            b = rng.uniform(-bound, bound, size=layer.fan_out).astype(np.float32)
            w = rng.uniform(-bound, bound, size=(layer.fan_in, layer.fan_out)).astype(np.float32)
        else:
            gain = 6.0 if layer.activation == "relu" else 3.0
            w = rng.uniform(-np.sqrt(gain / layer.fan_in), np.sqrt(gain / layer.fan_in),
                            size=(layer.fan_in, layer.fan_out)).astype(np.float32)
            b = np.zeros(layer.fan_out, dtype=np.float32)
        weights.append((w, b))
    if scheme == "auto_bias":  # drawn after all weights, so the weights are auto's for the same seed
        for layer, (_, b) in zip(net.layers, weights):
            bound = 1.0 / np.sqrt(layer.fan_in)
            b[:] = rng.uniform(-bound, bound, size=layer.fan_out)
    return weights
