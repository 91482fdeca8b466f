"""Tests of neurosim.spec: SI quantities, the declarative fields, chip and workload files, ``--set`` overrides.

Every bad input must become one ConfigError naming the file, the key path and what was expected. Files are
real YAML written to ``tmp_path``; the shipped chip and workloads are read from the repository.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from neurosim.errors import ConfigError, NeurosimError
from neurosim.spec import Override, load_chip, load_config, load_workload
from neurosim.validate import validate_file
from neurosim.spec.chip import ChipSpec
from neurosim.spec.fields import build, to_plain
from neurosim.spec.units import QuantityError, format_quantity, parse_quantity
from neurosim.spec.workload import WorkloadSpec

REPO = Path(__file__).resolve().parents[1]
CHIP = REPO / "chips" / "reference.yaml"
NIST = REPO / "workloads" / "nist7x7.yaml"
FASHION = REPO / "workloads" / "fashion-cnn.yaml"

MINIMAL_WORKLOAD = """\
dataset:
  name: nist7x7
network:
  kind: mlp
  hidden: [8]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def chip_file(tmp_path: Path, body: str, name: str = "chip.yaml") -> Path:
    """A chip file with a valid clock unless ``body`` sets one; ``body`` is indented under ``chip:``."""
    lines = body.strip("\n").splitlines()
    if not any(line.strip().startswith("clock:") for line in lines):
        lines.insert(0, "clock: 1 MHz")
    return write(tmp_path, name, "chip:\n" + "".join(f"  {line}\n" for line in lines))


# ---- units -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, unit, expected", [
    ("1 MHz", "Hz", 1e6),
    ("10MHz", "Hz", 1e7),
    ("2.5 GHz", "Hz", 2.5e9),
    ("3 kHz", "Hz", 3e3),
    ("50 ns", "s", 50e-9),
    ("100 ms", "s", 0.1),
    ("1.3 pJ", "J", 1.3e-12),
    ("10 fJ", "J", 1e-14),
    ("2 us", "s", 2e-6),
    ("2 µs", "s", 2e-6),   # U+00B5 MICRO SIGN
    ("2 μs", "s", 2e-6),   # U+03BC GREEK SMALL LETTER MU
    ("4.7 kOhm", "Ohm", 4.7e3),
    ("20 fF", "F", 20e-15),
    ("1e-9 s", "s", 1e-9),
    ("1.5E3 Hz", "Hz", 1.5e3),
    ("  7 nW  ", "W", 7e-9),
    ("-2 mV", "V", -2e-3),
    ("1e6", "Hz", 1e6),        # a bare number in a string is in base units
    (1000000, "Hz", 1e6),      # so is a YAML number
    (5e-8, "s", 5e-8),
    (0, "J", 0.0),
])
def test_parse_quantity_accepts_si_strings_and_base_unit_numbers(value, unit, expected):
    result = parse_quantity(value, unit)
    assert isinstance(result, float)
    assert result == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("prefix", ["u", "µ", "μ"])
def test_micro_prefix_spellings_all_mean_1e_minus_6(prefix):
    assert parse_quantity(f"3 {prefix}s", "s") == pytest.approx(3e-6, rel=1e-12)
    assert parse_quantity(f"3{prefix}J", "J") == pytest.approx(3e-6, rel=1e-12)


@pytest.mark.parametrize("value, unit, fragment", [
    ("5 ns", "Hz", "a quantity in Hz, got '5 ns'"),       # wrong unit for a clock
    ("1 MHz", "s", "a quantity in s, got '1 MHz'"),
    ("1 Mhz", "Hz", "a quantity in Hz"),                  # units are case-sensitive
    ("10 ms", "S", "a quantity in S"),                    # seconds are not siemens
    ("1 XHz", "Hz", "SI prefix"),                         # unknown prefix
    ("1 mmHz", "Hz", "SI prefix"),
    ("garbage", "Hz", "such as '10 Hz'"),
    ("", "s", "such as '10 s'"),
    ("1 M Hz", "Hz", "such as '10 Hz'"),
    ("MHz", "Hz", "such as '10 Hz'"),
    ("nan", "Hz", "Hz"),
    ("inf s", "s", "s"),
    ("1e400 Hz", "Hz", "finite"),
    (float("nan"), "Hz", "finite"),
    (float("inf"), "s", "finite"),
    (-float("inf"), "J", "finite"),
    pytest.param(10 ** 400, "Hz", "finite", id="int-beyond-float-range"),  # not an OverflowError
    (True, "Hz", "boolean"),
    (None, "Hz", "NoneType"),
    ([1, 2], "Hz", "list"),
    ({"a": 1}, "s", "dict"),
])
def test_parse_quantity_rejects_with_a_message(value, unit, fragment):
    with pytest.raises(QuantityError) as info:
        parse_quantity(value, unit)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value, unit, text", [
    (1e6, "Hz", "1 MHz"),
    (2.5e-3, "s", "2.5 ms"),
    (1.3e-12, "J", "1.3 pJ"),
    (1e-6, "s", "1 µs"),
    (47e3, "Ohm", "47 kOhm"),
    (3.0, "V", "3 V"),
    (-2e-9, "s", "-2 ns"),
    (0.0, "J", "0 J"),
])
def test_format_quantity_picks_the_prefix(value, unit, text):
    assert format_quantity(value, unit) == text


@pytest.mark.parametrize("unit", ["Hz", "s", "J", "W", "V", "S", "A", "F", "Ohm"])
@pytest.mark.parametrize("value", [1.0, 1e6, 2.5e9, 3.3e12, 7.25e-3, 1e-6, 4.2e-9, 1.3e-12, 10e-15, 5e-18,
                                   123.4, 0.5, 999.0, -6.02e-7, 1e-24, 0.0])
def test_format_then_parse_round_trips(value, unit):
    text = format_quantity(value, unit)
    assert text.endswith(unit)
    back = parse_quantity(text, unit)
    assert back == pytest.approx(value, rel=5e-4, abs=0.0)


@pytest.mark.parametrize("text, unit", [("1 MHz", "Hz"), ("50 ns", "s"), ("1.3 pJ", "J"), ("2 µs", "s"),
                                        ("4.7 kOhm", "Ohm"), ("20 fF", "F")])
def test_parse_then_format_round_trips(text, unit):
    assert format_quantity(parse_quantity(text, unit), unit) == text.replace("us", "µs")


def test_format_quantity_of_non_finite_values_does_not_crash():
    assert format_quantity(math.inf, "J") == "inf J"
    assert format_quantity(math.nan, "s") == "nan s"


# ---- the shipped files -------------------------------------------------------------------------------

def test_reference_chip_loads_in_si_units():
    chip = load_chip(CHIP)
    assert isinstance(chip, ChipSpec)
    assert chip.name == "reference"
    assert chip.clock_hz == 1e6
    assert (chip.timing.tau_p, chip.timing.tau_x, chip.timing.tau_theta) == (1, 1, 1)
    assert (chip.crossbar.rows, chip.crossbar.cols) == (256, 256)
    assert (chip.weights.w_min, chip.weights.w_max) == (-1.0, 1.0)
    device = chip.weights.device
    assert device.levels is None
    assert device.write_energy_j == pytest.approx(1e-12)
    assert device.write_time_s == pytest.approx(100e-9)
    assert device.endurance_cycles == 1e9
    assert chip.perturbation.settle_time_s == pytest.approx(1e-9)
    assert chip.perturbation.toggle_energy_j == pytest.approx(1e-15)
    assert chip.mac.energy_per_mac_j == pytest.approx(10e-15)
    assert chip.mac.inference_latency_s == pytest.approx(100e-9)
    assert chip.cost.evaluation_energy_j == pytest.approx(1e-12)
    assert chip.cost.latency_s == pytest.approx(50e-9)
    assert chip.bus.broadcast_energy_j == pytest.approx(1e-12)
    assert chip.bus.latency_s == pytest.approx(10e-9)
    assert chip.accumulator.update_energy_j == pytest.approx(10e-15)


def test_nist7x7_workload_loads():
    w = load_workload(NIST)
    assert isinstance(w, WorkloadSpec)
    assert w.name == "nist7x7"
    assert w.dataset.name == "nist7x7"
    assert dict(w.dataset.options) == {"train_size": 2000, "test_size": 1000, "noise_std": 0.2}
    assert (w.network.kind, w.network.hidden) == ("mlp", (16,))
    assert (w.mgd.mode, w.mgd.perturbation, w.mgd.baseline) == ("chip", "weight", "unperturbed")
    assert w.mgd.learning_rate == 0.005
    assert w.mgd.tau_theta is None  # silent: the chip's power-on period holds
    assert (w.train.iterations, w.train.eval_interval, w.train.target_accuracy) == (10000, 1000, 0.95)


def test_fashion_cnn_workload_loads():
    w = load_workload(FASHION)
    assert w.dataset.name == "fashion-mnist"
    assert (w.network.kind, w.network.width) == ("paper_cnn", 1)
    assert (w.mgd.mode, w.mgd.normalize, w.mgd.tau_theta, w.mgd.batch_size) == ("paper", "gamma", 1, 100)
    assert w.mgd.learning_rate == 0.3
    assert w.train.iterations == 2000


@pytest.mark.parametrize("path, kind", [(CHIP, "chip"), (NIST, "workload"), (FASHION, "workload")])
def test_validate_file_tells_the_kind_of_each_shipped_file(path, kind):
    assert validate_file(path) == kind


def test_minimal_files_take_the_defaults(tmp_path):
    chip = load_chip(write(tmp_path, "c.yaml", "chip:\n  clock: 10MHz\n"))
    assert chip.clock_hz == 1e7
    assert chip.name == "chip"
    assert (chip.crossbar.rows, chip.crossbar.cols) == (256, 256)
    assert chip.weights.device.endurance_cycles == 1e9
    assert chip.mac.energy_per_mac_j == 0.0
    w = load_workload(write(tmp_path, "w.yaml", MINIMAL_WORKLOAD))
    assert w.name == "workload"
    assert w.network.hidden == (8,)
    assert (w.mgd.mode, w.mgd.optimizer, w.loss.kind) == ("chip", "sgd", "cross_entropy")
    assert w.dataset.options == ()
    assert w.train.iterations == 10000


def test_integral_floats_are_whole_numbers_but_fractions_are_not(tmp_path):
    chip = load_chip(chip_file(tmp_path, "crossbar: {rows: 1.28e2, cols: '64'}"))
    assert (chip.crossbar.rows, chip.crossbar.cols) == (128, 64)
    assert isinstance(chip.crossbar.rows, int)


def test_quantities_accept_plain_base_unit_numbers_in_files(tmp_path):
    chip = load_chip(chip_file(tmp_path, "clock: 2.0e6\nbus: {latency: 1.0e-8, broadcast_energy: 0}"))
    assert chip.clock_hz == 2e6
    assert chip.bus.latency_s == 1e-8
    assert chip.bus.broadcast_energy_j == 0.0  # energies may be zero; clocks may not


def test_yaml_merge_keys_are_supported(tmp_path):
    path = write(tmp_path, "c.yaml", "chip:\n  <<: {clock: 3 MHz, name: base}\n  name: derived\n")
    chip = load_chip(path)
    assert (chip.clock_hz, chip.name) == (3e6, "derived")


@pytest.mark.parametrize("path", [CHIP, NIST, FASHION])
def test_to_plain_rebuilds_the_same_spec(path):
    kind = validate_file(path)
    spec = load_chip(path) if kind == "chip" else load_workload(path)
    plain = to_plain(spec)
    if kind == "chip":
        assert plain["clock"] == 1e6 and plain["weights"]["device"]["write_energy"] == pytest.approx(1e-12)
        assert build(ChipSpec, plain, "plain", "chip") == spec
    else:
        assert isinstance(plain["dataset"]["options"], dict)  # also when empty (fashion-cnn)
        assert build(WorkloadSpec, plain, "plain") == spec


# ---- bad files: one ConfigError naming the file, the key path, what was expected ------------------------

@pytest.mark.parametrize("body, key, fragment", [
    ("clok: 1 MHz", "chip.clok", "unknown key; did you mean 'clock'? expected one of:"),
    ("weights:\n  device:\n    endurance_cyles: 1.0e6", "chip.weights.device.endurance_cyles", "endurance_cycles"),
    ("timing: {tau_q: 2}", "chip.timing.tau_q", "tau_p, tau_theta, tau_x"),
    ("clock: 5 ns", "chip.clock", "expected a quantity in Hz, got '5 ns'"),
    ("clock: garbage", "chip.clock", "expected a quantity in Hz"),
    ("clock: -1 MHz", "chip.clock", "expected a quantity > 0 Hz"),
    ("clock: 0", "chip.clock", "expected a quantity > 0 Hz"),
    ("clock: 0 MHz", "chip.clock", "> 0 Hz"),
    ("clock: .nan", "chip.clock", "finite"),
    ("clock: .inf", "chip.clock", "finite"),
    ("clock: [1, 2]", "chip.clock", "expected a quantity in Hz, got list"),
    ("clock: true", "chip.clock", "boolean"),
    pytest.param("clock: 1" + "0" * 400, "chip.clock", "finite", id="clock-int-beyond-float-range"),
    ("clock:", "chip.clock", "expected a quantity in Hz"),
    ("name: ''", "chip.name", "non-empty string"),
    ("mac: {inference_latency: -5 ns}", "chip.mac.inference_latency", ">= 0 s"),
    ("weights: {device: {write_time: 1 pJ}}", "chip.weights.device.write_time", "a quantity in s"),
    ("bus: {latency: 10 MHz}", "chip.bus.latency", "a quantity in s"),
    ("crossbar: {rows: abc}", "chip.crossbar.rows", "expected a whole number, got 'abc'"),
    ("crossbar: {rows: [256]}", "chip.crossbar.rows", "expected a whole number"),
    ("crossbar: {cols: 0}", "chip.crossbar.cols", "expected a value >= 1, got 0"),
    ("crossbar: {cols: true}", "chip.crossbar.cols", "whole number"),
    ("timing: {tau_theta: 1.5}", "chip.timing.tau_theta", "expected a whole number, got 1.5"),
    ("timing: {tau_theta: 0}", "chip.timing.tau_theta", ">= 1"),
    ("timing: {tau_p: -3}", "chip.timing.tau_p", ">= 1"),
    ("weights: {device: {levels: 1}}", "chip.weights.device.levels", ">= 2"),
    ("weights: {device: {endurance_cycles: 0}}", "chip.weights.device.endurance_cycles", "> 0"),
    ("weights: {w_min: 1.0, w_max: -1.0}", "chip.weights.w_max", "w_max > w_min"),
    ("weights: {w_max: one}", "chip.weights.w_max", "expected a number, got 'one'"),
    ("weights: {w_max: .nan}", "chip.weights.w_max", "expected a number"),
    pytest.param("weights: {w_max: 1" + "0" * 400 + "}", "chip.weights.w_max", "expected a number",
                 id="w_max-int-beyond-float-range"),
    ("weights: [1, 2]", "chip.weights", "expected a mapping of keys, got list"),
    ("timing: 3", "chip.timing", "expected a mapping"),
])
def test_bad_chip_values_name_file_key_and_expectation(tmp_path, body, key, fragment):
    path = chip_file(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_chip(path)
    err = info.value
    assert err.file == str(path)
    assert err.key == key
    assert fragment in err.expected
    assert str(err).startswith(f"{path}: {key}: ")


@pytest.mark.parametrize("text, key, fragment", [
    ("nme: x\n" + MINIMAL_WORKLOAD, "nme", "unknown key; did you mean 'name'? expected one of: dataset, description"),
    (MINIMAL_WORKLOAD + "  hiden: [4]\n", "network.hiden", "unknown key"),
    (MINIMAL_WORKLOAD + "mgd: {perturbation: foo}\n", "mgd.perturbation",
     "expected one of weight, node, backprop, got 'foo'"),
    (MINIMAL_WORKLOAD + "mgd: {mode: turbo}\n", "mgd.mode", "expected one of chip, paper"),
    (MINIMAL_WORKLOAD + "mgd: {tau_theta: 1.5}\n", "mgd.tau_theta", "expected a whole number, got 1.5"),
    (MINIMAL_WORKLOAD + "mgd: {tau_theta: 0}\n", "mgd.tau_theta", "expected a value >= 1, got 0"),
    (MINIMAL_WORKLOAD + "mgd: {tau_p: '2.5'}\n", "mgd.tau_p", "whole number"),
    (MINIMAL_WORKLOAD + "mgd: {amplitude: 0}\n", "mgd.amplitude", "expected a value > 0"),
    (MINIMAL_WORKLOAD + "mgd: {learning_rate: -0.1}\n", "mgd.learning_rate", ">= 0"),
    (MINIMAL_WORKLOAD + "mgd: {learning_rate: [0.1]}\n", "mgd.learning_rate", "expected a number, got [0.1]"),
    (MINIMAL_WORKLOAD + "mgd: {learning_rate: .inf}\n", "mgd.learning_rate", "expected a number"),
    (MINIMAL_WORKLOAD + "mgd: {momentum: 1.5}\n", "mgd.momentum", "<= 1"),
    (MINIMAL_WORKLOAD + "mgd: {batch_size: ten}\n", "mgd.batch_size", "expected a whole number, got 'ten'"),
    (MINIMAL_WORKLOAD + "train: {iterations: 0}\n", "train.iterations", ">= 1"),
    (MINIMAL_WORKLOAD + "train: {seed: -1}\n", "train.seed", ">= 0"),
    (MINIMAL_WORKLOAD + "train: {target_accuracy: 2}\n", "train.target_accuracy", "<= 1"),
    (MINIMAL_WORKLOAD + "loss: hinge\n", "loss.kind", "expected one of cross_entropy, mse"),
    ("dataset: {name: nist7x7}\nnetwork: {kind: mlp, hidden: 16}\n", "network.hidden", "list"),
    ("dataset: {name: nist7x7}\nnetwork: {kind: mlp, hidden: [16, 0]}\n", "network.hidden[1]", ">= 1"),
    ("dataset: {name: nist7x7}\nnetwork: {kind: cnn}\n", "network.kind", "expected one of mlp, paper_cnn"),
    ("dataset: {name: nist7x7}\nnetwork: {kind: paper_cnn, width: 0}\n", "network.width", ">= 1"),
    ("network: {kind: mlp}\n", "dataset.name", "missing required key"),
    ("dataset: {name: nist7x7}\n", "network.kind", "missing required key"),
    ("dataset: {name: 7}\nnetwork: {kind: mlp}\n", "dataset.name", "non-empty string"),
    ("dataset: {name: nist7x7, classes: [1]}\nnetwork: {kind: mlp}\n", "dataset.classes", "at least 2"),
    ("dataset: {name: nist7x7, options: [1]}\nnetwork: {kind: mlp}\n", "dataset.options", "mapping"),
    ("dataset: nist7x7\nnetwork: {kind: mlp}\n", "dataset", "expected a mapping of keys, got str"),
])
def test_bad_workload_values_name_file_key_and_expectation(tmp_path, text, key, fragment):
    path = write(tmp_path, "w.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_workload(path)
    err = info.value
    assert (err.file, err.key) == (str(path), key)
    assert fragment in err.expected
    assert str(err).startswith(f"{path}: {key}: ")
    # validate_file reaches the same verdict on its own
    with pytest.raises(ConfigError) as again:
        validate_file(path)
    assert str(again.value) == str(err)


@pytest.mark.parametrize("text, fragment", [
    ("chip: {clock: [1 MHz\n", "malformed YAML at line"),
    ("chip:\n  clock: 1 MHz\n  clock: 2 MHz\n", "duplicate key 'clock'"),
    ("chip:\n  timing: {tau_p: 1, tau_p: 2}\n  clock: 1 MHz\n", "duplicate key 'tau_p'"),
    ("chip:\n  clock: 1 MHz\n\tname: x\n", "malformed YAML"),
    ("? [a, b]\n: 1\n", "unhashable key"),
    pytest.param("chip:\n  clock: 1" + "0" * 5000 + "\n", "malformed YAML", id="int-beyond-str-digits-limit"),
])
def test_unparseable_yaml_is_a_config_error(tmp_path, text, fragment):
    path = write(tmp_path, "bad.yaml", text)
    for load in (load_chip, load_workload, validate_file):
        with pytest.raises(ConfigError) as info:
            load(path)
        assert info.value.file == str(path)
        assert fragment in str(info.value)


def test_duplicate_key_error_gives_the_line(tmp_path):
    path = write(tmp_path, "dup.yaml", "chip:\n  clock: 1 MHz\n  name: a\n  name: b\n")
    with pytest.raises(ConfigError, match=r"line 4.*duplicate key 'name'"):
        load_chip(path)


def test_missing_empty_and_unreadable_files(tmp_path):
    missing = tmp_path / "nope.yaml"
    for load in (load_chip, load_workload, validate_file):
        with pytest.raises(ConfigError, match="file not found") as info:
            load(missing)
        assert info.value.file == str(missing)
    empty = write(tmp_path, "empty.yaml", "")
    with pytest.raises(ConfigError, match="expected a chip file with one top-level key 'chip:'"):
        load_chip(empty)
    with pytest.raises(ConfigError, match="expected a workload file"):
        load_workload(empty)
    with pytest.raises(ConfigError, match="empty.yaml"):
        validate_file(empty)
    with pytest.raises(ConfigError, match="could not read the file"):
        load_chip(tmp_path)  # a folder
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00chip")
    with pytest.raises(ConfigError, match="could not read the file"):
        validate_file(binary)


def test_chip_file_where_a_workload_is_expected_and_vice_versa():
    with pytest.raises(ConfigError) as info:
        load_workload(CHIP)
    assert (info.value.file, info.value.key) == (str(CHIP), "chip")
    assert "this is a chip file; a workload file was expected here" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_chip(NIST)
    assert info.value.file == str(NIST)
    assert "expected a chip file with one top-level key 'chip:'" in str(info.value)


def test_chip_file_with_extra_top_level_keys_or_a_scalar_chip(tmp_path):
    with pytest.raises(ConfigError, match="one top-level key 'chip:'"):
        load_chip(write(tmp_path, "a.yaml", "chip: {clock: 1 MHz}\nextra: 1\n"))
    with pytest.raises(ConfigError) as info:
        load_chip(write(tmp_path, "b.yaml", "chip: 3\n"))
    assert info.value.key == "chip"
    with pytest.raises(ConfigError) as info:
        load_chip(write(tmp_path, "c.yaml", "chip:\n"))
    assert info.value.key == "chip"
    with pytest.raises(ConfigError, match="expected a workload file"):
        load_workload(write(tmp_path, "d.yaml", "- a\n- b\n"))


def test_config_error_is_a_neurosim_error():
    err = ConfigError("f.yaml", "a.b", "expected x")
    assert isinstance(err, NeurosimError)
    assert str(err) == "f.yaml: a.b: expected x"
    assert str(ConfigError(None, "k", "expected y")) == "<command line>: k: expected y"


# ---- --set overrides ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, key, value", [
    ("network.width=8", "network.width", 8),
    ("chip.clock=10MHz", "chip.clock", "10MHz"),
    ("chip.clock=1e6", "chip.clock", "1e6"),
    ("mgd.amplitude=0.05", "mgd.amplitude", 0.05),
    ("network.hidden=[16, 8]", "network.hidden", [16, 8]),
    ("dataset.options={train_size: 10}", "dataset.options", {"train_size": 10}),
    ("mgd.tau_theta=null", "mgd.tau_theta", None),
    ("name=a=b", "name", "a=b"),
    (" network.width = 4", "network.width", 4),
    ("dataset.options=[1", "dataset.options", "[1"),  # not YAML: kept as the string, rejected by its field
])
def test_override_parse(text, key, value):
    override = Override.parse(text)
    assert (override.key, override.value) == (key, value)


@pytest.mark.parametrize("text", ["network.width", "=8", "network..width=8", ".width=8", "network.=8", ""])
def test_override_parse_rejects_malformed(text):
    with pytest.raises(ConfigError) as info:
        Override.parse(text)
    assert info.value.file == "--set"
    assert info.value.key == text
    assert "expected KEY=VALUE" in str(info.value)


def test_set_refuses_a_list_entry_instead_of_making_a_key_named_like_it():
    """--set network.layers[0].conv=3 used to create a key "layers[0]" and fail as "network.layers[0]: unknown
    key", which reads as if the first layer were unknown."""
    with pytest.raises(ConfigError, match="set the whole list") as info:
        Override.parse("network.layers[0].conv=3")
    assert info.value.file == "--set"


def test_overrides_take_effect_in_both_files():
    config = load_config(CHIP, FASHION, ["chip.clock=10MHz", "network.width=8", "mgd.tau_theta=4",
                                         "chip.timing.tau_p=3", "chip.weights.device.levels=16",
                                         "train.iterations=50", "dataset.options={train_size: 100}"])
    assert config.chip.clock_hz == 1e7
    assert config.chip.timing.tau_p == 3
    assert config.chip.weights.device.levels == 16
    assert config.workload.network.width == 8
    assert config.workload.mgd.tau_theta == 4
    assert config.workload.train.iterations == 50
    assert dict(config.workload.dataset.options) == {"train_size": 100}
    assert (config.chip_file, config.workload_file) == (str(CHIP), str(FASHION))
    # untouched keys keep the files' values
    assert config.chip.crossbar.rows == 256
    assert config.workload.mgd.batch_size == 100


def test_overrides_do_not_leak_between_loads():
    assert load_config(CHIP, NIST, ["chip.clock=5 MHz"]).chip.clock_hz == 5e6
    assert load_config(CHIP, NIST).chip.clock_hz == 1e6
    assert load_config(CHIP, NIST, []).workload.network.hidden == (16,)


def test_override_can_add_a_key_absent_from_the_file_and_later_wins(tmp_path):
    path = write(tmp_path, "w.yaml", MINIMAL_WORKLOAD)
    config = load_config(CHIP, path, ["mgd.optimizer=adam", "mgd.optimizer=momentum"])
    assert config.workload.mgd.optimizer == "momentum"


@pytest.mark.parametrize("sets, file, key, fragment", [
    (["chip.clock=abc"], CHIP, "chip.clock", "expected a quantity in Hz"),
    (["chip.clock=5 ns"], CHIP, "chip.clock", "expected a quantity in Hz, got '5 ns'"),
    (["chip.clock=0"], CHIP, "chip.clock", "> 0 Hz"),
    (["chip.clokc=1MHz"], CHIP, "chip.clokc", "unknown key"),
    (["chip.weights.device.endurance_cyles=5"], CHIP, "chip.weights.device.endurance_cyles", "unknown key"),
    (["chip.clock.x=1"], CHIP, "chip.clock", "is a value, not a section"),
    (["netwrk.width=8"], NIST, "netwrk", "unknown key"),
    (["network.width=abc"], NIST, "network.width", "expected a whole number, got 'abc'"),
    (["network.width=0"], NIST, "network.width", ">= 1"),
    (["mgd.tau_theta=1.5"], NIST, "mgd.tau_theta", "whole number"),
    (["mgd.perturbation=foo"], NIST, "mgd.perturbation", "expected one of"),
    (["network.hidden.0=3"], NIST, "network.hidden", "is a value, not a section"),
    (["dataset.options=[1"], NIST, "dataset.options", "mapping"),
    (["chip=3"], NIST, "chip", "unknown key"),  # no 'chip.' prefix: a workload key
])
def test_bad_override_names_its_key(sets, file, key, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(CHIP, NIST, sets)
    err = info.value
    assert (err.file, err.key) == (str(file), key)
    assert fragment in str(err)


def test_malformed_override_is_reported_before_the_files_are_read(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing-chip.yaml", NIST, ["network.width"])
    assert (info.value.file, info.value.key) == ("--set", "network.width")


def test_config_reference_is_up_to_date():
    """docs/config.md is generated from the spec; regenerate it with python -m neurosim.spec.reference."""
    from neurosim.spec.reference import config_reference

    committed = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == config_reference()


def test_analog_devices_reject_step_settings(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("chip:\n  clock: 1 MHz\n  weights:\n    device: {asymmetry: 0.3}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_chip(path)
    assert info.value.key == "chip.weights.device.asymmetry" and "finite number of levels" in str(info.value)


def test_a_chip_file_starts_from_its_base(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("chip:\n  name: base\n  clock: 2 MHz\n  weights:\n    w_max: 2.0\n    device:\n"
                    "      write_time: 10 ns\n      endurance_cycles: 1e6\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    child = tmp_path / "sub" / "child.yaml"
    child.write_text("chip:\n  base: ../base.yaml\n  name: child\n  weights:\n    device:\n      endurance_cycles: 1e4\n",
                     encoding="utf-8")
    chip = load_chip(child)
    assert (chip.name, chip.clock_hz, chip.weights.w_max) == ("child", 2e6, 2.0)      # inherited
    assert chip.weights.device.endurance_cycles == 1e4                                 # overridden
    assert chip.weights.device.write_time_s == 10e-9                                   # the rest of its section
    assert load_chip(child, [Override.parse("chip.clock=3MHz")]).clock_hz == 3e6       # --set on top


@pytest.mark.parametrize("base, message", [
    ("missing.yaml", "no chip file"), ("self.yaml", "cycle"), ("[1, 2]", "expected the path"),
])
def test_a_bad_chip_base_names_the_key(tmp_path, base, message):
    path = tmp_path / "self.yaml"
    path.write_text(f"chip:\n  base: {base}\n  name: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_chip(path)
    assert info.value.key == "chip.base"


def test_the_device_chips_inherit_the_reference_periphery():
    reference = load_chip(REPO / "chips/reference.yaml")
    for name in ("reram", "pcm", "ecram", "fefet", "sonos"):
        chip = load_chip(REPO / f"chips/{name}.yaml")
        assert "base: reference.yaml" in (REPO / f"chips/{name}.yaml").read_text(encoding="utf-8")
        for section in ("timing", "perturbation", "mac", "cost", "bus", "accumulator"):
            assert getattr(chip, section) == getattr(reference, section), (name, section)


def test_a_bad_value_in_a_base_file_is_reported_in_that_file(tmp_path):
    """The user must be sent to the file that holds the bad value: the base, not the chip file that names it
    (and a value set on the command line stays the command line's)."""
    base = tmp_path / "base.yaml"
    base.write_text("chip:\n  name: base\n  clock: banana\n  weights:\n    frobnicate: 1\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    middle = tmp_path / "middle.yaml"
    middle.write_text("chip:\n  base: base.yaml\n  name: middle\n", encoding="utf-8")
    child = tmp_path / "sub" / "child.yaml"
    child.write_text("chip:\n  base: ../middle.yaml\n  name: child\n  crossbar: {rows: 0}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_chip(child, [Override.parse("chip.weights.frobnicate=null"), Override.parse("chip.crossbar.rows=8")])
    assert (Path(info.value.file).resolve(), info.value.key) == (base.resolve(), "chip.clock")
    with pytest.raises(ConfigError) as info:  # unknown keys too
        load_chip(child, [Override.parse("chip.clock=1MHz"), Override.parse("chip.crossbar.rows=8")])
    assert (Path(info.value.file).resolve(), info.value.key) == (base.resolve(), "chip.weights.frobnicate")
    with pytest.raises(ConfigError) as info:  # the child's own value
        load_chip(child, [Override.parse("chip.clock=1MHz"), Override.parse("chip.weights={}")])
    assert (info.value.file, info.value.key) == (str(child), "chip.crossbar.rows")
    with pytest.raises(ConfigError) as info:  # a value given on the command line: the chip file given
        load_chip(child, [Override.parse("chip.clock=zz"), Override.parse("chip.weights={}")])
    assert (info.value.file, info.value.key) == (str(child), "chip.clock")


def test_set_chip_base_starts_the_chip_from_another_file(tmp_path):
    """--set chip.base=FILE replaces the file's base (relative to the chip file, as written there)."""
    (tmp_path / "fast.yaml").write_text("chip:\n  name: fast\n  clock: 5 MHz\n", encoding="utf-8")
    (tmp_path / "slow.yaml").write_text("chip:\n  name: slow\n  clock: 1 MHz\n", encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text("chip:\n  base: slow.yaml\n  name: child\n", encoding="utf-8")
    assert load_chip(child).clock_hz == 1e6
    assert load_chip(child, [Override.parse("chip.base=fast.yaml")]).clock_hz == 5e6
    own = tmp_path / "own.yaml"
    own.write_text("chip:\n  name: own\n", encoding="utf-8")  # a file without a base may be given one
    assert load_chip(own, [Override.parse("chip.base=fast.yaml")]).clock_hz == 5e6
    with pytest.raises(ConfigError, match="missing required key"):  # null: the file alone, which lacks a clock
        load_chip(child, [Override.parse("chip.base=null")])
    with pytest.raises(ConfigError, match="no chip file") as info:
        load_chip(child, [Override.parse("chip.base=missing.yaml")])
    assert info.value.key == "chip.base"
