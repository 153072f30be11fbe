"""Folders and canonicalization patterns of the tensor dialect, by translation validation.

Each test builds a function, interprets it on random inputs, canonicalizes a clone (folding
plus every registered op's patterns), checks the expected rewrite happened, verifies the
result and checks that interpreting it gives the same values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import avalon.ir.dialects  # noqa: F401  (registers every dialect)
from avalon.backends.interpreter import run
from avalon.ir.attributes import DenseElementsAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Operation
from avalon.ir.dialects import tensor as T
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.types import FunctionType, TensorType, f32, i1, i32, tensor
from avalon.ir.verifier import verify
from avalon.passes.canonicalize import canonicalization_patterns
from avalon.passes.rewrite import apply_patterns_greedily


def build_module(in_types, build) -> ModuleOp:
    f = FuncOp.create("f", FunctionType(tuple(in_types), ()))
    b = Builder.at_end(f.entry_block)
    results = build(b, *f.entry_block.args)
    results = results if isinstance(results, list | tuple) else [results]
    values = [r.result if isinstance(r, Operation) else r for r in results]
    f.set_type(FunctionType(tuple(in_types), tuple(v.type for v in values)))
    b.create(ReturnOp, values)
    m = module([f])
    verify(m)
    return m


def op_names(m: ModuleOp) -> list[str]:
    return [op.name for op in m.walk_ops() if op.name.startswith("tensor.")]


def canonicalized(m: ModuleOp) -> ModuleOp:
    out = m.clone()
    apply_patterns_greedily(out, canonicalization_patterns())
    verify(out)
    return out


def check_equivalent(before: ModuleOp, after: ModuleOp, inputs) -> None:
    want = run(before, "f", *inputs)
    got = run(after, "f", *inputs)
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def rand_inputs(types, data):
    out = []
    for t in types:
        dtype = np.dtype(np.float32 if t.element_type == f32 else np.int32)
        elems = (st.floats(-4, 4, width=32) if dtype.kind == "f" else st.integers(-50, 50))
        out.append(data.draw(arrays(dtype, t.shape, elements=elems)))
    return out


def const(b, value, t):
    return b.create(T.ConstantOp, value=DenseElementsAttr(value, t)).result


# --------------------------------------------------------------------------- data movement


@given(data=st.data())
def test_transpose_of_transpose(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4)))
    p = data.draw(st.permutations(range(len(shape))))
    q = data.draw(st.permutations(range(len(shape))))
    t = tensor(shape, f32)

    def build(b, x):
        inner = b.create(T.TransposeOp, x, permutation=p)
        return b.create(T.TransposeOp, inner.result, permutation=q)

    m = build_module([t], build)
    c = canonicalized(m)
    composed = [p[i] for i in q]
    expected = 0 if composed == sorted(composed) else 1
    assert op_names(c).count("tensor.transpose") == expected
    check_equivalent(m, c, rand_inputs([t], data))


@given(data=st.data())
def test_reshape_of_reshape_and_same_type_reshape(data):
    t = tensor((2, 3, 4), f32)
    mid = tensor(data.draw(st.sampled_from([(6, 4), (24,), (4, 6), (2, 12)])), f32)
    last = data.draw(st.sampled_from([tensor((2, 3, 4), f32), tensor((3, 8), f32)]))

    def build(b, x):
        r1 = b.create(T.ReshapeOp, x, result_types=[mid])
        return b.create(T.ReshapeOp, r1.result, result_types=[last])

    m = build_module([t], build)
    c = canonicalized(m)
    assert op_names(c).count("tensor.reshape") == (0 if last == t else 1)
    check_equivalent(m, c, rand_inputs([t], data))


@given(data=st.data())
def test_broadcast_of_broadcast(data):
    t = tensor((3,), f32)

    def build(b, x):
        b1 = b.create(T.BroadcastOp, x, dims=[1], result_types=[tensor((2, 3), f32)])
        return b.create(T.BroadcastOp, b1.result, dims=[0, 2],
                        result_types=[tensor((2, 4, 3), f32)])

    m = build_module([t], build)
    c = canonicalized(m)
    ops = [op for op in c.walk_ops() if isinstance(op, T.BroadcastOp)]
    assert len(ops) == 1 and list(ops[0].dims) == [2]
    check_equivalent(m, c, rand_inputs([t], data))


def test_broadcast_of_splat_constant_becomes_a_constant():
    def build(b):
        k = const(b, 2.5, tensor((1,), f32))
        return b.create(T.BroadcastOp, k, dims=[1], result_types=[tensor((40, 50), f32)])

    m = build_module([], build)
    c = canonicalized(m)
    assert op_names(c) == ["tensor.constant"]
    check_equivalent(m, c, [])


@pytest.mark.parametrize("case", ["transpose", "slice", "broadcast", "reshape", "cast",
                                  "concat", "pad", "reduce"])
@given(data=st.data())
def test_identity_ops_fold_away(case, data):
    t = tensor((3, 4), f32)
    make = {
        "transpose": lambda b, x: b.create(T.TransposeOp, x, permutation=[0, 1]),
        "slice": lambda b, x: b.create(T.SliceOp, x, start=[0, 0], limit=[3, 4],
                                       stride=[1, 1]),
        "broadcast": lambda b, x: b.create(T.BroadcastOp, x, dims=[0, 1], result_types=[t]),
        "reshape": lambda b, x: b.create(T.ReshapeOp, x, result_types=[t]),
        "cast": lambda b, x: b.create(T.CastOp, x, result_types=[t]),
        "concat": lambda b, x: b.create(T.ConcatOp, [x], dim=1),
        "pad": lambda b, x: b.create(T.PadOp, x, const(b, 0.0, tensor((), f32)), low=[0, 0],
                                     high=[0, 0], interior=[0, 0]),
        "reduce": lambda b, x: b.create(T.ReduceOp, x, kind="sum", dims=[]),
    }[case]
    m = build_module([t], lambda b, x: b.create(T.NegOp, make(b, x).result))
    c = canonicalized(m)
    assert op_names(c) == ["tensor.neg"]
    check_equivalent(m, c, rand_inputs([t], data))


def test_partial_slice_is_kept():
    t = tensor((3, 4), f32)
    m = build_module([t], lambda b, x: b.create(T.SliceOp, x, start=[0, 1], limit=[3, 4],
                                                stride=[1, 1]))
    assert op_names(canonicalized(m)) == ["tensor.slice"]


# ---------------------------------------------------------------------- algebraic identities


def identity_case(b, x, case):
    s = x.type

    def splat(v):
        return const(b, v, s)

    return {
        "x+0": lambda: b.create(T.AddOp, x, splat(0)),
        "0+x": lambda: b.create(T.AddOp, splat(0), x),
        "x-0": lambda: b.create(T.SubOp, x, splat(0)),
        "x*1": lambda: b.create(T.MulOp, x, splat(1)),
        "1*x": lambda: b.create(T.MulOp, splat(1), x),
        "x/1": lambda: b.create(T.DivOp, x, splat(1)),
        "x+-0.0": lambda: b.create(T.AddOp, x, splat(-0.0)),
        "select-true": lambda: b.create(T.SelectOp, const(b, True, TensorType(s.shape, i1)),
                                        x, splat(7)),
        "select-same": lambda: b.create(T.SelectOp, b.create(T.CmpOp, x, x,
                                                             predicate="lt").result, x, x),
    }[case]()


@pytest.mark.parametrize("case", ["x+0", "0+x", "x-0", "x*1", "1*x", "x/1", "select-true",
                                  "select-same"])
@pytest.mark.parametrize("et", [f32, i32])
@given(data=st.data())
def test_neutral_elements_fold(case, et, data):
    if et == f32 and case in ("x+0", "0+x"):
        case = "x+-0.0"  # x + 0.0 is not x for x = -0.0; see test_float_plus_zero_is_kept
    t = tensor((2, 3), et)
    m = build_module([t], lambda b, x: b.create(T.AbsOp, identity_case(b, x, case).result))
    c = canonicalized(m)
    assert "tensor.abs" in op_names(c)
    assert not {"tensor.add", "tensor.sub", "tensor.mul", "tensor.div",
                "tensor.select"} & set(op_names(c))
    check_equivalent(m, c, rand_inputs([t], data))


def test_float_plus_zero_is_kept():
    """-0.0 + 0.0 is +0.0, so adding a +0.0 splat must not fold away."""
    t = tensor((2,), f32)
    m = build_module([t], lambda b, x: b.create(T.AddOp, x, const(b, 0.0, t)))
    c = canonicalized(m)
    assert "tensor.add" in op_names(c)
    x = np.array([-0.0, 1.0], np.float32)
    assert not np.signbit(run(c, "f", x)[0])


# ------------------------------------------------------------------------- constant folding

FOLDABLE = {
    "neg": T.NegOp, "abs": T.AbsOp, "exp": T.ExpOp, "tanh": T.TanhOp, "sqrt": T.SqrtOp,
    "sin": T.SinOp, "floor": T.FloorOp, "sign": T.SignOp, "add": T.AddOp, "sub": T.SubOp,
    "mul": T.MulOp, "max": T.MaxOp, "min": T.MinOp, "div": T.DivOp, "pow": T.PowOp,
}


@pytest.mark.parametrize("name", sorted(FOLDABLE))
@given(data=st.data())
def test_constant_folding_matches_the_interpreter(name, data):
    cls = FOLDABLE[name]
    shape = tuple(data.draw(st.lists(st.integers(1, 4), max_size=2)))
    t = tensor(shape, f32)
    lo = 0.125 if name in ("sqrt", "pow") else -3.0
    vals = [data.draw(arrays(np.float32, shape, elements=st.floats(lo, 3, width=32)))
            for _ in range(2)]
    n = len(cls._operand_defs)
    m = build_module([], lambda b: b.create(cls, *[const(b, v, t) for v in vals[:n]]))
    c = canonicalized(m)
    assert op_names(c) == ["tensor.constant"]
    want, got = run(m, "f"), run(c, "f")
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@given(data=st.data())
def test_folding_integer_and_boolean_ops(data):
    t, tb = tensor((5,), i32), tensor((5,), i1)
    x = data.draw(arrays(np.int32, (5,), elements=st.integers(-2**31, 2**31 - 1)))
    y = data.draw(arrays(np.int32, (5,), elements=st.integers(-2**31, 2**31 - 1)))
    mask = data.draw(arrays(np.bool_, (5,)))

    def build(b):
        a, c, k = const(b, x, t), const(b, y, t), const(b, mask, tb)
        return [b.create(T.AddOp, a, c), b.create(T.XorOp, a, c), b.create(T.NotOp, k),
                b.create(T.CmpOp, a, c, predicate="le"), b.create(T.SelectOp, k, a, c),
                b.create(T.TransposeOp, a, permutation=[0]),
                b.create(T.SliceOp, a, start=[1], limit=[5], stride=[2])]

    m = build_module([], build)
    c = canonicalized(m)
    assert set(op_names(c)) == {"tensor.constant"}
    check_equivalent(m, c, [])


def test_integer_division_is_not_folded():
    """Folding would turn a runtime division-by-zero error into a compile-time value."""
    t = tensor((2,), i32)
    m = build_module([], lambda b: b.create(T.DivOp, const(b, np.array([4, 5]), t),
                                            const(b, np.array([2, 0]), t)))
    assert "tensor.div" in op_names(canonicalized(m))


def test_large_constants_are_not_folded():
    n = T.FOLD_LIMIT + 1
    t = tensor((n,), f32)
    m = build_module([], lambda b: b.create(T.AddOp, const(b, np.arange(n), t),
                                            const(b, np.ones(n), t)))
    assert "tensor.add" in op_names(canonicalized(m))


def test_fold_of_transpose_of_constant_and_reshape():
    t = tensor((2, 3), f32)
    data = np.arange(6, dtype=np.float32).reshape(2, 3)

    def build(b):
        k = const(b, data, t)
        tr = b.create(T.TransposeOp, k, permutation=[1, 0])
        return b.create(T.ReshapeOp, tr.result, result_types=[tensor((6,), f32)])

    m = build_module([], build)
    c = canonicalized(m)
    assert op_names(c) == ["tensor.constant"]
    np.testing.assert_array_equal(run(c, "f"), data.T.reshape(-1))


def test_materialize_constant_hook():
    b = Builder.at_end(module().body)
    op = T.DIALECT.materialize_constant(b, DenseElementsAttr.splat(math.pi,
                                                                   tensor((2,), f32)),
                                        tensor((2,), f32), None)
    assert isinstance(op, T.ConstantOp) and op.result.type == tensor((2,), f32)
    assert T.DIALECT.materialize_constant(b, DenseElementsAttr.splat(1, tensor((2,), i32)),
                                          tensor((3,), i32), None) is None
