"""Metrics against direct counting (and scikit-learn when it is installed)."""

import numpy as np
import pytest

from avalon.nn import metrics as M


def random_case(seed, n=200, classes=5):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, n)
    scores = rng.standard_normal((n, classes)) + 1.5 * np.eye(classes)[target]
    return scores, target


def counts(pred, target, c):
    tp = np.array([np.sum((pred == k) & (target == k)) for k in range(c)], float)
    predicted = np.array([np.sum(pred == k) for k in range(c)], float)
    actual = np.array([np.sum(target == k) for k in range(c)], float)
    return tp, predicted, actual


@pytest.mark.parametrize("seed", range(4))
def test_against_direct_counting(seed):
    scores, target = random_case(seed)
    pred = scores.argmax(1)
    assert M.accuracy(scores, target) == pytest.approx(np.mean(pred == target))
    cm = M.confusion_matrix(scores, target)
    for i in range(5):
        for j in range(5):
            assert cm[i, j] == np.sum((target == i) & (pred == j))
    tp, predicted, actual = counts(pred, target, 5)
    assert M.precision(scores, target) == pytest.approx(np.mean(tp / predicted))
    assert M.recall(scores, target) == pytest.approx(np.mean(tp / actual))
    assert M.precision(scores, target, "micro") == pytest.approx(tp.sum() / predicted.sum())
    assert M.recall(scores, target, "micro") == pytest.approx(np.mean(pred == target))
    f1 = 2 * tp / (predicted + actual)
    assert M.f1_score(scores, target) == pytest.approx(np.mean(f1))


def test_against_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    scores, target = random_case(9, classes=4)
    pred = scores.argmax(1)
    pred[:10] = 0  # make some classes rarer in the predictions
    np.testing.assert_array_equal(M.confusion_matrix(pred, target),
                                  sk.confusion_matrix(target, pred))
    for avg in ("macro", "micro"):
        assert M.precision(pred, target, avg) == pytest.approx(
            sk.precision_score(target, pred, average=avg))
        assert M.recall(pred, target, avg) == pytest.approx(
            sk.recall_score(target, pred, average=avg))
        assert M.f1_score(pred, target, avg) == pytest.approx(
            sk.f1_score(target, pred, average=avg))


def test_input_forms():
    onehot = np.eye(3)[[0, 2, 1, 1]]
    assert M.accuracy(np.array([0, 2, 1, 0]), onehot) == 0.75
    assert M.accuracy(np.array([0.9, 0.2, 0.7]), np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert M.accuracy(np.array([[0.9], [0.2]]), np.array([1.0, 0.0])) == 1.0
    assert M.accuracy(np.array([True, False]), np.array([1, 1])) == 0.5
    logprobs = np.log(np.array([[0.7, 0.3], [0.4, 0.6]]))
    assert M.accuracy(logprobs, np.array([0, 1])) == 1.0


def test_classes_never_predicted_count_as_zero_precision():
    pred, target = np.array([0, 0, 0, 1]), np.array([0, 2, 2, 1])
    assert M.precision(pred, target) == pytest.approx((1 / 3 + 1 + 0) / 3)
    assert M.precision(pred, target, num_classes=4) == pytest.approx((1 / 3 + 1) / 4)
    assert M.confusion_matrix(pred, target, num_classes=4).shape == (4, 4)


def test_errors():
    with pytest.raises(ValueError, match="4 samples but target has 3"):
        M.accuracy(np.zeros(4, int), np.zeros(3, int))
    with pytest.raises(ValueError, match="zero samples"):
        M.accuracy(np.zeros(0, int), np.zeros(0, int))
    with pytest.raises(ValueError, match="labels \\[N\\] or scores"):
        M.accuracy(np.zeros((2, 2, 2)), np.zeros(2, int))
    with pytest.raises(ValueError, match=">= num_classes"):
        M.confusion_matrix(np.array([3]), np.array([0]), num_classes=2)
    with pytest.raises(ValueError, match="average must be"):
        M.precision(np.array([1]), np.array([1]), "weighted")
    with pytest.raises(ValueError, match="unknown metric"):
        M.get_metric("auc")
    assert M.get_metric("accuracy") == ("accuracy", M.accuracy)
    assert M.get_metric(M.recall)[0] == "recall"
