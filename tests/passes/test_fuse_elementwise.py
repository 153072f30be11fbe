"""The ``fuse-elementwise`` pass: generics fuse into their consumers without changing any
result (checked exactly against the unfused generics), and only where they should."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import avalon.passes.generalize  # noqa: F401  (registers the pass)
from avalon.ir.affine import AffineMap, dim
from avalon.ir.builder import Builder
from avalon.ir.core import OpResult
from avalon.ir.dialects import tensor as T
from avalon.ir.dialects.builtin import module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.types import FunctionType, f32, tensor
from avalon.passes.fuse_elementwise import compose_through, reads_each_element_once
from avalon.passes.manager import PassManager
from tests.passes.translation import (
    apply,
    as_module,
    check_doc_example,
    count_ops,
    draw_inputs,
    validate,
)

FUSE = "func.func(fuse-elementwise)"


def generics(m) -> list[T.GenericOp]:
    return [op for op in m.walk_ops() if isinstance(op, T.GenericOp)]


def body_names(g: T.GenericOp) -> list[str]:
    return [op.name for op in g.regions[0].blocks[0].ops]


def fused(text: str, data, pipeline: str = FUSE, lo: float = -2.0, hi: float = 2.0):
    """Generalize ``text``, then check ``pipeline`` on it by translation validation."""
    m = apply(as_module(text), "func.func(generalize)")
    return validate(m, pipeline, draw_inputs(data, m, lo=lo, hi=hi))


# --------------------------------------------------------------------- what fuses

SOFTMAX_DENOMINATOR = """
func.func @f(%x: tensor<4x3xf32>, %m: tensor<4xf32>) -> tensor<4xf32> {
  %b = tensor.broadcast %m, dims = [0] : tensor<4xf32> -> tensor<4x3xf32>
  %d = tensor.sub %x, %b : tensor<4x3xf32>
  %e = tensor.exp %d : tensor<4x3xf32>
  %s = tensor.reduce sum, %e, dims = [1] : tensor<4x3xf32> -> tensor<4xf32>
  return %s : tensor<4xf32>
}
"""


@given(data=st.data())
def test_elementwise_and_broadcast_work_fuses_into_a_reduction(data):
    after = fused(SOFTMAX_DENOMINATOR, data)
    (g,) = generics(after)
    assert g.iterators == ["parallel", "reduction"]
    assert body_names(g) == ["arith.subf", "math.exp", "arith.addf", "tensor.yield"]
    assert [str(m) for m in g.maps] == ["(d0, d1) -> (d0, d1)", "(d0, d1) -> (d0)",
                                        "(d0, d1) -> (d0)"]
    assert count_ops(after, "tensor.empty") == 0  # the producers' destinations are gone


CHAIN = """
func.func @f(%x: tensor<2x3xf32>, %y: tensor<3xf32>, %z: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %b = tensor.broadcast %y, dims = [1] : tensor<3xf32> -> tensor<2x3xf32>
  %a = tensor.add %x, %b : tensor<2x3xf32>
  %t = tensor.tanh %a : tensor<2x3xf32>
  %m = tensor.mul %t, %z : tensor<2x3xf32>
  %n = tensor.neg %m : tensor<2x3xf32>
  return %n : tensor<2x3xf32>
}
"""


@given(data=st.data())
def test_a_chain_becomes_one_generic_and_the_statistic_counts_fusions(data):
    after = fused(CHAIN, data)
    (g,) = generics(after)
    assert len(g.inputs) == 3
    m = apply(as_module(CHAIN), "func.func(generalize)")
    pm = PassManager.parse(f"builtin.module({FUSE})")
    pm.run(m)
    (p,) = list(pm.all_passes())
    assert p.statistics["num-fused"].value == 4


TRANSPOSED = """
func.func @f(%x: tensor<2x3xf32>, %y: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %e = tensor.exp %x : tensor<2x3xf32>
  %t = tensor.transpose %e, permutation = [1, 0] : tensor<2x3xf32> -> tensor<3x2xf32>
  %s = tensor.sub %t, %y : tensor<3x2xf32>
  return %s : tensor<3x2xf32>
}
"""


@given(data=st.data())
def test_maps_compose_through_transposes(data):
    (g,) = generics(fused(TRANSPOSED, data))
    assert str(g.maps[0]) == "(d0, d1) -> (d1, d0)"


SLICED = """
func.func @f(%x: tensor<5x4xf32>) -> tensor<2x3xf32> {
  %e = tensor.exp %x : tensor<5x4xf32>
  %s = tensor.slice %e, start = [1, 1], limit = [5, 4], stride = [2, 1]
      : tensor<5x4xf32> -> tensor<2x3xf32>
  return %s : tensor<2x3xf32>
}
"""


@given(data=st.data())
def test_a_slice_reads_the_producer_operand_through_the_composed_map(data):
    (g,) = generics(fused(SLICED, data))
    assert str(g.maps[0]) == "(d0, d1) -> (d0 * 2 + 1, d1 + 1)"


MULTI_RESULT = """
func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty : tensor<4xf32>
  %p:2 = tensor.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>,
                                          affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                         iterator_types = ["parallel"]}
      ins(%x, %y : tensor<4xf32>, tensor<4xf32>) outs(%e, %e : tensor<4xf32>, tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o1: f32, %o2: f32):
    %s = arith.addf %a, %b : f32
    %d = arith.subf %a, %b : f32
    tensor.yield %s, %d : f32, f32
  }
  %r = tensor.mul %p#0, %p#1 : tensor<4xf32>
  return %r : tensor<4xf32>
}
"""


@given(data=st.data())
def test_a_producer_with_several_results_fuses_once_per_read_result(data):
    (g,) = generics(fused(MULTI_RESULT, data))
    assert len(g.inputs) == 2  # x and y, deduplicated over the two copies of the body


DUPLICATES = """
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %two = tensor.constant dense<2.0> : tensor<4xf32>
  %a = tensor.mul %x, %two : tensor<4xf32>
  %b = tensor.add %x, %two : tensor<4xf32>
  %c = tensor.sub %a, %b : tensor<4xf32>
  return %c : tensor<4xf32>
}
"""


@given(data=st.data())
def test_identical_inputs_are_merged(data):
    (g,) = generics(fused(DUPLICATES, data))
    assert len(g.inputs) == 2  # %x and the constant, once each


# ---------------------------------------------------------------- what must not fuse

MULTI_USE = """
func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %p = tensor.{producer} %x, %y : tensor<4xf32>
  %a = tensor.mul %p, %x : tensor<4xf32>
  %b = tensor.sub %p, %y : tensor<4xf32>
  return %a, %b : tensor<4xf32>, tensor<4xf32>
}
"""


@given(data=st.data())
def test_a_producer_with_two_consumers_is_not_fused_by_default(data):
    after = fused(MULTI_USE.replace("{producer}", "add"), data)
    assert len(generics(after)) == 3


@given(data=st.data())
def test_allow_recompute_fuses_a_cheap_producer_into_every_consumer(data):
    after = fused(MULTI_USE.replace("{producer}", "add"), data,
                  "func.func(fuse-elementwise{allow-recompute=true})")
    gs = generics(after)
    assert len(gs) == 2
    assert all(body_names(g)[0] == "arith.addf" for g in gs)


EXPENSIVE_MULTI_USE = """
func.func @f(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %p = tensor.exp %x : tensor<4xf32>
  %a = tensor.mul %p, %x : tensor<4xf32>
  %b = tensor.sub %p, %x : tensor<4xf32>
  return %a, %b : tensor<4xf32>, tensor<4xf32>
}
"""


@given(data=st.data())
def test_allow_recompute_keeps_an_expensive_producer(data):
    after = fused(EXPENSIVE_MULTI_USE, data, "func.func(fuse-elementwise{allow-recompute=true})")
    assert len(generics(after)) == 3


BROADCAST_OF_EXPENSIVE = """
func.func @f(%x: tensor<4xf32>, %y: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %e = tensor.exp %x : tensor<4xf32>
  %b = tensor.broadcast %e, dims = [0] : tensor<4xf32> -> tensor<4x3xf32>
  %m = tensor.mul %b, %y : tensor<4x3xf32>
  return %m : tensor<4x3xf32>
}
"""


@given(data=st.data())
def test_an_expensive_producer_is_not_recomputed_across_a_broadcast(data):
    after = fused(BROADCAST_OF_EXPENSIVE, data)
    gs = generics(after)
    assert len(gs) == 2  # the broadcast fused into the multiplication, exp stayed apart
    assert body_names(gs[0]) == ["math.exp", "tensor.yield"]


REDUCTION_PRODUCER = """
func.func @f(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %m = tensor.reduce max, %x, dims = [1] : tensor<4x3xf32> -> tensor<4xf32>
  %b = tensor.broadcast %m, dims = [0] : tensor<4xf32> -> tensor<4x3xf32>
  %d = tensor.sub %x, %b : tensor<4x3xf32>
  return %d : tensor<4x3xf32>
}
"""


@given(data=st.data())
def test_a_reduction_is_never_fused_into_its_consumer(data):
    gs = generics(fused(REDUCTION_PRODUCER, data))
    assert len(gs) == 2
    assert gs[0].iterators == ["parallel", "reduction"]


OTHER_BLOCK = """
func.func @f(%x: tensor<4xf32>, %c: i1) -> tensor<4xf32> {
  %e = tensor.exp %x : tensor<4xf32>
  %r = loop.if %c -> (tensor<4xf32>) {
    %n = tensor.neg %e : tensor<4xf32>
    loop.yield %n : tensor<4xf32>
  } else {
    loop.yield %x : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}
"""


@given(data=st.data())
def test_a_producer_in_another_block_is_not_fused(data):
    assert len(generics(fused(OTHER_BLOCK, data))) == 2


DEAD_INPUTS = """
func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>, %z: tensor<4x3xf32>) -> (tensor<4xf32>,
                                                                             tensor<4xf32>) {
  %e = tensor.empty : tensor<4xf32>
  %a = tensor.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>,
                                        affine_map<(d0) -> (d0)>],
                       iterator_types = ["parallel"]}
      ins(%x, %y : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a0: f32, %b0: f32, %o: f32):
    %n = arith.negf %a0 : f32
    tensor.yield %n : f32
  }
  %zero = tensor.constant dense<0.0> : tensor<4xf32>
  %s = tensor.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                        affine_map<(d0, d1) -> (d0)>,
                                        affine_map<(d0, d1) -> (d0)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%z, %x : tensor<4x3xf32>, tensor<4xf32>) outs(%zero : tensor<4xf32>) {
  ^bb0(%unused: f32, %v: f32, %acc: f32):
    %t = arith.addf %acc, %v : f32
    tensor.yield %t : f32
  }
  return %a, %s : tensor<4xf32>, tensor<4xf32>
}
"""


@given(data=st.data())
def test_unused_inputs_are_dropped_unless_they_fix_a_loop_extent(data):
    m = as_module(DEAD_INPUTS)
    after = validate(m, FUSE, draw_inputs(data, m))
    a, s = generics(after)
    assert len(a.inputs) == 1 and a.maps[0] == AffineMap.identity(1)
    assert len(s.inputs) == 2  # %z is the only operand giving the reduction its extent


# ------------------------------------------------------------------ the map algebra


def test_compose_through_inverts_the_output_permutation():
    operand = AffineMap(2, 0, (dim(0) * 3, dim(1)))
    output = AffineMap.permutation((1, 0))
    consumer = AffineMap(3, 0, (dim(2), dim(0) + 1))
    # producer point (p0, p1) = (d0 + 1, d2); operand index (3 * p0, p1).
    assert str(compose_through(operand, output, consumer)) == "(d0, d1, d2) -> ((d0 + 1) * 3, d2)"


def test_reads_each_element_once():
    assert reads_each_element_once(AffineMap.permutation((1, 0)))
    assert reads_each_element_once(AffineMap(2, 0, (dim(0) * 2 + 1, dim(1))))
    assert not reads_each_element_once(AffineMap.from_dims(2, (0,)))
    assert not reads_each_element_once(AffineMap(1, 0, (dim(0), dim(0))))


# -------------------------------------------------------------------- random programs


@st.composite
def broadcast_programs(draw):
    """Random elementwise/broadcast/transpose/reduce programs over a matrix shape (a, b) and
    its row and column vectors. Ops mostly extend the latest value (so chains form), but any
    value may be used again (so some producers have several consumers)."""
    a, b = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mat, row, col, one = (tensor((a, b), f32), tensor((b,), f32), tensor((a,), f32),
                          tensor((1, b), f32))
    arg_types = (mat, mat, row, col, one)
    f = FuncOp.create("f", FunctionType(arg_types, ()))
    bld = Builder.at_end(f.entry_block)
    pool = list(f.entry_block.args)
    for _ in range(draw(st.integers(2, 9))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "broadcast", "transpose",
                                     "reduce"]))
        x = pool[-1] if draw(st.booleans()) else draw(st.sampled_from(pool))
        if kind == "unary":
            v = bld.create(draw(st.sampled_from([T.NegOp, T.TanhOp, T.ExpOp, T.AbsOp])), x)
        elif kind == "binary":
            y = draw(st.sampled_from([v for v in pool if v.type == x.type]))
            v = bld.create(draw(st.sampled_from([T.AddOp, T.SubOp, T.MulOp, T.MaxOp])), x, y)
        elif kind == "broadcast" and x.type.shape != (a, b):
            dims = {row: [1], col: [0], one: [0, 1]}[x.type]
            v = bld.create(T.BroadcastOp, x, dims=dims, result_types=[mat])
        elif kind == "transpose" and a == b and x.type == mat:
            v = bld.create(T.TransposeOp, x, permutation=[1, 0])
        elif kind == "reduce" and x.type == mat:
            axis = draw(st.integers(0, 1))
            v = bld.create(T.ReduceOp, x, kind=draw(st.sampled_from(["sum", "max"])),
                           dims=[axis])
        else:
            continue
        pool.append(v.result)
    results = [pool[-1], *draw(st.lists(st.sampled_from(pool), max_size=1))]
    f.set_type(FunctionType(arg_types, tuple(v.type for v in results)))
    bld.create(ReturnOp, results)
    return module([f])


def unfused_pairs(m) -> list[tuple[T.GenericOp, T.GenericOp]]:
    """Producer/consumer pairs the pass should have fused: an all-parallel producer whose
    only user is the consumer (as inputs), read through permutation maps or cheap."""
    pairs = []
    for c in generics(m):
        for i, v in enumerate(c.inputs):
            if not (isinstance(v, OpResult) and isinstance(v.op, T.GenericOp)):
                continue
            p = v.op
            n_in = len(c.inputs)
            only_inputs = all(u.owner is c and u.index < n_in for r in p.results
                              for u in r.uses)
            parallel = all(it == "parallel" for it in p.iterators)
            body_ops = len(p.regions[0].blocks[0]) - 1
            reads = c.maps[i]
            once = reads.is_projected_permutation and len(reads.results) == reads.num_dims
            if only_inputs and parallel and (once or body_ops == 0):
                pairs.append((p, c))
    return pairs


@given(m=broadcast_programs(), data=st.data())
def test_random_programs_fuse_to_a_fixed_point_with_identical_results(m, data):
    generic = apply(as_module(m), "func.func(generalize)")
    inputs = draw_inputs(data, generic)
    after = validate(generic, FUSE, inputs)
    assert len(generics(after)) <= len(generics(generic))
    assert unfused_pairs(after) == []
    # Fusion followed by the cleanups still agrees with the original named ops.
    cleaned = validate(m, "func.func(generalize,fuse-elementwise,canonicalize,cse)", inputs,
                       rtol=1e-5)
    assert count_ops(cleaned, "tensor.empty") <= len(generics(cleaned))


def test_fused_programs_print_and_parse_back():
    after = apply(apply(as_module(SOFTMAX_DENOMINATOR), "func.func(generalize)"), FUSE)
    text = str(after)
    again = as_module(text)
    assert str(again) == text
    x = np.ones((4, 3), np.float32)
    m = np.zeros(4, np.float32)
    from avalon.backends.interpreter import run
    np.testing.assert_allclose(run(again, "f", x, m), np.full(4, 3 * np.e, np.float32),
                               rtol=1e-6)


def test_the_documented_example_is_current():
    check_doc_example("fuse-elementwise")
