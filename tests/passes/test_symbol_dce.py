"""symbol-dce: private symbols nothing live references are erased, recursively."""

from __future__ import annotations

import pytest

import avalon.ir.dialects  # noqa: F401  (registers func/arith for the text tests)
from avalon.ir.attributes import ArrayAttr, StringAttr, SymbolRefAttr
from avalon.ir.core import Operation
from avalon.ir.parser import parse_module
from avalon.ir.symbols import symbol_name
from avalon.passes.pass_base import PassFailure
from avalon.passes.symbol_dce import SymbolDCE, erase_dead_symbols, live_symbols


def top_names(m: Operation) -> list[str | None]:
    return [symbol_name(op) for op in m.body.ops]


def run(text: str) -> tuple[Operation, SymbolDCE]:
    m = parse_module(text, allow_unregistered=True)
    p = SymbolDCE()
    p.run(m)
    return m, p


def test_unreferenced_private_functions_go_and_public_ones_stay():
    m, p = run("""
func.func private @unused() { return }
func.func private @used() { return }
func.func @main() {
  call @used() : () -> ()
  return
}
func.func @also_public() { return }
""")
    assert top_names(m) == ["used", "main", "also_public"]
    assert p.statistics["num-dce'd"].value == 1


def test_liveness_follows_call_chains():
    m, _ = run("""
func.func @main() {
  call @a() : () -> ()
  return
}
func.func private @a() {
  call @b() : () -> ()
  return
}
func.func private @b() { return }
func.func private @c() {
  call @d() : () -> ()
  return
}
func.func private @d() { return }
""")
    assert top_names(m) == ["main", "a", "b"]


def test_unreferenced_recursive_functions_are_erased():
    m, p = run("""
func.func private @even(%n: i32) -> i32 {
  %r = call @odd(%n) : (i32) -> i32
  return %r : i32
}
func.func private @odd(%n: i32) -> i32 {
  %r = call @even(%n) : (i32) -> i32
  return %r : i32
}
func.func private @self(%n: i32) -> i32 {
  %r = call @self(%n) : (i32) -> i32
  return %r : i32
}
func.func private @kept_rec(%n: i32) -> i32 {
  %r = call @kept_rec(%n) : (i32) -> i32
  return %r : i32
}
func.func @main(%n: i32) -> i32 {
  %r = call @kept_rec(%n) : (i32) -> i32
  return %r : i32
}
""")
    assert top_names(m) == ["kept_rec", "main"]
    assert p.statistics["num-dce'd"].value == 3


def test_references_in_any_attribute_keep_symbols_alive():
    m, _ = run("""
func.func private @via_array() { return }
func.func private @via_dict() { return }
func.func private @dead() { return }
"test.registry"() {entries = [@via_array], more = {k = @via_dict}} : () -> ()
""")
    assert top_names(m) == ["via_array", "via_dict", None]


def test_nested_symbol_tables():
    m, _ = run("""
module @outer_public {
  func.func private @inner_dead() { return }
  func.func @inner_public() { return }
}
module @hidden attributes {sym_visibility = "private"} {
  func.func @reached() { return }
  func.func @not_reached() { return }
}
module @gone attributes {sym_visibility = "private"} {
  func.func @f() { return }
}
func.func @main() {
  "test.use"() {ref = @hidden::@reached} : () -> ()
  return
}
""")
    assert top_names(m) == ["outer_public", "hidden", "main"]
    outer, hidden, _ = list(m.body.ops)
    assert top_names(outer) == ["inner_public"]
    assert top_names(hidden) == ["reached"]


def test_live_symbols_query():
    m = parse_module("""
func.func private @a() { return }
func.func @b() { return }
""")
    live = live_symbols(m)
    a, b = list(m.body.ops)
    assert b in live and a not in live


def test_builder_made_module_with_unregistered_symbols():
    from avalon.ir.dialects.builtin import module

    keep = Operation.create("tsym.def", attributes={
        "sym_name": StringAttr("keep"), "sym_visibility": StringAttr("private")})
    drop = Operation.create("tsym.def", attributes={
        "sym_name": StringAttr("drop"), "sym_visibility": StringAttr("private")})
    user = Operation.create("tsym.use", attributes={
        "refs": ArrayAttr((SymbolRefAttr("keep"),))})
    m = module([keep, drop, user])
    assert erase_dead_symbols(m) == 1
    assert list(m.body.ops) == [keep, user]


def test_requires_a_symbol_table():
    m = parse_module("""
func.func @f() { return }
""")
    fn = m.body.first_op
    with pytest.raises(PassFailure) as info:
        SymbolDCE().run(fn)
    assert "does not define a symbol table" in str(info.value)
    with pytest.raises(ValueError):
        erase_dead_symbols(fn)
