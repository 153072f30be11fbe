"""Building blocks shared by the lowerings of tensor ops to loops over buffers.

Every lowering writes one destination buffer (any strided layout) from source buffers with
``loop``, ``memory``, ``arith`` and ``math`` ops. These helpers create constants, index
arithmetic, affine-expression evaluation, loads and stores, and the loop nests themselves, so
the per-op lowerings read as the loop structure they build and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from avalon.ir.affine import AffineBinaryExpr, AffineConstantExpr, AffineDimExpr, AffineExpr
from avalon.ir.attributes import Attribute, DenseElementsAttr, FloatAttr, IntegerAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.dialects import loop, memory
from avalon.ir.types import FloatType, IntegerType, MemRefType, Type, f64, i1, i64, index

#: ``arith.cmpi``/``arith.cmpf`` predicate numbers (upstream MLIR's enums).
CMPI = {"eq": 0, "ne": 1, "slt": 2, "sle": 3, "sgt": 4, "sge": 5, "ult": 6, "ule": 7,
        "ugt": 8, "uge": 9}
CMPF = {"oeq": 1, "ogt": 2, "oge": 3, "olt": 4, "ole": 5, "one": 6, "ord": 7, "ueq": 8,
        "ugt": 9, "uge": 10, "ult": 11, "ule": 12, "une": 13, "uno": 14}

#: Byte alignment of every buffer the lowerings allocate (a cache line, a full AVX-512 vector).
ALIGNMENT = 64

Body = Callable[[Builder, list[Value]], None]


# ----------------------------------------------------------------------------- scalars


def scalar(b: Builder, name: str, operands: Sequence[Value], result_type: Type,
           attrs: dict[str, Attribute] | None = None) -> Value:
    """Insert the single-result op ``name`` and return its result."""
    return b.insert(Operation.create(name, operands, [result_type], attrs,
                                     location=b.location)).result


def const(b: Builder, value: int | float | bool, t: Type) -> Value:
    """An ``arith.constant`` of scalar type ``t``."""
    attr: Attribute
    if isinstance(t, FloatType):
        attr = FloatAttr(float(value), t)
    else:
        attr = IntegerAttr(int(value), t)
    return scalar(b, "arith.constant", [], t, {"value": attr})


def idx(b: Builder, value: int) -> Value:
    """An ``index`` constant."""
    return const(b, value, index)


def vector_const(b: Builder, attr: DenseElementsAttr) -> Value:
    return scalar(b, "arith.constant", [], attr.type, {"value": attr})


def cmpi(b: Builder, pred: str, lhs: Value, rhs: Value) -> Value:
    return scalar(b, "arith.cmpi", [lhs, rhs], i1, {"predicate": IntegerAttr(CMPI[pred], i64)})


def cmpf(b: Builder, pred: str, lhs: Value, rhs: Value) -> Value:
    return scalar(b, "arith.cmpf", [lhs, rhs], i1, {"predicate": IntegerAttr(CMPF[pred], i64)})


def select(b: Builder, cond: Value, a: Value, c: Value) -> Value:
    return scalar(b, "arith.select", [cond, a, c], a.type)


def binary(b: Builder, name: str, lhs: Value, rhs: Value) -> Value:
    """``arith.<name>`` (or any same-typed binary op) on two values of one type."""
    return scalar(b, name, [lhs, rhs], lhs.type)


def add(b: Builder, lhs: Value, rhs: Value) -> Value:
    return binary(b, "arith.addf" if isinstance(lhs.type, FloatType) else "arith.addi", lhs, rhs)


def mul(b: Builder, lhs: Value, rhs: Value) -> Value:
    return binary(b, "arith.mulf" if isinstance(lhs.type, FloatType) else "arith.muli", lhs, rhs)


def extend_float(b: Builder, x: Value, t: FloatType) -> Value:
    """``x`` converted exactly to the wider (or equal) float type ``t``."""
    if x.type == t:
        return x
    return scalar(b, "arith.extf", [x], t)


def truncate_float(b: Builder, x: Value, t: FloatType) -> Value:
    """``x`` rounded once to the narrower (or equal) float type ``t``."""
    if x.type == t:
        return x
    return scalar(b, "arith.truncf", [x], t)


def int_to_f64(b: Builder, x: Value) -> Value:
    """A signed integer or index value as f64."""
    if x.type == index:
        x = scalar(b, "arith.index_cast", [x], i64)
    return scalar(b, "arith.sitofp", [x], f64)


def accumulator_type(t: Type) -> Type:
    """Type sums of ``t`` products are accumulated in: f32 for the 16-bit floats (as the
    interpreter's contractions do, within rounding), else ``t`` itself."""
    if isinstance(t, FloatType) and t.width == 16:
        return FloatType("f32")
    return t


# ---------------------------------------------------------------------- index arithmetic


def iadd(b: Builder, lhs: Value, rhs: Value | int) -> Value:
    if isinstance(rhs, int):
        if rhs == 0:
            return lhs
        rhs = idx(b, rhs)
    return binary(b, "arith.addi", lhs, rhs)


def imul(b: Builder, lhs: Value, rhs: Value | int) -> Value:
    if isinstance(rhs, int):
        if rhs == 1:
            return lhs
        rhs = idx(b, rhs)
    return binary(b, "arith.muli", lhs, rhs)


def clamp(b: Builder, i: Value, lo: int, hi: int) -> Value:
    """``min(max(i, lo), hi)`` on index values."""
    i = binary(b, "arith.maxsi", i, idx(b, lo))
    return binary(b, "arith.minsi", i, idx(b, hi))


def affine_value(b: Builder, e: AffineExpr, dims: Sequence[Value]) -> Value:
    """Evaluate affine expression ``e`` at loop indices ``dims`` with index arithmetic."""
    if isinstance(e, AffineDimExpr):
        return dims[e.position]
    if isinstance(e, AffineConstantExpr):
        return idx(b, e.value)
    if isinstance(e, AffineBinaryExpr):
        lhs = affine_value(b, e.lhs, dims)
        rhs = affine_value(b, e.rhs, dims)
        if e.kind == "+":
            return binary(b, "arith.addi", lhs, rhs)
        if e.kind == "*":
            return binary(b, "arith.muli", lhs, rhs)
        if e.kind == "floordiv":
            return binary(b, "arith.floordivsi", lhs, rhs)
        if e.kind == "ceildiv":
            return binary(b, "arith.ceildivsi", lhs, rhs)
        # mod: Python's sign convention (the result takes the divisor's sign).
        r = binary(b, "arith.remsi", lhs, rhs)
        zero = idx(b, 0)
        fix = scalar(b, "arith.andi", [cmpi(b, "ne", r, zero),
                                       scalar(b, "arith.xori", [cmpi(b, "slt", r, zero),
                                                                cmpi(b, "slt", rhs, zero)],
                                              i1)], i1)
        return select(b, fix, binary(b, "arith.addi", r, rhs), r)
    raise TypeError(f"unsupported affine expression {e}")


def affine_range(e: AffineExpr, extents: Sequence[int]) -> tuple[int, int] | None:
    """Conservative ``(min, max)`` of ``e`` over the box ``0 <= d_i < extents[i]`` (non-empty),
    or None when the expression is beyond this interval analysis."""
    if isinstance(e, AffineDimExpr):
        return 0, extents[e.position] - 1
    if isinstance(e, AffineConstantExpr):
        return e.value, e.value
    if not isinstance(e, AffineBinaryExpr):
        return None
    lhs, rhs = affine_range(e.lhs, extents), affine_range(e.rhs, extents)
    if lhs is None or rhs is None:
        return None
    if e.kind == "+":
        return lhs[0] + rhs[0], lhs[1] + rhs[1]
    if e.kind == "*":
        corners = [x * y for x in lhs for y in rhs]
        return min(corners), max(corners)
    if rhs[0] != rhs[1] or rhs[0] <= 0:
        return None  # only division by a positive constant is analysed
    c = rhs[0]
    if e.kind == "floordiv":
        return lhs[0] // c, lhs[1] // c
    if e.kind == "ceildiv":
        return -(-lhs[0] // c), -(-lhs[1] // c)
    return (lhs[0] % c, lhs[1] % c) if lhs[1] - lhs[0] < c and lhs[0] % c <= lhs[1] % c \
        else (0, c - 1)


# ------------------------------------------------------------------------ buffers


def alloc(b: Builder, t: MemRefType) -> Value:
    """A fresh identity-layout buffer of ``t``'s shape and element type."""
    plain = MemRefType(t.shape, t.element_type, None, t.memory_space)
    return b.create(memory.AllocOp, alignment=ALIGNMENT, result_types=[plain]).result


def memref_of(shape: Sequence[int], element_type: Type) -> MemRefType:
    return MemRefType(tuple(shape), element_type)


def load(b: Builder, buf: Value, indices: Sequence[Value]) -> Value:
    return b.create(memory.LoadOp, buf, indices=list(indices)).result


def store(b: Builder, value: Value, buf: Value, indices: Sequence[Value]) -> None:
    b.create(memory.StoreOp, value, buf, indices=list(indices))


def fill(b: Builder, value: Value, buf: Value) -> None:
    b.create(memory.FillOp, value, buf)


def copy(b: Builder, source: Value, target: Value) -> None:
    if source is not target:
        b.create(memory.CopyOp, source, target)


def subview(b: Builder, buf: Value, offsets: Sequence[int], sizes: Sequence[int],
            strides: Sequence[int]) -> Value:
    return b.create(memory.SubViewOp, buf, static_offsets=list(offsets),
                    static_sizes=list(sizes), static_strides=list(strides)).result


def reshape_view(b: Builder, buf: Value, shape: Sequence[int]) -> Value:
    """A ``memory.reshape`` view of dense ``buf`` (``buf`` itself if the shape is equal)."""
    t: MemRefType = buf.type  # type: ignore[assignment]
    if tuple(shape) == t.shape:
        return buf
    rt = memory.reshape_type(t, shape)
    return b.create(memory.ReshapeOp, buf, result_types=[rt]).result


def transpose_view(b: Builder, buf: Value, perm: Sequence[int]) -> Value:
    if tuple(perm) == tuple(range(len(perm))):
        return buf
    return b.create(memory.TransposeOp, buf, permutation=list(perm)).result


def is_dense_buffer(t: MemRefType) -> bool:
    strides, _ = t.strides_and_offset()
    return memory.is_dense(t.shape, strides)


# ---------------------------------------------------------------------------- loops


def parallel(b: Builder, bounds: Sequence[tuple[Value | int, Value | int]], body: Body) -> None:
    """A ``loop.parallel`` over ``lower <= i < upper`` per dimension (unit steps), or the body
    inlined at ``b`` when there are no dimensions."""
    if not bounds:
        body(b, [])
        return
    lbs = [v if isinstance(v, Value) else idx(b, v) for v, _ in bounds]
    ubs = [v if isinstance(v, Value) else idx(b, v) for _, v in bounds]
    one = idx(b, 1)
    op = b.create(loop.ParallelOp, lower_bounds=lbs, upper_bounds=ubs,
                  steps=[one] * len(bounds), inits=[])
    inner = Builder.at_end(op.body, b.location)
    body(inner, list(op.body.args))
    inner.create(loop.ReduceOp, values=[])


def parallel_extents(b: Builder, extents: Sequence[int], body: Body) -> None:
    """``parallel`` over ``0 <= i_k < extents[k]``."""
    parallel(b, [(0, e) for e in extents], body)


def for_loop(b: Builder, lower: Value | int, upper: Value | int, inits: Sequence[Value],
             body: Callable[[Builder, Value, list[Value]], Sequence[Value]]) -> list[Value]:
    """A ``loop.for`` with unit step carrying ``inits``; ``body(b, i, carried)`` returns the
    next carried values. Returns the loop's results."""
    lb = lower if isinstance(lower, Value) else idx(b, lower)
    ub = upper if isinstance(upper, Value) else idx(b, upper)
    op = b.create(loop.ForOp, lb, ub, idx(b, 1), inits=list(inits))
    inner = Builder.at_end(op.body, b.location)
    nxt = body(inner, op.body.args[0], list(op.body.args[1:]))
    inner.create(loop.YieldOp, values=list(nxt))
    return list(op.results)


def for_nest(b: Builder, extents: Sequence[int], inits: Sequence[Value],
             body: Callable[[Builder, list[Value], list[Value]], Sequence[Value]]
             ) -> list[Value]:
    """Nested ``loop.for`` loops over ``0 <= i_k < extents[k]`` threading ``inits`` through
    every level (the innermost body returns the next values)."""
    if not extents:
        return list(body(b, [], list(inits)))

    def level(bb: Builder, k: int, ivs: list[Value], carried: list[Value]) -> list[Value]:
        def step(inner: Builder, i: Value, vals: list[Value]) -> Sequence[Value]:
            if k + 1 == len(extents):
                return body(inner, [*ivs, i], vals)
            return level(inner, k + 1, [*ivs, i], vals)

        return for_loop(bb, 0, extents[k], carried, step)

    return level(b, 0, [], list(inits))


def if_then(b: Builder, cond: Value, then: Callable[[Builder], Sequence[Value]],
            otherwise: Callable[[Builder], Sequence[Value]] | None = None,
            result_types: Sequence[Type] = ()) -> list[Value]:
    """A ``loop.if``; ``then``/``otherwise`` build their region and return the values it
    yields (``otherwise`` may be None when there are no results)."""
    op = b.create(loop.IfOp, cond, result_types=list(result_types))
    tb = Builder.at_end(op.then_block, b.location)
    tb.create(loop.YieldOp, values=list(then(tb)))
    if otherwise is not None:
        if op.else_block is None:
            op.regions[1].add_block()
        eb = Builder.at_end(op.else_block, b.location)
        eb.create(loop.YieldOp, values=list(otherwise(eb)))
    return list(op.results)


def all_true(b: Builder, conds: Sequence[Value]) -> Value | None:
    """The conjunction of ``conds`` (None if there are none)."""
    out: Value | None = None
    for c in conds:
        out = c if out is None else scalar(b, "arith.andi", [out, c], i1)
    return out


def in_bounds(b: Builder, i: Value, size: int) -> list[Value]:
    """Conditions ``0 <= i`` and ``i < size`` on an index value."""
    return [cmpi(b, "sge", i, idx(b, 0)), cmpi(b, "slt", i, idx(b, size))]


def element_kind(t: Type) -> str:
    """``float``, ``bool`` (i1) or ``int``."""
    if isinstance(t, FloatType):
        return "float"
    if isinstance(t, IntegerType) and t.width == 1:
        return "bool"
    return "int"


def lowest(t: Type) -> int | float | bool:
    """The smallest value of ``t`` (-inf for floats)."""
    if isinstance(t, FloatType):
        return float("-inf")
    if t == i1:
        return False
    width: int = t.width  # type: ignore[attr-defined]
    return -(1 << (width - 1))


def maximum(b: Builder, x: Value, y: Value) -> Value:
    """NaN-propagating float maximum, signed integer maximum, ``or`` on i1."""
    kind = element_kind(x.type)
    name = {"float": "arith.maximumf", "int": "arith.maxsi", "bool": "arith.ori"}[kind]
    return binary(b, name, x, y)


def greater(b: Builder, x: Value, y: Value) -> Value:
    """``x > y`` as ``tensor.cmp gt`` defines it (ordered floats, signed ints, unsigned i1)."""
    kind = element_kind(x.type)
    if kind == "float":
        return cmpf(b, "ogt", x, y)
    return cmpi(b, "ugt" if kind == "bool" else "sgt", x, y)


def python_value(attr: DenseElementsAttr) -> Any:
    return attr.splat_value()
