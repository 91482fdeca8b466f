"""Elementary functions that vectorize: numba calls libm for ``math.exp`` and ``math.expm1`` one element at a
time (this LLVM has no vector math library), which keeps a loop that needs them scalar. These are
branch-free (range reduction by ln 2, a polynomial, 2^k from its bit pattern), so a loop over an array of
them runs 8 lanes wide; within 3 ulp of libm over the range a device model uses. ``sqrt`` is LLVM's own
square root: numba's ``math.sqrt`` calls libm's (which may set errno), one element at a time."""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

_JIT_INLINE = {"nogil": True, "cache": True, "error_model": "numpy", "inline": "always"}
_ROUND_MAGIC = 6755399441055744.0  # 1.5·2^52: x + it − it rounds x to an integer
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01   # ln 2 in two parts (fdlibm's): k·hi is exact for |k| < 2^20
_LN2_LO = 1.90821492927058770002e-10
_EXP_MIN, _EXP_MAX = -708.0, 709.0      # beyond: 2^k leaves the normal range (exp is 0 or inf there anyway)
_EXPONENT_BIAS = 1023


@intrinsic
def sqrt(typingctx, x):  # noqa: ANN001, ANN201 (numba's intrinsic protocol)
    """The IEEE square root of a float64 (NaN below 0), as the ``llvm.sqrt`` intrinsic: one instruction that
    a loop over an array runs 8 lanes wide, where numba's ``math.sqrt`` is a libm call per element."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        fn = builder.module.declare_intrinsic("llvm.sqrt", [ir.DoubleType()])
        return builder.call(fn, args)
    return types.float64(types.float64), codegen


@intrinsic
def trailing_zeros(typingctx, x):  # noqa: ANN001, ANN201 (numba's intrinsic protocol)
    """The index of the lowest set bit of a nonzero uint64 (``llvm.cttz``, one instruction): a loop over the
    set bits of a mask visits only those, where a scan of all 64 is a branch each."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        fn = builder.module.declare_intrinsic("llvm.cttz", [ir.IntType(64), ir.IntType(1)])
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 0)])
    return types.int64(types.uint64), codegen


@intrinsic
def _pow2(typingctx, k):  # noqa: ANN001, ANN202
    """2^k for an int64 k in [-1022, 1023], from its bit pattern ((k + 1023) << 52): a shift and an add,
    where a table look-up is a gather that AMD's cores run element by element."""
    if k != types.int64:
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        biased = builder.add(args[0], ir.Constant(ir.IntType(64), _EXPONENT_BIAS))
        return builder.bitcast(builder.shl(biased, ir.Constant(ir.IntType(64), 52)), ir.DoubleType())
    return types.float64(types.int64), codegen


@nb.njit(**_JIT_INLINE)
def expm1(x: float) -> float:
    """e^x − 1 with the relative accuracy of libm's expm1 near 0: x = k·ln 2 + r, |r| ≤ ln 2 / 2, e^r − 1 by
    its Taylor series to r^13 (truncation below 2^-56 of the result), then 2^k·(e^r − 1) + (2^k − 1)."""
    x = _EXP_MAX if x > _EXP_MAX else (_EXP_MIN if x < _EXP_MIN else x)
    k = (x * _LOG2E + _ROUND_MAGIC) - _ROUND_MAGIC
    r = (x - k * _LN2_HI) - k * _LN2_LO
    q = 1.0 / 6227020800.0                     # 1/13!, then Horner down to 1/2!
    q = q * r + 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    em1_r = r + r * r * q
    scale = _pow2(np.int64(k))
    return scale * em1_r + (scale - 1.0)


@nb.njit(**_JIT_INLINE)
def minimum(a: float, b: float) -> float:
    """Python's min(a, b) (b only if it is smaller) as a select: numba's builtin is a call that keeps the
    loop around it scalar."""
    return b if b < a else a


@nb.njit(**_JIT_INLINE)
def maximum(a: float, b: float) -> float:
    """Python's max(a, b) (b only if it is larger) as a select."""
    return b if b > a else a
