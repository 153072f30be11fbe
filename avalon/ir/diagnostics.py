"""Diagnostics: located errors, warnings and notes, rendered as ``file:line:col: error: msg``.

Every user-facing failure of the IR layer (lexer, parser, verifier, passes) is a
:class:`DiagnosticError`, never a bare Python exception. Rendering shows the source line and a
caret when the source text is known to :data:`SOURCES`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum

from avalon.ir.location import UNKNOWN_LOC, Location


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"
    REMARK = "remark"


class SourceRegistry:
    """Remembers the text of parsed buffers so diagnostics can quote the offending line."""

    def __init__(self, limit: int = 64) -> None:
        self._texts: dict[str, str] = {}
        self._limit = limit

    def add(self, filename: str, text: str) -> None:
        self._texts.pop(filename, None)
        self._texts[filename] = text
        while len(self._texts) > self._limit:
            self._texts.pop(next(iter(self._texts)))

    def line(self, filename: str, line: int) -> str | None:
        text = self._texts.get(filename)
        if text is None:
            return None
        lines = text.split("\n")
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return None


SOURCES = SourceRegistry()


@dataclass
class Diagnostic:
    """One message with a severity, a location and attached notes."""

    severity: Severity
    message: str
    location: Location = UNKNOWN_LOC
    notes: list[Diagnostic] = field(default_factory=list)

    def attach_note(self, message: str, location: Location | None = None) -> Diagnostic:
        note = Diagnostic(Severity.NOTE, message, location or self.location)
        self.notes.append(note)
        return note

    def render(self, *, show_source: bool = True) -> str:
        """Human form: ``file:line:col: error: message`` plus the source line and a caret."""
        flc = self.location.file_line_col()
        if flc is not None:
            head = f"{flc.filename}:{flc.line}:{flc.col}: {self.severity.value}: {self.message}"
        else:
            head = f"{self.location}: {self.severity.value}: {self.message}"
        lines = [head]
        if show_source and flc is not None:
            src = SOURCES.line(flc.filename, flc.line)
            if src is not None:
                lines.append(src)
                lines.append(" " * max(flc.col - 1, 0) + "^")
        for note in self.notes:
            lines.append(note.render(show_source=show_source))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class DiagnosticError(Exception):
    """A user-facing error carrying a located :class:`Diagnostic`."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic

    def __str__(self) -> str:
        return self.diagnostic.render()


def error(message: str, location: Location | None = None) -> DiagnosticError:
    """Make (not raise) an error; callers write ``raise error(...)``."""
    return DiagnosticError(Diagnostic(Severity.ERROR, message, location or UNKNOWN_LOC))


Handler = Callable[[Diagnostic], None]
_handlers: list[Handler] = []


def emit(diagnostic: Diagnostic) -> None:
    """Send a non-fatal diagnostic (warning, remark) to the innermost handler, or stderr."""
    if _handlers:
        _handlers[-1](diagnostic)
    else:
        print(diagnostic.render(), file=sys.stderr)


@contextlib.contextmanager
def capture_diagnostics() -> Iterator[list[Diagnostic]]:
    """Collect emitted diagnostics instead of printing them (used by --verify-diagnostics)."""
    collected: list[Diagnostic] = []
    _handlers.append(collected.append)
    try:
        yield collected
    finally:
        _handlers.pop()
