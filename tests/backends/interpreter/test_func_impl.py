"""func dialect semantics: calls with any number of arguments and results, recursion,
environments that survive calls, and located call errors."""

from __future__ import annotations

import numpy as np
import pytest

from avalon.backends.interpreter import Interpreter, InterpreterError, run
from avalon.backends.interpreter.registry import IMPLS
from avalon.ir.parser import parse_module

CALLS = """
func.func private @divmod(%a: i32, %b: i32) -> (i32, i32) {
  %q = arith.divsi %a, %b : i32
  %r = arith.remsi %a, %b : i32
  return %q, %r : i32, i32
}
func.func @twice_divmod(%a: i32, %b: i32) -> (i32, i32, i32) {
  %q, %r = func.call @divmod(%a, %b) : (i32, i32) -> (i32, i32)
  %q2, %r2 = func.call @divmod(%q, %b) : (i32, i32) -> (i32, i32)
  %s = arith.addi %r, %r2 : i32
  return %q2, %s, %a : i32, i32, i32
}
func.func private @nothing() {
  return
}
func.func @calls_nothing(%x: f64) -> f64 {
  %y = arith.mulf %x, %x : f64
  func.call @nothing() : () -> ()
  %z = arith.addf %y, %x : f64
  return %z : f64
}
func.func @is_even(%n: i64) -> i1 {
  %zero = arith.constant 0 : i64
  %done = arith.cmpi eq, %n, %zero : i64
  %r = loop.if %done -> (i1) {
    %t = arith.constant true
    loop.yield %t : i1
  } else {
    %one = arith.constant 1 : i64
    %m = arith.subi %n, %one : i64
    %o = func.call @is_odd(%m) : (i64) -> i1
    loop.yield %o : i1
  }
  return %r : i1
}
func.func @is_odd(%n: i64) -> i1 {
  %zero = arith.constant 0 : i64
  %done = arith.cmpi eq, %n, %zero : i64
  %r = loop.if %done -> (i1) {
    %f = arith.constant false
    loop.yield %f : i1
  } else {
    %one = arith.constant 1 : i64
    %m = arith.subi %n, %one : i64
    %e = func.call @is_even(%m) : (i64) -> i1
    loop.yield %e : i1
  }
  return %r : i1
}
func.func @fib(%n: i64) -> i64 {
  %two = arith.constant 2 : i64
  %small = arith.cmpi slt, %n, %two : i64
  %r = loop.if %small -> (i64) {
    loop.yield %n : i64
  } else {
    %one = arith.constant 1 : i64
    %a = arith.subi %n, %one : i64
    %b = arith.subi %n, %two : i64
    %fa = func.call @fib(%a) : (i64) -> i64
    %fb = func.call @fib(%b) : (i64) -> i64
    %s = arith.addi %fa, %fb : i64
    loop.yield %s : i64
  }
  return %r : i64
}
func.func @identity(%t: tensor<2xf32>) -> tensor<2xf32> {
  return %t : tensor<2xf32>
}
"""


def module():
    return parse_module(CALLS, "calls.mlir")


def test_calls_pass_and_return_several_values():
    got = run(module(), "twice_divmod", -17, 3)
    # -17 = 3 * -5 - 2; -5 = 3 * -1 - 2 (remainders take the dividend's sign)
    assert got == (np.int32(-1), np.int32(-4), np.int32(-17))
    assert all(type(v) is np.int32 for v in got)


def test_values_computed_before_a_call_survive_it():
    assert run(module(), "calls_nothing", 3.0) == 12.0


def test_mutual_recursion():
    interp = Interpreter(module())
    assert [bool(interp.invoke("is_even", n)) for n in range(6)] == [True, False] * 3
    assert bool(interp.invoke("is_odd", 31))


def test_doubly_recursive_calls():
    interp = Interpreter(module())
    assert [int(interp.invoke("fib", n)) for n in range(12)] == [
        0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]


def test_errors_inside_callees_are_located_in_the_callee():
    with pytest.raises(InterpreterError, match=r"calls\.mlir:3:8: error: 'arith\.divsi' op "
                                               "divides by zero"):
        run(module(), "twice_divmod", 1, 0)


def test_tensor_results_are_values_not_aliases():
    src = np.array([1.0, 2.0], np.float32)
    out = run(module(), "identity", src)
    out[0] = 9.0
    assert src[0] == 1.0


def test_call_to_unknown_function_is_located():
    m = parse_module("""
    func.func @f(%a: i64) -> i64 {
      %r = func.call @missing(%a) : (i64) -> i64
      return %r : i64
    }""", "bad.mlir", verify=False)
    with pytest.raises(InterpreterError, match=r"bad\.mlir:3:12.*calls unknown function "
                                               "'@missing'"):
        run(m, "f", 1)


def test_result_count_mismatch_is_located():
    m = parse_module("""
    func.func @g() -> (i64, i64) {
      %c = arith.constant 1 : i64
      return %c, %c : i64, i64
    }
    func.func @f() -> i64 {
      %r = func.call @g() : () -> i64
      return %r : i64
    }""", "bad.mlir", verify=False)
    with pytest.raises(InterpreterError, match=r"bad\.mlir:7:12.*expects 1 results, but '@g' "
                                               "returned 2"):
        run(m, "f")


def test_call_semantics_through_the_generic_registry_entry():
    m = module()
    interp = Interpreter(m)
    call = next(op for op in m.walk_ops() if op.name == "func.call")
    results = IMPLS["func.call"](interp, call, [np.int32(7), np.int32(2)])
    assert results == [np.int32(3), np.int32(1)]
