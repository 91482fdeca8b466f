"""The gradient-estimation study (Fig. 3) on a network small enough for the test suite."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO, TINY_PARITY

from neurosim.cli import main
from neurosim.studies.gradient import gradient_study, study_config

# one sample per iteration: node perturbation then has 8 perturbed elements against 44 weights
PAPER_PARITY = [*TINY_PARITY, "mgd.mode=paper", "mgd.batch_size=1", "mgd.amplitude=0.001"]


def test_estimate_aligns_and_node_perturbation_is_faster_on_a_dense_network() -> None:
    kw = dict(sets=PAPER_PARITY, threshold=0.95, seeds=3, iterations=20000)
    weight = gradient_study(str(REPO / "chips/ideal.yaml"), str(REPO / "workloads/nist7x7.yaml"),
                            perturbation="weight", **kw)
    node = gradient_study(str(REPO / "chips/ideal.yaml"), str(REPO / "workloads/nist7x7.yaml"),
                          perturbation="node", **kw)
    assert None not in weight["iterations_to_threshold"] and None not in node["iterations_to_threshold"]
    # K = 44 weights against 8 nodes: node perturbation needs fewer iterations (the paper's N vs sqrt(N))
    assert node["median_iterations"] < weight["median_iterations"]
    for curve in weight["curves"] + node["curves"]:
        assert curve["cosine"][-1] >= 0.95
        assert curve["norm_ratio"][-1] == pytest.approx(1.0, abs=0.35)  # amplitude too, within the noise left


def test_study_command_json(capsys: pytest.CaptureFixture) -> None:
    args = ["study", "gradient", str(REPO / "chips/ideal.yaml"), str(REPO / "workloads/nist7x7.yaml"),
            "--perturbation", "node", "--seeds", "2", "--iterations", "5000", "--json"]
    for s in PAPER_PARITY:
        args += ["--set", s]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["iterations_to_threshold"]) == 2 and out["median_iterations"] > 0
    assert out["curves"][0]["iteration"][-1] == out["iterations_to_threshold"][0]  # stops at the threshold


@pytest.mark.parametrize("node_batch", ["shared", "independent"])
def test_node_perturbation_over_a_mini_batch_estimates_the_batch_gradient(node_batch: str) -> None:
    """Shared (one sign per node for the batch, each sample's own ΔC) and independent (a sign per sample
    and node) node perturbation both converge on the batch gradient, direction and amplitude."""
    sets = [*TINY_PARITY, "mgd.mode=paper", "mgd.batch_size=8", "mgd.amplitude=0.001",
            f"mgd.node_batch={node_batch}"]
    out = gradient_study(str(REPO / "chips/ideal.yaml"), str(REPO / "workloads/nist7x7.yaml"),
                         perturbation="node", sets=sets, threshold=0.97, seeds=2, iterations=20000)
    assert None not in out["iterations_to_threshold"]
    for curve in out["curves"]:
        assert curve["norm_ratio"][-1] == pytest.approx(1.0, abs=0.35)


def test_shared_node_perturbation_needs_fewer_iterations_than_independent() -> None:
    """K = nodes against K = batch x nodes: the shared perturbation reaches the threshold sooner."""
    medians = {}
    for node_batch in ("shared", "independent"):
        sets = [*TINY_PARITY, "mgd.mode=paper", "mgd.batch_size=8", "mgd.amplitude=0.001",
                f"mgd.node_batch={node_batch}"]
        medians[node_batch] = gradient_study(str(REPO / "chips/ideal.yaml"), str(REPO / "workloads/nist7x7.yaml"),
                                             perturbation="node", sets=sets, threshold=0.95, seeds=3,
                                             iterations=20000)["median_iterations"]
    assert medians["shared"] < medians["independent"]


@pytest.mark.parametrize("code", ["walsh", "sinusoidal", "one_at_a_time"])
def test_code_values_are_orthogonal_with_the_stated_power_over_a_period(code: str) -> None:
    from neurosim.mgd.perturbations import CODES
    k = 11
    period = {"walsh": 16, "sinusoidal": 2 * k + 2, "one_at_a_time": k}[code]
    values = np.array([CODES[code].values(0, k, t, k) for t in range(period)], dtype=np.float64)
    np.testing.assert_allclose(values.T @ values / period, CODES[code].power(k) * np.eye(k), atol=1e-6)


def _code_twin(code: str, index: np.ndarray, step: int, k: int) -> np.ndarray:
    """The codes' definitions in numpy: the twin of neurosim.kernels.codes."""
    if code == "walsh":
        rows = (index + 1).astype(np.uint64) & np.uint64(step % (1 << int(k).bit_length()))
        return np.where(np.bitwise_count(rows) % 2 == 0, 1.0, -1.0).astype(np.float32)
    if code == "sinusoidal":
        period = 2 * k + 2
        return (np.sqrt(2.0) * np.cos(2.0 * np.pi * (index + 1).astype(np.float64) * (step % period) / period)
                ).astype(np.float32)
    return (index == step % k).astype(np.float32)


@pytest.mark.parametrize("code", ["walsh", "sinusoidal", "one_at_a_time"])
def test_compiled_code_values_match_their_numpy_twin(code: str) -> None:
    from neurosim.mgd.perturbations import CODES
    for k, start, n in ((11, 0, 11), (868, 100, 500), (70_000, 65_000, 5_000)):
        for step in (0, 1, 7, 4093, 10 ** 7 + 3):
            expected = _code_twin(code, np.arange(start, start + n), step, k)
            np.testing.assert_array_equal(CODES[code].values(start, n, step, k), expected)


def test_every_code_the_workload_offers_is_a_registered_type() -> None:
    import dataclasses

    from neurosim.mgd.perturbations import CODES
    from neurosim.spec.workload import MGDSpec
    field = next(f for f in dataclasses.fields(MGDSpec) if f.name == "code")
    offered = {name for name in ("bernoulli", "walsh", "sinusoidal", "one_at_a_time", "hadamard")
               if _accepts(field, name)}
    assert offered == set(CODES)


def _accepts(field, value: str) -> bool:  # type: ignore[no-untyped-def]
    from neurosim.errors import ConfigError
    try:
        field.metadata["parse"](value, "<test>", "mgd.code")
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("mode", ["chip", "paper"])
@pytest.mark.parametrize("perturbation", ["weight", "node"])
def test_deterministic_codes_find_the_gradient_within_about_one_period(mode: str, perturbation: str) -> None:
    """Walsh, sinusoidal and one-at-a-time codes are orthogonal over ~K steps: with the sample held the
    estimate is the gradient (direction and amplitude) after about one period; random signs are not yet."""
    sets = [*TINY_PARITY, f"mgd.mode={mode}", "mgd.amplitude=0.001", *(["mgd.batch_size=2"] if mode == "paper" else [])]
    ideal, parity = str(REPO / "chips/ideal.yaml"), str(REPO / "workloads/nist7x7.yaml")
    config = study_config(ideal, parity, sets, perturbation, 1)
    from neurosim.simulation import Simulation
    net = Simulation(config).net
    size = net.parameters if perturbation == "weight" else net.nodes
    period = 2 * size + 2  # the longest period of the three codes (sinusoidal)
    for code in ("walsh", "sinusoidal", "one_at_a_time"):
        out = gradient_study(ideal, parity, perturbation=perturbation, sets=[*sets, f"mgd.code={code}"],
                             threshold=0.99, iterations=period, stop_at_threshold=False)
        curve = out["curves"][0]
        assert out["iterations_to_threshold"][0] is not None, code
        assert curve["norm_ratio"][-1] == pytest.approx(1.0, abs=0.1), code
    bernoulli = gradient_study(ideal, parity, perturbation=perturbation, sets=sets, threshold=0.99,
                               iterations=size)
    assert bernoulli["iterations_to_threshold"][0] is None  # ~1/sqrt(1 + K/t): about 0.7 at t = K


def test_a_deterministic_code_cannot_perturb_samples_independently() -> None:
    from neurosim.errors import ConfigError
    from neurosim.model import resolve_timing
    from neurosim.spec import load_config
    config = load_config(str(REPO / "chips/ideal.yaml"), str(REPO / "workloads/nist7x7.yaml"),
                         [*TINY_PARITY, "mgd.mode=paper", "mgd.perturbation=node", "mgd.node_batch=independent",
                          "mgd.code=walsh"])
    with pytest.raises(ConfigError, match="mgd.code"):
        resolve_timing(config)
