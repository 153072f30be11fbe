"""docs/nn.md's examples run as written."""

from pathlib import Path

from tests.support.docs import code_blocks, run_python_blocks

DOC = Path(__file__).resolve().parents[2] / "docs" / "nn.md"


def test_nn_reference_examples_run():
    assert len(code_blocks(DOC)) >= 6
    namespace = run_python_blocks(DOC)
    assert "net" in namespace and "criterion" in namespace
