"""Chip mode on the compiled kernels of :mod:`neurosim.kernels.chipmode`: every chip-mode MGD run.

The kernels hold the whole chip-mode cycle of any network of dense layers and 3x3 convolutions with max-pools,
on any weight devices (the device
kernel of :mod:`neurosim.kernels.devices`, shared with :class:`~neurosim.chip.devices.DeviceArray`) and any
periphery (the cost circuit and accumulator kernels of :mod:`neurosim.kernels.periphery`, shared with
:mod:`neurosim.chip.periphery`), with every perturbation code (:mod:`neurosim.kernels.codes`) and amplitude
mismatch: every chip-mode MGD run (backprop and paper mode run in Python, :mod:`neurosim.mgd.procedures`).
:class:`FusedChipMode` offers both the per-event actions for the
SimPy clock domains and :meth:`FusedChipMode.run_stretch`, which hands a whole stretch of cycles to one
compiled call with a bit-identical result.
"""

from __future__ import annotations

import numpy as np

from neurosim.chip.chip import Chip
from neurosim.kernels import chipmode as k
from neurosim.kernels import devices as dev
from neurosim.kernels.costs import LOSSES
from neurosim.kernels.optimizers import OPTIMIZERS
from neurosim.chip.periphery import accumulator_limits, leak_factor
from neurosim.mgd.perturbations import _NODE_STREAM, CODES
from neurosim.errors import NeurosimError
from neurosim.mgd.procedures import SampleStream, chip_mode_scale
from neurosim.model import NodePerturbation, Timing, WeightPerturbation, held_updates, strategy
from neurosim.spec.loader import RunConfig
from neurosim.nn.compute import direct_convolution
from neurosim.nn.shapes import Conv3x3Shape, DenseShape, LayerShape


# the kernel's code for each strategy chip mode compiles, found by the strategy's type
_KERNEL_KINDS = {WeightPerturbation: k.KIND_WEIGHT, NodePerturbation: k.KIND_NODE}
# the kernel's layer code (its L_CONV slot: 1 for a 3x3 convolution) for each layer type it computes
_DENSE, _CONV3X3 = 0, 1
_KERNEL_LAYERS = {DenseShape: _DENSE, Conv3x3Shape: _CONV3X3}


def _kernel_layer(layer: LayerShape) -> int:
    """The kernel's code for ``layer``'s type (or the nearest base type it has one for)."""
    for kind, code in _KERNEL_LAYERS.items():
        if isinstance(layer, kind):
            return code
    raise NeurosimError(f"{layer.name}: compiled chip mode has no kernel for {type(layer).__name__} layers "
                        "(paper mode runs them: mgd.mode: paper)")


class FusedChipMode:
    """Chip-mode state in flat arrays shared with the chip's device arrays (views), driven by kernels."""

    engine_path = "compiled chip-mode kernels"

    def __init__(self, chip: Chip, config: RunConfig, timing: Timing, amplitude: float, stream: SampleStream,
                 key: int, x_train: np.ndarray, y_train: np.ndarray, pools_held: bool = True) -> None:
        self.chip = chip
        self.net = chip.net
        self.mgd = config.workload.mgd
        self.timing = timing
        self.amplitude = amplitude
        self.stream = stream
        self.kind = _KERNEL_KINDS[type(strategy(self.mgd))]
        perturbs_nodes = self.kind == k.KIND_NODE
        # the same signs as the Python procedure's PerturbationSource (node perturbation has its own stream)
        self.key = np.uint64(key ^ _NODE_STREAM if perturbs_nodes else key)
        self.x_train = np.ascontiguousarray(x_train.reshape(len(x_train), -1), dtype=np.float32)
        self.y_train = y_train.astype(np.int64)
        layers = self.net.layers
        n_params = self.net.parameters
        layout = np.zeros((len(layers), k.N_L), dtype=np.int64)
        offset = node = inputs = winners = 0
        first = chip.arrays[0][0]
        self.dc, self.di = first.dc, first.di
        self.write_key, self.read_key = first.write_key, first.read_key
        n_dev = first.state.shape[0]
        ideal = bool(self.di[dev.I_IDEAL])
        # the chip's devices as one flat range: (devices per weight, parameters), weights then bias per layer
        self.params = np.empty(n_params, dtype=np.float32)
        self.residual = np.zeros(n_params, dtype=np.float64)
        self.p = np.zeros((n_dev, n_params), dtype=np.float64)
        self.gain = np.ones((n_dev, n_params), dtype=np.float64)
        self.step_scale = np.ones((n_dev, n_params), dtype=np.float64)
        self.limits = np.empty((n_dev, n_params), dtype=np.float64)
        self.writes = np.zeros((n_dev, n_params), dtype=np.int64)
        self.failed = np.zeros((n_dev, n_params), dtype=np.bool_)
        per_weight = {"params": "value", "residual": "residual"}
        per_device = {"p": "_state", "gain": "gain", "step_scale": "step_scale", "limits": "endurance",
                      "writes": "writes", "failed": "failed"}
        for index, (layer, (w, b)) in enumerate(zip(layers, chip.arrays)):
            fi, fo = layer.fan_in, layer.fan_out
            conv = _kernel_layer(layer) == _CONV3X3
            height, width, channels = layer.in_shape if conv else (1, 1, fi)
            in_size = int(np.prod(layer.in_shape))
            pooled_size = int(np.prod(layer.output_shape)) if layer.pool else 0
            row = layout[index]
            row[[k.L_FAN_IN, k.L_FAN_OUT, k.L_W, k.L_B, k.L_NODE, k.L_IN, k.L_ACT]] = (
                fi, fo, offset, offset + fi * fo, node, inputs, k.ACT_CODES[layer.activation])
            row[[k.L_CONV, k.L_HEIGHT, k.L_WIDTH, k.L_CHANNELS, k.L_POOL, k.L_ARG, k.L_IN_SIZE, k.L_NODES,
                 k.L_DIRECT]] = (conv, height, width, channels, layer.pool, winners, in_size, layer.nodes,
                                 conv and direct_convolution(layer))
            # the device arrays now view the flat buffers the kernels write
            for array, lo, hi in ((w, offset, offset + fi * fo), (b, offset + fi * fo, offset + fi * fo + fo)):
                for mine, theirs in (*per_weight.items(), *per_device.items()):
                    flat = getattr(self, mine)
                    part = flat[lo:hi] if flat.ndim == 1 else flat[:, lo:hi]
                    old = array.state if theirs == "_state" else getattr(array, theirs)  # derived if stale
                    np.copyto(part, old.reshape(part.shape))
                    view = part.reshape(old.shape)
                    assert np.shares_memory(view, flat)
                    setattr(array, theirs, view)
                array._state_stale = ideal  # ideal devices: the kernels keep the weights only
            offset += fi * fo + fo
            node += layer.nodes
            inputs += in_size
            winners += pooled_size
        self.layout = layout
        n_pert = strategy(self.mgd).total(self.net)
        code = CODES[self.mgd.code]
        self.signs = np.zeros(n_pert, dtype=np.float32)
        self.code_buf = np.zeros(n_pert if code.deterministic else 0, dtype=np.float32)
        # each perturbation transistor's relative amplitude, flat in the order of the signs (empty: matched)
        per_layer = [(m,) for m in chip.node_mismatch] if perturbs_nodes else chip.weight_mismatch
        parts = [a.ravel() for pair in per_layer for a in pair if a is not None]
        self.mismatch = (np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32))
        self.pattern = np.zeros(n_pert, dtype=np.float32) if parts else self.signs  # what is applied: s·m
        # what the perturbation step is handed: the pattern to make and the mismatch (None without mismatch), the
        # deterministic code's buffer (None for the Bernoulli code)
        self.perturb_args = (self.pattern if parts else None, self.mismatch if parts else None,
                             self.code_buf if code.deterministic else None)
        self.cost_base = np.uint64(chip.cost_circuit.noise_base)
        self.sign_words = np.zeros((n_pert + 63) // 64, dtype=np.uint64)  # the hashes the signs came from
        self.acc = np.zeros(n_params, dtype=np.float32)
        self.m = np.zeros(n_params, dtype=np.float32)
        self.v = np.zeros(n_params, dtype=np.float32)
        h_size = inputs + self.net.n_outputs
        self.h_base = np.zeros(h_size, dtype=np.float32)
        self.h_pert = np.zeros(h_size, dtype=np.float32)
        self.z_base = np.zeros(self.net.nodes, dtype=np.float32)
        self.z_pert = np.zeros(self.net.nodes, dtype=np.float32)
        self.scratch = np.zeros(max(layer.fan_out for layer in layers), dtype=np.float32)  # a layer's sums
        convs = [layer for layer in layers if _kernel_layer(layer) == _CONV3X3]
        biggest = max([layer.weights for layer in layers])
        # the network's working arrays (see neurosim.kernels.chipmode): pre-pool activations, both passes'
        # max-pool winners, a convolution's unrolled input, a layer's local product, the held node sums
        self.bufs = (np.zeros(max([layer.nodes for layer in layers if layer.pool], default=0), dtype=np.float32),
                     np.zeros(winners, dtype=np.int8), np.zeros(winners, dtype=np.int8),
                     np.zeros(max([layer.unrolled_inputs for layer in convs], default=0), dtype=np.float32),
                     np.zeros(biggest if convs else 0, dtype=np.float32),
                     np.zeros(max(layer.fan_out for layer in layers) if convs else 0, dtype=np.float32),
                     np.zeros(n_pert if perturbs_nodes else 0, dtype=np.float32))
        # what the inferences use every cycle, as arguments of their own: the pre-pool activations, the
        # baseline's and the perturbed inference's pool winners, and no winners (pools compared afresh)
        # (a dense network passes None for all of these and for the convolutions' local-product arrays: its
        # kernels are then compiled without the convolutions' code, and the inlined per-cycle actions pay no
        # reference counting for arrays they never use)
        self.passes = ((self.bufs[0], self.bufs[1], self.bufs[2], np.zeros(0, dtype=np.int8)) if convs
                       else (None, None, None, None))
        self.folds = (*(self.bufs[3:6] if convs else (None, None, None)), self.bufs[6])
        self.perturbed = np.zeros(0 if perturbs_nodes else n_params, dtype=np.float32)  # w + θ
        # what an update is handed (see neurosim.kernels.chipmode.on_update): the moments (None for SGD), the
        # device state and the write kernel's working arrays (None for ideal devices, which the kernels keep as
        # weights only)
        self.moments = (None, None) if self.mgd.optimizer == "sgd" else (self.m, self.v)
        self.device_state = ((None,) * 7 if ideal
                             else (self.p, self.gain, self.step_scale, self.residual, *dev.scratch(n_params)))
        self.pulse_buf = np.zeros(n_params, dtype=np.int64)  # the pulses of each weight at the last update
        # one read of every weight: a network with convolutions and read noise (a dense one takes its read
        # noise at the outputs, see neurosim.kernels.chipmode._read)
        self.readbuf = np.zeros(n_params if self.dc[dev.D_READ_SIGMA_W] > 0 and convs else 0, dtype=np.float32)
        self.label = np.zeros(1, dtype=np.int64)
        self.order = np.zeros(1, dtype=np.int64)
        self.counts = np.zeros(k.N_C, dtype=np.int64)
        spec = chip.spec
        tau = timing.tau_theta
        scale = chip_mode_scale(self.mgd, timing, amplitude, n_pert) / code.power(n_pert)
        fs = np.zeros(k.N_F)
        fs[k.F_LR], fs[k.F_SCALE], fs[k.F_DELTA] = self.mgd.learning_rate, scale, amplitude
        fs[k.F_W_MIN], fs[k.F_W_MAX] = spec.weights.w_min, spec.weights.w_max
        fs[k.F_MOM], fs[k.F_B1], fs[k.F_B2], fs[k.F_EPS] = (self.mgd.momentum, self.mgd.beta1, self.mgd.beta2,
                                                           self.mgd.epsilon)
        fs[k.F_WRITE_TIME_S] = spec.weights.device.write_time_s
        fs[k.F_UPDATE_PERIOD_S] = tau * chip.cycle_s
        fs[k.F_HEADROOM] = 0.0  # unknown: the first update checks every device's endurance
        ist = np.zeros(k.N_I, dtype=np.int64)
        ist[k.I_STALE] = 1
        ist[k.I_HOLD] = held_updates(self.mgd, tau)
        ist[k.I_KIND] = self.kind
        ist[k.I_BASELINE] = 1 if self.mgd.baseline == "antithetic" else 0
        loss = config.workload.loss
        ist[k.I_LOSS] = LOSSES[loss.kind, loss.reduction]
        ist[k.I_OPT] = OPTIMIZERS[self.mgd.optimizer]
        ist[k.I_STALL_MODE] = 1 if spec.weights.write.during_write == "perturb" else 0
        ist[k.I_LAYERS] = len(layers)
        ist[k.I_FAIL_MODE] = self.di[dev.I_FAIL]
        ist[k.I_READS] = chip.reads
        ist[k.I_PARALLEL] = dev.PARALLELISMS[spec.weights.write.parallelism]
        ist[k.I_TILE_ROWS], ist[k.I_TILE_COLS] = spec.crossbar.rows, spec.crossbar.cols
        fs[k.F_SMOOTH] = config.workload.loss.label_smoothing
        cost = spec.cost
        fs[k.F_COST_NOISE], fs[k.F_COST_FS] = cost.noise, cost.full_scale
        ist[k.I_COST_BITS] = 0 if cost.bits is None else cost.bits
        ist[k.I_CODE] = code.kernel_code
        unperturbed_baseline = self.mgd.baseline == "unperturbed"
        ist[k.I_HELD] = pools_held and unperturbed_baseline
        acc_spec = spec.accumulator
        ist[k.I_DEFER] = self.kind == k.KIND_NODE and unperturbed_baseline and acc_spec.ideal
        ist[k.I_ACC_LIMITED] = not acc_spec.ideal
        fs[k.F_ACC_FS], fs[k.F_ACC_LSB] = accumulator_limits(acc_spec)
        fs[k.F_LEAK] = leak_factor(acc_spec, chip.cycle_s)
        self.fs, self.ist = fs, ist
        self.stall_base = chip.counts.write_stall_s

    # ---- checkpoints ----------------------------------------------------------------------------------

    _ARRAYS = ("params", "writes", "failed", "p", "residual", "signs", "sign_words", "acc", "m", "v", "h_base",
               "z_base", "h_pert", "z_pert", "label", "fs", "ist", "pool_winners", "node_sums")

    @property
    def pool_winners(self) -> np.ndarray:
        """The baseline's max-pool winners, which later perturbed inferences keep."""
        return self.bufs[1]

    @property
    def node_sums(self) -> np.ndarray:
        return self.bufs[6]

    def checkpoint(self) -> dict:
        return {"stream": self.stream.checkpoint(), "stall_base": self.stall_base,
                **{name: getattr(self, name).copy() for name in self._ARRAYS}}

    def restore(self, saved: dict) -> None:
        """In place: the chip's device arrays view these buffers."""
        self.stream.restore(saved["stream"])
        self.stall_base = float(saved["stall_base"])
        for name in self._ARRAYS:
            if name in ("fs", "ist"):  # a checkpoint may predate the later scalars
                np.copyto(getattr(self, name)[:len(saved[name])], saved[name])
            elif name in ("p", "residual", "pool_winners", "node_sums") and name not in saved:
                continue  # older: the chip's checkpoint has p and residual; MLPs only, no winners, no sums
            elif name == "sign_words" and name not in saved:  # an older checkpoint: the words from the signs
                bits = np.zeros(len(self.sign_words) * 64, dtype=np.uint64)
                bits[:self.signs.size] = np.asarray(saved["signs"]) < 0
                self.sign_words[:] = (bits.reshape(-1, 64) << np.arange(64, dtype=np.uint64)).sum(axis=1)
            else:
                np.copyto(getattr(self, name), saved[name])
        self.fs[k.F_HEADROOM] = 0.0  # the next update checks every device's endurance, then relies on it
        if self.mismatch.size:  # the applied pattern s·m, made as each perturbation step makes it
            k.apply_mismatch(self.signs, self.mismatch, self.pattern)
        if self.di[dev.I_IDEAL]:
            for w, b in self.chip.arrays:  # the kernels write ideal weights only: derive states when asked
                w._state_stale = b._state_stale = True

    # ---- the ledger and the running cost --------------------------------------------------------------

    def _sync(self) -> None:
        """Move the kernel's event counts into the chip's ledger."""
        c = self.chip.counts
        n = self.counts
        c.cycles += int(n[k.C_CYCLES])
        c.inferences += int(n[k.C_INFERENCES])
        c.macs += int(n[k.C_MACS])
        c.perturbation_toggles += int(n[k.C_TOGGLES])
        c.cost_evaluations += int(n[k.C_COSTS])
        c.broadcasts += int(n[k.C_BROADCASTS])
        c.accumulator_updates += int(n[k.C_ACC])
        c.updates += int(n[k.C_UPDATES])
        c.write_pulses += int(n[k.C_PULSES])
        c.write_rounds += int(n[k.C_ROUNDS])
        # the stall time is summed inside the kernel for the whole run, so its rounding never depends on how
        # the run was cut into stretches
        c.write_stall_s = self.stall_base + float(self.fs[k.F_STALL_S])
        self.chip.reads = int(self.ist[k.I_READS])
        n[:] = 0

    def take_mean_cost(self) -> float:
        count = int(self.ist[k.I_COST_COUNT])
        mean = float(self.fs[k.F_COST_SUM]) / count if count else float("nan")
        self.fs[k.F_COST_SUM] = 0.0
        self.ist[k.I_COST_COUNT] = 0
        return mean

    # ---- one event at a time (the methods the schedule's slots name) ------------------------------------

    def on_sample(self, cycle: int) -> None:
        self.order = self.stream.take_indices(1)
        self.ist[k.I_SAMPLE_POS] = 0
        k.fold_node_sums(self.layout, self.acc, self.h_base, self.ist, *self.folds)  # the last sample's
        k.on_sample(self.x_train, self.order, self.ist, self.h_base, self.label)

    def on_perturb(self, cycle: int) -> None:
        k.on_perturb(self.key, self.signs, self.sign_words, *self.perturb_args, self.fs, self.ist, self.counts)
        self._sync()

    def on_cycle(self, cycle: int) -> None:
        d = k.on_cycle(self.layout, self.params, self.signs, self.acc, self.h_base, self.z_base,
                       self.h_pert, self.z_pert, self.y_train, self.label, self.fs, self.ist, self.counts,
                       self.net.macs, self.scratch, self.perturbed, self.readbuf, self.dc, self.read_key,
                       self.pattern, self.cost_base, *self.passes)
        k.node_accumulate(self.layout, self.acc, self.h_base, self.signs, np.float32(d), self.fs, self.ist,
                          *self.folds)  # d came back as a Python float: float32 again, exactly
        self._sync()

    def on_update(self, cycle: int) -> None:
        k.fold_node_sums(self.layout, self.acc, self.h_base, self.ist, *self.folds)
        k.on_update(self.layout, self.params, self.acc, *self.moments, self.writes, self.limits, self.failed,
                    *self.device_state, self.pulse_buf, self.dc, self.di, self.write_key,
                    self.fs, self.ist, self.counts)
        self._sync()

    def accumulated(self) -> np.ndarray:
        """S, the accumulators since the last update, flat in network order (float64); held node sums are
        folded into the accumulators first, as the update itself does (the result is unchanged)."""
        k.fold_node_sums(self.layout, self.acc, self.h_base, self.ist, *self.folds)
        return self.acc.astype(np.float64)

    def estimate(self) -> np.ndarray:
        """The gradient estimate G the next update would write: S times its scale."""
        return self.accumulated() * np.float32(self.fs[k.F_SCALE])

    # ---- a stretch in one call ------------------------------------------------------------------------

    def run_stretch(self, start: int, n: int) -> None:
        """Cycles [start, start + n) in one compiled call; the samples they need are drawn first."""
        t = self.timing
        samples = -(-(start + n) // t.tau_x) - -(-start // t.tau_x)
        self.order = self.stream.take_indices(samples) if samples else np.zeros(1, dtype=np.int64)
        self.ist[k.I_SAMPLE_POS] = 0
        k.run_stretch(n, t.tau_p, t.tau_x, t.tau_theta, self.key, self.layout, self.params, self.signs,
                      self.sign_words, self.acc, *self.moments, self.writes, self.limits, self.failed,
                      *self.device_state, self.pulse_buf, self.readbuf, self.dc, self.di,
                      self.write_key, self.read_key, self.x_train, self.y_train, self.order, self.label, self.h_base, self.z_base, self.h_pert, self.z_pert, self.fs, self.ist,
                      self.counts, self.net.macs, self.scratch, self.perturbed, self.pattern, *self.perturb_args,
                      self.cost_base, *self.passes, *self.folds)
        self._sync()
