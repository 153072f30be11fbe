"""The front end: tracing Python functions into tensor IR, jit and grad transformations."""

from avalon.frontend.grad import grad, stop_gradient, value_and_grad
from avalon.frontend.jit import JitFunction, jit
from avalon.frontend.pytree import flatten, tree_map, unflatten
from avalon.frontend.trace import TracedFunction, trace, trace_function
from avalon.frontend.tracer import Tracer, TracingError

__all__ = [
    "JitFunction", "TracedFunction", "Tracer", "TracingError", "flatten", "grad", "jit",
    "stop_gradient", "trace", "trace_function", "tree_map", "unflatten", "value_and_grad",
]
