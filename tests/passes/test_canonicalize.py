"""The canonicalize pass: folders, registered canonicalization patterns, options, statistics."""

from __future__ import annotations

import pytest

import avalon.ir.dialects  # noqa: F401  (registers arith/func for the text tests)
from avalon.ir.attributes import IntegerAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation, Value
from avalon.ir.dialects.builtin import module
from avalon.ir.location import FileLineColLoc
from avalon.ir.opdef import Op, Operand, Result, SingleRegion, VarOperand
from avalon.ir.parser import parse_module
from avalon.ir.patterns import RewritePattern
from avalon.ir.printer import print_op
from avalon.ir.traits import IsolatedFromAbove, Pure
from avalon.ir.types import i32
from avalon.passes import PassManager
from avalon.passes.canonicalize import Canonicalize, canonicalization_patterns
from avalon.passes.manager import PassPipelineError
from avalon.passes.pass_base import PassFailure


class DropDoubleNot(RewritePattern):
    root = "tcan.not"

    def match_and_rewrite(self, op, rewriter):
        inner = getattr(op.operands[0], "op", None)
        if inner is None or inner.name != "tcan.not":
            return False
        rewriter.replace_op(op, [inner.operands[0]])
        return True


class Not(Op):
    name = "tcan.not"
    traits = (Pure,)
    operand = Operand()
    result = Result()

    @classmethod
    def get_canonicalization_patterns(cls):
        return [DropDoubleNot()]


class ToUp(RewritePattern):
    root = "tcan.down"

    def match_and_rewrite(self, op, rewriter):
        rewriter.replace_op(op, rewriter.create(Up, op.operands[0], result_types=[i32]))
        return True


class ToDown(RewritePattern):
    root = "tcan.up"

    def match_and_rewrite(self, op, rewriter):
        rewriter.replace_op(op, rewriter.create(Down, op.operands[0], result_types=[i32]))
        return True


class Up(Op):
    """Canonicalizes to ``tcan.down``, which canonicalizes back: never converges."""

    name = "tcan.up"
    traits = (Pure,)
    operand = Operand()
    result = Result()

    @classmethod
    def get_canonicalization_patterns(cls):
        return [ToDown]


class Down(Op):
    name = "tcan.down"
    traits = (Pure,)
    operand = Operand()
    result = Result()

    @classmethod
    def get_canonicalization_patterns(cls):
        return [ToUp()]


class Sink(Op):
    name = "tcan.sink"
    values = VarOperand()


class Func(Op):
    name = "tcan.func"
    traits = (IsolatedFromAbove,)
    body_region = SingleRegion()


def make_func() -> tuple[Operation, Operation, Builder, Value]:
    fn = Func.build(location=FileLineColLoc("canon.mlir", 2, 1))
    block = fn.regions[0].add_block(Block([i32]))
    m = module([fn])
    m.location = FileLineColLoc("canon.mlir", 1, 1)
    return m, fn, Builder.at_end(block), block.args[0]


def names(root: Operation) -> list[str]:
    return [op.name for op in root.walk_ops() if op is not root]


def test_registered_patterns_are_collected_once():
    patterns = canonicalization_patterns()
    kinds = [(type(p).__name__, p.root_name) for p in patterns]
    assert kinds.count(("DropDoubleNot", "tcan.not")) == 1
    assert ("ToDown", "tcan.up") in kinds  # pattern classes are instantiated
    # One pattern class used by several ops counts once per op it is rooted at.
    assert ("ConstantToRight", "arith.addi") in kinds
    assert ("ConstantToRight", "arith.muli") in kinds
    only = canonicalization_patterns(enable=["DropDoubleNot"])
    assert [type(p).__name__ for p in only] == ["DropDoubleNot"]
    without = canonicalization_patterns(disable=["DropDoubleNot"])
    assert "DropDoubleNot" not in {type(p).__name__ for p in without}


def test_canonicalize_applies_op_patterns_and_counts():
    m, fn, b, x = make_func()
    v = x
    for _ in range(4):
        v = b.create(Not, v, result_types=[i32]).result
    b.create(Not, x, result_types=[i32])  # dead
    b.create(Sink, values=[v])
    p = Canonicalize()
    p.run(m)
    assert names(fn) == ["tcan.sink"]
    assert fn.body.last_op.operands[0] is x
    stats = {k: s.value for k, s in p.statistics.items()}
    assert stats["num-rewrites"] == 2
    assert stats["num-erased"] == 3  # the dead not, and the inner nots each rewrite orphaned
    assert stats["num-folded"] == 0


def test_disable_patterns_option():
    m, fn, b, x = make_func()
    v = b.create(Not, b.create(Not, x, result_types=[i32]).result, result_types=[i32])
    b.create(Sink, values=[v.result])
    Canonicalize(disable_patterns=["DropDoubleNot"]).run(m)
    assert names(fn) == ["tcan.not", "tcan.not", "tcan.sink"]


def test_non_convergence_fails_the_pass_with_a_location():
    m, _fn, b, x = make_func()
    up = b.create(Up, x, result_types=[i32])
    b.create(Sink, values=[up.result])
    p = Canonicalize(max_iterations=2)
    with pytest.raises(PassFailure) as info:
        p.run(m)
    assert info.value.diagnostic.message == (
        "greedy pattern application did not converge after 2 iterations")
    assert info.value.diagnostic.location == FileLineColLoc("canon.mlir", 1, 1)
    assert p.statistics["num-rewrites"].value > 0


def test_non_convergence_through_the_pass_manager():
    m, _fn, b, x = make_func()
    b.create(Sink, values=[b.create(Down, x, result_types=[i32]).result])
    pm = PassManager.parse("builtin.module(canonicalize{max-iterations=3})")
    with pytest.raises(PassPipelineError) as info:
        pm.run(m)
    text = str(info.value)
    assert "did not converge after 3 iterations" in text
    assert "pass 'canonicalize' failed" in text


def test_options_round_trip_through_pipeline_text():
    p = Canonicalize(max_iterations=3, top_down=False)
    assert p.pipeline_text() == "canonicalize{max-iterations=3 top-down=false}"
    p.set_option_text("max-num-rewrites", "7")
    assert p.max_num_rewrites == 7


def test_max_num_rewrites_limits_work():
    m, fn, b, x = make_func()
    b.create(Sink, values=[b.create(Up, x, result_types=[i32]).result])
    p = Canonicalize(max_num_rewrites=3)
    p.run(m)
    assert p.statistics["num-rewrites"].value == 3
    assert names(fn) == ["tcan.down", "tcan.sink"]


ARITH = """
func.func @f(%a: i32) -> i32 {
  %c2 = arith.constant 2 : i32
  %c3 = arith.constant 3 : i32
  %five = arith.addi %c2, %c3 : i32
  %x = arith.addi %five, %a : i32
  %c2_again = arith.constant 2 : i32
  %y = arith.muli %x, %c2_again : i32
  %zero = arith.constant 0 : i32
  %z = arith.addi %y, %zero : i32
  return %z : i32
}
"""


@pytest.mark.parametrize("top_down", [True, False])
def test_canonicalize_text_ir(top_down):
    m = parse_module(ARITH)
    p = Canonicalize(top_down=top_down)
    p.run(m)
    lines = [line.strip() for line in print_op(m).splitlines()]
    body = lines[2:-3]
    assert sorted(body[:2]) == ["%0 = arith.constant 5 : i32", "%1 = arith.constant 2 : i32"]
    assert body[2:] == [
        "%2 = arith.addi %arg0, %0 : i32",  # the constant moved to the right
        "%3 = arith.muli %2, %1 : i32",
    ]
    assert lines[-3].startswith("return") and lines[-3].endswith("%3 : i32")
    assert p.statistics["num-folded"].value >= 2  # 2 + 3 and y + 0


def test_canonicalize_is_idempotent_on_text_ir():
    m = parse_module(ARITH)
    Canonicalize().run(m)
    first = print_op(m)
    p = Canonicalize()
    p.run(m)
    assert print_op(m) == first
    assert all(s.value == 0 for s in p.statistics.values())


def test_integer_constant_dedupe_keeps_one_per_value_and_type():
    m = parse_module("""
func.func @g(%a: i32, %b: i64) -> (i32, i64) {
  %c1 = arith.constant 1 : i32
  %x = arith.addi %a, %c1 : i32
  %c1_64 = arith.constant 1 : i64
  %y = arith.addi %b, %c1_64 : i64
  %c1_b = arith.constant 1 : i32
  %z = arith.addi %x, %c1_b : i32
  return %z, %y : i32, i64
}
""")
    Canonicalize().run(m)
    text = print_op(m)
    assert text.count("arith.constant 1 : i32") == 0  # (a + 1) + 1 reassociates to a + 2
    assert text.count("arith.constant 2 : i32") == 1
    assert text.count("arith.constant 1 : i64") == 1


def test_builder_ir_with_integer_folding_uses_arith_constants():
    m, fn, b, _x = make_func()
    from avalon.ir.dialects import arith

    c = b.create(arith.ConstantOp, value=IntegerAttr(4, i32)).result
    d = b.create(arith.ConstantOp, value=IntegerAttr(5, i32)).result
    s = b.create(arith.AddIOp, c, d).result
    b.create(Sink, values=[s])
    Canonicalize().run(m)
    assert names(fn) == ["arith.constant", "tcan.sink"]
    assert fn.body.first_op.attributes["value"] == IntegerAttr(9, i32)
