"""Compile a module to host machine code and load it: the CPU backend's front door.

``compile_module`` prints the module, looks the printed text (with pipeline, target and
versions) up in the persistent cache and, on a miss, generates LLVM IR, optimizes it at the
requested level, emits an object file and stores it. Either way the object code is loaded
into a fresh MCJIT execution engine (the same path for fresh and cached code, so the cached
path is exercised on every compile). The engine lives as long as the :class:`CompiledModule`
and every :class:`~avalon.backends.cpu.runtime.CompiledFunction` taken from it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import threading
import time
from dataclasses import asdict
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from avalon.backends.cpu.abi import (
    ErrorSite,
    FunctionSignature,
    error_sites,
    function_signatures,
)
from avalon.backends.cpu.builtins import ensure_runtime_symbols
from avalon.backends.cpu.cache import CompileCache, cache_key
from avalon.backends.cpu.codegen import CodegenError, generate_llvm
from avalon.backends.cpu.debug import DebugDump, open_dump
from avalon.backends.cpu.runtime import CompiledFunction
from avalon.backends.cpu.target import (
    create_target_machine,
    host_target,
    initialize_llvm,
    optimize,
    pipeline_text,
)
from avalon.ir.core import Operation
from avalon.ir.diagnostics import Diagnostic, Severity
from avalon.ir.verifier import verify

#: LLVM's global context is not safe for concurrent use: one compilation at a time.
_LLVM_LOCK = threading.RLock()


def avalon_version() -> str:
    try:
        return importlib.metadata.version("avalon")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _print_module(module: Operation) -> str:
    from avalon.ir.printer import print_op

    return print_op(module, generic=True, debuginfo=False)


def _boundary(signatures: dict[str, FunctionSignature], sites: list[ErrorSite]) -> dict:
    """What the cached object code expects of its caller (locations left out: they do not
    change the code, and the runtime takes them from the module at hand)."""
    boundary = {
        "functions": {k: v.to_json() for k, v in sorted(signatures.items())},
        "errors": [[s.code, s.kind, s.op_name] for s in sites],
    }
    return json.loads(json.dumps(boundary))  # the form it takes after a trip through JSON


class NativeLibrary:
    """An MCJIT engine holding one module's loaded object code."""

    def __init__(self, object_code: bytes) -> None:
        ensure_runtime_symbols()
        with _LLVM_LOCK:
            empty = llvm.parse_assembly("")
            empty.triple = host_target().triple
            self._engine = llvm.create_mcjit_compiler(empty, create_target_machine())
            self._engine.add_object_file(llvm.ObjectFileRef.from_data(object_code))
            self._engine.finalize_object()

    def address(self, symbol: str) -> int:
        with _LLVM_LOCK:
            addr = self._engine.get_function_address(symbol)
        if not addr:
            raise LookupError(f"symbol '{symbol}' is not defined by the compiled module")
        return addr


class CompiledModule:
    """A module compiled to native code for this machine.

    ``function(name)`` gives a callable :class:`CompiledFunction`; ``llvm_ir``,
    ``optimized_llvm_ir`` and ``assembly`` show the generated code (recomputed on demand
    when the module came from the cache).
    """

    def __init__(self, module: Operation, library: NativeLibrary,
                 signatures: dict[str, FunctionSignature], sites: list[ErrorSite], *,
                 key: str, opt_level: int, noalias: bool, from_cache: bool,
                 debug: DebugDump | None, compile_seconds: float,
                 timings: dict[str, float] | None = None) -> None:
        self.module = module
        self.library = library
        self.signatures = signatures
        self.error_sites = sites
        self.cache_key = key
        self.opt_level = opt_level
        self.noalias = noalias
        self.from_cache = from_cache
        self.debug_dir: Path | None = debug.path if debug is not None else None
        self.compile_seconds = compile_seconds
        #: Seconds per stage: ``key`` (verify, print, hash), ``cache`` (lookup and store),
        #: ``codegen``, ``optimize``, ``emit`` (absent on a cache hit) and ``load``.
        self.timings: dict[str, float] = dict(timings or {})
        self._texts: dict[str, str] = {}
        self._functions: dict[str, CompiledFunction] = {}

    @property
    def function_names(self) -> list[str]:
        return sorted(self.signatures)

    def function(self, name: str) -> CompiledFunction:
        """The compiled function ``@name``, callable from Python."""
        fn = self._functions.get(name)
        if fn is not None:
            return fn
        sig = self.signatures.get(name)
        if sig is None:
            known = ", ".join(f"@{n}" for n in self.function_names) or "none"
            raise KeyError(f"module has no function named '@{name}' (functions: {known})")
        if not sig.exported:
            raise TypeError(f"'@{name}' cannot be called from Python: {sig.reason}")
        if sig.frees_argument:
            raise TypeError(f"'@{name}' cannot be called from Python: it may deallocate a "
                            "buffer argument, and native code cannot free a caller's array")
        fn = CompiledFunction(self, sig, self.library.address(sig.symbol), self.error_sites,
                              noalias=self.noalias)
        self._functions[name] = fn
        return fn

    def __getitem__(self, name: str) -> CompiledFunction:
        return self.function(name)

    # -- generated code, for reading
    def _set_texts(self, llvm_ir: str, optimized: str, assembly: str | None) -> None:
        self._texts["llvm_ir"] = llvm_ir
        self._texts["optimized"] = optimized
        if assembly is not None:
            self._texts["assembly"] = assembly

    def _regenerate(self) -> None:
        llvm_ir, optimized, assembly = _translate(self.module, self.opt_level, self.noalias,
                                                  want_assembly=True)[:3]
        self._set_texts(llvm_ir, optimized, assembly)

    @property
    def llvm_ir(self) -> str:
        """LLVM IR as generated, before optimization."""
        if "llvm_ir" not in self._texts:
            self._regenerate()
        return self._texts["llvm_ir"]

    @property
    def optimized_llvm_ir(self) -> str:
        """LLVM IR after the optimization pipeline."""
        if "optimized" not in self._texts:
            self._regenerate()
        return self._texts["optimized"]

    @property
    def assembly(self) -> str:
        """Host assembly of the optimized module."""
        if "assembly" not in self._texts:
            self._regenerate()
        return self._texts["assembly"]

    def __repr__(self) -> str:
        origin = "cache" if self.from_cache else "compiled"
        return f"<CompiledModule ({origin}) functions={self.function_names}>"


def _translate(module: Operation, opt_level: int, noalias: bool, *, want_assembly: bool,
               timings: dict[str, float] | None = None) -> tuple[str, str, str | None, bytes]:
    """IR -> (LLVM IR, optimized LLVM IR, assembly or None, object code). ``timings``, when
    given, receives the seconds spent in ``codegen``, ``optimize`` and ``emit``."""
    initialize_llvm()
    clock = time.perf_counter
    with _LLVM_LOCK:
        t0 = clock()
        tm = create_target_machine(opt_level)
        gen = generate_llvm(module, triple=host_target().triple,
                            data_layout=str(tm.target_data), noalias=noalias)
        try:
            llmod = llvm.parse_assembly(gen.llvm_ir)
            llmod.verify()
        except RuntimeError as exc:  # a code generator bug, reported with the module's name
            raise CodegenError(Diagnostic(
                Severity.ERROR, f"internal error: generated LLVM IR is invalid: {exc}",
                module.location)) from None
        t1 = clock()
        optimize(llmod, tm, opt_level)
        optimized = str(llmod)
        t2 = clock()
        assembly = tm.emit_assembly(llmod) if want_assembly else None
        obj = tm.emit_object(llmod)
        t3 = clock()
    if timings is not None:
        timings.update(codegen=t1 - t0, optimize=t2 - t1, emit=t3 - t2)
    return gen.llvm_ir, optimized, assembly, obj


def compile_module(module: Operation, *, opt_level: int = 3, cache: bool | CompileCache = True,
                   debug_dir: str | os.PathLike[str] | DebugDump | None = None,
                   noalias: bool = True) -> CompiledModule:
    """Compile ``module`` (func/loop/memory/arith/math/vector level) for this CPU.

    ``cache``: use the persistent compile cache (True), not at all (False), or a specific
    :class:`CompileCache`. ``debug_dir`` (or ``$AVALON_DEBUG_DIR``) dumps input IR, LLVM IR
    before and after optimization and assembly into a fresh subdirectory; a debug compile
    never reads the cache (so the dump is complete) but still fills it. ``noalias`` lets LLVM
    assume buffer arguments do not overlap; the runtime then rejects calls where an array the
    function writes overlaps another argument.
    """
    if not 0 <= opt_level <= 3:
        raise ValueError(f"opt_level must be 0..3, got {opt_level}")
    clock = time.perf_counter
    start = clock()
    verify(module)  # codegen relies on verified structure (types, terminators, dominance)
    host = host_target()
    text = _print_module(module)
    pipeline = pipeline_text(opt_level) + f";noalias={noalias}"
    key = cache_key(text, pipeline, host.triple, host.cpu, host.features, avalon_version(),
                    llvmlite.__version__)
    signatures = function_signatures(module)
    sites, _ = error_sites(module)
    boundary = _boundary(signatures, sites)
    store = None if cache is False else (cache if isinstance(cache, CompileCache)
                                        else CompileCache())
    dump = open_dump(debug_dir, _module_label(module))
    timings = {"key": clock() - start}
    if store is not None and dump is None:
        t0 = clock()
        entry = store.load(key)
        timings["cache"] = clock() - t0
        if entry is not None and entry.metadata.get("boundary") == boundary:
            t0 = clock()
            library = NativeLibrary(entry.object_code)
            timings["load"] = clock() - t0
            return CompiledModule(module, library, signatures, sites, key=key,
                                  opt_level=opt_level, noalias=noalias, from_cache=True,
                                  debug=None, compile_seconds=clock() - start, timings=timings)
    if dump is not None:
        dump.write("input.mlir", _print_module_readable(module))
    llvm_ir, optimized, assembly, obj = _translate(module, opt_level, noalias,
                                                   want_assembly=dump is not None,
                                                   timings=timings)
    if store is not None:
        t0 = clock()
        store.store(key, obj, {"boundary": boundary, "pipeline": pipeline,
                               "target": asdict(host), "avalon": avalon_version(),
                               "llvmlite": llvmlite.__version__})
        timings["cache"] = timings.get("cache", 0.0) + clock() - t0
    t0 = clock()
    library = NativeLibrary(obj)
    timings["load"] = clock() - t0
    elapsed = clock() - start
    compiled = CompiledModule(module, library, signatures, sites, key=key, opt_level=opt_level,
                              noalias=noalias, from_cache=False, debug=dump,
                              compile_seconds=elapsed, timings=timings)
    compiled._set_texts(llvm_ir, optimized, assembly)
    if dump is not None:
        dump.write("llvm-unoptimized.ll", llvm_ir)
        dump.write("llvm-optimized.ll", optimized)
        dump.write("assembly.s", assembly or "")
        dump.write("compile.json", json.dumps({
            "cache_key": key, "pipeline": pipeline, "target": asdict(host),
            "opt_level": opt_level, "noalias": noalias, "seconds": elapsed,
            "timings": timings, "functions": sorted(signatures),
            "errors": [asdict(s) for s in sites]}, indent=1))
    return compiled


def _print_module_readable(module: Operation) -> str:
    from avalon.ir.printer import print_op

    return print_op(module, debuginfo=True)


def _module_label(module: Operation) -> str:
    sym = module.attributes.get("sym_name")
    if sym is not None and hasattr(sym, "value"):
        return str(sym.value)
    for region in module.regions:
        for block in region.blocks:
            for op in block.ops:
                name = op.attributes.get("sym_name")
                if name is not None and hasattr(name, "value"):
                    return str(name.value)
    return "module"
