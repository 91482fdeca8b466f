"""Timing closure: a cycle must cover perturbation settling, the inferences, cost evaluation and broadcast."""

from __future__ import annotations

from neurosim.errors import ConfigError
from neurosim.spec.chip import ChipSpec
from neurosim.spec.units import format_quantity


def stage_latencies_s(chip: ChipSpec, inferences_per_cycle: int) -> dict[str, float]:
    """The sequential stages of the worst cycle (a perturbed inference plus, right after a new sample or a
    weight update, the unperturbed baseline inference)."""
    return {
        "perturbation settling": chip.perturbation.settle_time_s,
        f"inference (x{inferences_per_cycle})": inferences_per_cycle * chip.mac.inference_latency_s,
        f"cost evaluation (x{inferences_per_cycle})": inferences_per_cycle * chip.cost.latency_s,
        "cost broadcast": chip.bus.latency_s,
    }


def resolve_clock_hz(chip: ChipSpec, inferences_per_cycle: int, file: str | None = None,
                     override_hz: float | None = None) -> float:
    """The clock the run uses: the chip's (or ``override_hz``), checked against the stages; ``auto`` picks
    the fastest feasible clock."""
    stages = stage_latencies_s(chip, inferences_per_cycle)
    needed = sum(stages.values())
    clock = override_hz if override_hz is not None else chip.clock_hz
    slowest = max(stages, key=stages.__getitem__)
    if clock is None:
        if needed <= 0:
            raise ConfigError(file, "chip.clock", "clock: auto needs the stage latencies (perturbation.settle_time, "
                                                  "mac.inference_latency, cost.latency, bus.latency); all are zero")
        return 1.0 / needed
    if 1.0 / clock < needed * (1 - 1e-12):
        raise ConfigError(file, "chip.clock",
                          f"a {format_quantity(clock, 'Hz')} clock gives {format_quantity(1 / clock, 's')} per "
                          f"cycle, but the stages need {format_quantity(needed, 's')}; the slowest stage is "
                          f"{slowest} ({format_quantity(stages[slowest], 's')}); the fastest feasible clock is "
                          f"{format_quantity(1 / needed, 'Hz')} (or use clock: auto)")
    return clock
