"""Benchmark against PyTorch: the paper CNN and a straightforward paper-mode MGD iteration in plain PyTorch,
timed in the same process and run as neurosim's forward pass and paper-mode iteration (issue 5).

    NEUROSIM_DATA=... python tools/bench_torch.py [--widths 1 8 48] [--json]

PyTorch is needed (``pip install torch``) but is not a dependency of neurosim. Single thread on both sides
(``torch.set_num_threads(1)``; neurosim pins numba and BLAS to one thread on import).

The PyTorch side is what one would write first: NCHW, nn.Conv2d 3x3 padding 1 + ReLU, nn.MaxPool2d(2) after
conv2/4/6, dense 36d -> 4d -> 4d -> 10. One MGD iteration (batch 100, weight perturbation, Algorithm 1 done
straightforwardly) is, under torch.no_grad(), for each of the nine layers: a full baseline forward pass, a
full forward pass with that layer's weight and bias shifted by ±δ/sqrt(K_l) (fresh random signs), the
estimate ΔC·s/(δ/sqrt(K_l)) for that layer; then an SGD step on all layers. Ours is
``tools/bench.py``'s ``bench_iteration`` on chips/ideal.yaml + workloads/fashion-cnn.yaml (one shared
baseline, each layer perturbed reusing the unperturbed activations below it, Γ normalisation, SGD step).
A width above 8 is timed only if one PyTorch iteration there, extrapolated by MACs from d=8 and then
measured once, takes under ``--max-torch-iteration`` seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AMPLITUDE = 0.01      # δ of workloads/fashion-cnn.yaml
LEARNING_RATE = 0.3
BATCH = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 8, 48])
    parser.add_argument("--max-torch-iteration", type=float, default=20.0,
                        help="skip a width above 8 whose single PyTorch iteration takes longer (seconds)")
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("bench_torch.py needs PyTorch, which is not a neurosim dependency: pip install torch", file=sys.stderr)
        raise SystemExit(2)
    from torch import nn

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tools"))
    import numpy as np
    from bench import bench_iteration, timeit

    from neurosim.nn import compute
    from neurosim.nn.shapes import paper_cnn

    torch.set_num_threads(1)
    torch.manual_seed(0)

    def torch_cnn(d: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        c = 1
        for width, pool in ((d, False), (d, True), (2 * d, False), (2 * d, True), (4 * d, False), (4 * d, True)):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(2))
            c = width
        layers += [nn.Flatten(), nn.Linear(36 * d, 4 * d), nn.ReLU(), nn.Linear(4 * d, 4 * d), nn.ReLU(),
                   nn.Linear(4 * d, 10)]
        return nn.Sequential(*layers).eval()

    def torch_iteration_fn(model: nn.Sequential, x, y):
        """One straightforward paper-mode MGD iteration (see the module docstring)."""
        mac_layers = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
        loss = nn.functional.cross_entropy

        def iteration() -> None:
            with torch.no_grad():
                grads = []
                for layer in mac_layers:
                    params = (layer.weight, layer.bias)
                    k = sum(p.numel() for p in params)
                    amplitude = AMPLITUDE / k ** 0.5
                    c0 = loss(model(x), y)
                    signs = [torch.randint(0, 2, p.shape, dtype=torch.float32) * 2 - 1 for p in params]
                    for p, s in zip(params, signs):
                        p.add_(s, alpha=amplitude)
                    delta_c = loss(model(x), y) - c0
                    for p, s in zip(params, signs):
                        p.sub_(s, alpha=amplitude)
                    grads.append([s * (delta_c / amplitude) for s in signs])
                for layer, g in zip(mac_layers, grads):
                    layer.weight.sub_(g[0], alpha=LEARNING_RATE)
                    layer.bias.sub_(g[1], alpha=LEARNING_RATE)

        return iteration

    rng = np.random.default_rng(0)
    report: dict = {"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                                "numpy": np.__version__, "torch": torch.__version__,
                                "torch_threads": torch.get_num_threads()},
                    "batch": BATCH}
    t = time.perf_counter()
    net1 = paper_cnn(1, (28, 28, 1), 10, "relu", "identity")
    compute.forward(net1, compute.init_weights(net1, rng), rng.random((1, 28, 28, 1)).astype(np.float32))
    report["first_call_s (compile or cache load)"] = time.perf_counter() - t
    torch_iter_at: dict[int, float] = {}
    start = time.perf_counter()
    for d in args.widths:
        net = paper_cnn(d, (28, 28, 1), 10, "relu", "identity")
        model = torch_cnn(d)
        x100 = torch.rand(BATCH, 1, 28, 28)
        y100 = torch.randint(0, 10, (BATCH,))
        entry: dict = {"macs_per_sample": net.macs,
                       "parameters": net.parameters,
                       "torch_parameters": sum(p.numel() for p in model.parameters())}
        iteration = torch_iteration_fn(model, x100, y100)
        if d > 8:
            known = [w for w in torch_iter_at if w <= 8]
            if known:
                w0 = max(known)
                guess = torch_iter_at[w0] * net.macs / paper_cnn(w0, (28, 28, 1), 10, "relu", "identity").macs
                entry["torch_iteration_extrapolated_s"] = guess
                if guess > 3 * args.max_torch_iteration:
                    entry["skipped"] = f"extrapolated PyTorch iteration {guess:.1f} s > 3 x {args.max_torch_iteration} s"
                    report[f"paper_cnn_d{d}"] = entry
                    continue
            t = time.perf_counter()
            iteration()
            once = time.perf_counter() - t
            entry["torch_single_iteration_s"] = once
            if once > args.max_torch_iteration:
                entry["skipped"] = f"one PyTorch iteration took {once:.1f} s > {args.max_torch_iteration} s"
                report[f"paper_cnn_d{d}"] = entry
                continue
        quick = d > 8
        with torch.no_grad():
            for batch in (1, BATCH):
                xt = x100[:batch].clone()
                entry[f"torch_forward_b{batch}_s"] = timeit(lambda model=model, xt=xt: model(xt), 0.1 if quick else 0.3, 2 if quick else 3)
        entry["torch_paper_iteration_s"] = timeit(iteration, 0.1 if quick else 0.5, 1 if quick else 3)
        torch_iter_at[d] = entry["torch_paper_iteration_s"]
        weights = compute.init_weights(net, rng)
        fwd: dict = {}
        for batch in (1, BATCH):
            xn = rng.random((batch, *net.input_shape)).astype(np.float32)
            fwd[f"forward_b{batch}_s"] = timeit(lambda net=net, weights=weights, xn=xn: compute.forward(net, weights, xn),
                                                0.1 if quick else 0.3, 2 if quick else 3)
        entry.update({f"ours_{k}": v for k, v in fwd.items()})
        ours = bench_iteration("workloads/fashion-cnn.yaml", [f"network.width={d}"], 2 if quick else 10, fwd)
        entry["ours_paper_iteration_s"] = ours["iteration_s"]
        entry["ours_engine_path"] = ours["engine_path"]
        for key in ("forward_b1_s", "forward_b100_s"):
            entry[f"torch_over_ours_{key}"] = entry[f"torch_{key}"] / entry[f"ours_{key}"]
        entry["torch_over_ours_paper_iteration"] = entry["torch_paper_iteration_s"] / entry["ours_paper_iteration_s"]
        report[f"paper_cnn_d{d}"] = entry
    report["wall_time_s"] = time.perf_counter() - start
    print(json.dumps(report, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
