"""Counter-based perturbation signs: sign = f(key, counter, index), with no state and no stored array.

A perturbation element's sign is a pure function of the stream key, the perturbation step and the element
index, so it can be regenerated anywhere (in a fused kernel, in a test, after a resume) and is
bit-identical across runs and machines. One splitmix64 output gives 64 signs: element i takes bit i % 64 of
the hash of block i // 64.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@nb.njit(nogil=True, cache=True, inline="always")
def mix64(z: np.uint64) -> np.uint64:
    """splitmix64 finaliser: a bijective avalanche of 64 bits."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@nb.njit(nogil=True, cache=True, inline="always")
def stream_base(key: np.uint64, counter: np.uint64) -> np.uint64:
    return mix64(key ^ (counter * _GOLDEN))


@nb.njit(nogil=True, cache=True)
def fill_signs(key: np.uint64, counter: np.uint64, offset: np.uint64, amplitude: np.float32,
               out: np.ndarray) -> None:
    """out.flat[i] = ±amplitude, the sign drawn from (key, counter, offset + i)."""
    flat = out.reshape(out.size)
    base = stream_base(key, counter)
    block = np.uint64(0xFFFFFFFFFFFFFFFF)
    bits = np.uint64(0)
    for i in range(flat.size):
        index = offset + np.uint64(i)
        b = index >> np.uint64(6)
        if b != block:
            block = b
            bits = mix64(base + block * _GOLDEN)
        flat[i] = amplitude if ((bits >> (index & np.uint64(63))) & np.uint64(1)) == np.uint64(0) else -amplitude


@nb.njit(nogil=True, cache=True)
def fill_stream_counting_flips(key: np.uint64, counter: np.uint64, out: np.ndarray, old: np.ndarray) -> int:
    """:func:`fill_signs` of a whole stream (elements 0..n-1, amplitude 1) into the flat ``out``, 64 signs
    per hash and no branch per element, returning how many differ from ``old`` (all n if ``old`` is
    empty): a chip-mode perturbation of every element and the toggles it costs, in one pass."""
    n = out.size
    compare = old.size > 0
    if compare and old.size != n:
        raise ValueError("fill_stream_counting_flips: old and out differ in size")
    base = stream_base(key, counter)
    flips = 0
    for block in range((n + 63) // 64):
        bits = mix64(base + np.uint64(block) * _GOLDEN)
        lo = block * 64
        for j in range(min(64, n - lo)):
            v = np.float32(1.0) - np.float32(2.0) * np.float32((bits >> np.uint64(j)) & np.uint64(1))
            if compare:
                flips += v != old[lo + j]
            out[lo + j] = v
    return flips if compare else n


def signs_reference(key: int, counter: int, offset: int, n: int) -> np.ndarray:
    """Plain-Python twin of :func:`fill_signs` (amplitude 1), for tests."""
    mask = (1 << 64) - 1

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    base = mix(key ^ ((counter * 0x9E3779B97F4A7C15) & mask))
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        index = offset + i
        bits = mix((base + (index >> 6) * 0x9E3779B97F4A7C15) & mask)
        out[i] = 1.0 if (bits >> (index & 63)) & 1 == 0 else -1.0
    return out


# ---- uniform and normal draws, for noise and stochastic rounding ------------------------------------------
# Element i of a draw takes the hash of (base + i·golden), base = stream_base(key, counter): the same
# numbers in a compiled kernel, in a resumed run and in the tests' numpy twin, with no generator state.

_TWO_PI = 6.283185307179586
_UNIT = 1.0 / 9007199254740992.0  # 2^-53


@nb.njit(nogil=True, cache=True, inline="always")
def uniform_at(base: np.uint64, index: np.uint64) -> float:
    """A uniform draw in [0, 1) (53 bits) for element ``index`` of the stream whose base is ``base``."""
    return float(mix64(base + index * _GOLDEN) >> np.uint64(11)) * _UNIT


@nb.njit(nogil=True, cache=True, inline="always")
def normal_at(base: np.uint64, index: np.uint64) -> float:
    """A standard normal draw for element ``index`` (Box–Muller from the uniforms of 2·index and 2·index + 1;
    the first is taken in (0, 1] so its logarithm is finite)."""
    two = np.uint64(2) * index
    u1 = 1.0 - uniform_at(base, two)
    u2 = uniform_at(base, two + np.uint64(1))
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)
