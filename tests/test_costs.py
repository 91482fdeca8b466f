"""The cost model: write pulses, energy and time by parallelism, the cost ADC, the accumulators, timing
closure, lifetime, and `neurosim estimate` against simulated runs of the same length."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, config_with

from neurosim.chip.chip import Chip, lifetime, pulse_slots
from neurosim.chip.ledger import CostModel, EventCounts
from neurosim.chip.periphery import Accumulators, CostCircuit
from neurosim.cli import main
from neurosim.errors import ConfigError
from neurosim.io.runfile import write_run
from neurosim.nn.shapes import mlp
from neurosim.model import build as build_model
from neurosim.simulation import Simulation


def resolve_clock(config) -> float:
    return build_model(config).clock_hz
from neurosim.spec.chip import AccumulatorSpec, ChipSpec, CostCircuitSpec
from neurosim.spec.fields import build

CHIP = str(REPO / "chips/reference.yaml")
WORKLOAD = str(REPO / "workloads/nist7x7.yaml")


# --------------------------------------------------------------------------------------------------- writes

# Pulses of a 3x3 layer plus its bias row (4 x 3), on 2x2 crossbar tiles:
#            col0 col1 | col2
#   row0       1    0  |  2
#   row1       3    2  |  0
#   ---------------------------
#   row2       0    0  |  4
#   bias       2    1  |  1
# tile (0,0) [[1,0],[3,2]]: max 3, row maxima 1+3 = 4, sum 6
# tile (0,1) [[2,.],[0,.]]: max 2, rows 2+0 = 2,        sum 2
# tile (1,0) [[0,0],[2,1]]: max 2, rows 0+2 = 2,        sum 3
# tile (1,1) [[4,.],[1,.]]: max 4, rows 4+1 = 5,        sum 5
# slowest tile: all -> 4 slots, row -> 5, device -> 6; 16 pulses in all.
PULSES = np.array([[1, 0, 2], [3, 2, 0], [0, 0, 4], [2, 1, 1]])
SIGNS = np.array([[1, -1, 1], [-1, 1, 1], [1, 1, -1], [1, -1, -1]])
SLOTS = {"all": 4, "row": 5, "device": 6}


def small_chip(parallelism: str, during_write: str, *, hidden: tuple[int, ...] = (), outputs: int = 3,
               **device) -> Chip:
    # 17 levels over [-1, 1]: one pulse = 2/16 = 0.125 of weight (exact in binary); 2 pJ and 1 µs per pulse
    spec = build(ChipSpec, {
        "clock": "1 MHz", "crossbar": {"rows": 2, "cols": 2},
        "weights": {"device": {"levels": 17, "write_energy": "2 pJ", "write_time": "1 us", **device},
                    "write": {"parallelism": parallelism, "during_write": during_write}},
    }, "t.yaml", "chip")
    net = mlp((3,), hidden, outputs, "relu", "identity")
    initial = [(np.zeros((layer.fan_in, layer.fan_out), np.float32), np.zeros(layer.fan_out, np.float32))
               for layer in net.layers]
    return Chip(spec, net, initial, seed=0, clock_hz=1e6)


def deltas_for(pulses: np.ndarray, signs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = (pulses * signs * 0.125).astype(np.float32)
    return d[:-1], d[-1]


@pytest.mark.parametrize("parallelism", ["all", "row", "device"])
def test_pulse_slots_of_the_slowest_tile(parallelism: str) -> None:
    chip = small_chip(parallelism, "stall")
    assert pulse_slots(chip.spec, PULSES) == SLOTS[parallelism]
    assert chip.tiles_per_layer() == [4]


@pytest.mark.parametrize("parallelism", ["all", "row", "device"])
@pytest.mark.parametrize("during_write", ["stall", "perturb"])
def test_write_pulses_energy_and_time(parallelism: str, during_write: str) -> None:
    chip = small_chip(parallelism, during_write)
    assert chip.write([deltas_for(PULSES, SIGNS)], update_period_s=2e-6) == 16
    w, b = chip.weights()[0]
    assert np.array_equal(w, PULSES[:-1] * SIGNS[:-1] * 0.125) and np.array_equal(b, PULSES[-1] * SIGNS[-1] * 0.125)
    assert np.array_equal(chip.writes_per_layer()[0], np.concatenate([PULSES[:-1].ravel(), PULSES[-1]]))
    write_time = SLOTS[parallelism] * 1e-6
    # stall: the whole write time; perturb: only the excess over the 2 µs update period (2, 3, 4 µs)
    stall = write_time if during_write == "stall" else write_time - 2e-6
    c = chip.counts
    assert (c.updates, c.write_pulses, c.write_rounds) == (1, 16, 1)
    assert c.write_stall_s == pytest.approx(stall, rel=1e-12)
    model = chip.cost_model
    assert model.energy_by_component_j(c)["weight_writes"] == pytest.approx(16 * 2e-12, rel=1e-12, abs=0)
    assert model.energy_j(c) == pytest.approx(32e-12, rel=1e-12, abs=0)
    c.cycles = 10
    assert model.time_s(c) == pytest.approx(10e-6 + stall, rel=1e-12)
    # an update that writes nothing: counted as an update, no round, no stall
    chip.write([(np.zeros((3, 3), np.float32), np.zeros(3, np.float32))], update_period_s=2e-6)
    assert (c.updates, c.write_pulses, c.write_rounds) == (2, 16, 1)
    assert c.write_stall_s == pytest.approx(stall, rel=1e-12)
    # a write that fits in a long update period costs no time when the chip keeps perturbing
    chip.write([deltas_for(PULSES, -SIGNS)], update_period_s=10e-6)
    assert c.write_stall_s == pytest.approx(stall + (0.0 if during_write == "perturb" else write_time), rel=1e-12)
    assert c.write_pulses == 32


@pytest.mark.parametrize("parallelism,slots", [("all", 7), ("row", 8), ("device", 9)])
def test_slowest_layer_sets_the_write_time(parallelism: str, slots: int) -> None:
    # layers' tiles work in parallel: the 3x3 layer (4/5/6 slots, above) and a 3x2 layer whose busiest device
    # is in its bias row:
    #   [[0, 1],      tile (0,0) [[0,1],[1,0]]: max 1, rows 1+1 = 2, sum 2
    #    [1, 0],
    #    [0, 1],      tile (1,0) [[0,1],[7,1]]: max 7, rows 1+7 = 8, sum 9
    #    [7, 1]]  <- bias
    chip = small_chip(parallelism, "stall", hidden=(3,), outputs=2)
    second = np.array([[0, 1], [1, 0], [0, 1], [7, 1]])
    chip.write([deltas_for(PULSES, SIGNS), deltas_for(second, np.ones_like(second))], update_period_s=1e-6)
    assert chip.counts.write_pulses == 16 + 11
    assert chip.counts.write_stall_s == pytest.approx(slots * 1e-6)


# ------------------------------------------------------------------------------------------------ cost circuit

def cost_circuit(seed: int = 0, **spec) -> CostCircuit:
    return CostCircuit(build(CostCircuitSpec, spec, "t.yaml", "chip.cost"), np.uint64(1000 + seed))


def test_cost_adc_quantises_and_clips_by_hand() -> None:
    adc = cost_circuit(bits=3, full_scale=7.0)            # lsb = 7 / (2^3 - 1) = 1
    assert [adc.measure(c) for c in (2.4, 2.6, 6.49, 9.5, -0.3, 0.0, 7.0)] == [2.0, 3.0, 6.0, 7.0, 0.0, 0.0, 7.0]
    fine = cost_circuit(bits=2, full_scale=1.5)           # lsb = 1.5 / 3 = 0.5
    assert [fine.measure(c) for c in (0.24, 0.26, 0.74, 0.76, 1.6)] == [0.0, 0.5, 0.5, 1.0, 1.5]
    exact = cost_circuit()                                 # bits null, no noise: the exact cost
    assert exact.measure(123.456) == 123.456 and exact.measure(-1.0) == -1.0


def test_cost_noise_statistics() -> None:
    from neurosim.kernels.rng import normal_at, stream_base
    noisy = cost_circuit(seed=4, noise=0.2)
    base = np.uint64(stream_base(np.uint64(1004), np.uint64(0)))
    first, second = noisy.measure(1.0), noisy.measure(1.0)
    # one fresh draw per evaluation: measurement n draws element n of the cost-noise stream
    assert (first, second) == (1.0 + 0.2 * normal_at(base, np.uint64(0)), 1.0 + 0.2 * normal_at(base, np.uint64(1)))
    batch = cost_circuit(seed=4, noise=0.2).measure_each(np.array([1.0, 1.0]))
    assert list(batch) == [first, second]                  # a batch measures one cost after another
    draws = np.array([noisy.measure(1.0) for _ in range(20000)])
    assert draws.mean() == pytest.approx(1.0, abs=0.006)  # standard error 0.0014
    assert draws.std() == pytest.approx(0.2, rel=0.03)
    # noise then the ADC: every reading on the 1/7 grid within [0, 1]
    adc = cost_circuit(seed=5, noise=0.3, bits=3, full_scale=1.0)
    readings = np.array([adc.measure(0.1) for _ in range(2000)])
    assert readings.min() == 0.0 and readings.max() <= 1.0
    assert np.allclose(readings * 7, np.round(readings * 7), atol=1e-9)
    assert (readings == 0.0).mean() == pytest.approx(0.5, abs=0.06)   # P(0.1 + N(0, .3) < 1/14) ~ 0.46


# ------------------------------------------------------------------------------------------------ accumulators

def accumulators(**spec) -> Accumulators:
    return Accumulators(build(AccumulatorSpec, spec, "t.yaml", "chip.accumulator"),
                        [(np.zeros((2, 2), np.float32), np.zeros(2, np.float32))])


def add(acc: Accumulators, value: float, dt: float = 0.0) -> None:
    acc.add(0, np.full((2, 2), value, np.float32), np.full(2, value, np.float32), 1.0, dt)


def test_accumulator_leak_by_hand() -> None:
    acc = accumulators(leak_time="2 us")
    add(acc, 1.0, 1e-6)            # leak of 0, then +1 -> 1
    add(acc, 1.0, 1e-6)            # 1·e^(-1/2) + 1 = 1.606531
    assert np.allclose(acc.values[0][0], 1.606531, atol=1e-6)
    add(acc, 0.0, 1e-6)            # 1.606531·e^(-1/2) = 0.974410
    assert np.allclose(acc.values[0][0], 0.974410, atol=1e-6)
    assert np.allclose(acc.values[0][1], 0.974410, atol=1e-6)   # the bias accumulators leak alike
    add(acc, 0.0, 0.0)             # no time passed: no leak
    assert np.allclose(acc.values[0][0], 0.974410, atol=1e-6)
    (w, b), = acc.take([2.0])
    assert np.allclose(w, 1.948820, atol=2e-6)
    assert not acc.values[0][0].any() and not acc.values[0][1].any()   # reset after reading


def test_accumulator_saturates_at_full_scale() -> None:
    acc = accumulators(full_scale=2.0)
    add(acc, 1.5)
    assert np.all(acc.values[0][0] == 1.5)
    add(acc, 1.5)                  # 3.0 -> 2.0
    assert np.all(acc.values[0][0] == 2.0)
    add(acc, -5.0)                 # -3.0 -> -2.0
    assert np.all(acc.values[0][0] == -2.0)
    add(acc, 1.0)                  # saturation forgot the excess: -1.0, not -2.0 (what exact sums would give)
    assert np.all(acc.values[0][0] == -1.0)


def test_accumulator_quantises_to_full_scale_over_two_to_bits_minus_one() -> None:
    acc = accumulators(bits=3, full_scale=2.0)   # lsb = 2 / 2^(3-1) = 0.5
    assert acc.lsb == 0.5
    for inc, held in ((0.3, 0.5), (0.3, 1.0), (0.3, 1.5), (0.9, 2.0), (-0.7, 1.5), (-2.6, -1.0)):
        # 0.3 -> .6 lsb -> 1 lsb; .5+.3 = .8 -> 1.6 -> 2 (1.0); 1.3 -> 2.6 -> 3 (1.5); 2.4 clips to 2.0;
        # 2.0-.7 = 1.3 -> 1.5; 1.5-2.6 = -1.1 -> -2.2 -> -2 lsb (-1.0)
        add(acc, inc)
        assert np.all(acc.values[0][0] == held), (inc, held)
    small = accumulators(bits=3, full_scale=2.0)
    for _ in range(5):
        add(small, 0.2)            # 0.4 lsb rounds to 0 every time: sub-lsb increments are lost
    assert not small.values[0][0].any()


# ------------------------------------------------------------------------------------------------ timing closure

def test_clock_faster_than_the_stages_is_a_config_error() -> None:
    # reference chip: settle 1 ns + 2 x inference 100 ns + 2 x cost 50 ns + broadcast 10 ns = 311 ns
    with pytest.raises(ConfigError) as info:
        resolve_clock(config_with("chip.clock=4MHz"))          # 250 ns per cycle
    assert info.value.key == "chip.clock"
    message = str(info.value)
    assert "250 ns" in message and "311 ns" in message
    assert "slowest stage is inference (x2) (200 ns)" in message
    assert "3.215 MHz" in message
    # exactly at the limit is fine; the reference 1 MHz is fine
    assert resolve_clock(config_with(f"chip.clock={1 / 311e-9!r}Hz")) == pytest.approx(1 / 311e-9, rel=1e-12)
    assert resolve_clock(config_with()) == 1e6


def test_slowest_stage_is_named() -> None:
    with pytest.raises(ConfigError, match=r"slowest stage is cost broadcast \(2 µs\)"):
        resolve_clock(config_with("chip.bus.latency=2us"))


def test_clock_auto_is_one_over_the_sum_of_stages() -> None:
    needed = 1e-9 + 2 * 100e-9 + 2 * 50e-9 + 10e-9            # chip mode: two inferences per cycle
    assert resolve_clock(config_with("chip.clock=auto")) == pytest.approx(1 / needed, rel=1e-12)
    assert 1 / needed == pytest.approx(3.2154340836e6, rel=1e-10)
    paper = 1e-9 + 100e-9 + 50e-9 + 10e-9                      # paper mode: one inference per cycle
    assert resolve_clock(config_with("chip.clock=auto", "mgd.mode=paper")) == pytest.approx(1 / paper, rel=1e-12)
    with pytest.raises(ConfigError, match="all are zero"):
        resolve_clock(config_with("chip.clock=auto", "chip.perturbation.settle_time=0s",
                                  "chip.mac.inference_latency=0s", "chip.cost.latency=0s", "chip.bus.latency=0s"))


def test_cli_train_with_an_infeasible_clock_exits_2_without_traceback(capsys: pytest.CaptureFixture) -> None:
    assert main(["train", CHIP, WORKLOAD, "--set", "chip.clock=4MHz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neurosim: error: ") and err.count("\n") == 1
    assert "reference.yaml: chip.clock:" in err and "inference (x2)" in err
    proc = subprocess.run([sys.executable, "-m", "neurosim.cli", "train", CHIP, WORKLOAD, "--set",
                           "chip.clock=4MHz"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "chip.clock" in proc.stderr and "inference (x2)" in proc.stderr


# ------------------------------------------------------------------------------------------------ lifetime

def test_lifetime_first_failure_and_one_percent_by_hand() -> None:
    # trainings = limit / writes: [100/4, 30/2, unwritten, 400/8] = [25, 15, inf, 50]; 4 devices -> the 1%
    # quantile is the ceil(0.04) = 1st smallest
    life = lifetime(np.array([4, 2, 0, 8]), np.array([100.0, 30.0, 50.0, 400.0]))
    assert life == {"lifetime_trainings_first_failure": 15.0, "lifetime_trainings_1pct": 15.0}
    # 250 devices written 0..249 times, limit 1000: first 1000/249; 1% = ceil(2.5) = 3rd smallest: 1000/247
    life = lifetime(np.arange(250), np.full(250, 1000.0))
    assert life["lifetime_trainings_first_failure"] == pytest.approx(1000 / 249)
    assert life["lifetime_trainings_1pct"] == pytest.approx(1000 / 247)
    # 1% of 200 is 2 devices, but only one is written: it never gets there
    writes = np.zeros(200)
    writes[7] = 4
    assert lifetime(writes, np.full(200, 10.0)) == {"lifetime_trainings_first_failure": 2.5,
                                                    "lifetime_trainings_1pct": None}
    assert lifetime(np.zeros(5), np.ones(5)) == {"lifetime_trainings_first_failure": None,
                                                 "lifetime_trainings_1pct": None}


def test_wear_summary_by_hand() -> None:
    # two layers (3x3 + bias, 3x2 + bias: 12 + 8 devices), endurance 20: layer 1 takes PULSES twice
    # (32 pulses, max 8), layer 2 [[0,1],[3,0],[0,0],[1,1]] once (6 pulses, max 3)
    chip = small_chip("all", "stall", hidden=(3,), outputs=2, endurance_cycles=20)
    second = np.array([[0, 1], [3, 0], [0, 0], [1, 1]])
    chip.write([deltas_for(PULSES, SIGNS), deltas_for(second, np.ones_like(second))], 1e-6)
    chip.write([deltas_for(PULSES, -SIGNS), (np.zeros((3, 2), np.float32), np.zeros(2, np.float32))], 1e-6)
    s = chip.wear_summary()
    assert s["devices"] == 20 and s["weight_writes_total"] == 38
    assert s["weight_writes_max_per_device"] == 8 and s["weight_writes_mean_per_device"] == pytest.approx(38 / 20)
    assert s["endurance_used_max"] == pytest.approx(8 / 20)
    assert s["failed_devices"] == 0
    # first failure: 20 / 8 = 2.5 trainings; 1% of 20 devices = the 1st smallest, also 2.5
    assert s["lifetime_trainings_first_failure"] == pytest.approx(2.5)
    assert s["lifetime_trainings_1pct"] == pytest.approx(2.5)
    layers = s["wear_by_layer"]
    assert [(l["layer"], l["devices"], l["writes_total"], l["writes_max"]) for l in layers] == [
        ("dense1", 12, 32, 8), ("dense2", 8, 6, 3)]
    assert sum(l["writes_total"] for l in layers) == s["weight_writes_total"]
    assert sum(l["devices"] for l in layers) == s["devices"]
    assert sum(l["failed"] for l in layers) == s["failed_devices"]


def test_wear_summary_with_spread_limits() -> None:
    chip = small_chip("all", "stall", endurance_cycles=20, endurance_spread=0.5)
    chip.write([deltas_for(PULSES, SIGNS)], 1e-6)
    writes = chip.writes_per_layer()[0]
    limits = chip.endurance_per_layer()[0]
    assert len(set(limits.tolist())) == 12                   # every device its own limit
    s = chip.wear_summary()
    written = writes > 0
    assert s["lifetime_trainings_first_failure"] == pytest.approx((limits[written] / writes[written]).min())
    assert s["endurance_used_max"] == pytest.approx((writes / limits).max())


# ------------------------------------------------------------------------------------- estimate vs simulation

@lru_cache(maxsize=None)
def simulated(sets: tuple[str, ...], iterations: int) -> dict:
    config = config_with(*sets, f"train.eval_interval={iterations}", "train.eval_size=50")
    return Simulation(config, iterations=iterations).run().summary.as_dict()  # as the JSON it is compared with


def estimated(capsys: pytest.CaptureFixture, *args: str, sets: tuple[str, ...] = ()) -> dict:
    capsys.readouterr()
    argv = ["estimate", CHIP, WORKLOAD, *args, "--json"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


CHIP_WEIGHT = ("mgd.perturbation=weight", "mgd.tau_x=3", "mgd.tau_theta=5",
               "chip.crossbar.rows=16", "chip.crossbar.cols=8", "chip.weights.write.parallelism=row")
CHIP_NODE = ("mgd.perturbation=node", "mgd.tau_x=3", "mgd.tau_theta=5")
PAPER_WEIGHT = ("mgd.mode=paper", "mgd.perturbation=weight", "mgd.batch_size=10", "mgd.tau_theta=2")
# device-by-device writes while perturbing: dense1's one tile holds 50 x 16 devices -> 80 µs per update,
# of which the update period (2 iterations x 10 samples x 3 inferences = 60 cycles = 60 µs) hides 60
PAPER_NODE = ("mgd.mode=paper", "mgd.perturbation=node", "mgd.batch_size=10", "mgd.tau_theta=2",
              "chip.weights.write.during_write=perturb", "chip.weights.write.parallelism=device")
CASES = {"chip-weight": (CHIP_WEIGHT, 2000), "chip-weight-all": (CHIP_WEIGHT[:3], 2000),
         "chip-node": (CHIP_NODE, 6000), "paper-weight": (PAPER_WEIGHT, 40), "paper-node": (PAPER_NODE, 40)}


def assert_within_one_percent(est: dict, sim: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        assert est[key] == pytest.approx(sim[key], rel=0.01), key


@pytest.mark.parametrize("case", list(CASES))
def test_estimate_matches_a_simulated_run(case: str, capsys: pytest.CaptureFixture) -> None:
    sets, n = CASES[case]
    sim = simulated(sets, n)
    est = estimated(capsys, "--iterations", str(n), sets=sets)
    assert est["simulated_time_s"] == pytest.approx(sim["simulated_time_s"], rel=0.01)
    for component, joules in sim["energy_by_component_j"].items():
        if component != "weight_writes" or case != "chip-node":      # chip-node writes: an upper bound, see below
            assert est["energy_by_component_j"][component] == pytest.approx(joules, rel=0.01), component
    for event in ("cycles", "inferences", "macs", "cost_evaluations", "broadcasts", "accumulator_updates",
                  "updates", "write_rounds"):
        assert est["events"][event] == sim["events"][event], event     # schedule counts are exact
    assert est["events"]["write_stall_s"] == pytest.approx(sim["events"]["write_stall_s"], rel=0.01)
    if case == "paper-node":
        assert est["events"]["write_stall_s"] == pytest.approx(20 * 20e-6)
    if case != "chip-node":
        assert_within_one_percent(est, sim, ("energy_j", "weight_writes_total"))
        assert est["lifetime_trainings_first_failure"] == pytest.approx(sim["lifetime_trainings_first_failure"],
                                                                        rel=0.01)


def test_estimate_by_hand_for_chip_weight_perturbation(capsys: pytest.CaptureFixture) -> None:
    """τx = 3, τθ = 5, 2000 cycles, 868 parameters; row-parallel writes on 16x8 tiles."""
    est = estimated(capsys, "--iterations", "2000", sets=CHIP_WEIGHT)
    ev = est["events"]
    # baselines: a new sample (ceil(2000/3) = 667) or fresh weights (ceil(2000/5) = 400), both at once
    # every 15 cycles (ceil(2000/15) = 134): 933 -> 2000 perturbed + 933 = 2933 inferences
    assert ev["inferences"] == 2933 and ev["macs"] == 2933 * 868
    assert ev["updates"] == 400 and ev["write_pulses"] == 400 * 868
    # dense1 is 50 x 16 on 16 x 8 tiles: 16 rows one after another -> 16 x 100 ns per update, stalling
    assert ev["write_stall_s"] == pytest.approx(400 * 16 * 100e-9)
    assert est["simulated_time_s"] == pytest.approx(2000e-6 + 400 * 1.6e-6)
    assert ev["perturbation_toggles"] == 868 + 1999 * 434
    assert est["lifetime_trainings_first_failure"] == pytest.approx(1e9 / 400)


def test_estimate_write_counts_for_chip_node_perturbation_are_a_stated_upper_bound(
        capsys: pytest.CaptureFixture) -> None:
    """With node perturbation a weight whose input was zero for all of an update's samples (behind a ReLU)
    gets no pulse, which the schedule cannot know: the estimate says so and stays an upper bound, close."""
    sets, n = CASES["chip-node"]
    sim = simulated(sets, n)
    est = estimated(capsys, "--iterations", str(n), sets=sets)
    assert any("upper bound" in note for note in est["assumptions"])
    assert sim["weight_writes_total"] <= est["weight_writes_total"] <= 1.05 * sim["weight_writes_total"]
    assert est["energy_j"] == pytest.approx(sim["energy_j"], rel=0.05)


def test_estimate_from_a_run_file_extrapolates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    result = Simulation(config_with("train.eval_interval=400", "train.eval_size=50"), iterations=400).run()
    path = tmp_path / "run.h5"
    write_run(path, result)
    sim = result.summary
    est = estimated(capsys, "--from", str(path), "--scale-to", "800")
    assert est["iterations"] == 800
    for key, value in sim.events.items():
        if key == "write_stall_s":
            assert est["events"][key] == pytest.approx(2 * value, rel=1e-12)
        else:
            assert est["events"][key] == 2 * value, key
    assert est["weight_writes_total"] == 2 * sim.weight_writes_total
    assert est["weight_writes_max_per_device"] == 2 * sim.weight_writes_max_per_device == 800
    assert est["simulated_time_s"] == pytest.approx(2 * sim.simulated_time_s, rel=1e-12)
    assert est["energy_j"] == pytest.approx(2 * sim.energy_j, rel=1e-12)
    for component, joules in sim.energy_by_component_j.items():
        assert est["energy_by_component_j"][component] == pytest.approx(2 * joules, rel=1e-12)
    assert est["lifetime_trainings_first_failure"] == pytest.approx(sim.lifetime_trainings_first_failure / 2)
    assert est["lifetime_trainings_first_failure"] == pytest.approx(1e9 / 800)
    assert est["lifetime_trainings_1pct"] == pytest.approx(sim.lifetime_trainings_1pct / 2)
    # and the schedule-only estimate of 800 iterations agrees with the extrapolation
    fresh = estimated(capsys, "--iterations", "800")
    assert_within_one_percent(fresh, est, ("simulated_time_s", "energy_j", "weight_writes_total"))
    # without --scale-to: the run's own length
    same = estimated(capsys, "--from", str(path))
    assert same["events"] == sim.events and same["simulated_time_s"] == pytest.approx(sim.simulated_time_s)


def test_estimate_from_a_run_with_a_learning_rate_hold_scales_the_writing_updates(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The held updates write nothing however long the run: a run of 400 updates, 100 held, measured the
    writes of 300; 800 updates write 700 times, not 600. The extrapolation agrees with the schedule."""
    hold = ("mgd.lr_hold_updates=100",)
    result = Simulation(config_with(*hold, "train.eval_interval=400", "train.eval_size=50"), iterations=400).run()
    path = tmp_path / "run.h5"
    write_run(path, result)
    sim = result.summary
    assert sim.events["write_rounds"] == 300
    est = estimated(capsys, "--from", str(path), "--scale-to", "800", sets=hold)
    assert est["events"]["write_rounds"] == 700 and est["events"]["updates"] == 800
    assert est["weight_writes_max_per_device"] == pytest.approx(700)
    assert est["lifetime_trainings_first_failure"] == pytest.approx(1e9 / 700)
    fresh = estimated(capsys, "--iterations", "800", sets=hold)
    assert_within_one_percent(fresh, est, ("simulated_time_s", "energy_j", "weight_writes_total"))
    same = estimated(capsys, "--from", str(path), sets=hold)   # its own length: what was measured
    assert same["events"] == sim.events
    capsys.readouterr()
    assert main(["estimate", CHIP, WORKLOAD, "--from", str(path), "--scale-to", "800",
                 "--set", "mgd.lr_hold_updates=400"]) == 2  # held throughout: nothing to extrapolate from
    assert "learning-rate hold" in capsys.readouterr().err


def test_estimate_endurance_used_max_with_spread(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spread = ("chip.weights.device.endurance_cycles=1e6", "chip.weights.device.endurance_spread=0.5")
    result = Simulation(config_with(*spread, "train.eval_interval=400", "train.eval_size=50"), iterations=400).run()
    path = tmp_path / "run.h5"
    write_run(path, result)
    sim = result.summary
    # every device is written at every update: the weakest device sets both figures
    assert sim.endurance_used_max == pytest.approx(1 / sim.lifetime_trainings_first_failure)
    same = estimated(capsys, "--from", str(path), sets=spread)     # the run extrapolated to its own length
    assert same["lifetime_trainings_first_failure"] == pytest.approx(sim.lifetime_trainings_first_failure)
    fresh = estimated(capsys, "--iterations", "400", sets=spread)
    assert same["endurance_used_max"] == pytest.approx(sim.endurance_used_max)
    assert fresh["endurance_used_max"] == pytest.approx(1 / fresh["lifetime_trainings_first_failure"])


def test_seed_paper_anchor_1e9_iterations_at_1mhz(capsys: pytest.CaptureFixture) -> None:
    """1e9 chip-mode cycles of 1 µs are 1000 s (16 min 40 s): with during_write=perturb each update's 100 ns
    write hides inside its 1 µs update period (τθ = 1), so nothing is added. With the default stall, every
    update adds its 100 ns: 1e9 x 100 ns = 100 s more."""
    est = estimated(capsys, "--iterations", "1000000000", sets=("chip.weights.write.during_write=perturb",))
    assert est["clock_hz"] == 1e6
    assert est["events"]["cycles"] == 10 ** 9 and est["events"]["write_stall_s"] == 0.0
    assert est["simulated_time_s"] == 1000.0
    assert 16 < est["simulated_time_s"] / 60 < 17
    stalled = estimated(capsys, "--iterations", "1000000000")
    assert stalled["simulated_time_s"] == pytest.approx(1100.0, rel=1e-12)
    # 868 devices each written at every update: 1e9 pulses each = the 1e9-cycle endurance, used up exactly
    assert est["weight_writes_total"] == 868 * 10 ** 9
    assert est["endurance_used_max"] == 1.0 and est["lifetime_trainings_first_failure"] == 1.0
    assert est["energy_by_component_j"]["weight_writes"] == pytest.approx(0.868)   # 868e9 x 1 pJ


def test_cost_model_prices_counts() -> None:
    spec = config_with().chip
    counts = EventCounts(cycles=10, macs=100, perturbation_toggles=7, cost_evaluations=20, broadcasts=10,
                         accumulator_updates=50, write_pulses=3, write_stall_s=2e-7)
    model = CostModel(spec, 1e6)
    energy = model.energy_by_component_j(counts)
    assert energy == pytest.approx({"mac_reads": 100 * 10e-15, "perturbation_toggles": 7 * 1e-15,
                                    "cost_evaluations": 20 * 1e-12, "bus_broadcasts": 10 * 1e-12,
                                    "accumulator_updates": 50 * 10e-15, "weight_writes": 3 * 1e-12},
                                   rel=1e-9, abs=0)
    assert model.energy_j(counts) == pytest.approx(1e-12 + 7e-15 + 20e-12 + 10e-12 + 0.5e-12 + 3e-12, rel=1e-9, abs=0)
    assert model.time_s(counts) == pytest.approx(10e-6 + 2e-7)
    doubled = counts.scaled(2.0)
    assert doubled.macs == 200 and doubled.write_stall_s == pytest.approx(4e-7)
    assert math.isclose(model.time_s(doubled), 2 * model.time_s(counts))


def test_the_compiled_costs_match_the_formulas_in_numpy() -> None:
    """kernels.costs (every path's cost) against the formulas written in numpy, float64, each sample."""
    from neurosim.kernels import costs

    rng = np.random.default_rng(11)
    out = (3 * rng.standard_normal((40, 10))).astype(np.float32)
    y = rng.integers(0, 10, 40)
    z = out.astype(np.float64)
    for alpha in (0.0, 0.01):
        target = np.full((40, 10), alpha / 10)
        target[np.arange(40), y] += 1 - alpha
        shifted = z - z.max(axis=1, keepdims=True)
        expected = {costs.LOSS_CE: -(target * (shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))).sum(axis=1),
                    costs.LOSS_MSE: ((z - target) ** 2).mean(axis=1), costs.LOSS_MSE_SUM: ((z - target) ** 2).sum(axis=1)}
        for code, want in expected.items():
            rho = np.empty(40)
            costs.per_sample_costs(code, out, y.astype(np.int64), alpha, rho)
            np.testing.assert_allclose(rho, want, rtol=1e-13, atol=1e-13)


def test_accumulators_are_taken_with_each_layers_own_scale_and_a_changed_scale_is_used() -> None:
    acc = Accumulators(build(AccumulatorSpec, {}, "t.yaml", "chip.accumulator"),
                       [(np.zeros((2, 3), np.float32), np.zeros(3, np.float32)),
                        (np.zeros((3, 1), np.float32), np.zeros(1, np.float32))])
    for scales in ([2.0, -0.5], [2.0, -0.5], [3.0, 0.25]):  # the second take reuses the per-element scales
        acc.add(0, np.full((2, 3), 1.5, np.float32), np.full(3, -1.0, np.float32), 1.0)
        acc.add(1, np.arange(3, dtype=np.float32).reshape(3, 1), np.full(1, 4.0, np.float32), 1.0)
        (w0, b0), (w1, b1) = acc.take(scales)
        assert np.array_equal(w0, np.full((2, 3), np.float32(1.5) * np.float32(scales[0])))
        assert np.array_equal(b0, np.full(3, np.float32(-scales[0])))
        assert np.array_equal(w1, np.arange(3, dtype=np.float32).reshape(3, 1) * np.float32(scales[1]))
        assert np.array_equal(b1, np.full(1, np.float32(4.0) * np.float32(scales[1])))
        assert not acc.flat.any()  # reset


def test_accumulators_added_at_once_equal_the_layers_added_one_by_one() -> None:
    """add_flat with each layer's scale already in the increment gives, to the bit, what add gives layer by
    layer, with a leak, saturation and resolution."""
    spec = build(AccumulatorSpec, {"leak_time": "3 us", "full_scale": 4.0, "bits": 10}, "t.yaml", "chip.accumulator")
    shapes = [(np.zeros((3, 2), np.float32), np.zeros(2, np.float32)),
              (np.zeros((2, 4), np.float32), np.zeros(4, np.float32))]
    one, flat = Accumulators(spec, shapes), Accumulators(spec, shapes)
    rng = np.random.default_rng(3)
    for _ in range(20):
        incs = [tuple(rng.choice([-1.0, 1.0], a.shape).astype(np.float32) for a in pair) for pair in shapes]
        scales = rng.normal(0, 0.5, len(shapes))
        for index, ((dw, db), scale) in enumerate(zip(incs, scales)):
            one.add(index, dw, db, float(scale), 1e-6)
        each = np.repeat(scales.astype(np.float32), [w.size + b.size for w, b in shapes])
        flat.add_flat(each * np.concatenate([a.ravel() for pair in incs for a in pair]), 1e-6)
        np.testing.assert_array_equal(one.flat, flat.flat)
