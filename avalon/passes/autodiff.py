"""Reverse-mode automatic differentiation of tensor-level functions.

:func:`differentiate` builds, next to a ``func.func @f``, a new function ``@f_grad`` with the
same arguments that recomputes ``f``'s primal values (a clone of its body) and then runs the
reverse sweep: starting from a seed cotangent for the differentiated result, it visits the
primal ops backwards and asks each op's VJP rule (:mod:`avalon.passes.vjp_rules`) for the
cotangents of its operands, adding up contributions of values used several times. The new
function returns the result's value followed by one gradient per requested argument.

Only *active* ops take part: those with a float result that depends on a differentiated
argument and on which the differentiated result depends. Integer and boolean values carry no
gradient, and ``tensor.stop_gradient`` cuts the dependence. The output is ordinary tensor IR
(made only of ops that have VJP rules), so it can be canonicalized, lowered, or
differentiated again for higher derivatives.

The ``autodiff`` pass runs the same transformation from pipeline text.
"""

from __future__ import annotations

from collections.abc import Sequence

from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects.builtin import ModuleOp
from avalon.ir.dialects.func import FuncOp, ReturnOp
from avalon.ir.types import FunctionType, TensorType, is_float
from avalon.ir.verifier import verify
from avalon.passes.pass_base import ListOption, Option, Pass, PassFailure
from avalon.passes.registry import register_pass
from avalon.passes.rewrite import is_trivially_dead
from avalon.passes.vjp_rules import AutodiffError, autodiff_error, get_vjp_rule, vjp
from avalon.passes.vjp_rules import add as _add
from avalon.passes.vjp_rules import constant as _constant

SEEDS = ("ones", "argument")


def _is_float_tensor(v: Value) -> bool:
    return isinstance(v.type, TensorType) and is_float(v.type)


def _active_values(ops: Sequence[Operation], inputs: Sequence[Value],
                   output: Value) -> set[Value]:
    """Float values that depend on ``inputs`` and on which ``output`` depends."""
    varied: set[Value] = {v for v in inputs if _is_float_tensor(v)}
    for op in ops:
        if op.name == "tensor.stop_gradient":
            continue
        if any(v in varied for v in op.operands):
            varied.update(r for r in op.results if _is_float_tensor(r))
    useful: set[Value] = {output}
    for op in reversed(ops):
        if any(r in useful for r in op.results):
            useful.update(op.operands)
    return varied & useful


def reverse_sweep(b: Builder, ops: Sequence[Operation], output: Value, seed: Value,
                  inputs: Sequence[Value]) -> list[Value]:
    """Emit, with ``b``, the cotangents of ``inputs`` given the cotangent ``seed`` of
    ``output``, where ``ops`` (in program order) compute ``output`` from ``inputs``.

    Inputs the output does not depend on get zero cotangents.
    """
    active = _active_values(ops, inputs, output)
    cotangents: dict[Value, Value] = {}
    if output in active:
        cotangents[output] = seed
    for op in reversed(ops):
        if not any(r in active for r in op.results):
            continue
        cts = [cotangents.get(r) for r in op.results]
        if all(c is None for c in cts):
            continue
        rule = get_vjp_rule(op.name)
        if rule is None:
            hint = " (run 'inline' before autodiff)" if op.name == "func.call" else ""
            raise autodiff_error(f"no VJP rule for '{op.name}'{hint}", op)
        with b.located(op.location):
            contributions = rule(b, op, cts)
        if len(contributions) != op.num_operands:
            raise autodiff_error(
                f"VJP rule of '{op.name}' gave {len(contributions)} cotangents for "
                f"{op.num_operands} operands", op)
        for v, c in zip(op.operands, contributions):
            if c is None or v not in active:
                continue
            if c.type != v.type:
                raise autodiff_error(
                    f"VJP rule of '{op.name}' gave a cotangent of type {c.type} for an "
                    f"operand of type {v.type}", op)
            prev = cotangents.get(v)
            with b.located(op.location):
                cotangents[v] = c if prev is None else _add(b, prev, c)
    grads = []
    for v in inputs:
        g = cotangents.get(v)
        grads.append(g if g is not None else _constant(b, 0.0, v.type))
    return grads


def _lookup_function(module: Operation, name: str) -> FuncOp:
    fn = module.lookup(name) if isinstance(module, ModuleOp) else None
    if not isinstance(fn, FuncOp):
        raise autodiff_error(f"no function named '@{name}' to differentiate", module)
    if fn.is_declaration:
        raise autodiff_error(f"cannot differentiate '@{name}': it is a declaration", fn)
    if len(fn.regions[0].blocks) != 1:
        raise autodiff_error(f"cannot differentiate '@{name}': its body has several blocks",
                             fn)
    return fn


def _check_arguments(fn: FuncOp, wrt: Sequence[int], result: int) -> None:
    inputs, results = fn.type.inputs, fn.type.results
    for i in wrt:
        if not 0 <= i < len(inputs):
            raise autodiff_error(
                f"argument #{i} does not exist: '@{fn.symbol}' has {len(inputs)} arguments",
                fn)
        t = inputs[i]
        if not isinstance(t, TensorType):
            raise autodiff_error(f"argument #{i} has type {t}; only float tensor arguments "
                                 "can be differentiated", fn)
        if not is_float(t):
            raise autodiff_error(f"argument #{i} has integer type {t}; only float arguments "
                                 "can be differentiated", fn)
    if not 0 <= result < len(results):
        raise autodiff_error(
            f"result #{result} does not exist: '@{fn.symbol}' has {len(results)} results", fn)
    rt = results[result]
    if not (isinstance(rt, TensorType) and is_float(rt)):
        raise autodiff_error(f"result #{result} has type {rt}; only a float tensor result can "
                             "be differentiated", fn)


def _erase_dead_ops(fn: FuncOp) -> None:
    """Drop primal values the gradient function does not need (results of the original that
    it does not return) and rule outputs nobody uses."""
    for op in list(fn.entry_block.reversed_ops()):
        if is_trivially_dead(op):
            op.erase()


def differentiate(module: Operation, func_name: str, wrt: Sequence[int], *, result: int = 0,
                  name: str | None = None, seed: str = "ones") -> FuncOp:
    """Create the reverse-mode gradient function of ``@func_name`` in ``module``.

    The new function (``name``, by default ``<func_name>_grad``, inserted after the original)
    takes the same arguments and returns ``(value of result #result, gradient w.r.t. argument
    wrt[0], ...)``. With ``seed="ones"`` the result's cotangent is all ones (the gradient of
    the sum of its elements); with ``seed="argument"`` it is an extra last argument, which
    makes the new function a vector-Jacobian product. Raises :class:`AutodiffError` (a located
    diagnostic) when the function cannot be differentiated.
    """
    if seed not in SEEDS:
        raise ValueError(f"seed must be one of {', '.join(SEEDS)}, not '{seed}'")
    fn = _lookup_function(module, func_name)
    _check_arguments(fn, wrt, result)
    new_name = name or f"{func_name}_grad"
    if module.lookup(new_name) is not None:  # type: ignore[attr-defined]
        raise autodiff_error(f"cannot create '@{new_name}': the symbol already exists", fn)
    inputs = list(fn.type.inputs)
    result_type = fn.type.results[result]
    if seed == "argument":
        inputs.append(result_type)
    out_types = (result_type, *(inputs[i] for i in wrt))
    grad_fn = FuncOp.create(new_name, FunctionType(tuple(inputs), out_types),
                            location=fn.location)
    if fn.visibility != "public":
        grad_fn.attributes["sym_visibility"] = fn.attributes["sym_visibility"]
    block = grad_fn.entry_block
    mapping: dict = {old: new for old, new in zip(fn.entry_block.args, block.args)}
    terminator = fn.entry_block.last_op
    if not isinstance(terminator, ReturnOp):
        raise autodiff_error(f"'@{func_name}' does not end in 'func.return'", fn)
    primal: list[Operation] = []
    for op in fn.entry_block.ops:
        if op is terminator:
            break
        primal.append(block.append(op.clone(mapping)))
    output = mapping.get(terminator.operands[result], terminator.operands[result])
    b = Builder.at_end(block, terminator.location)
    if seed == "argument":
        seed_value = block.args[-1]
    else:
        seed_value = _constant(b, 1.0, result_type)
    grads = reverse_sweep(b, primal, output, seed_value, [block.args[i] for i in wrt])
    b.create(ReturnOp, values=[output, *grads])
    _erase_dead_ops(grad_fn)
    module.body.insert_after(grad_fn, fn)  # type: ignore[attr-defined]
    try:
        verify(grad_fn)
    except DiagnosticError:
        grad_fn.erase()  # a rule built invalid IR: leave the module as it was
        raise
    return grad_fn


@register_pass
class Autodiff(Pass):
    """Add a reverse-mode gradient function of a tensor-level function to the module.

    ``autodiff{func=f wrt=0,1}`` creates ``@f_grad`` returning ``f``'s result #``result`` and
    its gradients with respect to the listed arguments (all float arguments when ``wrt`` is
    empty). See docs/autodiff.md.
    """

    name = "autodiff"
    op_name = "builtin.module"
    func = Option(str, "", "the function to differentiate")
    wrt = ListOption(int, [], "argument numbers to differentiate with respect to "
                              "(empty: every float tensor argument)")
    result = Option(int, 0, "which result of the function is differentiated")
    seed = Option(str, "ones", "'ones' (gradient of the sum) or 'argument' (the cotangent is "
                               "an extra last argument)")

    def run(self, op: Operation) -> None:
        if not self.func:
            raise self.fail("autodiff needs the 'func' option (autodiff{func=f wrt=0})", op)
        if self.seed not in SEEDS:
            raise self.fail(f"autodiff option 'seed' must be 'ones' or 'argument', not "
                            f"'{self.seed}'", op)
        wrt = list(self.wrt)
        if not wrt:
            fn = op.lookup(self.func) if isinstance(op, ModuleOp) else None
            if isinstance(fn, FuncOp):
                wrt = [i for i, t in enumerate(fn.type.inputs)
                       if isinstance(t, TensorType) and is_float(t)]
        try:
            differentiate(op, self.func, wrt, result=self.result,
                          name=self.options["name"] or None, seed=self.seed)
        except DiagnosticError as err:
            raise PassFailure(err.diagnostic) from None
        self.count("num-functions", "gradient functions created").add(1)


# The option is called ``name``, which as a class attribute would shadow the pass name.
_NAME_OPTION = Option(str, "", "name of the new function (default: <func>_grad)")
_NAME_OPTION.name = "name"
Autodiff._options = {**Autodiff._options, "name": _NAME_OPTION}


__all__ = ["AutodiffError", "differentiate", "reverse_sweep", "vjp"]
