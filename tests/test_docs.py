"""The user-facing docs' examples run as written."""

from pathlib import Path

import pytest

from tests.support.docs import code_blocks, run_python_blocks

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("name", ["tutorial.md"])
def test_python_examples_run(name):
    path = DOCS / name
    assert code_blocks(path), f"{name} has no python examples"
    run_python_blocks(path)
