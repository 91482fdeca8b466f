"""The two ways of running MGD on a chip, as clock-domain actions for the engine.

* :class:`ChipMode`: what hardware does naturally. Every parameter (or node) is perturbed at once, a stream
  of single samples, one broadcast cost change per cycle, the baseline cost C0 from an unperturbed inference
  whenever the sample or the weights changed (or from ± antithetic pairs).
* :class:`PaperMode`: the seed paper's Algorithm 1 and published recipe: a mini-batch per iteration, the
  layers perturbed one after another with amplitude δ/sqrt(K_l), one shared baseline, the Γ normalisation.

Both accumulate S = Σ ΔC·s, s = ±1 the perturbation sign (node perturbation: the local product of ΔC·s
with the layer input) and, every τθ, hand the estimate G = S/(n·δ) (scaled by Γ when normalising) to the
optimizer and write the result. In ``backprop`` mode the same loop accumulates the true gradient instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurosim.chip.chip import Chip
from neurosim.chip.periphery import Accumulators
from neurosim.io.state import rng_state, set_rng_state
from neurosim.kernels.updates import scaled_add
from neurosim.mgd.optimizers import Optimizer
from neurosim.model import Timing, cycles_per_step, held_updates, shares_node_perturbation, strategy, uses_gamma
from neurosim.mgd.perturbations import PerturbationSource, gamma_scale
from neurosim.nn import compute, losses
from neurosim.nn.shapes import NetworkShape
from neurosim.spec.workload import LossSpec, MGDSpec

Pairs = list[tuple[np.ndarray, np.ndarray]]


class SampleStream:
    """Training samples from the run's sample stream: in a fresh random order every epoch, or (``replacement``)
    drawn uniformly with replacement, as the authors' code draws its mini-batches."""

    def __init__(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, replacement: bool = False) -> None:
        self.x, self.y, self.rng = x, y, rng
        self.replacement = replacement
        self.order = np.zeros(0, dtype=np.int64) if replacement else rng.permutation(len(y))
        self.position = 0

    def take_indices(self, n: int) -> np.ndarray:
        """The next ``n`` sample indices; drawing n at once or one at a time gives the same sequence (with
        replacement: one double per index, floor(u·N), so no generator buffers values between calls)."""
        if self.replacement:
            return np.minimum((self.rng.random(n) * len(self.y)).astype(np.int64), len(self.y) - 1)
        index = np.empty(n, dtype=np.int64)
        filled = 0
        while filled < n:
            if self.position == len(self.order):
                self.order = self.rng.permutation(len(self.y))
                self.position = 0
            k = min(n - filled, len(self.order) - self.position)
            index[filled:filled + k] = self.order[self.position:self.position + k]
            self.position += k
            filled += k
        return index

    def checkpoint(self) -> dict:
        return {"rng": rng_state(self.rng), "order": self.order.copy(), "position": self.position}

    def restore(self, saved: dict) -> None:
        set_rng_state(self.rng, saved["rng"])
        self.order = saved["order"].copy()
        self.position = int(saved["position"])

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        index = self.take_indices(n)
        return self.x[index], self.y[index]


class Procedure:
    """State shared by both modes: the chip, the accumulators, the optimizer and the running cost."""

    def __init__(self, chip: Chip, mgd: MGDSpec, loss: LossSpec, timing: Timing, amplitude: float,
                 stream: SampleStream, perturbations: PerturbationSource, pools_held: bool = True) -> None:
        self.chip = chip
        self.net: NetworkShape = chip.net
        self.mgd = mgd
        self.loss = loss
        self.timing = timing
        self.amplitude = amplitude
        self.stream = stream
        self.source = perturbations
        self.accumulators = Accumulators(chip.spec.accumulator, chip.weights())
        self.optimizer = Optimizer(mgd, chip.weights(), held_updates(mgd, timing.tau_theta))
        self.cost_sum = 0.0
        self.cost_count = 0
        self.pools_held = pools_held  # perturbed inferences keep the unperturbed max-pool winners

    def checkpoint(self) -> dict:
        opt = self.optimizer
        return {"stream": self.stream.checkpoint(), "accumulators": [list(p) for p in self.accumulators.values],
                "optimizer": {"step_count": opt.step_count, "m": None if opt.m is None else [list(p) for p in opt.m],
                              "v": None if opt.v is None else [list(p) for p in opt.v]},
                "cost_sum": self.cost_sum, "cost_count": self.cost_count}

    def restore(self, saved: dict) -> None:
        self.stream.restore(saved["stream"])
        _copy_pairs(self.accumulators.values, saved["accumulators"])
        opt = self.optimizer
        opt.step_count = int(saved["optimizer"]["step_count"])
        if opt.m is not None:
            _copy_pairs(opt.m, saved["optimizer"]["m"])
        if opt.v is not None:
            _copy_pairs(opt.v, saved["optimizer"]["v"])
        self.cost_sum, self.cost_count = float(saved["cost_sum"]), int(saved["cost_count"])

    def normalize(self) -> bool:
        return uses_gamma(self.mgd)

    def record_cost(self, c0: float) -> None:
        self.cost_sum += c0
        self.cost_count += 1

    def take_mean_cost(self) -> float:
        mean = self.cost_sum / self.cost_count if self.cost_count else float("nan")
        self.cost_sum, self.cost_count = 0.0, 0
        return mean

    def infer(self, x: np.ndarray, y: np.ndarray, weights: Pairs, *, node_theta: list | None = None,
              start: int = 0, reuse: compute.Trace | None = None, trace: compute.Trace | None = None,
              pool_from: compute.Trace | None = None, per_sample: bool = False) -> Any:
        """A batch of inferences through the chip, the cost as the cost circuit measures it; counted.
        ``per_sample``: every sample's cost, measured one by one, instead of the batch mean. ``pool_from``:
        the unperturbed pass whose max-pool winners this one keeps (see :func:`compute.forward`)."""
        out = compute.forward(self.net, weights, x, node_theta=node_theta, start=start, reuse=reuse,
                              trace=trace, pool_from=pool_from)
        counts = self.chip.counts
        batch = len(x)
        counts.inferences += batch
        counts.macs += batch * self.net.macs
        counts.cost_evaluations += batch
        if per_sample:
            return self.chip.measure_costs(losses.per_sample_cost(self.loss.kind, out, y, self.loss.label_smoothing))
        return self.chip.measure_cost(losses.cost(self.loss.kind, out, y, self.loss.label_smoothing))

    def accumulate_true_gradient(self, x: np.ndarray, y: np.ndarray) -> float:
        """Backprop mode: one inference, the exact gradient into the accumulators."""
        weights = self.chip.read_weights()
        trace = compute.Trace()
        c0 = self.infer(x, y, weights, trace=trace)
        grads = compute.backward(self.net, weights, trace, losses.cost_gradient(self.loss.kind, trace.output, y,
                                                                                    self.loss.label_smoothing))
        for index, (dw, db) in enumerate(grads):
            self.accumulators.add(index, dw, db, 1.0, self.cycles_per_step() * self.chip.cycle_s)
        self.record_cost(c0)
        return c0

    def write_update(self, estimate_scale: list[float]) -> None:
        """G_l = S_l · scale_l; the optimizer's deltas are written into the devices; S is reset."""
        grads = self.accumulators.take(estimate_scale)
        update_period_s = self.timing.tau_theta * self.cycles_per_step() * self.chip.cycle_s
        self.chip.write(self.optimizer.deltas(grads), update_period_s)

    def cycles_per_step(self) -> int:
        return 1

    def weight_perturbation(self, step: int, index: int, amplitude: float) -> tuple[tuple, tuple]:
        """(signs, actual perturbation) of a layer's weights and bias, with amplitude mismatch."""
        signs = self.source.weight(step, index)
        return signs, _actual_perturbation(np.float32(amplitude), signs, self.chip.weight_mismatch[index])

    def node_perturbation(self, step: int, index: int, amplitude: float, batch: int) -> tuple[np.ndarray, np.ndarray]:
        signs = self.source.node(step, index, batch)
        return signs, _actual_perturbation(np.float32(amplitude), signs, self.chip.node_mismatch[index])


class ChipMode(Procedure):
    """All parameters perturbed at once on a stream of single samples."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None
        self.c0 = 0.0
        self.baseline_trace: compute.Trace | None = None
        self.baseline_stale = True
        self.signs: list = [None] * len(self.net.layers)  # per layer: views of flat_signs
        self.theta: list = [None] * len(self.net.layers)
        self.flat_signs: np.ndarray | None = None  # every element's code value, drawn in one call per step
        self.baseline_first_weights: np.ndarray | None = None  # the first layer's weights the baseline read
        # per layer: the perturbed elements' amplitude mismatch (None, or (None, None) for weights: none)
        self.mismatch = self.chip.weight_mismatch if self.mgd.perturbation == "weight" else self.chip.node_mismatch
        self.matched = all(m is None or (isinstance(m, tuple) and all(e is None for e in m)) for m in self.mismatch)
        self.perturbation_step = 0
        self.k = strategy(self.mgd).total(self.net)
        # Node perturbation with an unperturbed baseline integrates ΔC·s ⊗ x, where x (the baseline's layer
        # inputs) is held until the next sample or update: ideal accumulators, being linear, may take
        # (Σ ΔC·s) ⊗ x once instead, one local product per held sample rather than per cycle.
        self.defer_node_products = (self.mgd.perturbation == "node" and self.mgd.baseline == "unperturbed"
                                    and self.accumulators.ideal)
        self.node_sums: np.ndarray | None = None  # Σ ΔC·s per node (flat) since the last fold

    def checkpoint(self) -> dict:
        trace = self.baseline_trace
        return {**super().checkpoint(), "x": self.x, "y": self.y, "c0": self.c0,
                "baseline_stale": self.baseline_stale, "perturbation_step": self.perturbation_step,
                "signs": [None if s is None else (list(s) if isinstance(s, tuple) else s) for s in self.signs],
                "theta": [None if t is None else (list(t) if isinstance(t, tuple) else t) for t in self.theta],
                "node_sums": ([None] * len(self.net.layers) if self.node_sums is None else
                              [e.copy() for e in self.source.layer_views(self.node_sums, "node")]),
                "trace": None if trace is None else {
                    "rows": [trace.layer_rows(layer, i) for i, layer in enumerate(self.net.layers)],
                    "pre": trace.pre, "post": trace.post, "argmax": trace.argmax, "output": trace.output}}

    def restore(self, saved: dict) -> None:
        super().restore(saved)
        self.x, self.y, self.c0 = saved["x"], saved["y"], float(saved["c0"])
        self.baseline_stale = bool(saved["baseline_stale"])
        self.baseline_first_weights = None  # no reuse of the restored baseline's first layer: exact either way
        self.perturbation_step = int(saved["perturbation_step"])
        self.signs = [tuple(s) if isinstance(s, list) else s for s in saved["signs"]]
        self.theta = [tuple(t) if isinstance(t, list) else t for t in saved["theta"]]
        if self.signs[0] is not None:  # one flat array again, the layers' signs its views
            kind = self.mgd.perturbation
            self.flat_signs = np.concatenate([a.ravel() for s in self.signs for a in (s if kind == "weight" else (s,))])
            self.signs = self.source.layer_views(self.flat_signs, kind)
        else:
            self.flat_signs = None
        sums = saved.get("node_sums", [None])
        self.node_sums = (None if all(e is None for e in sums) else
                          np.concatenate([np.asarray(e, dtype=np.float32).ravel() for e in sums]))
        t = saved["trace"]
        self.baseline_trace = None if t is None else compute.Trace(t["rows"], t["pre"], t["post"], t["argmax"],
                                                                   t["output"])

    def on_sample(self, cycle: int) -> None:
        self.fold_node_sums()
        self.x, self.y = self.stream.take(1)
        self.baseline_stale = True

    def fold_node_sums(self) -> None:
        """Into the accumulators: the held node sums times the baseline's layer inputs they belong to."""
        if self.node_sums is None:
            return
        for index, (layer, sums) in enumerate(zip(self.net.layers, self.source.layer_views(self.node_sums, "node"))):
            dw, db = compute.local_product(layer, self.baseline_trace.layer_rows(layer, index), sums)
            self.accumulators.add(index, dw, db, 1.0)
        self.node_sums = None

    def on_perturb(self, cycle: int) -> None:
        """New ±δ states on every perturbation element, drawn for the whole network at once (per layer, views);
        only flipped elements cost energy."""
        kind = self.mgd.perturbation
        flat, flips = self.source.whole_network(self.perturbation_step, kind, self.flat_signs)
        self.chip.counts.perturbation_toggles += flips
        self.flat_signs = flat
        self.signs = self.source.layer_views(flat, kind)
        amp = np.float32(self.amplitude)
        if self.matched:  # no amplitude mismatch: θ = δ·s everywhere, one array operation
            self.theta = self.source.layer_views(amp * flat, kind)
        else:
            self.theta = [_actual_perturbation(amp, s, m) for s, m in zip(self.signs, self.mismatch)]
        self.perturbation_step += 1

    def on_cycle(self, cycle: int) -> None:
        counts = self.chip.counts
        counts.cycles += 1
        counts.accumulator_updates += self.net.parameters
        kind = self.mgd.perturbation
        if kind == "backprop":
            self.accumulate_true_gradient(self.x, self.y)
            return
        if self.mgd.baseline == "antithetic":
            plus, minus, trace = self._perturbed_pair()
            delta_c = 0.5 * (plus - minus)
            self.record_cost(0.5 * (plus + minus))
        else:
            if self.baseline_stale:
                self.baseline_trace = compute.Trace()
                weights = self.chip.read_weights()
                self.baseline_first_weights = weights[0][0]  # what the baseline's first layer read
                self.c0 = self.infer(self.x, self.y, weights, trace=self.baseline_trace)
                self.baseline_stale = False
            trace = self.baseline_trace
            delta_c = self._perturbed(1.0) - self.c0
            self.record_cost(self.c0)
        counts.broadcasts += 1
        dt = self.chip.cycle_s
        if self.defer_node_products:
            if self.node_sums is None:
                self.node_sums = np.zeros_like(self.flat_signs)
            scaled_add(self.node_sums, np.float32(delta_c), self.flat_signs)
            return
        if kind == "weight" and self.accumulators.ideal:
            self.accumulators.add_all(self.flat_signs, delta_c)
            return
        for index in range(len(self.net.layers)):
            if kind == "weight":
                sw, sb = self.signs[index]
                self.accumulators.add(index, sw, sb, delta_c, dt)
            else:
                dw, db = compute.local_product(self.net.layers[index], trace.layer_rows(self.net.layers[index], index), self.signs[index])
                self.accumulators.add(index, dw, db, delta_c, dt)

    def _perturbed(self, sign: float, trace: compute.Trace | None = None) -> float:
        s = np.float32(sign)
        weights = self.chip.read_weights()
        if self.mgd.perturbation == "weight":
            if sign == 1.0:  # 1·θ = θ exactly: one array operation less per layer
                shifted = [(w + tw, b + tb) for (w, b), (tw, tb) in zip(weights, self.theta)]
            else:
                shifted = [(w + s * tw, b + s * tb) for (w, b), (tw, tb) in zip(weights, self.theta)]
            return self.infer(self.x, self.y, shifted, trace=trace, pool_from=self.pool_from())
        theta = self.theta if sign == 1.0 else [s * t for t in self.theta]  # 1·θ = θ exactly: no copies
        # the first layer's MAC is the unperturbed baseline's when this inference reads the very weights the
        # baseline read: devices replace their weight arrays when written, and every noisy read is a new array
        same_first_layer = (trace is None and self.mgd.baseline == "unperturbed"
                            and weights[0][0] is self.baseline_first_weights)
        return self.infer(self.x, self.y, weights, node_theta=theta, trace=trace,
                          reuse=self.baseline_trace if same_first_layer else None, pool_from=self.pool_from())

    def pool_from(self) -> compute.Trace | None:
        """The unperturbed inference whose max-pool winners a perturbed one keeps (held pools; antithetic
        pairs make no unperturbed inference, so their pools compare live)."""
        held = self.pools_held and self.mgd.baseline == "unperturbed"
        return self.baseline_trace if held else None

    def _perturbed_pair(self) -> tuple[float, float, compute.Trace]:
        """C(+θ) and C(−θ); node perturbation takes its layer inputs from the + pass."""
        trace = compute.Trace()
        plus = self._perturbed(1.0, trace)
        return plus, self._perturbed(-1.0), trace

    def on_update(self, cycle: int) -> None:
        if self.mgd.perturbation == "backprop":
            scale = 1.0 / self.timing.tau_theta
        else:
            scale = chip_mode_scale(self.mgd, self.timing, self.amplitude, self.k)
            scale /= self.source.power(0, self.mgd.perturbation)  # the code's mean square (1 but for one-at-a-time)
        self.fold_node_sums()
        self.write_update([scale] * len(self.net.layers))
        self.baseline_stale = True


class PaperMode(Procedure):
    """Algorithm 1: per iteration a mini-batch, a shared baseline, then each layer perturbed in turn."""

    def cycles_per_step(self) -> int:
        return cycles_per_step(self.mgd, len(self.net.layers))

    def layer_size(self, index: int) -> int:
        layer = self.net.layers[index]
        return strategy(self.mgd).elements(layer)

    batch: tuple[np.ndarray, np.ndarray] | None = None  # the mini-batch held for τx iterations

    def checkpoint(self) -> dict:
        held = self.batch
        return {**super().checkpoint(), "batch_x": None if held is None else held[0],
                "batch_y": None if held is None else held[1]}

    def restore(self, saved: dict) -> None:
        super().restore(saved)
        x = saved.get("batch_x")
        self.batch = None if x is None else (np.asarray(x), np.asarray(saved["batch_y"]))

    def on_iteration(self, iteration: int) -> None:
        """One iteration of Algorithm 1: a new mini-batch every τx iterations, new signs every τp."""
        batch = self.mgd.batch_size
        if iteration % self.timing.tau_x == 0 or self.batch is None:
            self.batch = self.stream.take(batch)
        x, y = self.batch
        self.last_batch = (x, y)  # what this iteration measured (studies compare it with backprop)
        step = iteration // self.timing.tau_p
        counts = self.chip.counts
        counts.cycles += self.cycles_per_step()
        counts.accumulator_updates += self.net.parameters
        if self.mgd.perturbation == "backprop":
            self.accumulate_true_gradient(x, y)
            return
        weights = self.chip.read_weights()
        trace = compute.Trace()
        shared_nodes = shares_node_perturbation(self.mgd)
        if shared_nodes:  # every sample's own baseline, to correlate with its own cost change
            c0_each = self.infer(x, y, weights, trace=trace, per_sample=True)
            c0 = float(c0_each.mean())
        else:
            c0 = self.infer(x, y, weights, trace=trace)
        self.record_cost(c0)
        pools = trace if self.pools_held else None
        dt = self.cycles_per_step() * self.chip.cycle_s
        for index in range(len(self.net.layers)):
            amplitude = self.amplitude / np.sqrt(self.layer_size(index))
            if self.mgd.perturbation == "weight":
                (sw, sb), (tw, tb) = self.weight_perturbation(step, index, amplitude)
                shifted = list(weights)
                w, b = weights[index]
                shifted[index] = (w + tw, b + tb)
                delta_c = self.infer(x, y, shifted, start=index, reuse=trace, pool_from=pools) - c0
                self.accumulators.add(index, sw, sb, delta_c, dt)
                counts.perturbation_toggles += 2 * (sw.size + sb.size)
            elif shared_nodes:
                # one sign per node for the whole batch; sample b contributes x_b ⊗ (ΔC_b·s) / B, an unbiased
                # estimate of the batch-mean cost's gradient with only K_l = nodes_l perturbed elements
                signs, theta = self.node_perturbation(step, index, amplitude, 1)
                node_theta: list = [None] * len(self.net.layers)
                node_theta[index] = theta
                delta_each = self.infer(x, y, weights, node_theta=node_theta, start=index,
                                        reuse=trace, pool_from=pools, per_sample=True) - c0_each
                error = signs * (delta_each / batch).astype(np.float32).reshape((batch,) + (1,) * (signs.ndim - 1))
                dw, db = compute.local_product(self.net.layers[index], trace.layer_rows(self.net.layers[index], index), error)
                self.accumulators.add(index, dw, db, 1.0, dt)
                counts.perturbation_toggles += 2 * signs.size
                counts.broadcasts += batch - 1  # each sample's cost change (one more below)
            else:
                signs, theta = self.node_perturbation(step, index, amplitude, batch)
                node_theta = [None] * len(self.net.layers)
                node_theta[index] = theta
                delta_c = self.infer(x, y, weights, node_theta=node_theta, start=index,
                                     reuse=trace, pool_from=pools) - c0
                dw, db = compute.local_product(self.net.layers[index], trace.layer_rows(self.net.layers[index], index), signs)
                self.accumulators.add(index, dw, db, delta_c, dt)
                counts.perturbation_toggles += 2 * signs.size
            counts.broadcasts += 1

    def on_update(self, iteration: int) -> None:
        tau = self.timing.tau_theta
        if self.mgd.perturbation == "backprop":
            self.write_update([1.0 / tau] * len(self.net.layers))
            return
        scales = []
        distinct = max(1, -(-tau // self.timing.tau_p))  # perturbations of an update period, as in chip mode
        for index in range(len(self.net.layers)):
            k = self.layer_size(index)
            scale = 1.0 / (tau * self.amplitude / np.sqrt(k) * self.source.power(index, self.mgd.perturbation))
            if self.normalize():
                scale *= gamma_scale(k, distinct)
            scales.append(scale)
        self.write_update(scales)


def chip_mode_scale(mgd: MGDSpec, timing: Timing, amplitude: float, k: int) -> float:
    """What turns chip mode's accumulated S = Σ ΔC·s into the estimate G = S/(τθ·δ), with Γ when on (over the
    distinct perturbations of an update period: τθ/τp of them)."""
    scale = 1.0 / (timing.tau_theta * amplitude)
    if uses_gamma(mgd):
        scale *= gamma_scale(k, max(1, -(-timing.tau_theta // timing.tau_p)))
    return scale


def _actual_perturbation(amp: np.float32, signs: Any, mismatch: Any) -> Any:
    """θ = δ·s, times each element's amplitude mismatch where the chip has one: for one array (nodes) or a
    (weights, bias) pair, with its mismatch alike (an array, or None)."""
    if isinstance(signs, tuple):
        return tuple(_actual_perturbation(amp, s, m) for s, m in zip(signs, mismatch))
    return amp * signs if mismatch is None else amp * (mismatch * signs)


def _copy_pairs(live: list, saved: list) -> None:
    for (w, b), (sw, sb) in zip(live, saved):
        np.copyto(w, sw)
        np.copyto(b, sb)

