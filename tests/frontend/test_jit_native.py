"""``avalon.jit`` on native code: equal to the interpreter, debug dumps, cache, argument checks.

Every comparison runs the same function twice, through the CPU backend (the default) and
through ``jit(..., backend="interpreter")``, and fails if a :class:`CompilationWarning` is
emitted: a silent fall-back to the interpreter would make the comparison vacuous.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import avalon
from avalon.backends.cpu import CACHE_STATS, compile_module
from avalon.frontend import ops
from avalon.frontend.executable import CompilationWarning
from avalon.frontend.tracer import _context
from avalon.ir import types as T
from avalon.ir.dialects import tensor as tn
from avalon.passes.pipeline import parse_pipeline

#: Each hypothesis example compiles two or three native functions; keep the file fast.
COMPILING = settings(max_examples=min(30, settings().max_examples))


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Compile into a throwaway cache (and never dump), whatever the environment says."""
    saved = {k: os.environ.get(k) for k in ("AVALON_CACHE_DIR", "AVALON_DEBUG_DIR",
                                            "AVALON_BACKEND")}
    root = tmp_path_factory.mktemp("jit-native-cache")
    os.environ["AVALON_CACHE_DIR"] = str(root)
    os.environ.pop("AVALON_DEBUG_DIR", None)
    os.environ.pop("AVALON_BACKEND", None)
    yield root
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def native_and_interpreted(fn: Callable, *args: Any) -> tuple[Any, Any]:
    """``fn(*args)`` through native code and through the interpreter; the native path must
    really compile (a CompilationWarning fails the test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompilationWarning)
        native = avalon.jit(fn, backend="cpu")(*args)
    reference = avalon.jit(fn, backend="interpreter")(*args)
    return native, reference


def assert_same(native: Any, reference: Any, rtol: float = 0.0, atol: float = 0.0) -> None:
    """Equal structure, dtypes and shapes; values equal (exactly, or within tolerances)."""
    n_leaves = avalon.frontend.pytree.flatten(native)[0]
    r_leaves = avalon.frontend.pytree.flatten(reference)[0]
    assert len(n_leaves) == len(r_leaves)
    for a, b in zip(n_leaves, r_leaves, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
        if rtol or atol:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(a, b)


def tolerance(dtype: np.dtype) -> dict[str, float]:
    """libm and LLVM's intrinsics agree with numpy to a few ulps, which a chain amplifies."""
    return {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12,
                                                                       "atol": 1e-13}


# ---------------------------------------------------------------- random programs and grads

UNARY: list[Callable[[Any], Any]] = [
    np.tanh, np.sin, np.abs, np.negative, lambda v: np.exp(np.tanh(v)),
    lambda v: np.maximum(v, 0.1), lambda v: v * v, lambda v: np.sqrt(v * v + 1.0),
    lambda v: 1.0 / (1.0 + np.exp(-v)), lambda v: np.log(v * v + 1.0),
]
BINARY: list[Callable[[Any, Any], Any]] = [
    np.add, np.subtract, np.multiply, np.maximum, np.minimum, lambda a, b: a / (b * b + 1.0),
]
REDUCE: list[Callable[[Any], Any]] = [  # keepdims: results still broadcast with the rest
    lambda v: v.sum(axis=0, keepdims=True) if v.ndim else v * 2.0,
    lambda v: v.max(axis=-1, keepdims=True) if v.ndim else -v,
    lambda v: v.mean(axis=-1, keepdims=True) if v.ndim else v + 1.0,
    lambda v: v - v.sum(),
]


@st.composite
def programs(draw: st.DrawFn) -> tuple[Callable, np.ndarray, np.ndarray, list[tuple]]:
    """A random composition of 2-6 traced numpy ops on ``x [r, c]`` and a broadcastable
    ``y``, with fan-out (later ops may reuse any earlier value)."""
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    y_shape = draw(st.sampled_from([(rows, cols), (cols,), (rows, 1), (1, cols), ()]))
    values = st.floats(-2.0, 2.0, allow_nan=False, width=32)
    x = draw(hnp.arrays(dtype, (rows, cols), elements=values))
    y = draw(hnp.arrays(dtype, y_shape, elements=values))
    steps = []
    for _ in range(draw(st.integers(2, 6))):
        kind = draw(st.sampled_from(["unary", "binary", "reduce"]))
        table = {"unary": UNARY, "binary": BINARY, "reduce": REDUCE}[kind]
        steps.append((kind, draw(st.integers(0, len(table) - 1)), draw(st.integers(0, 9)),
                      draw(st.integers(0, 9))))

    def program(x: Any, y: Any) -> Any:
        env = [x, y]
        for kind, k, i, j in steps:
            a, b = env[i % len(env)], env[j % len(env)]
            if kind == "unary":
                env.append(UNARY[k](a))
            elif kind == "binary":
                env.append(BINARY[k](a, b))
            else:
                env.append(REDUCE[k](a))
        return env[-1] + env[-2] * 0.5  # use two results: several live values at the end

    return program, x, y, steps


@COMPILING
@given(programs())
def test_random_programs_native_equals_interpreter(case: tuple) -> None:
    program, x, y, _ = case
    native, reference = native_and_interpreted(program, x, y)
    assert_same(native, reference, **tolerance(x.dtype))


@COMPILING
@given(programs())
def test_random_program_gradients_native_equal_interpreter(case: tuple) -> None:
    program, x, y, _ = case

    def loss(x: Any, y: Any) -> Any:
        return (program(x, y) ** 2).sum()

    native, reference = native_and_interpreted(avalon.value_and_grad(loss, argnums=(0, 1)),
                                               x, y)
    _, (gx, gy) = native
    assert np.shape(gx) == x.shape and np.shape(gy) == y.shape
    assert_same(native, reference, **{k: 10 * v for k, v in tolerance(x.dtype).items()})


def test_a_training_step_with_in_place_style_update_runs_natively() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3))
    x, t = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))

    def objective(w: Any, x: Any, t: Any) -> Any:
        return ((np.tanh(x @ w) - t) ** 2).mean()

    def step(w: Any, x: Any, t: Any) -> Any:
        loss, g = avalon.value_and_grad(objective)(w, x, t)
        return loss, w - 0.1 * g

    native, reference = native_and_interpreted(step, w, x, t)
    assert_same(native, reference, rtol=1e-12, atol=1e-14)
    assert native[0] > 0 and not np.allclose(native[1], w)


# ------------------------------------------------------------------------- op families


def emit(op_class: Any, *inputs: Any, result_type: T.Type | None = None, **attrs: Any) -> Any:
    """Record one tensor op in the current trace (for ops numpy has no spelling for)."""
    ctx = _context(*inputs) if inputs else None
    if ctx is None:
        from avalon.frontend.tracer import TraceContext

        ctx = TraceContext.current()
    values = [ctx.constant(v).value if not hasattr(v, "value") else v.value for v in inputs]
    types = None if result_type is None else [result_type]
    return ctx.wrap(ctx.emit(op_class, *values, result_types=types, **attrs))


rng0 = np.random.default_rng(7)
F32 = rng0.standard_normal((3, 4)).astype(np.float32)
F64 = rng0.standard_normal((2, 3, 4))
POS = np.abs(F64) + 0.5
I64 = rng0.integers(-9, 9, (3, 4))
I32 = rng0.integers(1, 50, (3, 4)).astype(np.int32)
IMG = rng0.standard_normal((2, 4, 7, 6)).astype(np.float32)
KER = rng0.standard_normal((6, 4, 3, 2)).astype(np.float32)
BIG = rng0.standard_normal(3000).astype(np.float32)  # a non-splat constant over 1 KiB

FAMILIES: dict[str, tuple[Callable, tuple]] = {
    # elementwise unary (tensor.neg/abs/exp/log/tanh/sqrt/rsqrt/sin/cos/erf/log1p/expm1/
    # floor/ceil/sign/not)
    "unary-float": (lambda x, p: (-x, np.abs(x), np.exp(x), np.log(p), np.tanh(x), np.sqrt(p),
                                  ops.rsqrt(p), np.sin(x), np.cos(x), ops.erf(x), np.log1p(p),
                                  np.expm1(x), np.floor(x * 3), np.ceil(x * 3), np.sign(x)),
                    (F64, POS)),
    "unary-f32": (lambda x: (np.exp(x), np.tanh(x), ops.erf(x), np.log1p(np.abs(x))), (F32,)),
    "unary-int": (lambda i: (~i, -i, np.abs(i), np.sign(i)), (I64,)),
    # elementwise binary (tensor.add/sub/mul/div/rem/pow/max/min/and/or/xor)
    "binary-float": (lambda a, b: (a + b, a - b, a * b, a / b, a % b, np.power(np.abs(a), b),
                                   np.maximum(a, b), np.minimum(a, b)), (F64, POS)),
    "binary-int": (lambda a, b: (a + b, a - b, a * b, a // b, a % b, a & b, a | b, a ^ b,
                                 np.maximum(a, b), np.minimum(a, b)), (I64, I32)),
    # tensor.cmp (all predicates), tensor.select, tensor.cast
    "compare-select": (lambda a, b: (a < b, a <= b, a > b, a >= b, a == b, a != b,
                                     np.where(a > b, a, b), np.logical_and(a > 0, b > 0)),
                       (F64, F64[::-1].copy())),
    "cast": (lambda x, i: (x.astype(np.int32), x.astype(np.float32), i.astype(np.float64),
                           (x > 0).astype(np.float64), i.astype(np.int8)), (F64 * 40, I64)),
    # structural: broadcast, reshape, transpose, slice, concat, pad
    "broadcast": (lambda x, v: (np.broadcast_to(v, (3, 3, 4)) + x[0, 0], x + v), (F64, F64[0, 0])),
    "reshape-transpose": (lambda x: (x.reshape(4, 6), x.transpose(2, 0, 1), x.T.reshape(-1)),
                          (F64,)),
    "slice": (lambda x: (x[1:, ::2], x[..., 1:3], x[0, 1::3]), (F64,)),
    "concat": (lambda a, b: (np.concatenate([a, b], axis=1), np.stack([a, b]),
                             np.concatenate([a, a * 2, b], axis=0)), (F32, F32 + 1)),
    "pad": (lambda x: emit(tn.PadOp, x, np.asarray(-1.5, np.float32), low=[1, 0], high=[0, 2],
                           interior=[1, 1]), (F32,)),
    # data movement and generators: gather, iota, constants, argmax
    "gather": (lambda x, idx: (np.take(x, idx, axis=1), np.take_along_axis(
        x, np.argsort(I64, axis=1)[:, :2], axis=1)), (F32, np.array([3, 0, 0, 2]))),
    "iota": (lambda x: x + emit(tn.IotaOp, result_type=T.TensorType((3, 4), T.f32), dim=1),
             (F32,)),
    "constants": (lambda x: (x * np.float32(2), x + np.arange(12, dtype=np.float32).reshape(3, 4),
                             (BIG + x.sum()) * BIG[::-1]), (F32,)),
    "argmax": (lambda x: (np.argmax(x, axis=1), np.argmin(x, axis=0), x.argmax()), (F64,)),
    # reductions
    "reduce": (lambda x: (x.sum(axis=(0, 2)), x.max(axis=1), x.min(axis=-1, keepdims=True),
                          x.prod(axis=0), x.mean()), (F64,)),
    "reduce-f32": (lambda x: (x.sum(axis=0), x.max(), x.mean(axis=1)), (F32,)),
    # matmul (batched, vector cases)
    "matmul": (lambda a, b, v: (a @ b, a[0] @ b[0], a @ v, v @ b[0]),
               (F64, F64.transpose(0, 2, 1).copy(), F64[0, 0])),
    "matmul-f32": (lambda a, b: a @ b, (F32, F32.T.copy())),
    # conv and pool
    "conv2d": (lambda x, w: (ops.conv(x, w, stride=(2, 1), padding=1),
                             ops.conv(x, w[:, :, :2, :], dilation=(1, 2), padding=((1, 0), (0, 2))),
                             ops.conv(x, w[:, :2], groups=2)), (IMG, KER)),
    "conv1d": (lambda x, w: ops.conv(x, w, padding=2), (IMG[:, :, 0, :], KER[:, :, 0, :])),
    "pool": (lambda x: (ops.pool(x, "max", (2, 2)), ops.pool(x, "avg", (3, 2), stride=1,
                                                             padding=1),
                        ops.pool(x, "avg", (2, 3), stride=(1, 2), padding=(1, 1),
                                 count_include_pad=False)), (IMG,)),
    # random numbers (explicit seed operand)
    "random": (lambda s: (ops.random_uniform(s, (4, 5)), ops.random_normal(s, (7,),
                                                                            np.float64)),
               (ops.seed_array(1234),)),
    # stop_gradient
    "stop-gradient": (lambda x: avalon.stop_gradient(x) * 2, (F32,)),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_op_family_native_equals_interpreter(family: str) -> None:
    fn, args = FAMILIES[family]
    native, reference = native_and_interpreted(fn, *args)
    exact = family in ("unary-int", "binary-int", "compare-select", "cast", "broadcast",
                       "reshape-transpose", "slice", "concat", "pad", "gather", "iota",
                       "argmax", "random", "stop-gradient")
    if exact:
        assert_same(native, reference)
    else:
        assert_same(native, reference, rtol=1e-5, atol=1e-5)


def test_nn_layers_and_their_gradients_run_natively() -> None:
    """Conv, pooling, gather-based losses and their VJPs (flips, pads, scatters) compile."""
    from avalon.nn import Conv2d, Linear, logsoftmax, maxpool2d, nll_loss, relu

    avalon.nn.init.manual_seed(0)
    conv, fc = Conv2d(2, 3, 3), Linear(12, 4)
    x = IMG[:, :2, :6, :6].copy()
    y = np.array([1, 3])

    def loss(params: Any, x: Any, y: Any) -> Any:
        conv, fc = params
        h = maxpool2d(relu(conv(x)), 2)
        return nll_loss(logsoftmax(fc(h.reshape(2, 12)), axis=1), y)

    native, reference = native_and_interpreted(avalon.value_and_grad(loss), (conv, fc), x, y)
    assert_same(native, reference, rtol=1e-4, atol=1e-5)


def test_large_constant_is_stored_once_from_read_only_data() -> None:
    """A 30,000-element constant lowers to one vector.store (a memcpy natively), not a
    straight-line run of stores that grows LLVM's scheduling time quadratically."""
    table = np.random.default_rng(3).standard_normal((100, 300)).astype(np.float32)

    def f(x: Any) -> Any:
        return x + table

    x = np.ones((100, 300), np.float32)
    native, reference = native_and_interpreted(f, x)
    assert_same(native, reference)
    lowered = avalon.jit(f, backend="cpu").lower(x).clone()
    parse_pipeline("cpu-pipeline").run(lowered)
    stores = [op for op in lowered.walk_ops() if op.name == "vector.store"]
    assert len(stores) == 1 and stores[0].operands[0].type.shape == (30000,)


# ------------------------------------------------------------------------------ debug dumps


def _check_dump(root: Path) -> None:
    dumps = [p for p in root.iterdir() if p.is_dir()]
    assert len(dumps) == 1, sorted(root.iterdir())
    d = dumps[0]
    tensor_ir = (d / "00-tensor.mlir").read_text()
    assert "func.func @main" in tensor_ir and "tensor.tanh" in tensor_ir
    after = sorted(p.name for p in (d / "passes").rglob("*.mlir"))
    for name in ("canonicalize", "cse", "generalize", "fuse-elementwise", "bufferize",
                 "lower-to-loops", "hoist", "plan-memory"):
        assert any(name in p for p in after), (name, after)
    bufferized = next((d / "passes").rglob("*bufferize.mlir")).read_text()
    assert "IR Dump After" in bufferized and "memref<" in bufferized
    assert "loop." in (d / "01-lowered.mlir").read_text()
    assert "loc(" in (d / "input.mlir").read_text()
    assert 'define void @"main__avalon_packed"' in (d / "llvm-unoptimized.ll").read_text()
    assert "define" in (d / "llvm-optimized.ll").read_text()
    assert "main__avalon_packed:" in (d / "assembly.s").read_text()
    meta = json.loads((d / "compile.json").read_text())
    assert meta["functions"] == ["main"] and {"optimize", "emit"} <= set(meta["timings"])


def test_debug_dir_argument_dumps_every_stage(tmp_path: Path) -> None:
    fn = avalon.jit(lambda x: np.tanh(x) * 2.0 + 1.0, backend="cpu", debug_dir=tmp_path)
    x = np.linspace(-1, 1, 8)
    np.testing.assert_allclose(fn(x), np.tanh(x) * 2 + 1, rtol=1e-14)
    _check_dump(tmp_path)


def test_debug_env_var_dumps_every_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVALON_DEBUG_DIR", str(tmp_path))
    monkeypatch.setenv("AVALON_BACKEND", "cpu")
    fn = avalon.jit(lambda x: np.tanh(x).sum(axis=0))
    np.testing.assert_allclose(fn(np.ones((3, 2))), np.tanh(np.ones((3, 2))).sum(axis=0))
    _check_dump(tmp_path)


def test_ir_dumping_doc_example_prints_the_listing_it_shows(capsys: pytest.CaptureFixture) -> None:
    """docs/ir-dumping.md's jit section: its example runs and prints the file list shown."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "ir-dumping.md"
    section = doc.read_text().split("## Dumps from `avalon.jit`", 1)[1]
    code, shown = re.search(r"```python\n(.*?)```\n\nprints\n\n```\n(.*?)```", section,
                            flags=re.S).groups()
    exec(compile(code, f"{doc.name}[jit dumps]", "exec"), {"__name__": "doc_example"})
    assert capsys.readouterr().out == shown


def test_backend_switch_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AVALON_BACKEND", "interpreter")
    monkeypatch.setenv("AVALON_DEBUG_DIR", str(tmp_path))
    assert avalon.jit(lambda x: x + 1)(np.ones(2)).tolist() == [2.0, 2.0]
    assert not any(tmp_path.iterdir())  # the interpreter compiles nothing
    monkeypatch.setenv("AVALON_BACKEND", "gpu-of-the-future")
    with pytest.raises(ValueError, match="AVALON_BACKEND"):
        avalon.jit(lambda x: x + 1)(np.ones(2))


# ----------------------------------------------------------------------- persistent cache


def _entries(cache_root: Path) -> list[Path]:
    return sorted((cache_root / "cpu").glob("*.o"))


@pytest.mark.parametrize("damage", ["object", "metadata", "truncate"])
def test_corrupt_cache_entry_is_survived(damage: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVALON_CACHE_DIR", str(tmp_path))

    def f(x: Any) -> Any:
        return np.exp(x) - x * 3.0

    x = np.linspace(0, 1, 5)
    expected = np.exp(x) - x * 3.0
    np.testing.assert_allclose(avalon.jit(f, backend="cpu")(x), expected, rtol=1e-15)
    [obj] = _entries(tmp_path)
    meta = obj.with_suffix(".json")
    if damage == "object":
        obj.write_bytes(b"\x7fELF garbage" * 7)
    elif damage == "metadata":
        meta.write_text("{not json")
    else:
        obj.write_bytes(obj.read_bytes()[:100])
    CACHE_STATS.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompilationWarning)
        fresh = avalon.jit(f, backend="cpu")
        np.testing.assert_allclose(fresh(x), expected, rtol=1e-15)
    assert CACHE_STATS.corrupt == 1 and CACHE_STATS.stores == 1
    assert fresh.timings["cache_hit"] == 0.0
    again = avalon.jit(f, backend="cpu")  # the entry was rewritten whole: the next compile hits it
    np.testing.assert_allclose(again(x), expected, rtol=1e-15)
    assert again.timings["cache_hit"] == 1.0 and CACHE_STATS.hits == 1


def test_corrupt_cache_entry_is_survived_by_a_fresh_process(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import warnings, numpy as np, avalon
        from avalon.frontend.executable import CompilationWarning
        warnings.simplefilter("error", CompilationWarning)
        f = avalon.jit(lambda x: np.sin(x) * x, backend="cpu")
        out = f(np.arange(4.0))
        assert np.allclose(out, np.sin(np.arange(4.0)) * np.arange(4.0))
        print(int(f.timings["cache_hit"]))
    """)
    env = dict(os.environ, AVALON_CACHE_DIR=str(tmp_path))
    env.pop("AVALON_DEBUG_DIR", None)

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run() == "0"  # cold: compiled and stored
    assert run() == "1"  # warm: a second process loads it from disk
    for obj in _entries(tmp_path):
        obj.write_bytes(os.urandom(64))
    assert run() == "0"  # damaged: detected, recompiled, stored again
    assert run() == "1"


# ----------------------------------------------------------------------- argument checking


def _compiled_main(fn: Callable, *args: Any) -> Any:
    """The public compiled-function API for what ``jit`` compiles: lower the traced IR with
    ``cpu-pipeline`` and compile it with the CPU backend."""
    module = avalon.jit(fn, backend="cpu").lower(*args).clone()
    parse_pipeline("cpu-pipeline").run(module)
    return module, compile_module(module).function("main")


def test_wrong_arguments_to_a_compiled_function_name_argument_expected_and_actual() -> None:
    x, w = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    _, main = _compiled_main(lambda x, w: np.tanh(x @ w), x, w)
    np.testing.assert_allclose(main(x, w), np.tanh(x @ w), rtol=1e-6)
    with pytest.raises(ValueError) as info:
        main(np.ones((3, 3), np.float32), w)
    assert "argument #0" in str(info.value) and "(2, 3)" in str(info.value) \
        and "(3, 3)" in str(info.value)
    with pytest.raises(TypeError) as info:
        main(x, w.astype(np.float64))
    assert "argument #1" in str(info.value) and "float32" in str(info.value) \
        and "float64" in str(info.value)
    with pytest.raises(TypeError, match="takes 3 arguments"):
        main(x)
    with pytest.raises(TypeError, match=r"argument #1.*got a Python float"):
        main(x, 2.0)
    with pytest.raises(ValueError, match=r"argument #1.*shape \(3, 4\).*\(3, 2\)"):
        main(x, w[:, ::2])


def test_argument_names_from_the_ir_appear_in_errors() -> None:
    x = np.ones(4, np.float32)
    module, _ = _compiled_main(lambda x: x * 2.0, x)
    from avalon.ir.attributes import ArrayAttr, DictAttr, StringAttr

    fn = next(op for op in module.walk_ops() if op.name == "func.func")
    dicts = list(fn.attributes["arg_attrs"].elements)
    dicts[0] = DictAttr.of({"avalon.name": StringAttr("pixels")})
    dicts[1] = DictAttr.of({**dicts[1].as_dict(), "avalon.name": StringAttr("result")})
    fn.attributes["arg_attrs"] = ArrayAttr(tuple(dicts))
    main = compile_module(module).function("main")
    with pytest.raises(TypeError, match=r"argument #0 \('pixels'\).*float32.*int64"):
        main(np.ones(4, np.int64))
    with pytest.raises(ValueError, match=r"'result'.*\(4,\).*\(5,\)"):
        main(x, np.empty(5, np.float32))
