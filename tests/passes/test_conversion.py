"""Dialect conversion: legality, patterns with remapped operands, type conversion and the
single error that lists every op that failed to legalize."""

from __future__ import annotations

import pytest

from avalon.ir.attributes import TypeAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation, Value
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects.builtin import module
from avalon.ir.location import FileLineColLoc
from avalon.ir.opdef import AnyAttr, Attr, Op, Operand, Result, SingleRegion, VarOperand
from avalon.ir.patterns import RewritePattern
from avalon.ir.traits import IsolatedFromAbove, Pure
from avalon.ir.types import FunctionType, f32, i32, i64
from avalon.passes.conversion import (
    CAST_OP_NAME,
    ConversionPattern,
    ConversionTarget,
    Legality,
    TypeConverter,
    apply_full_conversion,
    apply_partial_conversion,
    conversion_pattern,
)


class SrcAdd(Op):
    name = "tsrc.add"
    traits = (Pure,)
    lhs = Operand()
    rhs = Operand()
    result = Result()


class SrcMul(Op):
    name = "tsrc.mul"
    traits = (Pure,)
    lhs = Operand()
    rhs = Operand()
    result = Result()


class SrcFunc(Op):
    name = "tsrc.func"
    traits = (IsolatedFromAbove,)
    function_type = Attr(AnyAttr)
    body_region = SingleRegion()


class DstAdd(Op):
    name = "tdst.add"
    traits = (Pure,)
    lhs = Operand()
    rhs = Operand()
    result = Result()


class DstCast(Op):
    name = "tdst.cast"
    traits = (Pure,)
    input = Operand()
    result = Result()


class DstFunc(Op):
    name = "tdst.func"
    traits = (IsolatedFromAbove,)
    function_type = Attr(AnyAttr)
    body_region = SingleRegion()


class Sink(Op):
    name = "tcv.sink"
    values = VarOperand()


class Func(Op):
    name = "tcv.func"
    traits = (IsolatedFromAbove,)
    body_region = SingleRegion()


def make_func(arg_types) -> tuple[Operation, Operation, Builder, list[Value]]:
    fn = Func.build()
    block = Block(arg_types)
    fn.regions[0].add_block(block)
    return module([fn]), fn, Builder.at_end(block), list(block.args)


def names(root: Operation) -> list[str]:
    return [op.name for op in root.walk_ops() if op is not root]


def target() -> ConversionTarget:
    t = ConversionTarget().add_legal_dialect("tdst", "tcv", "builtin")
    return t.add_illegal_dialect("tsrc")


class AddToDst(ConversionPattern):
    root = "tsrc.add"

    def match_and_rewrite(self, op, operands, rewriter):
        t = operands[0].type
        rewriter.replace_op(op, rewriter.create(DstAdd, *operands, result_types=[t]))
        return True


def widening_converter(with_casts: bool = True) -> TypeConverter:
    tc = TypeConverter()
    tc.add_conversion(lambda t: t)
    tc.add_conversion(lambda t: i64 if t == i32 else None)
    if with_casts:
        def cast(builder, t, inputs, loc):
            return builder.create(DstCast, inputs[0], result_types=[t], location=loc).result
        tc.add_source_materialization(cast)
        tc.add_target_materialization(cast)
    return tc


# ---------------------------------------------------------------------------------- target
def test_target_rules_and_precedence():
    t = ConversionTarget()
    t.add_illegal_dialect("tdst").add_legal_op(DstAdd)
    t.add_dynamically_legal_op("tsrc.add", lambda op: op.result.type == i64)
    _m, _fn, b, (x,) = make_func([i32])
    add = b.create(DstAdd, x, x, result_types=[i32])
    cast = b.create(DstCast, x, result_types=[i32])
    src = b.create(SrcAdd, x, x, result_types=[i32])
    sink = b.create(Sink, values=[])
    assert t.legality(add) is Legality.LEGAL
    assert t.legality(cast) is Legality.ILLEGAL
    assert t.legality(src) is Legality.ILLEGAL
    assert t.legality(sink) is Legality.UNKNOWN
    assert t.is_legal(sink) is None
    t.mark_unknown_ops_legal()
    assert t.is_legal(sink) is True
    t.mark_unknown_ops_illegal()
    assert t.is_legal(sink) is False
    t.mark_unknown_ops_dynamically_legal(lambda op: not op.operands)
    assert t.is_legal(sink) is True


def test_type_converter_tries_latest_first():
    tc = TypeConverter()
    tc.add_conversion(lambda t: t)
    tc.add_conversion(lambda t: i64 if t == i32 else None)
    assert tc.convert_type(i32) == i64
    assert tc.convert_type(f32) == f32
    assert tc.is_legal(f32) and not tc.is_legal(i32)
    sig = tc.convert_signature(FunctionType((i32, f32), (i32,)))
    assert sig == FunctionType((i64, f32), (i64,))
    assert not tc.is_signature_legal(FunctionType((i32,), ()))
    strict = TypeConverter().add_conversion(lambda t: t if t == f32 else None)
    assert strict.convert_type(i32) is None
    assert strict.convert_types([f32, i32]) is None
    assert strict.convert_signature(FunctionType((i32,), ())) is None


# ------------------------------------------------------------------------------ conversion
def test_partial_conversion_rewrites_illegal_ops():
    m, fn, b, (x, y) = make_func([i32, i32])
    s = b.create(SrcAdd, x, y, result_types=[i32])
    b.create(Sink, values=[s.result])
    assert apply_partial_conversion(m, target(), [AddToDst()]) is True
    assert names(fn) == ["tdst.add", "tcv.sink"]
    add = fn.body.first_op
    assert add.operands == (x, y)
    assert fn.body.last_op.operands[0] is add.result


def test_failures_are_listed_in_one_diagnostic():
    m, _fn, b, (x,) = make_func([i32])
    locs = [FileLineColLoc("conv.mlir", line, 3) for line in (4, 5, 6)]
    v = x
    for loc in locs:
        v = b.create(SrcMul, v, x, result_types=[i32], location=loc).result
    b.create(Sink, values=[v])
    with pytest.raises(DiagnosticError) as info:
        apply_partial_conversion(m, target(), [AddToDst()])
    diag = info.value.diagnostic
    assert diag.message == "failed to legalize 3 operations"
    assert diag.location == locs[0]
    assert [n.message for n in diag.notes] == ["failed to legalize operation 'tsrc.mul'"] * 3
    assert [n.location for n in diag.notes] == locs
    text = str(info.value)
    assert "conv.mlir:5:3: note: failed to legalize operation 'tsrc.mul'" in text


def test_full_conversion_also_requires_known_legality():
    m, _fn, b, (x,) = make_func([i32])
    b.create(Sink, values=[x])
    other = Operation.create("tother.op", [x], [], location=FileLineColLoc("u.mlir", 2, 1))
    b.insert(other)
    apply_partial_conversion(m, target(), [])  # unknown ops are fine in a partial conversion
    with pytest.raises(DiagnosticError) as info:
        apply_full_conversion(m, target(), [])
    assert info.value.diagnostic.message == "failed to legalize 1 operation"
    assert "failed to legalize operation 'tother.op'" in str(info.value)
    assert apply_full_conversion(m, target().mark_unknown_ops_legal(), []) is False


def test_partial_conversion_still_converts_unknown_ops_when_a_pattern_applies():
    @conversion_pattern("tother.op")
    def erase_other(op, operands, rewriter):
        rewriter.erase_op(op)
        return True

    m, fn, b, (x,) = make_func([i32])
    b.insert(Operation.create("tother.op", [x], []))
    assert apply_partial_conversion(m, target(), [erase_other])
    assert names(fn) == []


def test_type_conversion_inserts_materialisations_at_the_boundaries():
    m, fn, b, (x, y) = make_func([i32, i32])
    s1 = b.create(SrcAdd, x, y, result_types=[i32])
    s2 = b.create(SrcAdd, s1.result, y, result_types=[i32])
    b.create(Sink, values=[s2.result])
    apply_partial_conversion(m, target(), [AddToDst()], widening_converter())
    ops = list(fn.body.ops)
    assert [op.name for op in ops] == [
        "tdst.cast", "tdst.cast", "tdst.add", "tdst.cast", "tdst.add", "tdst.cast", "tcv.sink"]
    add1, add2 = ops[2], ops[4]
    assert add1.result.type == i64 and add2.result.type == i64
    assert add2.operands[0] is add1.result  # no cast between two converted ops
    final = ops[5]
    assert final.operands[0] is add2.result and final.result.type == i32
    assert ops[6].operands[0] is final.result
    assert CAST_OP_NAME not in names(m)


def test_missing_materialisation_is_reported():
    m, _fn, b, (x, y) = make_func([i32, i32])
    s = b.create(SrcAdd, x, y, result_types=[i32])
    b.create(Sink, values=[s.result], location=FileLineColLoc("m.mlir", 7, 5))
    with pytest.raises(DiagnosticError) as info:
        apply_partial_conversion(m, target(), [AddToDst()], widening_converter(False))
    diag = info.value.diagnostic
    assert diag.message.startswith("failed to materialize")
    assert any("used by 'tcv.sink'" in n.message and n.location == FileLineColLoc(
        "m.mlir", 7, 5) for n in diag.notes)


class FuncToDst(ConversionPattern):
    root = "tsrc.func"

    def match_and_rewrite(self, op, operands, rewriter):
        tc = rewriter.type_converter
        sig = tc.convert_signature(op.attributes["function_type"].value)
        if sig is None:
            return False
        new = rewriter.create(DstFunc, function_type=TypeAttr(sig))
        rewriter.inline_region_before(op.regions[0], new.regions[0], 0)
        assert rewriter.convert_region_types(new.regions[0])
        rewriter.erase_op(op)
        return True


def test_signature_conversion_of_function_bodies():
    fn = SrcFunc.build(function_type=TypeAttr(FunctionType((i32, i32), ())))
    block = Block([i32, i32])
    fn.regions[0].add_block(block)
    m = module([fn])
    b = Builder.at_end(block)
    s = b.create(SrcAdd, *block.args, result_types=[i32])
    b.create(Sink, values=[s.result])
    tc = widening_converter()
    t = target().add_dynamically_legal_op(
        "tcv.sink", lambda op: all(tc.is_legal(v.type) for v in op.operands))

    @conversion_pattern("tcv.sink")
    def sink_pattern(op, operands, rewriter):
        rewriter.replace_op(op, rewriter.create(Sink, values=operands))
        return True

    apply_full_conversion(m, t, [FuncToDst(), AddToDst(), sink_pattern], tc)
    (new_fn,) = list(m.body.ops)
    assert new_fn.name == "tdst.func"
    assert new_fn.attributes["function_type"].value == FunctionType((i64, i64), ())
    body = new_fn.regions[0].blocks[0]
    assert body.arg_types == [i64, i64]
    assert [op.name for op in body.ops] == ["tdst.add", "tcv.sink"]
    assert body.first_op.operands == tuple(body.args)


def test_patterns_that_never_legalize_stop_and_report():
    class Swap(ConversionPattern):
        root = "tsrc.add"

        def match_and_rewrite(self, op, operands, rewriter):
            rewriter.replace_op(op, rewriter.create(SrcMul, *operands,
                                                    result_types=op.result_types))
            return True

    class SwapBack(ConversionPattern):
        root = "tsrc.mul"

        def match_and_rewrite(self, op, operands, rewriter):
            rewriter.replace_op(op, rewriter.create(SrcAdd, *operands,
                                                    result_types=op.result_types))
            return True

    m, _fn, b, (x,) = make_func([i32])
    s = b.create(SrcAdd, x, x, result_types=[i32])
    b.create(Sink, values=[s.result])
    with pytest.raises(DiagnosticError) as info:
        apply_partial_conversion(m, target(), [Swap(), SwapBack()], max_iterations=4)
    text = str(info.value)
    assert "failed to legalize 1 operation" in text
    assert "still applying after 4 rounds" in text


def test_plain_rewrite_patterns_and_benefits():
    class Plain(RewritePattern):
        root = "tsrc.add"
        benefit = 2

        def match_and_rewrite(self, op, rewriter):
            rewriter.replace_op(op, rewriter.create(
                DstCast, op.operands[0], result_types=op.result_types))
            return True

    m, fn, b, (x,) = make_func([i32])
    s = b.create(SrcAdd, x, x, result_types=[i32])
    b.create(Sink, values=[s.result])
    apply_partial_conversion(m, target(), [AddToDst(), Plain()])
    assert names(fn) == ["tdst.cast", "tcv.sink"]


def test_failed_pattern_leaves_no_casts_behind():
    class Declines(ConversionPattern):
        root = "tsrc.mul"

        def match_and_rewrite(self, op, operands, rewriter):
            assert all(v.type == i64 for v in operands)
            return False

    m, fn, b, (x,) = make_func([i32])
    b.create(Sink, values=[b.create(SrcMul, x, x, result_types=[i32]).result])
    with pytest.raises(DiagnosticError):
        apply_partial_conversion(m, target(), [Declines()], widening_converter())
    assert names(fn) == ["tsrc.mul", "tcv.sink"]


def test_pattern_specific_type_converter():
    narrowing = TypeConverter().add_conversion(lambda t: t).add_conversion(
        lambda t: i32 if t == i64 else None)
    seen: list[list] = []

    class Narrow(ConversionPattern):
        root = "tsrc.add"

        def match_and_rewrite(self, op, operands, rewriter):
            seen.append([v.type for v in operands])
            rewriter.replace_op(op, rewriter.create(DstAdd, *operands, result_types=[i32]))
            return True

    m, fn, b, (x,) = make_func([i64])
    s = b.create(SrcAdd, x, x, result_types=[i64])
    b.create(Sink, values=[s.result])

    def cast(builder, t, inputs, loc):
        return builder.create(DstCast, inputs[0], result_types=[t]).result

    narrowing.add_target_materialization(cast).add_source_materialization(cast)
    apply_partial_conversion(m, target(), [Narrow(narrowing)], widening_converter())
    assert seen == [[i32, i32]]
    assert names(fn) == ["tdst.cast", "tdst.cast", "tdst.add", "tdst.cast", "tcv.sink"]
