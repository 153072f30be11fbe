"""``cpu-pipeline``: every tensor op through the whole pipeline, its stages, and the shape of
what it hands to the CPU backend.

The per-op cases are the hypothesis strategies of ``test_lower_to_loops.py``; here they run
through the named pipeline (generalize and fuse-elementwise first, hoist and plan-memory
after) and are interpreted, and a few of each are also compiled by the CPU backend and run
natively against the interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avalon.ir.attributes import IntegerAttr, UnitAttr
from avalon.ir.parser import parse_module
from avalon.ir.types import MemRefType
from avalon.passes import PassManager
from avalon.passes.bufferize import result_slots
from avalon.passes.pipelines import CPU_PIPELINE, OPTIONAL, stages
from tests.passes.test_lower_to_loops import (
    CASES,
    CPU,
    EXAMPLES,
    Case,
    assert_close,
    call_bufferized,
    check,
    function,
    interpret,
    lower,
    poisoned,
)

#: Dialects the CPU backend compiles.
BACKEND_DIALECTS = {"builtin", "func", "arith", "math", "memory", "loop", "vector"}




def pipeline_cases(name: str) -> st.SearchStrategy[Case]:
    return CASES[name]


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_op_through_cpu_pipeline(name: str, data: st.DataObject) -> None:
    lowered = check(data.draw(pipeline_cases(name)), CPU)
    dialects = {op.dialect_name for op in lowered.walk_ops()}
    assert dialects <= BACKEND_DIALECTS


def test_generalized_slice_verifies() -> None:
    """A slice keeping start 0 and stride 1 while shrinking a dimension generalizes to a
    plain ``d0`` read of a larger input: the output fixes the extent."""
    src = """
    func.func @f(%x: tensor<4xf32>) -> tensor<2xf32> {
      %y = tensor.slice %x, start = [0], limit = [2], stride = [1] : tensor<4xf32> -> tensor<2xf32>
      return %y : tensor<2xf32>
    }"""
    check(Case(src, [np.arange(4, dtype=np.float32)]), CPU)


def test_stages_run_in_order() -> None:
    names = stages()
    assert [n for n in CPU_PIPELINE if n in names] == names
    assert set(CPU_PIPELINE) - set(names) <= OPTIONAL
    pm = PassManager.parse("builtin.module(cpu-pipeline)")
    assert [p.name for p in pm.all_passes()] == names
    assert names.index("bufferize") + 1 == names.index("lower-to-loops")


MODEL = """
func.func @mlp(%x: tensor<4x8xf32>, %w1: tensor<8x16xf32>, %b1: tensor<16xf32>,
               %w2: tensor<16x3xf32>, %labels: tensor<4x1xi64>) -> (tensor<f32>, tensor<4xi64>) {
  %h = tensor.matmul %x, %w1 : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %bb = tensor.broadcast %b1, dims = [1] : tensor<16xf32> -> tensor<4x16xf32>
  %hb = tensor.add %h, %bb : tensor<4x16xf32>
  %zero = tensor.constant dense<0.0> : tensor<4x16xf32>
  %r = tensor.max %hb, %zero : tensor<4x16xf32>
  %logits = tensor.matmul %r, %w2 : (tensor<4x16xf32>, tensor<16x3xf32>) -> tensor<4x3xf32>
  %m = tensor.reduce max, %logits, dims = [1] : tensor<4x3xf32> -> tensor<4xf32>
  %mb = tensor.broadcast %m, dims = [0] : tensor<4xf32> -> tensor<4x3xf32>
  %s = tensor.sub %logits, %mb : tensor<4x3xf32>
  %e = tensor.exp %s : tensor<4x3xf32>
  %se = tensor.reduce sum, %e, dims = [1] : tensor<4x3xf32> -> tensor<4xf32>
  %lse = tensor.log %se : tensor<4xf32>
  %lb = tensor.broadcast %lse, dims = [0] : tensor<4xf32> -> tensor<4x3xf32>
  %logp = tensor.sub %s, %lb : tensor<4x3xf32>
  %picked = tensor.gather %logp, %labels, dim = 1 : (tensor<4x3xf32>, tensor<4x1xi64>)
      -> tensor<4x1xf32>
  %tot = tensor.reduce sum, %picked, dims = [0, 1] : tensor<4x1xf32> -> tensor<f32>
  %n = tensor.constant dense<-0.25> : tensor<f32>
  %loss = tensor.mul %tot, %n : tensor<f32>
  %pred = tensor.argmax %logits, dim = 1 : tensor<4x3xf32> -> tensor<4xi64>
  return %loss, %pred : tensor<f32>, tensor<4xi64>
}
"""


def model_inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    shapes = [(4, 8), (8, 16), (16,), (16, 3)]
    out = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return [*out, rng.integers(0, 3, (4, 1)).astype(np.int64)]


def test_model_structure_after_the_pipeline() -> None:
    """A small classifier: fused loops over buffers, the ABI on the boundary, nothing of
    the tensor level left, allocations freed."""
    module = parse_module(MODEL)
    lowered = check(Case(MODEL.replace("@mlp", "@f"), model_inputs(), 1e-5), CPU)
    fn = function(lowered)
    assert isinstance(fn.attributes["avalon.bufferized"], UnitAttr)
    dicts = fn.arg_attr_dicts()  # type: ignore[attr-defined]
    outs = [(i, d) for i, d in enumerate(dicts) if d.get("avalon.out") is not None]
    assert [d.get("avalon.result") for _, d in outs] == [IntegerAttr(0, dicts[5].get(
        "avalon.result").type), IntegerAttr(1, dicts[5].get("avalon.result").type)]
    assert [str(fn.type.inputs[i]) for i, _ in outs] == [  # type: ignore[attr-defined]
        "memref<f32>", "memref<4xi64>"]
    assert not fn.type.results  # type: ignore[attr-defined]
    assert all(isinstance(t, MemRefType) for t in fn.type.inputs)  # type: ignore
    names = [op.name for op in lowered.walk_ops()]
    allocs = names.count("memory.alloc")
    assert allocs == names.count("memory.dealloc")
    assert {n.split(".")[0] for n in names} <= BACKEND_DIALECTS
    assert str(module) != str(lowered)


def test_print_ir_after_all_shows_every_stage(tmp_path: Path) -> None:
    src = tmp_path / "model.mlir"
    src.write_text(MODEL)
    opt = Path(sys.executable).parent / "avalon-opt"
    proc = subprocess.run([str(opt), str(src), "--pass-pipeline=cpu-pipeline",
                           "--print-ir-after-all"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    dumps = [line for line in proc.stderr.splitlines() if "IR Dump After" in line]
    assert [line.split("(")[-1].split(")")[0] for line in dumps] == stages()
    assert "tensor." not in proc.stdout and "avalon.out" in proc.stdout


# ------------------------------------------------------------------------------ native


def _native_tolerance(case: Case) -> float:
    """Native math (libm, LLVM intrinsics) may differ from the interpreter's correctly
    rounded values by a few units in the last place."""
    if "f16" in case.src:
        return max(case.rtol, 2.0 ** -9)
    if "f32" in case.src:
        return max(case.rtol, 2.0 ** -20)
    return max(case.rtol, 2.0 ** -48)


def run_native(case: Case) -> None:
    """Compile the pipeline's output with the CPU backend and compare with the interpreter
    on the tensor-level function."""
    from avalon.backends.cpu import compile_module

    module = parse_module(case.src)
    want = interpret(module, case.inputs)
    lowered = lower(module, CPU)
    fn = function(lowered)
    compiled = compile_module(lowered, cache=False).function("f")
    args = []
    it = iter(case.inputs)
    for t, attrs in zip(fn.type.inputs, fn.arg_attr_dicts()):  # type: ignore[attr-defined]
        if attrs.get("avalon.out") is not None:
            args.append(poisoned(t))
        else:
            v = next(it)
            args.append(v.copy() if isinstance(v, np.ndarray) else v)
    res = compiled(*args)
    res = res if isinstance(res, tuple) else (() if res is None else (res,))
    got = [res[s.index] if s.kind == "scalar" else args[s.index]
           for s in result_slots(fn)]  # type: ignore[arg-type]
    assert_close(want, got, _native_tolerance(case))
    # the interpreter agrees with itself through the same ABI
    again, _ = call_bufferized(lowered, "f", case.inputs)
    assert_close(want, again, case.rtol)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=max(3, EXAMPLES // 4),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_op_runs_natively(name: str, data: st.DataObject) -> None:
    # numpy has no bfloat16, so bf16 buffers cannot cross into compiled code from Python.
    run_native(data.draw(pipeline_cases(name).filter(lambda c: "bf16" not in c.src)))


def test_model_runs_natively() -> None:
    run_native(Case(MODEL.replace("@mlp", "@f"), model_inputs(), 1e-5))
