"""Parser for MLIR's textual IR: generic and custom op forms, types, attributes, locations.

Every malformed input gives a :class:`~avalon.ir.diagnostics.DiagnosticError` located at the
offending token; no other exception escapes :func:`parse_module`. Values may be used before
they are defined (graph regions, branches to later blocks): a use of an unknown name makes a
typed placeholder that the definition replaces, and names still undefined when their
isolated-from-above scope closes are reported at their first use.

Speed comes from the single-regex lexer (one ``match`` per token), caching types by their text
(``tensor<4x4xf32>`` is built once per file), and lazy source locations.
"""

from __future__ import annotations

import gc
import importlib.util
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from avalon.ir.affine import AffineDimExpr, AffineExpr, AffineMap, AffineSymbolExpr, const
from avalon.ir.asm import Argument, OpAsmParser, UnresolvedOperand
from avalon.ir.attributes import (
    UNIT,
    AffineMapAttr,
    ArrayAttr,
    Attribute,
    DenseArrayAttr,
    DenseElementsAttr,
    DenseResourceAttr,
    DictAttr,
    FloatAttr,
    IntegerAttr,
    OpaqueAttr,
    StridedLayoutAttr,
    StringAttr,
    SymbolRefAttr,
    TypeAttr,
    bool_attr,
    float_from_bits,
)
from avalon.ir.core import (
    OP_REGISTRY,
    Block,
    BlockArgument,
    Operation,
    Region,
    UnregisteredOp,
    Value,
)
from avalon.ir.diagnostics import SOURCES, DiagnosticError
from avalon.ir.lexer import (
    AT_ID,
    AT_STRING,
    BAD_STRING,
    BANG_ID,
    BARE_ID,
    CARET_ID,
    EOF,
    FLOAT,
    HASH_ID,
    HEX,
    INT,
    PUNCT,
    STRING,
    VALUE_ID,
    Lexer,
    SourceLoc,
    unescape_string,
)
from avalon.ir.location import (
    UNKNOWN_LOC,
    CallSiteLoc,
    FileLineColLoc,
    FusedLoc,
    Location,
    NameLoc,
)
from avalon.ir.traits import IsolatedFromAbove
from avalon.ir.types import (
    DYNAMIC,
    FloatType,
    FunctionType,
    IndexType,
    IntegerType,
    MemRefType,
    OpaqueType,
    ShapedType,
    TensorType,
    TupleType,
    Type,
    VectorType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i64,
    index,
    none,
    to_numpy_dtype,
)

#: Nesting limit for regions, types, attributes and locations (keeps us off Python's stack
#: limit, so deep inputs get a located diagnostic rather than a RecursionError).
MAX_NESTING = 96
#: Largest dense constant the parser materialises (elements).
MAX_DENSE_ELEMENTS = 1 << 27
MAX_INT_WIDTH = (1 << 24) - 1

_SIMPLE_TYPES: dict[str, Type] = {
    "f16": f16, "bf16": bf16, "f32": f32, "f64": f64, "index": index, "none": none,
    "i1": i1, "i8": IntegerType(8), "i16": IntegerType(16), "i32": IntegerType(32), "i64": i64,
}
_INT_TYPE_RE = re.compile(r"i(\d+)\Z")
# One level of <...> nesting: enough to recognise tensor<4xf32> and memref<4xf32, strided<[1]>>
# spans for the type cache (a miss just parses normally).
_TYPE_SPAN_RE = re.compile(r"(?:tensor|vector|memref|tuple)<(?:[^<>]|<[^<>]*>)*>")
_DIMS_RE = re.compile(r"\s*((?:(?:\d+|\?)[ \t]*x[ \t]*)*)")
_FUNC_SPAN_RE = re.compile(
    r"\((?:[^()<>{}\"]|<(?:[^<>]|<[^<>]*>)*>)*\)[ \t]*->[ \t]*"
    r"(?:\((?:[^()<>{}\"]|<(?:[^<>]|<[^<>]*>)*>)*\)|[A-Za-z_][\w$.]*(?:<(?:[^<>]|<[^<>]*>)*>)?)"
)
# A generic op without successors, properties, regions or attributes, from its operand list
# through its function type: "(%a, %b) : (f32, f32) -> f32".
_GENERIC_FAST_RE = re.compile(
    r"\(\s*((?:" + r"%(?:\d+|[A-Za-z$._\-][\w$.\-]*)" + r"(?:#\d+)?\s*,\s*)*"
    + r"%(?:\d+|[A-Za-z$._\-][\w$.\-]*)" + r"(?:#\d+)?)?\s*\)[ \t]*:[ \t]*("
    + _FUNC_SPAN_RE.pattern + ")", re.ASCII)
_BODY_RE = re.compile(r'->|[<>\[\](){}"]')
# ": f32" after a number literal, and "key =" in attribute dictionaries.
_COLON_TYPE_RE = re.compile(r"[ \t]*:[ \t]*([A-Za-z_][\w$.]*)(?![\w$.<])", re.ASCII)
_KEY_EQ_RE = re.compile(r"([A-Za-z_][\w$.]*)[ \t]*=[ \t]*", re.ASCII)
_VALUE = r"%(?:\d+|[A-Za-z$._\-][\w$.\-]*)"
# "%x = name" / '%x = "name"': the header of most ops, consumed in one match.
_HEADER_RE = re.compile(
    "(" + _VALUE + r')[ \t]*=[ \t]*(?:([A-Za-z_][\w$.]*)|("(?:[^"\\\n]|\\[^\n])*"))', re.ASCII)
_USE_RE = re.compile(_VALUE + r"(?:#\d+)?", re.ASCII)
# A generic op's operand list "(%a, %b#1)" in one match.
_OPERANDS_RE = re.compile(
    r"\(\s*((?:" + _VALUE + r"(?:#\d+)?\s*,\s*)*" + _VALUE + r"(?:#\d+)?)?\s*\)", re.ASCII)
_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\[^\n])*"')
_TYPE_KEYWORDS = frozenset({"tensor", "vector", "memref", "tuple", "complex"})
_ATTR_KEYWORDS = frozenset({
    "true", "false", "unit", "dense", "dense_resource", "array", "affine_map", "strided",
})
_CLOSE = {"<": ">", "[": "]", "(": ")", "{": "}"}


class _ForwardRef(Value):
    """Stand-in for a value used before its definition; replaced when the definition comes."""

    __slots__ = ("name", "offset")

    def __init__(self, type_: Type, name: str, offset: int) -> None:
        super().__init__(type_)
        self.name = name
        self.offset = offset


class _Scope:
    """Values visible in one isolated-from-above scope, and its pending forward references."""

    __slots__ = ("fwd", "values")

    def __init__(self) -> None:
        self.values: dict[str, list[Value]] = {}
        self.fwd: dict[str, dict[int, _ForwardRef]] = {}


class _BlockRef:
    __slots__ = ("block", "defined", "offset")

    def __init__(self, block: Block, defined: bool, offset: int) -> None:
        self.block = block
        self.defined = defined
        self.offset = offset


def _parse_hook(cls: type[Operation]) -> Callable[[Any], Operation] | None:
    """The custom-form parser of an op class: hand-written hook or compiled format."""
    hook = _HOOKS.get(cls, False)
    if hook is not False:
        return hook
    hook = None
    if not issubclass(cls, UnregisteredOp):
        if (getattr(cls, "parse_custom", None) is not None
                and getattr(cls, "print_custom", None) is not None):
            hook = cls.parse_custom
        elif getattr(cls, "assembly_format", None):
            from avalon.ir.asm_format import compile_format

            hook = compile_format(cls).parse
    _HOOKS[cls] = hook
    return hook


_HOOKS: dict[type, Any] = {}


class Parser(OpAsmParser):
    """Recursive-descent parser over one source buffer; implements :class:`OpAsmParser`."""

    def __init__(self, text: str, filename: str = "<stdin>", *,
                 allow_unregistered: bool = False) -> None:
        self.lexer = Lexer(text, filename)
        self.text = text
        self.filename = filename
        self.allow_unregistered = allow_unregistered
        self._match = self.lexer.match
        self.kind = 0
        self.tok = ""
        self.tend = 0
        self.type_aliases: dict[str, Type] = {}
        self.attr_aliases: dict[str, Attribute] = {}
        self.loc_aliases: dict[str, Location] = {}
        self._deferred_locs: list[tuple[Any, str, int]] = []
        self._type_cache: dict[str, Type] = {}
        self._func_cache: dict[str, tuple[list[Type], list[Type]]] = {}
        self._custom_cache: dict[str, tuple[type[Operation], Any]] = {}
        self._bare_types: dict[str, Type] = dict(_SIMPLE_TYPES)
        self._scope = _Scope()
        self._scopes: list[_Scope] = []
        self._region_names: list[list[str]] = [[]]
        self._shadowed: list[list[tuple[str, list[Value] | None]]] = [[]]
        self._blocks: list[dict[str, _BlockRef]] = [{}]
        self._default_dialect: str | None = None
        self._op_cls: type[Operation] | None = None
        self._depth = 0
        self.result_count = 0
        self.location: Location = UNKNOWN_LOC
        self._advance()

    # ------------------------------------------------------------------------ tokens
    def _advance(self) -> None:
        m = self._match(self.text, self.tend)
        k = m.lastindex
        self.kind = k
        self.tok = m.group(k)
        self.tend = m.end()
        if k >= BAD_STRING:
            self._lex_error()

    @property
    def tstart(self) -> int:
        """Offset of the current token (tokens end where the match ends)."""
        return self.tend - len(self.tok)

    def _jump(self, pos: int) -> None:
        """Continue lexing at ``pos`` (after a span consumed by a raw regex)."""
        self.tend = pos
        self._advance()

    def _span_text(self, start: int) -> str:
        """Source text from ``start`` up to the current token (a just-parsed construct)."""
        return self.text[start:self.tstart].rstrip()

    def _lex_error(self) -> None:
        if self.kind == BAD_STRING:
            raise self._error("expected '\"' in string literal")
        c = self.tok
        names = {"%": "SSA value", "^": "block", "@": "symbol", "#": "attribute alias",
                 "!": "type alias"}
        if c in names:
            raise self._error(f"invalid {names[c]} name after '{c}'")
        shown = c if c.isprintable() and c != "'" else repr(c)
        raise self._error(f"unexpected character '{shown}'")

    def _peek(self) -> tuple[int, str]:
        """Kind and text of the token after the current one, without consuming anything."""
        m = self._match(self.text, self.tend)
        k = m.lastindex
        return k, m.group(k)

    def _error(self, message: str, offset: int | None = None) -> DiagnosticError:
        return self.lexer.error(message, self.tstart if offset is None else offset)

    def _is(self, punct: str) -> bool:
        return self.kind == PUNCT and self.tok == punct

    def _accept(self, punct: str) -> bool:
        if self.kind == PUNCT and self.tok == punct:
            self._advance()
            return True
        return False

    def _expect(self, punct: str, context: str = "") -> None:
        if self.kind == PUNCT and self.tok == punct:
            self._advance()
            return
        raise self._error(f"expected '{punct}'{context}")

    def _describe(self) -> str:
        return "end of file" if self.kind == EOF else f"'{self.tok}'"

    def _string_value(self) -> str:
        try:
            return unescape_string(self.tok[1:-1])
        except ValueError as e:
            offset = self.tstart + 1 + (e.args[1] if len(e.args) > 1 else 0)
            raise self._error(str(e.args[0]), offset) from None

    def _nest(self) -> None:
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise self._error(f"nesting too deep (more than {MAX_NESTING} levels)")

    # ------------------------------------------------------------------------ top level
    def parse_top_level(self) -> list[Operation]:
        """Alias definitions and ops until end of file; returns the top-level ops."""
        block = Block()
        while self.kind != EOF:
            k = self.kind
            if k in (BANG_ID, HASH_ID):
                nk, nt = self._peek()
                if nk == PUNCT and nt == "=":
                    self._parse_alias_definition()
                    continue
            self._parse_operation(block)
        self._finish_scope(self._scope)
        self._check_blocks(self._blocks[-1])
        self._resolve_deferred_locs()
        ops = list(block.ops)
        for op in ops:
            op.detach()
        return ops

    def _parse_alias_definition(self) -> None:
        is_type = self.kind == BANG_ID
        name = self.tok[1:]
        start = self.tstart
        self._advance()
        self._expect("=")
        if is_type:
            if name in self.type_aliases:
                raise self._error(f"redefinition of type alias id '{name}'", start)
            self.type_aliases[name] = self.parse_type()
            return
        if name in self.attr_aliases or name in self.loc_aliases:
            raise self._error(f"redefinition of attribute alias id '{name}'", start)
        if self.kind == BARE_ID and self.tok == "loc":
            self.loc_aliases[name] = self._parse_loc()
        else:
            self.attr_aliases[name] = self.parse_attribute()

    def _resolve_deferred_locs(self) -> None:
        for target, name, offset in self._deferred_locs:
            loc = self.loc_aliases.get(name)
            if loc is None:
                raise self._error(f"operation location alias '#{name}' was never defined",
                                  offset)
            target.location = loc

    # ------------------------------------------------------------------------ operations
    def _parse_operation(self, block: Block) -> Operation:
        start = self.tend - len(self.tok)
        m = _HEADER_RE.match(self.text, start) if self.kind == VALUE_ID else None
        if m is None:
            return self._parse_operation_general(block, start)
        # Fast path: "%x = name ..." with a single result, the shape of most ops.
        name = m.group(2)
        self.tend = m.end()
        if name is not None:
            self.kind = BARE_ID
            self.tok = name
            op = self._parse_custom_op(1)
        else:
            self.kind = STRING
            self.tok = m.group(3)
            op = self._parse_generic_op(1)
        results = op.results
        if len(results) != 1:
            raise self._error(f"operation defines {len(results)} results but was provided 1 "
                              "to bind", start)
        if self.kind == BARE_ID and self.tok == "loc":
            self._parse_trailing_loc(op)
        block.append(op)
        value = m.group(1)
        scope = self._scope
        if value in scope.values or scope.fwd:
            self._define(value, results, start)
        else:
            scope.values[value] = results
            self._region_names[-1].append(value)
        return op

    def _parse_operation_general(self, block: Block, start: int) -> Operation:
        groups: list[tuple[str, int, int]] = []
        nres = 0
        if self.kind == VALUE_ID:
            while True:
                if self.kind != VALUE_ID:
                    raise self._error("expected SSA value name")
                name = self.tok
                if "#" in name:
                    raise self._error("expected result name without '#' suffix")
                off = self.tstart
                self._advance()
                count = 1
                if self.kind == PUNCT and self.tok == ":":
                    self._advance()
                    if self.kind != INT:
                        raise self._error("expected integer number of results")
                    count = int(self.tok)
                    if count < 1:
                        raise self._error("expected named operation to have at least 1 result")
                    self._advance()
                groups.append((name, count, off))
                nres += count
                if not self._accept(","):
                    break
            self._expect("=", " after SSA names")
        kind = self.kind
        if kind == STRING:
            op = self._parse_generic_op(nres)
        elif kind == BARE_ID:
            op = self._parse_custom_op(nres)
        else:
            raise self._error("expected operation name in quotes" if not groups
                              else "expected operation name")
        if len(op.results) != nres and groups:
            raise self._error(f"operation defines {len(op.results)} results but was "
                              f"provided {nres} to bind", start)
        if self.kind == BARE_ID and self.tok == "loc":
            self._parse_trailing_loc(op)
        block.append(op)
        if groups:
            results = op.results
            i = 0
            for name, count, off in groups:
                self._define(name, results[i:i + count], off)
                i += count
        return op

    def _parse_generic_op(self, nres: int) -> Operation:
        tok = self.tok
        name_start = self.tend - len(tok)
        name = tok[1:-1]
        if "\\" in name:
            name = self._string_value()
        cls = OP_REGISTRY.get(name)
        if cls is None and not self.allow_unregistered:
            raise self._error(f"unregistered operation '{name}'")
        if not name:
            raise self._error("empty operation name")
        m = _GENERIC_FAST_RE.match(self.text, self.tend)
        if m is not None:
            inner = m.group(1)
            hint = m.start()
            uses = [(u, hint) for u in _USE_RE.findall(inner)] if inner else []
            signature = self._func_cache.get(m.group(2))
            if signature is None:
                self._jump(m.start(2))
                signature = self._parse_op_function_type()
            else:
                self._jump(m.end())
            return self._finish_generic(name, name_start, cls, uses, signature, nres,
                                        {}, [], [], m.start(2))
        uses = []
        m = _OPERANDS_RE.match(self.text, self.tend)
        if m is not None:  # the common case: one regex match for the whole list
            inner = m.group(1)
            if inner:
                hint = m.start()
                uses = [(u.strip(), hint) for u in inner.split(",")]
            self._jump(m.end())
        else:
            self._advance()
            self._expect("(", " to start operand list")
            if not (self.kind == PUNCT and self.tok == ")"):
                while True:
                    if self.kind != VALUE_ID:
                        raise self._error("expected SSA operand")
                    uses.append((self.tok, self.tstart))
                    self._advance()
                    if self.kind == PUNCT and self.tok == ",":
                        self._advance()
                        continue
                    break
            self._expect(")", " to end operand list")
        successors: list[Block] = []
        attrs: dict[str, Attribute] = {}
        regions: list[Region] = []
        if self.kind == PUNCT:
            if self.tok == "[":
                self._advance()
                while True:
                    successors.append(self.parse_successor())
                    if not self._accept(","):
                        break
                self._expect("]", " to end successor list")
            if self.kind == PUNCT and self.tok == "<":
                self._advance()
                if not self._is("{"):
                    raise self._error("expected '{' to start properties")
                self._parse_attr_dict_into(attrs)
                self._expect(">", " to end properties")
            if self.kind == PUNCT and self.tok == "(":
                self._advance()
                saved = self._op_cls
                self._op_cls = cls
                try:
                    while True:
                        regions.append(self._parse_region_for(cls, None, False))
                        if not self._accept(","):
                            break
                finally:
                    self._op_cls = saved
                self._expect(")", " to end region list")
            if self.kind == PUNCT and self.tok == "{":
                self._parse_attr_dict_into(attrs)
        if not (self.kind == PUNCT and self.tok == ":"):
            raise self._error("expected ':' followed by operation type")
        self._advance()
        type_start = self.tstart
        signature = self._parse_op_function_type()
        return self._finish_generic(name, name_start, cls, uses, signature, nres, attrs,
                                    regions, successors, type_start)

    def _finish_generic(self, name: str, name_start: int, cls: type[Operation] | None,
                        uses: list[tuple[str, int]],
                        signature: tuple[list[Type], list[Type]], nres: int,
                        attrs: dict[str, Attribute], regions: list[Region],
                        successors: list[Block], type_start: int) -> Operation:
        in_types, out_types = signature
        if len(in_types) != len(uses):
            raise self._error(f"expected {len(uses)} operand type{'s' if len(uses) != 1 else ''}"
                              f" but had {len(in_types)}", type_start)
        resolve = self._resolve
        operands = [resolve(u[0], t, u[1]) for u, t in zip(uses, in_types)]
        loc = SourceLoc(self.lexer, name_start)
        if cls is None:
            return UnregisteredOp(name, operands, out_types, attrs, regions, successors, loc)
        return cls(operands, out_types, attrs, regions, successors, loc)

    def _parse_op_function_type(self) -> tuple[list[Type], list[Type]]:
        """``(t1, t2) -> r`` of a generic op, cached by its text."""
        if not (self.kind == PUNCT and self.tok == "("):
            raise self._error("expected function type")
        start = self.tstart
        m = _FUNC_SPAN_RE.match(self.text, start)
        if m is not None:
            hit = self._func_cache.get(m.group())
            if hit is not None:
                self._jump(m.end())
                return hit
        self._advance()
        ins = self._parse_type_list_until(")")
        self._expect("->", " in function type")
        outs = self._parse_function_results()
        self._func_cache[self._span_text(start)] = (ins, outs)
        return ins, outs

    def _parse_type_list_until(self, close: str) -> list[Type]:
        types: list[Type] = []
        if self.kind == PUNCT and self.tok == close:
            self._advance()
            return types
        while True:
            types.append(self.parse_type())
            if self.kind == PUNCT and self.tok == ",":
                self._advance()
                continue
            break
        self._expect(close)
        return types

    def _parse_function_results(self) -> list[Type]:
        if self.kind == PUNCT and self.tok == "(":
            self._advance()
            return self._parse_type_list_until(")")
        return [self.parse_type()]

    def _lookup_custom(self, name: str) -> type[Operation] | None:
        cls = OP_REGISTRY.get(name)
        if cls is not None:
            return cls
        if "." not in name:
            if self._default_dialect:
                cls = OP_REGISTRY.get(f"{self._default_dialect}.{name}")
                if cls is not None:
                    return cls
            return OP_REGISTRY.get(f"builtin.{name}")
        return None

    def _parse_custom_op(self, nres: int) -> Operation:
        name = self.tok
        start = self.tend - len(name)
        entry = self._custom_cache.get(name)
        if entry is None:
            cls = self._lookup_custom(name)
            if cls is None:
                raise self._error(f"custom op '{name}' is unknown")
            hook = _parse_hook(cls)
            if hook is None:
                raise self._error(f"op '{cls.name}' has no custom assembly form; use the "
                                  "generic form")
            if "." in name:  # dotted names do not depend on the default dialect
                self._custom_cache[name] = (cls, hook)
        else:
            cls, hook = entry
        saved = (self.result_count, self.location, self._op_cls)
        self.result_count = nres
        self.location = SourceLoc(self.lexer, start)
        self._op_cls = cls
        self._advance()
        try:
            op = hook(self)
        except DiagnosticError:
            raise
        except RecursionError:
            raise self._error(f"nesting too deep (more than {MAX_NESTING} levels)") from None
        except Exception as e:
            raise self._error(f"failed to parse custom form of '{cls.name}': {e}") from None
        finally:
            self.result_count, self.location, self._op_cls = saved
        if not isinstance(op, Operation) or op.parent is not None:
            raise self._error(f"custom parser of '{cls.name}' did not return a new operation",
                              start)
        return op

    # ------------------------------------------------------------------------ values
    def _define(self, name: str, values: Sequence[Value], offset: int,
                shadow: bool = False) -> None:
        scope = self._scope
        table = scope.values
        old = table.get(name)
        if old is not None:
            if not shadow:
                raise self._error(f"redefinition of SSA value '{name}'", offset)
            self._shadowed[-1].append((name, old))
        else:
            self._region_names[-1].append(name)
        table[name] = values if isinstance(values, list) else list(values)
        fwd = scope.fwd.pop(name, None) if scope.fwd else None
        if fwd:
            n = len(values)
            for number, ph in sorted(fwd.items()):
                if number >= n:
                    raise self._error(f"reference to invalid result number {number} of "
                                      f"'{name}'", ph.offset)
                actual = values[number]
                if ph.type != actual.type:
                    ref = name if n == 1 else f"{name}#{number}"
                    raise self._error(f"definition of SSA value '{ref}' has type "
                                      f"'{actual.type}' but was previously used with type "
                                      f"'{ph.type}'", offset)
                ph.replace_all_uses_with(actual)

    def _use_offset(self, tok: str, hint: int) -> int:
        """Exact offset of the use ``tok`` at or after ``hint`` (computed only when needed)."""
        m = re.compile(re.escape(tok) + r"(?![\w$.\-#])").search(self.text, hint)
        return m.start() if m is not None else hint

    def _resolve(self, tok: str, type_: Type, offset: int) -> Value:
        """Value named by the use token ``%x`` / ``%x#k``, which must have ``type_``;
        ``offset`` is where the use is, or a position shortly before it."""
        if "#" in tok:
            name, _, num = tok.partition("#")
            number = int(num)
        else:
            name, number = tok, 0
        vals = self._scope.values.get(name)
        if vals is not None:
            if number >= len(vals):
                raise self._error(f"reference to invalid result number {number} of '{name}'",
                                  self._use_offset(tok, offset))
            v = vals[number]
            vt = v.type
            if vt is not type_ and vt != type_:
                raise self._error(f"use of value '{tok}' expects different type than prior "
                                  f"uses: '{type_}' vs '{vt}'", self._use_offset(tok, offset))
            return v
        fwd = self._scope.fwd.get(name)
        if fwd is None:
            fwd = self._scope.fwd[name] = {}
        ph = fwd.get(number)
        if ph is None:
            ph = fwd[number] = _ForwardRef(type_, tok, self._use_offset(tok, offset))
        elif ph.type != type_:
            raise self._error(f"use of value '{tok}' expects different type than prior uses: "
                              f"'{type_}' vs '{ph.type}'", self._use_offset(tok, offset))
        return ph

    def _finish_scope(self, scope: _Scope) -> None:
        for fwd in scope.fwd.values():
            for ph in fwd.values():
                raise self._error(f"use of undeclared SSA value name '{ph.name}'", ph.offset)

    # ------------------------------------------------------------------------ regions
    def _parse_region_for(self, cls: type[Operation] | None, arguments: Sequence[Argument] | None,
                          shadow: bool) -> Region:
        isolated = cls is not None and IsolatedFromAbove in cls._trait_types
        dd = cls.default_dialect if cls is not None else None
        if not (self.kind == PUNCT and self.tok == "{"):
            raise self._error("expected '{' to begin a region")
        self._nest()
        saved_dd = self._default_dialect
        if dd is not None:
            self._default_dialect = dd
        if isolated:
            self._scopes.append(self._scope)
            self._scope = _Scope()
        self._region_names.append([])
        self._shadowed.append([])
        self._blocks.append({})
        region = Region()
        try:
            self._advance()
            self._parse_region_body(region, arguments, shadow)
            self._check_blocks(self._blocks[-1])
            if isolated:
                self._finish_scope(self._scope)
        finally:
            self._blocks.pop()
            names = self._region_names.pop()
            shadowed = self._shadowed.pop()
            if isolated:
                self._scope = self._scopes.pop()
            else:
                table = self._scope.values
                for name in names:
                    table.pop(name, None)
                for name, old in reversed(shadowed):
                    table[name] = old
            self._default_dialect = saved_dd
            self._depth -= 1
        return region

    def _parse_region_body(self, region: Region, arguments: Sequence[Argument] | None,
                           shadow: bool) -> None:
        if arguments is not None:
            entry = Block()
            for a in arguments:
                if a.type is None:
                    raise self._error("region argument without a type")
                self._add_block_arg(entry, a, shadow)
            region.add_block(entry)
            if self.kind == CARET_ID:
                raise self._error("invalid block name in region with named arguments")
            self._parse_block_ops(entry)
        elif not (self.kind == PUNCT and self.tok == "}") and self.kind != CARET_ID:
            entry = region.add_block(Block())
            self._parse_block_ops(entry)
        while self.kind == CARET_ID:
            block = self._parse_block_label()
            region.add_block(block)
            self._parse_block_ops(block)
        if not (self.kind == PUNCT and self.tok == "}"):
            raise self._error("expected '}' to end region")
        self._advance()

    def _parse_block_ops(self, block: Block) -> None:
        parse_op = self._parse_operation
        while True:
            k = self.kind
            if (k == PUNCT and self.tok == "}") or k == CARET_ID:
                return
            if k == EOF:
                raise self._error("expected '}' to end region")
            parse_op(block)

    def _parse_block_label(self) -> Block:
        name = self.tok
        offset = self.tstart
        blocks = self._blocks[-1]
        ref = blocks.get(name)
        if ref is None:
            ref = blocks[name] = _BlockRef(Block(), True, offset)
        elif ref.defined:
            raise self._error(f"redefinition of block '{name}'")
        else:
            ref.defined = True
        block = ref.block
        self._advance()
        if self._accept("(") and not self._accept(")"):
            while True:
                self._add_block_arg(block, self.parse_argument(), False)
                if not self._accept(","):
                    break
            self._expect(")", " to end argument list")
        self._expect(":", " after block name")
        return block

    def _add_block_arg(self, block: Block, a: Argument, shadow: bool) -> BlockArgument:
        loc = a.location if a.location is not None else a.operand.location
        deferred = isinstance(loc, _DeferredLoc)
        ba = block.add_argument(a.type, UNKNOWN_LOC if deferred else loc)
        if deferred:
            for i, (t, name, off) in enumerate(self._deferred_locs):
                if t is loc.holder:  # type: ignore[union-attr]
                    self._deferred_locs[i] = (ba, name, off)
        self._define(a.operand.name, [ba], _offset_of(a.operand.location, self.tstart), shadow)
        return ba

    def _check_blocks(self, blocks: dict[str, _BlockRef]) -> None:
        for name, ref in blocks.items():
            if not ref.defined:
                raise self._error(f"reference to an undefined block '{name}'", ref.offset)

    # ------------------------------------------------------------------------ locations
    def _parse_trailing_loc(self, target: Any) -> None:
        """``loc(...)`` after an op or block argument; ``loc(#alias)`` may be defined later."""
        self._advance()
        self._expect("(", " in location")
        if self.kind == HASH_ID:
            name = self.tok[1:]
            loc = self.loc_aliases.get(name)
            if loc is None:
                if name in self.attr_aliases:
                    raise self._error(f"expected location, but '#{name}' is an attribute")
                self._deferred_locs.append((target, name, self.tstart))
                loc = UNKNOWN_LOC
            self._advance()
        else:
            loc = self._parse_loc_body()
        self._expect(")", " to end location")
        target.location = loc

    def _parse_loc(self) -> Location:
        if not (self.kind == BARE_ID and self.tok == "loc"):
            raise self._error("expected location")
        self._advance()
        self._expect("(", " in location")
        loc = self._parse_loc_body()
        self._expect(")", " to end location")
        return loc

    def _parse_loc_body(self) -> Location:
        self._nest()
        try:
            k = self.kind
            if k == BARE_ID:
                word = self.tok
                if word == "unknown":
                    self._advance()
                    return UNKNOWN_LOC
                if word == "callsite":
                    self._advance()
                    self._expect("(", " in callsite location")
                    callee = self._parse_loc_body()
                    if not (self.kind == BARE_ID and self.tok == "at"):
                        raise self._error("expected 'at' in callsite location")
                    self._advance()
                    caller = self._parse_loc_body()
                    self._expect(")", " in callsite location")
                    return CallSiteLoc(callee, caller)
                if word == "fused":
                    self._advance()
                    if self._is("<"):
                        raise self._error("fused location metadata is not supported")
                    self._expect("[", " in fused location")
                    locs: list[Location] = []
                    if not self._accept("]"):
                        while True:
                            locs.append(self._parse_loc_body())
                            if not self._accept(","):
                                break
                        self._expect("]", " in fused location")
                    return FusedLoc(tuple(locs))
                raise self._error(f"expected location instead of '{word}'")
            if k == STRING:
                name = self._string_value()
                self._advance()
                if self._accept(":"):
                    if self.kind != INT:
                        raise self._error("expected integer line number in location")
                    line = int(self.tok)
                    self._advance()
                    self._expect(":", " in location")
                    if self.kind != INT:
                        raise self._error("expected integer column number in location")
                    col = int(self.tok)
                    self._advance()
                    return FileLineColLoc(name, line, col)
                if self._accept("("):
                    child = self._parse_loc_body()
                    self._expect(")", " in name location")
                    return NameLoc(name, child)
                return NameLoc(name)
            if k == HASH_ID:
                name = self.tok[1:]
                loc = self.loc_aliases.get(name)
                if loc is None:
                    raise self._error(f"undefined location alias '#{name}'")
                self._advance()
                return loc
            raise self._error("expected location")
        finally:
            self._depth -= 1

    # ------------------------------------------------------------------------ types
    def parse_type(self) -> Type:
        k = self.kind
        if k == BARE_ID:
            t = self._bare_types.get(self.tok)
            if t is not None:
                self._advance()
                return t
            return self._parse_keyword_type()
        if k == PUNCT and self.tok == "(":
            return self._parse_function_type()
        if k == BANG_ID:
            return self._parse_bang_type()
        raise self._error("expected type")

    def parse_optional_type(self) -> Type | None:
        if self._at_type():
            return self.parse_type()
        return None

    def _at_type(self) -> bool:
        k = self.kind
        if k == BARE_ID:
            tok = self.tok
            return (tok in self._bare_types or tok in _TYPE_KEYWORDS
                    or _INT_TYPE_RE.match(tok) is not None)
        return k == BANG_ID or (k == PUNCT and self.tok == "(")

    def _parse_keyword_type(self) -> Type:
        tok = self.tok
        if tok in _TYPE_KEYWORDS:
            start = self.tstart
            m = _TYPE_SPAN_RE.match(self.text, start)
            if m is not None:
                t = self._type_cache.get(m.group())
                if t is not None:
                    self._jump(m.end())
                    return t
            self._nest()
            try:
                t = self._parse_container_type(tok)
            finally:
                self._depth -= 1
            self._type_cache[self._span_text(start)] = t
            return t
        m = _INT_TYPE_RE.match(tok)
        if m is not None:
            width = int(m.group(1))
            if width > MAX_INT_WIDTH:
                raise self._error(f"integer bitwidth is limited to {MAX_INT_WIDTH} bits")
            t = self._bare_types[tok] = IntegerType(width)
            self._advance()
            return t
        raise self._error(f"unknown type '{tok}'")

    def _parse_container_type(self, keyword: str) -> Type:
        self._advance()
        if not (self.kind == PUNCT and self.tok == "<"):
            raise self._error(f"expected '<' in {keyword} type")
        if keyword == "tuple":
            self._advance()
            types = self._parse_type_list_until(">")
            return TupleType(tuple(types))
        if keyword == "complex":
            raise self._error("complex types are not supported")
        m = _DIMS_RE.match(self.text, self.tend)
        dims_text = m.group(1)
        dims_start = m.start(1)
        shape: list[int] = []
        if dims_text:
            for d in dims_text.split("x")[:-1]:
                d = d.strip()
                shape.append(DYNAMIC if d == "?" else int(d))
        self._jump(m.end())
        if self.kind == PUNCT and self.tok == "*":
            raise self._error(f"unranked {keyword} types are not supported")
        if self.kind == PUNCT and self.tok == "[":
            raise self._error("scalable vector dimensions are not supported")
        elem = self.parse_type()
        if keyword == "tensor":
            self._expect(">", " to end tensor type")
            return TensorType(tuple(shape), elem)
        if keyword == "vector":
            if DYNAMIC in shape:
                raise self._error("vector types must have static shape",
                                  dims_start + dims_text.index("?"))
            self._expect(">", " to end vector type")
            return VectorType(tuple(shape), elem)
        layout: Attribute | None = None
        space: Attribute | None = None
        while self._accept(","):
            a = self.parse_attribute()
            is_layout = isinstance(a, StridedLayoutAttr | AffineMapAttr)
            if is_layout and layout is None and space is None:
                layout = a
            elif space is None:
                space = a
            else:
                raise self._error("expected '>' to end memref type")
        self._expect(">", " to end memref type")
        return MemRefType(tuple(shape), elem, layout, space)

    def _parse_function_type(self) -> FunctionType:
        self._nest()
        try:
            self._advance()
            ins = self._parse_type_list_until(")")
            self._expect("->", " in function type")
            outs = self._parse_function_results()
            return FunctionType(tuple(ins), tuple(outs))
        finally:
            self._depth -= 1

    def _parse_bang_type(self) -> Type:
        name = self.tok[1:]
        t = self.type_aliases.get(name)
        if t is not None:
            self._advance()
            return t
        dialect, data = self._dialect_symbol(name, "type")
        return OpaqueType(dialect, data)

    def _dialect_symbol(self, name: str, what: str) -> tuple[str, str]:
        """Dialect name and body text of ``!dialect.name<...>`` / ``#dialect.name<...>``."""
        if "." not in name:
            if self.tend < len(self.text) and self.text[self.tend] == "<":
                raise self._error(f"dialect {what}s without a '.' in their name are not "
                                  "supported")
            raise self._error(f"undefined symbol alias id '{name}'")
        dialect, rest = name.split(".", 1)
        if not rest:
            raise self._error(f"expected {what} name after '{dialect}.'")
        text = self.text
        if self.tend < len(text) and text[self.tend] == "<":
            end = self._scan_balanced(self.tend)
            data = rest + text[self.tend:end]
            self._jump(end)
        else:
            data = rest
            self._advance()
        return dialect, data

    def _scan_balanced(self, pos: int) -> int:
        """End offset of the bracketed body starting at ``text[pos] == '<'``."""
        text = self.text
        stack = [">"]
        p = pos + 1
        search = _BODY_RE.search
        while stack:
            m = search(text, p)
            if m is None:
                raise self._error(f"unbalanced '{text[pos]}' in dialect symbol body", pos)
            c = m.group()
            p = m.end()
            if c == "->":
                continue
            if c == '"':
                sm = _STRING_RE.match(text, m.start())
                if sm is None:
                    raise self._error("expected '\"' in string literal", m.start())
                p = sm.end()
            elif c in _CLOSE:
                stack.append(_CLOSE[c])
            elif c == stack[-1]:
                stack.pop()
            else:
                raise self._error(f"unbalanced '{c}' in dialect symbol body", m.start())
        return p

    # ------------------------------------------------------------------------ attributes
    def parse_attribute(self, type_: Type | None = None) -> Attribute:
        k = self.kind
        if k == BARE_ID:
            tok = self.tok
            if tok in _ATTR_KEYWORDS:
                return self._parse_keyword_attr(tok, type_)
            if tok in self._bare_types or tok in _TYPE_KEYWORDS or _INT_TYPE_RE.match(tok):
                return TypeAttr(self.parse_type())
            raise self._error("expected attribute value")
        if k in (INT, FLOAT, HEX) or (k == PUNCT and self.tok == "-"):
            return self._parse_number_attr(type_)
        if k == STRING:
            value = self._string_value()
            self._advance()
            return StringAttr(value)
        if k == PUNCT:
            tok = self.tok
            if tok == "[":
                return self._parse_array_attr()
            if tok == "{":
                items: dict[str, Attribute] = {}
                self._nest()
                try:
                    self._parse_attr_dict_into(items)
                finally:
                    self._depth -= 1
                return DictAttr(tuple(items.items()))
            if tok == "(":
                return TypeAttr(self._parse_function_type())
        if k in (AT_ID, AT_STRING):
            return self._parse_symbol_ref()
        if k == HASH_ID:
            name = self.tok[1:]
            a = self.attr_aliases.get(name)
            if a is not None:
                self._advance()
                return a
            if name in self.loc_aliases:
                raise self._error(f"'#{name}' is a location, not an attribute")
            dialect, data = self._dialect_symbol(name, "attribute")
            return OpaqueAttr(dialect, data)
        if k == BANG_ID:
            return TypeAttr(self.parse_type())
        raise self._error("expected attribute value")

    def parse_optional_attribute(self, type_: Type | None = None) -> Attribute | None:
        k = self.kind
        if k == BARE_ID:
            tok = self.tok
            if not (tok in _ATTR_KEYWORDS or tok in self._bare_types or tok in _TYPE_KEYWORDS
                    or _INT_TYPE_RE.match(tok)):
                return None
        elif k == PUNCT:
            if self.tok not in ("[", "{", "(", "-"):
                return None
        elif k not in (INT, FLOAT, HEX, STRING, AT_ID, AT_STRING, HASH_ID, BANG_ID):
            return None
        return self.parse_attribute(type_)

    def _parse_number_attr(self, type_: Type | None) -> Attribute:
        start = self.tstart
        neg = False
        if self.kind == PUNCT:
            neg = True
            self._advance()
        k = self.kind
        if k not in (INT, FLOAT, HEX):
            raise self._error("expected integer or float literal after '-'")
        text = self.tok
        if type_ is None:
            m = _COLON_TYPE_RE.match(self.text, self.tend)
            if m is not None and m.group(1) in self._bare_types:
                type_ = self._bare_types[m.group(1)]
                self._jump(m.end())
            else:
                self._advance()
                if self.kind == PUNCT and self.tok == ":":
                    self._advance()
                    type_ = self.parse_type()
        else:
            self._advance()
        if k == FLOAT:
            if type_ is None:
                type_ = f64
            if not isinstance(type_, FloatType):
                raise self._error("floating point value not valid for specified type", start)
            value = float(text)
            return FloatAttr(-value if neg else value, type_)
        value = self._int(text, k, start)
        if isinstance(type_, FloatType):
            if k != HEX:
                raise self._error("unexpected decimal integer literal for a floating point "
                                  "value; add a trailing dot to make it a float", start)
            if neg:
                raise self._error("hexadecimal float literal should not have a leading minus",
                                  start)
            if value >> type_.width:
                raise self._error(f"hexadecimal float constant out of range for type "
                                  f"'{type_}'", start)
            return FloatAttr(float_from_bits(value, type_), type_)
        if neg:
            value = -value
        if type_ is None:
            type_ = i64
        if not isinstance(type_, IntegerType | IndexType):
            raise self._error(f"integer literal not valid for type '{type_}'", start)
        _check_int_range(self, value, type_, start)
        return IntegerAttr(value, type_)

    def _int(self, text: str, kind: int, offset: int) -> int:
        try:
            return int(text, 16) if kind == HEX else int(text)
        except ValueError:  # more digits than Python converts (integer string conversion)
            raise self._error(f"integer literal with {len(text)} digits is too large",
                              offset) from None

    def _parse_keyword_attr(self, tok: str, type_: Type | None) -> Attribute:
        if tok == "true" or tok == "false":
            self._advance()
            return bool_attr(tok == "true")
        if tok == "unit":
            self._advance()
            return UNIT
        self._nest()
        try:
            if tok == "dense":
                return self._parse_dense()
            if tok == "dense_resource":
                return self._parse_dense_resource()
            if tok == "array":
                return self._parse_dense_array()
            if tok == "affine_map":
                self._advance()
                self._expect("<", " in affine map")
                amap = self._parse_affine_map()
                self._expect(">", " to end affine map")
                return AffineMapAttr(amap)
            return self._parse_strided()
        finally:
            self._depth -= 1

    def _parse_array_attr(self) -> ArrayAttr:
        self._nest()
        try:
            self._advance()
            elems: list[Attribute] = []
            if not self._accept("]"):
                while True:
                    elems.append(self.parse_attribute())
                    if not self._accept(","):
                        break
                self._expect("]", " to end array attribute")
            return ArrayAttr(tuple(elems))
        finally:
            self._depth -= 1

    def _parse_attr_dict_into(self, attrs: dict[str, Attribute]) -> None:
        """``{k = v, flag}`` at the current ``{`` into ``attrs`` (duplicate keys are errors)."""
        self._advance()
        if self._accept("}"):
            return
        text = self.text
        while True:
            k = self.kind
            if k == BARE_ID:
                key = self.tok
                m = _KEY_EQ_RE.match(text, self.tend - len(key))
                if m is not None:  # "key = value" without a separate token for "="
                    if key in attrs:
                        raise self._error(f"duplicate key '{key}' in dictionary attribute")
                    self._jump(m.end())
                    attrs[key] = self.parse_attribute()
                    if self.kind == PUNCT:
                        if self.tok == ",":
                            self._advance()
                            continue
                        if self.tok == "}":
                            self._advance()
                            return
                    raise self._error("expected ',' or '}' in attribute dictionary")
            elif k == STRING:
                key = self._string_value()
            else:
                raise self._error("expected attribute name")
            if key in attrs:
                raise self._error(f"duplicate key '{key}' in dictionary attribute")
            self._advance()
            if self.kind == PUNCT and self.tok == "=":
                self._advance()
                attrs[key] = self.parse_attribute()
            else:
                attrs[key] = UNIT
            if self.kind == PUNCT:
                if self.tok == ",":
                    self._advance()
                    continue
                if self.tok == "}":
                    self._advance()
                    return
            raise self._error("expected ',' or '}' in attribute dictionary")

    def _parse_symbol_ref(self) -> SymbolRefAttr:
        names = [self._symbol_token()]
        while self.kind == PUNCT and self.tok == "::":
            self._advance()
            if self.kind not in (AT_ID, AT_STRING):
                raise self._error("expected nested symbol reference identifier")
            names.append(self._symbol_token())
        return SymbolRefAttr(names[0], tuple(names[1:]))

    def _symbol_token(self) -> str:
        if self.kind == AT_STRING:
            self.tok = self.tok[1:]
            name = self._string_value()
        else:
            name = self.tok[1:]
        self._advance()
        return name

    def _parse_dense_resource(self) -> DenseResourceAttr:
        self._advance()
        self._expect("<", " in dense_resource")
        if self.kind == BARE_ID:
            handle = self.tok
        elif self.kind == STRING:
            handle = self._string_value()
        else:
            raise self._error("expected resource handle name")
        self._advance()
        self._expect(">", " to end dense_resource")
        self._expect(":", " after dense_resource")
        type_start = self.tstart
        t = self.parse_type()
        if not isinstance(t, ShapedType):
            raise self._error("dense_resource needs a shaped type", type_start)
        return DenseResourceAttr(handle, t)

    def _parse_dense(self) -> DenseElementsAttr:
        self._advance()
        self._expect("<", " in dense elements attribute")
        hex_text: str | None = None
        hex_offset = 0
        values: list[Any] = []
        shape: tuple[int, ...] | None = None
        if self.kind == STRING:
            hex_offset = self.tstart
            hex_text = self._string_value()
            self._advance()
        elif not self._is(">"):
            shape = self._parse_dense_literal(values)
        self._expect(">", " to end dense elements attribute")
        self._expect(":", " after dense elements attribute")
        type_start = self.tstart
        t = self.parse_type()
        if not isinstance(t, TensorType | VectorType) or not t.has_static_shape:
            raise self._error("elements literal type must be a static tensor or vector type",
                              type_start)
        et = t.element_type
        if not isinstance(et, IntegerType | IndexType | FloatType):
            raise self._error(f"unsupported dense element type '{et}'", type_start)
        n = t.num_elements
        if n > MAX_DENSE_ELEMENTS:
            raise self._error(f"dense elements attribute with {n} elements is too large",
                              type_start)
        if hex_text is not None:
            return _dense_from_hex(self, hex_text, t, hex_offset)
        if shape is None:
            if n != 0:
                raise self._error(f"empty elements literal does not match type '{t}'",
                                  type_start)
            return DenseElementsAttr(np.zeros(t.shape), t)
        is_float = isinstance(et, FloatType)
        for v, off in values:
            if isinstance(v, float) and not is_float:
                raise self._error("expected integer elements, but parsed floating-point", off)
            if isinstance(v, bool) and is_float:
                raise self._error("expected floating-point elements, but parsed boolean", off)
            if isinstance(v, int) and not isinstance(v, bool) and not is_float:
                _check_int_range(self, v, et, off)
        if is_float:
            flat = [self._float_element(v, et, off) for v, off in values]  # type: ignore[arg-type]
        else:
            flat = [v for v, _ in values]
        if shape == () and len(flat) == 1:
            shape = ()  # a splat: broadcast by DenseElementsAttr
        elif not flat and n == 0:
            shape = t.shape  # "[]" (or "[[], []]") for any zero-element type
        elif shape != t.shape:
            raise self._error(f"inferred shape of elements literal ({list(shape)}) does not "
                              f"match type ({list(t.shape)})", type_start)
        if is_float:
            arr = np.array(flat, dtype=np.float64).reshape(shape)
        else:
            arr = np.array([int(v) for v in flat], dtype=object).reshape(shape)
            arr = _wrap_ints(arr, to_numpy_dtype(et))
        return DenseElementsAttr(arr, t)

    def _parse_dense_literal(self, out: list[tuple[Any, int]]) -> tuple[int, ...]:
        """One element or nested list; appends (value, offset) and returns the shape."""
        if self.kind == PUNCT and self.tok == "[":
            self._nest()
            try:
                self._advance()
                if self._accept("]"):
                    return (0,)
                sub = self._parse_dense_literal(out)
                count = 1
                while self._accept(","):
                    other_start = self.tstart
                    if self._parse_dense_literal(out) != sub:
                        raise self._error("tensor literal is invalid; ranks are not consistent "
                                          "between elements", other_start)
                    count += 1
                self._expect("]", " to end tensor literal")
                return (count, *sub)
            finally:
                self._depth -= 1
        out.append(self._parse_scalar_literal())
        return ()

    def _parse_scalar_literal(self) -> tuple[Any, int]:
        start = self.tstart
        k = self.kind
        if k == BARE_ID and self.tok in ("true", "false"):
            v = self.tok == "true"
            self._advance()
            return v, start
        neg = False
        if k == PUNCT and self.tok == "-":
            neg = True
            self._advance()
            k = self.kind
        if k == FLOAT:
            v = float(self.tok)
            self._advance()
            return (-v if neg else v), start
        if k in (INT, HEX):
            iv = self._int(self.tok, k, self.tstart)
            self._advance()
            if k == HEX and not neg:
                return _HexBits(iv), start  # a float element's bit pattern, or an integer
            return (-iv if neg else iv), start
        raise self._error("expected element literal of primitive type")

    def _float_element(self, v: Any, type_: FloatType, offset: int) -> float:
        """A float element from a literal: hex literals are bit patterns (NaN, inf)."""
        if isinstance(v, _HexBits):
            if v >> type_.width:
                raise self._error(f"hexadecimal float constant out of range for type "
                                  f"'{type_}'", offset)
            return float_from_bits(int(v), type_)
        return float(v)

    def _parse_dense_array(self) -> DenseArrayAttr:
        self._advance()
        self._expect("<", " in dense array")
        type_start = self.tstart
        et = self.parse_type()
        if not isinstance(et, IntegerType | IndexType | FloatType):
            raise self._error(f"invalid element type '{et}' for dense array", type_start)
        values: list[int | float] = []
        if self._accept(":"):
            while True:
                v, off = self._parse_scalar_literal()
                if isinstance(et, FloatType):
                    if isinstance(v, bool):
                        raise self._error("expected float literal in dense array", off)
                    values.append(self._float_element(v, et, off))
                else:
                    if isinstance(v, float):
                        raise self._error("expected integer literal in dense array", off)
                    _check_int_range(self, int(v), et, off)
                    values.append(int(v))
                if not self._accept(","):
                    break
        self._expect(">", " to end dense array")
        return DenseArrayAttr(et, tuple(values))

    def _parse_strided(self) -> StridedLayoutAttr:
        self._advance()
        self._expect("<", " in strided layout")
        self._expect("[", " in strided layout")
        strides: list[int] = []
        if not self._accept("]"):
            while True:
                strides.append(self._parse_dim_or_dynamic())
                if not self._accept(","):
                    break
            self._expect("]", " to end strides")
        offset = 0
        if self._accept(","):
            if not (self.kind == BARE_ID and self.tok == "offset"):
                raise self._error("expected 'offset' in strided layout")
            self._advance()
            self._expect(":", " after 'offset'")
            offset = self._parse_dim_or_dynamic()
        self._expect(">", " to end strided layout")
        return StridedLayoutAttr(tuple(strides), offset)

    def _parse_dim_or_dynamic(self) -> int:
        if self._accept("?"):
            return DYNAMIC
        neg = self._accept("-")
        if self.kind != INT:
            raise self._error("expected integer or '?'")
        v = int(self.tok)
        self._advance()
        return -v if neg else v

    # -- affine maps
    def _parse_affine_map(self) -> AffineMap:
        ids: dict[str, AffineExpr] = {}
        self._expect("(", " to start affine map dimensions")
        dims = self._parse_affine_ids(")", AffineDimExpr, ids)
        syms = 0
        if self._accept("["):
            syms = self._parse_affine_ids("]", AffineSymbolExpr, ids)
        self._expect("->", " in affine map")
        self._expect("(", " to start affine map results")
        results: list[AffineExpr] = []
        if not self._accept(")"):
            while True:
                results.append(self._parse_affine_expr(ids))
                if not self._accept(","):
                    break
            self._expect(")", " to end affine map results")
        return AffineMap(dims, syms, tuple(results))

    def _parse_affine_ids(self, close: str, make: Callable[[int], AffineExpr],
                          ids: dict[str, AffineExpr]) -> int:
        n = 0
        if self._accept(close):
            return 0
        while True:
            if self.kind != BARE_ID:
                raise self._error("expected bare identifier in affine map")
            if self.tok in ids:
                raise self._error(f"redefinition of identifier '{self.tok}'")
            ids[self.tok] = make(n)
            n += 1
            self._advance()
            if not self._accept(","):
                break
        self._expect(close, " in affine map")
        return n

    def _parse_affine_expr(self, ids: dict[str, AffineExpr]) -> AffineExpr:
        lhs = self._parse_affine_term(ids)
        while self.kind == PUNCT and self.tok in ("+", "-"):
            neg = self.tok == "-"
            self._advance()
            rhs = self._parse_affine_term(ids)
            lhs = lhs - rhs if neg else lhs + rhs
        return lhs

    def _parse_affine_term(self, ids: dict[str, AffineExpr]) -> AffineExpr:
        lhs = self._parse_affine_unary(ids)
        while True:
            if self.kind == PUNCT and self.tok == "*":
                self._advance()
                lhs = lhs * self._parse_affine_unary(ids)
            elif self.kind == BARE_ID and self.tok in ("floordiv", "ceildiv", "mod"):
                kind = self.tok
                self._advance()
                rhs = self._parse_affine_unary(ids)
                lhs = lhs.floordiv(rhs) if kind == "floordiv" else (
                    lhs.ceildiv(rhs) if kind == "ceildiv" else lhs % rhs)
            else:
                return lhs

    def _parse_affine_unary(self, ids: dict[str, AffineExpr]) -> AffineExpr:
        self._nest()
        try:
            if self._accept("-"):
                return -self._parse_affine_unary(ids)
            if self.kind == INT:
                v = int(self.tok)
                self._advance()
                return const(v)
            if self.kind == BARE_ID:
                e = ids.get(self.tok)
                if e is None:
                    raise self._error(f"use of undeclared identifier '{self.tok}'")
                self._advance()
                return e
            if self._accept("("):
                e = self._parse_affine_expr(ids)
                self._expect(")", " in affine expression")
                return e
            raise self._error("expected affine expression")
        finally:
            self._depth -= 1

    # ------------------------------------------------------------------------ OpAsmParser
    def error(self, message: str) -> DiagnosticError:
        return self._error(message)

    def current_location(self) -> Location:
        return SourceLoc(self.lexer, self.tstart)

    def parse_punct(self, punct: str) -> None:
        if self.kind == PUNCT and self.tok == punct:
            self._advance()
            return
        raise self._error(f"expected '{punct}'")

    def parse_optional_punct(self, punct: str) -> bool:
        if self.kind == PUNCT and self.tok == punct:
            self._advance()
            return True
        return False

    def parse_keyword(self, keyword: str | None = None) -> str:
        if self.kind == BARE_ID and (keyword is None or self.tok == keyword):
            tok = self.tok
            self._advance()
            return tok
        raise self._error(f"expected '{keyword}'" if keyword else "expected keyword")

    def parse_optional_keyword(self, keyword: str | None = None) -> str | None:
        if self.kind == BARE_ID and (keyword is None or self.tok == keyword):
            tok = self.tok
            self._advance()
            return tok
        return None

    def parse_integer(self) -> int:
        v = self.parse_optional_integer()
        if v is None:
            raise self._error("expected integer value")
        return v

    def parse_optional_integer(self) -> int | None:
        if self.kind == PUNCT and self.tok == "-":
            k, _ = self._peek()
            if k not in (INT, HEX):
                return None
            self._advance()
            return -self.parse_integer()
        if self.kind == INT or self.kind == HEX:
            v = int(self.tok, 16) if self.kind == HEX else int(self.tok)
            self._advance()
            return v
        return None

    def parse_float(self) -> float:
        neg = self._accept("-")
        if self.kind not in (FLOAT, INT):
            raise self._error("expected floating point literal")
        v = float(self.tok)
        self._advance()
        return -v if neg else v

    def parse_string(self) -> str:
        if self.kind != STRING:
            raise self._error("expected string")
        s = self._string_value()
        self._advance()
        return s

    def parse_symbol_name(self) -> str:
        name = self.parse_optional_symbol_name()
        if name is None:
            raise self._error("expected symbol name")
        return name

    def parse_optional_symbol_name(self) -> str | None:
        if self.kind == AT_ID or self.kind == AT_STRING:
            return self._symbol_token()
        return None

    def parse_operand(self) -> UnresolvedOperand:
        if self.kind != VALUE_ID:
            raise self._error("expected SSA operand")
        return self._take_operand()

    def _take_operand(self) -> UnresolvedOperand:
        tok = self.tok
        if "#" in tok:
            name, _, num = tok.partition("#")
            number = int(num)
        else:
            name, number = tok, 0
        op = UnresolvedOperand(name, number, SourceLoc(self.lexer, self.tstart))
        self._advance()
        return op

    def parse_operand_use(self) -> tuple[str, int]:
        """``%x`` / ``%x#k`` as (token, offset): the cheap form used by compiled formats."""
        tok = self.tok
        if self.kind != VALUE_ID:
            raise self._error("expected SSA operand")
        use = (tok, self.tend - len(tok))
        self._advance()
        return use

    def resolve_use(self, use: tuple[str, int], type_: Type) -> Value:
        return self._resolve(use[0], type_, use[1])

    def parse_optional_operand(self) -> UnresolvedOperand | None:
        if self.kind != VALUE_ID:
            return None
        return self._take_operand()

    def parse_operand_list(self, delimiter: str | None = None) -> list[UnresolvedOperand]:
        close = None
        if delimiter is not None:
            if delimiter not in ("()", "[]"):
                raise ValueError(f"bad operand list delimiter {delimiter!r}")
            self.parse_punct(delimiter[0])
            close = delimiter[1]
            if self.parse_optional_punct(close):
                return []
        ops: list[UnresolvedOperand] = []
        if close is None and self.kind != VALUE_ID:
            return ops
        while True:
            ops.append(self.parse_operand())
            if not self.parse_optional_punct(","):
                break
        if close is not None:
            self.parse_punct(close)
        return ops

    def resolve_operand(self, operand: UnresolvedOperand, type_: Type) -> Value:
        tok = operand.name if operand.number == 0 and "#" not in operand.name else (
            f"{operand.name}#{operand.number}")
        return self._resolve(tok, type_, _offset_of(operand.location, self.tstart))

    def parse_optional_attr_dict(self) -> dict[str, Attribute]:
        attrs: dict[str, Attribute] = {}
        if self.kind == PUNCT and self.tok == "{":
            self._parse_attr_dict_into(attrs)
        return attrs

    def parse_optional_attr_dict_with_keyword(self) -> dict[str, Attribute]:
        if self.kind == BARE_ID and self.tok == "attributes":
            self._advance()
            if not self._is("{"):
                raise self._error("expected '{' after 'attributes'")
            return self.parse_optional_attr_dict()
        return {}

    def parse_argument(self, with_type: bool = True) -> Argument:
        if self.kind != VALUE_ID or "#" in self.tok:
            raise self._error("expected SSA value name for argument")
        operand = UnresolvedOperand(self.tok, 0, SourceLoc(self.lexer, self.tstart))
        self._advance()
        t: Any = None
        if with_type:
            self._expect(":", " after argument name")
            t = self.parse_type()
        loc: Location | None = None
        if self.kind == BARE_ID and self.tok == "loc":
            holder = _LocHolder(None)
            self._parse_trailing_loc(holder)
            loc = holder.location
            if self._deferred_locs and self._deferred_locs[-1][0] is holder:
                # ``loc(#alias)`` defined later in the file: the block argument made from
                # this Argument takes over the pending entry (see _add_block_arg).
                loc = _DeferredLoc(holder)
        return Argument(operand, t, loc)

    def parse_region(self, arguments: Sequence[Argument] | None = None,
                     enable_name_shadowing: bool = False) -> Region:
        return self._parse_region_for(self._op_cls, arguments, enable_name_shadowing)

    def parse_optional_region(self, arguments: Sequence[Argument] | None = None
                              ) -> Region | None:
        if self.kind == PUNCT and self.tok == "{":
            return self.parse_region(arguments)
        return None

    def parse_successor(self) -> Block:
        if self.kind != CARET_ID:
            raise self._error("expected block name")
        name = self.tok
        blocks = self._blocks[-1]
        ref = blocks.get(name)
        if ref is None:
            ref = blocks[name] = _BlockRef(Block(), False, self.tstart)
        self._advance()
        return ref.block


class _HexBits(int):
    """An unsigned hexadecimal element literal (read as bits for float elements)."""

    __slots__ = ()


class _LocHolder:
    __slots__ = ("location",)

    def __init__(self, location: Location | None) -> None:
        self.location = location


class _DeferredLoc(Location):
    """Marks a block-argument location whose alias is defined later in the file."""

    __slots__ = ("holder",)

    def __init__(self, holder: _LocHolder) -> None:
        self.holder = holder

    def body(self) -> str:
        return "unknown"


def _offset_of(loc: Location, default: int) -> int:
    return loc._offset if isinstance(loc, SourceLoc) else default


def _check_int_range(p: Parser, value: int, type_: Type, offset: int) -> None:
    width = 64 if isinstance(type_, IndexType) else type_.width  # type: ignore[attr-defined]
    if width == 0:
        ok = value == 0
    else:
        ok = -(1 << (width - 1)) <= value < (1 << width) or (width == 1 and value == -1)
    if not ok:
        raise p._error(f"integer constant out of range for type '{type_}'", offset)


def _wrap_ints(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Python ints (possibly unsigned-range) to ``dtype`` with two's-complement wrapping."""
    if dtype == np.bool_:
        return np.array([bool(int(v) & 1) for v in arr.reshape(-1)],
                        dtype=np.bool_).reshape(arr.shape)
    bits = dtype.itemsize * 8
    mask = (1 << bits) - 1
    half = 1 << (bits - 1)

    def wrap(v: Any) -> int:
        v = int(v) & mask
        return v - (1 << bits) if v >= half else v

    if arr.size == 0:
        return np.zeros(arr.shape, dtype=dtype)
    return np.array([wrap(v) for v in arr.reshape(-1)], dtype=dtype).reshape(arr.shape)


def _dense_from_hex(p: Parser, text: str, t: ShapedType, offset: int) -> DenseElementsAttr:
    if not text.startswith("0x"):
        raise p._error("expected hex string (\"0x...\") in dense elements attribute", offset)
    try:
        data = bytes.fromhex(text[2:])
    except ValueError:
        raise p._error("invalid hex string in dense elements attribute", offset) from None
    et = t.element_type
    n = t.num_elements
    if et == bf16:
        raw = np.frombuffer(data, dtype="<u2")
        arr = (raw.astype(np.uint32) << 16).view(np.float32)
        size = 2
    elif et == i1:
        # Upstream MLIR packs i1 data 8 per byte (LSB first); one 0x00/0xFF byte is a splat.
        raw = np.frombuffer(data, dtype=np.uint8)
        if len(data) == 1 and data[0] in (0, 0xFF):
            return DenseElementsAttr(np.asarray(bool(data[0])), t)
        if len(data) == (n + 7) // 8 and len(data) != n:
            bits = np.unpackbits(raw, bitorder="little")[:n].astype(np.bool_)
            return DenseElementsAttr(bits.reshape(t.shape), t)
        arr = raw != 0  # one byte per element
        size = 1
    else:
        dtype = to_numpy_dtype(et).newbyteorder("<")
        size = dtype.itemsize
        if len(data) % size:
            raise p._error("elements hex data size is invalid for provided type", offset)
        arr = np.frombuffer(data, dtype=dtype)
    if len(data) == size and n != 1:
        return DenseElementsAttr(arr.reshape(()), t)
    if len(data) != n * size:
        raise p._error("elements hex data size is invalid for provided type", offset)
    return DenseElementsAttr(arr.reshape(t.shape), t)


# ---------------------------------------------------------------------------- public API


def _guarded(p: Parser, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` converting every non-diagnostic exception to a located diagnostic."""
    try:
        return fn()
    except DiagnosticError:
        raise
    except RecursionError:
        raise p._error(f"nesting too deep (more than {MAX_NESTING} levels)") from None
    except (ValueError, TypeError, OverflowError, ArithmeticError) as e:
        raise p._error(str(e) or type(e).__name__) from None
    except MemoryError:
        raise p._error("out of memory while parsing") from None
    except Exception as e:  # any other failure is still reported at the current token
        raise p._error(f"internal parser error: {type(e).__name__}: {e}") from None


def _verifier() -> Callable[[Operation], None] | None:
    if importlib.util.find_spec("avalon.ir.verifier") is None:
        return None
    from avalon.ir import verifier

    return verifier.verify


def parse_module(text: str, filename: str = "<stdin>", *, allow_unregistered: bool = False,
                 verify: bool = True) -> Any:
    """Parse a whole file into a ``builtin.module`` (wrapping top-level ops unless the file is
    exactly one module op) and verify it. Raises DiagnosticError on any malformed input."""
    import avalon.ir.dialects  # noqa: F401  (registers every dialect's ops)
    from avalon.ir.dialects.builtin import ModuleOp

    SOURCES.add(filename, text)
    # Building a large graph of live objects makes the cyclic GC rescan it again and again
    # (quadratic in practice); nothing parsed is garbage until the parse ends.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        p = Parser(text, filename, allow_unregistered=allow_unregistered)
        ops = _guarded(p, p.parse_top_level)
    finally:
        if gc_was_enabled:
            gc.enable()
    if len(ops) == 1 and isinstance(ops[0], ModuleOp):
        module = ops[0]
    else:
        module = ModuleOp([], [], {}, 1, [], SourceLoc(p.lexer, 0))
        body = module.regions[0].add_block(Block())
        for op in ops:
            body.append(op)
    if verify:
        fn = _verifier()
        if fn is not None:
            try:
                fn(module)
            except DiagnosticError:
                raise
            except Exception as e:  # a verifier bug must still not surface as a traceback
                raise p.lexer.error(f"internal error while verifying: {type(e).__name__}: {e}",
                                    0) from e
    return module


def _parse_single(text: str, filename: str, what: str, fn: Callable[[Parser], Any]) -> Any:
    p = Parser(text, filename)

    def run() -> Any:
        result = fn(p)
        if p.kind != EOF:
            raise p._error(f"unexpected {p._describe()} after {what}")
        return result

    return _guarded(p, run)


@lru_cache(maxsize=4096)
def _parse_type_cached(text: str, filename: str) -> Type:
    return _parse_single(text, filename, "type", Parser.parse_type)


@lru_cache(maxsize=4096)
def _parse_attribute_cached(text: str, filename: str) -> Attribute:
    return _parse_single(text, filename, "attribute", Parser.parse_attribute)


def parse_type(text: str, filename: str = "<type>") -> Type:
    """A type from its MLIR text (``tensor<4xf32>``)."""
    return _parse_type_cached(text, filename)


def parse_attribute(text: str, filename: str = "<attribute>") -> Attribute:
    """An attribute from its MLIR text (``dense<1.0> : tensor<2xf32>``)."""
    return _parse_attribute_cached(text, filename)


def parse_location(text: str, filename: str = "<location>") -> Location:
    """A location from its MLIR text (``loc("a.py":3:4)``)."""
    return _parse_single(text, filename, "location", Parser._parse_loc)


__all__ = ["Parser", "parse_attribute", "parse_location", "parse_module", "parse_type"]
