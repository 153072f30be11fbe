"""VJP rules of the contraction ops: ``tensor.matmul``, ``tensor.conv`` and ``tensor.pool``.

Notation for convolution (per spatial dimension): input extent ``S``, filter extent ``K``,
output extent ``P``, stride ``s``, dilation ``d``, padding ``lo``/``hi``, ``G`` groups of
``Cg = C / G`` input and ``Og = O / G`` output channels. The forward op computes
``out[n, o, p] = sum_{c, k} xpad[n, g*Cg + c, p*s + k*d] * w[o, c, k]`` with ``g = o // Og``.

* Input gradient: ``dx[n, g*Cg + c, i] = sum_{o in g, p, k : p*s + k*d = i + lo} dout[n, o, p]
  * w[o, c, k]``. Spreading ``dout`` with ``s - 1`` zeros between elements (interior padding)
  and flipping the filter (``k' = K - 1 - k``) turns this into a stride-1 convolution with
  dilation ``d`` of the spread cotangent, padded by ``L = (K - 1)*d - lo`` before and
  ``H = S + lo - 1 - (P - 1)*s`` after (cropped where negative), with the filter regrouped
  from ``[G*Og, Cg, K]`` to ``[G*Cg, Og, K]``.
* Filter gradient: ``dw[o, c, k] = sum_{n, p} xpad[n, g*Cg + c, k*d + p*s] * dout[n, o, p]``:
  a convolution in which the roles of stride and dilation swap, the batch ``N`` becomes the
  contracted channel dimension (``G`` groups of ``N``) and the input channels ``Cg`` become the
  batch; its spatial extent is at least ``K`` and is cropped to ``K``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.dialects import tensor as T
from avalon.ir.types import TensorType, i64
from avalon.passes.vjp_rules import (
    add,
    broadcast,
    cmp,
    constant,
    div,
    like,
    pad_zeros,
    reshape,
    select,
    slice_,
    tensor_type,
    transpose,
    vjp,
    zeros,
)


def _ints(op: Operation, name: str) -> list[int]:
    return [int(v) for v in op.attributes[name].values]  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ matmul


def _swap_last_two(b: Builder, v: Value) -> Value:
    r = tensor_type(v).rank
    return transpose(b, v, [*range(r - 2), r - 1, r - 2])


@vjp("tensor.matmul")
def _matmul(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    g = cts[0]
    x, y = op.operands
    gx = b.create(T.MatmulOp, g, _swap_last_two(b, y)).result
    gy = b.create(T.MatmulOp, _swap_last_two(b, x), g).result
    return [gx, gy]


# -------------------------------------------------------------------------------- conv


def _conv(b: Builder, x: Value, w: Value, stride: list[int], low: list[int],
          high: list[int], dilation: list[int], groups: int) -> Value:
    return b.create(T.ConvOp, x, w, stride=stride, padding_low=low, padding_high=high,
                    dilation=dilation, groups=groups).result


def _flip_spatial(b: Builder, w: Value) -> Value:
    """Reverse every spatial dimension of a filter (gathers with reversed constant indices)."""
    shape = tensor_type(w).shape
    for d in range(2, len(shape)):
        k = shape[d]
        if k == 1:
            continue
        line = np.arange(k - 1, -1, -1, dtype=np.int64).reshape(
            [k if i == d else 1 for i in range(len(shape))])
        idx = constant(b, np.broadcast_to(line, shape), TensorType(shape, i64))
        w = b.create(T.GatherOp, w, idx, dim=d).result
    return w


def conv_input_grad(b: Builder, g: Value, w: Value, in_shape: tuple[int, ...],
                    stride: list[int], low: list[int], dilation: list[int],
                    groups: int) -> Value:
    """Cotangent of a convolution's input, given the output cotangent ``g`` and filter ``w``."""
    gt, wt = tensor_type(g), tensor_type(w)
    n, o = gt.shape[:2]
    c = in_shape[1]
    og, cg = o // groups, c // groups
    ks, ps, ss = wt.shape[2:], gt.shape[2:], in_shape[2:]
    nsp = len(ks)
    lead_l = [(k - 1) * d - lo for k, d, lo in zip(ks, dilation, low)]
    lead_h = [s + lo - 1 - (p - 1) * st for s, lo, p, st in zip(ss, low, ps, stride)]
    spread = pad_zeros(b, g, [0, 0, *(max(v, 0) for v in lead_l)],
                       [0, 0, *(max(v, 0) for v in lead_h)], [0, 0, *(s - 1 for s in stride)])
    sp_shape = tensor_type(spread).shape
    start = [0, 0, *(max(-v, 0) for v in lead_l)]
    limit = [n, o, *(e - max(-v, 0) for e, v in zip(sp_shape[2:], lead_h))]
    spread = slice_(b, spread, start, limit, [1] * (nsp + 2))
    regrouped = reshape(b, w, (groups, og, cg, *ks))
    regrouped = transpose(b, regrouped, [0, 2, 1, *range(3, nsp + 3)])
    regrouped = _flip_spatial(b, reshape(b, regrouped, (c, og, *ks)))
    return _conv(b, spread, regrouped, [1] * nsp, [0] * nsp, [0] * nsp, dilation, groups)


def conv_filter_grad(b: Builder, x: Value, g: Value, w_shape: tuple[int, ...],
                     stride: list[int], low: list[int], dilation: list[int],
                     groups: int) -> Value:
    """Cotangent of a convolution's filter, given its input ``x`` and output cotangent ``g``."""
    xt, gt = tensor_type(x), tensor_type(g)
    n, c = xt.shape[:2]
    cg = c // groups
    ks, ps, ss = w_shape[2:], gt.shape[2:], xt.shape[2:]
    nsp = len(ks)
    # Only as much high padding as the last filter tap reads; crop the rest of the output.
    high = [max(0, (k - 1) * d + (p - 1) * st + 1 - s - lo)
            for k, d, p, st, s, lo in zip(ks, dilation, ps, stride, ss, low)]
    xs = reshape(b, x, (n, groups, cg, *ss))
    xs = transpose(b, xs, [2, 1, 0, *range(3, nsp + 3)])
    xs = reshape(b, xs, (cg, groups * n, *ss))
    gs = transpose(b, g, [1, 0, *range(2, nsp + 2)])
    out = _conv(b, xs, gs, dilation, low, high, stride, groups)
    out_shape = tensor_type(out).shape
    out = slice_(b, out, [0] * (nsp + 2), [*out_shape[:2], *ks], [1] * (nsp + 2))
    return transpose(b, out, [1, 0, *range(2, nsp + 2)])


@vjp("tensor.conv")
def _conv_rule(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    g = cts[0]
    x, w = op.operands
    stride, low = _ints(op, "stride"), _ints(op, "padding_low")
    dilation = _ints(op, "dilation")
    groups = int(op.attributes["groups"].value)  # type: ignore[union-attr]
    gx = conv_input_grad(b, g, w, tensor_type(x).shape, stride, low, dilation, groups)
    gw = conv_filter_grad(b, x, g, tensor_type(w).shape, stride, low, dilation, groups)
    return [gx, gw]


# -------------------------------------------------------------------------------- pool


def _scatter_windows(b: Builder, parts: list[tuple[tuple[int, ...], Value]],
                     op: Operation) -> Value:
    """Sum, over window offsets ``k``, of ``h_k`` written to input positions
    ``p*stride + k - low``: each ``h_k`` (output-shaped) is spread into the padded input
    with interior padding, then the padding is cropped off."""
    x = op.operands[0]
    shape = tensor_type(x).shape
    window, stride = _ints(op, "window"), _ints(op, "stride")
    low, high = _ints(op, "padding_low"), _ints(op, "padding_high")
    nsp = len(window)
    lead = len(shape) - nsp
    ps = tensor_type(op.result).shape[lead:]
    padded = [s + lo + hi for s, lo, hi in zip(shape[lead:], low, high)]
    total: Value | None = None
    for k, h in parts:
        hi = [e - kk - (p - 1) * st - 1 for e, kk, p, st in zip(padded, k, ps, stride)]
        spread = pad_zeros(b, h, [0] * lead + list(k), [0] * lead + hi,
                           [0] * lead + [st - 1 for st in stride])
        total = spread if total is None else add(b, total, spread)
    assert total is not None
    return slice_(b, total, [0] * lead + low,
                  [*shape[:lead], *(lo + s for lo, s in zip(low, shape[lead:]))],
                  [1] * len(shape))


def _window_offsets(op: Operation) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(w) for w in _ints(op, "window"))))


def _pool_max(b: Builder, op: Operation, g: Value) -> Value:
    # Route each output's cotangent to the first window element (row-major window order)
    # equal to the maximum, as argmax would pick it. Overlapping windows add up.
    x, y = op.operands[0], op.result
    shape = tensor_type(x).shape
    stride = _ints(op, "stride")
    low, high = _ints(op, "padding_low"), _ints(op, "padding_high")
    nsp = len(stride)
    lead = len(shape) - nsp
    ps = tensor_type(y).shape[lead:]
    et = tensor_type(x).element_type
    lowest = constant(b, -math.inf, TensorType((), et))
    xpad = b.create(T.PadOp, x, lowest, low=[0] * lead + low, high=[0] * lead + high,
                    interior=[0] * len(shape)).result
    zero = zeros(b, g.type)
    taken: Value | None = None
    parts = []
    for k in _window_offsets(op):
        start = [0] * lead + list(k)
        limit = [*shape[:lead], *(kk + (p - 1) * st + 1 for kk, p, st in zip(k, ps, stride))]
        xk = slice_(b, xpad, start, limit, [1] * lead + stride)
        hit = cmp(b, "eq", xk, y)
        if taken is None:
            taken = hit
        else:
            hit = b.create(T.AndOp, hit, b.create(T.NotOp, taken).result).result
            taken = b.create(T.OrOp, taken, hit).result
        parts.append((k, select(b, hit, g, zero)))
    return _scatter_windows(b, parts, op)


def _avg_counts(op: Operation) -> np.ndarray:
    """Number of in-bounds elements of every window (output spatial shape)."""
    x = op.operands[0]
    window, stride = _ints(op, "window"), _ints(op, "stride")
    low = _ints(op, "padding_low")
    nsp = len(window)
    ss = tensor_type(x).shape[-nsp:]
    ps = tensor_type(op.result).shape[-nsp:]
    per_dim = []
    for s, w, st, lo, p in zip(ss, window, stride, low, ps):
        starts = np.arange(p) * st - lo
        per_dim.append(np.minimum(starts + w, s) - np.maximum(starts, 0))
    counts = np.ones((), dtype=np.float64)
    for c in per_dim:
        counts = np.multiply.outer(counts, c)
    return counts


def _pool_avg(b: Builder, op: Operation, g: Value) -> Value:
    # Every window element receives the output's cotangent divided by the window's divisor.
    gt = tensor_type(g)
    attr = op.attributes.get("count_include_pad")
    if attr is None or attr.value:  # type: ignore[union-attr]
        h = div(b, g, like(b, float(math.prod(_ints(op, "window"))), g))
    else:
        counts = _avg_counts(op)
        nsp = counts.ndim
        c = constant(b, counts, TensorType(counts.shape, gt.element_type))
        h = div(b, g, broadcast(b, c, list(range(gt.rank - nsp, gt.rank)), gt.shape))
    return _scatter_windows(b, [(k, h) for k in _window_offsets(op)], op)


@vjp("tensor.pool")
def _pool(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    kind = op.attributes["kind"].value  # type: ignore[union-attr]
    if kind == "max":
        return [_pool_max(b, op, cts[0])]
    return [_pool_avg(b, op, cts[0])]
