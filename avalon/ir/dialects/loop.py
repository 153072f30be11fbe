"""The ``loop`` dialect: structured control flow over ``index`` ranges.

``loop.for`` is a sequential counted loop with loop-carried values, ``loop.parallel`` a
multi-dimensional loop whose iterations are independent (optionally combining one value per
iteration into reductions), and ``loop.if`` a two-way conditional yielding values. All regions
have a single block; bodies end in ``loop.yield`` (for, if) or ``loop.reduce`` (parallel), which
the custom forms leave out when they carry no values.

Reductions follow the design of upstream ``scf.reduce``: the body of ``loop.parallel`` ends in
``loop.reduce``, which names one partial value per ``init`` and, for each, a combiner region
``(lhs, rhs) -> result`` ending in ``loop.reduce.return``. The result of the loop is the init
combined with the partial values of all iterations; the combiners must be associative and
commutative because the combination order is unspecified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from avalon.ir.asm import OpAsmParser, OpAsmPrinter, ensure_terminator
from avalon.ir.attributes import Attribute, DenseArrayAttr, IntegerAttr
from avalon.ir.core import Block, BlockArgument, Operation, OpResult, Region, Value
from avalon.ir.opdef import (
    Bool,
    Index,
    Op,
    Operand,
    SingleRegion,
    VarOperand,
    VarRegion,
    VarResult,
    register_dialect,
)
from avalon.ir.patterns import PatternRewriter, RewritePattern
from avalon.ir.traits import (
    ConstantLike,
    HasParent,
    Pure,
    RecursiveMemoryEffects,
    ReturnLike,
    SingleBlock,
    Terminator,
    memory_effects,
)
from avalon.ir.types import Type, i1, i32, index

register_dialect(
    "loop",
    "Structured control flow: sequential for loops with loop-carried values, "
    "multi-dimensional parallel loops with reductions, and conditionals.",
)

EXAMPLE = """\
func.func @positive_sum_and_max(%m: memref<16xf32>) -> (f32, f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %zero = arith.constant 0.0 : f32
  %sum = loop.for %i = %c0 to %c16 step %c1 iter_args(%acc = %zero) -> (f32) {
    %x = memory.load %m[%i] : memref<16xf32>
    %pos = arith.cmpf ogt, %x, %zero : f32
    %y = loop.if %pos -> (f32) {
      loop.yield %x : f32
    } else {
      loop.yield %zero : f32
    }
    %next = arith.addf %acc, %y : f32
    loop.yield %next : f32
  }
  %max = loop.parallel (%j) = (%c0) to (%c16) step (%c1) init (%zero) -> f32 {
    %x = memory.load %m[%j] : memref<16xf32>
    loop.reduce(%x : f32) {
    ^bb0(%lhs: f32, %rhs: f32):
      %r = arith.maximumf %lhs, %rhs : f32
      loop.reduce.return %r : f32
    }
  }
  func.return %sum, %max : f32, f32
}
"""


def constant_int(value: Value) -> int | None:
    """The integer held by a constant-like op defining ``value`` (i1 gives 0/1), else None."""
    if not isinstance(value, OpResult):
        return None
    op = value.op
    if not op.has_trait(ConstantLike):
        return None
    attr = op.attributes.get("value")
    return attr.value if isinstance(attr, IntegerAttr) else None


def trip_count(lb: int, ub: int, step: int) -> int:
    """Iterations of ``for (i = lb; i < ub; i += step)`` with a positive step."""
    return max(0, -(-(ub - lb) // step))


def _fmt(types: Sequence[Type]) -> str:
    return ", ".join(str(t) for t in types)


def _check_terminator(op: Operation, block: Block, name: str, types: Sequence[Type],
                      where: str) -> None:
    """The block ends in op ``name`` whose operand types are ``types``."""
    term = block.last_op
    if term is None or term.name != name:
        found = f"'{term.name}'" if term is not None else "nothing"
        raise op.emit_error(f"expects {where} to end with '{name}', found {found}")
    got = [v.type for v in term.operands]
    if got != list(types):
        raise op.emit_error(f"'{name}' at the end of {where} has operand types ({_fmt(got)}), "
                            f"expected ({_fmt(types)})")


def _single_block(op: Operation, region: Region, where: str) -> Block:
    if len(region.blocks) != 1:
        raise op.emit_error(f"expects {where} to have exactly one block")
    return region.blocks[0]


def _check_positive_steps(op: Operation, steps: Sequence[Value]) -> None:
    for s in steps:
        c = constant_int(s)
        if c is not None and c <= 0:
            raise op.emit_error(f"requires a positive step, got {c}")


def _unwrite_space(p: OpAsmPrinter) -> None:
    """Glue the next text to the op name (``loop.reduce(``), where the printer allows it."""
    unwrite = getattr(p, "unwrite_space", None)
    if unwrite is not None:
        unwrite()


def _print_paren_types(p: OpAsmPrinter, types: Sequence[Type]) -> None:
    if types:
        p.write(" -> (")
        p.print_types(types)
        p.write(")")


def _inline_block(rewriter: PatternRewriter, op: Operation, block: Block,
                  args: Sequence[Value]) -> None:
    """Replace ``op`` by the ops of ``block`` (arguments bound to ``args``); the values of the
    block's terminator replace ``op``'s results."""
    term = block.last_op
    rewriter.inline_block_before(block, op, args)
    values = list(term.operands)
    rewriter.erase_op(term)
    rewriter.replace_op(op, values)


# ------------------------------------------------------------------------------- loop.for


class ForOp(Op):
    """Runs the body for ``i = lower_bound, lower_bound + step, ...`` while ``i <
    upper_bound`` (signed ``index`` comparison; ``step`` must be positive), in order.
    The body block takes the induction variable ``i`` and the loop-carried values; its
    ``loop.yield`` gives the carried values of the next iteration. The carried values start
    as ``inits`` and the results are their final values (the inits when the loop runs zero
    times).

    Custom form::

        %r = loop.for %i = %lb to %ub step %s iter_args(%acc = %init) -> (f32) {
          ...
          loop.yield %next : f32
        }
    """

    name = "loop.for"
    traits = (RecursiveMemoryEffects, SingleBlock)
    lower_bound = Operand(Index)
    upper_bound = Operand(Index)
    step = Operand(Index)
    inits = VarOperand(doc="initial values of the loop-carried values")
    outs = VarResult(doc="final values of the loop-carried values")
    body_region = SingleRegion()

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Op:
        """As :meth:`Op.build`; also creates the body block (without terminator) unless
        ``regions`` is given."""
        make_body = kwargs.get("regions") is None
        op = super().build(*args, **kwargs)
        if make_body:
            op.regions[0].add_block(Block([index, *(v.type for v in op.inits)]))
        return op

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        return [v.type for v in operands[3:]]

    @property
    def induction_var(self) -> BlockArgument:
        return self.body.args[0]

    @property
    def iter_args(self) -> list[BlockArgument]:
        return self.body.args[1:]

    @property
    def yield_op(self) -> Operation | None:
        return self.body.last_op

    def constant_trip_count(self) -> int | None:
        """The number of iterations if the bounds and step are constants, else None."""
        lb, ub, st = (constant_int(v) for v in (self.lower_bound, self.upper_bound, self.step))
        if lb is None or ub is None or st is None or st <= 0:
            return None
        return trip_count(lb, ub, st)

    def verify_(self) -> None:
        block = _single_block(self, self.body_region, "the body")
        carried = [v.type for v in self.inits]
        expected = [index, *carried]
        if block.arg_types != expected:
            raise self.emit_error(f"expects body block arguments ({_fmt(expected)}), got "
                                  f"({_fmt(block.arg_types)})")
        if self.result_types != carried:
            raise self.emit_error(f"result types ({_fmt(self.result_types)}) do not match the "
                                  f"loop-carried types ({_fmt(carried)})")
        _check_terminator(self, block, "loop.yield", carried, "the body")
        _check_positive_steps(self, [self.step])

    @classmethod
    def get_canonicalization_patterns(cls) -> list:
        return [ForZeroTrip(), ForSingleTrip(), ForDropIterArgs()]

    def print_custom(self, p: OpAsmPrinter) -> None:
        body = self.body
        p.print_block_argument(body.args[0], with_type=False)
        p.write(" = ")
        p.print_operand(self.lower_bound)
        p.write(" to ")
        p.print_operand(self.upper_bound)
        p.write(" step ")
        p.print_operand(self.step)
        inits = self.inits
        if inits:
            p.write(" iter_args(")
            for k, (arg, init) in enumerate(zip(body.args[1:], inits)):
                if k:
                    p.write(", ")
                p.print_block_argument(arg, with_type=False)
                p.write(" = ")
                p.print_operand(init)
            p.write(")")
            _print_paren_types(p, self.result_types)
        p.write(" ")
        p.print_region(self.body_region, print_entry_block_args=False,
                       print_block_terminators=False)
        p.print_attr_dict(self.attributes)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        iv = p.parse_argument(with_type=False)
        p.parse_punct("=")
        bounds = [p.parse_operand()]
        p.parse_keyword("to")
        bounds.append(p.parse_operand())
        p.parse_keyword("step")
        bounds.append(p.parse_operand())
        names, inits, types = [], [], []
        if p.parse_optional_keyword("iter_args"):
            p.parse_punct("(")
            while True:
                names.append(p.parse_argument(with_type=False))
                p.parse_punct("=")
                inits.append(p.parse_operand())
                if not p.parse_optional_punct(","):
                    break
            p.parse_punct(")")
            types = p.parse_arrow_type_list()
            if len(types) != len(inits):
                raise p.error(f"iter_args has {len(inits)} values but {len(types)} types")
        operands = [*p.resolve_operands(bounds, [index] * 3), *p.resolve_operands(inits, types)]
        args = [replace(iv, type=index)] + [replace(a, type=t) for a, t in zip(names, types)]
        region = p.parse_region(args)
        attrs = p.parse_optional_attr_dict()
        if not region.blocks:
            region.add_block(Block([index, *types]))
        ensure_terminator(region, "loop.yield", p.location)
        return cls(operands, types, attrs, [region], [], p.location)


class ForZeroTrip(RewritePattern):
    """A ``loop.for`` with constant bounds that runs zero times yields its inits."""

    root = "loop.for"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, ForOp) or op.constant_trip_count() != 0:
            return False
        rewriter.replace_op(op, list(op.inits))
        return True


class ForSingleTrip(RewritePattern):
    """A ``loop.for`` with constant bounds that runs once is replaced by its body, with the
    induction variable bound to the lower bound."""

    root = "loop.for"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, ForOp) or op.constant_trip_count() != 1:
            return False
        _inline_block(rewriter, op, op.body, [op.lower_bound, *op.inits])
        return True


class ForDropIterArgs(RewritePattern):
    """Removes loop-carried values that need no carrying: one the body yields back
    unchanged (its result is its init), and one whose result is unused and whose block
    argument only feeds, through effect-free ops of the body, its own ``loop.yield`` slot."""

    root = "loop.for"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, ForOp) or not op.inits:
            return False
        body = op.body
        term = body.last_op
        if term is None or term.name != "loop.yield":
            return False
        inits, args = op.inits, op.iter_args
        drop = [k for k, (arg, res) in enumerate(zip(args, op.results))
                if term.operands[k] is arg
                or (not res.has_uses and _only_feeds_slot(arg, body, term, k))]
        if not drop:
            return False
        for k in drop:
            if term.operands[k] is args[k]:
                rewriter.replace_all_uses_with(op.results[k], inits[k])
            rewriter.replace_all_uses_with(args[k], inits[k])
        keep = [k for k in range(len(inits)) if k not in drop]
        operands = [op.lower_bound, op.upper_bound, op.step, *(inits[k] for k in keep)]
        new = ForOp(operands, [inits[k].type for k in keep], dict(op.attributes), 1, [],
                    op.location)
        new.regions[0].take_body(op.regions[0])
        rewriter.modify_op_in_place(term, lambda: term.set_operands(
            [term.operands[k] for k in keep]))
        for k in reversed(drop):
            body.erase_argument(k + 1)
        rewriter.at_op(op).insert(new)
        position = {k: i for i, k in enumerate(keep)}
        rewriter.replace_op(op, [new.results[position[k]] if k in position else inits[k]
                                 for k in range(len(inits))])
        return True


def _only_feeds_slot(arg: Value, body: Block, term: Operation, k: int) -> bool:
    """Whether every use of ``arg``, followed through effect-free ops directly in ``body``,
    ends in operand ``k`` of ``term`` (so the carried value is never observed)."""
    seen: set[Operation] = set()
    pending = [arg]
    while pending:
        for use in pending.pop().uses:
            user = use.owner
            if user is term:
                if use.index != k:
                    return False
                continue
            if user in seen:
                continue
            if user.parent is not body or memory_effects(user) != frozenset():
                return False
            seen.add(user)
            pending.extend(user.results)
    return True


# -------------------------------------------------------------------------- loop.parallel


class ParallelOp(Op):
    """Runs the body once for every point of the box ``lower_bounds[k] <= i_k <
    upper_bounds[k]`` stepping by ``steps[k]`` (all positive), in any order or concurrently;
    iterations must not depend on each other.
    The body block takes the induction variables ``(i_0, ...)`` and ends in ``loop.reduce``,
    which gives one partial value per ``init``. Result ``k`` is ``inits[k]`` combined with
    the partial values ``k`` of all iterations by the ``k``-th combiner region of
    ``loop.reduce``, in an unspecified order (the interpreter uses row-major order of the
    iterations, starting from the init).

    Custom form::

        %r = loop.parallel (%i, %j) = (%lb0, %lb1) to (%ub0, %ub1) step (%s0, %s1)
             init (%zero) -> f32 { ... loop.reduce(%v : f32) { ... } }
    """

    name = "loop.parallel"
    traits = (RecursiveMemoryEffects, SingleBlock)
    lower_bounds = VarOperand(Index)
    upper_bounds = VarOperand(Index)
    steps = VarOperand(Index)
    inits = VarOperand(doc="initial values of the reductions")
    outs = VarResult(doc="reduced values")
    body_region = SingleRegion()

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Op:
        """As :meth:`Op.build`; also creates the body block (without terminator) unless
        ``regions`` is given."""
        make_body = kwargs.get("regions") is None
        op = super().build(*args, **kwargs)
        if make_body:
            op.regions[0].add_block(Block([index] * len(op.lower_bounds)))
        return op

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        n_inits = attributes["operandSegmentSizes"].values[3]
        return [v.type for v in operands[len(operands) - n_inits:]]

    @property
    def induction_vars(self) -> list[BlockArgument]:
        return list(self.body.args)

    @property
    def reduce_op(self) -> Operation | None:
        return self.body.last_op

    def verify_(self) -> None:
        n = len(self.lower_bounds)
        if n == 0 or len(self.upper_bounds) != n or len(self.steps) != n:
            raise self.emit_error(
                f"expects the same positive number of lower bounds, upper bounds and steps, "
                f"got {n}, {len(self.upper_bounds)} and {len(self.steps)}")
        block = _single_block(self, self.body_region, "the body")
        if block.arg_types != [index] * n:
            raise self.emit_error(f"expects {n} 'index' body block arguments, got "
                                  f"({_fmt(block.arg_types)})")
        reduced = [v.type for v in self.inits]
        if self.result_types != reduced:
            raise self.emit_error(f"result types ({_fmt(self.result_types)}) do not match the "
                                  f"init types ({_fmt(reduced)})")
        _check_terminator(self, block, "loop.reduce", reduced, "the body")
        _check_positive_steps(self, self.steps)

    @classmethod
    def get_canonicalization_patterns(cls) -> list:
        return [ParallelZeroTrip()]

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.write("(")
        for k, arg in enumerate(self.body.args):
            if k:
                p.write(", ")
            p.print_block_argument(arg, with_type=False)
        p.write(") = (")
        p.print_operands(self.lower_bounds)
        p.write(") to (")
        p.print_operands(self.upper_bounds)
        p.write(") step (")
        p.print_operands(self.steps)
        p.write(")")
        if self.inits:
            p.write(" init (")
            p.print_operands(self.inits)
            p.write(")")
            p.print_arrow_types(self.result_types)
        p.write(" ")
        p.print_region(self.body_region, print_entry_block_args=False,
                       print_block_terminators=False)
        p.print_attr_dict(self.attributes, elided=("operandSegmentSizes",))

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        p.parse_punct("(")
        ivs = [p.parse_argument(with_type=False)]
        while p.parse_optional_punct(","):
            ivs.append(p.parse_argument(with_type=False))
        p.parse_punct(")")
        p.parse_punct("=")
        lbs = p.parse_operand_list("()")
        p.parse_keyword("to")
        ubs = p.parse_operand_list("()")
        p.parse_keyword("step")
        steps = p.parse_operand_list("()")
        n = len(ivs)
        if not len(lbs) == len(ubs) == len(steps) == n:
            raise p.error(f"expected {n} lower bounds, upper bounds and steps, got "
                          f"{len(lbs)}, {len(ubs)} and {len(steps)}")
        inits: list = []
        types: list[Type] = []
        if p.parse_optional_keyword("init"):
            inits = p.parse_operand_list("()")
            types = p.parse_arrow_type_list()
            if len(types) != len(inits):
                raise p.error(f"init has {len(inits)} values but {len(types)} types")
        operands = [*p.resolve_operands(lbs + ubs + steps, [index] * (3 * n)),
                    *p.resolve_operands(inits, types)]
        region = p.parse_region([replace(a, type=index) for a in ivs])
        attrs = p.parse_optional_attr_dict()
        if not region.blocks:
            region.add_block(Block([index] * n))
        ensure_terminator(region, "loop.reduce", p.location)
        attrs["operandSegmentSizes"] = DenseArrayAttr(i32, (n, n, n, len(inits)))
        return cls(operands, types, attrs, [region], [], p.location)


class ParallelZeroTrip(RewritePattern):
    """A ``loop.parallel`` with a constant empty dimension yields its inits."""

    root = "loop.parallel"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, ParallelOp):
            return False
        for lb, ub, st in zip(op.lower_bounds, op.upper_bounds, op.steps):
            c = [constant_int(v) for v in (lb, ub, st)]
            if None not in c and c[2] > 0 and trip_count(*c) == 0:
                rewriter.replace_op(op, list(op.inits))
                return True
        return False


# -------------------------------------------------------------------------------- loop.if


class IfOp(Op):
    """Runs the ``then`` region if ``condition`` (``i1``) is true, else the ``else`` region
    (which may be empty when the op has no results); the ``loop.yield`` of the region that
    ran gives the results.

    Custom form: ``%r = loop.if %c -> (f32) { ... loop.yield %a : f32 } else { ...
    loop.yield %b : f32 }``; the ``else`` part is left out when its region is empty.
    """

    name = "loop.if"
    traits = (RecursiveMemoryEffects, SingleBlock)
    condition = Operand(Bool)
    outs = VarResult()
    then_region = SingleRegion()
    else_region = SingleRegion()

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Op:
        """As :meth:`Op.build` (results from ``result_types``, default none); also creates
        the ``then`` block, and the ``else`` block when there are results, unless
        ``regions`` is given."""
        make_blocks = kwargs.get("regions") is None
        op = super().build(*args, **kwargs)
        if make_blocks:
            op.regions[0].add_block(Block())
            if op.results:
                op.regions[1].add_block(Block())
        return op

    @classmethod
    def infer_result_types(cls, operands: Sequence[Value],
                           attributes: dict[str, Attribute]) -> list[Type]:
        return []

    @property
    def then_block(self) -> Block:
        return self.then_region.blocks[0]

    @property
    def else_block(self) -> Block | None:
        blocks = self.else_region.blocks
        return blocks[0] if blocks else None

    def verify_(self) -> None:
        types = self.result_types
        _single_block(self, self.then_region, "the 'then' region")
        if types and not self.else_region.blocks:
            raise self.emit_error("must have an 'else' region when it has results")
        for region, where in ((self.then_region, "the 'then' region"),
                              (self.else_region, "the 'else' region")):
            if not region.blocks:
                continue
            block = region.blocks[0]
            if block.args:
                raise self.emit_error(f"expects {where} to have no block arguments")
            _check_terminator(self, block, "loop.yield", types, where)

    @classmethod
    def get_canonicalization_patterns(cls) -> list:
        return [IfConstantCondition(), IfEmpty()]

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.condition)
        _print_paren_types(p, self.result_types)
        p.write(" ")
        p.print_region(self.then_region, print_entry_block_args=False,
                       print_block_terminators=False)
        if self.else_region.blocks:
            p.write(" else ")
            p.print_region(self.else_region, print_entry_block_args=False,
                           print_block_terminators=False)
        p.print_attr_dict(self.attributes)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        cond = p.parse_operand()
        types = p.parse_optional_arrow_type_list()
        then = p.parse_region()
        regions = [then]
        if p.parse_optional_keyword("else"):
            regions.append(p.parse_region())
        attrs = p.parse_optional_attr_dict()
        for region in regions:
            if not region.blocks:
                region.add_block(Block())
            ensure_terminator(region, "loop.yield", p.location)
        if len(regions) == 1:
            regions.append(Region())
        return cls([p.resolve_operand(cond, i1)], types, attrs, regions, [], p.location)


class IfConstantCondition(RewritePattern):
    """A ``loop.if`` on a constant condition is replaced by the region it takes."""

    root = "loop.if"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, IfOp):
            return False
        c = constant_int(op.condition)
        if c is None:
            return False
        region = op.then_region if c else op.else_region
        if not region.blocks:
            if op.results:
                return False
            rewriter.erase_op(op)
            return True
        _inline_block(rewriter, op, region.blocks[0], [])
        return True


class IfEmpty(RewritePattern):
    """A ``loop.if`` without results whose regions hold nothing but ``loop.yield`` is
    erased."""

    root = "loop.if"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, IfOp) or op.results:
            return False
        for region in op.regions:
            if any(len(b) > 1 for b in region.blocks):
                return False
        rewriter.erase_op(op)
        return True


# ---------------------------------------------------------------------------- terminators


class YieldOp(Op):
    """Ends the body of ``loop.for`` or a region of ``loop.if``, passing ``values`` to the
    parent: the next iteration's carried values (for) or the results (if).

    Custom form: ``loop.yield %a, %b : f32, i32`` (left out when there are no values).
    """

    name = "loop.yield"
    traits = (Pure, Terminator, ReturnLike, HasParent("loop.for", "loop.if"))
    values = VarOperand()

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operands(self.values)
        p.print_attr_dict(self.attributes)
        if self.values:
            p.write(" : ")
            p.print_types(v.type for v in self.values)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        operands = _parse_optional_operands(p)
        attrs = p.parse_optional_attr_dict()
        types = p.parse_colon_type_list() if operands else []
        return cls(p.resolve_operands(operands, types), [], attrs, 0, [], p.location)


def _parse_optional_operands(p: OpAsmParser) -> list:
    """``%a, %b`` or nothing."""
    first = p.parse_optional_operand()
    if first is None:
        return []
    operands = [first]
    while p.parse_optional_punct(","):
        operands.append(p.parse_operand())
    return operands


class ReduceOp(Op):
    """Ends the body of ``loop.parallel``, giving this iteration's partial value for each
    reduction; combiner region ``k`` (block arguments ``(lhs, rhs)`` of the type of
    ``values[k]``, ending in ``loop.reduce.return``) combines two partial values into one.

    Custom form: ``loop.reduce(%v : f32) { ^bb0(%a: f32, %b: f32): ... loop.reduce.return %r
    : f32 }`` with one region per value, separated by commas; a bare ``loop.reduce`` (no
    reductions) is left out.
    """

    name = "loop.reduce"
    traits = (Terminator, ReturnLike, HasParent("loop.parallel"), RecursiveMemoryEffects,
              SingleBlock)
    values = VarOperand()
    combiners = VarRegion()

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Op:
        """As :meth:`Op.build`; unless ``regions`` is given, creates one combiner region per
        value, each with a block of two arguments (without terminator)."""
        if kwargs.get("regions") is not None:
            return super().build(*args, **kwargs)
        kwargs["regions"] = 0
        op = super().build(*args, **kwargs)
        for v in op.values:
            region = Region(op)
            region.add_block(Block([v.type, v.type]))
            op.regions.append(region)
        return op

    def verify_(self) -> None:
        values = self.values
        if len(self.regions) != len(values):
            raise self.emit_error(f"expects one combiner region per value, got {len(values)} "
                                  f"values and {len(self.regions)} regions")
        for k, (v, region) in enumerate(zip(values, self.regions)):
            where = f"combiner region #{k}"
            block = _single_block(self, region, where)
            if block.arg_types != [v.type, v.type]:
                raise self.emit_error(f"expects {where} to take two '{v.type}' arguments, got "
                                      f"({_fmt(block.arg_types)})")
            _check_terminator(self, block, "loop.reduce.return", [v.type], where)

    def print_custom(self, p: OpAsmPrinter) -> None:
        if self.values:
            _unwrite_space(p)
            p.write("(")
            p.print_operands(self.values)
            p.write(" : ")
            p.print_types(v.type for v in self.values)
            p.write(")")
        for k, region in enumerate(self.regions):
            p.write(", " if k else " ")
            p.print_region(region)
        p.print_attr_dict(self.attributes)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        operands: list = []
        types: list[Type] = []
        if p.parse_optional_punct("("):
            operands = p.parse_operand_list()
            types = p.parse_colon_type_list()
            p.parse_punct(")")
        values = p.resolve_operands(operands, types)
        regions = []
        for k in range(len(values)):
            if k:
                p.parse_punct(",")
            regions.append(p.parse_region())
        attrs = p.parse_optional_attr_dict()
        return cls(values, [], attrs, regions, [], p.location)


class ReduceReturnOp(Op):
    """Ends a combiner region of ``loop.reduce``, giving the combined value.

    Custom form: ``loop.reduce.return %r : f32``.
    """

    name = "loop.reduce.return"
    traits = (Pure, Terminator, ReturnLike, HasParent("loop.reduce"))
    value = Operand()

    def print_custom(self, p: OpAsmPrinter) -> None:
        p.print_operand(self.value)
        p.print_attr_dict(self.attributes)
        p.write(" : ")
        p.print_type(self.value.type)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        v = p.parse_operand()
        attrs = p.parse_optional_attr_dict()
        t = p.parse_colon_type()
        return cls([p.resolve_operand(v, t)], [], attrs, 0, [], p.location)


__all__ = [
    "EXAMPLE",
    "ForDropIterArgs",
    "ForOp",
    "ForSingleTrip",
    "ForZeroTrip",
    "IfConstantCondition",
    "IfEmpty",
    "IfOp",
    "ParallelOp",
    "ParallelZeroTrip",
    "ReduceOp",
    "ReduceReturnOp",
    "YieldOp",
    "constant_int",
    "trip_count",
]
