"""What the code generator emits: vectorized loops, the packed ABI, target, diagnostics."""

from __future__ import annotations

import re

import llvmlite.binding as llvm
import numpy as np
import pytest

from avalon.backends.cpu import CodegenError, compile_module, host_target
from avalon.ir.parser import parse_module

ELEMENTWISE = """
func.func @chain(%x: memref<4096xf32>, %y: memref<4096xf32> {avalon.out}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 4096 : index
  %two = arith.constant 2.0 : f32
  %one = arith.constant 1.0 : f32
  loop.for %i = %c0 to %n step %c1 {
    %a = memory.load %x[%i] : memref<4096xf32>
    %b = arith.mulf %a, %two : f32
    %c = arith.addf %b, %one : f32
    memory.store %c, %y[%i] : memref<4096xf32>
  }
  func.return
}
"""


def test_target_is_the_host() -> None:
    host = host_target()
    assert host.cpu == llvm.get_host_cpu_name()
    assert host.triple == llvm.get_process_triple()
    assert host.features == llvm.get_host_cpu_features().flatten()


def test_elementwise_loop_is_vectorized() -> None:
    compiled = compile_module(parse_module(ELEMENTWISE))
    host = host_target()
    asm = compiled.assembly
    if host.has_feature("avx"):
        pattern = r"\bv(add|mul|fmadd\d+)ps\s+[^\n]*%[yz]mm"  # 8 or 16 floats at a time
    elif host.has_feature("sse2"):
        pattern = r"\b(add|mul)ps\s+[^\n]*%xmm"  # 4 floats at a time
    else:
        pytest.skip("host has no SIMD unit LLVM vectorizes for")
    assert re.search(pattern, asm), asm[:2000]
    assert "<8 x float>" in compiled.optimized_llvm_ir or "<16 x float>" in \
        compiled.optimized_llvm_ir or "<4 x float>" in compiled.optimized_llvm_ir
    x = np.linspace(-1, 1, 4096, dtype=np.float32)
    assert np.array_equal(compiled.function("chain")(x), x * 2 + 1)


def test_packed_abi_and_hidden_error_slot() -> None:
    compiled = compile_module(parse_module(ELEMENTWISE), opt_level=0)
    text = compiled.llvm_ir
    assert 'define internal void @"chain"(ptr %".1", ptr %".2", ptr noalias %"err")' in text
    assert 'define void @"chain__avalon_packed"(ptr %"args")' in text
    assert re.search(r'call void @"chain"\(ptr noalias %"\.\d+", ptr noalias', text)
    x = np.ones(4096, np.float32)
    assert np.array_equal(compiled.function("chain")(x), 3 * x)  # O0 code runs too


def test_views_are_free_and_addresses_in_i64() -> None:
    source = """
    func.func @pick(%m: memref<8x8xf64>) -> f64 {
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %s = memory.subview %m[1, 3] [4, 4] [2, 1]
          : memref<8x8xf64> to memref<4x4xf64, strided<[16, 1], offset: 11>>
      %v = memory.load %s[%c1, %c2] : memref<4x4xf64, strided<[16, 1], offset: 11>>
      func.return %v : f64
    }
    """
    compiled = compile_module(parse_module(source), opt_level=0)
    text = compiled.llvm_ir
    assert "mul nsw i64" in text and "getelementptr inbounds double" in text
    m = np.arange(64, dtype=np.float64).reshape(8, 8)
    assert compiled.function("pick")(m) == m[1:9:2, 3:7][1, 2]


def test_allocations_are_aligned_and_freed() -> None:
    source = """
    func.func @scratch(%x: f32) -> f32 {
      %c0 = arith.constant 0 : index
      %m = memory.alloc() : memref<3xf32>
      memory.store %x, %m[%c0] : memref<3xf32>
      %v = memory.load %m[%c0] : memref<3xf32>
      memory.dealloc %m : memref<3xf32>
      func.return %v : f32
    }
    """
    compiled = compile_module(parse_module(source), opt_level=0)
    assert re.search(r'call ptr @"aligned_alloc"\(i64 64, i64 64\)', compiled.llvm_ir)
    assert 'call void @"free"' in compiled.llvm_ir
    assert compiled.function("scratch")(1.5) == 1.5


@pytest.mark.parametrize("source,message", [
    ("""func.func @t(%a: tensor<4xf32>) -> tensor<4xf32> {
          %b = tensor.add %a, %a : tensor<4xf32>
          func.return %b : tensor<4xf32>
        }""", "has no LLVM scalar type"),
    ("""func.func @g() {
          %m = memory.alloc() : memref<4xf32, 1>
          func.return
        }""", "is not in host memory"),
    ("""func.func @free(%x: i32) -> i32 {
          func.return %x : i32
        }""", "reserved by the CPU backend's runtime"),
])
def test_unsupported_ir_gives_located_errors(source: str, message: str) -> None:
    with pytest.raises(CodegenError, match=message) as info:
        compile_module(parse_module(source, "bad.mlir"), cache=False)
    assert "bad.mlir:" in str(info.value)


def test_opt_level_is_checked() -> None:
    with pytest.raises(ValueError, match="opt_level"):
        compile_module(parse_module(ELEMENTWISE), opt_level=4)


LARGE_CONSTANT = """
func.func @big(%y: memref<{n}x{t}> {{avalon.out}}, %z: memref<{n}x{t}> {{avalon.out}}) {{
  %c0 = arith.constant 0 : index
  %k = arith.constant {dense} : vector<{n}x{t}>
  vector.store %k, %y[%c0] : memref<{n}x{t}>, vector<{n}x{t}>
  %s = {combine} %k, %k : vector<{n}x{t}>
  vector.store %s, %z[%c0] : memref<{n}x{t}>, vector<{n}x{t}>
  func.return
}}
"""


def _dense_text(values: np.ndarray, t: str) -> str:
    if t == "i1":
        items = ["true" if v else "false" for v in values]
    elif t.startswith(("f", "bf")):
        items = [repr(float(v)) for v in values]
    else:
        items = [str(int(v)) for v in values]
    return f"dense<[{', '.join(items)}]>"


@pytest.mark.parametrize("t,combine", [
    ("f32", "arith.addf"), ("f64", "arith.mulf"), ("f16", "arith.addf"), ("i64", "arith.addi"),
    ("i32", "arith.muli"), ("i8", "arith.addi"), ("i1", "arith.xori"), ("index", "arith.addi"),
])
def test_large_vector_constants_are_global_data(t: str, combine: str) -> None:
    """A big constant is copied from read-only data (a store becomes a memcpy, other uses a
    load), so code size and LLVM's scheduling time do not grow with it; values are exact."""
    from _cpu_testlib import same

    from avalon.backends.interpreter import run

    n = 1100  # at least LARGE_CONSTANT_BYTES for one-byte elements
    rng = np.random.default_rng(0)
    if t == "i1":
        values = rng.integers(0, 2, n).astype(bool)
    elif t.startswith(("f", "bf")):
        values = np.round(rng.normal(size=n), 2)
    else:
        values = rng.integers(-100, 100, n)
    source = LARGE_CONSTANT.format(n=n, t=t, dense=_dense_text(values, t), combine=combine)
    compiled = compile_module(parse_module(source), cache=False)
    globals_ = re.findall(r'@"__avalon_const\.\d+" = private unnamed_addr constant',
                          compiled.llvm_ir)
    assert len(globals_) == 1 and "call void @\"llvm.memcpy" in compiled.llvm_ir
    y, z = compiled.function("big")()
    ry, rz = np.zeros_like(y), np.zeros_like(z)
    run(parse_module(source), "big", ry, rz)  # the interpreter fills the buffers in place
    assert same(y, ry) and same(z, rz) and not same(y, np.zeros_like(y))
