"""How IR types map to LLVM types, in registers and in memory, and constant building.

In registers an IR type maps to the obvious LLVM type (``index`` is ``i64``, ``bf16`` is
``bfloat``, ``vector<8xf32>`` is ``<8 x float>``, every memref is an opaque ``ptr`` to the first
byte of its allocation). In memory ``i1`` is stored as a byte (``i8``, 0 or 1), because numpy
booleans are bytes and LLVM would bit-pack ``<N x i1>``; every other type is stored as itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import llvmlite.ir as ir
import numpy as np

from avalon.ir.types import (
    FloatType,
    IndexType,
    IntegerType,
    MemRefType,
    Type,
    VectorType,
)


class BFloatType(ir.types._BaseFloatType):
    """LLVM's ``bfloat`` (llvmlite.ir has no class for it); constants are built from bits."""

    null = "0.0"
    intrinsic_name = "bf16"

    def __str__(self) -> str:
        return "bfloat"

    def format_constant(self, value: float) -> str:
        raise TypeError("bfloat constants are built with bf16_constant()")


BFloatType._create_instance()

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I16 = ir.IntType(16)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
VOID = ir.VoidType()
HALF = ir.HalfType()
BFLOAT = BFloatType()
FLOAT = ir.FloatType()
DOUBLE = ir.DoubleType()

_FLOATS = {"f16": HALF, "bf16": BFLOAT, "f32": FLOAT, "f64": DOUBLE}


class UnsupportedType(TypeError):
    """An IR type the CPU backend cannot represent."""


def scalar_type(t: Type) -> ir.Type:
    """Register type of a scalar IR type."""
    if isinstance(t, IndexType):
        return I64
    if isinstance(t, IntegerType):
        return ir.IntType(t.width)
    if isinstance(t, FloatType):
        return _FLOATS[t.name]
    raise UnsupportedType(f"type '{t}' has no LLVM scalar type")


def value_type(t: Type) -> ir.Type:
    """Register type of any IR value type the backend supports."""
    if isinstance(t, MemRefType):
        return PTR
    if isinstance(t, VectorType):
        if t.rank != 1:
            raise UnsupportedType(f"only 1-d vectors are supported, got '{t}'")
        return ir.VectorType(scalar_type(t.element_type), t.shape[0])
    return scalar_type(t)


def storage_type(t: Type) -> ir.Type:
    """In-memory type of a scalar or vector IR type (``i1`` elements are bytes)."""
    if isinstance(t, VectorType):
        return ir.VectorType(storage_type(t.element_type), t.shape[0])
    if isinstance(t, IntegerType) and t.width == 1:
        return I8
    return scalar_type(t)


def storage_size(t: Type) -> int:
    """Bytes one element of scalar type ``t`` occupies in a buffer (LLVM's alloc size)."""
    if isinstance(t, IndexType):
        return 8
    if isinstance(t, FloatType):
        return t.width // 8
    if isinstance(t, IntegerType):
        if t.width > 64:
            return -(-t.width // 64) * 8
        size = 1
        while size * 8 < t.width:
            size *= 2
        return size
    raise UnsupportedType(f"type '{t}' cannot be stored in a buffer")


def is_float(t: ir.Type) -> bool:
    et = t.element if isinstance(t, ir.VectorType) else t
    return isinstance(et, ir.types._BaseFloatType)


def element_of(t: ir.Type) -> ir.Type:
    return t.element if isinstance(t, ir.VectorType) else t


def bool_type_like(t: ir.Type) -> ir.Type:
    """``i1`` or ``<N x i1>`` matching the shape of ``t``."""
    return ir.VectorType(I1, t.count) if isinstance(t, ir.VectorType) else I1


def to_storage(b: ir.IRBuilder, value: ir.Value, t: Type) -> ir.Value:
    """Convert a register value of IR type ``t`` to its in-memory representation."""
    st = storage_type(t)
    return b.zext(value, st) if st != value.type else value


def from_storage(b: ir.IRBuilder, value: ir.Value, t: Type) -> ir.Value:
    """Convert a loaded in-memory value to the register value of IR type ``t``."""
    vt = value_type(t)
    return b.trunc(value, vt) if vt != value.type else value


def splat(t: ir.Type, scalar: ir.Constant) -> ir.Constant:
    """A constant of type ``t`` (scalar or vector) holding ``scalar`` in every lane."""
    if isinstance(t, ir.VectorType):
        return ir.Constant(t, [scalar] * t.count)
    return scalar


def int_const(t: ir.Type, value: int) -> ir.Constant:
    """Integer constant (splat for vectors), ``value`` wrapped to the width."""
    et = element_of(t)
    return splat(t, ir.Constant(et, _wrap(value, et.width)))


def _wrap(value: int, width: int) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) and width > 1 else value


def float_const(t: ir.Type, value: float) -> ir.Constant:
    """Float constant (splat for vectors) of the element type of ``t``."""
    et = element_of(t)
    return splat(t, scalar_float_const(et, value))


def scalar_float_const(et: ir.Type, value: float) -> ir.Constant:
    if et == HALF:
        bits = int(np.array(value, dtype=np.float16).view(np.uint16))
        return ir.Constant(I16, bits).bitcast(HALF)
    if et == BFLOAT:
        return bf16_constant(value)
    if et == FLOAT:
        with np.errstate(over="ignore"):
            value = float(np.float32(value))
    return ir.Constant(et, float(value))


def bf16_constant(value: float) -> ir.Constant:
    """A ``bfloat`` constant from a value already rounded to bf16 (held as float32)."""
    bits = int(np.array(value, dtype=np.float32).view(np.uint32)) >> 16
    return ir.Constant(I16, bits).bitcast(BFLOAT)


def constant_of(t: Type, values: Sequence) -> ir.Constant:
    """Constant of IR type ``t`` (scalar or 1-d vector) from numpy/Python element values."""
    vt = value_type(t)
    et = element_of(vt)
    if isinstance(et, ir.IntType):
        elems = [ir.Constant(et, _wrap(int(v), et.width)) for v in values]
    else:
        elems = [scalar_float_const(et, float(v)) for v in values]
    if isinstance(vt, ir.VectorType):
        return ir.Constant(vt, elems)
    return elems[0]


def storage_bytes(t: Type, values: np.ndarray) -> bytes | None:
    """The bytes of ``values`` laid out as buffer elements of scalar IR type ``t``
    (little-endian, ``i1`` as one byte), or None where numpy has no exact representation
    (``bf16``, odd integer widths)."""
    if isinstance(t, IndexType):
        code = "<i8"
    elif isinstance(t, IntegerType):
        if t.width == 1:
            return np.asarray(values).astype(np.uint8).tobytes()
        if t.width not in (8, 16, 32, 64):
            return None
        code = f"<i{t.width // 8}"
    elif isinstance(t, FloatType) and t.name in ("f16", "f32", "f64"):
        code = f"<f{t.width // 8}"
    else:
        return None
    with np.errstate(over="ignore"):
        return np.asarray(values).astype(code).tobytes()  # integers wrap like the IR's


def mangle(t: ir.Type) -> str:
    """LLVM's overloaded-intrinsic suffix for type ``t``: ``f32``, ``v8f32``, ``i64``..."""
    if isinstance(t, ir.VectorType):
        return f"v{t.count}{mangle(t.element)}"
    if isinstance(t, ir.IntType):
        return f"i{t.width}"
    if isinstance(t, ir.PointerType):
        return "p0"
    return {HALF: "f16", BFLOAT: "bf16", FLOAT: "f32", DOUBLE: "f64"}[t]
