"""The VJP rule registry used by the ``autodiff`` pass, and small builders rules share.

A VJP (vector-Jacobian product) rule says how the cotangent of an op's results flows back to
its operands. Rules are registered per op name::

    @vjp("tensor.exp")
    def _exp(b: Builder, op: Operation, cotangents: list[Value | None]) -> list[Value | None]:
        (g,) = cotangents
        return [mul(b, g, op.result)]

The builder ``b`` inserts after the primal computation; ``cotangents`` has one entry per
result (None where that result carries no gradient); the rule returns one cotangent per
operand, of the operand's type, or None for "no gradient". Rules only emit tensor ops that
have rules themselves, so a gradient function can be differentiated again.

The built-in rules live in :mod:`~avalon.passes.vjp_elementwise`,
:mod:`~avalon.passes.vjp_structural` and :mod:`~avalon.passes.vjp_nn`; they are loaded the
first time a rule is looked up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import numpy as np

from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.diagnostics import Diagnostic, DiagnosticError, Severity
from avalon.ir.dialects import tensor as T
from avalon.ir.types import TensorType, Type, is_float

VJPRule = Callable[[Builder, Operation, list["Value | None"]], list["Value | None"]]

_RULES: dict[str, VJPRule] = {}
_BUILTIN_MODULES = ("vjp_elementwise", "vjp_structural", "vjp_nn")
_loaded = False


class AutodiffError(DiagnosticError):
    """Differentiation is impossible here (no rule, wrong types); located at the op."""


def autodiff_error(message: str, op: Operation | None = None) -> AutodiffError:
    """A located :class:`AutodiffError` (at ``op`` when given)."""
    loc = op.location if op is not None else None
    if loc is None:
        return AutodiffError(Diagnostic(Severity.ERROR, message))
    return AutodiffError(Diagnostic(Severity.ERROR, message, loc))


def vjp(*names: str) -> Callable[[VJPRule], VJPRule]:
    """Register the decorated function as the VJP rule of each op in ``names``.

    Registering again for a name replaces the earlier rule (a user may override one).
    """

    def register(fn: VJPRule) -> VJPRule:
        for name in names:
            _RULES[name] = fn
        return fn

    return register


def _load_builtin_rules() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(f"avalon.passes.{module}")


def get_vjp_rule(name: str) -> VJPRule | None:
    """The rule registered for op ``name``, or None."""
    _load_builtin_rules()
    return _RULES.get(name)


def registered_ops() -> list[str]:
    """Names of every op with a VJP rule, sorted."""
    _load_builtin_rules()
    return sorted(_RULES)


def no_gradient(b: Builder, op: Operation, cotangents: list[Value | None]) -> list[Value | None]:
    """The rule of ops whose operands get no gradient (constants, comparisons, indices)."""
    return [None] * op.num_operands


# --------------------------------------------------------------------------- builders
# Thin wrappers so rules read like the math they implement.


def tensor_type(v: Value) -> TensorType:
    t = v.type
    assert isinstance(t, TensorType)
    return t


def constant(b: Builder, value: float | np.ndarray, t: Type) -> Value:
    """A ``tensor.constant`` of type ``t`` holding ``value`` (a scalar is splat)."""
    assert isinstance(t, TensorType)
    return b.insert(T.ConstantOp.of(np.asarray(value), t, b.location)).result


def zeros(b: Builder, t: Type) -> Value:
    return constant(b, 0.0 if is_float(t) else 0, t)


def like(b: Builder, value: float, v: Value) -> Value:
    """A splat constant of ``v``'s type."""
    return constant(b, value, v.type)


def unary(b: Builder, cls: type, x: Value) -> Value:
    return b.create(cls, x).result


def add(b: Builder, x: Value, y: Value) -> Value:
    return b.create(T.AddOp, x, y).result


def sub(b: Builder, x: Value, y: Value) -> Value:
    return b.create(T.SubOp, x, y).result


def mul(b: Builder, x: Value, y: Value) -> Value:
    return b.create(T.MulOp, x, y).result


def div(b: Builder, x: Value, y: Value) -> Value:
    return b.create(T.DivOp, x, y).result


def neg(b: Builder, x: Value) -> Value:
    return b.create(T.NegOp, x).result


def cmp(b: Builder, predicate: str, x: Value, y: Value) -> Value:
    return b.create(T.CmpOp, x, y, predicate=predicate).result


def select(b: Builder, cond: Value, x: Value, y: Value) -> Value:
    return b.create(T.SelectOp, cond, x, y).result


def cast(b: Builder, x: Value, element_type: Type) -> Value:
    t = tensor_type(x)
    if t.element_type == element_type:
        return x
    return b.create(T.CastOp, x, result_types=[TensorType(t.shape, element_type)]).result


def reshape(b: Builder, x: Value, shape: Sequence[int]) -> Value:
    t = tensor_type(x)
    if t.shape == tuple(shape):
        return x
    return b.create(T.ReshapeOp, x,
                    result_types=[TensorType(tuple(shape), t.element_type)]).result


def transpose(b: Builder, x: Value, permutation: Sequence[int]) -> Value:
    if tuple(permutation) == tuple(range(len(permutation))):
        return x
    return b.create(T.TransposeOp, x, permutation=list(permutation)).result


def broadcast(b: Builder, x: Value, dims: Sequence[int], shape: Sequence[int]) -> Value:
    t = tensor_type(x)
    if t.shape == tuple(shape) and tuple(dims) == tuple(range(t.rank)):
        return x
    return b.create(T.BroadcastOp, x, dims=list(dims),
                    result_types=[TensorType(tuple(shape), t.element_type)]).result


def reduce(b: Builder, kind: str, x: Value, dims: Sequence[int]) -> Value:
    if not dims:
        return x
    return b.create(T.ReduceOp, x, kind=kind, dims=sorted(dims)).result


def reduce_all(b: Builder, kind: str, x: Value) -> Value:
    """Reduce every dimension, giving a 0-d tensor."""
    t = tensor_type(x)
    if t.rank == 0:
        return x
    return reduce(b, kind, x, list(range(t.rank)))


def slice_(b: Builder, x: Value, start: Sequence[int], limit: Sequence[int],
           stride: Sequence[int]) -> Value:
    t = tensor_type(x)
    if (tuple(start) == (0,) * t.rank and tuple(limit) == t.shape
            and tuple(stride) == (1,) * t.rank):
        return x
    return b.create(T.SliceOp, x, start=list(start), limit=list(limit),
                    stride=list(stride)).result


def pad_zeros(b: Builder, x: Value, low: Sequence[int], high: Sequence[int],
              interior: Sequence[int]) -> Value:
    """``tensor.pad`` with a zero padding value."""
    t = tensor_type(x)
    if not any(low) and not any(high) and not any(interior):
        return x
    zero = zeros(b, TensorType((), t.element_type))
    return b.create(T.PadOp, x, zero, low=list(low), high=list(high),
                    interior=list(interior)).result


def sum_to_shape(b: Builder, g: Value, dims: Sequence[int], shape: Sequence[int]) -> Value:
    """Transpose of ``broadcast(x, dims)`` for an ``x`` of ``shape``: sum ``g`` over the new
    dimensions and over the dimensions broadcast from extent 1, then restore ``shape``."""
    gt = tensor_type(g)
    summed = [d for d in range(gt.rank) if d not in dims]
    summed += [d for i, d in enumerate(dims) if shape[i] == 1 and gt.shape[d] != 1]
    return reshape(b, reduce(b, "sum", g, summed), shape)


__all__ = [
    "AutodiffError",
    "VJPRule",
    "autodiff_error",
    "get_vjp_rule",
    "no_gradient",
    "registered_ops",
    "vjp",
]
