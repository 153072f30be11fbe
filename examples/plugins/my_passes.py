"""A worked example of user passes for ``avalon-opt --load-pass-plugin``.

Two passes live here:

* ``mul-by-two`` rewrites ``x * 2.0`` into ``x + x`` with a :class:`RewritePattern` applied by
  the greedy driver (the pattern keeps matching until nothing changes);
* ``count-ops`` is an analysis: it leaves the IR alone and reports, as a remark on each
  function, how many ops of one dialect the function holds.

Try it::

    avalon-opt --load-pass-plugin=examples/plugins/my_passes.py \\
        --pass-pipeline='builtin.module(func.func(mul-by-two))' examples/mlp.mlir
"""

from __future__ import annotations

from avalon.ir.attributes import DenseElementsAttr, FloatAttr
from avalon.ir.core import Operation, OpResult, Value
from avalon.ir.dialects import arith
from avalon.ir.patterns import PatternRewriter, RewritePattern
from avalon.passes import Option, Pass, register_pass
from avalon.passes.rewrite import apply_patterns_greedily


def is_float_constant(value: Value, expected: float) -> bool:
    """Whether ``value`` comes from an ``arith.constant`` equal to ``expected`` (or a splat)."""
    if not isinstance(value, OpResult) or not isinstance(value.op, arith.ConstantOp):
        return False
    attr = value.op.attributes["value"]
    if isinstance(attr, FloatAttr):
        return attr.value == expected
    if isinstance(attr, DenseElementsAttr) and attr.is_splat:
        return attr.splat_value() == expected
    return False


class MulByTwoToAdd(RewritePattern):
    """``x * 2.0`` (either operand order) becomes ``x + x``."""

    root = "arith.mulf"

    def __init__(self) -> None:
        self.rewrites = 0

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        lhs, rhs = op.operands
        if is_float_constant(rhs, 2.0):
            x = lhs
        elif is_float_constant(lhs, 2.0):
            x = rhs
        else:
            return rewriter.notify_match_failure(op, "no multiplication by 2.0")
        rewriter.at_op(op)
        add = rewriter.create(arith.AddFOp, x, x)
        rewriter.replace_op(op, add)
        self.rewrites += 1
        return True


@register_pass
class MulByTwoPass(Pass):
    """Rewrite multiplications by 2.0 into additions."""

    name = "mul-by-two"
    op_name = "func.func"

    def run(self, op: Operation) -> None:
        pattern = MulByTwoToAdd()
        # Only the pattern: no folding or dead-code removal, so its effect is easy to see.
        apply_patterns_greedily(op, [pattern], fold=False, erase_dead=False)
        self.count("rewrites", "multiplications replaced").add(pattern.rewrites)


@register_pass
class CountOpsPass(Pass):
    """Report how many ops of a dialect each function contains."""

    name = "count-ops"
    op_name = "func.func"
    dialect = Option(str, "arith", "the dialect whose ops are counted")

    def run(self, op: Operation) -> None:
        n = sum(1 for nested in op.walk_ops() if nested.dialect_name == self.dialect)
        self.count("ops", f"{self.dialect} ops seen").add(n)
        op.emit_remark(f"{n} {self.dialect} ops")
