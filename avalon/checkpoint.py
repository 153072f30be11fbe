"""Checkpoints in the safetensors format, read and written by our own code.

A file is: an 8-byte little-endian header length ``n``; ``n`` bytes of UTF-8 JSON mapping each
tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the
data section), plus an optional ``"__metadata__"`` dict of strings; then the raw little-endian
tensor data. The header is padded with spaces to a multiple of 8 bytes and the tensors are
stored contiguously, so files load in the ``safetensors`` package and PyTorch tooling.

Tensor names come from the model's structure: attribute names, dict keys and list indices
joined with dots (``"layers.0.weight"``), the names PyTorch's ``state_dict`` would use.
:func:`save` writes atomically (a temporary file in the same directory, then
``os.replace``), so a crash never leaves half a checkpoint behind.
:func:`load` refuses a file that does not fit the model and says exactly what differs.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: safetensors dtype names and their numpy equivalents (always little-endian on disk).
DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"), "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8"),
}
_NAMES = {(dt.kind, dt.itemsize): name for name, dt in DTYPES.items()}

#: Largest header we accept (the safetensors package uses the same 100 MB bound).
MAX_HEADER = 100_000_000


class CheckpointError(ValueError):
    """A checkpoint file is corrupt or does not match the model it is loaded into."""


# ----------------------------------------------------------------------------- names


def named_arrays(tree: Any) -> dict[str, Any]:
    """``{dotted name: array}`` for every array leaf of ``tree``.

    Names are the paths of :func:`avalon.nn.module.walk` (PyTorch's ``state_dict`` names, so
    a ``Sequential``'s layers are ``0.weight``, ``1.bias``...); a bare array is ``value``.
    """
    from avalon.nn.module import walk

    pairs = [(leaf.path or "value", leaf.value) for leaf in walk(tree)]
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise CheckpointError(f"two arrays share the name(s) {dup}; rename the dict keys")
    return dict(pairs)


# ----------------------------------------------------------------------------- writing


def _dtype_name(arr: np.ndarray, name: str) -> str:
    key = (arr.dtype.kind, arr.dtype.itemsize)
    if key not in _NAMES:
        raise CheckpointError(f"{name}: dtype {arr.dtype} has no safetensors equivalent")
    return _NAMES[key]


def encode(tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> bytes:
    """The bytes of a safetensors file holding ``tensors``."""
    header: dict[str, Any] = {}
    if metadata:
        bad = [k for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))]
        if bad:
            raise CheckpointError(f"metadata keys and values must be strings: {bad}")
        header["__metadata__"] = dict(metadata)
    chunks: list[bytes] = []
    offset = 0
    for name, value in tensors.items():
        if name == "__metadata__":
            raise CheckpointError("'__metadata__' is reserved and cannot name a tensor")
        arr = np.asarray(value)
        dt = DTYPES[_dtype_name(arr, name)]
        data = np.ascontiguousarray(arr, dtype=dt).tobytes()
        header[name] = {"dtype": _dtype_name(arr, name), "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def save_file(tensors: Mapping[str, Any], path: str | os.PathLike,
              metadata: Mapping[str, str] | None = None) -> None:
    """Write ``{name: array}`` to ``path`` atomically."""
    data = encode(tensors, metadata)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                               dir=target.parent if str(target.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(model: Any, path: str | os.PathLike, metadata: Mapping[str, str] | None = None) -> None:
    """Save every array of ``model`` (any pytree) to a safetensors file at ``path``."""
    save_file(named_arrays(model), path, metadata)


# ----------------------------------------------------------------------------- reading


def _parse_header(blob: bytes, source: str) -> tuple[dict[str, Any], int]:
    if len(blob) < 8:
        raise CheckpointError(f"{source}: truncated file ({len(blob)} bytes; a safetensors "
                              "file starts with an 8-byte header length)")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER:
        raise CheckpointError(f"{source}: header length {n} is implausibly large; not a "
                              "safetensors file or corrupt")
    if 8 + n > len(blob):
        raise CheckpointError(f"{source}: truncated file: the header needs {n} bytes but only "
                              f"{len(blob) - 8} follow the length field")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{source}: the header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{source}: the header must be a JSON object, got "
                              f"{type(header).__name__}")
    return header, 8 + n


def _check_entry(name: str, entry: Any, data_len: int, source: str) -> tuple[np.dtype,
                                                                            tuple[int, ...],
                                                                            int, int]:
    where = f"{source}: tensor {name!r}"
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise CheckpointError(f"{where}: entry must have dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise CheckpointError(f"{where}: unsupported dtype {dtype!r}")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise CheckpointError(f"{where}: shape must be a list of non-negative integers, "
                              f"got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(type(o) is int for o in offsets)):
        raise CheckpointError(f"{where}: data_offsets must be two integers, got {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_len:
        raise CheckpointError(f"{where}: data_offsets [{begin}, {end}] are out of range "
                              f"(the data section holds {data_len} bytes)")
    dt = DTYPES[dtype]
    expected = math.prod(shape) * dt.itemsize
    if end - begin != expected:
        raise CheckpointError(f"{where}: {end - begin} bytes of data for shape {shape} of "
                              f"{dtype} (which needs {expected})")
    return dt, tuple(shape), begin, end


def decode(blob: bytes, source: str = "<bytes>") -> tuple[dict[str, np.ndarray],
                                                           dict[str, str]]:
    """``(tensors, metadata)`` from the bytes of a safetensors file; arrays are copies."""
    header, start = _parse_header(blob, source)
    metadata = header.pop("__metadata__", None) or {}
    if not (isinstance(metadata, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise CheckpointError(f"{source}: __metadata__ must map strings to strings")
    data = memoryview(blob)[start:]
    tensors: dict[str, np.ndarray] = {}
    spans = []
    for name, entry in header.items():
        dt, shape, begin, end = _check_entry(name, entry, len(data), source)
        spans.append((begin, end, name))
        arr = np.frombuffer(data[begin:end], dtype=dt).reshape(shape)
        tensors[name] = arr.astype(dt.newbyteorder("="), copy=True)
    spans.sort()
    for (_, end_a, a), (begin_b, _, b) in itertools.pairwise(spans):
        if begin_b < end_a:
            raise CheckpointError(f"{source}: the data of tensors {a!r} and {b!r} overlap")
    return tensors, metadata


def load_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All tensors of a safetensors file as ``{name: array}``."""
    return decode(Path(path).read_bytes(), str(path))[0]


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` strings of a safetensors file."""
    return decode(Path(path).read_bytes(), str(path))[1]


def check_compatible(expected: Mapping[str, Any], found: Mapping[str, np.ndarray],
                     source: str) -> None:
    """Raise one :class:`CheckpointError` listing every difference between the two."""
    problems: list[str] = []
    missing = [n for n in expected if n not in found]
    unexpected = [n for n in found if n not in expected]
    if missing:
        problems.append(f"missing from the file: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected in the file (not in the model): {', '.join(unexpected)}")
    for name, leaf in expected.items():
        if name not in found:
            continue
        arr = found[name]
        want_shape, want_dtype = tuple(np.shape(leaf)), np.asarray(leaf).dtype
        if arr.shape != want_shape:
            problems.append(f"shape mismatch for {name}: file has {arr.shape}, model has "
                            f"{want_shape}")
        if arr.dtype != want_dtype:
            problems.append(f"dtype mismatch for {name}: file has {arr.dtype}, model has "
                            f"{want_dtype}")
    if problems:
        raise CheckpointError(f"{source} does not match the model:\n  " + "\n  ".join(problems))


def load(model: Any, path: str | os.PathLike) -> Any:
    """Fill ``model``'s arrays in place from the checkpoint at ``path``; returns ``model``.

    The file must hold exactly the model's arrays with the same shapes and dtypes; otherwise
    nothing is modified and the error lists every difference.
    """
    expected = named_arrays(model)
    found = load_file(path)
    check_compatible(expected, found, str(path))
    not_writable = [n for n, leaf in expected.items()
                    if not (isinstance(leaf, np.ndarray) and leaf.flags.writeable)]
    if not_writable:
        raise CheckpointError("cannot load in place into numpy scalars or read-only arrays "
                              "(use writable arrays, 0-d for scalars): " + ", ".join(not_writable))
    for name, leaf in expected.items():
        leaf[...] = found[name]
    return model
