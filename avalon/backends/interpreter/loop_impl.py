"""Reference semantics of the ``loop`` dialect, executing regions through ``ctx.run_region``.

Loops are inherently one Python call per iteration; everything that does not change between
iterations (the region, the bound method, the combiner regions) is looked up once, when the
executor plans the block. ``loop.parallel`` runs its iterations sequentially in row-major order
of the induction variables (the last one varies fastest) and folds each reduction starting
from its init. Terminators (``loop.yield``, ``loop.reduce``, ``loop.reduce.return``) need no
semantics: the executor hands their operands to the op that ran the region.
"""

from __future__ import annotations

import itertools

import numpy as np

from avalon.backends.interpreter.executor import Kernel, specialized_impl
from avalon.backends.interpreter.registry import ExecContext, interp_error
from avalon.ir.core import Operation


def _iterations(op: Operation, lb: object, ub: object, step: object) -> range:
    step = int(step)
    if step <= 0:
        raise interp_error(op, f"requires a positive step, got {step}")
    return range(int(lb), int(ub), step)


@specialized_impl("loop.for")
def _for(ctx: ExecContext, op: Operation) -> Kernel:
    """Runs the body for each induction value in order, threading the carried values."""
    region = op.regions[0]
    run = ctx.run_region
    int64 = np.int64

    def kernel(args: list) -> list:
        values = args[3:]
        for i in _iterations(op, args[0], args[1], args[2]):
            values = run(region, [int64(i), *values])
        return list(values)
    return kernel


@specialized_impl("loop.parallel")
def _parallel(ctx: ExecContext, op: Operation) -> Kernel:
    """Runs the body for each point in row-major order; each reduction starts from its init
    and absorbs every iteration's partial value through its combiner region."""
    n = int(op.attributes["operandSegmentSizes"].values[0])
    region = op.regions[0]
    combiners = list(enumerate(region.blocks[0].last_op.regions))
    run = ctx.run_region
    int64 = np.int64

    def kernel(args: list) -> list:
        ranges = [_iterations(op, args[k], args[n + k], args[2 * n + k]) for k in range(n)]
        accs = list(args[3 * n:])
        for point in itertools.product(*ranges):
            partial = run(region, [int64(i) for i in point])
            for k, combiner in combiners:
                accs[k] = run(combiner, [accs[k], partial[k]])[0]
        return accs
    return kernel


@specialized_impl("loop.if")
def _if(ctx: ExecContext, op: Operation) -> Kernel:
    """Runs the ``then`` or the ``else`` region; an absent ``else`` yields nothing."""
    then_region, else_region = op.regions
    has_else = bool(else_region.blocks)
    run = ctx.run_region

    def kernel(args: list) -> list:
        if args[0]:
            return run(then_region, [])
        return run(else_region, []) if has_else else []
    return kernel
