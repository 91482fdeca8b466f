"""Perturbation codes drawn per layer, for weights or nodes: Bernoulli ±1 from the counter-based RNG (the
paper's), and the deterministic codes of the original MGD paper (McCaughan et al. 2023, Sec. II).

Every code gives element i at perturbation step t a value c_i(t); the estimate divides the accumulated
ΔC·c by the code's power (its mean square), so all codes estimate the same gradient:

* ``bernoulli``: independent random signs, power 1 (statistically orthogonal only on average).
* ``walsh`` (code multiplexing): c_i(t) = (-1)^popcount((i+1) & (t mod P)), P the power of two above K:
  rows of a Sylvester-Hadamard matrix, exactly orthogonal over P steps; power 1.
* ``sinusoidal`` (frequency multiplexing): c_i(t) = sqrt(2)·cos(2π(i+1)t/P), P = 2K + 2: distinct
  frequencies below Nyquist, exactly orthogonal over P steps; power 1.
* ``one_at_a_time`` (time multiplexing): c_i(t) = 1 when i = t mod K, else 0: a finite difference per
  element; power 1/K.

The element index runs over what one cost measurement sees perturbed: the whole network in chip mode,
one layer at a time in paper mode (``per_layer``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from neurosim.kernels import codes
from neurosim.kernels.rng import fill_signs, fill_stream_counting_flips
from neurosim.nn.shapes import NetworkShape

_NODE_STREAM = 0x5DEECE66D


class Code:
    """A perturbation code: element i's value c_i(t) at step t, and the code's power (mean square over its
    period). Each code is a subclass found by its ``name`` in :data:`CODES`, so adding one is one class (and,
    for a deterministic one, its function in :mod:`neurosim.kernels.codes`, which both engine paths call)."""

    name: ClassVar[str]
    deterministic: ClassVar[bool] = True   # a function of (i, t) alone; Bernoulli signs come from the RNG
    kernel_code: ClassVar[int] = 0         # its number in neurosim.kernels.codes.fill

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        CODES[cls.name] = cls

    @classmethod
    def values(cls, start: int, n: int, step: int, k: int) -> np.ndarray:
        """c_i(step) for the elements i = start .. start + n - 1 of a code over k elements (float32)."""
        out = np.empty(n, dtype=np.float32)
        codes.fill(cls.kernel_code, start, step, k, out)
        return out

    @staticmethod
    def power(k: int) -> float:
        return 1.0


CODES: dict[str, type[Code]] = {}


class Bernoulli(Code):
    """Independent random ±1 signs from the counter-based generator (the paper's); drawn by
    :class:`PerturbationSource`, not by ``values``."""

    name = "bernoulli"
    deterministic = False


class Walsh(Code):
    """Code multiplexing: c_i(t) = (-1)^popcount((i+1) & (t mod P)), P the power of two above K."""

    name = "walsh"
    kernel_code = codes.WALSH


class Sinusoidal(Code):
    """Frequency multiplexing: c_i(t) = sqrt(2)·cos(2π(i+1)t/P), P = 2K + 2."""

    name = "sinusoidal"
    kernel_code = codes.SINUSOIDAL


class OneAtATime(Code):
    """Time multiplexing: c_i(t) = 1 when i = t mod K, else 0 (a finite difference per element)."""

    name = "one_at_a_time"
    kernel_code = codes.ONE_AT_A_TIME

    @staticmethod
    def power(k: int) -> float:
        return 1.0 / k


class PerturbationSource:
    """Perturbation step ``n`` of layer ``l`` is a pure function of (key, n, l): nothing is stored."""

    def __init__(self, key: int, net: NetworkShape, code: str = "bernoulli", per_layer: bool = False) -> None:
        self.key = np.uint64(key)
        self.node_key = np.uint64(key ^ _NODE_STREAM)
        self.net = net
        self.code = CODES[code]
        self.per_layer = per_layer
        self.weight_offset = np.cumsum([0] + [layer.parameters for layer in net.layers]).astype(np.uint64)
        self.node_offset = np.cumsum([0] + [layer.nodes for layer in net.layers]).astype(np.uint64)
        at_w, at_n = [int(a) for a in self.weight_offset], [int(a) for a in self.node_offset]
        self._weight_views = [(a, a + layer.weights, a + layer.parameters, (layer.fan_in, layer.fan_out))
                              for a, layer in zip(at_w, net.layers)]
        self._node_views = [(a, a + layer.nodes, (1, *layer.out_shape)) for a, layer in zip(at_n, net.layers)]

    def _code(self, offsets: np.ndarray, index: int, step: int, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        """A deterministic code's values for layer ``index``, split into arrays of ``shapes``."""
        size = sum(int(np.prod(sh)) for sh in shapes)
        start = 0 if self.per_layer else int(offsets[index])
        k = size if self.per_layer else int(offsets[-1])
        values = self.code.values(start, size, step, k)
        out, at = [], 0
        for sh in shapes:
            n = int(np.prod(sh))
            out.append(values[at:at + n].reshape(sh))
            at += n
        return out

    def _offsets(self, kind: str) -> np.ndarray:
        """Where each layer's elements start in the network-wide numbering of ``kind`` (weight or node)."""
        return {"weight": self.weight_offset, "node": self.node_offset}[kind]

    def power(self, index: int, kind: str) -> float:
        """The code's power for layer ``index``'s estimate (``kind``: weight or node)."""
        offsets = self._offsets(kind)
        k = int(offsets[index + 1] - offsets[index]) if self.per_layer else int(offsets[-1])
        return self.code.power(k)

    def weight(self, step: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Code values (weights, bias) of layer ``index`` at perturbation ``step``."""
        layer = self.net.layers[index]
        if self.code.deterministic:
            w, b = self._code(self.weight_offset, index, step, [(layer.fan_in, layer.fan_out), (layer.fan_out,)])
            return w, b
        theta_w = np.empty((layer.fan_in, layer.fan_out), dtype=np.float32)
        theta_b = np.empty(layer.fan_out, dtype=np.float32)
        amp = np.float32(1.0)
        offset = self.weight_offset[index]
        fill_signs(self.key, np.uint64(step), offset, amp, theta_w)
        fill_signs(self.key, np.uint64(step), offset + np.uint64(layer.weights), amp, theta_b)
        return theta_w, theta_b

    def whole_network(self, step: int, kind: str, previous: np.ndarray | None) -> tuple[np.ndarray, int]:
        """Code values of every weight (``kind`` "weight") or node of the network at perturbation ``step``, in
        one flat array, and how many differ from ``previous`` (all, if None): chip mode perturbs every element
        at once and pays for the toggles. Bernoulli signs take one compiled pass. The values equal the
        per-layer draws (an element's value depends on its network-wide index only); layer l's are
        ``flat[offset_l:offset_{l+1}]``, see :meth:`layer_views`."""
        if self.per_layer:
            raise ValueError("whole-network perturbations are chip mode's; paper mode draws per layer")
        offsets = self._offsets(kind)
        total = int(offsets[-1])
        if self.code.deterministic:
            flat = self.code.values(0, total, step, total)
            return flat, total if previous is None else int(np.count_nonzero(previous != flat))
        flat = np.empty(total, dtype=np.float32)
        key = {"weight": self.key, "node": self.node_key}[kind]
        flips = fill_stream_counting_flips(key, np.uint64(step), flat, flat[:0] if previous is None else previous)
        return flat, flips

    def weight_flat(self, step: int) -> np.ndarray:
        """The code values of every layer's weights and bias at ``step``, flat in network order: what
        :meth:`weight` gives layer by layer (Bernoulli signs in one pass, as an element's sign depends on its
        network-wide index only; a deterministic code layer by layer, each numbered within its layer when
        ``per_layer``). Paper mode perturbs one layer at a time but draws them all at once."""
        if self.code.deterministic:
            layers = range(len(self.net.layers))
            return np.concatenate([a.ravel() for index in layers for a in self.weight(step, index)])
        flat = np.empty(int(self.weight_offset[-1]), dtype=np.float32)
        fill_signs(self.key, np.uint64(step), np.uint64(0), np.float32(1.0), flat)
        return flat

    def layer_views(self, flat: np.ndarray, kind: str) -> list:
        """Views of a whole-network array per layer, shaped as :meth:`weight` ((weights, bias) pairs) or
        :meth:`node` (batch 1) return them."""
        views = {"weight": lambda: [(flat[a:b].reshape(shape), flat[b:c]) for a, b, c, shape in self._weight_views],
                 "node": lambda: [flat[a:b].reshape(shape) for a, b, shape in self._node_views]}
        return views[kind]()

    def node(self, step: int, index: int, batch: int) -> np.ndarray:
        """Code values on layer ``index``'s pre-activations; Bernoulli signs are independent for every
        sample of the batch (deterministic codes need batch 1)."""
        layer = self.net.layers[index]
        if self.code.deterministic:
            if batch != 1:
                raise ValueError("deterministic perturbation codes perturb one sample (or a shared batch) at a time")
            return self._code(self.node_offset, index, step, [(1, *layer.out_shape)])[0]
        theta = np.empty((batch, *layer.out_shape), dtype=np.float32)
        fill_signs(self.node_key, np.uint64(step), self.node_offset[index] * np.uint64(batch),
                   np.float32(1.0), theta)
        return theta


def gamma_scale(k: int, n_perturbations: int) -> float:
    """Factor applied to the unbiased estimate G (E[G] = ∇C) under the Γ normalisation, as the authors' script
    applies it (``run_mgd.jl``: G_int += ΔC·s / norm_mag / sqrt(1/K + 1/n − 1/(K·n)), with a layer's amplitude
    norm_mag/sqrt(K) and n the distinct perturbations of an update): G / sqrt(1 + (K − 1)/n). One
    perturbation per update gives G/sqrt(K), many give G itself. (The seventh session's fix: this returned
    G / sqrt(K·(1 + (K − 1)/n)), sqrt(K) smaller than the script's at every τθ.)"""
    return 1.0 / float(np.sqrt(1.0 + (k - 1.0) / n_perturbations))
