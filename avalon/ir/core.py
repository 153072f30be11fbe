"""The IR graph: values with use-lists, operations, blocks and regions.

Operations live in an intrusive doubly linked list inside their block, so insertion and
erasure are O(1) even in blocks of 100,000 ops. Every operand edge is recorded in the used
value's use-list, which is what makes ``replace_all_uses_with`` and dead-code checks cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from avalon.ir.diagnostics import Diagnostic, DiagnosticError, Severity, emit
from avalon.ir.location import UNKNOWN_LOC, Location
from avalon.ir.types import Type

if TYPE_CHECKING:
    from avalon.ir.attributes import Attribute

# --------------------------------------------------------------------------------------- values


class Use:
    """One operand slot: ``owner.operands[index]`` is the used value."""

    __slots__ = ("index", "owner")

    def __init__(self, owner: Operation, index: int) -> None:
        self.owner = owner
        self.index = index

    def __repr__(self) -> str:
        return f"Use({self.owner.name}#{self.index})"


class Value:
    """An SSA value: an op result or a block argument. Tracks every use."""

    __slots__ = ("_uses", "type")

    def __init__(self, type_: Type) -> None:
        self.type = type_
        # Keyed by (owner op, operand index) so add/remove are O(1); order is insertion order.
        self._uses: dict[tuple[Operation, int], None] = {}

    @property
    def uses(self) -> list[Use]:
        return [Use(op, i) for (op, i) in self._uses]

    @property
    def users(self) -> list[Operation]:
        """Distinct operations using this value, in first-use order."""
        seen: dict[Operation, None] = {}
        for op, _ in self._uses:
            seen[op] = None
        return list(seen)

    @property
    def has_uses(self) -> bool:
        return bool(self._uses)

    @property
    def num_uses(self) -> int:
        return len(self._uses)

    @property
    def has_one_use(self) -> bool:
        return len(self._uses) == 1

    def replace_all_uses_with(self, new: Value) -> None:
        if new is self:
            return
        for op, i in list(self._uses):
            op.set_operand(i, new)

    def replace_uses_if(self, new: Value, predicate: Callable[[Use], bool]) -> None:
        for op, i in list(self._uses):
            if predicate(Use(op, i)):
                op.set_operand(i, new)

    @property
    def owner(self) -> Operation | Block:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def parent_block(self) -> Block | None:  # pragma: no cover - overridden
        raise NotImplementedError


class OpResult(Value):
    __slots__ = ("index", "op")

    def __init__(self, type_: Type, op: Operation, index: int) -> None:
        super().__init__(type_)
        self.op = op
        self.index = index

    @property
    def owner(self) -> Operation:
        return self.op

    @property
    def parent_block(self) -> Block | None:
        return self.op.parent

    def __repr__(self) -> str:
        return f"<OpResult #{self.index} of {self.op.name}: {self.type}>"


class BlockArgument(Value):
    __slots__ = ("block", "index", "location")

    def __init__(
        self, type_: Type, block: Block, index: int, location: Location = UNKNOWN_LOC
    ) -> None:
        super().__init__(type_)
        self.block = block
        self.index = index
        self.location = location

    @property
    def owner(self) -> Block:
        return self.block

    @property
    def parent_block(self) -> Block:
        return self.block

    def __repr__(self) -> str:
        return f"<BlockArgument #{self.index}: {self.type}>"


# ------------------------------------------------------------------------------------- walking


class WalkResult(Enum):
    """What a walk callback returns: go on, skip this op's regions (pre-order), or stop."""

    ADVANCE = 0
    SKIP = 1
    INTERRUPT = 2


class WalkOrder(Enum):
    PRE = 0
    POST = 1


# ----------------------------------------------------------------------------------- operations

#: Registered operation classes by full name ("arith.addf"); filled by the op-definition API.
OP_REGISTRY: dict[str, type[Operation]] = {}


class Operation:
    """A generic operation. Dialect ops subclass it through :class:`avalon.ir.opdef.Op`.

    Subclasses set the class attribute ``name``; unregistered ops are :class:`UnregisteredOp`
    instances carrying their own name.
    """

    name: ClassVar[str] = ""
    #: Filled per class by the op-definition API; the generic op has no traits.
    traits: ClassVar[tuple[Any, ...]] = ()
    _trait_types: ClassVar[frozenset[type]] = frozenset()
    #: Dialect whose op names may be written without prefix inside this op's regions
    #: (``return`` for ``func.return`` inside ``func.func``), as in MLIR.
    default_dialect: ClassVar[str | None] = None

    __slots__ = (
        "__dict__",
        "_operands",
        "_order",
        "attributes",
        "location",
        "next_op",
        "parent",
        "prev_op",
        "regions",
        "results",
        "successors",
    )

    def __init__(
        self,
        operands: Sequence[Value] = (),
        result_types: Sequence[Type] = (),
        attributes: dict[str, Attribute] | None = None,
        regions: int | Sequence[Region] = 0,
        successors: Sequence[Block] = (),
        location: Location | None = None,
    ) -> None:
        self._operands: list[Value] = list(operands)
        for i, v in enumerate(self._operands):
            v._uses[(self, i)] = None
        self.results: list[OpResult] = [OpResult(t, self, i) for i, t in enumerate(result_types)]
        self.attributes: dict[str, Attribute] = dict(attributes) if attributes else {}
        self.regions: list[Region] = []
        if isinstance(regions, int):
            for _ in range(regions):
                self.regions.append(Region(self))
        else:
            for r in regions:
                if r.parent is not None:
                    raise ValueError("region already belongs to an operation")
                r.parent = self
                self.regions.append(r)
        self.successors: list[Block] = list(successors)
        self.location: Location = location if location is not None else UNKNOWN_LOC
        self.parent: Block | None = None
        self.prev_op: Operation | None = None
        self.next_op: Operation | None = None
        self._order = -1

    # -- construction by name
    @staticmethod
    def create(
        name: str,
        operands: Sequence[Value] = (),
        result_types: Sequence[Type] = (),
        attributes: dict[str, Attribute] | None = None,
        regions: int | Sequence[Region] = 0,
        successors: Sequence[Block] = (),
        location: Location | None = None,
    ) -> Operation:
        """Build an op by name: the registered class if there is one, else an unregistered op."""
        cls = OP_REGISTRY.get(name)
        if cls is None:
            return UnregisteredOp(name, operands, result_types, attributes, regions, successors,
                                  location)
        return cls(operands, result_types, attributes, regions, successors, location)

    @property
    def is_registered(self) -> bool:
        return not isinstance(self, UnregisteredOp)

    @property
    def dialect_name(self) -> str:
        return self.name.split(".", 1)[0]

    # -- operands
    @property
    def operands(self) -> tuple[Value, ...]:
        return tuple(self._operands)

    @property
    def num_operands(self) -> int:
        return len(self._operands)

    def operand(self, i: int) -> Value:
        return self._operands[i]

    def set_operand(self, i: int, value: Value) -> None:
        old = self._operands[i]
        if old is value:
            return
        del old._uses[(self, i)]
        self._operands[i] = value
        value._uses[(self, i)] = None

    def set_operands(self, values: Sequence[Value]) -> None:
        """Replace the whole operand list (fix up segment-size attributes yourself)."""
        for i, v in enumerate(self._operands):
            del v._uses[(self, i)]
        self._operands = list(values)
        for i, v in enumerate(self._operands):
            v._uses[(self, i)] = None

    def drop_all_references(self) -> None:
        """Remove this op's operand uses and successors, and do so in all nested ops."""
        self.set_operands(())
        self.successors = []
        for region in self.regions:
            for block in region.blocks:
                for op in block.ops:
                    op.drop_all_references()

    # -- results
    @property
    def result(self) -> OpResult:
        """The single result; an error if the op has zero or several."""
        if len(self.results) != 1:
            raise ValueError(f"'{self.name}' has {len(self.results)} results, not exactly one")
        return self.results[0]

    @property
    def result_types(self) -> list[Type]:
        return [r.type for r in self.results]

    @property
    def operand_types(self) -> list[Type]:
        return [v.type for v in self._operands]

    def replace_all_uses_with(self, values: Sequence[Value] | Operation) -> None:
        new = values.results if isinstance(values, Operation) else list(values)
        if len(new) != len(self.results):
            raise ValueError(
                f"replacing {len(self.results)} results of '{self.name}' with {len(new)} values"
            )
        for old, nv in zip(self.results, new, strict=True):
            old.replace_all_uses_with(nv)

    @property
    def has_uses(self) -> bool:
        return any(r._uses for r in self.results)

    @property
    def users(self) -> list[Operation]:
        seen: dict[Operation, None] = {}
        for r in self.results:
            for op, _ in r._uses:
                seen[op] = None
        return list(seen)

    # -- attributes
    def get_attr(self, name: str, default: Attribute | None = None) -> Attribute | None:
        return self.attributes.get(name, default)

    def set_attr(self, name: str, value: Attribute) -> None:
        self.attributes[name] = value

    def remove_attr(self, name: str) -> Attribute | None:
        return self.attributes.pop(name, None)

    # -- structure
    @property
    def parent_region(self) -> Region | None:
        return self.parent.parent if self.parent is not None else None

    @property
    def parent_op(self) -> Operation | None:
        region = self.parent_region
        return region.parent if region is not None else None

    def ancestors(self) -> Iterator[Operation]:
        op = self.parent_op
        while op is not None:
            yield op
            op = op.parent_op

    def parent_of_type(self, cls: type[Operation]) -> Operation | None:
        for op in self.ancestors():
            if isinstance(op, cls):
                return op
        return None

    def is_proper_ancestor(self, other: Operation) -> bool:
        return any(a is self for a in other.ancestors())

    def is_ancestor(self, other: Operation) -> bool:
        return other is self or self.is_proper_ancestor(other)

    def is_before_in_block(self, other: Operation) -> bool:
        """Whether this op precedes ``other`` in their common block (amortised O(1))."""
        block = self.parent
        if block is None or other.parent is not block:
            raise ValueError("ops are not in the same block")
        if not block._order_valid:
            block._renumber()
        return self._order < other._order

    @property
    def region(self) -> Region:
        if len(self.regions) != 1:
            raise ValueError(f"'{self.name}' has {len(self.regions)} regions, not exactly one")
        return self.regions[0]

    @property
    def body(self) -> Block:
        """The single block of the single region (func bodies, loop bodies)."""
        return self.region.block

    # -- mutation of position
    def detach(self) -> Operation:
        """Unlink from the parent block without touching uses."""
        block = self.parent
        if block is not None:
            block._unlink(self)
        return self

    def erase(self) -> None:
        """Remove this op and everything nested in it. Its results must be unused."""
        for r in self.results:
            if r._uses:
                users = ", ".join(sorted({u.name for u, _ in r._uses}))
                raise ValueError(f"cannot erase '{self.name}': result still used by {users}")
        self.drop_all_references()
        self.detach()

    def move_before(self, anchor: Operation) -> None:
        self.detach()
        anchor.parent.insert_before(self, anchor)

    def move_after(self, anchor: Operation) -> None:
        self.detach()
        anchor.parent.insert_after(self, anchor)

    # -- walking
    def walk(
        self,
        callback: Callable[[Operation], WalkResult | None],
        order: WalkOrder = WalkOrder.POST,
    ) -> bool:
        """Visit this op and all nested ops. Returns False if a callback interrupted.

        Post-order walks may erase the visited op; pre-order walks may return ``SKIP``.
        """
        return self._walk(callback, order) is not WalkResult.INTERRUPT

    def _walk(self, callback, order):
        if order is WalkOrder.PRE:
            res = callback(self)
            if res is WalkResult.INTERRUPT:
                return res
            if res is WalkResult.SKIP:
                return WalkResult.ADVANCE
        for region in self.regions:
            for block in list(region.blocks):
                op = block.first_op
                while op is not None:
                    nxt = op.next_op
                    if op._walk(callback, order) is WalkResult.INTERRUPT:
                        return WalkResult.INTERRUPT
                    op = nxt
        if order is WalkOrder.POST:
            res = callback(self)
            if res is WalkResult.INTERRUPT:
                return res
        return WalkResult.ADVANCE

    def walk_ops(self, order: WalkOrder = WalkOrder.PRE) -> Iterator[Operation]:
        """Generator over this op and all nested ops (including self)."""
        if order is WalkOrder.PRE:
            yield self
        for region in self.regions:
            for block in list(region.blocks):
                op = block.first_op
                while op is not None:
                    nxt = op.next_op
                    yield from op.walk_ops(order)
                    op = nxt
        if order is WalkOrder.POST:
            yield self

    # -- cloning
    def clone(self, mapping: dict | None = None) -> Operation:
        """Deep copy. ``mapping`` maps old values/blocks to new ones and is updated in place;
        operands not in it are kept (so a clone may refer to values defined outside)."""
        if mapping is None:
            mapping = {}
        new = self.clone_without_regions(mapping)
        for old_region, new_region in zip(self.regions, new.regions, strict=True):
            old_region.clone_into(new_region, mapping)
        return new

    def clone_without_regions(self, mapping: dict | None = None) -> Operation:
        """Copy with the same number of (empty) regions."""
        if mapping is None:
            mapping = {}
        operands = [mapping.get(v, v) for v in self._operands]
        successors = [mapping.get(b, b) for b in self.successors]
        new = self._make_like(operands, successors)
        for old_r, new_r in zip(self.results, new.results, strict=True):
            mapping[old_r] = new_r
        return new

    def _make_like(self, operands, successors) -> Operation:
        return type(self)(
            operands, [r.type for r in self.results], dict(self.attributes),
            len(self.regions), successors, self.location,
        )

    # -- op-definition hooks (overridden by the op-definition API and by dialect ops)
    @classmethod
    def has_trait(cls, trait: type) -> bool:
        return trait in cls._trait_types

    def verify_(self) -> None:
        """Per-op invariants beyond the declared ones; raise via ``self.emit_error``."""

    def verify_structure(self) -> None:
        """Declared-field checks, filled in by the op-definition API."""

    def fold(self, operands: list[Attribute | None]) -> list[Attribute | Value] | None:
        """Constant-fold: given constant operands (or None), return results or None."""
        return None

    @classmethod
    def get_canonicalization_patterns(cls) -> list:
        return []

    # -- diagnostics
    def emit_error(self, message: str) -> DiagnosticError:
        """Make a located error for this op; use as ``raise op.emit_error(...)``."""
        return DiagnosticError(Diagnostic(Severity.ERROR, f"'{self.name}' op {message}",
                                          self.location))

    def emit_warning(self, message: str) -> None:
        emit(Diagnostic(Severity.WARNING, f"'{self.name}' op {message}", self.location))

    def emit_remark(self, message: str) -> None:
        emit(Diagnostic(Severity.REMARK, f"'{self.name}' op {message}", self.location))

    # -- text
    def to_text(self, **options: Any) -> str:
        from avalon.ir.printer import print_op

        return print_op(self, **options)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<{self.name} op at {id(self):#x}>"


class UnregisteredOp(Operation):
    """An op whose dialect is unknown; kept verbatim (allowed only when requested)."""

    __slots__ = ()

    def __init__(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.name = name  # type: ignore[misc]  # instance attribute shadows the class default
        super().__init__(*args, **kwargs)

    def _make_like(self, operands, successors) -> Operation:
        return UnregisteredOp(
            self.name, operands, [r.type for r in self.results], dict(self.attributes),
            len(self.regions), successors, self.location,
        )



# ----------------------------------------------------------------------------------- blocks


class Block:
    """A list of operations with typed arguments; ends in a terminator where the region needs it."""

    __slots__ = ("_len", "_order_valid", "args", "first_op", "last_op", "parent")

    def __init__(self, arg_types: Iterable[Type] = (), arg_locs: Iterable[Location] = ()) -> None:
        self.args: list[BlockArgument] = []
        self.first_op: Operation | None = None
        self.last_op: Operation | None = None
        self.parent: Region | None = None
        self._len = 0
        self._order_valid = True
        locs = list(arg_locs)
        for i, t in enumerate(arg_types):
            self.add_argument(t, locs[i] if i < len(locs) else UNKNOWN_LOC)

    # -- arguments
    def add_argument(self, type_: Type, location: Location = UNKNOWN_LOC) -> BlockArgument:
        arg = BlockArgument(type_, self, len(self.args), location)
        self.args.append(arg)
        return arg

    def insert_argument(self, index: int, type_: Type,
                        location: Location = UNKNOWN_LOC) -> BlockArgument:
        arg = BlockArgument(type_, self, index, location)
        self.args.insert(index, arg)
        for i, a in enumerate(self.args):
            a.index = i
        return arg

    def erase_argument(self, index: int) -> None:
        arg = self.args[index]
        if arg._uses:
            raise ValueError(f"cannot erase block argument #{index}: it still has uses")
        del self.args[index]
        for i, a in enumerate(self.args):
            a.index = i

    @property
    def arg_types(self) -> list[Type]:
        return [a.type for a in self.args]

    # -- op list
    @property
    def ops(self) -> Iterator[Operation]:
        """Iterate ops; erasing or moving the current op during iteration is safe."""
        op = self.first_op
        while op is not None:
            nxt = op.next_op
            yield op
            op = nxt

    def __iter__(self) -> Iterator[Operation]:
        return self.ops

    def reversed_ops(self) -> Iterator[Operation]:
        op = self.last_op
        while op is not None:
            prv = op.prev_op
            yield op
            op = prv

    def __len__(self) -> int:
        return self._len

    @property
    def is_empty(self) -> bool:
        return self.first_op is None

    @property
    def terminator(self) -> Operation | None:
        """The last op if it has the Terminator trait."""
        from avalon.ir.traits import Terminator

        last = self.last_op
        if last is not None and last.has_trait(Terminator):
            return last
        return None

    def _link(self, op: Operation, prev: Operation | None, nxt: Operation | None) -> None:
        if op.parent is not None:
            raise ValueError(f"'{op.name}' is already in a block; detach it first")
        op.parent = self
        op.prev_op = prev
        op.next_op = nxt
        if prev is None:
            self.first_op = op
        else:
            prev.next_op = op
        if nxt is None:
            self.last_op = op
        else:
            nxt.prev_op = op
        self._len += 1
        if nxt is None and prev is not None and self._order_valid:
            op._order = prev._order + 1
        elif prev is None and nxt is None:
            op._order = 0
        else:
            self._order_valid = False

    def _unlink(self, op: Operation) -> None:
        prev, nxt = op.prev_op, op.next_op
        if prev is None:
            self.first_op = nxt
        else:
            prev.next_op = nxt
        if nxt is None:
            self.last_op = prev
        else:
            nxt.prev_op = prev
        op.parent = op.prev_op = op.next_op = None
        self._len -= 1

    def _renumber(self) -> None:
        for i, op in enumerate(self.ops):
            op._order = i
        self._order_valid = True

    def append(self, op: Operation) -> Operation:
        self._link(op, self.last_op, None)
        return op

    def prepend(self, op: Operation) -> Operation:
        self._link(op, None, self.first_op)
        return op

    def insert_before(self, op: Operation, anchor: Operation) -> Operation:
        if anchor.parent is not self:
            raise ValueError("anchor op is not in this block")
        self._link(op, anchor.prev_op, anchor)
        return op

    def insert_after(self, op: Operation, anchor: Operation) -> Operation:
        if anchor.parent is not self:
            raise ValueError("anchor op is not in this block")
        self._link(op, anchor, anchor.next_op)
        return op

    def extend(self, ops: Iterable[Operation]) -> None:
        for op in ops:
            self.append(op)

    # -- structure
    @property
    def parent_op(self) -> Operation | None:
        return self.parent.parent if self.parent is not None else None

    @property
    def successors(self) -> list[Block]:
        term = self.last_op
        return list(term.successors) if term is not None else []

    @property
    def predecessors(self) -> list[Block]:
        if self.parent is None:
            return []
        return [b for b in self.parent.blocks if any(s is self for s in b.successors)]

    def erase(self) -> None:
        for op in list(self.reversed_ops()):
            op.drop_all_references()
        for op in list(self.ops):
            op.detach()
        if self.parent is not None:
            self.parent.blocks.remove(self)
            self.parent = None

    def __repr__(self) -> str:
        return f"<Block with {self._len} ops, {len(self.args)} args>"


# ----------------------------------------------------------------------------------- regions


class Region:
    """A list of blocks owned by an operation."""

    __slots__ = ("blocks", "parent")

    def __init__(self, parent: Operation | None = None, blocks: Iterable[Block] = ()) -> None:
        self.parent = parent
        self.blocks: list[Block] = []
        for b in blocks:
            self.add_block(b)

    def add_block(self, block: Block | None = None) -> Block:
        block = block if block is not None else Block()
        if block.parent is not None:
            raise ValueError("block already belongs to a region")
        block.parent = self
        self.blocks.append(block)
        return block

    def insert_block(self, index: int, block: Block) -> Block:
        block.parent = self
        self.blocks.insert(index, block)
        return block

    @property
    def block(self) -> Block:
        """The single block; an error otherwise."""
        if len(self.blocks) != 1:
            raise ValueError(f"region has {len(self.blocks)} blocks, not exactly one")
        return self.blocks[0]

    @property
    def entry_block(self) -> Block | None:
        return self.blocks[0] if self.blocks else None

    @property
    def is_empty(self) -> bool:
        return not self.blocks

    def ops(self) -> Iterator[Operation]:
        for b in self.blocks:
            yield from b.ops

    def clone_into(self, dest: Region, mapping: dict | None = None) -> None:
        """Append deep copies of this region's blocks to ``dest``."""
        if mapping is None:
            mapping = {}
        new_blocks = []
        for block in self.blocks:
            nb = Block()
            for a in block.args:
                mapping[a] = nb.add_argument(a.type, a.location)
            mapping[block] = nb
            new_blocks.append(nb)
        for block, nb in zip(self.blocks, new_blocks, strict=True):
            for op in block.ops:
                nb.append(op.clone(mapping))
        for nb in new_blocks:
            dest.add_block(nb)

    def take_body(self, other: Region) -> None:
        """Move all blocks of ``other`` into this (emptied) region."""
        for b in list(self.blocks):
            b.erase()
        for b in other.blocks:
            b.parent = self
            self.blocks.append(b)
        other.blocks = []

    def __repr__(self) -> str:
        return f"<Region with {len(self.blocks)} blocks>"
