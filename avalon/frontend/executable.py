"""Turning a traced function into something callable: native code or the interpreter.

``make_executable`` is the one place where a back end is chosen. The native path runs the
``cpu-pipeline`` on a copy of the module (tensor IR -> loops over buffers) and compiles it with
the CPU backend; calls then go straight to machine code with the arrays' own buffers. The
interpreter path executes the tensor IR with numpy. ``AVALON_BACKEND=interpreter`` (or
``jit(..., backend="interpreter")``) selects the interpreter; ``AVALON_DEBUG_DIR=DIR`` (or
``debug_dir=``) writes the IR after every pass, the LLVM IR and the assembly into ``DIR``.

The pipeline verifies the IR once, before code generation, rather than after each of its
passes: the per-pass verifier took about half of the pass pipeline's time on a LeNet
training step, and the passes are validated by the test suite. Debug dumps, and
``AVALON_VERIFY_EACH=1``, turn verification after every pass back on, so a pass that leaves
invalid IR is named.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from avalon.ir.core import Operation

BACKENDS = ("cpu", "interpreter")
BACKEND_ENV = "AVALON_BACKEND"
VERIFY_EACH_ENV = "AVALON_VERIFY_EACH"

Runner = Callable[[list[Any]], list[Any]]


class CompilationWarning(UserWarning):
    """Native compilation failed and the interpreter runs the function instead."""


def default_backend() -> str:
    name = os.environ.get(BACKEND_ENV, "cpu")
    if name not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={name!r}: expected one of {', '.join(BACKENDS)}")
    return name


def verify_each(debugging: bool) -> bool:
    """Whether the pipeline verifies after every pass: ``$AVALON_VERIFY_EACH`` if set, else
    only when dumping debug output."""
    env = os.environ.get(VERIFY_EACH_ENV)
    if env is not None and env.strip() != "":
        return env.strip().lower() not in ("0", "false", "no", "off")
    return debugging


def _interpreter_runner(module: Operation, name: str, n_results: int) -> Runner:
    from avalon.backends.interpreter import Interpreter

    interp = Interpreter(module)

    def run(leaves: list[Any]) -> list[Any]:
        out = interp.invoke(name, *[np.asarray(leaf) for leaf in leaves])
        if n_results == 0:
            return []
        return [out] if n_results == 1 else list(out)

    return run


def _native_runner(module: Operation, name: str, n_results: int,
                   debug_dir: str | os.PathLike[str] | None,
                   timings: dict[str, float]) -> Runner:
    from avalon.backends.cpu import compile_module, open_dump
    from avalon.passes.pipeline import parse_pipeline

    start = time.perf_counter()
    lowered = module.clone()
    dump = open_dump(debug_dir, label=name)
    pm = parse_pipeline("cpu-pipeline")
    pm.verify_each = verify_each(dump is not None)
    if dump is not None:
        dump.write("00-tensor.mlir", str(module))
        pm.enable_ir_printing(after_all=True, tree_dir=dump.path / "passes")
    pm.run(lowered)
    if dump is not None:
        dump.write("01-lowered.mlir", str(lowered))
    timings["pipeline"] = time.perf_counter() - start
    compiled = compile_module(lowered, debug_dir=dump)
    timings.update(compiled.timings)
    timings["cache_hit"] = float(compiled.from_cache)
    fn = compiled.function(name)

    def run(leaves: list[Any]) -> list[Any]:
        out = fn(*[np.asarray(leaf, order="C") for leaf in leaves])  # keeps 0-d arrays 0-d
        if n_results == 0:
            return []
        return [out] if n_results == 1 else list(out)

    return run


def make_executable(module: Operation, name: str, n_results: int, *,
                    backend: str | None = None,
                    debug_dir: str | os.PathLike[str] | None = None,
                    timings: dict[str, float] | None = None) -> Runner:
    """A callable ``run(array_leaves) -> result_arrays`` for function ``name`` of ``module``.

    If native compilation fails (an op the pipeline cannot lower yet), a
    :class:`CompilationWarning` says why and the interpreter runs the function. ``timings``
    (a dict) receives the seconds spent per stage: ``pipeline``, then the CPU backend's
    (see :attr:`avalon.backends.cpu.CompiledModule.timings`) and ``cache_hit`` (1.0 or 0.0).
    """
    if timings is None:
        timings = {}
    backend = backend or default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "cpu":
        try:
            return _native_runner(module, name, n_results, debug_dir, timings)
        except Exception as e:  # any lowering/codegen gap: keep the program running
            warnings.warn(f"@{name} could not be compiled to native code and runs in the "
                          f"interpreter: {type(e).__name__}: {str(e).splitlines()[0]}",
                          CompilationWarning, stacklevel=3)
    return _interpreter_runner(module, name, n_results)
