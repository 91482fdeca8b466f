"""The Chip assembly: a network mapped onto crossbar tiles of weight devices."""

from __future__ import annotations

import numpy as np

from neurosim.chip.devices import DeviceArray
from neurosim.chip.ledger import CostModel, EventCounts
from neurosim.nn.shapes import NetworkShape
from neurosim.spec.chip import ChipSpec


class Chip:
    """Live state of one chip instance: device arrays per layer (weights and bias row) and the ledger."""

    def __init__(self, spec: ChipSpec, net: NetworkShape, initial: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.spec = spec
        self.net = net
        self.arrays = [(DeviceArray(spec.weights, w), DeviceArray(spec.weights, b)) for w, b in initial]
        self.counts = EventCounts()
        self.cost_model = CostModel(spec)

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The weights the devices currently hold (live arrays; do not modify)."""
        return [(w.value, b.value) for w, b in self.arrays]

    def write(self, deltas: list[tuple[np.ndarray, np.ndarray]]) -> int:
        """Write one update into every device; account pulses and the write round."""
        pulses = 0
        for (w, b), (dw, db) in zip(self.arrays, deltas):
            pulses += w.write(dw) + b.write(db)
        self.counts.updates += 1
        self.counts.write_pulses += pulses
        if pulses:
            self.counts.write_rounds += 1
        return pulses

    def writes_per_layer(self) -> list[np.ndarray]:
        """Per-device write counts of each layer, weights and bias row together (flattened)."""
        return [np.concatenate([w.writes.ravel(), b.writes.ravel()]) for w, b in self.arrays]

    def wear_summary(self) -> dict[str, float]:
        writes = np.concatenate(self.writes_per_layer())
        endurance = self.spec.weights.device.endurance_cycles
        return {
            "weight_writes_total": int(writes.sum()),
            "weight_writes_max_per_device": int(writes.max()),
            "weight_writes_mean_per_device": float(writes.mean()),
            "endurance_cycles": float(endurance),
            "endurance_used_max": float(writes.max() / endurance),
        }

    def tiles_per_layer(self) -> list[int]:
        xbar = self.spec.crossbar
        return [layer.tiles(xbar.rows, xbar.cols) for layer in self.net.layers]
