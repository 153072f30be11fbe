"""Tracing: run a Python function on tracers and record a ``func.func`` of tensor ops.

Arguments and results are pytrees (see :mod:`avalon.frontend.pytree`): every array leaf of the
arguments becomes a function argument, every array leaf of the result a function result, and
everything else is static structure kept beside the IR.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from avalon.frontend.pytree import TreeDef, flatten, unflatten
from avalon.frontend.tracer import TraceContext, Tracer, TracingError, as_tracer
from avalon.ir import types as T
from avalon.ir.builder import Builder
from avalon.ir.dialects.builtin import ModuleOp
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.location import UNKNOWN_LOC, FileLineColLoc, Location


@dataclass
class TracedFunction:
    """A traced function: its module and how to map Python values to and from it."""

    module: ModuleOp
    func_name: str
    in_treedef: TreeDef
    out_treedef: TreeDef
    arg_types: list[T.TensorType]

    @property
    def func(self) -> FuncOp:
        return self.module.lookup(self.func_name)  # type: ignore[return-value]


def leaf_type(leaf: Any) -> T.TensorType:
    """The tensor type of an argument leaf (numpy array, numpy scalar or tracer)."""
    if isinstance(leaf, Tracer):
        return leaf.value.type
    arr = np.asarray(leaf)
    if arr.dtype.kind == "u" or arr.dtype.kind not in "biuf":
        raise TypeError(f"unsupported array dtype {arr.dtype}; use bool, int32/64 or "
                        "float16/32/64")
    return T.TensorType(arr.shape, T.from_numpy_dtype(arr.dtype))


def function_location(fn: Callable) -> Location:
    code = getattr(fn, "__code__", None) or getattr(type(fn).__call__, "__code__", None)
    if code is None:
        return UNKNOWN_LOC
    return FileLineColLoc(code.co_filename, code.co_firstlineno, 1)


def trace_function(fn: Callable, args: tuple, kwargs: dict | None = None, *,
                   name: str = "main") -> TracedFunction:
    """Trace ``fn(*args, **kwargs)`` into a new module holding ``func.func @name``."""
    kwargs = kwargs or {}
    leaves, in_td = flatten((args, kwargs))
    arg_types = [leaf_type(leaf) for leaf in leaves]
    module = ModuleOp.create_empty()
    func = FuncOp.create(name, T.FunctionType(tuple(arg_types), ()),
                         location=function_location(fn))
    module.body.append(func)
    builder = Builder.at_end(func.entry_block, func.location)
    with TraceContext(builder) as ctx:
        tracers = [Tracer(a, ctx) for a in func.entry_block.args]
        targs, tkwargs = unflatten(in_td, tracers, (args, kwargs))
        out = fn(*targs, **tkwargs)
        out_leaves, out_td = flatten(out)
        values = []
        for leaf in out_leaves:
            if isinstance(leaf, Tracer) and leaf.ctx is not ctx:
                raise TracingError("the function returned a traced value of another trace")
            values.append(as_tracer(leaf, ctx).value)
        builder.insert(ReturnOp.build(values=values, location=func.location))
    func.set_type(T.FunctionType(tuple(arg_types), tuple(v.type for v in values)))
    return TracedFunction(module, name, in_td, out_td, arg_types)


def trace(fn: Callable, *args: Any, **kwargs: Any) -> ModuleOp:
    """The tensor IR of ``fn`` applied to ``args``: a module with ``func.func @main``."""
    return trace_function(fn, args, kwargs).module
