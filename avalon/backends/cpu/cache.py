"""Persistent compile cache: object code keyed by everything that determines it.

Key: sha256 of the printed IR, the pipeline text, the target triple, CPU name and features,
the Avalon and llvmlite versions. An entry is two files in the cache directory:
``<key>.o`` (object code from the target machine) and ``<key>.json`` (metadata: the boundary
description and the sha256 and size of the object code). Both are written to a temporary
file and moved into place with ``os.replace``, the JSON last, so concurrent processes only
ever see whole files; a missing, truncated or mismatching entry is detected by the checksum,
removed and recompiled, never trusted.

The directory is ``$AVALON_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/avalon`` (default
``~/.cache/avalon``), with CPU entries under ``cpu/``. Entries are evicted least recently used
first once the total exceeds ``$AVALON_CACHE_MAX_BYTES`` (default 512 MiB).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
FORMAT_VERSION = 1


@dataclass
class CacheStats:
    """Process-wide counters (tests and benchmarks read them)."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    corrupt: int = 0

    def reset(self) -> None:
        self.hits = self.misses = self.stores = self.corrupt = 0


STATS = CacheStats()


def cache_dir() -> Path:
    """Root of Avalon's cache (``$AVALON_CACHE_DIR``, ``$XDG_CACHE_HOME/avalon`` or
    ``~/.cache/avalon``)."""
    explicit = os.environ.get("AVALON_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "avalon"


def max_cache_bytes() -> int:
    try:
        return int(os.environ.get("AVALON_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES


def cache_key(*parts: str) -> str:
    """sha256 over the parts, each length-prefixed so that boundaries cannot shift."""
    h = hashlib.sha256()
    h.update(f"avalon-cpu-cache-v{FORMAT_VERSION}".encode())
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


@dataclass
class CacheEntry:
    object_code: bytes
    metadata: dict[str, Any]


class CompileCache:
    """Object code on disk under ``directory`` (default ``cache_dir() / "cpu"``)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None,
                 max_bytes: int | None = None) -> None:
        self.directory = Path(directory) if directory is not None else cache_dir() / "cpu"
        self.max_bytes = max_bytes if max_bytes is not None else max_cache_bytes()

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.directory / f"{key}.o", self.directory / f"{key}.json"

    def load(self, key: str) -> CacheEntry | None:
        """The entry for ``key`` if present and intact; a damaged entry is removed."""
        obj_path, meta_path = self._paths(key)
        try:
            meta_text = meta_path.read_text(encoding="utf-8")
            data = obj_path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            STATS.misses += 1
            return None
        except OSError:
            STATS.misses += 1
            return None
        try:
            meta = json.loads(meta_text)
            ok = (isinstance(meta, dict) and meta.get("format") == FORMAT_VERSION
                  and meta.get("key") == key and meta.get("object_size") == len(data)
                  and meta.get("object_sha256") == hashlib.sha256(data).hexdigest())
        except (ValueError, TypeError):
            ok = False
        if not ok:
            STATS.corrupt += 1
            STATS.misses += 1
            self._remove(key)
            return None
        with contextlib.suppress(OSError):
            os.utime(meta_path)  # recency for eviction
        STATS.hits += 1
        return CacheEntry(data, meta)

    def store(self, key: str, object_code: bytes, metadata: dict[str, Any]) -> None:
        """Write an entry atomically (best effort: an unwritable cache is not an error)."""
        meta = dict(metadata)
        meta.update(format=FORMAT_VERSION, key=key, object_size=len(object_code),
                    object_sha256=hashlib.sha256(object_code).hexdigest())
        obj_path, meta_path = self._paths(key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _atomic_write(obj_path, object_code)
            _atomic_write(meta_path, json.dumps(meta, sort_keys=True, indent=1).encode())
        except OSError:
            return
        STATS.stores += 1
        self.evict()

    def _remove(self, key: str) -> None:
        for p in self._paths(key):
            with contextlib.suppress(OSError):
                p.unlink()

    def entries(self) -> list[tuple[str, int, float]]:
        """(key, bytes, last use) of every complete entry."""
        out = []
        try:
            metas = list(self.directory.glob("*.json"))
        except OSError:
            return out
        for meta in metas:
            obj = meta.with_suffix(".o")
            try:
                size = meta.stat().st_size + obj.stat().st_size
                out.append((meta.stem, size, meta.stat().st_mtime))
            except OSError:
                continue
        return out

    def evict(self) -> int:
        """Remove least recently used entries until the total is under the cap."""
        entries = sorted(self.entries(), key=lambda e: e[2])
        total = sum(e[1] for e in entries)
        removed = 0
        while entries and total > self.max_bytes:
            key, size, _ = entries.pop(0)
            self._remove(key)
            total -= size
            removed += 1
        return removed

    def clear(self) -> int:
        """Delete every entry (and leftover temporary files); returns files removed."""
        removed = 0
        try:
            paths = [p for p in self.directory.iterdir()
                     if p.suffix in (".o", ".json") or p.name.startswith(".tmp-")]
        except OSError:
            return 0
        for p in paths:
            with contextlib.suppress(OSError):
                p.unlink()
                removed += 1
        return removed


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def clear_cache(directory: str | os.PathLike[str] | None = None) -> int:
    """Delete all CPU compile-cache entries; returns the number of files removed."""
    return CompileCache(directory).clear()
