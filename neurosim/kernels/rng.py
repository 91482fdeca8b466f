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


@nb.njit(nogil=True, cache=True, inline="always")
def unpack_signs(bits: np.uint64, out: np.ndarray, lo: int, m: int) -> None:
    """out[lo + j] = 1 - 2·(bit j of ``bits``), ±1 in float32, for j < m <= 64. In two 32-bit halves:
    each bit is converted to float from a 32-bit integer, a vector instruction on AVX2 and AVX-512 alike
    (from a 64-bit integer, on AVX-512 only). An offset, not a view: each view costs two atomic reference
    counts, 14 hashes a NIST7x7 cycle."""
    halves = (np.uint32(bits & np.uint64(0xFFFFFFFF)), np.uint32(bits >> np.uint64(32)))
    for h in range(2):
        half = halves[h]
        for j in range(min(32, m - 32 * h)):
            bit = np.int32((half >> np.uint32(j)) & np.uint32(1))
            out[np.uint64(lo + 32 * h + j)] = np.float32(1.0) - np.float32(2.0) * np.float32(bit)


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
    empty): a chip-mode perturbation of every element and the toggles it costs, in one pass. ``old`` must not
    be ``out`` (each block is written before it is compared)."""
    n = out.size
    compare = old.size > 0
    if compare and old.size != n:
        raise ValueError("fill_stream_counting_flips: old and out differ in size")
    base = stream_base(key, counter)
    flips = 0
    for block in range((n + 63) // 64):
        bits = mix64(base + np.uint64(block) * _GOLDEN)
        lo = block * 64
        m = min(64, n - lo)
        unpack_signs(bits, out, lo, m)
        if compare:
            for j in range(m):
                flips += out[lo + j] != old[lo + j]
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

_UNIT = 1.0 / 9007199254740992.0  # 2^-53


@nb.njit(nogil=True, cache=True, inline="always")
def _unit(h: np.uint64) -> float:
    """The top 53 bits of a hash as a uniform in [0, 1)."""
    return float(h >> np.uint64(11)) * _UNIT


@nb.njit(nogil=True, cache=True, inline="always")
def uniform_at(base: np.uint64, index: np.uint64) -> float:
    """A uniform draw in [0, 1) (53 bits) for element ``index`` of the stream whose base is ``base``."""
    return _unit(mix64(base + index * _GOLDEN))


# Normal draws by the ziggurat (Marsaglia & Tsang 2000, in Doornik's ZIGNOR form: 128 strips): one hash,
# a table look-up and a multiplication for 97.3% of the draws, so noise on every device of every read costs
# about what the hash does; Box–Muller's logarithm and cosine cost ten times more. The hash's low 7 bits
# choose the strip, its top 53 bits the position; a rejected draw goes on with the hashes of the hash.
ZIG_STRIPS = 128
ZIG_R = 3.442619855899
ZIG_V = 9.91256303526217e-3


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros(ZIG_STRIPS + 1)
    f = math.exp(-0.5 * ZIG_R * ZIG_R)
    x[0], x[1] = ZIG_V / f, ZIG_R   # x[0]: the base strip's width V / f(R)
    for i in range(2, ZIG_STRIPS):
        x[i] = math.sqrt(-2.0 * math.log(ZIG_V / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    return x, x[1:] / x[:-1]


ZIG_X, ZIG_RATIO = _ziggurat_tables()


@nb.njit(nogil=True, cache=True)
def _normal_rejected(h: np.uint64, i: int, u: float) -> float:
    """The ziggurat's slow path: the wedge of strip i, or the tail beyond R, trying again on rejection."""
    while True:
        if i == 0:  # the tail beyond R (Marsaglia's method)
            negative = u < 0
            while True:
                h = mix64(h + _GOLDEN)
                x = math.log(1.0 - _unit(h)) / ZIG_R
                h = mix64(h + _GOLDEN)
                y = math.log(1.0 - _unit(h))
                if -2.0 * y >= x * x:
                    return x - ZIG_R if negative else ZIG_R - x
        x = u * ZIG_X[i]
        f0 = math.exp(-0.5 * (ZIG_X[i] * ZIG_X[i] - x * x))
        f1 = math.exp(-0.5 * (ZIG_X[i + 1] * ZIG_X[i + 1] - x * x))
        h = mix64(h + _GOLDEN)
        if f1 + _unit(h) * (f0 - f1) < 1.0:
            return x
        h = mix64(h + _GOLDEN)
        i = int(h & np.uint64(ZIG_STRIPS - 1))
        u = 2.0 * _unit(h) - 1.0
        if abs(u) < ZIG_RATIO[i]:
            return u * ZIG_X[i]


@nb.njit(nogil=True, cache=True, inline="always")
def normal_strip(h: np.uint64) -> tuple:
    """The ziggurat's fast path for the hash h: (the draw, whether it stands). Branch-free, so a loop of it
    over an array vectorizes; a draw that does not stand (2.8% of them) is :func:`normal_rest`'s."""
    i = np.int64(h & np.uint64(ZIG_STRIPS - 1))
    u = 2.0 * _unit(h) - 1.0
    return u * ZIG_X[i], abs(u) < ZIG_RATIO[i]


@nb.njit(nogil=True, cache=True)
def normal_rest(h: np.uint64) -> float:
    """The draw of a hash whose fast path did not stand (:func:`normal_strip`)."""
    i = int(h & np.uint64(ZIG_STRIPS - 1))
    return _normal_rejected(h, i, 2.0 * _unit(h) - 1.0)


@nb.njit(nogil=True, cache=True, inline="always")
def normal_at(base: np.uint64, index: np.uint64) -> float:
    """A standard normal draw for element ``index`` of the stream whose base is ``base``."""
    h = mix64(base + index * _GOLDEN)
    z, stands = normal_strip(h)
    return z if stands else normal_rest(h)
