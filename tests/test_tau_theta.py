"""The τθ study (``neurosim study tau-theta``): end to end at a tiny scale, resumable, its recommendation
and the diagnosis of runs that do not learn."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import REPO, call_cli, config_with

from neurosim.results import TrainingSummary
from neurosim.studies.diagnosis import device_step_w, diagnose, near_chance_limit
from neurosim.studies.tau_theta import TauThetaStudy, recommend, run_study, write_histogram

CHIP, WORKLOAD = str(REPO / "chips/reference.yaml"), str(REPO / "workloads/nist7x7.yaml")


def tiny(**kw) -> TauThetaStudy:
    defaults = dict(tau_thetas=(1, 10), seeds=1, max_iterations=300, min_updates=0, eval_interval=100,
                    sets=("mgd.learning_rate=0.02",))
    return TauThetaStudy(CHIP, WORKLOAD, **{**defaults, **kw})


def test_study_end_to_end_and_a_rerun_redoes_nothing(tmp_path: Path) -> None:
    events: list[str] = []
    result = run_study(tiny(backprop=True), tmp_path / "runs", workers=1,
                       progress=lambda event, run, summary: events.append(event))
    assert events.count("done") == 4 and "reused" not in events      # 2 τθ x (weight, backprop) x 1 seed
    assert [(e["tau_theta"], e["method"]) for e in result["table"]] == [
        (1, "weight"), (1, "backprop"), (10, "weight"), (10, "backprop")]
    for row in result["runs"]:
        assert row["iterations"] <= 300
        hist = row["write_pulses_histogram"]
        assert sum(hist["devices"]) == row["devices"] and len(hist["edges"]) == len(hist["devices"]) + 1
        if row["reached_target"]:  # stopped at the target: the ledger is the training's to the target
            assert row["iterations"] == row["iterations_to_target"] == row["cycles_to_target"]
            assert row["energy_to_target_j"] == pytest.approx(sum(row["energy_to_target_by_component_j"].values()))
        assert row["curves"]["test_accuracy"][-1] == row["test_accuracy"]
    assert result["device_step"]["step_w"] is None                     # analog devices: no step
    assert result["recommendation"]["answer"]

    again: list[str] = []
    second = run_study(tiny(backprop=True), tmp_path / "runs", workers=1,
                       progress=lambda event, run, summary: again.append(event))
    assert again == ["reused"] * 4
    assert second["table"] == result["table"]


def test_study_command_json_plots_and_text(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["study", "tau-theta", CHIP, WORKLOAD, "--tau-theta", "1,10", "--seeds", "1", "--max-iterations",
            "300", "--min-updates", "0", "--eval-interval", "100", "--set", "mgd.learning_rate=0.02",
            "--out", tmp_path / "runs", "--workers", "1"]
    code, out, err = call_cli(capsys, *args, "--json", "--plot", tmp_path / "plots")
    assert code == 0, err
    result = json.loads(out)
    assert result["target_accuracy"] == 0.95 and len(result["runs"]) == 2
    for name in ("tau_theta_pareto.png", "tau_theta_energy.png", "tau_theta_accuracy.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000
    code, out, err = call_cli(capsys, *args)
    assert code == 0 and "answer:" in out and "τθ study" in out
    assert "done" not in err                                            # everything reused


def test_grid_axis_joins_the_study(tmp_path: Path) -> None:
    study = tiny(tau_thetas=(10,), sets=(), grid=(("mgd.learning_rate", (0.01, 0.02)),))
    result = run_study(study, tmp_path, workers=1)
    assert [e["settings"]["mgd.learning_rate"] for e in result["table"]] == [0.01, 0.02]
    assert all(r["run_id"].startswith("tau_theta=10_learning_rate=") for r in result["runs"])


def test_step_check_warns_when_updates_are_below_one_device_step(tmp_path: Path) -> None:
    study = TauThetaStudy(str(REPO / "chips/reram.yaml"), WORKLOAD, tau_thetas=(1,), seeds=1, max_iterations=200,
                          min_updates=0, eval_interval=100, sets=("mgd.learning_rate=1e-5",))
    result = run_study(study, tmp_path, workers=1)
    step = result["device_step"]
    assert step["step_w"] == pytest.approx(2 / 127)
    combo = step["combos"][0]
    assert combo["requested_over_step"] < 1 and combo["below_step_fraction"] > 0.9
    assert len(step["warnings"]) == 1 and "mgd.learning_rate=" in step["warnings"][0]
    proposed = float(step["warnings"][0].split("mgd.learning_rate=")[1].split()[0].rstrip(",;"))
    assert proposed * combo["requested_update_w"] / 1e-5 >= step["step_w"] * 0.999   # a step at least


ROW = {"method": "weight", "settings": {}, "seeds": 3, "reached": 3, "best_test_accuracy": 0.97,
       "failed_devices": 0, "energy_to_target_j": 1e-6}


def entry(tau: int, time: float | None, life: float | None, **kw) -> dict:
    return {**ROW, "tau_theta": tau, "settings": {"mgd.tau_theta": tau}, "time_to_target_s": time,
            "lifetime_trainings": life, **kw}


def test_recommendation_is_the_fastest_that_meets_the_lifetime() -> None:
    table = [entry(1, 1e-3, 50.0), entry(10, 2e-3, 5e3), entry(100, 9e-3, 1e5), entry(1000, None, 1e6),
             entry(10, 1e-4, 1e9, method="backprop")]                      # backprop is the floor, never chosen
    rec = recommend(table, lifetime=1000, target=0.95)
    assert rec["tau_theta"] == 10 and "τθ = 10" in rec["answer"]
    assert recommend(table, lifetime=1, target=0.95)["tau_theta"] == 1
    assert recommend(table, lifetime=1e5, target=0.95)["tau_theta"] == 100
    unlimited = recommend([entry(1, 1e-3, None)], lifetime=1e12, target=0.95)   # nothing written
    assert unlimited["tau_theta"] == 1 and "unlimited" in unlimited["answer"]


def test_no_recommendation_says_why() -> None:
    table = [entry(1, 1e-3, 0.3, failed_devices=868), entry(10, None, 40.0, best_test_accuracy=0.91),
             entry(100, None, 0.5, failed_devices=12, best_test_accuracy=0.6)]
    rec = recommend(table, lifetime=10, target=0.95, caps={1: 20000, 10: 20000, 100: 20000})
    assert rec["tau_theta"] is None
    assert [r["reason"] for r in rec["reasons"]] == ["wore out first", "never reached target", "never reached target"]
    assert "survives 0.3 such trainings" in rec["answer"]
    assert "never reached 95% in 20000 iterations (best 91.0%)" in rec["answer"]
    assert "wore out: 12 devices failed" in rec["answer"]
    assert "Fastest to 95% regardless of lifetime: τθ = 1" in rec["answer"]
    assert "--min-updates" in rec["answer"] and "a larger τθ" in rec["answer"]


def test_write_histogram_in_decades() -> None:
    import numpy as np

    hist = write_histogram(np.array([0, 0, 1, 9, 10, 99, 100, 5000]))
    assert hist == {"edges": [0, 1, 10, 100, 1000, 10000], "devices": [2, 2, 2, 1, 1]}


# ---- the diagnosis ------------------------------------------------------------------------------------

# a run of 100 updates on NIST7x7 that learned; the fields the diagnosis does not read are left None
SUMMARY = dataclasses.replace(
    TrainingSummary(**{f.name: None for f in dataclasses.fields(TrainingSummary)}),
    test_accuracy=0.97, best_test_accuracy=0.97, devices=868, failed_devices=0, parameters=868,
    weight_writes_total=868 * 100, weight_writes_max_per_device=100, events={"updates": 100}, tau_theta=10)


def test_a_run_that_learned_has_no_warning() -> None:
    assert diagnose(SUMMARY, config_with(chip="chips/reram.yaml"), 4) == []


def test_near_chance_and_worn_out_devices_are_diagnosed() -> None:
    config = config_with(chip="chips/sonos.yaml")
    assert near_chance_limit(4) == pytest.approx(0.4375)
    worn = dataclasses.replace(SUMMARY, test_accuracy=0.26, failed_devices=868, weight_writes_max_per_device=100000)
    [warning] = diagnose(worn, config, 4)
    assert "did not learn" in warning.problem and "most devices failed" in warning.problem
    assert warning.causes[0].cause == "endurance exhausted" and "τθ" in warning.causes[0].advice
    assert warning.line().startswith("warning: ")


def test_sub_step_updates_and_a_learning_rate_beyond_the_range() -> None:
    config = config_with("mgd.learning_rate=0.005", chip="chips/fefet.yaml")   # 32 levels: Δw = 2/31
    idle = dataclasses.replace(SUMMARY, test_accuracy=0.25, weight_writes_total=868 * 2)  # 0.02 pulses per weight-update
    [warning] = diagnose(idle, config, 4)
    cause = warning.causes[0]
    assert cause.cause == "updates below one device step" and "mgd.learning_rate=" in cause.advice
    assert device_step_w(config) == pytest.approx(2 / 31)
    measured = diagnose(idle, config, 4, requested_update_w=0.5)               # a quarter of the range
    assert measured[0].causes[0].cause == "learning rate beyond the weight range"
    pinned = diagnose(idle, config_with(), 4, at_bounds=0.8)                   # analog: from the weights
    assert pinned[0].causes[0].cause == "learning rate beyond the weight range"


def test_a_noisy_estimate_at_tau_theta_one() -> None:
    noisy = dataclasses.replace(SUMMARY, test_accuracy=0.3, tau_theta=1)
    causes = [c.cause for c in diagnose(noisy, config_with(), 4)[0].causes]
    assert causes == ["a noisy gradient estimate"]


def test_train_warns_about_a_real_run_that_wears_out(capsys: pytest.CaptureFixture) -> None:
    code, out, err = call_cli(capsys, "train", REPO / "chips/sonos.yaml", WORKLOAD, "--iterations", "300",
                              "--set", "chip.weights.device.endurance_cycles=20", "--set", "train.eval_interval=100",
                              "--json", "--quiet")
    assert code == 0
    summary = json.loads(out)
    assert summary["failed_devices"] > summary["devices"] / 2
    [warning] = summary["warnings"]
    assert "most devices failed" in warning["problem"]
    assert warning["causes"][0]["cause"] == "endurance exhausted"
    assert "neurosim: warning:" in err and "endurance exhausted" in err


# ---- bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, option", [
    (["--tau-theta", "1,x"], "--tau-theta"),
    (["--tau-theta", "0,10"], "--tau-theta"),
    (["--tau-theta", "10,10"], "--tau-theta"),
    (["--seeds", "0"], "--seeds"),
    (["--target", "1.5"], "--target"),
    (["--lifetime", "0"], "--lifetime"),
    (["--grid", "mgd.learning_rate=0.1"], "--grid mgd.learning_rate"),
    (["--grid", "mgd.tau_theta=[1,2]"], "--grid mgd.tau_theta"),
    (["--grid", "mgd.learning_rate=[-1,0.1]"], "--grid mgd.learning_rate"),
    (["--set", "mgd.tau_theta=5"], "--set mgd.tau_theta"),
    (["--set", "train.iterations=5"], "--set train.iterations"),
    (["--workers", "0"], "--workers"),
])
def test_bad_options_are_one_line_naming_the_option(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                    extra: list[str], option: str) -> None:
    code, out, err = call_cli(capsys, "study", "tau-theta", CHIP, WORKLOAD, "--out", tmp_path, *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"neurosim: error: {option}"), err
    assert not list(tmp_path.glob("*.h5"))


def test_no_pulse_at_all_proposes_no_made_up_factor() -> None:
    config = config_with(chip="chips/fefet.yaml")
    silent = dataclasses.replace(SUMMARY, test_accuracy=0.07, weight_writes_total=0)
    [cause] = [c for c in diagnose(silent, config, 10)[0].causes if c.cause == "updates below one device step"]
    assert "not one pulse in 100 updates" in cause.detail and "x larger" not in cause.advice


def test_a_lifetime_without_writes_reads_unlimited_in_the_table() -> None:
    from neurosim.studies.tau_theta import format_table

    entry = {"tau_theta": 10, "settings": {"mgd.tau_theta": 10}, "method": "weight", "seeds": 1, "reached": 0,
             "trainings_to_first_failure": None, "trainings_to_1pct_failed": None}
    text = format_table({"grid": {}, "table": [entry]})
    assert text.splitlines()[2].count("unlimited") == 2 and "never" in text


def test_the_recommended_train_command_repeats_the_studys_seed_0_run(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    import shlex

    result = run_study(tiny(tau_thetas=(1,), sets=(), max_iterations=3000), tmp_path, workers=1)
    assert result["recommendation"]["tau_theta"] == 1, result["recommendation"]["answer"]
    command = result["recommendation"]["train_command"]
    assert command.startswith("neurosim train ") and "mgd.tau_theta=1" in command
    code, out, err = call_cli(capsys, *shlex.split(command)[1:], "--json", "--quiet")
    assert code == 0, err
    summary = json.loads(out)
    [seed0] = [r for r in result["runs"] if r["seed"] == 0]
    assert (summary["iterations"], summary["weight_writes_total"], summary["test_accuracy"]) == (
        seed0["iterations"], seed0["write_pulses_total"], seed0["test_accuracy"])


def test_the_study_on_a_dask_cluster_gives_the_local_table(tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed",
                                      reason="dask.distributed is not installed: pip install 'dask[distributed]'")
    local = run_study(tiny(), tmp_path / "local", workers=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = run_study(tiny(), tmp_path / "dask", scheduler=cluster.scheduler_address)

    def figures(result: dict) -> list:
        return [{k: v for k, v in row.items() if k not in ("wall_time_s",)} for row in result["runs"]]

    assert figures(remote) == figures(local) and remote["recommendation"] == local["recommendation"]


def test_adding_backprop_or_a_tau_theta_keeps_the_finished_runs(tmp_path: Path) -> None:
    run_study(tiny(tau_thetas=(10,)), tmp_path, workers=1)
    events: list[tuple[str, str]] = []
    run_study(tiny(tau_thetas=(10, 1), backprop=True), tmp_path, workers=1,
              progress=lambda event, run, summary: events.append((event, run.config.workload.mgd.perturbation)))
    assert sorted(events) == [("done", "backprop"), ("done", "backprop"), ("done", "weight"), ("reused", "weight")]
