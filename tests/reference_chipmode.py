"""The reference twin of compiled chip mode (:mod:`neurosim.kernels.chipmode`, driven by
:class:`neurosim.mgd.fused.FusedChipMode`): the same cycle in numpy over the production network, chip and
periphery code, event by event. The tests run both on one configuration and compare events, weights and
costs; production keeps the compiled cycle only.

``twin_simulation(config, ...)`` is a :class:`~neurosim.simulation.Simulation` whose procedure is the twin.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurosim.mgd.procedures import Procedure, _actual_perturbation, _copy_pairs, chip_mode_scale  # noqa: F401
from neurosim.mgd.perturbations import PerturbationSource
from neurosim.model import strategy
from neurosim.nn import compute
from neurosim.simulation import Simulation
from neurosim import streams
from neurosim.kernels.devices import D_READ_SIGMA_W
from reference_devices import normal, stream_base


def twin_simulation(config, **kwargs) -> Simulation:  # noqa: ANN001
    """A Simulation of ``config`` (chip-mode MGD) with the twin as its procedure, stepped event by event."""
    sim = Simulation(config, **kwargs)
    workload = config.workload
    key = streams.key(sim.seed, streams.PERTURBATIONS)
    stream = sim.procedure.stream
    sim.procedure = ChipModeTwin(sim.chip, workload.mgd, workload.loss, sim.timing, sim.model.amplitude, stream,
                                 PerturbationSource(key, sim.net, workload.mgd.code),
                                 pools_held=workload.network.pool_selection == "held")
    sim.engine = sim.make_engine(coalesce=False)
    return sim


class ChipModeTwin(Procedure):
    """All parameters perturbed at once on a stream of single samples: chip mode in numpy, event by event."""

    engine_path = "Python events (the tests' reference twin)"

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
                    "inputs": trace.inputs, "pre": trace.pre, "post": trace.post, "argmax": trace.argmax,
                    "output": trace.output}}

    def restore(self, saved: dict) -> None:
        super().restore(saved)
        self.x, self.y, self.c0 = saved["x"], saved["y"], float(saved["c0"])
        self.baseline_stale = bool(saved["baseline_stale"])
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
        self.baseline_trace = None if t is None else compute.Trace(t["pre"], t["post"], t["argmax"], t["output"],
                                                                   t["inputs"])

    def on_sample(self, cycle: int) -> None:
        self.fold_node_sums()
        self.x, self.y = self.stream.take(1)
        self.baseline_stale = True

    def fold_node_sums(self) -> None:
        """Into the accumulators: the held node sums times the baseline's layer inputs they belong to."""
        if self.node_sums is None:
            return
        for index, (layer, sums) in enumerate(zip(self.net.layers, self.source.layer_views(self.node_sums, "node"))):
            dw, db = compute.local_product(layer, self.baseline_trace.inputs[index], sums)
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
                weights, read = self.read()
                self.c0 = self.read_infer(read, self.x, self.y, weights, trace=self.baseline_trace)
                self.baseline_stale = False
            trace = self.baseline_trace
            delta_c = self._perturbed(1.0) - self.c0
            self.record_cost(self.c0)
        counts.broadcasts += 1
        dt = self.chip.cycle_s
        if self.defer_node_products:
            if self.node_sums is None:
                self.node_sums = np.zeros_like(self.flat_signs)
            self.node_sums += np.float32(delta_c) * self.flat_signs  # one rounding for the product, one for the sum
            return
        if kind == "weight" and self.accumulators.ideal:  # the whole network at once
            self.accumulators.flat += np.float32(delta_c) * self.flat_signs
            return
        for index in range(len(self.net.layers)):
            if kind == "weight":
                sw, sb = self.signs[index]
                self.accumulators.add(index, sw, sb, delta_c, dt)
            else:
                dw, db = compute.local_product(self.net.layers[index], trace.inputs[index], self.signs[index])
                self.accumulators.add(index, dw, db, delta_c, dt)

    def _perturbed(self, sign: float, trace: compute.Trace | None = None) -> float:
        s = np.float32(sign)
        weights, read = self.read()
        if self.mgd.perturbation == "weight":
            if sign == 1.0:  # 1·θ = θ exactly: one array operation less per layer
                shifted = [(w + tw, b + tb) for (w, b), (tw, tb) in zip(weights, self.theta)]
            else:
                shifted = [(w + s * tw, b + s * tb) for (w, b), (tw, tb) in zip(weights, self.theta)]
            return self.read_infer(read, self.x, self.y, shifted, trace=trace, pool_from=self.pool_from())
        theta = self.theta if sign == 1.0 else [s * t for t in self.theta]  # 1·θ = θ exactly: no copies
        return self.read_infer(read, self.x, self.y, weights, node_theta=theta, trace=trace,
                               pool_from=self.pool_from())

    def read(self) -> tuple[list, tuple | None]:
        """(the weights one inference reads, the read noise a dense network takes at its outputs: (σ in weight
        units, the draws' base), else None), as the kernel's ``_read`` numbers the reads."""
        device = self.chip.arrays[0][0]
        sigma = float(device.dc[D_READ_SIGMA_W])
        if sigma == 0 or any(layer.kind != "dense" for layer in self.net.layers):
            return self.chip.read_weights(), None
        base = stream_base(device.read_key, self.chip.reads)
        self.chip.reads += 1
        return self.chip.weights(), (sigma, base)

    def read_infer(self, read: tuple | None, x: np.ndarray, y: np.ndarray, weights: list, *,
                   node_theta: list | None = None, trace: compute.Trace | None = None,
                   pool_from: compute.Trace | None = None) -> float:
        """:meth:`infer`, with a dense network's read noise added at each layer's outputs: σ·sqrt(Σx² + 1)
        times draw (layer's first node + o) of the read, the sum of squares in order in float64, the noise
        then θ added as one float32 term. Layer by layer: each layer's inputs come from a pass with the
        noise of the layers before it."""
        if read is None:
            return self.infer(x, y, weights, node_theta=node_theta, trace=trace, pool_from=pool_from)
        sigma, base = read
        thetas = [None] * len(self.net.layers) if node_theta is None else list(node_theta)
        terms: list = [np.zeros((1, *layer.out_shape), np.float32) for layer in self.net.layers]
        first = 0
        for index, layer in enumerate(self.net.layers):
            probe = compute.Trace()
            compute.forward(self.net, weights, x, node_theta=terms, trace=probe)
            inputs = probe.inputs[index].astype(np.float64).ravel()
            squares = float(np.cumsum(inputs * inputs)[-1]) if inputs.size else 0.0
            noise = (sigma * np.sqrt(squares + 1.0) * normal(base, first + np.arange(layer.nodes))).astype(np.float32)
            noise = noise.reshape(1, *layer.out_shape)
            terms[index] = noise if thetas[index] is None else noise + thetas[index]
            first += layer.nodes
        return self.infer(x, y, weights, node_theta=terms, trace=trace, pool_from=pool_from)

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


