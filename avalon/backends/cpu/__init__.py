"""The CPU backend: IR at the func/loop/memory/arith/math/vector level to native code.

``compile_module(module)`` returns a :class:`CompiledModule`; ``.function("f")`` gives a
callable that checks its arguments against the compiled signature and runs the machine code
through ctypes (with the GIL released). See ``docs/cpu-backend.md`` for the ABI, the type
mapping, argument checking, the persistent cache and debug dumps.
"""

from avalon.backends.cpu.abi import FunctionSignature, ValueSpec
from avalon.backends.cpu.cache import STATS as CACHE_STATS
from avalon.backends.cpu.cache import CompileCache, cache_dir, clear_cache
from avalon.backends.cpu.codegen import CodegenError
from avalon.backends.cpu.debug import DebugDump, open_dump
from avalon.backends.cpu.jit import CompiledModule, compile_module
from avalon.backends.cpu.runtime import (
    CompiledFunction,
    NativeError,
    NativeMemoryError,
    NativeZeroDivisionError,
)
from avalon.backends.cpu.target import HostTarget, host_target

__all__ = [
    "CACHE_STATS",
    "CodegenError",
    "CompileCache",
    "CompiledFunction",
    "CompiledModule",
    "DebugDump",
    "FunctionSignature",
    "HostTarget",
    "NativeError",
    "NativeMemoryError",
    "NativeZeroDivisionError",
    "ValueSpec",
    "cache_dir",
    "clear_cache",
    "compile_module",
    "host_target",
    "open_dump",
]
