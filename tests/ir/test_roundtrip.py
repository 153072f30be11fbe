"""Print -> parse -> print is the identity, in custom and generic form, on random IR.

The generator builds modules of unregistered ops with nested regions, multi-block regions with
successors and block arguments, forward references, multi-result ops, random types,
attributes and locations, plus ops with custom forms defined here: a declarative format
(``trt.bin``, ``trt.yield``) and hand-written hooks (``trt.scope``, isolated from above).
"""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from avalon.ir.affine import AffineMap, const, dim, sym
from avalon.ir.asm import OpAsmParser, OpAsmPrinter
from avalon.ir.attributes import (
    UNIT,
    AffineMapAttr,
    ArrayAttr,
    DenseArrayAttr,
    DenseElementsAttr,
    DictAttr,
    FloatAttr,
    IntegerAttr,
    OpaqueAttr,
    StridedLayoutAttr,
    StringAttr,
    SymbolRefAttr,
    TypeAttr,
)
from avalon.ir.core import Block, Operation, Region, UnregisteredOp, Value
from avalon.ir.dialects.builtin import ModuleOp
from avalon.ir.location import (
    UNKNOWN_LOC,
    CallSiteLoc,
    FileLineColLoc,
    FusedLoc,
    NameLoc,
)
from avalon.ir.opdef import AnyType, Op, Operand, OptAttr, Result, SingleRegion, VarOperand
from avalon.ir.parser import parse_attribute, parse_module, parse_type
from avalon.ir.printer import print_op
from avalon.ir.traits import (
    IsolatedFromAbove,
    NoTerminator,
    SameOperandsAndResultType,
    Terminator,
)
from avalon.ir.types import (
    DYNAMIC,
    FloatType,
    FunctionType,
    IndexType,
    IntegerType,
    MemRefType,
    OpaqueType,
    TensorType,
    TupleType,
    Type,
    VectorType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    index,
    none,
)


# ------------------------------------------------------------------------------ test ops
class BinOp(Op):
    name = "trt.bin"
    traits = (SameOperandsAndResultType,)
    lhs = Operand(AnyType)
    rhs = Operand(AnyType)
    result = Result(AnyType)
    tag = OptAttr()
    assembly_format = "$lhs `,` $rhs (`tag` $tag^)? attr-dict `:` type($result)"


class YieldOp(Op):
    name = "trt.yield"
    traits = (Terminator,)
    values = VarOperand(AnyType)
    assembly_format = "attr-dict ($values^ `:` type($values))?"


class ScopeOp(Op):
    """``trt.scope @name(%a: f32, ...) attributes {...} { ... }`` with hand-written hooks."""

    name = "trt.scope"
    traits = (IsolatedFromAbove, NoTerminator)
    default_dialect = "trt"
    body_region = SingleRegion()

    def print_custom(self, p: OpAsmPrinter) -> None:
        sym_name = self.attributes.get("sym_name")
        if isinstance(sym_name, StringAttr):
            p.print_symbol_name(sym_name.value)
        p.write("(")
        for i, a in enumerate(self.regions[0].blocks[0].args):
            if i:
                p.write(", ")
            p.print_block_argument(a)
        p.write(")")
        p.print_attr_dict_with_keyword(self.attributes, elided=("sym_name",))
        p.write(" ")
        p.print_region(self.regions[0], print_entry_block_args=False)

    @classmethod
    def parse_custom(cls, p: OpAsmParser) -> Operation:
        attrs: dict[str, Any] = {}
        name = p.parse_optional_symbol_name()
        if name is not None:
            attrs["sym_name"] = StringAttr(name)
        p.parse_punct("(")
        args = []
        if not p.parse_optional_punct(")"):
            args.append(p.parse_argument())
            while p.parse_optional_punct(","):
                args.append(p.parse_argument())
            p.parse_punct(")")
        attrs.update(p.parse_optional_attr_dict_with_keyword())
        return cls([], [], attrs, [p.parse_region(args)], [], p.location)


# ------------------------------------------------------------------------------ strategies
scalar_types = st.sampled_from([i1, IntegerType(8), IntegerType(16), IntegerType(32),
                                IntegerType(64), IntegerType(3), index, f16, bf16, f32, f64])
dims = st.lists(st.integers(0, 5), max_size=3)


def types(depth: int = 2) -> st.SearchStrategy[Type]:
    if depth == 0:
        return scalar_types
    inner = types(depth - 1)
    return st.one_of(
        scalar_types,
        st.builds(lambda s, e: TensorType(tuple(s), e), st.lists(
            st.integers(0, 5) | st.just(DYNAMIC), max_size=3), scalar_types),
        st.builds(lambda s, e: VectorType(tuple(s), e), st.lists(st.integers(1, 8), min_size=1,
                                                                 max_size=2), scalar_types),
        st.builds(lambda s, e, lay, sp: MemRefType(tuple(s), e, lay, sp), dims, scalar_types,
                  st.none() | st.builds(lambda n: StridedLayoutAttr(tuple(range(n, 0, -1)), n),
                                        st.integers(0, 3)),
                  st.none() | st.builds(IntegerAttr, st.integers(1, 5))),
        st.builds(lambda ts: TupleType(tuple(ts)), st.lists(inner, max_size=2)),
        st.builds(lambda a, b: FunctionType(tuple(a), tuple(b)), st.lists(inner, max_size=2),
                  st.lists(inner, max_size=2)),
        st.sampled_from([none, OpaqueType("llvm", "ptr"),
                         OpaqueType("foo", 'bar<"q>", [1, (2)], {x}>')]),
    )


def int_attr() -> st.SearchStrategy[IntegerAttr]:
    return st.builds(lambda t, v: IntegerAttr(v, t),
                     st.sampled_from([i1, IntegerType(8), IntegerType(32), IntegerType(64),
                                      index]),
                     st.integers(-(2 ** 63), 2 ** 63 - 1))


def float_values() -> st.SearchStrategy[float]:
    return st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
        [0.0, -0.0, 1.5, math.nan, math.inf, 1e-40, 65504.0])


float_types = st.sampled_from([f16, bf16, f32, f64])


dense_element_types = st.sampled_from([i1, IntegerType(8), IntegerType(16), IntegerType(32),
                                       IntegerType(64), index, f16, bf16, f32, f64])


@st.composite
def dense(draw) -> DenseElementsAttr:
    et = draw(dense_element_types)
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    if draw(st.booleans()):
        shape = (draw(st.integers(257, 300)),)  # printed as a hex blob
    n = int(np.prod(shape))
    if isinstance(et, FloatType):
        vals = draw(st.lists(float_values(), min_size=n, max_size=n)) if n < 50 else list(
            np.linspace(-3, 3, n))
    elif et == i1:
        vals = draw(st.lists(st.booleans(), min_size=n, max_size=n)) if n < 50 else [True] * n
    else:
        width = 64 if isinstance(et, IndexType) else et.width
        lo, hi = -(2 ** (width - 1)), 2 ** (width - 1) - 1
        vals = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)) if n < 50 else (
            [i % 3 for i in range(n)])
    ctor = TensorType if draw(st.booleans()) or 0 in shape or not shape else VectorType
    with np.errstate(over="ignore"):  # huge doubles become inf in f16/f32 on purpose
        return DenseElementsAttr(np.array(vals, dtype=object).reshape(shape), ctor(shape, et))


@st.composite
def affine_maps(draw) -> AffineMapAttr:
    nd, ns = draw(st.integers(0, 3)), draw(st.integers(0, 2))
    atoms = [dim(i) for i in range(nd)] + [sym(i) for i in range(ns)] + [const(3)]

    def expr(depth: int):
        a = draw(st.sampled_from(atoms))
        if depth == 0 or draw(st.booleans()):
            return a
        b = expr(depth - 1)
        op = draw(st.sampled_from(["+", "-", "*c", "floordiv", "ceildiv", "mod", "neg"]))
        c = draw(st.integers(1, 7))
        return {"+": lambda: a + b, "-": lambda: a - b, "*c": lambda: b * c,
                "floordiv": lambda: b.floordiv(c), "ceildiv": lambda: b.ceildiv(c),
                "mod": lambda: b % c, "neg": lambda: -b}[op]()

    results = tuple(expr(2) for _ in range(draw(st.integers(0, 3))))
    return AffineMapAttr(AffineMap(nd, ns, results))


names_text = st.text(max_size=8)


def attributes(depth: int = 2) -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        int_attr(),
        st.builds(FloatAttr, float_values(), float_types),
        st.builds(StringAttr, names_text),
        st.just(UNIT),
        st.builds(TypeAttr, types(1)),
        st.builds(SymbolRefAttr, names_text, st.lists(names_text, max_size=2).map(tuple)),
        st.builds(lambda t, vs: DenseArrayAttr(t, tuple(vs)), st.sampled_from([i1, f32]),
                  st.lists(st.integers(0, 1), max_size=3)),
        st.builds(lambda vs: DenseArrayAttr(IntegerType(64), tuple(vs)),
                  st.lists(st.integers(-(2 ** 63), 2 ** 63 - 1), max_size=3)),
        st.builds(lambda vs: DenseArrayAttr(f64, tuple(vs)), st.lists(float_values(),
                                                                      max_size=3)),
        affine_maps(),
        st.builds(lambda s, o: StridedLayoutAttr(tuple(s), o),
                  st.lists(st.integers(-4, 9) | st.just(DYNAMIC), max_size=3),
                  st.integers(0, 9) | st.just(DYNAMIC)),
        st.sampled_from([OpaqueAttr("arith", "fastmath<nnan, ninf>"), OpaqueAttr("x", "y"),
                         OpaqueAttr("gpu", 'thing<"->", [1, {2: (3)}]>')]),
        dense(),
    )
    if depth == 0:
        return leaves
    inner = attributes(depth - 1)
    return st.one_of(
        leaves,
        st.builds(lambda es: ArrayAttr(tuple(es)), st.lists(inner, max_size=3)),
        st.builds(lambda d: DictAttr(tuple(d.items())), st.dictionaries(names_text, inner,
                                                                       max_size=3)),
    )


def locations(depth: int = 2) -> st.SearchStrategy[Any]:
    leaf = st.one_of(st.just(UNKNOWN_LOC),
                     st.builds(FileLineColLoc, names_text, st.integers(0, 999),
                               st.integers(0, 99)),
                     st.builds(NameLoc, names_text))
    if depth == 0:
        return leaf
    inner = locations(depth - 1)
    return st.one_of(leaf, st.builds(NameLoc, names_text, inner),
                     st.builds(CallSiteLoc, inner, inner),
                     st.builds(lambda ls: FusedLoc(tuple(ls)), st.lists(inner, max_size=3)))


TYPES1 = types(1)
ATTRS = attributes(2)
LOCS = locations()
op_names = st.sampled_from(["ta.op", "ta.other", "tb.x_y", "tc.op$1", "td.with space",
                            'te."quoted"', "tf.a.b.c"])
attr_keys = st.text(alphabet=string.ascii_letters + "_.$0123 -", min_size=1, max_size=6)
ATTR_DICTS = st.dictionaries(attr_keys, ATTRS, max_size=2)


# ------------------------------------------------------------------------------ generator
class Scope:
    """Values visible in a region: its own (any block, forward uses allowed) and enclosing."""

    def __init__(self, parent: Scope | None) -> None:
        self.parent = parent
        self.values: list[Value] = []

    def all(self) -> list[Value]:
        out = list(self.values)
        if self.parent is not None:
            out += self.parent.all()
        return out


class Gen:
    def __init__(self, data: st.DataObject, with_locs: bool) -> None:
        self.draw = data.draw
        self.with_locs = with_locs
        self.pending: list[tuple[Operation, Scope, int]] = []

    def loc(self) -> Any:
        return self.draw(LOCS) if self.with_locs else UNKNOWN_LOC

    def attrs(self) -> dict[str, Any]:
        return self.draw(ATTR_DICTS)

    def region(self, scope: Scope, depth: int, max_blocks: int = 3) -> Region:
        region = Region()
        n_blocks = self.draw(st.integers(0 if depth else 1, max_blocks))
        blocks = []
        for _ in range(n_blocks):
            arg_types = self.draw(st.lists(TYPES1, max_size=2))
            blk = Block(arg_types, [self.loc() for _ in arg_types])
            region.add_block(blk)
            scope.values += blk.args
            blocks.append(blk)
        for blk in blocks:
            for _ in range(self.draw(st.integers(0, 3))):
                blk.append(self.op(scope, depth))
            if len(blocks) > 1 and self.draw(st.booleans()):
                succ = self.draw(st.lists(st.sampled_from(blocks), max_size=2))
                term = UnregisteredOp("tb.br", [], [], self.attrs(), 0, succ, self.loc())
                self.pending.append((term, scope, self.draw(st.integers(0, 2))))
                blk.append(term)
        return region

    def op(self, scope: Scope, depth: int) -> Operation:
        kind = self.draw(st.sampled_from(["unreg", "unreg", "bin", "scope"] if depth < 3
                                         else ["unreg", "bin"]))
        if kind == "bin":
            t = self.draw(TYPES1)
            attrs = {"tag": self.draw(ATTRS)} if self.draw(st.booleans()) else {}
            op = BinOp([], [t], attrs, 0, [], self.loc())
            scope.values += op.results
            self.pending.append((op, scope, -1))
            return op
        if kind == "scope":
            inner = Scope(None)
            attrs = self.attrs()
            if self.draw(st.booleans()):
                attrs["sym_name"] = StringAttr(self.draw(names_text))
            region = Region()
            arg_types = self.draw(st.lists(TYPES1, max_size=3))
            entry = region.add_block(Block(arg_types, [self.loc() for _ in arg_types]))
            inner.values += entry.args
            for _ in range(self.draw(st.integers(0, 3))):
                entry.append(self.op(inner, depth + 1))
            y = YieldOp([], [], self.attrs() if self.draw(st.booleans()) else {}, 0, [],
                        self.loc())
            entry.append(y)
            self.pending.append((y, inner, self.draw(st.integers(0, 2))))
            return ScopeOp([], [], attrs, [region], [], self.loc())
        results = self.draw(st.lists(TYPES1, max_size=3))
        op = UnregisteredOp(self.draw(op_names), [], results, self.attrs(), 0, [], self.loc())
        for _ in range(self.draw(st.integers(0, 2))):
            op.regions.append(self.region(Scope(scope), depth + 1))
            op.regions[-1].parent = op
        scope.values += op.results
        self.pending.append((op, scope, self.draw(st.integers(0, 3))))
        return op

    def wire(self) -> None:
        """Choose operands once every value exists (uses may precede definitions)."""
        for op, scope, count in self.pending:
            visible = [v for v in scope.all() if not (isinstance(v.owner, Operation)
                                                      and v.owner is op)]
            if count >= 0:
                op.set_operands([self.draw(st.sampled_from(visible)) for _ in range(count)]
                                if visible else [])
                continue
            t = op.results[0].type  # trt.bin: both operands of the result type
            same = [v for v in visible if v.type == t]
            if not same:
                src = UnregisteredOp("ta.src", [], [t], {}, 0, [], UNKNOWN_LOC)
                op.parent.insert_before(src, op)
                same = [src.result]
            op.set_operands([self.draw(st.sampled_from(same)) for _ in range(2)])

    def module(self) -> ModuleOp:
        m = ModuleOp.create_empty(location=self.loc())
        top = Scope(None)
        for _ in range(self.draw(st.integers(1, 4))):
            m.body.append(self.op(top, 0))
        self.wire()
        return m


def reparse(text: str) -> ModuleOp:
    return parse_module(text, "roundtrip.mlir", allow_unregistered=True, verify=False)


@given(st.data())
def test_print_parse_print_is_identity(data: st.DataObject):
    m = Gen(data, with_locs=False).module()
    custom = print_op(m)
    generic = print_op(m, generic=True)
    assert print_op(reparse(custom)) == custom
    assert print_op(reparse(generic), generic=True) == generic
    # Both forms describe the same IR.
    assert print_op(reparse(custom), generic=True) == generic
    assert print_op(reparse(generic)) == custom


@given(st.data())
def test_round_trip_with_debug_locations(data: st.DataObject):
    m = Gen(data, with_locs=True).module()
    for generic in (False, True):
        text = print_op(m, generic=generic, debuginfo=True)
        assert print_op(reparse(text), generic=generic, debuginfo=True) == text


@given(types(3))
def test_types_round_trip(t: Type):
    assert parse_type(str(t)) == t


def has_nan(a: Any) -> bool:
    """Whether ``a`` holds a NaN where equality is by value (dense arrays, nested)."""
    if isinstance(a, DenseArrayAttr):
        return any(isinstance(v, float) and math.isnan(v) for v in a.values)
    if isinstance(a, ArrayAttr):
        return any(has_nan(e) for e in a.elements)
    if isinstance(a, DictAttr):
        return any(has_nan(v) for _, v in a.items)
    return False


@given(attributes(3))
def test_attributes_round_trip(a: Any):
    text = str(a)
    parsed = parse_attribute(text)
    assert str(parsed) == text
    assert parsed == a or has_nan(a)
