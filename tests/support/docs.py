"""Executing the code blocks of a Markdown document, so examples in docs stay true."""

from __future__ import annotations

import re
from pathlib import Path

FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def code_blocks(path: Path, language: str = "python") -> list[tuple[int, str]]:
    """(line number, code) of each fenced block in ``language``."""
    text = path.read_text()
    blocks = []
    for m in FENCE.finditer(text):
        if m.group(1) == language:
            blocks.append((text.count("\n", 0, m.start()) + 2, m.group(2)))
    return blocks


def run_python_blocks(path: Path) -> dict:
    """Run a document's python blocks in order in one namespace (later blocks build on
    earlier ones); a failure names the document and the block's line."""
    namespace: dict = {"__name__": f"doc_{path.stem}"}
    for line, code in code_blocks(path):
        try:
            exec(compile(code, f"{path}:{line}", "exec"), namespace)
        except Exception as e:  # re-raise with the block's location in the message
            raise AssertionError(f"{path.name}: block at line {line} failed: {e!r}") from e
    return namespace
