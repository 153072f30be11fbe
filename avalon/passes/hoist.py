"""The ``hoist`` pass: loop-invariant code motion out of ``loop.for`` and ``loop.parallel``.

Lowering puts index arithmetic, constants, views and loads of invariant elements inside the
innermost loop; each of them runs once per iteration although its value never changes. An op
moves in front of its loop when every operand is defined outside the loop and moving it cannot
change what the program does:

* ops without memory effects move if they are speculatable (the ``Speculatable`` trait, minus
  integer divisions whose divisor is not a known safe constant: they trap on zero);
* ops that only read memory (``memory.load``, ``vector.load``) move if the loop surely runs at
  least once (constant bounds), no op in the loop has unknown effects, and no op in the loop
  writes or frees a buffer that may alias what they read;
* pure ops on buffers (views) move under the same trip-count rule, and only when no op in the
  loop frees an aliasing buffer, since building a view checks that its buffer is alive.

Loops are visited innermost first, so an op climbs as far out as its operands allow.
"""

from __future__ import annotations

from avalon.ir.core import BlockArgument, Operation, OpResult, Value, WalkOrder
from avalon.ir.dialects.loop import ForOp, ParallelOp, constant_int, trip_count
from avalon.ir.traits import (
    MemoryEffect,
    RecursiveMemoryEffects,
    Speculatable,
    Terminator,
    memory_effects,
)
from avalon.ir.types import IntegerType, MemRefType, ShapedType
from avalon.passes.pass_base import Option, Pass
from avalon.passes.registry import register_pass

#: Views: their result is the operand buffer seen through another layout.
VIEW_OPS = frozenset({"memory.subview", "memory.reshape", "memory.transpose"})
#: Integer divisions trap (or are undefined) for some divisors, so they are only
#: speculatable when the divisor is a constant other than 0 and -1.
_DIVISIONS = frozenset({"arith.divsi", "arith.divui", "arith.floordivsi", "arith.ceildivsi",
                        "arith.remsi", "arith.remui"})
_TENSOR_DIVISIONS = frozenset({"tensor.div", "tensor.rem"})
#: Ops that read some memref operands and write others: the operands they write. Any other
#: writing op is taken to write all its memref operands.
_WRITTEN_OPERANDS = {"memory.copy": (1,)}

# --------------------------------------------------------------------------------- aliasing


def buffer_root(v: Value) -> Value:
    """The buffer a memref value views: follow view ops back to their source."""
    while isinstance(v, OpResult) and v.op.name in VIEW_OPS:
        v = v.op.operands[0]
    return v


def _root_kind(root: Value) -> str:
    """``alloc`` (a fresh buffer), ``arg`` (a function argument) or ``unknown``."""
    if isinstance(root, OpResult) and root.op.name == "memory.alloc":
        return "alloc"
    if isinstance(root, BlockArgument):
        owner = root.block.parent_op
        if owner is not None and owner.name == "func.func":
            return "arg"
    return "unknown"


def may_alias(a: Value, b: Value, args_may_alias: bool = True) -> bool:
    """Whether memrefs ``a`` and ``b`` may share memory. Distinct allocations never do, and
    an allocation never shares memory with an argument of its function; two arguments may
    (a caller can pass one array twice) unless ``args_may_alias`` is False; anything reached
    through loop-carried values, calls or unknown ops may alias everything."""
    ra, rb = buffer_root(a), buffer_root(b)
    if ra is rb:
        return True
    ka, kb = _root_kind(ra), _root_kind(rb)
    if "unknown" in (ka, kb):
        return True
    return ka == kb == "arg" and args_may_alias


def _memrefs(op: Operation) -> list[Value]:
    return [v for v in op.operands if isinstance(v.type, MemRefType)]


class LoopEffects:
    """What the ops nested in a loop do to memory: the buffers they write and free, and
    whether any of them has effects we cannot see."""

    def __init__(self, loop: Operation, args_may_alias: bool = True) -> None:
        self.args_may_alias = args_may_alias
        self.unknown = False
        self.written: list[Value] = []
        self.freed: list[Value] = []
        for op in loop.walk_ops():
            if op is loop or op.has_trait(RecursiveMemoryEffects):
                continue
            effects = memory_effects(op)
            if effects is None:
                self.unknown = True
                continue
            touched = _memrefs(op)
            if not touched and effects & {MemoryEffect.WRITE, MemoryEffect.FREE}:
                self.unknown = True
            if MemoryEffect.WRITE in effects:
                only = _WRITTEN_OPERANDS.get(op.name)
                self.written.extend(touched if only is None else
                                    [op.operands[i] for i in only])
            if MemoryEffect.FREE in effects:
                self.freed.extend(touched)

    def may_write(self, buffer: Value) -> bool:
        return self.unknown or any(may_alias(buffer, w, self.args_may_alias)
                                   for w in self.written + self.freed)

    def may_free(self, buffer: Value) -> bool:
        return self.unknown or any(may_alias(buffer, f, self.args_may_alias)
                                   for f in self.freed)


# ------------------------------------------------------------------------------ the motion


def runs_at_least_once(loop: Operation) -> bool:
    """Whether the loop's constant bounds give it at least one iteration."""
    if isinstance(loop, ForOp):
        n = loop.constant_trip_count()
        return n is not None and n > 0
    if isinstance(loop, ParallelOp):
        for lb, ub, st in zip(loop.lower_bounds, loop.upper_bounds, loop.steps):
            c = [constant_int(v) for v in (lb, ub, st)]
            if None in c or c[2] <= 0 or trip_count(*c) == 0:  # type: ignore[operator]
                return False
        return True
    return False


def is_speculatable(op: Operation) -> bool:
    """Executing ``op`` where it did not run before cannot fail or have effects."""
    if not op.has_trait(Speculatable):
        return False
    if op.name in _DIVISIONS:
        divisor = constant_int(op.operands[1])
        return divisor is not None and divisor not in (0, -1)
    if op.name in _TENSOR_DIVISIONS:
        t = op.operands[1].type
        return not (isinstance(t, ShapedType) and isinstance(t.element_type, IntegerType))
    return True


def _defined_outside(v: Value, loop: Operation) -> bool:
    if isinstance(v, OpResult):
        return not loop.is_ancestor(v.op)
    owner = v.block.parent_op  # type: ignore[attr-defined]
    return owner is None or not loop.is_ancestor(owner)


class _LoopHoister:
    """Decides, for the ops directly in one loop's body, which may move before the loop."""

    def __init__(self, loop: Operation, args_may_alias: bool) -> None:
        self.loop = loop
        self.args_may_alias = args_may_alias
        self._effects: LoopEffects | None = None
        self._runs: bool | None = None

    @property
    def effects(self) -> LoopEffects:
        if self._effects is None:
            self._effects = LoopEffects(self.loop, self.args_may_alias)
        return self._effects

    @property
    def runs(self) -> bool:
        if self._runs is None:
            self._runs = runs_at_least_once(self.loop)
        return self._runs

    def can_hoist(self, op: Operation) -> bool:
        if op.regions or op.has_trait(Terminator):
            return False
        if not all(_defined_outside(v, self.loop) for v in op.operands):
            return False
        effects = memory_effects(op)
        buffers = _memrefs(op)
        if effects == frozenset():
            if not is_speculatable(op):
                return False
            return not buffers or (self.runs and not any(
                self.effects.may_free(b) for b in buffers))
        if effects == frozenset({MemoryEffect.READ}) and buffers:
            return self.runs and not any(self.effects.may_write(b) for b in buffers)
        return False

    def run(self) -> int:
        moved = 0
        for op in list(self.loop.body.ops):
            if self.can_hoist(op):
                op.move_before(self.loop)
                moved += 1
        return moved


def hoist_loop_invariants(root: Operation, args_may_alias: bool = True) -> int:
    """Move loop-invariant ops out of every loop under ``root`` (innermost loops first);
    returns how many moves were made (an op leaving two loops counts twice)."""
    loops = [op for op in root.walk_ops(WalkOrder.POST)
             if isinstance(op, ForOp | ParallelOp) and op is not root]
    return sum(_LoopHoister(loop, args_may_alias).run() for loop in loops)


@register_pass
class Hoist(Pass):
    """Loop-invariant code motion: move invariant, side-effect-free ops and loads of
    buffers the loop never writes out of loop.for and loop.parallel."""

    name = "hoist"
    noalias_args = Option(bool, False, "assume distinct memref arguments of a function never "
                                       "share memory (the caller guarantees it, as the CPU "
                                       "runtime does for buffers a function writes)")

    def run(self, op: Operation) -> None:
        self.count("num-hoisted", "ops moved out of a loop").add(
            hoist_loop_invariants(op, args_may_alias=not self.noalias_args))
