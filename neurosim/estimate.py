"""Hardware time, energy and wear of N iterations without training, from the engine's own cost model.

The event counts a run would produce follow from the schedule alone (clock-domain periods, mode, network
size), except two that depend on the training itself: which perturbation elements flip (we take the
expectation, half of them per new perturbation) and how many pulses an update needs (one per device per
update for an analog device; for a device with finite levels, measure it with ``--from RUN.h5``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim.chip.chip import lifetime, pulse_slots
from neurosim.chip.ledger import CostModel, EventCounts
from neurosim.errors import NeurosimError
from neurosim.model import Model, shares_node_perturbation
from neurosim.results import EstimateSummary, TrainingSummary
from neurosim.spec.loader import RunConfig


@dataclass
class Estimate:
    iterations: int
    clock_hz: float
    counts: EventCounts
    max_writes_per_device: float
    assumptions: list[str] = field(default_factory=list)
    lifetime: dict[str, Any] = field(default_factory=dict)
    endurance_used_max: float = 0.0   # max over devices of writes / that device's limit


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def schedule_counts(model: Model, iterations: int) -> tuple[EventCounts, int]:
    """Counts of every event but the writes, and the number of updates that write."""
    mgd, net = model.config.workload.mgd, model.net
    tau_p, tau_x, tau_theta = model.timing.tau_p, model.timing.tau_x, model.timing.tau_theta
    n = iterations
    c = EventCounts()
    c.updates = n // tau_theta
    writing_updates = max(0, c.updates - model.held_updates)
    c.accumulator_updates = n * net.parameters
    if mgd.mode == "chip":
        c.cycles = n
        if not model.strategy.perturbs:
            c.inferences = n
        else:
            c.broadcasts = n
            k = model.strategy.total(net)
            perturbations = _ceil_div(n, tau_p)
            c.perturbation_toggles = round(k + (perturbations - 1) * k / 2)
            if mgd.baseline == "antithetic":
                c.inferences = 2 * n
            else:  # a baseline whenever the sample changed or the weights were just updated
                both = tau_x * tau_theta // math.gcd(tau_x, tau_theta)
                baselines = _ceil_div(n, tau_x) + _ceil_div(n, tau_theta) - _ceil_div(n, both)
                c.inferences = n + baselines
    else:
        batch = mgd.batch_size
        layers = len(net.layers) if model.strategy.perturbs else 0
        c.cycles = c.inferences = n * model.cycles_per_step
        if layers:
            shared = shares_node_perturbation(mgd)
            c.broadcasts = n * layers * (batch if shared else 1)  # shared: every sample's own cost change
            copies = 1 if shared else batch                        # node perturbations held over the batch
            held = copies if model.strategy.per_sample else 1
            per_layer = [held * model.strategy.elements(l) for l in net.layers]
            c.perturbation_toggles = n * 2 * sum(per_layer)
    c.macs = c.inferences * net.macs
    c.cost_evaluations = c.inferences
    return c, writing_updates


def estimate(model: Model, iterations: int) -> Estimate:
    """The expected ledger of ``iterations`` iterations, priced by the same CostModel as a run."""
    config, net, clock_hz = model.config, model.net, model.clock_hz
    counts, writing = schedule_counts(model, iterations)
    device = config.chip.weights.device
    assumptions = ["perturbation toggles: the expectation, half of the elements flip per new perturbation"]
    if device.levels is not None:
        assumptions.append("write pulses: one per device per update (a device with finite levels may need "
                           "more or fewer; use --from RUN.h5 to take the measured rate)")
    elif not model.strategy.every_weight_moves:
        assumptions.append("write pulses: every device changes at every update (with node perturbation or "
                           "backprop, a weight whose input was zero throughout an update is not written, so this "
                           "is an upper bound; use --from RUN.h5 for the measured rate)")
    counts.write_pulses = writing * net.parameters
    counts.write_rounds = writing
    # every device written once per update: the write time of one update, by the configured parallelism
    slots = max(pulse_slots(config.chip, np.ones((layer.fan_in + 1, layer.fan_out), np.int64))
                for layer in net.layers)
    update_period_s = model.timing.tau_theta * model.cycles_per_step / clock_hz
    counts.write_stall_s = writing * CostModel(config.chip, clock_hz).write_stall_s(slots * device.write_time_s,
                                                                                     update_period_s)
    per_device = float(writing)
    devices = net.parameters * (2 if config.chip.weights.encoding == "pair" else 1)
    limits = _expected_limits(device.endurance_cycles, device.endurance_spread, devices)
    # in a pair only one device of each weight is pulsed per update; the busier one bounds the lifetime
    writes = np.full(limits.shape, per_device)
    return Estimate(iterations, clock_hz, counts, per_device, assumptions, lifetime(writes, limits),
                    float((writes / limits).max()))


def _expected_limits(endurance: float, spread: float, devices: int) -> np.ndarray:
    """Endurance limits at evenly spaced quantiles of the log-normal spread (deterministic)."""
    if spread <= 0:
        return np.full(devices, endurance)
    from scipy.stats import norm

    quantiles = (np.arange(devices) + 0.5) / devices
    return endurance * np.exp(spread * norm.ppf(quantiles))


def from_run(summary: TrainingSummary, iterations: int, clock_hz: float, held_updates: int = 0,
             tau_theta: int | None = None) -> Estimate:
    """Extrapolate a simulated run's measured ledger to ``iterations`` at ``clock_hz``. The writes scale with
    the updates that write: the first ``held_updates`` (the learning-rate hold) write nothing, however long
    the run, so a run of 2000 iterations held for 1000 measures the writes of 1000 updates, not 2000."""
    factor = iterations / summary.iterations
    events = EventCounts(**summary.events)
    counts = events.scaled(factor)
    notes = [f"scaled from a simulated run of {summary.iterations} iterations"]
    write_factor = factor
    if held_updates:
        tau = tau_theta or summary.tau_theta
        measured = max(0, events.updates - held_updates)
        wanted = max(0, iterations // tau - held_updates)
        if measured == 0 and wanted > 0:
            raise NeurosimError(f"the run made no update that writes (its {events.updates} updates are all within "
                                f"the learning-rate hold of {held_updates}): its writes cannot be extrapolated; "
                                "use --iterations N instead, or a run longer than the hold")
        write_factor = wanted / measured if measured else 0.0
        notes.append(f"writes scaled by the updates that write: {wanted} of {measured} measured "
                     f"(the first {held_updates} updates are held)")
        writes = events.scaled(write_factor)
        counts.write_pulses, counts.write_rounds = writes.write_pulses, writes.write_rounds
        counts.write_stall_s = writes.write_stall_s
    trainings = summary.lifetime_trainings_first_failure
    one_pct = summary.lifetime_trainings_1pct
    life = {"lifetime_trainings_first_failure": None if trainings is None or not write_factor
            else trainings / write_factor,
            "lifetime_trainings_1pct": None if one_pct is None or not write_factor else one_pct / write_factor}
    return Estimate(iterations, clock_hz, counts, summary.weight_writes_max_per_device * write_factor,
                    notes, life, summary.endurance_used_max * write_factor)


def estimate_summary(config: RunConfig, result: Estimate) -> EstimateSummary:
    model = CostModel(config.chip, result.clock_hz)
    counts = result.counts
    return EstimateSummary(
        chip=config.chip.name, workload=config.workload.name, iterations=result.iterations,
        clock_hz=result.clock_hz,
        simulated_time_s=model.time_s(counts),
        energy_j=model.energy_j(counts),
        energy_by_component_j=model.energy_by_component_j(counts),
        events=counts.as_dict(),
        weight_writes_total=counts.write_pulses,
        weight_writes_max_per_device=result.max_writes_per_device,
        endurance_used_max=result.endurance_used_max,
        **result.lifetime,
        assumptions=result.assumptions,
    )
