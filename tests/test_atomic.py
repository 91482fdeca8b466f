"""Output files are written whole or not at all (neurosim.io.atomic), by every writer."""

import os
import stat

import pytest

from neurosim.errors import NeurosimError
from neurosim.io import atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic.replacing(target) as tmp:
            tmp.write_text("half a tab")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_a_finished_write_replaces_the_file_with_the_umask_permissions(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old\n")
    old_umask = os.umask(0o022)
    try:
        atomic.write_text(target, "new\n")
    finally:
        os.umask(old_umask)
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's private 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_a_write_removes_what_a_killed_writer_of_its_path_left_but_not_live_ones(tmp_path):
    target = tmp_path / "run.h5"
    stale = tmp_path / ".run.h5.abcd1234.tmp"
    stale.write_text("left by kill -9")
    other = tmp_path / ".other.h5.abcd1234.tmp"
    other.write_text("another file's")
    with atomic.replacing(target) as live:
        assert not stale.exists()
        assert atomic.remove_stale_temps(target) == []  # the live one is this writer's own
        assert live.exists()
        live.write_text("done")
    assert other.exists() and target.read_text() == "done"


def test_a_text_output_that_cannot_be_written_is_one_error_naming_it(tmp_path):
    target = tmp_path / "gone" / "results.csv"
    with pytest.raises(NeurosimError, match="results.csv: cannot write the file"):
        atomic.write_text(target, "x\n")


def test_a_plot_that_fails_midway_leaves_the_old_figure(tmp_path):
    from neurosim import report

    class FailingFigure:
        def savefig(self, path, **kwargs):
            with open(path, "wb") as f:
                f.write(b"\x89PNG half")
            raise OSError(28, "No space left on device")

    target = tmp_path / "curves.png"
    target.write_bytes(b"old figure")
    with pytest.raises(NeurosimError, match="curves.png: cannot write the plot"):
        report._save(FailingFigure(), target)
    assert target.read_bytes() == b"old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]
