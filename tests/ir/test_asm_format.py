"""Declarative assembly formats: MLIR spacing, optional groups, type inference, errors."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import avalon.ir.dialects  # noqa: F401  (registers every dialect, for the compile-all test)
from avalon.ir.asm_format import FormatError, compile_format
from avalon.ir.attributes import UNIT, Attribute, IntegerAttr, StringAttr
from avalon.ir.core import OP_REGISTRY, Value
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.opdef import (
    AnyAttr,
    AnyType,
    I64Attr,
    Op,
    Operand,
    OptAttr,
    OptOperand,
    Result,
    SingleRegion,
    Successor,
    SymbolNameAttr,
    UnitAttrC,
    VarOperand,
    VarResult,
)
from avalon.ir.parser import parse_module
from avalon.ir.printer import print_op
from avalon.ir.traits import SameOperandsAndResultType, SameTypeOperands, Terminator
from avalon.ir.types import Type, i1


class AddOp(Op):
    name = "tfmt.add"
    traits = (SameOperandsAndResultType,)
    lhs = Operand(AnyType)
    rhs = Operand(AnyType)
    result = Result(AnyType)
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"


class CastOp(Op):
    name = "tfmt.cast"
    input = Operand(AnyType)
    result = Result(AnyType)
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"


class FnTypeOp(Op):
    name = "tfmt.fn"
    a = Operand(AnyType)
    b = Operand(AnyType)
    out = Result(AnyType)
    assembly_format = "$a `,` $b attr-dict `:` functional-type(operands, results)"


class CmpOp(Op):
    """Result type inferred (always i1); operand types shared through SameTypeOperands."""

    name = "tfmt.cmp"
    traits = (SameTypeOperands,)
    lhs = Operand(AnyType)
    rhs = Operand(AnyType)
    result = Result(AnyType)
    predicate = OptAttr(I64Attr)
    assembly_format = "$predicate `,` $lhs `,` $rhs attr-dict `:` type($lhs)"

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        return [i1]


class ParenOp(Op):
    name = "tfmt.paren"
    args = VarOperand(AnyType)
    assembly_format = "`(` $args `)` attr-dict `:` type($args)"


class PackOp(Op):
    name = "tfmt.pack"
    args = VarOperand(AnyType)
    results = VarResult(AnyType)
    assembly_format = "$args attr-dict `:` type(operands) `->` type(results)"


class OptionalOp(Op):
    """Optional operand, optional attribute and unit-attribute anchors."""

    name = "tfmt.opt"
    base = Operand(AnyType)
    extra = OptOperand(AnyType)
    axis = OptAttr(I64Attr)
    nsw = OptAttr(UnitAttrC)
    meta = OptAttr(AnyAttr)
    assembly_format = ("$base (`plus` $extra^ `:` type($extra))? (`axis` `=` $axis^)? "
                       "(`nsw` $nsw^)? ($meta^)? attr-dict `:` type($base)")


class TwoGroupsOp(Op):
    name = "tfmt.groups"
    a = VarOperand(AnyType)
    b = VarOperand(AnyType)
    assembly_format = "`[` $a `]` `[` $b `]` attr-dict `:` `(` type($a) `)` `(` type($b) `)`"


class SymOp(Op):
    name = "tfmt.sym"
    sym_name = OptAttr(SymbolNameAttr)
    value = OptAttr(AnyAttr)
    assembly_format = "$sym_name `=` $value attr-dict"


class RegionOp(Op):
    name = "tfmt.region"
    seed = Operand(AnyType)
    body = SingleRegion()
    assembly_format = "$seed attr-dict-with-keyword `:` type($seed) $body"


class BrOp(Op):
    name = "tfmt.br"
    traits = (Terminator,)
    args = VarOperand(AnyType)
    dest = Successor()
    assembly_format = "$dest (`(` $args^ `:` type($args) `)`)? attr-dict"


def roundtrip(text: str) -> str:
    """Parse, print, and check the printed text is a fixed point."""
    printed = print_op(parse_module(text, allow_unregistered=True, verify=False))
    again = print_op(parse_module(printed, allow_unregistered=True, verify=False))
    assert again == printed
    return printed


def body(printed: str) -> list[str]:
    return [line.strip() for line in printed.splitlines()[1:-1]]


DEFS = """%a = "t.f"() : () -> f32
%b = "t.f"() : () -> f32
%i = "t.i"() : () -> i32
"""


@pytest.mark.parametrize(("line", "expected"), [
    ("%0 = tfmt.add %a,%b : f32", "%3 = tfmt.add %0, %1 : f32"),
    ("%0 = tfmt.add %a, %b {tag = 1} : f32", "%3 = tfmt.add %0, %1 {tag = 1 : i64} : f32"),
    ("%0 = tfmt.cast %i : i32 to f32", "%3 = tfmt.cast %2 : i32 to f32"),
    ("%0 = tfmt.fn %a, %i : (f32, i32) -> i1", "%3 = tfmt.fn %0, %2 : (f32, i32) -> i1"),
    ("%0 = tfmt.cmp 3, %a, %b : f32", "%3 = tfmt.cmp 3, %0, %1 : f32"),
    ("tfmt.paren(%a, %i) : f32, i32", "tfmt.paren(%0, %2) : f32, i32"),
    ("tfmt.paren() : ", "tfmt.paren() :"),
    ("%p:2 = tfmt.pack %a, %i : f32, i32 -> i1, f32",
     "%3:2 = tfmt.pack %0, %2 : f32, i32 -> i1, f32"),
    ("tfmt.opt %a : f32", "tfmt.opt %0 : f32"),
    ("tfmt.opt %a plus %i : i32 axis = 2 nsw #x.y : f32",
     "tfmt.opt %0 plus %2 : i32 axis = 2 nsw #x.y : f32"),
    ("tfmt.opt %a nsw : f32", "tfmt.opt %0 nsw : f32"),
    ("tfmt.opt %a axis = 2 : f32", "tfmt.opt %0 axis = 2 : f32"),
    ("tfmt.groups [%a, %b] [%i] : (f32, f32) (i32)", "tfmt.groups[%0, %1] [%2] : (f32, f32) (i32)"),
    ("tfmt.groups[] [] : () ()", "tfmt.groups[] [] : () ()"),
    ('tfmt.sym @name = "v"', 'tfmt.sym @name = "v"'),
    ("tfmt.sym @name = 7 : i32", "tfmt.sym @name = 7 : i32"),
])
def test_format_round_trips_with_mlir_spacing(line: str, expected: str):
    printed = roundtrip(DEFS + line)
    assert body(printed)[-1] == expected


def test_parsed_fields_land_in_the_right_places():
    m = parse_module(DEFS + "tfmt.opt %a plus %i : i32 axis = 2 nsw : f32\n"
                     "tfmt.groups [%a, %b] [%i] : (f32, f32) (i32)\n"
                     "%c = tfmt.cmp 1, %a, %b : f32",
                     allow_unregistered=True, verify=False)
    ops = list(m.body.ops)
    opt, groups, cmp = ops[3], ops[4], ops[5]
    assert opt.extra is ops[2].result and opt.base is ops[0].result
    assert opt.attributes == {"axis": IntegerAttr(2), "nsw": UNIT}
    assert [v.type for v in groups.a] == [ops[0].result.type] * 2
    assert groups.attributes["operandSegmentSizes"].values == (2, 1)
    assert "operandSegmentSizes" not in print_op(groups)
    assert cmp.result.type == i1 and cmp.predicate == IntegerAttr(1)


def test_region_and_successor_formats():
    text = """
"t.c"() ({
  %s = "t.s"() : () -> i32
  tfmt.region %s attributes {k} : i32 {
    "t.inside"() : () -> ()
  }
  tfmt.br ^bb1(%s : i32)
^bb1:
  tfmt.br ^bb1
}) : () -> ()
"""
    printed = roundtrip(text)
    assert "tfmt.region %0 attributes {k} : i32 {" in printed
    assert "tfmt.br ^bb1(%0 : i32)" in printed
    assert "tfmt.br ^bb1\n" in printed


def test_format_parse_errors_are_located():
    with pytest.raises(DiagnosticError) as info:
        parse_module(DEFS + "%0 = tfmt.add %a %b : f32", "fmt.mlir", allow_unregistered=True,
                     verify=False)
    assert info.value.diagnostic.render().startswith("fmt.mlir:4:18: error: expected ','")
    with pytest.raises(DiagnosticError, match=r"fmt.mlir:4:19: error: use of value '%i' "
                       "expects different type than prior uses: 'f32' vs 'i32'"):
        parse_module(DEFS + "%0 = tfmt.add %a, %i : f32", "fmt.mlir", allow_unregistered=True,
                     verify=False)


def define(fmt: str, **fields) -> type[Op]:
    """A fresh op class with ``fields`` and ``fmt`` (registered under a unique name)."""
    define.count += 1
    attrs = {"name": f"tfmtbad.op{define.count}", "assembly_format": fmt, **fields}
    return type(f"Bad{define.count}", (Op,), attrs)


define.count = 0


@pytest.mark.parametrize(("fmt", "fields", "message"), [
    ("$x `:` type($x)", {"x": Operand(AnyType)}, "exactly one 'attr-dict'"),
    ("$nope attr-dict", {}, "'$nope' is not a field"),
    ("attr-dict", {"x": Operand(AnyType)}, "operand '$x' is not printed"),
    ("$x attr-dict", {"x": Operand(AnyType)}, "type of operand '$x' is not determined"),
    ("$x attr-dict `:` type($x)", {"x": Operand(AnyType), "r": Result(AnyType)},
     "type of result '$r' is not determined"),
    ("$r attr-dict", {"r": Result(AnyType)}, "can only appear in type"),
    ("($x `:` type($x))? attr-dict", {"x": OptOperand(AnyType)}, "exactly one anchor"),
    ("$x^ attr-dict `:` type($x)", {"x": Operand(AnyType)}, "outside an optional group"),
    ("($x^ `:` type($x))? attr-dict", {"x": Operand(AnyType)}, "optional or variadic"),
    ("attr-dict custom<Foo>($x)", {"x": Operand(AnyType)}, "unknown directive 'custom'"),
    ("attr-dict `a` ;", {}, "unexpected ';'"),
    ("attr-dict", {"body": SingleRegion()}, "region '$body' is not printed"),
])
def test_format_errors_at_compile_time(fmt: str, fields: dict, message: str):
    cls = define(fmt, **fields)
    with pytest.raises(FormatError, match=message.replace("$", r"\$").replace("(", r"\(")):
        compile_format(cls)


def test_every_registered_format_compiles():
    compiled = 0
    for name, cls in sorted(OP_REGISTRY.items()):
        if name.startswith("tfmtbad."):
            continue
        if getattr(cls, "assembly_format", None) and not getattr(cls, "print_custom", None):
            assert compile_format(cls) is compile_format(cls)  # cached on the class
            compiled += 1
    assert compiled >= 10


def test_symbol_and_value_attribute_printing():
    op = SymOp([], [], {"sym_name": StringAttr("f"), "value": IntegerAttr(3)}, 0, [], None)
    assert print_op(op) == "tfmt.sym @f = 3 : i64"
    x = SymOp([], [], {}, 0, [], None)
    assert print_op(x) == "tfmt.sym ="
    m = parse_module(DEFS, allow_unregistered=True, verify=False)
    a = m.body.first_op.result
    cmp = CmpOp([a, a], [i1], {"predicate": IntegerAttr(5)}, 0, [], None)
    assert compile_format(CmpOp) is CmpOp._compiled_format
    assert print_op(cmp) == "%0 = tfmt.cmp 5, %1, %1 : f32"
    invalid = CmpOp([], [i1], {"predicate": IntegerAttr(5)}, 0, [], None)
    assert print_op(invalid) == '%0 = "tfmt.cmp"() {predicate = 5 : i64} : () -> i1'

