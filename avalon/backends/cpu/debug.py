"""Debug dumps: one switch writes everything a compilation produced into a directory.

``AVALON_DEBUG_DIR=DIR`` (or ``debug_dir=DIR`` of :func:`~avalon.backends.cpu.compile_module`)
makes every compiled module write into a fresh subdirectory of ``DIR``:

``input.mlir``            the IR handed to the backend
``llvm-unoptimized.ll``   the LLVM IR the code generator produced
``llvm-optimized.ll``     the LLVM IR after the O3 pipeline
``assembly.s``            the host assembly of the optimized module
``compile.json``          target, pipeline, cache key and timings

Front ends that run pass pipelines before the backend open the dump first with
:func:`open_dump` and hand the :class:`DebugDump` (or its :attr:`~DebugDump.path`) to their
pass instrumentation, then pass the same object as ``debug_dir``, so the IR after every pass
lands next to the backend's files.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from pathlib import Path

#: Environment variable that turns dumps on for every compilation.
ENV_VAR = "AVALON_DEBUG_DIR"

_counter = itertools.count()


class DebugDump:
    """A fresh directory receiving the artifacts of one compilation."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, name: str, text: str) -> Path:
        """Write ``text`` to ``name`` (may contain subdirectories) inside the dump."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    def __repr__(self) -> str:
        return f"DebugDump({str(self.path)!r})"


def debug_root(debug_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The dump root: the argument if given, else ``$AVALON_DEBUG_DIR``, else None (off)."""
    if debug_dir is not None:
        return Path(debug_dir)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else None


def open_dump(debug_dir: str | os.PathLike[str] | DebugDump | None = None,
              label: str = "module") -> DebugDump | None:
    """A new, uniquely named subdirectory of the dump root for one compilation (None when
    dumps are off). An existing :class:`DebugDump` is returned unchanged."""
    if isinstance(debug_dir, DebugDump):
        return debug_dir
    root = debug_root(debug_dir)
    if root is None:
        return None
    root.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:60] or "module"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while True:
        path = root / f"{stamp}-{os.getpid()}-{next(_counter):04d}-{safe}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return DebugDump(path)
