"""math semantics against Python's math module and exact rationals."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numeric_reference import (
    FLOAT_TYPES,
    FORMATS,
    NP_FLOAT,
    apply,
    floats,
    from_np,
    ints,
    np_float,
    round_fraction,
    same,
    to_format,
    to_np,
    ulps,
    wrap,
)

from avalon.ir.types import f32, f64, i1, i8, i16, i32, i64, vector

UNARY_REF = {
    "exp": math.exp, "exp2": math.exp2, "expm1": math.expm1, "log": math.log,
    "log2": math.log2, "log10": math.log10, "log1p": math.log1p, "tanh": math.tanh,
    "sqrt": math.sqrt, "rsqrt": lambda x: 1.0 / math.sqrt(x), "cbrt": math.cbrt,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "atan": math.atan,
    "sinh": math.sinh, "cosh": math.cosh, "asin": math.asin, "acos": math.acos,
    "erf": math.erf, "erfc": math.erfc,
}
BINARY_REF = {"powf": math.pow, "atan2": math.atan2}
# float64 results come from numpy's float64 functions; libm and numpy may differ by an ulp or
# two there (rsqrt's reference itself rounds twice). Narrower types are rounded once from
# float64, so they agree with the correctly rounded value to within one ulp.
F64_ULPS = 2


def reference(fn, *args: float) -> float | None:
    """``fn`` on Python floats, or None where Python raises instead of giving an IEEE value
    (those cases are covered by the special-value table)."""
    try:
        return fn(*args)
    except (ValueError, OverflowError, ZeroDivisionError):
        return None


def check_close(got, want: float, fmt: str) -> None:
    assert type(got) is NP_FLOAT[fmt]
    want = to_format(want, fmt)
    if math.isinf(want) or math.isnan(want) or want == 0:
        # Tiny results may round to zero or a subnormal either way; otherwise exact.
        if want == 0 and abs(float(got)) <= 2.0 ** (FORMATS[fmt][1] - FORMATS[fmt][0] + 1):
            return
        assert same(got, want), (got, want)
        return
    assert ulps(got, want, fmt) <= (F64_ULPS if fmt == "f64" else 1), (got, want)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", sorted(UNARY_REF))
@settings(max_examples=25)
@given(data=st.data())
def test_unary_functions_match_python(name, fmt, data):
    x = data.draw(floats(fmt))
    want = reference(UNARY_REF[name], x)
    t = FLOAT_TYPES[fmt]
    got = apply(f"math.{name}", [t], t, np_float(x, fmt))
    if want is not None:
        check_close(got, want, fmt)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", sorted(BINARY_REF))
@settings(max_examples=25)
@given(data=st.data())
def test_binary_functions_match_python(name, fmt, data):
    x, y = data.draw(floats(fmt)), data.draw(floats(fmt))
    want = reference(BINARY_REF[name], x, y)
    t = FLOAT_TYPES[fmt]
    got = apply(f"math.{name}", [t, t], t, np_float(x, fmt), np_float(y, fmt))
    if want is not None:
        check_close(got, want, fmt)


INF, NAN = math.inf, math.nan
SPECIAL = [
    ("exp", (-INF,), 0.0), ("exp", (INF,), INF), ("exp", (1000.0,), INF),
    ("exp2", (-INF,), 0.0), ("expm1", (-INF,), -1.0), ("expm1", (-0.0,), -0.0),
    ("log", (0.0,), -INF), ("log", (-0.0,), -INF), ("log", (-1.0,), NAN),
    ("log2", (0.0,), -INF), ("log10", (-2.0,), NAN), ("log1p", (-1.0,), -INF),
    ("log1p", (-2.0,), NAN), ("sqrt", (-0.0,), -0.0), ("sqrt", (-1.0,), NAN),
    ("rsqrt", (0.0,), INF), ("rsqrt", (-0.0,), -INF), ("rsqrt", (INF,), 0.0),
    ("rsqrt", (4.0,), 0.5), ("cbrt", (-8.0,), -2.0), ("tanh", (INF,), 1.0),
    ("tanh", (-INF,), -1.0), ("sin", (INF,), NAN), ("asin", (2.0,), NAN),
    ("sinh", (-1000.0,), -INF), ("cosh", (-1000.0,), INF),
    ("erf", (INF,), 1.0), ("erf", (-INF,), -1.0), ("erf", (-0.0,), -0.0),
    ("erfc", (INF,), 0.0), ("erfc", (-INF,), 2.0), ("erfc", (NAN,), NAN),
    ("powf", (0.0, -1.0), INF), ("powf", (-8.0, 1.0 / 3.0), NAN), ("powf", (NAN, 0.0), 1.0),
    ("powf", (-2.0, 3.0), -8.0), ("atan2", (0.0, -0.0), math.pi),
    ("atan2", (-0.0, -0.0), -math.pi), ("copysign", (1.0, -0.0), -1.0),
    ("copysign", (NAN, 1.0), NAN), ("absf", (-0.0,), 0.0), ("absf", (-INF,), INF),
    ("floor", (-0.5,), -1.0), ("floor", (-0.0,), -0.0), ("ceil", (-0.5,), -0.0),
    ("trunc", (-0.7,), -0.0), ("trunc", (INF,), INF), ("round", (-0.5,), -1.0),
    ("round", (2.5,), 3.0), ("round", (-0.3,), -0.0), ("round", (0.5 - 2.0 ** -25,), 0.0),
    ("roundeven", (2.5,), 2.0), ("roundeven", (-0.5,), -0.0), ("roundeven", (3.5,), 4.0),
]


@pytest.mark.parametrize("fmt", ["f32", "f64"])
@pytest.mark.parametrize(("name", "args", "want"), SPECIAL,
                         ids=[f"{n}{a}" for n, a, _ in SPECIAL])
def test_special_values(name, args, want, fmt):
    t = FLOAT_TYPES[fmt]
    x = [np_float(a, fmt) for a in args]
    got = apply(f"math.{name}", [t] * len(args), t, *x)
    assert same(got, to_format(want, fmt)), got


def exact_floor(x: float) -> float:
    return math.copysign(float(math.floor(x)), x)


def exact_round_half_away(x: float) -> float:
    return math.copysign(float(math.floor(abs(Fraction(x)) + Fraction(1, 2))), x)


EXACT_REF = {
    "absf": abs,
    "floor": exact_floor,
    "ceil": lambda x: math.copysign(float(math.ceil(x)), x),
    "trunc": lambda x: math.copysign(float(math.trunc(x)), x),
    "round": exact_round_half_away,
    "roundeven": lambda x: math.copysign(float(round(x)), x),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", sorted(EXACT_REF))
@settings(max_examples=30)
@given(data=st.data())
def test_exact_rounding_functions(name, fmt, data):
    x = data.draw(floats(fmt))
    t = FLOAT_TYPES[fmt]
    got = apply(f"math.{name}", [t], t, np_float(x, fmt))
    assert type(got) is NP_FLOAT[fmt]
    want = x if not math.isfinite(x) else EXACT_REF[name](x)
    assert same(got, abs(x) if name == "absf" else want), (x, got)


@pytest.mark.parametrize("fmt", list(FORMATS))
@settings(max_examples=25)
@given(data=st.data())
def test_copysign(fmt, data):
    x, y = data.draw(floats(fmt)), data.draw(floats(fmt))
    t = FLOAT_TYPES[fmt]
    got = apply("math.copysign", [t, t], t, np_float(x, fmt), np_float(y, fmt))
    assert same(got, math.copysign(x, y))


def exact_fma(a: float, b: float, c: float, fmt: str) -> float:
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if exact == 0:
        return a * b + c  # IEEE signs of an exact zero; a*b is exact when the sum is zero
    return round_fraction(exact, fmt)


@pytest.mark.parametrize("fmt", list(FORMATS))
@settings(max_examples=60)
@given(data=st.data())
def test_fma_rounds_once(fmt, data):
    a, b, c = (data.draw(floats(fmt)) for _ in range(3))
    t = FLOAT_TYPES[fmt]
    got = apply("math.fma", [t, t, t], t, *(np_float(v, fmt) for v in (a, b, c)))
    assert type(got) is NP_FLOAT[fmt]
    assert same(got, exact_fma(a, b, c, fmt)), (a, b, c, got)


@settings(max_examples=60)
@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(-1e12, 1e12))
def test_fma_f64_moderate_values(a, b, c):
    got = apply("math.fma", [f64] * 3, f64, a, b, c)
    assert same(got, exact_fma(a, b, c, "f64"))


@pytest.mark.parametrize(("a", "b", "c"), [
    (1 + 2.0 ** -27, 1 - 2.0 ** -27, -1.0),  # unfused gives 0, fused -2**-54
    (1 + 2.0 ** -52, 1 + 2.0 ** -52, -(1 + 2.0 ** -51)),
    (2.0 ** 600, 2.0 ** 424, -(2.0 ** 1023)),  # product overflows, result does not
    (2.0 ** 1000, 2.0 ** 100, -(2.0 ** 1023)),  # result overflows
    (2.0 ** -600, 2.0 ** -500, 2.0 ** -1074),  # product underflows below the subnormals
    (0.0, -1.0, -0.0),  # -0 + -0 stays -0
    (3.0, 5.0, -15.0),  # exact cancellation gives +0
])
def test_fma_f64_hard_cases(a, b, c):
    got = apply("math.fma", [f64] * 3, f64, a, b, c)
    assert same(got, exact_fma(a, b, c, "f64")), got


@pytest.mark.parametrize("t", [i1, i8, i16, i32, i64], ids=str)
@settings(max_examples=20)
@given(data=st.data())
def test_absi_wraps(t, data):
    a = data.draw(ints(t.width))
    got = apply("math.absi", [t], t, to_np(a, t))
    assert from_np(got, t) == wrap(abs(a), t.width)


VECTOR_OPS = sorted(UNARY_REF) + sorted(EXACT_REF)


@pytest.mark.parametrize("name", VECTOR_OPS)
@settings(max_examples=10)
@given(data=st.data())
def test_vectors_match_scalars_bit_for_bit(name, data):
    """The array path gives exactly what the scalar path gives, element by element."""
    fmt = data.draw(st.sampled_from(["f32", "f64", "bf16"]))
    xs = data.draw(st.lists(floats(fmt), min_size=1, max_size=6))
    t = FLOAT_TYPES[fmt]
    vt = vector([len(xs)], t)
    got = apply(f"math.{name}", [vt], vt, np.array(xs, NP_FLOAT[fmt]))
    assert got.dtype == NP_FLOAT[fmt]
    for x, g in zip(xs, got):
        assert same(g, apply(f"math.{name}", [t], t, np_float(x, fmt))), (x, g)


def test_fma_on_vectors_matches_scalars():
    vt = vector([4], f32)
    a = np.array([1 + 2.0 ** -12, 2, np.inf, -0.0], np.float32)
    b = np.array([1 - 2.0 ** -12, 3, 0, 1], np.float32)
    c = np.array([-1, 1, 1, -0.0], np.float32)
    got = apply("math.fma", [vt] * 3, vt, a, b, c)
    for i in range(4):
        assert same(got[i], apply("math.fma", [f32] * 3, f32, a[i], b[i], c[i]))
    assert got[0] == np.float32(-(2.0 ** -24))
