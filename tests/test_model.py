"""The built model: every open value resolved once, and read alike by the engine, the summary, estimate
and the run file."""

from __future__ import annotations

from pathlib import Path

import h5py
import yaml
from conftest import TINY_PARITY, config_with

from neurosim.estimate import estimate
from neurosim.io.runfile import read_checkpoint, write_run
from neurosim.model import build
from neurosim.simulation import Simulation, describe


def test_build_resolves_the_open_values_from_the_chip() -> None:
    config = config_with("chip.clock=auto", "chip.timing.tau_theta=5", "mgd.amplitude=null")  # τθ, δ left open
    assert config.workload.mgd.tau_theta is None and config.workload.mgd.amplitude is None
    model = build(config)
    assert model.timing.tau_theta == 5
    assert model.amplitude == config.chip.perturbation.amplitude
    assert model.clock_hz == describe(config)["clock_hz"]
    assert model.resolved() == {"tau_p": 1, "tau_x": 1, "tau_theta": 5, "clock_hz": model.clock_hz,
                                "amplitude": model.amplitude}


def test_the_schedule_names_the_slots_in_phase_order() -> None:
    chip = build(config_with("mgd.tau_theta=4"))
    assert [(s.name, s.period) for s in chip.schedule] == [("sample", 1), ("perturbation", 1), ("inference", 1),
                                                           ("update", 4)]
    assert chip.schedule[-1].first == 3
    assert [s.phase for s in chip.schedule] == sorted(s.phase for s in chip.schedule)
    backprop = build(config_with("mgd.perturbation=backprop"))
    assert "perturbation" not in [s.name for s in backprop.schedule]
    paper = build(config_with(*TINY_PARITY, "mgd.mode=paper"))
    assert [s.name for s in paper.schedule] == ["iteration", "update"]
    assert paper.cycles_per_step == paper.config.workload.mgd.batch_size * (1 + len(paper.net.layers))


def test_summary_and_estimate_read_the_model() -> None:
    config = config_with("chip.clock=auto", "mgd.tau_theta=3", "mgd.lr_hold_iterations=7")
    sim = Simulation(config, iterations=30)
    result = sim.run()
    for key, value in sim.model.resolved().items():
        assert getattr(result.summary, key) == value
    expected = estimate(sim.model, 30)
    assert expected.counts.updates == result.summary.events["updates"] == 10
    assert expected.counts.write_rounds == 10 - 2                      # updates at 3 and 6 are held


def test_the_run_file_stores_resolved_values(tmp_path: Path) -> None:
    config = config_with("chip.clock=auto", "chip.timing.tau_theta=5", "mgd.amplitude=null", "train.eval_interval=10")
    sim = Simulation(config, iterations=20)
    sim.run()
    path = tmp_path / "run.h5"
    write_run(path, sim.result(), complete=False, checkpoint=sim.checkpoint(), checkpoint_every=10)
    with h5py.File(path) as f:
        chip = yaml.safe_load(f["config"].attrs["chip_yaml"])["chip"]
        workload = yaml.safe_load(f["config"].attrs["workload_yaml"])
    assert chip["clock"] == sim.model.clock_hz
    assert workload["mgd"]["tau_theta"] == 5 and workload["mgd"]["amplitude"] == sim.model.amplitude
    restored, _, _ = read_checkpoint(path)
    assert build(restored).resolved() == sim.model.resolved()


def test_every_perturbation_the_workload_offers_is_a_registered_strategy() -> None:
    import dataclasses

    from neurosim.model import STRATEGIES
    from neurosim.spec.workload import MGDSpec
    offered = [m for m in dataclasses.fields(MGDSpec) if m.name == "perturbation"][0]
    assert set(STRATEGIES) == {"weight", "node", "backprop"}
    for name in STRATEGIES:
        offered.metadata["parse"](name, "<test>", "mgd.perturbation")   # each one parses
    model = build(config_with("mgd.perturbation=node"))
    assert model.strategy.total(model.net) == model.net.nodes
    model = build(config_with("mgd.perturbation=weight"))
    assert model.strategy.total(model.net) == model.net.parameters
    assert not build(config_with("mgd.perturbation=backprop")).strategy.perturbs
