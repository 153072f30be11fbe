"""The math dialect: construction, verification, folding against numpy, text forms."""

from __future__ import annotations

import math
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import avalon.ir.dialects  # noqa: F401  (registers the dialects)
from avalon.ir.attributes import DenseElementsAttr, FloatAttr, IntegerAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects import func
from avalon.ir.dialects import math as m
from avalon.ir.dialects.builtin import module
from avalon.ir.location import FileLineColLoc
from avalon.ir.opdef import DIALECTS
from avalon.ir.parser import parse_module
from avalon.ir.printer import print_op
from avalon.ir.types import FunctionType, Type, bf16, f16, f32, f64, i8, i32, i64, vector
from avalon.ir.verifier import verify

MLIR_OPT = Path("/usr/lib/llvm-22/bin/mlir-opt")
LOC = FileLineColLoc("m.mlir", 2, 5)
FLOATS = [(f16, np.float16, 16), (f32, np.float32, 32), (f64, np.float64, 64)]


def _fraction_round(x: float) -> float:
    """C ``round``: halfway cases away from zero, computed exactly."""
    if not math.isfinite(x):
        return x
    q = abs(Fraction(x))
    r = math.floor(q + Fraction(1, 2))
    return math.copysign(float(r), x)


# numpy (or Python math) reference of every float op, evaluated on float64.
UNARY_REFS = {
    "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
    "log10": np.log10, "log1p": np.log1p, "tanh": np.tanh, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x), "cbrt": np.cbrt, "absf": np.abs,
    "erf": lambda x: math.erf(x), "erfc": lambda x: math.erfc(x), "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
    "asin": np.arcsin, "acos": np.arccos, "floor": np.floor, "ceil": np.ceil,
    "round": _fraction_round, "roundeven": np.round, "trunc": np.trunc,
}
EXACT = {"absf", "floor", "ceil", "round", "roundeven", "trunc", "sqrt"}
BINARY_REFS = {"powf": np.power, "atan2": np.arctan2, "copysign": np.copysign}


def same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def fold(cls, attrs, types):
    op = cls.build(*Block(types).args)
    return op.fold(list(attrs))


def verify_error(mod: Operation) -> DiagnosticError:
    with pytest.raises(DiagnosticError) as info:
        verify(mod)
    return info.value


def op_class(name: str):
    return DIALECTS["math"].ops[f"math.{name}"]


# ------------------------------------------------------------------------- construction


def test_every_math_op_builds_and_verifies():
    fn = func.FuncOp.create("f", FunctionType((f32, vector([4], f64), i32), (f32,)))
    b = Builder.at_end(fn.entry_block)
    x, v, n = fn.arguments
    for name in UNARY_REFS:
        assert b.create(op_class(name), x).result.type == f32
        assert b.create(op_class(name), v).result.type == vector([4], f64)
    for name in BINARY_REFS:
        b.create(op_class(name), x, x)
    b.create(m.FmaOp, x, x, x)
    assert b.create(m.AbsIOp, n).result.type == i32
    b.create(func.ReturnOp, values=[x])
    verify(module([fn]))
    used = {op.name for op in fn.entry_block.ops}
    assert set(DIALECTS["math"].ops) <= used


def test_every_op_is_pure_elementwise_and_documented():
    for cls in DIALECTS["math"].ops.values():
        names = {type(t).__name__ for t in cls.traits}
        assert {"Pure", "Elementwise", "SameOperandsAndResultType"} <= names, cls.name
        assert (cls.__doc__ or "").strip(), cls.name


@pytest.mark.parametrize(("build", "message"), [
    (lambda a: m.AbsIOp([a["x"]], [f32], location=LOC),
     "'math.absi' op operand #0 ('input') must be signless integer or index or vector of "
     "signless integer or index, but got 'f32'"),
    (lambda a: m.ExpOp([a["n"]], [i32], location=LOC),
     "'math.exp' op operand #0 ('input') must be floating-point or vector of floating-point, "
     "but got 'i32'"),
    (lambda a: m.PowFOp([a["x"], a["d"]], [f32], location=LOC),
     "'math.powf' op requires the same type for all operands and results, got 'f32', 'f64', "
     "'f32'"),
    (lambda a: m.FmaOp([a["x"], a["x"]], [f32], location=LOC),
     "'math.fma' op expected 3 operands, but found 2"),
])
def test_verifier_rejects_bad_ops(build, message):
    fn = func.FuncOp.create("f", FunctionType((f32, i32, f64), ()))
    x, n, d = fn.arguments
    fn.entry_block.append(build({"x": x, "n": n, "d": d}))
    fn.entry_block.append(func.ReturnOp.build())
    err = verify_error(module([fn]))
    assert err.diagnostic.message == message
    assert err.diagnostic.location == LOC


# ------------------------------------------------------------------------------- folding


def _check_against_numpy(name: str, t: Type, dt, result: float, x: float) -> None:
    """Folding computes in float64 and rounds once; for f32/f16 this is within one ulp of
    numpy evaluated in the type itself (and identical for exactly rounded functions)."""
    with np.errstate(all="ignore"):
        via_f64 = float(dt(UNARY_REFS[name](np.float64(x))))
        assert same_float(result, via_f64), (name, t, x, result, via_f64)
        if name in ("erf", "erfc", "round"):
            return
        native = dt(UNARY_REFS[name](dt(x)))
    if name in EXACT or dt is np.float64:
        assert same_float(result, float(native))
    elif math.isfinite(native) and math.isfinite(result):
        assert abs(result - float(native)) <= float(np.spacing(np.abs(native))), (name, x)
    else:
        assert same_float(result, float(native)) or math.isnan(float(native))


@pytest.mark.parametrize("name", list(UNARY_REFS))
@given(data=st.data())
def test_unary_fold_matches_numpy(name, data):
    t, dt, width = data.draw(st.sampled_from(FLOATS))
    x = float(dt(data.draw(st.floats(width=width))))
    res = fold(op_class(name), [FloatAttr(x, t)], [t])
    assert isinstance(res[0], FloatAttr) and res[0].type == t
    _check_against_numpy(name, t, dt, res[0].value, x)


@pytest.mark.parametrize("name", list(BINARY_REFS))
@given(data=st.data())
def test_binary_fold_matches_numpy(name, data):
    t, dt, width = data.draw(st.sampled_from(FLOATS))
    x = float(dt(data.draw(st.floats(width=width))))
    y = float(dt(data.draw(st.floats(width=width))))
    res = fold(op_class(name), [FloatAttr(x, t), FloatAttr(y, t)], [t, t])
    with np.errstate(all="ignore"):
        ref = float(dt(BINARY_REFS[name](np.float64(x), np.float64(y))))
    assert same_float(res[0].value, ref), (name, x, y)


def test_vector_and_bf16_folds():
    t = vector([3], f32)
    arr = np.array([0.0, 1.0, -2.0], np.float32)
    res = fold(m.ExpOp, [DenseElementsAttr(arr, t)], [t])[0]
    np.testing.assert_array_equal(res.array, np.exp(arr.astype(np.float64)).astype(np.float32))
    r = fold(m.SqrtOp, [FloatAttr(2.0, bf16)], [bf16])[0]
    assert r.type == bf16 and r.value == FloatAttr(math.sqrt(2.0), bf16).value


def _is_nearest_even(result: float, exact: Fraction, dt) -> bool:
    """``result`` is the correctly rounded (ties to even) value of ``exact`` in ``dt``."""
    r = dt(result)
    with np.errstate(over="ignore"):  # the neighbour of the largest finite value is inf
        below, above = np.nextafter(r, dt(-np.inf)), np.nextafter(r, dt(np.inf))
    err = abs(Fraction(float(r)) - exact)
    for other in (below, above):
        if not np.isfinite(other):
            continue
        e = abs(Fraction(float(other)) - exact)
        if e < err:
            return False
        if e == err and int(np.array([r]).view(f"u{r.itemsize}")[0]) & 1:
            return False  # a tie must go to the even neighbour
    return True


@given(data=st.data())
def test_fma_is_fused_single_rounding(data):
    t, dt, width = data.draw(st.sampled_from(FLOATS))
    xs = [float(dt(data.draw(st.floats(width=width, allow_nan=False, allow_infinity=False))))
          for _ in range(3)]
    res = fold(m.FmaOp, [FloatAttr(v, t) for v in xs], [t, t, t])[0].value
    exact = Fraction(xs[0]) * Fraction(xs[1]) + Fraction(xs[2])
    if not math.isfinite(res):
        assert abs(exact) > Fraction(float(np.finfo(dt).max))
        return
    assert _is_nearest_even(res, exact, dt), (xs, res)


def test_fma_special_cases():
    def fma(a, b, c, t=f32):
        return fold(m.FmaOp, [FloatAttr(a, t), FloatAttr(b, t), FloatAttr(c, t)],
                    [t, t, t])[0].value

    assert same_float(fma(-0.0, 1.0, -0.0), -0.0)
    assert same_float(fma(0.0, -1.0, 0.0), 0.0)
    assert same_float(fma(2.0, 3.0, -6.0), 0.0)
    assert math.isnan(fma(math.inf, 0.0, 1.0))
    assert fma(1.0, 2.0, -math.inf) == -math.inf
    assert math.isnan(fma(math.inf, 1.0, -math.inf))
    # a*b+c where double rounding (product, then sum) would differ from one rounding.
    a = 1.0 + 2.0 ** -23
    assert fma(a, a, -1.0) == float(np.float32(2.0 ** -22 + 2.0 ** -46))


@given(data=st.data())
def test_absi_wraps_like_numpy(data):
    t, dt = data.draw(st.sampled_from([(i8, np.int8), (i32, np.int32), (i64, np.int64)]))
    info = np.iinfo(dt)
    x = data.draw(st.integers(int(info.min), int(info.max)))
    res = fold(m.AbsIOp, [IntegerAttr(x, t)], [t])[0]
    with np.errstate(all="ignore"):
        assert res == IntegerAttr(int(np.abs(np.array([x], dt))[0]), t)


def test_round_and_roundeven_halfway_cases():
    for x, away, even in ((0.5, 1.0, 0.0), (-2.5, -3.0, -2.0), (1.5, 2.0, 2.0),
                          (0.49999999999999994, 0.0, 0.0), (-0.2, -0.0, -0.0)):
        assert same_float(fold(m.RoundOp, [FloatAttr(x, f64)], [f64])[0].value, away)
        assert same_float(fold(m.RoundEvenOp, [FloatAttr(x, f64)], [f64])[0].value, even)


def test_non_constant_operands_do_not_fold():
    (x,) = Block([f32]).args
    assert m.ExpOp.build(x).fold([None]) is None
    assert m.FmaOp.build(x, x, x).fold([FloatAttr(1.0, f32), None, None]) is None


# --------------------------------------------------------------------------------- text

MATH_TEXT = """\
module {
  func.func @all(%arg0: f32, %arg1: vector<4xf64>, %arg2: i32) -> f32 {
    %0 = math.exp %arg0 : f32
    %1 = math.exp2 %arg0 : f32
    %2 = math.expm1 %arg0 : f32
    %3 = math.log %arg0 : f32
    %4 = math.log2 %arg0 : f32
    %5 = math.log10 %arg0 : f32
    %6 = math.log1p %arg0 : f32
    %7 = math.tanh %arg1 : vector<4xf64>
    %8 = math.sqrt %arg0 : f32
    %9 = math.rsqrt %arg0 : f32
    %10 = math.cbrt %arg0 : f32
    %11 = math.absf %arg0 : f32
    %12 = math.erf %arg0 : f32
    %13 = math.erfc %arg0 : f32
    %14 = math.sin %arg0 : f32
    %15 = math.cos %arg0 : f32
    %16 = math.tan %arg0 : f32
    %17 = math.atan %arg0 : f32
    %18 = math.sinh %arg0 : f32
    %19 = math.cosh %arg0 : f32
    %20 = math.asin %arg0 : f32
    %21 = math.acos %arg0 : f32
    %22 = math.floor %arg0 : f32
    %23 = math.ceil %arg0 : f32
    %24 = math.round %arg0 : f32
    %25 = math.roundeven %arg0 : f32
    %26 = math.trunc %arg0 {tag} : f32
    %27 = math.powf %arg0, %0 : f32
    %28 = math.atan2 %arg0, %0 : f32
    %29 = math.copysign %arg1, %arg1 : vector<4xf64>
    %30 = math.fma %arg0, %0, %1 : f32
    %31 = math.absi %arg2 : i32
    return %30 : f32
  }
}"""


def test_custom_form_round_trips():
    mod = parse_module(MATH_TEXT, "math.mlir")
    assert print_op(mod) == MATH_TEXT
    assert set(DIALECTS["math"].ops) <= {op.name for op in mod.walk_ops()}


def test_generic_form_round_trips():
    mod = parse_module(MATH_TEXT, "math.mlir")
    generic = print_op(mod, generic=True)
    assert '"math.fma"(%arg0, %0, %1) : (f32, f32, f32) -> f32' in generic
    again = parse_module(generic, "generic.mlir")
    assert print_op(again) == MATH_TEXT
    assert print_op(again, generic=True) == generic


@pytest.mark.skipif(not MLIR_OPT.exists(), reason="mlir-opt is not installed")
@pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
def test_upstream_mlir_accepts_our_text(generic, tmp_path):
    mod = parse_module(MATH_TEXT, "math.mlir")
    path = tmp_path / "math.mlir"
    path.write_text(print_op(mod, generic=generic))
    proc = subprocess.run([str(MLIR_OPT), "--allow-unregistered-dialect", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_malformed_math_text_is_located():
    text = "func.func @f(%a: f32) {\n  %0 = math.powf %a : f32\n  return\n}\n"
    with pytest.raises(DiagnosticError) as info:
        parse_module(text, "bad.mlir")
    assert info.value.diagnostic.location.file_line_col().line == 2


def test_i8_absi_most_negative_is_itself():
    assert fold(m.AbsIOp, [IntegerAttr(-128, i8)], [i8])[0] == IntegerAttr(-128, i8)
    assert fold(m.AbsIOp, [IntegerAttr(-5, i64)], [i64])[0] == IntegerAttr(5, i64)


@given(data=st.data())
def test_folds_agree_with_the_reference_interpreter(data):
    """Folding must not change what a program computes (canonicalize relies on it)."""
    from avalon.backends.interpreter import run

    cls = data.draw(st.sampled_from([c for c in DIALECTS["math"].ops.values()
                                     if c is not m.AbsIOp]))
    t, dt, width = data.draw(st.sampled_from(FLOATS))
    n = len(cls._operand_defs)
    xs = [float(dt(data.draw(st.floats(width=width)))) for _ in range(n)]
    fn = func.FuncOp.create("f", FunctionType((t,) * n, (t,)))
    b = Builder.at_end(fn.entry_block)
    op = b.create(cls, *fn.arguments)
    b.create(func.ReturnOp, values=[op.result])
    out = run(module([fn]), "f", *[dt(x) for x in xs])
    out = out[0] if isinstance(out, list | tuple) else out
    folded = op.fold([FloatAttr(x, t) for x in xs])
    assert same_float(folded[0].value, float(out)), (cls.name, xs)
