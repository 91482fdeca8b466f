"""Tests of ``neurosim sweep``: a tiny grid x seeds sweep on a local process pool and on a local Dask cluster
gives the same results, each row agrees with its run file and with a direct training run, finished runs are
never redone, and every bad sweep file fails before anything runs with one line naming the file and key.

The sweep is 2 values of ``mgd.tau_theta`` x 2 seeds of 200 iterations of 4-bit parity (TINY_PARITY);
the local run is made once per module and copied where a test changes its folder.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from conftest import REPO, TINY_PARITY, call_cli, config_with

from neurosim.results import json_safe
from neurosim import cli
from neurosim.io.runfile import read_curves, read_summary
from neurosim.sweep import (
    RESULT_KEYS,
    _pool_context,
    load_sweep,
    plan_sweep,
    run_sweep,
    thread_settings,
)

ITERATIONS = 200
TAUS = [1, 10]
SEEDS = 2
FIXED = [*TINY_PARITY, "train.eval_interval=50"]
DETERMINISTIC = [k for k in RESULT_KEYS if k != "wall_time_s"]


def sweep_text(tmp: Path, **changes: object) -> str:
    """The tiny sweep file's text, chip and workload relative to the sweep file's folder."""
    data: dict[str, object] = {
        "chip": os.path.relpath(REPO / "chips" / "reference.yaml", tmp),
        "workload": os.path.relpath(REPO / "workloads" / "nist7x7.yaml", tmp),
        "iterations": ITERATIONS,
        "seeds": SEEDS,
        "grid": {"mgd.tau_theta": TAUS},
        "sets": FIXED,
        "out": "out",
    }
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}
    return json.dumps(data, indent=1)  # JSON is YAML


def write_sweep(folder: Path, name: str = "sweep.yaml", **changes: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(sweep_text(folder, **changes), encoding="utf-8")
    return path


def call(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    return call_cli(capsys, *args)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """The sweep run once on a local pool of 2 processes: (output folder, rows)."""
    folder = tmp_path_factory.mktemp("sweep")
    spec = write_sweep(folder)
    rows = run_sweep(spec, None, 2, None)
    return folder / "out", rows


def copy_of(out: Path, folder: Path) -> Path:
    """The finished sweep in another folder (its own sweep file, a copy of the output): the sweep file."""
    spec = write_sweep(folder)
    shutil.copytree(out, folder / "out")
    return spec


def test_a_finished_run_of_another_version_is_neither_reused_nor_replaced(
        capsys: pytest.CaptureFixture, local: tuple[Path, list[dict]], tmp_path: Path) -> None:
    """A finished run file whose summary has other fields (another version wrote it) stops the sweep with an
    error naming it; the sweep must not take it for unfinished and train over the finished run."""
    import h5py

    out, rows = local
    spec = copy_of(out, tmp_path / "copy")
    foreign = tmp_path / "copy" / "out" / rows[0]["run_file"]
    with h5py.File(foreign, "r+") as f:
        stored = json.loads(f["summary"].attrs["json"])
        del stored["engine_path"]
        f["summary"].attrs["json"] = json.dumps(stored)
    before = foreign.read_bytes()
    code, _, err = call(capsys, "sweep", spec, "--workers", "1")
    assert code == 2 and str(foreign) in err and "missing engine_path" in err and "another version" in err
    assert foreign.read_bytes() == before


def deterministic(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in rows]


def test_grid_times_seeds_in_order(local: tuple[Path, list[dict]]) -> None:
    out, rows = local
    assert [(r["mgd.tau_theta"], r["seed"]) for r in rows] == [(t, s) for t in TAUS for s in range(SEEDS)]
    assert len({r["run_id"] for r in rows}) == len(rows)
    assert sorted(p.name for p in out.glob("*.h5")) == sorted(f"{r['run_id']}.h5" for r in rows)
    for row in rows:
        assert row["run_id"].startswith(f"tau_theta={row['mgd.tau_theta']}_seed={row['seed']}-")
        summary = read_summary(out / row["run_file"])
        assert summary.tau_theta == row["mgd.tau_theta"]
        assert summary.seed == row["seed"]
        assert summary.iterations == ITERATIONS
        for key in RESULT_KEYS:
            assert row[key] == getattr(summary, key), key
    # different settings really are different runs
    assert len({(r["energy_j"], r["weight_writes_total"]) for r in rows if r["seed"] == 0}) == len(TAUS)


def test_results_files_hold_the_rows(local: tuple[Path, list[dict]]) -> None:
    out, rows = local
    assert json.loads((out / "results.json").read_text()) == json_safe(rows)
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows)
    for line, row in zip(table, rows):
        assert list(line) == list(row)
        assert line["run_id"] == row["run_id"]
        assert int(line["mgd.tau_theta"]) == row["mgd.tau_theta"]
        assert float(line["energy_j"]) == row["energy_j"]
        assert float(line["test_accuracy"]) == row["test_accuracy"]
        assert line["iterations_to_target"] == ("" if row["iterations_to_target"] is None
                                                else str(row["iterations_to_target"]))
    assert not list(out.glob(".*.tmp")), "temporary files left behind"


def test_a_row_is_the_run_it_names(local: tuple[Path, list[dict]]) -> None:
    """The sweep trains exactly what a direct run with the same settings trains."""
    import neurosim

    out, rows = local
    row = rows[-1]
    direct = neurosim.train(config_with(*FIXED, f"mgd.tau_theta={row['mgd.tau_theta']}"), seed=row["seed"],
                            iterations=ITERATIONS).summary.as_dict()
    for key in DETERMINISTIC:
        assert direct[key] == row[key], key


def test_rerun_redoes_nothing_and_resumes(local: tuple[Path, list[dict]], tmp_path: Path) -> None:
    out, rows = local
    folder = tmp_path / "copy"
    spec = copy_of(out, folder)
    files = sorted((folder / "out").glob("*.h5"))
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    events: list[tuple[str, str]] = []
    again = run_sweep(spec, None, 2, None, progress=lambda event, run, _: events.append((event, run.run_id)))
    assert again == rows  # wall times included: nothing was run, the summaries come from the files
    assert sorted(events) == sorted(("reused", r["run_id"]) for r in rows)
    assert {p: p.stat().st_mtime_ns for p in files} == mtimes

    # a missing run and a damaged one are run again; the others are not touched
    missing, damaged = folder / "out" / rows[0]["run_file"], folder / "out" / rows[3]["run_file"]
    missing.unlink()
    damaged.write_bytes(b"not an HDF5 file")
    events.clear()
    resumed = run_sweep(spec, None, 2, None, progress=lambda event, run, _: events.append((event, run.run_id)))
    assert sorted(e for e in events if e[0] == "done") == sorted([("done", rows[0]["run_id"]),
                                                                  ("done", rows[3]["run_id"])])
    assert deterministic(resumed) == deterministic(rows)
    for p in files:
        if p not in (missing, damaged):
            assert p.stat().st_mtime_ns == mtimes[p]


def test_an_interrupted_checkpointed_run_resumes_where_it_stopped(local: tuple[Path, list[dict]], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """checkpoint_every: a run the sweep was interrupted in goes on from its last checkpoint, bit-identically
    (the run file's name holds the hash of its config, seed and length), rather than starting again."""
    from neurosim import api, sweep

    out, rows = local
    spec = load_sweep(write_sweep(tmp_path, checkpoint_every=50))
    run = plan_sweep(spec, tmp_path / "out")[1]
    assert run.checkpoint_every == 50 and run.run_id == rows[1]["run_id"]  # not part of the run's identity
    run.path.parent.mkdir(parents=True)

    def interrupt(update: dict) -> None:
        if update["iteration"] >= 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # as a killed sweep leaves it: its last checkpoint at iteration 50
        api.train(run.config, seed=run.seed, iterations=run.iterations, out=run.path, checkpoint_every=50,
                  progress=interrupt, identity=run.run_id)
    assert read_curves(run.path)["iteration"][-1] == 50

    def no_fresh_start(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sweep started the interrupted run again")

    from neurosim.io import runfile

    reads: list[object] = []

    def counted(path: object) -> object:  # the checkpoint (a model's whole state) is read once, not per check
        reads.append(path)
        return real_read(path)

    real_train, real_read = api.train, runfile.read_checkpoint
    monkeypatch.setattr(api, "train", no_fresh_start)
    monkeypatch.setattr(api, "read_checkpoint", counted)
    monkeypatch.setattr(runfile, "read_checkpoint", counted)
    summary = sweep.train_run(run.config, run.seed, run.iterations, str(run.path), None, run.checkpoint_every,
                              run.run_id)
    finished = out / rows[1]["run_file"]
    assert dataclasses.replace(summary, wall_time_s=0.0) == \
        dataclasses.replace(read_summary(finished), wall_time_s=0.0)
    ours, theirs = read_curves(run.path), read_curves(finished)
    assert ours.keys() == theirs.keys() and all((ours[k] == theirs[k]).all() for k in ours)
    assert len(reads) == 1

    # another run's checkpoint at that path (another seed) is never resumed: the run starts afresh
    monkeypatch.setattr(api, "train", real_train)
    with pytest.raises(KeyboardInterrupt):
        api.train(run.config, seed=run.seed + 5, iterations=run.iterations, out=run.path, checkpoint_every=50,
                  progress=interrupt, identity="another-run", force=True)
    summary = sweep.train_run(run.config, run.seed, run.iterations, str(run.path), None, run.checkpoint_every,
                              run.run_id)
    assert summary.seed == run.seed and summary.iterations == run.iterations
    assert (read_curves(run.path)["test_accuracy"] == theirs["test_accuracy"]).all()


def test_ids_follow_the_settings(tmp_path: Path) -> None:
    """Same sweep file, same ids; a changed fixed set or iteration count gives new ids (no stale reuse)."""
    base = [r.run_id for r in plan_sweep(load_sweep(write_sweep(tmp_path / "a")), tmp_path)]
    assert base == [r.run_id for r in plan_sweep(load_sweep(write_sweep(tmp_path / "b")), tmp_path)]
    changed_sets = plan_sweep(load_sweep(write_sweep(tmp_path / "c", sets=[*FIXED, "mgd.learning_rate=0.01"])),
                              tmp_path)
    changed_its = plan_sweep(load_sweep(write_sweep(tmp_path / "d", iterations=300)), tmp_path)
    for plan in (changed_sets, changed_its):
        assert not {r.run_id for r in plan} & set(base)
    seeds = plan_sweep(load_sweep(write_sweep(tmp_path / "e", seeds=[5, 7], grid=None)), tmp_path)
    assert [r.seed for r in seeds] == [5, 7] and [r.settings for r in seeds] == [{}, {}]
    default_seed = plan_sweep(load_sweep(write_sweep(tmp_path / "f", seeds=None, grid=None)), tmp_path)
    assert [r.seed for r in default_seed] == [config_with(*FIXED).workload.train.seed]


def test_example_sweep_file_is_valid() -> None:
    spec = load_sweep(REPO / "workloads" / "sweep-example.yaml")
    plan = plan_sweep(spec, spec.out)
    grid = dict(spec.grid)
    assert len(plan) == len(spec.seeds) * len(grid["mgd.tau_theta"]) * len(grid["chip.weights.device.endurance_cycles"])
    assert len({r.run_id for r in plan}) == len(plan)
    assert spec.out.resolve() == (REPO / "runs" / "sweep-example").resolve()
    # 1e4 is a string to PyYAML (YAML 1.1); the sweep reads it as the number it looks like
    assert grid["chip.weights.device.endurance_cycles"] == (1e4, 1e6)
    assert {r.config.chip.weights.device.endurance_cycles for r in plan} == {1e4, 1e6}
    assert plan[0].run_id.startswith("tau_theta=1_endurance_cycles=10000_seed=0-")


@pytest.mark.parametrize("changes, fragments", [
    ({"chip": None}, ["chip", "missing"]),
    ({"chip": "nowhere.yaml"}, ["chip", "file not found", "nowhere.yaml"]),
    ({"sweeps": 3}, ["sweeps", "unknown key"]),
    ({"iterations": 0}, ["iterations", "whole number from 1"]),
    ({"iterations": 2 ** 60}, ["iterations", "whole number from 1"]),
    ({"seeds": 0}, ["seeds", ">= 1"]),
    ({"seeds": [0, -1]}, ["seeds[1]", "whole number from 0"]),
    ({"seeds": [1, 1]}, ["seeds", "twice"]),
    ({"seeds": "three"}, ["seeds"]),
    ({"grid": {"mgd.tau_theta": 10}}, ["grid.mgd.tau_theta", "list"]),
    ({"grid": {"mgd.tau_theta": []}}, ["grid.mgd.tau_theta", "non-empty list"]),
    ({"grid": [1, 2]}, ["grid", "mapping"]),
    ({"grid": {"mgd.tau_thta": [1, 10]}}, ["grid.mgd.tau_thta", "value 1"]),
    ({"grid": {"mgd.tau_theta": [1, 0]}}, ["grid.mgd.tau_theta", "value 0"]),
    ({"grid": {"chip.clock": ["1 MHz", "fast"]}}, ["grid.chip.clock", "'fast'"]),
    ({"grid": {"train.eval_interval": [10, 20]}}, ["grid.train.eval_interval", "sets[5]"]),
    ({"grid": {"train.seed": [1, 2]}}, ["grid.train.seed", "seeds"]),
    ({"sets": ["nonsense"]}, ["sets[0]", "KEY=VALUE"]),
    ({"sets": [*FIXED, "network.hidden=lots"]}, ["sets[6]", "network.hidden=lots"]),
    ({"sets": "train.eval_interval=50"}, ["sets", "list"]),
    ({"out": None}, ["out", "--out"]),
    ({"checkpoint_every": 0}, ["checkpoint_every", ">= 1"]),
    ({"checkpoint_every": "often"}, ["checkpoint_every", "whole number"]),
])
def test_bad_sweep_files(capsys: pytest.CaptureFixture, tmp_path: Path, changes: dict,
                         fragments: list[str]) -> None:
    spec = write_sweep(tmp_path, **changes)
    code, out, err = call(capsys, "sweep", spec)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"neurosim: error: {spec}: "), err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} missing from {lines[0]!r}"
    assert not (tmp_path / "out").exists(), "nothing may run (or be created) before every run is checked"


def test_malformed_and_missing_sweep_files(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: [\n")
    code, _, err = call(capsys, "sweep", bad)
    assert code == 2 and f"{bad}: malformed YAML" in err and len(err.strip().splitlines()) == 1
    code, _, err = call(capsys, "sweep", tmp_path / "none.yaml")
    assert code == 2 and "none.yaml: file not found" in err
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    code, _, err = call(capsys, "sweep", listed)
    assert code == 2 and "expected a sweep file" in err
    code, _, err = call(capsys, "sweep", write_sweep(tmp_path), "--workers", "0")
    assert code == 2 and "--workers" in err


def test_command_prints_table_and_json(capsys: pytest.CaptureFixture, local: tuple[Path, list[dict]],
                                       tmp_path: Path) -> None:
    out, rows = local
    spec = copy_of(out, tmp_path / "copy")
    code, text, err = call(capsys, "sweep", spec)
    assert code == 0, err
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["tau_theta", "seed", "test", "acc"]
    for row, line in zip(rows, lines[2:]):
        cells = line.split()
        assert cells[:3] == [str(row["mgd.tau_theta"]), str(row["seed"]), f"{row['test_accuracy']:.4f}"]
        assert cells[-1] == row["run_id"]
    assert "results.csv" in text
    assert err.count("reused") == len(rows)
    code, text, _ = call(capsys, "sweep", spec, "--json", "--out", tmp_path / "copy" / "out")
    assert code == 0
    assert json.loads(text) == json_safe(rows)


def test_pool_workers_are_single_threaded() -> None:
    with ProcessPoolExecutor(max_workers=1, mp_context=_pool_context()) as pool:
        settings = pool.submit(thread_settings).result()
    assert settings == {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                        "MKL_NUM_THREADS": "1", "numba_threads": 1}


def test_dask_cluster_gives_the_local_results(local: tuple[Path, list[dict]], tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed",
                                      reason="dask.distributed is not installed: pip install 'dask[distributed]'")
    out, rows = local
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster.scheduler_address) as client:
            for settings in client.run(thread_settings).values():
                assert settings["OPENBLAS_NUM_THREADS"] == "1" and settings["numba_threads"] == 1
        remote = run_sweep(out.parent / "sweep.yaml", tmp_path / "dask", None, cluster.scheduler_address)
    assert deterministic(remote) == deterministic(rows)
    for row in rows:
        mine, theirs = read_curves(out / row["run_file"]), read_curves(tmp_path / "dask" / row["run_file"])
        assert mine.keys() == theirs.keys()
        for name in mine:
            assert mine[name].tolist() == theirs[name].tolist(), name


def test_unreachable_scheduler(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                               tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed", reason="dask.distributed is not installed")
    import neurosim.sweep

    monkeypatch.setattr(neurosim.sweep, "SCHEDULER_TIMEOUT_S", 1)
    code, _, err = call(capsys, "sweep", write_sweep(tmp_path), "--scheduler", "tcp://127.0.0.1:9")
    assert code == 2 and "--scheduler tcp://127.0.0.1:9: cannot connect" in err
    assert not list((tmp_path / "out").glob("*.h5"))
