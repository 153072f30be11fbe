"""The examples of docs/cpu-backend.md run, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "cpu-backend.md"


def test_cpu_backend_doc_examples_run(capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 6
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name}[block {i}]", "exec"), namespace)
    out = capsys.readouterr().out
    assert "divides by zero" in out
    assert "got shape (2, 2)" in out
    assert "overlaps argument #0" in out
    assert "'assembly.s', 'compile.json', 'input.mlir'" in out
