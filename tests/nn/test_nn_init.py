"""Initialisers: PyTorch's gains, bounds and standard deviations; in place; seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avalon import nn
from avalon.nn import init
from tests.nn.checks import HAVE_TORCH


@pytest.mark.parametrize("name,param,expected", [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0),
    ("tanh", None, 5 / 3), ("relu", None, math.sqrt(2)),
    ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
    ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)), ("selu", None, 0.75),
])
def test_calculate_gain(name, param, expected):
    assert math.isclose(init.calculate_gain(name, param), expected)
    if HAVE_TORCH:
        import torch

        assert math.isclose(init.calculate_gain(name, param),
                            torch.nn.init.calculate_gain(name, param))


def test_calculate_gain_rejects_unknown_inputs():
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "a")
    with pytest.raises(ValueError, match="2 dimensions"):
        init.xavier_uniform_(np.zeros(3, np.float32))


def _sample(shape):
    return np.empty(shape, np.float32)


def test_fans_follow_pytorch_layout():
    assert init.calculate_fan_in_and_fan_out(_sample((8, 3, 5, 5))) == (75, 200)
    assert init.calculate_fan_in_and_fan_out(_sample((6, 4))) == (4, 6)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_distributions(mode):
    rng = np.random.default_rng(0)
    w = _sample((200, 100, 3))
    fan = 300 if mode == "fan_in" else 600
    out = init.kaiming_uniform_(w, a=0.0, mode=mode, nonlinearity="relu", rng=rng)
    assert out is w and w.dtype == np.float32
    bound = math.sqrt(2) * math.sqrt(3 / fan)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    init.kaiming_normal_(w, mode=mode, nonlinearity="relu", rng=rng)
    assert abs(w.std() / (math.sqrt(2) / math.sqrt(fan)) - 1) < 0.02
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(w, mode="fan_avg")


def test_xavier_distributions():
    rng = np.random.default_rng(1)
    w = _sample((300, 200))
    init.xavier_uniform_(w, gain=2.0, rng=rng)
    bound = 2.0 * math.sqrt(6 / 500)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    init.xavier_normal_(w, gain=0.5, rng=rng)
    assert abs(w.std() / (0.5 * math.sqrt(2 / 500)) - 1) < 0.02


def test_simple_fills_are_in_place():
    w = _sample((50, 40))
    assert init.constant_(w, 0.3) is w and np.all(w == np.float32(0.3))
    assert np.all(init.zeros_(w) == 0) and np.all(init.ones_(w) == 1)
    init.uniform_(w, -2.0, -1.0, rng=np.random.default_rng(2))
    assert w.min() >= -2.0 and w.max() < -1.0
    init.normal_(w, 3.0, 0.5, rng=np.random.default_rng(3))
    assert abs(w.mean() - 3.0) < 0.05 and abs(w.std() - 0.5) < 0.05


@pytest.mark.parametrize("shape", [(4, 9), (9, 4), (3, 2, 2)])
def test_orthogonal(shape):
    w = init.orthogonal_(_sample(shape), gain=1.5, rng=np.random.default_rng(4))
    flat = w.reshape(shape[0], -1).astype(np.float64)
    small = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(small, 2.25 * np.eye(small.shape[0]), atol=1e-5)


def test_manual_seed_makes_layers_repeatable():
    init.manual_seed(123)
    a = nn.Linear(4, 3)
    init.manual_seed(123)
    b = nn.Linear(4, 3)
    np.testing.assert_array_equal(a.weight, b.weight)
    np.testing.assert_array_equal(a.bias, b.bias)
    c = nn.Linear(4, 3)
    assert not np.array_equal(a.weight, c.weight)
    d = nn.Linear(4, 3, rng=np.random.default_rng(5))
    e = nn.Linear(4, 3, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(d.weight, e.weight)


def _uniform_bound_ok(a, bound):
    return np.abs(a).max() <= bound and np.abs(a).max() > 0.9 * bound


def test_layer_default_initialisations():
    init.manual_seed(6)
    lin = nn.Linear(400, 300)
    assert _uniform_bound_ok(lin.weight, 1 / 20) and _uniform_bound_ok(lin.bias, 1 / 20)
    conv = nn.Conv2d(8, 16, 3, groups=2)
    fan_in = 4 * 9
    assert _uniform_bound_ok(conv.weight, 1 / math.sqrt(fan_in))
    assert _uniform_bound_ok(conv.bias, 1 / math.sqrt(fan_in))
    lstm = nn.LSTM(10, 25)
    assert all(_uniform_bound_ok(v, 0.2) for _, v in nn.named_parameters(lstm))
    emb = nn.Embedding(300, 50)
    assert abs(emb.weight.std() - 1) < 0.05 and abs(emb.weight.mean()) < 0.05
    bn = nn.BatchNorm2d(5)
    assert np.all(bn.weight == 1) and np.all(bn.bias == 0)
    assert np.all(bn.running_mean == 0) and np.all(bn.running_var == 1)
    ln = nn.LayerNorm(7)
    assert np.all(ln.weight == 1) and np.all(ln.bias == 0)
    mha = nn.MultiheadAttention(8, 2)
    assert _uniform_bound_ok(mha.in_proj_weight, math.sqrt(6 / (8 + 24)))
    assert all(v.dtype == np.float32 for _, v in nn.named_parameters(mha))


@pytest.mark.skipif(not HAVE_TORCH, reason="needs PyTorch")
@pytest.mark.parametrize("build", [
    lambda m: m.Linear(300, 200), lambda m: m.Conv2d(6, 12, 3), lambda m: m.GRU(20, 30),
    lambda m: m.Embedding(200, 40), lambda m: m.MultiheadAttention(16, 4),
])
def test_default_initialisation_statistics_match_torch(build):
    import torch

    torch.manual_seed(0)
    ours = {k: v for k, v in nn.named_parameters(build(nn))}
    theirs = {k: v.detach().numpy() for k, v in build(torch.nn).named_parameters()}
    assert set(ours) == set(theirs)
    for k in ours:
        assert ours[k].shape == theirs[k].shape
        if theirs[k].std() == 0:
            assert np.all(ours[k] == theirs[k]), k
        elif theirs[k].size >= 500:  # smaller samples' statistics are too noisy to compare
            assert abs(ours[k].std() / theirs[k].std() - 1) < 0.1, k
            q_ours, q_theirs = (np.quantile(np.abs(a), 0.9) for a in (ours[k], theirs[k]))
            assert abs(q_ours / q_theirs - 1) < 0.1, k  # same shape of distribution
