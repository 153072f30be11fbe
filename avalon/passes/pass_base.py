"""The Pass base class: a name, typed options, statistics, and ``run(op)``.

A pass is a small class::

    class MyPass(Pass):
        '''One-line description shown by --list-passes.'''
        name = "my-pass"
        op_name = "func.func"            # anchor op (None: any op)
        threshold = Option(int, 4, "rewrite above this size")
        modes = ListOption(str, [], "which modes to run")

        def run(self, op):
            self.count("rewrites").add(1)
            ...

Options are parsed from pipeline text (``my-pass{threshold=8 modes=a,b}``); a pass reports
failure with ``raise self.fail("why", op)`` (a located diagnostic) and the pass manager stops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from avalon.ir.core import Operation
from avalon.ir.diagnostics import Diagnostic, DiagnosticError, Severity


class PassFailure(DiagnosticError):
    """Raised by a pass that could not do its job on valid input."""


@dataclass
class Option:
    """A scalar pass option: ``int``, ``float``, ``bool`` or ``str``."""

    type: type
    default: Any
    help: str = ""
    name: str = field(default="", init=False)

    def parse(self, text: str) -> Any:
        return parse_scalar(self.type, text, self.name)

    def format(self, value: Any) -> str:
        if self.type is bool:
            return "true" if value else "false"
        if self.type is str:
            return quote_if_needed(str(value))
        return str(value)


@dataclass
class ListOption(Option):
    """A comma-separated list option (``sizes=32,32``)."""

    def parse(self, text: str) -> Any:
        text = text.strip()
        if (text.startswith("[") and text.endswith("]")) or (
                text.startswith("{") and text.endswith("}")):
            text = text[1:-1]
        if not text.strip():
            return []
        return [parse_scalar(self.type, t.strip(), self.name) for t in split_list(text)]

    def format(self, value: Any) -> str:
        if not value:
            return "{}"
        return ",".join(Option.format(self, v) for v in value)


_NEEDS_QUOTES = frozenset(' \t\n{}[](),="\'')


def quote_if_needed(text: str) -> str:
    """Quote a string option value that pipeline text could not hold bare."""
    if text and not any(c in _NEEDS_QUOTES for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_list(text: str) -> list[str]:
    """Split at top-level commas, keeping quoted strings and braces intact."""
    parts, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def parse_scalar(t: type, text: str, name: str) -> Any:
    text = text.strip()
    try:
        if t is bool:
            low = text.lower()
            if low in ("true", "1", "yes", "on", ""):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        if t is int:
            return int(text, 0)
        if t is float:
            return float(text)
        if t is str:
            if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
                return re.sub(r"\\(.)", r"\1", text[1:-1])
            return text
    except ValueError:
        pass
    kind = {bool: "a bool", int: "an int", float: "a float", str: "a string"}.get(t, t.__name__)
    raise ValueError(f"option '{name}' expects {kind}, got '{text}'")


class Statistic:
    """A named counter a pass increments; reported by ``--pass-statistics``."""

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self.value = 0

    def add(self, n: int = 1) -> None:
        self.value += n


class Pass:
    """Base class of all passes; see the module docstring."""

    name: ClassVar[str] = ""
    #: Op name the pass runs on (e.g. "func.func"); None means any op (usually the module).
    op_name: ClassVar[str | None] = None
    _options: ClassVar[dict[str, Option]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        opts: dict[str, Option] = {}
        for base in reversed(cls.__mro__[1:]):
            opts.update(getattr(base, "_options", {}))
        for key, value in list(vars(cls).items()):
            if isinstance(value, Option):
                value.name = key.replace("_", "-")
                opts[value.name] = value
        cls._options = opts

    def __init__(self, **options: Any) -> None:
        self.options: dict[str, Any] = {}
        for oname, opt in self._options.items():
            default = opt.default
            self.options[oname] = list(default) if isinstance(default, list) else default
        for key, value in options.items():
            oname = key.replace("_", "-")
            if oname not in self._options:
                raise ValueError(f"pass '{self.name}' has no option '{oname}'; it has: "
                                 + (", ".join(sorted(self._options)) or "no options"))
            self.options[oname] = value
        self.statistics: dict[str, Statistic] = {}

    def __getattribute__(self, item: str) -> Any:
        # Option fields read as their current value: ``self.threshold``.
        cls_attr = getattr(type(self), item, None) if not item.startswith("_") else None
        if isinstance(cls_attr, Option):
            return object.__getattribute__(self, "options")[cls_attr.name]
        return object.__getattribute__(self, item)

    @classmethod
    def description(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.split("\n", 1)[0] if doc else ""

    @classmethod
    def option_specs(cls) -> dict[str, Option]:
        return dict(cls._options)

    def set_option_text(self, key: str, text: str) -> None:
        """Set an option from pipeline text; errors name the valid options."""
        opt = self._options.get(key)
        if opt is None:
            raise ValueError(f"pass '{self.name}' has no option '{key}'; valid options: "
                             + (", ".join(sorted(self._options)) or "none"))
        self.options[key] = opt.parse(text)

    def count(self, name: str, description: str = "") -> Statistic:
        stat = self.statistics.get(name)
        if stat is None:
            stat = self.statistics[name] = Statistic(name, description)
        return stat

    def fail(self, message: str, op: Operation | None = None) -> PassFailure:
        """``raise self.fail("why", op)``: stop the pipeline with a located error."""
        loc = op.location if op is not None else None
        diag = Diagnostic(Severity.ERROR, message, loc) if loc else Diagnostic(
            Severity.ERROR, message)
        return PassFailure(diag)

    def run(self, op: Operation) -> None:
        raise NotImplementedError(f"pass '{self.name}' must implement run(op)")

    def pipeline_text(self) -> str:
        """This pass with its non-default options, in pipeline syntax."""
        parts = []
        for oname, opt in self._options.items():
            value = self.options[oname]
            if value != opt.default:
                parts.append(f"{oname}={opt.format(value)}")
        return self.name + ("{" + " ".join(parts) + "}" if parts else "")
