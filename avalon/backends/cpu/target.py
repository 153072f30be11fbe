"""The host target machine and the LLVM optimization pipeline.

Code is generated for the CPU this process runs on (its name and feature list as LLVM detects
them), never for a hard-coded one, and optimized by LLVM's new pass manager at the requested
level with the loop and SLP vectorizers enabled. The same facts (triple, CPU, features,
pipeline) key the persistent compile cache, so object code is never reused on another CPU.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import llvmlite.binding as llvm

_INIT_LOCK = threading.Lock()
_initialized = False


def initialize_llvm() -> None:
    """Initialise LLVM's native target and assembly printer once per process."""
    global _initialized
    with _INIT_LOCK:
        if not _initialized:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _initialized = True


@dataclass(frozen=True)
class HostTarget:
    """What LLVM reports about the machine we compile for."""

    triple: str
    cpu: str
    features: str

    def has_feature(self, name: str) -> bool:
        return f"+{name}" in self.features.split(",")


@functools.cache
def host_target() -> HostTarget:
    """The process triple, host CPU name and its enabled features (cached per process)."""
    initialize_llvm()
    return HostTarget(llvm.get_process_triple(), llvm.get_host_cpu_name(),
                      llvm.get_host_cpu_features().flatten())


def create_target_machine(opt_level: int = 3) -> llvm.TargetMachine:
    """A target machine for the host CPU, suitable for JIT-loaded object code (the code
    model lets the JIT place code and data anywhere in the address space)."""
    host = host_target()
    target = llvm.Target.from_triple(host.triple)
    return target.create_target_machine(cpu=host.cpu, features=host.features, opt=opt_level,
                                        reloc="default", codemodel="jitdefault", jit=True)


def pipeline_text(opt_level: int) -> str:
    """A description of the optimization pipeline (it keys the compile cache)."""
    return (f"default<O{opt_level}>;loop-vectorize={opt_level >= 2};"
            f"slp-vectorize={opt_level >= 2};loop-unroll={opt_level >= 2}")


def optimize(module: llvm.ModuleRef, tm: llvm.TargetMachine, opt_level: int) -> None:
    """Run LLVM's standard O``opt_level`` module pipeline in place, vectorizers on from O2."""
    pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    vectorize = opt_level >= 2
    pto.loop_vectorization = vectorize
    pto.slp_vectorization = vectorize
    pto.loop_interleaving = vectorize
    pto.loop_unrolling = vectorize
    pb = llvm.create_pass_builder(tm, pto)
    pm = pb.getModulePassManager()
    pm.run(module, pb)
