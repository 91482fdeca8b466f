"""The structure of a network: which crossbar-mapped layers it has and their shapes, without any weights.

Activations are NHWC (batch, height, width, channels) for images and (batch, features) for vectors. A layer
is one crossbar MAC (dense, or a 3x3 same-padded convolution applied at every position), followed by its
activation and optionally a 2x2 max-pool; flattening between convolutions and dense layers is implicit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from neurosim.errors import ConfigError
from neurosim.spec.workload import ConvEntry, DenseEntry, FlattenEntry, LayerEntry, NetworkSpec, PoolEntry


# Shapes are frozen, so their derived sizes are computed once (cached_property): the simulator reads them on
# every inference. One subclass per layer type; the math of each (nn/compute.py) is registered by type.
@dataclass(frozen=True)
class LayerShape:
    name: str
    in_shape: tuple[int, ...]      # (H, W, C) or (n,)
    out_shape: tuple[int, ...]     # pre-activation, before pooling: (H, W, Co) or (n,)
    activation: str
    pool: bool = False

    kind: ClassVar[str]            # the layer type's name in run files and tables
    taps: ClassVar[int] = 1        # kernel positions per channel: Glorot's fan counts them

    @cached_property
    def fan_in(self) -> int:
        """Crossbar rows (inputs), without the bias row."""
        return self.taps * self.in_shape[-1]

    @cached_property
    def fan_out(self) -> int:
        return self.out_shape[-1]

    @cached_property
    def positions(self) -> int:
        """How many times the crossbar MAC is applied per sample (image positions for a convolution)."""
        return math.prod(self.out_shape[:-1])

    @cached_property
    def unrolled_inputs(self) -> int:
        """Floats of one sample's unrolled input (im2col rows): none for a layer that reads its input as is."""
        return 0

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
class DenseShape(LayerShape):
    """A fully connected layer: one crossbar row per input, (n,) -> (units,)."""

    kind: ClassVar[str] = "dense"

    @cached_property
    def fan_in(self) -> int:
        return math.prod(self.in_shape)


@dataclass(frozen=True)
class Conv3x3Shape(LayerShape):
    """A 3x3 same-padded convolution: the crossbar's 9·C rows see one patch, at every position of the image."""

    kind: ClassVar[str] = "conv3x3"
    taps: ClassVar[int] = 9

    @cached_property
    def unrolled_inputs(self) -> int:
        return self.positions * self.fan_in


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


def from_entries(entries: Sequence[LayerEntry], input_shape: tuple[int, ...], n_outputs: int, activation: str,
                 output_activation: str, key: str = "network.layers") -> NetworkShape:
    """The crossbar layers of a list of layer entries (``network.layers``, or what a shorthand stands for):
    a max-pool joins the convolution before it, flattening is implicit, the last dense layer has
    ``n_outputs`` units unless it names its own."""
    images = isinstance(entries[0], ConvEntry)
    if images and len(input_shape) != 3:
        raise ConfigError(None, key, f"a convolution needs image inputs (H, W, C), got shape {input_shape}")
    shape: tuple[int, ...] = tuple(input_shape) if images else (math.prod(input_shape),)
    layers: list[LayerShape] = []
    counts = {"conv": 0, "dense": 0}
    last = len(entries) - 1
    for i, entry in enumerate(entries):
        act = entry.activation or (output_activation if i == last else activation)
        if isinstance(entry, ConvEntry):
            counts["conv"] += 1
            h, w, c = shape
            layers.append(Conv3x3Shape(f"conv{counts['conv']}", shape, (h, w, entry.channels), act))
            shape = (h, w, entry.channels)
        elif isinstance(entry, PoolEntry):
            h, w, c = shape
            if h < 2 or w < 2:
                raise ConfigError(None, f"{key}[{i}]", f"a 2x2 max-pool needs an image of at least 2x2, got {h}x{w}")
            layers[-1] = dataclasses.replace(layers[-1], pool=True)
            shape = (h // 2, w // 2, c)
        elif isinstance(entry, FlattenEntry):
            shape = (math.prod(shape),)
        else:
            counts["dense"] += 1
            units = n_outputs if entry.units is None else entry.units
            if i == last and units != n_outputs:
                raise ConfigError(None, f"{key}[{i}].dense", f"the output layer has {units} units but the task "
                                                            f"has {n_outputs} classes (write dense: classes)")
            shape = (math.prod(shape),)
            layers.append(DenseShape(f"dense{counts['dense']}", shape, (units,), act))
            shape = (units,)
    return NetworkShape(tuple(input_shape) if images else (math.prod(input_shape),), tuple(layers))


def mlp(input_shape: tuple[int, ...], hidden: tuple[int, ...], n_outputs: int, activation: str,
        output_activation: str) -> NetworkShape:
    """A fully connected network; an image input is flattened."""
    return from_entries([*(DenseEntry(units=n) for n in hidden), DenseEntry()], input_shape, n_outputs,
                        activation, output_activation)


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
    entries = NetworkSpec(kind="paper_cnn", width=d).entries()
    return from_entries(entries, input_shape, n_outputs, activation, output_activation, key="network.kind")
