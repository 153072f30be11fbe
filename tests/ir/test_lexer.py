"""The tokenizer: token kinds, comments, string escapes, offsets and lazy source locations."""

from __future__ import annotations

import pickle

import pytest

from avalon.ir import lexer as lx
from avalon.ir.diagnostics import SOURCES, DiagnosticError
from avalon.ir.lexer import Lexer, SourceLoc, unescape_string
from avalon.ir.location import FileLineColLoc


def tokens(text: str) -> list[tuple[int, str]]:
    out = []
    pos = 0
    while True:
        m = lx.TOKEN_RE.match(text, pos)
        k = m.lastindex
        out.append((k, m.group(k)))
        pos = m.end()
        if k in (lx.EOF, lx.BAD_CHAR, lx.BAD_STRING):
            return out


def test_every_token_kind():
    text = ('%0 %arg1#2 %a-b.c$ ^bb3 @sym @"quoted sym" #map #arith.fastmath !t !llvm.ptr '
            '"str\\n" 1.5 2.0e-3 7. 0x7FC00000 42 arith.addf f32 -> :: ... ( ) [ ] { } < > , '
            ': = * + - ? |')
    kinds = [k for k, _ in tokens(text)]
    assert kinds[:22] == [
        lx.VALUE_ID, lx.VALUE_ID, lx.VALUE_ID, lx.CARET_ID, lx.AT_ID, lx.AT_STRING,
        lx.HASH_ID, lx.HASH_ID, lx.BANG_ID, lx.BANG_ID, lx.STRING, lx.FLOAT, lx.FLOAT,
        lx.FLOAT, lx.HEX, lx.INT, lx.BARE_ID, lx.BARE_ID, lx.PUNCT, lx.PUNCT, lx.PUNCT,
        lx.PUNCT,
    ]
    assert kinds[-1] == lx.EOF
    texts = [t for _, t in tokens(text)]
    assert texts[1] == "%arg1#2" and texts[2] == "%a-b.c$"
    assert texts.count("->") == 1 and texts.count("::") == 1 and texts.count("...") == 1


def test_comments_and_whitespace_are_skipped():
    toks = tokens("// header\n  %0 // trailing ; comment\n\t= // x\n")
    assert toks == [(lx.VALUE_ID, "%0"), (lx.PUNCT, "="), (lx.EOF, "")]


def test_shape_dimensions_lex_as_integer_then_identifier():
    assert tokens("4x4xf32")[:2] == [(lx.INT, "4"), (lx.BARE_ID, "x4xf32")]


def test_bad_tokens():
    assert tokens('"never closed')[-1] == (lx.BAD_STRING, '"never closed')
    assert tokens("  ;")[-1] == (lx.BAD_CHAR, ";")
    assert tokens("% x")[0] == (lx.BAD_CHAR, "%")
    assert tokens("é")[0] == (lx.BAD_CHAR, "é")


@pytest.mark.parametrize(("raw", "value"), [
    ("plain", "plain"),
    ('a\\"b\\\\c', 'a"b\\c'),
    ("tab\\tnl\\n", "tab\tnl\n"),
    ("\\41\\42", "AB"),
    ("\\C3\\A9", "é"),
    ("raw é", "raw é"),
])
def test_unescape(raw: str, value: str):
    assert unescape_string(raw) == value


def test_unescape_errors():
    with pytest.raises(ValueError, match="unknown escape"):
        unescape_string("a\\qb")
    with pytest.raises(ValueError, match="UTF-8"):
        unescape_string("\\FF")


def test_line_col_of_offsets():
    lexer = Lexer("ab\ncd\n\nxyz", "f.mlir")
    assert lexer.line_col(0) == (1, 1)
    assert lexer.line_col(2) == (1, 3)  # the newline itself ends line 1
    assert lexer.line_col(3) == (2, 1)
    assert lexer.line_col(6) == (3, 1)
    assert lexer.line_col(9) == (4, 3)


def test_source_loc_is_lazy_and_equals_plain_location():
    lexer = Lexer("first\n  second", "s.mlir")
    loc = SourceLoc(lexer, 8)
    plain = FileLineColLoc("s.mlir", 2, 3)
    assert loc == plain and plain == loc
    assert hash(loc) == hash(plain)
    assert {loc: 1}[plain] == 1
    assert str(loc) == 'loc("s.mlir":2:3)'
    assert loc.file_line_col() is loc
    assert loc != FileLineColLoc("s.mlir", 2, 4)
    assert pickle.loads(pickle.dumps(loc)) == plain
    with pytest.raises(AttributeError):
        loc.line = 3  # type: ignore[misc]


def test_lexer_error_is_located_and_quotes_source():
    lexer = Lexer("abc\n  def", "e.mlir")
    SOURCES.add("e.mlir", lexer.text)
    err = lexer.error("boom", 6)
    assert isinstance(err, DiagnosticError)
    assert str(err).splitlines() == ["e.mlir:2:3: error: boom", "  def", "  ^"]
