"""Calling compiled functions from Python: argument checks, packing, results, errors.

Every call goes through the function's packed entry point ``void f__avalon_packed(i8**
args)``: ``args`` holds one pointer per argument (to the scalar value, or to a slot holding
a buffer's base pointer), one per result (where the result is stored) and one to an ``i32``
error slot. Before packing, every argument is checked against the compiled signature, so
nothing a caller passes can make generated code touch memory outside the arrays it was given:

* memrefs: a numpy array of exactly the element dtype and shape, with exactly the type's
  layout (C-contiguous for the identity layout, the given strides otherwise), aligned, and
  writeable if the function may write it; when the module was compiled with ``noalias``, an
  array the function writes must not overlap any other array argument;
* scalars: Python or numpy numbers that fit the type, with the interpreter's rules;
* vectors: 1-d arrays (or sequences) of exactly the vector's length.

The call is made through ctypes' ``CFUNCTYPE``, which releases the GIL for its duration.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from avalon.backends.cpu.abi import (
    ERROR_ALLOCATION,
    ERROR_DIVISION_BY_ZERO,
    ErrorSite,
    FunctionSignature,
    ValueSpec,
)
from avalon.ir.types import contiguous_strides

if TYPE_CHECKING:
    from avalon.backends.cpu.jit import CompiledModule

_PACKED = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_libc = ctypes.CDLL(None)
_free = _libc.free
_free.argtypes = [ctypes.c_void_p]
_free.restype = None

#: glibc ``mallopt`` parameter numbers (``malloc.h``) and the values set by
#: :func:`keep_freed_memory`: blocks up to 32 MiB (glibc's maximum) come from the heap, and
#: up to 256 MiB of free memory at its top stays mapped.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20
_TRIM_THRESHOLD = 256 << 20
KEEP_MEMORY_ENV = "AVALON_KEEP_FREED_MEMORY"


def keep_freed_memory() -> bool:
    """Tune glibc's malloc so that memory freed by compiled code is reused, not unmapped.

    Compiled functions allocate their temporary buffers on every call (a LeNet train step:
    about 23 MB). With glibc's defaults those blocks are mmapped or trimmed from the heap
    when freed, so every call faults in and zeroes the same pages again, which cost a
    quarter of the step's time. Fixed thresholds keep them in the heap for the next call.
    Returns whether the settings were applied: not on other C libraries, nor with
    ``AVALON_KEEP_FREED_MEMORY=0``.
    """
    if os.environ.get(KEEP_MEMORY_ENV, "1") == "0":
        return False
    mallopt = getattr(_libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


keep_freed_memory()


class NativeError(RuntimeError):
    """An error reported by compiled code (the op and its source location are attributes)."""

    def __init__(self, site: ErrorSite, message: str) -> None:
        super().__init__(f"{site.location}: '{site.op_name}' op {message}")
        self.site = site


class NativeZeroDivisionError(NativeError, ZeroDivisionError):
    """Integer division or remainder by zero in compiled code."""


class NativeMemoryError(NativeError, MemoryError):
    """Compiled code could not allocate a buffer."""


def raise_native_error(code: int, sites: Sequence[ErrorSite]) -> None:
    if not 1 <= code <= len(sites):
        raise RuntimeError(f"compiled code reported an unknown error code {code}")
    site = sites[code - 1]
    if site.kind == ERROR_DIVISION_BY_ZERO:
        raise NativeZeroDivisionError(site, "divides by zero")
    if site.kind == ERROR_ALLOCATION:
        raise NativeMemoryError(site, "could not allocate memory")
    raise NativeError(site, f"failed ({site.kind})")


# --------------------------------------------------------------------------- result buffers


class _NativeAllocation:
    """Owns a buffer allocated by compiled code; frees it when the last view is gone."""

    __slots__ = ("address",)

    def __init__(self, address: int) -> None:
        self.address = address

    def __del__(self) -> None:
        if self.address:
            _free(self.address)
            self.address = 0


class _View:
    """Exposes a strided region of foreign memory to numpy (``np.asarray`` keeps this object,
    and so ``owner``, alive as the array's base)."""

    __slots__ = ("__array_interface__", "owner")

    def __init__(self, address: int, spec: ValueSpec, owner: Any) -> None:
        item = spec.np_dtype.itemsize
        self.owner = owner
        self.__array_interface__ = {
            "version": 3, "typestr": spec.np_dtype.str, "shape": spec.shape,
            "strides": tuple(s * item for s in spec.strides),
            "data": (address + spec.offset * item, False),
        }


# ------------------------------------------------------------------------ argument checks


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):
        return f"a numpy {value.dtype} scalar"
    return f"a Python {type(value).__name__}"


def _fn_label(sig: FunctionSignature) -> str:
    return f"'@{sig.name}'"


def _scalar(value: Any, spec: ValueSpec, sig: FunctionSignature) -> np.ndarray:
    """A 0-d array of the slot dtype holding ``value`` converted like the interpreter does."""
    where = f"{_fn_label(sig)} {spec.label()}"
    dtype = spec.np_dtype
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic):
        if value.dtype != dtype and not np.can_cast(value.dtype, dtype, "safe"):
            raise TypeError(f"{where}: expected {spec.type}, got {_describe(value)} "
                            f"({value.dtype} does not convert safely to {dtype})")
        out = np.array(value, dtype=dtype)
    elif isinstance(value, bool | int | float):
        out = _python_scalar(value, spec, where)
    else:
        raise TypeError(f"{where}: expected scalar {spec.type}, got {_describe(value)}")
    if spec.bf16:
        out = np.array(_round_bf16(float(out)), dtype=np.float32)
    return out


def _python_scalar(value: bool | int | float, spec: ValueSpec, where: str) -> np.ndarray:
    dtype = spec.np_dtype
    if dtype.kind == "f":
        with np.errstate(over="ignore"):
            return np.array(float(value), dtype=dtype)
    if isinstance(value, float):
        raise TypeError(f"{where}: expected {spec.type}, got {_describe(value)} (integers are "
                        "required)")
    v = int(value)
    if dtype.kind == "b":
        if v not in (0, 1):
            raise ValueError(f"{where}: expected {spec.type}, got {v} (i1 values must be 0 or 1)")
        return np.array(bool(v))
    width = dtype.itemsize * 8
    lo, hi = -(1 << (width - 1)), (1 << width) - 1
    if not lo <= v <= hi:
        raise ValueError(f"{where}: expected {spec.type}, got {v} (values must lie in "
                         f"[{lo}, {hi}])")
    v &= (1 << width) - 1
    if v >> (width - 1):
        v -= 1 << width
    return np.array(v, dtype=dtype)


def _round_bf16(x: float) -> np.float32:
    """Round a float once to bfloat16 precision (nearest, ties to even), held in float32."""
    if not math.isfinite(x) or x == 0.0:
        return np.float32(x)
    _, e = math.frexp(x)
    q = max(e - 8, -133)
    r = math.ldexp(round(math.ldexp(x, -q)), q)
    with np.errstate(over="ignore"):
        return np.float32(r)


_INT_CTYPES = {1: ctypes.c_int8, 2: ctypes.c_int16, 4: ctypes.c_int32, 8: ctypes.c_int64}


def _fast_scalar(spec: ValueSpec) -> Any:
    """A packer for the common case of a Python ``int``/``float`` scalar argument: returns a
    ctypes cell holding the converted value, or None to take the general path."""
    if spec.kind != "scalar" or spec.bf16:
        return None
    dtype = spec.np_dtype
    if dtype.kind == "i":
        width = dtype.itemsize * 8
        lo, hi = -(1 << (width - 1)), (1 << width) - 1
        ctype = _INT_CTYPES[dtype.itemsize]

        def pack_int(value: Any) -> Any:
            # ctypes keeps the low bits: in-range values wrap into the signless type.
            if type(value) is int and lo <= value <= hi:
                return ctype(value)
            return None

        return pack_int
    if dtype.kind == "f" and dtype.itemsize in (4, 8):
        ctype = ctypes.c_float if dtype.itemsize == 4 else ctypes.c_double

        def pack_float(value: Any) -> Any:
            return ctype(value) if type(value) is float else None

        return pack_float
    return None


def _vector(value: Any, spec: ValueSpec, sig: FunctionSignature) -> np.ndarray:
    where = f"{_fn_label(sig)} {spec.label()}"
    dtype = spec.np_dtype
    if isinstance(value, np.ndarray | np.generic):
        arr = np.asarray(value)
        if arr.dtype != dtype and not np.can_cast(arr.dtype, dtype, "safe"):
            raise TypeError(f"{where}: expected {spec.type}, got {_describe(value)} "
                            f"({arr.dtype} does not convert safely to {dtype})")
    elif isinstance(value, list | tuple):
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{where}: expected {spec.type}, got {_describe(value)} "
                            f"({exc})") from None
        if arr.dtype.kind not in "biuf" or (dtype.kind in "iub" and arr.dtype.kind == "f"):
            raise TypeError(f"{where}: expected {spec.type}, got a sequence of "
                            f"{arr.dtype} values")
    else:
        raise TypeError(f"{where}: expected {spec.type} (a 1-d array), got {_describe(value)}")
    if arr.shape != spec.shape:
        raise ValueError(f"{where}: expected {spec.type} of shape {spec.shape}, got shape "
                         f"{arr.shape}")
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(arr, dtype=dtype)


def _check_memref(value: Any, spec: ValueSpec, sig: FunctionSignature) -> int:
    """Check a buffer argument; returns the base pointer to pass (the address of the
    allocation's element 0 in the type's layout)."""
    dtype = spec.np_dtype
    if type(value) is not np.ndarray and not isinstance(value, np.ndarray):
        raise TypeError(f"{_where(sig, spec)}: expected {spec.type} (a numpy array of shape "
                        f"{spec.shape} and dtype {dtype}), got {_describe(value)}")
    if value.dtype != dtype:
        raise TypeError(f"{_where(sig, spec)}: expected {spec.type} with dtype {dtype}, got "
                        f"dtype {value.dtype} (buffers are used in place, so no conversion is "
                        "made)")
    if value.shape != spec.shape:
        raise ValueError(f"{_where(sig, spec)}: expected {spec.type} of shape {spec.shape}, "
                         f"got shape {value.shape}")
    item = dtype.itemsize
    interface = value.__array_interface__
    strides = interface["strides"]
    if strides is not None and value.size:  # None: C-contiguous
        want = tuple(s * item for s in spec.strides)
        if any(n > 1 and w != g for n, w, g in zip(spec.shape, want, strides)):
            layout = ("C-contiguous" if spec.strides == contiguous_strides(spec.shape)
                      and spec.offset == 0 else "strided")
            hint = " (np.ascontiguousarray makes one)" if layout == "C-contiguous" else ""
            raise ValueError(f"{_where(sig, spec)}: expected a {layout} array with byte "
                             f"strides {want} for {spec.type}, got byte strides "
                             f"{value.strides}{hint}")
    elif value.size and not _c_layout_matches(spec):
        raise ValueError(f"{_where(sig, spec)}: expected a strided array with byte strides "
                         f"{tuple(s * item for s in spec.strides)} for {spec.type}, got a "
                         "C-contiguous array")
    if not value.flags.aligned:
        raise ValueError(f"{_where(sig, spec)}: expected an array aligned to its {item}-byte "
                         "elements")
    if spec.written and interface["data"][1]:
        raise ValueError(f"{_where(sig, spec)}: got a read-only array, but the function "
                         "writes this argument")
    return interface["data"][0] - spec.offset * item


@functools.cache
def _c_layout_matches(spec: ValueSpec) -> bool:
    """Whether a C-contiguous array of ``spec``'s shape has ``spec``'s strides."""
    return all(n <= 1 or s == c for n, s, c in zip(spec.shape, spec.strides,
                                                    contiguous_strides(spec.shape)))


def _where(sig: FunctionSignature, spec: ValueSpec) -> str:
    return f"{_fn_label(sig)} {spec.label()}"


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    if not np.may_share_memory(a, b):
        return False
    try:
        return bool(np.shares_memory(a, b, max_work=100_000))
    except np.exceptions.TooHardError:
        return True


# ----------------------------------------------------------------------------- the call


class CompiledFunction:
    """A callable compiled function; keeps its module's machine code alive.

    ``f(*args)`` takes the function's arguments in order. Arguments marked ``avalon.out``
    (destination buffers) may be left out, all together: they are then allocated (as
    C-contiguous arrays) and returned. Returns the function's results followed by its output
    buffers: None if there are none, the value if there is one, else a tuple.
    """

    def __init__(self, module: CompiledModule, signature: FunctionSignature, address: int,
                 error_sites: Sequence[ErrorSite], *, noalias: bool) -> None:
        self.module = module
        self.signature = signature
        self.name = signature.name
        self._sites = tuple(error_sites)
        self._noalias = noalias
        self._entry = _PACKED(address)
        self._n_all = len(signature.args)
        self._n_in = len(signature.inputs)
        self._nslots = self._n_all + len(signature.results) + 1
        self._slots_type = ctypes.c_void_p * self._nslots
        self._fast = tuple(_fast_scalar(spec) for spec in signature.args)
        self._any_written = any(a.written for a in signature.args)
        self.__doc__ = f"Compiled '@{signature.name}': {self._signature_text()}"

    def _signature_text(self) -> str:
        args = ", ".join(("out " if a.is_output else "") + a.type for a in self.signature.args)
        res = ", ".join(r.type for r in self.signature.results)
        return f"({args}) -> ({res})"

    def __repr__(self) -> str:
        return f"<CompiledFunction @{self.name} {self._signature_text()}>"

    def _bind(self, args: tuple[Any, ...]) -> tuple[Any, ...] | list[Any]:
        """All arguments, with omitted output buffers allocated."""
        sig = self.signature
        n_all, n_in = self._n_all, self._n_in
        if len(args) == n_all:
            return args
        if len(args) == n_in and n_in != n_all:
            full: list[Any] = []
            it = iter(args)
            for spec in sig.args:
                if not spec.is_output:
                    full.append(next(it))
                    continue
                if spec.offset != 0 or spec.strides != contiguous_strides(spec.shape):
                    raise TypeError(f"{_fn_label(sig)} {spec.label('output')} has layout "
                                    f"{spec.type}; pass that buffer explicitly")
                full.append(np.empty(spec.shape, dtype=spec.np_dtype))
            return full
        expected = f"{n_all} arguments ({self._signature_text()})"
        if n_in != n_all:
            expected += f", or {n_in} without its output buffers"
        raise TypeError(f"{_fn_label(sig)} takes {expected}, got {len(args)}")

    def __call__(self, *args: Any) -> Any:
        sig = self.signature
        values = self._bind(args)
        slots = self._slots_type()
        keep: list[Any] = []
        bases: dict[int, np.ndarray] = {}
        memrefs: list[tuple[ValueSpec, np.ndarray]] = []
        addressof = ctypes.addressof
        for i, spec in enumerate(sig.args):
            value = values[i]
            kind = spec.kind
            if kind == "memref":
                base = _check_memref(value, spec, sig)
                cell: Any = ctypes.c_void_p(base)
                slots[i] = addressof(cell)
                keep.append(cell)
                bases.setdefault(base, value)
                memrefs.append((spec, value))
                continue
            fast = self._fast[i]
            if fast is not None:
                cell = fast(value)
                if cell is not None:
                    slots[i] = addressof(cell)
                    keep.append(cell)
                    continue
            arr = _vector(value, spec, sig) if kind == "vector" else _scalar(value, spec, sig)
            slots[i] = arr.__array_interface__["data"][0]
            keep.append(arr)
        if self._noalias and self._any_written and len(memrefs) > 1:
            self._check_overlap(memrefs)
        n_args = self._n_all
        results: list[Any] = []
        for j, spec in enumerate(sig.results):
            if spec.kind == "memref":
                cell = ctypes.c_void_p(0)
                results.append(cell)
                slots[n_args + j] = addressof(cell)
            else:
                shape = spec.shape if spec.kind == "vector" else ()
                out = np.zeros(shape, dtype=np.float32 if spec.bf16 else spec.np_dtype)
                results.append(out)
                slots[n_args + j] = out.__array_interface__["data"][0]
        err = ctypes.c_int32(0)
        slots[self._nslots - 1] = addressof(err)
        self._entry(slots)
        if err.value:
            self._discard(results, bases)
            raise_native_error(err.value, self._sites)
        out = self._unpack(results, bases) if results else []
        if len(values) != self._n_in:
            out += [values[spec.index] for spec in sig.outputs]
        if not out:
            return None
        return out[0] if len(out) == 1 else tuple(out)

    def _check_overlap(self, memrefs: list[tuple[ValueSpec, np.ndarray]]) -> None:
        for k, (spec, arr) in enumerate(memrefs):
            if not spec.written:
                continue
            for m, (other_spec, other) in enumerate(memrefs):
                if m != k and _overlaps(arr, other):
                    raise ValueError(
                        f"{_fn_label(self.signature)} {spec.label()} overlaps "
                        f"{other_spec.label()} in memory, and the function writes "
                        f"{spec.label()}; compiled code assumes distinct buffers (pass a "
                        "copy, or compile with noalias=False)")

    def _unpack(self, results: list[Any], bases: dict[int, np.ndarray]) -> list[Any]:
        out: list[Any] = []
        owners: dict[int, Any] = {}
        for spec, slot in zip(self.signature.results, results):
            if spec.kind == "memref":
                address = slot.value or 0
                owner = bases.get(address)
                if owner is None:
                    owner = owners.get(address)
                    if owner is None:
                        owner = owners[address] = _NativeAllocation(address)
                out.append(np.asarray(_View(address, spec, owner)))
            elif spec.kind == "vector":
                out.append(slot)
            else:
                out.append(slot[()])
        return out

    def _discard(self, results: list[Any], bases: dict[int, np.ndarray]) -> None:
        """After a failed call: free buffers the function allocated for its results."""
        freed: set[int] = set()
        for spec, slot in zip(self.signature.results, results):
            if spec.kind == "memref":
                address = slot.value or 0
                if address and address not in bases and address not in freed:
                    _free(address)
                    freed.add(address)
