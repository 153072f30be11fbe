"""The vector dialect: verifier errors (located), memory effects and folds."""

from __future__ import annotations

import pytest

from avalon.ir.attributes import StridedLayoutAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects import vector as V
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.location import FileLineColLoc
from avalon.ir.traits import MemoryEffect, memory_effects
from avalon.ir.types import f32, f64, i1, i32, index, memref, vector
from avalon.ir.verifier import verify

LOC = FileLineColLoc("vec_test.py", 3, 9)
V4 = vector([4], f32)


def source(t) -> Value:
    return Operation.create("test.source", result_types=[t]).results[0]


def build(make) -> tuple[ModuleOp, Operation]:
    m = module()
    op = make(Builder.at_end(m.body, LOC))
    for v in op.operands:
        if v.owner.parent is None:
            m.body.insert_before(v.owner, op)
    return m, op


def expect_error(make, text: str) -> None:
    m, op = build(make)
    with pytest.raises(DiagnosticError) as info:
        verify(m)
    diag = info.value.diagnostic
    assert text in diag.message, diag.message
    assert diag.message.startswith(f"'{op.name}' op")
    assert diag.location == LOC


def verifies(make) -> Operation:
    m, op = build(make)
    verify(m)
    return op


def idx(n: int) -> list[Value]:
    return [source(index) for _ in range(n)]


def test_load_store_verify_and_errors():
    t = memref([4, 8], f32)
    verifies(lambda b: b.create(V.LoadOp, source(t), idx(2), result_types=[V4]))
    verifies(lambda b: b.create(V.StoreOp, source(V4), source(t), idx(2)))
    expect_error(lambda b: b.create(V.LoadOp, source(t), idx(1), result_types=[V4]),
                 "expects 2 indices for 'memref<4x8xf32>', got 1")
    expect_error(lambda b: b.create(V.LoadOp, source(t), idx(2),
                                    result_types=[vector([4], f64)]),
                 "have different element types")
    expect_error(lambda b: b.create(V.LoadOp, source(t), idx(2),
                                    result_types=[vector([16], f32)]),
                 "vector of 16 elements does not fit in the innermost dimension (size 8)")
    expect_error(lambda b: b.create(V.LoadOp, source(t), idx(2),
                                    result_types=[vector([2, 2], f32)]),
                 "expects the result to be a 1-d vector")
    strided = memref([4, 8], f32, StridedLayoutAttr((1, 4)))
    expect_error(lambda b: b.create(V.LoadOp, source(strided), idx(2), result_types=[V4]),
                 "requires the innermost dimension of")
    expect_error(lambda b: b.create(V.LoadOp, source(memref([], f32)), [],
                                    result_types=[V4]),
                 "requires a memref of rank >= 1")
    expect_error(lambda b: b.create(V.StoreOp, source(vector([4], i32)), source(t), idx(2)),
                 "have different element types")
    expect_error(lambda b: b.create(V.StoreOp, source(V4), source(t), idx(3)),
                 "expects 2 indices")


def test_broadcast_insert_extract_errors():
    verifies(lambda b: b.create(V.BroadcastOp, source(f32), result_types=[V4]))
    expect_error(lambda b: b.create(V.BroadcastOp, source(f64), result_types=[V4]),
                 "source type 'f64' does not match the element type 'f32'")
    expect_error(lambda b: b.create(V.BroadcastOp, source(f32),
                                    result_types=[vector([0], f32)]),
                 "at least one element")
    op = verifies(lambda b: b.create(V.InsertOp, source(f32), source(V4), static_position=[3]))
    assert op.result.type == V4
    expect_error(lambda b: b.create(V.InsertOp, source(f32), source(V4), static_position=[4]),
                 "position [4] is out of bounds for 'vector<4xf32>'")
    expect_error(lambda b: b.create(V.InsertOp, source(i32), source(V4), static_position=[0]),
                 "source type 'i32' does not match")
    expect_error(lambda b: b.create(V.InsertOp, source(f32), source(V4), static_position=[0],
                                    result_types=[vector([8], f32)]),
                 "result type 'vector<8xf32>' differs from the destination type")
    op = verifies(lambda b: b.create(V.ExtractOp, source(V4), static_position=[0]))
    assert op.result.type == f32
    expect_error(lambda b: b.create(V.ExtractOp, source(V4), static_position=[-1]),
                 "position [-1] is out of bounds")
    expect_error(lambda b: b.create(V.ExtractOp, source(V4), static_position=[0, 1]),
                 "out of bounds")
    expect_error(lambda b: b.create(V.ExtractOp, source(V4), static_position=[1],
                                    result_types=[f64]),
                 "result type 'f64' does not match the element type 'f32'")


def test_fma_and_reduction_errors():
    verifies(lambda b: b.create(V.FMAOp, source(V4), source(V4), source(V4)))
    expect_error(lambda b: b.create(V.FMAOp, source(V4), source(vector([4], f64)), source(V4),
                                    result_types=[V4]),
                 "requires the same type for all operands and results")
    expect_error(lambda b: b.create(V.FMAOp, *(source(vector([4], i32)) for _ in range(3))),
                 "must be vector of floating-point")
    op = verifies(lambda b: b.create(V.ReductionOp, source(V4), source(f32), kind="add"))
    assert op.result.type == f32 and op.acc is not None
    verifies(lambda b: b.create(V.ReductionOp, source(vector([8], i1)), kind="xor"))
    expect_error(lambda b: b.create(V.ReductionOp, source(V4), kind="and"),
                 "kind 'and' requires integer elements, got 'f32'")
    expect_error(lambda b: b.create(V.ReductionOp, source(V4), kind="sum"),
                 "attribute 'kind' failed to satisfy constraint")
    expect_error(lambda b: b.create(V.ReductionOp, source(V4), source(f64), kind="max"),
                 "accumulator type 'f64' does not match the element type 'f32'")
    expect_error(lambda b: b.create(V.ReductionOp, source(V4), kind="min",
                                    result_types=[i32]),
                 "result type 'i32' does not match")


def test_memory_effects():
    t = memref([8], f32)
    load = V.LoadOp.build(source(t), idx(1), result_types=[V4])
    store = V.StoreOp.build(source(V4), source(t), idx(1))
    assert memory_effects(load) == {MemoryEffect.READ}
    assert memory_effects(store) == {MemoryEffect.WRITE}
    for op in (V.BroadcastOp.build(source(f32), result_types=[V4]),
               V.FMAOp.build(source(V4), source(V4), source(V4)),
               V.ReductionOp.build(source(V4), kind="mul"),
               V.ExtractOp.build(source(V4), static_position=[0])):
        assert memory_effects(op) == frozenset(), op.name


def test_extract_folds_through_broadcast_and_insert():
    s = source(f32)
    bc = V.BroadcastOp.build(s, result_types=[V4])
    ex = V.ExtractOp.build(bc.result, static_position=[2])
    assert ex.fold([None]) == [s]
    ins = V.InsertOp.build(s, source(V4), static_position=[1])
    assert V.ExtractOp.build(ins.result, static_position=[1]).fold([None]) == [s]
    assert V.ExtractOp.build(ins.result, static_position=[0]).fold([None]) is None
    assert V.ExtractOp.build(source(V4), static_position=[0]).fold([None]) is None


def test_ops_are_documented():
    for cls in (V.LoadOp, V.StoreOp, V.BroadcastOp, V.InsertOp, V.ExtractOp, V.ReductionOp,
                V.FMAOp):
        assert cls.__doc__ and len(cls.__doc__.split("\n\n")[0]) > 40, cls.name
    assert "vector.fma" in V.EXAMPLE


# --------------------------------------------------------------------------- text forms

ROUND_TRIP = """\
func.func @ops(%m: memref<4x8xf32>, %i: index, %x: f32, %k: i32, %b: vector<8xi1>)
    -> (f32, i32) {
  %v = vector.load %m[%i, %i] : memref<4x8xf32>, vector<4xf32>
  %w = vector.broadcast %x : f32 to vector<4xf32>
  %f = vector.fma %v, %w, %v {fastmath = "contract"} : vector<4xf32>
  vector.store %f, %m[%i, %i] : memref<4x8xf32>, vector<4xf32>
  %s = vector.reduction <add>, %f, %x : vector<4xf32> into f32
  %t = vector.reduction <max>, %f : vector<4xf32> into f32
  %ki = vector.broadcast %k : i32 to vector<2xi32>
  %u = vector.reduction <xor>, %ki : vector<2xi32> into i32
  %e = vector.reduction <and>, %b : vector<8xi1> into i1
  %ins = vector.insert %s, %f[3] : f32 into vector<4xf32>
  %ex = vector.extract %ins[0] : f32 from vector<4xf32>
  func.return %ex, %u : f32, i32
}
"""


def test_custom_and_generic_forms_round_trip():
    from avalon.ir.parser import parse_module
    from avalon.ir.printer import print_op

    text = print_op(parse_module(ROUND_TRIP))
    assert '"vector.' not in text
    assert "vector.load %arg0[%arg1, %arg1] : memref<4x8xf32>, vector<4xf32>" in text
    assert "vector.reduction <add>, %" in text and "vector.reduction <xor>, %" in text
    assert "[3] : f32 into vector<4xf32>" in text and "[0] : f32 from vector<4xf32>" in text
    assert print_op(parse_module(text)) == text
    generic = print_op(parse_module(text), generic=True)
    assert 'kind = "add"' in generic and "static_position = array<i64: 3>" in generic
    assert print_op(parse_module(generic)) == text


@pytest.mark.parametrize(("snippet", "message"), [
    ("%r = vector.reduction <sum>, %v : vector<4xf32> into f32", "unknown reduction kind 'sum'"),
    ("%r = vector.reduction <and>, %v : vector<4xf32> into f32",
     "kind 'and' requires integer elements"),
    ("%r = vector.broadcast %x : f32 to f32", "expected a vector type, got 'f32'"),
    ("%r = vector.load %m[%i] : vector<4xf32>, vector<4xf32>", "expected a memref type"),
    ("%r = vector.load %m[%i] : memref<8xf32>, vector<9xf32>", "does not fit"),
    ("%r = vector.extract %v[4] : f32 from vector<4xf32>", "position [4] is out of bounds"),
    ("%r = vector.fma %v, %v : vector<4xf32>", "expected ','"),
])
def test_malformed_text_gives_located_diagnostics(snippet, message):
    from avalon.ir.parser import parse_module

    src = (f"func.func @f(%m: memref<8xf32>, %i: index, %x: f32, %v: vector<4xf32>) {{\n"
           f"  {snippet}\n  func.return\n}}\n")
    with pytest.raises(DiagnosticError) as info:
        parse_module(src, filename="bad.mlir")
    diag = info.value.diagnostic
    assert message in diag.message, diag.message
    flc = diag.location.file_line_col()
    assert flc is not None and flc.filename == "bad.mlir" and flc.line == 2


def test_example_parses_verifies_and_runs():
    import numpy as np

    from avalon.backends.interpreter import run
    from avalon.ir.parser import parse_module
    from avalon.ir.printer import print_op

    mod = parse_module(V.EXAMPLE)
    assert print_op(parse_module(print_op(mod))) == print_op(mod)
    a = np.float32(2)
    x = np.arange(16, dtype=np.float32)
    y = np.ones(16, np.float32)
    got = run(mod, "axpy_and_sum", a, x, y)
    r = a * np.arange(16, dtype=np.float32) + 1
    np.testing.assert_array_equal(y, r)
    total = np.add.accumulate(np.concatenate(([np.float32(0)], r)))[-1]
    assert got == max(total, a) + a
