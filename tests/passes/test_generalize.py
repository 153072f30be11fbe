"""The ``generalize`` pass: named tensor ops become ``tensor.generic`` with the same results."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import avalon.passes.generalize  # noqa: F401  (registers the pass)
from avalon.ir.builder import Builder
from avalon.ir.dialects import tensor as T
from avalon.ir.dialects.builtin import module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.types import FunctionType, f32, i32, tensor
from avalon.passes.generalize import Generalize, generalizable_op_names
from avalon.passes.manager import PassManager, PassPipelineError
from tests.passes.translation import (
    apply,
    as_module,
    check_doc_example,
    count_ops,
    draw_inputs,
    validate,
)

EVERY_KIND = """
func.func @f(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>, %v: tensor<3xf32>,
             %w: tensor<3x4xf32>, %n: tensor<2x3xi32>)
    -> (tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x2xf32>, tensor<2xf32>, tensor<2x4xf32>,
        tensor<2x3xi32>, tensor<2x3xf32>) {
  %a = tensor.add %x, %y : tensor<2x3xf32>
  %e = tensor.exp %a : tensor<2x3xf32>
  %lt = tensor.cmp lt, %x, %y : tensor<2x3xf32>
  %s = tensor.select %lt, %e, %y : tensor<2x3xi1>, tensor<2x3xf32>
  %b = tensor.broadcast %v, dims = [1] : tensor<3xf32> -> tensor<2x3xf32>
  %m = tensor.mul %s, %b : tensor<2x3xf32>
  %t = tensor.transpose %m, permutation = [1, 0] : tensor<2x3xf32> -> tensor<3x2xf32>
  %sl = tensor.slice %m, start = [0, 1], limit = [2, 3], stride = [1, 1]
      : tensor<2x3xf32> -> tensor<2x2xf32>
  %r = tensor.reduce max, %m, dims = [1] : tensor<2x3xf32> -> tensor<2xf32>
  %mm = tensor.matmul %m, %w : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %c = tensor.cast %m : tensor<2x3xf32> to tensor<2x3xi32>
  %ni = tensor.mul %c, %n : tensor<2x3xi32>
  %nf = tensor.cast %ni : tensor<2x3xi32> to tensor<2x3xf32>
  %neg = tensor.neg %nf : tensor<2x3xf32>
  return %m, %t, %sl, %r, %mm, %ni, %neg
      : tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x2xf32>, tensor<2xf32>, tensor<2x4xf32>,
        tensor<2x3xi32>, tensor<2x3xf32>
}
"""

NO_GENERIC_FORM = """
func.func @f(%x: tensor<2x3xf32>, %y: tensor<3x2xf32>) -> (tensor<6xf32>, tensor<4x3xf32>) {
  %r = tensor.reshape %x : tensor<2x3xf32> -> tensor<6xf32>
  %t = tensor.transpose %y, permutation = [1, 0] : tensor<3x2xf32> -> tensor<2x3xf32>
  %c = tensor.concat %x, %t, dim = 0 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  return %r, %c : tensor<6xf32>, tensor<4x3xf32>
}
"""


def named_ops(m) -> set[str]:
    names = set(generalizable_op_names())
    return {op.name for op in m.walk_ops() if op.name in names}


@given(data=st.data())
def test_every_kind_of_named_op_generalizes_with_the_same_results(data):
    m = as_module(EVERY_KIND)
    inputs = draw_inputs(data, m)
    # Named reductions and matmul may add in another order than their generic loop.
    after = validate(m, "func.func(generalize)", inputs, rtol=1e-6)
    assert named_ops(after) == set()
    assert count_ops(after, "tensor.generic") == 14


def test_statistic_counts_rewritten_ops():
    pm = PassManager.parse("builtin.module(func.func(generalize))")
    m = as_module(EVERY_KIND)
    pm.run(m)
    (p,) = list(pm.all_passes())
    assert p.statistics["num-generalized"].value == 14


def test_ops_without_a_generic_form_are_left_alone():
    m = as_module(NO_GENERIC_FORM)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.arange(6, dtype=np.float32).reshape(3, 2)
    after = validate(m, "func.func(generalize)", [x, y])
    assert count_ops(after, "tensor.reshape") == 1
    assert count_ops(after, "tensor.concat") == 1
    assert count_ops(after, "tensor.transpose") == 0
    assert count_ops(after, "tensor.generic") == 1


def test_ops_option_restricts_the_rewrite():
    m = as_module(EVERY_KIND)
    after = apply(m, "func.func(generalize{ops=tensor.add,tensor.broadcast})")
    assert count_ops(after, "tensor.generic") == 2
    assert count_ops(after, "tensor.add") == 0 and count_ops(after, "tensor.broadcast") == 0
    assert count_ops(after, "tensor.exp") == 1 and count_ops(after, "tensor.matmul") == 1


def test_unknown_op_name_in_option_is_a_located_error():
    m = as_module(NO_GENERIC_FORM)
    pm = PassManager.parse("builtin.module(func.func(generalize{ops=tensor.reshape}))")
    with pytest.raises(PassPipelineError) as info:
        pm.run(m)
    message = info.value.diagnostic.message
    assert "no generic form for 'tensor.reshape'" in message
    assert "tensor.add" in message


def test_pass_instance_lists_only_ops_with_a_generic_form():
    names = generalizable_op_names()
    assert "tensor.matmul" in names and "tensor.reshape" not in names
    assert Generalize(ops=["tensor.add"]).pipeline_text() == "generalize{ops=tensor.add}"


# ------------------------------------------------------------------ random programs

UNARY_F = [T.NegOp, T.AbsOp, T.TanhOp, T.SinOp, T.FloorOp, T.SignOp]
BINARY_F = [T.AddOp, T.SubOp, T.MulOp, T.MaxOp, T.MinOp]
BINARY_I = [T.AddOp, T.SubOp, T.MulOp, T.MaxOp, T.AndOp, T.XorOp]


@st.composite
def elementwise_programs(draw):
    """A function of two tensors of one random shape and element type, applying a random
    sequence of unary, binary, compare/select and transpose ops to earlier values."""
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    elem = draw(st.sampled_from([f32, i32]))
    t = tensor(shape, elem)
    f = FuncOp.create("f", FunctionType((t, t), ()))
    b = Builder.at_end(f.entry_block)
    pool = list(f.entry_block.args)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["unary", "binary", "select", "transpose"]))
        x = draw(st.sampled_from(pool))
        y = draw(st.sampled_from([v for v in pool if v.type == x.type]))
        if kind == "unary" and elem == f32:
            v = b.create(draw(st.sampled_from(UNARY_F)), x).result
        elif kind in ("unary", "binary"):
            ops = BINARY_F if elem == f32 else BINARY_I
            v = b.create(draw(st.sampled_from(ops)), x, y).result
        elif kind == "select":
            c = b.create(T.CmpOp, x, y, predicate=draw(st.sampled_from(["lt", "ge", "ne"])))
            v = b.create(T.SelectOp, c.result, y, x).result
        else:
            if len(set(x.type.shape)) != 1 or rank == 1:
                continue
            perm = draw(st.permutations(range(rank)))
            v = b.create(T.TransposeOp, x, permutation=perm).result
        pool.append(v)
    results = [pool[-1], draw(st.sampled_from(pool))]
    f.set_type(FunctionType((t, t), tuple(v.type for v in results)))
    b.create(ReturnOp, results)
    return module([f])


@given(m=elementwise_programs(), data=st.data())
def test_random_elementwise_programs_keep_their_results(m, data):
    m = as_module(m)
    inputs = draw_inputs(data, m, lo=-9, hi=9)
    after = validate(m, "func.func(generalize)", inputs)
    assert named_ops(after) == set()


def test_the_documented_example_is_current():
    check_doc_example("generalize")
