"""Normalisation layers: ``BatchNorm1d/2d/3d`` (with running statistics) and ``LayerNorm``.

Running statistics are forward-updated state (``state_attrs``): in training mode each call
normalises with the batch statistics and moves ``running_mean``/``running_var`` by
``momentum`` toward them (unbiased variance), and counts ``num_batches_tracked``, as PyTorch
does. The new values are stored with :func:`avalon.nn.module.update_state` — in place on an
eager model, on the traced copy inside ``jit``/``grad``, from where a compiled training step
returns them with :func:`avalon.nn.module.get_state`. The pure form is
:func:`avalon.nn.functional.batch_norm_with_stats`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from avalon.frontend.grad import stop_gradient
from avalon.nn import functional as F
from avalon.nn.module import Module, update_state


class _BatchNorm(Module):
    state_attrs: ClassVar[tuple[str, ...]] = ("running_mean", "running_var",
                                              "num_batches_tracked")
    input_ranks: ClassVar[tuple[int, ...]] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *,
                 dtype: Any = np.float32) -> None:
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.weight = np.ones(num_features, dtype) if affine else None
        self.bias = np.zeros(num_features, dtype) if affine else None
        if track_running_stats:
            self.running_mean = np.zeros(num_features, dtype)
            self.running_var = np.ones(num_features, dtype)
            self.num_batches_tracked = np.zeros((), np.int64)
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self.training = True

    def __call__(self, x: Any) -> Any:
        if x.ndim not in self.input_ranks:
            raise ValueError(f"{type(self).__name__} expects input of rank "
                             f"{' or '.join(map(str, self.input_ranks))}, got shape "
                             f"{tuple(x.shape)}")
        updating = self.training and self.running_mean is not None
        momentum: Any = self.momentum
        count = self.num_batches_tracked + 1 if updating else None
        if updating and momentum is None:  # cumulative moving average
            momentum = (1.0 / count).astype(x.dtype)
        # running statistics are buffers, not parameters: no gradient flows into them
        y, mean, var = F.batch_norm_with_stats(x, stop_gradient(self.running_mean),
                                               stop_gradient(self.running_var), self.weight,
                                               self.bias, self.training, momentum, self.eps)
        if updating and update_state(self, "running_mean", mean):
            update_state(self, "running_var", var)
            update_state(self, "num_batches_tracked", count)
        return y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over ``[N, C]`` or ``[N, C, L]``: statistics per channel C."""

    input_ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over ``[N, C, H, W]``: statistics per channel C."""

    input_ranks = (4,)


class BatchNorm3d(_BatchNorm):
    """Over ``[N, C, D, H, W]``: statistics per channel C."""

    input_ranks = (5,)


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift."""

    def __init__(self, normalized_shape: F.IntOrTuple, eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, *,
                 dtype: Any = np.float32) -> None:
        self.normalized_shape = (int(normalized_shape),) if isinstance(
            normalized_shape, int | np.integer) else tuple(int(d) for d in normalized_shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = np.ones(self.normalized_shape, dtype) if elementwise_affine else None
        self.bias = np.zeros(self.normalized_shape, dtype) if elementwise_affine and bias \
            else None

    def __call__(self, x: Any) -> Any:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
