"""Losses: values and gradients against PyTorch / numpy references, function and class forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import avalon
from avalon import nn
from tests.nn import reference as R
from tests.nn.checks import check, rand

REDUCTIONS = ["mean", "sum", "none"]


def _tf():
    import torch.nn.functional as tf

    return tf


def _targets(rng, shape, classes, ignore=None):
    t = rng.integers(0, classes, shape)
    if ignore is not None:
        t.reshape(-1)[0] = ignore
    return t.astype(np.int64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted,ignore", [(False, None), (True, 2), (True, None)])
def test_nll_loss(reduction, weighted, ignore):
    rng = np.random.default_rng(0)
    logp = R.logsoftmax(rng.standard_normal((5, 4)), 1).astype(np.float32)
    target = _targets(rng, (5,), 4, ignore)
    weight = np.abs(rand(rng, 4)) + 0.1 if weighted else None
    ig = -100 if ignore is None else ignore
    check(lambda _, x, t: nn.nll_loss(x, t, weight, ig, reduction), [logp, target],
          torch_fn=lambda _, x, t: _tf().nll_loss(
              x, t, None if weight is None else _tensor(weight), ignore_index=ig,
              reduction=reduction),
          ref=lambda _, x, t: R.nll_loss(x, t, weight, ig, reduction))


def _tensor(a):
    import torch

    return torch.tensor(np.asarray(a, np.float64))


def test_nll_loss_spatial_and_unbatched():
    rng = np.random.default_rng(1)
    logp = R.logsoftmax(rng.standard_normal((2, 3, 2, 2)), 1).astype(np.float32)
    target = _targets(rng, (2, 2, 2), 3)
    check(lambda _, x, t: nn.nll_loss(x, t), [logp, target],
          torch_fn=lambda _, x, t: _tf().nll_loss(x, t),
          ref=lambda _, x, t: R.nll_loss(x, t))
    one = nn.nll_loss(logp[0, :, 0, 0], np.int64(1), reduction="none")
    assert np.shape(one) == () and np.isclose(one, -logp[0, 1, 0, 0])
    with pytest.raises(ValueError, match="target shape"):
        nn.nll_loss(logp, target[:, 0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing,weighted,ignore", [(0.0, False, None), (0.2, False, 1),
                                                       (0.1, True, None), (0.3, True, 0)])
def test_cross_entropy_with_class_targets(reduction, smoothing, weighted, ignore):
    rng = np.random.default_rng(2)
    logits = rand(rng, 6, 4, scale=2.0)
    target = _targets(rng, (6,), 4, ignore)
    weight = np.abs(rand(rng, 4)) + 0.1 if weighted else None
    ig = -100 if ignore is None else ignore
    check(lambda _, x, t: nn.cross_entropy(x, t, weight, ig, reduction, smoothing),
          [logits, target],
          torch_fn=lambda _, x, t: _tf().cross_entropy(
              x, t, None if weight is None else _tensor(weight), ignore_index=ig,
              reduction=reduction, label_smoothing=smoothing),
          ref=lambda _, x, t: R.cross_entropy(x, t, weight, ig, reduction, smoothing))


@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_with_probability_targets_and_spatial_input(smoothing):
    rng = np.random.default_rng(3)
    logits = rand(rng, 2, 3, 4)
    probs = R.softmax(rng.standard_normal((2, 3, 4)), 1).astype(np.float32)
    check(lambda _, x, t: nn.cross_entropy(x, t, label_smoothing=smoothing), [logits, probs],
          grad_inputs=[0],
          torch_fn=lambda _, x, t: _tf().cross_entropy(x, t.detach(),
                                                       label_smoothing=smoothing),
          ref=lambda _, x, t: R.cross_entropy(x, t, label_smoothing=smoothing))


@settings(max_examples=5)
@given(n=st.integers(1, 4), c=st.integers(2, 5), seed=st.integers(0, 1000),
       reduction=st.sampled_from(REDUCTIONS))
def test_cross_entropy_on_random_shapes(n, c, seed, reduction):
    rng = np.random.default_rng(seed)
    logits, target = rand(rng, n, c, scale=3.0), _targets(rng, (n,), c)
    check(lambda _, x, t: nn.cross_entropy(x, t, reduction=reduction), [logits, target],
          torch_fn=lambda _, x, t: _tf().cross_entropy(x, t, reduction=reduction),
          ref=lambda _, x, t: R.cross_entropy(x, t, reduction=reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(reduction):
    rng = np.random.default_rng(4)
    x, y = rand(rng, 3, 4), rand(rng, 3, 4)
    cases = [
        (lambda a, b: nn.mse_loss(a, b, reduction),
         lambda a, b: _tf().mse_loss(a, b, reduction=reduction),
         lambda a, b: R._reduce((a - b) ** 2, reduction)),
        (lambda a, b: nn.l1_loss(a, b, reduction),
         lambda a, b: _tf().l1_loss(a, b, reduction=reduction),
         lambda a, b: R._reduce(np.abs(a - b), reduction)),
        (lambda a, b: nn.smooth_l1_loss(a, b, reduction, beta=0.5),
         lambda a, b: _tf().smooth_l1_loss(a, b, reduction=reduction, beta=0.5),
         lambda a, b: R.smooth_l1_loss(a, b, reduction, 0.5)),
        (lambda a, b: nn.smooth_l1_loss(a, b, reduction, beta=0.0),
         lambda a, b: _tf().smooth_l1_loss(a, b, reduction=reduction, beta=0.0),
         lambda a, b: R.smooth_l1_loss(a, b, reduction, 0.0)),
        (lambda a, b: nn.huber_loss(a, b, reduction, delta=0.7),
         lambda a, b: _tf().huber_loss(a, b, reduction=reduction, delta=0.7),
         lambda a, b: 0.7 * R.smooth_l1_loss(a, b, reduction, 0.7)),
    ]
    for fa, ft, fr in cases:
        check(lambda _, a, b, fa=fa: fa(a, b), [x, y],
              torch_fn=lambda _, a, b, ft=ft: ft(a, b), ref=lambda _, a, b, fr=fr: fr(a, b))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(reduction, weighted):
    rng = np.random.default_rng(5)
    p = rng.uniform(0.05, 0.95, (4, 3)).astype(np.float32)
    t = rng.uniform(0, 1, (4, 3)).astype(np.float32)
    w = np.abs(rand(rng, 3)) + 0.1 if weighted else None
    check(lambda _, p, t: nn.binary_cross_entropy(p, t, w, reduction), [p, t],
          torch_fn=lambda _, p, t: _tf().binary_cross_entropy(
              p, t, None if w is None else _tensor(w), reduction=reduction),
          ref=lambda _, p, t: R.binary_cross_entropy(p, t, w, reduction))


def test_binary_cross_entropy_clamps_logs_at_minus_100():
    p = np.array([0.0, 1.0, 0.5], np.float32)
    t = np.array([1.0, 0.0, 1.0], np.float32)
    with np.errstate(divide="ignore"):
        loss = nn.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_allclose(loss, [100.0, 100.0, np.log(2)], rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted,pos", [(False, False), (True, True)])
def test_binary_cross_entropy_with_logits(reduction, weighted, pos):
    rng = np.random.default_rng(6)
    x = rand(rng, 4, 3, scale=3.0)
    t = rng.uniform(0, 1, (4, 3)).astype(np.float32)
    w = np.abs(rand(rng, 3)) + 0.1 if weighted else None
    pw = np.abs(rand(rng, 3)) + 0.5 if pos else None
    check(lambda _, x, t: nn.binary_cross_entropy_with_logits(x, t, w, reduction, pw), [x, t],
          torch_fn=lambda _, x, t: _tf().binary_cross_entropy_with_logits(
              x, t, None if w is None else _tensor(w), reduction=reduction,
              pos_weight=None if pw is None else _tensor(pw)),
          ref=lambda _, x, t: R.binary_cross_entropy_with_logits(x, t, w, reduction, pw))


def test_bce_with_logits_is_stable_for_large_logits():
    x = np.array([-200.0, 200.0], np.float32)
    t = np.array([1.0, 0.0], np.float32)
    loss = nn.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(loss, [200.0, 200.0])
    g = avalon.grad(lambda x: nn.binary_cross_entropy_with_logits(x, t))(x)
    np.testing.assert_allclose(g, [-0.5, 0.5])


@pytest.mark.filterwarnings("ignore:reduction. .mean.:UserWarning")
@pytest.mark.parametrize("reduction", [*REDUCTIONS, "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    rng = np.random.default_rng(7)
    logq = R.logsoftmax(rng.standard_normal((3, 4)), 1).astype(np.float32)
    p = R.softmax(rng.standard_normal((3, 4)), 1)
    p[0, 1] = 0.0  # 0 · log 0 counts as 0
    target = (np.log(np.maximum(p, 1e-30)) if log_target else p).astype(np.float32)
    check(lambda _, x, t: nn.kl_div(x, t, reduction, log_target), [logq, target],
          grad_inputs=[0],
          torch_fn=lambda _, x, t: _tf().kl_div(x, t, reduction=reduction,
                                                log_target=log_target),
          ref=lambda _, x, t: R.kl_div(x, t, reduction, log_target))


def test_loss_classes_bind_their_options():
    rng = np.random.default_rng(8)
    logits, target = rand(rng, 4, 3), _targets(rng, (4,), 3)
    w = np.array([1.0, 2.0, 0.5], np.float32)
    assert np.isclose(nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)(logits, target),
                      nn.cross_entropy(logits, target, w, label_smoothing=0.1))
    logp = nn.logsoftmax(logits)
    assert np.isclose(nn.NLLLoss(reduction="sum")(logp, target),
                      nn.nll_loss(logp, target, reduction="sum"))
    x, y = rand(rng, 5), rand(rng, 5)
    assert np.isclose(nn.MSELoss()(x, y), nn.mse_loss(x, y))
    assert np.isclose(nn.L1Loss(reduction="sum")(x, y), nn.l1_loss(x, y, "sum"))
    assert np.isclose(nn.SmoothL1Loss(beta=0.3)(x, y), nn.smooth_l1_loss(x, y, beta=0.3))
    assert np.isclose(nn.HuberLoss(delta=2.0)(x, y), nn.huber_loss(x, y, delta=2.0))
    p = nn.sigmoid(x)
    t = (y > 0).astype(np.float32)
    assert np.isclose(nn.BCELoss()(p, t), nn.binary_cross_entropy(p, t))
    assert np.isclose(nn.BCEWithLogitsLoss(pos_weight=np.float32(2.0))(x, t),
                      nn.binary_cross_entropy_with_logits(x, t, pos_weight=np.float32(2.0)))
    assert np.isclose(nn.KLDivLoss(reduction="batchmean")(logp, nn.softmax(logits)),
                      nn.kl_div(logp, nn.softmax(logits), "batchmean"))
    assert "CrossEntropyLoss(" in repr(nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.mse_loss(x, y, "avg")
    loss_fn = nn.CrossEntropyLoss()
    g = avalon.grad(lambda z: loss_fn(z, target))(logits)
    expected = (nn.softmax(logits) - np.eye(3)[target]) / 4
    np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-6)
