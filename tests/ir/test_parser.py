"""The parser: types, attributes, locations, aliases, value scoping and custom forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avalon.ir.affine import AffineMap, dim, sym
from avalon.ir.asm import OpAsmParser, OpAsmPrinter
from avalon.ir.attributes import (
    UNIT,
    AffineMapAttr,
    ArrayAttr,
    DenseArrayAttr,
    DenseElementsAttr,
    DenseResourceAttr,
    DictAttr,
    FloatAttr,
    IntegerAttr,
    OpaqueAttr,
    StridedLayoutAttr,
    StringAttr,
    SymbolRefAttr,
    TypeAttr,
)
from avalon.ir.core import Operation, UnregisteredOp
from avalon.ir.diagnostics import SOURCES, DiagnosticError
from avalon.ir.dialects.builtin import ModuleOp
from avalon.ir.location import (
    UNKNOWN_LOC,
    CallSiteLoc,
    FileLineColLoc,
    FusedLoc,
    NameLoc,
)
from avalon.ir.opdef import AnyType, Op, SingleRegion, VarOperand
from avalon.ir.parser import parse_attribute, parse_location, parse_module, parse_type
from avalon.ir.printer import print_op
from avalon.ir.traits import IsolatedFromAbove, NoTerminator, Terminator
from avalon.ir.types import (
    DYNAMIC,
    FunctionType,
    IntegerType,
    MemRefType,
    OpaqueType,
    TensorType,
    TupleType,
    VectorType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i8,
    i32,
    i64,
    index,
    none,
)


class ScopeOp(Op):
    """Isolated op whose custom form takes entry-block arguments: ``tparse.scope (%a: f32) {}``."""

    name = "tparse.scope"
    traits = (IsolatedFromAbove, NoTerminator)
    default_dialect = "tparse"
    body_region = SingleRegion()

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.write("(")
        for i, a in enumerate(self.regions[0].blocks[0].args):
            if i:
                p.write(", ")
            p.print_block_argument(a)
        p.write(") ")
        p.print_region(self.regions[0], print_entry_block_args=False)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        p.parse_punct("(")
        args = []
        if not p.parse_optional_punct(")"):
            args.append(p.parse_argument())
            while p.parse_optional_punct(","):
                args.append(p.parse_argument())
            p.parse_punct(")")
        return cls([], [], {}, [p.parse_region(args)], [], p.location)


class ShadowOp(Op):
    """Non-isolated op whose region arguments may reuse outer names (MLIR's name shadowing)."""

    name = "tparse.shadow"
    traits = (NoTerminator,)
    body_region = SingleRegion()

    def print_custom(self, p: OpAsmPrinter) -> None:  # pragma: no cover - parse-only test
        p.print_region(self.regions[0])

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        p.parse_punct("(")
        arg = p.parse_argument()
        p.parse_punct(")")
        return cls([], [], {}, [p.parse_region([arg], enable_name_shadowing=True)], [],
                   p.location)


class EndOp(Op):
    name = "tparse.end"
    traits = (Terminator,)
    values = VarOperand(AnyType)
    assembly_format = "attr-dict ($values^ `:` type($values))?"


def parse(text: str, **kw) -> ModuleOp:
    kw.setdefault("allow_unregistered", True)
    kw.setdefault("verify", False)
    return parse_module(text, **kw)


# ------------------------------------------------------------------------------ types
@pytest.mark.parametrize(("text", "expected"), [
    ("i1", i1), ("i8", i8), ("i7", IntegerType(7)), ("index", index), ("f16", f16),
    ("bf16", bf16), ("f64", f64), ("none", none),
    ("tensor<2x3xf32>", TensorType((2, 3), f32)),
    ("tensor<f32>", TensorType((), f32)),
    ("tensor<?x4xi32>", TensorType((DYNAMIC, 4), i32)),
    ("tensor<0xf32>", TensorType((0,), f32)),
    ("vector<8xf32>", VectorType((8,), f32)),
    ("memref<4x4xf32>", MemRefType((4, 4), f32)),
    ("memref<4xf32, 3>", MemRefType((4,), f32, None, IntegerAttr(3))),
    ("memref<4x?xf32, strided<[?, 1], offset: 2>, 1>",
     MemRefType((4, DYNAMIC), f32, StridedLayoutAttr((DYNAMIC, 1), 2), IntegerAttr(1))),
    ("memref<4xf32, affine_map<(d0) -> (d0 + 1)>>",
     MemRefType((4,), f32, AffineMapAttr(AffineMap(1, 0, (dim(0) + 1,))))),
    ("tuple<i32, tensor<2xf32>>", TupleType((i32, TensorType((2,), f32)))),
    ("tuple<>", TupleType(())),
    ("(i32, f32) -> f32", FunctionType((i32, f32), (f32,))),
    ("() -> ()", FunctionType((), ())),
    ("(i32) -> (f32, i1)", FunctionType((i32,), (f32, i1))),
    ("(i32) -> ((i32) -> i1)", FunctionType((i32,), (FunctionType((i32,), (i1,)),))),
    ("!llvm.ptr", OpaqueType("llvm", "ptr")),
    ('!foo.bar<"x>y", [1, {2}], (a) -> b>', OpaqueType("foo", 'bar<"x>y", [1, {2}], (a) -> b>')),
    ("tensor<2 x 3 x f32>", TensorType((2, 3), f32)),
])
def test_types(text: str, expected):
    t = parse_type(text)
    assert t == expected
    assert parse_type(str(t)) == t


# ------------------------------------------------------------------------------ attributes
@pytest.mark.parametrize(("text", "expected"), [
    ("42", IntegerAttr(42, i64)),
    ("-7 : i8", IntegerAttr(-7, i8)),
    ("255 : i8", IntegerAttr(-1, i8)),
    ("0x10 : i32", IntegerAttr(16, i32)),
    ("3 : index", IntegerAttr(3, index)),
    ("true", IntegerAttr(1, i1)),
    ("false", IntegerAttr(0, i1)),
    ("1.5", FloatAttr(1.5, f64)),
    ("-2.5e-3 : f32", FloatAttr(-2.5e-3, f32)),
    ("1.000000e+00 : f32", FloatAttr(1.0, f32)),
    ("0x7F800000 : f32", FloatAttr(math.inf, f32)),
    ("0xFC00 : f16", FloatAttr(-math.inf, f16)),
    ("0x3FF0000000000000 : f64", FloatAttr(1.0, f64)),
    ("0x3F80 : bf16", FloatAttr(1.0, bf16)),
    ('"a\\"b\\n\\0A"', StringAttr('a"b\n\n')),
    ("unit", UNIT),
    ("[]", ArrayAttr(())),
    ("[1, [true], \"s\"]",
     ArrayAttr((IntegerAttr(1), ArrayAttr((IntegerAttr(1, i1),)), StringAttr("s")))),
    ("{}", DictAttr(())),
    ('{b = 1, a, "q k" = f32}',
     DictAttr((("a", UNIT), ("b", IntegerAttr(1)), ("q k", TypeAttr(f32))))),
    ("f32", TypeAttr(f32)),
    ("tensor<2xi8>", TypeAttr(TensorType((2,), i8))),
    ("(i32) -> i1", TypeAttr(FunctionType((i32,), (i1,)))),
    ("!foo.t", TypeAttr(OpaqueType("foo", "t"))),
    ("@f", SymbolRefAttr("f")),
    ('@"with space"::@inner::@x', SymbolRefAttr("with space", ("inner", "x"))),
    ("array<i64: 1, -2, 3>", DenseArrayAttr(i64, (1, -2, 3))),
    ("array<i32>", DenseArrayAttr(i32, ())),
    ("array<f32: 1.5, 2>", DenseArrayAttr(f32, (1.5, 2.0))),
    ("array<i1: true, false>", DenseArrayAttr(i1, (1, 0))),
    ("affine_map<(d0, d1)[s0] -> (d0 + s0, d1 * 2 - 1, d0 floordiv 4, d1 ceildiv 2, d0 mod 3)>",
     AffineMapAttr(AffineMap(2, 1, (dim(0) + sym(0), dim(1) * 2 - 1, dim(0).floordiv(4),
                                    dim(1).ceildiv(2), dim(0) % 3)))),
    ("affine_map<(i, j) -> (j, -i, (i + j) * 3)>",
     AffineMapAttr(AffineMap(2, 0, (dim(1), -dim(0), (dim(0) + dim(1)) * 3)))),
    ("affine_map<() -> ()>", AffineMapAttr(AffineMap(0, 0, ()))),
    ("strided<[4, 1], offset: 2>", StridedLayoutAttr((4, 1), 2)),
    ("strided<[?, -1]>", StridedLayoutAttr((DYNAMIC, -1), 0)),
    ("#arith.fastmath<nnan, ninf>", OpaqueAttr("arith", "fastmath<nnan, ninf>")),
    ("#gpu.address_space", OpaqueAttr("gpu", "address_space")),
    ("dense_resource<__elided__> : tensor<4xf32>",
     DenseResourceAttr("__elided__", TensorType((4,), f32))),
])
def test_attributes(text: str, expected):
    a = parse_attribute(text)
    assert a == expected
    assert parse_attribute(str(a)) == a


@pytest.mark.parametrize(("text", "array", "type_"), [
    ("dense<1.5> : tensor<2x2xf32>", np.full((2, 2), 1.5), TensorType((2, 2), f32)),
    ("dense<[[1, 2], [3, 4]]> : tensor<2x2xi32>", [[1, 2], [3, 4]], TensorType((2, 2), i32)),
    ("dense<[1.0, -2.5]> : vector<2xf64>", [1.0, -2.5], VectorType((2,), f64)),
    ("dense<[true, false]> : tensor<2xi1>", [True, False], TensorType((2,), i1)),
    ("dense<[255, 0]> : tensor<2xi8>", [-1, 0], TensorType((2,), i8)),
    ("dense<> : tensor<0xf32>", np.zeros((0,)), TensorType((0,), f32)),
    ("dense<[]> : tensor<0x3xi32>", np.zeros((0, 3)), TensorType((0, 3), i32)),
    ('dense<"0x0000803F00000040"> : tensor<2xf32>', [1.0, 2.0], TensorType((2,), f32)),
    ('dense<"0x0000803F"> : tensor<3xf32>', [1.0, 1.0, 1.0], TensorType((3,), f32)),
    ('dense<"0x803F0040"> : tensor<2xbf16>', [1.0, 2.0], TensorType((2,), bf16)),
])
def test_dense_elements(text: str, array, type_):
    a = parse_attribute(text)
    assert isinstance(a, DenseElementsAttr) and a.type == type_
    assert a == DenseElementsAttr(np.asarray(array), type_)
    assert parse_attribute(str(a)) == a


def test_large_dense_round_trips_through_hex():
    t = TensorType((300,), f32)
    a = DenseElementsAttr(np.linspace(-1, 1, 300), t)
    assert '"0x' in str(a)
    assert parse_attribute(str(a)) == a


# ------------------------------------------------------------------------------ locations
@pytest.mark.parametrize(("text", "expected"), [
    ("loc(unknown)", UNKNOWN_LOC),
    ('loc("a.py":3:14)', FileLineColLoc("a.py", 3, 14)),
    ('loc("name")', NameLoc("name")),
    ('loc("name"("f":1:2))', NameLoc("name", FileLineColLoc("f", 1, 2))),
    ('loc(callsite("f":1:2 at "g":3:4))',
     CallSiteLoc(FileLineColLoc("f", 1, 2), FileLineColLoc("g", 3, 4))),
    ('loc(fused["f":1:2, unknown, "n"])',
     FusedLoc((FileLineColLoc("f", 1, 2), UNKNOWN_LOC, NameLoc("n")))),
])
def test_locations(text: str, expected):
    loc = parse_location(text)
    assert loc == expected
    assert parse_location(str(loc)) == loc


def test_trailing_locations_and_location_aliases():
    m = parse("""
#loc0 = loc("early.py":1:1)
"d.a"() : () -> () loc(#loc0)
"d.b"() ({
^bb0(%x: f32 loc(#late), %y: i32 loc("arg.py":2:3)):
  "d.c"() : () -> () loc(fused[#loc0, "n"])
}) : () -> () loc(#late)
#late = loc("late.py":9:9)
""")
    a, b = m.body.ops
    assert a.location == FileLineColLoc("early.py", 1, 1)
    assert b.location == FileLineColLoc("late.py", 9, 9)
    x, y = b.regions[0].blocks[0].args
    assert x.location == FileLineColLoc("late.py", 9, 9)
    assert y.location == FileLineColLoc("arg.py", 2, 3)
    inner = b.regions[0].blocks[0].first_op
    assert inner.location == FusedLoc((FileLineColLoc("early.py", 1, 1), NameLoc("n")))


def test_ops_carry_their_source_position():
    m = parse('\n  %0 = "d.a"() : () -> f32\n', )
    op = m.body.first_op
    assert op.location == FileLineColLoc("<stdin>", 2, 8)
    assert m.location == FileLineColLoc("<stdin>", 1, 1)


# ------------------------------------------------------------------------------ structure
def test_implicit_module_and_explicit_module():
    m = parse('"d.a"() : () -> ()\n"d.b"() : () -> ()')
    assert isinstance(m, ModuleOp) and [o.name for o in m.body.ops] == ["d.a", "d.b"]
    explicit = parse('module @m attributes {k = 1} {\n  "d.a"() : () -> ()\n}')
    assert explicit.sym_name == StringAttr("m") and explicit.attributes["k"] == IntegerAttr(1)
    assert explicit.parent is None
    two = parse("module {\n}\nmodule {\n}")
    assert [o.name for o in two.body.ops] == ["builtin.module", "builtin.module"]
    empty = parse("")
    assert empty.body.is_empty


def test_type_and_attribute_aliases():
    m = parse("""
!vec = tensor<4xf32>
#attrs = {x = 1 : i32}
#map = affine_map<(d0) -> (d0)>
%0 = "d.a"() {m = #map, d = #attrs} : () -> !vec
""")
    op = m.body.first_op
    assert op.result.type == TensorType((4,), f32)
    assert op.attributes["d"] == DictAttr((("x", IntegerAttr(1, i32)),))
    assert op.attributes["m"] == AffineMapAttr(AffineMap.identity(1))


def test_forward_references_in_graph_regions_and_across_blocks():
    m = parse("""
"d.use"(%later) : (f32) -> ()
%later = "d.def"() : () -> f32
"d.c"() ({
  "d.br"(%v)[^next] : (i32) -> ()
^next(%a: i32):
  %v = "d.v"() : () -> i32
  "d.br"(%a)[^next] : (i32) -> ()
}) : () -> ()
""")
    use, defn, c = m.body.ops
    assert use.operand(0) is defn.result
    entry, nxt = c.regions[0].blocks
    br = entry.first_op
    assert br.successors == [nxt]
    assert br.operand(0) is nxt.first_op.result
    assert nxt.last_op.operand(0) is nxt.args[0]


def test_multiple_result_groups_and_hash_uses():
    m = parse("""
%a, %b:2 = "d.three"() : () -> (f32, i32, i1)
"d.use"(%b#1, %a, %b) : (i1, f32, i32) -> ()
""")
    three, use = m.body.ops
    assert list(use.operands) == [three.results[2], three.results[0], three.results[1]]


def test_names_are_scoped_to_regions():
    m = parse("""
"d.c"() ({
  %x = "d.x"() : () -> f32
}, {
  %x = "d.x"() : () -> i32
  "d.use"(%x) : (i32) -> ()
}) : () -> ()
%x = "d.x"() : () -> i1
""")
    c, top_x = m.body.ops
    assert c.regions[1].blocks[0].last_op.operand(0).type == i32
    assert top_x.result.type == i1


def test_isolated_custom_op_with_arguments_and_default_dialect():
    text = """
%0 = "d.outer"() : () -> f32
tparse.scope(%a: f32, %b: i32) {
  %0 = "d.inner"(%a) : (f32) -> f32
  end %0, %b : f32, i32
}
"""
    m = parse(text)
    scope = m.body.last_op
    assert isinstance(scope, ScopeOp)
    entry = scope.regions[0].blocks[0]
    assert entry.arg_types == [f32, i32]
    end = entry.last_op
    assert isinstance(end, EndOp) and end.operand(1) is entry.args[1]
    printed = print_op(m)
    assert "tparse.scope (%arg0: f32, %arg1: i32) {" in printed and "    end %0, %arg1" in printed
    assert print_op(parse(printed)) == printed


def test_properties_are_parsed_into_attributes():
    m = parse('"d.p"() <{a = 1 : i32}> {b} : () -> ()')
    assert m.body.first_op.attributes == {"a": IntegerAttr(1, i32), "b": UNIT}


def test_unregistered_ops_need_permission():
    with pytest.raises(DiagnosticError, match=r"unregistered operation 'd\.x'"):
        parse_module('"d.x"() : () -> ()', verify=False)
    assert isinstance(parse('"d.x"() : () -> ()').body.first_op, UnregisteredOp)


def test_custom_op_names_resolve_through_builtin_and_default_dialect():
    m = parse("module {\n  tparse.scope() {\n    end\n  }\n}")
    assert isinstance(m.body.first_op, ScopeOp)
    with pytest.raises(DiagnosticError, match="custom op 'end' is unknown"):
        parse("end")


def test_source_text_is_registered_for_diagnostics():
    text = '"d.a"() : () -> ()\n%0 = "d.b"(%nope) : (f32) -> f32\n'
    with pytest.raises(DiagnosticError) as info:
        parse(text, filename="reg.mlir")
    assert SOURCES.line("reg.mlir", 2) == '%0 = "d.b"(%nope) : (f32) -> f32'
    assert str(info.value).splitlines()[1:] == ['%0 = "d.b"(%nope) : (f32) -> f32',
                                                "           ^"]


def test_verify_flag_runs_the_verifier(monkeypatch):
    from avalon.ir import verifier

    seen = []
    monkeypatch.setattr(verifier, "verify", lambda op: seen.append(op))
    m = parse_module("module {\n}", verify=True)
    assert seen == [m]
    parse_module("module {\n}", verify=False)
    assert len(seen) == 1


def test_parses_upstream_mlir_printing_style():
    text = """#map = affine_map<(d0) -> (d0)>
"builtin.module"() ({
  %0 = "d.c"() {value = 1.000000e+00 : f32, s = "a\\0Ab", m = #map} : () -> f32
^bb1:  // no predecessors
  "d.r"(%0) : (f32) -> ()
}) : () -> ()
"""
    m = parse(text)
    op = m.body.first_op
    assert op.attributes["value"] == FloatAttr(1.0, f32)
    assert op.attributes["s"] == StringAttr("a\nb")
    assert len(m.regions[0].blocks) == 2


def test_parse_type_and_attribute_reject_trailing_text():
    with pytest.raises(DiagnosticError, match="after type"):
        parse_type("f32 f32")
    with pytest.raises(DiagnosticError, match="after attribute"):
        parse_attribute("1 2")


def test_region_arguments_may_shadow_outer_names():
    m = parse("""
%x = "d.a"() : () -> i32
tparse.shadow(%x: f32) {
  "d.inner"(%x) : (f32) -> ()
}
"d.outer"(%x) : (i32) -> ()
""")
    a, shadow, outer = m.body.ops
    entry = shadow.regions[0].blocks[0]
    assert entry.first_op.operand(0) is entry.args[0]
    assert outer.operand(0) is a.result
    with pytest.raises(DiagnosticError, match="redefinition of SSA value '%x'"):
        parse('%x = "d.a"() : () -> i32\n"d.r"() ({\n^bb0(%x: f32):\n}) : () -> ()')


def test_crashing_verifier_still_gives_a_diagnostic(monkeypatch):
    from avalon.ir import verifier

    def broken(op):
        raise KeyError("bug")

    monkeypatch.setattr(verifier, "verify", broken)
    with pytest.raises(DiagnosticError, match="internal error while verifying: KeyError"):
        parse_module("module {\n}", "v.mlir")
