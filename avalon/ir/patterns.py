"""Rewrite patterns and the rewriter through which every IR change of a pattern goes.

Patterns live in the IR layer because dialects define their own canonicalization patterns;
the drivers that apply them (greedy worklist, single walk, dialect conversion) live in
:mod:`avalon.passes.rewrite`. Drivers observe changes through :class:`RewriteListener`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from avalon.ir.builder import Builder, InsertionPoint
from avalon.ir.core import Block, Operation, Region, Value


class RewriteListener:
    """Notified of every change a :class:`PatternRewriter` makes."""

    def notify_op_inserted(self, op: Operation) -> None: ...

    def notify_op_erased(self, op: Operation) -> None: ...

    def notify_op_modified(self, op: Operation) -> None: ...

    def notify_op_replaced(self, op: Operation, new_values: Sequence[Value]) -> None: ...

    def notify_match_failure(self, op: Operation, reason: str) -> None: ...


class PatternRewriter(Builder):
    """A builder whose mutations are reported to a listener (the driver's worklist)."""

    def __init__(self, listener: RewriteListener | None = None) -> None:
        super().__init__()
        self.listener = listener or RewriteListener()

    # -- creation
    def insert(self, op: Operation) -> Operation:
        super().insert(op)
        for nested in op.walk_ops():
            self.listener.notify_op_inserted(nested)
        return op

    # -- replacement and erasure
    def replace_op(self, op: Operation, new: Sequence[Value] | Operation) -> None:
        """Replace all uses of ``op``'s results with ``new`` and erase ``op``."""
        values = list(new.results) if isinstance(new, Operation) else list(new)
        if len(values) != len(op.results):
            raise ValueError(
                f"replacing '{op.name}' ({len(op.results)} results) with {len(values)} values")
        self.listener.notify_op_replaced(op, values)
        for old, nv in zip(op.results, values, strict=True):
            self.replace_all_uses_with(old, nv)
        self.erase_op(op)

    def replace_all_uses_with(self, old: Value, new: Value) -> None:
        for user in old.users:
            self.listener.notify_op_modified(user)
        old.replace_all_uses_with(new)

    def erase_op(self, op: Operation) -> None:
        """Erase ``op`` (its results must be unused) and everything nested in it."""
        for nested in op.walk_ops():
            self.listener.notify_op_erased(nested)
        op.erase()

    def erase_block(self, block: Block) -> None:
        for op in block.ops:
            for nested in op.walk_ops():
                self.listener.notify_op_erased(nested)
        block.erase()

    # -- in-place changes
    def modify_op_in_place(self, op: Operation, change: Callable[[], Any]) -> None:
        """Run ``change`` (which mutates ``op``'s operands/attributes) and report it."""
        change()
        self.listener.notify_op_modified(op)

    def start_op_modification(self, op: Operation) -> None:
        """Begin an in-place change; pair with :meth:`finalize_op_modification`."""

    def finalize_op_modification(self, op: Operation) -> None:
        self.listener.notify_op_modified(op)

    # -- moving
    def move_op_before(self, op: Operation, anchor: Operation) -> None:
        op.move_before(anchor)
        self.listener.notify_op_modified(op)

    def move_op_after(self, op: Operation, anchor: Operation) -> None:
        op.move_after(anchor)
        self.listener.notify_op_modified(op)

    def inline_block_before(self, source: Block, anchor: Operation,
                            arg_values: Sequence[Value] = ()) -> None:
        """Move all ops of ``source`` before ``anchor``, replacing its arguments by
        ``arg_values``; ``source`` is left empty."""
        if len(arg_values) != len(source.args):
            raise ValueError("inline_block_before: wrong number of argument values")
        for arg, v in zip(source.args, arg_values, strict=True):
            self.replace_all_uses_with(arg, v)
        dest = anchor.parent
        for op in list(source.ops):
            op.detach()
            dest.insert_before(op, anchor)
            self.listener.notify_op_modified(op)

    def inline_block_at_end(self, source: Block, dest: Block,
                            arg_values: Sequence[Value] = ()) -> None:
        for arg, v in zip(source.args, arg_values, strict=True):
            self.replace_all_uses_with(arg, v)
        for op in list(source.ops):
            op.detach()
            dest.append(op)
            self.listener.notify_op_modified(op)

    def inline_region_before(self, region: Region, dest_region: Region, index: int) -> None:
        """Move the blocks of ``region`` into ``dest_region`` at block position ``index``."""
        for k, block in enumerate(list(region.blocks)):
            region.blocks.remove(block)
            block.parent = None
            dest_region.insert_block(index + k, block)

    def notify_match_failure(self, op: Operation, reason: str) -> bool:
        """Record why a pattern did not apply; returns False so a pattern can
        ``return rewriter.notify_match_failure(op, "...")``."""
        self.listener.notify_match_failure(op, reason)
        return False

    def at_op(self, op: Operation) -> PatternRewriter:
        """Set the insertion point before ``op`` and adopt its location; returns self."""
        self.insertion_point = InsertionPoint.before_op(op)
        self.location = op.location
        return self


class RewritePattern:
    """Subclass and implement ``match_and_rewrite``; return True if the IR was changed.

    ``root`` restricts the pattern to ops of that name or class (None: any op);
    higher ``benefit`` patterns are tried first.
    """

    root: ClassVar[str | type[Operation] | None] = None
    benefit: ClassVar[int] = 1

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must implement match_and_rewrite")

    @property
    def root_name(self) -> str | None:
        r = self.root
        if r is None or isinstance(r, str):
            return r
        return r.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={self.root_name})"


def op_pattern(root: str | type[Operation] | None, benefit: int = 1):
    """Decorator turning ``fn(op, rewriter) -> bool`` into a pattern instance."""

    def wrap(fn: Callable[[Operation, PatternRewriter], bool]) -> RewritePattern:
        cls = type(fn.__name__, (RewritePattern,), {
            "root": root, "benefit": benefit, "__doc__": fn.__doc__,
            "match_and_rewrite": lambda self, op, rw: fn(op, rw),
        })
        return cls()

    return wrap
