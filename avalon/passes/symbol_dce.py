"""The ``symbol-dce`` pass: erase symbols that nothing live can reach.

Public symbols of a visible symbol table are live, and so is every non-symbol op; anything a
live op references (through ``SymbolRefAttr``\\ s anywhere in its attributes or nested ops) is
live too. Every other symbol -- private ones, and all symbols of a private nested symbol
table -- is erased, including chains and cycles of private functions that only call each other.
"""

from __future__ import annotations

from collections.abc import Iterator

from avalon.ir.attributes import SymbolRefAttr
from avalon.ir.core import Operation
from avalon.ir.symbols import (
    get_visibility,
    is_symbol_table,
    lookup_symbol,
    nearest_symbol_table,
    symbol_name,
    symbol_table_cache,
    symbol_uses,
)
from avalon.passes.pass_base import Pass
from avalon.passes.registry import register_pass


def table_entries(table: Operation) -> Iterator[Operation]:
    """The ops directly inside a symbol table's region: its potential symbols."""
    for region in table.regions[:1]:
        for block in region.blocks:
            yield from block.ops


def nested_tables(op: Operation) -> Iterator[Operation]:
    """Symbol tables nested anywhere in ``op``'s regions, without entering a table."""
    for region in op.regions:
        for block in region.blocks:
            for inner in block.ops:
                if is_symbol_table(inner):
                    yield inner
                else:
                    yield from nested_tables(inner)


def resolve_symbol_path(user: Operation, ref: SymbolRefAttr) -> list[Operation]:
    """The ops along ``@a::@b...`` as seen from ``user`` (resolved in its nearest symbol
    table), or an empty list if some name does not resolve."""
    table = nearest_symbol_table(user)
    path: list[Operation] = []
    for name in (ref.root, *ref.nested):
        if table is None or not is_symbol_table(table):
            return []
        found = lookup_symbol(table, name)
        if found is None:
            return []
        path.append(found)
        table = found
    return path


def _held_uses(op: Operation) -> Iterator[tuple[Operation, SymbolRefAttr]]:
    """References that keep symbols alive when ``op`` is live: a nested symbol table's own
    attributes only (its body is judged on its own), else everything in ``op``."""
    if is_symbol_table(op):
        for attr_use in symbol_uses(op):
            if attr_use.user is op:
                yield op, attr_use.ref
        return
    for use in symbol_uses(op):
        yield use.user, use.ref


# ----------------------------------------------------------------------------------- pass
def _mark_roots(table: Operation, hidden: bool, live: set[Operation],
                worklist: list[Operation]) -> None:
    for op in table_entries(table):
        sym = symbol_name(op) is not None
        keep = not sym or (not hidden and get_visibility(op) == "public")
        if keep and op not in live:
            live.add(op)
            worklist.append(op)
        inner_hidden = hidden or (sym and get_visibility(op) != "public")
        tables = [op] if is_symbol_table(op) else list(nested_tables(op))
        for t in tables:
            _mark_roots(t, inner_hidden, live, worklist)


def _sweep(table: Operation, live: set[Operation]) -> int:
    erased = 0
    for op in list(table_entries(table)):
        if symbol_name(op) is not None and op not in live and not op.has_uses:
            op.erase()
            erased += 1
            continue
        tables = [op] if is_symbol_table(op) else list(nested_tables(op))
        for t in tables:
            erased += _sweep(t, live)
    return erased


def live_symbols(root: Operation) -> set[Operation]:
    """The ops of symbol table ``root`` (and its nested tables) that must be kept."""
    live: set[Operation] = set()
    worklist: list[Operation] = []
    _mark_roots(root, False, live, worklist)
    with symbol_table_cache():
        while worklist:
            op = worklist.pop()
            for user, ref in _held_uses(op):
                for target in resolve_symbol_path(user, ref):
                    if target not in live:
                        live.add(target)
                        worklist.append(target)
    return live


def erase_dead_symbols(root: Operation) -> int:
    """Erase the symbols of ``root`` (a symbol table) that nothing live references; returns
    how many top-level symbol ops were erased."""
    if not is_symbol_table(root):
        raise ValueError(f"'{root.name}' does not define a symbol table")
    return _sweep(root, live_symbols(root))


@register_pass
class SymbolDCE(Pass):
    """Erase private symbols that nothing reachable from public symbols references."""

    name = "symbol-dce"

    def run(self, op: Operation) -> None:
        if not is_symbol_table(op):
            raise self.fail(f"'{op.name}' op was scheduled to run under symbol-dce, but does "
                            "not define a symbol table", op)
        self.count("num-dce'd", "dead symbols erased").add(erase_dead_symbols(op))
