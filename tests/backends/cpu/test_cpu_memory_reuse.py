"""Temporary buffers of compiled code are reused across calls instead of being faulted in
again (``runtime.keep_freed_memory``)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from avalon.backends.cpu import compile_module, runtime
from avalon.ir.parser import parse_module

N = 2 << 20  # f32 elements per buffer: 8 MiB, far above glibc's default mmap threshold
BUFFERS = 4


def _source() -> str:
    """Four 8 MiB temporaries live at once (as a train step's are), filled and freed."""
    lines = []
    for k in range(BUFFERS):
        lines += [f"  %m{k} = memory.alloc() : memref<{N}xf32>",
                  f"  loop.for %i{k} = %c0 to %n step %c1 {{",
                  f"    memory.store %x, %m{k}[%i{k}] : memref<{N}xf32>",
                  "  }",
                  f"  %v{k} = memory.load %m{k}[%last] : memref<{N}xf32>"]
    lines += [f"  memory.dealloc %m{k} : memref<{N}xf32>" for k in range(BUFFERS)]
    lines += [f"  %s{k} = arith.addf {'%v0' if k == 1 else f'%s{k - 1}'}, %v{k} : f32"
              for k in range(1, BUFFERS)]
    return (f"func.func @scratch(%x: f32) -> f32 {{\n"
            f"  %c0 = arith.constant 0 : index\n  %c1 = arith.constant 1 : index\n"
            f"  %n = arith.constant {N} : index\n  %last = arith.constant {N - 1} : index\n"
            + "\n".join(lines) + f"\n  func.return %s{BUFFERS - 1} : f32\n}}\n")


SOURCE = _source()
PAGES = BUFFERS * N * 4 // 4096


def faults_per_call(fn, calls: int = 5) -> float:
    fn(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for k in range(calls):
        assert fn(float(k)) == BUFFERS * float(k)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
def test_large_temporaries_do_not_fault_on_every_call() -> None:
    if not runtime.keep_freed_memory():
        pytest.skip("not glibc")
    fn = compile_module(parse_module(SOURCE), cache=False).function("scratch")
    assert faults_per_call(fn) < PAGES / 8


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
def test_default_thresholds_fault_on_every_call() -> None:
    """With ``AVALON_KEEP_FREED_MEMORY=0`` malloc is left alone; with glibc's initial
    thresholds (128 KiB; the dynamic ones drift with the process's history) the buffers
    are unmapped after each call and faulted in again: what the tuning avoids."""
    code = (
        "import ctypes\n"
        "from avalon.backends.cpu import compile_module, runtime\n"
        "from avalon.ir.parser import parse_module\n"
        "from tests.backends.cpu.test_cpu_memory_reuse import SOURCE, PAGES, faults_per_call\n"
        "assert not runtime.keep_freed_memory()\n"
        "fn = compile_module(parse_module(SOURCE), cache=False).function('scratch')\n"
        "libc = ctypes.CDLL(None)\n"
        "assert libc.mallopt(-3, 128 * 1024) and libc.mallopt(-1, 128 * 1024)\n"
        "print(faults_per_call(fn) / PAGES)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, runtime.KEEP_MEMORY_ENV: "0"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) > 0.5
