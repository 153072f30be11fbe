"""Printer for MLIR's textual IR, in custom (pretty) or generic form.

SSA names follow MLIR: op results ``%0, %1, ...`` (``%0:2`` defined, ``%0#1`` used), entry-block
arguments ``%arg0, ...``, other block arguments numbered like results, blocks ``^bb0, ...``;
numbering restarts inside ops that are isolated from above. Names are given on first
appearance, so forward references (graph regions, branches to later blocks) need no extra pass.

Output is a list of string chunks joined once at the end; type and attribute texts are cached
per object, so printing is linear and cheap per op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from avalon.ir.asm import OpAsmPrinter
from avalon.ir.attributes import (
    ArrayAttr,
    Attribute,
    DenseElementsAttr,
    DictAttr,
    UnitAttr,
    attr_key_text,
    quote_string,
    symbol_text,
)
from avalon.ir.core import OP_REGISTRY, Block, BlockArgument, Operation, OpResult, Region, Value
from avalon.ir.location import Location
from avalon.ir.traits import IsolatedFromAbove, Terminator
from avalon.ir.types import FunctionType, Type

_MISSING = object()
_PRINTERS: dict[type, Any] = {}
_QUOTED_NAMES: dict[str, str] = {}
_KEY_TEXT: dict[str, str] = {}
_BLOCK_NAMES = [f"^bb{i}" for i in range(64)]


def _custom_printer(cls: type[Operation]) -> Callable[[Operation, Printer], None] | None:
    """The custom-form printer of an op class (hook or compiled format), or None."""
    fn = _PRINTERS.get(cls, _MISSING)
    if fn is not _MISSING:
        return fn
    fn = None
    if cls.name and OP_REGISTRY.get(cls.name) is cls:
        if (getattr(cls, "print_custom", None) is not None
                and getattr(cls, "parse_custom", None) is not None):
            fn = cls.print_custom  # type: ignore[attr-defined]
        elif getattr(cls, "assembly_format", None):
            from avalon.ir.asm_format import compile_format

            fn = compile_format(cls).print
    _PRINTERS[cls] = fn
    return fn


def _key_text(name: str) -> str:
    t = _KEY_TEXT.get(name)
    if t is None:
        t = _KEY_TEXT[name] = attr_key_text(name)
    return t


def _is_elidable_terminator(op: Operation) -> bool:
    return (op.has_trait(Terminator) and not op._operands and not op.results
            and not op.attributes and not op.regions and not op.successors)


class Printer(OpAsmPrinter):
    """Writes ops as MLIR text; implements :class:`OpAsmPrinter` for custom-form hooks."""

    def __init__(self, *, generic: bool = False, debuginfo: bool = False,
                 elide_elements_larger_than: int | None = None) -> None:
        self.generic = generic
        self.debuginfo = debuginfo
        self.elide_limit = elide_elements_larger_than
        self._out: list[str] = []
        self._w = self._out.append
        self._ind = ""
        self._names: dict[Any, str] = {}
        self._next_value = 0
        self._next_arg = 0
        self._dd: str | None = None  # default-dialect prefix in effect ("func.")
        self._type_text: dict[int, str] = {}
        self._attr_text_cache: dict[int, str] = {}
        self._keep: list[Any] = []  # keeps id()-cached objects alive
        self._unknown_blocks = 0

    def getvalue(self) -> str:
        text = "".join(self._out)
        return text[:-1] if text.endswith("\n") else text

    # ------------------------------------------------------------------------ names
    def _name_results(self, op: Operation) -> None:
        n = f"%{self._next_value}"
        self._next_value += 1
        rs = op.results
        names = self._names
        if len(rs) == 1:
            names[rs[0]] = n
        else:
            names[op] = n
            for i, r in enumerate(rs):
                names[r] = f"{n}#{i}"

    def _name_block_args(self, block: Block) -> None:
        names = self._names
        region = block.parent
        if region is not None and region.blocks and region.blocks[0] is block:
            for a in block.args:
                if a not in names:
                    names[a] = f"%arg{self._next_arg}"
                    self._next_arg += 1
        else:
            for a in block.args:
                if a not in names:
                    names[a] = f"%{self._next_value}"
                    self._next_value += 1

    def value_name(self, v: Value) -> str:
        """The SSA name of ``v`` (given on first request)."""
        n = self._names.get(v)
        if n is not None:
            return n
        if isinstance(v, OpResult):
            self._name_results(v.op)
        elif isinstance(v, BlockArgument):
            self._name_block_args(v.block)
        else:
            return "%<<UNKNOWN SSA VALUE>>"
        return self._names[v]

    def _block_name(self, block: Block) -> str:
        n = self._names.get(block)
        if n is None:
            n = self._names[block] = f"^bb_unknown{self._unknown_blocks}"
            self._unknown_blocks += 1
        return n

    # ------------------------------------------------------------------------ texts
    def type_text(self, t: Type) -> str:
        key = id(t)
        s = self._type_text.get(key)
        if s is None:
            s = self._type_text[key] = str(t)
            self._keep.append(t)
        return s

    def attr_text(self, a: Attribute, elide_type: bool = False) -> str:
        """Text of ``a`` (``elide_type`` drops a default ``: i64``/``: f64``)."""
        if self.elide_limit is not None:
            return self._elided_text(a, elide_type)
        if elide_type:
            return a.render(True)
        key = id(a)
        s = self._attr_text_cache.get(key)
        if s is None:
            s = self._attr_text_cache[key] = str(a)
            self._keep.append(a)
        return s

    def _elided_text(self, a: Attribute, elide_type: bool) -> str:
        if isinstance(a, DenseElementsAttr):
            if a.array.size > self.elide_limit and not a.is_splat:  # type: ignore[operator]
                return f"dense_resource<__elided__> : {a.type}"
            return str(a)
        if isinstance(a, ArrayAttr):
            return "[" + ", ".join(self._elided_text(e, True) for e in a.elements) + "]"
        if isinstance(a, DictAttr):
            return self._dict_text(a.items, ())
        return a.render(elide_type)

    def _dict_text(self, items: Iterable[tuple[str, Attribute]], elided: Iterable[str]) -> str:
        parts = []
        for k, v in items:
            if k in elided:
                continue
            if v.__class__ is UnitAttr:
                parts.append(_key_text(k))
            else:
                parts.append(f"{_key_text(k)} = {self.attr_text(v)}")
        return "{" + ", ".join(parts) + "}"

    def _attrs_text(self, attrs: dict[str, Attribute], elided: Iterable[str] = ()) -> str:
        items = sorted(attrs.items()) if len(attrs) > 1 else attrs.items()
        return self._dict_text(items, elided)

    def location_text(self, loc: Location) -> str:
        return str(loc)

    # ------------------------------------------------------------------------ ops
    def print_operation(self, op: Operation) -> None:
        """Print ``op`` (and everything nested) as one line plus its regions."""
        w = self._w
        w(self._ind)
        rs = op.results
        if rs:
            names = self._names
            first = names.get(rs[0])
            if first is None:
                self._name_results(op)
                first = names[rs[0]]
            if len(rs) == 1:
                w(first)
            else:
                w(f"{names[op]}:{len(rs)}")
            w(" = ")
        cls = op.__class__
        fn = None if self.generic else _custom_printer(cls)
        scoped = op.regions and (IsolatedFromAbove in cls._trait_types
                                 or cls.default_dialect is not None)
        if scoped:
            saved = self._enter_op(op, cls)
        try:
            if fn is not None:
                out = self._out
                mark = len(out)
                w(self._custom_name(op.name, saved[2] if scoped else self._dd))
                w(" ")
                try:
                    fn(op, self)
                except Exception:
                    del out[mark:]
                    self._print_generic(op)
                else:
                    last = out[-1]
                    if last.endswith(" "):
                        out[-1] = last.rstrip(" ")
            else:
                self._print_generic(op)
        finally:
            if scoped:
                self._next_value, self._next_arg, self._dd = saved
        if self.debuginfo:
            w(" ")
            w(self.location_text(op.location))
        w("\n")

    def _enter_op(self, op: Operation, cls: type[Operation]) -> tuple[int, int, str | None]:
        saved = (self._next_value, self._next_arg, self._dd)
        if IsolatedFromAbove in cls._trait_types:
            for v in op._operands:
                if v not in self._names:
                    self.value_name(v)
            self._next_value = 0
            self._next_arg = 0
        dd = cls.default_dialect
        if dd is not None:
            self._dd = f"{dd}." if dd else None
        return saved

    def _custom_name(self, name: str, dd: str | None) -> str:
        if name.startswith("builtin."):
            short = name[8:]
            if dd is not None and f"{dd}{short}" in OP_REGISTRY:
                return name
            return short
        if dd is not None and name.startswith(dd):
            short = name[len(dd):]
            if "." not in short:
                return short
        return name

    def _print_generic(self, op: Operation) -> None:
        w = self._w
        name = op.name
        q = _QUOTED_NAMES.get(name)
        if q is None:
            q = _QUOTED_NAMES[name] = quote_string(name)
        w(q)
        names = self._names
        operands = op._operands
        if operands:
            parts = []
            for v in operands:
                n = names.get(v)
                parts.append(n if n is not None else self.value_name(v))
            w("(" + ", ".join(parts) + ")")
        else:
            w("()")
        if op.successors:
            w("[" + ", ".join(self._block_name(b) for b in op.successors) + "]")
        if op.regions:
            w(" (")
            for i, r in enumerate(op.regions):
                if i:
                    w(", ")
                self._print_region(r, True, True, True)
            w(")")
        if op.attributes:
            w(" ")
            w(self._attrs_text(op.attributes))
        tt = self.type_text
        ins = ", ".join([tt(v.type) for v in operands])
        rs = op.results
        if len(rs) == 1 and not isinstance(rs[0].type, FunctionType):
            w(f" : ({ins}) -> {tt(rs[0].type)}")
        else:
            w(f" : ({ins}) -> ({', '.join([tt(r.type) for r in rs])})")

    # ------------------------------------------------------------------------ regions
    def _print_region(self, region: Region, entry_args: bool, terminators: bool,
                      empty_block: bool) -> None:
        w = self._w
        w("{\n")
        blocks = region.blocks
        outer = self._ind
        if blocks:
            names = self._names
            for i, b in enumerate(blocks):
                names[b] = _BLOCK_NAMES[i] if i < 64 else f"^bb{i}"
            inner = outer + "  "
            last = len(blocks) - 1
            for i, b in enumerate(blocks):
                if i == 0:
                    header = ((entry_args and b.args) or (empty_block and b.first_op is None)
                              or self._has_predecessors(b, blocks))
                else:
                    header = True
                if header:
                    self._print_block_header(b, outer)
                elif b.args:
                    self._name_block_args(b)
                self._ind = inner
                op = b.first_op
                while op is not None:
                    nxt = op.next_op
                    if (nxt is None and not terminators and i == last
                            and _is_elidable_terminator(op)):
                        break
                    self.print_operation(op)
                    op = nxt
                self._ind = outer
        w(outer)
        w("}")

    @staticmethod
    def _has_predecessors(block: Block, blocks: list[Block]) -> bool:
        for b in blocks:
            term = b.last_op
            if term is not None and term.successors:
                for s in term.successors:
                    if s is block:
                        return True
        return False

    def _print_block_header(self, block: Block, indent: str) -> None:
        w = self._w
        w(indent)
        w(self._names[block])
        if block.args:
            self._name_block_args(block)
            w("(")
            for i, a in enumerate(block.args):
                if i:
                    w(", ")
                self.print_block_argument(a)
            w(")")
        w(":\n")

    # ------------------------------------------------------------------------ OpAsmPrinter
    def write(self, text: str) -> None:
        # Hooks often start with " " although the printer already wrote one after the op
        # name (and print_attr_dict may have too): never emit two spaces in a row.
        if text[:1] == " ":
            out = self._out
            if out and out[-1][-1:] == " ":
                text = text[1:]
        self._w(text)

    def print_operand(self, value: Value) -> None:
        n = self._names.get(value)
        self._w(n if n is not None else self.value_name(value))

    def print_operands(self, values: Iterable[Value]) -> None:
        names = self._names
        parts = []
        for v in values:
            n = names.get(v)
            parts.append(n if n is not None else self.value_name(v))
        self._w(", ".join(parts))

    def print_type(self, type_: Type) -> None:
        self._w(self.type_text(type_))

    def print_attribute(self, attr: Attribute) -> None:
        self._w(self.attr_text(attr))

    def _space_unless_present(self) -> None:
        out = self._out
        if not (out and out[-1].endswith(" ")):
            self._w(" ")

    def print_attr_dict(self, attrs: dict[str, Attribute], elided: Iterable[str] = ()) -> None:
        if not attrs:
            return
        elided = frozenset(elided)
        if elided and not (attrs.keys() - elided):
            return
        self._space_unless_present()
        self._w(self._attrs_text(attrs, elided))

    def print_attr_dict_with_keyword(self, attrs: dict[str, Attribute],
                                     elided: Iterable[str] = ()) -> None:
        if not attrs:
            return
        elided = frozenset(elided)
        if elided and not (attrs.keys() - elided):
            return
        self._space_unless_present()
        self._w("attributes ")
        self._w(self._attrs_text(attrs, elided))

    def print_region(self, region: Region, print_entry_block_args: bool = True,
                     print_block_terminators: bool = True) -> None:
        self._print_region(region, print_entry_block_args, print_block_terminators, False)

    def print_successor(self, block: Block) -> None:
        self._w(self._block_name(block))

    def print_symbol_name(self, name: str) -> None:
        self._w(symbol_text(name))

    def print_block_argument(self, arg: Value, with_type: bool = True) -> None:
        w = self._w
        w(self.value_name(arg))
        if with_type:
            w(": ")
            w(self.type_text(arg.type))
        if self.debuginfo and isinstance(arg, BlockArgument):
            w(" ")
            w(self.location_text(arg.location))

    def unwrite_space(self) -> None:
        """Drop one trailing space (declarative formats decide spacing themselves)."""
        out = self._out
        if out and out[-1].endswith(" "):
            out[-1] = out[-1][:-1]


def print_op(op: Operation, *, generic: bool = False, debuginfo: bool = False,
             elide_elements_larger_than: int | None = None) -> str:
    """MLIR text of ``op``: custom forms where ops have them unless ``generic``; trailing
    ``loc(...)`` with ``debuginfo``; dense constants with more elements than
    ``elide_elements_larger_than`` printed as ``dense_resource<__elided__>``."""
    p = Printer(generic=generic, debuginfo=debuginfo,
                elide_elements_larger_than=elide_elements_larger_than)
    p.print_operation(op)
    return p.getvalue()


__all__ = ["Printer", "print_op"]
