"""HDF5 run files: the resolved config, the curves, the summary and per-device wear.

The file is written under a temporary name in the destination folder and renamed into place only when
complete, so a crash never leaves a half-written run file behind.

Layout::

    /                attrs: format ("neurosim-run"), format_version, neurosim_version, seed, complete
    /config          attrs: chip_yaml, workload_yaml (the specs as YAML text, every value they left open
                     resolved: mgd.tau_p/tau_x/tau_theta, mgd.amplitude, chip.clock in Hz)
    /curves/<name>   1-D datasets: iteration, simulated_time_s, energy_j, train_cost, test_accuracy
    /summary         attrs: json (the summary object), and one attr per scalar entry
    /wear/<layer>    per-device write counts, flattened: weight devices then the bias row (pairs: weights G+,
                     weights G-, bias G+, bias G-), int64
    /failed/<layer>  per-device failure mask, same order, bool
    /checkpoint      (runs with --checkpoint-every, until complete) the full state to resume from

A run with ``--out`` rewrites its file at every evaluation (``complete`` false) and once more at the end
(``complete`` true), each time atomically: killed at any moment, it leaves the previous complete write.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from neurosim import __version__
from neurosim.errors import NeurosimError
from neurosim.io.atomic import remove_stale_temps, replacing
from neurosim.io.state import load_state, save_state
from neurosim.results import RunResult, TrainingSummary
from neurosim.spec.loader import RunConfig, config_from_yaml

FORMAT = "neurosim-run"
FORMAT_VERSION = 1


def check_output(path: str | Path, *, force: bool = False, own: str | Path | None = None) -> Path:
    """Before a run starts: ``path`` must name a file in an existing folder this process can write in, and
    an existing file there is replaced only with ``force`` (or when it is ``own``, the run being resumed).
    Stale temporary files of ``path`` are removed."""
    path = Path(path)
    if path.is_dir():
        raise NeurosimError(f"{path}: --out: is a folder; give a run file name (such as {path / 'run.h5'})")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise NeurosimError(f"{path}: cannot write the run file: folder {folder} does not exist")
    if path.exists() and not path.is_file():  # /dev/null, a FIFO...: never renamed over, even with force
        raise NeurosimError(f"{path}: --out: not a regular file; give a run file name")
    is_own = own is not None and path.exists() and Path(own).exists() and os.path.samefile(path, own)
    if (path.exists() or path.is_symlink()) and not force and not is_own:
        raise NeurosimError(f"{path}: --out: the file exists ({_what_is(path)}); pass --force to replace it, "
                            "or choose another name")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise NeurosimError(f"{path}: cannot write the run file in {folder} ({exc.strerror or exc})") from None
    remove_stale_temps(path)
    return path


def _what_is(path: Path) -> str:
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                return "an HDF5 file that is not a neurosim run file"
            return "a finished run file" if f.attrs.get("complete") else "an unfinished run file"
    except (OSError, KeyError, ValueError):
        return "not a run file"


def write_run(path: str | Path, result: RunResult, *, complete: bool = True,
              checkpoint: dict[str, Any] | None = None, checkpoint_every: int | None = None,
              identity: str | None = None) -> None:
    """Write the run file atomically (a temporary file in the same folder, renamed into place); the
    temporary file is removed on any exception, KeyboardInterrupt (and so SIGTERM, see the command line)
    included."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise NeurosimError(f"{path}: cannot write the run file: folder {folder} does not exist")
    try:
        with replacing(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = FORMAT
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["neurosim_version"] = __version__
                f.attrs["seed"] = result.summary.seed
                for package in ("numpy", "numba", "simpy", "h5py", "yaml"):
                    f.attrs[f"{package}_version"] = _version(package)
                f.attrs["python_version"] = platform.python_version()
                if identity is not None:
                    f.attrs["identity"] = identity
                plain = resolved_config(result)
                config = f.create_group("config")
                config.attrs["chip_yaml"], config.attrs["workload_yaml"] = _config_yaml(plain)
                for name, tree in (("chip", plain["chip"]), ("workload", plain["workload"])):
                    group = config.create_group(name)  # the same values as attributes, one per key path
                    for key, value in _flatten(tree):
                        plain_value = json.dumps(value) if isinstance(value, (list, dict)) else value
                        group.attrs[key] = "null" if value is None else plain_value
                curves = f.create_group("curves")
                for name, values in result.curves.as_arrays().items():
                    curves.create_dataset(name, data=values)
                summary = f.create_group("summary")
                plain_summary = result.summary.as_dict()
                summary.attrs["json"] = json.dumps(plain_summary)
                for key, value in plain_summary.items():
                    if isinstance(value, (int, float, str, bool)):
                        summary.attrs[key] = value
                wear = f.create_group("wear")
                failed = f.create_group("failed")
                for name, writes, dead in zip(result.layer_names, result.wear, result.failed):
                    wear.create_dataset(name, data=writes, compression="gzip")
                    failed.create_dataset(name, data=dead, compression="gzip")
                if checkpoint is not None:
                    group = f.create_group("checkpoint")
                    group.attrs["checkpoint_every"] = checkpoint_every or 0
                    save_state(group, checkpoint)
                f.attrs["complete"] = complete
    except OSError as exc:  # a full disk, a folder made read-only or removed meanwhile...
        raise NeurosimError(f"{path}: cannot write the run file ({exc.strerror or exc})") from None


def resolved_config(result: RunResult) -> dict[str, Any]:
    """The run's config as plain data with every value it left open as the run resolved it (the built model's
    periods, clock and amplitude, in the summary) and the seed and length it ran with, so that the stored
    files describe the run without being resolved again."""
    summary = result.summary
    return resolved_plain(result.config, vars(summary), summary.seed, summary.iterations)


def resolved_plain(config: RunConfig, resolved: dict[str, Any], seed: int, iterations: int) -> dict[str, Any]:
    """``config`` as plain data with the values ``resolved`` gives (a Model's ``resolved()``, or a summary:
    the periods, the clock and the amplitude), the seed and the length."""
    plain = config.as_plain()
    workload, mgd = plain["workload"], plain["workload"]["mgd"]
    workload["train"]["seed"] = seed
    workload["train"]["iterations"] = iterations
    for key in ("tau_p", "tau_x", "tau_theta", "amplitude"):
        mgd[key] = resolved[key]
    plain["chip"]["clock"] = resolved["clock_hz"]
    return plain


def _config_yaml(plain: dict[str, Any]) -> tuple[str, str]:
    """The chip and workload files a run file stores for a plain config."""
    return yaml.safe_dump({"chip": plain["chip"]}, sort_keys=False), yaml.safe_dump(plain["workload"], sort_keys=False)


def as_stored(plain: dict[str, Any], source: str) -> RunConfig:
    """The config a run file holding ``plain`` reads back as (through the same YAML), to compare with one
    read from a file."""
    return config_from_yaml(*_config_yaml(plain), source)


def _flatten(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            items.extend(_flatten(value, f"{path}."))
        else:
            items.append((path, value))
    return items


def _version(package: str) -> str:
    module = importlib.import_module(package)
    return str(getattr(module, "__version__", "unknown"))


@contextmanager
def _open_run(path: str | Path) -> Iterator[h5py.File]:
    """A run file opened for reading, the one place that checks one: anything missing, unreadable, foreign or
    damaged is one clear error naming the file."""
    if not Path(path).is_file():
        raise NeurosimError(f"{path}: no such run file" if not Path(path).exists() else
                            f"{path}: not a run file (a folder or a device)")
    try:
        if not h5py.is_hdf5(path):
            raise NeurosimError(f"{path}: not a neurosim run file (not an HDF5 file)")
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise NeurosimError(f"{path}: not a neurosim run file (no format={FORMAT!r} attribute)")
            yield f
    except OSError as exc:
        raise NeurosimError(f"{path}: cannot read the run file ({exc})") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise NeurosimError(f"{path}: a damaged run file ({type(exc).__name__}: {exc})") from None


@dataclass
class StoredRun:
    """Everything a report reads of a run file, in one opening."""

    complete: bool                   # false: a run still going, or interrupted (figures of its last evaluation)
    summary: TrainingSummary
    curves: dict[str, np.ndarray]
    wear: dict[str, np.ndarray]      # write pulses per device, by layer name
    failed: dict[str, np.ndarray]    # failed devices, by layer name (empty in files written before failures)
    workload_yaml: str | None        # the resolved workload


def read_stored_run(path: str | Path) -> StoredRun:
    with _open_run(path) as f:
        return StoredRun(bool(f.attrs.get("complete", False)), _summary(f), _datasets(f, "curves"),
                         _datasets(f, "wear"), _datasets(f, "failed") if "failed" in f else {},
                         _text(f["config"].attrs.get("workload_yaml")))


def _summary(f: h5py.File) -> TrainingSummary:
    return TrainingSummary.from_dict(json.loads(f["summary"].attrs["json"]), f"{f.filename}: its summary")


def _datasets(f: h5py.File, group: str) -> dict[str, np.ndarray]:
    """Every dataset of a group (the curves, or per-layer wear), by name."""
    return {name: f[group][name][()] for name in f[group]}


def _text(value: Any) -> Any:
    """An HDF5 string attribute as str (h5py gives bytes for some)."""
    return value.decode() if isinstance(value, bytes) else value


def read_summary(path: str | Path, complete_only: bool = False) -> TrainingSummary:
    """The summary of a run file (of a finished one only, with ``complete_only``)."""
    with _open_run(path) as f:
        if complete_only and not f.attrs.get("complete"):
            raise NeurosimError(f"{path}: an unfinished run; finish it (neurosim train --resume) first")
        return _summary(f)


def read_identity(path: str | Path) -> str | None:
    """The name the run was trained under (a sweep's run id), if it was given one."""
    with _open_run(path) as f:
        return _text(f.attrs.get("identity"))


def read_curves(path: str | Path) -> dict[str, np.ndarray]:
    with _open_run(path) as f:
        return _datasets(f, "curves")


def read_checkpoint(path: str | Path) -> tuple[RunConfig, dict[str, Any], int]:
    """The configuration, the saved state and the checkpoint interval of an unfinished run file."""
    with _open_run(path) as f:
        if f.attrs.get("complete"):
            raise NeurosimError(f"{path}: this run is complete; there is nothing to resume")
        if "checkpoint" not in f:
            raise NeurosimError(f"{path}: no checkpoint to resume from (train with --checkpoint-every N)")
        config = config_from_yaml(f["config"].attrs["chip_yaml"], f["config"].attrs["workload_yaml"], str(path))
        every = f["checkpoint"].attrs["checkpoint_every"]
        if not isinstance(every, np.integer) or every < 0:
            raise NeurosimError(f"{path}: a damaged or edited checkpoint (checkpoint/checkpoint_every: expected a "
                                f"whole number >= 0, got {every!r})")
        return config, load_state(f["checkpoint"]), int(every)
