"""Plumbing shared by the figure scripts (tools/fig*.py): run a grid as a ``neurosim sweep``, read the
authors' published numbers (tools/paper_data), and write tables and plots into docs/results/.

Every script runs a reduced-scale version by default (2 cores, well under an hour) and the paper's scale
with ``--full``. Runs land in runs/<figure>/ as ordinary sweep folders, so rerunning a script redoes only
what is missing, and ``neurosim report runs/<figure>/*.h5`` works on them.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from neurosim.io import atomic
from neurosim.io.runfile import read_stored_run
from neurosim.studies.milestones import milestones

REPO = Path(__file__).resolve().parents[1]
PAPER_DATA = REPO / "tools" / "paper_data"
RESULTS = REPO / "docs" / "results"
RUNS = REPO / "runs"


def run_main(main: Any) -> int:
    """A figure script's ``main()``, whose NeurosimError (no data set, a bad run file, a folder it cannot
    write) is one line naming what is wrong, exit status 2, as the command line's are."""
    from neurosim.errors import NeurosimError

    try:
        return main() or 0
    except NeurosimError as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        return 2


def tabulate_runs(description: str, collect: Callable[[Path], list], columns: Sequence[str], stem: str,
                  plot: Callable[[list, Path], Path], render: Callable[[list], str], missing: str) -> int:
    """``main()`` of a script that tabulates the runs of long sweeps, finished or still going (tools/fig4_recipe.py,
    fig5_recipe.py, fig6_recipe.py): ``--runs`` and ``--results``; ``collect(runs)`` reads the rows (a damaged run
    file raises NeurosimError, which :func:`run_main` reports), written to ``<results>/<stem>.csv`` (``columns``)
    and plotted by ``plot(rows, <results>/<stem>.png)`` (a folder it cannot write is one line and exit status
    2); then the table (``render``) and what was written are printed. ``missing``: what to say when there are
    no runs yet (exit status 1)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--runs", default=str(RUNS), help="where the run folders are (default runs/)")
    p.add_argument("--results", default=str(RESULTS), help="where the table and plot go (default docs/results)")
    args = p.parse_args()
    rows = collect(Path(args.runs))
    if not rows:
        print(f"no runs in {args.runs}/ yet: {missing}")
        return 1
    try:
        results = Path(args.results)
        written = [write_csv(rows, columns, results / f"{stem}.csv"), plot(rows, results / f"{stem}.png")]
    except OSError as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc.filename or args.results}: cannot write "
              f"({exc.strerror or exc})", file=sys.stderr)
        return 2
    print(render(rows))
    print("\nwrote " + " and ".join(str(path) for path in written))
    return 0


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--full", action="store_true", help="the paper's scale (days on 2 cores) instead of the reduced one")
    p.add_argument("--workers", type=int, default=2, help="runs side by side (default 2)")
    p.add_argument("--data-dir", default=None, help="folder holding fashion-mnist/ (else $NEUROSIM_DATA)")
    p.add_argument("--results", default=str(RESULTS), help="where the tables and plots go (default docs/results)")
    p.add_argument("--runs", default=str(RUNS), help="where the run files go (default runs/)")
    p.add_argument("--report-only", action="store_true",
                   help="tabulate the runs already finished, run nothing (to look at a study still running)")
    return p


def number(text: str) -> Any:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def paper_rows(name: str) -> list[dict[str, Any]]:
    """One of the tidy CSVs summarising the authors' published data (see tools/paper_data/README.md)."""
    with open(PAPER_DATA / name, newline="") as f:
        return [{k: number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def run_grid(name: str, *, chip: str, workload: str, grid: dict[str, list], seeds: Sequence[int],
             iterations: int, sets: Sequence[str], args: argparse.Namespace,
             target: float | None = None) -> list[dict[str, Any]]:
    """Write runs/<name>/sweep.yaml, run it (reusing finished runs) and return its rows with milestones
    (``target``: only that one, as ``iterations_to_target``, ``updates_to_target``, ``write_pulses_to_target``)."""
    from neurosim.studies.milestones import THRESHOLDS, label, with_milestones
    from neurosim.sweep import run_sweep

    out = Path(args.runs) / name
    out.mkdir(parents=True, exist_ok=True)
    sweep = {"chip": str((REPO / chip).resolve()), "workload": str((REPO / workload).resolve()),
             "iterations": int(iterations), "seeds": list(seeds), "grid": grid, "sets": list(sets),
             "out": str(out.resolve())}
    path = out / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))

    def progress(event: str, run: Any, summary: Any) -> None:
        if event != "reused":
            print(f"  {name}: {event} {run.run_id}", file=sys.stderr, flush=True)

    if args.report_only:
        from neurosim.sweep import finished_summary, load_sweep, plan_sweep, result_row
        planned = plan_sweep(load_sweep(path), out)
        rows = [result_row(run, summary, out) for run in planned
                if (summary := finished_summary(run.path)) is not None]
    else:
        rows = run_sweep(path, workers=args.workers, data_dir=args.data_dir, progress=progress)
    rows = with_milestones(rows, out, THRESHOLDS if target is None else (target,))
    if target is not None:
        suffix = f"_to_{label(target)}"
        rows = [{k.replace(suffix, "_to_target") if k.endswith(suffix) else k: v for k, v in row.items()}
                for row in rows]
    return [{**row, "run_path": str(out / row["run_file"])} for row in rows]


def evaluated_runs(paths: Iterable[Path]) -> list[tuple[Any, dict[str, Any], dict[str, Any]]]:
    """The run files among ``paths`` (finished or still going) that have at least one evaluation, in their
    order: each as (the stored run, its workload as a dict, the columns every recipe table has: its seed,
    whether it is complete, its path from the repository's root and its milestones). A damaged file raises
    NeurosimError (:func:`run_main` reports it)."""
    runs = []
    for path in paths:
        stored = read_stored_run(path)
        if stored.curves["iteration"].size:
            common = {"seed": stored.summary.seed, "complete": stored.complete,
                      "run_file": os.path.relpath(path, REPO), **milestones(stored.curves)}
            runs.append((stored, yaml.safe_load(stored.workload_yaml), common))
    return runs


def write_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return path


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isinf(value):
            return "never"
        if abs(value) >= 100 or (value.is_integer() and abs(value) >= 1):
            return f"{value:,.0f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str], headers: Sequence[str] | None = None) -> str:
    head = headers or columns
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def pyplot() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_updates_plot(fig: Any, ax: Any, xlabel: str, title: str, path: Path) -> Path:
    """Finish and save a plot of weight updates to 80% test accuracy (log-log) against ``xlabel``."""
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="weight updates to 80% test accuracy")
    ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=path.suffix.lstrip(".").lower() or None)
    return path
