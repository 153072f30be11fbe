"""Interpreter semantics of the loop dialect against numpy: for loops with carried values,
multi-dimensional parallel loops with reductions, conditionals, and runtime errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from avalon.backends.interpreter import InterpreterError, run
from avalon.ir.builder import Builder, InsertionPoint
from avalon.ir.dialects import arith as A
from avalon.ir.dialects import loop as L
from avalon.ir.dialects import memory as M
from avalon.ir.dialects.arith import constant
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.location import FileLineColLoc
from avalon.ir.types import FunctionType, f32, i1, i64, index, memref
from avalon.ir.verifier import verify

LOC = FileLineColLoc("loops.py", 1, 1)
BAD = FileLineColLoc("loops.py", 9, 4)


def build(arg_types, result_types, body) -> ModuleOp:
    m = module()
    f = FuncOp.create("f", FunctionType(tuple(arg_types), tuple(result_types)), location=LOC)
    m.body.append(f)
    b = Builder.at_end(f.entry_block, LOC)
    results = body(b, f.entry_block.args)
    b.create(ReturnOp, list(results or ()))
    verify(m)
    return m


def for_loop(b: Builder, lb, ub, step, inits, body) -> L.ForOp:
    """``loop.for`` whose body ``body(b, iv, iter_args)`` returns the yielded values."""
    op = b.create(L.ForOp, lb, ub, step, inits=list(inits))
    with b.at(InsertionPoint.at_end(op.body)):
        b.create(L.YieldOp, list(body(b, op.induction_var, op.iter_args)))
    return op


def parallel(b: Builder, lbs, ubs, steps, inits, body, combine) -> L.ParallelOp:
    """``loop.parallel``; ``body(b, ivs)`` returns the partial values and
    ``combine[k](b, lhs, rhs)`` the combined value of reduction ``k``."""
    op = b.create(L.ParallelOp, list(lbs), list(ubs), list(steps), inits=list(inits))
    with b.at(InsertionPoint.at_end(op.body)):
        red = b.create(L.ReduceOp, list(body(b, op.induction_vars)))
    for region, fn in zip(red.regions, combine):
        blk = region.blocks[0]
        with b.at(InsertionPoint.at_end(blk)):
            b.create(L.ReduceReturnOp, fn(b, *blk.args))
    return op


def idx(b: Builder, v: int):
    return constant(v, index, b)


# ------------------------------------------------------------------------------- loop.for


@given(st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=12), st.data())
def test_for_threads_carried_values_like_a_python_loop(values, data):
    n = len(values)
    lb = data.draw(st.integers(0, n))
    ub = data.draw(st.integers(0, n))
    step = data.draw(st.integers(1, 4))

    def body(b, args):
        def step_fn(b, i, carried):
            acc, count, _ = carried
            x = b.create(M.LoadOp, args[0], [i]).result
            return [b.create(A.AddIOp, acc, x).result,
                    b.create(A.AddIOp, count, constant(1, i64, b)).result,
                    b.create(A.IndexCastOp, i, result_types=[i64]).result]
        loop = for_loop(b, args[1], args[2], args[3],
                        [constant(0, i64, b), constant(0, i64, b), constant(-1, i64, b)],
                        step_fn)
        return loop.results

    m = build([memref([n], i64), index, index, index], [i64, i64, i64], body)
    arr = np.asarray(values, dtype=np.int64)
    positions = list(range(lb, ub, step))
    total, count, last = run(m, "f", arr, lb, ub, step)
    assert total == sum(values[p] for p in positions)
    assert count == len(positions)
    assert last == (positions[-1] if positions else -1)


@given(st.integers(1, 5), st.integers(1, 5), st.data())
def test_nested_for_loops_transpose_a_matrix(rows, cols, data):
    src = np.asarray(data.draw(st.lists(st.floats(-10, 10, width=32), min_size=rows * cols,
                                        max_size=rows * cols)), np.float32).reshape(rows, cols)

    def body(b, args):
        c0, c1 = idx(b, 0), idx(b, 1)

        def outer(b, i, _):
            def inner(b, j, _):
                v = b.create(M.LoadOp, args[0], [i, j])
                b.create(M.StoreOp, v.result, args[1], [j, i])
                return []
            for_loop(b, c0, idx(b, cols), c1, [], inner)
            return []
        for_loop(b, c0, idx(b, rows), c1, [], outer)
        return []

    m = build([memref([rows, cols], f32), memref([cols, rows], f32)], [], body)
    out = np.zeros((cols, rows), np.float32)
    run(m, "f", src, out)
    np.testing.assert_array_equal(out, src.T)


def test_non_positive_runtime_step_is_a_located_error():
    def body(b, args):
        with b.located(BAD):
            loop = for_loop(b, idx(b, 0), idx(b, 4), args[0], [constant(0, i64, b)],
                            lambda b, i, c: c)
        return loop.results

    m = build([index], [i64], body)
    assert run(m, "f", 1) == 0
    with pytest.raises(InterpreterError) as info:
        run(m, "f", 0)
    assert info.value.diagnostic.message == "'loop.for' op requires a positive step, got 0"
    assert info.value.diagnostic.location == BAD


# -------------------------------------------------------------------------- loop.parallel


@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3), st.data())
def test_parallel_2d_with_sum_and_max_reductions(rows, cols, s0, s1, data):
    src = np.asarray(data.draw(st.lists(st.integers(-1000, 1000), min_size=rows * cols,
                                        max_size=rows * cols)), np.int64).reshape(rows, cols)
    lo0, lo1 = data.draw(st.integers(0, rows - 1)), data.draw(st.integers(0, cols - 1))

    def body(b, args):
        def point(b, ivs):
            x = b.create(M.LoadOp, args[0], list(ivs)).result
            doubled = b.create(A.AddIOp, x, x).result
            b.create(M.StoreOp, doubled, args[1], list(ivs))
            return [x, x]
        loop = parallel(
            b, [idx(b, lo0), idx(b, lo1)], [idx(b, rows), idx(b, cols)],
            [idx(b, s0), idx(b, s1)], [constant(7, i64, b), constant(-(10**9), i64, b)],
            point, [lambda b, x, y: b.create(A.AddIOp, x, y).result,
                    lambda b, x, y: b.create(A.MaxSIOp, x, y).result])
        return loop.results

    m = build([memref([rows, cols], i64), memref([rows, cols], i64)], [i64, i64], body)
    out = np.zeros_like(src)
    total, biggest = run(m, "f", src, out)
    box = src[lo0::s0, lo1::s1]
    assert total == 7 + box.sum()
    assert biggest == max(box.max(), -(10**9))
    expected = np.zeros_like(src)
    expected[lo0::s0, lo1::s1] = 2 * box
    np.testing.assert_array_equal(out, expected)


def test_parallel_runs_iterations_in_row_major_order():
    # A non-commutative combiner exposes the order: 10 * acc + value, i.e. digits in order.
    def body(b, args):
        def point(b, ivs):
            i = b.create(A.IndexCastOp, ivs[0], result_types=[i64]).result
            j = b.create(A.IndexCastOp, ivs[1], result_types=[i64]).result
            return [b.create(A.AddIOp, b.create(A.MulIOp, i, constant(3, i64, b)).result,
                             j).result]

        def combine(b, acc, v):
            return b.create(A.AddIOp, b.create(A.MulIOp, acc, constant(10, i64, b)).result,
                            v).result
        loop = parallel(b, [idx(b, 0), idx(b, 0)], [idx(b, 2), idx(b, 3)],
                        [idx(b, 1), idx(b, 1)], [constant(0, i64, b)], point, [combine])
        return loop.results

    assert run(build([], [i64], body), "f") == 12345


def test_parallel_with_an_empty_range_yields_its_inits():
    def body(b, args):
        loop = parallel(b, [idx(b, 0)], [args[0]], [idx(b, 1)], [constant(5, i64, b)],
                        lambda b, ivs: [constant(1, i64, b)],
                        [lambda b, x, y: b.create(A.AddIOp, x, y).result])
        return loop.results

    m = build([index], [i64], body)
    assert run(m, "f", 0) == 5
    assert run(m, "f", 3) == 8


# -------------------------------------------------------------------------------- loop.if


@given(st.lists(st.floats(-100, 100, width=32), min_size=1, max_size=10))
def test_if_selects_like_numpy_where(values):
    n = len(values)

    def body(b, args):
        zero = constant(0.0, f32, b)

        def step(b, i, carried):
            x = b.create(M.LoadOp, args[0], [i]).result
            pos = b.create(A.CmpFOp, x, zero, predicate="ogt").result
            sel = b.create(L.IfOp, pos, result_types=[f32])
            with b.at(InsertionPoint.at_end(sel.then_block)):
                b.create(L.YieldOp, [x])
            with b.at(InsertionPoint.at_end(sel.else_block)):
                b.create(L.YieldOp, [zero])
            b.create(M.StoreOp, sel.result, args[1], [i])
            # A result-less if with no else: count the negatives.
            neg = b.create(A.CmpFOp, x, zero, predicate="olt").result
            side = b.create(L.IfOp, neg)
            with b.at(InsertionPoint.at_end(side.then_block)):
                one = constant(1.0, f32, b)
                old = b.create(M.LoadOp, args[2], [idx(b, 0)]).result
                b.create(M.StoreOp, b.create(A.AddFOp, old, one).result, args[2],
                         [idx(b, 0)])
                b.create(L.YieldOp, [])
            return []
        for_loop(b, idx(b, 0), idx(b, n), idx(b, 1), [], step)
        return []

    m = build([memref([n], f32), memref([n], f32), memref([1], f32)], [], body)
    x = np.asarray(values, np.float32)
    out, count = np.full(n, np.nan, np.float32), np.zeros(1, np.float32)
    run(m, "f", x, out, count)
    np.testing.assert_array_equal(out, np.where(x > 0, x, np.float32(0)))
    assert count[0] == np.sum(x < 0)


def test_if_on_a_function_argument():
    def body(b, args):
        sel = b.create(L.IfOp, args[0], result_types=[i64, i64])
        with b.at(InsertionPoint.at_end(sel.then_block)):
            b.create(L.YieldOp, [constant(1, i64, b), constant(2, i64, b)])
        with b.at(InsertionPoint.at_end(sel.else_block)):
            b.create(L.YieldOp, [constant(3, i64, b), constant(4, i64, b)])
        return sel.results

    m = build([i1], [i64, i64], body)
    assert run(m, "f", True) == (1, 2)
    assert run(m, "f", False) == (3, 4)
