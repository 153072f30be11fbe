"""The ``builtin`` dialect: ``builtin.module``, the top-level container of symbols."""

from __future__ import annotations

from avalon.ir.asm import OpAsmParser, OpAsmPrinter
from avalon.ir.attributes import StringAttr
from avalon.ir.core import Block, Operation, Region
from avalon.ir.location import Location
from avalon.ir.opdef import Op, OptAttr, SingleRegion, SymbolNameAttr, register_dialect
from avalon.ir.traits import (
    GraphRegion,
    IsolatedFromAbove,
    NoTerminator,
    SingleBlock,
    SymbolTable,
)

register_dialect("builtin", "Structural ops every program needs: the top-level module.")


class ModuleOp(Op):
    """A module: a single-block region of top-level ops (functions) forming a symbol table.

    Custom form: ``module @name attributes {...} { ... }`` (name and attributes optional).
    A file whose top level is not a single module is wrapped in an implicit one.
    """

    name = "builtin.module"
    traits = (IsolatedFromAbove, NoTerminator, SingleBlock, SymbolTable, GraphRegion)
    sym_name = OptAttr(SymbolNameAttr)
    body_region = SingleRegion()

    @classmethod
    def create_empty(cls, name: str | None = None, location: Location | None = None) -> ModuleOp:
        attrs = {"sym_name": StringAttr(name)} if name else {}
        op = cls([], [], attrs, 1, [], location)
        op.regions[0].add_block(Block())
        return op

    @property
    def body(self) -> Block:
        region = self.regions[0]
        if not region.blocks:
            region.add_block(Block())
        return region.blocks[0]

    def lookup(self, name: str) -> Operation | None:
        """The top-level op whose ``sym_name`` is ``name``."""
        for op in self.body.ops:
            sym = op.attributes.get("sym_name")
            if isinstance(sym, StringAttr) and sym.value == name:
                return op
        return None

    def print_custom(self, p: OpAsmPrinter) -> None:
        if isinstance(self.sym_name, StringAttr):
            p.print_symbol_name(self.sym_name.value)
            p.write(" ")
        p.print_attr_dict_with_keyword(self.attributes, elided=("sym_name",))
        if self.attributes.keys() - {"sym_name"}:
            p.write(" ")
        p.print_region(self.regions[0], print_entry_block_args=False)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        attrs = {}
        name = p.parse_optional_symbol_name()
        if name is not None:
            attrs["sym_name"] = StringAttr(name)
        attrs.update(p.parse_optional_attr_dict_with_keyword())
        region = p.parse_region()
        if not region.blocks:
            region.add_block(Block())
        return cls([], [], attrs, [region], [], p.location)


def module(ops: list[Operation] | None = None, name: str | None = None) -> ModuleOp:
    """A new module holding ``ops``."""
    m = ModuleOp.create_empty(name)
    for op in ops or ():
        m.body.append(op)
    return m


__all__ = ["ModuleOp", "Region", "module"]
