"""The procedures that run in Python, as clock-domain actions for the engine.

* :class:`PaperMode`: the seed paper's Algorithm 1 and published recipe: a mini-batch per iteration, the
  layers perturbed one after another with amplitude δ/sqrt(K_l), one shared baseline, the Γ normalisation;
  one subclass per strategy (weight, node, backprop), found by its ``mgd.perturbation`` name.
* :class:`BackpropChipMode`: chip mode's backprop reference, one sample per cycle.

Chip-mode MGD (every parameter or node perturbed at once on a stream of single samples) is compiled:
:class:`neurosim.mgd.fused.FusedChipMode`.

MGD accumulates S = Σ ΔC·s, s = ±1 the perturbation sign (node perturbation: the local product of ΔC·s
with the layer input) and, every τθ, hand the estimate G = S/(n·δ) (scaled by Γ when normalising) to the
optimizer and write the result. In ``backprop`` mode the same loop accumulates the true gradient instead.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from neurosim.chip.chip import Chip
from neurosim.chip.periphery import Accumulators
from neurosim.errors import NeurosimError
from neurosim.io.state import rng_state, set_rng_state
from neurosim.mgd.optimizers import Optimizer
from neurosim.model import Timing, cycles_per_step, held_updates, shares_node_perturbation, strategy, uses_gamma
from neurosim.mgd.perturbations import PerturbationSource, gamma_scale
from neurosim.nn import compute, losses
from neurosim.nn.shapes import LayerShape, NetworkShape
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
              trace: compute.Trace | None = None, pool_from: compute.Trace | None = None) -> float:
        """A batch of inferences through the chip, the cost as the cost circuit measures it; counted.
        ``pool_from``: the unperturbed pass whose max-pool winners this one keeps (see
        :func:`compute.forward`)."""
        out = compute.forward(self.net, weights, x, node_theta=node_theta, trace=trace, pool_from=pool_from)
        self.count_inferences(1, len(x))
        return self.chip.measure_cost(losses.cost(self.loss.kind, out, y, self.loss.label_smoothing,
                                                   self.loss.reduction))

    def count_inferences(self, passes: int, batch: int) -> None:
        counts = self.chip.counts
        counts.inferences += passes * batch
        counts.macs += passes * batch * self.net.macs
        counts.cost_evaluations += passes * batch

    def accumulate_true_gradient(self, x: np.ndarray, y: np.ndarray) -> float:
        """Backprop mode: one inference, the exact gradient into the accumulators."""
        weights = self.chip.read_weights()
        trace = compute.Trace()
        c0 = self.infer(x, y, weights, trace=trace)
        grads = compute.backward(self.net, weights, trace, losses.cost_gradient(self.loss.kind, trace.output, y,
                                                                                    self.loss.label_smoothing,
                                                                                    self.loss.reduction))
        for index, (dw, db) in enumerate(grads):
            self.accumulators.add(index, dw, db, 1.0, self.cycles_per_step() * self.chip.cycle_s)
        self.record_cost(c0)
        return c0

    def write_update(self, estimate_scale: list[float]) -> None:
        """G_l = S_l · scale_l; the optimizer's deltas are written into the devices; S is reset."""
        change = self.accumulators.take_flat(estimate_scale)
        self.optimizer.step_flat(change)  # G becomes the change to write, in place
        update_period_s = self.timing.tau_theta * self.cycles_per_step() * self.chip.cycle_s
        self.chip.write(self.optimizer.split(change), update_period_s)

    def cycles_per_step(self) -> int:
        return 1

    def node_perturbation(self, step: int, index: int, amplitude: float, batch: int) -> tuple[np.ndarray, np.ndarray]:
        signs = self.source.node(step, index, batch)
        return signs, _actual_perturbation(np.float32(amplitude), signs, self.chip.node_mismatch[index])


class BackpropChipMode(Procedure):
    """Chip mode's reference: a stream of single samples, each one's exact gradient (backprop) accumulated every
    cycle and written every τθ, as a chip with a backward pass would train. MGD's chip mode is compiled
    (:class:`~neurosim.mgd.fused.FusedChipMode`)."""

    engine_path = "Python events (backprop mode)"

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None

    def checkpoint(self) -> dict:
        return {**super().checkpoint(), "x": self.x, "y": self.y}

    def restore(self, saved: dict) -> None:
        super().restore(saved)
        self.x, self.y = saved["x"], saved["y"]

    def on_sample(self, cycle: int) -> None:
        self.x, self.y = self.stream.take(1)

    def on_cycle(self, cycle: int) -> None:
        counts = self.chip.counts
        counts.cycles += 1
        counts.accumulator_updates += self.net.parameters
        self.accumulate_true_gradient(self.x, self.y)

    def on_update(self, cycle: int) -> None:
        self.write_update([1.0 / self.timing.tau_theta] * len(self.net.layers))


class PaperMode(Procedure):
    """Algorithm 1: per iteration a mini-batch (a new one every τx iterations), then what the strategy does with
    it. One subclass per ``mgd.perturbation``, found by that name (:meth:`for_strategy`)."""

    strategy: ClassVar[str]
    engine_path = "Python events (paper mode), each iteration one sweep of compiled layers"
    batch: tuple[np.ndarray, np.ndarray] | None = None  # the mini-batch held for τx iterations

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "strategy" in cls.__dict__:
            PAPER_MODES[cls.strategy] = cls

    @staticmethod
    def for_strategy(name: str) -> type[PaperMode]:
        if name not in PAPER_MODES:
            raise NeurosimError(f"mgd.perturbation: paper mode has no procedure for {name!r} "
                                f"(it has {', '.join(sorted(PAPER_MODES))})")
        return PAPER_MODES[name]

    def cycles_per_step(self) -> int:
        return cycles_per_step(self.mgd, len(self.net.layers))

    def layer_size(self, index: int) -> int:
        return strategy(self.mgd).elements(self.net.layers[index])

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
        if iteration % self.timing.tau_x == 0 or self.batch is None:
            self.batch = self.stream.take(self.mgd.batch_size)
        x, y = self.batch
        self.last_batch = (x, y)  # what this iteration measured (studies compare it with backprop)
        counts = self.chip.counts
        counts.cycles += self.cycles_per_step()
        counts.accumulator_updates += self.net.parameters
        self.iterate(x, y, iteration // self.timing.tau_p)

    def iterate(self, x: np.ndarray, y: np.ndarray, step: int) -> None:
        """Accumulate this iteration's estimate (perturbation ``step``) of the gradient on the batch."""
        raise NotImplementedError

    def estimate_scales(self) -> list[float]:
        """Per layer, what turns the accumulated S into the estimate G handed to the optimizer."""
        raise NotImplementedError

    def on_update(self, iteration: int) -> None:
        self.write_update(self.estimate_scales())


PAPER_MODES: dict[str, type[PaperMode]] = {}


class PaperBackprop(PaperMode):
    """The reference in paper mode: each mini-batch's exact gradient."""

    strategy = "backprop"
    engine_path = "Python events (paper mode, backprop)"

    def iterate(self, x: np.ndarray, y: np.ndarray, step: int) -> None:
        self.accumulate_true_gradient(x, y)

    def estimate_scales(self) -> list[float]:
        return [1.0 / self.timing.tau_theta] * len(self.net.layers)


class PaperPerturbation(PaperMode):
    """MGD in paper mode: a shared baseline, then each layer perturbed in turn with amplitude δ/sqrt(K_l); every
    pass of an iteration made in one sweep over the layers (:func:`compute.perturbed_sweep`), then the costs
    measured in Algorithm 1's order: the baseline's, then each perturbed layer's."""

    def iterate(self, x: np.ndarray, y: np.ndarray, step: int) -> None:
        batch = len(y)
        weights = self.chip.read_weights()
        signs, thetas = self.draw_layers(step, batch)
        sweep = self.sweep(weights, x, thetas)
        passes = len(self.net.layers) + 1
        self.count_inferences(passes, batch)
        rho = losses.per_sample_cost(self.loss.kind, sweep.outputs.reshape(passes * batch, -1), np.tile(y, passes),
                                     self.loss.label_smoothing, self.loss.reduction).reshape(passes, batch)
        c0 = self.measure_baseline(rho)
        self.record_cost(c0)
        self.accumulate_layers(signs, rho, c0, sweep, self.cycles_per_step() * self.chip.cycle_s)

    def draw_layers(self, step: int, batch: int) -> tuple[Any, list]:
        """(signs, the actual perturbation θ of each layer): by default layer by layer (:meth:`draw`)."""
        drawn = [self.draw(step, index, amplitude, batch) for index, amplitude in enumerate(self.layer_amplitudes)]
        return [signs for signs, _ in drawn], [theta for _, theta in drawn]

    def accumulate_layers(self, signs: Any, rho: np.ndarray, c0: float, sweep: compute.Sweep, dt: float) -> None:
        """Each layer's cost change, measured in Algorithm 1's order, into its accumulators; by default layer by
        layer (:meth:`accumulate`), one broadcast each."""
        for index, layer in enumerate(self.net.layers):
            self.accumulate(index, layer, signs[index], rho, c0, sweep, dt)
            self.chip.counts.broadcasts += 1

    def draw(self, step: int, index: int, amplitude: float, batch: int) -> tuple[Any, Any]:
        """(signs, actual perturbation θ) of layer ``index``."""
        raise NotImplementedError

    def sweep(self, weights: Pairs, x: np.ndarray, thetas: list) -> compute.Sweep:
        raise NotImplementedError

    def measure_baseline(self, rho: np.ndarray) -> float:
        """The baseline's cost as the cost circuit measures it: the batch mean of the unperturbed pass."""
        return self.chip.measure_cost(float(rho[0].mean()))

    def accumulate(self, index: int, layer: LayerShape, signs: Any, rho: np.ndarray, c0: float,
                   sweep: compute.Sweep, dt: float) -> None:
        raise NotImplementedError

    @cached_property
    def layer_amplitudes(self) -> list[float]:
        """δ/sqrt(K_l) of each layer: fixed for the run, so worked out once."""
        return [self.amplitude / np.sqrt(self.layer_size(index)) for index in range(len(self.net.layers))]

    def estimate_scales(self) -> list[float]:
        return list(self._estimate_scales)

    @cached_property
    def _estimate_scales(self) -> list[float]:
        tau = self.timing.tau_theta
        distinct = max(1, -(-tau // self.timing.tau_p))  # perturbations of an update period, as in chip mode
        scales = []
        for index in range(len(self.net.layers)):
            k = self.layer_size(index)
            scale = 1.0 / (tau * self.amplitude / np.sqrt(k) * self.source.power(index, self.strategy))
            if self.normalize():
                scale *= gamma_scale(k, distinct)
            scales.append(scale)
        return scales


class PaperWeightPerturbation(PaperPerturbation):
    """Weight perturbation: every layer's signs drawn in one pass and its θ made in one product, flat in
    network order; each layer's ΔC·s added to the accumulators in one sweep (per layer, the draws, products
    and additions took 54 numpy and compiled calls an iteration, a tenth of one at d = 1). The same floats."""

    strategy = "weight"

    def draw_layers(self, step: int, batch: int) -> tuple[np.ndarray, list]:
        signs = self.source.weight_flat(step)
        mismatch = self._flat_mismatch
        theta = self._flat_amplitudes * (signs if mismatch is None else mismatch * signs)
        return signs, self.source.layer_views(theta, "weight")

    def sweep(self, weights: Pairs, x: np.ndarray, thetas: list) -> compute.Sweep:
        return compute.perturbed_sweep(self.net, weights, x, weight_theta=thetas, pools_held=self.pools_held)

    def accumulate_layers(self, signs: np.ndarray, rho: np.ndarray, c0: float, sweep: compute.Sweep,
                          dt: float) -> None:
        layers = self.net.layers
        delta_c = np.array([self.chip.measure_cost(float(rho[index + 1].mean())) - c0 for index in range(len(layers))],
                           dtype=np.float32)
        self.accumulators.add_flat(np.repeat(delta_c, self._layer_sizes) * signs, dt)
        counts = self.chip.counts
        counts.perturbation_toggles += 2 * signs.size
        counts.broadcasts += len(layers)

    @cached_property
    def _layer_sizes(self) -> np.ndarray:
        return np.array([layer.parameters for layer in self.net.layers])

    @cached_property
    def _flat_amplitudes(self) -> np.ndarray:
        """δ/sqrt(K_l) of each element's layer, float32, flat in network order."""
        return np.repeat(np.array([np.float32(a) for a in self.layer_amplitudes], dtype=np.float32), self._layer_sizes)

    @cached_property
    def _flat_mismatch(self) -> np.ndarray | None:
        """Each weight's perturbation amplitude mismatch, flat in network order (None: all nominal)."""
        pairs = self.chip.weight_mismatch
        if all(m is None for pair in pairs for m in pair):
            return None
        return np.concatenate([m.ravel() for pair in pairs for m in pair]).astype(np.float32)


class PaperNodePerturbation(PaperPerturbation):
    """Node perturbation, its update the local product of ΔC·s with the layer's input. With ``mgd.node_batch:
    shared`` one sign per node for the whole batch and every sample's own cost change broadcast, else one sign
    per sample and node and the batch-mean cost's change."""

    strategy = "node"

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.shared = shares_node_perturbation(self.mgd)
        self.each: np.ndarray | None = None  # shared: every sample's measured cost, per pass

    def draw(self, step: int, index: int, amplitude: float, batch: int) -> tuple[Any, Any]:
        return self.node_perturbation(step, index, amplitude, 1 if self.shared else batch)

    def sweep(self, weights: Pairs, x: np.ndarray, thetas: list) -> compute.Sweep:
        return compute.perturbed_sweep(self.net, weights, x, node_theta=thetas, pools_held=self.pools_held)

    def measure_baseline(self, rho: np.ndarray) -> float:
        if not self.shared:
            return super().measure_baseline(rho)
        # every sample's own cost change, measured one by one, the baseline's first
        self.each = self.chip.measure_costs(rho.reshape(-1)).reshape(rho.shape)
        return float(self.each[0].mean())

    def accumulate(self, index: int, layer: LayerShape, signs: Any, rho: np.ndarray, c0: float,
                   sweep: compute.Sweep, dt: float) -> None:
        counts = self.chip.counts
        counts.perturbation_toggles += 2 * signs.size
        if self.shared:
            # sample b contributes x_b ⊗ (ΔC_b·s) / B, an unbiased estimate of the batch-mean cost's
            # gradient with only K_l = nodes_l perturbed elements: summed as (Σ_b x_b·ΔC_b/B) ⊗ s
            each = self.each
            batch = each.shape[1]
            delta_each = each[index + 1] - each[0]
            dw, db = compute.shared_error_local_product(layer, sweep.inputs[index],
                                                        (delta_each / batch).astype(np.float32), signs)
            self.accumulators.add(index, dw, db, 1.0, dt)
            counts.broadcasts += batch - 1  # each sample's cost change (one more after this)
        else:
            delta_c = self.chip.measure_cost(float(rho[index + 1].mean())) - c0
            dw, db = compute.local_product(layer, sweep.inputs[index], signs)
            self.accumulators.add(index, dw, db, delta_c, dt)


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

