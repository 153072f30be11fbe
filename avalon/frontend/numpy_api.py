"""numpy functions and ufuncs on tracers: ``np.exp(x)``, ``np.sum(x, axis=1)``, ``x @ w``.

numpy hands calls that involve a :class:`~avalon.frontend.tracer.Tracer` to its
``__array_ufunc__``/``__array_function__``; these tables map them to tracer operations. A
function missing from the tables raises a :class:`TracingError` naming it, so code written
against numpy either traces faithfully or says exactly what is unsupported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from avalon.frontend import tracer as tr
from avalon.frontend.tracer import Tracer, TracingError, describe_location, user_location


def _log_base(base: float) -> Callable[[Any], Tracer]:
    return lambda x: tr.true_divide(tr.unary("log", x), math.log(base))


def _exp2(x: Any) -> Tracer:
    return tr.unary("exp", tr.binary("mul", x, math.log(2.0), tr._float_dtype(x)))


def _logaddexp(a: Any, b: Any) -> Tracer:
    m = tr.binary("max", a, b, tr._float_dtype(a, b))
    return m + tr.unary("log1p", tr.unary("exp", -tr.unary("abs", tr.binary(
        "sub", a, b, tr._float_dtype(a, b)))))


_UFUNCS: dict[Any, Callable[..., Tracer]] = {
    np.add: lambda a, b: tr.binary("add", a, b),
    np.subtract: lambda a, b: tr.binary("sub", a, b),
    np.multiply: lambda a, b: tr.binary("mul", a, b),
    np.true_divide: tr.true_divide,
    np.floor_divide: tr.floor_divide,
    np.remainder: tr.remainder,
    np.power: tr.power,
    np.float_power: lambda a, b: tr.binary("pow", a, b, np.dtype(np.float64)),
    np.maximum: lambda a, b: tr.binary("max", a, b),
    np.minimum: lambda a, b: tr.binary("min", a, b),
    np.fmax: lambda a, b: tr.binary("max", a, b),
    np.fmin: lambda a, b: tr.binary("min", a, b),
    np.matmul: tr.matmul,
    np.negative: lambda a: tr.unary("neg", a),
    np.positive: lambda a: a,
    np.absolute: lambda a: tr.unary("abs", a),
    np.exp: lambda a: tr.unary("exp", a),
    np.exp2: _exp2,
    np.expm1: lambda a: tr.unary("expm1", a),
    np.log: lambda a: tr.unary("log", a),
    np.log2: _log_base(2.0),
    np.log10: _log_base(10.0),
    np.log1p: lambda a: tr.unary("log1p", a),
    np.logaddexp: _logaddexp,
    np.tanh: lambda a: tr.unary("tanh", a),
    np.sqrt: lambda a: tr.unary("sqrt", a),
    np.square: lambda a: tr.binary("mul", a, a),
    np.reciprocal: lambda a: tr.true_divide(1, a),
    np.sin: lambda a: tr.unary("sin", a),
    np.cos: lambda a: tr.unary("cos", a),
    np.tan: lambda a: tr.true_divide(tr.unary("sin", a), tr.unary("cos", a)),
    np.floor: lambda a: tr.unary("floor", a),
    np.ceil: lambda a: tr.unary("ceil", a),
    np.sign: lambda a: tr.unary("sign", a),
    np.greater: lambda a, b: tr.compare("gt", a, b),
    np.greater_equal: lambda a, b: tr.compare("ge", a, b),
    np.less: lambda a, b: tr.compare("lt", a, b),
    np.less_equal: lambda a, b: tr.compare("le", a, b),
    np.equal: lambda a, b: tr.compare("eq", a, b),
    np.not_equal: lambda a, b: tr.compare("ne", a, b),
    np.logical_and: tr.logical_and,
    np.logical_or: tr.logical_or,
    np.logical_not: tr.logical_not,
    np.logical_xor: lambda a, b: tr.binary("xor", tr._as_bool(a), tr._as_bool(b)),
    np.bitwise_and: lambda a, b: tr.binary("and", a, b),
    np.bitwise_or: lambda a, b: tr.binary("or", a, b),
    np.bitwise_xor: lambda a, b: tr.binary("xor", a, b),
    np.invert: lambda a: tr.unary("not", a),
}

_REDUCING_UFUNCS = {np.add: "sum", np.multiply: "prod", np.maximum: "max", np.minimum: "min"}


def handle_ufunc(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    if kwargs.get("out") is not None:
        raise TracingError(f"np.{ufunc.__name__}(..., out=...) writes in place, which traced "
                           f"code cannot do (at {describe_location(user_location())})")
    if method == "reduce" and ufunc in _REDUCING_UFUNCS:
        return tr.reduce(_REDUCING_UFUNCS[ufunc], inputs[0], kwargs.get("axis", 0),
                         kwargs.get("keepdims", False), kwargs.get("dtype"))
    if method != "__call__":
        raise TracingError(f"np.{ufunc.__name__}.{method} is not supported in traced code")
    fn = _UFUNCS.get(ufunc)
    if fn is None:
        raise TracingError(f"numpy function 'np.{ufunc.__name__}' is not supported in traced "
                           f"code (at {describe_location(user_location())})")
    extra = set(kwargs) - {"dtype", "casting", "order", "subok", "where", "out"}
    if extra or kwargs.get("where", True) is not True:
        raise TracingError(f"np.{ufunc.__name__}: keyword arguments {sorted(extra)} are not "
                           "supported in traced code")
    out = fn(*inputs)
    if kwargs.get("dtype") is not None:
        out = tr.cast(out, np.dtype(kwargs["dtype"]))
    return out


def _reduction(kind: str) -> Callable[..., Tracer]:
    def fn(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
           **kw: Any) -> Tracer:
        if out is not None:
            raise TracingError("out= is not supported in traced code")
        return tr.reduce(kind, a, axis, keepdims, dtype)
    return fn


def _max_like(kind: str) -> Callable[..., Tracer]:
    def fn(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
           **kw: Any) -> Tracer:
        return tr.reduce(kind, a, axis, keepdims)
    return fn


def _mean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
          keepdims: bool = False, **kw: Any) -> Tracer:
    return tr.mean(a, axis, keepdims, dtype)


def _var(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
         keepdims: bool = False, **kw: Any) -> Tracer:
    return tr.var(a, axis, keepdims, ddof)


def _std(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
         keepdims: bool = False, **kw: Any) -> Tracer:
    return tr.unary("sqrt", tr.var(a, axis, keepdims, ddof))


def _ctx(*xs: Any) -> tr.TraceContext:
    return tr._context(*xs)


def _like(value: Any) -> Callable[..., Tracer]:
    def fn(a: Any, dtype: Any = None, **kw: Any) -> Tracer:
        t = tr.as_tracer(a, _ctx(a))
        return tr.full_like(t, value if value is not None else 0, dtype)
    return fn


def _full_like(a: Any, fill_value: Any, dtype: Any = None, **kw: Any) -> Tracer:
    return tr.full_like(tr.as_tracer(a, _ctx(a)), fill_value, dtype)


def _reshape(a: Any, *args: Any, **kw: Any) -> Tracer:
    shape = kw.get("newshape", kw.get("shape", args[0] if args else None))
    if isinstance(shape, int):
        shape = (shape,)
    return tr.reshape(tr.as_tracer(a, _ctx(a)), shape)


def _transpose(a: Any, axes: Any = None) -> Tracer:
    return tr.transpose(tr.as_tracer(a, _ctx(a)), axes)


def _moveaxis(a: Any, source: int, destination: int) -> Tracer:
    t = tr.as_tracer(a, _ctx(a))
    order = [i for i in range(t.ndim) if i != source % t.ndim]
    order.insert(destination % t.ndim, source % t.ndim)
    return tr.transpose(t, order)


def _where(cond: Any, x: Any = None, y: Any = None) -> Tracer:
    if x is None or y is None:
        raise TracingError("np.where(cond) with one argument has a data-dependent shape")
    return tr.where(cond, x, y)


def _clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kw: Any) -> Tracer:
    lo = kw.get("min", a_min)
    hi = kw.get("max", a_max)
    return tr.clip(a, lo, hi)


def _astype(x: Any, dtype: Any, **kw: Any) -> Tracer:
    return tr.cast(tr.as_tracer(x, _ctx(x)), np.dtype(dtype))


def _broadcast_to(a: Any, shape: Any, **kw: Any) -> Tracer:
    return tr.broadcast_to(tr.as_tracer(a, _ctx(a)), shape)


def _squeeze(a: Any, axis: Any = None) -> Tracer:
    return tr.squeeze(tr.as_tracer(a, _ctx(a)), axis)


def _expand_dims(a: Any, axis: Any) -> Tracer:
    return tr.expand_dims(tr.as_tracer(a, _ctx(a)), axis)


def _ravel(a: Any, order: str = "C") -> Tracer:
    return tr.reshape(tr.as_tracer(a, _ctx(a)), (-1,))


def _outer(a: Any, b: Any, out: Any = None) -> Tracer:
    x = tr.reshape(tr.as_tracer(a, _ctx(a, b)), (-1, 1))
    y = tr.reshape(tr.as_tracer(b, _ctx(a, b)), (1, -1))
    return x * y


def _sum_dot(a: Any, b: Any) -> Tracer:
    return tr.reduce("sum", tr.binary("mul", a, b))


def _swapaxes(a: Any, axis1: int, axis2: int) -> Tracer:
    return tr.swapaxes(tr.as_tracer(a, _ctx(a)), axis1, axis2)


_FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.sum: _reduction("sum"),
    np.prod: _reduction("prod"),
    np.max: _max_like("max"),
    np.amax: _max_like("max"),
    np.min: _max_like("min"),
    np.amin: _max_like("min"),
    np.mean: _mean,
    np.var: _var,
    np.std: _std,
    np.argmax: lambda a, axis=None, **kw: tr.argmax(a, axis),
    np.argmin: lambda a, axis=None, **kw: tr.argmax(-tr.as_tracer(a, _ctx(a)), axis),
    np.dot: tr.dot,
    np.vdot: _sum_dot,
    np.inner: lambda a, b: tr.matmul(a, tr.swapaxes(tr.as_tracer(b, _ctx(a, b)), -1, -2))
    if tr.as_tracer(b, _ctx(a, b)).ndim > 1 else tr.matmul(a, b),
    np.outer: _outer,
    np.matmul: tr.matmul,
    np.transpose: _transpose,
    np.swapaxes: _swapaxes,
    np.moveaxis: _moveaxis,
    np.reshape: _reshape,
    np.ravel: _ravel,
    np.squeeze: _squeeze,
    np.expand_dims: _expand_dims,
    np.broadcast_to: _broadcast_to,
    np.concatenate: lambda arrays, axis=0, **kw: tr.concatenate(arrays, axis),
    np.stack: lambda arrays, axis=0, **kw: tr.stack(arrays, axis),
    np.hstack: lambda arrays, **kw: tr.concatenate(
        arrays, 0 if tr.as_tracer(arrays[0], _ctx(*arrays)).ndim == 1 else 1),
    np.vstack: lambda arrays, **kw: tr.concatenate(
        [tr.reshape(a, (1, -1)) if tr.as_tracer(a, _ctx(*arrays)).ndim == 1
         else tr.as_tracer(a, _ctx(*arrays)) for a in arrays], 0),
    np.where: _where,
    np.clip: _clip,
    np.take: lambda a, indices, axis=None, **kw: tr.take(a, indices, axis),
    np.take_along_axis: lambda arr, indices, axis: tr.take_along_axis(arr, indices, axis),
    np.zeros_like: _like(0),
    np.ones_like: _like(1),
    np.full_like: _full_like,
    np.empty_like: _like(0),
    np.shape: lambda a: tr.as_tracer(a, _ctx(a)).shape,
    np.ndim: lambda a: tr.as_tracer(a, _ctx(a)).ndim,
    np.size: lambda a, axis=None: tr.as_tracer(a, _ctx(a)).size if axis is None
    else tr.as_tracer(a, _ctx(a)).shape[axis],
    np.astype: _astype,
    np.copy: lambda a, **kw: a,
    np.asarray: lambda a, dtype=None, **kw: a if dtype is None else _astype(a, dtype),
    np.array: lambda a, dtype=None, **kw: a if dtype is None else _astype(a, dtype),
    np.result_type: lambda *xs: tr.result_dtype(*xs),
}


def handle_function(func: Any, args: tuple, kwargs: dict) -> Any:
    fn = _FUNCTIONS.get(func)
    if fn is None:
        name = getattr(func, "__name__", str(func))
        module = getattr(func, "__module__", "numpy") or "numpy"
        prefix = "np" + module[len("numpy"):] if module.startswith("numpy") else module
        raise TracingError(f"numpy function '{prefix}.{name}' is not supported in traced code "
                           f"(at {describe_location(user_location())})")
    return fn(*args, **kwargs)


def supported_functions() -> list[str]:
    """Names of the numpy functions and ufuncs that trace (for the docs)."""
    names = {f"np.{getattr(f, '__name__', str(f))}" for f in _FUNCTIONS}
    names |= {f"np.{u.__name__}" for u in _UFUNCS}
    return sorted(names)
