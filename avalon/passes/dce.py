"""The ``dce`` pass: erase unreachable blocks and ops whose results nobody needs.

An op is dead when its results are unused and erasing it is unobservable (see
:func:`avalon.passes.rewrite.is_trivially_dead`). Erasing one dead op can make its operands'
producers dead, so the pass runs a worklist to a fixed point in one go.
"""

from __future__ import annotations

from dataclasses import dataclass

from avalon.ir.core import Block, Operation, Region, WalkOrder
from avalon.ir.traits import GraphRegion
from avalon.passes.pass_base import Pass
from avalon.passes.registry import register_pass
from avalon.passes.rewrite import is_trivially_dead


@dataclass
class DCEResult:
    ops: int = 0
    blocks: int = 0


def reachable_blocks(region: Region) -> set[Block]:
    """Blocks reachable from the region's entry block through successor edges."""
    if not region.blocks:
        return set()
    seen = {region.blocks[0]}
    stack = [region.blocks[0]]
    while stack:
        for s in stack.pop().successors:
            if s not in seen and s.parent is region:
                seen.add(s)
                stack.append(s)
    return seen


def erase_unreachable_blocks(root: Operation) -> int:
    """Erase blocks no control flow reaches, in every CFG region under ``root``."""
    erased = 0
    for op in root.walk_ops(WalkOrder.PRE):
        if op.has_trait(GraphRegion):
            continue
        for region in op.regions:
            if len(region.blocks) < 2:
                continue
            live = reachable_blocks(region)
            dead = [b for b in region.blocks if b not in live]
            for b in dead:
                for inner in b.ops:
                    inner.drop_all_references()
            for b in dead:
                b.erase()
            erased += len(dead)
    return erased


def erase_dead_ops(root: Operation) -> int:
    """Erase trivially dead ops under ``root`` until none is left; returns how many."""
    worklist = [op for op in root.walk_ops(WalkOrder.POST) if op is not root]
    queued = set(worklist)
    erased: set[Operation] = set()
    count = 0
    while worklist:
        op = worklist.pop()
        queued.discard(op)
        if op in erased or op.parent is None or not is_trivially_dead(op):
            continue
        nested = list(op.walk_ops())
        producers = []
        for inner in nested:
            for v in inner.operands:
                owner = v.owner
                if isinstance(owner, Operation):
                    producers.append(owner)
        erased.update(nested)
        op.erase()
        count += 1
        for p in producers:
            if p not in erased and p not in queued:
                queued.add(p)
                worklist.append(p)
    return count


def eliminate_dead_code(root: Operation) -> DCEResult:
    """Unreachable blocks first (they may hold the last uses of values), then dead ops."""
    blocks = erase_unreachable_blocks(root)
    return DCEResult(ops=erase_dead_ops(root), blocks=blocks)


@register_pass
class DCE(Pass):
    """Erase unreachable blocks and side-effect-free ops with unused results."""

    name = "dce"

    def run(self, op: Operation) -> None:
        result = eliminate_dead_code(op)
        self.count("num-erased-ops", "dead ops erased").add(result.ops)
        self.count("num-erased-blocks", "unreachable blocks erased").add(result.blocks)
