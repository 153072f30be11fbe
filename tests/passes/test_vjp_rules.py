"""Every differentiable tensor op: reverse-mode gradients against finite differences.

Hypothesis draws shapes (with size-1 dimensions), attributes and a seed for the values; the
values are drawn away from kinks, ties and singularities so that central differences are
accurate. Each test differentiates with a random output cotangent (a VJP), so a rule that
mixes up elements fails even where a gradient of the plain sum would not show it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradcheck import away_from_zero, check_vjp, make_module, spaced, t64
from hypothesis import given
from hypothesis import strategies as st

from avalon.backends.interpreter import run
from avalon.ir.attributes import DenseElementsAttr
from avalon.ir.dialects import tensor as T
from avalon.ir.types import TensorType, f32, i1, i32, i64
from avalon.passes.autodiff import differentiate

seeds = st.integers(0, 2**32 - 1)
shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


def rng_of(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def fractional(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values whose fractional part is in [0.2, 0.8] (away from floor/ceil jumps)."""
    return rng.integers(-3, 3, size=shape) + rng.uniform(0.2, 0.8, size=shape)


def _dense(array, t):
    return DenseElementsAttr(np.asarray(array), t)


# ------------------------------------------------------------------------------- unary

UNARY = {
    "neg": (T.NegOp, lambda r, s: r.uniform(-2, 2, s)),
    "abs": (T.AbsOp, away_from_zero),
    "exp": (T.ExpOp, lambda r, s: r.uniform(-2, 2, s)),
    "log": (T.LogOp, lambda r, s: r.uniform(0.3, 3, s)),
    "tanh": (T.TanhOp, lambda r, s: r.uniform(-2, 2, s)),
    "sqrt": (T.SqrtOp, lambda r, s: r.uniform(0.3, 3, s)),
    "rsqrt": (T.RsqrtOp, lambda r, s: r.uniform(0.3, 3, s)),
    "sin": (T.SinOp, lambda r, s: r.uniform(-3, 3, s)),
    "cos": (T.CosOp, lambda r, s: r.uniform(-3, 3, s)),
    "erf": (T.ErfOp, lambda r, s: r.uniform(-2, 2, s)),
    "log1p": (T.Log1pOp, lambda r, s: r.uniform(-0.6, 2, s)),
    "expm1": (T.Expm1Op, lambda r, s: r.uniform(-2, 2, s)),
    "floor": (T.FloorOp, fractional),
    "ceil": (T.CeilOp, fractional),
    "sign": (T.SignOp, away_from_zero),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary(name, shape, seed):
    cls, draw = UNARY[name]
    rng = rng_of(seed)
    x = np.asarray(draw(rng, shape), dtype=np.float64)
    m = make_module([t64(*shape)], lambda b, a: b.create(cls, a[0]).result)
    check_vjp(m, [x], [0], rng)


# ------------------------------------------------------------------------------ binary


def _binary_values(name: str, rng: np.random.Generator, shape: tuple[int, ...]):
    if name in ("max", "min"):
        both = spaced(rng, (2, *shape))
        return both[0], both[1]
    if name == "div":
        return rng.uniform(-2, 2, shape), away_from_zero(rng, shape)
    if name == "pow":
        return rng.uniform(0.3, 2, shape), rng.uniform(-2, 2, shape)
    if name == "rem":
        y = away_from_zero(rng, shape, 0.5, 2.0)
        return y * fractional(rng, shape), y
    return rng.uniform(-2, 2, shape), rng.uniform(-2, 2, shape)


BINARY = {"add": T.AddOp, "sub": T.SubOp, "mul": T.MulOp, "div": T.DivOp, "pow": T.PowOp,
          "max": T.MaxOp, "min": T.MinOp, "rem": T.RemOp}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shape=shapes, seed=seeds)
def test_binary(name, shape, seed):
    rng = rng_of(seed)
    x, y = _binary_values(name, rng, shape)
    t = t64(*shape)
    m = make_module([t, t], lambda b, a: b.create(BINARY[name], a[0], a[1]).result)
    check_vjp(m, [np.asarray(x), np.asarray(y)], [0, 1], rng)


def test_binary_same_operand_accumulates():
    # x * x: both operand slots receive a cotangent for the same value.
    rng = rng_of(0)
    m = make_module([t64(3)], lambda b, a: b.create(T.MulOp, a[0], a[0]).result)
    (g,) = check_vjp(m, [rng.uniform(-2, 2, 3)], [0], rng)
    assert g.shape == (3,)


@given(shape=shapes, seed=seeds)
def test_select(shape, seed):
    rng = rng_of(seed)
    cond = rng.integers(0, 2, size=shape).astype(bool)

    def body(b, a):
        c = b.create(T.ConstantOp, value=_dense(cond, TensorType(shape, i1))).result
        return b.create(T.SelectOp, c, a[0], a[1]).result

    t = t64(*shape)
    m = make_module([t, t], body)
    check_vjp(m, [rng.uniform(-2, 2, shape), rng.uniform(-2, 2, shape)], [0, 1], rng)


def test_cast_float_round_trip_passes_gradient():
    # f64 -> f32 -> f64: the cotangent is cast back at each step (exact here: the cotangent
    # values are representable in f32).
    f32t = TensorType((4,), f32)

    def body(b, a):
        narrow = b.create(T.CastOp, a[0], result_types=[f32t]).result
        return b.create(T.CastOp, narrow, result_types=[t64(4)]).result

    m = make_module([t64(4)], body)
    differentiate(m, "f", [0], seed="argument")
    cot = np.array([0.5, -1.25, 2.0, 3.0])
    _, g = run(m, "f_grad", np.ones(4), cot)
    np.testing.assert_array_equal(g, cot)


def test_cast_through_integers_carries_no_gradient():
    # y = x * float(int(x)): the integer path is constant, so dy/dx = float(int(x)).
    i32t = TensorType((4,), i32)

    def body(b, a):
        as_int = b.create(T.CastOp, a[0], result_types=[i32t]).result
        back = b.create(T.CastOp, as_int, result_types=[t64(4)]).result
        return b.create(T.MulOp, a[0], back).result

    rng = rng_of(1)
    x = fractional(rng, (4,))
    m = make_module([t64(4)], body)
    (g,) = check_vjp(m, [x], [0], rng)
    assert np.any(g != 0)


# ---------------------------------------------------------------------- data movement


@st.composite
def broadcasts(draw):
    """An operand shape, the result shape and ``dims`` (with size-1 expansions)."""
    out = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    kept = draw(st.lists(st.booleans(), min_size=len(out), max_size=len(out)))
    dims = [i for i, k in enumerate(kept) if k]
    in_shape = [1 if draw(st.booleans()) else out[d] for d in dims]
    return tuple(in_shape), tuple(out), dims


@given(spec=broadcasts(), seed=seeds)
def test_broadcast(spec, seed):
    in_shape, out_shape, dims = spec
    rng = rng_of(seed)
    m = make_module([t64(*in_shape)], lambda b, a: b.create(
        T.BroadcastOp, a[0], dims=dims, result_types=[t64(*out_shape)]).result)
    check_vjp(m, [rng.uniform(-2, 2, in_shape)], [0], rng)


@given(shape=shapes, seed=seeds, data=st.data())
def test_reshape(shape, seed, data):
    n = math.prod(shape)
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    first = data.draw(st.sampled_from(divisors))
    target = data.draw(st.sampled_from([(n,), (first, n // first), (n // first, 1, first)]))
    rng = rng_of(seed)
    m = make_module([t64(*shape)], lambda b, a: b.create(
        T.ReshapeOp, a[0], result_types=[t64(*target)]).result)
    check_vjp(m, [rng.uniform(-2, 2, shape)], [0], rng)


@given(shape=shapes, seed=seeds, data=st.data())
def test_transpose(shape, seed, data):
    perm = data.draw(st.permutations(list(range(len(shape)))))
    rng = rng_of(seed)
    m = make_module([t64(*shape)], lambda b, a: b.create(
        T.TransposeOp, a[0], permutation=list(perm)).result)
    check_vjp(m, [rng.uniform(-2, 2, shape)], [0], rng)


@st.composite
def slices(draw):
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    start, limit, stride = [], [], []
    for n in shape:
        s = draw(st.integers(0, n - 1))
        start.append(s)
        limit.append(draw(st.integers(s + 1, n)))
        stride.append(draw(st.integers(1, 3)))
    return tuple(shape), start, limit, stride


@given(spec=slices(), seed=seeds)
def test_slice(spec, seed):
    shape, start, limit, stride = spec
    rng = rng_of(seed)
    m = make_module([t64(*shape)], lambda b, a: b.create(
        T.SliceOp, a[0], start=start, limit=limit, stride=stride).result)
    check_vjp(m, [rng.uniform(-2, 2, shape)], [0], rng)


@st.composite
def pads(draw):
    shape = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    amounts = st.lists(st.integers(0, 2), min_size=len(shape), max_size=len(shape))
    return tuple(shape), draw(amounts), draw(amounts), draw(amounts)


@given(spec=pads(), seed=seeds)
def test_pad(spec, seed):
    shape, low, high, interior = spec
    rng = rng_of(seed)
    m = make_module([t64(*shape), t64()], lambda b, a: b.create(
        T.PadOp, a[0], a[1], low=low, high=high, interior=interior).result)
    check_vjp(m, [rng.uniform(-2, 2, shape), np.asarray(rng.uniform(-2, 2))], [0, 1], rng)


@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3), seed=seeds, data=st.data())
def test_concat(shape, seed, data):
    d = data.draw(st.integers(0, len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    in_shapes = [tuple(s if i == d else n for i, n in enumerate(shape)) for s in sizes]
    rng = rng_of(seed)
    m = make_module([t64(*s) for s in in_shapes], lambda b, a: b.create(
        T.ConcatOp, inputs=a, dim=d).result)
    check_vjp(m, [rng.uniform(-2, 2, s) for s in in_shapes], list(range(len(sizes))), rng)


@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3), seed=seeds, data=st.data())
def test_gather(shape, seed, data):
    d = data.draw(st.integers(0, len(shape) - 1))
    m_out = data.draw(st.integers(1, 4))
    idx_shape = tuple(m_out if i == d else n for i, n in enumerate(shape))
    rng = rng_of(seed)
    idx = rng.integers(0, shape[d], size=idx_shape)  # repeats are likely: scatter must add

    def body(b, a):
        c = b.create(T.ConstantOp, value=_dense(idx, TensorType(idx_shape, i64))).result
        return b.create(T.GatherOp, a[0], c, dim=d).result

    m = make_module([t64(*shape)], body)
    check_vjp(m, [rng.uniform(-2, 2, shape)], [0], rng)


# ------------------------------------------------------------------------------ reductions


@given(shape=shapes, seed=seeds, data=st.data(),
       kind=st.sampled_from(["sum", "max", "min", "prod"]))
def test_reduce(shape, seed, data, kind):
    dims = sorted(data.draw(st.sets(st.integers(0, max(len(shape) - 1, 0)),
                                    max_size=len(shape))) if shape else set())
    rng = rng_of(seed)
    if kind in ("max", "min"):
        x = spaced(rng, shape)
    elif kind == "prod":
        x = away_from_zero(rng, shape, 0.5, 1.5)
    else:
        x = rng.uniform(-2, 2, shape)
    m = make_module([t64(*shape)], lambda b, a: b.create(
        T.ReduceOp, a[0], kind=kind, dims=dims).result)
    check_vjp(m, [np.asarray(x)], [0], rng)


# ---------------------------------------------------------------------------- contractions


@given(batch=st.lists(st.integers(1, 2), max_size=2), mkn=st.tuples(*[st.integers(1, 3)] * 3),
       seed=seeds)
def test_matmul(batch, mkn, seed):
    mm, k, n = mkn
    a_shape, b_shape = (*batch, mm, k), (*batch, k, n)
    rng = rng_of(seed)
    m = make_module([t64(*a_shape), t64(*b_shape)],
                    lambda b, a: b.create(T.MatmulOp, a[0], a[1]).result)
    check_vjp(m, [rng.uniform(-2, 2, a_shape), rng.uniform(-2, 2, b_shape)], [0, 1], rng)


@st.composite
def convs(draw):
    nsp = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 2))
    n = draw(st.integers(1, 2))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ks = [draw(st.integers(1, 3)) for _ in range(nsp)]
    stride = [draw(st.integers(1, 3)) for _ in range(nsp)]
    dilation = [draw(st.integers(1, 2)) for _ in range(nsp)]
    low = [draw(st.integers(0, 2)) for _ in range(nsp)]
    high = [draw(st.integers(0, 2)) for _ in range(nsp)]
    spatial = []
    for k, d, lo, hi in zip(ks, dilation, low, high):
        need = max(1, (k - 1) * d + 1 - lo - hi)
        spatial.append(draw(st.integers(need, need + 3 if nsp == 1 else need + 2)))
    x_shape = (n, groups * cg, *spatial)
    w_shape = (groups * og, cg, *ks)
    return x_shape, w_shape, dict(stride=stride, padding_low=low, padding_high=high,
                                  dilation=dilation, groups=groups)


@given(spec=convs(), seed=seeds)
def test_conv(spec, seed):
    x_shape, w_shape, attrs = spec
    rng = rng_of(seed)
    m = make_module([t64(*x_shape), t64(*w_shape)],
                    lambda b, a: b.create(T.ConvOp, a[0], a[1], **attrs).result)
    check_vjp(m, [rng.uniform(-1, 1, x_shape), rng.uniform(-1, 1, w_shape)], [0, 1], rng)


@st.composite
def pools(draw):
    nsp = draw(st.integers(1, 2))
    lead = draw(st.lists(st.integers(1, 2), max_size=2))
    window = [draw(st.integers(1, 3)) for _ in range(nsp)]
    stride = [draw(st.integers(1, 3)) for _ in range(nsp)]
    low = [draw(st.integers(0, w - 1)) for w in window]
    high = [draw(st.integers(0, w - 1)) for w in window]
    spatial = [draw(st.integers(max(1, w - lo - hi), max(1, w - lo - hi) + 3))
               for w, lo, hi in zip(window, low, high)]
    kind = draw(st.sampled_from(["max", "avg"]))
    attrs = dict(kind=kind, window=window, stride=stride, padding_low=low, padding_high=high)
    if kind == "avg":
        attrs["count_include_pad"] = draw(st.booleans())
    return (*lead, *spatial), attrs


@given(spec=pools(), seed=seeds)
def test_pool(spec, seed):
    shape, attrs = spec
    rng = rng_of(seed)
    x = spaced(rng, shape) if attrs["kind"] == "max" else rng.uniform(-2, 2, shape)
    m = make_module([t64(*shape)], lambda b, a: b.create(T.PoolOp, a[0], **attrs).result)
    check_vjp(m, [np.asarray(x)], [0], rng)


# ------------------------------------------------------------- non-differentiable points


def _grad(body, arg_types, args, wrt=(0,)):
    m = make_module(arg_types, body)
    differentiate(m, "f", list(wrt))
    return run(m, "f_grad", *args)[1:]


def test_max_min_split_ties_evenly():
    for cls in (T.MaxOp, T.MinOp):
        gx, gy = _grad(lambda b, a, c=cls: b.create(c, a[0], a[1]).result, [t64(3), t64(3)],
                       [np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])], (0, 1))
        assert gx[0] == gy[0] == 0.5
        assert gx[1] + gy[1] == 1.0 and gx[2] + gy[2] == 1.0


def test_abs_and_sign_at_zero():
    (g,) = _grad(lambda b, a: b.create(T.AbsOp, a[0]).result, [t64(3)],
                 [np.array([-1.0, 0.0, 2.0])])
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])
    (g,) = _grad(lambda b, a: b.create(T.SignOp, a[0]).result, [t64(2)],
                 [np.array([0.0, 2.0])])
    np.testing.assert_array_equal(g, [0.0, 0.0])


def test_pow_at_zero_base_and_zero_exponent():
    gx, gy = _grad(lambda b, a: b.create(T.PowOp, a[0], a[1]).result, [t64(3), t64(3)],
                   [np.array([0.0, 0.0, 2.0]), np.array([2.0, 0.0, 0.0])], (0, 1))
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0])  # 2*0**1; y == 0 gives 0
    np.testing.assert_array_equal(gy, [0.0, 0.0, math.log(2.0)])  # log(0) taken as 0


def test_reduce_max_ties_share_evenly():
    (g,) = _grad(lambda b, a: b.create(T.ReduceOp, a[0], kind="max", dims=[1]).result,
                 [t64(2, 3)], [np.array([[1.0, 3.0, 3.0], [4.0, 4.0, 4.0]])])
    np.testing.assert_allclose(g, [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


def test_reduce_prod_with_zeros_is_exact():
    (g,) = _grad(lambda b, a: b.create(T.ReduceOp, a[0], kind="prod", dims=[1]).result,
                 [t64(3, 3)],
                 [np.array([[2.0, 3.0, 4.0], [2.0, 0.0, 4.0], [0.0, 3.0, 0.0]])])
    np.testing.assert_array_equal(g, [[12.0, 8.0, 6.0], [0.0, 8.0, 0.0], [0.0, 0.0, 0.0]])


def test_pool_max_routes_ties_to_first_element():
    x = np.array([[5.0, 5.0, 1.0, 1.0]])
    (g,) = _grad(lambda b, a: b.create(T.PoolOp, a[0], kind="max", window=[2], stride=[2],
                                       padding_low=[0], padding_high=[0]).result,
                 [t64(1, 4)], [x])
    np.testing.assert_array_equal(g, [[1.0, 0.0, 1.0, 0.0]])


def test_pool_max_overlapping_windows_add_up():
    # Windows [0,1], [1,2], [2,3] with the maximum at index 1 for the first two.
    x = np.array([1.0, 9.0, 2.0, 3.0])
    (g,) = _grad(lambda b, a: b.create(T.PoolOp, a[0], kind="max", window=[2], stride=[1],
                                       padding_low=[0], padding_high=[0]).result,
                 [t64(4)], [x])
    np.testing.assert_array_equal(g, [0.0, 2.0, 0.0, 1.0])


def test_f32_gradients_keep_their_type():
    f32t = TensorType((2, 3), f32)
    m = make_module([f32t], lambda b, a: b.create(
        T.ReduceOp, b.create(T.ExpOp, a[0]).result, kind="sum", dims=[0, 1]).result)
    fn = differentiate(m, "f", [0])
    assert fn.type.results == (TensorType((), f32), f32t)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    _, g = run(m, "f_grad", x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.exp(x), rtol=1e-6)

