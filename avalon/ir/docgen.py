"""Generate the dialect reference (Markdown) from the op definitions themselves.

Everything in ``docs/dialects.md`` comes from the code: dialect descriptions, op docstrings,
declared operands/results/attributes with their constraints, regions, successors, traits, the
assembly format, and each dialect module's ``EXAMPLE``. A test compares the file with the
generated text, so the reference cannot drift from the implementation.

Regenerate with ``python -m avalon.ir.docgen > docs/dialects.md``.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Iterable, Sequence

from avalon.ir.opdef import DIALECTS, OPTIONAL, VARIADIC, Dialect, Op

REGENERATE = "python -m avalon.ir.docgen > docs/dialects.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """Inline code that may itself contain backticks."""
    if "`" in text:
        return f"`` {text} ``"
    return f"`{text}`"


def _kind(kind: str) -> str:
    return {VARIADIC: "variadic", OPTIONAL: "optional"}.get(kind, "single")


def _summary_and_details(cls: type[Op]) -> tuple[str, str]:
    """The docstring's first paragraph on one line, and the rest dedented."""
    text = inspect.cleandoc(cls.__doc__ or "")
    parts = text.split("\n\n", 1)
    summary = " ".join(line.strip() for line in parts[0].splitlines())
    return summary, parts[1].strip() if len(parts) > 1 else ""


def _syntax(cls: type[Op]) -> str:
    if cls.assembly_format:
        return "declarative: " + _code(cls.assembly_format)
    if "print_custom" in _own_hooks(cls):
        return "custom (hand-written printer and parser)"
    return "generic form only"


def _own_hooks(cls: type[Op]) -> set[str]:
    hooks = set()
    for base in cls.__mro__:
        if base in (Op,) or not issubclass(base, Op):
            continue
        hooks.update(name for name in ("print_custom", "parse_custom") if name in vars(base))
    return hooks


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    rows = list(rows)
    if not rows:
        return []
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return out + [""]


def _op_section(cls: type[Op]) -> list[str]:
    lines = [f"### `{cls.name}` ({cls.__name__})", ""]
    summary, details = _summary_and_details(cls)
    if summary:
        lines += [summary, ""]
    if details:
        lines += [details, ""]
    lines += [f"Syntax: {_syntax(cls)}", ""]
    lines += _table(("Operand", "Kind", "Type", "Description"), (
        (f"`{d.name}`", _kind(d.kind), d.constraint.description, d.doc)
        for d in cls._operand_defs))
    lines += _table(("Result", "Kind", "Type", "Description"), (
        (f"`{d.name}`", _kind(d.kind), d.constraint.description, d.doc)
        for d in cls._result_defs))
    lines += _table(("Attribute", "Required", "Constraint", "Description"), (
        (f"`{d.name}`", "yes" if d.kind != OPTIONAL else "no", d.constraint.description,
         d.doc + (f" (default `{d.default}`)" if d.default is not None else ""))
        for d in cls._attr_defs))
    lines += _table(("Region", "Kind", "Description"), (
        (f"`{d.name}`", _kind(d.kind), d.doc) for d in cls._region_defs))
    lines += _table(("Successor", "Kind", "Description"), (
        (f"`{d.name}`", _kind(d.kind), d.doc) for d in cls._successor_defs))
    traits = ", ".join(repr(t) for t in cls.traits) or "none"
    lines += [f"Traits: {traits}", ""]
    if cls.default_dialect:
        lines += [f"Default dialect inside its regions: `{cls.default_dialect}`", ""]
    return lines


def dialect_example(dialect: Dialect) -> str | None:
    """The ``EXAMPLE`` string of the module(s) defining the dialect's ops, if any."""
    for cls in dialect.ops.values():
        module = sys.modules.get(cls.__module__)
        example = getattr(module, "EXAMPLE", None)
        if isinstance(example, str) and example.strip():
            return example.strip("\n")
    return None


def _dialect_section(dialect: Dialect) -> list[str]:
    lines = [f"## Dialect `{dialect.name}`", ""]
    if dialect.description:
        lines += [dialect.description, ""]
    example = dialect_example(dialect)
    if example:
        lines += ["Example:", "", "```mlir", example, "```", ""]
    if dialect.ops:
        lines += ["Operations: " + ", ".join(f"`{name}`" for name in dialect.ops), ""]
    for cls in dialect.ops.values():
        lines += _op_section(cls)
    return lines


def documented_dialects() -> list[str]:
    """Avalon's own dialects (those with ops defined in the ``avalon`` package), sorted; ops
    registered by tests or user plugins are left out of the reference."""
    import avalon.ir.dialects  # noqa: F401  (registers every dialect)

    return sorted(name for name, d in DIALECTS.items()
                  if any(cls.__module__.startswith("avalon.") for cls in d.ops.values()))


def generate_dialect_reference(dialects: Iterable[str] | None = None) -> str:
    """Markdown reference of the named dialects (by default all of Avalon's own)."""
    import avalon.ir.dialects  # noqa: F401  (registers every dialect)

    names = documented_dialects() if dialects is None else list(dialects)
    missing = [n for n in names if n not in DIALECTS]
    if missing:
        raise KeyError(f"unknown dialect(s): {', '.join(missing)}")
    lines = [
        "# Dialect reference",
        "",
        f"Generated from the op definitions by `{REGENERATE.split(' >')[0]}`; do not edit by "
        "hand. Every op also has MLIR's generic form "
        '(`%r = "dialect.op"(%a) {attrs} : (types) -> types`); the syntax line gives its '
        "custom form.",
        "",
        "Dialects: " + ", ".join(f"[`{n}`](#dialect-{n})" for n in names),
        "",
    ]
    for name in names:
        lines += _dialect_section(DIALECTS[name])
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the generated dialect reference.")
    parser.add_argument("dialects", nargs="*", help="dialects to document (default: all)")
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    args = parser.parse_args(argv)
    text = generate_dialect_reference(args.dialects or None)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
