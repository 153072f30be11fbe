"""The inliner: call graphs, recursion, visibility, and callee clean-up."""

from __future__ import annotations

import avalon.ir.dialects  # noqa: F401  (registers func/arith/loop for the text tests)
from avalon.ir.attributes import StringAttr, SymbolRefAttr, TypeAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation
from avalon.ir.dialects.builtin import module
from avalon.ir.location import CallSiteLoc, FileLineColLoc
from avalon.ir.opdef import (
    AnyAttr,
    Attr,
    Op,
    OptAttr,
    Result,
    SingleRegion,
    Successor,
    VarOperand,
    VarResult,
)
from avalon.ir.parser import parse_module
from avalon.ir.printer import print_op
from avalon.ir.symbols import symbol_name
from avalon.ir.traits import (
    CallLike,
    FunctionLike,
    IsolatedFromAbove,
    Pure,
    ReturnLike,
    Symbol,
    Terminator,
)
from avalon.ir.types import FunctionType, i32
from avalon.ir.verifier import verify
from avalon.passes.inline import Inline, build_call_graph, inline_calls


def top_names(m: Operation) -> list[str | None]:
    return [symbol_name(op) for op in m.body.ops]


def run(text: str, **options) -> tuple[Operation, Inline]:
    m = parse_module(text)
    p = Inline(**options)
    p.run(m)
    verify(m)
    return m, p


def body_lines(m: Operation, fn_name: str) -> list[str]:
    fn = next(op for op in m.body.ops if symbol_name(op) == fn_name)
    lines = [line.strip() for line in print_op(fn).splitlines()]
    return lines[1:-1]


def test_private_callee_is_inlined_and_erased():
    m, p = run("""
func.func private @add1(%x: i32) -> i32 {
  %c1 = arith.constant 1 : i32
  %r = arith.addi %x, %c1 : i32
  return %r : i32
}
func.func @main(%a: i32) -> i32 {
  %u = call @add1(%a) : (i32) -> i32
  %v = arith.muli %u, %u : i32
  return %v : i32
}
""")
    assert top_names(m) == ["main"]
    lines = body_lines(m, "main")
    assert lines[:3] == [
        "%0 = arith.constant 1 : i32",
        "%1 = arith.addi %arg0, %0 : i32",
        "%2 = arith.muli %1, %1 : i32",
    ]
    assert len(lines) == 4 and lines[3].startswith("return") and lines[3].endswith("%2 : i32")
    assert p.statistics["num-inlined-calls"].value == 1
    assert p.statistics["num-erased-callees"].value == 1


def test_public_callees_need_the_option_and_are_kept():
    text = """
func.func @helper(%x: i32) -> i32 {
  %r = arith.addi %x, %x : i32
  return %r : i32
}
func.func @main(%a: i32) -> i32 {
  %u = call @helper(%a) : (i32) -> i32
  return %u : i32
}
"""
    m, p = run(text)
    assert p.statistics["num-inlined-calls"].value == 0
    assert "call @helper" in print_op(m)
    m, p = run(text, inline_public=True)
    assert p.statistics["num-inlined-calls"].value == 1
    assert top_names(m) == ["helper", "main"]
    assert "call" not in print_op(m)


def test_call_chains_are_inlined_bottom_up():
    m, p = run("""
func.func @main(%a: i32) -> i32 {
  %u = call @a(%a) : (i32) -> i32
  %w = call @a(%u) : (i32) -> i32
  return %w : i32
}
func.func private @a(%x: i32) -> i32 {
  %y = call @b(%x) : (i32) -> i32
  %z = arith.muli %y, %y : i32
  return %z : i32
}
func.func private @b(%x: i32) -> i32 {
  %y = arith.addi %x, %x : i32
  return %y : i32
}
""")
    assert top_names(m) == ["main"]
    text = print_op(m)
    assert "call" not in text
    assert text.count("arith.addi") == 2 and text.count("arith.muli") == 2
    assert p.statistics["num-inlined-calls"].value == 3  # b into a, then a twice into main


def test_recursive_functions_are_not_inlined():
    m, p = run("""
func.func private @fact(%n: i32) -> i32 {
  %r = call @fact(%n) : (i32) -> i32
  %s = call @helper(%r) : (i32) -> i32
  return %s : i32
}
func.func private @ping(%n: i32) -> i32 {
  %r = call @pong(%n) : (i32) -> i32
  return %r : i32
}
func.func private @pong(%n: i32) -> i32 {
  %r = call @ping(%n) : (i32) -> i32
  return %r : i32
}
func.func private @helper(%x: i32) -> i32 {
  %y = arith.addi %x, %x : i32
  return %y : i32
}
func.func @main(%a: i32) -> (i32, i32) {
  %u = call @fact(%a) : (i32) -> i32
  %v = call @ping(%a) : (i32) -> i32
  return %u, %v : i32, i32
}
""")
    assert top_names(m) == ["fact", "ping", "pong", "main"]
    assert body_lines(m, "fact")[:2] == [
        "%0 = call @fact(%arg0) : (i32) -> i32",
        "%1 = arith.addi %0, %0 : i32",
    ]
    assert "call @fact" in print_op(m) and "call @ping" in print_op(m)
    assert p.statistics["num-inlined-calls"].value == 1


def test_call_graph_and_sccs():
    m = parse_module("""
func.func private @a() {
  call @b() : () -> ()
  return
}
func.func private @b() {
  call @a() : () -> ()
  return
}
func.func private @c() { return }
func.func @main() {
  call @a() : () -> ()
  call @c() : () -> ()
  return
}
""")
    a, b, c, main = list(m.body.ops)
    graph = build_call_graph(m)
    assert graph.recursive_functions() == {a, b}
    order = [f for scc in graph.sccs() for f in scc]
    assert order.index(c) < order.index(main) and order.index(a) < order.index(main)
    assert len(graph.calls) == 4


def test_declarations_and_kept_references():
    m, p = run("""
func.func private @ext(i32) -> i32
func.func private @small(%x: i32) -> i32 {
  %r = call @ext(%x) : (i32) -> i32
  return %r : i32
}
func.func @main(%a: i32) -> i32 {
  %u = call @small(%a) : (i32) -> i32
  return %u : i32
}
""")
    assert top_names(m) == ["ext", "main"]
    assert body_lines(m, "main")[0] == "%0 = call @ext(%arg0) : (i32) -> i32"
    assert p.statistics["num-inlined-calls"].value == 1


def test_erase_callees_option():
    text = """
func.func private @f(%x: i32) -> i32 { return %x : i32 }
func.func @main(%a: i32) -> i32 {
  %u = call @f(%a) : (i32) -> i32
  return %u : i32
}
"""
    m, _ = run(text, erase_callees=False)
    assert top_names(m) == ["f", "main"]
    m, _ = run(text)
    assert top_names(m) == ["main"]
    (only,) = body_lines(m, "main")  # just the return, of the argument itself
    assert only.startswith("return") and only.endswith("%arg0 : i32")


def test_calls_in_nested_regions_are_inlined():
    m, _ = run("""
func.func private @twice(%x: index) -> index {
  %r = arith.addi %x, %x : index
  return %r : index
}
func.func @main(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  loop.for %i = %c0 to %n step %c1 {
    %t = func.call @twice(%i) : (index) -> index
    loop.yield
  }
  return
}
""")
    text = print_op(m)
    assert "call" not in text
    assert "arith.addi %arg1, %arg1 : index" in text
    assert top_names(m) == ["main"]


# ------------------------------------------------------------ generic ops (traits only)
class TFunc(Op):
    name = "tinl.func"
    traits = (IsolatedFromAbove, Symbol, FunctionLike)
    sym_name = Attr(AnyAttr)
    sym_visibility = OptAttr(AnyAttr)
    function_type = OptAttr(AnyAttr)
    body_region = SingleRegion()


class TCall(Op):
    name = "tinl.call"
    traits = (CallLike,)
    callee = Attr(AnyAttr)
    args = VarOperand()
    outs = VarResult()


class TRet(Op):
    name = "tinl.ret"
    traits = (Pure, Terminator, ReturnLike)
    values = VarOperand()


class TBr(Op):
    name = "tinl.br"
    traits = (Pure, Terminator)
    dest = Successor()


class TNeg(Op):
    name = "tinl.neg"
    traits = (Pure,)
    operand = VarOperand()
    result = Result()


def tfunc(name: str, arg_types, private=True) -> tuple[TFunc, Builder]:
    attrs = {"sym_name": StringAttr(name),
             "function_type": TypeAttr(FunctionType(tuple(arg_types), ()))}
    if private:
        attrs["sym_visibility"] = StringAttr("private")
    fn = TFunc.build(attributes=attrs)
    block = fn.regions[0].add_block(Block(arg_types))
    return fn, Builder.at_end(block)


def test_inliner_works_through_traits_and_sets_call_site_locations():
    callee, cb = tfunc("neg", [i32])
    neg = cb.create(TNeg, operand=[callee.body.args[0]], result_types=[i32],
                    location=FileLineColLoc("callee.py", 3, 4))
    cb.create(TRet, values=[neg.result])
    main, mb = tfunc("main", [i32], private=False)
    call_loc = FileLineColLoc("caller.py", 10, 2)
    call = mb.create(TCall, args=[main.body.args[0]], callee=SymbolRefAttr("neg"),
                     result_types=[i32], location=call_loc)
    mb.create(TRet, values=[call.results[0]])
    m = module([callee, main])
    result = inline_calls(m)
    assert (result.calls, result.erased_callees) == (1, 1)
    assert [op.name for op in main.body.ops] == ["tinl.neg", "tinl.ret"]
    inlined = main.body.first_op
    assert inlined.location == CallSiteLoc(FileLineColLoc("callee.py", 3, 4), call_loc)
    assert main.body.last_op.operands[0] is inlined.result
    assert list(m.body.ops) == [main]


def test_multi_block_and_mismatched_callees_are_left_alone():
    multi, b1 = tfunc("multi", [i32])
    nxt = multi.regions[0].add_block(Block())
    b1.create(TBr, successors=[nxt])
    Builder.at_end(nxt).create(TRet, values=[])
    typed, b2 = tfunc("typed", [i32])
    b2.create(TRet, values=[])
    main, mb = tfunc("main", [i32, i32], private=False)
    x = main.body.args[0]
    mb.create(TCall, args=[x], callee=SymbolRefAttr("multi"), result_types=[])
    mb.create(TCall, args=[x, x], callee=SymbolRefAttr("typed"), result_types=[])
    mb.create(TCall, args=[x], callee=SymbolRefAttr("missing"), result_types=[])
    mb.create(TRet, values=[])
    m = module([multi, typed, main])
    assert inline_calls(m).calls == 0
    assert [op.name for op in main.body.ops] == ["tinl.call"] * 3 + ["tinl.ret"]
    assert len(list(m.body.ops)) == 3
