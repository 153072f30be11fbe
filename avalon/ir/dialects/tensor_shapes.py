"""Shape rules of the ``tensor`` dialect: pure functions on shapes and integer attributes.

They are shared by the verifier, by result-type inference when ops are built, and by passes that
build tensor ops (autodiff, decompose). Every rule raises :class:`ShapeError` with the message the
verifier reports (the op name is prefixed by the caller), so a bad shape reads the same wherever
it is caught.
"""

from __future__ import annotations

from collections.abc import Sequence

from avalon.ir.affine import (
    AffineBinaryExpr,
    AffineConstantExpr,
    AffineDimExpr,
    AffineExpr,
    AffineMap,
)

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """An invalid combination of shapes or attribute values."""


def _fmt(values: Sequence[int]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def check_dim(dim: int, rank: int, what: str = "dimension") -> None:
    """``dim`` must index a dimension of a rank-``rank`` tensor."""
    if not 0 <= dim < rank:
        raise ShapeError(f"{what} {dim} is out of range for rank {rank}")


def check_length(values: Sequence[int], n: int, what: str) -> None:
    if len(values) != n:
        raise ShapeError(f"'{what}' has {len(values)} entries, expected {n}")


def check_permutation(perm: Sequence[int], rank: int) -> None:
    """``perm`` must be a permutation of ``0..rank-1``."""
    if len(perm) != rank or sorted(perm) != list(range(rank)):
        raise ShapeError(f"permutation {_fmt(perm)} is not a permutation of {rank} dimensions")


def inverse_permutation(perm: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def compose_permutations(first: Sequence[int], second: Sequence[int]) -> tuple[int, ...]:
    """The permutation of ``transpose(transpose(x, first), second)``."""
    return tuple(first[p] for p in second)


def transpose_shape(shape: Shape, perm: Sequence[int]) -> Shape:
    """``result[i] = shape[perm[i]]`` (numpy's ``transpose`` convention)."""
    check_permutation(perm, len(shape))
    return tuple(shape[p] for p in perm)


def check_broadcast(operand: Shape, result: Shape, dims: Sequence[int]) -> None:
    """Operand dim ``i`` goes to result dim ``dims[i]``; ``dims`` strictly increases and each
    operand extent is 1 or equals the result extent."""
    if len(dims) != len(operand):
        raise ShapeError(f"'dims' has {len(dims)} entries but the operand has rank {len(operand)}")
    check_dim_set(dims, len(result), "broadcast dimension")
    for i, d in enumerate(dims):
        if operand[i] not in (1, result[d]):
            raise ShapeError(
                f"operand dimension {i} of size {operand[i]} cannot broadcast to result "
                f"dimension {d} of size {result[d]}")


def broadcast_identity_dims(operand_rank: int, result_rank: int) -> tuple[int, ...]:
    """numpy-style alignment: operand dims go to the trailing result dims."""
    return tuple(range(result_rank - operand_rank, result_rank))


def numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def check_reshape(operand: Shape, result: Shape) -> None:
    if numel(operand) != numel(result):
        raise ShapeError(
            f"cannot reshape {numel(operand)} elements {_fmt(operand)} into "
            f"{numel(result)} elements {_fmt(result)}")


def slice_shape(shape: Shape, start: Sequence[int], limit: Sequence[int],
                stride: Sequence[int]) -> Shape:
    """Elements ``start[i], start[i] + stride[i], ... < limit[i]`` of each dimension."""
    rank = len(shape)
    for name, v in (("start", start), ("limit", limit), ("stride", stride)):
        check_length(v, rank, name)
    out = []
    for i in range(rank):
        if stride[i] < 1:
            raise ShapeError(f"stride {stride[i]} of dimension {i} must be positive")
        if not 0 <= start[i] <= limit[i] <= shape[i]:
            raise ShapeError(
                f"slice [{start[i]}, {limit[i]}) of dimension {i} is not within [0, {shape[i]}]")
        out.append(-(-(limit[i] - start[i]) // stride[i]))
    return tuple(out)


def pad_shape(shape: Shape, low: Sequence[int], high: Sequence[int],
              interior: Sequence[int]) -> Shape:
    """``low + n + (n - 1) * interior + high`` per dimension (no interior padding if n == 0)."""
    rank = len(shape)
    for name, v in (("low", low), ("high", high), ("interior", interior)):
        check_length(v, rank, name)
        for i, x in enumerate(v):
            if x < 0:
                raise ShapeError(f"'{name}' padding {x} of dimension {i} must be non-negative")
    return tuple(
        lo + n + max(n - 1, 0) * inner + hi
        for n, lo, hi, inner in zip(shape, low, high, interior)
    )


def concat_shape(shapes: Sequence[Shape], dim: int) -> Shape:
    if not shapes:
        raise ShapeError("requires at least one operand")
    rank = len(shapes[0])
    check_dim(dim, rank)
    for k, s in enumerate(shapes):
        if len(s) != rank:
            raise ShapeError(f"operand #{k} has rank {len(s)}, expected {rank}")
        for i in range(rank):
            if i != dim and s[i] != shapes[0][i]:
                raise ShapeError(
                    f"operand #{k} has size {s[i]} in dimension {i}, expected {shapes[0][i]}")
    return tuple(sum(s[dim] for s in shapes) if i == dim else shapes[0][i] for i in range(rank))


def gather_shape(operand: Shape, indices: Shape, dim: int) -> Shape:
    """take-along-axis: same rank, equal extents except along ``dim``; result has the
    shape of ``indices``."""
    if len(indices) != len(operand):
        raise ShapeError(
            f"indices have rank {len(indices)} but the operand has rank {len(operand)}")
    check_dim(dim, len(operand))
    if operand[dim] == 0 and numel(indices) > 0:
        raise ShapeError(f"cannot gather from dimension {dim} of size 0")
    for i in range(len(operand)):
        if i != dim and operand[i] != indices[i]:
            raise ShapeError(
                f"indices have size {indices[i]} in dimension {i} but the operand has "
                f"{operand[i]}")
    return tuple(indices)


def check_dim_set(dims: Sequence[int], rank: int, what: str = "dimension") -> None:
    """Distinct, strictly increasing, in range."""
    for i, d in enumerate(dims):
        check_dim(d, rank, what)
        if i and d <= dims[i - 1]:
            raise ShapeError(f"'dims' must be strictly increasing, got {_fmt(dims)}")


def reduce_shape(shape: Shape, dims: Sequence[int]) -> Shape:
    """The reduced dimensions are removed."""
    check_dim_set(dims, len(shape), "reduction dimension")
    return tuple(n for i, n in enumerate(shape) if i not in dims)


def argmax_shape(shape: Shape, dim: int) -> Shape:
    check_dim(dim, len(shape))
    if shape[dim] == 0:
        raise ShapeError(f"dimension {dim} has size 0")
    return tuple(n for i, n in enumerate(shape) if i != dim)


def matmul_shape(lhs: Shape, rhs: Shape) -> Shape:
    """``[..., M, K] x [..., K, N] -> [..., M, N]`` with equal batch dimensions."""
    if len(lhs) < 2 or len(rhs) < 2:
        raise ShapeError(f"operands must have rank >= 2, got {len(lhs)} and {len(rhs)}")
    if len(lhs) != len(rhs):
        raise ShapeError(f"operand ranks differ: {len(lhs)} vs {len(rhs)}")
    if lhs[:-2] != rhs[:-2]:
        raise ShapeError(f"batch dimensions differ: {_fmt(lhs[:-2])} vs {_fmt(rhs[:-2])}")
    if lhs[-1] != rhs[-2]:
        raise ShapeError(f"contracting dimensions differ: {lhs[-1]} vs {rhs[-2]}")
    return (*lhs[:-1], rhs[-1])


def window_output_size(size: int, window: int, stride: int, pad_low: int, pad_high: int,
                       dilation: int = 1) -> int:
    """Number of window positions along one padded dimension (at least one)."""
    span = (window - 1) * dilation + 1
    padded = size + pad_low + pad_high
    if padded < span:
        raise ShapeError(
            f"window of extent {span} does not fit in the padded size {padded}")
    return (padded - span) // stride + 1


def _check_window_attrs(n: int, **lists: Sequence[int]) -> None:
    for name, v in lists.items():
        check_length(v, n, name)
        for i, x in enumerate(v):
            if name.startswith("padding"):
                if x < 0:
                    raise ShapeError(f"'{name}' {x} of spatial dimension {i} must be "
                                     f"non-negative")
            elif x < 1:
                raise ShapeError(f"'{name}' {x} of spatial dimension {i} must be positive")


def conv_shape(input_: Shape, filter_: Shape, stride: Sequence[int], padding_low: Sequence[int],
               padding_high: Sequence[int], dilation: Sequence[int], groups: int) -> Shape:
    """``[N, C, S...] * [O, C/groups, K...] -> [N, O, P...]``."""
    if len(input_) < 3:
        raise ShapeError(f"input must have rank >= 3 ([N, C, spatial...]), got {len(input_)}")
    if len(filter_) != len(input_):
        raise ShapeError(f"filter has rank {len(filter_)} but the input has rank {len(input_)}")
    nsp = len(input_) - 2
    _check_window_attrs(nsp, stride=stride, padding_low=padding_low,
                        padding_high=padding_high, dilation=dilation)
    if groups < 1:
        raise ShapeError(f"'groups' {groups} must be positive")
    n, c = input_[0], input_[1]
    o, cg = filter_[0], filter_[1]
    if c % groups:
        raise ShapeError(f"input channels {c} are not divisible by groups {groups}")
    if o % groups:
        raise ShapeError(f"output channels {o} are not divisible by groups {groups}")
    if cg * groups != c:
        raise ShapeError(
            f"filter has {cg} input channels per group, expected {c} / {groups} = {c // groups}")
    spatial = tuple(
        window_output_size(input_[2 + i], filter_[2 + i], stride[i], padding_low[i],
                           padding_high[i], dilation[i])
        for i in range(nsp)
    )
    return (n, o, *spatial)


def pool_shape(input_: Shape, window: Sequence[int], stride: Sequence[int],
               padding_low: Sequence[int], padding_high: Sequence[int]) -> Shape:
    """Windows over the trailing ``len(window)`` dimensions; leading dimensions are kept."""
    nsp = len(window)
    if nsp < 1 or nsp > len(input_):
        raise ShapeError(
            f"window has {nsp} dimensions but the input has rank {len(input_)}")
    _check_window_attrs(nsp, window=window, stride=stride, padding_low=padding_low,
                        padding_high=padding_high)
    lead = len(input_) - nsp
    for i in range(nsp):
        if padding_low[i] >= window[i] or padding_high[i] >= window[i]:
            raise ShapeError(
                f"padding of spatial dimension {i} must be smaller than the window {window[i]}")
    spatial = tuple(
        window_output_size(input_[lead + i], window[i], stride[i], padding_low[i],
                           padding_high[i])
        for i in range(nsp)
    )
    return (*input_[:lead], *spatial)


# --------------------------------------------------------------------------- tensor.generic


def generic_loop_extents(maps: Sequence[AffineMap], shapes: Sequence[Shape],
                         num_loops: int, num_outputs: int = 0) -> Shape:
    """Loop extents of a structured op whose operands are inputs then ``num_outputs`` outputs.

    A loop dimension takes the extent of an operand dimension whose map result is exactly that
    loop dimension. Outputs decide first (they define the iteration space in destination
    style); an input read through a dimension an output already fixes only has to cover it
    (a slice generalizes to such a read). Dimensions that only inputs index must agree.
    """
    extents: list[int | None] = [None] * num_loops
    origin: list[str] = [""] * num_loops
    first_output = len(maps) - num_outputs
    by_output = [False] * num_loops
    order = [*range(first_output, len(maps)), *range(first_output)]
    for k in order:
        m, shape = maps[k], shapes[k]
        is_output = k >= first_output
        for j, e in enumerate(m.results):
            if not isinstance(e, AffineDimExpr) or e.position >= num_loops:
                continue
            d, n = e.position, shape[j]
            where = f"operand #{k} dimension {j}"
            if extents[d] is None:
                extents[d], origin[d], by_output[d] = n, where, is_output
            elif by_output[d] and not is_output:
                if n < extents[d]:  # type: ignore[operator]
                    raise ShapeError(f"loop dimension d{d} has extent {extents[d]} "
                                     f"({origin[d]}) but {where} has only {n} elements")
            elif extents[d] != n:
                raise ShapeError(f"loop dimension d{d} has extent {extents[d]} ({origin[d]}) "
                                 f"but {n} ({where})")
    for d, n in enumerate(extents):
        if n is None:
            raise ShapeError(f"loop dimension d{d} is not an operand dimension in any "
                             f"indexing map, so its extent is unknown")
    return tuple(extents)  # type: ignore[arg-type]


def _linear(e: AffineExpr) -> tuple[dict[int, int], int] | None:
    """``e`` as coefficients per dimension plus a constant, or None if not linear."""
    if isinstance(e, AffineDimExpr):
        return {e.position: 1}, 0
    if isinstance(e, AffineConstantExpr):
        return {}, e.value
    if isinstance(e, AffineBinaryExpr) and e.kind in ("+", "*"):
        lhs, rhs = _linear(e.lhs), _linear(e.rhs)
        if lhs is None or rhs is None:
            return None
        if e.kind == "+":
            coeffs = dict(lhs[0])
            for d, c in rhs[0].items():
                coeffs[d] = coeffs.get(d, 0) + c
            return coeffs, lhs[1] + rhs[1]
        if not rhs[0]:
            return {d: c * rhs[1] for d, c in lhs[0].items()}, lhs[1] * rhs[1]
        if not lhs[0]:
            return {d: c * lhs[1] for d, c in rhs[0].items()}, lhs[1] * rhs[1]
    return None


def linear_bounds(e: AffineExpr, extents: Sequence[int]) -> tuple[int, int] | None:
    """Exact ``(min, max)`` of a linear expression over the (non-empty) iteration space, or
    None when ``e`` is not linear (floordiv, mod, ...) and only a runtime check can tell."""
    lin = _linear(e)
    if lin is None:
        return None
    coeffs, const = lin
    lo = hi = const
    for d, c in coeffs.items():
        span = c * (extents[d] - 1)
        lo += min(0, span)
        hi += max(0, span)
    return lo, hi
