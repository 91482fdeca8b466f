"""The Python API: what the command line does, in a few lines.

    import neurosim
    config = neurosim.load("chips/reference.yaml", "workloads/nist7x7.yaml", sets=["mgd.tau_theta=10"])
    result = neurosim.train(config, seed=1, out="run.h5")
    print(result.summary["test_accuracy"], result.summary["simulated_time_s"])
    run = neurosim.open_run("run.h5")        # summary and curves of a finished run file
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.io.runfile import read_curves, read_summary, write_run
from neurosim.simulation import RunResult, Simulation, describe
from neurosim.spec import RunConfig, load_config


def load(chip: str | Path, workload: str | Path, sets: Iterable[str] = ()) -> RunConfig:
    """Read and validate a chip and a workload file, with ``--set`` style overrides."""
    return load_config(chip, workload, list(sets))


def train(config: RunConfig, *, seed: int | None = None, iterations: int | None = None,
          data_dir: str | None = None, out: str | Path | None = None,
          progress: Callable[[dict[str, Any]], None] | None = None) -> RunResult:
    """Simulate a training run; write its run file when ``out`` is given."""
    result = Simulation(config, seed=seed, iterations=iterations, data_dir=data_dir).run(progress)
    if out is not None:
        write_run(out, result)
    return result


@dataclass(frozen=True)
class Run:
    """A finished run file, read back."""

    path: Path
    summary: dict[str, Any]
    curves: dict[str, np.ndarray]


def open_run(path: str | Path) -> Run:
    return Run(Path(path), read_summary(path), read_curves(path))


__all__ = ["Run", "describe", "load", "open_run", "train"]
