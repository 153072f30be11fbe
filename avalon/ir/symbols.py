"""Symbols and symbol tables, in MLIR's model.

An op with the ``Symbol`` trait defines a name through its ``sym_name`` string attribute; an op
with the ``SymbolTable`` trait (``builtin.module``) is the namespace of the symbols directly in
its region. Other ops refer to symbols with :class:`SymbolRefAttr` attributes (``@f``,
``@mod::@f``), which resolve in the *nearest* enclosing symbol table. Keeping references as
names rather than pointers is what lets passes clone, rename and erase functions freely.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from avalon.ir.attributes import ArrayAttr, Attribute, DictAttr, StringAttr, SymbolRefAttr
from avalon.ir.core import Operation, WalkOrder
from avalon.ir.traits import SymbolTable as SymbolTableTrait

SYM_NAME = "sym_name"
VISIBILITY = "sym_visibility"
VISIBILITIES = ("public", "private", "nested")

# Per-table name maps, active only inside ``symbol_table_cache()`` (the verifier uses it so that
# resolving 100,000 calls stays linear). Keyed by the table op itself.
_CACHE: ContextVar[dict[Operation, dict[str, Operation]] | None] = ContextVar(
    "avalon_symbol_cache", default=None)


@contextlib.contextmanager
def symbol_table_cache() -> Iterator[None]:
    """Memoise symbol lookups for the duration of the block; the IR must not change meanwhile."""
    token = _CACHE.set({})
    try:
        yield
    finally:
        _CACHE.reset(token)


# ------------------------------------------------------------------------------ basic queries


def symbol_name(op: Operation) -> str | None:
    """The symbol ``op`` defines, or None when it defines none."""
    attr = op.attributes.get(SYM_NAME)
    return attr.value if isinstance(attr, StringAttr) else None


def is_symbol_table(op: Operation) -> bool:
    return op.has_trait(SymbolTableTrait)


def nearest_symbol_table(op: Operation) -> Operation | None:
    """``op`` itself if it is a symbol table, else its closest ancestor that is one."""
    cur: Operation | None = op
    while cur is not None:
        if is_symbol_table(cur):
            return cur
        cur = cur.parent_op
    return None


def _table_ops(table_op: Operation) -> Iterator[Operation]:
    for region in table_op.regions[:1]:
        for block in region.blocks:
            yield from block.ops


def _name_map(table_op: Operation) -> dict[str, Operation]:
    """First definition of every name directly inside ``table_op``."""
    names: dict[str, Operation] = {}
    for op in _table_ops(table_op):
        name = symbol_name(op)
        if name is not None and name not in names:
            names[name] = op
    return names


def lookup_symbol(table_op: Operation, name: str | StringAttr) -> Operation | None:
    """The op named ``name`` directly inside the symbol table ``table_op``."""
    key = name.value if isinstance(name, StringAttr) else name
    cache = _CACHE.get()
    if cache is not None:
        names = cache.get(table_op)
        if names is None:
            names = cache[table_op] = _name_map(table_op)
        return names.get(key)
    for op in _table_ops(table_op):
        if symbol_name(op) == key:
            return op
    return None


def lookup_symbol_in(table_op: Operation, ref: SymbolRefAttr) -> Operation | None:
    """Resolve ``ref`` (root, then each nested name) starting in ``table_op``."""
    found = lookup_symbol(table_op, ref.root)
    for nested in ref.nested:
        if found is None or not is_symbol_table(found):
            return None
        found = lookup_symbol(found, nested)
    return found


def lookup_symbol_ref(from_op: Operation, ref: SymbolRefAttr | str) -> Operation | None:
    """Resolve ``ref`` as seen from ``from_op``: in the nearest enclosing symbol table."""
    if isinstance(ref, str):
        ref = SymbolRefAttr(ref)
    table = nearest_symbol_table(from_op)
    if table is None:
        return None
    return lookup_symbol_in(table, ref)


# ------------------------------------------------------------------------------- visibility


def get_visibility(op: Operation) -> str:
    """``"public"`` (the default), ``"private"`` or ``"nested"``."""
    attr = op.attributes.get(VISIBILITY)
    return attr.value if isinstance(attr, StringAttr) else "public"


def set_visibility(op: Operation, visibility: str) -> None:
    """Set the visibility; public is stored as the absence of the attribute, as in MLIR."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"unknown symbol visibility '{visibility}'")
    if visibility == "public":
        op.attributes.pop(VISIBILITY, None)
    else:
        op.attributes[VISIBILITY] = StringAttr(visibility)


def is_private(op: Operation) -> bool:
    return get_visibility(op) == "private"


def is_public(op: Operation) -> bool:
    return get_visibility(op) == "public"


# ------------------------------------------------------------------------------------- uses


@dataclass(frozen=True)
class SymbolUse:
    """One reference: ``user.attributes[attr_name]`` contains ``ref`` (maybe nested deeper)."""

    user: Operation
    attr_name: str
    ref: SymbolRefAttr


def _refs_in(attr: Attribute) -> Iterator[SymbolRefAttr]:
    if isinstance(attr, SymbolRefAttr):
        yield attr
    elif isinstance(attr, ArrayAttr):
        for e in attr.elements:
            yield from _refs_in(e)
    elif isinstance(attr, DictAttr):
        for _, v in attr.items:
            yield from _refs_in(v)


def _ops_in_scope(root: Operation) -> Iterator[Operation]:
    """``root`` and the ops nested in it, not entering nested symbol tables' bodies."""
    yield root
    stack = [root]
    while stack:
        op = stack.pop()
        for region in op.regions:
            for block in region.blocks:
                for child in block.ops:
                    yield child
                    if child.regions and not is_symbol_table(child):
                        stack.append(child)


def symbol_uses(op: Operation) -> list[SymbolUse]:
    """Every symbol reference in the attributes of ``op`` and of the ops nested in it
    (recursing into array and dictionary attributes; nested symbol tables' bodies are a
    different namespace and are skipped)."""
    uses = []
    for user in _ops_in_scope(op):
        for name, attr in user.attributes.items():
            for ref in _refs_in(attr):
                uses.append(SymbolUse(user, name, ref))
    return uses


def symbol_uses_of(symbol: str | Operation, root: Operation) -> list[SymbolUse]:
    """References under ``root`` whose leading name is ``symbol`` (a name or a symbol op)."""
    name = symbol_name(symbol) if isinstance(symbol, Operation) else symbol
    return [u for u in symbol_uses(root) if u.ref.root == name]


def symbol_known_unused(symbol: Operation, root: Operation) -> bool:
    return not symbol_uses_of(symbol, root)


def _replace_in(attr: Attribute, old: str, new: str) -> Attribute:
    if isinstance(attr, SymbolRefAttr):
        return SymbolRefAttr(new, attr.nested) if attr.root == old else attr
    if isinstance(attr, ArrayAttr):
        elems = tuple(_replace_in(e, old, new) for e in attr.elements)
        return attr if elems == attr.elements else ArrayAttr(elems)
    if isinstance(attr, DictAttr):
        items = tuple((k, _replace_in(v, old, new)) for k, v in attr.items)
        return attr if items == attr.items else DictAttr(items)
    return attr


def replace_all_symbol_uses(old: str | Operation, new: str, root: Operation) -> bool:
    """Rewrite references to ``old`` under ``root`` to ``new``; True if any changed."""
    old_name = symbol_name(old) if isinstance(old, Operation) else old
    if old_name is None:
        raise ValueError("replace_all_symbol_uses: the old op defines no symbol")
    changed = False
    for user in _ops_in_scope(root):
        for key, attr in list(user.attributes.items()):
            new_attr = _replace_in(attr, old_name, new)
            if new_attr is not attr:
                user.attributes[key] = new_attr
                changed = True
    return changed


# ------------------------------------------------------------------------------ SymbolTable


class SymbolTable:
    """A cached name -> op view of one symbol table op, keeping names unique on insertion.

    Make changes to the table through this object (or build a new one afterwards): the cache
    does not observe edits made behind its back.
    """

    def __init__(self, op: Operation) -> None:
        if not op.regions:
            raise ValueError(f"'{op.name}' has no region to hold symbols")
        self.op = op
        self._names = _name_map(op)
        self._counter = itertools.count()

    @property
    def block(self):
        region = self.op.regions[0]
        if not region.blocks:
            region.add_block()
        return region.blocks[0]

    def lookup(self, name: str | StringAttr) -> Operation | None:
        key = name.value if isinstance(name, StringAttr) else name
        return self._names.get(key)

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[Operation]:
        return iter(list(self._names.values()))

    def names(self) -> list[str]:
        return list(self._names)

    def _unique(self, base: str) -> str:
        if base not in self._names:
            return base
        while True:
            candidate = f"{base}_{next(self._counter)}"
            if candidate not in self._names:
                return candidate

    def insert(self, op: Operation, before: Operation | None = None) -> str:
        """Add the symbol op ``op`` (at the end of the body, before a terminator if there is
        one, or before ``before``; an op already in the body stays where it is); renames it
        ``name_N`` if the name is taken. Returns the name it ends up with."""
        name = symbol_name(op)
        if name is None:
            raise ValueError(f"'{op.name}' defines no symbol (no 'sym_name')")
        if op.parent is not None and op.parent is not self.block:
            raise ValueError(f"'{op.name}' is in another block; detach it first")
        if self._names.get(name) is op:
            return name
        name = self._unique(name)
        op.attributes[SYM_NAME] = StringAttr(name)
        if op.parent is None:
            block = self.block
            if before is not None:
                block.insert_before(op, before)
            elif block.terminator is not None:
                block.insert_before(op, block.terminator)
            else:
                block.append(op)
        self._names[name] = op
        return name

    def remove(self, op: Operation) -> None:
        """Forget and detach ``op`` (it stays alive for re-insertion elsewhere)."""
        name = symbol_name(op)
        if name is not None and self._names.get(name) is op:
            del self._names[name]
        op.detach()

    def erase(self, op: Operation) -> None:
        """Forget and erase ``op``."""
        self.remove(op)
        op.erase()

    def rename(self, symbol: str | Operation, new_name: str) -> None:
        """Rename a symbol and every reference to it inside the table op."""
        op = self.lookup(symbol) if isinstance(symbol, str) else symbol
        if op is None:
            raise KeyError(f"no symbol named '{symbol}'")
        old = symbol_name(op)
        if old == new_name:
            return
        if new_name in self._names:
            raise ValueError(f"symbol '{new_name}' already exists")
        replace_all_symbol_uses(old, new_name, self.op)
        del self._names[old]
        op.attributes[SYM_NAME] = StringAttr(new_name)
        self._names[new_name] = op


def walk_symbol_tables(root: Operation) -> Iterator[Operation]:
    """All symbol-table ops under (and including) ``root``, outermost first."""
    for op in root.walk_ops(WalkOrder.PRE):
        if is_symbol_table(op):
            yield op


__all__ = [
    "SYM_NAME",
    "VISIBILITY",
    "SymbolTable",
    "SymbolUse",
    "get_visibility",
    "is_private",
    "is_public",
    "is_symbol_table",
    "lookup_symbol",
    "lookup_symbol_in",
    "lookup_symbol_ref",
    "nearest_symbol_table",
    "replace_all_symbol_uses",
    "set_visibility",
    "symbol_known_unused",
    "symbol_name",
    "symbol_table_cache",
    "symbol_uses",
    "symbol_uses_of",
    "walk_symbol_tables",
]
