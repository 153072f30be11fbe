"""Register-blocked vector nests (``avalon/passes/lower_vector.py``), by translation validation.

Contractions and reductions through ``cpu-pipeline`` must give exactly what the interpreter
gives for the tensor-level function (a ``tensor.generic`` folds its reduction points in
lexicographic order, and the vector nest keeps that order per element with the same
operations), natively too; named convolutions (order unspecified, fused multiply-adds) must
agree within rounding. Each case also checks that the vector nest was used (``vector.load``
in the lowered IR), the tile shapes, packing and reduction blocking that the planner chose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import avalon.ir.dialects  # noqa: F401  (registers every dialect)
from avalon.ir.affine import AffineMap
from avalon.ir.attributes import StridedLayoutAttr
from avalon.ir.builder import Builder
from avalon.ir.parser import parse_attribute, parse_module
from avalon.ir.types import MemRefType, f32
from avalon.passes import PassManager
from avalon.passes import lower_vector as lv
from avalon.passes.lower_structured import Input, Output, Structured
from tests.passes.test_cpu_pipeline import run_native
from tests.passes.test_lower_to_loops import CPU, Case, check


def parse_affine_map(text: str) -> AffineMap:
    return parse_attribute(f"affine_map<{text}>").value  # type: ignore[attr-defined]


def _t(shape: Sequence[int], t: str = "f32") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + t + ">"


def matmul_case(m: int, k: int, n: int, t: str = "f32", transposed: bool = False,
                seed: int = 0) -> Case:
    """``a @ b`` (``transposed``: ``a @ w.T`` with ``w`` stored ``[n, k]``, as ``Linear``)."""
    rng = np.random.default_rng(seed)
    dtype = {"f32": np.float32, "f64": np.float64, "i32": np.int32}[t]
    a = (rng.standard_normal((m, k)) * 4).astype(dtype)
    if transposed:
        w = (rng.standard_normal((n, k)) * 4).astype(dtype)
        body = [f"%t = tensor.transpose %w, permutation = [1, 0] : {_t((n, k), t)} -> "
                f"{_t((k, n), t)}",
                f"%y = tensor.matmul %a, %t : ({_t((m, k), t)}, {_t((k, n), t)}) -> "
                f"{_t((m, n), t)}"]
        args = f"%a: {_t((m, k), t)}, %w: {_t((n, k), t)}"
    else:
        w = (rng.standard_normal((k, n)) * 4).astype(dtype)
        body = [f"%y = tensor.matmul %a, %w : ({_t((m, k), t)}, {_t((k, n), t)}) -> "
                f"{_t((m, n), t)}"]
        args = f"%a: {_t((m, k), t)}, %w: {_t((k, n), t)}"
    src = (f"func.func @f({args}) -> {_t((m, n), t)} {{\n  " + "\n  ".join(body)
           + f"\n  return %y : {_t((m, n), t)}\n}}")
    return Case(generalized(src), [a, w])


def generalized(src: str) -> str:
    """``src`` with its named ops rewritten to ``tensor.generic`` (whose interpretation
    fixes the order of the sums, so results can be compared exactly)."""
    module = parse_module(src)
    PassManager.parse("builtin.module(func.func(generalize))").run(module)
    return str(module)


def lowered_names(case: Case) -> list[str]:
    return [op.name for op in check(case, CPU).walk_ops()]


# ------------------------------------------------------------------ exact contractions


@pytest.mark.parametrize(("m", "k", "n", "transposed"), [
    (5, 3, 11, False),   # one tile: 8 + 3 lanes, 5 rows
    (13, 4, 17, True),   # transposed weight: packed; row and lane tails
    (7, 6, 40, False),   # several column tiles and a row tail
    (1, 9, 19, False),   # a single row
])
def test_generic_matmul_is_exact(m: int, k: int, n: int, transposed: bool) -> None:
    """The interpreter on the lowered loops and native code both equal the interpreter's
    lexicographic fold bit for bit (no reassociation, no fused multiply-add)."""
    case = matmul_case(m, k, n, transposed=transposed)
    names = lowered_names(case)
    assert "vector.load" in names and "vector.fma" not in names
    run_native(case)  # compares with the interpreter within rounding ...
    from avalon.backends.cpu import compile_module
    from tests.passes.test_lower_to_loops import interpret, lower

    module = parse_module(case.src)
    want = interpret(module, case.inputs)[0]
    fn = compile_module(lower(module, CPU), cache=False).function("f")
    got = fn(*case.inputs)
    np.testing.assert_array_equal(got, want)  # ... and here exactly


@pytest.mark.parametrize("t", ["f64", "i32"])
def test_other_element_types(t: str) -> None:
    """f64 uses 4 lanes, i32 8; both exact."""
    names = lowered_names(matmul_case(6, 5, 9, t=t, transposed=True))
    assert "vector.load" in names


def test_reduction_blocking_keeps_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a tiny block size the reduction runs in chunks whose partial sums wait in the
    output buffer: still bit-identical, and the chunk loop is there."""
    monkeypatch.setattr(lv, "BLOCK_BYTES", 64)
    case = matmul_case(9, 13, 20, transposed=True)
    lowered = check(case, CPU)
    chunk_loops = [op for op in lowered.walk_ops() if op.name == "loop.for" and any(
        inner.name == "vector.store" for inner in op.walk_ops())]
    assert chunk_loops  # a sequential loop over reduction chunks around whole tiles
    run_native(case)


def test_column_sums_and_two_outputs() -> None:
    """A generic with two outputs (sum and max over rows) vectorizes along the columns."""
    src = """
    func.func @f(%x: tensor<6x19xf32>) -> (tensor<19xf32>, tensor<19xf32>) {
      %z = tensor.constant dense<0.0> : tensor<19xf32>
      %l = tensor.constant dense<-3.0e38> : tensor<19xf32>
      %g:2 = tensor.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
          affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d1)>],
          iterator_types = ["reduction", "parallel"]}
          ins(%x : tensor<6x19xf32>) outs(%z, %l : tensor<19xf32>, tensor<19xf32>) {
      ^bb0(%a: f32, %s: f32, %m: f32):
        %s2 = arith.addf %s, %a : f32
        %m2 = arith.maximumf %m, %a : f32
        tensor.yield %s2, %m2 : f32, f32
      }
      return %g#0, %g#1 : tensor<19xf32>, tensor<19xf32>
    }"""
    x = np.random.default_rng(3).standard_normal((6, 19)).astype(np.float32)
    case = Case(src, [x])
    assert "vector.load" in lowered_names(case)
    run_native(case)


def test_strided_inputs_are_gathered() -> None:
    """A sum along the contiguous dimension vectorizes across the rows instead: each lane
    is one row's own chain of additions, in the interpreter's order, so it stays exact."""
    src = generalized(f"""
    func.func @f(%x: {_t((11, 9))}) -> {_t((11,))} {{
      %y = tensor.reduce sum, %x, dims = [1] : {_t((11, 9))} -> {_t((11,))}
      return %y : {_t((11,))}
    }}""")
    x = np.random.default_rng(4).standard_normal((11, 9)).astype(np.float32)
    case = Case(src, [x])
    names = lowered_names(case)
    assert "vector.insert" in names and "vector.load" not in names
    run_native(case)


@settings(max_examples=15)
@given(m=st.integers(1, 9), k=st.integers(1, 5), n=st.integers(1, 21),
       transposed=st.booleans(), seed=st.integers(0, 100))
def test_random_matmul_shapes(m: int, k: int, n: int, transposed: bool, seed: int) -> None:
    check(matmul_case(m, k, n, transposed=transposed, seed=seed), CPU)


# ------------------------------------------------------------------------ convolution


def conv_case(n: int, c: int, o: int, size: tuple[int, int], kernel: tuple[int, int],
              stride: tuple[int, int] = (1, 1), dil: tuple[int, int] = (1, 1),
              low: tuple[int, int] = (0, 0), high: tuple[int, int] = (0, 0),
              t: str = "f32", seed: int = 0) -> Case:
    out = tuple((s + lo + hi - (k - 1) * d - 1) // st_ + 1
                for s, k, d, lo, hi, st_ in zip(size, kernel, dil, low, high, stride))
    xs, ws, ys = (n, c, *size), (o, c, *kernel), (n, o, *out)
    src = f"""
    func.func @f(%x: {_t(xs, t)}, %w: {_t(ws, t)}) -> {_t(ys, t)} {{
      %y = tensor.conv %x, %w, stride = {list(stride)}, padding_low = {list(low)},
           padding_high = {list(high)}, dilation = {list(dil)}, groups = 1
           : ({_t(xs, t)}, {_t(ws, t)}) -> {_t(ys, t)}
      return %y : {_t(ys, t)}
    }}"""
    rng = np.random.default_rng(seed)
    dtype = np.float32 if t == "f32" else np.float64
    eps = 2.0 ** -23 if t == "f32" else 2.0 ** -52
    return Case(src, [rng.standard_normal(xs).astype(dtype),
                      rng.standard_normal(ws).astype(dtype)], 64 * eps)


@pytest.mark.parametrize("kwargs", [
    {"n": 2, "c": 3, "o": 5, "size": (6, 10), "kernel": (3, 3)},     # along the width
    {"n": 1, "c": 2, "o": 11, "size": (5, 5), "kernel": (2, 2), "stride": (2, 2)},  # channels
    {"n": 2, "c": 2, "o": 4, "size": (4, 9), "kernel": (3, 2), "low": (1, 0),
     "high": (2, 1), "dil": (1, 2)},                                 # padded, dilated
    {"n": 1, "c": 3, "o": 9, "size": (5, 7), "kernel": (3, 3), "t": "f64"},
])
def test_conv_vectorizes(kwargs: dict) -> None:
    case = conv_case(**kwargs)
    names = lowered_names(case)
    assert "vector.fma" in names  # a named contraction: multiply-adds may fuse
    run_native(case)


@settings(max_examples=12)
@given(n=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 10),
       size=st.tuples(st.integers(3, 7), st.integers(3, 11)),
       kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       pad=st.tuples(st.integers(0, 1), st.integers(0, 1)), seed=st.integers(0, 99))
def test_random_convolutions(n: int, c: int, o: int, size: tuple[int, int],
                             kernel: tuple[int, int], stride: tuple[int, int],
                             pad: tuple[int, int], seed: int) -> None:
    check(conv_case(n, c, o, size, kernel, stride, low=pad, high=pad, seed=seed), CPU)


# --------------------------------------------------------------------------- planning


def _structured(maps: list[str], shapes: list[tuple[int, ...]], iterators: list[str],
                extents: tuple[int, ...], layout_of: dict[int, MemRefType] | None = None
                ) -> Structured:
    """A nest over fresh buffers (the planner only reads types and maps)."""
    from avalon.ir.core import Block

    layout_of = layout_of or {}
    types = [layout_of.get(k, MemRefType(s, f32)) for k, s in enumerate(shapes)]
    block = Block(types)
    ms = [parse_affine_map(m) for m in maps]
    inputs = [Input(m, buffer=v) for m, v in zip(ms[:-1], block.args[:-1])]
    out = Output(block.args[-1], ms[-1], init=None)
    return Structured(extents, iterators, inputs, [out],
                      lambda b, ins, accs: [ins[0]])


def test_plan_for_matmuls() -> None:
    nn = _structured(["(m, n, k) -> (m, k)", "(m, n, k) -> (k, n)", "(m, n, k) -> (m, n)"],
                     [(100, 800), (800, 500), (100, 500)], ["parallel", "parallel",
                                                            "reduction"], (100, 500, 800))
    p = lv.plan(nn)
    assert p is not None and (p.j, p.r, p.pack) == (1, 0, [])
    assert p.mr * p.nr + p.nr + 1 <= lv.REGISTERS  # accumulators + B vectors + broadcast
    transposed = MemRefType((800, 500), f32, StridedLayoutAttr((1, 800), 0))
    p = lv.plan(_structured(["(m, n, k) -> (m, k)", "(m, n, k) -> (k, n)",
                             "(m, n, k) -> (m, n)"], [(100, 800), (800, 500), (100, 500)],
                            ["parallel", "parallel", "reduction"], (100, 500, 800),
                            {1: transposed}))
    assert p is not None and p.j == 1 and p.pack == [1]


def test_plan_needs_a_reduction_and_a_vector_dimension() -> None:
    elementwise = _structured(["(i, j) -> (i, j)", "(i, j) -> (i, j)"], [(4, 8), (4, 8)],
                              ["parallel", "parallel"], (4, 8))
    assert lv.plan(elementwise) is None
    total = _structured(["(i, j) -> (i, j)", "() -> ()"], [(4, 8), ()],
                        ["reduction", "reduction"], (4, 8))
    assert lv.plan(total) is None  # no parallel dimension to vectorize along
    row_sums = _structured(["(i, j) -> (i, j)", "(i, j) -> (i)"], [(4, 8), (4,)],
                           ["parallel", "reduction"], (4, 8))
    p = lv.plan(row_sums)  # the only parallel dimension is strided in the input: gathered
    assert p is not None and p.j == 0 and p.pack == []


def test_coefficient_and_contiguity() -> None:
    m = parse_affine_map("(a, b, c) -> (a * 2 + c, b floordiv 2, c + 3)")
    assert [lv.coefficient(e, 2) for e in m.results] == [1, 0, 1]
    assert lv.coefficient(m.results[1], 1) is None
    assert lv.coefficient(m.results[0], 0) == 2
    t = MemRefType((9, 9, 9), f32)
    assert not lv.contiguous(t, m, 2)  # used by two results
    last = parse_affine_map("(a, b) -> (a, b * 2)")
    assert not lv.contiguous(MemRefType((4, 8), f32), last, 1)  # stride 2
    assert lv.contiguous(MemRefType((4, 8), f32), AffineMap.identity(2), 1)
    assert not lv.contiguous(MemRefType((4, 8), f32), AffineMap.identity(2), 0)


def test_body_template_rejects_non_scalar_bodies() -> None:
    """A body that loads from memory cannot be replayed lane-wise: no vector nest."""
    from avalon.ir.core import Block
    from avalon.passes import lower_common as lc

    block = Block([MemRefType((4, 8), f32), MemRefType((8,), f32), MemRefType((8,), f32)])
    x, side, y = block.args
    b = Builder.at_end(block)

    def body(bb: Builder, ins: list, accs: list) -> list:
        extra = lc.load(bb, side, [lc.idx(bb, 0)])
        return [lc.add(bb, accs[0], lc.add(bb, ins[0], extra))]

    s = Structured((4, 8), ["reduction", "parallel"],
                   [Input(parse_affine_map("(i, j) -> (i, j)"), buffer=x)],
                   [Output(y, parse_affine_map("(i, j) -> (j)"))], body)
    p = lv.plan(s)
    assert p is not None
    assert not lv.emit_vectorized(b, s, p)
    assert not list(block.ops)  # nothing was built


@pytest.mark.parametrize("value", ["0.0", "1.5"])
def test_conv_of_a_padded_tensor(value: str) -> None:
    """``conv(pad(g, 0))`` (the input gradient of a convolution) skips the kernel rows that
    read only the zero border; with a non-zero padding value nothing may be skipped."""
    g, w = _t((2, 3, 4, 9)), _t((5, 3, 3, 3))
    p, y = _t((2, 3, 8, 13)), _t((2, 5, 6, 11))
    src = f"""
    func.func @f(%g: {g}, %w: {w}) -> {y} {{
      %v = tensor.constant dense<{value}> : tensor<f32>
      %p = tensor.pad %g, %v, low = [0, 0, 2, 2], high = [0, 0, 2, 2], interior = [0, 0, 0, 0]
           : ({g}, tensor<f32>) -> {p}
      %y = tensor.conv %p, %w, stride = [1, 1], padding_low = [0, 0], padding_high = [0, 0],
           dilation = [1, 1], groups = 1 : ({p}, {w}) -> {y}
      return %y : {y}
    }}"""
    rng = np.random.default_rng(5)
    case = Case(src, [rng.standard_normal((2, 3, 4, 9)).astype(np.float32),
                      rng.standard_normal((5, 3, 3, 3)).astype(np.float32)], 64 * 2.0 ** -23)
    lowered = check(case, CPU)
    bounded = [op for op in lowered.walk_ops() if op.name == "loop.for"
               and getattr(op.operands[0], "op", None) is not None
               and op.operands[0].op.name != "arith.constant"]  # type: ignore[attr-defined]
    assert bool(bounded) == (value == "0.0")  # a tap loop starting at a computed index
    run_native(case)


def test_contracted_body_with_two_products() -> None:
    """``acc + (a*b + c*d)`` in a contraction nest: one product of the inner sum becomes a
    ``vector.fma``, the other stays a multiplication; the module verifies, and the
    interpreter and native code compute the sum of both matrix products."""
    from avalon.backends.cpu import compile_module
    from avalon.backends.interpreter import run
    from avalon.ir.verifier import verify
    from avalon.passes import lower_common as lc

    m, k, n = 6, 5, 9
    module = parse_module(f"""
    func.func @f(%a: memref<{m}x{k}xf32>, %b: memref<{k}x{n}xf32>, %c: memref<{m}x{k}xf32>,
                 %d: memref<{k}x{n}xf32>, %y: memref<{m}x{n}xf32> {{avalon.out}}) {{
      return
    }}""")
    fn = next(iter(module.body.ops))  # type: ignore[attr-defined]
    a, b_, c, d, y = fn.entry_block.args
    bld = Builder.before(fn.entry_block.last_op)
    lhs, rhs = parse_affine_map("(m, n, k) -> (m, k)"), parse_affine_map("(m, n, k) -> (k, n)")

    def body(bb: Builder, ins: list, accs: list) -> list:
        inner = lc.add(bb, lc.mul(bb, ins[0], ins[1]), lc.mul(bb, ins[2], ins[3]))
        return [lc.add(bb, accs[0], inner)]

    s = Structured((m, n, k), ["parallel", "parallel", "reduction"],
                   [Input(lhs, buffer=a), Input(rhs, buffer=b_), Input(lhs, buffer=c),
                    Input(rhs, buffer=d)],
                   [Output(y, parse_affine_map("(m, n, k) -> (m, n)"),
                           init=lc.const(bld, 0, f32))], body, contract=True)
    p = lv.plan(s)
    assert p is not None and lv.emit_vectorized(bld, s, p)
    verify(module)
    names = [op.name for op in module.walk_ops()]
    assert "vector.fma" in names and "arith.mulf" in names
    rng = np.random.default_rng(6)
    args = [rng.standard_normal(t.shape).astype(np.float32)  # type: ignore[attr-defined]
            for t in fn.type.inputs[:4]]  # type: ignore[attr-defined]
    want = args[0] @ args[1] + args[2] @ args[3]
    out = np.zeros((m, n), np.float32)
    run(module, "f", *args, out)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    native = compile_module(module, cache=False).function("f")(*args)
    np.testing.assert_allclose(native, want, rtol=1e-5, atol=1e-5)
