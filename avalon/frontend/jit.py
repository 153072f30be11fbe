"""``jit``: trace once per argument signature, compile, cache, call.

The cache key is the pytree structure of the arguments (static leaves included) plus the shape
and dtype of every array leaf, so a new shape or a new static value retraces and everything
else reuses the compiled function. Execution is native code from the CPU backend by default,
or the reference interpreter (see :mod:`avalon.frontend.executable`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from avalon.frontend.executable import Runner, make_executable
from avalon.frontend.pytree import TreeDef, flatten, unflatten
from avalon.frontend.trace import TracedFunction, trace_function
from avalon.frontend.tracer import Tracer
from avalon.ir.dialects.builtin import ModuleOp


def signature_key(args: tuple, kwargs: dict) -> tuple[TreeDef, tuple]:
    """What a compiled function is specialised on."""
    leaves, td = flatten((args, kwargs))
    return td, tuple((np.shape(leaf), np.asarray(leaf).dtype.str) for leaf in leaves)


def has_tracers(*trees: Any) -> bool:
    return any(isinstance(leaf, Tracer) for tree in trees for leaf in flatten(tree)[0])


@dataclass
class _Compiled:
    traced: TracedFunction
    run: Runner


class JitFunction:
    """A function compiled per argument signature; call it like the original."""

    def __init__(self, fn: Callable, *, backend: str | None = None,
                 debug_dir: str | os.PathLike[str] | None = None) -> None:
        self.fn = fn
        self.backend = backend
        self.debug_dir = debug_dir
        self._cache: dict[Any, _Compiled] = {}
        #: Seconds per stage of the most recent compilation: ``trace``, ``pipeline``, the
        #: CPU backend's stages (``codegen``, ``optimize``, ``emit``, ``load``...) and
        #: ``cache_hit`` (1.0 when the object code came from the disk cache).
        self.timings: dict[str, float] = {}
        functools.update_wrapper(self, fn)

    def _compile(self, args: tuple, kwargs: dict) -> _Compiled:
        key = signature_key(args, kwargs)
        entry = self._cache.get(key)
        if entry is None:
            start = time.perf_counter()
            traced = trace_function(self.fn, args, kwargs)
            timings = {"trace": time.perf_counter() - start}
            run = make_executable(traced.module, traced.func_name,
                                  len(traced.func.type.results), backend=self.backend,
                                  debug_dir=self.debug_dir, timings=timings)
            self.timings = timings
            entry = _Compiled(traced, run)
            self._cache[key] = entry
        return entry

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if has_tracers(args, kwargs):  # inside another trace: just trace through
            return self.fn(*args, **kwargs)
        entry = self._compile(args, kwargs)
        leaves = flatten((args, kwargs))[0]
        return unflatten(entry.traced.out_treedef, entry.run(leaves))

    def lower(self, *args: Any, **kwargs: Any) -> ModuleOp:
        """The tensor IR this function compiles for these arguments."""
        return self._compile(args, kwargs).traced.module

    @property
    def cache_size(self) -> int:
        return len(self._cache)


def jit(fn: Callable | None = None, *, backend: str | None = None,
        debug_dir: str | os.PathLike[str] | None = None) -> Any:
    """Compile ``fn`` per argument signature: ``jit(fn)``, ``@jit`` or
    ``@jit(backend="interpreter", debug_dir="dumps")``. The back end defaults to native CPU
    code (``$AVALON_BACKEND`` overrides); ``debug_dir`` (or ``$AVALON_DEBUG_DIR``) receives the
    IR after every pass, the LLVM IR and the assembly of each compilation."""
    if fn is None:
        return functools.partial(jit, backend=backend, debug_dir=debug_dir)
    return JitFunction(fn, backend=backend, debug_dir=debug_dir)
