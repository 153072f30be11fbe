"""``Conv1d``/``Conv2d``/``Conv3d``: grouped, strided, dilated, padded convolution layers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from avalon.nn import functional as F
from avalon.nn import init
from avalon.nn.module import Module


class _ConvNd(Module):
    """Shared constructor: ``weight [out, in/groups, kernel...]`` and optional ``bias [out]``,
    initialised like PyTorch (kaiming_uniform_(a=√5), bias U(±1/√fan_in))."""

    n: int = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size: F.IntOrTuple,
                 stride: F.IntOrTuple = 1, padding: F.IntOrTuple | str = 0,
                 dilation: F.IntOrTuple = 1, groups: int = 1, bias: bool = True, *,
                 rng: np.random.Generator | None = None, dtype: Any = np.float32) -> None:
        n = self.n
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must be divisible by groups ({groups})")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = F.ntuple(kernel_size, n, "kernel_size")
        self.stride = F.ntuple(stride, n, "stride")
        self.padding = padding if isinstance(padding, str) else F.ntuple(padding, n, "padding")
        if self.padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError("padding='same' needs stride 1")
        self.dilation = F.ntuple(dilation, n, "dilation")
        self.groups = int(groups)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = init.kaiming_uniform_(np.empty(shape, dtype), a=math.sqrt(5), rng=rng)
        fan_in = in_channels // groups * math.prod(self.kernel_size)
        bound = init.uniform_bound(fan_in)
        self.bias = init.uniform_(np.empty(out_channels, dtype), -bound, bound, rng) \
            if bias else None

    def __call__(self, x: Any) -> Any:
        return F.conv_nd(self.n, x, self.weight, self.bias, self.stride, self.padding,
                       self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.bias is not None}")


class Conv1d(_ConvNd):
    """Convolution over ``[N, C, L]`` (or unbatched ``[C, L]``)."""

    n = 1


class Conv2d(_ConvNd):
    """Convolution over ``[N, C, H, W]`` (or unbatched ``[C, H, W]``)."""

    n = 2


class Conv3d(_ConvNd):
    """Convolution over ``[N, C, D, H, W]`` (or unbatched ``[C, D, H, W]``)."""

    n = 3
