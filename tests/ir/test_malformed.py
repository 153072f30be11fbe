"""Malformed input gives a located DiagnosticError (never another exception).

Each case names the exact ``line:col`` of the offending token and a fragment of the message.
The fuzz tests feed random text and random mutations of valid IR to the parser.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.parser import parse_module

OK = '%0 = "d.a"() : () -> f32\n'

CASES = [
    # -- lexer
    ('"d.a"() : () -> () ;', 1, 20, "unexpected character ';'"),
    ('"d.a"() : () -> ()\n"d.b', 2, 1, "expected '\"' in string literal"),
    ('% = "d.a"() : () -> f32', 1, 1, "invalid SSA value name after '%'"),
    ('"d.a"() {s = "a\\qb"} : () -> ()', 1, 16, "unknown escape sequence '\\q'"),
    ('"d.a"() {s = "\\FF"} : () -> ()', 1, 15, "not valid UTF-8"),
    ('"d.a"()[^] : () -> ()', 1, 9, "invalid block name after '^'"),
    ('"d.a"() : () -> () é', 1, 20, "unexpected character 'é'"),
    # -- op syntax
    ('"d.a" : () -> ()', 1, 7, "expected '(' to start operand list"),
    ('"d.a"()', 1, 8, "expected ':' followed by operation type"),
    (OK + '"d.b"(%0) : () -> ()', 2, 13, "expected 1 operand type but had 0"),
    ('%0 = "d.a"() : () -> ()', 1, 1, "operation defines 0 results but was provided 1"),
    ('%0:0 = "d.a"() : () -> ()', 1, 4, "at least 1 result"),
    ('%0#1 = "d.a"() : () -> f32', 1, 1, "without '#' suffix"),
    ('"d.a"(%x) : (f32) -> ()', 1, 7, "use of undeclared SSA value name '%x'"),
    (OK + OK, 2, 1, "redefinition of SSA value '%0'"),
    (OK + '"d.b"(%0) : (i32) -> ()', 2, 7,
     "use of value '%0' expects different type than prior uses: 'i32' vs 'f32'"),
    ('"d.b"(%v) : (f32) -> ()\n%v = "d.a"() : () -> i32', 2, 1,
     "definition of SSA value '%v' has type 'i32' but was previously used with type 'f32'"),
    (OK + '"d.b"(%0#3) : (f32) -> ()', 2, 7, "reference to invalid result number 3"),
    ('"nope.op"() : () -> ()', 1, 1, "unregistered operation 'nope.op'"),
    ('"" () : () -> ()', 1, 1, "empty operation name"),
    ("nope.op %x : f32", 1, 1, "custom op 'nope.op' is unknown"),
    ("123", 1, 1, "expected operation name in quotes"),
    ('%0 = 5', 1, 6, "expected operation name"),
    # -- types
    ('"d.a"() : () -> f33', 1, 17, "unknown type 'f33'"),
    ('"d.a"() : () -> 5', 1, 17, "expected type"),
    ('"d.a"() : () -> tensor<*xf32>', 1, 24, "unranked tensor types are not supported"),
    ('"d.a"() : () -> tensor<4xf32', 1, 29, "expected '>' to end tensor type"),
    ('"d.a"() : () -> vector<?xf32>', 1, 24, "vector types must have static shape"),
    ('"d.a"() : () -> i99999999', 1, 17, "integer bitwidth is limited"),
    ('"d.a"() : () -> !nope', 1, 17, "undefined symbol alias id 'nope'"),
    ('"d.a"() : () -> !nope<x>', 1, 17, "without a '.' in their name"),
    ('"d.a"() : (f32 -> ()', 1, 16, "expected ')'"),
    ('"d.a"() : () -> memref<4xf32, 1, 2>', 1, 35, "expected '>' to end memref type"),
    # -- attributes
    ('"d.a"() {a = 300 : i8} : () -> ()', 1, 14, "integer constant out of range for type 'i8'"),
    ('"d.a"() {a = 1.5 : i32} : () -> ()', 1, 14, "floating point value not valid"),
    ('"d.a"() {a = 1 : f32} : () -> ()', 1, 14, "unexpected decimal integer literal"),
    ('"d.a"() {a = -0x7F : f32} : () -> ()', 1, 14, "should not have a leading minus"),
    ('"d.a"() {a = 0x1FFFFFFFF : f32} : () -> ()', 1, 14, "out of range for type 'f32'"),
    ('"d.a"() {a = 1, a = 2} : () -> ()', 1, 17, "duplicate key 'a'"),
    ('"d.a"() {a = #nope} : () -> ()', 1, 14, "undefined symbol alias id 'nope'"),
    ('"d.a"() {a = #foo.bar<[>} : () -> ()', 1, 24, "unbalanced '>'"),
    ('"d.a"() {a = } : () -> ()', 1, 14, "expected attribute value"),
    ('"d.a"() {a = 1 b = 2} : () -> ()', 1, 16, "expected ',' or '}' in attribute dictionary"),
    ('"d.a"() {a = @x::} : () -> ()', 1, 18, "expected nested symbol reference"),
    ('"d.a"() {a = 9' + "9" * 5000 + '} : () -> ()', 1, 14, "5001 digits is too large"),
    ('"d.a"() {a = dense<[1, 2]> : tensor<3xi32>} : () -> ()', 1, 30,
     "inferred shape of elements literal ([2]) does not match type ([3])"),
    ('"d.a"() {a = dense<[[1], [2, 3]]> : tensor<2x2xi32>} : () -> ()', 1, 26,
     "ranks are not consistent"),
    ('"d.a"() {a = dense<[1.5]> : tensor<1xi32>} : () -> ()', 1, 21,
     "expected integer elements, but parsed floating-point"),
    ('"d.a"() {a = dense<1> : i32} : () -> ()', 1, 25, "static tensor or vector type"),
    ('"d.a"() {a = dense<"0x0102"> : tensor<3xi8>} : () -> ()', 1, 20,
     "hex data size is invalid"),
    ('"d.a"() {a = dense<1.0> : tensor<99999x99999x99xf32>} : () -> ()', 1, 27,
     "is too large"),
    ('"d.a"() {a = array<tensor<2xf32>: 1>} : () -> ()', 1, 20, "invalid element type"),
    ('"d.a"() {a = array<i8: 1000>} : () -> ()', 1, 24, "out of range for type 'i8'"),
    ('"d.a"() {a = affine_map<(d0) -> (d1)>} : () -> ()', 1, 34,
     "use of undeclared identifier 'd1'"),
    ('"d.a"() {a = affine_map<(d0, d0) -> (d0)>} : () -> ()', 1, 30,
     "redefinition of identifier 'd0'"),
    ('"d.a"() {a = strided<[1], 2>} : () -> ()', 1, 27, "expected 'offset'"),
    ('!t = f32\n!t = i32', 2, 1, "redefinition of type alias id 't'"),
    # -- regions and blocks
    ('"d.a"() ({\n  "d.br"()[^bb9] : () -> ()\n}) : () -> ()', 2, 12,
     "reference to an undefined block '^bb9'"),
    ('"d.a"() ({\n^bb0:\n  "d.x"() : () -> ()\n^bb0:\n}) : () -> ()', 4, 1,
     "redefinition of block '^bb0'"),
    ('"d.a"() ({\n  "d.x"() : () -> ()\n', 3, 1, "expected '}' to end region"),
    ('"d.a"() ({\n^bb1(%x f32):\n}) : () -> ()', 2, 9, "expected ':' after argument name"),
    ('"d.a"() ({' * 200, 1, 970, "nesting too deep"),  # the 97th region
    ('"d.a"() {a = ' + "[" * 500 + "]" * 500 + "} : () -> ()", 1, 110, "nesting too deep"),
    # -- locations
    ('"d.a"() : () -> () loc("f":x)', 1, 28, "expected integer line number"),
    ('"d.a"() : () -> () loc(#later)', 1, 24, "'#later' was never defined"),
    ('"d.a"() : () -> () loc(callsite("a" "b"))', 1, 37, "expected 'at' in callsite"),
    ('"d.a"() : () -> () loc(unknown', 1, 31, "expected ')' to end location"),
    ('"d.a"() : () -> () loc(fused<"m">["a"])', 1, 29, "metadata is not supported"),
    # -- custom forms
    ("module {\n  \"d.a\"() : () -> ()\n} extra", 3, 3, "custom op 'extra' is unknown"),
    ("module attributes {\n", 2, 1, "expected attribute name"),
]


@pytest.mark.parametrize(("text", "line", "col", "fragment"), CASES,
                         ids=[f"case{i}" for i in range(len(CASES))])
def test_malformed_input_is_located(text: str, line: int, col: int, fragment: str):
    with pytest.raises(DiagnosticError) as info:
        parse_module(text, "bad.mlir", allow_unregistered=text.count('"nope.op"') == 0,
                     verify=False)
    diag = info.value.diagnostic
    rendered = diag.render(show_source=False)
    assert rendered.startswith(f"bad.mlir:{line}:{col}: error: "), rendered
    assert fragment in diag.message, rendered
    assert "internal" not in diag.message


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


def test_diagnostic_shows_source_line_and_caret():
    with pytest.raises(DiagnosticError) as info:
        parse_module('"d.a"() : () -> f33', "caret.mlir", allow_unregistered=True)
    assert str(info.value) == ("caret.mlir:1:17: error: unknown type 'f33'\n"
                               '"d.a"() : () -> f33\n'
                               "                ^")


# ------------------------------------------------------------------------------ fuzzing
SAMPLE = """#map = affine_map<(d0, d1)[s0] -> (d0 + s0, d1 * 2)>
!t = tensor<2x3xf32>
module @m attributes {k = "v"} {
  func.func @f(%arg0: f32, %arg1: i32) -> f32 {
    %0 = arith.constant 1.5 : f32
    %1 = arith.addf %arg0, %0 : f32
    %2 = arith.sitofp %arg1 : i32 to f32
    %3 = arith.cmpf olt, %1, %2 : f32
    %4 = arith.select %3, %1, %2 : f32
    return %4 : f32
  }
  %5:2 = "x.op"(%6) ({
  ^bb0(%a: !t loc("in.py":1:2)):
    "x.br"(%a)[^bb1] : (!t) -> ()
  ^bb1(%b: !t):
    "x.ret"(%b) {m = #map, d = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : !t} : (!t) -> ()
  }) {s = @f::@g, a = [1, 2.5, true, unit], x = array<i64: 1, 2>} : (i1) -> (f32, i64)
  %6 = "x.c"() {v = 0x7FC00000 : f32, w = strided<[4, 1], offset: ?>} : () -> i1 loc(#l)
}
#l = loc(callsite("a"("f":1:2) at fused[unknown, "g":3:4]))
"""

SIGNIFICANT = list('%^@#!"(){}[]<>,:=*+-?|.\\x0123456789 \n') + [
    "->", "::", "loc(", "dense<", "tensor<", "%0", "^bb1", "f32", "i1", "{", "}", "//"]


def check(text: str, verify: bool = False) -> None:
    try:
        parse_module(text, "fuzz.mlir", allow_unregistered=True, verify=verify)
    except DiagnosticError as e:
        assert "internal parser error" not in e.diagnostic.message, e.diagnostic.message
        assert e.diagnostic.location.file_line_col() is not None


def test_sample_is_valid():
    parse_module(SAMPLE, "fuzz.mlir", allow_unregistered=True, verify=False)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)
               | st.sampled_from(["\n", "\t", "é"]), max_size=200))
def test_random_text_never_escapes_as_a_python_exception(text: str):
    check(text)


@st.composite
def mutations(draw) -> str:
    text = SAMPLE
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 12)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        piece = draw(st.sampled_from(SIGNIFICANT))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + piece + text[i:]
        elif kind == "replace":
            text = text[:i] + piece + text[j:]
        else:
            text = text[:i] + text[i:j] * 2 + text[j:]
    return text


@given(mutations())
def test_mutated_ir_parses_or_gives_a_located_diagnostic(text: str):
    check(text)


@given(mutations())
def test_mutated_ir_with_verification_gives_only_diagnostics(text: str):
    with contextlib.suppress(DiagnosticError):
        parse_module(text, "fuzz.mlir", allow_unregistered=True, verify=True)
