"""The memory a run needs, estimated from its shapes before anything is allocated, and the limit it must fit.

A network of 10^10 parameters must be refused in a second with a line saying why, not end in a traceback
after minutes of swapping. The per-parameter and per-value costs below were measured with ``tracemalloc`` on
this code (device state, accumulators, optimizer moments, perturbations, write temporaries and a checkpoint
copy: about 165 bytes a parameter with one device per weight, 260 with differential pairs; activations and
im2col buffers for the 1000-sample evaluation chunks; the data set as float32 plus its construction), with
some margin on top. The estimate is meant to be within tens of percent, not exact.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from neurosim.errors import ConfigError, NeurosimError


def add_memory_arg(p) -> None:  # noqa: ANN001 (an argparse parser: not imported for this)
    """The ``--max-memory`` option of every command that runs a simulation."""
    p.add_argument("--max-memory", metavar="SIZE",
                   help="refuse runs estimated to need more memory than this (e.g. 64GiB; default: "
                        "$NEUROSIM_MAX_MEMORY, else 16 GiB or the machine's memory if smaller)")

ENV = "NEUROSIM_MAX_MEMORY"
DEFAULT_LIMIT_BYTES = 16 * 1024**3  # or the machine's physical memory, if smaller

BYTES_PER_PARAMETER = 180         # one device per weight
BYTES_PER_PARAMETER_PAIR = 290    # differential pairs
BYTES_PER_ACTIVATION = 4.4        # float32 pre-activations and im2col rows, per sample, with some margin
BYTES_PER_DATA_VALUE_FILE = 8     # an IDX data set: float32 samples and the raw bytes they came from
BYTES_PER_DATA_VALUE_GENERATED = 20  # a generated data set: built in float64, kept in float32
EVAL_CHUNK = 1000                 # samples per forward pass of an evaluation (Simulation.evaluate)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs, by what needs them."""

    parameters_bytes: int
    activations_bytes: int
    data_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.parameters_bytes + self.activations_bytes + self.data_bytes


def format_bytes(n: float) -> str:
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKMGT]?)(i?)B?\s*")


def parse_bytes(text: str, what: str) -> int:
    """``16GiB``, ``16 GB``, ``500M``, ``2e9`` (bytes): a size in bytes; anything else names ``what``."""
    match = _SIZE.fullmatch(str(text))
    if not match:
        raise NeurosimError(f"{what}: expected a size such as 16GiB, 500MB or 2e9 (bytes), got {text!r}")
    number, prefix, binary = match.groups()
    power = "kMGT".find(prefix.replace("K", "k")) + 1
    size = float(number) * (1024 if binary else 1000) ** power
    if not math.isfinite(size) or size < 1:
        raise NeurosimError(f"{what}: expected a size of at least 1 byte, got {text!r}")
    return int(size)


def physical_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def memory_limit() -> tuple[int, str]:
    """The limit in bytes and where it comes from: $NEUROSIM_MAX_MEMORY (also set by ``--max-memory``), else
    16 GiB or the machine's physical memory, whichever is smaller."""
    text = os.environ.get(ENV)
    if text:
        return parse_bytes(text, ENV), f"{ENV}={text}"
    physical = physical_memory_bytes()
    if physical is not None and physical < DEFAULT_LIMIT_BYTES:
        return physical, "the machine's physical memory; raise it with --max-memory or " + ENV
    return DEFAULT_LIMIT_BYTES, "the default; raise it with --max-memory or " + ENV


def _data_values(config) -> int:  # type: ignore[no-untyped-def]
    """Numbers the data set holds (train and test samples times their size), from its options alone."""
    from neurosim.data.datasets import IDX_DATASETS, task_shape
    from neurosim.data.generated import NIST_DEFAULTS, PARITY_DEFAULTS

    spec = config.workload.dataset
    options = dict(spec.options)
    shape, _ = task_shape(spec.name, spec.classes, options)
    size = math.prod(shape)
    if spec.name in IDX_DATASETS:
        samples = int(options.get("train_size") or 60000) + int(options.get("test_size") or 10000)
    elif spec.name == "parity":
        samples = 2 * 2 ** int(options.get("bits", PARITY_DEFAULTS["bits"]))
    else:
        samples = int(options.get("train_size", NIST_DEFAULTS["train_size"])) + \
            int(options.get("test_size", NIST_DEFAULTS["test_size"]))
    return samples * size


def estimate_memory(config, net) -> MemoryEstimate:  # type: ignore[no-untyped-def]
    """What a Simulation of ``config`` on the network ``net`` will allocate, from the shapes alone."""
    from neurosim.data.datasets import IDX_DATASETS
    from neurosim.model import strategy

    per_parameter = BYTES_PER_PARAMETER_PAIR if config.chip.weights.encoding == "pair" else BYTES_PER_PARAMETER
    workload = config.workload
    samples = max(min(EVAL_CHUNK, workload.train.eval_size),
                  workload.mgd.batch_size if workload.mgd.mode == "paper" else 2)
    im2col = max((layer.unrolled_inputs for layer in net.layers), default=0)
    per_value = BYTES_PER_DATA_VALUE_FILE if workload.dataset.name in IDX_DATASETS \
        else BYTES_PER_DATA_VALUE_GENERATED
    activations = samples * (net.nodes + im2col + math.prod(net.input_shape))
    if workload.mgd.mode == "paper" and strategy(workload.mgd).perturbs:
        # paper mode's sweep (compute.perturbed_sweep): at layer k, the input of the baseline and of the k
        # passes perturbed below, and the output of those and of layer k's pass; not at once with an evaluation
        stacked = max((k + 1) * math.prod(layer.in_shape) + (k + 2) * math.prod(layer.output_shape)
                      for k, layer in enumerate(net.layers))
        activations = max(activations, workload.mgd.batch_size * stacked)
    return MemoryEstimate(int(net.parameters * per_parameter), int(activations * BYTES_PER_ACTIVATION),
                          int(_data_values(config) * per_value))


def check_memory(config, net) -> MemoryEstimate:  # type: ignore[no-untyped-def]
    """Refuse, with one line naming the workload and the key that drives it, a run estimated to need more
    than the memory limit (``net``: the network the built model holds); return the estimate otherwise."""
    estimate = estimate_memory(config, net)
    limit, source = memory_limit()
    if estimate.total_bytes > limit:
        parts = {"parameters": estimate.parameters_bytes, "activations": estimate.activations_bytes,
                 "data": estimate.data_bytes}
        largest = max(parts, key=parts.__getitem__)
        mgd = config.workload.mgd
        batch_drives = mgd.mode == "paper" and mgd.batch_size > min(EVAL_CHUNK, config.workload.train.eval_size)
        key = {"parameters": "network.width" if config.workload.network.kind == "paper_cnn" else "network.hidden",
               "activations": "mgd.batch_size" if batch_drives else "network", "data": "dataset.options"}[largest]
        detail = ", ".join(f"{name} {format_bytes(size)}" for name, size in parts.items())
        raise ConfigError(config.workload_file, key,
                          f"this run would need about {format_bytes(estimate.total_bytes)} of memory ({detail}; "
                          f"{net.parameters} parameters), more than the limit of {format_bytes(limit)} ({source})")
    return estimate
