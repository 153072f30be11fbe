"""Interpreter semantics of the tensor dialect against independent references.

Each op is run through ``avalon.backends.interpreter.run`` on a one-op function and compared
with a reference written differently from the implementation: Python scalar math per element,
explicit index loops for data movement, matmul, convolution and pooling, and a pure-Python
Philox for the random ops.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import avalon.ir.dialects  # noqa: F401  (registers every dialect)
from avalon.backends.interpreter import InterpreterError, run
from avalon.backends.interpreter.tensor_impl import cast_array, erf, philox4x32_10
from avalon.ir.affine import AffineMap, dim
from avalon.ir.attributes import DenseElementsAttr, FloatAttr, IntegerAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Operation
from avalon.ir.dialects import tensor as T
from avalon.ir.dialects.builtin import module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.location import FileLineColLoc
from avalon.ir.types import (
    FunctionType,
    TensorType,
    bf16,
    f16,
    f32,
    f64,
    from_numpy_dtype,
    i1,
    i8,
    i32,
    i64,
    tensor,
)
from avalon.ir.verifier import verify

LOC = FileLineColLoc("model.py", 7, 3)


def call(build, *arrays, types=None):
    """Interpret a function of ``arrays`` whose body ``build(b, *args)`` returns its results."""
    in_types = list(types) if types else [tensor(a.shape, from_numpy_dtype(a.dtype))
                                          for a in arrays]
    f = FuncOp.create("f", FunctionType(tuple(in_types), ()))
    b = Builder.at_end(f.entry_block, LOC)
    results = build(b, *f.entry_block.args)
    results = results if isinstance(results, list | tuple) else [results]
    values = [r.result if isinstance(r, Operation) else r for r in results]
    f.set_type(FunctionType(tuple(in_types), tuple(v.type for v in values)))
    b.create(ReturnOp, values)
    m = module([f])
    verify(m)
    return run(m, "f", *arrays)


def shapes(min_rank=0, max_rank=3, max_side=4):
    return st.lists(st.integers(1, max_side), min_size=min_rank, max_size=max_rank).map(tuple)


def floats(dtype=np.float32, lo=-10.0, hi=10.0):
    width = np.dtype(dtype).itemsize * 8
    lo, hi = float(np.array(lo, dtype)), float(np.array(hi, dtype))
    return st.floats(lo, hi, width=width, allow_nan=False, allow_infinity=False)


def float_arrays(shape, dtype=np.float32, lo=-10.0, hi=10.0):
    return arrays(dtype, shape, elements=floats(dtype, lo, hi))


def int_arrays(shape, dtype=np.int32, lo=-100, hi=100):
    return arrays(dtype, shape, elements=st.integers(lo, hi))


def per_element(fn, *xs, dtype):
    """Apply scalar Python ``fn`` to each element position (the independent reference)."""
    out = np.empty(xs[0].shape, dtype=dtype)
    for idx in np.ndindex(*xs[0].shape):
        out[idx] = fn(*(x[idx].item() for x in xs))
    return out


# -------------------------------------------------------------------------- elementwise

UNARY_FLOAT = {
    "exp": (T.ExpOp, math.exp, (-5, 5)),
    "log": (T.LogOp, math.log, (0.01, 50)),
    "tanh": (T.TanhOp, math.tanh, (-5, 5)),
    "sqrt": (T.SqrtOp, math.sqrt, (0, 50)),
    "rsqrt": (T.RsqrtOp, lambda v: 1 / math.sqrt(v), (0.01, 50)),
    "sin": (T.SinOp, math.sin, (-6, 6)),
    "cos": (T.CosOp, math.cos, (-6, 6)),
    "erf": (T.ErfOp, math.erf, (-7, 7)),
    "log1p": (T.Log1pOp, math.log1p, (-0.9, 5)),
    "expm1": (T.Expm1Op, math.expm1, (-5, 5)),
    "floor": (T.FloorOp, math.floor, (-9, 9)),
    "ceil": (T.CeilOp, math.ceil, (-9, 9)),
    "neg": (T.NegOp, lambda v: -v, (-9, 9)),
    "abs": (T.AbsOp, abs, (-9, 9)),
    "sign": (T.SignOp, lambda v: (v > 0) - (v < 0), (-3, 3)),
}


@pytest.mark.parametrize("name", sorted(UNARY_FLOAT))
@given(data=st.data())
def test_unary_float(name, data):
    cls, ref, (lo, hi) = UNARY_FLOAT[name]
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    x = data.draw(float_arrays(data.draw(shapes()), dtype, lo, hi))
    got = call(lambda b, a: b.create(cls, a), x)
    assert got.dtype == dtype and got.shape == x.shape
    want = per_element(ref, x, dtype=np.float64)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


@given(x=float_arrays((200,), np.float64, -7, 7))
def test_erf_series_is_accurate(x):
    want = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), want, rtol=4e-15, atol=1e-16)


def test_erf_special_values():
    got = erf(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 30.0]))
    assert got[0] == 0 and got[2] == 1 and got[3] == -1 and np.isnan(got[4]) and got[5] == 1


def test_sign_keeps_zeros_and_nan():
    x = np.array([-0.0, 0.0, np.nan, -2.5, 3.0], np.float32)
    got = call(lambda b, a: b.create(T.SignOp, a), x)
    assert np.signbit(got[0]) and not np.signbit(got[1]) and np.isnan(got[2])
    assert list(got[3:]) == [-1.0, 1.0]


@given(data=st.data())
def test_unary_int(data):
    x = data.draw(int_arrays(data.draw(shapes()), np.int32, -2**31, 2**31 - 1))
    for cls, ref in ((T.NegOp, lambda v: -v), (T.AbsOp, abs),
                     (T.SignOp, lambda v: (v > 0) - (v < 0)), (T.NotOp, lambda v: -v - 1)):
        got = call(lambda b, a, cls=cls: b.create(cls, a), x)
        want = per_element(lambda v, ref=ref: (ref(v) + 2**31) % 2**32 - 2**31, x,
                           dtype=np.int32)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)


def test_not_on_i1_is_logical():
    x = np.array([True, False, True])
    np.testing.assert_array_equal(call(lambda b, a: b.create(T.NotOp, a), x), [0, 1, 0])


def c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


BINARY_FLOAT = {
    "add": (T.AddOp, lambda a, b: a + b),
    "sub": (T.SubOp, lambda a, b: a - b),
    "mul": (T.MulOp, lambda a, b: a * b),
    "div": (T.DivOp, lambda a, b: a / b),
    "rem": (T.RemOp, math.fmod),
    "max": (T.MaxOp, max),
    "min": (T.MinOp, min),
    "pow": (T.PowOp, lambda a, b: abs(a) ** b),
}


@pytest.mark.parametrize("name", sorted(BINARY_FLOAT))
@given(data=st.data())
def test_binary_float(name, data):
    cls, ref = BINARY_FLOAT[name]
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    shape = data.draw(shapes())
    x = data.draw(float_arrays(shape, dtype, -4, 4))
    y = data.draw(float_arrays(shape, dtype, 0.5, 3))
    if name == "pow":
        x = np.abs(x)
    got = call(lambda b, p, q: b.create(cls, p, q), x, y)
    assert got.dtype == dtype
    want = per_element(ref, x, y, dtype=np.float64)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6 * rtol)


BINARY_INT = {
    "add": (T.AddOp, lambda a, b: a + b),
    "sub": (T.SubOp, lambda a, b: a - b),
    "mul": (T.MulOp, lambda a, b: a * b),
    "div": (T.DivOp, c_div),
    "rem": (T.RemOp, lambda a, b: a - c_div(a, b) * b),
    "max": (T.MaxOp, max),
    "min": (T.MinOp, min),
    "and": (T.AndOp, lambda a, b: a & b),
    "or": (T.OrOp, lambda a, b: a | b),
    "xor": (T.XorOp, lambda a, b: a ^ b),
}


@pytest.mark.parametrize("name", sorted(BINARY_INT))
@given(data=st.data())
def test_binary_int_wraps(name, data):
    cls, ref = BINARY_INT[name]
    shape = data.draw(shapes())
    x = data.draw(int_arrays(shape, np.int8, -128, 127))
    y = data.draw(int_arrays(shape, np.int8, -128, 127).filter(lambda a: a.all()))
    got = call(lambda b, p, q: b.create(cls, p, q), x, y)
    assert got.dtype == np.int8
    want = per_element(lambda a, b: (ref(a, b) + 128) % 256 - 128, x, y, dtype=np.int8)
    np.testing.assert_array_equal(got, want)


def test_integer_division_by_zero_is_a_located_error():
    x, y = np.array([4, 5], np.int32), np.array([1, 0], np.int32)
    with pytest.raises(InterpreterError) as info:
        call(lambda b, p, q: b.create(T.DivOp, p, q), x, y)
    assert "divides by zero" in str(info.value) and info.value.diagnostic.location == LOC


def test_float_division_by_zero_follows_ieee():
    x, y = np.array([1.0, -1.0, 0.0], np.float32), np.zeros(3, np.float32)
    got = call(lambda b, p, q: b.create(T.DivOp, p, q), x, y)
    assert got[0] == np.inf and got[1] == -np.inf and np.isnan(got[2])


def test_max_min_propagate_nan_and_order_zeros():
    x = np.array([np.nan, 1.0, -0.0, 0.0], np.float32)
    y = np.array([1.0, np.nan, 0.0, -0.0], np.float32)
    mx = call(lambda b, p, q: b.create(T.MaxOp, p, q), x, y)
    mn = call(lambda b, p, q: b.create(T.MinOp, p, q), x, y)
    assert np.isnan(mx[:2]).all() and np.isnan(mn[:2]).all()
    assert not np.signbit(mx[2:]).any() and np.signbit(mn[2:]).all()


@given(data=st.data())
def test_bf16_arithmetic_rounds_once(data):
    x = data.draw(float_arrays((5,), np.float32, -4, 4))
    y = data.draw(float_arrays((5,), np.float32, -4, 4))
    t = tensor((5,), bf16)
    xb, yb = (np.array([FloatAttr(v, bf16).value for v in a], np.float32) for a in (x, y))
    got = call(lambda b, p, q: b.create(T.MulOp, p, q), xb, yb, types=[t, t])
    want = [FloatAttr(float(p) * float(q), bf16).value for p, q in zip(xb, yb)]
    np.testing.assert_array_equal(got, np.array(want, np.float32))


PREDICATES = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
              "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}


@pytest.mark.parametrize("pred", sorted(PREDICATES))
@given(data=st.data())
def test_cmp(pred, data):
    shape = data.draw(shapes())
    if data.draw(st.booleans()):
        x = data.draw(int_arrays(shape, np.int64, -3, 3))
        y = data.draw(int_arrays(shape, np.int64, -3, 3))
    else:
        vals = st.sampled_from([-1.5, 0.0, 2.0, np.nan])
        x, y = (data.draw(arrays(np.float64, shape, elements=vals)) for _ in range(2))
    got = call(lambda b, p, q: b.create(T.CmpOp, p, q, predicate=pred), x, y)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, per_element(PREDICATES[pred], x, y, dtype=bool))


def test_cmp_i1_is_unsigned():
    x, y = np.array([False, True]), np.array([True, False])
    got = call(lambda b, p, q: b.create(T.CmpOp, p, q, predicate="lt"), x, y)
    np.testing.assert_array_equal(got, [True, False])


@given(data=st.data())
def test_select(data):
    shape = data.draw(shapes())
    c = data.draw(arrays(np.bool_, shape))
    x, y = (data.draw(int_arrays(shape, np.int16)) for _ in range(2))
    got = call(lambda b, p, q, r: b.create(T.SelectOp, p, q, r), c, x, y)
    np.testing.assert_array_equal(got, per_element(lambda k, a, b: a if k else b, c, x, y,
                                                   dtype=np.int16))


def ref_cast(v, dst):
    if dst == "bool":
        return v != 0
    if dst.startswith("float"):
        return float(v)
    info = np.iinfo(dst)
    if isinstance(v, float):
        if math.isnan(v):
            return 0
        if math.isinf(v):
            return info.max if v > 0 else info.min
        return min(max(math.trunc(v), info.min), info.max)
    return (int(v) - info.min) % (1 << info.bits) + info.min


@given(data=st.data())
def test_cast(data):
    src = data.draw(st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.bool_]))
    dst = data.draw(st.sampled_from([np.float32, np.float64, np.int32, np.int8, np.bool_]))
    shape = data.draw(shapes(max_rank=2))
    if src == np.bool_:
        x = data.draw(arrays(np.bool_, shape))
    elif np.dtype(src).kind == "f":
        special = st.sampled_from([np.nan, np.inf, -np.inf, 1e10, -1e10, -0.5, 2.75, 300.0])
        x = data.draw(arrays(src, shape, elements=st.one_of(floats(src, -1e3, 1e3), special)))
    else:  # within 2**53, so the Python reference converts to float exactly
        info = np.iinfo(src)
        x = data.draw(int_arrays(shape, src, max(info.min, -2**53), min(info.max, 2**53)))
    rt = tensor(shape, from_numpy_dtype(dst))
    got = call(lambda b, a: b.create(T.CastOp, a, result_types=[rt]), x)
    assert got.dtype == dst
    want = per_element(lambda v: ref_cast(v, np.dtype(dst).name), x, dtype=dst)
    np.testing.assert_array_equal(got, want)


def test_cast_to_bf16_rounds_to_nearest_even():
    x = np.array([1.0 + 2**-8, 1.0 + 3 * 2**-8, 257], np.float64)
    got = cast_array(x, f64, bf16)
    assert got.dtype == np.float32 and list(got) == [1.0, 1.015625, 256.0]


# ------------------------------------------------------------------------- data movement


@given(data=st.data())
def test_broadcast(data):
    rshape = data.draw(shapes(1, 4))
    dims = sorted(data.draw(st.sets(st.integers(0, len(rshape) - 1))))
    oshape = tuple(data.draw(st.sampled_from([1, rshape[d]])) for d in dims)
    x = data.draw(int_arrays(oshape))
    rt = tensor(rshape, i32)
    got = call(lambda b, a: b.create(T.BroadcastOp, a, dims=dims, result_types=[rt]), x)
    assert got.shape == rshape
    for idx in np.ndindex(*rshape):
        src = tuple(0 if oshape[i] == 1 else idx[d] for i, d in enumerate(dims))
        assert got[idx] == x[src]


@given(data=st.data())
def test_reshape_and_transpose(data):
    shape = data.draw(shapes(1, 4))
    x = data.draw(int_arrays(shape))
    perm = data.draw(st.permutations(range(len(shape))))
    got = call(lambda b, a: b.create(T.TransposeOp, a, permutation=perm), x)
    for idx in np.ndindex(*got.shape):
        src = [0] * len(shape)
        for i, p in enumerate(perm):
            src[p] = idx[i]
        assert got[idx] == x[tuple(src)]
    flat = [x[idx] for idx in np.ndindex(*shape)]
    new = (len(flat),)
    got = call(lambda b, a: b.create(T.ReshapeOp, a, result_types=[tensor(new, i32)]), x)
    assert list(got) == flat


@given(data=st.data())
def test_slice(data):
    shape = data.draw(shapes(1, 3, 6))
    x = data.draw(int_arrays(shape))
    start, limit, stride = [], [], []
    for n in shape:
        s = data.draw(st.integers(0, n))
        start.append(s)
        limit.append(data.draw(st.integers(s, n)))
        stride.append(data.draw(st.integers(1, 3)))
    got = call(lambda b, a: b.create(T.SliceOp, a, start=start, limit=limit, stride=stride), x)
    want_shape = tuple(len(range(s, e, k)) for s, e, k in zip(start, limit, stride))
    assert got.shape == want_shape
    for idx in np.ndindex(*want_shape):
        assert got[idx] == x[tuple(s + i * k for i, s, k in zip(idx, start, stride))]


@given(data=st.data())
def test_pad(data):
    shape = data.draw(shapes(1, 3))
    x = data.draw(float_arrays(shape))
    r = len(shape)
    low, high, inner = (data.draw(st.lists(st.integers(0, 2), min_size=r, max_size=r))
                        for _ in range(3))
    v = np.array(-7.5, np.float32)
    got = call(lambda b, a, p: b.create(T.PadOp, a, p, low=low, high=high, interior=inner),
               x, v)
    assert got.shape == tuple(lo + n + (n - 1) * k + hi
                              for n, lo, hi, k in zip(shape, low, high, inner))
    placed = {tuple(lo + j * (k + 1) for j, lo, k in zip(idx, low, inner)): x[idx]
              for idx in np.ndindex(*shape)}
    for idx in np.ndindex(*got.shape):
        assert got[idx] == placed.get(idx, -7.5)


@given(data=st.data())
def test_concat(data):
    shape = data.draw(shapes(1, 3))
    d = data.draw(st.integers(0, len(shape) - 1))
    parts = []
    for _ in range(data.draw(st.integers(1, 3))):
        s = list(shape)
        s[d] = data.draw(st.integers(0, 3))
        parts.append(data.draw(int_arrays(tuple(s))))
    got = call(lambda b, *args: b.create(T.ConcatOp, list(args), dim=d), *parts)
    offset = 0
    for p in parts:
        for idx in np.ndindex(*p.shape):
            j = list(idx)
            j[d] += offset
            assert got[tuple(j)] == p[idx]
        offset += p.shape[d]
    assert got.shape[d] == offset


@given(data=st.data())
def test_gather_take_along_axis(data):
    shape = data.draw(shapes(1, 3))
    d = data.draw(st.integers(0, len(shape) - 1))
    x = data.draw(float_arrays(shape))
    ishape = list(shape)
    ishape[d] = data.draw(st.integers(0, 4))
    idx = data.draw(int_arrays(tuple(ishape), np.int32, 0, shape[d] - 1))
    got = call(lambda b, a, i: b.create(T.GatherOp, a, i, dim=d), x, idx)
    assert got.shape == tuple(ishape)
    for j in np.ndindex(*ishape):
        src = list(j)
        src[d] = idx[j]
        assert got[j] == x[tuple(src)]


@pytest.mark.parametrize("bad", [-1, 3])
def test_gather_out_of_range_is_a_located_error(bad):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    idx = np.array([[0], [bad]], np.int64)
    with pytest.raises(InterpreterError) as info:
        call(lambda b, a, i: b.create(T.GatherOp, a, i, dim=1), x, idx)
    msg = str(info.value.diagnostic.message)
    assert f"index {bad} at position (1, 0) is out of range" in msg
    assert info.value.diagnostic.location == LOC


@given(data=st.data())
def test_iota(data):
    shape = data.draw(shapes(1, 3))
    d = data.draw(st.integers(0, len(shape) - 1))
    et = data.draw(st.sampled_from([i64, i32, f32]))
    got = call(lambda b: b.create(T.IotaOp, dim=d, result_types=[tensor(shape, et)]))
    for idx in np.ndindex(*shape):
        assert got[idx] == idx[d]


def test_empty_is_poisoned():
    got = call(lambda b: b.create(T.EmptyOp, result_types=[tensor((2,), f32)]))
    assert np.isnan(got).all()


def test_constant():
    attr = DenseElementsAttr(np.arange(6).reshape(2, 3), tensor((2, 3), f16))
    got = call(lambda b: b.create(T.ConstantOp, value=attr))
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, np.arange(6).reshape(2, 3))


# -------------------------------------------------------------------------------- reductions

REDUCERS = {"sum": (sum, 0), "prod": (math.prod, 1), "max": (max, -math.inf),
            "min": (min, math.inf)}


@pytest.mark.parametrize("kind", sorted(REDUCERS))
@given(data=st.data())
def test_reduce(kind, data):
    shape = tuple(data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3)))
    dims = sorted(data.draw(st.sets(st.integers(0, len(shape) - 1))))
    is_int = data.draw(st.booleans())
    x = (data.draw(int_arrays(shape, np.int64, -5, 5)) if is_int
         else data.draw(float_arrays(shape, np.float32, -2, 2)))
    got = call(lambda b, a: b.create(T.ReduceOp, a, kind=kind, dims=dims), x)
    assert got.dtype == x.dtype
    fn, identity = REDUCERS[kind]
    if is_int and kind in ("max", "min"):
        identity = np.iinfo(np.int64).min if kind == "max" else np.iinfo(np.int64).max
    kept = [i for i in range(len(shape)) if i not in dims]
    for out_idx in np.ndindex(*(shape[i] for i in kept)):
        vals = []
        for red_idx in np.ndindex(*(shape[i] for i in dims)):
            full = [0] * len(shape)
            for i, v in zip(kept, out_idx):
                full[i] = v
            for i, v in zip(dims, red_idx):
                full[i] = v
            vals.append(x[tuple(full)].item())
        want = fn(vals) if vals else identity
        np.testing.assert_allclose(got[out_idx], want, rtol=1e-5, atol=1e-5)


def test_reduce_i1_any_all():
    x = np.array([[True, False], [False, False]])
    anyv = call(lambda b, a: b.create(T.ReduceOp, a, kind="max", dims=[1]), x)
    allv = call(lambda b, a: b.create(T.ReduceOp, a, kind="min", dims=[0]), x)
    assert list(anyv) == [True, False] and list(allv) == [False, False]


@given(data=st.data())
def test_argmax(data):
    shape = data.draw(shapes(1, 3))
    d = data.draw(st.integers(0, len(shape) - 1))
    x = data.draw(int_arrays(shape, np.int32, -3, 3))
    got = call(lambda b, a: b.create(T.ArgmaxOp, a, dim=d), x)
    assert got.dtype == np.int64
    for idx in np.ndindex(*got.shape):
        line = [x[(*idx[:d], k, *idx[d:])] for k in range(shape[d])]
        assert got[idx] == line.index(max(line))


def test_argmax_nan_wins():
    x = np.array([[1.0, np.nan, 5.0, np.nan]], np.float32)
    assert call(lambda b, a: b.create(T.ArgmaxOp, a, dim=1), x)[0] == 1


# ---------------------------------------------------------------------------- contractions


@given(data=st.data())
def test_matmul(data):
    batch = data.draw(shapes(0, 2, 3))
    m, k, n = (data.draw(st.integers(1, 4)) for _ in range(3))
    dtype = data.draw(st.sampled_from([np.float32, np.float64, np.int32]))
    make = (lambda s: int_arrays(s, dtype, -5, 5)) if dtype == np.int32 else (
        lambda s: float_arrays(s, dtype, -2, 2))
    a, b_ = data.draw(make((*batch, m, k))), data.draw(make((*batch, k, n)))
    got = call(lambda b, p, q: b.create(T.MatmulOp, p, q), a, b_)
    assert got.dtype == dtype and got.shape == (*batch, m, n)
    for bi in np.ndindex(*batch):
        for i in range(m):
            for j in range(n):
                want = sum(a[(*bi, i, kk)].item() * b_[(*bi, kk, j)].item() for kk in range(k))
                np.testing.assert_allclose(got[(*bi, i, j)], want, rtol=1e-5, atol=1e-5)


@st.composite
def conv_cases(draw):
    nsp = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 2))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    n = draw(st.integers(1, 2))
    ks = [draw(st.integers(1, 3)) for _ in range(nsp)]
    stride = [draw(st.integers(1, 2)) for _ in range(nsp)]
    dil = [draw(st.integers(1, 2)) for _ in range(nsp)]
    lo = [draw(st.integers(0, 2)) for _ in range(nsp)]
    hi = [draw(st.integers(0, 2)) for _ in range(nsp)]
    sizes = [draw(st.integers(max(1, (k - 1) * d + 1 - a - b_), (k - 1) * d + 3))
             for k, d, a, b_ in zip(ks, dil, lo, hi)]
    x = draw(float_arrays((n, c, *sizes), np.float64, -2, 2))
    w = draw(float_arrays((o, c // groups, *ks), np.float64, -2, 2))
    return x, w, stride, lo, hi, dil, groups


@given(case=conv_cases())
def test_conv(case):
    x, w, stride, lo, hi, dil, groups = case
    got = call(lambda b, p, q: b.create(T.ConvOp, p, q, stride=stride, padding_low=lo,
                                        padding_high=hi, dilation=dil, groups=groups), x, w)
    o, cg = w.shape[:2]
    og = o // groups
    for idx in np.ndindex(*got.shape):
        b_, oc, pos = idx[0], idx[1], idx[2:]
        g = oc // og
        total = 0.0
        for ci in range(cg):
            for kpos in np.ndindex(*w.shape[2:]):
                src = [p * s + k * d - a for p, s, k, d, a in zip(pos, stride, kpos, dil, lo)]
                if all(0 <= q < size for q, size in zip(src, x.shape[2:])):
                    total += x[(b_, g * cg + ci, *src)] * w[(oc, ci, *kpos)]
        np.testing.assert_allclose(got[idx], total, rtol=1e-12, atol=1e-12)


def test_conv_f32_and_int_keep_their_dtype():
    x = np.ones((1, 2, 4), np.int32)
    w = np.ones((2, 2, 3), np.int32)
    got = call(lambda b, p, q: b.create(T.ConvOp, p, q, stride=[1], padding_low=[1],
                                        padding_high=[1], dilation=[1], groups=1), x, w)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got[0, 0], [4, 6, 6, 4])


@st.composite
def pool_cases(draw):
    nsp = draw(st.integers(1, 2))
    lead = draw(shapes(0, 2, 2))
    window = [draw(st.integers(1, 3)) for _ in range(nsp)]
    stride = [draw(st.integers(1, 2)) for _ in range(nsp)]
    lo = [draw(st.integers(0, k - 1)) for k in window]
    hi = [draw(st.integers(0, k - 1)) for k in window]
    sizes = [draw(st.integers(max(1, k - a - b_), k + 3))
             for k, a, b_ in zip(window, lo, hi)]
    x = draw(float_arrays((*lead, *sizes), np.float64, -3, 3))
    return x, window, stride, lo, hi


@pytest.mark.parametrize("mode", ["max", "avg-include", "avg-exclude"])
@given(case=pool_cases())
def test_pool(mode, case):
    x, window, stride, lo, hi = case
    kind = mode[:3]
    extra = {} if kind == "max" else {"count_include_pad": mode == "avg-include"}
    got = call(lambda b, a: b.create(T.PoolOp, a, kind=kind, window=window, stride=stride,
                                     padding_low=lo, padding_high=hi, **extra), x)
    nsp = len(window)
    sizes = x.shape[x.ndim - nsp:]
    for idx in np.ndindex(*got.shape):
        lead, pos = idx[:x.ndim - nsp], idx[x.ndim - nsp:]
        vals = []
        for kpos in np.ndindex(*window):
            src = [p * s + k - a for p, s, k, a in zip(pos, stride, kpos, lo)]
            if all(0 <= q < n for q, n in zip(src, sizes)):
                vals.append(x[(*lead, *src)])
        if kind == "max":
            want = max(vals)
        elif mode == "avg-include":
            want = sum(vals) / math.prod(window)
        else:
            want = sum(vals) / len(vals)
        np.testing.assert_allclose(got[idx], want, rtol=1e-12, atol=1e-12)


def test_max_pool_on_integers():
    x = np.array([[[-5, -9, -2, -7]]], np.int16)
    got = call(lambda b, a: b.create(T.PoolOp, a, kind="max", window=[2], stride=[2],
                                     padding_low=[1], padding_high=[1]), x)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got[0, 0], [-5, -2, -7])


# ------------------------------------------------------------------------------ random


def philox_scalar(ctr, key):
    """Philox-4x32-10 on Python integers (independent of the vectorised implementation)."""
    c, k = list(ctr), list(key)
    for _ in range(10):
        hi0, lo0 = divmod(0xD2511F53 * c[0], 1 << 32)
        hi1, lo1 = divmod(0xCD9E8D57 * c[2], 1 << 32)
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
        k = [(k[0] + 0x9E3779B9) % (1 << 32), (k[1] + 0xBB67AE85) % (1 << 32)]
    return c


KATS = [  # Random123's published known answers for Philox-4x32-10.
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize(("ctr", "key", "want"), KATS)
def test_philox_known_answers(ctr, key, want):
    assert tuple(philox_scalar(ctr, key)) == want
    words = philox4x32_10(*(np.array([c], np.uint64) for c in ctr), *key)
    assert tuple(int(w[0]) for w in words) == want


def stream(seed, count):
    bits = seed % (1 << 64)
    key = (bits & 0xFFFFFFFF, bits >> 32)
    words = []
    block = 0
    while len(words) < count:
        words += philox_scalar((block & 0xFFFFFFFF, block >> 32, 0, 0), key)
        block += 1
    return words[:count]


@given(seed=st.integers(-2**63, 2**63 - 1))
def test_random_uniform_matches_the_documented_stream(seed):
    s = np.array(seed, np.int64)
    t32, t64, t16 = tensor((2, 3), f32), tensor((5,), f64), tensor((3,), bf16)
    got32, got64, got16 = call(
        lambda b, sd: [b.create(T.RandomUniformOp, sd, result_types=[t]) for t in
                       (t32, t64, t16)], s)
    w = stream(seed, 10)
    assert got32.dtype == np.float32 and got64.dtype == np.float64
    np.testing.assert_array_equal(got32.reshape(-1), [(v >> 8) * 2.0**-24 for v in w[:6]])
    np.testing.assert_array_equal(
        got64, [((w[2 * i] >> 5) * 2**26 + (w[2 * i + 1] >> 6)) * 2.0**-53 for i in range(5)])
    np.testing.assert_array_equal(got16, [(v >> 24) / 256 for v in w[:3]])


def test_random_is_deterministic_and_well_distributed():
    t = tensor((4000,), f32)

    def draw(seed, cls):
        return call(lambda b, sd: b.create(cls, sd, result_types=[t]),
                    np.array(seed, np.int64))

    u1, u2 = draw(3, T.RandomUniformOp), draw(3, T.RandomUniformOp)
    u3 = draw(4, T.RandomUniformOp)
    np.testing.assert_array_equal(u1, u2)
    assert not np.array_equal(u1, u3)
    assert u1.min() >= 0 and u1.max() < 1 and abs(u1.mean() - 0.5) < 0.03
    z = draw(11, T.RandomNormalOp)
    assert z.dtype == np.float32 and abs(z.mean()) < 0.08 and abs(z.std() - 1) < 0.08
    w = stream(11, 4)
    u1_ = ((w[0] >> 5) * 2**26 + (w[1] >> 6)) * 2.0**-53
    u2_ = ((w[2] >> 5) * 2**26 + (w[3] >> 6)) * 2.0**-53
    want = math.sqrt(-2 * math.log(1 - u1_)) * math.cos(2 * math.pi * u2_)
    assert z[0] == pytest.approx(want, rel=1e-6)


# ------------------------------------------------------------------------------ generic


def scalar(b, name, operands, t):
    return b.insert(Operation.create(name, operands, [t])).result


@given(data=st.data())
def test_generic_contraction_with_transposed_output(data):
    """out[j, i] = init[j, i] + sum_k a[i, k] * c[k, j], loops (i, j, k) reordered."""
    i, j, k = (data.draw(st.integers(1, 4)) for _ in range(3))
    a = data.draw(float_arrays((i, k), np.float64, -2, 2))
    c = data.draw(float_arrays((k, j), np.float64, -2, 2))
    init = data.draw(float_arrays((j, i), np.float64, -2, 2))
    # loop order (k, j, i): d0 = k (reduction), d1 = j, d2 = i
    maps = [AffineMap(3, 0, (dim(2), dim(0))), AffineMap(3, 0, (dim(0), dim(1))),
            AffineMap(3, 0, (dim(1), dim(2)))]

    def build(b, p, q, r):
        def body(bb, args):
            prod = scalar(bb, "arith.mulf", [args[0], args[1]], f64)
            return [scalar(bb, "arith.addf", [args[2], prod], f64)]
        return T.GenericOp.create_with_body(b, [p, q], [r], maps,
                                            ["reduction", "parallel", "parallel"], body)

    got = call(build, a, c, init)
    want = init.copy()
    for ii in range(i):
        for jj in range(j):
            for kk in range(k):
                want[jj, ii] += a[ii, kk] * c[kk, jj]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@given(data=st.data())
def test_generic_sliding_window_and_multiple_outputs(data):
    """A 1-d valid convolution ``y[i] = sum_k x[i + k] * w[k]`` and a running max."""
    n = data.draw(st.integers(1, 4))
    kw = data.draw(st.integers(1, 3))
    x = data.draw(float_arrays((n + kw - 1,), np.float32, -2, 2))
    w = data.draw(float_arrays((kw,), np.float32, -2, 2))
    zeros = np.zeros(n, np.float32)
    lows = np.full(n, -np.inf, np.float32)
    maps = [AffineMap(2, 0, (dim(0) + dim(1),)), AffineMap(2, 0, (dim(1),)),
            AffineMap(2, 0, (dim(0),)), AffineMap(2, 0, (dim(0),))]

    def build(b, xs, ws, z, lo):
        def body(bb, args):
            prod = scalar(bb, "arith.mulf", [args[0], args[1]], f32)
            return [scalar(bb, "arith.addf", [args[2], prod], f32),
                    scalar(bb, "arith.maximumf", [args[3], args[0]], f32)]
        g = T.GenericOp.create_with_body(b, [xs, ws], [z, lo], maps,
                                         ["parallel", "reduction"], body)
        return list(g.results)

    conv, runmax = call(build, x, w, zeros, lows)
    assert conv.dtype == np.float32
    for ii in range(n):
        want = np.float32(0)
        for kk in range(kw):
            want = np.float32(want + np.float32(x[ii + kk] * w[kk]))
        assert conv[ii] == want
        assert runmax[ii] == max(x[ii:ii + kw])


def test_generic_out_of_bounds_read_is_a_located_error():
    """``(d0 + 1) mod 5`` is not linear, so only the interpreter can catch the read at 4."""
    maps = [AffineMap(1, 0, ((dim(0) + 1) % 5,)), AffineMap.identity(1)]

    def build(b, xs, z):
        return T.GenericOp.create_with_body(b, [xs], [z], maps, ["parallel"],
                                            lambda bb, args: [args[0]])

    x = np.arange(4, dtype=np.float32)
    with pytest.raises(InterpreterError) as info:
        call(build, x, np.zeros(4, np.float32))
    assert "reads index 4 of dimension 0 of operand #0" in info.value.diagnostic.message
    assert info.value.diagnostic.location == LOC


def test_generic_rank0_and_scalar_body_results():
    """A full reduction into a 0-d output, and a body yielding a constant."""
    x = np.arange(1, 7, dtype=np.int64).reshape(2, 3)
    maps = [AffineMap.identity(2), AffineMap(2, 0, ())]

    def build(b, xs, z):
        g1 = T.GenericOp.create_with_body(
            b, [xs], [z], maps, ["reduction", "reduction"],
            lambda bb, args: [scalar(bb, "arith.muli", [args[1], args[0]], i64)])
        g2 = T.GenericOp.create_with_body(
            b, [xs], [xs], [AffineMap.identity(2)] * 2, ["parallel"] * 2,
            lambda bb, args: [bb.insert(Operation.create(
                "arith.constant", [], [i64], {"value": IntegerAttr(9, i64)})).result])
        return [g1.result_values[0], g2.result_values[0]]

    prod, nines = call(build, x, np.array(1, np.int64))
    assert prod.shape == () and int(prod) == 720
    np.testing.assert_array_equal(nines, np.full((2, 3), 9))


@pytest.mark.parametrize("et", [i8, i1])
def test_results_have_exact_dtypes(et):
    t = TensorType((3,), et)
    got = call(lambda b: b.create(T.ConstantOp, value=DenseElementsAttr.splat(1, t)))
    assert got.dtype == np.dtype(np.int8 if et == i8 else np.bool_)
