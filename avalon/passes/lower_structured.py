"""Structured loop nests: one emitter for every op that is "a body over an iteration space".

A :class:`Structured` nest has loop extents, parallel/reduction iterators, inputs read through
affine maps, outputs written through permutations of the parallel dimensions and a scalar
body. Elementwise ops, broadcast, ``tensor.generic``, reductions and matmul all lower through
it, so loop ordering and load placement are decided in one place:

* **Loop order.** The innermost loop is the dimension along which the most operands are
  contiguous (unit stride in their buffer). When that is a parallel dimension and there are
  reductions, the nest is ``outer parallel, reductions, inner parallel`` and accumulates in the
  output buffer (``C[m, n] += A[m, k] * B[k, n]`` with ``n`` innermost vectorizes). Otherwise
  the reductions are innermost and accumulate in registers (``loop.for`` iter_args), which
  also allows a wider accumulator type. Reduction loops always keep their relative order, so
  each output element sees its reduction points in lexicographic order, exactly as the
  interpreter folds a ``tensor.generic``.
* **Load placement.** Every input is loaded in the outermost loop where all the dimensions its
  map uses are bound (``A[m, k]`` is loaded once per ``k``, not once per ``n``).
* **Vector nests.** A nest with reductions is first offered to ``lower_vector``, which
  writes it as register-blocked SIMD tiles (same per-element order, so the same results);
  the loop orders above are the scalar nest it falls back to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from avalon.ir.affine import AffineConstantExpr, AffineDimExpr, AffineExpr, AffineMap
from avalon.ir.builder import Builder
from avalon.ir.core import Operation, Value
from avalon.ir.dialects import tensor
from avalon.ir.types import FloatType, MemRefType, Type, f64, i64, index
from avalon.passes import lower_common as lc
from avalon.passes import lower_vector

StructuredBody = Callable[[Builder, list[Value], list[Value | None]], list[Value]]


@dataclass
class Input:
    """An operand read at ``map(d)`` of ``buffer``, or a ``scalar`` used at every point."""

    map: AffineMap
    buffer: Value | None = None
    scalar: Value | None = None


@dataclass
class Output:
    """A buffer written at ``map(d)`` for every point of the parallel dimensions.

    ``init`` is the scalar every element starts as (None: the buffer already holds the start
    values); ``reads_init`` says whether the body reads the current value; ``acc_type`` is a
    wider type to accumulate reductions in (forces register accumulation).
    """

    buffer: Value
    map: AffineMap
    init: Value | None = None
    reads_init: bool = True
    acc_type: Type | None = None

    @property
    def element_type(self) -> Type:
        return self.buffer.type.element_type  # type: ignore[attr-defined]


@dataclass
class Skip:
    """A hint that reduction dimension ``red`` contributes nothing outside ``bounds(b, i)``
    (``(lo, hi)`` index values) at the point ``i`` of parallel dimension ``par``, e.g. the
    kernel taps of a convolution that read known-zero padding. A nest may skip those
    points or compute them: the result is the same."""

    red: int
    par: int
    bounds: Callable[[Builder, Value], tuple[Value, Value]]
    #: the share of the points of ``red`` that are kept, averaged over ``par``
    fraction: float = 1.0


@dataclass
class Structured:
    """A loop nest: ``body(b, input values, current output values) -> new output values``."""

    extents: tuple[int, ...]
    iterators: list[str]
    inputs: list[Input]
    outputs: list[Output]
    body: StructuredBody
    notes: list[str] = field(default_factory=list)
    #: The body is a contraction whose summation order is unspecified (named matmul, conv):
    #: vectorized nests may fuse ``a * b + c`` into one fused multiply-add.
    contract: bool = False
    skips: list[Skip] = field(default_factory=list)


def _dims(m: AffineMap) -> set[int]:
    out: set[int] = set()

    def walk(e: AffineExpr) -> None:
        if isinstance(e, AffineDimExpr):
            out.add(e.position)
        for side in ("lhs", "rhs"):
            sub = getattr(e, side, None)
            if sub is not None:
                walk(sub)

    for e in m.results:
        walk(e)
    return out


def _unit_stride_dim(buf: Value, m: AffineMap) -> int | None:
    """The loop dimension along which ``buf`` is read contiguously through ``m``, if any."""
    t: MemRefType = buf.type  # type: ignore[assignment]
    strides, _ = t.strides_and_offset()
    for j in reversed(range(len(m.results))):
        if t.shape[j] <= 1:
            continue
        e = m.results[j]
        if strides[j] == 1 and isinstance(e, AffineDimExpr):
            return e.position
        return None
    return None


def choose_innermost(s: Structured) -> int | None:
    """The dimension to put innermost: most operands contiguous along it; ties prefer a
    reduction (register accumulation), then the later dimension."""
    score: dict[int, int] = {}
    operands = [(i.buffer, i.map) for i in s.inputs if i.buffer is not None]
    operands += [(o.buffer, o.map) for o in s.outputs]
    for buf, m in operands:
        d = _unit_stride_dim(buf, m)
        if d is not None and s.extents[d] > 1:
            score[d] = score.get(d, 0) + 1
    if not score:
        return None
    return max(score, key=lambda d: (score[d], s.iterators[d] == "reduction", d))


def _in_bounds(m: AffineMap, shape: Sequence[int], extents: Sequence[int]) -> bool:
    """Whether ``m`` provably stays inside ``shape`` over the (non-empty) iteration space."""
    if any(e == 0 for e in extents):
        return True
    for e, n in zip(m.results, shape):
        r = lc.affine_range(e, extents)
        if r is None or r[0] < 0 or r[1] >= n:
            return False
    return True


def _indices(b: Builder, m: AffineMap, ivs: dict[int, Value], shape: Sequence[int],
             clamp: bool) -> list[Value]:
    dims = [ivs.get(d) for d in range(m.num_dims)]
    out = []
    for e, n in zip(m.results, shape):
        v = lc.affine_value(b, e, dims)  # type: ignore[arg-type]
        if clamp and not isinstance(e, AffineConstantExpr):
            v = lc.clamp(b, v, 0, max(n - 1, 0))
        out.append(v)
    return out


def emit_structured(b: Builder, s: Structured) -> None:
    """Build the loop nest of ``s`` at ``b`` (see the module docstring for its shape)."""
    par = [d for d, it in enumerate(s.iterators) if it == "parallel"]
    red = [d for d, it in enumerate(s.iterators) if it == "reduction"]
    if red:
        p = lower_vector.plan(s)
        if p is not None and lower_vector.emit_vectorized(b, s, p):
            return
    inner = choose_innermost(s)
    widened = any(o.acc_type not in (None, o.element_type) for o in s.outputs)
    if red and inner is not None and inner in par and not widened:
        mode = "memory"
        outer = [d for d in par if d != inner]
    elif red:
        mode, outer = "register", par
    else:
        mode = "parallel"
        outer = [d for d in par if d != inner] + ([inner] if inner is not None else [])

    values: list[Value | None] = [i.scalar for i in s.inputs]
    used = [_dims(i.map) for i in s.inputs]
    clamp = [i.buffer is not None and not _in_bounds(i.map, i.buffer.type.shape, s.extents)
             for i in s.inputs]
    pending = [k for k, i in enumerate(s.inputs) if i.buffer is not None]
    ivs: dict[int, Value] = {}

    def load_ready(bb: Builder) -> None:
        for k in list(pending):
            if used[k] <= ivs.keys():
                inp = s.inputs[k]
                assert inp.buffer is not None
                same = next((j for j in range(k) if s.inputs[j].buffer is inp.buffer
                             and s.inputs[j].map == inp.map), None)
                if same is not None:  # the same element read twice (``g * g``): load once
                    values[k] = values[same]
                else:
                    idx = _indices(bb, inp.map, ivs, inp.buffer.type.shape, clamp[k])
                    values[k] = lc.load(bb, inp.buffer, idx)
                pending.remove(k)

    def out_index(bb: Builder, o: Output) -> list[Value]:
        return _indices(bb, o.map, ivs, o.buffer.type.shape, False)

    def run_body(bb: Builder, accs: list[Value | None]) -> list[Value]:
        load_ready(bb)
        return s.body(bb, list(values), accs)  # type: ignore[arg-type]

    if mode == "memory":
        for o in s.outputs:
            if o.init is not None:
                lc.fill(b, o.init, o.buffer)

    load_ready(b)

    def bind(dims: Sequence[int], new: Sequence[Value]) -> None:
        for d, v in zip(dims, new):
            ivs[d] = v

    def innermost_store(bb: Builder) -> None:
        accs: list[Value | None] = []
        for o in s.outputs:
            if o.reads_init:
                v = lc.load(bb, o.buffer, out_index(bb, o)) if o.init is None \
                    or mode == "memory" else o.init
                if o.acc_type not in (None, v.type):
                    v = lc.extend_float(bb, v, o.acc_type)  # type: ignore[arg-type]
                accs.append(v)
            else:
                accs.append(None)
        new = run_body(bb, accs)
        for o, v in zip(s.outputs, new):
            if v.type != o.element_type:
                v = lc.truncate_float(bb, v, o.element_type)  # type: ignore[arg-type]
            lc.store(bb, v, o.buffer, out_index(bb, o))

    if mode == "parallel":
        def par_body(bb: Builder, new: list[Value]) -> None:
            bind(outer, new)
            innermost_store(bb)

        lc.parallel_extents(b, [s.extents[d] for d in outer], par_body)
        return

    if mode == "memory":
        def inner_body(bb: Builder, new: list[Value]) -> None:
            bind([inner], new)  # type: ignore[list-item]
            innermost_store(bb)

        def reductions(bb: Builder, k: int) -> None:
            load_ready(bb)
            if k == len(red):
                lc.parallel_extents(bb, [s.extents[inner]], inner_body)  # type: ignore[index]
                return

            def step(ib: Builder, i: Value, carried: list[Value]) -> list[Value]:
                bind([red[k]], [i])
                reductions(ib, k + 1)
                return []

            lc.for_loop(bb, 0, s.extents[red[k]], [], step)

        def outer_body(bb: Builder, new: list[Value]) -> None:
            bind(outer, new)
            reductions(bb, 0)

        lc.parallel_extents(b, [s.extents[d] for d in outer], outer_body)
        return

    # register accumulation: reductions innermost, carried as loop.for iter_args
    def start(bb: Builder, o: Output) -> Value:
        # Without reduction points the start value is the result, so it is always read.
        v = o.init if o.init is not None else lc.load(bb, o.buffer, out_index(bb, o))
        acc_t = o.acc_type or o.element_type
        if acc_t != v.type:
            v = lc.extend_float(bb, v, acc_t)  # type: ignore[arg-type]
        return v

    def red_level(bb: Builder, k: int, carried: list[Value]) -> list[Value]:
        load_ready(bb)
        if k == len(red):
            return run_body(bb, list(carried))

        def step(ib: Builder, i: Value, vals: list[Value]) -> list[Value]:
            bind([red[k]], [i])
            return red_level(ib, k + 1, vals)

        return lc.for_loop(bb, 0, s.extents[red[k]], carried, step)

    def reg_body(bb: Builder, new: list[Value]) -> None:
        bind(outer, new)
        load_ready(bb)
        accs = [start(bb, o) for o in s.outputs]
        final = red_level(bb, 0, accs)
        for o, v in zip(s.outputs, final):
            if v.type != o.element_type:
                v = lc.truncate_float(bb, v, o.element_type)  # type: ignore[arg-type]
            lc.store(bb, v, o.buffer, out_index(bb, o))

    lc.parallel_extents(b, [s.extents[d] for d in outer], reg_body)


# ------------------------------------------------------------------------ named ops


class LoweringContext:
    """What a lowering needs from bufferization: the buffer of a tensor value and, for splat
    constants, the scalar to use instead of a buffer."""

    def buffer(self, b: Builder, v: Value) -> Value:  # pragma: no cover - interface
        raise NotImplementedError

    def splat(self, b: Builder, v: Value) -> Value | None:  # pragma: no cover - interface
        raise NotImplementedError


def _source(ctx: LoweringContext, b: Builder, v: Value, m: AffineMap) -> Input:
    s = ctx.splat(b, v)
    if s is not None:
        return Input(m, scalar=s)
    return Input(m, buffer=ctx.buffer(b, v))


def scalar_body(op: Operation, b: Builder, args: Sequence[Value]) -> Value:
    """The scalar computation of elementwise tensor op ``op`` on one element of each operand
    (the same arith/math ops ``generalize`` puts into a ``tensor.generic`` body)."""
    if isinstance(op, tensor.CastOp):
        return tensor._scalar_cast(b, args[0], op.result.type.element_type)
    if isinstance(op, tensor.StopGradientOp):
        return args[0]
    return op._scalar_body(b, list(args))  # type: ignore[attr-defined]


ELEMENTWISE: tuple[type[Operation], ...] = (
    tensor.NegOp, tensor.AbsOp, tensor.ExpOp, tensor.LogOp, tensor.TanhOp, tensor.SqrtOp,
    tensor.RsqrtOp, tensor.SinOp, tensor.CosOp, tensor.ErfOp, tensor.Log1pOp, tensor.Expm1Op,
    tensor.FloorOp, tensor.CeilOp, tensor.SignOp, tensor.NotOp, tensor.AddOp, tensor.SubOp,
    tensor.MulOp, tensor.DivOp, tensor.RemOp, tensor.PowOp, tensor.MaxOp, tensor.MinOp,
    tensor.AndOp, tensor.OrOp, tensor.XorOp, tensor.CmpOp, tensor.SelectOp, tensor.CastOp,
)
ELEMENTWISE_NAMES = frozenset(cls.name for cls in ELEMENTWISE)


def lower_elementwise(ctx: LoweringContext, b: Builder, op: Operation,
                      dsts: list[Value]) -> None:
    rt = op.results[0].type
    ident = AffineMap.identity(rt.rank)
    inputs = [_source(ctx, b, v, ident) for v in op.operands]
    s = Structured(tuple(rt.shape), ["parallel"] * rt.rank, inputs,
                   [Output(dsts[0], ident, reads_init=False)],
                   lambda bb, ins, accs: [scalar_body(op, bb, ins)])
    emit_structured(b, s)


def lower_broadcast(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    a, rt = op.operands[0].type, op.results[0].type
    exprs: list[AffineExpr] = []
    for i, d in enumerate(op.dims):  # type: ignore[attr-defined]
        exprs.append(AffineConstantExpr(0) if a.shape[i] != rt.shape[d] else AffineDimExpr(d))
    m = AffineMap(rt.rank, 0, tuple(exprs))
    s = Structured(tuple(rt.shape), ["parallel"] * rt.rank, [_source(ctx, b, op.operands[0], m)],
                   [Output(dsts[0], AffineMap.identity(rt.rank), reads_init=False)],
                   lambda bb, ins, accs: [ins[0]])
    emit_structured(b, s)


def lower_copy_through_map(ctx: LoweringContext, b: Builder, source: Value, m: AffineMap,
                           dst: Value) -> None:
    """``dst[d] = source[m(d)]`` for every index ``d`` of ``dst``."""
    rt: MemRefType = dst.type  # type: ignore[assignment]
    s = Structured(tuple(rt.shape), ["parallel"] * rt.rank, [_source(ctx, b, source, m)],
                   [Output(dst, AffineMap.identity(rt.rank), reads_init=False)],
                   lambda bb, ins, accs: [ins[0]])
    emit_structured(b, s)


def lower_generic(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    """``tensor.generic``: the nest of its iteration space, its body cloned per point with
    block arguments replaced by the loaded (or carried) elements."""
    g: tensor.GenericOp = op  # type: ignore[assignment]
    n_in = len(g.inputs)
    maps = g.maps
    block = g.body_region.blocks[0]
    inputs = [_source(ctx, b, v, m) for v, m in zip(g.inputs, maps[:n_in])]
    outputs = []
    for k, (v, m, dst) in enumerate(zip(g.outputs, maps[n_in:], dsts)):
        arg = block.args[n_in + k]
        init = ctx.splat(b, v)
        if init is None and _initial_values_matter(g, v, arg):
            src = ctx.buffer(b, v)
            lc.copy(b, src, dst)
        outputs.append(Output(dst, m, init=init, reads_init=arg.has_uses))
    body_ops = [o for o in block.ops if o is not block.last_op]
    yield_op = block.last_op

    def body(bb: Builder, ins: list[Value], accs: list[Value | None]) -> list[Value]:
        mapping: dict = {}
        for a, v in zip(block.args, [*ins, *accs]):
            if v is not None:
                mapping[a] = v
        for o in body_ops:
            bb.insert(o.clone(mapping))
        return [mapping.get(v, v) for v in yield_op.operands]  # type: ignore[union-attr]

    emit_structured(b, Structured(g.loop_extents(), g.iterators, inputs, outputs, body))


def _initial_values_matter(g: Operation, v: Value, arg: Value) -> bool:
    """Whether output ``v``'s start values are observable: the body reads them, or a
    reduction may leave some untouched (zero-sized reduction). ``tensor.empty`` has none."""
    if isinstance(getattr(v, "op", None), tensor.EmptyOp):
        return False
    return arg.has_uses or "reduction" in g.iterators  # type: ignore[attr-defined]


_REDUCE_OPS = {"sum": "add", "prod": "mul", "max": "max", "min": "min"}


def _combine(b: Builder, kind: str, acc: Value, x: Value) -> Value:
    ek = lc.element_kind(x.type)
    if kind == "sum":
        return lc.add(b, acc, x)
    if kind == "prod":
        return lc.mul(b, acc, x)
    names = {("max", "float"): "arith.maximumf", ("max", "int"): "arith.maxsi",
             ("max", "bool"): "arith.ori", ("min", "float"): "arith.minimumf",
             ("min", "int"): "arith.minsi", ("min", "bool"): "arith.andi"}
    return lc.binary(b, names[(kind, ek)], acc, x)


def lower_reduce(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    """``tensor.reduce``: float sums and products accumulate in f64 and round once (as the
    interpreter does); max/min propagate NaN; empty reductions give the identity."""
    a = op.operands[0].type
    kind = op.kind.value  # type: ignore[attr-defined]
    red = set(op.dims)  # type: ignore[attr-defined]
    if not red:  # reducing over no dimension copies the operand
        lower_copy_through_map(ctx, b, op.operands[0], AffineMap.identity(a.rank), dsts[0])
        return
    et = a.element_type
    kept = [d for d in range(a.rank) if d not in red]
    acc_t: Type = f64 if kind in ("sum", "prod") and isinstance(et, FloatType) else et
    init = lc.const(b, tensor.reduce_identity(kind, et), et)

    def body(bb: Builder, ins: list[Value], accs: list[Value | None]) -> list[Value]:
        x = ins[0]
        if acc_t != et:
            x = lc.extend_float(bb, x, acc_t)  # type: ignore[arg-type]
        return [_combine(bb, kind, accs[0], x)]  # type: ignore[arg-type]

    s = Structured(tuple(a.shape), ["reduction" if d in red else "parallel"
                                    for d in range(a.rank)],
                   [_source(ctx, b, op.operands[0], AffineMap.identity(a.rank))],
                   [Output(dsts[0], AffineMap.from_dims(a.rank, kept), init=init,
                           acc_type=acc_t)], body)
    emit_structured(b, s)


def lower_matmul(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    """``tensor.matmul``: a contraction over ``(batch..., m, n, k)`` into the zero-initialised
    output: the register-blocked vector nest, or (16-bit floats, which accumulate in an f32
    temporary) loops ``batch..., m, k, n`` with ``n`` innermost."""
    rt = op.results[0].type
    et = rt.element_type
    nb = rt.rank - 2
    n = nb + 3
    batch = list(range(nb))
    m, nn, k = nb, nb + 1, nb + 2
    acc_t = lc.accumulator_type(et)
    dst = dsts[0]
    target = dst if acc_t == et else lc.alloc(b, lc.memref_of(rt.shape, acc_t))
    zero = lc.const(b, 0, acc_t)

    def body(bb: Builder, ins: list[Value], accs: list[Value | None]) -> list[Value]:
        x, y = ins
        if acc_t != et:
            x = lc.extend_float(bb, x, acc_t)  # type: ignore[arg-type]
            y = lc.extend_float(bb, y, acc_t)  # type: ignore[arg-type]
        return [lc.add(bb, accs[0], lc.mul(bb, x, y))]  # type: ignore[arg-type]

    lhs = _source(ctx, b, op.operands[0], AffineMap.from_dims(n, [*batch, m, k]))
    rhs = _source(ctx, b, op.operands[1], AffineMap.from_dims(n, [*batch, k, nn]))
    s = Structured((*rt.shape, op.operands[0].type.shape[-1]),
                   ["parallel"] * (nb + 2) + ["reduction"], [lhs, rhs],
                   [Output(target, AffineMap.from_dims(n, [*batch, m, nn]), init=zero)], body)
    emit_structured(b, s)
    if target is not dst:
        narrow_into(b, target, dst)


def narrow_into(b: Builder, source: Value, dst: Value) -> None:
    """``dst = truncf(source)`` elementwise (wide accumulators back to the element type)."""
    rt: MemRefType = dst.type  # type: ignore[assignment]
    ident = AffineMap.identity(rt.rank)
    s = Structured(tuple(rt.shape), ["parallel"] * rt.rank, [Input(ident, buffer=source)],
                   [Output(dst, ident, reads_init=False)],
                   lambda bb, ins, accs: [lc.truncate_float(bb, ins[0], rt.element_type)])
    emit_structured(b, s)


def lower_argmax(ctx: LoweringContext, b: Builder, op: Operation, dsts: list[Value]) -> None:
    """``tensor.argmax``: a ``loop.for`` over ``dim`` carrying (best value, best index); the
    first maximum wins and a NaN beats every number (the first NaN wins)."""
    x = ctx.buffer(b, op.operands[0])
    t = op.operands[0].type
    d = op.dim.value  # type: ignore[attr-defined]
    kept = [k for k in range(t.rank) if k != d]
    is_float = isinstance(t.element_type, FloatType)

    def body(bb: Builder, ivs: list[Value]) -> None:
        def at(j: Value) -> list[Value]:
            full = list(ivs)
            full.insert(d, j)
            return full

        first = lc.load(bb, x, at(lc.idx(bb, 0)))

        def step(ib: Builder, j: Value, carried: list[Value]) -> list[Value]:
            best, best_i = carried
            v = lc.load(ib, x, at(j))
            take = lc.greater(ib, v, best)
            if is_float:
                nan_v = lc.cmpf(ib, "uno", v, v)
                num_best = lc.cmpf(ib, "ord", best, best)
                take = lc.scalar(ib, "arith.ori",
                                 [take, lc.scalar(ib, "arith.andi", [nan_v, num_best],
                                                  take.type)], take.type)
            return [lc.select(ib, take, v, best), lc.select(ib, take, j, best_i)]

        _, best_i = lc.for_loop(bb, 1, t.shape[d], [first, lc.idx(bb, 0)], step)
        lc.store(bb, lc.scalar(bb, "arith.index_cast", [best_i], i64), dsts[0], ivs)

    lc.parallel_extents(b, [t.shape[k] for k in kept], body)


def index_to(b: Builder, i: Value, et: Type) -> Value:
    """An index value converted to element type ``et`` as ``tensor.cast`` from i64 would."""
    v = lc.scalar(b, "arith.index_cast", [i], i64) if i.type == index else i
    return tensor._scalar_cast(b, v, et)
