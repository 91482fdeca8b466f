"""The Python API: what the command line does, in a few lines.

    import neurosim
    config = neurosim.load("chips/reference.yaml", "workloads/nist7x7.yaml", sets=["mgd.tau_theta=10"])
    result = neurosim.train(config, seed=1, out="run.h5")
    print(result.summary["test_accuracy"], result.summary["simulated_time_s"])
    run = neurosim.open_run("run.h5")        # summary and curves of a finished run file
    neurosim.resume("run.h5")                 # continue an interrupted run (trained with checkpoint_every)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.errors import NeurosimError
from neurosim.io.runfile import read_checkpoint, read_curves, read_summary, write_run
from neurosim.simulation import RunResult, Simulation, describe
from neurosim.spec import RunConfig, load_config

logger = logging.getLogger("neurosim")


def load(chip: str | Path, workload: str | Path, sets: Iterable[str] = ()) -> RunConfig:
    """Read and validate a chip and a workload file, with ``--set`` style overrides."""
    return load_config(chip, workload, list(sets))


def train(config: RunConfig, *, seed: int | None = None, iterations: int | None = None,
          data_dir: str | None = None, out: str | Path | None = None, checkpoint_every: int | None = None,
          progress: Callable[[dict[str, Any]], None] | None = None) -> RunResult:
    """Simulate a training run; with ``out``, its run file is written as the run goes (and holds a checkpoint
    every ``checkpoint_every`` iterations, from which :func:`resume` continues)."""
    sim = Simulation(config, seed=seed, iterations=iterations, data_dir=data_dir)
    return run_simulation(sim, out=out, checkpoint_every=checkpoint_every, progress=progress)


def resume(path: str | Path, *, data_dir: str | None = None, out: str | Path | None = None,
           progress: Callable[[dict[str, Any]], None] | None = None) -> RunResult:
    """Continue an interrupted run from the last checkpoint in its run file."""
    config, saved, every = read_checkpoint(path)
    sim = restored_simulation(config, saved, path, data_dir)
    return run_simulation(sim, out=out or path, checkpoint_every=every or None, progress=progress)


def restored_simulation(config: RunConfig, saved: dict[str, Any], path: str | Path,
                        data_dir: str | None = None) -> Simulation:
    """The simulation a checkpoint was taken of, in the state it was taken in; a damaged or mismatched
    checkpoint becomes one clear error naming ``path``."""
    sim = Simulation(config, seed=int(saved["seed"]), iterations=int(saved["iterations"]), data_dir=data_dir)
    try:
        sim.restore(saved)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise NeurosimError(f"{path}: a damaged checkpoint, or one that does not match its stored configuration "
                            f"({type(exc).__name__}: {exc})") from None
    return sim


def run_simulation(sim: Simulation, *, out: str | Path | None = None, checkpoint_every: int | None = None,
                   progress: Callable[[dict[str, Any]], None] | None = None) -> RunResult:
    """Run a built (or restored) simulation; with ``out``, rewrite its run file at every evaluation (and
    checkpoint) as the run goes, atomically, and mark it complete at the end."""
    def save(running: Simulation) -> None:
        state = running.checkpoint() if checkpoint_every else None
        write_run(out, running.result(), complete=False, checkpoint=state, checkpoint_every=checkpoint_every)

    result = sim.run(progress, checkpoint_every=checkpoint_every, on_checkpoint=save if out else None)
    if out is not None:
        write_run(out, result)
        logger.info("run file written: %s", out)
    return result


@dataclass(frozen=True)
class Run:
    """A finished run file, read back."""

    path: Path
    summary: dict[str, Any]
    curves: dict[str, np.ndarray]


def open_run(path: str | Path) -> Run:
    return Run(Path(path), read_summary(path), read_curves(path))


__all__ = ["Run", "describe", "load", "open_run", "resume", "run_simulation", "train"]
