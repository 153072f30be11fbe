"""Dialect conversion: rewrite every illegal op into legal ones, converting types on the way.

A :class:`ConversionTarget` says which ops are legal; :class:`ConversionPattern`\\ s rewrite ops
and see their operands already remapped to converted values; a :class:`TypeConverter` maps
types and builds cast ops where converted and unconverted code meet.

The driver is deliberately simple and predictable: there is no rollback. Rounds of pre-order
walks apply the best matching pattern to each op that is not legal, until a round changes
nothing (or ``max_iterations`` rounds ran). While converting, a value whose type changed is
bridged by a temporary ``builtin.unrealized_conversion_cast``; at the end, casts that cancel
out or are unused disappear and the rest are replaced by the type converter's materialisations.
Whatever is still illegal (or, in a full conversion, of unknown legality) is reported in ONE
located error that lists every such op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from typing import ClassVar

from avalon.ir.builder import Builder, InsertionPoint
from avalon.ir.core import BlockArgument, Operation, OpResult, Region, Value, WalkOrder
from avalon.ir.diagnostics import Diagnostic, DiagnosticError, Severity
from avalon.ir.location import Location
from avalon.ir.patterns import PatternRewriter, RewriteListener, RewritePattern
from avalon.ir.types import FunctionType, Type
from avalon.passes.rewrite import FrozenPatternSet

#: The name of the temporary casts the driver inserts (MLIR's name for the same thing).
CAST_OP_NAME = "builtin.unrealized_conversion_cast"

OpRef = str | type[Operation]
Predicate = Callable[[Operation], bool | None]
#: ``fn(builder, result_type, inputs, location) -> Value | None``: build a cast, or decline.
Materialization = Callable[[Builder, Type, Sequence[Value], Location], Value | None]


def _op_name(op: OpRef) -> str:
    return op if isinstance(op, str) else op.name


class Legality(Enum):
    LEGAL = "legal"
    ILLEGAL = "illegal"
    UNKNOWN = "unknown"


class ConversionTarget:
    """Which ops a conversion must produce. Op rules take precedence over dialect rules, which
    take precedence over the rule for unknown ops."""

    def __init__(self) -> None:
        self._ops: dict[str, bool | Predicate] = {}
        self._dialects: dict[str, bool | Predicate] = {}
        self._unknown: bool | Predicate | None = None

    def add_legal_dialect(self, *names: str) -> ConversionTarget:
        for n in names:
            self._dialects[n] = True
        return self

    def add_illegal_dialect(self, *names: str) -> ConversionTarget:
        for n in names:
            self._dialects[n] = False
        return self

    def add_dynamically_legal_dialect(self, name: str, predicate: Predicate) -> ConversionTarget:
        self._dialects[name] = predicate
        return self

    def add_legal_op(self, *ops: OpRef) -> ConversionTarget:
        for op in ops:
            self._ops[_op_name(op)] = True
        return self

    def add_illegal_op(self, *ops: OpRef) -> ConversionTarget:
        for op in ops:
            self._ops[_op_name(op)] = False
        return self

    def add_dynamically_legal_op(self, op: OpRef, predicate: Predicate) -> ConversionTarget:
        """``predicate(op)`` decides: True legal, False illegal, None unknown."""
        self._ops[_op_name(op)] = predicate
        return self

    def mark_unknown_ops_legal(self) -> ConversionTarget:
        self._unknown = True
        return self

    def mark_unknown_ops_illegal(self) -> ConversionTarget:
        self._unknown = False
        return self

    def mark_unknown_ops_dynamically_legal(self, predicate: Predicate) -> ConversionTarget:
        self._unknown = predicate
        return self

    def legality(self, op: Operation) -> Legality:
        rule = self._ops.get(op.name)
        if rule is None:
            rule = self._dialects.get(op.dialect_name)
        if rule is None:
            rule = self._unknown
        if callable(rule):
            rule = rule(op)
        if rule is None:
            return Legality.UNKNOWN
        return Legality.LEGAL if rule else Legality.ILLEGAL

    def is_legal(self, op: Operation) -> bool | None:
        """True/False when the target knows, None when the op's legality is unknown."""
        leg = self.legality(op)
        return None if leg is Legality.UNKNOWN else leg is Legality.LEGAL


class TypeConverter:
    """Maps types (conversions tried last-added-first) and builds casts between old and new
    types. A conversion returns the new type, or None to let older conversions try; a type no
    conversion accepts cannot be converted. Add ``lambda t: t`` first to keep other types."""

    def __init__(self) -> None:
        self._conversions: list[Callable[[Type], Type | None]] = []
        self._source: list[Materialization] = []
        self._target: list[Materialization] = []
        self._cache: dict[Type, Type | None] = {}

    def add_conversion(self, fn: Callable[[Type], Type | None]) -> TypeConverter:
        self._conversions.append(fn)
        self._cache.clear()
        return self

    def add_source_materialization(self, fn: Materialization) -> TypeConverter:
        """Casts a converted value back to its original type (for users not yet converted)."""
        self._source.append(fn)
        return self

    def add_target_materialization(self, fn: Materialization) -> TypeConverter:
        """Casts an unconverted value to its converted type (for operands of converted ops)."""
        self._target.append(fn)
        return self

    def convert_type(self, t: Type) -> Type | None:
        if t in self._cache:
            return self._cache[t]
        result = None
        for fn in reversed(self._conversions):
            result = fn(t)
            if result is not None:
                break
        self._cache[t] = result
        return result

    def convert_types(self, types: Iterable[Type]) -> list[Type] | None:
        out = []
        for t in types:
            c = self.convert_type(t)
            if c is None:
                return None
            out.append(c)
        return out

    def convert_signature(self, function_type: FunctionType) -> FunctionType | None:
        """The function type with converted inputs and results, or None."""
        ins = self.convert_types(function_type.inputs)
        outs = self.convert_types(function_type.results)
        if ins is None or outs is None:
            return None
        return FunctionType(tuple(ins), tuple(outs))

    def is_legal(self, what: Type | Operation) -> bool:
        """A type is legal when it converts to itself; an op when all its operand and result
        types are legal."""
        if isinstance(what, Operation):
            return all(self.is_legal(t) for t in (*what.operand_types, *what.result_types))
        return self.convert_type(what) == what

    def is_signature_legal(self, function_type: FunctionType) -> bool:
        return all(self.is_legal(t) for t in (*function_type.inputs, *function_type.results))

    def _materialize(self, fns: list[Materialization], builder: Builder, t: Type,
                     inputs: Sequence[Value], loc: Location) -> Value | None:
        for fn in reversed(fns):
            v = fn(builder, t, list(inputs), loc)
            if v is not None:
                return v
        return None

    def materialize_source(self, builder: Builder, t: Type, inputs: Sequence[Value],
                           loc: Location) -> Value | None:
        return self._materialize(self._source, builder, t, inputs, loc)

    def materialize_target(self, builder: Builder, t: Type, inputs: Sequence[Value],
                           loc: Location) -> Value | None:
        return self._materialize(self._target, builder, t, inputs, loc)


class ConversionPattern:
    """A pattern whose ``match_and_rewrite`` also receives the op's operands remapped to their
    converted values (cast to converted types where the producer was not converted)."""

    root: ClassVar[str | type[Operation] | None] = None
    benefit: ClassVar[int] = 1

    def __init__(self, type_converter: TypeConverter | None = None) -> None:
        #: Overrides the driver's type converter for this pattern's operands.
        self.type_converter = type_converter

    @property
    def root_name(self) -> str | None:
        r = self.root
        return r if r is None or isinstance(r, str) else r.name

    def match_and_rewrite(self, op: Operation, operands: list[Value],
                          rewriter: ConversionRewriter) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must implement match_and_rewrite")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={self.root_name})"


ConversionFn = Callable[[Operation, list[Value], "ConversionRewriter"], bool]


def conversion_pattern(root: OpRef | None,
                       benefit: int = 1) -> Callable[[ConversionFn], ConversionPattern]:
    """Decorator turning ``fn(op, operands, rewriter) -> bool`` into a ConversionPattern."""

    def wrap(fn: ConversionFn) -> ConversionPattern:
        cls = type(fn.__name__, (ConversionPattern,), {
            "root": root, "benefit": benefit, "__doc__": fn.__doc__,
            "match_and_rewrite": lambda self, op, operands, rw: fn(op, operands, rw),
        })
        return cls()

    return wrap


class ConversionRewriter(PatternRewriter):
    """The rewriter conversion patterns get: replacing a value by one of another type inserts
    a temporary cast so unconverted users still type-check."""

    def __init__(self, driver: _ConversionDriver) -> None:
        super().__init__(driver)
        self._driver = driver
        self.type_converter = driver.type_converter

    def replace_all_uses_with(self, old: Value, new: Value) -> None:
        if old.type != new.type and old.has_uses:
            # Right after ``new`` is defined: the closest point that dominates its uses.
            if isinstance(new, OpResult):
                ip = InsertionPoint.after_op(new.op)
            else:
                ip = InsertionPoint.at_start(new.block)
            new = self._driver.make_cast(new, old.type, ip, "source", None).results[0]
        super().replace_all_uses_with(old, new)

    def convert_region_types(self, region: Region,
                             converter: TypeConverter | None = None) -> bool:
        """Convert the types of all block arguments in ``region`` in place; existing uses see
        a cast back to the old type. False (and nothing changed) if a type cannot convert."""
        conv = converter or self.type_converter
        if conv is None:
            raise ValueError("convert_region_types needs a type converter")
        plans = []
        for block in region.blocks:
            for arg in block.args:
                new_t = conv.convert_type(arg.type)
                if new_t is None:
                    return False
                if new_t != arg.type:
                    plans.append((arg, new_t))
        for arg, new_t in plans:
            self.convert_block_argument(arg, new_t, conv)
        return True

    def convert_block_argument(self, arg: BlockArgument, new_type: Type,
                               converter: TypeConverter | None = None) -> None:
        """Give ``arg`` the type ``new_type``; its current users see a cast to the old type."""
        old_t = arg.type
        users_before = arg.has_uses
        arg.type = new_type
        if users_before:
            cast = self._driver.make_cast(arg, old_t, InsertionPoint.at_start(arg.block),
                                          "source", converter or self.type_converter)
            arg.replace_uses_if(cast.results[0], lambda use: use.owner is not cast)
            for user in cast.results[0].users:
                self.listener.notify_op_modified(user)


class _ConversionDriver(RewriteListener):
    def __init__(self, root: Operation, target: ConversionTarget,
                 patterns: Iterable[RewritePattern | ConversionPattern],
                 type_converter: TypeConverter | None, full: bool) -> None:
        self.root = root
        self.target = target
        self.patterns = FrozenPatternSet.of(patterns)  # type: ignore[arg-type]
        self.type_converter = type_converter
        self.full = full
        self.rewriter = ConversionRewriter(self)
        #: Temporary casts: kind ("source"/"target") and the converter to materialise with.
        self.casts: dict[Operation, tuple[str, TypeConverter | None]] = {}
        self.erased: set[Operation] = set()
        self.rounds_exhausted = False

    # -- listener
    def notify_op_erased(self, op: Operation) -> None:
        self.erased.add(op)
        self.casts.pop(op, None)

    def notify_op_inserted(self, op: Operation) -> None:
        self.erased.discard(op)

    # -- casts
    def make_cast(self, value: Value, t: Type, ip: InsertionPoint, kind: str,
                  converter: TypeConverter | None) -> Operation:
        loc = value.op.location if isinstance(value, OpResult) else value.location
        cast = Operation.create(CAST_OP_NAME, [value], [t], location=loc)
        ip.insert(cast)
        self.casts[cast] = (kind, converter or self.type_converter)
        return cast

    def _source_of(self, v: Value) -> Value:
        """Look through casts back to the converted value they bridge."""
        while isinstance(v, OpResult) and v.op in self.casts and \
                self.casts[v.op][0] == "source":
            v = v.op.operand(0)
        return v

    def adaptor_operands(self, op: Operation, converter: TypeConverter | None,
                         created: list[Operation]) -> list[Value]:
        out = []
        for v in op.operands:
            v = self._source_of(v)
            if converter is not None:
                t = converter.convert_type(v.type)
                if t is not None and t != v.type:
                    cast = self.make_cast(v, t, InsertionPoint.before_op(op), "target",
                                          converter)
                    created.append(cast)
                    v = cast.results[0]
            out.append(v)
        return out

    # -- driving
    def _attached(self, op: Operation) -> bool:
        if op in self.erased:
            return False
        cur: Operation | None = op
        while cur is not None and cur is not self.root:
            if cur.parent is None:
                return False
            cur = cur.parent_op
        return cur is self.root

    def _try_legalize(self, op: Operation) -> bool:
        for pattern in self.patterns.for_op(op.name):
            self.rewriter.at_op(op)
            if isinstance(pattern, ConversionPattern):
                created: list[Operation] = []
                conv = pattern.type_converter or self.type_converter
                operands = self.adaptor_operands(op, conv, created)
                self.rewriter.at_op(op)
                if pattern.match_and_rewrite(op, operands, self.rewriter):
                    return True
                for cast in reversed(created):
                    if cast.parent is not None and not cast.has_uses:
                        self.casts.pop(cast, None)
                        cast.erase()
            elif pattern.match_and_rewrite(op, self.rewriter):
                return True
        return False

    def run(self, max_iterations: int) -> bool:
        changed_any = False
        for _ in range(max_iterations):
            changed = False
            for op in [o for o in self.root.walk_ops(WalkOrder.PRE) if o is not self.root]:
                if op in self.casts or not self._attached(op):
                    continue
                if self.target.legality(op) is Legality.LEGAL:
                    continue
                if self._try_legalize(op):
                    changed = True
            changed_any |= changed
            if not changed:
                break
        else:
            self.rounds_exhausted = True
        return changed_any

    # -- finishing
    def resolve_casts(self) -> list[tuple[str, Location]]:
        """Cancel and drop casts, then materialise the rest; returns the failures."""
        for cast in list(self.casts):
            if cast.parent is None:
                continue
            src = cast.operand(0)
            res = cast.results[0]
            if src.type == res.type:
                res.replace_all_uses_with(src)
            elif isinstance(src, OpResult) and src.op in self.casts and \
                    src.op.operand(0).type == res.type:
                res.replace_all_uses_with(src.op.operand(0))
        progress = True
        while progress:
            progress = False
            for cast in list(self.casts):
                if cast.parent is not None and not cast.has_uses:
                    del self.casts[cast]
                    cast.erase()
                    progress = True
        failures = []
        for cast, (kind, conv) in list(self.casts.items()):
            src, res = cast.operand(0), cast.results[0]
            builder = Builder(InsertionPoint.before_op(cast), cast.location)
            new = None
            if conv is not None:
                make = conv.materialize_source if kind == "source" else conv.materialize_target
                new = make(builder, res.type, [src], cast.location)
            if new is None or new.type != res.type:
                user = res.users[0]
                failures.append((f"failed to materialize conversion for value of type "
                                 f"'{src.type}' to '{res.type}' used by '{user.name}'",
                                 user.location))
                continue
            res.replace_all_uses_with(new)
            del self.casts[cast]
            cast.erase()
        return failures

    def failed_ops(self) -> list[Operation]:
        failed = []
        for op in self.root.walk_ops(WalkOrder.PRE):
            if op is self.root or op in self.casts:
                continue
            leg = self.target.legality(op)
            if leg is Legality.ILLEGAL or (self.full and leg is Legality.UNKNOWN):
                failed.append(op)
        return failed


def _convert(root: Operation, target: ConversionTarget,
             patterns: Iterable[RewritePattern | ConversionPattern],
             type_converter: TypeConverter | None, full: bool, max_iterations: int) -> bool:
    driver = _ConversionDriver(root, target, patterns, type_converter, full)
    changed = driver.run(max_iterations)
    cast_failures = driver.resolve_casts()
    failed = driver.failed_ops()
    if not failed and not cast_failures:
        return changed
    if failed:
        n = len(failed)
        diag = Diagnostic(Severity.ERROR,
                          f"failed to legalize {n} operation{'s' if n != 1 else ''}",
                          failed[0].location)
        for op in failed:
            diag.attach_note(f"failed to legalize operation '{op.name}'", op.location)
    else:
        n = len(cast_failures)
        diag = Diagnostic(Severity.ERROR,
                          f"failed to materialize {n} type conversion{'s' if n != 1 else ''}",
                          cast_failures[0][1])
    for message, loc in cast_failures:
        diag.attach_note(message, loc)
    if driver.rounds_exhausted:
        diag.attach_note(f"patterns were still applying after {max_iterations} rounds",
                         root.location)
    raise DiagnosticError(diag)


def apply_partial_conversion(
    root: Operation,
    target: ConversionTarget,
    patterns: Iterable[RewritePattern | ConversionPattern],
    type_converter: TypeConverter | None = None,
    *,
    max_iterations: int = 16,
) -> bool:
    """Convert the ops nested in ``root`` so that none is illegal; ops of unknown legality
    are converted when a pattern applies and left alone otherwise. True if anything changed;
    raises one DiagnosticError listing every op that stayed illegal. No rollback: on failure
    the IR is left partially converted."""
    return _convert(root, target, patterns, type_converter, False, max_iterations)


def apply_full_conversion(
    root: Operation,
    target: ConversionTarget,
    patterns: Iterable[RewritePattern | ConversionPattern],
    type_converter: TypeConverter | None = None,
    *,
    max_iterations: int = 16,
) -> bool:
    """Like :func:`apply_partial_conversion`, but every nested op must end up known legal."""
    return _convert(root, target, patterns, type_converter, True, max_iterations)
