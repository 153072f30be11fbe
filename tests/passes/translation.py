"""Translation validation: a pass is right on a program when the interpreter gives the same
results before and after it (on the same inputs), and the IR still verifies.

``validate(module, pipeline, inputs)`` clones the module, runs the pipeline on the clone,
verifies it, interprets function ``fn`` of both and compares every result and the final
contents of every memref argument (memref arguments alias the caller's arrays, so each run
gets its own copies). ``draw_inputs`` draws arguments for a function's signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import avalon.ir.dialects  # noqa: F401  (registers every dialect)
from avalon.backends.interpreter import run
from avalon.ir.core import Operation
from avalon.ir.parser import parse_module
from avalon.ir.types import FloatType, IndexType, IntegerType, ShapedType, i1
from avalon.ir.verifier import verify
from avalon.passes.manager import PassManager


def as_module(program: str | Operation) -> Operation:
    """A verified module from text or an op."""
    module = parse_module(program) if isinstance(program, str) else program
    verify(module)
    return module


def function(module: Operation, fn: str = "f") -> Operation:
    for op in module.body.ops:  # type: ignore[attr-defined]
        name = op.attributes.get("sym_name")
        if name is not None and name.value == fn:
            return op
    raise KeyError(fn)


def apply(module: Operation, pipeline: str) -> Operation:
    """A transformed, verified clone of ``module``; ``pipeline`` is pass-manager text nested
    under ``builtin.module(...)`` (e.g. ``func.func(generalize)``)."""
    out = module.clone()
    PassManager.parse(f"builtin.module({pipeline})").run(out)
    verify(out)
    return out


def _copy(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else value


def _as_tuple(result: Any) -> tuple:
    if result is None:
        return ()
    return result if isinstance(result, tuple) else (result,)


def interpret(module: Operation, fn: str, inputs: Sequence[Any]) -> tuple:
    """Results of ``fn`` followed by the final state of its array arguments."""
    args = [_copy(v) for v in inputs]
    results = _as_tuple(run(module, fn, *args))
    return results + tuple(np.asarray(a) for a in args if isinstance(a, np.ndarray))


def assert_same(want: tuple, got: tuple, rtol: float = 0.0) -> None:
    assert len(want) == len(got)
    for k, (w, g) in enumerate(zip(want, got)):
        w, g = np.asarray(w), np.asarray(g)
        assert w.dtype == g.dtype and w.shape == g.shape, (k, w.dtype, g.dtype, w.shape, g.shape)
        if rtol:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol, err_msg=f"value #{k}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"value #{k}")


def validate(program: str | Operation, pipeline: str, inputs: Sequence[Any], *, fn: str = "f",
             rtol: float = 0.0) -> Operation:
    """Check that ``pipeline`` preserves the results of ``fn`` on ``inputs``; returns the
    transformed module for structural checks. ``rtol`` > 0 allows rounding differences
    (named reductions may add in another order than their generic form)."""
    before = as_module(program)
    after = apply(before, pipeline)
    assert_same(interpret(before, fn, inputs), interpret(after, fn, inputs), rtol)
    return after


def _elements(t: Any, lo: float, hi: float) -> st.SearchStrategy:
    if t == i1:
        return st.booleans()
    if isinstance(t, IntegerType):
        return st.integers(int(lo), int(hi))
    width = 64 if t.width == 64 else 32  # type: ignore[attr-defined]
    return st.floats(lo, hi, width=width)


def input_strategy(t: Any, lo: float = -2.0, hi: float = 2.0) -> st.SearchStrategy:
    """Values of IR type ``t``: arrays for tensors and memrefs, numbers for scalars."""
    if isinstance(t, ShapedType):
        dtype = _dtype(t.element_type)
        return arrays(dtype, t.shape, elements=_elements(t.element_type, lo, hi))
    if isinstance(t, IndexType):
        return st.integers(0, 3)
    if isinstance(t, FloatType | IntegerType):
        return _elements(t, lo, hi).map(_dtype(t).type)
    raise TypeError(f"no input strategy for {t}")


def _dtype(t: Any) -> np.dtype:
    from avalon.ir.types import to_numpy_dtype

    return np.dtype(to_numpy_dtype(t))


def draw_inputs(data: st.DataObject, module: Operation, fn: str = "f", lo: float = -2.0,
                hi: float = 2.0) -> list[Any]:
    """One argument per parameter of ``fn``, drawn with ``data``."""
    types = function(module, fn).entry_block.arg_types  # type: ignore[attr-defined]
    return [data.draw(input_strategy(t, lo, hi)) for t in types]


def count_ops(module: Operation, name: str) -> int:
    return sum(1 for op in module.walk_ops() if op.name == name)



def doc_example(section: str) -> tuple[str, str, str]:
    """The example of ``## `section``` in docs/passes.md: the input, the pipeline named on
    its ``// after: ...`` line and the documented output."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "passes.md").read_text()
    body = text.split(f"\n## `{section}`\n", 1)[1].split("\n## ", 1)[0]
    code = body.split("```mlir\n", 1)[1].split("```", 1)[0]
    before, rest = code.split("// after: ", 1)
    pipeline, after = rest.split("\n", 1)
    return before.removeprefix("// before\n"), pipeline.split("  ")[0].strip(), after


def check_doc_example(section: str) -> None:
    """The documented output is what the pipeline prints today (inside ``module { }``)."""
    before, pipeline, after = doc_example(section)
    printed = str(apply(as_module(before), pipeline))
    lines = [line.removeprefix("  ") for line in printed.splitlines()[1:-1]]
    assert "\n".join(lines) == after.rstrip("\n")
