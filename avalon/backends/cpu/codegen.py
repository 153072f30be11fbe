"""Translation of func/loop/memory/arith/math/vector IR into an LLVM IR module (llvmlite.ir).

Structure of the output, per ``func.func @f``:

* ``@f`` (internal linkage): the function itself. Each IR argument becomes one LLVM parameter
  (memrefs are a ``ptr`` to the start of their allocation, the static layout supplies offset
  and strides), followed by a hidden ``ptr noalias %err``: an ``i32`` slot where failing ops
  store their error code (see :mod:`avalon.backends.cpu.abi`). Several results are returned
  as a literal struct.
* ``@f__avalon_packed(ptr %args)`` (exported, only for public functions whose types can cross
  into Python): reads one pointer per argument, per result and one for the error slot from
  ``args`` and calls ``@f``; so one ctypes signature serves every function.

Control flow is structured: ``loop.for`` becomes a header block with one phi per carried
value, ``loop.parallel`` a sequential loop nest (row-major, reductions combined in iteration
order, exactly as the interpreter does), ``loop.if`` a branch and a merge block with phis.
Op-by-op lowerings of the value dialects live in :mod:`.lower_arith` and :mod:`.lower_memory`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llvmlite.ir as ir
import numpy as np

from avalon.backends.cpu import lltypes as lt
from avalon.backends.cpu.abi import (
    PACKED_SUFFIX,
    Effects,
    ErrorSite,
    FunctionSignature,
    callee_name,
    error_sites,
    function_signatures,
    function_type,
    functions_of,
    is_declaration,
    memory_effects,
)
from avalon.ir.attributes import IntegerAttr
from avalon.ir.core import Operation, OpResult, Value
from avalon.ir.diagnostics import Diagnostic, DiagnosticError, Severity
from avalon.ir.traits import ConstantLike
from avalon.ir.types import MemRefType, Type, bf16

#: Ops that end a region; their operands are the region's results.
TERMINATORS = frozenset({"func.return", "loop.yield", "loop.reduce", "loop.reduce.return"})
#: C library functions generated code may call; user functions must not take these names.
C_RUNTIME = frozenset({"aligned_alloc", "malloc", "free", "memmove", "memcpy", "memset"})

INT64_MAX = (1 << 63) - 1
#: Non-splat vector constants of at least this many bytes live in read-only global data:
#: a store of one becomes a ``memcpy`` and any other use a load. Inline, each would expand
#: to a long run of immediate stores in one basic block, and LLVM's instruction schedulers
#: are quadratic in the length of a block (a 25,000-element index table took 25 s).
LARGE_CONSTANT_BYTES = 1024


class CodegenError(DiagnosticError):
    """IR the CPU backend cannot compile, located at the offending op."""


def codegen_error(op: Operation | None, message: str) -> CodegenError:
    if op is None:
        return CodegenError(Diagnostic(Severity.ERROR, message))
    return CodegenError(Diagnostic(Severity.ERROR, f"'{op.name}' op {message}", op.location))


Handler = Callable[["FunctionLowering", Operation], Sequence[ir.Value] | None]


def _handlers() -> dict[str, Handler]:
    from avalon.backends.cpu.lower_arith import HANDLERS as ARITH
    from avalon.backends.cpu.lower_memory import HANDLERS as MEMORY

    table: dict[str, Handler] = {}
    table.update(ARITH)
    table.update(MEMORY)
    table.update(CONTROL_FLOW)
    return table


@dataclass
class GeneratedModule:
    """LLVM IR text of a module plus what the runtime needs to call it."""

    llvm_ir: str
    signatures: dict[str, FunctionSignature]
    error_sites: list[ErrorSite]


def generate_llvm(module: Operation, *, triple: str, data_layout: str,
                  noalias: bool = True) -> GeneratedModule:
    """Translate ``module`` to LLVM IR for ``triple``/``data_layout``.

    With ``noalias``, the packed entry points promise LLVM that memref arguments do not
    overlap (the Python runtime checks this before every call)."""
    lowering = ModuleLowering(module, triple, data_layout, noalias)
    lowering.run()
    return GeneratedModule(str(lowering.ir), lowering.signatures, lowering.sites)


# -------------------------------------------------------------------------------- module


class ModuleLowering:
    """Owns the llvmlite module: declarations, intrinsics and the per-function lowerings."""

    def __init__(self, module: Operation, triple: str, data_layout: str, noalias: bool) -> None:
        self.module = module
        self.noalias = noalias
        self.ir = ir.Module(name="avalon")
        self.ir.triple = triple
        self.ir.data_layout = data_layout
        self.sites, self.codes = error_sites(module)
        self.effects: dict[str, Effects] = memory_effects(module)
        self.signatures = function_signatures(module)
        self.func_ops = functions_of(module)
        self.functions: dict[str, ir.Function] = {}
        self.handlers = _handlers()
        self._c_names: set[str] = set()
        self._constants: dict[tuple[str, bytes], ir.GlobalVariable] = {}

    def run(self) -> None:
        for region in self.module.regions:
            for block in region.blocks:
                for op in block.ops:
                    if op.name != "func.func":
                        raise codegen_error(op, "cannot be compiled for the CPU: only "
                                                "'func.func' may appear at module level")
        for name, fn in self.func_ops.items():
            self._declare(name, fn)
        for name, fn in self.func_ops.items():
            if not is_declaration(fn):
                FunctionLowering(self, fn, self.functions[name]).run()
        for name, sig in self.signatures.items():
            if sig.exported:
                self._emit_packed(sig, self.func_ops[name])

    # -- declarations
    def _declare(self, name: str, fn: Operation) -> None:
        ftype = function_type(fn)
        try:
            params = [lt.value_type(t) for t in ftype.inputs]
            results = [lt.value_type(t) for t in ftype.results]
        except lt.UnsupportedType as exc:
            raise codegen_error(fn, f"cannot be compiled for the CPU: {exc}") from None
        if len(results) == 0:
            ret: ir.Type = lt.VOID
        elif len(results) == 1:
            ret = results[0]
        else:
            ret = ir.LiteralStructType(results)
        if is_declaration(fn):
            # An external C function: called with its plain signature.
            llfn = ir.Function(self.ir, ir.FunctionType(ret, params), name)
        else:
            if name in C_RUNTIME or name.endswith(PACKED_SUFFIX):
                raise codegen_error(fn, f"cannot be compiled for the CPU: the name '@{name}' "
                                        "is reserved by the CPU backend's runtime")
            llfn = ir.Function(self.ir, ir.FunctionType(ret, [*params, lt.PTR]), name)
            llfn.linkage = "internal"
            llfn.args[-1].name = "err"
            llfn.args[-1].add_attribute("noalias")
            llfn.attributes.add("nounwind")
        self.functions[name] = llfn

    def intrinsic(self, name: str, ret: ir.Type, args: Sequence[ir.Type],
                  overloads: Sequence[ir.Type] = ()) -> ir.Function:
        """The LLVM intrinsic ``name`` mangled for ``overloads`` (declared once)."""
        full = ".".join([name, *(lt.mangle(t) for t in overloads)])
        existing = self.ir.globals.get(full)
        if existing is not None:
            return existing
        return ir.Function(self.ir, ir.FunctionType(ret, list(args)), full)

    def c_function(self, name: str, ret: ir.Type, args: Sequence[ir.Type]) -> ir.Function:
        """An external C function (libc/libm), declared once with this signature."""
        existing = self.ir.globals.get(name)
        if existing is not None:
            if name not in self._c_names and name in self.func_ops and not is_declaration(
                    self.func_ops[name]):
                raise codegen_error(self.func_ops[name], f"cannot be compiled for the CPU: "
                                    f"the name '@{name}' clashes with the C library function "
                                    "the backend calls")
            return existing
        fn = ir.Function(self.ir, ir.FunctionType(ret, list(args)), name)
        if name in ("aligned_alloc", "malloc"):
            fn.return_value.add_attribute("noalias")
        fn.attributes.add("nounwind")
        self._c_names.add(name)
        return fn

    def constant_data(self, element_type: Type, data: bytes) -> ir.GlobalVariable:
        """A private read-only global holding ``data`` (identical data share one global)."""
        key = (str(element_type), data)
        g = self._constants.get(key)
        if g is None:
            arr_t = ir.ArrayType(lt.I8, len(data))
            g = ir.GlobalVariable(self.ir, arr_t, name=f"__avalon_const.{len(self._constants)}")
            g.global_constant = True
            g.linkage = "private"
            g.unnamed_addr = True
            g.align = 64
            g.initializer = ir.Constant(arr_t, bytearray(data))
            self._constants[key] = g
        return g

    # -- packed entry points
    def _emit_packed(self, sig: FunctionSignature, fn: Operation) -> None:
        ftype = function_type(fn)
        llfn = self.functions[sig.name]
        wrapper = ir.Function(self.ir, ir.FunctionType(lt.VOID, [lt.PTR]), sig.symbol)
        wrapper.args[0].name = "args"
        wrapper.attributes.add("nounwind")
        b = ir.IRBuilder(wrapper.append_basic_block("entry"))
        n_in, n_out = len(ftype.inputs), len(ftype.results)

        def slot(i: int) -> ir.Value:
            p = b.gep(wrapper.args[0], [lt.int_const(lt.I64, i)], inbounds=True,
                      source_etype=lt.PTR)
            return b.load(p, typ=lt.PTR, align=8)

        call_args = []
        noalias_args: dict[int, tuple[str, ...]] = {}
        for i, t in enumerate(ftype.inputs):
            p = slot(i)
            if isinstance(t, MemRefType):
                call_args.append(b.load(p, typ=lt.PTR, align=8))
                if self.noalias:
                    noalias_args[i] = ("noalias",)
            elif t == bf16:
                call_args.append(b.fptrunc(b.load(p, typ=lt.FLOAT, align=4), lt.BFLOAT))
            else:
                st = lt.storage_type(t)
                raw = b.load(p, typ=st, align=_element_align(t))
                call_args.append(lt.from_storage(b, raw, t))
        err = slot(n_in + n_out)
        call = b.call(llfn, [*call_args, err], arg_attrs=noalias_args or None)
        for j, t in enumerate(ftype.results):
            value = call if n_out == 1 else b.extract_value(call, j)
            p = slot(n_in + j)
            if isinstance(t, MemRefType):
                b.store(value, p, align=8)
            elif t == bf16:
                b.store(b.fpext(value, lt.FLOAT), p, align=4)
            else:
                b.store(lt.to_storage(b, value, t), p, align=_element_align(t))
        b.ret_void()


def _element_align(t: Type) -> int:
    et = getattr(t, "element_type", t)
    return lt.storage_size(et)


# ------------------------------------------------------------------------------ functions


class FunctionLowering:
    """Lowers one ``func.func`` body; op handlers call back into it."""

    def __init__(self, ml: ModuleLowering, fn: Operation, llfn: ir.Function) -> None:
        self.ml = ml
        self.fn = fn
        self.llfn = llfn
        self.err = llfn.args[-1]
        self.values: dict[Value, ir.Value] = {}
        self.b = ir.IRBuilder(llfn.append_basic_block("entry"))

    # -- values
    def value(self, v: Value) -> ir.Value:
        try:
            return self.values[v]
        except KeyError:
            owner = v.op if isinstance(v, OpResult) else None
            raise codegen_error(owner, "result used before it was lowered (does the IR "
                                       "pass the verifier?)") from None

    def bind(self, v: Value, llv: ir.Value) -> None:
        self.values[v] = llv

    # -- driving
    def run(self) -> None:
        region = self.fn.regions[0]
        if len(region.blocks) != 1:
            raise codegen_error(self.fn, "cannot be compiled for the CPU: function bodies "
                                         "must have exactly one block")
        block = region.blocks[0]
        for arg, llarg in zip(block.args, self.llfn.args):
            self.bind(arg, llarg)
        term = self.emit_block(block)
        if term is None or term.name != "func.return":
            raise codegen_error(self.fn, "body does not end in 'func.return'")
        self.emit_return([self.value(v) for v in term.operands])

    def emit_block(self, block) -> Operation | None:
        """Lower every op of ``block`` but its terminator, which is returned."""
        last = block.last_op
        for op in block.ops:
            if op is last and op.name in TERMINATORS:
                return op
            self.emit_op(op)
        return None

    def emit_region(self, region, args: Sequence[ir.Value]) -> list[ir.Value]:
        """Lower the single block of ``region`` with its arguments bound to ``args``; the
        values of its terminator."""
        if len(region.blocks) != 1:
            raise codegen_error(region.parent, "cannot be compiled for the CPU: regions must "
                                               "have exactly one block")
        block = region.blocks[0]
        for a, v in zip(block.args, args, strict=True):
            self.bind(a, v)
        term = self.emit_block(block)
        return [] if term is None else [self.value(v) for v in term.operands]

    def emit_op(self, op: Operation) -> None:
        handler = self.ml.handlers.get(op.name)
        if handler is None:
            raise codegen_error(op, "cannot be compiled for the CPU: no lowering to LLVM for "
                                    "this op (lower it to func/loop/memory/arith/math/vector "
                                    "first)")
        try:
            results = handler(self, op) or []
        except lt.UnsupportedType as exc:
            raise codegen_error(op, f"cannot be compiled for the CPU: {exc}") from None
        if len(results) != len(op.results):
            raise codegen_error(op, f"lowering produced {len(results)} values for "
                                    f"{len(op.results)} results")
        for r, v in zip(op.results, results):
            self.bind(r, v)

    def emit_return(self, values: Sequence[ir.Value]) -> None:
        if not values:
            self.b.ret_void()
        elif len(values) == 1:
            self.b.ret(values[0])
        else:
            agg: ir.Value = ir.Constant(self.llfn.function_type.return_type, None)
            for i, v in enumerate(values):
                agg = self.b.insert_value(agg, v, i)
            self.b.ret(agg)

    def return_default(self) -> None:
        """Leave the function at once (after a failure): zero results."""
        rt = self.llfn.function_type.return_type
        if isinstance(rt, ir.VoidType):
            self.b.ret_void()
        else:
            self.b.ret(ir.Constant(rt, None))

    # -- blocks and loops
    def new_block(self, name: str) -> ir.Block:
        return self.llfn.append_basic_block(name)

    def emit_loop(self, lb: ir.Value, ub: ir.Value, step: ir.Value, inits: Sequence[ir.Value],
                  body: Callable[[ir.Value, list[ir.Value]], Sequence[ir.Value]], *,
                  nsw: bool = False) -> list[ir.Value]:
        """``for (iv = lb; iv < ub; iv += step)`` carrying ``inits``; ``body(iv, carried)``
        returns the next carried values. Returns the final carried values."""
        b = self.b
        pre = b.block
        header = self.new_block("loop.header")
        body_bb = self.new_block("loop.body")
        exit_bb = self.new_block("loop.exit")
        b.branch(header)
        b.position_at_end(header)
        iv = b.phi(lt.I64, name="iv")
        iv.add_incoming(lb, pre)
        phis = []
        for v in inits:
            phi = b.phi(v.type)
            phi.add_incoming(v, pre)
            phis.append(phi)
        b.cbranch(b.icmp_signed("<", iv, ub), body_bb, exit_bb)
        b.position_at_end(body_bb)
        nxt_values = list(body(iv, list(phis)))
        latch = b.block
        nxt = b.add(iv, step, flags=("nsw",) if nsw else ())
        iv.add_incoming(nxt, latch)
        for phi, v in zip(phis, nxt_values, strict=True):
            phi.add_incoming(v, latch)
        b.branch(header)
        b.position_at_end(exit_bb)
        return list(phis)

    def emit_nest(self, shape: Sequence[int], body: Callable[[list[ir.Value]], None]) -> None:
        """A loop nest over every index of the static ``shape`` (row-major order)."""
        indices: list[ir.Value] = []

        def level(d: int) -> None:
            if d == len(shape):
                body(list(indices))
                return

            def step_body(iv: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
                indices.append(iv)
                level(d + 1)
                indices.pop()
                return []

            self.emit_loop(lt.int_const(lt.I64, 0), lt.int_const(lt.I64, shape[d]),
                           lt.int_const(lt.I64, 1), [], step_body, nsw=True)

        level(0)

    # -- errors
    def error_code(self, op: Operation) -> int:
        return self.ml.codes[op]

    def report_error_if(self, op: Operation, condition: ir.Value) -> None:
        """Record ``op``'s error code in the error slot when ``condition`` (i1 or <N x i1>)
        holds, without branching (so loops around it still vectorize)."""
        b = self.b
        if isinstance(condition.type, ir.VectorType):
            reduce = self.ml.intrinsic("llvm.vector.reduce.or", lt.I1, [condition.type],
                                       [condition.type])
            condition = b.call(reduce, [condition])
        old = b.load(self.err, typ=lt.I32, align=4)
        b.store(b.select(condition, lt.int_const(lt.I32, self.error_code(op)), old), self.err,
                align=4)

    def fail_if(self, op: Operation, condition: ir.Value) -> None:
        """When ``condition`` holds, record ``op``'s error code and leave the function."""
        b = self.b
        fail = self.new_block("fail")
        cont = self.new_block("cont")
        b.cbranch(condition, fail, cont)
        b.position_at_end(fail)
        b.store(lt.int_const(lt.I32, self.error_code(op)), self.err, align=4)
        self.return_default()
        b.position_at_end(cont)

    def return_on_error(self) -> None:
        """After a call that may have failed: leave at once if the error slot is set."""
        b = self.b
        code = b.load(self.err, typ=lt.I32, align=4)
        fail = self.new_block("propagate")
        cont = self.new_block("cont")
        b.cbranch(b.icmp_unsigned("!=", code, lt.int_const(lt.I32, 0)), fail, cont)
        b.position_at_end(fail)
        self.return_default()
        b.position_at_end(cont)


# ---------------------------------------------------------------------------- control flow


def large_constant_bytes(v: Value) -> tuple[Type, bytes] | None:
    """(element type, storage bytes) when ``v`` is a non-splat vector ``arith.constant`` of
    at least :data:`LARGE_CONSTANT_BYTES` whose elements have an exact byte form."""
    from avalon.ir.attributes import DenseElementsAttr
    from avalon.ir.types import VectorType

    op = v.op if isinstance(v, OpResult) else None
    if op is None or op.name != "arith.constant" or not isinstance(v.type, VectorType):
        return None
    attr = op.attributes.get("value")
    if not isinstance(attr, DenseElementsAttr) or attr.is_splat:
        return None
    et = v.type.element_type
    try:
        if v.type.num_elements * lt.storage_size(et) < LARGE_CONSTANT_BYTES:
            return None
    except lt.UnsupportedType:
        return None
    data = lt.storage_bytes(et, np.broadcast_to(attr.array, v.type.shape).reshape(-1))
    return None if data is None else (et, data)


def constant_int(v: Value) -> int | None:
    """The integer of the constant op defining ``v``, else None."""
    if isinstance(v, OpResult) and v.op.has_trait(ConstantLike):
        attr = v.op.attributes.get("value")
        if isinstance(attr, IntegerAttr):
            return attr.value
    return None


def _no_signed_wrap(ub: Value, step: Value) -> bool:
    """Whether ``iv + step`` cannot overflow while ``iv < ub`` (so the increment is nsw)."""
    s = constant_int(step)
    if s is None or s <= 0:
        return False
    if s == 1:
        return True
    u = constant_int(ub)
    return u is not None and u + s - 1 <= INT64_MAX


def _lower_for(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    lb, ub, step = (ft.value(v) for v in op.operands[:3])
    inits = [ft.value(v) for v in op.operands[3:]]
    region = op.regions[0]

    def body(iv: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
        return ft.emit_region(region, [iv, *carried])

    return ft.emit_loop(lb, ub, step, inits, body,
                        nsw=_no_signed_wrap(op.operands[1], op.operands[2]))


def _lower_parallel(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    sizes = op.attributes["operandSegmentSizes"].values
    n = int(sizes[0])
    operands = op.operands
    lbs, ubs, steps = operands[:n], operands[n:2 * n], operands[2 * n:3 * n]
    inits = [ft.value(v) for v in operands[3 * n:]]
    region = op.regions[0]
    if len(region.blocks) != 1:
        raise codegen_error(op, "cannot be compiled for the CPU: the body must have one block")
    block = region.blocks[0]
    ivs: list[ir.Value] = []

    def innermost(carried: list[ir.Value]) -> list[ir.Value]:
        for a, v in zip(block.args, ivs, strict=True):
            ft.bind(a, v)
        term = ft.emit_block(block)
        if term is None or term.name != "loop.reduce":
            raise codegen_error(op, "body does not end in 'loop.reduce'")
        partials = [ft.value(v) for v in term.operands]
        combined = []
        for acc, part, combiner in zip(carried, partials, term.regions, strict=True):
            combined.append(ft.emit_region(combiner, [acc, part])[0])
        return combined

    def level(d: int, carried: list[ir.Value]) -> list[ir.Value]:
        def body(iv: ir.Value, inner: list[ir.Value]) -> list[ir.Value]:
            ivs.append(iv)
            out = level(d + 1, inner) if d + 1 < n else innermost(inner)
            ivs.pop()
            return out

        return ft.emit_loop(ft.value(lbs[d]), ft.value(ubs[d]), ft.value(steps[d]), carried,
                            body, nsw=_no_signed_wrap(ubs[d], steps[d]))

    return level(0, inits)


def _lower_if(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    b = ft.b
    cond = ft.value(op.operands[0])
    then_region, else_region = op.regions[0], op.regions[1]
    then_bb = ft.new_block("if.then")
    else_bb = ft.new_block("if.else") if else_region.blocks else None
    merge_bb = ft.new_block("if.end")
    b.cbranch(cond, then_bb, else_bb if else_bb is not None else merge_bb)
    incoming = []
    b.position_at_end(then_bb)
    values = ft.emit_region(then_region, [])
    incoming.append((values, b.block))
    b.branch(merge_bb)
    if else_bb is not None:
        b.position_at_end(else_bb)
        values = ft.emit_region(else_region, [])
        incoming.append((values, b.block))
        b.branch(merge_bb)
    b.position_at_end(merge_bb)
    results = []
    for k, r in enumerate(op.results):
        phi = b.phi(lt.value_type(r.type))
        for values, block in incoming:
            phi.add_incoming(values[k], block)
        results.append(phi)
    return results


def _lower_call(ft: FunctionLowering, op: Operation) -> list[ir.Value]:
    name = callee_name(op)
    callee = ft.ml.functions.get(name) if name is not None else None
    if callee is None:
        raise codegen_error(op, f"calls unknown function '@{name}'")
    args = [ft.value(v) for v in op.operands]
    external = is_declaration(ft.ml.func_ops[name])
    call = ft.b.call(callee, args if external else [*args, ft.err])
    if not external and ft.ml.effects[name].may_fail_alloc:
        ft.return_on_error()
    n = len(op.results)
    if n == 0:
        return []
    if n == 1:
        return [call]
    return [ft.b.extract_value(call, i) for i in range(n)]


CONTROL_FLOW: dict[str, Handler] = {
    "loop.for": _lower_for,
    "loop.parallel": _lower_parallel,
    "loop.if": _lower_if,
    "func.call": _lower_call,
}
