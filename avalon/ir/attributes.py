"""IR attributes: immutable, hashable compile-time constants; ``str(a)`` is MLIR's text form.

Dense element data is numpy-backed (read-only arrays) and hashed by its bytes, so attributes
can key caches and be compared for CSE.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from avalon.ir.affine import AffineMap
from avalon.ir.types import (
    DYNAMIC,
    FloatType,
    IndexType,
    IntegerType,
    ShapedType,
    Type,
    bf16,
    f64,
    i1,
    i64,
    to_numpy_dtype,
)


class Attribute:
    """Base of all attributes."""

    __slots__ = ()

    def render(self, elide_type: bool = False) -> str:
        """Text form; ``elide_type`` drops a default ``: i64`` / ``: f64`` suffix (in arrays)."""
        return str(self)

    def __repr__(self) -> str:
        return f"Attribute({self})"


# ----------------------------------------------------------------------------------- scalars
def format_float(value: float, type_: Type) -> str:
    """Shortest text that reads back to exactly ``value`` at ``type_``'s precision.

    Non-finite values print as MLIR's hexadecimal bit pattern.
    """
    if math.isfinite(value):
        text = repr(float(value))
        if "e" in text and "." not in text:
            mant, exp = text.split("e")
            text = f"{mant}.0e{exp}"
        return text
    return float_bits_hex(value, type_)


def float_bits_hex(value: float, type_: Type) -> str:
    name = str(type_)
    if name == "f64":
        bits = struct.unpack("<Q", struct.pack("<d", value))[0]
        return f"0x{bits:016X}"
    if name == "f32":
        bits = struct.unpack("<I", struct.pack("<f", value))[0]
        return f"0x{bits:08X}"
    if name == "f16":
        bits = int(np.array(value, dtype=np.float16).view(np.uint16))
        return f"0x{bits:04X}"
    if name == "bf16":
        bits = struct.unpack("<I", struct.pack("<f", value))[0] >> 16
        return f"0x{bits:04X}"
    raise ValueError(f"not a float type: {type_}")


def float_from_bits(bits: int, type_: Type) -> float:
    name = str(type_)
    if name == "f64":
        return struct.unpack("<d", struct.pack("<Q", bits & (2**64 - 1)))[0]
    if name == "f32":
        return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]
    if name == "f16":
        return float(np.array(bits & 0xFFFF, dtype=np.uint16).view(np.float16))
    if name == "bf16":
        return struct.unpack("<f", struct.pack("<I", (bits & 0xFFFF) << 16))[0]
    raise ValueError(f"not a float type: {type_}")


def round_to_type(value: float, type_: Type) -> float:
    """Round a Python float to the precision of float type ``type_``."""
    if type_ == f64:
        return float(value)
    if type_ == bf16:
        with np.errstate(over="ignore"):
            f32_val = np.float32(value)
        if math.isfinite(value) and float(f32_val) != value:
            # Round to odd on the way to f32, so that rounding to bf16 below is a single
            # correct rounding of the double (plain f64 -> f32 -> bf16 can round twice).
            if abs(float(f32_val)) > abs(value):
                f32_val = np.nextafter(f32_val, np.float32(0))
            f32_val = np.uint32(int(f32_val.view(np.uint32)) | 1).view(np.float32)
        bits = int(f32_val.view(np.uint32))
        if math.isfinite(f32_val):
            bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000  # round to nearest even
        else:
            bits &= 0xFFFF0000
        return float(np.uint32(bits).view(np.float32))
    fmt = _STRUCT_FLOAT.get(type_)
    if fmt is not None:
        # struct rounds to nearest even like numpy and is ~50x cheaper than np.errstate;
        # values beyond the type's range (OverflowError) take the numpy path below.
        try:
            return struct.unpack(fmt, struct.pack(fmt, value))[0]
        except OverflowError:
            pass
    with np.errstate(over="ignore"):
        return float(np.array(value, dtype=to_numpy_dtype(type_)))


_STRUCT_FLOAT = {FloatType("f32"): "<f", FloatType("f16"): "<e"}


def wrap_int(value: int, type_: Type) -> int:
    """Two's-complement wrap of ``value`` into integer type ``type_`` (signed view)."""
    if isinstance(type_, IndexType):
        width = 64
    elif isinstance(type_, IntegerType):
        width = type_.width
    else:
        raise ValueError(f"not an integer type: {type_}")
    if width == 1:
        return value & 1
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


@dataclass(frozen=True, slots=True, repr=False)
class IntegerAttr(Attribute):
    """An integer (or index, or ``i1`` boolean) constant; the value is stored wrapped."""

    value: int
    type: Type = i64

    def __post_init__(self) -> None:
        if not isinstance(self.type, IntegerType | IndexType):
            raise TypeError(f"IntegerAttr needs an integer or index type, not {self.type}")
        object.__setattr__(self, "value", wrap_int(int(self.value), self.type))

    def render(self, elide_type: bool = False) -> str:
        if self.type == i1:
            return "true" if self.value else "false"
        if elide_type and self.type == i64:
            return str(self.value)
        return f"{self.value} : {self.type}"

    def __str__(self) -> str:
        return self.render(False)


def bool_attr(value: bool) -> IntegerAttr:
    return IntegerAttr(int(bool(value)), i1)


@dataclass(frozen=True, slots=True, repr=False)
class FloatAttr(Attribute):
    """A floating-point constant, stored rounded to its type's precision."""

    value: float
    type: Type = f64

    def __post_init__(self) -> None:
        if not isinstance(self.type, FloatType):
            raise TypeError(f"FloatAttr needs a float type, not {self.type}")
        object.__setattr__(self, "value", round_to_type(float(self.value), self.type))

    def __eq__(self, other: object) -> bool:
        # Bitwise equality so that NaN attributes equal themselves and 0.0 != -0.0.
        if not isinstance(other, FloatAttr) or other.type != self.type:
            return False
        return struct.pack("<d", self.value) == struct.pack("<d", other.value)

    def __hash__(self) -> int:
        return hash((struct.pack("<d", self.value), self.type))

    def render(self, elide_type: bool = False) -> str:
        text = format_float(self.value, self.type)
        # Non-finite values print as hex bits, which would read back as an integer untyped.
        if elide_type and self.type == f64 and math.isfinite(self.value):
            return text
        return f"{text} : {self.type}"

    def __str__(self) -> str:
        return self.render(False)


def quote_string(text: str) -> str:
    """MLIR string literal: printable ASCII verbatim, the rest as ``\\XX`` byte escapes."""
    out = ['"']
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        else:
            out.append(f"\\{byte:02X}")
    out.append('"')
    return "".join(out)


@dataclass(frozen=True, slots=True, repr=False)
class StringAttr(Attribute):
    value: str

    def __str__(self) -> str:
        return quote_string(self.value)


@dataclass(frozen=True, slots=True, repr=False)
class UnitAttr(Attribute):
    """Presence-only attribute; prints as ``unit`` (a bare key in a dictionary)."""

    def __str__(self) -> str:
        return "unit"


UNIT = UnitAttr()


@dataclass(frozen=True, slots=True, repr=False)
class TypeAttr(Attribute):
    value: Type

    def __str__(self) -> str:
        return str(self.value)


_BARE_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$.")


def is_bare_identifier(name: str) -> bool:
    return (
        bool(name)
        and (name[0].isascii() and (name[0].isalpha() or name[0] == "_"))
        and all(c in _BARE_ID_CHARS for c in name)
    )


def symbol_text(name: str) -> str:
    return "@" + (name if is_bare_identifier(name) else quote_string(name))


@dataclass(frozen=True, slots=True, repr=False)
class SymbolRefAttr(Attribute):
    """Reference to a symbol: ``@root`` or ``@root::@nested``."""

    root: str
    nested: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "::".join(symbol_text(n) for n in (self.root, *self.nested))


@dataclass(frozen=True, slots=True, repr=False)
class ArrayAttr(Attribute):
    elements: tuple[Attribute, ...]

    def __str__(self) -> str:
        return "[" + ", ".join(e.render(True) for e in self.elements) + "]"

    def __iter__(self):
        return iter(self.elements)

    def __len__(self) -> int:
        return len(self.elements)

    def __getitem__(self, i: int) -> Attribute:
        return self.elements[i]


def attr_key_text(name: str) -> str:
    return name if is_bare_identifier(name) else quote_string(name)


def dict_body_text(items: tuple[tuple[str, Attribute], ...] | list) -> str:
    parts = []
    for name, value in items:
        key = attr_key_text(name)
        parts.append(key if isinstance(value, UnitAttr) else f"{key} = {value}")
    return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True, slots=True, repr=False)
class DictAttr(Attribute):
    """Dictionary attribute; entries are kept sorted by name as in MLIR."""

    items: tuple[tuple[str, Attribute], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(sorted(self.items, key=lambda kv: kv[0])))

    @staticmethod
    def of(mapping: dict[str, Attribute]) -> DictAttr:
        return DictAttr(tuple(mapping.items()))

    def get(self, name: str, default: Attribute | None = None) -> Attribute | None:
        for k, v in self.items:
            if k == name:
                return v
        return default

    def as_dict(self) -> dict[str, Attribute]:
        return dict(self.items)

    def __str__(self) -> str:
        return dict_body_text(self.items)


@dataclass(frozen=True, slots=True, repr=False)
class AffineMapAttr(Attribute):
    value: AffineMap

    def __str__(self) -> str:
        return f"affine_map<{self.value}>"


@dataclass(frozen=True, slots=True, repr=False)
class DenseArrayAttr(Attribute):
    """Compact array of scalars: ``array<i64: 1, 2, 3>`` (permutations, sizes, strides)."""

    element_type: Type
    values: tuple[int | float, ...]

    def __post_init__(self) -> None:
        if isinstance(self.element_type, FloatType):
            vals = tuple(round_to_type(float(v), self.element_type) for v in self.values)
        elif isinstance(self.element_type, IntegerType | IndexType):
            vals = tuple(wrap_int(int(v), self.element_type) for v in self.values)
        else:
            raise TypeError(f"DenseArrayAttr of unsupported element type {self.element_type}")
        object.__setattr__(self, "values", vals)

    def __str__(self) -> str:
        if not self.values:
            return f"array<{self.element_type}>"
        if self.element_type == i1:
            body = ", ".join("true" if v else "false" for v in self.values)
        elif isinstance(self.element_type, FloatType):
            body = ", ".join(format_float(v, self.element_type) for v in self.values)
        else:
            body = ", ".join(str(v) for v in self.values)
        return f"array<{self.element_type}: {body}>"

    def __iter__(self):
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int) -> int | float:
        return self.values[i]


def i64_array(values) -> DenseArrayAttr:
    return DenseArrayAttr(i64, tuple(int(v) for v in values))


@dataclass(frozen=True, slots=True, repr=False)
class StridedLayoutAttr(Attribute):
    """Memref layout ``strided<[s0, s1], offset: o>``; ``DYNAMIC`` entries print as ``?``."""

    strides: tuple[int, ...]
    offset: int = 0

    def __str__(self) -> str:
        strides = ", ".join("?" if s == DYNAMIC else str(s) for s in self.strides)
        if self.offset == 0:
            return f"strided<[{strides}]>"
        off = "?" if self.offset == DYNAMIC else str(self.offset)
        return f"strided<[{strides}], offset: {off}>"


@dataclass(frozen=True, slots=True, repr=False)
class OpaqueAttr(Attribute):
    """An attribute of an unregistered dialect, kept verbatim: ``#dialect.body``."""

    dialect: str
    data: str

    def __str__(self) -> str:
        return f"#{self.dialect}.{self.data}"


@dataclass(frozen=True, slots=True, repr=False)
class DenseResourceAttr(Attribute):
    """A handle to constant data kept outside the IR text: ``dense_resource<name> : type``.

    The printer writes ``dense_resource<__elided__>`` in place of large constants when asked to
    elide them (as MLIR does); parsing such text gives this attribute, which holds no data.
    """

    handle: str
    type: Type

    def __str__(self) -> str:
        return f"dense_resource<{attr_key_text(self.handle)}> : {self.type}"


class DenseElementsAttr(Attribute):
    """Constant n-d data of a tensor or vector type, backed by a read-only numpy array.

    A splat (one value repeated) is held as a zero-stride broadcast view of that value, so a
    ``tensor<16777216xf32>`` splat costs a few bytes, and comparing or hashing splats looks
    at one element: the graph-level folders produce such splats whenever a scalar meets a
    big tensor, and CSE compares them.
    """

    __slots__ = ("_hash", "_splat", "_uniform", "array", "type")

    HEX_THRESHOLD = 256  # larger constants print as a hex blob (exact and fast)

    def __init__(self, array: Any, type_: ShapedType) -> None:
        if not isinstance(type_, ShapedType) or not type_.has_static_shape:
            raise TypeError(f"dense elements need a static shaped type, not {type_}")
        dtype = to_numpy_dtype(type_.element_type)
        arr = np.asarray(array)
        self._splat: bool | None = None
        #: Whether every element has the same bytes (None: not computed yet).
        self._uniform: bool | None = None
        if arr.size >= 1 and (arr.shape == () or not any(arr.strides)) and (
                arr.shape == () or arr.shape == type_.shape):
            # One value (a scalar, or a broadcast view of one): keep one element.
            scalar = np.array(arr.reshape(-1)[:1], dtype=dtype)
            if type_.element_type == bf16:
                scalar = np.array([round_to_type(scalar[0], bf16)], dtype=np.float32)
            scalar.flags.writeable = False
            arr = np.broadcast_to(scalar.reshape(()), type_.shape)  # read-only view
            self._uniform = True
            if arr.size <= 1:
                arr = np.array(arr, order="C")
                arr.flags.writeable = False
        else:
            arr = arr.astype(dtype, copy=False)
            if arr.shape != type_.shape:
                raise ValueError(f"dense data of shape {arr.shape} does not match type {type_}")
            if type_.element_type == bf16:
                arr = np.vectorize(lambda v: round_to_type(v, bf16), otypes=[np.float32])(arr)
            arr = np.array(arr, order="C")  # a copy we own (ascontiguousarray: 0-d -> 1-d)
            arr.flags.writeable = False
        self.array = arr
        self.type = type_
        self._hash: int | None = None

    @staticmethod
    def splat(value: int | float | bool, type_: ShapedType) -> DenseElementsAttr:
        return DenseElementsAttr(np.asarray(value), type_)

    @property
    def is_splat(self) -> bool:
        if self._splat is None:
            a = self.array
            if a.size <= 1:
                self._splat = True
            elif self._is_uniform():  # all NaN (same payload) prints element-wise
                self._splat = not (a.dtype.kind == "f" and bool(np.isnan(a.flat[0])))
            else:
                flat = a.reshape(-1)
                self._splat = bool(np.all(flat == flat[0])) and not (
                    a.dtype.kind == "f" and np.isnan(flat).any() and not np.isnan(flat).all()
                )
        return self._splat

    def _is_uniform(self) -> bool:
        """Every element has the same bytes (cheap for splats built from one value)."""
        if self._uniform is None:
            a = self.array
            if a.size <= 1:
                self._uniform = True
            else:
                bits = a.reshape(-1).view(f"u{a.dtype.itemsize}")
                self._uniform = bool(np.all(bits == bits[0]))
        return self._uniform

    def splat_value(self) -> int | float | bool:
        return self.array.reshape(-1)[0].item()

    def _first_bytes(self) -> bytes:
        return self.array.reshape(-1)[:1].tobytes()

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, DenseElementsAttr) or other.type != self.type:
            return False
        if self.array.size > 1 and (self._uniform or other._uniform):
            return (self._is_uniform() and other._is_uniform()
                    and self._first_bytes() == other._first_bytes())
        return self.array.tobytes() == other.array.tobytes()

    def __hash__(self) -> int:
        if self._hash is None:
            if self.array.size > 1 and self._is_uniform():
                self._hash = hash((self.type, "uniform", self._first_bytes()))
            else:
                self._hash = hash((self.type, self.array.tobytes()))
        return self._hash

    def _scalar_text(self, v: Any) -> str:
        et = self.type.element_type
        if et == i1:
            return "true" if v else "false"
        if isinstance(et, FloatType):
            return format_float(float(v), et)
        return str(int(v))

    def body_text(self) -> str:
        """The part inside ``dense<...>``."""
        a = self.array
        if a.size == 0:
            return ""  # MLIR writes every zero-element constant as dense<>
        if self.is_splat:
            return self._scalar_text(a.reshape(-1)[0])
        if a.size > self.HEX_THRESHOLD and self.type.element_type != bf16:
            if a.dtype == np.bool_:  # MLIR packs i1 data 8 elements per byte, LSB first
                data = np.packbits(a.reshape(-1), bitorder="little").tobytes()
            else:
                data = a.tobytes()
            return '"0x' + data.hex().upper() + '"'
        return self._nested_text(a)

    def _nested_text(self, a: np.ndarray) -> str:
        if a.ndim == 0:
            return self._scalar_text(a.item())
        return "[" + ", ".join(self._nested_text(x) for x in a) + "]"

    def __str__(self) -> str:
        return f"dense<{self.body_text()}> : {self.type}"


def attr_to_python(attr: Attribute) -> Any:
    """Plain Python view of simple attributes (ints, floats, strings, arrays of them)."""
    if isinstance(attr, IntegerAttr):
        return bool(attr.value) if attr.type == i1 else attr.value
    if isinstance(attr, FloatAttr):
        return attr.value
    if isinstance(attr, StringAttr):
        return attr.value
    if isinstance(attr, ArrayAttr):
        return [attr_to_python(e) for e in attr.elements]
    if isinstance(attr, DenseArrayAttr):
        return list(attr.values)
    if isinstance(attr, TypeAttr):
        return attr.value
    if isinstance(attr, UnitAttr):
        return True
    if isinstance(attr, DenseElementsAttr):
        return attr.array
    return attr
