"""The ``fuse-elementwise`` pass: producer-consumer fusion of ``tensor.generic`` ops.

A chain such as ``sum(exp(x - broadcast(m)))`` is four generics after ``generalize``; each one
writes a whole tensor that the next reads back. Fusing a producer into its consumer makes one
loop nest whose body computes the producer's scalar value where the consumer reads it, so the
intermediate tensor disappears.

A producer fuses into a consumer when it is in the same block, all its iterators are parallel,
every output indexing map is a permutation (so a consumer index maps back to exactly one
producer point) and every use of its results is an input of that consumer. The consumer then
reads the producer's operands directly, through the composition ``producer operand map o
inverse(producer output map) o consumer operand map``, and its body starts with a copy of the
producer's body whose yielded values stand in for the consumer's old block arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

from avalon.ir.affine import (
    AffineBinaryExpr,
    AffineDimExpr,
    AffineExpr,
    AffineMap,
)
from avalon.ir.attributes import AffineMapAttr, ArrayAttr, DenseArrayAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Operation, OpResult, Value
from avalon.ir.dialects.tensor import GenericOp
from avalon.ir.dialects.tensor_shapes import ShapeError, generic_loop_extents
from avalon.ir.patterns import PatternRewriter, RewritePattern
from avalon.ir.traits import ConstantLike, Terminator
from avalon.ir.types import i32
from avalon.passes.pass_base import Option, Pass
from avalon.passes.registry import register_pass
from avalon.passes.rewrite import FrozenPatternSet, GreedyRewriteDriver, is_trivially_dead

#: A producer is cheap enough to compute more than once per element when its body has at
#: most this many arithmetic ops (constants and the terminator not counted) and no others.
CHEAP_BODY_OPS = 2

# ------------------------------------------------------------------------------ affine maps


def substitute(expr: AffineExpr, dims: Sequence[AffineExpr]) -> AffineExpr:
    """``expr`` with every dimension ``d_i`` replaced by ``dims[i]`` (map composition)."""
    if isinstance(expr, AffineDimExpr):
        return dims[expr.position]
    if isinstance(expr, AffineBinaryExpr):
        lhs, rhs = substitute(expr.lhs, dims), substitute(expr.rhs, dims)
        if expr.kind == "+":
            return lhs + rhs
        if expr.kind == "*":
            return lhs * rhs
        if expr.kind == "floordiv":
            return lhs.floordiv(rhs)
        if expr.kind == "ceildiv":
            return lhs.ceildiv(rhs)
        return lhs % rhs
    return expr


def compose_through(operand_map: AffineMap, output_map: AffineMap,
                    consumer_map: AffineMap) -> AffineMap:
    """The map from consumer loops to a producer operand: ``operand_map o
    inverse(output_map) o consumer_map``; ``output_map`` must be a full permutation."""
    loop_exprs: list[AffineExpr | None] = [None] * output_map.num_dims
    for j, e in enumerate(output_map.results):
        loop_exprs[e.position] = consumer_map.results[j]  # type: ignore[union-attr]
    exprs = tuple(substitute(e, loop_exprs) for e in operand_map.results)  # type: ignore[arg-type]
    return AffineMap(consumer_map.num_dims, 0, exprs)


def is_permutation(m: AffineMap) -> bool:
    return m.is_projected_permutation and len(m.results) == m.num_dims and not m.num_symbols


def _dims_of(expr: AffineExpr) -> set[int]:
    if isinstance(expr, AffineDimExpr):
        return {expr.position}
    if isinstance(expr, AffineBinaryExpr):
        return _dims_of(expr.lhs) | _dims_of(expr.rhs)
    return set()


def reads_each_element_once(m: AffineMap) -> bool:
    """Whether distinct loop points read distinct elements through ``m`` (checked
    conservatively: every loop dimension appears in exactly one result, and every result
    mentions at most one dimension)."""
    seen: list[int] = []
    for e in m.results:
        dims = _dims_of(e)
        if len(dims) > 1:
            return False
        seen.extend(dims)
    return sorted(seen) == list(range(m.num_dims))


# ------------------------------------------------------------------------------ producers


def body_ops(g: GenericOp) -> list[Operation]:
    """The ops of a generic's body without its terminator."""
    return [op for op in g.regions[0].blocks[0].ops if not op.has_trait(Terminator)]


def is_cheap(g: GenericOp) -> bool:
    """A body of a few arith ops (or none: broadcasts, transposes and copies)."""
    ops = [op for op in body_ops(g) if not op.has_trait(ConstantLike)]
    return len(ops) <= CHEAP_BODY_OPS and all(
        op.dialect_name == "arith" and not op.regions for op in ops)


def _fusable_producer_shape(p: GenericOp) -> bool:
    n_in = len(p.inputs)
    return (all(it == "parallel" for it in p.iterators)
            and all(is_permutation(m) for m in p.maps[n_in:]))


def _input_positions(c: GenericOp, p: Operation) -> list[int]:
    """Input positions of ``c`` that read a result of ``p``."""
    return [i for i, v in enumerate(c.inputs) if isinstance(v, OpResult) and v.op is p]


def _only_used_as_inputs_of(p: Operation, c: GenericOp) -> bool:
    n_in = len(c.inputs)
    return all(use.owner is c and use.index < n_in for r in p.results for use in r.uses)


# ------------------------------------------------------------------------------- the fusion


def _segment_attr(n_in: int, n_out: int) -> DenseArrayAttr:
    return DenseArrayAttr(i32, (n_in, n_out))


def _plan_fusion(c: GenericOp, p: GenericOp, positions: list[int]
                 ) -> tuple[list[Value], list[AffineMap], dict[int, tuple[int, int]]] | None:
    """New inputs and input maps of the fused op, and for each fused position the range of
    new inputs holding that copy of the producer's operands; None if the loop extents could
    no longer be derived from the maps."""
    c_maps = c.maps
    n_in_c = len(c.inputs)
    p_operands = list(p.operands)
    p_maps = p.maps
    n_in_p = len(p.inputs)
    inputs: list[Value] = []
    maps: list[AffineMap] = []
    ranges: dict[int, tuple[int, int]] = {}
    for i, v in enumerate(c.inputs):
        if i not in positions:
            inputs.append(v)
            maps.append(c_maps[i])
            continue
        out_map = p_maps[n_in_p + v.index]  # type: ignore[attr-defined]
        start = len(inputs)
        for operand, m in zip(p_operands, p_maps):
            inputs.append(operand)
            maps.append(compose_through(m, out_map, c_maps[i]))
        ranges[i] = (start, len(inputs))
    all_maps = maps + c_maps[n_in_c:]
    shapes = [v.type.shape for v in (*inputs, *c.outputs)]
    try:
        extents = generic_loop_extents(all_maps, shapes, c.num_loops, len(c.outputs))
    except ShapeError:
        return None
    if extents != c.loop_extents():
        return None
    return inputs, maps, ranges


def fuse_producer(c: GenericOp, p: GenericOp, rewriter: PatternRewriter) -> GenericOp | None:
    """Fuse ``p`` into every input of ``c`` that reads one of its results; returns the new
    consumer (``c`` is replaced and erased) or None if the maps do not allow it."""
    positions = _input_positions(c, p)
    plan = _plan_fusion(c, p, positions)
    if plan is None:
        return None
    inputs, maps, ranges = plan
    n_in_c = len(c.inputs)
    p_block = p.regions[0].blocks[0]
    c_block = c.regions[0].blocks[0]

    def body(b: Builder, args: list[Value]) -> list[Value]:
        c_mapping: dict = {}
        for i, arg in enumerate(c_block.args[:n_in_c]):
            if i not in ranges:
                c_mapping[arg] = args[_new_position(i, ranges)]
        for i, arg in enumerate(c_block.args[n_in_c:]):
            c_mapping[arg] = args[len(inputs) + i]
        for i, (start, stop) in sorted(ranges.items()):
            p_mapping: dict = dict(zip(p_block.args, args[start:stop], strict=True))
            for op in body_ops(p):
                b.insert(op.clone(p_mapping))
            result = c.inputs[i].index  # type: ignore[attr-defined]
            yielded = p_block.last_op.operands[result]  # type: ignore[union-attr]
            c_mapping[c_block.args[i]] = p_mapping.get(yielded, yielded)
        for op in body_ops(c):
            b.insert(op.clone(c_mapping))
        return [c_mapping.get(v, v) for v in c_block.last_op.operands]  # type: ignore[union-attr]

    rewriter.at_op(c)
    fused = GenericOp.create_with_body(rewriter, inputs, list(c.outputs),
                                       maps + c.maps[n_in_c:], c.iterators, body)
    for key, value in c.attributes.items():
        if key not in ("indexing_maps", "iterator_types", "operandSegmentSizes"):
            fused.attributes[key] = value
    fused.location = c.location
    rewriter.replace_op(c, fused)
    if not p.has_uses:
        operands = list(p.operands)
        rewriter.erase_op(p)
        erase_dead_producers(operands, rewriter)
    return fused


def _new_position(i: int, ranges: dict[int, tuple[int, int]]) -> int:
    """Where consumer input ``i`` (not fused) lands among the fused op's inputs."""
    shift = sum(stop - start - 1 for k, (start, stop) in ranges.items() if k < i)
    return i + shift


def erase_dead_producers(values: Sequence[Value], rewriter: PatternRewriter) -> None:
    """Erase the defining ops of ``values`` that became trivially dead, transitively."""
    pending = [v.op for v in values if isinstance(v, OpResult)]
    while pending:
        op = pending.pop()
        if op.parent is None or not is_trivially_dead(op):
            continue
        operands = list(op.operands)
        rewriter.erase_op(op)
        pending.extend(v.op for v in operands if isinstance(v, OpResult))


# ------------------------------------------------------------------------------- patterns


class FuseProducer(RewritePattern):
    """Fuse the first fusable generic producer of a generic's inputs into it."""

    root = "tensor.generic"

    def __init__(self, allow_recompute: bool = False, counter: list[int] | None = None) -> None:
        self.allow_recompute = allow_recompute
        self.counter = counter if counter is not None else [0]

    def _accepts(self, c: GenericOp, p: GenericOp) -> bool:
        if p.parent is not c.parent or not _fusable_producer_shape(p):
            return False
        single_consumer = _only_used_as_inputs_of(p, c)
        if not single_consumer and not (self.allow_recompute and is_cheap(p)):
            return False
        if is_cheap(p):
            return True
        # An expensive producer must not be evaluated more than once per element.
        return all(reads_each_element_once(c.maps[i]) for i in _input_positions(c, p))

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, GenericOp):
            return False
        for v in op.inputs:
            p = v.op if isinstance(v, OpResult) else None
            if (isinstance(p, GenericOp) and p is not op and self._accepts(op, p)
                    and fuse_producer(op, p, rewriter) is not None):
                self.counter[0] += 1
                return True
        return False


class DeduplicateInputs(RewritePattern):
    """Two inputs that are the same value read through the same map become one."""

    root = "tensor.generic"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, GenericOp):
            return False
        args = op.regions[0].blocks[0].args
        seen: dict[tuple[Value, AffineMap], int] = {}
        changed = False
        for i, (v, m) in enumerate(zip(op.inputs, op.maps)):
            first = seen.setdefault((v, m), i)
            if first != i and args[i].has_uses:
                rewriter.replace_all_uses_with(args[i], args[first])
                changed = True
        return changed


class DropDeadInputs(RewritePattern):
    """Inputs whose block argument the body never reads are dropped with their maps, unless
    the loop extents would then be unknown."""

    root = "tensor.generic"

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, GenericOp):
            return False
        block = op.regions[0].blocks[0]
        n_in = len(op.inputs)
        maps = op.maps
        keep = list(range(len(op.operands)))
        dropped: list[int] = []
        extents = op.loop_extents()
        for i in range(n_in):
            if block.args[i].has_uses:
                continue
            trial = [k for k in keep if k != i]
            try:
                ok = generic_loop_extents([maps[k] for k in trial],
                                          [op.operands[k].type.shape for k in trial],
                                          op.num_loops,
                                          sum(1 for k in trial if k >= n_in)) == extents
            except ShapeError:
                ok = False
            if ok:
                keep = trial
                dropped.append(i)
        if not dropped:
            return False
        old_operands = list(op.operands)
        n_out = len(op.outputs)

        def change() -> None:
            op.set_operands([old_operands[k] for k in keep])
            op.attributes["indexing_maps"] = ArrayAttr(
                tuple(AffineMapAttr(maps[k]) for k in keep))
            op.attributes["operandSegmentSizes"] = _segment_attr(len(keep) - n_out, n_out)
            for i in reversed(dropped):
                block.erase_argument(i)

        rewriter.modify_op_in_place(op, change)
        erase_dead_producers([old_operands[i] for i in dropped], rewriter)
        return True


def fuse_elementwise(root: Operation, allow_recompute: bool = False) -> int:
    """Fuse generics under ``root`` to a fixed point; returns the number of fusions."""
    counter = [0]
    patterns = FrozenPatternSet([FuseProducer(allow_recompute, counter), DeduplicateInputs(),
                                 DropDeadInputs()])
    GreedyRewriteDriver(root, patterns, fold=False, erase_dead=False, max_iterations=20).run()
    return counter[0]


@register_pass
class FuseElementwise(Pass):
    """Fuse all-parallel tensor.generic producers into their consumers (elementwise chains,
    broadcasts, and elementwise work feeding a reduction) so they run as one loop nest.

    Run it after ``generalize`` and follow it with ``canonicalize`` and ``cse``: the merged
    bodies can repeat scalar work (a producer read twice is computed twice). Also drops inputs
    that a generic's body no longer reads and merges inputs that are the same value read
    through the same map.
    """

    name = "fuse-elementwise"
    op_name = "func.func"
    allow_recompute = Option(bool, False, "also fuse producers with several consumers when "
                                          "their body is a few arith ops (computed again in "
                                          "each consumer)")

    def run(self, op: Operation) -> None:
        self.count("num-fused", "producers fused into a consumer").add(
            fuse_elementwise(op, self.allow_recompute))
