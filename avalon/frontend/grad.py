"""``grad`` and ``value_and_grad``: gradients as a program transformation.

The function is traced to tensor IR, the ``autodiff`` pass derives a function returning the
value and the gradients, and that function is run (or, when called inside another trace,
inlined into it — which is what makes ``grad(grad(f))`` and ``jit(grad(f))`` work). Gradients
come back with the structure of the differentiated argument: a model's gradient is a
model-shaped object whose array attributes hold the gradients.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from avalon.frontend.executable import make_executable
from avalon.frontend.jit import has_tracers, signature_key
from avalon.frontend.pytree import flatten, unflatten
from avalon.frontend.trace import TracedFunction, trace_function
from avalon.frontend.tracer import TraceContext, Tracer, TracingError, as_tracer
from avalon.ir.core import Operation
from avalon.ir.dialects.func import FuncOp


def _argnums(argnums: int | Sequence[int], nargs: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not -nargs <= n < nargs:
            raise ValueError(f"argnums {n} is out of range for {nargs} positional arguments")
    return tuple(n % nargs for n in nums)


def _leaf_ranges(args: tuple) -> list[range]:
    """Which flat leaves belong to each positional argument."""
    ranges, start = [], 0
    for a in args:
        n = len(flatten(a)[0])
        ranges.append(range(start, start + n))
        start += n
    return ranges


def _is_float_leaf(leaf: Any) -> bool:
    dt = leaf.dtype if isinstance(leaf, Tracer) else np.asarray(leaf).dtype
    return dt.kind == "f"


class _GradPlan:
    """A traced function and its derivative, with the bookkeeping to map results back."""

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, nums: tuple[int, ...],
                 has_aux: bool) -> None:
        from avalon.passes.autodiff import differentiate

        target = fn
        if has_aux:
            def target(*a: Any, **k: Any) -> Any:
                out = fn(*a, **k)
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise TypeError("with has_aux=True the function must return (value, aux)")
                return out
        self.traced: TracedFunction = trace_function(target, args, kwargs)
        leaves = flatten((args, kwargs))[0]
        self.out_structure = self.traced.out_treedef
        n_out = len(self.traced.func.type.results)
        if n_out < 1:
            raise TypeError("grad needs a function returning a scalar float")
        value_type = self.traced.func.type.results[0]
        if value_type.shape != () or not str(value_type.element_type).startswith(("f", "bf")):
            raise TypeError(f"grad needs a scalar float output, got {value_type}; use "
                            "value_and_grad on a reduced value (e.g. .sum()) instead")
        ranges = _leaf_ranges(args)
        self.nums = nums
        self.per_arg: list[list[int | None]] = []
        wrt: list[int] = []
        for n in nums:
            slots: list[int | None] = []
            for i in ranges[n]:
                if _is_float_leaf(leaves[i]):
                    slots.append(len(wrt))
                    wrt.append(i)
                else:
                    slots.append(None)
            self.per_arg.append(slots)
        self.n_grads = len(wrt)
        self.n_aux = n_out - 1
        self.grad_func: FuncOp = differentiate(self.traced.module, self.traced.func_name, wrt,
                                               result=0)
        self.grad_name = self.grad_func.attributes["sym_name"].value
        self._run: Any = None
        if self.n_aux:
            self._append_aux_results()
            # The aux outputs were cloned from the primal; CSE merges those (pure) ops with
            # the forward computation the gradient already contains, so it runs once.
            from avalon.passes.cse import CSE

            CSE().run(self.grad_func)

    def _append_aux_results(self) -> None:
        """Also return the primal's auxiliary outputs from the gradient function."""
        from avalon.ir import types as T

        primal = self.traced.func
        grad_fn = self.grad_func
        ret = grad_fn.entry_block.last_op
        mapping = dict(zip(primal.entry_block.args, grad_fn.entry_block.args, strict=True))
        prim_ret = primal.entry_block.last_op
        for op in primal.entry_block.ops:
            if op is prim_ret:
                break
            grad_fn.entry_block.insert_before(op.clone(mapping), ret)
        aux = [mapping.get(v, v) for v in prim_ret.operands[1:]]
        ret.set_operands([*ret.operands, *aux])
        grad_fn.set_type(T.FunctionType(grad_fn.type.inputs,
                                        (*grad_fn.type.results, *(v.type for v in aux))))

    def executable(self) -> Any:
        """The compiled gradient function (built on first use)."""
        if self._run is None:
            self._run = make_executable(self.traced.module, self.grad_name,
                                        1 + self.n_grads + self.n_aux)
        return self._run

    def split(self, outs: list[Any], args: tuple) -> tuple[Any, Any, Any]:
        """(value, aux, grads shaped like the differentiated arguments)."""
        value = outs[0]
        grads = outs[1:1 + self.n_grads]
        aux_leaves = outs[1 + self.n_grads:]
        per = []
        for n, slots in zip(self.nums, self.per_arg, strict=True):
            leaf_grads = [None if s is None else grads[s] for s in slots]
            _, td = flatten(args[n])
            # A static argument (a Python number) has no gradient; static attributes inside a
            # structure are kept so the gradient has the argument's shape.
            per.append(None if td.num_leaves == 0 else unflatten(td, leaf_grads, args[n]))
        if self.n_aux:
            aux_td = self.out_structure.children[1]
            aux = unflatten(aux_td, aux_leaves)
        else:
            aux = None
        return value, aux, per


def _inline_into_current(plan: _GradPlan, leaves: list[Any]) -> list[Tracer]:
    """Clone the gradient function's body into the enclosing trace; returns its results."""
    ctx = TraceContext.current()
    if ctx is None:
        raise TracingError("internal: no enclosing trace to inline the gradient into")
    fn = plan.grad_func
    mapping: dict = {}
    for arg, leaf in zip(fn.entry_block.args, leaves, strict=True):
        mapping[arg] = as_tracer(leaf, ctx).value
    ret: Operation = fn.entry_block.last_op
    for op in fn.entry_block.ops:
        if op is ret:
            break
        ctx.builder.insert(op.clone(mapping))
    return [ctx.wrap(mapping.get(v, v)) for v in ret.operands]


def value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable:
    """``f(*args) -> (value, grads)``; with ``has_aux`` the function returns ``(value, aux)``
    and the result is ``((value, aux), grads)``."""
    cache: dict[Any, _GradPlan] = {}

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args))
        nested = has_tracers(args, kwargs)
        key = None if nested else (signature_key(args, kwargs), nums)
        plan = None if nested else cache.get(key)
        if plan is None:
            plan = _GradPlan(fn, args, kwargs, nums, has_aux)
            if not nested:
                cache[key] = plan
        leaves = flatten((args, kwargs))[0]
        if nested:
            outs: list[Any] = _inline_into_current(plan, leaves)
        else:
            outs = plan.executable()(leaves)
        value, aux, per = plan.split(outs, args)
        grads = per[0] if isinstance(argnums, int) else tuple(per)
        return ((value, aux), grads) if has_aux else (value, grads)

    return wrapped


def grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar-valued ``fn`` with respect to ``args[argnums]``."""
    vg = value_and_grad(fn, argnums, has_aux)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out, grads = vg(*args, **kwargs)
        return (grads, out[1]) if has_aux else grads

    return wrapped


def stop_gradient(x: Any) -> Any:
    """``x`` unchanged in value; no gradient flows through it."""
    from avalon.frontend.pytree import tree_map
    from avalon.ir.core import OP_REGISTRY

    def one(leaf: Any) -> Any:
        if not isinstance(leaf, Tracer):
            return leaf
        return leaf.ctx.wrap(leaf.ctx.emit(OP_REGISTRY["tensor.stop_gradient"], leaf.value))

    return tree_map(one, x)
