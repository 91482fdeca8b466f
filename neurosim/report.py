"""``neurosim report RUN.h5... [--json] [--plot DIR]``: finished runs side by side, and their plots.

A run file already holds everything a comparison needs (summary, curves, per-device wear, the resolved
config), so a report never re-simulates. The text table puts one column per run so a handful of runs from a
sweep can be compared row by row; ``--plot`` draws accuracy curves, energy by component, the distribution
of writes per device and wear maps laid out as the crossbars the weights live on.

Plotting uses matplotlib's object API on the Agg canvas (no pyplot, no display, no global backend change),
so it works on headless machines and inside other programs that have their own backend.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.results import TrainingSummary, json_safe
from neurosim.errors import NeurosimError
from neurosim.io import ensure_folder
from neurosim.tables import lifetime, optional, text_table

# Plot geometry: inches at DPI; tests check the PNG sizes against these.
DPI = 110
FIG_CURVES = (12.0, 4.6)
FIG_BARS = (10.0, 5.0)
FIG_HIST = (8.0, 5.0)
HIST_OVERLAY_RATIO = 20          # runs whose most-written devices differ more get a histogram panel each
MAP_PANEL = (4.2, 4.4)           # one crossbar panel of a wear map
MAP_COLUMNS = 3                  # panels per row of a wear map
FONTS: dict[str, Any] = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 9,
         "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.titlesize": 13}


@dataclass(frozen=True)
class RunData:
    """Everything a report reads from one run file."""

    path: Path
    label: str
    summary: TrainingSummary
    curves: dict[str, np.ndarray]
    wear: dict[str, np.ndarray]        # layer -> flattened per-device writes (as stored)
    failed: dict[str, np.ndarray]      # layer -> flattened failure mask
    crossbars: dict[str, tuple[int, int]] | None  # layer -> (fan_in + 1, fan_out); None: not recoverable
    complete: bool = True              # False: a run still going, or interrupted (its last evaluation)

    @property
    def title(self) -> str:
        """The label for legends: unfinished runs say so."""
        return self.label if self.complete else f"{self.label} (unfinished)"

    @property
    def done(self) -> int:
        """Iterations behind the figures: the summary's for a finished run, the last evaluation's otherwise."""
        if self.complete:
            return self.summary.iterations
        evaluated = self.curves.get("iteration")
        return int(evaluated[-1]) if evaluated is not None and evaluated.size else 0


# ---- reading ------------------------------------------------------------------------------------------

def read_run(path: str | Path, label: str | None = None) -> RunData:
    """Read a run file; anything that is not one is a NeurosimError naming the file.

    A file whose ``complete`` flag is false (a run still going, or interrupted) is read as it stands: its
    summary, curves and wear are those of its last evaluation.
    """
    from neurosim.io.runfile import read_stored_run

    path = Path(path)
    stored = read_stored_run(path)
    summary, wear = stored.summary, stored.wear
    layers = [entry["layer"] for entry in summary.wear_by_layer] or list(wear)
    wear = {name: wear[name] for name in layers if name in wear}  # network order, not HDF5's alphabetical one
    return RunData(path, label or path.stem, summary, stored.curves, wear, stored.failed,
                   crossbar_shapes(stored.workload_yaml, wear), stored.complete)


def crossbar_shapes(workload_yaml: str | None, wear: dict[str, np.ndarray]) -> dict[str, tuple[int, int]] | None:
    """Rebuild each layer's crossbar (fan_in + 1 rows with the bias row, fan_out columns) from the resolved
    config stored in the run file; None when it cannot be rebuilt or does not match the stored wear (the
    report then shows per-layer bars only)."""
    if not workload_yaml:
        return None
    import yaml

    from neurosim.data import task_shape
    from neurosim.model import build_network, network_input_shape
    from neurosim.spec.fields import build
    from neurosim.spec.loader import RunConfig
    from neurosim.spec.workload import WorkloadSpec

    try:
        workload = build(WorkloadSpec, yaml.safe_load(workload_yaml), "<run file>")
        # The network's shape depends on the workload alone; the stored chip YAML is not needed (and in
        # files written before `clock: auto` was stored as "auto", it does not load back).
        data = workload.dataset
        shape, n_classes = task_shape(data.name, data.classes, dict(data.options))
        net = build_network(RunConfig(None, workload, "<run file>", "<run file>"),  # type: ignore[arg-type]
                            network_input_shape(shape, workload.network), n_classes)
    except (NeurosimError, AttributeError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return None
    shapes = {layer.name: (layer.fan_in + 1, layer.fan_out) for layer in net.layers}
    for name, counts in wear.items():
        if name not in shapes or counts.size % (shapes[name][0] * shapes[name][1]):
            return None
    return shapes


def crossbar_image(counts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-device values of one layer as its crossbar (rows = inputs then the bias row, cols = outputs).

    The run file stores the weight devices (devices per weight, fan_in, fan_out) flattened, then the bias
    devices (devices per weight, fan_out); with differential pairs both devices of a weight are summed.
    """
    rows, cols = shape
    per_weight = counts.size // (rows * cols)
    split = per_weight * (rows - 1) * cols
    weights = counts[:split].reshape(per_weight, rows - 1, cols)
    bias = counts[split:].reshape(per_weight, 1, cols)
    return np.concatenate([weights, bias], axis=1).sum(axis=0)


def unique_labels(paths: Sequence[Path]) -> list[str]:
    """Short column titles: file stems, or the paths as given where stems repeat."""
    stems = [p.stem for p in paths]
    labels = [stem if stems.count(stem) == 1 else str(p) for stem, p in zip(stems, paths)]
    given = list(labels)
    for i, label in enumerate(given):  # the same path given twice
        if given.count(label) > 1:
            labels[i] = f"{label} #{given[:i].count(label) + 1}"
    return labels


def read_runs(paths: Sequence[str | Path]) -> list[RunData]:
    files = [Path(p) for p in paths]
    return [read_run(p, label) for p, label in zip(files, unique_labels(files))]


# ---- the table ----------------------------------------------------------------------------------------

def _fmt_target(s: TrainingSummary) -> str:
    return "never" if s.iterations_to_target is None else str(s.iterations_to_target)


def _rows() -> list[tuple[str, Callable[[TrainingSummary], str]]]:
    from neurosim.spec.units import format_duration, format_quantity

    return [
        ("status", lambda s: f"diverged at iteration {s.diverged['iteration']}" if s.diverged else "finished"),
        ("chip", lambda s: s.chip),
        ("workload", lambda s: s.workload),
        ("mode", lambda s: s.mode),
        ("perturbation", lambda s: s.perturbation),
        ("seed", lambda s: str(s.seed)),
        ("iterations", lambda s: str(s.iterations)),
        ("clock", lambda s: format_quantity(s.clock_hz, "Hz")),
        ("τθ", lambda s: str(s.tau_theta)),
        ("test accuracy", lambda s: optional(s.test_accuracy, ".4f")),
        ("best accuracy", lambda s: optional(s.best_test_accuracy, ".4f")),
        ("target accuracy", lambda s: f"{s.target_accuracy:.0%}"),
        ("iterations to target", _fmt_target),
        ("simulated time", lambda s: format_duration(s.simulated_time_s)),
        ("energy", lambda s: format_quantity(s.energy_j, "J")),
        ("writes total", lambda s: str(s.weight_writes_total)),
        ("writes max/device", lambda s: str(s.weight_writes_max_per_device)),
        ("endurance used (max)", lambda s: f"{s.endurance_used_max:.3g}"),
        ("failed devices", lambda s: f"{s.failed_devices} of {s.devices}"),
        ("lifetime, 1st failure", lambda s: lifetime(s.lifetime_trainings_first_failure)),
        ("lifetime, 1% failed", lambda s: lifetime(s.lifetime_trainings_1pct)),
        ("wall time", lambda s: f"{s.wall_time_s:.2f} s"),
    ]


PARTIAL_ROWS = ("lifetime, 1st failure", "lifetime, 1% failed")  # figures that only mean something for a whole run


def format_table(runs: Sequence[RunData]) -> str:
    """One column per run, one row per figure of merit."""
    header = ["run", *[run.label for run in runs]]
    body = []
    for name, fmt in _rows():
        cells = [name]
        for run in runs:
            if name == "status" and not run.complete:
                cells.append(f"unfinished: {run.done} of {run.summary.iterations_planned} iterations")
                continue
            cell = fmt(run.summary)
            if name in PARTIAL_ROWS and not run.complete:
                # the writes of a part of the run, priced as if they were a whole training: not a lifetime
                cell += f" (partial: from {run.done} of {run.summary.iterations_planned} iterations)"
            cells.append(cell)
        body.append(cells)
    return text_table(header, body)


def summaries_json(runs: Sequence[RunData]) -> list[dict[str, Any]]:
    """The summaries as stored, each with the file it came from and whether the run had finished (an
    unfinished one lists under ``partial`` the figures that hold only for the part run); non-finite numbers
    become null."""
    return [json_safe({"run_file": str(run.path), "complete": run.complete, **run.summary.as_dict(),
                        **({} if run.complete else {"partial": ["lifetime_trainings_first_failure",
                                                                "lifetime_trainings_1pct"]})}) for run in runs]


# ---- plots --------------------------------------------------------------------------------------------

def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise NeurosimError("--plot needs matplotlib: pip install matplotlib") from None
    return Figure, FigureCanvasAgg


def _new_figure(size: tuple[float, float]) -> Any:
    figure_cls, canvas_cls = _matplotlib()
    fig = figure_cls(figsize=size, dpi=DPI, layout="constrained")
    canvas_cls(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    from neurosim.io.atomic import replacing
    try:
        with replacing(path) as tmp:  # the format is the final name's (the temporary one ends in .tmp)
            fig.savefig(tmp, dpi=DPI, format=path.suffix.lstrip(".").lower() or None)
    except OSError as exc:
        raise NeurosimError(f"{path}: cannot write the plot ({exc.strerror or exc})") from None
    return path


def _si(max_value: float, unit: str) -> tuple[float, str]:
    """A scale and prefixed unit so that axis numbers stay between 1 and 1000."""
    for prefix, scale in (("", 1.0), ("m", 1e-3), ("µ", 1e-6), ("n", 1e-9), ("p", 1e-12), ("f", 1e-15)):
        if max_value >= scale:
            return scale, f"{prefix}{unit}"
    return 1.0, unit


def _colors(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_accuracy(runs: Sequence[RunData], out: Path) -> Path:
    """Test accuracy against iterations and against simulated hardware time, the runs overlaid."""
    fig = _new_figure(FIG_CURVES)
    ax_it, ax_t = fig.subplots(1, 2)
    t_max = max((float(np.max(r.curves["simulated_time_s"])) for r in runs if r.curves["simulated_time_s"].size),
                default=1.0)
    scale, unit = _si(t_max, "s")
    targets = set()
    for run, color in zip(runs, _colors(len(runs))):
        c = run.curves
        marker = "o" if c["iteration"].size <= 30 else None
        ax_it.plot(c["iteration"], c["test_accuracy"], color=color, marker=marker, ms=4, label=run.title)
        ax_t.plot(c["simulated_time_s"] / scale, c["test_accuracy"], color=color, marker=marker, ms=4,
                  label=run.title)
        targets.add(float(run.summary.target_accuracy))
    for ax, xlabel, title in ((ax_it, "iteration", "Test accuracy vs iterations"),
                              (ax_t, f"simulated hardware time ({unit})", "Test accuracy vs simulated time")):
        for target in sorted(targets):
            ax.axhline(target, color="0.45", ls="--", lw=1, label=f"target {target:.0%}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (fraction correct)")
        ax.set_title(title)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    handles, labels = ax_t.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)))
    return _save(fig, out / "accuracy.png")


def plot_energy(runs: Sequence[RunData], out: Path) -> Path:
    """Energy by component: grouped horizontal bars on a log axis (components span orders of magnitude)."""
    from neurosim.spec.units import format_quantity

    components: list[str] = []
    for run in runs:
        for name in run.summary.energy_by_component_j:
            if name not in components:
                components.append(name)
    fig = _new_figure((FIG_BARS[0], max(FIG_BARS[1], 0.35 * len(components) * max(1, len(runs)) + 1.5)))
    ax = fig.subplots()
    height = 0.8 / max(1, len(runs))
    y = np.arange(len(components))
    positive = [v for r in runs for v in r.summary.energy_by_component_j.values() if v > 0]
    floor = min(positive, default=1e-15) / 10
    for i, (run, color) in enumerate(zip(runs, _colors(len(runs)))):
        values = np.array([run.summary.energy_by_component_j.get(c, 0.0) for c in components])
        total = float(run.summary.energy_j or values.sum())
        pos = y - 0.4 + height * (i + 0.5)
        ax.barh(pos, np.where(values > 0, values, np.nan), height=height * 0.9, color=color,
                label=f"{run.title} (total {format_quantity(total, 'J')})")
        if len(runs) <= 4:
            for p, v in zip(pos, values):
                share = "" if total <= 0 else f" ({v / total:.0%})" if v >= 0.005 * total else " (<1%)"
                ax.text(max(v, floor) * 1.15, p, format_quantity(v, "J") + share, va="center",
                        fontsize=8 if len(runs) > 1 else 9)
    ax.set_xscale("log")
    left = floor
    right = max(positive, default=1.0) * 40  # room for the value labels
    ax.set_xlim(left, right)
    ax.set_yticks(y, [c.replace("_", " ") for c in components])
    ax.invert_yaxis()
    ax.set_xlabel("energy (J, log scale)")
    ax.set_title("Energy by component")
    ax.grid(axis="x", alpha=0.3, which="major")
    fig.legend(loc="outside lower center", ncols=min(3, len(runs)))
    return _save(fig, out / "energy.png")


def _bins(counts: Sequence[np.ndarray]) -> np.ndarray:
    lo = min((int(c.min()) for c in counts if c.size), default=0)
    hi = max((int(c.max()) for c in counts if c.size), default=1)
    if hi - lo < 60:  # small integers: one bin per count, and a little room either side
        pad = 3 if hi - lo < 5 else 0
        return np.arange(lo - pad, hi + pad + 2) - 0.5
    return np.linspace(lo, hi, 51)


def _histogram(ax: Any, run: RunData, counts: np.ndarray, bins: np.ndarray, color: Any, filled: bool) -> None:
    from matplotlib.ticker import MaxNLocator

    label = f"{run.title} ({counts.size} devices, mean {counts.mean():.4g})" if counts.size else run.title
    ax.hist(counts, bins=bins, color=color, label=label, histtype="stepfilled" if filled else "step",
            alpha=0.8 if filled else 1.0, lw=1.8)
    endurance = run.summary.endurance_cycles
    if endurance and math.isfinite(endurance) and endurance <= 1.5 * bins[-1]:
        ax.axvline(endurance, color=color, ls=":", lw=1.5, label=f"endurance of {run.title}: {endurance:.4g}")
    ax.set_xlabel("write pulses per device (count)")
    ax.set_ylabel("devices")
    ax.ticklabel_format(axis="x", useOffset=False, style="plain")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="best")


def plot_writes_histogram(runs: Sequence[RunData], out: Path) -> Path:
    """How the write pulses spread over the devices: per-device write counts, all layers together.

    Runs whose counts are of a similar size share one axis (overlaid); runs of very different sizes get a
    panel each, since overlaid they would squash each other into single bars."""
    all_counts = [np.concatenate(list(r.wear.values())) if r.wear else np.zeros(0, np.int64) for r in runs]
    tops = [max(1, int(c.max())) for c in all_counts if c.size]
    colors = _colors(len(runs))
    if len(runs) == 1 or (tops and max(tops) <= HIST_OVERLAY_RATIO * min(tops)):
        fig = _new_figure(FIG_HIST)
        ax = fig.subplots()
        bins = _bins(all_counts)
        for run, counts, color in zip(runs, all_counts, colors):
            _histogram(ax, run, counts, bins, color, filled=len(runs) == 1)
        ax.set_title("Distribution of writes per device (all layers)")
        return _save(fig, out / "writes_histogram.png")
    cols = min(2, len(runs))
    rows = math.ceil(len(runs) / cols)
    fig = _new_figure((FIG_HIST[0] / 1.6 * cols, FIG_HIST[1] / 1.4 * rows + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, run, counts, color in zip(axes, runs, all_counts, colors):
        _histogram(ax, run, counts, _bins([counts]), color, filled=True)
        ax.set_title(run.title)
    for ax in axes[len(runs):]:
        ax.set_axis_off()
    fig.suptitle("Distribution of writes per device (all layers), one panel per run")
    return _save(fig, out / "writes_histogram.png")


def plot_wear_layers(runs: Sequence[RunData], out: Path) -> Path:
    """Per-layer wear: bars of the mean writes per device, with a tick at the most-written device."""
    layers: list[str] = []
    for run in runs:
        for name in run.wear:
            if name not in layers:
                layers.append(name)
    fig = _new_figure((max(FIG_BARS[0], 1.0 + 0.6 * len(layers) * len(runs)), FIG_BARS[1]))
    ax = fig.subplots()
    width = 0.8 / max(1, len(runs))
    x = np.arange(len(layers))
    for i, (run, color) in enumerate(zip(runs, _colors(len(runs)))):
        mean = np.array([run.wear[n].mean() if n in run.wear and run.wear[n].size else np.nan for n in layers])
        most = np.array([run.wear[n].max() if n in run.wear and run.wear[n].size else np.nan for n in layers])
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, mean, width=width * 0.9, color=color, alpha=0.75, label=f"{run.title}: mean")
        ax.scatter(pos, most, marker="_", s=(400 * width) ** 1.2 + 60, color="black", zorder=3,
                   label="max (most-written device)" if i == 0 else None)
    ax.set_xticks(x, layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("write pulses per device (count)")
    ax.set_title("Wear per layer: mean and max writes per device")
    maxima = [float(w.max()) for r in runs for w in r.wear.values() if w.size and w.max() > 0]
    top = max(maxima, default=1.0)
    if maxima and top > 100 * min(maxima):  # runs or layers of very different wear: log axis
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylabel("write pulses per device (count, log scale)")
        ax.set_ylim(0, top * 2.5)
    else:
        ax.set_ylim(0, top * 1.08)
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=min(4, len(runs) + 1))
    return _save(fig, out / "wear_layers.png")


def _outline(mask: np.ndarray) -> list[list[tuple[float, float]]]:
    """Segments along the border of the True cells of an image (cell centres at integer x, y)."""
    padded = np.pad(mask, 1)
    segments: list[list[tuple[float, float]]] = []
    # a horizontal edge wherever a cell differs from the one above it; vertical: from the one on its left
    for r, c in zip(*np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1])):
        segments.append([(c - 0.5, r - 0.5), (c + 0.5, r - 0.5)])
    for r, c in zip(*np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1])):
        segments.append([(c - 0.5, r - 0.5), (c - 0.5, r + 0.5)])
    return segments


def _row_runs(mask: np.ndarray) -> list[Any]:
    """Rectangles covering the True cells of an image, one per horizontal run of them."""
    from matplotlib.patches import Rectangle

    rects = []
    for r, row in enumerate(mask):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            rects.append(Rectangle((start - 0.5, r - 0.5), stop - start, 1.0))
    return rects


def plot_wear_map(run: RunData, out: Path, name: str) -> Path | None:
    """One image per layer of the writes of each crossbar cell; cells with a failed device marked red."""
    if not run.crossbars or not run.wear:
        return None
    from matplotlib.collections import LineCollection, PatchCollection
    from matplotlib.ticker import MaxNLocator
    names = list(run.wear)
    cols = min(MAP_COLUMNS, len(names))
    rows = math.ceil(len(names) / cols)
    fig = _new_figure((MAP_PANEL[0] * cols + 0.6, MAP_PANEL[1] * rows + 0.5))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    pairs = False
    for ax, layer in zip(axes, names):
        shape = run.crossbars[layer]
        counts = run.wear[layer]
        pairs |= counts.size // (shape[0] * shape[1]) > 1
        image = crossbar_image(counts, shape)
        lo, hi = float(image.min()), float(image.max())
        uniform = hi == lo
        if uniform:  # every cell written alike: a flat mid-scale image
            lo, hi = lo - 1, hi + 1
        shown = ax.imshow(image, aspect="auto", interpolation="nearest", cmap="viridis",
                          vmin=lo, vmax=hi)
        dead = run.failed.get(layer)
        n_dead = 0
        if dead is not None and dead.size == counts.size and dead.any():
            n_dead = int(dead.sum())
            mask = crossbar_image(dead.astype(np.int64), shape) > 0
            # hatched in red (one rectangle per run of failed cells in a row), outlined where the region ends
            ax.add_collection(PatchCollection(_row_runs(mask), facecolor="none", edgecolor="red", lw=0,
                                              hatch="////"))
            ax.add_collection(LineCollection(_outline(mask), colors="red", linewidths=1.2))
            ax.set_xlim(-0.5, shape[1] - 0.5)
            ax.set_ylim(shape[0] - 0.5, -0.5)
        ax.axhline(shape[0] - 1.5, color="white", lw=0.8, ls="--")  # the bias row is the last one
        title = f"{layer}: {shape[0] - 1}+1 × {shape[1]}"
        if uniform:
            title += f", every cell {int(image.flat[0])}"
        if n_dead:
            title += f"\n{n_dead} failed device{'s' if n_dead > 1 else ''} (hatched red)"
        ax.set_title(title)
        ax.set_xlabel("crossbar column (output)")
        ax.set_ylabel("crossbar row (input; last = bias)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        bar = fig.colorbar(shown, ax=ax, shrink=0.9)
        if uniform:
            bar.set_ticks([image.flat[0]])
        else:
            bar.locator = MaxNLocator(integer=True)
            bar.update_ticks()
        bar.set_label("write pulses" + (" (G+ + G−)" if pairs else ""))
    for ax in axes[len(names):]:
        ax.set_axis_off()
    fig.suptitle(f"Wear map of {run.title}: writes per crossbar cell")
    return _save(fig, out / f"wear_map_{name}.png")


def _file_safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", label).strip("_") or "run"


def write_plots(runs: Sequence[RunData], out_dir: str | Path) -> list[Path]:
    """All report plots as PNG files in ``out_dir`` (created if needed); returns the files written."""
    out = ensure_folder(out_dir, "--plot")
    probe = out / ".neurosim-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise NeurosimError(f"--plot {out}: cannot write into the folder ({exc.strerror or exc})") from None
    _matplotlib()
    import matplotlib

    written: list[Path] = []
    with matplotlib.rc_context(FONTS):  # type: ignore[arg-type]
        written.append(plot_accuracy(runs, out))
        written.append(plot_energy(runs, out))
        written.append(plot_writes_histogram(runs, out))
        written.append(plot_wear_layers(runs, out))
        names: set[str] = set()
        for run in runs:
            name = _file_safe(run.label)
            while name in names:
                name += "_"
            names.add(name)
            path = plot_wear_map(run, out, name)
            if path is not None:
                written.append(path)
    return written


# ---- command line -------------------------------------------------------------------------------------

def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``report`` to the ``neurosim`` subcommands (the parser class is the subparsers' own)."""
    p = subparsers.add_parser("report", help="summarise finished run files side by side, optionally plot them",
                              description="Summarise one or several run files (one column per run); "
                                          "--plot writes PNG plots of curves, energy and wear.")
    p.add_argument("runs", nargs="+", metavar="RUN.h5", help="run files written by train --out or sweep")
    p.add_argument("--json", action="store_true", help="print a JSON list of the summaries")
    p.add_argument("--plot", metavar="DIR", help="write PNG plots into DIR (created if needed)")
    return p


def cmd_report(args: argparse.Namespace) -> int:
    runs = read_runs(args.runs)
    plots = write_plots(runs, args.plot) if args.plot else []
    if args.json:
        print(json.dumps(summaries_json(runs)))
        for path in plots:
            print(f"wrote {path}", file=sys.stderr)
        return 0
    print(format_table(runs))
    if plots:
        print("\nplots:")
        for path in plots:
            print(f"  {path}")
    return 0


__all__ = ["RunData", "add_report_parser", "cmd_report", "crossbar_image", "format_table", "read_run",
           "read_runs", "summaries_json", "write_plots"]
