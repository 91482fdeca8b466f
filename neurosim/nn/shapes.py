"""The structure of a network: which crossbar-mapped layers it has and their shapes, without any weights.

Activations are NHWC (batch, height, width, channels) for images and (batch, features) for vectors. A layer
is one crossbar MAC (dense, or a 3x3 same-padded convolution applied at every position), followed by its
activation and optionally a 2x2 max-pool; flattening between convolutions and dense layers is implicit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from neurosim.errors import ConfigError


# Shapes are frozen, so their derived sizes are computed once (cached_property): the simulator reads them on
# every inference.
@dataclass(frozen=True)
class LayerShape:
    name: str
    kind: str                      # "dense" or "conv3x3"
    in_shape: tuple[int, ...]      # (H, W, C) or (n,)
    out_shape: tuple[int, ...]     # pre-activation, before pooling: (H, W, Co) or (n,)
    activation: str
    pool: bool = False

    @cached_property
    def fan_in(self) -> int:
        """Crossbar rows (inputs), without the bias row."""
        return 9 * self.in_shape[-1] if self.kind == "conv3x3" else math.prod(self.in_shape)

    @cached_property
    def fan_out(self) -> int:
        return self.out_shape[-1]

    @cached_property
    def positions(self) -> int:
        """How many times the crossbar MAC is applied per sample (image positions for a convolution)."""
        return self.out_shape[0] * self.out_shape[1] if self.kind == "conv3x3" else 1

    @cached_property
    def weights(self) -> int:
        return self.fan_in * self.fan_out

    @cached_property
    def parameters(self) -> int:
        return self.weights + self.fan_out

    @cached_property
    def nodes(self) -> int:
        """Pre-activations per sample: node perturbation's perturbed quantities."""
        return math.prod(self.out_shape)

    @cached_property
    def macs(self) -> int:
        """Multiply-accumulates per sample, bias row included."""
        return self.positions * (self.fan_in + 1) * self.fan_out

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape after activation and pooling."""
        if self.pool:
            h, w, c = self.out_shape
            return (h // 2, w // 2, c)
        return self.out_shape

    def tiles(self, rows: int, cols: int) -> int:
        """Crossbar tiles of rows x cols needed to hold this layer (bias included as one row)."""
        return math.ceil((self.fan_in + 1) / rows) * math.ceil(self.fan_out / cols)


@dataclass(frozen=True)
class NetworkShape:
    input_shape: tuple[int, ...]
    layers: tuple[LayerShape, ...]

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].fan_out

    @cached_property
    def parameters(self) -> int:
        return sum(layer.parameters for layer in self.layers)

    @cached_property
    def nodes(self) -> int:
        return sum(layer.nodes for layer in self.layers)

    @cached_property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)


def mlp(input_shape: tuple[int, ...], hidden: tuple[int, ...], n_outputs: int, activation: str,
        output_activation: str) -> NetworkShape:
    """A fully connected network; an image input is flattened."""
    size = math.prod(input_shape)
    layers = []
    widths = (*hidden, n_outputs)
    for i, width in enumerate(widths):
        last = i == len(widths) - 1
        layers.append(LayerShape(f"dense{i + 1}", "dense", (size,), (width,),
                                 output_activation if last else activation))
        size = width
    return NetworkShape((math.prod(input_shape),), tuple(layers))


def paper_cnn(d: int, input_shape: tuple[int, ...], n_outputs: int, activation: str,
              output_activation: str) -> NetworkShape:
    """The seed paper's Table 1: six 3x3 convolutions (d, d, 2d, 2d, 4d, 4d) with a max-pool after every
    second one, then dense 36d -> 4d -> 4d -> n_outputs. 439d^2 + 71d + 10 parameters for 28x28x1 inputs and
    ten classes."""
    if len(input_shape) != 3:
        raise ConfigError(None, "network.kind", f"paper_cnn needs image inputs (H, W, C), got shape {input_shape}")
    h, w, c = input_shape
    if h < 8 or w < 8:
        raise ConfigError(None, "network.kind",
                          f"paper_cnn needs images of at least 8x8 (three 2x2 max-pools), got {h}x{w}")
    layers = []
    for i, (width, pool) in enumerate(((d, False), (d, True), (2 * d, False), (2 * d, True),
                                      (4 * d, False), (4 * d, True))):
        layers.append(LayerShape(f"conv{i + 1}", "conv3x3", (h, w, c), (h, w, width), activation, pool))
        c = width
        if pool:
            h, w = h // 2, w // 2
    size = h * w * c
    for i, width in enumerate((4 * d, 4 * d, n_outputs)):
        last = i == 2
        layers.append(LayerShape(f"dense{i + 1}", "dense", (size,), (width,),
                                 output_activation if last else activation))
        size = width
    return NetworkShape(tuple(input_shape), tuple(layers))
