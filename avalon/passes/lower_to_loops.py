"""The ``lower-to-loops`` pass: bulk memory operations become loop nests.

After ``bufferize`` every computation is a loop nest, but data movement is still expressed in
bulk: ``memory.fill`` (constants, padding, zero-initialised accumulators) and ``memory.copy``
(pad and concat boxes, materialised views, results copied into out-parameters). This pass
expands them into ``loop.parallel`` nests of ``memory.load``/``memory.store``, so every memory
access of the function is an explicit loop that loop-level passes (fusion, tiling, hoisting,
vectorization) can see and transform.

``memory.copy`` promises to read all of its source before writing (overlap-safe); a loop nest
does not, so a copy is only expanded when source and target provably live in different storage:
different allocations, an allocation and an argument, or an out-parameter (``avalon.out``, which
the ABI forbids to alias an input) and anything else. Other copies are left for the backend,
which handles overlap.
"""

from __future__ import annotations

from avalon.ir.attributes import UnitAttr
from avalon.ir.builder import Builder
from avalon.ir.core import BlockArgument, Operation, OpResult, Value
from avalon.ir.dialects import func, memory
from avalon.ir.types import MemRefType, TensorType
from avalon.passes import lower_common as lc
from avalon.passes.bufferize import MEMORY_VIEWS, OUT_ATTR
from avalon.passes.pass_base import Pass
from avalon.passes.registry import register_pass


def storage_root(v: Value) -> Value:
    """The allocation or argument whose storage ``v`` views."""
    while isinstance(v, OpResult) and v.op.name in MEMORY_VIEWS:
        v = v.op.operands[0]
    return v


def _kind(root: Value, fn: func.FuncOp) -> str:
    if isinstance(root, OpResult) and root.op.name == "memory.alloc":
        return "alloc"
    if isinstance(root, BlockArgument) and root.block is fn.entry_block:
        attrs = fn.arg_attr_dicts()[root.index]
        return "out" if isinstance(attrs.get(OUT_ATTR), UnitAttr) else "arg"
    return "unknown"


def disjoint(a: Value, b: Value, fn: func.FuncOp) -> bool:
    """Whether memrefs ``a`` and ``b`` provably live in different storage."""
    ra, rb = storage_root(a), storage_root(b)
    if ra is rb:
        return False
    ka, kb = _kind(ra, fn), _kind(rb, fn)
    if "unknown" in (ka, kb):
        return False
    return "alloc" in (ka, kb) or "out" in (ka, kb)


def expand_fill(op: Operation) -> None:
    b = Builder.before(op)
    value, target = op.operands
    shape = target.type.shape  # type: ignore[attr-defined]
    lc.parallel_extents(b, list(shape), lambda bb, ivs: lc.store(bb, value, target, ivs))
    op.erase()


def expand_copy(op: Operation) -> None:
    b = Builder.before(op)
    source, target = op.operands
    shape = target.type.shape  # type: ignore[attr-defined]

    def body(bb: Builder, ivs: list) -> None:
        lc.store(bb, lc.load(bb, source, ivs), target, ivs)

    lc.parallel_extents(b, list(shape), body)
    op.erase()


@register_pass
class LowerToLoops(Pass):
    """Expand ``memory.fill`` and (non-overlapping) ``memory.copy`` into loop nests.

    Runs after ``bufferize``; a function that still has tensor values is an error.
    """

    name = "lower-to-loops"
    op_name = "func.func"

    def run(self, op: Operation) -> None:
        if not isinstance(op, func.FuncOp) or op.is_declaration:
            return
        for inner in op.walk_ops():
            if any(isinstance(v.type, TensorType) for v in (*inner.operands, *inner.results)):
                raise self.fail(f"'{inner.name}' still works on tensors: run 'bufferize' "
                                "before 'lower-to-loops'", inner)
        fills = copies = 0
        for inner in list(op.walk_ops()):
            if isinstance(inner, memory.FillOp):
                expand_fill(inner)
                fills += 1
            elif isinstance(inner, memory.CopyOp) and disjoint(*inner.operands, op) and all(
                    isinstance(v.type, MemRefType) for v in inner.operands):
                expand_copy(inner)
                copies += 1
        self.count("num-fills", "memory.fill ops expanded").add(fills)
        self.count("num-copies", "memory.copy ops expanded").add(copies)
