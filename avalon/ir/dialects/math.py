"""The ``math`` dialect: elementary functions on float (and, for ``absi``, integer) scalars and
vectors, with upstream MLIR's op names and text forms.

Folders compute in float64 and round once to the operand type, exactly as the reference
interpreter does, so folding never changes what a program computes. ``fma`` is fused (one
rounding of the exact ``a * b + c``).
"""

from __future__ import annotations

import math as _math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from avalon.ir.attributes import Attribute
from avalon.ir.core import Value
from avalon.ir.dialects.arith import (
    fold_elementwise,
    int_width,
    round_exact,
    round_float,
    to_signed,
)
from avalon.ir.opdef import FloatLike, IntegerLike, Op, Operand, Result, register_dialect
from avalon.ir.traits import Elementwise, Pure, SameOperandsAndResultType
from avalon.ir.types import FloatType, Type, element_type

DIALECT = register_dialect(
    "math",
    "Elementary mathematical functions (exponentials, logarithms, trigonometry, rounding, "
    "fused multiply-add) on float scalars and vectors.",
)

EXAMPLE = """\
func.func @gelu_tanh(%x: f32) -> f32 {
  %c = arith.constant 0.797884583 : f32
  %half = arith.constant 5.000000e-01 : f32
  %one = arith.constant 1.000000e+00 : f32
  %cx = arith.mulf %c, %x : f32
  %t = math.tanh %cx : f32
  %s = arith.addf %t, %one : f32
  %hx = arith.mulf %half, %x : f32
  %r = math.fma %hx, %s, %x : f32
  %p = math.powf %r, %half : f32
  return %p : f32
}
"""


def _rounded(value: Any, t: Type) -> float:
    """A float64 result rounded once to the element type of ``t``."""
    return round_float(float(value), element_type(t))


class UnaryFloatOp(Op):
    """Base of the one-operand float functions: ``%y = math.<fn> %x : f32``."""

    traits = (Pure, SameOperandsAndResultType, Elementwise)
    input = Operand(FloatLike)
    result = Result(FloatLike)
    assembly_format = "$input attr-dict `:` type($result)"

    @staticmethod
    def compute(x: np.float64) -> Any:
        """The function on a float64 scalar."""
        raise NotImplementedError

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        t = self.result.type
        fn = type(self).compute
        folded = fold_elementwise(operands, [t], t,
                                  lambda a: _rounded(fn(np.float64(a)), t))
        return None if folded is None else [folded]


class BinaryFloatOp(Op):
    """Base of the two-operand float functions: ``%z = math.<fn> %x, %y : f32``."""

    traits = (Pure, SameOperandsAndResultType, Elementwise)
    lhs = Operand(FloatLike)
    rhs = Operand(FloatLike)
    result = Result(FloatLike)
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"

    @staticmethod
    def compute(x: np.float64, y: np.float64) -> Any:
        raise NotImplementedError

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        t = self.result.type
        fn = type(self).compute
        folded = fold_elementwise(operands, [t, t], t,
                                  lambda a, b: _rounded(fn(np.float64(a), np.float64(b)), t))
        return None if folded is None else [folded]


def _unary(cls_name: str, op_name: str, fn: Callable[[np.float64], Any],
           doc: str) -> type[UnaryFloatOp]:
    """Define (and so register) the op class ``cls_name`` for ``math.<op_name>``."""
    return type(cls_name, (UnaryFloatOp,), {
        "__doc__": doc, "name": f"math.{op_name}", "compute": staticmethod(fn),
        "__module__": __name__,
    })


def _round_half_away(x: np.float64) -> np.float64:
    t = np.trunc(x)
    if abs(x - t) >= 0.5:
        t += np.copysign(1.0, x)
    return np.copysign(t, x)


ExpOp = _unary("ExpOp", "exp", np.exp, "Exponential ``e**x``.")
Exp2Op = _unary("Exp2Op", "exp2", np.exp2, "Base-2 exponential ``2**x``.")
ExpM1Op = _unary("ExpM1Op", "expm1", np.expm1, "``e**x - 1``, accurate for small ``x``.")
LogOp = _unary("LogOp", "log", np.log,
               "Natural logarithm (NaN for negative ``x``, -inf at zero).")
Log2Op = _unary("Log2Op", "log2", np.log2, "Base-2 logarithm.")
Log10Op = _unary("Log10Op", "log10", np.log10, "Base-10 logarithm.")
Log1pOp = _unary("Log1pOp", "log1p", np.log1p, "``log(1 + x)``, accurate for small ``x``.")
TanhOp = _unary("TanhOp", "tanh", np.tanh, "Hyperbolic tangent.")
SqrtOp = _unary("SqrtOp", "sqrt", np.sqrt, "Square root (NaN for negative ``x``).")
RsqrtOp = _unary("RsqrtOp", "rsqrt", lambda x: 1.0 / np.sqrt(x),
                 "Reciprocal square root ``1 / sqrt(x)``.")
CbrtOp = _unary("CbrtOp", "cbrt", np.cbrt, "Cube root (defined for negative ``x``).")
AbsFOp = _unary("AbsFOp", "absf", np.abs, "Float absolute value: clears the sign bit.")
ErfOp = _unary("ErfOp", "erf", lambda x: _math.erf(float(x)),
               "The error function ``2/sqrt(pi) * integral of exp(-t**2) from 0 to x``.")
ErfcOp = _unary("ErfcOp", "erfc", lambda x: _math.erfc(float(x)),
                "The complementary error function ``1 - erf(x)``, accurate for large ``x``.")
SinOp = _unary("SinOp", "sin", np.sin, "Sine of ``x`` radians.")
CosOp = _unary("CosOp", "cos", np.cos, "Cosine of ``x`` radians.")
TanOp = _unary("TanOp", "tan", np.tan, "Tangent of ``x`` radians.")
AtanOp = _unary("AtanOp", "atan", np.arctan, "Arc tangent, in ``[-pi/2, pi/2]``.")
SinhOp = _unary("SinhOp", "sinh", np.sinh, "Hyperbolic sine.")
CoshOp = _unary("CoshOp", "cosh", np.cosh, "Hyperbolic cosine.")
AsinOp = _unary("AsinOp", "asin", np.arcsin,
                "Arc sine, in ``[-pi/2, pi/2]`` (NaN outside ``[-1, 1]``).")
AcosOp = _unary("AcosOp", "acos", np.arccos,
                "Arc cosine, in ``[0, pi]`` (NaN outside ``[-1, 1]``).")
FloorOp = _unary("FloorOp", "floor", np.floor, "Round toward negative infinity.")
CeilOp = _unary("CeilOp", "ceil", np.ceil, "Round toward positive infinity.")
RoundOp = _unary("RoundOp", "round", _round_half_away,
                 "Round to the nearest integer, halfway cases away from zero (C's ``round``).")
RoundEvenOp = _unary("RoundEvenOp", "roundeven", np.rint,
                     "Round to the nearest integer, halfway cases to even.")
TruncOp = _unary("TruncOp", "trunc", np.trunc, "Round toward zero.")


class PowFOp(BinaryFloatOp):
    """``lhs`` raised to the power ``rhs`` (C's ``pow``: NaN for a negative base with a
    non-integer exponent)."""

    name = "math.powf"

    @staticmethod
    def compute(x: np.float64, y: np.float64) -> Any:
        return np.power(x, y)


class Atan2Op(BinaryFloatOp):
    """Arc tangent of ``lhs / rhs`` using both signs to pick the quadrant, in ``[-pi, pi]``."""

    name = "math.atan2"

    @staticmethod
    def compute(x: np.float64, y: np.float64) -> Any:
        return np.arctan2(x, y)


class CopySignOp(BinaryFloatOp):
    """The magnitude of ``lhs`` with the sign of ``rhs``."""

    name = "math.copysign"

    @staticmethod
    def compute(x: np.float64, y: np.float64) -> Any:
        return np.copysign(x, y)


def fused_multiply_add(a: float, b: float, c: float, t: FloatType) -> float:
    """``a * b + c`` rounded once to ``t`` (IEEE fusedMultiplyAdd)."""
    if not (_math.isfinite(a) and _math.isfinite(b)):
        return float(np.float64(a) * np.float64(b) + np.float64(c))
    if not _math.isfinite(c):
        return c
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if exact == 0:
        product_negative = (_math.copysign(1.0, a) < 0) != (_math.copysign(1.0, b) < 0)
        both_negative_zero = (a == 0 or b == 0) and c == 0 and product_negative and \
            _math.copysign(1.0, c) < 0
        return -0.0 if both_negative_zero else 0.0
    return round_exact(exact, t)


class FmaOp(Op):
    """Fused multiply-add ``a * b + c`` with a single rounding.

    ``%r = math.fma %a, %b, %c : f32``
    """

    name = "math.fma"
    traits = (Pure, SameOperandsAndResultType, Elementwise)
    a = Operand(FloatLike)
    b = Operand(FloatLike)
    c = Operand(FloatLike)
    result = Result(FloatLike)
    assembly_format = "$a `,` $b `,` $c attr-dict `:` type($result)"

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        t = self.result.type
        et = element_type(t)
        folded = fold_elementwise(
            operands, [t, t, t], t,
            lambda a, b, c: fused_multiply_add(float(a), float(b), float(c), et))
        return None if folded is None else [folded]


class AbsIOp(Op):
    """Integer absolute value in two's complement: the most negative value maps to itself.

    ``%r = math.absi %x : i32``
    """

    name = "math.absi"
    traits = (Pure, SameOperandsAndResultType, Elementwise)
    input = Operand(IntegerLike)
    result = Result(IntegerLike)
    assembly_format = "$input attr-dict `:` type($result)"

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        t = self.result.type
        w = int_width(t)
        folded = fold_elementwise(operands, [t], t, lambda a: abs(to_signed(a, w)))
        return None if folded is None else [folded]


__all__ = [
    "EXAMPLE",
    "AbsFOp",
    "AbsIOp",
    "AcosOp",
    "AsinOp",
    "Atan2Op",
    "AtanOp",
    "BinaryFloatOp",
    "CbrtOp",
    "CeilOp",
    "CopySignOp",
    "CosOp",
    "CoshOp",
    "ErfOp",
    "ErfcOp",
    "Exp2Op",
    "ExpM1Op",
    "ExpOp",
    "FloorOp",
    "FmaOp",
    "Log1pOp",
    "Log2Op",
    "Log10Op",
    "LogOp",
    "PowFOp",
    "RoundEvenOp",
    "RoundOp",
    "RsqrtOp",
    "SinOp",
    "SinhOp",
    "SqrtOp",
    "TanOp",
    "TanhOp",
    "TruncOp",
    "UnaryFloatOp",
    "fused_multiply_add",
]
