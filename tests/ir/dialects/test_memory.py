"""The memory dialect: view types against numpy's strided views, verifier errors (located),
memory effects and folds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from avalon.ir.attributes import IntegerAttr, StridedLayoutAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.diagnostics import DiagnosticError
from avalon.ir.dialects import memory as M
from avalon.ir.dialects.builtin import ModuleOp, module
from avalon.ir.location import FileLineColLoc
from avalon.ir.traits import MemoryEffect, memory_effects
from avalon.ir.types import DYNAMIC, f32, f64, i32, index, memref, vector
from avalon.ir.verifier import verify

LOC = FileLineColLoc("mem_test.py", 12, 5)


def source(t) -> Value:
    """A value of type ``t`` from an unregistered op (the verifier accepts those)."""
    return Operation.create("test.source", result_types=[t]).results[0]


def build(make) -> tuple[ModuleOp, Operation]:
    """A module holding the producers of ``make``'s operands and the op it builds."""
    m = module()
    b = Builder.at_end(m.body, LOC)
    op = make(b)
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
    assert "mem_test.py:12:5" in diag.render()


def verifies(make) -> Operation:
    m, op = build(make)
    verify(m)
    return op


# ------------------------------------------------------------------ view types vs numpy


def addresses(t) -> np.ndarray:
    """Flat storage index of every element of a memref of type ``t``."""
    strides, offset = t.strides_and_offset()
    out = np.full(t.shape, offset, dtype=np.int64)
    for d, (n, s) in enumerate(zip(t.shape, strides)):
        shape = [1] * t.rank
        shape[d] = n
        out = out + (np.arange(n) * s).reshape(shape)
    return out


def factorizations(n: int, max_rank: int = 3) -> list[tuple[int, ...]]:
    out = [(n,)]
    if max_rank > 1:
        for d in range(1, n + 1):
            if n % d == 0:
                out += [(d, *rest) for rest in factorizations(n // d, max_rank - 1)]
    return out


def draw_view_chain(data, t, arr):
    """Apply 1-4 random views to memref type ``t`` and numpy view ``arr`` alike; returns the
    ops' parameters and the final type and array."""
    steps = []
    for _ in range(data.draw(st.integers(1, 4))):
        kinds = ["subview", "transpose"]
        strides, _ = t.strides_and_offset()
        if M.is_dense(t.shape, strides):
            kinds.append("reshape")
        kind = data.draw(st.sampled_from(kinds))
        if kind == "subview":
            offs, sizes, steps_ = [], [], []
            for dim in t.shape:
                s = data.draw(st.integers(1, 3))
                o = data.draw(st.integers(0, dim - 1))
                n = data.draw(st.integers(1, (dim - 1 - o) // s + 1))
                offs.append(o)
                sizes.append(n)
                steps_.append(s)
            t = M.subview_type(t, offs, sizes, steps_)
            arr = arr[tuple(slice(o, o + (n - 1) * s + 1, s)
                            for o, n, s in zip(offs, sizes, steps_))]
            steps.append(("subview", (offs, sizes, steps_)))
        elif kind == "transpose":
            perm = data.draw(st.permutations(range(t.rank)))
            t = M.transpose_type(t, perm)
            arr = arr.transpose(perm)
            steps.append(("transpose", list(perm)))
        else:
            shape = data.draw(st.sampled_from(factorizations(math.prod(t.shape))))
            t = M.reshape_type(t, shape)
            arr = arr.reshape(shape)
            steps.append(("reshape", list(shape)))
    return steps, t, arr


@given(st.data())
def test_view_types_address_the_same_elements_as_numpy_views(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    base = memref(shape, f32)
    flat = np.arange(math.prod(shape)).reshape(shape)  # element value == storage index
    _, t, arr = draw_view_chain(data, base, flat)
    assert t.shape == arr.shape
    np.testing.assert_array_equal(addresses(t), arr)


def test_view_ops_infer_and_verify_their_types():
    def make(b):
        a = b.create(M.AllocOp, result_types=[memref([4, 8], f32)])
        sv = b.create(M.SubViewOp, a.result, static_offsets=[1, 2], static_sizes=[2, 3],
                      static_strides=[1, 2])
        return b.create(M.TransposeOp, sv.result, permutation=[1, 0])

    op = verifies(make)
    assert op.result.type == memref([3, 2], f32, StridedLayoutAttr((2, 8), 10))
    assert str(op.operands[0].type) == "memref<2x3xf32, strided<[8, 2], offset: 10>>"


def test_full_subview_keeps_the_identity_layout_and_folds():
    t = memref([4, 4], f32)
    op = M.SubViewOp.build(source(t), static_offsets=[0, 0], static_sizes=[4, 4],
                           static_strides=[1, 1])
    assert op.result.type == t
    assert op.fold([None]) == [op.source]
    part = M.SubViewOp.build(source(t), static_offsets=[0, 0], static_sizes=[2, 4],
                             static_strides=[1, 1])
    assert part.fold([None]) is None


def test_identity_transpose_and_same_type_reshape_fold():
    t = memref([2, 3], f32)
    tr = M.TransposeOp.build(source(t), permutation=[0, 1])
    assert tr.fold([None]) == [tr.source]
    tr2 = M.TransposeOp.build(source(t), permutation=[1, 0])
    assert tr2.fold([None]) is None
    rs = M.ReshapeOp.build(source(t), result_types=[t])
    assert rs.fold([None]) == [rs.source]
    rs2 = M.ReshapeOp.build(source(t), result_types=[memref([6], f32)])
    assert rs2.fold([None]) is None


def test_reshape_keeps_the_offset_of_a_dense_source():
    t = memref([2, 4], f32, StridedLayoutAttr((4, 1), 8))
    assert M.reshape_type(t, [8]) == memref([8], f32, StridedLayoutAttr((1,), 8))
    assert M.is_dense((2, 1, 4), (4, 99, 1))
    assert not M.is_dense((2, 4), (8, 1))


def test_memory_space_is_carried_by_views():
    space = M.memory_space_attr(M.GPU_SHARED)
    t = memref([4, 4], f32, memory_space=space)
    sv = M.subview_type(t, [1, 1], [2, 2], [1, 1])
    assert M.memory_space_of(sv) == 3
    assert M.memory_space_of(M.transpose_type(t, [1, 0])) == 3
    assert M.memory_space_of(M.reshape_type(t, [16])) == 3
    assert M.memory_space_of(memref([2], f32)) is None


# ------------------------------------------------------------------------- effects


def test_memory_effects_per_op():
    t = memref([4], f32)
    m, c, x = source(t), source(index), source(f32)
    cases = {
        M.AllocOp.build(result_types=[t]): {MemoryEffect.ALLOC},
        M.DeallocOp.build(m): {MemoryEffect.FREE},
        M.LoadOp.build(m, [c]): {MemoryEffect.READ},
        M.StoreOp.build(x, m, [c]): {MemoryEffect.WRITE},
        M.CopyOp.build(m, m): {MemoryEffect.READ, MemoryEffect.WRITE},
        M.FillOp.build(x, m): {MemoryEffect.WRITE},
        M.SubViewOp.build(m, static_offsets=[0], static_sizes=[2],
                          static_strides=[1]): set(),
        M.ReshapeOp.build(m, result_types=[memref([2, 2], f32)]): set(),
        M.TransposeOp.build(m, permutation=[0]): set(),
    }
    for op, effects in cases.items():
        assert memory_effects(op) == effects, op.name


# ------------------------------------------------------------------ verifier errors


def test_alloc_errors():
    expect_error(lambda b: b.create(M.AllocOp, result_types=[memref([DYNAMIC, 4], f32)]),
                 "requires a static shape")
    strided = memref([4, 4], f32, StridedLayoutAttr((8, 1), 0))
    expect_error(lambda b: b.create(M.AllocOp, result_types=[strided]),
                 "requires the identity layout")
    expect_error(lambda b: b.create(M.AllocOp, result_types=[memref([4], vector([4], f32))]),
                 "requires a scalar element type")
    bad_space = memref([4], f32, memory_space=IntegerAttr(2))
    expect_error(lambda b: b.create(M.AllocOp, result_types=[bad_space]),
                 "unknown memory space '2'")
    expect_error(lambda b: b.create(M.AllocOp, result_types=[memref([4], f32)], alignment=48),
                 "alignment must be a positive power of two, got 48")
    op = verifies(lambda b: b.create(M.AllocOp, result_types=[memref(
        [4], f32, memory_space=M.memory_space_attr(M.GPU_GLOBAL))], alignment=64))
    assert op.alignment.value == 64


def test_load_store_errors():
    t = memref([4, 4], f32)
    expect_error(lambda b: b.create(M.LoadOp, source(t), [source(index)]),
                 "expects 2 indices for 'memref<4x4xf32>', got 1")
    expect_error(lambda b: b.create(M.LoadOp, source(t), [source(index), source(i32)]),
                 "operand #2 ('indices') must be index, but got 'i32'")
    expect_error(lambda b: b.create(M.LoadOp, source(t), [source(index)] * 2,
                                    result_types=[f64]),
                 "result type 'f64' does not match the element type 'f32'")
    expect_error(lambda b: b.create(M.StoreOp, source(f64), source(t), [source(index)] * 2),
                 "value of type 'f64' cannot be stored in 'memref<4x4xf32>'")
    expect_error(lambda b: b.create(M.StoreOp, source(f32), source(t), []),
                 "expects 2 indices")
    expect_error(lambda b: b.create(M.DeallocOp, source(f32)),
                 "operand #0 ('memref') must be memref, but got 'f32'")
    verifies(lambda b: b.create(M.StoreOp, source(f32), source(t), [source(index)] * 2))


def _subview(t, offsets, sizes, strides, result=None):
    def make(b):
        kwargs = {} if result is None else {"result_types": [result]}
        return b.create(M.SubViewOp, source(t), static_offsets=offsets, static_sizes=sizes,
                        static_strides=strides, **kwargs)
    return make


def test_subview_errors():
    t = memref([4, 4], f32)
    expect_error(_subview(t, [0], [2], [1], memref([2], f32)),
                 "expects 2 offsets, sizes and strides")
    expect_error(_subview(t, [0, 0], [2, 2], [1, 0], memref([2, 2], f32)),
                 "dimension 1: needs offset >= 0, size >= 0 and stride >= 1")
    expect_error(_subview(t, [0, 3], [2, 2], [1, 1]),
                 "dimension 1: offset 3, size 2, stride 1 reach index 4, out of bounds for "
                 "size 4")
    expect_error(_subview(t, [2, 0], [2, 2], [2, 1]),
                 "dimension 0: offset 2, size 2, stride 2 reach index 4")
    expect_error(_subview(t, [0, 5], [2, 0], [1, 1], memref([2, 0], f32)),
                 "dimension 1: offset 5 is out of bounds for size 4")
    expect_error(_subview(t, [0, 1], [2, 2], [1, 1], memref([2, 2], f32)),
                 "result type 'memref<2x2xf32>' does not match the expected type "
                 "'memref<2x2xf32, strided<[4, 1], offset: 1>>'")
    expect_error(_subview(memref([DYNAMIC, 4], f32), [0, 0], [1, 1], [1, 1],
                          memref([1, 1], f32)),
                 "requires a static shape and layout")
    verifies(_subview(t, [1, 0], [2, 2], [2, 3]))


def test_reshape_errors():
    t = memref([4, 4], f32)
    expect_error(lambda b: b.create(M.ReshapeOp, source(t), result_types=[memref([15], f32)]),
                 "cannot reshape 16 elements of 'memref<4x4xf32>' into 15 elements")
    gappy = M.subview_type(t, [0, 0], [4, 2], [1, 2])
    expect_error(lambda b: b.create(M.ReshapeOp, source(gappy),
                                    result_types=[memref([8], f32)]),
                 "requires a dense (row-major, gap-free) source")
    shifted = M.subview_type(t, [1, 0], [2, 4], [1, 1])
    expect_error(lambda b: b.create(M.ReshapeOp, source(shifted),
                                    result_types=[memref([8], f32)]),
                 "does not match the expected type 'memref<8xf32, strided<[1], offset: 4>>'")
    verifies(lambda b: b.create(M.ReshapeOp, source(shifted),
                                result_types=[M.reshape_type(shifted, [2, 2, 2])]))


def test_transpose_errors():
    t = memref([2, 3], f32)
    expect_error(lambda b: b.create(M.TransposeOp, source(t), permutation=[0, 0],
                                    result_types=[t]),
                 "permutation [0, 0] is not a permutation of the 2 dimensions")
    expect_error(lambda b: b.create(M.TransposeOp, source(t), permutation=[1, 0],
                                    result_types=[memref([3, 2], f32)]),
                 "expected type 'memref<3x2xf32, strided<[1, 3]>>'")


def test_copy_and_fill_errors():
    a, b4, c = memref([4], f32), memref([2, 2], f32), memref([4], f64)
    expect_error(lambda b: b.create(M.CopyOp, source(a), source(b4)),
                 "requires source and target of the same shape and element type, got "
                 "'memref<4xf32>' and 'memref<2x2xf32>'")
    expect_error(lambda b: b.create(M.CopyOp, source(a), source(c)),
                 "same shape and element type")
    expect_error(lambda b: b.create(M.FillOp, source(f64), source(a)),
                 "value of type 'f64' cannot fill 'memref<4xf32>'")
    strided = M.subview_type(memref([8], f32), [0], [4], [2])
    verifies(lambda b: b.create(M.CopyOp, source(a), source(strided)))


def test_example_ops_are_documented():
    for cls in (M.AllocOp, M.DeallocOp, M.LoadOp, M.StoreOp, M.SubViewOp, M.ReshapeOp,
                M.TransposeOp, M.CopyOp, M.FillOp):
        assert cls.__doc__ and len(cls.__doc__.split("\n\n")[0]) > 40, cls.name
    assert "memory.subview" in M.EXAMPLE


# --------------------------------------------------------------------------- text forms

ROUND_TRIP = """\
func.func @ops(%m: memref<4x4xf32>, %g: memref<8xi32, 1>, %s: memref<f64>, %i: index,
               %v: f32, %w: i32) {
  %a = memory.alloc() : memref<4x4xf32>
  %b = memory.alloc() {alignment = 16 : i64} : memref<2x3xf32, 3>
  %x = memory.load %m[%i, %i] : memref<4x4xf32>
  %y = memory.load %s[] : memref<f64>
  memory.store %x, %a[%i, %i] {nontemporal} : memref<4x4xf32>
  memory.store %w, %g[%i] : memref<8xi32, 1>
  %sv = memory.subview %m[0, 1] [2, 2] [1, 1]
      : memref<4x4xf32> to memref<2x2xf32, strided<[4, 1], offset: 1>>
  %gv = memory.subview %g[1] [3] [2] {tag = "odd"}
      : memref<8xi32, 1> to memref<3xi32, strided<[2], offset: 1>, 1>
  %t = memory.transpose %sv [1, 0] : memref<2x2xf32, strided<[4, 1], offset: 1>>
      to memref<2x2xf32, strided<[1, 4], offset: 1>>
  %r = memory.reshape %m : memref<4x4xf32> to memref<2x8xf32>
  %r0 = memory.reshape %s : memref<f64> to memref<1x1xf64>
  memory.copy %t, %sv : memref<2x2xf32, strided<[1, 4], offset: 1>>
      to memref<2x2xf32, strided<[4, 1], offset: 1>>
  memory.fill %v, %t : memref<2x2xf32, strided<[1, 4], offset: 1>>
  memory.dealloc %a : memref<4x4xf32>
  memory.dealloc %b : memref<2x3xf32, 3>
  func.return
}
"""


def test_custom_and_generic_forms_round_trip():
    from avalon.ir.parser import parse_module
    from avalon.ir.printer import print_op

    text = print_op(parse_module(ROUND_TRIP))
    assert '"memory.' not in text  # every op printed in its custom form
    assert "memory.alloc() : memref<4x4xf32>" in text
    assert "memory.alloc() {alignment = 16 : i64} : memref<2x3xf32, 3>" in text
    assert "memory.store %" in text and "[%arg3, %arg3] {nontemporal} : memref<4x4xf32>" in text
    assert "memory.subview %arg0[0, 1] [2, 2] [1, 1] : memref<4x4xf32> to memref<2x2xf32, " \
           "strided<[4, 1], offset: 1>>" in text
    assert "[1] [3] [2] {tag = \"odd\"} : memref<8xi32, 1>" in text
    assert print_op(parse_module(text)) == text
    generic = print_op(parse_module(text), generic=True)
    assert "memory.load %" not in generic
    assert print_op(parse_module(generic)) == text


@pytest.mark.parametrize(("snippet", "message"), [
    ("%x = memory.load %m[%i] : f32", "expected a memref type, got 'f32'"),
    ("%x = memory.load %m[%i] : memref<4xf64>", "memref<4xf64>"),
    ("%a = memory.alloc(%i) : memref<4xf32>", "expected ')'"),
    ("%s = memory.subview %m[0] [2] : memref<4xf32> to memref<2xf32>", "expected '['"),
    ("%s = memory.subview %m[1] [2] [1] : memref<4xf32> to memref<2xf32>",
     "does not match the expected type 'memref<2xf32, strided<[1], offset: 1>>'"),
    ("%t = memory.transpose %m [0] : memref<4xf32> memref<4xf32>", "expected 'to'"),
])
def test_malformed_text_gives_located_diagnostics(snippet, message):
    from avalon.ir.parser import parse_module

    src = (f"func.func @f(%m: memref<4xf32>, %i: index) {{\n  {snippet}\n"
           f"  func.return\n}}\n")
    with pytest.raises(DiagnosticError) as info:
        parse_module(src, filename="bad.mlir")
    diag = info.value.diagnostic
    assert message in diag.message, diag.message
    flc = diag.location.file_line_col()
    assert flc is not None and flc.filename == "bad.mlir" and flc.line == 2


def test_example_parses_verifies_and_runs():
    from avalon.backends.interpreter import run
    from avalon.ir.parser import parse_module
    from avalon.ir.printer import print_op

    mod = parse_module(M.EXAMPLE)
    assert print_op(parse_module(print_op(mod))) == print_op(mod)
    src = np.arange(32, dtype=np.float32).reshape(4, 8)
    out = np.full(4, -1.0, np.float32)
    run(mod, "gather", src, out)
    # tmp = src.T (8x4); flattened, odd positions; element 1 of those is flat index 3.
    assert out.tolist() == [src.T.reshape(-1)[3], 0.0, 0.0, 0.0]
