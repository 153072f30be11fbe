"""Tracing numpy code: the traced IR, run by the interpreter, equals numpy run eagerly."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import avalon
from avalon.frontend.tracer import TracingError
from avalon.ir.location import FileLineColLoc

FUNCS = {
    "arith": lambda x, y: (x + y) * 2.0 - y / (np.abs(x) + 1.0),
    "ufuncs": lambda x, y: np.exp(-x * x) + np.tanh(y) + np.sqrt(np.abs(x)) + np.log1p(y * y),
    "compare_where": lambda x, y: np.where(x > y, x, y * 0.5) + (x <= y),
    "maximum": lambda x, y: np.maximum(x, 0.25) + np.minimum(y, x),
    "reductions": lambda x, y: (x.sum(), y.mean(axis=0), x.max(axis=-1, keepdims=True),
                                np.min(y, axis=(0, 1)), x.var(), np.std(y, axis=1)),
    "broadcast": lambda x, y: x[:, :1] * y[:1, :] + x.sum(axis=0),
    "matmul": lambda x, y: x @ y.T + np.dot(x[0], y[0]),
    "shapes": lambda x, y: (x.T.reshape(-1), np.concatenate([x, y], axis=1),
                            np.stack([x, y]), np.expand_dims(x, 1).squeeze(1), x.ravel()),
    "indexing": lambda x, y: (x[1:, ::2], x[-1], x[..., 0], x[:, None], x[np.array([0, 0])]),
    "int_math": lambda x, y: ((x * 10).astype(np.int32) // 3, (-(y * 10).astype(np.int64)) % 4),
    "argmax": lambda x, y: (np.argmax(x, axis=1), x.argmin(axis=0), np.argmax(y)),
    "python_scalars_are_weak": lambda x, y: x * 3 + 1.5,
    "powers": lambda x, y: x ** 2 + np.square(y) + np.abs(x) ** 0.5,
    "logsumexp": lambda x, y: np.log(np.exp(x - x.max(1, keepdims=True)).sum(1)),
    "clip_take": lambda x, y: np.clip(x, -0.5, 0.5) + np.take(y, np.array([1, 0]), axis=0)[:1],
}


@pytest.mark.parametrize("name", sorted(FUNCS))
@given(rows=st.integers(2, 4), cols=st.integers(2, 5), seed=st.integers(0, 2**31 - 1),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_traced_function_matches_numpy(name, rows, cols, seed, dtype):
    fn = FUNCS[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols)).astype(dtype)
    y = rng.standard_normal((rows, cols)).astype(dtype)
    expected = fn(x, y)
    got = avalon.jit(fn)(x, y)
    exp_leaves = expected if isinstance(expected, tuple) else (expected,)
    got_leaves = got if isinstance(got, tuple) else (got,)
    assert len(got_leaves) == len(exp_leaves)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, e in zip(got_leaves, exp_leaves, strict=True):
        g, e = np.asarray(g), np.asarray(e)
        assert g.shape == e.shape
        assert g.dtype == e.dtype, f"dtype {g.dtype} != numpy's {e.dtype}"
        np.testing.assert_allclose(g, e, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_traced_function_compiles_natively(name):
    """The same programs through cpu-pipeline and LLVM agree with numpy (no fallback)."""
    import warnings

    from avalon.frontend.executable import CompilationWarning

    fn = FUNCS[name]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y = rng.standard_normal((3, 4)).astype(np.float32)
    expected = fn(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompilationWarning)
        got = avalon.jit(fn, backend="cpu")(x, y)
    exp_leaves = expected if isinstance(expected, tuple) else (expected,)
    got_leaves = got if isinstance(got, tuple) else (got,)
    for g, e in zip(got_leaves, exp_leaves, strict=True):
        assert np.asarray(g).dtype == np.asarray(e).dtype
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_ops_carry_the_users_source_location():
    def f(x):
        return np.exp(x) + 1.0

    module = avalon.trace(f, np.ones(3, np.float32))
    exp_op = next(op for op in module.walk_ops() if op.name == "tensor.exp")
    loc = exp_op.location
    assert isinstance(loc, FileLineColLoc)
    assert loc.filename == __file__
    assert loc.line == f.__code__.co_firstlineno + 1
    assert loc.col == len("        return ") + 1


def test_data_dependent_control_flow_names_the_users_line():
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(TracingError) as info:
        avalon.trace(f, np.ones(3))
    msg = str(info.value)
    assert "data-dependent Python control flow" in msg
    assert f"{__file__}:{f.__code__.co_firstlineno + 1}" in msg
    assert "if x.sum() > 0:" in msg


@pytest.mark.parametrize("fn, fragment", [
    (lambda x: np.fft.fft(x), "np.fft.fft"),
    (lambda x: np.cumsum(x), "np.cumsum"),
    (lambda x: np.arctan2(x, x), "np.arctan2"),
    (lambda x: float(x[0]), "float() conversion"),
    (lambda x: np.asarray(x).tolist(), "tolist"),
    (lambda x: x[x > 0], "boolean mask"),
    (lambda x: x[::-1], "negative slice steps"),
])
def test_unsupported_operations_raise_clear_errors(fn, fragment):
    with pytest.raises(TracingError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        avalon.trace(fn, np.ones(4))


def test_item_assignment_is_rejected():
    def f(x):
        x[0] = 1.0
        return x

    with pytest.raises(TracingError, match="immutable"):
        avalon.trace(f, np.ones(3))


def test_shape_errors_match_numpy():
    with pytest.raises(ValueError):
        avalon.trace(lambda x, y: x + y, np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="core dimension"):
        avalon.trace(lambda x, y: x @ y, np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(IndexError):
        avalon.trace(lambda x: x[5], np.ones(3))


def test_pytree_arguments_and_results():
    params = {"w": np.ones((3, 2), np.float32), "b": np.zeros(2, np.float32), "name": "lin"}

    def f(p, xs):
        assert p["name"] == "lin"  # static leaves are plain Python values while tracing
        return {"out": [x @ p["w"] + p["b"] for x in xs], "tag": p["name"]}

    xs = (np.ones((1, 3), np.float32), np.full((2, 3), 2.0, np.float32))
    out = avalon.jit(f)(params, xs)
    assert out["tag"] == "lin"
    np.testing.assert_allclose(out["out"][1], np.full((2, 2), 6.0))
    module = avalon.trace(f, params, xs)
    func = module.body.first_op
    assert len(func.type.inputs) == 4 and len(func.type.results) == 2
