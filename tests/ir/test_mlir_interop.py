"""Interoperability with upstream MLIR: our generic output loads in ``mlir-opt``, and
``mlir-opt``'s output loads in Avalon.

Random modules are checked in batches (one ``mlir-opt --split-input-file`` process per
Hypothesis example) because starting the tool dominates the cost. Skipped when ``mlir-opt``
is not installed.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import avalon.ir.dialects  # noqa: F401  (registers func/arith/math)
from avalon.ir.affine import AffineMap, dim, sym
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
from avalon.ir.core import OP_REGISTRY, Block, Region, UnregisteredOp, Value
from avalon.ir.dialects.builtin import ModuleOp
from avalon.ir.location import UNKNOWN_LOC, CallSiteLoc, FileLineColLoc, FusedLoc, NameLoc
from avalon.ir.parser import parse_module
from avalon.ir.printer import print_op
from avalon.ir.types import (
    DYNAMIC,
    FunctionType,
    IntegerType,
    MemRefType,
    OpaqueType,
    TensorType,
    TupleType,
    VectorType,
    bf16,
    contiguous_strides,
    f16,
    f32,
    f64,
    i1,
    index,
    none,
)


def find_mlir_opt() -> str | None:
    found = shutil.which("mlir-opt")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib").glob("llvm-*/bin/mlir-opt"), reverse=True):
        return str(candidate)
    return None


MLIR_OPT = find_mlir_opt()
pytestmark = pytest.mark.skipif(MLIR_OPT is None, reason="mlir-opt is not installed")
SPLIT = "// -----"


def mlir_opt(text: str, *flags: str) -> str:
    """Run mlir-opt on ``text`` (chunks separated by ``// -----``); fail with its stderr."""
    proc = subprocess.run(
        [MLIR_OPT, "--allow-unregistered-dialect", "--split-input-file", *flags, "-"],
        input=text, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"mlir-opt rejected the input:\n{proc.stderr}\n--- input:\n{text}"
    return proc.stdout


def chunks(output: str) -> list[str]:
    return [c.strip() for c in output.split(SPLIT)]


# ------------------------------------------------------------------------------ dialect IR
FUNC_ARITH_MATH = """
func.func @f(%a: f32, %b: f32, %i: i32) -> (f32, i1) {
  %c = arith.constant 2.5 : f32
  %0 = arith.addf %a, %b : f32
  %1 = arith.mulf %0, %c : f32
  %2 = math.exp %1 : f32
  %3 = math.tanh %2 : f32
  %4 = arith.sitofp %i : i32 to f32
  %5 = arith.cmpf olt, %3, %4 : f32
  %6 = arith.select %5, %3, %4 : f32
  %7 = arith.negf %6 : f32
  %8 = func.call @g(%7) : (f32) -> f32
  return %8, %5 : f32, i1
}
func.func private @g(f32) -> f32
func.func @ints(%x: i64, %y: i64) -> i64 {
  %0 = arith.addi %x, %y : i64
  %1 = arith.muli %0, %y : i64
  %2 = arith.cmpi slt, %1, %x : i64
  %3 = arith.select %2, %1, %x : i64
  return %3 : i64
}
"""


@pytest.mark.skipif(not {"func.func", "arith.addf", "math.exp"} <= OP_REGISTRY.keys(),
                    reason="func/arith/math dialects not available")
def test_func_arith_math_module_loads_in_mlir_opt_in_both_forms():
    m = parse_module(FUNC_ARITH_MATH, "dialects.mlir")
    generic = print_op(m, generic=True)
    custom = print_op(m)
    upstream = chunks(mlir_opt(generic + f"\n{SPLIT}\n" + custom, "-mlir-print-op-generic"))
    assert len(upstream) == 2
    # (Upstream adds default-valued properties such as fastmath<none> when it parses the
    # custom form, so the two outputs need not be equal.) Each output loads in Avalon, and
    # Avalon's re-print is the same IR for upstream.
    for text in upstream:
        back = parse_module(text, "from_mlir.mlir")
        assert chunks(mlir_opt(print_op(back, generic=True), "-mlir-print-op-generic")) == [text]
        assert chunks(mlir_opt(print_op(back), "-mlir-print-op-generic"))[0].count("func.func") == 3


def test_builtin_and_unregistered_ops_with_all_syntax():
    text = """
#map = affine_map<(d0, d1)[s0] -> (d0 + s0, d1 * 2)>
module @top attributes {x.flag} {
  %0:2 = "x.two"() {a = [1, 2.5, "s", unit, f32], m = #map, d = dense<[[1, 2]]> : tensor<1x2xi32>,
    e = array<i64: 1, 2>, s = @a::@b, k = #x.thing<"body">, h = 0x7FC00000 : f32} : () -> (f32, i64)
  "x.use"(%0#1, %0#0) ({
  ^bb0(%arg: f32):
    "x.br"(%arg)[^bb1] : (f32) -> ()
  ^bb1(%b: f32):
    "x.ret"(%b) : (f32) -> ()
  }) : (i64, f32) -> ()
  module {
  }
}
"""
    m = parse_module(text, "all.mlir", allow_unregistered=True)
    ours = print_op(m, generic=True, debuginfo=True)
    theirs = chunks(mlir_opt(ours, "-mlir-print-op-generic", "-mlir-print-debuginfo"))[0]
    back = parse_module(theirs, "theirs.mlir", allow_unregistered=True)
    again = print_op(back, generic=True, debuginfo=True)
    assert chunks(mlir_opt(again, "-mlir-print-op-generic", "-mlir-print-debuginfo"))[0] == theirs
    custom = print_op(m)
    assert chunks(mlir_opt(custom, "-mlir-print-op-generic"))[0] == chunks(
        mlir_opt(ours, "-mlir-print-op-generic"))[0]


# ------------------------------------------------------------------------------ random IR
scalar_types = st.sampled_from([i1, IntegerType(8), IntegerType(32), IntegerType(64),
                                IntegerType(5), index, f16, bf16, f32, f64])
dense_types = st.sampled_from([i1, IntegerType(8), IntegerType(32), IntegerType(64), index,
                               f16, f32, f64])
names = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1,
                max_size=6)


@st.composite
def memrefs(draw) -> MemRefType:
    shape = tuple(draw(st.lists(st.integers(1, 4), max_size=3)))
    layout = None
    if draw(st.booleans()):
        strides = contiguous_strides(shape)
        layout = StridedLayoutAttr(strides, draw(st.integers(0, 3) | st.just(DYNAMIC)))
    space = IntegerAttr(draw(st.integers(1, 5))) if draw(st.booleans()) else None
    return MemRefType(shape, draw(scalar_types), layout, space)


def types(depth: int = 1) -> st.SearchStrategy[Any]:
    leaf = st.one_of(scalar_types, st.sampled_from([none, OpaqueType("llvm", "ptr"),
                                                    OpaqueType("x", 'ty<"a>", [1]>')]))
    if depth == 0:
        return leaf
    inner = types(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda s, e: TensorType(tuple(s), e),
                  st.lists(st.integers(0, 4) | st.just(DYNAMIC), max_size=3), scalar_types),
        st.builds(lambda s, e: VectorType(tuple(s), e),
                  st.lists(st.integers(1, 4), min_size=1, max_size=2), scalar_types),
        memrefs(),
        st.builds(lambda ts: TupleType(tuple(ts)), st.lists(inner, max_size=2)),
        st.builds(lambda a, b: FunctionType(tuple(a), tuple(b)), st.lists(inner, max_size=2),
                  st.lists(inner, max_size=2)),
    )


@st.composite
def dense(draw) -> DenseElementsAttr:
    et = draw(dense_types)
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    if draw(st.booleans()):
        shape = (draw(st.integers(257, 280)),)
    n = int(np.prod(shape))
    if et in (f16, f32, f64):
        vals = draw(st.lists(st.floats(width=16) | st.sampled_from([math.nan, -0.0]),
                             min_size=n, max_size=n)) if n < 20 else list(np.linspace(0, 1, n))
    elif et == i1:
        vals = [bool(v % 2) for v in range(n)]
    else:
        vals = draw(st.lists(st.integers(-100, 100), min_size=n, max_size=n)) if n < 20 else (
            [v % 7 for v in range(n)])
    return DenseElementsAttr(np.array(vals, dtype=object).reshape(shape),
                             TensorType(shape, et))


def attributes(depth: int = 2) -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        st.builds(lambda t, v: IntegerAttr(v, t), st.sampled_from(
            [i1, IntegerType(8), IntegerType(32), IntegerType(64), index]),
            st.integers(-(2 ** 31), 2 ** 31)),
        st.builds(FloatAttr, st.floats(width=32) | st.sampled_from([math.nan, math.inf]),
                  st.sampled_from([f16, bf16, f32, f64])),
        st.builds(StringAttr, st.text(max_size=6)),
        st.just(UNIT),
        st.builds(TypeAttr, types(1)),
        st.builds(SymbolRefAttr, names, st.lists(names, max_size=2).map(tuple)),
        st.builds(lambda vs: DenseArrayAttr(IntegerType(64), tuple(vs)),
                  st.lists(st.integers(-9, 9), max_size=3)),
        st.builds(lambda vs: DenseArrayAttr(f32, tuple(vs)), st.lists(st.floats(width=32),
                                                                      max_size=3)),
        st.sampled_from([
            AffineMapAttr(AffineMap(2, 1, (dim(0) + sym(0), dim(1) * 3 - 1, dim(0) % 4))),
            AffineMapAttr(AffineMap(1, 0, (dim(0).floordiv(2), -dim(0)))),
            StridedLayoutAttr((4, 1), 2), StridedLayoutAttr((DYNAMIC,), DYNAMIC),
            OpaqueAttr("x", "y"), OpaqueAttr("x", 'attr<"q", [1, 2]>'),
            OpaqueAttr("arith", "fastmath<nnan,ninf>")]),
        dense(),
    )
    if depth == 0:
        return leaf
    inner = attributes(depth - 1)
    return st.one_of(leaf, st.builds(lambda es: ArrayAttr(tuple(es)), st.lists(inner, max_size=3)),
                     st.builds(lambda d: DictAttr(tuple(d.items())),
                               st.dictionaries(names, inner, max_size=2)))


LOCS = st.one_of(st.just(UNKNOWN_LOC), st.builds(FileLineColLoc, names, st.integers(1, 99),
                                                  st.integers(1, 99)),
                 st.builds(NameLoc, names),
                 st.builds(CallSiteLoc, st.builds(NameLoc, names),
                           st.builds(FileLineColLoc, names, st.integers(1, 9),
                                     st.integers(1, 9))),
                 st.builds(lambda ls: FusedLoc(tuple(ls)), st.lists(st.builds(NameLoc, names),
                                                                   min_size=2, max_size=3)))
TYPES = types(1)
ATTR_DICTS = st.dictionaries(names, attributes(), max_size=2)
OP_NAMES = st.sampled_from(["ta.op", "tb.x_y", "tc.op$1", "td.a.b"])


class Gen:
    """Random unregistered-op IR in which every use is dominated by its definition."""

    def __init__(self, data: st.DataObject) -> None:
        self.draw = data.draw

    def region(self, available: list[Value], depth: int) -> Region:
        region = Region()
        blocks = []
        for _ in range(self.draw(st.integers(0, 3))):
            types_ = self.draw(st.lists(TYPES, max_size=2))
            blocks.append(region.add_block(Block(types_, [self.draw(LOCS) for _ in types_])))
        for i, blk in enumerate(blocks):
            # The entry block dominates the others; otherwise only the block's own values.
            visible = available + list(blk.args) + (list(blocks[0].args) if i else [])
            for _ in range(self.draw(st.integers(0, 3))):
                op = self.op(visible, depth)
                blk.append(op)
                visible = visible + list(op.results)
            targets = blocks[1:]
            # Blocks of multi-block regions end in a (possibly branching) terminator: upstream
            # rejects empty blocks there.
            if len(blocks) > 1 and (blk.is_empty or self.draw(st.booleans())):
                succ = self.draw(st.lists(st.sampled_from(targets), max_size=2)) if targets else []
                blk.append(UnregisteredOp("tb.br", self.operands(visible), [],
                                          self.draw(ATTR_DICTS), 0, succ, self.draw(LOCS)))
        return region

    def operands(self, visible: list[Value]) -> list[Value]:
        if not visible:
            return []
        return self.draw(st.lists(st.sampled_from(visible), max_size=3))

    def op(self, visible: list[Value], depth: int) -> UnregisteredOp:
        regions = [self.region(visible, depth + 1)
                   for _ in range(self.draw(st.integers(0, 2 if depth < 2 else 0)))]
        return UnregisteredOp(self.draw(OP_NAMES), self.operands(visible),
                              self.draw(st.lists(TYPES, max_size=3)), self.draw(ATTR_DICTS),
                              regions, [], self.draw(LOCS))

    def module(self) -> ModuleOp:
        m = ModuleOp.create_empty(location=self.draw(LOCS))
        visible: list[Value] = []
        for _ in range(self.draw(st.integers(1, 4))):
            op = self.op(visible, 0)
            m.body.append(op)
            visible = visible + list(op.results)
        return m


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.data_too_large])
@given(st.data())
def test_random_generic_ir_loads_in_mlir_opt_and_back(data: st.DataObject):
    modules = [Gen(data).module() for _ in range(6)]
    ours = [print_op(m, generic=True, debuginfo=True) for m in modules]
    theirs = chunks(mlir_opt(f"\n{SPLIT}\n".join(ours), "-mlir-print-op-generic",
                             "-mlir-print-debuginfo"))
    assert len(theirs) == len(modules)
    # Avalon reads upstream's output, and what it prints back is the same IR for upstream.
    reprinted = []
    for text in theirs:
        back = parse_module(text, "upstream.mlir", allow_unregistered=True)
        reprinted.append(print_op(back, generic=True, debuginfo=True))
    again = chunks(mlir_opt(f"\n{SPLIT}\n".join(reprinted), "-mlir-print-op-generic",
                            "-mlir-print-debuginfo"))
    assert again == theirs
    # The custom form (module/unregistered ops) loads too and means the same.
    custom = chunks(mlir_opt(f"\n{SPLIT}\n".join(print_op(m, debuginfo=True)
                                                 for m in modules),
                             "-mlir-print-op-generic", "-mlir-print-debuginfo"))
    assert custom == theirs
