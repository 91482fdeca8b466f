"""The workload file: task, network, loss and the MGD settings of one training run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neurosim.errors import ConfigError
from neurosim.spec.fields import choice, flag, int_list, integer, mapping, nested, number, parse_int, text

ACTIVATIONS = ("tanh", "relu", "sigmoid", "identity")


@dataclass(frozen=True)
class DatasetSpec:
    name: str = text(doc="fashion-mnist, mnist, nist7x7 or parity")
    classes: tuple[int, ...] | None = int_list(default=None, optional=True, min_value=0, min_length=2,
                                               doc="keep only these classes (relabelled 0..k-1)")
    options: tuple = mapping(doc="data-set options: train_size, test_size, noise_std, bits...")


@dataclass(frozen=True)
class LayerEntry:
    """One entry of ``network.layers``; each type is found by its key (``conv: 8``, ``pool: 2``, ``flatten``,
    ``dense: 32``) in :data:`LAYER_TYPES`."""

    activation: str | None = None   # conv and dense: None = the network's (the last layer: output_activation)

    def as_yaml(self) -> Any:
        """The entry as a workload file writes it (run files store it so)."""
        kind = next(k for k, cls in LAYER_TYPES.items() if cls is type(self))
        if type(self) not in _SIZE_KEY:
            return kind
        size = getattr(self, _SIZE_KEY[type(self)])
        entry: dict[str, Any] = {kind: "classes" if size is None else size}
        if self.activation is not None:
            entry["activation"] = self.activation
        return entry


@dataclass(frozen=True)
class ConvEntry(LayerEntry):
    """A 3x3 same-padded convolution onto ``channels`` output channels: one crossbar MAC per image position."""

    channels: int = 1


@dataclass(frozen=True)
class PoolEntry(LayerEntry):
    """A 2x2 max-pool (stride 2, odd sizes floored) after a convolution."""

    size: int = 2


@dataclass(frozen=True)
class FlattenEntry(LayerEntry):
    """Images become vectors (implicit before the first dense layer)."""


@dataclass(frozen=True)
class DenseEntry(LayerEntry):
    """A fully connected layer onto ``units`` outputs (None: as many as the task has classes)."""

    units: int | None = None


LAYER_TYPES: dict[str, type[LayerEntry]] = {"conv": ConvEntry, "pool": PoolEntry, "flatten": FlattenEntry,
                                             "dense": DenseEntry}
_SIZE_KEY = {ConvEntry: "channels", PoolEntry: "size", DenseEntry: "units"}


def _layer_list() -> Any:
    """``network.layers``: a list of entries such as ``{conv: 8, activation: tanh}``, ``{pool: 2}``,
    ``flatten`` and ``{dense: classes}``."""

    def parse_entry(value: Any, file: str, path: str) -> LayerEntry:
        if isinstance(value, str):
            value = {value: None}
        if not isinstance(value, Mapping):
            raise ConfigError(file, path, f"expected a layer such as {{conv: 8}}, {{pool: 2}}, flatten or "
                                          f"{{dense: 32}}, got {value!r}")
        kinds = [k for k in value if k in LAYER_TYPES]
        if len(kinds) != 1:
            raise ConfigError(file, path, f"expected exactly one layer type of {', '.join(LAYER_TYPES)}, got "
                                          f"{', '.join(map(str, value)) or 'none'}")
        kind = kinds[0]
        cls = LAYER_TYPES[kind]
        extra = [k for k in value if k not in (kind, "activation")]
        if extra or ("activation" in value and cls in (PoolEntry, FlattenEntry)):
            raise ConfigError(file, f"{path}.{(extra or ['activation'])[0]}", f"a {kind} layer takes no such key")
        activation = value.get("activation")
        if activation is not None and activation not in ACTIVATIONS:
            raise ConfigError(file, f"{path}.activation", f"expected one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        size = value[kind]
        fields: dict[str, Any] = {"activation": activation}
        if cls is DenseEntry and size == "classes":
            size = None
        elif cls in _SIZE_KEY:
            if cls is PoolEntry and size is None:
                size = 2
            size = parse_int(size, file, f"{path}.{kind}", 1)
            if cls is PoolEntry and size != 2:
                raise ConfigError(file, f"{path}.pool", f"only 2x2 max-pools are modelled, got {size}")
        elif size is not None:
            raise ConfigError(file, f"{path}.{kind}", f"flatten takes no value, got {size!r}")
        if cls in _SIZE_KEY:
            fields[_SIZE_KEY[cls]] = size
        return cls(**fields)

    def parse(value: Any, file: str, path: str) -> tuple[LayerEntry, ...]:
        if value is None:
            return ()
        if not isinstance(value, (list, tuple)):
            raise ConfigError(file, path, f"expected a list of layers, got {value!r}")
        return tuple(parse_entry(v, file, f"{path}[{i}]") for i, v in enumerate(value))

    return dataclasses.field(default=(), metadata={"parse": parse, "key": None, "unit": None, "mapping": False,
                                                    "auto": False, "layers": True,
                                                    "doc": "kind layers: the layers in order, e.g. [{conv: 8}, "
                                                           "{pool: 2}, flatten, {dense: 32}, {dense: classes}]; "
                                                           "conv and dense take an optional activation"})


@dataclass(frozen=True)
class NetworkSpec:
    kind: str = choice(("mlp", "paper_cnn", "layers"),
                       doc="an MLP of given widths, the paper's CNN (Table 1), or the layers listed in layers")
    width: int = integer(default=1, min_value=1, doc="paper_cnn: the width d")
    hidden: tuple[int, ...] = int_list(default=(), min_value=1, doc="mlp: hidden layer widths")
    layers: tuple[LayerEntry, ...] = _layer_list()
    activation: str = choice(ACTIVATIONS, default="relu", doc="hidden-layer activation")
    output_activation: str = choice(ACTIVATIONS, default="identity", doc="output-layer activation")
    init: str = choice(("auto", "auto_bias", "pytorch", "glorot"), default="auto",
                       doc="auto: He before ReLU, LeCun otherwise, zero biases; auto_bias: the same with biases "
                           "uniform in ±1/sqrt(fan_in); pytorch: everything uniform in ±1/sqrt(fan_in); glorot: "
                           "Glorot (Xavier) uniform, fan-in and fan-out over the kernel, zero biases (the "
                           "authors' code)")
    pool_selection: str = choice(("held", "live"), default="held",
                                 doc="max-pool winners in a perturbed inference: held from the unperturbed "
                                     "inference of the same samples (the pool's linear response; node "
                                     "perturbation is unbiased at ties), or live, compared afresh (the "
                                     "authors' code; biased where inputs tie, as on a constant background). "
                                     "Antithetic pairs have no unperturbed inference and always compare live")

    def entries(self) -> tuple[LayerEntry, ...]:
        """The network as a list of layers: ``layers`` itself, or what the mlp and paper_cnn shorthands stand for."""
        if self.kind == "layers":
            return self.layers
        if self.kind == "mlp":
            return (*(DenseEntry(units=n) for n in self.hidden), DenseEntry())
        d = self.width
        convs: list[LayerEntry] = []
        for channels in (d, 2 * d, 4 * d):
            convs += [ConvEntry(channels=channels), ConvEntry(channels=channels), PoolEntry()]
        return (*convs, FlattenEntry(), DenseEntry(units=4 * d), DenseEntry(units=4 * d), DenseEntry())

    def takes_images(self) -> bool:
        """Does the first layer convolve (NHWC images), or take flat vectors?"""
        return isinstance(self.entries()[0], ConvEntry)

    def check(self, file: str, path: str) -> None:
        where = f"{path}.layers" if path else "layers"
        if self.kind != "layers":
            if self.layers:
                raise ConfigError(file, where, f"layers applies to kind: layers, not kind: {self.kind}")
            return
        if not self.layers:
            raise ConfigError(file, where, "kind: layers needs a list of layers")
        previous: LayerEntry | None = None
        for i, entry in enumerate(self.layers):
            if isinstance(entry, PoolEntry) and not isinstance(previous, ConvEntry):
                raise ConfigError(file, f"{where}[{i}]", "a max-pool follows a convolution")
            if isinstance(entry, ConvEntry) and any(isinstance(e, (DenseEntry, FlattenEntry)) for e in self.layers[:i]):
                raise ConfigError(file, f"{where}[{i}]", "a convolution after flatten or a dense layer")
            previous = entry
        if not isinstance(self.layers[-1], DenseEntry):
            raise ConfigError(file, f"{where}[{len(self.layers) - 1}]", "the last layer must be dense (the outputs)")
        if any(isinstance(e, DenseEntry) and e.units is None for e in self.layers[:-1]):
            raise ConfigError(file, where, "only the last dense layer may be 'classes'")


@dataclass(frozen=True)
class MGDSpec:
    mode: str = choice(("chip", "paper"), default="chip",
                       doc="chip: everything perturbed at once on a stream of samples; paper: Algorithm 1")
    perturbation: str = choice(("weight", "node", "backprop"), default="weight",
                               doc="what is perturbed; backprop trains with the true gradient instead")
    amplitude: float | None = number(default=None, min_value=0.0, allow_min=False, optional=True,
                                     doc="perturbation amplitude δ (weight units); null = the chip's")
    learning_rate: float = number(default=0.01, min_value=0.0, doc="η")
    tau_p: int | None = integer(default=None, min_value=1, optional=True,
                                doc="perturbation period (cycles; iterations in paper mode); null = the chip's")
    tau_x: int | None = integer(default=None, min_value=1, optional=True,
                                doc="sample period (cycles; iterations in paper mode, a mini-batch held so long); "
                                    "null = the chip's")
    tau_theta: int | None = integer(default=None, min_value=1, optional=True,
                                    doc="weight-update period (cycles; iterations in paper mode); null = the chip's")
    batch_size: int = integer(default=100, min_value=1, doc="paper mode: samples per iteration")
    code: str = choice(("bernoulli", "walsh", "sinusoidal", "one_at_a_time"), default="bernoulli",
                       doc="perturbation code: random signs (the paper's), or the original MGD paper's code, "
                           "frequency or time multiplexing (exactly orthogonal over a period)")
    node_batch: str = choice(("shared", "independent"), default="shared",
                             doc="paper mode, node perturbation: one perturbation per node held over the mini-batch, "
                                 "correlated with every sample's own cost change (K = nodes, as the paper's Fig. 3), "
                                 "or an independent one per sample (K = batch x nodes)")
    baseline: str = choice(("unperturbed", "antithetic"), default="unperturbed",
                           doc="chip mode: how the unperturbed cost C0 is obtained")
    normalize: str = choice(("auto", "gamma", "none"), default="auto",
                            doc="Γ normalisation of the estimate; auto = gamma in paper mode, none in chip mode")
    optimizer: str = choice(("sgd", "momentum", "adam"), default="sgd",
                            doc="what turns the estimate into a step (paper Eq. 13-14; Adam without bias correction)")
    momentum: float = number(default=0.9, min_value=0.0, max_value=1.0, doc="momentum: decay of the velocity")
    beta1: float = number(default=0.9, min_value=0.0, max_value=1.0, doc="Adam: decay of the first moment")
    beta2: float = number(default=0.999, min_value=0.0, max_value=1.0, doc="Adam: decay of the second moment")
    epsilon: float = number(default=1e-8, min_value=0.0, allow_min=False, doc="Adam: added to sqrt(v)")
    lr_hold_updates: int = integer(default=0, min_value=0,
                                   doc="weight updates with the learning rate held at zero")
    lr_hold_iterations: int = integer(default=0, min_value=0,
                                      doc="iterations (chip mode: cycles) with the learning rate held at zero: "
                                          "an update at or before this iteration takes no step, though the "
                                          "optimizer's moments still move (the authors' code: 1000)")

    def check(self, file: str, path: str) -> None:
        if self.lr_hold_updates and self.lr_hold_iterations:
            raise ConfigError(file, f"{path}.lr_hold_iterations",
                              "hold the learning rate by updates or by iterations, not both")


@dataclass(frozen=True)
class TrainSpec:
    iterations: int = integer(default=10000, min_value=1, doc="cycles (chip mode) or mini-batch steps (paper mode)")
    eval_interval: int = integer(default=1000, min_value=1, doc="iterations between test evaluations")
    eval_size: int = integer(default=1000, min_value=1, doc="test samples per evaluation")
    target_accuracy: float = number(default=0.9, min_value=0.0, max_value=1.0,
                                    doc="test accuracy whose first crossing is reported as iterations_to_target")
    seed: int = integer(default=0, min_value=0, doc="seed of every random stream of the run (--seed overrides)")
    stop_at_target: bool = flag(default=False, doc="end the run at the evaluation that first reaches target_accuracy")
    eval_schedule: str = choice(("interval", "paper"), default="interval",
                                doc="interval: every eval_interval iterations; paper: also at every iteration "
                                    "below 1000, as the authors' code logs")
    sampling: str = choice(("epochs", "replacement"), default="epochs",
                           doc="training samples in a fresh random order every epoch, or drawn uniformly with "
                               "replacement (the authors' code)")


@dataclass(frozen=True)
class LossSpec:
    """The cost the chip's cost circuit computes; ``loss: cross_entropy`` is short for ``loss: {kind: ...}``."""

    kind: str = choice(("cross_entropy", "mse"), default="cross_entropy",
                       doc="softmax cross-entropy on the outputs, or mean squared error against one-hot targets")
    label_smoothing: float = number(default=0.0, min_value=0.0, max_value=1.0, allow_min=True,
                                    doc="α: training targets (1-α)·one-hot + α/classes (the authors' code: 0.01)")
    reduction: str = choice(("mean", "sum"), default="mean",
                            doc="mse: the squared errors of a sample averaged over the classes, or summed (the "
                                "authors' f_mse: Flux's mse with agg = sum over dims 1); cross-entropy is a sum "
                                "over the classes whatever this says, so only mean is accepted with it")

    def check(self, file: str, path: str) -> None:
        if self.label_smoothing >= 1.0:
            raise ConfigError(file, f"{path}.label_smoothing", f"expected a value < 1, got {self.label_smoothing!r}")
        if self.kind != "mse" and self.reduction != "mean":
            raise ConfigError(file, f"{path}.reduction", f"applies only to loss.kind mse (got kind {self.kind!r}, "
                                                         f"whose cost is already a sum over the classes)")


@dataclass(frozen=True)
class WorkloadSpec:
    name: str = text(default="workload", doc="a short name for reports")
    dataset: DatasetSpec = nested(DatasetSpec)
    network: NetworkSpec = nested(NetworkSpec)
    loss: LossSpec = nested(LossSpec, shorthand="kind")
    mgd: MGDSpec = nested(MGDSpec)
    train: TrainSpec = nested(TrainSpec)
    description: str = text(default="-", doc="free text")
