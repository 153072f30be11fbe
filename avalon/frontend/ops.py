"""Array primitives that numpy lacks (convolution, pooling, erf, seeded random numbers).

Each works on numpy arrays *and* on tracers: traced, it records the tensor-dialect op;
eager, it runs that same one-op program through a cached :func:`~avalon.frontend.jit.jit`, so
eager and compiled results come from one definition of the semantics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from avalon.frontend.jit import JitFunction, has_tracers
from avalon.frontend.tracer import Tracer, _context, as_tracer, cast
from avalon.ir import types as T
from avalon.ir.dialects import tensor as tn


def primitive(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` (written for tracers) directly when tracing, else through a cached jit."""
    jitted = JitFunction(fn)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if has_tracers(args, kwargs):
            return fn(*args, **kwargs)
        return jitted(*args, **kwargs)

    return wrapped


def _tuple(v: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    if isinstance(v, int | np.integer):
        return (int(v),) * n
    t = tuple(int(x) for x in v)
    if len(t) != n:
        raise ValueError(f"{name} needs {n} values, got {len(t)}")
    return t


def _padding(padding: Any, n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``int``, per-dim ints, or per-dim ``(low, high)`` pairs."""
    if isinstance(padding, int | np.integer):
        p = (int(padding),) * n
        return p, p
    items = list(padding)
    if len(items) != n:
        raise ValueError(f"padding needs {n} entries, got {len(items)}")
    if all(isinstance(x, int | np.integer) for x in items):
        p = tuple(int(x) for x in items)
        return p, p
    lows = tuple(int(x[0]) for x in items)
    highs = tuple(int(x[1]) for x in items)
    return lows, highs


@primitive
def conv(x: Any, w: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
         groups: int = 1) -> Tracer:
    """N-d grouped convolution (cross-correlation): ``x [N, C, S...]``, ``w [O, C/g, K...]``."""
    ctx = _context(x, w)
    xt, wt = as_tracer(x, ctx), as_tracer(w, ctx)
    if wt.dtype != xt.dtype:
        wt = cast(wt, xt.dtype)
    n = xt.ndim - 2
    if n < 1 or wt.ndim != xt.ndim:
        raise ValueError(f"conv expects input [N, C, spatial...] and filter [O, C/groups, "
                         f"kernel...] of equal rank, got {xt.shape} and {wt.shape}")
    lo, hi = _padding(padding, n)
    return ctx.wrap(ctx.emit(
        tn.ConvOp, xt.value, wt.value, stride=list(_tuple(stride, n, "stride")),
        padding_low=list(lo), padding_high=list(hi),
        dilation=list(_tuple(dilation, n, "dilation")), groups=int(groups)))


@primitive
def pool(x: Any, kind: str, window: Any, stride: Any = None, padding: Any = 0,
         count_include_pad: bool = True) -> Tracer:
    """Max or average pooling over the trailing ``len(window)`` dimensions."""
    ctx = _context(x)
    xt = as_tracer(x, ctx)
    win = tuple(int(k) for k in window)
    n = len(win)
    st = win if stride is None else _tuple(stride, n, "stride")
    lo, hi = _padding(padding, n)
    attrs: dict[str, Any] = {}
    if kind == "avg":
        attrs["count_include_pad"] = bool(count_include_pad)
    return ctx.wrap(ctx.emit(tn.PoolOp, xt.value, kind=kind, window=list(win), stride=list(st),
                             padding_low=list(lo), padding_high=list(hi), **attrs))


@primitive
def erf(x: Any) -> Tracer:
    ctx = _context(x)
    xt = as_tracer(x, ctx)
    if xt.dtype.kind != "f":
        xt = cast(xt, np.dtype(np.float64))
    return ctx.wrap(ctx.emit(tn.ErfOp, xt.value))


@primitive
def rsqrt(x: Any) -> Tracer:
    ctx = _context(x)
    xt = as_tracer(x, ctx)
    if xt.dtype.kind != "f":
        xt = cast(xt, np.dtype(np.float64))
    return ctx.wrap(ctx.emit(tn.RsqrtOp, xt.value))


def _random(op_class: Any, seed: Any, shape: Sequence[int], dtype: Any) -> Tracer:
    ctx = _context(seed)
    s = as_tracer(seed, ctx)
    if s.shape != () or s.dtype != np.int64:
        s = cast(s.reshape(()), np.dtype(np.int64)) if s.size == 1 else None
        if s is None:
            raise ValueError("the seed must be a single integer")
    rt = T.TensorType(tuple(int(d) for d in shape), T.from_numpy_dtype(np.dtype(dtype)))
    return ctx.wrap(ctx.emit(op_class, s.value, result_types=[rt]))


@primitive
def random_uniform(seed: Any, shape: Sequence[int], dtype: Any = np.float32) -> Tracer:
    """Uniform [0, 1) numbers from a counter-based generator keyed by ``seed`` (an int64
    array of shape ()). The same seed gives the same numbers, eagerly and compiled."""
    return _random(tn.RandomUniformOp, seed, shape, dtype)


@primitive
def random_normal(seed: Any, shape: Sequence[int], dtype: Any = np.float32) -> Tracer:
    """Standard normal numbers from the counter-based generator keyed by ``seed``."""
    return _random(tn.RandomNormalOp, seed, shape, dtype)


def seed_array(seed: int) -> np.ndarray:
    """A seed value in the form the random primitives take."""
    return np.asarray(seed, dtype=np.int64)
