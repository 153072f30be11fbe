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
        return str(value)


@dataclass
class ListOption(Option):
    """A comma-separated list option (``sizes=32,32``)."""

    def parse(self, text: str) -> Any:
        text = text.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        if not text:
            return []
        return [parse_scalar(self.type, t.strip(), self.name) for t in text.split(",")]

    def format(self, value: Any) -> str:
        return ",".join(Option.format(self, v) for v in value)


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
            return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text
    except ValueError:
        pass
    raise ValueError(f"option '{name}' expects a {t.__name__}, got '{text}'")


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
        cls_attr = type(self).__dict__.get(item) if not item.startswith("_") else None
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
