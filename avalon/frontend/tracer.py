"""Tracer values: stand-ins for arrays that record ``tensor`` ops instead of computing.

A :class:`Tracer` wraps an SSA value of the function being traced. Python operators, numpy
ufuncs and numpy functions on tracers emit tensor-dialect ops with numpy's semantics: dtype
promotion (NEP 50: Python scalars are weak), broadcasting (made explicit with
``tensor.broadcast``), reductions with ``axis``/``keepdims``, basic and integer-array indexing.
Each op carries the file:line:col of the user's code that made it. Anything that would need a
concrete value (``if x > 0:``, ``float(x)``) raises :class:`TracingError` quoting that line.
"""

from __future__ import annotations

import linecache
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from avalon.ir import types as T
from avalon.ir.attributes import DenseElementsAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Value
from avalon.ir.dialects import tensor as tn
from avalon.ir.location import UNKNOWN_LOC, FileLineColLoc, Location

_AVALON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))


class TracingError(Exception):
    """A traced function did something that cannot be recorded as IR (with the user's line)."""


def user_location() -> Location:
    """The location of the innermost stack frame outside Avalon and numpy."""
    frame = sys._getframe(1)
    while frame is not None:
        fname = frame.f_code.co_filename
        if not (fname.startswith(_AVALON_DIR) or fname.startswith(_NUMPY_DIR)
                or fname.startswith("<frozen")) or "/tests/" in fname:
            line, col = frame.f_lineno, 0
            try:
                positions = list(frame.f_code.co_positions())
                pos = positions[frame.f_lasti // 2]
                if pos[0] is not None:
                    line = pos[0]
                if pos[2] is not None:
                    col = pos[2]
            except (IndexError, AttributeError):
                pass
            return FileLineColLoc(fname, line, col + 1)
        frame = frame.f_back
    return UNKNOWN_LOC


def describe_location(loc: Location) -> str:
    """``file:line:col`` plus the source line, for error messages."""
    flc = loc.file_line_col()
    if flc is None:
        return "an unknown location"
    src = linecache.getline(flc.filename, flc.line).rstrip()
    text = f"{flc.filename}:{flc.line}:{flc.col}"
    return text + (f"\n    {src.strip()}" if src else "")


class TraceContext:
    """The function under construction: a builder at the end of its body."""

    _stack: list[TraceContext] = []

    def __init__(self, builder: Builder) -> None:
        self.builder = builder

    def __enter__(self) -> TraceContext:
        TraceContext._stack.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        TraceContext._stack.pop()

    @staticmethod
    def current() -> TraceContext | None:
        return TraceContext._stack[-1] if TraceContext._stack else None

    def emit(self, op_class: Any, *operands: Value, result_types: Sequence[T.Type] | None = None,
             **attrs: Any) -> Value:
        """Build ``op_class`` at the user's location and return its single result."""
        loc = user_location()
        op = op_class.build(*operands, result_types=result_types, location=loc, **attrs)
        self.builder.insert(op)
        return op.results[0]

    def wrap(self, value: Value) -> Tracer:
        return Tracer(value, self)

    # -- constants
    def constant(self, array: Any, dtype: np.dtype | None = None) -> Tracer:
        arr = np.asarray(array, dtype=dtype)
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise TracingError(f"cannot use a value of dtype {arr.dtype} in traced code")
        if arr.dtype.kind == "u":
            arr = arr.astype(np.int64)
        ttype = T.TensorType(arr.shape, T.from_numpy_dtype(arr.dtype))
        return self.wrap(self.emit(tn.ConstantOp, value=DenseElementsAttr(arr, ttype)))


class Tracer:
    """An array-like value recorded into IR. Shapes and dtypes are static and concrete."""

    __slots__ = ("ctx", "value")
    __array_priority__ = 1000

    def __init__(self, value: Value, ctx: TraceContext) -> None:
        if not isinstance(value.type, T.TensorType):
            raise TypeError(f"tracers hold tensors, not {value.type}")
        self.value = value
        self.ctx = ctx

    # -- static metadata
    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.type.shape

    @property
    def dtype(self) -> np.dtype:
        return T.to_numpy_dtype(self.value.type.element_type)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"Tracer(shape={self.shape}, dtype={self.dtype})"

    # -- concretization errors
    def _concrete(self, what: str) -> TracingError:
        return TracingError(
            f"{what} of a traced value at {describe_location(user_location())}\n"
            "A traced value has no concrete value while the function is being traced, so "
            "Python control flow or conversions cannot depend on it. Use np.where (or "
            "avalon's functional ops) for data-dependent choices, or pass the value as a "
            "static (non-array) argument.")

    def __bool__(self) -> bool:
        raise self._concrete("data-dependent Python control flow (bool())")

    def __int__(self) -> int:
        raise self._concrete("int() conversion")

    def __float__(self) -> float:
        raise self._concrete("float() conversion")

    def __index__(self) -> int:
        raise self._concrete("use as a Python index")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise self._concrete("conversion to a numpy array (np.asarray)")

    def item(self) -> Any:
        raise self._concrete(".item()")

    def tolist(self) -> Any:
        raise self._concrete(".tolist()")

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TracingError(
            f"in-place assignment to a traced array at {describe_location(user_location())}: "
            "traced arrays are immutable values; build a new array (np.where, "
            "np.concatenate) instead")

    def __hash__(self) -> int:
        raise TypeError("traced arrays are unhashable")

    # -- numpy protocol
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        from avalon.frontend import numpy_api

        return numpy_api.handle_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        from avalon.frontend import numpy_api

        return numpy_api.handle_function(func, args, kwargs)

    # -- operators
    def __add__(self, o: Any) -> Tracer:
        return binary("add", self, o)

    def __radd__(self, o: Any) -> Tracer:
        return binary("add", o, self)

    def __sub__(self, o: Any) -> Tracer:
        return binary("sub", self, o)

    def __rsub__(self, o: Any) -> Tracer:
        return binary("sub", o, self)

    def __mul__(self, o: Any) -> Tracer:
        return binary("mul", self, o)

    def __rmul__(self, o: Any) -> Tracer:
        return binary("mul", o, self)

    def __truediv__(self, o: Any) -> Tracer:
        return true_divide(self, o)

    def __rtruediv__(self, o: Any) -> Tracer:
        return true_divide(o, self)

    def __floordiv__(self, o: Any) -> Tracer:
        return floor_divide(self, o)

    def __rfloordiv__(self, o: Any) -> Tracer:
        return floor_divide(o, self)

    def __mod__(self, o: Any) -> Tracer:
        return remainder(self, o)

    def __rmod__(self, o: Any) -> Tracer:
        return remainder(o, self)

    def __pow__(self, o: Any) -> Tracer:
        return power(self, o)

    def __rpow__(self, o: Any) -> Tracer:
        return power(o, self)

    def __matmul__(self, o: Any) -> Tracer:
        return matmul(self, o)

    def __rmatmul__(self, o: Any) -> Tracer:
        return matmul(o, self)

    def __neg__(self) -> Tracer:
        return unary("neg", self)

    def __pos__(self) -> Tracer:
        return self

    def __abs__(self) -> Tracer:
        return unary("abs", self)

    def __invert__(self) -> Tracer:
        return unary("not", self)

    def __and__(self, o: Any) -> Tracer:
        return binary("and", self, o)

    def __rand__(self, o: Any) -> Tracer:
        return binary("and", o, self)

    def __or__(self, o: Any) -> Tracer:
        return binary("or", self, o)

    def __ror__(self, o: Any) -> Tracer:
        return binary("or", o, self)

    def __xor__(self, o: Any) -> Tracer:
        return binary("xor", self, o)

    def __rxor__(self, o: Any) -> Tracer:
        return binary("xor", o, self)

    def __lt__(self, o: Any) -> Tracer:
        return compare("lt", self, o)

    def __le__(self, o: Any) -> Tracer:
        return compare("le", self, o)

    def __gt__(self, o: Any) -> Tracer:
        return compare("gt", self, o)

    def __ge__(self, o: Any) -> Tracer:
        return compare("ge", self, o)

    def __eq__(self, o: Any) -> Tracer:  # type: ignore[override]
        return compare("eq", self, o)

    def __ne__(self, o: Any) -> Tracer:  # type: ignore[override]
        return compare("ne", self, o)

    # -- methods
    @property
    def T(self) -> Tracer:
        return transpose(self)

    def transpose(self, *axes: Any) -> Tracer:
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], tuple | list)):
            axes = axes[0]
        return transpose(self, axes or None)

    def reshape(self, *shape: Any, order: str = "C") -> Tracer:
        if order != "C":
            raise TracingError("only C-order reshape is supported")
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return reshape(self, shape)

    def astype(self, dtype: Any, copy: bool = True) -> Tracer:
        return cast(self, np.dtype(dtype))

    def copy(self) -> Tracer:
        return self

    def ravel(self) -> Tracer:
        return reshape(self, (-1,))

    def flatten(self) -> Tracer:
        return reshape(self, (-1,))

    def squeeze(self, axis: Any = None) -> Tracer:
        return squeeze(self, axis)

    def sum(self, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Tracer:
        return reduce("sum", self, axis, keepdims, dtype)

    def prod(self, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Tracer:
        return reduce("prod", self, axis, keepdims, dtype)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return reduce("max", self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return reduce("min", self, axis, keepdims)

    def mean(self, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Tracer:
        return mean(self, axis, keepdims, dtype)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tracer:
        return var(self, axis, keepdims, ddof)

    def std(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tracer:
        return unary("sqrt", var(self, axis, keepdims, ddof))

    def argmax(self, axis: Any = None) -> Tracer:
        return argmax(self, axis)

    def argmin(self, axis: Any = None) -> Tracer:
        return argmax(-self, axis)

    def clip(self, lo: Any = None, hi: Any = None) -> Tracer:
        return clip(self, lo, hi)

    def dot(self, o: Any) -> Tracer:
        return dot(self, o)

    def __getitem__(self, key: Any) -> Tracer:
        return getitem(self, key)


# ----------------------------------------------------------------------------- conversions


def _context(*xs: Any) -> TraceContext:
    for x in xs:
        if isinstance(x, Tracer):
            cur = TraceContext.current()
            if cur is not None and x.ctx is not cur:
                raise TracingError(
                    "a traced value from an enclosing trace was used inside a nested "
                    f"transformation at {describe_location(user_location())}; pass it as an "
                    "argument instead of capturing it")
            return x.ctx
    ctx = TraceContext.current()
    if ctx is None:
        raise TracingError("no function is being traced")
    return ctx


def _is_weak(x: Any) -> bool:
    return isinstance(x, bool | int | float) and not isinstance(x, np.generic)


def result_dtype(*xs: Any) -> np.dtype:
    """numpy's promotion of the operands (Python scalars are weak, NEP 50)."""
    parts = []
    for x in xs:
        if isinstance(x, Tracer):
            parts.append(x.dtype)
        elif _is_weak(x):
            parts.append(x)
        else:
            parts.append(np.asarray(x).dtype)
    dt = np.result_type(*parts)
    if dt.kind == "u":  # unsigned integers are not an IR type: widen to signed
        dt = np.dtype(np.int64)
    return dt


def as_tracer(x: Any, ctx: TraceContext, dtype: np.dtype | None = None) -> Tracer:
    """``x`` as a tracer of ``dtype`` (constants for numpy values and Python scalars)."""
    if isinstance(x, Tracer):
        return cast(x, dtype) if dtype is not None and x.dtype != dtype else x
    if isinstance(x, list | tuple) and any(isinstance(e, Tracer) for e in x):
        return stack([as_tracer(e, ctx, dtype) for e in x], 0)
    arr = np.asarray(x)
    if dtype is not None:
        arr = arr.astype(dtype)
    return ctx.constant(arr)


def cast(x: Tracer, dtype: np.dtype | None) -> Tracer:
    if dtype is None or x.dtype == dtype:
        return x
    t = T.TensorType(x.shape, T.from_numpy_dtype(np.dtype(dtype)))
    return x.ctx.wrap(x.ctx.emit(tn.CastOp, x.value, result_types=[t]))


def broadcast_to(x: Tracer, shape: Sequence[int]) -> Tracer:
    shape = tuple(int(d) for d in shape)
    if x.shape == shape:
        return x
    if len(shape) < x.ndim:
        raise ValueError(f"cannot broadcast shape {x.shape} to {shape}")
    offset = len(shape) - x.ndim
    for i, d in enumerate(x.shape):
        if d != 1 and d != shape[offset + i]:
            raise ValueError(f"operands could not be broadcast together: {x.shape} -> {shape}")
    dims = [offset + i for i in range(x.ndim)]
    t = T.TensorType(shape, x.value.type.element_type)
    return x.ctx.wrap(x.ctx.emit(tn.BroadcastOp, x.value, dims=dims, result_types=[t]))


def _prepare(xs: Sequence[Any], dtype: np.dtype | None = None) -> list[Tracer]:
    """Promote to a common dtype and broadcast to a common shape."""
    ctx = _context(*xs)
    dt = dtype if dtype is not None else result_dtype(*xs)
    ts = [as_tracer(x, ctx, dt) for x in xs]
    shape = np.broadcast_shapes(*(t.shape for t in ts))
    return [broadcast_to(t, shape) for t in ts]


# ------------------------------------------------------------------------- elementwise ops

_BINARY = {"add": tn.AddOp, "sub": tn.SubOp, "mul": tn.MulOp, "div": tn.DivOp,
           "rem": tn.RemOp, "pow": tn.PowOp, "max": tn.MaxOp, "min": tn.MinOp,
           "and": tn.AndOp, "or": tn.OrOp, "xor": tn.XorOp}
_UNARY = {"neg": tn.NegOp, "abs": tn.AbsOp, "exp": tn.ExpOp, "log": tn.LogOp,
          "tanh": tn.TanhOp, "sqrt": tn.SqrtOp, "rsqrt": tn.RsqrtOp, "sin": tn.SinOp,
          "cos": tn.CosOp, "erf": tn.ErfOp, "log1p": tn.Log1pOp, "expm1": tn.Expm1Op,
          "floor": tn.FloorOp, "ceil": tn.CeilOp, "sign": tn.SignOp, "not": tn.NotOp}
_FLOAT_ONLY = {"exp", "log", "tanh", "sqrt", "rsqrt", "sin", "cos", "erf", "log1p", "expm1",
               "floor", "ceil"}


def binary(kind: str, a: Any, b: Any, dtype: np.dtype | None = None) -> Tracer:
    x, y = _prepare([a, b], dtype)
    if kind in ("and", "or", "xor") and x.dtype.kind == "f":
        raise TypeError(f"bitwise '{kind}' is not defined for floating-point arrays")
    return x.ctx.wrap(x.ctx.emit(_BINARY[kind], x.value, y.value))


def unary(kind: str, a: Any) -> Tracer:
    ctx = _context(a)
    x = as_tracer(a, ctx)
    if kind in _FLOAT_ONLY and x.dtype.kind != "f":
        x = cast(x, np.dtype(np.float64))
    if kind == "not" and x.dtype.kind == "f":
        raise TypeError("bitwise not is not defined for floating-point arrays")
    return ctx.wrap(ctx.emit(_UNARY[kind], x.value))


def compare(pred: str, a: Any, b: Any) -> Tracer:
    x, y = _prepare([a, b])
    return x.ctx.wrap(x.ctx.emit(tn.CmpOp, x.value, y.value, predicate=pred))


def where(cond: Any, a: Any, b: Any) -> Tracer:
    ctx = _context(cond, a, b)
    c = as_tracer(cond, ctx)
    if c.dtype != np.bool_:
        c = compare("ne", c, 0)
    x, y = _prepare([a, b])
    shape = np.broadcast_shapes(c.shape, x.shape)
    c, x, y = broadcast_to(c, shape), broadcast_to(x, shape), broadcast_to(y, shape)
    return ctx.wrap(ctx.emit(tn.SelectOp, c.value, x.value, y.value))


def _float_dtype(*xs: Any) -> np.dtype:
    dt = result_dtype(*xs)
    return dt if dt.kind == "f" else np.dtype(np.float64)


def true_divide(a: Any, b: Any) -> Tracer:
    return binary("div", a, b, _float_dtype(a, b))


def floor_divide(a: Any, b: Any) -> Tracer:
    dt = result_dtype(a, b)
    if dt.kind == "f":
        return unary("floor", binary("div", a, b, dt))
    q = binary("div", a, b, dt)  # truncating division
    r = binary("rem", a, b, dt)
    _, y = _prepare([a, b], dt)
    adjust = logical_and(compare("ne", r, 0), compare("ne", compare("lt", r, 0),
                                                      compare("lt", y, 0)))
    return where(adjust, q - 1, q)


def remainder(a: Any, b: Any) -> Tracer:
    """numpy's remainder: the sign follows the divisor."""
    dt = result_dtype(a, b)
    x, y = _prepare([a, b], dt)
    r = binary("rem", x, y)
    adjust = logical_and(compare("ne", r, 0), compare("ne", compare("lt", r, 0),
                                                      compare("lt", y, 0)))
    return where(adjust, r + y, r)


def logical_and(a: Any, b: Any) -> Tracer:
    return binary("and", _as_bool(a), _as_bool(b))


def logical_or(a: Any, b: Any) -> Tracer:
    return binary("or", _as_bool(a), _as_bool(b))


def logical_not(a: Any) -> Tracer:
    return unary("not", _as_bool(a))


def _as_bool(a: Any) -> Any:
    if isinstance(a, Tracer):
        return a if a.dtype == np.bool_ else compare("ne", a, 0)
    return np.asarray(a).astype(bool)


def power(a: Any, b: Any) -> Tracer:
    dt = result_dtype(a, b)
    if _is_weak(b) and not isinstance(b, bool) and float(b) == int(b) and 0 <= int(b) <= 4:
        ctx = _context(a)
        x = as_tracer(a, ctx, dt)
        n = int(b)
        if n == 0:
            return full_like(x, 1)
        out = x
        for _ in range(n - 1):
            out = out * x
        return out
    if dt.kind != "f":
        raise TypeError("integer powers other than small constant exponents are not "
                        "supported in traced code; cast to float first")
    return binary("pow", a, b, dt)


def full_like(x: Tracer, value: Any, dtype: Any = None) -> Tracer:
    dt = np.dtype(dtype) if dtype is not None else x.dtype
    return x.ctx.constant(np.full(x.shape, value, dtype=dt))


def clip(x: Any, lo: Any, hi: Any) -> Tracer:
    out = x
    if lo is not None:
        out = binary("max", out, lo)
    if hi is not None:
        out = binary("min", out, hi)
    return out


# ------------------------------------------------------------------------------- shapes


def _norm_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise np.exceptions.AxisError(f"axis {axis} is out of bounds for array of dimension "
                                      f"{ndim}")
    return axis % ndim if ndim else 0


def _norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int | np.integer):
        return (_norm_axis(int(axis), ndim),)
    axes = tuple(sorted(_norm_axis(int(a), ndim) for a in axis))
    if len(set(axes)) != len(axes):
        raise ValueError("repeated axis")
    return axes


def reshape(x: Tracer, shape: Sequence[int]) -> Tracer:
    shape = [int(d) for d in shape]
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or x.size % known:
            raise ValueError(f"cannot reshape array of size {x.size} into shape "
                             f"{tuple(shape)}")
        shape[shape.index(-1)] = x.size // known
    if math.prod(shape) != x.size:
        raise ValueError(f"cannot reshape array of size {x.size} into shape {tuple(shape)}")
    if tuple(shape) == x.shape:
        return x
    t = T.TensorType(tuple(shape), x.value.type.element_type)
    return x.ctx.wrap(x.ctx.emit(tn.ReshapeOp, x.value, result_types=[t]))


def transpose(x: Tracer, axes: Sequence[int] | None = None) -> Tracer:
    perm = tuple(reversed(range(x.ndim))) if axes is None else tuple(
        _norm_axis(int(a), x.ndim) for a in axes)
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"axes {perm} don't match array of dimension {x.ndim}")
    if perm == tuple(range(x.ndim)):
        return x
    return x.ctx.wrap(x.ctx.emit(tn.TransposeOp, x.value, permutation=list(perm)))


def swapaxes(x: Tracer, a: int, b: int) -> Tracer:
    perm = list(range(x.ndim))
    a, b = _norm_axis(a, x.ndim), _norm_axis(b, x.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def squeeze(x: Tracer, axis: Any = None) -> Tracer:
    if axis is None:
        shape = [d for d in x.shape if d != 1]
    else:
        axes = _norm_axes(axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError("cannot select an axis to squeeze out which has size not "
                                 "equal to one")
        shape = [d for i, d in enumerate(x.shape) if i not in axes]
    return reshape(x, shape)


def expand_dims(x: Tracer, axis: Any) -> Tracer:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = x.ndim + len(axes)
    axes = tuple(sorted(_norm_axis(a, nd) for a in axes))
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, shape)


def concatenate(xs: Sequence[Any], axis: int = 0) -> Tracer:
    ctx = _context(*xs)
    dt = result_dtype(*xs)
    ts = [as_tracer(x, ctx, dt) for x in xs]
    if axis is None:
        ts = [reshape(t, (-1,)) for t in ts]
        axis = 0
    ax = _norm_axis(axis, ts[0].ndim)
    if len(ts) == 1:
        return ts[0]
    return ctx.wrap(ctx.emit(tn.ConcatOp, inputs=[t.value for t in ts], dim=ax))


def stack(xs: Sequence[Any], axis: int = 0) -> Tracer:
    ctx = _context(*xs)
    ts = [as_tracer(x, ctx) for x in xs]
    nd = ts[0].ndim + 1
    ax = _norm_axis(axis, nd)
    return concatenate([expand_dims(t, ax) for t in ts], ax)


# --------------------------------------------------------------------------- reductions


def reduce(kind: str, x: Any, axis: Any = None, keepdims: bool = False,
           dtype: Any = None) -> Tracer:
    ctx = _context(x)
    t = as_tracer(x, ctx)
    if dtype is not None:
        t = cast(t, np.dtype(dtype))
    elif kind in ("sum", "prod") and t.dtype == np.bool_:
        t = cast(t, np.dtype(np.int64))
    axes = _norm_axes(axis, t.ndim)
    out = ctx.wrap(ctx.emit(tn.ReduceOp, t.value, kind=kind, dims=list(axes)))
    if keepdims:
        out = reshape(out, [1 if i in axes else d for i, d in enumerate(t.shape)])
    return out


def mean(x: Any, axis: Any = None, keepdims: bool = False, dtype: Any = None) -> Tracer:
    ctx = _context(x)
    t = as_tracer(x, ctx)
    dt = np.dtype(dtype) if dtype is not None else (
        t.dtype if t.dtype.kind == "f" else np.dtype(np.float64))
    axes = _norm_axes(axis, t.ndim)
    count = math.prod(t.shape[a] for a in axes)
    return reduce("sum", cast(t, dt), axis, keepdims) / np.asarray(count, dtype=dt)


def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tracer:
    ctx = _context(x)
    t = as_tracer(x, ctx)
    m = mean(t, axis, keepdims=True)
    d = t - m
    axes = _norm_axes(axis, t.ndim)
    count = math.prod(t.shape[a] for a in axes) - ddof
    s = reduce("sum", d * d, axis, keepdims)
    return s / np.asarray(count, dtype=s.dtype)


def argmax(x: Any, axis: Any = None) -> Tracer:
    ctx = _context(x)
    t = as_tracer(x, ctx)
    if axis is None:
        t = reshape(t, (-1,))
        axis = 0
    return ctx.wrap(ctx.emit(tn.ArgmaxOp, t.value, dim=_norm_axis(int(axis), t.ndim)))


# ------------------------------------------------------------------------- contractions


def matmul(a: Any, b: Any) -> Tracer:
    ctx = _context(a, b)
    dt = result_dtype(a, b)
    x, y = as_tracer(a, ctx, dt), as_tracer(b, ctx, dt)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("matmul: input operand does not have enough dimensions")
    squeeze_l = x.ndim == 1
    squeeze_r = y.ndim == 1
    if squeeze_l:
        x = reshape(x, (1, x.shape[0]))
    if squeeze_r:
        y = reshape(y, (y.shape[0], 1))
    if x.shape[-1] != y.shape[-2]:
        raise ValueError(f"matmul: mismatch in its core dimension: {x.shape} @ {y.shape}")
    batch = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    x = broadcast_to(x, (*batch, *x.shape[-2:]))
    y = broadcast_to(y, (*batch, *y.shape[-2:]))
    out = ctx.wrap(ctx.emit(tn.MatmulOp, x.value, y.value))
    if squeeze_l or squeeze_r:
        shape = list(out.shape)
        if squeeze_r:
            shape.pop(-1)
        if squeeze_l:
            shape.pop(-2 if not squeeze_r else -1)
        out = reshape(out, shape)
    return out


def dot(a: Any, b: Any) -> Tracer:
    ctx = _context(a, b)
    x, y = as_tracer(a, ctx), as_tracer(b, ctx)
    if x.ndim == 0 or y.ndim == 0:
        return binary("mul", x, y)
    if x.ndim <= 2 and y.ndim <= 2:
        return matmul(x, y)
    raise TracingError("np.dot of arrays with more than 2 dimensions is not supported; use "
                       "np.matmul or np.einsum-free reshapes")


# ----------------------------------------------------------------------------- indexing


def take(x: Any, indices: Any, axis: int | None = None) -> Tracer:
    """``np.take``: gather whole slices along ``axis`` (indices must be in range)."""
    ctx = _context(x, indices)
    t = as_tracer(x, ctx)
    if axis is None:
        t = reshape(t, (-1,))
        axis = 0
    ax = _norm_axis(axis, t.ndim)
    idx = as_tracer(indices, ctx)
    if idx.dtype.kind not in "iu":
        raise TypeError("indices must be integers")
    if idx.dtype != np.int64 and idx.dtype != np.int32:
        idx = cast(idx, np.dtype(np.int64))
    ishape = idx.shape
    out_shape = (*t.shape[:ax], *ishape, *t.shape[ax + 1:])
    k = len(ishape)
    # Input laid out as [pre..., A, 1 (k-1 times), post...] and broadcast along the index dims
    if k == 0:
        idx = reshape(idx, (1,))
        ishape, k = (1,), 1
        squeeze_after = True
    else:
        squeeze_after = False
    full_shape = (*t.shape[:ax], *ishape, *t.shape[ax + 1:])
    src = reshape(t, (*t.shape[:ax], t.shape[ax], *([1] * (k - 1)), *t.shape[ax + 1:]))
    src = broadcast_to(src, (*t.shape[:ax], t.shape[ax], *ishape[1:], *t.shape[ax + 1:]))
    ind = reshape(idx, (*([1] * ax), *ishape, *([1] * (t.ndim - ax - 1))))
    ind = broadcast_to(ind, full_shape)
    out = ctx.wrap(ctx.emit(tn.GatherOp, src.value, ind.value, dim=ax))
    if squeeze_after:
        out = reshape(out, out_shape)
    return out


def take_along_axis(x: Any, indices: Any, axis: int) -> Tracer:
    ctx = _context(x, indices)
    t, idx = as_tracer(x, ctx), as_tracer(indices, ctx)
    ax = _norm_axis(axis, t.ndim)
    if idx.ndim != t.ndim:
        raise ValueError("take_along_axis: indices and arr must have the same number of "
                         "dimensions")
    shape = tuple(idx.shape[i] if i == ax else max(t.shape[i], idx.shape[i])
                  for i in range(t.ndim))
    src = broadcast_to(t, tuple(t.shape[i] if i == ax else shape[i] for i in range(t.ndim)))
    ind = broadcast_to(idx, shape)
    if ind.dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
        ind = cast(ind, np.dtype(np.int64))
    return ctx.wrap(ctx.emit(tn.GatherOp, src.value, ind.value, dim=ax))


def getitem(x: Tracer, key: Any) -> Tracer:
    if not isinstance(key, tuple):
        key = (key,)
    # Expand the ellipsis.
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_real > x.ndim:
        raise IndexError(f"too many indices for array: array is {x.ndim}-dimensional, but "
                         f"{n_real} were indexed")
    expanded: list[Any] = []
    for k in key:
        if k is Ellipsis:
            expanded.extend([slice(None)] * (x.ndim - n_real))
        else:
            expanded.append(k)
    if not any(k is Ellipsis for k in key):
        expanded.extend([slice(None)] * (x.ndim - n_real))
    start, limit, stride, out_shape = [], [], [], []
    int_dims: list[int] = []
    advanced: list[tuple[int, Any]] = []
    d = 0
    for k in expanded:
        if k is None:
            out_shape.append(("new", 1))
            continue
        n = x.shape[d]
        if isinstance(k, slice):
            s, e, st = k.indices(n)
            if st <= 0:
                raise TracingError("negative slice steps are not supported in traced code")
            e = max(e, s)
            start.append(s)
            limit.append(e)
            stride.append(st)
            out_shape.append(("dim", d))
        elif isinstance(k, int | np.integer) and not isinstance(k, bool):
            i = int(k)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {d} with size {n}")
            i %= n
            start.append(i)
            limit.append(i + 1)
            stride.append(1)
            int_dims.append(d)
        elif isinstance(k, Tracer | np.ndarray | list):
            if (isinstance(k, Tracer) and k.dtype == np.bool_) or (
                    not isinstance(k, Tracer) and np.asarray(k).dtype == np.bool_):
                raise TracingError("boolean mask indexing has a data-dependent shape and "
                                   "cannot be traced; use np.where instead")
            start.append(0)
            limit.append(n)
            stride.append(1)
            advanced.append((d, k))
            out_shape.append(("adv", d))
        else:
            raise TypeError(f"unsupported index {k!r}")
        d += 1
    out = x
    if any(s != 0 for s in start) or any(e != n for e, n in zip(limit, x.shape, strict=True)) \
            or any(st != 1 for st in stride):
        out = x.ctx.wrap(x.ctx.emit(tn.SliceOp, x.value, start=start, limit=limit,
                                    stride=stride))
    if len(advanced) > 1:
        raise TracingError("indexing with more than one integer array is not supported in "
                           "traced code")
    if advanced:
        ad, idx = advanced[0]
        out = take(out, idx, ad)
        ishape = out.shape[ad:ad + (out.ndim - x.ndim + 1)]
        # Drop integer-indexed dims and insert new axes.
        shape = []
        for kind, v in out_shape:
            if kind == "new":
                shape.append(1)
            elif kind == "adv":
                shape.extend(ishape)
            else:
                shape.append(out.shape[v if v < ad else v + len(ishape) - 1])
        return reshape(out, shape)
    shape = [1 if kind == "new" else out.shape[v] for kind, v in out_shape]
    return reshape(out, shape)


def _register() -> None:
    from avalon.frontend.pytree import register_leaf_type

    register_leaf_type(Tracer)


_register()
