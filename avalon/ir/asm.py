"""The interface between ops' custom text forms and the printer/parser.

An op with a hand-written custom form defines::

    def print_custom(self, p: OpAsmPrinter) -> None: ...
    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation: ...

The printer has already written ``%results = `` and the op name followed by a space; the hook
writes the rest of the line (regions included). The parser has consumed the op name; the hook
parses the rest and returns the built op (its results are then bound to the names on the left
of ``=``). Ops with a declarative ``assembly_format`` get both hooks generated.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from avalon.ir.attributes import Attribute
from avalon.ir.core import Block, Operation, Region, Value
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.location import Location
from avalon.ir.types import Type


@dataclass(frozen=True)
class UnresolvedOperand:
    """A use of ``%name`` or ``%name#k`` not yet bound to a value."""

    name: str
    number: int
    location: Location


@dataclass(frozen=True)
class Argument:
    """A block argument being defined in custom syntax: ``%x : f32 loc(...)``."""

    operand: UnresolvedOperand
    type: Type
    location: Location | None = None


class OpAsmPrinter(ABC):
    """What a ``print_custom`` hook may call."""

    @abstractmethod
    def write(self, text: str) -> None: ...

    @abstractmethod
    def print_operand(self, value: Value) -> None: ...

    def print_operands(self, values: Iterable[Value]) -> None:
        for i, v in enumerate(values):
            if i:
                self.write(", ")
            self.print_operand(v)

    @abstractmethod
    def print_type(self, type_: Type) -> None: ...

    def print_types(self, types: Iterable[Type]) -> None:
        for i, t in enumerate(types):
            if i:
                self.write(", ")
            self.print_type(t)

    def print_arrow_types(self, types: Sequence[Type]) -> None:
        """``-> t`` or ``-> (t1, t2)`` (nothing printed for an empty list)."""
        if not types:
            return
        self.write(" -> ")
        if len(types) == 1:
            self.print_type(types[0])
        else:
            self.write("(")
            self.print_types(types)
            self.write(")")

    @abstractmethod
    def print_attribute(self, attr: Attribute) -> None: ...

    @abstractmethod
    def print_attr_dict(self, attrs: dict[str, Attribute], elided: Iterable[str] = ()) -> None:
        """`` {a = 1 : i64}`` with a leading space, or nothing if all are elided."""

    @abstractmethod
    def print_attr_dict_with_keyword(
        self, attrs: dict[str, Attribute], elided: Iterable[str] = ()
    ) -> None:
        """`` attributes {...}`` with a leading space, or nothing."""

    @abstractmethod
    def print_region(
        self, region: Region, print_entry_block_args: bool = True,
        print_block_terminators: bool = True,
    ) -> None:
        """``{`` newline, the blocks indented, ``}``. With ``print_block_terminators=False``
        a terminator without operands and attributes in the last block is left out."""

    @abstractmethod
    def print_successor(self, block: Block) -> None: ...

    @abstractmethod
    def print_symbol_name(self, name: str) -> None:
        """``@name`` (quoted when not a bare identifier)."""

    @abstractmethod
    def print_block_argument(self, arg: Value, with_type: bool = True) -> None:
        """``%arg0: f32`` (plus ``loc(...)`` when debug info is printed)."""


class OpAsmParser(ABC):
    """What a ``parse_custom`` hook may call. ``parse_*`` raise a located diagnostic on
    mismatch; ``parse_optional_*`` return None/False without consuming anything."""

    #: Number of results named on the left of ``=`` (``%0:2 = ...`` gives 2).
    result_count: int
    #: Location of the op being parsed (its name token, or its trailing ``loc(...)``).
    location: Location

    @abstractmethod
    def error(self, message: str) -> DiagnosticError:
        """A located error at the current token (``raise p.error(...)``)."""

    @abstractmethod
    def current_location(self) -> Location: ...

    # punctuation and keywords
    @abstractmethod
    def parse_punct(self, punct: str) -> None:
        """One of ``, : ( ) [ ] { } < > = -> * + ? ...`` and ``|``."""

    @abstractmethod
    def parse_optional_punct(self, punct: str) -> bool: ...

    @abstractmethod
    def parse_keyword(self, keyword: str | None = None) -> str:
        """A bare identifier (``to``, ``step``); with an argument, that exact word."""

    @abstractmethod
    def parse_optional_keyword(self, keyword: str | None = None) -> str | None: ...

    # literals
    @abstractmethod
    def parse_integer(self) -> int: ...

    @abstractmethod
    def parse_optional_integer(self) -> int | None: ...

    @abstractmethod
    def parse_float(self) -> float: ...

    @abstractmethod
    def parse_string(self) -> str: ...

    @abstractmethod
    def parse_symbol_name(self) -> str:
        """``@name`` -> ``name``."""

    @abstractmethod
    def parse_optional_symbol_name(self) -> str | None: ...

    # operands
    @abstractmethod
    def parse_operand(self) -> UnresolvedOperand: ...

    @abstractmethod
    def parse_optional_operand(self) -> UnresolvedOperand | None: ...

    @abstractmethod
    def parse_operand_list(self, delimiter: str | None = None) -> list[UnresolvedOperand]:
        """Comma-separated operands; ``delimiter`` is None, ``"()"`` or ``"[]"``."""

    @abstractmethod
    def resolve_operand(self, operand: UnresolvedOperand, type_: Type) -> Value:
        """Bind a use to its value, checking that the value has ``type_``."""

    def resolve_operands(
        self, operands: Sequence[UnresolvedOperand], types: Sequence[Type]
    ) -> list[Value]:
        if len(operands) != len(types):
            raise self.error(f"{len(operands)} operands present, but expected {len(types)}")
        return [self.resolve_operand(o, t) for o, t in zip(operands, types, strict=True)]

    # types and attributes
    @abstractmethod
    def parse_type(self) -> Type: ...

    @abstractmethod
    def parse_optional_type(self) -> Type | None: ...

    def parse_type_list(self) -> list[Type]:
        """Comma-separated, possibly empty."""
        types: list[Type] = []
        t = self.parse_optional_type()
        if t is None:
            return types
        types.append(t)
        while self.parse_optional_punct(","):
            types.append(self.parse_type())
        return types

    def parse_colon_type(self) -> Type:
        self.parse_punct(":")
        return self.parse_type()

    def parse_colon_type_list(self) -> list[Type]:
        self.parse_punct(":")
        return self.parse_type_list()

    def parse_arrow_type_list(self) -> list[Type]:
        """``-> t`` or ``-> (t1, t2)``."""
        self.parse_punct("->")
        if self.parse_optional_punct("("):
            types = self.parse_type_list()
            self.parse_punct(")")
            return types
        return [self.parse_type()]

    def parse_optional_arrow_type_list(self) -> list[Type]:
        if self.parse_optional_punct("->"):
            if self.parse_optional_punct("("):
                types = self.parse_type_list()
                self.parse_punct(")")
                return types
            return [self.parse_type()]
        return []

    @abstractmethod
    def parse_attribute(self, type_: Type | None = None) -> Attribute:
        """An attribute; ``type_`` types a bare integer/float literal (``42`` -> ``42 : i32``)."""

    @abstractmethod
    def parse_optional_attribute(self, type_: Type | None = None) -> Attribute | None: ...

    @abstractmethod
    def parse_optional_attr_dict(self) -> dict[str, Attribute]:
        """``{...}`` if present, else an empty dict."""

    @abstractmethod
    def parse_optional_attr_dict_with_keyword(self) -> dict[str, Attribute]:
        """``attributes {...}`` if present, else an empty dict."""

    # regions, blocks, arguments
    @abstractmethod
    def parse_argument(self, with_type: bool = True) -> Argument:
        """``%x: f32`` (and an optional ``loc(...)``) defining a block argument."""

    @abstractmethod
    def parse_region(
        self, arguments: Sequence[Argument] | None = None, enable_name_shadowing: bool = False
    ) -> Region:
        """``{ ... }``; ``arguments`` become the entry block's arguments (custom forms like
        ``func.func @f(%a: f32) {...}``). An empty region body gives a region with no block."""

    @abstractmethod
    def parse_optional_region(
        self, arguments: Sequence[Argument] | None = None
    ) -> Region | None: ...

    @abstractmethod
    def parse_successor(self) -> Block: ...


def ensure_terminator(region: Region, op_name: str, location: Location | None = None) -> None:
    """Add an empty terminator ``op_name`` to each block of ``region`` that lacks one (for
    custom forms that elide ``loop.yield``)."""
    from avalon.ir.traits import Terminator

    for block in region.blocks:
        last = block.last_op
        if last is None or not last.has_trait(Terminator):
            block.append(Operation.create(op_name, location=location))
