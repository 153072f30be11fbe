"""The ``vector`` dialect: explicit SIMD on one-dimensional ``vector<NxT>`` values.

Only what ``arith`` and ``math`` lack lives here: moving vectors between memory and registers
(``load``/``store`` of consecutive elements along a memref's innermost dimension), building
them from scalars (``broadcast``, ``insert``), taking them apart (``extract``, ``reduction``)
and the fused multiply-add. Elementwise arithmetic on vectors is ``arith``/``math`` applied to
vector operands; splat constants are ``arith.constant dense<...> : vector<8xf32>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from avalon.ir.asm import OpAsmParser, OpAsmPrinter
from avalon.ir.attributes import Attribute, DenseArrayAttr, StringAttr
from avalon.ir.core import Operation, OpResult, Value
from avalon.ir.diagnostics import error
from avalon.ir.dialects.memory import parse_memref_type, static_layout_problem
from avalon.ir.opdef import (
    AnyFloat,
    AnyMemRef,
    AnyVector,
    Attr,
    DenseI64ArrayAttr,
    Index,
    IntOrFloat,
    Op,
    Operand,
    OptOperand,
    Result,
    VarOperand,
    enum_attr,
    register_dialect,
    vector_of,
)
from avalon.ir.traits import (
    Elementwise,
    MemoryEffect,
    MemoryEffects,
    Pure,
    SameOperandsAndResultType,
)
from avalon.ir.types import FloatType, MemRefType, Type, VectorType, i64, index

register_dialect(
    "vector",
    "Explicit SIMD on 1-d vectors: loads and stores of consecutive memref elements, "
    "broadcast, element extract/insert, fused multiply-add and horizontal reductions.",
)

EXAMPLE = """\
func.func @axpy_and_sum(%a: f32, %x: memref<16xf32>, %y: memref<16xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %zero = arith.constant 0.0 : f32
  %va = vector.broadcast %a : f32 to vector<8xf32>
  %sum = loop.for %i = %c0 to %c16 step %c8 iter_args(%acc = %zero) -> (f32) {
    %vx = vector.load %x[%i] : memref<16xf32>, vector<8xf32>
    %vy = vector.load %y[%i] : memref<16xf32>, vector<8xf32>
    %r = vector.fma %va, %vx, %vy : vector<8xf32>
    vector.store %r, %y[%i] : memref<16xf32>, vector<8xf32>
    %part = vector.reduction <add>, %r, %acc : vector<8xf32> into f32
    loop.yield %part : f32
  }
  %w = vector.insert %sum, %va[3] : f32 into vector<8xf32>
  %m = vector.reduction <max>, %w : vector<8xf32> into f32
  %e = vector.extract %w[0] : f32 from vector<8xf32>
  %t = arith.addf %m, %e : f32
  func.return %t : f32
}
"""

#: Combining operations of ``vector.reduction``.
REDUCTION_KINDS = ("add", "mul", "max", "min", "and", "or", "xor")
BITWISE_KINDS = ("and", "or", "xor")


def _check_vector(op: Operation, t: Type, what: str) -> VectorType:
    """``t`` is a 1-d vector type with at least one element."""
    if not isinstance(t, VectorType) or t.rank != 1 or t.shape[0] < 1:
        raise op.emit_error(f"expects {what} to be a 1-d vector with at least one element, "
                            f"got '{t}'")
    return t


def _check_element(op: Operation, t: Type, expected: Type, what: str) -> None:
    if t != expected:
        raise op.emit_error(f"{what} type '{t}' does not match the element type '{expected}'")


def _check_transfer(op: Operation, mt: MemRefType, n_indices: int, vt: VectorType) -> None:
    """Shared checks of vector.load/store: indices, element type, unit innermost stride and
    a vector that fits in the innermost dimension."""
    if mt.rank == 0:
        raise op.emit_error(f"requires a memref of rank >= 1, got '{mt}'")
    if n_indices != mt.rank:
        raise op.emit_error(f"expects {mt.rank} indices for '{mt}', got {n_indices}")
    if vt.element_type != mt.element_type:
        raise op.emit_error(f"vector type '{vt}' and memref type '{mt}' have different "
                            f"element types")
    problem = static_layout_problem(mt)
    if problem:
        raise op.emit_error(problem)
    strides, _ = mt.strides_and_offset()
    if strides[-1] != 1 and mt.shape[-1] != 1:
        raise op.emit_error(f"requires the innermost dimension of '{mt}' to have unit stride")
    if vt.shape[0] > mt.shape[-1]:
        raise op.emit_error(f"vector of {vt.shape[0]} elements does not fit in the innermost "
                            f"dimension (size {mt.shape[-1]}) of '{mt}'")


def _vector(p: OpAsmParser) -> VectorType:
    """A vector type; anything else is an error located at the type."""
    loc = p.current_location()
    t = p.parse_type()
    if not isinstance(t, VectorType):
        raise error(f"expected a vector type, got '{t}'", loc)
    return t


def _position(op: Operation, vt: VectorType) -> int:
    pos = op.static_position.values
    if len(pos) != 1 or not 0 <= pos[0] < vt.shape[0]:
        raise op.emit_error(f"position {list(pos)} is out of bounds for '{vt}'")
    return pos[0]


# ------------------------------------------------------------------------ memory transfer


class LoadOp(Op):
    """Reads the ``N`` consecutive elements ``base[i0, ..., in + k]``, ``k < N``, of the
    innermost dimension into a ``vector<N x T>``; the memref's innermost dimension has unit
    stride. All ``N`` elements must be in bounds (the interpreter reports any that is not).

    Custom form: ``%v = vector.load %m[%i, %j] : memref<4x8xf32>, vector<4xf32>``.
    """

    name = "vector.load"
    traits = (MemoryEffects(MemoryEffect.READ),)
    base = Operand(AnyMemRef)
    indices = VarOperand(Index)
    result = Result(AnyVector)

    def verify_(self) -> None:
        vt = _check_vector(self, self.result.type, "the result")
        _check_transfer(self, self.base.type, len(self.indices), vt)

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.base)
        p.write("[")
        p.print_operands(self.indices)
        p.write("]")
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.base.type)
        p.write(", ")
        p.print_type(self.result.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        m = p.parse_operand()
        idx = p.parse_operand_list("[]")
        attrs = p.parse_optional_attr_dict()
        p.parse_punct(":")
        mt = parse_memref_type(p)
        p.parse_punct(",")
        vt = _vector(p)
        operands = [p.resolve_operand(m, mt), *p.resolve_operands(idx, [index] * len(idx))]
        return cls(operands, [vt], attrs, 0, [], p.location)


class StoreOp(Op):
    """Writes the elements of ``value`` (``vector<N x T>``) to ``base[i0, ..., in + k]``,
    ``k < N``, along the innermost dimension (unit stride); all ``N`` positions must be in
    bounds.

    Custom form: ``vector.store %v, %m[%i, %j] : memref<4x8xf32>, vector<4xf32>``.
    """

    name = "vector.store"
    traits = (MemoryEffects(MemoryEffect.WRITE),)
    value = Operand(AnyVector)
    base = Operand(AnyMemRef)
    indices = VarOperand(Index)

    def verify_(self) -> None:
        vt = _check_vector(self, self.value.type, "the stored value")
        _check_transfer(self, self.base.type, len(self.indices), vt)

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.value)
        p.write(", ")
        p.print_operand(self.base)
        p.write("[")
        p.print_operands(self.indices)
        p.write("]")
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.base.type)
        p.write(", ")
        p.print_type(self.value.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        v = p.parse_operand()
        p.parse_punct(",")
        m = p.parse_operand()
        idx = p.parse_operand_list("[]")
        attrs = p.parse_optional_attr_dict()
        p.parse_punct(":")
        mt = parse_memref_type(p)
        p.parse_punct(",")
        vt = _vector(p)
        operands = [p.resolve_operand(v, vt), p.resolve_operand(m, mt),
                    *p.resolve_operands(idx, [index] * len(idx))]
        return cls(operands, [], attrs, 0, [], p.location)


# ------------------------------------------------------------------------- construction


class BroadcastOp(Op):
    """A vector whose every element is the scalar ``source`` (of the element type).

    Custom form: ``%v = vector.broadcast %s : f32 to vector<4xf32>``.
    """

    name = "vector.broadcast"
    traits = (Pure,)
    source = Operand(IntOrFloat)
    result = Result(AnyVector)

    def verify_(self) -> None:
        vt = _check_vector(self, self.result.type, "the result")
        _check_element(self, self.source.type, vt.element_type, "source")

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.source)
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.source.type)
        p.write(" to ")
        p.print_type(self.result.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        s = p.parse_operand()
        attrs = p.parse_optional_attr_dict()
        st = p.parse_colon_type()
        p.parse_keyword("to")
        vt = _vector(p)
        return cls([p.resolve_operand(s, st)], [vt], attrs, 0, [], p.location)


class InsertOp(Op):
    """A copy of ``dest`` with the element at ``static_position`` replaced by the scalar
    ``source``.

    Custom form: ``%w = vector.insert %s, %v[3] : f32 into vector<4xf32>``.
    """

    name = "vector.insert"
    traits = (Pure,)
    source = Operand(IntOrFloat)
    dest = Operand(AnyVector)
    static_position = Attr(DenseI64ArrayAttr)
    result = Result(AnyVector)

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        return [operands[1].type]

    def verify_(self) -> None:
        vt = _check_vector(self, self.dest.type, "the destination")
        _check_element(self, self.source.type, vt.element_type, "source")
        _position(self, vt)
        if self.result.type != vt:
            raise self.emit_error(f"result type '{self.result.type}' differs from the "
                                  f"destination type '{vt}'")

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.source)
        p.write(", ")
        p.print_operand(self.dest)
        p.write("[" + ", ".join(str(v) for v in self.static_position.values) + "]")
        p.print_attr_dict(self.attributes, elided=("static_position",))
        p.write(" : ")
        p.print_type(self.source.type)
        p.write(" into ")
        p.print_type(self.dest.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        s = p.parse_operand()
        p.parse_punct(",")
        d = p.parse_operand()
        pos = _parse_position(p)
        attrs = p.parse_optional_attr_dict()
        st = p.parse_colon_type()
        p.parse_keyword("into")
        vt = _vector(p)
        attrs["static_position"] = DenseArrayAttr(i64, tuple(pos))
        return cls([p.resolve_operand(s, st), p.resolve_operand(d, vt)], [vt], attrs, 0, [],
                   p.location)


def _parse_position(p: OpAsmParser) -> list[int]:
    p.parse_punct("[")
    pos = [p.parse_integer()]
    while p.parse_optional_punct(","):
        pos.append(p.parse_integer())
    p.parse_punct("]")
    return pos


# ---------------------------------------------------------------------------- take apart


class ExtractOp(Op):
    """The element of ``source`` at ``static_position``, as a scalar.

    Custom form: ``%e = vector.extract %v[3] : f32 from vector<4xf32>``.
    """

    name = "vector.extract"
    traits = (Pure,)
    source = Operand(AnyVector)
    static_position = Attr(DenseI64ArrayAttr)
    result = Result(IntOrFloat)

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        return [operands[0].type.element_type]

    def verify_(self) -> None:
        vt = _check_vector(self, self.source.type, "the source")
        _check_element(self, self.result.type, vt.element_type, "result")
        _position(self, vt)

    def fold(self, operands: list) -> list | None:
        src = self.source
        if not isinstance(src, OpResult):
            return None
        producer = src.op
        if isinstance(producer, BroadcastOp):
            return [producer.source]
        if isinstance(producer, InsertOp) and (
                producer.static_position.values == self.static_position.values):
            return [producer.source]
        return None

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.source)
        p.write("[" + ", ".join(str(v) for v in self.static_position.values) + "]")
        p.print_attr_dict(self.attributes, elided=("static_position",))
        p.write(" : ")
        p.print_type(self.result.type)
        p.write(" from ")
        p.print_type(self.source.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        s = p.parse_operand()
        pos = _parse_position(p)
        attrs = p.parse_optional_attr_dict()
        rt = p.parse_colon_type()
        p.parse_keyword("from")
        vt = _vector(p)
        attrs["static_position"] = DenseArrayAttr(i64, tuple(pos))
        return cls([p.resolve_operand(s, vt)], [rt], attrs, 0, [], p.location)


class ReductionOp(Op):
    """Combines all elements of ``source`` (and ``acc`` when given, as the first operand)
    with ``kind`` into one scalar of the element type. Kinds: ``add``, ``mul`` (wrapping for
    integers; for floats the association order is unspecified, the interpreter folds left to
    right starting from ``acc``), ``max``, ``min`` (signed for integers; NaN-propagating for
    floats, and which of two equal zeros results is unspecified) and the bitwise ``and``,
    ``or``, ``xor`` (integers only).

    Custom form: ``%r = vector.reduction <add>, %v, %acc : vector<4xf32> into f32`` (``,
    %acc`` optional).
    """

    name = "vector.reduction"
    traits = (Pure,)
    kind = Attr(enum_attr(*REDUCTION_KINDS))
    source = Operand(AnyVector)
    acc = OptOperand(IntOrFloat)
    result = Result(IntOrFloat)

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        return [operands[0].type.element_type]

    def verify_(self) -> None:
        vt = _check_vector(self, self.source.type, "the source")
        et = vt.element_type
        _check_element(self, self.result.type, et, "result")
        if self.acc is not None:
            _check_element(self, self.acc.type, et, "accumulator")
        kind = self.kind.value
        if kind in BITWISE_KINDS and isinstance(et, FloatType):
            raise self.emit_error(f"kind '{kind}' requires integer elements, got '{et}'")

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.write(f"<{self.kind.value}>, ")
        p.print_operand(self.source)
        if self.acc is not None:
            p.write(", ")
            p.print_operand(self.acc)
        p.print_attr_dict(self.attributes, elided=("kind",))
        p.write(" : ")
        p.print_type(self.source.type)
        p.write(" into ")
        p.print_type(self.result.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        p.parse_punct("<")
        loc = p.current_location()
        kind = p.parse_keyword()
        if kind not in REDUCTION_KINDS:
            raise error(f"unknown reduction kind '{kind}' (expected one of "
                        f"{', '.join(REDUCTION_KINDS)})", loc)
        p.parse_punct(">")
        p.parse_punct(",")
        src = p.parse_operand()
        acc = p.parse_operand() if p.parse_optional_punct(",") else None
        attrs = p.parse_optional_attr_dict()
        p.parse_punct(":")
        vt = _vector(p)
        p.parse_keyword("into")
        rt = p.parse_type()
        operands = [p.resolve_operand(src, vt)]
        if acc is not None:
            operands.append(p.resolve_operand(acc, rt))
        attrs["kind"] = StringAttr(kind)
        return cls(operands, [rt], attrs, 0, [], p.location)


# ---------------------------------------------------------------------------- arithmetic


class FMAOp(Op):
    """Elementwise ``lhs * rhs + acc`` on float vectors. As with ``llvm.fmuladd``, the
    product may or may not be rounded before the addition (targets fuse when it pays); the
    interpreter rounds it, so its result equals ``arith.mulf`` followed by ``arith.addf``.

    Custom form: ``%r = vector.fma %a, %b, %c : vector<4xf32>``.
    """

    name = "vector.fma"
    traits = (Pure, SameOperandsAndResultType, Elementwise)
    lhs = Operand(vector_of(AnyFloat))
    rhs = Operand(vector_of(AnyFloat))
    acc = Operand(vector_of(AnyFloat))
    result = Result(vector_of(AnyFloat))

    def verify_(self) -> None:
        _check_vector(self, self.result.type, "the result")

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operands(self.operands)
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.result.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        ops = [p.parse_operand()]
        for _ in range(2):
            p.parse_punct(",")
            ops.append(p.parse_operand())
        attrs = p.parse_optional_attr_dict()
        vt = p.parse_colon_type()
        return cls(p.resolve_operands(ops, [vt] * 3), [vt], attrs, 0, [], p.location)


__all__ = [
    "BITWISE_KINDS",
    "EXAMPLE",
    "REDUCTION_KINDS",
    "BroadcastOp",
    "ExtractOp",
    "FMAOp",
    "InsertOp",
    "LoadOp",
    "ReductionOp",
    "StoreOp",
]
