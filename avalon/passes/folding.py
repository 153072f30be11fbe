"""Constant folding shared by the rewrite drivers: fold an op, materialise and unique constants.

Folding asks ``op.fold`` for results given the constant values of its operands. Attribute
results become constant ops made by a dialect's ``materialize_constant`` hook. Like MLIR's
OperationFolder, every constant the folder knows about lives at the start of the entry block of
the nearest enclosing isolated-from-above region, and equal constants are shared, so repeated
folding never piles up duplicate constants.
"""

from __future__ import annotations

from collections.abc import Sequence

from avalon.ir.attributes import Attribute
from avalon.ir.builder import Builder, InsertionPoint
from avalon.ir.core import Operation, OpResult, Region, Value
from avalon.ir.location import Location
from avalon.ir.opdef import DIALECTS
from avalon.ir.patterns import RewriteListener
from avalon.ir.traits import ConstantLike, IsolatedFromAbove
from avalon.ir.types import Type

#: Dialects tried, after the folded op's own dialect, when materialising a constant.
FALLBACK_DIALECTS: tuple[str, ...] = ("arith",)


def constant_value(value: Value) -> Attribute | None:
    """The ``value`` attribute of the ConstantLike op defining ``value``, if it is one."""
    if isinstance(value, OpResult) and value.op.has_trait(ConstantLike):
        attr = value.op.attributes.get("value")
        if isinstance(attr, Attribute):
            return attr
    return None


def is_constant_op(op: Operation) -> bool:
    """A ConstantLike op with one result and a ``value`` attribute (what the folder unique)."""
    return (op.has_trait(ConstantLike) and len(op.results) == 1
            and isinstance(op.attributes.get("value"), Attribute))


def candidate_dialects(preferred: str) -> list[str]:
    """Dialect names to try for materialising a constant: ``preferred``, then fallbacks."""
    names = [preferred, *FALLBACK_DIALECTS]
    names.extend(name for name, d in DIALECTS.items() if d.materialize_constant is not None)
    seen: dict[str, None] = {}
    for n in names:
        d = DIALECTS.get(n)
        if d is not None and d.materialize_constant is not None:
            seen[n] = None
    return list(seen)


def materialize_constant(builder: Builder, dialect: str, attr: Attribute, type_: Type,
                         location: Location) -> Operation | None:
    """Ask ``dialect`` for a constant op holding ``attr`` of ``type_``, inserted at ``builder``.

    Hooks may insert the op themselves or just return it; either way it ends up inserted.
    Returns None if the dialect cannot make such a constant.
    """
    d = DIALECTS.get(dialect)
    if d is None or d.materialize_constant is None:
        return None
    op = d.materialize_constant(builder, attr, type_, location)
    if op is None:
        return None
    if op.parent is None:
        builder.insert(op)
    if len(op.results) != 1 or op.results[0].type != type_:
        op.erase()
        return None
    return op


class OperationFolder:
    """Folds ops and keeps one hoisted constant per (dialect, value, type) and region.

    Known constants form a contiguous prefix of their region's entry block. The folder reports
    every op it creates, replaces or erases to ``listener`` so a driver's worklist stays in
    sync; a driver tells the folder about other changes through :meth:`notify_changed` and
    :meth:`notify_removal` so that prefix stays trustworthy.
    """

    def __init__(self, listener: RewriteListener | None = None,
                 scope_root: Operation | None = None) -> None:
        self.listener = listener or RewriteListener()
        #: Constants are never hoisted out of this op's regions.
        self.scope_root = scope_root
        self._cache: dict[tuple[Region, str, Attribute, Type], Operation] = {}
        self._keys: dict[Operation, list[tuple[Region, str, Attribute, Type]]] = {}
        self._by_region: dict[Region, dict[Operation, None]] = {}
        self._last: dict[Region, Operation] = {}
        self._dirty: set[Region] = set()

    # -- where constants live
    def insertion_region(self, op: Operation) -> Region:
        """The region whose entry block holds the constants used by ``op``."""
        region = op.parent_region
        if region is None:
            raise ValueError(f"'{op.name}' is not inside a region")
        while True:
            parent = region.parent
            if parent is None or parent is self.scope_root or parent.has_trait(
                    IsolatedFromAbove):
                return region
            outer = parent.parent_region
            if outer is None:
                return region
            region = outer

    def _ensure_prefix(self, region: Region) -> None:
        """Re-establish that the region's known constants are exactly its entry prefix."""
        if region not in self._dirty:
            return
        known = self._by_region.get(region, {})
        valid: dict[Operation, None] = {}
        last = None
        if region.blocks:
            op = region.blocks[0].first_op
            while op is not None and op in known:
                valid[op] = None
                last = op
                op = op.next_op
        for const in [c for c in known if c not in valid]:
            self.notify_removal(const)
        self._dirty.discard(region)
        self._last.pop(region, None)
        if last is not None:
            self._last[region] = last

    def _last_valid(self, region: Region) -> Operation | None:
        """The last constant of the region's prefix (revalidating if it was disturbed)."""
        last = self._last.get(region)
        if last is not None and (not region.blocks or last.parent is not region.blocks[0]):
            self._dirty.add(region)
        self._ensure_prefix(region)
        return self._last.get(region)

    def _remember(self, const: Operation, key: tuple[Region, str, Attribute, Type]) -> None:
        self._cache[key] = const
        self._keys.setdefault(const, []).append(key)
        self._by_region.setdefault(key[0], {})[const] = None

    def _lookup(self, key: tuple[Region, str, Attribute, Type]) -> Operation | None:
        const = self._cache.get(key)
        if const is not None and const.parent is None:  # erased behind our back
            self.notify_removal(const)
            return None
        return const

    def notify_changed(self, op: Operation) -> None:
        """An op was inserted or moved: if that broke the constant prefix, revalidate later."""
        keys = self._keys.get(op)
        if keys is not None:  # a known constant moved: is it still in its region's prefix?
            region = keys[0][0]
            prev = op.prev_op
            if not region.blocks or op.parent is not region.blocks[0] or (
                    prev is not None and prev not in self._keys):
                self._dirty.add(region)
            return
        block = op.parent
        region = block.parent if block is not None else None
        if region is None or region not in self._by_region or region.blocks[0] is not block:
            return
        if op.next_op is not None and op.next_op in self._keys:
            self._dirty.add(region)

    def notify_removal(self, op: Operation) -> None:
        """Forget ``op`` if it is a known constant (call before or after erasing it)."""
        keys = self._keys.pop(op, None)
        if keys is None:
            return
        for key in keys:
            if self._cache.get(key) is op:
                del self._cache[key]
            known = self._by_region.get(key[0])
            if known is not None:
                known.pop(op, None)
            if self._last.get(key[0]) is op:
                del self._last[key[0]]
                self._dirty.add(key[0])

    def _erase(self, op: Operation) -> None:
        self.notify_removal(op)
        for nested in op.walk_ops():
            self.listener.notify_op_erased(nested)
        op.erase()

    # -- uniquing
    def insert_known_constant(self, op: Operation) -> tuple[bool, bool]:
        """Register an existing constant op. Returns ``(changed, erased)``: it was hoisted, or
        replaced by an equal constant that was already known and erased."""
        region = self.insertion_region(op)
        self._ensure_prefix(region)
        key = (region, op.dialect_name, op.attributes["value"], op.results[0].type)
        existing = self._lookup(key)
        if existing is op:
            return False, False
        if existing is not None:
            self.listener.notify_op_replaced(op, existing.results)
            for user in op.results[0].users:
                self.listener.notify_op_modified(user)
            op.results[0].replace_all_uses_with(existing.results[0])
            self._erase(op)
            return True, True
        if op in self._keys:  # known under another key and still in the prefix
            return False, False
        entry = region.blocks[0]
        last = self._last_valid(region)
        moved = False
        if op.parent is not entry or op.prev_op is not last:
            op.detach()
            if last is None:
                entry.prepend(op)
            else:
                entry.insert_after(op, last)
            moved = True
        self._remember(op, key)
        self._last[region] = op
        if moved:
            self.listener.notify_op_modified(op)
        return moved, False

    def get_or_create_constant(self, region: Region, dialects: Sequence[str], attr: Attribute,
                               type_: Type, location: Location) -> Operation | None:
        """A hoisted constant in ``region`` for ``attr``: an existing one or a new one made by
        the first of ``dialects`` that can."""
        self._ensure_prefix(region)
        for dialect in dialects:
            found = self._lookup((region, dialect, attr, type_))
            if found is not None:
                return found
        last = self._last_valid(region)
        if last is not None:
            ip = InsertionPoint.after_op(last)
        else:
            ip = InsertionPoint.at_start(region.blocks[0])
        builder = Builder(ip, location)
        for dialect in dialects:
            const = materialize_constant(builder, dialect, attr, type_, location)
            if const is None:
                continue
            self._remember(const, (region, dialect, attr, type_))
            if const.dialect_name != dialect:
                self._remember(const, (region, const.dialect_name, attr, type_))
            self._last[region] = const
            for nested in const.walk_ops():
                self.listener.notify_op_inserted(nested)
            return const
        return None

    # -- folding
    def try_fold(self, op: Operation) -> bool:
        """Fold ``op`` if its folder succeeds; True if the IR changed.

        A folder returns None or ``[]`` for "no fold", one entry per result otherwise: an
        Attribute (materialised as a constant), an existing Value (replaces the result), or the
        op's own result at that position (kept: the folder updated the op in place).
        """
        if is_constant_op(op):
            return False
        results = op.fold([constant_value(v) for v in op.operands])
        if not results:
            return False
        if len(results) != len(op.results):
            raise op.emit_error(
                f"folder returned {len(results)} results, but the op has {len(op.results)}")
        keep = [r is op.results[i] for i, r in enumerate(results)]
        if all(keep):
            self.listener.notify_op_modified(op)
            return True
        region = self.insertion_region(op)
        dialects = candidate_dialects(op.dialect_name)
        created: list[Operation] = []
        values: list[Value | None] = []
        for i, r in enumerate(results):
            if keep[i]:
                values.append(None)
                continue
            if isinstance(r, Value):
                if r.type != op.results[i].type:
                    raise op.emit_error(
                        f"folder replaced result #{i} of type '{op.results[i].type}' with a "
                        f"value of type '{r.type}'")
                if isinstance(r, OpResult) and r.op is op:
                    raise op.emit_error(f"folder returned its own result #{r.index} for "
                                        f"result #{i}")
                values.append(r)
                continue
            known = len(self._keys)
            const = self.get_or_create_constant(region, dialects, r, op.results[i].type,
                                                op.location)
            if const is None:
                for c in created:
                    if not c.has_uses:
                        self._erase(c)
                return False
            if len(self._keys) != known and const not in created:
                created.append(const)
            values.append(const.results[0])
        if any(keep):
            for old, new in zip(op.results, values, strict=True):
                if new is not None:
                    for user in old.users:
                        self.listener.notify_op_modified(user)
                    old.replace_all_uses_with(new)
            self.listener.notify_op_modified(op)
            return True
        replacements = [v for v in values if v is not None]
        self.listener.notify_op_replaced(op, replacements)
        for old, new in zip(op.results, replacements, strict=True):
            for user in old.users:
                self.listener.notify_op_modified(user)
            old.replace_all_uses_with(new)
        self._erase(op)
        return True
