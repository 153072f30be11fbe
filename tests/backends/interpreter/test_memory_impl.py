"""Interpreter semantics of the memory dialect against numpy: element access, strided views
(chains of subview/transpose/reshape), copies, fills, and located runtime errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from avalon.backends.interpreter import InterpreterError, run
from avalon.ir.builder import Builder
from avalon.ir.dialects import memory as M
from avalon.ir.dialects.arith import constant
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.location import FileLineColLoc
from avalon.ir.types import FunctionType, f32, f64, i1, i32, i64, index, memref
from avalon.ir.verifier import verify

LOC = FileLineColLoc("kernel.py", 1, 1)
BAD = FileLineColLoc("kernel.py", 7, 3)


def build(arg_types, result_types, body) -> ModuleOp:
    """A verified module with ``@f(args) -> results`` whose body ``body(b, args)`` builds and
    returns the returned values."""
    m = module()
    f = FuncOp.create("f", FunctionType(tuple(arg_types), tuple(result_types)), location=LOC)
    m.body.append(f)
    b = Builder.at_end(f.entry_block, LOC)
    results = body(b, f.entry_block.args)
    b.create(ReturnOp, list(results or ()))
    verify(m)
    return m


def expect_runtime_error(m: ModuleOp, args, op_name: str, text: str) -> None:
    with pytest.raises(InterpreterError) as info:
        run(m, "f", *args)
    diag = info.value.diagnostic
    assert diag.message.startswith(f"'{op_name}' op"), diag.message
    assert text in diag.message, diag.message
    assert diag.location == BAD
    assert "kernel.py:7:3" in diag.render()


shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)


# ------------------------------------------------------------------------ element access


@given(shapes, st.data())
def test_load_and_store_address_the_numpy_element(shape, data):
    arr = np.asarray(data.draw(st.lists(st.floats(-1e3, 1e3, width=32), min_size=math.prod(
        shape), max_size=math.prod(shape))), dtype=np.float32).reshape(shape)
    at = tuple(data.draw(st.integers(0, d - 1)) for d in shape)
    to = tuple(data.draw(st.integers(0, d - 1)) for d in shape)
    t = memref(shape, f32)

    def body(b, args):
        v = b.create(M.LoadOp, args[0], list(args[1:1 + len(shape)]))
        b.create(M.StoreOp, v.result, args[0], list(args[1 + len(shape):]))
        return [v.result]

    m = build([t, *[index] * (2 * len(shape))], [f32], body)
    expected = arr.copy()
    expected[to] = arr[at]
    got = run(m, "f", arr, *at, *to)
    assert got == arr[at] and isinstance(got, np.float32)
    np.testing.assert_array_equal(arr, expected)  # the buffer aliases the caller's array


@pytest.mark.parametrize(("elem", "check"), [
    (f32, np.isnan), (f64, np.isnan),
    (i32, lambda v: v == np.iinfo(np.int32).min), (i1, lambda v: v == np.True_)])
def test_fresh_buffers_hold_poison(elem, check):
    def body(b, args):
        a = b.create(M.AllocOp, result_types=[memref([3], elem)])
        v = b.create(M.LoadOp, a.result, [args[0]])
        b.create(M.DeallocOp, a.result)
        return [v.result]

    m = build([index], [elem], body)
    assert check(run(m, "f", 2))


# --------------------------------------------------------------------------------- views


def factorizations(n: int, max_rank: int = 3) -> list[tuple[int, ...]]:
    out = [(n,)]
    if max_rank > 1:
        for d in range(1, n + 1):
            if n % d == 0:
                out += [(d, *rest) for rest in factorizations(n // d, max_rank - 1)]
    return out


def draw_views(data, t, arr):
    """1-4 random views applied alike to type ``t`` and numpy view ``arr``; returns the
    builders of the view ops, and the final numpy view."""
    makers = []
    for _ in range(data.draw(st.integers(1, 4))):
        strides, _ = t.strides_and_offset()
        kinds = ["subview", "transpose"] + (["reshape"] if M.is_dense(t.shape, strides) else [])
        kind = data.draw(st.sampled_from(kinds))
        if kind == "subview":
            offs, sizes, steps = [], [], []
            for dim in t.shape:
                s = data.draw(st.integers(1, 3))
                o = data.draw(st.integers(0, dim - 1))
                offs.append(o)
                steps.append(s)
                sizes.append(data.draw(st.integers(1, (dim - 1 - o) // s + 1)))
            arr = arr[tuple(slice(o, o + (n - 1) * s + 1, s)
                            for o, n, s in zip(offs, sizes, steps))]
            t = M.subview_type(t, offs, sizes, steps)
            makers.append(lambda b, v, o=offs, n=sizes, s=steps: b.create(
                M.SubViewOp, v, static_offsets=o, static_sizes=n, static_strides=s))
        elif kind == "transpose":
            perm = list(data.draw(st.permutations(range(t.rank))))
            arr = arr.transpose(perm)
            t = M.transpose_type(t, perm)
            makers.append(lambda b, v, p=perm: b.create(M.TransposeOp, v, permutation=p))
        else:
            shape = data.draw(st.sampled_from(factorizations(math.prod(t.shape))))
            arr = arr.reshape(shape)
            t = M.reshape_type(t, shape)
            makers.append(lambda b, v, rt=t: b.create(M.ReshapeOp, v, result_types=[rt]))
    return makers, t, arr


@given(shapes, st.data())
def test_view_chains_read_and_write_the_numpy_elements(shape, data):
    base = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    makers, t, view = draw_views(data, memref(shape, i64), base)
    fill = int(data.draw(st.integers(-100, -1)))

    def body(b, args):
        v = args[0]
        for make in makers:
            v = make(b, v).result
        b.create(M.CopyOp, v, args[1])
        b.create(M.FillOp, constant(fill, i64, b), v)
        return [v]

    m = build([memref(shape, i64), memref(view.shape, i64)], [t], body)
    arr = base.copy()
    out = np.zeros(view.shape, dtype=np.int64)
    got = run(m, "f", arr, out)
    np.testing.assert_array_equal(out, view)  # read through the view
    assert got.shape == view.shape
    # ``view`` holds the storage index of each of its elements (the base is an arange).
    expected = base.copy()
    expected.reshape(-1)[view.reshape(-1)] = fill
    np.testing.assert_array_equal(arr, expected)
    np.testing.assert_array_equal(got, np.full(view.shape, fill))
    assert np.shares_memory(got, arr)


@given(st.integers(2, 6), st.integers(2, 6), st.data())
def test_copy_between_differently_strided_views(rows, cols, data):
    src = np.asarray(data.draw(st.lists(st.integers(-50, 50), min_size=rows * cols,
                                        max_size=rows * cols)), dtype=np.int32)
    src = src.reshape(rows, cols)
    dst = np.zeros((cols * 2, rows), dtype=np.int32)
    st_t = M.transpose_type(memref([rows, cols], i32), [1, 0])
    dv_t = M.subview_type(memref([cols * 2, rows], i32), [1, 0], [cols, rows], [2, 1])

    def body(b, args):
        t = b.create(M.TransposeOp, args[0], permutation=[1, 0])
        d = b.create(M.SubViewOp, args[1], static_offsets=[1, 0], static_sizes=[cols, rows],
                     static_strides=[2, 1])
        assert t.result.type == st_t and d.result.type == dv_t
        b.create(M.CopyOp, t.result, d.result)
        return []

    m = build([memref([rows, cols], i32), memref([cols * 2, rows], i32)], [], body)
    run(m, "f", src, dst)
    expected = np.zeros_like(dst)
    expected[1::2] = src.T
    np.testing.assert_array_equal(dst, expected)


def test_overlapping_copy_reads_the_source_first():
    def body(b, args):
        lo = b.create(M.SubViewOp, args[0], static_offsets=[0], static_sizes=[6],
                      static_strides=[1])
        hi = b.create(M.SubViewOp, args[0], static_offsets=[2], static_sizes=[6],
                      static_strides=[1])
        b.create(M.CopyOp, lo.result, hi.result)
        return []

    m = build([memref([8], f32)], [], body)
    arr = np.arange(8, dtype=np.float32)
    expected = arr.copy()
    expected[2:8] = arr[0:6].copy()
    run(m, "f", arr)
    np.testing.assert_array_equal(arr, expected)


# ------------------------------------------------------------------------ runtime errors


def _access(kind: str):
    def body(b, args):
        with b.located(BAD):
            if kind == "load":
                return [b.create(M.LoadOp, args[0], [args[1], args[2]]).result]
            b.create(M.StoreOp, constant(1.0, f32, b), args[0], [args[1], args[2]])
        return [constant(0.0, f32, b)]
    return build([memref([3, 4], f32), index, index], [f32], body)


@pytest.mark.parametrize("kind", ["load", "store"])
@pytest.mark.parametrize(("i", "j", "text"), [
    (3, 0, "index 3 out of bounds for dimension 0 of size 3"),
    (0, 4, "index 4 out of bounds for dimension 1 of size 4"),
    (-1, 0, "index -1 out of bounds for dimension 0"),
])
def test_out_of_bounds_access_is_a_located_error(kind, i, j, text):
    arr = np.zeros((3, 4), dtype=np.float32)
    expect_runtime_error(_access(kind), [arr, i, j], f"memory.{kind}", text)
    assert not arr.any()  # nothing was written


def test_out_of_bounds_in_a_view_is_checked_against_the_view():
    def body(b, args):
        sv = b.create(M.SubViewOp, args[0], static_offsets=[1], static_sizes=[2],
                      static_strides=[2])
        with b.located(BAD):
            v = b.create(M.LoadOp, sv.result, [args[1]])
        return [v.result]

    m = build([memref([8], f32), index], [f32], body)
    arr = np.arange(8, dtype=np.float32)
    assert run(m, "f", arr, 1) == 3.0
    expect_runtime_error(m, [arr, 2], "memory.load", "index 2 out of bounds for dimension 0 "
                                                     "of size 2")


@pytest.mark.parametrize("use", ["load", "store", "view", "fill", "copy", "dealloc"])
def test_use_after_free_is_a_located_error(use):
    t = memref([4], f32)

    def body(b, args):
        a = b.create(M.AllocOp, result_types=[t])
        with b.located(FileLineColLoc("kernel.py", 5, 1)):
            b.create(M.DeallocOp, a.result)
        c0 = constant(0, index, b)
        with b.located(BAD):
            if use == "load":
                b.create(M.LoadOp, a.result, [c0])
            elif use == "store":
                b.create(M.StoreOp, constant(1.0, f32, b), a.result, [c0])
            elif use == "view":
                b.create(M.SubViewOp, a.result, static_offsets=[0], static_sizes=[2],
                         static_strides=[1])
            elif use == "fill":
                b.create(M.FillOp, constant(1.0, f32, b), a.result)
            elif use == "copy":
                b.create(M.CopyOp, args[0], a.result)
            else:
                b.create(M.DeallocOp, a.result)
        return []

    m = build([t], [], body)
    name = {"view": "memory.subview"}.get(use, f"memory.{use}")
    expect_runtime_error(m, [np.zeros(4, dtype=np.float32)], name,
                         "uses a deallocated buffer (freed by 'memory.dealloc' at "
                         "kernel.py:5:1)")


def test_dealloc_through_a_view_frees_the_allocation():
    t = memref([4], f32)

    def body(b, args):
        a = b.create(M.AllocOp, result_types=[t])
        sv = b.create(M.SubViewOp, a.result, static_offsets=[1], static_sizes=[2],
                      static_strides=[1])
        b.create(M.DeallocOp, sv.result)
        with b.located(BAD):
            b.create(M.FillOp, constant(1.0, f32, b), a.result)
        return []

    expect_runtime_error(build([], [], body), [], "memory.fill", "deallocated buffer")
