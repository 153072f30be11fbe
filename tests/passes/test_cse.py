"""Common subexpression elimination: equivalence, memory effects, regions and dominance."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import avalon.ir.dialects  # noqa: F401  (registers arith/func/memory for the text tests)
from avalon.ir.attributes import IntegerAttr, StringAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation, Value
from avalon.ir.dialects.builtin import module
from avalon.ir.opdef import (
    AnyAttr,
    Attr,
    Op,
    Operand,
    OptAttr,
    Result,
    SingleRegion,
    Successor,
    VarOperand,
)
from avalon.ir.parser import parse_module
from avalon.ir.printer import print_op
from avalon.ir.traits import (
    Commutative,
    ConstantLike,
    IsolatedFromAbove,
    MemoryEffect,
    MemoryEffects,
    Pure,
    RecursiveMemoryEffects,
    ReturnLike,
    Terminator,
)
from avalon.ir.types import i1, i32, i64
from avalon.passes.cse import CSE, dominator_children, eliminate_common_subexpressions


class Const(Op):
    name = "tcse.constant"
    traits = (Pure, ConstantLike)
    value = Attr(AnyAttr)
    result = Result()


class Add(Op):
    name = "tcse.add"
    traits = (Pure, Commutative)
    lhs = Operand()
    rhs = Operand()
    result = Result()
    tag = OptAttr(AnyAttr)


class Sub(Op):
    name = "tcse.sub"
    traits = (Pure,)
    lhs = Operand()
    rhs = Operand()
    result = Result()


class Load(Op):
    name = "tcse.load"
    traits = (MemoryEffects(MemoryEffect.READ),)
    ref = Operand()
    result = Result()


class Store(Op):
    name = "tcse.store"
    traits = (MemoryEffects(MemoryEffect.WRITE),)
    ref = Operand()


class Alloc(Op):
    name = "tcse.alloc"
    traits = (MemoryEffects(MemoryEffect.ALLOC),)
    result = Result()


class Opaque(Op):
    """Unknown effects."""

    name = "tcse.opaque"
    values = VarOperand()
    result = Result()


class Sink(Op):
    name = "tcse.sink"
    values = VarOperand()


class Scope(Op):
    name = "tcse.scope"
    traits = (RecursiveMemoryEffects,)
    body_region = SingleRegion()
    result = Result()


class Yield(Op):
    name = "tcse.yield"
    traits = (Pure, Terminator, ReturnLike)
    values = VarOperand()


class Func(Op):
    name = "tcse.func"
    traits = (IsolatedFromAbove,)
    body_region = SingleRegion()


class Br(Op):
    name = "tcse.br"
    traits = (Pure, Terminator)
    dest = Successor()


class CondBr(Op):
    name = "tcse.cond_br"
    traits = (Pure, Terminator)
    cond = Operand()
    yes = Successor()
    no = Successor()


class Ret(Op):
    name = "tcse.ret"
    traits = (Pure, Terminator, ReturnLike)


def make_func(nargs: int = 2) -> tuple[Operation, Operation, Builder, list[Value]]:
    fn = Func.build()
    block = Block([i32] * nargs)
    fn.regions[0].add_block(block)
    return module([fn]), fn, Builder.at_end(block), list(block.args)


def add(b: Builder, x: Value, y: Value, **kw) -> Value:
    return b.create(Add, x, y, result_types=[i32], **kw).result


def count(root: Operation, name: str) -> int:
    return sum(1 for op in root.walk_ops() if op.name == name)


def scope(b: Builder, body) -> Operation:
    """A tcse.scope whose body is built by ``body(builder) -> yielded value``."""
    op = b.create(Scope, result_types=[i32])
    inner = Builder.at_end(op.regions[0].add_block(Block()))
    inner.create(Yield, values=[body(inner)])
    return op


# ----------------------------------------------------------------------------- equivalence
def test_duplicate_pure_ops_are_merged():
    m, fn, b, (x, y) = make_func()
    a1 = add(b, x, y)
    a2 = add(b, x, y)
    sink = b.create(Sink, values=[a1, a2])
    result = eliminate_common_subexpressions(m)
    assert result.cse == 1
    assert count(fn, "tcse.add") == 1
    assert sink.operands == (a1, a1)


def test_commutative_operands_in_any_order():
    m, fn, b, (x, y) = make_func()
    a1 = add(b, x, y)
    a2 = add(b, y, x)
    s1 = b.create(Sub, x, y, result_types=[i32]).result
    s2 = b.create(Sub, y, x, result_types=[i32]).result
    b.create(Sink, values=[a1, a2, s1, s2])
    assert eliminate_common_subexpressions(m).cse == 1
    assert count(fn, "tcse.add") == 1
    assert count(fn, "tcse.sub") == 2


def test_attributes_and_result_types_must_match():
    m, fn, b, (x, y) = make_func()
    a = add(b, x, y, tag=StringAttr("a"))
    a_other = add(b, x, y, tag=StringAttr("b"))
    wide = b.create(Add, x, y, result_types=[i64]).result
    c1 = b.create(Const, value=IntegerAttr(1, i32), result_types=[i32]).result
    c2 = b.create(Const, value=IntegerAttr(1, i64), result_types=[i64]).result
    c3 = b.create(Const, value=IntegerAttr(1, i32), result_types=[i32]).result
    sink = b.create(Sink, values=[a, a_other, wide, c1, c2, c3])
    assert eliminate_common_subexpressions(m).cse == 1
    assert sink.operands[5] is c1
    assert count(fn, "tcse.add") == 3


def test_chains_collapse_transitively():
    m, _fn, b, (x, y) = make_func()
    a1 = add(b, x, y)
    b1 = add(b, a1, x)
    a2 = add(b, x, y)
    b2 = add(b, a2, x)
    sink = b.create(Sink, values=[b1, b2])
    assert eliminate_common_subexpressions(m).cse == 2
    assert sink.operands == (b1, b1)


# --------------------------------------------------------------------------- memory effects
def test_reads_merge_only_without_an_intervening_write():
    m, _fn, b, (x, _) = make_func()
    l1 = b.create(Load, x, result_types=[i32]).result
    l2 = b.create(Load, x, result_types=[i32]).result  # merged into l1
    b.create(Alloc, result_types=[i32])  # allocation is no write
    l3 = b.create(Load, x, result_types=[i32]).result  # merged into l1
    b.create(Store, x)
    l4 = b.create(Load, x, result_types=[i32]).result  # a write happened: kept
    b.create(Opaque, values=[], result_types=[i32])
    l5 = b.create(Load, x, result_types=[i32]).result  # unknown effects: kept
    l6 = b.create(Load, x, result_types=[i32]).result  # merged into l5
    sink = b.create(Sink, values=[l1, l2, l3, l4, l5, l6])
    assert eliminate_common_subexpressions(m).cse == 3
    assert sink.operands == (l1, l1, l1, l4, l5, l5)


def test_write_inside_a_nested_region_counts():
    m, _fn, b, (x, _) = make_func()
    l1 = b.create(Load, x, result_types=[i32]).result

    def body(inner):
        inner.create(Store, x)
        return x

    scope(b, body)
    l2 = b.create(Load, x, result_types=[i32]).result
    b.create(Sink, values=[l1, l2])
    assert eliminate_common_subexpressions(m).cse == 0


def test_reads_do_not_merge_across_blocks():
    m, fn, b, (x, _) = make_func()
    outer = b.create(Load, x, result_types=[i32]).result
    sc = scope(b, lambda inner: inner.create(Load, x, result_types=[i32]).result)
    b.create(Sink, values=[outer, sc.result])
    assert eliminate_common_subexpressions(m).cse == 0
    assert count(fn, "tcse.load") == 2


def test_ops_with_other_effects_never_merge():
    m, fn, b, (x, _) = make_func()
    a1 = b.create(Alloc, result_types=[i32]).result
    a2 = b.create(Alloc, result_types=[i32]).result
    o1 = b.create(Opaque, values=[x], result_types=[i32]).result
    o2 = b.create(Opaque, values=[x], result_types=[i32]).result
    b.create(Store, x)
    b.create(Store, x)
    b.create(Sink, values=[a1, a2, o1, o2])
    assert eliminate_common_subexpressions(m).cse == 0
    assert count(fn, "tcse.store") == 2


# ---------------------------------------------------------------------------------- regions
def test_outer_values_are_visible_in_nested_regions():
    m, fn, b, (x, y) = make_func()
    outer = add(b, x, y)
    inner_add: list[Value] = []

    def body(inner):
        inner_add.append(add(inner, x, y))
        return add(inner, inner_add[0], inner_add[0])

    sc = scope(b, body)
    later = add(b, x, y)
    b.create(Sink, values=[outer, sc.result, later])
    assert eliminate_common_subexpressions(m).cse == 2
    yielded_from = sc.regions[0].blocks[0].first_op
    assert yielded_from.operands == (outer, outer)
    assert count(fn, "tcse.add") == 2  # the outer add and the one inside that uses it


def test_inner_values_do_not_leak_out_of_their_region():
    m, _fn, b, (x, y) = make_func()
    sc = scope(b, lambda inner: add(inner, x, y))
    after = add(b, x, y)
    b.create(Sink, values=[sc.result, after])
    assert eliminate_common_subexpressions(m).cse == 0


def test_isolated_regions_start_with_nothing_known():
    c_out = Const.build(value=IntegerAttr(3, i32), result_types=[i32])
    fn = Func.build()
    block = fn.regions[0].add_block(Block())
    b = Builder.at_end(block)
    c_in = b.create(Const, value=IntegerAttr(3, i32), result_types=[i32])
    b.create(Sink, values=[c_in.result])
    m = module([c_out, fn])
    Builder.at_end(m.body).create(Sink, values=[c_out.result])
    assert eliminate_common_subexpressions(m).cse == 0
    assert count(m, "tcse.constant") == 2


def test_ops_with_equal_regions_are_merged():
    m, fn, b, (x, y) = make_func()
    s1 = scope(b, lambda inner: add(inner, x, y))
    s2 = scope(b, lambda inner: add(inner, x, y))
    s3 = scope(b, lambda inner: add(inner, x, x))
    sink = b.create(Sink, values=[s1.result, s2.result, s3.result])
    assert eliminate_common_subexpressions(m).cse == 1
    assert sink.operands == (s1.result, s1.result, s3.result)
    assert count(fn, "tcse.scope") == 2


# ---------------------------------------------------------------------------------- CFG
def _diamond() -> tuple[Operation, Operation, list[Block]]:
    """entry -> (left | right) -> merge, with x + y computed in every block."""
    fn = Func.build()
    region = fn.regions[0]
    entry = region.add_block(Block([i32, i32, i1]))
    left, right, merge = (region.add_block(Block()) for _ in range(3))
    x, y, cond = entry.args
    be = Builder.at_end(entry)
    be.create(Sink, values=[add(be, x, y)])
    be.create(CondBr, cond, successors=[left, right])
    for blk in (left, right, merge):
        bb = Builder.at_end(blk)
        bb.create(Sink, values=[add(bb, x, y), bb.create(Sub, x, y, result_types=[i32]).result])
        if blk is merge:
            bb.create(Ret)
        else:
            bb.create(Br, successors=[merge])
    return module([fn]), fn, [entry, left, right, merge]


def test_dominator_tree_of_a_diamond():
    _, fn, (entry, left, right, merge) = _diamond()
    children = dominator_children(fn.regions[0])
    assert set(children[entry]) == {left, right, merge}
    assert children[left] == children[right] == children[merge] == []


def test_cse_follows_dominance_across_blocks():
    m, fn, (entry, left, right, merge) = _diamond()
    assert eliminate_common_subexpressions(m).cse == 3  # the adds in left, right and merge
    outer = entry.first_op
    for blk in (left, right, merge):
        sub, sink = list(blk.ops)[:2]
        assert sub.name == "tcse.sub"  # the add went away
        assert sink.operands[0] is outer.result
    assert count(fn, "tcse.sub") == 3  # subs only in sibling blocks: none dominates another


def test_unreachable_blocks_are_handled():
    m, fn, (entry, _left, _right, _merge) = _diamond()
    dead = fn.regions[0].add_block(Block())
    bb = Builder.at_end(dead)
    x, y, _ = entry.args
    bb.create(Sink, values=[add(bb, x, y), add(bb, x, y)])
    bb.create(Ret)
    eliminate_common_subexpressions(m)
    assert sum(1 for op in dead.ops if op.name == "tcse.add") == 1


# -------------------------------------------------------------------------------- pass
def test_pass_statistics_and_dead_ops():
    m, fn, b, (x, y) = make_func()
    add(b, x, x)  # dead
    b.create(Sink, values=[add(b, x, y), add(b, x, y)])
    p = CSE()
    p.run(m)
    assert p.statistics["num-cse'd"].value == 1
    assert p.statistics["num-dce'd"].value == 1
    assert count(fn, "tcse.add") == 1


def test_cse_on_text_ir():
    m = parse_module("""
func.func @f(%a: i32, %b: i32, %buf: memref<4xi32>) -> i32 {
  %c0 = arith.constant 0 : index
  %0 = arith.addi %a, %b : i32
  %1 = arith.addi %b, %a : i32
  %2 = arith.muli %0, %1 : i32
  %3 = memory.load %buf[%c0] : memref<4xi32>
  %4 = memory.load %buf[%c0] : memref<4xi32>
  memory.store %2, %buf[%c0] : memref<4xi32>
  %5 = memory.load %buf[%c0] : memref<4xi32>
  %6 = arith.addi %3, %4 : i32
  %7 = arith.addi %6, %5 : i32
  %c0_0 = arith.constant 0 : index
  %8 = arith.addi %7, %2 : i32
  return %8 : i32
}
""")
    CSE().run(m)
    lines = [line.strip() for line in print_op(m).splitlines()]
    assert lines[2:10] == [
        "%0 = arith.constant 0 : index",
        "%1 = arith.addi %arg0, %arg1 : i32",
        "%2 = arith.muli %1, %1 : i32",
        "%3 = memory.load %arg2[%0] : memref<4xi32>",
        "memory.store %2, %arg2[%0] : memref<4xi32>",
        "%4 = memory.load %arg2[%0] : memref<4xi32>",
        "%5 = arith.addi %3, %3 : i32",
        "%6 = arith.addi %5, %4 : i32",
    ]


# ------------------------------------------------------------------------------ properties
@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.booleans()),
                min_size=1, max_size=25))
def test_no_two_equivalent_pure_ops_remain(steps):
    m, fn, b, params = make_func(2)
    values: list[Value] = list(params)
    for i, j, is_add in steps:
        x, y = values[i % len(values)], values[j % len(values)]
        op = Add if is_add else Sub
        values.append(b.create(op, x, y, result_types=[i32]).result)
    b.create(Sink, values=values[2:])
    before = _evaluate(fn, [3, 11])
    eliminate_common_subexpressions(m)
    assert _evaluate(fn, [3, 11]) == before
    seen = set()
    for op in fn.body.ops:
        if op.name in ("tcse.add", "tcse.sub"):
            ids = tuple(id(v) for v in op.operands)
            key = (op.name, tuple(sorted(ids)) if op.name == "tcse.add" else ids)
            assert key not in seen
            seen.add(key)


def _evaluate(fn: Operation, args: list[int]) -> list[int]:
    env: dict[Value, int] = dict(zip(fn.body.args, args))
    for op in fn.body.ops:
        if op.name == "tcse.add":
            env[op.result] = env[op.operands[0]] + env[op.operands[1]]
        elif op.name == "tcse.sub":
            env[op.result] = env[op.operands[0]] - env[op.operands[1]]
        elif op.name == "tcse.sink":
            return [env[v] for v in op.operands]
    return []
