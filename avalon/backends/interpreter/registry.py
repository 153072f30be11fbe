"""Registry of per-op interpreter semantics.

Each dialect module of the interpreter registers one function per op name::

    @impl("arith.addf")
    def _addf(ctx: ExecContext, op: Operation, args: list) -> list:
        return [args[0] + args[1]]

``args`` are the runtime values of the operands, in order; the function returns the list of
result values (one per op result). Runtime values are: numpy arrays for tensors and vectors
(0-d arrays for rank-0 tensors), numpy scalars of the exact dtype for scalars (``np.float32``
for f32, ``np.int64`` for index and i64, ``np.bool_`` for i1), and
:class:`~avalon.backends.interpreter.memory.MemRefValue` for memrefs.

Ops with regions call back into the executor through the :class:`ExecContext` protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from avalon.ir.core import Operation, Region
from avalon.ir.diagnostics import Diagnostic, DiagnosticError, Severity


class InterpreterError(DiagnosticError):
    """A runtime failure inside interpreted IR, located at the failing op."""


def interp_error(op: Operation, message: str) -> InterpreterError:
    """``raise interp_error(op, "...")``: a located runtime error naming the op."""
    return InterpreterError(Diagnostic(Severity.ERROR, f"'{op.name}' op {message}", op.location))


class ExecContext(Protocol):
    """What op implementations may ask of the executor."""

    def run_region(self, region: Region, args: Sequence[Any]) -> list[Any]:
        """Execute ``region`` with entry-block ``args``; returns the operand values of the
        terminator that ends execution (e.g. ``loop.yield``)."""
        ...

    def call(self, callee: str, args: Sequence[Any]) -> list[Any]:
        """Call the function symbol ``callee`` of the current module."""
        ...


OpImpl = Callable[[ExecContext, Operation, list], list]

IMPLS: dict[str, OpImpl] = {}


def impl(*names: str) -> Callable[[OpImpl], OpImpl]:
    """Register ``fn`` as the semantics of the named ops."""

    def wrap(fn: OpImpl) -> OpImpl:
        for n in names:
            IMPLS[n] = fn
        return fn

    return wrap


def lookup(name: str) -> OpImpl | None:
    return IMPLS.get(name)
