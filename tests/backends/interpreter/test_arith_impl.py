"""arith semantics against independent Python references (exact integers and rationals)."""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numeric_reference import (
    FLOAT_TYPES,
    FORMATS,
    NP_FLOAT,
    apply,
    floats,
    from_np,
    interpreter,
    ints,
    np_float,
    round_fraction,
    same,
    to_format,
    to_np,
    unsigned,
    wrap,
)

from avalon.backends.interpreter import Interpreter, InterpreterError
from avalon.backends.interpreter.registry import IMPLS
from avalon.ir.attributes import DenseElementsAttr, FloatAttr, IntegerAttr
from avalon.ir.core import OP_REGISTRY, Operation
from avalon.ir.dialects.arith import CMPF_PREDICATES, CMPI_PREDICATES, IntBinaryOp
from avalon.ir.dialects.builtin import module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.types import (
    FunctionType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
    index,
    tensor,
    vector,
)

INT_TYPES = {1: i1, 8: i8, 16: i16, 32: i32, 64: i64}
INT_CASES = [(w, t) for w, t in INT_TYPES.items()] + [(64, index)]
INT_IDS = [str(t) for _, t in INT_CASES]


def tdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _ushift(a: int, b: int, w: int) -> int:
    s = unsigned(b, w)
    return 0 if s >= w else unsigned(a, w) >> s


INT_REF = {
    "addi": lambda a, b, w: a + b,
    "subi": lambda a, b, w: a - b,
    "muli": lambda a, b, w: a * b,
    "divsi": lambda a, b, w: tdiv(a, b),
    "remsi": lambda a, b, w: a - b * tdiv(a, b),
    "floordivsi": lambda a, b, w: a // b,
    "ceildivsi": lambda a, b, w: -((-a) // b),
    "divui": lambda a, b, w: unsigned(a, w) // unsigned(b, w),
    "remui": lambda a, b, w: unsigned(a, w) % unsigned(b, w),
    "andi": lambda a, b, w: a & b,
    "ori": lambda a, b, w: a | b,
    "xori": lambda a, b, w: a ^ b,
    "shli": lambda a, b, w: 0 if unsigned(b, w) >= w else a << unsigned(b, w),
    "shrsi": lambda a, b, w: a >> min(unsigned(b, w), w - 1),
    "shrui": _ushift,
    "maxsi": lambda a, b, w: max(a, b),
    "minsi": lambda a, b, w: min(a, b),
    "maxui": lambda a, b, w: max(a, b, key=lambda v: unsigned(v, w)),
    "minui": lambda a, b, w: min(a, b, key=lambda v: unsigned(v, w)),
}
DIVIDING = {"divsi", "remsi", "floordivsi", "ceildivsi", "divui", "remui"}

# ------------------------------------------------------------------------ integer ops


@pytest.mark.parametrize(("w", "t"), INT_CASES, ids=INT_IDS)
@pytest.mark.parametrize("name", sorted(INT_REF))
@settings(max_examples=25)
@given(data=st.data())
def test_integer_binary_matches_reference(name, w, t, data):
    a, b = data.draw(ints(w)), data.draw(ints(w))
    if name in DIVIDING and b == 0:
        with pytest.raises(InterpreterError, match="divides by zero"):
            apply(f"arith.{name}", [t, t], t, to_np(a, t), to_np(b, t))
        return
    got = apply(f"arith.{name}", [t, t], t, to_np(a, t), to_np(b, t))
    assert from_np(got, t) == wrap(INT_REF[name](a, b, w), w)


@pytest.mark.parametrize("name", sorted(INT_REF))
@settings(max_examples=15)
@given(data=st.data())
def test_integer_binary_elementwise_on_vectors(name, data):
    w, t = data.draw(st.sampled_from(INT_CASES[:-1]))
    n = data.draw(st.integers(1, 6))
    a = data.draw(st.lists(ints(w), min_size=n, max_size=n))
    b = data.draw(st.lists(ints(w), min_size=n, max_size=n))
    if name in DIVIDING:
        b = [x if x != 0 else 1 for x in b]
    vt = vector([n], t)
    got = apply(f"arith.{name}", [vt, vt], vt, np.array([to_np(x, t) for x in a]),
                np.array([to_np(x, t) for x in b]))
    assert [from_np(x, t) for x in got] == [wrap(INT_REF[name](x, y, w), w)
                                            for x, y in zip(a, b)]


@pytest.mark.parametrize("name", sorted(INT_REF))
@settings(max_examples=20)
@given(data=st.data())
def test_integer_ops_agree_with_the_dialect_folders(name, data):
    """The interpreter and the arith folders implement the same semantics where the folder
    defines a result."""
    w, t = data.draw(st.sampled_from([(8, i8), (32, i32), (64, i64)]))
    a, b = data.draw(ints(w)), data.draw(ints(w))
    cls: type[IntBinaryOp] = OP_REGISTRY[f"arith.{name}"]
    folded = cls.compute(unsigned(a, w), unsigned(b, w), w)
    if folded is None:
        return
    got = apply(f"arith.{name}", [t, t], t, to_np(a, t), to_np(b, t))
    assert from_np(got, t) == wrap(folded, w)


def test_i1_arithmetic_is_mod_2():
    t = i1
    T, F = np.True_, np.False_
    assert apply("arith.addi", [t, t], t, T, T) == F
    assert apply("arith.subi", [t, t], t, F, T) == T
    assert apply("arith.muli", [t, t], t, T, T) == T
    # Signed i1: true is -1, so -1 / -1 = 1 wraps back to true.
    assert apply("arith.divsi", [t, t], t, T, T) == T
    assert apply("arith.maxsi", [t, t], t, T, F) == F
    assert apply("arith.maxui", [t, t], t, T, F) == T


@pytest.mark.parametrize(("w", "t"), INT_CASES, ids=INT_IDS)
@pytest.mark.parametrize("pred", CMPI_PREDICATES)
@settings(max_examples=15)
@given(data=st.data())
def test_cmpi(pred, w, t, data):
    a, b = data.draw(ints(w)), data.draw(ints(w))
    if pred[0] == "u":
        a_, b_ = unsigned(a, w), unsigned(b, w)
    else:
        a_, b_ = a, b
    want = {"eq": a_ == b_, "ne": a_ != b_, "lt": a_ < b_, "le": a_ <= b_, "gt": a_ > b_,
            "ge": a_ >= b_}[pred if pred in ("eq", "ne") else pred[1:]]
    attrs = (("predicate", IntegerAttr(CMPI_PREDICATES.index(pred), i64)),)
    got = apply("arith.cmpi", [t, t], i1, to_np(a, t), to_np(b, t), attrs=attrs)
    assert isinstance(got, np.bool_)
    assert bool(got) == want


def test_division_by_zero_is_a_located_error():
    with pytest.raises(InterpreterError) as info:
        apply("arith.divsi", [i32, i32], i32, np.int32(7), np.int32(0))
    text = str(info.value)
    assert "ops.mlir:3:5" in text and "'arith.divsi' op divides by zero" in text
    vt = vector([3], i64)
    with pytest.raises(InterpreterError, match=r"divisor element at \(1,\)"):
        apply("arith.remui", [vt, vt], vt, np.array([1, 2, 3]), np.array([1, 0, 3]))


# ------------------------------------------------------------------------- float helpers


def py_div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, math.copysign(1.0, a) * math.copysign(1.0, b))
    return a / b


def py_rem(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or b == 0:
        return math.nan
    return math.fmod(a, b)


def py_max(a: float, b: float, nan_wins: bool) -> float:
    if math.isnan(a) or math.isnan(b):
        if nan_wins:
            return math.nan
        return b if math.isnan(a) else a
    if a == b:
        return b if math.copysign(1.0, a) < 0 else a
    return max(a, b)


def py_min(a: float, b: float, nan_wins: bool) -> float:
    if math.isnan(a) or math.isnan(b):
        if nan_wins:
            return math.nan
        return b if math.isnan(a) else a
    if a == b:
        return a if math.copysign(1.0, a) < 0 else b
    return min(a, b)


FLOAT_REF = {
    "addf": lambda a, b: a + b,
    "subf": lambda a, b: a - b,
    "mulf": lambda a, b: a * b,
    "divf": py_div,
    "remf": py_rem,
    "maximumf": lambda a, b: py_max(a, b, True),
    "minimumf": lambda a, b: py_min(a, b, True),
    "maxnumf": lambda a, b: py_max(a, b, False),
    "minnumf": lambda a, b: py_min(a, b, False),
}


# --------------------------------------------------------------------------- float ops


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", sorted(FLOAT_REF))
@settings(max_examples=30)
@given(data=st.data())
def test_float_binary_matches_reference(name, fmt, data):
    a, b = data.draw(floats(fmt)), data.draw(floats(fmt))
    t = FLOAT_TYPES[fmt]
    got = apply(f"arith.{name}", [t, t], t, np_float(a, fmt), np_float(b, fmt))
    assert type(got) is NP_FLOAT[fmt]
    # Double rounding through float64 is exact for +, -, *, / at these precisions.
    assert same(got, to_format(FLOAT_REF[name](a, b), fmt)), (a, b, got)


@pytest.mark.parametrize("name", sorted(FLOAT_REF))
@settings(max_examples=15)
@given(data=st.data())
def test_float_binary_elementwise_on_vectors(name, data):
    fmt = data.draw(st.sampled_from(list(FORMATS)))
    n = data.draw(st.integers(1, 6))
    a = data.draw(st.lists(floats(fmt), min_size=n, max_size=n))
    b = data.draw(st.lists(floats(fmt), min_size=n, max_size=n))
    vt = vector([n], FLOAT_TYPES[fmt])
    got = apply(f"arith.{name}", [vt, vt], vt, np.array(a, NP_FLOAT[fmt]),
                np.array(b, NP_FLOAT[fmt]))
    want = [to_format(FLOAT_REF[name](x, y), fmt) for x, y in zip(a, b)]
    assert all(same(g, w) for g, w in zip(got, want)), (a, b, got)


@pytest.mark.parametrize("fmt", list(FORMATS))
@settings(max_examples=20)
@given(data=st.data())
def test_negf(fmt, data):
    a = data.draw(floats(fmt))
    t = FLOAT_TYPES[fmt]
    got = apply("arith.negf", [t], t, np_float(a, fmt))
    assert type(got) is NP_FLOAT[fmt]
    assert math.isnan(got) if math.isnan(a) else same(got, -a)


def test_float_division_by_zero_follows_ieee_silently():
    t = f32
    with np.errstate(all="raise"):
        assert apply("arith.divf", [t, t], t, np.float32(1), np.float32(-0.0)) == -np.inf
        assert np.isnan(apply("arith.divf", [t, t], t, np.float32(0), np.float32(0)))


def test_signed_zero_ordering_in_min_max():
    t = f64
    for name, a, b, want in [("maximumf", -0.0, 0.0, 0.0), ("maximumf", 0.0, -0.0, 0.0),
                             ("minimumf", 0.0, -0.0, -0.0), ("minimumf", -0.0, 0.0, -0.0),
                             ("maxnumf", math.nan, -0.0, -0.0), ("minnumf", 1.0, math.nan, 1.0)]:
        assert same(apply(f"arith.{name}", [t, t], t, a, b), want), name


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("pred", CMPF_PREDICATES)
@settings(max_examples=12)
@given(data=st.data())
def test_cmpf(pred, fmt, data):
    a, b = data.draw(floats(fmt)), data.draw(floats(fmt))
    unordered = math.isnan(a) or math.isnan(b)
    ordered_result = {"eq": a == b, "gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b,
                      "ne": a != b}
    if pred in ("false", "true"):
        want = pred == "true"
    elif pred == "ord":
        want = not unordered
    elif pred == "uno":
        want = unordered
    elif pred[0] == "o":
        want = not unordered and ordered_result[pred[1:]]
    else:
        want = unordered or ordered_result[pred[1:]]
    t = FLOAT_TYPES[fmt]
    attrs = (("predicate", IntegerAttr(CMPF_PREDICATES.index(pred), i64)),)
    got = apply("arith.cmpf", [t, t], i1, np_float(a, fmt), np_float(b, fmt), attrs=attrs)
    assert isinstance(got, np.bool_) and bool(got) == want


def test_cmpf_on_vectors():
    vt = vector([4], f32)
    attrs = (("predicate", IntegerAttr(CMPF_PREDICATES.index("ult"), i64)),)
    a = np.array([1, np.nan, 3, -0.0], np.float32)
    b = np.array([2, 0, 3, 0.0], np.float32)
    got = apply("arith.cmpf", [vt, vt], vector([4], i1), a, b, attrs=attrs)
    assert got.dtype == np.bool_ and got.tolist() == [True, True, False, False]


# ------------------------------------------------------------------------ select, const


def test_select_scalar_and_vector_conditions():
    assert apply("arith.select", [i1, f32, f32], f32, True, 1.0, 2.0) == np.float32(1.0)
    assert apply("arith.select", [i1, i8, i8], i8, False, 1, 2) == np.int8(2)
    vt, ct = vector([3], i32), vector([3], i1)
    got = apply("arith.select", [ct, vt, vt], vt, np.array([True, False, True]),
                np.array([1, 2, 3], np.int32), np.array([4, 5, 6], np.int32))
    assert got.dtype == np.int32 and got.tolist() == [1, 5, 3]
    got = apply("arith.select", [i1, vt, vt], vt, False, np.array([1, 2, 3], np.int32),
                np.array([4, 5, 6], np.int32))
    assert got.tolist() == [4, 5, 6]


@pytest.mark.parametrize(("attr", "t", "want"), [
    (IntegerAttr(-5, i8), i8, np.int8(-5)),
    (IntegerAttr(1, i1), i1, np.True_),
    (IntegerAttr(7, index), index, np.int64(7)),
    (FloatAttr(0.1, f32), f32, np.float32(0.1)),
    (FloatAttr(1.0 / 3.0, bf16), bf16, np.float32(0.333984375)),
    (FloatAttr(-0.0, f16), f16, np.float16(-0.0)),
])
def test_scalar_constants(attr, t, want):
    fn = FuncOp.create("f", FunctionType((), (t,)))
    op = Operation.create("arith.constant", [], [t], {"value": attr})
    fn.body.append(op)
    fn.body.append(ReturnOp.build(values=[op.result]))
    got = Interpreter(module([fn]), check_types=True).invoke("f")
    assert type(got) is type(want)
    assert same(float(got), float(want))


def test_shaped_constants_are_arrays_and_results_are_writable():
    for t in (vector([2, 2], f32), tensor([3], i64)):
        data = np.arange(t.num_elements).reshape(t.shape)
        fn = FuncOp.create("f", FunctionType((), (t,)))
        op = Operation.create("arith.constant", [], [t],
                              {"value": DenseElementsAttr(data, t)})
        fn.body.append(op)
        fn.body.append(ReturnOp.build(values=[op.result]))
        got = Interpreter(module([fn]), check_types=True).invoke("f")
        assert got.shape == t.shape and got.flags.writeable
        assert np.array_equal(got, data)


# --------------------------------------------------------------------------------- casts

EXTS = [(i1, i8), (i1, i64), (i8, i16), (i8, i64), (i16, i32), (i32, i64)]


@pytest.mark.parametrize(("src", "dst"), EXTS, ids=[f"{a}-{b}" for a, b in EXTS])
@settings(max_examples=20)
@given(data=st.data())
def test_integer_extension_and_truncation(src, dst, data):
    ws, wd = src.width, dst.width
    a = data.draw(ints(ws))
    assert from_np(apply("arith.extsi", [src], dst, to_np(a, src)), dst) == a
    assert from_np(apply("arith.extui", [src], dst, to_np(a, src)), dst) == wrap(
        unsigned(a, ws), wd)
    b = data.draw(ints(wd))
    assert from_np(apply("arith.trunci", [dst], src, to_np(b, dst)), src) == wrap(b, ws)


@pytest.mark.parametrize("t", [i1, i8, i32, i64], ids=str)
@settings(max_examples=20)
@given(data=st.data())
def test_index_casts(t, data):
    w = t.width
    a = data.draw(ints(w))
    assert from_np(apply("arith.index_cast", [t], index, to_np(a, t)), index) == a
    assert from_np(apply("arith.index_castui", [t], index, to_np(a, t)), index) == wrap(
        unsigned(a, w), 64)
    b = data.draw(ints(64))
    assert from_np(apply("arith.index_cast", [index], t, np.int64(b)), t) == wrap(b, w)
    assert from_np(apply("arith.index_castui", [index], t, np.int64(b)), t) == wrap(b, w)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize(("w", "t"), INT_CASES[:-1], ids=[str(t) for _, t in INT_CASES[:-1]])
@settings(max_examples=20)
@given(data=st.data())
def test_int_to_float_rounds_once(w, t, fmt, data):
    a = data.draw(ints(w))
    ft = FLOAT_TYPES[fmt]
    got = apply("arith.sitofp", [t], ft, to_np(a, t))
    assert same(got, round_fraction(Fraction(a), fmt))
    got = apply("arith.uitofp", [t], ft, to_np(a, t))
    assert same(got, round_fraction(Fraction(unsigned(a, w)), fmt))


def test_int_to_bf16_avoids_double_rounding():
    # Just above the midpoint of two bf16 values: rounding through float32 would tie.
    a = (((1 << 8) + 1) << 40) + 1
    got = apply("arith.sitofp", [i64], bf16, np.int64(a))
    assert float(got) == ((1 << 8) + 2) << 40


def saturate(v: float, lo: int, hi: int) -> int:
    if math.isnan(v):
        return 0
    if math.isinf(v):
        return hi if v > 0 else lo
    return min(max(math.trunc(v), lo), hi)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize(("w", "t"), INT_CASES[:-1], ids=[str(t) for _, t in INT_CASES[:-1]])
@settings(max_examples=20)
@given(data=st.data())
def test_float_to_int_truncates_and_saturates(w, t, fmt, data):
    a = data.draw(st.one_of(floats(fmt), st.integers(-(1 << w), 1 << w).map(float)))
    a = to_format(a, fmt)
    ft = FLOAT_TYPES[fmt]
    got = apply("arith.fptosi", [ft], t, np_float(a, fmt))
    assert from_np(got, t) == saturate(a, -(1 << (w - 1)), (1 << (w - 1)) - 1)
    got = apply("arith.fptoui", [ft], t, np_float(a, fmt))
    assert unsigned(from_np(got, t), w) == saturate(a, 0, (1 << w) - 1)


FLOAT_CASTS = [("f16", "f32"), ("f16", "f64"), ("f32", "f64"), ("bf16", "f32"),
               ("bf16", "f64")]


@pytest.mark.parametrize(("narrow", "wide"), FLOAT_CASTS, ids=[f"{a}-{b}" for a, b in
                                                              FLOAT_CASTS])
@settings(max_examples=30)
@given(data=st.data())
def test_float_extension_is_exact_and_truncation_rounds_once(narrow, wide, data):
    a = data.draw(floats(narrow))
    got = apply("arith.extf", [FLOAT_TYPES[narrow]], FLOAT_TYPES[wide], np_float(a, narrow))
    assert same(got, a)
    b = data.draw(floats(wide))
    got = apply("arith.truncf", [FLOAT_TYPES[wide]], FLOAT_TYPES[narrow], np_float(b, wide))
    assert type(got) is NP_FLOAT[narrow]
    assert same(got, to_format(b, narrow))


def test_truncf_f32_to_bf16_rounds_ties_to_even():
    # 1 + 2**-8 lies halfway between bf16 1.0 and 1 + 2**-7: ties go to the even 1.0.
    got = apply("arith.truncf", [f32], bf16, np.float32(1 + 2.0 ** -8))
    assert float(got) == 1.0
    got = apply("arith.truncf", [f32], bf16, np.float32(1 + 2.0 ** -8 + 2.0 ** -20))
    assert float(got) == 1 + 2.0 ** -7


BITCASTS = [(i32, f32, "<i", "<f"), (i64, f64, "<q", "<d"), (i16, f16, "<h", "<e")]


@pytest.mark.parametrize(("it", "ft", "ifmt", "ffmt"), BITCASTS, ids=["i32", "i64", "i16"])
@settings(max_examples=25)
@given(data=st.data())
def test_bitcast_reinterprets_bits(it, ft, ifmt, ffmt, data):
    a = data.draw(ints(it.width))
    got = apply("arith.bitcast", [it], ft, to_np(a, it))
    want = struct.unpack(ffmt, struct.pack(ifmt, a))[0]
    assert same(got, want)
    back = apply("arith.bitcast", [ft], it, got)
    if not math.isnan(want):
        assert int(back) == a


def test_bitcast_bf16_and_vectors():
    got = apply("arith.bitcast", [bf16], i16, np.float32(-2.0))
    assert int(got) == np.int16(-16384)  # 0xC000
    got = apply("arith.bitcast", [i16], bf16, np.int16(0x3F80))
    assert float(got) == 1.0
    vt, it = vector([2], f32), vector([2], i32)
    got = apply("arith.bitcast", [vt], it, np.array([1.0, -0.0], np.float32))
    assert got.tolist() == [0x3F800000, -(1 << 31)]


# ------------------------------------------------- scalar-typed ops on whole arrays

ARRAY_CASES = [(name, i32) for name in sorted(INT_REF)] + [
    (name, f32) for name in sorted(FLOAT_REF)] + [(name, bf16) for name in ("addf", "maxnumf")]


@pytest.mark.parametrize(("name", "t"), ARRAY_CASES, ids=[f"{n}-{t}" for n, t in ARRAY_CASES])
@settings(max_examples=10)
@given(data=st.data())
def test_scalar_typed_ops_accept_whole_arrays(name, t, data):
    """tensor.generic runs scalar bodies on whole arrays, mixed with scalars (constants)."""
    fmt = str(t)
    if t == i32:
        xs = data.draw(st.lists(ints(32), min_size=1, max_size=5))
        y = data.draw(ints(32).filter(lambda v: v != 0 or name not in DIVIDING))
        arr, scalar = np.array(xs, np.int32), to_np(y, t)
    else:
        xs = data.draw(st.lists(floats(fmt), min_size=1, max_size=5))
        arr = np.array(xs, NP_FLOAT[fmt])
        scalar = np_float(data.draw(floats(fmt)), fmt)
    interp = interpreter(f"arith.{name}", (t, t), t)
    op = next(o for o in interp.module.walk_ops() if o.name == f"arith.{name}")
    with np.errstate(all="ignore"):
        got = IMPLS[f"arith.{name}"](interp, op, [arr, scalar])[0]
    assert isinstance(got, np.ndarray) and got.dtype == arr.dtype and got.shape == arr.shape
    for x, g in zip(arr, got):
        assert same(float(g), float(apply(f"arith.{name}", [t, t], t, x, scalar))), (x, g)
