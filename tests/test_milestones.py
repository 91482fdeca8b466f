"""Milestones of a run (Figs. 4-6) and stopping at the target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import config_with

from neurosim.io.runfile import read_curves, write_run
from neurosim.simulation import Simulation
from neurosim.studies.milestones import median_or_none, milestones, run_milestones


def test_milestones_are_the_first_evaluation_at_or_above_each_threshold() -> None:
    curves = {"iteration": np.array([10, 20, 30, 40]), "test_accuracy": np.array([0.1, 0.45, 0.3, 0.81]),
              "weight_updates": np.array([1, 2, 3, 4]), "write_pulses": np.array([5, 10, 15, 20])}
    m = milestones(curves)
    assert (m["iterations_to_20"], m["iterations_to_40"], m["iterations_to_60"], m["iterations_to_80"]) == (20, 20, 40, 40)
    assert m["updates_to_40"] == 2 and m["write_pulses_to_80"] == 20
    assert m["max_test_accuracy"] == pytest.approx(0.81) and m["final_iteration"] == 40
    assert milestones(curves, (0.9,))["iterations_to_90"] is None


def test_median_counts_runs_that_never_got_there_as_last() -> None:
    assert median_or_none([10, 20, None]) == 20
    assert median_or_none([10, None, None]) is None
    assert median_or_none([]) is None


def test_stop_at_target_ends_the_run_at_the_first_evaluation_reaching_it(tmp_path: Path) -> None:
    """The ledger then holds one training to the target: iterations, updates and write pulses at that point."""
    config = config_with("train.eval_interval=200", "train.target_accuracy=0.8", "train.stop_at_target=true")
    full = Simulation(config_with("train.eval_interval=200", "train.target_accuracy=0.8"), iterations=4000).run()
    target = full.summary.iterations_to_target
    assert target is not None and target < 4000
    stopped = Simulation(config, iterations=4000).run()
    assert stopped.summary.iterations == target and stopped.summary.iterations_planned == 4000
    assert stopped.curves.iteration[-1] == target
    # the same run up to there, so the same ledger at the target
    at = full.curves.iteration.index(target)
    assert stopped.curves.write_pulses[-1] == full.curves.write_pulses[at]
    assert stopped.curves.weight_updates[-1] == full.curves.weight_updates[at] == target  # τθ = 1
    out = tmp_path / "run.h5"
    write_run(out, stopped)
    assert run_milestones(out, (0.8,))["updates_to_80"] == target
    assert list(read_curves(out)["write_pulses"]) == stopped.curves.write_pulses
