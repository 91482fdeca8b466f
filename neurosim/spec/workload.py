"""The workload file: task, network, loss and the MGD settings of one training run."""

from __future__ import annotations

from dataclasses import dataclass

from neurosim.errors import ConfigError
from neurosim.spec.fields import choice, flag, int_list, integer, mapping, nested, number, text

ACTIVATIONS = ("tanh", "relu", "sigmoid", "identity")


@dataclass(frozen=True)
class DatasetSpec:
    name: str = text(doc="fashion-mnist, mnist, nist7x7 or parity")
    classes: tuple[int, ...] | None = int_list(default=None, optional=True, min_value=0, min_length=2,
                                               doc="keep only these classes (relabelled 0..k-1)")
    options: tuple = mapping(doc="data-set options: train_size, test_size, noise_std, bits...")


@dataclass(frozen=True)
class NetworkSpec:
    kind: str = choice(("mlp", "paper_cnn"), doc="an MLP of given widths, or the paper's CNN (Table 1)")
    width: int = integer(default=1, min_value=1, doc="paper_cnn: the width d")
    hidden: tuple[int, ...] = int_list(default=(), min_value=1, doc="mlp: hidden layer widths")
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
                                doc="perturbation period (cycles); null = the chip's")
    tau_x: int | None = integer(default=None, min_value=1, optional=True,
                                doc="sample period (cycles); null = the chip's")
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

    def check(self, file: str, path: str) -> None:
        if self.label_smoothing >= 1.0:
            raise ConfigError(file, f"{path}.label_smoothing", f"expected a value < 1, got {self.label_smoothing!r}")


@dataclass(frozen=True)
class WorkloadSpec:
    name: str = text(default="workload", doc="a short name for reports")
    dataset: DatasetSpec = nested(DatasetSpec)
    network: NetworkSpec = nested(NetworkSpec)
    loss: LossSpec = nested(LossSpec, shorthand="kind")
    mgd: MGDSpec = nested(MGDSpec)
    train: TrainSpec = nested(TrainSpec)
    description: str = text(default="-", doc="free text")
