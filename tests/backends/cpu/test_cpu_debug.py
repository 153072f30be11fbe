"""Debug dumps: one directory per compiled module with IR, LLVM IR and assembly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avalon.backends.cpu import CompileCache, compile_module, open_dump
from avalon.ir.parser import parse_module

SOURCE = """
func.func @twice(%x: i32) -> i32 {
  %y = arith.addi %x, %x : i32
  func.return %y : i32
}
"""

FILES = {"input.mlir", "llvm-unoptimized.ll", "llvm-optimized.ll", "assembly.s",
         "compile.json"}


def _dumps(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir())


def test_debug_dir_argument_writes_everything(tmp_path: Path) -> None:
    compiled = compile_module(parse_module(SOURCE, "twice.mlir"), debug_dir=tmp_path)
    (dump,) = _dumps(tmp_path)
    assert compiled.debug_dir == dump
    assert {p.name for p in dump.iterdir()} == FILES
    assert "func.func @twice" in (dump / "input.mlir").read_text()
    assert 'loc("twice.mlir"' in (dump / "input.mlir").read_text()
    assert 'define internal i32 @"twice"' in (dump / "llvm-unoptimized.ll").read_text()
    assert "define void @twice__avalon_packed" in (dump / "llvm-optimized.ll").read_text()
    assert "twice__avalon_packed:" in (dump / "assembly.s").read_text()
    info = json.loads((dump / "compile.json").read_text())
    assert info["cache_key"] == compiled.cache_key and info["opt_level"] == 3
    assert compiled.function("twice")(21) == 42


def test_environment_variable_turns_dumps_on(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVALON_DEBUG_DIR", str(tmp_path))
    compile_module(parse_module(SOURCE))
    compile_module(parse_module(SOURCE))
    dumps = _dumps(tmp_path)
    assert len(dumps) == 2  # a fresh subdirectory per compiled module
    assert all({p.name for p in d.iterdir()} == FILES for d in dumps)


def test_front_end_dump_is_shared(tmp_path: Path) -> None:
    """A pass pipeline writes into the dump first; the backend adds its files next to them."""
    dump = open_dump(tmp_path, "train_step")
    assert dump is not None and dump.path.parent == tmp_path
    dump.write("passes/01-after-canonicalize.mlir", SOURCE)
    compile_module(parse_module(SOURCE), debug_dir=dump)
    names = {p.relative_to(dump.path).as_posix() for p in dump.path.rglob("*") if p.is_file()}
    assert names == FILES | {"passes/01-after-canonicalize.mlir"}
    assert "train_step" in dump.path.name


def test_debug_compile_bypasses_cache_reads(tmp_path: Path) -> None:
    store = CompileCache(tmp_path / "cache")
    compile_module(parse_module(SOURCE), cache=store)
    again = compile_module(parse_module(SOURCE), cache=store, debug_dir=tmp_path / "dumps")
    assert not again.from_cache
    assert (again.debug_dir / "assembly.s").stat().st_size > 0


def test_dumps_off_by_default() -> None:
    assert open_dump(None) is None
    assert compile_module(parse_module(SOURCE)).debug_dir is None
