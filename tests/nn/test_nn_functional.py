"""Functional ops: values and gradients against PyTorch / numpy references, eager and jit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import avalon
from avalon.nn import functional as F
from tests.nn import reference as R
from tests.nn.checks import HAVE_TORCH, check, rand

ACTIVATIONS = [
    # (name, avalon, torch (on torch.nn.functional), numpy reference)
    ("relu", F.relu, lambda tf, x: tf.relu(x), R.relu),
    ("leakyrelu", lambda x: F.leakyrelu(x, 0.2), lambda tf, x: tf.leaky_relu(x, 0.2),
     lambda x: R.leakyrelu(x, 0.2)),
    ("elu", lambda x: F.elu(x, 1.5), lambda tf, x: tf.elu(x, 1.5), lambda x: R.elu(x, 1.5)),
    ("gelu", F.gelu, lambda tf, x: tf.gelu(x), R.gelu),
    ("gelu_tanh", lambda x: F.gelu(x, "tanh"), lambda tf, x: tf.gelu(x, approximate="tanh"),
     lambda x: R.gelu(x, "tanh")),
    ("silu", F.silu, lambda tf, x: tf.silu(x), R.silu),
    ("sigmoid", F.sigmoid, lambda tf, x: tf.sigmoid(x), R.sigmoid),
    ("logsigmoid", F.logsigmoid, lambda tf, x: tf.logsigmoid(x), R.logsigmoid),
    ("softplus", lambda x: F.softplus(x, 2.0, 3.0), lambda tf, x: tf.softplus(x, 2.0, 3.0),
     lambda x: R.softplus(x, 2.0, 3.0)),
    ("softsign", F.softsign, lambda tf, x: tf.softsign(x), R.softsign),
    ("tanh", F.tanh, lambda tf, x: tf.tanh(x), np.tanh),
    ("softmax", lambda x: F.softmax(x, axis=1), lambda tf, x: tf.softmax(x, dim=1),
     lambda x: R.softmax(x, 1)),
    ("logsoftmax", F.logsoftmax, lambda tf, x: tf.log_softmax(x, dim=-1), R.logsoftmax),
]


def _tf():
    import torch.nn.functional as tf

    return tf


@pytest.mark.parametrize("name,fa,ft,fr", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_values_and_gradients(name, fa, ft, fr):
    x = rand(np.random.default_rng(0), 3, 5, scale=2.0)
    out = check(lambda _, x: fa(x), [x], torch_fn=lambda _, x: ft(_tf(), x),
                ref=lambda _, x: fr(x))
    assert out.dtype == np.float32


@settings(max_examples=6)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=3),
       which=st.sampled_from([a[0] for a in ACTIVATIONS]), seed=st.integers(0, 2**16))
def test_activations_on_random_shapes(shape, which, seed):
    _, fa, ft, fr = next(a for a in ACTIVATIONS if a[0] == which)
    x = rand(np.random.default_rng(seed), *shape, scale=3.0)
    check(lambda _, x: fa(x), [x], torch_fn=lambda _, x: ft(_tf(), x), ref=lambda _, x: fr(x))


def test_activations_are_stable_at_extremes():
    x = np.array([-1000.0, -60.0, 0.0, 60.0, 1000.0], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = F.sigmoid(x)
        ls = F.logsigmoid(x)
        sp = F.softplus(x)
    np.testing.assert_allclose(s, [0.0, 8.75651e-27, 0.5, 1.0, 1.0], rtol=1e-5)
    np.testing.assert_allclose(ls, [-1000.0, -60.0, -np.log(2), 0.0, 0.0], rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_allclose(sp, [0.0, 8.75651e-27, np.log(2), 60.0, 1000.0], rtol=1e-5)
    g = avalon.grad(lambda x: (F.sigmoid(x) + F.logsigmoid(x) + F.softplus(x)
                               + F.elu(x)).sum())(x)
    assert np.all(np.isfinite(g))
    p = F.softmax(np.array([[1000.0, 0.0, -1000.0]], np.float32))
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0]])
    assert np.all(np.isfinite(F.logsoftmax(np.array([1e4, -1e4], np.float32))))


def test_softmax_accepts_pytorch_dim_keyword_and_logsumexp():
    x = rand(np.random.default_rng(1), 2, 3, 4)
    np.testing.assert_allclose(F.softmax(x, dim=1), R.softmax(x.astype(float), 1), rtol=1e-5)
    np.testing.assert_allclose(F.logsumexp(x, axis=2),
                               np.log(np.exp(x.astype(float)).sum(2)), rtol=1e-5)
    assert F.log_softmax is F.logsoftmax and F.max_pool2d is F.maxpool2d


def test_linear_uses_pytorch_weight_layout():
    rng = np.random.default_rng(2)
    x, w, b = rand(rng, 4, 3), rand(rng, 5, 3), rand(rng, 5)
    check(lambda _, x, w, b: F.linear(x, w, b), [x, w, b],
          torch_fn=lambda _, x, w, b: _tf().linear(x, w, b),
          ref=lambda _, x, w, b: x @ w.T + b)
    assert F.linear(x, w).shape == (4, 5)


CONV_CASES = [
    # (n, N, C, spatial, O, kernel, stride, padding, dilation, groups, bias)
    (1, 2, 3, (7,), 4, 3, 1, 0, 1, 1, True),
    (1, 1, 4, (9,), 2, 2, 2, 1, 2, 2, False),
    (2, 2, 2, (6, 5), 3, (3, 2), (1, 2), (1, 0), 1, 1, True),
    (2, 1, 4, (5, 5), 4, 3, 1, "same", 1, 4, True),
    (2, 1, 2, (6, 6), 2, 4, 1, "same", 1, 1, False),
    (2, 2, 2, (5, 6), 2, 3, 1, "valid", (2, 1), 1, True),
    (3, 1, 2, (4, 4, 3), 2, 2, 1, 1, 1, 2, True),
]


def _torch_conv(n, x, w, b, stride, padding, dilation, groups):
    fn = getattr(_tf(), f"conv{n}d")
    return fn(x, w, b, stride, padding, dilation, groups)


def _ref_padding(padding, n, kernel, dilation):
    if padding == "valid":
        return 0
    if padding == "same":
        ks = (kernel,) * n if isinstance(kernel, int) else kernel
        ds = (dilation,) * n if isinstance(dilation, int) else dilation
        totals = [d * (k - 1) for d, k in zip(ds, ks)]
        return [(t // 2, t - t // 2) for t in totals]
    return padding


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_references(case):
    n, batch, c, sp, o, k, s, p, d, g, has_bias = case
    rng = np.random.default_rng(3)
    ks = (k,) * n if isinstance(k, int) else k
    x = rand(rng, batch, c, *sp)
    w = rand(rng, o, c // g, *ks, scale=0.5)
    b = rand(rng, o) if has_bias else None
    fa = getattr(F, f"conv{n}d")
    inputs = [x, w] + ([b] if has_bias else [])

    def avalon_fn(_, x, w, b=None):
        return fa(x, w, b, s, p, d, g)

    def torch_fn(_, x, w, b=None):
        return _torch_conv(n, x, w, b, s, p, d, g)

    def ref_fn(_, x, w, b=None):
        return R.conv(x, w, b, s, _ref_padding(p, n, k, d), d, g)

    check(avalon_fn, inputs, torch_fn=torch_fn, ref=ref_fn)


@settings(max_examples=6)
@given(data=st.data())
def test_conv2d_on_random_configurations(data):
    groups = data.draw(st.sampled_from([1, 2]))
    c = groups * data.draw(st.integers(1, 2))
    o = groups * data.draw(st.integers(1, 2))
    k = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    s = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    d = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    p = data.draw(st.tuples(st.integers(0, 1), st.integers(0, 1)))
    h = data.draw(st.integers(d[0] * (k[0] - 1) + 1, 6))
    wd = data.draw(st.integers(d[1] * (k[1] - 1) + 1, 6))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    x, w, b = rand(rng, 2, c, h, wd), rand(rng, o, c // groups, *k), rand(rng, o)
    check(lambda _, x, w, b: F.conv2d(x, w, b, s, p, d, groups), [x, w, b],
          torch_fn=lambda _, x, w, b: _tf().conv2d(x, w, b, s, p, d, groups),
          ref=lambda _, x, w, b: R.conv(x, w, b, s, list(p), d, groups))


def test_conv_validates_shapes_and_same_padding():
    x = np.zeros((1, 3, 5, 5), np.float32)
    with pytest.raises(ValueError, match="channels"):
        F.conv2d(x, np.zeros((2, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="stride 1"):
        F.conv2d(x, np.zeros((2, 3, 3, 3), np.float32), stride=2, padding="same")
    assert F.conv2d(x[0], np.zeros((2, 3, 3, 3), np.float32)).shape == (2, 3, 3)


POOL_CASES = [
    # (n, kind, shape, kernel, stride, padding, count_include_pad)
    (2, "max", (2, 3, 6, 6), (2, 2), None, 0, True),
    (2, "max", (1, 2, 7, 5), (3, 2), (2, 1), (1, 1), True),
    (2, "avg", (2, 2, 6, 6), (2, 2), None, 0, True),
    (2, "avg", (1, 2, 5, 7), 3, 2, 1, True),
    (2, "avg", (1, 2, 5, 7), 3, 2, 1, False),
    (1, "max", (2, 3, 9), 3, 2, 1, True),
    (1, "avg", (2, 3, 8), 2, None, 0, True),
    (1, "avg", (2, 3, 8), 3, 1, 1, False),
]


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_matches_references(case):
    n, kind, shape, k, s, p, cip = case
    x = rand(np.random.default_rng(4), *shape)
    name = f"{kind}pool{n}d"
    kw = {} if kind == "max" else {"count_include_pad": cip}
    ks = (k,) * n if isinstance(k, int) else k
    ss = None if s is None else ((s,) * n if isinstance(s, int) else s)
    tname = f"{kind}_pool{n}d"
    check(lambda _, x: getattr(F, name)(x, k, s, p, **kw), [x],
          torch_fn=lambda _, x: getattr(_tf(), tname)(x, k, s, p, **kw),
          ref=lambda _, x: R.pool(x, kind, ks, ss, p, cip))


@settings(max_examples=5)
@given(kind=st.sampled_from(["max", "avg"]), k=st.integers(1, 3), s=st.integers(1, 3),
       size=st.integers(3, 7), seed=st.integers(0, 100))
def test_pool2d_on_random_configurations(kind, k, s, size, seed):
    p = k // 2
    x = rand(np.random.default_rng(seed), 1, 2, size, size)
    check(lambda _, x: F.pool_nd(2, kind, x, k, s, p), [x],
          torch_fn=lambda _, x: getattr(_tf(), f"{kind}_pool2d")(x, k, s, p),
          ref=lambda _, x: R.pool(x, kind, (k, k), (s, s), p))


def test_pool_rejects_oversized_padding_and_handles_unbatched():
    x = rand(np.random.default_rng(5), 2, 4, 4)
    with pytest.raises(ValueError, match="half the kernel"):
        F.maxpool2d(x, 2, padding=2)
    np.testing.assert_allclose(F.maxpool2d(x, 2), R.pool(x.astype(float), "max", (2, 2)))


def test_dropout_scales_survivors_and_is_repeatable_per_seed():
    x = np.ones((64, 64), np.float32)
    seed = np.asarray(7, np.int64)
    y = F.dropout(x, 0.25, True, seed)
    kept = y != 0
    assert 0.70 < kept.mean() < 0.80
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    np.testing.assert_array_equal(avalon.jit(lambda x, s: F.dropout(x, 0.25, True, s))(x, seed),
                                  y)
    assert not np.array_equal(F.dropout(x, 0.25, True, seed + 1), y)
    assert F.dropout(x, 0.25, False, seed) is x
    assert F.dropout(x, 0.0, True, seed) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0, True, seed), np.zeros_like(x))
    g = avalon.grad(lambda x: (F.dropout(x, 0.25, True, seed) * 2).sum())(x)
    np.testing.assert_allclose(g, np.where(kept, 2 / 0.75, 0.0))
    with pytest.raises(ValueError, match="probability"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match="seed"):
        avalon.jit(lambda x: F.dropout(x, 0.5, True))(x)
    assert F.dropout(x, 0.5).shape == x.shape  # eager: a seed is drawn


def test_batch_norm_functional_forms():
    rng = np.random.default_rng(6)
    x = rand(rng, 4, 3, 2)
    rm, rv = rand(rng, 3), np.abs(rand(rng, 3)) + 0.5
    w, b = rand(rng, 3), rand(rng, 3)
    y, m, v = F.batch_norm_with_stats(x, rm, rv, w, b, training=True, momentum=0.2)
    x64 = x.astype(float)
    np.testing.assert_allclose(y, R.batch_norm_train(x64, w, b), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m, 0.8 * rm + 0.2 * x64.mean((0, 2)), rtol=1e-5)
    np.testing.assert_allclose(v, 0.8 * rv + 0.2 * x64.var((0, 2), ddof=1), rtol=1e-5)
    y2 = F.batch_norm(x, rm, rv, w, b)
    np.testing.assert_allclose(y2, R.batch_norm_eval(x64, rm, rv, w, b), rtol=1e-4, atol=1e-5)
    check(lambda _, x, w, b: F.batch_norm(x, None, None, w, b), [x, w, b],
          torch_fn=lambda _, x, w, b: _tf().batch_norm(x, None, None, w, b, training=True),
          ref=lambda _, x, w, b: R.batch_norm_train(x, w, b))
    with pytest.raises(ValueError, match="more than 1 value"):
        F.batch_norm(x[:1, :, :1], rm, rv, training=True)


def test_layer_norm_functional():
    rng = np.random.default_rng(7)
    x, w, b = rand(rng, 2, 3, 4), rand(rng, 3, 4), rand(rng, 3, 4)
    check(lambda _, x, w, b: F.layer_norm(x, (3, 4), w, b), [x, w, b],
          torch_fn=lambda _, x, w, b: _tf().layer_norm(x, (3, 4), w, b),
          ref=lambda _, x, w, b: R.layer_norm(x, 2, w, b))
    with pytest.raises(ValueError, match="ending"):
        F.layer_norm(x, 3)


def test_embedding_one_hot_and_flatten():
    rng = np.random.default_rng(8)
    w = rand(rng, 6, 3)
    idx = np.array([[0, 2, 5], [2, 2, 1]])
    check(lambda _, w, i: F.embedding(i, w), [w, idx], grad_inputs=[0],
          torch_fn=lambda _, w, i: _tf().embedding(i, w), ref=lambda _, w, i: w[i])
    g = avalon.grad(lambda w: F.embedding(idx, w, padding_idx=2).sum())(w)
    np.testing.assert_array_equal(g[:, 0], [1, 1, 0, 0, 0, 1])
    oh = F.one_hot(np.array([1, 0, 3]), 4)
    np.testing.assert_array_equal(oh, np.eye(4, dtype=np.int64)[[1, 0, 3]])
    assert oh.dtype == np.int64
    x = np.zeros((2, 3, 4, 5), np.float32)
    assert F.flatten(x).shape == (120,)
    assert F.flatten(x, 1).shape == (2, 60)
    assert F.flatten(x, 1, 2).shape == (2, 12, 5)
    assert avalon.jit(lambda x: F.flatten(x, -2))(x).shape == (2, 3, 20)


@pytest.mark.skipif(not HAVE_TORCH, reason="needs PyTorch")
def test_same_padding_with_even_kernel_matches_torch_exactly():
    import torch

    x = rand(np.random.default_rng(9), 1, 1, 5, 6)
    w = rand(np.random.default_rng(10), 1, 1, 2, 4)
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding="same")
    np.testing.assert_allclose(F.conv2d(x, w, padding="same"), expected.numpy(), rtol=1e-5,
                               atol=1e-6)
