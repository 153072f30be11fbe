"""Register-blocked SIMD loop nests for structured ops that reduce (contractions, sums).

LLVM vectorizes a plain loop nest well when the innermost loop streams over contiguous
memory, but it does not block for registers: a matmul written as loops either reloads and
stores its output every ``k`` step or, with ``k`` innermost, runs a serial chain of
dependent additions. This module writes the nest the way a BLAS micro-kernel is written, with
explicit ``vector`` ops, for every :class:`~avalon.passes.lower_structured.Structured` nest
that has reduction dimensions:

* one parallel dimension ``j`` becomes the **vector dimension**: outputs hold ``vector<VLxT>``
  accumulators along it (``VL`` lanes fill :data:`VECTOR_BYTES`; the last chunk of a row may
  be a shorter vector, so no scalar remainder loop is needed);
* a second parallel dimension ``r`` is the **row dimension**: ``MR`` consecutive rows times
  ``NR`` vectors form a tile of at most :data:`MAX_ACCUMULATORS` accumulators, carried through
  the reduction loops as ``loop.for`` iter_args (registers) and stored once per tile;
* an input that varies along ``j`` is loaded with ``vector.load`` where it is contiguous along
  ``j``; if it is not but is reused across other dimensions (the transposed weight of
  ``x @ W.T``), it is first **packed**, copied once into a buffer in which ``j`` is
  innermost, and otherwise **gathered** lane by lane (the lanes are still independent
  accumulation chains, which a scalar reduction is not); inputs that do not vary along ``j``
  are loaded as scalars and broadcast, once per row;
* tiles run in the original order of the dimensions they block (``loop.parallel``), and
  when the vector operands of a tile would not stay in cache the outermost reduction is
  **blocked**: all tiles run over one chunk of it before the next, partial sums waiting in
  the output buffer (exact: the same additions in the same order);
* ``Skip`` hints of the nest (kernel taps reading known zeros) narrow reduction loops along
  dimensions outside the tile.

The scalar body is built once in a scratch block and replayed lane-wise with vector types,
so every body the structured emitter accepts works unchanged when its ops are
elementwise-safe ``arith``/``math`` ops. Each output element still sees its reduction points
in lexicographic order with the same operations as the scalar nest, so results are
bit-identical to the interpreter's fold of a ``tensor.generic``; only nests marked
``contract`` (named contractions, whose summation order is unspecified) fuse ``a * b + c``
into ``vector.fma``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from avalon.ir.affine import (
    AffineBinaryExpr,
    AffineConstantExpr,
    AffineDimExpr,
    AffineExpr,
    AffineMap,
)
from avalon.ir.attributes import DenseArrayAttr
from avalon.ir.builder import Builder
from avalon.ir.core import Block, Operation, Value
from avalon.ir.types import FloatType, IntegerType, MemRefType, Type, VectorType, i64
from avalon.passes import lower_common as lc

if TYPE_CHECKING:
    from avalon.passes.lower_structured import Structured

#: Bytes of one SIMD register the nests are written for (AVX/AVX2: 256 bits). Wider
#: machines run them as they are; narrower ones split each vector op.
VECTOR_BYTES = 32
#: Vector registers of the target (AVX2: 16 ``ymm``); a tile's accumulators, the vectors it
#: loads per reduction point and one broadcast must fit, or LLVM spills accumulators.
REGISTERS = 16
#: Accumulator vectors per tile at most.
MAX_ACCUMULATORS = 12
#: Widest tile along the vector dimension, in vectors.
MAX_VECTORS = 4
#: Bytes of the vector operands one reduction block streams (about half a Zen 3 L2).
BLOCK_BYTES = 192 * 1024
#: Relative cost factor of an input gathered element by element into vectors.
GATHER_PENALTY = 0.5
#: An input is packed only if each of its elements is used at least this many times.
MIN_PACK_REUSE = 4


# ------------------------------------------------------------------------ affine analysis


def coefficient(e: AffineExpr, d: int) -> int | None:
    """The coefficient of dimension ``d`` in ``e`` if ``e`` is linear in it (0 when ``e``
    does not use it), None when ``d`` occurs non-linearly (under a division or modulo)."""
    if isinstance(e, AffineDimExpr):
        return 1 if e.position == d else 0
    if isinstance(e, AffineConstantExpr):
        return 0
    if isinstance(e, AffineBinaryExpr):
        lhs, rhs = coefficient(e.lhs, d), coefficient(e.rhs, d)
        if lhs is None or rhs is None:
            return None
        if lhs == 0 and rhs == 0:
            return 0
        if e.kind == "+":
            return lhs + rhs
        if e.kind == "*":
            if isinstance(e.rhs, AffineConstantExpr):
                return lhs * e.rhs.value
            if isinstance(e.lhs, AffineConstantExpr):
                return rhs * e.lhs.value
        return None
    return None


def _uses(m: AffineMap, d: int) -> bool:
    return any(coefficient(e, d) != 0 for e in m.results)


def contiguous(t: MemRefType, m: AffineMap, d: int) -> bool:
    """Whether consecutive values of loop dimension ``d`` read consecutive elements of the
    innermost dimension of a buffer of type ``t`` through ``m`` (what ``vector.load`` needs)."""
    if not m.results or t.rank == 0:
        return False
    users = [k for k, e in enumerate(m.results) if coefficient(e, d) != 0]
    if users != [len(m.results) - 1] or coefficient(m.results[-1], d) != 1:
        return False
    strides, _ = t.strides_and_offset()
    return strides[-1] == 1


def _packable(m: AffineMap, d: int) -> bool:
    """A plain projection (dimensions and constants) that names ``d`` exactly once."""
    if not all(isinstance(e, AffineDimExpr | AffineConstantExpr) for e in m.results):
        return False
    return sum(isinstance(e, AffineDimExpr) and e.position == d for e in m.results) == 1


def _dims(m: AffineMap) -> set[int]:
    return {d for d in range(m.num_dims) if _uses(m, d)}


def _byte_width(t: Type) -> int | None:
    """Bytes per element of the types the vector nests handle: f32, f64 and 8- to 64-bit
    integers (16-bit floats compute through f32 and accumulate wider: scalar nests)."""
    if isinstance(t, FloatType) and t.name in ("f32", "f64"):
        return t.width // 8
    if isinstance(t, IntegerType) and t.width in (8, 16, 32, 64):
        return t.width // 8
    return None


# ---------------------------------------------------------------------------- body template


_SCALAR_DIALECTS = ("arith", "math")


def _is_scalar(t: Type) -> bool:
    return isinstance(t, FloatType | IntegerType)


class BodyTemplate:
    """The scalar body of a nest, built once in a scratch block, replayable on vectors."""

    def __init__(self, s: Structured) -> None:
        arg_types: list[Type] = []
        for inp in s.inputs:
            if inp.buffer is not None:
                arg_types.append(inp.buffer.type.element_type)  # type: ignore[attr-defined]
        arg_types += [o.element_type for o in s.outputs]
        self.block = Block(arg_types)
        args = iter(self.block.args)
        ins: list[Value] = [next(args) if inp.buffer is not None else inp.scalar  # type: ignore
                            for inp in s.inputs]
        accs: list[Value | None] = list(args)
        self.input_args = [v if inp.buffer is not None else None
                           for v, inp in zip(ins, s.inputs)]
        self.acc_args = accs
        b = Builder.at_end(self.block)
        self.results = list(s.body(b, ins, accs))
        self.ops = list(self.block.ops)
        self.ok = self._check(s)
        self.fused = self._fusable() if s.contract else set()

    def _check(self, s: Structured) -> bool:
        if len(self.results) != len(s.outputs):
            return False
        for op in self.ops:
            if op.dialect_name not in _SCALAR_DIALECTS or op.regions:
                return False
            if not all(_is_scalar(v.type) for v in (*op.operands, *op.results)):
                return False
        return all(v.type == o.element_type for v, o in zip(self.results, s.outputs))

    def _fusable(self) -> set[Operation]:
        """``arith.mulf`` ops whose only use is an ``arith.addf`` of the body: fused into
        ``vector.fma`` at that addition."""
        out = set()
        adds: set[Operation] = set()  # one fused product per addition (a*b + c*d: one fma)
        for op in self.ops:
            if op.name == "arith.mulf" and op.results[0].has_one_use:
                user = op.results[0].users[0]
                if user.name == "arith.addf" and user.parent is self.block \
                        and user not in adds:
                    out.add(op)
                    adds.add(user)
        return out

    def discard(self) -> None:
        self.block.erase()

    def instantiate(self, b: Builder, inputs: Sequence[Value | None], accs: Sequence[Value],
                    width: int, cache: dict) -> list[Value]:
        """Insert the body at ``b`` on ``width``-lane vectors: ``inputs`` (None where the
        nest input is a scalar) and ``accs`` are vectors; returns the yielded vectors."""
        env: dict[Value, Value] = {}
        uniform: set[Value] = set()
        for arg, v in zip(self.input_args, inputs):
            if arg is not None and v is not None:
                env[arg] = v
        for arg, v in zip(self.acc_args, accs):
            env[arg] = v  # type: ignore[index]

        def get(v: Value) -> tuple[Value, bool]:
            if v in env:
                return env[v], v in uniform
            return v, True  # defined outside the body: the same at every lane

        def vec(v: Value) -> Value:
            val, uni = get(v)
            return splat(b, val, width, cache) if uni else val

        for op in self.ops:
            if op in self.fused:
                continue
            fused = [k for k, v in enumerate(op.operands)
                     if getattr(v, "op", None) in self.fused]
            if op.name == "arith.addf" and fused:
                mul = op.operands[fused[0]].op  # type: ignore[attr-defined]
                parts = [*mul.operands, op.operands[1 - fused[0]]]
                if all(get(v)[1] for v in parts):  # uniform: stays a scalar mul and add
                    t = op.results[0].type
                    prod = lc.scalar(b, "arith.mulf", [get(parts[0])[0], get(parts[1])[0]],
                                     t, dict(mul.attributes))
                    env[op.results[0]] = lc.scalar(b, "arith.addf", [prod, get(parts[2])[0]],
                                                   t, dict(op.attributes))
                    uniform.add(op.results[0])
                else:
                    a, c, acc = (vec(v) for v in parts)
                    env[op.results[0]] = lc.scalar(b, "vector.fma", [a, c, acc], a.type)
                continue
            got = [get(v) for v in op.operands]
            if all(uni for _, uni in got):
                new = b.insert(Operation.create(op.name, [v for v, _ in got],
                                                [r.type for r in op.results],
                                                dict(op.attributes)))
                for r, nr in zip(op.results, new.results):
                    env[r] = nr
                    uniform.add(r)
                continue
            operands = [vec(v) for v in op.operands]
            rtypes = [VectorType((width,), r.type) for r in op.results]
            new = b.insert(Operation.create(op.name, operands, rtypes, dict(op.attributes)))
            for r, nr in zip(op.results, new.results):
                env[r] = nr
        return [vec(v) for v in self.results]


def splat(b: Builder, v: Value, width: int, cache: dict) -> Value:
    """``vector.broadcast`` of scalar ``v`` to ``width`` lanes (one per value and width)."""
    key = (v, width)
    if key not in cache:
        cache[key] = lc.scalar(b, "vector.broadcast", [v], VectorType((width,), v.type))
    return cache[key]


# ------------------------------------------------------------------------------- planning


@dataclass
class Plan:
    """How a nest is vectorized: vector and row dimensions, tile shape, packed inputs."""

    j: int
    r: int | None
    lanes: int
    mr: int
    nr: int
    pack: list[int] = field(default_factory=list)
    #: inputs vector-loaded once per tile column (not per row): their vectors stay live
    shared: int = 0

    def rows_for(self, nr: int, n_out: int, rows_total: int) -> int:
        """Rows of a tile ``nr`` vectors wide: as many as the registers hold."""
        return rows_for(nr, n_out, self.shared, rows_total)


def rows_for(nr: int, n_out: int, shared: int, rows_total: int) -> int:
    """Rows of a tile ``nr`` vectors wide: its accumulators, the ``shared`` inputs' vectors
    and two temporaries (a broadcast, an address) fit in the registers."""
    room = min(MAX_ACCUMULATORS, REGISTERS - 2 - shared * nr) // (nr * n_out)
    return min(rows_total, room)


def _lane_chunks(extent: int, lanes: int) -> list[int]:
    return [lanes] * (extent // lanes) + ([extent % lanes] if extent % lanes else [])


def _candidate(s: Structured, j: int, lanes: int) -> tuple[float, list[int]]:
    """Score of vectorizing along ``j`` (higher is better) and the inputs to pack. An input
    that varies along ``j`` is vector-loaded where it is contiguous, packed where it is
    reused enough to pay for the copy, and otherwise gathered lane by lane (which still
    beats the scalar nest: its lanes are independent accumulation chains)."""
    pack = []
    util = 1.0
    for k, inp in enumerate(s.inputs):
        if inp.buffer is None or not _uses(inp.map, j):
            continue
        if contiguous(inp.buffer.type, inp.map, j):  # type: ignore[arg-type]
            continue
        used = _dims(inp.map)
        reuse = math.prod(s.extents[d] for d in range(len(s.extents)) if d not in used)
        if _packable(inp.map, j) and reuse >= MIN_PACK_REUSE:
            pack.append(k)
        else:
            util *= GATHER_PENALTY
    n = s.extents[j]
    util *= n / (lanes * len(_lane_chunks(n, lanes)))
    if not all(contiguous(o.buffer.type, o.map, j) for o in s.outputs):  # type: ignore
        util *= 0.85
    if pack:
        util *= 0.95
    return util, pack


def plan(s: Structured) -> Plan | None:
    """A vector plan for ``s`` or None when the scalar nest is the right one."""
    par = [d for d, it in enumerate(s.iterators) if it == "parallel"]
    red = [d for d, it in enumerate(s.iterators) if it == "reduction"]
    if not red or not par or any(e == 0 for e in s.extents):
        return None
    widths = []
    for o in s.outputs:
        if o.acc_type not in (None, o.element_type):
            return None
        widths.append(_byte_width(o.element_type))
    for inp in s.inputs:
        if inp.buffer is not None:
            t: MemRefType = inp.buffer.type  # type: ignore[assignment]
            widths.append(_byte_width(t.element_type))
            if not _in_bounds(inp.map, t.shape, s.extents):
                return None
    if any(w is None for w in widths):
        return None
    for o in s.outputs:
        if not all(isinstance(e, AffineDimExpr) for e in o.map.results):
            return None
    lanes = max(VECTOR_BYTES // max(widths), 1)  # type: ignore[type-var]
    best: tuple[float, int, int | None, list[int]] | None = None
    for j in par:
        if s.extents[j] < 2:
            continue
        c = _candidate(s, j, lanes)
        r = _row_dimension(s, j, par)
        score = c[0]
        for sk in s.skips:  # points a skip hint cannot remove (its dimension is in a tile)
            if sk.par in (j, r):
                score *= sk.fraction
        if best is None or score > best[0]:
            best = (score, j, r, c[1])
    if best is None:
        return None
    _, j, r, pack = best
    vec_inputs = [inp for inp in s.inputs if inp.buffer is not None and _uses(inp.map, j)]
    n_out = len(s.outputs)
    n_vec = len(_lane_chunks(s.extents[j], lanes))
    shared = sum(r is None or not _uses(i.map, r) for i in vec_inputs)  # loaded once per vector
    best_tile: tuple[tuple[float, int], int, int] | None = None
    for nr in range(1, min(n_vec, MAX_VECTORS) + 1):
        mr = rows_for(nr, n_out, shared, s.extents[r] if r is not None else 1)
        if mr < 1:
            continue
        score = (mr * nr) / (mr + nr)  # multiply-adds per loaded operand
        if best_tile is None or (score, mr * nr) > best_tile[0]:
            best_tile = ((score, mr * nr), mr, nr)
    if best_tile is None:
        return None
    _, mr, nr = best_tile
    return Plan(j, r, lanes, mr, nr, pack, shared)


def _row_dimension(s: Structured, j: int, par: list[int]) -> int | None:
    """The parallel dimension to block rows over: the one the most vector operands do not
    use (each loaded vector serves every row), then one no skip hint needs, the largest."""
    vec_inputs = [inp for inp in s.inputs if inp.buffer is not None and _uses(inp.map, j)]
    rows = [d for d in par if d != j and s.extents[d] > 1]
    if not rows:
        return None
    skipped = {sk.par for sk in s.skips}
    return max(rows, key=lambda d: (sum(not _uses(i.map, d) for i in vec_inputs),
                                    d not in skipped, s.extents[d]))


def _in_bounds(m: AffineMap, shape: Sequence[int], extents: Sequence[int]) -> bool:
    for e, n in zip(m.results, shape):
        rng = lc.affine_range(e, extents)
        if rng is None or rng[0] < 0 or rng[1] >= n:
            return False
    return True


# ------------------------------------------------------------------------------- emission


def _pack(b: Builder, buf: Value, m: AffineMap, j: int) -> tuple[Value, AffineMap]:
    """Copy ``buf`` into a new buffer whose innermost dimension is the one ``m`` indexes
    with ``j``; returns it and the map to read it with."""
    t: MemRefType = buf.type  # type: ignore[assignment]
    p = next(k for k, e in enumerate(m.results) if isinstance(e, AffineDimExpr)
             and e.position == j)
    perm = [k for k in range(t.rank) if k != p] + [p]
    packed = lc.alloc(b, lc.memref_of([t.shape[k] for k in perm], t.element_type))

    def body(bb: Builder, ivs: list[Value]) -> None:
        src = [ivs[0]] * t.rank
        for q, k in enumerate(perm):
            src[k] = ivs[q]
        lc.store(bb, lc.load(bb, buf, src), packed, ivs)

    lc.parallel_extents(b, [t.shape[k] for k in perm], body)
    return packed, AffineMap(m.num_dims, m.num_symbols, tuple(m.results[k] for k in perm))


def _index(b: Builder, m: AffineMap, ivs: dict[int, Value]) -> list[Value]:
    dims = [ivs.get(d) for d in range(m.num_dims)]
    return [lc.affine_value(b, e, dims) for e in m.results]  # type: ignore[arg-type]


def _as_value(b: Builder, v: Value | int) -> Value:
    return v if isinstance(v, Value) else lc.idx(b, v)


def _vload(b: Builder, buf: Value, idx: list[Value], width: int) -> Value:
    et = buf.type.element_type  # type: ignore[attr-defined]
    return lc.scalar(b, "vector.load", [buf, *idx], VectorType((width,), et))


def _gather(b: Builder, buf: Value, m: AffineMap, at: dict[int, Value], j: int,
            width: int) -> Value:
    """A vector of the ``width`` elements read through ``m`` at consecutive values of
    dimension ``j`` (from ``at[j]``), one scalar load each."""
    v: Value | None = None
    for lane in range(width):
        point = dict(at)
        point[j] = lc.iadd(b, at[j], lane)
        x = lc.load(b, buf, _index(b, m, point))
        v = lc.scalar(b, "vector.broadcast", [x], VectorType((width,), x.type)) \
            if v is None else _insert(b, x, v, lane)
    assert v is not None
    return v


def _vstore(b: Builder, v: Value, buf: Value, idx: list[Value]) -> None:
    b.insert(Operation.create("vector.store", [v, buf, *idx], []))


def _extract(b: Builder, v: Value, lane: int) -> Value:
    et = v.type.element_type  # type: ignore[attr-defined]
    return lc.scalar(b, "vector.extract", [v], et,
                     {"static_position": DenseArrayAttr(i64, (lane,))})


def _insert(b: Builder, x: Value, v: Value, lane: int) -> Value:
    return lc.scalar(b, "vector.insert", [x, v], v.type,
                     {"static_position": DenseArrayAttr(i64, (lane,))})


def emit_vectorized(b: Builder, s: Structured, p: Plan) -> bool:
    """Build the register-blocked nest of ``s`` at ``b`` following ``p``; False (and nothing
    built) when the body cannot be replayed on vectors."""
    body = BodyTemplate(s)
    if not body.ok:
        body.discard()
        return False
    inputs = list(s.inputs)
    for k in p.pack:
        inp = inputs[k]
        packed, m = _pack(b, inp.buffer, inp.map, p.j)  # type: ignore[arg-type]
        inputs[k] = type(inp)(m, buffer=packed)
    par = [d for d, it in enumerate(s.iterators) if it == "parallel"]
    red = [d for d, it in enumerate(s.iterators) if it == "reduction"]
    outer = [d for d in par if d not in (p.j, p.r)]
    rows_total = s.extents[p.r] if p.r is not None else 1
    variants = _variants(s, p, rows_total)
    tiles = math.prod(s.extents[d] for d in outer) * sum(n_r * n_c for _, _, n_r, _, _, n_c
                                                          in variants)
    kc = _block(s, p, inputs, red, tiles)
    e0 = s.extents[red[0]]

    def emit_all(bb: Builder, lo: Value | int, hi: Value | int, first: bool | Value) -> None:
        for row0, mr, n_rows, col0, widths, n_cols in variants:
            _emit_tile_nest(bb, s, p, body, inputs, outer, red, row0, mr, n_rows, col0,
                            widths, n_cols, (lo, hi), first)

    if kc is None:
        emit_all(b, 0, e0, True)
    else:
        def chunk(cb: Builder, t: Value, carried: list[Value]) -> list[Value]:
            lo = lc.imul(cb, t, kc)
            hi = lc.binary(cb, "arith.minsi", lc.iadd(cb, lo, kc), lc.idx(cb, e0))
            emit_all(cb, lo, hi, lc.cmpi(cb, "eq", t, lc.idx(cb, 0)))
            return []

        lc.for_loop(b, 0, -(-e0 // kc), [], chunk)
    body.discard()
    return True


def _variants(s: Structured, p: Plan, rows_total: int) -> list[tuple]:
    """The tile shapes covering the iteration space: ``(first row, rows per tile, row
    tiles, first column, vector widths, column tiles)``. Full tiles of ``nr`` vectors, then
    the remaining vectors (the last one maybe shorter) with as many rows as fit."""
    chunks = _lane_chunks(s.extents[p.j], p.lanes)
    full = len(chunks) // p.nr
    if full and chunks[full * p.nr - 1] != p.lanes:
        full -= 1
    cols = []
    if full:
        cols.append((0, [p.lanes] * p.nr, full))
    rest = chunks[full * p.nr:]
    if rest:
        cols.append((full * p.nr * p.lanes, rest, 1))
    out = []
    for col0, widths, n_cols in cols:
        mr = max(p.rows_for(len(widths), len(s.outputs), rows_total), 1)
        mr = -(-rows_total // -(-rows_total // mr))  # balanced: 50 rows as 5 x 10, not 4 x 12 + 2
        out.append((0, mr, rows_total // mr, col0, widths, n_cols))
        if rows_total % mr:
            out.append((rows_total - rows_total % mr, rows_total % mr, 1, col0, widths,
                        n_cols))
    return [v for v in out if v[2]]


def _block(s: Structured, p: Plan, inputs: list, red: list[int], tiles: int) -> int | None:
    """Chunk length of the outermost reduction dimension (None: no blocking). The vector
    operands that every tile streams through are cut into slices of about
    :data:`BLOCK_BYTES`, and all tiles run over one slice (partial sums wait in the output
    buffer, exactly) before the next: the slice stays in cache instead of being read from
    memory once per tile."""
    if tiles < 2:
        return None
    d0 = red[0]
    per_index = 0
    for inp in inputs:
        if inp.buffer is not None and _uses(inp.map, p.j) and _uses(inp.map, d0):
            t: MemRefType = inp.buffer.type
            per_index += math.prod(t.shape) * _byte_width(t.element_type) // s.extents[d0]
    if per_index == 0:
        return None
    kc = max(BLOCK_BYTES // per_index, 1)
    return kc if kc < s.extents[d0] else None


def _emit_tile_nest(b: Builder, s: Structured, p: Plan, body: BodyTemplate, inputs: list,
                    outer: list[int], red: list[int], row0: int, mr: int, n_rows: int,
                    col0: int, widths: list[int], n_cols: int,
                    red0: tuple[Value | int, Value | int], first: bool | Value) -> None:
    """One tile shape's nest: a ``loop.parallel`` over the outer dimensions and tile
    indices, the accumulators' start values, the reduction loops (the outermost over
    ``red0``) and the stores. ``first``: the accumulators start from the outputs' initial
    values; False: from the partial sums in the output buffers; an ``i1`` value: chosen
    at run time (the first of several reduction chunks)."""
    offsets = [sum(widths[:c]) for c in range(len(widths))]
    tile_cols = sum(widths)
    # One loop per outer dimension and per tiled dimension with more than one tile, in the
    # original dimension order (which keeps each input's working set together).
    order: list[tuple[str, int]] = []
    for d in range(len(s.extents)):
        if d in outer:
            order.append(("outer", d))
        elif d == p.r and n_rows > 1:
            order.append(("rows", d))
        elif d == p.j and n_cols > 1:
            order.append(("cols", d))
    sizes = {"outer": None, "rows": n_rows, "cols": n_cols}
    bounds: list[tuple[Value | int, Value | int]] = [
        (0, s.extents[d] if kind == "outer" else sizes[kind]) for kind, d in order]

    def nest(bb: Builder, ivs_list: list[Value]) -> None:
        ivs: dict[int, Value] = {}
        r_base: Value = lc.idx(bb, row0)
        j_base: Value = lc.idx(bb, col0)
        for (kind, d), iv in zip(order, ivs_list):
            if kind == "outer":
                ivs[d] = iv
            elif kind == "rows":
                r_base = lc.iadd(bb, lc.imul(bb, iv, mr), row0)
            else:
                j_base = lc.iadd(bb, lc.imul(bb, iv, tile_cols), col0)
        row_iv = [lc.iadd(bb, r_base, i) for i in range(mr)] if p.r is not None else [None]
        col_iv = [lc.iadd(bb, j_base, off) for off in offsets]
        cache: dict = {}

        def point(i: int, c: int) -> dict[int, Value]:
            out = dict(ivs)
            if p.r is not None:
                out[p.r] = row_iv[i]  # type: ignore[assignment]
            out[p.j] = col_iv[c]
            return out

        # Input values per (row, vector): loaded where all their dimensions are bound.
        values: list[dict[tuple, Value]] = [{} for _ in inputs]
        level = []
        for inp in inputs:
            used = _dims(inp.map) if inp.buffer is not None else set()
            level.append(max([red.index(d) + 1 for d in used if d in red], default=0))

        def key(k: int, i: int, c: int) -> tuple:
            m = inputs[k].map
            return (i if p.r is not None and _uses(m, p.r) else None,
                    c if _uses(m, p.j) else None)

        def load_inputs(lb: Builder, lvl: int, rivs: dict[int, Value]) -> None:
            for k, inp in enumerate(inputs):
                if inp.buffer is None or level[k] != lvl:
                    continue
                values[k].clear()
                vector = _uses(inp.map, p.j)
                for i in range(mr):
                    for c in range(len(widths)):
                        kk = key(k, i, c)
                        if kk in values[k]:
                            continue
                        at = point(i, c) | rivs
                        if not vector:
                            values[k][kk] = lc.load(lb, inp.buffer, _index(lb, inp.map, at))
                        elif contiguous(inp.buffer.type, inp.map, p.j):
                            values[k][kk] = _vload(lb, inp.buffer, _index(lb, inp.map, at),
                                                   widths[c])
                        else:
                            values[k][kk] = _gather(lb, inp.buffer, inp.map, at, p.j,
                                                    widths[c])
                # scalars are broadcast per width where they are used (see splat)

        def input_vec(lb: Builder, k: int, i: int, c: int, bcache: dict) -> Value | None:
            if inputs[k].buffer is None:
                return None
            v = values[k][key(k, i, c)]
            if not isinstance(v.type, VectorType):
                v = splat(lb, v, widths[c], bcache)
            return v

        # reduction ranges: the whole extent, narrowed by the skip hints of outer dimensions
        ranges: dict[int, tuple[Value | int, Value | int]] = {
            d: (0, s.extents[d]) for d in red}
        ranges[red[0]] = red0
        for sk in s.skips:
            if sk.par in ivs and sk.red in ranges:
                lo, hi = sk.bounds(bb, ivs[sk.par])
                old_lo, old_hi = ranges[sk.red]
                if not (isinstance(old_lo, int) and old_lo == 0):
                    lo = lc.binary(bb, "arith.maxsi", lo, _as_value(bb, old_lo))
                hi = lc.binary(bb, "arith.minsi", hi, _as_value(bb, old_hi))
                ranges[sk.red] = (lo, hi)

        # accumulators: (output, row, vector) in that order
        acc_keys = [(o, i, c) for o in range(len(s.outputs)) for i in range(mr)
                    for c in range(len(widths))]

        def out_access(lb: Builder, o: int, i: int, c: int) -> tuple[list[Value], bool]:
            out = s.outputs[o]
            idx = _index(lb, out.map, point(i, c))
            return idx, contiguous(out.buffer.type, out.map, p.j)

        def lane_index(lb: Builder, o: int, i: int, c: int, lane: int) -> list[Value]:
            at = point(i, c)
            at[p.j] = lc.iadd(lb, col_iv[c], lane)
            return _index(lb, s.outputs[o].map, at)

        starts: list[Value] = []
        for o, i, c in acc_keys:
            out = s.outputs[o]
            w = widths[c]
            if first is True and out.init is not None:
                starts.append(splat(bb, out.init, w, cache))
                continue
            idx, contig = out_access(bb, o, i, c)
            if contig:
                v = _vload(bb, out.buffer, idx, w)
            else:
                v = splat(bb, lc.const(bb, 0, out.element_type), w, cache)
                for lane in range(w):
                    v = _insert(bb, lc.load(bb, out.buffer, lane_index(bb, o, i, c, lane)),
                                v, lane)
            if isinstance(first, Value) and out.init is not None:
                # the first reduction chunk starts from the initial value, later ones from
                # the partial sums (the load before the first chunk reads and drops them)
                v = lc.select(bb, splat(bb, first, w, cache), splat(bb, out.init, w, cache), v)
            starts.append(v)

        def level_body(lb: Builder, lvl: int, rivs: dict[int, Value],
                       carried: list[Value]) -> list[Value]:
            load_inputs(lb, lvl, rivs)
            if lvl == len(red):
                bcache: dict = {}
                new: dict[tuple, Value] = {}
                for i in range(mr):
                    for c in range(len(widths)):
                        ins = [input_vec(lb, k, i, c, bcache) for k in range(len(inputs))]
                        accs = [carried[acc_keys.index((o, i, c))]
                                for o in range(len(s.outputs))]
                        res = body.instantiate(lb, ins, accs, widths[c], bcache)
                        for o, v in enumerate(res):
                            new[(o, i, c)] = v
                return [new[kk] for kk in acc_keys]

            def step(ib: Builder, iv: Value, vals: list[Value]) -> list[Value]:
                return level_body(ib, lvl + 1, rivs | {red[lvl]: iv}, vals)

            lo, hi = ranges[red[lvl]]
            return lc.for_loop(lb, lo, hi, carried, step)

        final = level_body(bb, 0, {}, starts)
        for (o, i, c), v in zip(acc_keys, final):
            out = s.outputs[o]
            idx, contig = out_access(bb, o, i, c)
            if contig:
                _vstore(bb, v, out.buffer, idx)
            else:
                for lane in range(widths[c]):
                    lc.store(bb, _extract(bb, v, lane), out.buffer,
                             lane_index(bb, o, i, c, lane))

    lc.parallel(b, bounds, nest)
