"""Reference semantics of the ``vector`` dialect on 1-d numpy arrays.

Vector loads and stores check that all their elements lie inside the memref view (and that
its allocation is alive) before touching memory; a partially out-of-bounds access raises a
located error naming the op. Float arithmetic follows IEEE rules silently (the executor runs
with numpy's floating-point warnings off), as compiled code does. Types and attributes are
decoded once per op, when the executor plans its block.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from avalon.backends.interpreter.arith_impl import _maximumf, _minimumf
from avalon.backends.interpreter.executor import Kernel, specialized_impl
from avalon.backends.interpreter.memory import MemRefValue
from avalon.backends.interpreter.registry import ExecContext, interp_error
from avalon.ir.core import Operation
from avalon.ir.types import to_numpy_dtype


def _span(op: Operation, m: MemRefValue, indices: Sequence, n: int) -> slice | np.ndarray:
    """Where in the allocation's storage ``m[i0, ..., in + k]``, ``k < n``, live, after
    checking that every one of those elements is in bounds."""
    m.check_alive(op)
    shape = m.shape
    idx = [int(i) for i in indices]
    if len(idx) != len(shape) or not shape:
        raise interp_error(op, f"expects {len(shape)} indices, got {len(idx)}")
    last = len(shape) - 1
    flat = m.offset
    for d, (i, dim, s) in enumerate(zip(idx, shape, m.strides)):
        if i < 0 or (i + n > dim if d == last else i >= dim):
            raise interp_error(
                op, f"vector of {n} elements at indices {idx} is out of bounds for a memref "
                    f"of shape {list(shape)}")
        flat += i * s
    step = m.strides[-1]
    if step <= 0:
        return flat + step * np.arange(n)
    return slice(flat, flat + (n - 1) * step + 1, step)


@specialized_impl("vector.load")
def _load(ctx: ExecContext, op: Operation) -> Kernel:
    """A copy of the ``n`` consecutive innermost-dimension elements."""
    n = op.results[0].type.shape[0]

    def kernel(args: list) -> list:
        m = args[0]
        return [m.alloc.data[_span(op, m, args[1:], n)].copy()]
    return kernel


@specialized_impl("vector.store")
def _store(ctx: ExecContext, op: Operation) -> Kernel:
    """Writes the vector over the ``n`` consecutive innermost-dimension elements."""
    n = op.operands[0].type.shape[0]

    def kernel(args: list) -> list:
        m = args[1]
        m.alloc.data[_span(op, m, args[2:], n)] = args[0]
        return []
    return kernel


@specialized_impl("vector.broadcast")
def _broadcast(ctx: ExecContext, op: Operation) -> Kernel:
    """``n`` copies of the scalar."""
    t = op.results[0].type
    n, dtype = t.shape[0], to_numpy_dtype(t.element_type)
    full = np.full
    return lambda args: [full(n, args[0], dtype=dtype)]


@specialized_impl("vector.insert")
def _insert(ctx: ExecContext, op: Operation) -> Kernel:
    """A copy of the vector with one element replaced."""
    pos = op.attributes["static_position"].values[0]

    def kernel(args: list) -> list:
        out = args[1].copy()
        out[pos] = args[0]
        return [out]
    return kernel


@specialized_impl("vector.extract")
def _extract(ctx: ExecContext, op: Operation) -> Kernel:
    """One element, as a numpy scalar of the element type."""
    pos = op.attributes["static_position"].values[0]
    return lambda args: [args[0][pos]]


@specialized_impl("vector.fma")
def _fma(ctx: ExecContext, op: Operation) -> Kernel:
    """``a * b + c`` with the product rounded to the element type (unfused)."""
    return lambda args: [args[0] * args[1] + args[2]]


# i1 is a 1-bit two's-complement integer: add is xor, mul is and, and as a signed value
# true (-1) < false (0), so max is and, min is or.
_BOOL_KINDS = {"add": np.logical_xor, "mul": np.logical_and, "max": np.logical_and,
               "min": np.logical_or, "and": np.logical_and, "or": np.logical_or,
               "xor": np.logical_xor}
_SEQUENTIAL = {"add": np.add, "mul": np.multiply}
_UNORDERED = {"max": np.maximum, "min": np.minimum, "and": np.bitwise_and,
              "or": np.bitwise_or, "xor": np.bitwise_xor}


@specialized_impl("vector.reduction")
def _reduction(ctx: ExecContext, op: Operation) -> Kernel:
    """Folds the elements (after the accumulator, when given) with the kind's operation;
    ``add``/``mul`` go strictly left to right so float results are reproducible."""
    kind = op.attributes["kind"].value
    dtype = to_numpy_dtype(op.results[0].type)
    # ``dtype=`` stops numpy from widening small integers (its sum convention).
    if dtype == np.bool_:
        reduce = _BOOL_KINDS[kind].reduce

        def fold(v: np.ndarray) -> np.generic:
            return reduce(v)
    elif kind in ("max", "min") and dtype.kind == "f":
        # arith.maximumf/minimumf semantics: NaN propagates and -0.0 orders below +0.0
        # (numpy's maximum.reduce does not order signed zeros).
        combine = _maximumf if kind == "max" else _minimumf

        def fold(v: np.ndarray) -> np.generic:
            return functools.reduce(combine, v)
    elif kind in _SEQUENTIAL:
        accumulate = _SEQUENTIAL[kind].accumulate

        def fold(v: np.ndarray) -> np.generic:
            return accumulate(v, dtype=dtype)[-1]
    else:
        reduce = _UNORDERED[kind].reduce

        def fold(v: np.ndarray) -> np.generic:
            return reduce(v, dtype=dtype)
    if len(op.operands) == 1:
        return lambda args: [fold(args[0])]
    concat = np.concatenate
    return lambda args: [fold(concat((np.asarray([args[1]], dtype=dtype), args[0])))]
