"""The ``cse`` pass: common subexpression elimination that follows dominance.

An op is replaced by an earlier equivalent op that dominates it: same name, operands (in any
order for Commutative ops), attributes, result types and structurally equal regions. Values
known in a block stay known in the blocks it dominates and in nested regions, except inside
ops that are IsolatedFromAbove. Only ops without memory effects are merged freely; ops that only
read are merged when they sit in the same block with no possible write between them; ops with
other or unknown effects are never merged.
"""

from __future__ import annotations

from dataclasses import dataclass

from avalon.ir.core import Block, Operation, Region
from avalon.ir.traits import (
    Commutative,
    IsolatedFromAbove,
    MemoryEffect,
    Symbol,
    Terminator,
    memory_effects,
)
from avalon.ir.verifier import RegionDominance
from avalon.passes.pass_base import Pass
from avalon.passes.registry import register_pass
from avalon.passes.rewrite import is_trivially_dead

_READ_ONLY = frozenset({MemoryEffect.READ})


# --------------------------------------------------------------------------- equivalence
def _operands_match(a: Operation, b: Operation, mapping: dict) -> bool:
    xs = [mapping.get(v, v) for v in a.operands]
    ys = list(b.operands)
    if len(xs) != len(ys):
        return False
    if all(x is y for x, y in zip(xs, ys)):
        return True
    if a.has_trait(Commutative):
        return sorted(map(id, xs)) == sorted(map(id, ys))
    return False


def ops_equivalent(a: Operation, b: Operation, mapping: dict | None = None) -> bool:
    """Whether ``a`` and ``b`` compute the same thing given equal inputs. ``mapping`` maps
    values and blocks of ``a``'s surroundings to ``b``'s (for ops inside compared regions)."""
    mapping = {} if mapping is None else mapping
    if a.name != b.name or a.result_types != b.result_types or a.attributes != b.attributes:
        return False
    if len(a.regions) != len(b.regions) or len(a.successors) != len(b.successors):
        return False
    if not _operands_match(a, b, mapping):
        return False
    if any(mapping.get(x, x) is not y for x, y in zip(a.successors, b.successors)):
        return False
    return all(regions_equivalent(ra, rb, mapping) for ra, rb in zip(a.regions, b.regions))


def regions_equivalent(ra: Region, rb: Region, mapping: dict | None = None) -> bool:
    """Structural equality of two regions; values defined outside must be identical."""
    mapping = {} if mapping is None else mapping
    if len(ra.blocks) != len(rb.blocks):
        return False
    for ba, bb in zip(ra.blocks, rb.blocks):
        if len(ba) != len(bb) or ba.arg_types != bb.arg_types:
            return False
        mapping[ba] = bb
        for x, y in zip(ba.args, bb.args):
            mapping[x] = y
    for ba, bb in zip(ra.blocks, rb.blocks):
        for x, y in zip(ba.ops, bb.ops):
            if not ops_equivalent(x, y, mapping):
                return False
            for rx, ry in zip(x.results, y.results):
                mapping[rx] = ry
    return True


class _OpKey:
    """Hash-table key of an op: a cheap hash, with full equivalence on collision."""

    __slots__ = ("hash", "op")

    def __init__(self, op: Operation) -> None:
        self.op = op
        operands: tuple = tuple(id(v) for v in op.operands)
        if op.has_trait(Commutative):
            operands = tuple(sorted(operands))
        shape = tuple(tuple(len(b) for b in r.blocks) for r in op.regions)
        self.hash = hash((op.name, operands, tuple(op.result_types),
                          tuple(sorted(op.attributes)), shape))

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _OpKey) and (
            other.op is self.op or ops_equivalent(other.op, self.op))


# ------------------------------------------------------------------------------ dominance
def dominator_children(region: Region) -> dict[Block, list[Block]]:
    """The dominator tree of a region's reachable blocks, as children lists (entry first)."""
    return RegionDominance(region).children


# ----------------------------------------------------------------------------------- driver
@dataclass
class CSEResult:
    cse: int = 0
    dce: int = 0


class _CSE:
    def __init__(self) -> None:
        self.scopes: list[dict[_OpKey, Operation]] = []
        self.epoch_of: dict[Operation, int] = {}
        self.to_erase: list[Operation] = []
        self.result = CSEResult()

    def lookup(self, key: _OpKey) -> Operation | None:
        for scope in reversed(self.scopes):
            found = scope.get(key)
            if found is not None:
                return found
        return None

    def region(self, region: Region) -> None:
        if not region.blocks:
            return
        if len(region.blocks) == 1:
            self.scopes.append({})
            self.block(region.blocks[0])
            self.scopes.pop()
            return
        children = dominator_children(region)
        stack: list[tuple[Block, bool]] = [(region.blocks[0], False)]
        while stack:
            b, done = stack.pop()
            if done:
                self.scopes.pop()
                continue
            self.scopes.append({})
            self.block(b)
            stack.append((b, True))
            for c in reversed(children[b]):
                stack.append((c, False))
        for b in region.blocks:  # unreachable blocks: only what the region's parent knows
            if b not in children:
                self.scopes.append({})
                self.block(b)
                self.scopes.pop()

    def block(self, block: Block) -> None:
        epoch = 0
        for op in block.ops:
            if op.regions:
                if op.has_trait(IsolatedFromAbove):
                    saved, self.scopes = self.scopes, []
                    for r in op.regions:
                        self.region(r)
                    self.scopes = saved
                else:
                    for r in op.regions:
                        self.region(r)
            eff = memory_effects(op)
            if eff is None or eff & {MemoryEffect.WRITE, MemoryEffect.FREE}:
                epoch += 1
            self.simplify(op, eff, epoch)

    def simplify(self, op: Operation, eff: frozenset[MemoryEffect] | None, epoch: int) -> None:
        if op.has_trait(Terminator) or op.successors or op.has_trait(Symbol):
            return
        if is_trivially_dead(op):
            self.to_erase.append(op)
            self.result.dce += 1
            return
        if eff is None or (eff and eff != _READ_ONLY):
            return
        key = _OpKey(op)
        existing = self.lookup(key)
        if existing is not None and eff and (
                existing.parent is not op.parent or self.epoch_of.get(existing) != epoch):
            existing = None  # a read is reusable only in its block with no write since
        if existing is not None:
            op.replace_all_uses_with(existing.results)
            self.to_erase.append(op)
            self.result.cse += 1
            return
        self.scopes[-1][key] = op
        if eff:
            self.epoch_of[op] = epoch


def eliminate_common_subexpressions(root: Operation) -> CSEResult:
    """Run CSE on everything nested in ``root``; returns how many ops were merged and how
    many dead ops were dropped on the way."""
    cse = _CSE()
    for region in root.regions:
        cse.region(region)
    for op in reversed(cse.to_erase):
        op.erase()
    return cse.result


@register_pass
class CSE(Pass):
    """Eliminate common subexpressions: merge equivalent side-effect-free ops."""

    name = "cse"

    def run(self, op: Operation) -> None:
        result = eliminate_common_subexpressions(op)
        self.count("num-cse'd", "ops merged into an equivalent earlier op").add(result.cse)
        self.count("num-dce'd", "trivially dead ops erased").add(result.dce)
