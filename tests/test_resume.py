"""Checkpoints and resume: an interrupted and resumed run ends bit-identical to an uninterrupted one."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import REPO, TINY_PARITY, config_with

from neurosim.io.runfile import read_checkpoint, read_curves, read_summary, write_run
from neurosim.results import TrainingSummary
from neurosim.simulation import Simulation


def wear(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        return {name: f["wear"][name][()] for name in f["wear"]}


def same_run(a: TrainingSummary, b: TrainingSummary) -> None:
    # all but the wall time; engine_events included: a resumed run counts the whole run
    assert dataclasses.replace(a, wall_time_s=0.0) == dataclasses.replace(b, wall_time_s=0.0)


def same_json(a: dict, b: dict) -> None:
    """same_run for two summaries as ``--json`` prints them."""
    assert {k: v for k, v in a.items() if k != "wall_time_s"} == {k: v for k, v in b.items() if k != "wall_time_s"}


@pytest.mark.parametrize("sets", [
    (),                                                              # compiled chip mode
    ("chip.weights.device.levels=64", "chip.weights.device.write_noise=0.2", "chip.cost.bits=8",
     "chip.cost.noise=0.001", "mgd.optimizer=adam"),                 # compiled, with the noise streams
    ("mgd.perturbation=backprop", "mgd.tau_theta=3", "mgd.optimizer=momentum"),  # chip mode's backprop, Python
    ("mgd.perturbation=node", "mgd.tau_p=3", "mgd.tau_x=7", "mgd.tau_theta=6",
     "network.kind=layers", "network.layers=[{conv: 2}, pool, {dense: 3}, {dense: classes}]",
     "dataset.name=nist7x7", "dataset.options={train_size: 200, test_size: 50}"),  # a CNN: held pools, node sums
    ("mgd.mode=paper", "mgd.batch_size=8", "mgd.perturbation=node"),  # paper mode
    ("chip.cost.bits=8", "mgd.perturbation=node", "mgd.tau_p=3", "mgd.tau_x=7", "mgd.tau_theta=6"),  # node sums
    # and a perturbation held at 250
    ("chip.weights.device.endurance_cycles=300", "chip.weights.device.endurance_spread=0.3",
     "chip.weights.device.failure_mode=low"),  # devices failing after the checkpoint at 250
    ("mgd.mode=paper", "mgd.batch_size=8", "mgd.tau_x=7", "mgd.tau_p=3", "train.sampling=replacement",
     "loss.label_smoothing=0.01", "mgd.lr_hold_iterations=100"),  # the authors' recipe: a batch held at 250
    ("train.sampling=replacement", "mgd.tau_x=3"),                 # compiled chip mode, drawn with replacement
    # compiled chip mode on realistic devices: pairs with refresh, read and multiplicative write noise, wear
    ("chip.weights.encoding=pair", "chip.weights.refresh_threshold=0.8", "chip.weights.device.levels=74",
     "chip.weights.device.model=exponential", "chip.weights.device.nonlinearity_up=3.17",
     "chip.weights.device.write_noise=0.6", "chip.weights.device.write_noise_model=multiplicative",
     "chip.weights.device.step_variation=0.2", "chip.weights.device.range_variation=0.1",
     "chip.weights.device.read_noise=0.006", "chip.weights.device.endurance_cycles=2000",
     "chip.weights.device.endurance_spread=0.3"),
    # stochastic rounding, soft bounds, row-serial writes, node perturbation with ± baselines
    ("chip.weights.device.levels=200", "chip.weights.device.model=soft_bounds", "chip.weights.write.rounding=stochastic",
     "chip.weights.device.write_noise=0.3", "chip.weights.write.parallelism=row", "chip.crossbar.rows=4",
     "chip.weights.device.read_noise=0.01", "mgd.perturbation=node", "mgd.baseline=antithetic"),
])
def test_resume_in_process_is_bit_identical(tmp_path: Path, sets: tuple[str, ...]) -> None:
    tiny = ("train.eval_size=16",) if any(s.startswith("network.kind") for s in sets) else TINY_PARITY
    config = config_with(*tiny, "train.eval_interval=100", *sets)
    # checkpointed like the resumed run (a compiled stretch ends at every checkpoint: engine_events counts them)
    whole = Simulation(config, iterations=600).run(checkpoint_every=250)
    saved = tmp_path / "partial.h5"

    def stop_here(sim: Simulation) -> None:
        write_run(saved, sim.result(), complete=False, checkpoint=sim.checkpoint(), checkpoint_every=250)
        if sim.done >= 250:
            raise KeyboardInterrupt  # as if killed right after this checkpoint

    with pytest.raises(KeyboardInterrupt):
        Simulation(config, iterations=600).run(checkpoint_every=250, on_checkpoint=stop_here)
    restored_config, state, every = read_checkpoint(saved)
    assert every == 250 and state["done"] == 250
    resumed = Simulation(restored_config, seed=state["seed"], iterations=state["iterations"])
    resumed.restore(state)
    result = resumed.run(checkpoint_every=every)
    same_run(whole.summary, result.summary)
    assert whole.curves.test_accuracy == result.curves.test_accuracy
    assert whole.curves.train_cost == result.curves.train_cost
    for x, y in zip(whole.wear, result.wear):
        assert np.array_equal(x, y)


def checkpoint_of_interrupted_run(config, iterations: int, at: int) -> dict:
    """The in-memory checkpoint of a run killed right after its first checkpoint, at cycle ``at``."""
    saved: dict = {}

    def stop_here(sim: Simulation) -> None:
        saved.update(sim.checkpoint())
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Simulation(config, iterations=iterations).run(checkpoint_every=at, on_checkpoint=stop_here)
    return saved


def test_a_checkpoint_from_before_the_sign_words_resumes_bit_identical() -> None:
    """Compiled chip-mode checkpoints once held θ and 14 float scalars; the kernels now keep the hashes the
    signs came from and one more scalar. Such a checkpoint still resumes exactly (toggles included)."""
    from neurosim.kernels import chipmode as k
    config = config_with(*TINY_PARITY, "train.eval_interval=100", "mgd.tau_p=3", "mgd.tau_theta=2")
    whole = Simulation(config, iterations=600).run()
    state = checkpoint_of_interrupted_run(config, 600, 300)
    assert state["done"] == 300
    procedure = dict(state["procedure"])
    assert procedure.pop("sign_words").any()
    procedure["theta"] = procedure["signs"] * np.float32(config.workload.mgd.amplitude)
    procedure["fs"] = procedure["fs"][:k.F_HEADROOM]
    state["procedure"] = procedure
    resumed = Simulation(config, iterations=600)
    resumed.restore(state)
    result = resumed.run()
    same_run(whole.summary, result.summary)
    assert whole.curves.train_cost == result.curves.train_cost


def test_one_checkpoint_restored_twice_resumes_the_same_way_twice() -> None:
    """Restoring copies the state: a resumed run must not write into the checkpoint it came from (the held
    node sums, the failed-device flags of the chip)."""
    config = config_with(*TINY_PARITY, "train.eval_interval=100", "chip.cost.bits=8", "mgd.perturbation=node",
                         "mgd.tau_x=7", "mgd.tau_theta=6")
    saved = checkpoint_of_interrupted_run(config, 600, 250)
    assert saved["procedure"]["node_sums"].any()
    results = []
    for _ in range(2):
        resumed = Simulation(config, iterations=600)
        resumed.restore(saved)
        results.append(resumed.run())
    same_run(results[0].summary, results[1].summary)
    assert results[0].curves.train_cost == results[1].curves.train_cost


def neurosim(*args: str) -> list[str]:
    return [sys.executable, "-m", "neurosim.cli", *args]


@pytest.mark.parametrize("chip", ["reram.yaml", "pcm.yaml"])
def test_killed_with_sigkill_then_resumed_matches_an_uninterrupted_run(tmp_path: Path, chip: str) -> None:
    """The real thing: a process killed at a random moment after its first checkpoint, then resumed (both
    chips run chip mode compiled, their device state in the kernels' flat arrays)."""
    args = ["train", str(REPO / "chips" / chip), str(REPO / "workloads/nist7x7.yaml"), "--iterations", "100000",
            "--set", "train.eval_interval=10000", "--set", "train.eval_size=200", "--checkpoint-every", "10000",
            "--json", "--quiet"]
    whole = tmp_path / "whole.h5"
    done = subprocess.run(neurosim(*args, "--out", str(whole)), capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    expected = json.loads(done.stdout)
    killed = tmp_path / "killed.h5"
    proc = subprocess.Popen(neurosim(*args, "--out", str(killed)), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if killed.exists():
            try:
                with h5py.File(killed) as f:
                    if "checkpoint" in f:
                        break
            except OSError:
                pass
        time.sleep(0.02)
    time.sleep(float(np.random.default_rng().uniform(0, 0.5)))  # somewhere later, maybe mid-write
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be killed (machine too fast for this timing)")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not read_summary(killed) is None  # the file survived the kill, readable
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".killed")]
    for p in leftovers:  # a temporary file the kill interrupted may remain; the run file itself is intact
        p.unlink()
    resumed = subprocess.run(neurosim("train", "--resume", str(killed), "--json", "--quiet"), capture_output=True,
                             text=True, cwd=REPO, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    same_json(expected, json.loads(resumed.stdout))
    assert {k: list(v) for k, v in read_curves(whole).items()} == {k: list(v) for k, v in read_curves(killed).items()}
    for (name, a), b in zip(wear(whole).items(), wear(killed).values()):
        assert np.array_equal(a, b), name
    with h5py.File(killed) as f:
        assert f.attrs["complete"] and "checkpoint" not in f


def test_resume_refuses_complete_runs_and_runs_without_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    proc = subprocess.run(neurosim("train", "chips/reference.yaml", "workloads/nist7x7.yaml", "--iterations", "500",
                                   "--out", str(path), "--quiet"), capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    again = subprocess.run(neurosim("train", "--resume", str(path)), capture_output=True, text=True, cwd=REPO)
    assert again.returncode == 2 and "complete" in again.stderr and "Traceback" not in again.stderr
    bad = subprocess.run(neurosim("train", "--resume", str(path), "--seed", "3"), capture_output=True, text=True,
                         cwd=REPO)
    assert bad.returncode == 2 and "--resume takes" in bad.stderr


def test_estimate_from_refuses_unfinished_runs_and_other_configs(tmp_path: Path) -> None:
    config = config_with(*TINY_PARITY, "train.eval_interval=100")
    sim = Simulation(config, iterations=300)
    path = tmp_path / "partial.h5"

    def stop(running: Simulation) -> None:
        write_run(path, running.result(), complete=False, checkpoint=running.checkpoint(), checkpoint_every=100)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sim.run(checkpoint_every=100, on_checkpoint=stop)
    proc = subprocess.run(neurosim("estimate", "chips/reference.yaml", "workloads/nist7x7.yaml", "--from", str(path)),
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "unfinished run" in proc.stderr
    done = tmp_path / "done.h5"
    write_run(done, Simulation(config, iterations=200).run())
    other = subprocess.run(neurosim("estimate", "chips/pcm.yaml", "workloads/nist7x7.yaml", "--from", str(done)),
                           capture_output=True, text=True, cwd=REPO)
    assert other.returncode == 2 and "not of nist7x7 on pcm" in other.stderr


def test_a_damaged_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    config = config_with(*TINY_PARITY, "train.eval_interval=100")
    path = tmp_path / "partial.h5"

    def stop(running: Simulation) -> None:
        write_run(path, running.result(), complete=False, checkpoint=running.checkpoint(), checkpoint_every=100)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Simulation(config, iterations=300).run(checkpoint_every=100, on_checkpoint=stop)
    with h5py.File(path, "a") as f:
        del f["checkpoint"]["procedure"]
    proc = subprocess.run(neurosim("train", "--resume", str(path)), capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "damaged checkpoint" in proc.stderr and "Traceback" not in proc.stderr
