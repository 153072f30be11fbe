"""The loop dialect: structure verification (located errors), effects and builders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avalon.ir.builder import Builder, InsertionPoint
from avalon.ir.core import Block, Operation, Value
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects import loop as L
from avalon.ir.dialects import memory as M
from avalon.ir.dialects.arith import constant
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.location import FileLineColLoc
from avalon.ir.traits import MemoryEffect, memory_effects
from avalon.ir.types import f32, f64, i1, i32, index, memref
from avalon.ir.verifier import verify

LOC = FileLineColLoc("loop_test.py", 40, 2)


def source(t) -> Value:
    return Operation.create("test.source", result_types=[t]).results[0]


def fresh() -> tuple[ModuleOp, Builder]:
    m = module()
    return m, Builder.at_end(m.body, LOC)


def with_sources(m: ModuleOp) -> ModuleOp:
    """Insert the unregistered producers of free operands at the top of the module."""
    first = m.body.first_op
    for op in list(m.body.ops):
        for nested in op.walk_ops():
            for v in nested.operands:
                if v.owner.parent is None:
                    m.body.insert_before(v.owner, first)
    return m


def expect_error(m: ModuleOp, op: Operation, text: str) -> None:
    with pytest.raises(DiagnosticError) as info:
        verify(with_sources(m))
    diag = info.value.diagnostic
    assert text in diag.message, diag.message
    assert diag.message.startswith(f"'{op.name}' op")
    assert diag.location == LOC


def make_for(b: Builder, inits=(), yields=None, step=None) -> L.ForOp:
    """``loop.for`` 0..8 carrying ``inits``; yields ``yields(iter_args)`` (default: them)."""
    lb, ub = source(index), source(index)
    op = b.create(L.ForOp, lb, ub, step if step is not None else source(index),
                  inits=list(inits))
    with b.at(InsertionPoint.at_end(op.body)):
        vals = op.iter_args if yields is None else yields(op)
        b.create(L.YieldOp, list(vals))
    return op


def make_parallel(b: Builder, n: int = 2, inits=(), partials=None) -> L.ParallelOp:
    bounds = [[source(index) for _ in range(n)] for _ in range(3)]
    op = b.create(L.ParallelOp, *bounds, inits=list(inits))
    with b.at(InsertionPoint.at_end(op.body)):
        vals = list(partials(op)) if partials else list(inits)
        red = b.create(L.ReduceOp, vals)
        for region in red.regions:
            blk = region.blocks[0]
            with b.at(InsertionPoint.at_end(blk)):
                b.create(L.ReduceReturnOp, blk.args[0])
    return op


def make_if(b: Builder, types=(), then_vals=(), else_vals=None) -> L.IfOp:
    op = b.create(L.IfOp, source(i1), result_types=list(types))
    with b.at(InsertionPoint.at_end(op.then_block)):
        b.create(L.YieldOp, list(then_vals))
    if else_vals is not None:
        if not op.else_region.blocks:
            op.else_region.add_block(Block())
        with b.at(InsertionPoint.at_end(op.else_block)):
            b.create(L.YieldOp, list(else_vals))
    return op


# ------------------------------------------------------------------------------ valid IR


def test_builders_make_valid_loops():
    m, b = fresh()
    x = source(f32)
    f = make_for(b, [x, source(i32)])
    assert f.result_types == [f32, i32]
    assert f.induction_var.type == index and len(f.iter_args) == 2
    p = make_parallel(b, 2, [x])
    assert p.result_types == [f32] and len(p.induction_vars) == 2
    assert p.reduce_op.name == "loop.reduce"
    i = make_if(b, [f32], [x], [x])
    assert i.result_types == [f32]
    make_if(b)  # no results, no else
    verify(with_sources(m))


def test_recursive_memory_effects():
    _, b = fresh()
    buf = source(memref([8], f32))

    def body(op):
        b.create(M.StoreOp, source(f32), buf, [op.induction_var])
        return []

    f = make_for(b, yields=body)
    assert memory_effects(f) == {MemoryEffect.WRITE}
    assert memory_effects(make_for(b)) == frozenset()
    assert memory_effects(make_if(b)) == frozenset()
    assert memory_effects(make_parallel(b)) == frozenset()


def test_constant_trip_count():
    _, b = fresh()
    c = [constant(v, index, b) for v in (0, 3, 10)]
    f = b.create(L.ForOp, c[0], c[2], c[1])
    assert f.constant_trip_count() == 4
    assert b.create(L.ForOp, c[2], c[0], c[1]).constant_trip_count() == 0
    assert b.create(L.ForOp, c[0], c[2], source(index)).constant_trip_count() is None
    assert L.trip_count(0, 10, 3) == 4 and L.trip_count(5, 5, 1) == 0
    assert L.constant_int(c[1]) == 3 and L.constant_int(source(index)) is None


# --------------------------------------------------------------------------- loop.for errors


def test_for_errors():
    m, b = fresh()
    f = make_for(b, [source(f32)], yields=lambda op: [source(f64)])
    expect_error(m, f, "'loop.yield' at the end of the body has operand types (f64), "
                       "expected (f32)")

    m, b = fresh()
    f = make_for(b, [source(f32)])
    f.body.args[1].type = f64
    f.results[0].type = f64
    expect_error(m, f, "expects body block arguments (index, f32), got (index, f64)")

    m, b = fresh()
    f = make_for(b, [source(f32)])
    f.results[0].type = i32
    expect_error(m, f, "result types (i32) do not match the loop-carried types (f32)")

    m, b = fresh()
    f = make_for(b)
    f.body.last_op.erase()
    expect_error(m, f, "expects the body to end with 'loop.yield', found nothing")

    m, b = fresh()
    f = make_for(b, step=constant(0, index, b))
    expect_error(m, f, "requires a positive step, got 0")

    m, b = fresh()
    f = b.create(L.ForOp, source(index), source(index), source(index), regions=1)
    expect_error(m, f, "expects the body to have exactly one block")

    m, b = fresh()
    f = b.create(L.ForOp, source(index), source(i32), source(index))
    expect_error(m, f, "operand #1 ('upper_bound') must be index, but got 'i32'")


def test_yield_needs_a_loop_parent():
    m, b = fresh()
    y = b.create(L.YieldOp, [])
    expect_error(m, y, "expects parent op to be one of 'loop.for', 'loop.if'")


# ----------------------------------------------------------------------- loop.parallel errors


def test_parallel_errors():
    m, b = fresh()
    p = make_parallel(b, 2, [source(f32)], partials=lambda op: [source(f64)])
    expect_error(m, p, "'loop.reduce' at the end of the body has operand types (f64), "
                       "expected (f32)")

    m, b = fresh()
    p = make_parallel(b, 2)
    p.body.args[1].type = i32
    expect_error(m, p, "expects 2 'index' body block arguments, got (index, i32)")

    m, b = fresh()
    p = make_parallel(b, 2)
    p.set_operands(list(p.operands)[:5])
    p.attributes["operandSegmentSizes"] = p.attributes["operandSegmentSizes"].__class__(
        i32, (2, 2, 1, 0))
    expect_error(m, p, "expects the same positive number of lower bounds, upper bounds and "
                       "steps, got 2, 2 and 1")

    m, b = fresh()
    p = make_parallel(b, 1, [source(f32)])
    p.results[0].type = f64
    expect_error(m, p, "result types (f64) do not match the init types (f32)")

    m, b = fresh()
    p = make_parallel(b, 1)
    p.body.last_op.erase()
    b.set_insertion_point_to_end(p.body)
    b.create(L.YieldOp, [])
    expect_error(m, p, "expects the body to end with 'loop.reduce', found 'loop.yield'")


def test_reduce_errors():
    m, b = fresh()
    p = make_parallel(b, 1, [source(f32)])
    red = p.reduce_op
    red.regions[0].blocks[0].args[1].type = f64
    expect_error(m, red, "expects combiner region #0 to take two 'f32' arguments, got "
                         "(f32, f64)")

    m, b = fresh()
    p = make_parallel(b, 1, [source(f32)])
    red = p.reduce_op
    ret = red.regions[0].blocks[0].last_op
    ret.set_operand(0, source(f64))
    expect_error(m, red, "'loop.reduce.return' at the end of combiner region #0 has operand "
                         "types (f64), expected (f32)")

    m, b = fresh()
    p = make_parallel(b, 1, [source(f32)])
    red = p.reduce_op
    red.regions.pop().parent = None
    expect_error(m, red, "expects one combiner region per value, got 1 values and 0 regions")

    m, b = fresh()
    ret = b.create(L.ReduceReturnOp, source(f32))
    expect_error(m, ret, "expects parent op to be one of 'loop.reduce'")


# ----------------------------------------------------------------------------- loop.if errors


def test_if_errors():
    m, b = fresh()
    i = make_if(b, [f32], [source(f32)])
    assert i.else_block is not None and i.else_block.is_empty  # made by the builder
    expect_error(m, i, "expects the 'else' region to end with 'loop.yield', found nothing")
    i.else_block.erase()
    expect_error(m, i, "must have an 'else' region when it has results")

    m, b = fresh()
    i = make_if(b, [f32], [source(f32)], [source(f64)])
    expect_error(m, i, "'loop.yield' at the end of the 'else' region has operand types (f64), "
                       "expected (f32)")

    m, b = fresh()
    i = make_if(b, [], [source(f32)])
    expect_error(m, i, "'loop.yield' at the end of the 'then' region has operand types (f32), "
                       "expected ()")

    m, b = fresh()
    i = make_if(b)
    i.then_block.add_argument(f32)
    expect_error(m, i, "expects the 'then' region to have no block arguments")

    m, b = fresh()
    i = b.create(L.IfOp, source(i32))
    expect_error(m, i, "operand #0 ('condition') must be i1, but got 'i32'")


def test_ops_are_documented():
    for cls in (L.ForOp, L.ParallelOp, L.IfOp, L.YieldOp, L.ReduceOp, L.ReduceReturnOp):
        assert cls.__doc__ and len(cls.__doc__.split("\n\n")[0]) > 40, cls.name
    assert "loop.parallel" in L.EXAMPLE and "loop.reduce.return" in L.EXAMPLE


# ------------------------------------------------------- canonicalization (validated by running)


def _program(lb: int, ub: int, step: int, cond: bool) -> ModuleOp:
    """``@f(%m: memref<16xi64>, %flag: i1) -> (i64, i64, i64)`` with constant-bound loops and
    constant-condition ifs whose results depend on the iteration order."""
    from avalon.ir.dialects import arith as A
    from avalon.ir.dialects.func import FuncOp, ReturnOp
    from avalon.ir.types import FunctionType, i64

    m = module()
    f = FuncOp.create("f", FunctionType((memref([16], i64), i1), (i64, i64, i64)),
                      location=LOC)
    m.body.append(f)
    buf = f.entry_block.args[0]
    b = Builder.at_end(f.entry_block, LOC)
    c_lb, c_ub, c_st = (constant(v, index, b) for v in (lb, ub, step))
    loop = b.create(L.ForOp, c_lb, c_ub, c_st, inits=[constant(100, i64, b)])
    with b.at(InsertionPoint.at_end(loop.body)):
        x = b.create(M.LoadOp, buf, [loop.induction_var]).result
        acc = b.create(A.MulIOp, loop.iter_args[0], constant(3, i64, b)).result
        b.create(L.YieldOp, [b.create(A.AddIOp, acc, x).result])
    sel = b.create(L.IfOp, constant(cond, i1, b), result_types=[i64])
    with b.at(InsertionPoint.at_end(sel.then_block)):
        b.create(L.YieldOp, [loop.results[0]])
    with b.at(InsertionPoint.at_end(sel.else_block)):
        b.create(L.YieldOp, [b.create(A.SubIOp, constant(0, i64, b), loop.results[0]).result])
    side = b.create(L.IfOp, constant(not cond, i1, b))
    with b.at(InsertionPoint.at_end(side.then_block)):
        b.create(M.StoreOp, sel.results[0], buf, [constant(0, index, b)])
        b.create(L.YieldOp, [])
    par = b.create(L.ParallelOp, [c_lb], [c_ub], [c_st], inits=[constant(7, i64, b)])
    with b.at(InsertionPoint.at_end(par.body)):
        x = b.create(M.LoadOp, buf, [par.induction_vars[0]]).result
        red = b.create(L.ReduceOp, [x])
    blk = red.regions[0].blocks[0]
    with b.at(InsertionPoint.at_end(blk)):
        b.create(L.ReduceReturnOp, b.create(A.AddIOp, *blk.args).result)
    empty = b.create(L.IfOp, f.entry_block.args[1])  # unknown condition, nothing to do
    with b.at(InsertionPoint.at_end(empty.then_block)):
        b.create(L.YieldOp, [])
    b.create(ReturnOp, [loop.results[0], sel.results[0], par.results[0]])
    verify(m)
    return m


def _count(m: ModuleOp, name: str) -> int:
    return sum(1 for op in m.walk_ops() if op.name == name)


@given(st.integers(0, 16), st.integers(0, 16), st.integers(1, 20), st.booleans(),
       st.lists(st.integers(-50, 50), min_size=16, max_size=16))
def test_canonicalization_preserves_results(lb, ub, step, cond, data):
    import numpy as np

    from avalon.backends.interpreter import run
    from avalon.passes.canonicalize import Canonicalize

    before = _program(lb, ub, step, cond)
    after = before.clone()
    Canonicalize().run(after)
    verify(after)
    arr = np.asarray(data, np.int64)
    a1, a2 = arr.copy(), arr.copy()
    assert run(before, "f", a1, True) == run(after, "f", a2, True)
    np.testing.assert_array_equal(a1, a2)
    trips = L.trip_count(lb, ub, step)
    assert _count(after, "loop.if") == 0  # constant conditions and the empty if are gone
    assert _count(after, "loop.for") == (1 if trips > 1 else 0)
    assert _count(after, "loop.parallel") == (0 if trips == 0 else 1)


def test_canonicalization_patterns_are_registered():
    names = {type(p).__name__ for cls in (L.ForOp, L.IfOp, L.ParallelOp)
             for p in cls.get_canonicalization_patterns()}
    assert names == {"ForZeroTrip", "ForSingleTrip", "ForDropIterArgs", "IfConstantCondition",
                     "IfEmpty", "ParallelZeroTrip"}


# --------------------------------------------------------------------------- text forms

ROUND_TRIP = """\
func.func @ops(%lb: index, %ub: index, %st: index, %c: i1, %x: f32, %n: i32) -> (f32, i32) {
  loop.for %i = %lb to %ub step %st {
    loop.for %j = %i to %ub step %st {
    } {unroll = 2 : i64}
  }
  %r:2 = loop.for %i = %lb to %ub step %st iter_args(%a = %x, %b = %n) -> (f32, i32) {
    %s = arith.addf %a, %a : f32
    loop.yield %s, %b : f32, i32
  }
  loop.if %c {
    loop.parallel (%p, %q) = (%lb, %lb) to (%ub, %ub) step (%st, %st) {
    } {mapping = "grid"}
  }
  loop.if %c {
  } else {
    %z = arith.addi %n, %n : i32
  }
  %y = loop.if %c -> (f32) {
    loop.yield %x : f32
  } else {
    loop.yield %r#0 : f32
  }
  %m:2 = loop.parallel (%p) = (%lb) to (%ub) step (%st) init (%y, %n) -> (f32, i32) {
    loop.reduce(%x, %n : f32, i32) {
    ^bb0(%l: f32, %rr: f32):
      %t = arith.maximumf %l, %rr : f32
      loop.reduce.return %t : f32
    }, {
    ^bb0(%l: i32, %rr: i32):
      %t = arith.addi %l, %rr : i32
      loop.reduce.return %t : i32
    }
  }
  %one = loop.parallel (%p) = (%lb) to (%ub) step (%st) init (%x) -> f32 {
    loop.reduce(%x : f32) {
    ^bb0(%l: f32, %rr: f32):
      loop.reduce.return %l : f32
    }
  }
  func.return %m#0, %m#1 : f32, i32
}
"""


def test_custom_and_generic_forms_round_trip():
    from avalon.ir.parser import parse_module
    from avalon.ir.printer import print_op

    text = print_op(parse_module(ROUND_TRIP))
    assert '"loop.' not in text
    assert "loop.yield\n" not in text  # value-less yields are left out
    assert "iter_args(%arg9 = %arg4, %arg10 = %arg5) -> (f32, i32) {" in text
    assert "} {unroll = 2 : i64}" in text and '} {mapping = "grid"}' in text
    assert "init (%" in text and "-> (f32, i32) {" in text and ") -> f32 {" in text
    assert "loop.reduce(%arg4, %arg5 : f32, i32) {" in text and "}, {" in text
    assert "} else {" in text
    assert print_op(parse_module(text)) == text
    generic = print_op(parse_module(text), generic=True)
    assert "loop.for %" not in generic and '"loop.yield"() : () -> ()' in generic
    assert print_op(parse_module(generic)) == text


@pytest.mark.parametrize(("snippet", "message"), [
    ("loop.for %i = %a to %b {\n  }", "expected 'step'"),
    ("%r = loop.for %i = %a to %b step %a iter_args(%x = %f) -> (f32, f32) {\n  }",
     "iter_args has 1 values but 2 types"),
    ("%r = loop.for %i = %a to %b step %a iter_args(%x = %f) -> (f32) {\n  }",
     "'loop.yield' at the end of the body has operand types (), expected (f32)"),
    ("loop.parallel (%i, %j) = (%a) to (%b) step (%a) {\n  }",
     "expected 2 lower bounds, upper bounds and steps, got 1, 1 and 1"),
    ("%r = loop.if %c -> (f32) {\n    loop.yield %f : f32\n  }",
     "must have an 'else' region when it has results"),
    ("loop.for %i = %a to %b step %f {\n  }", "f32"),
])
def test_malformed_text_gives_located_diagnostics(snippet, message):
    from avalon.ir.parser import parse_module

    src = (f"func.func @f(%a: index, %b: index, %c: i1, %f: f32) {{\n  {snippet}\n"
           f"  func.return\n}}\n")
    with pytest.raises(DiagnosticError) as info:
        parse_module(src, filename="bad.mlir")
    diag = info.value.diagnostic
    assert message in diag.message, diag.message
    flc = diag.location.file_line_col()
    assert flc is not None and flc.filename == "bad.mlir" and flc.line >= 2


def test_example_parses_verifies_and_runs():
    import numpy as np

    from avalon.backends.interpreter import run
    from avalon.ir.parser import parse_module
    from avalon.ir.printer import print_op

    mod = parse_module(L.EXAMPLE)
    assert print_op(parse_module(print_op(mod))) == print_op(mod)
    x = np.linspace(-3, 4, 16).astype(np.float32)
    total, biggest = run(mod, "positive_sum_and_max", x)
    assert total == np.add.accumulate(np.where(x > 0, x, np.float32(0)))[-1]
    assert biggest == x.max()


def test_needless_iter_args_are_dropped_preserving_results():
    from avalon.backends.interpreter import run
    from avalon.ir.dialects import arith as A
    from avalon.ir.dialects.func import FuncOp, ReturnOp
    from avalon.ir.types import FunctionType, i64
    from avalon.passes.canonicalize import Canonicalize

    m = module()
    f = FuncOp.create("f", FunctionType((index, index, i64), (i64, i64, i64)), location=LOC)
    m.body.append(f)
    lb, ub, x = f.entry_block.args
    b = Builder.at_end(f.entry_block, LOC)
    one = constant(1, index, b)
    loop = b.create(L.ForOp, lb, ub, one, inits=[x, x, x, x])
    acc, passthrough, dead, swapped = loop.iter_args
    with b.at(InsertionPoint.at_end(loop.body)):
        iv = b.create(A.IndexCastOp, loop.induction_var, result_types=[i64]).result
        nxt = b.create(A.AddIOp, b.create(A.AddIOp, acc, iv).result, passthrough).result
        bumped = b.create(A.AddIOp, dead, iv).result
        b.create(L.YieldOp, [nxt, passthrough, bumped, swapped])
    b.create(ReturnOp, [loop.results[0], loop.results[1], loop.results[3]])
    verify(m)
    after = m.clone()
    Canonicalize().run(after)
    verify(after)
    (new_loop,) = [op for op in after.walk_ops() if op.name == "loop.for"]
    assert len(new_loop.inits) == 1  # only the accumulator is still carried
    for lo, hi, start in [(0, 5, 3), (2, 2, -1), (1, 9, 10)]:
        assert run(m, "f", lo, hi, start) == run(after, "f", lo, hi, start)
        assert run(after, "f", lo, hi, start)[0] == start + sum(i + start for i in range(lo, hi))
