"""The MGD estimate through the real engine: unbiased (paper Thm. 1) and with the norm of Eq. 21.

Chip mode is checked on both of its implementations: the compiled kernels (the default for fully connected
networks on ideal devices) and the Python procedure (everything else).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_PARITY, config_with
from reference_chipmode import twin_simulation

from neurosim.data import Dataset
from neurosim.mgd.fused import FusedChipMode
from neurosim.nn import compute, losses
from neurosim.simulation import Simulation

PATHS = ["compiled", "python"]


def flatten(pairs) -> np.ndarray:
    return np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in pairs]).astype(np.float64)


def capture_estimates(sim: Simulation) -> list[np.ndarray]:
    """Record every gradient estimate G handed to the optimizer (flattened over all layers)."""
    seen: list[np.ndarray] = []
    procedure = sim.procedure
    if isinstance(procedure, FusedChipMode):
        original_update = procedure.on_update

        def spy_fused(cycle: int) -> None:
            seen.append(procedure.estimate())
            original_update(cycle)

        procedure.on_update = spy_fused  # type: ignore[method-assign]
        sim.engine = sim.make_engine(coalesce=False)
        return seen
    original = procedure.write_update

    def spy(scales: list[float]) -> None:
        seen.append(flatten([(w * np.float32(s), b * np.float32(s))
                             for (w, b), s in zip(procedure.accumulators.values, scales)]))
        original(scales)

    procedure.write_update = spy  # type: ignore[method-assign]
    return seen


def current_sample(sim: Simulation) -> tuple[np.ndarray, np.ndarray]:
    procedure = sim.procedure
    if isinstance(procedure, FusedChipMode):
        index = int(procedure.label[0])
        return sim.x_train[index:index + 1], sim.dataset.y_train[index:index + 1]
    return procedure.x, procedure.y


def true_gradient(sim: Simulation, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    weights = sim.chip.weights()
    trace = compute.Trace()
    out = compute.forward(sim.net, weights, x, trace=trace)
    grads = compute.backward(sim.net, weights, trace, losses.cost_gradient(sim.config.workload.loss.kind, out, y))
    return flatten(grads)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def assert_same_scale(estimate: np.ndarray, grad: np.ndarray) -> None:
    """The amplitude, not only the direction: the estimate's component along the gradient has the gradient's
    norm (the projection is unbiased; the norm of a noisy mean is inflated by its variance)."""
    assert estimate @ grad / np.linalg.norm(grad) == pytest.approx(np.linalg.norm(grad), rel=0.05)


def fixed_sample_sim(*sets: str, cycles: int, path: str) -> Simulation:
    """Weights frozen (η = 0) and one sample held for the whole run (τx longer than the run)."""
    config = config_with(*TINY_PARITY, "mgd.learning_rate=0", f"mgd.tau_x={cycles + 1}",
                         "mgd.amplitude=0.001", *sets)
    sim = Simulation(config, iterations=cycles) if path == "compiled" else twin_simulation(config, iterations=cycles)
    assert isinstance(sim.procedure, FusedChipMode) == (path == "compiled")
    return sim


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("perturbation", ["weight", "node"])
@pytest.mark.parametrize("baseline", ["unperturbed", "antithetic"])
def test_chip_mode_estimate_is_unbiased(perturbation: str, baseline: str, path: str) -> None:
    cycles = 12000
    sim = fixed_sample_sim(f"mgd.perturbation={perturbation}", f"mgd.baseline={baseline}",
                           f"mgd.tau_theta={cycles}", cycles=cycles, path=path)
    estimates = capture_estimates(sim)
    sim.engine.run_until(cycles)
    assert len(estimates) == 1
    grad = true_gradient(sim, *current_sample(sim))
    assert cosine(estimates[0], grad) >= 0.99
    assert_same_scale(estimates[0], grad)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("tau_theta", [1, 4])
def test_squared_norm_follows_eq21(tau_theta: int, path: str) -> None:
    """E||G||^2 = (1 + (K-1)/τθ) ||∇C||^2 for Bernoulli ±δ weight perturbation, within sampling error."""
    updates = 3000
    sim = fixed_sample_sim("mgd.perturbation=weight", "mgd.baseline=antithetic", f"mgd.tau_theta={tau_theta}",
                           cycles=updates * tau_theta, path=path)
    estimates = capture_estimates(sim)
    sim.engine.run_until(updates * tau_theta)
    grad = true_gradient(sim, *current_sample(sim))
    k_params = sim.net.parameters
    squared = np.array([e @ e for e in estimates])
    predicted = (1 + (k_params - 1) / tau_theta) * (grad @ grad)
    standard_error = squared.std(ddof=1) / np.sqrt(len(squared))
    assert abs(squared.mean() - predicted) < 4 * standard_error + 1e-3 * predicted
    # and the formula is not met by accident: the wrong τθ would be far off
    wrong = (1 + (k_params - 1) / (tau_theta * 4)) * (grad @ grad)
    assert abs(squared.mean() - wrong) > 4 * standard_error


@pytest.mark.parametrize("perturbation", ["weight", "node"])
def test_paper_mode_estimate_points_along_the_gradient(perturbation: str) -> None:
    """Layer by layer with a mini-batch: Γ-normalised, so compare directions per layer."""
    iterations = 16000
    config = config_with(*TINY_PARITY, "mgd.mode=paper", f"mgd.perturbation={perturbation}",
                         "mgd.learning_rate=0", "mgd.batch_size=16", "mgd.amplitude=0.001",
                         f"mgd.tau_theta={iterations}", "mgd.normalize=none")
    sim = Simulation(config, iterations=iterations)
    estimates = capture_estimates(sim)
    sim.engine.run_until(iterations)
    # batch 16 of the 16-pattern parity table: every iteration sees the whole table, in a new order
    grad = true_gradient(sim, sim.x_train, sim.dataset.y_train)
    assert cosine(estimates[0], grad) >= 0.99
    assert_same_scale(estimates[0], grad)


def blobs_on_black(n: int = 64, seed: int = 0) -> Dataset:
    """8x8 images, black but for one bright 3x3 blob; the class says which half holds it. The black
    background makes most max-pool windows tie exactly, as Fashion-MNIST's does."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, 8, 8), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    for i in range(n):
        r, c = rng.integers(0, 6, size=2)
        x[i, 0, r:r + 3, c:c + 3] = rng.uniform(0.5, 1.0, size=(3, 3))
        y[i] = int(c >= 3)
    return Dataset("blobs", x, y, x.copy(), y.copy(), ("left", "right"), (1, 8, 8))


def per_layer_cosines(sim: Simulation, estimate: np.ndarray, grad: np.ndarray) -> dict[str, float]:
    bounds = np.cumsum([0] + [layer.parameters for layer in sim.net.layers])
    return {layer.name: cosine(estimate[a:b], grad[a:b])
            for layer, a, b in zip(sim.net.layers, bounds[:-1], bounds[1:])}


def conv_node_estimate(mode: str, init: str, pool_selection: str) -> dict[str, float]:
    """Per-layer cosines of node perturbation's estimate with backprop's gradient on the paper's CNN over
    blobs on black, at frozen weights and held samples. The Walsh code sums over one whole period
    (128 iterations per layer in paper mode, 256 cycles for the whole network in chip mode), where its
    perturbations are exactly orthogonal: the estimate is then exact for a linear response, free of the
    sampling noise of random signs, so what is left is bias."""
    steps = 128 if mode == "paper" else 256
    sets = ["mgd.perturbation=node", "mgd.code=walsh", "mgd.learning_rate=0", f"mgd.tau_theta={steps}",
            f"mgd.tau_x={steps + 1}", "mgd.normalize=none", f"network.init={init}", "mgd.lr_hold_iterations=0",
            "mgd.amplitude=0.001", "train.eval_schedule=interval", f"network.pool_selection={pool_selection}",
            f"mgd.mode={mode}"]
    if mode == "paper":
        sets.append("mgd.batch_size=4")
    config = config_with(*sets, chip="chips/ideal.yaml", workload="workloads/fashion-cnn.yaml")
    sim = Simulation(config, iterations=steps, dataset=blobs_on_black(), seed=3)
    estimates = capture_estimates(sim)
    sim.engine.run_until(steps)
    assert len(estimates) == 1
    x, y = sim.procedure.batch if mode == "paper" else current_sample(sim)
    return per_layer_cosines(sim, estimates[0], true_gradient(sim, x, y))


@pytest.mark.parametrize("init", ["glorot", "auto_bias"])
@pytest.mark.parametrize("mode", ["paper", "chip"])
def test_node_perturbation_is_unbiased_through_tied_max_pools(mode: str, init: str) -> None:
    """Every layer's estimate points along backprop's gradient (cos >= 0.99), although the black background
    ties most max-pool windows exactly: the perturbed inferences keep the unperturbed winners."""
    cosines = conv_node_estimate(mode, init, "held")
    assert min(cosines.values()) >= 0.99, cosines


@pytest.mark.parametrize("mode", ["paper", "chip"])
def test_live_max_pools_bias_node_perturbation_at_ties(mode: str) -> None:
    """Compared afresh, the tied inputs of a window each see max(θ) of it: with zero biases, the biases of
    the first convolutions are misled (measured: cos 0.45-0.53 for conv1), which the held pools mend."""
    cosines = conv_node_estimate(mode, "glorot", "live")
    assert cosines["conv1"] < 0.9, cosines
