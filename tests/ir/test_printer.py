"""The printer: generic and custom forms, SSA/block naming, locations, elision."""

from __future__ import annotations

import numpy as np
import pytest

from avalon.ir.asm import OpAsmParser, OpAsmPrinter
from avalon.ir.attributes import (
    UNIT,
    ArrayAttr,
    DenseElementsAttr,
    DictAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TypeAttr,
)
from avalon.ir.core import Block, Operation, Region
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.location import FileLineColLoc, NameLoc
from avalon.ir.opdef import AnyType, Op, SingleRegion, VarOperand
from avalon.ir.parser import parse_module
from avalon.ir.printer import Printer, print_op
from avalon.ir.traits import IsolatedFromAbove, NoTerminator, Terminator
from avalon.ir.types import FunctionType, f32, i1, i32, tensor


class IsoOp(Op):
    """Isolated op with a custom form and a default dialect for its body."""

    name = "tprint.iso"
    traits = (IsolatedFromAbove, NoTerminator)
    default_dialect = "tprint"
    body_region = SingleRegion()

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_attr_dict_with_keyword(self.attributes)
        p.write(" ")
        p.print_region(self.regions[0])

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        attrs = p.parse_optional_attr_dict_with_keyword()
        return cls([], [], attrs, [p.parse_region()], [], p.location)


class YieldOp(Op):
    name = "tprint.yield"
    traits = (Terminator,)
    values = VarOperand(AnyType)
    assembly_format = "attr-dict ($values^ `:` type($values))?"


class BrokenOp(Op):
    """Custom hooks that fail on purpose: the printer must fall back to the generic form."""

    name = "tprint.broken"

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.write("half-written ")
        raise RuntimeError("hook bug")

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:  # pragma: no cover - never printed
        raise NotImplementedError


def make(name, operands=(), results=(), regions=0, successors=(), attrs=None, loc=None):
    return Operation.create(name, list(operands), list(results), attrs, regions,
                            list(successors), loc)


def test_generic_op_syntax():
    a = make("d.a", results=[f32, i32])
    b = make("d.b", [a.results[1], a.results[0]], [tensor([2], f32)],
             attrs={"z": IntegerAttr(1, i32), "a": StringAttr("s"), "flag": UNIT})
    c = make("d.c", [b.result])
    m = module([a, b, c])
    assert print_op(m, generic=True) == (
        '"builtin.module"() ({\n'
        '  %0:2 = "d.a"() : () -> (f32, i32)\n'
        '  %1 = "d.b"(%0#1, %0#0) {a = "s", flag, z = 1 : i32} : (i32, f32) -> tensor<2xf32>\n'
        '  "d.c"(%1) : (tensor<2xf32>) -> ()\n'
        "}) : () -> ()")
    assert print_op(m) == (
        "module {\n"
        '  %0:2 = "d.a"() : () -> (f32, i32)\n'
        '  %1 = "d.b"(%0#1, %0#0) {a = "s", flag, z = 1 : i32} : (i32, f32) -> tensor<2xf32>\n'
        '  "d.c"(%1) : (tensor<2xf32>) -> ()\n'
        "}")


def test_function_type_results_are_parenthesised_when_needed():
    fn_t = FunctionType((i32,), (i1,))
    assert print_op(make("d.f", results=[fn_t])) == '%0 = "d.f"() : () -> ((i32) -> i1)'
    assert print_op(make("d.g")) == '"d.g"() : () -> ()'


def test_blocks_successors_and_argument_names():
    region = Region()
    entry = region.add_block(Block([i1]))
    b1 = region.add_block(Block([f32]))
    b2 = region.add_block(Block())
    v = make("d.v", results=[f32])
    entry.append(v)
    entry.append(make("d.cond_br", [entry.args[0], v.result], successors=[b1, b2]))
    b1.append(make("d.use", [b1.args[0]]))
    b1.append(make("d.br", successors=[b2]))
    b2.append(make("d.ret"))
    outer = make("d.container", regions=[region])
    assert print_op(outer) == (
        '"d.container"() ({\n'
        "^bb0(%arg0: i1):\n"
        '  %0 = "d.v"() : () -> f32\n'
        '  "d.cond_br"(%arg0, %0)[^bb1, ^bb2] : (i1, f32) -> ()\n'
        "^bb1(%1: f32):\n"
        '  "d.use"(%1) : (f32) -> ()\n'
        '  "d.br"()[^bb2] : () -> ()\n'
        "^bb2:\n"
        '  "d.ret"() : () -> ()\n'
        "}) : () -> ()")


def test_entry_label_omitted_without_arguments_but_kept_for_empty_generic_block():
    r1 = Region()
    r1.add_block().append(make("d.x"))
    assert print_op(make("d.c", regions=[r1])) == '"d.c"() ({\n  "d.x"() : () -> ()\n}) : () -> ()'
    r2 = Region()
    r2.add_block()
    assert print_op(make("d.c", regions=[r2])) == '"d.c"() ({\n^bb0:\n}) : () -> ()'
    assert print_op(make("d.c", regions=[Region()])) == '"d.c"() ({\n}) : () -> ()'


def test_numbering_restarts_in_isolated_ops_and_default_dialect_is_dropped():
    def iso() -> IsoOp:
        op = IsoOp([], [], {}, 1, [], None)
        body = op.regions[0].add_block()
        x = body.append(make("d.x", results=[f32]))
        body.append(YieldOp([x.result], [], {}, 0))
        return op

    outer_val = make("d.outer", results=[i32])
    m = module([outer_val, iso(), iso()])
    text = print_op(m)
    assert text == (
        "module {\n"
        '  %0 = "d.outer"() : () -> i32\n'
        "  tprint.iso {\n"
        '    %0 = "d.x"() : () -> f32\n'
        "    yield %0 : f32\n"
        "  }\n"
        "  tprint.iso {\n"
        '    %0 = "d.x"() : () -> f32\n'
        "    yield %0 : f32\n"
        "  }\n"
        "}")
    reparsed = parse_module(text, allow_unregistered=True, verify=False)
    assert print_op(reparsed) == text
    assert isinstance(reparsed.body.first_op.next_op.body.last_op, YieldOp)


def test_builtin_prefix_dropped_and_module_attributes():
    m = ModuleOp.create_empty("top")
    m.attributes["dlti.spec"] = StringAttr("x")
    inner = module([])
    m.body.append(inner)
    assert print_op(m) == 'module @top attributes {dlti.spec = "x"} {\n  module {\n  }\n}'
    assert print_op(m, generic=True).startswith(
        '"builtin.module"() ({\n  "builtin.module"() ({\n  ^bb0:\n  }) : () -> ()\n}) '
        '{dlti.spec = "x", sym_name = "top"}')


def test_quoted_names_and_keys():
    op = make("d.weird name", attrs={"not bare": IntegerAttr(2), "ok_key": UNIT})
    assert print_op(op) == '"d.weird name"() {"not bare" = 2 : i64, ok_key} : () -> ()'


def test_debuginfo_prints_locations_of_ops_and_block_arguments():
    region = Region()
    blk = region.add_block(Block([f32], [NameLoc("arg", FileLineColLoc("m.py", 1, 2))]))
    blk.append(make("d.use", [blk.args[0]], loc=FileLineColLoc("m.py", 3, 4)))
    op = make("d.c", regions=[region], loc=NameLoc("outer"))
    assert print_op(op, debuginfo=True) == (
        '"d.c"() ({\n'
        '^bb0(%arg0: f32 loc("arg"("m.py":1:2))):\n'
        '  "d.use"(%arg0) : (f32) -> () loc("m.py":3:4)\n'
        '}) : () -> () loc("outer")')
    assert "loc(" not in print_op(op)


def test_large_dense_constants_are_elided_on_request():
    t = tensor([4], f32)
    big = DenseElementsAttr(np.arange(4), t)
    splat = DenseElementsAttr.splat(2.0, t)
    op = make("d.k", attrs={"big": big, "splat": splat, "nested": ArrayAttr((big,)),
                            "d": DictAttr.of({"x": big})})
    text = print_op(op, elide_elements_larger_than=3)
    elided = "dense_resource<__elided__> : tensor<4xf32>"
    assert text == (f'"d.k"() {{big = {elided}, d = {{x = {elided}}}, nested = [{elided}], '
                    "splat = dense<2.0> : tensor<4xf32>} : () -> ()")
    assert "dense<[0.0, 1.0, 2.0, 3.0]>" in print_op(op, elide_elements_larger_than=4)
    reparsed = parse_module(text, allow_unregistered=True, verify=False)
    assert print_op(reparsed.body.first_op, elide_elements_larger_than=3) == text


def test_custom_form_falls_back_to_generic_when_hook_fails():
    op = BrokenOp([], [i32], {}, 0, [], None)
    assert print_op(op) == '%0 = "tprint.broken"() : () -> i32'


def test_generic_flag_overrides_custom_forms():
    y = YieldOp([make("d.v", results=[f32]).result], [], {}, 0)
    assert print_op(y).startswith("tprint.yield %0 : f32")
    assert print_op(y, generic=True) == '"tprint.yield"(%0) : (f32) -> ()'
    assert print_op(YieldOp([], [], {}, 0)) == "tprint.yield"


def test_str_of_op_and_printer_object():
    op = make("d.v", results=[f32], attrs={"f": FloatAttr(0.5, f32), "t": TypeAttr(i32)})
    assert str(op) == '%0 = "d.v"() {f = 0.5 : f32, t = i32} : () -> f32'
    p = Printer()
    p.print_operation(op)
    assert p.getvalue() == str(op)


def test_hook_writes_never_double_spaces():
    p = Printer()
    p.write("op ")
    p.write(" %0")
    p.print_attr_dict({"a": UNIT})
    p.write(" ")
    p.print_attr_dict_with_keyword({"b": UNIT, "c": UNIT}, elided=("c",))
    p.print_attr_dict({"c": UNIT}, elided=("c",))
    assert p.getvalue() == "op %0 {a} attributes {b}"


@pytest.mark.parametrize("generic", [False, True])
def test_print_is_stable_under_reparse(generic: bool):
    text = print_op(module([make("d.a", results=[f32]), make("d.b", attrs={"x": UNIT})]),
                    generic=generic)
    again = print_op(parse_module(text, allow_unregistered=True, verify=False), generic=generic)
    assert again == text
