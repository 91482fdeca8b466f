"""The two ways of running MGD on a chip, as clock-domain actions for the engine.

* :class:`ChipMode`: what hardware does naturally. Every parameter (or node) is perturbed at once, a stream
  of single samples, one broadcast cost change per cycle, the baseline cost C0 from an unperturbed inference
  whenever the sample or the weights changed (or from ± antithetic pairs).
* :class:`PaperMode`: the seed paper's Algorithm 1 and published recipe: a mini-batch per iteration, the
  layers perturbed one after another with amplitude δ/sqrt(K_l), one shared baseline, the Γ normalisation.

Both accumulate S = Σ ΔC·θ (node perturbation: the local product with the layer input) and, every τθ,
hand the estimate G = S / (n·σ²) (scaled by Γ when normalising) to the optimizer and write the result.
In ``backprop`` mode the same loop accumulates the true gradient instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.chip.chip import Chip
from neurosim.engine.clocks import ClockDomain
from neurosim.mgd.optimizers import Optimizer
from neurosim.mgd.perturbations import PerturbationSource, gamma_scale
from neurosim.nn import compute, losses
from neurosim.nn.shapes import NetworkShape
from neurosim.spec.workload import MGDSpec

Pairs = list[tuple[np.ndarray, np.ndarray]]


class SampleStream:
    """Training samples in a fresh random order every epoch, from the run's sample stream."""

    def __init__(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> None:
        self.x, self.y, self.rng = x, y, rng
        self.order = rng.permutation(len(y))
        self.position = 0

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray]:
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
        return self.x[index], self.y[index]


@dataclass(frozen=True)
class Timing:
    """The resolved clock-domain periods (cycles; paper mode: iterations)."""

    tau_p: int
    tau_x: int
    tau_theta: int


class Procedure:
    """State shared by both modes: the chip, the accumulators S, the optimizer and the running cost."""

    def __init__(self, chip: Chip, mgd: MGDSpec, loss: str, timing: Timing, stream: SampleStream,
                 perturbations: PerturbationSource) -> None:
        self.chip = chip
        self.net: NetworkShape = chip.net
        self.mgd = mgd
        self.loss = loss
        self.timing = timing
        self.stream = stream
        self.source = perturbations
        self.accumulated: Pairs = [(np.zeros_like(w), np.zeros_like(b)) for w, b in chip.weights()]
        self.optimizer = Optimizer(mgd, self.accumulated)
        self.cost_sum = 0.0
        self.cost_count = 0

    def normalize(self) -> bool:
        return self.mgd.normalize == "gamma" or (self.mgd.normalize == "auto" and self.mgd.mode == "paper")

    def record_cost(self, c0: float) -> None:
        self.cost_sum += c0
        self.cost_count += 1

    def take_mean_cost(self) -> float:
        mean = self.cost_sum / self.cost_count if self.cost_count else float("nan")
        self.cost_sum, self.cost_count = 0.0, 0
        return mean

    def accumulate(self, index: int, dw: np.ndarray, db: np.ndarray, scale: float) -> None:
        acc_w, acc_b = self.accumulated[index]
        acc_w += np.float32(scale) * dw
        acc_b += np.float32(scale) * db

    def write_update(self, estimate_scale: list[float]) -> None:
        """G_l = S_l · scale_l; the optimizer's deltas are written into the devices; S is reset."""
        grads = [(w * np.float32(s), b * np.float32(s)) for (w, b), s in zip(self.accumulated, estimate_scale)]
        self.chip.write(self.optimizer.deltas(grads))
        for w, b in self.accumulated:
            w.fill(0.0)
            b.fill(0.0)


class ChipMode(Procedure):
    """All parameters perturbed at once on a stream of single samples."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None
        self.c0 = 0.0
        self.baseline_trace: compute.Trace | None = None
        self.baseline_stale = True
        self.theta: list = [None] * len(self.net.layers)
        self.perturbation_step = 0
        perturbed = self.net.parameters if self.mgd.perturbation == "weight" else self.net.nodes
        self.k = perturbed

    def domains(self) -> list[ClockDomain]:
        t = self.timing
        domains = [ClockDomain("sample", t.tau_x, 0.0, self.on_sample)]
        if self.mgd.perturbation != "backprop":
            domains.append(ClockDomain("perturbation", t.tau_p, 0.25, self.on_perturb))
        domains.append(ClockDomain("inference", 1, 0.5, self.on_cycle))
        domains.append(ClockDomain("update", t.tau_theta, 0.75, self.on_update, first=t.tau_theta - 1))
        return domains

    def on_sample(self, cycle: int) -> None:
        self.x, self.y = self.stream.take(1)
        self.baseline_stale = True

    def on_perturb(self, cycle: int) -> None:
        """New ±δ states on every perturbation element; only flipped elements cost energy."""
        delta = self.mgd.amplitude
        toggles = 0
        for index in range(len(self.net.layers)):
            old = self.theta[index]
            if self.mgd.perturbation == "weight":
                new = self.source.weight(self.perturbation_step, index, delta)
                toggles += sum(_flips(o, n) for o, n in zip(old or (None, None), new))
            else:
                new = self.source.node(self.perturbation_step, index, delta, 1)
                toggles += _flips(old, new)
            self.theta[index] = new
        self.perturbation_step += 1
        self.chip.counts.perturbation_toggles += toggles

    def _infer(self, weights: Pairs, node_theta: list | None = None,
               trace: compute.Trace | None = None) -> float:
        out = compute.forward(self.net, weights, self.x, node_theta=node_theta, trace=trace)
        counts = self.chip.counts
        counts.inferences += 1
        counts.macs += self.net.macs
        counts.cost_evaluations += 1
        return losses.cost(self.loss, out, self.y)

    def on_cycle(self, cycle: int) -> None:
        counts = self.chip.counts
        counts.cycles += 1
        counts.accumulator_updates += self.net.parameters
        weights = self.chip.weights()
        kind = self.mgd.perturbation
        if kind == "backprop":
            trace = compute.Trace()
            c0 = self._infer(weights, trace=trace)
            grads = compute.backward(self.net, weights, trace,
                                     losses.cost_gradient(self.loss, trace.output, self.y))
            for index, (dw, db) in enumerate(grads):
                self.accumulate(index, dw, db, 1.0)
            self.record_cost(c0)
            return
        if self.mgd.baseline == "antithetic":
            plus, minus, trace = self._perturbed_pair(weights)
            delta_c = 0.5 * (plus - minus)
            self.record_cost(0.5 * (plus + minus))
        else:
            if self.baseline_stale:
                self.baseline_trace = compute.Trace()
                self.c0 = self._infer(weights, trace=self.baseline_trace)
                self.baseline_stale = False
            trace = self.baseline_trace
            delta_c = self._perturbed(weights, 1.0) - self.c0
            self.record_cost(self.c0)
        counts.broadcasts += 1
        for index in range(len(self.net.layers)):
            if kind == "weight":
                tw, tb = self.theta[index]
                self.accumulate(index, tw, tb, delta_c)
            else:
                dw, db = compute.local_product(self.net.layers[index], trace.rows[index], self.theta[index])
                self.accumulate(index, dw, db, delta_c)

    def _perturbed(self, weights: Pairs, sign: float) -> float:
        s = np.float32(sign)
        if self.mgd.perturbation == "weight":
            shifted = [(w + s * tw, b + s * tb) for (w, b), (tw, tb) in zip(weights, self.theta)]
            return self._infer(shifted)
        return self._infer(weights, node_theta=[s * t for t in self.theta])

    def _perturbed_pair(self, weights: Pairs) -> tuple[float, float, compute.Trace]:
        """C(+θ) and C(−θ); node perturbation takes its layer inputs from the + pass."""
        trace = compute.Trace()
        if self.mgd.perturbation == "weight":
            shifted = [(w + tw, b + tb) for (w, b), (tw, tb) in zip(weights, self.theta)]
            plus = self._infer(shifted, trace=trace)
        else:
            plus = self._infer(weights, node_theta=self.theta, trace=trace)
        return plus, self._perturbed(weights, -1.0), trace

    def on_update(self, cycle: int) -> None:
        kind = self.mgd.perturbation
        tau = self.timing.tau_theta
        if kind == "backprop":
            scale = 1.0 / tau
        else:
            scale = 1.0 / (tau * self.mgd.amplitude ** 2)
            if self.normalize():
                scale *= gamma_scale(self.k, max(1, -(-tau // self.timing.tau_p)))
        self.write_update([scale] * len(self.net.layers))
        self.baseline_stale = True


class PaperMode(Procedure):
    """Algorithm 1: per iteration a mini-batch, a shared baseline, then each layer perturbed in turn."""

    def domains(self) -> list[ClockDomain]:
        return [
            ClockDomain("iteration", 1, 0.25, self.on_iteration),
            ClockDomain("update", self.timing.tau_theta, 0.75, self.on_update, first=self.timing.tau_theta - 1),
        ]

    def layer_size(self, index: int) -> int:
        layer = self.net.layers[index]
        return layer.parameters if self.mgd.perturbation == "weight" else layer.nodes

    def _count_inferences(self, batch: int) -> None:
        counts = self.chip.counts
        counts.cycles += batch
        counts.inferences += batch
        counts.macs += batch * self.net.macs
        counts.cost_evaluations += batch

    def on_iteration(self, iteration: int) -> None:
        batch = self.mgd.batch_size
        x, y = self.stream.take(batch)
        weights = self.chip.weights()
        trace = compute.Trace()
        out = compute.forward(self.net, weights, x, trace=trace)
        self._count_inferences(batch)
        c0 = losses.cost(self.loss, out, y)
        self.record_cost(c0)
        counts = self.chip.counts
        counts.accumulator_updates += self.net.parameters
        if self.mgd.perturbation == "backprop":
            grads = compute.backward(self.net, weights, trace, losses.cost_gradient(self.loss, out, y))
            for index, (dw, db) in enumerate(grads):
                self.accumulate(index, dw, db, 1.0)
            return
        step = iteration
        for index in range(len(self.net.layers)):
            amplitude = self.mgd.amplitude / np.sqrt(self.layer_size(index))
            if self.mgd.perturbation == "weight":
                tw, tb = self.source.weight(step, index, amplitude)
                shifted = list(weights)
                w, b = weights[index]
                shifted[index] = (w + tw, b + tb)
                out = compute.forward(self.net, shifted, x, start=index, start_rows=trace.rows[index])
                delta_c = losses.cost(self.loss, out, y) - c0
                self.accumulate(index, tw, tb, delta_c)
                counts.perturbation_toggles += 2 * (tw.size + tb.size)
            else:
                theta = self.source.node(step, index, amplitude, batch)
                node_theta: list = [None] * len(self.net.layers)
                node_theta[index] = theta
                out = compute.forward(self.net, weights, x, node_theta=node_theta, start=index,
                                      start_rows=trace.rows[index])
                delta_c = losses.cost(self.loss, out, y) - c0
                dw, db = compute.local_product(self.net.layers[index], trace.rows[index], theta)
                self.accumulate(index, dw, db, delta_c)
                counts.perturbation_toggles += 2 * theta.size
            self._count_inferences(batch)
            counts.broadcasts += 1

    def on_update(self, iteration: int) -> None:
        tau = self.timing.tau_theta
        if self.mgd.perturbation == "backprop":
            self.write_update([1.0 / tau] * len(self.net.layers))
            return
        scales = []
        for index in range(len(self.net.layers)):
            k = self.layer_size(index)
            sigma2 = self.mgd.amplitude ** 2 / k
            scale = 1.0 / (tau * sigma2)
            if self.normalize():
                scale *= gamma_scale(k, tau)
            scales.append(scale)
        self.write_update(scales)


def _flips(old: np.ndarray | None, new: np.ndarray) -> int:
    if old is None:
        return int(new.size)
    return int(np.count_nonzero(old != new))
