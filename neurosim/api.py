"""The Python API: what the command line does, in a few lines.

    import neurosim
    config = neurosim.load("chips/reference.yaml", "workloads/nist7x7.yaml", sets=["mgd.tau_theta=10"])
    result = neurosim.train(config, seed=1, out="run.h5")
    print(result.summary.test_accuracy, result.summary.simulated_time_s)
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
from neurosim.io.state import check_state
from neurosim.io.runfile import check_output, read_checkpoint, read_curves, read_identity, read_summary, write_run
from neurosim.results import TrainingSummary
from neurosim.simulation import RunResult, Simulation, describe
from neurosim.spec import RunConfig, load_config

logger = logging.getLogger("neurosim")


def load(chip: str | Path, workload: str | Path, sets: Iterable[str] = ()) -> RunConfig:
    """Read and validate a chip and a workload file, with ``--set`` style overrides."""
    return load_config(chip, workload, list(sets))


def train(config: RunConfig, *, seed: int | None = None, iterations: int | None = None,
          data_dir: str | None = None, out: str | Path | None = None, checkpoint_every: int | None = None,
          progress: Callable[[dict[str, Any]], None] | None = None, force: bool = False,
          identity: str | None = None) -> RunResult:
    """Simulate a training run; with ``out``, its run file is written as the run goes (and holds a checkpoint
    every ``checkpoint_every`` iterations, from which :func:`resume` continues). An existing file at ``out``
    is an error unless ``force``. ``identity``: a name the run file keeps (a sweep's run id, which holds the
    hash of the run's config, seed and length), so that a resumer can tell whose checkpoint it holds."""
    if out is not None:
        check_output(out, force=force)
    sim = Simulation(config, seed=seed, iterations=iterations, data_dir=data_dir)
    return run_simulation(sim, out=out, checkpoint_every=checkpoint_every, progress=progress, identity=identity)


def resume(path: str | Path, *, data_dir: str | None = None, out: str | Path | None = None,
           progress: Callable[[dict[str, Any]], None] | None = None, force: bool = False,
           checkpoint: tuple[RunConfig, dict[str, Any], int] | None = None) -> RunResult:
    """Continue an interrupted run from the last checkpoint in its run file (into ``out`` if given: an
    existing file there is an error unless ``force``). ``checkpoint``: what :func:`read_checkpoint` gave for
    the file, where the caller has read it already (a sweep, to check it is its run's), so it is read once."""
    config, saved, every = checkpoint if checkpoint is not None else read_checkpoint(path)
    check_output(out or path, own=path, force=force)
    identity = read_identity(path)
    sim = restored_simulation(config, saved, path, data_dir)
    return run_simulation(sim, out=out or path, checkpoint_every=every or None, progress=progress,
                          identity=identity)


def restored_simulation(config: RunConfig, saved: dict[str, Any], path: str | Path,
                        data_dir: str | None = None) -> Simulation:
    """The simulation a checkpoint was taken of, in the state it was taken in; a damaged or mismatched
    checkpoint becomes one clear error naming ``path``."""
    try:
        check_run_position(saved)
    except (KeyError, ValueError, TypeError) as exc:
        raise NeurosimError(f"{path}: a damaged or edited checkpoint ({exc})") from None
    sim = Simulation(config, seed=int(saved["seed"]), iterations=int(saved["iterations"]), data_dir=data_dir)
    try:
        check_state({k: v for k, v in saved.items() if k in ("chip", "procedure")},
                    {k: v for k, v in sim.checkpoint().items() if k in ("chip", "procedure")})
    except ValueError as exc:
        raise NeurosimError(f"{path}: a damaged or edited checkpoint, or one that does not match its stored "
                            f"configuration ({exc})") from None
    try:
        sim.restore(saved)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise NeurosimError(f"{path}: a damaged checkpoint, or one that does not match its stored configuration "
                            f"({type(exc).__name__}: {exc})") from None
    return sim


def check_run_position(saved: dict[str, Any]) -> None:
    """The checkpoint's own bookkeeping must be consistent: where the run is (``done``) within its length,
    its seed, its target, and curves of one entry per evaluation up to ``done``."""
    from neurosim.spec.fields import MAX_INT

    def whole(key: str, lo: int, hi: int) -> int:
        value = saved[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise ValueError(f"checkpoint/{key}: expected a whole number from {lo} to {hi}, got {value!r}")
        return int(value)

    iterations = whole("iterations", 1, MAX_INT)
    whole("seed", 0, MAX_INT)
    done = whole("done", 0, iterations)
    if saved["target_at"] is not None:
        whole("target_at", 1, done)
    wall = saved["wall_s"]
    if not isinstance(wall, (int, float)) or not 0 <= wall < float("inf"):
        raise ValueError(f"checkpoint/wall_s: expected seconds >= 0, got {wall!r}")
    curves = saved["curves"]
    lengths = {name: np.asarray(values).shape for name, values in curves.items()}
    if len(set(lengths.values())) > 1 or any(len(shape) != 1 for shape in lengths.values()):
        raise ValueError(f"checkpoint/curves: expected 1-D curves of one length, got {lengths}")
    evaluated = np.asarray(curves["iteration"])
    if evaluated.size and (np.any(np.diff(evaluated) <= 0) or evaluated[0] < 1 or evaluated[-1] > done):
        raise ValueError(f"checkpoint/curves/iteration: expected increasing iterations from 1 to done={done}")


def run_simulation(sim: Simulation, *, out: str | Path | None = None, checkpoint_every: int | None = None,
                   progress: Callable[[dict[str, Any]], None] | None = None,
                   identity: str | None = None) -> RunResult:
    """Run a built (or restored) simulation; with ``out``, rewrite its run file at every evaluation (and
    checkpoint) as the run goes, atomically, and mark it complete at the end."""
    def save(running: Simulation) -> None:
        state = running.checkpoint() if checkpoint_every else None
        write_run(out, running.result(), complete=False, checkpoint=state, checkpoint_every=checkpoint_every,
                  identity=identity)

    result = sim.run(progress, checkpoint_every=checkpoint_every, on_checkpoint=save if out else None)
    if out is not None:
        write_run(out, result, identity=identity)
        logger.info("run file written: %s", out)
    return result


@dataclass(frozen=True)
class Run:
    """A finished run file, read back."""

    path: Path
    summary: TrainingSummary
    curves: dict[str, np.ndarray]


def open_run(path: str | Path) -> Run:
    return Run(Path(path), read_summary(path), read_curves(path))


__all__ = ["Run", "describe", "load", "open_run", "resume", "run_simulation", "train"]
