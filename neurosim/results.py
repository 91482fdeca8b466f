"""What a run produces, as plain data: its curves, its summary and wear (read by the run file, reports,
sweeps and the CLI, which therefore need not import the simulator), and the JSON form of a summary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim.spec.loader import RunConfig


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
    summary: dict[str, Any]
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
