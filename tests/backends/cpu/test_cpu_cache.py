"""The persistent compile cache: hits, damaged entries, concurrent processes, eviction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from avalon.backends.cpu import CACHE_STATS, CompileCache, clear_cache, compile_module
from avalon.backends.cpu.cache import cache_dir
from avalon.ir.parser import parse_module

SOURCE = """
func.func @poly(%x: f64, %n: index) -> f64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %one = arith.constant 1.0 : f64
  %r = loop.for %i = %c0 to %n step %c1 iter_args(%acc = %one) -> (f64) {
    %m = arith.mulf %acc, %x : f64
    %s = arith.addf %m, %one : f64
    loop.yield %s : f64
  }
  func.return %r : f64
}
"""


def _bigger_source(n: int) -> str:
    parts = [SOURCE]
    for k in range(n):
        parts.append(f"""
func.func @f{k}(%m: memref<64xf32>, %o: memref<64xf32>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %k = arith.constant {k}.5 : f32
  loop.for %i = %c0 to %c64 step %c1 {{
    %x = memory.load %m[%i] : memref<64xf32>
    %y = math.exp %x : f32
    %z = arith.mulf %y, %k : f32
    %w = math.tanh %z : f32
    memory.store %w, %o[%i] : memref<64xf32>
  }}
  func.return
}}
""")
    return "".join(parts)


def _poly(x: float, n: int) -> float:
    acc = 1.0
    for _ in range(n):
        acc = acc * x + 1.0
    return acc


def test_second_compile_hits_the_cache(tmp_path: Path) -> None:
    store = CompileCache(tmp_path)
    text = _bigger_source(12)
    CACHE_STATS.reset()
    t0 = time.perf_counter()
    first = compile_module(parse_module(text), cache=store)
    miss = time.perf_counter() - t0
    assert not first.from_cache and CACHE_STATS.stores == 1 and CACHE_STATS.hits == 0
    t0 = time.perf_counter()
    second = compile_module(parse_module(text), cache=store)
    hit = time.perf_counter() - t0
    assert second.from_cache and CACHE_STATS.hits == 1
    assert second.cache_key == first.cache_key
    assert second.function("poly")(0.5, 10) == _poly(0.5, 10)
    assert hit < miss, (hit, miss)
    # What was not generated on the hit is regenerated on demand.
    assert "poly__avalon_packed" in second.llvm_ir
    assert "define" in second.optimized_llvm_ir


def test_key_depends_on_pipeline_and_options(tmp_path: Path) -> None:
    store = CompileCache(tmp_path)
    module = parse_module(SOURCE)
    keys = {compile_module(module, cache=store).cache_key,
            compile_module(module, cache=store, opt_level=1).cache_key,
            compile_module(module, cache=store, noalias=False).cache_key}
    assert len(keys) == 3
    assert len(store.entries()) == 3


@pytest.mark.parametrize("damage", ["truncate_object", "garbage_object", "bad_json",
                                    "wrong_checksum", "missing_object"])
def test_damaged_entry_is_recompiled(tmp_path: Path, damage: str) -> None:
    store = CompileCache(tmp_path)
    key = compile_module(parse_module(SOURCE), cache=store).cache_key
    obj, meta = tmp_path / f"{key}.o", tmp_path / f"{key}.json"
    if damage == "truncate_object":
        obj.write_bytes(obj.read_bytes()[:100])
    elif damage == "garbage_object":
        obj.write_bytes(os.urandom(obj.stat().st_size))
    elif damage == "bad_json":
        meta.write_text("{not json")
    elif damage == "wrong_checksum":
        data = json.loads(meta.read_text())
        data["object_sha256"] = "0" * 64
        meta.write_text(json.dumps(data))
    else:
        obj.unlink()
    CACHE_STATS.reset()
    again = compile_module(parse_module(SOURCE), cache=store)
    assert not again.from_cache
    assert again.function("poly")(2.0, 5) == _poly(2.0, 5)
    assert CACHE_STATS.corrupt == (0 if damage == "missing_object" else 1)
    third = compile_module(parse_module(SOURCE), cache=store)
    assert third.from_cache  # the entry was rewritten intact


def test_concurrent_processes_share_a_cache(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        from avalon.ir.parser import parse_module
        from avalon.backends.cpu import compile_module
        source = {SOURCE!r}
        compiled = compile_module(parse_module(source))
        print(compiled.function("poly")(0.5, 20), compiled.from_cache)
    """)
    env = dict(os.environ, AVALON_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert float(out.split()[0]) == _poly(0.5, 20)
    entries = list((tmp_path / "cpu").glob("*.json"))
    assert len(entries) == 1
    assert not list((tmp_path / "cpu").glob(".tmp-*"))
    # A third process now finds the entry.
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.split()[1] == "True", out.stderr


def test_clear_and_evict(tmp_path: Path) -> None:
    store = CompileCache(tmp_path)
    for n in (3, 4, 5):
        compile_module(parse_module(SOURCE.replace("@poly", f"@poly{n}")), cache=store)
    assert len(store.entries()) == 3
    small = CompileCache(tmp_path, max_bytes=1)
    assert small.evict() == 3 and not small.entries()
    compile_module(parse_module(SOURCE), cache=store)
    assert clear_cache(tmp_path) == 2  # object and metadata
    assert not store.entries()


def test_cache_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AVALON_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "avalon"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "avalon"
    monkeypatch.setenv("AVALON_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"


def test_disabled_cache_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVALON_CACHE_DIR", str(tmp_path))
    compiled = compile_module(parse_module(SOURCE), cache=False)
    assert compiled.function("poly")(1.0, 3) == 4.0
    assert not (tmp_path / "cpu").exists()
    assert np.isfinite(compiled.compile_seconds)
