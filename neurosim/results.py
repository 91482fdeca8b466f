"""What a run produces, as plain data: its curves, its summary and wear (read by the run file, reports,
sweeps and the CLI, which therefore need not import the simulator), and the JSON form of a summary."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.spec.loader import RunConfig

S = TypeVar("S", bound="Summary")


class SummaryShapeError(NeurosimError):
    """A stored summary whose fields are not this version's: the file is another version's, so it is neither
    reused nor replaced (a sweep that took it for unfinished would train over a finished run)."""


@dataclass(frozen=True)
class Summary:
    """The figures of merit of a stretch of training on a chip, simulated or estimated: what ``train``,
    ``estimate``, ``report`` and ``sweep`` print, and (as ``as_dict``'s JSON) what run files store and
    ``--json`` prints. Every quantity has its unit in its name."""

    chip: str
    workload: str
    iterations: int
    clock_hz: float
    simulated_time_s: float
    energy_j: float
    energy_by_component_j: dict[str, float]
    events: dict[str, Any]                     # the ledger's event counts (EventCounts.as_dict)
    weight_writes_total: int                   # write pulses over all devices
    weight_writes_max_per_device: float
    endurance_used_max: float                  # max over devices of writes / that device's endurance limit
    lifetime_trainings_first_failure: float | None  # such trainings until the first device wears out (None: never)
    lifetime_trainings_1pct: float | None           # ... until 1% of the devices have

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[S], data: dict[str, Any], source: str) -> S:
        """The summary ``data`` holds (as ``as_dict`` wrote it); ``source`` names it in the error when a field
        is missing or unknown (a file written by another version)."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing, unknown = sorted(names - data.keys()), sorted(data.keys() - names)
        if missing or unknown:
            raise SummaryShapeError(f"{source}: not a {cls.__name__} of this version of neurosim"
                                + (f"; missing {', '.join(missing)}" if missing else "")
                                + (f"; unknown {', '.join(unknown)}" if unknown else ""))
        return cls(**data)


@dataclass(frozen=True)
class TrainingSummary(Summary):
    """A simulated training's summary: the ledger's figures, the values the files left open as the run
    resolved them, the accuracy, the wear and how the engine ran."""

    mode: str                                  # paper | chip
    perturbation: str                          # weight | node | backprop
    seed: int
    iterations_planned: int
    tau_p: int                                 # the clock-domain periods, in iterations
    tau_x: int
    tau_theta: int
    amplitude: float                           # the perturbation amplitude δ, in weight units
    parameters: int
    devices: int
    weight_writes_mean_per_device: float
    endurance_cycles: float                    # the device model's nominal endurance, in write pulses
    failed_devices: int
    wear_by_layer: list[dict[str, Any]]
    test_accuracy: float | None
    best_test_accuracy: float | None
    final_train_cost: float | None
    target_accuracy: float
    iterations_to_target: int | None
    simulated_time_to_target_s: float | None
    diverged: dict[str, Any] | None            # {"iteration", "reason"} when the run diverged
    engine_events: int
    engine_path: str
    wall_time_s: float


@dataclass(frozen=True)
class EstimateSummary(Summary):
    """An estimate's summary (``neurosim estimate``): the ledger's figures without a training, and what the
    estimate had to assume."""

    assumptions: list[str]


@dataclass
class Curves:
    """One entry per evaluation: the learning curves and the ledger over time."""

    iteration: list[int] = field(default_factory=list)
    simulated_time_s: list[float] = field(default_factory=list)
    write_stall_s: list[float] = field(default_factory=list)
    weight_updates: list[int] = field(default_factory=list)
    write_pulses: list[int] = field(default_factory=list)
    energy_j: list[float] = field(default_factory=list)
    train_cost: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    energy_mac_reads_j: list[float] = field(default_factory=list)
    energy_perturbation_toggles_j: list[float] = field(default_factory=list)
    energy_cost_evaluations_j: list[float] = field(default_factory=list)
    energy_bus_broadcasts_j: list[float] = field(default_factory=list)
    energy_accumulator_updates_j: list[float] = field(default_factory=list)
    energy_weight_writes_j: list[float] = field(default_factory=list)

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.__dict__.items()}


@dataclass
class RunResult:
    summary: TrainingSummary
    curves: Curves
    config: RunConfig
    wear: list[np.ndarray]
    failed: list[np.ndarray]
    layer_names: list[str]


def json_safe(value: Any) -> Any:
    """A summary as strict JSON: non-finite numbers become null, tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
