"""Hostile tests of the eighth session's features: the sweep's checkpoint_every (resuming only a run's own
checkpoint), atomic writes, and tools/fig4_recipe.py. Each test fails on the code it was written against
and names, in its docstring, what a user sees.

Tiny runs only: 4-bit parity (TINY_PARITY) of 200 iterations on chips/reference.yaml, in-process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import REPO, TINY_PARITY, call_cli

from neurosim import api, sweep
from neurosim.errors import ConfigError, NeurosimError
from neurosim.io import atomic
from neurosim.io.runfile import read_curves, read_identity

ITERATIONS = 200
FIXED = [*TINY_PARITY, "train.eval_interval=50"]


def write_sweep(folder: Path, **changes: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data: dict[str, object] = {
        "chip": os.path.relpath(REPO / "chips" / "reference.yaml", folder),
        "workload": os.path.relpath(REPO / "workloads" / "nist7x7.yaml", folder),
        "iterations": ITERATIONS, "seeds": 1, "grid": {"mgd.tau_theta": [1]}, "sets": FIXED, "out": "out",
    }
    data.update(changes)
    path = folder / "sweep.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def planned_run(tmp_path: Path, every: int = 50) -> sweep.PlannedRun:
    spec = sweep.load_sweep(write_sweep(tmp_path, checkpoint_every=every))
    run = sweep.plan_sweep(spec, tmp_path / "out")[0]
    run.path.parent.mkdir(parents=True, exist_ok=True)
    return run


def interrupt_at(iteration: int):
    def progress(update: dict) -> None:
        if update["iteration"] >= iteration:
            raise KeyboardInterrupt
    return progress


def interrupted_checkpoint(run: sweep.PlannedRun, *, identity: str | None, at: int = 100) -> None:
    """The run file a sweep interrupted at ``at`` leaves (its last checkpoint before that)."""
    with pytest.raises(KeyboardInterrupt):
        api.train(run.config, seed=run.seed, iterations=run.iterations, out=run.path,
                  checkpoint_every=run.checkpoint_every, progress=interrupt_at(at), identity=identity, force=True)


# ---- 1. the sweep's checkpoint_every ------------------------------------------------------------------

def test_a_sweep_never_replaces_an_older_checkpoint_silently(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A user upgrades neurosim in the middle of a long checkpointed sweep (the run files of commit 9f33939
    have no ``identity`` attribute) and runs the same sweep again: the interrupted run is trained again from
    iteration 0 and its checkpoint is overwritten without one word on stderr. The commit says "another file
    at the path ... is trained afresh with a warning", and the rules say no output is replaced silently:
    train_run (neurosim/sweep.py:344-351) only warns when a resume fails, never when _resumable says no."""
    run = planned_run(tmp_path)
    interrupted_checkpoint(run, identity=None)          # an older version's checkpoint: no identity
    assert read_curves(run.path)["iteration"][-1] == 50
    caplog.set_level(logging.INFO, logger="neurosim")
    sweep.train_run(run.config, run.seed, run.iterations, str(run.path), None, run.checkpoint_every, run.run_id)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings, "the checkpoint at iteration 50 was replaced by a fresh run with no warning"


def test_a_sweep_does_not_resume_a_checkpoint_whose_config_was_edited(tmp_path: Path) -> None:
    """A run file keeps the sweep's run id (the hash of config, seed and length), but the sweep never checks
    that the config stored beside the checkpoint is the one hashed: a checkpoint whose /config workload_yaml
    was edited (here mgd.amplitude and train.eval_interval) is resumed with the edited config, and the result
    - other curves, another final cost - is written into results.csv as the planned run and reused by every
    later sweep. _resumable (neurosim/sweep.py:356-368) compares only the identity attribute; api.resume
    (neurosim/api.py:48-57) trains whatever config the file holds."""
    run = planned_run(tmp_path)
    reference = api.train(run.config, seed=run.seed, iterations=run.iterations)
    interrupted_checkpoint(run, identity=run.run_id)
    with h5py.File(run.path, "r+") as f:
        workload = yaml.safe_load(f["config"].attrs["workload_yaml"])
        workload["mgd"]["amplitude"] = 0.1
        workload["train"]["eval_interval"] = 25
        f["config"].attrs["workload_yaml"] = yaml.safe_dump(workload, sort_keys=False)
    summary = sweep.train_run(run.config, run.seed, run.iterations, str(run.path), None, run.checkpoint_every,
                              run.run_id)
    assert read_curves(run.path)["iteration"].tolist() == list(reference.curves.iteration)
    assert summary.final_train_cost == reference.summary.final_train_cost


def test_train_resume_keeps_the_sweeps_run_id(tmp_path: Path, capsys: pytest.CaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """README: continue an interrupted run with ``neurosim train --resume RUN.h5``. Done on a sweep's run
    file, the rewritten file loses the sweep's run id (cmd_train calls run_simulation without identity,
    neurosim/cli.py:218), so if that resume is interrupted too, the next ``neurosim sweep`` does not
    recognise its own run and trains it again from iteration 0 (silently, see the test above): a day of a
    Fig. 4 run thrown away."""
    run = planned_run(tmp_path)
    interrupted_checkpoint(run, identity=run.run_id)
    assert read_identity(run.path) == run.run_id
    real = api.run_simulation

    def interrupted(sim, *, out=None, checkpoint_every=None, progress=None, identity=None):
        return real(sim, out=out, checkpoint_every=checkpoint_every, progress=interrupt_at(150), identity=identity)

    monkeypatch.setattr(api, "run_simulation", interrupted)
    code, _, _ = call_cli(capsys, "train", "--resume", run.path, "--quiet")
    assert code != 0 and read_curves(run.path)["iteration"][-1] == 100   # interrupted after its checkpoint at 100
    assert read_identity(run.path) == run.run_id, "the sweep's run id is gone from the run file"


@pytest.mark.parametrize("changes, key", [({"iterations": 10**20}, "iterations"),
                                          ({"seeds": [10**20]}, "seeds[0]")])
def test_sweep_lengths_and_seeds_are_bounded_like_the_commands(tmp_path: Path, changes: dict, key: str) -> None:
    """``neurosim train --iterations/--seed`` refuse values above 2**53 (they overflow kernels and HDF5
    attributes), but a sweep file's ``iterations: 100000000000000000000`` or ``seeds: [100000000000000000000]``
    passes load_sweep (neurosim/sweep.py:139 and 153 check only the lower bound): the run starts, and
    its first run-file write dies in h5py with "TypeError: Object dtype dtype('O') has no native HDF5
    equivalent", a traceback through the worker pool, instead of one line naming the sweep file and key."""
    with pytest.raises(ConfigError) as info:
        sweep.load_sweep(write_sweep(tmp_path, checkpoint_every=50, **changes))
    assert key in str(info.value)


# ---- 2. atomic writes ---------------------------------------------------------------------------------

def test_an_atomic_write_does_not_clear_the_umask_of_other_threads(tmp_path: Path) -> None:
    """replacing() reads the umask by setting it to 0 and back (neurosim/io/atomic.py:40-41). The umask is
    the process's, so any file another thread creates in between (a Dask worker runs several train_run tasks
    as threads; any host program's threads) is created world-writable (0o666 under umask 022)."""
    old_umask = os.umask(0o022)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    done = threading.Event()
    modes: set[int] = set()

    def other_thread() -> None:
        k = 0
        while not done.is_set():
            path = tmp_path / f"other{k % 20}.txt"
            path.unlink(missing_ok=True)
            with open(path, "w"):
                pass
            modes.add(path.stat().st_mode & 0o777)
            k += 1

    thread = threading.Thread(target=other_thread)
    try:
        thread.start()
        for _ in range(20000):
            atomic.write_text(tmp_path / "results.csv", "x\n")
            if 0o666 in modes:
                break
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(old_interval)
        os.umask(old_umask)
    assert modes == {0o644}, f"another thread's files got modes {sorted(map(oct, modes))} under umask 022"


def test_a_sweep_whose_results_table_cannot_be_written_fails_before_training(tmp_path: Path) -> None:
    """``<out>/results.csv`` that cannot be replaced (here a folder of that name; equally a read-only
    results.json) is found only when the first run has finished: execute_runs (neurosim/sweep.py:521-531)
    checks the output folder and removes stale temporaries of the tables but never whether they can be
    written, so the error "results.csv: cannot write the file (Is a directory)" comes hours into a long
    sweep, from finished() (neurosim/sweep.py:556), and stops every run still going with it."""
    spec = write_sweep(tmp_path, seeds=2)
    (tmp_path / "out" / "results.csv" / "keep").mkdir(parents=True)
    with pytest.raises(NeurosimError, match="results.csv"):
        sweep.run_sweep(spec, None, 1, None)
    trained = sorted(p.name for p in (tmp_path / "out").glob("*.h5"))
    assert trained == [], f"the error came only after training {trained}"


# ---- 4. tools/fig4_recipe.py --------------------------------------------------------------------------

def _fig4_recipe(*args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "tools" / "fig4_recipe.py"), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


@pytest.fixture(scope="module")
def finished_run_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import config_with

    path = tmp_path_factory.mktemp("fig4") / "run.h5"
    api.train(config_with(*FIXED), seed=1, iterations=ITERATIONS, out=path)
    return path


def test_fig4_recipe_names_a_damaged_run_file_without_a_traceback(tmp_path: Path, finished_run_file: Path) -> None:
    """One truncated file among the runs (a copy cut short, a disk that filled) and the tool dies with a
    Python traceback ending in NeurosimError: our_runs (tools/fig4_recipe.py:41) reads every file with
    read_stored_run and main() catches nothing; no table, no plot for the good runs either."""
    folder = tmp_path / "runs" / "fig4-node-d1"
    folder.mkdir(parents=True)
    (folder / "good.h5").write_bytes(finished_run_file.read_bytes())
    (folder / "truncated.h5").write_bytes(finished_run_file.read_bytes()[:3000])
    result = _fig4_recipe("--runs", tmp_path / "runs", "--results", tmp_path / "results")
    assert "Traceback" not in result.stderr, result.stderr[-600:]
    assert "truncated.h5" in result.stderr


def test_fig4_recipe_with_a_results_path_it_cannot_write(tmp_path: Path, finished_run_file: Path) -> None:
    """``--results`` naming a file (or any folder it cannot write in) gives a FileExistsError traceback from
    path.parent.mkdir in tools/_figures.py:93 (write_csv), not one line naming the path."""
    folder = tmp_path / "runs" / "fig4-weight-d1"
    folder.mkdir(parents=True)
    (folder / "good.h5").write_bytes(finished_run_file.read_bytes())
    (tmp_path / "results").write_text("not a folder")
    result = _fig4_recipe("--runs", tmp_path / "runs", "--results", tmp_path / "results")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-600:]


@pytest.mark.parametrize("script, folder", [("fig5_recipe", "fig5-weight-d2-adam"), ("fig6_recipe", "fig6-adam-d2")])
def test_the_fig5_and_fig6_recipes_tabulate_good_runs_and_name_a_damaged_one(tmp_path: Path, finished_run_file: Path,
                                                                         script: str, folder: str) -> None:
    """tools/fig5_recipe.py and fig6_recipe.py read their runs as fig4_recipe.py does: a good run is tabulated,
    and a truncated file among them is named in one line, exit status 2, nothing written."""
    runs = tmp_path / "runs" / folder
    runs.mkdir(parents=True)
    (runs / "good.h5").write_bytes(finished_run_file.read_bytes())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(REPO / "tools" / f"{script}.py"), "--runs", str(tmp_path / "runs"),
               "--results", str(tmp_path / "results")]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-600:]
    table_rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table_rows) == 2 and (tmp_path / "results" / f"{script}.csv").exists()  # the header and the run
    (runs / "truncated.h5").write_bytes(finished_run_file.read_bytes()[:3000])
    (tmp_path / "results" / f"{script}.csv").unlink()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr, result.stderr[-600:]
    assert "truncated.h5" in result.stderr
    assert not (tmp_path / "results" / f"{script}.csv").exists()