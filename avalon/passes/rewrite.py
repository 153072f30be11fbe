"""Pattern drivers: the greedy worklist driver and the single-walk driver.

The greedy driver is what ``canonicalize`` and most passes use: it erases dead ops, folds, and
applies patterns until nothing changes. It never loops forever: each sweep has a budget of
op visits, and if the IR is still changing after ``max_iterations`` sweeps the driver raises a
located :class:`DiagnosticError` instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from avalon.ir.core import Operation, Value, WalkOrder
from avalon.ir.diagnostics import Diagnostic, DiagnosticError, Severity
from avalon.ir.location import Location
from avalon.ir.patterns import PatternRewriter, RewriteListener, RewritePattern
from avalon.ir.traits import ConstantLike, Symbol, Terminator, is_side_effect_free
from avalon.passes.folding import OperationFolder, is_constant_op

# A sweep may visit ops this many times the number of ops it started with (plus a floor)
# before it is cut short; that keeps a pair of patterns that undo each other finite.
_SWEEP_VISITS_PER_OP = 16
_SWEEP_VISITS_MIN = 256


# ------------------------------------------------------------------------------ dead ops
def would_be_trivially_dead(op: Operation) -> bool:
    """Whether ``op`` could be erased if its results were unused: it has no effects beyond
    reads and allocations, is no terminator and defines no symbol."""
    if op.has_trait(Terminator) or op.successors or op.has_trait(Symbol):
        return False
    if op.has_trait(ConstantLike) and not op.regions:
        return True
    return is_side_effect_free(op)


def is_trivially_dead(op: Operation) -> bool:
    """An op whose results are unused and whose erasure changes nothing observable."""
    return not op.has_uses and would_be_trivially_dead(op)


# ------------------------------------------------------------------------------- patterns
class FrozenPatternSet:
    """Patterns indexed by root op name, each list sorted by descending benefit.

    Patterns without a root apply to every op and are merged into every list by benefit;
    among equal benefits the order of the input wins. Classes are instantiated.
    """

    def __init__(self, patterns: Iterable[RewritePattern | type[RewritePattern]] = ()) -> None:
        self._patterns: list[RewritePattern] = [
            p() if isinstance(p, type) else p for p in patterns]
        self._specific: dict[str, list[tuple[int, int, RewritePattern]]] = {}
        self._generic: list[tuple[int, int, RewritePattern]] = []
        for i, p in enumerate(self._patterns):
            entry = (-p.benefit, i, p)
            name = p.root_name
            if name is None:
                self._generic.append(entry)
            else:
                self._specific.setdefault(name, []).append(entry)
        self._cache: dict[str, tuple[RewritePattern, ...]] = {}
        self._generic_only = tuple(p for _, _, p in sorted(self._generic,
                                                           key=lambda e: e[:2]))

    @staticmethod
    def of(patterns: Iterable[RewritePattern | type[RewritePattern]] | FrozenPatternSet
           ) -> FrozenPatternSet:
        """``patterns`` itself if already frozen, else a new set."""
        return patterns if isinstance(patterns, FrozenPatternSet) else FrozenPatternSet(patterns)

    def for_op(self, name: str) -> tuple[RewritePattern, ...]:
        """The patterns to try on an op named ``name``, best first."""
        found = self._cache.get(name)
        if found is None:
            specific = self._specific.get(name)
            if not specific:
                found = self._generic_only
            else:
                merged = sorted(specific + self._generic, key=lambda e: e[:2])
                found = tuple(p for _, _, p in merged)
            self._cache[name] = found
        return found

    def __iter__(self) -> Iterator[RewritePattern]:
        return iter(self._patterns)

    def __len__(self) -> int:
        return len(self._patterns)


def _nested_ops(root: Operation, order: WalkOrder) -> list[Operation]:
    return [op for op in root.walk_ops(order) if op is not root]


# ------------------------------------------------------------------------- greedy driver
@dataclass
class RewriteStats:
    """What a greedy run did (canonicalize reports these as pass statistics)."""

    folded: int = 0
    rewrites: int = 0
    erased: int = 0
    sweeps: int = 0


class GreedyRewriteDriver(RewriteListener):
    """The worklist driver behind :func:`apply_patterns_greedily`; keeps :attr:`stats`."""

    def __init__(
        self,
        root: Operation,
        patterns: Iterable[RewritePattern] | FrozenPatternSet,
        *,
        max_iterations: int = 10,
        max_rewrites: int | None = None,
        fold: bool = True,
        erase_dead: bool = True,
        top_down: bool = True,
        listener: RewriteListener | None = None,
    ) -> None:
        if max_iterations < 1:
            raise ValueError("max_iterations must be at least 1")
        self.root = root
        self.patterns = FrozenPatternSet.of(patterns)
        self.max_iterations = max_iterations
        self.max_rewrites = max_rewrites
        self.fold = fold
        self.erase_dead = erase_dead
        self.top_down = top_down
        self.user_listener = listener or RewriteListener()
        self.stats = RewriteStats()
        self.folder = OperationFolder(self, scope_root=root)
        self.rewriter = PatternRewriter(self)
        self._stack: list[Operation] = []
        self._pending: set[Operation] = set()
        self._erased: set[Operation] = set()
        self._last_change: tuple[str, str, Location] | None = None

    # -- worklist
    def _push(self, op: Operation) -> None:
        if op is self.root or op in self._pending or op in self._erased:
            return
        self._pending.add(op)
        self._stack.append(op)

    def _pop(self) -> Operation | None:
        while self._stack:
            op = self._stack.pop()
            if op in self._pending:
                self._pending.discard(op)
                return op
        return None

    # -- listener
    def notify_op_inserted(self, op: Operation) -> None:
        self._erased.discard(op)
        self._push(op)
        self.folder.notify_changed(op)
        self.user_listener.notify_op_inserted(op)

    def notify_op_erased(self, op: Operation) -> None:
        self._pending.discard(op)
        self._erased.add(op)
        self.folder.notify_removal(op)
        for v in op.operands:
            owner = v.owner
            # Producers outside the root (a non-isolated root's captured values) are off-limits.
            if isinstance(owner, Operation) and self.root.is_proper_ancestor(owner):
                self._push(owner)
        self.user_listener.notify_op_erased(op)

    def notify_op_modified(self, op: Operation) -> None:
        self._push(op)
        self.folder.notify_changed(op)
        self.user_listener.notify_op_modified(op)

    def notify_op_replaced(self, op: Operation, new_values: Sequence[Value]) -> None:
        self.user_listener.notify_op_replaced(op, new_values)

    def notify_match_failure(self, op: Operation, reason: str) -> None:
        self.user_listener.notify_match_failure(op, reason)

    # -- driving
    def run(self) -> bool:
        """Apply to a fixed point; True if the IR changed. Raises a DiagnosticError if the IR
        still changes after ``max_iterations`` sweeps."""
        changed_any = False
        for _ in range(self.max_iterations):
            self.stats.sweeps += 1
            changed = self._sweep()
            changed_any |= changed
            if not changed or self._rewrite_limit_hit():
                return changed_any
        raise self._not_converged()

    def _rewrite_limit_hit(self) -> bool:
        return self.max_rewrites is not None and self.stats.rewrites >= self.max_rewrites

    def _not_converged(self) -> DiagnosticError:
        diag = Diagnostic(
            Severity.ERROR,
            f"greedy pattern application did not converge after {self.max_iterations} "
            "iterations", self.root.location)
        if self._last_change is not None:
            what, op_name, loc = self._last_change
            diag.attach_note(f"the last change was {what} on '{op_name}'", loc)
        return DiagnosticError(diag)

    def _seed(self) -> int:
        order = WalkOrder.PRE if self.top_down else WalkOrder.POST
        ops = _nested_ops(self.root, order)
        self._stack = []
        self._pending = set()
        for op in reversed(ops):
            self._push(op)
        return len(ops)

    def _sweep(self) -> bool:
        budget = _SWEEP_VISITS_PER_OP * self._seed() + _SWEEP_VISITS_MIN
        changed = False
        while budget > 0:
            op = self._pop()
            if op is None:
                break
            budget -= 1
            if op.parent is None:
                continue
            if self._process(op):
                changed = True
                if self._rewrite_limit_hit():
                    break
        else:
            changed = True  # cut short: something keeps changing
        self._stack.clear()
        self._pending.clear()
        return changed

    def _note(self, what: str, op: Operation) -> None:
        self._last_change = (what, op.name, op.location)

    def _process(self, op: Operation) -> bool:
        if self.erase_dead and is_trivially_dead(op):
            self._note("erasure of a dead op", op)
            self.rewriter.erase_op(op)
            self.stats.erased += 1
            return True
        if self.fold:
            if is_constant_op(op):
                changed, erased = self.folder.insert_known_constant(op)
                if changed:
                    self._note("constant uniquing", op)
                if erased:
                    self.stats.erased += 1
                if changed:
                    return True
            else:
                name, loc = op.name, op.location
                if self.folder.try_fold(op):
                    self._last_change = ("folding", name, loc)
                    self.stats.folded += 1
                    return True
        for pattern in self.patterns.for_op(op.name):
            self.rewriter.at_op(op)
            name, loc = op.name, op.location
            if pattern.match_and_rewrite(op, self.rewriter):
                self._last_change = (f"pattern '{type(pattern).__name__}'", name, loc)
                self.stats.rewrites += 1
                return True
        return False


def apply_patterns_greedily(
    root: Operation,
    patterns: Sequence[RewritePattern] | FrozenPatternSet,
    *,
    max_iterations: int = 10,
    max_rewrites: int | None = None,
    fold: bool = True,
    erase_dead: bool = True,
    listener: RewriteListener | None = None,
    top_down: bool = True,
) -> bool:
    """Erase dead ops, fold and apply ``patterns`` to every op nested in ``root`` until nothing
    changes; True if the IR changed.

    ``max_rewrites`` stops (silently) after that many successful pattern applications. A run
    converges when a sweep changes nothing, so it needs at least one sweep more than it has
    work for; if the IR still changes in sweep ``max_iterations``, raises a DiagnosticError
    located at ``root``.
    """
    return GreedyRewriteDriver(
        root, patterns, max_iterations=max_iterations, max_rewrites=max_rewrites, fold=fold,
        erase_dead=erase_dead, top_down=top_down, listener=listener).run()


# --------------------------------------------------------------------------- walk driver
class _ErasureTracker(RewriteListener):
    def __init__(self, inner: RewriteListener) -> None:
        self.inner = inner
        self.erased: set[Operation] = set()

    def notify_op_inserted(self, op: Operation) -> None:
        self.inner.notify_op_inserted(op)

    def notify_op_erased(self, op: Operation) -> None:
        self.erased.add(op)
        self.inner.notify_op_erased(op)

    def notify_op_modified(self, op: Operation) -> None:
        self.inner.notify_op_modified(op)

    def notify_op_replaced(self, op: Operation, new_values: Sequence[Value]) -> None:
        self.inner.notify_op_replaced(op, new_values)

    def notify_match_failure(self, op: Operation, reason: str) -> None:
        self.inner.notify_match_failure(op, reason)


def apply_patterns_once_walk(
    root: Operation,
    patterns: Sequence[RewritePattern] | FrozenPatternSet,
    *,
    listener: RewriteListener | None = None,
) -> bool:
    """One post-order walk over the ops nested in ``root``: each op that existed when the walk
    started gets one chance (its best matching pattern); new ops are not visited. Cheap and
    predictable for lowerings that need no fixed point. True if anything changed."""
    pset = FrozenPatternSet.of(patterns)
    tracker = _ErasureTracker(listener or RewriteListener())
    rewriter = PatternRewriter(tracker)
    changed = False
    for op in _nested_ops(root, WalkOrder.POST):
        if op in tracker.erased or op.parent is None:
            continue
        for pattern in pset.for_op(op.name):
            rewriter.at_op(op)
            if pattern.match_and_rewrite(op, rewriter):
                changed = True
                break
    return changed
