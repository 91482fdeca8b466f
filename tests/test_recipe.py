"""The authors' recipe as options: Glorot initialisation, label smoothing, sampling with replacement, the
learning-rate hold in iterations, τx and τp in paper mode, and the paper's evaluation schedule."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_PARITY, config_with

from neurosim.errors import ConfigError
from neurosim.model import held_updates
from neurosim.mgd.procedures import PaperMode, SampleStream
from neurosim.nn import compute, losses
from neurosim.nn.shapes import paper_cnn
from neurosim.simulation import Simulation, next_evaluation


def test_glorot_bounds_count_the_kernel_and_biases_are_zero() -> None:
    net = paper_cnn(2, (28, 28, 1), 10, "tanh", "identity")
    weights = compute.init_weights(net, np.random.default_rng(0), "glorot")
    for layer, (w, b) in zip(net.layers, weights):
        taps = 9 if layer.kind == "conv3x3" else 1
        bound = np.sqrt(6.0 / (layer.fan_in + taps * layer.fan_out))   # conv: 9·C_in + 9·C_out
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.9 * bound            # uniform over the whole range, not a narrower one
        assert not b.any()


def smoothed_targets(y: np.ndarray, classes: int, alpha: float) -> np.ndarray:
    """The label-smoothed one-hot targets: 1 − α + α/K for the true class, α/K for the others."""
    target = np.full((len(y), classes), alpha / classes)
    target[np.arange(len(y)), y] += 1 - alpha
    return target


@pytest.mark.parametrize("kind", ["cross_entropy", "mse"])
def test_label_smoothing_cost_and_gradient(kind: str) -> None:
    rng = np.random.default_rng(1)
    out = rng.standard_normal((5, 4)).astype(np.float32)
    y = rng.integers(0, 4, 5)
    alpha = 0.1
    target = smoothed_targets(y, 4, alpha)
    z = out.astype(np.float64)
    if kind == "cross_entropy":
        logp = z - z.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        expected = -(target * logp).sum(axis=1)
    else:
        expected = ((z - target) ** 2).mean(axis=1)
    assert np.allclose(losses.per_sample_cost(kind, out, y, alpha), expected, rtol=1e-12)
    assert losses.cost(kind, out[:1], y[:1], alpha) == pytest.approx(expected[0], rel=1e-12)
    grad = losses.cost_gradient(kind, out, y, alpha).astype(np.float64)
    eps = 1e-4
    for i, j in [(0, 0), (2, 3), (4, 1)]:
        up, down = z.copy(), z.copy()
        up[i, j] += eps
        down[i, j] -= eps
        numeric = (losses.per_sample_cost(kind, up, y, alpha).mean()
                   - losses.per_sample_cost(kind, down, y, alpha).mean()) / (2 * eps)
        assert grad[i, j] == pytest.approx(numeric, rel=1e-3, abs=1e-7)
    # and smoothing changes the cost: the test is not passing through the unsmoothed formula
    assert not np.allclose(losses.per_sample_cost(kind, out, y, 0.0), expected)


def test_mse_summed_over_the_classes_is_the_authors_f_mse() -> None:
    """``loss.reduction: sum``: ρ = Σ_k (z_k − t_k)², Flux's mse with agg = sum over dims 1 as run_mgd.jl's
    f_mse writes it, classes times the mean; its gradient follows; and it is refused for cross-entropy."""
    rng = np.random.default_rng(2)
    out = rng.standard_normal((6, 5)).astype(np.float32)
    y = rng.integers(0, 5, 6)
    alpha = 0.01
    target = smoothed_targets(y, 5, alpha)
    expected = ((out.astype(np.float64) - target) ** 2).sum(axis=1)
    summed = losses.per_sample_cost("mse", out, y, alpha, "sum")
    assert np.allclose(summed, expected, rtol=1e-12)
    assert np.allclose(summed, 5 * losses.per_sample_cost("mse", out, y, alpha), rtol=1e-12)
    assert losses.cost("mse", out, y, alpha, "sum") == pytest.approx(expected.mean(), rel=1e-12)
    grad = losses.cost_gradient("mse", out, y, alpha, "sum").astype(np.float64)
    z, eps = out.astype(np.float64), 1e-4
    for i, j in [(0, 0), (3, 4), (5, 2)]:
        up, down = z.copy(), z.copy()
        up[i, j] += eps
        down[i, j] -= eps
        numeric = (losses.per_sample_cost("mse", up, y, alpha, "sum").mean()
                   - losses.per_sample_cost("mse", down, y, alpha, "sum").mean()) / (2 * eps)
        assert grad[i, j] == pytest.approx(numeric, rel=1e-4, abs=1e-8)
    assert config_with("loss.kind=mse", "loss.reduction=sum").workload.loss.reduction == "sum"
    with pytest.raises(ConfigError, match="loss.reduction"):
        config_with("loss.reduction=sum")          # nist7x7's cross-entropy: already a sum over the classes
    with pytest.raises(ConfigError, match="loss.reduction"):
        config_with("loss.kind=mse", "loss.reduction=max")
    with pytest.raises(ValueError, match="reduction"):
        losses.cost_gradient("cross_entropy", out, y, alpha, "sum")


def test_loss_shorthand_and_section_are_the_same() -> None:
    short = config_with("loss=mse").workload.loss
    section = config_with("loss={kind: mse, label_smoothing: 0}").workload.loss
    assert short == section and short.kind == "mse"
    with pytest.raises(ConfigError, match="loss.label_smoothing"):
        config_with("loss={kind: cross_entropy, label_smoothing: 1.0}")


def test_a_key_can_be_set_below_a_loss_written_in_its_shorthand(tmp_path) -> None:
    """``--set loss.label_smoothing=...`` on a file that writes ``loss: cross_entropy`` (or after ``--set
    loss=mse``) sets the key of the section the shorthand stands for, instead of refusing the section."""
    from neurosim.spec import load_workload
    from neurosim.spec.loader import Override

    path = tmp_path / "w.yaml"
    path.write_text("dataset: {name: nist7x7}\nnetwork: {kind: mlp}\nloss: cross_entropy\n")
    loss = load_workload(path, [Override.parse("loss.label_smoothing=0.1")]).loss
    assert (loss.kind, loss.label_smoothing) == ("cross_entropy", 0.1)
    loss = config_with("loss=mse", "loss.label_smoothing=0.05").workload.loss
    assert (loss.kind, loss.label_smoothing) == ("mse", 0.05)
    with pytest.raises(ConfigError, match="name"):  # a plain value without a shorthand is still no section
        config_with("name.x=1")


def test_sampling_with_replacement_repeats_and_is_the_same_in_any_chunks() -> None:
    x = np.zeros((10, 1), np.float32)
    y = np.arange(10)
    whole = SampleStream(x, y, np.random.default_rng(5), replacement=True).take_indices(300)
    one_by_one = SampleStream(x, y, np.random.default_rng(5), replacement=True)
    pieces = np.concatenate([one_by_one.take_indices(n) for n in (1, 7, 92, 200)])
    assert np.array_equal(whole, pieces)
    assert whole.min() >= 0 and whole.max() <= 9
    assert len(set(whole[:10].tolist())) < 10 or len(set(whole[10:20].tolist())) < 10  # repeats within an epoch
    epochs = SampleStream(x, y, np.random.default_rng(5)).take_indices(10)
    assert sorted(epochs.tolist()) == list(range(10))


@pytest.mark.parametrize("hold, tau_theta, expected", [(1000, 1, 1000), (1000, 1000, 1), (1000, 300, 3),
                                                       (999, 1000, 0)])
def test_learning_rate_hold_in_iterations(hold: int, tau_theta: int, expected: int) -> None:
    mgd = config_with(f"mgd.lr_hold_iterations={hold}").workload.mgd
    assert held_updates(mgd, tau_theta) == expected


def test_learning_rate_hold_by_updates_and_iterations_is_refused() -> None:
    with pytest.raises(ConfigError, match="mgd.lr_hold_iterations"):
        config_with("mgd.lr_hold_updates=5", "mgd.lr_hold_iterations=10")


def test_held_iterations_leave_the_weights_alone_and_then_train() -> None:
    config = config_with(*TINY_PARITY, "mgd.mode=paper", "mgd.batch_size=4", "mgd.lr_hold_iterations=30",
                         "mgd.learning_rate=0.5", "train.eval_interval=10")
    sim = Simulation(config, iterations=60)
    before = [w.copy() for w, _ in sim.chip.weights()]
    sim.engine.run_until(30)
    assert all(np.array_equal(a, w) for a, (w, _) in zip(before, sim.chip.weights()))
    sim.engine.run_until(31)
    assert not all(np.array_equal(a, w) for a, (w, _) in zip(before, sim.chip.weights()))


def test_paper_mode_holds_the_batch_for_tau_x_and_the_signs_for_tau_p() -> None:
    config = config_with(*TINY_PARITY, "mgd.mode=paper", "mgd.batch_size=4", "mgd.tau_x=3", "mgd.tau_p=2",
                         "train.sampling=replacement", "mgd.learning_rate=0")
    sim = Simulation(config, iterations=12)
    procedure = sim.procedure
    assert isinstance(procedure, PaperMode)
    batches, signs = [], []
    original = procedure.draw_layers

    def spy(step: int, batch: int):  # type: ignore[no-untyped-def]
        signs.append(step)
        return original(step, batch)

    procedure.draw_layers = spy  # type: ignore[method-assign]
    for n in range(1, 7):
        sim.engine.run_until(n)
        batches.append(procedure.batch[0].copy())
    assert signs == [0, 0, 1, 1, 2, 2]
    assert np.array_equal(batches[0], batches[2]) and np.array_equal(batches[3], batches[5])


def test_paper_evaluation_schedule() -> None:
    train = config_with("train.eval_schedule=paper", "train.eval_interval=100").workload.train
    assert [next_evaluation(n, train) for n in (0, 1, 500, 998, 999, 1000, 1050)] == \
        [1, 2, 501, 999, 1000, 1100, 1100]
    plain = config_with("train.eval_interval=100").workload.train
    assert next_evaluation(0, plain) == 100


def test_unchanged_weights_are_not_evaluated_again() -> None:
    config = config_with(*TINY_PARITY)
    sim = Simulation(config, iterations=10)
    first = sim.evaluate()
    calls = []
    original = compute.forward

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(*args, **kwargs)

    compute.forward = counting
    try:
        assert sim.evaluate() == first and not calls
        sim.chip.write([(np.full_like(w, 0.05), np.zeros_like(b)) for w, b in sim.chip.weights()], 1e-6)
        sim.evaluate()
        assert calls
    finally:
        compute.forward = original


def test_the_recipe_workload_line_by_line() -> None:
    """workloads/fashion-cnn.yaml is the authors' recipe (../shared/paper/reference-recipe.md)."""
    w = config_with(workload="workloads/fashion-cnn.yaml").workload
    assert (w.network.kind, w.network.activation, w.network.output_activation, w.network.init) == \
        ("paper_cnn", "tanh", "identity", "glorot")
    assert (w.loss.kind, w.loss.label_smoothing) == ("cross_entropy", 0.01)
    assert (w.mgd.mode, w.mgd.batch_size, w.mgd.amplitude, w.mgd.normalize) == ("paper", 100, 0.01, "gamma")
    assert (w.mgd.tau_p, w.mgd.lr_hold_iterations) == (1, 1000)
    assert (w.train.sampling, w.train.eval_schedule, w.train.eval_interval) == ("replacement", "paper", 100)
    assert w.train.eval_size >= 10000


def test_paper_mode_gamma_counts_the_distinct_perturbations_of_an_update() -> None:
    """τp applies in paper mode: with τp = τx = τθ = 4 an update sums one perturbation of one batch four
    times, which is the estimate of a single iteration (τθ = 1). The Γ normalisation must count the one
    distinct perturbation (as chip mode does), not τθ = 4 of them: the first update is then the same."""
    base = (*TINY_PARITY, "mgd.mode=paper", "mgd.batch_size=4", "mgd.normalize=gamma", "train.eval_interval=4")
    weights = []
    for sets, iterations in ((("mgd.tau_p=4", "mgd.tau_x=4", "mgd.tau_theta=4"), 4),
                             (("mgd.tau_p=1", "mgd.tau_x=1", "mgd.tau_theta=1"), 1)):
        sim = Simulation(config_with(*base, *sets), iterations=iterations)
        before = [a.copy() for pair in sim.chip.weights() for a in pair]
        sim.run()
        weights.append([a - b for a, b in zip((a for pair in sim.chip.weights() for a in pair), before)])
    held, single = weights
    assert any(np.abs(d).max() > 0 for d in single)
    for a, b in zip(held, single):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


def test_a_single_samples_smoothed_cost_is_the_batch_formulas_float() -> None:
    """Chip mode measures one sample per cycle through a shorter path: with label smoothing too, it gives
    the very float of the batch formula."""
    rng = np.random.default_rng(3)
    for _ in range(500):
        out = (rng.standard_normal((1, 10)) * 3).astype(np.float32)
        y = rng.integers(0, 10, 1)
        assert losses.cost("cross_entropy", out, y, 0.01) == float(losses.per_sample_cost("cross_entropy", out, y, 0.01)[0])


@pytest.mark.parametrize(("k", "n"), [(1, 1), (20, 1), (584, 1), (584, 1000), (7318, 37)])
def test_gamma_is_the_authors_normalisation(k: int, n: int) -> None:
    """Paper mode's estimate of a layer is S·sqrt(K)/(τθ·norm_mag)·gamma_scale (unbiased before Γ); the
    script integrates S/norm_mag/sqrt(1/K + 1/n − 1/(K·n)) and divides by τθ. The two must agree: one
    perturbation per update leaves the gradient shrunk by sqrt(K), many leave it unbiased."""
    from neurosim.mgd.perturbations import gamma_scale

    ours = np.sqrt(k) * gamma_scale(k, n)
    script = 1.0 / np.sqrt(1.0 / k + 1.0 / n - 1.0 / (k * n))
    assert ours == pytest.approx(script, rel=1e-12)
