"""The tensor dialect: result-type inference, text forms (custom and generic round trips),
documentation, and generalization to ``tensor.generic`` checked by translation validation."""

from __future__ import annotations

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
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects import tensor as T
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.opdef import op_doc
from avalon.ir.parser import parse_module
from avalon.ir.printer import print_op
from avalon.ir.traits import Elementwise, Pure, is_side_effect_free
from avalon.ir.types import FunctionType, Type, bf16, f16, f32, f64, i1, i8, i32, i64, tensor
from avalon.ir.verifier import verify


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


def round_trip(m: ModuleOp) -> str:
    """Custom text parses back to the same text; generic text parses back to the same IR."""
    text = print_op(m)
    assert print_op(parse_module(text)) == text
    generic = print_op(m, generic=True)
    assert print_op(parse_module(generic)) == text
    assert print_op(parse_module(generic), generic=True) == generic
    return text


# --------------------------------------------------------------------------- inference


def infer(cls, *operands, **attrs) -> Type:
    b = Builder.at_end(module().body)
    return b.create(cls, *operands, **attrs).result.type


def values(*types):
    f = FuncOp.create("f", FunctionType(tuple(types), ()))
    return f.entry_block.args


def test_result_type_inference():
    a, w, idx, v, c = values(tensor((2, 3), f32), tensor((3, 5), f32), tensor((2, 7), i32),
                             tensor((), f32), tensor((2, 3), i1))
    assert infer(T.ExpOp, a) == tensor((2, 3), f32)
    assert infer(T.AddOp, a, a) == tensor((2, 3), f32)
    assert infer(T.CmpOp, a, a, predicate="ge") == tensor((2, 3), i1)
    assert infer(T.SelectOp, c, a, a) == tensor((2, 3), f32)
    assert infer(T.TransposeOp, a, permutation=[1, 0]) == tensor((3, 2), f32)
    assert infer(T.SliceOp, a, start=[0, 1], limit=[2, 3], stride=[2, 1]) == tensor((1, 2),
                                                                                  f32)
    assert infer(T.PadOp, a, v, low=[1, 0], high=[0, 2], interior=[1, 1]) == tensor((4, 7),
                                                                                  f32)
    assert infer(T.ConcatOp, [a, a, a], dim=1) == tensor((2, 9), f32)
    assert infer(T.GatherOp, a, idx, dim=1) == tensor((2, 7), f32)
    assert infer(T.ReduceOp, a, kind="prod", dims=[0, 1]) == tensor((), f32)
    assert infer(T.ArgmaxOp, a, dim=0) == tensor((3,), i64)
    assert infer(T.MatmulOp, a, w) == tensor((2, 5), f32)
    assert infer(T.ConstantOp, value=DenseElementsAttr.splat(1, tensor((4,), i1))) == \
        tensor((4,), i1)
    x, k = values(tensor((2, 4, 9, 9), f32), tensor((6, 2, 3, 3), f32))
    assert infer(T.ConvOp, x, k, stride=[2, 2], padding_low=[1, 1], padding_high=[1, 0],
                 dilation=[1, 2], groups=2) == tensor((2, 6, 5, 3), f32)
    assert infer(T.PoolOp, x, kind="max", window=[3, 3], stride=[2, 2], padding_low=[1, 1],
                 padding_high=[1, 1]) == tensor((2, 4, 5, 5), f32)


def test_ops_without_inference_need_result_types():
    (a,) = values(tensor((2, 3), f32))
    with pytest.raises(TypeError, match="cannot infer"):
        Builder.at_end(module().body).create(T.ReshapeOp, a)


# ---------------------------------------------------------------------------- text forms


def every_op(b: Builder, a, w, s, c, idx, v, with_generic=True):
    """One instance of every tensor op (a: 2x3xf32, w: 3x4xf32, s: seed, c: 2x3xi1,
    idx: 2x2xi64, v: f32)."""
    t23 = tensor((2, 3), f32)
    ints = b.create(T.CastOp, a, result_types=[tensor((2, 3), i32)]).result
    for cls in (T.NegOp, T.AbsOp, T.ExpOp, T.LogOp, T.TanhOp, T.SqrtOp, T.RsqrtOp, T.SinOp,
                T.CosOp, T.ErfOp, T.Log1pOp, T.Expm1Op, T.FloorOp, T.CeilOp, T.SignOp):
        b.create(cls, a)
    b.create(T.NotOp, c)
    b.create(T.StopGradientOp, a)
    for cls in (T.AddOp, T.SubOp, T.MulOp, T.DivOp, T.RemOp, T.PowOp, T.MaxOp, T.MinOp):
        b.create(cls, a, a)
    for cls in (T.AndOp, T.OrOp, T.XorOp):
        b.create(cls, ints, ints)
    b.create(T.CmpOp, a, a, predicate="ne")
    b.create(T.SelectOp, c, a, a)
    b.create(T.ConstantOp, value=DenseElementsAttr(np.arange(6).reshape(2, 3), t23))
    b.create(T.EmptyOp, result_types=[t23])
    b.create(T.IotaOp, dim=1, result_types=[tensor((2, 3), i64)])
    b.create(T.RandomUniformOp, s, result_types=[tensor((4,), f16)])
    b.create(T.RandomNormalOp, s, result_types=[tensor((4,), f64)])
    b.create(T.BroadcastOp, a, dims=[0, 2], result_types=[tensor((2, 5, 3), f32)])
    b.create(T.ReshapeOp, a, result_types=[tensor((3, 2), f32)])
    b.create(T.TransposeOp, a, permutation=[1, 0])
    b.create(T.SliceOp, a, start=[0, 1], limit=[2, 3], stride=[1, 2])
    b.create(T.PadOp, a, v, low=[1, 0], high=[0, 1], interior=[0, 1])
    b.create(T.ConcatOp, [a, a], dim=0)
    b.create(T.GatherOp, a, idx, dim=1)
    b.create(T.ReduceOp, a, kind="min", dims=[1])
    b.create(T.ArgmaxOp, a, dim=1)
    mm = b.create(T.MatmulOp, a, w)
    img = b.create(T.ReshapeOp, a, result_types=[tensor((1, 1, 2, 3), f32)]).result
    b.create(T.ConvOp, img, b.create(T.ReshapeOp, a, result_types=[
        tensor((3, 1, 1, 2), f32)]).result, stride=[1, 1], padding_low=[0, 1],
        padding_high=[0, 0], dilation=[1, 1], groups=1)
    b.create(T.PoolOp, img, kind="avg", window=[2, 2], stride=[1, 1], padding_low=[0, 1],
             padding_high=[0, 0], count_include_pad=False)
    b.create(T.PoolOp, img, kind="max", window=[1, 2], stride=[1, 2], padding_low=[0, 0],
             padding_high=[0, 1])
    if with_generic:
        T.generalize(mm, b)
    return []


EVERY_OP_TYPES = [tensor((2, 3), f32), tensor((3, 4), f32), tensor((), i64),
                  tensor((2, 3), i1), tensor((2, 2), i64), tensor((), f32)]


def test_every_op_round_trips_in_both_forms():
    m = build_module(EVERY_OP_TYPES, every_op)
    names = {op.name for op in m.walk_ops() if op.name.startswith("tensor.")}
    assert names == set(T.DIALECT.ops)
    round_trip(m)


def test_custom_forms_read_as_documented():
    m = build_module(EVERY_OP_TYPES, every_op)
    text = print_op(m)
    for line in (
        "tensor.exp %arg0 : tensor<2x3xf32>",
        "tensor.add %arg0, %arg0 : tensor<2x3xf32>",
        "tensor.cmp ne, %arg0, %arg0 : tensor<2x3xf32>",
        "tensor.select %arg3, %arg0, %arg0 : tensor<2x3xi1>, tensor<2x3xf32>",
        "tensor.cast %arg0 : tensor<2x3xf32> to tensor<2x3xi32>",
        "tensor.constant dense<[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]> : tensor<2x3xf32>",
        "tensor.empty : tensor<2x3xf32>",
        "tensor.iota dim = 1 : tensor<2x3xi64>",
        "tensor.random_uniform %arg2 : tensor<i64> -> tensor<4xf16>",
        "tensor.broadcast %arg0, dims = [0, 2] : tensor<2x3xf32> -> tensor<2x5x3xf32>",
        "tensor.transpose %arg0, permutation = [1, 0] : tensor<2x3xf32> -> tensor<3x2xf32>",
        "tensor.slice %arg0, start = [0, 1], limit = [2, 3], stride = [1, 2] : "
        "tensor<2x3xf32> -> tensor<2x1xf32>",
        "tensor.pad %arg0, %arg5, low = [1, 0], high = [0, 1], interior = [0, 1] : "
        "(tensor<2x3xf32>, tensor<f32>) -> tensor<3x6xf32>",
        "tensor.concat %arg0, %arg0, dim = 0 : (tensor<2x3xf32>, tensor<2x3xf32>) -> "
        "tensor<4x3xf32>",
        "tensor.gather %arg0, %arg4, dim = 1 : (tensor<2x3xf32>, tensor<2x2xi64>) -> "
        "tensor<2x2xf32>",
        "tensor.reduce min, %arg0, dims = [1] : tensor<2x3xf32> -> tensor<2xf32>",
        "tensor.argmax %arg0, dim = 1 : tensor<2x3xf32> -> tensor<2xi64>",
        "tensor.matmul %arg0, %arg1 : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>",
        "padding_low = [0, 1], padding_high = [0, 0], count_include_pad = false : "
        "tensor<1x1x2x3xf32> -> tensor<1x1x1x3xf32>",
        "iterator_types = [\"parallel\", \"parallel\", \"reduction\"]} ins(%arg0, %arg1 : "
        "tensor<2x3xf32>, tensor<3x4xf32>) outs(",
    ):
        assert line in text, line


@given(data=st.data())
def test_keyed_forms_round_trip_random_attributes(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    r = len(shape)
    perm = data.draw(st.permutations(range(r)))
    start = [data.draw(st.integers(0, n)) for n in shape]
    limit = [data.draw(st.integers(s, n)) for s, n in zip(start, shape)]
    stride = [data.draw(st.integers(1, 3)) for _ in shape]
    dims = sorted(data.draw(st.sets(st.integers(0, r - 1))))
    kind = data.draw(st.sampled_from(T.REDUCE_KINDS))

    def build(b, x):
        return [b.create(T.TransposeOp, x, permutation=perm),
                b.create(T.SliceOp, x, start=start, limit=limit, stride=stride),
                b.create(T.ReduceOp, x, kind=kind, dims=dims)]

    round_trip(build_module([tensor(shape, f32)], build))


def test_extra_attributes_survive_custom_forms():
    def build(b, x):
        op = b.create(T.TransposeOp, x, permutation=[0])
        op.set_attr("note", DenseElementsAttr.splat(1, tensor((1,), i32)))
        e = b.create(T.EmptyOp, result_types=[tensor((2,), f32)])
        e.set_attr("tag", DenseElementsAttr.splat(2, tensor((1,), i32)))
        return [op, e]

    text = round_trip(build_module([tensor((3,), f32)], build))
    assert "permutation = [0] {note = dense<1> : tensor<1xi32>} :" in text


def test_example_parses_verifies_and_runs():
    m = parse_module(T.EXAMPLE)
    verify(m)
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(8, 4)
    w = np.linspace(-2, 1, 12, dtype=np.float32).reshape(4, 3)
    bias = np.array([0.5, -0.25, 0.0], np.float32)
    s, i = run(m, "classify", x, w, bias)
    r = np.maximum(x @ w + bias, 0)
    np.testing.assert_allclose(s, (r * r).sum(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(i, r.argmax(axis=1))


@pytest.mark.parametrize("text", [
    "tensor.transpose %a, perm = [1, 0] : tensor<2x3xf32> -> tensor<3x2xf32>",
    "tensor.transpose %a, permutation = [1, 0], permutation = [0, 1] : tensor<2x3xf32> -> "
    "tensor<3x2xf32>",
    "tensor.transpose %a, : tensor<2x3xf32> -> tensor<3x2xf32>",
    "tensor.pool max, %a, window = [1, x] : tensor<2x3xf32> -> tensor<3x2xf32>",
    "tensor.cmp lt, %a, %a : tensor<2x3xf32> extra",
])
def test_malformed_custom_forms_give_located_errors(text):
    src = (f"func.func @f(%a: tensor<2x3xf32>) {{\n  %0 = {text}\n  return\n}}\n")
    with pytest.raises(DiagnosticError) as info:
        parse_module(src, "bad.mlir")
    loc = info.value.diagnostic.location.file_line_col()
    assert loc is not None and loc.filename == "bad.mlir" and loc.line == 2


def test_parse_errors_name_the_unknown_key():
    src = ("func.func @f(%a: tensor<2x3xf32>) {\n  %0 = tensor.transpose %a, perm = [1, 0]"
           " : tensor<2x3xf32> -> tensor<3x2xf32>\n  return\n}\n")
    with pytest.raises(DiagnosticError, match="unknown entry 'perm' \\(expected "
                                              "'permutation'\\)"):
        parse_module(src)


# -------------------------------------------------------------------- docs and traits


def test_every_op_is_documented():
    for name, cls in T.DIALECT.ops.items():
        doc = op_doc(cls)
        assert len(doc) > 25, name
    assert T.DIALECT.description


def test_traits():
    assert T.AddOp.has_trait(Elementwise) and T.AddOp.has_trait(Pure)
    assert T.MatmulOp.has_trait(Pure) and not T.MatmulOp.has_trait(Elementwise)
    m = build_module([tensor((2, 3), f32), tensor((3, 4), f32)],
                     lambda b, x, y: T.generalize(b.create(T.MatmulOp, x, y), b))
    g = next(op for op in m.walk_ops() if isinstance(op, T.GenericOp))
    assert is_side_effect_free(g)


# ---------------------------------------------------------------------- generalization


def generalized(m: ModuleOp) -> ModuleOp:
    """A clone of ``m`` with every generalizable named op replaced by its generic."""
    out = m.clone()
    for op in list(out.walk_ops()):
        if isinstance(op, T.GENERALIZABLE) and op.parent is not None:
            g = T.generalize(op, Builder.before(op))
            if g is not None:
                op.replace_all_uses_with(g)
                op.erase()
    verify(out)
    return out


def float_in(shape, lo=-3.0, hi=3.0):
    lo, hi = float(np.float32(lo)), float(np.float32(hi))
    return arrays(np.float32, shape, elements=st.floats(lo, hi, width=32))


def int_in(shape, lo=-20, hi=20):
    return arrays(np.int32, shape, elements=st.integers(lo, hi))


UNARY = [T.NegOp, T.AbsOp, T.ExpOp, T.LogOp, T.TanhOp, T.SqrtOp, T.RsqrtOp, T.SinOp, T.CosOp,
         T.ErfOp, T.Log1pOp, T.Expm1Op, T.FloorOp, T.CeilOp, T.SignOp]
BINARY = [T.AddOp, T.SubOp, T.MulOp, T.DivOp, T.RemOp, T.PowOp, T.MaxOp, T.MinOp]
INT_OPS = [T.NegOp, T.AbsOp, T.SignOp, T.NotOp, T.AddOp, T.SubOp, T.MulOp, T.DivOp, T.RemOp,
           T.MaxOp, T.MinOp, T.AndOp, T.OrOp, T.XorOp]


def check_generalized(m, inputs, exact=True):
    g = generalized(m)
    names = {op.name for op in g.walk_ops()}
    assert "tensor.generic" in names
    assert not names & {cls.name for cls in T.GENERALIZABLE}
    want, got = run(m, "f", *inputs), run(g, "f", *inputs)
    assert got.dtype == want.dtype and got.shape == want.shape
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("cls", UNARY, ids=lambda c: c.name)
@given(data=st.data())
def test_generalize_unary_float(cls, data):
    shape = tuple(data.draw(st.lists(st.integers(1, 3), max_size=3)))
    lo = 0.05 if cls in (T.LogOp, T.SqrtOp, T.RsqrtOp) else -0.9 if cls is T.Log1pOp else -3
    x = data.draw(float_in(shape, lo))
    m = build_module([tensor(shape, f32)], lambda b, a: b.create(cls, a))
    check_generalized(m, [x], exact=cls is not T.ErfOp)


@pytest.mark.parametrize("cls", BINARY, ids=lambda c: c.name)
@given(data=st.data())
def test_generalize_binary_float(cls, data):
    shape = tuple(data.draw(st.lists(st.integers(1, 3), max_size=3)))
    x = data.draw(float_in(shape, 0.0 if cls is T.PowOp else -3.0))
    y = data.draw(float_in(shape, 0.5))
    t = tensor(shape, f32)
    m = build_module([t, t], lambda b, p, q: b.create(cls, p, q))
    check_generalized(m, [x, y])


@pytest.mark.parametrize("cls", INT_OPS, ids=lambda c: c.name)
@given(data=st.data())
def test_generalize_integer_ops(cls, data):
    shape = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    x = data.draw(int_in(shape, -2**31, 2**31 - 1))
    y = data.draw(int_in(shape, -2**31, 2**31 - 1).filter(lambda a: a.all()))
    t = tensor(shape, i32)
    n = len(cls._operand_defs)
    m = build_module([t] * n, lambda b, *args: b.create(cls, *args))
    check_generalized(m, [x, y][:n])


@pytest.mark.parametrize("pred", ["eq", "ne", "lt", "le", "gt", "ge"])
@given(data=st.data())
def test_generalize_cmp_select_and_i1(pred, data):
    shape = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    x, y = (data.draw(arrays(np.float32, shape, elements=st.sampled_from(
        [-1.0, 0.0, 2.0, np.nan]))) for _ in range(2))
    p, q = (data.draw(arrays(np.bool_, shape)) for _ in range(2))
    t, tb = tensor(shape, f32), tensor(shape, i1)

    def build(b, a, c, u, v):
        k = b.create(T.CmpOp, a, c, predicate=pred).result
        kb = b.create(T.CmpOp, u, v, predicate=pred).result
        both = b.create(T.XorOp, k, b.create(T.NotOp, kb).result).result
        return b.create(T.SelectOp, both, a, c)

    m = build_module([t, t, tb, tb], build)
    check_generalized(m, [x, y, p, q])


@given(data=st.data())
def test_generalize_data_movement(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    r = len(shape)
    perm = data.draw(st.permutations(range(r)))
    start = [data.draw(st.integers(0, n - 1)) for n in shape]
    stride = [data.draw(st.integers(1, 2)) for _ in shape]
    keep = [data.draw(st.booleans()) for _ in shape]
    src = tensor(tuple(n if k else 1 for n, k in zip(shape, keep)), f32)
    x = data.draw(float_in(src.shape))

    def build(b, a):
        bc = b.create(T.BroadcastOp, a, dims=[i + 1 for i in range(r)],
                      result_types=[tensor((2, *shape), f32)]).result
        tr = b.create(T.TransposeOp, bc, permutation=[0, *(p + 1 for p in perm)]).result
        full = tuple(tr.type.shape)
        return b.create(T.SliceOp, tr, start=[0, *(start[p] for p in perm)],
                        limit=list(full), stride=[1, *(stride[p] for p in perm)])

    check_generalized(build_module([src], build), [x])


@pytest.mark.parametrize("kind", T.REDUCE_KINDS)
@pytest.mark.parametrize("et", [f32, i32])
@given(data=st.data())
def test_generalize_reduce(kind, et, data):
    shape = tuple(data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3)))
    dims = sorted(data.draw(st.sets(st.integers(0, len(shape) - 1))))
    x = data.draw(float_in(shape, -2, 2) if et == f32 else int_in(shape, -9, 9))
    m = build_module([tensor(shape, et)],
                     lambda b, a: b.create(T.ReduceOp, a, kind=kind, dims=dims))
    check_generalized(m, [x], exact=et != f32 or kind in ("max", "min"))


def test_generalize_reduce_i1():
    m = build_module([tensor((2, 3), i1)], lambda b, a: [
        b.create(T.ReduceOp, a, kind="max", dims=[1]),
        b.create(T.ReduceOp, a, kind="min", dims=[0])])
    x = np.array([[True, False, False], [False, False, False]])
    g = generalized(m)
    for got, want in zip(run(g, "f", x), run(m, "f", x)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("et", [f32, i32])
@given(data=st.data())
def test_generalize_matmul(et, data):
    batch = tuple(data.draw(st.lists(st.integers(1, 2), max_size=2)))
    mm, k, n = (data.draw(st.integers(1, 4)) for _ in range(3))
    make = (lambda s: float_in(s, -2, 2)) if et == f32 else (lambda s: int_in(s, -9, 9))
    a, w = data.draw(make((*batch, mm, k))), data.draw(make((*batch, k, n)))
    m = build_module([tensor(a.shape, et), tensor(w.shape, et)],
                     lambda b, p, q: b.create(T.MatmulOp, p, q))
    check_generalized(m, [a, w], exact=et == i32)


def test_ops_without_a_generic_form_are_left_alone():
    m = build_module([tensor((4,), f32), tensor((2,), i32)],
                     lambda b, a, i: b.create(T.GatherOp, a, i, dim=0))
    op = next(op for op in m.walk_ops() if isinstance(op, T.GatherOp))
    assert T.generalize(op, Builder.before(op)) is None


def test_elided_constants_parse_and_print_but_do_not_run():
    m = build_module([], lambda b: b.create(T.ConstantOp, value=DenseElementsAttr(
        np.arange(8), tensor((8,), f32))))
    text = print_op(m, elide_elements_larger_than=4)
    assert "tensor.constant dense_resource<__elided__> : tensor<8xf32>" in text
    parsed = parse_module(text)
    verify(parsed)
    assert print_op(parsed) == text
    with pytest.raises(DiagnosticError, match="value was elided"):
        run(parsed, "f")


CAST_TYPES = [f16, f32, f64, i1, i32, i64, bf16, i8]


@given(data=st.data())
def test_generalize_cast(data):
    src, dst = (data.draw(st.sampled_from(CAST_TYPES)) for _ in range(2))
    shape = (data.draw(st.integers(1, 6)),)
    if src == i1:
        x = data.draw(arrays(np.bool_, shape))
    elif src in (i8, i32, i64):
        dtype = {i8: np.int8, i32: np.int32, i64: np.int64}[src]
        info = np.iinfo(dtype)
        x = data.draw(arrays(dtype, shape, elements=st.integers(max(info.min, -2**53),
                                                                 min(info.max, 2**53))))
    else:
        special = st.sampled_from([np.nan, np.inf, -np.inf, 3e9, -3e9, 0.5, -0.0, 60000.0])
        x = data.draw(arrays(np.float64, shape, elements=st.one_of(
            st.floats(-1e4, 1e4), special)))
        x = np.asarray(T.DenseElementsAttr(x, tensor(shape, src)).array)
    m = build_module([tensor(shape, src)],
                     lambda b, a: b.create(T.CastOp, a, result_types=[tensor(shape, dst)]))
    if src == dst:
        return
    check_generalized(m, [x])


def test_every_op_interprets_with_exact_result_types():
    """The interpreter's type checking mode compares every result with its IR type (the
    generic is left out: its scalar body runs on whole arrays, which that mode rejects)."""
    m = build_module(EVERY_OP_TYPES, lambda b, *args: every_op(b, *args, with_generic=False))
    a = np.linspace(0.5, 3, 6, dtype=np.float32).reshape(2, 3)
    w = np.ones((3, 4), np.float32)
    c = np.array([[True, False, True], [False, True, False]])
    idx = np.array([[0, 2], [1, 1]], np.int64)
    assert run(m, "f", a, w, np.int64(3), c, idx, np.float32(2), check_types=True) is None
