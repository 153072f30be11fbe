"""``tensor.random_uniform`` and ``tensor.random_normal`` as loops computing Philox-4x32-10.

The stream is the one the ops' documentation defines and the interpreter produces, bit for
bit: one loop iteration encrypts one counter block into four 32-bit words (32x32->64 bit
products in i64, everything else in wrapping i32 arithmetic) and turns them into as many
elements as they feed (four 24-bit or 11-bit uniforms, two f64 uniforms, or one normal).
All the float arithmetic is exact except Box-Muller's ``log1p``, ``sqrt`` and ``cos``, which
use the same f64 ``math`` ops the interpreter evaluates.
"""

from __future__ import annotations

import math

from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.types import FloatType, MemRefType, f64, i32, i64
from avalon.passes import lower_common as lc
from avalon.passes.lower_data import scalar_of
from avalon.passes.lower_structured import LoweringContext

PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)
ROUNDS = 10
#: Significant bits of a uniform of each float type (f64 uses two words instead).
PRECISION = {"f16": 11, "bf16": 8, "f32": 24}


def _mul_hi_lo(b: Builder, a: Value, m: int) -> tuple[Value, Value]:
    """High and low 32-bit words of the 64-bit product of i32 ``a`` (unsigned) and ``m``."""
    p = lc.binary(b, "arith.muli", lc.scalar(b, "arith.extui", [a], i64), lc.const(b, m, i64))
    hi = lc.scalar(b, "arith.trunci", [lc.binary(b, "arith.shrui", p, lc.const(b, 32, i64))],
                   i32)
    return hi, lc.scalar(b, "arith.trunci", [p], i32)


def _xor(b: Builder, *vs: Value) -> Value:
    out = vs[0]
    for v in vs[1:]:
        out = lc.binary(b, "arith.xori", out, v)
    return out


def philox(b: Builder, counter: list[Value], key: tuple[Value, Value]) -> list[Value]:
    """The four output words (i32) of Philox-4x32-10 on ``counter`` with ``key``."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    w0, w1 = lc.const(b, PHILOX_W[0], i32), lc.const(b, PHILOX_W[1], i32)
    for r in range(ROUNDS):
        hi0, lo0 = _mul_hi_lo(b, c0, PHILOX_M[0])
        hi1, lo1 = _mul_hi_lo(b, c2, PHILOX_M[1])
        c0, c1, c2, c3 = _xor(b, hi1, c1, k0), lo1, _xor(b, hi0, c3, k1), lo0
        if r + 1 < ROUNDS:
            k0 = lc.binary(b, "arith.addi", k0, w0)
            k1 = lc.binary(b, "arith.addi", k1, w1)
    return [c0, c1, c2, c3]


def _bits_to_f64(b: Builder, w: Value, shift: int) -> Value:
    """``(w >> shift)`` (unsigned) as an exact f64."""
    v = lc.binary(b, "arith.shrui", w, lc.const(b, shift, i32)) if shift else w
    return lc.scalar(b, "arith.uitofp", [v], f64)


def unit_f64(b: Builder, hi: Value, lo: Value) -> Value:
    """``((hi >> 5) * 2**26 + (lo >> 6)) * 2**-53``: a 53-bit uniform in [0, 1)."""
    a = lc.binary(b, "arith.mulf", _bits_to_f64(b, hi, 5), lc.const(b, 2.0 ** 26, f64))
    s = lc.binary(b, "arith.addf", a, _bits_to_f64(b, lo, 6))
    return lc.binary(b, "arith.mulf", s, lc.const(b, 2.0 ** -53, f64))


def lower_random(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    t = op.results[0].type
    et: FloatType = t.element_type
    n = t.num_elements
    if n == 0:
        return
    normal = op.name == "tensor.random_normal"
    per = 1 if normal else (2 if et == f64 else 4)
    dst = dsts[0]
    dt: MemRefType = dst.type  # type: ignore[assignment]
    target = dst if lc.is_dense_buffer(dt) else lc.alloc(b, dt)
    flat = lc.reshape_view(b, target, (n,))
    seed = scalar_of(ctx, b, op.operands[0])
    key = (lc.scalar(b, "arith.trunci", [seed], i32),
           lc.scalar(b, "arith.trunci",
                     [lc.binary(b, "arith.shrui", seed, lc.const(b, 32, i64))], i32))
    blocks = -(-n // per)
    tail = n % per

    def element(bb: Builder, words: list[Value], s: int) -> Value:
        if normal:
            u1, u2 = unit_f64(bb, words[0], words[1]), unit_f64(bb, words[2], words[3])
            lg = lc.scalar(bb, "math.log1p", [lc.scalar(bb, "arith.negf", [u1], f64)], f64)
            r = lc.scalar(bb, "math.sqrt",
                          [lc.binary(bb, "arith.mulf", lc.const(bb, -2.0, f64), lg)], f64)
            c = lc.scalar(bb, "math.cos",
                          [lc.binary(bb, "arith.mulf", lc.const(bb, 2.0 * math.pi, f64), u2)],
                          f64)
            return lc.truncate_float(bb, lc.binary(bb, "arith.mulf", r, c), et)
        if et == f64:
            return unit_f64(bb, words[2 * s], words[2 * s + 1])
        p = PRECISION[et.name]
        u = lc.binary(bb, "arith.mulf", _bits_to_f64(bb, words[s], 32 - p),
                      lc.const(bb, 2.0 ** -p, f64))
        return lc.truncate_float(bb, u, et)

    def body(bb: Builder, ivs: list[Value]) -> None:
        blk = lc.scalar(bb, "arith.index_cast", [ivs[0]], i64)
        counter = [lc.scalar(bb, "arith.trunci", [blk], i32),
                   lc.scalar(bb, "arith.trunci",
                             [lc.binary(bb, "arith.shrui", blk, lc.const(bb, 32, i64))], i32),
                   lc.const(bb, 0, i32), lc.const(bb, 0, i32)]
        words = philox(bb, counter, key)
        for s in range(per):
            e = lc.iadd(bb, lc.imul(bb, ivs[0], per), s)

            def put(pb: Builder, s: int = s, e: Value = e) -> list[Value]:
                lc.store(pb, element(pb, words, s), flat, [e])
                return []

            if tail and s >= tail:
                lc.if_then(bb, lc.cmpi(bb, "slt", e, lc.idx(bb, n)), put)
            else:
                put(bb)

    lc.parallel_extents(b, [blocks], body)
    if target is not dst:
        lc.copy(b, target, dst)
