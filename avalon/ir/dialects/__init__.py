"""Avalon's dialects. Importing this package registers all of them with the op registry."""

from avalon.ir.dialects import arith, builtin, func, loop, math, memory, tensor, vector

ALL_DIALECT_MODULES = (builtin, func, arith, math, tensor, memory, loop, vector)

__all__ = ["ALL_DIALECT_MODULES"]
