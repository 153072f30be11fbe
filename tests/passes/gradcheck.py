"""Shared helpers of the autodiff tests: build a one-function module, and compare its reverse-
mode gradients with central finite differences computed through the interpreter."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

import avalon.ir.dialects  # noqa: F401  (registers the dialects)
from avalon.backends.interpreter import run
from avalon.ir.builder import Builder
from avalon.ir.core import Value
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.types import FunctionType, TensorType, Type, f64
from avalon.ir.verifier import verify
from avalon.passes.autodiff import differentiate

RTOL = 1e-6
ATOL = 1e-8

Body = Callable[[Builder, list[Value]], "Value | Sequence[Value]"]


def t64(*shape: int) -> TensorType:
    return TensorType(tuple(shape), f64)


def make_module(arg_types: Sequence[Type], body: Body, name: str = "f") -> ModuleOp:
    """A verified module holding ``func.func @name`` whose body ``body(b, args)`` builds."""
    fn = FuncOp.create(name, FunctionType(tuple(arg_types), ()))
    b = Builder.at_end(fn.entry_block)
    out = body(b, list(fn.entry_block.args))
    outs = [out] if isinstance(out, Value) else list(out)
    b.create(ReturnOp, values=outs)
    fn.set_type(FunctionType(tuple(arg_types), tuple(v.type for v in outs)))
    m = module([fn])
    verify(m)
    return m


def _pow2_step(x: float, h: float) -> float:
    """A power-of-two step near ``h * max(1, |x|)``, so ``x + k * step`` is exact."""
    return 2.0 ** round(math.log2(h * max(1.0, abs(x))))


def numeric_vjp(m: ModuleOp, name: str, args: Sequence[np.ndarray], wrt: Sequence[int],
                cotangent: np.ndarray, result: int = 0, h: float = 1e-4) -> list[np.ndarray]:
    """Gradients of ``sum(cotangent * f(args)[result])`` by the fourth-order central stencil
    ``(f(-2h) - 8 f(-h) + 8 f(h) - f(2h)) / 12h``, element by element, in float64."""

    def objective(xs: list[np.ndarray]) -> float:
        out = run(m, name, *xs)
        if isinstance(out, tuple):
            out = out[result]
        return float(np.sum(cotangent * np.asarray(out, dtype=np.float64)))

    grads = []
    for i in wrt:
        g = np.zeros(args[i].shape)
        for idx in np.ndindex(*args[i].shape):
            step = _pow2_step(float(args[i][idx]), h)
            values = []
            for k in (-2, -1, 1, 2):
                xs = [np.array(a, copy=True) for a in args]
                xs[i][idx] += k * step
                values.append(objective(xs))
            g[idx] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * step)
        grads.append(g)
    return grads


def check_vjp(m: ModuleOp, args: Sequence[np.ndarray], wrt: Sequence[int],
              rng: np.random.Generator, name: str = "f", result: int = 0,
              rtol: float = RTOL, atol: float = ATOL) -> list[np.ndarray]:
    """Differentiate ``@name`` with a random cotangent (seed="argument") and assert that the
    value and every gradient match the interpreter and finite differences; returns the
    gradients."""
    expected = run(m, name, *args)
    if isinstance(expected, tuple):
        expected = expected[result]
    cot = rng.standard_normal(np.shape(expected))
    grad_name = f"{name}_vjp{len(list(m.body.ops))}"
    differentiate(m, name, wrt, result=result, name=grad_name, seed="argument")
    verify(m)
    value, *grads = run(m, grad_name, *args, cot)
    np.testing.assert_array_equal(value, expected)
    numeric = numeric_vjp(m, name, args, wrt, cot, result)
    for i, g, n in zip(wrt, grads, numeric):
        assert g.shape == args[i].shape
        np.testing.assert_allclose(g, n, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of argument #{i}")
    return grads


def spaced(rng: np.random.Generator, shape: Sequence[int], low: float = -2.0,
           high: float = 2.0, gap: float = 0.02) -> np.ndarray:
    """Distinct values in ``[low, high]`` at least ``gap`` apart (no ties, away from each
    other's kinks), in random order."""
    n = math.prod(shape)
    slots = np.arange(int((high - low) / gap))
    picked = rng.choice(slots, size=n, replace=False)
    jitter = rng.uniform(0.1, 0.4, size=n) * gap
    return (low + picked * gap + jitter).reshape(tuple(shape))


def away_from_zero(rng: np.random.Generator, shape: Sequence[int], low: float = 0.3,
                   high: float = 2.0) -> np.ndarray:
    """Values with ``low <= |x| <= high`` and random signs."""
    mag = rng.uniform(low, high, size=tuple(shape))
    return mag * rng.choice([-1.0, 1.0], size=tuple(shape))
