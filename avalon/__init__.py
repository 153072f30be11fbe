"""Avalon: a deep-learning library whose engine is an MLIR-style multi-level IR compiler.

Models are plain Python classes; transformations are functions: ``trace`` records a function
as tensor IR, ``jit`` compiles it per argument signature, ``grad``/``value_and_grad``
differentiate it as an IR transformation.
"""

from avalon import nn, optim
from avalon.checkpoint import load, save
from avalon.devices import best_available_device, cpu, gpu, to_device
from avalon.frontend import (
    Tracer,
    TracingError,
    grad,
    jit,
    stop_gradient,
    trace,
    tree_map,
    value_and_grad,
)
from avalon.nn.train import evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "Tracer", "TracingError", "__version__", "best_available_device", "cpu", "evaluate", "fit",
    "gpu", "grad", "jit", "load", "nn", "optim", "predict", "save", "stop_gradient",
    "to_device", "trace", "tree_map", "value_and_grad",
]
