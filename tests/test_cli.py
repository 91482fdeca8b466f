"""Tests of the ``neurosim`` command line: validate, describe, train and the one-line error contract.

Every bad input must end with ONE message on stderr naming the file, the key path and what was expected,
and exit status 2, never a traceback. A few cases run the real module in a subprocess
(``python -m neurosim.cli``); the rest call :func:`neurosim.cli.main` in-process. Describing the paper CNN
needs Fashion-MNIST for its shapes: it is read from ``$NEUROSIM_TEST_DATA`` or ``<repo>/../shared/data``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, call_cli

from neurosim.cli import EXIT_USAGE

CHIP = REPO / "chips" / "reference.yaml"
NIST = REPO / "workloads" / "nist7x7.yaml"
FASHION = REPO / "workloads" / "fashion-cnn.yaml"

GOOD_CHIP = "chip:\n  name: tiny\n  clock: 1 MHz\n"
GOOD_WORKLOAD = NIST.read_text(encoding="utf-8")


@pytest.fixture
def fashion_dir(fashion_data_dir: Path) -> Path:
    return fashion_data_dir


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_module(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """The real command, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if k != "NEUROSIM_DATA"}
    return subprocess.run([sys.executable, "-m", "neurosim.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def call(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    return call_cli(capsys, *args)


def assert_one_clear_error(code: int, err: str, *fragments: object) -> str:
    """Exit 2, no traceback, exactly one line on stderr, containing every fragment."""
    assert code == EXIT_USAGE == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    line = lines[0]
    assert line.startswith("neurosim: error: "), line
    for fragment in fragments:
        assert str(fragment) in line, f"{fragment!r} missing from: {line}"
    return line


# ---- validate ----------------------------------------------------------------------------------------

def test_validate_shipped_files_end_to_end():
    proc = run_module("validate", "chips/reference.yaml", "workloads/nist7x7.yaml", "workloads/fashion-cnn.yaml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        "chips/reference.yaml: valid chip file",
        "workloads/nist7x7.yaml: valid workload file",
        "workloads/fashion-cnn.yaml: valid workload file",
    ]


def test_validate_broken_file_end_to_end(tmp_path):
    bad = write(tmp_path, "broken.yaml", "chip:\n  clock: 5 ns\n")
    proc = run_module("validate", str(CHIP), str(bad))
    assert_one_clear_error(proc.returncode, proc.stderr, bad, "chip.clock", "expected a quantity in Hz", "5 ns")
    assert proc.stdout == f"{CHIP}: valid chip file\n"  # the good file before it was still reported


def test_validate_needs_no_data(tmp_path, capsys, monkeypatch):
    # a workload naming a file-backed data set validates without the data being present
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NEUROSIM_DATA", raising=False)
    code, out, err = call(capsys, "validate", FASHION)
    assert (code, err) == (0, "")
    assert out == f"{FASHION}: valid workload file\n"


# ---- the bad-input contract ----------------------------------------------------------------------------

# (file name, file text, command with {F} for the file, key path or None, what was expected)
BAD_INPUTS = [
    pytest.param("w.yaml", "nme: x\n" + GOOD_WORKLOAD, ["train", CHIP, "{F}"], "nme",
                 "unknown key; did you mean 'name'? expected one of", id="unknown-top-level-key"),
    pytest.param("w.yaml", GOOD_WORKLOAD.replace("  hidden: [16]", "  hidden: [16]\n  hiden: [8]"),
                 ["describe", CHIP, "{F}"], "network.hiden", "unknown key", id="unknown-nested-workload-key"),
    pytest.param("c.yaml", GOOD_CHIP + "  weights:\n    device:\n      endurance_cyles: 1.0e6\n",
                 ["train", "{F}", NIST], "chip.weights.device.endurance_cyles",
                 "did you mean 'endurance_cycles'?", id="unknown-nested-chip-key"),
    pytest.param("c.yaml", GOOD_CHIP + "  crossbar: {rows: many}\n", ["describe", "{F}", NIST],
                 "chip.crossbar.rows", "expected a whole number, got 'many'", id="string-for-int"),
    pytest.param("w.yaml", GOOD_WORKLOAD.replace("  optimizer: sgd", "  optimizer: sgd\n  batch_size: ten"),
                 ["train", CHIP, "{F}"], "mgd.batch_size", "expected a whole number", id="string-for-int-workload"),
    pytest.param("w.yaml", GOOD_WORKLOAD.replace("learning_rate: 0.005", "learning_rate: [0.005]"),
                 ["train", CHIP, "{F}"], "mgd.learning_rate", "expected a number", id="list-for-number"),
    pytest.param("c.yaml", "chip:\n  clock: [1, 2]\n", ["validate", "{F}"], "chip.clock",
                 "expected a quantity in Hz, got list", id="list-for-quantity"),
    pytest.param("c.yaml", "chip:\n  clock: 5 ns\n", ["train", "{F}", NIST], "chip.clock",
                 "expected a quantity in Hz, got '5 ns'", id="clock-in-seconds"),
    pytest.param("c.yaml", "chip:\n  clock: 0 MHz\n", ["describe", "{F}", NIST], "chip.clock",
                 "expected a quantity > 0 Hz", id="zero-clock"),
    pytest.param("c.yaml", "chip:\n  clock: -1 MHz\n", ["train", "{F}", NIST], "chip.clock",
                 "expected a quantity > 0 Hz", id="negative-clock"),
    pytest.param("c.yaml", "chip:\n  clock: .nan\n", ["validate", "{F}"], "chip.clock", "finite", id="nan-clock"),
    pytest.param("c.yaml", GOOD_CHIP + "  mac: {inference_latency: -100 ns}\n", ["train", "{F}", NIST],
                 "chip.mac.inference_latency", "expected a quantity >= 0 s", id="negative-time"),
    pytest.param("c.yaml", GOOD_CHIP + "  weights: {device: {write_time: .inf}}\n", ["validate", "{F}"],
                 "chip.weights.device.write_time", "finite", id="infinite-time"),
    pytest.param("w.yaml", GOOD_WORKLOAD.replace("  optimizer: sgd", "  optimizer: sgd\n  tau_theta: 1.5"),
                 ["train", CHIP, "{F}"], "mgd.tau_theta", "expected a whole number, got 1.5", id="fractional-tau"),
    pytest.param("c.yaml", GOOD_CHIP + "  timing: {tau_theta: 0}\n", ["train", "{F}", NIST],
                 "chip.timing.tau_theta", "expected a value >= 1, got 0", id="zero-tau"),
    pytest.param("w.yaml", GOOD_WORKLOAD.replace("perturbation: weight", "perturbation: foo"),
                 ["train", CHIP, "{F}"], "mgd.perturbation", "expected one of weight, node, backprop, got 'foo'",
                 id="unknown-choice"),
    pytest.param("w.yaml", "name: x\ndataset: {name: nist7x7\nnetwork: {kind: mlp}\n", ["train", CHIP, "{F}"],
                 None, "malformed YAML at line", id="unclosed-bracket"),
    pytest.param("c.yaml", "chip:\n  clock: 1 MHz\n  name: a\n  name: b\n", ["describe", "{F}", NIST],
                 None, "duplicate key 'name'", id="duplicate-key"),
    pytest.param("w.yaml", "", ["train", CHIP, "{F}"], None, "expected a workload file", id="empty-workload"),
    pytest.param("c.yaml", "", ["train", "{F}", NIST], None, "expected a chip file", id="empty-chip"),
    pytest.param("c.yaml", "# only a comment\n", ["validate", "{F}"], None, "expected a workload file",
                 id="empty-file-validated"),
    pytest.param("w.yaml", CHIP.read_text(encoding="utf-8"), ["train", CHIP, "{F}"], "chip",
                 "this is a chip file; a workload file was expected here", id="chip-file-as-workload"),
    pytest.param("c.yaml", GOOD_WORKLOAD, ["describe", "{F}", NIST], None,
                 "expected a chip file with one top-level key 'chip:'", id="workload-file-as-chip"),
]


@pytest.mark.parametrize("name, text, command, key, expected", BAD_INPUTS)
def test_bad_input_is_one_clear_error(tmp_path, capsys, name, text, command, key, expected):
    path = write(tmp_path, name, text)
    args = [str(path) if a == "{F}" else a for a in command]
    if command[0] == "train":
        args += ["--iterations", "10"]  # should the file be accepted after all, fail fast rather than train long
    code, out, err = call(capsys, *args)
    line = assert_one_clear_error(code, err, path, expected)
    if key is not None:
        assert f"{path}: {key}: " in line
    assert out == ""


def test_missing_file(tmp_path, capsys):
    missing = tmp_path / "no-such-workload.yaml"
    for args in (["train", CHIP, missing], ["describe", CHIP, missing], ["validate", missing]):
        code, _, err = call(capsys, *args)
        assert_one_clear_error(code, err, missing, "file not found")
    code, _, err = call(capsys, "train", tmp_path / "no-chip.yaml", NIST)
    assert_one_clear_error(code, err, tmp_path / "no-chip.yaml", "file not found")


def test_bad_inputs_end_to_end(tmp_path):
    """The real process: unknown nested key, malformed YAML, wrong-kind file, missing file."""
    typo = write(tmp_path, "typo-chip.yaml", GOOD_CHIP + "  weights:\n    device:\n      endurance_cyles: 5\n")
    proc = run_module("train", typo, NIST, "--iterations", "10")
    assert_one_clear_error(proc.returncode, proc.stderr, typo, "chip.weights.device.endurance_cyles",
                           "unknown key")
    assert proc.stdout == ""
    broken = write(tmp_path, "broken.yaml", "dataset: [nist7x7\n")
    proc = run_module("describe", CHIP, broken)
    assert_one_clear_error(proc.returncode, proc.stderr, broken, "malformed YAML")
    proc = run_module("train", NIST, CHIP)
    assert_one_clear_error(proc.returncode, proc.stderr, NIST, "expected a chip file")
    proc = run_module("validate", tmp_path / "absent.yaml")
    assert_one_clear_error(proc.returncode, proc.stderr, tmp_path / "absent.yaml", "file not found")


def test_unknown_dataset_is_reported_when_loaded_end_to_end(tmp_path):
    text = GOOD_WORKLOAD.replace("name: nist7x7\n  options", "name: cifar\n  options")
    workload = write(tmp_path, "cifar.yaml", text)
    assert "name: cifar" in workload.read_text()
    proc = run_module("validate", workload)  # the spec does not know the data sets
    assert proc.returncode == 0, proc.stderr
    proc = run_module("train", CHIP, workload, "--iterations", "10")
    line = assert_one_clear_error(proc.returncode, proc.stderr, workload, "dataset.name", "'cifar'",
                                  "unknown data set")
    assert "nist7x7" in line  # says what was expected
    assert proc.stdout == ""


def test_unknown_dataset_in_describe_and_via_set(tmp_path, capsys):
    code, _, err = call(capsys, "describe", CHIP, NIST, "--set", "dataset.name=cifar")
    assert_one_clear_error(code, err, NIST, "dataset.name", "'cifar'")


def test_bad_dataset_options_and_classes_name_the_workload(capsys):
    code, _, err = call(capsys, "describe", CHIP, NIST, "--set", "dataset.options.foo=1")
    assert_one_clear_error(code, err, f"{NIST}: dataset: ", "unknown option 'foo'")
    code, _, err = call(capsys, "describe", CHIP, NIST, "--set", "dataset.classes=[0, 9]")
    assert_one_clear_error(code, err, f"{NIST}: dataset: ", "class 9 out of range")


def test_missing_data_set_names_the_workload_and_where_it_looked(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NEUROSIM_DATA", raising=False)
    empty = tmp_path / "data"
    empty.mkdir()
    code, _, err = call(capsys, "train", CHIP, FASHION, "--data-dir", empty, "--iterations", "1")
    assert_one_clear_error(code, err, f"{FASHION}: dataset: ", "fashion-mnist data not found", str(empty),
                           "neurosim data fetch fashion-mnist")


def test_network_unfit_for_the_data_names_the_workload(capsys):
    code, _, err = call(capsys, "describe", CHIP, NIST, "--set", "dataset.name=parity",
                        "--set", "dataset.options={}", "--set", "network.kind=paper_cnn")
    line = assert_one_clear_error(code, err, f"{NIST}: network.kind: ", "paper_cnn needs image")
    assert "<command line>" not in line


# ---- --set and command-line options -----------------------------------------------------------------------

@pytest.mark.parametrize("sets, fragments", [
    (["network.width"], ["--set", "network.width", "expected KEY=VALUE"]),
    (["=8"], ["--set", "expected KEY=VALUE"]),
    (["network..width=8"], ["--set", "network..width=8", "expected KEY=VALUE"]),
    (["chip.clokc=10MHz"], [CHIP, "chip.clokc", "unknown key"]),
    (["chip.weights.device.endurance_cyles=5"], [CHIP, "chip.weights.device.endurance_cyles", "unknown key"]),
    (["chip.clock=abc"], [CHIP, "chip.clock", "expected a quantity in Hz"]),
    (["chip.clock=5 ns"], [CHIP, "chip.clock", "'5 ns'"]),
    (["chip.clock=0"], [CHIP, "chip.clock", "> 0 Hz"]),
    (["netwrk.width=8"], [NIST, "netwrk", "unknown key"]),
    (["network.width=abc"], [NIST, "network.width", "expected a whole number, got 'abc'"]),
    (["mgd.tau_theta=0"], [NIST, "mgd.tau_theta", ">= 1"]),
    (["mgd.perturbation=foo"], [NIST, "mgd.perturbation", "expected one of"]),
    (["network.hidden.0=4"], [NIST, "network.hidden", "not a section"]),
])
@pytest.mark.parametrize("command", ["train", "describe"])
def test_bad_override_is_one_clear_error_naming_the_key(capsys, command, sets, fragments):
    args = [command, CHIP, NIST]
    for s in sets:
        args += ["--set", s]
    code, out, err = call(capsys, *args)
    assert_one_clear_error(code, err, *fragments)
    assert out == ""


def test_set_without_equals_end_to_end():
    proc = run_module("train", CHIP, NIST, "--set", "network.width")
    assert_one_clear_error(proc.returncode, proc.stderr, "--set", "network.width", "KEY=VALUE")


@pytest.mark.parametrize("args, fragments", [
    (["--iterations", "0"], ["--iterations", "expected a whole number from 1 to"]),
    (["--iterations", "-5"], ["--iterations", "from 1 to"]),
    (["--iterations", "99999999999999999999"], ["--iterations", "from 1 to"]),
    (["--seed", "-1"], ["--seed", "from 0 to"]),
    (["--seed", "18446744073709551616"], ["--seed", "from 0 to"]),
])
def test_bad_train_options(capsys, args, fragments):
    code, out, err = call(capsys, "train", CHIP, NIST, *args)
    assert_one_clear_error(code, err, *fragments)
    assert out == ""


def test_argparse_errors_exit_2_without_traceback(capsys):
    for args in (["train", CHIP, NIST, "--iterations", "abc"], ["train", CHIP], ["frobnicate"], [],
                 ["data", "fetch", "cifar"]):
        code, out, err = call(capsys, *args)
        assert code == 2, args
        assert "Traceback" not in err
        assert "neurosim: error: " in err
        assert out == ""


def test_unwritable_run_file_is_a_clear_error(tmp_path, capsys):
    target = tmp_path / "no-such-folder" / "run.h5"
    code, _, err = call(capsys, "train", CHIP, NIST, "--iterations", "10", "--set", "train.eval_interval=10",
                        "--set", "train.eval_size=10", "--quiet", "--out", target)
    assert_one_clear_error(code, err, target, "does not exist")
    assert not target.parent.exists()


# ---- describe ------------------------------------------------------------------------------------------

def test_describe_nist7x7_json(capsys):
    code, out, err = call(capsys, "describe", CHIP, NIST, "--json")
    assert (code, err) == (0, "")
    info = json.loads(out)
    assert (info["chip"], info["workload"], info["dataset"]) == ("reference", "nist7x7", "nist7x7")
    assert info["classes"] == 4
    assert info["input_shape"] == [49]
    # 49-16-4 MLP with biases
    assert info["parameters"] == 49 * 16 + 16 + 16 * 4 + 4 == 868
    assert info["perturbed_nodes"] == 16 + 4
    assert [layer["parameters"] for layer in info["layers"]] == [800, 68]
    assert [layer["output_shape"] for layer in info["layers"]] == [[16], [4]]
    assert [(layer["crossbar_rows"], layer["crossbar_cols"]) for layer in info["layers"]] == [(50, 16), (17, 4)]
    assert info["tiles"] == 2  # each layer fits one 256x256 tile


def test_describe_nist7x7_text_end_to_end():
    proc = run_module("describe", "chips/reference.yaml", "workloads/nist7x7.yaml")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "nist7x7 on reference: 868 parameters, 20 nodes, 868 MACs/sample, 2 tiles"
    assert lines[1].split()[:2] == ["dense1", "dense"] and "params 800" in lines[1]
    assert lines[2].split()[:2] == ["dense2", "dense"] and "params 68" in lines[2]


def test_describe_overrides_take_effect(capsys):
    code, out, err = call(capsys, "describe", CHIP, NIST, "--json", "--set", "network.hidden=[32, 8]",
                          "--set", "chip.crossbar.rows=16", "--set", "chip.crossbar.cols=16",
                          "--set", "chip.name=small")
    assert code == 0, err
    info = json.loads(out)
    assert info["chip"] == "small"
    assert info["parameters"] == (49 * 32 + 32) + (32 * 8 + 8) + (8 * 4 + 4)
    assert info["perturbed_nodes"] == 32 + 8 + 4
    # 16x16 tiles: layer 1 is 50 rows x 32 cols -> 4 x 2 tiles; 33 x 8 -> 3 x 1; 9 x 4 -> 1
    assert [layer["tiles"] for layer in info["layers"]] == [8, 3, 1]
    assert info["tiles"] == 12


@pytest.mark.parametrize("d", [1, 8, 48])
def test_describe_paper_cnn_counts(capsys, d):
    """describe needs no data: the data set's shape is known from its name."""
    code, out, err = call(capsys, "describe", CHIP, FASHION, "--json", "--set", f"network.width={d}")
    assert code == 0, err
    info = json.loads(out)
    assert info["dataset"] == "fashion-mnist"
    assert info["classes"] == 10
    assert info["parameters"] == 439 * d * d + 71 * d + 10
    assert info["perturbed_weight_parameters"] == info["parameters"]
    assert info["perturbed_nodes"] == 2752 * d + 10
    assert sum(layer["parameters"] for layer in info["layers"]) == info["parameters"]
    assert sum(layer["nodes"] for layer in info["layers"]) == info["perturbed_nodes"]


def test_describe_paper_cnn_width_8_end_to_end():
    proc = run_module("describe", "chips/reference.yaml", "workloads/fashion-cnn.yaml", "--json",
                      "--set", "network.width=8")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["parameters"] == 439 * 64 + 71 * 8 + 10 == 28674
    assert info["perturbed_nodes"] == 2752 * 8 + 10


# ---- train ---------------------------------------------------------------------------------------------

def test_train_short_run_end_to_end_with_chip_override():
    proc = run_module("train", "chips/reference.yaml", "workloads/nist7x7.yaml", "--iterations", "200",
                      "--json", "--quiet", "--set", "chip.clock=2MHz", "--set", "train.eval_interval=100",
                      "--set", "train.eval_size=200")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["clock_hz"] == 2e6          # --set chip.clock took effect
    assert summary["iterations"] == 200        # --iterations took effect
    assert (summary["chip"], summary["workload"], summary["mode"]) == ("reference", "nist7x7", "chip")
    assert summary["parameters"] == 868
    assert summary["events"]["cycles"] == 200
    assert summary["simulated_time_s"] >= 200 / 2e6  # at least one 500 ns cycle per iteration
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert summary["energy_j"] > 0
