"""The built model: everything a run needs, resolved once from a validated config.

``build(config)`` settles what the files leave open or imply (the clock-domain periods, the clock, the
perturbation amplitude, the network, the held learning-rate updates, the clock-domain schedule) into one
frozen :class:`Model`. The engine, the summary, ``estimate``, ``describe`` and the run file all read it, so
no two of them can resolve a value differently. Validation stays in ``spec/``; what is checked here needs
two files together or the data set's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from neurosim.chip.timing import resolve_clock_hz
from neurosim.data import task_shape
from neurosim.errors import ConfigError
from neurosim.nn.shapes import LayerShape, NetworkShape, from_entries, paper_cnn
from neurosim.spec.loader import RunConfig
from neurosim.spec.workload import MGDSpec, NetworkSpec


class Strategy:
    """What a run perturbs to estimate the gradient, found by its ``mgd.perturbation`` name in
    :data:`STRATEGIES`: the weights, the neurons' pre-activations (nodes), or nothing (backprop's exact
    gradient in the same loop)."""

    name: ClassVar[str]
    perturbs: ClassVar[bool] = True
    per_sample: ClassVar[bool] = False  # a batch's samples each hold their own perturbation (unless shared)
    every_weight_moves: ClassVar[bool] = False  # every weight's estimate is nonzero at every update

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        STRATEGIES[cls.name] = cls

    @staticmethod
    def elements(layer: LayerShape) -> int:
        """Perturbed elements of one layer: K_l."""
        raise NotImplementedError

    def total(self, net: NetworkShape) -> int:
        """Perturbed elements of the whole network: chip mode's K."""
        return sum(self.elements(layer) for layer in net.layers)


STRATEGIES: dict[str, type[Strategy]] = {}


class WeightPerturbation(Strategy):
    name = "weight"
    every_weight_moves = True

    @staticmethod
    def elements(layer: LayerShape) -> int:
        return layer.parameters


class NodePerturbation(Strategy):
    name = "node"
    per_sample = True

    @staticmethod
    def elements(layer: LayerShape) -> int:
        return layer.nodes


class Backprop(Strategy):
    name = "backprop"
    perturbs = False

    @staticmethod
    def elements(layer: LayerShape) -> int:
        return 0


def strategy(mgd: MGDSpec) -> Strategy:
    return STRATEGIES[mgd.perturbation]()


@dataclass(frozen=True)
class Timing:
    """The resolved clock-domain periods: cycles in chip mode, iterations in paper mode."""

    tau_p: int
    tau_x: int
    tau_theta: int


@dataclass(frozen=True)
class Slot:
    """A named phase of the schedule: a clock domain firing every ``period`` cycles from ``first``, ordered
    within a cycle by ``phase`` (Brian2's ``when``/``order``); ``action`` names the procedure's method that
    acts in it (every chip-mode procedure has the same methods, so the schedule is written once)."""

    name: str
    period: int
    phase: float
    action: str
    first: int = 0


@dataclass(frozen=True)
class Model:
    config: RunConfig
    net: NetworkShape
    timing: Timing
    clock_hz: float
    amplitude: float                 # δ, in weight units
    strategy: Strategy               # what is perturbed
    inferences_per_cycle: int        # of the worst cycle: sets how fast the clock may run
    cycles_per_step: int             # clock cycles of one iteration (1 in chip mode)
    held_updates: int                # first updates that take no step (the learning-rate hold)
    schedule: tuple[Slot, ...]

    @property
    def cycle_s(self) -> float:
        return 1.0 / self.clock_hz

    def resolved(self) -> dict[str, Any]:
        """The values the files left open, as this run uses them (summaries and run files record them)."""
        return {"tau_p": self.timing.tau_p, "tau_x": self.timing.tau_x, "tau_theta": self.timing.tau_theta,
                "clock_hz": self.clock_hz, "amplitude": self.amplitude}


def build(config: RunConfig, *, input_shape: tuple[int, ...] | None = None, n_classes: int | None = None,
          clock_override_hz: float | None = None) -> Model:
    """Resolve ``config`` into a Model. The network's input shape and class count come from the data set's
    description (no data is read) unless given."""
    mgd = config.workload.mgd
    timing = resolve_timing(config)
    if input_shape is None or n_classes is None:
        spec = config.workload.dataset
        shape, n_classes = task_shape(spec.name, spec.classes, dict(spec.options))
        input_shape = network_input_shape(shape, config.workload.network)
    net = build_network(config, input_shape, n_classes)
    inferences = inferences_per_cycle(mgd)
    clock_hz = resolve_clock_hz(config.chip, inferences, config.chip_file, clock_override_hz)
    return Model(config, net, timing, clock_hz, resolve_amplitude(config), strategy(mgd), inferences,
                 cycles_per_step(mgd, len(net.layers)), held_updates(mgd, timing.tau_theta),
                 schedule(mgd, timing))


def resolve_timing(config: RunConfig) -> Timing:
    """The workload programs the chip's clock-domain periods; where it is silent the chip's defaults hold."""
    mgd, chip = config.workload.mgd, config.chip.timing
    timing = Timing(mgd.tau_p or chip.tau_p, mgd.tau_x or chip.tau_x, mgd.tau_theta or chip.tau_theta)
    if mgd.mode == "chip" and mgd.baseline == "antithetic" and not strategy(mgd).perturbs:
        raise ConfigError(config.workload_file, "mgd.baseline", "antithetic pairs need a perturbation")
    if (mgd.code != "bernoulli" and mgd.mode == "paper" and strategy(mgd).per_sample
            and mgd.node_batch == "independent" and mgd.batch_size > 1):
        raise ConfigError(config.workload_file, "mgd.code", f"a deterministic code ({mgd.code}) cannot perturb "
                          "every sample of a batch independently: use mgd.node_batch: shared, or mgd.code: bernoulli")
    return timing


def resolve_amplitude(config: RunConfig) -> float:
    """δ: the workload's if it sets one (it reprograms the transistors' bias), else the chip's."""
    return config.workload.mgd.amplitude or config.chip.perturbation.amplitude


def inferences_per_cycle(mgd: MGDSpec) -> int:
    """Chip mode's worst cycle holds two inferences (perturbed + baseline, or a ± pair); otherwise one."""
    return 2 if mgd.mode == "chip" and strategy(mgd).perturbs else 1


def cycles_per_step(mgd: MGDSpec, n_layers: int) -> int:
    """Clock cycles of one iteration: one in chip mode; in paper mode each sample of the batch is inferred
    once for the baseline and once per perturbed layer."""
    if mgd.mode == "chip":
        return 1
    return mgd.batch_size * (1 + (n_layers if strategy(mgd).perturbs else 0))


def held_updates(mgd: MGDSpec, tau_theta: int) -> int:
    """How many first updates take no step: ``lr_hold_updates``, or those at or before iteration
    ``lr_hold_iterations`` (update k comes at iteration k·τθ)."""
    return mgd.lr_hold_updates or mgd.lr_hold_iterations // tau_theta


def shares_node_perturbation(mgd: MGDSpec) -> bool:
    """Paper-mode node perturbation holding one perturbation per node over the batch (each sample's own
    cost change broadcast), rather than one per sample and node."""
    return mgd.mode == "paper" and strategy(mgd).per_sample and mgd.node_batch == "shared"


def uses_gamma(mgd: MGDSpec) -> bool:
    """The Γ normalisation: on when asked for, and by default in paper mode only."""
    return mgd.normalize == "gamma" or (mgd.normalize == "auto" and mgd.mode == "paper")


def schedule(mgd: MGDSpec, timing: Timing) -> tuple[Slot, ...]:
    """The clock domains in phase order. Chip mode: a new sample, a new perturbation, the inferences and the
    broadcast, the update. Paper mode: one iteration of Algorithm 1 (its own batch and perturbation periods
    count iterations inside it), the update."""
    update = Slot("update", timing.tau_theta, 0.75, "on_update", first=timing.tau_theta - 1)
    if mgd.mode == "paper":
        return Slot("iteration", 1, 0.25, "on_iteration"), update
    slots = [Slot("sample", timing.tau_x, 0.0, "on_sample")]
    if strategy(mgd).perturbs:
        slots.append(Slot("perturbation", timing.tau_p, 0.25, "on_perturb"))
    return (*slots, Slot("inference", 1, 0.5, "on_cycle"), update)


def build_network(config: RunConfig, input_shape: tuple[int, ...], n_classes: int) -> NetworkShape:
    net = config.workload.network
    if net.kind == "paper_cnn":  # its own checks on the image size
        return paper_cnn(net.width, input_shape, n_classes, net.activation, net.output_activation)
    return from_entries(net.entries(), input_shape, n_classes, net.activation, net.output_activation)


def network_input_shape(sample_shape: tuple[int, ...], network: NetworkSpec) -> tuple[int, ...]:
    """A data set's (C, H, W) samples as the network takes them: NHWC images, or flat vectors for an MLP."""
    return to_network_layout(np.zeros((1, *sample_shape), np.float32), network).shape[1:]


def to_network_layout(x: np.ndarray, network: NetworkSpec) -> np.ndarray:
    """Data sets give (n, C, H, W); the crossbar kernels use NHWC for a network that convolves first, flat
    vectors otherwise."""
    if network.takes_images():
        if x.ndim != 4:
            cnn = network.kind == "paper_cnn"
            what = "paper_cnn" if cnn else "a network that starts with a convolution"
            raise ConfigError(None, "network.kind" if cnn else "network.layers",
                              f"{what} needs image data, got samples of shape {x.shape[1:]}")
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1), dtype=np.float32)
    return np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
