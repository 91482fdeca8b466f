"""The Chip assembly: a network mapped onto crossbar tiles of weight devices, with its periphery."""

from __future__ import annotations

import math

import numpy as np

from neurosim import streams
from neurosim.chip.devices import DeviceArray
from neurosim.chip.ledger import CostModel, EventCounts
from neurosim.chip.periphery import CostCircuit
from neurosim.kernels import devices as device_kernel
from neurosim.nn.shapes import NetworkShape
from neurosim.spec.chip import ChipSpec


class Chip:
    """Live state of one chip instance: device arrays per layer (weights and bias row), the cost circuit,
    perturbation-amplitude mismatch, and the ledger of what it did."""

    def __init__(self, spec: ChipSpec, net: NetworkShape, initial: list[tuple[np.ndarray, np.ndarray]], *,
                 seed: int, clock_hz: float) -> None:
        self.spec = spec
        self.net = net
        self.clock_hz = clock_hz
        variation = streams.stream(seed, streams.DEVICE_VARIATION)
        write_key, read_key = streams.key(seed, streams.WRITE_NOISE), streams.key(seed, streams.READ_NOISE)
        self.arrays = []
        offset = 0  # the chip's weights in order, each layer's weights then its bias: the draws' indices
        for w, b in initial:
            weight = DeviceArray(spec.weights, w, variation, write_key, read_key, offset)
            bias = DeviceArray(spec.weights, b, variation, write_key, read_key, offset + w.size)
            self.arrays.append((weight, bias))
            offset += w.size + b.size
        self.reads = 0  # inferences that read the weights so far: the counter of the read-noise draws
        self.cost_circuit = CostCircuit(spec.cost, streams.key(seed, streams.COST_NOISE))
        self.counts = EventCounts()
        self.cost_model = CostModel(spec, clock_hz)
        mismatch = streams.stream(seed, streams.MISMATCH)
        sigma = spec.perturbation.mismatch

        def spread(shape: tuple[int, ...]) -> np.ndarray | None:
            if sigma <= 0:
                return None
            return np.maximum(1.0 + sigma * mismatch.standard_normal(shape), 0.0).astype(np.float32)

        # relative amplitude of each perturbation transistor, fixed per chip (None: all nominal)
        self.weight_mismatch = [(spread((l.fan_in, l.fan_out)), spread((l.fan_out,))) for l in net.layers]
        self.node_mismatch = [spread(l.out_shape) for l in net.layers]

    def checkpoint(self) -> dict:
        return {
            "arrays": [{"weight": w.checkpoint(), "bias": b.checkpoint()} for w, b in self.arrays],
            "counts": self.counts.as_dict(),
            "reads": self.reads,
            "cost_measurements": self.cost_circuit.measurements,
        }

    def restore(self, saved: dict) -> None:
        for (w, b), entry in zip(self.arrays, saved["arrays"]):
            w.restore(entry["weight"])
            b.restore(entry["bias"])
        self.counts = EventCounts(**saved["counts"])
        self.reads = int(saved.get("reads", 0))
        self.cost_circuit.measurements = int(saved.get("cost_measurements", 0))

    @property
    def cycle_s(self) -> float:
        return 1.0 / self.clock_hz

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The weights the devices currently hold (live arrays; do not modify)."""
        return [(w.value, b.value) for w, b in self.arrays]

    def read_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The weights as one inference sees them (with read noise when the device has any)."""
        if self.spec.weights.device.read_noise <= 0:
            return self.weights()
        reads = [(w.read(self.reads), b.read(self.reads)) for w, b in self.arrays]
        self.reads += 1
        return reads

    def measure_cost(self, cost: float) -> float:
        return self.cost_circuit.measure(cost)

    def measure_costs(self, costs: np.ndarray) -> np.ndarray:
        """Per-sample costs through the cost circuit (one measurement each)."""
        return self.cost_circuit.measure_each(costs)

    def write(self, deltas: list[tuple[np.ndarray, np.ndarray]], update_period_s: float) -> int:
        """Write one update into every device; account pulses, write time and the stall it causes."""
        pulses = 0
        busiest = 0.0
        all_at_once = self.spec.weights.write.parallelism == "all"
        for (w, b), (dw, db) in zip(self.arrays, deltas):
            (pw, total_w, most_w), (pb, total_b, most_b) = (w.write_counted(dw, not all_at_once),
                                                            b.write_counted(db, not all_at_once))
            pulses += total_w + total_b
            if all_at_once:  # tiles in parallel, every device at once: the most pulses any device gets
                busiest = max(busiest, most_w, most_b)
            else:
                busiest = max(busiest, pulse_slots(self.spec, np.vstack([pw, pb[None, :]])))
        stall = self.cost_model.write_stall_s(busiest * self.spec.weights.device.write_time_s, update_period_s)
        counts = self.counts
        counts.updates += 1
        counts.write_pulses += pulses
        if pulses:
            counts.write_rounds += 1
        counts.write_stall_s += stall
        return pulses

    def writes_per_layer(self) -> list[np.ndarray]:
        """Per-device write counts of each layer, flattened: weight devices then the bias row
        (for pairs: weights G+, weights G−, bias G+, bias G−)."""
        return [np.concatenate([w.writes.ravel(), b.writes.ravel()]) for w, b in self.arrays]

    def failed_per_layer(self) -> list[np.ndarray]:
        return [np.concatenate([w.failed.ravel(), b.failed.ravel()]) for w, b in self.arrays]

    def endurance_per_layer(self) -> list[np.ndarray]:
        return [np.concatenate([w.endurance.ravel(), b.endurance.ravel()]) for w, b in self.arrays]

    def wear_summary(self) -> dict[str, object]:
        writes_by_layer = self.writes_per_layer()
        failed_by_layer = self.failed_per_layer()
        writes = np.concatenate(writes_by_layer)
        limits = np.concatenate(self.endurance_per_layer())
        endurance = self.spec.weights.device.endurance_cycles
        return {
            "devices": int(writes.size),
            "weight_writes_total": int(writes.sum()),
            "weight_writes_max_per_device": int(writes.max()),
            "weight_writes_mean_per_device": float(writes.mean()),
            "endurance_cycles": float(endurance),
            "endurance_used_max": float((writes / limits).max()),
            "failed_devices": int(sum(int(f.sum()) for f in failed_by_layer)),
            **lifetime(writes, limits),
            "wear_by_layer": [{
                "layer": layer.name, "devices": int(w.size), "writes_total": int(w.sum()),
                "writes_max": int(w.max()), "writes_mean": float(w.mean()), "failed": int(f.sum()),
            } for layer, w, f in zip(self.net.layers, writes_by_layer, failed_by_layer)],
        }

    def tiles_per_layer(self) -> list[int]:
        xbar = self.spec.crossbar
        return [layer.tiles(xbar.rows, xbar.cols) for layer in self.net.layers]


def pulse_slots(spec: ChipSpec, pulses: np.ndarray) -> float:
    """Pulse durations the slowest tile needs to write one layer's pulses (rows = crossbar rows, bias row
    included), given the write parallelism: all devices at once, a row at a time, or a device at a time."""
    rows, cols = pulses.shape
    xbar = spec.crossbar
    return float(device_kernel.pulse_slots(np.ascontiguousarray(pulses, dtype=np.int64).reshape(-1), rows, cols,
                                           xbar.rows, xbar.cols,
                                           device_kernel.PARALLELISMS[spec.weights.write.parallelism]))


def lifetime(writes_per_training: np.ndarray, limits: np.ndarray) -> dict[str, float | None]:
    """How many complete trainings like this one the chip survives before its first device, and before 1% of
    its devices, wear out (None: no device is written, so none ever wears out)."""
    written = writes_per_training > 0
    if not np.any(written):
        return {"lifetime_trainings_first_failure": None, "lifetime_trainings_1pct": None}
    trainings = np.full(writes_per_training.shape, np.inf)
    trainings[written] = limits[written] / writes_per_training[written]
    ordered = np.sort(trainings)
    k = max(1, math.ceil(0.01 * ordered.size)) - 1
    one_pct = ordered[k]
    return {
        "lifetime_trainings_first_failure": float(ordered[0]),
        "lifetime_trainings_1pct": float(one_pct) if np.isfinite(one_pct) else None,
    }
