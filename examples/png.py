"""A minimal PNG writer (zlib + struct), so the examples need no imaging library.

A PNG file is the 8-byte signature followed by chunks, each ``length, type, data, CRC-32``:
``IHDR`` (size, bit depth, colour type), ``IDAT`` (the zlib-compressed scanlines, each
prefixed with a filter byte; we use filter 0, "none") and ``IEND``.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an 8-bit image ``[H, W]`` (grey) or ``[H, W, 3]`` (RGB).

    Float images are taken to be in [0, 1] and are clipped and scaled to 0..255.
    """
    img = np.asarray(image)
    if img.dtype.kind == "f":
        img = np.round(np.clip(img, 0.0, 1.0) * 255.0)
    img = img.astype(np.uint8)
    if img.ndim == 2:
        colour = 0
    elif img.ndim == 3 and img.shape[2] == 3:
        colour = 2
    else:
        raise ValueError(f"expected [H, W] or [H, W, 3], got shape {img.shape}")
    h, w = img.shape[:2]
    if h == 0 or w == 0:
        raise ValueError("a PNG image needs at least one pixel")
    rows = img.reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b""))


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write ``image`` (see :func:`encode_png`) to ``path``, creating its directory."""
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as f:
        f.write(encode_png(image))


def grid(images: np.ndarray, columns: int, pad: int = 1) -> np.ndarray:
    """Tile ``[N, H, W]`` images into one ``[rows*(H+pad)+pad, columns*(W+pad)+pad]`` image."""
    n, h, w = images.shape
    rows = -(-n // columns)
    out = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad), images.dtype)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[pad + r * (h + pad):pad + r * (h + pad) + h,
            pad + c * (w + pad):pad + c * (w + pad) + w] = img
    return out
