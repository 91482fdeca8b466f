"""Hostile inputs: what a new user (or a careless script) throws at the command line, and what it must get.

The table ``CASES`` holds one broken input per line: the command (``{tmp}`` is a fresh folder, ``{NAME}`` a
file of ``files`` or one made by a ``prepare`` helper), the exit status and the fragments the one error line
must hold. The next gap found is one more line. Cases that need a process of their own (signals, kill -9,
memory) follow the table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import pytest

from conftest import REPO, TINY_PARITY, call_cli, config_with

CHIP = str(REPO / "chips" / "reference.yaml")
NIST = str(REPO / "workloads" / "nist7x7.yaml")
CNN = str(REPO / "workloads" / "fashion-cnn.yaml")
FAST = ["--set", "train.eval_size=50", "--quiet"]
MAX_LINE = 1500  # an error is one readable line, whatever it quotes


def bomb(levels: int = 9, width: int = 10) -> str:
    """A billion-laughs list: ``width**levels`` values once its aliases are expanded, a few hundred bytes."""
    parts = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
    parts += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


GOOD_CHIP = "chip:\n  name: tiny\n  clock: 1 MHz\n"


# ---- helpers that make the files a case needs -----------------------------------------------------------

def finished_run(tmp: Path) -> Path:
    path = tmp / "done.h5"
    code = call_cli_plain("train", CHIP, NIST, "--iterations", "200", "--set", "train.eval_interval=100",
                          *FAST, "--out", path)
    assert code == 0
    return path


def checkpointed_run(tmp: Path) -> Path:
    """An unfinished run file with a checkpoint at 200 of 600 iterations (as if killed after it)."""
    from neurosim.io.runfile import write_run
    from neurosim.simulation import Simulation

    path = tmp / "partial.h5"

    def stop(sim: Simulation) -> None:
        write_run(path, sim.result(), complete=False, checkpoint=sim.checkpoint(), checkpoint_every=200)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Simulation(config_with(*TINY_PARITY, "train.eval_interval=100"), iterations=600).run(
            checkpoint_every=200, on_checkpoint=stop)
    return path


def tampered(edit: Callable[[h5py.Group], None]) -> Callable[[Path], Path]:
    def prepare(tmp: Path) -> Path:
        path = checkpointed_run(tmp)
        with h5py.File(path, "a") as f:
            edit(f["checkpoint"])
        return path
    return prepare


def _set_attr(group: h5py.Group, key: str, value: object) -> None:
    group.attrs[key] = value


def _truncate(group: h5py.Group, name: str) -> None:
    data = group[name][()]
    del group[name]
    group.create_dataset(name, data=data[..., :-1])


def text_file(tmp: Path) -> Path:
    path = tmp / "notes.txt"
    path.write_text("my notes\n", encoding="utf-8")
    return path


def call_cli_plain(*args: object) -> int:
    from neurosim.cli import main

    return main([str(a) for a in args])


@dataclass(frozen=True)
class Case:
    id: str
    args: list[str]
    code: int
    fragments: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)        # name -> text, written into {tmp}
    prepare: Callable[[Path], Path] | None = None               # makes {RUN}
    env: dict[str, str] = field(default_factory=dict)
    lines: int = 1                                              # lines on stderr


CASES = [
    # YAML that eats time or memory: refused on the node graph, before anything is built
    Case("alias-bomb-in-a-value", ["validate", "{c.yaml}"], 2, ("{c.yaml}", "alias bomb"),
         files={"c.yaml": GOOD_CHIP + f"  description: {bomb()}\n"}),
    Case("alias-bomb-under-unknown-key", ["train", "{c.yaml}", NIST], 2, ("{c.yaml}", "alias bomb"),
         files={"c.yaml": GOOD_CHIP + f"  junk: {bomb()}\n"}),
    Case("alias-bomb-in-workload", ["describe", CHIP, "{w.yaml}"], 2, ("{w.yaml}", "alias bomb"),
         files={"w.yaml": f"description: {bomb()}\n"}),
    Case("alias-bomb-by-set", ["describe", CHIP, NIST, "--set", f"chip.description={bomb()}"], 2,
         ("--set", "chip.description", "alias bomb")),
    Case("recursive-alias", ["validate", "{c.yaml}"], 2, ("{c.yaml}", "recursive alias"),
         files={"c.yaml": GOOD_CHIP + "  description: &a [*a]\n"}),
    Case("huge-file", ["validate", "{c.yaml}"], 2, ("{c.yaml}", "at most 4 MiB"),
         files={"c.yaml": GOOD_CHIP + "# " + "x" * (5 * 1024 * 1024) + "\n"}),
    Case("huge-quoted-value", ["describe", CHIP, NIST, "--set", "chip.name=[" + ",".join(["1"] * 30000) + "]"],
         2, (CHIP, "chip.name", "expected a non-empty string", "characters in all")),
    Case("deep-nesting", ["validate", "{c.yaml}"], 2, ("{c.yaml}",),
         files={"c.yaml": GOOD_CHIP + "  description: " + "[" * 5000 + "]" * 5000 + "\n"}),
    # networks that do not fit in memory: refused from their shapes, by every command alike
    Case("mlp-too-big-train", ["train", CHIP, NIST, "--set", "network.hidden=[100000,100000]"], 2,
         (NIST, "network.hidden", "memory", "--max-memory")),
    Case("mlp-too-big-describe", ["describe", CHIP, NIST, "--set", "network.hidden=[100000,100000]"], 2,
         (NIST, "network.hidden", "memory")),
    Case("mlp-too-big-estimate", ["estimate", CHIP, NIST, "--iterations", "10",
                                  "--set", "network.hidden=[100000,100000]"], 2, (NIST, "network.hidden", "memory")),
    Case("cnn-too-big", ["describe", CHIP, CNN, "--set", "network.width=100000"], 2, (CNN, "network.width", "memory")),
    Case("data-too-big", ["train", CHIP, NIST, "--set", "dataset.options.train_size=1000000000"], 2,
         (NIST, "dataset.options", "memory")),
    Case("batch-too-big", ["train", CHIP, NIST, "--set", "mgd.mode=paper", "--set", "mgd.batch_size=1000000000"], 2,
         (NIST, "mgd.batch_size", "memory")),
    Case("resume-missing-file", ["train", "--resume", "{tmp}/nope.h5"], 2, ("nope.h5", "no such run file")),
    Case("resume-a-folder", ["train", "--resume", "{tmp}"], 2, ("{tmp}", "not a run file")),
    Case("limit-by-option", ["describe", CHIP, NIST, "--max-memory", "1MB"], 2, (NIST, "memory", "1MB")),
    Case("limit-by-env", ["describe", CHIP, NIST], 2, (NIST, "NEUROSIM_MAX_MEMORY=1000"),
         env={"NEUROSIM_MAX_MEMORY": "1000"}),
    Case("bad-limit-option", ["describe", CHIP, NIST, "--max-memory", "lots"], 2, ("--max-memory", "'lots'")),
    Case("bad-limit-env", ["describe", CHIP, NIST], 2, ("NEUROSIM_MAX_MEMORY", "'lots'"),
         env={"NEUROSIM_MAX_MEMORY": "lots"}),
    # keys that do not apply to the run
    Case("width-on-mlp", ["train", CHIP, NIST, "--set", "network.width=8"], 2, (NIST, "network.width", "paper_cnn")),
    Case("hidden-on-cnn", ["describe", CHIP, CNN, "--set", "network.hidden=[8]"], 2, (CNN, "network.hidden", "mlp")),
    Case("batch-size-in-chip-mode", ["train", CHIP, NIST, "--set", "mgd.batch_size=10"], 2,
         (NIST, "mgd.batch_size", "chip mode")),
    Case("momentum-with-sgd", ["describe", CHIP, NIST, "--set", "mgd.momentum=0.5"], 2, (NIST, "mgd.momentum")),
    Case("width-on-mlp-in-file", ["validate", "{w.yaml}"], 2, ("{w.yaml}", "network.width"),
         files={"w.yaml": "dataset: {name: nist7x7}\nnetwork: {kind: mlp, hidden: [8], width: 4}\n"}),
    # where the run file goes: checked before the run starts, never replaced without --force
    Case("out-is-a-folder", ["train", CHIP, NIST, "--out", "{tmp}"], 2, ("{tmp}", "is a folder")),
    Case("out-in-missing-folder", ["train", CHIP, NIST, "--out", "{tmp}/no/run.h5"], 2, ("does not exist",)),
    Case("out-on-read-only-fs", ["train", CHIP, NIST, "--out", "/proc/run.h5"], 2, ("/proc/run.h5", "cannot write")),
    Case("out-onto-text-file", ["train", CHIP, NIST, "--out", "{RUN}"], 2, ("{RUN}", "exists", "--force"),
         prepare=text_file),
    Case("out-onto-finished-run", ["train", CHIP, NIST, "--out", "{RUN}"], 2, ("{RUN}", "a finished run file",
                                                                                 "--force"), prepare=finished_run),
    Case("resume-into-other-file", ["train", "--resume", "{RUN}", "--out", "{tmp}/../notes.txt"], 2,
         ("exists", "--force"), prepare=lambda tmp: (text_file(tmp.parent), checkpointed_run(tmp))[1]),
    # runs that blow up: stopped or flagged, with the iteration, and a non-zero status
    Case("nan", ["train", CHIP, NIST, "--iterations", "3000", "--set", "mgd.learning_rate=1e30",
                 "--set", "chip.weights.w_min=-1e38", "--set", "chip.weights.w_max=1e38", *FAST], 3,
         ("diverged at iteration 1000", "stopped there", "not finite")),
    Case("divergence-without-nan", ["train", CHIP, NIST, "--iterations", "3000", "--set", "mgd.learning_rate=1e6",
                                    "--quiet"], 3, ("diverged at iteration 1000", "ran to its end", "near chance")),
    Case("sweep-with-a-diverging-run", ["sweep", "{s.yaml}", "--workers", "1"], 3, ("1 of 2 runs diverged",),
         files={"s.yaml": f"chip: {CHIP}\nworkload: {NIST}\niterations: 2000\nout: out\n"
                          "grid:\n  mgd.learning_rate: [0.005, 1.0e+6]\n"}),
    # hand-edited checkpoints
    Case("checkpoint-done-negative", ["train", "--resume", "{RUN}"], 2, ("{RUN}", "done", "-7"),
         prepare=tampered(lambda g: _set_attr(g, "done", -7))),
    Case("checkpoint-done-beyond-end", ["train", "--resume", "{RUN}"], 2, ("{RUN}", "done"),
         prepare=tampered(lambda g: _set_attr(g, "done", 10**6))),
    Case("checkpoint-iterations-zero", ["train", "--resume", "{RUN}"], 2, ("{RUN}", "iterations"),
         prepare=tampered(lambda g: _set_attr(g, "iterations", 0))),
    Case("checkpoint-array-resized", ["train", "--resume", "{RUN}"], 2, ("{RUN}", "expected an array of shape"),
         prepare=tampered(lambda g: _truncate(g["chip"]["arrays"]["0"]["weight"], "writes"))),
    Case("checkpoint-curves-resized", ["train", "--resume", "{RUN}"], 2, ("{RUN}", "curves"),
         prepare=tampered(lambda g: _truncate(g["curves"], "test_accuracy"))),
    Case("checkpoint-negative-writes", ["train", "--resume", "{RUN}"], 2, ("{RUN}", "writes", ">= 0"),
         prepare=tampered(lambda g: g["chip"]["arrays"]["0"]["weight"]["writes"].__setitem__(0, -5))),
    Case("checkpoint-sample-order", ["train", "--resume", "{RUN}"], 2, ("{RUN}", "order"),
         prepare=tampered(lambda g: g["procedure"]["stream"]["order"].__setitem__(0, 10**6))),
    Case("sweep-of-a-billion-seeds", ["sweep", "{s.yaml}"], 2, ("{s.yaml}", "seeds", "at most 100000"),
         files={"s.yaml": f"chip: {CHIP}\nworkload: {NIST}\nseeds: 1000000000\nout: out\n"}),
    Case("sweep-grid-too-large", ["sweep", "{s.yaml}"], 2, ("{s.yaml}", "grid", "at most 100000"),
         files={"s.yaml": f"chip: {CHIP}\nworkload: {NIST}\nseeds: 1000\nout: out\ngrid:\n"
                          f"  mgd.tau_theta: [{', '.join(map(str, range(1, 1001)))}]\n"}),
    Case("out-onto-a-device", ["train", CHIP, NIST, "--out", "/dev/null", "--force"], 2,
         ("/dev/null", "not a regular file")),
    Case("checkpoint-every-negative", ["train", "--resume", "{RUN}"], 2, ("{RUN}", "checkpoint_every"),
         prepare=tampered(lambda g: _set_attr(g, "checkpoint_every", -5))),
    Case("sweep-too-many-workers", ["sweep", "{s.yaml}", "--workers", "100000"], 2, ("--workers", "at most"),
         files={"s.yaml": f"chip: {CHIP}\nworkload: {NIST}\nout: out\n"}),
    # validate reports every bad file
    Case("validate-every-bad-file", ["validate", "{a.yaml}", CHIP, "{b.yaml}"], 2, ("{a.yaml}", "{b.yaml}"),
         files={"a.yaml": "chip:\n  clock: 5 ns\n", "b.yaml": "nme: x\n"}, lines=2),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    subs = {"{tmp}": str(work)}
    for name, text in case.files.items():
        (work / name).write_text(text, encoding="utf-8")
        subs[f"{{{name}}}"] = str(work / name)
    if case.prepare is not None:
        subs["{RUN}"] = str(case.prepare(work))
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    if not case.env:
        monkeypatch.delenv("NEUROSIM_MAX_MEMORY", raising=False)

    def fill(text: str) -> str:
        for key, value in subs.items():
            text = text.replace(key, value)
        return text

    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    capsys.readouterr()
    code, out, err = call_cli(capsys, *[fill(a) for a in case.args])
    assert code == case.code, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("neurosim: error: ")]
    assert len(errors) == case.lines, err
    for fragment in case.fragments:
        assert fill(fragment) in "\n".join(errors), f"{fill(fragment)!r} missing from: {err[:2000]}"
    assert all(len(line) <= MAX_LINE for line in err.splitlines())
    if case.code == 2:  # a refused input changes no file and leaves no temporary one
        assert {p: p.read_bytes() for p in work.rglob("*") if p.is_file()} == before
    assert not [p for p in work.rglob("*.tmp")]


# ---- what a table line cannot say ----------------------------------------------------------------------

def test_an_alias_bomb_costs_little_memory(tmp_path: Path) -> None:
    """10^8 values once expanded: refused on the node graph, in a few megabytes."""
    from neurosim.errors import ConfigError
    from neurosim.spec import load_config

    chip = tmp_path / "c.yaml"
    chip.write_text(GOOD_CHIP + f"  junk: {bomb(levels=8)}\n", encoding="utf-8")
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="alias bomb"):
            load_config(chip, NIST, [f"chip.description={bomb(levels=8)}"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024**2


def test_a_few_shared_aliases_still_load(tmp_path: Path) -> None:
    from neurosim.spec.loader import read_yaml

    path = tmp_path / "c.yaml"
    path.write_text("base: &b {levels: 64, write_noise: 0.1}\nother: *b\nlist: [*b, *b]\n", encoding="utf-8")
    data = read_yaml(path)
    assert data["other"] == data["list"][1] == {"levels": 64, "write_noise": 0.1}


def test_the_memory_estimate_is_of_the_right_size() -> None:
    """The estimate against what a run of a 1M-parameter MLP allocates (numpy's allocations, traced)."""
    from neurosim.memory import estimate_memory
    from neurosim.simulation import Simulation

    config = config_with("network.hidden=[1000,1000]", "train.eval_interval=50")
    tracemalloc.start()
    try:
        sim = Simulation(config, iterations=100)
        sim.run(checkpoint_every=50, on_checkpoint=lambda s: s.checkpoint())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = estimate_memory(config, sim.net).total_bytes
    assert peak <= estimate <= 2 * peak


def test_a_key_moot_only_by_a_set_mode_is_one_warning(capsys: pytest.CaptureFixture,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The CNN file's batch_size does not apply once --set mgd.mode=chip: a warning, not an error."""
    with caplog.at_level("WARNING", logger="neurosim"):
        code, out, err = call_cli(capsys, "describe", CHIP, CNN, "--set", "mgd.mode=chip")
    assert code == 0, err
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "mgd.batch_size" in warnings[0] and CNN in warnings[0]


def test_a_sweep_setting_moot_keys_on_purpose_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from neurosim.sweep import load_sweep, plan_sweep

    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"chip: {CHIP}\nworkload: {NIST}\niterations: 100\ngrid:\n  mgd.mode: [chip, paper]\n"
                     "sets: ['mgd.batch_size=10', 'mgd.node_batch=independent']\nout: out\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="neurosim"):
        runs = plan_sweep(load_sweep(sweep), tmp_path / "out")
    assert len(runs) == 2
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "mgd.batch_size" in warnings[0].getMessage() and "mgd.node_batch" in warnings[0].getMessage()


def test_paper_mode_summary_gives_its_periods_as_it_ran_them(capsys: pytest.CaptureFixture) -> None:
    """τp and τx apply in paper mode (iterations a batch and a perturbation are held, as in the authors'
    code): the summary gives the values the run used."""
    sets = ["--set", "mgd.mode=paper", "--set", "mgd.batch_size=4", "--set", "mgd.tau_x=3", "--iterations", "20",
            "--set", "train.eval_interval=10", *FAST]
    code, out, err = call_cli(capsys, "train", CHIP, NIST, *sets)
    assert code == 0, err
    assert "τθ=" in out and "τx=3" in out
    code, out, _ = call_cli(capsys, "train", CHIP, NIST, *sets, "--json")
    summary = json.loads(out)
    assert (summary["tau_p"], summary["tau_x"], summary["tau_theta"]) == (1, 3, 1)


def test_force_replaces_and_the_diverged_run_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from neurosim.io.runfile import read_summary

    path = text_file(tmp_path)
    code, _, err = call_cli(capsys, "train", CHIP, NIST, "--iterations", "2000", "--set", "mgd.learning_rate=1e30",
                            "--set", "chip.weights.w_min=-1e38", "--set", "chip.weights.w_max=1e38", *FAST,
                            "--out", path, "--force")
    assert code == 3, err
    summary = read_summary(path)
    assert summary.diverged["iteration"] == 1000 and summary.iterations == 1000
    assert summary.iterations_planned == 2000


def test_a_healthy_run_is_not_flagged(capsys: pytest.CaptureFixture) -> None:
    code, out, err = call_cli(capsys, "train", CHIP, NIST, "--iterations", "3000", *FAST, "--json")
    assert code == 0, err
    assert json.loads(out)["diverged"] is None


def neurosim_cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "neurosim.cli", *map(str, args)]


def test_sigterm_mid_write_removes_the_temporary_file_and_names_resume(tmp_path: Path) -> None:
    """SIGTERM arriving while the run file is being written (made certain by sending it from inside the
    write): the temporary file goes, the last complete file stays, and the message says how to go on."""
    out = tmp_path / "run.h5"
    script = textwrap.dedent(f"""
        import os, signal, sys
        import neurosim.io.runfile as runfile
        from neurosim.cli import main
        real, calls = runfile.save_state, []
        def save_state(group, state):
            calls.append(1)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGTERM)
            real(group, state)
        runfile.save_state = save_state
        sys.exit(main(["train", {CHIP!r}, {NIST!r}, "--iterations", "5000", "--checkpoint-every", "1000",
                       "--set", "train.eval_size=50", "--quiet", "--out", {str(out)!r}]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 143, proc.stderr
    assert "SIGTERM" in proc.stderr and f"neurosim train --resume {out}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["run.h5"]
    with h5py.File(out) as f:
        assert f["checkpoint"].attrs["done"] == 1000
    resumed = subprocess.run(neurosim_cmd("train", "--resume", out, "--quiet", "--json"), capture_output=True,
                             text=True, cwd=REPO, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["iterations"] == 5000


def test_a_resume_removes_what_a_kill_9_left(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = checkpointed_run(tmp_path)
    stale = tmp_path / f".{path.name}.k9xq2_ab.tmp"
    stale.write_bytes(b"half a file")
    other = tmp_path / ".someone-else.h5.k9xq2_ab.tmp"
    other.write_bytes(b"not ours")
    code, _, err = call_cli(capsys, "train", "--resume", path, "--quiet")
    assert code == 0, err
    assert not stale.exists() and other.exists()


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the workers")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_sweep_workers_die_with_a_killed_sweep(tmp_path: Path, how: int) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"chip: {CHIP}\nworkload: {NIST}\niterations: 100000000\nseeds: 3\n"
                     "sets: ['train.eval_interval=100000000', 'train.eval_size=50']\nout: out\n", encoding="utf-8")
    proc = subprocess.Popen(neurosim_cmd("sweep", sweep, "--workers", "2"), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    workers: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        workers = {p for p in _descendants(proc.pid) if "forkserver" in _cmdline(p)}
        if len(workers) >= 3:  # the fork server and its two workers
            break
        time.sleep(0.2)
    assert proc.poll() is None and len(workers) >= 3
    os.kill(proc.pid, how)
    _, err = proc.communicate(timeout=120)
    if how == signal.SIGTERM:  # handled: the workers are stopped, and the message says what was kept
        assert proc.returncode == 143 and "run the same sweep again" in err and "Traceback" not in err
    deadline = time.monotonic() + 60  # a bound on the wait, not a measured time
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    left = [p for p in workers if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, "sweep workers outlived the sweep"
    assert not list((tmp_path / "out").glob(".*.tmp"))


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_report_marks_an_unfinished_runs_lifetimes_partial(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = checkpointed_run(tmp_path)
    code, out, err = call_cli(capsys, "report", path)
    assert code == 0, err
    lifetime = [line for line in out.splitlines() if line.startswith("lifetime")]
    assert len(lifetime) == 2 and all("partial: from 200 of 600 iterations" in line for line in lifetime)
    code, out, _ = call_cli(capsys, "report", path, "--json")
    assert json.loads(out)[0]["partial"] == ["lifetime_trainings_first_failure", "lifetime_trainings_1pct"]


def test_run_files_have_the_mode_the_docs_give(tmp_path: Path) -> None:
    path = finished_run(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert "0666 less the umask" in (REPO / "docs" / "runfile.md").read_text(encoding="utf-8")


def test_fetch_without_network_leaves_no_folder(tmp_path: Path) -> None:
    from neurosim.data import fetch_dataset
    from neurosim.errors import DataError

    root = tmp_path / "cache" / "neurosim"
    with pytest.raises(DataError, match="by hand"):
        fetch_dataset("fashion-mnist", root, base_url=(tmp_path / "offline").as_uri())
    assert not (tmp_path / "cache").exists()


def test_ctrl_c_says_how_to_resume(tmp_path: Path, capsys: pytest.CaptureFixture,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import neurosim.api

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(neurosim.api, "run_simulation", interrupted)
    out = tmp_path / "run.h5"
    code, _, err = call_cli(capsys, "train", CHIP, NIST, "--checkpoint-every", "100", "--out", out, "--quiet")
    assert (code, err.strip()) == (130, f"neurosim: interrupted; nothing was saved yet: {out} is written at the "
                                        "first evaluation or checkpoint")
    path = checkpointed_run(tmp_path)
    code, _, err = call_cli(capsys, "train", "--resume", path, "--quiet")
    assert code == 130
    assert err.strip() == f"neurosim: interrupted; {path} holds the last checkpoint; continue with: " \
                          f"neurosim train --resume {path}"


def test_the_python_api_refuses_an_existing_file_too(tmp_path: Path) -> None:
    import neurosim
    from neurosim.errors import NeurosimError

    path = text_file(tmp_path)
    config = config_with(*TINY_PARITY, "train.eval_interval=50")
    with pytest.raises(NeurosimError, match="exists"):
        neurosim.train(config, iterations=100, out=path)
    assert path.read_text(encoding="utf-8") == "my notes\n"
    neurosim.train(config, iterations=100, out=path, force=True)
    assert neurosim.open_run(path).summary.iterations == 100
