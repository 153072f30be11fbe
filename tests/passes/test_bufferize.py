"""``bufferize``: the destination-passing ABI and the choice of buffers.

The ABI: tensor arguments become memrefs that are never written unless donated, tensor results
become trailing ``{avalon.out, avalon.result = k}`` out-parameters (or are tied to a donated
argument they were computed in place over), scalars stay scalars. Buffers: results go straight
into out-parameters, dying operands are reused in place, views do not copy, allocations are
freed. Every test also interprets the bufferized function (memref arguments alias the
caller's arrays, so any write into an argument would be visible).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from avalon.backends.interpreter import run
from avalon.ir.attributes import IntegerAttr, UnitAttr
from avalon.ir.core import BlockArgument, Operation
from avalon.ir.parser import parse_module
from avalon.ir.types import MemRefType, f32
from avalon.passes.bufferize import ResultSlot, result_slots
from avalon.passes.lower_to_loops import storage_root
from avalon.passes.manager import PassPipelineError
from tests.passes.test_lower_to_loops import (
    EXAMPLES,
    assert_close,
    call_bufferized,
    function,
    interpret,
    lower,
    no_tensors,
)

BUFFERIZE = "bufferize"


def bufferized(src: str) -> tuple[Operation, Operation]:
    module = parse_module(src)
    return module, lower(module, BUFFERIZE)


def ops_named(op: Operation, name: str) -> list[Operation]:
    return [o for o in op.walk_ops() if o.name == name]


def written_roots(fn: Operation) -> set:
    """Storage written by any op of ``fn``."""
    writers = {"memory.store": 1, "memory.copy": 1, "memory.fill": 1, "vector.store": 1}
    return {storage_root(o.operands[writers[o.name]]) for o in fn.walk_ops() if o.name in writers}


def validate(src: str, inputs: list, rtol: float = 0.0, name: str = "f") -> Operation:
    """Bufferize, interpret through the ABI, compare, and check that non-donated argument
    arrays come back unchanged; returns the bufferized module."""
    module, out = bufferized(src)
    assert no_tensors(out)
    want = interpret(module, inputs, name)
    got, args = call_bufferized(out, name, inputs)
    assert_close(want, got, rtol)
    fn = function(out, name)
    for i, (before, after) in enumerate(zip(inputs, args)):
        donated = fn.arg_attr_dicts()[i].get("avalon.donate") is not None  # type: ignore
        if isinstance(before, np.ndarray) and not donated:
            np.testing.assert_array_equal(after, before)
    return out


def x23(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, 3)).astype(np.float32)


# ------------------------------------------------------------------------------- the ABI


def test_signature_becomes_destination_passing() -> None:
    src = """
    func.func @f(%x: tensor<2x3xf32> {avalon.name = "x"}, %s: f32, %y: tensor<3xi32>)
        -> (tensor<3xi32>, f32, tensor<2x3xf32> {avalon.name = "out"}) {
      %e = tensor.exp %x : tensor<2x3xf32>
      return %y, %s, %e : tensor<3xi32>, f32, tensor<2x3xf32>
    }"""
    out = validate(src, [x23(), np.float32(2.5), np.arange(3, dtype=np.int32)])
    fn = function(out)
    ft = fn.type  # type: ignore[attr-defined]
    assert [str(t) for t in ft.inputs] == ["memref<2x3xf32>", "f32", "memref<3xi32>",
                                           "memref<3xi32>", "memref<2x3xf32>"]
    assert list(ft.results) == [f32]
    dicts = [d.as_dict() for d in fn.arg_attr_dicts()]  # type: ignore[attr-defined]
    assert dicts[0] == {"avalon.name": dicts[0]["avalon.name"]}
    assert dicts[3] == {"avalon.out": UnitAttr(), "avalon.result": IntegerAttr(0, dicts[3][
        "avalon.result"].type)}
    assert dicts[4]["avalon.result"].value == 2 and dicts[4]["avalon.name"].value == "out"
    assert fn.res_attr_dicts()[0].get("avalon.result").value == 1  # type: ignore
    assert isinstance(fn.attributes["avalon.bufferized"], UnitAttr)
    assert result_slots(fn) == [ResultSlot("out", 3), ResultSlot("scalar", 0),  # type: ignore
                                ResultSlot("out", 4)]


def test_results_are_computed_directly_into_out_parameters() -> None:
    src = """
    func.func @f(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
      %a = tensor.add %x, %y : tensor<2x3xf32>
      %b = tensor.tanh %a : tensor<2x3xf32>
      %c = tensor.mul %b, %x : tensor<2x3xf32>
      return %c : tensor<2x3xf32>
    }"""
    out = validate(src, [x23(0), x23(1)])
    assert not ops_named(out, "memory.copy")
    # %a gets one buffer, %b reuses it in place, %c is written into the out-parameter.
    assert len(ops_named(out, "memory.alloc")) == 1
    assert len(ops_named(out, "memory.dealloc")) == 1
    out_param = function(out).entry_block.args[2]  # type: ignore[attr-defined]
    assert out_param in written_roots(function(out))


def test_dying_operands_are_updated_in_place() -> None:
    body = ["%v0 = tensor.exp %x : tensor<4x4xf32>"]
    for i in range(1, 6):
        body.append(f"%v{i} = tensor.add %v{i - 1}, %x : tensor<4x4xf32>")
    body.append("%s = tensor.reduce sum, %v5, dims = [0, 1] : tensor<4x4xf32> -> tensor<f32>")
    src = ("func.func @f(%x: tensor<4x4xf32>) -> tensor<f32> {\n" + "\n".join(body)
           + "\nreturn %s : tensor<f32>\n}")
    out = validate(src, [np.random.default_rng(2).random((4, 4), np.float32)], rtol=1e-6)
    assert len(ops_named(out, "memory.alloc")) == 1


def test_live_values_are_not_overwritten() -> None:
    # %a is still read after %b = neg(%a), so %b cannot reuse %a's buffer.
    src = """
    func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
      %a = tensor.exp %x : tensor<3xf32>
      %b = tensor.neg %a : tensor<3xf32>
      %c = tensor.mul %a, %b : tensor<3xf32>
      return %c : tensor<3xf32>
    }"""
    out = validate(src, [np.array([0.5, -1.0, 2.0], np.float32)])
    assert len(ops_named(out, "memory.alloc")) == 2


def test_returning_an_argument_copies_it() -> None:
    src = """
    func.func @f(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
      %e = tensor.neg %x : tensor<2x3xf32>
      return %x, %e : tensor<2x3xf32>, tensor<2x3xf32>
    }"""
    out = validate(src, [x23()])
    (copy,) = ops_named(out, "memory.copy")
    args = function(out).entry_block.args  # type: ignore[attr-defined]
    assert copy.operands[0] is args[0] and copy.operands[1] is args[1]


def test_same_value_returned_twice() -> None:
    src = """
    func.func @f(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
      %e = tensor.sin %x : tensor<2x3xf32>
      return %e, %e : tensor<2x3xf32>, tensor<2x3xf32>
    }"""
    out = validate(src, [x23()])
    args = function(out).entry_block.args  # type: ignore[attr-defined]
    (copy,) = ops_named(out, "memory.copy")  # computed into #0, copied into #1
    assert copy.operands[0] is args[1] and copy.operands[1] is args[2]


def test_returned_constants_are_written_into_their_out_parameters() -> None:
    src = """
    func.func @f() -> (tensor<2x2xf32>, tensor<3xi32>, tensor<2x2xf32>) {
      %a = tensor.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
      %b = tensor.constant dense<7> : tensor<3xi32>
      %t = tensor.transpose %a, permutation = [1, 0] : tensor<2x2xf32> -> tensor<2x2xf32>
      return %t, %b, %a : tensor<2x2xf32>, tensor<3xi32>, tensor<2x2xf32>
    }"""
    out = validate(src, [])
    assert not ops_named(out, "memory.alloc")


def test_views_alias_instead_of_copying() -> None:
    src = """
    func.func @f(%x: tensor<4x6xf32>) -> tensor<3x2xf32> {
      %t = tensor.transpose %x, permutation = [1, 0] : tensor<4x6xf32> -> tensor<6x4xf32>
      %s = tensor.slice %t, start = [0, 1], limit = [6, 3], stride = [2, 1]
          : tensor<6x4xf32> -> tensor<3x2xf32>
      %r = tensor.reshape %x : tensor<4x6xf32> -> tensor<2x12xf32>
      %q = tensor.slice %r, start = [1, 0], limit = [2, 6], stride = [1, 1]
          : tensor<2x12xf32> -> tensor<1x6xf32>
      %p = tensor.reshape %q : tensor<1x6xf32> -> tensor<3x2xf32>
      %y = tensor.add %s, %p : tensor<3x2xf32>
      return %y : tensor<3x2xf32>
    }"""
    out = validate(src, [np.arange(24, dtype=np.float32).reshape(4, 6)])
    assert not ops_named(out, "memory.copy") and not ops_named(out, "memory.alloc")
    assert ops_named(out, "memory.transpose") and ops_named(out, "memory.subview")


def test_reshaping_a_strided_view_copies_it() -> None:
    src = """
    func.func @f(%x: tensor<2x3xf32>) -> tensor<6xf32> {
      %t = tensor.transpose %x, permutation = [1, 0] : tensor<2x3xf32> -> tensor<3x2xf32>
      %r = tensor.reshape %t : tensor<3x2xf32> -> tensor<6xf32>
      return %r : tensor<6xf32>
    }"""
    out = validate(src, [x23()])
    assert len(ops_named(out, "memory.copy")) == 1


def test_values_returned_through_views_are_computed_in_the_out_parameter() -> None:
    src = """
    func.func @f(%x: tensor<2x3xf32>) -> (tensor<6xf32>, tensor<3x2xf32>) {
      %e = tensor.exp %x : tensor<2x3xf32>
      %r = tensor.reshape %e : tensor<2x3xf32> -> tensor<6xf32>
      %n = tensor.neg %x : tensor<2x3xf32>
      %t = tensor.transpose %n, permutation = [1, 0] : tensor<2x3xf32> -> tensor<3x2xf32>
      return %r, %t : tensor<6xf32>, tensor<3x2xf32>
    }"""
    out = validate(src, [x23()])
    assert not ops_named(out, "memory.copy") and not ops_named(out, "memory.alloc")


def test_out_parameter_requests_follow_chains_of_views() -> None:
    src = """
    func.func @f(%x: tensor<2x3xf32>) -> tensor<6xf32> {
      %e = tensor.exp %x : tensor<2x3xf32>
      %t = tensor.transpose %e, permutation = [1, 0] : tensor<2x3xf32> -> tensor<3x2xf32>
      %r = tensor.reshape %t : tensor<3x2xf32> -> tensor<6xf32>
      return %r : tensor<6xf32>
    }"""
    out = validate(src, [x23()])
    assert not ops_named(out, "memory.copy") and not ops_named(out, "memory.alloc")


# ------------------------------------------------------------------------------ donation


DONATED_STEP = """
func.func @step(%p: tensor<4xf32> {avalon.donate}, %g: tensor<4xf32>, %lr: tensor<f32>)
    -> (tensor<4xf32>, tensor<4xf32>) {
  %l = tensor.broadcast %lr, dims = [] : tensor<f32> -> tensor<4xf32>
  %s = tensor.mul %g, %l : tensor<4xf32>
  %n = tensor.sub %p, %s : tensor<4xf32>
  %g2 = tensor.mul %g, %g : tensor<4xf32>
  return %n, %g2 : tensor<4xf32>, tensor<4xf32>
}
"""


def test_donated_argument_is_updated_in_place_and_tied_to_its_result() -> None:
    module, out = bufferized(DONATED_STEP)
    fn = function(out, "step")
    dicts = fn.arg_attr_dicts()  # type: ignore[attr-defined]
    assert dicts[0].get("avalon.donate") is not None and dicts[0].get("avalon.result").value == 0
    assert result_slots(fn) == [ResultSlot("tied", 0), ResultSlot("out", 3)]  # type: ignore
    assert len(fn.type.inputs) == 4  # type: ignore[attr-defined]  (p, g, lr, out for g2)
    p = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    g = np.array([0.5, -1.0, 2.0, 0.0], np.float32)
    lr = np.array(0.1, np.float32)
    want = interpret(module, [p, g, lr], "step")
    g2 = np.zeros(4, np.float32)
    args = [p.copy(), g.copy(), lr.copy(), g2]
    run(out, "step", *args)
    np.testing.assert_array_equal(args[0], want[0])  # the caller's parameter array, updated
    np.testing.assert_array_equal(args[3], want[1])
    np.testing.assert_array_equal(args[1], g)  # not donated: untouched
    assert len(ops_named(out, "memory.alloc")) == 1  # the broadcast; %s reuses it in place


def test_donation_by_function_attribute() -> None:
    src = DONATED_STEP.replace(" {avalon.donate}", "").replace(
        "-> (tensor<4xf32>, tensor<4xf32>) {",
        "-> (tensor<4xf32>, tensor<4xf32>) attributes {avalon.donate = array<i64: 0>} {")
    _, out = bufferized(src)
    fn = function(out, "step")
    assert "avalon.donate" not in fn.attributes
    assert result_slots(fn)[0] == ResultSlot("tied", 0)  # type: ignore[arg-type]


def test_a_returned_donated_argument_is_tied_without_copying() -> None:
    src = """
    func.func @f(%p: tensor<3xf32> {avalon.donate}, %q: tensor<3xf32>)
        -> (tensor<3xf32>, tensor<3xf32>) {
      return %p, %q : tensor<3xf32>, tensor<3xf32>
    }"""
    out = validate(src, [np.ones(3, np.float32), np.zeros(3, np.float32)])
    assert result_slots(function(out)) == [ResultSlot("tied", 0),  # type: ignore[arg-type]
                                           ResultSlot("out", 2)]
    assert len(ops_named(out, "memory.copy")) == 1  # only the non-donated %q


def test_donated_argument_still_needed_is_not_overwritten() -> None:
    src = """
    func.func @f(%p: tensor<3xf32> {avalon.donate}) -> (tensor<3xf32>, tensor<3xf32>) {
      %a = tensor.exp %p : tensor<3xf32>
      %b = tensor.add %a, %p : tensor<3xf32>
      return %a, %b : tensor<3xf32>, tensor<3xf32>
    }"""
    out = validate(src, [np.array([0.0, 1.0, -1.0], np.float32)])
    assert [s.kind for s in result_slots(function(out))] == ["out", "tied"]  # type: ignore


# --------------------------------------------------------------------------------- calls


CALLS = """
func.func private @axpy(%x: tensor<4xf32> {avalon.donate}, %y: tensor<4xf32>)
    -> (tensor<4xf32>, f32) {
  %s = tensor.add %x, %y : tensor<4xf32>
  %x2 = tensor.add %s, %x : tensor<4xf32>
  %c = arith.constant 2.0 : f32
  return %x2, %c : tensor<4xf32>, f32
}
func.func private @ext(%x: tensor<4xf32>) -> tensor<4xf32>
func.func @f(%a: tensor<4xf32>, %b: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, f32) {
  %r:2 = func.call @axpy(%a, %b) : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, f32)
  %q:2 = func.call @axpy(%r#0, %r#0) : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, f32)
  return %q#0, %a, %r#1 : tensor<4xf32>, tensor<4xf32>, f32
}
"""


def test_calls_pass_buffers_and_protect_the_callers_values() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    b = np.array([0.5, 0.25, -1.0, 2.0], np.float32)
    out = validate(CALLS, [a, b])
    callee = function(out, "axpy")
    assert [s.kind for s in result_slots(callee)] == ["out", "scalar"]  # type: ignore
    ext = function(out, "ext")
    assert [str(t) for t in ext.type.inputs] == ["memref<4xf32>", "memref<4xf32>"]  # type: ignore
    calls = ops_named(function(out, "f"), "func.call")
    assert [len(c.operands) for c in calls] == [3, 3]
    # @a is donated to the first call but still returned: it is copied first. The second
    # call gets @r#0 twice: the donated slot is a copy, so no argument aliases another.
    first, second = calls
    args = function(out, "f").entry_block.args  # type: ignore[attr-defined]
    assert first.operands[0] is not args[0]
    assert second.operands[0] is not second.operands[1]


# ------------------------------------------------------------------- deallocation, errors


def test_every_allocation_is_freed_once_after_its_last_use() -> None:
    src = """
    func.func @f(%x: tensor<2x3xf32>, %y: tensor<3x2xf32>) -> tensor<2x2xf32> {
      %a = tensor.exp %x : tensor<2x3xf32>
      %b = tensor.exp %y : tensor<3x2xf32>
      %t = tensor.transpose %b, permutation = [1, 0] : tensor<3x2xf32> -> tensor<2x3xf32>
      %c = tensor.mul %a, %t : tensor<2x3xf32>
      %m = tensor.matmul %c, %b : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
      return %m : tensor<2x2xf32>
    }"""
    out = validate(src, [x23(), x23(1).T.copy()], rtol=1e-6)
    fn = function(out)
    block = fn.entry_block  # type: ignore[attr-defined]
    for alloc in ops_named(fn, "memory.alloc"):
        mem = alloc.results[0]
        frees = [u for u in mem.users if u.name == "memory.dealloc"]
        assert len(frees) == 1
        aliases = [mem] + [u.results[0] for u in mem.users if u.name.startswith("memory.")
                           and u.results]
        for v in aliases:
            for user in v.users:
                top = user
                while top.parent is not block:
                    top = top.parent_op
                assert top is frees[0] or top.is_before_in_block(frees[0])


def test_tensors_in_nested_regions_are_a_located_error() -> None:
    src = """
    func.func @f(%x: tensor<2xf32>, %n: index) -> tensor<2xf32> {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %r = loop.for %i = %c0 to %n step %c1 iter_args(%a = %x) -> (tensor<2xf32>) {
        %b = tensor.exp %a : tensor<2xf32>
        loop.yield %b : tensor<2xf32>
      }
      return %r : tensor<2xf32>
    }"""
    with pytest.raises(PassPipelineError, match="nested regions") as err:
        bufferized(src)
    assert err.value.pass_name == "bufferize"


def test_already_bufferized_functions_are_left_alone() -> None:
    _, out = bufferized(DONATED_STEP)
    text = str(out)
    again = lower(out, BUFFERIZE)
    assert str(again) == text


# ------------------------------------------------------------------ random programs


_UNARY = ("exp", "neg", "abs", "tanh")
_BINARY = ("add", "mul", "sub", "max")
_TYPES = {"a": "tensor<2x3xf32>", "b": "tensor<3x2xf32>", "c": "tensor<6xf32>",
          "d": "tensor<3xf32>"}
_SHAPES = {"a": (2, 3), "b": (3, 2), "c": (6,), "d": (3,)}


@st.composite
def programs(draw: Callable) -> tuple[str, list[np.ndarray], set[int]]:
    """Random straight-line programs over a few shapes: elementwise ops, transposes,
    reshapes, slices, reductions, broadcasts and constants, returning a random selection of
    values (arguments and duplicates included) with random donated arguments."""
    n_args = draw(st.integers(1, 3))
    kinds = [draw(st.sampled_from("abc")) for _ in range(n_args)]
    donated = set(draw(st.sets(st.integers(0, n_args - 1))))
    values: list[tuple[str, str]] = [(f"%x{i}", k) for i, k in enumerate(kinds)]
    body: list[str] = []
    for i in range(draw(st.integers(1, 7))):
        name, kind = f"%v{i}", None
        choice = draw(st.sampled_from(("unary", "binary", "binary", "view", "reduce",
                                       "broadcast", "constant")))
        src, sk = draw(st.sampled_from(values))
        st_ = _TYPES[sk]
        if choice == "unary":
            body.append(f"{name} = tensor.{draw(st.sampled_from(_UNARY))} {src} : {st_}")
            kind = sk
        elif choice == "binary":
            same = [v for v, k in values if k == sk]
            other = draw(st.sampled_from(same))
            body.append(f"{name} = tensor.{draw(st.sampled_from(_BINARY))} {src}, {other} "
                        f": {st_}")
            kind = sk
        elif choice == "view" and sk in "ab":
            kind = draw(st.sampled_from(("a", "b", "c")))
            if kind != sk and {kind, sk} == {"a", "b"} and draw(st.booleans()):
                body.append(f"{name} = tensor.transpose {src}, permutation = [1, 0] : {st_} "
                            f"-> {_TYPES[kind]}")
            elif kind == sk:
                hi = list(_SHAPES[sk])
                body.append(f"{name} = tensor.slice {src}, start = [0, 0], limit = {hi}, "
                            f"stride = [1, 1] : {st_} -> {st_}")
            else:
                body.append(f"{name} = tensor.reshape {src} : {st_} -> {_TYPES[kind]}")
        elif choice == "view":
            kind = draw(st.sampled_from(("a", "b"))) if sk == "c" else sk
            body.append(f"{name} = tensor.reshape {src} : {st_} -> {_TYPES[kind]}"
                        if kind != sk else f"{name} = tensor.stop_gradient {src} : {st_}")
        elif choice == "reduce" and sk == "a":
            body.append(f"{name} = tensor.reduce sum, {src}, dims = [0] : {st_} -> "
                        f"{_TYPES['d']}")
            kind = "d"
        elif choice == "broadcast" and sk == "d":
            body.append(f"{name} = tensor.broadcast {src}, dims = [1] : {st_} -> {_TYPES['a']}")
            kind = "a"
        else:
            kind = draw(st.sampled_from("abcd"))
            value = draw(st.sampled_from(("1.5", "-2.0", "0.0")))
            body.append(f"{name} = tensor.constant dense<{value}> : {_TYPES[kind]}")
        values.append((name, kind))
    returned = draw(st.lists(st.sampled_from(values), min_size=1, max_size=4))
    args = ", ".join(f"%x{i}: {_TYPES[k]}" + (" {avalon.donate}" if i in donated else "")
                     for i, k in enumerate(kinds))
    rtypes = ", ".join(_TYPES[k] for _, k in returned)
    src = (f"func.func @f({args}) -> ({rtypes}) {{\n  " + "\n  ".join(body)
           + f"\n  return {', '.join(v for v, _ in returned)} : {rtypes}\n}}")
    inputs = [draw(arrays(np.float32, _SHAPES[k], elements=st.floats(-3, 3, width=32)))
              for k in kinds]
    return src, inputs, donated


@settings(max_examples=EXAMPLES * 2)
@given(programs())
def test_random_programs(program: tuple[str, list[np.ndarray], set[int]]) -> None:
    """Results match, non-donated arguments are never written (neither at run time nor by
    any store in the IR), and results tied to donated arguments arrive there."""
    src, inputs, donated = program
    out = validate(src, inputs, rtol=1e-6)
    fn = function(out)
    args = fn.entry_block.args  # type: ignore[attr-defined]
    for root in written_roots(fn):
        if isinstance(root, BlockArgument) and root.block is fn.entry_block:  # type: ignore
            attrs = fn.arg_attr_dicts()[root.index]  # type: ignore[attr-defined]
            assert root.index in donated or isinstance(attrs.get("avalon.out"), UnitAttr)
    for slot in result_slots(fn):  # type: ignore[arg-type]
        if slot.kind == "tied":
            assert slot.index in donated
            assert isinstance(args[slot.index].type, MemRefType)
