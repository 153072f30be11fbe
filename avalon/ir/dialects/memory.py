"""The ``memory`` dialect: explicit buffers, element access and strided views.

Buffers are values of :class:`~avalon.ir.types.MemRefType`. A memref's layout is either the
identity (row-major, offset 0; no layout attribute) or ``strided<[s0, ...], offset: o>``: element
``[i0, ..., in]`` lives at ``o + sum(ik * sk)`` of the underlying allocation. Views (``subview``,
``reshape``, ``transpose``) are pure: they compute a new layout over the same allocation and
their result type is exactly the layout the op implies (see :func:`subview_type` and friends).
A view whose layout is row-major with offset 0 always gets the identity layout, so every view
has one canonical type.

Memory spaces live in ``MemRefType.memory_space``: none is host memory, ``1`` GPU global
memory and ``3`` GPU shared memory (NVPTX address-space numbers).
"""

from __future__ import annotations

from collections.abc import Sequence

from avalon.ir.asm import OpAsmParser, OpAsmPrinter
from avalon.ir.attributes import (
    Attribute,
    DenseArrayAttr,
    IntegerAttr,
    StridedLayoutAttr,
)
from avalon.ir.core import Operation, Value
from avalon.ir.diagnostics import error
from avalon.ir.opdef import (
    AnyMemRef,
    Attr,
    DenseI64ArrayAttr,
    I64Attr,
    Index,
    Op,
    Operand,
    OptAttr,
    Result,
    VarOperand,
    register_dialect,
)
from avalon.ir.traits import MemoryEffect, MemoryEffects, Pure
from avalon.ir.types import (
    DYNAMIC,
    FloatType,
    IndexType,
    IntegerType,
    MemRefType,
    Type,
    contiguous_strides,
    i64,
    index,
)

register_dialect(
    "memory",
    "Explicit buffers: allocation, deallocation, element loads and stores, strided views "
    "(subview, reshape, transpose), copies and fills, in host or GPU memory spaces.",
)

EXAMPLE = """\
func.func @gather(%m: memref<4x8xf32>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %tmp = memory.alloc() {alignment = 64 : i64} : memref<8x4xf32>
  %t = memory.transpose %m [1, 0] : memref<4x8xf32> to memref<8x4xf32, strided<[1, 8]>>
  memory.copy %t, %tmp : memref<8x4xf32, strided<[1, 8]>> to memref<8x4xf32>
  %f = memory.reshape %tmp : memref<8x4xf32> to memref<32xf32>
  %odd = memory.subview %f[1] [16] [2] : memref<32xf32> to memref<16xf32, strided<[2], offset: 1>>
  memory.fill %zero, %out : memref<4xf32>
  %v = memory.load %odd[%c1] : memref<16xf32, strided<[2], offset: 1>>
  memory.store %v, %out[%c0] : memref<4xf32>
  memory.dealloc %tmp : memref<8x4xf32>
  func.return
}
"""

#: ``MemRefType.memory_space`` values (``None`` is host memory).
GPU_GLOBAL = 1
GPU_SHARED = 3
_SPACES = {GPU_GLOBAL: "GPU global", GPU_SHARED: "GPU shared"}


def memory_space_attr(space: int | None) -> Attribute | None:
    """The memory-space attribute for ``space`` (None for host memory)."""
    return None if space is None else IntegerAttr(space, i64)


def memory_space_of(t: MemRefType) -> int | None:
    """The numeric memory space of ``t``; None for host memory."""
    ms = t.memory_space
    return ms.value if isinstance(ms, IntegerAttr) else None


# ------------------------------------------------------------------------------ layout math


def strided_memref_type(
    shape: Sequence[int],
    element_type: Type,
    strides: Sequence[int],
    offset: int,
    memory_space: Attribute | None = None,
) -> MemRefType:
    """A memref type with the given layout, using the identity layout when it is row-major
    with offset 0 (so equal layouts always give equal types)."""
    shape, strides = tuple(shape), tuple(strides)
    layout = None
    if offset != 0 or strides != contiguous_strides(shape):
        layout = StridedLayoutAttr(strides, offset)
    return MemRefType(shape, element_type, layout, memory_space)


def is_dense(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Whether the elements are packed row-major without gaps (strides of size-1
    dimensions do not matter)."""
    if 0 in shape:
        return True
    expected = 1
    for d, s in zip(reversed(tuple(shape)), reversed(tuple(strides))):
        if d == 1:
            continue
        if s != expected:
            return False
        expected *= d
    return True


def static_layout_problem(t: MemRefType) -> str | None:
    """Why views of ``t`` cannot be computed statically, or None if they can."""
    if t.layout is not None and not isinstance(t.layout, StridedLayoutAttr):
        return f"requires a strided or identity layout, got '{t}'"
    strides, offset = t.strides_and_offset()
    if DYNAMIC in t.shape or DYNAMIC in strides or offset == DYNAMIC:
        return f"requires a static shape and layout, got '{t}'"
    return None


def subview_type(source: MemRefType, offsets: Sequence[int], sizes: Sequence[int],
                 strides: Sequence[int]) -> MemRefType:
    """Type of ``memory.subview`` of ``source``: sizes as shape, strides scaled by the
    source's strides, offset moved by the source-stride-weighted offsets."""
    src_strides, src_offset = source.strides_and_offset()
    offset = src_offset + sum(o * s for o, s in zip(offsets, src_strides))
    new_strides = [t * s for t, s in zip(strides, src_strides)]
    return strided_memref_type(sizes, source.element_type, new_strides, offset,
                               source.memory_space)


def transpose_type(source: MemRefType, permutation: Sequence[int]) -> MemRefType:
    """Type of ``memory.transpose``: result dimension ``k`` is source dimension
    ``permutation[k]``, with its stride."""
    src_strides, src_offset = source.strides_and_offset()
    return strided_memref_type([source.shape[p] for p in permutation], source.element_type,
                               [src_strides[p] for p in permutation], src_offset,
                               source.memory_space)


def reshape_type(source: MemRefType, shape: Sequence[int]) -> MemRefType:
    """Type of ``memory.reshape`` of a dense ``source`` to ``shape``: row-major strides,
    keeping the source's offset."""
    _, src_offset = source.strides_and_offset()
    return strided_memref_type(shape, source.element_type, contiguous_strides(tuple(shape)),
                               src_offset, source.memory_space)


def _is_permutation(perm: Sequence[int], n: int) -> bool:
    return sorted(perm) == list(range(n))


def _check_result_type(op: Operation, expected: MemRefType) -> None:
    actual = op.results[0].type
    if actual != expected:
        raise op.emit_error(f"result type '{actual}' does not match the expected type "
                            f"'{expected}'")


def parse_memref_type(p: OpAsmParser) -> MemRefType:
    """A memref type; anything else is an error located at the type."""
    loc = p.current_location()
    t = p.parse_type()
    if not isinstance(t, MemRefType):
        raise error(f"expected a memref type, got '{t}'", loc)
    return t


def _parse_int_list(p: OpAsmParser) -> list[int]:
    """``[1, 2, 3]`` (possibly empty)."""
    p.parse_punct("[")
    values: list[int] = []
    if p.parse_optional_punct("]"):
        return values
    values.append(p.parse_integer())
    while p.parse_optional_punct(","):
        values.append(p.parse_integer())
    p.parse_punct("]")
    return values


def _print_int_list(p: OpAsmPrinter, values: Sequence[int]) -> None:
    p.write("[" + ", ".join(str(v) for v in values) + "]")


# ---------------------------------------------------------------------------- allocation


class AllocOp(Op):
    """Allocates a new buffer of the result's static shape, with identity layout.
    The contents are undefined until written (the interpreter fills new buffers with a poison
    pattern so that reads of uninitialised memory stand out). ``alignment``, when given, is a
    power of two that the buffer's address is a multiple of, in bytes. The buffer lives until
    ``memory.dealloc``.

    Custom form: ``%m = memory.alloc() {alignment = 64 : i64} : memref<4x4xf32>``.
    """

    name = "memory.alloc"
    traits = (MemoryEffects(MemoryEffect.ALLOC),)
    alignment = OptAttr(I64Attr, doc="byte alignment of the buffer (a power of two)")
    memref = Result(AnyMemRef)

    def verify_(self) -> None:
        t = self.memref.type
        if DYNAMIC in t.shape:
            raise self.emit_error(f"requires a static shape, got '{t}'")
        if t.layout is not None and not (isinstance(t.layout, StridedLayoutAttr)
                                         and t.is_contiguous):
            raise self.emit_error(f"requires the identity layout, got '{t}'")
        if not isinstance(t.element_type, IntegerType | IndexType | FloatType):
            raise self.emit_error(f"requires a scalar element type, got '{t.element_type}'")
        ms = t.memory_space
        if ms is not None and not (isinstance(ms, IntegerAttr) and ms.value in _SPACES):
            raise self.emit_error(
                f"unknown memory space '{ms.render(True)}' (expected none for host, "
                f"{GPU_GLOBAL} for GPU global or {GPU_SHARED} for GPU shared)")
        a = self.alignment
        if a is not None and (a.value <= 0 or a.value & (a.value - 1)):
            raise self.emit_error(f"alignment must be a positive power of two, got {a.value}")

    def print_custom(self, p: OpAsmPrinter) -> None:
        unwrite = getattr(p, "unwrite_space", None)  # ``memory.alloc()`` as in MLIR
        if unwrite is not None:
            unwrite()
        p.write("()")
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.memref.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        p.parse_punct("(")
        p.parse_punct(")")
        attrs = p.parse_optional_attr_dict()
        p.parse_punct(":")
        t = parse_memref_type(p)
        return cls([], [t], attrs, 0, [], p.location)


class DeallocOp(Op):
    """Frees the allocation that ``memref`` views; any later use of it (or of another view of
    the same allocation) is undefined, and the interpreter reports it as use after free.

    Custom form: ``memory.dealloc %m : memref<4x4xf32>``.
    """

    name = "memory.dealloc"
    traits = (MemoryEffects(MemoryEffect.FREE),)
    memref = Operand(AnyMemRef)

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.memref)
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.memref.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        m = p.parse_operand()
        attrs = p.parse_optional_attr_dict()
        p.parse_punct(":")
        t = parse_memref_type(p)
        return cls([p.resolve_operand(m, t)], [], attrs, 0, [], p.location)


# -------------------------------------------------------------------------- element access


def _print_access(p: OpAsmPrinter, memref: Value, indices: Sequence[Value]) -> None:
    p.print_operand(memref)
    p.write("[")
    p.print_operands(indices)
    p.write("]")


def _check_index_count(op: Operation, t: MemRefType, n: int) -> None:
    if n != t.rank:
        raise op.emit_error(f"expects {t.rank} indices for '{t}', got {n}")


class LoadOp(Op):
    """Reads the element at ``indices`` (one ``index`` per dimension) of ``memref``.
    Every index must be within its dimension; the interpreter reports any that is not.

    Custom form: ``%v = memory.load %m[%i, %j] : memref<4x4xf32>``.
    """

    name = "memory.load"
    traits = (MemoryEffects(MemoryEffect.READ),)
    memref = Operand(AnyMemRef)
    indices = VarOperand(Index)
    result = Result()

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        return [operands[0].type.element_type]

    def verify_(self) -> None:
        t = self.memref.type
        _check_index_count(self, t, len(self.indices))
        if self.result.type != t.element_type:
            raise self.emit_error(f"result type '{self.result.type}' does not match the "
                                  f"element type '{t.element_type}' of '{t}'")

    def print_custom(self, p: OpAsmPrinter) -> None:
        _print_access(p, self.memref, self.indices)
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.memref.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        m = p.parse_operand()
        idx = p.parse_operand_list("[]")
        attrs = p.parse_optional_attr_dict()
        p.parse_punct(":")
        t = parse_memref_type(p)
        operands = [p.resolve_operand(m, t), *p.resolve_operands(idx, [index] * len(idx))]
        return cls(operands, [t.element_type], attrs, 0, [], p.location)


class StoreOp(Op):
    """Writes ``value`` to the element at ``indices`` (one ``index`` per dimension) of
    ``memref``; ``value`` has the memref's element type.

    Custom form: ``memory.store %v, %m[%i, %j] : memref<4x4xf32>``.
    """

    name = "memory.store"
    traits = (MemoryEffects(MemoryEffect.WRITE),)
    value = Operand()
    memref = Operand(AnyMemRef)
    indices = VarOperand(Index)

    def verify_(self) -> None:
        t = self.memref.type
        _check_index_count(self, t, len(self.indices))
        if self.value.type != t.element_type:
            raise self.emit_error(f"value of type '{self.value.type}' cannot be stored in "
                                  f"'{t}' (element type '{t.element_type}')")

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.value)
        p.write(", ")
        _print_access(p, self.memref, self.indices)
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.memref.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        v = p.parse_operand()
        p.parse_punct(",")
        m = p.parse_operand()
        idx = p.parse_operand_list("[]")
        attrs = p.parse_optional_attr_dict()
        p.parse_punct(":")
        t = parse_memref_type(p)
        operands = [p.resolve_operand(v, t.element_type), p.resolve_operand(m, t),
                    *p.resolve_operands(idx, [index] * len(idx))]
        return cls(operands, [], attrs, 0, [], p.location)


# ----------------------------------------------------------------------------------- views


def _print_view_types(p: OpAsmPrinter, op: Operation) -> None:
    p.print_attr_dict(op.attributes, elided=getattr(op, "_elided_attrs", ()))
    p.write(" : ")
    p.print_type(op.operands[0].type)
    p.write(" to ")
    p.print_type(op.results[0].type)


def _parse_view_types(p: OpAsmParser) -> tuple[dict[str, Attribute], MemRefType, MemRefType]:
    attrs = p.parse_optional_attr_dict()
    p.parse_punct(":")
    src = parse_memref_type(p)
    p.parse_keyword("to")
    dst = parse_memref_type(p)
    return attrs, src, dst


class SubViewOp(Op):
    """A view of the box of ``source`` that starts at ``static_offsets``, spans
    ``static_sizes`` elements and steps by ``static_strides`` (all in elements, per
    dimension): result element ``[i0, ...]`` is source element
    ``[offsets[0] + i0 * strides[0], ...]``. The box must lie inside the source.

    The result type is the source's layout composed with the box (:func:`subview_type`).
    Custom form: ``%s = memory.subview %m[0, 1] [2, 2] [1, 1] : memref<4x4xf32> to
    memref<2x2xf32, strided<[4, 1], offset: 1>>``.
    """

    name = "memory.subview"
    traits = (Pure,)
    _elided_attrs = ("static_offsets", "static_sizes", "static_strides")
    source = Operand(AnyMemRef)
    static_offsets = Attr(DenseI64ArrayAttr)
    static_sizes = Attr(DenseI64ArrayAttr)
    static_strides = Attr(DenseI64ArrayAttr)
    result = Result(AnyMemRef)

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        return [subview_type(operands[0].type, attributes["static_offsets"].values,
                             attributes["static_sizes"].values,
                             attributes["static_strides"].values)]

    def verify_(self) -> None:
        t = self.source.type
        problem = static_layout_problem(t)
        if problem:
            raise self.emit_error(problem)
        offsets = self.static_offsets.values
        sizes = self.static_sizes.values
        strides = self.static_strides.values
        if not len(offsets) == len(sizes) == len(strides) == t.rank:
            raise self.emit_error(
                f"expects {t.rank} offsets, sizes and strides for '{t}', got "
                f"{len(offsets)}, {len(sizes)} and {len(strides)}")
        for d, (o, n, s, dim) in enumerate(zip(offsets, sizes, strides, t.shape)):
            if o < 0 or n < 0 or s < 1:
                raise self.emit_error(
                    f"dimension {d}: needs offset >= 0, size >= 0 and stride >= 1, got "
                    f"offset {o}, size {n}, stride {s}")
            if n == 0 and o > dim:
                raise self.emit_error(f"dimension {d}: offset {o} is out of bounds for size "
                                      f"{dim} of the source")
            last = o + (n - 1) * s
            if n and last >= dim:
                raise self.emit_error(
                    f"dimension {d}: offset {o}, size {n}, stride {s} reach index {last}, out "
                    f"of bounds for size {dim} of the source")
        _check_result_type(self, subview_type(t, offsets, sizes, strides))

    def fold(self, operands: list) -> list | None:
        t = self.source.type
        if self.result.type == t and all(o == 0 for o in self.static_offsets.values) and all(
                s == 1 for s in self.static_strides.values) and tuple(
                self.static_sizes.values) == t.shape:
            return [self.source]
        return None

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.source)
        _print_int_list(p, self.static_offsets.values)
        p.write(" ")
        _print_int_list(p, self.static_sizes.values)
        p.write(" ")
        _print_int_list(p, self.static_strides.values)
        _print_view_types(p, self)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        src = p.parse_operand()
        offsets, sizes, strides = _parse_int_list(p), _parse_int_list(p), _parse_int_list(p)
        attrs, src_t, dst_t = _parse_view_types(p)
        attrs.update(static_offsets=DenseArrayAttr(i64, tuple(offsets)),
                     static_sizes=DenseArrayAttr(i64, tuple(sizes)),
                     static_strides=DenseArrayAttr(i64, tuple(strides)))
        return cls([p.resolve_operand(src, src_t)], [dst_t], attrs, 0, [], p.location)


class ReshapeOp(Op):
    """A view of a dense (gap-free, row-major) ``source`` with another shape of the same
    element count: element ``k`` in row-major order is the same in both.

    The result is row-major with the source's offset (:func:`reshape_type`); the new shape is
    the result type's. Custom form: ``%r = memory.reshape %m : memref<4x4xf32> to
    memref<2x8xf32>``.
    """

    name = "memory.reshape"
    traits = (Pure,)
    source = Operand(AnyMemRef)
    result = Result(AnyMemRef)

    def verify_(self) -> None:
        t, r = self.source.type, self.result.type
        problem = static_layout_problem(t)
        if problem:
            raise self.emit_error(problem)
        if DYNAMIC in r.shape:
            raise self.emit_error(f"requires a static result shape, got '{r}'")
        strides, _ = t.strides_and_offset()
        if not is_dense(t.shape, strides):
            raise self.emit_error(f"requires a dense (row-major, gap-free) source, got '{t}'")
        if t.num_elements != r.num_elements:
            raise self.emit_error(f"cannot reshape {t.num_elements} elements of '{t}' into "
                                  f"{r.num_elements} elements")
        _check_result_type(self, reshape_type(t, r.shape))

    def fold(self, operands: list) -> list | None:
        return [self.source] if self.result.type == self.source.type else None

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.source)
        _print_view_types(p, self)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        src = p.parse_operand()
        attrs, src_t, dst_t = _parse_view_types(p)
        return cls([p.resolve_operand(src, src_t)], [dst_t], attrs, 0, [], p.location)


class TransposeOp(Op):
    """A view of ``source`` with permuted dimensions: result dimension ``k`` is source
    dimension ``permutation[k]``, so result element ``[i0, ...]`` is the source element whose
    index ``permutation[k]`` is ``ik``.

    The result keeps the source's strides, permuted (:func:`transpose_type`). Custom form:
    ``%t = memory.transpose %m [1, 0] : memref<4x8xf32> to memref<8x4xf32, strided<[1, 8]>>``.
    """

    name = "memory.transpose"
    traits = (Pure,)
    _elided_attrs = ("permutation",)
    source = Operand(AnyMemRef)
    permutation = Attr(DenseI64ArrayAttr)
    result = Result(AnyMemRef)

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        return [transpose_type(operands[0].type, attributes["permutation"].values)]

    def verify_(self) -> None:
        t = self.source.type
        problem = static_layout_problem(t)
        if problem:
            raise self.emit_error(problem)
        perm = self.permutation.values
        if not _is_permutation(perm, t.rank):
            raise self.emit_error(f"permutation {list(perm)} is not a permutation of the "
                                  f"{t.rank} dimensions of '{t}'")
        _check_result_type(self, transpose_type(t, perm))

    def fold(self, operands: list) -> list | None:
        if list(self.permutation.values) == list(range(len(self.permutation.values))):
            return [self.source] if self.result.type == self.source.type else None
        return None

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.source)
        p.write(" ")
        _print_int_list(p, self.permutation.values)
        _print_view_types(p, self)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        src = p.parse_operand()
        perm = _parse_int_list(p)
        attrs, src_t, dst_t = _parse_view_types(p)
        attrs["permutation"] = DenseArrayAttr(i64, tuple(perm))
        return cls([p.resolve_operand(src, src_t)], [dst_t], attrs, 0, [], p.location)


# ---------------------------------------------------------------------------- bulk access


class CopyOp(Op):
    """Copies every element of ``source`` to the same position of ``target``: both have the
    same shape and element type, any layouts and memory spaces. When the two overlap, the
    result is as if ``source`` were first read completely.

    Custom form: ``memory.copy %a, %b : memref<4xf32> to memref<4xf32, strided<[2]>>``.
    """

    name = "memory.copy"
    traits = (MemoryEffects(MemoryEffect.READ, MemoryEffect.WRITE),)
    source = Operand(AnyMemRef)
    target = Operand(AnyMemRef)

    def verify_(self) -> None:
        s, t = self.source.type, self.target.type
        if s.shape != t.shape or s.element_type != t.element_type:
            raise self.emit_error(f"requires source and target of the same shape and element "
                                  f"type, got '{s}' and '{t}'")

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.source)
        p.write(", ")
        p.print_operand(self.target)
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.source.type)
        p.write(" to ")
        p.print_type(self.target.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        s = p.parse_operand()
        p.parse_punct(",")
        t = p.parse_operand()
        attrs = p.parse_optional_attr_dict()
        p.parse_punct(":")
        st = parse_memref_type(p)
        p.parse_keyword("to")
        tt = parse_memref_type(p)
        return cls([p.resolve_operand(s, st), p.resolve_operand(t, tt)], [], attrs, 0, [],
                   p.location)


class FillOp(Op):
    """Writes the scalar ``value`` (of the element type) to every element of ``memref``.

    Custom form: ``memory.fill %zero, %m : memref<4x4xf32>``.
    """

    name = "memory.fill"
    traits = (MemoryEffects(MemoryEffect.WRITE),)
    value = Operand()
    memref = Operand(AnyMemRef)

    def verify_(self) -> None:
        t = self.memref.type
        if self.value.type != t.element_type:
            raise self.emit_error(f"value of type '{self.value.type}' cannot fill '{t}' "
                                  f"(element type '{t.element_type}')")

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.value)
        p.write(", ")
        p.print_operand(self.memref)
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.memref.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        v = p.parse_operand()
        p.parse_punct(",")
        m = p.parse_operand()
        attrs = p.parse_optional_attr_dict()
        p.parse_punct(":")
        t = parse_memref_type(p)
        return cls([p.resolve_operand(v, t.element_type), p.resolve_operand(m, t)], [], attrs,
                   0, [], p.location)


__all__ = [
    "EXAMPLE",
    "GPU_GLOBAL",
    "GPU_SHARED",
    "AllocOp",
    "CopyOp",
    "DeallocOp",
    "FillOp",
    "LoadOp",
    "ReshapeOp",
    "StoreOp",
    "SubViewOp",
    "TransposeOp",
    "is_dense",
    "memory_space_attr",
    "memory_space_of",
    "parse_memref_type",
    "reshape_type",
    "static_layout_problem",
    "strided_memref_type",
    "subview_type",
    "transpose_type",
]
