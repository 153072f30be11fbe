"""``bufferize`` + ``lower-to-loops``: every tensor op, checked by translation validation.

Each case is a tensor-level function drawn by hypothesis (shapes, element types, values and
attributes). It is interpreted, bufferized and lowered to loops, verified, interpreted again
through the destination-passing ABI, and the results must match: exactly, except where the
op leaves the order of float accumulation unspecified (sums, contractions, average pooling)
and for ``erf``, whose tensor and scalar reference implementations differ in the last bit.
The same cases run through the whole ``cpu-pipeline`` in ``test_cpu_pipeline.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import avalon.ir.dialects  # registers every dialect
import avalon.passes  # noqa: F401  (registers the passes and pipelines)
from avalon.backends.interpreter import InterpreterError, run
from avalon.backends.interpreter.values import round_bf16
from avalon.ir.attributes import DenseElementsAttr, UnitAttr
from avalon.ir.core import Operation
from avalon.ir.parser import parse_module, parse_type
from avalon.ir.printer import print_op
from avalon.ir.types import MemRefType, TensorType, to_numpy_dtype
from avalon.ir.verifier import verify
from avalon.passes import PassManager
from avalon.passes.bufferize import result_slots

LOWER = "bufferize,func.func(lower-to-loops)"
CPU = "cpu-pipeline"
#: Examples per hypothesis test: half the profile's (interpreting loops is slow).
EXAMPLES = max(5, settings.default.max_examples // 2)

FLOATS = ("f16", "bf16", "f32", "f64")
INTS = ("i8", "i16", "i32", "i64")
ALL = (*FLOATS, *INTS, "i1")
NUMPY = {"f16": np.float16, "bf16": np.float32, "f32": np.float32, "f64": np.float64,
         "i1": np.bool_, "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64}
EPS = {"f16": 2.0 ** -10, "bf16": 2.0 ** -7, "f32": 2.0 ** -23, "f64": 2.0 ** -52}


# ------------------------------------------------------------------------------ harness


@dataclass
class Case:
    """A tensor-level function ``@f``, its inputs, and how closely results must match."""

    src: str
    inputs: list[Any]
    rtol: float = 0.0

    def __repr__(self) -> str:
        return f"Case(\n{self.src}\ninputs={self.inputs!r}, rtol={self.rtol})"


def function(module: Operation, name: str = "f") -> Operation:
    for op in module.body.ops:  # type: ignore[attr-defined]
        sym = op.attributes.get("sym_name")
        if sym is not None and sym.value == name:
            return op
    raise KeyError(name)


def lower(module: Operation, pipeline: str) -> Operation:
    """A lowered, verified clone of ``module``."""
    out = module.clone()
    PassManager.parse(f"builtin.module({pipeline})").run(out)
    verify(out)
    return out


def poisoned(t: MemRefType) -> np.ndarray:
    """An out-parameter buffer full of garbage, so unwritten elements show."""
    dtype = to_numpy_dtype(t.element_type)
    if dtype.kind == "f":
        return np.full(t.shape, np.nan, dtype)
    return np.full(t.shape, 0x5A if dtype.kind != "b" else True, dtype)


def call_bufferized(module: Operation, name: str, inputs: Sequence[Any]
                    ) -> tuple[list[Any], list[Any]]:
    """Call bufferized ``@name`` with the original inputs (copied: memref arguments alias
    them) and fresh out-parameters; returns the original results, mapped back through the
    ``avalon.result`` slots, and the argument arrays as the call left them."""
    fn = function(module, name)
    args: list[Any] = []
    it = iter(inputs)
    for t, attrs in zip(fn.type.inputs, fn.arg_attr_dicts()):  # type: ignore[attr-defined]
        if isinstance(attrs.get("avalon.out"), UnitAttr):
            args.append(poisoned(t))
        else:
            v = next(it)
            args.append(v.copy() if isinstance(v, np.ndarray) else v)
    res = run(module, name, *args)
    res = res if isinstance(res, tuple) else (() if res is None else (res,))
    results = [res[s.index] if s.kind == "scalar" else args[s.index]
               for s in result_slots(fn)]  # type: ignore[arg-type]
    return results, args


def interpret(module: Operation, inputs: Sequence[Any], name: str = "f") -> list[Any]:
    res = run(module, name, *[v.copy() if isinstance(v, np.ndarray) else v for v in inputs])
    return list(res) if isinstance(res, tuple) else [res]


def assert_close(want: Sequence[Any], got: Sequence[Any], rtol: float) -> None:
    assert len(want) == len(got)
    for k, (w, g) in enumerate(zip(want, got)):
        w, g = np.asarray(w), np.asarray(g)
        assert (w.dtype, w.shape) == (g.dtype, g.shape), (k, w.dtype, g.dtype, w.shape, g.shape)
        if rtol and w.dtype.kind == "f":
            scale = float(np.max(np.abs(np.nan_to_num(w, posinf=0, neginf=0)), initial=1.0))
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale,
                                       err_msg=f"result #{k}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"result #{k}")


def no_tensors(module: Operation) -> bool:
    for op in module.walk_ops():
        for v in (*op.operands, *op.results):
            if isinstance(v.type, TensorType):
                return False
        for region in op.regions:
            for block in region.blocks:
                if any(isinstance(a.type, TensorType) for a in block.args):
                    return False
    return True


def check(case: Case, pipeline: str) -> Operation:
    """Translation validation of ``case`` through ``pipeline``; returns the lowered module."""
    module = parse_module(case.src)
    verify(module)
    want = interpret(module, case.inputs)
    lowered = lower(module, pipeline)
    assert no_tensors(lowered)
    text = print_op(lowered)
    assert print_op(parse_module(text)) == text  # what avalon-opt prints parses back
    got, args = call_bufferized(lowered, "f", case.inputs)
    assert_close(want, got, case.rtol)
    for before, after in zip(case.inputs, args):  # nothing is donated: inputs stay intact
        if isinstance(before, np.ndarray):
            np.testing.assert_array_equal(after, before)
    return lowered


# ------------------------------------------------------------------------------ values


def tensor(shape: Sequence[int], t: str) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + t + ">"


def func(args: Sequence[tuple[str, str]], results: Sequence[tuple[str, str]],
         body: Sequence[str]) -> str:
    """``func.func @f(args) -> results`` returning the named values."""
    sig = ", ".join(f"%{n}: {t}" for n, t in args)
    rts = ", ".join(t for _, t in results)
    names = ", ".join(f"%{n}" for n, _ in results)
    lines = [f"func.func @f({sig}) -> ({rts}) {{", *(f"  {b}" for b in body),
             f"  return {names} : {rts}", "}"]
    return "\n".join(lines)


def values(t: str, shape: Sequence[int], *, lo: float = -8.0, hi: float = 8.0,
           special: bool = True) -> st.SearchStrategy[np.ndarray]:
    """Arrays of element type ``t``: floats in [lo, hi] with signed zeros, infinities and NaN
    mixed in when ``special``; integers over their whole range; booleans."""
    dtype = np.dtype(NUMPY[t])
    shape = tuple(shape)
    if t == "i1":
        return arrays(dtype, shape, elements=st.booleans())
    if t in INTS:
        info = np.iinfo(dtype)
        return arrays(dtype, shape, elements=st.integers(max(int(lo), info.min) if not special
                                                          else info.min,
                                                          min(int(hi), info.max) if not special
                                                          else info.max))
    width = 16 if t == "f16" else (64 if t == "f64" else 32)
    if width == 16:
        lo, hi = max(lo, -65504.0), min(hi, 65504.0)
    elems = st.floats(lo, hi, width=width)
    if special:
        elems = st.one_of(elems, st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan]))
    strategy = arrays(dtype, shape, elements=elems)
    return strategy.map(lambda a: np.array(round_bf16(a), np.float32)) if t == "bf16" else strategy


shapes = st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple)
nonempty_shapes = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)


def float_tol(t: str, factor: float = 8.0) -> float:
    return EPS[t] * factor if t in EPS else 0.0


# ----------------------------------------------------------------------- elementwise


UNARY_FLOAT = ("neg", "abs", "exp", "log", "tanh", "sqrt", "rsqrt", "sin", "cos", "erf",
               "log1p", "expm1", "floor", "ceil", "sign")
UNARY_INT = ("neg", "abs", "sign", "not")
BINARY_FLOAT = ("add", "sub", "mul", "div", "rem", "pow", "max", "min")
BINARY_INT = ("add", "sub", "mul", "div", "rem", "max", "min", "and", "or", "xor")
BINARY_BOOL = ("and", "or", "xor")
PREDICATES = ("eq", "ne", "lt", "le", "gt", "ge")


def unary_case(op: str, t: str, x: np.ndarray) -> Case:
    tt = tensor(x.shape, t)
    src = func([("x", tt)], [("y", tt)], [f"%y = tensor.{op} %x : {tt}"])
    return Case(src, [x], float_tol(t, 4.0) if op == "erf" else 0.0)


@st.composite
def unary_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from((*FLOATS, *INTS, "i1")))
    op = draw(st.sampled_from(UNARY_FLOAT if t in FLOATS else
                              (UNARY_INT if t != "i1" else ("not",))))
    return unary_case(op, t, draw(values(t, draw(shapes))))


def binary_case(op: str, t: str, a: np.ndarray, b: np.ndarray) -> Case:
    tt = tensor(a.shape, t)
    src = func([("a", tt), ("b", tt)], [("y", tt)], [f"%y = tensor.{op} %a, %b : {tt}"])
    return Case(src, [a, b])


@st.composite
def binary_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(ALL))
    ops = BINARY_FLOAT if t in FLOATS else (BINARY_BOOL if t == "i1" else BINARY_INT)
    op = draw(st.sampled_from(ops))
    shape = draw(shapes)
    a, b = draw(values(t, shape)), draw(values(t, shape))
    if op in ("div", "rem") and t in INTS:
        b = np.where(b == 0, 1, b).astype(b.dtype)  # division by zero is tested separately
    return binary_case(op, t, a, b)


@st.composite
def compare_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(ALL))
    pred = draw(st.sampled_from(PREDICATES))
    shape = draw(shapes)
    tt = tensor(shape, t)
    src = func([("a", tt), ("b", tt)], [("y", tensor(shape, "i1"))],
               [f"%y = tensor.cmp {pred}, %a, %b : {tt}"])
    return Case(src, [draw(values(t, shape)), draw(values(t, shape))])


@st.composite
def select_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(ALL))
    shape = draw(shapes)
    tt, ct = tensor(shape, t), tensor(shape, "i1")
    src = func([("c", ct), ("a", tt), ("b", tt)], [("y", tt)],
               [f"%y = tensor.select %c, %a, %b : {ct}, {tt}"])
    return Case(src, [draw(values("i1", shape)), draw(values(t, shape)),
                      draw(values(t, shape))])


@st.composite
def cast_cases(draw: Callable) -> Case:
    src_t, dst_t = draw(st.sampled_from(ALL)), draw(st.sampled_from(ALL))
    shape = draw(shapes)
    x = draw(values(src_t, shape, lo=-1e6, hi=1e6) if src_t in FLOATS else values(src_t, shape))
    a, r = tensor(shape, src_t), tensor(shape, dst_t)
    src = func([("x", a)], [("y", r)], [f"%y = tensor.cast %x : {a} to {r}"])
    return Case(src, [x])


# ------------------------------------------------------------------------- data movement


@st.composite
def broadcast_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(ALL))
    result = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3).map(tuple))
    dims = sorted(draw(st.sets(st.integers(0, len(result) - 1))))
    operand = tuple(draw(st.sampled_from((1, result[d]))) for d in dims)
    a, r = tensor(operand, t), tensor(result, t)
    src = func([("x", a)], [("y", r)],
               [f"%y = tensor.broadcast %x, dims = {list(dims)} : {a} -> {r}"])
    return Case(src, [draw(values(t, operand))])


@st.composite
def transpose_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(ALL))
    shape = draw(shapes)
    perm = draw(st.permutations(list(range(len(shape)))))
    a = tensor(shape, t)
    r = tensor([shape[p] for p in perm], t)
    # The transposed view is also read by an elementwise op, then returned itself.
    body = [f"%y = tensor.transpose %x, permutation = {list(perm)} : {a} -> {r}",
            f"%z = tensor.add %y, %y : {r}" if t != "i1" else f"%z = tensor.xor %y, %y : {r}"]
    src = func([("x", a)], [("y", r), ("z", r)], body)
    return Case(src, [draw(values(t, shape))])


@st.composite
def reshape_cases(draw: Callable) -> Case:
    """Reshapes of dense buffers (views) and of transposed views (copies)."""
    t = draw(st.sampled_from(ALL))
    shape = draw(nonempty_shapes)
    n = int(np.prod(shape))
    factor = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    new = (factor, n // factor)
    a = tensor(shape, t)
    body = []
    src_v, src_t = "x", a
    if draw(st.booleans()) and len(shape) > 1:
        perm = list(reversed(range(len(shape))))
        tshape = [shape[p] for p in perm]
        src_t = tensor(tshape, t)
        body.append(f"%t = tensor.transpose %x, permutation = {perm} : {a} -> {src_t}")
        src_v = "t"
    r = tensor(new, t)
    body.append(f"%y = tensor.reshape %{src_v} : {src_t} -> {r}")
    return Case(func([("x", a)], [("y", r)], body), [draw(values(t, shape))])


@st.composite
def slice_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(ALL))
    shape = draw(shapes)
    start, limit, stride = [], [], []
    for n in shape:
        s = draw(st.integers(0, n))
        start.append(s)
        limit.append(draw(st.integers(s, n)))
        stride.append(draw(st.integers(1, 3)))
    out = [-(-(e - s) // k) for s, e, k in zip(start, limit, stride)]
    a, r = tensor(shape, t), tensor(out, t)
    src = func([("x", a)], [("y", r)],
               [f"%y = tensor.slice %x, start = {start}, limit = {limit}, stride = {stride} "
                f": {a} -> {r}"])
    return Case(src, [draw(values(t, shape))])


@st.composite
def pad_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(ALL))
    shape = draw(shapes)
    rank = len(shape)
    low = draw(st.lists(st.integers(0, 2), min_size=rank, max_size=rank))
    high = draw(st.lists(st.integers(0, 2), min_size=rank, max_size=rank))
    inner = draw(st.lists(st.integers(0, 2), min_size=rank, max_size=rank))
    out = [lo + n + max(n - 1, 0) * i + hi for n, lo, hi, i in zip(shape, low, high, inner)]
    a, r, v = tensor(shape, t), tensor(out, t), tensor((), t)
    src = func([("x", a), ("v", v)], [("y", r)],
               [f"%y = tensor.pad %x, %v, low = {low}, high = {high}, interior = {inner} : "
                f"({a}, {v}) -> {r}"])
    return Case(src, [draw(values(t, shape)), draw(values(t, ()))])


@st.composite
def concat_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(ALL))
    shape = draw(nonempty_shapes)
    d = draw(st.integers(0, len(shape) - 1))
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    parts = [tuple(s if k == d else n for k, n in enumerate(shape)) for s in sizes]
    out = tuple(sum(sizes) if k == d else n for k, n in enumerate(shape))
    names = [f"x{i}" for i in range(len(parts))]
    types = [tensor(p, t) for p in parts]
    operands = ", ".join(f"%{n}" for n in names)
    r = tensor(out, t)
    src = func(list(zip(names, types)), [("y", r)],
               [f"%y = tensor.concat {operands}, dim = {d} : ({', '.join(types)}) -> {r}"])
    return Case(src, [draw(values(t, p)) for p in parts])


@st.composite
def gather_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(ALL))
    shape = draw(nonempty_shapes)
    d = draw(st.integers(0, len(shape) - 1))
    it = draw(st.sampled_from(("i32", "i64")))
    ishape = tuple(draw(st.integers(0, 3)) if k == d else n for k, n in enumerate(shape))
    idx = draw(arrays(np.dtype(NUMPY[it]), ishape, elements=st.integers(0, shape[d] - 1)))
    a, i, r = tensor(shape, t), tensor(ishape, it), tensor(ishape, t)
    src = func([("x", a), ("i", i)], [("y", r)],
               [f"%y = tensor.gather %x, %i, dim = {d} : ({a}, {i}) -> {r}"])
    return Case(src, [draw(values(t, shape)), idx])


# ------------------------------------------------------------------------------ reductions


@st.composite
def reduce_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(ALL))
    kind = draw(st.sampled_from(("max", "min") if t == "i1" else ("sum", "prod", "max", "min")))
    shape = draw(shapes)
    dims = sorted(draw(st.sets(st.integers(0, len(shape) - 1))) if shape else [])
    out = [n for k, n in enumerate(shape) if k not in dims]
    a, r = tensor(shape, t), tensor(out, t)
    x = draw(values(t, shape, lo=-2.0, hi=2.0) if t in FLOATS else values(t, shape))
    src = func([("x", a)], [("y", r)],
               [f"%y = tensor.reduce {kind}, %x, dims = {dims} : {a} -> {r}"])
    return Case(src, [x], float_tol(t, 64.0) if kind in ("sum", "prod") else 0.0)


@st.composite
def argmax_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(ALL))
    shape = draw(nonempty_shapes)
    d = draw(st.integers(0, len(shape) - 1))
    out = [n for k, n in enumerate(shape) if k != d]
    # Few distinct values, so that ties (and NaN against NaN) are common.
    if t in FLOATS:
        elems = st.sampled_from([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan])
    elif t == "i1":
        elems = st.booleans()
    else:
        elems = st.integers(-2, 2)
    x = draw(arrays(np.dtype(NUMPY[t]), shape, elements=elems))
    a, r = tensor(shape, t), tensor(out, "i64")
    src = func([("x", a)], [("y", r)], [f"%y = tensor.argmax %x, dim = {d} : {a} -> {r}"])
    return Case(src, [x])


@st.composite
def matmul_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(("f16", "bf16", "f32", "f64", "i8", "i32", "i64")))
    batch = draw(st.lists(st.integers(1, 2), max_size=2))
    m, k, n = (draw(st.integers(0, 4)) for _ in range(3))
    ls, rs, os = (*batch, m, k), (*batch, k, n), (*batch, m, n)
    a, b, r = tensor(ls, t), tensor(rs, t), tensor(os, t)
    src = func([("a", a), ("b", b)], [("y", r)],
               [f"%y = tensor.matmul %a, %b : ({a}, {b}) -> {r}"])
    vals = (lambda s: values(t, s, lo=-2.0, hi=2.0, special=False)) if t in FLOATS else (
        lambda s: values(t, s))
    return Case(src, [draw(vals(ls)), draw(vals(rs))], float_tol(t, 64.0))


@st.composite
def conv_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from(("f32", "f64", "f16", "i32")))
    nsp = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 2))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    n = draw(st.integers(1, 2))
    kernel = [draw(st.integers(1, 3)) for _ in range(nsp)]
    stride = [draw(st.integers(1, 2)) for _ in range(nsp)]
    dil = [draw(st.integers(1, 2)) for _ in range(nsp)]
    low = [draw(st.integers(0, 2)) for _ in range(nsp)]
    high = [draw(st.integers(0, 2)) for _ in range(nsp)]
    size = [max(draw(st.integers(1, 5)), (k - 1) * d + 1 - lo - hi)
            for k, d, lo, hi in zip(kernel, dil, low, high)]
    out = [(s + lo + hi - (k - 1) * d - 1) // st_ + 1
           for s, k, d, lo, hi, st_ in zip(size, kernel, dil, low, high, stride)]
    xs, ws = (n, cg * groups, *size), (og * groups, cg, *kernel)
    x, w, r = tensor(xs, t), tensor(ws, t), tensor((n, og * groups, *out), t)
    src = func([("x", x), ("w", w)], [("y", r)],
               [f"%y = tensor.conv %x, %w, stride = {stride}, padding_low = {low}, "
                f"padding_high = {high}, dilation = {dil}, groups = {groups} : ({x}, {w}) "
                f"-> {r}"])
    vals = (lambda s: values(t, s, lo=-2.0, hi=2.0, special=False)) if t in FLOATS else (
        lambda s: values(t, s, lo=-100, hi=100, special=False))
    return Case(src, [draw(vals(xs)), draw(vals(ws))], float_tol(t, 64.0))


@st.composite
def pool_cases(draw: Callable) -> Case:
    kind = draw(st.sampled_from(("max", "avg")))
    t = draw(st.sampled_from(FLOATS if kind == "avg" else (*FLOATS, "i8", "i32")))
    nsp = draw(st.integers(1, 2))
    lead = draw(st.lists(st.integers(1, 2), max_size=2))
    window = [draw(st.integers(1, 3)) for _ in range(nsp)]
    stride = [draw(st.integers(1, 2)) for _ in range(nsp)]
    low = [draw(st.integers(0, w - 1)) for w in window]
    high = [draw(st.integers(0, w - 1)) for w in window]
    size = [max(draw(st.integers(1, 4)), w - lo - hi) for w, lo, hi in zip(window, low, high)]
    out = [(s + lo + hi - w) // k + 1 for s, w, lo, hi, k in zip(size, window, low, high,
                                                                    stride)]
    a, r = tensor((*lead, *size), t), tensor((*lead, *out), t)
    extra = ""
    if kind == "avg" and draw(st.booleans()):
        extra = f", count_include_pad = {draw(st.sampled_from(['true', 'false']))}"
    src = func([("x", a)], [("y", r)],
               [f"%y = tensor.pool {kind}, %x, window = {window}, stride = {stride}, "
                f"padding_low = {low}, padding_high = {high}{extra} : {a} -> {r}"])
    x = draw(values(t, (*lead, *size), lo=-4.0, hi=4.0, special=kind == "max"))
    return Case(src, [x], float_tol(t, 8.0) if kind == "avg" else 0.0)


# ----------------------------------------------------------------------------- generators


@st.composite
def iota_cases(draw: Callable) -> Case:
    t = draw(st.sampled_from((*FLOATS, *INTS)))
    shape = draw(nonempty_shapes)
    d = draw(st.integers(0, len(shape) - 1))
    r = tensor(shape, t)
    return Case(func([], [("y", r)], [f"%y = tensor.iota dim = {d} : {r}"]), [])


@st.composite
def random_cases(draw: Callable) -> Case:
    kind = draw(st.sampled_from(("random_uniform", "random_normal")))
    t = draw(st.sampled_from(FLOATS))
    shape = draw(st.lists(st.integers(0, 5), max_size=2).map(tuple))
    seed = np.array(draw(st.integers(-(2 ** 63), 2 ** 63 - 1)), np.int64)
    r = tensor(shape, t)
    src = func([("s", "tensor<i64>")], [("y", r)],
               [f"%y = tensor.{kind} %s : tensor<i64> -> {r}"])
    return Case(src, [seed])


@st.composite
def constant_cases(draw: Callable) -> Case:
    """Splat, small and large (vector-chunked) constants, returned and computed with."""
    t = draw(st.sampled_from(ALL))
    shape = draw(st.sampled_from([(), (3,), (2, 3), (5, 20), (130,)]))
    data = draw(values(t, shape))
    if draw(st.booleans()) and data.size:
        data = np.full(shape, data.reshape(-1)[0], data.dtype)
    r = tensor(shape, t)
    attr = DenseElementsAttr(data, parse_type(r))
    op = "xor" if t == "i1" else "max"
    src = func([("x", r)], [("c", r), ("y", r)],
               [f"%c = tensor.constant {attr}", f"%y = tensor.{op} %x, %c : {r}"])
    return Case(src, [draw(values(t, shape))])


# -------------------------------------------------------------------------- tensor.generic


def _affine(exprs: Sequence[str], n: int) -> str:
    dims = ", ".join(f"d{i}" for i in range(n))
    return f"affine_map<({dims}) -> ({', '.join(exprs)})>"


@st.composite
def generic_cases(draw: Callable) -> Case:
    """Random generics: parallel/reduction iterators, inputs through projections,
    permutations, constant indices and ``floordiv`` maps, one or two outputs permuting the
    parallel dimensions, bodies that accumulate or overwrite, and ``outs`` that are
    arguments, splat constants or (when never read) ``tensor.empty``."""
    t = draw(st.sampled_from(("f32", "f64", "i32")))
    add, mul, mx = ("arith.addf", "arith.mulf", "arith.maximumf") if t != "i32" else (
        "arith.addi", "arith.muli", "arith.maxsi")
    n = draw(st.integers(1, 3))
    iters = [draw(st.sampled_from(("parallel", "reduction"))) for _ in range(n)]
    extents = [draw(st.integers(1, 3)) for _ in range(n)]
    par = [d for d in range(n) if iters[d] == "parallel"]
    args: list[tuple[str, str]] = []
    inputs: list[Any] = []
    operands: list[tuple[str, str, str]] = []  # (name, type, map) of inputs, then outputs
    fixed: set[int] = set(par)  # output maps use every parallel dimension plainly

    def add_input(exprs: list[str], shape: list[int]) -> None:
        tt = tensor(shape, t)
        name = f"x{len(operands)}"
        args.append((name, tt))
        inputs.append(draw(values(t, shape, lo=-4, hi=4, special=False)))
        operands.append((f"%{name}", tt, _affine(exprs, n)))

    for _ in range(draw(st.integers(1, 2))):
        dims = draw(st.permutations(list(range(n))))[:draw(st.integers(0, n))]
        exprs, shape = [], []
        for d in dims:
            kind = draw(st.sampled_from(("dim", "dim", "const", "div")))
            if kind == "const":
                exprs.append("1")
                shape.append(2)
            elif kind == "div":
                exprs.append(f"d{d} floordiv 2")
                shape.append((extents[d] - 1) // 2 + 1)
            else:
                exprs.append(f"d{d}")
                shape.append(extents[d])
                fixed.add(d)
        add_input(exprs, shape)
    for d in range(n):
        if d not in fixed:  # every loop extent must come from a plain operand dimension
            add_input([f"d{d}"], [extents[d]])
    n_in = len(operands)
    body: list[str] = []
    lines: list[str] = []
    yields: list[str] = []
    reduction = "reduction" in iters
    for k in range(draw(st.integers(1, 2))):
        perm = draw(st.permutations(par))
        shape = [extents[d] for d in perm]
        tt = tensor(shape, t)
        style = draw(st.sampled_from(("sum", "max") if reduction else ("sum", "max",
                                                                       "overwrite")))
        source = draw(st.sampled_from(("arg", "splat", "empty") if style == "overwrite"
                                      else ("arg", "splat")))
        name = f"o{k}"
        if source == "arg":
            args.append((name, tt))
            inputs.append(draw(values(t, shape, lo=-4, hi=4, special=False)))
        elif source == "splat":
            body.append(f"%{name} = tensor.constant dense<{3 if t == 'i32' else 1.5}> : {tt}")
        else:
            body.append(f"%{name} = tensor.empty : {tt}")
        operands.append((f"%{name}", tt, _affine([f"d{d}" for d in perm], n)))
        prod = "%a0"
        for i in range(1, n_in):
            lines.append(f"  %p{k}_{i} = {mul} {prod}, %a{i} : {t}")
            prod = f"%p{k}_{i}"
        if style == "overwrite":
            lines.append(f"  %y{k} = {add} {prod}, {prod} : {t}")
        else:
            lines.append(f"  %y{k} = {add if style == 'sum' else mx} %b{k}, {prod} : {t}")
        yields.append(f"%y{k}")
    outs = operands[n_in:]
    block_args = [f"%a{i}: {t}" for i in range(n_in)] + [f"%b{k}: {t}" for k in range(len(outs))]
    maps = ", ".join(m for *_, m in operands)
    it_text = ", ".join(f'"{it}"' for it in iters)
    ins = operands[:n_in]
    body.append(f"%g:{len(outs)} = tensor.generic {{indexing_maps = [{maps}], "
                f"iterator_types = [{it_text}]}} "
                f"ins({', '.join(o for o, _, _ in ins)} : {', '.join(tt for _, tt, _ in ins)}) "
                f"outs({', '.join(o for o, _, _ in outs)} : "
                f"{', '.join(tt for _, tt, _ in outs)}) {{")
    body.append(f"^bb0({', '.join(block_args)}):")
    body.extend(lines)
    body.append(f"  tensor.yield {', '.join(yields)} : {', '.join([t] * len(yields))}")
    body.append("}")
    results = [(f"g#{k}", tt) for k, (_, tt, _) in enumerate(outs)]
    return Case(func(args, results, body), inputs)


CASES: dict[str, st.SearchStrategy[Case]] = {
    "unary": unary_cases(), "binary": binary_cases(), "cmp": compare_cases(),
    "select": select_cases(), "cast": cast_cases(), "broadcast": broadcast_cases(),
    "transpose": transpose_cases(), "reshape": reshape_cases(), "slice": slice_cases(),
    "pad": pad_cases(), "concat": concat_cases(), "gather": gather_cases(),
    "reduce": reduce_cases(), "argmax": argmax_cases(), "matmul": matmul_cases(),
    "conv": conv_cases(), "pool": pool_cases(), "iota": iota_cases(),
    "random": random_cases(), "constant": constant_cases(), "generic": generic_cases(),
}


# --------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_op_lowers_to_loops(name: str, data: st.DataObject) -> None:
    lowered = check(data.draw(CASES[name]), LOWER)
    names = {op.name for op in lowered.walk_ops()}
    assert "memory.fill" not in names  # lower-to-loops expanded every fill ...
    assert "memory.copy" not in names  # ... and every copy (all are between disjoint storage)


@pytest.mark.parametrize("op", sorted({*UNARY_FLOAT, *UNARY_INT}))
def test_every_unary_op(op: str) -> None:
    t = "i32" if op == "not" else "f32"
    x = np.array([[-1.5, 0.0, 2.25], [3.0, -0.5, 7.0]]).astype(NUMPY[t])
    check(unary_case(op, t, x), LOWER)


@pytest.mark.parametrize("op", sorted({*BINARY_FLOAT, *BINARY_INT}))
def test_every_binary_op(op: str) -> None:
    t = "f32" if op in BINARY_FLOAT else "i32"
    a = np.array([[-7, 0, 5], [9, -3, 2]]).astype(NUMPY[t])
    b = np.array([[2, 3, -4], [5, 1, 7]]).astype(NUMPY[t])
    check(binary_case(op, t, a, b), LOWER)


@pytest.mark.parametrize("op", ["div", "rem"])
def test_integer_division_by_zero_is_reported_at_both_levels(op: str) -> None:
    case = binary_case(op, "i32", np.array([1, 2], np.int32), np.array([1, 0], np.int32))
    module = parse_module(case.src)
    with pytest.raises(InterpreterError, match="divides by zero"):
        interpret(module, case.inputs)
    with pytest.raises(InterpreterError, match="divides by zero"):
        call_bufferized(lower(module, LOWER), "f", case.inputs)


def test_saturating_float_to_int_cast() -> None:
    x = np.array([1e10, -1e10, np.nan, -2.7, 2.7, np.inf], np.float32)
    r = tensor((6,), "i8")
    case = Case(func([("x", tensor((6,), "f32"))], [("y", r)],
                     [f"%y = tensor.cast %x : {tensor((6,), 'f32')} to {r}"]), [x])
    check(case, LOWER)
    got, _ = call_bufferized(lower(parse_module(case.src), LOWER), "f", [x])
    assert got[0].tolist() == [127, -128, 0, -2, 2, 127]


def test_argmax_first_max_and_first_nan() -> None:
    x = np.array([[1.0, 3.0, 3.0, 2.0], [1.0, np.nan, 5.0, np.nan]], np.float32)
    a, r = tensor((2, 4), "f32"), tensor((2,), "i64")
    case = Case(func([("x", a)], [("y", r)], [f"%y = tensor.argmax %x, dim = 1 : {a} -> {r}"]),
                [x])
    got, _ = call_bufferized(check(case, LOWER), "f", [x])
    assert got[0].tolist() == [1, 1]


def test_reduce_identities_and_nan_propagation() -> None:
    a, r = tensor((2, 0), "f32"), tensor((2,), "f32")
    body = [f"%{k} = tensor.reduce {k}, %x, dims = [1] : {a} -> {r}"
            for k in ("sum", "prod", "max", "min")]
    case = Case(func([("x", a)], [(k, r) for k in ("sum", "prod", "max", "min")], body),
                [np.zeros((2, 0), np.float32)])
    got, _ = call_bufferized(check(case, LOWER), "f", case.inputs)
    assert [g.tolist() for g in got] == [[0, 0], [1, 1], [-np.inf] * 2, [np.inf] * 2]
    b = tensor((2, 3), "f32")
    nan = Case(func([("x", b)], [("m", r)], [f"%m = tensor.reduce max, %x, dims = [1] : {b} "
                                             f"-> {r}"]),
               [np.array([[1, np.nan, 2], [1, 2, 3]], np.float32)])
    got, _ = call_bufferized(check(nan, LOWER), "f", nan.inputs)
    assert np.isnan(got[0][0]) and got[0][1] == 3


def test_random_is_bit_identical_to_the_interpreter() -> None:
    r32, r64 = tensor((3, 5), "f32"), tensor((7,), "f64")
    src = func([("s", "tensor<i64>")], [("u", r32), ("v", r64), ("n", r32)],
               [f"%u = tensor.random_uniform %s : tensor<i64> -> {r32}",
                f"%v = tensor.random_uniform %s : tensor<i64> -> {r64}",
                f"%n = tensor.random_normal %s : tensor<i64> -> {r32}"])
    for seed in (0, 1, -1, 2 ** 40 + 3):
        check(Case(src, [np.array(seed, np.int64)]), LOWER)


def test_out_of_range_gather_indices_are_clamped_not_read_out_of_bounds() -> None:
    """The interpreter reports an out-of-range index at the tensor level; the loops clamp
    it, so neither they nor native code ever read outside the input buffer."""
    a, i, r = tensor((4,), "f32"), tensor((3,), "i64"), tensor((3,), "f32")
    src = func([("x", a), ("i", i)], [("y", r)],
               [f"%y = tensor.gather %x, %i, dim = 0 : ({a}, {i}) -> {r}"])
    x = np.array([10, 11, 12, 13], np.float32)
    idx = np.array([-5, 2, 99], np.int64)
    module = parse_module(src)
    with pytest.raises(InterpreterError, match="out of range"):
        interpret(module, [x, idx])
    got, _ = call_bufferized(lower(module, LOWER), "f", [x, idx])
    assert got[0].tolist() == [10, 12, 13]


# ------------------------------------------------------------- lower-to-loops on its own


COPY_FILL = """
func.func @f(%a: memref<2x3xf32>, %b: memref<2x3xf32>, %o: memref<2x3xf32> {avalon.out}) {
  %z = arith.constant 1.5 : f32
  %t = memory.alloc() : memref<2x3xf32>
  memory.fill %z, %t : memref<2x3xf32>
  %v = memory.transpose %a [1, 0] : memref<2x3xf32> to memref<3x2xf32, strided<[1, 3]>>
  %w = memory.alloc() : memref<3x2xf32>
  memory.copy %v, %w : memref<3x2xf32, strided<[1, 3]>> to memref<3x2xf32>
  memory.copy %a, %b : memref<2x3xf32> to memref<2x3xf32>
  memory.copy %t, %o : memref<2x3xf32> to memref<2x3xf32>
  memory.dealloc %t : memref<2x3xf32>
  memory.dealloc %w : memref<3x2xf32>
  return
}
"""


def test_lower_to_loops_expands_fills_and_disjoint_copies() -> None:
    module = parse_module(COPY_FILL)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    want = [a.copy(), np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)]
    run(module, "f", *want)
    lowered = lower(module, "func.func(lower-to-loops)")
    copies = [op for op in lowered.walk_ops() if op.name == "memory.copy"]
    # Only the copy between two plain arguments stays: they may alias.
    assert len(copies) == 1 and copies[0].operands[0].type == MemRefType((2, 3), copies[0]
                                                                          .operands[0].type
                                                                          .element_type)
    assert not [op for op in lowered.walk_ops() if op.name == "memory.fill"]
    got = [a.copy(), np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)]
    run(lowered, "f", *got)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)


def test_lower_to_loops_rejects_tensor_level_ir() -> None:
    module = parse_module(unary_case("neg", "f32", np.zeros(2, np.float32)).src)
    with pytest.raises(Exception, match="run 'bufferize' before 'lower-to-loops'"):
        lower(module, "func.func(lower-to-loops)")
