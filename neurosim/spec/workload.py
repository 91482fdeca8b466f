"""The workload file: task, network, loss and the MGD settings of one training run."""

from __future__ import annotations

from dataclasses import dataclass

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
    init: str = choice(("auto", "auto_bias", "pytorch"), default="auto",
                       doc="auto: He before ReLU, LeCun otherwise, zero biases; auto_bias: the same with biases "
                           "uniform in ±1/sqrt(fan_in); pytorch: everything uniform in ±1/sqrt(fan_in)")


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
                                   doc="weight updates with the learning rate held at zero (paper: 1000)")


@dataclass(frozen=True)
class TrainSpec:
    iterations: int = integer(default=10000, min_value=1, doc="cycles (chip mode) or mini-batch steps (paper mode)")
    eval_interval: int = integer(default=1000, min_value=1, doc="iterations between test evaluations")
    eval_size: int = integer(default=1000, min_value=1, doc="test samples per evaluation")
    target_accuracy: float = number(default=0.9, min_value=0.0, max_value=1.0,
                                    doc="test accuracy whose first crossing is reported as iterations_to_target")
    seed: int = integer(default=0, min_value=0, doc="seed of every random stream of the run (--seed overrides)")
    stop_at_target: bool = flag(default=False, doc="end the run at the evaluation that first reaches target_accuracy")


@dataclass(frozen=True)
class WorkloadSpec:
    name: str = text(default="workload", doc="a short name for reports")
    dataset: DatasetSpec = nested(DatasetSpec)
    network: NetworkSpec = nested(NetworkSpec)
    loss: str = choice(("cross_entropy", "mse"), default="cross_entropy",
                       doc="softmax cross-entropy on the outputs, or mean squared error against one-hot targets")
    mgd: MGDSpec = nested(MGDSpec)
    train: TrainSpec = nested(TrainSpec)
    description: str = text(default="-", doc="free text")
