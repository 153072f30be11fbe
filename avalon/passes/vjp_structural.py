"""VJP rules of the data-movement and reduction tensor ops.

Each rule is the transpose of a linear map: broadcast sums, slice pads with zeros, pad slices,
concat slices, gather scatters (through a one-hot mask), reduce-sum broadcasts back. The
nonlinear reductions (max, min, prod) are handled at the end; their conventions at ties and
zeros are described in docs/autodiff.md.
"""

from __future__ import annotations

from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.dialects import tensor as T
from avalon.ir.types import TensorType
from avalon.passes.vjp_rules import (
    autodiff_error,
    broadcast,
    cast,
    cmp,
    div,
    like,
    mul,
    pad_zeros,
    reduce,
    reduce_all,
    reshape,
    select,
    slice_,
    sub,
    sum_to_shape,
    tensor_type,
    transpose,
    vjp,
    zeros,
)


def _ints(op: Operation, name: str) -> list[int]:
    return [int(v) for v in op.attributes[name].values]  # type: ignore[union-attr]


def _int(op: Operation, name: str) -> int:
    return int(op.attributes[name].value)  # type: ignore[union-attr]


@vjp("tensor.broadcast")
def _broadcast(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    shape = tensor_type(op.operands[0]).shape
    return [sum_to_shape(b, cts[0], _ints(op, "dims"), shape)]


@vjp("tensor.reshape")
def _reshape(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    return [reshape(b, cts[0], tensor_type(op.operands[0]).shape)]


@vjp("tensor.transpose")
def _transpose(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    perm = _ints(op, "permutation")
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return [transpose(b, cts[0], inverse)]


@vjp("tensor.slice")
def _slice(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    # The transpose of a strided slice scatters the cotangent back with zeros in between:
    # a pad with low = start, interior = stride - 1 and the rest of the extent as high.
    g = cts[0]
    in_shape = tensor_type(op.operands[0]).shape
    out_shape = tensor_type(g).shape
    if 0 in out_shape:
        return [zeros(b, op.operands[0].type)]
    start, stride = _ints(op, "start"), _ints(op, "stride")
    high = [size - (s + (n - 1) * k + 1)
            for size, s, n, k in zip(in_shape, start, out_shape, stride)]
    return [pad_zeros(b, g, start, high, [k - 1 for k in stride])]


@vjp("tensor.pad")
def _pad(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    # The input's cotangent is the strided slice of the positions it was written to; the
    # padding value was copied to every other position, so it gets the rest of the sum.
    g = cts[0]
    x = op.operands[0]
    in_shape = tensor_type(x).shape
    if 0 in in_shape:
        return [zeros(b, x.type), reduce_all(b, "sum", g)]
    low, interior = _ints(op, "low"), _ints(op, "interior")
    limit = [lo + (n - 1) * (k + 1) + 1 for lo, n, k in zip(low, in_shape, interior)]
    gx = slice_(b, g, low, limit, [k + 1 for k in interior])
    g_value = sub(b, reduce_all(b, "sum", g), reduce_all(b, "sum", gx))
    return [gx, g_value]


@vjp("tensor.concat")
def _concat(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    g = cts[0]
    shape = tensor_type(g).shape
    d = _int(op, "dim")
    out: list[Value | None] = []
    offset = 0
    for v in op.operands:
        n = tensor_type(v).shape[d]
        start = [0] * len(shape)
        limit = list(shape)
        start[d], limit[d] = offset, offset + n
        out.append(slice_(b, g, start, limit, [1] * len(shape)))
        offset += n
    return out


@vjp("tensor.gather")
def _gather(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    # Scatter-add as a one-hot contraction: with E = indices.shape + (n,),
    # onehot[j, k] = (indices[j] == k); gx = sum over j_dim of select(onehot, g[j], 0),
    # whose last axis (k) is then moved to position dim. Costs |indices| * n elements.
    g = cts[0]
    x, idx = op.operands
    xt, it = tensor_type(x), tensor_type(idx)
    d = _int(op, "dim")
    r = xt.rank
    n = xt.shape[d]
    ext = (*it.shape, n)
    lead = list(range(r))
    iota = b.create(T.IotaOp, dim=r, result_types=[TensorType(ext, it.element_type)]).result
    onehot = cmp(b, "eq", broadcast(b, idx, lead, ext), iota)
    gb = broadcast(b, g, lead, ext)
    picked = select(b, onehot, gb, zeros(b, gb.type))
    summed = reduce(b, "sum", picked, [d])
    perm = [*range(d), r - 1, *range(d, r - 1)]
    return [transpose(b, summed, perm), None]


# --------------------------------------------------------------------------- reductions


def _kept_dims(op: Operation) -> tuple[list[int], tuple[int, ...]]:
    shape = tensor_type(op.operands[0]).shape
    dims = set(_ints(op, "dims"))
    return [i for i in range(len(shape)) if i not in dims], shape


def _back(b: Builder, v: Value, op: Operation) -> Value:
    """``v`` (of the reduced shape) broadcast back to the input shape."""
    kept, shape = _kept_dims(op)
    return broadcast(b, v, kept, shape)


def _reduce_sum(b: Builder, op: Operation, g: Value) -> Value:
    return _back(b, g, op)


def _reduce_max_min(b: Builder, op: Operation, g: Value) -> Value:
    # Every position equal to the result shares the cotangent evenly.
    x = op.operands[0]
    hit = cmp(b, "eq", x, _back(b, op.result, op))
    count = reduce(b, "sum", cast(b, hit, tensor_type(x).element_type), _ints(op, "dims"))
    share = _back(b, div(b, g, count), op)
    return select(b, hit, share, zeros(b, x.type))


def _reduce_prod(b: Builder, op: Operation, g: Value) -> Value:
    # d prod / d x_i is the product of the other elements. Without zeros that is prod / x_i;
    # with one zero it is the product of the nonzeros at the zero and 0 elsewhere; with two
    # or more zeros it is 0 everywhere. Computed exactly from the nonzero product.
    x = op.operands[0]
    et = tensor_type(x).element_type
    dims = _ints(op, "dims")
    zero, one = zeros(b, x.type), like(b, 1.0, x)
    is_zero = cmp(b, "eq", x, zero)
    safe = select(b, is_zero, one, x)
    nonzero_prod = _back(b, reduce(b, "prod", safe, dims), op)
    zero_count = _back(b, reduce(b, "sum", cast(b, is_zero, et), dims), op)
    no_zero = cmp(b, "eq", zero_count, zero)
    lone_zero = b.create(T.AndOp, cmp(b, "eq", zero_count, one), is_zero).result
    others = select(b, no_zero, div(b, nonzero_prod, safe),
                    select(b, lone_zero, nonzero_prod, zero))
    return mul(b, _back(b, g, op), others)


_REDUCE_RULES = {"sum": _reduce_sum, "max": _reduce_max_min, "min": _reduce_max_min,
                 "prod": _reduce_prod}


@vjp("tensor.reduce")
def _reduce(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    kind = op.attributes["kind"].value  # type: ignore[union-attr]
    if not _ints(op, "dims"):
        return [cts[0]]
    return [_REDUCE_RULES[kind](b, op, cts[0])]


@vjp("tensor.generic")
def _generic(b: Builder, op: Operation, cts: list[Value | None]) -> list[Value | None]:
    raise autodiff_error(
        "cannot differentiate 'tensor.generic': run autodiff on named tensor ops, before "
        "generalization", op)

