"""The generated dialect reference: it is current, complete, and its examples parse."""

from __future__ import annotations

from pathlib import Path

import pytest

import avalon.ir.dialects  # noqa: F401  (registers the dialects)
from avalon.ir.docgen import (
    REGENERATE,
    dialect_example,
    documented_dialects,
    generate_dialect_reference,
    main,
)
from avalon.ir.opdef import DIALECTS, Op
from avalon.ir.parser import parse_module

DOC = Path(__file__).resolve().parents[2] / "docs" / "dialects.md"


def test_docs_dialects_md_is_current():
    assert DOC.exists(), f"docs/dialects.md is missing; generate it with `{REGENERATE}`"
    assert DOC.read_text(encoding="utf-8") == generate_dialect_reference(), (
        f"docs/dialects.md is out of date; regenerate it with `{REGENERATE}`")


def test_reference_documents_every_op_of_every_avalon_dialect():
    text = generate_dialect_reference()
    names = documented_dialects()
    assert {"builtin", "func", "arith", "math"} <= set(names)
    for name in names:
        assert f"## Dialect `{name}`" in text
        for op_name, cls in DIALECTS[name].ops.items():
            assert f"### `{op_name}` ({cls.__name__})" in text


class _DocTestOp(Op):
    """An op registered by this test module only."""

    name = "doctest_only.op"


def test_ops_defined_outside_avalon_are_not_documented_by_default():
    assert "doctest_only" not in documented_dialects()
    assert "doctest_only.op" not in generate_dialect_reference()
    assert "doctest_only.op" in generate_dialect_reference(["doctest_only"])


def test_op_section_contents():
    text = generate_dialect_reference(["arith"])
    section = text.split("### `arith.cmpi`", 1)[1].split("\n### ", 1)[0]
    assert "Integer comparison by ``predicate``" in section
    assert "| `predicate` | yes | integer comparison predicate (i64 in 0..9) |" in section
    assert "| `lhs` | single | signless integer or index" in section
    assert "Syntax: custom (hand-written printer and parser)" in section
    assert "Traits: Pure, SameTypeOperands, Elementwise" in section
    addf = text.split("### `arith.addf`", 1)[1].split("\n### ", 1)[0]
    assert "Syntax: declarative: `` $lhs `,` $rhs attr-dict `:` type($result) ``" in addf
    assert "Commutative" in addf
    assert "```mlir\n" + dialect_example(DIALECTS["arith"]) + "\n```" in text


def test_subset_and_unknown_dialects():
    text = generate_dialect_reference(["func"])
    assert "`func.call`" in text and "`arith.addf`" not in text
    assert "Default dialect inside its regions: `func`" in text
    with pytest.raises(KeyError):
        generate_dialect_reference(["nosuch"])


def test_main_writes_file(tmp_path, capsys):
    out = tmp_path / "d.md"
    assert main(["math", "-o", str(out)]) == 0
    assert out.read_text() == generate_dialect_reference(["math"])
    assert main(["math"]) == 0
    assert capsys.readouterr().out == generate_dialect_reference(["math"])


@pytest.mark.parametrize("name", ["func", "arith", "math"])
def test_own_dialects_have_examples(name):
    assert dialect_example(DIALECTS[name])


@pytest.mark.parametrize("name", [n for n in documented_dialects()
                                  if dialect_example(DIALECTS[n])])
def test_every_dialect_example_parses_and_verifies(name):
    example = dialect_example(DIALECTS[name])
    module = parse_module(example, f"{name}-example.mlir")
    used = {op.dialect_name for op in module.walk_ops()}
    assert name in used
