"""Stateless neural-network functions: activations, softmax, convolution, pooling, dropout,
normalisation, embedding lookup.

Everything is written with numpy (plus :mod:`avalon.frontend.ops` for what numpy lacks), so it
runs eagerly on numpy arrays and records IR on tracers, with one definition of the maths.
Conventions are PyTorch's (NCHW, weights ``[out, in, kernel...]``) and PyTorch's names work
as aliases (``log_softmax``, ``max_pool2d``, ``dim=``) so PyTorch code translates line by line.
Constants are Python floats on purpose: numpy treats them as weak, so float32 stays float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from avalon.frontend import ops
from avalon.frontend.grad import stop_gradient
from avalon.frontend.pytree import tree_leaves
from avalon.frontend.tracer import Tracer
from avalon.frontend.tracer import take as tracer_take

Array = Any  # a numpy array or a tracer
IntOrTuple = int | Sequence[int]


def is_traced(*xs: Any) -> bool:
    """Whether any argument (or array inside it) is a tracer, i.e. code is being traced."""
    return any(isinstance(leaf, Tracer) for leaf in tree_leaves(xs))


def _axis(axis: int, dim: int | None) -> int:
    return axis if dim is None else dim


def ntuple(v: IntOrTuple, n: int, name: str) -> tuple[int, ...]:
    if isinstance(v, int | np.integer):
        return (int(v),) * n
    t = tuple(int(e) for e in v)
    if len(t) == 1 and n > 1:
        t = t * n
    if len(t) != n:
        raise ValueError(f"{name} needs {n} values, got {len(t)}")
    return t


# ------------------------------------------------------------------------------ activations


def relu(x: Array) -> Array:
    """max(x, 0); the gradient at 0 is 0 as in PyTorch."""
    return np.where(x > 0, x, 0)


def leakyrelu(x: Array, negative_slope: float = 0.01) -> Array:
    return np.where(x > 0, x, x * negative_slope)


def elu(x: Array, alpha: float = 1.0) -> Array:
    # expm1 of min(x, 0): the unused branch stays finite, so no inf * 0 in the gradient
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def gelu(x: Array, approximate: str = "none") -> Array:
    """x·Φ(x), exactly with erf (``'none'``) or with PyTorch's tanh approximation."""
    if approximate == "none":
        return 0.5 * x * (1 + ops.erf(x * (1 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1 + np.tanh(inner))
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(x: Array) -> Array:
    """1/(1+exp(-x)) via exp(-|x|), which never overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def silu(x: Array) -> Array:
    return x * sigmoid(x)


def logsigmoid(x: Array) -> Array:
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def softplus(x: Array, beta: float = 1.0, threshold: float = 20.0) -> Array:
    """log(1+exp(βx))/β, and x itself where βx > threshold (PyTorch's linear region)."""
    z = x * beta
    smooth = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta
    return np.where(z > threshold, x, smooth)


def softsign(x: Array) -> Array:
    return x / (1 + np.abs(x))


def tanh(x: Array) -> Array:
    return np.tanh(x)


def softmax(x: Array, axis: int = -1, *, dim: int | None = None) -> Array:
    """exp(x)/sum(exp(x)) along ``axis``, shifted by the (gradient-free) maximum."""
    ax = _axis(axis, dim)
    z = x - stop_gradient(x.max(axis=ax, keepdims=True))
    e = np.exp(z)
    return e / e.sum(axis=ax, keepdims=True)


def logsoftmax(x: Array, axis: int = -1, *, dim: int | None = None) -> Array:
    """x - logsumexp(x) along ``axis`` (default: the last, the class axis of logits)."""
    ax = _axis(axis, dim)
    z = x - stop_gradient(x.max(axis=ax, keepdims=True))
    return z - np.log(np.exp(z).sum(axis=ax, keepdims=True))


def logsumexp(x: Array, axis: int = -1, keepdims: bool = False) -> Array:
    m = stop_gradient(x.max(axis=axis, keepdims=True))
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else out.squeeze(axis)


# ------------------------------------------------------------------------- linear and conv


def linear(x: Array, weight: Array, bias: Array | None = None) -> Array:
    """x @ weight.T + bias with PyTorch's weight layout ``[out_features, in_features]``."""
    y = x @ weight.T
    return y if bias is None else y + bias


def _conv_padding(padding: IntOrTuple | str, kernel: Sequence[int], stride: tuple[int, ...],
                  dilation: tuple[int, ...]) -> list[tuple[int, int]]:
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        if padding != "same":
            raise ValueError(f"padding must be 'same', 'valid' or integers, got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' needs stride 1")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return [(t // 2, t - t // 2) for t in totals]  # any odd extra goes on the high side
    return [(p, p) for p in ntuple(padding, n, "padding")]


def conv_nd(n: int, x: Array, weight: Array, bias: Array | None, stride: IntOrTuple,
          padding: IntOrTuple | str, dilation: IntOrTuple, groups: int) -> Array:
    if weight.ndim != n + 2:
        raise ValueError(f"conv{n}d needs a weight [out, in/groups, {n} kernel dims], got "
                         f"shape {tuple(weight.shape)}")
    unbatched = x.ndim == n + 1
    if unbatched:
        x = x[None]
    if x.ndim != n + 2:
        raise ValueError(f"conv{n}d needs input [N, C, {n} spatial dims], got shape "
                         f"{tuple(x.shape)}")
    if x.shape[1] != weight.shape[1] * groups:
        raise ValueError(f"conv{n}d: input has {x.shape[1]} channels, the weight expects "
                         f"{weight.shape[1]} x {groups} groups")
    st = ntuple(stride, n, "stride")
    dil = ntuple(dilation, n, "dilation")
    pad = _conv_padding(padding, weight.shape[2:], st, dil)
    y = ops.conv(x, weight, st, pad, dil, int(groups))
    if bias is not None:
        y = y + bias.reshape((1, -1) + (1,) * n)
    return y[0] if unbatched else y


def conv1d(x: Array, weight: Array, bias: Array | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Array:
    """Cross-correlation of ``x [N, C, L]`` with ``weight [O, C/groups, K]``."""
    return conv_nd(1, x, weight, bias, stride, padding, dilation, groups)


def conv2d(x: Array, weight: Array, bias: Array | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Array:
    """Cross-correlation of ``x [N, C, H, W]`` with ``weight [O, C/groups, KH, KW]``."""
    return conv_nd(2, x, weight, bias, stride, padding, dilation, groups)


def conv3d(x: Array, weight: Array, bias: Array | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Array:
    """Cross-correlation of ``x [N, C, D, H, W]`` with ``weight [O, C/groups, KD, KH, KW]``."""
    return conv_nd(3, x, weight, bias, stride, padding, dilation, groups)


# ---------------------------------------------------------------------------------- pooling


def pool_nd(n: int, kind: str, x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None,
          padding: IntOrTuple, count_include_pad: bool = True) -> Array:
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(f"{kind}pool{n}d needs input [N, C, {n} spatial dims] (or unbatched "
                         f"[C, ...]), got shape {tuple(x.shape)}")
    k = ntuple(kernel_size, n, "kernel_size")
    st = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else ntuple(stride, n, "stride")
    pad = ntuple(padding, n, "padding")
    if any(2 * p > kk for p, kk in zip(pad, k)):
        raise ValueError(f"padding {pad} must be at most half the kernel size {k}")
    return ops.pool(x, kind, k, st, pad, count_include_pad)


def maxpool1d(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
              padding: IntOrTuple = 0) -> Array:
    """Max over windows of ``x [N, C, L]``; ``stride`` defaults to the kernel size."""
    return pool_nd(1, "max", x, kernel_size, stride, padding)


def maxpool2d(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
              padding: IntOrTuple = 0) -> Array:
    """Max over windows of ``x [N, C, H, W]``; ``stride`` defaults to the kernel size."""
    return pool_nd(2, "max", x, kernel_size, stride, padding)


def maxpool3d(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
              padding: IntOrTuple = 0) -> Array:
    return pool_nd(3, "max", x, kernel_size, stride, padding)


def avgpool1d(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
              padding: IntOrTuple = 0, count_include_pad: bool = True) -> Array:
    """Mean over windows; padded zeros count in the divisor unless ``count_include_pad`` is
    False."""
    return pool_nd(1, "avg", x, kernel_size, stride, padding, count_include_pad)


def avgpool2d(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
              padding: IntOrTuple = 0, count_include_pad: bool = True) -> Array:
    return pool_nd(2, "avg", x, kernel_size, stride, padding, count_include_pad)


def avgpool3d(x: Array, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
              padding: IntOrTuple = 0, count_include_pad: bool = True) -> Array:
    return pool_nd(3, "avg", x, kernel_size, stride, padding, count_include_pad)


# ---------------------------------------------------------------------------------- dropout


def dropout(x: Array, p: float = 0.5, training: bool = True, seed: Any = None) -> Array:
    """Zero each element with probability ``p`` and scale survivors by 1/(1-p).

    The mask comes from :func:`avalon.frontend.ops.random_uniform` keyed by ``seed`` (an int64
    scalar array), so the same seed gives the same mask eagerly and compiled; pass a new seed
    each step. Eagerly, ``seed=None`` draws one from :mod:`avalon.nn.init`'s generator.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    if seed is None:
        if is_traced(x):
            raise ValueError("dropout in traced code needs a seed array argument (a constant "
                             "seed would repeat the same mask at every call)")
        from avalon.nn.init import default_generator

        seed = ops.seed_array(int(default_generator().integers(2**62)))
    keep = ops.random_uniform(seed, tuple(x.shape), x.dtype) >= p
    return np.where(keep, x * (1.0 / (1.0 - p)), 0)


# ---------------------------------------------------------------------------- normalisation


def batch_norm_with_stats(x: Array, running_mean: Array | None, running_var: Array | None,
                          weight: Array | None = None, bias: Array | None = None,
                          training: bool = False, momentum: Any = 0.1,
                          eps: float = 1e-5) -> tuple[Array, Array | None, Array | None]:
    """Batch normalisation over channel axis 1 that *returns* the new running statistics.

    ``(y, new_running_mean, new_running_var)``: in training the batch statistics normalise and
    the running ones move by ``momentum`` toward them (the variance unbiased, as in PyTorch);
    otherwise the running statistics normalise and come back unchanged. Without running
    statistics the batch statistics are always used. ``momentum`` may be an array (the
    cumulative average of ``momentum=None`` layers).
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm needs input [N, C, ...], got shape {tuple(x.shape)}")
    c = x.shape[1]
    axes = (0, *range(2, x.ndim))
    shape = (1, c) + (1,) * (x.ndim - 2)
    new_mean, new_var = running_mean, running_var
    if training or running_mean is None:
        count = x.size // c
        if training and count <= 1:
            raise ValueError(f"batch_norm needs more than 1 value per channel when training, "
                             f"got input shape {tuple(x.shape)}")
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)
        if training and running_mean is not None:
            m = momentum
            new_mean = (1 - m) * running_mean + m * mean.reshape(c)
            unbiased = var.reshape(c) * (count / (count - 1))
            new_var = (1 - m) * running_var + m * unbiased
    else:
        mean = running_mean.reshape(shape)
        centered = x - mean
        var = running_var.reshape(shape)
    y = centered / np.sqrt(var + eps)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y, new_mean, new_var


def batch_norm(x: Array, running_mean: Array | None, running_var: Array | None,
               weight: Array | None = None, bias: Array | None = None, training: bool = False,
               momentum: Any = 0.1, eps: float = 1e-5) -> Array:
    """The output of :func:`batch_norm_with_stats`. Unlike PyTorch's, it never mutates the
    running statistics (traced code cannot); layers use the ``_with_stats`` form."""
    return batch_norm_with_stats(x, running_mean, running_var, weight, bias, training,
                                 momentum, eps)[0]


def layer_norm(x: Array, normalized_shape: IntOrTuple, weight: Array | None = None,
               bias: Array | None = None, eps: float = 1e-5) -> Array:
    """Normalise over the trailing ``normalized_shape`` dims (biased variance)."""
    ns = (int(normalized_shape),) if isinstance(normalized_shape, int | np.integer) \
        else tuple(int(d) for d in normalized_shape)
    if tuple(x.shape[x.ndim - len(ns):]) != ns:
        raise ValueError(f"layer_norm over {ns} needs input ending in those dims, got "
                         f"{tuple(x.shape)}")
    axes = tuple(range(x.ndim - len(ns), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    y = centered / np.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


# -------------------------------------------------------------------------- shapes, lookup


def take(table: Array, indices: Array, axis: int = 0) -> Array:
    """``np.take`` that also traces when only ``indices`` is traced (numpy dispatches
    ``np.take`` on its first argument alone)."""
    if isinstance(indices, Tracer) and not isinstance(table, Tracer):
        return tracer_take(table, indices, axis)
    return np.take(table, indices, axis=axis)


def embedding(indices: Array, weight: Array, padding_idx: int | None = None) -> Array:
    """Rows of ``weight`` at integer ``indices``; ``padding_idx``'s row gets no gradient."""
    out = take(weight, indices, 0)
    if padding_idx is not None:
        keep = (indices != padding_idx)[..., None]
        out = np.where(keep, out, stop_gradient(out))
    return out


def one_hot(target: Array, num_classes: int) -> Array:
    """int64 one-hot vectors on a new last axis (a comparison with a constant arange)."""
    return (target[..., None] == np.arange(num_classes)).astype(np.int64)


def flatten(x: Array, start_dim: int = 0, end_dim: int = -1) -> Array:
    """Merge dims ``start_dim..end_dim`` (inclusive) into one, like ``torch.flatten``."""
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = tuple(x.shape)
    return x.reshape(shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


# -------------------------------------------------------------------- PyTorch's spellings

leaky_relu = leakyrelu
log_softmax = logsoftmax
max_pool1d = maxpool1d
max_pool2d = maxpool2d
max_pool3d = maxpool3d
avg_pool1d = avgpool1d
avg_pool2d = avgpool2d
avg_pool3d = avgpool3d

# The losses are part of the functional API too (``F.cross_entropy``); they live in their own
# module, which imports this one, so they are re-exported last.
from avalon.nn.losses import (  # noqa: E402
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)

__all__ = [
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "avgpool1d", "avgpool2d", "avgpool3d", "batch_norm",
    "batch_norm_with_stats", "binary_cross_entropy", "binary_cross_entropy_with_logits", "conv1d",
    "conv2d", "conv3d", "cross_entropy", "dropout", "elu", "embedding", "flatten", "gelu",
    "huber_loss", "is_traced", "kl_div", "l1_loss", "layer_norm", "leaky_relu", "leakyrelu",
    "linear", "log_softmax", "logsigmoid", "logsoftmax", "logsumexp", "max_pool1d", "max_pool2d",
    "max_pool3d", "maxpool1d", "maxpool2d", "maxpool3d", "mse_loss", "nll_loss", "one_hot", "relu",
    "sigmoid", "silu", "smooth_l1_loss", "softmax", "softplus", "softsign", "take", "tanh",
]
