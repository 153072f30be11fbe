"""Reference semantics of the ``memory`` dialect on :class:`MemRefValue` buffers.

Every access goes through the bounds- and liveness-checked methods of
:class:`~avalon.backends.interpreter.memory.MemRefValue`, so out-of-bounds accesses, views that
leave their allocation and uses after ``memory.dealloc`` raise a located error naming the op.
Ops run inside loops are kernel factories: their types and attributes are decoded once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avalon.backends.interpreter.executor import Kernel, specialized_impl
from avalon.backends.interpreter.memory import MemRefValue
from avalon.backends.interpreter.registry import ExecContext, impl, interp_error
from avalon.ir.core import Operation
from avalon.ir.dialects.memory import is_dense
from avalon.ir.types import contiguous_strides, to_numpy_dtype


def poison(dtype: np.dtype) -> Any:
    """The fill value of fresh buffers: NaN for floats, the most negative value for
    integers, true for ``i1``; reads of uninitialised memory then stand out."""
    if dtype.kind == "f":
        return np.nan
    if dtype.kind == "b":
        return True
    return np.iinfo(dtype).min


@specialized_impl("memory.alloc")
def _alloc(ctx: ExecContext, op: Operation) -> Kernel:
    """A fresh row-major buffer of the result shape, filled with :func:`poison`."""
    t = op.results[0].type
    shape = t.shape
    dtype = to_numpy_dtype(t.element_type)
    fill = poison(dtype)
    allocate = MemRefValue.allocate
    return lambda args: [allocate(shape, dtype, op, fill)]


@impl("memory.dealloc")
def _dealloc(ctx: ExecContext, op: Operation, args: list) -> list:
    """Marks the whole underlying allocation dead (freeing twice is a use after free)."""
    args[0].free(op)
    return []


def _flat(m: MemRefValue, idx: list) -> int | None:
    """Storage position of ``m[idx]`` if the buffer is alive and every index in bounds, else
    None (the caller then takes the checked path, which reports the problem)."""
    if not m.alloc.alive or len(idx) != len(m.shape):
        return None
    flat = m.offset
    for i, n, s in zip(idx, m.shape, m.strides):
        if not 0 <= i < n:
            return None
        flat += i * s
    return flat


@specialized_impl("memory.load")
def _load(ctx: ExecContext, op: Operation) -> Kernel:
    """The element at the (bounds-checked) indices, as a numpy scalar of the element type.

    Loads are the hottest op of interpreted loops, so rank 1 and 2 get an inlined fast path;
    anything unusual falls back to :meth:`MemRefValue.load`, which raises the located error.
    """
    rank = op.operands[0].type.rank
    if rank == 1:
        def kernel(args: list) -> list:
            m, i = args
            if m.alloc.alive and 0 <= i < m.shape[0]:
                return [m.alloc.data[m.offset + i * m.strides[0]]]
            return [m.load(args[1:], op)]
    elif rank == 2:
        def kernel(args: list) -> list:
            m, i, j = args
            n0, n1 = m.shape
            if m.alloc.alive and 0 <= i < n0 and 0 <= j < n1:
                s0, s1 = m.strides
                return [m.alloc.data[m.offset + i * s0 + j * s1]]
            return [m.load(args[1:], op)]
    else:
        def kernel(args: list) -> list:
            m = args[0]
            flat = _flat(m, args[1:])
            return [m.load(args[1:], op) if flat is None else m.alloc.data[flat]]
    return kernel


@specialized_impl("memory.store")
def _store(ctx: ExecContext, op: Operation) -> Kernel:
    """Writes the value at the (bounds-checked) indices (fast paths as for loads)."""
    rank = op.operands[1].type.rank
    if rank == 1:
        def kernel(args: list) -> list:
            v, m, i = args
            if m.alloc.alive and 0 <= i < m.shape[0]:
                m.alloc.data[m.offset + i * m.strides[0]] = v
            else:
                m.store(args[2:], v, op)
            return []
    elif rank == 2:
        def kernel(args: list) -> list:
            v, m, i, j = args
            n0, n1 = m.shape
            if m.alloc.alive and 0 <= i < n0 and 0 <= j < n1:
                s0, s1 = m.strides
                m.alloc.data[m.offset + i * s0 + j * s1] = v
            else:
                m.store(args[2:], v, op)
            return []
    else:
        def kernel(args: list) -> list:
            m = args[1]
            flat = _flat(m, args[2:])
            if flat is None:
                m.store(args[2:], args[0], op)
            else:
                m.alloc.data[flat] = args[0]
            return []
    return kernel


@specialized_impl("memory.subview")
def _subview(ctx: ExecContext, op: Operation) -> Kernel:
    """A view of the box given by the static offsets, sizes and strides, checked to lie
    inside the source view."""
    offsets = op.attributes["static_offsets"].values
    sizes = op.attributes["static_sizes"].values
    steps = op.attributes["static_strides"].values

    def kernel(args: list) -> list:
        src: MemRefValue = args[0]
        if not len(offsets) == len(sizes) == len(steps) == len(src.shape):
            raise interp_error(op, f"expects {len(src.shape)} offsets, sizes and strides")
        offset = src.offset
        strides = []
        for d, (o, n, s, dim, st) in enumerate(zip(offsets, sizes, steps, src.shape,
                                                   src.strides)):
            if o < 0 or n < 0 or s < 1 or o > dim or (n and o + (n - 1) * s >= dim):
                raise interp_error(op, f"box offset {o}, size {n}, stride {s} is out of "
                                       f"bounds for dimension {d} of size {dim}")
            offset += o * st
            strides.append(s * st)
        return [src.derive(sizes, strides, offset, op)]
    return kernel


@specialized_impl("memory.reshape")
def _reshape(ctx: ExecContext, op: Operation) -> Kernel:
    """The same elements in row-major order with the result's shape."""
    shape = op.results[0].type.shape
    strides = contiguous_strides(shape)
    count = int(np.prod(shape))

    def kernel(args: list) -> list:
        src: MemRefValue = args[0]
        if int(np.prod(src.shape)) != count:
            raise interp_error(op, f"cannot reshape {list(src.shape)} into {list(shape)}")
        if not is_dense(src.shape, src.strides):
            raise interp_error(op, f"source view (shape {list(src.shape)}, strides "
                                   f"{list(src.strides)}) is not dense")
        return [src.derive(shape, strides, src.offset, op)]
    return kernel


@specialized_impl("memory.transpose")
def _transpose(ctx: ExecContext, op: Operation) -> Kernel:
    """The source's dimensions (with their strides) in permuted order."""
    perm = op.attributes["permutation"].values

    def kernel(args: list) -> list:
        src: MemRefValue = args[0]
        if sorted(perm) != list(range(len(src.shape))):
            raise interp_error(op, f"{list(perm)} is not a permutation of {len(src.shape)} "
                                   f"dimensions")
        return [src.derive([src.shape[p] for p in perm], [src.strides[p] for p in perm],
                           src.offset, op)]
    return kernel


@impl("memory.copy")
def _copy(ctx: ExecContext, op: Operation, args: list) -> list:
    """Element-by-element copy; numpy's assignment buffers overlapping operands, which gives
    the read-everything-first semantics."""
    src, dst = args
    if src.shape != dst.shape:
        raise interp_error(op, f"copies shape {list(src.shape)} to shape {list(dst.shape)}")
    dst.array(op)[...] = src.array(op)
    return []


@impl("memory.fill")
def _fill(ctx: ExecContext, op: Operation, args: list) -> list:
    """Writes the scalar to every element of the view."""
    args[1].array(op)[...] = args[0]
    return []
