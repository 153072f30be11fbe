"""Textual pass pipelines: ``builtin.module(func.func(canonicalize,cse),my-pass{threshold=4})``.

Grammar (whitespace is allowed between elements)::

    pipeline := element (',' element)*
    element  := NAME '(' pipeline? ')'      a nested manager anchored on op NAME
              | NAME ('{' option* '}')?     a registered pass or named pipeline
    option   := KEY ('=' VALUE)?            VALUE: 4, 0.5, true, fast, "a b", 32,32, {32,32}

A bare list (``canonicalize,cse``) is anchored on ``builtin.module``. Named pipelines expand in
place. Errors are diagnostics located at the offending column of the pipeline string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avalon.ir.diagnostics import SOURCES, Diagnostic, DiagnosticError, Severity
from avalon.ir.location import FileLineColLoc
from avalon.passes import registry
from avalon.passes.manager import OpPassManager, PassManager
from avalon.passes.pass_base import Pass

PIPELINE_BUFFER = "<pass-pipeline>"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class PipelineParseError(DiagnosticError):
    """A malformed pipeline or an unknown pass/option, located in the pipeline text."""


@dataclass
class _Option:
    key: str
    value: str | None
    key_pos: int
    value_pos: int


@dataclass
class _Element:
    name: str
    pos: int
    nested: list[_Element] | None = None  # set for NAME(...) anchors
    options: list[_Option] = field(default_factory=list)
    has_options: bool = False


class _Parser:
    def __init__(self, text: str, buffer: str) -> None:
        self.text = text
        self.buffer = buffer
        self.pos = 0

    # -- errors
    def error(self, message: str, pos: int | None = None) -> PipelineParseError:
        return make_error(self.text, message, self.pos if pos is None else pos, self.buffer)

    # -- scanning
    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch: str, what: str) -> None:
        self.skip_ws()
        if self.peek() != ch:
            found = repr(self.peek()) if self.peek() else "end of pipeline"
            raise self.error(f"expected '{ch}' {what}, found {found}")
        self.pos += 1

    def name(self, chars: frozenset[str], what: str) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1
        if self.pos == start:
            found = repr(self.peek()) if self.peek() else "end of pipeline"
            raise self.error(f"expected {what}, found {found}")
        return self.text[start:self.pos]

    # -- grammar
    def parse_list(self, closing: str) -> list[_Element]:
        elements: list[_Element] = []
        self.skip_ws()
        if self.peek() == closing and closing:
            return elements
        while True:
            elements.append(self.parse_element())
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
                continue
            if self.peek() == closing:
                return elements
            if closing:
                found = repr(self.peek()) if self.peek() else "end of pipeline"
                raise self.error(f"expected ',' or '{closing}' in pipeline, found {found}")
            raise self.error(f"expected ',' between pipeline elements, found {self.peek()!r}")

    def parse_element(self) -> _Element:
        self.skip_ws()
        pos = self.pos
        name = self.name(_NAME_CHARS, "a pass or op name")
        self.skip_ws()
        elem = _Element(name, pos)
        if self.peek() == "(":
            self.pos += 1
            elem.nested = self.parse_list(")")
            self.expect(")", f"to close '{name}('")
        elif self.peek() == "{":
            self.pos += 1
            elem.has_options = True
            elem.options = self.parse_options(name)
        return elem

    def parse_options(self, owner: str) -> list[_Option]:
        options = []
        while True:
            self.skip_ws()
            if self.peek() == "}":
                self.pos += 1
                return options
            if not self.peek():
                raise self.error(f"unterminated option list of '{owner}': expected '}}'")
            key_pos = self.pos
            key = self.name(_KEY_CHARS, "an option name")
            value, value_pos = None, self.pos
            if self.peek() == "=":
                self.pos += 1
                value_pos = self.pos
                value = self.parse_value()
            elif self.peek() and not self.peek().isspace() and self.peek() != "}":
                raise self.error(f"expected '=' or whitespace after option '{key}', "
                                 f"found {self.peek()!r}")
            options.append(_Option(key, value, key_pos, value_pos))

    def parse_value(self) -> str:
        start = self.pos
        depth = 0
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in "\"'":
                self.skip_quoted(ch)
                continue
            if ch in "{[":
                depth += 1
            elif ch in "}]":
                if depth == 0:
                    break
                depth -= 1
            elif ch.isspace() and depth == 0:
                break
            self.pos += 1
        if depth:
            raise self.error("unbalanced braces in option value", start)
        return self.text[start:self.pos]

    def skip_quoted(self, quote: str) -> None:
        start = self.pos
        self.pos += 1
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\":
                self.pos += 2
                continue
            self.pos += 1
            if ch == quote:
                return
        raise self.error("unterminated string in option value", start)


def make_error(text: str, message: str, pos: int,
               buffer: str = PIPELINE_BUFFER) -> PipelineParseError:
    """A diagnostic pointing at offset ``pos`` of pipeline ``text``."""
    SOURCES.add(buffer, text)
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return PipelineParseError(Diagnostic(Severity.ERROR, message,
                                         FileLineColLoc(buffer, line, col)))


class _Builder:
    def __init__(self, text: str, buffer: str, expanding: tuple[str, ...]) -> None:
        self.text = text
        self.buffer = buffer
        self.expanding = expanding

    def error(self, message: str, pos: int) -> PipelineParseError:
        return make_error(self.text, message, pos, self.buffer)

    def fill(self, pm: OpPassManager, elements: list[_Element]) -> None:
        for elem in elements:
            if elem.nested is not None:
                self.fill(pm.nest(elem.name), elem.nested)
                continue
            try:
                found = registry.lookup(elem.name)
            except registry.UnknownNameError as err:
                raise self.error(str(err), elem.pos) from None
            if isinstance(found, registry.PipelineInfo):
                self.expand(pm, found, elem)
            else:
                pm.add(self.make_pass(found, elem))

    def make_pass(self, cls: type[Pass], elem: _Element) -> Pass:
        try:
            instance = cls()
        except Exception as err:
            raise self.error(f"cannot create pass '{elem.name}': {err}", elem.pos) from err
        for opt in elem.options:
            if opt.key not in cls.option_specs():
                valid = ", ".join(sorted(cls.option_specs())) or "none"
                raise self.error(f"pass '{elem.name}' has no option '{opt.key}'; "
                                 f"valid options: {valid}", opt.key_pos)
            try:
                instance.set_option_text(opt.key, opt.value if opt.value is not None else "")
            except ValueError as err:
                raise self.error(f"pass '{elem.name}': {err}", opt.value_pos) from None
        return instance

    def expand(self, pm: OpPassManager, info: registry.PipelineInfo, elem: _Element) -> None:
        if elem.has_options:
            raise self.error(f"named pipeline '{info.name}' takes no options", elem.pos)
        if info.name in self.expanding:
            raise self.error(f"named pipeline '{info.name}' expands to itself", elem.pos)
        if info.builder is not None:
            info.builder(pm)
            return
        try:
            # Inside a named pipeline, a single NAME(...) always names its root anchor.
            sub = parse_pipeline(info.text or "", default_anchor=pm.op_name,
                                 _expanding=(*self.expanding, info.name),
                                 _buffer=f"<pipeline {info.name}>", _any_root=True)
        except PipelineParseError as err:
            raise self.error(f"in named pipeline '{info.name}': {err.diagnostic.message}",
                             elem.pos) from None
        if sub.op_name != pm.op_name:
            raise self.error(f"named pipeline '{info.name}' is anchored on '{sub.op_name}' and "
                             f"cannot be used inside '{pm.op_name}'", elem.pos)
        for item in sub.passes:
            pm.add(item)


def parse_pipeline(text: str, *, default_anchor: str = "builtin.module",
                   _expanding: tuple[str, ...] = (),
                   _buffer: str = PIPELINE_BUFFER, _any_root: bool = False) -> PassManager:
    """Parse pipeline text into a PassManager; raises PipelineParseError with a column."""
    if not text.strip():
        return PassManager(default_anchor)
    parser = _Parser(text, _buffer)
    elements = parser.parse_list("")
    parser.skip_ws()
    if parser.pos != len(text):
        raise parser.error(f"unexpected {parser.peek()!r} after pipeline")
    root_name, body = default_anchor, elements
    if (len(elements) == 1 and elements[0].nested is not None
            and (_any_root or elements[0].name in (default_anchor, "any"))):
        root_name, body = elements[0].name, elements[0].nested
    pm = PassManager(root_name)
    _Builder(text, _buffer, _expanding).fill(pm, body)
    return pm


def format_pass(pass_: Pass) -> str:
    """A pass in pipeline syntax, with the options that differ from their defaults."""
    return pass_.pipeline_text()
