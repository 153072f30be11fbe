"""IR types: immutable, hashable, equal by value; ``str(t)`` is MLIR's textual form.

Shaped types use ``DYNAMIC`` (-1, printed ``?``) for unknown extents; Avalon's tensor dialect
itself only uses static shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from avalon.ir.attributes import Attribute

DYNAMIC = -1


class Type:
    """Base of all types."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Type({self})"


@dataclass(frozen=True, slots=True, repr=False)
class IntegerType(Type):
    """Signless integer ``iN``; ``i1`` is the boolean type."""

    width: int

    def __str__(self) -> str:
        return f"i{self.width}"


@dataclass(frozen=True, slots=True, repr=False)
class IndexType(Type):
    """Machine-word integer used for sizes and loop indices."""

    def __str__(self) -> str:
        return "index"


_FLOAT_WIDTHS = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64}


@dataclass(frozen=True, slots=True, repr=False)
class FloatType(Type):
    """IEEE-style float: ``f16``, ``bf16``, ``f32`` or ``f64``."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in _FLOAT_WIDTHS:
            raise ValueError(f"unknown float type '{self.name}'")

    @property
    def width(self) -> int:
        return _FLOAT_WIDTHS[self.name]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True, repr=False)
class NoneType(Type):
    def __str__(self) -> str:
        return "none"


def _shape_str(shape: tuple[int, ...]) -> str:
    return "".join(("?" if d == DYNAMIC else str(d)) + "x" for d in shape)


class ShapedType(Type):
    """Common interface of tensor, memref and vector types."""

    __slots__ = ()
    shape: tuple[int, ...]
    element_type: Type

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def has_static_shape(self) -> bool:
        return DYNAMIC not in self.shape

    @property
    def num_elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True, slots=True, repr=False)
class TensorType(ShapedType):
    """Value-semantics n-d array: ``tensor<2x3xf32>`` (rank 0: ``tensor<f32>``)."""

    shape: tuple[int, ...]
    element_type: Type

    def __str__(self) -> str:
        return f"tensor<{_shape_str(self.shape)}{self.element_type}>"


@dataclass(frozen=True, slots=True, repr=False)
class VectorType(ShapedType):
    """Fixed-length SIMD value: ``vector<8xf32>``."""

    shape: tuple[int, ...]
    element_type: Type

    def __str__(self) -> str:
        return f"vector<{_shape_str(self.shape)}{self.element_type}>"


@dataclass(frozen=True, slots=True, repr=False)
class MemRefType(ShapedType):
    """A buffer reference: ``memref<4x4xf32, strided<[4, 1], offset: 0>, 1>``.

    ``layout`` is ``None`` for the identity (row-major, offset 0) layout, else a
    :class:`~avalon.ir.attributes.StridedLayoutAttr` or an affine-map attribute.
    ``memory_space`` is ``None`` for host memory, else an attribute (``1`` = GPU global,
    ``3`` = GPU shared, following NVPTX address-space numbers).
    """

    shape: tuple[int, ...]
    element_type: Type
    layout: Attribute | None = None
    memory_space: Attribute | None = None

    def __str__(self) -> str:
        text = f"memref<{_shape_str(self.shape)}{self.element_type}"
        if self.layout is not None:
            text += f", {self.layout}"
        if self.memory_space is not None:
            text += f", {self.memory_space.render(True)}"
        return text + ">"

    def strides_and_offset(self) -> tuple[tuple[int, ...], int]:
        """Element strides and offset; identity layout gives row-major strides."""
        from avalon.ir.attributes import StridedLayoutAttr

        if isinstance(self.layout, StridedLayoutAttr):
            return self.layout.strides, self.layout.offset
        return contiguous_strides(self.shape), 0

    @property
    def is_contiguous(self) -> bool:
        strides, offset = self.strides_and_offset()
        return offset == 0 and strides == contiguous_strides(self.shape)


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major element strides of ``shape``."""
    strides = []
    acc = 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= max(d, 1)
    return tuple(reversed(strides))


@dataclass(frozen=True, slots=True, repr=False)
class FunctionType(Type):
    inputs: tuple[Type, ...]
    results: tuple[Type, ...]

    def __str__(self) -> str:
        ins = ", ".join(str(t) for t in self.inputs)
        if len(self.results) == 1 and not isinstance(self.results[0], FunctionType):
            return f"({ins}) -> {self.results[0]}"
        outs = ", ".join(str(t) for t in self.results)
        return f"({ins}) -> ({outs})"


@dataclass(frozen=True, slots=True, repr=False)
class TupleType(Type):
    types: tuple[Type, ...]

    def __str__(self) -> str:
        return "tuple<" + ", ".join(str(t) for t in self.types) + ">"


@dataclass(frozen=True, slots=True, repr=False)
class OpaqueType(Type):
    """A type of an unregistered dialect, kept verbatim: ``!dialect.name<body>``."""

    dialect: str
    data: str

    def __str__(self) -> str:
        return f"!{self.dialect}.{self.data}"


# Singletons for the common scalar types.
i1 = IntegerType(1)
i8 = IntegerType(8)
i16 = IntegerType(16)
i32 = IntegerType(32)
i64 = IntegerType(64)
index = IndexType()
f16 = FloatType("f16")
bf16 = FloatType("bf16")
f32 = FloatType("f32")
f64 = FloatType("f64")
none = NoneType()


def tensor(shape: tuple[int, ...] | list[int], element_type: Type) -> TensorType:
    return TensorType(tuple(shape), element_type)


def memref(
    shape: tuple[int, ...] | list[int],
    element_type: Type,
    layout: Attribute | None = None,
    memory_space: Attribute | None = None,
) -> MemRefType:
    return MemRefType(tuple(shape), element_type, layout, memory_space)


def vector(shape: tuple[int, ...] | list[int], element_type: Type) -> VectorType:
    return VectorType(tuple(shape), element_type)


def element_type(t: Type) -> Type:
    """Element type of a shaped type, or the type itself for scalars."""
    return t.element_type if isinstance(t, ShapedType) else t


def is_float(t: Type) -> bool:
    return isinstance(element_type(t), FloatType)


def is_integer(t: Type) -> bool:
    return isinstance(element_type(t), IntegerType | IndexType)


_NUMPY_OF = {
    "i1": np.dtype(np.bool_),
    "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "index": np.dtype(np.int64),
    "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
}


def to_numpy_dtype(t: Type) -> np.dtype:
    """numpy dtype holding values of scalar type ``t`` (bf16 is held as float32)."""
    if t == bf16:
        return np.dtype(np.float32)
    try:
        return _NUMPY_OF[str(t)]
    except KeyError:
        raise TypeError(f"no numpy dtype for type {t}") from None


_TYPE_OF_NUMPY = {
    np.dtype(np.bool_): i1,
    np.dtype(np.int8): i8,
    np.dtype(np.int16): i16,
    np.dtype(np.int32): i32,
    np.dtype(np.int64): i64,
    np.dtype(np.float16): f16,
    np.dtype(np.float32): f32,
    np.dtype(np.float64): f64,
}


def from_numpy_dtype(dtype: np.dtype | type) -> Type:
    """IR scalar type of a numpy dtype."""
    try:
        return _TYPE_OF_NUMPY[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"numpy dtype {np.dtype(dtype)} has no IR type") from None
