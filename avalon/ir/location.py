"""Source locations attached to operations, in MLIR's location model.

Locations are immutable values, printed as ``loc(...)``. Diagnostics use the innermost
file/line/column location they can find to point at the user's source.
"""

from __future__ import annotations

from dataclasses import dataclass


class Location:
    """Base of all location kinds."""

    __slots__ = ()

    def file_line_col(self) -> FileLineColLoc | None:
        """The most precise file:line:col position this location carries, if any."""
        return None

    def __str__(self) -> str:
        return f"loc({self.body()})"

    def body(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


def _quote(text: str) -> str:
    out = []
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@dataclass(frozen=True, slots=True)
class UnknownLoc(Location):
    def body(self) -> str:
        return "unknown"


@dataclass(frozen=True, slots=True)
class FileLineColLoc(Location):
    filename: str
    line: int
    col: int

    def file_line_col(self) -> FileLineColLoc | None:
        return self

    def body(self) -> str:
        return f"{_quote(self.filename)}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class NameLoc(Location):
    name: str
    child: Location | None = None

    def file_line_col(self) -> FileLineColLoc | None:
        return self.child.file_line_col() if self.child is not None else None

    def body(self) -> str:
        if self.child is None or isinstance(self.child, UnknownLoc):
            return _quote(self.name)
        return f"{_quote(self.name)}({self.child.body()})"


@dataclass(frozen=True, slots=True)
class CallSiteLoc(Location):
    callee: Location
    caller: Location

    def file_line_col(self) -> FileLineColLoc | None:
        return self.callee.file_line_col() or self.caller.file_line_col()

    def body(self) -> str:
        return f"callsite({self.callee.body()} at {self.caller.body()})"


@dataclass(frozen=True, slots=True)
class FusedLoc(Location):
    locations: tuple[Location, ...]

    def file_line_col(self) -> FileLineColLoc | None:
        for loc in self.locations:
            found = loc.file_line_col()
            if found is not None:
                return found
        return None

    def body(self) -> str:
        return "fused[" + ", ".join(loc.body() for loc in self.locations) + "]"


UNKNOWN_LOC = UnknownLoc()
