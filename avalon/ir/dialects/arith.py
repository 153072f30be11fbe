"""The ``arith`` dialect: scalar and vector integer/float arithmetic, comparisons and casts.

Op names, operands, attributes and text forms follow upstream MLIR's ``arith`` dialect, so the
generic form of every op here is accepted by ``mlir-opt``. Integers are signless: the op says
whether bits are read as signed or unsigned (``divsi`` / ``divui``). Folders implement exact
semantics at the type's width and precision (two's-complement wrapping, IEEE rounding through
numpy dtypes) and never fold undefined behaviour (division by zero, signed overflow of
division, out-of-range shifts and float-to-int conversions).
"""

from __future__ import annotations

import math as _math
import struct
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from avalon.ir.asm import OpAsmParser, OpAsmPrinter
from avalon.ir.attributes import (
    Attribute,
    DenseElementsAttr,
    FloatAttr,
    IntegerAttr,
    float_from_bits,
)
from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.diagnostics import error
from avalon.ir.location import Location
from avalon.ir.opdef import (
    AnyFloat,
    AnyInteger,
    AnyType,
    Attr,
    AttrConstraint,
    BoolLike,
    FloatLike,
    IntegerLike,
    IntOrFloat,
    IntOrFloatLike,
    Op,
    Operand,
    Result,
    TypeConstraint,
    TypedAttr,
    register_dialect,
    scalar_or_vector_of,
    tensor_of,
)
from avalon.ir.patterns import PatternRewriter, RewritePattern
from avalon.ir.traits import (
    Commutative,
    ConstantLike,
    Elementwise,
    Pure,
    SameOperandsAndResultShape,
    SameOperandsAndResultType,
    SameTypeOperands,
)
from avalon.ir.types import (
    FloatType,
    IndexType,
    IntegerType,
    ShapedType,
    TensorType,
    Type,
    VectorType,
    element_type,
    i1,
    i64,
    to_numpy_dtype,
)

DIALECT = register_dialect(
    "arith",
    "Integer and floating-point arithmetic on scalars and vectors: constants, binary "
    "operations, comparisons, select and casts. Integers are signless; signedness is a "
    "property of the operation.",
)

EXAMPLE = """\
func.func @saxpy_step(%a: f32, %x: f32, %y: f32, %i: i32) -> (f32, i1) {
  %c0 = arith.constant 0 : i32
  %ax = arith.mulf %a, %x : f32
  %r = arith.addf %ax, %y : f32
  %neg = arith.cmpi slt, %i, %c0 : i32
  %w = arith.extf %r : f32 to f64
  %n = arith.truncf %w : f64 to f32
  %s = arith.select %neg, %n, %r : f32
  return %s, %neg : f32, i1
}
"""

# ------------------------------------------------------------------------ numeric helpers

#: (precision incl. the implicit bit, minimum normal exponent, maximum exponent)
FLOAT_FORMATS: dict[str, tuple[int, int, int]] = {
    "f16": (11, -14, 15),
    "bf16": (8, -126, 127),
    "f32": (24, -126, 127),
    "f64": (53, -1022, 1023),
}


def int_width(t: Type) -> int:
    """Bit width of an integer type; ``index`` folds as 64 bits, as in MLIR."""
    t = element_type(t)
    if isinstance(t, IndexType):
        return 64
    if isinstance(t, IntegerType):
        return t.width
    raise TypeError(f"not an integer type: {t}")


def to_signed(v: int, width: int) -> int:
    """Signed (two's-complement) reading of the low ``width`` bits of ``v``."""
    v &= (1 << width) - 1
    return v - (1 << width) if v >> (width - 1) else v


def to_unsigned(v: int, width: int) -> int:
    return v & ((1 << width) - 1)


def round_exact(q: Fraction | int, t: FloatType) -> float:
    """Round an exact rational to the nearest value of float type ``t`` (ties to even,
    overflow to infinity), with a single rounding."""
    if q == 0:
        return 0.0
    p, emin, emax = FLOAT_FORMATS[t.name]
    sign = -1.0 if q < 0 else 1.0
    q = abs(Fraction(q))
    n, d = q.numerator, q.denominator
    e = n.bit_length() - d.bit_length()
    if (n < d << e) if e >= 0 else (n << -e < d):
        e -= 1
    e = max(e, emin)
    ulp = Fraction(2) ** (e - (p - 1))
    value = round(q / ulp) * ulp
    if value >= Fraction(2) ** (emax + 1):
        return sign * _math.inf
    return sign * float(value)


def round_float(value: float, t: FloatType) -> float:
    """Round a Python float (a double) to float type ``t`` with a single rounding."""
    if not _math.isfinite(value) or t.name == "f64":
        return float(value)
    if t.name == "bf16":
        return round_exact(Fraction(value), t) if value != 0.0 else float(value)
    with np.errstate(over="ignore"):  # numpy's double -> f32/f16 casts round once
        return float(to_numpy_dtype(t).type(value))


def float_to_bits(value: float, t: FloatType) -> int:
    """The IEEE bit pattern of ``value`` (already representable in ``t``)."""
    name = t.name
    if name == "f64":
        return struct.unpack("<Q", struct.pack("<d", value))[0]
    if name == "f32":
        return struct.unpack("<I", struct.pack("<f", value))[0]
    if name == "f16":
        return int(np.array(value, dtype=np.float16).view(np.uint16))
    return struct.unpack("<I", struct.pack("<f", value))[0] >> 16


def _np_float(t: FloatType) -> type:
    """numpy scalar type computing at ``t``'s precision; bf16 computes in float64 and is
    rounded once when the result attribute is made (as the interpreter does)."""
    return np.float64 if t.name == "bf16" else to_numpy_dtype(t).type


# -------------------------------------------------------------- constants as element lists


def constant_elements(attr: Attribute | None, t: Type) -> list | None:
    """Flat element list of a constant of type ``t``: unsigned ints (low bits) for integer
    element types, numpy scalars of the type's dtype for floats; None if not a constant."""
    et = element_type(t)
    if isinstance(attr, IntegerAttr) and not isinstance(t, ShapedType):
        return [to_unsigned(attr.value, int_width(et))]
    if isinstance(attr, FloatAttr) and isinstance(et, FloatType) and not isinstance(
            t, ShapedType):
        return [_np_float(et)(attr.value)]
    if isinstance(attr, DenseElementsAttr) and attr.type == t:
        flat = attr.array.reshape(-1)
        if isinstance(et, FloatType):
            return list(flat.astype(_np_float(et), copy=False))
        w = int_width(et)
        return [to_unsigned(int(v), w) for v in flat.tolist()]
    return None


def make_constant_attr(values: Sequence[Any], t: Type) -> Attribute:
    """The constant attribute of type ``t`` holding ``values`` (one per element)."""
    et = element_type(t)
    if isinstance(t, ShapedType):
        dtype = to_numpy_dtype(et)
        if isinstance(et, FloatType):
            arr = np.array([round_float(float(v), et) for v in values], dtype=np.float64)
            arr = arr.astype(dtype)
        elif et == i1:
            arr = np.array([bool(int(v) & 1) for v in values], dtype=dtype)
        else:
            w = int_width(et)
            arr = np.array([to_signed(int(v), w) for v in values], dtype=dtype)
        return DenseElementsAttr(arr.reshape(t.shape), t)
    (v,) = values
    if isinstance(et, FloatType):
        return FloatAttr(float(v), et)
    return IntegerAttr(int(v), et)


def splat_value(attr: Attribute | None, t: Type) -> Any:
    """The single value of a scalar or splat constant (unsigned int / numpy float), else
    None."""
    elems = constant_elements(attr, t)
    if not elems:
        return None
    first = elems[0]
    if isinstance(element_type(t), FloatType):
        bits = [np.asarray(e).tobytes() for e in elems]
        return first if all(b == bits[0] for b in bits) else None
    return first if all(e == first for e in elems) else None


def fold_elementwise(operands: Sequence[Attribute | None], types: Sequence[Type],
                     result_type: Type, fn: Callable[..., Any]) -> Attribute | None:
    """Apply the scalar function ``fn`` to every element position of constant operands;
    None if an operand is not constant or ``fn`` refuses (returns None) anywhere."""
    lists = []
    for a, t in zip(operands, types, strict=True):
        elems = constant_elements(a, t)
        if elems is None:
            return None
        lists.append(elems)
    out = []
    with np.errstate(all="ignore"):
        for xs in zip(*lists, strict=True):
            r = fn(*xs)
            if r is None:
                return None
            out.append(r)
    return make_constant_attr(out, result_type)


def defining_constant(v: Value) -> Attribute | None:
    """The attribute of the constant op defining ``v``, if it is one."""
    owner = getattr(v, "op", None)
    if owner is not None and owner.has_trait(ConstantLike):
        return owner.attributes.get("value")
    return None


def _is_splat(attr: Attribute | None, t: Type, value: float | int) -> bool:
    """Whether ``attr`` is a constant whose every element equals ``value`` (bitwise for
    floats, so that -0.0 and +0.0 differ; ints compare in the type's unsigned view)."""
    s = splat_value(attr, t)
    if s is None:
        return False
    et = element_type(t)
    if isinstance(et, FloatType):
        return np.asarray(s).tobytes() == np.asarray(_np_float(et)(value)).tobytes()
    return s == to_unsigned(int(value), int_width(et))


# -------------------------------------------------------------------------- constraints

SignlessIntegerLike = scalar_or_vector_of(AnyInteger)
ConstantResult = TypeConstraint(
    lambda t: IntOrFloatLike(t) or tensor_of(IntOrFloat)(t),
    "integer, index or float scalar, or a vector or tensor of them")

CMPI_PREDICATES: tuple[str, ...] = (
    "eq", "ne", "slt", "sle", "sgt", "sge", "ult", "ule", "ugt", "uge")
CMPF_PREDICATES: tuple[str, ...] = (
    "false", "oeq", "ogt", "oge", "olt", "ole", "one", "ord",
    "ueq", "ugt", "uge", "ult", "ule", "une", "uno", "true")


def _predicate_attr(names: tuple[str, ...], what: str) -> AttrConstraint:
    def convert(v: Any) -> Attribute:
        if isinstance(v, Attribute):
            return v
        if isinstance(v, str):
            if v not in names:
                raise ValueError(f"unknown {what} predicate '{v}'")
            return IntegerAttr(names.index(v), i64)
        return IntegerAttr(int(v), i64)

    return AttrConstraint(
        lambda a: isinstance(a, IntegerAttr) and a.type == i64 and 0 <= a.value < len(names),
        f"{what} predicate (i64 in 0..{len(names) - 1})", convert)


CmpIPredicateAttr = _predicate_attr(CMPI_PREDICATES, "integer comparison")
CmpFPredicateAttr = _predicate_attr(CMPF_PREDICATES, "float comparison")


def bool_like_of(t: Type) -> Type:
    """i1, or a vector of i1 of the same shape as ``t``."""
    if isinstance(t, VectorType):
        return VectorType(t.shape, i1)
    if isinstance(t, TensorType):
        return TensorType(t.shape, i1)
    return i1


def _filled(t: Type, value: int) -> Attribute:
    """A constant of type ``t`` with every element ``value``."""
    n = t.num_elements if isinstance(t, ShapedType) else 1
    return make_constant_attr([value] * n, t)


def _def_op(v: Value) -> Operation | None:
    return getattr(v, "op", None)


# ------------------------------------------------------------------------------ constant


class ConstantOp(Op):
    """A constant scalar, vector or tensor: the result is the ``value`` attribute, and its
    type is the attribute's type.

    ``%c = arith.constant 1.0 : f32``, ``%t = arith.constant true``,
    ``%v = arith.constant dense<[1, 2]> : vector<2xi32>``.
    """

    name = "arith.constant"
    traits = (Pure, ConstantLike)
    value = Attr(TypedAttr, doc="the constant, typed like the result")
    result = Result(ConstantResult)

    def verify_(self) -> None:
        value = self.attributes["value"]
        if value.type != self.result.type:
            raise self.emit_error(
                f"value type '{value.type}' does not match result type '{self.result.type}'")

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        value = attributes.get("value")
        if value is None or not TypedAttr(value):
            raise TypeError("'arith.constant' needs a typed 'value' attribute")
        return [value.type]

    @classmethod
    def of(cls, value: Any, type_: Type, location: Location | None = None) -> ConstantOp:
        """Build from a Python number or bool (a splat for shaped types), a numpy array or
        an attribute."""
        if isinstance(value, Attribute):
            attr = value
        elif isinstance(type_, ShapedType):
            attr = DenseElementsAttr(np.asarray(value), type_)
        elif isinstance(type_, FloatType):
            attr = FloatAttr(float(value), type_)
        else:
            attr = IntegerAttr(int(value), type_)
        return cls.build(value=attr, location=location)

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        return [self.attributes["value"]]

    def print_custom(self, p: OpAsmPrinter) -> None:
        if self.attributes.keys() - {"value"}:
            p.print_attr_dict(self.attributes, elided=("value",))
            p.write(" ")
        p.print_attribute(self.attributes["value"])

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        attrs = p.parse_optional_attr_dict()
        loc = p.current_location()
        value = p.parse_attribute()
        if not TypedAttr(value):
            raise error("expected a typed constant attribute (integer, float or dense)", loc)
        attrs["value"] = value
        return cls.build(attributes=attrs, location=p.location)


def constant(value: Any, type_: Type, builder: Builder | None = None,
             location: Location | None = None) -> Value:
    """The result of a new ``arith.constant`` (inserted by ``builder`` when given)."""
    op = ConstantOp.of(value, type_, location)
    if builder is not None:
        builder.insert(op)
    return op.result


# -------------------------------------------------------------------- integer binary ops

_BINARY_FORMAT = "$lhs `,` $rhs attr-dict `:` type($result)"


class IntBinaryOp(Op):
    """Base of the integer binary ops: same-typed integer/index scalars or vectors."""

    traits = (Pure, SameOperandsAndResultType, Elementwise)
    lhs = Operand(IntegerLike)
    rhs = Operand(IntegerLike)
    result = Result(IntegerLike)
    assembly_format = _BINARY_FORMAT

    @staticmethod
    def compute(a: int, b: int, width: int) -> int | None:
        """The scalar semantics on unsigned bit patterns; None where undefined."""
        raise NotImplementedError

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        t = self.result.type
        w = int_width(t)
        fn = type(self).compute
        folded = fold_elementwise(operands, [t, t], t, lambda a, b: fn(a, b, w))
        if folded is None and None in operands:  # all-constant but undefined: keep the op
            folded = self.fold_identity(operands[0], operands[1])
        return None if folded is None else [folded]

    def fold_identity(self, lhs: Attribute | None,
                      rhs: Attribute | None) -> Attribute | Value | None:
        """Algebraic simplifications with at most one constant operand."""
        return None

    @classmethod
    def get_canonicalization_patterns(cls) -> list[RewritePattern]:
        return [ConstantToRight(cls)] if cls.has_trait(Commutative) else []

    def _is(self, attr: Attribute | None, value: int) -> bool:
        return _is_splat(attr, self.result.type, value)


def _sdiv(a: int, b: int, w: int, rounding: str) -> int | None:
    sa, sb = to_signed(a, w), to_signed(b, w)
    if sb == 0 or (sb == -1 and sa == -(1 << (w - 1))):
        return None
    if rounding == "floor":
        return sa // sb
    if rounding == "ceil":
        return -((-sa) // sb)
    q = abs(sa) // abs(sb)
    return q if (sa < 0) == (sb < 0) else -q


class AddIOp(IntBinaryOp):
    """Integer addition, wrapping around at the type's width (two's complement)."""

    name = "arith.addi"
    traits = (*IntBinaryOp.traits, Commutative)

    @classmethod
    def get_canonicalization_patterns(cls) -> list[RewritePattern]:
        return [*super().get_canonicalization_patterns(), ReassociateConstants(cls.name)]

    @staticmethod
    def compute(a: int, b: int, width: int) -> int:
        return a + b

    def fold_identity(self, lhs, rhs):
        if self._is(rhs, 0):
            return self.lhs
        if self._is(lhs, 0):
            return self.rhs
        return None


class SubIOp(IntBinaryOp):
    """Integer subtraction, wrapping around at the type's width."""

    name = "arith.subi"

    @classmethod
    def get_canonicalization_patterns(cls) -> list[RewritePattern]:
        return [*super().get_canonicalization_patterns(), ReassociateConstants(cls.name)]

    @staticmethod
    def compute(a: int, b: int, width: int) -> int:
        return a - b

    def fold_identity(self, lhs, rhs):
        if self._is(rhs, 0):
            return self.lhs
        if self.lhs is self.rhs:
            return _filled(self.result.type, 0)
        return None


class MulIOp(IntBinaryOp):
    """Integer multiplication, keeping the low bits of the product."""

    name = "arith.muli"
    traits = (*IntBinaryOp.traits, Commutative)

    @classmethod
    def get_canonicalization_patterns(cls) -> list[RewritePattern]:
        return [*super().get_canonicalization_patterns(), ReassociateConstants(cls.name)]

    @staticmethod
    def compute(a: int, b: int, width: int) -> int:
        return a * b

    def fold_identity(self, lhs, rhs):
        if self._is(rhs, 1):
            return self.lhs
        if self._is(lhs, 1):
            return self.rhs
        if self._is(rhs, 0):
            return rhs
        if self._is(lhs, 0):
            return lhs
        return None


class _DivLikeOp(IntBinaryOp):
    """Base of divisions: ``x / 1`` is ``x``."""

    def fold_identity(self, lhs, rhs):
        return self.lhs if self._is(rhs, 1) else None


class DivSIOp(_DivLikeOp):
    """Signed integer division rounding toward zero; division by zero and the overflowing
    ``MIN / -1`` are undefined."""

    name = "arith.divsi"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int | None:
        return _sdiv(a, b, width, "trunc")


class DivUIOp(_DivLikeOp):
    """Unsigned integer division (rounding down); division by zero is undefined."""

    name = "arith.divui"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int | None:
        return None if b == 0 else a // b


class FloorDivSIOp(_DivLikeOp):
    """Signed integer division rounding toward negative infinity."""

    name = "arith.floordivsi"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int | None:
        return _sdiv(a, b, width, "floor")


class CeilDivSIOp(_DivLikeOp):
    """Signed integer division rounding toward positive infinity."""

    name = "arith.ceildivsi"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int | None:
        return _sdiv(a, b, width, "ceil")


class RemSIOp(IntBinaryOp):
    """Signed remainder; the result has the sign of the dividend (C's ``%``). Remainder by
    zero is undefined."""

    name = "arith.remsi"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int | None:
        sa, sb = to_signed(a, width), to_signed(b, width)
        if sb == 0:
            return None
        r = abs(sa) % abs(sb)
        return r if sa >= 0 else -r

    def fold_identity(self, lhs, rhs):
        return _filled(self.result.type, 0) if self._is(rhs, 1) else None


class RemUIOp(IntBinaryOp):
    """Unsigned remainder; remainder by zero is undefined."""

    name = "arith.remui"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int | None:
        return None if b == 0 else a % b

    def fold_identity(self, lhs, rhs):
        return _filled(self.result.type, 0) if self._is(rhs, 1) else None


class AndIOp(IntBinaryOp):
    """Bitwise and."""

    name = "arith.andi"
    traits = (*IntBinaryOp.traits, Commutative)

    @staticmethod
    def compute(a: int, b: int, width: int) -> int:
        return a & b

    def fold_identity(self, lhs, rhs):
        if self.lhs is self.rhs or self._is(rhs, -1):
            return self.lhs
        if self._is(lhs, -1):
            return self.rhs
        if self._is(rhs, 0):
            return rhs
        if self._is(lhs, 0):
            return lhs
        return None


class OrIOp(IntBinaryOp):
    """Bitwise or."""

    name = "arith.ori"
    traits = (*IntBinaryOp.traits, Commutative)

    @staticmethod
    def compute(a: int, b: int, width: int) -> int:
        return a | b

    def fold_identity(self, lhs, rhs):
        if self.lhs is self.rhs or self._is(rhs, 0):
            return self.lhs
        if self._is(lhs, 0):
            return self.rhs
        if self._is(rhs, -1):
            return rhs
        if self._is(lhs, -1):
            return lhs
        return None


class XOrIOp(IntBinaryOp):
    """Bitwise exclusive or."""

    name = "arith.xori"
    traits = (*IntBinaryOp.traits, Commutative)

    @classmethod
    def get_canonicalization_patterns(cls) -> list[RewritePattern]:
        return [*super().get_canonicalization_patterns(), XOrIOfCmpI()]

    @staticmethod
    def compute(a: int, b: int, width: int) -> int:
        return a ^ b

    def fold_identity(self, lhs, rhs):
        if self.lhs is self.rhs:
            return _filled(self.result.type, 0)
        if self._is(rhs, 0):
            return self.lhs
        if self._is(lhs, 0):
            return self.rhs
        return None


class _ShiftOp(IntBinaryOp):
    """Base of shifts: the amount is read unsigned; amounts >= the width are undefined."""

    def fold_identity(self, lhs, rhs):
        return self.lhs if self._is(rhs, 0) else None


class ShLIOp(_ShiftOp):
    """Shift left by ``rhs`` bits (``rhs`` read unsigned; at least the width: undefined)."""

    name = "arith.shli"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int | None:
        return None if b >= width else a << b


class ShRUIOp(_ShiftOp):
    """Logical shift right, filling with zeros (amounts of at least the width: undefined)."""

    name = "arith.shrui"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int | None:
        return None if b >= width else a >> b


class ShRSIOp(_ShiftOp):
    """Arithmetic shift right, replicating the sign bit (amounts of at least the width:
    undefined)."""

    name = "arith.shrsi"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int | None:
        return None if b >= width else to_signed(a, width) >> b


class _MinMaxIOp(IntBinaryOp):
    """Base of integer min/max: ``max(x, x)`` is ``x``."""

    traits = (*IntBinaryOp.traits, Commutative)

    def fold_identity(self, lhs, rhs):
        return self.lhs if self.lhs is self.rhs else None


class MaxSIOp(_MinMaxIOp):
    """Signed integer maximum."""

    name = "arith.maxsi"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int:
        return a if to_signed(a, width) >= to_signed(b, width) else b


class MinSIOp(_MinMaxIOp):
    """Signed integer minimum."""

    name = "arith.minsi"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int:
        return a if to_signed(a, width) <= to_signed(b, width) else b


class MaxUIOp(_MinMaxIOp):
    """Unsigned integer maximum."""

    name = "arith.maxui"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int:
        return max(a, b)


class MinUIOp(_MinMaxIOp):
    """Unsigned integer minimum."""

    name = "arith.minui"

    @staticmethod
    def compute(a: int, b: int, width: int) -> int:
        return min(a, b)


# ---------------------------------------------------------------------- float binary ops


class FloatBinaryOp(Op):
    """Base of the float binary ops: same-typed float scalars or vectors, IEEE semantics
    with round-to-nearest-even at the type's precision."""

    traits = (Pure, SameOperandsAndResultType, Elementwise)
    lhs = Operand(FloatLike)
    rhs = Operand(FloatLike)
    result = Result(FloatLike)
    assembly_format = _BINARY_FORMAT

    @staticmethod
    def compute(a: Any, b: Any) -> Any:
        """The scalar semantics on numpy scalars of the type's dtype."""
        raise NotImplementedError

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        t = self.result.type
        folded = fold_elementwise(operands, [t, t], t, type(self).compute)
        if folded is None:
            folded = self.fold_identity(operands[0], operands[1])
        return None if folded is None else [folded]

    def fold_identity(self, lhs: Attribute | None,
                      rhs: Attribute | None) -> Attribute | Value | None:
        return None

    @classmethod
    def get_canonicalization_patterns(cls) -> list[RewritePattern]:
        return [ConstantToRight(cls)] if cls.has_trait(Commutative) else []

    def _is(self, attr: Attribute | None, value: float) -> bool:
        return _is_splat(attr, self.result.type, value)


class AddFOp(FloatBinaryOp):
    """Floating-point addition. ``x + -0.0`` folds to ``x`` (``x + 0.0`` does not: it turns
    ``-0.0`` into ``+0.0``)."""

    name = "arith.addf"
    traits = (*FloatBinaryOp.traits, Commutative)

    @staticmethod
    def compute(a: Any, b: Any) -> Any:
        return a + b

    def fold_identity(self, lhs, rhs):
        if self._is(rhs, -0.0):
            return self.lhs
        if self._is(lhs, -0.0):
            return self.rhs
        return None


class SubFOp(FloatBinaryOp):
    """Floating-point subtraction; ``x - 0.0`` folds to ``x``."""

    name = "arith.subf"

    @staticmethod
    def compute(a: Any, b: Any) -> Any:
        return a - b

    def fold_identity(self, lhs, rhs):
        return self.lhs if self._is(rhs, 0.0) else None


class MulFOp(FloatBinaryOp):
    """Floating-point multiplication; ``x * 1.0`` folds to ``x``."""

    name = "arith.mulf"
    traits = (*FloatBinaryOp.traits, Commutative)

    @staticmethod
    def compute(a: Any, b: Any) -> Any:
        return a * b

    def fold_identity(self, lhs, rhs):
        if self._is(rhs, 1.0):
            return self.lhs
        if self._is(lhs, 1.0):
            return self.rhs
        return None


class DivFOp(FloatBinaryOp):
    """Floating-point division (IEEE: ``x / 0`` is an infinity or NaN); ``x / 1.0`` folds to
    ``x``."""

    name = "arith.divf"

    @staticmethod
    def compute(a: Any, b: Any) -> Any:
        return a / b

    def fold_identity(self, lhs, rhs):
        return self.lhs if self._is(rhs, 1.0) else None


class RemFOp(FloatBinaryOp):
    """Floating-point remainder with the sign of the dividend, like C's ``fmod``."""

    name = "arith.remf"

    @staticmethod
    def compute(a: Any, b: Any) -> Any:
        return np.fmod(a, b)


def _maximum(a: Any, b: Any) -> Any:
    if np.isnan(a) or np.isnan(b):
        return a + b
    if a == b:
        return b if np.signbit(a) else a
    return a if a > b else b


def _minimum(a: Any, b: Any) -> Any:
    if np.isnan(a) or np.isnan(b):
        return a + b
    if a == b:
        return a if np.signbit(a) else b
    return a if a < b else b


class _MinMaxFOp(FloatBinaryOp):
    """Base of float min/max: ``max(x, x)`` is ``x``."""

    traits = (*FloatBinaryOp.traits, Commutative)

    def fold_identity(self, lhs, rhs):
        return self.lhs if self.lhs is self.rhs else None


class MaximumFOp(_MinMaxFOp):
    """IEEE 754-2019 ``maximum``: NaN if either operand is NaN; ``+0.0`` is greater than
    ``-0.0``."""

    name = "arith.maximumf"

    @staticmethod
    def compute(a: Any, b: Any) -> Any:
        return _maximum(a, b)


class MinimumFOp(_MinMaxFOp):
    """IEEE 754-2019 ``minimum``: NaN if either operand is NaN; ``-0.0`` is less than
    ``+0.0``."""

    name = "arith.minimumf"

    @staticmethod
    def compute(a: Any, b: Any) -> Any:
        return _minimum(a, b)


class MaxNumFOp(_MinMaxFOp):
    """IEEE ``maxNum``: if exactly one operand is NaN the other is returned; ``+0.0`` is
    greater than ``-0.0``."""

    name = "arith.maxnumf"

    @staticmethod
    def compute(a: Any, b: Any) -> Any:
        if np.isnan(a):
            return b
        if np.isnan(b):
            return a
        return _maximum(a, b)


class MinNumFOp(_MinMaxFOp):
    """IEEE ``minNum``: if exactly one operand is NaN the other is returned; ``-0.0`` is less
    than ``+0.0``."""

    name = "arith.minnumf"

    @staticmethod
    def compute(a: Any, b: Any) -> Any:
        if np.isnan(a):
            return b
        if np.isnan(b):
            return a
        return _minimum(a, b)


class NegFOp(Op):
    """Floating-point negation: flips the sign bit (also of zeros and NaNs)."""

    name = "arith.negf"
    traits = (Pure, SameOperandsAndResultType, Elementwise)

    @classmethod
    def get_canonicalization_patterns(cls) -> list[RewritePattern]:
        return [NegFOfNegF()]
    input = Operand(FloatLike)
    result = Result(FloatLike)
    assembly_format = "$input attr-dict `:` type($result)"

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        t = self.result.type
        folded = fold_elementwise(operands, [t], t, lambda a: -a)
        return None if folded is None else [folded]


# --------------------------------------------------------------------------- comparisons


def _cmpi(pred: str, a: int, b: int, w: int) -> bool:
    if pred == "eq":
        return a == b
    if pred == "ne":
        return a != b
    if pred[0] == "s":
        a, b = to_signed(a, w), to_signed(b, w)
    rel = pred[1:]
    return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[rel]


def _cmpf(pred: str, a: Any, b: Any) -> bool:
    if pred in ("false", "true"):
        return pred == "true"
    unordered = bool(np.isnan(a) or np.isnan(b))
    if pred == "ord":
        return not unordered
    if pred == "uno":
        return unordered
    rel = {"eq": a == b, "gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b,
           "ne": a != b}[pred[1:]]
    if pred[0] == "o":
        return (not unordered) and bool(rel)
    return unordered or bool(rel)


class _CmpOp(Op):
    """Base of comparisons: the predicate is printed as a keyword before the operands."""

    traits = (Pure, SameTypeOperands, Elementwise)
    PREDICATES: ClassVar[tuple[str, ...]] = ()

    @property
    def predicate_name(self) -> str:
        return self.PREDICATES[self.attributes["predicate"].value]

    def verify_(self) -> None:
        expected = bool_like_of(self.lhs.type)
        if self.result.type != expected:
            raise self.emit_error(
                f"result type '{self.result.type}' must be '{expected}' for operands of type "
                f"'{self.lhs.type}'")

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        return [bool_like_of(operands[0].type)]

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.write(self.predicate_name + ", ")
        p.print_operands(self.operands)
        p.print_attr_dict(self.attributes, elided=("predicate",))
        p.write(" : ")
        p.print_type(self.lhs.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        loc = p.current_location()
        pred = p.parse_optional_keyword()
        if pred is None:
            attr = p.parse_optional_attribute()  # `true` / `false` may lex as literals
            if isinstance(attr, IntegerAttr) and attr.type == i1:
                pred = "true" if attr.value else "false"
        if pred not in cls.PREDICATES:
            raise error(f"unknown comparison predicate '{pred}' for '{cls.name}'", loc)
        p.parse_punct(",")
        lhs = p.parse_operand()
        p.parse_punct(",")
        rhs = p.parse_operand()
        attrs = p.parse_optional_attr_dict()
        t = p.parse_colon_type()
        a, b = p.resolve_operands([lhs, rhs], [t, t])
        attrs["predicate"] = IntegerAttr(cls.PREDICATES.index(pred), i64)
        return cls.build(a, b, attributes=attrs, location=p.location)


class CmpIOp(_CmpOp):
    """Integer comparison by ``predicate`` (an i64: eq=0 ne=1 slt=2 sle=3 sgt=4 sge=5 ult=6
    ule=7 ugt=8 uge=9); ``s``/``u`` read the operands signed or unsigned. The result is i1,
    or a vector of i1 for vector operands.

    ``%b = arith.cmpi slt, %x, %y : i32``
    """

    name = "arith.cmpi"
    PREDICATES = CMPI_PREDICATES
    predicate = Attr(CmpIPredicateAttr)
    lhs = Operand(IntegerLike)
    rhs = Operand(IntegerLike)
    result = Result(BoolLike)

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        pred = self.predicate_name
        t = self.lhs.type
        rt = self.result.type
        if self.lhs is self.rhs:
            return [_filled(rt, int(pred in ("eq", "sle", "sge", "ule", "uge")))]
        w = int_width(t)
        folded = fold_elementwise(operands, [t, t], rt, lambda a, b: _cmpi(pred, a, b, w))
        return None if folded is None else [folded]


class CmpFOp(_CmpOp):
    """Float comparison by ``predicate`` (an i64: false=0 oeq=1 ogt=2 oge=3 olt=4 ole=5 one=6
    ord=7 ueq=8 ugt=9 uge=10 ult=11 ule=12 une=13 uno=14 true=15). Ordered predicates are false
    when an operand is NaN, unordered ones true.

    ``%b = arith.cmpf olt, %x, %y : f32``
    """

    name = "arith.cmpf"
    PREDICATES = CMPF_PREDICATES
    predicate = Attr(CmpFPredicateAttr)
    lhs = Operand(FloatLike)
    rhs = Operand(FloatLike)
    result = Result(BoolLike)

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        pred = self.predicate_name
        rt = self.result.type
        if pred in ("false", "true"):
            return [_filled(rt, int(pred == "true"))]
        t = self.lhs.type
        folded = fold_elementwise(operands, [t, t], rt, lambda a, b: _cmpf(pred, a, b))
        return None if folded is None else [folded]


# ------------------------------------------------------------------------------- select


class SelectOp(Op):
    """``condition ? true_value : false_value``; with a vector of i1 as condition the choice
    is made per element.

    ``%r = arith.select %c, %a, %b : f32``;
    ``%r = arith.select %m, %a, %b : vector<4xi1>, vector<4xf32>``
    """

    name = "arith.select"
    traits = (Pure, Elementwise)

    @classmethod
    def get_canonicalization_patterns(cls) -> list[RewritePattern]:
        return [SelectOfNotBool()]
    condition = Operand(BoolLike)
    true_value = Operand(AnyType)
    false_value = Operand(AnyType)
    result = Result(AnyType)

    def verify_(self) -> None:
        t = self.result.type
        if self.true_value.type != t or self.false_value.type != t:
            raise self.emit_error(
                "requires the same type for all operands and results, got "
                f"'{self.true_value.type}', '{self.false_value.type}' and result '{t}'")
        ct = self.condition.type
        if ct != i1 and ct != bool_like_of(t):
            raise self.emit_error(
                f"condition type '{ct}' must be i1 or have the shape of the result type '{t}'")

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        return [operands[1].type]

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        cond, tv, fv = operands
        if self.true_value is self.false_value:
            return [self.true_value]
        ct = self.condition.type
        c = splat_value(cond, ct)
        if c is not None:
            return [self.true_value if c else self.false_value]
        t = self.result.type
        if t == i1 and ct == i1 and _is_splat(tv, t, 1) and _is_splat(fv, t, 0):
            return [self.condition]
        if cond is not None and tv is not None and fv is not None and ct != i1:
            folded = fold_elementwise(operands, [ct, t, t], t,
                                      lambda c_, a, b: a if c_ else b)
            if folded is not None:
                return [folded]
        return None

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operands(self.operands)
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        if self.condition.type != i1:
            p.print_type(self.condition.type)
            p.write(", ")
        p.print_type(self.result.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        operands = p.parse_operand_list()
        if len(operands) != 3:
            raise p.error(f"expected 3 operands, but found {len(operands)}")
        attrs = p.parse_optional_attr_dict()
        t = p.parse_colon_type()
        ct: Type = i1
        if p.parse_optional_punct(","):
            ct, t = t, p.parse_type()
        values = p.resolve_operands(operands, [ct, t, t])
        return cls.build(*values, attributes=attrs, location=p.location)


# --------------------------------------------------------------------------------- casts


class CastOp(Op):
    """Base of the casts: one operand ``input``, one ``result`` of the same shape (declared by
    each cast with its own constraints), element types related by ``compatible``."""

    traits = (Pure, Elementwise, SameOperandsAndResultShape)
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        raise NotImplementedError

    def compute(self, a: Any, src: Type, dst: Type) -> Any:
        """Convert one element (unsigned int bits or numpy float) from ``src`` to ``dst``."""
        raise NotImplementedError

    def verify_(self) -> None:
        src, dst = self.input.type, self.result.type
        if not type(self).compatible(element_type(src), element_type(dst)):
            raise self.emit_error(
                f"operand type '{src}' and result type '{dst}' are cast incompatible")

    @classmethod
    def cast(cls, value: Value, to: Type, location: Location | None = None) -> CastOp:
        """Build a cast of ``value`` to type ``to`` (vector shapes follow ``value``)."""
        if isinstance(value.type, VectorType) and not isinstance(to, VectorType):
            to = VectorType(value.type.shape, to)
        return cls.build(value, result_types=[to], location=location)

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        src, dst = self.input.type, self.result.type
        es, ed = element_type(src), element_type(dst)
        folded = fold_elementwise(operands, [src], dst, lambda a: self.compute(a, es, ed))
        if folded is not None:
            return [folded]
        inner = _def_op(self.input)
        if inner is not None and inner.operands and inner.operand(0).type == dst \
                and self.is_inverse_of(inner):
            return [inner.operand(0)]
        return None

    def is_inverse_of(self, inner: Operation) -> bool:
        """Whether ``self(inner(x)) == x`` exactly for every x of the inner op's input type."""
        return False


def _int(t: Type) -> bool:
    return isinstance(t, IntegerType)


def _flt(t: Type) -> bool:
    return isinstance(t, FloatType)


class _IntExtendOp(CastOp):
    """Common structure of the integer extensions (no name: not registered itself)."""

    input = Operand(SignlessIntegerLike)
    result = Result(SignlessIntegerLike)

    @classmethod
    def get_canonicalization_patterns(cls) -> list[RewritePattern]:
        return [ExtOfExt(cls.name)]

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        return _int(src) and _int(dst) and dst.width > src.width


class ExtSIOp(_IntExtendOp):
    """Sign-extend an integer to a wider integer type."""

    name = "arith.extsi"

    def compute(self, a, src, dst):
        return to_signed(a, src.width)


class ExtUIOp(_IntExtendOp):
    """Zero-extend an integer to a wider integer type."""

    name = "arith.extui"

    def compute(self, a, src, dst):
        return a


class TruncIOp(CastOp):
    """Truncate an integer to a narrower integer type, keeping the low bits."""

    name = "arith.trunci"

    @classmethod
    def get_canonicalization_patterns(cls) -> list[RewritePattern]:
        return [TruncIOfExtOrTrunc()]
    input = Operand(SignlessIntegerLike)
    result = Result(SignlessIntegerLike)

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        return _int(src) and _int(dst) and dst.width < src.width

    def compute(self, a, src, dst):
        return a

    def is_inverse_of(self, inner: Operation) -> bool:
        return inner.name in ("arith.extsi", "arith.extui")


class SIToFPOp(CastOp):
    """Convert a signed integer to the nearest float (ties to even)."""

    name = "arith.sitofp"
    input = Operand(SignlessIntegerLike)
    result = Result(FloatLike)

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        return _int(src) and _flt(dst)

    def compute(self, a, src, dst):
        return round_exact(to_signed(a, src.width), dst)


class UIToFPOp(CastOp):
    """Convert an unsigned integer to the nearest float (ties to even)."""

    name = "arith.uitofp"
    input = Operand(SignlessIntegerLike)
    result = Result(FloatLike)

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        return _int(src) and _flt(dst)

    def compute(self, a, src, dst):
        return round_exact(a, dst)


def _fp_to_int(a: Any, lo: int, hi: int) -> int | None:
    x = float(a)
    if not _math.isfinite(x):
        return None
    t = _math.trunc(x)
    return t if lo <= t <= hi else None


class FPToSIOp(CastOp):
    """Convert a float to a signed integer, rounding toward zero; NaN and out-of-range values
    are undefined."""

    name = "arith.fptosi"
    input = Operand(FloatLike)
    result = Result(SignlessIntegerLike)

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        return _flt(src) and _int(dst)

    def compute(self, a, src, dst):
        w = dst.width
        return _fp_to_int(a, -(1 << (w - 1)), (1 << (w - 1)) - 1)


class FPToUIOp(CastOp):
    """Convert a float to an unsigned integer, rounding toward zero; NaN and out-of-range
    values are undefined."""

    name = "arith.fptoui"
    input = Operand(FloatLike)
    result = Result(SignlessIntegerLike)

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        return _flt(src) and _int(dst)

    def compute(self, a, src, dst):
        return _fp_to_int(a, 0, (1 << dst.width) - 1)


class ExtFOp(CastOp):
    """Widen a float to a wider float type (exact)."""

    name = "arith.extf"

    @classmethod
    def get_canonicalization_patterns(cls) -> list[RewritePattern]:
        return [ExtOfExt(cls.name)]
    input = Operand(FloatLike)
    result = Result(FloatLike)

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        return _flt(src) and _flt(dst) and dst.width > src.width

    def compute(self, a, src, dst):
        return float(a)


class TruncFOp(CastOp):
    """Narrow a float to a narrower float type, rounding to nearest (ties to even); values
    beyond the range become infinities."""

    name = "arith.truncf"
    input = Operand(FloatLike)
    result = Result(FloatLike)

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        return _flt(src) and _flt(dst) and dst.width < src.width

    def compute(self, a, src, dst):
        return round_float(float(a), dst)

    def is_inverse_of(self, inner: Operation) -> bool:
        return inner.name == "arith.extf"


def _index_pair(src: Type, dst: Type) -> bool:
    return (isinstance(src, IndexType) and _int(dst)) or (_int(src) and isinstance(dst,
                                                                                    IndexType))


class IndexCastOp(CastOp):
    """Convert between ``index`` and an integer type: sign-extends when widening, truncates
    when narrowing."""

    name = "arith.index_cast"
    input = Operand(IntegerLike)
    result = Result(IntegerLike)

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        return _index_pair(src, dst)

    def compute(self, a, src, dst):
        return to_signed(a, int_width(src))

    def is_inverse_of(self, inner: Operation) -> bool:
        return inner.name == self.name and int_width(inner.operand(0).type) <= int_width(
            inner.result.type)


class IndexCastUIOp(CastOp):
    """Convert between ``index`` and an integer type: zero-extends when widening, truncates
    when narrowing."""

    name = "arith.index_castui"
    input = Operand(IntegerLike)
    result = Result(IntegerLike)

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        return _index_pair(src, dst)

    def compute(self, a, src, dst):
        return a

    def is_inverse_of(self, inner: Operation) -> bool:
        return inner.name == self.name and int_width(inner.operand(0).type) <= int_width(
            inner.result.type)


class BitcastOp(CastOp):
    """Reinterpret the bits of an integer or float as another type of the same width."""

    name = "arith.bitcast"
    input = Operand(scalar_or_vector_of(AnyInteger | AnyFloat))
    result = Result(scalar_or_vector_of(AnyInteger | AnyFloat))

    @staticmethod
    def compatible(src: Type, dst: Type) -> bool:
        return (_int(src) or _flt(src)) and (_int(dst) or _flt(dst)) and \
            src.width == dst.width

    def compute(self, a, src, dst):
        bits = float_to_bits(float(a), src) if _flt(src) else a
        return float_from_bits(bits, dst) if _flt(dst) else bits

    def is_inverse_of(self, inner: Operation) -> bool:
        return inner.name == self.name


# -------------------------------------------------------------------- canonicalization


def _constant_operand_split(op: Operation) -> tuple[Value, Attribute] | None:
    """For a binary op with one constant operand: (the other operand, the constant)."""
    lhs, rhs = op.operands
    c = defining_constant(rhs)
    if c is not None and defining_constant(lhs) is None:
        return lhs, c
    if op.has_trait(Commutative):
        c = defining_constant(lhs)
        if c is not None and defining_constant(rhs) is None:
            return rhs, c
    return None


class ConstantToRight(RewritePattern):
    """``op(c, x) -> op(x, c)`` for commutative ops, so later patterns see one form."""

    def __init__(self, root: type[Op]) -> None:
        self.root = root.name

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if op.name != self.root:
            return False
        lhs, rhs = op.operands
        if defining_constant(lhs) is None or defining_constant(rhs) is not None:
            return False
        rewriter.modify_op_in_place(op, lambda: op.set_operands([rhs, lhs]))
        return True


def _combine(cls: type[IntBinaryOp], a: Attribute, b: Attribute, t: Type) -> Attribute | None:
    w = int_width(t)
    return fold_elementwise([a, b], [t, t], t, lambda x, y: cls.compute(x, y, w))


class ReassociateConstants(RewritePattern):
    """Combine constants through nested integer add/sub/mul:
    ``(x + c1) + c2 -> x + (c1 + c2)``, ``(x - c1) + c2 -> x + (c2 - c1)``,
    ``(x + c1) - c2 -> x + (c1 - c2)``, ``(x * c1) * c2 -> x * (c1 * c2)``."""

    def __init__(self, root: str) -> None:
        self.root = root

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if op.name != self.root:
            return False
        c2 = defining_constant(op.operand(1))
        inner = _def_op(op.operand(0))
        if c2 is None or inner is None:
            return False
        t = op.result.type
        outer_add = op.name == "arith.addi"
        if inner.name == "arith.addi" and op.name in ("arith.addi", "arith.subi"):
            split = _constant_operand_split(inner)
            if split is None:
                return False
            x, c1 = split
            combined = _combine(AddIOp if outer_add else SubIOp, c1, c2, t)
            new_cls: type[IntBinaryOp] = AddIOp
        elif inner.name == "arith.subi" and outer_add:
            c1 = defining_constant(inner.operand(1))
            x = inner.operand(0)
            if c1 is None or defining_constant(x) is not None:
                return False
            combined = _combine(SubIOp, c2, c1, t)
            new_cls = AddIOp
        elif inner.name == "arith.muli" and op.name == "arith.muli":
            split = _constant_operand_split(inner)
            if split is None:
                return False
            x, c1 = split
            combined = _combine(MulIOp, c1, c2, t)
            new_cls = MulIOp
        else:
            return False
        if combined is None:
            return False
        rewriter.at_op(op)
        c = rewriter.create(ConstantOp, value=combined)
        new = rewriter.create(new_cls, x, c.result)
        rewriter.replace_op(op, new)
        return True


class NegFOfNegF(RewritePattern):
    """``negf(negf(x)) -> x``."""

    root = "arith.negf"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = _def_op(op.operand(0))
        if inner is None or inner.name != "arith.negf":
            return False
        rewriter.replace_op(op, [inner.operand(0)])
        return True


class ExtOfExt(RewritePattern):
    """Extend once: ``extsi(extsi x) -> extsi x``, ``extui(extui x) -> extui x``,
    ``extsi(extui x) -> extui x`` (the sign bit is already zero), ``extf(extf x) -> extf x``."""

    def __init__(self, root: str) -> None:
        self.root = root

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if op.name != self.root:
            return False
        inner = _def_op(op.operand(0))
        if inner is None:
            return False
        allowed = {
            "arith.extsi": ("arith.extsi", "arith.extui"),
            "arith.extui": ("arith.extui",),
            "arith.extf": ("arith.extf",),
        }[op.name]
        if inner.name not in allowed:
            return False
        rewriter.at_op(op)
        new = rewriter.create(type(inner), inner.operand(0), result_types=[op.result.type])
        rewriter.replace_op(op, new)
        return True


class TruncIOfExtOrTrunc(RewritePattern):
    """``trunci(trunci x) -> trunci x``; ``trunci(ext x)`` -> ``ext x`` or ``trunci x``
    depending on whether ``x`` is narrower or wider than the result."""

    root = "arith.trunci"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = _def_op(op.operand(0))
        if inner is None or inner.name not in ("arith.trunci", "arith.extsi", "arith.extui"):
            return False
        x = inner.operand(0)
        out = op.result.type
        wx, wo = int_width(x.type), int_width(out)
        if wx == wo:
            return False  # the folder returns x
        cls: type[CastOp] = TruncIOp if (inner.name == "arith.trunci" or wx > wo) \
            else type(inner)
        rewriter.at_op(op)
        new = rewriter.create(cls, x, result_types=[out])
        rewriter.replace_op(op, new)
        return True


class SelectOfNotBool(RewritePattern):
    """``select(c, false, true) -> xori(c, true)`` for i1 results."""

    root = "arith.select"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        t = op.result.type
        if element_type(t) != i1 or op.operand(0).type != t:
            return False
        if not (_is_splat(defining_constant(op.operand(1)), t, 0)
                and _is_splat(defining_constant(op.operand(2)), t, 1)):
            return False
        rewriter.at_op(op)
        ones = rewriter.create(ConstantOp, value=_filled(t, 1))
        new = rewriter.create(XOrIOp, op.operand(0), ones.result)
        rewriter.replace_op(op, new)
        return True


_INVERSE_CMPI = {"eq": "ne", "ne": "eq", "slt": "sge", "sge": "slt", "sle": "sgt",
                 "sgt": "sle", "ult": "uge", "uge": "ult", "ule": "ugt", "ugt": "ule"}


class XOrIOfCmpI(RewritePattern):
    """``xori(cmpi(p, a, b), true) -> cmpi(not p, a, b)``."""

    root = "arith.xori"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        split = _constant_operand_split(op)
        if split is None:
            return False
        x, c = split
        inner = _def_op(x)
        if inner is None or inner.name != "arith.cmpi" or not _is_splat(c, op.result.type, 1):
            return False
        pred = _INVERSE_CMPI[inner.predicate_name]
        rewriter.at_op(op)
        new = rewriter.create(CmpIOp, inner.operand(0), inner.operand(1), predicate=pred)
        rewriter.replace_op(op, new)
        return True


# ------------------------------------------------------------------ constant materializer


def materialize_constant(builder: Builder | None, attr: Attribute, type_: Type,
                         location: Location | None = None) -> Operation | None:
    """Make an ``arith.constant`` of ``type_`` holding ``attr`` (inserted through ``builder``
    when it has an insertion point); None if ``attr`` cannot be such a constant."""
    if isinstance(attr, IntegerAttr) and isinstance(type_, IntegerType | IndexType) \
            and attr.type != type_:
        attr = IntegerAttr(attr.value, type_)
    if not TypedAttr(attr) or attr.type != type_:
        return None
    op = ConstantOp.build(value=attr, location=location)
    if builder is not None and builder.insertion_point is not None:
        builder.insert(op)
    return op


DIALECT.materialize_constant = materialize_constant

__all__ = [
    "CMPF_PREDICATES",
    "CMPI_PREDICATES",
    "EXAMPLE",
    "AddFOp",
    "AddIOp",
    "AndIOp",
    "BitcastOp",
    "CastOp",
    "CeilDivSIOp",
    "CmpFOp",
    "CmpIOp",
    "ConstantOp",
    "DivFOp",
    "DivSIOp",
    "DivUIOp",
    "ExtFOp",
    "ExtSIOp",
    "ExtUIOp",
    "FPToSIOp",
    "FPToUIOp",
    "FloatBinaryOp",
    "FloorDivSIOp",
    "IndexCastOp",
    "IndexCastUIOp",
    "IntBinaryOp",
    "MaxNumFOp",
    "MaxSIOp",
    "MaxUIOp",
    "MaximumFOp",
    "MinNumFOp",
    "MinSIOp",
    "MinUIOp",
    "MinimumFOp",
    "MulFOp",
    "MulIOp",
    "NegFOp",
    "OrIOp",
    "RemFOp",
    "RemSIOp",
    "RemUIOp",
    "SIToFPOp",
    "SelectOp",
    "ShLIOp",
    "ShRSIOp",
    "ShRUIOp",
    "SubFOp",
    "SubIOp",
    "TruncFOp",
    "TruncIOp",
    "UIToFPOp",
    "XOrIOp",
    "constant",
    "constant_elements",
    "fold_elementwise",
    "make_constant_attr",
    "materialize_constant",
    "round_exact",
    "round_float",
]
