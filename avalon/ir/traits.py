"""Op traits: properties that passes query (``op.has_trait(Pure)``) and that verify themselves.

Traits are declared on an op class as instances or classes, e.g.
``traits = (Pure, Commutative, HasParent("func.func"))``. A trait's ``verify(op)`` raises a
located error through ``op.emit_error``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class Trait:
    """Base of all traits. Subclass and override :meth:`verify` for a checked property."""

    def verify(self, op: Any) -> None:
        """Raise ``op.emit_error(...)`` if ``op`` violates the trait."""

    def __repr__(self) -> str:
        return type(self).__name__


# ------------------------------------------------------------------------- memory effects
class MemoryEffect(Enum):
    READ = "read"
    WRITE = "write"
    ALLOC = "alloc"
    FREE = "free"


class NoMemoryEffect(Trait):
    """The op reads and writes no memory."""


class Speculatable(Trait):
    """The op may be executed speculatively (hoisted out of conditionals and loops)."""


class Pure(NoMemoryEffect, Speculatable):
    """No side effects and safe to speculate: CSE, DCE and hoisting may move or drop it."""


class MemoryEffects(Trait):
    """The op has exactly these memory effects (on its operands)."""

    def __init__(self, *effects: MemoryEffect) -> None:
        self.effects = frozenset(effects)

    def __repr__(self) -> str:
        return "MemoryEffects(" + ", ".join(sorted(e.value for e in self.effects)) + ")"


class RecursiveMemoryEffects(Trait):
    """The op's effects are those of the ops nested in its regions (loops, ifs)."""


def memory_effects(op: Any) -> frozenset[MemoryEffect] | None:
    """The memory effects of ``op``, or None if unknown (treat as reading and writing all)."""
    cls = type(op)
    custom = getattr(op, "get_memory_effects", None)
    if custom is not None:
        return custom()
    if cls.has_trait(NoMemoryEffect):
        base: frozenset[MemoryEffect] = frozenset()
    else:
        base = None  # type: ignore[assignment]
        for t in cls.traits:
            if isinstance(t, MemoryEffects):
                base = t.effects
                break
    if cls.has_trait(RecursiveMemoryEffects):
        acc = set(base or ())
        for region in op.regions:
            for block in region.blocks:
                for inner in block.ops:
                    eff = memory_effects(inner)
                    if eff is None:
                        return None
                    acc |= eff
        return frozenset(acc)
    return base


def is_side_effect_free(op: Any) -> bool:
    eff = memory_effects(op)
    return eff is not None and not (eff & {MemoryEffect.WRITE, MemoryEffect.FREE})


# ------------------------------------------------------------------------------ structure
class Commutative(Trait):
    """Operands may be reordered (canonicalization moves constants to the right)."""


class ConstantLike(Trait):
    """The op materialises a constant held in its ``value`` attribute."""


class Terminator(Trait):
    """The op ends a block."""

    def verify(self, op: Any) -> None:
        if op.parent is not None and op.parent.last_op is not op:
            raise op.emit_error("must be the last operation in its block")


class ReturnLike(Trait):
    """A terminator that returns control (and its operands) to the parent op."""


class IsolatedFromAbove(Trait):
    """Regions of the op may not use values defined outside it."""


class NoTerminator(Trait):
    """Blocks of the op's regions need no terminator (module bodies)."""


class SingleBlock(Trait):
    """Each region of the op has at most one block."""

    def verify(self, op: Any) -> None:
        for i, region in enumerate(op.regions):
            if len(region.blocks) > 1:
                raise op.emit_error(f"expects region #{i} to have 0 or 1 blocks")


class GraphRegion(Trait):
    """The op's regions are graph regions: no dominance requirement inside them."""


class SymbolTable(Trait):
    """The op's region defines a symbol namespace; symbol names must be unique in it."""


class Symbol(Trait):
    """The op defines a symbol through its ``sym_name`` string attribute."""

    def verify(self, op: Any) -> None:
        from avalon.ir.attributes import StringAttr

        if not isinstance(op.attributes.get("sym_name"), StringAttr):
            raise op.emit_error("requires string attribute 'sym_name'")


class Elementwise(Trait):
    """The op applies a scalar function independently to each element position."""


class SameOperandsAndResultType(Trait):
    def verify(self, op: Any) -> None:
        types = [v.type for v in op.operands] + [r.type for r in op.results]
        if types and any(t != types[0] for t in types):
            raise op.emit_error(
                "requires the same type for all operands and results, got "
                + ", ".join(f"'{t}'" for t in types)
            )


class SameOperandsAndResultShape(Trait):
    def verify(self, op: Any) -> None:
        shapes = [getattr(t, "shape", None) for t in
                  [v.type for v in op.operands] + [r.type for r in op.results]]
        if shapes and any(s != shapes[0] for s in shapes):
            raise op.emit_error("requires the same shape for all operands and results")


class SameTypeOperands(Trait):
    def verify(self, op: Any) -> None:
        types = [v.type for v in op.operands]
        if types and any(t != types[0] for t in types):
            raise op.emit_error(
                "requires all operands to have the same type, got "
                + ", ".join(f"'{t}'" for t in types)
            )


class HasParent(Trait):
    """The op must be directly nested in one of the named ops."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def verify(self, op: Any) -> None:
        parent = op.parent_op
        if parent is None or parent.name not in self.names:
            expected = ", ".join(f"'{n}'" for n in self.names)
            raise op.emit_error(f"expects parent op to be one of {expected}")

    def __repr__(self) -> str:
        return f"HasParent({', '.join(self.names)})"


class CallLike(Trait):
    """The op calls a symbol named by its ``callee`` attribute with its operands."""


class FunctionLike(Trait):
    """The op is a callable with a ``function_type`` attribute and a body region."""


def trait_types(traits: tuple[Any, ...]) -> frozenset[type]:
    """All trait classes (with their bases) that a trait tuple implies."""
    out: set[type] = set()
    for t in traits:
        cls = t if isinstance(t, type) else type(t)
        out.update(c for c in cls.__mro__ if issubclass(c, Trait))
    return frozenset(out)
