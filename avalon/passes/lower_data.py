"""Loop nests and bulk memory ops for data movement and generators: ``pad``, ``concat``,
``gather``, ``iota`` and constants.

Pad and concat write their destination with ``memory.fill`` and ``memory.copy`` into strided
``memory.subview``\\ s (``lower-to-loops`` later expands those into loops); gather and iota are
loop nests. A constant is filled (splat), stored element by element (small) or stored with
one ``vector.store`` of the whole constant into a flat view (large; the CPU backend turns that
into a ``memcpy`` from read-only data, so code size does not grow with the constant).
"""

from __future__ import annotations

import numpy as np

from avalon.ir.attributes import DenseElementsAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.dialects import vector
from avalon.ir.types import MemRefType, VectorType, index
from avalon.passes import lower_common as lc
from avalon.passes.lower_structured import LoweringContext, index_to

#: Constants with at most this many elements are stored one scalar at a time.
SCALAR_STORE_LIMIT = 16


def _ints(op: Operation, name: str) -> tuple[int, ...]:
    return tuple(int(v) for v in op.attributes[name].values)  # type: ignore[union-attr]


def scalar_of(ctx: LoweringContext, b: Builder, v: Value) -> Value:
    """The element of 0-d tensor ``v`` as a scalar."""
    s = ctx.splat(b, v)
    return s if s is not None else lc.load(b, ctx.buffer(b, v), [])


def lower_pad(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    """Fill with the padding value, then copy the input into the strided box it occupies."""
    dst = dsts[0]
    lc.fill(b, scalar_of(ctx, b, op.operands[1]), dst)
    shape = op.operands[0].type.shape
    if 0 in shape:
        return
    interior = _ints(op, "interior")
    box = lc.subview(b, dst, _ints(op, "low"), shape, [i + 1 for i in interior])
    lc.copy(b, ctx.buffer(b, op.operands[0]), box)


def lower_concat(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    """Copy each operand into its slab of the destination."""
    d = int(op.attributes["dim"].value)  # type: ignore[union-attr]
    rank = op.results[0].type.rank
    offset = 0
    for v in op.operands:
        shape = v.type.shape
        if 0 not in shape:
            offsets = [offset if k == d else 0 for k in range(rank)]
            box = lc.subview(b, dsts[0], offsets, shape, [1] * rank)
            lc.copy(b, ctx.buffer(b, v), box)
        offset += shape[d]


def lower_gather(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    """``dst[j] = input[j with j_dim = indices[j]]``. Indices are clamped into range, so
    native code never reads outside the input (the interpreter reports out-of-range indices
    of the tensor op instead; the clamped result is only defined for valid indices)."""
    x = ctx.buffer(b, op.operands[0])
    ind = ctx.buffer(b, op.operands[1])
    d = int(op.attributes["dim"].value)  # type: ignore[union-attr]
    n = op.operands[0].type.shape[d]
    t = op.results[0].type

    def body(bb: Builder, ivs: list[Value]) -> None:
        raw = lc.load(bb, ind, ivs)
        i = lc.clamp(bb, lc.scalar(bb, "arith.index_cast", [raw], index), 0, n - 1)
        src = list(ivs)
        src[d] = i
        lc.store(bb, lc.load(bb, x, src), dsts[0], ivs)

    lc.parallel_extents(b, list(t.shape), body)


def lower_iota(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    t = op.results[0].type
    d = int(op.attributes["dim"].value)  # type: ignore[union-attr]

    def body(bb: Builder, ivs: list[Value]) -> None:
        lc.store(bb, index_to(bb, ivs[d], t.element_type), dsts[0], ivs)

    lc.parallel_extents(b, list(t.shape), body)


def materialize_constant(b: Builder, attr: DenseElementsAttr, dst: Value) -> None:
    """Write the elements of ``attr`` into ``dst`` (a buffer of the same shape, any layout)."""
    arr = attr.array
    et = attr.type.element_type
    if arr.size == 0:
        return
    if attr.is_splat:
        lc.fill(b, lc.const(b, attr.splat_value(), et), dst)
        return
    if arr.size <= SCALAR_STORE_LIMIT:
        for pos in np.ndindex(*arr.shape):
            lc.store(b, lc.const(b, arr[pos].item(), et), dst, [lc.idx(b, i) for i in pos])
        return
    t: MemRefType = dst.type  # type: ignore[assignment]
    if not lc.is_dense_buffer(t):
        tmp = lc.alloc(b, t)
        materialize_constant(b, attr, tmp)
        lc.copy(b, tmp, dst)
        return
    flat_vals = arr.reshape(-1)
    n = flat_vals.size
    flat = lc.reshape_view(b, dst, (n,))
    value = lc.vector_const(b, DenseElementsAttr(flat_vals, VectorType((n,), et)))
    b.create(vector.StoreOp, value, flat, indices=[lc.idx(b, 0)])
