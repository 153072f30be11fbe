"""The func dialect: functions, returns, calls; builders, verifier, text forms."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import avalon.ir.dialects  # noqa: F401  (registers the dialects)
from avalon.ir.attributes import ArrayAttr, DictAttr, StringAttr, SymbolRefAttr, UnitAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects import arith, func
from avalon.ir.dialects import math as math_d
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.location import FileLineColLoc
from avalon.ir.opdef import DIALECTS
from avalon.ir.parser import parse_module
from avalon.ir.printer import print_op
from avalon.ir.traits import FunctionLike, IsolatedFromAbove, Symbol
from avalon.ir.types import FunctionType, f16, f32, f64, i1, i8, i32, i64, index
from avalon.ir.verifier import verify
from tests.support.scaling import assert_roughly_linear

MLIR_OPT = Path("/usr/lib/llvm-22/bin/mlir-opt")
LOC = FileLineColLoc("f.mlir", 3, 9)


def verify_error(m: Operation) -> DiagnosticError:
    with pytest.raises(DiagnosticError) as info:
        verify(m)
    return info.value


def identity(name: str = "id", t=f32) -> func.FuncOp:
    fn = func.FuncOp.create(name, FunctionType((t,), (t,)))
    fn.entry_block.append(func.ReturnOp.build(values=[fn.arguments[0]]))
    return fn


# ----------------------------------------------------------------------------- builders


def test_create_function_with_entry_block():
    ftype = FunctionType((f32, i32), (f32,))
    fn = func.FuncOp.create("f", ftype, arg_attrs=[{"a.b": UnitAttr()}, None],
                            attributes={"foo": StringAttr("x")}, location=LOC)
    assert fn.symbol == "f" and fn.type == ftype and fn.visibility == "public"
    assert [a.type for a in fn.arguments] == [f32, i32]
    assert not fn.is_declaration
    assert fn.attributes["arg_attrs"] == ArrayAttr((DictAttr.of({"a.b": UnitAttr()}),
                                                    DictAttr(())))
    assert "res_attrs" not in fn.attributes  # all empty: omitted, as MLIR does
    assert fn.res_attr_dicts() == [DictAttr(())]
    assert fn.location == LOC and fn.default_dialect == "func"
    for trait in (IsolatedFromAbove, Symbol, FunctionLike):
        assert fn.has_trait(trait)


def test_create_declaration_and_visibility():
    fn = func.FuncOp.create("ext", FunctionType((f32,), ()), visibility="private",
                            declaration=True)
    assert fn.is_declaration and fn.visibility == "private"
    with pytest.raises(ValueError):
        _ = fn.entry_block
    verify(module([fn]))


def test_call_builder_infers_results_from_callee():
    callee = identity()
    caller = func.FuncOp.create("main", FunctionType((f32,), (f32,)))
    b = Builder.at_end(caller.entry_block)
    call = b.insert(func.CallOp.call(callee, caller.arguments))
    assert call.callee_name == "id" and call.result_types == [f32]
    assert call.attributes["callee"] == SymbolRefAttr("id")
    b.create(func.ReturnOp, values=call.results)
    m = module([callee, caller])
    verify(m)
    assert call.resolve_callee() is callee
    with pytest.raises(TypeError):
        func.CallOp.call("id", caller.arguments)  # by name: result types are needed


def test_set_type_changes_signature():
    fn = identity()
    fn.set_type(FunctionType((f32,), (f32, f32)))
    assert fn.type.results == (f32, f32)


# ----------------------------------------------------------------------------- verifier


def test_entry_block_argument_count():
    fn = func.FuncOp.create("f", FunctionType((f32, f32), ()), location=LOC)
    fn.entry_block.erase_argument(1)
    fn.entry_block.append(func.ReturnOp.build())
    err = verify_error(module([fn]))
    assert err.diagnostic.message == ("'func.func' op entry block must have 2 arguments to "
                                      "match function signature")
    assert err.diagnostic.location == LOC


def test_entry_block_argument_type():
    fn = func.FuncOp.create("f", FunctionType((f32,), ()), location=LOC)
    fn.set_type(FunctionType((i32,), ()))
    fn.entry_block.append(func.ReturnOp.build())
    err = verify_error(module([fn]))
    assert err.diagnostic.message == (
        "'func.func' op type of entry block argument #0('f32') must match the type of the "
        "corresponding argument in function signature('i32')")


def test_public_declaration_is_rejected():
    fn = func.FuncOp.create("ext", FunctionType((), ()), declaration=True, location=LOC)
    err = verify_error(module([fn]))
    assert err.diagnostic.message == "'func.func' op symbol declaration cannot have public " \
                                     "visibility"
    assert err.diagnostic.location == LOC


def test_arg_attrs_length_must_match():
    fn = identity()
    fn.location = LOC
    fn.attributes["arg_attrs"] = ArrayAttr((DictAttr(()), DictAttr(())))
    err = verify_error(module([fn]))
    assert err.diagnostic.message == (
        "'func.func' op expects argument attribute array to have the same number of elements "
        "as the number of function arguments, got 2, but expected 1")


def test_missing_function_type_and_bad_visibility():
    fn = identity()
    fn.location = LOC
    fn.attributes["sym_visibility"] = StringAttr("secret")
    err = verify_error(module([fn]))
    assert "attribute 'sym_visibility' failed to satisfy constraint" in err.diagnostic.message
    fn.attributes.pop("sym_visibility")
    fn.attributes.pop("function_type")
    err = verify_error(module([fn.detach()]))
    assert err.diagnostic.message == "'func.func' op requires attribute 'function_type'"


def test_function_needs_symbol_table_parent():
    outer = Operation.create("test.container", regions=1)
    outer.regions[0].add_block(Block())
    fn = identity()
    fn.location = LOC
    outer.regions[0].blocks[0].append(fn)
    err = verify_error(module([outer]))
    assert err.diagnostic.message == ("'func.func' op symbol's parent must have the "
                                      "SymbolTable trait")


def test_return_operand_count_and_types():
    fn = func.FuncOp.create("f", FunctionType((f32,), (f32, f32)))
    fn.entry_block.append(func.ReturnOp.build(values=[fn.arguments[0]], location=LOC))
    err = verify_error(module([fn]))
    assert err.diagnostic.message == ("'func.return' op has 1 operands, but enclosing "
                                      "function (@f) returns 2")
    assert err.diagnostic.location == LOC

    g = func.FuncOp.create("g", FunctionType((f32,), (f64,)))
    g.entry_block.append(func.ReturnOp.build(values=[g.arguments[0]], location=LOC))
    err = verify_error(module([g]))
    assert err.diagnostic.message == (
        "'func.return' op type of return operand 0 ('f32') doesn't match function result "
        "type ('f64') in function @g")


def test_return_outside_function():
    outer = Operation.create("test.container", regions=1)
    outer.regions[0].add_block(Block())
    outer.regions[0].blocks[0].append(func.ReturnOp.build(location=LOC))
    err = verify_error(module([outer]))
    assert err.diagnostic.message == ("'func.return' op expects parent op to be one of "
                                      "'func.func'")


def _caller(args_types, result_types, callee="id", location=LOC):
    caller = func.FuncOp.create("main", FunctionType(tuple(args_types), ()))
    b = Builder.at_end(caller.entry_block)
    b.insert(func.CallOp.call(callee, caller.arguments, result_types, location=location))
    b.create(func.ReturnOp)
    return caller


@pytest.mark.parametrize(("args", "results", "callee", "message"), [
    ((f32,), (f32,), "nope", "'nope' does not reference a valid function"),
    ((f32, f32), (f32,), "id", "incorrect number of operands for callee"),
    ((i32,), (f32,), "id", "operand type mismatch: expected operand type 'f32', but provided "
                           "'i32' for operand number 0"),
    ((f32,), (), "id", "incorrect number of results for callee"),
    ((f32,), (f64,), "id", "result type mismatch at index 0"),
])
def test_call_checks(args, results, callee, message):
    m = module([identity(), _caller(args, results, callee)])
    err = verify_error(m)
    assert err.diagnostic.message == f"'func.call' op {message}"
    assert err.diagnostic.location == LOC


def test_call_result_mismatch_notes():
    m = module([identity(), _caller((f32,), (f64,))])
    notes = [n.message.strip() for n in verify_error(m).diagnostic.notes]
    assert notes == ["op result types: 'f64'", "function result types: 'f32'"]


def test_call_resolves_in_nearest_symbol_table_only():
    inner = ModuleOp.create_empty("inner")
    inner.body.append(_caller((f32,), (f32,)))
    m = module([identity(), inner])  # @id lives in the outer module only
    err = verify_error(m)
    assert err.diagnostic.message == "'func.call' op 'id' does not reference a valid function"


def test_call_to_non_function_symbol():
    other = Operation.create("test.symbol", attributes={"sym_name": StringAttr("id")})
    m = module([other, _caller((f32,), (f32,))])
    assert "does not reference a valid function" in verify_error(m).diagnostic.message


def _calls(n: int):
    callee = identity()
    caller = func.FuncOp.create("main", FunctionType((f32,), (f32,)))
    b = Builder.at_end(caller.entry_block)
    v = caller.arguments[0]
    for _ in range(n):
        v = b.insert(func.CallOp.call(callee, [v])).result
    b.create(func.ReturnOp, values=[v])
    m = module([callee, caller])
    return lambda: verify(m)


def test_verifying_many_calls_is_linear():
    """Callee lookups are cached: verification does not rescan the module per call."""
    assert_roughly_linear(_calls, 2_000)


# --------------------------------------------------------------------------------- text

FUNC_TEXT = """\
module {
  func.func private @decl(f32 {a.b}, i32) -> (f32 {x.y})
  func.func nested @nest() -> ((f32) -> f32)
  func.func private @none()
  func.func @f(%arg0: f32 {a.b = 1 : i64}, %arg1: i32) -> (f32, i32) attributes {foo = "bar"} {
    %0 = call @decl(%arg0, %arg1) : (f32, i32) -> f32
    %1 = call @decl(%0, %arg1) {tag} : (f32, i32) -> f32
    call @none() : () -> ()
    return %1, %arg1 : f32, i32
  }
  func.func @g() {
    return
  }
}"""


def test_custom_form_round_trips():
    m = parse_module(FUNC_TEXT, "func.mlir")
    assert print_op(m) == FUNC_TEXT
    assert set(DIALECTS["func"].ops) <= {op.name for op in m.walk_ops()}
    decl = m.lookup("decl")
    assert decl.is_declaration and decl.visibility == "private"
    assert decl.arg_attr_dicts()[0] == DictAttr.of({"a.b": UnitAttr()})
    assert m.lookup("nest").type.results == (FunctionType((f32,), (f32,)),)


def test_generic_form_round_trips():
    m = parse_module(FUNC_TEXT, "func.mlir")
    generic = print_op(m, generic=True)
    assert '"func.call"(%arg0, %arg1) {callee = @decl} : (f32, i32) -> f32' in generic
    again = parse_module(generic, "generic.mlir")
    assert print_op(again) == FUNC_TEXT
    assert print_op(again, generic=True) == generic


def test_prefixed_and_unprefixed_forms_parse_alike():
    text = ("func.func @h(%a: f32) -> f32 {\n  %0 = func.call @h(%a) : (f32) -> f32\n"
            "  func.return %0 : f32\n}\n")
    m = parse_module(text, "h.mlir")
    body = m.lookup("h").entry_block
    assert [op.name for op in body.ops] == ["func.call", "func.return"]


@pytest.mark.skipif(not MLIR_OPT.exists(), reason="mlir-opt is not installed")
@pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
def test_upstream_mlir_accepts_our_text(generic, tmp_path):
    m = parse_module(FUNC_TEXT, "func.mlir")
    path = tmp_path / "func.mlir"
    path.write_text(print_op(m, generic=generic))
    proc = subprocess.run([str(MLIR_OPT), "--allow-unregistered-dialect", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


_CASTS = {
    "arith.extsi": (i32, i64), "arith.extui": (i32, i64), "arith.trunci": (i32, i8),
    "arith.sitofp": (i32, f32), "arith.uitofp": (i32, f64), "arith.fptosi": (f32, i32),
    "arith.fptoui": (f32, i8), "arith.extf": (f32, f64), "arith.truncf": (f32, f16),
    "arith.index_cast": (i32, index), "arith.index_castui": (i32, index),
    "arith.bitcast": (f32, i32),
}


def every_op_module() -> Operation:
    """A module using every func, arith and math op (built, not parsed)."""
    callee = identity()
    fn = func.FuncOp.create("all", FunctionType((f32, i32, i1), (f32,)))
    b = Builder.at_end(fn.entry_block)
    x, n, c = fn.arguments
    for cls in [*DIALECTS["arith"].ops.values(), *DIALECTS["math"].ops.values()]:
        if issubclass(cls, arith.IntBinaryOp):
            b.create(cls, n, n)
        elif issubclass(cls, arith.FloatBinaryOp | math_d.BinaryFloatOp):
            b.create(cls, x, x)
        elif issubclass(cls, arith.CastOp):
            src, dst = _CASTS[cls.name]
            b.insert(cls.cast(x if src == f32 else n, dst))
        elif cls.name in ("arith.cmpi", "arith.cmpf"):
            v = n if cls.name == "arith.cmpi" else x
            b.create(cls, v, v, predicate=1)
        elif cls.name == "arith.select":
            b.create(cls, c, x, x)
        elif cls.name == "arith.constant":
            b.insert(arith.ConstantOp.of(2.5, f32))
        elif cls.name == "math.fma":
            b.create(cls, x, x, x)
        elif cls.name == "math.absi":
            b.create(cls, n)
        else:  # one-operand float ops
            b.create(cls, x)
    call = b.insert(func.CallOp.call(callee, [x]))
    b.create(func.ReturnOp, values=call.results)
    m = module([callee, fn])
    verify(m)
    return m


@pytest.mark.skipif(not MLIR_OPT.exists(), reason="mlir-opt is not installed")
@pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
def test_every_func_arith_math_op_in_one_module_parses_upstream(generic, tmp_path):
    m = every_op_module()
    used = {op.name for op in m.walk_ops()}
    for d in ("func", "arith", "math"):
        assert set(DIALECTS[d].ops) <= used, d
    text = print_op(m, generic=generic)
    assert print_op(parse_module(text, "all.mlir"), generic=generic) == text
    path = tmp_path / "all.mlir"
    path.write_text(text)
    proc = subprocess.run([str(MLIR_OPT), "--allow-unregistered-dialect", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("text", "message"), [
    ("func.func @f() {\n}\n", "expected non-empty function body"),
    ("func.func @f(%a: f32, i32)\n", "expected SSA identifier"),
    ("func.func private @f(f32, %a: i32)\n", "expected a type"),
    ("func.func @f(%a: f32) {\n  %0 = call @f : (f32) -> ()\n  return\n}\n", "expected"),
])
def test_malformed_functions_are_diagnosed(text, message):
    with pytest.raises(DiagnosticError) as info:
        parse_module(text, "bad.mlir")
    assert message in info.value.diagnostic.message
    assert info.value.diagnostic.location.file_line_col() is not None


def test_argument_error_points_at_the_argument():
    with pytest.raises(DiagnosticError) as info:
        parse_module("func.func @f(%a: f32, i32)\n", "bad.mlir")
    assert info.value.diagnostic.location.file_line_col().col == 23


def test_function_example_parses_and_verifies():
    m = parse_module(func.EXAMPLE, "example.mlir")
    verify(m)
    assert m.lookup("twice").res_attr_dicts()[0].get("avalon.note") == StringAttr("output")


def test_arith_constant_in_function_round_trip_keeps_return_prefix_elided():
    fn = func.FuncOp.create("k", FunctionType((), (i32,)))
    b = Builder.at_end(fn.entry_block)
    c = b.insert(arith.ConstantOp.of(3, i32))
    b.create(func.ReturnOp, values=[c.result])
    text = print_op(module([fn]))
    assert "    return %0 : i32" in text
    assert print_op(parse_module(text, "k.mlir")) == text


def test_detached_function_calls_are_checked_only_inside_a_symbol_table():
    caller = _caller((f32,), (f32,), callee="missing")
    verify(caller)  # no symbol table around it yet: nothing to resolve against
    err = verify_error(module([caller]))
    assert "'missing' does not reference a valid function" in err.diagnostic.message
