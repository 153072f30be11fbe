"""The ``plan-memory`` pass: allocation placement, buffer reuse and deallocation.

After bufferization every intermediate tensor is its own ``memory.alloc``; many live only
for a moment, and allocations inside loops run once per iteration. The pass works on the
buffers it can see completely: those a ``memory.alloc`` creates and that never *escape*.
A buffer escapes when it (or a view of it) is returned, yielded, passed to a call or used by
an op whose effects are unknown; escaping buffers are left exactly as they are.

For the other buffers, in this order:

1. **Dead buffers** (nothing but deallocations uses them) are erased.
2. **Hoisting**: an allocation nested in ``loop.for``/``loop.if`` moves to the start of the
   function body (or of the ``loop.parallel`` body that holds it: iterations of a parallel
   loop may run at once, so each keeps its own buffer). The buffer cannot outlive an
   iteration, so one buffer serves them all.
3. **Reuse**: in each block, a buffer is live from the first op that reads or writes it (or a
   view of it) to the last op that uses it at all (an op holding a use in a nested region
   counts as a whole). Buffers with
   the same element type and memory space whose live ranges do not overlap share one
   allocation: with equal element counts the later ones become ``memory.reshape`` views of
   the first; otherwise one flat buffer of the largest size is allocated and each is a
   ``memory.subview`` of its front, reshaped to the buffer's shape.
4. **Deallocation**: existing ``memory.dealloc`` ops of these buffers are dropped and one is
   inserted right after the last op that uses each (shared) buffer.

GPU shared-memory allocations (memory space 3) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avalon.ir.attributes import Attribute, IntegerAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation, Value
from avalon.ir.dialects import memory as M
from avalon.ir.traits import Terminator, memory_effects
from avalon.ir.types import MemRefType, Type, i64
from avalon.passes.hoist import VIEW_OPS
from avalon.passes.pass_base import Pass
from avalon.passes.registry import register_pass

#: Ops an allocation may be hoisted out of: their regions run at most once per execution of
#: the op (if) or one after another (for), never concurrently.
_HOIST_THROUGH = frozenset({"loop.for", "loop.if"})

# --------------------------------------------------------------------------------- analysis


@dataclass(eq=False)
class BufferInfo:
    """One ``memory.alloc`` and everything that touches its memory."""

    alloc: M.AllocOp
    views: list[Operation] = field(default_factory=list)
    users: list[Operation] = field(default_factory=list)
    deallocs: list[Operation] = field(default_factory=list)
    escapes: bool = False

    @property
    def type(self) -> MemRefType:
        return self.alloc.result.type  # type: ignore[return-value]

    @property
    def num_elements(self) -> int:
        return self.type.num_elements

    def touching_ops(self) -> list[Operation]:
        """Ops that read, write or view the buffer (deallocations excluded)."""
        return self.views + self.users


def _is_plain_access(op: Operation) -> bool:
    """An op that only reads or writes through its memref operands and keeps no reference:
    known effects, no regions, not a terminator, no memref results."""
    if op.regions or op.has_trait(Terminator) or memory_effects(op) is None:
        return False
    return not any(isinstance(r.type, MemRefType) for r in op.results)


def analyze_buffer(alloc: M.AllocOp) -> BufferInfo:
    """Follow the buffer through its views and classify every use."""
    info = BufferInfo(alloc)
    pending: list[Value] = [alloc.result]
    while pending:
        value = pending.pop()
        for use in value.uses:
            user = use.owner
            if user.name in VIEW_OPS and use.index == 0:
                info.views.append(user)
                pending.append(user.results[0])
            elif user.name == "memory.dealloc":
                info.deallocs.append(user)
            elif _is_plain_access(user):
                info.users.append(user)
            else:
                info.escapes = True
    if info.type.layout is not None or M.memory_space_of(info.type) == M.GPU_SHARED:
        info.escapes = True
    return info


def ancestor_in(op: Operation, block: Block) -> Operation | None:
    """The op of ``block`` that is ``op`` or contains it, or None."""
    current: Operation | None = op
    while current is not None and current.parent is not block:
        current = current.parent_op
    return current


@dataclass(eq=False)
class LiveRange:
    """A buffer's live range in its block: the first and last op touching it."""

    info: BufferInfo
    first: Operation
    last: Operation
    start: int
    end: int


def live_range(info: BufferInfo, block: Block, position: dict[Operation, int]) -> LiveRange:
    """The live range in ``block`` of a buffer all of whose uses lie in it. It starts at the
    first op that reads or writes the buffer (making a view touches no memory, so views made
    early do not extend it) and ends at the last op that uses it in any way (a view made
    after the buffer is freed would be a use after free)."""
    def anchors(ops: list[Operation]) -> list[Operation]:
        return [ancestor_in(op, block) for op in ops]  # type: ignore[misc]

    first = min(anchors(info.users or info.views), key=position.__getitem__)
    last = max(anchors(info.touching_ops()), key=position.__getitem__)
    return LiveRange(info, first, last, position[first], position[last])


# ------------------------------------------------------------------------------- rewriting


def _erase_buffer(info: BufferInfo) -> None:
    for op in info.deallocs:
        op.erase()
    for op in reversed(info.views):
        op.erase()
    info.alloc.erase()


def hoist_target(alloc: Operation) -> Block:
    """The outermost block the allocation may move to (through ``loop.for``/``loop.if``)."""
    block = alloc.parent
    while True:
        owner = block.parent_op  # type: ignore[union-attr]
        if owner is None or owner.name not in _HOIST_THROUGH or owner.parent is None:
            return block  # type: ignore[return-value]
        block = owner.parent


@dataclass(eq=False)
class _Slot:
    """Buffers sharing one allocation, in order of their live ranges."""

    members: list[LiveRange]

    @property
    def end(self) -> int:
        return self.members[-1].end

    @property
    def element_type(self) -> Type:
        return self.members[0].info.type.element_type

    @property
    def memory_space(self) -> Attribute | None:
        return self.members[0].info.type.memory_space

    @property
    def max_elements(self) -> int:
        return max(m.info.num_elements for m in self.members)


def assign_slots(ranges: list[LiveRange]) -> list[_Slot]:
    """Greedy interval packing. Buffers are taken by start (larger first on ties); each joins
    a compatible slot whose last member died before it starts, preferring one of exactly its
    size, then the smallest one that is large enough, then the largest; else it opens a slot."""
    slots: list[_Slot] = []
    for r in sorted(ranges, key=lambda r: (r.start, -r.info.num_elements, r.end)):
        t, n = r.info.type, r.info.num_elements
        free = [s for s in slots if s.end < r.start and s.element_type == t.element_type
                and s.memory_space == t.memory_space and n > 0
                and s.members[0].info.num_elements > 0]
        if not free:
            slots.append(_Slot([r]))
            continue
        large = [s for s in free if s.max_elements >= n]
        best = (min(large, key=lambda s: s.max_elements) if large
                else max(free, key=lambda s: s.max_elements))
        best.members.append(r)
    return slots


def _alignment(slot: _Slot) -> IntegerAttr | None:
    values = [m.info.alloc.alignment.value for m in slot.members
              if m.info.alloc.alignment is not None]
    return IntegerAttr(max(values), i64) if values else None


def materialize_slot(slot: _Slot, position: dict[Operation, int]) -> Value:
    """Rewrite the slot's allocations into one buffer and views of it; returns the buffer."""
    allocs = [m.info.alloc for m in slot.members]
    earliest = min(allocs, key=position.__getitem__)
    counts = {m.info.num_elements for m in slot.members}
    if len(counts) == 1:
        keep = allocs[0]
        if keep is not earliest:
            keep.move_before(earliest)
        base: Value = keep.result
        flat = None
    else:
        n = slot.max_elements
        t = allocs[0].result.type
        flat_type = MemRefType((n,), t.element_type, None, t.memory_space)
        flat = Builder.before(earliest).create(M.AllocOp, result_types=[flat_type],
                                               alignment=_alignment(slot))
        base = flat.result
        keep = None
    for alloc in allocs:
        if alloc is keep:
            continue
        b = Builder.before(alloc)
        t = alloc.result.type
        view = base
        if flat is not None and t.num_elements != slot.max_elements:
            view = b.create(M.SubViewOp, view, static_offsets=[0],
                            static_sizes=[t.num_elements], static_strides=[1]).result
        if view.type != t:
            view = b.create(M.ReshapeOp, view, result_types=[t]).result
        alloc.result.replace_all_uses_with(view)
        alloc.erase()
    if keep is not None and (alignment := _alignment(slot)) is not None:
        keep.attributes["alignment"] = alignment
    return base


# ----------------------------------------------------------------------------------- driver


@dataclass
class PlanStats:
    reused: int = 0
    hoisted: int = 0
    removed: int = 0
    deallocs: int = 0


def _stays_in(info: BufferInfo, block: Block) -> bool:
    """Whether every op touching the buffer is (inside) an op of ``block`` other than its
    terminator, so a live range in ``block`` covers all of them."""
    for op in info.touching_ops():
        anchor = ancestor_in(op, block)
        if anchor is None or anchor.has_trait(Terminator):
            return False
    return True


def plan_memory(func: Operation) -> PlanStats:
    """Run the whole plan on the buffers allocated in ``func``."""
    stats = PlanStats()
    infos = []
    for op in list(func.walk_ops()):
        if not isinstance(op, M.AllocOp) or op is func:
            continue
        info = analyze_buffer(op)
        if info.escapes:
            continue
        if not info.touching_ops():
            _erase_buffer(info)
            stats.removed += 1
            continue
        target = hoist_target(op)
        if not _stays_in(info, target):
            continue
        for d in info.deallocs:
            d.erase()
        if target is not op.parent:
            first = target.first_op
            if first is None:
                target.append(op.detach())
            else:
                op.move_before(first)
            stats.hoisted += 1
        infos.append(info)
    by_block: dict[Block, list[BufferInfo]] = {}
    for info in infos:
        by_block.setdefault(info.alloc.parent, []).append(info)  # type: ignore[arg-type]
    for block, members in by_block.items():
        position = {op: i for i, op in enumerate(block.ops)}
        ranges = [live_range(info, block, position) for info in members]
        shareable = len(block.parent.blocks) == 1  # type: ignore[union-attr]
        slots = assign_slots(ranges) if shareable else [_Slot([r]) for r in ranges]
        for slot in slots:
            if len(slot.members) > 1:
                buffer = materialize_slot(slot, position)
                stats.reused += len(slot.members) - 1
            else:
                buffer = slot.members[0].info.alloc.result
            last = max((m.last for m in slot.members), key=position.__getitem__)
            Builder.after(last).create(M.DeallocOp, buffer)
            stats.deallocs += 1
    return stats


@register_pass
class PlanMemory(Pass):
    """Plan buffers: hoist allocations out of loops, share memory between buffers whose
    lifetimes do not overlap, and free each buffer right after its last use."""

    name = "plan-memory"
    op_name = "func.func"

    def run(self, op: Operation) -> None:
        stats = plan_memory(op)
        self.count("num-reused", "allocations replaced by a view of another buffer").add(
            stats.reused)
        self.count("num-hoisted-allocs", "allocations moved out of loops and conditionals").add(
            stats.hoisted)
        self.count("num-removed-allocs", "unused allocations erased").add(stats.removed)
        self.count("num-deallocs", "deallocations placed").add(stats.deallocs)
