"""What a dense device write could cost in float32, 16 lanes wide: a sketch to measure the floor of the
realistic chips' NIST7x7 target against, not a model the simulator uses.

    python tools/bench_write_float32.py

The device kernel (``neurosim.kernels.devices``) writes in float64, 8 lanes, with a splitmix64 hash and the
ziggurat's two table look-ups per normal draw, and writes the 2.8% of devices whose draw needs the ziggurat's
slow path one by one. This sketch does the arithmetic of one exponential-model device write with additive noise
on every one of 868 devices (NIST7x7's weights) with none of that: a 32-bit counter hash (Wellons' lowbias32),
a normal draw by Giles' single-precision inverse error function (branch-free: both of its polynomials and a
select; a logarithm of its own, a polynomial on the mantissa), the saturating response by a series for expm1,
the noise, the clamp and the endurance check. It prints the time of a write of 868 devices, of the normal
draws alone and of the hashes alone (medians of 7 runs), and the draws' mean, standard deviation and tails
over 4 million of them, so that a reader can see the sketch's normals are normals.
"""

from __future__ import annotations

import time

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

f32, u32, i32 = np.float32, np.uint32, np.int32
_JIT = {"error_model": "numpy"}


@intrinsic
def _sqrtf(typingctx, x):  # noqa: ANN001, ANN202
    if x != types.float32:
        return None

    def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
        return builder.call(builder.module.declare_intrinsic("llvm.sqrt", [ir.FloatType()]), args)
    return types.float32(types.float32), codegen


def _bitcast(source, target, target_ir):  # noqa: ANN001, ANN202
    """An intrinsic reading a 32-bit value's bits as another 32-bit type (LLVM's bitcast)."""
    @intrinsic
    def cast(typingctx, x):  # noqa: ANN001, ANN202
        if x != source:
            return None

        def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
            return builder.bitcast(args[0], target_ir)
        return target(source), codegen
    return cast


_bits = _bitcast(types.float32, types.uint32, ir.IntType(32))
_float = _bitcast(types.uint32, types.float32, ir.FloatType())


@nb.njit(inline="always", **_JIT)
def _hash32(x):  # noqa: ANN001, ANN202
    x = u32(x ^ (x >> u32(16)))
    x = u32(x * u32(0x7FEB352D))
    x = u32(x ^ (x >> u32(15)))
    x = u32(x * u32(0x846CA68B))
    return u32(x ^ (x >> u32(16)))


@nb.njit(inline="always", **_JIT)
def _log(y):  # noqa: ANN001, ANN202
    """log of a positive normal float32: exponent, and a polynomial in the mantissa m − 1 (Cephes' logf)."""
    b = _bits(y)
    e = i32((b >> u32(23)) & u32(0xFF)) - i32(127)
    m = _float(u32((b & u32(0x7FFFFF)) | u32(0x3F800000)))
    big = m > f32(1.41421356)
    m = m * f32(0.5) if big else m
    e = e + (i32(1) if big else i32(0))
    x = m - f32(1)
    z = x * x
    p = f32(7.0376836292e-2)
    p = p * x - f32(1.1514610310e-1)
    p = p * x + f32(1.1676998740e-1)
    p = p * x - f32(1.2420140846e-1)
    p = p * x + f32(1.4249322787e-1)
    p = p * x - f32(1.6668057665e-1)
    p = p * x + f32(2.0000714765e-1)
    p = p * x - f32(2.4999993993e-1)
    p = p * x + f32(3.3333331174e-1)
    fe = f32(e)
    return x + (x * z * p - f32(0.5) * z) + fe * f32(0.693359375) - fe * f32(2.12194440e-4)


@nb.njit(inline="always", **_JIT)
def _normal(h):  # noqa: ANN001, ANN202
    """sqrt(2)·erfinv(2u − 1) of the hash's top 23 bits (Giles 2010, single precision), branch-free; u is
    exact in float32, so 2u − 1 is never ±1 (which the top 24 bits, rounded, made: a draw of 620), and the
    draws stop at 5.3 standard deviations (a share of 1.2e-7 lies beyond)."""
    x = (f32(h >> u32(9)) + f32(0.5)) * f32(2.0 ** -22) - f32(1)
    w = -_log((f32(1) - x) * (f32(1) + x))
    a = w - f32(2.5)
    p = f32(2.81022636e-08)
    p = f32(3.43273939e-07) + p * a
    p = f32(-3.5233877e-06) + p * a
    p = f32(-4.39150654e-06) + p * a
    p = f32(0.00021858087) + p * a
    p = f32(-0.00125372503) + p * a
    p = f32(-0.00417768164) + p * a
    p = f32(0.246640727) + p * a
    p = f32(1.50140941) + p * a
    b = _sqrtf(w) - f32(3)
    q = f32(-0.000200214257)
    q = f32(0.000100950558) + q * b
    q = f32(0.00134934322) + q * b
    q = f32(-0.00367342844) + q * b
    q = f32(0.00573950773) + q * b
    q = f32(-0.0076224613) + q * b
    q = f32(0.00943887047) + q * b
    q = f32(1.00167406) + q * b
    q = f32(2.83297682) + q * b
    return f32(1.41421356) * (p if w < f32(5) else q) * x


@nb.njit(**_JIT)
def _writes(reps, requests, state, scale, writes, limit, inv_a, inv_e, sigma, step_p):  # noqa: ANN001, ANN202
    for r in range(reps):
        base = u32(u32(12345) + u32(u32(r) * u32(7919)))
        for k in range(requests.size):
            count = abs(requests[k])
            up = requests[k] > f32(0)
            z = _normal(_hash32(u32(base + u32(u32(k) * u32(0x9E3779B9)))))
            s = state[k]
            q = s if up else f32(1) - s
            e = -count * scale[k] * inv_a
            em1 = e * (f32(1) + e * (f32(0.5) + e * (f32(1 / 6) + e * (f32(1 / 24) + e * (f32(1 / 120)
                                                                                         + e * f32(1 / 720))))))
            moved = q + (inv_e + q) * em1
            moved = f32(1) if moved > f32(1) else moved
            new = (moved if up else f32(1) - moved) + sigma * step_p * scale[k] * _sqrtf(count) * z
            new = f32(0) if new < f32(0) else (f32(1) if new > f32(1) else new)
            ok = (count > f32(0)) & (f32(writes[k]) + count < limit[k])
            state[k] = new if ok else s
            writes[k] += i32(count) if ok else i32(0)


@nb.njit(**_JIT)
def _draws(reps, out):  # noqa: ANN001, ANN202
    for r in range(reps):
        base = u32(u32(12345) + u32(u32(r) * u32(7919)))
        for k in range(out.size):
            out[k] = _normal(_hash32(u32(base + u32(u32(k) * u32(0x9E3779B9)))))


@nb.njit(**_JIT)
def _hashes(reps, out):  # noqa: ANN001, ANN202
    for r in range(reps):
        base = u32(u32(12345) + u32(u32(r) * u32(7919)))
        for k in range(out.size):
            out[k] = f32(_hash32(u32(base + u32(u32(k) * u32(0x9E3779B9)))) >> u32(8))


def _median_us(fn, reps: int) -> float:  # noqa: ANN001
    fn(10)
    times = []
    for _ in range(7):
        start = time.thread_time()
        fn(reps)
        times.append((time.thread_time() - start) / reps * 1e6)
    return sorted(times)[3]


def main() -> None:
    n = 868
    rng = np.random.default_rng(0)
    requests = np.round(rng.normal(size=n) * 1.5).astype(np.float32)  # about one pulse a device, as reram's
    state = rng.uniform(0.2, 0.8, n).astype(np.float32)
    scale, writes, limit = np.ones(n, np.float32), np.zeros(n, np.int32), np.full(n, 1e9, np.float32)
    out = np.zeros(n, np.float32)
    write_us = _median_us(lambda reps: _writes(reps, requests, state, scale, writes, limit, f32(1 / 31.6),
                                               f32(1.0), f32(4.7), f32(1 / 127)), 20_000)
    draw_us = _median_us(lambda reps: _draws(reps, out), 50_000)
    hash_us = _median_us(lambda reps: _hashes(reps, out), 50_000)
    print(f"float32 write of {n} devices: {write_us:.3f} µs ({write_us / n * 1e3:.2f} ns a device)")
    print(f"normal draws alone: {draw_us:.3f} µs ({draw_us / n * 1e3:.2f} ns a draw); hashes alone: "
          f"{hash_us:.3f} µs ({hash_us / n * 1e3:.2f} ns)")
    z = np.empty(4_000_000, np.float32)
    _draws(1, z)
    z = z.astype(np.float64)
    print(f"the draws: mean {z.mean():.4f}, std {z.std():.4f}, P(|z| > 2) {(abs(z) > 2).mean():.4f} (normal: 0.0455), "
          f"P(|z| > 3) {(abs(z) > 3).mean():.5f} (0.00270)")


if __name__ == "__main__":
    main()
