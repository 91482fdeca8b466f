"""The gradient-estimation study (Fig. 3) on a network small enough for the test suite."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, TINY_PARITY

from neurosim.cli import main
from neurosim.studies.gradient import gradient_study

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
