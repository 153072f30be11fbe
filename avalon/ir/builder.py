"""Builder: creates ops at an insertion point, stamping them with the current location."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from avalon.ir.core import Block, Operation
from avalon.ir.location import UNKNOWN_LOC, Location


@dataclass
class InsertionPoint:
    """Where new ops go: at the end of ``block``, or before ``before``."""

    block: Block
    before: Operation | None = None

    @staticmethod
    def at_end(block: Block) -> InsertionPoint:
        return InsertionPoint(block, None)

    @staticmethod
    def at_start(block: Block) -> InsertionPoint:
        return InsertionPoint(block, block.first_op)

    @staticmethod
    def before_op(op: Operation) -> InsertionPoint:
        if op.parent is None:
            raise ValueError("op is not in a block")
        return InsertionPoint(op.parent, op)

    @staticmethod
    def after_op(op: Operation) -> InsertionPoint:
        if op.parent is None:
            raise ValueError("op is not in a block")
        return InsertionPoint(op.parent, op.next_op)

    def insert(self, op: Operation) -> Operation:
        if self.before is None:
            self.block.append(op)
        else:
            self.block.insert_before(op, self.before)
        return op


class Builder:
    """Creates and inserts ops. ``b.create(AddFOp, x, y)`` builds through ``Op.build``."""

    def __init__(self, insertion_point: InsertionPoint | None = None,
                 location: Location = UNKNOWN_LOC) -> None:
        self.insertion_point = insertion_point
        self.location = location

    @staticmethod
    def at_end(block: Block, location: Location = UNKNOWN_LOC) -> Builder:
        return Builder(InsertionPoint.at_end(block), location)

    @staticmethod
    def before(op: Operation) -> Builder:
        return Builder(InsertionPoint.before_op(op), op.location)

    @staticmethod
    def after(op: Operation) -> Builder:
        return Builder(InsertionPoint.after_op(op), op.location)

    def set_insertion_point(self, ip: InsertionPoint) -> None:
        self.insertion_point = ip

    def set_insertion_point_to_end(self, block: Block) -> None:
        self.insertion_point = InsertionPoint.at_end(block)

    def set_insertion_point_to_start(self, block: Block) -> None:
        self.insertion_point = InsertionPoint.at_start(block)

    def set_insertion_point_before(self, op: Operation) -> None:
        self.insertion_point = InsertionPoint.before_op(op)

    def set_insertion_point_after(self, op: Operation) -> None:
        self.insertion_point = InsertionPoint.after_op(op)

    @contextlib.contextmanager
    def at(self, ip: InsertionPoint) -> Iterator[Builder]:
        """Temporarily build at ``ip``."""
        saved = self.insertion_point
        self.insertion_point = ip
        try:
            yield self
        finally:
            self.insertion_point = saved

    @contextlib.contextmanager
    def located(self, location: Location) -> Iterator[Builder]:
        saved = self.location
        self.location = location
        try:
            yield self
        finally:
            self.location = saved

    def insert(self, op: Operation) -> Operation:
        if op.location is UNKNOWN_LOC:
            op.location = self.location
        if self.insertion_point is None:
            raise ValueError("builder has no insertion point")
        return self.insertion_point.insert(op)

    def create(self, op_class: Any, *args: Any, **kwargs: Any) -> Any:
        """Build ``op_class`` with ``op_class.build(*args, **kwargs)`` and insert it."""
        kwargs.setdefault("location", self.location)
        return self.insert(op_class.build(*args, **kwargs))
