"""What crosses the boundary between Python and compiled code, decided from the IR alone.

Both the code generator (which emits the packed entry points) and the Python runtime (which
checks and packs arguments) read the same :class:`FunctionSignature`, so they cannot disagree.
Everything here is pure IR analysis: no LLVM, so a cache hit never has to generate code to
learn a function's signature.

Conventions (see ``docs/cpu-backend.md``):

* A ``func.func`` argument whose ``arg_attrs`` dictionary holds the unit attribute
  ``avalon.out`` is an *output*: a destination buffer the function writes. Callers may leave
  outputs out (the runtime then allocates them) and always get them back after the results.
* ``avalon.name = "x"`` in an argument's dictionary names it in error messages.
* Integer division and remainder report division by zero, and ``memory.alloc`` reports
  failure, through a hidden error slot; :func:`error_sites` numbers those ops (codes start at
  1) in one deterministic walk order shared by code generator and runtime.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from avalon.ir.attributes import (
    ArrayAttr,
    DictAttr,
    StridedLayoutAttr,
    StringAttr,
    SymbolRefAttr,
    TypeAttr,
    UnitAttr,
)
from avalon.ir.core import BlockArgument, Operation, OpResult, Value
from avalon.ir.types import (
    DYNAMIC,
    FloatType,
    FunctionType,
    IndexType,
    IntegerType,
    MemRefType,
    Type,
    VectorType,
    bf16,
    to_numpy_dtype,
)

#: Suffix of the exported ``void <name>__avalon_packed(i8** args)`` entry points.
PACKED_SUFFIX = "__avalon_packed"
#: Argument attribute marking a destination (output) buffer.
OUTPUT_ATTR = "avalon.out"
#: Argument attribute giving an argument a name for error messages.
NAME_ATTR = "avalon.name"

#: Ops that can divide by zero (scalar or vector operands).
DIVIDING_OPS = frozenset({"arith.divsi", "arith.divui", "arith.remsi", "arith.remui",
                          "arith.ceildivsi", "arith.floordivsi"})
VIEW_OPS = frozenset({"memory.subview", "memory.reshape", "memory.transpose"})
#: Ops writing through their operand #1 (a memref).
WRITING_OPS = frozenset({"memory.store", "vector.store", "memory.copy", "memory.fill"})

ERROR_DIVISION_BY_ZERO = "division-by-zero"
ERROR_ALLOCATION = "allocation-failure"


# ------------------------------------------------------------------------------ error sites


@dataclass(frozen=True)
class ErrorSite:
    """An op that can fail at run time: its error ``kind``, op name and source location."""

    code: int
    kind: str
    op_name: str
    location: str


def error_sites(module: Operation) -> tuple[list[ErrorSite], dict[Operation, int]]:
    """Every op of ``module`` that reports a run-time error, numbered from 1 in walk order,
    and the op -> code map the code generator uses."""
    sites: list[ErrorSite] = []
    codes: dict[Operation, int] = {}
    for op in module.walk_ops():
        if op.name in DIVIDING_OPS and _is_integer_like(op.results[0].type):
            kind = ERROR_DIVISION_BY_ZERO
        elif op.name == "memory.alloc" or copy_needs_buffer(op):
            kind = ERROR_ALLOCATION
        else:
            continue
        code = len(sites) + 1
        codes[op] = code
        sites.append(ErrorSite(code, kind, op.name, describe_location(op)))
    return sites, codes


def copy_needs_buffer(op: Operation) -> bool:
    """Whether ``op`` is a ``memory.copy`` between non-dense views, which copies through a
    temporary buffer when source and target overlap (and so may fail to allocate it)."""
    if op.name != "memory.copy":
        return False
    for v in op.operands:
        t = v.type
        if not isinstance(t, MemRefType):
            return False
        if not is_dense(t.shape, t.strides_and_offset()[0]):
            return True
    return False


def is_dense(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """Elements packed row-major without gaps (strides of size-1 dimensions do not count)."""
    if 0 in shape:
        return True
    expected = 1
    for d, s in zip(reversed(shape), reversed(strides)):
        if d == 1:
            continue
        if s != expected:
            return False
        expected *= d
    return True


def describe_location(op: Operation) -> str:
    """``file:line:col`` of ``op`` when known, else its location's text."""
    flc = op.location.file_line_col()
    if flc is not None:
        return f"{flc.filename}:{flc.line}:{flc.col}"
    return str(op.location)


def _is_integer_like(t: Type) -> bool:
    et = t.element_type if isinstance(t, VectorType) else t
    return isinstance(et, IntegerType | IndexType)


# ----------------------------------------------------------------------------- memory effects


@dataclass
class Effects:
    """Which memref arguments a function may write or free (by argument index), and whether
    it may fail with an allocation error (callers then stop early)."""

    written: set[int] = field(default_factory=set)
    freed: set[int] = field(default_factory=set)
    may_fail_alloc: bool = False


def functions_of(module: Operation) -> dict[str, Operation]:
    """Top-level ``func.func`` ops by name."""
    out: dict[str, Operation] = {}
    for region in module.regions:
        for block in region.blocks:
            for op in block.ops:
                sym = op.attributes.get("sym_name")
                if op.name == "func.func" and isinstance(sym, StringAttr):
                    out.setdefault(sym.value, op)
    return out


def function_type(fn: Operation) -> FunctionType:
    attr = fn.attributes.get("function_type")
    if not isinstance(attr, TypeAttr) or not isinstance(attr.value, FunctionType):
        raise ValueError(f"'{fn.name}' has no function_type attribute")
    return attr.value


def is_declaration(fn: Operation) -> bool:
    return not fn.regions or not fn.regions[0].blocks


def callee_name(op: Operation) -> str | None:
    callee = op.attributes.get("callee")
    if isinstance(callee, SymbolRefAttr) and not callee.nested:
        return callee.root
    return None


def _root(value: Value, fn: Operation) -> int | str:
    """The argument index a memref value views, ``"alloc"`` for fresh buffers, or
    ``"unknown"`` (carried through loops, ifs or calls)."""
    while True:
        if isinstance(value, BlockArgument):
            if value.block is fn.regions[0].blocks[0]:
                return value.index
            return "unknown"
        if isinstance(value, OpResult):
            if value.op.name in VIEW_OPS:
                value = value.op.operands[0]
                continue
            if value.op.name == "memory.alloc":
                return "alloc"
        return "unknown"


def memory_effects(module: Operation) -> dict[str, Effects]:
    """Interprocedural may-write / may-free analysis of memref arguments (a fixpoint over
    ``func.call``); external functions are assumed to write every memref they receive."""
    fns = functions_of(module)
    effects = {name: Effects() for name in fns}
    memref_args = {name: {i for i, t in enumerate(function_type(fn).inputs)
                          if isinstance(t, MemRefType)} for name, fn in fns.items()}
    for name, fn in fns.items():
        if is_declaration(fn):
            effects[name].written = set(memref_args[name])
    changed = True
    while changed:
        changed = False
        for name, fn in fns.items():
            if is_declaration(fn):
                continue
            eff = effects[name]
            before = (len(eff.written), len(eff.freed), eff.may_fail_alloc)
            for op in fn.walk_ops():
                if op.name in WRITING_OPS:
                    _mark(eff.written, _root(op.operands[1], fn), memref_args[name])
                if op.name == "memory.alloc" or copy_needs_buffer(op):
                    eff.may_fail_alloc = True
                if op.name == "memory.dealloc":
                    _mark(eff.freed, _root(op.operands[0], fn), memref_args[name])
                elif op.name == "func.call":
                    callee = callee_name(op)
                    ceff = effects.get(callee) if callee is not None else None
                    for k, v in enumerate(op.operands):
                        if not isinstance(v.type, MemRefType):
                            continue
                        if ceff is None or k in ceff.written:
                            _mark(eff.written, _root(v, fn), memref_args[name])
                        if ceff is not None and k in ceff.freed:
                            _mark(eff.freed, _root(v, fn), memref_args[name])
                    if ceff is not None and ceff.may_fail_alloc:
                        eff.may_fail_alloc = True
            if (len(eff.written), len(eff.freed), eff.may_fail_alloc) != before:
                changed = True
    return effects


def _mark(target: set[int], root: int | str, all_args: set[int]) -> None:
    if isinstance(root, int):
        target.add(root)
    elif root == "unknown":
        target.update(all_args)


# ---------------------------------------------------------------------------- signatures


@dataclass(frozen=True)
class ValueSpec:
    """One argument or result at the boundary.

    ``kind`` is ``"scalar"``, ``"vector"`` or ``"memref"``; ``dtype`` the numpy dtype of the
    element; ``shape``/``strides`` (in elements)/``offset`` describe memrefs and vectors.
    """

    index: int
    type: str
    kind: str
    dtype: str
    shape: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    offset: int = 0
    name: str | None = None
    is_output: bool = False
    written: bool = False
    bf16: bool = False

    @functools.cached_property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def label(self, what: str = "argument") -> str:
        """``argument #2 ('out')`` for messages."""
        return f"{what} #{self.index}" + (f" ('{self.name}')" if self.name else "")


@dataclass(frozen=True)
class FunctionSignature:
    """How Python calls one compiled function through its packed entry point."""

    name: str
    symbol: str
    args: tuple[ValueSpec, ...]
    results: tuple[ValueSpec, ...]
    exported: bool
    #: Why the function cannot be called from Python (when ``exported`` is False).
    reason: str = ""
    frees_argument: bool = False

    @property
    def inputs(self) -> tuple[ValueSpec, ...]:
        return tuple(a for a in self.args if not a.is_output)

    @property
    def outputs(self) -> tuple[ValueSpec, ...]:
        return tuple(a for a in self.args if a.is_output)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> FunctionSignature:
        def spec(d: dict[str, Any]) -> ValueSpec:
            return ValueSpec(**{**d, "shape": tuple(d["shape"]), "strides": tuple(d["strides"])})

        return FunctionSignature(
            name=data["name"], symbol=data["symbol"],
            args=tuple(spec(a) for a in data["args"]),
            results=tuple(spec(r) for r in data["results"]),
            exported=data["exported"], reason=data["reason"],
            frees_argument=data["frees_argument"])


def boundary_problem(t: Type) -> str | None:
    """Why values of type ``t`` cannot cross the Python boundary, or None."""
    if isinstance(t, MemRefType):
        if t.memory_space is not None:
            return f"'{t}' is not in host memory"
        if t.layout is not None and not isinstance(t.layout, StridedLayoutAttr):
            return f"'{t}' has a non-strided layout"
        strides, offset = t.strides_and_offset()
        if DYNAMIC in t.shape or DYNAMIC in strides or offset == DYNAMIC:
            return f"'{t}' is not fully static"
        if t.element_type == bf16:
            return "numpy has no bfloat16 dtype for buffers of bf16"
        return _scalar_problem(t.element_type)
    if isinstance(t, VectorType):
        if t.rank != 1:
            return f"'{t}' is not a 1-d vector"
        if t.element_type == bf16:
            return "numpy has no bfloat16 dtype for vectors of bf16"
        return _scalar_problem(t.element_type)
    return _scalar_problem(t)


def _scalar_problem(t: Type) -> str | None:
    if isinstance(t, IntegerType) and t.width not in (1, 8, 16, 32, 64):
        return f"integers of width {t.width} have no numpy dtype"
    if isinstance(t, IntegerType | IndexType | FloatType):
        return None
    return f"type '{t}' is not supported by the CPU backend's calling convention"


def _value_spec(index: int, t: Type, attrs: dict[str, Any], written: bool) -> ValueSpec:
    name_attr = attrs.get(NAME_ATTR)
    name = name_attr.value if isinstance(name_attr, StringAttr) else None
    is_output = isinstance(attrs.get(OUTPUT_ATTR), UnitAttr)
    if isinstance(t, MemRefType):
        strides, offset = t.strides_and_offset()
        return ValueSpec(index, str(t), "memref", to_numpy_dtype(t.element_type).str,
                         tuple(t.shape), tuple(strides), offset, name, is_output, written)
    if isinstance(t, VectorType):
        return ValueSpec(index, str(t), "vector", to_numpy_dtype(t.element_type).str,
                         tuple(t.shape), name=name)
    return ValueSpec(index, str(t), "scalar", to_numpy_dtype(t).str, name=name,
                     bf16=t == bf16)


def _attr_dicts(fn: Operation, key: str, n: int) -> list[dict[str, Any]]:
    attr = fn.attributes.get(key)
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    if isinstance(attr, ArrayAttr):
        for i, d in enumerate(attr.elements[:n]):
            if isinstance(d, DictAttr):
                out[i] = d.as_dict()
    return out


def function_signatures(module: Operation) -> dict[str, FunctionSignature]:
    """The boundary signature of every ``func.func`` of ``module``."""
    effects = memory_effects(module)
    out: dict[str, FunctionSignature] = {}
    for name, fn in functions_of(module).items():
        ftype = function_type(fn)
        eff = effects[name]
        reason = ""
        vis = fn.attributes.get("sym_visibility")
        if is_declaration(fn):
            reason = "it is an external declaration"
        elif isinstance(vis, StringAttr) and vis.value != "public":
            reason = f"it has {vis.value} visibility"
        problems = [(f"argument #{i}", boundary_problem(t)) for i, t in enumerate(ftype.inputs)]
        problems += [(f"result #{i}", boundary_problem(t)) for i, t in enumerate(ftype.results)]
        for where, problem in problems:
            if problem and not reason:
                reason = f"{where}: {problem}"
        if reason:
            out[name] = FunctionSignature(name, name + PACKED_SUFFIX, (), (), False, reason)
            continue
        arg_attrs = _attr_dicts(fn, "arg_attrs", len(ftype.inputs))
        res_attrs = _attr_dicts(fn, "res_attrs", len(ftype.results))
        args = []
        for i, t in enumerate(ftype.inputs):
            spec = _value_spec(i, t, arg_attrs[i], i in eff.written)
            if spec.is_output and spec.kind != "memref":
                out[name] = FunctionSignature(
                    name, name + PACKED_SUFFIX, (), (), False,
                    f"argument #{i} is marked '{OUTPUT_ATTR}' but is not a memref")
                break
            args.append(spec)
        else:
            results = tuple(_value_spec(i, t, res_attrs[i], False)
                            for i, t in enumerate(ftype.results))
            out[name] = FunctionSignature(name, name + PACKED_SUFFIX, tuple(args), results,
                                          True, "", bool(eff.freed))
    return out


def signatures_json(signatures: dict[str, FunctionSignature],
                    sites: list[ErrorSite]) -> str:
    """Canonical JSON of the boundary description (stored next to cached object code)."""
    return json.dumps({"functions": {k: v.to_json() for k, v in sorted(signatures.items())},
                       "errors": [asdict(s) for s in sites]}, sort_keys=True)
