"""Reference semantics of the ``tensor`` dialect: one vectorised numpy expression per op.

Runtime values are numpy arrays of the element dtype (0-d arrays for rank 0), treated as
immutable. Every result has exactly its type's dtype. Float functions beyond ``+ - * /`` are
evaluated in float64 and rounded once to the result type, as the ``math`` dialect's semantics
are, so a named op and its ``tensor.generic`` form agree; bf16 (held in float32) is computed in
float64 and rounded to bf16 once. Out-of-range indices (``tensor.gather``, generic indexing
maps) and integer division by zero are located runtime errors, never out-of-bounds reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from avalon.backends.interpreter.registry import ExecContext, impl, interp_error
from avalon.backends.interpreter.values import round_bf16
from avalon.ir.affine import AffineDimExpr
from avalon.ir.attributes import DenseElementsAttr
from avalon.ir.core import Operation
from avalon.ir.dialects.tensor import reduce_identity
from avalon.ir.types import FloatType, TensorType, Type, bf16, f16, i1, to_numpy_dtype

F64 = np.dtype(np.float64)

# ------------------------------------------------------------------------------- helpers


def _finish(value: Any, t: Type) -> np.ndarray:
    """``value`` as an array of exactly ``t``'s element dtype (bf16 rounded)."""
    et = t.element_type  # type: ignore[attr-defined]
    arr = np.asarray(value)
    if et == bf16:
        return np.asarray(round_bf16(arr), dtype=np.float32)
    return arr.astype(to_numpy_dtype(et), copy=False)


def _result_type(op: Operation, i: int = 0) -> TensorType:
    return op.results[i].type  # type: ignore[return-value]


def _ints(op: Operation, name: str) -> tuple[int, ...]:
    return tuple(int(v) for v in op.attributes[name].values)  # type: ignore[union-attr]


def _int(op: Operation, name: str) -> int:
    return int(op.attributes[name].value)  # type: ignore[union-attr]


def _compute_dtype(t: Type) -> np.dtype | None:
    """Dtype float arithmetic is done in: float64 for bf16 (rounded afterwards), else None
    (the element dtype itself)."""
    return F64 if t.element_type == bf16 else None  # type: ignore[attr-defined]


def _up(x: np.ndarray, dtype: np.dtype | None) -> np.ndarray:
    return x if dtype is None else x.astype(dtype)


# --------------------------------------------------------------------------- constants


@impl("tensor.constant")
def _constant(ctx: ExecContext, op: Operation, args: list) -> list:
    """The attribute's (read-only) array."""
    value = op.attributes["value"]
    if not isinstance(value, DenseElementsAttr):
        raise interp_error(op, "has no data to interpret: its value was elided from the text")
    return [value.array]


@impl("tensor.empty")
def _empty(ctx: ExecContext, op: Operation, args: list) -> list:
    """Unspecified contents, made visible: NaN for floats, zero for integers."""
    t = _result_type(op)
    fill = math.nan if isinstance(t.element_type, FloatType) else 0
    return [np.full(t.shape, fill, dtype=to_numpy_dtype(t.element_type))]


@impl("tensor.iota")
def _iota(ctx: ExecContext, op: Operation, args: list) -> list:
    """``arange`` along ``dim``, broadcast over the other dimensions."""
    t = _result_type(op)
    d = _int(op, "dim")
    shape = [1] * t.rank
    shape[d] = t.shape[d]
    line = np.arange(t.shape[d], dtype=np.int64).reshape(shape)
    return [_finish(np.broadcast_to(line, t.shape), t)]


# ------------------------------------------------------------------ Philox random numbers

_MASK32 = np.uint64(0xFFFFFFFF)
_PHILOX_M = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_PHILOX_W = (np.uint64(0x9E3779B9), np.uint64(0xBB67AE85))


def philox4x32_10(c0: np.ndarray, c1: np.ndarray, c2: np.ndarray, c3: np.ndarray,
                  k0: int, k1: int) -> tuple[np.ndarray, ...]:
    """Philox-4x32 with 10 rounds on counter words (uint64 arrays holding 32-bit values)."""
    key0, key1 = np.uint64(k0) & _MASK32, np.uint64(k1) & _MASK32
    m0, m1 = _PHILOX_M
    for _ in range(10):
        p0 = m0 * c0
        p1 = m1 * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ key0, p1 & _MASK32,
                          (p0 >> np.uint64(32)) ^ c3 ^ key1, p0 & _MASK32)
        key0 = (key0 + _PHILOX_W[0]) & _MASK32
        key1 = (key1 + _PHILOX_W[1]) & _MASK32
    return c0, c1, c2, c3


def philox_words(seed: int, count: int) -> np.ndarray:
    """The first ``count`` 32-bit words (as uint64) of the stream keyed by ``seed``."""
    bits = int(seed) & 0xFFFFFFFFFFFFFFFF
    blocks = np.arange(-(-count // 4), dtype=np.uint64)
    zero = np.zeros_like(blocks)
    words = philox4x32_10(blocks & _MASK32, blocks >> np.uint64(32), zero, zero,
                          bits & 0xFFFFFFFF, bits >> 32)
    return np.stack(words, axis=1).reshape(-1)[:count]


_PRECISION = {"f16": 11, "bf16": 8, "f32": 24}


def _unit_f64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """53-bit uniforms in [0, 1) from two words each."""
    return ((a >> np.uint64(5)).astype(F64) * 2.0**26 + (b >> np.uint64(6)).astype(F64)) \
        * 2.0**-53


def uniform_bits(seed: int, t: TensorType) -> np.ndarray:
    """The values of ``tensor.random_uniform`` (see its docstring for the algorithm)."""
    n = t.num_elements
    et = t.element_type
    if str(et) == "f64":
        w = philox_words(seed, 2 * n)
        u = _unit_f64(w[0::2], w[1::2])
    else:
        p = _PRECISION[str(et)]
        u = (philox_words(seed, n) >> np.uint64(32 - p)).astype(F64) * 2.0**-p
    return _finish(u.reshape(t.shape), t)


@impl("tensor.random_uniform")
def _random_uniform(ctx: ExecContext, op: Operation, args: list) -> list:
    """Philox-4x32-10 words mapped to exact uniforms in [0, 1)."""
    return [uniform_bits(int(args[0]), _result_type(op))]


@impl("tensor.random_normal")
def _random_normal(ctx: ExecContext, op: Operation, args: list) -> list:
    """Box-Muller on pairs of 53-bit uniforms, in float64, rounded to the element type."""
    t = _result_type(op)
    w = philox_words(int(args[0]), 4 * t.num_elements)
    u1 = _unit_f64(w[0::4], w[1::4])
    u2 = _unit_f64(w[2::4], w[3::4])
    z = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
    return [_finish(z.reshape(t.shape), t)]


# --------------------------------------------------------------------------- elementwise


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorised float64 error function: the everywhere-positive series
    ``erf x = 2x/sqrt(pi) exp(-x^2) sum_n (2x^2)^n / (1*3*...*(2n+1))`` (no cancellation),
    and +-1 beyond |x| = 6, where erf rounds to +-1 in float64."""
    x = np.asarray(x, dtype=F64)
    xs = np.clip(x, -6.0, 6.0)
    x2 = 2.0 * xs * xs
    term = np.ones_like(xs)
    total = np.ones_like(xs)
    for n in range(1, 240):
        term = term * x2 / (2 * n + 1)
        total = total + term
    series = 2.0 / math.sqrt(math.pi) * xs * np.exp(-xs * xs) * total
    return np.where(np.abs(x) > 6.0, np.sign(x), series)


def _register_unary_f64(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    def run(ctx: ExecContext, op: Operation, args: list) -> list:
        return [_finish(fn(args[0].astype(F64)), _result_type(op))]

    run.__doc__ = f"``{name}`` evaluated in float64, rounded once to the result type."
    impl(f"tensor.{name}")(run)


for _name, _fn in (
    ("exp", np.exp), ("log", np.log), ("tanh", np.tanh), ("sqrt", np.sqrt),
    ("rsqrt", lambda x: 1.0 / np.sqrt(x)), ("sin", np.sin), ("cos", np.cos), ("erf", erf),
    ("log1p", np.log1p), ("expm1", np.expm1),
):
    _register_unary_f64(_name, _fn)


def _register_unary_exact(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    def run(ctx: ExecContext, op: Operation, args: list) -> list:
        return [_finish(fn(args[0]), _result_type(op))]

    run.__doc__ = f"``{name}``, exact in the element dtype (integers wrap)."
    impl(f"tensor.{name}")(run)


def _sign(x: np.ndarray) -> np.ndarray:
    one = np.ones((), x.dtype)
    return np.where(x > 0, one, np.where(x < 0, -one, x))


for _name, _fn in (
    ("neg", np.negative), ("abs", np.abs), ("floor", np.floor), ("ceil", np.ceil),
    ("sign", _sign), ("not", np.invert),
):
    _register_unary_exact(_name, _fn)


def _check_divisor(op: Operation, b: np.ndarray) -> None:
    if b.dtype.kind in "iu" and not b.all():
        where = tuple(int(i) for i in np.argwhere(b == 0)[0])
        raise interp_error(op, f"divides by zero (divisor element at {where})")


def _div_int(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    q = a // b  # floor division; truncation adds one where the signs differ and r != 0
    return q + ((a - q * b != 0) & ((a ^ b) < 0))


def _rem_int(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r = a % b  # takes the divisor's sign; C's remainder takes the dividend's
    return r - b * ((r != 0) & ((a ^ b) < 0))


def _maximum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind != "f":
        return np.maximum(a, b)
    return np.where(a == b, np.where(np.signbit(a), b, a), np.maximum(a, b))


def _minimum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind != "f":
        return np.minimum(a, b)
    return np.where(a == b, np.where(np.signbit(a), a, b), np.minimum(a, b))


_FLOAT_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "rem": np.fmod, "max": _maximum, "min": _minimum,
}
_INT_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": _div_int, "rem": _rem_int,
    "max": _maximum, "min": _minimum, "and": np.bitwise_and, "or": np.bitwise_or,
    "xor": np.bitwise_xor,
}


def _register_binary(name: str) -> None:
    float_fn, int_fn = _FLOAT_BINARY.get(name), _INT_BINARY.get(name)

    def run(ctx: ExecContext, op: Operation, args: list) -> list:
        a, b = args
        t = _result_type(op)
        if a.dtype.kind == "f":
            cd = _compute_dtype(t)
            return [_finish(float_fn(_up(a, cd), _up(b, cd)), t)]  # type: ignore[misc]
        if name in ("div", "rem"):
            _check_divisor(op, b)
        return [_finish(int_fn(a, b), t)]  # type: ignore[misc]

    run.__doc__ = (f"``{name}`` in the element dtype (IEEE for floats, bf16 via float64; "
                   "two's complement wrapping for integers).")
    impl(f"tensor.{name}")(run)


for _name in ("add", "sub", "mul", "div", "rem", "max", "min", "and", "or", "xor"):
    _register_binary(_name)


@impl("tensor.pow")
def _pow(ctx: ExecContext, op: Operation, args: list) -> list:
    """``pow`` evaluated in float64, rounded once to the result type."""
    return [_finish(np.power(args[0].astype(F64), args[1].astype(F64)), _result_type(op))]


_CMP = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
        "gt": np.greater, "ge": np.greater_equal}


@impl("tensor.cmp")
def _cmp(ctx: ExecContext, op: Operation, args: list) -> list:
    """numpy comparisons: ordered for floats (NaN false except ``ne``), signed integers,
    ``False < True`` for i1."""
    fn = _CMP[op.attributes["predicate"].value]  # type: ignore[union-attr]
    return [np.asarray(fn(args[0], args[1]))]


@impl("tensor.select")
def _select(ctx: ExecContext, op: Operation, args: list) -> list:
    """``np.where(cond, true_value, false_value)``."""
    return [_finish(np.where(*args), _result_type(op))]


def cast_array(x: np.ndarray, src: Type, dst: Type) -> np.ndarray:
    """Element conversion with ``tensor.cast``'s semantics."""
    ddt = to_numpy_dtype(dst)
    if dst == i1:
        return np.asarray(x != 0)
    if isinstance(dst, FloatType):
        if dst == bf16:
            return np.asarray(round_bf16(x.astype(F64)), dtype=np.float32)
        if dst == f16 and not isinstance(src, FloatType):
            x = x.astype(F64)  # integers reach f16 through an exact float64
        return x.astype(ddt)
    if isinstance(src, FloatType):
        width = dst.width  # type: ignore[attr-defined]
        t = np.trunc(x.astype(F64))
        hi, lo = 2.0 ** (width - 1), -(2.0 ** (width - 1))
        inside = (t >= lo) & (t < hi)
        exact = np.where(inside, t, 0.0).astype(ddt)
        top, bottom = np.iinfo(ddt).max, np.iinfo(ddt).min
        return np.where(t >= hi, top, np.where(t < lo, bottom, exact)).astype(ddt)
    return x.astype(ddt)  # i1 zero-extends; other integers keep their low bits (numpy wraps)


@impl("tensor.cast")
def _cast(ctx: ExecContext, op: Operation, args: list) -> list:
    """Conversion: round to nearest into floats, truncating and saturating into integers
    (NaN -> 0), wrapping between integers, ``x != 0`` into i1."""
    src = op.operands[0].type.element_type  # type: ignore[attr-defined]
    return [np.asarray(cast_array(args[0], src, _result_type(op).element_type))]


@impl("tensor.stop_gradient")
def _stop_gradient(ctx: ExecContext, op: Operation, args: list) -> list:
    """The operand itself (the op only matters to autodiff)."""
    return [args[0]]


# -------------------------------------------------------------------------- data movement


@impl("tensor.broadcast")
def _broadcast(ctx: ExecContext, op: Operation, args: list) -> list:
    """Reshape so operand dim i sits at result dim ``dims[i]``, then ``broadcast_to``."""
    t = _result_type(op)
    shape = [1] * t.rank
    for i, d in enumerate(_ints(op, "dims")):
        shape[d] = args[0].shape[i]
    return [np.broadcast_to(args[0].reshape(shape), t.shape)]


@impl("tensor.reshape")
def _reshape(ctx: ExecContext, op: Operation, args: list) -> list:
    """Row-major ``reshape``."""
    return [args[0].reshape(_result_type(op).shape)]


@impl("tensor.transpose")
def _transpose(ctx: ExecContext, op: Operation, args: list) -> list:
    """``np.transpose(x, permutation)``."""
    return [np.transpose(args[0], _ints(op, "permutation"))]


@impl("tensor.slice")
def _slice(ctx: ExecContext, op: Operation, args: list) -> list:
    """Basic slicing ``x[start:limit:stride, ...]``."""
    index = tuple(slice(s, e, k) for s, e, k in zip(_ints(op, "start"), _ints(op, "limit"),
                                                     _ints(op, "stride")))
    return [args[0][index]]


@impl("tensor.pad")
def _pad(ctx: ExecContext, op: Operation, args: list) -> list:
    """A result filled with the padding value, the input written at stride
    ``interior + 1`` from ``low``."""
    x, value = args
    t = _result_type(op)
    out = np.full(t.shape, value, dtype=x.dtype)
    index = tuple(slice(lo, lo + (n - 1) * (inner + 1) + 1, inner + 1) if n else slice(0, 0)
                  for n, lo, inner in zip(x.shape, _ints(op, "low"), _ints(op, "interior")))
    out[index] = x
    return [out]


@impl("tensor.concat")
def _concat(ctx: ExecContext, op: Operation, args: list) -> list:
    """``np.concatenate`` along ``dim``."""
    return [np.concatenate(args, axis=_int(op, "dim"))]


@impl("tensor.gather")
def _gather(ctx: ExecContext, op: Operation, args: list) -> list:
    """``np.take_along_axis`` after checking every index lies in ``[0, size)``."""
    x, idx = args
    d = _int(op, "dim")
    n = x.shape[d]
    bad = (idx < 0) | (idx >= n)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise interp_error(op, f"index {int(idx[where])} at position {where} is out of range "
                               f"for dimension {d} of size {n}")
    return [np.take_along_axis(x, idx.astype(np.int64), axis=d)]


# ------------------------------------------------------------------------------ reductions


@impl("tensor.reduce")
def _reduce(ctx: ExecContext, op: Operation, args: list) -> list:
    """numpy reductions over ``dims``; float sums and products are accumulated in float64
    and rounded once; empty reductions give the identity."""
    x = args[0]
    t = _result_type(op)
    kind = op.attributes["kind"].value  # type: ignore[union-attr]
    axes = _ints(op, "dims")
    if kind in ("sum", "prod"):
        fn = np.sum if kind == "sum" else np.prod
        if x.dtype.kind == "f":
            return [_finish(fn(x.astype(F64), axis=axes), t)]
        return [_finish(fn(x, axis=axes, dtype=x.dtype), t)]
    fn = np.max if kind == "max" else np.min
    initial = reduce_identity(kind, t.element_type)
    return [_finish(fn(x, axis=axes, initial=initial), t)]


@impl("tensor.argmax")
def _argmax(ctx: ExecContext, op: Operation, args: list) -> list:
    """``np.argmax``: first maximal index, NaN counting as maximal."""
    return [np.asarray(np.argmax(args[0], axis=_int(op, "dim")), dtype=np.int64)]


# ---------------------------------------------------------------------------- contractions


def _accumulation_dtype(dtype: np.dtype, et: Type) -> np.dtype | None:
    """Products are accumulated in float32 for f16 and float64 for bf16."""
    if et == bf16:
        return F64
    if et == f16:
        return np.dtype(np.float32)
    return None


@impl("tensor.matmul")
def _matmul(ctx: ExecContext, op: Operation, args: list) -> list:
    """``np.matmul`` (f16/bf16 accumulate in a wider float, rounded once)."""
    t = _result_type(op)
    acc = _accumulation_dtype(args[0].dtype, t.element_type)
    return [_finish(np.matmul(_up(args[0], acc), _up(args[1], acc)), t)]


def _windows(x: np.ndarray, window: tuple[int, ...], stride: tuple[int, ...],
             dilation: tuple[int, ...]) -> np.ndarray:
    """Views ``[..., P..., K...]`` of the trailing ``len(window)`` dims of (padded) ``x``:
    ``out[..., p, k] = x[..., p * stride + k * dilation]``."""
    nsp = len(window)
    spans = tuple((k - 1) * d + 1 for k, d in zip(window, dilation))
    axes = tuple(range(x.ndim - nsp, x.ndim))
    v = sliding_window_view(x, spans, axis=axes)
    lead = (slice(None),) * (x.ndim - nsp)
    return v[(*lead, *(slice(None, None, s) for s in stride),
              *(slice(None, None, d) for d in dilation))]


def _pad_spatial(x: np.ndarray, low: tuple[int, ...], high: tuple[int, ...],
                 value: Any) -> np.ndarray:
    lead = [(0, 0)] * (x.ndim - len(low))
    return np.pad(x, lead + list(zip(low, high)), constant_values=value)


@impl("tensor.conv")
def _conv(ctx: ExecContext, op: Operation, args: list) -> list:
    """Zero-pad, take strided and dilated windows with ``sliding_window_view`` and contract
    them with the grouped filter in one ``einsum``."""
    x, w = args
    t = _result_type(op)
    acc = _accumulation_dtype(x.dtype, t.element_type)
    x, w = _up(x, acc), _up(w, acc)
    groups = _int(op, "groups")
    nsp = x.ndim - 2
    xp = _pad_spatial(x, _ints(op, "padding_low"), _ints(op, "padding_high"), 0)
    win = _windows(xp, w.shape[2:], _ints(op, "stride"), _ints(op, "dilation"))
    n, c = x.shape[:2]
    o = w.shape[0]
    out_sp = win.shape[2:2 + nsp]
    win = win.reshape(n, groups, c // groups, *out_sp, *w.shape[2:])
    wg = w.reshape(groups, o // groups, c // groups, *w.shape[2:])
    letters = "abcdefghijklmnopqrstuvwxyz"
    ps, ks = letters[:nsp], letters[nsp:2 * nsp]
    spec = f"NGC{ps}{ks},GFC{ks}->NGF{ps}"
    out = np.einsum(spec, win, wg, optimize=True)
    return [_finish(out.reshape(n, o, *out_sp), t)]


@impl("tensor.pool")
def _pool(ctx: ExecContext, op: Operation, args: list) -> list:
    """``sliding_window_view`` over the padded trailing dims, then max or mean over the
    window axes (padding ignored by max; counted or not by avg per ``count_include_pad``)."""
    x = args[0]
    t = _result_type(op)
    window = _ints(op, "window")
    stride = _ints(op, "stride")
    low, high = _ints(op, "padding_low"), _ints(op, "padding_high")
    ones = (1,) * len(window)
    win_axes = tuple(range(x.ndim, x.ndim + len(window)))
    kind = op.attributes["kind"].value  # type: ignore[union-attr]
    if kind == "max":
        lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xp = _pad_spatial(x, low, high, lowest)
        return [_finish(_windows(xp, window, stride, ones).max(axis=win_axes), t)]
    xd = x.astype(F64)
    sums = _windows(_pad_spatial(xd, low, high, 0.0), window, stride, ones).sum(axis=win_axes)
    a = op.attributes.get("count_include_pad")
    if a is None or a.value:  # type: ignore[union-attr]
        return [_finish(sums / math.prod(window), t)]
    mask = _pad_spatial(np.ones(x.shape[x.ndim - len(window):]), low, high, 0.0)
    counts = _windows(mask, window, stride, ones).sum(axis=tuple(range(len(window),
                                                                       2 * len(window))))
    return [_finish(sums / counts, t)]


# ------------------------------------------------------------------------ tensor.generic


def _indices(op: Operation, k: int, exprs: tuple, grids: list, shape: tuple[int, ...]
             ) -> tuple:
    """Index arrays of operand ``k`` at the current points, bounds-checked."""
    out = []
    for j, e in enumerate(exprs):
        idx = np.asarray(e.evaluate(grids))
        n = shape[j]
        bad = (idx < 0) | (idx >= n)
        if bad.any():
            v = int(idx[tuple(np.argwhere(bad)[0])]) if idx.ndim else int(idx)
            raise interp_error(op, f"indexing map #{k} reads index {v} of dimension {j} of "
                                   f"operand #{k}, which has size {n}")
        out.append(idx)
    return tuple(out)


@impl("tensor.generic")
def _generic(ctx: ExecContext, op: Operation, args: list) -> list:
    """Vectorised over the parallel dimensions: each block argument is bound to the whole
    array of its operand's elements at every parallel point, and the body is folded over the
    reduction points in lexicographic order (one ``run_region`` per reduction point)."""
    n_in = len(op.inputs)  # type: ignore[attr-defined]
    ins, outs = args[:n_in], args[n_in:]
    maps = op.maps  # type: ignore[attr-defined]
    iters = op.iterators  # type: ignore[attr-defined]
    extents = op.loop_extents()  # type: ignore[attr-defined]
    par = [d for d, it in enumerate(iters) if it == "parallel"]
    red = [d for d, it in enumerate(iters) if it == "reduction"]
    pshape = tuple(extents[d] for d in par)
    grids: list[Any] = [0] * len(iters)
    for j, d in enumerate(par):
        shape = [1] * len(par)
        shape[j] = extents[d]
        grids[d] = np.arange(extents[d], dtype=np.int64).reshape(shape)
    out_types = [r.type for r in op.results]
    accs = []
    for k, (m, init) in enumerate(zip(maps[n_in:], outs)):
        idx = _indices(op, n_in + k, m.results, grids, init.shape)
        accs.append(np.broadcast_to(np.asarray(init[idx]), pshape))
    uses_red = [any(_mentions(e, red) for e in m.results) for m in maps[:n_in]]
    invariant = [None if uses_red[k] else np.asarray(ins[k][_indices(
        op, k, maps[k].results, grids, ins[k].shape)]) for k in range(n_in)]
    region = op.regions[0]
    for point in np.ndindex(*(extents[d] for d in red)):
        for d, v in zip(red, point):
            grids[d] = v
        values = [invariant[k] if invariant[k] is not None else np.asarray(
            ins[k][_indices(op, k, maps[k].results, grids, ins[k].shape)])
            for k in range(n_in)]
        yielded = ctx.run_region(region, [*values, *accs])
        accs = [np.broadcast_to(_finish(y, t), pshape) for y, t in zip(yielded, out_types)]
    results = []
    for k, (m, acc, t) in enumerate(zip(maps[n_in:], accs, out_types)):
        for d in red:
            grids[d] = 0
        res = np.empty(t.shape, dtype=acc.dtype)
        res[_indices(op, n_in + k, m.results, grids, t.shape)] = acc
        results.append(res)
    return results


def _mentions(e: Any, dims: list[int]) -> bool:
    """Whether affine expression ``e`` uses any of the loop dimensions ``dims``."""
    if isinstance(e, AffineDimExpr):
        return e.position in dims
    return any(_mentions(getattr(e, side), dims) for side in ("lhs", "rhs") if hasattr(e, side))
