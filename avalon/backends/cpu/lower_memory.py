"""Lowering of the ``memory`` and ``vector`` dialects.

A memref value is a ``ptr`` to the first byte of its allocation; its static type supplies the
layout, so element ``[i0, ..., in]`` lives at element offset ``offset + sum(ik * sk)`` from
that pointer (computed in ``i64`` and applied with one ``getelementptr inbounds``). Views
(``subview``, ``reshape``, ``transpose``) therefore cost nothing: they pass the pointer on
and only the type changes. Allocations are 64-byte aligned (``aligned_alloc``) and freed with
``free``; a failed allocation records an error code and leaves the function.

Accesses are aligned to the element size (the runtime checks caller arrays for it). Vector
transfers load and store ``<N x T>`` along the unit-stride innermost dimension.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from avalon.backends.cpu import lltypes as lt
from avalon.backends.cpu.abi import is_dense
from avalon.ir.core import Operation
from avalon.ir.types import MemRefType, Type, VectorType

if TYPE_CHECKING:
    from avalon.backends.cpu.codegen import FunctionLowering

Lowering = Callable[["FunctionLowering", Operation], Sequence[ir.Value]]
HANDLERS: dict[str, Lowering] = {}

#: Byte alignment of every ``memory.alloc`` (at least; the op's attribute may ask for more).
ALLOC_ALIGNMENT = 64


def lowering(*names: str) -> Callable[[Lowering], Lowering]:
    def register(fn: Lowering) -> Lowering:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return register


def _memref_type(ft: FunctionLowering, op: Operation, t: Type) -> MemRefType:
    from avalon.backends.cpu.codegen import codegen_error

    if not isinstance(t, MemRefType):
        raise codegen_error(op, f"expects a memref, got '{t}'")
    if t.memory_space is not None:
        raise codegen_error(op, f"cannot be compiled for the CPU: '{t}' is not in host memory")
    strides, offset = t.strides_and_offset()
    if -1 in t.shape or -1 in strides or offset == -1:
        raise codegen_error(op, f"cannot be compiled for the CPU: '{t}' is not fully static")
    return t


def element_offset(ft: FunctionLowering, t: MemRefType,
                   indices: Sequence[ir.Value]) -> ir.Value:
    """``offset + sum(i_k * stride_k)`` in i64 (nsw: in-bounds offsets never overflow)."""
    b = ft.b
    strides, offset = t.strides_and_offset()
    acc: ir.Value | None = None
    for i, s in zip(indices, strides, strict=True):
        if s == 0:
            continue
        term = i if s == 1 else b.mul(i, lt.int_const(lt.I64, s), flags=("nsw",))
        acc = term if acc is None else b.add(acc, term, flags=("nsw",))
    if acc is None:
        return lt.int_const(lt.I64, offset)
    if offset:
        acc = b.add(acc, lt.int_const(lt.I64, offset), flags=("nsw",))
    return acc


def element_address(ft: FunctionLowering, base: ir.Value, t: MemRefType,
                    indices: Sequence[ir.Value]) -> ir.Value:
    return ft.b.gep(base, [element_offset(ft, t, indices)], inbounds=True,
                    source_etype=lt.storage_type(t.element_type))


def _align(t: Type) -> int:
    return lt.storage_size(t.element_type if isinstance(t, MemRefType | VectorType) else t)


# ---------------------------------------------------------------------------- allocation


@lowering("memory.alloc")
def _alloc(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    t = _memref_type(ft, op, op.results[0].type)
    attr = op.attributes.get("alignment")
    align = max(ALLOC_ALIGNMENT, attr.value if attr is not None else 0)
    nbytes = max(t.num_elements * lt.storage_size(t.element_type), 1)
    nbytes = -(-nbytes // align) * align  # aligned_alloc wants a multiple of the alignment
    fn = ft.ml.c_function("aligned_alloc", lt.PTR, [lt.I64, lt.I64])
    ptr = ft.b.call(fn, [lt.int_const(lt.I64, align), lt.int_const(lt.I64, nbytes)])
    ft.fail_if(op, ft.b.icmp_unsigned("==", ptr, ir.Constant(lt.PTR, None)))
    return [ptr]


@lowering("memory.dealloc")
def _dealloc(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    _memref_type(ft, op, op.operands[0].type)
    free = ft.ml.c_function("free", lt.VOID, [lt.PTR])
    ft.b.call(free, [ft.value(op.operands[0])])
    return []


# -------------------------------------------------------------------------- element access


@lowering("memory.load")
def _load(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    t = _memref_type(ft, op, op.operands[0].type)
    base, *indices = (ft.value(v) for v in op.operands)
    addr = element_address(ft, base, t, indices)
    raw = ft.b.load(addr, typ=lt.storage_type(t.element_type), align=_align(t))
    return [lt.from_storage(ft.b, raw, t.element_type)]


@lowering("memory.store")
def _store(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    t = _memref_type(ft, op, op.operands[1].type)
    value, base, *indices = (ft.value(v) for v in op.operands)
    addr = element_address(ft, base, t, indices)
    ft.b.store(lt.to_storage(ft.b, value, t.element_type), addr, align=_align(t))
    return []


@lowering("memory.subview", "memory.reshape", "memory.transpose")
def _view(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    _memref_type(ft, op, op.operands[0].type)
    _memref_type(ft, op, op.results[0].type)
    return [ft.value(op.operands[0])]


# ---------------------------------------------------------------------------- bulk access


def _flat_or_nest(ft: FunctionLowering, t: MemRefType,
                  body: Callable[[ir.Value], None]) -> None:
    """Call ``body(element offset)`` for every element of ``t``: one flat loop when the view
    is dense (clean for the vectorizer), else a loop nest in row-major order."""
    strides, offset = t.strides_and_offset()
    if is_dense(t.shape, strides):
        n = t.num_elements

        def flat(iv: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
            body(ft.b.add(iv, lt.int_const(lt.I64, offset), flags=("nsw",)) if offset else iv)
            return []

        ft.emit_loop(lt.int_const(lt.I64, 0), lt.int_const(lt.I64, n), lt.int_const(lt.I64, 1),
                     [], flat, nsw=True)
    else:
        ft.emit_nest(t.shape, lambda idx: body(element_offset(ft, t, idx)))


@lowering("memory.fill")
def _fill(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    t = _memref_type(ft, op, op.operands[1].type)
    value, base = ft.value(op.operands[0]), ft.value(op.operands[1])
    stored = lt.to_storage(ft.b, value, t.element_type)
    st = lt.storage_type(t.element_type)

    def store(off: ir.Value) -> None:
        ft.b.store(stored, ft.b.gep(base, [off], inbounds=True, source_etype=st),
                   align=_align(t))

    if t.num_elements:
        _flat_or_nest(ft, t, store)
    return []


def _span_bytes(t: MemRefType) -> tuple[int, int]:
    """[first, last + 1) byte offsets of a non-empty view from its allocation start."""
    strides, offset = t.strides_and_offset()
    lo = offset + sum(min(0, (n - 1) * s) for n, s in zip(t.shape, strides))
    hi = offset + sum(max(0, (n - 1) * s) for n, s in zip(t.shape, strides))
    size = lt.storage_size(t.element_type)
    return lo * size, (hi + 1) * size


@lowering("memory.copy")
def _copy(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    """Dense views: one ``llvm.memmove`` (overlap-safe). Otherwise an element loop, or, when
    the two views' byte ranges overlap at run time, a copy through a temporary buffer, which
    gives the read-everything-first semantics of the op."""
    b = ft.b
    src_t = _memref_type(ft, op, op.operands[0].type)
    dst_t = _memref_type(ft, op, op.operands[1].type)
    src, dst = ft.value(op.operands[0]), ft.value(op.operands[1])
    n = src_t.num_elements
    if n == 0:
        return []
    et = src_t.element_type
    st = lt.storage_type(et)
    size = lt.storage_size(et)
    align = _align(src_t)
    src_strides, src_off = src_t.strides_and_offset()
    dst_strides, dst_off = dst_t.strides_and_offset()
    if is_dense(src_t.shape, src_strides) and is_dense(dst_t.shape, dst_strides):
        memmove = ft.ml.intrinsic("llvm.memmove", lt.VOID, [lt.PTR, lt.PTR, lt.I64, lt.I1],
                                  [lt.PTR, lt.PTR, lt.I64])
        d = b.gep(dst, [lt.int_const(lt.I64, dst_off)], inbounds=True, source_etype=st)
        s = b.gep(src, [lt.int_const(lt.I64, src_off)], inbounds=True, source_etype=st)
        b.call(memmove, [d, s, lt.int_const(lt.I64, n * size), lt.int_const(lt.I1, 0)])
        return []

    def element_copy(from_base: ir.Value, from_t: MemRefType | None, to_base: ir.Value,
                     to_t: MemRefType | None) -> None:
        """Copy every element; a ``None`` type means a dense row-major temporary."""

        def body(idx: list[ir.Value]) -> None:
            def addr(base: ir.Value, t: MemRefType | None) -> ir.Value:
                if t is None:
                    return b.gep(base, [_row_major(ft, src_t.shape, idx)], inbounds=True,
                                 source_etype=st)
                return element_address(ft, base, t, idx)

            value = b.load(addr(from_base, from_t), typ=st, align=align)
            b.store(value, addr(to_base, to_t), align=align)

        ft.emit_nest(src_t.shape, body)

    s_lo, s_hi = _span_bytes(src_t)
    d_lo, d_hi = _span_bytes(dst_t)
    src_int = b.ptrtoint(src, lt.I64)
    dst_int = b.ptrtoint(dst, lt.I64)
    overlap = b.and_(
        b.icmp_unsigned("<", b.add(src_int, lt.int_const(lt.I64, s_lo)),
                        b.add(dst_int, lt.int_const(lt.I64, d_hi))),
        b.icmp_unsigned("<", b.add(dst_int, lt.int_const(lt.I64, d_lo)),
                        b.add(src_int, lt.int_const(lt.I64, s_hi))))
    direct_bb = ft.new_block("copy.direct")
    buffered_bb = ft.new_block("copy.buffered")
    done_bb = ft.new_block("copy.done")
    b.cbranch(overlap, buffered_bb, direct_bb)
    b.position_at_end(direct_bb)
    element_copy(src, src_t, dst, dst_t)
    b.branch(done_bb)
    b.position_at_end(buffered_bb)
    malloc = ft.ml.c_function("malloc", lt.PTR, [lt.I64])
    tmp = b.call(malloc, [lt.int_const(lt.I64, n * size)])
    ft.fail_if(op, b.icmp_unsigned("==", tmp, ir.Constant(lt.PTR, None)))
    element_copy(src, src_t, tmp, None)
    element_copy(tmp, None, dst, dst_t)
    b.call(ft.ml.c_function("free", lt.VOID, [lt.PTR]), [tmp])
    b.branch(done_bb)
    b.position_at_end(done_bb)
    return []


def _row_major(ft: FunctionLowering, shape: Sequence[int], idx: Sequence[ir.Value]) -> ir.Value:
    strides = []
    acc = 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    out: ir.Value = lt.int_const(lt.I64, 0)
    for i, s in zip(idx, reversed(strides)):
        term = i if s == 1 else ft.b.mul(i, lt.int_const(lt.I64, s), flags=("nsw",))
        out = ft.b.add(out, term, flags=("nsw",))
    return out


# ------------------------------------------------------------------------------- vector ops


@lowering("vector.load")
def _vload(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    t = _memref_type(ft, op, op.operands[0].type)
    vt = op.results[0].type
    base, *indices = (ft.value(v) for v in op.operands)
    addr = element_address(ft, base, t, indices)
    raw = ft.b.load(addr, typ=lt.storage_type(vt), align=_align(t))
    return [lt.from_storage(ft.b, raw, vt)]


@lowering("vector.store")
def _vstore(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    t = _memref_type(ft, op, op.operands[1].type)
    vt = op.operands[0].type
    value, base, *indices = (ft.value(v) for v in op.operands)
    addr = element_address(ft, base, t, indices)
    from avalon.backends.cpu.codegen import large_constant_bytes

    large = large_constant_bytes(op.operands[0])
    if large is not None:  # a big constant: copy it from global data
        memcpy = ft.ml.intrinsic("llvm.memcpy", lt.VOID, [lt.PTR, lt.PTR, lt.I64, lt.I1],
                                 [lt.PTR, lt.PTR, lt.I64])
        src = ft.ml.constant_data(*large)
        ft.b.call(memcpy, [addr, src, lt.int_const(lt.I64, len(large[1])),
                           lt.int_const(lt.I1, 0)])
        return []
    ft.b.store(lt.to_storage(ft.b, value, vt), addr, align=_align(t))
    return []


@lowering("vector.broadcast")
def _broadcast(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    x = ft.value(op.operands[0])
    vt = lt.value_type(op.results[0].type)
    one = ft.b.insert_element(ir.Constant(vt, ir.Undefined), x, lt.int_const(lt.I64, 0))
    mask = ir.Constant(ir.VectorType(lt.I32, vt.count), [0] * vt.count)
    return [ft.b.shuffle_vector(one, ir.Constant(vt, ir.Undefined), mask)]


def _position(op: Operation) -> ir.Constant:
    return lt.int_const(lt.I64, op.attributes["static_position"].values[0])


@lowering("vector.insert")
def _insert(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    x, v = ft.value(op.operands[0]), ft.value(op.operands[1])
    return [ft.b.insert_element(v, x, _position(op))]


@lowering("vector.extract")
def _extract(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    return [ft.b.extract_element(ft.value(op.operands[0]), _position(op))]


@lowering("vector.fma")
def _vfma(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    """``llvm.fmuladd``: the op allows the target to fuse the multiply and the add."""
    a, b, c = (ft.value(v) for v in op.operands)
    fn = ft.ml.intrinsic("llvm.fmuladd", a.type, [a.type] * 3, [a.type])
    return [ft.b.call(fn, [a, b, c])]


_INT_REDUCE = {"add": ("llvm.vector.reduce.add", "add"), "mul": ("llvm.vector.reduce.mul", "mul"),
               "max": ("llvm.vector.reduce.smax", "llvm.smax"),
               "min": ("llvm.vector.reduce.smin", "llvm.smin"),
               "and": ("llvm.vector.reduce.and", "and_"), "or": ("llvm.vector.reduce.or", "or_"),
               "xor": ("llvm.vector.reduce.xor", "xor")}
_FLOAT_REDUCE = {"max": ("llvm.vector.reduce.fmaximum", "llvm.maximum"),
                 "min": ("llvm.vector.reduce.fminimum", "llvm.minimum")}


@lowering("vector.reduction")
def _reduction(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    """``add``/``mul`` on floats are ordered (``llvm.vector.reduce.fadd`` without
    ``reassoc``, starting from the accumulator, or -0.0 / 1.0 which change nothing), so the
    result equals the interpreter's left-to-right fold bit for bit."""
    b = ft.b
    kind = op.attributes["kind"].value
    v = ft.value(op.operands[0])
    acc = ft.value(op.operands[1]) if len(op.operands) > 1 else None
    et = v.type.element
    if lt.is_float(v.type):
        if kind in ("add", "mul"):
            start = acc if acc is not None else lt.float_const(et, -0.0 if kind == "add" else 1.0)
            fn = ft.ml.intrinsic(f"llvm.vector.reduce.f{kind}", et, [et, v.type], [v.type])
            return [b.call(fn, [start, v])]
        name, combine = _FLOAT_REDUCE[kind]
    else:
        name, combine = _INT_REDUCE[kind]
    fn = ft.ml.intrinsic(name, et, [v.type], [v.type])
    r = b.call(fn, [v])
    if acc is None:
        return [r]
    if combine.startswith("llvm."):
        cfn = ft.ml.intrinsic(combine, et, [et, et], [et])
        return [b.call(cfn, [acc, r])]
    return [getattr(b, combine)(acc, r)]
