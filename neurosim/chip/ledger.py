"""Event counts and the cost model that turns them into seconds and joules.

Training and estimation share this one model: every engine event adds to :class:`EventCounts`, and
:class:`CostModel` prices the counts with the chip's per-event energies and the resolved clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from neurosim.kernels import devices as device_kernel
from neurosim.spec.chip import ChipSpec

COMPONENTS = ("mac_reads", "perturbation_toggles", "cost_evaluations", "bus_broadcasts",
              "accumulator_updates", "weight_writes")


@dataclass
class EventCounts:
    """What the chip did."""

    cycles: int = 0               # clock cycles (chip mode: MGD time steps; paper mode: sample inferences)
    inferences: int = 0           # single-sample passes through the network (perturbed or not)
    macs: int = 0                 # multiply-accumulates, bias rows included
    perturbation_toggles: int = 0 # perturbation elements whose state flipped
    cost_evaluations: int = 0
    broadcasts: int = 0           # cost changes sent on the global bus
    accumulator_updates: int = 0  # synapse accumulator additions
    updates: int = 0              # weight-update events (every τθ)
    write_pulses: int = 0         # device programming pulses
    write_rounds: int = 0         # update events that wrote at least one device
    write_stall_s: float = 0.0    # time the chip stood still while devices were written

    def scaled(self, factor: float) -> EventCounts:
        """These counts times a factor, rounded (for extrapolating a measured run)."""
        return EventCounts(**{f.name: (getattr(self, f.name) * factor if f.type in ("float", float)
                                        else round(getattr(self, f.name) * factor)) for f in fields(self)})

    def as_dict(self) -> dict[str, float]:
        return dict(asdict(self))


@dataclass(frozen=True)
class CostModel:
    chip: ChipSpec
    clock_hz: float

    def energy_by_component_j(self, counts: EventCounts) -> dict[str, float]:
        chip = self.chip
        return {
            "mac_reads": counts.macs * chip.mac.energy_per_mac_j,
            "perturbation_toggles": counts.perturbation_toggles * chip.perturbation.toggle_energy_j,
            "cost_evaluations": counts.cost_evaluations * chip.cost.evaluation_energy_j,
            "bus_broadcasts": counts.broadcasts * chip.bus.broadcast_energy_j,
            "accumulator_updates": counts.accumulator_updates * chip.accumulator.update_energy_j,
            "weight_writes": counts.write_pulses * chip.weights.device.write_energy_j,
        }

    def energy_j(self, counts: EventCounts) -> float:
        return sum(self.energy_by_component_j(counts).values())

    def write_stall_s(self, write_time_s: float, update_period_s: float) -> float:
        """How long one update's writing stops the chip: all of it, or (keeping on perturbing while devices
        are written) only what exceeds the update period."""
        return device_kernel.write_stall_s(write_time_s, update_period_s,
                                           self.chip.weights.write.during_write == "perturb")

    def time_s(self, counts: EventCounts) -> float:
        """Simulated wall-clock time: the clocked cycles plus the stalls while devices are written."""
        return counts.cycles / self.clock_hz + counts.write_stall_s
