"""Milestones of a training run (the paper's Figs. 4-6): when the test accuracy first reached 20/40/60/80%,
how many weight updates and device writes that took, and the best accuracy reached.

Read from a run file's curves, so any finished run (a ``neurosim train --out`` or a sweep's) can be
summarised after the fact. A milestone is the first evaluation at or above the threshold, so its resolution
is ``train.eval_interval``; a run that never got there has ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.io.runfile import read_curves

THRESHOLDS = (0.2, 0.4, 0.6, 0.8)


def label(threshold: float) -> str:
    """20 for 0.2: the suffix of the ``*_to_20`` keys."""
    return f"{round(threshold * 100):d}"


def first_crossing(values: np.ndarray, threshold: float) -> int | None:
    """Index of the first entry >= threshold, or None."""
    hits = np.flatnonzero(np.asarray(values) >= threshold)
    return int(hits[0]) if hits.size else None


def crossing_iteration(iterations: Sequence[int], values: Sequence[float], threshold: float) -> int | None:
    """The iteration of the first value >= threshold, or None."""
    at = first_crossing(np.asarray(values), threshold)
    return None if at is None else int(iterations[at])


def milestones(curves: dict[str, np.ndarray], thresholds: Sequence[float] = THRESHOLDS) -> dict[str, Any]:
    """``iterations_to_N``, ``updates_to_N`` and ``write_pulses_to_N`` per threshold, and the accuracy peak."""
    accuracy = curves["test_accuracy"]
    out: dict[str, Any] = {"max_test_accuracy": float(accuracy.max()) if accuracy.size else None,
                           "final_iteration": int(curves["iteration"][-1]) if accuracy.size else 0}
    for threshold in thresholds:
        at = first_crossing(accuracy, threshold)
        name = label(threshold)
        for key, curve in (("iterations", "iteration"), ("updates", "weight_updates"),
                           ("write_pulses", "write_pulses")):
            out[f"{key}_to_{name}"] = None if at is None or curve not in curves else int(curves[curve][at])
    return out


def run_milestones(path: str | Path, thresholds: Sequence[float] = THRESHOLDS) -> dict[str, Any]:
    return milestones(read_curves(path), thresholds)


def with_milestones(rows: Sequence[dict[str, Any]], out_dir: str | Path,
                    thresholds: Sequence[float] = THRESHOLDS) -> list[dict[str, Any]]:
    """A sweep's result rows, each with the milestones of its run file (``run_file`` relative to ``out_dir``)."""
    return [{**row, **run_milestones(Path(out_dir) / row["run_file"], thresholds)} for row in rows]


def median_or_none(values: Sequence[float | None]) -> float | None:
    """The median over seeds, counting a run that never got there as infinitely late (as the paper's data
    do); None when that median is itself "never"."""
    if not values:
        return None
    median = float(np.median([float("inf") if v is None else float(v) for v in values]))
    return median if np.isfinite(median) else None
