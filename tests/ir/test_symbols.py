"""Symbol tables: lookup (flat and nested), uses, renaming, visibility, SymbolTable."""

from __future__ import annotations

import pytest

import avalon.ir.dialects  # noqa: F401  (registers the dialects)
from avalon.ir.attributes import ArrayAttr, DictAttr, IntegerAttr, StringAttr, SymbolRefAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Operation
from avalon.ir.dialects import func
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.symbols import (
    SymbolTable,
    get_visibility,
    is_private,
    is_public,
    is_symbol_table,
    lookup_symbol,
    lookup_symbol_in,
    lookup_symbol_ref,
    nearest_symbol_table,
    replace_all_symbol_uses,
    set_visibility,
    symbol_known_unused,
    symbol_name,
    symbol_table_cache,
    symbol_uses,
    symbol_uses_of,
    walk_symbol_tables,
)
from avalon.ir.types import FunctionType
from avalon.ir.verifier import verify


def fn(name: str, calls: tuple[str, ...] = ()) -> func.FuncOp:
    """A () -> () function calling each of ``calls``."""
    f = func.FuncOp.create(name, FunctionType((), ()))
    b = Builder.at_end(f.entry_block)
    for callee in calls:
        b.insert(func.CallOp.call(callee, [], []))
    b.create(func.ReturnOp)
    return f


def nested_program() -> tuple[ModuleOp, ModuleOp, func.FuncOp]:
    inner = ModuleOp.create_empty("inner")
    g = fn("g")
    inner.body.append(g)
    outer = module([fn("main", ("helper",)), fn("helper"), inner])
    return outer, inner, g


def test_lookup_flat_and_nested():
    outer, _inner, g = nested_program()
    assert symbol_name(lookup_symbol(outer, "helper")) == "helper"
    assert lookup_symbol(outer, StringAttr("main")) is outer.lookup("main")
    assert lookup_symbol(outer, "g") is None  # g is in the nested table only
    assert lookup_symbol_in(outer, SymbolRefAttr("inner", ("g",))) is g
    assert lookup_symbol_in(outer, SymbolRefAttr("helper", ("g",))) is None  # not a table
    assert lookup_symbol_in(outer, SymbolRefAttr("inner", ("nope",))) is None


def test_lookup_from_nested_op_uses_nearest_table():
    outer, inner, g = nested_program()
    call = next(outer.lookup("main").entry_block.ops)
    assert nearest_symbol_table(call) is outer
    assert lookup_symbol_ref(call, call.attributes["callee"]) is outer.lookup("helper")
    assert lookup_symbol_ref(call, "inner") is inner
    ret = g.entry_block.last_op
    assert nearest_symbol_table(ret) is inner
    assert lookup_symbol_ref(ret, "helper") is None  # not visible from the inner table
    assert lookup_symbol_ref(g, "g") is g
    detached = fn("lonely")
    assert lookup_symbol_ref(detached, "lonely") is None


def test_is_symbol_table_and_walk():
    outer, inner, _ = nested_program()
    assert is_symbol_table(outer) and not is_symbol_table(outer.lookup("main"))
    assert list(walk_symbol_tables(outer)) == [outer, inner]


def test_symbol_uses_recurse_into_arrays_and_dicts():
    user = Operation.create("test.user", attributes={
        "refs": ArrayAttr((SymbolRefAttr("a"), IntegerAttr(3),
                           ArrayAttr((SymbolRefAttr("b", ("c",)),)))),
        "table": DictAttr.of({"k": SymbolRefAttr("a"), "n": StringAttr("a")}),
    })
    outer, inner, _ = nested_program()
    outer.body.append(user)
    uses = symbol_uses(outer)
    refs = sorted(str(u.ref) for u in uses)
    assert refs == ["@a", "@a", "@b::@c", "@helper"]  # nothing from the nested table body
    assert {u.attr_name for u in uses if u.user is user} == {"refs", "table"}
    assert [u.user.name for u in symbol_uses_of("helper", outer)] == ["func.call"]
    assert symbol_known_unused(inner, outer)
    assert not symbol_known_unused(outer.lookup("helper"), outer)


def test_replace_all_symbol_uses():
    outer, _inner, _ = nested_program()
    user = Operation.create("test.user", attributes={
        "refs": ArrayAttr((SymbolRefAttr("helper"), SymbolRefAttr("helper", ("x",)))),
        "d": DictAttr.of({"k": SymbolRefAttr("helper")}),
        "other": SymbolRefAttr("main"),
    })
    outer.body.append(user)
    assert replace_all_symbol_uses("helper", "aide", outer)
    call = next(outer.lookup("main").entry_block.ops)
    assert call.attributes["callee"] == SymbolRefAttr("aide")
    assert user.attributes["refs"] == ArrayAttr((SymbolRefAttr("aide"),
                                                 SymbolRefAttr("aide", ("x",))))
    assert user.attributes["d"].get("k") == SymbolRefAttr("aide")
    assert user.attributes["other"] == SymbolRefAttr("main")
    assert not replace_all_symbol_uses("helper", "aide", outer)


def test_visibility():
    f = fn("v")
    assert get_visibility(f) == "public" and is_public(f)
    set_visibility(f, "private")
    assert is_private(f) and f.attributes["sym_visibility"] == StringAttr("private")
    set_visibility(f, "public")
    assert "sym_visibility" not in f.attributes
    with pytest.raises(ValueError):
        set_visibility(f, "hidden")


def test_symbol_table_insert_keeps_names_unique():
    m = module([fn("f")])
    table = SymbolTable(m)
    assert "f" in table and len(table) == 1
    second = fn("f")
    name = table.insert(second)
    assert name == "f_0" and symbol_name(second) == "f_0"
    third = fn("f")
    assert table.insert(third) == "f_1"
    assert table.lookup("f_1") is third and third.parent is m.body
    assert sorted(table.names()) == ["f", "f_0", "f_1"]
    verify(m)


def test_symbol_table_insert_before_and_remove_erase():
    m = module([fn("a")])
    table = SymbolTable(m)
    b_ = fn("b")
    table.insert(b_, before=m.lookup("a"))
    assert [symbol_name(o) for o in m.body.ops] == ["b", "a"]
    table.remove(b_)
    assert b_.parent is None and table.lookup("b") is None
    table.erase(m.lookup("a"))
    assert list(m.body.ops) == [] and len(table) == 0
    with pytest.raises(ValueError):
        table.insert(Operation.create("test.nosym"))


def test_symbol_table_rename_updates_uses():
    m = module([fn("main", ("helper", "helper")), fn("helper")])
    table = SymbolTable(m)
    table.rename("helper", "aide")
    assert table.lookup("aide") is not None and "helper" not in table
    callees = [op.attributes["callee"] for op in m.lookup("main").entry_block.ops
               if op.name == "func.call"]
    assert callees == [SymbolRefAttr("aide")] * 2
    verify(m)
    with pytest.raises(ValueError):
        table.rename("aide", "main")
    with pytest.raises(KeyError):
        table.rename("nope", "x")


def test_cache_makes_lookups_consistent():
    outer, _, _ = nested_program()
    with symbol_table_cache():
        first = lookup_symbol(outer, "helper")
        assert lookup_symbol(outer, "helper") is first
        assert lookup_symbol(outer, "missing") is None
    assert lookup_symbol(outer, "helper") is first


def test_symbol_table_of_op_without_region():
    with pytest.raises(ValueError):
        SymbolTable(Operation.create("test.flat"))


def test_first_definition_wins_in_lookup():
    a1, a2 = fn("a"), fn("a")
    m = module([a1, a2])
    assert lookup_symbol(m, "a") is a1
    with symbol_table_cache():
        assert lookup_symbol(m, "a") is a1


def test_insert_rejects_op_of_another_block():
    m1 = module([fn("a")])
    m2 = module([fn("b")])
    with pytest.raises(ValueError):
        SymbolTable(m1).insert(m2.lookup("b"))
    table = SymbolTable(m2)
    assert table.insert(m2.lookup("b")) == "b"  # already there: nothing to do
    clash = fn("b")
    m2.body.append(clash)  # added behind the table's back, then registered
    assert table.insert(clash) == "b_0" and clash.parent is m2.body
