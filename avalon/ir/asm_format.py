"""Declarative assembly formats: an op's ``assembly_format`` compiled to print/parse functions.

Grammar (a subset of MLIR's ODS format language)::

    format    ::= element*
    element   ::= `literal` | $field | directive | group
    directive ::= attr-dict | attr-dict-with-keyword | type(arg) | functional-type(arg, arg)
                | operands | results | regions | successors
    arg       ::= $field | operands | results
    group     ::= `(` element* `)` `?`    -- one element carries the anchor `^`

A group is printed when its anchor is present (an optional/variadic operand that is
non-empty, an attribute that is set, a non-empty region). Unit attributes used as anchors are
implied by the group and not printed. Spacing follows MLIR's rules (decided when the format is
compiled, as MLIR's generator does), so ``$lhs `,` $rhs attr-dict `:` type($result)`` prints
``%0, %1 : f32``.

Types the format does not spell out are recovered when parsing: from the
SameOperandsAndResultType / SameTypeOperands traits, or from ``cls.infer_result_types``.
A format that leaves a type undetermined is rejected when compiled, with a :class:`FormatError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from avalon.ir.attributes import UNIT, DenseArrayAttr, StringAttr
from avalon.ir.core import Operation
from avalon.ir.lexer import BARE_ID, CARET_ID, PUNCT, VALUE_ID
from avalon.ir.opdef import (
    OPTIONAL,
    SINGLE,
    VARIADIC,
    I32Attr,
    I64Attr,
    IndexAttr,
    Op,
    OperandDef,
    ResultDef,
    SymbolNameAttr,
    UnitAttrC,
)
from avalon.ir.traits import SameOperandsAndResultType, SameTypeOperands
from avalon.ir.types import FunctionType, IndexType, Type, i32, i64

#: Attribute constraints whose type is fixed: formats print their values bare (``4``) and
#: parse them back with this type, as MLIR does for buildable attribute types.
_IMPLIED_ATTR_TYPES: dict[Any, Type] = {I64Attr: i64, I32Attr: i32, IndexAttr: IndexType()}


class FormatError(ValueError):
    """An op's ``assembly_format`` is malformed or cannot determine every type."""


# ------------------------------------------------------------------------------ format AST
@dataclass
class _Literal:
    text: str


@dataclass
class _Var:
    name: str
    kind: str  # "operand", "attr", "region", "successor"
    defn: Any
    anchor: bool = False


@dataclass
class _TypeDir:
    target: str  # field name, "operands" or "results"
    anchor: bool = False


@dataclass
class _FuncType:
    inputs: str
    outputs: str


@dataclass
class _AttrDict:
    keyword: bool


@dataclass
class _AllOf:
    what: str  # "operands", "regions", "successors"


@dataclass
class _Group:
    elements: list[Any]
    anchor: Any = None


_TOKEN_RE = re.compile(
    r"\s*(?:(`[^`]*`)|(\$[A-Za-z_]\w*)|([A-Za-z_][\w-]*)|([()^?,]))|\s*(\S)?")
_IDENT_RE = re.compile(r"[A-Za-z_][\w$.]*\Z")


class _FormatParser:
    """Parses the format string into elements."""

    def __init__(self, cls: type[Op], text: str) -> None:
        self.cls = cls
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m.end() == pos:
                break
            pos = m.end()
            for kind, g in zip(("lit", "var", "word", "punct", "bad"), m.groups()):
                if g is not None:
                    self.tokens.append((kind, g))
        self.i = 0
        operands = {d.name: d for d in cls._operand_defs}
        results = {d.name: d for d in cls._result_defs}
        attrs = {d.name: d for d in cls._attr_defs}
        regions = {d.name: d for d in cls._region_defs}
        successors = {d.name: d for d in cls._successor_defs}
        self.fields: dict[str, tuple[str, Any]] = {}
        for kind, table in (("operand", operands), ("result", results), ("attr", attrs),
                            ("region", regions), ("successor", successors)):
            for name, d in table.items():
                self.fields[name] = (kind, d)

    def error(self, message: str) -> FormatError:
        return FormatError(f"assembly_format of '{self.cls.name}': {message} "
                           f"(format: {self.text!r})")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.error("unexpected end of format")
        if tok[0] == "bad":
            raise self.error(f"unexpected '{tok[1]}'")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        _kind, t = self.take()
        if t != text:
            raise self.error(f"expected '{text}', found '{t}'")

    def parse(self) -> list[Any]:
        elems = self.elements(in_group=False)
        if self.peek() is not None:
            raise self.error(f"unexpected '{self.peek()[1]}'")
        return elems

    def elements(self, in_group: bool) -> list[Any]:
        out: list[Any] = []
        while True:
            tok = self.peek()
            if tok is None or tok == ("punct", ")"):
                return out
            out.append(self.element(in_group))

    def element(self, in_group: bool) -> Any:
        kind, t = self.take()
        if kind == "lit":
            return _Literal(t[1:-1])
        if kind == "var":
            return self.maybe_anchor(self.var(t[1:]), in_group)
        if kind == "punct" and t == "(":
            elems = self.elements(in_group=True)
            self.expect(")")
            self.expect("?")
            group = _Group(elems)
            anchors = [e for e in elems if getattr(e, "anchor", False)]
            if len(anchors) != 1:
                raise self.error("an optional group needs exactly one anchor '^'")
            group.anchor = anchors[0]
            if not elems:
                raise self.error("empty optional group")
            return group
        if kind == "word":
            if t == "attr-dict":
                return _AttrDict(False)
            if t == "attr-dict-with-keyword":
                return _AttrDict(True)
            if t in ("operands", "regions", "successors"):
                return _AllOf(t)
            if t == "type":
                self.expect("(")
                target = self.type_arg()
                self.expect(")")
                return self.maybe_anchor(_TypeDir(target), in_group)
            if t == "functional-type":
                self.expect("(")
                a = self.type_arg()
                self.expect(",")
                b = self.type_arg()
                self.expect(")")
                return _FuncType(a, b)
            raise self.error(f"unknown directive '{t}'")
        raise self.error(f"unexpected '{t}'")

    def maybe_anchor(self, elem: Any, in_group: bool) -> Any:
        tok = self.peek()
        if tok == ("punct", "^"):
            self.take()
            if not in_group:
                raise self.error("anchor '^' outside an optional group")
            elem.anchor = True
        return elem

    def var(self, name: str) -> _Var:
        entry = self.fields.get(name)
        if entry is None:
            raise self.error(f"'${name}' is not a field of the op")
        kind, d = entry
        if kind == "result":
            raise self.error(f"result '${name}' can only appear in type(...)")
        return _Var(name, kind, d)

    def type_arg(self) -> str:
        kind, t = self.take()
        if kind == "word" and t in ("operands", "results"):
            return t
        if kind == "var":
            name = t[1:]
            entry = self.fields.get(name)
            if entry is None or entry[0] not in ("operand", "result"):
                raise self.error(f"'${name}' is not an operand or result")
            return name
        raise self.error(f"expected an operand, result, 'operands' or 'results', found '{t}'")


# ------------------------------------------------------------------------------ compilation
def _emit_space_before(value: str, last_was_punct: bool) -> bool:
    """MLIR's rule for whether a literal gets a space before it."""
    if len(value) != 1 and value != "->":
        return True
    if last_was_punct:
        return value[0] not in ">)}],"
    return value[0] not in "<>(){}[],"


class CompiledFormat:
    """Print and parse functions generated from one op class's assembly format."""

    def __init__(self, cls: type[Op]) -> None:
        self.cls = cls
        fp = _FormatParser(cls, cls.assembly_format or "")
        self.elements = fp.parse()
        self._fp = fp
        self._check_and_analyse()
        state = [True, False]  # should_emit_space, last_was_punctuation
        self._print_steps = self._compile_print(self.elements, state)
        self._parse_steps = [self._compile_parse(e) for e in self.elements]
        fast = self._generate_parser()
        if fast is not None:
            self.parse = fast  # type: ignore[method-assign]

    # -- analysis
    def _walk(self, elems: list[Any]):
        for e in elems:
            yield e
            if isinstance(e, _Group):
                yield from self._walk(e.elements)

    def _check_and_analyse(self) -> None:
        cls = self.cls
        fp = self._fp
        seen_operands: set[str] = set()
        seen_regions: set[str] = set()
        seen_successors: set[str] = set()
        typed: set[str] = set()
        all_operands = all_regions = all_successors = False
        operand_types_all = result_types_all = False
        attr_dicts = 0
        self.printed_attrs: set[str] = set()
        self.unit_anchors: set[str] = set()
        for e in self._walk(self.elements):
            if isinstance(e, _Var):
                if e.kind == "operand":
                    if e.name in seen_operands:
                        raise fp.error(f"operand '${e.name}' appears twice")
                    seen_operands.add(e.name)
                elif e.kind == "attr":
                    if e.name in self.printed_attrs:
                        raise fp.error(f"attribute '${e.name}' appears twice")
                    self.printed_attrs.add(e.name)
                elif e.kind == "region":
                    seen_regions.add(e.name)
                else:
                    seen_successors.add(e.name)
            elif isinstance(e, _TypeDir):
                if e.target == "operands":
                    operand_types_all = True
                elif e.target == "results":
                    result_types_all = True
                else:
                    typed.add(e.target)
            elif isinstance(e, _FuncType):
                for t in (e.inputs, e.outputs):
                    if t == "operands":
                        operand_types_all = True
                    elif t == "results":
                        result_types_all = True
                    else:
                        typed.add(t)
            elif isinstance(e, _AttrDict):
                attr_dicts += 1
            elif isinstance(e, _AllOf):
                if e.what == "operands":
                    all_operands = True
                elif e.what == "regions":
                    all_regions = True
                else:
                    all_successors = True
            elif isinstance(e, _Group):
                self._check_group(e)
        if attr_dicts != 1:
            raise fp.error("the format must contain exactly one 'attr-dict' directive")
        for d in cls._operand_defs:
            if d.name not in seen_operands and not all_operands:
                raise fp.error(f"operand '${d.name}' is not printed by the format")
        for d in cls._region_defs:
            if d.name not in seen_regions and not all_regions:
                raise fp.error(f"region '${d.name}' is not printed by the format")
        for d in cls._successor_defs:
            if d.name not in seen_successors and not all_successors:
                raise fp.error(f"successor '${d.name}' is not printed by the format")
        if all_operands and seen_operands:
            raise fp.error("'operands' cannot be combined with individual operands")
        if sum(1 for d in cls._operand_defs if d.kind != SINGLE) > 1 and all_operands:
            raise fp.error("'operands' cannot be used with several variadic operand groups")
        # Where each type comes from.
        known_ops = [d.name for d in cls._operand_defs
                     if operand_types_all or d.name in typed]
        known_res = [d.name for d in cls._result_defs if result_types_all or d.name in typed]
        same_all = cls.has_trait(SameOperandsAndResultType)
        same_ops = cls.has_trait(SameTypeOperands)
        self.operand_type_src: dict[str, Any] = {}
        for d in cls._operand_defs:
            if d.name in known_ops:
                self.operand_type_src[d.name] = ("explicit",)
            elif same_all and (known_ops or known_res):
                self.operand_type_src[d.name] = ("same", (known_ops or known_res)[0])
            elif same_ops and known_ops:
                self.operand_type_src[d.name] = ("same", known_ops[0])
            else:
                raise fp.error(f"the type of operand '${d.name}' is not determined: print it "
                               "with type(...) or give the op a type-equality trait")
        self.result_type_src: dict[str, Any] = {}
        for d in cls._result_defs:
            if d.name in known_res:
                self.result_type_src[d.name] = ("explicit",)
            elif same_all and d.kind == SINGLE and (known_ops or known_res):
                self.result_type_src[d.name] = ("same", (known_ops or known_res)[0])
            elif cls.can_infer_result_types():
                self.result_type_src[d.name] = ("infer",)
            else:
                raise fp.error(f"the type of result '${d.name}' is not determined: print it "
                               "with type(...) or let the op infer its result types")
        if any(s[0] == "infer" for s in self.result_type_src.values()) and any(
                s[0] != "infer" for s in self.result_type_src.values()):
            raise fp.error("result types must be either all inferred or all determined by "
                           "the format")
        self.operand_types_all = operand_types_all
        self.result_types_all = result_types_all
        self.all_operands = all_operands
        self.all_regions = all_regions
        self.all_successors = all_successors
        n_var_ops = sum(1 for d in cls._operand_defs if d.kind != SINGLE)
        n_var_res = sum(1 for d in cls._result_defs if d.kind != SINGLE)
        elided = set(self.printed_attrs)
        if n_var_ops > 1:
            elided.add("operandSegmentSizes")
        if n_var_res > 1:
            elided.add("resultSegmentSizes")
        self.elided = frozenset(elided)
        self.n_var_ops = n_var_ops
        self.n_var_res = n_var_res
        # Ops whose fields are all single values take a shorter build path.
        self.simple = (
            not (all_operands or all_regions or all_successors or operand_types_all
                 or result_types_all or cls._region_defs or cls._successor_defs)
            and all(d.kind == SINGLE for d in cls._operand_defs)
            and all(d.kind == SINGLE for d in cls._result_defs))
        self.operand_plan = [
            (d.name, d.name if self.operand_type_src[d.name][0] == "explicit"
             else self.operand_type_src[d.name][1]) for d in cls._operand_defs]
        self.infer = any(s[0] == "infer" for s in self.result_type_src.values())
        self.result_plan = [
            d.name if self.result_type_src[d.name][0] == "explicit"
            else self.result_type_src[d.name][-1] for d in cls._result_defs]

    def _check_group(self, g: _Group) -> None:
        fp = self._fp
        first = g.elements[0]
        anchor = g.anchor
        if isinstance(anchor, _Var):
            d = anchor.defn
            if anchor.kind == "operand" and d.kind == SINGLE:
                raise fp.error(f"anchor '${anchor.name}' must be an optional or variadic operand")
            if anchor.kind == "attr" and d.kind == SINGLE:
                raise fp.error(f"anchor '${anchor.name}' must be an optional attribute")
            if anchor.kind == "attr" and d.constraint is UnitAttrC:
                self.unit_anchors.add(anchor.name)
        elif isinstance(anchor, _TypeDir):
            if anchor.target in ("operands", "results"):
                raise fp.error("type(operands)/type(results) cannot anchor a group")
        else:
            raise fp.error("only an operand, attribute, region or type(...) can be an anchor")
        if isinstance(first, _Literal):
            if not first.text.strip():
                raise fp.error("an optional group cannot start with a space literal")
            return
        if isinstance(first, _Var):
            if first.kind == "attr" and first.name in self.unit_anchors:
                raise fp.error("an optional group cannot start with its unit-attribute anchor")
            return
        if isinstance(first, _TypeDir) and first.target not in ("operands", "results"):
            return
        raise fp.error("an optional group must start with a literal, operand, attribute, "
                       "region or type(...)")

    # -- printing
    def _compile_print(self, elems: list[Any], state: list[bool]) -> list[Any]:
        steps: list[Any] = []
        for e in elems:
            if isinstance(e, _Literal):
                v = e.text
                if v in (" ", ""):
                    if v == " ":
                        steps.append(" ")
                        state[1] = False
                    else:
                        state[1] = True
                    state[0] = False
                    continue
                space = state[0] and _emit_space_before(v, state[1])
                steps.append((" " if space else "") + v)
                state[0] = not (len(v) == 1 and v in "<({[")
                state[1] = v[0] != "_" and not v[0].isalpha()
                continue
            if isinstance(e, _AttrDict):
                steps.append(self._print_attr_dict(e.keyword))
                state[1] = False
                continue
            if isinstance(e, _Group):
                inner = self._compile_print(e.elements, state)
                steps.append(self._print_group(e, _merge(inner)))
                continue
            if isinstance(e, _Var) and e.kind == "attr" and e.name in self.unit_anchors:
                continue
            space = state[0] or not state[1]
            state[1] = False
            state[0] = True
            if space:
                steps.append(" ")
            steps.append(self._print_element(e))
        return _merge(steps)

    def _print_element(self, e: Any) -> Callable[[Operation, Any], None]:
        if isinstance(e, _Var):
            name = e.name
            d = e.defn
            if e.kind == "operand":
                if d.kind == SINGLE:
                    getter = _field_getter(self.cls, name)
                    return lambda op, p: p.print_operand(getter(op))
                getter = _field_getter(self.cls, name)

                def print_group(op: Operation, p: Any) -> None:
                    v = getter(op)
                    if v is None:
                        return
                    p.print_operands(v if isinstance(v, list) else [v])
                return print_group
            if e.kind == "attr":
                if d.constraint is SymbolNameAttr:
                    def print_sym(op: Operation, p: Any) -> None:
                        a = op.attributes.get(name)
                        if isinstance(a, StringAttr):
                            p.print_symbol_name(a.value)
                        elif a is not None:
                            p.print_attribute(a)
                    return print_sym

                implied = _IMPLIED_ATTR_TYPES.get(d.constraint)

                def print_attr(op: Operation, p: Any) -> None:
                    a = op.attributes.get(name)
                    if a is None:
                        return
                    if implied is not None and getattr(a, "type", None) == implied:
                        p.write(str(a.value))  # type: ignore[attr-defined]
                    else:
                        p.print_attribute(a)
                return print_attr
            if e.kind == "region":
                idx = self.cls._region_defs.index(d)
                if d.kind == VARIADIC:
                    def print_regions(op: Operation, p: Any) -> None:
                        for i, r in enumerate(op.regions[idx:]):
                            if i:
                                p.write(", ")
                            p.print_region(r)
                    return print_regions
                return lambda op, p: p.print_region(op.regions[idx])
            idx = self.cls._successor_defs.index(d)
            if d.kind == VARIADIC:
                def print_succs(op: Operation, p: Any) -> None:
                    for i, b in enumerate(op.successors[idx:]):
                        if i:
                            p.write(", ")
                        p.print_successor(b)
                return print_succs
            return lambda op, p: p.print_successor(op.successors[idx])
        if isinstance(e, _TypeDir):
            types_of = self._types_getter(e.target)

            def print_types(op: Operation, p: Any) -> None:
                p.write(", ".join([p.type_text(t) for t in types_of(op)]))
            return print_types
        if isinstance(e, _FuncType):
            ins_of = self._types_getter(e.inputs)
            outs_of = self._types_getter(e.outputs)

            def print_func(op: Operation, p: Any) -> None:
                outs = outs_of(op)
                text = "(" + ", ".join([p.type_text(t) for t in ins_of(op)]) + ") -> "
                if len(outs) == 1 and not isinstance(outs[0], FunctionType):
                    text += p.type_text(outs[0])
                else:
                    text += "(" + ", ".join([p.type_text(t) for t in outs]) + ")"
                p.write(text)
            return print_func
        if isinstance(e, _AllOf):
            if e.what == "operands":
                return lambda op, p: p.print_operands(op._operands)
            if e.what == "regions":
                def print_all_regions(op: Operation, p: Any) -> None:
                    for i, r in enumerate(op.regions):
                        if i:
                            p.write(", ")
                        p.print_region(r)
                return print_all_regions

            def print_all_succs(op: Operation, p: Any) -> None:
                for i, b in enumerate(op.successors):
                    if i:
                        p.write(", ")
                    p.print_successor(b)
            return print_all_succs
        raise AssertionError(e)  # pragma: no cover

    def _types_getter(self, target: str) -> Callable[[Operation], list[Type]]:
        if target == "operands":
            return lambda op: [v.type for v in op._operands]
        if target == "results":
            return lambda op: [r.type for r in op.results]
        getter = _field_getter(self.cls, target)

        def types(op: Operation) -> list[Type]:
            v = getter(op)
            if v is None:
                return []
            if isinstance(v, list):
                return [x.type for x in v]
            return [v.type]
        return types

    def _print_attr_dict(self, keyword: bool) -> Callable[[Operation, Any], None]:
        elided = self.elided
        if keyword:
            return lambda op, p: p.print_attr_dict_with_keyword(op.attributes, elided)

        def print_dict(op: Operation, p: Any) -> None:
            attrs = op.attributes
            if attrs:
                p.print_attr_dict(attrs, elided)
        return print_dict

    def _print_group(self, g: _Group, steps: list[Any]) -> Callable[[Operation, Any], None]:
        present = self._presence(g.anchor)

        def print_group(op: Operation, p: Any) -> None:
            if present(op):
                _run_print(steps, op, p)
        return print_group

    def _presence(self, anchor: Any) -> Callable[[Operation], bool]:
        if isinstance(anchor, _TypeDir):
            anchor = _Var(anchor.target, "operand" if anchor.target in
                          {d.name for d in self.cls._operand_defs} else "result", None)
        name = anchor.name
        if anchor.kind in ("operand", "result"):
            getter = _field_getter(self.cls, name)

            def has_values(op: Operation) -> bool:
                v = getter(op)
                return bool(v) if isinstance(v, list) else v is not None
            return has_values
        if anchor.kind == "attr":
            return lambda op: op.attributes.get(name) is not None
        if anchor.kind == "region":
            idx = self.cls._region_defs.index(anchor.defn)
            return lambda op: len(op.regions) > idx and bool(op.regions[idx].blocks)
        idx = self.cls._successor_defs.index(anchor.defn)
        return lambda op: len(op.successors) > idx

    def print(self, op: Operation, p: Any) -> None:
        """Print everything after the op name (the printer wrote ``name `` already)."""
        p.unwrite_space()
        _run_print(self._print_steps, op, p)

    # -- parsing
    def _compile_parse(self, e: Any) -> Callable[[Any, _State], None]:
        if isinstance(e, _Literal):
            v = e.text
            if v in (" ", ""):
                return lambda p, st: None
            if _IDENT_RE.match(v):
                return lambda p, st: p.parse_keyword(v)
            return lambda p, st: p.parse_punct(v)
        if isinstance(e, _AttrDict):
            if e.keyword:
                return lambda p, st: st.attrs.update(p.parse_optional_attr_dict_with_keyword())
            return lambda p, st: _merge_attrs(p, st, p.parse_optional_attr_dict())
        if isinstance(e, _Group):
            return self._parse_group(e)
        if isinstance(e, _Var):
            return self._parse_var(e, optional_first=False)
        if isinstance(e, _TypeDir):
            return self._parse_type_dir(e, optional_first=False)
        if isinstance(e, _FuncType):
            def parse_func(p: Any, st: _State) -> None:
                p.parse_punct("(")
                ins = p.parse_type_list()
                p.parse_punct(")")
                outs = p.parse_arrow_type_list()
                _store_types(st, e.inputs, ins)
                _store_types(st, e.outputs, outs)
            return parse_func
        if isinstance(e, _AllOf):
            if e.what == "operands":
                def parse_all(p: Any, st: _State) -> None:
                    uses = []
                    if p.kind == VALUE_ID:
                        uses.append(p.parse_operand_use())
                        while p.parse_optional_punct(","):
                            uses.append(p.parse_operand_use())
                    st.all_operands = uses
                return parse_all
            if e.what == "regions":
                def parse_all_regions(p: Any, st: _State) -> None:
                    regions = []
                    r = p.parse_optional_region()
                    while r is not None:
                        regions.append(r)
                        if not p.parse_optional_punct(","):
                            break
                        r = p.parse_region()
                    st.all_regions = regions
                return parse_all_regions

            def parse_all_succs(p: Any, st: _State) -> None:
                succs = []
                if p.kind == CARET_ID:
                    succs.append(p.parse_successor())
                    while p.parse_optional_punct(","):
                        succs.append(p.parse_successor())
                st.all_successors = succs
            return parse_all_succs
        raise AssertionError(e)  # pragma: no cover

    def _parse_var(self, e: _Var, optional_first: bool) -> Callable[[Any, _State], Any]:
        """Parser of a field; with ``optional_first`` it returns False when absent."""
        name = e.name
        d = e.defn
        if e.kind == "operand":
            if d.kind == SINGLE:
                def parse_one(p: Any, st: _State) -> Any:
                    st.operands[name] = [p.parse_operand_use()]
                return parse_one

            def parse_many(p: Any, st: _State) -> Any:
                if p.kind != VALUE_ID:
                    st.operands[name] = []
                    return False
                ops = [p.parse_operand_use()]
                if d.kind == VARIADIC:
                    while p.parse_optional_punct(","):
                        ops.append(p.parse_operand_use())
                st.operands[name] = ops
                return True
            return parse_many
        if e.kind == "attr":
            if name in self.unit_anchors:
                return lambda p, st: None
            sym = d.constraint is SymbolNameAttr
            implied = _IMPLIED_ATTR_TYPES.get(d.constraint)
            if optional_first or d.kind != SINGLE:
                def parse_opt_attr(p: Any, st: _State) -> Any:
                    if sym:
                        s = p.parse_optional_symbol_name()
                        a = None if s is None else StringAttr(s)
                    else:
                        a = p.parse_optional_attribute(implied)
                    if a is None:
                        return False
                    st.attrs[name] = a
                    return True
                return parse_opt_attr

            def parse_attr(p: Any, st: _State) -> Any:
                st.attrs[name] = StringAttr(p.parse_symbol_name()) if sym else (
                    p.parse_attribute(implied))
            return parse_attr
        if e.kind == "region":
            def parse_region(p: Any, st: _State) -> Any:
                if optional_first:
                    r = p.parse_optional_region()
                    if r is None:
                        return False
                else:
                    r = p.parse_region()
                regions = [r]
                if d.kind == VARIADIC:
                    while p.parse_optional_punct(","):
                        regions.append(p.parse_region())
                st.regions[name] = regions
                return True
            return parse_region

        def parse_succ(p: Any, st: _State) -> Any:
            if optional_first and p.kind != CARET_ID:
                return False
            succs = [p.parse_successor()]
            if d.kind == VARIADIC:
                while p.parse_optional_punct(","):
                    succs.append(p.parse_successor())
            st.successors[name] = succs
            return True
        return parse_succ

    def _parse_type_dir(self, e: _TypeDir, optional_first: bool) -> Callable[[Any, _State], Any]:
        target = e.target
        single = target not in ("operands", "results") and self._fp.fields[target][1].kind == SINGLE

        def parse_types(p: Any, st: _State) -> Any:
            if single and not optional_first:
                types = [p.parse_type()]
            else:
                types = p.parse_type_list()
                if optional_first and not types:
                    return False
            _store_types(st, target, types)
            return True
        return parse_types

    def _parse_group(self, g: _Group) -> Callable[[Any, _State], None]:
        first = g.elements[0]
        if isinstance(first, _Literal):
            v = first.text
            if _IDENT_RE.match(v):
                def probe(p: Any, st: _State) -> bool:
                    return p.parse_optional_keyword(v) is not None
            else:
                def probe(p: Any, st: _State) -> bool:
                    return p.parse_optional_punct(v)
        elif isinstance(first, _Var):
            probe = self._parse_var(first, optional_first=True)
        else:
            probe = self._parse_type_dir(first, optional_first=True)
        rest = [self._compile_parse(e) for e in g.elements[1:]]
        units = [e.name for e in self._walk(g.elements)
                 if isinstance(e, _Var) and e.name in self.unit_anchors]

        def parse_group(p: Any, st: _State) -> None:
            if not probe(p, st):
                return
            for step in rest:
                step(p, st)
            for u in units:
                st.attrs[u] = UNIT
        return parse_group

    def _generate_parser(self) -> Callable[[Any], Operation] | None:
        """Straight-line Python for formats of single operands, literals, single attributes,
        attr-dict and type($x): no per-element dispatch (the common binary/unary/cast ops)."""
        if not self.simple:
            return None
        lines = ["def parse(p):", "    attrs = {}"]
        env: dict[str, Any] = {"VALUE_ID": VALUE_ID, "PUNCT": PUNCT, "BARE_ID": BARE_ID,
                               "StringAttr": StringAttr, "merge": _merge_attr_dict}
        types: dict[str, str] = {}
        for i, e in enumerate(self.elements):
            if isinstance(e, _Literal):
                v = e.text
                if v in (" ", ""):
                    continue
                kind = "BARE_ID" if _IDENT_RE.match(v) else "PUNCT"
                lines += [f"    if p.kind != {kind} or p.tok != {v!r}:",
                          f"        raise p.error({f'expected {v!r}'!r})",
                          "    p._advance()"]
            elif isinstance(e, _Var) and e.kind == "operand" and e.defn.kind == SINGLE:
                lines += ["    if p.kind != VALUE_ID:",
                          "        raise p.error('expected SSA operand')",
                          f"    u_{e.name} = p.tok",
                          f"    o_{e.name} = p.tend - len(u_{e.name})",
                          "    p._advance()"]
            elif isinstance(e, _Var) and e.kind == "attr" and e.defn.kind == SINGLE:
                if e.defn.constraint is SymbolNameAttr:
                    lines.append(f"    attrs[{e.name!r}] = StringAttr(p.parse_symbol_name())")
                else:
                    implied = _IMPLIED_ATTR_TYPES.get(e.defn.constraint)
                    env[f"implied_{i}"] = implied
                    lines.append(f"    attrs[{e.name!r}] = p.parse_attribute(implied_{i})")
            elif isinstance(e, _AttrDict) and not e.keyword:
                lines += ["    if p.kind == PUNCT and p.tok == '{':",
                          "        merge(p, attrs, p.parse_optional_attr_dict())"]
            elif isinstance(e, _TypeDir) and e.target in self._fp.fields:
                types[e.target] = f"t{i}"
                lines.append(f"    t{i} = p.parse_type()")
            else:
                return None
        operands = []
        for name, ref in self.operand_plan:
            if ref not in types:
                return None
            operands.append(f"p._resolve(u_{name}, {types[ref]}, o_{name})")
        lines.append(f"    operands = [{', '.join(operands)}]")
        if self.infer:
            lines.append("    result_types = list(cls.infer_result_types(operands, attrs))")
        else:
            if any(ref not in types for ref in self.result_plan):
                return None
            lines.append(f"    result_types = [{', '.join(types[r] for r in self.result_plan)}]")
        lines.append("    return cls(operands, result_types, attrs, [], [], p.location)")
        env["cls"] = self.cls
        exec("\n".join(lines), env)  # source generated above from the format, not input
        return env["parse"]

    def parse(self, p: Any) -> Operation:
        """Parse everything after the op name and build the op."""
        st = _State()
        for step in self._parse_steps:
            step(p, st)
        return self._build(p, st)

    def _build_simple(self, p: Any, st: _State) -> Operation:
        types = st.types
        ops = st.operands
        operands = []
        for name, ref in self.operand_plan:
            tl = types.get(ref)
            if not tl:
                raise p.error(f"cannot infer the type of operand '{name}'")
            tok, off = ops[name][0]
            operands.append(p._resolve(tok, tl[0], off))
        if self.infer:
            result_types = list(self.cls.infer_result_types(operands, st.attrs))
        else:
            result_types = []
            for ref in self.result_plan:
                tl = types.get(ref)
                if not tl:
                    raise p.error(f"cannot infer the type of result '{ref}'")
                result_types.append(tl[0])
        return self.cls(operands, result_types, st.attrs, [], [], p.location)

    def _build(self, p: Any, st: _State) -> Operation:
        if self.simple:
            return self._build_simple(p, st)
        cls = self.cls
        # Operands, grouped by field, and their types.
        groups: list[tuple[Any, list[Any]]] = []
        if self.all_operands:
            uses = st.all_operands or []
            n_single = sum(1 for d in cls._operand_defs if d.kind == SINGLE)
            extra = len(uses) - n_single
            if extra < 0 or (extra > 0 and n_single == len(cls._operand_defs)):
                raise p.error(f"expected {n_single} operands, found {len(uses)}")
            pos = 0
            for d in cls._operand_defs:
                n = 1 if d.kind == SINGLE else extra
                if d.kind == OPTIONAL and n > 1:
                    raise p.error(f"too many operands for optional group '{d.name}'")
                groups.append((d, uses[pos:pos + n]))
                pos += n
        else:
            for d in cls._operand_defs:
                groups.append((d, st.operands.get(d.name, [])))
        all_types = st.types.get("operands")
        if all_types is not None:
            total = sum(len(u) for _, u in groups)
            if len(all_types) != total:
                raise p.error(f"{total} operands present, but expected {len(all_types)}")
            pos = 0
            for d, u in groups:
                st.types.setdefault(d.name, all_types[pos:pos + len(u)])
                pos += len(u)
        results_all = st.types.get("results")
        if results_all is not None:
            res_defs = cls._result_defs
            n_single = sum(1 for d in res_defs if d.kind == SINGLE)
            extra = len(results_all) - n_single
            if extra < 0 or (extra > 0 and n_single == len(res_defs)) or (
                    extra and sum(1 for d in res_defs if d.kind != SINGLE) > 1):
                raise p.error(f"expected {n_single} result types, found {len(results_all)}")
            pos = 0
            for d in res_defs:
                n = 1 if d.kind == SINGLE else extra
                st.types.setdefault(d.name, results_all[pos:pos + n])
                pos += n
        operands = []
        for d, uses in groups:
            src = self.operand_type_src[d.name]
            if src[0] == "explicit":
                types = st.types.get(d.name, [])
                if len(types) != len(uses):
                    raise p.error(f"{len(uses)} operands present, but expected {len(types)} "
                                  f"types for '{d.name}'")
            else:
                ref = st.types.get(src[1]) or []
                if not ref and uses:
                    raise p.error(f"cannot infer the type of operand '{d.name}'")
                types = [ref[0]] * len(uses) if ref else []
            for u, t in zip(uses, types):
                operands.append(p.resolve_use(u, t))
        attrs = st.attrs
        if self.n_var_ops > 1:
            attrs["operandSegmentSizes"] = DenseArrayAttr(i32, tuple(len(u) for _, u in groups))
        # Result types.
        result_types: list[Type] = []
        res_sizes = []
        infer = False
        for d in cls._result_defs:
            src = self.result_type_src[d.name]
            if src[0] == "explicit":
                types = st.types.get(d.name, [])
                if d.kind == SINGLE and len(types) != 1:
                    raise p.error(f"expected one type for result '{d.name}'")
                result_types.extend(types)
                res_sizes.append(len(types))
            elif src[0] == "same":
                ref = st.types.get(src[1]) or []
                if not ref:
                    raise p.error(f"cannot infer the type of result '{d.name}'")
                result_types.append(ref[0])
                res_sizes.append(1)
            else:
                infer = True
        if infer:
            result_types = list(cls.infer_result_types(operands, attrs))
        elif self.n_var_res > 1:
            attrs["resultSegmentSizes"] = DenseArrayAttr(i32, tuple(res_sizes))
        # Regions and successors, in declaration order.
        if self.all_regions:
            regions = st.all_regions or []
        else:
            regions = []
            for d in cls._region_defs:
                regions.extend(st.regions.get(d.name, []))
        if self.all_successors:
            successors = st.all_successors or []
        else:
            successors = []
            for d in cls._successor_defs:
                successors.extend(st.successors.get(d.name, []))
        return cls(operands, result_types, attrs, regions, successors, p.location)


class _State:
    """What the parse steps of one op collected."""

    __slots__ = ("all_operands", "all_regions", "all_successors", "attrs", "operands",
                 "regions", "successors", "types")

    def __init__(self) -> None:
        self.operands: dict[str, list[Any]] = {}
        self.types: dict[str, list[Type]] = {}
        self.attrs: dict[str, Any] = {}
        self.regions: dict[str, list[Any]] = {}
        self.successors: dict[str, list[Any]] = {}
        self.all_operands: list[Any] | None = None
        self.all_regions: list[Any] | None = None
        self.all_successors: list[Any] | None = None


def _store_types(st: _State, target: str, types: list[Type]) -> None:
    st.types[target] = types


def _merge_attrs(p: Any, st: _State, attrs: dict[str, Any]) -> None:
    _merge_attr_dict(p, st.attrs, attrs)


def _merge_attr_dict(p: Any, into: dict[str, Any], attrs: dict[str, Any]) -> None:
    for k, v in attrs.items():
        if k in into:
            raise p.error(f"attribute '{k}' is given twice")
        into[k] = v


def _merge(steps: list[Any]) -> list[Any]:
    """Join adjacent literal strings so printing writes them at once."""
    out: list[Any] = []
    for s in steps:
        if isinstance(s, str) and out and isinstance(out[-1], str):
            out[-1] += s
        else:
            out.append(s)
    return out


def _run_print(steps: list[Any], op: Operation, p: Any) -> None:
    w = p.write
    for s in steps:
        if s.__class__ is str:
            w(s)
        else:
            s(op, p)


def _field_getter(cls: type[Op], name: str) -> Callable[[Operation], Any]:
    """Fast accessor of an operand/result field (avoids segment computation when possible)."""
    descriptor = getattr(cls, name)
    defs = cls._operand_defs if isinstance(descriptor, OperandDef) else cls._result_defs
    if isinstance(descriptor, OperandDef | ResultDef) and all(d.kind == SINGLE for d in defs):
        idx = defs.index(descriptor)
        if isinstance(descriptor, OperandDef):
            return lambda op: op._operands[idx]
        return lambda op: op.results[idx]
    return lambda op: descriptor.__get__(op, cls)


def compile_format(cls: type[Op]) -> CompiledFormat:
    """The compiled format of ``cls`` (compiled on first use and cached on the class)."""
    compiled = cls.__dict__.get("_compiled_format")
    if compiled is None:
        if not getattr(cls, "assembly_format", None):
            raise FormatError(f"'{cls.name}' has no assembly_format")
        compiled = CompiledFormat(cls)
        cls._compiled_format = compiled
    return compiled


__all__ = ["CompiledFormat", "FormatError", "compile_format"]
