"""Named pipelines: the pass sequences the back ends compile with.

``cpu-pipeline`` takes a module of tensor-level functions to loop-level IR the CPU backend
compiles: clean up, turn named ops into ``tensor.generic`` and fuse elementwise chains (so
fused chains never materialise intermediate buffers), bufferize with the destination-passing
ABI, expand bulk copies and fills into loops, clean up again, hoist loop-invariant code out of
the nests and finally plan memory (hoist allocations out of loops, reuse dead buffers, place
deallocations).

The pipeline is assembled when it is used. A stage that is not registered yet is imported
from its module (``avalon.passes.<name with underscores>``); the optional stages
(``generalize``, ``fuse-elementwise``, ``hoist``, ``plan-memory``) are skipped when no such
pass exists, so the pipeline works in any build of the project.
"""

from __future__ import annotations

import contextlib
import importlib

from avalon.passes import bufferize, lower_to_loops  # noqa: F401  (register their passes)
from avalon.passes.manager import OpPassManager
from avalon.passes.registry import all_passes, register_pipeline

#: Stages of ``cpu-pipeline`` in order; names in :data:`OPTIONAL` may be missing.
CPU_PIPELINE: tuple[str, ...] = (
    "canonicalize", "cse",
    "generalize", "fuse-elementwise", "canonicalize", "cse",
    "bufferize", "lower-to-loops", "canonicalize", "cse",
    "hoist", "plan-memory", "canonicalize", "cse",
)
OPTIONAL = frozenset({"generalize", "fuse-elementwise", "hoist", "plan-memory"})


def stages(names: tuple[str, ...] = CPU_PIPELINE) -> list[str]:
    """The stages of a pipeline that exist now (optional ones may be absent; any other
    missing name is an error)."""
    known = all_passes()
    out = []
    for name in names:
        if name not in known:
            with contextlib.suppress(ModuleNotFoundError):
                importlib.import_module(f"avalon.passes.{name.replace('-', '_')}")
            known = all_passes()
        if name in known:
            out.append(name)
        elif name not in OPTIONAL:
            raise LookupError(f"pipeline stage '{name}' is not a registered pass")
    return out


def build_cpu_pipeline(pm: OpPassManager) -> None:
    """Append the ``cpu-pipeline`` stages to ``pm`` (function passes nest implicitly)."""
    names = stages()
    known = all_passes()
    for name in names:
        pm.add(known[name]())


register_pipeline(
    "cpu-pipeline", build_cpu_pipeline,
    "tensor-level module to loop-level IR for the CPU backend: canonicalize, cse, generalize, "
    "fuse-elementwise, bufferize, lower-to-loops, hoist, plan-memory (with clean-ups)")

__all__ = ["CPU_PIPELINE", "OPTIONAL", "build_cpu_pipeline", "stages"]
