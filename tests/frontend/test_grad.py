"""grad / value_and_grad through the autodiff pass, checked against finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import avalon
from avalon.frontend.pytree import flatten


def numeric_grad(f, leaves, i, eps=1e-6):
    """Central differences of scalar ``f()`` w.r.t. every element of ``leaves[i]``."""
    x = leaves[i]
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        hi = f()
        flat[k] = old - eps
        lo = f()
        flat[k] = old
        gflat[k] = (hi - lo) / (2 * eps)
    return g


class Dense:
    def __init__(self, rng, n_in, n_out, act="tanh"):
        self.w = rng.standard_normal((n_in, n_out)) * 0.5
        self.b = rng.standard_normal(n_out) * 0.1
        self.act = act
        self.steps = np.zeros((), np.int64)  # an integer leaf: carries no gradient

    def __call__(self, x):
        y = x @ self.w + self.b
        return np.tanh(y) if self.act == "tanh" else np.maximum(y, 0.0)


class Net:
    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.blocks = [Dense(rng, 3, 5), Dense(rng, 5, 4, act="relu"), Dense(rng, 4, 2)]
        self.scale = 2.0

    def __call__(self, x):
        for blk in self.blocks:
            x = blk(x)
        return x * self.scale


def test_gradients_of_nested_model_parameters_match_finite_differences():
    net = Net()
    x = np.random.default_rng(1).standard_normal((6, 3))

    def loss(model, x):
        return ((model(x) - 0.3) ** 2).mean()

    value, g = avalon.value_and_grad(loss)(net, x)
    assert type(g) is Net and type(g.blocks[1]) is Dense and g.scale == 2.0
    assert g.blocks[0].steps is None  # integer leaf
    np.testing.assert_allclose(value, loss(net, x), rtol=1e-12)
    leaves, _ = flatten(net)
    gleaves, _ = flatten(g)
    floats = [i for i, leaf in enumerate(leaves) if leaf.dtype.kind == "f"]
    assert len(gleaves) == len(floats)  # integer leaves come back as None (static)
    for gi, i in zip(gleaves, floats, strict=True):
        fd = numeric_grad(lambda: loss(net, x), leaves, i)
        np.testing.assert_allclose(gi, fd, rtol=1e-6, atol=1e-8)


def test_argnums_tuple_and_has_aux():
    def f(a, b, c):
        return (a * b).sum() + c, {"prod": a * b}

    a, b = np.arange(3.0), np.full(3, 2.0)
    (value, aux), (ga, gc) = avalon.value_and_grad(f, argnums=(0, 2), has_aux=True)(a, b, 1.5)
    np.testing.assert_allclose(ga, b)
    assert gc is None  # a Python float is static: no gradient
    np.testing.assert_allclose(value, 7.5)
    np.testing.assert_allclose(aux["prod"], a * b)
    grads, aux2 = avalon.grad(f, argnums=1, has_aux=True)(a, b, 0.0)
    np.testing.assert_allclose(grads, a)
    np.testing.assert_allclose(aux2["prod"], a * b)


@pytest.mark.parametrize("f, d2", [
    (lambda x: (x ** 3).sum(), lambda x: 6 * x),
    (lambda x: np.sin(x).sum(), lambda x: -np.sin(x)),
    (lambda x: (np.exp(x) * x).sum(), lambda x: np.exp(x) * (x + 2)),
    (lambda x: np.tanh(x).sum(), lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    (lambda x: np.log(np.exp(x).sum()) * 1.0, None),
])
def test_second_derivatives(f, d2):
    x = np.array([0.3, -0.7, 1.1])
    hess_diag = avalon.grad(lambda x: avalon.grad(f)(x).sum())(x)
    if d2 is not None:
        np.testing.assert_allclose(hess_diag, d2(x), rtol=1e-10, atol=1e-12)
    else:  # log-sum-exp: sum_i d/dx_i of softmax_i... = sum over rows of the Hessian = 0
        np.testing.assert_allclose(hess_diag, np.zeros(3), atol=1e-12)


def test_jit_of_grad_and_grad_of_jit_agree_with_eager_grad():
    f = lambda x, w: np.tanh(x @ w).sum()  # noqa: E731
    x = np.random.default_rng(0).standard_normal((4, 3))
    w = np.random.default_rng(1).standard_normal((3, 2))
    g = avalon.grad(f, argnums=1)(x, w)
    np.testing.assert_allclose(avalon.jit(avalon.grad(f, argnums=1))(x, w), g, rtol=1e-12)
    np.testing.assert_allclose(avalon.grad(avalon.jit(f), argnums=1)(x, w), g, rtol=1e-12)


def test_stop_gradient_blocks_flow():
    g = avalon.grad(lambda x: (avalon.stop_gradient(x) * x).sum())(np.array([3.0, -1.0]))
    np.testing.assert_allclose(g, [3.0, -1.0])


def test_grad_needs_a_scalar_float_output():
    with pytest.raises(TypeError, match="scalar float output"):
        avalon.grad(lambda x: x * 2)(np.ones(3))


def test_tracing_errors_inside_grad_name_the_users_line():
    def f(x):
        if x.sum() > 0:
            return x.sum()
        return -x.sum()

    with pytest.raises(avalon.TracingError) as info:
        avalon.grad(f)(np.ones(2))
    assert "if x.sum() > 0:" in str(info.value)


UNARY = [np.tanh, np.exp, np.sin, lambda v: np.maximum(v, 0.1), lambda v: v * v,
         lambda v: np.sqrt(v * v + 1.0), lambda v: 1.0 / (1.0 + np.exp(-v))]
BINARY = [np.add, np.subtract, np.multiply, lambda a, b: a / (b * b + 1.0)]


@given(seed=st.integers(0, 2**31 - 1), n_ops=st.integers(2, 6), rows=st.integers(1, 3),
       cols=st.integers(1, 3))
def test_random_compositions_with_broadcasting_and_fan_out(seed, n_ops, rows, cols):
    rng = np.random.default_rng(seed)
    plan = []
    for _ in range(n_ops):
        if rng.random() < 0.5:
            plan.append(("u", int(rng.integers(len(UNARY))), int(rng.integers(0, 99))))
        else:
            plan.append(("b", int(rng.integers(len(BINARY))), int(rng.integers(0, 99)),
                         int(rng.integers(0, 99))))

    def f(x, row, col):
        vals = [x, row, col]  # shapes (r, c), (c,), (r, 1): broadcasting in every binary op
        for step in plan:
            if step[0] == "u":
                vals.append(UNARY[step[1]](vals[step[2] % len(vals)]))
            else:
                vals.append(BINARY[step[1]](vals[step[2] % len(vals)], vals[step[3] % len(vals)]))
        return sum(np.sum(v) for v in vals[3:]) + vals[-1].sum()  # fan-out of the last value

    x = rng.standard_normal((rows, cols))
    row = rng.standard_normal(cols)
    col = rng.standard_normal((rows, 1))
    grads = avalon.grad(f, argnums=(0, 1, 2))(x, row, col)
    leaves = [x, row, col]
    for i in range(3):
        fd = numeric_grad(lambda: f(*leaves), leaves, i)
        np.testing.assert_allclose(grads[i], fd, rtol=1e-5, atol=1e-6)
