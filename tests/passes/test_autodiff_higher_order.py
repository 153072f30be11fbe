"""Higher derivatives: differentiating a gradient function again.

Second (and third) derivatives of scalar functions are compared with closed forms; every
rule's output is differentiated once more and checked against finite differences of the
gradient function, which shows the rules emit only differentiable ops.
"""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_vjp, make_module, spaced, t64

from avalon.backends.interpreter import run
from avalon.ir.attributes import DenseElementsAttr
from avalon.ir.dialects import tensor as T
from avalon.ir.types import TensorType, i64
from avalon.passes.autodiff import differentiate
from avalon.passes.vjp_rules import like


def _sum(b, v):
    return b.create(T.ReduceOp, v, kind="sum", dims=list(range(v.type.rank))).result


def _un(b, cls, v):
    return b.create(cls, v).result


def _bin(b, cls, u, v):
    return b.create(cls, u, v).result


X = np.array([-1.3, -0.4, 0.2, 0.9, 1.7])


def second_derivative(body, x=X):
    """Diagonal of the Hessian of sum(body(x)) for an elementwise body: the gradient of the
    sum of the gradient (seed of ones at both levels)."""
    m = make_module([t64(*x.shape)], lambda b, a: _sum(b, body(b, a[0])))
    differentiate(m, "f", [0])
    differentiate(m, "f_grad", [0], result=1, name="f_second")
    first = run(m, "f_grad", x)[1]
    second = run(m, "f_second", x)[1]
    return first, second


def test_cube():
    first, second = second_derivative(lambda b, x: _bin(b, T.MulOp, _bin(b, T.MulOp, x, x), x))
    np.testing.assert_allclose(first, 3 * X**2, rtol=1e-14)
    np.testing.assert_allclose(second, 6 * X, rtol=1e-14)


def test_cube_through_pow():
    first, second = second_derivative(lambda b, x: _bin(b, T.PowOp, x, like(b, 3.0, x)))
    np.testing.assert_allclose(first, 3 * X**2, rtol=1e-13)
    np.testing.assert_allclose(second, 6 * X, rtol=1e-13)


def test_exp_times_sin():
    first, second = second_derivative(
        lambda b, x: _bin(b, T.MulOp, _un(b, T.ExpOp, x), _un(b, T.SinOp, x)))
    np.testing.assert_allclose(first, np.exp(X) * (np.sin(X) + np.cos(X)), rtol=1e-13)
    np.testing.assert_allclose(second, 2 * np.exp(X) * np.cos(X), rtol=1e-13)


def test_tanh():
    first, second = second_derivative(lambda b, x: _un(b, T.TanhOp, x))
    t = np.tanh(X)
    np.testing.assert_allclose(first, 1 - t * t, rtol=1e-13)
    np.testing.assert_allclose(second, -2 * t * (1 - t * t), rtol=1e-13)


def test_third_derivative_of_fourth_power():
    m = make_module([t64(5)], lambda b, a: _sum(
        b, _bin(b, T.MulOp, _bin(b, T.MulOp, a[0], a[0]), _bin(b, T.MulOp, a[0], a[0]))))
    differentiate(m, "f", [0])
    differentiate(m, "f_grad", [0], result=1, name="f2")
    differentiate(m, "f2", [0], result=1, name="f3")
    np.testing.assert_allclose(run(m, "f2", X)[1], 12 * X**2, rtol=1e-13)
    np.testing.assert_allclose(run(m, "f3", X)[1], 24 * X, rtol=1e-13)


def test_log_sum_exp_hessian_vector_product():
    # f = log(sum(exp(x))); grad = softmax p; H v = p * v - p * (p . v).
    m = make_module([t64(4)], lambda b, a: _un(b, T.LogOp, _sum(b, _un(b, T.ExpOp, a[0]))))
    differentiate(m, "f", [0])
    differentiate(m, "f_grad", [0], result=1, name="hvp", seed="argument")
    x = np.array([0.3, -1.2, 2.0, 0.5])
    v = np.array([1.0, -2.0, 0.5, 3.0])
    p = np.exp(x) / np.exp(x).sum()
    value, grad = run(m, "f_grad", x)
    np.testing.assert_allclose(value, np.log(np.exp(x).sum()), rtol=1e-14)
    np.testing.assert_allclose(grad, p, rtol=1e-14)
    _, hv = run(m, "hvp", x, v)
    np.testing.assert_allclose(hv, p * v - p * (p @ v), rtol=1e-12, atol=1e-15)


def test_mixed_partials_are_symmetric():
    # f(x, y) = sum(sin(x) * y**2): d2f/dxdy = 2 y cos(x), from either order.
    def body(b, a):
        return _sum(b, _bin(b, T.MulOp, _un(b, T.SinOp, a[0]), _bin(b, T.MulOp, a[1], a[1])))

    m = make_module([t64(3), t64(3)], body)
    differentiate(m, "f", [0, 1])
    differentiate(m, "f_grad", [1], result=1, name="dy_of_dx")
    differentiate(m, "f_grad", [0], result=2, name="dx_of_dy")
    x, y = np.array([0.1, 0.7, -1.0]), np.array([2.0, -0.5, 1.5])
    expected = 2 * y * np.cos(x)
    np.testing.assert_allclose(run(m, "dy_of_dx", x, y)[1], expected, rtol=1e-14)
    np.testing.assert_allclose(run(m, "dx_of_dy", x, y)[1], expected, rtol=1e-14)


# ------------------------------------------------- every rule is differentiable again

def _const_i64(b, array):
    t = TensorType(array.shape, i64)
    return b.create(T.ConstantOp, value=DenseElementsAttr(array, t)).result


# name -> (argument shapes, op builder on the arguments, value generator)
CASES = {
    "conv": ([(1, 2, 5), (2, 1, 2)], lambda b, a: b.create(
        T.ConvOp, a[0], a[1], stride=[2], padding_low=[1], padding_high=[0], dilation=[2],
        groups=2).result, None),
    "conv2d": ([(1, 1, 3, 3), (2, 1, 2, 2)], lambda b, a: b.create(
        T.ConvOp, a[0], a[1], stride=[1, 1], padding_low=[1, 0], padding_high=[0, 1],
        dilation=[1, 1], groups=1).result, None),
    "pool_max": ([(1, 5)], lambda b, a: b.create(
        T.PoolOp, a[0], kind="max", window=[2], stride=[1], padding_low=[1],
        padding_high=[0]).result, "spaced"),
    "pool_avg": ([(2, 4)], lambda b, a: b.create(
        T.PoolOp, a[0], kind="avg", window=[3], stride=[2], padding_low=[1], padding_high=[1],
        count_include_pad=False).result, None),
    "gather": ([(3, 4)], lambda b, a: b.create(
        T.GatherOp, a[0], _const_i64(b, np.array([[0, 3, 3], [1, 1, 2], [2, 0, 1]])),
        dim=1).result, None),
    "reduce_max": ([(3, 4)], lambda b, a: b.create(
        T.ReduceOp, a[0], kind="max", dims=[1]).result, "spaced"),
    "reduce_prod": ([(2, 3)], lambda b, a: b.create(
        T.ReduceOp, a[0], kind="prod", dims=[0]).result, "nonzero"),
    "matmul": ([(2, 2, 3), (2, 3, 2)], lambda b, a: b.create(
        T.MatmulOp, a[0], a[1]).result, None),
    "broadcast": ([(1, 3)], lambda b, a: b.create(
        T.BroadcastOp, a[0], dims=[1, 2], result_types=[t64(2, 4, 3)]).result, None),
    "slice": ([(5, 3)], lambda b, a: b.create(
        T.SliceOp, a[0], start=[1, 0], limit=[5, 3], stride=[2, 2]).result, None),
    "pad": ([(2, 2), ()], lambda b, a: b.create(
        T.PadOp, a[0], a[1], low=[1, 0], high=[0, 2], interior=[1, 1]).result, None),
    "concat": ([(2, 1), (2, 2)], lambda b, a: b.create(
        T.ConcatOp, inputs=a, dim=1).result, None),
    "transpose": ([(2, 3, 1)], lambda b, a: b.create(
        T.TransposeOp, a[0], permutation=[2, 0, 1]).result, None),
    "div": ([(4,), (4,)], lambda b, a: _bin(b, T.DivOp, a[0], _un(b, T.ExpOp, a[1])), None),
    "pow": ([(4,), (4,)], lambda b, a: _bin(b, T.PowOp, _un(b, T.ExpOp, a[0]), a[1]), None),
    "max": ([(4,), (4,)], lambda b, a: _bin(b, T.MaxOp, a[0], a[1]), "spaced"),
    "rsqrt": ([(4,)], lambda b, a: _un(b, T.RsqrtOp, _un(b, T.ExpOp, a[0])), None),
    "erf": ([(4,)], lambda b, a: _un(b, T.ErfOp, a[0]), None),
    "select": ([(4,), (4,)], lambda b, a: b.create(
        T.SelectOp, b.create(T.CmpOp, a[0], a[1], predicate="lt").result,
        _bin(b, T.MulOp, a[0], a[0]), _un(b, T.SinOp, a[1])).result, "spaced"),
}


def _values(kind, shapes, rng):
    if kind == "spaced":
        n = [int(np.prod(s)) for s in shapes]
        flat = spaced(rng, (sum(n),)).ravel()
        return [flat[sum(n[:i]):sum(n[:i + 1])].reshape(s) for i, s in enumerate(shapes)]
    if kind == "nonzero":
        return [rng.uniform(0.5, 1.5, s) * rng.choice([-1.0, 1.0], s) for s in shapes]
    return [rng.uniform(-1, 1, s) for s in shapes]


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_output_is_differentiable(name):
    shapes, op, kind = CASES[name]

    def body(b, a):
        y = op(b, a)
        return _sum(b, _bin(b, T.MulOp, y, _un(b, T.TanhOp, y)))  # sum(y * tanh(y))

    m = make_module([t64(*s) for s in shapes], body)
    wrt = list(range(len(shapes)))
    differentiate(m, "f", wrt)
    rng = np.random.default_rng(len(name))
    args = _values(kind, shapes, rng)
    for k in wrt:
        check_vjp(m, args, wrt, rng, name="f_grad", result=1 + k, atol=1e-7)
