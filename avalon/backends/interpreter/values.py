"""Runtime values: converting caller data in and out, and checking values against IR types.

Representation (the contract every op's semantics follows):

* scalars: numpy scalars of the type's dtype (``np.float32`` for f32, ``np.int64`` for index
  and i64, ``np.bool_`` for i1; bf16 is held in ``np.float32`` rounded to bf16 precision);
* tensors and vectors: numpy arrays of the element dtype (0-d arrays for rank 0), treated as
  immutable values;
* memrefs: :class:`~avalon.backends.interpreter.memory.MemRefValue`.

Caller arrays are converted only when numpy's ``safe`` casting allows it; Python numbers
(and lists of them) convert when they fit the type. Anything else is an
:class:`ArgumentError` that names the argument, the expected type and what was given.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avalon.backends.interpreter.memory import MemRefValue
from avalon.ir.types import (
    DYNAMIC,
    FloatType,
    IndexType,
    IntegerType,
    MemRefType,
    ShapedType,
    TensorType,
    Type,
    VectorType,
    bf16,
    contiguous_strides,
    to_numpy_dtype,
)


class ArgumentError(TypeError):
    """A caller's argument does not fit the function's signature."""


def dtype_of(t: Type) -> np.dtype:
    """numpy dtype of the elements of ``t`` (scalar or shaped)."""
    elem = t.element_type if isinstance(t, ShapedType) else t
    return to_numpy_dtype(elem)


def int_width(t: Type) -> int:
    """Bit width of an integer or index type (index is 64 bits wide)."""
    return 64 if isinstance(t, IndexType) else t.width  # type: ignore[attr-defined]


def round_bf16(x: Any) -> Any:
    """Round float values to bfloat16 precision (round to nearest, ties to even), held in
    float32. Rounds once from the float64 value, so results are correctly rounded."""
    x64 = np.asarray(x, dtype=np.float64)
    exp = np.frexp(x64)[1]  # x = mant * 2**exp with 0.5 <= |mant| < 1
    # bf16 keeps 8 significant bits; below 2**-126 the quantum is fixed at 2**-133.
    quantum = np.maximum(exp - 8, -133)
    with np.errstate(all="ignore"):
        rounded = np.ldexp(np.rint(np.ldexp(x64, -quantum)), quantum)
        out = np.where(np.isfinite(x64), rounded, x64).astype(np.float32)
    return out[()] if isinstance(x, np.generic) or np.ndim(x) == 0 else out


def describe(value: Any) -> str:
    """Short description of a caller value for error messages."""
    if isinstance(value, MemRefValue):
        return f"memref of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"numpy array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):
        return f"numpy {value.dtype} scalar"
    return f"Python {type(value).__name__}"


def _shape_fits(shape: tuple[int, ...], t: ShapedType) -> bool:
    return len(shape) == len(t.shape) and all(
        want in (DYNAMIC, got) for want, got in zip(t.shape, shape))


def _python_fits(arr: np.ndarray, elem: Type) -> str | None:
    """Why Python numbers ``arr`` (as numpy made them) do not fit ``elem``, or None."""
    kind = arr.dtype.kind
    if kind == "O":
        return "values must be numbers that fit a fixed-width type"
    if isinstance(elem, FloatType):
        return None if kind in "biuf" else f"cannot hold {arr.dtype} values"
    if isinstance(elem, IntegerType | IndexType):
        width = int_width(elem)
        if kind == "b":
            return None
        if kind not in "iu":
            return "integers are required"
        if width == 1:
            return None if np.all((arr == 0) | (arr == 1)) else "i1 values must be 0 or 1"
        lo, hi = -(1 << (width - 1)), (1 << width) - 1
        if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
            return f"values must lie in [{lo}, {hi}] for {elem}"
        return None
    return f"element type {elem} is not supported by the interpreter"


def _convert_data(value: Any, elem: Type, what: str, expected: Type) -> np.ndarray:
    """Data of a scalar or tensor argument as an array of the exact dtype (a fresh copy)."""
    try:
        dtype = to_numpy_dtype(elem)
    except TypeError:
        raise ArgumentError(f"{what}: element type {elem} of {expected} is not supported by "
                            "the interpreter") from None
    if isinstance(value, np.ndarray | np.generic):
        arr = np.asarray(value)
        if arr.dtype == dtype or np.can_cast(arr.dtype, dtype, "safe"):
            out = np.array(arr, dtype=dtype, copy=True, order="C")
        else:
            raise ArgumentError(f"{what}: expected {expected}, got {describe(value)} "
                                f"({arr.dtype} does not convert safely to {dtype})")
    else:
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise ArgumentError(f"{what}: expected {expected}, got {describe(value)} "
                                f"({exc})") from None
        problem = _python_fits(arr, elem)
        if problem is not None:
            raise ArgumentError(f"{what}: expected {expected}, got {describe(value)} "
                                f"({problem})")
        if arr.dtype.kind in "iu" and dtype.kind in "ib":
            # Wrap Python integers into the signless type (e.g. 0xFF into i8 is -1).
            arr = arr.astype(np.uint64 if arr.dtype.kind == "u" else np.int64)
            out = arr.astype(dtype) if dtype.kind == "i" else (arr & 1).astype(np.bool_)
        else:
            with np.errstate(over="ignore"):
                out = np.array(arr, dtype=dtype, copy=True, order="C")
    if elem == bf16:
        out = np.asarray(round_bf16(out))
    return out


def to_runtime(value: Any, t: Type, what: str = "argument") -> Any:
    """Convert a caller value to the runtime value of type ``t`` (``what`` names it in
    errors). Memref arguments alias the caller's array: writes are visible to the caller."""
    if isinstance(t, MemRefType):
        return _to_memref(value, t, what)
    if isinstance(t, TensorType | VectorType):
        if isinstance(value, MemRefValue):
            raise ArgumentError(f"{what}: expected {t}, got {describe(value)}")
        arr = _convert_data(value, t.element_type, what, t)
        if not _shape_fits(arr.shape, t):
            raise ArgumentError(f"{what}: expected {t}, got {describe(value)} "
                                f"(shape {arr.shape} does not match)")
        return arr
    if isinstance(t, IntegerType | IndexType | FloatType):
        if (isinstance(value, np.ndarray) and value.ndim != 0) or isinstance(
                value, list | tuple | MemRefValue):
            raise ArgumentError(f"{what}: expected scalar {t}, got {describe(value)}")
        return _convert_data(value, t, what, t)[()]
    return value


def _to_memref(value: Any, t: MemRefType, what: str) -> MemRefValue:
    if isinstance(value, MemRefValue):
        arr_dtype, shape = value.dtype, value.shape
        view = value
    elif isinstance(value, np.ndarray):
        arr_dtype, shape = value.dtype, value.shape
        view = None
    else:
        raise ArgumentError(f"{what}: expected {t} (a numpy array, aliased in place), got "
                            f"{describe(value)}")
    try:
        dtype = dtype_of(t)
    except TypeError:
        raise ArgumentError(f"{what}: element type {t.element_type} is not supported by the "
                            "interpreter") from None
    if arr_dtype != dtype:
        raise ArgumentError(f"{what}: expected {t}, got {describe(value)} (memref arguments "
                            f"alias the caller's array, so its dtype must be exactly {dtype})")
    if not _shape_fits(shape, t):
        raise ArgumentError(f"{what}: expected {t}, got {describe(value)} (shape {shape} does "
                            "not match)")
    strides, offset = t.strides_and_offset()
    if offset not in (0, DYNAMIC) or any(
            s not in (DYNAMIC, c) for s, c in zip(strides, contiguous_strides(shape))):
        raise ArgumentError(f"{what}: memref type {t} has a non-contiguous layout; only "
                            "row-major memref arguments can alias a caller's array")
    if view is not None:
        return view
    if not value.flags.c_contiguous:
        raise ArgumentError(f"{what}: expected {t}, got a non-contiguous array; pass a "
                            "C-contiguous array (np.ascontiguousarray) to alias it")
    if not value.flags.writeable:
        raise ArgumentError(f"{what}: expected {t}, got a read-only array")
    return MemRefValue.wrap(value)


def from_runtime(value: Any, t: Type) -> Any:
    """The caller's view of a runtime result: arrays for tensors and vectors, numpy views
    aliasing the buffer for memrefs, numpy scalars for scalars."""
    if isinstance(value, MemRefValue):
        return value.array()
    if isinstance(t, TensorType | VectorType):
        arr = np.asarray(value)
        return arr if arr.flags.writeable else arr.copy()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def mismatch(value: Any, t: Type) -> str | None:
    """Why runtime ``value`` is not a value of type ``t``, or None if it is."""
    if isinstance(t, MemRefType):
        if not isinstance(value, MemRefValue):
            return f"expected a MemRefValue, got {describe(value)}"
        return _data_mismatch(value.dtype, value.shape, t)
    if isinstance(t, TensorType | VectorType):
        if isinstance(value, np.ndarray):
            return _data_mismatch(value.dtype, value.shape, t)
        if isinstance(value, np.generic) and t.rank == 0:
            return _data_mismatch(value.dtype, (), t)
        return f"expected a numpy array, got {describe(value)}"
    if isinstance(t, IntegerType | IndexType | FloatType):
        if not isinstance(value, np.generic):
            return f"expected a numpy scalar, got {describe(value)}"
        want = dtype_of(t)
        if value.dtype != want:
            return f"expected a numpy {want} scalar, got {describe(value)}"
    return None


def _data_mismatch(dtype: np.dtype, shape: tuple[int, ...], t: ShapedType) -> str | None:
    want = dtype_of(t)
    if dtype != want:
        return f"dtype {dtype} is not {want}"
    if not _shape_fits(tuple(shape), t):
        return f"shape {tuple(shape)} does not match"
    return None
