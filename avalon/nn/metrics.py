"""Classification metrics on numpy arrays: accuracy, confusion matrix, precision, recall, F1.

Every metric takes ``(prediction, target)`` in the same order as Avalon's losses, so a model's
output and the labels can be passed as they are:

* ``prediction``: class scores ``[N, C]`` (logits, probabilities or log-probabilities; the
  argmax is the predicted class), integer labels ``[N]``, or for binary problems
  probabilities ``[N]`` / ``[N, 1]`` (thresholded at 0.5).
* ``target``: integer labels ``[N]`` or one-hot rows ``[N, C]``.

:func:`avalon.fit` accepts these functions, or their names (``metrics=["accuracy"]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _labels(x: Any, what: str) -> np.ndarray:
    """Class labels from scores, probabilities, one-hot rows or labels."""
    a = np.asarray(x)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim == 2:
        return np.argmax(a, axis=1)
    if a.ndim != 1:
        raise ValueError(f"{what} must be labels [N] or scores [N, C], got shape {a.shape}")
    if a.dtype.kind == "f":
        if np.all(a == np.round(a)) and a.min(initial=0) >= 0 and a.max(initial=0) > 1:
            return a.astype(np.int64)
        return (a >= 0.5).astype(np.int64)
    return a.astype(np.int64)


def _pair(prediction: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    p, t = _labels(prediction, "prediction"), _labels(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"prediction has {p.shape[0]} samples but target has {t.shape[0]}")
    return p, t


def accuracy(prediction: Any, target: Any) -> float:
    """The fraction of samples whose predicted class is the target class."""
    p, t = _pair(prediction, target)
    if p.size == 0:
        raise ValueError("accuracy of zero samples is undefined")
    return float(np.mean(p == t))


def confusion_matrix(prediction: Any, target: Any, num_classes: int | None = None) -> np.ndarray:
    """``C[i, j]``: how many samples of true class ``i`` were predicted as class ``j``
    (rows are targets, as in scikit-learn)."""
    p, t = _pair(prediction, target)
    if p.size and min(p.min(), t.min()) < 0:
        raise ValueError("class labels must be non-negative")
    n = num_classes
    if n is None:
        n = int(max(p.max(initial=-1), t.max(initial=-1))) + 1
        if np.ndim(prediction) == 2 and np.shape(prediction)[1] > 1:
            n = max(n, np.shape(prediction)[1])
    elif p.size and max(p.max(), t.max()) >= n:
        raise ValueError(f"a label is >= num_classes ({n})")
    counts = np.zeros((n, n), np.int64)
    np.add.at(counts, (t, p), 1)
    return counts


def _per_class(prediction: Any, target: Any, num_classes: int | None,
               average: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, predicted counts and actual counts for the classes that count."""
    if average not in ("macro", "micro"):
        raise ValueError(f"average must be 'macro' or 'micro', got {average!r}")
    cm = confusion_matrix(prediction, target, num_classes)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    actual = cm.sum(axis=1).astype(np.float64)
    if num_classes is None:  # only classes that occur, as scikit-learn does
        present = (predicted > 0) | (actual > 0)
        tp, predicted, actual = tp[present], predicted[present], actual[present]
    return tp, predicted, actual


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0 (a class never predicted has precision 0)."""
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def precision(prediction: Any, target: Any, average: str = "macro",
              num_classes: int | None = None) -> float:
    """Of the samples predicted as a class, the fraction that belong to it.

    ``macro`` averages the per-class precisions (every class weighs the same); ``micro``
    pools all decisions (equal to accuracy for single-label problems). Without
    ``num_classes`` the classes that occur in prediction or target are averaged.
    """
    tp, predicted, _ = _per_class(prediction, target, num_classes, average)
    if average == "micro":
        return float(_ratio(tp.sum(keepdims=True), predicted.sum(keepdims=True))[0])
    return float(np.mean(_ratio(tp, predicted))) if tp.size else 0.0


def recall(prediction: Any, target: Any, average: str = "macro",
           num_classes: int | None = None) -> float:
    """Of the samples of a class, the fraction predicted as it (averaged like precision)."""
    tp, _, actual = _per_class(prediction, target, num_classes, average)
    if average == "micro":
        return float(_ratio(tp.sum(keepdims=True), actual.sum(keepdims=True))[0])
    return float(np.mean(_ratio(tp, actual))) if tp.size else 0.0


def f1_score(prediction: Any, target: Any, average: str = "macro",
             num_classes: int | None = None) -> float:
    """The harmonic mean of precision and recall (per class, then averaged, for macro)."""
    tp, predicted, actual = _per_class(prediction, target, num_classes, average)
    if average == "micro":
        tp, predicted, actual = (a.sum(keepdims=True) for a in (tp, predicted, actual))
    f1 = _ratio(2 * tp, predicted + actual)
    return float(np.mean(f1)) if f1.size else 0.0


#: Metrics that :func:`avalon.fit` accepts by name.
METRICS: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1_score,
    "precision_micro": lambda p, t: precision(p, t, "micro"),
    "recall_micro": lambda p, t: recall(p, t, "micro"),
}


def get_metric(metric: str | Callable[[Any, Any], float]) -> tuple[str, Callable[[Any, Any],
                                                                                   float]]:
    """``(name, function)`` for a metric given by name or as a function."""
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        return metric, METRICS[metric]
    if callable(metric):
        return getattr(metric, "__name__", type(metric).__name__), metric
    raise TypeError(f"a metric is a name or a function, got {metric!r}")
