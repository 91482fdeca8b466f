"""Tests of ``neurosim report``: the side-by-side table and JSON agree with the run files, the plots are real
images of the documented sizes, wear maps follow the crossbar layout, and bad inputs give one clear line.

Two tiny runs are made once per module: the reference chip (single devices, no failures) and the PCM
differential-pair chip with a low endurance, so that some devices fail and pairs must be folded onto their
crossbar cells. The command is called in-process through :func:`call`, which uses ``neurosim.cli.main`` once
``report`` is wired into it and a parser of its own until then.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import REPO, TINY_PARITY, call_cli, config_with

from neurosim.results import json_safe
from neurosim import cli
from neurosim.io.runfile import read_curves, read_summary
from neurosim.report import (
    DPI,
    FIG_CURVES,
    FIG_HIST,
    MAP_COLUMNS,
    MAP_PANEL,
    crossbar_image,
    read_run,
)

TINY = (*TINY_PARITY, "train.eval_interval=50")
ITERATIONS = 200


def call(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    return call_cli(capsys, *args)


def assert_one_line_error(code: int, err: str, *fragments: object) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurosim: error: "), err
    for fragment in fragments:
        assert str(fragment) in lines[0], f"{fragment!r} missing from {lines[0]!r}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import neurosim

    folder = tmp_path_factory.mktemp("runs")
    ref = folder / "ref.h5"
    worn = folder / "worn.h5"
    neurosim.train(config_with(*TINY), iterations=ITERATIONS, out=ref)
    neurosim.train(config_with(*TINY, "chip.weights.device.endurance_cycles=150",
                               "chip.weights.device.endurance_spread=0.3", chip="chips/pcm.yaml"),
                   iterations=ITERATIONS, seed=3, out=worn)
    return {"ref": ref, "worn": worn}


def table_rows(out: str) -> dict[str, list[str]]:
    """The text table as {row name: cells}, split on the header's column positions."""
    lines = out.splitlines()
    header = lines[0]
    starts = [0] + [i + 2 for i in range(len(header) - 2) if header[i:i + 2] == "  " and header[i + 2] != " "]
    rows = {}
    for line in lines[2:]:
        if not line.strip():
            break
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
        rows[cells[0]] = cells[1:]
    rows["run"] = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None])][1:]
    return rows


def test_table_matches_run_files(capsys: pytest.CaptureFixture, runs: dict[str, Path]) -> None:
    code, out, err = call(capsys, "report", runs["ref"], runs["worn"])
    assert code == 0, err
    rows = table_rows(out)
    assert rows["run"] == ["ref", "worn"]
    assert rows["status"] == ["finished", "finished"]
    for column, key in enumerate(("ref", "worn")):
        s = read_summary(runs[key])
        assert rows["chip"][column] == s.chip
        assert rows["seed"][column] == str(s.seed)
        assert rows["iterations"][column] == str(ITERATIONS) == str(s.iterations)
        assert rows["τθ"][column] == str(s.tau_theta)
        assert rows["test accuracy"][column] == f"{s.test_accuracy:.4f}"
        assert rows["best accuracy"][column] == f"{s.best_test_accuracy:.4f}"
        assert rows["writes total"][column] == str(s.weight_writes_total)
        assert rows["writes max/device"][column] == str(s.weight_writes_max_per_device)
        assert rows["failed devices"][column] == f"{s.failed_devices} of {s.devices}"
        target = s.iterations_to_target
        assert rows["iterations to target"][column] == ("never" if target is None else str(target))
    assert read_summary(runs["ref"]).chip == "reference"
    assert read_summary(runs["worn"]).failed_devices > 0, "the worn run should have failed devices"


def test_json_is_the_summaries(capsys: pytest.CaptureFixture, runs: dict[str, Path]) -> None:
    code, out, _ = call(capsys, "report", runs["worn"], runs["ref"], "--json")
    assert code == 0
    data = json.loads(out)
    assert [d["run_file"] for d in data] == [str(runs["worn"]), str(runs["ref"])]
    assert [d["complete"] for d in data] == [True, True]
    for entry, key in zip(data, ("worn", "ref")):
        expected = json_safe(read_summary(runs[key]).as_dict())
        assert {k: v for k, v in entry.items() if k not in ("run_file", "complete")} == expected


@pytest.mark.parametrize("change,named", [("drop", "missing best_test_accuracy"), ("add", "unknown accuracy_pct")])
def test_a_summary_of_another_shape_is_refused_by_name(capsys: pytest.CaptureFixture, runs: dict[str, Path],
                                                       tmp_path: Path, change: str, named: str) -> None:
    """A run file's summary is read as the one summary type: a field missing or unknown (a file of another
    version) is a clear error naming the file and the field, not a '?' in the table or a KeyError later."""
    path = tmp_path / "other.h5"
    shutil.copy(runs["ref"], path)
    with h5py.File(path, "r+") as f:
        stored = json.loads(f["summary"].attrs["json"])
        if change == "drop":
            del stored["best_test_accuracy"]
        else:
            stored["accuracy_pct"] = 97.0
        f["summary"].attrs["json"] = json.dumps(stored)
    code, out, err = call(capsys, "report", path)
    assert code == 2 and out == ""
    assert str(path) in err and named in err and "Traceback" not in err


def test_crossbar_image_folds_pairs_and_bias_row() -> None:
    """The stored order (weights (devices, fan_in, fan_out), then bias (devices, fan_out)) onto the crossbar."""
    rng = np.random.default_rng(0)
    w, b = rng.integers(0, 100, (2, 3, 4)), rng.integers(0, 100, (2, 4))
    image = crossbar_image(np.concatenate([w.ravel(), b.ravel()]), (4, 4))
    np.testing.assert_array_equal(image[:3], w.sum(axis=0))
    np.testing.assert_array_equal(image[3], b.sum(axis=0))
    single = crossbar_image(np.concatenate([w[0].ravel(), b[0].ravel()]), (4, 4))
    np.testing.assert_array_equal(single, np.vstack([w[0], b[0]]))


def test_crossbar_shapes_come_from_the_stored_config(runs: dict[str, Path]) -> None:
    from neurosim.simulation import describe

    for key, chip in (("ref", "chips/reference.yaml"), ("worn", "chips/pcm.yaml")):
        run = read_run(runs[key])
        layers = describe(config_with(*TINY, chip=chip))["layers"]
        assert run.crossbars == {x["name"]: (x["crossbar_rows"], x["crossbar_cols"]) for x in layers}
        assert list(run.wear) == [x["name"] for x in layers]
        for name, counts in run.wear.items():
            assert crossbar_image(counts, run.crossbars[name]).sum() == counts.sum()
        np.testing.assert_array_equal(run.curves["test_accuracy"], read_curves(runs[key])["test_accuracy"])


def _png(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    assert path.is_file() and path.stat().st_size > 5000, path
    return imread(path)


def _assert_real_plot(image: np.ndarray, size_in: tuple[float, float]) -> None:
    assert image.shape[:2] == (round(size_in[1] * DPI), round(size_in[0] * DPI))
    rgb = image[..., :3]
    inked = (rgb < 0.9).any(axis=-1).mean()
    assert 0.03 < inked < 0.9, f"{inked:.1%} of the pixels are drawn"
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50  # lines, text and fills, not a blank canvas


def _red_pixels(image: np.ndarray) -> int:
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return int(((r > 0.85) & (g < 0.25) & (b < 0.25)).sum())


def test_plots(capsys: pytest.CaptureFixture, runs: dict[str, Path], tmp_path: Path) -> None:
    plots = tmp_path / "new" / "plots"
    code, out, err = call(capsys, "report", runs["ref"], runs["worn"], "--plot", plots)
    assert code == 0, err
    expected = {"accuracy.png", "energy.png", "writes_histogram.png", "wear_layers.png", "wear_map_ref.png",
                "wear_map_worn.png"}
    assert {p.name for p in plots.iterdir()} == expected
    for name in expected:
        assert str(plots / name) in out
    _assert_real_plot(_png(plots / "accuracy.png"), FIG_CURVES)
    _assert_real_plot(_png(plots / "writes_histogram.png"), FIG_HIST)
    for name in ("energy.png", "wear_layers.png"):
        image = _png(plots / name)
        assert image.shape[1] >= 10 * DPI
        _assert_real_plot(image, (image.shape[1] / DPI, image.shape[0] / DPI))
    layers = len(read_run(runs["ref"]).wear)
    cols, rows = min(MAP_COLUMNS, layers), -(-layers // MAP_COLUMNS)
    map_size = (MAP_PANEL[0] * cols + 0.6, MAP_PANEL[1] * rows + 0.5)
    ref_map, worn_map = _png(plots / "wear_map_ref.png"), _png(plots / "wear_map_worn.png")
    _assert_real_plot(ref_map, map_size)
    _assert_real_plot(worn_map, map_size)
    # failed devices are hatched in red; the reference run has none
    assert _red_pixels(ref_map) == 0
    assert _red_pixels(worn_map) > 200


def test_json_with_plots_keeps_stdout_json(capsys: pytest.CaptureFixture, runs: dict[str, Path],
                                           tmp_path: Path) -> None:
    code, out, err = call(capsys, "report", runs["ref"], "--json", "--plot", tmp_path)
    assert code == 0
    assert len(json.loads(out)) == 1
    assert str(tmp_path / "accuracy.png") in err


def test_same_file_twice_gets_distinct_labels(capsys: pytest.CaptureFixture, runs: dict[str, Path]) -> None:
    code, out, _ = call(capsys, "report", runs["ref"], runs["ref"])
    assert code == 0
    assert table_rows(out)["run"] == [f"{runs['ref']} #1", f"{runs['ref']} #2"]


def interrupted_run(path: Path, stop_at: int, checkpoint_every: int | None = None) -> None:
    """A run file as `train --out [--checkpoint-every N]` leaves it when killed: complete false."""
    from neurosim.io.runfile import write_run
    from neurosim.simulation import Simulation

    class Killed(Exception):
        pass

    def save(running: Simulation) -> None:
        state = running.checkpoint() if checkpoint_every else None
        write_run(path, running.result(), complete=False, checkpoint=state, checkpoint_every=checkpoint_every)
        if running.done >= stop_at:
            raise Killed

    with pytest.raises(Killed):
        Simulation(config_with(*TINY), iterations=ITERATIONS).run(checkpoint_every=checkpoint_every,
                                                                  on_checkpoint=save)


def test_unfinished_run_is_reported_as_such(capsys: pytest.CaptureFixture, runs: dict[str, Path],
                                            tmp_path: Path) -> None:
    partial = tmp_path / "partial.h5"
    interrupted_run(partial, ITERATIONS // 2)
    code, out, err = call(capsys, "report", runs["ref"], partial, "--plot", tmp_path / "plots")
    assert code == 0, err
    rows = table_rows(out)
    assert rows["status"] == ["finished", f"unfinished: {ITERATIONS // 2} of {ITERATIONS} iterations"]
    # its figures are those of its last evaluation, the same as the finished run's at that iteration
    finished = read_curves(runs["ref"])
    half = list(finished["iteration"]).index(ITERATIONS // 2)
    assert rows["test accuracy"][1] == f"{finished['test_accuracy'][half]:.4f}"
    assert read_curves(partial)["iteration"].tolist() == finished["iteration"][:half + 1].tolist()
    assert (tmp_path / "plots" / "wear_map_partial.png").is_file()
    code, out, _ = call(capsys, "report", partial, "--json")
    assert json.loads(out)[0]["complete"] is False


def test_errors(capsys: pytest.CaptureFixture, runs: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "missing.h5"
    assert_one_line_error(*call(capsys, "report", runs["ref"], missing)[::2], missing, "no such run file")
    assert_one_line_error(*call(capsys, "report", tmp_path)[::2], tmp_path, "folder")
    text = tmp_path / "notes.h5"
    text.write_text("not a run\n")
    assert_one_line_error(*call(capsys, "report", text)[::2], text, "not a neurosim run file")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    assert_one_line_error(*call(capsys, "report", foreign)[::2], foreign, "not a neurosim run file")
    damaged = tmp_path / "damaged.h5"
    shutil.copy(runs["ref"], damaged)
    with h5py.File(damaged, "a") as f:
        del f["wear"]
    assert_one_line_error(*call(capsys, "report", damaged)[::2], damaged, "damaged run file")
    assert_one_line_error(*call(capsys, "report", runs["ref"], "--plot", text / "plots")[::2], text, "--plot")
    assert_one_line_error(*call(capsys, "report", runs["ref"], "--plot", text)[::2], text, "not a folder")
    assert not list(tmp_path.glob("*.png"))


def test_no_arguments_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    code, _, err = call(capsys, "report")
    assert code == 2 and "RUN.h5" in err


def test_docs_describe_every_stored_object(runs: dict[str, Path], tmp_path: Path) -> None:
    """docs/runfile.md names every group, dataset and attribute a run file holds today, finished or not."""
    doc = (REPO / "docs" / "runfile.md").read_text(encoding="utf-8")
    unfinished = tmp_path / "unfinished.h5"
    interrupted_run(unfinished, ITERATIONS // 2, checkpoint_every=ITERATIONS // 4)
    names: set[str] = set()
    for path in (runs["worn"], unfinished):
        with h5py.File(path, "r") as f:
            names.update(f.attrs)
            # /config/chip and /config/workload hold one attribute per configuration key path: those names are
            # the configuration reference's (docs/config.md), not the run file's
            f.visititems(lambda name, obj: names.update(
                [name.split("/")[0], *([] if name in ("config/chip", "config/workload") else obj.attrs)]))
            names.update(f["curves"])
            if "checkpoint" in f:
                names.update(f["checkpoint"].attrs)
                names.update(f["checkpoint"])
    assert "checkpoint" in names
    names -= set(read_summary(runs["worn"]).as_dict())  # the summary's scalar attributes are documented as such
    # deeper checkpoint content is the simulator's internal state, documented by its encoding only
    with h5py.File(unfinished, "r") as f:
        internal: set[str] = set()
        for group in ("chip", "procedure"):
            f["checkpoint"][group].visititems(lambda name, obj: internal.update([*name.split("/"), *obj.attrs]))
            internal.update(f["checkpoint"][group].attrs)
    names -= internal - {"__list__"}
    for name in sorted(names):
        assert f"`{name}`" in doc or f"/{name}" in doc, f"{name} is not documented in docs/runfile.md"


def test_the_text_table_pads_columns_and_refuses_ragged_rows() -> None:
    from neurosim.tables import text_table

    assert text_table(["a", "bb"], [["xxx", "y"], ["", "zz"]]).splitlines() == ["a    bb", "---  --", "xxx  y", "     zz"]
    with pytest.raises(ValueError, match="one cell per column"):
        text_table(["a", "b"], [["only one"]])
