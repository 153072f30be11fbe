"""VJP rules of the elementwise tensor ops (unary math, binary arithmetic, select, cast).

Conventions at points where the derivative does not exist (see docs/autodiff.md):

* ``abs``: ``sign(x)``, so 0 at ``x = 0``; ``floor``, ``ceil``, ``sign``: 0 everywhere.
* ``max``/``min``: the cotangent goes to the selected operand; on ties it is split evenly.
* ``pow``: d/dx is 0 where ``y = 0``; d/dy uses ``log(x)`` with ``log(0)`` taken as 0 (the
  limit of ``x**y * log(x)`` for ``y > 0``), and is NaN for ``x < 0``.
* ``rem`` (``fmod``): d/dx = 1, d/dy = ``-trunc(x / y)``; the jumps are ignored.
"""

from __future__ import annotations

import math

from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.dialects import tensor as T
from avalon.ir.types import is_float
from avalon.passes.vjp_rules import (
    add,
    cast,
    cmp,
    div,
    like,
    mul,
    neg,
    no_gradient,
    select,
    sub,
    tensor_type,
    unary,
    vjp,
    zeros,
)

# ------------------------------------------------------------------------ no gradient

vjp("tensor.constant", "tensor.empty", "tensor.iota", "tensor.random_uniform",
    "tensor.random_normal", "tensor.argmax", "tensor.cmp", "tensor.stop_gradient",
    "tensor.floor", "tensor.ceil", "tensor.sign", "tensor.not", "tensor.and", "tensor.or",
    "tensor.xor")(no_gradient)

# ------------------------------------------------------------------------------- unary


@vjp("tensor.neg")
def _neg(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    return [neg(b, cts[0])]


@vjp("tensor.abs")
def _abs(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    return [mul(b, cts[0], unary(b, T.SignOp, op.operands[0]))]


@vjp("tensor.exp")
def _exp(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    return [mul(b, cts[0], op.result)]


@vjp("tensor.log")
def _log(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    return [div(b, cts[0], op.operands[0])]


@vjp("tensor.tanh")
def _tanh(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    y = op.result
    return [mul(b, cts[0], sub(b, like(b, 1.0, y), mul(b, y, y)))]


@vjp("tensor.sqrt")
def _sqrt(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    y = op.result
    return [div(b, cts[0], mul(b, like(b, 2.0, y), y))]


@vjp("tensor.rsqrt")
def _rsqrt(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    # d/dx x**-1/2 = -1/2 x**-3/2 = -1/2 y**3
    y = op.result
    cube = mul(b, mul(b, y, y), y)
    return [mul(b, cts[0], mul(b, like(b, -0.5, y), cube))]


@vjp("tensor.sin")
def _sin(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    return [mul(b, cts[0], unary(b, T.CosOp, op.operands[0]))]


@vjp("tensor.cos")
def _cos(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    return [neg(b, mul(b, cts[0], unary(b, T.SinOp, op.operands[0])))]


@vjp("tensor.erf")
def _erf(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    x = op.operands[0]
    density = unary(b, T.ExpOp, neg(b, mul(b, x, x)))
    return [mul(b, cts[0], mul(b, like(b, 2.0 / math.sqrt(math.pi), x), density))]


@vjp("tensor.log1p")
def _log1p(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    x = op.operands[0]
    return [div(b, cts[0], add(b, like(b, 1.0, x), x))]


@vjp("tensor.expm1")
def _expm1(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    y = op.result
    return [mul(b, cts[0], add(b, y, like(b, 1.0, y)))]


# ------------------------------------------------------------------------------ binary


@vjp("tensor.add")
def _add(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    return [cts[0], cts[0]]


@vjp("tensor.sub")
def _sub(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    return [cts[0], neg(b, cts[0])]


@vjp("tensor.mul")
def _mul(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    x, y = op.operands
    return [mul(b, cts[0], y), mul(b, cts[0], x)]


@vjp("tensor.div")
def _div(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    # d(x/y) = dx / y - (x/y) dy / y
    y = op.operands[1]
    gx = div(b, cts[0], y)
    return [gx, neg(b, mul(b, gx, op.result))]


@vjp("tensor.rem")
def _rem(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    # fmod(x, y) = x - trunc(x / y) * y, with trunc piecewise constant.
    x, y = op.operands
    q = div(b, x, y)
    trunc = select(b, cmp(b, "lt", q, zeros(b, q.type)), unary(b, T.CeilOp, q),
                   unary(b, T.FloorOp, q))
    return [cts[0], neg(b, mul(b, cts[0], trunc))]


@vjp("tensor.pow")
def _pow(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    g = cts[0]
    x, y = op.operands
    zero = zeros(b, x.type)
    one = like(b, 1.0, x)
    # d/dx = y * x**(y - 1), defined as 0 where y == 0 (x**0 is constant in x).
    slope = mul(b, y, b.create(T.PowOp, x, sub(b, y, one)).result)
    gx = mul(b, g, select(b, cmp(b, "eq", y, zero), zero, slope))
    # d/dy = x**y * log(x), with log(0) taken as 0.
    log_x = unary(b, T.LogOp, select(b, cmp(b, "eq", x, zero), one, x))
    gy = mul(b, g, mul(b, op.result, log_x))
    return [gx, gy]


def _split_max_min(b: Builder, op: Operation, g: Value, wins: str) -> list[Value | None]:
    """Cotangent to the operand that wins the comparison ``wins`` (gt for max, lt for min);
    half to each on ties."""
    x, y = op.operands
    zero, half, one = zeros(b, x.type), like(b, 0.5, x), like(b, 1.0, x)
    loses = "lt" if wins == "gt" else "gt"
    tie = select(b, cmp(b, "eq", x, y), half, zero)
    wx = select(b, cmp(b, wins, x, y), one, tie)
    wy = select(b, cmp(b, loses, x, y), one, tie)
    return [mul(b, g, wx), mul(b, g, wy)]


@vjp("tensor.max")
def _max(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    return _split_max_min(b, op, cts[0], "gt")


@vjp("tensor.min")
def _min(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    return _split_max_min(b, op, cts[0], "lt")


# ---------------------------------------------------------------------- select, cast


@vjp("tensor.select")
def _select(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    g = cts[0]
    cond = op.operands[0]
    zero = zeros(b, g.type)
    return [None, select(b, cond, g, zero), select(b, cond, zero, g)]


@vjp("tensor.cast")
def _cast(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    src = tensor_type(op.operands[0])
    if not (is_float(src) and is_float(op.result.type)):
        return [None]
    return [cast(b, cts[0], src.element_type)]
