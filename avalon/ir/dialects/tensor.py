"""The ``tensor`` dialect: whole-array operations on value-semantics tensors with static shapes.

Every op takes and produces ``tensor<...>`` values of static shape whose element types are
signless integers (``i1`` is the boolean type) or floats (``f16``, ``bf16``, ``f32``, ``f64``).
Ops never mutate their operands. Broadcasting is never implicit: binary ops require operands of
equal type and ``tensor.broadcast`` makes shapes agree. Named ops (``tensor.add``,
``tensor.matmul``, ...) generalize to ``tensor.generic``, a structured op with indexing maps,
parallel/reduction iterators and a scalar body, on which fusion, tiling and lowering act.

Integers are two's complement and wrap on overflow; they are signed except ``i1``, which
compares and converts as unsigned (``false < true``, ``true`` converts to 1). Floats follow
IEEE-754 with round-to-nearest-even; NaN propagates through arithmetic, max and min.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from avalon.ir.affine import AffineConstantExpr, AffineDimExpr, AffineExpr, AffineMap, dim
from avalon.ir.asm import OpAsmParser, OpAsmPrinter
from avalon.ir.attributes import (
    Attribute,
    DenseArrayAttr,
    DenseElementsAttr,
    DenseResourceAttr,
    DictAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    is_bare_identifier,
)
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation, OpResult, Value
from avalon.ir.dialects.tensor_shapes import (
    ShapeError,
    argmax_shape,
    check_broadcast,
    check_dim,
    check_reshape,
    compose_permutations,
    concat_shape,
    conv_shape,
    gather_shape,
    generic_loop_extents,
    inverse_permutation,
    linear_bounds,
    matmul_shape,
    pad_shape,
    pool_shape,
    reduce_shape,
    slice_shape,
    transpose_shape,
)
from avalon.ir.location import Location
from avalon.ir.opdef import (
    AffineMapAttrC,
    Attr,
    AttrConstraint,
    BoolAttr,
    DenseI64ArrayAttr,
    I64Attr,
    Op,
    Operand,
    OptAttr,
    Result,
    SingleRegion,
    TypeConstraint,
    VarOperand,
    VarResult,
    array_of,
    enum_attr,
    register_dialect,
)
from avalon.ir.patterns import PatternRewriter, RewritePattern
from avalon.ir.traits import (
    Commutative,
    ConstantLike,
    Elementwise,
    HasParent,
    Pure,
    RecursiveMemoryEffects,
    ReturnLike,
    SameOperandsAndResultType,
    SameTypeOperands,
    SingleBlock,
    Terminator,
)
from avalon.ir.types import FloatType, IntegerType, TensorType, Type, f64, i1, i32, i64

DIALECT = register_dialect(
    "tensor",
    "Graph-level operations on value-semantics tensors with static shapes: elementwise math, "
    "shape manipulation, reductions, contractions, convolution, pooling, random numbers and "
    "the structured `tensor.generic` op that named ops generalize to.",
)

EXAMPLE = """\
func.func @classify(%x: tensor<8x4xf32>, %w: tensor<4x3xf32>, %b: tensor<3xf32>)
    -> (tensor<8xf32>, tensor<8xi64>) {
  %h = tensor.matmul %x, %w : (tensor<8x4xf32>, tensor<4x3xf32>) -> tensor<8x3xf32>
  %bb = tensor.broadcast %b, dims = [1] : tensor<3xf32> -> tensor<8x3xf32>
  %y = tensor.add %h, %bb : tensor<8x3xf32>
  %zero = tensor.constant dense<0.0> : tensor<8x3xf32>
  %r = tensor.max %y, %zero : tensor<8x3xf32>
  %init = tensor.constant dense<0.0> : tensor<8xf32>
  %s = tensor.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                        affine_map<(d0, d1) -> (d0)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%r : tensor<8x3xf32>) outs(%init : tensor<8xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %sq = arith.mulf %v, %v : f32
    %sum = arith.addf %acc, %sq : f32
    tensor.yield %sum : f32
  }
  %i = tensor.argmax %r, dim = 1 : tensor<8x3xf32> -> tensor<8xi64>
  func.return %s, %i : tensor<8xf32>, tensor<8xi64>
}
"""

#: Elementwise and data-movement ops fold constant operands up to this many result elements.
FOLD_LIMIT = 1024

# ------------------------------------------------------------------------------ constraints


def _static_tensor(elem: Callable[[Type], bool], description: str) -> TypeConstraint:
    return TypeConstraint(
        lambda t: isinstance(t, TensorType) and t.has_static_shape and elem(t.element_type),
        f"statically shaped tensor of {description}",
    )


def _is_int(t: Type) -> bool:
    return isinstance(t, IntegerType)


def _is_float(t: Type) -> bool:
    return isinstance(t, FloatType)


ANY_TENSOR = _static_tensor(lambda t: _is_int(t) or _is_float(t),
                            "integer or floating-point values")
NUMERIC_TENSOR = _static_tensor(lambda t: (_is_int(t) and t != i1) or _is_float(t),
                                "non-boolean integer or floating-point values")
FLOAT_TENSOR = _static_tensor(_is_float, "floating-point values")
INT_TENSOR = _static_tensor(_is_int, "integer values")
BOOL_TENSOR = _static_tensor(lambda t: t == i1, "i1 values")
INDEX_TENSOR = _static_tensor(lambda t: t in (i32, i64), "i32 or i64 values")
I64_TENSOR = _static_tensor(lambda t: t == i64, "i64 values")
SEED_TENSOR = TypeConstraint(
    lambda t: isinstance(t, TensorType) and t.shape == () and t.element_type == i64,
    "0-d tensor of i64")
SCALAR_TENSOR = TypeConstraint(
    lambda t: isinstance(t, TensorType) and t.shape == ()
    and (_is_int(t.element_type) or _is_float(t.element_type)),
    "0-d tensor of integer or floating-point values")

# ------------------------------------------------------------------------ attribute readers


def _ints(attrs: dict[str, Attribute], name: str) -> tuple[int, ...]:
    a = attrs.get(name)
    if not (isinstance(a, DenseArrayAttr) and a.element_type == i64):
        raise ShapeError(f"requires i64 dense array attribute '{name}'")
    return tuple(int(v) for v in a.values)


def _int(attrs: dict[str, Attribute], name: str) -> int:
    a = attrs.get(name)
    if not (isinstance(a, IntegerAttr) and a.type == i64):
        raise ShapeError(f"requires 64-bit integer attribute '{name}'")
    return a.value


def _str(attrs: dict[str, Attribute], name: str) -> str:
    a = attrs.get(name)
    if not isinstance(a, StringAttr):
        raise ShapeError(f"requires string attribute '{name}'")
    return a.value


def _tensor(t: Type, what: str = "operand") -> TensorType:
    if not isinstance(t, TensorType):
        raise ShapeError(f"{what} must be a tensor, got '{t}'")
    return t


def _i64s(values: Sequence[int]) -> DenseArrayAttr:
    return DenseArrayAttr(i64, tuple(int(v) for v in values))


def _defining(value: Value, cls: type[Operation]) -> Any:
    """The op of class ``cls`` defining ``value``, else None."""
    if isinstance(value, OpResult) and isinstance(value.op, cls):
        return value.op
    return None


def _splat(attr: Attribute | None) -> int | float | bool | None:
    if isinstance(attr, DenseElementsAttr) and attr.array.size > 0 and attr.is_splat:
        return attr.splat_value()
    return None


def _small(t: Type) -> bool:
    return isinstance(t, TensorType) and t.num_elements <= FOLD_LIMIT


# ------------------------------------------------------------------------------ base classes


class TensorOp(Op):
    """Base of the dialect's ops: shape-rule failures become located verifier errors, and
    results are checked against the inferred types of ops that infer them."""

    traits = (Pure,)

    def verify_(self) -> None:
        try:
            if isinstance(self, _Inferred):
                expected = type(self)._infer(self.operand_types, self.attributes)
                for i, (want, got) in enumerate(zip(expected, self.result_types, strict=False)):
                    if want != got:
                        raise ShapeError(
                            f"result #{i} type '{got}' differs from the inferred type '{want}'")
            self._check()
        except ShapeError as e:
            raise self.emit_error(str(e)) from None

    def _check(self) -> None:
        """Op-specific invariants not implied by result-type inference."""


class _Inferred:
    """Mixin of ops whose result types follow from operands and attributes."""

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        raise NotImplementedError  # pragma: no cover - every user overrides

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        try:
            return cls._infer([v.type for v in operands], attributes)
        except ShapeError as e:
            raise ShapeError(f"'{cls.name}' op {e}") from None


# --------------------------------------------------------------- keyed custom assembly form


def _key_text(attr: Attribute | None, kind: str) -> str | None:
    if kind == "ints" and isinstance(attr, DenseArrayAttr) and attr.element_type == i64:
        return "[" + ", ".join(str(v) for v in attr.values) + "]"
    if kind == "int" and isinstance(attr, IntegerAttr) and attr.type == i64:
        return str(attr.value)
    if kind == "bool" and isinstance(attr, IntegerAttr) and attr.type == i1:
        return "true" if attr.value else "false"
    return None


def _parse_key_value(p: OpAsmParser, kind: str) -> Attribute:
    if kind == "ints":
        p.parse_punct("[")
        values: list[int] = []
        if not p.parse_optional_punct("]"):
            values.append(p.parse_integer())
            while p.parse_optional_punct(","):
                values.append(p.parse_integer())
            p.parse_punct("]")
        return _i64s(values)
    if kind == "int":
        return IntegerAttr(p.parse_integer(), i64)
    attr = p.parse_attribute()
    if not (isinstance(attr, IntegerAttr) and attr.type == i1):
        raise p.error("expected 'true' or 'false'")
    return attr


class _KeyedForm(TensorOp):
    """Custom form ``[lead,] %a, %b, key = [1, 2], n = 3 {attrs} : (T1, T2) -> R``.

    ``_lead`` names a string attribute written first as a bare word (``sum``, ``lt``);
    ``_keys`` are ``(attribute, kind)`` pairs written as ``key = value`` with kind ``ints``
    (an i64 dense array), ``int`` or ``bool``. Types are ``: T -> R`` for one operand,
    ``: (T1, T2) -> R`` for several and ``: R`` for none; with ``_type_form = "operands"``
    they are ``: T`` (all operands of type T, result inferred). A malformed attribute is left
    in the attribute dictionary, so any op prints in a form that parses back.
    """

    _lead: ClassVar[str | None] = None
    _keys: ClassVar[tuple[tuple[str, str], ...]] = ()
    _type_form: ClassVar[str] = "full"

    def print_custom(self, p: OpAsmPrinter) -> None:
        op: Operation = self
        parts: list[Callable[[], None]] = []
        elided = ["operandSegmentSizes"]
        if self._lead is not None:
            lead = op.attributes.get(self._lead)
            if isinstance(lead, StringAttr) and is_bare_identifier(lead.value):
                parts.append(lambda w=lead.value: p.write(w))
                elided.append(self._lead)
        for v in op.operands:
            parts.append(lambda v=v: p.print_operand(v))
        for name, kind in self._keys:
            text = _key_text(op.attributes.get(name), kind)
            if text is not None:
                parts.append(lambda t=f"{name} = {text}": p.write(t))
                elided.append(name)
        for i, part in enumerate(parts):
            if i:
                p.write(", ")
            part()
        p.print_attr_dict(op.attributes, elided=elided)
        extra = bool(op.attributes.keys() - set(elided))
        p.write(" : " if parts or extra else ": ")
        ins = op.operand_types
        if self._type_form == "operands" and ins and all(t == ins[0] for t in ins):
            p.print_type(ins[0])
            return
        if len(ins) == 1:
            p.print_type(ins[0])
            p.write(" -> ")
        elif ins:
            p.write("(")
            p.print_types(ins)
            p.write(") -> ")
        p.print_types(op.result_types)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        attrs: dict[str, Attribute] = {}
        if cls._lead is not None:
            word = p.parse_optional_keyword()
            if word is not None:
                attrs[cls._lead] = StringAttr(word)
                p.parse_punct(",")
        operands = []
        pending_comma = False
        while True:
            o = p.parse_optional_operand()
            if o is None:
                break
            operands.append(o)
            pending_comma = p.parse_optional_punct(",")
            if not pending_comma:
                break
        kinds = dict(cls._keys)
        if pending_comma or not operands:
            while True:
                word = p.parse_optional_keyword()
                if word is None:
                    if pending_comma:
                        raise p.error("expected an operand or a 'key = value' entry")
                    break
                if word not in kinds:
                    expected = ", ".join(f"'{k}'" for k in kinds) or "none"
                    raise p.error(f"unknown entry '{word}' (expected {expected})")
                if word in attrs:
                    raise p.error(f"duplicate entry '{word}'")
                p.parse_punct("=")
                attrs[word] = _parse_key_value(p, kinds[word])
                pending_comma = p.parse_optional_punct(",")
                if not pending_comma:
                    break
        attrs.update(p.parse_optional_attr_dict())
        p.parse_punct(":")
        if cls._type_form == "operands" and not p.parse_optional_punct("("):
            t = p.parse_type()
            values = p.resolve_operands(operands, [t] * len(operands))
            try:
                results = cls._infer([t] * len(operands), attrs)  # type: ignore[attr-defined]
            except ShapeError as e:
                raise p.error(f"'{cls.name}' op {e}") from None
            return cls(values, results, attrs, 0, [], p.location)
        if cls._type_form == "operands" or p.parse_optional_punct("("):
            in_types = p.parse_type_list()
            p.parse_punct(")")
            p.parse_punct("->")
            result = p.parse_type()
        else:
            first = p.parse_type()
            if p.parse_optional_punct("->"):
                in_types, result = [first], p.parse_type()
            else:
                in_types, result = [], first
        values = p.resolve_operands(operands, in_types)
        return cls(values, [result], attrs, 0, [], p.location)


# ---------------------------------------------------------------------- scalar body helpers


def _scalar(b: Builder, name: str, operands: Sequence[Value], result_type: Type,
            attrs: dict[str, Attribute] | None = None) -> Value:
    """Insert the scalar op ``name`` (arith/math) into a generic body."""
    return b.insert(Operation.create(name, operands, [result_type], attrs,
                                     location=b.location)).result


def _scalar_const(b: Builder, value: int | float | bool, t: Type) -> Value:
    attr: Attribute = FloatAttr(float(value), t) if _is_float(t) else IntegerAttr(int(value), t)
    return _scalar(b, "arith.constant", [], t, {"value": attr})


#: ``tensor.cmp`` predicate -> (arith.cmpf predicate, arith.cmpi signed, arith.cmpi unsigned),
#: as the integer values of upstream MLIR's predicate enums.
_CMP_PREDICATES = {
    "eq": (1, 0, 0), "ne": (13, 1, 1), "lt": (4, 2, 6), "le": (5, 3, 7), "gt": (2, 4, 8),
    "ge": (3, 5, 9),
}


def _scalar_cmp(b: Builder, pred: str, lhs: Value, rhs: Value) -> Value:
    t = lhs.type
    f, s, u = _CMP_PREDICATES[pred]
    if _is_float(t):
        return _scalar(b, "arith.cmpf", [lhs, rhs], i1, {"predicate": IntegerAttr(f, i64)})
    code = u if t == i1 else s
    return _scalar(b, "arith.cmpi", [lhs, rhs], i1, {"predicate": IntegerAttr(code, i64)})


# ------------------------------------------------------------------------------ constants


_CONSTANT_VALUE = AttrConstraint(
    lambda a: isinstance(a, DenseElementsAttr | DenseResourceAttr)
    and isinstance(a.type, TensorType), "dense elements (or elided resource) of a tensor type")


class ConstantOp(_Inferred, TensorOp):
    """A tensor constant: the result is the dense elements attribute ``value``.

    Custom form: ``tensor.constant dense<[1.0, 2.0]> : tensor<2xf32>``. Text printed with
    large constants elided holds ``dense_resource<__elided__>`` instead; such a constant
    parses and prints but has no data to fold or interpret.
    """

    name = "tensor.constant"
    traits = (Pure, ConstantLike)
    value = Attr(_CONSTANT_VALUE)
    result = Result(ANY_TENSOR)

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        value = attrs.get("value")
        if not _CONSTANT_VALUE(value):  # type: ignore[arg-type]
            raise ShapeError("'value' must be dense elements of a tensor type")
        return [value.type]  # type: ignore[union-attr]

    @classmethod
    def of(cls, array: Any, type_: TensorType, location: Location | None = None) -> ConstantOp:
        """A constant holding ``array`` (broadcast if it is a scalar) as ``type_``."""
        return cls.build(value=DenseElementsAttr(array, type_), location=location)

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        return [self.value] if isinstance(self.value, DenseElementsAttr) else None

    def print_custom(self, p: OpAsmPrinter) -> None:
        if not _CONSTANT_VALUE(self.value):
            raise ValueError("malformed constant: print it in generic form")
        p.print_attribute(self.value)
        p.print_attr_dict(self.attributes, elided=("value",))

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        value = p.parse_attribute()
        if not _CONSTANT_VALUE(value):
            raise p.error("expected dense elements of a tensor type")
        attrs = {"value": value, **p.parse_optional_attr_dict()}
        return cls([], [value.type], attrs, 0, [], p.location)  # type: ignore[attr-defined]


class EmptyOp(_KeyedForm, TensorOp):
    """A tensor of the result type with unspecified contents.

    It only serves as the destination (``outs``) of a ``tensor.generic`` that overwrites every
    element; reading an element gives an unspecified value (the interpreter fills floats with
    NaN and integers with zero so that accidental reads show). Bufferization turns it into an
    allocation. Custom form: ``tensor.empty : tensor<4x8xf32>``.
    """

    name = "tensor.empty"
    result = Result(ANY_TENSOR)


class IotaOp(_KeyedForm, TensorOp):
    """``result[i_0, ..., i_n] = i_dim``: each element is its index along dimension ``dim``
    (converted to the element type).

    Custom form: ``tensor.iota dim = 1 : tensor<2x3xi64>``.
    """

    name = "tensor.iota"
    dim = Attr(I64Attr)
    result = Result(NUMERIC_TENSOR)
    _keys = (("dim", "int"),)

    def _check(self) -> None:
        check_dim(_int(self.attributes, "dim"), self.result.type.rank)


class _RandomOp(_KeyedForm, TensorOp):
    """Base of the random ops: a pure function of the seed and the result type."""

    traits = (Pure,)


class RandomUniformOp(_RandomOp):
    """Uniform random floats in ``[0, 1)``: a deterministic function of the 0-d i64 ``seed``
    and the result type, drawn from the Philox-4x32-10 counter-based generator.

    Algorithm (so native code reproduces the stream bit for bit): the key is
    ``(seed mod 2**32, (seed >> 32) mod 2**32)`` of the seed's two's-complement bits; block
    ``j = 0, 1, ...`` encrypts the counter ``(j mod 2**32, j >> 32, 0, 0)`` into four 32-bit
    words, and the word stream is block 0's words in order, then block 1's, and so on. With
    ``p`` the precision of the element type (24 for f32, 11 for f16, 8 for bf16) element ``i``
    in row-major order takes word ``w = W[i]`` and is ``(w >> (32 - p)) * 2**-p``; for f64
    element ``i`` takes ``a = W[2i]``, ``b = W[2i + 1]`` and is
    ``((a >> 5) * 2**26 + (b >> 6)) * 2**-53``. Every value is exact in its type.

    Custom form: ``tensor.random_uniform %seed : tensor<i64> -> tensor<4x4xf32>``.
    """

    name = "tensor.random_uniform"
    seed = Operand(SEED_TENSOR)
    result = Result(FLOAT_TENSOR)


class RandomNormalOp(_RandomOp):
    """Standard normal random floats: ``sqrt(-2 ln(1 - u1)) * cos(2 pi u2)`` (Box-Muller),
    a deterministic function of the 0-d i64 ``seed`` and the result type.

    ``u1`` and ``u2`` are f64 uniforms in ``[0, 1)`` made as for ``tensor.random_uniform`` with
    element type f64, from the Philox word stream of the same key: element ``i`` in row-major
    order takes words ``W[4i]``, ``W[4i + 1]`` for ``u1`` and ``W[4i + 2]``, ``W[4i + 3]`` for
    ``u2``. The formula is evaluated in f64 and rounded to the element type, so the stream is
    reproducible to the accuracy of the platform's ``log`` and ``cos``.

    Custom form: ``tensor.random_normal %seed : tensor<i64> -> tensor<4x4xf32>``.
    """

    name = "tensor.random_normal"
    seed = Operand(SEED_TENSOR)
    result = Result(FLOAT_TENSOR)


# ------------------------------------------------------------------------- elementwise ops


class _ElementwiseOp(TensorOp):
    """Base of elementwise ops: constant folding on small constants and generalization to a
    ``tensor.generic`` with identity maps."""

    #: Scalar body ops (float, integer) used when generalizing; None where there is none.
    _body_ops: ClassVar[tuple[str | None, str | None]] = (None, None)

    def _fold_array(self, arrays: list[np.ndarray]) -> np.ndarray | None:
        """numpy value of the op on constant operands, or None to not fold."""
        return None

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        rt = self.result_types[0]
        if (operands and all(isinstance(a, DenseElementsAttr) for a in operands)
                and _small(rt)):
            # Float math is done in float64 and rounded once, as the interpreter does.
            arrays = [a.array.astype(np.float64) if a.array.dtype.kind == "f" else a.array
                      for a in operands if isinstance(a, DenseElementsAttr)]
            with np.errstate(all="ignore"):
                arr = self._fold_array(arrays)
                if arr is not None:
                    return [DenseElementsAttr(arr, rt)]
        return None

    def _scalar_body(self, b: Builder, args: Sequence[Value]) -> Value:
        et = self.result_types[0].element_type
        name = self._body_ops[0 if _is_float(args[0].type) else 1]
        if name is None:
            raise ValueError(f"'{self.name}' has no scalar form for element type {et}")
        return _scalar(b, name, args, et)

    def can_generalize(self) -> bool:
        et = self.operand_types[0].element_type
        return self._body_ops[0 if _is_float(et) else 1] is not None

    def to_generic(self, builder: Builder) -> GenericOp:
        """The equivalent ``tensor.generic`` (identity maps, all loops parallel)."""
        rt = self.result_types[0]
        init = builder.create(EmptyOp, result_types=[rt]).result
        n = len(self.operands)
        maps = [AffineMap.identity(rt.rank)] * (n + 1)
        return GenericOp.create_with_body(
            builder, list(self.operands), [init], maps, ["parallel"] * rt.rank,
            lambda b, args: [self._scalar_body(b, args[:n])])


class _UnaryOp(_ElementwiseOp):
    """Base of elementwise unary ops (``tensor.exp %x : tensor<4xf32>``)."""

    traits = (Pure, Elementwise, SameOperandsAndResultType)
    assembly_format = "$operand attr-dict `:` type($result)"
    _np: ClassVar[Callable[[np.ndarray], np.ndarray] | None] = None

    def _fold_array(self, arrays: list[np.ndarray]) -> np.ndarray | None:
        fn = type(self)._np
        return None if fn is None else fn(arrays[0])


class NegOp(_UnaryOp):
    """Elementwise negation ``-x`` (integers wrap: the minimum value negates to itself)."""

    name = "tensor.neg"
    operand = Operand(NUMERIC_TENSOR)
    result = Result(NUMERIC_TENSOR)
    _np = staticmethod(np.negative)
    _body_ops = ("arith.negf", None)

    def can_generalize(self) -> bool:
        return True

    def _scalar_body(self, b: Builder, args: Sequence[Value]) -> Value:
        t = args[0].type
        if _is_float(t):
            return _scalar(b, "arith.negf", args, t)
        return _scalar(b, "arith.subi", [_scalar_const(b, 0, t), args[0]], t)


class AbsOp(_UnaryOp):
    """Elementwise absolute value ``|x|`` (integers wrap: the minimum value maps to itself)."""

    name = "tensor.abs"
    operand = Operand(NUMERIC_TENSOR)
    result = Result(NUMERIC_TENSOR)
    _np = staticmethod(np.abs)
    _body_ops = ("math.absf", "math.absi")


class ExpOp(_UnaryOp):
    """Elementwise natural exponential ``e**x``."""

    name = "tensor.exp"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(np.exp)
    _body_ops = ("math.exp", None)


class LogOp(_UnaryOp):
    """Elementwise natural logarithm ``ln x`` (``-inf`` at 0, NaN below 0)."""

    name = "tensor.log"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(np.log)
    _body_ops = ("math.log", None)


class TanhOp(_UnaryOp):
    """Elementwise hyperbolic tangent."""

    name = "tensor.tanh"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(np.tanh)
    _body_ops = ("math.tanh", None)


class SqrtOp(_UnaryOp):
    """Elementwise square root (NaN below 0)."""

    name = "tensor.sqrt"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(np.sqrt)
    _body_ops = ("math.sqrt", None)


class RsqrtOp(_UnaryOp):
    """Elementwise reciprocal square root ``1 / sqrt(x)``."""

    name = "tensor.rsqrt"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(lambda x: 1 / np.sqrt(x))
    _body_ops = ("math.rsqrt", None)


class SinOp(_UnaryOp):
    """Elementwise sine (radians)."""

    name = "tensor.sin"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(np.sin)
    _body_ops = ("math.sin", None)


class CosOp(_UnaryOp):
    """Elementwise cosine (radians)."""

    name = "tensor.cos"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(np.cos)
    _body_ops = ("math.cos", None)


class ErfOp(_UnaryOp):
    """Elementwise error function ``erf x = 2/sqrt(pi) * integral_0^x exp(-t**2) dt``."""

    name = "tensor.erf"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _body_ops = ("math.erf", None)


class Log1pOp(_UnaryOp):
    """Elementwise ``ln(1 + x)``, accurate for small ``x``."""

    name = "tensor.log1p"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(np.log1p)
    _body_ops = ("math.log1p", None)


class Expm1Op(_UnaryOp):
    """Elementwise ``e**x - 1``, accurate for small ``x``."""

    name = "tensor.expm1"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(np.expm1)
    _body_ops = ("math.expm1", None)


class FloorOp(_UnaryOp):
    """Elementwise rounding toward negative infinity."""

    name = "tensor.floor"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(np.floor)
    _body_ops = ("math.floor", None)


class CeilOp(_UnaryOp):
    """Elementwise rounding toward positive infinity."""

    name = "tensor.ceil"
    operand = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(np.ceil)
    _body_ops = ("math.ceil", None)


def _sign(x: np.ndarray) -> np.ndarray:
    one = np.ones((), x.dtype)
    return np.where(x > 0, one, np.where(x < 0, -one, x))


class SignOp(_UnaryOp):
    """Elementwise sign: 1 where ``x > 0``, -1 where ``x < 0``, and ``x`` itself otherwise
    (so ``+0``, ``-0`` and NaN are kept)."""

    name = "tensor.sign"
    operand = Operand(NUMERIC_TENSOR)
    result = Result(NUMERIC_TENSOR)
    _np = staticmethod(_sign)

    def can_generalize(self) -> bool:
        return True

    def _scalar_body(self, b: Builder, args: Sequence[Value]) -> Value:
        x = args[0]
        t = x.type
        zero = _scalar_const(b, 0, t)
        pos = _scalar_cmp(b, "gt", x, zero)
        neg = _scalar_cmp(b, "lt", x, zero)
        inner = _scalar(b, "arith.select", [neg, _scalar_const(b, -1, t), x], t)
        return _scalar(b, "arith.select", [pos, _scalar_const(b, 1, t), inner], t)


class NotOp(_UnaryOp):
    """Elementwise bitwise complement ``~x``; on ``i1`` this is logical not."""

    name = "tensor.not"
    operand = Operand(INT_TENSOR)
    result = Result(INT_TENSOR)
    _np = staticmethod(np.invert)

    def can_generalize(self) -> bool:
        return True

    def _scalar_body(self, b: Builder, args: Sequence[Value]) -> Value:
        t = args[0].type
        ones = _scalar(b, "arith.constant", [], t, {"value": IntegerAttr(-1, t)})
        return _scalar(b, "arith.xori", [args[0], ones], t)


def _is_neg_zero(v: Any) -> bool:
    return isinstance(v, float) and v == 0 and math.copysign(1.0, v) < 0


class _BinaryOp(_ElementwiseOp):
    """Base of elementwise binary ops on operands of equal type
    (``tensor.add %a, %b : tensor<4xf32>``)."""

    traits = (Pure, Elementwise, SameOperandsAndResultType)
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"
    _np: ClassVar[Callable[[np.ndarray, np.ndarray], np.ndarray] | None] = None
    _np_ints: ClassVar[bool] = True

    def _fold_array(self, arrays: list[np.ndarray]) -> np.ndarray | None:
        fn = type(self)._np
        if fn is None or (not self._np_ints and arrays[0].dtype.kind in "iub"):
            return None
        return fn(arrays[0], arrays[1])

    def _fold_identity(self, lhs: Any, rhs: Any) -> Value | None:
        """The operand the op reduces to given the splat values of constant operands."""
        return None

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        folded = super().fold(operands)
        if folded is not None:
            return folded
        lhs = _splat(operands[0]) if operands else None
        rhs = _splat(operands[1]) if len(operands) > 1 else None
        v = self._fold_identity(lhs, rhs)
        return None if v is None else [v]


class AddOp(_BinaryOp):
    """Elementwise sum ``lhs + rhs`` (integers wrap)."""

    name = "tensor.add"
    traits = (Pure, Elementwise, SameOperandsAndResultType, Commutative)
    lhs = Operand(NUMERIC_TENSOR)
    rhs = Operand(NUMERIC_TENSOR)
    result = Result(NUMERIC_TENSOR)
    _np = staticmethod(np.add)
    _body_ops = ("arith.addf", "arith.addi")

    def _fold_identity(self, lhs: Any, rhs: Any) -> Value | None:
        # x + 0 is x for integers; for floats only x + (-0.0) is (x + 0.0 turns -0.0 into 0.0).
        is_float = _is_float(self.result.type.element_type)

        def neutral(v: Any) -> bool:
            return v is not None and (_is_neg_zero(v) if is_float else v == 0)

        if neutral(rhs):
            return self.lhs
        if neutral(lhs):
            return self.rhs
        return None


class SubOp(_BinaryOp):
    """Elementwise difference ``lhs - rhs`` (integers wrap)."""

    name = "tensor.sub"
    lhs = Operand(NUMERIC_TENSOR)
    rhs = Operand(NUMERIC_TENSOR)
    result = Result(NUMERIC_TENSOR)
    _np = staticmethod(np.subtract)
    _body_ops = ("arith.subf", "arith.subi")

    def _fold_identity(self, lhs: Any, rhs: Any) -> Value | None:
        # x - (+0) is x exactly, for floats (including x = -0.0) and integers.
        if rhs is not None and rhs == 0 and not _is_neg_zero(rhs):
            return self.lhs
        return None


class MulOp(_BinaryOp):
    """Elementwise product ``lhs * rhs`` (integers wrap)."""

    name = "tensor.mul"
    traits = (Pure, Elementwise, SameOperandsAndResultType, Commutative)
    lhs = Operand(NUMERIC_TENSOR)
    rhs = Operand(NUMERIC_TENSOR)
    result = Result(NUMERIC_TENSOR)
    _np = staticmethod(np.multiply)
    _body_ops = ("arith.mulf", "arith.muli")

    def _fold_identity(self, lhs: Any, rhs: Any) -> Value | None:
        if rhs is not None and rhs == 1:
            return self.lhs
        if lhs is not None and lhs == 1:
            return self.rhs
        return None


class DivOp(_BinaryOp):
    """Elementwise quotient ``lhs / rhs``: IEEE division for floats; for integers the
    quotient rounded toward zero, where division by zero is an error and
    ``min / -1`` wraps to ``min``."""

    name = "tensor.div"
    lhs = Operand(NUMERIC_TENSOR)
    rhs = Operand(NUMERIC_TENSOR)
    result = Result(NUMERIC_TENSOR)
    _np = staticmethod(np.divide)
    _np_ints = False
    _body_ops = ("arith.divf", "arith.divsi")

    def _fold_identity(self, lhs: Any, rhs: Any) -> Value | None:
        return self.lhs if rhs is not None and rhs == 1 else None


class RemOp(_BinaryOp):
    """Elementwise remainder of truncated division, ``lhs - trunc(lhs / rhs) * rhs``, with
    the sign of ``lhs`` (C's ``fmod`` / ``%``); integer remainder by zero is an error."""

    name = "tensor.rem"
    lhs = Operand(NUMERIC_TENSOR)
    rhs = Operand(NUMERIC_TENSOR)
    result = Result(NUMERIC_TENSOR)
    _np = staticmethod(np.fmod)
    _np_ints = False
    _body_ops = ("arith.remf", "arith.remsi")


class PowOp(_BinaryOp):
    """Elementwise power ``lhs ** rhs`` on floats (C's ``pow``: NaN for a negative base with
    a non-integer exponent)."""

    name = "tensor.pow"
    lhs = Operand(FLOAT_TENSOR)
    rhs = Operand(FLOAT_TENSOR)
    result = Result(FLOAT_TENSOR)
    _np = staticmethod(np.power)
    _body_ops = ("math.powf", None)


class MaxOp(_BinaryOp):
    """Elementwise maximum; NaN if either float operand is NaN (signed for integers)."""

    name = "tensor.max"
    traits = (Pure, Elementwise, SameOperandsAndResultType, Commutative)
    lhs = Operand(NUMERIC_TENSOR)
    rhs = Operand(NUMERIC_TENSOR)
    result = Result(NUMERIC_TENSOR)
    _np = staticmethod(np.maximum)
    _body_ops = ("arith.maximumf", "arith.maxsi")


class MinOp(_BinaryOp):
    """Elementwise minimum; NaN if either float operand is NaN (signed for integers)."""

    name = "tensor.min"
    traits = (Pure, Elementwise, SameOperandsAndResultType, Commutative)
    lhs = Operand(NUMERIC_TENSOR)
    rhs = Operand(NUMERIC_TENSOR)
    result = Result(NUMERIC_TENSOR)
    _np = staticmethod(np.minimum)
    _body_ops = ("arith.minimumf", "arith.minsi")


class AndOp(_BinaryOp):
    """Elementwise bitwise and (logical and on ``i1``)."""

    name = "tensor.and"
    traits = (Pure, Elementwise, SameOperandsAndResultType, Commutative)
    lhs = Operand(INT_TENSOR)
    rhs = Operand(INT_TENSOR)
    result = Result(INT_TENSOR)
    _np = staticmethod(np.bitwise_and)
    _body_ops = (None, "arith.andi")


class OrOp(_BinaryOp):
    """Elementwise bitwise or (logical or on ``i1``)."""

    name = "tensor.or"
    traits = (Pure, Elementwise, SameOperandsAndResultType, Commutative)
    lhs = Operand(INT_TENSOR)
    rhs = Operand(INT_TENSOR)
    result = Result(INT_TENSOR)
    _np = staticmethod(np.bitwise_or)
    _body_ops = (None, "arith.ori")


class XorOp(_BinaryOp):
    """Elementwise bitwise exclusive or (logical xor on ``i1``)."""

    name = "tensor.xor"
    traits = (Pure, Elementwise, SameOperandsAndResultType, Commutative)
    lhs = Operand(INT_TENSOR)
    rhs = Operand(INT_TENSOR)
    result = Result(INT_TENSOR)
    _np = staticmethod(np.bitwise_xor)
    _body_ops = (None, "arith.xori")


_CMP_NP = {
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal,
}


class CmpOp(_KeyedForm, _Inferred, _ElementwiseOp):
    """Elementwise comparison ``lhs <predicate> rhs`` giving an ``i1`` tensor of the same shape.

    ``predicate`` is one of ``eq ne lt le gt ge``. Integers compare signed (``i1`` unsigned).
    Float comparisons are ordered, so any comparison with NaN is false, except ``ne``, which
    is true. Custom form: ``tensor.cmp lt, %a, %b : tensor<4xf32>``.
    """

    name = "tensor.cmp"
    traits = (Pure, Elementwise, SameTypeOperands)
    predicate = Attr(enum_attr(*_CMP_NP))
    lhs = Operand(ANY_TENSOR)
    rhs = Operand(ANY_TENSOR)
    result = Result(BOOL_TENSOR)
    _lead = "predicate"
    _type_form = "operands"

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        t = _tensor(operand_types[0])
        return [TensorType(t.shape, i1)]

    def _fold_array(self, arrays: list[np.ndarray]) -> np.ndarray | None:
        return _CMP_NP[self.predicate.value](arrays[0], arrays[1])

    def can_generalize(self) -> bool:
        return True

    def _scalar_body(self, b: Builder, args: Sequence[Value]) -> Value:
        return _scalar_cmp(b, self.predicate.value, args[0], args[1])


class SelectOp(_Inferred, _ElementwiseOp):
    """Elementwise choice: ``result[i] = cond[i] ? true_value[i] : false_value[i]``.

    Custom form: ``tensor.select %c, %a, %b : tensor<4xi1>, tensor<4xf32>``.
    """

    name = "tensor.select"
    traits = (Pure, Elementwise)
    cond = Operand(BOOL_TENSOR)
    true_value = Operand(ANY_TENSOR)
    false_value = Operand(ANY_TENSOR)
    result = Result(ANY_TENSOR)

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        return [_tensor(operand_types[1])]

    def _check(self) -> None:
        c, t, f = self.operand_types
        if t != f:
            raise ShapeError(f"true and false values differ in type: '{t}' vs '{f}'")
        if c.shape != t.shape:
            raise ShapeError(f"condition type '{c}' does not match the shape of '{t}'")

    def _fold_array(self, arrays: list[np.ndarray]) -> np.ndarray | None:
        return np.where(arrays[0], arrays[1], arrays[2])

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        folded = super().fold(operands)
        if folded is not None:
            return folded
        c = _splat(operands[0]) if operands else None
        if c is not None:
            return [self.true_value if c else self.false_value]
        if self.true_value is self.false_value:
            return [self.true_value]
        return None

    def can_generalize(self) -> bool:
        return True

    def _scalar_body(self, b: Builder, args: Sequence[Value]) -> Value:
        return _scalar(b, "arith.select", args, args[1].type)

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operands(self.operands)
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.cond.type)
        p.write(", ")
        p.print_type(self.result.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        operands = p.parse_operand_list()
        attrs = p.parse_optional_attr_dict()
        p.parse_punct(":")
        ct = p.parse_type()
        p.parse_punct(",")
        vt = p.parse_type()
        values = p.resolve_operands(operands, [ct, vt, vt])
        return cls(values, [vt], attrs, 0, [], p.location)


class CastOp(TensorOp):
    """Elementwise conversion to the result's element type (same shape).

    float -> float rounds to nearest even; int -> float rounds to nearest; int -> int keeps the
    low bits of the two's-complement value (sign-extending a signed source, zero-extending
    ``i1``); anything -> ``i1`` is ``x != 0`` (NaN gives true); float -> int rounds toward
    zero and saturates: values beyond the integer range give its minimum or maximum and NaN
    gives 0. Custom form: ``tensor.cast %x : tensor<4xf32> to tensor<4xi32>``.
    """

    name = "tensor.cast"
    traits = (Pure, Elementwise)
    input = Operand(ANY_TENSOR)
    result = Result(ANY_TENSOR)
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    def _check(self) -> None:
        a, r = self.input.type, self.result.type
        if a.shape != r.shape:
            raise ShapeError(f"operand type '{a}' and result type '{r}' differ in shape")

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        if self.input.type == self.result.type:
            return [self.input]
        return None

    def to_generic(self, builder: Builder) -> GenericOp:
        """An identity-map generic converting each element with arith casts (``fptosi`` is
        taken to saturate, as the interpreter and native lowering define it)."""
        rt = self.result.type
        init = builder.create(EmptyOp, result_types=[rt]).result
        return GenericOp.create_with_body(
            builder, [self.input], [init], [AffineMap.identity(rt.rank)] * 2,
            ["parallel"] * rt.rank, lambda b, args: [_scalar_cast(b, args[0], rt.element_type)])


def _width(t: Type) -> int:
    return t.width  # type: ignore[attr-defined]


def _scalar_cast(b: Builder, x: Value, dst: Type) -> Value:
    """The arith ops converting scalar ``x`` with ``tensor.cast``'s semantics."""
    src = x.type
    if src == dst:
        return x
    if dst == i1:
        return _scalar_cmp(b, "ne", x, _scalar_const(b, 0, src))
    if _is_float(src) and _is_float(dst):
        if _width(src) == _width(dst):  # f16 <-> bf16 pass through an exact f64
            x = _scalar(b, "arith.extf", [x], f64)
            src = f64
        return _scalar(b, "arith.extf" if _width(dst) > _width(src) else "arith.truncf", [x],
                       dst)
    if _is_float(dst):
        return _scalar(b, "arith.uitofp" if src == i1 else "arith.sitofp", [x], dst)
    if _is_float(src):
        return _scalar(b, "arith.fptosi", [x], dst)
    if _width(dst) > _width(src):
        return _scalar(b, "arith.extui" if src == i1 else "arith.extsi", [x], dst)
    return _scalar(b, "arith.trunci", [x], dst)


class StopGradientOp(TensorOp):
    """Identity in value; blocks gradients during autodiff.

    The result equals the operand, but the ``autodiff`` pass treats it as a constant: no
    cotangent flows back through it. It is never folded away, so that a gradient taken after
    canonicalization still sees it. Custom form: ``tensor.stop_gradient %x : tensor<4xf32>``.
    """

    name = "tensor.stop_gradient"
    traits = (Pure, SameOperandsAndResultType)
    operand = Operand(ANY_TENSOR)
    result = Result(ANY_TENSOR)
    assembly_format = "$operand attr-dict `:` type($result)"


# -------------------------------------------------------------------------- data movement


class BroadcastOp(_KeyedForm, TensorOp):
    """Broadcast to the result shape: operand dimension ``i`` becomes result dimension
    ``dims[i]`` and the other result dimensions are new.

    ``dims`` strictly increases; an operand dimension of size 1 is repeated to the result's
    extent, any other must equal it. So ``result[j] = operand[k]`` with ``k_i = j_{dims[i]}``
    (or 0 where the operand extent is 1). Custom form:
    ``tensor.broadcast %b, dims = [1] : tensor<3xf32> -> tensor<2x3xf32>``.
    """

    name = "tensor.broadcast"
    input = Operand(ANY_TENSOR)
    dims = Attr(DenseI64ArrayAttr)
    result = Result(ANY_TENSOR)
    _keys = (("dims", "ints"),)

    def _check(self) -> None:
        a, r = self.input.type, self.result.type
        if a.element_type != r.element_type:
            raise ShapeError(f"operand type '{a}' and result type '{r}' differ in element type")
        check_broadcast(a.shape, r.shape, _ints(self.attributes, "dims"))

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        rt = self.result.type
        if self.input.type == rt:
            return [self.input]
        v = _splat(operands[0]) if operands else None
        if v is not None:
            return [DenseElementsAttr.splat(v, rt)]
        attr = operands[0] if operands else None
        if isinstance(attr, DenseElementsAttr) and _small(rt):
            shape = [1] * rt.rank
            for i, d in enumerate(self.dims):
                shape[d] = attr.type.shape[i]
            return [DenseElementsAttr(np.broadcast_to(attr.array.reshape(shape), rt.shape), rt)]
        return None

    @classmethod
    def get_canonicalization_patterns(cls) -> list:
        return [_BroadcastOfBroadcast()]

    def to_generic(self, builder: Builder) -> GenericOp:
        """A generic reading the operand through a projection (constant 0 on size-1 dims)."""
        a, rt = self.input.type, self.result.type
        exprs: list[AffineExpr] = []
        for i, d in enumerate(self.dims):
            exprs.append(AffineConstantExpr(0) if a.shape[i] != rt.shape[d] else dim(d))
        maps = [AffineMap(rt.rank, 0, tuple(exprs)), AffineMap.identity(rt.rank)]
        init = builder.create(EmptyOp, result_types=[rt]).result
        return GenericOp.create_with_body(builder, [self.input], [init], maps,
                                          ["parallel"] * rt.rank, lambda b, args: [args[0]])


class ReshapeOp(TensorOp):
    """The operand's elements in row-major order, laid out in the result shape (which has
    the same number of elements and the same element type).

    Custom form: ``tensor.reshape %x : tensor<2x3xf32> -> tensor<6xf32>``.
    """

    name = "tensor.reshape"
    input = Operand(ANY_TENSOR)
    result = Result(ANY_TENSOR)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def _check(self) -> None:
        a, r = self.input.type, self.result.type
        if a.element_type != r.element_type:
            raise ShapeError(f"operand type '{a}' and result type '{r}' differ in element type")
        check_reshape(a.shape, r.shape)

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        rt = self.result.type
        if self.input.type == rt:
            return [self.input]
        attr = operands[0] if operands else None
        if isinstance(attr, DenseElementsAttr):
            return [DenseElementsAttr(attr.array.reshape(rt.shape), rt)]
        return None

    @classmethod
    def get_canonicalization_patterns(cls) -> list:
        return [_ReshapeOfReshape()]


class TransposeOp(_KeyedForm, _Inferred, TensorOp):
    """Permute dimensions: ``result.shape[i] = input.shape[permutation[i]]`` and
    ``result[j] = input[k]`` with ``k_{permutation[i]} = j_i`` (numpy's ``transpose``).

    Custom form: ``tensor.transpose %x, permutation = [1, 0] : tensor<2x3xf32> ->
    tensor<3x2xf32>``.
    """

    name = "tensor.transpose"
    input = Operand(ANY_TENSOR)
    permutation = Attr(DenseI64ArrayAttr)
    result = Result(ANY_TENSOR)
    _keys = (("permutation", "ints"),)

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        t = _tensor(operand_types[0])
        shape = transpose_shape(t.shape, _ints(attrs, "permutation"))
        return [TensorType(shape, t.element_type)]

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        perm = tuple(self.permutation)
        rt = self.result.type
        if perm == tuple(range(len(perm))):
            return [self.input]
        attr = operands[0] if operands else None
        v = _splat(attr)
        if v is not None:
            return [DenseElementsAttr.splat(v, rt)]
        if isinstance(attr, DenseElementsAttr) and _small(rt):
            return [DenseElementsAttr(attr.array.transpose(perm), rt)]
        return None

    @classmethod
    def get_canonicalization_patterns(cls) -> list:
        return [_TransposeOfTranspose()]

    def to_generic(self, builder: Builder) -> GenericOp:
        """A generic reading the operand through the inverse permutation map."""
        rt = self.result.type
        inv = inverse_permutation(tuple(self.permutation))
        maps = [AffineMap.permutation(inv), AffineMap.identity(rt.rank)]
        init = builder.create(EmptyOp, result_types=[rt]).result
        return GenericOp.create_with_body(builder, [self.input], [init], maps,
                                          ["parallel"] * rt.rank, lambda b, args: [args[0]])


class SliceOp(_KeyedForm, _Inferred, TensorOp):
    """A strided sub-tensor: along dimension ``i`` the elements
    ``start[i], start[i] + stride[i], ...`` below ``limit[i]``.

    Requires ``0 <= start <= limit <= size`` and ``stride >= 1``; the result extent is
    ``ceil((limit - start) / stride)``. Custom form:
    ``tensor.slice %x, start = [0, 1], limit = [4, 3], stride = [2, 1] : tensor<4x3xf32> ->
    tensor<2x2xf32>``.
    """

    name = "tensor.slice"
    input = Operand(ANY_TENSOR)
    start = Attr(DenseI64ArrayAttr)
    limit = Attr(DenseI64ArrayAttr)
    stride = Attr(DenseI64ArrayAttr)
    result = Result(ANY_TENSOR)
    _keys = (("start", "ints"), ("limit", "ints"), ("stride", "ints"))

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        t = _tensor(operand_types[0])
        shape = slice_shape(t.shape, _ints(attrs, "start"), _ints(attrs, "limit"),
                            _ints(attrs, "stride"))
        return [TensorType(shape, t.element_type)]

    def _index(self) -> tuple[slice, ...]:
        return tuple(slice(s, e, k) for s, e, k in zip(self.start, self.limit, self.stride))

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        rt = self.result.type
        if self.input.type == rt and all(s == 0 for s in self.start) and all(
                k == 1 for k in self.stride):
            return [self.input]
        attr = operands[0] if operands else None
        v = _splat(attr)
        if v is not None:
            return [DenseElementsAttr.splat(v, rt)]
        if isinstance(attr, DenseElementsAttr) and _small(rt):
            return [DenseElementsAttr(attr.array[self._index()], rt)]
        return None

    def to_generic(self, builder: Builder) -> GenericOp:
        """A generic reading ``input[start + stride * i]``."""
        rt = self.result.type
        exprs = tuple(dim(i) * k + s for i, (s, k) in enumerate(zip(self.start, self.stride)))
        maps = [AffineMap(rt.rank, 0, exprs), AffineMap.identity(rt.rank)]
        init = builder.create(EmptyOp, result_types=[rt]).result
        return GenericOp.create_with_body(builder, [self.input], [init], maps,
                                          ["parallel"] * rt.rank, lambda b, args: [args[0]])


class PadOp(_KeyedForm, _Inferred, TensorOp):
    """Pad with the 0-d ``padding_value``: ``low[i]`` elements before, ``high[i]`` after and
    ``interior[i]`` between every two neighbours along dimension ``i``.

    ``result[low + j * (interior + 1)] = input[j]`` per dimension and every other element is
    the padding value; the result extent is ``low + n + (n - 1) * interior + high``. All
    amounts are non-negative (cropping is ``tensor.slice``). Custom form:
    ``tensor.pad %x, %v, low = [1], high = [0], interior = [1] : (tensor<3xf32>, tensor<f32>)
    -> tensor<6xf32>``.
    """

    name = "tensor.pad"
    input = Operand(ANY_TENSOR)
    padding_value = Operand(SCALAR_TENSOR)
    low = Attr(DenseI64ArrayAttr)
    high = Attr(DenseI64ArrayAttr)
    interior = Attr(DenseI64ArrayAttr)
    result = Result(ANY_TENSOR)
    _keys = (("low", "ints"), ("high", "ints"), ("interior", "ints"))

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        t = _tensor(operand_types[0])
        shape = pad_shape(t.shape, _ints(attrs, "low"), _ints(attrs, "high"),
                          _ints(attrs, "interior"))
        return [TensorType(shape, t.element_type)]

    def _check(self) -> None:
        a, v = self.input.type, self.padding_value.type
        if a.element_type != v.element_type:
            raise ShapeError(f"padding value type '{v}' does not match the element type of "
                             f"'{a}'")

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        if self.input.type == self.result.type:
            return [self.input]
        return None


class ConcatOp(_KeyedForm, _Inferred, TensorOp):
    """Join the operands along dimension ``dim``; they have equal rank, element type and
    extents in every other dimension.

    Custom form: ``tensor.concat %a, %b, dim = 0 : (tensor<2xf32>, tensor<3xf32>) ->
    tensor<5xf32>``.
    """

    name = "tensor.concat"
    inputs = VarOperand(ANY_TENSOR)
    dim = Attr(I64Attr)
    result = Result(ANY_TENSOR)
    _keys = (("dim", "int"),)

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        ts = [_tensor(t) for t in operand_types]
        shape = concat_shape([t.shape for t in ts], _int(attrs, "dim"))
        for k, t in enumerate(ts):
            if t.element_type != ts[0].element_type:
                raise ShapeError(f"operand #{k} has element type {t.element_type}, expected "
                                 f"{ts[0].element_type}")
        return [TensorType(shape, ts[0].element_type)]

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        if len(self.inputs) == 1:
            return [self.inputs[0]]
        return None


class GatherOp(_KeyedForm, _Inferred, TensorOp):
    """Take along an axis: ``result[j] = input[j with j_dim replaced by indices[j]]``.

    ``indices`` (i32 or i64) has the rank of ``input`` and its extents except along ``dim``;
    the result has the shape of ``indices``. An index outside ``[0, input.shape[dim])`` is a
    runtime error (nothing is clamped or wrapped). Custom form:
    ``tensor.gather %x, %i, dim = 1 : (tensor<3x5xf32>, tensor<3x2xi64>) -> tensor<3x2xf32>``.
    """

    name = "tensor.gather"
    input = Operand(ANY_TENSOR)
    indices = Operand(INDEX_TENSOR)
    dim = Attr(I64Attr)
    result = Result(ANY_TENSOR)
    _keys = (("dim", "int"),)

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        a, idx = _tensor(operand_types[0]), _tensor(operand_types[1])
        return [TensorType(gather_shape(a.shape, idx.shape, _int(attrs, "dim")),
                           a.element_type)]


# ------------------------------------------------------------------------------ reductions

REDUCE_KINDS = ("sum", "prod", "max", "min")
_REDUCE_BODY = {"sum": ("arith.addf", "arith.addi"), "prod": ("arith.mulf", "arith.muli"),
                "max": ("arith.maximumf", "arith.maxsi"), "min": ("arith.minimumf", "arith.minsi")}


def reduce_identity(kind: str, t: Type) -> int | float | bool:
    """The value a ``kind`` reduction over no elements of type ``t`` gives."""
    if kind == "sum":
        return 0
    if kind == "prod":
        return 1
    if _is_float(t):
        return -math.inf if kind == "max" else math.inf
    if t == i1:
        return kind == "min"
    width = t.width  # type: ignore[attr-defined]
    return -(1 << (width - 1)) if kind == "max" else (1 << (width - 1)) - 1


class ReduceOp(_KeyedForm, _Inferred, TensorOp):
    """Reduce over the dimensions ``dims`` with ``kind`` (``sum``, ``prod``, ``max``, ``min``);
    the reduced dimensions are removed from the shape (reshape to keep them as size 1).

    Float ``max``/``min`` propagate NaN; the order of float additions is unspecified. A
    reduction over zero elements gives the identity (0, 1, the lowest or highest value:
    ``-inf``/``+inf`` for floats). On ``i1`` only ``max`` (any) and ``min`` (all) exist.
    ``dims`` strictly increases; empty ``dims`` copies the operand. Custom form:
    ``tensor.reduce sum, %x, dims = [1] : tensor<2x3xf32> -> tensor<2xf32>``.
    """

    name = "tensor.reduce"
    kind = Attr(enum_attr(*REDUCE_KINDS))
    input = Operand(ANY_TENSOR)
    dims = Attr(DenseI64ArrayAttr)
    result = Result(ANY_TENSOR)
    _lead = "kind"
    _keys = (("dims", "ints"),)

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        t = _tensor(operand_types[0])
        return [TensorType(reduce_shape(t.shape, _ints(attrs, "dims")), t.element_type)]

    def _check(self) -> None:
        kind = _str(self.attributes, "kind")
        if self.input.type.element_type == i1 and kind in ("sum", "prod"):
            raise ShapeError(f"'{kind}' reduction is not defined on i1 (use max or min)")

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        if not tuple(self.dims):
            return [self.input]
        return None

    def to_generic(self, builder: Builder) -> GenericOp:
        """A generic with reduction iterators over ``dims`` accumulating into a constant
        initialised with the identity."""
        a, rt = self.input.type, self.result.type
        red = set(self.dims)
        kept = [d for d in range(a.rank) if d not in red]
        kind = self.kind.value
        et = a.element_type
        init = builder.create(ConstantOp, value=DenseElementsAttr.splat(
            reduce_identity(kind, et), rt)).result
        maps = [AffineMap.identity(a.rank), AffineMap.from_dims(a.rank, kept)]
        iters = ["reduction" if d in red else "parallel" for d in range(a.rank)]
        float_op, int_op = _REDUCE_BODY[kind]
        if et == i1:
            int_op = "arith.ori" if kind == "max" else "arith.andi"
        body_op = float_op if _is_float(et) else int_op
        return GenericOp.create_with_body(
            builder, [self.input], [init], maps, iters,
            lambda b, args: [_scalar(b, body_op, [args[1], args[0]], et)])


class ArgmaxOp(_KeyedForm, _Inferred, TensorOp):
    """Index (i64) of the largest element along dimension ``dim``, which is removed.

    Ties give the first index; a NaN counts as larger than every number (the first NaN wins).
    The dimension must not be empty. Custom form:
    ``tensor.argmax %x, dim = 1 : tensor<2x3xf32> -> tensor<2xi64>``.
    """

    name = "tensor.argmax"
    input = Operand(ANY_TENSOR)
    dim = Attr(I64Attr)
    result = Result(I64_TENSOR)
    _keys = (("dim", "int"),)

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        t = _tensor(operand_types[0])
        return [TensorType(argmax_shape(t.shape, _int(attrs, "dim")), i64)]


# ---------------------------------------------------------------------------- contractions


class MatmulOp(_KeyedForm, _Inferred, TensorOp):
    """Batched matrix product: ``[..., M, K] x [..., K, N] -> [..., M, N]``,
    ``result[b, m, n] = sum_k lhs[b, m, k] * rhs[b, k, n]`` with equal batch dimensions
    (no broadcasting) and equal element types; the order of float additions is unspecified.

    Custom form: ``tensor.matmul %a, %b : (tensor<2x3xf32>, tensor<3x4xf32>) ->
    tensor<2x4xf32>``.
    """

    name = "tensor.matmul"
    lhs = Operand(NUMERIC_TENSOR)
    rhs = Operand(NUMERIC_TENSOR)
    result = Result(NUMERIC_TENSOR)

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        a, b = _tensor(operand_types[0]), _tensor(operand_types[1])
        if a.element_type != b.element_type:
            raise ShapeError(f"element types differ: {a.element_type} vs {b.element_type}")
        return [TensorType(matmul_shape(a.shape, b.shape), a.element_type)]

    def to_generic(self, builder: Builder) -> GenericOp:
        """Loops ``(batch..., m, n, k)`` with ``k`` a reduction, into a zero constant."""
        rt = self.result.type
        nb = rt.rank - 2
        n = nb + 3
        batch = list(range(nb))
        m, nn, k = nb, nb + 1, nb + 2
        maps = [AffineMap.from_dims(n, [*batch, m, k]), AffineMap.from_dims(n, [*batch, k, nn]),
                AffineMap.from_dims(n, [*batch, m, nn])]
        et = rt.element_type
        init = builder.create(ConstantOp, value=DenseElementsAttr.splat(0, rt)).result
        mul, add = ("arith.mulf", "arith.addf") if _is_float(et) else ("arith.muli",
                                                                     "arith.addi")

        def body(b: Builder, args: Sequence[Value]) -> list[Value]:
            prod = _scalar(b, mul, [args[0], args[1]], et)
            return [_scalar(b, add, [args[2], prod], et)]

        return GenericOp.create_with_body(builder, [self.lhs, self.rhs], [init], maps,
                                          ["parallel"] * (nb + 2) + ["reduction"], body)


class ConvOp(_KeyedForm, _Inferred, TensorOp):
    """N-d grouped convolution (cross-correlation) of ``input [N, C, S...]`` with
    ``filter [O, C/groups, K...]`` giving ``[N, O, P...]``.

    The input is zero-padded by ``padding_low``/``padding_high`` per spatial dimension; then
    ``result[n, o, p] = sum_{c, k} in[n, g*C/groups + c, p*stride + k*dilation] *
    filter[o, c, k]`` with ``g = o // (O/groups)``, and
    ``P = (S + low + high - (K - 1) * dilation - 1) // stride + 1`` (at least 1). ``groups``
    divides ``C`` and ``O``. Custom form: ``tensor.conv %x, %w, stride = [1, 1],
    padding_low = [1, 1], padding_high = [1, 1], dilation = [1, 1], groups = 1 :
    (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>``.
    """

    name = "tensor.conv"
    input = Operand(NUMERIC_TENSOR)
    filter = Operand(NUMERIC_TENSOR)
    stride = Attr(DenseI64ArrayAttr)
    padding_low = Attr(DenseI64ArrayAttr)
    padding_high = Attr(DenseI64ArrayAttr)
    dilation = Attr(DenseI64ArrayAttr)
    groups = Attr(I64Attr)
    result = Result(NUMERIC_TENSOR)
    _keys = (("stride", "ints"), ("padding_low", "ints"), ("padding_high", "ints"),
             ("dilation", "ints"), ("groups", "int"))

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        a, w = _tensor(operand_types[0]), _tensor(operand_types[1], "filter")
        if a.element_type != w.element_type:
            raise ShapeError(f"element types differ: {a.element_type} vs {w.element_type}")
        shape = conv_shape(a.shape, w.shape, _ints(attrs, "stride"),
                           _ints(attrs, "padding_low"), _ints(attrs, "padding_high"),
                           _ints(attrs, "dilation"), _int(attrs, "groups"))
        return [TensorType(shape, a.element_type)]


class PoolOp(_KeyedForm, _Inferred, TensorOp):
    """Max or average pooling over windows of the trailing ``len(window)`` dimensions (the
    leading ones, e.g. ``[N, C]``, are kept).

    ``result[..., p] = max/mean over k of in[..., p*stride + k - padding_low]`` for ``k`` in the
    window. Padding elements are ignored by ``max``. For ``avg`` (floats only) they count as
    zeros when ``count_include_pad`` is true (the default), so the sum is divided by the window
    size; when false the divisor is the number of in-bounds elements. Padding is smaller than
    the window, so every window holds an input element. ``P`` is as for ``tensor.conv``. Custom
    form: ``tensor.pool max, %x, window = [2, 2], stride = [2, 2], padding_low = [0, 0],
    padding_high = [0, 0] : tensor<1x1x4x4xf32> -> tensor<1x1x2x2xf32>``.
    """

    name = "tensor.pool"
    kind = Attr(enum_attr("max", "avg"))
    input = Operand(NUMERIC_TENSOR)
    window = Attr(DenseI64ArrayAttr)
    stride = Attr(DenseI64ArrayAttr)
    padding_low = Attr(DenseI64ArrayAttr)
    padding_high = Attr(DenseI64ArrayAttr)
    count_include_pad = OptAttr(BoolAttr)
    result = Result(NUMERIC_TENSOR)
    _lead = "kind"
    _keys = (("window", "ints"), ("stride", "ints"), ("padding_low", "ints"),
             ("padding_high", "ints"), ("count_include_pad", "bool"))

    @classmethod
    def _infer(cls, operand_types: list[Type], attrs: dict[str, Attribute]) -> list[Type]:
        t = _tensor(operand_types[0])
        shape = pool_shape(t.shape, _ints(attrs, "window"), _ints(attrs, "stride"),
                           _ints(attrs, "padding_low"), _ints(attrs, "padding_high"))
        return [TensorType(shape, t.element_type)]

    def _check(self) -> None:
        kind = _str(self.attributes, "kind")
        if kind == "avg" and not _is_float(self.input.type.element_type):
            raise ShapeError("'avg' pooling needs a floating-point element type")
        if kind == "max" and "count_include_pad" in self.attributes:
            raise ShapeError("'count_include_pad' only applies to 'avg' pooling")

    @property
    def includes_pad(self) -> bool:
        a = self.attributes.get("count_include_pad")
        return True if a is None else bool(a.value)


# ------------------------------------------------------------------------ structured op

ITERATOR_TYPES = ("parallel", "reduction")


class GenericOp(TensorOp):
    """A structured loop nest over tensors: for every point ``d`` of the iteration space the
    body maps the input elements ``inputs[k][indexing_maps[k](d)]`` and the current output
    elements to new output elements, yielded by ``tensor.yield``.

    There is one indexing map per input and then per output, over the same loop dimensions,
    and one iterator type per loop dimension. Loop extents come from operand extents at map
    results that are plain dimensions. Output maps are permutations of exactly the parallel
    dimensions; the result ``r`` (of the type of ``outputs[r]``) starts as ``outputs[r]`` and,
    at each parallel point, the body is applied over the reduction points in lexicographic
    order, each time with the value it yielded last. Input maps may be any affine functions;
    reading outside an input is an error. The body may use scalars defined above the op (such
    as hoisted constants). Custom form: ``tensor.generic {indexing_maps = [...],
    iterator_types = [...]} ins(%a : tensor<4x8xf32>) outs(%c : tensor<4xf32>) {^bb0(...): ...
    tensor.yield %v : f32}``.
    """

    name = "tensor.generic"
    traits = (RecursiveMemoryEffects, SingleBlock)
    inputs = VarOperand(ANY_TENSOR)
    outputs = VarOperand(ANY_TENSOR)
    indexing_maps = Attr(array_of(AffineMapAttrC))
    iterator_types = Attr(array_of(enum_attr(*ITERATOR_TYPES)))
    result_values = VarResult(ANY_TENSOR)
    body_region = SingleRegion()

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        seg = attributes.get("operandSegmentSizes")
        n_in = int(seg.values[0]) if isinstance(seg, DenseArrayAttr) else 0
        return [v.type for v in operands[n_in:]]

    @property
    def maps(self) -> list[AffineMap]:
        return [a.value for a in self.indexing_maps]

    @property
    def iterators(self) -> list[str]:
        return [a.value for a in self.iterator_types]

    @property
    def num_loops(self) -> int:
        return len(self.iterator_types)

    def loop_extents(self) -> tuple[int, ...]:
        """Extent of each loop dimension (raises ShapeError if the maps do not fix them)."""
        shapes = [t.shape for t in self.operand_types]
        return generic_loop_extents(self.maps, shapes, self.num_loops, len(self.outputs))

    @classmethod
    def create_with_body(
        cls, builder: Builder, inputs: Sequence[Value], outputs: Sequence[Value],
        indexing_maps: Sequence[AffineMap], iterator_types: Sequence[str],
        body: Callable[[Builder, list[Value]], Sequence[Value]],
    ) -> GenericOp:
        """Build and insert a generic; ``body(b, args)`` builds the scalar body at the end of
        the new block (args: one per input, then one per output) and returns the values to
        yield."""
        op = cls.build(inputs=list(inputs), outputs=list(outputs),
                       indexing_maps=list(indexing_maps), iterator_types=list(iterator_types),
                       location=builder.location)
        block = Block([v.type.element_type for v in (*inputs, *outputs)])
        op.regions[0].add_block(block)
        inner = Builder.at_end(block, builder.location)
        values = body(inner, list(block.args))
        inner.create(YieldOp, list(values))
        builder.insert(op)
        return op

    def _check(self) -> None:
        ins, outs = self.inputs, self.outputs
        maps_attr = self.indexing_maps
        n_ops = len(ins) + len(outs)
        if not outs:
            raise ShapeError("requires at least one output")
        if len(maps_attr) != n_ops:
            raise ShapeError(f"expected {n_ops} indexing maps (one per operand), found "
                             f"{len(maps_attr)}")
        nloops = self.num_loops
        iters = self.iterators
        for k, (m, v) in enumerate(zip(self.maps, (*ins, *outs))):
            if m.num_symbols:
                raise ShapeError(f"indexing map #{k} must not have symbols")
            if m.num_dims != nloops:
                raise ShapeError(f"indexing map #{k} has {m.num_dims} dimensions, expected "
                                 f"{nloops} (one per iterator)")
            if len(m.results) != v.type.rank:
                raise ShapeError(f"indexing map #{k} has {len(m.results)} results but operand "
                                 f"#{k} has rank {v.type.rank}")
        parallel = {d for d, it in enumerate(iters) if it == "parallel"}
        for k in range(len(ins), n_ops):
            m = self.maps[k]
            used = {e.position for e in m.results if isinstance(e, AffineDimExpr)}
            if not m.is_projected_permutation or used != parallel:
                raise ShapeError(f"output indexing map #{k} ({m}) must be a permutation of the "
                                 f"parallel dimensions")
        for k in range(len(outs)):
            if self.results[k].type != outs[k].type:
                raise ShapeError(f"result #{k} type '{self.results[k].type}' differs from the "
                                 f"type of output #{k} '{outs[k].type}'")
        if len(self.results) != len(outs):
            raise ShapeError(f"has {len(self.results)} results but {len(outs)} outputs")
        extents = self.loop_extents()
        if all(e > 0 for e in extents):
            for k, (m, v) in enumerate(zip(self.maps[:len(ins)], ins)):
                for j, e in enumerate(m.results):
                    bounds = linear_bounds(e, extents)
                    n = v.type.shape[j]
                    if bounds is not None and (bounds[0] < 0 or bounds[1] >= n):
                        raise ShapeError(
                            f"indexing map #{k} reads indices {bounds[0]}..{bounds[1]} of "
                            f"dimension {j} of operand #{k}, which has size {n}")
        self._check_body()

    def _check_body(self) -> None:
        region = self.regions[0]
        if len(region.blocks) != 1:
            raise ShapeError("expects a body region with one block")
        block = region.blocks[0]
        want = [v.type.element_type for v in self.operands]
        if block.arg_types != want:
            raise ShapeError(
                "body block arguments must be the element types of the inputs and outputs ("
                + ", ".join(str(t) for t in want) + "), got ("
                + ", ".join(str(t) for t in block.arg_types) + ")")
        term = block.last_op
        if not isinstance(term, YieldOp):
            raise ShapeError("body must end with 'tensor.yield'")
        got = term.operand_types
        outs = want[len(self.inputs):]
        if got != outs:
            raise ShapeError(
                "body yields (" + ", ".join(str(t) for t in got) + ") but the outputs have "
                "element types (" + ", ".join(str(t) for t in outs) + ")")

    def print_custom(self, p: OpAsmPrinter) -> None:
        attrs = {k: v for k, v in self.attributes.items() if k != "operandSegmentSizes"}
        p.print_attribute(DictAttr.of(attrs))
        for word, values in (("ins", self.inputs), ("outs", self.outputs)):
            if word == "ins" and not values:
                continue
            p.write(f" {word}(")
            if values:
                p.print_operands(values)
                p.write(" : ")
                p.print_types([v.type for v in values])
            p.write(")")
        p.write(" ")
        p.print_region(self.regions[0])

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        attrs = p.parse_optional_attr_dict()
        groups: dict[str, list[Value]] = {"ins": [], "outs": []}
        for word in ("ins", "outs"):
            if word == "ins" and p.parse_optional_keyword("ins") is None:
                continue
            if word == "outs":
                p.parse_keyword("outs")
            p.parse_punct("(")
            if not p.parse_optional_punct(")"):
                operands = p.parse_operand_list()
                p.parse_punct(":")
                types = p.parse_type_list()
                p.parse_punct(")")
                groups[word] = p.resolve_operands(operands, types)
        region = p.parse_region()
        ins, outs = groups["ins"], groups["outs"]
        attrs["operandSegmentSizes"] = DenseArrayAttr(i32, (len(ins), len(outs)))
        return cls([*ins, *outs], [v.type for v in outs], attrs, [region], [], p.location)


class YieldOp(TensorOp):
    """Terminates a ``tensor.generic`` body, giving the new output elements (one value per
    output, of its element type).

    Custom form: ``tensor.yield %a, %b : f32, f32``.
    """

    name = "tensor.yield"
    traits = (Pure, Terminator, ReturnLike, HasParent("tensor.generic"))
    values = VarOperand()

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operands(self.operands)
        p.print_attr_dict(self.attributes)
        if self.operands:
            p.write(" : ")
            p.print_types(self.operand_types)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        operands = []
        o = p.parse_optional_operand()
        if o is not None:
            operands.append(o)
            while p.parse_optional_punct(","):
                operands.append(p.parse_operand())
        attrs = p.parse_optional_attr_dict()
        types: list[Type] = []
        if operands:
            p.parse_punct(":")
            types = p.parse_type_list()
        return cls(p.resolve_operands(operands, types), [], attrs, 0, [], p.location)


# ------------------------------------------------------------------- canonicalization


class _TransposeOfTranspose(RewritePattern):
    """``transpose(transpose(x, p), q)`` is ``transpose(x, [p[i] for i in q])``, or ``x``."""

    root = "tensor.transpose"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = _defining(op.input, TransposeOp)
        if inner is None:
            return False
        perm = compose_permutations(tuple(inner.permutation), tuple(op.permutation))
        rewriter.at_op(op)
        if perm == tuple(range(len(perm))):
            rewriter.replace_op(op, [inner.input])
        else:
            rewriter.replace_op(op, rewriter.create(TransposeOp, inner.input,
                                                    permutation=perm))
        return True


class _ReshapeOfReshape(RewritePattern):
    """``reshape(reshape(x))`` is one reshape of ``x`` (or ``x`` if the types agree)."""

    root = "tensor.reshape"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = _defining(op.input, ReshapeOp)
        if inner is None:
            return False
        rewriter.at_op(op)
        if inner.input.type == op.result.type:
            rewriter.replace_op(op, [inner.input])
        else:
            rewriter.replace_op(op, rewriter.create(ReshapeOp, inner.input,
                                                    result_types=[op.result.type]))
        return True


class _BroadcastOfBroadcast(RewritePattern):
    """``broadcast(broadcast(x, p), q)`` is ``broadcast(x, [q[i] for i in p])``."""

    root = "tensor.broadcast"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = _defining(op.input, BroadcastOp)
        if inner is None:
            return False
        outer_dims = tuple(op.dims)
        dims = [outer_dims[d] for d in inner.dims]
        rewriter.at_op(op)
        rewriter.replace_op(op, rewriter.create(BroadcastOp, inner.input, dims=dims,
                                                result_types=[op.result.type]))
        return True


# ------------------------------------------------------------------------ generalization

GENERALIZABLE: tuple[type[Op], ...] = (
    NegOp, AbsOp, ExpOp, LogOp, TanhOp, SqrtOp, RsqrtOp, SinOp, CosOp, ErfOp, Log1pOp,
    Expm1Op, FloorOp, CeilOp, SignOp, NotOp, AddOp, SubOp, MulOp, DivOp, RemOp, PowOp, MaxOp,
    MinOp, AndOp, OrOp, XorOp, CmpOp, SelectOp, CastOp, BroadcastOp, TransposeOp, SliceOp,
    ReduceOp, MatmulOp,
)


def generalize(op: Operation, builder: Builder) -> GenericOp | None:
    """Insert the ``tensor.generic`` equivalent to the named op ``op`` with ``builder`` and
    return it (the caller replaces ``op``), or None if ``op`` has no generic form."""
    if not isinstance(op, GENERALIZABLE):
        return None
    if isinstance(op, _ElementwiseOp) and not op.can_generalize():
        return None
    return op.to_generic(builder)  # type: ignore[attr-defined]


# ------------------------------------------------------------------- constant materialising


def _materialize_constant(builder: Builder, attr: Attribute, type_: Type,
                          location: Location | None = None) -> Operation | None:
    if not isinstance(type_, TensorType) or not type_.has_static_shape:
        return None
    if isinstance(attr, DenseElementsAttr):
        if attr.type != type_:
            return None
    elif isinstance(attr, IntegerAttr | FloatAttr) and attr.type == type_.element_type:
        attr = DenseElementsAttr.splat(attr.value, type_)
    else:
        return None
    return builder.create(ConstantOp, value=attr, location=location or builder.location)


DIALECT.materialize_constant = _materialize_constant

__all__ = [
    "DIALECT", "EXAMPLE", "GENERALIZABLE", "AbsOp", "AddOp", "AndOp", "ArgmaxOp",
    "BroadcastOp", "CastOp", "CeilOp", "CmpOp", "ConcatOp", "ConstantOp", "ConvOp", "CosOp",
    "DivOp", "EmptyOp", "ErfOp", "ExpOp", "Expm1Op", "FloorOp", "GatherOp", "GenericOp",
    "IotaOp", "Log1pOp", "LogOp", "MatmulOp", "MaxOp", "MinOp", "MulOp", "NegOp", "NotOp",
    "OrOp", "PadOp", "PoolOp", "PowOp", "RandomNormalOp", "RandomUniformOp", "ReduceOp",
    "RemOp", "ReshapeOp", "RsqrtOp", "SelectOp", "ShapeError", "SignOp", "SinOp", "SliceOp",
    "SqrtOp", "StopGradientOp", "SubOp", "TanhOp", "TransposeOp", "XorOp", "YieldOp", "generalize",
    "reduce_identity",
]
