"""IR verification: per-op invariants plus the structural rules every program obeys.

``verify(op)`` raises a located :class:`DiagnosticError` for the first problem found, with
MLIR's wording. It runs in two phases, as MLIR does: first every op's own invariants (declared
fields, traits, ``verify_``), terminators, successors and symbol tables; then SSA dominance,
isolation from above and use-list consistency. Both phases are linear in the size of the IR:
same-block order uses the blocks' cached op numbering, and multi-block regions get one
dominator tree each.
"""

from __future__ import annotations

from avalon.ir.core import Block, BlockArgument, Operation, OpResult, Region, UnregisteredOp, Value
from avalon.ir.diagnostics import Diagnostic, DiagnosticError, Severity
from avalon.ir.symbols import symbol_name, symbol_table_cache
from avalon.ir.traits import (
    GraphRegion,
    IsolatedFromAbove,
    NoTerminator,
    SameOperandsAndResultShape,
    SameOperandsAndResultType,
    SameTypeOperands,
    SymbolTable,
    Terminator,
    Trait,
)


def _error(op: Operation | None, message: str, location=None) -> DiagnosticError:
    """An error without the ``'name' op`` prefix (MLIR's ``emitError``)."""
    loc = location if location is not None else op.location
    return DiagnosticError(Diagnostic(Severity.ERROR, message, loc))


# ---------------------------------------------------------------------------------- dominance


class RegionDominance:
    """Dominator tree of one region's CFG (successor edges of block terminators).

    Blocks unreachable from the entry block are dominated by every block, as in LLVM/MLIR, so
    code in them is never reported.
    """

    def __init__(self, region: Region) -> None:
        blocks = region.blocks
        self.region = region
        self._pre: dict[Block, int] = {}
        self._post: dict[Block, int] = {}
        self.idom: dict[Block, Block] = {}
        self.children: dict[Block, list[Block]] = {}
        if not blocks:
            return
        entry = blocks[0]
        # Iterative DFS for a postorder of the reachable blocks.
        order: list[Block] = []
        seen = {entry}
        stack = [(entry, iter(entry.successors))]
        while stack:
            block, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                order.append(block)
            elif nxt not in seen and nxt.parent is region:
                seen.add(nxt)
                stack.append((nxt, iter(nxt.successors)))
        rpo = order[::-1]
        number = {b: i for i, b in enumerate(rpo)}
        preds: dict[Block, list[Block]] = {b: [] for b in rpo}
        for b in rpo:
            for s in b.successors:
                if s in preds:
                    preds[s].append(b)
        # Cooper, Harvey & Kennedy: iterate idoms to a fixed point in reverse postorder.
        idom: dict[Block, Block] = {entry: entry}
        changed = True
        while changed:
            changed = False
            for b in rpo[1:]:
                new = None
                for p in preds[b]:
                    if p not in idom:
                        continue
                    if new is None:
                        new = p
                        continue
                    x, y = p, new
                    while x is not y:
                        while number[x] > number[y]:
                            x = idom[x]
                        while number[y] > number[x]:
                            y = idom[y]
                    new = x
                if new is not None and idom.get(b) is not new:
                    idom[b] = new
                    changed = True
        children: dict[Block, list[Block]] = {b: [] for b in rpo}
        for b, d in idom.items():
            if b is not entry:
                children[d].append(b)
        # Pre/post numbering of the tree makes each dominance query O(1).
        counter = 0
        walk = [(entry, False)]
        while walk:
            block, done = walk.pop()
            if done:
                self._post[block] = counter
                counter += 1
                continue
            self._pre[block] = counter
            counter += 1
            walk.append((block, True))
            walk.extend((c, False) for c in children[block])
        self.idom = idom
        #: Dominator-tree children of each reachable block, entry first (CSE walks this).
        self.children = children

    def is_reachable(self, block: Block) -> bool:
        return block in self._pre

    def dominates(self, a: Block, b: Block) -> bool:
        """Whether block ``a`` dominates block ``b`` (reflexive)."""
        if a is b or b not in self._pre:
            return True
        if a not in self._pre:
            return False
        return self._pre[a] <= self._pre[b] and self._post[b] <= self._post[a]


class DominanceInfo:
    """Dominance queries over nested regions; per-region trees are computed on demand."""

    def __init__(self) -> None:
        self._regions: dict[Region, RegionDominance] = {}

    def region(self, region: Region) -> RegionDominance:
        dom = self._regions.get(region)
        if dom is None:
            dom = self._regions[region] = RegionDominance(region)
        return dom

    def block_dominates(self, a: Block, b: Block) -> bool:
        if a is b:
            return True
        if a.parent is not b.parent or a.parent is None or len(a.parent.blocks) == 1:
            return False
        return self.region(a.parent).dominates(a, b)

    def is_reachable(self, block: Block) -> bool:
        region = block.parent
        if region is None or len(region.blocks) == 1:
            return True
        return self.region(region).is_reachable(block)

    def properly_dominates(self, value_or_op: Value | Operation, user: Operation) -> bool:
        """Whether a value (or all results of an op) is visible at ``user`` by SSA dominance:
        defined earlier in the same block, in a dominating block, or in an enclosing region.
        Graph regions impose no order."""
        if isinstance(value_or_op, Operation):
            def_op: Operation | None = value_or_op
            def_block = value_or_op.parent
        elif isinstance(value_or_op, OpResult):
            def_op = value_or_op.op
            def_block = def_op.parent
        else:
            def_op = None
            def_block = value_or_op.block
        if def_block is None or def_block.parent is None:
            return False
        def_region = def_block.parent
        a: Operation | None = user
        while a is not None and (a.parent is None or a.parent.parent is not def_region):
            a = a.parent_op
        if a is None:
            return False
        if def_op is a:
            return False
        owner = def_region.parent
        if owner is not None and owner.has_trait(GraphRegion):
            return True
        if a.parent is def_block:
            return def_op is None or def_op.is_before_in_block(a)
        return self.block_dominates(def_block, a.parent)


# ---------------------------------------------------------------------------------- verifier


#: Traits whose checks depend only on an op's operand/result types and attributes.
_TYPE_ONLY_TRAITS = (SameOperandsAndResultType, SameOperandsAndResultShape, SameTypeOperands)
_context_free: dict[type, bool] = {}


def _is_context_free(cls: type[Operation]) -> bool:
    """Whether ``cls.verify_structure`` depends only on types and attributes (so its outcome
    can be shared by all ops of the same signature)."""
    known = _context_free.get(cls)
    if known is None:
        known = all(type(t).verify is Trait.verify or isinstance(t, _TYPE_ONLY_TRAITS)
                    for t in cls.traits)
        _context_free[cls] = known
    return known


class _Verifier:
    def __init__(self) -> None:
        self.dom = DominanceInfo()
        # Signatures (class, operand types, result types, attributes) already checked by
        # verify_structure: large programs repeat a few signatures many times.
        self._checked: set[tuple] = set()

    def _structure(self, op: Operation) -> None:
        cls = type(op)
        free = _context_free.get(cls)
        if free is None:
            free = _is_context_free(cls)
        if not free or op.regions or op.successors:
            op.verify_structure()
            return
        # Identity-based key: every type/attribute object is kept alive by the IR being
        # verified, so ids cannot be reused during this run (equal values with different
        # identities merely miss the cache).
        key = (cls, *[id(v.type) for v in op._operands], None,
               *[id(r.type) for r in op.results], None,
               *[(k, id(a)) for k, a in op.attributes.items()])
        if key not in self._checked:
            op.verify_structure()
            self._checked.add(key)

    # -- phase 1: op invariants and region structure
    def invariants(self, op: Operation) -> None:
        if not isinstance(op, UnregisteredOp):
            try:
                self._structure(op)
                op.verify_()
            except DiagnosticError:
                raise
            except Exception as exc:  # a verifier tripping over malformed IR: still located
                raise op.emit_error(
                    f"could not be verified ({type(exc).__name__}: {exc})") from exc
        if op.successors:
            region = op.parent_region
            for block in op.successors:
                if block.parent is not region or region is None:
                    raise _error(op, "reference to block defined in another region")
        if op.has_trait(SymbolTable):
            self._symbol_table(op)
        if not op.regions:
            return
        needs_terminator = not isinstance(op, UnregisteredOp) and not op.has_trait(NoTerminator)
        for region in op.regions:
            if region.parent is not op:
                raise _error(op, "region's parent pointer does not point to its op")
            for block in region.blocks:
                if block.parent is not region:
                    raise _error(op, "block's parent pointer does not point to its region")
                for i, arg in enumerate(block.args):
                    if arg.block is not block or arg.index != i:
                        raise _error(op, f"block argument #{i} does not belong to its block")
                last = block.last_op
                if needs_terminator:
                    if last is None:
                        raise _error(op, "empty block: expect at least a terminator")
                    if not isinstance(last, UnregisteredOp) and not last.has_trait(Terminator):
                        raise _error(last, f"block with no terminator, has '{last.name}'")
                child = block.first_op
                while child is not None:
                    if child.parent is not block:
                        raise _error(child, "op's parent pointer does not point to its block")
                    self.invariants(child)
                    child = child.next_op

    def _symbol_table(self, op: Operation) -> None:
        if len(op.regions) != 1:
            raise op.emit_error("Operations with a 'SymbolTable' must have exactly one region")
        seen: dict[str, Operation] = {}
        for block in op.regions[0].blocks:
            for child in block.ops:
                name = symbol_name(child)
                if name is None:
                    continue
                first = seen.setdefault(name, child)
                if first is not child:
                    err = _error(child, f"redefinition of symbol named '{name}'")
                    err.diagnostic.attach_note("see existing symbol definition here",
                                               first.location)
                    raise err

    # -- phase 2: SSA dominance, isolation, use-lists
    def values(self, root: Operation) -> None:
        self._results_uses(root)
        stack = [root]
        while stack:
            op = stack.pop()
            graph = op.has_trait(GraphRegion)
            for region in op.regions:
                multi = len(region.blocks) > 1
                dom = self.dom.region(region) if multi and not graph else None
                for block in region.blocks:
                    unreachable = dom is not None and not dom.is_reachable(block)
                    child = block.first_op
                    while child is not None:
                        if child._operands:
                            self._operands(child, graph, unreachable)
                        if child.results:
                            self._results_uses(child)
                        if child.regions:
                            stack.append(child)
                        child = child.next_op

    def _results_uses(self, op: Operation) -> None:
        for r in op.results:
            for user, idx in r._uses:
                ops = user._operands
                if idx >= len(ops) or ops[idx] is not r:
                    raise _error(op, f"result #{r.index} has a stale use by '{user.name}' "
                                     f"(operand #{idx}) in its use-list")

    def _operands(self, user: Operation, graph: bool, unreachable: bool) -> None:
        """``graph``: the user sits in a graph region (no order among its siblings);
        ``unreachable``: its block is unreachable (dominance is not checked, as in MLIR)."""
        block = user.parent
        for i, v in enumerate(user._operands):
            if (user, i) not in v._uses:
                raise _error(user, f"operand #{i} is missing from its value's use-list")
            # Fast path: a value defined in the same block.
            if isinstance(v, OpResult):
                def_block = v.op.parent
                if def_block is block and def_block is not None:
                    if graph or unreachable or v.op.is_before_in_block(user):
                        continue
                    raise self._not_dominating(user, i, v)
            else:
                def_block = v.block
                if def_block is block:
                    continue
            self._check_visible(user, i, v, def_block, graph, unreachable)

    def _check_visible(self, user: Operation, i: int, v: Value, def_block: Block | None,
                       graph: bool, unreachable: bool) -> None:
        if def_block is None or def_block.parent is None:
            raise self._not_dominating(user, i, v)
        def_region = def_block.parent
        # Climb from the user to its ancestor in the defining region, never leaving an
        # isolated-from-above op on the way.
        a = user
        while a.parent is None or a.parent.parent is not def_region:
            region = a.parent.parent if a.parent is not None else None
            owner = region.parent if region is not None else None
            if owner is None:
                raise self._not_dominating(user, i, v)
            if owner.has_trait(IsolatedFromAbove):
                inner = def_region.parent
                if inner is not None and owner.is_ancestor(inner):
                    raise self._not_dominating(user, i, v)  # defined inside, out of scope
                err = user.emit_error("using value defined outside the region")
                err.diagnostic.attach_note("required by region isolation constraints",
                                           owner.location)
                raise err
            a = owner
        if unreachable or (graph and a is user):
            return
        owner = def_region.parent
        if owner is not None and owner.has_trait(GraphRegion):
            return
        def_op = v.op if isinstance(v, OpResult) else None
        if a is def_op:
            raise self._not_dominating(user, i, v)
        if a.parent is def_block:
            if def_op is None or def_op.is_before_in_block(a):
                return
            raise self._not_dominating(user, i, v)
        if len(def_region.blocks) > 1 and self.dom.region(def_region).dominates(def_block,
                                                                               a.parent):
            return
        raise self._not_dominating(user, i, v)

    def _not_dominating(self, user: Operation, i: int, v: Value) -> DiagnosticError:
        err = _error(user, f"operand #{i} does not dominate this use")
        if isinstance(v, BlockArgument):
            block = v.block
            where = _relation(block.parent, user)
            index = block.parent.blocks.index(block) if block.parent is not None else 0
            err.diagnostic.attach_note(
                f"operand defined as a block argument (block #{index} in {where})", v.location)
        else:
            def_block = v.op.parent
            if def_block is None:
                err.diagnostic.attach_note("operand defined by an op that is not in any block",
                                           v.op.location)
            elif def_block is user.parent:
                err.diagnostic.attach_note("operand defined here (op in the same block)",
                                           v.op.location)
            else:
                where = _relation(def_block.parent, user)
                err.diagnostic.attach_note(f"operand defined here (op in {where})",
                                           v.op.location)
        return err


def _relation(def_region: Region | None, user: Operation) -> str:
    """How the defining region relates to the user: same, parent or child region."""
    if def_region is None:
        return "a detached block"
    if user.parent is not None and user.parent.parent is def_region:
        return "the same region"
    a = user.parent_op
    while a is not None:
        if a.parent is not None and a.parent.parent is def_region:
            return "a parent region"
        a = a.parent_op
    owner = def_region.parent
    if owner is not None and user.is_proper_ancestor(owner):
        return "a child region"
    return "a non-enclosing region"


def verify(op: Operation) -> None:
    """Check ``op`` and everything nested in it; raise a located error for the first problem.

    Unregistered ops are accepted as they are (their regions need no terminator and an
    unregistered last op counts as one), as in MLIR.
    """
    v = _Verifier()
    with symbol_table_cache():
        v.invariants(op)
        v.values(op)


def is_valid(op: Operation) -> bool:
    """``verify`` as a predicate (for assertions in passes and tests)."""
    try:
        verify(op)
    except DiagnosticError:
        return False
    return True


__all__ = ["DominanceInfo", "RegionDominance", "is_valid", "verify"]
