"""Passes that misbehave on purpose, for the avalon-opt failure-path cases in tests/opt."""

from __future__ import annotations

from avalon.ir.core import Operation
from avalon.passes import Pass, register_pass, register_pipeline


@register_pass
class CrashPass(Pass):
    """Raise an unexpected Python exception (a bug in a pass)."""

    name = "test-crash"

    def run(self, op: Operation) -> None:
        raise KeyError("no such attribute")


@register_pass
class BreakIRPass(Pass):
    """Move each function's first op to the end of its block: uses before definitions."""

    name = "test-break-ir"
    op_name = "func.func"

    def run(self, op: Operation) -> None:
        block = op.regions[0].blocks[0]
        first = block.first_op
        if first is not None and first is not block.last_op:
            first.move_before(block.last_op)


@register_pass
class FailPass(Pass):
    """Report a located failure on every function."""

    name = "test-fail"
    op_name = "func.func"

    def run(self, op: Operation) -> None:
        raise self.fail("this function is not supported", op)


register_pipeline("test-cleanup", "canonicalize,cse", "canonicalize then cse")
