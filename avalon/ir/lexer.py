"""Tokenizer for MLIR's textual syntax.

One compiled regular expression recognises every token kind (skipping whitespace and ``//``
comments in the same match), so lexing costs one C-level ``match`` per token. The token kind is
the index of the capturing group that matched. Line and column numbers are not tracked while
lexing: tokens carry their start offset, and :class:`SourceLoc` turns an offset into
``line:col`` only when a diagnostic or a printer asks for it.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from avalon.ir.diagnostics import Diagnostic, DiagnosticError, Severity
from avalon.ir.location import FileLineColLoc

# Token kinds: the number of the capturing group in TOKEN_RE.
VALUE_ID = 1  # %name or %name#3
CARET_ID = 2  # ^bb0
AT_ID = 3  # @name
AT_STRING = 4  # @"quoted name"
HASH_ID = 5  # #alias or #dialect.attr
BANG_ID = 6  # !alias or !dialect.type
STRING = 7  # "..."
FLOAT = 8  # 1.5, 2.0e-3
HEX = 9  # 0x7FC00000
INT = 10  # 42
BARE_ID = 11  # f32, arith.addf, loc
PUNCT = 12  # -> :: ... ( ) [ ] { } < > , : = * + - ? |
EOF = 13
BAD_STRING = 14  # unterminated string literal
BAD_CHAR = 15  # anything else

KIND_NAMES = {
    VALUE_ID: "SSA value", CARET_ID: "block name", AT_ID: "symbol", AT_STRING: "symbol",
    HASH_ID: "attribute alias", BANG_ID: "type alias", STRING: "string", FLOAT: "float",
    HEX: "integer", INT: "integer", BARE_ID: "identifier", PUNCT: "punctuation",
    EOF: "end of file", BAD_STRING: "string", BAD_CHAR: "character",
}

_SUFFIX = r"(?:\d+|[A-Za-z$._\-][\w$.\-]*)"
_STRING = r'"(?:[^"\\\n]|\\[^\n])*"'

TOKEN_RE = re.compile(
    r"(?:\s+|//[^\n]*)*"  # whitespace and comments are skipped by every match
    r"(?:"
    rf"(%{_SUFFIX}(?:#\d+)?)"
    rf"|(\^{_SUFFIX})"
    rf"|(@{_SUFFIX})"
    rf"|(@{_STRING})"
    r"|(#[A-Za-z_][\w$.]*)"
    r"|(![A-Za-z_][\w$.]*)"
    rf"|({_STRING})"
    r"|(\d+\.\d*(?:[eE][+-]?\d+)?)"
    r"|(0x[0-9a-fA-F]+)"
    r"|(\d+)"
    r"|([A-Za-z_][\w$.]*)"
    r"|(->|::|\.\.\.|[-(){}\[\]<>,:=*+?|])"
    r"|(\Z)"
    r'|("(?:[^"\\\n]|\\[^\n])*)'
    r"|(.)"
    r")",
    re.ASCII | re.DOTALL,
)

_ESCAPE_RE = re.compile(r"\\(?:([0-9a-fA-F]{2})|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


class Lexer:
    """Source buffer with token matching and offset -> line:col conversion."""

    __slots__ = ("_line_starts", "filename", "match", "text")

    def __init__(self, text: str, filename: str = "<stdin>") -> None:
        self.text = text
        self.filename = filename
        self.match = TOKEN_RE.match
        self._line_starts: list[int] | None = None

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        starts = self._line_starts
        if starts is None:
            starts = [0]
            text = self.text
            find = text.find
            i = find("\n")
            while i >= 0:
                starts.append(i + 1)
                i = find("\n", i + 1)
            self._line_starts = starts
        line = bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    def location(self, offset: int) -> SourceLoc:
        return SourceLoc(self, offset)

    def error(self, message: str, offset: int) -> DiagnosticError:
        """A located error at ``offset`` (the registered source lets diagnostics quote it)."""
        line, col = self.line_col(offset)
        loc = FileLineColLoc(self.filename, line, col)
        return DiagnosticError(Diagnostic(Severity.ERROR, message, loc))


class SourceLoc(FileLineColLoc):
    """A :class:`FileLineColLoc` whose line and column are computed on first use.

    Parsing stamps every op with the location of its name; computing line/col eagerly for
    100,000 ops would dominate parse time, so the position is kept as a buffer offset.
    It compares and hashes equal to the plain ``FileLineColLoc`` it stands for.
    """

    __slots__ = ("_lc", "_lexer", "_offset")

    def __init__(self, lexer: Lexer, offset: int) -> None:
        _set_lexer(self, lexer)
        _set_offset(self, offset)

    def _line_col(self) -> tuple[int, int]:
        try:
            return self._lc
        except AttributeError:
            lc = self._lexer.line_col(self._offset)
            object.__setattr__(self, "_lc", lc)
            return lc

    @property  # type: ignore[override]
    def filename(self) -> str:
        return self._lexer.filename

    @property  # type: ignore[override]
    def line(self) -> int:
        return self._line_col()[0]

    @property  # type: ignore[override]
    def col(self) -> int:
        return self._line_col()[1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FileLineColLoc):
            return NotImplemented
        return (self.filename, self.line, self.col) == (other.filename, other.line, other.col)

    def __hash__(self) -> int:
        return hash((self.filename, self.line, self.col))

    def __repr__(self) -> str:
        return f"FileLineColLoc(filename={self.filename!r}, line={self.line}, col={self.col})"

    def __reduce__(self):
        return (FileLineColLoc, (self.filename, self.line, self.col))


# Slot setters bypass the frozen dataclass __setattr__ (SourceLoc is built once per op).
_set_lexer = SourceLoc._lexer.__set__  # type: ignore[attr-defined]
_set_offset = SourceLoc._offset.__set__  # type: ignore[attr-defined]


def unescape_string(raw: str) -> str:
    """Value of a string literal body (without quotes): ``\\n \\t \\" \\\\`` and ``\\XX`` bytes.

    Raises ValueError (with the offending escape's offset in ``args[1]``) on a bad escape or
    bytes that are not UTF-8.
    """
    if "\\" not in raw:
        return raw
    out = bytearray()
    pos = 0
    for m in _ESCAPE_RE.finditer(raw):
        out += raw[pos:m.start()].encode("utf-8")
        hexpair, simple = m.groups()
        if hexpair is not None:
            out.append(int(hexpair, 16))
        elif simple in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[simple].encode()
        else:
            raise ValueError(f"unknown escape sequence '\\{simple}'", m.start())
        pos = m.end()
    out += raw[pos:].encode("utf-8")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError("string literal is not valid UTF-8", 0) from e


__all__ = [
    "AT_ID",
    "AT_STRING",
    "BAD_CHAR",
    "BAD_STRING",
    "BANG_ID",
    "BARE_ID",
    "CARET_ID",
    "EOF",
    "FLOAT",
    "HASH_ID",
    "HEX",
    "INT",
    "KIND_NAMES",
    "PUNCT",
    "STRING",
    "TOKEN_RE",
    "VALUE_ID",
    "Lexer",
    "SourceLoc",
    "unescape_string",
]
