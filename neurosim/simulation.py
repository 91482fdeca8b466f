"""Build a run from a validated config (data, network, chip, procedure, engine) and run it.

This is the seam between the model (spec), the builder and the simulator: ``Simulation(config)`` builds
live objects once; ``run()`` advances the engine in stretches between evaluations and returns curves and
a summary whose hardware figures come from the ledger.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim import streams
from neurosim.chip.chip import Chip
from neurosim.data import Dataset, load_dataset
from neurosim.engine.clocks import ClockDomain, Engine
from neurosim.memory import check_memory, memory_limit
from neurosim.mgd.fused import FusedChipMode
from neurosim.mgd.perturbations import PerturbationSource
from neurosim.mgd.procedures import BackpropChipMode, PaperMode, SampleStream
from neurosim.model import build, to_network_layout
from neurosim.nn import compute, losses
from neurosim.results import Curves, RunResult, TrainingSummary
from neurosim.spec.loader import RunConfig
from neurosim.spec.workload import TrainSpec

def load_task(config: RunConfig, data_dir: str | None) -> Dataset:
    spec = config.workload.dataset
    return load_dataset(spec.name, data_dir=data_dir, classes=spec.classes, seed=0, options=dict(spec.options))


class Simulation:
    def __init__(self, config: RunConfig, *, seed: int | None = None, iterations: int | None = None,
                 data_dir: str | None = None, dataset: Dataset | None = None, coalesce: bool = True) -> None:
        self.config = config
        workload = config.workload
        self.seed = workload.train.seed if seed is None else seed
        self.iterations = workload.train.iterations if iterations is None else iterations
        # the model of the data set the config names (its shape needs no data), checked against the memory
        # limit before anything is allocated; a data set handed in has its own shape
        model = build(config) if dataset is None else None
        if model is not None:
            self.memory = check_memory(config, model.net)
        data = dataset if dataset is not None else load_task(config, data_dir)
        self.dataset = data
        self.x_train = to_network_layout(data.x_train, workload.network)
        self.x_test = to_network_layout(data.x_test, workload.network)
        if model is None:
            model = build(config, input_shape=self.x_train.shape[1:], n_classes=data.n_classes)
            self.memory = check_memory(config, model.net)
        self.model = model
        self.net, self.timing, self.clock_hz = model.net, model.timing, model.clock_hz
        initial = compute.init_weights(self.net, streams.stream(self.seed, streams.INIT), workload.network.init)
        self.chip = Chip(config.chip, self.net, initial, seed=self.seed, clock_hz=self.clock_hz)
        samples = SampleStream(self.x_train, data.y_train, streams.stream(self.seed, streams.SAMPLES),
                               replacement=workload.train.sampling == "replacement")
        key = streams.key(self.seed, streams.PERTURBATIONS)
        held = workload.network.pool_selection == "held"
        if workload.mgd.mode == "chip" and model.strategy.perturbs:  # chip-mode MGD: compiled
            self.procedure = FusedChipMode(self.chip, config, self.timing, model.amplitude, samples, key,
                                           self.x_train, data.y_train, pools_held=held)
        else:
            procedure_cls = (PaperMode.for_strategy(model.strategy.name) if workload.mgd.mode == "paper"
                             else BackpropChipMode)
            self.procedure = procedure_cls(self.chip, workload.mgd, workload.loss, self.timing,
                                           model.amplitude, samples,
                                           PerturbationSource(key, self.net, workload.mgd.code,
                                                              per_layer=workload.mgd.mode == "paper"),
                                           pools_held=held)
        self.coalesce = coalesce
        self.engine = self.make_engine(coalesce)
        self.curves = Curves()
        self.done = 0
        self.target_at: int | None = None
        self.target_time: float | None = None
        self.wall_s = 0.0
        self._evaluated: dict[tuple[str, int], tuple[np.ndarray, float]] = {}  # (split, n) -> (weights, accuracy)
        self.diverged: dict[str, Any] | None = None  # {"iteration", "reason"} once the run has diverged

    def make_engine(self, coalesce: bool = True, start: int = 0) -> Engine:
        """The engine: stretches handed to one compiled call where the procedure can (``coalesce``), else
        the clock domains stepped event by event."""
        stretch = getattr(self.procedure, "run_stretch", None) if coalesce else None
        domains = [ClockDomain(slot.name, slot.period, slot.phase, getattr(self.procedure, slot.action), slot.first)
                   for slot in self.model.schedule]
        return Engine(domains, stretch=stretch, start=start)

    def evaluate(self, size: int | None = None, split: str = "test") -> float:
        """Accuracy of the chip's current (unperturbed) weights on the first ``eval_size`` samples of the test
        (or training) set; an observer, not charged to the ledger. Weights that have not changed since the
        last evaluation of the same samples (the paper's schedule evaluates every iteration of the
        learning-rate hold) give the accuracy found then."""
        x, y = (self.x_test, self.dataset.y_test) if split == "test" else (self.x_train, self.dataset.y_train)
        n = min(size or self.config.workload.train.eval_size, len(x))
        weights = self.chip.weights()
        flat = np.concatenate([a.ravel() for pair in weights for a in pair])
        seen = self._evaluated.get((split, n))
        if seen is not None and np.array_equal(seen[0], flat):
            return seen[1]
        correct = 0
        for start in range(0, n, 1000):
            stop = min(n, start + 1000)
            out = compute.forward(self.net, weights, x[start:stop])
            correct += int((out.argmax(axis=1) == y[start:stop]).sum())
        self._evaluated[(split, n)] = (flat, correct / n)
        return correct / n

    def run(self, progress: Callable[[dict[str, Any]], None] | None = None,
            checkpoint_every: int | None = None,
            on_checkpoint: Callable[[Simulation], None] | None = None) -> RunResult:
        """Advance to ``iterations``, evaluating every ``eval_interval``; every ``checkpoint_every`` iterations
        (and at each evaluation when only ``on_checkpoint`` is given) hand the simulation to
        ``on_checkpoint`` (which saves it). A restored simulation continues where it stopped."""
        train = self.config.workload.train
        started = time.perf_counter()
        model = self.chip.cost_model
        # stop_at_target: the ledger and the wear are then those of one training to the target
        while self.done < self.iterations and not (train.stop_at_target and self.target_at is not None) \
                and self.diverged is None:
            next_eval = next_evaluation(self.done, train)
            stop = min(self.iterations, next_eval)
            if checkpoint_every:
                stop = min(stop, (self.done // checkpoint_every + 1) * checkpoint_every)
            self.engine.run_until(stop)
            self.done = stop
            if stop == next_eval or stop == self.iterations:
                accuracy = self.evaluate()
                counts = self.chip.counts
                c = self.curves
                c.iteration.append(stop)
                c.simulated_time_s.append(model.time_s(counts))
                c.write_stall_s.append(counts.write_stall_s)
                c.weight_updates.append(counts.updates)
                c.write_pulses.append(counts.write_pulses)
                c.energy_j.append(model.energy_j(counts))
                for component, joules in model.energy_by_component_j(counts).items():
                    getattr(c, f"energy_{component}_j").append(joules)
                c.train_cost.append(self.procedure.take_mean_cost())
                c.train_accuracy.append(self.evaluate(split="train"))
                c.test_accuracy.append(accuracy)
                if self.target_at is None and accuracy >= train.target_accuracy:
                    self.target_at, self.target_time = stop, c.simulated_time_s[-1]
                reason = nonfinite(self, c.train_cost[-1])
                if reason is not None:  # nothing after a NaN means anything: stop here, and say where
                    self.diverged = {"iteration": stop, "reason": reason}
                if progress is not None:
                    progress({"iteration": stop, "iterations": self.iterations, "test_accuracy": accuracy,
                              "simulated_time_s": c.simulated_time_s[-1], "energy_j": c.energy_j[-1]})
            if on_checkpoint is not None and (not checkpoint_every or stop % checkpoint_every == 0) \
                    and stop < self.iterations and self.diverged is None:
                self.wall_s += time.perf_counter() - started
                started = time.perf_counter()
                on_checkpoint(self)
        self.wall_s += time.perf_counter() - started
        return self.result()

    def result(self) -> RunResult:
        """The run as it stands: summary, curves and wear."""
        return RunResult(self._summary(self.target_at, self.target_time, self.wall_s), self.curves,
                         self.config, self.chip.writes_per_layer(), self.chip.failed_per_layer(),
                         [layer.name for layer in self.net.layers])

    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically: chip, procedure, engine position, curves."""
        return {"done": self.done, "iterations": self.iterations, "seed": self.seed,
                "engine_events": self.engine.events,  # so that a resumed summary counts the whole run
                "target_at": self.target_at, "target_time": self.target_time, "wall_s": self.wall_s,
                "curves": {k: np.asarray(v) for k, v in self.curves.__dict__.items()},
                "chip": self.chip.checkpoint(), "procedure": self.procedure.checkpoint()}

    def restore(self, saved: dict[str, Any]) -> None:
        self.chip.restore(saved["chip"])
        self.procedure.restore(saved["procedure"])
        self.done = int(saved["done"])
        self.target_at = None if saved["target_at"] is None else int(saved["target_at"])
        self.target_time = saved["target_time"]
        self.wall_s = float(saved["wall_s"])
        kinds = {"iteration": int}
        self.curves = Curves(**{k: [kinds.get(k, float)(x) for x in v] for k, v in saved["curves"].items()})
        self.engine = self.make_engine(self.coalesce, start=self.done)
        self.engine.events = int(saved.get("engine_events", 0))

    def _divergence(self) -> dict[str, Any] | None:
        """The run's divergence: where it stopped on a NaN, or, for a run that went to its end, the
        evaluation from which the training cost stayed above twice chance level's while the test accuracy
        stayed near chance (on average at most a quarter of the way from chance to perfect: a blown-up
        network's accuracy jumps around chance). Flagged, not stopped, since a cost can come back down."""
        if self.diverged is not None or self.done < self.iterations or not self.curves.test_accuracy:
            return self.diverged
        k = self.net.n_outputs
        loss = self.config.workload.loss
        chance = 1.0 / k
        chance_cost = losses.chance_cost(loss.kind, k, loss.reduction)
        costs = self.curves.train_cost
        since = len(costs)
        while since > 0 and costs[since - 1] > 2 * chance_cost:
            since -= 1
        if since == len(costs):
            return None
        accuracy = float(np.mean(self.curves.test_accuracy[since:]))
        if accuracy > chance + 0.25 * (1 - chance):
            return None
        return {"iteration": self.curves.iteration[since],
                "reason": f"the training cost stayed above twice chance level's ({2 * chance_cost:.4g}; last "
                          f"{costs[-1]:.4g}) with the test accuracy near chance ({chance:.4f}; {accuracy:.4f} on "
                          f"average) since then: the learning rate is likely too large"}

    def _summary(self, target_at: int | None, target_time: float | None, wall: float) -> TrainingSummary:
        counts = self.chip.counts
        model = self.chip.cost_model
        mgd = self.config.workload.mgd
        acc = self.curves.test_accuracy
        return TrainingSummary(**{
            "chip": self.config.chip.name,
            "workload": self.config.workload.name,
            "mode": mgd.mode,
            "perturbation": mgd.perturbation,
            "seed": self.seed,
            "iterations": self.done,
            "iterations_planned": self.iterations,
            **self.model.resolved(),
            "parameters": self.net.parameters,
            "simulated_time_s": model.time_s(counts),
            "energy_j": model.energy_j(counts),
            "energy_by_component_j": model.energy_by_component_j(counts),
            "events": counts.as_dict(),
            **self.chip.wear_summary(),
            "test_accuracy": acc[-1] if acc else None,
            "best_test_accuracy": max(acc) if acc else None,
            "final_train_cost": self.curves.train_cost[-1] if self.curves.train_cost else None,
            "target_accuracy": self.config.workload.train.target_accuracy,
            "iterations_to_target": target_at,
            "simulated_time_to_target_s": target_time,
            "diverged": self._divergence(),
            "engine_events": self.engine.events,
            "engine_path": self.procedure.engine_path,
            "wall_time_s": wall,
        })


def next_evaluation(done: int, train: TrainSpec) -> int:
    """The iteration of the next evaluation after ``done``: every ``eval_interval``, and under the paper's
    schedule also after each of the first 999 iterations (the authors log at n < 1000 and every 100)."""
    if train.eval_schedule == "paper" and done + 1 < 1000:
        return done + 1
    return (done // train.eval_interval + 1) * train.eval_interval


def nonfinite(sim: Simulation, train_cost: float) -> str | None:
    """Why the run cannot go on, checked at an evaluation: a weight, the outputs on a few test samples or the
    training cost not finite. An observer: reads the weights, draws nothing."""
    weights = sim.chip.weights()
    for layer, (w, b) in zip(sim.net.layers, weights):
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            return f"a weight of layer {layer.name} is not finite"
    if not np.isfinite(compute.forward(sim.net, weights, sim.x_test[:16])).all():
        return "the network's outputs are not finite (NaN or infinite)"
    if not math.isfinite(train_cost):
        return f"the training cost is {train_cost}"
    return None


def describe(config: RunConfig) -> dict[str, Any]:
    """The network as mapped onto the chip, without training and without reading the data."""
    model = build(config)
    clock_hz, net = model.clock_hz, model.net
    memory = check_memory(config, net)  # describe refuses what train would refuse
    xbar = config.chip.crossbar
    layers = [{
        "name": layer.name, "kind": layer.kind, "input_shape": list(layer.in_shape),
        "output_shape": list(layer.output_shape), "activation": layer.activation, "max_pool": layer.pool,
        "parameters": layer.parameters, "nodes": layer.nodes, "macs_per_sample": layer.macs,
        "crossbar_rows": layer.fan_in + 1, "crossbar_cols": layer.fan_out,
        "tiles": layer.tiles(xbar.rows, xbar.cols),
    } for layer in net.layers]
    return {
        "chip": config.chip.name, "workload": config.workload.name, "dataset": config.workload.dataset.name,
        "clock_hz": clock_hz, "classes": net.n_outputs, "input_shape": list(net.input_shape),
        "parameters": net.parameters,
        "perturbed_weight_parameters": net.parameters,
        "perturbed_nodes": net.nodes,
        "macs_per_sample": net.macs,
        "tiles": sum(entry["tiles"] for entry in layers),
        "memory_bytes": memory.total_bytes,
        "memory_limit_bytes": memory_limit()[0],
        "layers": layers,
    }
