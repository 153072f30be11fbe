"""Loop nests for the windowed ops: ``tensor.conv`` and ``tensor.pool``.

Convolution of f32/f64 tensors without groups is a :class:`Structured` contraction over
``(n, o, output spatial..., c, kernel...)``, so it becomes the register-blocked vector nest
of ``lower_vector`` (vectorized along the output width, or along output channels with the
weights packed channel-innermost, whichever fills the vectors better). Padding is a
zero-filled padded copy of the input; kernel taps that can only read zeros (that padding, or
the zero border of a ``tensor.pad`` feeding the convolution, which is how the input gradient
of a convolution is formed) are skipped along the spatial dimensions outside the tile.

Other convolutions (groups, 16-bit floats, integers) accumulate in the zero-initialised
output (an f32 temporary for 16-bit floats) with loops ``n, o, outer output spatial..., c,
kernel..., output width``: the innermost loop runs over contiguous output (and, at unit
stride, input) elements. Padding never materialises there: along the output width the loop
bounds are narrowed to the positions whose input element exists, and along the other
spatial dimensions a ``loop.if`` skips kernel taps that fall into the padding.

Pooling visits each window with ``loop.for`` loops carrying the running maximum (or the f64
sum and, without ``count_include_pad``, the count of real elements), guarded by ``loop.if``
only along padded dimensions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from avalon.ir.affine import (
    AffineBinaryExpr,
    AffineConstantExpr,
    AffineDimExpr,
    AffineExpr,
    AffineMap,
)
from avalon.ir.attributes import DenseElementsAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.dialects import tensor
from avalon.ir.types import MemRefType, f32, f64
from avalon.passes import lower_common as lc
from avalon.passes.lower_structured import (
    Input,
    LoweringContext,
    Output,
    Skip,
    Structured,
    emit_structured,
    narrow_into,
)


def _ints(op: Operation, name: str) -> tuple[int, ...]:
    return tuple(int(v) for v in op.attributes[name].values)  # type: ignore[union-attr]


def _input_index(b: Builder, p: Value, k: Value, stride: int, dilation: int,
                 pad: int) -> Value:
    """``p * stride + k * dilation - pad``."""
    return lc.iadd(b, lc.iadd(b, lc.imul(b, p, stride), lc.imul(b, k, dilation)), -pad)


def lower_conv(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    x_t, w_t, y_t = op.operands[0].type, op.operands[1].type, op.results[0].type
    x = ctx.buffer(b, op.operands[0])
    w = ctx.buffer(b, op.operands[1])
    stride, dil = _ints(op, "stride"), _ints(op, "dilation")
    low, high = _ints(op, "padding_low"), _ints(op, "padding_high")
    groups = int(op.attributes["groups"].value)  # type: ignore[union-attr]
    if groups == 1 and y_t.element_type in (f32, f64):
        zlo, zhi = known_zero_border(op.operands[0])
        conv_structured(b, x, w, dsts[0], stride, dil, low, high, zlo[2:], zhi[2:])
        return
    nsp = x_t.rank - 2
    size, kernel, out = x_t.shape[2:], w_t.shape[2:], y_t.shape[2:]
    o_total, cg = w_t.shape[0], w_t.shape[1]
    og = o_total // groups
    et = y_t.element_type
    acc_t = lc.accumulator_type(et)
    dst = dsts[0]
    y = dst if acc_t == et else lc.alloc(b, lc.memref_of(y_t.shape, acc_t))
    lc.fill(b, lc.const(b, 0, acc_t), y)
    last = nsp - 1

    def widen(bb: Builder, v: Value) -> Value:
        return lc.extend_float(bb, v, acc_t) if acc_t != et else v  # type: ignore[arg-type]

    def outer(bb: Builder, ivs: list[Value]) -> None:
        n, o, p_outer = ivs[0], ivs[1], ivs[2:]
        g_base = None
        if groups > 1:
            g = lc.binary(bb, "arith.divui", o, lc.idx(bb, og))
            g_base = lc.imul(bb, g, cg)

        def channel(cb: Builder, c: Value, carried: list[Value]) -> list[Value]:
            ci = c if g_base is None else lc.binary(cb, "arith.addi", g_base, c)
            taps(cb, ci, c, [], [])
            return []

        def taps(tb: Builder, ci: Value, c: Value, ks: list[Value], xi: list[Value]) -> None:
            j = len(ks)
            if j == last:
                lc.for_loop(tb, 0, kernel[j], [],
                            lambda lb_, k, _: width(lb_, ci, c, [*ks, k], xi) or [])
                return

            def step(sb: Builder, k: Value, carried: list[Value]) -> list[Value]:
                i = _input_index(sb, p_outer[j], k, stride[j], dil[j], low[j])
                if low[j] or high[j]:
                    cond = lc.all_true(sb, lc.in_bounds(sb, i, size[j]))
                    lc.if_then(sb, cond,  # type: ignore[arg-type]
                               lambda ib: taps(ib, ci, c, [*ks, k], [*xi, i]) or [])
                else:
                    taps(sb, ci, c, [*ks, k], [*xi, i])
                return []

            lc.for_loop(tb, 0, kernel[j], [], step)

        def width(kb: Builder, ci: Value, c: Value, ks: list[Value], xi: list[Value]) -> None:
            wv = widen(kb, lc.load(kb, w, [o, c, *ks]))
            k = ks[last]
            lo: Value | int = 0
            hi: Value | int = out[last]
            if low[last] or high[last]:
                # positions p with 0 <= p*stride + k*dil - low < size
                base = lc.iadd(kb, lc.imul(kb, k, -dil[last]), low[last])  # low - k*dil
                top = lc.iadd(kb, base, size[last] - 1)
                if stride[last] == 1:
                    lo_v, hi_v = base, lc.iadd(kb, top, 1)
                else:
                    s_c = lc.idx(kb, stride[last])
                    lo_v = lc.binary(kb, "arith.ceildivsi", base, s_c)
                    hi_v = lc.iadd(kb, lc.binary(kb, "arith.floordivsi", top, s_c), 1)
                lo = lc.binary(kb, "arith.maxsi", lo_v, lc.idx(kb, 0))
                hi = lc.binary(kb, "arith.minsi", hi_v, lc.idx(kb, out[last]))

            def inner(ib: Builder, pv: list[Value]) -> None:
                p = pv[0]
                i = _input_index(ib, p, k, stride[last], dil[last], low[last])
                xv = widen(ib, lc.load(ib, x, [n, ci, *xi, i]))
                idx = [n, o, *p_outer, p]
                acc = lc.load(ib, y, idx)
                lc.store(ib, lc.add(ib, acc, lc.mul(ib, xv, wv)), y, idx)

            lc.parallel(kb, [(lo, hi)], inner)

        lc.for_loop(bb, 0, cg, [], channel)

    lc.parallel_extents(b, [y_t.shape[0], o_total, *out[:last]], outer)
    if y is not dst:
        narrow_into(b, y, dst)


def known_zero_border(v: Value) -> tuple[list[int], list[int]]:
    """How many leading and trailing elements of each dimension of tensor ``v`` are known
    to be zero: ``v`` is a ``tensor.pad`` with a zero padding value (what the gradient of a
    convolution pads its incoming gradient with)."""
    t = v.type
    rank = t.rank  # type: ignore[attr-defined]
    zero = ([0] * rank, [0] * rank)
    pad = getattr(v, "op", None)
    if not isinstance(pad, tensor.PadOp):
        return zero
    value = getattr(pad.padding_value, "op", None)
    attr = value.attributes.get("value") if isinstance(value, tensor.ConstantOp) else None
    if not isinstance(attr, DenseElementsAttr) or not attr.is_splat \
            or attr.splat_value() != 0:
        return zero
    return [int(n) for n in pad.low.values], [int(n) for n in pad.high.values]


def _tap_bounds(p: Value, b: Builder, k: int, s: int, d: int, first: int, last: int
                ) -> tuple[Value, Value]:
    """The taps ``t`` in ``[0, k)`` whose input position ``p*s + t*d`` lies in
    ``[first, last]``, as ``(lo, hi)``."""
    base = lc.imul(b, p, s)
    lo = lc.binary(b, "arith.ceildivsi", lc.binary(b, "arith.subi", lc.idx(b, first), base),
                   lc.idx(b, d))
    hi = lc.iadd(b, lc.binary(b, "arith.floordivsi",
                              lc.binary(b, "arith.subi", lc.idx(b, last), base),
                              lc.idx(b, d)), 1)
    lo = lc.binary(b, "arith.maxsi", lo, lc.idx(b, 0))
    hi = lc.binary(b, "arith.minsi", hi, lc.idx(b, k))
    return lo, hi


def conv_structured(b: Builder, x: Value, w: Value, y: Value, stride: Sequence[int],
                    dil: Sequence[int], low: Sequence[int], high: Sequence[int],
                    zero_low: Sequence[int] = (), zero_high: Sequence[int] = ()) -> None:
    """Convolution as a :class:`Structured` contraction over ``(n, o, out..., c, k...)``
    (reductions in the order ``c, k...``), so it gets the register-blocked vector nest.
    Padding is materialised first: a zero-filled copy of the input, which costs one pass
    over it and lets every tap read without bounds checks. Kernel taps that can only read
    zeros (the padding, or the ``zero_low``/``zero_high`` border the input is known to
    have) are skipped along every spatial dimension the nest does not vectorize: they
    would add ``x * 0``, which is 0 for every finite weight."""
    x_t: MemRefType = x.type  # type: ignore[assignment]
    w_t: MemRefType = w.type  # type: ignore[assignment]
    y_t: MemRefType = y.type  # type: ignore[assignment]
    nsp = x_t.rank - 2
    zlo = [lo + (zero_low[j] if j < len(zero_low) else 0) for j, lo in enumerate(low)]
    zhi = [hi + (zero_high[j] if j < len(zero_high) else 0) for j, hi in enumerate(high)]
    if any(low) or any(high):
        padded = [n + lo + hi for n, lo, hi in zip(x_t.shape[2:], low, high)]
        xp = lc.alloc(b, lc.memref_of([*x_t.shape[:2], *padded], x_t.element_type))
        lc.fill(b, lc.const(b, 0, x_t.element_type), xp)
        inner = lc.subview(b, xp, [0, 0, *low], list(x_t.shape), [1] * x_t.rank)
        lc.copy(b, x, inner)
        x = xp
    n_dims = 2 + 2 * nsp + 1
    sp = list(range(2, 2 + nsp))
    c = 2 + nsp
    ks = list(range(c + 1, n_dims))
    taps: list[AffineExpr] = []
    for j in range(nsp):
        e: AffineExpr = AffineDimExpr(sp[j])
        if stride[j] != 1:
            e = AffineBinaryExpr("*", e, AffineConstantExpr(stride[j]))
        k: AffineExpr = AffineDimExpr(ks[j])
        if dil[j] != 1:
            k = AffineBinaryExpr("*", k, AffineConstantExpr(dil[j]))
        taps.append(AffineBinaryExpr("+", e, k))
    x_map = AffineMap(n_dims, 0, (AffineDimExpr(0), AffineDimExpr(c), *taps))
    w_map = AffineMap.from_dims(n_dims, [1, c, *ks])
    y_map = AffineMap.from_dims(n_dims, [0, 1, *sp])
    et = y_t.element_type
    extents = (*y_t.shape, w_t.shape[1], *w_t.shape[2:])

    def body(bb: Builder, ins: list[Value], accs: list[Value | None]) -> list[Value]:
        return [lc.add(bb, accs[0], lc.mul(bb, ins[0], ins[1]))]  # type: ignore[arg-type]

    skips = []
    for j in range(nsp):
        size = x.type.shape[2 + j]  # type: ignore[attr-defined]
        first, last = zlo[j], size - 1 - zhi[j]
        if first == 0 and last == size - 1:
            continue
        k_j, out_j = w_t.shape[2 + j], y_t.shape[2 + j]
        kept = sum(first <= p * stride[j] + t * dil[j] <= last
                   for p in range(out_j) for t in range(k_j))
        skips.append(Skip(ks[j], sp[j], lambda bb, p, j=j, first=first, last=last: _tap_bounds(
            p, bb, w_t.shape[2 + j], stride[j], dil[j], first, last),
            kept / max(out_j * k_j, 1)))
    s = Structured(extents, ["parallel"] * (2 + nsp) + ["reduction"] * (1 + nsp),
                   [Input(x_map, buffer=x), Input(w_map, buffer=w)],
                   [Output(y, y_map, init=lc.const(b, 0, et))], body, contract=True,
                   skips=skips)
    emit_structured(b, s)


def lower_pool(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    x_t, y_t = op.operands[0].type, op.results[0].type
    x = ctx.buffer(b, op.operands[0])
    window, stride = _ints(op, "window"), _ints(op, "stride")
    low, high = _ints(op, "padding_low"), _ints(op, "padding_high")
    kind = op.attributes["kind"].value  # type: ignore[union-attr]
    nsp = len(window)
    lead = x_t.rank - nsp
    size = x_t.shape[lead:]
    et = x_t.element_type
    avg = kind == "avg"
    include_pad = bool(getattr(op, "includes_pad", True))
    count = avg and not include_pad and (any(low) or any(high))
    padded = [bool(low[j] or high[j]) for j in range(nsp)]
    acc_t = f64 if avg else et

    def body(bb: Builder, ivs: list[Value]) -> None:
        keep, ps = ivs[:lead], ivs[lead:]
        init = [lc.const(bb, 0.0 if avg else lc.lowest(et), acc_t)]
        if count:
            init.append(lc.idx(bb, 0))

        def visit(ib: Builder, ks: list[Value], carried: list[Value]) -> list[Value]:
            xi = [_input_index(ib, ps[j], ks[j], stride[j], 1, low[j]) for j in range(nsp)]
            conds: list[Value] = []
            for j in range(nsp):
                if padded[j]:
                    conds += lc.in_bounds(ib, xi[j], size[j])
            cond = lc.all_true(ib, conds)

            def take(tb: Builder) -> list[Value]:
                v = lc.load(tb, x, [*keep, *xi])
                if avg:
                    v = lc.extend_float(tb, v, f64)
                    out = [lc.add(tb, carried[0], v)]
                else:
                    out = [lc.maximum(tb, carried[0], v)]
                if count:
                    out.append(lc.iadd(tb, carried[1], 1))
                return out

            if cond is None:
                return take(ib)
            return lc.if_then(ib, cond, take, lambda eb: list(carried),
                              [v.type for v in carried])

        final = lc.for_nest(bb, window, init, visit)
        v = final[0]
        if avg:
            divisor = lc.int_to_f64(bb, final[1]) if count else lc.const(
                bb, float(math.prod(window)), f64)
            v = lc.truncate_float(bb, lc.binary(bb, "arith.divf", v, divisor),
                                  et)  # type: ignore[arg-type]
        lc.store(bb, v, dsts[0], ivs)

    lc.parallel_extents(b, list(y_t.shape), body)
