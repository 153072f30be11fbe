"""``jit``: trace once per argument signature, compile, cache, call.

The cache key is the pytree structure of the arguments (static leaves included) plus the shape
and dtype of every array leaf, so a new shape or a new static value retraces and everything
else reuses the compiled function. Until the native backend is selected, execution uses the
reference interpreter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

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


def run_module(module: ModuleOp, name: str, leaves: list[Any], n_results: int) -> list[Any]:
    """Execute function ``name`` on array leaves; always returns a list of results."""
    from avalon.backends.interpreter import run

    out = run(module, name, *[np.asarray(leaf) for leaf in leaves])
    if n_results == 0:
        return []
    if n_results == 1:
        return [out]
    return list(out)


@dataclass
class _Compiled:
    traced: TracedFunction
    n_results: int


class JitFunction:
    """A function compiled per argument signature; call it like the original."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self._cache: dict[Any, _Compiled] = {}
        functools.update_wrapper(self, fn)

    def _compile(self, args: tuple, kwargs: dict) -> _Compiled:
        key = signature_key(args, kwargs)
        entry = self._cache.get(key)
        if entry is None:
            traced = trace_function(self.fn, args, kwargs)
            entry = _Compiled(traced, len(traced.func.type.results))
            self._cache[key] = entry
        return entry

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if has_tracers(args, kwargs):  # inside another trace: just trace through
            return self.fn(*args, **kwargs)
        entry = self._compile(args, kwargs)
        leaves = flatten((args, kwargs))[0]
        outs = run_module(entry.traced.module, entry.traced.func_name, leaves, entry.n_results)
        return unflatten(entry.traced.out_treedef, outs)

    def lower(self, *args: Any, **kwargs: Any) -> ModuleOp:
        """The tensor IR this function compiles for these arguments."""
        return self._compile(args, kwargs).traced.module

    @property
    def cache_size(self) -> int:
        return len(self._cache)


def jit(fn: Callable | None = None) -> Any:
    """Compile ``fn`` per argument signature (usable as ``@jit`` or ``jit(fn)``)."""
    if fn is None:
        return jit
    return JitFunction(fn)
