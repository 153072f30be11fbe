"""The IR graph: use-lists, RAUW, walks, cloning, moving ops, builders, attribute identity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avalon.ir.affine import AffineMap, dim, sym
from avalon.ir.attributes import (
    AffineMapAttr,
    ArrayAttr,
    DenseElementsAttr,
    DictAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    SymbolRefAttr,
    TypeAttr,
    bool_attr,
)
from avalon.ir.builder import Builder, InsertionPoint
from avalon.ir.core import Block, Operation, Region, UnregisteredOp, WalkOrder, WalkResult
from avalon.ir.location import UNKNOWN_LOC, FileLineColLoc, NameLoc
from avalon.ir.opdef import AnyFloat, Op, Operand, Result
from avalon.ir.traits import Pure, SameOperandsAndResultType
from avalon.ir.types import (
    FunctionType,
    IntegerType,
    TensorType,
    f16,
    f32,
    f64,
    i1,
    i8,
    i32,
    i64,
    index,
    tensor,
)


class AddOp(Op):
    """Test op: float addition built through Op.build."""

    name = "tcore.add"
    traits = (Pure, SameOperandsAndResultType)
    lhs = Operand(AnyFloat)
    rhs = Operand(AnyFloat)
    result = Result(AnyFloat)


def op(name: str, operands=(), results=(), regions=0, successors=(), **attrs) -> Operation:
    return Operation.create(name, list(operands), list(results), attrs or None, regions,
                            list(successors))


def block_with(*ops: Operation, args=()) -> Block:
    b = Block(args)
    for o in ops:
        b.append(o)
    return b


# ------------------------------------------------------------------------------ use-lists
def test_uses_are_recorded_per_operand_slot():
    a = op("t.a", results=[f32])
    b = op("t.b", [a.result, a.result], [f32])
    assert a.result.num_uses == 2
    assert [(u.owner, u.index) for u in a.result.uses] == [(b, 0), (b, 1)]
    assert a.result.users == [b]
    assert a.users == [b]
    assert not b.result.has_uses
    assert a.has_uses


def test_set_operand_moves_the_use():
    a = op("t.a", results=[f32])
    c = op("t.c", results=[f32])
    b = op("t.b", [a.result], [f32])
    b.set_operand(0, c.result)
    assert not a.result.has_uses
    assert c.result.has_one_use
    assert b.operand(0) is c.result
    b.set_operand(0, c.result)  # no-op
    assert c.result.num_uses == 1


def test_set_operands_replaces_all_uses_of_the_op():
    a = op("t.a", results=[f32])
    b = op("t.b", [a.result, a.result])
    b.set_operands([a.result])
    assert a.result.num_uses == 1
    assert b.operands == (a.result,)


def test_replace_all_uses_with():
    a = op("t.a", results=[f32])
    new = op("t.new", results=[f32])
    users = [op("t.u", [a.result]) for _ in range(3)]
    a.result.replace_all_uses_with(new.result)
    assert not a.result.has_uses
    assert new.result.num_uses == 3
    assert all(u.operand(0) is new.result for u in users)
    new.result.replace_all_uses_with(new.result)
    assert new.result.num_uses == 3


def test_replace_uses_if_filters_by_use():
    a = op("t.a", results=[f32])
    new = op("t.new", results=[f32])
    keep = op("t.keep", [a.result])
    change = op("t.change", [a.result])
    a.result.replace_uses_if(new.result, lambda use: use.owner is change)
    assert keep.operand(0) is a.result
    assert change.operand(0) is new.result


def test_op_replace_all_uses_checks_result_count():
    a = op("t.a", results=[f32, i32])
    b = op("t.b", results=[f32, i32])
    user = op("t.u", [a.results[0], a.results[1]])
    a.replace_all_uses_with(b)
    assert user.operands == tuple(b.results)
    with pytest.raises(ValueError, match="replacing 2 results"):
        a.replace_all_uses_with([b.results[0]])


def test_result_accessor_requires_exactly_one():
    with pytest.raises(ValueError, match="2 results"):
        _ = op("t.a", results=[f32, f32]).result


# ------------------------------------------------------------------------------ blocks
def test_insertion_and_order_queries():
    a, b, c = op("t.a"), op("t.b"), op("t.c")
    blk = block_with(a, c)
    blk.insert_before(b, c)
    assert [o.name for o in blk] == ["t.a", "t.b", "t.c"]
    assert len(blk) == 3
    assert a.is_before_in_block(b) and b.is_before_in_block(c)
    assert not c.is_before_in_block(a)
    d = op("t.d")
    blk.prepend(d)
    e = op("t.e")
    blk.insert_after(e, d)
    assert [o.name for o in blk] == ["t.d", "t.e", "t.a", "t.b", "t.c"]
    assert e.is_before_in_block(a)
    assert blk.first_op is d and blk.last_op is c
    assert [o.name for o in blk.reversed_ops()] == ["t.c", "t.b", "t.a", "t.e", "t.d"]


def test_insert_into_two_blocks_is_rejected():
    a = op("t.a")
    block_with(a)
    with pytest.raises(ValueError, match="already in a block"):
        Block().append(a)


def test_is_before_in_block_needs_same_block():
    a, b = op("t.a"), op("t.b")
    block_with(a)
    block_with(b)
    with pytest.raises(ValueError, match="same block"):
        a.is_before_in_block(b)


def test_erase_requires_unused_results_and_drops_operand_uses():
    a = op("t.a", results=[f32])
    b = op("t.b", [a.result], [f32])
    blk = block_with(a, b)
    with pytest.raises(ValueError, match=r"still used by t\.b"):
        a.erase()
    b.erase()
    assert not a.result.has_uses
    assert [o.name for o in blk] == ["t.a"]
    a.erase()
    assert blk.is_empty and len(blk) == 0


def test_erase_nested_drops_references_of_inner_ops():
    outer = op("t.outer_def", results=[f32])
    container = op("t.container", regions=1)
    container.regions[0].add_block(block_with(op("t.inner", [outer.result])))
    block_with(outer, container)
    assert outer.result.has_uses
    container.erase()
    assert not outer.result.has_uses


def test_move_before_and_after():
    a, b, c = op("t.a"), op("t.b"), op("t.c")
    blk = block_with(a, b, c)
    c.move_before(a)
    assert [o.name for o in blk] == ["t.c", "t.a", "t.b"]
    c.move_after(b)
    assert [o.name for o in blk] == ["t.a", "t.b", "t.c"]
    other = block_with(op("t.x"))
    a.move_after(other.first_op)
    assert [o.name for o in other] == ["t.x", "t.a"]
    assert len(blk) == 2 and a.parent is other


def test_iterating_while_erasing_is_safe():
    blk = block_with(*(op(f"t.o{i}") for i in range(5)))
    for o in blk.ops:
        if o.name in ("t.o1", "t.o3"):
            o.erase()
    assert [o.name for o in blk] == ["t.o0", "t.o2", "t.o4"]


def test_block_arguments_insert_and_erase_renumber():
    blk = Block([f32, i32])
    x = blk.insert_argument(1, i64)
    assert [a.index for a in blk.args] == [0, 1, 2]
    assert blk.arg_types == [f32, i64, i32]
    op("t.use", [x])
    with pytest.raises(ValueError, match="still has uses"):
        blk.erase_argument(1)
    blk.erase_argument(0)
    assert blk.arg_types == [i64, i32]
    assert x.index == 0 and x.owner is blk and x.parent_block is blk


def test_successors_and_predecessors():
    region = Region()
    b0, b1, b2 = region.add_block(), region.add_block(), region.add_block()
    b0.append(op("t.br", successors=[b1, b2]))
    b1.append(op("t.br", successors=[b2]))
    assert b0.successors == [b1, b2]
    assert b2.predecessors == [b0, b1]
    assert b0.predecessors == []


def test_block_erase_detaches_from_region():
    region = Region()
    blk = region.add_block(block_with(op("t.a")))
    blk.erase()
    assert region.is_empty and blk.parent is None
    with pytest.raises(ValueError, match="already belongs"):
        r2 = Region()
        b = r2.add_block()
        Region().add_block(b)


def test_parent_queries():
    inner = op("t.inner")
    mid = op("t.mid", regions=1)
    mid.regions[0].add_block(block_with(inner))
    top = op("t.top", regions=1)
    top.regions[0].add_block(block_with(mid))
    assert inner.parent_op is mid and mid.parent_op is top
    assert list(inner.ancestors()) == [mid, top]
    assert top.is_proper_ancestor(inner) and top.is_ancestor(top)
    assert not inner.is_ancestor(top)
    assert inner.parent_of_type(UnregisteredOp) is mid
    assert mid.region.block is mid.body


# ------------------------------------------------------------------------------ walking
def nest() -> tuple[Operation, list[str]]:
    """top{ a, mid{ b, c }, d }"""
    mid = op("t.mid", regions=1)
    mid.regions[0].add_block(block_with(op("t.b"), op("t.c")))
    top = op("t.top", regions=1)
    top.regions[0].add_block(block_with(op("t.a"), mid, op("t.d")))
    return top, []


def test_walk_pre_and_post_order():
    top, seen = nest()
    assert top.walk(lambda o: seen.append(o.name), WalkOrder.PRE)
    assert seen == ["t.top", "t.a", "t.mid", "t.b", "t.c", "t.d"]
    seen.clear()
    top.walk(lambda o: seen.append(o.name))
    assert seen == ["t.a", "t.b", "t.c", "t.mid", "t.d", "t.top"]
    assert [o.name for o in top.walk_ops()] == ["t.top", "t.a", "t.mid", "t.b", "t.c", "t.d"]
    assert [o.name for o in top.walk_ops(WalkOrder.POST)][-1] == "t.top"


def test_walk_skip_prunes_regions_in_pre_order():
    top, seen = nest()

    def visit(o: Operation) -> WalkResult | None:
        seen.append(o.name)
        return WalkResult.SKIP if o.name == "t.mid" else None

    assert top.walk(visit, WalkOrder.PRE)
    assert seen == ["t.top", "t.a", "t.mid", "t.d"]


def test_walk_interrupt_stops_everything():
    for order in (WalkOrder.PRE, WalkOrder.POST):
        top, seen = nest()

        def visit(o: Operation, seen=seen) -> WalkResult | None:
            seen.append(o.name)
            return WalkResult.INTERRUPT if o.name == "t.b" else WalkResult.ADVANCE

        assert top.walk(visit, order) is False
        assert seen[-1] == "t.b" and "t.d" not in seen


def test_post_order_walk_may_erase_visited_op():
    top, _ = nest()
    top.walk(lambda o: o.erase() if o.name in ("t.b", "t.d") else None)
    assert [o.name for o in top.walk_ops()] == ["t.top", "t.a", "t.mid", "t.c"]


# ------------------------------------------------------------------------------ cloning
def test_clone_maps_nested_values_blocks_and_keeps_outside_operands():
    outside = op("t.outside", results=[f32])
    region = Region()
    b0 = region.add_block(Block([f32]))
    b1 = region.add_block(Block([f32]))
    inner = op("t.inner", [b0.args[0], outside.result], [f32])
    b0.append(inner)
    b0.append(op("t.br", [inner.result], successors=[b1]))
    b1.append(op("t.ret", [b1.args[0]]))
    container = Operation.create("t.container", [outside.result], [f32], {"k": IntegerAttr(1)},
                                 [region])
    mapping: dict = {}
    clone = container.clone(mapping)
    assert clone is not container and clone.name == "t.container"
    assert clone.attributes == container.attributes
    assert clone.attributes is not container.attributes
    assert clone.operand(0) is outside.result
    assert mapping[container.result] is clone.result
    nb0, nb1 = clone.regions[0].blocks
    assert mapping[b0] is nb0 and mapping[b1] is nb1
    ninner = nb0.first_op
    assert ninner.operand(0) is nb0.args[0]
    assert ninner.operand(1) is outside.result
    assert nb0.last_op.successors == [nb1]
    assert nb0.last_op.operand(0) is ninner.result
    assert nb1.first_op.operand(0) is nb1.args[0]
    assert outside.result.num_uses == 4  # original two uses plus the clone's two


def test_clone_with_prefilled_mapping_substitutes_operands():
    a = op("t.a", results=[f32])
    b = op("t.b", results=[f32])
    user = op("t.u", [a.result], [f32])
    clone = user.clone({a.result: b.result})
    assert clone.operand(0) is b.result
    assert clone.clone_without_regions().operand(0) is b.result


def test_region_take_body_and_clone_into():
    src = Region()
    src.add_block(block_with(op("t.a"), op("t.b")))
    dest = Region()
    dest.add_block(block_with(op("t.old")))
    copy = Region()
    src.clone_into(copy)
    dest.take_body(src)
    assert src.is_empty
    assert [o.name for o in dest.ops()] == ["t.a", "t.b"]
    assert [o.name for o in copy.ops()] == ["t.a", "t.b"]
    assert dest.blocks[0].parent is dest


# ------------------------------------------------------------------------------ builder
def test_builder_insertion_points_and_locations():
    blk = block_with(op("t.first"), op("t.last"))
    loc = FileLineColLoc("model.py", 3, 4)
    b = Builder.at_end(blk, loc)
    x = b.insert(op("t.x", results=[f32]))
    assert blk.last_op is x and x.location == loc
    b.set_insertion_point_to_start(blk)
    b.insert(op("t.start"))
    b.set_insertion_point_before(x)
    b.insert(op("t.before_x"))
    b.set_insertion_point_after(blk.first_op)
    b.insert(op("t.after_start"))
    assert [o.name for o in blk] == ["t.start", "t.after_start", "t.first", "t.last",
                                     "t.before_x", "t.x"]
    with b.at(InsertionPoint.at_end(blk)), b.located(NameLoc("inner")):
        y = b.insert(op("t.y"))
    assert blk.last_op is y and y.location == NameLoc("inner")
    z = b.insert(op("t.z"))
    assert z.next_op.name == "t.first"  # the saved insertion point is before "t.first"
    assert z.location == loc


def test_builder_create_uses_op_build_and_infers_types():
    blk = Block([f32, f32])
    b = Builder.at_end(blk, NameLoc("n"))
    add = b.create(AddOp, blk.args[0], blk.args[1])
    assert isinstance(add, AddOp) and add.result.type == f32
    assert add.lhs is blk.args[0] and add.rhs is blk.args[1]
    assert add.location == NameLoc("n")
    assert blk.last_op is add
    with pytest.raises(ValueError, match="no insertion point"):
        Builder().insert(op("t.x"))
    after = Builder.after(add)
    assert after.insert(op("t.next")).prev_op is add
    before = Builder.before(add)
    assert before.insert(op("t.prev")).next_op is add


def test_unknown_location_is_default():
    assert op("t.a").location is UNKNOWN_LOC


# ------------------------------------------------------------------------------ attributes
def test_integer_attr_wraps_and_compares_by_value():
    assert IntegerAttr(255, i8) == IntegerAttr(-1, i8)
    assert hash(IntegerAttr(255, i8)) == hash(IntegerAttr(-1, i8))
    assert IntegerAttr(1, i32) != IntegerAttr(1, i64)
    assert bool_attr(True) == IntegerAttr(1, i1)
    assert str(IntegerAttr(-3, index)) == "-3 : index"
    with pytest.raises(TypeError):
        IntegerAttr(1, f32)


def test_float_attr_bitwise_equality():
    nan = FloatAttr(math.nan, f32)
    assert nan == FloatAttr(math.nan, f32) and hash(nan) == hash(FloatAttr(math.nan, f32))
    assert FloatAttr(0.0) != FloatAttr(-0.0)
    assert FloatAttr(0.1, f32) == FloatAttr(0.10000000149011612, f32)
    assert FloatAttr(1.0, f32) != FloatAttr(1.0, f64)
    assert FloatAttr(70000.0, f16).value == math.inf


def test_composite_attributes_equality_and_hash():
    d1 = DictAttr.of({"b": IntegerAttr(1), "a": StringAttr("x")})
    d2 = DictAttr.of({"a": StringAttr("x"), "b": IntegerAttr(1)})
    assert d1 == d2 and hash(d1) == hash(d2) and [k for k, _ in d1.items] == ["a", "b"]
    assert ArrayAttr((IntegerAttr(1), d1)) == ArrayAttr((IntegerAttr(1), d2))
    assert SymbolRefAttr("a", ("b",)) != SymbolRefAttr("a")
    assert TypeAttr(tensor([2], f32)) == TypeAttr(TensorType((2,), f32))
    m1 = AffineMapAttr(AffineMap(2, 1, (dim(0) + sym(0), dim(1) * 2)))
    m2 = AffineMapAttr(AffineMap(2, 1, (dim(0) + sym(0) + 0, 2 * dim(1))))
    assert m1 == m2 and str(m1) == str(m2)
    assert len({d1, d2, m1}) == 2


def test_dense_elements_equality_by_data():
    t = tensor([2, 2], f32)
    a = DenseElementsAttr(np.arange(4).reshape(2, 2), t)
    b = DenseElementsAttr(np.arange(4, dtype=np.float64).reshape(2, 2), t)
    c = DenseElementsAttr(np.zeros((2, 2)), t)
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert DenseElementsAttr.splat(1.0, t).is_splat
    assert not a.array.flags.writeable


def test_types_are_values():
    assert IntegerType(32) == i32 and hash(IntegerType(32)) == hash(i32)
    assert FunctionType((f32,), (i1,)) == FunctionType((f32,), (i1,))
    assert str(FunctionType((f32,), (FunctionType((), (i1,)),))) == "(f32) -> (() -> i1)"
    assert tensor([2, -1], f32).rank == 2 and not tensor([2, -1], f32).has_static_shape
