"""Independent numeric references for the arith/math interpreter tests.

Everything here is plain Python integers, floats and exact rationals: correctly rounded
conversion of rationals into each float format, value generators with the edge cases
(extremes, NaN, infinities, -0.0, subnormals), and a harness that runs one op.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from avalon.backends.interpreter import Interpreter
from avalon.ir.core import Operation
from avalon.ir.dialects.builtin import module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.location import FileLineColLoc
from avalon.ir.types import FunctionType, Type, bf16, f16, f32, f64, i1, index
from avalon.ir.verifier import verify

OP_LOC = FileLineColLoc("ops.mlir", 3, 5)


@functools.cache
def interpreter(name: str, operand_types: tuple[Type, ...], result_type: Type,
                attrs: tuple = ()) -> Interpreter:
    """A verified module whose ``@f`` applies one op (located at OP_LOC) to its arguments."""
    fn = FuncOp.create("f", FunctionType(operand_types, (result_type,)))
    op = Operation.create(name, fn.body.args, [result_type], dict(attrs), location=OP_LOC)
    fn.body.append(op)
    fn.body.append(ReturnOp.build(values=[op.result]))
    m = module([fn])
    verify(m)
    return Interpreter(m, check_types=True)


def apply(name: str, operand_types, result_type: Type, *args, attrs: tuple = ()):
    """Run op ``name`` on ``args`` (checked against the types) and return its result."""
    return interpreter(name, tuple(operand_types), result_type, attrs).invoke("f", *args)


# ------------------------------------------------------------------------------ integers


def wrap(v: int, w: int) -> int:
    """Two's-complement value of the low ``w`` bits of ``v``."""
    v &= (1 << w) - 1
    return v - (1 << w) if v >> (w - 1) else v


def unsigned(v: int, w: int) -> int:
    return v & ((1 << w) - 1)


def ints(w: int) -> st.SearchStrategy[int]:
    """Signed values of width ``w`` (i1: 0 and -1), extremes drawn often."""
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    edges = sorted({x for x in (lo, lo + 1, -2, -1, 0, 1, 2, hi - 1, hi) if lo <= x <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def to_np(v: int, t: Type):
    """The runtime scalar of signed value ``v`` at integer type ``t``."""
    if t == i1:
        return np.bool_(v & 1)
    width = 64 if t == index else t.width
    return np.array(v).astype({8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}[width])[()]


def from_np(x, t: Type) -> int:
    """Signed Python value of a runtime integer (i1 true is -1)."""
    return -int(x) if t == i1 else int(x)


# -------------------------------------------------------------------------------- floats

FORMATS = {"f16": (11, -14, 15), "bf16": (8, -126, 127), "f32": (24, -126, 127),
           "f64": (53, -1022, 1023)}
FLOAT_TYPES = {"f16": f16, "bf16": bf16, "f32": f32, "f64": f64}
NP_FLOAT = {"f16": np.float16, "bf16": np.float32, "f32": np.float32, "f64": np.float64}


def round_fraction(x: Fraction, fmt: str, zero_sign: float = 1.0) -> float:
    """Correctly round (to nearest, ties to even) an exact rational into format ``fmt``."""
    p, emin, emax = FORMATS[fmt]
    if x == 0:
        return math.copysign(0.0, zero_sign)
    m = abs(x)
    e = m.numerator.bit_length() - m.denominator.bit_length()
    if Fraction(2) ** e > m:
        e -= 1
    if Fraction(2) ** (e + 1) <= m:
        e += 1
    quantum = Fraction(2) ** (max(e, emin) - p + 1)
    r = round(m / quantum) * quantum
    sign = -1.0 if x < 0 else 1.0
    if r > (2 - Fraction(2) ** (1 - p)) * Fraction(2) ** emax:
        return sign * math.inf
    return math.copysign(float(r), sign)


def to_format(v: float, fmt: str) -> float:
    """A Python float rounded into format ``fmt`` (NaN and infinities kept)."""
    if not math.isfinite(v) or fmt == "f64":
        return v
    return round_fraction(Fraction(v), fmt, v)


def floats(fmt: str) -> st.SearchStrategy[float]:
    """Values of format ``fmt`` including NaN, infinities, -0.0 and subnormals."""
    if fmt == "bf16":
        return st.integers(0, 0xFFFF).map(
            lambda bits: float(np.uint32(bits << 16).view(np.float32)))
    width = {"f16": 16, "f32": 32, "f64": 64}[fmt]
    p, emin, emax = FORMATS[fmt]
    specials = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -1.0, 2.0 ** emin,
                2.0 ** (emin - p + 1), (2 - 2.0 ** (1 - p)) * 2.0 ** emax]
    return st.one_of(st.sampled_from(specials), st.floats(width=width))


def np_float(v: float, fmt: str):
    return NP_FLOAT[fmt](v)


def same(got: float, want: float) -> bool:
    """Equal as IEEE values, distinguishing -0.0 and treating all NaNs as equal."""
    got, want = float(got), float(want)
    if math.isnan(want):
        return math.isnan(got)
    return got == want and math.copysign(1.0, got) == math.copysign(1.0, want)


def ulps(got: float, want: float, fmt: str) -> float:
    """Distance in units in the last place of format ``fmt`` (0 for equal or both NaN)."""
    got, want = float(got), float(want)
    if math.isnan(got) or math.isnan(want):
        return 0 if math.isnan(got) and math.isnan(want) else math.inf
    if got == want:
        return 0
    if math.isinf(got) or math.isinf(want):
        return math.inf
    p, emin, _ = FORMATS[fmt]
    e = max(math.frexp(max(abs(got), abs(want)))[1] - 1, emin)
    return abs(Fraction(got) - Fraction(want)) / Fraction(2) ** (e - p + 1)
