"""The ``neurosim`` command: train | estimate | describe | validate | report | sweep | study | data fetch.

Every user error (bad file, bad key, missing data) ends as one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from neurosim.errors import EXIT_DIVERGED, EXIT_USAGE, ConfigError, DataError, NeurosimError, bounded, interrupt_hint
from neurosim.memory import add_memory_arg
from neurosim.results import TrainingSummary, json_safe
logger = logging.getLogger("neurosim")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: same one-line form, exit 2
        self.print_usage(sys.stderr)
        print(f"neurosim: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _common_run_args(p: argparse.ArgumentParser, data: bool = True) -> None:
    p.add_argument("chip", help="chip YAML file")
    p.add_argument("workload", help="workload YAML file")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a workload key (network.width=8) or a chip key (chip.clock=10MHz)")
    add_memory_arg(p)
    if data:
        p.add_argument("--data-dir", help="folder holding data sets (else $NEUROSIM_DATA, else ~/.cache/neurosim)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neurosim", description="Simulate in-situ MGD training of analog neuromorphic chips.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)")
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                         help="log progress (-vv: debug)")

    class _SubParser(_Parser):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(parents=[verbose], **kwargs)

    sub = parser.add_subparsers(dest="command", required=True, parser_class=_SubParser)

    train = sub.add_parser("train", help="simulate training of a chip on a workload")
    train.add_argument("chip", nargs="?", help="chip YAML file")
    train.add_argument("workload", nargs="?", help="workload YAML file")
    train.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="override a workload key (network.width=8) or a chip key (chip.clock=10MHz)")
    train.add_argument("--data-dir", help="folder holding data sets (else $NEUROSIM_DATA, else ~/.cache/neurosim)")
    train.add_argument("--checkpoint-every", type=int, metavar="N",
                       help="save the full state into the run file every N iterations (needs --out)")
    train.add_argument("--resume", metavar="RUN.h5", help="continue an interrupted run from its last checkpoint")
    train.add_argument("--iterations", type=int, help="override train.iterations")
    train.add_argument("--seed", type=int, help="override train.seed")
    train.add_argument("--out", help="write an HDF5 run file here")
    train.add_argument("--force", action="store_true",
                       help="replace the file at --out if it exists (without it, an existing file is an error)")
    train.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    add_memory_arg(train)

    describe = sub.add_parser("describe", help="show the network as mapped on the chip, without training")
    _common_run_args(describe, data=False)
    describe.add_argument("--json", action="store_true")

    estimate = sub.add_parser("estimate", help="hardware time, energy and wear of N iterations, without training")
    _common_run_args(estimate, data=False)
    group = estimate.add_mutually_exclusive_group(required=True)
    group.add_argument("--iterations", type=int, help="iterations to estimate")
    group.add_argument("--from", dest="from_run", metavar="RUN.h5",
                       help="extrapolate the measured ledger of a simulated run (its iterations unless --scale-to)")
    estimate.add_argument("--scale-to", type=int, metavar="N", help="with --from: estimate N iterations")
    estimate.add_argument("--clock", help="clock rate to estimate at (e.g. 10MHz), checked against the stages")
    estimate.add_argument("--json", action="store_true")

    validate = sub.add_parser("validate", help="check chip and workload files")
    validate.add_argument("files", nargs="+")

    study = sub.add_parser("study", help="the paper's studies")
    study_sub = study.add_subparsers(dest="study", required=True, parser_class=_SubParser)
    gradient = study_sub.add_parser("gradient", help="iterations until the MGD estimate aligns with the gradient "
                                                     "(Fig. 3)")
    _common_run_args(gradient)
    gradient.add_argument("--perturbation", choices=("weight", "node"), help="override mgd.perturbation")
    gradient.add_argument("--threshold", type=float, default=0.95, help="cosine to reach (default 0.95)")
    gradient.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    gradient.add_argument("--iterations", type=int, default=100_000, help="give up after this many (default 1e5)")
    gradient.add_argument("--full", action="store_true", help="run all iterations, not only until the threshold")
    gradient.add_argument("--fresh-batches", action="store_true",
                          help="a new mini-batch every iteration (default: the same samples throughout)")
    gradient.add_argument("--json", action="store_true")

    tau = study_sub.add_parser(
        "tau-theta", help="the τθ trade-off: time, energy and writes to the target against trainings survived",
        description="For each τθ (and --grid value) and seed, train until the target accuracy or the cap; "
                    "tabulate time, energy and writes to the target and the trainings the chip survives; name "
                    "the fastest τθ that meets --lifetime. The runs are a sweep: a rerun redoes only what is "
                    "missing.")
    _common_run_args(tau)
    tau.add_argument("--tau-theta", default="1,10,100,1000", metavar="LIST",
                     help="update periods to compare, comma-separated (default 1,10,100,1000)")
    tau.add_argument("--grid", action="append", default=[], metavar="KEY=[V1,V2]",
                     help="another axis, e.g. mgd.learning_rate=[0.005,0.02] or mgd.amplitude=[0.01,0.03]")
    tau.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per setting (default 3)")
    tau.add_argument("--target", type=float, help="test accuracy to reach (default: train.target_accuracy)")
    tau.add_argument("--max-iterations", type=int, metavar="N",
                     help="give up after N iterations (default: train.iterations), but see --min-updates")
    tau.add_argument("--min-updates", type=int, default=100, metavar="U",
                     help="every τθ gets at least U updates: its cap is max(N, U·τθ) (default 100)")
    tau.add_argument("--eval-interval", type=int, metavar="N",
                     help="iterations between evaluations, the resolution of the time to target "
                          "(default: max(τθ, train.eval_interval/10))")
    tau.add_argument("--lifetime", type=float, default=1.0, metavar="N",
                     help="trainings the chip must survive (default 1)")
    tau.add_argument("--lifetime-at", choices=("first", "1pct"), default="first",
                     help="survive until the first device fails (default) or until 1%% of them have")
    tau.add_argument("--backprop", action="store_true", help="also run backprop at every τθ: the floor")
    tau.add_argument("--no-step-check", action="store_true",
                     help="skip measuring the requested updates against the device step")
    tau.add_argument("--workers", type=int, help="local worker processes (default: the number of CPUs)")
    tau.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster instead")
    tau.add_argument("--out", help="folder for the run files (default runs/tau-theta-CHIP-WORKLOAD)")
    tau.add_argument("--plot", metavar="DIR", help="write the Pareto, energy and accuracy plots (PNG) here")
    tau.add_argument("--json", action="store_true", help="print the whole result as one JSON object")

    from neurosim.report import add_report_parser
    from neurosim.sweep import add_sweep_parser

    add_report_parser(sub)
    add_sweep_parser(sub)

    data = sub.add_parser("data", help="data sets")
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    fetch = data_sub.add_parser("fetch", help="download a data set's official files and verify checksums")
    fetch.add_argument("name", choices=("fashion-mnist", "mnist"))
    fetch.add_argument("--data-dir", help="root folder to store it in (default ~/.cache/neurosim)")
    return parser


@contextmanager
def _workload_context(config: Any) -> Iterator[None]:
    """Errors found while building from the workload (its data set, its network on that data) name its file."""
    try:
        yield
    except DataError as exc:
        from neurosim.data import DATASETS

        key = "dataset" if config.workload.dataset.name in DATASETS else "dataset.name"
        raise DataError(f"{config.workload_file}: {key}: {exc}") from None
    except ConfigError as exc:
        if exc.file is not None:
            raise
        raise ConfigError(config.workload_file, exc.key, exc.expected) from None


def cmd_train(args: argparse.Namespace) -> int:
    from neurosim.api import restored_simulation, run_simulation
    from neurosim.io.runfile import check_output, read_checkpoint, read_identity
    from neurosim.simulation import Simulation
    from neurosim.spec import load_config

    from neurosim.spec.fields import MAX_INT

    if args.iterations is not None and not 1 <= args.iterations <= MAX_INT:
        raise NeurosimError(f"--iterations: expected a whole number from 1 to {MAX_INT:.3g}")
    if args.seed is not None and not 0 <= args.seed <= MAX_INT:
        raise NeurosimError(f"--seed: expected a whole number from 0 to {MAX_INT:.3g}")
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise NeurosimError("--checkpoint-every: expected a whole number >= 1")
    checkpoint_every = args.checkpoint_every
    if args.resume:
        if args.chip or args.workload or args.sets or args.iterations or args.seed is not None:
            raise NeurosimError("--resume takes its chip, workload, seed and iterations from the run file; "
                                "give only --resume RUN.h5 (and --data-dir, --out, --json, --quiet)")
        config, saved, every = read_checkpoint(args.resume)
        identity = read_identity(args.resume)  # a sweep's run id goes on with its run
        checkpoint_every = checkpoint_every or every or None
        out = args.out or args.resume
        check_output(out, force=args.force, own=args.resume)  # and the stale temporary files of a kill -9 go
        with _workload_context(config):
            sim = restored_simulation(config, saved, args.resume, args.data_dir)
    else:
        if not (args.chip and args.workload):
            raise NeurosimError("train needs CHIP and WORKLOAD files (or --resume RUN.h5)")
        if checkpoint_every and not args.out:
            raise NeurosimError("--checkpoint-every needs --out RUN.h5 to hold the checkpoints")
        config = load_config(args.chip, args.workload, args.sets)
        identity = None
        out = args.out
        if out is not None:  # before anything runs: a folder, an unwritable place or an existing file
            check_output(out, force=args.force)
        with _workload_context(config):
            sim = Simulation(config, seed=args.seed, iterations=args.iterations, data_dir=args.data_dir)
    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=sim.iterations, initial=sim.done, unit="it", file=sys.stderr, dynamic_ncols=True)

    def progress(state: dict[str, Any]) -> None:
        if bar is not None:
            bar.update(state["iteration"] - bar.n)
            bar.set_postfix(acc=f"{state['test_accuracy']:.3f}", sim_t=f"{state['simulated_time_s']:.3g}s",
                            E=f"{state['energy_j']:.3g}J")

    logger.info("training %s on %s: %d iterations from %d, seed %d", config.workload.name, config.chip.name,
                sim.iterations, sim.done, sim.seed)
    interrupt_hint["run"] = (out, checkpoint_every)
    try:
        result = run_simulation(sim, out=out, checkpoint_every=checkpoint_every, progress=progress, identity=identity)
    finally:
        if bar is not None:
            bar.close()
    summary = result.summary
    # a diverged run has its own one-line cause below; a guess at why it "did not learn" would mislead
    warnings = [] if summary.diverged else train_warnings(sim, summary)
    if args.json:
        print(json.dumps(json_safe({**summary.as_dict(), "warnings": [w.as_dict() for w in warnings]})))
    else:
        print(format_summary(summary))
    for warning in warnings:
        print(f"neurosim: {warning.line()}", file=sys.stderr)
    diverged = summary.diverged
    if diverged:
        stopped = "stopped there" if summary.iterations < summary.iterations_planned else "ran to its end"
        print(f"neurosim: error: the run diverged at iteration {diverged['iteration']} ({stopped}): "
              f"{diverged['reason']}" + (f"; {out} records it" if out else ""), file=sys.stderr)
        return EXIT_DIVERGED
    return 0


def train_warnings(sim: Any, summary: TrainingSummary) -> list[Any]:
    """The diagnosis of a finished training: near chance or most devices failed, and the likely cause."""
    from neurosim.studies.diagnosis import diagnose, fraction_at_bounds

    weights = sim.config.chip.weights
    at_bounds = fraction_at_bounds(sim.chip.weights(), weights.w_min, weights.w_max)
    return diagnose(summary, sim.config, sim.net.n_outputs, at_bounds=at_bounds)


def format_summary(s: TrainingSummary) -> str:
    from neurosim.spec.units import format_quantity
    from neurosim.tables import ledger_lines, optional

    target = s.iterations_to_target
    lines = [
        f"chip {s.chip}, workload {s.workload}: {s.mode} mode, {s.perturbation} perturbation, seed {s.seed}",
        f"  iterations           {s.iterations}  "
        + f"(τp={s.tau_p}, τx={s.tau_x}, τθ={s.tau_theta}" + (" iterations)" if s.mode == "paper" else ")"),
        f"  test accuracy        {optional(s.test_accuracy, '.4f')} (best {optional(s.best_test_accuracy, '.4f')})",
        f"  reached {s.target_accuracy:.0%}          "
        + (f"at iteration {target} ({format_quantity(s.simulated_time_to_target_s, 's')} on chip)"
           if target is not None else "never"),
        *ledger_lines(s),
        f"  wall time            {s.wall_time_s:.2f} s",
    ]
    if s.diverged:
        lines.insert(1, f"  DIVERGED             at iteration {s.diverged['iteration']}: {s.diverged['reason']}")
    return "\n".join(lines)


def cmd_describe(args: argparse.Namespace) -> int:
    from neurosim.simulation import describe
    from neurosim.spec import load_config

    config = load_config(args.chip, args.workload, args.sets)
    with _workload_context(config):
        info = describe(config)
    if args.json:
        print(json.dumps(info))
        return 0
    from neurosim.memory import format_bytes

    print(f"{info['workload']} on {info['chip']}: {info['parameters']} parameters, "
          f"{info['perturbed_nodes']} nodes, {info['macs_per_sample']} MACs/sample, {info['tiles']} tiles")
    for layer in info["layers"]:
        print(f"  {layer['name']:<8} {layer['kind']:<8} {str(layer['input_shape']):<14} -> "
              f"{str(layer['output_shape']):<14} params {layer['parameters']:<9} nodes {layer['nodes']:<7} "
              f"tiles {layer['tiles']}")
    print(f"  memory: about {format_bytes(info['memory_bytes'])} to train "
          f"(runs above {format_bytes(info['memory_limit_bytes'])} are refused)")
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    from neurosim.estimate import estimate, estimate_summary, from_run
    from neurosim.errors import ConfigError
    from neurosim.io.runfile import read_summary
    from neurosim.model import build
    from neurosim.spec import load_config
    from neurosim.spec.units import QuantityError, format_quantity, parse_quantity

    config = load_config(args.chip, args.workload, args.sets)
    from neurosim.memory import check_memory

    with _workload_context(config):
        check_memory(config, build(config).net)  # estimate refuses what train would refuse
    override = None
    if args.clock is not None:
        try:
            override = parse_quantity(args.clock, "Hz")
        except QuantityError as exc:
            raise ConfigError("--clock", None, f"expected {exc}") from None
        if override <= 0:
            raise ConfigError("--clock", None, "expected a clock rate > 0 Hz")
    if args.from_run:
        summary = read_summary(args.from_run, complete_only=True)
        if (summary.chip, summary.workload) != (config.chip.name, config.workload.name):
            raise NeurosimError(f"{args.from_run}: a run of {summary.workload} on {summary.chip}, "
                                f"not of {config.workload.name} on {config.chip.name}")
        # the run's own clock unless --clock asks for another (checked against the chip's stages)
        model = build(config, clock_override_hz=override if override is not None else summary.clock_hz)
        n = args.scale_to or summary.iterations
        if n < 1:
            raise NeurosimError("--scale-to: expected a whole number >= 1")
        result = from_run(summary, n, model.clock_hz, model.held_updates, model.timing.tau_theta)
    else:
        if args.iterations < 1:
            raise NeurosimError("--iterations: expected a whole number >= 1")
        result = estimate(build(config, clock_override_hz=override), args.iterations)
    out = estimate_summary(config, result)
    if args.json:
        print(json.dumps(json_safe(out.as_dict())))
        return 0
    from neurosim.tables import ledger_lines

    print(f"{out.iterations} iterations of {out.workload} on {out.chip}:")
    print("\n".join(ledger_lines(out)))
    for note in out.assumptions:
        print(f"  assumed: {note}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from neurosim.validate import validate_file

    bad = 0
    for path in args.files:  # every file is checked and every bad one reported, not only the first
        try:
            kind = validate_file(path)
        except NeurosimError as exc:
            bad += 1
            print(f"neurosim: error: {bounded(' '.join(str(exc).split()), 1200)}", file=sys.stderr)
            continue
        print(f"{path}: valid {kind} file")
    return EXIT_USAGE if bad else 0


def cmd_data(args: argparse.Namespace) -> int:
    from neurosim.data import fetch_dataset

    where = fetch_dataset(args.name, args.data_dir)
    print(f"{args.name}: verified files in {where}")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    if args.study == "tau-theta":
        return cmd_study_tau_theta(args)
    from neurosim.studies.gradient import gradient_study

    if not 0 < args.threshold <= 1:
        raise NeurosimError("--threshold: expected a cosine in (0, 1]")
    if args.seeds < 1 or args.iterations < 1:
        raise NeurosimError("--seeds and --iterations: expected whole numbers >= 1")
    result = gradient_study(args.chip, args.workload, sets=args.sets, perturbation=args.perturbation,
                            threshold=args.threshold, seeds=args.seeds, iterations=args.iterations,
                            data_dir=args.data_dir, stop_at_threshold=not args.full,
                            fresh_batches=args.fresh_batches)
    if args.json:
        print(json.dumps(json_safe(result)))
        return 0
    print(f"gradient estimation, {result['workload']} on {result['chip']}: {result['mode']} mode, "
          f"{result['perturbation']} perturbation, cosine threshold {result['threshold']}")
    for curve, reached in zip(result["curves"], result["iterations_to_threshold"]):
        print(f"  seed {curve['seed']}: " + (f"{reached} iterations" if reached is not None else
                                             f"not reached in {result['max_iterations']}")
              + f" (norm ratio {curve['norm_ratio'][-1]:.3f} at the end)")
    median = result["median_iterations"]
    print(f"  median: {median:g} iterations" if median is not None else "  median: not reached by every seed")
    return 0


def cmd_study_tau_theta(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neurosim.spec import load_config
    from neurosim.studies.tau_theta import (TauThetaStudy, format_study, parse_grid, parse_tau_thetas, run_study,
                                            write_plots)

    if args.workers is not None and args.scheduler:
        raise NeurosimError("--workers and --scheduler: choose one (a Dask cluster has its own workers)")
    study = TauThetaStudy(args.chip, args.workload, parse_tau_thetas(args.tau_theta), args.seeds, args.target,
                          args.max_iterations, args.min_updates, args.eval_interval, args.lifetime,
                          args.lifetime_at, args.backprop, tuple(args.sets), parse_grid(args.grid),
                          not args.no_step_check)
    out = args.out
    if out is None:
        config = load_config(args.chip, args.workload, args.sets)
        out = str(Path("runs") / f"tau-theta-{config.chip.name}-{config.workload.name}")
    total = {"n": 0}

    def progress(event: str, run: Any, summary: TrainingSummary | None) -> None:
        total["n"] += 1
        if event != "reused":
            detail = "" if summary is None else f": test accuracy {summary.test_accuracy}"
            print(f"[{total['n']}] {event} {run.run_id}{detail}", file=sys.stderr, flush=True)

    result = run_study(study, out, workers=args.workers, scheduler=args.scheduler, data_dir=args.data_dir,
                       progress=progress)
    if args.plot:
        result["plots"] = [str(p) for p in write_plots(result, args.plot)]
    if args.json:
        print(json.dumps(json_safe(result)))
    else:
        print(format_study(json_safe(result)))
        for path in result.get("plots", []):
            print(f"plot: {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from neurosim.report import cmd_report as run

    return run(args)


def cmd_sweep(args: argparse.Namespace) -> int:
    from neurosim.sweep import cmd_sweep as run

    return run(args)


COMMANDS = {"train": cmd_train, "describe": cmd_describe, "estimate": cmd_estimate, "report": cmd_report,
            "study": cmd_study,
            "sweep": cmd_sweep, "validate": cmd_validate, "data": cmd_data}


def _run_hint(out: str | None, checkpoint_every: int | None) -> str | None:
    """What an interrupted training left and how to go on from it."""
    from pathlib import Path

    if out is None and checkpoint_every is None:
        return None  # interrupted before training started
    if out is None:
        return "nothing was saved (train with --out RUN.h5 --checkpoint-every N to be able to --resume)"
    if not Path(out).is_file():
        return f"nothing was saved yet: {out} is written at the first evaluation or checkpoint"
    if checkpoint_every:
        return f"{out} holds the last checkpoint; continue with: neurosim train --resume {out}"
    return (f"{out} holds the run up to its last evaluation, without a checkpoint (train with "
            "--checkpoint-every N to be able to --resume)")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every ``finally`` and temporary-file cleanup runs."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    import signal
    import threading

    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="neurosim: %(message)s", stream=sys.stderr)
    interrupt_hint.clear()
    from neurosim.memory import ENV

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    limit = os.environ.get(ENV)
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if limit is None:  # --max-memory held for this command (and the workers it started) only
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = limit


def _run(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "max_memory", None) is not None:  # for this process and the workers it starts
            from neurosim.memory import ENV, parse_bytes

            parse_bytes(args.max_memory, "--max-memory")
            os.environ[ENV] = args.max_memory
        return COMMANDS[args.command](args)
    except MemoryError:  # the estimate's safety net: a run that outgrew it still ends in one line
        from neurosim.memory import ENV

        print(f"neurosim: error: out of memory; the run needs more than this machine can give (lower its size; "
              f"runs estimated above --max-memory / ${ENV} are refused before they start)", file=sys.stderr)
        return EXIT_USAGE
    except NeurosimError as exc:
        print(f"neurosim: error: {bounded(' '.join(str(exc).split()), 1200)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        hint = interrupt_hint.get("text") or _run_hint(*interrupt_hint.get("run", (None, None)))
        print(f"neurosim: {what}" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except BrokenPipeError:  # `neurosim ... | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
