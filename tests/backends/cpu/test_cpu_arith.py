"""Native arith ops equal the interpreter bit for bit, on hypothesis-drawn values including
wrap-around extremes, NaN, infinities and signed zeros, as scalars and as vectors."""

from __future__ import annotations

import numpy as np
import pytest
from _cpu_testlib import FLOAT_TYPES, INT_TYPES, call_both, same, scalar_fn, values_of
from hypothesis import given
from hypothesis import strategies as st

from avalon.backends.cpu import NativeZeroDivisionError, compile_module
from avalon.backends.interpreter import InterpreterError
from avalon.ir.parser import parse_module

INT_BINARY = ("addi", "subi", "muli", "divsi", "divui", "remsi", "remui", "ceildivsi",
              "floordivsi", "andi", "ori", "xori", "shli", "shrsi", "shrui", "maxsi", "minsi",
              "maxui", "minui")
FLOAT_BINARY = ("addf", "subf", "mulf", "divf", "remf", "maximumf", "minimumf", "maxnumf",
                "minnumf")
WIDTH = {"i1": 1, "i8": 8, "i16": 16, "i32": 32, "i64": 64, "index": 64, "f16": 16, "bf16": 16,
         "f32": 32, "f64": 64}
VECTOR_INT = ("vector<4xi8>", "vector<8xi32>", "vector<2xi64>", "vector<4xi1>")
VECTOR_FLOAT = ("vector<4xf32>", "vector<2xf64>", "vector<8xf16>")


def _tag(t: str) -> str:
    return t.replace("vector<", "v").replace(">", "").replace("x", "_")


def _functions() -> dict[str, tuple[str, list[str], str, str]]:
    """name -> (op, operand types, result type, attributes)."""
    fns: dict[str, tuple[str, list[str], str, str]] = {}
    for op in INT_BINARY:
        for t in (*INT_TYPES, *VECTOR_INT):
            fns[f"{op}_{_tag(t)}"] = (f"arith.{op}", [t, t], t, "")
    for op in FLOAT_BINARY:
        for t in (*FLOAT_TYPES, *VECTOR_FLOAT):
            fns[f"{op}_{_tag(t)}"] = (f"arith.{op}", [t, t], t, "")
    for t in (*FLOAT_TYPES, *VECTOR_FLOAT):
        fns[f"negf_{_tag(t)}"] = ("arith.negf", [t], t, "")
    for p in range(10):
        for t in (*INT_TYPES, "vector<4xi8>"):
            rt = "vector<4xi1>" if t.startswith("vector") else "i1"
            fns[f"cmpi{p}_{_tag(t)}"] = ("arith.cmpi", [t, t], rt, f"predicate = {p} : i64")
    for p in range(16):
        for t in (*FLOAT_TYPES, "vector<4xf32>"):
            rt = "vector<4xi1>" if t.startswith("vector") else "i1"
            fns[f"cmpf{p}_{_tag(t)}"] = ("arith.cmpf", [t, t], rt, f"predicate = {p} : i64")
    for t in ("i8", "f32", "bf16", "i64"):
        fns[f"select_{t}"] = ("arith.select", ["i1", t, t], t, "")
    fns["select_vector"] = ("arith.select", ["vector<4xi1>", "vector<4xf32>", "vector<4xf32>"],
                            "vector<4xf32>", "")
    for s in INT_TYPES:
        for d in INT_TYPES:
            if "index" in (s, d):
                if s != d:
                    fns[f"index_cast_{s}_{d}"] = ("arith.index_cast", [s], d, "")
                    fns[f"index_castui_{s}_{d}"] = ("arith.index_castui", [s], d, "")
            elif WIDTH[s] < WIDTH[d]:
                fns[f"extsi_{s}_{d}"] = ("arith.extsi", [s], d, "")
                fns[f"extui_{s}_{d}"] = ("arith.extui", [s], d, "")
            elif WIDTH[s] > WIDTH[d]:
                fns[f"trunci_{s}_{d}"] = ("arith.trunci", [s], d, "")
    for s in ("i1", "i8", "i16", "i32", "i64"):
        for d in FLOAT_TYPES:
            for op in ("sitofp", "uitofp"):
                fns[f"{op}_{s}_{d}"] = (f"arith.{op}", [s], d, "")
            for op in ("fptosi", "fptoui"):
                fns[f"{op}_{d}_{s}"] = (f"arith.{op}", [d], s, "")
    for s in FLOAT_TYPES:
        for d in FLOAT_TYPES:
            if WIDTH[s] < WIDTH[d]:
                fns[f"extf_{s}_{d}"] = ("arith.extf", [s], d, "")
            elif WIDTH[s] > WIDTH[d]:
                fns[f"truncf_{s}_{d}"] = ("arith.truncf", [s], d, "")
    for a, b in (("f32", "i32"), ("i32", "f32"), ("f64", "i64"), ("i64", "f64"),
                 ("f16", "i16"), ("bf16", "i16"), ("i16", "bf16")):
        fns[f"bitcast_{a}_{b}"] = ("arith.bitcast", [a], b, "")
    return fns


FUNCTIONS = _functions()
CONSTANTS = """
func.func @constants() -> (i1, i8, i64, index, f16, bf16, f32, f64, f32, f64, vector<4xf32>,
                           vector<4xi1>, vector<3xi16>) {
  %0 = arith.constant true
  %1 = arith.constant -128 : i8
  %2 = arith.constant 9223372036854775807 : i64
  %3 = arith.constant -7 : index
  %4 = arith.constant 65504.0 : f16
  %5 = arith.constant 3.140625 : bf16
  %6 = arith.constant 0x7FC00000 : f32
  %7 = arith.constant -0.0 : f64
  %8 = arith.constant 0x7F800000 : f32
  %9 = arith.constant 1.0e-310 : f64
  %10 = arith.constant dense<[1.5, -0.0, 0x7F800000, 2.0]> : vector<4xf32>
  %11 = arith.constant dense<[true, false, false, true]> : vector<4xi1>
  %12 = arith.constant dense<-3> : vector<3xi16>
  func.return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12
    : i1, i8, i64, index, f16, bf16, f32, f64, f32, f64, vector<4xf32>, vector<4xi1>,
      vector<3xi16>
}
"""


@pytest.fixture(scope="module")
def arith():
    text = "".join(scalar_fn(name, *spec) for name, spec in FUNCTIONS.items()) + CONSTANTS
    module = parse_module(text)
    return module, compile_module(module)


def _check(arith, name: str, args: list) -> None:
    module, compiled = arith
    got, ref = call_both(module, compiled, name, args)
    if isinstance(ref, InterpreterError):
        assert "divides by zero" in str(ref)
        assert isinstance(got, NativeZeroDivisionError), (name, args, got)
        assert "divides by zero" in str(got)
        return
    assert not isinstance(got, Exception), (name, args, got)
    assert not isinstance(ref, Exception), (name, args, ref)
    if isinstance(ref, tuple):
        assert all(same(g, r) for g, r in zip(got, ref, strict=True)), (name, args, got, ref)
    else:
        assert same(got, ref), (name, args, got, ref)


def _names(prefixes: tuple[str, ...]) -> list[str]:
    return [n for n in FUNCTIONS if n.split("_")[0] in prefixes
            or any(n.startswith(p + "_") for p in prefixes)]


def _args_strategy(name: str):
    _, in_types, _, _ = FUNCTIONS[name]
    return st.tuples(*(values_of(t) for t in in_types)).map(list)


def _op_test(prefixes: tuple[str, ...]):
    names = _names(prefixes)
    assert names, prefixes

    @given(data=st.data())
    def test(arith, data) -> None:
        name = data.draw(st.sampled_from(names))
        _check(arith, name, data.draw(_args_strategy(name)))

    return test


test_int_wrapping = _op_test(("addi", "subi", "muli", "andi", "ori", "xori"))
test_int_division = _op_test(("divsi", "divui", "remsi", "remui", "ceildivsi", "floordivsi"))
test_shifts = _op_test(("shli", "shrsi", "shrui"))
test_int_min_max = _op_test(("maxsi", "minsi", "maxui", "minui"))
test_float_arithmetic = _op_test(("addf", "subf", "mulf", "divf", "remf", "negf"))
test_float_min_max = _op_test(("maximumf", "minimumf", "maxnumf", "minnumf"))
test_cmpi = _op_test(tuple(f"cmpi{p}" for p in range(10)))
test_cmpf = _op_test(tuple(f"cmpf{p}" for p in range(16)))
test_select = _op_test(("select",))
test_int_casts = _op_test(("extsi", "extui", "trunci", "index_cast", "index_castui"))
test_int_float_casts = _op_test(("sitofp", "uitofp", "fptosi", "fptoui"))
test_float_casts = _op_test(("extf", "truncf", "bitcast"))


@pytest.mark.parametrize("op", ["divsi", "divui", "remsi", "remui", "ceildivsi", "floordivsi"])
@pytest.mark.parametrize("t", ["i8", "i64", "vector<4xi8>"])
def test_division_extremes(arith, op: str, t: str) -> None:
    """MIN / -1 wraps, MIN % -1 is 0, x / 0 raises: all exactly as the interpreter."""
    if t.startswith("vector"):
        a = np.array([-128, 127, -7, 7], dtype=np.int8)
        for b in (np.full(4, -1, np.int8), np.array([3, -3, 2, -2], np.int8),
                  np.array([1, 2, 0, 4], np.int8)):
            _check(arith, f"{op}_{_tag(t)}", [a, b])
        return
    dt = np.int8 if t == "i8" else np.int64
    lo = np.iinfo(dt).min
    for a, b in ((lo, -1), (lo, 1), (-7, 2), (7, -2), (-7, -2), (5, 0), (0, 0), (lo, lo)):
        _check(arith, f"{op}_{t}", [dt(a), dt(b)])


@pytest.mark.parametrize("t", ["i8", "i32", "i64"])
def test_oversized_shifts(arith, t: str) -> None:
    dt = {"i8": np.int8, "i32": np.int32, "i64": np.int64}[t]
    width = np.iinfo(dt).bits
    for op in ("shli", "shrsi", "shrui"):
        for a in (dt(-5), dt(5), np.iinfo(dt).min):
            for n in (0, 1, width - 1, width, width + 1, -1):
                _check(arith, f"{op}_{t}", [a, dt(n)])


def test_fptosi_saturates_and_nan_is_zero(arith) -> None:
    compiled = arith[1]
    f = compiled.function("fptosi_f32_i8")
    assert f(np.float32(1e9)) == 127
    assert f(np.float32(-1e9)) == -128
    assert f(np.float32("nan")) == 0
    assert compiled.function("fptoui_f64_i32")(-3.5) == 0
    for x in (1e9, -1e9, float("nan"), -3.5, 200.7):
        _check(arith, "fptosi_f32_i8", [np.float32(x)])
        _check(arith, "fptoui_f64_i32", [np.float64(x)])


def test_constants(arith) -> None:
    compiled = arith[1]
    _check(arith, "constants", [])
    got = compiled.function("constants")()
    assert got[1] == -128 and got[2] == np.iinfo(np.int64).max and got[3] == -7
    assert np.isnan(got[6]) and np.signbit(got[7]) and got[8] == np.inf
    assert got[9] == 1.0e-310  # a subnormal survives
    assert got[5] == np.float32(3.140625)
    assert list(got[12]) == [-3, -3, -3]
