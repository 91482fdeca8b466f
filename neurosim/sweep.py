"""``neurosim sweep SWEEP.yaml``: many training runs from one file, side by side on processes or a Dask cluster.

A sweep file names a chip, a workload, a grid of ``--set`` overrides and the seeds; the runs are the
cartesian product of the grid values times the seeds::

    chip: ../chips/reference.yaml          # paths relative to the sweep file
    workload: nist7x7.yaml
    iterations: 2000                       # optional: override train.iterations
    seeds: [0, 1, 2]                       # or n, meaning 0..n-1; default: the workload's train.seed
    grid:                                  # any --set key (chip keys start with 'chip.'), each a list of values
      mgd.tau_theta: [1, 10, 100]
      chip.weights.device.endurance_cycles: [1e4, 1e6]
    sets: ["train.eval_interval=500"]      # fixed overrides for every run
    out: ../runs/sweep-example             # output folder, relative to the sweep file (--out overrides)

Why it is built this way:

- Every run's config is loaded and checked (``load_config``, then the timing and network checks of
  ``describe``) before anything runs, so a bad key or value fails in a second, not after an hour.
- A run's id is a readable name from its grid values and seed plus a hash of everything that determines
  its result (the resolved chip and workload, the seed, the iterations). ``<out>/<id>.h5`` that exists and
  is a finished run file is taken as is: an interrupted sweep resumes where it stopped, and a changed
  sweep file or chip file yields new ids instead of silently reusing stale runs.
- Runs go to a process pool, or to an existing Dask cluster with ``--scheduler``: the same function and
  arguments either way, and the simulation is deterministic per seed, so the results are the same.
- ``<out>/results.csv`` and ``results.json`` (one row per run) are replaced atomically after each run
  finishes, so they are never half-written and show progress on a long sweep.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import logging
import math
import multiprocessing
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from neurosim.errors import ConfigError, NeurosimError
from neurosim.results import SummaryShapeError, TrainingSummary, json_safe
from neurosim.io import ensure_folder
from neurosim.io import atomic
from neurosim.spec import RunConfig
from neurosim.tables import text_table

SWEEP_KEYS = ("chip", "workload", "iterations", "seeds", "grid", "sets", "out", "checkpoint_every")

# the summary entries a results row carries, in this order (after the run id, grid values and seed)
RESULT_KEYS = ("iterations", "test_accuracy", "best_test_accuracy", "iterations_to_target",
               "simulated_time_to_target_s", "simulated_time_s", "energy_j", "weight_writes_total",
               "weight_writes_max_per_device", "endurance_used_max", "failed_devices",
               "lifetime_trainings_first_failure", "lifetime_trainings_1pct", "wall_time_s")

SCHEDULER_TIMEOUT_S = 15
MAX_RUNS = 100_000  # runs in one sweep


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file; paths resolved against the sweep file's folder."""

    file: Path
    chip: Path
    workload: Path
    iterations: int | None
    seeds: tuple[int, ...] | None            # None: each run uses its workload's train.seed
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    sets: tuple[str, ...]
    out: Path | None
    checkpoint_every: int | None = None     # each run keeps a checkpoint this often; an interrupted one resumes


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep, checked and ready to go."""

    run_id: str
    settings: dict[str, Any] = field(hash=False)   # grid key -> value
    seed: int
    iterations: int
    sets: tuple[str, ...]                            # every --set of this run: the fixed ones, then the grid's
    config: RunConfig = field(hash=False, repr=False)
    path: Path
    checkpoint_every: int | None = None              # see SweepSpec: not part of the run's identity


# ---- the sweep file -----------------------------------------------------------------------------------

def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; every problem is a ConfigError naming the file and the key."""
    from neurosim.spec.loader import Override, read_yaml

    path = Path(path)
    file = str(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(file, None, "expected a sweep file: a mapping with chip, workload, grid, seeds...")
    unknown = [k for k in data if k not in SWEEP_KEYS]
    if unknown:
        raise ConfigError(file, str(unknown[0]), f"unknown key; a sweep file has {', '.join(SWEEP_KEYS)}")
    base = path.parent

    def file_key(key: str) -> Path:
        value = data.get(key)
        if value is None:
            raise ConfigError(file, key, f"missing: the {key} file, relative to the sweep file")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(file, key, f"expected a path to a {key} file, got {value!r}")
        resolved = base / value
        if not resolved.is_file():
            raise ConfigError(file, key, f"file not found: {resolved}")
        return resolved

    chip, workload = file_key("chip"), file_key("workload")

    from neurosim.spec.fields import MAX_INT  # as train's --iterations and --seed: beyond, kernels and HDF5 overflow

    iterations = data.get("iterations")
    if iterations is not None and (not _is_int(iterations) or not 1 <= iterations <= MAX_INT):
        raise ConfigError(file, "iterations", f"expected a whole number from 1 to {MAX_INT:.3g}, got {iterations!r}")

    seeds: tuple[int, ...] | None = None
    raw_seeds = data.get("seeds")
    if raw_seeds is not None:
        if _is_int(raw_seeds):
            if raw_seeds > MAX_RUNS:
                raise ConfigError(file, "seeds", f"expected at most {MAX_RUNS} seeds, got {raw_seeds}")
            if raw_seeds < 1:
                raise ConfigError(file, "seeds", f"expected a count >= 1 or a list of seeds, got {raw_seeds!r}")
            seeds = tuple(range(raw_seeds))
        elif isinstance(raw_seeds, list) and raw_seeds:
            for i, seed in enumerate(raw_seeds):
                if not _is_int(seed) or not 0 <= seed <= MAX_INT:
                    raise ConfigError(file, f"seeds[{i}]", f"expected a whole number from 0 to {MAX_INT:.3g}, "
                                      f"got {seed!r}")
            if len(set(raw_seeds)) != len(raw_seeds):
                raise ConfigError(file, "seeds", "the same seed is listed twice")
            seeds = tuple(raw_seeds)
        else:
            raise ConfigError(file, "seeds", f"expected a count >= 1 or a non-empty list of seeds, got {raw_seeds!r}")

    raw_sets = data.get("sets", []) or []
    if not isinstance(raw_sets, list):
        raise ConfigError(file, "sets", 'expected a list of "KEY=VALUE" strings')
    fixed_keys: dict[str, int] = {}
    for i, text in enumerate(raw_sets):
        if not isinstance(text, str):
            raise ConfigError(file, f"sets[{i}]", f'expected a "KEY=VALUE" string, got {text!r}')
        try:
            fixed_keys[Override.parse(text).key] = i
        except ConfigError:
            raise ConfigError(file, f"sets[{i}]", f"expected KEY=VALUE with a dotted KEY, got {text!r}") from None

    raw_grid = data.get("grid", {}) or {}
    if not isinstance(raw_grid, dict):
        raise ConfigError(file, "grid", "expected a mapping of --set keys to lists of values")
    grid: list[tuple[str, tuple[Any, ...]]] = []
    for key, values in raw_grid.items():
        where = f"grid.{key}"
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise ConfigError(file, where, "expected a dotted --set key such as mgd.tau_theta")
        if not isinstance(values, list) or not values:
            raise ConfigError(file, where, f"expected a non-empty list of values, got {values!r}")
        values = [_yaml12_number(v) for v in values]
        if any(values.count(v) > 1 for v in values):
            raise ConfigError(file, where, "the same value is listed twice")
        if key in fixed_keys:
            raise ConfigError(file, where, f"also fixed by sets[{fixed_keys[key]}]; keep one of them")
        if key == "train.seed" and seeds is not None:
            raise ConfigError(file, where, "seeds are set by the 'seeds' key; drop one of them")
        if key == "train.iterations" and iterations is not None:
            raise ConfigError(file, where, "the 'iterations' key overrides it; drop one of them")
        grid.append((key, tuple(values)))

    runs = math.prod(len(values) for _, values in grid) * (len(seeds) if seeds is not None else 1)
    if runs > MAX_RUNS:  # planning loads every run's config: a typo in seeds must not hang the machine
        raise ConfigError(file, "seeds" if seeds is not None and len(seeds) > MAX_RUNS else "grid",
                          f"expected a sweep of at most {MAX_RUNS} runs, this one has {runs}")
    out = data.get("out")
    if out is not None and (not isinstance(out, str) or not out.strip()):
        raise ConfigError(file, "out", f"expected a folder path, got {out!r}")
    every = data.get("checkpoint_every")
    if every is not None and (not _is_int(every) or not 1 <= every <= MAX_INT):
        raise ConfigError(file, "checkpoint_every", f"expected a whole number of iterations >= 1, got {every!r}")
    return SweepSpec(path, chip, workload, iterations, seeds, tuple(grid), tuple(raw_sets),
                     None if out is None else base / out, every)


_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _yaml12_number(value: Any) -> Any:
    """``1e4`` as the number it looks like: PyYAML follows YAML 1.1, which reads it as a string (only
    ``1.0e+4`` is a float there), and a grid value kept as text would be text in the results too."""
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        return float(value)
    return value


def _set_value(value: Any) -> str:
    """A value as --set text that reads back (as YAML) to the same value."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    return text.removesuffix("...").strip()


def _name_part(value: Any) -> str:
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, (list, tuple)):
        return ",".join(_name_part(v) for v in value)
    return str(value)


def _short_keys(keys: Sequence[str]) -> list[str]:
    """Grid keys shortened to their last part where that stays unambiguous."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return [short if last.count(short) == 1 else key for short, key in zip(last, keys)]


def run_id(settings: dict[str, Any], seed: int, iterations: int, config: RunConfig) -> str:
    """A readable name (grid values and seed) and a hash of what determines the run's result."""
    short = _short_keys(list(settings))
    name = "_".join(f"{k}={_name_part(v)}" for k, v in zip(short, settings.values()))
    name = re.sub(r"[^A-Za-z0-9_.,+=-]+", "-", f"{name}_seed={seed}" if name else f"seed={seed}").strip("-")
    identity = json.dumps({"config": config.as_plain(), "seed": seed, "iterations": iterations},
                          sort_keys=True, default=repr)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    return f"{name[:100]}-{digest}"


def plan_sweep(spec: SweepSpec, out_dir: str | Path) -> list[PlannedRun]:
    """Every run of the sweep, each config loaded and checked now so that a bad value fails before any
    run starts. Errors coming from a grid value or a fixed set name the sweep file and that key."""
    from neurosim.simulation import describe
    from neurosim.spec import load_config

    out = Path(out_dir).resolve()
    keys = [key for key, _ in spec.grid]
    runs: list[PlannedRun] = []
    seen: dict[str, dict[str, Any]] = {}
    notes: list[str] = []  # keys that do not apply to some runs: a grid may set them on purpose
    affected = points = 0
    for combo in itertools.product(*(values for _, values in spec.grid)):
        settings = dict(zip(keys, combo))
        points += 1
        sets = (*spec.sets, *(f"{k}={_set_value(v)}" for k, v in settings.items()))
        noted = len(notes)
        try:
            config = load_config(spec.chip, spec.workload, sets, notes=notes)
            affected += len(notes) > noted
            describe(config)  # timing closure and the network on the data set's shape, without data
        except ConfigError as exc:
            raise _blame(spec, settings, exc) from None
        except NeurosimError as exc:
            raise NeurosimError(f"{spec.file}: run {_describe_settings(settings)}: {exc}") from None
        for seed in spec.seeds if spec.seeds is not None else (config.workload.train.seed,):
            iterations = spec.iterations or config.workload.train.iterations
            rid = run_id(settings, seed, iterations, config)
            if rid in seen:
                raise ConfigError(str(spec.file), "grid", f"runs {_describe_settings(seen[rid])} and "
                                  f"{_describe_settings(settings)} are the same run")
            seen[rid] = settings
            runs.append(PlannedRun(rid, settings, seed, iterations, sets, config, out / f"{rid}.h5",
                                   spec.checkpoint_every))
    if notes:
        from neurosim.errors import bounded

        unique = list(dict.fromkeys(notes))
        logging.getLogger("neurosim").warning(
            "warning: %s: ignored where they do not apply (in %d of %d grid points): %s", spec.file,
            affected, points, bounded("; ".join(unique), 800))
    return runs


def _describe_settings(settings: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v!r}" for k, v in settings.items()) + ")" if settings else "(no grid)"


def _blame(spec: SweepSpec, settings: dict[str, Any], exc: ConfigError) -> ConfigError:
    """Point a config error at the sweep key that caused it, when one did."""
    from neurosim.spec.loader import Override

    key = exc.key or ""

    def matches(k: str) -> bool:  # the error's key path is the --set key or lies under or above it
        return key == k or key.startswith(k + ".") or k.startswith(key + ".")

    for k, v in settings.items():
        if matches(k):
            return ConfigError(str(spec.file), f"grid.{k}", f"value {v!r}: {exc.expected}")
    for i, text in reversed(list(enumerate(spec.sets))):  # the last set of a key is the one in force
        if matches(Override.parse(text).key) or exc.file == "--set" and exc.key == text:
            return ConfigError(str(spec.file), f"sets[{i}]", f"{text}: {exc.expected}")
    return ConfigError(exc.file, exc.key, f"{exc.expected} (sweep {spec.file}, run {_describe_settings(settings)})")


# ---- running ------------------------------------------------------------------------------------------

def finished_summary(path: str | Path) -> TrainingSummary | None:
    """The summary of a complete run file at ``path``, or None if there is none (missing, partial, foreign).
    A complete file of another version (its summary's fields differ) is an error, not None: the run it holds
    is finished, and training it again would replace it."""
    from neurosim.io.runfile import read_summary

    if not Path(path).is_file():
        return None
    try:
        return read_summary(path, complete_only=True)
    except SummaryShapeError as exc:
        raise NeurosimError(f"{exc}: a finished run of another version, which this sweep neither reuses nor "
                            "replaces; move it out of the sweep's folder to train the run again") from None
    except NeurosimError:
        return None


def train_run(config: RunConfig, seed: int, iterations: int, out: str, data_dir: str | None = None,
              checkpoint_every: int | None = None, run: str | None = None) -> TrainingSummary:
    """Train one run into its run file and return its summary: the function a pool or Dask worker runs.
    With ``checkpoint_every`` the file keeps a checkpoint that often, and an unfinished file with one that
    this run (``run``: its id, which holds the hash of its config, seed and length) left is resumed where it
    stopped, bit-identically, rather than started again; any other file there is replaced, and so is a
    checkpoint that does not restore (a warning says why).

    Importing neurosim (which this module does) sets the single-thread defaults in the worker too. A
    NeurosimError is re-raised as a plain one, since ConfigError cannot be unpickled in the parent.
    """
    from neurosim.api import logger, resume, train

    try:
        if checkpoint_every and run is not None and Path(out).exists():
            why, checkpoint = _not_resumable(out, run, config, seed, iterations)
            if why is None:
                try:
                    return resume(out, data_dir=data_dir, checkpoint=checkpoint).summary
                except NeurosimError as exc:
                    why = f"its checkpoint does not restore ({exc})"
            logger.warning("warning: %s: training the run afresh over the file there: %s", out, why)
        # force: the sweep redoes only runs without a finished file, and the file it replaces is its own
        return train(config, seed=seed, iterations=iterations, data_dir=data_dir, out=out, force=True,
                     checkpoint_every=checkpoint_every, identity=run).summary
    except NeurosimError as exc:
        raise NeurosimError(str(exc)) from None


def _not_resumable(path: str | Path, run: str, config: RunConfig, seed: int,
                   iterations: int) -> tuple[str | None, tuple[RunConfig, dict[str, Any], int] | None]:
    """Why the file at ``path`` is not a checkpoint of the run ``run`` (its id; ``config``, ``seed`` and
    ``iterations`` what it runs) to go on from (None if it is), and the checkpoint as read, for the resume:
    the run id it was trained under, its stored configuration (as the run file stores this run's), its seed
    and its length must all be this run's."""
    from neurosim.io.runfile import as_stored, read_checkpoint, read_identity, resolved_plain
    from neurosim.model import build

    try:
        checkpoint = read_checkpoint(path)
        identity = read_identity(path)
    except NeurosimError as exc:
        return f"no checkpoint of this run to go on from ({exc})", None
    stored, saved, _ = checkpoint
    if identity != run:
        why = ("its checkpoint was written before run files recorded their sweep's run id (to go on from it, "
               f"neurosim train --resume {path})" if identity is None else f"its checkpoint is run {identity}'s")
        return why, None
    planned = as_stored(resolved_plain(config, build(config).resolved(), seed, iterations), str(path)).as_plain()
    kept = stored.as_plain()
    for plain in (planned, kept):  # a checkpoint's file holds the iterations done so far
        plain["workload"]["train"]["iterations"] = None
    if kept != planned or int(saved["seed"]) != seed or int(saved["iterations"]) != iterations:
        return "its stored configuration, seed or length is not this run's (the file was edited?)", None
    return None, checkpoint


def thread_settings() -> dict[str, str | int | None]:
    """The thread settings a worker process runs with (tests check that workers are single-threaded).

    Unpickling a function of this module imports neurosim, which has set the defaults by the time this runs.
    """
    import numba

    settings: dict[str, str | int | None] = {
        var: os.environ.get(var) for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                             "MKL_NUM_THREADS")}
    settings["numba_threads"] = numba.get_num_threads()
    return settings


def result_row(run: PlannedRun, summary: TrainingSummary, out_dir: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"run_id": run.run_id, **run.settings, "seed": run.seed}
    for key in RESULT_KEYS:
        row[key] = getattr(summary, key)
    row["diverged_at"] = summary.diverged["iteration"] if summary.diverged else None
    row["run_file"] = os.path.relpath(run.path, out_dir)
    return row


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def write_results(rows: Sequence[dict[str, Any]], out_dir: Path) -> None:
    """results.json and results.csv, each replaced atomically."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(row.get(k)) for k in columns})
    atomic.write_text(out_dir / "results.csv", buffer.getvalue())
    atomic.write_text(out_dir / "results.json", json.dumps(json_safe(list(rows)), indent=1) + "\n")


Progress = Callable[[str, PlannedRun, TrainingSummary | None], None]


def _worker_exit(signum: int = signal.SIGTERM, frame: Any = None) -> None:
    """A worker told to stop (its sweep ended, was interrupted or died): remove the temporary run file it
    is writing and exit at once (a worker has nobody to report to)."""
    atomic.remove_live_temps()
    os._exit(128 + signum)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed parent not yet reaped is a zombie: as good as gone
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _worker_init(sweep_pid: int) -> None:
    """Tie a pool worker's life to the sweep's: a worker outliving a killed sweep (kill -9 included) would
    sit idle forever, or keep computing a run nobody collects. Linux: the kernel signals the worker when
    its parent dies (PR_SET_PDEATHSIG); everywhere: a thread polls the sweep's process."""
    import threading

    signal.signal(signal.SIGTERM, _worker_exit)
    signal.signal(signal.SIGINT, _worker_exit)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while _alive(sweep_pid):
            time.sleep(WATCH_INTERVAL_S)
        _worker_exit()

    threading.Thread(target=watch, name="neurosim-sweep-watch", daemon=True).start()
    if not _alive(sweep_pid):
        _worker_exit()


WATCH_INTERVAL_S = 0.5


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now, its running workers too (they remove their temporary files as they go)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            try:
                os.kill(process.pid, signal.SIGTERM)
            except OSError:
                pass
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def _pool_context() -> multiprocessing.context.BaseContext:
    """forkserver where there is one: workers start clean (no threads or open files inherited from the
    parent) and still get the parent's environment, hence the same single-thread defaults."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def run_sweep(spec_path: str | Path | SweepSpec, out_dir: str | Path | None = None, workers: int | None = None,
              scheduler: str | None = None, *, data_dir: str | None = None,
              progress: Progress | None = None) -> list[dict[str, Any]]:
    """Run (or resume) a sweep; return one results row per run, in grid order.

    ``spec_path`` is a sweep file or an already built :class:`SweepSpec`; ``out_dir`` overrides its
    ``out``; ``workers`` is the local pool's size (default: the CPU count); ``scheduler`` is the address of
    an existing Dask scheduler to run on instead. ``progress(event, run, summary)`` is called with event
    "reused", "done" or "failed".

    The local pool starts its workers as fresh interpreters (forkserver), so a script calling this must
    do so under ``if __name__ == "__main__":``, as with any process pool.
    """
    spec = spec_path if isinstance(spec_path, SweepSpec) else load_sweep(spec_path)
    out_value = out_dir if out_dir is not None else spec.out
    if out_value is None:
        raise ConfigError(str(spec.file), "out", "missing: set out: in the sweep file or pass --out")
    if workers is not None and workers < 1:
        raise NeurosimError("--workers: expected a whole number >= 1")
    most = max(64, 4 * (os.cpu_count() or 1))
    if workers is not None and workers > most:  # one process each: a typo must not fork thousands
        raise NeurosimError(f"--workers: expected at most {most} (4 per CPU), got {workers}")
    runs = plan_sweep(spec, out_value)
    return execute_runs(runs, out_value, workers, scheduler, data_dir=data_dir, progress=progress,
                        source=str(spec.file))


def execute_runs(runs: Sequence[PlannedRun], out_dir: str | Path, workers: int | None = None,
                 scheduler: str | None = None, *, data_dir: str | None = None, progress: Progress | None = None,
                 source: str = "sweep") -> list[dict[str, Any]]:
    """Train the planned runs that have no finished run file yet (locally or on Dask) and write
    results.csv/json into ``out_dir``; one row per run, in the given order. Split from ``run_sweep`` so
    that a study can plan its own runs (several specs into one folder) and still resume like a sweep.
    ``source`` names what planned them in the error of a failed run."""
    out = ensure_folder(Path(out_dir).resolve(), "the sweep's output folder")

    summaries: dict[str, TrainingSummary] = {}
    todo: list[PlannedRun] = []
    for run in runs:
        summary = finished_summary(run.path)
        if summary is not None:
            summaries[run.run_id] = summary
            if progress:
                progress("reused", run, summary)
        else:
            todo.append(run)

    def rows() -> list[dict[str, Any]]:
        return [result_row(r, summaries[r.run_id], out) for r in runs if r.run_id in summaries]

    write_results(rows(), out)  # the runs reused so far; and a table that cannot be written fails before any run

    failures: list[tuple[PlannedRun, BaseException]] = []

    def finished(run: PlannedRun, future: Any) -> None:
        exc = future.exception()
        if exc is not None:
            failures.append((run, exc))
            if progress:
                progress("failed", run, None)
            return
        summaries[run.run_id] = future.result()
        write_results(rows(), out)
        if progress:
            progress("done", run, summaries[run.run_id])

    if todo:
        args = [(r.config, r.seed, r.iterations, str(r.path), data_dir, r.checkpoint_every, r.run_id) for r in todo]
        if scheduler:
            _run_on_dask(scheduler, todo, args, finished)
        else:
            n = min(workers or os.cpu_count() or 1, len(todo))
            pool = ProcessPoolExecutor(max_workers=n, mp_context=_pool_context(), initializer=_worker_init,
                                       initargs=(os.getpid(),))
            try:
                futures: dict[Future, PlannedRun] = {pool.submit(train_run, *a): r for r, a in zip(todo, args)}
                for future in as_completed(futures):
                    finished(futures[future], future)
            except BaseException:  # interrupted (Ctrl-C, SIGTERM) or failed: no worker may outlive the sweep
                _stop_workers(pool)
                raise
            pool.shutdown(wait=True)
    result = rows()
    write_results(result, out)
    if failures:
        order = {r.run_id: i for i, r in enumerate(runs)}
        failures.sort(key=lambda failure: order[failure[0].run_id])  # report in grid order, not finishing order
        failed_run, error = failures[0]
        if isinstance(error, BrokenProcessPool):  # a worker killed from outside (the OOM killer, kill -9)
            error = NeurosimError(f"its worker process died ({error})")
        if not isinstance(error, NeurosimError):
            raise error
        more = f" (and {len(failures) - 1} more failed runs)" if len(failures) > 1 else ""
        raise NeurosimError(f"{source}: run {failed_run.run_id} failed: {error}{more}")
    return result


def _run_on_dask(address: str, todo: Sequence[PlannedRun], args: Sequence[tuple],
                 finished: Callable[[PlannedRun, Any], None]) -> None:
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise NeurosimError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
    try:
        client = Client(address, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise NeurosimError(f"--scheduler {address}: cannot connect to a Dask scheduler ({exc})") from None
    try:
        token = uuid.uuid4().hex[:8]  # task keys unique to this sweep: a cluster may hold another's results
        futures = {client.submit(train_run, *a, key=f"neurosim-{r.run_id}-{token}", pure=False): r
                   for r, a in zip(todo, args)}
        for future in dask_completed(list(futures)):
            finished(futures[future], future)
    finally:
        client.close()


# ---- command line -------------------------------------------------------------------------------------

def format_results(rows: Sequence[dict[str, Any]], grid_keys: Sequence[str]) -> str:
    """The results as a text table: grid values, seed, then the figures one compares runs by."""
    from neurosim.spec.units import format_duration, format_quantity

    def fmt(value: Any, kind: str) -> str:
        if value is None:
            return "never" if kind == "target" else "-"
        if kind == "acc":
            return f"{value:.4f}"
        if kind == "time":
            return format_duration(value)
        if kind == "energy":
            return format_quantity(value, "J")
        if kind == "g":
            return f"{value:.3g}"
        if kind == "wall":
            return f"{value:.2f} s"
        return _name_part(value)

    columns = [(k, s, "") for k, s in zip(grid_keys, _short_keys(list(grid_keys)))] + [
        ("seed", "seed", ""), ("test_accuracy", "test acc", "acc"), ("best_test_accuracy", "best acc", "acc"),
        ("iterations_to_target", "it. to target", "target"), ("simulated_time_s", "sim. time", "time"),
        ("energy_j", "energy", "energy"), ("weight_writes_max_per_device", "max writes", ""),
        ("endurance_used_max", "endurance used", "g"), ("failed_devices", "failed", ""),
        ("wall_time_s", "wall", "wall"), ("run_id", "run", "")]
    return text_table([title for _, title, _ in columns],
                      [[fmt(row.get(key), kind) for key, _, kind in columns] for row in rows])


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``sweep`` to the ``neurosim`` subcommands (the parser class is the subparsers' own)."""
    p = subparsers.add_parser("sweep", help="run a grid of trainings (x seeds) from a sweep file, in parallel",
                              description="Run the cartesian product of a sweep file's grid and seeds, one "
                                          "process per run, skipping runs already finished in the output "
                                          "folder; write results.csv and results.json there.")
    p.add_argument("sweep", metavar="SWEEP.yaml", help="the sweep file")
    p.add_argument("--workers", type=int, help="local worker processes (default: the number of CPUs)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster instead (e.g. tcp://10.0.0.5:8786)")
    p.add_argument("--out", help="output folder (default: the sweep file's out:, relative to it)")
    p.add_argument("--data-dir", help="folder holding data sets (else $NEUROSIM_DATA, else ~/.cache/neurosim)")
    p.add_argument("--json", action="store_true", help="print the results as a JSON list")
    from neurosim.memory import add_memory_arg

    add_memory_arg(p)
    return p


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise NeurosimError("--workers: expected a whole number >= 1")
    if args.workers is not None and args.scheduler:
        raise NeurosimError("--workers and --scheduler: choose one (a Dask cluster has its own workers)")
    spec = load_sweep(args.sweep)
    total = math.prod(len(values) for _, values in spec.grid) * (len(spec.seeds) if spec.seeds else 1)
    counter = {"n": 0}

    def progress(event: str, run: PlannedRun, summary: TrainingSummary | None) -> None:
        counter["n"] += 1
        detail = "" if summary is None else f": test accuracy {summary.test_accuracy}"
        print(f"[{counter['n']}/{total}] {event} {run.run_id}{detail}", file=sys.stderr, flush=True)

    from neurosim.errors import interrupt_hint

    interrupt_hint["text"] = "finished runs are kept; run the same sweep again to do the rest"
    rows = run_sweep(args.sweep, args.out, args.workers, args.scheduler, data_dir=args.data_dir,
                     progress=progress)
    if args.json:
        print(json.dumps(json_safe(rows)))
    else:
        print(format_results(rows, [k for k, _ in spec.grid]))
        out = Path(args.out) if args.out else spec.out
        if out is not None:
            print(f"\n{len(rows)} runs; results in {out / 'results.csv'} and {out / 'results.json'}")
    diverged = [row for row in rows if row.get("diverged_at") is not None]
    if diverged:
        from neurosim.errors import EXIT_DIVERGED
        from neurosim.errors import bounded

        names = ", ".join(f"{row['run_id']} (at {row['diverged_at']})" for row in diverged)
        print(f"neurosim: error: {len(diverged)} of {len(rows)} runs diverged: {bounded(names, 600)}",
              file=sys.stderr)
        return EXIT_DIVERGED
    return 0


__all__ = ["PlannedRun", "SweepSpec", "add_sweep_parser", "cmd_sweep", "execute_runs", "finished_summary",
           "load_sweep", "plan_sweep", "run_sweep", "train_run"]
