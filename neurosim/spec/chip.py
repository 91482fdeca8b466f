"""The chip file: clocks, crossbar tiles, devices and per-event costs, all in SI units.

YAML keys drop the unit suffix of the Python field (``clock: 10 MHz`` -> ``clock_hz``); counts and
dimensionless fractions keep their meaning in the key (``endurance_cycles``, ``write_noise``).
Weights are handled in normalised device units: a device state p in [0, 1] is its conductance as a fraction
of its range, and ``step`` fractions are of that range.
"""

from __future__ import annotations

from dataclasses import dataclass

from neurosim.errors import ConfigError
from neurosim.kernels.device_models import DeviceModel
from neurosim.spec.fields import choice, integer, nested, number, quantity, text


@dataclass(frozen=True)
class TimingSpec:
    """Clock-domain periods in clock cycles: the chip's power-on defaults; a workload may reprogram them."""

    tau_p: int = integer(default=1, min_value=1, doc="cycles between new perturbations")
    tau_x: int = integer(default=1, min_value=1, doc="cycles between new training samples")
    tau_theta: int = integer(default=1, min_value=1, doc="cycles between weight updates")


@dataclass(frozen=True)
class CrossbarSpec:
    """Size of one crossbar tile; layers are cut into tiles of this size (a bias is one extra row).
    Tiles work in parallel; each has its own write circuit."""

    rows: int = integer(default=256, min_value=1, doc="inputs (word lines) per tile")
    cols: int = integer(default=256, min_value=1, doc="outputs (bit lines) per tile")


@dataclass(frozen=True)
class WeightDeviceSpec:
    """The slow non-volatile device holding one weight (or one half of a differential pair)."""

    g_min_s: float = quantity("S", default=1e-6, doc="lowest conductance (reported; weights use the normalised state)")
    g_max_s: float = quantity("S", default=1e-4, doc="highest conductance")
    levels: int | None = integer(default=None, min_value=2, optional=True,
                                 doc="distinct conductance levels; null = analog (one pulse sets any value)")
    model: str = choice(tuple(DeviceModel.by_name), default="linear",
                        doc="pulse response (neurosim/kernels/device_models.py, a class each): linear steps; soft "
                            "bounds (step shrinks towards the bound); NeuroSim's exponential pulse-response curves")
    nonlinearity_up: float = number(default=0.0,
                                    doc="exponential model: ν = Pmax/A of the potentiation curve (0 = linear; "
                                        "ν > 0 saturating, ν < 0 accelerating); NeuroSim label NL -> 1/getParamA(NL)")
    nonlinearity_down: float = number(default=0.0, doc="the same for depression (mirrored curve)")
    asymmetry: float = number(default=0.0, min_value=-0.99, max_value=0.99,
                              doc="up/down step imbalance: up steps are (1+a) and down steps (1-a) times nominal")
    write_noise: float = number(default=0.0, min_value=0.0,
                                doc="cycle-to-cycle write noise: std of each pulse's change, in the device's own steps "
                                    "(analog devices: std of each write's error, as a fraction of the range)")
    write_noise_model: str = choice(("additive", "multiplicative"), default="additive",
                                    doc="additive (NeuroSim): std write_noise x the device's own step x sqrt(pulses); "
                                        "multiplicative (aihwkit mult_noise): each pulse off by write_noise x its "
                                        "actual step, std write_noise x the actual change / sqrt(pulses)")
    step_variation: float = number(default=0.0, min_value=0.0,
                                   doc="device-to-device std of the step size, relative (fixed per chip)")
    range_variation: float = number(default=0.0, min_value=0.0,
                                    doc="device-to-device std of the conductance range, relative (fixed per chip)")
    read_noise: float = number(default=0.0, min_value=0.0,
                               doc="std of the weight read at each inference, as a fraction of the weight range")
    write_energy_j: float = quantity("J", default=0.0, allow_min=True, doc="energy per write pulse")
    write_time_s: float = quantity("s", default=0.0, allow_min=True, doc="duration of one write pulse")
    endurance_cycles: float = number(default=1e9, min_value=0.0, allow_min=False,
                                     doc="write pulses a device survives")
    endurance_spread: float = number(default=0.0, min_value=0.0,
                                     doc="device-to-device spread of endurance: sigma of its natural log")
    failure_mode: str = choice(("stuck", "low", "high"), default="stuck",
                               doc="a worn-out device stays at its value, or at the low or high conductance")

    def check(self, file: str, path: str) -> None:
        if not self.g_min_s < self.g_max_s:
            raise ConfigError(file, f"{path}.g_max", "expected g_max > g_min")
        if DeviceModel.by_name[self.model].needs_levels and self.levels is None:
            raise ConfigError(file, f"{path}.levels", f"the {self.model} model needs a finite number of levels")
        for key, value in (("asymmetry", self.asymmetry), ("step_variation", self.step_variation)):
            if value != 0 and self.levels is None:
                raise ConfigError(file, f"{path}.{key}", f"{key} acts on pulse steps and needs a finite number of "
                                                         f"levels (an analog device takes any change in one pulse)")


@dataclass(frozen=True)
class WriteSpec:
    """How an update becomes pulses, and how long writing takes."""

    rounding: str = choice(("accumulate", "stochastic"), default="accumulate",
                           doc="below-one-step remainders stay in the accumulator, or round stochastically")
    parallelism: str = choice(("all", "row", "device"), default="all",
                              doc="devices written at once per tile: all, one row at a time, one device at a time")
    during_write: str = choice(("stall", "perturb"), default="stall",
                               doc="the chip stalls while writing, or keeps perturbing (only the excess over "
                                   "the update period costs time)")


@dataclass(frozen=True)
class WeightsSpec:
    """Mapping of device conductance onto the signed weight range."""

    w_min: float = number(default=-1.0, doc="weight at the lowest conductance")
    w_max: float = number(default=1.0, doc="weight at the highest conductance")
    encoding: str = choice(("single", "pair"), default="single",
                           doc="one device per weight (offset mapping), or a differential pair G+ - G-")
    refresh_threshold: float | None = number(default=None, min_value=0.0, max_value=1.0, allow_min=False,
                                             optional=True,
                                             doc="pairs: when a device passes this state while its partner also "
                                                 "holds conductance, both are reset and the weight reprogrammed "
                                                 "onto one (costs pulses); null = never")
    device: WeightDeviceSpec = nested(WeightDeviceSpec)
    write: WriteSpec = nested(WriteSpec)

    def check(self, file: str, path: str) -> None:
        if not self.w_min < self.w_max:
            raise ConfigError(file, f"{path}.w_max", f"expected w_max > w_min ({self.w_min:g}), got {self.w_max:g}")
        if self.refresh_threshold is not None and self.encoding != "pair":
            raise ConfigError(file, f"{path}.refresh_threshold", "a refresh applies to differential pairs only")
        if self.encoding == "pair" and self.w_min != -self.w_max:
            raise ConfigError(file, f"{path}.w_min", "a differential pair spans a symmetric range: w_min = -w_max")


@dataclass(frozen=True)
class PerturbationSpec:
    """The fast volatile transistor in series with each weight (or at each neuron input)."""

    amplitude: float = number(default=0.01, min_value=0.0, allow_min=False,
                              doc="perturbation amplitude δ in weight units (power-on default; a workload's "
                                  "mgd.amplitude reprograms it)")
    mismatch: float = number(default=0.0, min_value=0.0,
                             doc="device-to-device std of the amplitude, relative (fixed per chip)")
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
    """The circuit that compares the output with the target and digitises the cost."""

    evaluation_energy_j: float = quantity("J", default=0.0, allow_min=True, doc="energy per cost evaluation")
    latency_s: float = quantity("s", default=0.0, allow_min=True, doc="time per cost evaluation")
    bits: int | None = integer(default=None, min_value=1, max_value=32, optional=True,
                               doc="ADC resolution of the cost; null = exact")
    full_scale: float = number(default=8.0, min_value=0.0, allow_min=False,
                               doc="cost at the top of the ADC range (with bits set, costs are clipped to "
                                   "[0, full_scale])")
    noise: float = number(default=0.0, min_value=0.0, doc="std of the noise added to each cost, in cost units")


@dataclass(frozen=True)
class BusSpec:
    """The global bus that broadcasts the cost change to every synapse."""

    broadcast_energy_j: float = quantity("J", default=0.0, allow_min=True, doc="energy per broadcast")
    latency_s: float = quantity("s", default=0.0, allow_min=True, doc="time per broadcast")


@dataclass(frozen=True)
class AccumulatorSpec:
    """Per-synapse accumulators that integrate ΔC x (perturbation sign) between updates."""

    update_energy_j: float = quantity("J", default=0.0, allow_min=True,
                                      doc="energy per accumulator update (one synapse, one cycle)")
    bits: int | None = integer(default=None, min_value=2, max_value=32, optional=True,
                               doc="resolution over ±full_scale; null = exact")
    full_scale: float | None = number(default=None, min_value=0.0, allow_min=False, optional=True,
                                      doc="saturation level, in units of ΔC x sign (x input for node "
                                          "perturbation); null = no saturation")
    leak_time_s: float | None = quantity("s", default=None, optional=True,
                                         doc="leak time constant of the stored value; null = no leak")

    def check(self, file: str, path: str) -> None:
        if self.bits is not None and self.full_scale is None:
            raise ConfigError(file, f"{path}.full_scale", "a finite accumulator resolution needs a full_scale")

    @property
    def ideal(self) -> bool:
        """Exact and linear: no saturation (and so no resolution, which needs a full scale) and no leak."""
        return self.full_scale is None and self.leak_time_s is None


@dataclass(frozen=True)
class ChipSpec:
    clock_hz: float | None = quantity("Hz", key="clock", allow_auto=True,
                                      doc="clock rate, or auto: the fastest the stage latencies allow")
    name: str = text(default="chip", doc="a short name for reports")
    timing: TimingSpec = nested(TimingSpec)
    crossbar: CrossbarSpec = nested(CrossbarSpec)
    weights: WeightsSpec = nested(WeightsSpec)
    perturbation: PerturbationSpec = nested(PerturbationSpec)
    mac: MacSpec = nested(MacSpec)
    cost: CostCircuitSpec = nested(CostCircuitSpec)
    bus: BusSpec = nested(BusSpec)
    accumulator: AccumulatorSpec = nested(AccumulatorSpec)
    description: str = text(default="-", doc="free text: what this chip is and where its numbers come from")
