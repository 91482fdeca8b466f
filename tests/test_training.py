"""Whole runs: the embedded default learns, runs are bit-identical, the ledger adds up, run files are sound."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import REPO, TINY_PARITY, config_with
from reference_chipmode import twin_simulation

from neurosim.cli import main
from neurosim.io.runfile import read_curves, read_summary, write_run
from neurosim.mgd.fused import FusedChipMode
from neurosim.simulation import Simulation


def test_embedded_default_reaches_95_percent() -> None:
    result = Simulation(config_with()).run()
    assert result.summary.best_test_accuracy >= 0.95
    assert result.summary.iterations_to_target is not None


def test_same_seed_is_bit_identical_and_another_seed_is_not() -> None:
    def run(seed: int):
        sim = Simulation(config_with("train.eval_interval=500"), seed=seed, iterations=1500)
        result = sim.run()
        return result, [w.copy() for pair in sim.chip.weights() for w in pair]

    first, w1 = run(3)
    second, w2 = run(3)
    other, w3 = run(4)
    for a, b in zip(w1, w2):
        assert np.array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(w1, w3))
    strip = lambda s: dataclasses.replace(s, wall_time_s=0.0)  # noqa: E731
    assert strip(first.summary) == strip(second.summary)
    assert first.curves.train_cost == second.curves.train_cost


@pytest.mark.parametrize("perturbation,baseline,inferences_per_cycle", [
    ("weight", "unperturbed", 2), ("node", "unperturbed", 2), ("weight", "antithetic", 2), ("backprop", "unperturbed", 1),
])
def test_ledger_counts_and_energy_add_up(perturbation: str, baseline: str, inferences_per_cycle: int) -> None:
    cycles = 200
    sim = Simulation(config_with(*TINY_PARITY, f"mgd.perturbation={perturbation}", f"mgd.baseline={baseline}",
                                 "mgd.tau_theta=10", "train.eval_interval=100"), iterations=cycles)
    s = sim.run().summary
    counts = s.events
    chip = sim.config.chip
    assert counts["cycles"] == cycles
    assert counts["inferences"] == inferences_per_cycle * cycles  # τx = 1: a new baseline every cycle
    assert counts["macs"] == counts["inferences"] * sim.net.macs
    assert counts["updates"] == cycles // 10
    assert counts["broadcasts"] == (0 if perturbation == "backprop" else cycles)
    energy = s.energy_by_component_j
    assert energy["mac_reads"] == pytest.approx(counts["macs"] * chip.mac.energy_per_mac_j)
    assert energy["weight_writes"] == pytest.approx(counts["write_pulses"] * chip.weights.device.write_energy_j)
    assert energy["perturbation_toggles"] == pytest.approx(
        counts["perturbation_toggles"] * chip.perturbation.toggle_energy_j)
    assert s.energy_j == pytest.approx(sum(energy.values()))
    assert s.simulated_time_s == pytest.approx(
        cycles / chip.clock_hz + counts["write_rounds"] * chip.weights.device.write_time_s)
    if perturbation != "backprop":
        k = sim.net.parameters if perturbation == "weight" else sim.net.nodes
        # fresh ±δ states each cycle: about half of the elements flip (the first perturbation sets all)
        assert counts["perturbation_toggles"] == pytest.approx(k + (cycles - 1) * k / 2, rel=0.1)


def test_analog_device_writes_are_counted_per_device() -> None:
    sim = Simulation(config_with(*TINY_PARITY, "mgd.tau_theta=5", "train.eval_interval=50",
                                 "chip.weights.device.endurance_cycles=100"), iterations=50)
    s = sim.run().summary
    assert s.weight_writes_max_per_device == 10  # every device changes at each of the 10 updates
    assert s.weight_writes_total == 10 * sim.net.parameters
    assert s.endurance_used_max == pytest.approx(10 / 100)


def test_finite_levels_write_whole_steps_and_keep_the_remainder() -> None:
    sim = Simulation(config_with(*TINY_PARITY, "chip.weights.device.levels=21", "train.eval_interval=50"),
                     iterations=50)
    array = sim.chip.arrays[0][0]
    step = 0.1  # 21 levels over [-1, 1]
    assert np.allclose((array.value + 1.0) / step, np.round((array.value + 1.0) / step), atol=1e-4)
    before = array.value.copy()
    pulses = array.write(np.full(array.shape, 0.25 * step, np.float32))
    assert pulses.sum() == 0 and np.array_equal(array.value, before)  # below one step: nothing written yet
    for _ in range(3):
        array.write(np.full(array.shape, 0.25 * step, np.float32))
    moved = np.round((array.value - before) / step)
    assert np.all(moved[before < 0.95] == 1)          # four quarter steps make one pulse
    assert int(array.writes.max()) == 1


def test_backprop_mode_trains_the_same_network() -> None:
    result = Simulation(config_with("mgd.perturbation=backprop", "mgd.learning_rate=0.05")).run()
    assert result.summary.best_test_accuracy >= 0.95


def test_run_file_holds_config_curves_summary_and_wear(tmp_path: Path) -> None:
    result = Simulation(config_with(*TINY_PARITY, "train.eval_interval=100"), iterations=300).run()
    path = tmp_path / "run.h5"
    write_run(path, result)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    summary = read_summary(path)
    assert summary.iterations == 300
    curves = read_curves(path)
    assert list(curves["iteration"]) == [100, 200, 300]
    with h5py.File(path) as f:
        assert f.attrs["complete"]
        assert "tau_theta" in f["config"].attrs["workload_yaml"]
        assert int(sum(f["wear"][name][()].sum() for name in f["wear"])) == summary.weight_writes_total


def test_cli_train_json_summary_and_out(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r.h5"
    code = main(["train", str(REPO / "chips/reference.yaml"), str(REPO / "workloads/nist7x7.yaml"),
                 "--iterations", "2000", "--seed", "1", "--json", "--out", str(out), "--set", "train.eval_interval=500"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("iterations", "simulated_time_s", "energy_j", "energy_by_component_j", "weight_writes_total",
                "weight_writes_max_per_device", "endurance_used_max", "test_accuracy", "best_test_accuracy",
                "iterations_to_target", "wall_time_s"):
        assert key in summary
    assert summary["iterations"] == 2000 and summary["seed"] == 1
    assert summary["simulated_time_s"] == pytest.approx(2000 / 1e6 + summary["events"]["write_rounds"] * 100e-9)
    assert read_summary(out).test_accuracy == summary["test_accuracy"]


def test_paper_mode_cnn_learns_fashion_mnist(fashion_data_dir: Path) -> None:
    """A few hundred paper-mode iterations of the d=1 CNN on real Fashion-MNIST lower the cost (d=1 is slow
    to train by MGD: the paper needs ~1e4 iterations to reach 80%)."""
    config = config_with("train.eval_interval=100", "train.eval_size=500", "dataset.options={train_size: 5000}",
                         "mgd.learning_rate=0.5", "mgd.lr_hold_iterations=0", "train.eval_schedule=interval",
                         workload="workloads/fashion-cnn.yaml")
    result = Simulation(config, iterations=400, data_dir=str(fashion_data_dir)).run()
    cost = result.curves.train_cost
    assert cost[-1] < cost[0] - 0.03          # measured: 2.294 -> 2.235 (lr 1.0 is chaotic: diverges later)
    assert result.summary.best_test_accuracy > 0.15  # chance is 0.10; measured 0.162


# realistic devices on the compiled path (spec keys under chip.weights), each after one of the chips in chips/
DEVICE_CASES = [
    ("device.levels=128", "device.model=exponential", "device.nonlinearity_up=0.0317",        # ReRAM-like
     "device.nonlinearity_down=0.5007", "device.write_noise=4.7", "device.step_variation=0.3",
     "device.range_variation=0.21"),
    ("encoding=pair", "refresh_threshold=0.9", "device.levels=74", "device.model=exponential",  # PCM-like, wearing
     "device.nonlinearity_up=3.17", "device.write_noise=0.6", "device.write_noise_model=multiplicative",
     "device.step_variation=0.2", "device.range_variation=0.1", "device.read_noise=0.006",
     "device.endurance_cycles=3000", "device.failure_mode=low"),
    ("device.levels=1200", "device.model=soft_bounds", "device.write_noise=0.3",               # SONOS-like
     "device.write_noise_model=multiplicative", "device.step_variation=0.3", "device.read_noise=0.008",
     "write.parallelism=row", "write.during_write=perturb", "device.write_time=10 us"),
    ("device.levels=32", "device.asymmetry=0.2", "write.rounding=stochastic", "device.endurance_cycles=200",
     "device.endurance_spread=0.3", "device.failure_mode=high", "write.parallelism=device"),
    ("encoding=pair", "device.read_noise=0.01", "device.write_noise=0.01", "device.range_variation=0.1"),  # analog
]

# with each, a different chip-mode variant (read noise under node perturbation and ± baselines among them)
DEVICE_MGD = [(), ("mgd.baseline=antithetic", "mgd.tau_p=2", "mgd.tau_x=3", "mgd.tau_theta=5"),
              ("mgd.perturbation=node", "mgd.baseline=antithetic"), ("mgd.optimizer=adam", "mgd.tau_theta=3"),
              ("mgd.perturbation=node", "mgd.tau_x=4")]

# a network with two convolutions (the first pooled) on NIST7x7's 7x7 images
SMALL_CNN = ("network.kind=layers", "network.layers=[{conv: 3}, pool, {conv: 2}, {dense: 5}, {dense: classes}]",
             "network.activation=tanh")
COMPILED_CASES = [
    (),
    ("mgd.perturbation=node",),
    ("mgd.baseline=antithetic", "mgd.tau_p=2", "mgd.tau_x=3", "mgd.tau_theta=5"),
    ("mgd.optimizer=momentum", "mgd.lr_hold_updates=20"),
    ("mgd.optimizer=adam", "mgd.perturbation=node", "mgd.baseline=antithetic", "loss=mse"),
    ("mgd.normalize=gamma", "mgd.tau_theta=7", "chip.weights.write.during_write=perturb"),
    ("chip.weights.device.endurance_cycles=20", "chip.weights.device.failure_mode=low"),   # wear-out in the kernel
    ("chip.weights.device.endurance_cycles=30", "chip.weights.device.endurance_spread=0.3",
     "chip.weights.device.failure_mode=high", "mgd.perturbation=node"),
    ("train.sampling=replacement", "mgd.tau_x=3", "mgd.tau_theta=5", "mgd.optimizer=adam",
     "mgd.lr_hold_iterations=17"),                     # the recipe's sampling and hold, drawn per stretch
    ("chip.weights.write.parallelism=row", "chip.crossbar.rows=16", "mgd.optimizer=momentum"),  # ideal, row-serial
    # the periphery and the codes, compiled: label smoothing, amplitude mismatch, the cost ADC and its noise,
    # accumulators with leak, saturation and resolution, the deterministic codes
    ("loss.label_smoothing=0.05", "chip.perturbation.mismatch=0.2"),
    ("mgd.perturbation=node", "mgd.baseline=antithetic", "chip.perturbation.mismatch=0.2", "loss=mse",
     "loss.label_smoothing=0.1"),
    ("mgd.perturbation=node", "loss.kind=mse", "loss.reduction=sum", "loss.label_smoothing=0.01"),  # f_mse
    ("chip.cost.bits=16", "chip.cost.noise=0.0001", "mgd.tau_theta=4"),
    ("mgd.perturbation=node", "chip.cost.noise=0.0001", "chip.accumulator.leak_time=20 us", "mgd.tau_theta=6"),
    ("chip.accumulator.bits=12", "chip.accumulator.full_scale=0.5", "chip.accumulator.leak_time=50 us",
     "mgd.tau_theta=3"),
    ("mgd.perturbation=node", "chip.accumulator.bits=14", "chip.accumulator.full_scale=2", "mgd.tau_p=2"),
    ("mgd.code=walsh", "mgd.tau_theta=8", "chip.perturbation.mismatch=0.1"),
    ("mgd.code=sinusoidal", "mgd.perturbation=node", "mgd.tau_theta=8"),
    ("mgd.code=one_at_a_time", "mgd.tau_theta=20", "mgd.tau_x=20"),
    # convolutions and max-pools, compiled: weight and node perturbation, ± baselines, held and live pools,
    # node sums held over a sample, a realistic device
    (*SMALL_CNN,),
    (*SMALL_CNN, "mgd.perturbation=node"),
    (*SMALL_CNN, "mgd.perturbation=node", "mgd.baseline=antithetic", "mgd.tau_theta=3"),
    (*SMALL_CNN, "network.pool_selection=live", "network.activation=relu", "mgd.optimizer=adam"),
    (*SMALL_CNN, "mgd.perturbation=node", "mgd.tau_x=5", "mgd.tau_theta=10", "network.activation=relu"),
    (*SMALL_CNN, "mgd.perturbation=node", "chip.accumulator.bits=14", "chip.accumulator.full_scale=2",
     "chip.weights.device.levels=64", "chip.weights.device.write_noise=0.2"),
] + [(*(f"chip.weights.{s}" for s in case), *mgd) for case, mgd in zip(DEVICE_CASES, DEVICE_MGD)]


@pytest.mark.parametrize("sets", COMPILED_CASES)
def test_stretches_are_bit_identical_to_stepping_event_by_event(sets: tuple[str, ...]) -> None:
    """The engine may hand a stretch of periodic ticks to one compiled call only if nothing changes."""
    config = config_with("train.eval_interval=250", *sets)
    runs = []
    for coalesce in (True, False):
        sim = Simulation(config, iterations=1000, coalesce=coalesce)
        assert isinstance(sim.procedure, FusedChipMode)
        result = sim.run()
        runs.append((result, [a.copy() for pair in sim.chip.weights() for a in pair], sim.procedure.acc.copy(),
                     np.concatenate(sim.chip.writes_per_layer())))
    (a, wa, acc_a, writes_a), (b, wb, acc_b, writes_b) = runs
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))
    assert np.array_equal(acc_a, acc_b) and np.array_equal(writes_a, writes_b)
    assert a.summary.events == b.summary.events
    assert a.curves.train_cost == b.curves.train_cost and a.curves.test_accuracy == b.curves.test_accuracy
    assert a.summary.engine_events == 4 and b.summary.engine_events > 1000  # stretches vs events


@pytest.mark.parametrize("sets", COMPILED_CASES[:-len(DEVICE_CASES)])
def test_compiled_chip_mode_matches_the_python_procedure(sets: tuple[str, ...]) -> None:
    """Two implementations of chip mode: the same events exactly, the same weights up to float32 rounding
    (short runs: training amplifies rounding differences, by momentum most of all)."""
    config = config_with("train.eval_interval=20", *sets)
    fused = Simulation(config, iterations=40)
    python = twin_simulation(config, iterations=40)
    a, b = fused.run(), python.run()
    assert a.summary.failed_devices == b.summary.failed_devices
    assert a.summary.events["perturbation_toggles"] == b.summary.events["perturbation_toggles"]
    ea = {k: v for k, v in a.summary.events.items() if k != "write_stall_s"}
    eb = {k: v for k, v in b.summary.events.items() if k != "write_stall_s"}
    assert ea == eb
    assert a.summary.simulated_time_s == pytest.approx(b.summary.simulated_time_s)
    for x, y in zip([w for p in fused.chip.weights() for w in p], [w for p in python.chip.weights() for w in p]):
        np.testing.assert_allclose(x, y, atol=1e-3)
    assert a.curves.train_cost == pytest.approx(b.curves.train_cost, rel=1e-3)


@pytest.mark.parametrize("sets", COMPILED_CASES[-len(DEVICE_CASES):])
def test_compiled_devices_match_the_python_procedure(sets: tuple[str, ...]) -> None:
    """Both engine paths write through the one device kernel with the same counter-based draws (write noise,
    rounding, read noise): over a few updates the same events, and the same pulses, wear and weights but for
    the rounding of the costs, which the two forward passes make differently (read noise makes the steps,
    and so these differences, large; once a residual sits on a step boundary a pulse differs)."""
    config = config_with("train.eval_interval=5", *sets)
    fused = Simulation(config, iterations=15)
    python = twin_simulation(config, iterations=15)
    a, b = fused.run(), python.run()
    ea, eb = a.summary.events, b.summary.events
    assert ea["write_pulses"] > 0
    pulse_counts = ("write_pulses", "write_rounds", "write_stall_s")
    assert {k: v for k, v in ea.items() if k not in pulse_counts} == {k: v for k, v in eb.items() if k not in pulse_counts}
    assert ea["write_pulses"] == pytest.approx(eb["write_pulses"], rel=1e-3)
    assert ea["write_stall_s"] == pytest.approx(eb["write_stall_s"], rel=1e-3)
    writes_a, writes_b = np.concatenate(a.wear), np.concatenate(b.wear)
    assert np.mean(writes_a != writes_b) < 0.01
    assert np.mean(np.concatenate(a.failed) != np.concatenate(b.failed)) < 0.01
    wa = np.concatenate([w.ravel() for p in fused.chip.weights() for w in p])
    wb = np.concatenate([w.ravel() for p in python.chip.weights() for w in p])
    assert np.mean(np.abs(wa - wb) > 1e-3) < 0.01   # a pulse more or less on a few weights, no more
    assert np.median(np.abs(wa - wb)) < 1e-4
    assert fused.chip.reads == python.chip.reads


def test_every_shipped_chip_runs_chip_mode_compiled() -> None:
    for chip in sorted((REPO / "chips").glob("*.yaml")):
        sim = Simulation(config_with(chip=f"chips/{chip.name}"), iterations=10)
        assert isinstance(sim.procedure, FusedChipMode), chip.name
        assert sim.run().summary.engine_path.startswith("compiled"), chip.name


@pytest.mark.parametrize("extra", [(), SMALL_CNN])
def test_node_sums_held_over_a_sample_train_as_integrating_every_cycle(extra: tuple[str, ...]) -> None:
    """Node perturbation with ideal accumulators: with the sample held for 10 cycles, ΔC·s is summed per node
    and multiplied by the layer inputs once per sample (the accumulators are linear), not every cycle; the
    training is the one per-cycle integration gives, up to float32 rounding."""
    from neurosim.kernels import chipmode as k
    config = config_with("mgd.perturbation=node", "mgd.tau_x=10", "mgd.tau_theta=10", "train.eval_interval=100",
                         "train.eval_size=200", *extra)
    runs = []
    for defer in (1, 0):
        sim = Simulation(config, iterations=300)
        assert sim.procedure.ist[k.I_DEFER] == 1
        sim.procedure.ist[k.I_DEFER] = defer
        result = sim.run()
        runs.append((result, [w.copy() for pair in sim.chip.weights() for w in pair]))
    (deferred, w_deferred), (every, w_every) = runs
    # a device is pulsed when its step is not exactly zero, which rounding decides for the tiniest steps
    pulses = "write_pulses"
    assert ({k: v for k, v in deferred.summary.events.items() if k != pulses}
            == {k: v for k, v in every.summary.events.items() if k != pulses})
    assert deferred.summary.events[pulses] == pytest.approx(every.summary.events[pulses], rel=0.01)
    for x, y in zip(w_deferred, w_every):
        np.testing.assert_allclose(x, y, atol=1e-4)
    assert deferred.curves.train_cost == pytest.approx(every.curves.train_cost, rel=1e-4)
    assert deferred.summary.events[pulses] > 1000  # the weights did move: the comparison is not idle


@pytest.mark.parametrize("chip", sorted(p.name for p in (REPO / "chips").glob("*.yaml")))
def test_every_reference_chip_trains_nist7x7(chip: str) -> None:
    """Each shipped chip validates, closes timing and runs the default workload; its ledger is priced at the
    resolved clock and its devices are written."""
    sim = Simulation(config_with("train.eval_interval=150", "train.eval_size=200", chip=f"chips/{chip}"),
                     iterations=300)
    s = sim.run().summary
    assert s.events["cycles"] == 300 and s.clock_hz > 0
    assert s.simulated_time_s >= 300 / s.clock_hz
    assert s.weight_writes_total > 0
    assert 0.0 <= s.test_accuracy <= 1.0
    if chip != "ideal.yaml":
        assert s.energy_j > 0
