"""The executor: runs regions op by op, dispatching each op to its registered semantics.

Each block is prepared once (per :class:`Interpreter`) into a *plan*: a tuple of steps
``(kernel, operand values, single result, all results, op)`` where ``kernel(args) -> list`` is
either an op's specialised kernel (see :func:`specialized_impl`) or its plain ``@impl``
function bound to this interpreter and op. Values live in a dict from SSA value to runtime
value (one per function call). A block that runs again (a loop body, a called function) is
compiled into a Python function with one line per step, so the dispatch costs a list display,
a call and a store per op, and loop bodies pay no name lookup or attribute decoding.

Terminators are not dispatched: one without successors ends the region and its operand values
are the region's results (``func.return``, ``loop.yield``...); one with successors branches.
A branch with a single successor and no registered semantics forwards all its operands to the
successor; any other branch needs semantics that return a :class:`BranchTo`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from avalon.backends.interpreter import values as rv
from avalon.backends.interpreter.registry import (
    IMPLS,
    ExecContext,
    InterpreterError,
    OpImpl,
    impl,
    interp_error,
)
from avalon.ir.attributes import StringAttr, TypeAttr
from avalon.ir.core import Block, Operation, Region, Value
from avalon.ir.diagnostics import Diagnostic, DiagnosticError, Severity
from avalon.ir.traits import Terminator
from avalon.ir.types import FunctionType

Kernel = Callable[[list], list]
#: ``make(ctx, op) -> kernel``: builds an op's kernel once, with its types decoded.
KernelFactory = Callable[[ExecContext, Operation], Kernel]


class BranchTo(NamedTuple):
    """What the semantics of a branching terminator return: the successor to run (index into
    ``op.successors``) and the values bound to that block's arguments."""

    successor: int
    args: Sequence[Any]


def specialized_impl(*names: str) -> Callable[[KernelFactory], KernelFactory]:
    """Register semantics written as a kernel factory ``make(ctx, op) -> kernel(args)``.

    The executor calls ``make`` once per op when it plans a block, so type decoding and
    attribute parsing happen once, not on every execution. A plain ``@impl`` function is also
    registered (it builds the kernel on every call) so ``IMPLS[name](ctx, op, args)`` works.
    """

    def wrap(make: KernelFactory) -> KernelFactory:
        def generic(ctx: ExecContext, op: Operation, args: list) -> list:
            return make(ctx, op)(args)

        generic.specialize = make  # type: ignore[attr-defined]
        generic.__doc__ = make.__doc__
        impl(*names)(generic)
        return make

    return wrap


def _missing_semantics(op: Operation) -> Kernel:
    def kernel(args: list) -> list:
        raise InterpreterError(Diagnostic(
            Severity.ERROR, f"no interpreter semantics for '{op.name}'", op.location))

    return kernel


class _BlockPlan:
    """A block prepared for execution: its steps, its terminator, and (once the block has run
    a few times) a Python function compiled from the steps."""

    __slots__ = ("args", "block", "code", "fn", "runs", "steps", "term_args", "term_kernel",
                 "term_kind", "term_op")

    RETURN, BRANCH, FALL_OFF = 0, 1, 2

    def __init__(self, block: Block) -> None:
        self.block = block
        self.args = tuple(block.args)
        self.steps: tuple = ()
        self.term_kind = self.FALL_OFF
        self.term_op: Operation | None = None
        self.term_args: tuple[Value, ...] = ()
        self.term_kernel: Kernel | None = None
        self.runs = 0
        self.fn: Callable[[dict, Sequence[Any]], list | None] | None = None
        self.code: Any = None


#: A block is compiled to a Python function on this execution (the first ones interpret the
#: plan directly: compiling costs more than running straight-line code once). Huge blocks
#: (straight-line tensor programs, where each op's work dwarfs dispatch) are never compiled.
COMPILE_AFTER_RUNS = 2
COMPILE_MAX_STEPS = 4000
_BIND_LINE, _FIRST_STEP_LINE = 2, 3


def _compile(plan: _BlockPlan) -> None:
    """Generate ``block(env, args)``: binds the block arguments, runs each step on its own
    line (so a traceback's line number names the failing op) and returns the terminator's
    operand values (None for a branch, which the executor then follows)."""
    ns: dict[str, Any] = {}

    def name(prefix: str, obj: Any) -> str:
        key = f"{prefix}{len(ns)}"
        ns[key] = obj
        return key

    def fetch(values: Sequence[Value]) -> str:
        return "[" + ", ".join(f"env[{name('v', v)}]" for v in values) + "]"

    lines = ["def block(env, args):"]
    targets = ", ".join(f"env[{name('a', a)}]" for a in plan.args)
    lines.append(f"    ({targets},) = args" if plan.args else "    () = args")
    for kernel, ins, _out, outs, _op in plan.steps:
        call = f"{name('k', kernel)}({fetch(ins)})"
        if outs:
            stores = ", ".join(f"env[{name('r', r)}]" for r in outs)
            lines.append(f"    ({stores},) = {call}")
        else:
            lines.append(f"    {call}")
    if plan.term_kind == _BlockPlan.RETURN:
        lines.append(f"    return {fetch(plan.term_args)}")
    elif plan.term_kind == _BlockPlan.FALL_OFF:
        lines.append("    return []")
    else:
        lines.append("    return None")
    code = compile("\n".join(lines) + "\n", f"<avalon block {id(plan.block):#x}>", "exec")
    exec(code, ns)
    plan.fn = ns["block"]
    plan.code = plan.fn.__code__


class _BadBlockArgs(Exception):
    """Raised (and located) when a block is entered with the wrong number of values."""


class _StepFailure(Exception):
    """Carries a failing op out of the uncompiled step loop to be located."""

    def __init__(self, op: Operation, cause: Exception) -> None:
        super().__init__(str(cause))
        self.op = op
        self.cause = cause


def _is_terminator(op: Operation) -> bool:
    if op.successors or op.has_trait(Terminator):
        return True
    # An unregistered op without results and without semantics ending a block: a terminator
    # of an unknown dialect (its operands are the region's results).
    return not op.is_registered and not op.results and op.name not in IMPLS


class Interpreter:
    """Executes IR of one module: the :class:`ExecContext` that op semantics call back into.

    The interpreter caches block plans and the module's symbol table: do not mutate the module
    while an interpreter for it is in use (make a new one instead).
    """

    def __init__(self, module: Operation, *, max_call_depth: int | None = None,
                 check_types: bool = False) -> None:
        self.module = module
        self.check_types = check_types
        #: Nested ``call`` depth beyond which a located error is raised. The default leaves
        #: room below Python's recursion limit (one call level with a region in between takes
        #: about ten Python frames); raise both for deeper recursion.
        self.max_call_depth = (max_call_depth if max_call_depth is not None
                               else max(16, sys.getrecursionlimit() // 12))
        self._plans: dict[Block, _BlockPlan] = {}
        self._entry_plans: dict[Region, _BlockPlan] = {}
        self._symbols: dict[str, Operation] | None = None
        self._env: dict[Value, Any] = {}
        self._depth = 0
        self._active = 0

    # ------------------------------------------------------------------ public entry points
    def function(self, name: str) -> Operation:
        """The function op named ``name`` (a ValueError naming the known ones otherwise)."""
        fn = self._symbol_table().get(name)
        if fn is None:
            known = ", ".join(sorted(self._symbol_table())) or "none"
            raise ValueError(f"module has no function named '{name}' (functions: {known})")
        return fn

    def invoke(self, name: str, *args: Any) -> Any:
        """Run function ``name`` on Python/numpy arguments; return numpy results (one value,
        a tuple for several, None for none). Arguments are checked against the signature."""
        fn = self.function(name)
        ftype = function_type(fn)
        if len(args) != len(ftype.inputs):
            raise rv.ArgumentError(
                f"function '@{name}' takes {len(ftype.inputs)} arguments "
                f"({', '.join(map(str, ftype.inputs))}), got {len(args)}")
        runtime = [rv.to_runtime(a, t, f"argument #{i} of '@{name}'")
                   for i, (a, t) in enumerate(zip(args, ftype.inputs))]
        results = self.call(name, runtime)
        if len(results) != len(ftype.results):
            raise interp_error(fn, f"returned {len(results)} values, but its type declares "
                                   f"{len(ftype.results)}")
        out = []
        for i, (value, t) in enumerate(zip(results, ftype.results)):
            problem = rv.mismatch(value, t)
            if problem is not None:
                raise interp_error(fn, f"result #{i} does not match its declared type {t}: "
                                       f"{problem}")
            out.append(rv.from_runtime(value, t))
        if not out:
            return None
        return out[0] if len(out) == 1 else tuple(out)

    # ------------------------------------------------------------------ ExecContext
    def call(self, callee: str, args: Sequence[Any], *,
             caller: Operation | None = None) -> list[Any]:
        """Call function ``callee`` with runtime values; returns its runtime results."""
        table = self._symbols if self._symbols is not None else self._symbol_table()
        fn = table.get(callee)
        if fn is None:
            where = caller if caller is not None else self.module
            raise interp_error(where, f"calls unknown function '@{callee}'")
        region = fn.regions[0] if fn.regions else None
        if region is None or not region.blocks:
            where = caller if caller is not None else fn
            raise interp_error(where, f"calls external function '@{callee}', which has no body "
                                      "to interpret")
        if self._depth >= self.max_call_depth:
            where = caller if caller is not None else fn
            raise interp_error(where, f"exceeds the interpreter's call depth limit of "
                                      f"{self.max_call_depth} (calling '@{callee}'; "
                                      "unbounded recursion?)")
        saved = self._env
        self._env = {}
        self._depth += 1
        try:
            return self.run_region(region, args)
        except RecursionError:
            where = caller if caller is not None else fn
            raise interp_error(where, f"reached Python's recursion limit at call depth "
                                      f"{self._depth} (calling '@{callee}')") from None
        finally:
            self._depth -= 1
            self._env = saved

    def run_region(self, region: Region, args: Sequence[Any]) -> list[Any]:
        """Execute ``region`` from its entry block with ``args``; returns the operand values
        of the successor-less terminator that ends it (``[]`` if the last block has none)."""
        if not self._active:
            return self._run_outermost(region, args)
        # Fast path for compiled single-entry regions (loop bodies, after their first runs).
        plan = self._entry_plans.get(region)
        if plan is None or plan.fn is None:
            return self._run(region, args)
        env = self._env
        try:
            res = plan.fn(env, args)
        except (DiagnosticError, RecursionError):
            raise
        except Exception as exc:
            raise self._locate_failure(plan, env, args, exc) from exc
        return res if res is not None else self._run_from(*self._branch(plan, env))

    def _run_outermost(self, region: Region, args: Sequence[Any]) -> list[Any]:
        # numpy must wrap integers and follow IEEE silently, and a Python recursion overflow
        # must surface as a located error.
        self._active += 1
        try:
            with np.errstate(all="ignore"):
                return self._run(region, args)
        except RecursionError:
            where = region.parent if region.parent is not None else self.module
            raise interp_error(where, "nests regions or calls deeper than Python's recursion "
                                      "limit allows") from None
        finally:
            self._active -= 1

    # ------------------------------------------------------------------ execution
    def _run(self, region: Region, args: Sequence[Any]) -> list[Any]:
        plan = self._entry_plans.get(region)
        if plan is None:
            if not region.blocks:
                where = region.parent
                if where is None:
                    raise InterpreterError(Diagnostic(Severity.ERROR,
                                                      "cannot execute an empty region"))
                raise interp_error(where, "has an empty region to execute")
            block = region.blocks[0]
            plan = self._plans.get(block) or self._plan(block)
            self._entry_plans[region] = plan
        return self._run_from(plan, args)

    def _run_from(self, plan: _BlockPlan, args: Sequence[Any]) -> list[Any]:
        """Run blocks starting at ``plan`` until a successor-less terminator."""
        env = self._env
        while True:
            fn = plan.fn
            if fn is None:
                plan.runs += 1
                if plan.runs >= COMPILE_AFTER_RUNS and len(plan.steps) <= COMPILE_MAX_STEPS:
                    _compile(plan)
                    fn = plan.fn
            try:
                res = self._interpret(plan, env, args) if fn is None else fn(env, args)
            except (DiagnosticError, RecursionError):
                raise
            except Exception as exc:
                cause = exc.cause if isinstance(exc, _StepFailure) else exc
                raise self._locate_failure(plan, env, args, exc) from cause
            if res is not None:
                return res
            plan, args = self._branch(plan, env)

    @staticmethod
    def _interpret(plan: _BlockPlan, env: dict, args: Sequence[Any]) -> list | None:
        """Run a block's plan step by step (what the compiled function does, uncompiled)."""
        if len(args) != len(plan.args):
            raise _BadBlockArgs()
        for a, v in zip(plan.args, args):
            env[a] = v
        for kernel, ins, out, outs, op in plan.steps:
            try:
                res = kernel([env[v] for v in ins])
                if out is not None:
                    (env[out],) = res
                elif outs:
                    if len(res) != len(outs):
                        raise ValueError(f"semantics returned {len(res)} values for "
                                         f"{len(outs)} results")
                    for r, v in zip(outs, res):
                        env[r] = v
            except (DiagnosticError, RecursionError, _StepFailure):
                raise
            except Exception as exc:
                raise _StepFailure(op, exc) from exc
        if plan.term_kind == _BlockPlan.RETURN:
            return [env[v] for v in plan.term_args]
        return [] if plan.term_kind == _BlockPlan.FALL_OFF else None

    def _locate_failure(self, plan: _BlockPlan, env: dict, args: Sequence[Any],
                        exc: Exception) -> Exception:
        """Turn a Python exception from running ``plan`` into a located InterpreterError."""
        if isinstance(exc, _BadBlockArgs):
            op: Operation | None = None
            bad_args = True
        elif isinstance(exc, _StepFailure):
            op, exc, bad_args = exc.op, exc.cause, False
        else:
            op, bad_args = None, False
            tb = exc.__traceback__
            while tb is not None and tb.tb_frame.f_code is not plan.code:
                tb = tb.tb_next
            line = tb.tb_lineno if tb is not None else -1
            if line == _BIND_LINE:
                bad_args = True
            elif _FIRST_STEP_LINE <= line < _FIRST_STEP_LINE + len(plan.steps):
                op = plan.steps[line - _FIRST_STEP_LINE][4]
            else:
                op = plan.term_op
        if bad_args:
            where = plan.block.parent_op
            message = (f"enters a block of {len(plan.args)} arguments with {len(args)} values")
            if where is None:
                return InterpreterError(Diagnostic(Severity.ERROR, message))
            return interp_error(where, message)
        if op is None:
            return exc
        for i, v in enumerate(op.operands):
            if v not in env:
                return interp_error(op, f"operand #{i} is used before it was computed "
                                        "(does the IR pass the verifier?)")
        return interp_error(op, f"failed in its interpreter semantics: "
                                f"{type(exc).__name__}: {exc}")

    def _branch(self, plan: _BlockPlan, env: dict) -> tuple[_BlockPlan, Sequence[Any]]:
        op = plan.term_op
        assert op is not None
        try:
            vals = [env[v] for v in plan.term_args]
            res = BranchTo(0, vals) if plan.term_kernel is None else plan.term_kernel(vals)
        except (DiagnosticError, RecursionError):
            raise
        except Exception as exc:
            raise self._locate_failure(plan, env, (), _StepFailure(op, exc)) from exc
        if not isinstance(res, BranchTo):
            raise interp_error(op, "branch semantics must return a BranchTo, got "
                                   f"{type(res).__name__}")
        target, args = res
        if not 0 <= target < len(op.successors):
            raise interp_error(op, f"branches to successor #{target}, but has "
                                   f"{len(op.successors)}")
        block = op.successors[target]
        return self._plans.get(block) or self._plan(block), args

    # ------------------------------------------------------------------ planning
    def _plan(self, block: Block) -> _BlockPlan:
        plan = _BlockPlan(block)
        self._plans[block] = plan
        steps = []
        ops = list(block.ops)
        if ops and _is_terminator(ops[-1]):
            term = ops.pop()
            plan.term_op = term
            plan.term_args = tuple(term.operands)
            if term.successors:
                plan.term_kind = _BlockPlan.BRANCH
                fn = IMPLS.get(term.name)
                if fn is not None:
                    plan.term_kernel = self._kernel(fn, term)
                elif len(term.successors) != 1:
                    plan.term_kernel = _missing_semantics(term)
            else:
                plan.term_kind = _BlockPlan.RETURN
        for op in ops:
            fn = IMPLS.get(op.name)
            kernel = _missing_semantics(op) if fn is None else self._kernel(fn, op)
            if self.check_types and op.results:
                kernel = _checked(kernel, op)
            results = tuple(op.results)
            single = results[0] if len(results) == 1 else None
            steps.append((kernel, tuple(op.operands), single, results, op))
        plan.steps = tuple(steps)
        return plan

    def _kernel(self, fn: OpImpl, op: Operation) -> Kernel:
        make = getattr(fn, "specialize", None)
        if make is not None:
            try:
                return make(self, op)
            except DiagnosticError:
                raise
            except Exception as exc:
                raise interp_error(op, f"cannot be interpreted: {type(exc).__name__}: "
                                       f"{exc}") from exc
        return functools.partial(fn, self, op)

    def _symbol_table(self) -> dict[str, Operation]:
        if self._symbols is None:
            table: dict[str, Operation] = {}
            for region in self.module.regions:
                for block in region.blocks:
                    for op in block.ops:
                        sym = op.attributes.get("sym_name")
                        if isinstance(sym, StringAttr):
                            table.setdefault(sym.value, op)
            self._symbols = table
        return self._symbols


def _checked(kernel: Kernel, op: Operation) -> Kernel:
    """Wrap ``kernel`` so that every result is checked against its IR type."""
    types = [r.type for r in op.results]

    def checked(args: list) -> list:
        res = kernel(args)
        if len(res) != len(types):
            raise interp_error(op, f"semantics returned {len(res)} values for "
                                   f"{len(types)} results")
        for i, (value, t) in enumerate(zip(res, types)):
            problem = rv.mismatch(value, t)
            if problem is not None:
                raise interp_error(op, f"result #{i} does not match its type {t}: {problem}")
        return res

    return checked


def function_type(fn: Operation) -> FunctionType:
    """The ``function_type`` of a function op (a located error if it has none)."""
    attr = fn.attributes.get("function_type")
    if not isinstance(attr, TypeAttr) or not isinstance(attr.value, FunctionType):
        raise interp_error(fn, "is not a function: it has no 'function_type' attribute")
    return attr.value


def run(module: Operation, name: str, *args: Any, **options: Any) -> Any:
    """Interpret function ``name`` of ``module`` on numpy/Python arguments.

    Returns one numpy value, a tuple of them for several results, or None. ``options`` are
    :class:`Interpreter` keyword options (``max_call_depth``, ``check_types``).
    """
    return Interpreter(module, **options).invoke(name, *args)
