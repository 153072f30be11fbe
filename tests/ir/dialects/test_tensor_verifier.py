"""Verifier negatives for every tensor op: wrong ranks, shapes, element types and attributes
give a located error naming the op, with an MLIR-like message."""

from __future__ import annotations

import pytest

import avalon.ir.dialects  # noqa: F401  (registers every dialect)
from avalon.ir.affine import AffineMap, dim
from avalon.ir.attributes import (
    AffineMapAttr,
    ArrayAttr,
    Attribute,
    DenseArrayAttr,
    DenseElementsAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    bool_attr,
    i64_array,
)
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects import tensor as T
from avalon.ir.dialects.builtin import module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.dialects.tensor_shapes import ShapeError
from avalon.ir.location import FileLineColLoc
from avalon.ir.types import DYNAMIC, FunctionType, f16, f32, i1, i32, i64, tensor
from avalon.ir.verifier import verify

LOC = FileLineColLoc("net.py", 12, 5)


def ints(*v: int) -> DenseArrayAttr:
    return i64_array(v)


def n(v: int) -> IntegerAttr:
    return IntegerAttr(v, i64)


def s(v: str) -> StringAttr:
    return StringAttr(v)


def expect_error(cls, in_types, result_types, attrs: dict[str, Attribute], message: str,
                 regions=0) -> None:
    """Place ``cls(args, result_types, attrs)`` in a function and check verify's error."""
    f = FuncOp.create("f", FunctionType(tuple(in_types), ()))
    op = cls(list(f.entry_block.args), list(result_types), attrs, regions, [], LOC)
    f.entry_block.append(op)
    f.entry_block.append(ReturnOp.build(values=[]))
    with pytest.raises(DiagnosticError) as info:
        verify(module([f]))
    diag = info.value.diagnostic
    assert message in diag.message, diag.message
    assert diag.message.startswith(f"'{cls.name}' op"), diag.message
    assert diag.location == LOC


t4 = tensor((4,), f32)
t23 = tensor((2, 3), f32)
t32 = tensor((3, 2), f32)
MAPS = {"indexing_maps", "iterator_types"}

CASES = [
    # elementwise
    (T.ExpOp, [tensor((4,), i32)], [tensor((4,), i32)], {},
     "operand #0 ('operand') must be statically shaped tensor of floating-point values, but "
     "got 'tensor<4xi32>'"),
    (T.NegOp, [tensor((DYNAMIC,), f32)], [tensor((DYNAMIC,), f32)], {},
     "must be statically shaped tensor"),
    (T.NegOp, [t4], [tensor((4,), f16)], {}, "requires the same type for all operands and "
     "results"),
    (T.AddOp, [t4, tensor((3,), f32)], [t4], {}, "requires the same type for all operands"),
    (T.AddOp, [tensor((4,), i1)] * 2, [tensor((4,), i1)], {},
     "must be statically shaped tensor of non-boolean integer or floating-point values"),
    (T.AndOp, [t4, t4], [t4], {}, "must be statically shaped tensor of integer values"),
    (T.PowOp, [tensor((2,), i32)] * 2, [tensor((2,), i32)], {}, "floating-point values"),
    (T.AddOp, [t4], [t4], {}, "expected 2 operands, but found 1"),
    (T.CmpOp, [t4, t4], [tensor((4,), i1)], {"predicate": s("olt")},
     "attribute 'predicate' failed to satisfy constraint: one of \"eq\""),
    (T.CmpOp, [t4, t4], [tensor((4,), i1)], {}, "requires attribute 'predicate'"),
    (T.CmpOp, [t4, t4], [tensor((3,), i1)], {"predicate": s("lt")},
     "result #0 type 'tensor<3xi1>' differs from the inferred type 'tensor<4xi1>'"),
    (T.CmpOp, [t4, t4], [t4], {"predicate": s("lt")},
     "result #0 ('result') must be statically shaped tensor of i1 values"),
    (T.CmpOp, [t4, tensor((4,), f16)], [tensor((4,), i1)], {"predicate": s("eq")},
     "requires all operands to have the same type"),
    (T.SelectOp, [tensor((3,), i1), t4, t4], [t4], {},
     "condition type 'tensor<3xi1>' does not match the shape of 'tensor<4xf32>'"),
    (T.SelectOp, [tensor((4,), i1), t4, tensor((4,), f16)], [t4], {},
     "true and false values differ in type: 'tensor<4xf32>' vs 'tensor<4xf16>'"),
    (T.SelectOp, [t4, t4, t4], [t4], {}, "operand #0 ('cond') must be statically shaped "
     "tensor of i1 values"),
    (T.StopGradientOp, [t4], [tensor((4,), f16)], {}, "requires the same type for all "
     "operands and results"),
    (T.CastOp, [t4], [tensor((3,), i32)], {},
     "operand type 'tensor<4xf32>' and result type 'tensor<3xi32>' differ in shape"),
    # constants, iota, random, empty
    (T.ConstantOp, [], [t4], {}, "requires attribute 'value'"),
    (T.ConstantOp, [], [t4], {"value": DenseElementsAttr.splat(1.0, tensor((3,), f32))},
     "result #0 type 'tensor<4xf32>' differs from the inferred type 'tensor<3xf32>'"),
    (T.IotaOp, [], [t23], {"dim": n(2)}, "dimension 2 is out of range for rank 2"),
    (T.IotaOp, [], [tensor((3,), i1)], {"dim": n(0)},
     "result #0 ('result') must be statically shaped tensor of non-boolean"),
    (T.IotaOp, [], [t4], {"dim": IntegerAttr(0, i32)},
     "attribute 'dim' failed to satisfy constraint: 64-bit integer attribute"),
    (T.RandomUniformOp, [tensor((2,), i64)], [t4], {}, "must be 0-d tensor of i64"),
    (T.RandomNormalOp, [tensor((), i64)], [tensor((4,), i32)], {},
     "must be statically shaped tensor of floating-point values"),
    (T.EmptyOp, [], [tensor((DYNAMIC, 2), f32)], {}, "statically shaped"),
    # data movement
    (T.BroadcastOp, [tensor((3,), f32)], [tensor((4, 2), f32)], {"dims": ints(1)},
     "operand dimension 0 of size 3 cannot broadcast to result dimension 1 of size 2"),
    (T.BroadcastOp, [t23], [tensor((2, 3, 4), f32)], {"dims": ints(1, 0)},
     "'dims' must be strictly increasing, got [1, 0]"),
    (T.BroadcastOp, [t23], [tensor((2, 3), f32)], {"dims": ints(0)},
     "'dims' has 1 entries but the operand has rank 2"),
    (T.BroadcastOp, [t4], [tensor((4,), f32)], {"dims": ints(1)},
     "broadcast dimension 1 is out of range for rank 1"),
    (T.BroadcastOp, [t4], [tensor((4,), i32)], {"dims": ints(0)}, "differ in element type"),
    (T.BroadcastOp, [t4], [t4], {"dims": DenseArrayAttr(i32, (0,))},
     "attribute 'dims' failed to satisfy constraint: i64 dense array"),
    (T.ReshapeOp, [t23], [tensor((8,), f32)], {},
     "cannot reshape 6 elements [2, 3] into 8 elements [8]"),
    (T.ReshapeOp, [t23], [tensor((6,), i32)], {}, "differ in element type"),
    (T.TransposeOp, [t23], [t32], {"permutation": ints(0, 0)},
     "permutation [0, 0] is not a permutation of 2 dimensions"),
    (T.TransposeOp, [t23], [t23], {"permutation": ints(1, 0)},
     "result #0 type 'tensor<2x3xf32>' differs from the inferred type 'tensor<3x2xf32>'"),
    (T.TransposeOp, [t23], [t32], {}, "requires attribute 'permutation'"),
    (T.SliceOp, [t4], [t4], {"start": ints(0), "limit": ints(4), "stride": ints(0)},
     "stride 0 of dimension 0 must be positive"),
    (T.SliceOp, [t4], [t4], {"start": ints(2), "limit": ints(5), "stride": ints(1)},
     "slice [2, 5) of dimension 0 is not within [0, 4]"),
    (T.SliceOp, [t23], [t23], {"start": ints(0), "limit": ints(2, 3), "stride": ints(1, 1)},
     "'start' has 1 entries, expected 2"),
    (T.SliceOp, [t4], [tensor((3,), f32)], {"start": ints(0), "limit": ints(4),
                                            "stride": ints(2)},
     "differs from the inferred type 'tensor<2xf32>'"),
    (T.PadOp, [t4, tensor((), f32)], [t4],
     {"low": ints(-1), "high": ints(1), "interior": ints(0)},
     "'low' padding -1 of dimension 0 must be non-negative"),
    (T.PadOp, [t4, tensor((), i32)], [t4],
     {"low": ints(0), "high": ints(0), "interior": ints(0)},
     "padding value type 'tensor<i32>' does not match the element type of 'tensor<4xf32>'"),
    (T.PadOp, [t4, tensor((1,), f32)], [t4],
     {"low": ints(0), "high": ints(0), "interior": ints(0)},
     "operand #1 ('padding_value') must be 0-d tensor"),
    (T.PadOp, [t4, tensor((), f32)], [tensor((10,), f32)],
     {"low": ints(1), "high": ints(1), "interior": ints(1)},
     "result #0 type 'tensor<10xf32>' differs from the inferred type 'tensor<9xf32>'"),
    (T.ConcatOp, [t23, tensor((2,), f32)], [t23], {"dim": n(0)},
     "operand #1 has rank 1, expected 2"),
    (T.ConcatOp, [t23, t32], [tensor((5, 3), f32)], {"dim": n(0)},
     "operand #1 has size 2 in dimension 1, expected 3"),
    (T.ConcatOp, [t4, t4], [tensor((8,), f32)], {"dim": n(1)},
     "dimension 1 is out of range for rank 1"),
    (T.ConcatOp, [t4, tensor((4,), f16)], [tensor((8,), f32)], {"dim": n(0)},
     "operand #1 has element type f16, expected f32"),
    (T.ConcatOp, [], [t4], {"dim": n(0)}, "requires at least one operand"),
    (T.GatherOp, [t23, tensor((2, 1), f32)], [tensor((2, 1), f32)], {"dim": n(1)},
     "operand #1 ('indices') must be statically shaped tensor of i32 or i64 values"),
    (T.GatherOp, [t23, tensor((2,), i64)], [tensor((2,), f32)], {"dim": n(1)},
     "indices have rank 1 but the operand has rank 2"),
    (T.GatherOp, [t23, tensor((3, 1), i64)], [tensor((3, 1), f32)], {"dim": n(1)},
     "indices have size 3 in dimension 0 but the operand has 2"),
    (T.GatherOp, [t23, tensor((2, 1), i64)], [tensor((2, 1), f32)], {"dim": n(2)},
     "dimension 2 is out of range for rank 2"),
    # reductions
    (T.ReduceOp, [t23], [tensor((), f32)], {"kind": s("sum"), "dims": ints(1, 0)},
     "'dims' must be strictly increasing, got [1, 0]"),
    (T.ReduceOp, [t23], [t23], {"kind": s("sum"), "dims": ints(2)},
     "reduction dimension 2 is out of range for rank 2"),
    (T.ReduceOp, [tensor((3,), i1)], [tensor((), i1)], {"kind": s("sum"), "dims": ints(0)},
     "'sum' reduction is not defined on i1 (use max or min)"),
    (T.ReduceOp, [t23], [tensor((2,), f32)], {"kind": s("mean"), "dims": ints(1)},
     "attribute 'kind' failed to satisfy constraint: one of \"sum\", \"prod\", \"max\", "
     "\"min\""),
    (T.ReduceOp, [t23], [tensor((3,), f32)], {"kind": s("max"), "dims": ints(1)},
     "result #0 type 'tensor<3xf32>' differs from the inferred type 'tensor<2xf32>'"),
    (T.ArgmaxOp, [t23], [tensor((2,), i64)], {"dim": n(-1)},
     "dimension -1 is out of range for rank 2"),
    (T.ArgmaxOp, [t23], [tensor((2,), i32)], {"dim": n(1)},
     "result #0 ('result') must be statically shaped tensor of i64 values"),
    (T.ArgmaxOp, [tensor((0, 2), f32)], [tensor((2,), i64)], {"dim": n(0)},
     "dimension 0 has size 0"),
    # contractions
    (T.MatmulOp, [tensor((2, 3), f32), tensor((4, 5), f32)], [tensor((2, 5), f32)], {},
     "contracting dimensions differ: 3 vs 4"),
    (T.MatmulOp, [tensor((2, 2, 3), f32), tensor((3, 3, 4), f32)], [tensor((2, 2, 4), f32)],
     {}, "batch dimensions differ: [2] vs [3]"),
    (T.MatmulOp, [tensor((3,), f32), tensor((3, 4), f32)], [tensor((4,), f32)], {},
     "operands must have rank >= 2, got 1 and 2"),
    (T.MatmulOp, [tensor((2, 3), f32), tensor((1, 3, 4), f32)], [tensor((2, 4), f32)], {},
     "operand ranks differ: 2 vs 3"),
    (T.MatmulOp, [tensor((2, 3), f32), tensor((3, 4), f16)], [tensor((2, 4), f32)], {},
     "element types differ: f32 vs f16"),
    (T.MatmulOp, [tensor((2, 3), i1), tensor((3, 4), i1)], [tensor((2, 4), i1)], {},
     "non-boolean"),
]

CONV = {"stride": ints(1, 1), "padding_low": ints(0, 0), "padding_high": ints(0, 0),
        "dilation": ints(1, 1), "groups": n(1)}
x_nchw = tensor((1, 3, 5, 5), f32)
CASES += [
    (T.ConvOp, [x_nchw, tensor((4, 3, 3, 3), f32)], [tensor((1, 4, 3, 3), f32)],
     {**CONV, "groups": n(2)}, "input channels 3 are not divisible by groups 2"),
    (T.ConvOp, [tensor((1, 4, 5, 5), f32), tensor((3, 2, 3, 3), f32)],
     [tensor((1, 3, 3, 3), f32)], {**CONV, "groups": n(2)},
     "output channels 3 are not divisible by groups 2"),
    (T.ConvOp, [x_nchw, tensor((4, 2, 3, 3), f32)], [tensor((1, 4, 3, 3), f32)], CONV,
     "filter has 2 input channels per group, expected 3 / 1 = 3"),
    (T.ConvOp, [x_nchw, tensor((4, 3, 3, 3), f32)], [tensor((1, 4, 3, 3), f32)],
     {**CONV, "dilation": ints(3, 1)},
     "window of extent 7 does not fit in the padded size 5"),
    (T.ConvOp, [x_nchw, tensor((4, 3, 3, 3), f32)], [tensor((1, 4, 3, 3), f32)],
     {**CONV, "stride": ints(0, 1)}, "'stride' 0 of spatial dimension 0 must be positive"),
    (T.ConvOp, [x_nchw, tensor((4, 3, 3, 3), f32)], [tensor((1, 4, 3, 3), f32)],
     {**CONV, "padding_low": ints(1)}, "'padding_low' has 1 entries, expected 2"),
    (T.ConvOp, [tensor((3, 5), f32), tensor((4, 3), f32)], [tensor((3, 4), f32)],
     {**CONV, "stride": ints(), "padding_low": ints(), "padding_high": ints(),
      "dilation": ints()}, "input must have rank >= 3 ([N, C, spatial...]), got 2"),
    (T.ConvOp, [x_nchw, tensor((4, 3, 3), f32)], [tensor((1, 4, 3, 3), f32)], CONV,
     "filter has rank 3 but the input has rank 4"),
    (T.ConvOp, [x_nchw, tensor((4, 3, 3, 3), f32)], [tensor((1, 4, 5, 5), f32)], CONV,
     "differs from the inferred type 'tensor<1x4x3x3xf32>'"),
    (T.ConvOp, [x_nchw, tensor((4, 3, 3, 3), f32)], [tensor((1, 4, 3, 3), f32)],
     {**CONV, "groups": n(0)}, "'groups' 0 must be positive"),
]

POOL = {"window": ints(2, 2), "stride": ints(2, 2), "padding_low": ints(0, 0),
        "padding_high": ints(0, 0)}
CASES += [
    (T.PoolOp, [tensor((1, 1, 4, 4), i32)], [tensor((1, 1, 2, 2), i32)],
     {**POOL, "kind": s("avg")}, "'avg' pooling needs a floating-point element type"),
    (T.PoolOp, [tensor((1, 1, 4, 4), f32)], [tensor((1, 1, 2, 2), f32)],
     {**POOL, "kind": s("max"), "count_include_pad": bool_attr(True)},
     "'count_include_pad' only applies to 'avg' pooling"),
    (T.PoolOp, [tensor((1, 1, 4, 4), f32)], [tensor((1, 1, 3, 2), f32)],
     {**POOL, "kind": s("max"), "padding_low": ints(2, 0)},
     "padding of spatial dimension 0 must be smaller than the window 2"),
    (T.PoolOp, [tensor((4,), f32)], [tensor((2,), f32)], {**POOL, "kind": s("max")},
     "window has 2 dimensions but the input has rank 1"),
    (T.PoolOp, [tensor((1, 1, 4, 4), f32)], [tensor((1, 1, 2, 2), f32)],
     {**POOL, "kind": s("min")}, "attribute 'kind' failed to satisfy constraint"),
    (T.PoolOp, [tensor((1, 1, 4, 4), f32)], [tensor((1, 1, 2, 2), f32)],
     {**POOL, "kind": s("avg"), "window": ints(0, 2)},
     "'window' 0 of spatial dimension 0 must be positive"),
]


@pytest.mark.parametrize(("cls", "ins", "outs", "attrs", "message"), CASES,
                         ids=[f"{c[0].name}-{i}" for i, c in enumerate(CASES)])
def test_invalid_op(cls, ins, outs, attrs, message):
    expect_error(cls, ins, outs, attrs, message)


def test_every_op_has_negative_cases():
    covered = {c[0].name for c in CASES} | {"tensor.generic", "tensor.yield"}
    missing = set(T.DIALECT.ops) - covered
    # Ops sharing a base class with a covered op (same checks) need no separate case.
    shared = {"tensor.abs", "tensor.log", "tensor.tanh", "tensor.sqrt", "tensor.rsqrt",
              "tensor.sin", "tensor.cos", "tensor.erf", "tensor.log1p", "tensor.expm1",
              "tensor.floor", "tensor.ceil", "tensor.sign", "tensor.not", "tensor.sub",
              "tensor.mul", "tensor.div", "tensor.rem", "tensor.max", "tensor.min",
              "tensor.or", "tensor.xor"}
    assert missing <= shared, missing - shared


def test_build_reports_shape_errors_with_the_op_name():
    b = Builder.at_end(Block([tensor((2, 3), f32), tensor((4, 5), f32)]))
    x, w = b.insertion_point.block.args
    with pytest.raises(ShapeError, match=r"'tensor.matmul' op contracting dimensions differ: "
                                         r"3 vs 4"):
        b.create(T.MatmulOp, x, w)


# ----------------------------------------------------------------------------- generic


def make_generic(in_types, out_types, maps, iters, *, arg_types=None, yield_types=None,
                 result_types=None, terminator=True, attrs=None):
    f = FuncOp.create("f", FunctionType(tuple(in_types) + tuple(out_types), ()))
    args = list(f.entry_block.args)
    attributes = {
        "indexing_maps": ArrayAttr(tuple(AffineMapAttr(m) for m in maps)),
        "iterator_types": ArrayAttr(tuple(StringAttr(i) for i in iters)),
        "operandSegmentSizes": DenseArrayAttr(i32, (len(in_types), len(out_types))),
        **(attrs or {}),
    }
    op = T.GenericOp(args, list(result_types if result_types is not None else out_types),
                     attributes, 1, [], LOC)
    block = Block(arg_types if arg_types is not None else
                  [t.element_type for t in (*in_types, *out_types)])
    op.regions[0].add_block(block)
    if terminator:
        types = yield_types if yield_types is not None else [t.element_type
                                                             for t in out_types]
        vals = []
        for t in types:
            value = IntegerAttr(0, t) if t in (i32, i64, i1) else FloatAttr(0.0, t)
            src = Operation.create("arith.constant", [], [t], {"value": value}, location=LOC)
            block.append(src)
            vals.append(src.result)
        block.append(T.YieldOp(vals, [], {}, 0, [], LOC))
    f.entry_block.append(op)
    f.entry_block.append(ReturnOp.build(values=[]))
    return module([f])


def expect_generic_error(message, *args, **kwargs):
    with pytest.raises(DiagnosticError) as info:
        verify(make_generic(*args, **kwargs))
    diag = info.value.diagnostic
    assert message in diag.message, diag.message
    assert diag.location == LOC


ID2 = AffineMap.identity(2)
ROW = AffineMap(2, 0, (dim(0),))


def test_valid_generic_verifies():
    verify(make_generic([t23], [tensor((2,), f32)], [ID2, ROW], ["parallel", "reduction"]))


GENERIC_CASES = [
    ("expected 2 indexing maps (one per operand), found 1",
     ([t23], [tensor((2,), f32)], [ID2], ["parallel", "reduction"])),
    ("indexing map #0 has 2 dimensions, expected 3 (one per iterator)",
     ([t23], [tensor((2,), f32)], [ID2, ROW], ["parallel", "reduction", "reduction"])),
    ("indexing map #1 has 2 results but operand #1 has rank 1",
     ([t23], [tensor((2,), f32)], [ID2, ID2], ["parallel", "parallel"])),
    ("output indexing map #1 ((d0, d1) -> (d0)) must be a permutation of the parallel "
     "dimensions",
     ([t23], [tensor((2,), f32)], [ID2, ROW], ["parallel", "parallel"])),
    ("output indexing map #1",
     ([t23], [tensor((2,), f32)], [ID2, AffineMap(2, 0, (dim(0) + 1,))],
      ["parallel", "reduction"])),
    ("loop dimension d1 has extent 4 (operand #1 dimension 1) but operand #0 dimension 1 has "
     "only 3 elements",
     ([t23], [tensor((2, 4), f32)], [ID2, ID2], ["parallel", "parallel"])),
    ("loop dimension d1 is not an operand dimension in any indexing map",
     ([tensor((2,), f32)], [tensor((2,), f32)], [ROW, ROW], ["parallel", "reduction"])),
    ("indexing map #0 reads indices 1..3 of dimension 1 of operand #0, which has size 3",
     ([t23], [t23], [AffineMap(2, 0, (dim(0), dim(1) + 1)), ID2], ["parallel", "parallel"])),
    ("attribute 'iterator_types' failed to satisfy constraint",
     ([t23], [t23], [ID2, ID2], ["parallel", "window"])),
    ("requires at least one output", ([t23], [], [ID2], ["parallel", "parallel"])),
    ("indexing map #0 must not have symbols",
     ([t23], [t23], [AffineMap(2, 1, (dim(0), dim(1))), ID2], ["parallel", "parallel"])),
]


@pytest.mark.parametrize(("message", "args"), GENERIC_CASES,
                         ids=[str(i) for i in range(len(GENERIC_CASES))])
def test_invalid_generic(message, args):
    expect_generic_error(message, *args)


def test_generic_body_checks():
    base = ([t23], [tensor((2,), f32)], [ID2, ROW], ["parallel", "reduction"])
    expect_generic_error("body block arguments must be the element types of the inputs and "
                         "outputs (f32, f32), got (f32)", *base, arg_types=[f32])
    expect_generic_error("body yields (i32) but the outputs have element types (f32)", *base,
                         yield_types=[i32])
    expect_generic_error("body must end with 'tensor.yield'", *base, terminator=False)
    expect_generic_error("result #0 type 'tensor<3xf32>' differs from the type of output #0 "
                         "'tensor<2xf32>'", *base, result_types=[tensor((3,), f32)])


def test_yield_outside_generic():
    f = FuncOp.create("f", FunctionType((), ()))
    f.entry_block.append(T.YieldOp([], [], {}, 0, [], LOC))
    with pytest.raises(DiagnosticError) as info:
        verify(module([f]))
    assert "'tensor.yield' op expects parent op to be one of 'tensor.generic'" in \
        info.value.diagnostic.message
