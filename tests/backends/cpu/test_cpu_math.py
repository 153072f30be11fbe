"""Native math ops against the interpreter: exact ops bit for bit, transcendental ones within
a few units in the last place of the interpreter's correctly rounded results."""

from __future__ import annotations

import numpy as np
import pytest
from _cpu_testlib import FLOAT_TYPES, call_both, same, scalar_fn, values_of
from hypothesis import given
from hypothesis import strategies as st

from avalon.backends.cpu import compile_module
from avalon.ir.parser import parse_module

UNARY = ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "tanh", "sqrt", "rsqrt",
         "cbrt", "absf", "erf", "erfc", "sin", "cos", "tan", "atan", "sinh", "cosh", "asin",
         "acos", "floor", "ceil", "round", "roundeven", "trunc")
BINARY = ("powf", "atan2", "copysign")
EXACT = {"absf", "floor", "ceil", "round", "roundeven", "trunc", "sqrt", "copysign", "fma"}
VECTOR_TYPES = ("vector<4xf32>", "vector<2xf64>")


def _tag(t: str) -> str:
    return t.replace("vector<", "v").replace(">", "").replace("x", "_")


def _functions() -> dict[str, tuple[str, list[str], str, str]]:
    fns = {}
    for t in (*FLOAT_TYPES, *VECTOR_TYPES):
        for op in UNARY:
            fns[f"{op}_{_tag(t)}"] = (f"math.{op}", [t], t, "")
        for op in BINARY:
            fns[f"{op}_{_tag(t)}"] = (f"math.{op}", [t, t], t, "")
        fns[f"fma_{_tag(t)}"] = ("math.fma", [t, t, t], t, "")
    for t in ("i1", "i8", "i32", "i64", "vector<4xi16>"):
        fns[f"absi_{_tag(t)}"] = ("math.absi", [t], t, "")
    return fns


FUNCTIONS = _functions()


@pytest.fixture(scope="module")
def math_module():
    text = "".join(scalar_fn(name, *spec) for name, spec in FUNCTIONS.items())
    module = parse_module(text)
    return module, compile_module(module)


def _grid_ulps(got: np.ndarray, ref: np.ndarray, type_name: str) -> np.ndarray:
    """Distance in units in the last place of ``type_name`` (bf16 values live in float32)."""
    if type_name == "bf16":
        def key(x: np.ndarray) -> np.ndarray:
            bits = x.astype(np.float32).view(np.int32).astype(np.int64) >> 16
            return np.where(bits < 0, -(bits & 0x7FFF), bits)
    else:
        utype = {2: np.int16, 4: np.int32, 8: np.int64}[got.dtype.itemsize]

        def key(x: np.ndarray) -> np.ndarray:
            bits = x.view(utype).astype(np.int64)
            mask = (1 << (x.dtype.itemsize * 8 - 1)) - 1
            return np.where(bits < 0, -(bits & mask), bits)
    return np.abs(key(got) - key(ref))


def _close(got, ref, type_name: str, ulps: int) -> bool:
    g, r = np.atleast_1d(np.asarray(got)), np.atleast_1d(np.asarray(ref))
    if g.dtype != r.dtype or g.shape != r.shape:
        return False
    nan_g, nan_r = np.isnan(g), np.isnan(r)
    if not np.array_equal(nan_g, nan_r):
        return False
    fin = ~nan_g
    return bool(np.all(_grid_ulps(g[fin], r[fin], type_name) <= ulps))


def _check(math_module, name: str, args: list) -> None:
    module, compiled = math_module
    got, ref = call_both(module, compiled, name, args)
    assert not isinstance(got, Exception), (name, args, got)
    assert not isinstance(ref, Exception), (name, args, ref)
    op, in_types, _, _ = FUNCTIONS[name]
    short = op.split(".")[1]
    if short in EXACT or short == "absi":
        assert same(got, ref), (name, args, got, ref)
        return
    elem = in_types[0].split("x")[-1].rstrip(">") if "vector" in in_types[0] else in_types[0]
    # libm's float and double functions are within a few ulps; f16/bf16 round a float
    # result once more, so they are within one ulp of their own grid.
    ulps = 1 if elem in ("f16", "bf16") else 4
    assert _close(got, ref, elem, ulps), (name, args, got, ref)


def _op_test(ops: tuple[str, ...]):
    names = [n for n in FUNCTIONS if n.split("_")[0] in ops]

    @given(data=st.data())
    def test(math_module, data) -> None:
        name = data.draw(st.sampled_from(names))
        args = data.draw(st.tuples(*(values_of(t) for t in FUNCTIONS[name][1])).map(list))
        _check(math_module, name, args)

    return test


test_exponentials_and_logs = _op_test(("exp", "exp2", "expm1", "log", "log2", "log10",
                                       "log1p", "powf"))
test_trigonometry = _op_test(("sin", "cos", "tan", "atan", "asin", "acos", "atan2", "sinh",
                              "cosh", "tanh"))
test_roots_and_special = _op_test(("sqrt", "rsqrt", "cbrt", "erf", "erfc"))
test_exact_ops = _op_test(("absf", "floor", "ceil", "round", "roundeven", "trunc", "copysign",
                           "fma", "absi"))


@pytest.mark.parametrize("t", FLOAT_TYPES)
def test_rounding_halfway_cases(math_module, t: str) -> None:
    dt = np.float16 if t == "f16" else np.float64 if t == "f64" else np.float32
    for x in (0.5, 1.5, 2.5, -0.5, -2.5, -0.0, 3.0):
        for op in ("round", "roundeven", "floor", "ceil", "trunc"):
            _check(math_module, f"{op}_{t}", [dt(x)])
    assert math_module[1].function(f"round_{t}")(dt(2.5)) == 3.0
    assert math_module[1].function(f"roundeven_{t}")(dt(2.5)) == 2.0


def test_fma_is_fused(math_module) -> None:
    """One rounding: (1 + 2^-30)(1 - 2^-30) - 1 is -2^-60 fused, 0 when rounded twice."""
    f = math_module[1].function("fma_f64")
    e = 2.0 ** -30
    assert f(1 + e, 1 - e, -1.0) == -(2.0 ** -60)
    _check(math_module, "fma_f64", [np.float64(1 + e), np.float64(1 - e), np.float64(-1.0)])


def test_absi_of_minimum_wraps(math_module) -> None:
    assert math_module[1].function("absi_i8")(np.int8(-128)) == -128
    _check(math_module, "absi_i8", [np.int8(-128)])
