"""The τθ trade-off on any chip (the paper's Fig. 5 as a study): how much longer a training takes as the
update period τθ grows, how much less it writes, and how many trainings the chip then survives.

For each τθ (times any ``--grid`` axes, such as the learning rate or the amplitude) and seed, one training
runs until the first evaluation at the target accuracy (``train.stop_at_target``), or the iteration cap;
its ledger and wear are then those of one training. The runs are an ordinary sweep (``neurosim.sweep``):
one run file each in the output folder, a process pool or a Dask cluster, and a rerun redoes only what is
missing. Backprop at the same τθ (``backprop=True``) is the floor: the exact gradient of the same samples.

The answer is the τθ that reaches the target fastest in simulated hardware time while the chip survives
``lifetime`` such trainings (median over seeds; by default until its first device fails), or, when none
does, why each one fails: it never reached the target within the cap, or it wore out first.

On a device with finite levels the study also measures, over the first updates of each setting, the
weight change the optimizer asks for against one device step (``DeviceArray.step_w``): a request smaller
than a step is parked in the residual (or rounded away), so it proposes a learning rate, or a τθ of the
grid, for which a typical update is at least a step.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.errors import ConfigError, NeurosimError
from neurosim.model import strategy
from neurosim.studies.diagnosis import device_step_w, diagnose
from neurosim.studies.milestones import median_or_none
from neurosim.tables import text_table

DEFAULT_TAU_THETAS = (1, 10, 100, 1000)
DEFAULT_MIN_UPDATES = 100
PROBE_CYCLES = 2000        # the step check measures at most this many cycles (and at least one update)
PROBE_MAX_UPDATES = 200
SPEC_FILE = "tau-theta study"
LIFETIME_KEYS = {"first": "trainings_to_first_failure", "1pct": "trainings_to_1pct_failed"}
# keys the study sets itself; a --set or --grid of them would silently fight the study's own
RESERVED = {"mgd.tau_theta": "--tau-theta", "train.iterations": "--max-iterations", "train.seed": "--seeds",
            "train.stop_at_target": "(always on)", "train.target_accuracy": "--target",
            "train.eval_interval": "--eval-interval"}


@dataclass(frozen=True)
class TauThetaStudy:
    """What to run: the chip and workload, the τθ grid (and other axes), seeds, target, cap and lifetime."""

    chip: str
    workload: str
    tau_thetas: tuple[int, ...] = DEFAULT_TAU_THETAS
    seeds: int = 3
    target: float | None = None              # None: the workload's train.target_accuracy
    max_iterations: int | None = None        # None: the workload's train.iterations
    min_updates: int = DEFAULT_MIN_UPDATES   # each τθ runs at least this many updates before it gives up
    eval_interval: int | None = None         # None: max(τθ, the workload's eval_interval / 10)
    lifetime: float = 1.0                    # trainings the chip must survive
    lifetime_at: str = "first"               # "first": until the first device fails; "1pct": 1% of devices
    backprop: bool = False                   # also run backprop at every τθ (the floor)
    sets: tuple[str, ...] = ()
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()   # extra axes, e.g. (("mgd.learning_rate", (0.01, 0.1)),)
    step_check: bool = True                  # measure requested updates against the device step


@dataclass
class _Plan:
    runs: list[Any]
    base: Any                                 # the RunConfig with the user's sets (no grid)
    target: float
    caps: dict[int, int]
    evals: dict[int, int]
    method: str
    classes: int
    combos: list[dict[str, Any]] = field(default_factory=list)   # grid settings (τθ first), MGD only


# ---- checking the options -----------------------------------------------------------------------------

def parse_tau_thetas(text: str) -> tuple[int, ...]:
    """``1,10,100`` (or ``[1, 10, 100]``) as a tuple of distinct whole numbers >= 1."""
    items = [t.strip() for t in text.strip().strip("[]").split(",")]
    values = []
    for item in items:
        try:
            number = float(item)
        except ValueError:
            number = float("nan")
        if not (math.isfinite(number) and number.is_integer() and number >= 1):
            raise NeurosimError(f"--tau-theta: expected a comma-separated list of whole numbers >= 1 "
                                f"(e.g. 1,10,100,1000), got {text!r}")
        values.append(int(number))
    if len(set(values)) != len(values):
        raise NeurosimError(f"--tau-theta: the same τθ is listed twice in {text!r}")
    return tuple(values)


def parse_grid(texts: Sequence[str]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """``--grid KEY=[v1,v2]`` options as sweep grid axes."""
    from neurosim.spec.loader import Override

    axes: list[tuple[str, tuple[Any, ...]]] = []
    for text in texts:
        try:
            override = Override.parse(text)
        except ConfigError:
            raise NeurosimError(f"--grid: expected KEY=[v1,v2,...] with a dotted KEY, got {text!r}") from None
        values = override.value
        if not isinstance(values, list) or not values:
            raise NeurosimError(f"--grid {override.key}: expected a non-empty list of values such as "
                                f"[0.005,0.02], got {values!r}")
        if any(values.count(v) > 1 for v in values):
            raise NeurosimError(f"--grid {override.key}: the same value is listed twice")
        if override.key in RESERVED or override.key == "mgd.perturbation":
            raise NeurosimError(f"--grid {override.key}: set by the study itself; use "
                                f"{RESERVED.get(override.key, '--backprop')}")
        if any(key == override.key for key, _ in axes):
            raise NeurosimError(f"--grid {override.key}: given twice")
        axes.append((override.key, tuple(values)))
    return tuple(axes)


def check_study(study: TauThetaStudy) -> None:
    """Every bad option as one NeurosimError naming it, before anything runs."""
    from neurosim.spec.loader import Override

    if not study.tau_thetas:
        raise NeurosimError("--tau-theta: expected at least one τθ")
    if any(not isinstance(t, int) or t < 1 for t in study.tau_thetas):
        raise NeurosimError("--tau-theta: expected whole numbers >= 1")
    if study.seeds < 1:
        raise NeurosimError("--seeds: expected a whole number >= 1")
    if study.target is not None and not 0 < study.target <= 1:
        raise NeurosimError("--target: expected an accuracy in (0, 1]")
    if study.max_iterations is not None and study.max_iterations < 1:
        raise NeurosimError("--max-iterations: expected a whole number >= 1")
    if study.min_updates < 0:
        raise NeurosimError("--min-updates: expected a whole number >= 0")
    if study.eval_interval is not None and study.eval_interval < 1:
        raise NeurosimError("--eval-interval: expected a whole number >= 1")
    if not study.lifetime > 0 or not math.isfinite(study.lifetime):
        raise NeurosimError("--lifetime: expected a number of trainings > 0")
    if study.lifetime_at not in LIFETIME_KEYS:
        raise NeurosimError(f"--lifetime-at: expected one of {', '.join(LIFETIME_KEYS)}")
    for text in study.sets:
        key = Override.parse(text).key
        if key in RESERVED:
            raise NeurosimError(f"--set {key}: set by the study itself; use {RESERVED[key]}")
        if key == "mgd.perturbation" and study.backprop and Override.parse(text).value == "backprop":
            raise NeurosimError("--set mgd.perturbation=backprop with --backprop: the floor would be the study")
    grid_keys = [key for key, _ in study.grid]
    for text in study.sets:
        if Override.parse(text).key in grid_keys:
            raise NeurosimError(f"--set {Override.parse(text).key}: also a --grid axis; keep one of them")


# ---- planning and running -----------------------------------------------------------------------------

def plan_study(study: TauThetaStudy, out_dir: str | Path) -> _Plan:
    """The study's runs as planned sweep runs (every config loaded and checked now), one spec per τθ so that
    each τθ has its own cap and evaluation interval, all into one folder."""
    from neurosim.model import build
    from neurosim.spec import load_config
    from neurosim.sweep import SweepSpec, plan_sweep

    check_study(study)
    chip, workload = Path(study.chip), Path(study.workload)
    for option, path in (("CHIP", chip), ("WORKLOAD", workload)):
        if not path.is_file():
            raise NeurosimError(f"{option}: file not found: {path}")
    base = load_config(chip, workload, list(study.sets))
    train = base.workload.train
    target = train.target_accuracy if study.target is None else study.target
    method = base.workload.mgd.perturbation
    methods = (method, "backprop") if study.backprop and method != "backprop" else (method,)
    cap_floor = study.max_iterations or train.iterations
    caps = {tau: max(cap_floor, study.min_updates * tau) for tau in study.tau_thetas}
    evals = {tau: study.eval_interval or max(tau, math.ceil(train.eval_interval / 10)) for tau in study.tau_thetas}
    runs: list[Any] = []
    for tau in study.tau_thetas:
        sets = (*study.sets, "train.stop_at_target=true", f"train.target_accuracy={target!r}",
                f"train.eval_interval={evals[tau]}")
        # backprop as a separate spec with its own axis: the MGD runs' ids do not depend on --backprop
        for floor in (False, True)[:len(methods)]:
            grid = (("mgd.tau_theta", (tau,)), *study.grid, *((("mgd.perturbation", ("backprop",)),) if floor else ()))
            spec = SweepSpec(Path(SPEC_FILE), chip, workload, caps[tau], tuple(range(study.seeds)), grid, sets,
                             Path(out_dir))
            try:
                runs += plan_sweep(spec, out_dir)
            except ConfigError as exc:
                raise _blame_option(exc) from None
    combos = []
    for run in runs:
        settings = {k: v for k, v in run.settings.items() if k != "mgd.perturbation"}
        if strategy(run.config.workload.mgd).perturbs and settings not in combos:
            combos.append(settings)
    return _Plan(runs, base, target, caps, evals, method, build(base).net.n_outputs, combos)


def _blame_option(exc: ConfigError) -> ConfigError:
    """A planning error names the study's option, not the sweep it is built on."""
    if exc.file != SPEC_FILE or not exc.key:
        return exc
    if exc.key.startswith("grid."):
        key = exc.key[len("grid."):]
        option = {"mgd.tau_theta": "--tau-theta", "mgd.perturbation": "--backprop"}.get(key, f"--grid {key}")
        return ConfigError(option, None, exc.expected)
    return ConfigError("--set", None, exc.expected)


Progress = Callable[[str, Any, "dict[str, Any] | None"], None]


def run_study(study: TauThetaStudy, out_dir: str | Path, *, workers: int | None = None,
              scheduler: str | None = None, data_dir: str | None = None,
              progress: Progress | None = None) -> dict[str, Any]:
    """Run (or resume) the study and return its result: per-run rows, the table over seeds, the device-step
    check and the recommendation."""
    from neurosim.sweep import execute_runs

    if workers is not None and workers < 1:
        raise NeurosimError("--workers: expected a whole number >= 1")
    plan = plan_study(study, out_dir)
    out = Path(out_dir).resolve()
    step = step_check(study, plan, out, data_dir) if study.step_check else None
    execute_runs(plan.runs, out, workers, scheduler, data_dir=data_dir, progress=progress, source="tau-theta study")
    requested = {_combo_key(c["settings"]): c.get("requested_update_w") for c in (step or {}).get("combos", [])}
    rows = [run_row(run, out, plan, requested.get(_combo_key(_settings(run)))) for run in plan.runs]
    table = aggregate(rows, study.lifetime_at)
    grid_keys = [key for key, _ in study.grid]
    recommendation = recommend(table, study.lifetime, plan.target, study.lifetime_at, plan.caps, grid_keys)
    if step is not None:
        step["warnings"] = step_warnings(step, table, grid_keys)
    if recommendation["settings"] is not None:
        recommendation["train_command"] = train_command(study, plan, recommendation["settings"])
    return {
        "study": "tau-theta", "chip": plan.base.chip.name, "workload": plan.base.workload.name,
        "chip_file": str(study.chip), "workload_file": str(study.workload), "out": str(out),
        "perturbation": plan.method, "target_accuracy": plan.target, "lifetime": study.lifetime,
        "lifetime_at": study.lifetime_at, "tau_thetas": list(study.tau_thetas), "seeds": study.seeds,
        "grid": {k: list(v) for k, v in study.grid}, "sets": list(study.sets),
        "max_iterations": {str(k): v for k, v in plan.caps.items()},
        "eval_interval": {str(k): v for k, v in plan.evals.items()},
        "device_step": step, "table": table, "recommendation": recommendation, "runs": rows,
        "warnings": [w for row in rows for w in row["warnings"]],
    }


def train_command(study: TauThetaStudy, plan: _Plan, settings: dict[str, Any]) -> str:
    """The plain ``neurosim train`` that repeats the chosen setting's seed-0 run exactly: the study's own
    evaluation interval and stop at the target, which a plain run at the workload's would not have."""
    import shlex

    from neurosim.sweep import _set_value

    tau = settings["mgd.tau_theta"]
    sets = [*study.sets, *(f"{k}={_set_value(v)}" for k, v in settings.items()), "train.stop_at_target=true",
            f"train.target_accuracy={plan.target!r}", f"train.eval_interval={plan.evals[tau]}"]
    words = ["neurosim", "train", study.chip, study.workload, "--iterations", str(plan.caps[tau]), "--seed", "0"]
    for text in sets:
        words += ["--set", text]
    return " ".join(shlex.quote(w) for w in words)


def _settings(run: Any) -> dict[str, Any]:
    return {k: v for k, v in run.settings.items() if k != "mgd.perturbation"}


def _combo_key(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True, default=repr)


# ---- one run's figures --------------------------------------------------------------------------------

def write_histogram(writes: np.ndarray) -> dict[str, list]:
    """Devices by pulses received, in decades: [0, 1), [1, 10), [10, 100), ..."""
    top = int(writes.max(initial=0))
    edges = [0, 1]
    while edges[-1] <= top:
        edges.append(edges[-1] * 10)
    counts, _ = np.histogram(writes, bins=np.asarray(edges, dtype=np.float64))
    return {"edges": edges, "devices": [int(c) for c in counts]}


def _read_run_extras(path: Path) -> tuple[dict[str, list], dict[str, list]]:
    from neurosim.report import read_run

    run = read_run(path)  # the checked reader of run files (format, damage) that report uses
    writes = np.concatenate([w.ravel() for w in run.wear.values()]) if run.wear else np.zeros(0)
    curves = run.curves
    keep = ("iteration", "simulated_time_s", "test_accuracy")
    return write_histogram(writes), {k: [float(x) for x in curves[k]] for k in keep if k in curves}


def run_row(run: Any, out: Path, plan: _Plan, requested_update_w: float | None = None) -> dict[str, Any]:
    """One training's figures: to the target when it got there, else at the cap."""
    from neurosim.sweep import finished_summary

    s = finished_summary(run.path)
    if s is None:
        raise NeurosimError(f"{run.path}: the run did not finish")
    histogram, curves = _read_run_extras(run.path)
    reached = s.iterations_to_target is not None
    events = s.events
    method = run.config.workload.mgd.perturbation
    warnings = [d.as_dict() for d in diagnose(s, run.config, plan.classes,
                                              requested_update_w=None if method == "backprop" else requested_update_w)]
    return {
        "run_id": run.run_id, "run_file": run.path.name, **_settings(run), "method": method, "seed": run.seed,
        "tau_theta": run.settings["mgd.tau_theta"], "settings": _settings(run),
        "reached_target": reached, "iterations": s.iterations, "max_iterations": run.iterations,
        "iterations_to_target": s.iterations_to_target,
        "cycles_to_target": events.get("cycles") if reached else None,
        "time_to_target_s": s.simulated_time_to_target_s,
        "energy_to_target_j": s.energy_j if reached else None,
        "energy_to_target_by_component_j": s.energy_by_component_j if reached else None,
        "simulated_time_s": s.simulated_time_s, "energy_j": s.energy_j,
        "weight_updates": events.get("updates"),
        "write_pulses_total": s.weight_writes_total,
        "write_pulses_max_per_device": s.weight_writes_max_per_device,
        "write_pulses_histogram": histogram,
        "endurance_used_max": s.endurance_used_max,
        "trainings_to_first_failure": s.lifetime_trainings_first_failure,
        "trainings_to_1pct_failed": s.lifetime_trainings_1pct,
        "test_accuracy": s.test_accuracy, "best_test_accuracy": s.best_test_accuracy,
        "failed_devices": s.failed_devices, "devices": s.devices,
        "wall_time_s": s.wall_time_s, "curves": curves, "warnings": warnings,
    }


# ---- over seeds ---------------------------------------------------------------------------------------

MEDIAN_KEYS = ("iterations_to_target", "cycles_to_target", "time_to_target_s", "energy_to_target_j",
               "weight_updates", "write_pulses_total", "write_pulses_max_per_device", "endurance_used_max",
               "trainings_to_first_failure", "trainings_to_1pct_failed", "test_accuracy", "best_test_accuracy",
               "failed_devices")
TO_TARGET = ("iterations_to_target", "cycles_to_target", "time_to_target_s", "energy_to_target_j")
LIFETIMES = ("trainings_to_first_failure", "trainings_to_1pct_failed")


def _median(values: Sequence[Any], key: str) -> float | None:
    if key in TO_TARGET:
        return median_or_none(values)            # a run that never got there counts as infinitely late
    if key in LIFETIMES:                         # None: no device was written, an unlimited lifetime
        median = float(np.median([math.inf if v is None else float(v) for v in values])) if values else None
        return median
    present = [float(v) for v in values if v is not None]
    return float(np.median(present)) if present else None


def aggregate(rows: Sequence[dict[str, Any]], lifetime_at: str = "first") -> list[dict[str, Any]]:
    """Median and spread (min, max) over seeds, per setting and method, in the rows' order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(_combo_key({**row["settings"], "method": row["method"]}), []).append(row)
    table = []
    for group in groups.values():
        first = group[0]
        entry: dict[str, Any] = {"tau_theta": first["tau_theta"], "settings": first["settings"],
                                 "method": first["method"], "seeds": len(group),
                                 "reached": sum(1 for r in group if r["reached_target"])}
        for key in MEDIAN_KEYS:
            values = [r.get(key) for r in group]
            entry[key] = _median(values, key)
            finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
            entry[f"{key}_spread"] = [min(finite), max(finite)] if finite else None
        components: dict[str, list[float]] = {}
        for r in group:
            for name, joules in (r.get("energy_to_target_by_component_j") or {}).items():
                components.setdefault(name, []).append(joules)
        entry["energy_to_target_by_component_j"] = (
            {name: float(np.median(v)) for name, v in components.items()} if entry["reached"] * 2 > len(group)
            else None)
        entry["lifetime_trainings"] = entry[LIFETIME_KEYS[lifetime_at]]
        table.append(entry)
    return table


# ---- the answer ---------------------------------------------------------------------------------------

def _describe(entry: dict[str, Any], grid_keys: Sequence[str] = ()) -> str:
    extra = ", ".join(f"{k.rsplit('.', 1)[-1]} {entry['settings'][k]}" for k in grid_keys if k in entry["settings"])
    return f"τθ = {entry['tau_theta']}" + (f" ({extra})" if extra else "")


def recommend(table: Sequence[dict[str, Any]], lifetime: float, target: float, lifetime_at: str = "first",
              caps: dict[int, int] | None = None, grid_keys: Sequence[str] = ()) -> dict[str, Any]:
    """The fastest MGD setting (median time to target) whose median lifetime meets ``lifetime``, or None
    with the reason for every setting. ``lifetime_trainings`` None means unlimited (nothing was written)."""
    from neurosim.spec.units import format_duration

    mgd = [e for e in table if e["method"] != "backprop"]
    def life(e: dict[str, Any]) -> float:
        value = e.get("lifetime_trainings")
        return math.inf if value is None else float(value)

    reached = [e for e in mgd if e.get("time_to_target_s") is not None]
    meeting = [e for e in reached if life(e) >= lifetime]
    survive = "until the first device fails" if lifetime_at == "first" else "until 1% of the devices fail"
    reasons = []
    for e in mgd:
        if e.get("time_to_target_s") is None:
            cap = (caps or {}).get(e["tau_theta"])
            best = e.get("best_test_accuracy")
            why = (f"never reached {target:.0%}" + (f" in {cap} iterations" if cap else "")
                   + (f" (best {best:.1%})" if best is not None else ""))
            if e.get("failed_devices"):
                why += f", and wore out: {e['failed_devices']:g} devices failed during the training"
            reasons.append({"tau_theta": e["tau_theta"], "settings": e["settings"], "reason": "never reached target",
                            "text": f"{_describe(e, grid_keys)} {why}"})
        elif life(e) < lifetime:
            reasons.append({"tau_theta": e["tau_theta"], "settings": e["settings"], "reason": "wore out first",
                            "text": f"{_describe(e, grid_keys)} wore out first: it reached {target:.0%} but the chip "
                                    f"survives {life(e):.3g} such trainings, fewer than {lifetime:g}"})
    if meeting:
        best = min(meeting, key=lambda e: (e["time_to_target_s"], -life(e)))
        lt = life(best)
        answer = (f"fastest τθ meeting a lifetime of {lifetime:g} trainings ({survive}): {_describe(best, grid_keys)}, "
                  f"{format_duration(best['time_to_target_s'])} of chip time to {target:.0%} (median of "
                  f"{best['seeds']} seeds, {best['reached']} reached it); the chip survives "
                  + ("unlimited" if math.isinf(lt) else f"{lt:.3g}") + " such trainings")
        return {"tau_theta": best["tau_theta"], "settings": best["settings"],
                "time_to_target_s": best["time_to_target_s"], "lifetime_trainings": best.get("lifetime_trainings"),
                "energy_to_target_j": best.get("energy_to_target_j"), "answer": answer, "reasons": reasons}
    if not mgd:
        answer = "no MGD setting in the study (backprop only): nothing to recommend"
    else:
        answer = (f"no τθ in the grid reaches {target:.0%} and survives {lifetime:g} trainings ({survive}): "
                  + "; ".join(r["text"] for r in reasons))
        if reached:
            fastest = min(reached, key=lambda e: e["time_to_target_s"])
            answer += (f". Fastest to {target:.0%} regardless of lifetime: {_describe(fastest, grid_keys)} "
                       f"({format_duration(fastest['time_to_target_s'])}, survives {life(fastest):.3g} trainings)")
        kinds = {r["reason"] for r in reasons}
        tries = []
        if "never reached target" in kinds:
            tries.append("more updates (--min-updates, --max-iterations) or a larger learning rate "
                         "(--grid mgd.learning_rate=[...]) for the settings that never got there")
        if "wore out first" in kinds or any(e.get("failed_devices") for e in mgd):
            tries.append("a larger τθ, which writes less per training")
        if tries:
            answer += ". To try: " + "; ".join(tries)
    return {"tau_theta": None, "settings": None, "time_to_target_s": None, "lifetime_trainings": None,
            "energy_to_target_j": None, "answer": answer, "reasons": reasons}


# ---- the device step against the requested update ------------------------------------------------------

def measure_requested_updates(config: Any, seed: int, cycles: int, data_dir: str | None) -> np.ndarray:
    """|Δw| the optimizer asks the devices for over the first ``cycles`` (every weight of every update): at
    each update, the estimate G the compiled cycle hands its optimizer, through an optimizer of the same
    kind (the paper mode's, :class:`~neurosim.mgd.optimizers.Optimizer`: the same arithmetic) kept beside
    it (paper mode: its optimizer's deltas as the chip writes them); the training itself is not changed."""
    from neurosim.mgd.optimizers import Optimizer
    from neurosim.model import held_updates
    from neurosim.simulation import Simulation

    sim = Simulation(config, seed=seed, iterations=cycles, data_dir=data_dir)
    recorded: list[np.ndarray] = []
    procedure = sim.procedure
    if not hasattr(procedure, "estimate"):  # paper mode: its own optimizer's deltas, seen at the chip's write
        write = sim.chip.write

        def seen(deltas: list[tuple[np.ndarray, np.ndarray]], update_period_s: float) -> int:
            recorded.append(np.concatenate([np.abs(d).ravel() for pair in deltas for d in pair]))
            return write(deltas, update_period_s)

        sim.chip.write = seen  # type: ignore[method-assign]
        sim.engine.run_until(cycles)
        return np.concatenate(recorded) if recorded else np.zeros(0)
    mgd = config.workload.mgd
    shapes = sim.chip.weights()
    shadow = Optimizer(mgd, shapes, held_updates(mgd, sim.timing.tau_theta))
    bounds = np.cumsum([0] + [w.size + b.size for w, b in shapes])
    update = procedure.on_update

    def observed(cycle: int) -> None:
        flat = procedure.estimate().astype(np.float32)
        grads = [(flat[a:a + w.size].reshape(w.shape), flat[a + w.size:z]) for (w, b), a, z
                 in zip(shapes, bounds[:-1], bounds[1:])]
        recorded.append(np.concatenate([np.abs(d).ravel() for pair in shadow.deltas(grads) for d in pair]))
        update(cycle)

    procedure.on_update = observed  # type: ignore[method-assign]
    sim.engine = sim.make_engine(coalesce=False)
    sim.engine.run_until(cycles)
    return np.concatenate(recorded) if recorded else np.zeros(0)


def step_check(study: TauThetaStudy, plan: _Plan, out: Path, data_dir: str | None) -> dict[str, Any] | None:
    """For a device with finite levels: the typical requested |Δw| per setting (median over the weights and
    the first updates of seed 0) against one device step; the warnings follow once the runs are in
    (:func:`step_warnings`). Cached in the output folder (``step_check.json``) under a hash of what it
    depends on, so a rerun does not measure again."""
    step = device_step_w(plan.base)
    if step is None:
        return {"step_w": None, "levels": None, "combos": [], "warnings": [],
                "note": "analog device: any change is written in one pulse, there is no step"}
    cache_path = out / "step_check.json"
    cache: dict[str, Any] = {}
    if cache_path.is_file():
        try:
            cache = json.loads(cache_path.read_text())
        except (OSError, ValueError):
            cache = {}
    combos = []
    by_run: dict[str, Any] = {}
    for r in plan.runs:  # the first seed's run of each setting
        if strategy(r.config.workload.mgd).perturbs:
            by_run.setdefault(_combo_key(_settings(r)), r)
    for settings in plan.combos:
        run = by_run[_combo_key(settings)]
        tau = settings["mgd.tau_theta"]
        updates = max(1, min(PROBE_MAX_UPDATES, PROBE_CYCLES // tau))
        cycles = min(updates * tau, run.iterations)
        identity = json.dumps({"config": run.config.as_plain(), "seed": run.seed, "cycles": cycles},
                              sort_keys=True, default=repr)
        key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        if key not in cache:
            requested = measure_requested_updates(run.config, run.seed, cycles, data_dir)
            nonzero = requested[requested > 0]
            cache[key] = {"updates": int(cycles // tau), "median": float(np.median(nonzero)) if nonzero.size else 0.0,
                          "below_step": float(np.mean(requested < step)) if requested.size else 1.0}
        measured = cache[key]
        lr = run.config.workload.mgd.learning_rate
        median = measured["median"]
        combos.append({"settings": settings, "tau_theta": tau, "learning_rate": lr, "updates_measured": measured["updates"],
                       "requested_update_w": median, "below_step_fraction": measured["below_step"],
                       "requested_over_step": median / step if step else None})
    from neurosim.io import ensure_folder
    from neurosim.io import atomic

    ensure_folder(out, "the study's output folder")
    atomic.write_text(cache_path, json.dumps(cache, indent=1) + "\n")
    return {"step_w": step, "levels": plan.base.chip.weights.device.levels,
            "rounding": plan.base.chip.weights.write.rounding, "combos": combos, "warnings": []}


def step_warnings(step: dict[str, Any] | None, table: Sequence[dict[str, Any]],
                  grid_keys: Sequence[str] = ()) -> list[str]:
    """A warning per setting whose typical update is below one device step, with a learning rate that
    makes it a step and, where one exists, a τθ of the grid (with the same other settings) whose updates
    are a step or more and that reached the target."""
    if not step or not step.get("step_w"):
        return []
    reached = {_combo_key(e["settings"]) for e in table if e["method"] != "backprop" and e.get("time_to_target_s")}
    combos = step["combos"]
    warnings = []
    for c in combos:
        ratio = c["requested_over_step"]
        if ratio is None or ratio >= 1:
            continue
        others = {k: v for k, v in c["settings"].items() if k != "mgd.tau_theta"}
        bigger = [o["tau_theta"] for o in combos if o["requested_over_step"] and o["requested_over_step"] >= 1
                  and {k: v for k, v in o["settings"].items() if k != "mgd.tau_theta"} == others
                  and _combo_key(o["settings"]) in reached]
        proposal = f"mgd.learning_rate={_round_sig(c['learning_rate'] / max(ratio, 1e-6))}"
        if bigger:
            proposal += f", or τθ = {bigger[0]} (a step or more, and it reached the target)"
        where = "wait in the residual" if step.get("rounding") == "accumulate" else "are rounded away"
        warnings.append(f"{_describe(c, grid_keys)}: a typical update asks for |Δw| = {c['requested_update_w']:.3g}, "
                        f"{ratio:.2g} of one device step (Δw = {step['step_w']:.3g}); {c['below_step_fraction']:.0%} "
                        f"of the requests are below a step and {where}. A step per typical update: {proposal}")
    return warnings


def _round_sig(value: float) -> float:
    """Rounded up to two significant figures (a proposal at least as large as needed)."""
    if value <= 0 or not math.isfinite(value):
        return value
    scale = 10 ** (math.floor(math.log10(value)) - 1)
    return float(f"{math.ceil(value / scale - 1e-9) * scale:.3g}")


# ---- text and plots -----------------------------------------------------------------------------------

def _fmt(value: Any, kind: str = "g") -> str:
    from neurosim.spec.units import format_duration, format_quantity

    if value is None:  # to the target: never got there; a lifetime: nothing written (JSON's null for inf)
        return "never" if kind in ("time", "int_t", "energy_t") else "unlimited" if kind == "life" else "-"
    if isinstance(value, float) and math.isinf(value):
        return "unlimited"
    if kind in ("time",):
        return format_duration(value)
    if kind in ("energy", "energy_t"):
        return format_quantity(value, "J")
    if kind in ("int", "int_t"):
        return f"{value:.0f}"
    if kind == "acc":
        return f"{value:.3f}"
    return f"{value:.3g}"


def _spread(entry: dict[str, Any], key: str, kind: str) -> str:
    median = _fmt(entry.get(key), kind)
    spread = entry.get(f"{key}_spread")
    if entry["seeds"] < 2 or spread is None or spread[0] == spread[1]:
        return median
    return f"{median} [{_fmt(spread[0], kind)}-{_fmt(spread[1], kind)}]"


def format_table(result: dict[str, Any]) -> str:
    grid_keys = list(result["grid"])
    columns = [("τθ", lambda e: str(e["tau_theta"]))]
    columns += [(k.rsplit(".", 1)[-1], (lambda key: lambda e: str(e["settings"].get(key)))(k)) for k in grid_keys]
    columns += [
        ("method", lambda e: e["method"]),
        ("reached", lambda e: f"{e['reached']}/{e['seeds']}"),
        ("cycles to target", lambda e: _spread(e, "cycles_to_target", "int_t")),
        ("time to target", lambda e: _spread(e, "time_to_target_s", "time")),
        ("energy to target", lambda e: _spread(e, "energy_to_target_j", "energy_t")),
        ("updates", lambda e: _spread(e, "weight_updates", "int")),
        ("write pulses", lambda e: _spread(e, "write_pulses_total", "int")),
        ("max/device", lambda e: _spread(e, "write_pulses_max_per_device", "int")),
        ("endurance used", lambda e: _spread(e, "endurance_used_max", "g")),
        ("trainings (1st fail)", lambda e: _spread(e, "trainings_to_first_failure", "life")),
        ("trainings (1%)", lambda e: _spread(e, "trainings_to_1pct_failed", "life")),
        ("final acc", lambda e: _spread(e, "test_accuracy", "acc")),
        ("best acc", lambda e: _spread(e, "best_test_accuracy", "acc")),
        ("failed", lambda e: _spread(e, "failed_devices", "int")),
    ]
    return text_table([title for title, _ in columns], [[fmt(e) for _, fmt in columns] for e in result["table"]])


def format_study(result: dict[str, Any]) -> str:
    caps = sorted(set(result["max_iterations"].values()))
    lines = [f"τθ study, {result['workload']} on {result['chip']}: {result['perturbation']} perturbation, "
             f"target {result['target_accuracy']:.0%}, {result['seeds']} seeds, cap "
             f"{'/'.join(str(c) for c in caps)} iterations; median [min-max] over seeds",
             format_table(result), ""]
    step = result.get("device_step")
    if step and step.get("step_w"):
        lines.append(f"device step: Δw = {step['step_w']:.3g} ({step['levels']} levels); typical requested update "
                     "over the first updates: " + ", ".join(
                         f"τθ={c['tau_theta']}{_extra(c['settings'])} {c['requested_update_w']:.3g} "
                         f"({c['requested_over_step']:.2g} steps)" for c in step["combos"]))
        for warning in step["warnings"]:
            lines.append(f"warning: {warning}")
    elif step:
        lines.append(f"device step: {step['note']}")
    lines.append(f"answer: {result['recommendation']['answer']}")
    if result["recommendation"].get("train_command"):
        lines.append(f"  to train with it (seed 0 of the study, stopping at the target): "
                     f"{result['recommendation']['train_command']}")
    seen = set()
    for row in result["runs"]:
        for w in row["warnings"]:
            text = f"τθ={row['tau_theta']}{_extra(row['settings'])} {row['method']} seed {row['seed']}: {w['message']}"
            if text not in seen:
                seen.add(text)
                lines.append(f"  {text}")
    lines.append(f"runs in {result['out']}")
    return "\n".join(lines)


def _extra(settings: dict[str, Any]) -> str:
    extra = [f"{k.rsplit('.', 1)[-1]}={v}" for k, v in settings.items() if k != "mgd.tau_theta"]
    return f" ({', '.join(extra)})" if extra else ""


def write_plots(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """tau_theta_pareto.png (time to target against trainings survived, the front marked), tau_theta_energy.png
    (energy to target by component against τθ) and tau_theta_accuracy.png (test accuracy against chip time)."""
    from neurosim.io import ensure_folder
    from neurosim.report import _colors, _new_figure, _save

    out = ensure_folder(out_dir, "the plot folder")
    paths = []
    table = result["table"]
    target = result["target_accuracy"]
    grid_keys = list(result["grid"])
    mgd = [e for e in table if e["method"] != "backprop"]

    fig = _new_figure((7.5, 5.0))
    ax = fig.subplots()
    points = [(e, e["lifetime_trainings"], e["time_to_target_s"]) for e in mgd if e["time_to_target_s"] is not None]
    finite_life = [p[1] for p in points if p[1] is not None and math.isfinite(p[1])]
    edge = max(finite_life) * 10 if finite_life else 1.0
    xy = [(e, edge if life is None or not math.isfinite(life) else life, t) for e, life, t in points]
    front = [p for p in xy if not any(q[1] >= p[1] and q[2] <= p[2] and (q[1] > p[1] or q[2] < p[2]) for q in xy)]
    for e, x, y in xy:
        on_front = any(e is f[0] for f in front)
        ax.plot([x], [y], "o", ms=8 if on_front else 6, color="tab:red" if on_front else "tab:gray")
        ax.annotate(_describe(e, grid_keys), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    if front:
        ordered = sorted(front, key=lambda p: p[1])
        ax.plot([p[1] for p in ordered], [p[2] for p in ordered], "-", color="tab:red", alpha=0.6, label="Pareto front")
    ax.axvline(result["lifetime"], ls="--", color="black", lw=1, label=f"--lifetime {result['lifetime']:g}")
    if xy:
        ax.set(xscale="log", yscale="log")
    ax.set(xlabel=f"trainings survived ({'first device fails' if result['lifetime_at'] == 'first' else '1% fail'})",
           ylabel=f"chip time to {target:.0%} (s)", title=f"{result['chip']}: time to target vs lifetime (median)")
    never = [e for e in mgd if e["time_to_target_s"] is None]
    if never:
        ax.text(0.01, 0.01, "never reached: " + ", ".join(_describe(e, grid_keys) for e in never),
                transform=ax.transAxes, fontsize=8, va="bottom")
    ax.legend(fontsize=8)
    paths.append(_save(fig, out / "tau_theta_pareto.png"))

    fig = _new_figure((7.5, 5.0))
    ax = fig.subplots()
    combos: dict[str, list[dict[str, Any]]] = {}
    for e in table:
        label = e["method"] + _extra(e["settings"]).replace(" (", ", ").rstrip(")")
        combos.setdefault(label, []).append(e)
    for (label, entries), color in zip(combos.items(), _colors(len(combos))):
        pts = [(e["tau_theta"], e["energy_to_target_j"]) for e in entries if e["energy_to_target_j"]]
        if pts:
            ax.plot(*zip(*pts), "o-", color=color, label=f"{label}: total")
        parts: dict[str, list[tuple[int, float]]] = {}
        for e in entries:
            for name, joules in (e.get("energy_to_target_by_component_j") or {}).items():
                if joules > 0:
                    parts.setdefault(name, []).append((e["tau_theta"], joules))
        if len(combos) == 1:
            for (name, pts_c), c2 in zip(parts.items(), _colors(len(parts) + 1)[1:]):
                ax.plot(*zip(*pts_c), ".--", color=c2, lw=1, label=name.replace("_", " "))
    ax.set(xscale="log", xlabel="τθ", ylabel=f"energy to {target:.0%} (J)", title=f"{result['chip']}: energy to target")
    if any(e["energy_to_target_j"] for e in table):
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, f"no setting reached {target:.0%}", transform=ax.transAxes, ha="center")
    paths.append(_save(fig, out / "tau_theta_energy.png"))

    fig = _new_figure((8.0, 5.0))
    ax = fig.subplots()
    labels = sorted({(r["tau_theta"], _extra(r["settings"]), r["method"]) for r in result["runs"]},
                    key=lambda t: (t[2], t[0], t[1]))
    colors = dict(zip(labels, _colors(len(labels))))
    shown = set()
    for r in result["runs"]:
        key = (r["tau_theta"], _extra(r["settings"]), r["method"])
        c = r["curves"]
        if not c.get("simulated_time_s"):
            continue
        label = None if key in shown else f"τθ={key[0]}{key[1]} {key[2]}"
        shown.add(key)
        ax.plot(c["simulated_time_s"], c["test_accuracy"], "-" if key[2] != "backprop" else ":", color=colors[key],
                lw=1.2, label=label)
    ax.axhline(target, ls="--", color="black", lw=1)
    ax.set(xscale="log", xlabel="chip time (s)", ylabel="test accuracy", ylim=(0, 1.02),
           title=f"{result['chip']}: accuracy against chip time (every seed)")
    if shown:
        ax.legend(fontsize=7)
    paths.append(_save(fig, out / "tau_theta_accuracy.png"))
    return paths


__all__ = ["DEFAULT_TAU_THETAS", "TauThetaStudy", "aggregate", "check_study", "format_study", "parse_grid",
           "parse_tau_thetas", "plan_study", "recommend", "run_study", "step_check", "step_warnings", "write_histogram",
           "write_plots"]
