"""Loss functions and their callable-class forms, with PyTorch's definitions and reductions.

Integer class targets pick log-probabilities with ``np.take_along_axis`` (a gather, which
traces and differentiates); ignored targets are first redirected to class 0 and then weighted
by zero, so no out-of-range index is ever gathered.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avalon.frontend.tracer import Tracer
from avalon.nn import functional as F

Array = Any

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Array, reduction: str) -> Array:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _class_shape(ndim: int, c: int) -> tuple[int, ...]:
    """Shape that lines a per-class vector up with axis 1 of an ``[N, C, d...]`` input."""
    return (1, c) + (1,) * (ndim - 2)


def _check_reduction(reduction: str, allowed: tuple[str, ...] = _REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")


def _as_array(x: Any) -> Array:
    return x if isinstance(x, Tracer) else np.asarray(x)


def nll_loss(input: Array, target: Array, weight: Array | None = None,
             ignore_index: int = -100, reduction: str = "mean") -> Array:
    """-input[n, target[n]] · weight[target[n]]; ``mean`` divides by the summed weights.

    ``input`` holds log-probabilities ``[N, C]`` or ``[N, C, d...]`` (or unbatched ``[C]``);
    ``target`` holds class indices ``[N]`` / ``[N, d...]``; ``ignore_index`` targets count
    nowhere (an all-ignored ``mean`` is 0/0 = nan, as in PyTorch).
    """
    _check_reduction(reduction)
    target = _as_array(target)
    if input.ndim == 1:
        out = nll_loss(input[None], target.reshape(1), weight, ignore_index, reduction)
        return out[0] if reduction == "none" else out
    if tuple(target.shape) != (input.shape[0], *input.shape[2:]):
        raise ValueError(f"nll_loss: target shape {tuple(target.shape)} does not match input "
                         f"shape {tuple(input.shape)} without its class axis")
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    picked = np.take_along_axis(input, np.expand_dims(safe, 1), axis=1).squeeze(1)
    w = valid.astype(input.dtype)
    if weight is not None:
        w = w * F.take(weight, safe)
    loss = -picked * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum()


def cross_entropy(input: Array, target: Array, weight: Array | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Array:
    """Log-softmax over axis 1 of logits followed by :func:`nll_loss`.

    ``target`` is class indices or, when floating point with ``input``'s shape, class
    probabilities. ``label_smoothing`` ε mixes the target with the uniform distribution:
    (1-ε)·loss + ε·(mean over classes of -weight·logp).
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    target = _as_array(target)
    if input.ndim == 1:
        out = cross_entropy(input[None], target[None], weight, ignore_index, reduction,
                            label_smoothing)
        return out[0] if reduction == "none" else out
    c = input.shape[1]
    logp = F.logsoftmax(input, axis=1)
    wshape = _class_shape(input.ndim, c)
    if target.dtype.kind == "f":
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError("probability targets must have the input's shape")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / c
        term = logp * target
        if weight is not None:
            term = term * weight.reshape(wshape)
        return _reduce(-term.sum(axis=1), reduction)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return nll
    valid = target != ignore_index
    terms = logp if weight is None else logp * weight.reshape(wshape)
    smooth = -terms.sum(axis=1) * valid.astype(logp.dtype)
    if reduction == "none":
        return (1 - label_smoothing) * nll + (label_smoothing / c) * smooth
    if reduction == "sum":
        smooth_red = smooth.sum()
    else:
        safe = np.where(valid, target, 0)
        denom = valid.astype(logp.dtype) if weight is None \
            else valid.astype(logp.dtype) * F.take(weight, safe)
        smooth_red = smooth.sum() / denom.sum()
    return (1 - label_smoothing) * nll + (label_smoothing / c) * smooth_red


def mse_loss(input: Array, target: Array, reduction: str = "mean") -> Array:
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input: Array, target: Array, reduction: str = "mean") -> Array:
    return _reduce(np.abs(input - target), reduction)


def smooth_l1_loss(input: Array, target: Array, reduction: str = "mean",
                   beta: float = 1.0) -> Array:
    """Quadratic (0.5·d²/β) below ``beta``, linear (|d| - 0.5·β) above; β=0 is L1."""
    if beta < 0:
        raise ValueError("smooth_l1_loss needs beta >= 0")
    ad = np.abs(input - target)
    if beta == 0.0:
        return _reduce(ad, reduction)
    quad = np.minimum(ad, beta)  # keeps the unused branch's gradient finite
    loss = np.where(ad < beta, 0.5 * quad * quad / beta, ad - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input: Array, target: Array, reduction: str = "mean",
               delta: float = 1.0) -> Array:
    """δ times :func:`smooth_l1_loss` with β=δ (quadratic 0.5·d² below δ)."""
    if delta <= 0:
        raise ValueError("huber_loss needs delta > 0")
    return smooth_l1_loss(input, target, reduction, delta) * delta


def binary_cross_entropy(input: Array, target: Array, weight: Array | None = None,
                         reduction: str = "mean") -> Array:
    """-(t·log p + (1-t)·log(1-p)) on probabilities; logs clamped at -100 like PyTorch."""
    log_p = np.maximum(np.log(input), -100.0)
    log_q = np.maximum(np.log(1 - input), -100.0)
    loss = -(target * log_p + (1 - target) * log_q)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Array, target: Array, weight: Array | None = None,
                                     reduction: str = "mean",
                                     pos_weight: Array | None = None) -> Array:
    """BCE of sigmoid(input) computed from logits without overflow.

    (1-t)·x + (1 + (pw-1)·t)·softplus(-x), with softplus(-x) = max(-x, 0) + log1p(exp(-|x|)).
    """
    sp = np.maximum(-input, 0) + np.log1p(np.exp(-np.abs(input)))
    if pos_weight is None:
        loss = (1 - target) * input + sp
    else:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input: Array, target: Array, reduction: str = "mean",
           log_target: bool = False) -> Array:
    """Pointwise target·(log target - input) with ``input`` log-probabilities.

    ``batchmean`` divides the sum by the batch size (the true KL divergence per sample);
    ``mean`` divides by the element count, as PyTorch does.
    """
    _check_reduction(reduction, (*_REDUCTIONS, "batchmean"))
    if log_target:
        loss = np.exp(target) * (target - input)
    else:
        pos = target > 0
        # log of 1 where target is 0: 0·log 0 is taken as 0 with a finite gradient
        loss = np.where(pos, target * (np.log(np.where(pos, target, 1)) - input), 0)
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim > 0 else 1)
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------- class forms


class _Loss:
    """A loss function with its options bound; call it as ``loss(input, target)``."""

    def __init__(self, reduction: str = "mean") -> None:
        _check_reduction(reduction, (*_REDUCTIONS, "batchmean"))
        self.reduction = reduction

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                         if not isinstance(v, np.ndarray))
        return f"{type(self).__name__}({opts})"


class NLLLoss(_Loss):
    def __init__(self, weight: Array | None = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = weight
        self.ignore_index = ignore_index

    def __call__(self, input: Array, target: Array) -> Array:
        return nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class CrossEntropyLoss(_Loss):
    def __init__(self, weight: Array | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.weight = weight
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def __call__(self, input: Array, target: Array) -> Array:
        return cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                             self.label_smoothing)


class MSELoss(_Loss):
    def __call__(self, input: Array, target: Array) -> Array:
        return mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    def __call__(self, input: Array, target: Array) -> Array:
        return l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = beta

    def __call__(self, input: Array, target: Array) -> Array:
        return smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta

    def __call__(self, input: Array, target: Array) -> Array:
        return huber_loss(input, target, self.reduction, self.delta)


class BCELoss(_Loss):
    def __init__(self, weight: Array | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = weight

    def __call__(self, input: Array, target: Array) -> Array:
        return binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    def __init__(self, weight: Array | None = None, reduction: str = "mean",
                 pos_weight: Array | None = None) -> None:
        super().__init__(reduction)
        self.weight = weight
        self.pos_weight = pos_weight

    def __call__(self, input: Array, target: Array) -> Array:
        return binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                self.pos_weight)


class KLDivLoss(_Loss):
    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction)
        self.log_target = log_target

    def __call__(self, input: Array, target: Array) -> Array:
        return kl_div(input, target, self.reduction, self.log_target)
