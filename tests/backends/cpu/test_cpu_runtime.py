"""The Python side of calling native code: argument checks, outputs, run-time errors, the GIL."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from avalon.backends.cpu import (
    NativeMemoryError,
    NativeZeroDivisionError,
    compile_module,
)
from avalon.ir.parser import parse_module

SOURCE = """
func.func @axpy(%a: f32 {avalon.name = "alpha"}, %x: memref<4x3xf32> {avalon.name = "x"},
                %y: memref<4x3xf32> {avalon.name = "y", avalon.out}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  loop.for %i = %c0 to %c4 step %c1 {
    loop.for %j = %c0 to %c3 step %c1 {
      %v = memory.load %x[%i, %j] : memref<4x3xf32>
      %w = arith.mulf %a, %v : f32
      memory.store %w, %y[%i, %j] : memref<4x3xf32>
    }
  }
  func.return
}

func.func @read_only(%x: memref<3xi64>) -> i64 {
  %c0 = arith.constant 0 : index
  %v = memory.load %x[%c0] : memref<3xi64>
  func.return %v : i64
}

func.func @strided_arg(%x: memref<3xf64, strided<[2], offset: 1>>) -> f64 {
  %c2 = arith.constant 2 : index
  %v = memory.load %x[%c2] : memref<3xf64, strided<[2], offset: 1>>
  func.return %v : f64
}

func.func @scalars(%a: i8, %b: i1, %c: f16, %d: bf16, %e: index) -> (i8, i1, f16, bf16, index) {
  func.return %a, %b, %c, %d, %e : i8, i1, f16, bf16, index
}

func.func @vec(%v: vector<4xi32>) -> vector<4xi32> {
  %w = arith.addi %v, %v : vector<4xi32>
  func.return %w : vector<4xi32>
}

func.func @div(%a: i32, %b: i32) -> i32 {
  %q = arith.divsi %a, %b : i32
  func.return %q : i32
}

func.func @div_loop(%m: memref<8xi64>, %d: memref<8xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  loop.for %i = %c0 to %c8 step %c1 {
    %a = memory.load %m[%i] : memref<8xi64>
    %b = memory.load %d[%i] : memref<8xi64>
    %q = arith.remui %a, %b : i64
    memory.store %q, %m[%i] : memref<8xi64>
  }
  func.return
}

func.func @huge() -> memref<1125899906842624xi8> {
  %m = memory.alloc() : memref<1125899906842624xi8>
  func.return %m : memref<1125899906842624xi8>
}

func.func @spin(%n: index) -> f64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f64
  %k = arith.constant 0.999999 : f64
  %one = arith.constant 1.0 : f64
  %r = loop.for %i = %c0 to %n step %c1 iter_args(%acc = %zero) -> (f64) {
    %m = arith.mulf %acc, %k : f64
    %s = arith.addf %m, %one : f64
    loop.yield %s : f64
  }
  func.return %r : f64
}

func.func @frees(%m: memref<4xf32>) {
  memory.dealloc %m : memref<4xf32>
  func.return
}

func.func private @hidden(%x: f32) -> f32 {
  func.return %x : f32
}

func.func private @cosf(f32) -> f32

func.func @libm_call(%x: f32) -> f32 {
  %y = func.call @cosf(%x) : (f32) -> f32
  func.return %y : f32
}

func.func @wide(%x: i128) -> i128 {
  func.return %x : i128
}
"""


@pytest.fixture(scope="module")
def compiled():
    return compile_module(parse_module(SOURCE))


# ---------------------------------------------------------------------------- checks


def test_wrong_argument_count_names_signature(compiled) -> None:
    f = compiled.function("axpy")
    with pytest.raises(TypeError, match=r"'@axpy' takes 3 arguments .* or 2 without its "
                                        r"output buffers, got 1"):
        f(1.0)


def test_wrong_shape(compiled) -> None:
    with pytest.raises(ValueError, match=r"argument #1 \('x'\): expected memref<4x3xf32> of "
                                         r"shape \(4, 3\), got shape \(3, 4\)"):
        compiled.function("axpy")(1.0, np.zeros((3, 4), np.float32))


def test_wrong_dtype(compiled) -> None:
    with pytest.raises(TypeError, match=r"argument #1 \('x'\): expected memref<4x3xf32> with "
                                        r"dtype float32, got dtype float64"):
        compiled.function("axpy")(1.0, np.zeros((4, 3)))


def test_not_an_array(compiled) -> None:
    with pytest.raises(TypeError, match=r"argument #1 \('x'\): expected memref<4x3xf32> \(a "
                                        r"numpy array .*got a Python list"):
        compiled.function("axpy")(1.0, [[0.0] * 3] * 4)


def test_non_contiguous(compiled) -> None:
    x = np.zeros((3, 4), np.float32).T
    with pytest.raises(ValueError, match=r"argument #1 \('x'\): expected a C-contiguous array "
                                         r"with byte strides \(12, 4\).*got byte strides "
                                         r"\(4, 16\)"):
        compiled.function("axpy")(1.0, x)


def test_scalar_checks(compiled) -> None:
    f = compiled.function("axpy")
    x = np.ones((4, 3), np.float32)
    with pytest.raises(TypeError, match=r"argument #0 \('alpha'\): expected f32, got a numpy "
                                        r"float64 scalar"):
        f(np.float64(2.0), x)
    with pytest.raises(TypeError, match=r"argument #0 \('alpha'\): expected scalar f32, got a "
                                        r"Python str"):
        f("2", x)
    s = compiled.function("scalars")
    with pytest.raises(ValueError, match=r"argument #0: expected i8, got 300"):
        s(300, True, 1.0, 1.0, 0)
    with pytest.raises(ValueError, match=r"argument #1: expected i1, got 2"):
        s(1, 2, 1.0, 1.0, 0)
    with pytest.raises(TypeError, match=r"argument #4: expected index, got a Python float"):
        s(1, True, 1.0, 1.0, 0.5)


def test_scalars_round_trip(compiled) -> None:
    a, b, c, d, e = compiled.function("scalars")(255, True, 65504.0, 1.00390625, -(2**63))
    assert a == -1 and a.dtype == np.int8  # 255 fits the signless i8 as -1
    assert b is np.True_
    assert c == np.float16(65504.0) and c.dtype == np.float16
    assert d == np.float32(1.0)  # rounded once to bf16 (ties to even), held in float32
    assert e == -(2**63) and e.dtype == np.int64


def test_vectors(compiled) -> None:
    v = compiled.function("vec")
    assert np.array_equal(v(np.array([1, -2, 3, 2**30], np.int32)), [2, -4, 6, -(2**31)])
    assert np.array_equal(v([1, 2, 3, 4]), [2, 4, 6, 8])
    with pytest.raises(ValueError, match=r"expected vector<4xi32> of shape \(4,\), got shape"):
        v(np.arange(5, dtype=np.int32))
    with pytest.raises(TypeError, match="does not convert safely"):
        v(np.arange(4, dtype=np.int64))


def test_read_only_arrays(compiled) -> None:
    x = np.array([7, 8, 9], np.int64)
    x.flags.writeable = False
    assert compiled.function("read_only")(x) == 7  # never written: accepted
    y = np.ones((4, 3), np.float32)
    y.flags.writeable = False
    with pytest.raises(ValueError, match=r"argument #2 \('y'\): got a read-only array, but "
                                         r"the function writes this argument"):
        compiled.function("axpy")(1.0, np.ones((4, 3), np.float32), y)


def test_strided_argument_needs_exact_layout(compiled) -> None:
    base = np.arange(8, dtype=np.float64)
    view = base[1::2][:3]
    assert compiled.function("strided_arg")(view) == 5.0
    with pytest.raises(ValueError, match=r"expected a strided array with byte strides \(16,\)"):
        compiled.function("strided_arg")(np.arange(3, dtype=np.float64))


# ---------------------------------------------------------------------- outputs, aliasing


def test_outputs_are_allocated_or_filled(compiled) -> None:
    f = compiled.function("axpy")
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    y = f(2.0, x)
    assert np.array_equal(y, 2 * x)
    out = np.zeros((4, 3), np.float32)
    assert f(3.0, x, out) is out
    assert np.array_equal(out, 3 * x)


def test_overlapping_written_argument_is_rejected(compiled) -> None:
    x = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"argument #2 \('y'\) overlaps argument #1 \('x'\)"):
        compiled.function("axpy")(2.0, x, x)


def test_noalias_off_allows_overlap() -> None:
    module = parse_module(SOURCE)
    f = compile_module(module, noalias=False).function("axpy")
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    f(2.0, x, x)
    assert np.array_equal(x, 2 * np.arange(12, dtype=np.float32).reshape(4, 3))


def test_functions_that_cannot_be_called(compiled) -> None:
    with pytest.raises(TypeError, match="may deallocate a buffer argument"):
        compiled.function("frees")
    with pytest.raises(TypeError, match="private visibility"):
        compiled.function("hidden")
    with pytest.raises(TypeError, match="integers of width 128 have no numpy dtype"):
        compiled.function("wide")
    with pytest.raises(KeyError, match="no function named '@nope'"):
        compiled.function("nope")


def test_external_c_function(compiled) -> None:
    assert compiled.function("libm_call")(0.0) == 1.0


# ------------------------------------------------------------------------- run-time errors


def test_division_by_zero_raises(compiled) -> None:
    f = compiled.function("div")
    assert f(7, -2) == -3
    assert f(-(2**31), -1) == -(2**31)
    with pytest.raises(NativeZeroDivisionError, match=r"'arith.divsi' op divides by zero"):
        f(1, 0)
    with pytest.raises(ZeroDivisionError):
        f(0, 0)
    m = np.arange(8, dtype=np.int64)
    d = np.array([1, 2, 3, 4, 0, 6, 7, 8], np.int64)
    with pytest.raises(NativeZeroDivisionError, match=r"<stdin>:\d+:\d+: 'arith.remui'"):
        compiled.function("div_loop")(m, d)


def test_allocation_failure_raises(compiled) -> None:
    with pytest.raises(NativeMemoryError, match=r"'memory\.alloc' op could not allocate"):
        compiled.function("huge")()


def test_gil_is_released_during_calls(compiled) -> None:
    """While one thread runs native code, the main thread keeps running Python: it ticks
    many times in the middle half of the call's time window (with the GIL held, it could only
    tick at the window's edges, before the native call starts and after it returns)."""
    spin = compiled.function("spin")
    n = 10_000_000
    while True:
        t0 = time.perf_counter()
        spin(n)
        if time.perf_counter() - t0 >= 0.1:
            break
        n *= 2
    window: list[float] = []

    def work() -> None:
        window.append(time.perf_counter())
        spin(n)
        window.append(time.perf_counter())

    worker = threading.Thread(target=work)
    ticks: list[float] = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    start, end = window
    quarter = (end - start) / 4
    middle = sum(1 for t in ticks if start + quarter < t < end - quarter)
    assert middle > 100, (middle, len(ticks), end - start)
