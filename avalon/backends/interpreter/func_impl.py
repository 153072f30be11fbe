"""Semantics of the ``func`` dialect.

``func.call`` runs the callee through the executor (which owns the symbol table, the call
depth guard and a fresh value environment per call). ``func.return`` needs no semantics: it is
a terminator without successors, so the executor returns its operands as the function's results.
``func.func`` is never executed as an op; calls look it up by name.
"""

from __future__ import annotations

from avalon.backends.interpreter.executor import Interpreter, Kernel, specialized_impl
from avalon.backends.interpreter.registry import ExecContext, interp_error
from avalon.ir.attributes import SymbolRefAttr
from avalon.ir.core import Operation


@specialized_impl("func.call")
def _call(ctx: ExecContext, op: Operation) -> Kernel:
    """Call the ``callee`` symbol with the operands; its results are the op's results."""
    callee = op.attributes.get("callee")
    if not isinstance(callee, SymbolRefAttr) or callee.nested:
        raise interp_error(op, f"needs a flat symbol reference 'callee', got {callee}")
    name = callee.root
    n_results = len(op.results)
    located = isinstance(ctx, Interpreter)

    def call(args: list) -> list:
        results = ctx.call(name, args, caller=op) if located else ctx.call(name, args)
        if len(results) != n_results:
            raise interp_error(op, f"expects {n_results} results, but '@{name}' returned "
                                   f"{len(results)}")
        return results

    return call
