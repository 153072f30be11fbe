"""Bounds-checked buffers for interpreting the memory dialect.

An :class:`Allocation` owns flat storage; a :class:`MemRefValue` is a strided view of it
(shape, element strides, offset), as a memref is. Every load/store checks each index against
the view's shape and that the allocation is still alive; creating a view checks that all its
elements lie inside the allocation. So interpreted IR can never touch memory it does not own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from avalon.backends.interpreter.registry import interp_error
from avalon.ir.core import Operation
from avalon.ir.types import contiguous_strides


class Allocation:
    """Flat storage for one ``memory.alloc`` (or a caller-provided array)."""

    __slots__ = ("alive", "data", "freed_by", "made_by")

    def __init__(self, data: np.ndarray, made_by: Operation | None = None) -> None:
        if data.ndim != 1 or not data.flags.c_contiguous:
            raise ValueError("allocation storage must be a flat contiguous array")
        self.data = data
        self.alive = True
        self.made_by = made_by
        self.freed_by: Operation | None = None


class MemRefValue:
    """A strided view of an :class:`Allocation`."""

    __slots__ = ("alloc", "offset", "shape", "strides")

    def __init__(self, alloc: Allocation, shape: Sequence[int], strides: Sequence[int],
                 offset: int = 0) -> None:
        self.alloc = alloc
        self.shape = tuple(int(d) for d in shape)
        self.strides = tuple(int(s) for s in strides)
        self.offset = int(offset)

    # -- construction
    @staticmethod
    def allocate(shape: Sequence[int], dtype: np.dtype, made_by: Operation | None = None,
                 fill: Any = None) -> MemRefValue:
        n = int(np.prod(shape)) if len(shape) else 1
        data = np.zeros(n, dtype=dtype) if fill is None else np.full(n, fill, dtype=dtype)
        return MemRefValue(Allocation(data, made_by), shape, contiguous_strides(tuple(shape)))

    @staticmethod
    def wrap(array: np.ndarray) -> MemRefValue:
        """View a caller's C-contiguous array in place (writes are visible to the caller)."""
        if not array.flags.c_contiguous:
            raise ValueError("memref arguments must be C-contiguous arrays")
        flat = array.reshape(-1)
        return MemRefValue(Allocation(flat), array.shape, contiguous_strides(array.shape))

    @property
    def dtype(self) -> np.dtype:
        return self.alloc.data.dtype

    # -- checks
    def check_alive(self, op: Operation) -> None:
        if not self.alloc.alive:
            freed = self.alloc.freed_by
            where = ""
            if freed is not None:
                flc = freed.location.file_line_col()
                where = f" (freed by '{freed.name}'" + (
                    f" at {flc.filename}:{flc.line}:{flc.col})" if flc else ")")
            raise interp_error(op, f"uses a deallocated buffer{where}")

    def flat_index(self, indices: Sequence[int], op: Operation) -> int:
        self.check_alive(op)
        if len(indices) != len(self.shape):
            raise interp_error(op, f"expects {len(self.shape)} indices, got {len(indices)}")
        flat = self.offset
        for d, (i, n, s) in enumerate(zip(indices, self.shape, self.strides, strict=True)):
            i = int(i)
            if not 0 <= i < n:
                raise interp_error(
                    op, f"index {i} out of bounds for dimension {d} of size {n} "
                        f"(indices {list(map(int, indices))}, shape {list(self.shape)})")
            flat += i * s
        return flat

    def check_view_in_bounds(self, op: Operation) -> None:
        """Every element of this view lies inside its allocation."""
        if any(d == 0 for d in self.shape):
            return
        lo = self.offset + sum(min(0, (n - 1) * s) for n, s in zip(self.shape, self.strides,
                                                                   strict=True))
        hi = self.offset + sum(max(0, (n - 1) * s) for n, s in zip(self.shape, self.strides,
                                                                   strict=True))
        if lo < 0 or hi >= self.alloc.data.size:
            raise interp_error(op, f"view of shape {list(self.shape)} (strides "
                                   f"{list(self.strides)}, offset {self.offset}) exceeds its "
                                   f"buffer of {self.alloc.data.size} elements")

    # -- element access
    def load(self, indices: Sequence[int], op: Operation) -> Any:
        return self.alloc.data[self.flat_index(indices, op)]

    def store(self, indices: Sequence[int], value: Any, op: Operation) -> None:
        self.alloc.data[self.flat_index(indices, op)] = value

    # -- whole-view access (for copy/fill and vector ops)
    def array(self, op: Operation | None = None) -> np.ndarray:
        """A numpy view aliasing this memref's elements (writes go to the buffer)."""
        if op is not None:
            self.check_alive(op)
        item = self.alloc.data.itemsize
        return np.lib.stride_tricks.as_strided(
            self.alloc.data[self.offset:] if self.alloc.data.size else self.alloc.data,
            shape=self.shape, strides=tuple(s * item for s in self.strides), writeable=True)

    def derive(self, shape: Sequence[int], strides: Sequence[int], offset: int,
               op: Operation) -> MemRefValue:
        """A new view of the same allocation, checked to stay in bounds."""
        self.check_alive(op)
        view = MemRefValue(self.alloc, shape, strides, offset)
        view.check_view_in_bounds(op)
        return view

    def free(self, op: Operation) -> None:
        self.check_alive(op)
        self.alloc.alive = False
        self.alloc.freed_by = op

    def __repr__(self) -> str:
        return (f"MemRefValue(shape={list(self.shape)}, strides={list(self.strides)}, "
                f"offset={self.offset}, alive={self.alloc.alive})")
