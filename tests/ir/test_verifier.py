"""The structural verifier: dominance, isolation, terminators, successors, symbols, use-lists."""

from __future__ import annotations

import pytest

import avalon.ir.dialects  # noqa: F401  (registers the dialects)
from avalon.ir.attributes import FloatAttr, StringAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation, Region
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects import arith, func
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.location import FileLineColLoc
from avalon.ir.opdef import Op, SingleRegion
from avalon.ir.traits import GraphRegion, IsolatedFromAbove, NoTerminator
from avalon.ir.types import FunctionType, f32, f64, i32
from avalon.ir.verifier import DominanceInfo, RegionDominance, is_valid, verify
from tests.support.scaling import assert_roughly_linear


def loc(line: int, col: int = 3) -> FileLineColLoc:
    return FileLineColLoc("v.mlir", line, col)


def op(name: str, operands=(), results=(), regions=0, successors=(), location=None,
       attributes=None) -> Operation:
    return Operation.create(name, list(operands), list(results), attributes, regions,
                            list(successors), location)


def verify_error(root: Operation) -> DiagnosticError:
    with pytest.raises(DiagnosticError) as info:
        verify(root)
    return info.value


def function(inputs=(f32,), results=(f32,), name="f") -> tuple[func.FuncOp, Builder]:
    fn = func.FuncOp.create(name, FunctionType(tuple(inputs), tuple(results)))
    return fn, Builder.at_end(fn.entry_block)


# A registered region-holding op for tests: single region, needs a terminator.
class _WrapOp(Op):
    """Test-only op: one region, no results."""

    name = "vtest.wrap"
    body_region = SingleRegion()


class _GraphOp(Op):
    """Test-only graph-region op."""

    name = "vtest.graph"
    traits = (GraphRegion, NoTerminator)
    body_region = SingleRegion()


class _IsolatedOp(Op):
    """Test-only isolated op without terminator requirement."""

    name = "vtest.isolated"
    traits = (IsolatedFromAbove, NoTerminator)
    body_region = SingleRegion()


# ----------------------------------------------------------------------------- valid IR


def test_valid_function_verifies():
    fn, b = function()
    c = b.create(arith.ConstantOp, value=FloatAttr(2.0, f32))
    s = b.create(arith.AddFOp, fn.arguments[0], c.result)
    b.create(func.ReturnOp, values=[s.result])
    m = module([fn])
    verify(m)
    assert is_valid(m)


def test_unregistered_ops_pass_and_need_no_terminator():
    outer = op("test.outer", regions=1)
    block = outer.regions[0].add_block(Block([i32]))
    block.append(op("test.inner", [block.args[0]], [i32]))
    verify(module([outer]))


# ----------------------------------------------------------------------------- dominance


def test_use_before_definition_in_same_block():
    fn, b = function()
    c = b.create(arith.ConstantOp, value=FloatAttr(1.0, f32), location=loc(3))
    add = b.create(arith.AddFOp, fn.arguments[0], c.result, location=loc(4))
    b.create(func.ReturnOp, values=[add.result])
    c.move_after(add)  # now the constant is defined after its use
    err = verify_error(module([fn]))
    assert err.diagnostic.message == "operand #1 does not dominate this use"
    assert err.diagnostic.location == loc(4)
    assert err.diagnostic.notes[0].message == "operand defined here (op in the same block)"
    assert err.diagnostic.notes[0].location == loc(3)


def test_self_use_does_not_dominate():
    fn, b = function()
    add = b.create(arith.AddFOp, fn.arguments[0], fn.arguments[0], location=loc(5))
    add.set_operand(1, add.result)
    b.create(func.ReturnOp, values=[add.result])
    err = verify_error(module([fn]))
    assert err.diagnostic.message == "operand #1 does not dominate this use"


def _cfg_function():
    """entry -> (bb1, bb2) -> bb3, built with unregistered branch ops."""
    fn = func.FuncOp.create("g", FunctionType((i32,), ()))
    region = fn.regions[0]
    entry = region.blocks[0]
    bb1, bb2, bb3 = (region.add_block(Block()) for _ in range(3))
    entry.append(op("test.cond_br", [entry.args[0]], successors=[bb1, bb2]))
    return fn, entry, bb1, bb2, bb3


def test_dominance_across_blocks():
    fn, entry, bb1, bb2, bb3 = _cfg_function()
    d = bb1.append(op("test.def", results=[i32], location=loc(7)))
    bb1.append(op("test.use", [d.results[0]]))
    bb1.append(op("test.br", successors=[bb3]))
    bb2.append(op("test.br", successors=[bb3]))
    bb3.append(op("test.use", [entry.args[0]]))
    bb3.append(func.ReturnOp.build())
    verify(module([fn]))  # entry dominates everything; bb1's value used in bb1

    bad = op("test.use", [d.results[0]], location=loc(9))
    bb3.insert_before(bad, bb3.last_op)
    err = verify_error(module([fn.detach()]))
    assert err.diagnostic.message == "operand #0 does not dominate this use"
    assert err.diagnostic.location == loc(9)
    assert "op in the same region" in err.diagnostic.notes[0].message


def test_dominating_block_value_visible_in_successor():
    fn, entry, bb1, bb2, bb3 = _cfg_function()
    d = entry.prepend(op("test.def", results=[i32]))
    bb1.append(op("test.br", successors=[bb3]))
    bb2.append(op("test.br", successors=[bb3]))
    bb3.append(op("test.use", [d.results[0]]))
    bb3.append(func.ReturnOp.build())
    verify(module([fn]))


def test_unreachable_blocks_are_not_checked():
    fn = func.FuncOp.create("u", FunctionType((), ()))
    region = fn.regions[0]
    region.blocks[0].append(func.ReturnOp.build())
    dead = region.add_block(Block())
    later = op("test.def", results=[i32])
    dead.append(op("test.use", [later.results[0]]))
    dead.append(later)
    dead.append(op("test.br", successors=[dead]))
    verify(module([fn]))


def test_block_argument_of_non_dominating_block():
    fn, _entry, bb1, bb2, bb3 = _cfg_function()
    arg = bb1.add_argument(i32)
    bb1.append(op("test.br", successors=[bb3]))
    bb2.append(op("test.br", successors=[bb3]))
    bb3.append(op("test.use", [arg], location=loc(12)))
    bb3.append(func.ReturnOp.build())
    err = verify_error(module([fn]))
    assert err.diagnostic.location == loc(12)
    assert err.diagnostic.notes[0].message.startswith("operand defined as a block argument")


def test_nested_region_sees_enclosing_values():
    fn, b = function()
    wrap = b.create(_WrapOp)
    inner = wrap.regions[0].add_block(Block())
    inner.append(op("test.use", [fn.arguments[0]]))
    inner.append(op("test.yield"))
    b.create(func.ReturnOp, values=[fn.arguments[0]])
    verify(module([fn]))


def test_value_from_sibling_region_is_not_visible():
    fn, b = function()
    w1 = b.create(_WrapOp)
    blk1 = w1.regions[0].add_block(Block())
    d = blk1.append(op("test.def", results=[f32], location=loc(20)))
    blk1.append(op("test.yield"))
    w2 = b.create(_WrapOp)
    blk2 = w2.regions[0].add_block(Block())
    blk2.append(op("test.use", [d.results[0]], location=loc(21)))
    blk2.append(op("test.yield"))
    b.create(func.ReturnOp, values=[fn.arguments[0]])
    err = verify_error(module([fn]))
    assert err.diagnostic.message == "operand #0 does not dominate this use"
    assert err.diagnostic.location == loc(21)


def test_nested_use_of_later_value_in_enclosing_block():
    fn, b = function()
    wrap = b.create(_WrapOp, location=loc(30))
    blk = wrap.regions[0].add_block(Block())
    later = b.create(arith.NegFOp, fn.arguments[0], location=loc(31))
    blk.append(op("test.use", [later.result], location=loc(32)))
    blk.append(op("test.yield"))
    b.create(func.ReturnOp, values=[later.result])
    err = verify_error(module([fn]))
    assert err.diagnostic.location == loc(32)
    assert "op in a parent region" in err.diagnostic.notes[0].message


def test_op_result_used_inside_its_own_region():
    fn, b = function()
    outer = op("test.outer", results=[f32], regions=1)
    b.insert(outer)
    blk = outer.regions[0].add_block(Block())
    blk.append(op("test.use", [outer.results[0]], location=loc(40)))
    b.create(func.ReturnOp, values=[fn.arguments[0]])
    err = verify_error(module([fn]))
    assert err.diagnostic.location == loc(40)
    assert err.diagnostic.message == "operand #0 does not dominate this use"


def test_graph_region_has_no_ordering():
    g = _GraphOp.build(regions=1)
    blk = g.regions[0].add_block(Block())
    use = blk.append(op("test.use", [], [], location=loc(50)))
    d = blk.append(op("test.def", results=[i32]))
    use.set_operands([d.results[0]])
    verify(module([g]))
    # The same shape in an SSA region is an error.
    w = op("test.outer", regions=1)
    blk2 = w.regions[0].add_block(Block())
    use2 = blk2.append(op("test.use", location=loc(51)))
    d2 = blk2.append(op("test.def", results=[i32]))
    use2.set_operands([d2.results[0]])
    assert verify_error(module([w])).diagnostic.location == loc(51)


def test_detached_value_is_reported():
    fn, b = function()
    stray = arith.ConstantOp.build(value=FloatAttr(1.0, f32))  # never inserted
    b.create(func.ReturnOp, values=[stray.result], location=loc(60))
    err = verify_error(module([fn]))
    assert err.diagnostic.location == loc(60)
    assert "does not dominate" in err.diagnostic.message


# ------------------------------------------------------------------------------ isolation


def test_isolated_from_above_rejects_outer_values():
    outer_fn, b = function()
    iso = b.create(_IsolatedOp, location=loc(70))
    blk = iso.regions[0].add_block(Block())
    blk.append(op("test.use", [outer_fn.arguments[0]], location=loc(71)))
    b.create(func.ReturnOp, values=[outer_fn.arguments[0]])
    err = verify_error(module([outer_fn]))
    assert err.diagnostic.message == "'test.use' op using value defined outside the region"
    assert err.diagnostic.location == loc(71)
    note = err.diagnostic.notes[0]
    assert note.message == "required by region isolation constraints"
    assert note.location == loc(70)


def test_function_body_cannot_use_other_functions_values():
    f1, b1 = function(name="a")
    b1.create(func.ReturnOp, values=[f1.arguments[0]])
    f2, b2 = function(name="b")
    b2.create(func.ReturnOp, values=[f1.arguments[0]], location=loc(80))
    err = verify_error(module([f1, f2]))
    assert "using value defined outside the region" in err.diagnostic.message


# ---------------------------------------------------------------------------- terminators


def test_block_without_terminator():
    fn, b = function()
    b.create(arith.NegFOp, fn.arguments[0], location=loc(90))
    err = verify_error(module([fn]))
    assert err.diagnostic.message == "block with no terminator, has 'arith.negf'"
    assert err.diagnostic.location == loc(90)


def test_empty_block_needs_terminator():
    fn = func.FuncOp.create("e", FunctionType((), ()), location=loc(91))
    err = verify_error(module([fn]))
    assert err.diagnostic.message == "empty block: expect at least a terminator"
    assert err.diagnostic.location == loc(91)


def test_unregistered_last_op_counts_as_terminator():
    fn, b = function()
    b.insert(op("test.terminator", [fn.arguments[0]]))
    verify(module([fn]))


def test_terminator_in_the_middle_of_a_block():
    fn, b = function()
    b.create(func.ReturnOp, values=[fn.arguments[0]], location=loc(95))
    b.create(func.ReturnOp, values=[fn.arguments[0]])
    err = verify_error(module([fn]))
    assert err.diagnostic.message == "'func.return' op must be the last operation in its block"
    assert err.diagnostic.location == loc(95)


def test_no_terminator_trait_allows_empty_blocks():
    m = ModuleOp.create_empty()
    verify(m)


# ----------------------------------------------------------------------------- successors


def test_successor_in_another_region():
    f1 = func.FuncOp.create("a", FunctionType((), ()))
    f2 = func.FuncOp.create("b", FunctionType((), ()))
    f2.entry_block.append(func.ReturnOp.build())
    f1.entry_block.append(op("test.br", successors=[f2.entry_block], location=loc(100)))
    err = verify_error(module([f1, f2]))
    assert err.diagnostic.message == "reference to block defined in another region"
    assert err.diagnostic.location == loc(100)


# -------------------------------------------------------------------------------- symbols


def test_symbol_redefinition_with_note():
    f1 = func.FuncOp.create("f", FunctionType((), ()), location=loc(110))
    f1.entry_block.append(func.ReturnOp.build())
    f2 = func.FuncOp.create("f", FunctionType((), ()), location=loc(115))
    f2.entry_block.append(func.ReturnOp.build())
    err = verify_error(module([f1, f2]))
    assert err.diagnostic.message == "redefinition of symbol named 'f'"
    assert err.diagnostic.location == loc(115)
    assert err.diagnostic.notes[0].message == "see existing symbol definition here"
    assert err.diagnostic.notes[0].location == loc(110)


def test_unique_symbols_in_separate_tables_are_fine():
    inner = ModuleOp.create_empty("inner")
    g = func.FuncOp.create("f", FunctionType((), ()), visibility="private", declaration=True)
    inner.body.append(g)
    outer_f = func.FuncOp.create("f", FunctionType((), ()), visibility="private",
                                 declaration=True)
    verify(module([outer_f, inner]))


# ------------------------------------------------------------------------------ use-lists


def test_inconsistent_use_list_is_reported():
    fn, b = function()
    neg = b.create(arith.NegFOp, fn.arguments[0], location=loc(120))
    b.create(func.ReturnOp, values=[neg.result])
    del fn.arguments[0]._uses[(neg, 0)]  # corrupt the use-list behind the API's back
    err = verify_error(module([fn]))
    assert err.diagnostic.message == "operand #0 is missing from its value's use-list"
    assert err.diagnostic.location == loc(120)


def test_stale_use_is_reported():
    fn, b = function()
    neg = b.create(arith.NegFOp, fn.arguments[0], location=loc(121))
    ret = b.create(func.ReturnOp, values=[neg.result])
    neg.result._uses[(ret, 5)] = None
    err = verify_error(module([fn]))
    assert "stale use" in err.diagnostic.message


# ------------------------------------------------------------------------------- per-op


def test_registered_op_invariants_are_checked():
    fn, b = function()
    bad = arith.AddFOp([fn.arguments[0]], [f32], location=loc(130))  # one operand only
    b.insert(bad)
    b.create(func.ReturnOp, values=[bad.result])
    err = verify_error(module([fn]))
    assert err.diagnostic.message == "'arith.addf' op expected 2 operands, but found 1"
    assert err.diagnostic.location == loc(130)


def test_signature_cache_does_not_hide_errors():
    fn, b = function()
    x = fn.arguments[0]
    good = b.create(arith.AddFOp, x, x)
    bad = arith.AddFOp([x, x], [f64], location=loc(131))
    b.insert(bad)
    b.create(func.ReturnOp, values=[good.result])
    err = verify_error(module([fn]))
    assert err.diagnostic.location == loc(131)
    assert "same type" in err.diagnostic.message


# ------------------------------------------------------------------------------ dominance


def test_dominance_info_queries():
    fn, entry, bb1, bb2, bb3 = _cfg_function()
    bb1.append(op("test.br", successors=[bb3]))
    bb2.append(op("test.br", successors=[bb3]))
    bb3.append(func.ReturnOp.build())
    dom = RegionDominance(fn.regions[0])
    assert dom.dominates(entry, bb3)
    assert dom.dominates(entry, bb1)
    assert not dom.dominates(bb1, bb3)
    assert not dom.dominates(bb2, bb3)
    assert dom.idom[bb3] is entry
    info = DominanceInfo()
    first = entry.first_op
    d = bb1.prepend(op("test.def", results=[i32]))
    assert info.properly_dominates(entry.args[0], d)
    assert not info.properly_dominates(d.results[0], bb3.last_op)
    assert info.properly_dominates(d, bb1.last_op)
    assert not info.properly_dominates(d, first)


def test_loop_dominance():
    fn = func.FuncOp.create("loop", FunctionType((), ()))
    region = fn.regions[0]
    entry = region.blocks[0]
    header, body, exit_ = (region.add_block(Block()) for _ in range(3))
    entry.append(op("test.br", successors=[header]))
    header.append(op("test.cond_br", successors=[body, exit_]))
    body.append(op("test.br", successors=[header]))
    exit_.append(func.ReturnOp.build())
    dom = RegionDominance(region)
    assert dom.dominates(header, body) and dom.dominates(header, exit_)
    assert not dom.dominates(body, header) and not dom.dominates(body, exit_)


# ---------------------------------------------------------------------------- performance


def _chain(n: int):
    fn, b = function()
    c = b.create(arith.ConstantOp, value=FloatAttr(1.0, f32))
    v = fn.arguments[0]
    for _ in range(n):
        v = b.create(arith.AddFOp, v, c.result).result
    b.create(func.ReturnOp, values=[v])
    m = module([fn])
    return lambda: verify(m)


def test_verifying_a_long_chain_is_linear():
    assert_roughly_linear(_chain, 5_000)


def _nested_uses(n: int):
    fn, b = function()
    for _ in range(n):
        w = b.create(_WrapOp)
        blk = w.regions[0].add_block(Block())
        blk.append(op("test.use", [fn.arguments[0]]))
        blk.append(op("test.yield"))
    b.create(func.ReturnOp, values=[fn.arguments[0]])
    m = module([fn])
    return lambda: verify(m)


def test_uses_in_nested_regions_are_linear():
    """Many nested-region uses of one outer value: no quadratic climbing."""
    assert_roughly_linear(_nested_uses, 1500)


def test_module_name_attribute_kept():
    m = ModuleOp.create_empty("m")
    assert m.attributes["sym_name"] == StringAttr("m")
    verify(m)


def test_region_and_block_parent_pointers():
    outer = op("test.outer", regions=1, location=loc(140))
    stray = Region()
    stray.add_block(Block())
    outer.regions.append(stray)  # added behind the API: its parent pointer is unset
    err = verify_error(module([outer]))
    assert err.diagnostic.message == "region's parent pointer does not point to its op"
    assert err.diagnostic.location == loc(140)


class _CrashingOp(Op):
    """Test-only op whose verifier has a bug."""

    name = "vtest.crash"

    def verify_(self) -> None:
        raise KeyError("oops")


def test_crashing_op_verifier_becomes_a_located_diagnostic():
    m = module([_CrashingOp.build(location=loc(150))])
    err = verify_error(m)
    assert err.diagnostic.location == loc(150)
    assert err.diagnostic.message == "'vtest.crash' op could not be verified (KeyError: 'oops')"
