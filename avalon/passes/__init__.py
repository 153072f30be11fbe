"""Avalon's pass infrastructure: passes, pass managers, pipelines, instrumentation, plugins.

Importing this package registers every generic pass (canonicalize, cse, dce, symbol-dce,
inline) and ``autodiff`` so pipeline text and ``avalon-opt`` can name them.
"""

# Imported for their side effect: each generic pass registers itself by name.
from avalon.passes import (  # noqa: F401
    autodiff,
    bufferize,
    canonicalize,
    cse,
    dce,
    fuse_elementwise,
    generalize,
    hoist,
    inline,
    lower_to_loops,
    pipelines,
    plan_memory,
    symbol_dce,
)
from avalon.passes.manager import (
    OpPassManager,
    PassCrashError,
    PassManager,
    PassPipelineError,
)
from avalon.passes.pass_base import ListOption, Option, Pass, PassFailure, Statistic
from avalon.passes.pipeline import PipelineParseError, parse_pipeline
from avalon.passes.plugins import PluginError, load_entry_point_plugins, load_pass_plugin
from avalon.passes.registry import (
    UnknownNameError,
    all_passes,
    all_pipelines,
    get_pass,
    get_pipeline,
    register_pass,
    register_pipeline,
)

__all__ = [
    "ListOption",
    "OpPassManager",
    "Option",
    "Pass",
    "PassCrashError",
    "PassFailure",
    "PassManager",
    "PassPipelineError",
    "PipelineParseError",
    "PluginError",
    "Statistic",
    "UnknownNameError",
    "all_passes",
    "all_pipelines",
    "get_pass",
    "get_pipeline",
    "load_entry_point_plugins",
    "load_pass_plugin",
    "parse_pipeline",
    "register_pass",
    "register_pipeline",
]
