"""Interpreter semantics of the vector dialect against numpy: transfers (and their bounds
checks), broadcast/insert/extract, fma and every reduction kind."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from avalon.backends.interpreter import InterpreterError, run
from avalon.ir.builder import Builder
from avalon.ir.dialects import arith as A
from avalon.ir.dialects import memory as M
from avalon.ir.dialects import vector as V
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.location import FileLineColLoc
from avalon.ir.types import FunctionType, f32, f64, i1, i8, i32, index, memref, vector
from avalon.ir.verifier import verify

LOC = FileLineColLoc("simd.py", 1, 1)
BAD = FileLineColLoc("simd.py", 4, 8)


def build(arg_types, result_types, body) -> ModuleOp:
    m = module()
    f = FuncOp.create("f", FunctionType(tuple(arg_types), tuple(result_types)), location=LOC)
    m.body.append(f)
    b = Builder.at_end(f.entry_block, LOC)
    results = body(b, f.entry_block.args)
    b.create(ReturnOp, list(results or ()))
    verify(m)
    return m


# ------------------------------------------------------------------------------ transfers


@given(st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple), st.data())
def test_load_and_store_move_consecutive_innermost_elements(shape, data):
    n = data.draw(st.integers(1, shape[-1]))
    src_at = [data.draw(st.integers(0, d - 1)) for d in shape[:-1]]
    src_at.append(data.draw(st.integers(0, shape[-1] - n)))
    dst_at = [data.draw(st.integers(0, d - 1)) for d in shape[:-1]]
    dst_at.append(data.draw(st.integers(0, shape[-1] - n)))
    t, vt, r = memref(shape, f32), vector([n], f32), len(shape)

    def body(b, args):
        v = b.create(V.LoadOp, args[0], list(args[2:2 + r]), result_types=[vt])
        b.create(V.StoreOp, v.result, args[1], list(args[2 + r:]))
        return [v.result]

    m = build([t, t, *[index] * (2 * r)], [vt], body)
    src = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    dst = np.zeros(shape, np.float32)
    got = run(m, "f", src, dst, *src_at, *dst_at)
    lead, last = tuple(src_at[:-1]), src_at[-1]
    np.testing.assert_array_equal(got, src[lead + (slice(last, last + n),)])
    expected = np.zeros(shape, np.float32)
    dl, dlast = tuple(dst_at[:-1]), dst_at[-1]
    expected[dl + (slice(dlast, dlast + n),)] = got
    np.testing.assert_array_equal(dst, expected)


def test_load_through_a_strided_view():
    # Rows 1 and 3 of a 4x6 buffer, columns 2..5: leading stride 12, unit innermost stride.
    view_t = M.subview_type(memref([4, 6], i32), [1, 2], [2, 4], [2, 1])

    def body(b, args):
        sv = b.create(M.SubViewOp, args[0], static_offsets=[1, 2], static_sizes=[2, 4],
                      static_strides=[2, 1])
        assert sv.result.type == view_t
        v = b.create(V.LoadOp, sv.result, [args[1], args[2]], result_types=[vector([3], i32)])
        return [v.result]

    m = build([memref([4, 6], i32), index, index], [vector([3], i32)], body)
    arr = np.arange(24, dtype=np.int32).reshape(4, 6)
    np.testing.assert_array_equal(run(m, "f", arr, 1, 1), arr[3, 3:6])
    np.testing.assert_array_equal(run(m, "f", arr, 0, 0), arr[1, 2:5])


def _transfer(kind: str):
    vt = vector([4], f32)

    def body(b, args):
        with b.located(BAD):
            if kind == "load":
                return [b.create(V.LoadOp, args[0], [args[1], args[2]], result_types=[vt])
                        .result]
            b.create(V.StoreOp, b.create(V.BroadcastOp, A.constant(1.0, f32, b),
                                         result_types=[vt]).result, args[0], [args[1], args[2]])
        return [b.create(V.BroadcastOp, A.constant(0.0, f32, b), result_types=[vt]).result]

    return build([memref([3, 8], f32), index, index], [vt], body)


@pytest.mark.parametrize("kind", ["load", "store"])
@pytest.mark.parametrize(("i", "j"), [(0, 5), (0, 7), (0, -1), (3, 0), (-1, 2)])
def test_partially_out_of_bounds_transfer_is_a_located_error(kind, i, j):
    arr = np.zeros((3, 8), np.float32)
    m = _transfer(kind)
    run(m, "f", arr, 2, 4)  # the last in-bounds position works
    arr[...] = 0
    with pytest.raises(InterpreterError) as info:
        run(m, "f", arr, i, j)
    diag = info.value.diagnostic
    assert diag.message == (f"'vector.{kind}' op vector of 4 elements at indices [{i}, {j}] "
                            f"is out of bounds for a memref of shape [3, 8]")
    assert diag.location == BAD
    assert not arr.any()  # a rejected store writes nothing


def test_transfer_after_free_is_reported():
    vt = vector([2], f32)

    def body(b, args):
        a = b.create(M.AllocOp, result_types=[memref([4], f32)])
        b.create(M.DeallocOp, a.result)
        with b.located(BAD):
            v = b.create(V.LoadOp, a.result, [args[0]], result_types=[vt])
        return [v.result]

    with pytest.raises(InterpreterError, match=r"'vector\.load' op uses a deallocated buffer"):
        run(build([index], [vt], body), "f", 0)


# ------------------------------------------------------------------- construct, take apart


@given(st.integers(1, 8), st.floats(-1e6, 1e6, width=32), st.data())
def test_broadcast_insert_extract(n, x, data):
    pos = data.draw(st.integers(0, n - 1))
    other = data.draw(st.integers(0, n - 1))
    vt = vector([n], f32)

    def body(b, args):
        bc = b.create(V.BroadcastOp, args[0], result_types=[vt])
        ins = b.create(V.InsertOp, args[1], args[2], static_position=[pos])
        ex = b.create(V.ExtractOp, ins.result, static_position=[other])
        return [bc.result, ins.result, ex.result]

    m = build([f32, f32, vt], [vt, vt, f32], body)
    base = np.arange(n, dtype=np.float32)
    bc, ins, ex = run(m, "f", np.float32(x), np.float32(-x), base)
    np.testing.assert_array_equal(bc, np.full(n, x, np.float32))
    expected = base.copy()
    expected[pos] = -x
    np.testing.assert_array_equal(ins, expected)
    np.testing.assert_array_equal(base, np.arange(n, dtype=np.float32))  # input untouched
    assert ex == expected[other] and isinstance(ex, np.float32)


@pytest.mark.parametrize("elem", [f32, f64])
@given(data=st.data())
def test_fma_equals_mulf_then_addf(elem, data):
    dtype = np.float32 if elem == f32 else np.float64
    n = data.draw(st.integers(1, 8))
    floats = st.floats(width=32 if elem == f32 else 64)  # infinities and NaN included
    a, b_, c = (np.asarray(data.draw(st.lists(floats, min_size=n, max_size=n)), dtype)
                for _ in range(3))
    vt = vector([n], elem)

    def body(b, args):
        fma = b.create(V.FMAOp, *args)
        unfused = b.create(A.AddFOp, b.create(A.MulFOp, args[0], args[1]).result, args[2])
        return [fma.result, unfused.result]

    fused, unfused = run(build([vt] * 3, [vt, vt], body), "f", a, b_, c)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(fused, a * b_ + c)
    np.testing.assert_array_equal(fused, unfused)
    assert fused.dtype == dtype


# ----------------------------------------------------------------------------- reductions


def _wrap(x: int, bits: int) -> int:
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def reference_reduction(kind: str, values: list, elem) -> object:
    """Left fold in plain Python (ints wrapped to the type, i1 as a signed 1-bit integer,
    floats rounded to the type after each step)."""
    if elem in (f32, f64):
        dtype = np.float32 if elem == f32 else np.float64
        ops = {"add": lambda x, y: dtype(x + y), "mul": lambda x, y: dtype(x * y),
               "max": lambda x, y: x if np.isnan(x) or x > y else (y if x != y else x),
               "min": lambda x, y: x if np.isnan(x) or x < y else (y if x != y else x)}
        with np.errstate(all="ignore"):
            return functools.reduce(ops[kind], [dtype(v) for v in values])
    bits = 1 if elem == i1 else elem.width
    ops = {"add": lambda x, y: x + y, "mul": lambda x, y: x * y, "max": max, "min": min,
           "and": lambda x, y: x & y, "or": lambda x, y: x | y, "xor": lambda x, y: x ^ y}
    signed = [_wrap(int(v), bits) for v in values]
    out = signed[0]
    for v in signed[1:]:
        out = _wrap(ops[kind](out, v), bits)
    return bool(out & 1) if elem == i1 else out


ELEMS = {"f32": (f32, np.float32), "f64": (f64, np.float64), "i8": (i8, np.int8),
         "i32": (i32, np.int32), "i1": (i1, np.bool_)}


@pytest.mark.parametrize("elem_name", list(ELEMS))
@given(data=st.data())
def test_reduction_kinds_fold_left_to_right(elem_name, data):
    elem, dtype = ELEMS[elem_name]
    kinds = V.REDUCTION_KINDS if elem not in (f32, f64) else ("add", "mul", "max", "min")
    kind = data.draw(st.sampled_from(kinds))
    n = data.draw(st.integers(1, 8))
    with_acc = data.draw(st.booleans())
    if elem in (f32, f64):
        scalars = st.floats(-1e4, 1e4, width=32 if elem == f32 else 64)
    elif elem == i1:
        scalars = st.booleans()
    else:
        info = np.iinfo(dtype)
        scalars = st.integers(int(info.min), int(info.max))
    values = data.draw(st.lists(scalars, min_size=n, max_size=n))
    acc = data.draw(scalars)
    vt = vector([n], elem)

    def body(b, args):
        operands = [args[0], args[1]] if with_acc else [args[0]]
        return [b.create(V.ReductionOp, *operands, kind=kind).result]

    m = build([vt, elem], [elem], body)
    got = run(m, "f", np.asarray(values, dtype), dtype(acc))
    expected = reference_reduction(kind, [acc, *values] if with_acc else values, elem)
    assert isinstance(got, dtype) if dtype is not np.bool_ else isinstance(got, np.bool_)
    if elem in (f32, f64):
        np.testing.assert_array_equal(got, expected)
    else:
        assert got == expected, (kind, values, acc, got, expected)


def test_float_max_and_min_propagate_nan():
    vt = vector([3], f32)

    def body(b, args):
        return [b.create(V.ReductionOp, args[0], kind=k).result for k in ("max", "min")]

    m = build([vt], [f32, f32], body)
    hi, lo = run(m, "f", np.asarray([1.0, np.nan, 3.0], np.float32))
    assert np.isnan(hi) and np.isnan(lo)
    hi, lo = run(m, "f", np.asarray([1.0, -2.0, 3.0], np.float32))
    assert (hi, lo) == (3.0, -2.0)
