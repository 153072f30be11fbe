"""Semantics of the ``math`` dialect.

Transcendental functions on f16, bf16 and f32 are evaluated in float64 and rounded once to the
op's type, so the interpreter is at least as accurate as any backend it checks (float64 uses
numpy's float64 functions). Exact operations (abs, floor, ceil, trunc, round, roundeven,
copysign) run in the operand dtype. ``fma`` is fused: one rounding of the exact ``a*b+c``.
``erf``/``erfc`` use Python's correctly implemented ``math.erf``/``math.erfc`` elementwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from avalon.backends.interpreter.arith_impl import elem_type, float_dtype, int_kind
from avalon.backends.interpreter.executor import Kernel, specialized_impl
from avalon.backends.interpreter.registry import ExecContext
from avalon.backends.interpreter.values import round_bf16
from avalon.ir.core import Operation
from avalon.ir.types import bf16, f64

ndarray = np.ndarray
to_f64 = np.float64  # numpy's scalar type converts scalars and arrays alike


def _rounder(op: Operation) -> Callable[[Any], Any] | None:
    """How float64 results are rounded to the op's result type (None: already float64)."""
    et = elem_type(op.results[0].type)
    if et == bf16:
        return round_bf16
    if et == f64:
        return None
    return float_dtype(et).type


def _register_via_f64(name: str, fn: Callable[..., Any], arity: int = 1) -> None:
    """``math.<name>`` computed by float64 ``fn`` and rounded once to the result type."""

    @specialized_impl(f"math.{name}")
    def make(ctx: ExecContext, op: Operation) -> Kernel:
        float_dtype(op.results[0].type)
        rnd = _rounder(op)
        if rnd is None:
            if arity == 1:
                return lambda args: [fn(args[0])]
            if arity == 2:
                return lambda args: [fn(args[0], args[1])]
            return lambda args: [fn(*args)]
        if arity == 1:
            return lambda args: [rnd(fn(to_f64(args[0])))]
        if arity == 2:
            return lambda args: [rnd(fn(to_f64(args[0]), to_f64(args[1])))]
        return lambda args: [rnd(fn(*(to_f64(a) for a in args)))]


def _register_exact(name: str, fn: Callable[..., Any], arity: int = 1) -> None:
    """``math.<name>`` whose exact result is representable in the operand type."""

    @specialized_impl(f"math.{name}")
    def make(ctx: ExecContext, op: Operation) -> Kernel:
        float_dtype(op.results[0].type)
        if arity == 1:
            return lambda args: [fn(args[0])]
        return lambda args: [fn(args[0], args[1])]


def _python_elementwise(fn: Callable[[float], float]) -> Callable[[Any], Any]:
    """Apply a Python float function to a float64 scalar or to every array element."""
    vectorised = np.frompyfunc(fn, 1, 1)

    def apply(x: Any) -> Any:
        if type(x) is ndarray and x.ndim:
            return vectorised(x).astype(np.float64)
        return np.float64(fn(float(x)))

    return apply


def _rsqrt(x: Any) -> Any:
    return 1.0 / np.sqrt(x)


def _round_half_away(x: Any) -> Any:
    """Round to nearest, ties away from zero (C ``round``); keeps the sign of zero."""
    t = np.trunc(x)
    step = np.where(np.abs(x - t) >= 0.5, np.copysign(np.ones_like(t), x), np.zeros_like(t))
    return np.copysign(t + step, x)[()]


for _name, _fn in (
    ("exp", np.exp), ("exp2", np.exp2), ("expm1", np.expm1), ("log", np.log),
    ("log2", np.log2), ("log10", np.log10), ("log1p", np.log1p), ("tanh", np.tanh),
    ("sqrt", np.sqrt), ("rsqrt", _rsqrt), ("cbrt", np.cbrt), ("sin", np.sin),
    ("cos", np.cos), ("tan", np.tan), ("atan", np.arctan), ("sinh", np.sinh),
    ("cosh", np.cosh), ("asin", np.arcsin), ("acos", np.arccos),
    ("erf", _python_elementwise(math.erf)), ("erfc", _python_elementwise(math.erfc)),
):
    _register_via_f64(_name, _fn)
_register_via_f64("powf", np.power, arity=2)
_register_via_f64("atan2", np.arctan2, arity=2)

for _name, _fn in (("absf", np.abs), ("floor", np.floor), ("ceil", np.ceil),
                   ("trunc", np.trunc), ("roundeven", np.rint),
                   ("round", _round_half_away)):
    _register_exact(_name, _fn)
_register_exact("copysign", np.copysign, arity=2)


@specialized_impl("math.absi")
def _absi(ctx: ExecContext, op: Operation) -> Kernel:
    """Two's-complement absolute value: the most negative value maps to itself."""
    if int_kind(op.results[0].type).is_bool:
        return lambda args: [args[0]]
    return lambda args: [np.abs(args[0])]


# ------------------------------------------------------------------------------------ fma


def _two_sum(a: Any, b: Any) -> tuple[Any, Any]:
    """s + e == a + b exactly, with s = fl(a + b)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _round_to_odd(s: Any, e: Any) -> Any:
    """Given s = fl(x) and the exact error e = x - s, the round-to-odd value of x."""
    inexact_even = (e != 0) & ((np.asarray(s).view(np.int64) & 1) == 0)
    toward = np.where(e > 0, np.inf, -np.inf)
    return np.where(inexact_even, np.nextafter(s, toward), s)


_SPLITTER = 134217729.0  # 2**27 + 1: splits a double into two 26-bit halves


def _two_product(a: Any, b: Any) -> tuple[Any, Any]:
    """p + e == a * b exactly (Dekker), valid away from overflow and underflow."""
    p = a * b
    ca, cb = _SPLITTER * a, _SPLITTER * b
    ah, bh = ca - (ca - a), cb - (cb - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _fma_exact_scalar(a: float, b: float, c: float) -> float:
    """Correctly rounded a*b+c through exact rationals (the slow, always-right path)."""
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if exact == 0:
        return a * b + c  # an exact zero: IEEE's sign rules, which plain arithmetic follows
    try:
        r = float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf
    return r if r != 0 else (0.0 if exact > 0 else -0.0)


_fma_exact = np.frompyfunc(_fma_exact_scalar, 3, 1)


def fma_f64(a: Any, b: Any, c: Any) -> Any:
    """Fused multiply-add on float64 with one rounding.

    Error-free transformations with a round-to-odd middle step (Boldo and Melquiond) give the
    correctly rounded result whenever no intermediate overflows or underflows; elements near
    those limits (or non-finite) take the exact rational path.
    """
    a, b, c = np.broadcast_arrays(np.float64(a), np.float64(b), np.float64(c))
    uh, ul = _two_product(a, b)
    th, tl = _two_sum(c, uh)
    v = _round_to_odd(*_two_sum(tl, ul))
    fast = th + v
    # An exact zero takes IEEE's sign rules, which plain arithmetic follows (a*b is exact).
    fast = np.where(fast == 0, a * b + c, fast)
    big, small = 2.0 ** 900, 2.0 ** -900
    mag = np.abs(uh)
    safe = (np.isfinite(a) & np.isfinite(b) & np.isfinite(c)
            & (np.abs(a) < big) & (np.abs(b) < big) & (np.abs(c) < big)
            & (((mag >= small) & (mag < big)) | (a == 0) | (b == 0)))
    if not safe.all():
        fast = np.where(safe, fast, np.asarray(_fma_exact(a, b, c), dtype=np.float64))
    return fast[()]


def fma_narrow(a: Any, b: Any, c: Any, rnd: Callable[[Any], Any]) -> Any:
    """Fused multiply-add for types of at most 24 significant bits: the product is exact in
    float64, the sum is rounded to odd in float64, then rounded once to the type."""
    p = np.float64(a) * np.float64(b)
    s, e = _two_sum(p, np.float64(c))
    odd = np.where(np.isfinite(s) & np.isfinite(e), _round_to_odd(s, e), s)
    return rnd(odd[()])


@specialized_impl("math.fma")
def _fma(ctx: ExecContext, op: Operation) -> Kernel:
    float_dtype(op.results[0].type)
    rnd = _rounder(op)
    if rnd is None:
        return lambda args: [fma_f64(*args)]
    return lambda args: [fma_narrow(*args, rnd)]
