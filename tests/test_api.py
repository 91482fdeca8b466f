"""The Python API as the README shows it: load, simulate, read results, resume."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest
from conftest import REPO

import neurosim


def test_readme_snippet(tmp_path: Path) -> None:
    config = neurosim.load(REPO / "chips/reference.yaml", REPO / "workloads/nist7x7.yaml",
                           sets=["mgd.tau_theta=10", "train.eval_interval=500"])
    out = tmp_path / "run.h5"
    result = neurosim.train(config, seed=1, iterations=2000, out=out, checkpoint_every=1000)
    run = neurosim.open_run(out)
    assert run.summary.test_accuracy == result.summary.test_accuracy
    assert run.summary.events == result.summary.events
    assert list(run.curves["iteration"]) == [500, 1000, 1500, 2000]
    assert run.curves["test_accuracy"][-1] == result.summary.test_accuracy
    assert run.summary.tau_theta == 10 and run.summary.seed == 1
    with h5py.File(out) as f:
        assert f["config"]["workload"].attrs["mgd.tau_theta"] == 10
        assert f["config"]["workload"].attrs["train.seed"] == 1          # the value the run used
        assert f["config"]["chip"].attrs["weights.device.endurance_cycles"] == 1e9
        assert f.attrs["numba_version"] and f.attrs["complete"]
        assert len(f["curves"]["energy_weight_writes_j"]) == 4
        assert f["curves"]["energy_j"][-1] == pytest.approx(sum(
            f["curves"][f"energy_{c}_j"][-1] for c in ("mac_reads", "perturbation_toggles", "cost_evaluations",
                                                       "bus_broadcasts", "accumulator_updates", "weight_writes")))


def test_describe_from_python() -> None:
    info = neurosim.describe(neurosim.load(REPO / "chips/reference.yaml", REPO / "workloads/fashion-cnn.yaml",
                                           sets=["network.width=48"]))
    assert info["parameters"] == 1014874 and info["perturbed_nodes"] == 132106
