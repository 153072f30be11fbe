"""The reference interpreter: numpy semantics for every dialect, the oracle of all tests.

``run(module, "f", *args)`` executes function ``@f`` of a module on numpy/Python values.
Importing this package registers the semantics of every dialect with
:data:`~avalon.backends.interpreter.registry.IMPLS`.
"""

from avalon.backends.interpreter import (
    arith_impl,
    func_impl,
    loop_impl,
    math_impl,
    memory_impl,
    tensor_impl,
    vector_impl,
)
from avalon.backends.interpreter.executor import (
    BranchTo,
    Interpreter,
    run,
    specialized_impl,
)
from avalon.backends.interpreter.memory import MemRefValue
from avalon.backends.interpreter.registry import InterpreterError, impl
from avalon.backends.interpreter.values import ArgumentError

__all__ = [
    "ArgumentError",
    "BranchTo",
    "Interpreter",
    "InterpreterError",
    "MemRefValue",
    "arith_impl",
    "func_impl",
    "impl",
    "loop_impl",
    "math_impl",
    "memory_impl",
    "run",
    "specialized_impl",
    "tensor_impl",
    "vector_impl",
]
