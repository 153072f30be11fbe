"""The executor: control flow, calls, recursion guards, argument checks and located errors."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from avalon.backends.interpreter import (
    ArgumentError,
    BranchTo,
    Interpreter,
    InterpreterError,
    executor,
    impl,
    run,
    specialized_impl,
)
from avalon.backends.interpreter.registry import IMPLS, interp_error
from avalon.ir.opdef import (
    Attr,
    Bool,
    I64Attr,
    Op,
    Operand,
    Result,
    SingleRegion,
    Successor,
    VarOperand,
    VarResult,
)
from avalon.ir.parser import parse_module
from avalon.ir.traits import Terminator

# --------------------------------------------------------------------- test-only ops


class BrOp(Op):
    """Unconditional branch: every operand goes to the successor (no semantics needed)."""

    name = "interp_test.br"
    traits = (Terminator,)
    args = VarOperand()
    dest = Successor()


class CondBrOp(Op):
    """Two-way branch; the first ``split`` args go to ``yes``, the rest to ``no``."""

    name = "interp_test.cond_br"
    traits = (Terminator,)
    cond = Operand(Bool)
    args = VarOperand()
    split = Attr(I64Attr)
    yes = Successor()
    no = Successor()


@impl("interp_test.cond_br")
def _cond_br(ctx, op, args):
    split = op.attributes["split"].value
    return BranchTo(0, args[1:1 + split]) if args[0] else BranchTo(1, args[1 + split:])


class RepeatOp(Op):
    """Runs its region ``count`` times through ``ctx.run_region``, threading one value."""

    name = "interp_test.repeat"
    init = Operand()
    count = Attr(I64Attr)
    result = Result()
    body = SingleRegion()


@impl("interp_test.repeat")
def _repeat(ctx, op, args):
    value = args[0]
    for _ in range(op.attributes["count"].value):
        (value,) = ctx.run_region(op.regions[0], [value])
    return [value]


class YieldOp(Op):
    name = "interp_test.yield"
    traits = (Terminator,)
    values = VarOperand()


class FailOp(Op):
    """Raises a plain Python exception from its semantics once its input reaches 3."""

    name = "interp_test.fail_at_3"
    value = Operand()
    result = Result()


@impl("interp_test.fail_at_3")
def _fail_at_3(ctx, op, args):
    if args[0] == 3:
        raise ZeroDivisionError("boom")
    return [args[0]]


class WrongDtypeOp(Op):
    """Returns a float64 where its result type says something else."""

    name = "interp_test.wrong_dtype"
    value = Operand()
    result = Result()


@impl("interp_test.wrong_dtype")
def _wrong_dtype(ctx, op, args):
    return [np.float64(args[0])]


class MultiOp(Op):
    """Returns its operands swapped (two results)."""

    name = "interp_test.swap"
    a = Operand()
    b = Operand()
    outs = VarResult()


FACTORIES: list[str] = []


@specialized_impl("interp_test.swap")
def _swap(ctx, op):
    FACTORIES.append(op.name)
    return lambda args: [args[1], args[0]]


def parse(text: str, **kwargs):
    return parse_module(text, "prog.mlir", **kwargs)


# ------------------------------------------------------------------------ control flow

SUM_TO = """
func.func @sum_to(%n: i64) -> i64 {
  %zero = arith.constant 0 : i64
  "interp_test.br"(%zero, %zero) [^head] : (i64, i64) -> ()
^head(%i: i64, %acc: i64):
  %more = arith.cmpi slt, %i, %n : i64
  "interp_test.cond_br"(%more, %i, %acc, %acc) [^body, ^exit] {split = 2 : i64}
      : (i1, i64, i64, i64) -> ()
^body(%j: i64, %a: i64):
  %one = arith.constant 1 : i64
  %next = arith.addi %j, %one : i64
  %sum = arith.addi %a, %j : i64
  "interp_test.br"(%next, %sum) [^head] : (i64, i64) -> ()
^exit(%result: i64):
  return %result : i64
}
"""


@pytest.mark.parametrize("n", [0, 1, 10, 500])
def test_multi_block_cfg_follows_successors(n):
    got = run(parse(SUM_TO), "sum_to", n)
    assert type(got) is np.int64 and got == n * (n - 1) // 2


FACTORIAL = """
func.func @fact(%n: i64) -> i64 {
  %one = arith.constant 1 : i64
  %base = arith.cmpi sle, %n, %one : i64
  "interp_test.cond_br"(%base, %n) [^done, ^recurse] {split = 0 : i64} : (i1, i64) -> ()
^done:
  return %one : i64
^recurse(%m: i64):
  %m1 = arith.subi %m, %one : i64
  %f = func.call @fact(%m1) : (i64) -> i64
  %r = arith.muli %m, %f : i64
  return %r : i64
}
func.func @forever(%n: i64) -> i64 {
  %r = func.call @forever(%n) : (i64) -> i64
  return %r : i64
}
"""


def test_recursion_through_calls_and_branches():
    m = parse(FACTORIAL)
    interp = Interpreter(m)
    assert [int(interp.invoke("fact", n)) for n in range(8)] == [1, 1, 2, 6, 24, 120, 720, 5040]
    assert interp.invoke("fact", 20) == 2432902008176640000
    assert interp.invoke("fact", 21) == np.int64(-4249290049419214848)  # wraps at 64 bits


def test_unbounded_recursion_is_a_located_error():
    with pytest.raises(InterpreterError) as info:
        run(parse(FACTORIAL), "forever", 1, max_call_depth=50)
    text = str(info.value)
    assert "prog.mlir:15:8" in text and "call depth limit of 50" in text
    assert "'func.call' op" in text


def test_python_recursion_limit_becomes_a_located_error():
    with pytest.raises(InterpreterError, match="recursion limit") as info:
        run(parse(FACTORIAL), "forever", 1, max_call_depth=10 ** 6)
    assert "prog.mlir:15:8" in str(info.value)


def test_region_ops_call_back_into_the_executor():
    m = parse("""
    func.func @f(%x: f32) -> f32 {
      %r = "interp_test.repeat"(%x) ({
      ^bb0(%v: f32):
        %two = arith.constant 2.0 : f32
        %w = arith.mulf %v, %two : f32
        "interp_test.yield"(%w) : (f32) -> ()
      }) {count = 5 : i64} : (f32) -> f32
      return %r : f32
    }""")
    got = run(m, "f", np.float32(1.5))
    assert type(got) is np.float32 and got == 48.0


def test_multiple_and_zero_results():
    m = parse("""
    func.func @two(%a: i32, %b: f32) -> (f32, i32) {
      %s:2 = "interp_test.swap"(%a, %b) : (i32, f32) -> (f32, i32)
      return %s#0, %s#1 : f32, i32
    }
    func.func @none(%a: i32) {
      return
    }""")
    got = run(m, "two", 1, 2.0)
    assert isinstance(got, tuple) and got == (np.float32(2.0), np.int32(1))
    assert type(got[0]) is np.float32 and type(got[1]) is np.int32
    assert run(m, "none", 3) is None


def test_kernels_are_specialised_once_per_op():
    FACTORIES.clear()
    m = parse("""
    func.func @f(%x: i64) -> i64 {
      %r = "interp_test.repeat"(%x) ({
      ^bb0(%v: i64):
        %s:2 = "interp_test.swap"(%v, %v) : (i64, i64) -> (i64, i64)
        %w = arith.addi %s#0, %s#1 : i64
        "interp_test.yield"(%w) : (i64) -> ()
      }) {count = 10 : i64} : (i64) -> i64
      return %r : i64
    }""")
    assert run(m, "f", 1) == 1024
    assert FACTORIES == ["interp_test.swap"]


def test_generic_impl_entry_still_works_for_specialised_ops():
    m = parse("""
    func.func @f(%a: i64, %b: i64) -> (i64, i64) {
      %s:2 = "interp_test.swap"(%a, %b) : (i64, i64) -> (i64, i64)
      return %s#0, %s#1 : i64, i64
    }""")
    interp = Interpreter(m)
    op = next(o for o in m.walk_ops() if o.name == "interp_test.swap")
    assert IMPLS["interp_test.swap"](interp, op, [1, 2]) == [2, 1]


@pytest.mark.parametrize("compile_blocks", [True, False], ids=["compiled", "interpreted"])
def test_compiled_and_interpreted_blocks_agree(compile_blocks, monkeypatch):
    if not compile_blocks:
        monkeypatch.setattr(executor, "COMPILE_MAX_STEPS", -1)
    assert run(parse(SUM_TO), "sum_to", 300) == 300 * 299 // 2
    assert run(parse(FACTORIAL), "fact", 15) == 1307674368000
    with pytest.raises(InterpreterError, match=r"prog\.mlir:7:10.*ZeroDivisionError: boom"):
        run(parse(LOOPED_FAILURE), "f", 0)


# ---------------------------------------------------------------------------- errors


def test_missing_semantics_is_located_and_lazy():
    m = parse("""
    func.func @f(%c: i1, %x: f32) -> f32 {
      "interp_test.cond_br"(%c) [^bad, ^good] {split = 0 : i64} : (i1) -> ()
    ^bad:
      %y = "mystery.op"(%x) : (f32) -> f32
      return %y : f32
    ^good:
      return %x : f32
    }""", allow_unregistered=True)
    assert run(m, "f", False, 1.0) == 1.0  # the unknown op is never reached
    with pytest.raises(InterpreterError) as info:
        run(m, "f", True, 1.0)
    assert "prog.mlir:5:12" in str(info.value)
    assert "no interpreter semantics for 'mystery.op'" in str(info.value)


LOOPED_FAILURE = """
func.func @f(%x: i64) -> i64 {
  %r = "interp_test.repeat"(%x) ({
  ^bb0(%v: i64):
    %one = arith.constant 1 : i64
    %w = arith.addi %v, %one : i64
    %z = "interp_test.fail_at_3"(%w) : (i64) -> i64
    "interp_test.yield"(%z) : (i64) -> ()
  }) {count = 5 : i64} : (i64) -> i64
  return %r : i64
}
"""


@pytest.mark.parametrize("start", [2, 0], ids=["first-run", "compiled"])
def test_python_exceptions_in_semantics_become_located_errors(start):
    """Both the step-by-step path and the compiled block path name the failing op."""
    with pytest.raises(InterpreterError) as info:
        run(parse(LOOPED_FAILURE), "f", start)
    text = str(info.value)
    assert "prog.mlir:7:10" in text
    assert "'interp_test.fail_at_3' op failed in its interpreter semantics: " \
           "ZeroDivisionError: boom" in text
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_integer_division_by_zero_is_located_inside_loops():
    m = parse("""
    func.func @f(%x: i32) -> i32 {
      %r = "interp_test.repeat"(%x) ({
      ^bb0(%v: i32):
        %one = arith.constant 1 : i32
        %w = arith.subi %v, %one : i32
        %q = arith.divsi %one, %w : i32
        %n = arith.addi %w, %q : i32
        "interp_test.yield"(%w) : (i32) -> ()
      }) {count = 9 : i64} : (i32) -> i32
      return %r : i32
    }""")
    with pytest.raises(InterpreterError, match=r"prog\.mlir:7:14: error: 'arith\.divsi' op "
                                               "divides by zero"):
        run(m, "f", 5)


def test_no_numpy_warnings_escape():
    m = parse("""
    func.func @f(%a: i8, %x: f32) -> (i8, f32) {
      %s = arith.addi %a, %a : i8
      %zero = arith.constant 0.0 : f32
      %q = arith.divf %x, %zero : f32
      return %s, %q : i8, f32
    }""")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(m, "f", 100, -1.0) == (np.int8(-56), np.float32(-np.inf))


def test_wrongly_typed_results_are_caught():
    m = parse("""
    func.func @f(%a: f32) -> f32 {
      %b = "interp_test.wrong_dtype"(%a) : (f32) -> f32
      return %b : f32
    }""")
    with pytest.raises(InterpreterError, match="result #0 does not match its declared type f32"):
        run(m, "f", 1.0)
    with pytest.raises(InterpreterError, match=r"prog\.mlir:3:12.*result #0 does not match "
                                               r"its type f32: expected a numpy float32"):
        run(m, "f", 1.0, check_types=True)


def test_use_before_definition_and_bad_block_entry_are_located():
    m = parse("""
    func.func @f(%a: i64) -> i64 {
      "interp_test.br"(%a, %a) [^next] : (i64, i64) -> ()
    ^next(%x: i64):
      return %x : i64
    }""", verify=False)
    with pytest.raises(InterpreterError, match="enters a block of 1 arguments with 2 values"):
        run(m, "f", 1)
    m = parse("""
    func.func @f(%a: i64) -> i64 {
      %b = arith.addi %a, %c : i64
      %c = arith.addi %a, %a : i64
      return %b : i64
    }""", verify=False)
    with pytest.raises(InterpreterError, match=r"prog\.mlir:3:12.*operand #1 is used before"):
        run(m, "f", 1)


def test_unknown_function_names_the_known_ones():
    with pytest.raises(ValueError, match=r"no function named 'nope' \(functions: fact, forever"):
        run(parse(FACTORIAL), "nope")


def test_calling_a_declaration_is_a_located_error():
    m = parse("""
    func.func private @ext(i64) -> i64
    func.func @f(%a: i64) -> i64 {
      %r = func.call @ext(%a) : (i64) -> i64
      return %r : i64
    }""")
    with pytest.raises(InterpreterError, match=r"prog\.mlir:4:12.*external function '@ext'"):
        run(m, "f", 1)


def test_impl_errors_can_use_interp_error():
    @impl("interp_test.always_fails")
    def _fails(ctx, op, args):
        raise interp_error(op, "refuses")

    m = parse("""
    func.func @f(%a: i64) -> i64 {
      %b = "interp_test.always_fails"(%a) : (i64) -> i64
      return %b : i64
    }""", allow_unregistered=True)
    with pytest.raises(InterpreterError, match=r"prog\.mlir:3:12.*'interp_test\.always_fails' "
                                               "op refuses"):
        run(m, "f", 1)


# ------------------------------------------------------------------- argument checking

SIGNATURES = """
func.func @t(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  return %a : tensor<2x3xf32>
}
func.func @s(%a: i8, %b: f32, %c: i1, %d: index) -> (i8, f32, i1, index) {
  return %a, %b, %c, %d : i8, f32, i1, index
}
func.func @m(%a: memref<4xf32>) -> memref<4xf32> {
  %i = arith.constant 1 : index
  %v = arith.constant 7.5 : f32
  memory.store %v, %a[%i] : memref<4xf32>
  return %a : memref<4xf32>
}
func.func @v(%a: vector<4xi32>) -> vector<4xi32> {
  return %a : vector<4xi32>
}
"""


@pytest.mark.parametrize(("fn", "args", "pattern"), [
    ("t", (np.zeros((2, 3)),), r"argument #0 of '@t': expected tensor<2x3xf32>, got numpy "
                               r"array of shape \(2, 3\) and dtype float64"),
    ("t", (np.zeros((3, 2), np.float32),), r"argument #0 .*tensor<2x3xf32>.*shape \(3, 2\)"),
    ("t", (1.0,), r"argument #0 of '@t': expected tensor<2x3xf32>, got Python float"),
    ("t", (), r"'@t' takes 1 arguments \(tensor<2x3xf32>\), got 0"),
    ("s", (300, 1.0, True, 0), r"argument #0 of '@s': expected i8.*\[-128, 255\]"),
    ("s", (1, 1.0, 2, 0), r"argument #2 of '@s': expected i1.*0 or 1"),
    ("s", (1, np.float64(1.0), True, 0), r"argument #1 of '@s': expected f32, got numpy "
                                         r"float64 scalar"),
    ("s", (1.5, 1.0, True, 0), r"argument #0 of '@s': expected i8, got Python float"),
    ("s", (1, 1.0, True, np.zeros(2, np.int64)), r"argument #3 of '@s': expected scalar index"),
    ("m", (np.zeros(4, np.float64),), r"argument #0 of '@m': expected memref<4xf32>.*must be "
                                      r"exactly float32"),
    ("m", (np.zeros(8, np.float32)[::2],), r"argument #0 of '@m'.*non-contiguous"),
    ("m", ([0.0] * 4,), r"argument #0 of '@m': expected memref<4xf32> \(a numpy array"),
    ("v", (np.zeros(4, np.uint32),), r"argument #0 of '@v': expected vector<4xi32>.*uint32"),
])
def test_argument_errors_name_argument_expected_and_actual(fn, args, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        run(parse(SIGNATURES), fn, *args)
    assert issubclass(ArgumentError, TypeError)


def test_safe_conversions_are_accepted_and_copied():
    m = parse(SIGNATURES)
    src = np.arange(6, dtype=np.int16).reshape(2, 3)
    got = run(m, "t", src)
    assert got.dtype == np.float32 and np.array_equal(got, src)
    assert not np.shares_memory(got, src)
    got = run(m, "t", [[1, 2, 3], [4, 5, 6]])
    assert got.dtype == np.float32 and got[1, 2] == 6
    a, b, c, d = run(m, "s", np.int8(-3), 0.1, np.True_, 2 ** 40)
    assert (type(a), type(b), type(c), type(d)) == (np.int8, np.float32, np.bool_, np.int64)
    assert b == np.float32(0.1) and d == 2 ** 40
    assert run(m, "s", 255, 1, 1, 0)[0] == -1  # signless: 255 is the bit pattern of -1


def test_memref_arguments_alias_the_callers_array():
    buf = np.zeros(4, np.float32)
    out = run(parse(SIGNATURES), "m", buf)
    assert buf.tolist() == [0.0, 7.5, 0.0, 0.0]
    assert np.shares_memory(out, buf)
    out[3] = 1.0
    assert buf[3] == 1.0


# ----------------------------------------------------------------------- documentation


def test_documentation_example_runs():
    doc = Path(__file__).resolve().parents[3] / "docs" / "interpreter.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    assert blocks, "docs/interpreter.md has no python example"
    for code in blocks:
        exec(compile(code, str(doc), "exec"), {})
