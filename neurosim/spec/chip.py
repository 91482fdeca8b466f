"""The chip file: clocks, crossbar tiles, devices and per-event costs, all in SI units.

YAML keys drop the unit suffix of the Python field (``clock: 10 MHz`` -> ``clock_hz``); counts keep their
unit in the key (``endurance_cycles``).
"""

from __future__ import annotations

from dataclasses import dataclass

from neurosim.errors import ConfigError
from neurosim.spec.fields import integer, nested, number, quantity, text


@dataclass(frozen=True)
class TimingSpec:
    """Clock-domain periods in clock cycles: the chip's power-on defaults; a workload may reprogram them."""

    tau_p: int = integer(default=1, min_value=1, doc="cycles between new perturbations")
    tau_x: int = integer(default=1, min_value=1, doc="cycles between new training samples")
    tau_theta: int = integer(default=1, min_value=1, doc="cycles between weight updates")


@dataclass(frozen=True)
class CrossbarSpec:
    """Size of one crossbar tile; layers are cut into tiles of this size (a bias is one extra row)."""

    rows: int = integer(default=256, min_value=1, doc="inputs (word lines) per tile")
    cols: int = integer(default=256, min_value=1, doc="outputs (bit lines) per tile")


@dataclass(frozen=True)
class WeightDeviceSpec:
    """The slow non-volatile device holding one weight."""

    levels: int | None = integer(default=None, min_value=2, optional=True,
                                 doc="distinct conductance levels; null = analog (any value)")
    write_energy_j: float = quantity("J", default=0.0, allow_min=True, doc="energy per write pulse")
    write_time_s: float = quantity("s", default=0.0, allow_min=True,
                                   doc="duration of one write pulse (all devices written in parallel)")
    endurance_cycles: float = number(default=1e9, min_value=0.0, allow_min=False,
                                     doc="write pulses a device survives")


@dataclass(frozen=True)
class WeightsSpec:
    """Mapping of device conductance onto the signed weight range."""

    w_min: float = number(default=-1.0, doc="weight at the lowest conductance")
    w_max: float = number(default=1.0, doc="weight at the highest conductance")
    device: WeightDeviceSpec = nested(WeightDeviceSpec)

    def check(self, file: str, path: str) -> None:
        if not self.w_min < self.w_max:
            raise ConfigError(file, f"{path}.w_max", f"expected w_max > w_min ({self.w_min:g}), got {self.w_max:g}")


@dataclass(frozen=True)
class PerturbationSpec:
    """The fast volatile transistor in series with each weight (or at each neuron input)."""

    settle_time_s: float = quantity("s", default=0.0, allow_min=True, doc="time for a toggled state to settle")
    toggle_energy_j: float = quantity("J", default=0.0, allow_min=True, doc="energy per perturbation flip")


@dataclass(frozen=True)
class MacSpec:
    """The analog multiply-accumulate of a crossbar read."""

    energy_per_mac_j: float = quantity("J", default=0.0, allow_min=True, key="energy_per_mac",
                                       doc="energy of one multiply-accumulate")
    inference_latency_s: float = quantity("s", default=0.0, allow_min=True, key="inference_latency",
                                          doc="time for one inference through the whole network")


@dataclass(frozen=True)
class CostCircuitSpec:
    """The circuit that compares the output with the target and produces the cost."""

    evaluation_energy_j: float = quantity("J", default=0.0, allow_min=True, doc="energy per cost evaluation")
    latency_s: float = quantity("s", default=0.0, allow_min=True, doc="time per cost evaluation")


@dataclass(frozen=True)
class BusSpec:
    """The global bus that broadcasts the cost change to every synapse."""

    broadcast_energy_j: float = quantity("J", default=0.0, allow_min=True, doc="energy per broadcast")
    latency_s: float = quantity("s", default=0.0, allow_min=True, doc="time per broadcast")


@dataclass(frozen=True)
class AccumulatorSpec:
    """Per-synapse accumulators that integrate the gradient estimate between updates."""

    update_energy_j: float = quantity("J", default=0.0, allow_min=True,
                                      doc="energy per accumulator update (one synapse, one cycle)")


@dataclass(frozen=True)
class ChipSpec:
    clock_hz: float = quantity("Hz", key="clock", doc="clock rate; one cycle is one perturbed inference")
    name: str = text(default="chip")
    timing: TimingSpec = nested(TimingSpec)
    crossbar: CrossbarSpec = nested(CrossbarSpec)
    weights: WeightsSpec = nested(WeightsSpec)
    perturbation: PerturbationSpec = nested(PerturbationSpec)
    mac: MacSpec = nested(MacSpec)
    cost: CostCircuitSpec = nested(CostCircuitSpec)
    bus: BusSpec = nested(BusSpec)
    accumulator: AccumulatorSpec = nested(AccumulatorSpec)
    description: str = text(default="-", doc="free text: what this chip is and where its numbers come from")

    @property
    def cycle_s(self) -> float:
        return 1.0 / self.clock_hz
