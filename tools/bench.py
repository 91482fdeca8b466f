"""Benchmark: forward passes, MGD iterations through the engine, and engine overhead, in one process.

    python tools/bench.py [--quick] [--json] [--widths 1 8 48] [--paper-widths 1 2 4 8]
    python tools/bench.py --only-chips     # only the chips on NIST7x7 and the Fashion-MNIST MLP

Prints each figure as a time and as a ratio to the bare forward pass of the same batch, and 20,000 NIST7x7
cycles on every chip in chips/ as the command line runs them, beside chips/reference.yaml, with the arithmetic
floor of a realistic chip's update (``device_write_floor``). Single thread
(neurosim pins numba and BLAS to one thread on import). Compile time is measured separately. The section
``paper_mode_vs_limit`` sets the paper-mode iteration (weight, node, backprop) against the arithmetic limit:
the time its minimum MACs take at this machine's single-thread fp32 matmul rate, measured in the same run;
``paper_update`` times the update alone (µs per call) at the first of those widths.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import neurosim  # noqa: E402,F401  (first: it pins BLAS to one thread, which must happen before numpy loads)
import numpy as np  # noqa: E402

from neurosim.engine.clocks import ClockDomain, Engine  # noqa: E402
from neurosim.errors import NeurosimError  # noqa: E402
from neurosim.nn import compute  # noqa: E402
from neurosim.nn.shapes import Conv3x3Shape, NetworkShape, mlp, paper_cnn  # noqa: E402
from neurosim.simulation import Simulation  # noqa: E402
from neurosim.spec import load_config  # noqa: E402


def timeit(fn: Callable[[], object], min_time: float = 0.3, min_runs: int = 3) -> float:
    """Median seconds per call over repeated runs lasting at least ``min_time``."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def numpy_forward(net: NetworkShape, weights, x: np.ndarray) -> np.ndarray:
    """The yardstick: im2col by stride tricks and one numpy matmul per layer."""
    a = x
    for layer, (w, b) in zip(net.layers, weights):
        batch = a.shape[0]
        if isinstance(layer, Conv3x3Shape):
            h, wd, c = layer.in_shape
            padded = np.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)))
            s = padded.strides
            patches = np.lib.stride_tricks.as_strided(padded, (batch, h, wd, 3, 3, c), (s[0], s[1], s[2], s[1], s[2], s[3]))
            z = patches.reshape(batch * h * wd, 9 * c) @ w + b
            z = z.reshape(batch, h, wd, -1)
        else:
            z = a.reshape(batch, -1) @ w + b
        h_ = compute.activate(layer.activation, z)
        if layer.pool:
            hh, ww = h_.shape[1] // 2, h_.shape[2] // 2
            h_ = h_[:, :2 * hh, :2 * ww].reshape(batch, hh, 2, ww, 2, -1).max(axis=(2, 4))
        a = h_
    return a.reshape(a.shape[0], -1)


def bench_forward(name: str, net: NetworkShape, rng: np.random.Generator, quick: bool) -> dict:
    weights = compute.init_weights(net, rng)
    out = {}
    for batch in (1, 100):
        x = rng.random((batch, *net.input_shape)).astype(np.float32)
        ours = timeit(lambda: compute.forward(net, weights, x), 0.1 if quick else 0.3)
        yard = timeit(lambda: numpy_forward(net, weights, x), 0.1 if quick else 0.3)
        out[f"forward_b{batch}_s"] = ours
        out[f"numpy_forward_b{batch}_s"] = yard
        out[f"gmacs_b{batch}"] = batch * net.macs / ours / 1e9
    return out


def bench_iteration(workload: str, sets: list[str], iterations: int, forward: dict, segments: int = 1) -> dict:
    """Seconds per iteration through the engine. With ``segments`` > 1 the iterations run in that many equal
    stretches, each timed: the median is reported (this shared machine's speed drifts by tens of percent
    within a minute), and the fastest beside it."""
    config = load_config(REPO / "chips/ideal.yaml", REPO / workload,
                         sets + [f"train.eval_interval={iterations}", "train.eval_size=1"])
    sim = Simulation(config, iterations=iterations + 2)
    sim.engine.run_until(2)  # warm up
    per_segment = iterations // segments
    times, cycles = [], []
    for index in range(segments):
        before = sim.chip.counts.cycles
        start = time.perf_counter()
        sim.engine.run_until(2 + (index + 1) * per_segment)
        times.append(time.perf_counter() - start)
        cycles.append(sim.chip.counts.cycles - before)
    per = float(np.median(times)) / per_segment
    batch = config.workload.mgd.batch_size if config.workload.mgd.mode == "paper" else 1
    out = {"iteration_s": per, "ratio_to_forward": per / forward[f"forward_b{batch}_s"],
           "cycles_per_s": float(np.median([c / t for c, t in zip(cycles, times)])),
           "engine_path": sim.procedure.engine_path}
    if segments > 1:
        out["segments"] = segments
        out["cycles_per_s_fastest_segment"] = max(c / t for c, t in zip(cycles, times))
    return out


def bench_chips(iterations: int = 20_000, repeats: int = 3) -> dict:
    """Every chip in chips/ on the default NIST7x7 workload, as ``neurosim train chips/X.yaml
    workloads/nist7x7.yaml --iterations N --json`` runs it (evaluations included, compiled kernels loaded
    from the cache by a first short run): the median wall time of ``repeats`` runs, its cycles per second,
    the ratio to chips/reference.yaml (the target: at least 0.5 for every realistic chip) and the engine
    path. The chips take turns, so a drift of this shared machine's speed spreads over all of them."""
    chips = sorted(p.name for p in (REPO / "chips").glob("*.yaml"))
    configs = {chip: load_config(REPO / "chips" / chip, REPO / "workloads/nist7x7.yaml", []) for chip in chips}
    for config in configs.values():
        Simulation(config, iterations=10).run()  # compile, or load from the cache
    walls: dict[str, list[float]] = {chip: [] for chip in chips}
    paths: dict[str, str] = {}
    for _ in range(repeats):
        for chip, config in configs.items():
            result = Simulation(config, iterations=iterations).run()
            walls[chip].append(result.summary.wall_time_s)
            paths[chip] = result.summary.engine_path
    out = {chip: {"wall_s": float(np.median(w)), "cycles_per_s": iterations / float(np.median(w)),
                  "engine_path": paths[chip]} for chip, w in walls.items()}
    reference = out["reference.yaml"]["cycles_per_s"]
    for row in out.values():
        row["ratio_to_reference"] = row["cycles_per_s"] / reference
    return out


def bench_device_write_floor(chips_report: dict, devices: int = 868, repeats: int = 2000) -> dict:
    """The arithmetic floor of a realistic chip's update, against the target's budget. At tau_theta = 1 every
    pulsed device needs at least a write-noise draw and, on a nonlinear curve, an exponential; measured here
    over an array of ``devices`` (the NIST7x7 MLP's weights), vectorized, in compiled loops (no call per
    draw). The budget: a realistic chip at half the reference chip's cycles per second may spend one
    reference cycle per update on its devices. ``floor_over_budget`` above 1 puts the 0.5 target below what
    this machine's arithmetic allows for a chip that pulses every device at every update."""
    import numba as nb

    from neurosim.kernels.devices import read
    from neurosim.kernels.vecmath import expm1

    @nb.njit(nogil=True, error_model="numpy")
    def draws(out: np.ndarray, reps: int) -> None:  # the devices' own two-pass draw (read noise: one per weight)
        zeros = np.zeros(out.size, dtype=np.float32)
        draws32 = np.empty(out.size, dtype=np.float32)
        for r in range(reps):
            read(zeros, np.uint64(r), r, 0, np.float32(1.0), draws32)

    @nb.njit(nogil=True, error_model="numpy")
    def exponentials(x: np.ndarray, out: np.ndarray, reps: int) -> None:
        for _ in range(reps):
            for k in range(x.size):
                out[k] = expm1(x[k])

    out = np.empty(devices)
    x = -np.random.default_rng(0).uniform(0.0, 0.05, devices)
    normal_s = timeit(lambda: draws(out, repeats)) / repeats / devices
    exp_s = timeit(lambda: exponentials(x, out, repeats)) / repeats / devices
    floor_s = devices * (normal_s + exp_s)
    budget_s = 1.0 / chips_report["reference.yaml"]["cycles_per_s"]
    return {"normal_draw_ns": normal_s * 1e9, "expm1_ns": exp_s * 1e9, "devices": devices,
            "floor_us_per_update": floor_s * 1e6, "budget_us_per_update": budget_s * 1e6,
            "floor_over_budget": floor_s / budget_s}


def bench_fashion_mlp_chips(cycles: int, repeats: int = 3, chips: tuple[str, ...] = ("ideal.yaml", "pcm.yaml")) -> dict:
    """The Fashion-MNIST 784-32-10 MLP (workloads/fashion-mlp.yaml) in chip mode on the ideal chip and on pcm
    (the target: pcm at least half the ideal chip's cycles per second): cycles per second through the
    engine after a warm-up, the chips taking turns ``repeats`` times, medians. Needs Fashion-MNIST
    ($NEUROSIM_DATA)."""
    sims = {}
    for chip in chips:
        config = load_config(REPO / "chips" / chip, REPO / "workloads/fashion-mlp.yaml",
                             ["train.eval_interval=100000000", "train.eval_size=100"])
        sims[chip] = Simulation(config, iterations=200 + repeats * cycles)
        sims[chip].engine.run_until(200)  # warm up: compilation or the cache, the first baseline
    rates: dict[str, list[float]] = {chip: [] for chip in chips}
    done = {chip: 200 for chip in chips}
    for _ in range(repeats):
        for chip, sim in sims.items():
            start = time.perf_counter()
            sim.engine.run_until(done[chip] + cycles)
            rates[chip].append(cycles / (time.perf_counter() - start))
            done[chip] += cycles
    out = {chip: {"cycles_per_s": float(np.median(r)), "engine_path": sims[chip].procedure.engine_path}
           for chip, r in rates.items()}
    for row in out.values():
        row["ratio_to_ideal"] = row["cycles_per_s"] / out["ideal.yaml"]["cycles_per_s"]
    return out


def bench_straightforward_paper(net: NetworkShape, rng: np.random.Generator, batch: int = 100) -> float:
    """Seconds per paper-mode iteration done the straightforward way: for every layer, a full forward pass
    with that layer perturbed and a full forward pass for its baseline (the yardstick of issue 5)."""
    from neurosim.nn import losses

    weights = compute.init_weights(net, rng)
    x = rng.random((batch, *net.input_shape)).astype(np.float32)
    y = rng.integers(0, net.n_outputs, batch)

    def iteration() -> None:
        for index, (w, b) in enumerate(weights):
            c0 = losses.cost("cross_entropy", compute.forward(net, weights, x), y)
            moved = list(weights)
            moved[index] = (w + np.float32(0.01), b)
            losses.cost("cross_entropy", compute.forward(net, moved, x), y) - c0

    return timeit(iteration, 0.2, 2)


def matmul_rate(size: int = 2048, runs: int = 5) -> float:
    """This machine's single-thread fp32 matmul rate, MAC/s: the median of ``runs`` products of two
    size x size matrices (BLAS is pinned to one thread on import)."""
    a = np.random.default_rng(1).standard_normal((size, size)).astype(np.float32)
    out = np.empty_like(a)
    np.dot(a, a, out)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        np.dot(a, a, out)
        times.append(time.perf_counter() - t)
    return size ** 3 / float(np.median(times))


def iteration_macs(net: NetworkShape, batch: int = 100) -> int:
    """The fewest MACs a paper-mode iteration can do: one baseline pass plus, for every perturbed layer, the
    layers from it up (the layers below reuse the baseline)."""
    per_sample = net.macs + sum(layer.macs for index in range(len(net.layers)) for layer in net.layers[index:])
    return batch * per_sample


def bench_paper_limit(widths: list[int], rate: float, quick: bool) -> list[dict]:
    """Paper-mode iterations (the workload's recipe, updates every iteration, no evaluation) per width and
    method, as a share of the limit: minimum-MAC time / measured time (100% = at the matmul rate)."""
    rows = []
    for d in widths:
        net = paper_cnn(d, (28, 28, 1), 10, "tanh", "identity")
        macs = iteration_macs(net)
        limit_s = macs / rate
        its = (4 if quick else 10) if d >= 8 else (8 if quick else 20)
        for method in ("weight", "node", "backprop"):
            sets = [f"network.width={d}", f"mgd.perturbation={method}", "mgd.lr_hold_iterations=0",
                    "train.eval_schedule=interval"]
            timed = bench_iteration("workloads/fashion-cnn.yaml", sets, its, {"forward_b100_s": float("nan")},
                                    segments=its // 2)
            rows.append({"d": d, "method": method, "iteration_s": timed["iteration_s"],
                         "min_mac_s": limit_s, "iteration_macs": macs, "percent_of_limit": 100 * limit_s / timed["iteration_s"]})
    return rows


def bench_paper_update(d: int = 1, calls: int = 500) -> dict:
    """Microseconds per paper-mode update (accumulators taken, the optimizer's step, the devices written) at
    width d with weight perturbation, τθ = 1: the median of five runs of ``calls`` updates in this process,
    the accumulators refilled before each."""
    config = load_config(REPO / "chips/ideal.yaml", REPO / "workloads/fashion-cnn.yaml",
                         [f"network.width={d}", "mgd.perturbation=weight", "mgd.lr_hold_iterations=0",
                          "train.eval_schedule=interval", "train.eval_interval=1000", "train.eval_size=1"])
    sim = Simulation(config, iterations=10)
    sim.engine.run_until(2)
    procedure, times = sim.procedure, []
    for _ in range(5):
        start = time.perf_counter()
        for i in range(calls):
            procedure.accumulators.flat[:] = 1e-3
            procedure.on_update(i)
        times.append((time.perf_counter() - start) / calls)
    return {"d": d, "update_us": float(np.median(times)) * 1e6}


def bench_engine(events: int = 200_000) -> float:
    """Seconds per SimPy event with a no-op action: the engine's own overhead."""
    engine = Engine([ClockDomain("tick", 1, 0.5, lambda cycle: None)])
    start = time.perf_counter()
    engine.run_until(events)
    return (time.perf_counter() - start) / events


def bench_conv_kernels(widths: list[int], rng: np.random.Generator) -> list[dict]:
    """Every convolution of the paper CNN at batch 100: im2col + product against the direct (planar) kernel,
    for the forward pass, the local product (backprop's weight gradient, node perturbation's update) and
    the input error, and which one ``compute.direct_convolution`` picks (the rule these figures set)."""
    from neurosim.kernels import mac
    rows = []
    for d in widths:
        for layer in paper_cnn(d, (28, 28, 1), 10, "relu", "identity").layers:
            if not isinstance(layer, Conv3x3Shape):
                continue
            x = rng.standard_normal((100, *layer.in_shape)).astype(np.float32)
            w = rng.standard_normal((layer.fan_in, layer.fan_out)).astype(np.float32)
            b = np.zeros(layer.fan_out, np.float32)
            out = np.empty((100, *layer.out_shape), np.float32)
            t_cols = timeit(lambda: mac.conv3x3_forward(x, w, b, compute.images_per_product(layer, 100), 100, out))
            t_direct = timeit(lambda: mac.conv3x3_planar(x, w, b, out))
            g = rng.standard_normal((100, *layer.out_shape)).astype(np.float32)
            dw, db, dx = np.empty_like(w), np.empty_like(b), np.empty_like(x)
            images = compute.images_in_cache(layer)
            unrolled = (min(100, images) * layer.positions, layer.fan_in)  # allocated per call, as compute does
            t_product_cols = timeit(lambda: mac.conv3x3_weight_gradient(x, g, np.empty(unrolled, np.float32), dw, db))
            t_product_direct = timeit(lambda: mac.conv3x3_planar_weight_gradient(x, g, dw, db))
            t_error_cols = timeit(lambda: mac.conv3x3_input_gradient(g, w, images, dx))
            t_error_direct = timeit(lambda: mac.conv3x3_planar_input_gradient(g, w, dx))
            rows.append({"d": d, "in_shape": layer.in_shape, "out_channels": layer.fan_out, "im2col_s": t_cols,
                         "direct_s": t_direct, "speedup": t_cols / t_direct,
                         "local_product_im2col_s": t_product_cols, "local_product_direct_s": t_product_direct,
                         "local_product_speedup": t_product_cols / t_product_direct,
                         "input_error_im2col_s": t_error_cols, "input_error_direct_s": t_error_direct,
                         "input_error_speedup": t_error_cols / t_error_direct,
                         "direct_chosen": compute.direct_convolution(layer)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (for a smoke run)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 8, 48])
    parser.add_argument("--paper-widths", type=int, nargs="+", default=[1, 2, 4, 8],
                        help="widths of the paper-mode section against the matmul limit (none: --paper-widths 0)")
    parser.add_argument("--only-paper", action="store_true", help="only the matmul rate and that section")
    parser.add_argument("--only-kernels", action="store_true",
                        help="only the convolution kernels at batch 100 (the widths of --widths up to 8)")
    parser.add_argument("--only-chips", action="store_true",
                        help="only every chip on NIST7x7, the device-write floor and the Fashion-MNIST MLP's chips")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.only_chips:
        report = {"nist7x7_chips": bench_chips(2000 if args.quick else 20_000, 1 if args.quick else 3)}
        report["device_write_floor"] = bench_device_write_floor(report["nist7x7_chips"])
        try:
            report["fashion_mlp_chips"] = bench_fashion_mlp_chips(500 if args.quick else 5000)
        except NeurosimError as error:
            report["fashion_mlp_chips"] = {"skipped": str(error)}
        print(json.dumps(report, indent=None if args.json else 1))
        return
    if args.only_kernels:
        if any(d > 8 for d in args.widths):
            parser.error("--only-kernels times the convolutions of widths up to 8 (--widths 1 2 4 8)")
        print(json.dumps({"conv_kernels_batch100": bench_conv_kernels(args.widths, rng)},
                         indent=None if args.json else 1))
        return
    report: dict = {"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                                "numpy": np.__version__}}
    rate = matmul_rate()
    report["matmul_gmacs_single_thread"] = rate / 1e9
    paper_widths = [d for d in args.paper_widths if d > 0]
    if paper_widths:
        try:
            report["paper_mode_vs_limit"] = bench_paper_limit(paper_widths, rate, args.quick)
        except NeurosimError as error:  # no Fashion-MNIST here: the section needs it
            print(f"bench.py: error: the paper-mode section needs Fashion-MNIST ({error}); set NEUROSIM_DATA, "
                  "or skip the section with --paper-widths 0", file=sys.stderr)
            sys.exit(2)
        report["matmul_gmacs_single_thread_after"] = matmul_rate() / 1e9  # the machine's drift over the section
        report["paper_update"] = bench_paper_update(paper_widths[0])
    if args.only_paper:
        print(json.dumps(report, indent=None if args.json else 1))
        if not args.json:
            print_paper_table(report)
        return
    t = time.perf_counter()
    compute.forward(paper_cnn(1, (28, 28, 1), 10, "relu", "identity"),
                    compute.init_weights(paper_cnn(1, (28, 28, 1), 10, "relu", "identity"), rng),
                    rng.random((1, 28, 28, 1)).astype(np.float32))
    report["first_call_s (compile or cache load)"] = time.perf_counter() - t
    t = time.perf_counter()  # a NIST7x7 simulation built and its first compiled chip-mode cycle (the MLP's kernels)
    Simulation(load_config(REPO / "chips/ideal.yaml", REPO / "workloads/nist7x7.yaml", []), iterations=1).engine.run_until(1)
    report["first_chip_mode_cycle_s (compile or cache load)"] = time.perf_counter() - t
    report["engine_event_s"] = bench_engine(20_000 if args.quick else 200_000)
    report["conv_kernels_batch100"] = bench_conv_kernels([d for d in args.widths if d <= 8] or [1], rng)
    nets = {"nist7x7_mlp": mlp((49,), (16,), 4, "relu", "identity")}
    for d in args.widths:
        nets[f"paper_cnn_d{d}"] = paper_cnn(d, (28, 28, 1), 10, "tanh", "identity")  # workloads/fashion-cnn.yaml's
    for name, net in nets.items():
        report[name] = {"macs_per_sample": net.macs, **bench_forward(name, net, rng, args.quick)}
    n = 20000 if args.quick else 200000
    fwd = report["nist7x7_mlp"]
    for label, sets in {"chip_weight_tau1": [], "chip_node_tau1": ["mgd.perturbation=node"],
                        "chip_weight_tau1000": ["mgd.tau_theta=1000"],
                        "chip_node_tau1000": ["mgd.perturbation=node", "mgd.tau_theta=1000"]}.items():
        report["nist7x7_mlp"][label] = bench_iteration("workloads/nist7x7.yaml", sets, n, fwd, segments=10)
    report["nist7x7_chips"] = bench_chips(2000 if args.quick else 20_000, 1 if args.quick else 3)
    report["device_write_floor"] = bench_device_write_floor(report["nist7x7_chips"])
    try:
        report["fashion_mlp_chips"] = bench_fashion_mlp_chips(500 if args.quick else 5000)
    except NeurosimError as error:  # no Fashion-MNIST here: say so in the report, time the rest
        report["fashion_mlp_chips"] = {"skipped": str(error)}
    for d in args.widths:
        if d > 8 and args.quick:
            continue
        fwd = report[f"paper_cnn_d{d}"]
        base = [f"network.width={d}"]
        its = 3 if d >= 48 else 10
        for label, sets in {"paper_weight": [], "paper_node": ["mgd.perturbation=node"],
                            "chip_weight": ["mgd.mode=chip", "mgd.normalize=none"],
                            "chip_node": ["mgd.mode=chip", "mgd.perturbation=node", "mgd.normalize=none"],
                            # the sample and the weights held 100 cycles: one baseline and one update per 100
                            "chip_weight_held100": ["mgd.mode=chip", "mgd.normalize=none", "mgd.tau_x=100",
                                                    "mgd.tau_theta=100"],
                            "chip_node_held100": ["mgd.mode=chip", "mgd.perturbation=node", "mgd.normalize=none",
                                                  "mgd.tau_x=100", "mgd.tau_theta=100"]}.items():
            cycles = its * (1 if "paper" in label else 20)
            if "held100" in label:  # whole windows of 100 cycles: one baseline and one update in each
                cycles = max(200, 100 * round(cycles / 100))
            report[f"paper_cnn_d{d}"][label] = bench_iteration("workloads/fashion-cnn.yaml", base + sets, cycles,
                                                               fwd)
        straight = bench_straightforward_paper(nets[f"paper_cnn_d{d}"], rng)
        report[f"paper_cnn_d{d}"]["straightforward_paper_iteration_s"] = straight
        report[f"paper_cnn_d{d}"]["paper_weight"]["speedup_vs_straightforward"] = (
            straight / report[f"paper_cnn_d{d}"]["paper_weight"]["iteration_s"])
    print(json.dumps(report, indent=None if args.json else 1))
    if not args.json and paper_widths:
        print_paper_table(report)


def print_paper_table(report: dict) -> None:
    print(f"\npaper mode against the limit ({report['matmul_gmacs_single_thread']:.1f} GMAC/s before, "
          f"{report['matmul_gmacs_single_thread_after']:.1f} after):")
    print("| d | method | iteration | minimum-MAC time | % of limit |\n| --- | --- | --- | --- | --- |")
    for row in report["paper_mode_vs_limit"]:
        print(f"| {row['d']} | {row['method']} | {row['iteration_s'] * 1e3:.2f} ms | {row['min_mac_s'] * 1e3:.2f} ms "
              f"| {row['percent_of_limit']:.1f}% |")


if __name__ == "__main__":
    main()
