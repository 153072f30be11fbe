"""Loop-level programs compiled natively equal the interpreter: for loops with iter_args,
nested loops, parallel loops with reductions, conditionals with results, strided views,
copies (overlapping too), fills, allocations, vector ops and calls between functions."""

from __future__ import annotations

import numpy as np
import pytest
from _cpu_testlib import same
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from avalon.backends.cpu import compile_module
from avalon.ir.dialects import loop, memory, vector
from avalon.ir.parser import parse_module

PROGRAMS = """
func.func @sum_and_count(%m: memref<16xf32>, %lo: index, %hi: index, %step: index)
    -> (f32, i32) {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %s, %n = loop.for %i = %lo to %hi step %step iter_args(%acc = %zero, %cnt = %c0)
      -> (f32, i32) {
    %x = memory.load %m[%i] : memref<16xf32>
    %a = arith.addf %acc, %x : f32
    %k = arith.addi %cnt, %c1 : i32
    loop.yield %a, %k : f32, i32
  }
  func.return %s, %n : f32, i32
}

func.func @matvec(%a: memref<4x8xf64>, %x: memref<8xf64>, %y: memref<4xf64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0.0 : f64
  loop.for %i = %c0 to %c4 step %c1 {
    %r = loop.for %j = %c0 to %c8 step %c1 iter_args(%acc = %zero) -> (f64) {
      %aij = memory.load %a[%i, %j] : memref<4x8xf64>
      %xj = memory.load %x[%j] : memref<8xf64>
      %p = arith.mulf %aij, %xj : f64
      %s = arith.addf %acc, %p : f64
      loop.yield %s : f64
    }
    memory.store %r, %y[%i] : memref<4xf64>
  }
  func.return
}

func.func @parallel_stats(%m: memref<6x5xf32>) -> (f32, f32, i64) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c5 = arith.constant 5 : index
  %c6 = arith.constant 6 : index
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %i0 = arith.constant 0 : i64
  %sum, %max, %cnt = loop.parallel (%i, %j) = (%c0, %c1) to (%c6, %c5) step (%c1, %c2)
      init (%zero, %ninf, %i0) -> (f32, f32, i64) {
    %x = memory.load %m[%i, %j] : memref<6x5xf32>
    %one = arith.constant 1 : i64
    loop.reduce(%x, %x, %one : f32, f32, i64) {
    ^bb0(%l: f32, %r: f32):
      %s = arith.addf %l, %r : f32
      loop.reduce.return %s : f32
    }, {
    ^bb0(%l: f32, %r: f32):
      %s = arith.maximumf %l, %r : f32
      loop.reduce.return %s : f32
    }, {
    ^bb0(%l: i64, %r: i64):
      %s = arith.addi %l, %r : i64
      loop.reduce.return %s : i64
    }
  }
  func.return %sum, %max, %cnt : f32, f32, i64
}

func.func @parallel_scale(%m: memref<3x4xi32>, %k: i32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  loop.parallel (%i, %j) = (%c0, %c0) to (%c3, %c4) step (%c1, %c1) {
    %x = memory.load %m[%i, %j] : memref<3x4xi32>
    %y = arith.muli %x, %k : i32
    memory.store %y, %m[%i, %j] : memref<3x4xi32>
  }
  func.return
}

func.func @relu_count(%m: memref<10xf32>, %out: memref<10xf32>) -> i32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c10 = arith.constant 10 : index
  %zero = arith.constant 0.0 : f32
  %i0 = arith.constant 0 : i32
  %i1 = arith.constant 1 : i32
  %n = loop.for %i = %c0 to %c10 step %c1 iter_args(%cnt = %i0) -> (i32) {
    %x = memory.load %m[%i] : memref<10xf32>
    %pos = arith.cmpf ogt, %x, %zero : f32
    %y, %c = loop.if %pos -> (f32, i32) {
      %k = arith.addi %cnt, %i1 : i32
      loop.yield %x, %k : f32, i32
    } else {
      loop.yield %zero, %cnt : f32, i32
    }
    memory.store %y, %out[%i] : memref<10xf32>
    %neg = arith.cmpf olt, %x, %zero : f32
    loop.if %neg {
      %mx = arith.negf %x : f32
      memory.store %mx, %out[%i] : memref<10xf32>
    }
    loop.yield %c : i32
  }
  func.return %n : i32
}

func.func @views(%m: memref<4x6xf32>, %out: memref<3x2xf32>, %flat: memref<24xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %sub = memory.subview %m[1, 1] [3, 2] [1, 2]
      : memref<4x6xf32> to memref<3x2xf32, strided<[6, 2], offset: 7>>
  %t = memory.transpose %m [1, 0] : memref<4x6xf32> to memref<6x4xf32, strided<[1, 6]>>
  %r = memory.reshape %m : memref<4x6xf32> to memref<2x12xf32>
  loop.for %i = %c0 to %c3 step %c1 {
    loop.for %j = %c0 to %c2 step %c1 {
      %a = memory.load %sub[%i, %j] : memref<3x2xf32, strided<[6, 2], offset: 7>>
      %b = memory.load %t[%j, %i] : memref<6x4xf32, strided<[1, 6]>>
      %c = memory.load %r[%j, %i] : memref<2x12xf32>
      %s = arith.addf %a, %b : f32
      %u = arith.mulf %s, %c : f32
      memory.store %u, %out[%i, %j] : memref<3x2xf32>
    }
  }
  %mf = memory.reshape %m : memref<4x6xf32> to memref<24xf32>
  memory.copy %mf, %flat : memref<24xf32> to memref<24xf32>
  func.return
}

func.func @strided_copy_and_fill(%m: memref<4x6xf32>, %v: f32) {
  %sub = memory.subview %m[0, 1] [4, 2] [1, 3]
      : memref<4x6xf32> to memref<4x2xf32, strided<[6, 3], offset: 1>>
  %t = memory.transpose %m [1, 0] : memref<4x6xf32> to memref<6x4xf32, strided<[1, 6]>>
  %tsub = memory.subview %t[0, 0] [4, 2] [1, 1]
      : memref<6x4xf32, strided<[1, 6]>> to memref<4x2xf32, strided<[1, 6]>>
  %tmp = memory.alloc() : memref<4x2xf32>
  memory.copy %sub, %tmp : memref<4x2xf32, strided<[6, 3], offset: 1>> to memref<4x2xf32>
  memory.fill %v, %sub : memref<4x2xf32, strided<[6, 3], offset: 1>>
  memory.copy %tmp, %tsub : memref<4x2xf32> to memref<4x2xf32, strided<[1, 6]>>
  memory.dealloc %tmp : memref<4x2xf32>
  func.return
}

func.func @overlapping_copy(%m: memref<16xi32>) {
  %src = memory.subview %m[0] [6] [2] : memref<16xi32> to memref<6xi32, strided<[2]>>
  %dst = memory.subview %m[2] [6] [2]
      : memref<16xi32> to memref<6xi32, strided<[2], offset: 2>>
  memory.copy %src, %dst : memref<6xi32, strided<[2]>> to memref<6xi32, strided<[2], offset: 2>>
  %a = memory.subview %m[9] [5] [1] : memref<16xi32> to memref<5xi32, strided<[1], offset: 9>>
  %b = memory.subview %m[10] [5] [1]
      : memref<16xi32> to memref<5xi32, strided<[1], offset: 10>>
  memory.copy %b, %a
      : memref<5xi32, strided<[1], offset: 10>> to memref<5xi32, strided<[1], offset: 9>>
  func.return
}

func.func @make_buffer(%n: i64) -> (memref<3x4xi64>, memref<2x2xi64, strided<[4, 1], offset: 5>>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %m = memory.alloc() {alignment = 128 : i64} : memref<3x4xi64>
  loop.for %i = %c0 to %c3 step %c1 {
    loop.for %j = %c0 to %c4 step %c1 {
      %ii = arith.index_cast %i : index to i64
      %jj = arith.index_cast %j : index to i64
      %t = arith.muli %ii, %n : i64
      %v = arith.addi %t, %jj : i64
      memory.store %v, %m[%i, %j] : memref<3x4xi64>
    }
  }
  %s = memory.subview %m[1, 1] [2, 2] [1, 1]
      : memref<3x4xi64> to memref<2x2xi64, strided<[4, 1], offset: 5>>
  func.return %m, %s : memref<3x4xi64>, memref<2x2xi64, strided<[4, 1], offset: 5>>
}

func.func @row_of(%m: memref<3x4xf32>) -> memref<4xf32, strided<[1], offset: 4>> {
  %r = memory.subview %m[1, 0] [1, 4] [1, 1]
      : memref<3x4xf32> to memref<1x4xf32, strided<[4, 1], offset: 4>>
  %f = memory.reshape %r : memref<1x4xf32, strided<[4, 1], offset: 4>>
      to memref<4xf32, strided<[1], offset: 4>>
  func.return %f : memref<4xf32, strided<[1], offset: 4>>
}

func.func private @square(%x: f64) -> f64 {
  %y = arith.mulf %x, %x : f64
  func.return %y : f64
}

func.func private @divmod(%a: i32, %b: i32) -> (i32, i32) {
  %q = arith.divsi %a, %b : i32
  %r = arith.remsi %a, %b : i32
  func.return %q, %r : i32, i32
}

func.func private @scale_into(%m: memref<4xf64>, %k: f64) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  loop.for %i = %c0 to %c4 step %c1 {
    %x = memory.load %m[%i] : memref<4xf64>
    %y = arith.mulf %x, %k : f64
    %z = func.call @square(%y) : (f64) -> f64
    memory.store %z, %m[%i] : memref<4xf64>
  }
  func.return
}

func.func @calls(%m: memref<4xf64>, %k: f64, %a: i32, %b: i32) -> (i32, i32, f64) {
  func.call @scale_into(%m, %k) : (memref<4xf64>, f64) -> ()
  %q, %r = func.call @divmod(%a, %b) : (i32, i32) -> (i32, i32)
  %s = func.call @factorial(%k) : (f64) -> f64
  func.return %q, %r, %s : i32, i32, f64
}

func.func private @factorial(%x: f64) -> f64 {
  %one = arith.constant 1.0 : f64
  %small = arith.cmpf ole, %x, %one : f64
  %r = loop.if %small -> (f64) {
    loop.yield %one : f64
  } else {
    %y = arith.subf %x, %one : f64
    %f = func.call @factorial(%y) : (f64) -> f64
    %p = arith.mulf %x, %f : f64
    loop.yield %p : f64
  }
  func.return %r : f64
}

func.func @bool_and_half(%b: memref<8xi1>, %h: memref<8xf16>, %out: memref<8xf16>) -> i32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %z = arith.constant 0 : i32
  %one = arith.constant 1 : i32
  %n = loop.for %i = %c0 to %c8 step %c1 iter_args(%acc = %z) -> (i32) {
    %flag = memory.load %b[%i] : memref<8xi1>
    %x = memory.load %h[%i] : memref<8xf16>
    %y = arith.addf %x, %x : f16
    %w = arith.select %flag, %y, %x : f16
    memory.store %w, %out[%i] : memref<8xf16>
    %nf = arith.xori %flag, %flag : i1
    %t = arith.cmpf ogt, %x, %x : f16
    %u = arith.ori %nf, %t : i1
    memory.store %u, %b[%i] : memref<8xi1>
    %e = arith.extui %flag : i1 to i32
    %s = arith.addi %acc, %e : i32
    loop.yield %s : i32
  }
  func.return %n : i32
}

func.func @vector_ops(%x: memref<2x8xi32>, %y: memref<2x8xi32>, %f: memref<8xf32>)
    -> (i32, i32, i32, i32, f32, f32, f32, i32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %acc = arith.constant 7 : i32
  %v = vector.load %x[%c1, %c0] : memref<2x8xi32>, vector<8xi32>
  %add = vector.reduction <add>, %v, %acc : vector<8xi32> into i32
  %mx = vector.reduction <max>, %v : vector<8xi32> into i32
  %mn = vector.reduction <min>, %v, %acc : vector<8xi32> into i32
  %xo = vector.reduction <xor>, %v : vector<8xi32> into i32
  %fv = vector.load %f[%c0] : memref<8xf32>, vector<8xf32>
  %fs = vector.reduction <add>, %fv : vector<8xf32> into f32
  %fm = vector.reduction <max>, %fv : vector<8xf32> into f32
  %fp = vector.reduction <mul>, %fv, %fs : vector<8xf32> into f32
  %e = vector.extract %v[3] : i32 from vector<8xi32>
  %b = vector.broadcast %e : i32 to vector<4xi32>
  %w = vector.insert %add, %b[2] : i32 into vector<4xi32>
  vector.store %w, %y[%c0, %c4] : memref<2x8xi32>, vector<4xi32>
  %bits = vector.load %x[%c0, %c4] : memref<2x8xi32>, vector<4xi32>
  %o = vector.reduction <or>, %bits : vector<4xi32> into i32
  func.return %add, %mx, %mn, %xo, %fs, %fm, %fp, %o : i32, i32, i32, i32, f32, f32, f32, i32
}

func.func @vector_bool(%m: memref<8xi1>) -> (i1, i1, i1) {
  %c0 = arith.constant 0 : index
  %v = vector.load %m[%c0] : memref<8xi1>, vector<8xi1>
  %a = vector.reduction <and>, %v : vector<8xi1> into i1
  %o = vector.reduction <or>, %v : vector<8xi1> into i1
  %x = vector.reduction <add>, %v : vector<8xi1> into i1
  %n = arith.xori %v, %v : vector<8xi1>
  vector.store %n, %m[%c0] : memref<8xi1>, vector<8xi1>
  func.return %a, %o, %x : i1, i1, i1
}

func.func @vector_fma(%a: memref<8xf32>, %b: memref<8xf32>, %c: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %va = vector.load %a[%c0] : memref<8xf32>, vector<8xf32>
  %vb = vector.load %b[%c0] : memref<8xf32>, vector<8xf32>
  %vc = vector.load %c[%c0] : memref<8xf32>, vector<8xf32>
  %r = vector.fma %va, %vb, %vc : vector<8xf32>
  vector.store %r, %c[%c0] : memref<8xf32>, vector<8xf32>
  func.return
}
"""


@pytest.fixture(scope="module")
def programs():
    module = parse_module(PROGRAMS)
    return module, compile_module(module)


def _run(programs, name: str, *args, zero_sign_free: tuple[int, ...] = ()):
    """Native and interpreted results (and the mutated array arguments) must be equal;
    results listed in ``zero_sign_free`` may differ in the sign of a zero."""
    module, compiled = programs
    native_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    ref_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    from avalon.backends.interpreter import run

    ref = run(module, name, *ref_args)
    got = compiled.function(name)(*native_args)
    ref_t = ref if isinstance(ref, tuple) else (ref,)
    got_t = got if isinstance(got, tuple) else (got,)
    assert len(got_t) == len(ref_t)
    for k, (g, r) in enumerate(zip(got_t, ref_t)):
        if k in zero_sign_free and g == 0 and r == 0:
            continue
        assert same(g, r), (name, g, r)
    for g, r in zip(native_args, ref_args):
        if isinstance(g, np.ndarray):
            assert same(g, r), (name, g, r)
    return got


floats32 = st.floats(width=32, allow_nan=True, allow_infinity=True)


@given(m=hnp.arrays(np.float32, 16, elements=floats32),
       lo=st.integers(-1, 17), hi=st.integers(-1, 17), step=st.integers(1, 5))
def test_for_with_iter_args(programs, m, lo, hi, step) -> None:
    lo, hi = max(lo, 0), min(hi, 16)  # in-bounds indices; empty ranges allowed
    _run(programs, "sum_and_count", m, lo, hi, step)


def test_for_zero_trip_yields_inits(programs) -> None:
    got = _run(programs, "sum_and_count", np.ones(16, np.float32), 5, 5, 1)
    assert got == (0.0, 0)


@given(a=hnp.arrays(np.float64, (4, 8), elements=st.floats(-1e3, 1e3)),
       x=hnp.arrays(np.float64, 8, elements=st.floats(-1e3, 1e3)))
def test_nested_loops(programs, a, x) -> None:
    _run(programs, "matvec", a, x, np.zeros(4))


@given(m=hnp.arrays(np.float32, (6, 5), elements=floats32))
def test_parallel_reductions_in_order(programs, m) -> None:
    got = _run(programs, "parallel_stats", m)
    assert got[2] == 6 * 2


@given(m=hnp.arrays(np.int32, (3, 4)), k=st.integers(-(2**31), 2**31 - 1))
def test_parallel_without_reductions(programs, m, k) -> None:
    _run(programs, "parallel_scale", m, np.int32(k))


@given(m=hnp.arrays(np.float32, 10, elements=floats32))
def test_if_with_and_without_results(programs, m) -> None:
    _run(programs, "relu_count", m, np.zeros(10, np.float32))


@given(m=hnp.arrays(np.float32, (4, 6), elements=st.floats(-100, 100, width=32)))
def test_strided_views(programs, m) -> None:
    _run(programs, "views", m, np.zeros((3, 2), np.float32), np.zeros(24, np.float32))


@given(m=hnp.arrays(np.float32, (4, 6), elements=st.floats(-100, 100, width=32)),
       v=st.floats(-5, 5, width=32))
def test_strided_copy_and_fill(programs, m, v) -> None:
    _run(programs, "strided_copy_and_fill", m, np.float32(v))


def test_overlapping_copies_read_everything_first(programs) -> None:
    m = np.arange(16, dtype=np.int32)
    _run(programs, "overlapping_copy", m)
    out = m.copy()
    programs[1].function("overlapping_copy")(out)
    expected = np.arange(16, dtype=np.int32)
    expected[2:14:2] = np.arange(0, 12, 2)
    expected[9:14] = expected[10:15].copy()
    assert np.array_equal(out, expected)


def test_returned_buffers_are_owned_arrays(programs) -> None:
    m, s = _run(programs, "make_buffer", np.int64(10))
    assert m.shape == (3, 4) and m.flags.writeable
    assert np.array_equal(s, [[11, 12], [21, 22]])
    assert np.shares_memory(m, s)  # two results, one allocation, freed once
    assert m.__array_interface__["data"][0] % 128 == 0
    del m
    s[0, 0] = 5  # the allocation outlives the first view
    assert s[0, 0] == 5


def test_returned_view_of_argument_aliases_it(programs) -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    _run(programs, "row_of", a)
    row = programs[1].function("row_of")(a)
    assert np.shares_memory(row, a)
    assert np.array_equal(row, a[1])
    row[0] = -1
    assert a[1, 0] == -1


@given(m=hnp.arrays(np.float64, 4, elements=st.floats(-10, 10)), k=st.floats(0, 8),
       a=st.integers(-1000, 1000), b=st.integers(-50, 50).filter(bool))
def test_calls_between_functions(programs, m, k, a, b) -> None:
    _run(programs, "calls", m, k, np.int32(a), np.int32(b))


@given(b=hnp.arrays(np.bool_, 8), h=hnp.arrays(np.float16, 8))
def test_i1_and_f16_buffers(programs, b, h) -> None:
    _run(programs, "bool_and_half", b, h, np.zeros(8, np.float16))


@given(x=hnp.arrays(np.int32, (2, 8)),
       f=hnp.arrays(np.float32, 8, elements=st.floats(-4, 4, width=32)))
def test_vector_ops(programs, x, f) -> None:
    # The interpreter's float max reduction (np.maximum.reduce) does not order -0.0 below
    # +0.0; native code does, as arith.maximumf specifies.
    _run(programs, "vector_ops", x, np.zeros((2, 8), np.int32), f, zero_sign_free=(5,))


@given(m=hnp.arrays(np.bool_, 8))
def test_vector_of_i1(programs, m) -> None:
    _run(programs, "vector_bool", m)


@given(a=hnp.arrays(np.float32, 8, elements=st.floats(-100, 100, width=32)),
       b=hnp.arrays(np.float32, 8, elements=st.floats(-100, 100, width=32)),
       c=hnp.arrays(np.float32, 8, elements=st.floats(-100, 100, width=32)))
def test_vector_fma_may_fuse(programs, a, b, c) -> None:
    """``vector.fma`` lets the target fuse: equal to the unfused interpreter within the
    product's rounding error."""
    out = c.copy()
    programs[1].function("vector_fma")(a, b, out)
    exact = a.astype(np.float64) * b + c
    unfused = a * b + c
    tol = np.abs(a.astype(np.float64) * b) * 2.0 ** -23 + np.abs(exact) * 2.0 ** -23
    assert np.all(np.abs(out - unfused) <= tol + 1e-30)


@pytest.mark.parametrize("example,name,make_args", [
    (loop.EXAMPLE, "positive_sum_and_max",
     lambda: [np.linspace(-3, 3, 16, dtype=np.float32)]),
    (vector.EXAMPLE, "axpy_and_sum",
     lambda: [np.float32(0.5), np.arange(16, dtype=np.float32), np.ones(16, np.float32)]),
    (memory.EXAMPLE, "gather",
     lambda: [np.arange(32, dtype=np.float32).reshape(4, 8), np.ones(4, np.float32)]),
])
def test_dialect_examples(example, name, make_args) -> None:
    module = parse_module(example)
    compiled = compile_module(module)
    _run((module, compiled), name, *make_args())
