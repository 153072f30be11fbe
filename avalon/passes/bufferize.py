"""The ``bufferize`` pass: tensor-level functions become memory-level functions.

**ABI** (destination passing; see ``docs/passes.md``). Every tensor argument becomes a memref
argument of the same shape and element type, never written unless the caller donates it
(``avalon.donate``). Every tensor result becomes an extra trailing memref argument marked
``{avalon.out, avalon.result = k}`` that the function fills; scalar results stay results
(marked ``{avalon.result = k}``). A result computed in place over a donated argument of its
type is *tied* to it instead: it gets no out-parameter and the argument is marked
``{avalon.donate, avalon.result = k}``. The function is marked ``avalon.bufferized``.

**Buffers.** Ops are visited in order. A view (``reshape`` of a dense buffer, ``transpose``,
``slice``, ``stop_gradient``) aliases its operand's buffer. Every other op writes a
destination, chosen in this order: in place over a donated argument (for a returned value,
which ties it), the out-parameter of the value it is returned as (also through reshapes and
transposes of it), in place over an operand that dies at the op (elementwise ops, and
``tensor.generic`` over its ``outs`` or identity-mapped inputs), else a new ``memory.alloc``.
In place requires that no other live value shares the operand's storage and that the storage
is writable (an allocation, an out-parameter or a donated argument). Constants are
materialised lazily where first read as a buffer; splat constants are read as scalars.
Allocations are freed after their last use.

The ops are then lowered straight into loop nests over the chosen buffers (the lowerings live
in ``lower_structured``, ``lower_window``, ``lower_data`` and ``lower_random``); bulk copies
and fills stay ``memory.copy`` / ``memory.fill`` for ``lower-to-loops`` to expand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from avalon.ir.attributes import (
    ArrayAttr,
    Attribute,
    DenseArrayAttr,
    DenseElementsAttr,
    DictAttr,
    IntegerAttr,
    SymbolRefAttr,
    UnitAttr,
)
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation, OpResult, Value
from avalon.ir.dialects import func, memory, tensor
from avalon.ir.types import FunctionType, MemRefType, TensorType, Type, i64
from avalon.passes import lower_common as lc
from avalon.passes import lower_data, lower_random, lower_structured, lower_window
from avalon.passes.lower_structured import LoweringContext
from avalon.passes.pass_base import Pass
from avalon.passes.registry import register_pass

DONATE_ATTR = "avalon.donate"
OUT_ATTR = "avalon.out"
RESULT_ATTR = "avalon.result"
BUFFERIZED_ATTR = "avalon.bufferized"

#: Uses of a value by ``func.return`` count as uses after every op.
_END = 1 << 60

Lowering = Callable[[LoweringContext, Builder, Operation, list[Value]], None]

LOWERINGS: dict[str, Lowering] = {
    **{cls.name: lower_structured.lower_elementwise for cls in lower_structured.ELEMENTWISE},
    "tensor.broadcast": lower_structured.lower_broadcast,
    "tensor.generic": lower_structured.lower_generic,
    "tensor.reduce": lower_structured.lower_reduce,
    "tensor.matmul": lower_structured.lower_matmul,
    "tensor.argmax": lower_structured.lower_argmax,
    "tensor.conv": lower_window.lower_conv,
    "tensor.pool": lower_window.lower_pool,
    "tensor.pad": lower_data.lower_pad,
    "tensor.concat": lower_data.lower_concat,
    "tensor.gather": lower_data.lower_gather,
    "tensor.iota": lower_data.lower_iota,
    "tensor.random_uniform": lower_random.lower_random,
    "tensor.random_normal": lower_random.lower_random,
}
VIEW_OPS = ("tensor.reshape", "tensor.transpose", "tensor.slice", "tensor.stop_gradient")


class BufferizeError(Exception):
    """IR the pass cannot bufferize (reported as a located pass failure)."""

    def __init__(self, message: str, op: Operation) -> None:
        super().__init__(message)
        self.op = op


def buffer_type(t: TensorType) -> MemRefType:
    """The identity-layout memref type holding a tensor of type ``t``."""
    return MemRefType(t.shape, t.element_type)


def _convert(t: Type) -> Type:
    return buffer_type(t) if isinstance(t, TensorType) else t


# -------------------------------------------------------------------------- signatures


def donated_arguments(fn: func.FuncOp) -> set[int]:
    """Indices of the arguments ``fn`` may overwrite: those whose attribute dictionary holds
    ``avalon.donate``, plus those listed by a function attribute ``avalon.donate`` (an i64
    array or an array of integers; a unit attribute donates every argument)."""
    n = len(fn.type.inputs)
    out = {i for i, d in enumerate(fn.arg_attr_dicts()) if d.get(DONATE_ATTR) is not None}
    attr = fn.attributes.get(DONATE_ATTR)
    if isinstance(attr, UnitAttr):
        out.update(range(n))
    elif isinstance(attr, DenseArrayAttr):
        out.update(int(v) for v in attr.values)
    elif isinstance(attr, ArrayAttr):
        out.update(e.value for e in attr.elements if isinstance(e, IntegerAttr))
    return {i for i in out if 0 <= i < n and isinstance(fn.type.inputs[i], TensorType)}


@dataclass
class Signature:
    """The bufferized signature of a function (before ties, which only entry points make)."""

    inputs: list[Type]
    donated: set[int]
    tensor_results: list[int]
    scalar_results: list[int]
    results: list[Type]


def bufferized_signature(fn: func.FuncOp) -> Signature:
    ft = fn.type
    tensor_results = [k for k, t in enumerate(ft.results) if isinstance(t, TensorType)]
    scalar_results = [k for k, t in enumerate(ft.results) if not isinstance(t, TensorType)]
    return Signature([_convert(t) for t in ft.inputs], donated_arguments(fn), tensor_results,
                     scalar_results, list(ft.results))


def _with(d: DictAttr | dict, **extra: Attribute) -> DictAttr:
    items = dict(d.as_dict() if isinstance(d, DictAttr) else d)
    for key, value in extra.items():
        items[key.replace("__", ".")] = value
    return DictAttr.of(items)


# ----------------------------------------------------------------------- buffer planning


@dataclass
class _Storage:
    """Where a tensor's elements live: a memref ``value`` over storage ``root`` (an
    allocation or a function argument)."""

    value: Value
    root: Value


@dataclass
class _Request:
    """A destination asked for by a later consumer: out-parameter ``out`` seen through
    ``views``, the reshapes and transposes applied to it in order."""

    out: int
    views: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)


class FunctionBufferizer(LoweringContext):
    """Bufferizes one function: plans destinations and lowers each op into them."""

    def __init__(self, fn: func.FuncOp, sig: Signature, allow_ties: bool,
                 signatures: dict[str, Signature]) -> None:
        self.fn = fn
        self.sig = sig
        self.allow_ties = allow_ties
        self.signatures = signatures
        self.block = fn.entry_block
        self.storage: dict[Value, _Storage] = {}
        self.members: dict[Value, list[Value]] = {}
        self.writable: set[Value] = set()
        self.position: dict[Operation, int] = {}
        self.last_use: dict[Value, int] = {}
        self.returned: dict[Value, list[int]] = {}
        self.requests: dict[Value, _Request] = {}
        self.out_params: dict[int, Value] = {}
        self.ties: dict[int, int] = {}  # result k -> donated argument index
        self.arg_index: dict[Value, int] = {}  # memref argument -> original argument index

    # ------------------------------------------------------------------ analysis
    def _check(self) -> None:
        if len(self.fn.regions[0].blocks) != 1:
            raise BufferizeError("bufferize supports single-block function bodies", self.fn)
        allowed = (*LOWERINGS, *VIEW_OPS, "tensor.constant", "tensor.empty", "func.call",
                   "func.return")
        for op in self.block.ops:
            for region in op.regions:
                for nested in (n for o in region.ops() for n in o.walk_ops()):
                    if _has_tensor(nested):
                        raise BufferizeError(
                            "tensor values inside nested regions cannot be bufferized", nested)
            if _has_tensor(op) and op.name not in allowed:
                raise BufferizeError(f"no bufferization for '{op.name}'", op)

    def _analyze(self) -> None:
        ops = list(self.block.ops)
        for t, op in enumerate(ops):
            self.position[op] = t
        term = self.block.last_op
        for v in [*self.block.args, *(r for op in ops for r in op.results)]:
            if not isinstance(v.type, TensorType):
                continue
            last = -1
            for use in v.uses:
                owner = use.owner
                while owner.parent is not self.block:
                    owner = owner.parent_op  # type: ignore[assignment]
                last = max(last, _END if owner is term else self.position[owner])
            self.last_use[v] = last
        if term is not None and term.name == "func.return":
            for k, v in enumerate(term.operands):
                if isinstance(v.type, TensorType):
                    self.returned.setdefault(v, []).append(k)
        # Destinations requested by returns, pushed back through single-use views.
        for v, ks in self.returned.items():
            if _claims_destination(v):
                self.requests[v] = _Request(ks[0])
        for op in reversed(ops):
            if op.name not in ("tensor.reshape", "tensor.transpose", "tensor.stop_gradient"):
                continue
            req = self.requests.get(op.results[0])
            x = op.operands[0]
            if req is None or not _claims_destination(x) or x.num_uses != 1 or x in \
                    self.requests:
                continue
            if op.name == "tensor.reshape":
                if req.views and req.views[-1][0] == "transpose":
                    continue  # a reshape of a transposed buffer is not a view
                view = ("reshape", tuple(x.type.shape))
            elif op.name == "tensor.transpose":
                perm = tuple(op.permutation)  # type: ignore[attr-defined]
                view = ("transpose", tensor.inverse_permutation(perm))
            else:
                self.requests[x] = req
                continue
            self.requests[x] = _Request(req.out, [*req.views, view])

    # ------------------------------------------------------------------ storage
    def _bind(self, v: Value, mem: Value, root: Value) -> None:
        self.storage[v] = _Storage(mem, root)
        self.members.setdefault(root, []).append(v)

    def _fresh(self, b: Builder, t: TensorType) -> Value:
        mem = lc.alloc(b, buffer_type(t))
        self.writable.add(mem)
        return mem

    def buffer(self, b: Builder, v: Value) -> Value:
        s = self.storage.get(v)
        if s is not None:
            return s.value
        op = getattr(v, "op", None)
        if isinstance(op, tensor.ConstantOp | tensor.EmptyOp):
            mem = self._fresh(b, v.type)  # type: ignore[arg-type]
            if isinstance(op, tensor.ConstantOp):
                lower_data.materialize_constant(b, _constant_data(op), mem)
            self._bind(v, mem, mem)
            return mem
        raise BufferizeError("value used before it has a buffer", self.fn)

    def splat_attr(self, v: Value) -> DenseElementsAttr | None:
        """The data of ``v`` if it is a non-empty splat constant."""
        op = getattr(v, "op", None)
        if not isinstance(op, tensor.ConstantOp):
            return None
        attr = op.value
        if not isinstance(attr, DenseElementsAttr) or attr.array.size == 0 or not attr.is_splat:
            return None
        return attr

    def splat(self, b: Builder, v: Value) -> Value | None:
        attr = self.splat_attr(v)
        if attr is None:
            return None
        return lc.const(b, attr.splat_value(), attr.type.element_type)

    def _donated_arg(self, mem: Value) -> bool:
        return mem in self.arg_index and self.arg_index[mem] in self.sig.donated

    def _root(self, v: Value) -> Value | None:
        s = self.storage.get(v)
        return s.root if s is not None else None

    def _dead_after(self, v: Value, t: int) -> bool:
        return v not in self.returned and self.last_use.get(v, -1) <= t

    def can_overwrite(self, x: Value, op: Operation, taken: Sequence[Value] = ()) -> bool:
        """Whether ``op`` may write over ``x``'s buffer: ``x`` dies at ``op``, its storage is
        writable, no other live value and no other operand of ``op`` shares that storage."""
        t = self.position[op]
        root = self._root(x)
        if root is None or root not in self.writable or not self._dead_after(x, t):
            return False
        if self.storage[x].value in taken:
            return False
        if any(not self._dead_after(y, t) for y in self.members.get(root, ()) if y is not x):
            return False
        return all(o is x or self._root(o) is not root for o in op.operands)

    # ------------------------------------------------------------------ destinations
    def _request_buffer(self, b: Builder, req: _Request) -> Value:
        mem: Value = self.out_params[req.out]
        for kind, params in req.views:
            mem = lc.reshape_view(b, mem, params) if kind == "reshape" else lc.transpose_view(
                b, mem, params)
        return mem

    def destination(self, b: Builder, op: Operation, k: int, taken: list[Value]) -> Value:
        """The buffer result ``k`` of ``op`` is written into (see the module docstring)."""
        r = op.results[k]
        rt: TensorType = r.type  # type: ignore[assignment]
        candidates = _inplace_candidates(self, op, k)
        if self.allow_ties and r in self.returned:
            for x in candidates:
                mem = self.storage.get(x)
                if (mem is not None and self._donated_arg(mem.value)
                        and mem.value.type == buffer_type(rt)
                        and self.can_overwrite(x, op, taken)):
                    self._bind(r, mem.value, mem.root)
                    return mem.value
        req = self.requests.get(r)
        if req is not None:
            mem = self._request_buffer(b, req)
            self._bind(r, mem, self.out_params[req.out])
            return mem
        for x in candidates:
            if x in self.storage and self.can_overwrite(x, op, taken):
                s = self.storage[x]
                self._bind(r, s.value, s.root)
                return s.value
        mem = self._fresh(b, rt)
        self._bind(r, mem, mem)
        return mem

    # ------------------------------------------------------------------ rewriting
    def run(self) -> None:
        self._check()
        self._analyze()
        block, sig = self.block, self.sig
        # Tensor arguments get memref replacements; out-parameters are appended.
        old_args = list(block.args)
        new_args: list[Value] = []
        for i, a in enumerate(old_args):
            if isinstance(a.type, TensorType):
                na = block.add_argument(buffer_type(a.type), a.location)
                self.arg_index[na] = i
                self._bind(a, na, na)
                if i in sig.donated:
                    self.writable.add(na)
                new_args.append(na)
            else:
                new_args.append(a)
        for k in sig.tensor_results:
            out = block.add_argument(buffer_type(sig.results[k]))  # type: ignore[arg-type]
            self.out_params[k] = out
            self.writable.add(out)
        originals = [op for op in block.ops if op is not block.last_op]
        replaced: list[Operation] = []
        for op in originals:
            if _has_tensor(op) or (isinstance(op, func.CallOp)
                                   and op.callee_name in self.signatures):
                self._lower(op)
                replaced.append(op)
        self._rewrite_return()
        for op in reversed(replaced):
            if op.has_uses:
                raise BufferizeError("a tensor value is still used after bufferization", op)
            op.erase()
        outs = [self.out_params[k] for k in sig.tensor_results if k not in self.ties]
        for k in self.ties:
            if self.out_params[k].has_uses:
                raise BufferizeError("a tied result still writes its out-parameter", self.fn)
        for a in old_args:
            if isinstance(a.type, TensorType) and a.has_uses:
                raise BufferizeError("a tensor argument is still used after bufferization",
                                     self.fn)
        block.args[:] = [*new_args, *outs]
        for i, a in enumerate(block.args):
            a.index = i
        self._update_signature()
        insert_deallocs(block)

    def _update_signature(self) -> None:
        fn, sig = self.fn, self.sig
        arg_dicts = fn.arg_attr_dicts()
        res_dicts = fn.res_attr_dicts()
        tied_arg = {i: k for k, i in self.ties.items()}
        new_arg_dicts = []
        for i, d in enumerate(arg_dicts):
            extra: dict[str, Attribute] = {}
            if i in sig.donated:
                extra["avalon__donate"] = UnitAttr()
            if i in tied_arg:
                extra["avalon__result"] = IntegerAttr(tied_arg[i], i64)
            new_arg_dicts.append(_with(d, **extra))
        out_types = []
        for k in sig.tensor_results:
            if k in self.ties:
                continue
            out_types.append(buffer_type(sig.results[k]))  # type: ignore[arg-type]
            new_arg_dicts.append(_with(res_dicts[k], avalon__out=UnitAttr(),
                                       avalon__result=IntegerAttr(k, i64)))
        new_res_dicts = [_with(res_dicts[k], avalon__result=IntegerAttr(k, i64))
                         for k in sig.scalar_results]
        fn.set_type(FunctionType(tuple([*sig.inputs, *out_types]),
                                 tuple(sig.results[k] for k in sig.scalar_results)))
        fn.attributes["arg_attrs"] = ArrayAttr(tuple(new_arg_dicts))
        if new_res_dicts:
            fn.attributes["res_attrs"] = ArrayAttr(tuple(new_res_dicts))
        else:
            fn.attributes.pop("res_attrs", None)
        fn.attributes.pop(DONATE_ATTR, None)
        fn.attributes[BUFFERIZED_ATTR] = UnitAttr()

    def _lower(self, op: Operation) -> None:
        b = Builder.before(op)
        if isinstance(op, tensor.ConstantOp):
            req = self.requests.get(op.result)
            if req is not None:
                mem = self._request_buffer(b, req)
                lower_data.materialize_constant(b, _constant_data(op), mem)
                self._bind(op.result, mem, self.out_params[req.out])
            return
        if isinstance(op, tensor.EmptyOp):
            return
        if op.name in VIEW_OPS:
            self._lower_view(b, op)
            return
        if isinstance(op, func.CallOp):
            self._lower_call(b, op)
            return
        taken: list[Value] = []
        for k in range(len(op.results)):
            taken.append(self.destination(b, op, k, taken))
        LOWERINGS[op.name](self, b, op, taken)

    def _lower_view(self, b: Builder, op: Operation) -> None:
        x, r = op.operands[0], op.results[0]
        src = self.buffer(b, x)
        root = self.storage[x].root
        st: MemRefType = src.type  # type: ignore[assignment]
        rt: TensorType = r.type  # type: ignore[assignment]
        if isinstance(op, tensor.StopGradientOp):
            self._bind(r, src, root)
        elif isinstance(op, tensor.TransposeOp):
            self._bind(r, lc.transpose_view(b, src, tuple(op.permutation)), root)
        elif isinstance(op, tensor.SliceOp):
            strides = tuple(op.stride)
            offsets = tuple(op.start)
            if offsets == (0,) * rt.rank and strides == (1,) * rt.rank and rt.shape == st.shape:
                self._bind(r, src, root)
            else:
                self._bind(r, lc.subview(b, src, offsets, rt.shape, strides), root)
        elif lc.is_dense_buffer(st):
            self._bind(r, lc.reshape_view(b, src, rt.shape), root)
        else:  # a reshape of a strided view copies it into dense storage first
            dst = self.destination(b, op, 0, [])
            if lc.is_dense_buffer(dst.type):  # type: ignore[arg-type]
                lc.copy(b, src, lc.reshape_view(b, dst, st.shape))
            else:
                tmp = lc.alloc(b, buffer_type(x.type))  # type: ignore[arg-type]
                lc.copy(b, src, tmp)
                lc.copy(b, lc.reshape_view(b, tmp, rt.shape), dst)

    def _lower_call(self, b: Builder, op: Operation) -> None:
        callee = op.callee_name  # type: ignore[attr-defined]
        csig = self.signatures.get(callee)
        if csig is None:
            if _has_tensor(op):
                raise BufferizeError(f"call to unknown function '@{callee}' with tensors", op)
            return
        args: list[Value] = []
        for i, v in enumerate(op.operands):
            if not isinstance(v.type, TensorType):
                args.append(v)
                continue
            mem = self.buffer(b, v)
            want = buffer_type(v.type)
            # A donated buffer must be ours to clobber and not also read through another
            # argument of the same call.
            shared = sum(1 for o in op.operands if o is v) > 1
            if mem.type != want or (i in csig.donated
                                    and (shared or not self.can_overwrite(v, op))):
                tmp = self._fresh(b, v.type)  # type: ignore[arg-type]
                lc.copy(b, mem, tmp)
                mem = tmp
            args.append(mem)
        outs: list[Value] = []
        copies: list[tuple[Value, Value]] = []
        for k in csig.tensor_results:
            r = op.results[k]
            req = self.requests.get(r)
            if req is not None:
                mem = self._request_buffer(b, req)
                self._bind(r, mem, self.out_params[req.out])
                if mem.type != buffer_type(r.type):  # type: ignore[arg-type]
                    tmp = self._fresh(b, r.type)  # type: ignore[arg-type]
                    copies.append((tmp, mem))
                    mem = tmp
            else:
                mem = self._fresh(b, r.type)  # type: ignore[arg-type]
                self._bind(r, mem, mem)
            outs.append(mem)
        call = b.create(func.CallOp, args=[*args, *outs], callee=SymbolRefAttr(callee),
                        result_types=[op.results[k].type for k in csig.scalar_results])
        for src, dst in copies:
            lc.copy(b, src, dst)
        for new, k in zip(call.results, csig.scalar_results):
            op.results[k].replace_all_uses_with(new)

    def _rewrite_return(self) -> None:
        term = self.block.last_op
        if term is None or term.name != "func.return":
            raise BufferizeError("function body must end in 'func.return'", self.fn)
        b = Builder.before(term)
        scalars: list[Value] = []
        for k, v in enumerate(term.operands):
            if not isinstance(v.type, TensorType):
                scalars.append(v)
                continue
            mem = self.buffer(b, v)
            out = self.out_params[k]
            if (self.allow_ties and self._donated_arg(mem) and mem.type == out.type
                    and self.arg_index[mem] not in self.ties.values()
                    and self.returned[v][0] == k):
                self.ties[k] = self.arg_index[mem]
                continue
            if self._root(v) is out and mem.type == out.type:
                continue  # computed in place: a full, identity view of the out-parameter
            lc.copy(b, mem, out)
        new = b.create(func.ReturnOp, values=scalars)
        new.attributes.update(term.attributes)
        term.erase()


def _has_tensor(op: Operation) -> bool:
    return any(isinstance(v.type, TensorType) for v in (*op.operands, *op.results))


def _claims_destination(v: Value) -> bool:
    """Whether ``v``'s producer writes a destination it can be told (not an argument, not a
    view, not an undefined ``tensor.empty``)."""
    if not isinstance(v, OpResult):
        return False
    name = v.op.name
    return name in LOWERINGS or name in ("tensor.constant", "tensor.reshape",
                                         "tensor.transpose", "tensor.stop_gradient",
                                         "func.call")


def _constant_data(op: Operation) -> DenseElementsAttr:
    attr = op.attributes.get("value")
    if not isinstance(attr, DenseElementsAttr):
        raise BufferizeError("constant has no data (its value was elided)", op)
    return attr


def _inplace_candidates(ctx: FunctionBufferizer, op: Operation, k: int) -> list[Value]:
    """Operands whose buffer result ``k`` of ``op`` may reuse: each element of the result is
    computed from the same element of the operand, read before it is written."""
    rt = op.results[k].type
    if op.name in lower_structured.ELEMENTWISE_NAMES:
        return [v for v in op.operands if v.type == rt and ctx.splat_attr(v) is None]
    if isinstance(op, tensor.GenericOp):
        n_in = len(op.inputs)
        maps = op.maps
        out_map = maps[n_in + k]
        parallel = all(it == "parallel" for it in op.iterators)

        def read_in_step(v: Value) -> bool:
            """Every read of ``v`` as an input hits the element being written, and no
            reduction rewrites that element before a later read."""
            reads = [m for x, m in zip(op.inputs, maps) if x is v]
            return not reads or (parallel and all(m == out_map for m in reads))

        found = []
        out_v = op.outputs[k]
        if ctx.splat_attr(out_v) is None and read_in_step(out_v):
            found.append(out_v)
        block = op.body_region.blocks[0]
        if (parallel and out_map.is_identity
                and (not block.args[n_in + k].has_uses or ctx.splat_attr(out_v) is not None)):
            found += [v for v, m in zip(op.inputs, maps)
                      if m.is_identity and v.type == rt and v is not out_v
                      and ctx.splat_attr(v) is None and read_in_step(v)]
        return found
    return []


def insert_deallocs(block: Block) -> None:
    """Free every allocation of the function body that has no deallocation yet after the
    last top-level op using it (or one of its views); erase allocations nobody uses."""
    for op in list(block.ops):
        if op.name != "memory.alloc" or any(u.name == "memory.dealloc"
                                             for u in op.results[0].users):
            continue
        last: Operation | None = None
        pending = [op.results[0]]
        while pending:
            v = pending.pop()
            for user in v.users:
                top = user
                while top.parent is not block:
                    top = top.parent_op  # type: ignore[assignment]
                if last is None or last.is_before_in_block(top):
                    last = top
                if user.name in MEMORY_VIEWS:
                    pending.extend(user.results)
        if last is None:
            op.erase()
            continue
        dealloc = memory.DeallocOp.build(op.results[0], location=op.location)
        if last.next_op is None:
            block.append(dealloc)
        else:
            block.insert_after(dealloc, last)


MEMORY_VIEWS = ("memory.subview", "memory.reshape", "memory.transpose")


# ----------------------------------------------------------------------------- the pass


@register_pass
class Bufferize(Pass):
    """Turn tensor-level functions into memory-level ones (destination-passing ABI).

    Tensor arguments become memref arguments (written only if donated with
    ``avalon.donate``), tensor results become trailing ``{avalon.out, avalon.result = k}``
    memref arguments, and every tensor op is lowered into loops over buffers chosen to avoid
    copies (out-parameters, in-place updates of dying values, views).
    """

    name = "bufferize"

    def run(self, op: Operation) -> None:
        functions = [f for f in op.walk_ops() if isinstance(f, func.FuncOp)
                     and f.attributes.get(BUFFERIZED_ATTR) is None and _needs_work(f)]
        signatures = {f.symbol: bufferized_signature(f) for f in functions}
        called = {c.callee_name for c in op.walk_ops() if isinstance(c, func.CallOp)}
        for f in functions:
            sig = signatures[f.symbol]
            if f.is_declaration:
                _declare(f, sig)
                continue
            try:
                FunctionBufferizer(f, sig, f.symbol not in called, signatures).run()
            except BufferizeError as err:
                raise self.fail(str(err), err.op) from None
            self.count("num-functions", "functions bufferized").add(1)


def _needs_work(f: func.FuncOp) -> bool:
    if any(isinstance(t, TensorType) for t in (*f.type.inputs, *f.type.results)):
        return True
    return any(_has_tensor(op) for op in f.walk_ops() if op is not f)


def _declare(f: func.FuncOp, sig: Signature) -> None:
    """A declaration gets the bufferized signature (no ties: its body is unknown)."""
    arg_dicts = f.arg_attr_dicts()
    res_dicts = f.res_attr_dicts()
    dicts = [_with(d, avalon__donate=UnitAttr()) if i in sig.donated else d
             for i, d in enumerate(arg_dicts)]
    outs = []
    for k in sig.tensor_results:
        outs.append(buffer_type(sig.results[k]))  # type: ignore[arg-type]
        dicts.append(_with(res_dicts[k], avalon__out=UnitAttr(),
                           avalon__result=IntegerAttr(k, i64)))
    f.set_type(FunctionType(tuple([*sig.inputs, *outs]),
                            tuple(sig.results[k] for k in sig.scalar_results)))
    f.attributes["arg_attrs"] = ArrayAttr(tuple(dicts))
    res = [_with(res_dicts[k], avalon__result=IntegerAttr(k, i64)) for k in sig.scalar_results]
    if res:
        f.attributes["res_attrs"] = ArrayAttr(tuple(res))
    else:
        f.attributes.pop("res_attrs", None)
    f.attributes[BUFFERIZED_ATTR] = UnitAttr()




# ------------------------------------------------------------------------------ the ABI


@dataclass(frozen=True)
class ResultSlot:
    """Where original result ``k`` of a bufferized function is delivered: in out-parameter
    ``index`` (``"out"``), in donated argument ``index`` (``"tied"``), or as function result
    ``index`` (``"scalar"``)."""

    kind: str
    index: int


def result_slots(fn: func.FuncOp) -> list[ResultSlot]:
    """The slots of a bufferized function's original results, in original result order (how
    a runtime maps its buffers back to results)."""
    found: dict[int, ResultSlot] = {}
    for i, d in enumerate(fn.arg_attr_dicts()):
        k = d.get(RESULT_ATTR)
        if isinstance(k, IntegerAttr):
            kind = "out" if isinstance(d.get(OUT_ATTR), UnitAttr) else "tied"
            found[k.value] = ResultSlot(kind, i)
    for j, d in enumerate(fn.res_attr_dicts()):
        k = d.get(RESULT_ATTR)
        if isinstance(k, IntegerAttr):
            found[k.value] = ResultSlot("scalar", j)
    return [found[k] for k in sorted(found)]


__all__ = ["BUFFERIZED_ATTR", "DONATE_ATTR", "OUT_ATTR", "RESULT_ATTR", "Bufferize",
           "ResultSlot", "buffer_type", "bufferized_signature", "donated_arguments",
           "insert_deallocs", "result_slots"]
