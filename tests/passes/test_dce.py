"""Dead code elimination: dead ops to a fixed point, and unreachable blocks."""

from __future__ import annotations

import avalon.ir.dialects  # noqa: F401  (registers arith/func/memory for the text tests)
from avalon.ir.attributes import StringAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation, Value
from avalon.ir.dialects.builtin import module
from avalon.ir.opdef import Op, Operand, Result, SingleRegion, Successor, VarOperand
from avalon.ir.parser import parse_module
from avalon.ir.printer import print_op
from avalon.ir.traits import (
    GraphRegion,
    IsolatedFromAbove,
    MemoryEffect,
    MemoryEffects,
    Pure,
    RecursiveMemoryEffects,
    Symbol,
    Terminator,
)
from avalon.ir.types import i32
from avalon.ir.verifier import verify
from avalon.passes.dce import (
    DCE,
    eliminate_dead_code,
    erase_dead_ops,
    erase_unreachable_blocks,
    reachable_blocks,
)


class Add(Op):
    name = "tdce.add"
    traits = (Pure,)
    lhs = Operand()
    rhs = Operand()
    result = Result()


class Load(Op):
    name = "tdce.load"
    traits = (MemoryEffects(MemoryEffect.READ),)
    ref = Operand()
    result = Result()


class Store(Op):
    name = "tdce.store"
    traits = (MemoryEffects(MemoryEffect.WRITE),)
    ref = Operand()


class Opaque(Op):
    name = "tdce.opaque"
    values = VarOperand()
    result = Result()


class Sink(Op):
    name = "tdce.sink"
    values = VarOperand()


class Scope(Op):
    name = "tdce.scope"
    traits = (RecursiveMemoryEffects,)
    body_region = SingleRegion()
    result = Result()


class Sym(Op):
    name = "tdce.sym"
    traits = (Symbol, Pure)


class Yield(Op):
    name = "tdce.yield"
    traits = (Pure, Terminator)
    values = VarOperand()


class Br(Op):
    name = "tdce.br"
    traits = (Pure, Terminator)
    dest = Successor()


class Ret(Op):
    name = "tdce.ret"
    traits = (Pure, Terminator)


class Func(Op):
    name = "tdce.func"
    traits = (IsolatedFromAbove,)
    body_region = SingleRegion()


class Graph(Op):
    name = "tdce.graph"
    traits = (GraphRegion,)
    body_region = SingleRegion()


def make_func() -> tuple[Operation, Operation, Builder, list[Value]]:
    fn = Func.build()
    block = fn.regions[0].add_block(Block([i32, i32]))
    return module([fn]), fn, Builder.at_end(block), list(block.args)


def names(root: Operation) -> list[str]:
    return [op.name for op in root.walk_ops() if op is not root]


def add(b: Builder, x: Value, y: Value) -> Value:
    return b.create(Add, x, y, result_types=[i32]).result


# ---------------------------------------------------------------------------------- dead ops
def test_dead_chains_are_erased_to_a_fixed_point():
    m, fn, b, (x, y) = make_func()
    a = add(b, x, y)
    bb = add(b, a, a)
    add(b, bb, x)
    live = add(b, x, x)
    b.create(Sink, values=[live])
    assert erase_dead_ops(m) == 3
    assert names(fn) == ["tdce.add", "tdce.sink"]


def test_reads_are_dead_but_writes_and_unknown_effects_are_not():
    m, fn, b, (x, _) = make_func()
    b.create(Load, x, result_types=[i32])
    b.create(Store, x)
    b.create(Opaque, values=[x], result_types=[i32])
    b.create(Sym, attributes={"sym_name": StringAttr("s")})
    b.create(Yield, values=[])
    assert erase_dead_ops(m) == 1
    assert names(fn) == ["tdce.store", "tdce.opaque", "tdce.sym", "tdce.yield"]


def test_dead_region_op_releases_outer_values():
    m, fn, b, (x, y) = make_func()
    outer = add(b, x, y)
    sc = b.create(Scope, result_types=[i32])
    inner = Builder.at_end(sc.regions[0].add_block(Block()))
    inner.create(Yield, values=[add(inner, outer, outer)])
    assert erase_dead_ops(m) == 2  # the scope (with its body) and then the outer add
    assert names(fn) == []


def test_region_op_with_a_write_inside_is_kept():
    m, fn, b, (x, _) = make_func()
    sc = b.create(Scope, result_types=[i32])
    inner = Builder.at_end(sc.regions[0].add_block(Block()))
    inner.create(Store, x)
    inner.create(Yield, values=[x])
    assert erase_dead_ops(m) == 0
    assert names(fn) == ["tdce.scope", "tdce.store", "tdce.yield"]


# ---------------------------------------------------------------------------------- blocks
def _cfg() -> tuple[Operation, Operation, list[Block]]:
    """entry -> exit; two unreachable blocks that branch to each other and to exit."""
    fn = Func.build()
    region = fn.regions[0]
    entry = region.add_block(Block([i32]))
    exit_, dead1, dead2 = (region.add_block(Block()) for _ in range(3))
    (x,) = entry.args
    be = Builder.at_end(entry)
    only_dead_use = add(be, x, x)
    be.create(Br, successors=[exit_])
    Builder.at_end(exit_).create(Ret)
    d1 = Builder.at_end(dead1)
    v = add(d1, only_dead_use, x)
    d1.create(Br, successors=[dead2])
    d2 = Builder.at_end(dead2)
    d2.create(Sink, values=[v])
    d2.create(Br, successors=[dead1])
    return module([fn]), fn, [entry, exit_, dead1, dead2]


def test_reachability():
    _, fn, (entry, exit_, _, _) = _cfg()
    assert reachable_blocks(fn.regions[0]) == {entry, exit_}


def test_unreachable_blocks_are_erased_and_free_their_operands():
    m, fn, (entry, exit_, _, _) = _cfg()
    result = eliminate_dead_code(m)
    assert result.blocks == 2
    assert result.ops == 1  # the add in entry only fed the dead blocks
    assert fn.regions[0].blocks == [entry, exit_]
    assert names(fn) == ["tdce.br", "tdce.ret"]
    verify(m)


def test_graph_regions_keep_their_blocks():
    g = Graph.build(result_types=[])
    region = g.regions[0]
    region.add_block(Block())
    region.add_block(Block())
    m = module([g])
    assert erase_unreachable_blocks(m) == 0
    assert len(region.blocks) == 2


# ------------------------------------------------------------------------------------ pass
def test_pass_statistics():
    m, _, _ = _cfg()
    p = DCE()
    p.run(m)
    assert p.statistics["num-erased-blocks"].value == 2
    assert p.statistics["num-erased-ops"].value == 1


def test_dce_on_text_ir():
    m = parse_module("""
func.func @f(%a: i32, %buf: memref<4xi32>) -> i32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : i32
  %dead = arith.addi %a, %c1 : i32
  %dead2 = arith.muli %dead, %dead : i32
  %unused_load = memory.load %buf[%c0] : memref<4xi32>
  memory.store %a, %buf[%c0] : memref<4xi32>
  %live = arith.addi %a, %a : i32
  return %live : i32
}
""")
    DCE().run(m)
    body = [line.strip() for line in print_op(m).splitlines()][2:-3]
    assert body == [
        "%0 = arith.constant 0 : index",
        "memory.store %arg0, %arg1[%0] : memref<4xi32>",
        "%1 = arith.addi %arg0, %arg0 : i32",
    ]
